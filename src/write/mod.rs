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
    /// What the generated files were last rendered from ([`generation_stamp`]): while the
    /// spec and apiforge's build are the same and the files are as written, `generate`
    /// has nothing to do and says so without rendering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_from: Option<String>,
    pub files: BTreeMap<String, ManifestEntry>,
}

/// `VERSION+BUILD:SPEC-SHA256`: this apiforge (its version and a hash of its generator's
/// sources, see build.rs) and the spec text it rendered.
pub fn generation_stamp(spec_text: &str) -> String {
    format!(
        "{}+{}:{}",
        env!("CARGO_PKG_VERSION"),
        env!("APIFORGE_BUILD_ID"),
        sha256_hex(spec_text.as_bytes())
    )
}

/// Whether the project in `dir` is what `stamp` renders: the manifest says it was made from
/// it, every generated file is byte for byte what apiforge wrote and every user file is
/// there. Reads each generated file once; renders nothing.
pub fn up_to_date(dir: &Path, manifest: &Manifest, stamp: &str) -> bool {
    manifest.generated_from.as_deref() == Some(stamp)
        && manifest
            .files
            .iter()
            .all(|(path, entry)| match entry.owner {
                Owner::User => dir.join(path).exists(),
                Owner::Generated => {
                    fs::read(dir.join(path)).is_ok_and(|bytes| sha256_hex(&bytes) == entry.sha256)
                }
            })
}

/// Records in the manifest of `dir` what its generated files were rendered from (`None`:
/// not all of them, e.g. a file edited by hand was skipped). Writes only on a change.
pub fn record_generation(dir: &Path, stamp: Option<String>) -> anyhow::Result<()> {
    let mut manifest = Manifest::read(dir)?;
    if manifest.generated_from == stamp {
        return Ok(());
    }
    manifest.generated_from = stamp;
    manifest.write(dir)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub sha256: String,
    pub owner: Owner,
    /// sha256 of the unformatted render of a Rust file (see [`OutFile::input_sha256`]):
    /// while it is unchanged and the file on disk is still what apiforge wrote, `generate`
    /// reuses that file instead of running rustfmt again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_sha256: Option<String>,
}

impl ManifestEntry {
    pub fn of(f: &OutFile) -> Self {
        ManifestEntry {
            sha256: sha256_hex(f.contents.as_bytes()),
            owner: f.owner,
            input_sha256: f.input_sha256.clone(),
        }
    }
}

impl Manifest {
    /// The manifest of `files` as rendered.
    pub fn of(files: &[OutFile]) -> Self {
        Manifest {
            version: 1,
            generated_from: None,
            files: files
                .iter()
                .map(|f| (f.path.clone(), ManifestEntry::of(f)))
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

    /// Replaces `DIR/.apiforge/manifest.json` with this one (staged, then renamed over it).
    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(MANIFEST_PATH);
        let tmp = stage_file(&path, self.to_json().as_bytes())?;
        fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))
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
/// On error nothing is left behind (the staging folder is removed). `generated_from` goes
/// into the manifest ([`generation_stamp`]).
pub fn write_new_project(
    dir: &Path,
    files: &[OutFile],
    generated_from: Option<String>,
    force: bool,
) -> anyhow::Result<()> {
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
        let manifest = Manifest {
            generated_from,
            ..Manifest::of(files)
        };
        fs::write(staging.join(MANIFEST_PATH), manifest.to_json())?;
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

/// A user-owned file that replaces another one, e.g. the hooks file of a renamed resource:
/// while `from` exists and `to` does not, `to` is not written (the user renames `from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFileRename {
    pub from: String,
    pub to: String,
}

/// What the caller knows beyond the rendered files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UpdateContext {
    /// User files that replace others (a renamed resource's).
    pub renames: Vec<UserFileRename>,
    /// Generated files that are not rendered this time but stay as they are, neither
    /// rewritten nor removed: paths, or folders ending in `/` (written migrations, which
    /// are append-only).
    pub keep: Vec<String>,
}

