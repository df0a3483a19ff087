//! A rolling deploy (issue 12, item 4): three releases of one project against one database
//! and one Redis, each new binary started beside the previous one, with traffic on both:
//!
//! 1. release 1 serves;
//! 2. release 2 adds a nullable column and deprecates `users.name`; `<binary> migrate` runs
//!    as its own step while release 1 serves, then release 2 starts with `MIGRATE=off`
//!    beside it;
//! 3. release 3 drops `users.name` (`--allow-destructive`); it migrates while release 2
//!    serves (release 1 retired), and starts beside it.
//!
//! No request to either binary gets a 5xx, and no binary serves a row cached by the other
//! in the other's shape (Redis is shared; keys carry the shape version).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::perf::spec_variant;
use common::{Project, Server, TestDb, apiforge, assert_success};
use serde_json::{Value, json};

/// Builds the project as it is now and keeps a copy of the binary under `label`.
fn release(project: &Project, label: &str) -> PathBuf {
    let built = project.build();
    let kept = project.tmp.path().join(format!("release-{label}"));
    std::fs::copy(&built, &kept).expect("keep the release binary");
    kept
}

fn edit_spec(dir: &Path, from: &str, to: &str) {
    let path = dir.join("apiforge.yaml");
    let text = std::fs::read_to_string(&path).expect("read the spec");
    assert!(text.contains(from), "the spec has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write the spec");
}

fn migrate(binary: &Path, db: &TestDb) {
    assert_success("<binary> migrate", &run_migrate(binary, db));
}

/// Traffic on every server until `stop`: reads, creates and updates, counting 5xx.
struct Traffic {
    stop: AtomicBool,
    sent: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

impl Traffic {
    fn spawn(
        self: Arc<Self>,
        label: &'static str,
        server: Arc<Server>,
        product: i64,
        writes_name: bool,
    ) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || self.run(label, &server, product, writes_name))
    }

    /// Stops the traffic, waits for it, and asserts that no request got a 5xx.
    fn finish<const N: usize>(&self, threads: [std::thread::JoinHandle<()>; N], what: &str) {
        self.stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("a traffic thread panicked");
        }
        let failures = self.failures.lock().unwrap();
        let sent = self.sent.load(Ordering::Relaxed);
        eprintln!(
            "{what} side by side: {sent} requests, {} 5xx",
            failures.len()
        );
        assert!(sent > 50, "only {sent} requests");
        assert!(failures.is_empty(), "{failures:#?}");
    }

    fn new() -> Self {
        Self {
            stop: AtomicBool::new(false),
            sent: AtomicUsize::new(0),
            failures: Mutex::new(Vec::new()),
        }
    }

    fn run(&self, label: &str, server: &Server, product: i64, writes_name: bool) {
        let mut i = 0u32;
        while !self.stop.load(Ordering::Relaxed) {
            i += 1;
            let user = if writes_name {
                json!({"email": format!("{label}-{i}@example.com"), "name": "N", "password_hash": "h"})
            } else {
                json!({"email": format!("{label}-{i}@example.com"), "password_hash": "h"})
            };
            let answers = [
                server.get("/users?limit=5"),
                server.post("/users", &user),
                server.get(&format!("/products/{product}")),
                server.get("/products?category=tools"),
                server.patch(&format!("/products/{product}"), &json!({"sales": i})),
            ];
            for r in answers {
                self.sent.fetch_add(1, Ordering::Relaxed);
                if r.status >= 500 {
                    let failure = format!("{label}: {} {}", r.status, r.text());
                    self.failures.lock().unwrap().push(failure);
                }
            }
        }
    }
}

