//! The HTTP routes of a resource: short generic handlers that extract, call the engine and
//! answer. `routes::<Product>()` is all a generated route module holds.

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post};

#[cfg(feature = "rate-limit")]
use std::sync::Arc;

use super::Operation;
use super::context::RequestContext;
use super::desc::Description;
use super::state::AppState;
use super::{Entity, body::parse_key, read, stream, write};
use crate::etag::IfNoneMatch;
use crate::extract::{Json, QueryMap, json_body};
use crate::problem::Problem;
#[cfg(feature = "rate-limit")]
use crate::rate_limit::{Limiter, RateLimitLayer};
use crate::response::cached_json;

/// Every route of `R` its description enables: list, create, export, rankings, and get,
/// update, delete of one row.
pub fn routes<R: Entity>() -> Router<AppState> {
    let d = R::DESC;
    let mut router = Router::new();
    let collection = join(
        d.ops
            .list
            .then(|| limited(d, Operation::List, get(list_rows::<R>))),
        d.ops
            .create
            .then(|| limited(d, Operation::Create, post(create_row::<R>))),
    );
    if let Some(methods) = collection {
        router = router.route(d.path, methods);
    }
    if d.ops.export {
        router = router.route(
            &format!("{}/export", d.path),
            limited(d, Operation::Export, get(export_rows::<R>)),
        );
    }
    for ranking in d.rankings {
        router = router.route(
            ranking.path,
            get(
                move |State(state): State<AppState>,
                      if_none_match: IfNoneMatch,
                      query: QueryMap,
                      ctx: RequestContext| async move {
                    let body = stream::ranking::<R>(&state, &ctx, ranking, &query).await?;
                    let cache_control = crate::response::CacheControl::from_static(
                        if d.access.is_private(super::Operation::Ranking) {
                            d.cache.private_cache_control
                        } else {
                            d.cache.cache_control
                        },
                    );
                    Ok::<_, Problem>(cached_json(&if_none_match, body, &cache_control))
                },
            ),
        );
    }
    let item = join(
        join(
            d.ops
                .get
                .then(|| limited(d, Operation::Get, get(get_row::<R>))),
            d.ops
                .update
                .then(|| limited(d, Operation::Update, patch(update_row::<R>))),
        ),
        d.ops
            .delete
            .then(|| limited(d, Operation::Delete, delete(delete_row::<R>))),
    );
    if let Some(methods) = item {
        router = router.route(&format!("{}/{{id}}", d.path), methods);
    }
    router
}

/// `route` behind the operation's rate limit (`rate_limit: { create: 5/s }`), if it has one.
#[cfg(feature = "rate-limit")]
fn limited(
    d: &Description,
    op: Operation,
    route: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    match d.rate_limits.iter().find(|(o, _)| *o == op) {
        Some((_, quota)) => {
            let limiter = Arc::new(Limiter::new(format!("{}.{op}", d.name), *quota));
            route.layer(RateLimitLayer::operation(limiter))
        }
        None => route,
    }
}

/// Without the `rate-limit` feature there is nothing to limit with: a spec with an operation
/// limit turns the feature on (`apiforge generate` says so when Cargo.toml lacks it).
#[cfg(not(feature = "rate-limit"))]
fn limited(
    d: &Description,
    op: Operation,
    route: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    assert!(
        d.rate_limits.iter().all(|(o, _)| *o != op),
        "`{}.rate_limit.{op}` needs apiforge-runtime's `rate-limit` feature",
        d.name
    );
    route
}

fn join(
    a: Option<MethodRouter<AppState>>,
    b: Option<MethodRouter<AppState>>,
) -> Option<MethodRouter<AppState>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.merge(b)),
        (a, b) => a.or(b),
    }
}

