//! Reads: a page of rows (filters, sort, offset or keyset, field selection, includes,
//! aggregates) and one row, through the resource's cache.

use std::collections::HashMap;
use std::fmt::Write as _;

use sqlx::postgres::{PgArguments, PgRow};
#[cfg(feature = "uuid")]
use sqlx::types::Uuid;
use sqlx::{Column, Row};

use super::context::{Operation, RequestContext};
use super::desc::{Description, Include, SortSql};
use super::hooks::{Hooks, Members, Scope};
use super::json::{Positions, internal, member_name, write_object, write_object_at};
use super::state::AppState;
use super::value::{Kind, Value};
use super::{Entity, not_found};
use crate::cache::CachedBody;
use crate::extract::QueryMap;
use crate::fieldset::FieldSet;
use crate::monitor::query::{QueryTimer, TimedExt};
use crate::pagination::{Cursor, clamp_limit};
use crate::problem::Problem;
use crate::response::CacheControl;

/// A JSON body and the `Cache-Control` it is to be sent with.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: CachedBody,
    pub cache_control: CacheControl,
}

impl Answer {
    /// `body` with the resource's `Cache-Control`: `private` when the response depends on
    /// the caller (a scope, or an operation that is not public), `public, immutable` for
    /// an immutable row.
    pub(crate) fn of(desc: &Description, body: CachedBody, private: bool) -> Self {
        let cache_control = if body.immutable && !private {
            CacheControl::immutable()
        } else if private {
            CacheControl::from_static(desc.cache.private_cache_control)
        } else {
            CacheControl::from_static(desc.cache.cache_control)
        };
        Self {
            body,
            cache_control,
        }
    }
}

/// The query parameters every list takes, besides its filters.
const LIST_PARAMS: &[&str] = &["sort", "limit", "offset", "cursor", "fields", "include"];

/// One parameter's value; a parameter given twice is a 400.
fn single<'q>(query: &'q QueryMap, name: &'static str) -> Result<Option<&'q str>, Problem> {
    let mut values = query.get_all(name);
    let first = values.next();
    if values.next().is_some() {
        return Err(Problem::bad_request(format!(
            "invalid query parameter `{name}`: given more than once"
        ))
        .with_error(name, "given more than once"));
    }
    Ok(first)
}

fn bad_param(name: &str, message: impl std::fmt::Display) -> Problem {
    Problem::bad_request(format!("invalid query parameter `{name}`: {message}"))
        .with_error(name, message.to_string())
}

fn unprocessable_cursor(message: impl std::fmt::Display) -> Problem {
    Problem::unprocessable(format!("invalid query parameter `cursor`: {message}"))
        .with_error("cursor", message.to_string())
}

/// Refuses parameters outside `fixed` and the filters.
fn check_params(
    query: &QueryMap,
    fixed: &[&str],
    filters: &[super::desc::Filter],
) -> Result<(), Problem> {
    let known = |k: &str| fixed.contains(&k) || filters.iter().any(|f| f.param == k);
    if query.iter().all(|(k, _)| known(k)) {
        return Ok(());
    }
    let allowed: Vec<&str> = fixed
        .iter()
        .copied()
        .chain(filters.iter().map(|f| f.param))
        .collect();
    query.allow_only(&allowed)
}

/// The requested `fields` of `R` (all when absent); unknown or hidden names, or none
/// (`fields=`: the document's array has at least one item), are a 400.
pub fn field_set<R: Entity>(requested: Option<&str>) -> Result<FieldSet, Problem> {
    match requested {
        Some(spec) => Ok(FieldSet::parse::<R>(spec)?),
        None => Ok(FieldSet::all::<R>()),
    }
}

/// The `include=` relations requested, each checked against the resource's (`include=`
/// names none: a 400, as for `fields=`).
pub fn includes(
    desc: &'static Description,
    requested: Option<&str>,
) -> Result<Vec<&'static Include>, Problem> {
    let Some(list) = requested else {
        return Ok(Vec::new());
    };
    let mut chosen: Vec<&'static Include> = Vec::new();
    for name in list.split(',').map(str::trim) {
        let Some(inc) = desc.includes.iter().find(|i| i.name == name) else {
            let valid = desc
                .includes
                .iter()
                .map(|i| i.name)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(bad_param(
                "include",
                format!("unknown relation `{name}`; valid: {valid}"),
            ));
        };
        if !chosen.iter().any(|c| c.name == inc.name) {
            chosen.push(inc);
        }
    }
    Ok(chosen)
}

