//! Behaviour the user adds to a resource: the [`Hooks`] trait, implemented once per resource
//! in `src/resources/<resource>.rs` (a file apiforge writes once and never touches again).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::future::Future;

use serde::Serialize;
use sqlx::PgConnection;
use sqlx::postgres::PgArguments;

use super::Entity;
use super::context::{Operation, RequestContext};
use super::desc::Description;
use crate::problem::Problem;

/// The hooks of one resource. Every method has a default that does nothing, so an empty
/// `impl Hooks<Product> for ProductHooks {}` keeps the generated behaviour.
///
/// Order of a write: `authorize(op, None)` → body validation → (transaction begins) →
/// `before_create`/`before_update` → the statement → `authorize(op, Some(row))` →
/// `after_*` → commit → caches invalidated. A `Problem` returned anywhere rolls the whole
/// transaction back, the hooks' own statements included.
///
/// An operation none of whose write hooks (`before_*`, `after_*`, `authorize`) you override,
/// on a resource without an `access.owner`, has nothing to roll back after its statement:
/// once its first write has shown this, it runs the statement alone, without `BEGIN` and
/// `COMMIT` (see `write::PlainWrites`).
pub trait Hooks<R: Entity>: Send + Sync + 'static {
    /// Names of the members [`Hooks::computed`] adds (documentation, and a full row is
    /// decoded into `R` only when this is not empty).
    const COMPUTED: &'static [&'static str] = &[];

    /// Whether `authorize` is also called with the row on `get` (costs a query per
    /// request, past the cache). Off by default: narrow reads with [`Hooks::scope`].
    const AUTHORIZE_READS: bool = false;

    /// Allows or refuses an operation: called with `None` before every operation, and with
    /// the row for create (the new row), update (the row as updated) and delete (the deleted
    /// row) inside the write's transaction — a refusal rolls the write back — and for get
    /// when [`Hooks::AUTHORIZE_READS`] is set. Return e.g. `Problem::new(403, …)`.
    fn authorize(ctx: &RequestContext, op: Operation, row: Option<&R>) -> Result<(), Problem> {
        let _ = (ctx, op, row);
        defaults::note::<R, Self>(defaults::Hook::Authorize);
        Ok(())
    }

    /// A condition added to list, get, update, delete and export statements (as bound
    /// parameters), e.g. rows of the caller's tenant. Rows outside it do not exist for this
    /// request (404). Cached lists and rows are keyed by the scope, and responses to a
    /// scoped request are `Cache-Control: private`.
    fn scope(ctx: &RequestContext, op: Operation) -> Result<Scope, Problem> {
        let _ = (ctx, op);
        Ok(Scope::all())
    }

    /// Changes or refuses a create body (after its validation), inside the transaction.
    fn before_create(
        ctx: &RequestContext,
        tx: &mut Tx<'_>,
        input: &mut R::Create,
    ) -> impl Future<Output = Result<(), Problem>> + Send {
        let _ = (ctx, tx, input);
        defaults::note::<R, Self>(defaults::Hook::BeforeCreate);
        async { Ok(()) }
    }

    /// Changes or refuses an update body (after its validation), inside the transaction.
    fn before_update(
        ctx: &RequestContext,
        tx: &mut Tx<'_>,
        key: &R::Key,
        input: &mut R::Update,
    ) -> impl Future<Output = Result<(), Problem>> + Send {
        let _ = (ctx, tx, key, input);
        defaults::note::<R, Self>(defaults::Hook::BeforeUpdate);
        async { Ok(()) }
    }

    /// After the insert, in its transaction.
    fn after_create(
        ctx: &RequestContext,
        tx: &mut Tx<'_>,
        row: &R,
    ) -> impl Future<Output = Result<(), Problem>> + Send {
        let _ = (ctx, tx, row);
        defaults::note::<R, Self>(defaults::Hook::AfterCreate);
        async { Ok(()) }
    }

    /// After the update, in its transaction.
    fn after_update(
        ctx: &RequestContext,
        tx: &mut Tx<'_>,
        row: &R,
    ) -> impl Future<Output = Result<(), Problem>> + Send {
        let _ = (ctx, tx, row);
        defaults::note::<R, Self>(defaults::Hook::AfterUpdate);
        async { Ok(()) }
    }

    /// After the delete (with the deleted row), in its transaction.
    fn after_delete(
        ctx: &RequestContext,
        tx: &mut Tx<'_>,
        row: &R,
    ) -> impl Future<Output = Result<(), Problem>> + Send {
        let _ = (ctx, tx, row);
        defaults::note::<R, Self>(defaults::Hook::AfterDelete);
        async { Ok(()) }
    }

    /// Adds computed members to the JSON of a full row (get, list without `fields`,
    /// create and update responses). Name them in [`Hooks::COMPUTED`].
    fn computed(row: &R, members: &mut Members<'_>) -> Result<(), Problem> {
        let _ = (row, members);
        Ok(())
    }
}

