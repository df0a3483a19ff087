//! A per-request batch loader (the DataLoader pattern) that turns N lookups into one query.
//!
//! Every `load(key)` made within one batch window (a few milliseconds), or until the batch
//! holds `max_batch` keys, is de-duplicated and answered by ONE call of the batch function
//! (for a [`Resource`], one `WHERE "pk" = ANY($1)` query). Results fan out to every
//! waiter; a failed batch reaches every waiter as the same [`LoadError`]. Found and missing
//! keys are remembered for the loader's lifetime, so create one loader per request: a
//! request never reads rows cached by another.
//!
//! The `dataloader` crate was considered: its batch function cannot fail as a whole and its
//! window is a count of executor yields, so this small tokio version is used instead.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sqlx::postgres::{PgPool, PgRow};
use tokio::sync::oneshot;

use crate::problem::Problem;
use crate::resource::Resource;

/// How long a batch waits for more keys after its first one, by default.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(2);
/// The most keys one batch holds, by default; a full batch is sent at once.
pub const DEFAULT_MAX_BATCH: usize = 500;

type BatchFuture<K, V> =
    Pin<Box<dyn Future<Output = Result<HashMap<K, V>, sqlx::Error>> + Send + 'static>>;
type BatchFn<K, V> = dyn Fn(Vec<K>) -> BatchFuture<K, V> + Send + Sync;
type Reply<V> = oneshot::Sender<Result<Option<V>, LoadError>>;

/// A batch loader of `V`s by key `K`. Cheap to clone (clones share batches and results).
///
/// ```no_run
/// # async fn f(pool: sqlx::PgPool) -> Result<(), apiforge_runtime::problem::Problem> {
/// use apiforge_runtime::prelude::*;
///
/// #[derive(Clone, sqlx::FromRow, Resource)]
/// #[resource(table = "users")]
/// struct User { #[resource(primary_key)] id: i64, name: String }
///
/// let users: Loader<i64, User> = Loader::new(pool);
/// // Both lookups are answered by one `SELECT ... WHERE "id" = ANY($1)`.
/// let (a, b) = tokio::join!(users.load(1), users.load(2));
/// let name = a?.map(|u| u.name);
/// # Ok(()) }
/// ```
pub struct Loader<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for Loader<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V> fmt::Debug for Loader<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loader")
            .field("window", &self.inner.window)
            .field("max_batch", &self.inner.max_batch)
            .finish_non_exhaustive()
    }
}

struct Inner<K, V> {
    fetch: Box<BatchFn<K, V>>,
    window: Duration,
    max_batch: usize,
    state: Mutex<State<K, V>>,
}

struct State<K, V> {
    /// Answers of finished batches (`None`: the key does not exist).
    done: HashMap<K, Option<V>>,
    /// Keys of the batch being gathered, in arrival order, with their waiters.
    gathering: Vec<K>,
    waiting: HashMap<K, Vec<Reply<V>>>,
    /// Keys of batches sent but not answered yet, with their waiters.
    in_flight: HashMap<K, Vec<Reply<V>>>,
    /// Bumped whenever a batch is sent, so a stale window timer does nothing.
    batch: u64,
    timer_armed: bool,
}

/// A failed batch, shared by every waiter of the batch. Converts into a [`Problem`]
/// (503 when the database is unavailable, 500 otherwise).
///
/// ```
/// use apiforge_runtime::loader::LoadError;
/// use apiforge_runtime::problem::Problem;
///
/// let err = LoadError::from(sqlx::Error::PoolTimedOut);
/// assert_eq!(Problem::from(err).status, 503);
/// ```
#[derive(Debug, Clone)]
pub struct LoadError(Arc<sqlx::Error>);

impl LoadError {
    /// The database error behind it.
    ///
    /// ```
    /// # use apiforge_runtime::loader::LoadError;
    /// let err = LoadError::from(sqlx::Error::PoolClosed);
    /// assert!(matches!(err.source_error(), sqlx::Error::PoolClosed));
    /// ```
    pub fn source_error(&self) -> &sqlx::Error {
        &self.0
    }
}

