//! Entity tags (RFC 9110 §8.8.3) and `If-None-Match` evaluation (§13.1.2).
//!
//! An [`ETag`] is computed once, when a body is serialized, and stored beside it
//! (see [`crate::cache::CachedBody`]), so serving a cached body never hashes again.

use std::convert::Infallible;
use std::fmt;

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, header};
use xxhash_rust::xxh3::xxh3_128;

/// A strong entity tag, kept as a ready-to-send header value (`"…"` with the quotes).
///
/// Cloning is cheap (reference-counted bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct ETag(HeaderValue);

impl ETag {
    /// The strong ETag of `body`: its 128-bit xxh3 hash as 32 quoted lowercase hex digits.
    pub fn of(body: &[u8]) -> Self {
        let tag = format!("\"{:032x}\"", xxh3_128(body));
        Self(HeaderValue::from_str(&tag).expect("quoted hex is a valid header value"))
    }

    /// The strong ETag of `body` as shaped by `version` (e.g. a hash of the resource's
    /// columns): the same bytes under another version get another tag, so a client never
    /// revalidates a body of one build against another's.
    pub fn versioned(version: &str, body: &[u8]) -> Self {
        if version.is_empty() {
            return Self::of(body);
        }
        let seed = xxhash_rust::xxh3::xxh3_64(version.as_bytes());
        let tag = format!(
            "\"{:032x}\"",
            xxhash_rust::xxh3::xxh3_128_with_seed(body, seed)
        );
        Self(HeaderValue::from_str(&tag).expect("quoted hex is a valid header value"))
    }

    /// Parses a stored tag (`"…"` or `W/"…"`); `None` when it is not a valid entity-tag.
    pub fn parse(tag: &str) -> Option<Self> {
        Self::parse_shared(bytes::Bytes::copy_from_slice(tag.as_bytes()))
    }

    /// [`parse`](Self::parse) of a tag held in shared bytes (a slice of a cache entry read
    /// from Redis): the header value keeps the bytes instead of copying them.
    pub(crate) fn parse_shared(tag: bytes::Bytes) -> Option<Self> {
        if !is_entity_tag(&tag) {
            return None;
        }
        HeaderValue::from_maybe_shared(tag).ok().map(Self)
    }

    /// The tag as sent in the `ETag` header, quotes included.
    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("an ETag is visible ASCII")
    }

    /// The tag as a header value (a cheap clone).
    pub fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }

    /// The tag as a header value, without a clone.
    pub fn into_header_value(self) -> HeaderValue {
        self.0
    }

    /// Whether an `If-None-Match` field value matches this tag (weak comparison, `*`, lists).
    pub fn matches_if_none_match(&self, field_value: &str) -> bool {
        // The usual revalidation sends back exactly the tag it was given, and an `ETag` is
        // always well formed (made by `of`, `versioned` or `parse`): equal bytes match (the
        // weak comparison of a tag with itself) without checking both tags byte by byte and
        // scanning the list: 1,491 → 180 instructions of a 304's 28,600 (callgrind;
        // bench/PROFILES.md, get_304).
        let tag = self.0.as_bytes();
        let field = field_value.as_bytes();
        if field.len() >= tag.len() && field.trim_ascii() == tag {
            return true;
        }
        if_none_match(field_value, self.as_str())
    }

    /// Whether the request's `If-None-Match` header lines match this tag, i.e. whether a
    /// `GET`/`HEAD` should be answered `304 Not Modified`. No header: `false`.
    pub fn matches_request(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| self.matches_if_none_match(v))
    }
}

impl fmt::Debug for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a conditional `GET` finds the request's `If-None-Match`: the whole [`HeaderMap`],
/// or just that header taken by the [`IfNoneMatch`] extractor.
pub trait Preconditions {
    /// Whether the request's `If-None-Match` matches `etag` (no header: `false`), i.e.
    /// whether a `GET`/`HEAD` should be answered `304 Not Modified`.
    fn if_none_match_matches(&self, etag: &ETag) -> bool;
}

