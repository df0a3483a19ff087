//! Start-up that waits for the database and fails with one clear line.
//!
//! The order a generated `main` follows, and why:
//! 1. [`bind`] the port first: a taken port fails at once, naming the address, before
//!    anything touches the database (a second instance must not migrate and then die).
//! 2. [`Starting::serve`] serves that port from now on, while the database is not there
//!    yet: the probes say what start-up waits for (503), every other route a 503 problem.
//! 3. [`connect_with_retry`] retries with backoff for [`Retry::total`], logging each attempt
//!    with host and port (never the password).
//! 4. [`migrate`] applies the migrations; a failure names the file and says what to do.
//! 5. [`Starting::serve_app`] hands the same server to the API's router: no connection is
//!    refused or reset in between.
//!
//! `<binary> migrate` runs [`migrate`] alone; `<binary> migrate revert` runs [`revert`]
//! (the last applied migration's `.down.sql`).

use std::convert::Infallible;
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use axum::routing::get;
use http::{StatusCode, header};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgDatabaseError, PgPool};

use crate::monitor::log_safe;
use crate::problem::{Problem, set_retry_after};

/// Why the server could not start: one line each, saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A missing or malformed environment variable.
    #[error("{0}")]
    Config(String),
    /// The port is taken, or the address is not this machine's.
    #[error("cannot listen on {addr}: {source} ({hint})")]
    Bind {
        addr: String,
        source: std::io::Error,
        hint: String,
    },
    /// The database did not answer within the retry window.
    #[error(
        "cannot reach the database at {target} after {attempts} attempts over {waited:.1?}: {error} \
         (is it running? DATABASE_RETRY_FOR sets how long to wait)"
    )]
    Unreachable {
        target: String,
        attempts: u32,
        waited: Duration,
        error: String,
    },
    /// The database answered but refused us (authentication, permissions, a bad name).
    #[error("the database at {target} refused the connection: {error}")]
    Refused { target: String, error: String },
    /// A migration could not be applied, or the migrations do not match the database.
    #[error("{0}")]
    Migration(String),
    /// Serving failed after start-up.
    #[error("the server stopped: {0}")]
    Serve(#[from] std::io::Error),
}

impl From<String> for StartupError {
    fn from(message: String) -> Self {
        Self::Config(message)
    }
}

/// How long start-up waits for the database, and how often it tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Give up after this long (0: try once).
    pub total: Duration,
    /// The first pause; each next one doubles, up to `max_delay`.
    pub first_delay: Duration,
    /// The longest pause between attempts.
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            total: Duration::from_secs(60),
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl Retry {
    /// The default, with `total` from `DATABASE_RETRY_FOR` when set: seconds (`90`), or
    /// with a unit (`500ms`, `30s`, `2m`); `0` tries once.
    pub fn from_env() -> Result<Self, StartupError> {
        let mut retry = Self::default();
        if let Ok(text) = std::env::var("DATABASE_RETRY_FOR") {
            retry.total = parse_duration(&text).ok_or_else(|| {
                StartupError::Config(format!(
                    "DATABASE_RETRY_FOR must be a duration such as 60, 30s, 500ms or 2m, got {text:?}"
                ))
            })?;
        }
        Ok(retry)
    }
}

fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit.trim() {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}

/// Binds `host:port` (non-blocking, for tokio), or says which address is taken and what to
/// do.
pub fn bind(host: &str, port: u16) -> Result<std::net::TcpListener, StartupError> {
    bind_as(host, port, ("HOST", "PORT"))
}

