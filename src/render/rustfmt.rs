//! Formatting the rendered Rust with rustfmt: every file in one run (one process per CPU,
//! at most 4, for large projects, and one per file that declares out-of-line modules), with the real rustfmt binary when it can be found
//! without asking rustup (each rustup proxy call costs tens of milliseconds).
//!
//! The output does not depend on any `rustfmt.toml` near the current folder or the project:
//! rustfmt runs with `--config-path` pointing at an empty configuration (default settings,
//! `--edition 2024`). Formatted batches are cached under the user's cache folder (see
//! [`Cache`]).

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context;
use sha2::{Digest, Sha256};

const INSTALL_HINT: &str = "cannot run rustfmt (install it with `rustup component add rustfmt`, \
                            or point the RUSTFMT environment variable at a rustfmt binary)";

/// Formats Rust sources, `(path, source)` pairs (the path names the file in errors, and its
/// file name is kept), in one `rustfmt` run (one per CPU for large batches) over copies in
/// a temporary folder (through stdin for files that declare `mod x;`). Returns the
/// formatted texts in order, from the cache (`Cache`) when the same rustfmt formatted the
/// same sources before. When that run fails, each file is formatted on its own through
/// [`rustfmt`] so that the error names the file that rustfmt rejects.
pub fn rustfmt_many(sources: &[(&str, &str)]) -> anyhow::Result<Vec<String>> {
    if sources.is_empty() {
        // Every file reused (`generate`): no cache entry for nothing.
        return Ok(Vec::new());
    }
    let program = program();
    let cache = Cache::of(&program, sources);
    if let Some(texts) = cache.as_ref().and_then(|c| c.read(sources.len())) {
        return Ok(texts);
    }
    let formatted = match format_batch(&program, sources)? {
        Ok(formatted) => formatted,
        // Report it file by file (the batch's messages name temporary files).
        Err(_) => {
            return sources
                .iter()
                .map(|(path, source)| rustfmt(source).with_context(|| format!("formatting {path}")))
                .collect();
        }
    };
    if let Some(cache) = cache {
        cache.write(&formatted);
    }
    Ok(formatted)
}