/// A parsed list request.
struct ListRequest<'q> {
    sort: &'static SortSql,
    fields: FieldSet,
    includes: Vec<&'static Include>,
    limit: i64,
    page: Paging<'q>,
    filters: Vec<Option<Value>>,
    scope: Scope,
}

enum Paging<'q> {
    Offset(i64),
    After(&'q str),
}

impl ListRequest<'_> {
    /// The cache key of the page: every parameter as parsed, so one page under any order
    /// or spelling of its parameters, and the scope it was read under.
    fn cache_key(&self, desc: &Description) -> String {
        let mut key = String::with_capacity(64);
        let _ = write!(
            key,
            "{}:{}:{}",
            self.sort.key,
            self.limit,
            self.fields.cache_key()
        );
        let _ = match self.page {
            Paging::Offset(n) => write!(key, ":o{n}"),
            Paging::After(token) => write!(key, ":c{token}"),
        };
        for (f, v) in desc.list.filters.iter().zip(&self.filters) {
            if let Some(v) = v {
                let _ = write!(key, "&{}={v}", f.param);
            }
        }
        if !self.scope.is_all() {
            let _ = write!(key, "|{}", self.scope.cache_key());
        }
        key
    }
}

fn parse_list<'q, R: Entity>(
    ctx: &RequestContext,
    query: &'q QueryMap,
) -> Result<ListRequest<'q>, Problem> {
    let desc = R::DESC;
    let list = &desc.list;
    check_params(query, LIST_PARAMS, list.filters)?;
    let wanted = single(query, "sort")?.unwrap_or(list.default_sort);
    let sort = list.sorts.iter().find(|s| s.key == wanted).ok_or_else(|| {
        let allowed = list
            .sorts
            .iter()
            .map(|s| s.key)
            .collect::<Vec<_>>()
            .join(", ");
        Problem::bad_request(format!(
            "invalid query parameter `sort`: cannot sort by `{wanted}`; allowed: {allowed}"
        ))
        .with_error("sort", format!("allowed values: {allowed}"))
    })?;
    let fields = field_set::<R>(single(query, "fields")?)?;
    let includes = includes(desc, single(query, "include")?)?;
    let limit = match single(query, "limit")? {
        Some(raw) => Some(
            super::value::integer::<i64>(raw)
                .ok_or_else(|| bad_param("limit", "must be an integer"))?,
        ),
        None => None,
    };
    let limit = clamp_limit(limit, list.default_limit, list.max_limit);
    // `cursor=` (empty) is the first page, as when absent.
    let cursor = single(query, "cursor")?.filter(|token| !token.is_empty());
    let page = match (cursor, single(query, "offset")?) {
        (Some(_), Some(_)) => {
            // Each fits the document; together they cannot be processed.
            return Err(Problem::unprocessable(
                "invalid query parameters: use either `cursor` or `offset`, not both",
            )
            .with_error("cursor", "cannot be combined with offset"));
        }
        (Some(token), None) => Paging::After(token),
        (None, Some(raw)) => match super::value::integer::<i64>(raw) {
            Some(n) if n >= 0 => Paging::Offset(n),
            _ => return Err(bad_param("offset", "must be 0 or more")),
        },
        (None, None) => Paging::Offset(0),
    };
    let filters = list
        .filters
        .iter()
        .map(|f| {
            single(query, f.param)?
                .map(|raw| f.kind.parse(raw).map_err(|m| bad_param(f.param, m)))
                .transpose()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let scope = super::guard::scope::<R>(ctx, Operation::List)?;
    Ok(ListRequest {
        sort,
        fields,
        includes,
        limit,
        page,
        filters,
        scope,
    })
}

/// One page of rows as JSON (`{"items": [...], "next_cursor": ...}`): filters combined
/// with AND, sorted with the key as tie-breaker, paged by `offset` or by keyset after
/// `cursor`; only `fields` when given. Pages are cached under the resource's generation
/// (every write bumps it); pages with `include` are loaded fresh (embedded rows change
/// with other resources).
pub async fn list<R: Entity>(
    state: &AppState,
    ctx: &RequestContext,
    query: &QueryMap,
) -> Result<Answer, Problem> {
    let desc = R::DESC;
    super::guard::authorize::<R>(ctx, Operation::List)?;
    let req = parse_list::<R>(ctx, query)?;
    let scoped = super::guard::is_private(desc, Operation::List, &req.scope);
    // The page's loading is boxed, and only allocated when it runs: inline, its state (the
    // statements' futures) made this future large, and every move of it on a cache hit a
    // large copy (bench/PROFILES.md "Session 13").
    if !req.includes.is_empty() {
        let body = Box::pin(load_page::<R>(state, &req)).await?;
        return Ok(Answer::of(desc, body, scoped));
    }
    let cache = state.caches.at(desc.index);
    let key = cache.list_key(&req.cache_key(desc));
    let body = cache
        .get_or_load(&key, || {
            Box::pin(async { load_page::<R>(state, &req).await.map(Some) })
        })
        .await?
        .ok_or_else(Problem::internal)?;
    Ok(Answer::of(desc, body, scoped))
}

/// The keyset parameter (`[sort value, key]` as JSON text) of a cursor made for `sort`,
/// each value checked against its column's kind. A cursor the server did not make for this
/// listing is a 422 (it fits the parameter's schema, a string, but cannot be processed).
fn cursor_param(desc: &Description, token: &str, sort: &SortSql) -> Result<String, Problem> {
    let cursor = Cursor::<(String, serde_json::Value), serde_json::Value>::decode(token)?;
    let (made_for, value) = cursor.sort;
    if made_for != sort.key {
        return Err(unprocessable_cursor(format!(
            "it continues a list sorted by `{made_for}`, not `{}`",
            sort.key
        )));
    }
    if !sort.kind.accepts_json(&value)
        || cursor.key.is_null()
        || !desc.key_kind.accepts_json(&cursor.key)
    {
        return Err(unprocessable_cursor("cursor is not valid for this listing"));
    }
    Ok(serde_json::json!([value, cursor.key]).to_string())
}

/// Runs the page's query (one more per included relation) and writes its JSON.
async fn load_page<R: Entity>(
    state: &AppState,
    req: &ListRequest<'_>,
) -> Result<CachedBody, Problem> {
    let desc = R::DESC;
    let sort = req.sort;
    let mut args = PgArguments::default();
    for (f, v) in desc.list.filters.iter().zip(&req.filters) {
        f.kind.bind(v.as_ref(), &mut args)?;
    }
    let (tail, full, shape) = match req.page {
        Paging::After(token) => {
            Value::Text(cursor_param(desc, token, sort)?).bind(&mut args)?;
            Value::BigInt(req.limit + 1).bind(&mut args)?;
            (sort.after, sort.full_after, sort.after_shape)
        }
        Paging::Offset(offset) => {
            Value::BigInt(req.limit + 1).bind(&mut args)?;
            Value::BigInt(offset).bind(&mut args)?;
            (sort.offset, sort.full_offset, sort.offset_shape)
        }
    };
    let sql = if req.fields.is_all() {
        req.scope.apply(desc, full, &mut args)?
    } else {
        // The cursor is made of the sort column and the key; includes need their columns.
        let mut fields = req.fields.clone();
        fields.insert::<R>(sort.field)?;
        fields.insert::<R>(R::PRIMARY_KEY)?;
        for inc in &req.includes {
            fields.insert::<R>(inc.by)?;
        }
        let tail = req.scope.apply(desc, tail, &mut args)?;
        format!("{}{tail}", R::select_sql(&fields)).into()
    };
    let rows = sqlx::query_with(&sql, args)
        .fetch_all(state.db().await?)
        .timed(shape)
        .await
        .map_err(|err| state.db_error(err, desc.constraints))?;
    // The JSON holds the requested fields only (the statement read more).
    let fields = &req.fields;
    let limit = usize::try_from(req.limit).unwrap_or(0);
    let items = &rows[..rows.len().min(limit)];
    // The page's rows only: the one read past it tells whether there is a next page.
    let embedded = Embedded::load(state, &req.includes, items).await?;
    let mut out = Vec::with_capacity(64 + items.len() * 256 + embedded.size_hint(items.len()));
    out.extend_from_slice(b"{\"items\":[");
    let mut positions = Positions::default();
    for (i, row) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_row::<R>(row, i, fields, Some(&mut positions), &embedded, &mut out)?;
    }
    out.extend_from_slice(b"],\"next_cursor\":");
    match items.last().filter(|_| rows.len() > limit) {
        Some(last) => {
            let mut keyset = FieldSet::parse::<R>(sort.field)?;
            keyset.insert::<R>(R::PRIMARY_KEY)?;
            let values =
                serde_json::to_value(R::serialize_row_fields(last, &keyset)).map_err(internal)?;
            let cursor = Cursor {
                sort: (sort.key, values[sort.field].clone()),
                key: values[R::PRIMARY_KEY].clone(),
            };
            serde_json::to_writer(&mut out, &cursor.encode()).map_err(internal)?;
        }
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    Ok(CachedBody::versioned(
        &super::guard::version(desc, &req.scope),
        out,
    ))
}

/// One row's JSON: its selected fields (by `positions` for the rows of a page, by name for
/// a single row), the included relations (`at`: the row's position in the rows `embedded`
/// was loaded for), and for full rows the aggregates and the hooks' computed members.
fn write_row<R: Entity>(
    row: &PgRow,
    at: usize,
    fields: &FieldSet,
    positions: Option<&mut Positions>,
    embedded: &Embedded,
    out: &mut Vec<u8>,
) -> Result<(), Problem> {
    let desc = R::DESC;
    let extra = |out: &mut Vec<u8>| {
        embedded.write(at, out)?;
        if fields.is_all() {
            for column in desc.aggregates {
                let members: &str = row
                    .try_get(*column)
                    .map_err(|err| Problem::from_sqlx(err, &[]))?;
                out.push(b',');
                out.extend_from_slice(members.as_bytes());
            }
            if !R::Hooks::COMPUTED.is_empty() {
                let typed = R::from_row(row).map_err(|err| Problem::from_sqlx(err, &[]))?;
                R::Hooks::computed(&typed, &mut Members::new(out))?;
            }
        }
        Ok(())
    };
    match positions {
        Some(positions) => write_object_at::<R>(row, fields, positions, out, extra),
        None => write_object::<R>(row, fields, out, extra),
    }
}

/// The value of a row's column that finds included rows (NULL: none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Int(i32),
    BigInt(i64),
    #[cfg(feature = "uuid")]
    Uuid(Uuid),
    Text(String),
}

