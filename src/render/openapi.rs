//! The OpenAPI 3.1 document of a generated API, built from the model at generation time
//! (the generated project embeds it with `include_str!`).

use serde_json::{Map, Value, json};

use crate::model::{FieldKind, FieldModel, Model, ResourceModel, types};

/// The whole document.
pub fn document(m: &Model) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert("Problem".into(), problem_schema());
    paths.insert(
        "/health".into(),
        json!({ "get": {
            "operationId": "health",
            "summary": "Health: whether the database answered its last check (made at most once a second).",
            "responses": {
                "200": { "description": "The database answers.", "content": { "application/json": { "schema": health_schema() } } },
                "503": { "description": "The database is unavailable (`Retry-After: 1`).", "headers": retry_after_header(), "content": { "application/json": { "schema": health_schema() } } }
            }
        }}),
    );
    paths.insert(
        "/health/live".into(),
        json!({ "get": {
            "operationId": "healthLive",
            "summary": "Liveness: 200 while the process serves requests; touches no database.",
            "responses": {
                "200": { "description": "The process is serving.", "content": { "application/json": { "schema": {
                    "type": "object",
                    "properties": { "status": { "type": "string", "const": "ok" } },
                    "required": ["status"]
                } } } }
            }
        }}),
    );
    paths.insert(
        "/health/ready".into(),
        json!({ "get": {
            "operationId": "healthReady",
            "summary": "Readiness: the pool's state and whether the database (and Redis) answered the last check (made at most once a second).",
            "responses": {
                "200": { "description": "Ready: the database answers.", "content": { "application/json": { "schema": ready_schema() } } },
                "503": { "description": "Not ready: the database is unavailable (`Retry-After: 1`).", "headers": retry_after_header(), "content": { "application/json": { "schema": ready_schema() } } }
            }
        }}),
    );
    paths.insert(
        "/openapi.json".into(),
        json!({ "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "responses": { "200": { "description": "The OpenAPI document.", "content": { "application/json": { "schema": { "type": "object" } } } } }
        }}),
    );
    // With `monitoring.port` they are served on that port only, not by this API's.
    if m.monitoring.port.is_none() {
        paths.insert(
            m.monitoring.metrics_path.clone(),
            json!({ "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (requests, queries, caches, process).",
                "responses": { "200": { "description": "Prometheus text format.", "content": { "text/plain": { "schema": { "type": "string" } } } } }
            }}),
        );
        paths.insert(
            m.monitoring.stats_path.clone(),
            json!({ "get": {
                "operationId": "stats",
                "summary": "Latency statistics per route over the stats window, with budget status.",
                "responses": { "200": { "description": "count, min, max, avg, p50, p95, p99 per route.", "content": { "application/json": { "schema": { "type": "object" } } } } }
            }}),
        );
    }
    for r in &m.resources {
        resource(r, m, &mut paths, &mut schemas);
    }
    for item in paths.values_mut() {
        for (method, op) in item.as_object_mut().into_iter().flatten() {
            if method != "parameters" {
                add_common_statuses(method, op);
            }
        }
    }
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": { "title": m.name, "version": "0.1.0" },
        "paths": paths,
        "components": { "schemas": schemas }
    });
    super::openapi_security::apply(m, &mut doc);
    super::openapi_security::rate_limits(m, &mut doc);
    doc
}

/// Statuses every operation can answer besides its own: 408 past `server.request_timeout`,
/// 500, 503 when the database is unavailable (with `Retry-After`); with a body, 413 over
/// `server.body_limit` and 415 without a JSON `Content-Type`.
fn add_common_statuses(method: &str, op: &mut Value) {
    let mut common = vec![
        (
            "408",
            problem_response("The request took longer than `server.request_timeout`."),
        ),
        (
            "500",
            problem_response("An unexpected server error (logged)."),
        ),
    ];
    // Resource operations (tagged) read the database.
    if op.get("tags").is_some() {
        let mut unavailable = problem_response(
            "The database is unavailable or saturated: retry after `Retry-After` seconds.",
        );
        unavailable["headers"] = retry_after_header();
        common.push(("503", unavailable));
    }
    if matches!(method, "post" | "patch") {
        common.push((
            "413",
            problem_response("The body is larger than `server.body_limit`."),
        ));
        common.push((
            "415",
            problem_response("The body's `Content-Type` is not `application/json`."),
        ));
    }
    if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
        for (status, response) in common {
            responses.entry(status).or_insert(response);
        }
    }
}

