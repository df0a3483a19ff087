//! Checks of the security keys: `auth`, each resource's `access` and `rate_limit`,
//! `server.cors` and `monitoring.access`.

use super::{Ctx, key_path};
use crate::spec::{Access, FieldType, Operation, Resource};

/// Spec-level checks: `auth` is usable, CORS origins are origins, and the access keys that
/// need `auth` have it.
pub fn check_spec_level(cx: &mut Ctx) {
    let spec = cx.spec;
    if let Some(auth) = &spec.auth {
        if auth.jwt.is_none() && auth.api_keys.is_none() {
            cx.error_key(
                key_path!["auth"],
                "`auth` needs `jwt`, `api_keys` or both: there is no way to authenticate",
            );
        }
        if let Some(jwt) = &auth.jwt {
            match (&jwt.secret_env, &jwt.public_key_env) {
                (None, None) => cx.error_key(
                    key_path!["auth", "jwt"],
                    "`auth.jwt` needs `secret_env` (HS256) or `public_key_env` (RS256/ES256)",
                ),
                (Some(_), Some(_)) => cx.error_key(
                    key_path!["auth", "jwt", "public_key_env"],
                    "`auth.jwt` takes `secret_env` or `public_key_env`, not both",
                ),
                _ => {}
            }
            for (key, value) in [
                ("secret_env", &jwt.secret_env),
                ("public_key_env", &jwt.public_key_env),
            ] {
                if let Some(name) = value {
                    check_env_name(cx, key_path!["auth", "jwt", key], name);
                }
            }
        }
        if let Some(keys) = &auth.api_keys {
            check_env_name(cx, key_path!["auth", "api_keys", "env"], &keys.env);
        }
        check_rule(cx, key_path!["auth", "default"], &auth.default);
    }
    if let Some(access) = &spec.monitoring.access {
        if spec.auth.is_none() && !is_public(access) {
            cx.error_key(
                key_path!["monitoring", "access"],
                "`monitoring.access` restricts callers, but the spec has no `auth:` to \
                 authenticate them",
            );
        }
        check_rule(cx, key_path!["monitoring", "access"], access);
    }
    if let Some(cors) = &spec.server.cors {
        if cors.origins.is_empty() {
            cx.error_key(
                key_path!["server", "cors", "origins"],
                "`server.cors.origins` is empty; list the origins browsers may call from",
            );
        }
        for (i, origin) in cors.origins.iter().enumerate() {
            if let Err(why) = check_origin(origin) {
                cx.error_value(key_path!["server", "cors", "origins", i], why);
            }
        }
    }
    for (i, entry) in spec.server.trusted_proxies.iter().enumerate() {
        if let Err(why) = check_proxy(entry) {
            cx.error_value(key_path!["server", "trusted_proxies", i], why);
        }
    }
    if let Some(limit) = &spec.server.rate_limit
        && limit.burst == Some(0)
    {
        cx.error_value(
            key_path!["server", "rate_limit", "burst"],
            "`burst` must be at least 1",
        );
    }
}

/// Checks of one resource's `access` and `rate_limit`.
pub fn check_resource(cx: &mut Ctx, key: &str, res: &Resource) {
    let enabled = |op: Operation| res.operations.as_ref().is_none_or(|ops| ops.contains(&op));
    if let Some(access) = &res.access {
        let at = key_path!["resources", key, "access"];
        if cx.spec.auth.is_none() {
            cx.error_key(
                at,
                format!(
                    "resource `{key}` has `access` rules, but the spec has no `auth:` to \
                     authenticate callers"
                ),
            );
        }
        for op in Operation::ALL {
            let Some(rule) = access.rule(op) else {
                continue;
            };
            let path = key_path!["resources", key, "access", op.as_str()];
            check_rule(cx, path, rule);
            if !enabled(op) {
                cx.error_key(
                    path,
                    format!(
                        "access rule for `{}`, an operation `operations` leaves out",
                        op.as_str()
                    ),
                );
            }
        }
        if let Some(rule) = &access.default {
            check_rule(cx, key_path!["resources", key, "access", "default"], rule);
        }
        if let Some(owner) = &access.owner {
            check_owner(cx, key, res, owner);
            if !res.rankings.is_empty() {
                cx.error_key(
                    key_path!["resources", key, "rankings"],
                    format!(
                        "resource `{key}` has an owner field, but rankings rank every row; \
                         rankings of owned rows are not supported"
                    ),
                );
            }
        }
    }
    if let Some(rates) = &res.rate_limit {
        for op in Operation::ALL {
            if rates.rate(op).is_some() && !enabled(op) {
                cx.error_key(
                    key_path!["resources", key, "rate_limit", op.as_str()],
                    format!(
                        "rate limit for `{}`, an operation `operations` leaves out",
                        op.as_str()
                    ),
                );
            }
        }
    }
}

