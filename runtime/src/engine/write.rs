//! Writes: create, update and delete, each in one transaction with the resource's hooks,
//! then the caches they change invalidated once the transaction committed.

use sqlx::postgres::PgArguments;

use super::body::Validate;
use super::context::{Operation, RequestContext};
use super::desc::Description;
use super::hooks::{Hooks, Members, Tx};
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
    let mut db = begin(state).await?;
    let mut tx = Tx::new(&mut db);
    R::Hooks::before_create(ctx, &mut tx, &mut input).await?;
    let mut args = PgArguments::default();
    R::bind_create(input, &mut args).map_err(super::value::bind_error)?;
    let row: R = sqlx::query_as_with(desc.sql.insert, args)
        .fetch_one(tx.conn())
        .timed(desc.shapes.create)
        .await
        .map_err(|err| state.db_error(err, desc.constraints))?;
    super::guard::check_owner(ctx, &row)?;
    R::Hooks::authorize(ctx, Operation::Create, Some(&row))?;
    R::Hooks::after_create(ctx, &mut tx, &row).await?;
    let touched = tx.into_touched();
    db.commit().await.map_err(|err| state.db_error(err, &[]))?;
    invalidate_lists(
        state,
        std::iter::once(desc.index).chain(desc.aggregated_by.iter().copied()),
    )
    .await;
    touched.invalidate(state).await;
    written(row)
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
    let mut db = begin(state).await?;
    let mut tx = Tx::new(&mut db);
    R::Hooks::before_update(ctx, &mut tx, &id, &mut input).await?;
    let mut args = PgArguments::default();
    bind_key::<R>(&id, &mut args)?;
    R::bind_update(input, &mut args).map_err(super::value::bind_error)?;
    let sql = scope.apply(desc, desc.sql.update, &mut args)?;
    let row: R = sqlx::query_as_with(&sql, args)
        .fetch_optional(tx.conn())
        .timed(desc.shapes.update)
        .await
        .map_err(|err| state.db_error(err, desc.constraints))?
        .ok_or_else(|| not_found(desc, &id))?;
    super::guard::check_owner(ctx, &row)?;
    R::Hooks::authorize(ctx, Operation::Update, Some(&row))?;
    R::Hooks::after_update(ctx, &mut tx, &row).await?;
    let touched = tx.into_touched();
    db.commit().await.map_err(|err| state.db_error(err, &[]))?;
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
    let mut db = begin(state).await?;
    let mut tx = Tx::new(&mut db);
    let mut args = PgArguments::default();
    bind_key::<R>(&id, &mut args)?;
    let sql = scope.apply(desc, desc.sql.delete, &mut args)?;
    let row: R = sqlx::query_as_with(&sql, args)
        .fetch_optional(tx.conn())
        .timed(desc.shapes.delete)
        .await
        .map_err(|err| delete_error(state, err, desc))?
        .ok_or_else(|| not_found(desc, &id))?;
    R::Hooks::authorize(ctx, Operation::Delete, Some(&row))?;
    R::Hooks::after_delete(ctx, &mut tx, &row).await?;
    let touched = tx.into_touched();
    db.commit().await.map_err(|err| state.db_error(err, &[]))?;
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
