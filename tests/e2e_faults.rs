//! Faults (issue 11): start-up with PostgreSQL down, PostgreSQL stopped and restarted
//! under a running server, Redis killed under load, SIGTERM during an export, fifty slow
//! export readers, and the one-line start-up errors (taken port, failed or edited
//! migration, missing variable).
//!
//! Tests that stop a database or Redis start their own private instances on free ports
//! (`initdb` + `pg_ctl` as the `postgres` user, `redis-server`), never the shared ones.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::perf::{concurrently, poll_until, shared_binary, spec_variant};
use common::{PrivateRedis, Server, TestDb, free_port};
use serde_json::json;

/// The shop under its own crate name, with a 10 s acquire timeout: a request that waited
/// for the pool instead of failing fast would take that long.
fn binary() -> PathBuf {
    shared_binary(&spec_variant(
        "examples/shop.yaml",
        &[
            ("name: shop", "name: faults"),
            (
                "pool: { max: 20, min: 0, idle_timeout: 20s, connect_timeout: 10s, max_lifetime: 30m }",
                "pool: { max: 20, min: 0, idle_timeout: 20s, connect_timeout: 2s, max_lifetime: 30m, acquire_timeout: 10s }",
            ),
        ],
    ))
}

/// A private PostgreSQL cluster on a free port, owned by the `postgres` user (initdb refuses
/// root); stopped and removed on drop.
struct PrivatePg {
    dir: tempfile::TempDir,
    port: u16,
}

fn pg_bin(tool: &str) -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL binaries");
    let mut dirs: Vec<PathBuf> = versions.flatten().map(|e| e.path()).collect();
    dirs.sort();
    dirs.last()
        .expect("a PostgreSQL version")
        .join("bin")
        .join(tool)
}

/// Runs `program args…` as the `postgres` user when we are root.
fn as_postgres(program: &Path, args: &[&str]) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let mut cmd = if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    };
    cmd.args(args);
    cmd
}

impl PrivatePg {
    fn init() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("apiforge-pg-")
            .tempdir_in("/tmp")
            .expect("a temp dir");
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status();
        let data = dir.path().join("data");
        let out = as_postgres(
            &pg_bin("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )
        .output()
        .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            dir,
            port: free_port(),
        }
    }

    fn url(&self, database: &str) -> String {
        // A password on purpose: it must never appear in logs or errors (trust auth ignores it).
        format!(
            "postgres://postgres:s3cret-pw@127.0.0.1:{}/{database}",
            self.port
        )
    }

