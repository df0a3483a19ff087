//! Stage 1 of the pipeline: read `apiforge.yaml` into typed [`Spec`] values.
//!
//! The file is read into a positioned YAML tree ([`yaml`]); `validate` checks its keys and
//! shapes (every problem at once), serde turns the cleaned tree into a [`Spec`], and the
//! semantic checks locate what they report through the same tree.

pub mod types;
pub mod units;
pub mod yaml;

pub use types::*;
pub use units::{ByteSize, Duration, Rate};

use std::path::Path;

use serde_yaml::Value;

use crate::diagnostics::{Diagnostic, Report, Severity};
use crate::validate::{self, Finding};
use yaml::{Kind, Pos, Resolved};

/// A spec that passed validation, with the warnings it produced.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub spec: Spec,
    pub warnings: Vec<Diagnostic>,
}

/// Read, parse and validate a spec file. `Err` holds every error found, located.
pub fn load(path: &Path) -> Result<Loaded, Report> {
    match std::fs::read(path) {
        Ok(bytes) => load_bytes(path, &bytes),
        Err(e) => Err(Report {
            diagnostics: vec![Diagnostic {
                file: path.to_path_buf(),
                line: 0,
                col: 0,
                severity: Severity::Error,
                message: format!("cannot read the spec: {e}"),
            }],
        }),
    }
}

/// [`load`] on contents already read; `path` only names the file in diagnostics.
pub fn load_bytes(path: &Path, bytes: &[u8]) -> Result<Loaded, Report> {
    let findings = match parse_and_check(bytes) {
        Ok((spec, warnings)) => {
            return Ok(Loaded {
                spec,
                warnings: to_diagnostics(path, warnings),
            });
        }
        Err(findings) => findings,
    };
    Err(Report {
        diagnostics: to_diagnostics(path, findings),
    })
}

fn to_diagnostics(path: &Path, mut findings: Vec<Finding>) -> Vec<Diagnostic> {
    findings.sort_by_key(|f| (f.pos, f.severity));
    findings.dedup();
    findings
        .into_iter()
        .map(|f| Diagnostic {
            file: path.to_path_buf(),
            line: f.pos.line,
            col: f.pos.col,
            severity: f.severity,
            message: f.message,
        })
        .collect()
}

fn error(pos: Pos, message: impl Into<String>) -> Finding {
    Finding {
        severity: Severity::Error,
        pos,
        message: message.into(),
    }
}

/// The spec and its warnings, or every error.
fn parse_and_check(bytes: &[u8]) -> Result<(Spec, Vec<Finding>), Vec<Finding>> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        let col = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        vec![error(Pos { line, col }, "the spec is not UTF-8 text")]
    })?;
    let parsed = yaml::parse(text).map_err(|p| vec![error(p.pos, p.message)])?;
    let empty = "the spec is empty; a spec needs at least `name:` and `resources:`";
    let root = parsed.root.ok_or_else(|| vec![error(Pos::START, empty)])?;
    match &root.kind {
        Kind::Map(_) => {}
        Kind::Scalar(s) if s.resolve() == Resolved::Null => {
            return Err(vec![error(root.pos, empty)]);
        }
        _ => {
            return Err(vec![error(
                root.pos,
                format!(
                    "a spec is a mapping of keys (`name:`, `resources:`, …), not {}",
                    root.describe()
                ),
            )]);
        }
    }
    let mut errors: Vec<Finding> = parsed
        .problems
        .into_iter()
        .map(|p| error(p.pos, p.message))
        .collect();
    let walked = validate::shape::walk(&root);
    errors.extend(walked.problems.into_iter().map(|p| error(p.pos, p.message)));
    let mut dropped = walked.dropped;
    let Some(mut value) = walked.value else {
        return Err(errors);
    };
    if root.get("name").is_none() {
        errors.push(error(
            root.pos,
            "the spec needs `name:` (the crate name of the generated API, snake_case)",
        ));
    }
    if let Value::Mapping(map) = &mut value {
        if !map.contains_key("name") {
            // Stand-in so the rest of the spec is still checked; the error is reported.
            map.insert("name".into(), "spec".into());
            dropped.insert(vec!["name".to_string()]);
        }
        fill_pagination(map);
    }
    let spec: Spec = match serde_yaml::from_value(value) {
        Ok(spec) => spec,
        Err(e) => {
            errors.push(error(root.pos, format!("invalid spec: {e}")));
            return Err(errors);
        }
    };
    errors.extend(validate::check(&spec, &root, &dropped));
    if !errors.is_empty() {
        return Err(errors);
    }
    let warnings = validate::lint(&spec, &root);
    Ok((spec, warnings))
}

