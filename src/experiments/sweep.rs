//! `stan sweep`: expand a `[sweep]` grid over spec keys into ordinary runs.
//!
//! A sweep file is a spec (or `base = "other.toml"` plus overrides) with a `[sweep]` table whose
//! keys are dotted spec paths and whose values are arrays: `"stan.window" = [1, 3, 5, 10]`,
//! `seed = [1, 2, 3]`. Cells are the Cartesian product, in sorted key order. Each cell is a
//! plain spec with its own hash and run folder, so a finished cell is recognised by its
//! manifest and skipped: an interrupted sweep resumes where it stopped.
//!
//! A cell whose run is `partial` (a generator failed, see [`crate::run`]) counts as finished
//! and is not run again: the same spec and seed would fail the same way, at the full cost of
//! the run. It is listed as partial, and makes the sweep exit non-zero, every time the sweep
//! is run, so it cannot pass for a complete cell; delete its folder to run it again (after a
//! code fix, say). `stan report` uses the figures it wrote.

use crate::error::{Error, Result};
use crate::run::manifest::{Manifest, RunStatus};
use crate::spec::{Spec, set_key};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One expanded cell.
#[derive(Clone, Debug)]
pub struct Cell {
    pub spec: Spec,
    /// The cell's TOML (resolved from the sweep file), written for subprocesses and Slurm.
    pub toml: String,
}

/// Load a sweep file and expand it.
pub fn expand_file(path: &Path) -> Result<Vec<Cell>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let origin = path.display().to_string();
    let mut root: toml::Value = toml::from_str(&text).map_err(|e| Error::Spec {
        key: origin.clone(),
        reason: e.to_string(),
    })?;
    let table = root.as_table_mut().ok_or_else(|| Error::Spec {
        key: origin.clone(),
        reason: "not a table".into(),
    })?;
    let grid = table.remove("sweep").ok_or_else(|| Error::Spec {
        key: format!("{origin}: sweep"),
        reason: "a sweep file needs a [sweep] table".into(),
    })?;
    if let Some(base) = table.remove("base") {
        let base_path = base
            .as_str()
            .map(|b| path.parent().unwrap_or(Path::new(".")).join(b))
            .ok_or_else(|| Error::Spec {
                key: "base".into(),
                reason: "must be a path string".into(),
            })?;
        let base_text =
            std::fs::read_to_string(&base_path).map_err(|e| Error::io(&base_path, e))?;
        let mut merged: toml::Value = toml::from_str(&base_text).map_err(|e| Error::Spec {
            key: base_path.display().to_string(),
            reason: e.to_string(),
        })?;
        merge(&mut merged, root);
        root = merged;
    }
    expand(root, grid, &origin)
}

/// Deep-merge `over` into `base` (tables merge, other values replace).
fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(bv) if bv.is_table() && v.is_table() => merge(bv, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Expand `grid` (key -> array) over the spec `root`.
pub fn expand(root: toml::Value, grid: toml::Value, origin: &str) -> Result<Vec<Cell>> {
    let grid = grid.as_table().ok_or_else(|| Error::Spec {
        key: "sweep".into(),
        reason: "must be a table of key = [values]".into(),
    })?;
    let mut axes: Vec<(String, Vec<toml::Value>)> = Vec::new();
    for (k, v) in grid {
        let vals = v
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| Error::Spec {
                key: format!("sweep.\"{k}\""),
                reason: "must be a non-empty array".into(),
            })?;
        axes.push((k.clone(), vals.clone()));
    }
    let mut cells = Vec::new();
    let total: usize = axes.iter().map(|(_, v)| v.len()).product();
    for i in 0..total {
        let mut rest = i;
        let mut v = root.clone();
        let mut cell = BTreeMap::new();
        for (k, vals) in axes.iter().rev() {
            let val = &vals[rest % vals.len()];
            rest /= vals.len();
            set_key(&mut v, k, val.clone())?;
            cell.insert(k.clone(), val.to_string());
        }
        let mut spec = Spec::from_value(v.clone(), &format!("{origin} (cell {i})"))?;
        spec.sweep_cell = cell.clone();
        let mut t = v;
        if let Some(tab) = t.as_table_mut() {
            tab.insert(
                "sweep_cell".into(),
                toml::Value::Table(
                    cell.into_iter()
                        .map(|(k, s)| (k, toml::Value::String(s)))
                        .collect(),
                ),
            );
        }
        let toml = toml::to_string(&t).map_err(|e| Error::Other(e.to_string()))?;
        cells.push(Cell { spec, toml });
    }
    Ok(cells)
}

