//! [`text_enum!`](crate::text_enum): the Rust enum of an `enum` field — text in SQL,
//! the wire values in JSON.

/// Declares an enum stored as text: `Serialize`/`Deserialize` with the wire values, and
/// sqlx `Type`/`Encode`/`Decode` as text. The crate using it needs `serde` and `sqlx`.
///
/// ```
/// apiforge_runtime::text_enum! {
///     /// Values of `status`.
///     pub enum Status { Pending = "pending", Paid = "paid" }
/// }
/// assert_eq!(Status::Paid.as_str(), "paid");
/// assert_eq!(serde_json::to_string(&Status::Pending).unwrap(), r#""pending""#);
/// ```
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        $vis enum $name {
            $(#[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// The wire and database text of this value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }
        }

        impl $crate::engine::BodyValue for $name {
            fn deserialize_body<'de, D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                <Self as ::serde::Deserialize>::deserialize(deserializer)
            }
        }

        impl ::sqlx::Type<::sqlx::Postgres> for $name {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <str as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <str as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl ::sqlx::Encode<'_, ::sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl ::sqlx::Decode<'_, ::sqlx::Postgres> for $name {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'_>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                match <&str as ::sqlx::Decode<::sqlx::Postgres>>::decode(value)? {
                    $($wire => Ok(Self::$variant),)+
                    other => Err(format!(
                        concat!("unexpected ", stringify!($name), " value {:?}"),
                        other
                    )
                    .into()),
                }
            }
        }
    };
}