impl From<sqlx::Error> for LoadError {
    fn from(err: sqlx::Error) -> Self {
        Self(Arc::new(err))
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "batch load failed: {}", self.0)
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

impl From<LoadError> for Problem {
    fn from(err: LoadError) -> Self {
        Problem::from_sqlx_ref(&err.0, &[])
    }
}

impl axum::response::IntoResponse for LoadError {
    fn into_response(self) -> axum::response::Response {
        Problem::from(self).into_response()
    }
}

impl<R> Loader<R::Key, R>
where
    R: Resource + Clone + for<'r> sqlx::FromRow<'r, PgRow>,
{
    /// A loader of `R` by primary key through [`Resource::load_many`]. Create one per request.
    ///
    /// ```no_run
    /// # async fn f(pool: sqlx::PgPool) {
    /// # use apiforge_runtime::prelude::*;
    /// # #[derive(Clone, sqlx::FromRow, Resource)] #[resource(table = "users")]
    /// # struct User { #[resource(primary_key)] id: i64 }
    /// let users = Loader::<i64, User>::new(pool);
    /// # }
    /// ```
    pub fn new(pool: PgPool) -> Self {
        Self::from_fn(move |keys: Vec<R::Key>| {
            let pool = pool.clone();
            async move { R::load_many(&pool, &keys).await }
        })
    }
}

/// A fresh loader per request, from the `PgPool` in the router state: handlers take
/// `users: Loader<i64, User>` and every `load` of the request shares its batches.
///
/// ```
/// use apiforge_runtime::prelude::*;
/// use axum::{Router, routing::get, extract::Path};
///
/// #[derive(Clone, serde::Serialize, sqlx::FromRow, Resource)]
/// #[resource(table = "users")]
/// struct User { #[resource(primary_key)] id: i64, name: String }
///
/// async fn show(users: Loader<i64, User>, Path(id): Path<i64>) -> Result<Json<User>, Problem> {
///     users.load(id).await?.map(Json).ok_or_else(|| Problem::not_found("no such user"))
/// }
///
/// fn app(pool: sqlx::PgPool) -> Router {
///     Router::new().route("/users/{id}", get(show)).with_state(pool)
/// }
/// ```
impl<R, S> axum::extract::FromRequestParts<S> for Loader<R::Key, R>
where
    R: Resource + Clone + for<'r> sqlx::FromRow<'r, PgRow>,
    PgPool: axum::extract::FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        _parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::new(axum::extract::FromRef::from_ref(state)))
    }
}

impl<K, V> Loader<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A loader whose batches are answered by `fetch` (called with distinct keys; keys it
    /// leaves out of the map are "not found"). Use it for has-many groups
    /// ([`Resource::load_many_by`]) or any other batched lookup.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::collections::HashMap;
    /// use apiforge_runtime::loader::Loader;
    ///
    /// let squares = Loader::from_fn(|keys: Vec<i64>| async move {
    ///     Ok::<_, sqlx::Error>(keys.into_iter().filter(|k| *k < 10).map(|k| (k, k * k)).collect::<HashMap<_, _>>())
    /// });
    /// let (a, b) = tokio::join!(squares.load(3), squares.load(12));
    /// assert_eq!((a.unwrap(), b.unwrap()), (Some(9), None));
    /// # }
    /// ```
    pub fn from_fn<F, Fut>(fetch: F) -> Self
    where
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<HashMap<K, V>, sqlx::Error>> + Send + 'static,
    {
        Self {
            inner: Arc::new(Inner {
                fetch: Box::new(move |keys| Box::pin(fetch(keys))),
                window: DEFAULT_WINDOW,
                max_batch: DEFAULT_MAX_BATCH,
                state: Mutex::new(State {
                    done: HashMap::new(),
                    gathering: Vec::new(),
                    waiting: HashMap::new(),
                    in_flight: HashMap::new(),
                    batch: 0,
                    timer_armed: false,
                }),
            }),
        }
    }

    /// Sets how long a batch waits for more keys after its first one.
    ///
    /// ```
    /// # use std::{collections::HashMap, time::Duration};
    /// # use apiforge_runtime::loader::Loader;
    /// let loader = Loader::from_fn(|keys: Vec<i32>| async move {
    ///     Ok::<_, sqlx::Error>(HashMap::<i32, i32>::new())
    /// })
    /// .with_window(Duration::from_millis(5))
    /// .with_max_batch(100);
    /// ```
    ///
    /// # Panics
    /// If the loader was already cloned (set it right after creating the loader).
    pub fn with_window(mut self, window: Duration) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("configure a Loader before cloning it")
            .window = window;
        self
    }

    /// Sets the most keys a batch holds (at least 1); a full batch is sent at once.
    ///
    /// # Panics
    /// If the loader was already cloned (set it right after creating the loader).
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("configure a Loader before cloning it")
            .max_batch = max_batch.max(1);
        self
    }

    /// The value of `key` (`None` if it does not exist), batched with every other load of
    /// the same window.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use std::collections::HashMap;
    /// # use apiforge_runtime::loader::Loader;
    /// let names = Loader::from_fn(|keys: Vec<u8>| async move {
    ///     Ok::<_, sqlx::Error>(keys.into_iter().map(|k| (k, format!("user {k}"))).collect::<HashMap<_, _>>())
    /// });
    /// assert_eq!(names.load(7).await.unwrap().as_deref(), Some("user 7"));
    /// # }
    /// ```
    pub async fn load(&self, key: K) -> Result<Option<V>, LoadError> {
        let reply = {
            let mut state = self.lock();
            if let Some(found) = state.done.get(&key) {
                return Ok(found.clone());
            }
            self.enqueue(&mut state, key)
        };
        receive(reply).await
    }

    /// The values of `keys` (missing ones absent), all queued in the same batch.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use std::collections::HashMap;
    /// # use apiforge_runtime::loader::Loader;
    /// let double = Loader::from_fn(|keys: Vec<i32>| async move {
    ///     Ok::<_, sqlx::Error>(keys.into_iter().map(|k| (k, 2 * k)).collect::<HashMap<_, _>>())
    /// });
    /// let found = double.load_many([1, 2, 2]).await.unwrap();
    /// assert_eq!(found, HashMap::from([(1, 2), (2, 4)]));
    /// # }
    /// ```
    pub async fn load_many(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<HashMap<K, V>, LoadError> {
        let mut found = HashMap::new();
        let mut replies = Vec::new();
        {
            let mut state = self.lock();
            for key in keys {
                match state.done.get(&key) {
                    Some(Some(value)) => {
                        found.insert(key, value.clone());
                    }
                    Some(None) => {}
                    None => {
                        let reply = self.enqueue(&mut state, key.clone());
                        replies.push((key, reply));
                    }
                }
            }
        }
        for (key, reply) in replies {
            if let Some(value) = receive(reply).await? {
                found.insert(key, value);
            }
        }
        Ok(found)
    }

    fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        self.inner.lock()
    }

    /// Adds `key` to the in-flight batch that already asks for it, or to the batch being
    /// gathered, sending that batch when full or arming its window timer.
    fn enqueue(
        &self,
        state: &mut State<K, V>,
        key: K,
    ) -> oneshot::Receiver<Result<Option<V>, LoadError>> {
        let (tx, rx) = oneshot::channel();
        if let Some(waiters) = state.in_flight.get_mut(&key) {
            waiters.push(tx);
            return rx;
        }
        match state.waiting.entry(key) {
            Entry::Occupied(mut e) => e.get_mut().push(tx),
            Entry::Vacant(e) => {
                state.gathering.push(e.key().clone());
                e.insert(vec![tx]);
            }
        }
        if state.gathering.len() >= self.inner.max_batch {
            send_batch(&self.inner, state);
        } else if !state.timer_armed {
            state.timer_armed = true;
            let batch = state.batch;
            let inner = Arc::clone(&self.inner);
            tokio::spawn(async move {
                tokio::time::sleep(inner.window).await;
                let mut state = inner.lock();
                if state.batch == batch {
                    send_batch(&inner, &mut state);
                }
            });
        }
        rx
    }
}

