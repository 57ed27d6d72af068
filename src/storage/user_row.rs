//! A user from a row that starts with `USER_COLUMNS`, in their order,
//! whichever driver read it (sqlx, or rusqlite for inline reads).

use crate::scim::resource::{Name, UserAttributes};
use crate::teamtailor::{Role, UnknownRole, User, UserData};

use super::sql_store::parse_json_list;

pub(super) trait UserRow {
    type Error;
    fn text(&self, index: usize) -> Result<String, Self::Error>;
    fn optional_text(&self, index: usize) -> Result<Option<String>, Self::Error>;
    fn int(&self, index: usize) -> Result<i64, Self::Error>;
    fn flag(&self, index: usize) -> Result<bool, Self::Error>;
    fn invalid_role(error: UnknownRole) -> Self::Error;
}

pub(super) fn user_from_row<R: UserRow>(row: &R) -> Result<User, R::Error> {
    Ok(User {
        id: row.int(0)?,
        company_id: row.int(1)?,
        data: UserData {
            attributes: UserAttributes {
                user_name: row.text(2)?,
                external_id: row.optional_text(3)?,
                name: Name {
                    formatted: row.optional_text(4)?,
                    given_name: row.optional_text(5)?,
                    family_name: row.optional_text(6)?,
                    middle_name: row.optional_text(7)?,
                    honorific_prefix: row.optional_text(8)?,
                    honorific_suffix: row.optional_text(9)?,
                },
                display_name: row.optional_text(10)?,
                title: row.optional_text(11)?,
                emails: parse_json_list(&row.text(12)?),
                phone_numbers: parse_json_list(&row.text(13)?),
            },
            role: row.text(14)?.parse::<Role>().map_err(R::invalid_role)?,
            locale: row.optional_text(15)?,
            time_zone: row.optional_text(16)?,
            visible: row.flag(17)?,
        },
        created_at: row.int(18)?,
        updated_at: row.int(19)?,
        version: row.int(20)?,
    })
}

/// Rows read through sqlx, of either backend.
macro_rules! impl_user_row {
    ($row:ty) => {
        impl $crate::storage::user_row::UserRow for $row {
            type Error = sqlx::Error;

            fn text(&self, index: usize) -> Result<String, sqlx::Error> {
                sqlx::Row::try_get(self, index)
            }

            fn optional_text(&self, index: usize) -> Result<Option<String>, sqlx::Error> {
                sqlx::Row::try_get(self, index)
            }

            fn int(&self, index: usize) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(self, index)
            }

            fn flag(&self, index: usize) -> Result<bool, sqlx::Error> {
                sqlx::Row::try_get(self, index)
            }

            fn invalid_role(error: crate::teamtailor::UnknownRole) -> sqlx::Error {
                sqlx::Error::Decode(Box::new(error))
            }
        }
    };
}

impl_user_row!(sqlx::postgres::PgRow);
impl_user_row!(sqlx::sqlite::SqliteRow);

impl UserRow for rusqlite::Row<'_> {
    type Error = rusqlite::Error;

    fn text(&self, index: usize) -> rusqlite::Result<String> {
        self.get(index)
    }

    fn optional_text(&self, index: usize) -> rusqlite::Result<Option<String>> {
        self.get(index)
    }

    fn int(&self, index: usize) -> rusqlite::Result<i64> {
        self.get(index)
    }

    fn flag(&self, index: usize) -> rusqlite::Result<bool> {
        self.get(index)
    }

    fn invalid_role(error: UnknownRole) -> rusqlite::Error {
        rusqlite::Error::FromSqlConversionFailure(14, rusqlite::types::Type::Text, Box::new(error))
    }
}
