//! The hand-written service against a real Postgres: its own database, created and dropped.

use std::cell::Cell;
use std::sync::Once;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use tower::ServiceExt;

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database of its own, dropped at the end even if the test panics.
struct TestDb {
    pool: PgPool,
    name: String,
}

impl TestDb {
    async fn new() -> Self {
        let admin = std::env::var("APIFORGE_TEST_PG").unwrap_or_else(|_| ADMIN_URL.to_owned());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("apiforge_test_handwritten_{}_{nanos}", std::process::id());
        let mut conn = PgConnection::connect(&admin).await.expect("Postgres is up");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin.rsplit_once('/').unwrap().0;
        let pool = PgPool::connect(&format!("{base}/{name}")).await.unwrap();
        Self { pool, name }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = std::env::var("APIFORGE_TEST_PG").unwrap_or_else(|_| ADMIN_URL.to_owned());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::query(&drop).execute(&mut conn).await;
                }
            });
        })
        .join()
        .ok();
    }
}

/// Counts the SQL statements sqlx runs on the current thread (its `sqlx::query` events):
/// a global subscriber with a thread-local count, since a scoped one races with tests on
/// other threads over sqlx's callsite registration.
struct CountingSubscriber;

thread_local! {
    static QUERIES: Cell<usize> = const { Cell::new(0) };
}

fn count_queries() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(CountingSubscriber).expect("first subscriber");
    });
    QUERIES.with(|q| q.set(0));
}

fn queries() -> usize {
    QUERIES.with(Cell::get)
}

impl tracing::Subscriber for CountingSubscriber {
    fn register_callsite(
        &self,
        m: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if m.target() == "sqlx::query" {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        m.target() == "sqlx::query"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        if e.metadata().target() == "sqlx::query" {
            QUERIES.with(|q| q.set(q.get() + 1));
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

async fn call(db: &TestDb, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = handwritten_example::app(db.pool.clone())
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn seeded() -> TestDb {
    let db = TestDb::new().await;
    handwritten_example::migrate(&db.pool).await.unwrap();
    for (email, name) in [("ann@example.com", "Ann"), ("bob@example.com", "Bob")] {
        let body = json!({"email": email, "name": name, "password": "correct horse"});
        let (status, user) = call(&db, "POST", "/users", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        assert!(
            user.get("password_hash").is_none(),
            "hidden field leaked: {user}"
        );
    }
    sqlx::raw_sql(
        "INSERT INTO orders (user_id, quantity) VALUES (1, 1), (2, 2), (1, 3), (2, 4), (1, 5)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    db
}

#[tokio::test]
async fn users_are_created_and_read_with_field_selection() {
    let db = seeded().await;
    let (status, user) = call(&db, "GET", "/users/2?fields=name", None).await;
    assert_eq!((status, user), (StatusCode::OK, json!({"name": "Bob"})));

    let (status, user) = call(&db, "GET", "/users/1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        user,
        json!({"id": 1, "email": "ann@example.com", "name": "Ann"})
    );

    let (status, problem) = call(&db, "GET", "/users/1?fields=password_hash", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["field"], "fields");

    let (status, problem) = call(&db, "GET", "/users/99", None).await;
    assert_eq!(
        (status, &problem["detail"]),
        (StatusCode::NOT_FOUND, &json!("no user 99"))
    );
}

#[tokio::test]
async fn bad_writes_are_problems_in_words() {
    let db = seeded().await;
    let dup = json!({"email": "ann@example.com", "name": "Ann 2", "password": "long enough"});
    let (status, problem) = call(&db, "POST", "/users", Some(dup)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["detail"], "a user with this email already exists");

    let unknown =
        json!({"email": "c@example.com", "name": "C", "password": "long enough", "admin": true});
    let (status, problem) = call(&db, "POST", "/users", Some(unknown)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["errors"][0]["field"], "admin");
}

#[tokio::test]
async fn orders_select_columns_in_sql_and_clamp_the_limit() {
    let db = seeded().await;
    let (status, orders) = call(&db, "GET", "/orders?fields=quantity&limit=2", None).await;
    assert_eq!(
        (status, orders),
        (StatusCode::OK, json!([{"quantity": 1}, {"quantity": 2}]))
    );

    let (_, orders) = call(&db, "GET", "/orders?limit=0", None).await;
    assert_eq!(orders, json!([{"id": 1, "user_id": 1, "quantity": 1}]));

    let (status, problem) = call(&db, "GET", "/orders?sort=quantity", None).await;
    assert_eq!(
        (status, &problem["errors"][0]["field"]),
        (StatusCode::BAD_REQUEST, &json!("sort"))
    );
}

#[tokio::test]
async fn included_users_are_batch_loaded_in_one_query() {
    let db = seeded().await;
    count_queries();
    let (status, orders) = call(&db, "GET", "/orders?fields=id&include=user", None).await;
    assert_eq!(status, StatusCode::OK);
    let orders = orders.as_array().unwrap();
    assert_eq!(orders.len(), 5);
    assert_eq!(
        orders[1],
        json!({"id": 2, "user": {"id": 2, "email": "bob@example.com", "name": "Bob"}})
    );
    assert_eq!(orders[4]["user"]["name"], "Ann");
    // One query for the orders, one for all their users (not one per order).
    assert_eq!(queries(), 2);
}