/// Each row's value of `column` (`None`: NULL), in the rows' order. The column's position
/// is found once (by name, a hash lookup in sqlx), then each value is read by position.
fn read_keys(rows: &[PgRow], column: &str, kind: Kind) -> Result<Vec<Option<Key>>, Problem> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let at = first
        .try_column(column)
        .map_err(|err| Problem::from_sqlx(err, &[]))?
        .ordinal();
    rows.iter().map(|row| read_key(row, at, kind)).collect()
}

fn read_key(row: &PgRow, at: usize, kind: Kind) -> Result<Option<Key>, Problem> {
    let read = match kind {
        Kind::Int => row.try_get::<Option<i32>, _>(at).map(|k| k.map(Key::Int)),
        Kind::BigInt => row
            .try_get::<Option<i64>, _>(at)
            .map(|k| k.map(Key::BigInt)),
        #[cfg(feature = "uuid")]
        Kind::Uuid => row.try_get::<Option<Uuid>, _>(at).map(|k| k.map(Key::Uuid)),
        _ => row
            .try_get::<Option<String>, _>(at)
            .map(|k| k.map(Key::Text)),
    };
    read.map_err(|err| Problem::from_sqlx(err, &[]))
}

/// Binds a set of keys as one array parameter of their SQL type.
fn bind_keys(keys: &[Key], kind: Kind, args: &mut PgArguments) -> Result<(), Problem> {
    use sqlx::Arguments;
    /// The keys of one variant, as the array its statement takes.
    fn array<T>(keys: &[Key], pick: impl Fn(&Key) -> Option<T>) -> Vec<T> {
        keys.iter().filter_map(pick).collect()
    }
    let added = match kind {
        Kind::Int => args.add(array(keys, |k| match k {
            Key::Int(v) => Some(*v),
            _ => None,
        })),
        Kind::BigInt => args.add(array(keys, |k| match k {
            Key::BigInt(v) => Some(*v),
            _ => None,
        })),
        #[cfg(feature = "uuid")]
        Kind::Uuid => args.add(array(keys, |k| match k {
            Key::Uuid(v) => Some(*v),
            _ => None,
        })),
        _ => args.add(array(keys, |k| match k {
            Key::Text(v) => Some(v.clone()),
            _ => None,
        })),
    };
    added.map_err(super::value::bind_error)
}

