//! `APIFORGE_BUILD_ID`: a hash of the sources that decide what the generator writes
//! (`src/`, `templates/`). `generate` records it with the spec's hash in the project's
//! manifest and, while both are unchanged and the files are as written, answers "up to
//! date" without rendering (bench/generator.sh: a no-op `generate` of 100 resources).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let mut paths = Vec::new();
    for dir in ["src", "templates"] {
        println!("cargo:rerun-if-changed={dir}");
        files(Path::new(dir), &mut paths);
    }
    paths.sort();
    let mut hasher = DefaultHasher::new();
    for path in &paths {
        path.hash(&mut hasher);
        std::fs::read(path).unwrap_or_default().hash(&mut hasher);
    }
    println!("cargo:rustc-env=APIFORGE_BUILD_ID={:016x}", hasher.finish());
}