impl UpdateContext {
    fn keeps(&self, path: &str) -> bool {
        self.keep
            .iter()
            .any(|k| k == path || (k.ends_with('/') && path.starts_with(k.as_str())))
    }
}

/// What `update_project` would do, from the rendered files, the disk and the manifest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UpdatePlan {
    /// Generated files whose rendering differs from the disk (or that are missing),
    /// hand-edited ones included.
    pub changed: Vec<String>,
    /// Generated files edited by hand since apiforge wrote them (among `changed` and `stale`).
    pub hand_edited: Vec<String>,
    /// User-owned files that are missing and will be written once.
    pub missing_user_files: Vec<String>,
    /// Generated files of the manifest that are no longer rendered (a removed or renamed
    /// resource) and still on disk: `update_project` removes them.
    pub stale: Vec<String>,
    /// Missing user files not written because the file they replace is still there.
    pub held_back: Vec<UserFileRename>,
}

impl UpdatePlan {
    /// Nothing to write, remove or rename.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty()
            && self.missing_user_files.is_empty()
            && self.stale.is_empty()
            && self.held_back.is_empty()
    }

    pub fn is_hand_edited(&self, path: &str) -> bool {
        self.hand_edited.iter().any(|p| p == path)
    }
}

/// What `update_project` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub plan: UpdatePlan,
    /// Files written (changed generated files and missing user files), in `files` order.
    pub written: Vec<String>,
    /// Stale generated files removed.
    pub removed: Vec<String>,
    /// Hand-edited generated files left as they are (changed or stale; without `force`).
    pub skipped: Vec<String>,
    /// `PATH.orig` copies of hand-edited files written before they were overwritten or
    /// removed (with `force`).
    pub backups: Vec<String>,
}

/// Where the copy of a hand-edited file goes before `--force` overwrites or removes it.
pub fn backup_path(path: &str) -> String {
    format!("{path}.orig")
}

