//! `manifest.json`: everything needed to trace a figure back to its inputs.

use super::prepare::Prepared;
use crate::data::flow::{format_ipv4, format_time};
use crate::data::hosts::HostSplit;
use crate::error::Result;
use crate::spec::Spec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Wall-clock seconds per named stage, in first-use order (repeated names accumulate).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Stages(pub Vec<(String, f64)>);

impl Stages {
    pub fn time<T>(&mut self, name: &str, f: impl FnOnce() -> T) -> T {
        let t = std::time::Instant::now();
        let out = f();
        self.add(name, t.elapsed().as_secs_f64());
        out
    }
    pub fn add(&mut self, name: &str, secs: f64) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, s)) => *s += secs,
            None => self.0.push((name.to_string(), secs)),
        }
    }
    pub fn total(&self) -> f64 {
        self.0.iter().map(|(_, s)| s).sum()
    }
}

/// Whether a run wrote every figure it was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Still running, or stopped before its files were written; never on a finished folder,
    /// since the manifest is written last.
    Running,
    /// Every file written, every generator `ok`.
    Complete,
    /// Every file written, but at least one generator `failed` (a step of it is missing from
    /// `metrics.csv`; see [`GeneratorInfo::status`]).
    Partial,
}

impl RunStatus {
    /// Whether the run got to the end and wrote all its files (complete or partial): such a
    /// folder is not run again by `stan sweep` (its spec and seed would fail the same way).
    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Complete | RunStatus::Partial)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Partial => "partial",
        })
    }
}

/// Whether every step of one generator succeeded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeneratorStatus {
    /// Fitted, rolled out (with at least one flow) and evaluated by every evaluation asked for.
    /// Manifests of revision 0bca5b4 and earlier have no generator status and are complete
    /// runs: `ok` by default.
    #[default]
    Ok,
    /// A step failed; `error` says which and why, and the step's rows are missing.
    Failed,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct GeneratorInfo {
    #[serde(default)]
    pub status: GeneratorStatus,
    /// Every failed step of this generator as `<step>: <message>`, joined by `; `. Steps:
    /// `generate` (fit and roll-out, or no flows rolled out: nothing else is then evaluated),
    /// `fidelity`, `fidelity_train`, `detect`, `privacy`, `privacy.shadow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub hosts: usize,
    pub flows: usize,
    pub seconds: f64,
    /// Generator-specific details (training report, redraw counts, throughput, ...).
    pub details: serde_json::Value,
    /// The optional UGR'16 fields (`flg fwd stos label`) its roll-out carried and the real
    /// data had: all of them for the built-ins on UGR'16 data, the file layout's for an
    /// external generator; the evaluations that read a missing one skip it with a marker row
    /// ([`crate::run`]). Absent when nothing was rolled out (and in manifests written before
    /// the field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<crate::data::FieldSet>,
}

