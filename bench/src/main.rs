//! Side-by-side loopback load test of one-row GETs:
//! - `bare`: a plain axum handler serializing the row with `Json` on every request;
//! - `cached`: `ResourceCache` (memory tier) + `cached_json` (ETag, Cache-Control);
//! - `cached+monitor`: the same behind the monitoring layer (Prometheus + /_stats HDR);
//! - `cached 304`: revalidations with a matching `If-None-Match`;
//! - `db`: a Postgres query + serialization per request (skipped if Postgres is unreachable);
//! - `axum + moka`: the minimal hand-written cached GET (a moka `get_with` of the JSON bytes),
//!   in this process and, for the comparison with the shop, in a process of its own (this
//!   binary re-executed as `apiforge-bench serve-minimal`, on the same tokio runtime as a
//!   generated `main.rs`: `#[tokio::main]`, one worker per CPU);
//! - `generated shop`: `GET /products/{id}` of the generated shop (a release binary given by
//!   `BENCH_SHOP_BINARY`, its own process and database, 1000 products, cache warm).
//!
//! Environment: `BENCH_SECONDS` (default 3 per scenario), `BENCH_ROUNDS` (default 3),
//! `BENCH_CONNECTIONS` (default 32),
//! `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! `BENCH_SHOP_BINARY` (optional), `BENCH_ONLY` (comma-separated words: only the scenarios
//! whose name contains one).
//! Server and client share the machine: compare the rows, not the absolute figures.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apiforge_runtime::cache::{CacheConfig, CachedBody, MemoryTier, ResourceCache};
use apiforge_runtime::monitor::{self, Stats};
use apiforge_runtime::response::{CacheControl, Visibility, cached_json};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ROWS: u32 = 1000;
const SHOP_SCENARIO: &str = "generated shop GET /products/{id}";
const MINIMAL_SCENARIO: &str = "minimal axum + moka, own process";

