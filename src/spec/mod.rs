//! Stage 1 of the pipeline: read `apiforge.yaml` into typed [`Spec`] values.
//!
//! Positions: serde_yaml reports its own syntax/type errors with a location; semantic
//! checks (in `validate`) locate values through a key-path → position index.

pub mod types;
pub mod units;

pub use types::*;
pub use units::{ByteSize, Duration};

use std::path::Path;

use crate::diagnostics::{Diagnostic, Report, Severity};

/// A spec that passed validation, with the warnings it produced.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub spec: Spec,
    pub warnings: Vec<Diagnostic>,
}

/// Read, parse and validate a spec file. `Err` holds every error found.
// PLACEHOLDER: plain serde_yaml without positions; issue 2 replaces the internals
// (keeping this signature) with located, accumulated diagnostics.
pub fn load(path: &Path) -> Result<Loaded, Report> {
    let err = |line, col, message: String| Report {
        diagnostics: vec![Diagnostic {
            file: path.to_path_buf(),
            line,
            col,
            severity: Severity::Error,
            message,
        }],
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(1, 1, format!("cannot read: {e}")))?;
    let spec: Spec = serde_yaml::from_str(&text).map_err(|e| {
        let (l, c) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
        err(l, c, e.to_string())
    })?;
    Ok(Loaded {
        spec,
        warnings: Vec::new(),
    })
}
