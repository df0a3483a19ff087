//! Enforced pagination: limit clamping and opaque keyset cursors.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// The page size to use: `default` when none was asked for, else the request clamped to
/// `1..=max` (a page is never unbounded, never empty).
///
/// ```
/// use apiforge_runtime::pagination::clamp_limit;
///
/// assert_eq!(clamp_limit(None, 50, 200), 50);
/// assert_eq!(clamp_limit(Some(1000), 50, 200), 200);
/// assert_eq!(clamp_limit(Some(0), 50, 200), 1);
/// assert_eq!(clamp_limit(Some(-5), 50, 200), 1);
/// assert_eq!(clamp_limit(None, 500, 200), 200);
/// ```
pub fn clamp_limit(requested: Option<i64>, default: i64, max: i64) -> i64 {
    let max = max.max(1);
    requested.unwrap_or(default).clamp(1, max)
}

/// An opaque keyset cursor: the sort value and primary key of the last row of a page,
/// as base64url (no padding) of the JSON `[sort, key]`. The next page is
/// `WHERE (sort_col, pk) > ($1, $2) ORDER BY sort_col, pk` (`<` for descending).
///
/// ```
/// use apiforge_runtime::pagination::Cursor;
///
/// let c = Cursor { sort: "2024-05-01T10:00:00Z".to_string(), key: 42_i64 };
/// let token = c.encode();
/// assert!(!token.contains('=') && !token.contains('+') && !token.contains('/'));
/// assert_eq!(Cursor::<String, i64>::decode(&token).unwrap(), c);
///
/// let err = Cursor::<String, i64>::decode("not a cursor").unwrap_err();
/// assert_eq!(apiforge_runtime::problem::Problem::from(err).status, 422);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor<S, K> {
    /// The last row's value of the sort column (`()` when sorting by key only).
    pub sort: S,
    /// The last row's primary key (the tie-breaker).
    pub key: K,
}

/// A cursor that could not be decoded (tampered, truncated, or made for another sort).
///
/// ```
/// # use apiforge_runtime::pagination::{Cursor, CursorError};
/// assert!(matches!(Cursor::<i64, i64>::decode("!!"), Err(CursorError::Encoding)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not base64url.
    #[error("cursor is not valid: not base64url")]
    Encoding,
    /// Base64url, but not a cursor of this listing.
    #[error("cursor is not valid for this listing")]
    Content,
}

impl<S: Serialize, K: Serialize> Cursor<S, K> {
    /// The opaque token (see [`Cursor`] for a round trip).
    ///
    /// # Panics
    /// If `S` or `K` cannot be serialized as JSON (e.g. a map with non-string keys).
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(&(&self.sort, &self.key))
            .expect("serializing a cursor's sort value and key cannot fail");
        URL_SAFE_NO_PAD.encode(json)
    }
}

impl<S: DeserializeOwned, K: DeserializeOwned> Cursor<S, K> {
    /// Decodes a token made by [`Cursor::encode`] with the same types (see [`Cursor`]).
    pub fn decode(token: &str) -> Result<Self, CursorError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| CursorError::Encoding)?;
        let (sort, key) = serde_json::from_slice(&bytes).map_err(|_| CursorError::Content)?;
        Ok(Self { sort, key })
    }
}

/// A 422: any string fits the `cursor` parameter's schema, but only tokens the server
/// made can be processed.
impl From<CursorError> for Problem {
    fn from(err: CursorError) -> Self {
        Problem::unprocessable(err.to_string()).with_error("cursor", err.to_string())
    }
}

impl axum::response::IntoResponse for CursorError {
    fn into_response(self) -> axum::response::Response {
        Problem::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampered_or_foreign_cursors_are_refused() {
        // Valid base64url, but not `[sort, key]` of these types.
        let other = URL_SAFE_NO_PAD.encode(br#"{"admin":true}"#);
        assert_eq!(
            Cursor::<String, i64>::decode(&other),
            Err(CursorError::Content)
        );
        let wrong_types = Cursor {
            sort: 1.5_f64,
            key: "x",
        }
        .encode();
        assert_eq!(
            Cursor::<String, i64>::decode(&wrong_types),
            Err(CursorError::Content)
        );
        assert_eq!(
            Cursor::<String, i64>::decode("a+b/"),
            Err(CursorError::Encoding)
        );
    }

    #[test]
    fn padded_tokens_are_accepted() {
        let token = Cursor {
            sort: (),
            key: 7_i64,
        }
        .encode();
        let decoded = Cursor::<(), i64>::decode(&format!("{token}==")).unwrap();
        assert_eq!(decoded.key, 7);
    }
}