fn resource(
    r: &ResourceModel,
    m: &Model,
    paths: &mut Map<String, Value>,
    schemas: &mut Map<String, Value>,
) {
    let row_ref = schema_ref(&r.struct_name);
    let fields_name = format!("{}Fields", r.struct_name);
    schemas.insert(r.struct_name.clone(), row_schema(r, m, true));
    schemas.insert(fields_name.clone(), row_schema(r, m, false));
    // What reads answer: a full row, or with `fields=` only the fields asked for.
    let read_ref = json!({ "anyOf": [row_ref, schema_ref(&fields_name)] });
    let mut collection = Map::new();
    if r.ops.list {
        let page = format!("{}Page", r.struct_name);
        schemas.insert(
            page.clone(),
            json!({
                "type": "object",
                "properties": {
                    "items": { "type": "array", "items": read_ref },
                    "next_cursor": { "type": ["string", "null"], "description": "Pass as `cursor` (with the same `sort`) for the next page; null on the last page." }
                },
                "required": ["items", "next_cursor"]
            }),
        );
        collection.insert(
            "get".into(),
            json!({
                "operationId": format!("list_{}", r.key),
                "tags": [r.key],
                "summary": format!("List {}.", r.key),
                "parameters": list_parameters(r),
                "responses": {
                    "200": cached_ok("One page.", schema_ref(&page)),
                    "304": { "description": "Not modified (the `If-None-Match` ETag matches)." },
                    "400": problem_response("A parameter is unknown or malformed."),
                    "422": problem_response("The `cursor` was not made by this listing with this `sort`, or comes with `offset`.")
                }
            }),
        );
    }
    if r.ops.create {
        schemas.insert(r.create_name.clone(), create_schema(r));
        collection.insert(
            "post".into(),
            json!({
                "operationId": format!("create_{}", r.key),
                "tags": [r.key],
                "summary": format!("Create one {}.", r.singular),
                "requestBody": { "required": true, "content": { "application/json": { "schema": schema_ref(&r.create_name) } } },
                "responses": {
                    "201": {
                        "description": "Created.",
                        "headers": { "Location": { "description": "URL of the new row.", "schema": { "type": "string" } } },
                        "content": { "application/json": { "schema": row_ref } },
                        "links": row_links(r, m)
                    },
                    "400": problem_response("The body is malformed or does not fit the schema (a field named in `errors`)."),
                    "409": problem_response("A unique value is taken."),
                    "422": problem_response("The database refused a value: a reference to a missing row, or a constraint.")
                }
            }),
        );
    }
    if !collection.is_empty() {
        paths.insert(r.path.clone(), Value::Object(collection));
    }
    for k in &r.rankings {
        paths.insert(
            k.path.clone(),
            json!({ "get": {
                "operationId": format!("ranking_{}_{}", r.key, k.name),
                "tags": [r.key],
                "summary": format!("Top {} by `{}` per `{}`, each row with its `rank`.", k.limit, k.order, k.partition),
                "responses": {
                    "200": cached_ok("The ranked rows, partition by partition.", json!({
                        "type": "object",
                        "properties": { "items": { "type": "array", "items": { "allOf": [row_ref, {
                            "type": "object", "properties": { "rank": { "type": "integer" } }, "required": ["rank"]
                        }] } } },
                        "required": ["items"]
                    })),
                    "304": { "description": "Not modified (the `If-None-Match` ETag matches)." },
                    "400": problem_response("A query parameter was given (this route takes none).")
                }
            }}),
        );
    }
    if r.ops.export {
        // Exported rows are table rows: no aggregates or includes, `fields` or all.
        let fields_ref = schema_ref(&fields_name);
        paths.insert(
            format!("{}/export", r.path),
            json!({ "get": {
                "operationId": format!("export_{}", r.key),
                "tags": [r.key],
                "summary": format!("Every {} row, streamed.", r.singular),
                "parameters": [{
                    "name": "format", "in": "query", "required": false,
                    "description": "`ndjson`: one JSON object per line; `json`: one array.",
                    "schema": { "type": "string", "enum": ["ndjson", "json"], "default": "ndjson" }
                }, fields_param(r)],
                "responses": {
                    "200": { "description": "The rows in key order.", "content": {
                        "application/x-ndjson": { "schema": fields_ref.clone() },
                        "application/json": { "schema": { "type": "array", "items": fields_ref } }
                    }},
                    "400": problem_response("A parameter is unknown or malformed.")
                }
            }}),
        );
    }

    let mut item = Map::new();
    let id_param = json!({
        "name": "id", "in": "path", "required": true,
        "description": format!("The `{}` of the {}.", r.pk.name, r.singular),
        "schema": value_schema(&r.pk, false)
    });
    if r.ops.get {
        let get_params: Vec<Value> = [
            Some(fields_param(r)),
            include_param(r),
            Some(if_none_match()),
        ]
        .into_iter()
        .flatten()
        .collect();
        item.insert(
            "get".into(),
            json!({
                "operationId": format!("get_{}", r.key),
                "tags": [r.key],
                "summary": format!("One {}.", r.singular),
                "parameters": get_params,
                "responses": {
                    "200": cached_ok("The row (only `fields` when given).", read_ref),
                    "304": { "description": "Not modified (the `If-None-Match` ETag matches)." },
                    "400": problem_response("The key or a parameter is malformed."),
                    "404": problem_response("No such row.")
                }
            }),
        );
    }
    if r.ops.update {
        schemas.insert(r.update_name.clone(), update_schema(r));
        item.insert(
            "patch".into(),
            json!({
                "operationId": format!("update_{}", r.key),
                "tags": [r.key],
                "summary": format!("Change some fields of one {}.", r.singular),
                "requestBody": { "required": true, "content": { "application/json": { "schema": schema_ref(&r.update_name) } } },
                "responses": {
                    "200": { "description": "The updated row.", "content": { "application/json": { "schema": row_ref } } },
                    "400": problem_response("The key or body is malformed or does not fit the schema (a field named in `errors`)."),
                    "404": problem_response("No such row."),
                    "409": problem_response("A unique value is taken."),
                    "422": problem_response("The database refused a value: a reference to a missing row, or a constraint.")
                }
            }),
        );
    }
    if r.ops.delete {
        item.insert(
            "delete".into(),
            json!({
                "operationId": format!("delete_{}", r.key),
                "tags": [r.key],
                "summary": format!("Delete one {}.", r.singular),
                "responses": {
                    "204": { "description": "Deleted." },
                    "400": problem_response("The key is malformed."),
                    "404": problem_response("No such row."),
                    "409": problem_response("Other rows still reference it.")
                }
            }),
        );
    }
    if !item.is_empty() {
        item.insert("parameters".into(), json!([id_param]));
        paths.insert(format!("{}/{{id}}", r.path), Value::Object(item));
    }
}