/// One rustfmt run over all `sources`: `Ok(Err(stderr))` when rustfmt fails.
///
/// Files are written to a temporary folder for rustfmt, which touches the disk for each file
/// and folder it creates; on the shared test machine's ext4 a creation took 0.5–1.7 ms, and
/// the 100-resource project's 309 Rust files, each in a folder of its own with an empty file
/// for each `mod x;` it declares, cost 613 folders and 613 files: about 1 s of system time.
/// So files that declare out-of-line modules (`lib.rs` and two `mod.rs`, which declare 304
/// modules) go through stdin instead, where rustfmt does not look for module files, one
/// process each; the others (no module to resolve) share a folder per source folder.
fn format_batch(
    program: &Path,
    sources: &[(&str, &str)],
) -> anyhow::Result<Result<Vec<String>, String>> {
    if sources.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let batch = TempDir::new()?;
    let config = batch.path.join("rustfmt.toml");
    std::fs::write(&config, "").with_context(|| format!("cannot write {}", config.display()))?;
    // Through stdin: (index in sources, running rustfmt).
    let mut piped = Vec::new();
    // Through the folder: (index in sources, copy).
    let mut copies: Vec<(usize, PathBuf)> = Vec::new();
    let mut folders: HashMap<&str, PathBuf> = HashMap::new();
    let mut taken = HashSet::new();
    for (i, (path, source)) in sources.iter().enumerate() {
        if !out_of_line_modules(source).is_empty() {
            piped.push((i, Stdin::spawn(program, &config, source)?));
            continue;
        }
        let (parent, name) = path.rsplit_once(['/', '\\']).unwrap_or(("", path));
        let name = if name.is_empty() { "lib.rs" } else { name };
        let mut folder = match folders.get(parent) {
            Some(folder) => folder.clone(),
            None => {
                let folder = batch.path.join(folders.len().to_string());
                std::fs::create_dir(&folder)?;
                folders.insert(parent, folder.clone());
                folder
            }
        };
        if !taken.insert((parent, name)) {
            // The same path twice: a folder of its own.
            folder = batch.path.join(format!("{i}-again"));
            std::fs::create_dir(&folder)?;
        }
        let file = folder.join(name);
        std::fs::write(&file, source)
            .with_context(|| format!("cannot write {}", file.display()))?;
        copies.push((i, file));
    }
    // rustfmt is single-threaded: one process per CPU (up to 4), each with files of about
    // the same total size, run at the same time.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let total: usize = copies.iter().map(|(i, _)| sources[*i].1.len()).sum();
    let share = total.div_ceil(cpus).max(64 * 1024);
    let mut chunks: Vec<Vec<&PathBuf>> = vec![Vec::new()];
    let mut size = 0;
    for (i, file) in &copies {
        if size >= share {
            chunks.push(Vec::new());
            size = 0;
        }
        size += sources[*i].1.len();
        chunks.last_mut().expect("one chunk").push(file);
    }
    let children = chunks
        .iter()
        .filter(|files| !files.is_empty())
        .map(|files| {
            Command::new(program)
                .args(["--edition", "2024", "--config-path"])
                .arg(&config)
                .args(files)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context(INSTALL_HINT)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut failures = String::new();
    let mut formatted = vec![String::new(); sources.len()];
    for (i, child) in piped {
        match child.finish()? {
            Ok(text) => formatted[i] = text,
            Err(stderr) => failures.push_str(&stderr),
        }
    }
    for child in children {
        let out = child.wait_with_output().context("rustfmt")?;
        if !out.status.success() {
            failures.push_str(&String::from_utf8_lossy(&out.stderr));
        }
    }
    if !failures.is_empty() {
        return Ok(Err(failures));
    }
    for (i, file) in copies {
        formatted[i] = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read back the formatted {}", sources[i].0))?;
    }
    Ok(Ok(formatted))
}

/// Formats one Rust source with `rustfmt --edition 2024` (stdin → stdout).
pub fn rustfmt(source: &str) -> anyhow::Result<String> {
    let batch = TempDir::new()?;
    let config = batch.path.join("rustfmt.toml");
    std::fs::write(&config, "").with_context(|| format!("cannot write {}", config.display()))?;
    Stdin::spawn(&program(), &config, source)?
        .finish()?
        .map_err(|stderr| {
            anyhow::anyhow!("rustfmt rejected generated code: {stderr}\n--- source ---\n{source}")
        })
}

/// A rustfmt process formatting a source given on its stdin.
struct Stdin {
    child: Child,
    writer: std::thread::JoinHandle<std::io::Result<()>>,
}

impl Stdin {
    fn spawn(program: &Path, config: &Path, source: &str) -> anyhow::Result<Self> {
        let mut child = Command::new(program)
            .args(["--edition", "2024", "--emit", "stdout", "--config-path"])
            .arg(config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context(INSTALL_HINT)?;
        let mut stdin = child.stdin.take().context("rustfmt stdin")?;
        let input = source.to_string();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        Ok(Stdin { child, writer })
    }

    /// The formatted text, or `Err(stderr)` when rustfmt fails.
    fn finish(self) -> anyhow::Result<Result<String, String>> {
        let out = self.child.wait_with_output()?;
        self.writer
            .join()
            .map_err(|_| anyhow::anyhow!("rustfmt writer panicked"))??;
        if !out.status.success() {
            return Ok(Err(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        Ok(Ok(String::from_utf8(out.stdout)?))
    }
}

/// The out-of-line modules of a source as relative paths without `.rs` (`models/users` for
/// `mod models { mod users; }`). A line-based reading of braces, enough for generated code;
/// what it misses only makes rustfmt fail, which falls back to formatting file by file.
fn out_of_line_modules(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    // Inline modules open around the current line: (name, depth before their `{`).
    let mut inline: Vec<(&str, usize)> = Vec::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or_default();
        match module_declaration(code) {
            Some((name, false)) => {
                let mut path: Vec<&str> = inline.iter().map(|(n, _)| *n).collect();
                path.push(name);
                out.push(path.join("/"));
            }
            Some((name, true)) => inline.push((name, depth)),
            None => {}
        }
        for c in code.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        while inline.last().is_some_and(|(_, open)| depth <= *open) {
            inline.pop();
        }
    }
    out
}

/// `(x, inline)` for a line `mod x;` (`inline` false) or `mod x {` (true), with optional
/// attributes and visibility (`#[cfg(test)] pub(crate) mod r#x;`; `x` is the file name).
fn module_declaration(line: &str) -> Option<(&str, bool)> {
    let mut rest = line.trim();
    while let Some(attr) = rest.strip_prefix("#[") {
        rest = attr.split_once(']')?.1.trim_start();
    }
    if let Some(after) = rest.strip_prefix("pub") {
        rest = after.trim_start();
        if let Some(scope) = rest.strip_prefix('(') {
            rest = scope.split_once(')')?.1;
        }
        rest = rest.trim_start();
    }
    let rest = rest.strip_prefix("mod")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '#'))
        .unwrap_or(rest.len());
    let (name, after) = rest.split_at(end);
    let name = name.strip_prefix("r#").unwrap_or(name);
    if name.is_empty() || name.contains('#') {
        return None;
    }
    match after.trim_start().chars().next() {
        Some(';') => Some((name, false)),
        Some('{') => Some((name, true)),
        _ => None,
    }
}

/// The rustfmt to run: `$RUSTFMT`, else the toolchain's own binary when rustup's choice of
/// toolchain can be read without running rustup, else `rustfmt` from `PATH` (the rustup
/// proxy, which resolves the toolchain itself).
fn program() -> PathBuf {
    if let Some(path) = std::env::var_os("RUSTFMT").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    rustup_toolchain_rustfmt().unwrap_or_else(|| PathBuf::from("rustfmt"))
}

/// `$RUSTUP_HOME/toolchains/<toolchain>/bin/rustfmt` for the toolchain rustup would pick
/// here, when that is simple to tell: `$RUSTUP_TOOLCHAIN`, or the default toolchain when
/// no directory override and no `rust-toolchain(.toml)` file applies. `None` otherwise.
fn rustup_toolchain_rustfmt() -> Option<PathBuf> {
    let home = std::env::var_os("RUSTUP_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")))?;
    let toolchain = match std::env::var("RUSTUP_TOOLCHAIN") {
        Ok(t) if !t.is_empty() => t,
        _ => {
            let cwd = std::env::current_dir().ok()?;
            let pinned = cwd.ancestors().any(|d| {
                d.join("rust-toolchain").exists() || d.join("rust-toolchain.toml").exists()
            });
            if pinned {
                return None;
            }
            default_toolchain(&std::fs::read_to_string(home.join("settings.toml")).ok()?)?
        }
    };
    let bin = home
        .join("toolchains")
        .join(toolchain)
        .join("bin")
        .join(format!("rustfmt{}", std::env::consts::EXE_SUFFIX));
    bin.is_file().then_some(bin)
}

/// `default_toolchain` of rustup's `settings.toml`, `None` when it also lists directory
/// overrides (which one applies is rustup's business).
fn default_toolchain(settings: &str) -> Option<String> {
    let mut default = None;
    let mut in_overrides = false;
    for line in settings.lines().map(str::trim) {
        if line.starts_with('[') {
            in_overrides = line == "[overrides]";
            continue;
        }
        if in_overrides && !line.is_empty() && !line.starts_with('#') {
            return None;
        }
        if let Some(value) = line.strip_prefix("default_toolchain") {
            let value = value.trim_start().strip_prefix('=')?.trim();
            default = Some(value.trim_matches('"').to_string());
        }
    }
    default.filter(|t| !t.is_empty() && !t.contains(['/', '\\']))
}

/// Formatted batches kept under the user's cache folder
/// (`$XDG_CACHE_HOME/apiforge/rustfmt`, else `~/.cache/apiforge/rustfmt`; `%LOCALAPPDATA%`
/// on Windows), one file per batch, named by the sha256 of what decides rustfmt's output:
/// the rustfmt binary (path, size, modification time), its settings and every source.
/// Rendering a spec again (a second `new`, `new --force`) then runs no rustfmt: `new` of 100
/// resources spends ≈ 1.1 s of CPU in rustfmt (2 MB of Rust). Only a rustfmt found by path
/// is cached (not the rustup proxy from `PATH`, whose toolchain is not known).
/// `APIFORGE_RUSTFMT_CACHE=0` turns it off; deleting the folder is always safe. An entry is
/// written to a temporary file and renamed into place, and ends with the sha256 of its
/// contents, so a damaged entry is never used; the 16 most recent entries are kept.
struct Cache {
    file: PathBuf,
}

/// Entries kept (a 100-resource project's entry is 2 MB).
const CACHE_ENTRIES: usize = 16;

impl Cache {
    /// The cache entry for formatting `sources` with `program`, `None` when there is no cache
    /// (turned off, no cache folder, rustfmt not found by path).
    fn of(program: &Path, sources: &[(&str, &str)]) -> Option<Self> {
        if std::env::var_os("APIFORGE_RUSTFMT_CACHE").is_some_and(|v| v == "0") {
            return None;
        }
        Self::under(&cache_dir()?, program, sources)
    }

    fn under(dir: &Path, program: &Path, sources: &[(&str, &str)]) -> Option<Self> {
        if !program.is_absolute() {
            return None;
        }
        let meta = std::fs::metadata(program).ok()?;
        let modified = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        let mut key = Sha256::new();
        // The settings of every run: `--edition 2024` and an empty configuration.
        key.update(b"apiforge rustfmt cache 1: --edition 2024, default settings\0");
        key.update(program.as_os_str().as_encoded_bytes());
        key.update(meta.len().to_le_bytes());
        key.update(modified.as_nanos().to_le_bytes());
        for (_, source) in sources {
            key.update((source.len() as u64).to_le_bytes());
            key.update(source.as_bytes());
        }
        Some(Cache {
            file: dir.join(hex(&key.finalize())),
        })
    }

    /// The formatted texts of an intact entry with `n` of them.
    fn read(&self, n: usize) -> Option<Vec<String>> {
        let bytes = std::fs::read(&self.file).ok()?;
        let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
        if Sha256::digest(body).as_slice() != sum {
            return None;
        }
        let mut rest = body;
        let mut texts = Vec::with_capacity(n);
        while !rest.is_empty() {
            let (len, tail) = rest.split_first_chunk::<8>()?;
            let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
            let (text, tail) = tail.split_at_checked(len)?;
            texts.push(String::from_utf8(text.to_vec()).ok()?);
            rest = tail;
        }
        (texts.len() == n).then_some(texts)
    }

    /// Stores `texts` (best effort: a cache that cannot be written is no error), then
    /// removes the oldest entries beyond [`CACHE_ENTRIES`].
    fn write(&self, texts: &[String]) {
        let Some(dir) = self.file.parent() else {
            return;
        };
        let mut body = Vec::with_capacity(texts.iter().map(|t| t.len() + 8).sum::<usize>() + 32);
        for text in texts {
            body.extend_from_slice(&(text.len() as u64).to_le_bytes());
            body.extend_from_slice(text.as_bytes());
        }
        let sum = Sha256::digest(&body);
        body.extend_from_slice(&sum);
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".tmp-{}-{n}", std::process::id()));
        let stored = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, &body))
            .and_then(|()| std::fs::rename(&tmp, &self.file));
        if stored.is_err() {
            let _ = std::fs::remove_file(&tmp);
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if entries.len() > CACHE_ENTRIES {
            entries.sort();
            for (_, old) in &entries[..entries.len() - CACHE_ENTRIES] {
                let _ = std::fs::remove_file(old);
            }
        }
    }
}

