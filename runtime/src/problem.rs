//! RFC 9457 problem details (`application/problem+json`), the one error shape of every
//! apiforge API, and the mapping of database errors to it.
//!
//! Database errors are turned into words without leaking SQL: the client sees which field
//! or rule was violated, never the statement, the constraint's raw message or the driver's
//! error text. Errors that cannot be explained safely become a generic 500 and the real
//! error is logged with `tracing::error!`.

use std::borrow::Cow;
use std::fmt;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use sqlx::error::ErrorKind;
use sqlx::postgres::PgDatabaseError;

/// The media type of a problem details body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The `Retry-After` (seconds) of every 503 the runtime answers: a database that is down
/// or saturated is worth retrying soon, not at once in a tight loop.
pub const RETRY_AFTER_SECS: u64 = 1;

/// A problem details object (RFC 9457) with an `errors` extension naming the fields at fault.
///
/// ```
/// use apiforge_runtime::problem::Problem;
///
/// let p = Problem::bad_request("unknown field `colour`").with_error("colour", "unknown field");
/// assert_eq!(p.status, 400);
/// assert_eq!(p.title, "Bad Request");
/// assert_eq!(p.errors[0].field, "colour");
/// let json = serde_json::to_value(&p).unwrap();
/// assert_eq!(json["type"], "about:blank");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URI reference identifying the problem type; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub type_: String,
    /// A short summary of the problem type (the status' reason phrase for `about:blank`).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// An explanation specific to this occurrence, safe to show to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The fields at fault, when there are any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldViolation>,
}

