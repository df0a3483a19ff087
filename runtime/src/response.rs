//! HTTP responses from cached bodies: ETag, `Cache-Control`, `304 Not Modified`.

use std::fmt;
use std::str::FromStr;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, VARY};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::cache::CachedBody;
use crate::etag::{ETag, Preconditions};

/// One year: the conventional max-age of an immutable representation.
pub const ONE_YEAR: u32 = 31_536_000;

/// Who may store a response (`Cache-Control: public` or `private`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Shared caches (CDNs, proxies) may store it.
    Public,
    /// Only the user's own cache may store it.
    Private,
}

/// A `Cache-Control` value, validated once and cheap to clone into every response.
///
/// ```
/// # use apiforge_runtime::response::{CacheControl, Visibility};
/// assert_eq!(CacheControl::new(60, Visibility::Private, false).as_str(), "private, max-age=60");
/// assert_eq!(CacheControl::immutable().as_str(), "public, max-age=31536000, immutable");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CacheControl(HeaderValue);

impl CacheControl {
    /// `{public|private}, max-age={max_age}` with `, immutable` when `immutable`.
    pub fn new(max_age: u32, visibility: Visibility, immutable: bool) -> Self {
        let visibility = match visibility {
            Visibility::Public => "public",
            Visibility::Private => "private",
        };
        let immutable = if immutable { ", immutable" } else { "" };
        let value = format!("{visibility}, max-age={max_age}{immutable}");
        Self(HeaderValue::from_str(&value).expect("ASCII directives"))
    }

    /// `public, max-age=31536000, immutable`: for rows that never change.
    pub const fn immutable() -> Self {
        Self::from_static("public, max-age=31536000, immutable")
    }

    /// A value known at compile time, without allocating (e.g. rendered by the generator:
    /// `CacheControl::from_static("private, max-age=60")`); usable in a `const`, and then
    /// free to clone into every response.
    ///
    /// # Panics
    /// When `value` holds characters not allowed in a header value (at compile time in a
    /// `const`).
    pub const fn from_static(value: &'static str) -> Self {
        Self(HeaderValue::from_static(value))
    }

    /// `no-cache`: caches must revalidate every time (cheap with the ETag: a 304).
    pub const fn no_cache() -> Self {
        Self(HeaderValue::from_static("no-cache"))
    }

    /// The header value as text.
    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("built from visible ASCII")
    }

    /// The header value (a cheap clone).
    pub fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }
}

impl fmt::Debug for CacheControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `Cache-Control` text that is not a valid header value.
#[derive(Debug, thiserror::Error)]
#[error("invalid Cache-Control value {0:?}: only visible ASCII is allowed")]
pub struct InvalidCacheControl(String);

impl FromStr for CacheControl {
    type Err = InvalidCacheControl;

    /// Any directive text, e.g. `"no-store"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HeaderValue::from_str(s)
            .ok()
            .filter(|v| v.to_str().is_ok() && !s.trim().is_empty())
            .map(Self)
            .ok_or_else(|| InvalidCacheControl(s.to_owned()))
    }
}

/// Answers a `GET` from a cached body: `304 Not Modified` with no body when the request's
/// `If-None-Match` matches its ETag, else `200` with the JSON body. Both carry `ETag`,
/// `Cache-Control` and `Vary: Accept-Encoding`; the 200 also `Content-Type: application/json`.
///
/// `request` is the request's [`HeaderMap`] or, cheaper, its
/// [`IfNoneMatch`](crate::etag::IfNoneMatch) alone. `body` is a `&CachedBody`, or a
/// `CachedBody` the handler owns (e.g. just returned by the cache), whose bytes and tag
/// then move into the response without touching their reference counts.
pub fn cached_json<R: Preconditions + ?Sized, B: IntoCachedBody>(
    request: &R,
    body: B,
    cache_control: &CacheControl,
) -> Response {
    if request.if_none_match_matches(body.etag()) {
        return not_modified(body.etag(), cache_control);
    }
    let (bytes, etag) = body.into_parts();
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    *headers = answer_headers();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ETAG, etag);
    headers.insert(CACHE_CONTROL, cache_control.header_value());
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// A body [`cached_json`] answers with: a [`CachedBody`], owned or borrowed.
pub trait IntoCachedBody {
    /// The body's ETag.
    fn etag(&self) -> &ETag;
    /// The bytes and the `ETag` header value.
    fn into_parts(self) -> (Bytes, HeaderValue);
}