/// Whether a run folder holds a complete run (every generator ok).
pub fn is_complete(dir: &Path) -> bool {
    run_status(dir) == Some(RunStatus::Complete)
}

/// The status of the run in a folder; `None` when it has no readable manifest (never run, or
/// stopped before the end).
pub fn run_status(dir: &Path) -> Option<RunStatus> {
    Manifest::read(&dir.join("manifest.json"))
        .ok()
        .map(|m| m.status)
}

/// What [`run_local`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LocalSweep {
    /// Cells run by this call that wrote their folder (complete or partial).
    pub ran: usize,
    /// Cells skipped because their folder already held a complete run.
    pub already_complete: usize,
    /// Cells whose folder holds a partial run, run by this call or kept from an earlier one
    /// (not run again): `<run-id> <cell>: <failed generators>`.
    pub partial: Vec<String>,
    /// Cells whose run ended without a manifest: `<run-id> <cell>`.
    pub failed: Vec<String>,
}

/// `<run-id> <cell>: <generator>: <error>; ...` of a partial run folder.
fn partial_line(cell: &Cell, dir: &Path) -> String {
    let failed = Manifest::read(&dir.join("manifest.json"))
        .map(|m| {
            m.failed_generators()
                .iter()
                .map(|(g, e)| format!("{g}: {e}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    format!(
        "{} {:?}: {failed}",
        cell.spec.run_id(),
        cell.spec.sweep_cell
    )
}

/// Write every cell's TOML to `<out>/<name>/cells/<run-id>.toml`; returns the paths.
pub fn write_cells(cells: &[Cell], out: &Path) -> Result<Vec<PathBuf>> {
    cells
        .iter()
        .map(|c| {
            let p = out
                .join(&c.spec.name)
                .join("cells")
                .join(format!("{}.toml", c.spec.run_id()));
            crate::data::write::atomic_write_str(&p, &c.toml)?;
            Ok(p)
        })
        .collect()
}

/// Run the cells that are not finished yet (no complete or partial manifest), `jobs` at a
/// time, each in its own `stan run` subprocess (a crash or kill loses only that cell).
pub fn run_local(exe: &Path, cells: &[Cell], out: &Path, jobs: usize) -> Result<LocalSweep> {
    let paths = write_cells(cells, out)?;
    let mut outcome = LocalSweep::default();
    let mut todo: Vec<(usize, &Cell)> = Vec::new();
    for (i, c) in cells.iter().enumerate() {
        let dir = crate::run::run_dir(&c.spec, out);
        match run_status(&dir) {
            Some(RunStatus::Complete) => outcome.already_complete += 1,
            Some(RunStatus::Partial) => outcome.partial.push(partial_line(c, &dir)),
            _ => todo.push((i, c)),
        }
    }
    tracing::info!(
        cells = cells.len(),
        complete = outcome.already_complete,
        partial = outcome.partial.len(),
        to_run = todo.len(),
        "sweep"
    );
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(todo.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&(ci, cell)) = todo.get(i) else { break };
                tracing::info!(cell = ?cell.spec.sweep_cell, run = %cell.spec.run_id(), "cell start");
                let status = std::process::Command::new(exe).arg("run").arg(&paths[ci]).arg("--out").arg(out).status();
                if !matches!(status, Ok(s) if s.success())
                    && let Ok(mut f) = failed.lock()
                {
                    f.push(ci);
                }
            });
        }
    });
    // A cell whose `stan run` exited non-zero is partial when it wrote its manifest, failed
    // when it did not.
    let mut failed = failed.into_inner().unwrap_or_default();
    failed.sort_unstable();
    for ci in failed {
        let cell = &cells[ci];
        let dir = crate::run::run_dir(&cell.spec, out);
        if run_status(&dir) == Some(RunStatus::Partial) {
            outcome.partial.push(partial_line(cell, &dir));
        } else {
            outcome
                .failed
                .push(format!("{} {:?}", cell.spec.run_id(), cell.spec.sweep_cell));
        }
    }
    outcome.ran = todo.len() - outcome.failed.len();
    Ok(outcome)
}