/// Each distinct key's included rows: the first and the last of its chain of [`Span`]s
/// (`None`: no row has this key). Hashed with foldhash: keys are database values of the
/// API's own rows, and SipHash cost a third of the grouping.
type Groups = HashMap<Key, Option<(usize, usize)>, foldhash::fast::RandomState>;

/// One included row's JSON in its relation's buffer, and the next row of its group.
struct Span {
    range: std::ops::Range<usize>,
    next: Option<usize>,
}

/// The included relations of a set of rows, each loaded in one query and kept as the
/// JSON it embeds, by the key that finds it.
#[derive(Default)]
struct Embedded {
    relations: Vec<Relation>,
}

/// One included relation of a set of rows.
struct Relation {
    inc: &'static Include,
    /// Each row's key, in the rows' order: read once, for the query and for the output.
    row_keys: Vec<Option<Key>>,
    groups: Groups,
    /// Every loaded row's JSON, back to back: one buffer that grows a few times, where a
    /// buffer per row grew ≈ 5 times each (437 reallocations, ≈ 10 % of
    /// `GET /orders?include=user,product`, bench/PROFILES.md "Session 13").
    json: Vec<u8>,
    spans: Vec<Span>,
}

impl Relation {
    /// Adds a loaded row, written by `write`, at the end of the group of `key`.
    fn push(
        &mut self,
        key: Key,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), Problem>,
    ) -> Result<(), Problem> {
        let start = self.json.len();
        write(&mut self.json)?;
        let at = self.spans.len();
        self.spans.push(Span {
            range: start..self.json.len(),
            next: None,
        });
        match self.groups.entry(key).or_default() {
            Some((_, last)) => {
                self.spans[*last].next = Some(at);
                *last = at;
            }
            group @ None => *group = Some((at, at)),
        }
        Ok(())
    }

    /// Appends the group whose chain starts at `first`: its first row, or with `many`
    /// all of them, comma-separated.
    fn write_group(&self, first: usize, out: &mut Vec<u8>) {
        let mut at = Some(first);
        while let Some(i) = at {
            let span = &self.spans[i];
            if i != first {
                out.push(b',');
            }
            out.extend_from_slice(&self.json[span.range.clone()]);
            at = span.next.filter(|_| self.inc.many);
        }
    }

    /// About how many bytes this relation adds to `rows` rows.
    fn size_hint(&self, rows: usize) -> usize {
        if self.inc.many {
            self.json.len()
        } else {
            self.json.len() / self.spans.len().max(1) * rows
        }
    }
}

