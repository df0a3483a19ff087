//! Extractor rejections seen through a real axum router: problem+json naming the field.

use apiforge_runtime::prelude::*;
use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

#[derive(Debug, Clone, serde::Serialize, Resource)]
#[resource(table = "products")]
#[allow(dead_code)] // `cost` is hidden: never read by the selection code under test
struct Product {
    #[resource(primary_key)]
    id: i64,
    name: String,
    #[resource(hidden)]
    #[serde(skip)]
    cost: i64,
}

#[derive(Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    name: String,
    price: i64,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<i64>,
    fields: Option<String>,
    cursor: Option<String>,
}

async fn create(Json(p): Json<NewProduct>) -> (StatusCode, Json<NewProduct>) {
    (StatusCode::CREATED, Json(p))
}

async fn list(Query(q): Query<ListParams>) -> Result<Json<serde_json::Value>, Problem> {
    let fields = match &q.fields {
        Some(spec) => Product::fields(spec)?,
        None => FieldSet::all::<Product>(),
    };
    let after = q
        .cursor
        .as_deref()
        .map(Cursor::<String, i64>::decode)
        .transpose()?;
    let p = Product {
        id: 1,
        name: "lamp".into(),
        cost: 3,
    };
    Ok(Json(serde_json::json!({
        "limit": clamp_limit(q.limit, 50, 200),
        "item": serde_json::to_value(p.to_json_fields(&fields)).unwrap(),
        "after": after.map(|c| c.key),
    })))
}

async fn filter(params: QueryMap) -> Result<String, Problem> {
    params.allow_only(&["category", "price_min"])?;
    Ok(params.get_all("category").collect::<Vec<_>>().join("|"))
}

fn app() -> Router {
    Router::new()
        .route("/products", post(create).get(list))
        .route("/filter", get(filter))
}

async fn call(request: Request<Body>) -> (StatusCode, String, serde_json::Value) {
    let response = app().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into()));
    (status, content_type, json)
}

async fn post_json(body: &str) -> (StatusCode, String, serde_json::Value) {
    call(
        Request::post("/products")
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap(),
    )
    .await
}

async fn get_uri(uri: &str) -> (StatusCode, String, serde_json::Value) {
    call(Request::get(uri).body(Body::empty()).unwrap()).await
}

fn assert_problem(
    (status, content_type, body): &(StatusCode, String, serde_json::Value),
    expected: StatusCode,
    field: &str,
    detail_has: &str,
) {
    assert_eq!(*status, expected, "{body}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["status"], expected.as_u16());
    assert_eq!(body["errors"][0]["field"], field, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(detail_has), "{detail}");
}

#[tokio::test]
async fn valid_body_is_accepted() {
    let (status, content_type, body) = post_json(r#"{"name":"lamp","price":3}"#).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(content_type, "application/json");
    assert_eq!(body, serde_json::json!({"name": "lamp", "price": 3}));
}

#[tokio::test]
async fn unknown_body_field_is_400_naming_it() {
    let r = post_json(r#"{"name":"lamp","price":3,"colour":"red"}"#).await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "colour",
        "unknown field `colour`",
    );
}

#[tokio::test]
async fn missing_and_mistyped_body_fields_are_400_naming_them() {
    let r = post_json(r#"{"name":"lamp"}"#).await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "price",
        "missing field `price`",
    );
    let r = post_json(r#"{"name":"lamp","price":"cheap"}"#).await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "price", "invalid type");
}

#[tokio::test]
async fn malformed_json_and_wrong_media_type_are_problems() {
    let (status, content_type, body) = post_json(r#"{"name":"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(content_type, "application/problem+json");
    assert!(body["detail"].as_str().unwrap().starts_with("invalid JSON"));

    let (status, content_type, _) = call(
        Request::post("/products")
            .header("content-type", "text/plain")
            .body(Body::from(r#"{"name":"lamp","price":3}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(content_type, "application/problem+json");

    let (status, ..) = call(
        Request::post("/products")
            .header(
                "content-type",
                "application/merge-patch+json; charset=utf-8",
            )
            .body(Body::from(r#"{"name":"lamp","price":3}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let app = app().layer(axum::extract::DefaultBodyLimit::max(16));
    let body = r#"{"name":"a very long product name","price":3}"#;
    let response = app
        .oneshot(
            Request::post("/products")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn query_parameters_are_checked_by_name() {
    let r = get_uri("/products?limit=ten").await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "limit", "limit");
    let r = get_uri("/products?colour=red").await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "colour",
        "unknown field `colour`",
    );

    let (status, _, body) = get_uri("/products?limit=5000&fields=name").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["limit"], 200);
    assert_eq!(body["item"], serde_json::json!({"name": "lamp"}));
}

#[tokio::test]
async fn bad_field_selection_is_400_and_a_bad_cursor_422() {
    let r = get_uri("/products?fields=id,colour").await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "fields",
        "unknown field `colour`",
    );
    let r = get_uri("/products?fields=cost").await;
    assert_problem(
        &r,
        StatusCode::BAD_REQUEST,
        "fields",
        "`cost` is not selectable",
    );
    // Any string fits `cursor`'s schema: one the server did not make cannot be processed.
    let r = get_uri("/products?cursor=garbage!").await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "cursor", "cursor");

    let token = Cursor {
        sort: "lamp".to_owned(),
        key: 9_i64,
    }
    .encode();
    let (status, _, body) = get_uri(&format!("/products?cursor={token}")).await;
    assert_eq!(
        (status, &body["after"]),
        (StatusCode::OK, &serde_json::json!(9))
    );
}

#[tokio::test]
async fn raw_query_map_keeps_repeats_and_refuses_unknown_keys() {
    let (status, _, body) = get_uri("/filter?category=a&category=b%20c&price_min=1").await;
    assert_eq!((status, body), (StatusCode::OK, "a|b c".into()));
    let r = get_uri("/filter?category=a&sort=price").await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "sort", "`sort`");
}
