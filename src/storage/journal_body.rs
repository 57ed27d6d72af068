//! Journal bodies as each database binds and reads them: text, or on SQLite
//! a BLOB for a body kept compressed (`journal::Body::compressed`). The
//! column stays TEXT: SQLite keeps whichever a value was written as, so a
//! file holds both, and entries written before are read as they were.
//! PostgreSQL is sent them as text in a COPY (`journal_copy`) and
//! compresses long values itself.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type, TypeInfo, ValueRef};

use crate::journal::{Body, Stored};

impl Type<Sqlite> for Body {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <Vec<u8> as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Body {
    fn encode(self, args: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        match self.into_stored() {
            Stored::Text(text) => Encode::<Sqlite>::encode(text, args),
            Stored::Compressed(bytes) => Encode::<Sqlite>::encode(bytes, args),
        }
    }

    fn encode_by_ref(
        &self,
        args: &mut Vec<SqliteArgumentValue<'q>>,
    ) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.clone(), args)
    }
}

impl<'r> Decode<'r, Sqlite> for Body {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.type_info().name() == "BLOB" {
            let bytes = <Vec<u8> as Decode<Sqlite>>::decode(value)?;
            Ok(Body::from_stored(Stored::Compressed(bytes)))
        } else {
            Ok(Body::new(<String as Decode<Sqlite>>::decode(value)?))
        }
    }
}

impl Type<Postgres> for Body {
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <String as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for Body {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Body::new(<String as Decode<Postgres>>::decode(value)?))
    }
}
