//! End to end: the shop with `auth` (tests/secure/secure_shop.yaml), generated, built and run
//! against a database of its own. Tokens are minted here with `jsonwebtoken`.
//!
//! products: list and get public, writes need the role `admin`; orders: owned by `user_id`
//! (the token's subject), every operation authenticated; users: role `admin`; `/metrics`
//! and `/_stats`: role `ops`, on a listener of their own (`monitoring.port`); CORS for
//! https://app.example.com.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Project, Response, Server, TestDb};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const SECRET: &str = "a-test-secret-of-more-than-32-bytes-0123456789";
const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "shop-api";
const API_KEY: &str = "ci-key-0123456789";
const ORIGIN: &str = "https://app.example.com";

/// The secured shop, built once for every test of this file.
fn binary() -> &'static PathBuf {
    static BUILT: OnceLock<(Project, PathBuf)> = OnceLock::new();
    &BUILT
        .get_or_init(|| {
            let project = Project::generate("tests/secure/secure_shop.yaml");
            let binary = project.build();
            (project, binary)
        })
        .1
}

fn api_keys() -> String {
    let hash: String = Sha256::digest(API_KEY.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("ci:{hash}")
}

fn start() -> (TestDb, Server) {
    let db = TestDb::create();
    let server = Server::start_with(
        binary(),
        &db.url,
        &[("JWT_SECRET", SECRET), ("API_KEYS", &api_keys())],
    );
    (db, server)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A HS256 token with these claims over the valid defaults.
fn token_with(subject: &str, roles: &[&str], changes: Value, secret: &str) -> String {
    let mut claims = json!({
        "sub": subject,
        "roles": roles,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now() + 600,
        "iat": now(),
    });
    if let (Value::Object(claims), Value::Object(changes)) = (&mut claims, changes) {
        claims.extend(changes);
    }
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("an HS256 key"),
    )
    .expect("encode a token")
}

fn token(subject: &str, roles: &[&str]) -> String {
    token_with(subject, roles, json!({}), SECRET)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn get(server: &Server, path: &str, token: &str) -> Response {
    server.request("GET", path, &[("authorization", &bearer(token))], None)
}

fn send(server: &Server, method: &str, path: &str, token: &str, body: &Value) -> Response {
    server.request(
        method,
        path,
        &[
            ("authorization", &bearer(token)),
            ("content-type", "application/json"),
        ],
        Some(body.to_string().as_bytes()),
    )
}

fn assert_problem(res: &Response, status: u16) {
    assert_eq!(res.status, status, "{}", res.text());
    assert_eq!(
        res.header("content-type"),
        Some("application/problem+json"),
        "{}",
        res.text()
    );
    assert_eq!(res.json()["status"], status);
}

/// Two users (created by an admin), a product, and each user's token.
struct Shop {
    admin: String,
    alice: (String, String),
    bob: (String, String),
    product: i64,
}

fn seed(server: &Server) -> Shop {
    let admin = token("00000000-0000-0000-0000-000000000001", &["admin"]);
    let user = |email: &str| {
        let res = send(
            server,
            "POST",
            "/users",
            &admin,
            &json!({ "email": email, "name": email }),
        );
        assert_eq!(res.status, 201, "{}", res.text());
        let id = res.json()["id"].as_str().expect("a uuid").to_string();
        let token = token(&id, &[]);
        (id, token)
    };
    let alice = user("alice@example.com");
    let bob = user("bob@example.com");
    let res = send(
        server,
        "POST",
        "/products",
        &admin,
        &json!({ "name": "Lamp", "price": "12.50" }),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    let product = res.json()["id"].as_i64().expect("an id");
    Shop {
        admin,
        alice,
        bob,
        product,
    }
}

fn order(server: &Server, token: &str, product: i64, quantity: i64) -> Value {
    let res = send(
        server,
        "POST",
        "/orders",
        token,
        &json!({ "product_id": product, "quantity": quantity }),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    res.json()
}

fn ids(list: &Response) -> Vec<i64> {
    assert_eq!(list.status, 200, "{}", list.text());
    list.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["id"].as_i64().expect("id"))
        .collect()
}

#[test]
fn missing_or_bad_credentials_are_401() {
    let (_db, server) = start();
    let res = server.get("/orders");
    assert_problem(&res, 401);
    assert_eq!(res.header("www-authenticate"), Some("Bearer"));

    let user = "00000000-0000-0000-0000-000000000002";
    let bad_tokens = [
        (
            "expired",
            token_with(user, &[], json!({ "exp": now() - 120 }), SECRET),
        ),
        (
            "not yet valid",
            token_with(user, &[], json!({ "nbf": now() + 120 }), SECRET),
        ),
        (
            "wrongly signed",
            token_with(
                user,
                &[],
                json!({}),
                "another-secret-of-more-than-32-bytes!!",
            ),
        ),
        (
            "wrong issuer",
            token_with(
                user,
                &[],
                json!({ "iss": "https://evil.example.com" }),
                SECRET,
            ),
        ),
        (
            "wrong audience",
            token_with(user, &[], json!({ "aud": "another-api" }), SECRET),
        ),
        ("not a JWT", "not.a.jwt".to_string()),
    ];
    for (what, token) in &bad_tokens {
        let res = get(&server, "/orders", token);
        assert_problem(&res, 401);
        let challenge = res.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
        // Even a public route refuses bad credentials rather than ignoring them.
        assert_eq!(get(&server, "/products", token).status, 401, "{what}");
    }
    let res = server.request("GET", "/orders", &[("authorization", "Basic YTpi")], None);
    assert_problem(&res, 401);
    let res = server.request("GET", "/orders", &[("x-api-key", "wrong")], None);
    assert_problem(&res, 401);

    // The same requests with good credentials pass.
    assert_eq!(get(&server, "/orders", &token(user, &[])).status, 200);
    let res = server.request("GET", "/orders", &[("x-api-key", API_KEY)], None);
    assert_eq!(res.status, 200, "{}", res.text());
    // Public routes need nothing.
    assert_eq!(server.get("/products").status, 200);
}

#[test]
fn missing_role_is_403() {
    let (_db, server) = start();
    let shop = seed(&server);
    let (_, alice) = &shop.alice;
    let product = json!({ "name": "Desk", "price": "99.00" });
    let res = send(&server, "POST", "/products", alice, &product);
    assert_problem(&res, 403);
    assert!(
        res.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("admin")
    );
    let path = format!("/products/{}", shop.product);
    assert_problem(
        &send(&server, "PATCH", &path, alice, &json!({ "name": "x" })),
        403,
    );
    assert_problem(&send(&server, "DELETE", &path, alice, &json!({})), 403);
    assert_problem(&get(&server, "/users", alice), 403);
    // An API key caller is authenticated but has no role.
    let res = server.request(
        "POST",
        "/products",
        &[("x-api-key", API_KEY), ("content-type", "application/json")],
        Some(product.to_string().as_bytes()),
    );
    assert_problem(&res, 403);
    assert_eq!(
        send(&server, "POST", "/products", &shop.admin, &product).status,
        201
    );

    // Monitoring has a listener of its own (`monitoring.port`) and needs the role `ops`.
    let ops = token("ops-robot", &["ops"]);
    for path in ["/metrics", "/_stats"] {
        assert_problem(&get(&server, path, &ops), 404);
    }
    let monitoring = |path: &str, token: &str| {
        server.monitoring_request(path, &[("authorization", &bearer(token))])
    };
    assert_problem(&server.monitoring_request("/metrics", &[]), 401);
    assert_problem(&monitoring("/_stats", alice), 403);
    assert_eq!(monitoring("/metrics", &ops).status, 200);
    // The statistics are the API's: they count the requests served on the other port.
    let stats = monitoring("/_stats", &ops);
    assert_eq!(stats.status, 200);
    assert!(stats.text().contains("/products"), "{}", stats.text());
    assert_problem(&monitoring("/products", &ops), 404);

    // The OpenAPI document says so.
    let doc = server.get("/openapi.json").json();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let create = &doc["paths"]["/products"]["post"];
    assert!(create["responses"]["403"].is_object(), "{create}");
    assert_eq!(
        create["security"],
        json!([{ "apiKey": [] }, { "bearer": [] }])
    );
    assert!(doc["paths"]["/products"]["get"]["security"][0] == json!({}));
    assert!(doc["paths"]["/metrics"].is_null(), "not on the API's port");
}

#[test]
fn owners_see_and_change_only_their_orders() {
    let (_db, server) = start();
    let shop = seed(&server);
    let (alice_id, alice) = &shop.alice;
    let (bob_id, bob) = &shop.bob;
    // The owner field is filled from the caller.
    let a1 = order(&server, alice, shop.product, 1);
    assert_eq!(a1["user_id"], json!(alice_id));
    let a2 = order(&server, alice, shop.product, 2);
    let b1 = order(&server, bob, shop.product, 3);
    let (a1, a2, b1) = (
        a1["id"].as_i64().unwrap(),
        a2["id"].as_i64().unwrap(),
        b1["id"].as_i64().unwrap(),
    );
    // Naming someone else is refused, and nothing is written.
    let res = send(
        &server,
        "POST",
        "/orders",
        alice,
        &json!({ "user_id": bob_id, "product_id": shop.product, "quantity": 9 }),
    );
    assert_problem(&res, 403);
    // Naming oneself is fine.
    let res = send(
        &server,
        "POST",
        "/orders",
        bob,
        &json!({ "user_id": bob_id, "product_id": shop.product, "quantity": 4 }),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    let b2 = res.json()["id"].as_i64().unwrap();

    // list
    let mut mine = ids(&get(&server, "/orders", alice));
    mine.sort();
    assert_eq!(mine, [a1, a2]);
    let mut theirs = ids(&get(&server, "/orders", bob));
    theirs.sort();
    assert_eq!(theirs, [b1, b2]);
    // get: another's row does not exist
    assert_eq!(get(&server, &format!("/orders/{a1}"), alice).status, 200);
    assert_problem(&get(&server, &format!("/orders/{b1}"), alice), 404);
    // export
    let export = get(&server, "/orders/export", alice);
    assert_eq!(export.status, 200);
    let exported: Vec<i64> = export
        .text()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(exported, [a1, a2]);
    // update: another's row is a 404; one's own cannot be given away
    let res = send(
        &server,
        "PATCH",
        &format!("/orders/{b1}"),
        alice,
        &json!({ "quantity": 7 }),
    );
    assert_problem(&res, 404);
    let res = send(
        &server,
        "PATCH",
        &format!("/orders/{a1}"),
        alice,
        &json!({ "user_id": bob_id }),
    );
    assert_problem(&res, 403);
    let res = send(
        &server,
        "PATCH",
        &format!("/orders/{a1}"),
        alice,
        &json!({ "quantity": 5 }),
    );
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["user_id"], json!(alice_id));
    assert_eq!(
        get(&server, &format!("/orders/{b1}"), bob).json()["quantity"],
        3
    );
    // delete: another's row is a 404 and stays
    assert_problem(
        &send(
            &server,
            "DELETE",
            &format!("/orders/{b1}"),
            alice,
            &json!({}),
        ),
        404,
    );
    assert_eq!(get(&server, &format!("/orders/{b1}"), bob).status, 200);
    assert_eq!(
        send(
            &server,
            "DELETE",
            &format!("/orders/{a2}"),
            alice,
            &json!({})
        )
        .status,
        204
    );
    assert_eq!(ids(&get(&server, "/orders", alice)), [a1]);
}

#[test]
fn cached_responses_never_cross_callers() {
    let (_db, server) = start();
    let shop = seed(&server);
    let (_, alice) = &shop.alice;
    let (_, bob) = &shop.bob;
    let a1 = order(&server, alice, shop.product, 1)["id"]
        .as_i64()
        .unwrap();
    let b1 = order(&server, bob, shop.product, 2)["id"].as_i64().unwrap();

    // The same URL twice for Alice (the second from the cache), then for Bob.
    let first = get(&server, "/orders", alice);
    let again = get(&server, "/orders", alice);
    assert_eq!(first.body, again.body);
    assert_eq!(ids(&first), [a1]);
    let for_bob = get(&server, "/orders", bob);
    assert_eq!(ids(&for_bob), [b1]);
    assert_ne!(first.body, for_bob.body);
    let cache_control = first.header("cache-control").unwrap_or_default();
    assert!(cache_control.starts_with("private"), "{cache_control}");
    // Alice's ETag is no validator for Bob: he gets his own body, not a 304.
    let alice_tag = first.header("etag").expect("an ETag").to_string();
    let res = server.request(
        "GET",
        "/orders",
        &[
            ("authorization", &bearer(bob)),
            ("if-none-match", &alice_tag),
        ],
        None,
    );
    assert_eq!(res.status, 200);
    assert_ne!(res.header("etag"), Some(alice_tag.as_str()));
    // A row cached for Alice is not found for Bob, and the other way round.
    let path = format!("/orders/{a1}");
    assert_eq!(get(&server, &path, alice).status, 200);
    assert_eq!(get(&server, &path, alice).status, 200);
    assert_problem(&get(&server, &path, bob), 404);
    let res = server.request(
        "GET",
        &path,
        &[
            ("authorization", &bearer(alice)),
            ("if-none-match", &alice_tag),
        ],
        None,
    );
    assert_eq!(res.status, 200);

    // Public routes keep the shared cache: public Cache-Control, one ETag for everyone.
    let anonymous = server.get("/products");
    let as_alice = get(&server, "/products", alice);
    assert_eq!(
        anonymous.header("cache-control"),
        Some("public, max-age=60")
    );
    assert_eq!(anonymous.header("etag"), as_alice.header("etag"));
}

#[test]
fn cors_preflight_is_answered() {
    let (_db, server) = start();
    let preflight = |origin: &str| {
        server.request(
            "OPTIONS",
            "/orders",
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,content-type",
                ),
            ],
            None,
        )
    };
    let res = preflight(ORIGIN);
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(res.header("access-control-max-age"), Some("3600"));
    let methods = res
        .header("access-control-allow-methods")
        .unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    let headers = res
        .header("access-control-allow-headers")
        .unwrap_or_default();
    assert!(headers.contains("authorization"), "{headers}");
    // Another origin gets no permission.
    let res = preflight("https://evil.example.com");
    assert_eq!(res.header("access-control-allow-origin"), None);
    // Simple requests carry the header too, 401s included.
    let res = server.request("GET", "/orders", &[("origin", ORIGIN)], None);
    assert_eq!(res.status, 401);
    assert_eq!(res.header("access-control-allow-origin"), Some(ORIGIN));
}

#[test]
fn a_missing_secret_stops_the_start_with_one_line() {
    let db = TestDb::create();
    let out = std::process::Command::new(binary())
        .env("DATABASE_URL", &db.url)
        .env("PORT", "0")
        .env_remove("JWT_SECRET")
        .env("API_KEYS", api_keys())
        .output()
        .expect("run the server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JWT_SECRET is not set"), "{stderr}");
    assert!(!stderr.contains(SECRET));
}

