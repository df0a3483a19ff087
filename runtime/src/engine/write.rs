//! Writes: create, update and delete, each in one transaction with the resource's hooks,
//! then the caches they change invalidated once the transaction committed.
//!
//! A write whose hooks are all the trait's defaults, on a resource without an owner field,
//! has nothing that could roll it back after its statement: it runs the statement alone
//! (autocommitted), saving `BEGIN` and `COMMIT`, two round trips to Postgres and ≈ 11,500
//! instructions of a `PATCH` under callgrind (bench/PROFILES.md). Whether the hooks are
//! defaults is learned by the first write of each operation, which runs in a transaction
//! (see [`PlainWrites`]).

use std::sync::atomic::{AtomicU8, Ordering};

use sqlx::postgres::PgArguments;

use super::body::Validate;
use super::context::{Operation, RequestContext};
use super::desc::Description;
use super::hooks::defaults::{self, Hook};
use super::hooks::{Hooks, Members, Touched, Tx};
use super::json::write_struct;
use super::state::AppState;
use super::{Entity, bind_key, not_found};
use crate::cache::ResourceCache;
use crate::monitor::query::TimedExt;
use crate::problem::Problem;

/// A written row and its JSON (the row's fields and the hooks' computed members).
#[derive(Debug, Clone)]
pub struct Written<R> {
    pub row: R,
    pub json: Vec<u8>,
}

/// A transaction on the pool, unless the database is known to be down.
async fn begin(state: &AppState) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, Problem> {
    let pool = state.db().await?;
    pool.begin().await.map_err(|err| state.db_error(err, &[]))
}

fn written<R: Entity>(row: R) -> Result<Written<R>, Problem> {
    let mut json = Vec::with_capacity(256);
    write_struct(&row, &mut json, |out| {
        if R::Hooks::COMPUTED.is_empty() {
            Ok(())
        } else {
            R::Hooks::computed(&row, &mut Members::new(out))
        }
    })?;
    Ok(Written { row, json })
}

/// Bumps the generations of the resources a committed write changed.
async fn invalidate_lists(state: &AppState, indices: impl IntoIterator<Item = usize>) {
    for i in indices {
        state.caches.at(i).invalidate_lists().await;
    }
}

/// After a committed update or delete of row `id`: its cached row (and the resource's
/// lists), the lists of resources aggregating it, and what the hooks touched.
async fn invalidate_row(
    state: &AppState,
    desc: &Description,
    id: &impl std::fmt::Display,
    touched: super::hooks::Touched,
) {
    state
        .caches
        .at(desc.index)
        .invalidate(&ResourceCache::row_key(id))
        .await;
    invalidate_lists(state, desc.aggregated_by.iter().copied()).await;
    touched.invalidate(state).await;
}

/// Inserts a validated row (absent fields with a default take it), with the hooks.
pub async fn create<R: Entity>(
    state: &AppState,
    ctx: &RequestContext,
    mut input: R::Create,
) -> Result<Written<R>, Problem> {
    let desc: &Description = R::DESC;
    super::guard::authorize::<R>(ctx, Operation::Create)?;
    input.validate()?;
    let plain = state.plain_writes(desc);
    let (row, touched) = if plain.is(Operation::Create) {
        let mut args = PgArguments::default();
        R::bind_create(input, &mut args).map_err(super::value::bind_error)?;
        let row = insert(state, desc, args, state.db().await?).await?;
        (row, Touched::default())
    } else {
        let mut db = begin(state).await?;
        let mut tx = Tx::new(&mut db);
        let (before, mut defaulted) = hook::<R, _>(Hook::BeforeCreate, || {
            R::Hooks::before_create(ctx, &mut tx, &mut input)
        });
        before.await?;
        let mut args = PgArguments::default();
        R::bind_create(input, &mut args).map_err(super::value::bind_error)?;
        let row: R = insert(state, desc, args, tx.conn()).await?;
        super::guard::check_owner(ctx, &row)?;
        defaulted &= called(hook::<R, _>(Hook::Authorize, || {
            R::Hooks::authorize(ctx, Operation::Create, Some(&row))
        }))?;
        let (after, default) = hook::<R, _>(Hook::AfterCreate, || {
            R::Hooks::after_create(ctx, &mut tx, &row)
        });
        after.await?;
        let touched = tx.into_touched();
        db.commit().await.map_err(|err| state.db_error(err, &[]))?;
        plain.learn(desc, Operation::Create, defaulted && default);
        (row, touched)
    };
    invalidate_lists(
        state,
        std::iter::once(desc.index).chain(desc.aggregated_by.iter().copied()),
    )
    .await;
    touched.invalidate(state).await;
    written(row)
}

