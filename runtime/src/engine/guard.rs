//! The spec's access rules in front of the user's hooks: every operation first checks its
//! [`Rule`](crate::auth::Rule) (401 / 403), then calls `Hooks::authorize`; an owned
//! resource's scope is the caller's rows (built on [`Scope`], like a hook's scope), and a
//! written row must stay the caller's own.

use serde_json::Value as Json;

use super::Entity;
use super::context::{Operation, RequestContext};
use super::desc::Description;
use super::hooks::{Hooks, Scope};
use crate::problem::Problem;

/// The operation's access rule, then the hooks' `authorize(op, None)`.
pub(crate) fn authorize<R: Entity>(ctx: &RequestContext, op: Operation) -> Result<(), Problem> {
    R::DESC.access.rule(op).check(ctx.caller.as_ref())?;
    R::Hooks::authorize(ctx, op, None)
}

/// The hooks' scope, narrowed to the caller's rows when the resource has an owner field.
pub(crate) fn scope<R: Entity>(ctx: &RequestContext, op: Operation) -> Result<Scope, Problem> {
    let scope = R::Hooks::scope(ctx, op)?;
    match R::DESC.access.owner {
        Some(column) => Ok(scope.eq(column, subject(ctx)?)),
        None => Ok(scope),
    }
}

/// Whether a response of `op` under `scope` depends on the caller (then it is sent
/// `Cache-Control: private`).
pub(crate) fn is_private(desc: &Description, op: Operation, scope: &Scope) -> bool {
    !scope.is_all() || desc.access.is_private(op)
}

/// The version that cached bodies and ETags read under `scope` carry: a body read for one
/// caller never validates (304) for another.
pub(crate) fn version(desc: &Description, scope: &Scope) -> String {
    let version = desc.version();
    if scope.is_all() {
        version
    } else {
        format!("{version}|{}", scope.cache_key())
    }
}

fn subject(ctx: &RequestContext) -> Result<&str, Problem> {
    ctx.subject()
        .ok_or_else(|| Problem::unauthorized("owned rows need an authenticated caller"))
}

/// A created or updated row of an owned resource must belong to the caller: a body that
/// names another owner is refused with 403 (and the write rolled back).
pub(crate) fn check_owner<R: Entity>(ctx: &RequestContext, row: &R) -> Result<(), Problem> {
    let desc = R::DESC;
    let Some(column) = desc.access.owner else {
        return Ok(());
    };
    let subject = subject(ctx)?;
    let json = serde_json::to_value(row).map_err(super::json::internal)?;
    let owner = match json.get(column) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if same_value(desc, column, &owner, subject) {
        Ok(())
    } else {
        Err(Problem::forbidden(format!(
            "`{column}` must be your own ({subject}); rows of others cannot be written"
        )))
    }
}

/// `a` and `b` as values of `column` (so `42` and `042`, or a UUID's cases, are one).
fn same_value(desc: &Description, column: &str, a: &str, b: &str) -> bool {
    let kind = desc
        .columns
        .iter()
        .find(|(n, _)| *n == column)
        .map(|(_, k)| *k);
    match kind.map(|k| (k.parse(a), k.parse(b))) {
        Some((Ok(a), Ok(b))) => a == b,
        _ => false,
    }
}

/// For `POST` on an owned resource: a body without the owner field gets the caller's
/// subject in it (as a number when the column is numeric).
pub(crate) fn fill_owner(
    desc: &Description,
    ctx: &RequestContext,
    body: &mut serde_json::Map<String, Json>,
) -> Result<(), Problem> {
    let Some(column) = desc.access.owner else {
        return Ok(());
    };
    if body.contains_key(column) {
        return Ok(());
    }
    let subject = subject(ctx)?;
    let kind = desc
        .columns
        .iter()
        .find(|(n, _)| *n == column)
        .map(|(_, k)| *k);
    let value = match kind.map(|k| k.parse(subject)) {
        Some(Ok(super::Value::Int(n))) => Json::from(n),
        Some(Ok(super::Value::BigInt(n))) => Json::from(n),
        Some(Ok(_)) => Json::from(subject),
        _ => {
            return Err(Problem::forbidden(format!(
                "your subject cannot own {}: `{column}` cannot hold it",
                desc.name
            )));
        }
    };
    body.insert(column.to_owned(), value);
    Ok(())
}
