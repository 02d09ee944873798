//! Records the source revision the binary is built from (`STAN_BUILD_REVISION`): run manifests
//! carry it next to the revision of the checkout they ran in, because the two differ whenever a
//! binary built earlier runs in a checkout that moved on (or the reverse).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let rev = match git(&["rev-parse", "HEAD"]) {
        Some(rev) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{rev}-dirty") } else { rev }
        }
        None => "unknown".to_string(),
    };
    println!("cargo:rustc-env=STAN_BUILD_REVISION={rev}");
    // A new commit, a staged change or an edited source file can change the answer.
    for path in [
        ".git/HEAD",
        ".git/index",
        "src",
        "benches",
        "tests",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
}