fn product(server: &Server, name: &str) -> i64 {
    let r = server.post(
        "/products",
        &json!({"name": name, "category": "tools", "price": "9.50"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_i64().expect("an id")
}

#[test]
fn releases_roll_out_beside_each_other_without_a_5xx() {
    let spec = spec_variant("examples/shop.yaml", &[("name: shop", "name: rolling")]);
    let project = Project::generate(&spec);
    let db = TestDb::create();
    let redis = [
        ("REDIS_URL", "redis://127.0.0.1:6379".to_string()),
        ("REDIS_NAMESPACE", db.name.clone()),
    ];
    let env: Vec<(&str, &str)> = redis.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // Release 1.
    let r1 = release(&project, "1");
    let v1 = Server::start_with(&r1, &db.url, &env);
    let id = product(&v1, "hammer");
    // The traffic updates its own row: its writes would race the checks on `id`.
    let busy = product(&v1, "saw");
    let cached = v1.get(&format!("/products/{id}")).json();
    assert!(cached.get("color").is_none(), "{cached}");

    // Release 2: an additive column, and `users.name` deprecated.
    edit_spec(
        &project.dir,
        "      is_static: { type: bool, default: false }",
        "      is_static: { type: bool, default: false }\n      color: { type: string, nullable: true }",
    );
    edit_spec(
        &project.dir,
        "      name: { type: string }\n      password_hash",
        "      name: { type: string, deprecated: true }\n      password_hash",
    );
    let out = apiforge(&project.dir, &["generate"]);
    assert_success("apiforge generate (release 2)", &out);
    let r2 = release(&project, "2");

    let traffic = Arc::new(Traffic::new());
    let v1 = Arc::new(v1);
    let t1 = traffic.clone().spawn("r1", v1.clone(), busy, true);
    // The deploy's migration step, while release 1 serves.
    std::thread::sleep(Duration::from_millis(500));
    migrate(&r2, &db);
    let v2 = Server::start_with(
        &r2,
        &db.url,
        &[env.clone(), vec![("MIGRATE", "off")]].concat(),
    );
    // Release 2 never serves release 1's cached shape, though Redis holds it.
    let row = v2.get(&format!("/products/{id}")).json();
    assert!(
        row.get("color").is_some(),
        "release 2 served an old shape: {row}"
    );
    let users = v2.get("/users?limit=1").json();
    assert!(users["items"][0].get("name").is_none(), "{users}");
    // A write on release 1 reaches release 2's cached row (both tiers), though their Redis
    // entries live under different shape versions.
    assert_eq!(v2.get(&format!("/products/{id}")).status, 200);
    let patched = v1.patch(&format!("/products/{id}"), &json!({"sales": 4242}));
    assert_eq!(patched.status, 200, "{}", patched.text());
    let fresh = common::perf::poll_until(Duration::from_secs(5), || {
        (v2.get(&format!("/products/{id}")).json()["sales"] == 4242).then_some(())
    });
    assert!(
        fresh.is_some(),
        "release 2 kept serving its cached row after release 1 wrote it"
    );
    let v2 = Arc::new(v2);
    let t2 = traffic.clone().spawn("r2", v2.clone(), busy, false);
    std::thread::sleep(Duration::from_secs(3));
    traffic.finish([t1, t2], "release 1 + release 2");
    drop(v1); // release 1 retired

    // Release 3: the deprecated column dropped.
    edit_spec(
        &project.dir,
        "      name: { type: string, deprecated: true }\n",
        "",
    );
    let refused = apiforge(&project.dir, &["generate"]);
    assert!(
        !refused.status.success(),
        "a drop needs --allow-destructive"
    );
    let out = apiforge(&project.dir, &["generate", "--allow-destructive"]);
    assert_success("apiforge generate --allow-destructive (release 3)", &out);
    let r3 = release(&project, "3");

    let traffic = Arc::new(Traffic::new());
    let t2 = traffic.clone().spawn("r2", v2.clone(), busy, false);
    std::thread::sleep(Duration::from_millis(500));
    migrate(&r3, &db);
    let v3 = Arc::new(Server::start_with(
        &r3,
        &db.url,
        &[env.clone(), vec![("MIGRATE", "off")]].concat(),
    ));
    let t3 = traffic.clone().spawn("r3", v3.clone(), busy, false);
    std::thread::sleep(Duration::from_secs(3));
    traffic.finish([t2, t3], "release 2 + release 3");
    let v2 = Arc::try_unwrap(v2)
        .ok()
        .expect("no other owner of release 2");
    let columns = db_columns(&db, "users");
    assert!(!columns.contains(&"name".to_owned()), "{columns:?}");
    let row: Value = v2.get(&format!("/products/{id}")).json();
    assert!(row.get("color").is_some());
    drop(v2);

    // Release 4, a risky step: `products.name` unique while two rows share a name. Caught
    // before it runs; written anyway, it fails at `migrate` while release 3 serves; recovered
    // by the documented path (fix the rows, then what the error says); then drift.
    db.psql("INSERT INTO products (name, category, price) VALUES ('dup', 'tools', 1), ('dup', 'tools', 2)",
    );
    edit_spec(
        &project.dir,
        "      name: { type: string, max_length: 200 }",
        "      name: { type: string, max_length: 200, unique: true }",
    );
    let refused = apiforge(&project.dir, &["generate"]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        common::output_text(&refused)
    );
    assert!(common::output_text(&refused).contains("makes `products.name` unique"));
    let plan = apiforge(&project.dir, &["plan", "--database-url", &db.url]);
    assert_eq!(
        plan.status.code(),
        Some(1),
        "{}",
        common::output_text(&plan)
    );
    assert!(
        common::output_text(&plan).contains("FAILS, 1 duplicate groups of products (name)"),
        "{}",
        common::output_text(&plan)
    );
    let out = apiforge(&project.dir, &["generate", "--allow-destructive"]);
    assert_success("apiforge generate --allow-destructive (release 4)", &out);
    let r4 = release(&project, "4");

    let traffic = Arc::new(Traffic::new());
    let t3 = traffic.clone().spawn("r3b", v3.clone(), busy, false);
    let failed = run_migrate(&r4, &db);
    assert!(
        !failed.status.success(),
        "the unique index cannot be built over duplicates"
    );
    let line = String::from_utf8_lossy(&failed.stderr)
        .trim()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    assert!(line.starts_with("error: migration migrations/"), "{line}");
    assert!(line.contains("could not create unique index"), "{line}");
    // The documented recovery: fix the rows, migrate again, and run the statements the error
    // names if the failed concurrent build left an INVALID index behind.
    db.psql("UPDATE products SET name = name || ' ' || id WHERE name = 'dup'");
    let mut again = run_migrate(&r4, &db);
    if !again.status.success() {
        let text = String::from_utf8_lossy(&again.stderr).into_owned();
        let statements = text
            .split("then run: ")
            .nth(1)
            .and_then(|rest| rest.split(" and start the API again").next())
            .unwrap_or_else(|| panic!("no statements to run in {text}"));
        db.psql(statements);
        again = run_migrate(&r4, &db);
    }
    assert_success("<binary> migrate after the recovery", &again);
    traffic.finish([t3], "release 3 during a failed and a recovered migration");
    let dup = psql_try(
        &db,
        "INSERT INTO products (name, category, price) VALUES ('p 1', 'tools', 1), ('p 1', 'tools', 1)",
    );
    assert!(!dup.status.success(), "the unique index holds");

    // Drift: none, then an index added by hand.
    let clean = apiforge(&project.dir, &["drift", "--database-url", &db.url]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        common::output_text(&clean)
    );
    db.psql("CREATE INDEX by_hand ON products (sales)");
    let drift = apiforge(&project.dir, &["drift", "--database-url", &db.url]);
    assert_eq!(
        drift.status.code(),
        Some(1),
        "{}",
        common::output_text(&drift)
    );
    assert!(common::output_text(&drift).contains("extra index by_hand"));
}

fn run_migrate(binary: &Path, db: &TestDb) -> std::process::Output {
    Command::new(binary)
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .env("REDIS_URL", "")
        .output()
        .expect("run migrate")
}

fn psql_try(db: &TestDb, sql: &str) -> std::process::Output {
    Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-c", sql])
        .output()
        .expect("psql")
}

fn db_columns(db: &TestDb, table: &str) -> Vec<String> {
    let out = Command::new("psql")
        .args(["-At", "-d", &db.url, "-c"])
        .arg(format!(
            "SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'"
        ))
        .output()
        .expect("psql");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