    fn start(&self) {
        let data = self.dir.path().join("data");
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("pg.log");
        let out = as_postgres(
            &pg_bin("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        )
        .output()
        .expect("run pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(&self) {
        let data = self.dir.path().join("data");
        let _ = as_postgres(
            &pg_bin("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        self.stop();
    }
}

fn product(server: &Server, name: &str) -> i64 {
    let created = server.post(
        "/products",
        &json!({"name": name, "category": "tools", "price": "9.50"}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    created.json()["id"].as_i64().expect("an id")
}

#[test]
fn startup_waits_for_the_database_then_an_outage_fails_fast_and_recovers() {
    let binary = binary();
    let pg = PrivatePg::init();
    let url = pg.url("faults");
    let (mut server, log) = Server::spawn_logged(
        &binary,
        &url,
        &[("REDIS_URL", ""), ("DATABASE_RETRY_FOR", "60s")],
    );

    // Postgres is down: the server listens, is alive, and says what it waits for.
    poll_until(Duration::from_secs(30), || {
        TcpStream::connect(("127.0.0.1", server.port)).ok()
    })
    .unwrap_or_else(|| panic!("the server did not listen\n{}", log.text()));
    let waiting = poll_until(Duration::from_secs(30), || {
        let r = server.get("/health");
        (r.status == 503 && r.text().contains("attempt")).then_some(r)
    })
    .unwrap_or_else(|| panic!("no start-up readiness answer\n{}", log.text()));
    let body = waiting.json();
    assert_eq!(body["status"], "starting", "{body}");
    let port = pg.port.to_string();
    assert!(
        body["waiting_for"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{body}"
    );
    assert_eq!(waiting.header("retry-after"), Some("1"));
    assert_eq!(server.get("/health/live").status, 200);
    let early = server.get("/products");
    assert_eq!(early.status, 503);
    assert_eq!(
        early.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(early.header("retry-after"), Some("1"));
    let attempts = poll_until(Duration::from_secs(10), || {
        let lines = log.lines_with("database not reachable yet");
        (lines.len() >= 2).then_some(lines)
    })
    .unwrap_or_else(|| panic!("no retry log lines\n{}", log.text()));
    assert!(
        attempts[0].contains(&format!("127.0.0.1:{port}")),
        "{}",
        attempts[0]
    );
    assert!(
        !log.text().contains("s3cret-pw"),
        "the password was logged:\n{}",
        log.text()
    );
    assert!(
        server.exited().is_none(),
        "the server gave up:\n{}",
        log.text()
    );

    // Postgres comes up: the server creates its database, migrates and serves. A client
    // hammering it meanwhile sees 503s then 200s, never a refused or reset connection, and a
    // keep-alive connection opened during start-up is answered by the API afterwards.
    let mut kept = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    assert!(keep_alive_get(&mut kept, "/health").starts_with("HTTP/1.1 503"));
    let switched = AtomicBool::new(false);
    let (requests, failures) = std::thread::scope(|scope| {
        let hammer = scope.spawn(|| {
            let (mut requests, mut failures) = (0, Vec::new());
            while !switched.load(Ordering::Relaxed) {
                requests += 1;
                if let Err(err) = try_get(server.port, "/health") {
                    failures.push(err.to_string());
                }
            }
            (requests, failures)
        });
        pg.start();
        let up_at = Instant::now();
        poll_until(Duration::from_secs(30), || {
            (server.get("/health").status == 200).then_some(())
        })
        .unwrap_or_else(|| panic!("not healthy after Postgres started\n{}", log.text()));
        eprintln!("healthy {:?} after Postgres started", up_at.elapsed());
        std::thread::sleep(Duration::from_millis(200));
        switched.store(true, Ordering::Relaxed);
        hammer.join().expect("the hammer thread")
    });
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed across the switch: {failures:?}",
        failures.len()
    );
    assert!(keep_alive_get(&mut kept, "/health").starts_with("HTTP/1.1 200"));

    let id = product(&server, "hammer");
    let path = format!("/products/{id}");
    assert_eq!(server.get(&path).status, 200); // cached from now on

    // Postgres stops under the running server.
    pg.stop();
    // Cached reads keep serving.
    for _ in 0..5 {
        let cached = server.get(&path);
        assert_eq!(cached.status, 200, "{}", cached.text());
    }
    // Reads that need the database: 503 problem with Retry-After, and fast: the gate knows
    // the database is down after the first failure (the pool would wait its 10 s).
    let first = server.get("/products?category=none");
    assert_eq!(first.status, 503, "{}", first.text());
    for _ in 0..5 {
        let started = Instant::now();
        let r = server.get("/products?category=nothing");
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a 503 waited {:?}: the gate did not fail fast",
            started.elapsed()
        );
    }
    let write = server.post(
        "/products",
        &json!({"name": "saw", "category": "tools", "price": "1.00"}),
    );
    assert_eq!(write.status, 503, "{}", write.text());

    // Postgres returns: the server recovers without a restart.
    pg.start();
    let back = Instant::now();
    poll_until(Duration::from_secs(30), || {
        (server.get("/products?category=tools").status == 200).then_some(())
    })
    .unwrap_or_else(|| panic!("no recovery\n{}", log.text()));
    eprintln!("recovered {:?} after Postgres restarted", back.elapsed());
    product(&server, "saw");
}

/// A GET on its own connection: the status, or the connection's error.
fn try_get(port: u16, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    std::str::from_utf8(raw.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {raw:?}")))
}

/// A GET on a kept-alive connection: the response's head.
fn keep_alive_get(stream: &mut TcpStream, path: &str) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
    let mut raw = Vec::new();
    let mut buf = [0; 4096];
    // Head, then Content-Length bytes of body (start-up and health answers are not chunked).
    loop {
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "the kept-alive connection closed");
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some(split) = text.find("\r\n\r\n") {
            let length: usize = text[..split]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().expect("a length"))
                })
                .expect("a content-length");
            if raw.len() >= split + 4 + length {
                return text[..split].to_owned();
            }
        }
    }
}

#[test]
fn startup_gives_up_after_the_retry_window_with_one_clear_line() {
    let binary = binary();
    let port = free_port(); // nothing listens there
    let url = format!("postgres://postgres:s3cret-pw@127.0.0.1:{port}/faults");
    let out = Command::new(&binary)
        .env("DATABASE_URL", &url)
        .env("DATABASE_RETRY_FOR", "1s")
        .env("HOST", "127.0.0.1")
        .env("PORT", free_port().to_string())
        .env("REDIS_URL", "")
        .output()
        .expect("run the server");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().last().unwrap_or_default();
    assert!(
        line.starts_with("error: cannot reach the database at 127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        line.contains(&port.to_string()) && line.contains("DATABASE_RETRY_FOR"),
        "{line}"
    );
    assert!(
        !stderr.contains("s3cret-pw") && !stderr.contains("Os {"),
        "{stderr}"
    );
}

#[test]
fn startup_errors_are_one_line_that_says_what_to_do() {
    let binary = binary();
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(&binary);
        cmd.env_remove("DATABASE_URL")
            .env("HOST", "127.0.0.1")
            .env("REDIS_URL", "");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run the server");
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        String::from_utf8_lossy(&out.stderr)
            .trim()
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned()
    };

    // A missing variable.
    let line = run(&[]);
    assert!(line.starts_with("error: DATABASE_URL is not set"), "{line}");

    // A taken port: named, before anything touches the database.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().unwrap().port().to_string();
    let line = run(&[
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/never"),
        ("PORT", &port),
    ]);
    assert!(
        line.starts_with(&format!("error: cannot listen on 127.0.0.1:{port}: ")),
        "{line}"
    );
    assert!(line.contains("set PORT"), "{line}");

    // A migration that fails: the file, the cause, and what to do.
    let db = TestDb::create();
    db.psql("CREATE TABLE products (id int)");
    let free = free_port().to_string();
    let line = run(&[("DATABASE_URL", &db.url), ("PORT", &free)]);
    assert!(
        line.starts_with("error: migration migrations/0001_"),
        "{line}"
    );
    assert!(
        line.contains("already exists") && line.contains("nothing of it was applied"),
        "{line}"
    );
    assert!(line.contains("apiforge generate --redo-last"), "{line}");

    // An applied migration edited afterwards.
    db.psql("DROP TABLE products");
    let server = Server::start_with(&binary, &db.url, &[("REDIS_URL", "")]);
    drop(server);
    db.psql("UPDATE _sqlx_migrations SET checksum = '\\x00' WHERE version = 1");
    let line = run(&[("DATABASE_URL", &db.url), ("PORT", &free)]);
    assert!(
        line.contains("migrations/0001_") && line.contains("was edited after it was applied"),
        "{line}"
    );

    // A database migrated by a newer build: MIGRATE=off lets this one serve.
    db.psql("DELETE FROM _sqlx_migrations; INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'future', true, '\\x00', 0)",
    );
    let line = run(&[("DATABASE_URL", &db.url), ("PORT", &free)]);
    assert!(
        line.contains("9999") && line.contains("MIGRATE=off"),
        "{line}"
    );
    let server = Server::start_with(&binary, &db.url, &[("REDIS_URL", ""), ("MIGRATE", "off")]);
    assert_eq!(server.get("/products").status, 200);
}

#[test]
fn migrate_runs_as_its_own_step() {
    let binary = binary();
    let db = TestDb::create();
    let out = Command::new(&binary)
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .env("REDIS_URL", "")
        .output()
        .expect("run migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("psql")
        .args([
            "-At",
            "-d",
            &db.url,
            "-c",
            "SELECT count(*) FROM _sqlx_migrations WHERE success",
        ])
        .output()
        .expect("psql");
    let applied: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count");
    assert!(applied >= 1);
    // The servers then start without migrating.
    let server = Server::start_with(&binary, &db.url, &[("REDIS_URL", ""), ("MIGRATE", "off")]);
    assert_eq!(server.get("/products").status, 200);
    let bad = Command::new(&binary)
        .arg("serve-please")
        .env("DATABASE_URL", &db.url)
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown command \"serve-please\""));
}

#[test]
fn redis_killed_under_load_fails_no_request() {
    let binary = binary();
    let redis_port = free_port();
    let mut redis = PrivateRedis::start_on(redis_port);
    let db = TestDb::create();
    let redis_url = format!("redis://127.0.0.1:{}", redis.port);
    let server = Server::start_with(&binary, &db.url, &[("REDIS_URL", &redis_url)]);
    let ids: Vec<i64> = (0..20)
        .map(|i| product(&server, &format!("p{i}")))
        .collect();

    let stop = AtomicBool::new(false);
    let (done, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let worst = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..4 {
            let (server, ids, stop, done, failed, worst) =
                (&server, &ids, &stop, &done, &failed, &worst);
            s.spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let r = match i % 4 {
                        0 => server.get("/products?category=tools"),
                        1 => server.patch(
                            &format!("/products/{}", ids[i % ids.len()]),
                            &json!({"sales": i}),
                        ),
                        _ => server.get(&format!("/products/{}", ids[i % ids.len()])),
                    };
                    done.fetch_add(1, Ordering::Relaxed);
                    if r.status >= 500 {
                        failed.fetch_add(1, Ordering::Relaxed);
                        worst
                            .lock()
                            .unwrap()
                            .push(format!("{} {}", r.status, r.text()));
                    }
                    i += 4;
                }
            });
        }
        std::thread::sleep(Duration::from_secs(2));
        redis.kill();
        std::thread::sleep(Duration::from_secs(5));
        redis = PrivateRedis::start_on(redis_port);
        std::thread::sleep(Duration::from_secs(3));
        stop.store(true, Ordering::Relaxed);
    });
    let (done, failed) = (done.into_inner(), failed.into_inner());
    eprintln!("Redis killed for 5 s under load: {done} requests, {failed} failed");
    assert!(done > 100, "only {done} requests");
    assert_eq!(failed, 0, "{:?}", worst.into_inner().unwrap().first());
    drop(redis);
}