/// [`bind`] for an address set by other variables (`vars`: the host's and the port's), which
/// the error names.
pub fn bind_as(
    host: &str,
    port: u16,
    (host_var, port_var): (&str, &str),
) -> Result<std::net::TcpListener, StartupError> {
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let listener = std::net::TcpListener::bind((host, port)).map_err(|source| {
        let hint = match source.kind() {
            std::io::ErrorKind::AddrInUse => {
                format!("another process listens there: stop it or set {port_var} to a free port")
            }
            std::io::ErrorKind::AddrNotAvailable => {
                format!("{host_var} is not an address of this machine")
            }
            std::io::ErrorKind::PermissionDenied => {
                format!("ports below 1024 need privileges: set {port_var}")
            }
            _ => format!("check {host_var} and {port_var}"),
        };
        StartupError::Bind {
            addr: addr.clone(),
            source,
            hint,
        }
    })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves `router` on `listener` in a task of its own until `shutdown` completes (in-flight
/// requests finish first): the metrics and statistics on `monitoring.port`. An error there
/// is logged, not returned: losing the scrapers' listener must not stop the API.
pub fn spawn_server(
    listener: std::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<std::net::SocketAddr, StartupError> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %err, %addr, "a listener stopped");
        }
    });
    Ok(addr)
}

/// A connection idle for less than this is handed out without a ping (see [`ping_if_idle`]).
pub const PING_IDLE_AFTER: Duration = Duration::from_millis(500);

/// The pool's check of a connection it hands out (`PgPoolOptions::before_acquire`, with
/// `test_before_acquire(false)`): a `ping` only when it sat idle for [`PING_IDLE_AFTER`]
/// or more.
///
/// sqlx pings every connection it hands out by default: a round trip to Postgres before
/// each query, ≈ 3,700 instructions and two system calls of a database GET (callgrind,
/// bench/PROFILES.md "Session 12"), twice the latency of the query alone on a local
/// server. A connection used less than half a second ago is alive (the same bypass window
/// as HikariCP's `aliveBypassWindowMs`); one that died since fails its query with an I/O
/// error, answered 503 like any outage, and is dropped by the pool. A failed ping closes
/// the connection and the pool takes another.
///
/// ```
/// use apiforge_runtime::startup;
/// use sqlx::postgres::PgPoolOptions;
///
/// let options = PgPoolOptions::new()
///     .test_before_acquire(false)
///     .before_acquire(startup::ping_if_idle);
/// ```
pub fn ping_if_idle(
    conn: &mut sqlx::PgConnection,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, Result<bool, sqlx::Error>> {
    use sqlx::Connection;
    if meta.idle_for < PING_IDLE_AFTER {
        return Box::pin(std::future::ready(Ok(true)));
    }
    Box::pin(async move { Ok(conn.ping().await.is_ok()) })
}

/// `url`'s connection options with the spec's `statement_timeout` on every connection, and
/// sqlx's own slow-statement log off: the runtime logs slow queries by shape, without their
/// values, at the spec's threshold (`database.slow_query`), and sqlx's would log each one's
/// text a second time at 1 s, exports included.
pub fn connect_options(
    url: &str,
    statement_timeout_ms: u64,
) -> Result<PgConnectOptions, StartupError> {
    use sqlx::ConnectOptions;
    let options: PgConnectOptions = url.parse().map_err(|err| {
        StartupError::Config(format!(
            "DATABASE_URL is not a PostgreSQL URL: {}",
            log_safe(&err)
        ))
    })?;
    Ok(options
        .options([("statement_timeout", statement_timeout_ms.to_string())])
        .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(1)))
}

/// `host:port/database` of a connection's options: what logs and errors name (never the
/// user's password).
pub fn target(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    )
}

