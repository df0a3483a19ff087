//! `apiforge generate [--check] [--allow-destructive] [--force] [-C DIR] [--manifest PATH]`:
//! re-render the project (the current folder, or the folder holding `--manifest`) from its
//! `apiforge.yaml`, and write the next migration when the schema changed.
//!
//! Exit codes: 0 when the project is up to date afterwards; 1 when something is left for the
//! user (a hand-edited generated file skipped, a user file of a renamed resource to rename)
//! or, with `--check`, when anything is out of date; 2 when nothing was written (an invalid
//! spec, a destructive migration without `--allow-destructive`).

use std::path::Path;
use std::process::ExitCode;

use crate::cli::GenerateArgs;
use crate::commands::new::load_spec;
use crate::commands::shell;
use crate::migrate::integrity::{self, PREVIOUS_PATH};
use crate::migrate::{self, MIGRATIONS_DIR, Migration, Pending, STATE_PATH, SchemaState};
use crate::model::{Model, naming};
use crate::render::{self, OutFile, Owner, RenderOptions, RuntimeDep};
use crate::spec::Spec;
use crate::write::{self, Manifest, UpdateContext, UserFileRename};
use anyhow::Context;

/// A user file of a renamed resource: `rename.to` (the new resource's) is not written while
/// `rename.from` (the old one's) exists.
#[derive(Debug, Clone)]
pub(crate) struct ResourceRename {
    pub old_key: String,
    pub new_key: String,
    pub rename: UserFileRename,
}

impl ResourceRename {
    /// `note: resource `products` was renamed to `items`: rename … (it holds your code)`.
    pub(crate) fn note(&self) -> String {
        format!(
            "note: resource `{}` was renamed to `{}`: rename {} to {} and the types in it \
             (it holds your hooks); {} was not written",
            self.old_key, self.new_key, self.rename.from, self.rename.to, self.rename.to
        )
    }
}

/// The user files that resources renamed with `renamed_from` take over from their old
/// names: every rendered user file named after the resource's module
/// (`src/resources/items.rs`) replaces the file of the same folder named after the old
/// resource's module (`src/resources/products.rs`). The old resource is the one whose table
/// `renamed_from` names in the project's schema state (`.apiforge/schema.json`); when the
/// state no longer has that table (the rename was migrated), `renamed_from` is the old key
/// (the table's name defaults to the key).
pub(crate) fn resource_renames(
    old_state: Option<&SchemaState>,
    model: &Model,
    files: &[OutFile],
) -> Vec<ResourceRename> {
    let mut out = Vec::new();
    for r in &model.resources {
        let Some(old_table) = &r.renamed_from else {
            continue;
        };
        let old_key = old_state
            .and_then(|s| s.tables.iter().find(|t| t.name == *old_table))
            .map(|t| t.resource.clone())
            .unwrap_or_else(|| old_table.clone());
        if old_key == r.key {
            continue;
        }
        let new_name = format!("{}.rs", r.module_file());
        let old_name = format!("{}.rs", naming::module_file(&old_key));
        for f in files.iter().filter(|f| f.owner == Owner::User) {
            let path = Path::new(&f.path);
            if path.file_name().is_some_and(|n| *n == *new_name) {
                let from = path.with_file_name(&old_name);
                out.push(ResourceRename {
                    old_key: old_key.clone(),
                    new_key: r.key.clone(),
                    rename: UserFileRename {
                        from: from.to_string_lossy().replace('\\', "/"),
                        to: f.path.clone(),
                    },
                });
            }
        }
    }
    out
}

/// Renders the project in `dir`, reusing the formatted Rust files on disk whose
/// unformatted render has not changed (the manifest's `input_sha256`) and that are still
/// what apiforge wrote; user files that exist are not formatted at all (`generate` never
/// writes them).
pub(crate) fn render_in_project(
    dir: &Path,
    model: &Model,
    spec_text: String,
    manifest: &Manifest,
) -> anyhow::Result<Vec<OutFile>> {
    let reuse = |path: &str, owner: Owner, input: &str| -> Option<String> {
        let on_disk = || std::fs::read_to_string(dir.join(path)).ok();
        match owner {
            // Never rewritten while it exists: its rendering does not matter.
            Owner::User => on_disk(),
            Owner::Generated => {
                let entry = manifest.files.get(path)?;
                if entry.owner != Owner::Generated || entry.input_sha256.as_deref() != Some(input) {
                    return None;
                }
                on_disk().filter(|text| write::sha256_hex(text.as_bytes()) == entry.sha256)
            }
        }
    };
    // Cargo.toml is the user's: the runtime dependency choice does not matter here.
    let opts = RenderOptions {
        spec_text,
        runtime: RuntimeDep::this_checkout(),
    };
    render::render_project_reusing(model, &opts, &reuse)
}