/// One field at fault in a [`Problem`]: `{"field": "email", "message": "must be unique"}`.
///
/// ```
/// use apiforge_runtime::problem::FieldViolation;
///
/// let v = FieldViolation::new("quantity", "must be at least 1");
/// assert_eq!(v.to_string(), "quantity: must be at least 1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldViolation {
    /// The field (body key, query parameter or column) the message is about.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl Problem {
    /// A problem of type `about:blank` with `status`, titled by the status' reason phrase.
    ///
    /// ```
    /// use apiforge_runtime::problem::Problem;
    /// use http::StatusCode;
    ///
    /// let p = Problem::new(StatusCode::GONE, "this product was withdrawn");
    /// assert_eq!((p.status, p.title.as_str()), (410, "Gone"));
    /// ```
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            type_: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            errors: Vec::new(),
        }
    }

    /// 400 Bad Request.
    ///
    /// ```
    /// # use apiforge_runtime::problem::Problem;
    /// assert_eq!(Problem::bad_request("bad limit").status, 400);
    /// ```
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 404 Not Found.
    ///
    /// ```
    /// # use apiforge_runtime::problem::Problem;
    /// assert_eq!(Problem::not_found("no product 7").status, 404);
    /// ```
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// 401 Unauthorized: no or bad credentials (sent with `WWW-Authenticate: Bearer`).
    ///
    /// ```
    /// # use apiforge_runtime::problem::Problem;
    /// assert_eq!(Problem::unauthorized("token expired").status, 401);
    /// ```
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403 Forbidden: authenticated, but not allowed.
    ///
    /// ```
    /// # use apiforge_runtime::problem::Problem;
    /// assert_eq!(Problem::forbidden("needs the role admin").status, 403);
    /// ```
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    /// 409 Conflict.
    ///
    /// ```
    /// # use apiforge_runtime::problem::Problem;
    /// assert_eq!(Problem::conflict("email taken").status, 409);
    /// ```
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    /// 422 Unprocessable Content (a well-formed request that breaks a rule).
    ///
    /// ```
    /// # use apiforge_runtime::problem::Problem;
    /// assert_eq!(Problem::unprocessable("rating must be 1..=5").status, 422);
    /// ```
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }

    /// 503 Service Unavailable (a dependency such as the database is down or saturated).
    /// Its response carries `Retry-After: 1` ([`RETRY_AFTER_SECS`]).
    ///
    /// ```
    /// # use apiforge_runtime::problem::Problem;
    /// assert_eq!(Problem::service_unavailable("database unavailable").status, 503);
    /// ```
    pub fn service_unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
    }

    /// 500 Internal Server Error with a generic detail; log the real cause yourself.
    ///
    /// ```
    /// # use apiforge_runtime::problem::Problem;
    /// assert_eq!(Problem::internal().status, 500);
    /// ```
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "an unexpected error occurred",
        )
    }

    /// Sets the `type` URI.
    ///
    /// ```
    /// # use apiforge_runtime::problem::Problem;
    /// let p = Problem::conflict("x").with_type("https://example.com/probs/duplicate");
    /// assert_eq!(p.type_, "https://example.com/probs/duplicate");
    /// ```
    pub fn with_type(mut self, type_: impl Into<String>) -> Self {
        self.type_ = type_.into();
        self
    }

    /// Sets the `detail`.
    ///
    /// ```
    /// # use apiforge_runtime::problem::Problem;
    /// assert_eq!(Problem::internal().with_detail("x").detail.as_deref(), Some("x"));
    /// ```
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds one field violation.
    ///
    /// ```
    /// # use apiforge_runtime::problem::Problem;
    /// let p = Problem::unprocessable("invalid").with_error("rating", "must be at most 5");
    /// assert_eq!(p.errors.len(), 1);
    /// ```
    pub fn with_error(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldViolation::new(field, message));
        self
    }

    /// Adds several field violations.
    ///
    /// ```
    /// # use apiforge_runtime::problem::{FieldViolation, Problem};
    /// let p = Problem::unprocessable("invalid body").with_errors([
    ///     FieldViolation::new("name", "must not be empty"),
    ///     FieldViolation::new("price", "must be at least 0"),
    /// ]);
    /// assert_eq!(p.errors.len(), 2);
    /// ```
    pub fn with_errors(mut self, errors: impl IntoIterator<Item = FieldViolation>) -> Self {
        self.errors.extend(errors);
        self
    }

    /// The status as a [`StatusCode`] (500 if the stored number is not a valid status).
    ///
    /// ```
    /// # use apiforge_runtime::problem::Problem;
    /// assert_eq!(Problem::not_found("x").status_code(), http::StatusCode::NOT_FOUND);
    /// ```
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Maps a database error to a problem, explaining constraint violations with
    /// `constraints`: `(constraint name, words for the client)` pairs. Constraints missing
    /// from the table are explained from their name (`users_email_key` → "email must be
    /// unique"). See [`Problem::from_sqlx_ref`] for the whole mapping.
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) -> Result<(), apiforge_runtime::problem::Problem> {
    /// use apiforge_runtime::problem::Problem;
    ///
    /// sqlx::query("INSERT INTO users (email) VALUES ($1)")
    ///     .bind("ann@example.com")
    ///     .execute(&pool)
    ///     .await
    ///     .map_err(|e| {
    ///         Problem::from_sqlx(e, &[("users_email_key", "a user with this email already exists")])
    ///     })?;
    /// # Ok(()) }
    /// ```
    pub fn from_sqlx(err: sqlx::Error, constraints: &[(&str, &str)]) -> Self {
        Self::from_sqlx_ref(&err, constraints)
    }

    /// Maps a borrowed database error to a problem:
    ///
    /// | error | status |
    /// |---|---|
    /// | `RowNotFound` | 404 |
    /// | unique violation (23505), or deleting/re-keying a row still referenced (23503) | 409 |
    /// | foreign key (23503), check (23514), not-null (23502), value too long / out of range (22001, 22003) | 422 |
    /// | invalid input syntax (22P02) | 400 |
    /// | pool timed out or closed, I/O, TLS, connection errors (class 08), too many connections, statement timeout, shutdown | 503 |
    /// | anything else | 500, generic detail, logged |
    ///
    /// ```
    /// use apiforge_runtime::problem::Problem;
    ///
    /// assert_eq!(Problem::from_sqlx_ref(&sqlx::Error::RowNotFound, &[]).status, 404);
    /// assert_eq!(Problem::from_sqlx_ref(&sqlx::Error::PoolTimedOut, &[]).status, 503);
    /// ```
    pub fn from_sqlx_ref(err: &sqlx::Error, constraints: &[(&str, &str)]) -> Self {
        match err {
            sqlx::Error::RowNotFound => Self::not_found("the requested resource does not exist"),
            sqlx::Error::Database(db) => from_database_error(db.as_ref(), constraints, err),
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => {
                tracing::error!(error = %crate::monitor::log_safe(&err), "database unavailable");
                Self::service_unavailable("the database is unavailable, try again later")
            }
            _ => internal_logged(err),
        }
    }
}