/// Tries `attempt` until it connects, for at most `retry.total`, pausing with doubling
/// delays. Only an unreachable database is retried: one that answers with an error
/// (authentication, permissions) fails at once. Each failed attempt is logged with the
/// target and the next delay, and shown by `starting`'s probes.
pub async fn connect_with_retry<F, Fut>(
    options: &PgConnectOptions,
    retry: Retry,
    starting: Option<&Starting>,
    mut attempt: F,
) -> Result<PgPool, StartupError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<PgPool, sqlx::Error>>,
{
    let target = target(options);
    let started = Instant::now();
    let mut delay = retry.first_delay;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let err = match attempt().await {
            Ok(pool) => {
                if attempts > 1 {
                    tracing::info!(database = %target, attempts, "database reached");
                }
                return Ok(pool);
            }
            Err(err) => err,
        };
        if !crate::dbgate::is_unreachable(&err) {
            return Err(StartupError::Refused {
                target,
                error: log_safe(&err),
            });
        }
        let waited = started.elapsed();
        if waited + delay > retry.total {
            return Err(StartupError::Unreachable {
                target,
                attempts,
                waited,
                error: log_safe(&err),
            });
        }
        tracing::warn!(
            database = %target,
            attempt = attempts,
            retry_in_ms = delay.as_millis() as u64,
            error = %log_safe(&err),
            "database not reachable yet; retrying"
        );
        if let Some(starting) = starting {
            starting.waiting_for(format!(
                "the database at {target} (attempt {attempts} failed)"
            ));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(retry.max_delay);
    }
}

/// Applies `migrator`'s migrations, or says which file failed, why, and what to do.
pub async fn migrate(pool: &PgPool, migrator: &Migrator) -> Result<(), StartupError> {
    migrator
        .run(pool)
        .await
        .map_err(|err| StartupError::Migration(migration_error(migrator, &err)))
}

/// `migrations/0003_add_stock.sql` (or `….up.sql`) of a version (sqlx keeps the name
/// with `_` as spaces).
fn file_of(migrator: &Migrator, version: i64) -> String {
    migrator
        .iter()
        .find(|m| m.version == version && m.migration_type.is_up_migration())
        .map_or_else(
            || format!("migration {version:04}"),
            |m| {
                format!(
                    "migrations/{version:04}_{}{}",
                    m.description.replace(' ', "_"),
                    m.migration_type.suffix()
                )
            },
        )
}

/// Reverts the last migration applied to the database with its down file
/// (`NNNN_<name>.down.sql`, sqlx's reversible format), and says which. Refused, reverting
/// nothing, when that migration has no down file (apiforge writes one only when every
/// step can be undone without losing data; the migration's header says why not) or was
/// edited since it was applied. Unlike `sqlx migrate revert`, it never skips a later
/// migration without a down file to revert an earlier one.
pub async fn revert(pool: &PgPool, migrator: &Migrator) -> Result<String, StartupError> {
    use sqlx::migrate::Migrate;
    let fail = |err: MigrateError| StartupError::Migration(migration_error(migrator, &err));
    let applied = {
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| fail(MigrateError::Execute(e)))?;
        conn.ensure_migrations_table().await.map_err(fail)?;
        conn.list_applied_migrations().await.map_err(fail)?
    };
    let Some(last) = applied.iter().max_by_key(|m| m.version) else {
        return Err(StartupError::Migration(
            "no migration is applied to this database: nothing to revert".to_owned(),
        ));
    };
    let file = file_of(migrator, last.version);
    let up = migrator
        .iter()
        .find(|m| m.version == last.version && m.migration_type.is_up_migration());
    match up {
        None => return Err(fail(MigrateError::VersionMissing(last.version))),
        Some(up) if up.checksum != last.checksum => {
            return Err(fail(MigrateError::VersionMismatch(last.version)));
        }
        Some(_) => {}
    }
    if !migrator
        .iter()
        .any(|m| m.version == last.version && m.migration_type.is_down_migration())
    {
        return Err(StartupError::Migration(format!(
            "{file}, the last migration applied, has no down file: it has steps that cannot be \
             undone without losing data (its header names them). Nothing was reverted; to change \
             the schema, change the spec and run `apiforge generate`"
        )));
    }
    // Every applied version above `last - 1` that has a down file: `last` alone.
    migrator
        .undo(pool, last.version - 1)
        .await
        .map_err(|err| match err {
            MigrateError::ExecuteMigration(source, _) => {
                let down = file.replace(".up.sql", ".down.sql");
                let no_tx = migrator.iter().any(|m| {
                    m.version == last.version && m.migration_type.is_down_migration() && m.no_tx
                });
                let undone = if no_tx {
                    "it runs outside a transaction and is safe to run again"
                } else {
                    "nothing of it was applied: it runs in one transaction"
                };
                StartupError::Migration(format!(
                    "reverting {file} failed in {down}: {}; {undone}. A value written since may \
                     not fit the old schema (a NULL where NOT NULL comes back, a value too long \
                     or too large for the old type): fix those rows and revert again",
                    log_safe(&source)
                ))
            }
            other => fail(other),
        })?;
    Ok(format!(
        "reverted {file} with {}",
        file.replace(".up.sql", ".down.sql")
    ))
}