/// The files `generate` writes into an existing project: the rendered ones less the first
/// migration (migrations on disk are never rewritten), the schema state after the next
/// migration, and that migration's files and the state before it when the schema changed
/// (the state is written last of all files).
pub(crate) fn project_files(
    dir: &Path,
    spec: &Spec,
    model: &Model,
    files: Vec<OutFile>,
) -> anyhow::Result<(Vec<OutFile>, Option<Migration>)> {
    let pending = migrate::pending(dir, spec, model)?;
    Ok(with_pending(files, pending))
}

fn with_pending(files: Vec<OutFile>, pending: Pending) -> (Vec<OutFile>, Option<Migration>) {
    let mut out: Vec<OutFile> = files
        .into_iter()
        .filter(|f| !f.path.starts_with(&format!("{MIGRATIONS_DIR}/")) && f.path != STATE_PATH)
        .collect();
    if let Some(m) = &pending.migration {
        for f in m.files() {
            out.push(OutFile::new(f.path(), f.contents, Owner::Generated));
        }
        out.push(OutFile::new(
            PREVIOUS_PATH,
            pending.previous.to_json(),
            Owner::Generated,
        ));
    }
    out.push(OutFile::new(
        STATE_PATH,
        pending.state.to_json(),
        Owner::Generated,
    ));
    (out, pending.migration)
}

/// `  - drop column reviews.body: drops column `reviews.body` and its values`, one a line.
pub(crate) fn destructive_lines(m: &Migration) -> String {
    m.destructive()
        .iter()
        .map(|s| {
            format!(
                "  - {}: {}\n",
                s.what,
                s.destructive.as_deref().unwrap_or_default()
            )
        })
        .collect()
}

/// The refusal of a migration with destructive steps.
fn refuse(m: &Migration) -> ExitCode {
    eprint!(
        "error: the next migration ({}) has steps that can lose data or fail on \
         existing rows:\n{}Change apiforge.yaml, or pass --allow-destructive to write \
         it anyway (`apiforge plan --database-url URL` counts the rows each step fails on). \
         Nothing was written.\n",
        m.path(),
        destructive_lines(m)
    );
    ExitCode::from(2)
}

/// The integrity problems, printed; `true` when there were some.
fn report_problems(problems: &[String], check: bool) -> bool {
    for p in problems {
        if check {
            println!("migrations: {p}");
        } else {
            eprintln!("error: {p}");
        }
    }
    if !problems.is_empty() && !check {
        eprintln!("Nothing was written.");
    }
    !problems.is_empty()
}

/// Everything `generate` and `plan` need of a project: the files to write, the migration,
/// the user files held back by resource renames, and the plan.
pub(crate) struct ProjectUpdate {
    pub manifest: Manifest,
    pub files: Vec<OutFile>,
    pub migration: Option<Migration>,
    pub renames: Vec<ResourceRename>,
    pub plan: write::UpdatePlan,
}

impl ProjectUpdate {
    /// The user file renames, and the written migrations and the state before the last
    /// (never rewritten, never removed).
    pub(crate) fn context(&self) -> UpdateContext {
        UpdateContext {
            renames: self.renames.iter().map(|r| r.rename.clone()).collect(),
            // The state before the last migration is written only with a migration.
            keep: vec![format!("{MIGRATIONS_DIR}/"), PREVIOUS_PATH.to_string()],
        }
    }

    /// The rename note of a held-back user file.
    pub(crate) fn held_back_notes(&self) -> impl Iterator<Item = String> + '_ {
        self.plan.held_back.iter().filter_map(|h| {
            self.renames
                .iter()
                .find(|r| r.rename == *h)
                .map(ResourceRename::note)
        })
    }
}