impl Preconditions for HeaderMap {
    fn if_none_match_matches(&self, etag: &ETag) -> bool {
        etag.matches_request(self)
    }
}

/// The request's `If-None-Match` header lines, and nothing else: an extractor for handlers
/// answering with [`crate::response::cached_json`], cheaper than cloning every header with
/// `HeaderMap` (no header, the usual case: nothing is allocated). Never rejects.
///
/// ```
/// use apiforge_runtime::prelude::*;
/// use axum::{Router, response::Response, routing::get};
///
/// async fn show(if_none_match: IfNoneMatch) -> Response {
///     let body = CachedBody::new(&b"{\"id\":1}"[..]);
///     cached_json(&if_none_match, &body, &CacheControl::no_cache())
/// }
/// let app: Router = Router::new().route("/things/1", get(show));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfNoneMatch(pub Vec<HeaderValue>);

impl IfNoneMatch {
    /// The `If-None-Match` lines of `headers`.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self(
            headers
                .get_all(header::IF_NONE_MATCH)
                .iter()
                .cloned()
                .collect(),
        )
    }
}

impl Preconditions for IfNoneMatch {
    fn if_none_match_matches(&self, etag: &ETag) -> bool {
        self.0
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| etag.matches_if_none_match(v))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}

/// Evaluates one `If-None-Match` field value against the current `etag` of an existing
/// representation (RFC 9110 §13.1.2): `*` matches, otherwise the comma-separated list of
/// entity-tags is compared with the weak comparison function (the `W/` prefixes are ignored,
/// opaque tags must be equal). Malformed list members never match.
pub fn if_none_match(field_value: &str, etag: &str) -> bool {
    let field_value = field_value.trim();
    if field_value == "*" {
        return true;
    }
    let Some(current) = opaque(etag) else {
        return false;
    };
    EntityTags::new(field_value).any(|candidate| candidate == current)
}

/// The opaque-tag of an entity-tag (`W/` stripped), when well formed.
fn opaque(tag: &str) -> Option<&str> {
    let tag = tag.trim();
    let opaque = tag.strip_prefix("W/").unwrap_or(tag);
    is_opaque_tag(opaque.as_bytes()).then_some(opaque)
}

/// `entity-tag = [ weak ] opaque-tag`, `weak = %s"W/"`.
fn is_entity_tag(tag: &[u8]) -> bool {
    is_opaque_tag(tag.strip_prefix(b"W/").unwrap_or(tag))
}

/// `opaque-tag = DQUOTE *etagc DQUOTE`, `etagc = %x21 / %x23-7E / obs-text`.
fn is_opaque_tag(s: &[u8]) -> bool {
    // Checked without branching per byte.
    s.len() >= 2
        && s[0] == b'"'
        && s[s.len() - 1] == b'"'
        && s[1..s.len() - 1]
            .iter()
            .fold(true, |ok, &c| ok & (c > b' ') & (c != b'"') & (c != 0x7f))
}

/// Iterates the opaque-tags of a `#entity-tag` list. Tags cannot contain `,` or `"`, so
/// scanning quote to quote is exact; a malformed member ends the list.
struct EntityTags<'a> {
    rest: &'a str,
}

impl<'a> EntityTags<'a> {
    fn new(list: &'a str) -> Self {
        Self { rest: list }
    }
}

