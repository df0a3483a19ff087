//! Request extractors whose rejections are [`Problem`]s that name the field at fault.
//!
//! axum's own `Json`/`Query` reject with plain text; these reject with problem+json and
//! keep serde's message (e.g. "unknown field `colour`, expected one of `name`, `price`"),
//! with the path of the field (`items[2].quantity`) in `errors[].field`.

use std::fmt::Display;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::request::Parts;
use http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON request body (requires `Content-Type: application/json` or `application/*+json`),
/// and a JSON response when returned from a handler.
///
/// Rejections: 415 without a JSON content type, 413 over the body limit, 400 for invalid
/// JSON or a body that does not fit `T` (unknown or missing field, wrong type), naming the
/// field.
///
/// ```
/// use apiforge_runtime::prelude::*;
/// use axum::{Router, routing::post};
///
/// #[derive(serde::Deserialize, serde::Serialize)]
/// #[serde(deny_unknown_fields)]
/// struct NewProduct { name: String, price: f64 }
///
/// async fn create(Json(p): Json<NewProduct>) -> Json<NewProduct> {
///     Json(p)
/// }
/// let app: Router = Router::new().route("/products", post(create));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Self::from_bytes(&json_body(req, state).await?)
    }
}

/// The bytes of a JSON request body: 415 without a JSON content type, 413 over the body
/// limit.
pub async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Problem> {
    if !is_json(req.headers()) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected a request body with `Content-Type: application/json`",
        ));
    }
    Bytes::from_request(req, state)
        .await
        .map_err(|rejection| Problem::new(rejection.status(), rejection.body_text()))
}

impl<T: DeserializeOwned> Json<T> {
    /// Like [`Json::from_bytes`], for a body that must be a JSON object: serde also builds
    /// a struct from an array of its fields in order (`[]` would be an empty PATCH).
    ///
    /// ```
    /// use apiforge_runtime::extract::Json;
    ///
    /// #[derive(serde::Deserialize, Debug)]
    /// struct Patch { name: Option<String> }
    ///
    /// let err = Json::<Patch>::from_object_bytes(b" []").unwrap_err();
    /// assert_eq!(err.status, 400);
    /// assert!(Json::<Patch>::from_object_bytes(b" {}").is_ok());
    /// ```
    pub fn from_object_bytes(bytes: &[u8]) -> Result<Self, Problem> {
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Self::from_bytes(bytes),
            _ => Err(Problem::bad_request(
                "invalid request body: expected a JSON object",
            )),
        }
    }

    /// Deserializes a JSON body, with the same rejections as the extractor.
    ///
    /// ```
    /// use apiforge_runtime::extract::Json;
    ///
    /// #[derive(serde::Deserialize, Debug)]
    /// #[serde(deny_unknown_fields)]
    /// struct Body { name: String }
    ///
    /// let err = Json::<Body>::from_bytes(br#"{"name":"a","colour":"red"}"#).unwrap_err();
    /// assert_eq!(err.status, 400);
    /// assert_eq!(err.errors[0].field, "colour");
    /// assert!(err.detail.unwrap().contains("unknown field `colour`"));
    /// let err = Json::<Body>::from_bytes(br#"{"name":"a"} trailing"#).unwrap_err();
    /// assert_eq!(err.status, 400);
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Problem> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        match serde_path_to_error::deserialize(&mut *de) {
            // Whitespace only after the value: `{"a":1} x` is not JSON.
            Ok(value) => match de.end() {
                Ok(()) => Ok(Self(value)),
                Err(err) => Err(Problem::bad_request(format!("invalid JSON: {err}"))),
            },
            Err(err) => {
                let path = err.path().to_string();
                let inner = err.into_inner();
                if inner.is_data() {
                    Err(field_problem("invalid request body", &path, &inner))
                } else {
                    Err(Problem::bad_request(format!("invalid JSON: {inner}")))
                }
            }
        }
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn is_json(headers: &http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json") || sub.to_ascii_lowercase().ends_with("+json"))
}

/// A 400 naming the field. serde names unknown and missing fields in its message; the
/// tracked path ends with an unknown key but stops at the parent of a missing one, and is
/// the field itself for any other error.
fn field_problem(what: &str, path: &str, err: &impl Display) -> Problem {
    let message = err.to_string();
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    let field = match (named, path) {
        (Some(name), "." | "") => name.to_owned(),
        (Some(name), path) if path == name || path.ends_with(&format!(".{name}")) => {
            path.to_owned()
        }
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, path) => path.to_owned(),
    };
    let detail = if field.is_empty() || field == "." {
        format!("{what}: {message}")
    } else {
        format!("{what}: {field}: {message}")
    };
    let problem = Problem::bad_request(detail);
    if field.is_empty() || field == "." {
        problem
    } else {
        problem.with_error(field, message)
    }
}

