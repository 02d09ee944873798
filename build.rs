//! Records the source revision the binary is built from (`STAN_BUILD_REVISION`): run manifests
//! carry it next to the revision of the checkout they ran in, because the two differ whenever a
//! binary built earlier runs in a checkout that moved on (or the reverse).
//!
//! It reruns only when that answer can change: a commit or checkout (the `HEAD` file, the
//! branch it points to, `packed-refs`) or an edit of a source file (`-dirty`). Not on
//! `.git/index`: `git status` itself refreshes the index, so watching it made the second build
//! of a fresh clone compile the crate again.

#[path = "src/run/revision.rs"]
mod revision;

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let rev = revision::git_revision().unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=STAN_BUILD_REVISION={rev}");
    for path in [
        "src",
        "benches",
        "tests",
        "Cargo.toml",
        "Cargo.lock",
        "build.rs",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    // Worktrees keep HEAD in their own git dir and refs in the common one.
    if let (Some(dir), Some(common)) = (
        git(&["rev-parse", "--git-dir"]),
        git(&["rev-parse", "--git-common-dir"]),
    ) {
        let mut watch = vec![format!("{dir}/HEAD"), format!("{common}/packed-refs")];
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch.push(format!("{common}/{branch}"));
        }
        // A watched path that does not exist would rerun the script on every build.
        for p in watch.iter().filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}