/// Whether a hook called was the trait's default body (which does nothing): each default
/// notes, on the calling thread, which hook of which implementation ran. A write whose hooks
/// are all defaults needs no transaction (see `write`): overriding a method is the only way
/// to change what it does, and an override never runs its own default's body (it may run
/// other hooks' defaults, which is why the note says which).
pub(crate) mod defaults {
    use std::any::TypeId;
    use std::cell::Cell;
    use std::marker::PhantomData;

    /// A hook a write calls.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Hook {
        Authorize,
        BeforeCreate,
        BeforeUpdate,
        AfterCreate,
        AfterUpdate,
        AfterDelete,
    }

    thread_local!(static CALLED: Cell<Option<(TypeId, Hook)>> = const { Cell::new(None) });

    /// Which implementation, `impl Hooks<R> for H`.
    fn id<R: 'static, H: ?Sized + 'static>() -> TypeId {
        TypeId::of::<(R, PhantomData<H>)>()
    }

    /// Called by the default of `hook` in `impl Hooks<R> for H`.
    pub(super) fn note<R: 'static, H: ?Sized + 'static>(hook: Hook) {
        CALLED.set(Some((id::<R, H>(), hook)));
    }

    /// Calls `f`, the `hook` of `impl Hooks<R> for H`, and says whether it was the
    /// default. Synchronous, so no other task runs on this thread in between: an async
    /// hook's default notes it when called, not when its future is polled.
    pub(crate) fn call<R: 'static, H: ?Sized + 'static, T>(
        hook: Hook,
        f: impl FnOnce() -> T,
    ) -> (T, bool) {
        CALLED.set(None);
        let out = f();
        (out, CALLED.take() == Some((id::<R, H>(), hook)))
    }
}

/// The write's transaction, as hooks see it: run statements on [`Tx::conn`]; name every
/// other resource a statement changes with [`Tx::touch`], so that its caches are
/// invalidated when the transaction commits.
pub struct Tx<'a> {
    conn: &'a mut PgConnection,
    touched: Vec<usize>,
    rows: Vec<(usize, String)>,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(conn: &'a mut PgConnection) -> Self {
        Self {
            conn,
            touched: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// The connection of the transaction: `sqlx::query(…).execute(tx.conn())`.
    pub fn conn(&mut self) -> &mut PgConnection {
        self.conn
    }

    /// Records that this transaction changed rows of `E`: its cached lists, and its rows
    /// cached under the generation (field selections, rows with aggregates), are
    /// invalidated after the commit. Name a changed row with [`Tx::touch_row`] too, so
    /// that its full representation, cached by key, is dropped as well.
    pub fn touch<E: Entity>(&mut self) {
        self.touch_desc(E::DESC);
    }

    /// Records that this transaction changed the row of `E` with key `key` (and so its
    /// lists): both are invalidated after the commit.
    pub fn touch_row<E: Entity>(&mut self, key: &E::Key) {
        self.touch_desc(E::DESC);
        self.rows
            .push((E::DESC.index, crate::cache::ResourceCache::row_key(key)));
    }

    pub(crate) fn touch_desc(&mut self, desc: &Description) {
        if !self.touched.contains(&desc.index) {
            self.touched.push(desc.index);
        }
    }

    /// The resources and row keys the hooks named.
    pub(crate) fn into_touched(self) -> Touched {
        Touched {
            resources: self.touched,
            rows: self.rows,
        }
    }
}

/// What a transaction's hooks changed besides the resource written.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    pub(crate) resources: Vec<usize>,
    pub(crate) rows: Vec<(usize, String)>,
}

impl Touched {
    /// Invalidates every named row, then bumps the named resources' generations.
    pub(crate) async fn invalidate(self, state: &super::AppState) {
        for (index, key) in &self.rows {
            state.caches.at(*index).invalidate(key).await;
        }
        for index in self.resources {
            state.caches.at(index).invalidate_lists().await;
        }
    }
}

/// Writes computed members into a row's JSON object.
pub struct Members<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Members<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Self { out }
    }

    /// Adds `"name": value`.
    pub fn insert(&mut self, name: &str, value: &impl Serialize) -> Result<(), Problem> {
        self.out.push(b',');
        serde_json::to_writer(&mut *self.out, name).map_err(super::json::internal)?;
        self.out.push(b':');
        serde_json::to_writer(&mut *self.out, value).map_err(super::json::internal)
    }
}