async fn receive<V>(
    reply: oneshot::Receiver<Result<Option<V>, LoadError>>,
) -> Result<Option<V>, LoadError> {
    // A dropped sender means the batch task died (panicked or the runtime shut down).
    reply
        .await
        .unwrap_or_else(|_| Err(LoadError::from(sqlx::Error::WorkerCrashed)))
}

/// Sends the gathered keys as one batch on a task of its own, so that a caller giving up
/// does not cancel the other waiters' query.
fn send_batch<K, V>(inner: &Arc<Inner<K, V>>, state: &mut State<K, V>)
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    state.batch += 1;
    state.timer_armed = false;
    let keys = std::mem::take(&mut state.gathering);
    if keys.is_empty() {
        return;
    }
    for key in &keys {
        if let Some(waiters) = state.waiting.remove(key) {
            state.in_flight.insert(key.clone(), waiters);
        }
    }
    let inner = Arc::clone(inner);
    tokio::spawn(async move {
        let flight = Flight { inner, keys };
        let result = (flight.inner.fetch)(flight.keys.clone()).await;
        let mut state = flight.inner.lock();
        match result {
            Ok(mut found) => {
                for key in &flight.keys {
                    let value = found.remove(key);
                    for tx in state.in_flight.remove(key).unwrap_or_default() {
                        let _ = tx.send(Ok(value.clone()));
                    }
                    state.done.insert(key.clone(), value);
                }
            }
            Err(err) => {
                // Not remembered: a later load in the same request may try again.
                let err = LoadError::from(err);
                for key in &flight.keys {
                    for tx in state.in_flight.remove(key).unwrap_or_default() {
                        let _ = tx.send(Err(err.clone()));
                    }
                }
            }
        }
    });
}

/// A batch on its way. If the batch function panics, dropping this drops the waiters'
/// reply channels, so they fail instead of waiting forever.
struct Flight<K: Eq + Hash, V> {
    inner: Arc<Inner<K, V>>,
    keys: Vec<K>,
}

impl<K: Eq + Hash, V> Drop for Flight<K, V> {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        for key in &self.keys {
            state.in_flight.remove(key);
        }
    }
}

impl<K, V> Inner<K, V> {
    fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        // The state stays consistent even if a holder panicked: every update is one step.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