/// A manifest path that stays inside the project: relative, no `..`, no root or prefix.
fn is_project_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// A file's bytes, `None` when it does not exist (other errors are reported).
fn read_if_exists(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Compares rendered files with a project on disk and its manifest.
pub fn plan_update(
    dir: &Path,
    files: &[OutFile],
    ctx: &UpdateContext,
) -> anyhow::Result<UpdatePlan> {
    let manifest = Manifest::read(dir)?;
    plan_with(dir, &manifest, files, ctx)
}

/// [`plan_update`] against a manifest already read.
pub fn plan_with(
    dir: &Path,
    manifest: &Manifest,
    files: &[OutFile],
    ctx: &UpdateContext,
) -> anyhow::Result<UpdatePlan> {
    let mut plan = UpdatePlan::default();
    let edited = |path: &str, bytes: &[u8]| {
        let recorded = manifest.files.get(path).map(|e| e.sha256.as_str());
        recorded != Some(sha256_hex(bytes).as_str())
    };
    for f in files {
        match f.owner {
            Owner::User => {
                if dir.join(&f.path).exists() {
                    continue;
                }
                match ctx
                    .renames
                    .iter()
                    .find(|r| r.to == f.path && dir.join(&r.from).is_file())
                {
                    Some(r) => plan.held_back.push(r.clone()),
                    None => plan.missing_user_files.push(f.path.clone()),
                }
            }
            Owner::Generated => {
                let on_disk = read_if_exists(&dir.join(&f.path))?;
                if on_disk.as_deref() == Some(f.contents.as_bytes()) {
                    continue;
                }
                plan.changed.push(f.path.clone());
                if on_disk.is_some_and(|bytes| edited(&f.path, &bytes)) {
                    plan.hand_edited.push(f.path.clone());
                }
            }
        }
    }
    let rendered: std::collections::BTreeSet<&str> =
        files.iter().map(|f| f.path.as_str()).collect();
    for (path, entry) in &manifest.files {
        if entry.owner != Owner::Generated
            || rendered.contains(path.as_str())
            || path == MANIFEST_PATH
            || ctx.keeps(path)
            || !is_project_relative(path)
        {
            continue;
        }
        let full = dir.join(path);
        if !full.is_file() {
            continue;
        }
        let bytes = read_if_exists(&full)?.unwrap_or_default();
        plan.stale.push(path.clone());
        if edited(path, &bytes) {
            plan.hand_edited.push(path.clone());
        }
    }
    Ok(plan)
}

/// Brings a project up to date with its rendered files:
/// - changed generated files are rewritten and missing user files written (user files that
///   exist are never touched, nor are missing ones held back by `ctx.renames`);
/// - generated files of the manifest that are no longer rendered are removed (user files
///   and `ctx.keep` never are), along with the folders this leaves empty;
/// - hand-edited generated files (changed or stale) are left as they are and reported in
///   `skipped`, unless `force`: then their current contents are first copied to `PATH.orig`.
///
/// Every file is first written to a temporary sibling (nothing is replaced if one fails),
/// then each is renamed over its old copy, in `files` order; stale files are removed after
/// that and the manifest is replaced last (and only when it changed). A skipped file keeps
/// its manifest entry (the hash of what apiforge last wrote there), so it is still reported
/// as edited by hand next time; a skipped stale file keeps it too, so it is still stale.
pub fn update_project(
    dir: &Path,
    files: &[OutFile],
    ctx: &UpdateContext,
    force: bool,
) -> anyhow::Result<Applied> {
    let old_manifest = Manifest::read(dir)?;
    let plan = plan_with(dir, &old_manifest, files, ctx)?;
    apply_plan(dir, &old_manifest, files, plan, force)
}

/// [`update_project`] with a plan made by [`plan_with`] from `old_manifest` (read once by a
/// caller that planned first).
pub fn apply_plan(
    dir: &Path,
    old_manifest: &Manifest,
    files: &[OutFile],
    plan: UpdatePlan,
    force: bool,
) -> anyhow::Result<Applied> {
    let mut manifest = old_manifest.clone();
    let mut applied = Applied::default();
    let skip = |path: &str| !force && plan.is_hand_edited(path);
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| {
        for f in files {
            let write = if plan.changed.contains(&f.path) {
                if skip(&f.path) {
                    applied.skipped.push(f.path.clone());
                    continue;
                }
                true
            } else {
                plan.missing_user_files.contains(&f.path)
            };
            let path = dir.join(&f.path);
            if write {
                if plan.is_hand_edited(&f.path) {
                    staged.push(stage_backup(dir, &f.path, &mut applied)?);
                }
                staged.push((stage_file(&path, f.contents.as_bytes())?, path));
                applied.written.push(f.path.clone());
            }
            if write || f.owner == Owner::Generated {
                manifest.files.insert(f.path.clone(), ManifestEntry::of(f));
            } else if let Some(entry) = manifest.files.get_mut(&f.path) {
                // A file that became the user's keeps the hash apiforge wrote.
                entry.owner = Owner::User;
                entry.input_sha256 = None;
            }
        }
        for path in &plan.stale {
            if skip(path) {
                applied.skipped.push(path.clone());
            } else {
                if plan.is_hand_edited(path) {
                    staged.push(stage_backup(dir, path, &mut applied)?);
                }
                applied.removed.push(path.clone());
                manifest.files.remove(path);
            }
        }
        // Entries of user files that are neither rendered nor on disk any more.
        manifest.files.retain(|path, e| {
            e.owner != Owner::User
                || files.iter().any(|f| f.path == *path)
                || dir.join(path).exists()
        });
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
    for path in &applied.removed {
        let full = dir.join(path);
        fs::remove_file(&full).with_context(|| format!("cannot remove {}", full.display()))?;
        remove_empty_parents(dir, &full);
    }
    if manifest != *old_manifest {
        manifest.write(dir)?;
    }
    applied.plan = plan;
    Ok(applied)
}

/// Stages `PATH.orig`, a copy of the current contents of `rel` (a hand-edited file).
fn stage_backup(
    dir: &Path,
    rel: &str,
    applied: &mut Applied,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let current = fs::read(dir.join(rel)).with_context(|| format!("cannot read {rel}"))?;
    let backup = backup_path(rel);
    let path = dir.join(&backup);
    let tmp = stage_file(&path, &current)?;
    applied.backups.push(backup);
    Ok((tmp, path))
}

/// Removes the folders between `file` and `dir` that are empty (best effort).
fn remove_empty_parents(dir: &Path, file: &Path) {
    let mut current = file.parent();
    while let Some(folder) = current {
        if folder == dir || !folder.starts_with(dir) || fs::remove_dir(folder).is_err() {
            break;
        }
        current = folder.parent();
    }
}

/// Deletes `paths` (relative to `dir`) and their manifest entries (what `generate
/// --redo-last` does to the migration files it replaces).
pub fn forget(dir: &Path, paths: &[String]) -> anyhow::Result<()> {
    let mut manifest = Manifest::read(dir)?;
    for p in paths {
        manifest.files.remove(p);
    }
    manifest.write(dir)?;
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
        OutFile::new(path, contents, owner)
    }

    fn read(dir: &Path, path: &str) -> String {
        fs::read_to_string(dir.join(path)).unwrap()
    }

    /// A project written from `files` in a fresh temporary folder.
    fn project(files: &[OutFile]) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        write_new_project(&dir, files, None, false).unwrap();
        (tmp, dir)
    }

    #[test]
    fn new_project_is_written_with_its_manifest_and_refuses_a_non_empty_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        let files = [
            file("src/a.rs", "a", Owner::Generated),
            file("b.txt", "b", Owner::User),
        ];
        write_new_project(&dir, &files, None, false).unwrap();
        assert_eq!(read(&dir, "src/a.rs"), "a");
        let manifest = Manifest::read(&dir).unwrap();
        assert_eq!(manifest.files["src/a.rs"].sha256, sha256_hex(b"a"));
        let err = write_new_project(&dir, &files, None, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not empty"), "{err}");
        write_new_project(
            &dir,
            &[file("src/a.rs", "a2", Owner::Generated)],
            None,
            true,
        )
        .unwrap();
        assert_eq!(read(&dir, "src/a.rs"), "a2");
        assert_eq!(read(&dir, "b.txt"), "b");
        let leftovers: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["p"]);
    }

    #[test]
    fn user_files_are_never_overwritten_and_written_when_missing() {
        let (_tmp, dir) = project(&[
            file("g.rs", "one", Owner::Generated),
            file("u.rs", "mine", Owner::User),
        ]);
        let v2 = [
            file("g.rs", "two", Owner::Generated),
            file("u.rs", "theirs", Owner::User),
            file("src/resources/new.rs", "hooks", Owner::User),
        ];
        let applied = update_project(&dir, &v2, &UpdateContext::default(), false).unwrap();
        assert_eq!(applied.written, ["g.rs", "src/resources/new.rs"]);
        assert_eq!(applied.plan.missing_user_files, ["src/resources/new.rs"]);
        assert_eq!(read(&dir, "g.rs"), "two");
        assert_eq!(read(&dir, "u.rs"), "mine", "user files are kept");
        assert_eq!(read(&dir, "src/resources/new.rs"), "hooks");
        // Even with --force, and even when the user file's manifest hash is outdated.
        fs::write(dir.join("src/resources/new.rs"), "edited hooks").unwrap();
        let applied = update_project(&dir, &v2, &UpdateContext::default(), true).unwrap();
        assert!(applied.plan.is_empty(), "{applied:?}");
        assert_eq!(read(&dir, "src/resources/new.rs"), "edited hooks");
    }

    #[test]
    fn a_hand_edited_file_is_skipped_and_the_others_are_written() {
        let (_tmp, dir) = project(&[
            file("g.rs", "one", Owner::Generated),
            file("h.rs", "one", Owner::Generated),
        ]);
        fs::write(dir.join("g.rs"), "edited").unwrap();
        let v2 = [
            file("g.rs", "two", Owner::Generated),
            file("h.rs", "two", Owner::Generated),
        ];
        let applied = update_project(&dir, &v2, &UpdateContext::default(), false).unwrap();
        assert_eq!(applied.skipped, ["g.rs"]);
        assert_eq!(applied.written, ["h.rs"]);
        assert_eq!(read(&dir, "g.rs"), "edited");
        assert_eq!(read(&dir, "h.rs"), "two");
        assert!(!dir.join("g.rs.orig").exists());
        // The skipped file keeps the hash apiforge wrote: still edited by hand next time.
        let manifest = Manifest::read(&dir).unwrap();
        assert_eq!(manifest.files["g.rs"].sha256, sha256_hex(b"one"));
        assert_eq!(
            plan_update(&dir, &v2, &UpdateContext::default())
                .unwrap()
                .hand_edited,
            ["g.rs"]
        );

        let applied = update_project(&dir, &v2, &UpdateContext::default(), true).unwrap();
        assert_eq!(applied.written, ["g.rs"]);
        assert_eq!(applied.backups, ["g.rs.orig"]);
        assert_eq!(read(&dir, "g.rs"), "two");
        assert_eq!(read(&dir, "g.rs.orig"), "edited");
        assert!(
            plan_update(&dir, &v2, &UpdateContext::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn generated_files_no_longer_rendered_are_removed_but_user_files_never() {
        let (_tmp, dir) = project(&[
            file("src/generated/services/a.rs", "a", Owner::Generated),
            file("src/generated/services/b.rs", "b", Owner::Generated),
            file("src/generated/routes/a.rs", "a", Owner::Generated),
            file("src/resources/a.rs", "hooks", Owner::User),
        ]);
        let v2 = [file("src/generated/services/b.rs", "b", Owner::Generated)];
        let plan = plan_update(&dir, &v2, &UpdateContext::default()).unwrap();
        assert_eq!(
            plan.stale,
            ["src/generated/routes/a.rs", "src/generated/services/a.rs"]
        );
        let applied = update_project(&dir, &v2, &UpdateContext::default(), false).unwrap();
        assert_eq!(applied.removed, plan.stale);
        assert!(!dir.join("src/generated/services/a.rs").exists());
        assert!(
            !dir.join("src/generated/routes").exists(),
            "an emptied folder goes too"
        );
        assert_eq!(read(&dir, "src/generated/services/b.rs"), "b");
        assert_eq!(read(&dir, "src/resources/a.rs"), "hooks");
        let manifest = Manifest::read(&dir).unwrap();
        assert!(!manifest.files.contains_key("src/generated/services/a.rs"));
        assert!(
            plan_update(&dir, &v2, &UpdateContext::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn kept_files_are_never_stale() {
        let (_tmp, dir) = project(&[
            file("migrations/0001_init.sql", "create", Owner::Generated),
            file("migrations/0002_more.sql", "alter", Owner::Generated),
            file("keep.txt", "k", Owner::Generated),
            file("gone.txt", "g", Owner::Generated),
        ]);
        let ctx = UpdateContext {
            renames: vec![],
            keep: vec!["migrations/".into(), "keep.txt".into()],
        };
        let applied = update_project(&dir, &[], &ctx, true).unwrap();
        assert_eq!(applied.removed, ["gone.txt"]);
        assert_eq!(read(&dir, "migrations/0001_init.sql"), "create");
        assert_eq!(read(&dir, "migrations/0002_more.sql"), "alter");
        assert_eq!(read(&dir, "keep.txt"), "k");
    }

    #[test]
    fn a_hand_edited_stale_file_is_kept_until_forced() {
        let (_tmp, dir) = project(&[
            file("old.rs", "old", Owner::Generated),
            file("keep.rs", "k", Owner::Generated),
        ]);
        fs::write(dir.join("old.rs"), "old, edited").unwrap();
        let v2 = [file("keep.rs", "k", Owner::Generated)];
        let applied = update_project(&dir, &v2, &UpdateContext::default(), false).unwrap();
        assert_eq!(applied.skipped, ["old.rs"]);
        assert!(applied.removed.is_empty());
        assert_eq!(read(&dir, "old.rs"), "old, edited");
        let plan = plan_update(&dir, &v2, &UpdateContext::default()).unwrap();
        assert_eq!(
            (plan.stale.as_slice(), plan.hand_edited.as_slice()),
            (&["old.rs".to_string()][..], &["old.rs".to_string()][..])
        );

        let applied = update_project(&dir, &v2, &UpdateContext::default(), true).unwrap();
        assert_eq!(applied.removed, ["old.rs"]);
        assert_eq!(applied.backups, ["old.rs.orig"]);
        assert!(!dir.join("old.rs").exists());
        assert_eq!(read(&dir, "old.rs.orig"), "old, edited");
        assert!(
            plan_update(&dir, &v2, &UpdateContext::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn manifest_paths_outside_the_project_are_never_removed() {
        let (tmp, dir) = project(&[file("a.rs", "a", Owner::Generated)]);
        fs::write(tmp.path().join("outside.txt"), "x").unwrap();
        let mut manifest = Manifest::read(&dir).unwrap();
        for path in ["../outside.txt", "/etc/hostname", ""] {
            manifest.files.insert(
                path.into(),
                ManifestEntry {
                    sha256: sha256_hex(b"x"),
                    owner: Owner::Generated,
                    input_sha256: None,
                },
            );
        }
        fs::write(dir.join(MANIFEST_PATH), manifest.to_json()).unwrap();
        let applied = update_project(
            &dir,
            &[file("a.rs", "a", Owner::Generated)],
            &UpdateContext::default(),
            true,
        )
        .unwrap();
        assert!(applied.plan.stale.is_empty(), "{applied:?}");
        assert!(tmp.path().join("outside.txt").exists());
    }

    #[test]
    fn a_renamed_user_file_is_not_written_while_the_old_one_exists() {
        let (_tmp, dir) = project(&[file("src/resources/old.rs", "my hooks", Owner::User)]);
        let v2 = [file("src/resources/new.rs", "fresh hooks", Owner::User)];
        let renames = UpdateContext {
            renames: vec![UserFileRename {
                from: "src/resources/old.rs".into(),
                to: "src/resources/new.rs".into(),
            }],
            keep: vec![],
        };
        let applied = update_project(&dir, &v2, &renames, false).unwrap();
        assert_eq!(applied.plan.held_back, renames.renames);
        assert!(applied.written.is_empty());
        assert!(!dir.join("src/resources/new.rs").exists());
        assert_eq!(read(&dir, "src/resources/old.rs"), "my hooks");
        // Once the user renamed it, nothing is left to do.
        fs::rename(
            dir.join("src/resources/old.rs"),
            dir.join("src/resources/new.rs"),
        )
        .unwrap();
        assert!(plan_update(&dir, &v2, &renames).unwrap().is_empty());
        // Without the old file, the new one is written as any missing user file.
        fs::remove_file(dir.join("src/resources/new.rs")).unwrap();
        let applied = update_project(&dir, &v2, &renames, false).unwrap();
        assert_eq!(applied.written, ["src/resources/new.rs"]);
    }

    #[test]
    fn a_no_op_update_leaves_the_manifest_alone() {
        let (_tmp, dir) = project(&[file("a.rs", "a", Owner::Generated)]);
        let path = dir.join(MANIFEST_PATH);
        let before = fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let applied = update_project(
            &dir,
            &[file("a.rs", "a", Owner::Generated)],
            &UpdateContext::default(),
            false,
        )
        .unwrap();
        assert!(applied.plan.is_empty());
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), before);
    }
}
