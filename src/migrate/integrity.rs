//! The migration files checked against the state: every migration listed in
//! `.apiforge/schema.json` is on disk, unchanged since apiforge wrote it (sha256 in
//! `.apiforge/manifest.json`), and no two files share a version; files on disk that the
//! state does not list (a merge, a hand-written file) are reported too. `generate` refuses
//! (exit 2) and `generate --check` fails (exit 1) on any of them, each with what to do.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use super::{MIGRATIONS_DIR, SchemaState};
use crate::write::{Manifest, sha256_hex};

/// The state before the last migration `generate` wrote (for `generate --redo-last`).
pub const PREVIOUS_PATH: &str = ".apiforge/schema.previous.json";

/// The version of `0020_add_x.sql` (and of `0020_add_x.up.sql`, `0020_add_x.down.sql`).
pub fn version(file: &str) -> Option<u32> {
    file.split_once('_')?.0.parse().ok()
}

/// `migrations/*.sql` file names (`.up.sql` and `.down.sql` included), sorted.
pub fn files_on_disk(dir: &Path) -> anyhow::Result<Vec<String>> {
    let folder = dir.join(MIGRATIONS_DIR);
    let mut out = Vec::new();
    if folder.is_dir() {
        for entry in std::fs::read_dir(&folder)
            .with_context(|| format!("cannot read {}", folder.display()))?
        {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".sql") {
                out.push(name);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Every problem of the migration files, each with what to do; empty when they match the
/// state. `skip` names files not to check (the ones `--redo-last` replaces).
pub fn verify(dir: &Path, state: &SchemaState, skip: &[String]) -> anyhow::Result<Vec<String>> {
    let manifest = Manifest::read(dir)?;
    let disk = files_on_disk(dir)?;
    let mut problems = Vec::new();

    let mut by_version: BTreeMap<u32, Vec<&String>> = BTreeMap::new();
    for f in &disk {
        match version(f) {
            Some(v) => by_version.entry(v).or_default().push(f),
            None => problems.push(format!(
                "migrations/{f} has no version: sqlx needs `NNNN_<name>.sql`; rename it or \
                 delete it and express the change in apiforge.yaml"
            )),
        }
    }
    for (v, files) in &by_version {
        // The up and down files of one reversible migration share its version.
        let mut stems: Vec<&str> = files.iter().map(|f| super::stem(f)).collect();
        stems.sort_unstable();
        stems.dedup();
        if stems.len() > 1 {
            let foreign: Vec<&str> = files
                .iter()
                .filter(|f| !state.migrations.contains(f))
                .map(|f| f.as_str())
                .collect();
            let which = if foreign.is_empty() {
                "the files of the branch you are not keeping".to_string()
            } else {
                foreign
                    .iter()
                    .map(|f| format!("migrations/{f}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            problems.push(format!(
                "version {v} is used by {} files: {} (two branches each wrote migration {v:04}, \
                 then were merged); sqlx refuses to start on a duplicate version. Keep the \
                 migrations of the branch that was merged first (main), delete {which}, take \
                 that branch's .apiforge/ (`git checkout main -- .apiforge`), then run \
                 `apiforge generate` to write the other branch's change as the next migration",
                files.len(),
                files
                    .iter()
                    .map(|f| format!("migrations/{f}"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
        }
    }

    let mut last = 0;
    for (i, m) in state.migrations.iter().enumerate() {
        let v = version(m).unwrap_or(0);
        let down_of_previous = i > 0 && super::stem(&state.migrations[i - 1]) == super::stem(m);
        if i > 0 && v <= last && !down_of_previous {
            problems.push(format!(
                ".apiforge/schema.json lists migrations/{m} (version {v}) after version {last}: \
                 versions must increase. Take .apiforge/ from main (`git checkout main -- \
                 .apiforge`) and run `apiforge generate`"
            ));
        }
        last = last.max(v);
        if skip.contains(m) {
            continue;
        }
        let path = format!("{MIGRATIONS_DIR}/{m}");
        match std::fs::read(dir.join(&path)) {
            Err(_) => problems.push(format!(
                "{path} is listed in .apiforge/schema.json but missing: restore it \
                 (`git checkout -- {path}`). Deleting a migration does not undo it; to replace \
                 the last migration before any database applied it, run `apiforge generate \
                 --redo-last`"
            )),
            Ok(bytes) => {
                let recorded = manifest.files.get(&path).map(|e| e.sha256.as_str());
                if recorded.is_some_and(|r| r != sha256_hex(&bytes)) {
                    problems.push(format!(
                        "{path} was changed after apiforge wrote it (its sha256 differs from \
                         .apiforge/manifest.json), and sqlx refuses to start when an applied \
                         migration changed: restore it (`git checkout -- {path}`). To change the \
                         last migration before any database applied it, fix apiforge.yaml and \
                         run `apiforge generate --redo-last`"
                    ));
                }
            }
        }
    }
    for f in &disk {
        if state.migrations.contains(f) || skip.contains(f) {
            continue;
        }
        let order = match version(f) {
            Some(v) if v <= last => {
                format!(" and its version {v} is not after the last one ({last})")
            }
            _ => String::new(),
        };
        problems.push(format!(
            "migrations/{f} is not listed in .apiforge/schema.json{order}: it came from another \
             branch or was written by hand, and apiforge does not know the schema it makes. \
             After a merge: delete it, take .apiforge/ from main (`git checkout main -- \
             .apiforge`) and run `apiforge generate` to write that change as the next \
             migration. A change made by hand belongs in apiforge.yaml"
        ));
    }
    Ok(problems)
}

/// The state before the last migration, when kept.
pub fn read_previous(dir: &Path) -> anyhow::Result<Option<SchemaState>> {
    let path = dir.join(PREVIOUS_PATH);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .map(Some)
        .with_context(|| format!("{} is not a valid schema state", path.display()))
}
