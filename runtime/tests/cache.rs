//! The two cache tiers against the real Redis (127.0.0.1:6379). Every test uses its own
//! key namespace and removes its generation keys at the end.
#![cfg(feature = "redis")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apiforge_runtime::cache::{
    CacheConfig, CachedBody, MemoryTier, Redis, RedisTier, ResourceCache,
};

const REDIS_URL: &str = "redis://127.0.0.1:6379";
const TIMEOUT: Duration = Duration::from_millis(200);

fn unique_namespace(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test-{test}-{}-{nanos}", std::process::id())
}

async fn redis(namespace: &str) -> Redis {
    let redis = Redis::connect(REDIS_URL, TIMEOUT)
        .await
        .expect("valid url")
        .with_namespace(namespace);
    assert!(
        redis.wait_subscribed(Duration::from_secs(5)).await,
        "listener subscribed"
    );
    redis
}

async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS_URL)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis at 127.0.0.1:6379")
}

/// Deletes what a test left in Redis (entries expire anyway; generations don't).
async fn cleanup(namespace: &str, resource: &str, keys: &[&str]) {
    let mut conn = raw().await;
    let mut cmd = redis::cmd("DEL");
    cmd.arg(format!("apiforge:{namespace}:{resource}:#generation"));
    for key in keys {
        cmd.arg(format!("apiforge:{namespace}:{resource}:{key}"));
    }
    let _: () = cmd.query_async(&mut conn).await.unwrap();
}

fn both_tiers(ttl: Duration) -> CacheConfig {
    CacheConfig {
        memory: Some(MemoryTier {
            max_entries: 100,
            ttl,
        }),
        redis: Some(RedisTier { ttl }),
    }
}

fn memory_only(ttl: Duration) -> CacheConfig {
    CacheConfig {
        memory: Some(MemoryTier {
            max_entries: 100,
            ttl,
        }),
        redis: None,
    }
}

/// A loader that counts its calls and returns `{"version": <calls>}` after a short delay.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl Counting {
    fn calls(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    async fn load(&self) -> Result<Option<CachedBody>, String> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(Some(
            CachedBody::json(&serde_json::json!({ "version": n })).unwrap(),
        ))
    }
}