fn list_parameters(r: &ResourceModel) -> Value {
    let mut params: Vec<Value> = r
        .filters
        .iter()
        .map(|p| {
            let f = r.fields.iter().find(|f| f.name == p.field).expect("filters resolve");
            json!({ "name": p.param, "in": "query", "required": false, "description": p.description, "schema": value_schema(f, false) })
        })
        .collect();
    let sorts: Vec<&str> = r.sorts.iter().map(|s| s.key.as_str()).collect();
    params.push(json!({
        "name": "sort", "in": "query", "required": false,
        "description": "A field, `-` first for descending; the primary key breaks ties.",
        "schema": { "type": "string", "enum": sorts, "default": r.default_sort }
    }));
    params.push(json!({
        "name": "limit", "in": "query", "required": false,
        "description": format!("Page size, clamped to 1..={}.", r.max_limit),
        "schema": { "type": "integer", "format": "int64", "minimum": i64::MIN, "maximum": i64::MAX, "default": r.default_limit }
    }));
    params.push(json!({
        "name": "offset", "in": "query", "required": false,
        "description": "Rows to skip; not with `cursor`.",
        "schema": { "type": "integer", "format": "int64", "minimum": 0, "maximum": i64::MAX, "default": 0 }
    }));
    params.push(json!({
        "name": "cursor", "in": "query", "required": false,
        "description": "`next_cursor` of the previous page (keyset paging); not with `offset`. Empty: the first page.",
        "schema": { "type": "string" }
    }));
    params.push(fields_param(r));
    params.extend(include_param(r));
    params.push(if_none_match());
    Value::Array(params)
}