fn internal_logged(err: &sqlx::Error) -> Problem {
    tracing::error!(error = %crate::monitor::log_safe(&err), "database error");
    Problem::internal()
}

fn from_database_error(
    db: &dyn sqlx::error::DatabaseError,
    constraints: &[(&str, &str)],
    err: &sqlx::Error,
) -> Problem {
    let pg = db.try_downcast_ref::<PgDatabaseError>();
    let code = db.code().unwrap_or(Cow::Borrowed(""));
    let table = db.table().unwrap_or("");
    let constraint = db.constraint();
    let column = pg.and_then(PgDatabaseError::column);
    let told = constraint.and_then(|c| {
        constraints
            .iter()
            .find(|(name, _)| *name == c)
            .map(|(_, words)| *words)
    });

    match (db.kind(), code.as_ref()) {
        (ErrorKind::UniqueViolation, _) => {
            let columns = constraint.and_then(|c| constraint_columns(c, table, "_key"));
            let field = columns.unwrap_or("value");
            let words = told.map_or_else(|| format!("{field} must be unique"), str::to_owned);
            with_field(Problem::conflict(words), columns, "must be unique")
        }
        (ErrorKind::ForeignKeyViolation, _) if is_still_referenced(db.message(), pg) => {
            let words = told.map_or_else(
                || "the resource is still referenced by other rows".to_owned(),
                str::to_owned,
            );
            Problem::conflict(words)
        }
        (ErrorKind::ForeignKeyViolation, _) => {
            let columns = constraint.and_then(|c| constraint_columns(c, table, "_fkey"));
            let field = columns.unwrap_or("a reference");
            let words = told.map_or_else(
                || format!("{field} does not reference an existing row"),
                str::to_owned,
            );
            with_field(
                Problem::unprocessable(words),
                columns,
                "does not reference an existing row",
            )
        }
        (ErrorKind::CheckViolation, _) => {
            let columns = constraint.and_then(|c| constraint_columns(c, table, "_check"));
            let words = told.map_or_else(
                || match columns {
                    Some(c) => format!("{c} is not an allowed value"),
                    None => "a value is not allowed".to_owned(),
                },
                str::to_owned,
            );
            with_field(
                Problem::unprocessable(words),
                columns,
                "is not an allowed value",
            )
        }
        (ErrorKind::NotNullViolation, _) => {
            let field = column.unwrap_or("a required field");
            with_field(
                Problem::unprocessable(format!("{field} is required")),
                column,
                "is required",
            )
        }
        (_, "22001") => with_field(
            Problem::unprocessable(format!("{} is too long", column.unwrap_or("a value"))),
            column,
            "is too long",
        ),
        (_, "22003") => with_field(
            Problem::unprocessable(format!("{} is out of range", column.unwrap_or("a value"))),
            column,
            "is out of range",
        ),
        (_, "22P02") => Problem::bad_request("a value has an invalid format"),
        (_, c) if c.starts_with("08") || matches!(c, "53300" | "57P01" | "57P02" | "57P03") => {
            tracing::error!(error = %crate::monitor::log_safe(&err), "database unavailable");
            Problem::service_unavailable("the database is unavailable, try again later")
        }
        (_, "57014") => {
            tracing::error!(error = %crate::monitor::log_safe(&err), "query cancelled (statement timeout)");
            Problem::service_unavailable("the database took too long to answer, try again later")
        }
        _ => internal_logged(err),
    }
}

/// Whether a foreign-key violation comes from deleting (or re-keying) a referenced row
/// rather than from pointing at a missing one. Postgres reports both as 23503 on the
/// referencing table; only its (English, the server default) text tells them apart, and
/// an unrecognised text falls back to the 422 of a missing parent.
fn is_still_referenced(message: &str, pg: Option<&PgDatabaseError>) -> bool {
    message.starts_with("update or delete on table")
        || pg
            .and_then(PgDatabaseError::detail)
            .is_some_and(|d| d.contains("is still referenced"))
}