fn migration_error(migrator: &Migrator, err: &MigrateError) -> String {
    match err {
        MigrateError::ExecuteMigration(source, version) => {
            let file = file_of(migrator, *version);
            let no_tx = migrator.iter().any(|m| m.version == *version && m.no_tx);
            let mut why = log_safe(source);
            if let sqlx::Error::Database(db) = source
                && let Some(pg) = db.try_downcast_ref::<PgDatabaseError>()
                && let Some(detail) = pg.detail()
            {
                why = format!("{why} ({})", log_safe(&detail));
            }
            let applied = if no_tx {
                "it runs outside a transaction and is safe to run again"
            } else {
                "nothing of it was applied: it runs in one transaction"
            };
            format!(
                "migration {file} failed: {why}; {applied}. Fix the rows at fault \
                 (`apiforge plan --database-url URL` shows them), or change the spec and run \
                 `apiforge generate --redo-last` to rewrite this not-yet-applied migration, then start again"
            )
        }
        MigrateError::VersionMismatch(version) => format!(
            "{} was edited after it was applied to this database (its checksum differs): restore \
             it from version control (`git checkout -- {0}`); to change the schema, change the \
             spec and run `apiforge generate`, which writes a new migration",
            file_of(migrator, *version)
        ),
        MigrateError::VersionMissing(version) => format!(
            "the database has migration {version:04} applied, which this build does not have: \
             a newer build migrated it. Deploy that build, or run this one with MIGRATE=off \
             while a rolling deploy finishes"
        ),
        MigrateError::Dirty(version) => format!(
            "{} was left partially applied: check the schema by hand (`apiforge drift`), then \
             delete its row from `_sqlx_migrations` and start again",
            file_of(migrator, *version)
        ),
        other => format!("cannot apply the migrations: {}", log_safe(other)),
    }
}