/// `include=`, when the resource has refs or children to embed.
fn include_param(r: &ResourceModel) -> Option<Value> {
    let names = r.include_names();
    (!names.is_empty()).then(|| {
        json!({
            "name": "include", "in": "query", "required": false,
            "description": "Relations to embed, comma-separated, each loaded in one query.",
            "style": "form", "explode": false,
            "schema": { "type": "array", "minItems": 1, "items": { "type": "string", "enum": names } }
        })
    })
}

fn fields_param(r: &ResourceModel) -> Value {
    let names: Vec<&str> = r
        .fields
        .iter()
        .filter(|f| !f.hidden)
        .map(|f| f.name.as_str())
        .collect();
    json!({
        "name": "fields", "in": "query", "required": false,
        "description": "Fields to return, comma-separated (absent: all).",
        "style": "form", "explode": false,
        "schema": { "type": "array", "minItems": 1, "items": { "type": "string", "enum": names } }
    })
}

fn if_none_match() -> Value {
    json!({
        "name": "If-None-Match", "in": "header", "required": false,
        "description": "An ETag of an earlier response: 304 when it still matches.",
        "schema": { "type": "string" }
    })
}

fn cached_ok(description: &str, schema: Value) -> Value {
    json!({
        "description": description,
        "headers": {
            "ETag": { "schema": { "type": "string" } },
            "Cache-Control": { "schema": { "type": "string" } }
        },
        "content": { "application/json": { "schema": schema } }
    })
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn problem_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/problem+json": { "schema": schema_ref("Problem") } } })
}

fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "RFC 9457 problem details.",
        "properties": {
            "type": { "type": "string" },
            "title": { "type": "string" },
            "status": { "type": "integer" },
            "detail": { "type": "string" },
            "errors": { "type": "array", "items": {
                "type": "object",
                "properties": { "field": { "type": "string" }, "message": { "type": "string" } },
                "required": ["field", "message"]
            }}
        },
        "required": ["type", "title", "status"]
    })
}

fn retry_after_header() -> Value {
    json!({ "Retry-After": { "description": "Seconds to wait before retrying.", "schema": { "type": "integer" } } })
}

fn ready_schema() -> Value {
    let up_down = json!({ "type": "string", "enum": ["up", "down"] });
    json!({
        "type": "object",
        "properties": {
            "status": { "type": "string", "enum": ["ok", "unavailable"] },
            "database": up_down,
            "pool": {
                "type": "object",
                "properties": {
                    "size": { "type": "integer", "description": "Open connections." },
                    "idle": { "type": "integer", "description": "Idle connections." },
                    "max": { "type": "integer", "description": "database.pool.max" }
                },
                "required": ["size", "idle", "max"]
            },
            "redis": { "oneOf": [up_down, { "type": "null" }], "description": "null without a Redis tier" },
            "checked_ms_ago": { "type": "integer", "description": "Age of the check, in milliseconds." }
        },
        "required": ["status", "database", "pool", "redis", "checked_ms_ago"]
    })
}

fn health_schema() -> Value {
    json!({
        "type": "object",
        "properties": { "status": { "type": "string" }, "database": { "type": "string" } },
        "required": ["status", "database"]
    })
}

