//! Stage 5 of the pipeline: put rendered files on disk, all or nothing, and keep the
//! manifest (`.apiforge/manifest.json`: file → sha256 of what apiforge wrote) that lets
//! `generate` tell an untouched generated file from a hand-edited one.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::render::{OutFile, Owner};

/// Path of the manifest inside a project.
pub const MANIFEST_PATH: &str = ".apiforge/manifest.json";

/// What apiforge wrote, by relative path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub files: BTreeMap<String, ManifestEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub sha256: String,
    pub owner: Owner,
}

impl Manifest {
    /// The manifest of `files` as rendered.
    pub fn of(files: &[OutFile]) -> Self {
        Manifest {
            version: 1,
            files: files
                .iter()
                .map(|f| {
                    (
                        f.path.clone(),
                        ManifestEntry {
                            sha256: sha256_hex(f.contents.as_bytes()),
                            owner: f.owner,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Reads `DIR/.apiforge/manifest.json`.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(MANIFEST_PATH);
        let text = fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (is this an apiforge project?)",
                path.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid manifest", path.display()))
    }

    fn to_json(&self) -> String {
        format!(
            "{}\n",
            serde_json::to_string_pretty(self).expect("a manifest serializes")
        )
    }
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a new project into `dir`: every file and the manifest go into a staging folder
/// next to `dir` first, which then replaces `dir` (missing or empty) in one rename. With
/// `force`, a non-empty `dir` is allowed and each staged file is moved over its old copy.
/// On error nothing is left behind (the staging folder is removed).
pub fn write_new_project(dir: &Path, files: &[OutFile], force: bool) -> anyhow::Result<()> {
    let existing = is_non_empty_dir(dir)?;
    if existing && !force {
        bail!(
            "{} is not empty; choose another folder or pass --force to write into it",
            dir.display()
        );
    }
    if dir.exists() && !dir.is_dir() {
        bail!("{} exists and is not a folder", dir.display());
    }
    let staging = staging_dir(dir)?;
    let result = (|| {
        stage(&staging, files)?;
        fs::write(staging.join(MANIFEST_PATH), Manifest::of(files).to_json())?;
        if existing {
            move_tree(&staging, dir)?;
            fs::remove_dir_all(&staging)?;
        } else {
            if dir.exists() {
                fs::remove_dir(dir)?;
            }
            fs::rename(&staging, dir)
                .with_context(|| format!("cannot move the project into {}", dir.display()))?;
        }
        anyhow::Ok(())
    })();
    if result.is_err() && staging.exists() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

/// What `update_project` did or would do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UpdatePlan {
    /// Generated files whose rendering differs from the disk (or that are missing).
    pub changed: Vec<String>,
    /// Generated files edited by hand since apiforge wrote them (among `changed`).
    pub hand_edited: Vec<String>,
    /// User-owned files that are missing and will be written once.
    pub missing_user_files: Vec<String>,
}

impl UpdatePlan {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.missing_user_files.is_empty()
    }
}

/// Compares rendered files with a project on disk and its manifest.
pub fn plan_update(dir: &Path, files: &[OutFile]) -> anyhow::Result<UpdatePlan> {
    let manifest = Manifest::read(dir)?;
    let mut plan = UpdatePlan::default();
    for f in files {
        let on_disk = fs::read(dir.join(&f.path)).ok();
        match f.owner {
            Owner::User => {
                if on_disk.is_none() {
                    plan.missing_user_files.push(f.path.clone());
                }
            }
            Owner::Generated => {
                if on_disk.as_deref() == Some(f.contents.as_bytes()) {
                    continue;
                }
                plan.changed.push(f.path.clone());
                let recorded = manifest.files.get(&f.path).map(|e| e.sha256.as_str());
                let edited = on_disk
                    .as_deref()
                    .is_some_and(|bytes| recorded != Some(sha256_hex(bytes).as_str()));
                if edited {
                    plan.hand_edited.push(f.path.clone());
                }
            }
        }
    }
    Ok(plan)
}

/// Rewrites the changed generated files and writes missing user files; refuses (naming
/// them) to overwrite hand-edited generated files unless `force`. Every file is first
/// written to a temporary sibling (nothing is replaced if one fails), then each is renamed
/// over its old copy, in `files` order; the manifest is renamed last.
pub fn update_project(dir: &Path, files: &[OutFile], force: bool) -> anyhow::Result<UpdatePlan> {
    let plan = plan_update(dir, files)?;
    if !plan.hand_edited.is_empty() && !force {
        bail!(
            "these generated files were edited by hand: {}; move your changes to src/hooks.rs \
             (or other files of yours) or pass --force to overwrite them",
            plan.hand_edited.join(", ")
        );
    }
    let mut manifest = Manifest::read(dir)?;
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| {
        for f in files {
            let write = plan.changed.contains(&f.path) || plan.missing_user_files.contains(&f.path);
            if write {
                let path = dir.join(&f.path);
                let tmp = stage_file(&path, f.contents.as_bytes())?;
                staged.push((tmp, path));
            }
            if write || f.owner == Owner::Generated {
                manifest.files.insert(
                    f.path.clone(),
                    ManifestEntry {
                        sha256: sha256_hex(f.contents.as_bytes()),
                        owner: f.owner,
                    },
                );
            }
        }
        let path = dir.join(MANIFEST_PATH);
        let tmp = stage_file(&path, manifest.to_json().as_bytes())?;
        staged.push((tmp, path));
        anyhow::Ok(())
    })();
    if let Err(e) = result {
        for (tmp, _) in &staged {
            let _ = fs::remove_file(tmp);
        }
        return Err(e);
    }
    for (tmp, path) in &staged {
        fs::rename(tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    }
    Ok(plan)
}

/// Deletes `paths` (relative to `dir`) and their manifest entries (what `generate
/// --redo-last` does to the migration files it replaces).
pub fn forget(dir: &Path, paths: &[String]) -> anyhow::Result<()> {
    let mut manifest = Manifest::read(dir)?;
    for p in paths {
        manifest.files.remove(p);
    }
    let path = dir.join(MANIFEST_PATH);
    let tmp = stage_file(&path, manifest.to_json().as_bytes())?;
    fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))?;
    for p in paths {
        let file = dir.join(p);
        if file.exists() {
            fs::remove_file(&file).with_context(|| format!("cannot delete {}", file.display()))?;
        }
    }
    Ok(())
}

/// Writes `contents` to a temporary sibling of `path` (same folder, so renaming it over
/// `path` is atomic) and returns the sibling's path.
fn stage_file(path: &Path, contents: &[u8]) -> anyhow::Result<PathBuf> {
    let parent = path.parent().context("a file path has a parent")?;
    fs::create_dir_all(parent)?;
    let name = path.file_name().context("a file name")?.to_string_lossy();
    let tmp = parent.join(format!(".{name}.apiforge-tmp-{}", std::process::id()));
    fs::write(&tmp, contents).with_context(|| format!("cannot write {}", tmp.display()))?;
    Ok(tmp)
}

fn is_non_empty_dir(dir: &Path) -> anyhow::Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(true),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

/// `.NAME.apiforge-tmp-PID` next to `dir` (same filesystem, so the rename is atomic).
fn staging_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    let abs = std::path::absolute(dir)?;
    let parent = abs.parent().context("the project folder has a parent")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let name = abs
        .file_name()
        .context("the project folder has a name")?
        .to_string_lossy();
    let staging = parent.join(format!(".{name}.apiforge-tmp-{}", std::process::id()));
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    fs::create_dir(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    Ok(staging)
}

fn stage(staging: &Path, files: &[OutFile]) -> anyhow::Result<()> {
    for f in files {
        let path = staging.join(&f.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, &f.contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(parent) = staging.join(MANIFEST_PATH).parent() {
        fs::create_dir_all(parent)?;
    }
    Ok(())
}

/// Moves every file of `from` into the same place under `to`, replacing existing files.
fn move_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in walkdir::WalkDir::new(from).min_depth(1) {
        let entry = entry?;
        let rel = entry.path().strip_prefix(from)?;
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target)?;
        } else {
            fs::rename(entry.path(), &target)
                .with_context(|| format!("cannot write {}", target.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, contents: &str, owner: Owner) -> OutFile {
        OutFile {
            path: path.into(),
            contents: contents.into(),
            owner,
        }
    }

    #[test]
    fn new_project_is_written_with_its_manifest_and_refuses_a_non_empty_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        let files = [
            file("src/a.rs", "a", Owner::Generated),
            file("b.txt", "b", Owner::User),
        ];
        write_new_project(&dir, &files, false).unwrap();
        assert_eq!(fs::read_to_string(dir.join("src/a.rs")).unwrap(), "a");
        let manifest = Manifest::read(&dir).unwrap();
        assert_eq!(manifest.files["src/a.rs"].sha256, sha256_hex(b"a"));
        let err = write_new_project(&dir, &files, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not empty"), "{err}");
        write_new_project(&dir, &[file("src/a.rs", "a2", Owner::Generated)], true).unwrap();
        assert_eq!(fs::read_to_string(dir.join("src/a.rs")).unwrap(), "a2");
        assert_eq!(fs::read_to_string(dir.join("b.txt")).unwrap(), "b");
        let leftovers: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["p"]);
    }

    #[test]
    fn update_refuses_hand_edited_files_unless_forced() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        let v1 = [
            file("g.rs", "one", Owner::Generated),
            file("u.rs", "mine", Owner::User),
        ];
        write_new_project(&dir, &v1, false).unwrap();
        let v2 = [
            file("g.rs", "two", Owner::Generated),
            file("u.rs", "theirs", Owner::User),
        ];
        let plan = update_project(&dir, &v2, false).unwrap();
        assert_eq!(plan.changed, ["g.rs"]);
        assert_eq!(fs::read_to_string(dir.join("g.rs")).unwrap(), "two");
        assert_eq!(
            fs::read_to_string(dir.join("u.rs")).unwrap(),
            "mine",
            "user files are kept"
        );

        fs::write(dir.join("g.rs"), "edited").unwrap();
        let v3 = [file("g.rs", "three", Owner::Generated)];
        let err = update_project(&dir, &v3, false).unwrap_err().to_string();
        assert!(err.contains("g.rs"), "{err}");
        assert_eq!(fs::read_to_string(dir.join("g.rs")).unwrap(), "edited");
        update_project(&dir, &v3, true).unwrap();
        assert_eq!(fs::read_to_string(dir.join("g.rs")).unwrap(), "three");
        assert!(plan_update(&dir, &v3).unwrap().is_empty());
    }
}