/// Seeds `n` products straight in SQL (long names: a few hundred bytes a row).
fn seed_products(db: &TestDb, n: u32) {
    db.psql(&format!(
        "INSERT INTO products (name, category, price) \
             SELECT 'product ' || g || ' ' || repeat('x', 150), 'seeded', (g % 1000)::numeric / 10 \
             FROM generate_series(1, {n}) g"
    ));
}

#[test]
fn sigterm_lets_an_inflight_export_finish() {
    let binary = binary();
    let db = TestDb::create();
    let server = Server::start_with(&binary, &db.url, &[("REDIS_URL", "")]);
    seed_products(&db, 60_000);
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    stream
        .write_all(b"GET /products/export HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send");
    let mut first = [0u8; 4096];
    let n = stream.read(&mut first).expect("the head");
    assert!(
        first[..n].starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&first[..n])
    );
    std::thread::sleep(Duration::from_millis(300));
    let pid = server.pid().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("the rest of the export");
    let mut all = first[..n].to_vec();
    all.extend_from_slice(&rest);
    let body = String::from_utf8_lossy(&all);
    let rows = body.lines().filter(|l| l.starts_with("{\"id\":")).count();
    assert_eq!(rows, 60_000, "the export was cut short");
    assert!(server.terminate().success());
}