/// The owner field exists, is written on create, and its type can hold a caller's subject
/// (text, an integer or a uuid, or a ref to a key of one of those).
fn check_owner(cx: &mut Ctx, key: &str, res: &Resource, owner: &str) {
    let at = key_path!["resources", key, "access", "owner"];
    let Some(field) = res.fields.get(owner) else {
        if !cx.field_known(key, owner) {
            let names: Vec<&str> = res.fields.keys().map(String::as_str).collect();
            cx.error_value(
                at,
                format!(
                    "owner `{owner}` is not a field of `{key}`; fields: {}",
                    names.join(", ")
                ),
            );
        }
        return;
    };
    let ty = match (field.ty, field.to.as_deref()) {
        (FieldType::Ref, Some(target)) => cx
            .spec
            .resources
            .get(target)
            .and_then(super::primary_key)
            .map(|(_, pk)| pk.ty),
        (ty, _) => Some(ty),
    };
    let holds_subject = match ty {
        Some(FieldType::String | FieldType::Text | FieldType::Uuid) => true,
        Some(FieldType::Int | FieldType::Bigint | FieldType::Serial | FieldType::Bigserial) => true,
        None => return, // a broken ref, reported by the relation checks
        Some(_) => false,
    };
    let problem =
        if field.primary_key || matches!(field.ty, FieldType::Serial | FieldType::Bigserial) {
            Some("is generated by the database, so it cannot hold the caller".to_string())
        } else if !holds_subject {
            Some(format!(
                "is a `{}` field, which cannot hold a caller's subject (use string, text, uuid, \
             int, bigint, or a ref to a key of one of those)",
                serde_yaml::to_value(field.ty)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ))
        } else if field.hidden {
            Some("is `hidden`; an owner field must be readable".to_string())
        } else if field.readonly {
            Some("is `readonly`; creates fill the owner field from the caller".to_string())
        } else {
            None
        };
    if let Some(problem) = problem {
        cx.error_value(at, format!("owner field `{owner}` {problem}"));
    }
}

fn is_public(rule: &Access) -> bool {
    matches!(rule, Access::Word(crate::spec::AccessWord::Public))
}

fn check_rule(cx: &mut Ctx, at: &[String], rule: &Access) {
    let Access::Roles(roles) = rule else {
        return;
    };
    if roles.roles.is_empty() {
        cx.error_key(
            at,
            "`roles` is empty, so nobody could call this; list at least one role",
        );
    }
    if cx.spec.auth.as_ref().is_some_and(|a| a.jwt.is_none()) {
        cx.error_key(
            at,
            "roles come from a token's roles claim, but `auth` has no `jwt` (API keys carry no \
             roles): add `auth.jwt` or use `authenticated`",
        );
    }
    for role in &roles.roles {
        if role.trim().is_empty() || role.contains(',') {
            cx.error_key(at, format!("role `{role}` is not a usable role name"));
        }
    }
}

fn check_env_name(cx: &mut Ctx, at: &[String], name: &str) {
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        cx.error_value(
            at,
            format!(
                "`{name}` is not an environment variable name (letters, digits and `_`); \
                 the spec names the variable, never the secret itself"
            ),
        );
    }
}

/// `*`, or `scheme://host[:port]` without a path.
fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("origin `{origin}` must start with https:// or http:// (or be `*`)")
        })?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err(format!(
            "origin `{origin}` must be a scheme and host only, e.g. `https://app.example.com`"
        ));
    }
    Ok(())
}

/// A trusted proxy: an IP address, or a network `address/prefix`.
fn check_proxy(entry: &str) -> Result<(), String> {
    let why = || {
        format!("`{entry}` is not an IP address or a network such as `10.0.0.0/8` or `fd00::/8`")
    };
    let (addr, prefix) = match entry.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (entry, None),
    };
    let addr: std::net::IpAddr = addr.parse().map_err(|_| why())?;
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    match prefix.map(str::parse::<u8>) {
        None => Ok(()),
        Some(Ok(p)) if p <= bits => Ok(()),
        Some(_) => Err(why()),
    }
}
