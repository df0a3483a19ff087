//! `apiforge budget` against a small in-test axum server that mimics the generated
//! routes, with a fixed delay per request and strict body validation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// In-memory rows of the one resource, plus the delay every request waits.
#[derive(Clone)]
struct App {
    rows: Arc<Mutex<BTreeMap<i64, Value>>>,
    next_id: Arc<Mutex<i64>>,
    delay: Duration,
}

type Reply = Result<(StatusCode, Json<Value>), (StatusCode, Json<Value>)>;

fn bad(detail: String) -> (StatusCode, Json<Value>) {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "status": 400, "detail": detail })),
    )
}

/// Accept exactly the fields a client may send for `things`, as the generated API would.
fn check_body(body: &Value, partial: bool) -> Result<(), String> {
    let obj = body.as_object().ok_or("body is not an object")?;
    for key in obj.keys() {
        if !["name", "rank"].contains(&key.as_str()) {
            return Err(format!("unknown or read-only field `{key}`"));
        }
    }
    match obj.get("name") {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 40 => {}
        None if partial => {}
        other => return Err(format!("bad name {other:?}")),
    }
    match obj.get("rank").and_then(Value::as_i64) {
        Some(1..=5) => {}
        None if partial && obj.get("rank").is_none() => {}
        _ => return Err(format!("bad rank {:?}", obj.get("rank"))),
    }
    if partial && obj.is_empty() {
        return Err("empty update".into());
    }
    Ok(())
}

async fn list(State(app): State<App>) -> Json<Value> {
    tokio::time::sleep(app.delay).await;
    let rows: Vec<Value> = app
        .rows
        .lock()
        .unwrap()
        .values()
        .take(50)
        .cloned()
        .collect();
    Json(json!({ "items": rows, "next_cursor": null }))
}

async fn export(State(app): State<App>) -> String {
    tokio::time::sleep(app.delay).await;
    let rows = app.rows.lock().unwrap();
    rows.values().map(|r| format!("{r}\n")).collect()
}

async fn create(State(app): State<App>, Json(body): Json<Value>) -> Reply {
    tokio::time::sleep(app.delay).await;
    check_body(&body, false).map_err(bad)?;
    let mut rows = app.rows.lock().unwrap();
    if rows.values().any(|r| r["name"] == body["name"]) {
        return Err((
            StatusCode::CONFLICT,
            Json(json!({ "detail": "name is taken" })),
        ));
    }
    let id = {
        let mut next = app.next_id.lock().unwrap();
        *next += 1;
        *next
    };
    let row = json!({ "id": id, "name": body["name"], "rank": body["rank"], "created_at": "2024-01-01T00:00:00Z" });
    rows.insert(id, row.clone());
    Ok((StatusCode::CREATED, Json(row)))
}

async fn fetch(State(app): State<App>, Path(id): Path<i64>) -> Reply {
    tokio::time::sleep(app.delay).await;
    let rows = app.rows.lock().unwrap();
    let row = rows
        .get(&id)
        .ok_or((StatusCode::NOT_FOUND, Json(json!({}))))?;
    Ok((StatusCode::OK, Json(row.clone())))
}

async fn update(State(app): State<App>, Path(id): Path<i64>, Json(body): Json<Value>) -> Reply {
    tokio::time::sleep(app.delay).await;
    check_body(&body, true).map_err(bad)?;
    let mut rows = app.rows.lock().unwrap();
    let row = rows
        .get_mut(&id)
        .ok_or((StatusCode::NOT_FOUND, Json(json!({}))))?;
    for (k, v) in body.as_object().unwrap() {
        row[k] = v.clone();
    }
    Ok((StatusCode::OK, Json(row.clone())))
}