async fn insert<'c, R: Entity>(
    state: &AppState,
    desc: &Description,
    args: PgArguments,
    db: impl sqlx::PgExecutor<'c>,
) -> Result<R, Problem> {
    sqlx::query_as_with(desc.sql.insert, args)
        .fetch_one(db)
        .timed(desc.shapes.create)
        .await
        .map_err(|err| state.db_error(err, desc.constraints))
}

/// Runs an update or delete statement (`RETURNING` the row) on `db`, timed as `shape`: the
/// row, or 404 when no row with key `id` (in the scope) matched.
async fn changed_row<'c, R: Entity>(
    db: impl sqlx::PgExecutor<'c>,
    sql: &str,
    args: PgArguments,
    shape: &'static str,
    id: &R::Key,
    on_error: impl FnOnce(sqlx::Error) -> Problem,
) -> Result<R, Problem> {
    sqlx::query_as_with(sql, args)
        .fetch_optional(db)
        .timed(shape)
        .await
        .map_err(on_error)?
        .ok_or_else(|| not_found(R::DESC, id))
}

/// Calls `f`, the `hook` of `R`'s hooks, and says whether it was the default.
fn hook<R: Entity, T>(hook: Hook, f: impl FnOnce() -> T) -> (T, bool) {
    defaults::call::<R, R::Hooks, T>(hook, f)
}

/// A synchronous hook's result, and whether it was the default (see [`defaults::call`]).
fn called((result, default): (Result<(), Problem>, bool)) -> Result<bool, Problem> {
    result.map(|()| default)
}

/// Applies a validated partial update (absent fields keep their value), with the hooks.
pub async fn update<R: Entity>(
    state: &AppState,
    ctx: &RequestContext,
    id: R::Key,
    mut input: R::Update,
) -> Result<Written<R>, Problem> {
    let desc: &Description = R::DESC;
    super::guard::authorize::<R>(ctx, Operation::Update)?;
    input.validate()?;
    let scope = super::guard::scope::<R>(ctx, Operation::Update)?;
    let plain = state.plain_writes(desc);
    let statement = |input: R::Update| {
        let mut args = PgArguments::default();
        bind_key::<R>(&id, &mut args)?;
        R::bind_update(input, &mut args).map_err(super::value::bind_error)?;
        let sql = scope.apply(desc, desc.sql.update, &mut args)?;
        Ok::<_, Problem>((sql, args))
    };
    let (row, touched) = if plain.is(Operation::Update) {
        let (sql, args) = statement(input)?;
        let row = changed_row(
            state.db().await?,
            &sql,
            args,
            desc.shapes.update,
            &id,
            |err| state.db_error(err, desc.constraints),
        )
        .await?;
        (row, Touched::default())
    } else {
        let mut db = begin(state).await?;
        let mut tx = Tx::new(&mut db);
        let (before, mut defaulted) = hook::<R, _>(Hook::BeforeUpdate, || {
            R::Hooks::before_update(ctx, &mut tx, &id, &mut input)
        });
        before.await?;
        let (sql, args) = statement(input)?;
        let row: R = changed_row(tx.conn(), &sql, args, desc.shapes.update, &id, |err| {
            state.db_error(err, desc.constraints)
        })
        .await?;
        super::guard::check_owner(ctx, &row)?;
        defaulted &= called(hook::<R, _>(Hook::Authorize, || {
            R::Hooks::authorize(ctx, Operation::Update, Some(&row))
        }))?;
        let (after, default) = hook::<R, _>(Hook::AfterUpdate, || {
            R::Hooks::after_update(ctx, &mut tx, &row)
        });
        after.await?;
        let touched = tx.into_touched();
        db.commit().await.map_err(|err| state.db_error(err, &[]))?;
        plain.learn(desc, Operation::Update, defaulted && default);
        (row, touched)
    };
    invalidate_row(state, desc, &id, touched).await;
    written(row)
}