fn with_field(problem: Problem, field: Option<&str>, message: &str) -> Problem {
    match field {
        Some(f) => problem.with_error(f, message),
        None => problem,
    }
}

/// The column part of a Postgres default constraint name: `{table}_{columns}{suffix}`
/// (`users_email_key` → `email`). `None` when the name does not follow that convention.
fn constraint_columns<'a>(constraint: &'a str, table: &str, suffix: &str) -> Option<&'a str> {
    let rest = constraint.strip_suffix(suffix)?;
    let columns = if table.is_empty() {
        rest
    } else {
        rest.strip_prefix(table)?.strip_prefix('_')?
    };
    (!columns.is_empty()).then_some(columns)
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.title)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        for e in &self.errors {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

impl Problem {
    /// The response body (JSON) of this problem.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// Inserts `Retry-After: 1` ([`RETRY_AFTER_SECS`]) when `status` is 503.
pub fn set_retry_after(status: StatusCode, headers: &mut http::HeaderMap) {
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
            )],
            self.to_body(),
        )
            .into_response();
        set_retry_after(status, response.headers_mut());
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110 §15.5.2: a 401 names the scheme that would be accepted.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The router fallback of a generated API: `404` problem+json for a path no route matches
/// (`Router::fallback(not_found_fallback)`).
pub async fn not_found_fallback() -> Problem {
    Problem::not_found("no route matches this path")
}

/// The method-not-allowed fallback of a generated API: `405` problem+json for a known path
/// and a method it does not serve (`Router::method_not_allowed_fallback(…)`, after every
/// route; axum still sets `Allow`).
pub async fn method_not_allowed_fallback(method: http::Method) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("this route does not serve {method}"),
    )
}

impl From<sqlx::Error> for Problem {
    fn from(err: sqlx::Error) -> Self {
        Self::from_sqlx(err, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_columns_follow_postgres_naming() {
        assert_eq!(
            constraint_columns("users_email_key", "users", "_key"),
            Some("email")
        );
        assert_eq!(
            constraint_columns("order_items_order_id_fkey", "order_items", "_fkey"),
            Some("order_id")
        );
        assert_eq!(
            constraint_columns("orders_user_id_fkey", "users", "_fkey"),
            None
        );
        assert_eq!(constraint_columns("custom", "users", "_key"), None);
        assert_eq!(constraint_columns("users__key", "users", "_key"), None);
    }

    #[test]
    fn a_503_says_when_to_retry_and_other_statuses_do_not() {
        let response = Problem::service_unavailable("down").into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let mapped = Problem::from_sqlx_ref(&sqlx::Error::PoolTimedOut, &[]).into_response();
        assert_eq!(mapped.headers()[header::RETRY_AFTER], "1");
        let not_found = Problem::not_found("x").into_response();
        assert!(not_found.headers().get(header::RETRY_AFTER).is_none());
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_answer_problem_json() {
        use axum::Router;
        use axum::body::Body;
        use axum::routing::get;
        use http_body_util::BodyExt;
        use tower::ServiceExt;

        let app: Router = Router::new()
            .route("/things", get(|| async { "ok" }))
            .fallback(not_found_fallback)
            .method_not_allowed_fallback(method_not_allowed_fallback);
        let call = |method: &str, uri: &str| {
            let request = http::Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap();
            app.clone().oneshot(request)
        };

        let response = call("GET", "/nowhere").await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            PROBLEM_CONTENT_TYPE
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let problem: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!((problem.status, problem.title.as_str()), (404, "Not Found"));

        let response = call("DELETE", "/things").await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            PROBLEM_CONTENT_TYPE
        );
        assert!(
            response.headers()[header::ALLOW]
                .to_str()
                .unwrap()
                .contains("GET")
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let problem: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem.status, 405);
        assert_eq!(
            problem.detail.as_deref(),
            Some("this route does not serve DELETE")
        );
    }

    #[test]
    fn display_includes_detail_and_fields() {
        let p = Problem::bad_request("bad").with_error("x", "unknown");
        assert_eq!(p.to_string(), "400 Bad Request: bad; x: unknown");
    }
}