/// Name, server, the paths (with an `If-None-Match` tag) cycled over, expected status.
type Scenario = (&'static str, SocketAddr, Vec<(String, Option<String>)>, u16);

#[derive(Serialize, sqlx::FromRow)]
struct Product {
    id: i64,
    name: String,
    category: String,
    price: String,
    sales: i32,
    is_static: bool,
    created_at: String,
}

fn product(id: u32) -> Product {
    Product {
        id: i64::from(id),
        name: format!("Product number {id}"),
        category: ["books", "games", "tools", "music"][id as usize % 4].to_owned(),
        price: format!("{}.99", id % 100),
        sales: (id * 7 % 1000) as i32,
        is_static: id.is_multiple_of(10),
        created_at: "2026-11-25T09:30:00Z".to_owned(),
    }
}

/// The minimal server's cache: a row's JSON bytes by id.
type MokaCache = moka::future::Cache<u32, Bytes>;

fn moka_cache() -> MokaCache {
    moka::future::Cache::builder()
        .max_capacity(u64::from(ROWS) * 2)
        .time_to_live(Duration::from_secs(300))
        .build()
}

#[derive(Clone)]
struct AppState {
    cache: ResourceCache,
    cache_control: CacheControl,
    pool: Option<sqlx::PgPool>,
}

async fn bare(Path(id): Path<u32>) -> Json<Product> {
    Json(product(id))
}

async fn cached(State(s): State<AppState>, Path(id): Path<u32>, headers: HeaderMap) -> Response {
    let body = s
        .cache
        .get_or_load(&ResourceCache::row_key(id), || async move {
            CachedBody::json(&product(id))
                .map(Some)
                .map_err(|e| e.to_string())
        })
        .await;
    match body {
        Ok(Some(body)) => cached_json(&headers, &body, &s.cache_control),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// The minimal hand-written cached GET: moka's `get_with` (misses coalesced) of the bytes.
async fn moka_cached(State(moka): State<MokaCache>, Path(id): Path<u32>) -> Response {
    let body = moka
        .get_with(id, async move {
            Bytes::from(serde_json::to_vec(&product(id)).expect("a row serializes"))
        })
        .await;
    ([(http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `apiforge-bench serve-minimal`: the minimal cached GET as a server of its own on
/// `127.0.0.1:0`, serving `/products/{id}` like the shop. Prints `listening on ADDR` and
/// exits when its standard input closes (when the bench ends, or dies).
async fn serve_minimal() {
    let router = Router::new()
        .route("/products/{id}", get(moka_cached))
        .with_state(moka_cache());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening on {}", listener.local_addr().unwrap());
    tokio::task::spawn_blocking(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    axum::serve(listener, router).await.unwrap();
}

/// The minimal server in a process of its own (see [`serve_minimal`]).
struct Minimal {
    child: std::process::Child,
    addr: SocketAddr,
}

fn start_minimal() -> Minimal {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("serve-minimal")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the minimal server");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("the minimal server said {line:?}"));
    Minimal { child, addr }
}

impl Minimal {
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running generated shop and its database (killed and dropped by [`Shop::stop`]).
struct Shop {
    child: std::process::Child,
    addr: SocketAddr,
    admin: sqlx::PgPool,
    db: String,
}

/// Starts the generated shop `binary` on a database of its own (`url` is any database of
/// the server), waits for `/health` and seeds `ROWS` products.
async fn start_shop(binary: &str, url: &str) -> Shop {
    let admin = sqlx::PgPool::connect(url)
        .await
        .expect("Postgres for the shop");
    let db = format!("apiforge_bench_shop_{}", std::process::id());
    let (base, _) = url.rsplit_once('/').expect("a database URL");
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let child = std::process::Command::new(binary)
        .env("DATABASE_URL", format!("{base}/{db}"))
        .env("HOST", "127.0.0.1")
        .env("PORT", addr.port().to_string())
        .env("REDIS_URL", "")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start the shop binary");
    let shop = Shop {
        child,
        addr,
        admin,
        db,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut stream) = TcpStream::connect(addr).await {
            let mut buf = Vec::new();
            if let Ok((200, _)) = request(&mut stream, &mut buf, "/health", None).await {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the shop did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pool = sqlx::PgPool::connect(&format!("{base}/{}", shop.db))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO products (name, category, price, sales, is_static) \
         SELECT 'Product number ' || i, (ARRAY['books','games','tools','music'])[i % 4 + 1], \
         (i % 100) + 0.99, i * 7 % 1000, i % 10 = 0 FROM generate_series(1, $1) AS i",
    )
    .bind(i64::from(ROWS))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    shop
}

impl Shop {
    async fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db))
            .execute(&self.admin)
            .await;
    }
}

async fn from_db(State(s): State<AppState>, Path(id): Path<u32>) -> Response {
    let pool = s.pool.as_ref().expect("db scenario runs with a pool");
    let row: Result<Option<Product>, _> = sqlx::query_as(
        "SELECT id, name, category, price::text AS price, sales, is_static, \
         to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at \
         FROM products WHERE id = $1",
    )
    .bind(i64::from(id))
    .fetch_optional(pool)
    .await;
    match row {
        Ok(Some(p)) => Json(p).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Sends one keep-alive GET and reads the whole response; returns (status, ETag header).
async fn request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    path: &str,
    if_none_match: Option<&str>,
) -> std::io::Result<(u16, Option<String>)> {
    let inm = if_none_match.map_or(String::new(), |t| format!("If-None-Match: {t}\r\n"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{inm}\r\n");
    stream.write_all(req.as_bytes()).await?;
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        read_more(stream, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_end]).expect("ASCII head");
    let status: u16 = head[9..12].parse().expect("status code");
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
    let etag = header("etag");
    while buf.len() < head_end + length {
        read_more(stream, buf).await?;
    }
    buf.drain(..head_end + length);
    Ok((status, etag))
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

struct Outcome {
    requests: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// CPU cost per response without the network: serializing a row vs a cache hit + cached_json.
async fn in_process(cache: &ResourceCache) {
    const N: u32 = 1_000_000;
    let headers = HeaderMap::new();
    let cache_control = CacheControl::new(60, Visibility::Private, false);
    let start = Instant::now();
    for i in 0..N {
        let id = i % ROWS + 1;
        let response = Json(product(id)).into_response();
        std::hint::black_box(response);
    }
    let bare = start.elapsed().as_nanos() as f64 / f64::from(N);
    let start = Instant::now();
    for i in 0..N {
        let id = i % ROWS + 1;
        let body = cache
            .get_or_load(&ResourceCache::row_key(id), || async move {
                CachedBody::json(&product(id))
                    .map(Some)
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap()
            .unwrap();
        std::hint::black_box(cached_json(&headers, &body, &cache_control));
    }
    let hit = start.elapsed().as_nanos() as f64 / f64::from(N);
    // Breakdown of the hit: the lookup alone, then the response alone.
    let start = Instant::now();
    for i in 0..N {
        let id = i % ROWS + 1;
        let body = cache
            .get_or_load(&ResourceCache::row_key(id), || async {
                Ok::<_, String>(None)
            })
            .await;
        std::hint::black_box(body.ok());
    }
    let lookup = start.elapsed().as_nanos() as f64 / f64::from(N);
    let body = CachedBody::json(&product(1)).unwrap();
    let start = Instant::now();
    for _ in 0..N {
        std::hint::black_box(cached_json(&headers, &body, &cache_control));
    }
    let respond = start.elapsed().as_nanos() as f64 / f64::from(N);
    println!(
        "\nin-process, one thread, ns per response: Json(row) {bare:.0}; \
         cache hit + cached_json {hit:.0} (lookup {lookup:.0}, cached_json {respond:.0})"
    );
}

/// `connections` keep-alive clients cycling over `paths` for `duration`.
async fn load(
    addr: SocketAddr,
    paths: Arc<Vec<(String, Option<String>)>>,
    connections: usize,
    duration: Duration,
    expect: u16,
) -> Outcome {
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..connections)
        .map(|w| {
            let paths = paths.clone();
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut buf = Vec::with_capacity(16 * 1024);
                let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                let mut i = w * 7919;
                while Instant::now() < deadline {
                    let (path, tag) = &paths[i % paths.len()];
                    i += 1;
                    let t = Instant::now();
                    let (status, _) = request(&mut stream, &mut buf, path, tag.as_deref())
                        .await
                        .unwrap();
                    latency.saturating_record(t.elapsed().as_micros() as u64);
                    assert_eq!(status, expect, "GET {path}");
                }
                latency
            })
        })
        .collect();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for worker in workers {
        latency.add(worker.await.unwrap()).unwrap();
    }
    Outcome {
        requests: latency.len(),
        elapsed: start.elapsed(),
        latency,
    }
}

async fn database(url: &str) -> Option<(sqlx::PgPool, sqlx::PgPool, String)> {
    let admin = sqlx::PgPool::connect(url).await.ok()?;
    let name = format!("apiforge_bench_{}", std::process::id());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .ok()?;
    let (base, _) = url.rsplit_once('/')?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect(&format!("{base}/{name}"))
        .await
        .ok()?;
    sqlx::query(
        "CREATE TABLE products (id bigint PRIMARY KEY, name text NOT NULL, category text NOT NULL, \
         price numeric(10,2) NOT NULL, sales int NOT NULL, is_static bool NOT NULL, \
         created_at timestamptz NOT NULL DEFAULT '2026-11-25T09:30:00Z')",
    )
    .execute(&pool)
    .await
    .ok()?;
    sqlx::query(
        "INSERT INTO products (id, name, category, price, sales, is_static) \
         SELECT i, 'Product number ' || i, (ARRAY['books','games','tools','music'])[i % 4 + 1], \
         (i % 100) + 0.99, i * 7 % 1000, i % 10 = 0 FROM generate_series(1, $1) AS i",
    )
    .bind(i64::from(ROWS))
    .execute(&pool)
    .await
    .ok()?;
    Some((admin, pool, name))
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // Both servers run on what `#[tokio::main]` builds: a multi-thread runtime with one
    // worker per CPU, as in a generated `main.rs`.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::args().nth(1).as_deref() == Some("serve-minimal") {
        runtime.block_on(serve_minimal());
    } else {
        runtime.block_on(bench());
    }
}

async fn bench() {
    let seconds: u64 = env("BENCH_SECONDS", 3);
    let rounds: usize = env("BENCH_ROUNDS", 3).max(1);
    let connections: usize = env("BENCH_CONNECTIONS", 32);
    let db_url: String = env(
        "BENCH_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres".to_owned(),
    );
    let db = database(&db_url).await;
    if db.is_none() {
        eprintln!("Postgres unreachable at {db_url}: skipping the db scenario");
    }

    monitor::install_recorder();
    let cache = ResourceCache::new(
        "products",
        CacheConfig {
            memory: Some(MemoryTier {
                max_entries: u64::from(ROWS) * 2,
                ttl: Duration::from_secs(300),
            }),
            redis: None,
        },
        None,
    );
    let state = AppState {
        cache: cache.clone(),
        cache_control: CacheControl::new(60, Visibility::Private, false),
        pool: db.as_ref().map(|(_, pool, _)| pool.clone()),
    };
    let routes = Router::new()
        .route("/bare/{id}", get(bare))
        .route("/cached/{id}", get(cached))
        .route("/db/{id}", get(from_db))
        .with_state(state)
        .merge(
            Router::new()
                .route("/moka/{id}", get(moka_cached))
                .with_state(moka_cache()),
        );
    let stats = Stats::new(Duration::from_secs(60), vec![]);
    let plain = serve(routes.clone()).await;
    let monitored = serve(routes.layer(stats.layer())).await;

    let paths = |prefix: &str| -> Vec<(String, Option<String>)> {
        (1..=ROWS)
            .map(|id| (format!("/{prefix}/{id}"), None))
            .collect()
    };
    // Learn each row's ETag (this also warms the cache).
    let mut revalidations = Vec::new();
    {
        let mut stream = TcpStream::connect(plain).await.unwrap();
        let mut buf = Vec::new();
        for (path, _) in paths("cached") {
            let (_, etag) = request(&mut stream, &mut buf, &path, None).await.unwrap();
            revalidations.push((path, etag));
        }
    }

    let mut scenarios: Vec<Scenario> = vec![
        ("bare axum + Json", plain, paths("bare"), 200),
        (
            "cached (ResourceCache + cached_json)",
            plain,
            paths("cached"),
            200,
        ),
        ("cached + monitor layer", monitored, paths("cached"), 200),
        ("cached, If-None-Match -> 304", plain, revalidations, 304),
    ];
    if db.is_some() {
        scenarios.push(("db query + Json per request", plain, paths("db"), 200));
    }
    scenarios.push(("minimal axum + moka, in-process", plain, paths("moka"), 200));
    let minimal = start_minimal();
    scenarios.push((MINIMAL_SCENARIO, minimal.addr, paths("products"), 200));
    let shop = match std::env::var("BENCH_SHOP_BINARY") {
        Ok(binary) => Some(start_shop(&binary, &db_url).await),
        Err(_) => {
            eprintln!("BENCH_SHOP_BINARY unset: skipping the generated shop scenario");
            None
        }
    };
    if let Some(shop) = &shop {
        scenarios.push((SHOP_SCENARIO, shop.addr, paths("products"), 200));
    }

    // `BENCH_ONLY=shop,own` keeps the scenarios whose name contains one of the words (e.g.
    // to profile one server).
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        scenarios.retain(|(name, ..)| only.split(',').any(|w| name.contains(w)));
    }
    println!(
        "{connections} connections, {rounds} interleaved rounds of {seconds} s per scenario, \
         {ROWS} distinct rows, loopback (medians over the rounds)\n"
    );
    let scenarios: Vec<_> = scenarios
        .into_iter()
        .map(|(name, addr, paths, expect)| (name, addr, Arc::new(paths), expect))
        .collect();
    for (_, addr, paths, expect) in &scenarios {
        // Warm-up (connections, allocator, cache), not measured.
        load(
            *addr,
            paths.clone(),
            connections,
            Duration::from_millis(500),
            *expect,
        )
        .await;
    }
    // Rounds interleave the scenarios so that load drift on the machine hits all alike.
    let mut results: Vec<Vec<Outcome>> = scenarios.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (i, (_, addr, paths, expect)) in scenarios.iter().enumerate() {
            let o = load(
                *addr,
                paths.clone(),
                connections,
                Duration::from_secs(seconds),
                *expect,
            )
            .await;
            results[i].push(o);
        }
    }
    println!(
        "{:<40} {:>12} {:>10} {:>10} {:>10}",
        "scenario",
        "req/s",
        "p50 µs",
        "p99 µs",
        // The first scenario: the bare handler unless BENCH_ONLY left it out.
        if scenarios[0].0 == "bare axum + Json" {
            "vs bare"
        } else {
            "vs first"
        }
    );
    let rounds_by_scenario: Vec<Vec<f64>> = results
        .iter()
        .map(|outcomes| outcomes.iter().map(Outcome::rate).collect())
        .collect();
    let mut bare_rate = None;
    let mut medians = std::collections::HashMap::new();
    for ((name, ..), outcomes) in scenarios.iter().zip(&mut results) {
        outcomes.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        let median = &outcomes[outcomes.len() / 2];
        let rate = median.rate();
        medians.insert(*name, rate);
        let base = *bare_rate.get_or_insert(rate);
        println!(
            "{:<40} {:>12.0} {:>10} {:>10} {:>9.2}x",
            name,
            rate,
            median.latency.value_at_quantile(0.5),
            median.latency.value_at_quantile(0.99),
            rate / base
        );
    }
    if let (Some(shop), Some(moka)) = (medians.get(SHOP_SCENARIO), medians.get(MINIMAL_SCENARIO)) {
        // Rounds ran back to back: each round's ratio compares the two under the same load.
        let index = |name: &str| scenarios.iter().position(|(n, ..)| *n == name).unwrap();
        let (s, m) = (index(SHOP_SCENARIO), index(MINIMAL_SCENARIO));
        let mut per_round: Vec<f64> = (0..rounds)
            .map(|r| rounds_by_scenario[s][r] / rounds_by_scenario[m][r])
            .collect();
        let listed: Vec<String> = per_round.iter().map(|r| format!("{r:.2}")).collect();
        per_round.sort_by(f64::total_cmp);
        println!(
            "\ngenerated shop cached GET / minimal axum + moka (both own processes): {:.2}x \
             (medians); per round {}, median {:.2}x",
            shop / moka,
            listed.join(" "),
            per_round[per_round.len() / 2]
        );
    }
    in_process(&cache).await;
    minimal.stop();
    if let Some(shop) = shop {
        shop.stop().await;
    }

    if let Some((admin, pool, name)) = db {
        pool.close().await;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await
            .unwrap();
    }
}