impl Embedded {
    async fn load(
        state: &AppState,
        includes: &[&'static Include],
        rows: &[PgRow],
    ) -> Result<Self, Problem> {
        let mut relations = Vec::with_capacity(includes.len());
        for &inc in includes {
            let row_keys = read_keys(rows, inc.by, inc.by_kind)?;
            // The distinct keys, in the order first seen (each with no rows yet).
            let mut groups = Groups::default();
            let mut keys = Vec::new();
            for key in row_keys.iter().flatten() {
                if let std::collections::hash_map::Entry::Vacant(group) = groups.entry(key.clone())
                {
                    group.insert(None);
                    keys.push(key.clone());
                }
            }
            let mut relation = Relation {
                inc,
                row_keys,
                groups,
                json: Vec::new(),
                spans: Vec::new(),
            };
            if !keys.is_empty() {
                let mut args = PgArguments::default();
                bind_keys(&keys, inc.by_kind, &mut args)?;
                let timer = QueryTimer::start(inc.shape);
                let pool = state.db().await?;
                let loaded = match sqlx::query_with(inc.sql, args).fetch_all(pool).await {
                    Ok(loaded) => {
                        timer.finish(loaded.len() as u64);
                        loaded
                    }
                    Err(err) => {
                        timer.fail();
                        return Err(state.db_error(err, &[]));
                    }
                };
                let loaded_keys = read_keys(&loaded, inc.group_by, inc.by_kind)?;
                relation.json.reserve(loaded.len() * 256);
                relation.spans.reserve(loaded.len());
                let mut positions = Positions::default();
                for (row, key) in loaded.iter().zip(loaded_keys) {
                    if let Some(key) = key {
                        relation.push(key, |json| {
                            (inc.write)(row, &mut positions, json).map_err(internal)
                        })?;
                    }
                }
            }
            relations.push(relation);
        }
        Ok(Self { relations })
    }

    /// About how many bytes the relations add to `rows` rows.
    fn size_hint(&self, rows: usize) -> usize {
        self.relations.iter().map(|r| r.size_hint(rows)).sum()
    }

    /// Appends `,"name":<json>` for each relation (`null` / `[]` when there is none) of the
    /// row at position `at`.
    fn write(&self, at: usize, out: &mut Vec<u8>) -> Result<(), Problem> {
        for relation in &self.relations {
            let inc = relation.inc;
            member_name(out, inc.name)?;
            let first = relation
                .row_keys
                .get(at)
                .and_then(Option::as_ref)
                .and_then(|k| relation.groups.get(k))
                .and_then(|group| group.map(|(first, _)| first));
            match (inc.many, first) {
                (true, Some(first)) => {
                    out.push(b'[');
                    relation.write_group(first, out);
                    out.push(b']');
                }
                (true, None) => out.extend_from_slice(b"[]"),
                (false, Some(first)) => relation.write_group(first, out),
                (false, None) => out.extend_from_slice(b"null"),
            }
        }
        Ok(())
    }
}

/// The parameters of a one-row read.
const GET_PARAMS: &[&str] = &["fields", "include"];

/// The row with this key as JSON (only `fields` when given, with its aggregates and
/// computed members when not), through the resource cache (with `include`, loaded fresh:
/// embedded rows are not cached).
pub async fn get<R: Entity>(
    state: &AppState,
    ctx: &RequestContext,
    id: &R::Key,
    query: &QueryMap,
) -> Result<Answer, Problem> {
    let desc = R::DESC;
    super::guard::authorize::<R>(ctx, Operation::Get)?;
    if !query.is_empty() {
        query.allow_only(if desc.includes.is_empty() {
            &GET_PARAMS[..1]
        } else {
            GET_PARAMS
        })?;
    }
    let fields = field_set::<R>(single(query, "fields")?)?;
    let includes = includes(desc, single(query, "include")?)?;
    let scope = super::guard::scope::<R>(ctx, Operation::Get)?;
    let scoped = !scope.is_all();
    let private = super::guard::is_private(desc, Operation::Get, &scope);
    if R::Hooks::AUTHORIZE_READS {
        let row = Box::pin(fetch_row::<R>(state, &scope, id)).await?;
        R::Hooks::authorize(ctx, Operation::Get, Some(&row))?;
    }
    // Boxed, as the page's loading in `list`: allocated only on a cache miss.
    let load = || {
        Box::pin(async {
            let mut args = PgArguments::default();
            super::bind_key::<R>(id, &mut args)?;
            let sql = if fields.is_all() {
                scope.apply(desc, desc.sql.get, &mut args)?
            } else {
                let mut selected = fields.clone();
                for inc in &includes {
                    selected.insert::<R>(inc.by)?;
                }
                let tail = scope.apply(desc, desc.sql.get_tail, &mut args)?;
                format!("{}{tail}", R::select_sql(&selected)).into()
            };
            let row = sqlx::query_with(&sql, args)
                .fetch_optional(state.db().await?)
                .timed(desc.shapes.get)
                .await
                .map_err(|err| state.db_error(err, desc.constraints))?;
            let Some(row) = row else {
                return Ok::<_, Problem>(None);
            };
            let embedded = Embedded::load(state, &includes, std::slice::from_ref(&row)).await?;
            let mut out = Vec::with_capacity(256 + embedded.size_hint(1));
            write_row::<R>(&row, 0, &fields, None, &embedded, &mut out)?;
            let immutable = match desc.cache.immutable_when {
                Some(flag) if fields.contains(flag) => row
                    .try_get::<Option<bool>, _>(flag)
                    .map_err(|err| Problem::from_sqlx(err, &[]))?
                    .unwrap_or(false),
                _ => false,
            };
            Ok(Some(
                CachedBody::versioned(&super::guard::version(desc, &scope), out)
                    .with_immutable(immutable),
            ))
        })
    };
    let body = if includes.is_empty() {
        let cache = state.caches.at(desc.index);
        let key = if fields.is_all() && !scoped && !desc.changes_elsewhere {
            // The full row is invalidated by key; everything else by generation.
            crate::cache::ResourceCache::row_key(id)
        } else if scoped {
            cache.list_key_fmt(format_args!(
                "row:{id}:{}|{}",
                fields.cache_key(),
                scope.cache_key()
            ))
        } else {
            cache.list_key_fmt(format_args!("row:{id}:{}", fields.cache_key()))
        };
        cache.get_or_load(&key, load).await?
    } else {
        load().await?
    };
    let body = body.ok_or_else(|| not_found(desc, id))?;
    Ok(Answer::of(desc, body, private))
}

/// The typed row with this key under `scope` (404 when there is none).
pub(crate) async fn fetch_row<R: Entity>(
    state: &AppState,
    scope: &Scope,
    id: &R::Key,
) -> Result<R, Problem> {
    let desc = R::DESC;
    let mut args = PgArguments::default();
    super::bind_key::<R>(id, &mut args)?;
    let sql = scope.apply(desc, desc.sql.get, &mut args)?;
    sqlx::query_as_with::<_, R, _>(&sql, args)
        .fetch_optional(state.db().await?)
        .timed(desc.shapes.get)
        .await
        .map_err(|err| state.db_error(err, desc.constraints))?
        .ok_or_else(|| not_found(desc, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_write(_: &PgRow, _: &mut Positions, _: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        Ok(())
    }

    fn include(many: bool) -> &'static Include {
        Box::leak(Box::new(Include {
            name: "children",
            by: "id",
            by_kind: Kind::BigInt,
            sql: "",
            shape: "",
            group_by: "parent_id",
            many,
            write: no_write,
        }))
    }

    /// A relation of rows keyed 1, 2, 3 and none, loaded `(key, json)` in this order.
    fn relation(many: bool, loaded: &[(i64, &str)]) -> Embedded {
        let row_keys = vec![
            Some(Key::BigInt(1)),
            Some(Key::BigInt(2)),
            Some(Key::BigInt(3)),
            None,
        ];
        let groups = row_keys
            .iter()
            .flatten()
            .map(|k| (k.clone(), None))
            .collect();
        let mut relation = Relation {
            inc: include(many),
            row_keys,
            groups,
            json: Vec::new(),
            spans: Vec::new(),
        };
        for (key, json) in loaded {
            relation
                .push(Key::BigInt(*key), |out| {
                    out.extend_from_slice(json.as_bytes());
                    Ok(())
                })
                .unwrap();
        }
        Embedded {
            relations: vec![relation],
        }
    }

    fn written(embedded: &Embedded, at: usize) -> String {
        let mut out = Vec::new();
        embedded.write(at, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn children_loaded_out_of_order_are_embedded_in_load_order_per_parent() {
        let e = relation(
            true,
            &[
                (2, "{\"a\":1}"),
                (1, "{\"b\":2}"),
                (2, "{\"c\":3}"),
                (1, "{}"),
            ],
        );
        assert_eq!(written(&e, 0), r#","children":[{"b":2},{}]"#);
        assert_eq!(written(&e, 1), r#","children":[{"a":1},{"c":3}]"#);
        assert_eq!(written(&e, 2), r#","children":[]"#);
        assert_eq!(written(&e, 3), r#","children":[]"#);
        // Children: all their bytes, whichever rows they belong to.
        assert_eq!(e.size_hint(4), 23);
    }

    #[test]
    fn a_parent_is_its_first_row_and_null_when_missing() {
        let e = relation(
            false,
            &[(1, "{\"id\":1}"), (3, "{\"id\":3}"), (1, "{\"dup\":1}")],
        );
        assert_eq!(written(&e, 0), r#","children":{"id":1}"#);
        assert_eq!(written(&e, 1), r#","children":null"#);
        assert_eq!(written(&e, 2), r#","children":{"id":3}"#);
        assert_eq!(written(&e, 3), r#","children":null"#);
    }
}