fn version(body: &CachedBody) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&body.body).unwrap();
    v["version"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_misses_run_one_load() {
    let ns = unique_namespace("coalesce");
    let cache = ResourceCache::new(
        "products",
        both_tiers(Duration::from_secs(60)),
        Some(redis(&ns).await),
    );
    let loader = Counting::default();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cache, loader) = (cache.clone(), loader.clone());
            tokio::spawn(async move { cache.get_or_load("row:1", || loader.load()).await })
        })
        .collect();
    for task in tasks {
        let body = task.await.unwrap().unwrap().expect("found");
        assert_eq!(version(&body), 1);
    }
    assert_eq!(loader.calls(), 1);
    // A later get is a memory hit.
    let again = cache
        .get_or_load("row:1", || loader.load())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(version(&again), 1);
    assert_eq!(loader.calls(), 1);
    cleanup(&ns, "products", &["row:1"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn loader_errors_reach_every_waiter_and_are_not_cached() {
    let cache = ResourceCache::new("widgets", memory_only(Duration::from_secs(60)), None);
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let failing = move || {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err::<Option<CachedBody>, String>("database down".into())
        }
    };
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (cache, failing) = (cache.clone(), failing.clone());
            tokio::spawn(async move { cache.get_or_load("row:9", failing).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), Err("database down".to_owned()));
    }
    assert_eq!(counter.load(Ordering::SeqCst), 1);
    assert!(cache.get_or_load("row:9", failing).await.is_err());
    assert_eq!(counter.load(Ordering::SeqCst), 2, "errors are not cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_is_not_cached() {
    let ns = unique_namespace("notfound");
    let cache = ResourceCache::new(
        "products",
        both_tiers(Duration::from_secs(60)),
        Some(redis(&ns).await),
    );
    let calls = AtomicUsize::new(0);
    for _ in 0..2 {
        let found = cache
            .get_or_load("row:404", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(None)
            })
            .await
            .unwrap();
        assert!(found.is_none());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let exists: bool = redis::cmd("EXISTS")
        .arg(format!("apiforge:{ns}:products:row:404"))
        .query_async(&mut raw().await)
        .await
        .unwrap();
    assert!(!exists);
    cleanup(&ns, "products", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_entries_expire_after_their_ttl() {
    let cache = ResourceCache::new("ttl", memory_only(Duration::from_millis(1000)), None);
    let loader = Counting::default();
    cache.get_or_load("row:1", || loader.load()).await.unwrap();
    cache.get_or_load("row:1", || loader.load()).await.unwrap();
    assert_eq!(loader.calls(), 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let body = cache
        .get_or_load("row:1", || loader.load())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((loader.calls(), version(&body)), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_tier_is_read_through_with_ttl_and_shared_between_instances() {
    let ns = unique_namespace("readthrough");
    let config = CacheConfig {
        memory: Some(MemoryTier {
            max_entries: 10,
            ttl: Duration::from_secs(60),
        }),
        redis: Some(RedisTier {
            ttl: Duration::from_millis(2000),
        }),
    };
    let a = ResourceCache::new("orders", config.clone(), Some(redis(&ns).await));
    let b = ResourceCache::new("orders", config, Some(redis(&ns).await));
    let loader = Counting::default();
    let first = a
        .get_or_load("row:5", || loader.load())
        .await
        .unwrap()
        .unwrap();

    let key = format!("apiforge:{ns}:orders:row:5");
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut raw().await)
        .await
        .unwrap();
    assert!(
        pttl > 0 && pttl <= 2000,
        "entry stored with its TTL, got {pttl}"
    );

    // The other instance finds it in Redis: same bytes, same ETag, no load.
    let second = b
        .get_or_load("row:5", || loader.load())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second, first);
    assert_eq!(loader.calls(), 1);

    tokio::time::sleep(Duration::from_millis(2300)).await;
    let c = ResourceCache::new(
        "orders",
        CacheConfig {
            memory: None,
            redis: Some(RedisTier {
                ttl: Duration::from_secs(1),
            }),
        },
        Some(redis(&ns).await),
    );
    let third = c
        .get_or_load("row:5", || loader.load())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (loader.calls(), version(&third)),
        (2, 2),
        "expired in Redis"
    );
    cleanup(&ns, "orders", &["row:5"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_deletes_the_row_in_both_tiers_and_bumps_the_generation() {
    let ns = unique_namespace("invalidate");
    let cache = ResourceCache::new(
        "products",
        both_tiers(Duration::from_secs(60)),
        Some(redis(&ns).await),
    );
    let loader = Counting::default();
    let list_before = cache.list_key("category=books&limit=10");
    cache.get_or_load("row:1", || loader.load()).await.unwrap();
    cache
        .get_or_load(&list_before, || loader.load())
        .await
        .unwrap();
    assert_eq!(loader.calls(), 2);

    let generation = cache.generation();
    cache.invalidate("row:1").await;
    assert!(cache.generation() > generation);
    let stored: u64 = redis::cmd("GET")
        .arg(format!("apiforge:{ns}:products:#generation"))
        .query_async(&mut raw().await)
        .await
        .unwrap();
    assert_eq!(
        stored,
        cache.generation(),
        "the generation is shared through Redis"
    );
    let exists: bool = redis::cmd("EXISTS")
        .arg(format!("apiforge:{ns}:products:row:1"))
        .query_async(&mut raw().await)
        .await
        .unwrap();
    assert!(!exists, "row key deleted from Redis");

    let row = cache
        .get_or_load("row:1", || loader.load())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(version(&row), 3, "row reloaded");
    let list_after = cache.list_key("category=books&limit=10");
    assert_ne!(list_after, list_before);
    let list = cache
        .get_or_load(&list_after, || loader.load())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(version(&list), 4, "list reloaded under the new generation");

    cache.invalidate_lists().await;
    assert_ne!(cache.list_key("category=books&limit=10"), list_after);
    let row = cache
        .get_or_load("row:1", || loader.load())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(version(&row), 3, "invalidate_lists keeps rows");
    cleanup(&ns, "products", &["row:1", &list_before, &list_after]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_during_a_load_is_not_hidden_by_the_loaded_value() {
    let cache = ResourceCache::new("race", memory_only(Duration::from_secs(60)), None);
    let loading = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_load("row:1", || async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, String>(Some(CachedBody::new("\"old\"")))
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    cache.invalidate("row:1").await;
    let old = loading.await.unwrap().unwrap().unwrap();
    assert_eq!(
        &old.body[..],
        b"\"old\"",
        "the straddling read is still answered"
    );
    let fresh = cache
        .get_or_load("row:1", || async {
            Ok::<_, String>(Some(CachedBody::new("\"new\"")))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&fresh.body[..], b"\"new\"", "but it was not cached");
}

/// Polls `cache` until `row:1` is served at `expected` version, at most 3 seconds.
async fn eventually_version(cache: &ResourceCache, loader: &Counting, expected: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let body = cache
            .get_or_load("row:1", || loader.load())
            .await
            .unwrap()
            .unwrap();
        let v = version(&body);
        if v == expected || tokio::time::Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_instance_invalidates_the_memory_tier_of_another() {
    let ns = unique_namespace("pubsub");
    // Memory tiers only, so only the pub/sub message can make B drop its entry.
    let a = ResourceCache::new(
        "products",
        memory_only(Duration::from_secs(60)),
        Some(redis(&ns).await),
    );
    let b = ResourceCache::new(
        "products",
        memory_only(Duration::from_secs(60)),
        Some(redis(&ns).await),
    );
    let loader = Counting::default();
    assert_eq!(
        version(
            &a.get_or_load("row:1", || loader.load())
                .await
                .unwrap()
                .unwrap()
        ),
        1
    );
    assert_eq!(
        version(
            &b.get_or_load("row:1", || loader.load())
                .await
                .unwrap()
                .unwrap()
        ),
        2
    );
    assert_eq!(
        version(
            &b.get_or_load("row:1", || loader.load())
                .await
                .unwrap()
                .unwrap()
        ),
        2
    );

    let b_list = b.list_key("q");
    a.invalidate("row:1").await;
    assert_eq!(
        eventually_version(&b, &loader, 3).await,
        3,
        "B reloaded after A's write"
    );
    assert_ne!(b.list_key("q"), b_list, "B adopted the new generation");
    assert_eq!(b.generation(), a.generation());
    cleanup(&ns, "products", &[]).await;
}

/// A private `redis-server` on a free port, so a test can stop and restart it.
struct PrivateRedis {
    port: u16,
    child: std::process::Child,
}

impl PrivateRedis {
    fn start(port: Option<u16>) -> Self {
        let port = port.unwrap_or_else(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        Self { port, child }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn ready(&self) {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("private redis-server did not start");
    }

    fn stop(mut self) -> u16 {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.port
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls until `cache` serves `key` without calling `loader` (a Redis hit), at most 5 s.
async fn eventually_served_from_redis(cache: &ResourceCache, key: &str, loader: &Counting) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        let before = loader.calls();
        cache.get_or_load(key, || loader.load()).await.unwrap();
        if loader.calls() == before {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_survive_a_redis_restart_and_reconnect() {
    let server = PrivateRedis::start(None);
    server.ready().await;
    let url = server.url();
    let connect = || async {
        let r = Redis::connect(&url, TIMEOUT)
            .await
            .unwrap()
            .with_namespace("restart");
        assert!(r.wait_subscribed(Duration::from_secs(5)).await);
        r
    };
    let (a_redis, b_redis) = (connect().await, connect().await);
    let redis_only = CacheConfig {
        memory: None,
        redis: Some(RedisTier {
            ttl: Duration::from_secs(60),
        }),
    };
    let a = ResourceCache::new("products", redis_only.clone(), Some(a_redis.clone()));
    let b = ResourceCache::new("products", redis_only, Some(b_redis.clone()));
    let b_memory = ResourceCache::new(
        "products",
        memory_only(Duration::from_secs(60)),
        Some(b_redis.clone()),
    );
    let loader = Counting::default();
    a.get_or_load("row:1", || loader.load()).await.unwrap();
    assert!(eventually_served_from_redis(&b, "row:1", &loader).await);

    // Redis goes away: everything is served by the loader, promptly.
    let port = server.stop();
    let calls = loader.calls();
    tokio::time::timeout(Duration::from_secs(5), async {
        a.get_or_load("row:2", || loader.load())
            .await
            .unwrap()
            .unwrap();
        b.get_or_load("row:2", || loader.load())
            .await
            .unwrap()
            .unwrap();
        a.invalidate("row:2").await;
    })
    .await
    .expect("a down Redis never blocks");
    assert_eq!(loader.calls(), calls + 2);
    b_memory
        .get_or_load("row:1", || loader.load())
        .await
        .unwrap();

    // Redis is back (empty): both tiers and the listeners recover by themselves.
    let server = PrivateRedis::start(Some(port));
    server.ready().await;
    assert!(a_redis.wait_subscribed(Duration::from_secs(5)).await);
    assert!(b_redis.wait_subscribed(Duration::from_secs(5)).await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let recovered = loop {
        // A stores row:3 once its connection is back; B then reads it without loading.
        a.get_or_load("row:3", || loader.load()).await.unwrap();
        let before = loader.calls();
        b.get_or_load("row:3", || loader.load()).await.unwrap();
        if loader.calls() == before {
            break true;
        }
        if tokio::time::Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(recovered, "B reads what A stored after the restart");

    // Invalidation crosses instances again.
    let v = version(
        &b_memory
            .get_or_load("row:1", || loader.load())
            .await
            .unwrap()
            .unwrap(),
    );
    a.invalidate("row:1").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let now = version(
            &b_memory
                .get_or_load("row:1", || loader.load())
                .await
                .unwrap()
                .unwrap(),
        );
        if now != v {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B's memory tier was not invalidated"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_skipped_and_the_loader_serves() {
    // Nothing listens on port 1.
    let down = Redis::connect("redis://127.0.0.1:1", Duration::from_millis(50))
        .await
        .expect("a valid URL connects lazily");
    assert!(!down.wait_subscribed(Duration::from_millis(100)).await);
    let cache = ResourceCache::new("products", both_tiers(Duration::from_secs(60)), Some(down));
    let loader = Counting::default();
    // Invalidations cannot be heard, so the memory tier does not serve either: every read
    // loads (docs/spec.md, decision 40).
    let work = async {
        for expected in [1, 2] {
            let body = cache
                .get_or_load("row:1", || loader.load())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(version(&body), expected);
        }
        cache.invalidate("row:1").await;
        let body = cache
            .get_or_load("row:1", || loader.load())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(version(&body), 3);
        let list = cache.list_key("x");
        cache
            .get_or_load(&list, || loader.load())
            .await
            .unwrap()
            .unwrap();
    };
    tokio::time::timeout(Duration::from_secs(5), work)
        .await
        .expect("a down Redis never blocks requests");
    assert_eq!(loader.calls(), 4);
}

#[tokio::test]
async fn a_malformed_url_is_an_error() {
    assert!(Redis::connect("not a url", TIMEOUT).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_never_answers_does_not_stall_requests() {
    // Accepts connections and never answers: the worst case, a hung server.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let hung = Redis::connect(
        &format!("redis://127.0.0.1:{port}"),
        Duration::from_millis(100),
    )
    .await
    .unwrap();
    let cache = ResourceCache::new("products", both_tiers(Duration::from_secs(60)), Some(hung));
    let loader = Counting::default();
    // 200 concurrent requests for distinct keys: were each to wait for its own connection
    // attempt in turn, this would take 200 × 100 ms.
    let requests: Vec<_> = (0..200)
        .map(|i| {
            let (cache, loader) = (cache.clone(), loader.clone());
            tokio::spawn(async move {
                cache
                    .get_or_load(&format!("row:{i}"), || loader.load())
                    .await
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(5), async {
        for request in requests {
            assert!(request.await.unwrap().unwrap().is_some());
        }
    })
    .await
    .expect("requests are served from the loader while Redis hangs");
    assert_eq!(loader.calls(), 200);
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_sharing_one_handle_invalidate_each_other_at_once() {
    let ns = unique_namespace("samehandle");
    let redis = redis(&ns).await;
    let a = ResourceCache::new(
        "products",
        memory_only(Duration::from_secs(60)),
        Some(redis.clone()),
    );
    let b = ResourceCache::new(
        "products",
        memory_only(Duration::from_secs(60)),
        Some(redis),
    );
    let loader = Counting::default();
    b.get_or_load("row:1", || loader.load()).await.unwrap();
    a.invalidate("row:1").await;
    // No waiting: the message of one's own handle is skipped, the peer is told directly.
    let body = b
        .get_or_load("row:1", || loader.load())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(version(&body), 2);
    assert_eq!(a.generation(), b.generation());
    assert_eq!(a.list_key("q"), b.list_key("q"));
    cleanup(&ns, "products", &[]).await;
}

/// A TCP proxy whose existing connections can be frozen: they stay open but carry nothing
/// more, like connections whose peer vanished without a reset (a dropped NAT entry).
/// Connections opened after the freeze work.
struct FreezingProxy {
    port: u16,
    next_id: Arc<std::sync::atomic::AtomicU64>,
    frozen_below: Arc<std::sync::atomic::AtomicU64>,
}

impl FreezingProxy {
    async fn start(upstream: u16) -> Self {
        use std::sync::atomic::AtomicU64;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let next_id = Arc::new(AtomicU64::new(0));
        let frozen_below = Arc::new(AtomicU64::new(0));
        let (ids, frozen) = (next_id.clone(), frozen_below.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let id = ids.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(Self::pipe(client_read, server_write, id, frozen.clone()));
                tokio::spawn(Self::pipe(server_read, client_write, id, frozen.clone()));
            }
        });
        Self {
            port,
            next_id,
            frozen_below,
        }
    }

    async fn pipe(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        id: u64,
        frozen_below: Arc<std::sync::atomic::AtomicU64>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = [0u8; 8192];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if id < frozen_below.load(Ordering::SeqCst) {
                // Swallow everything from now on, keeping both sockets open.
                std::future::pending::<()>().await;
            }
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn freeze_existing_connections(&self) {
        self.frozen_below
            .store(self.next_id.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// Two instances of one app on one Redis server, both listening for invalidations: A
/// (its cache configured as given) and B (a memory tier, its handle reaching Redis through
/// `b_url`, e.g. a proxy or another user, and set up by `b_handle`).
struct TwoInstances {
    a: ResourceCache,
    b: ResourceCache,
    b_redis: Redis,
}

impl TwoInstances {
    async fn start(
        (a_url, a_config): (&str, CacheConfig),
        b_url: &str,
        namespace: &str,
        b_handle: impl FnOnce(Redis) -> Redis,
    ) -> Self {
        let connect = async |url: &str| {
            Redis::connect(url, TIMEOUT)
                .await
                .unwrap()
                .with_namespace(namespace)
        };
        let a_redis = connect(a_url).await;
        let b_redis = b_handle(connect(b_url).await);
        let a = ResourceCache::new("products", a_config, Some(a_redis.clone()));
        let b = ResourceCache::new(
            "products",
            memory_only(Duration::from_secs(60)),
            Some(b_redis.clone()),
        );
        assert!(a_redis.wait_subscribed(Duration::from_secs(5)).await);
        assert!(b_redis.wait_subscribed(Duration::from_secs(5)).await);
        Self { a, b, b_redis }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silently_dead_connections_are_detected_and_replaced() {
    let server = PrivateRedis::start(None);
    server.ready().await;
    let proxy = FreezingProxy::start(server.port).await;
    let TwoInstances { a, b, b_redis } = TwoInstances::start(
        (&server.url(), both_tiers(Duration::from_secs(60))),
        &proxy.url(),
        "frozen",
        |b| b.with_health_check_interval(Duration::from_millis(300)),
    )
    .await;
    // B's Redis tier alone (so a hit there proves Redis answered).
    let b_shared = ResourceCache::new(
        "products",
        CacheConfig {
            memory: None,
            redis: Some(RedisTier {
                ttl: Duration::from_secs(60),
            }),
        },
        Some(b_redis),
    );
    let loader = Counting::default();
    a.get_or_load("row:1", || loader.load()).await.unwrap();
    assert!(eventually_served_from_redis(&b_shared, "row:1", &loader).await);
    let cached = version(
        &b.get_or_load("row:1", || loader.load())
            .await
            .unwrap()
            .unwrap(),
    );
    let again = version(
        &b.get_or_load("row:1", || loader.load())
            .await
            .unwrap()
            .unwrap(),
    );
    assert_eq!(again, cached, "B's memory tier holds row 1");

    // B's connections (commands and subscription) go dead without a reset; A writes.
    proxy.freeze_existing_connections();
    a.invalidate("row:1").await;

    // B notices by itself: its listener's PING fails, it re-subscribes and clears its
    // memory tier; its command connection times out and is replaced.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let body = b
            .get_or_load("row:1", || loader.load())
            .await
            .unwrap()
            .unwrap();
        if version(&body) != cached {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B still serves the stale row"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            a.get_or_load("row:7", || loader.load()).await.unwrap();
            if eventually_served_from_redis(&b_shared, "row:7", &loader).await {
                break;
            }
        }
    })
    .await;
    assert!(
        recovered.is_ok(),
        "B reads through Redis again on a new connection"
    );
}

/// Between losing its subscription and getting it back, an instance hears no invalidation,
/// so its memory tier must not serve: another instance's write would be hidden behind it.
/// B's user is refused `SUBSCRIBE` by an ACL and its connections are killed, so B stays
/// unsubscribed for as long as the test needs while its commands still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_subscription_keeps_the_memory_tier_from_serving_until_it_is_back() {
    let server = PrivateRedis::start(None);
    server.ready().await;
    let mut admin = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // `ACL SETUSER b <rules>` on a connection of its own (the closure keeps it borrowed).
    let mut acl_conn = admin.clone();
    let mut acl = async |rules: &[&str]| {
        let _: () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg("b")
            .arg(rules)
            .query_async(&mut acl_conn)
            .await
            .unwrap();
    };
    acl(&["on", "nopass", "~*", "&*", "+@all"]).await;
    let TwoInstances { a, b, b_redis } = TwoInstances::start(
        (&server.url(), memory_only(Duration::from_secs(60))),
        &format!("redis://b:any@127.0.0.1:{}", server.port),
        "window",
        |b| b,
    )
    .await;
    let loader = Counting::default();
    let read = async |cache: &ResourceCache| {
        version(
            &cache
                .get_or_load("row:1", || loader.load())
                .await
                .unwrap()
                .unwrap(),
        )
    };
    let cached = read(&b).await;
    assert_eq!(read(&b).await, cached, "B's memory tier holds row 1");

    // B loses its subscription and cannot get it back.
    acl(&["-subscribe", "-psubscribe", "-ssubscribe"]).await;
    let _: () = redis::cmd("CLIENT")
        .arg(&["KILL", "USER", "b"])
        .query_async(&mut admin)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while b_redis.is_subscribed() {
        assert!(tokio::time::Instant::now() < deadline, "B noticed the loss");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A writes; B does not hear of it, and must not serve its memory entry.
    a.invalidate("row:1").await;
    let calls = loader.calls();
    let fresh = read(&b).await;
    assert_ne!(fresh, cached, "B served a row A had invalidated");
    // Nothing is kept in memory meanwhile: B loads again.
    read(&b).await;
    assert_eq!(
        loader.calls(),
        calls + 2,
        "B loads every read while unsubscribed"
    );

    // Allowed again: B re-subscribes and its memory tier serves again.
    acl(&["+@all"]).await;
    assert!(b_redis.wait_subscribed(Duration::from_secs(5)).await);
    let now = read(&b).await;
    assert_eq!(read(&b).await, now, "B's memory tier serves again");
    drop(server);
}
