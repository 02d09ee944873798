//! Records the source revision the binary is built from (`STAN_BUILD_REVISION`): run manifests
//! carry it next to the revision of the checkout they ran in, because the two differ whenever a
//! binary built earlier runs in a checkout that moved on (or the reverse).

#[path = "src/run/revision.rs"]
mod revision;

fn main() {
    let rev = revision::git_revision().unwrap_or_else(|| "unknown".to_string());
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