/// A resource's `pagination` inherits the keys it does not set from `defaults.pagination`.
fn fill_pagination(spec: &mut serde_yaml::Mapping) {
    let builtin = Pagination::default();
    let defaults = spec
        .get("defaults")
        .and_then(|d| d.get("pagination"))
        .cloned()
        .unwrap_or(Value::Mapping(Default::default()));
    let inherited = |key: &str, fallback: u32| {
        defaults
            .get(key)
            .cloned()
            .unwrap_or_else(|| fallback.into())
    };
    let default_limit = inherited("default_limit", builtin.default_limit);
    let max_limit = inherited("max_limit", builtin.max_limit);
    let Some(Value::Mapping(resources)) = spec.get_mut("resources") else {
        return;
    };
    for (_, res) in resources.iter_mut() {
        if let Some(Value::Mapping(p)) = res.get_mut("pagination") {
            p.entry("default_limit".into())
                .or_insert_with(|| default_limit.clone());
            p.entry("max_limit".into())
                .or_insert_with(|| max_limit.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<Loaded, Report> {
        load_bytes(Path::new("t.yaml"), text.as_bytes())
    }

    #[test]
    fn same_spec_as_plain_serde() {
        let shop = include_str!("../../examples/shop.yaml");
        let plain: Spec = serde_yaml::from_str(shop).unwrap();
        assert_eq!(load_str(shop).unwrap().spec, plain);
        // The blog's posts set only `max_limit`; `default_limit` comes from `defaults`.
        let blog = include_str!("../../examples/blog.yaml");
        let mut plain: Spec = serde_yaml::from_str(blog).unwrap();
        plain.resources["posts"].pagination = Some(Pagination {
            default_limit: 20,
            max_limit: 50,
        });
        assert_eq!(load_str(blog).unwrap().spec, plain);
    }

    #[test]
    fn resource_pagination_inherits_defaults() {
        let text = "name: s\ndefaults: { pagination: { default_limit: 10 } }\nresources:\n  \
                    a:\n    fields: { id: { type: serial, primary_key: true } }\n    \
                    pagination: { max_limit: 30 }\n";
        let spec = load_str(text).unwrap().spec;
        let p = spec.resources["a"].pagination.unwrap();
        assert_eq!((p.default_limit, p.max_limit), (10, 30));
        assert_eq!(spec.defaults.pagination.max_limit, 200);
    }

    #[test]
    fn errors_are_sorted_and_located() {
        let text = "name: s\nresources:\n  a:\n    fields:\n      id: { type: serial }\n      \
                    b: { type: nope }\nbogus: 1\n";
        let report = load_str(text).unwrap_err();
        let lines: Vec<String> = report.diagnostics.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            lines,
            [
                "t.yaml:6:18: error: unknown field type `nope`; expected one of: \
                 string, text, int, bigint, serial, bigserial, float, decimal, bool, uuid, timestamp, \
                 date, json, enum, ref",
                "t.yaml:7:1: error: unknown key `bogus` in the spec; expected one of: name, database, \
                 cache, server, monitoring, defaults, auth, resources",
            ]
        );
    }

    #[test]
    fn invalid_utf8_is_located() {
        let report = load_bytes(Path::new("t.yaml"), b"name: s\nab\xff").unwrap_err();
        assert_eq!(
            report.to_string(),
            "t.yaml:2:3: error: the spec is not UTF-8 text\n"
        );
    }
}
