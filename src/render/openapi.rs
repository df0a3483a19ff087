//! The OpenAPI 3.1 document of a generated API, built from the model at generation time
//! (the generated project embeds it with `include_str!`).

use serde_json::{Map, Value, json};

use crate::model::{FieldKind, FieldModel, Model, ResourceModel};

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
    for r in &m.resources {
        resource(r, &mut paths, &mut schemas);
    }
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": { "title": m.name, "version": "0.1.0" },
        "paths": paths,
        "components": { "schemas": schemas }
    });
    super::openapi_security::apply(m, &mut doc);
    doc
}

fn resource(r: &ResourceModel, paths: &mut Map<String, Value>, schemas: &mut Map<String, Value>) {
    let row_ref = schema_ref(&r.struct_name);
    schemas.insert(r.struct_name.clone(), row_schema(r));
    let mut collection = Map::new();
    if r.ops.list {
        let page = format!("{}Page", r.struct_name);
        schemas.insert(
            page.clone(),
            json!({
                "type": "object",
                "properties": {
                    "items": { "type": "array", "items": row_ref },
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
                    "400": problem_response("A parameter is unknown or malformed.")
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
                        "content": { "application/json": { "schema": row_ref }
                    }},
                    "400": problem_response("The body is malformed or breaks a rule."),
                    "409": problem_response("A unique value is taken."),
                    "422": problem_response("A reference points at a missing row.")
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
                    "304": { "description": "Not modified (the `If-None-Match` ETag matches)." }
                }
            }}),
        );
    }
    if r.ops.export {
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
                        "application/x-ndjson": { "schema": row_ref },
                        "application/json": { "schema": { "type": "array", "items": row_ref } }
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
        "schema": value_schema(&r.pk)
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
                    "200": cached_ok("The row (only `fields` when given).", row_ref.clone()),
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
                    "400": problem_response("The key or body is malformed or breaks a rule."),
                    "404": problem_response("No such row."),
                    "409": problem_response("A unique value is taken."),
                    "422": problem_response("A reference points at a missing row.")
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
            json!({ "name": p.param, "in": "query", "required": false, "description": p.description, "schema": value_schema(f) })
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
        "schema": { "type": "integer", "format": "int64", "default": r.default_limit }
    }));
    params.push(json!({
        "name": "offset", "in": "query", "required": false,
        "description": "Rows to skip; not with `cursor`.",
        "schema": { "type": "integer", "format": "int64", "minimum": 0, "default": 0 }
    }));
    params.push(json!({
        "name": "cursor", "in": "query", "required": false,
        "description": "`next_cursor` of the previous page (keyset paging); not with `offset`.",
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
            "description": format!("Comma-separated relations to embed, each loaded in one query: {}.", names.join(", ")),
            "schema": { "type": "string" }
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
        "description": format!("Comma-separated fields to return (default: all): {}.", names.join(", ")),
        "schema": { "type": "string" }
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

/// The schema of a non-null value of the field, with its rules.
fn value_schema(f: &FieldModel) -> Value {
    let mut s = match f.kind {
        FieldKind::String | FieldKind::Text => json!({ "type": "string" }),
        FieldKind::Int | FieldKind::Serial => json!({ "type": "integer", "format": "int32" }),
        FieldKind::Bigint | FieldKind::Bigserial => json!({ "type": "integer", "format": "int64" }),
        FieldKind::Float => json!({ "type": "number", "format": "double" }),
        FieldKind::Decimal => {
            json!({ "type": "string", "format": "decimal", "pattern": "^-?[0-9]+(\\.[0-9]+)?$" })
        }
        FieldKind::Bool => json!({ "type": "boolean" }),
        FieldKind::Uuid => json!({ "type": "string", "format": "uuid" }),
        FieldKind::Timestamp => json!({ "type": "string", "format": "date-time" }),
        FieldKind::Date => json!({ "type": "string", "format": "date" }),
        FieldKind::Json => json!({}),
        FieldKind::Enum => json!({ "type": "string", "enum": f.enum_values }),
    };
    let obj = s.as_object_mut().expect("an object");
    let number = |lit: &Option<String>| lit.as_ref().and_then(|l| l.parse::<f64>().ok());
    match f.kind {
        FieldKind::Decimal => {
            // A decimal travels as a string: bounds can only be described.
            let mut rules = Vec::new();
            if let Some(min) = number(&f.min) {
                rules.push(format!("at least {min}"));
            }
            if let Some(max) = number(&f.max) {
                rules.push(format!("at most {max}"));
            }
            if !rules.is_empty() {
                obj.insert(
                    "description".into(),
                    json!(format!("A decimal, {}.", rules.join(" and "))),
                );
            }
        }
        _ => {
            if let Some(min) = number(&f.min) {
                obj.insert("minimum".into(), json!(min));
            }
            if let Some(max) = number(&f.max) {
                obj.insert("maximum".into(), json!(max));
            }
        }
    }
    if let Some(n) = f.max_length {
        obj.insert("maxLength".into(), json!(n));
    }
    s
}

/// The field's schema, `null` allowed when `nullable`.
fn field_schema(f: &FieldModel, nullable: bool) -> Value {
    let mut s = value_schema(f);
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

fn row_schema(r: &ResourceModel) -> Value {
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
    for a in &r.aggregates {
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
    let required: Vec<&str> = visible.iter().map(|f| f.name.as_str()).collect();
    json!({ "type": "object", "properties": props, "required": required })
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