/// A condition on a resource's rows, made of column comparisons whose values are bound as
/// parameters (never spliced into SQL). Columns must be the resource's selectable ones.
///
/// ```
/// use apiforge_runtime::engine::Scope;
/// let mine = Scope::all().eq("user_id", 42);
/// assert!(!mine.is_all());
/// assert_eq!(mine.cache_key(), "user_id=42");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Eq(String, String),
    In(String, Vec<String>),
    IsNull(String),
}

impl Scope {
    /// No condition: every row.
    pub fn all() -> Self {
        Self::default()
    }

    /// Rows whose `column` equals `value` (parsed as the column's type; a value that
    /// cannot be of that type matches no row).
    pub fn eq(mut self, column: &str, value: impl ToString) -> Self {
        self.conditions
            .push(Condition::Eq(column.to_owned(), value.to_string()));
        self
    }

    /// Rows whose `column` is one of `values` (none: no row).
    pub fn is_in<I: IntoIterator<Item = V>, V: ToString>(
        mut self,
        column: &str,
        values: I,
    ) -> Self {
        let values = values.into_iter().map(|v| v.to_string()).collect();
        self.conditions
            .push(Condition::In(column.to_owned(), values));
        self
    }

    /// Rows whose `column` is NULL.
    pub fn is_null(mut self, column: &str) -> Self {
        self.conditions.push(Condition::IsNull(column.to_owned()));
        self
    }

    /// Whether there is no condition.
    pub fn is_all(&self) -> bool {
        self.conditions.is_empty()
    }

    /// What cached responses under this scope are keyed by.
    pub fn cache_key(&self) -> String {
        let mut key = String::new();
        for (i, c) in self.conditions.iter().enumerate() {
            if i > 0 {
                key.push('&');
            }
            let _ = match c {
                Condition::Eq(col, v) => write!(key, "{col}={}", escape(v)),
                Condition::In(col, vs) => write!(
                    key,
                    "{col}~{}",
                    vs.iter().map(|v| escape(v)).collect::<Vec<_>>().join(",")
                ),
                Condition::IsNull(col) => write!(key, "{col}!"),
            };
        }
        key
    }

    /// `sql` with the scope's condition in place of its marker comment, the values bound
    /// after the parameters already in `args`. Without conditions, `sql` as it is.
    pub(crate) fn apply<'s>(
        &self,
        desc: &Description,
        sql: &'s str,
        args: &mut PgArguments,
    ) -> Result<Cow<'s, str>, Problem> {
        if self.conditions.is_empty() {
            return Ok(Cow::Borrowed(sql));
        }
        let mut next = sqlx::Arguments::len(args) + 1;
        let mut parts = Vec::with_capacity(self.conditions.len());
        for c in &self.conditions {
            let column = match c {
                Condition::Eq(col, _) | Condition::In(col, _) | Condition::IsNull(col) => col,
            };
            let Some(&(name, kind)) = desc.columns.iter().find(|(n, _)| n == column) else {
                tracing::error!(
                    resource = desc.name,
                    column,
                    "scope names an unknown column"
                );
                return Err(Problem::internal());
            };
            let quoted = crate::resource::quote_ident(name);
            match c {
                Condition::Eq(_, raw) => match kind.parse(raw) {
                    Ok(value) => {
                        value.bind(args)?;
                        parts.push(format!("{quoted} = ${next}"));
                        next += 1;
                    }
                    Err(_) => parts.push("FALSE".to_owned()),
                },
                Condition::In(_, raws) => {
                    let mut alternatives = Vec::new();
                    for raw in raws {
                        if let Ok(value) = kind.parse(raw) {
                            value.bind(args)?;
                            alternatives.push(format!("${next}"));
                            next += 1;
                        }
                    }
                    if alternatives.is_empty() {
                        parts.push("FALSE".to_owned());
                    } else {
                        parts.push(format!("{quoted} IN ({})", alternatives.join(", ")));
                    }
                }
                Condition::IsNull(_) => parts.push(format!("{quoted} IS NULL")),
            }
        }
        let condition = parts.join(" AND ");
        Ok(Cow::Owned(
            sql.replace("/*and scope*/", &format!("AND ({condition})"))
                .replace("/*where scope*/", &format!("WHERE ({condition})")),
        ))
    }
}

fn escape(v: &str) -> String {
    v.replace('%', "%25")
        .replace('&', "%26")
        .replace(',', "%2C")
        .replace('=', "%3D")
        .replace(':', "%3A")
}
