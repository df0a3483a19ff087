//! Authentication and access control from the spec's `auth:` and `access:` keys.
//!
//! [`Auth`] is built once at start-up from [`AuthSettings`] (data the generator writes) and
//! the environment variables they name; a missing or invalid secret is a one-line error.
//! The [`AuthLayer`] turns `Authorization: Bearer <jwt>` or `X-API-Key` into
//! a [`Caller`] in the request's extensions, which the engine hands to the hooks as
//! `RequestContext::caller`. Bad credentials are a 401 at once; missing credentials are a
//! 401 only where an operation's [`Rule`] needs a caller (checked by the engine, and by
//! [`require`] for other routes such as `/metrics`). Tokens and keys are never logged.

pub mod access;
#[cfg(feature = "auth")]
pub mod api_keys;
#[cfg(feature = "auth")]
pub mod jwt;
#[cfg(feature = "auth")]
mod layer;

#[cfg(feature = "auth")]
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
#[cfg(feature = "auth")]
use http::header;

pub use self::access::{Access, Rule};
#[cfg(feature = "auth")]
pub use self::api_keys::ApiKeys;
#[cfg(feature = "auth")]
pub use self::jwt::{JwtKey, JwtSettings, JwtVerifier};
#[cfg(feature = "auth")]
pub use self::layer::{AuthFuture, AuthLayer, Authenticate};
use crate::engine::Caller;
#[cfg(feature = "auth")]
use crate::problem::Problem;

/// The header that carries an API key.
pub const API_KEY_HEADER: &str = "x-api-key";

#[cfg(feature = "auth")]
/// `auth:` of the spec: which credentials are accepted and where their secrets are.
#[derive(Debug, Clone, Copy)]
pub struct AuthSettings {
    pub jwt: Option<JwtSettings>,
    /// The variable holding `name:sha256-hex,…`.
    pub api_keys_env: Option<&'static str>,
}

#[cfg(feature = "auth")]
/// The verifiers of an API, shared by every request (cheap to clone).
#[derive(Debug, Clone)]
pub struct Auth(Arc<Verifiers>);

#[cfg(feature = "auth")]
#[derive(Debug)]
struct Verifiers {
    jwt: Option<JwtVerifier>,
    api_keys: Option<ApiKeys>,
}

#[cfg(feature = "auth")]
impl Auth {
    /// Reads the secrets `settings` names from the environment.
    pub fn from_env(settings: &AuthSettings) -> Result<Self, String> {
        let jwt = settings
            .jwt
            .as_ref()
            .map(JwtVerifier::from_env)
            .transpose()?;
        let api_keys = match settings.api_keys_env {
            Some(env) => Some(ApiKeys::parse(env, &env_var(env, "auth.api_keys.env")?)?),
            None => None,
        };
        Ok(Self(Arc::new(Verifiers { jwt, api_keys })))
    }

    /// The caller of a request: `Ok(None)` without credentials, `Err` (a 401) with bad ones.
    pub fn caller(&self, headers: &http::HeaderMap) -> Result<Option<Caller>, Problem> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    let (scheme, token) = v.split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                })
                .ok_or_else(|| invalid("the Authorization header is not `Bearer <token>`"))?;
            let verifier = self
                .0
                .jwt
                .as_ref()
                .ok_or_else(|| invalid("this API does not accept bearer tokens"))?;
            return verifier.verify(token).map(Some).map_err(|why| {
                tracing::debug!(reason = %why, "bearer token refused");
                invalid("the bearer token is invalid or expired")
            });
        }
        if let Some(value) = headers.get(API_KEY_HEADER) {
            let name = self
                .0
                .api_keys
                .as_ref()
                .and_then(|keys| keys.verify(value.to_str().ok()?))
                .ok_or_else(|| invalid("the API key is not valid"))?;
            return Ok(Some(Caller::new(name)));
        }
        Ok(None)
    }
}

#[cfg(feature = "auth")]
/// The 401 of bad credentials.
fn invalid(detail: &str) -> Problem {
    Problem::unauthorized(detail)
}

#[cfg(feature = "auth")]
/// A required environment variable (non-empty), or a one-line error naming the spec key.
pub(crate) fn env_var(name: &str, key: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(format!("{name} is not set (the spec's `{key}` names it)")),
    }
}

/// Middleware for routes outside the engine (`/metrics`, `/_stats`, your own): lets a
/// request through when its caller passes `rule`, else 401 / 403.
pub async fn require(rule: Rule, request: Request, next: Next) -> Response {
    match rule.check(request.extensions().get::<Caller>()) {
        Ok(()) => next.run(request).await,
        Err(problem) => problem.into_response(),
    }
}
