//! Database errors raised by a real Postgres, mapped to problem details without SQL.

mod support;

use apiforge_runtime::problem::{FieldViolation, PROBLEM_CONTENT_TYPE, Problem};
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use support::TestDb;

async fn schema() -> TestDb {
    let db = TestDb::new().await;
    db.exec(
        r#"CREATE TABLE users (
               id bigint PRIMARY KEY,
               email text NOT NULL UNIQUE,
               name varchar(5) NOT NULL,
               age integer CHECK (age >= 0));
           CREATE TABLE orders (
               id bigint PRIMARY KEY,
               user_id bigint NOT NULL REFERENCES users(id) ON DELETE RESTRICT);
           INSERT INTO users VALUES (1, 'ann@example.com', 'ann', 30);
           INSERT INTO orders VALUES (1, 1);"#,
    )
    .await;
    db
}

async fn fail(db: &TestDb, sql: &str) -> sqlx::Error {
    sqlx::query(sql).execute(&db.pool).await.unwrap_err()
}

/// The client never sees SQL, constraint names or driver text.
fn assert_no_sql(p: &Problem) {
    let text = serde_json::to_string(p).unwrap();
    for leak in [
        "INSERT",
        "users_",
        "orders_",
        "violates",
        "constraint",
        "relation",
    ] {
        assert!(!text.contains(leak), "{leak} leaked in {text}");
    }
}

#[tokio::test]
async fn unique_violation_is_409_in_words() {
    let db = schema().await;
    let err = fail(
        &db,
        "INSERT INTO users VALUES (2, 'ann@example.com', 'bob', 1)",
    )
    .await;
    let p = Problem::from_sqlx_ref(&err, &[]);
    assert_eq!(p.status, 409);
    assert_eq!(p.detail.as_deref(), Some("email must be unique"));
    assert_eq!(p.errors, [FieldViolation::new("email", "must be unique")]);
    assert_no_sql(&p);

    let p = Problem::from_sqlx(
        err,
        &[("users_email_key", "a user with this email already exists")],
    );
    assert_eq!(
        p.detail.as_deref(),
        Some("a user with this email already exists")
    );
}

#[tokio::test]
async fn missing_parent_is_422_naming_the_foreign_key() {
    let db = schema().await;
    let p = Problem::from(fail(&db, "INSERT INTO orders VALUES (2, 99)").await);
    assert_eq!(p.status, 422);
    assert_eq!(
        p.detail.as_deref(),
        Some("user_id does not reference an existing row")
    );
    assert_eq!(p.errors[0].field, "user_id");
    assert_no_sql(&p);
}

#[tokio::test]
async fn deleting_a_referenced_row_is_409() {
    let db = schema().await;
    let p = Problem::from(fail(&db, "DELETE FROM users WHERE id = 1").await);
    assert_eq!(p.status, 409);
    assert_eq!(
        p.detail.as_deref(),
        Some("the resource is still referenced by other rows")
    );
    assert_no_sql(&p);
}

#[tokio::test]
async fn check_not_null_and_length_violations_are_422() {
    let db = schema().await;
    let check = Problem::from(fail(&db, "INSERT INTO users VALUES (3, 'c@x', 'c', -1)").await);
    assert_eq!((check.status, check.errors[0].field.as_str()), (422, "age"));
    assert_eq!(check.detail.as_deref(), Some("age is not an allowed value"));

    let null = Problem::from(fail(&db, "INSERT INTO users (id, email) VALUES (4, 'd@x')").await);
    assert_eq!(
        (null.status, null.detail.as_deref()),
        (422, Some("name is required"))
    );

    let long = Problem::from(fail(&db, "INSERT INTO users VALUES (5, 'e@x', 'toolong', 1)").await);
    assert_eq!(long.status, 422);
    for p in [&check, &null, &long] {
        assert_no_sql(p);
    }
}

#[tokio::test]
async fn row_not_found_is_404_and_other_errors_are_a_generic_500() {
    let db = schema().await;
    let err = sqlx::query("SELECT id FROM users WHERE id = 42")
        .fetch_one(&db.pool)
        .await
        .unwrap_err();
    assert_eq!(Problem::from(err).status, 404);

    let p = Problem::from(fail(&db, "SELECT * FROM no_such_table").await);
    assert_eq!(p.status, 500);
    assert_eq!(p.detail.as_deref(), Some("an unexpected error occurred"));
    assert_no_sql(&p);
}

#[tokio::test]
async fn malformed_input_is_400_and_a_statement_timeout_is_503() {
    let db = schema().await;
    let p = Problem::from(fail(&db, "SELECT 'not a number'::integer").await);
    assert_eq!(p.status, 400);
    assert_no_sql(&p);

    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query("SET LOCAL statement_timeout = '20ms'")
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query("SELECT pg_sleep(5)")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert_eq!(Problem::from(err).status, 503);
}

#[tokio::test]
async fn unreachable_database_is_503() {
    // Nothing listens on port 1: connection refused.
    let err = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect("postgres://postgres@127.0.0.1:1/postgres")
        .await
        .unwrap_err();
    assert_eq!(Problem::from(err).status, 503);

    let db = schema().await;
    db.pool.close().await;
    let err = sqlx::query("SELECT 1").execute(&db.pool).await.unwrap_err();
    assert_eq!(Problem::from(err).status, 503);
}

#[tokio::test]
async fn renders_as_problem_json() {
    let response = Problem::conflict("email must be unique")
        .with_error("email", "must be unique")
        .into_response();
    assert_eq!(response.status(), 409);
    assert_eq!(response.headers()["content-type"], PROBLEM_CONTENT_TYPE);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "type": "about:blank", "title": "Conflict", "status": 409,
            "detail": "email must be unique",
            "errors": [{"field": "email", "message": "must be unique"}]
        })
    );
}