#[test]
fn fifty_slow_export_readers_do_not_starve_the_pool() {
    let binary = binary();
    let db = TestDb::create();
    let server = Server::start_with(&binary, &db.url, &[("REDIS_URL", "")]);
    seed_products(&db, 150_000); // ≈ 40 MB of NDJSON: far more than socket buffers hold
    let user = server.post(
        "/users",
        &json!({"email": "a@example.com", "name": "A", "password_hash": "x"}),
    );
    assert_eq!(user.status, 201, "{}", user.text());

    // Fifty clients ask for the export and never read.
    let readers: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
            s.write_all(b"GET /products/export HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .expect("send");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));

    // Every other route keeps answering 2xx, twenty times in parallel.
    let statuses = concurrently(20, |i| {
        let mut got = Vec::new();
        for round in 0..5 {
            got.push(server.get("/products?category=seeded&limit=5").status);
            got.push(
                server
                    .get(&format!("/products/{}", 1 + i * 100 + round))
                    .status,
            );
            got.push(server.get("/users").status);
            got.push(
                server
                    .post("/products", &json!({"name": format!("n{i}-{round}"), "category": "new", "price": "1.00"}))
                    .status,
            );
        }
        got
    });
    let statuses: Vec<u16> = statuses.into_iter().flatten().collect();
    let bad: Vec<&u16> = statuses
        .iter()
        .filter(|s| !(200..300).contains(*s))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} requests failed: {bad:?}",
        bad.len(),
        statuses.len()
    );
    assert_eq!(server.get("/health").status, 200);

    // The exports beyond the streams' share were refused at once with a 503, not queued.
    let refused = readers
        .into_iter()
        .filter(|s| {
            let mut s = s.try_clone().expect("clone");
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut head = [0u8; 12];
            s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 503")
        })
        .count();
    eprintln!(
        "50 slow export readers: {refused} refused with 503, {} streaming; {} other requests all 2xx",
        50 - refused,
        statuses.len()
    );
    assert!(refused >= 40, "only {refused} of 50 exports refused");
}

