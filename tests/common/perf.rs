//! Helpers of the performance e2e tests (`tests/e2e_perf_*.rs`): one shared build of a
//! generated project per spec, spec variants, SQL seeding, `/metrics` query counters,
//! process memory, concurrency and bounded polling.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use super::prom::Page;
use super::{E2eLock, Project, Server, TestDb, e2e_target, workspace};

/// The generated project of `spec` (relative to the workspace, or absolute), built once
/// per test binary and shared by every test of it; the binary is copied out of the shared
/// target folder. Across test binaries the project lives in a stable folder
/// (`target/e2e/projects/<name>-<hash of the spec>`) whose unchanged files keep their
/// modification times, so cargo rebuilds it only when the generated code or the runtime
/// changed.
pub fn shared_binary(spec: &str) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    if let Some(binary) = built.get(spec) {
        return binary.clone();
    }
    let project = Project::generate_stable(spec);
    let binary = project.build();
    // The copy lives in the project's temp dir: keep it for the rest of the process.
    std::mem::forget(project);
    built.insert(spec.to_string(), binary.clone());
    binary
}

impl Project {
    /// `apiforge new` into a temp dir, then mirrored into the stable folder
    /// `target/e2e/projects/<name>-<spec hash>` (only changed files are rewritten, stale
    /// ones removed; `Cargo.lock` is kept). `dir` is the stable folder; `tmp` still holds
    /// the fresh copy and receives the built binary.
    pub fn generate_stable(spec: &str) -> Self {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let fresh = Self::generate(spec);
        let text = std::fs::read(workspace().join(spec)).expect("read the spec");
        let mut hasher = DefaultHasher::new();
        text.hash(&mut hasher);
        let stable =
            e2e_target()
                .join("projects")
                .join(format!("{}-{:016x}", fresh.name, hasher.finish()));
        let _lock = E2eLock::acquire();
        mirror(&fresh.dir, &stable);
        Project {
            tmp: fresh.tmp,
            dir: stable,
            name: fresh.name,
        }
    }
}

/// Makes `to` hold exactly the files of `from` (besides `Cargo.lock`), rewriting only
/// those whose contents differ.
fn mirror(from: &Path, to: &Path) {
    let mut wanted = std::collections::HashSet::new();
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk the generated project");
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(from).unwrap().to_path_buf();
        let contents = std::fs::read(entry.path()).expect("read a generated file");
        let target = to.join(&rel);
        if std::fs::read(&target).ok().as_deref() != Some(contents.as_slice()) {
            std::fs::create_dir_all(target.parent().unwrap()).expect("create a folder");
            std::fs::write(&target, &contents).expect("write a generated file");
        }
        wanted.insert(rel);
    }
    for entry in walkdir::WalkDir::new(to) {
        let entry = entry.expect("walk the stable project");
        let rel = entry.path().strip_prefix(to).unwrap();
        if entry.file_type().is_file() && rel != Path::new("Cargo.lock") && !wanted.contains(rel) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Writes a variant of `spec` (relative to the workspace) where every `(from, to)` text
/// replacement was applied (each must match), to a temp file; returns its absolute path.
/// The temp file is kept for the rest of the process.
pub fn spec_variant(spec: &str, replacements: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(workspace().join(spec)).expect("read the spec");
    for (from, to) in replacements {
        assert!(text.contains(from), "{spec} has no {from:?}");
        text = text.replacen(from, to, 1);
    }
    let dir = tempfile::tempdir().expect("a temp dir").keep();
    let path = dir.join("apiforge.yaml");
    std::fs::write(&path, text).expect("write the spec variant");
    path.to_string_lossy().into_owned()
}

impl TestDb {
    /// Runs SQL in this database with psql; returns its unaligned, tuples-only output
    /// (`|`-separated columns, one row per line). Panics with psql's error.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args([
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-At",
                "-d",
                &self.url,
                "-c",
                sql,
            ])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A line of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`: reported in kB).
    pub fn proc_status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
            * 1024
    }

    /// The current `/metrics`, parsed.
    pub fn metrics(&self) -> Metrics {
        let res = self.get("/metrics");
        assert_eq!(res.status, 200, "/metrics: {}", res.text());
        Metrics::parse(&res.text())
    }
}

/// A parsed `/metrics` page (see [`Page`]) with the query counters of the generated API.
#[derive(Debug)]
pub struct Metrics(pub Page);

impl Metrics {
    /// Parses a Prometheus text page; panics naming the malformed line.
    pub fn parse(text: &str) -> Self {
        Metrics(Page::parse(text).unwrap_or_else(|e| panic!("/metrics: {e}")))
    }

    /// Sum of the samples of `name` that carry every label of `labels`
    /// (0 when there is none: a counter that never moved is not exported).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0.sum(name, labels)
    }

    /// `apiforge_db_queries_total` of one query shape.
    pub fn queries(&self, shape: &str) -> u64 {
        self.sum("apiforge_db_queries_total", &[("query", shape)]) as u64
    }

    /// `apiforge_db_queries_total` of every shape, by shape.
    pub fn queries_by_shape(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for s in self.0.matching("apiforge_db_queries_total", &[]) {
            let shape = s.labels.get("query").cloned().unwrap_or_default();
            *out.entry(shape).or_insert(0) += s.value as u64;
        }
        out
    }

    /// Shapes whose query count grew from `before` to `self`, with the growth.
    pub fn query_delta(&self, before: &Metrics) -> BTreeMap<String, u64> {
        let old = before.queries_by_shape();
        self.queries_by_shape()
            .into_iter()
            .filter_map(|(shape, n)| {
                let d = n - old.get(&shape).copied().unwrap_or(0);
                (d > 0).then_some((shape, d))
            })
            .collect()
    }
}

/// Runs `f(i)` on `n` threads released together by a barrier; returns the results in order.
pub fn concurrently<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, f) = (&barrier, &f);
                s.spawn(move || {
                    barrier.wait();
                    f(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Polls `check` every 10 ms until it returns `Some`, for at most `bound`; `None` when it
/// never did.
pub fn poll_until<T>(bound: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
