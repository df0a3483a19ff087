//! Stage 2 of the pipeline: every problem of a spec at once, each located.
//!
//! [`shape`] checks keys and value kinds on the YAML tree (before serde); the semantic
//! checks below run on the typed [`Spec`] and find positions through the tree. A spec
//! without errors is safe to model: names resolve, each resource has exactly one primary
//! key, refs point at resources that have one, options fit their types. `lints` adds
//! warnings about missing or redundant indexes and unbudgeted caches.

mod kinds;
mod lints;
mod names;
mod relations;
mod resource;
mod security;
pub mod shape;
pub mod suggest;

use std::collections::HashSet;

use crate::diagnostics::Severity;
use crate::spec::yaml::{Node, Pos};
use crate::spec::{Field, Resource, Spec};

/// A located message, before it is tied to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub pos: Pos,
    pub message: String,
}

/// Build a key path (`["resources", "products", "fields"]`) from displayable parts.
macro_rules! key_path {
    ($($seg:expr),* $(,)?) => { &[$(($seg).to_string()),*][..] };
}
pub(crate) use key_path;

/// What the checks share: the spec, the tree that locates it, and the findings so far.
pub(crate) struct Ctx<'a> {
    pub spec: &'a Spec,
    tree: &'a Node,
    /// Paths the shape walk removed because they were malformed (already reported).
    dropped: &'a HashSet<Vec<String>>,
    findings: Vec<Finding>,
}

impl<'a> Ctx<'a> {
    pub fn new(spec: &'a Spec, tree: &'a Node, dropped: &'a HashSet<Vec<String>>) -> Self {
        Self {
            spec,
            tree,
            dropped,
            findings: Vec::new(),
        }
    }

    fn push(&mut self, severity: Severity, pos: Pos, message: String) {
        self.findings.push(Finding {
            severity,
            pos,
            message,
        });
    }

    /// An error at the last key of `path` (or at the list item it names).
    pub fn error_key(&mut self, path: &[String], message: impl Into<String>) {
        let pos = self.tree.key_pos(path);
        self.push(Severity::Error, pos, message.into());
    }

    /// An error at the value of `path`.
    pub fn error_value(&mut self, path: &[String], message: impl Into<String>) {
        let pos = self.tree.value_pos(path);
        self.push(Severity::Error, pos, message.into());
    }

    pub fn warn_key(&mut self, path: &[String], message: impl Into<String>) {
        let pos = self.tree.key_pos(path);
        self.push(Severity::Warning, pos, message.into());
    }

    /// The position of the value at `path`.
    pub fn pos_of(&self, path: &[String]) -> Pos {
        self.tree.value_pos(path)
    }

    /// Whether `path` (or a parent of it) was malformed and removed by the shape walk.
    pub fn dropped(&self, path: &[String]) -> bool {
        (1..=path.len()).any(|n| self.dropped.contains(&path[..n]))
    }

    /// Whether anything under `path` was removed by the shape walk.
    pub fn dropped_under(&self, path: &[String]) -> bool {
        self.dropped.iter().any(|d| d.starts_with(path))
    }

    /// A resource exists, or was written but malformed (so it is not "unknown").
    pub fn resource_known(&self, name: &str) -> bool {
        self.spec.resources.contains_key(name) || self.dropped(key_path!["resources", name])
    }

    /// A field exists, or was written but malformed.
    pub fn field_known(&self, resource: &str, field: &str) -> bool {
        self.spec
            .resources
            .get(resource)
            .is_some_and(|r| r.fields.contains_key(field))
            || self.dropped(key_path!["resources", resource, "fields", field])
    }

    pub fn into_findings(self) -> Vec<Finding> {
        self.findings
    }
}

/// The primary key of a resource, when it has exactly one.
pub(crate) fn primary_key(res: &Resource) -> Option<(&String, &Field)> {
    let mut keys = res.fields.iter().filter(|(_, f)| f.primary_key);
    match (keys.next(), keys.next()) {
        (Some(pk), None) => Some(pk),
        _ => None,
    }
}

/// Every error of a typed spec (the semantic checks; shape problems come from [`shape`]).
pub fn check(spec: &Spec, tree: &Node, dropped: &HashSet<Vec<String>>) -> Vec<Finding> {
    let mut cx = Ctx::new(spec, tree, dropped);
    names::check_spec_level(&mut cx);
    security::check_spec_level(&mut cx);
    for (key, res) in &spec.resources {
        resource::check(&mut cx, key, res);
        security::check_resource(&mut cx, key, res);
        relations::check(&mut cx, key, res);
    }
    names::check_collisions(&mut cx);
    cx.into_findings()
}

/// Warnings of a spec that has no errors.
pub fn lint(spec: &Spec, tree: &Node) -> Vec<Finding> {
    let dropped = HashSet::new();
    let mut cx = Ctx::new(spec, tree, &dropped);
    for (key, res) in &spec.resources {
        lints::check(&mut cx, key, res);
    }
    cx.into_findings()
}