#[test]
fn hostile_values_are_never_logged_verbatim() {
    let binary = binary();
    let db = TestDb::create();
    let (server, log) = Server::start_logged(
        &binary,
        &db.url,
        &[("REDIS_URL", ""), ("RUST_LOG", "debug")],
    );
    let huge = format!("{}\u{1b}[31mred\u{7}", "A".repeat(20_000));
    let escaped: String = huge
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let paths = [
        format!("/products?cursor={escaped}"),
        format!("/products?category={escaped}"),
        format!("/products?sort={escaped}"),
        format!("/products?fields={escaped}"),
        format!("/products/{escaped}"),
    ];
    for path in &paths {
        // A filter takes any text (an empty page); the others refuse it: never a 500.
        let res = server.get(path);
        assert!(res.status < 500, "{} → {}", &path[..40], res.status);
    }
    let res = server.post(
        "/products",
        &json!({"name": huge, "category": huge, "price": huge}),
    );
    assert_eq!(res.status, 400, "{}", res.text());
    let res = server.request(
        "GET",
        "/products",
        &[
            ("traceparent", &huge[..4000]),
            ("user-agent", &huge[..4000]),
        ],
        None,
    );
    assert!(res.status < 500, "{}", res.status);

    // Debug logging on: every line is short and holds no raw control character.
    let text = log.text();
    assert!(!text.contains('\u{1b}'), "a raw escape was logged");
    assert!(!text.contains('\u{7}'), "a raw BEL was logged");
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    assert!(
        longest < 4096,
        "a {longest}-byte log line: {}",
        &text.lines().find(|l| l.len() == longest).unwrap()[..300]
    );
}
