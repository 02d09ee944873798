//! Running the `stan` binary from integration tests: the helpers that `tests/external.rs`,
//! `tests/isolation.rs` and `tests/split.rs` share. Each test crate uses a part of them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The crate root, where specs' relative paths resolve.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `stan ARGS...` run from the crate root.
pub fn stan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stan"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("run stan")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The run folder `stan run` prints as its last line of stdout.
pub fn run_dir(out: &Output) -> PathBuf {
    PathBuf::from(text(&out.stdout).trim().lines().last().unwrap_or_default())
}

pub fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}
