//! The matching rules (DOMAIN.md R-MP-1..6) as pure functions over plain data: no I/O, so each
//! rule is tested on its own. The API gathers the facts in SQL, calls these, and answers.
//! `request` is a matching request's life as a state machine (and R-MP-2), `procurement` a
//! purchase's, `assignment` an assignment's, `ranking` who can take a child and in which order, `people` what makes a person's
//! record valid.

/// A state stored as the text of its name (`as_str`/`parse`): a [`sqlx::Type`] over TEXT, so the
/// columns and their CHECKs stay as they are.
macro_rules! stored_as_text {
    ($state:ty, $what:literal) => {
        impl ::std::fmt::Display for $state {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::sqlx::Type<::sqlx::Postgres> for $state {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl ::sqlx::postgres::PgHasArrayType for $state {
            fn array_type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl ::sqlx::Encode<'_, ::sqlx::Postgres> for $state {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $state {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                let stored = <&str as ::sqlx::Decode<::sqlx::Postgres>>::decode(value)?;
                <$state>::parse(stored)
                    .ok_or_else(|| format!(concat!("not a ", $what, ": {:?}"), stored).into())
            }
        }
    };
}

pub mod assignment;
pub mod people;
pub mod procurement;
pub mod ranking;
pub mod request;
