//! Exports (every row, streamed from one server-side cursor) and rankings.

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use http::header;
use sqlx::Row;
use sqlx::postgres::PgArguments;

use super::Entity;
use super::context::{Operation, RequestContext};
use super::desc::Ranking;
use super::json::write_object;
use super::read::field_set;
use super::state::AppState;
use crate::cache::CachedBody;
use crate::extract::QueryMap;
use crate::fieldset::FieldSet;
use crate::monitor::query::{QueryTimer, TimedExt};
use crate::problem::Problem;

/// Bytes buffered before a chunk of an export is sent.
const EXPORT_CHUNK: usize = 32 * 1024;

/// Every row, streamed from one query as it is read (`fetch`, never `OFFSET` pages), in
/// chunks of about 32 KiB; a slow client slows the query down instead of filling memory.
/// NDJSON, or one JSON array with `format=json`; only `fields` when given (a bad field is a
/// 400 before anything streams).
pub fn export<R: Entity>(
    state: &AppState,
    ctx: &RequestContext,
    query: &QueryMap,
) -> Result<Response, Problem> {
    let desc = R::DESC;
    super::guard::authorize::<R>(ctx, Operation::Export)?;
    query.allow_only(&["format", "fields"])?;
    let json = match query.get("format") {
        None | Some("ndjson") => false,
        Some("json") => true,
        Some(other) => {
            return Err(Problem::bad_request(format!(
                "invalid query parameter `format`: unknown variant `{other}`, expected `ndjson` or `json`"
            ))
            .with_error("format", "expected `ndjson` or `json`"));
        }
    };
    let fields = field_set::<R>(query.get("fields"))?;
    let scope = super::guard::scope::<R>(ctx, Operation::Export)?;
    let mut args = PgArguments::default();
    let sql = if fields.is_all() {
        scope.apply(desc, desc.sql.export, &mut args)?.into_owned()
    } else {
        let tail = scope.apply(desc, desc.sql.export_tail, &mut args)?;
        format!("{}{tail}", R::select_sql(&fields))
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let pool = state.pool.clone();
    tokio::spawn(async move {
        let fail = |err: sqlx::Error| {
            tracing::error!(error = %err, resource = desc.name, "export failed");
            std::io::Error::other(err)
        };
        // The export may outlast `statement_timeout`: lift it for this transaction only.
        let mut db = match pool.begin().await {
            Ok(db) => db,
            Err(err) => {
                let _ = tx.send(Err(fail(err))).await;
                return;
            }
        };
        if let Err(err) = sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *db)
            .await
        {
            let _ = tx.send(Err(fail(err))).await;
            return;
        }
        let timer = QueryTimer::start(desc.shapes.export);
        let mut count = 0;
        let mut rows = sqlx::query_with(&sql, args).fetch(&mut *db);
        let mut buf = Vec::with_capacity(EXPORT_CHUNK + 1024);
        if json {
            buf.push(b'[');
        }
        loop {
            match rows.try_next().await {
                Ok(Some(row)) => {
                    if json && count > 0 {
                        buf.push(b',');
                    }
                    count += 1;
                    if let Err(err) = write_object::<R>(&row, &fields, &mut buf, |_| Ok(())) {
                        let _ = tx.send(Err(std::io::Error::other(err))).await;
                        return;
                    }
                    if !json {
                        buf.push(b'\n');
                    }
                    if buf.len() >= EXPORT_CHUNK
                        && tx
                            .send(Ok(Bytes::from(std::mem::take(&mut buf))))
                            .await
                            .is_err()
                    {
                        return; // the client went away
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    timer.fail();
                    let _ = tx.send(Err(fail(err))).await;
                    return;
                }
            }
        }
        timer.finish(count);
        drop(rows);
        // Read-only: ending the transaction only restores the connection's settings.
        if let Err(err) = db.rollback().await {
            tracing::warn!(error = %err, resource = desc.name, "export: cannot end its transaction");
        }
        if json {
            buf.push(b']');
        }
        let _ = tx.send(Ok(Bytes::from(buf))).await;
    });
    // `poll_recv` keeps answering `None` once closed, as a fused stream must.
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let content_type = if json {
        "application/json"
    } else {
        "application/x-ndjson"
    };
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response())
}

/// `{"items": [...]}` of a ranking: every visible column and the `rank`.
pub async fn ranking<R: Entity>(
    state: &AppState,
    ctx: &RequestContext,
    ranking: &Ranking,
    query: &QueryMap,
) -> Result<CachedBody, Problem> {
    super::guard::authorize::<R>(ctx, Operation::Ranking)?;
    query.allow_only(&[])?;
    let rows = sqlx::query(ranking.sql)
        .fetch_all(&state.pool)
        .timed(ranking.shape)
        .await
        .map_err(|err| Problem::from_sqlx(err, &[]))?;
    let fields = FieldSet::all::<R>();
    let mut out = b"{\"items\":[".to_vec();
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_object::<R>(row, &fields, &mut out, |out| {
            let rank: i64 = row
                .try_get("rank")
                .map_err(|err| Problem::from_sqlx(err, &[]))?;
            out.extend_from_slice(format!(",\"rank\":{rank}").as_bytes());
            Ok(())
        })?;
    }
    out.extend_from_slice(b"]}");
    Ok(CachedBody::versioned(&R::DESC.version(), out))
}