/// A Slurm job-array script: one array task per cell, resources from the first cell's spec.
pub fn slurm_script(cells: &[Cell], cell_paths: &[PathBuf], out: &Path, exe: &str) -> String {
    let r = cells
        .first()
        .map(|c| c.spec.resources.clone())
        .unwrap_or_default();
    let name = cells
        .first()
        .map(|c| c.spec.name.clone())
        .unwrap_or_default();
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!(
        "#SBATCH --job-name=stan-{name}\n#SBATCH --array=0-{}\n",
        cells.len().saturating_sub(1)
    ));
    s.push_str(&format!(
        "#SBATCH --cpus-per-task={}\n#SBATCH --mem={}G\n#SBATCH --time={}\n",
        r.cpus, r.mem_gb, r.time_minutes
    ));
    if r.gpus > 0 {
        s.push_str(&format!("#SBATCH --gres=gpu:{}\n", r.gpus));
    }
    if let Some(p) = &r.partition {
        s.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    s.push_str(&format!(
        "#SBATCH --output={}/{name}/slurm-%A_%a.log\nset -euo pipefail\n",
        out.display()
    ));
    s.push_str("CELLS=(\n");
    for p in cell_paths {
        s.push_str(&format!("  '{}'\n", p.display()));
    }
    s.push_str(")\nCELL=\"${CELLS[$SLURM_ARRAY_TASK_ID]}\"\n");
    s.push_str(&format!(
        "export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-{}}}\"\n",
        r.cpus
    ));
    s.push_str(&format!(
        "exec '{exe}' run \"$CELL\" --out '{}'\n",
        out.display()
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_expands_cartesian_with_distinct_hashes() {
        let root: toml::Value = toml::from_str("name = \"t\"\n").unwrap();
        let grid: toml::Value =
            toml::from_str("\"split.members\" = [0.4, 0.5]\nseed = [1, 2, 3]\n").unwrap();
        let cells = expand(root, grid, "x").unwrap();
        assert_eq!(cells.len(), 6);
        let ids: std::collections::BTreeSet<String> =
            cells.iter().map(|c| c.spec.run_id()).collect();
        assert_eq!(ids.len(), 6);
        // Sorted keys (`seed` < `split.members`); the last key varies fastest.
        assert_eq!((cells[0].spec.seed, cells[0].spec.split.members), (1, 0.4));
        assert_eq!((cells[1].spec.seed, cells[1].spec.split.members), (1, 0.5));
        assert_eq!((cells[3].spec.seed, cells[3].spec.split.members), (2, 0.5));
        assert_eq!(cells[3].spec.sweep_cell["seed"], "2");
        // The written TOML reproduces the same spec (and hash).
        let again = Spec::from_toml(&cells[4].toml, "cell").unwrap();
        assert_eq!(again.hash(), cells[4].spec.hash());
    }

    #[test]
    fn bad_sweep_key_is_named() {
        let root: toml::Value = toml::from_str("name = \"t\"\n").unwrap();
        let grid: toml::Value = toml::from_str("\"split.membrs\" = [0.4]\n").unwrap();
        let e = expand(root, grid, "x").unwrap_err().to_string();
        assert!(e.contains("membrs"), "{e}");
    }

    #[test]
    fn slurm_script_has_array_and_cells() {
        let root: toml::Value = toml::from_str("name = \"t\"\n").unwrap();
        let grid: toml::Value = toml::from_str("seed = [1, 2]\n").unwrap();
        let cells = expand(root, grid, "x").unwrap();
        let paths = vec![PathBuf::from("a.toml"), PathBuf::from("b.toml")];
        let s = slurm_script(&cells, &paths, Path::new("results"), "stan");
        assert!(
            s.contains("#SBATCH --array=0-1")
                && s.contains("'b.toml'")
                && s.contains("--cpus-per-task=2")
        );
    }
}