async fn delete(State(app): State<App>, Path(id): Path<i64>) -> StatusCode {
    tokio::time::sleep(app.delay).await;
    match app.rows.lock().unwrap().remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

async fn broken() -> StatusCode {
    StatusCode::INTERNAL_SERVER_ERROR
}

/// Serve on an ephemeral loopback port from a background thread; returns the base URL.
fn spawn_server(delay: Duration) -> String {
    let app = App {
        rows: Arc::default(),
        next_id: Arc::default(),
        delay,
    };
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/things", get(list).post(create))
        .route("/things/export", get(export))
        .route("/things/{id}", get(fetch).patch(update).delete(delete))
        .route("/broken", get(broken))
        .with_state(app);
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, router).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

/// A spec with one resource `things` and the given `budgets:` block (flow YAML).
fn write_spec(dir: &tempfile::TempDir, budgets: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.path().join("apiforge.yaml");
    let yaml = format!(
        "name: t
resources:
  things:
    fields:
      id: {{ type: bigserial, primary_key: true }}
      name: {{ type: string, max_length: 40, unique: true }}
      rank: {{ type: int, min: 1, max: 5 }}
      created_at: {{ type: timestamp, default: now, readonly: true }}
    budgets: {budgets}
{extra}"
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

fn budget(url: &str, spec: &std::path::Path, duration: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_apiforge"))
        .args([
            "budget",
            "--url",
            url,
            "--duration",
            duration,
            "--concurrency",
            "4",
            "--spec",
        ])
        .arg(spec)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The table line of a route.
fn row<'a>(stdout: &'a str, route: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{route} ")))
        .unwrap_or_else(|| panic!("no row for {route} in\n{stdout}"))
}

#[test]
fn generous_budgets_pass_on_every_operation() {
    let url = spawn_server(Duration::from_millis(30));
    let dir = tempfile::tempdir().unwrap();
    let all = "{ list: { p95: 5s, p99: 5s }, get: { p95: 5s }, create: { p95: 5s }, \
               update: { p95: 5s }, delete: { p99: 5s }, export: { p95: 5s } }";
    let spec = write_spec(&dir, all, "");
    let out = budget(&url, &spec, "400ms");
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for route in [
        "GET /things",
        "GET /things/{id}",
        "POST /things",
        "PATCH /things/{id}",
        "DELETE /things/{id}",
        "GET /things/export",
    ] {
        let line = row(&stdout, route);
        assert!(line.ends_with(" ok"), "{route}: {line}\n{report}");
        // Every request sleeps 30 ms, so the medians are at least that.
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert!(cells.iter().any(|c| c.ends_with("ms")), "{line}");
        let errors: u64 = cells[cells.len() - 2].parse().unwrap();
        assert_eq!(errors, 0, "{line}");
    }
}

#[test]
fn impossible_budgets_fail_with_over() {
    let url = spawn_server(Duration::from_millis(30));
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        "{ list: { p95: 1ms }, get: { p95: 5s, p99: 5s } }",
        "",
    );
    let out = budget(&url, &spec, "300ms");
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(row(&stdout, "GET /things").ends_with(" OVER"), "{report}");
    // get was seeded with rows created through POST (the list was empty) and passes.
    assert!(
        row(&stdout, "GET /things/{id}").ends_with(" ok"),
        "{report}"
    );
    assert!(stdout.contains("1 of 2 budgeted routes failed"), "{report}");
}

#[test]
fn a_route_that_errors_fails_even_within_budget() {
    let url = spawn_server(Duration::from_millis(1));
    let dir = tempfile::tempdir().unwrap();
    let broken = "  broken:
    fields:
      id: { type: bigserial, primary_key: true }
    budgets: { list: { p95: 5s } }
";
    let spec = write_spec(&dir, "{ list: { p95: 5s } }", broken);
    let out = budget(&url, &spec, "200ms");
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(row(&stdout, "GET /broken").ends_with(" ERROR"), "{report}");
    assert!(stdout.contains("GET /broken answered 500"), "{report}");
    assert!(row(&stdout, "GET /things").ends_with(" ok"), "{report}");
}

#[test]
fn unreachable_server_and_bad_arguments_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(&dir, "{ list: { p95: 5s } }", "");
    // Bind then drop a listener: nothing listens on that port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = budget(&format!("http://127.0.0.1:{port}"), &spec, "1s");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("isn't reachable"),
        "{}",
        text(&out)
    );

    let out = budget("http://127.0.0.1:1", &spec, "10");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--duration"),
        "{}",
        text(&out)
    );

    let out = budget("https://127.0.0.1:1", &spec, "1s");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("http://"),
        "{}",
        text(&out)
    );
}
