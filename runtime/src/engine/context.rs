//! What hooks and custom handlers know about the request: the caller, headers, extensions
//! and the pool.

use std::fmt;

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{Extensions, HeaderMap};
use sqlx::PgPool;

use super::state::AppState;

/// Who is calling. An authentication layer (or your own middleware) puts one in the
/// request's extensions; the engine hands it to the hooks as [`RequestContext::caller`].
///
/// ```
/// use apiforge_runtime::engine::Caller;
/// let caller = Caller::new("user-42").with_roles(["admin"]);
/// assert!(caller.has_role("admin"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The subject: a user id, or an API key's name.
    pub subject: String,
    pub roles: Vec<String>,
}

impl Caller {
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            roles: Vec::new(),
        }
    }

    pub fn with_roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// An operation of a resource, as hooks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    List,
    Get,
    Create,
    Update,
    Delete,
    Export,
    Ranking,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::List => "list",
            Operation::Get => "get",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Export => "export",
            Operation::Ranking => "ranking",
        })
    }
}

/// The request as hooks see it. An extractor: custom handlers take it like any other
/// (`ctx: RequestContext`); it moves the headers and extensions out of the request, so put
/// it after extractors that read headers and do not combine it with a body extractor
/// (use [`RequestContext::from_parts`] there).
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The authenticated caller, if a layer set one.
    pub caller: Option<Caller>,
    pub headers: HeaderMap,
    /// The request's extensions (whatever your layers inserted).
    pub extensions: Extensions,
    pub pool: PgPool,
}

impl RequestContext {
    /// A context built from request parts, leaving them intact (headers and extensions
    /// are cloned).
    pub fn from_parts(parts: &Parts, pool: PgPool) -> Self {
        Self {
            caller: parts.extensions.get::<Caller>().cloned(),
            headers: parts.headers.clone(),
            extensions: parts.extensions.clone(),
            pool,
        }
    }

    /// A context for work outside a request (jobs, tests): no caller, no headers.
    pub fn internal(pool: PgPool) -> Self {
        Self {
            caller: None,
            headers: HeaderMap::new(),
            extensions: Extensions::new(),
            pool,
        }
    }

    /// The caller's subject, if any.
    pub fn subject(&self) -> Option<&str> {
        self.caller.as_ref().map(|c| c.subject.as_str())
    }

    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A value your layer inserted with `Extension` or `request.extensions_mut()`.
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.extensions.get::<T>()
    }
}

impl FromRequestParts<AppState> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let extensions = std::mem::take(&mut parts.extensions);
        Ok(Self {
            caller: extensions.get::<Caller>().cloned(),
            headers: std::mem::take(&mut parts.headers),
            extensions,
            pool: state.pool.clone(),
        })
    }
}