#[test]
fn a_taken_monitoring_port_stops_the_start_and_names_its_variable() {
    let db = TestDb::create();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = std::process::Command::new(binary())
        .env("DATABASE_URL", &db.url)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env(
            "MONITORING_PORT",
            taken.local_addr().unwrap().port().to_string(),
        )
        .env("JWT_SECRET", SECRET)
        .env("API_KEYS", api_keys())
        .output()
        .expect("run the server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("set MONITORING_PORT to a free port"),
        "{stderr}"
    );
}

/// `apiforge budget` with the spec's budgets against the secured shop.
fn budget(server: &Server, token: Option<&str>) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_apiforge"));
    cmd.args([
        "budget",
        "--url",
        &format!("http://127.0.0.1:{}", server.port),
    ])
    .args(["--duration", "300ms", "--concurrency", "2"])
    .args(["--spec", "tests/secure/secure_shop.yaml"])
    .current_dir(env!("CARGO_MANIFEST_DIR"))
    .env_remove("APIFORGE_TOKEN")
    .env_remove("APIFORGE_API_KEY");
    if let Some(token) = token {
        cmd.env("APIFORGE_TOKEN", token);
    }
    cmd.output().expect("run apiforge budget")
}

/// The `errors` cell (the one before the verdict) of each route row of budget's table.
fn budget_errors(stdout: &str) -> Vec<(String, u64)> {
    stdout
        .lines()
        .filter(|l| l.starts_with("GET ") || l.starts_with("POST "))
        .filter(|l| !l.contains(':'))
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            let errors = cells[cells.len() - 2]
                .parse()
                .unwrap_or_else(|_| panic!("no error count in {l:?}"));
            (cells[..2].join(" "), errors)
        })
        .collect()
}

#[test]
fn budget_loads_the_secured_api_with_a_token() {
    let (_db, server) = start();
    let shop = seed(&server);

    // Without credentials every budgeted route is refused, and budget says so.
    let refused = budget(&server, None);
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{stdout}");
    assert!(stdout.contains("401"), "{stdout}");

    // With a token (alice, who then owns the orders budget creates; the role writes of
    // products need): every route runs without an error.
    let token = token(&shop.alice.0, &["admin"]);
    let loaded = budget(&server, Some(&token));
    let stdout = String::from_utf8_lossy(&loaded.stdout);
    let errors = budget_errors(&stdout);
    assert!(errors.len() >= 2, "{stdout}");
    assert!(errors.iter().all(|(_, e)| *e == 0), "{errors:?}\n{stdout}");
    assert!(
        !String::from_utf8_lossy(&loaded.stderr).contains(&token),
        "the token was printed"
    );
}