/// Deletes the row, with the hooks; 404 when there is none (or it is outside the scope),
/// 409 when other rows still reference it.
pub async fn delete<R: Entity>(
    state: &AppState,
    ctx: &RequestContext,
    id: R::Key,
) -> Result<R, Problem> {
    let desc: &Description = R::DESC;
    super::guard::authorize::<R>(ctx, Operation::Delete)?;
    let scope = super::guard::scope::<R>(ctx, Operation::Delete)?;
    let mut args = PgArguments::default();
    bind_key::<R>(&id, &mut args)?;
    let sql = scope.apply(desc, desc.sql.delete, &mut args)?;
    let plain = state.plain_writes(desc);
    let (row, touched) = if plain.is(Operation::Delete) {
        let row = changed_row(
            state.db().await?,
            &sql,
            args,
            desc.shapes.delete,
            &id,
            |err| delete_error(state, err, desc),
        )
        .await?;
        (row, Touched::default())
    } else {
        let mut db = begin(state).await?;
        let mut tx = Tx::new(&mut db);
        let row: R = changed_row(tx.conn(), &sql, args, desc.shapes.delete, &id, |err| {
            delete_error(state, err, desc)
        })
        .await?;
        let defaulted = called(hook::<R, _>(Hook::Authorize, || {
            R::Hooks::authorize(ctx, Operation::Delete, Some(&row))
        }))?;
        let (after, default) = hook::<R, _>(Hook::AfterDelete, || {
            R::Hooks::after_delete(ctx, &mut tx, &row)
        });
        after.await?;
        let touched = tx.into_touched();
        db.commit().await.map_err(|err| state.db_error(err, &[]))?;
        plain.learn(desc, Operation::Delete, defaulted && default);
        (row, touched)
    };
    invalidate_lists(state, desc.cascades_to.iter().copied()).await;
    invalidate_row(state, desc, &id, touched).await;
    Ok(row)
}

/// A row still referenced elsewhere is a 409 explained with the foreign key's words.
fn delete_error(state: &AppState, err: sqlx::Error, desc: &Description) -> Problem {
    if let sqlx::Error::Database(db) = &err
        && db.is_foreign_key_violation()
    {
        let words = db
            .constraint()
            .and_then(|c| desc.referenced_by.iter().find(|(name, _)| *name == c))
            .map_or("it is still referenced by other rows", |(_, words)| *words);
        return Problem::conflict(format!("cannot delete: {words}"));
    }
    state.db_error(err, &[])
}

/// Which of a resource's writes run their statement alone: those whose hooks the first
/// committed write of the operation found to be all defaults, on a resource without an
/// owner field (whose check follows the statement and may refuse it). Until then, and for
/// any operation with a hook of its own, the write runs in its transaction.
#[derive(Debug, Default)]
pub struct PlainWrites([AtomicU8; 3]);

const UNKNOWN: u8 = 0;
const PLAIN: u8 = 1;
const HOOKED: u8 = 2;

impl PlainWrites {
    fn slot(op: Operation) -> Option<usize> {
        match op {
            Operation::Create => Some(0),
            Operation::Update => Some(1),
            Operation::Delete => Some(2),
            _ => None,
        }
    }

    /// Whether `op` runs its statement alone.
    pub fn is(&self, op: Operation) -> bool {
        Self::slot(op).is_some_and(|i| self.0[i].load(Ordering::Relaxed) == PLAIN)
    }

    /// What a committed write of `op` found: whether its hooks were all defaults.
    fn learn(&self, desc: &Description, op: Operation, defaults: bool) {
        let Some(i) = Self::slot(op) else { return };
        let plain = defaults && desc.access.owner.is_none();
        let mode = if plain { PLAIN } else { HOOKED };
        if self.0[i].swap(mode, Ordering::Relaxed) == UNKNOWN && plain {
            tracing::debug!(
                resource = desc.name,
                %op,
                "default hooks: this write runs its statement without a transaction"
            );
        }
    }
}
