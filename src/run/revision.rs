//! The git revision of the current directory's checkout. Shared with `build.rs` (included
//! there by path), which records the revision the binary is built from; the manifest records
//! both that and the checkout a run starts in. Standard library only, for that reason.

use std::process::Command;

/// `git rev-parse HEAD` of the current directory, with `-dirty` when tracked files have
/// uncommitted changes; `None` outside a git checkout or without git.
pub fn git_revision() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let rev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dirty = Command::new("git")
        .args([
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=no",
        ])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    Some(if dirty { format!("{rev}-dirty") } else { rev })
}
