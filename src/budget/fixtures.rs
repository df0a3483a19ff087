//! Rows the load needs before it starts: existing ids to get/update, and rows of
//! referenced resources for create bodies, created through the API when missing.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use hyper::Method;
use serde_json::Value;

use indexmap::IndexMap;

use super::bodies::BodyGen;
use super::client::Http;
use super::target::Target;
use crate::spec::{FieldType, Operation, Resource};

/// How many rows to create in an empty resource before loading its routes.
const SEED_ROWS: usize = 5;
/// References deeper than this are not followed (guards against reference cycles).
const MAX_REF_DEPTH: usize = 8;

/// Known primary keys per resource key.
#[derive(Debug, Clone, Default)]
pub struct Pools {
    ids: HashMap<String, Vec<Value>>,
}

impl Pools {
    /// The ids known for a resource (empty when none).
    pub fn ids(&self, resource: &str) -> &[Value] {
        self.ids.get(resource).map_or(&[], Vec::as_slice)
    }

    /// Replace the ids known for a resource.
    pub fn insert(&mut self, resource: &str, ids: Vec<Value>) {
        self.ids.insert(resource.to_owned(), ids);
    }
}

/// Whether the resource serves this operation (`operations:` absent = all).
pub fn allows(res: &Resource, op: Operation) -> bool {
    res.operations.as_ref().is_none_or(|ops| ops.contains(&op))
}

/// The primary key's field name.
pub fn primary_key(res: &Resource) -> Option<&str> {
    res.fields
        .iter()
        .find(|(_, f)| f.primary_key)
        .map(|(name, _)| name.as_str())
}

/// An id as a path segment (`42`, or a UUID without quotes).
pub fn id_segment(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The rows of a list response: a bare array, or the first array member of an
/// envelope object (`items`, `data`, … whatever the API names it).
fn list_items(body: &Value) -> Option<&Vec<Value>> {
    match body {
        Value::Array(items) => Some(items),
        Value::Object(obj) => ["items", "data", "results", "rows"]
            .iter()
            .find_map(|k| obj.get(*k)?.as_array())
            .or_else(|| obj.values().find_map(Value::as_array)),
        _ => None,
    }
}

/// `POST /{key}` with a generated body; returns the new row's id.
pub async fn create_row(
    http: &Http,
    t: &Target,
    body_gen: &BodyGen,
    pools: &Pools,
) -> Result<Value, String> {
    let key = &t.key;
    let body = body_gen.create(t, pools)?;
    let reply = http
        .send(Method::POST, &format!("/{key}"), Some(&body))
        .await
        .map_err(|e| format!("{e:#}"))?;
    if !reply.status.is_success() {
        return Err(format!("POST /{key} answered {}", reply.describe()));
    }
    let pk = primary_key(&t.res).unwrap_or("id");
    reply
        .json()
        .and_then(|row| row.get(pk).cloned())
        .or_else(|| {
            let loc = reply.location()?;
            Some(Value::String(loc.rsplit('/').next()?.to_owned()))
        })
        .ok_or_else(|| format!("POST /{key} returned no `{pk}` in its body and no Location header"))
}

/// Fills [`Pools`] on demand by reading list routes and creating rows.
pub struct Fixtures<'a> {
    pub http: &'a Http,
    pub targets: &'a IndexMap<String, Target>,
    pub body_gen: &'a BodyGen,
    pub pools: Pools,
}

impl Fixtures<'_> {
    /// Make sure at least one id of `key` is known: read a page of its list route,
    /// and when it is empty, create a few rows (and, first, the rows they refer to).
    pub fn ensure<'b>(
        &'b mut self,
        key: &'b str,
        depth: usize,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + 'b>> {
        Box::pin(async move {
            if !self.pools.ids(key).is_empty() {
                return Ok(());
            }
            let t = self
                .targets
                .get(key)
                .ok_or_else(|| format!("no resource `{key}` in the spec"))?;
            let res = &t.res;
            if allows(res, Operation::List) {
                let ids = self.list_ids(key, res).await?;
                self.pools.insert(key, ids);
            }
            if !self.pools.ids(key).is_empty() {
                return Ok(());
            }
            if !allows(res, Operation::Create) {
                return Err(format!(
                    "`{key}` has no rows and no create route to add some"
                ));
            }
            self.ensure_refs(key, depth).await?;
            let mut ids = Vec::with_capacity(SEED_ROWS);
            for _ in 0..SEED_ROWS {
                ids.push(create_row(self.http, t, self.body_gen, &self.pools).await?);
            }
            self.pools.insert(key, ids);
            Ok(())
        })
    }

    /// Make sure every resource that `key`'s create body refers to has rows.
    /// Nullable references may stay empty (the body sends null).
    pub async fn ensure_refs(&mut self, key: &str, depth: usize) -> Result<(), String> {
        if depth >= MAX_REF_DEPTH {
            return Err(format!(
                "references nest deeper than {MAX_REF_DEPTH} levels at `{key}`"
            ));
        }
        let targets = self.targets;
        let t = &targets[key];
        let sent = t
            .create_fields
            .iter()
            .map(|name| &t.res.fields[name.as_str()]);
        for field in sent.filter(|f| f.ty == FieldType::Ref) {
            let to = field.to.as_deref().unwrap_or_default();
            if to == key {
                continue; // a self-reference: the first rows cannot point anywhere
            }
            match self.ensure(to, depth + 1).await {
                Err(_) if field.nullable => {}
                other => other?,
            }
        }
        Ok(())
    }

    async fn list_ids(&self, key: &str, res: &Resource) -> Result<Vec<Value>, String> {
        let reply = self
            .http
            .send(Method::GET, &format!("/{key}"), None)
            .await
            .map_err(|e| format!("{e:#}"))?;
        if !reply.status.is_success() {
            return Err(format!("GET /{key} answered {}", reply.describe()));
        }
        let body = reply
            .json()
            .ok_or_else(|| format!("GET /{key} did not return JSON"))?;
        let pk = primary_key(res).unwrap_or("id");
        let items =
            list_items(&body).ok_or_else(|| format!("GET /{key} returned no list of rows"))?;
        Ok(items
            .iter()
            .filter_map(|row| row.get(pk).cloned())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_items_accepts_arrays_and_envelopes() {
        assert_eq!(list_items(&json!([1])).unwrap().len(), 1);
        assert_eq!(
            list_items(&json!({"items": [1, 2], "next": null}))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            list_items(&json!({"rows_total": 3, "page": [1]}))
                .unwrap()
                .len(),
            1
        );
        assert!(list_items(&json!({"a": 1})).is_none());
    }

    #[test]
    fn ids_become_path_segments() {
        assert_eq!(id_segment(&json!(42)), "42");
        assert_eq!(id_segment(&json!("5f0c")), "5f0c");
    }
}