/// `GET {path}`: one page, with an ETag (304 on a matching `If-None-Match`).
async fn list_rows<R: Entity>(
    State(state): State<AppState>,
    if_none_match: IfNoneMatch,
    query: QueryMap,
    ctx: RequestContext,
) -> Result<Response, Problem> {
    let page = read::list::<R>(&state, &ctx, &query).await?;
    Ok(cached_json(&if_none_match, page.body, &page.cache_control))
}

/// `GET {path}/{id}`: the row, with an ETag (304 on a matching `If-None-Match`).
async fn get_row<R: Entity>(
    State(state): State<AppState>,
    Path(id): Path<String>,
    if_none_match: IfNoneMatch,
    query: QueryMap,
    ctx: RequestContext,
) -> Result<Response, Problem> {
    let id: R::Key = parse_key(&id)?;
    let row = read::get::<R>(&state, &ctx, &id, &query).await?;
    Ok(cached_json(&if_none_match, row.body, &row.cache_control))
}

/// The context of a request with a body (headers stay for the body's extractor) and the
/// body as `T`.
async fn with_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    request: Request,
) -> Result<(RequestContext, T), Problem> {
    let (parts, body) = request.into_parts();
    let ctx = RequestContext::from_parts(&parts, state.pool.clone());
    let bytes = json_body(Request::from_parts(parts, body), state).await?;
    let Json(input) = Json::<T>::from_object_bytes(&bytes)?;
    Ok((ctx, input))
}

/// [`with_body`] for a create on an owned resource: the owner field filled in from the
/// caller before the body is read as `R::Create`.
async fn with_owned_body<R: Entity>(
    state: &AppState,
    request: Request,
) -> Result<(RequestContext, R::Create), Problem> {
    let (parts, body) = request.into_parts();
    let ctx = RequestContext::from_parts(&parts, state.pool.clone());
    R::DESC
        .access
        .rule(super::Operation::Create)
        .check(ctx.caller.as_ref())?;
    let bytes = json_body(Request::from_parts(parts, body), state).await?;
    let Json(mut object) =
        Json::<serde_json::Map<String, serde_json::Value>>::from_object_bytes(&bytes)?;
    super::guard::fill_owner(R::DESC, &ctx, &mut object)?;
    let bytes = serde_json::to_vec(&object).map_err(super::json::internal)?;
    let Json(input) = Json::<R::Create>::from_object_bytes(&bytes)?;
    Ok((ctx, input))
}

fn json_response(status: StatusCode, json: Vec<u8>) -> Response {
    let mut response = (status, json).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `POST {path}`: 201 with the row and its `Location`. On an owned resource, a body
/// without the owner field is given the caller's subject.
async fn create_row<R: Entity>(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, Problem> {
    let (ctx, input) = if R::DESC.access.owner.is_some() {
        with_owned_body::<R>(&state, request).await?
    } else {
        with_body::<R::Create>(&state, request).await?
    };
    let written = write::create::<R>(&state, &ctx, input).await?;
    let location = format!("{}/{}", R::DESC.path, written.row.key());
    let mut response = json_response(StatusCode::CREATED, written.json);
    if let Ok(location) = HeaderValue::try_from(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `PATCH {path}/{id}`.
async fn update_row<R: Entity>(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, Problem> {
    let id: R::Key = parse_key(&id)?;
    let (ctx, input) = with_body::<R::Update>(&state, request).await?;
    let written = write::update::<R>(&state, &ctx, id, input).await?;
    Ok(json_response(StatusCode::OK, written.json))
}

/// `DELETE {path}/{id}`: 204.
async fn delete_row<R: Entity>(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ctx: RequestContext,
) -> Result<StatusCode, Problem> {
    let id: R::Key = parse_key(&id)?;
    write::delete::<R>(&state, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET {path}/export`: every row, streamed.
async fn export_rows<R: Entity>(
    State(state): State<AppState>,
    query: QueryMap,
    ctx: RequestContext,
) -> Result<Response, Problem> {
    stream::export::<R>(&state, &ctx, &query).await
}