/// The schema of a non-null value of the field: exactly what the server accepts (integers
/// in range, decimals in plain notation, text without NUL bytes), with the field's `rules`
/// (min, max, max_length, the column's digits) in bodies. Query and path values are only
/// parsed as the type (`?name=<longer than max_length>` finds nothing; it is not refused).
fn value_schema(f: &FieldModel, rules: bool) -> Value {
    let number = |lit: &Option<String>| lit.as_ref().and_then(|l| l.parse::<f64>().ok());
    let (min, max) = if rules {
        (number(&f.min), number(&f.max))
    } else {
        (None, None)
    };
    // Type and format are the model's (`model::types::json_type`); the rest is the range
    // and text each type accepts.
    let mut s = json!({});
    // `json` has no type: any value.
    if let (Some(ty), format) = types::json_type(f.kind) {
        s["type"] = json!(ty);
        if let Some(format) = format {
            s["format"] = json!(format);
        }
    }
    match f.kind {
        FieldKind::String | FieldKind::Text => s["pattern"] = json!("^[^\\u0000]*$"),
        FieldKind::Int | FieldKind::Serial => {
            s["minimum"] = json!(min.unwrap_or(f64::from(i32::MIN)));
            s["maximum"] = json!(max.unwrap_or(f64::from(i32::MAX)));
        }
        FieldKind::Bigint | FieldKind::Bigserial => {
            s["minimum"] = min.map_or(json!(i64::MIN), |v| json!(v));
            s["maximum"] = max.map_or(json!(i64::MAX), |v| json!(v));
        }
        FieldKind::Float => {
            if let Some(min) = min {
                s["minimum"] = json!(min);
            }
            if let Some(max) = max {
                s["maximum"] = json!(max);
            }
        }
        FieldKind::Decimal => decimal_rules(&mut s, f, rules, min, max),
        FieldKind::Enum => s["enum"] = json!(f.enum_values),
        FieldKind::Bool
        | FieldKind::Uuid
        | FieldKind::Timestamp
        | FieldKind::Date
        | FieldKind::Json => {}
    }
    if let Some(n) = f.max_length.filter(|_| rules) {
        s["maxLength"] = json!(n);
    }
    s
}

/// A decimal travels as a string in plain notation (`runtime::engine::value::decimal`):
/// the pattern carries the sign (none when `min` ≥ 0) and the digits of
/// `numeric(precision, scale)`; other bounds can only be described.
fn decimal_rules(s: &mut Value, f: &FieldModel, rules: bool, min: Option<f64>, max: Option<f64>) {
    let digits = f.precision.filter(|_| rules).map(|p| (p, f.scale));
    s["pattern"] = json!(types::decimal_pattern(
        !min.is_some_and(|m| m >= 0.0),
        digits
    ));
    let mut described = Vec::new();
    if let Some(min) = min {
        described.push(format!("at least {min}"));
    }
    if let Some(max) = max {
        described.push(format!("at most {max}"));
    }
    if let Some((p, scale)) = digits {
        described.push(format!("of numeric({p},{scale})"));
    }
    if !described.is_empty() {
        s["description"] = json!(format!("A decimal {}.", described.join(", ")));
    }
}

/// The field's schema, `null` allowed when `nullable`.
fn field_schema(f: &FieldModel, nullable: bool) -> Value {
    let mut s = value_schema(f, true);
    if nullable {
        let obj = s.as_object_mut().expect("an object");
        // `json` (no `type`) takes any value already.
        if let Some(Value::String(t)) = obj.get("type").cloned() {
            obj.insert("type".into(), json!([t, "null"]));
            if let Some(Value::Array(values)) = obj.get_mut("enum") {
                values.push(Value::Null);
            }
        }
    }
    s
}