/// Query parameters deserialized into `T` (use `#[serde(deny_unknown_fields)]` to refuse
/// unknown parameters). Rejection: 400 naming the parameter.
///
/// ```
/// use apiforge_runtime::extract::Query;
///
/// #[derive(serde::Deserialize, Debug)]
/// #[serde(deny_unknown_fields)]
/// struct Page { limit: Option<i64> }
///
/// let err = Query::<Page>::from_query("limit=ten").unwrap_err();
/// assert_eq!((err.status, err.errors[0].field.as_str()), (400, "limit"));
/// let err = Query::<Page>::from_query("colour=red").unwrap_err();
/// assert_eq!(err.errors[0].field, "colour");
/// assert_eq!(Query::<Page>::from_query("limit=5").unwrap().0.limit, Some(5));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> Query<T> {
    /// Deserializes a raw query string (without the `?`); see [`Query`] for an example.
    pub fn from_query(query: &str) -> Result<Self, Problem> {
        if query.is_empty() {
            // The usual case, without the path tracking (errors take the way below, for
            // the same messages).
            let empty = serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(
                std::iter::empty::<(&str, &str)>(),
            );
            if let Ok(value) = T::deserialize(empty) {
                return Ok(Self(value));
            }
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Self)
            .map_err(|err| {
                let path = err.path().to_string();
                field_problem("invalid query parameter", &path, err.inner())
            })
    }
}

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_query(parts.uri.query().unwrap_or_default())
    }
}

/// The raw query parameters, in order, repeated keys kept (`?a=1&a=2`), percent-decoded.
/// Never rejects. Generated handlers check the keys against a whitelist with
/// [`QueryMap::allow_only`].
///
/// ```
/// use apiforge_runtime::extract::QueryMap;
///
/// let q = QueryMap::parse("category=lamps&price_min=5&category=desks&x=%20y");
/// assert_eq!(q.get("category"), Some("lamps"));
/// assert_eq!(q.get_all("category").collect::<Vec<_>>(), ["lamps", "desks"]);
/// assert_eq!(q.get("x"), Some(" y"));
/// let err = q.allow_only(&["category", "price_min"]).unwrap_err();
/// assert_eq!((err.status, err.errors[0].field.as_str()), (400, "x"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryMap(pub Vec<(String, String)>);

impl QueryMap {
    /// Parses a raw query string (without the `?`).
    ///
    /// ```
    /// # use apiforge_runtime::extract::QueryMap;
    /// assert_eq!(QueryMap::parse("a=1&a=2").0.len(), 2);
    /// ```
    pub fn parse(query: &str) -> Self {
        Self(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `key`.
    ///
    /// ```
    /// # use apiforge_runtime::extract::QueryMap;
    /// assert_eq!(QueryMap::parse("a=1&a=2").get("a"), Some("1"));
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    ///
    /// ```
    /// # use apiforge_runtime::extract::QueryMap;
    /// assert_eq!(QueryMap::parse("a=1&b=0&a=2").get_all("a").collect::<Vec<_>>(), ["1", "2"]);
    /// ```
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is present.
    ///
    /// ```
    /// # use apiforge_runtime::extract::QueryMap;
    /// assert!(QueryMap::parse("a").contains_key("a"));
    /// ```
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The pairs, in order.
    ///
    /// ```
    /// # use apiforge_runtime::extract::QueryMap;
    /// assert_eq!(QueryMap::parse("a=1&b").iter().collect::<Vec<_>>(), [("a", "1"), ("b", "")]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are no parameters.
    ///
    /// ```
    /// # use apiforge_runtime::extract::QueryMap;
    /// assert!(QueryMap::parse("").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A 400 naming every parameter whose key is not in `allowed`, listing the allowed ones.
    ///
    /// ```
    /// # use apiforge_runtime::extract::QueryMap;
    /// let q = QueryMap::parse("limit=5&colour=red&size=9");
    /// let p = q.allow_only(&["limit", "fields"]).unwrap_err();
    /// assert_eq!(p.detail.as_deref(), Some("unknown query parameters `colour`, `size`; valid parameters: limit, fields"));
    /// assert!(QueryMap::parse("limit=5").allow_only(&["limit"]).is_ok());
    /// ```
    pub fn allow_only(&self, allowed: &[&str]) -> Result<(), Problem> {
        let unknown: Vec<&str> = self
            .0
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !allowed.contains(k))
            .fold(Vec::new(), |mut acc, k| {
                if !acc.contains(&k) {
                    acc.push(k);
                }
                acc
            });
        if unknown.is_empty() {
            return Ok(());
        }
        let valid = allowed.join(", ");
        let message = format!("unknown query parameter; valid parameters: {valid}");
        let detail = format!(
            "unknown query parameter{} {}; valid parameters: {valid}",
            if unknown.len() > 1 { "s" } else { "" },
            unknown
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        Err(Problem::bad_request(detail).with_errors(
            unknown
                .iter()
                .map(|k| crate::problem::FieldViolation::new(*k, message.clone())),
        ))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::parse(parts.uri.query().unwrap_or_default()))
    }
}