impl GeneratorInfo {
    /// Mark `step` failed with `message`.
    pub fn fail(&mut self, step: &str, message: &str) {
        self.status = GeneratorStatus::Failed;
        let line = format!("{step}: {message}");
        self.error = Some(match self.error.take() {
            Some(e) => format!("{e}; {line}"),
            None => line,
        });
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DataInfo {
    pub path: String,
    pub sha256: String,
    pub flows: usize,
    pub skipped_invalid: usize,
    pub hosts: usize,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SplitInfo {
    pub hash: String,
    pub members: Vec<String>,
    pub nonmembers: Vec<String>,
    pub holdout: Vec<String>,
    pub reference: Vec<String>,
    pub train_window: (String, String),
    pub test_window: (String, String),
}

impl SplitInfo {
    /// The record of `split` with its training and test windows (`[start, end)` Unix seconds).
    pub fn new(split: &HostSplit, train: (i64, i64), test: (i64, i64)) -> SplitInfo {
        let ips = |v: &[u32]| v.iter().map(|&ip| format_ipv4(ip)).collect();
        let window = |w: (i64, i64)| (format_time(w.0), format_time(w.1));
        SplitInfo {
            hash: split.hash(),
            members: ips(&split.members),
            nonmembers: ips(&split.nonmembers),
            holdout: ips(&split.holdout),
            reference: ips(&split.reference),
            train_window: window(train),
            test_window: window(test),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub experiment: String,
    pub run_id: String,
    /// `running` until every file is written, then `complete`, or `partial` when a generator
    /// failed ([`RunStatus`]).
    pub status: RunStatus,
    pub seed: u64,
    pub spec_hash: String,
    pub spec: serde_json::Value,
    pub crate_version: String,
    /// Revision of the checkout the run was started in (`-dirty` with uncommitted changes).
    pub git_revision: Option<String>,
    /// Revision the `stan` binary was built from (`-dirty` likewise; "unknown" outside git).
    /// It is the one that says which code produced the figures when the two differ.
    #[serde(default)]
    pub build_revision: Option<String>,
    /// The CPU and the arithmetic path gemm took: the same spec and seed give the same bits
    /// only on the same `gemm_kernels` and L1d geometry ([`super::machine`]).
    #[serde(default)]
    pub machine: super::machine::Machine,
    pub data: DataInfo,
    pub split: SplitInfo,
    /// The fitted encoder (scales, vocabularies, options), kept as JSON: a record written by an
    /// older revision whose encoder had other options must stay readable (`stan report` reads
    /// every curated run folder), and nothing reads it back as an `Encoder`.
    pub encoder: Option<serde_json::Value>,
    pub generators: BTreeMap<String, GeneratorInfo>,
    /// Sweep cell parameters (`key = value`), empty for a plain run.
    pub cell: BTreeMap<String, String>,
    pub stages: Stages,
    pub total_seconds: f64,
}

impl Manifest {
    pub fn new(spec: &Spec) -> Manifest {
        Manifest {
            experiment: spec.name.clone(),
            run_id: spec.run_id(),
            status: RunStatus::Running,
            seed: spec.seed,
            spec_hash: spec.hash(),
            spec: serde_json::to_value(spec).unwrap_or_default(),
            crate_version: env!("CARGO_PKG_VERSION").into(),
            git_revision: super::revision::git_revision(),
            build_revision: Some(env!("STAN_BUILD_REVISION").to_string()),
            machine: super::machine::Machine::detect(),
            data: DataInfo::default(),
            split: SplitInfo::default(),
            encoder: None,
            generators: BTreeMap::new(),
            cell: spec.sweep_cell.clone(),
            stages: Stages::default(),
            total_seconds: 0.0,
        }
    }

    pub fn record_data(&mut self, p: &Prepared) {
        self.data.sha256 = p.data_hash.clone();
        self.data.flows = p.n_flows;
        self.data.skipped_invalid = p.skipped_invalid;
        self.data.hosts = p.hosts.len();
        self.split = SplitInfo::new(&p.split, p.train, p.test);
        if let Some(path) = self.spec.pointer("/data/path").and_then(|v| v.as_str()) {
            self.data.path = path.to_string();
        }
    }

    /// Record the stage timings and the final status: `partial` when any generator failed.
    pub fn finish(&mut self, stages: Stages) {
        self.total_seconds = stages.total();
        self.stages = stages;
        self.status = if self.failed_generators().is_empty() {
            RunStatus::Complete
        } else {
            RunStatus::Partial
        };
    }

    /// `(generator, error)` of every failed generator, by name.
    pub fn failed_generators(&self) -> Vec<(&str, &str)> {
        self.generators
            .iter()
            .filter(|(_, g)| g.status == GeneratorStatus::Failed)
            .map(|(n, g)| (n.as_str(), g.error.as_deref().unwrap_or("")))
            .collect()
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let s =
            serde_json::to_string_pretty(self).map_err(|e| crate::Error::Other(e.to_string()))?;
        crate::data::write::atomic_write_str(path, &(s + "\n"))
    }

    pub fn read(path: &Path) -> Result<Manifest> {
        let s = std::fs::read_to_string(path).map_err(|e| crate::Error::io(path, e))?;
        serde_json::from_str(&s)
            .map_err(|e| crate::Error::Other(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_generator_makes_the_run_partial() {
        let spec = Spec::from_toml("name = \"t\"", "test").unwrap();
        let mut m = Manifest::new(&spec);
        assert_eq!(m.status, RunStatus::Running);
        m.generators.insert("copy".into(), GeneratorInfo::default());
        m.finish(Stages::default());
        assert_eq!(m.status, RunStatus::Complete);
        assert!(m.failed_generators().is_empty());

        let mut g = GeneratorInfo::default();
        g.fail("privacy", "boom");
        g.fail("privacy.shadow", "no flows");
        assert_eq!(g.status, GeneratorStatus::Failed);
        assert_eq!(
            g.error.as_deref(),
            Some("privacy: boom; privacy.shadow: no flows")
        );
        m.generators.insert("stan".into(), g);
        m.finish(Stages::default());
        assert_eq!(m.status, RunStatus::Partial);
        assert_eq!(
            m.failed_generators(),
            vec![("stan", "privacy: boom; privacy.shadow: no flows")]
        );
        assert!(RunStatus::Partial.is_finished() && !RunStatus::Running.is_finished());

        // Lower-case names in JSON; an ok generator carries no `error`.
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["status"], "partial");
        assert_eq!(v["generators"]["stan"]["status"], "failed");
        assert_eq!(v["generators"]["copy"]["status"], "ok");
        assert!(v["generators"]["copy"].get("error").is_none());
    }

    #[test]
    fn manifests_without_generator_status_read_as_ok() {
        // Generator entries as revision 0bca5b4 writes them: no status.
        let spec = Spec::from_toml("name = \"t\"", "test").unwrap();
        let mut m = Manifest::new(&spec);
        m.generators.insert("copy".into(), GeneratorInfo::default());
        m.finish(Stages::default());
        let mut v = serde_json::to_value(&m).unwrap();
        let g = v["generators"]["copy"].as_object_mut().unwrap();
        g.remove("status");
        let back: Manifest = serde_json::from_value(v).unwrap();
        assert_eq!(back.generators["copy"].status, GeneratorStatus::Ok);
        assert_eq!(back.status, RunStatus::Complete);
    }

    #[test]
    fn manifests_with_a_removed_encoder_option_still_read() {
        // The encoder as revision 5277e3a writes it, with an option removed since
        // (`host_activity`): `stan report` must still read such run folders.
        let spec = Spec::from_toml("name = \"t\"", "test").unwrap();
        let mut m = Manifest::new(&spec);
        m.finish(Stages::default());
        let mut v = serde_json::to_value(&m).unwrap();
        v["encoder"] = serde_json::json!({"config": {"host_activity": true, "window": 5}});
        let back: Manifest = serde_json::from_value(v).unwrap();
        assert_eq!(back.encoder.unwrap()["config"]["host_activity"], true);
    }
}