/// Renders the project in `dir` from `spec` and compares it with the disk.
pub(crate) fn update_of(
    dir: &Path,
    spec: &Spec,
    spec_text: String,
) -> anyhow::Result<ProjectUpdate> {
    let manifest = Manifest::read(dir)?;
    let model = Model::from_spec(spec);
    let old_state = SchemaState::read(dir).ok();
    let files = render_in_project(dir, &model, spec_text, &manifest)?;
    let renames = resource_renames(old_state.as_ref(), &model, &files);
    let (files, migration) = project_files(dir, spec, &model, files)?;
    let mut update = ProjectUpdate {
        manifest,
        files,
        migration,
        renames,
        plan: write::UpdatePlan::default(),
    };
    update.plan = write::plan_with(dir, &update.manifest, &update.files, &update.context())?;
    Ok(update)
}

/// What the user's `src/main.rs` (which `generate` never edits) must change when
/// `monitoring.port` was added to the spec or removed from it: `app::routers` and
/// `app::router` exist only with and without it.
fn main_rs_note(main_rs: &str, monitoring_port: Option<u16>) -> Option<String> {
    let serves_routers = main_rs.contains("app::routers(");
    match monitoring_port {
        Some(port) if !serves_routers && main_rs.contains("app::router(") => Some(format!(
            "`monitoring.port: {port}` puts the metrics on a listener of their own: in \
             src/main.rs (it is yours; generate never edits it), bind it with \
             `let monitoring = app::bind_monitoring(&config)?;` after binding the API's port, \
             replace `app::router(…)` with `let routers = app::routers(…);`, serve \
             `routers.monitoring` with `startup::spawn_server(listener, router, \
             app::shutdown_signal())` and `routers.api` as before (`apiforge new` into an \
             empty folder shows the whole file)"
        )),
        None if serves_routers => Some(
            "the spec has no `monitoring.port` any more, so the metrics are served on the \
             API's port: in src/main.rs (it is yours; generate never edits it), replace \
             `app::routers(…)` with `app::router(…)` and remove `app::bind_monitoring` and \
             the monitoring listener"
                .to_owned(),
        ),
        _ => None,
    }
}

/// The features of `needed` that the project's `apiforge-runtime` dependency (a one-line
/// entry of Cargo.toml, as `new` writes it) does not turn on, when it turns the runtime's
/// defaults off; none when the line is not found or keeps the defaults (all on).
fn missing_runtime_features<'a>(cargo_toml: &str, needed: &[&'a str]) -> Vec<&'a str> {
    let Some(line) = cargo_toml
        .lines()
        .find(|l| l.trim_start().starts_with("apiforge-runtime"))
    else {
        return Vec::new();
    };
    if !line.replace(' ', "").contains("default-features=false") {
        return Vec::new();
    }
    needed
        .iter()
        .filter(|f| !line.contains(&format!("\"{f}\"")))
        .copied()
        .collect()
}

pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let (manifest_path, dir) = args.project.existing_manifest_and_dir()?;
    let dir = dir.as_path();
    let (spec, text) = match load_spec(&manifest_path) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    if args.redo_last {
        let manifest = Manifest::read(dir)?;
        let model = Model::from_spec(&spec);
        let files = render_in_project(dir, &model, text, &manifest)?;
        return redo_last(dir, &spec, &model, files, &args);
    }
    let state = migrate::SchemaState::read(dir)?;
    let problems = integrity::verify(dir, &state, &[])?;
    if report_problems(&problems, args.check) {
        return Ok(ExitCode::from(if args.check { 1 } else { 2 }));
    }
    if let Ok(cargo) = std::fs::read_to_string(dir.join("Cargo.toml")) {
        let needed = Model::from_spec(&spec).runtime_features();
        for feature in missing_runtime_features(&cargo, &needed) {
            eprintln!(
                "note: the spec needs apiforge-runtime's `{feature}` feature: add \"{feature}\" \
                 to the `features` of apiforge-runtime in Cargo.toml (it is yours; generate \
                 never edits it)"
            );
        }
    }
    if let Ok(main) = std::fs::read_to_string(dir.join("src/main.rs"))
        && let Some(note) = main_rs_note(&main, spec.monitoring.port)
    {
        eprintln!("note: {note}");
    }
    // The same spec, the same apiforge, the files as written: nothing to render.
    let stamp = write::generation_stamp(&text);
    if write::up_to_date(dir, &Manifest::read(dir)?, &stamp) {
        shell::verbose("not rendered: the spec and apiforge are what made the files on disk");
        if args.check {
            println!("up to date");
        } else {
            shell::info("up to date");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let update = update_of(dir, &spec, text)?;
    let (plan, migration) = (&update.plan, &update.migration);
    if args.check {
        if plan.is_empty() {
            println!("up to date");
            return Ok(ExitCode::SUCCESS);
        }
        let migration_paths: Vec<String> = migration
            .iter()
            .flat_map(|m| m.files())
            .map(|f| f.path())
            .collect();
        for p in &plan.changed {
            let note = match migration {
                Some(m) if migration_paths.contains(p) => format!(
                    " (pending migration, {} step{})",
                    m.steps.len(),
                    if m.steps.len() == 1 { "" } else { "s" }
                ),
                _ if plan.is_hand_edited(p) => " (edited by hand)".to_string(),
                _ => String::new(),
            };
            println!("out of date: {p}{note}");
        }
        for p in &plan.missing_user_files {
            println!("missing: {p}");
        }
        for p in &plan.stale {
            let note = if plan.is_hand_edited(p) {
                " (edited by hand)"
            } else {
                ""
            };
            println!("stale: {p}{note}");
        }
        for note in update.held_back_notes() {
            println!("{note}");
        }
        if let Some(m) = migration.as_ref().filter(|m| !m.destructive().is_empty()) {
            print!(
                "the pending migration needs --allow-destructive:\n{}",
                destructive_lines(m)
            );
        }
        return Ok(ExitCode::from(1));
    }
    if let Some(m) = migration {
        if !m.destructive().is_empty() && !args.allow_destructive {
            return Ok(refuse(m));
        }
        // The migration and the schema state go together: skipping one would write the
        // same migration again next time.
        let mut blocked = Vec::new();
        if m.files().iter().any(|f| plan.is_hand_edited(&f.path())) {
            blocked.push("the migration");
        }
        if plan.is_hand_edited(STATE_PATH) {
            blocked.push(STATE_PATH);
        }
        if !blocked.is_empty() && !args.force {
            eprintln!(
                "error: {} {} edited by hand, and a migration ({}) is pending; restore it \
                 (git checkout), or pass --force to overwrite it (a copy is kept as PATH.orig). \
                 Nothing was written.",
                blocked.join(" and "),
                if blocked.len() == 1 { "was" } else { "were" },
                m.path()
            );
            return Ok(ExitCode::from(2));
        }
    }
    let applied = write::apply_plan(
        dir,
        &update.manifest,
        &update.files,
        update.plan.clone(),
        args.force,
    )?;
    if applied.plan.is_empty() {
        shell::info("up to date");
    }
    for p in &applied.written {
        shell::info(format_args!("wrote {p}"));
    }
    for p in &applied.removed {
        shell::info(format_args!("removed {p}"));
    }
    for p in &applied.backups {
        shell::info(format_args!("kept the hand-edited copy as {p}"));
    }
    if let Some(m) = migration {
        print_written(m);
    }
    for p in &applied.skipped {
        let verb = if applied.plan.stale.contains(p) {
            "remove"
        } else {
            "overwrite"
        };
        eprintln!(
            "skipped {p}: edited by hand; pass --force to {verb} it (a copy is kept as {})",
            write::backup_path(p)
        );
    }
    let notes: Vec<String> = update.held_back_notes().collect();
    for note in &notes {
        eprintln!("{note}");
    }
    let complete = applied.skipped.is_empty() && notes.is_empty();
    // Only a project that is all the spec says may skip rendering next time.
    write::record_generation(dir, complete.then_some(stamp))?;
    if complete {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}

fn print_written(m: &Migration) {
    let files: Vec<_> = m.files().into_iter().filter(|f| !f.is_down()).collect();
    let down = if m.reversible() {
        " (reversible: each file has a `.down.sql`)".to_string()
    } else {
        let n = m.irreversible().len();
        format!(
            " (no down file: {n} step{} cannot be undone without losing data, as its header says)",
            if n == 1 { "" } else { "s" }
        )
    };
    shell::info(format_args!(
        "migration {}: {} step{}{}{down}; the project applies it at start-up",
        m.file_name(),
        m.steps.len(),
        if m.steps.len() == 1 { "" } else { "s" },
        if files.len() > 1 {
            format!(
                " in {} files (through {})",
                files.len(),
                files[files.len() - 1].name
            )
        } else {
            String::new()
        }
    ));
}

/// `generate --redo-last`: the last migration written by `generate` is replaced by one
/// made from the state before it (`.apiforge/schema.previous.json`) and the current spec.
/// Refused when the database given (`--database-url` / `DATABASE_URL`) applied any of its
/// files.
fn redo_last(
    dir: &Path,
    spec: &Spec,
    model: &Model,
    files: Vec<OutFile>,
    args: &GenerateArgs,
) -> anyhow::Result<ExitCode> {
    let state = migrate::SchemaState::read(dir)?;
    let Some(previous) = integrity::read_previous(dir)? else {
        eprintln!(
            "error: {PREVIOUS_PATH} is missing, so the state before the last migration is \
             unknown (it is kept from the first migration `apiforge generate` writes; the \
             initial migration cannot be redone). Write a new migration instead: fix \
             apiforge.yaml and run `apiforge generate`. Nothing was written."
        );
        return Ok(ExitCode::from(2));
    };
    let n = previous.migrations.len();
    if state.migrations.len() <= n || state.migrations[..n] != previous.migrations[..] {
        eprintln!(
            "error: the last migration was already redone or {PREVIOUS_PATH} does not precede \
             .apiforge/schema.json: nothing to redo. Fix apiforge.yaml and run `apiforge \
             generate` for a new migration. Nothing was written."
        );
        return Ok(ExitCode::from(2));
    }
    let last: Vec<String> = state.migrations[n..].to_vec();
    let problems = integrity::verify(dir, &state, &last)?;
    if report_problems(&problems, false) {
        return Ok(ExitCode::from(2));
    }
    match &args.database_url {
        Some(url) => {
            let ups: Vec<String> = last
                .iter()
                .filter(|f| !migrate::is_down(f))
                .cloned()
                .collect();
            let applied = applied_versions(url, &ups)?;
            if !applied.is_empty() {
                eprintln!(
                    "error: the database applied {}: a migration that ran cannot be rewritten \
                     (sqlx refuses to start when an applied migration changed). Fix apiforge.yaml \
                     and run `apiforge generate` to write a new migration after it. Nothing was \
                     written.",
                    applied.join(", ")
                );
                return Ok(ExitCode::from(2));
            }
        }
        None => eprintln!(
            "note: not checked against a database (pass --database-url or set DATABASE_URL): \
             redo only migrations that no database applied"
        ),
    }
    let pending = migrate::pending_from(dir, previous, spec, model, &last)?;
    if let Some(m) = &pending.migration
        && !m.destructive().is_empty()
        && !args.allow_destructive
    {
        return Ok(refuse(m));
    }
    let (files, migration) = with_pending(files, pending);
    let new_paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    let old_paths: Vec<String> = last
        .iter()
        .map(|f| format!("{MIGRATIONS_DIR}/{f}"))
        .filter(|p| !new_paths.contains(p))
        .collect();
    let ctx = UpdateContext {
        renames: Vec::new(),
        keep: vec![format!("{MIGRATIONS_DIR}/"), PREVIOUS_PATH.to_string()],
    };
    let applied = write::update_project(dir, &files, &ctx, args.force)?;
    write::forget(dir, &old_paths)?;
    for p in &old_paths {
        println!("deleted {p}");
    }
    for p in &applied.written {
        println!("wrote {p}");
    }
    match &migration {
        Some(m) => print_written(m),
        None => println!(
            "no migration needed: the spec matches the state before {}",
            last.join(", ")
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Which of `files` the database's `_sqlx_migrations` holds as applied.
fn applied_versions(url: &str, files: &[String]) -> anyhow::Result<Vec<String>> {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .context("cannot connect to the database given by --database-url / DATABASE_URL")?;
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&mut conn)
            .await?;
        if !exists {
            return Ok(Vec::new());
        }
        let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
            .fetch_all(&mut conn)
            .await?;
        Ok(files
            .iter()
            .filter(|f| integrity::version(f).is_some_and(|v| versions.contains(&i64::from(v))))
            .cloned()
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_features_missing_from_the_users_cargo_toml_are_named() {
        let needed = ["decimal", "redis"];
        let off = "[dependencies]\napiforge-runtime = { path = \"../runtime\", default-features = false, features = [\"redis\"] }\n";
        assert_eq!(missing_runtime_features(off, &needed), ["decimal"]);
        let defaults = "[dependencies]\napiforge-runtime = { path = \"../runtime\" }\n";
        assert!(missing_runtime_features(defaults, &needed).is_empty());
        assert!(missing_runtime_features("[dependencies]\n", &needed).is_empty());
    }

    #[test]
    fn main_rs_is_told_to_follow_monitoring_port() {
        let old = "let router = app::router(&config, app::state(pool, redis), hooks::routes());";
        let new = "let routers = app::routers(&config, app::state(pool, redis), hooks::routes());";
        let added = main_rs_note(old, Some(9100)).expect("a note");
        assert!(added.contains("app::bind_monitoring"), "{added}");
        assert!(main_rs_note(new, Some(9100)).is_none());
        let removed = main_rs_note(new, None).expect("a note");
        assert!(
            removed.contains("replace `app::routers(…)` with `app::router(…)`"),
            "{removed}"
        );
        assert!(main_rs_note(old, None).is_none());
        // A main.rs that serves neither (the user's own wiring) is left to its owner.
        assert!(main_rs_note("fn main() {}", Some(9100)).is_none());
    }

    fn model(yaml: &str) -> Model {
        let loaded = crate::spec::load_bytes(Path::new("t.yaml"), yaml.as_bytes())
            .unwrap_or_else(|r| panic!("{r}"));
        Model::from_spec(&loaded.spec)
    }

    const OLD: &str = "name: t\nresources:\n  products:\n    fields:\n      id: { type: bigserial, primary_key: true }\n";

    fn renamed(yaml_resource: &str) -> Model {
        model(&format!(
            "name: t\nresources:\n  {yaml_resource}\n    fields:\n      id: {{ type: bigserial, primary_key: true }}\n"
        ))
    }

    fn hooks(module: &str) -> Vec<OutFile> {
        vec![
            OutFile::new(format!("src/resources/{module}.rs"), "", Owner::User),
            OutFile::new(
                format!("src/generated/models/{module}.rs"),
                "",
                Owner::Generated,
            ),
            OutFile::new("src/main.rs", "", Owner::User),
        ]
    }

    #[test]
    fn a_renamed_resource_takes_over_the_user_files_of_its_old_module() {
        let old_state = SchemaState::of(&model(OLD), vec![]);
        let new = renamed("items:\n    renamed_from: products");
        let renames = resource_renames(Some(&old_state), &new, &hooks("items"));
        assert_eq!(renames.len(), 1, "{renames:?}");
        let r = &renames[0];
        assert_eq!(
            (r.old_key.as_str(), r.new_key.as_str()),
            ("products", "items")
        );
        assert_eq!(
            r.rename,
            UserFileRename {
                from: "src/resources/products.rs".into(),
                to: "src/resources/items.rs".into(),
            }
        );
        assert_eq!(
            r.note(),
            "note: resource `products` was renamed to `items`: rename src/resources/products.rs \
             to src/resources/items.rs and the types in it (it holds your hooks); \
             src/resources/items.rs was not written"
        );
        // After the migration the state has no `products` table: the old key is the name.
        assert_eq!(resource_renames(None, &new, &hooks("items")).len(), 1);
    }

    #[test]
    fn the_old_module_comes_from_the_old_resource_of_the_table() {
        // The old resource `goods` had table `products`.
        let old = model(
            "name: t\nresources:\n  goods:\n    table: products\n    fields:\n      id: { type: bigserial, primary_key: true }\n",
        );
        let old_state = SchemaState::of(&old, vec![]);
        let new = renamed("wares:\n    renamed_from: products");
        let renames = resource_renames(Some(&old_state), &new, &hooks("wares"));
        assert_eq!(renames[0].rename.from, "src/resources/goods.rs");
        assert_eq!(renames[0].rename.to, "src/resources/wares.rs");
        // A table renamed under the same resource key moves no file.
        let old_state = SchemaState::of(&model(OLD), vec![]);
        let same = renamed("products:\n    table: goods\n    renamed_from: products");
        assert!(resource_renames(Some(&old_state), &same, &hooks("products")).is_empty());
        assert_eq!(naming::module_file("type"), "type");
    }
}