/// One server on the bound socket from start-up to shutdown: it answers start-up probes
/// until [`Starting::serve_app`] hands every later request to the API's router.
///
/// One server instead of a start-up server stopped and replaced by the API's: stopping a
/// server closes the connections it has accepted but not read yet, and a client that
/// connected just then saw its connection reset.
#[derive(Debug)]
pub struct Starting {
    status: Arc<Mutex<String>>,
    app: Arc<OnceLock<Router>>,
    addr: std::net::SocketAddr,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Starting {
    /// Serves on `listener` until `shutdown` completes. Until [`Starting::serve_app`]:
    /// `/health/live` 200, `/health` and `/health/ready` 503 with `{"status":"starting",
    /// "waiting_for":…}`, anything else a 503 problem; all with `Retry-After`.
    ///
    /// `shutdown` before start-up finished (SIGTERM while the database is still awaited)
    /// ends the process at once with status 0: nothing has been served that could finish.
    pub fn serve(
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Self, StartupError> {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let status = Arc::new(Mutex::new("the database".to_owned()));
        let app = Arc::new(OnceLock::new());
        let switch = Switch {
            app: app.clone(),
            starting: starting_router(status.clone()),
            peer: None,
        };
        let ready = app.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, switch)
                .with_graceful_shutdown(async move {
                    shutdown.await;
                    if ready.get().is_none() {
                        tracing::info!("stopped during start-up");
                        std::process::exit(0);
                    }
                })
                .await
        });
        Ok(Self {
            status,
            app,
            addr,
            server,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// What the probes say start-up waits for.
    pub fn waiting_for(&self, what: impl Display) {
        *self.status.lock().expect("status lock") = what.to_string();
    }

    /// Hands every request from now on to `router` and serves until the shutdown signal
    /// (in-flight requests finish first).
    pub async fn serve_app(self, router: Router) -> Result<(), StartupError> {
        // Only this consumes `self`, so the cell is empty.
        let _ = self.app.set(router);
        tracing::info!("listening on http://{}", self.addr);
        match self.server.await {
            Ok(served) => Ok(served?),
            Err(panicked) => Err(StartupError::Serve(std::io::Error::other(panicked))),
        }
    }
}

/// The start-up answers.
fn starting_router(status: Arc<Mutex<String>>) -> Router {
    let ready = move || {
        let status = status.clone();
        async move { waiting(&status) }
    };
    Router::new()
        .route("/health", get(ready.clone()))
        .route("/health/ready", get(ready))
        .route(
            "/health/live",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .fallback(|| async {
            Problem::service_unavailable("the server is starting, try again shortly")
        })
}

/// Routes each request to the API once it is set, to the start-up answers before, with the
/// peer's address as `ConnectInfo` (rate limits and your handlers read it). The cost on the
/// API's path is one atomic load and one `Arc` clone per request.
#[derive(Clone)]
struct Switch {
    app: Arc<OnceLock<Router>>,
    starting: Router,
    peer: Option<std::net::SocketAddr>,
}

impl tower_service::Service<axum::extract::Request> for Switch {
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture<Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: axum::extract::Request) -> Self::Future {
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let mut router = self.app.get().unwrap_or(&self.starting).clone();
        router.call(request)
    }
}

/// Each connection gets the [`Switch`], knowing its peer.
impl<'a> tower_service::Service<axum::serve::IncomingStream<'a, tokio::net::TcpListener>>
    for Switch
{
    type Response = Switch;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Switch, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(
        &mut self,
        stream: axum::serve::IncomingStream<'a, tokio::net::TcpListener>,
    ) -> Self::Future {
        std::future::ready(Ok(Switch {
            peer: Some(*stream.remote_addr()),
            ..self.clone()
        }))
    }
}

fn waiting(status: &Mutex<String>) -> Response {
    let what = status.lock().expect("status lock").clone();
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({"status": "starting", "database": "down", "waiting_for": what})
            .to_string(),
    )
        .into_response();
    set_retry_after(response.status(), response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_for_takes_seconds_or_a_unit() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5h"), None);
    }

    #[test]
    fn a_taken_port_names_the_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = taken.local_addr().expect("addr").port();
        let err = bind("127.0.0.1", port).expect_err("taken");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("cannot listen on 127.0.0.1:{port}: ")),
            "{text}"
        );
        assert!(text.contains("set PORT"), "{text}");
    }

    #[tokio::test]
    async fn an_unreachable_database_is_retried_then_named() {
        let options: PgConnectOptions = "postgres://app:secret@127.0.0.1:1/shop"
            .parse()
            .expect("url");
        let retry = Retry {
            total: Duration::from_millis(300),
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(100),
        };
        let mut calls = 0;
        let err = connect_with_retry(&options, retry, None, || {
            calls += 1;
            async { Err(sqlx::Error::PoolTimedOut) }
        })
        .await
        .expect_err("never reachable");
        assert!(calls >= 3, "{calls} attempts");
        let text = err.to_string();
        assert!(text.contains("127.0.0.1:1/shop"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
}