/// `$XDG_CACHE_HOME/apiforge/rustfmt`, else `~/.cache/apiforge/rustfmt`
/// (`%LOCALAPPDATA%\apiforge\rustfmt` on Windows).
fn cache_dir() -> Option<PathBuf> {
    let base = if cfg!(windows) {
        PathBuf::from(std::env::var_os("LOCALAPPDATA")?)
    } else {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| Some(PathBuf::from(std::env::var_os("HOME")?).join(".cache")))?
    };
    Some(base.join("apiforge").join("rustfmt"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A temporary folder, removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new() -> anyhow::Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "apiforge-rustfmt-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_declarations_are_recognised() {
        assert_eq!(module_declaration("mod app;"), Some(("app", false)));
        assert_eq!(
            module_declaration("  pub mod   models ;"),
            Some(("models", false))
        );
        assert_eq!(
            module_declaration("pub(crate) mod r#type;"),
            Some(("type", false))
        );
        assert_eq!(
            module_declaration("#[cfg(test)] mod tests;"),
            Some(("tests", false))
        );
        assert_eq!(module_declaration("mod tests {"), Some(("tests", true)));
        assert_eq!(module_declaration("model;"), None);
        assert_eq!(module_declaration("fn mod_x() {}"), None);
        let source = "pub mod app;\n/// Rows {\npub mod models {\n    pub mod users;\n    mod inner { mod deep; }\n    pub mod r#type;\n}\nmod tests {\n    fn f() {}\n}\nmod last;\n";
        assert_eq!(
            out_of_line_modules(source),
            ["app", "models/users", "models/type", "last"]
        );
    }

    #[test]
    fn the_default_toolchain_is_read_unless_overrides_exist() {
        let plain = "version = \"12\"\ndefault_toolchain = \"stable-x86_64-unknown-linux-gnu\"\n\n[overrides]\n";
        assert_eq!(
            default_toolchain(plain).as_deref(),
            Some("stable-x86_64-unknown-linux-gnu")
        );
        let overridden = format!("{plain}\"/home/me/p\" = \"nightly\"\n");
        assert_eq!(default_toolchain(&overridden), None);
        assert_eq!(default_toolchain("version = \"12\"\n"), None);
    }

    #[test]
    fn a_batch_formats_every_file_like_one_at_a_time() {
        let sources = [
            (
                "src/lib.rs",
                "pub mod  generated;\nmod hooks;\nfn  a( ) {}\n",
            ),
            (
                "src/generated/mod.rs",
                "pub mod app ;\n#[cfg(test)] mod r#type;\n",
            ),
            ("src/generated/app.rs", "pub fn serve( x:u8)->u8{x}\n"),
            ("src/other/app.rs", "mod inner;\nstruct  A;\n"),
        ];
        let batch = format_batch(&program(), &sources).unwrap().unwrap();
        for ((_, source), formatted) in sources.iter().zip(&batch) {
            assert_eq!(formatted, &rustfmt(source).unwrap());
        }
        assert_eq!(batch[2], "pub fn serve(x: u8) -> u8 {\n    x\n}\n");
    }

    #[test]
    fn the_whole_shop_project_formats_in_one_run() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop.yaml");
        let spec = crate::spec::load(&path).unwrap().spec;
        let model = crate::model::Model::from_spec(&spec);
        let opts = crate::render::RenderOptions {
            spec_text: String::new(),
            runtime: crate::render::RuntimeDep::this_checkout(),
        };
        let files = crate::render::render_project(&model, &opts).unwrap();
        let sources: Vec<(&str, &str)> = files
            .iter()
            .filter(|f| f.path.ends_with(".rs"))
            .map(|f| (f.path.as_str(), f.contents.as_str()))
            .collect();
        assert!(sources.iter().any(|(p, _)| *p == "src/generated/mod.rs"));
        // The `mod.rs` files go through stdin: in a folder without their modules' files,
        // rustfmt would fail and the batch would be lost.
        let formatted = format_batch(&program(), &sources)
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}"));
        for ((path, source), text) in sources.iter().zip(&formatted) {
            assert_eq!(source, text, "{path} is already formatted");
        }
    }

    #[test]
    fn a_cached_batch_is_read_back_and_a_damaged_one_is_not() {
        let dir = TempDir::new().unwrap();
        let program = std::env::current_exe().unwrap();
        let sources = [("a.rs", "fn  a() {}"), ("b.rs", "")];
        let cache = Cache::under(&dir.path, &program, &sources).unwrap();
        assert_eq!(cache.read(2), None);
        let texts = ["fn a() {}\n".to_string(), String::new()];
        cache.write(&texts);
        assert_eq!(cache.read(2).as_deref(), Some(&texts[..]));
        assert_eq!(cache.read(3), None);
        // Another source, another entry; a relative program is not cached.
        let other = Cache::under(&dir.path, &program, &sources[..1]).unwrap();
        assert_ne!(other.file, cache.file);
        assert!(Cache::under(&dir.path, Path::new("rustfmt"), &sources).is_none());
        let mut bytes = std::fs::read(&cache.file).unwrap();
        bytes[10] ^= 1;
        std::fs::write(&cache.file, bytes).unwrap();
        assert_eq!(cache.read(2), None);
    }

    #[test]
    fn a_rejected_file_is_named() {
        let err = rustfmt_many(&[("ok.rs", "fn a() {}\n"), ("src/bad.rs", "fn (")]).unwrap_err();
        assert!(
            format!("{err:#}").contains("formatting src/bad.rs"),
            "{err:#}"
        );
    }
}