impl<'a> Iterator for EntityTags<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let rest = self.rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                return None;
            }
            let rest = rest.strip_prefix("W/").unwrap_or(rest);
            let Some(body) = rest.strip_prefix('"') else {
                self.rest = "";
                return None;
            };
            let Some(end) = body.find('"') else {
                self.rest = "";
                return None;
            };
            let tag = &rest[..end + 2];
            self.rest = &body[end + 1..];
            if is_opaque_tag(tag.as_bytes()) {
                return Some(tag);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_etag_is_quoted_hex_and_stable() {
        let a = ETag::of(b"{\"id\":1}");
        assert_eq!(a, ETag::of(b"{\"id\":1}"));
        assert_ne!(a, ETag::of(b"{\"id\":2}"));
        let s = a.as_str();
        assert_eq!(s.len(), 34);
        assert!(s.starts_with('"') && s.ends_with('"'));
        assert!(s[1..33].bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn star_matches_any_existing_representation() {
        assert!(if_none_match("*", "\"abc\""));
        assert!(if_none_match("  * ", "W/\"abc\""));
    }

    #[test]
    fn weak_comparison_ignores_w_prefix_on_either_side() {
        assert!(if_none_match("\"abc\"", "\"abc\""));
        assert!(if_none_match("W/\"abc\"", "\"abc\""));
        assert!(if_none_match("\"abc\"", "W/\"abc\""));
        assert!(if_none_match("W/\"abc\"", "W/\"abc\""));
        assert!(!if_none_match("\"abd\"", "\"abc\""));
        // Quotes are part of the tag: an unquoted value is not an entity-tag.
        assert!(!if_none_match("abc", "\"abc\""));
    }

    #[test]
    fn the_tag_sent_back_as_is_matches() {
        let tag = ETag::of(b"{}");
        assert!(tag.matches_if_none_match(tag.as_str()));
        assert!(tag.matches_if_none_match(&format!(" {tag}\t")));
        assert!(tag.matches_if_none_match(&format!("W/{tag}")));
        assert!(tag.matches_if_none_match(&format!("\"x\", {tag}")));
        assert!(!tag.matches_if_none_match(&tag.as_str()[1..]));
        assert!(!tag.matches_if_none_match(&ETag::of(b"[]").to_string()));
        let weak = ETag::parse("W/\"abc\"").unwrap();
        assert!(weak.matches_if_none_match("W/\"abc\""));
        assert!(weak.matches_if_none_match("\"abc\""));
        assert!(!weak.matches_if_none_match("W/\"abd\""));
    }

    #[test]
    fn lists_match_any_member() {
        assert!(if_none_match("\"x\", W/\"abc\"", "\"abc\""));
        assert!(if_none_match("\"x\",\"y\",\"abc\"", "\"abc\""));
        assert!(if_none_match(" ,\"x\" ,  \"abc\" , ", "\"abc\""));
        assert!(!if_none_match("\"x\", \"y\"", "\"abc\""));
        assert!(!if_none_match("", "\"abc\""));
    }

    #[test]
    fn malformed_members_never_match() {
        assert!(!if_none_match("\"abc", "\"abc\""));
        assert!(!if_none_match("W/abc", "\"abc\""));
        assert!(!if_none_match("\"x\", junk, \"abc\"", "\"abc\""));
        assert!(!if_none_match("\"abc\"", "abc"));
    }

    #[test]
    fn request_headers_with_several_lines() {
        let etag = ETag::of(b"body");
        let mut headers = HeaderMap::new();
        assert!(!etag.matches_request(&headers));
        headers.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(!etag.matches_request(&headers));
        headers.append(header::IF_NONE_MATCH, etag.header_value());
        assert!(etag.matches_request(&headers));
    }

    #[test]
    fn the_extractor_sees_what_the_header_map_does() {
        let etag = ETag::of(b"body");
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert_eq!(IfNoneMatch::from_headers(&headers), IfNoneMatch::default());
        assert!(!IfNoneMatch::from_headers(&headers).if_none_match_matches(&etag));
        headers.append(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(!IfNoneMatch::from_headers(&headers).if_none_match_matches(&etag));
        headers.append(header::IF_NONE_MATCH, etag.header_value());
        let only = IfNoneMatch::from_headers(&headers);
        assert_eq!(only.0.len(), 2);
        assert!(only.if_none_match_matches(&etag));
        assert!(headers.if_none_match_matches(&etag));
    }

    #[test]
    fn parse_accepts_entity_tags_only() {
        assert!(ETag::parse("\"abc\"").is_some());
        assert!(ETag::parse("W/\"abc\"").is_some());
        assert!(ETag::parse("abc").is_none());
        assert!(ETag::parse("\"a\"b\"").is_none());
    }
}