impl IntoCachedBody for CachedBody {
    fn etag(&self) -> &ETag {
        &self.etag
    }

    fn into_parts(self) -> (Bytes, HeaderValue) {
        (self.body, self.etag.into_header_value())
    }
}

impl IntoCachedBody for &CachedBody {
    fn etag(&self) -> &ETag {
        &self.etag
    }

    fn into_parts(self) -> (Bytes, HeaderValue) {
        (self.body.clone(), self.etag.header_value())
    }
}

/// Whether the top-level member `name` of a JSON object written by serde_json is `true`
/// (`"name":true`; inside a string value the quotes would be escaped, so no false match).
/// Fast enough to run on every response (e.g. to pick a row's `Cache-Control`).
///
/// ```
/// use apiforge_runtime::response::json_member_is_true;
/// assert!(json_member_is_true(br#"{"id":1,"is_static":true}"#, "is_static"));
/// assert!(!json_member_is_true(br#"{"id":1,"is_static":false}"#, "is_static"));
/// assert!(!json_member_is_true(br#"{"name":"\"is_static\":true"}"#, "is_static"));
/// ```
pub fn json_member_is_true(body: &[u8], name: &str) -> bool {
    let name = name.as_bytes();
    memchr::memmem::find_iter(body, name)
        .any(|at| at > 0 && body[at - 1] == b'"' && body[at + name.len()..].starts_with(b"\":true"))
}

/// A `304 Not Modified` for `etag`, with the headers a 200 would have had (RFC 9110 §15.4.5).
pub fn not_modified(etag: &ETag, cache_control: &CacheControl) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    *response.headers_mut() = answer_headers();
    set_validators(response.headers_mut(), etag, cache_control);
    response
}

/// The header map of a cached answer, with room for what the layers add on the way out
/// (`Content-Length`, rate limit and CORS headers): `HeaderMap::new()` first allocates room
/// for 6, and the 7th header regrows it, which cost a rate-limited cached GET 1,300
/// instructions (callgrind) of its 31,000.
fn answer_headers() -> HeaderMap {
    HeaderMap::with_capacity(12)
}

fn set_validators(headers: &mut HeaderMap, etag: &ETag, cache_control: &CacheControl) {
    headers.insert(ETAG, etag.header_value());
    headers.insert(CACHE_CONTROL, cache_control.header_value());
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_forms() {
        assert_eq!(
            CacheControl::new(60, Visibility::Public, false).as_str(),
            "public, max-age=60"
        );
        assert_eq!(
            CacheControl::new(0, Visibility::Private, true).as_str(),
            "private, max-age=0, immutable"
        );
        assert_eq!(CacheControl::no_cache().as_str(), "no-cache");
        assert_eq!(
            CacheControl::immutable(),
            CacheControl::new(ONE_YEAR, Visibility::Public, true)
        );
        assert_eq!(
            CacheControl::from_static("private, max-age=5").as_str(),
            "private, max-age=5"
        );
        assert_eq!(
            "no-store".parse::<CacheControl>().unwrap().as_str(),
            "no-store"
        );
        assert!("bad\nvalue".parse::<CacheControl>().is_err());
        assert!("  ".parse::<CacheControl>().is_err());
        const STATIC: CacheControl = CacheControl::from_static("private, max-age=60");
        assert_eq!(STATIC, CacheControl::new(60, Visibility::Private, false));
    }
}
