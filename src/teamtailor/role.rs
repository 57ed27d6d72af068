use std::fmt;
use std::str::FromStr;

/// A Teamtailor access role, as the Teamtailor API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    NoAccess,
    User,
    Recruiter,
    Designer,
    Admin,
    ExternalRecruiter,
}

impl Role {
    pub const API_VALUES: &'static [&'static str] = &[
        "no_access",
        "user",
        "recruiter",
        "designer",
        "admin",
        "external_recruiter",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::NoAccess => "no_access",
            Role::User => "user",
            Role::Recruiter => "recruiter",
            Role::Designer => "designer",
            Role::Admin => "admin",
            Role::ExternalRecruiter => "external_recruiter",
        }
    }

    /// SCIM `active` is read back as "any role but no_access".
    pub fn is_active(self) -> bool {
        self != Role::NoAccess
    }

    /// Teamtailor's rule for SCIM `active`: false always gives no_access; true
    /// gives user only when the role was no_access (the old role is not remembered).
    pub fn after_active(self, active: bool) -> Role {
        match (active, self) {
            (false, _) => Role::NoAccess,
            (true, Role::NoAccess) => Role::User,
            (true, role) => role,
        }
    }

    /// The role of a user created through SCIM.
    pub fn for_new_user(active: bool) -> Role {
        if active {
            Role::User
        } else {
            Role::NoAccess
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role '{0}'; expected one of no_access, user, recruiter, designer, admin, external_recruiter")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "no_access" => Role::NoAccess,
            "user" => Role::User,
            "recruiter" => Role::Recruiter,
            "designer" => Role::Designer,
            "admin" => Role::Admin,
            "external_recruiter" => Role::ExternalRecruiter,
            other => return Err(UnknownRole(other.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn active_transitions_follow_teamtailor() {
        assert_eq!(Role::Admin.after_active(false), Role::NoAccess);
        assert_eq!(Role::NoAccess.after_active(true), Role::User);
        assert_eq!(Role::Recruiter.after_active(true), Role::Recruiter);
        assert_eq!(
            Role::Admin.after_active(false).after_active(true),
            Role::User
        );
        for value in Role::API_VALUES {
            assert_eq!(value.parse::<Role>().unwrap().as_str(), *value);
        }
    }
}
