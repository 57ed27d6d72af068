//! How long a stored text value may be, in characters, for SCIM and the
//! Teamtailor API alike. PostgreSQL refuses an index entry over 2,704 bytes
//! (SQLSTATE 54000); even at 4 bytes a character these keep every indexed
//! value, the joined full name included, under it.

/// userName, externalId, displayName, title, and the value and display of
/// emails and phoneNumbers entries.
pub const TEXT: usize = 512;
/// Each part of `name`; the full name may join two (givenName familyName).
pub const NAME_PART: usize = 256;
/// The `type` of emails and phoneNumbers entries, locale and time zone.
pub const LABEL: usize = 64;

/// Why `value` is refused, when it is longer than `max` characters.
pub fn check(attribute: &str, value: &str, max: usize) -> Result<(), String> {
    let length = value.chars().count();
    if length > max {
        Err(format!(
            "{attribute} is too long: {length} characters, at most {max}"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn lengths_are_counted_in_characters() {
        assert!(check("title", &"é".repeat(4), 4).is_ok());
        let refused = check("title", "abcde", 4).unwrap_err();
        assert_eq!(refused, "title is too long: 5 characters, at most 4");
    }
}
