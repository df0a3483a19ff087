//! Exports (every row, streamed from one server-side cursor) and rankings.

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures_util::TryStreamExt;
use http::header;
use sqlx::postgres::PgArguments;
use sqlx::{PgPool, Row};

use super::Entity;
use super::context::{Operation, RequestContext};
use super::desc::Ranking;
use super::json::{Positions, write_object_at};
use super::read::field_set;
use super::state::{AppState, StreamLimits};
use crate::cache::CachedBody;
use crate::extract::QueryMap;
use crate::fieldset::FieldSet;
use crate::monitor::log_safe;
use crate::monitor::query::{StreamTimer, TimedExt};
use crate::problem::Problem;

/// Bytes buffered before a chunk of an export is sent.
const EXPORT_CHUNK: usize = 32 * 1024;

/// Every row, streamed from one query as it is read (`fetch`, never `OFFSET` pages), in
/// chunks of about 32 KiB; a slow client slows the query down instead of filling memory.
/// NDJSON, or one JSON array with `format=json`; only `fields` when given (a bad field is a
/// 400 before anything streams).
pub async fn export<R: Entity>(
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
    // Bounded before anything runs: a place among the streams, and a reachable database.
    let permit = state.stream_permit()?;
    let limits = state.stream_limits();
    let pool = state.db().await?.clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let cut = Arc::new(AtomicBool::new(false));
    let out = Chunks {
        tx,
        cut: cut.clone(),
        idle: limits.idle_write_timeout,
    };
    tokio::spawn(async move {
        let _permit = permit;
        let timer = StreamTimer::start(desc.shapes.export);
        let (outcome, rows) =
            match stream_rows::<R>(&pool, &sql, args, &fields, json, &out, limits).await {
                Ok(rows) => ("complete", rows),
                Err((outcome, rows, err)) => {
                    tracing::warn!(resource = desc.name, rows, error = %err, "export stopped");
                    out.cut_off();
                    (outcome, rows)
                }
            };
        timer.finish(outcome, rows);
    });
    // `poll_recv` keeps answering `None` once closed, as a fused stream must; a stream cut
    // off midway ends with an error, so the client sees a broken transfer, not a short one.
    let body = futures_util::stream::poll_fn(move |cx| match rx.poll_recv(cx) {
        Poll::Ready(None) if cut.swap(false, Ordering::Relaxed) => {
            Poll::Ready(Some(Err(std::io::Error::other("export stopped"))))
        }
        other => other,
    });
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

/// The sending side of an export's body.
struct Chunks {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    cut: Arc<AtomicBool>,
    idle: Duration,
}

impl Chunks {
    /// Hands a chunk to the body; an error when the client left or took nothing for the
    /// idle timeout (a reader that slow would hold a pool connection for ever).
    async fn send(&self, chunk: Vec<u8>) -> Result<(), (&'static str, String)> {
        match tokio::time::timeout(self.idle, self.tx.send(Ok(Bytes::from(chunk)))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(("aborted", "the client went away".to_owned())),
            Err(_) => Err((
                "aborted",
                format!("the client took no data for {} s", self.idle.as_secs()),
            )),
        }
    }

    /// Marks the body as broken: it ends with an error instead of a clean end.
    fn cut_off(&self) {
        self.cut.store(true, Ordering::Relaxed);
    }
}

type Stopped = (&'static str, u64, String);

/// Runs the export's query in a read-only transaction with the streams' own statement
/// timeout and sends its rows in chunks; the row count, or why it stopped.
async fn stream_rows<R: Entity>(
    pool: &PgPool,
    sql: &str,
    args: PgArguments,
    fields: &FieldSet,
    json: bool,
    out: &Chunks,
    limits: StreamLimits,
) -> Result<u64, Stopped> {
    let failed = |count: u64| move |err: sqlx::Error| ("failed", count, log_safe(&err).to_string());
    let mut db = pool.begin().await.map_err(failed(0))?;
    // The pool's statement timeout is for short queries; a stream has its own, so that it
    // ends even when its client reads just fast enough not to be cut off.
    let timeout = format!(
        "SET LOCAL statement_timeout = {}",
        limits.statement_timeout.as_millis()
    );
    sqlx::query(&timeout)
        .execute(&mut *db)
        .await
        .map_err(failed(0))?;
    let mut count = 0;
    let mut rows = sqlx::query_with(sql, args).fetch(&mut *db);
    let mut buf = Vec::with_capacity(EXPORT_CHUNK + 1024);
    let mut positions = Positions::default();
    if json {
        buf.push(b'[');
    }
    while let Some(row) = rows.try_next().await.map_err(failed(count))? {
        if json && count > 0 {
            buf.push(b',');
        }
        count += 1;
        write_object_at::<R>(&row, fields, &mut positions, &mut buf, |_| Ok(()))
            .map_err(|p| ("failed", count, p.detail.unwrap_or_default()))?;
        if !json {
            buf.push(b'\n');
        }
        if buf.len() >= EXPORT_CHUNK {
            let chunk = std::mem::replace(&mut buf, Vec::with_capacity(EXPORT_CHUNK + 1024));
            out.send(chunk).await.map_err(|(o, why)| (o, count, why))?;
        }
    }
    drop(rows);
    // Read-only: ending the transaction only restores the connection's settings.
    if let Err(err) = db.rollback().await {
        tracing::warn!(error = %log_safe(&err), "export: cannot end its transaction");
    }
    if json {
        buf.push(b']');
    }
    out.send(buf).await.map_err(|(o, why)| (o, count, why))?;
    Ok(count)
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
    let mut positions = Positions::default();
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_object_at::<R>(row, &fields, &mut positions, &mut out, |out| {
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