/// A row as reads and writes answer it: every visible field (all `required` for a `full`
/// row, none for the `…Fields` schema of `fields=` answers), then the members only full
/// reads carry (aggregates) and the relations `include=` embeds.
fn row_schema(r: &ResourceModel, m: &Model, full: bool) -> Value {
    let visible: Vec<&FieldModel> = r.fields.iter().filter(|f| !f.hidden).collect();
    let mut props = Map::new();
    for f in &visible {
        let mut s = field_schema(f, f.nullable);
        if f.readonly {
            s["readOnly"] = json!(true);
        }
        props.insert(f.name.clone(), s);
    }
    // Aggregates: on GET responses of full rows (no `fields`), not on writes.
    for a in r.aggregates.iter().filter(|_| full) {
        for member in a.empty_json.split(',') {
            let Some((name, empty)) = member.split_once(':') else {
                continue;
            };
            let name = name.trim_matches('"');
            let schema = if empty == "0" {
                json!({ "type": "integer", "readOnly": true, "description": format!("Aggregate over {}; on GET of full rows.", a.child) })
            } else {
                json!({ "type": ["number", "null"], "readOnly": true, "description": format!("Aggregate over {}; on GET of full rows.", a.child) })
            };
            props.insert(name.to_string(), schema);
        }
    }
    // Embedded rows are full table rows of the related resource (no aggregates of theirs).
    let embedded = |key: &str| {
        m.resources.iter().find(|t| t.key == key).map_or_else(
            || json!({ "type": "object" }),
            |t| schema_ref(&t.struct_name),
        )
    };
    for b in &r.belongs_to {
        props.insert(
            b.include.clone(),
            json!({
                "oneOf": [embedded(&b.resource), { "type": "null" }],
                "readOnly": true,
                "description": format!("With `include={}`: the {} `{}` points at (null when it is null).", b.include, b.resource, b.field)
            }),
        );
    }
    for c in &r.child_includes {
        let child = m.resources.iter().find(|t| t.struct_name == c.child_struct);
        props.insert(
            c.name.clone(),
            json!({
                "type": "array",
                "items": child.map_or_else(|| json!({ "type": "object" }), |t| embedded(&t.key)),
                "maxItems": c.limit,
                "readOnly": true,
                "description": format!("With `include={}`: the rows that refer to this one, in key order.", c.name)
            }),
        );
    }
    let mut schema = json!({ "type": "object", "properties": props });
    if full {
        let required: Vec<&str> = visible.iter().map(|f| f.name.as_str()).collect();
        schema["required"] = json!(required);
    } else {
        schema["description"] = json!(format!(
            "A {} with the fields asked for by `fields=` (and the `include=` relations).",
            r.singular
        ));
    }
    schema
}

/// Links of a created row: its own operations by key (schemathesis' stateful phase follows
/// them), and the rows its refs point at.
fn row_links(r: &ResourceModel, m: &Model) -> Value {
    let mut links = Map::new();
    let key = format!("$response.body#/{}", r.pk.name);
    for (op, on) in [
        ("get", r.ops.get),
        ("update", r.ops.update),
        ("delete", r.ops.delete),
    ] {
        if on {
            links.insert(
                format!("{op}_{}", r.singular),
                json!({ "operationId": format!("{op}_{}", r.key), "parameters": { "id": key } }),
            );
        }
    }
    for b in &r.belongs_to {
        if m.resources.iter().any(|t| t.key == b.resource && t.ops.get) {
            links.insert(
                format!("get_{}", b.include),
                json!({ "operationId": format!("get_{}", b.resource), "parameters": { "id": format!("$response.body#/{}", b.field) } }),
            );
        }
    }
    Value::Object(links)
}

fn create_schema(r: &ResourceModel) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in r.fields.iter().filter(|f| f.in_create) {
        let mut s = field_schema(f, f.nullable);
        if f.hidden {
            s["writeOnly"] = json!(true);
        }
        props.insert(f.name.clone(), s);
        if !f.create_optional {
            required.push(f.name.as_str());
        }
    }
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

fn update_schema(r: &ResourceModel) -> Value {
    let mut props = Map::new();
    for f in r.fields.iter().filter(|f| f.in_update) {
        let mut s = field_schema(f, f.nullable);
        if f.hidden {
            s["writeOnly"] = json!(true);
        }
        props.insert(f.name.clone(), s);
    }
    json!({
        "type": "object",
        "description": "Only the fields present change; `null` sets a nullable field to NULL.",
        "properties": props,
        "additionalProperties": false
    })
}
