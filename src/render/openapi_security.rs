//! The security part of the OpenAPI document, added after the rest is built (so that
//! `openapi.rs` stays about routes and schemas): the security schemes of `auth:`, and per
//! operation its requirement and its 401 / 403 answers.

use serde_json::{Map, Value, json};

use crate::model::{Model, RuleModel};
use crate::spec::Operation;

/// Adds `components.securitySchemes` and each operation's `security`; a no-op without `auth`.
pub fn apply(m: &Model, doc: &mut Value) {
    let Some(auth) = &m.auth else {
        return;
    };
    let mut schemes = Map::new();
    if let Some(jwt) = &auth.jwt {
        let alg = if jwt.secret_env.is_some() {
            "HS256"
        } else {
            "RS256 or ES256"
        };
        schemes.insert(
            "bearer".into(),
            json!({
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": format!("A JWT ({alg}); roles in the `{}` claim.", jwt.roles_claim)
            }),
        );
    }
    if auth.api_keys_env.is_some() {
        schemes.insert(
            "apiKey".into(),
            json!({ "type": "apiKey", "in": "header", "name": "X-API-Key" }),
        );
    }
    doc["components"]["securitySchemes"] = Value::Object(schemes.clone());
    // Each scheme alone satisfies a requirement (roles are not OAuth scopes: listed in
    // the description instead).
    let required: Vec<Value> = schemes.keys().map(|k| json!({ k: [] })).collect();
    // (operationId, rule, whether a 403 can also come from writing another's row)
    let mut rules: Vec<(String, RuleModel, bool)> = Vec::new();
    for r in &m.resources {
        let Some(access) = &r.access else { continue };
        for op in Operation::ALL {
            let owned_write =
                access.owner.is_some() && matches!(op, Operation::Create | Operation::Update);
            rules.push((
                format!("{}_{}", op.as_str(), r.key),
                access.rule(op).clone(),
                owned_write,
            ));
        }
        for k in &r.rankings {
            rules.push((
                format!("ranking_{}_{}", r.key, k.name),
                access.rule(Operation::List).clone(),
                false,
            ));
        }
    }
    if let Some(rule) = &m.monitoring.access {
        rules.push(("metrics".into(), rule.clone(), false));
        rules.push(("stats".into(), rule.clone(), false));
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for operation in paths.values_mut().filter_map(Value::as_object_mut) {
        // Operations only (a path item may also hold `parameters`).
        for op in operation
            .values_mut()
            .filter(|op| op.get("operationId").is_some())
        {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            let found = rules.iter().find(|(name, ..)| *name == id);
            // Routes outside the rules (health probes, this document) are public.
            let Some((_, rule, owned_write)) = found else {
                op["security"] = json!([]);
                continue;
            };
            // Bad credentials are refused on every route, public ones included.
            op["responses"]["401"] = json!({
                "description": "Missing, invalid or expired credentials.",
                "headers": { "WWW-Authenticate": { "schema": { "type": "string" } } },
                "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
            });
            match rule {
                RuleModel::Public => {
                    // Anonymous (`{}`), or any scheme.
                    let mut alternatives = vec![json!({})];
                    alternatives.extend(required.iter().cloned());
                    op["security"] = Value::Array(alternatives);
                }
                RuleModel::Authenticated => {
                    op["security"] = Value::Array(required.clone());
                    if *owned_write {
                        op["responses"]["403"] = json!({
                            "description": "The row would belong to another caller (the owner field).",
                            "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
                        });
                    }
                }
                RuleModel::Roles(roles) => {
                    op["security"] = Value::Array(required.clone());
                    op["responses"]["403"] = json!({
                        "description": format!("The caller lacks the role {}.", roles.join(" or ")),
                        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
                    });
                }
            }
        }
    }
}

/// Adds the 429 of rate-limited operations: every route but the probes and monitoring
/// under `server.rate_limit`, and each operation with a `rate_limit:` of its own.
pub fn rate_limits(m: &Model, doc: &mut Value) {
    let limited_ops: Vec<String> = m
        .resources
        .iter()
        .flat_map(|r| {
            r.rate_limits
                .iter()
                .map(move |(op, _)| format!("{}_{}", op.as_str(), r.key))
        })
        .collect();
    if m.server.rate_limit.is_none() && limited_ops.is_empty() {
        return;
    }
    let exempt = [
        "/health",
        m.monitoring.metrics_path.as_str(),
        m.monitoring.stats_path.as_str(),
    ];
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let everything = m.server.rate_limit.is_some()
            && !exempt.iter().any(|prefix| {
                path.strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            });
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item
            .values_mut()
            .filter(|op| op.get("operationId").is_some())
        {
            let id = op["operationId"].as_str().unwrap_or_default();
            if everything || limited_ops.iter().any(|l| l == id) {
                op["responses"]["429"] = json!({
                    "description": "A rate limit is exhausted: retry after `Retry-After` seconds. `RateLimit-Policy` and `RateLimit` (IETF draft) say which limit and what is left.",
                    "headers": {
                        "Retry-After": { "description": "Seconds to wait before retrying.", "schema": { "type": "integer" } },
                        "RateLimit-Policy": { "description": "The limits that apply: `\"name\";q=burst;w=seconds`.", "schema": { "type": "string" } },
                        "RateLimit": { "description": "What is left of each: `\"name\";r=remaining;t=seconds`.", "schema": { "type": "string" } }
                    },
                    "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
                });
            }
        }
    }
}
