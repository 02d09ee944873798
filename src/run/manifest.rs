//! `manifest.json`: everything needed to trace a figure back to its inputs.

use super::prepare::Prepared;
use crate::data::flow::{format_ipv4, format_time};
use crate::encode::Encoder;
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

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct GeneratorInfo {
    pub hosts: usize,
    pub flows: usize,
    pub seconds: f64,
    /// Generator-specific details (training report, redraw counts, throughput, ...).
    pub details: serde_json::Value,
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

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub experiment: String,
    pub run_id: String,
    /// `running` until every file is written, then `complete`.
    pub status: String,
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
    pub encoder: Option<Encoder>,
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
            status: "running".into(),
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
        let ips = |v: &[u32]| v.iter().map(|&ip| format_ipv4(ip)).collect();
        self.data.sha256 = p.data_hash.clone();
        self.data.flows = p.n_flows;
        self.data.skipped_invalid = p.skipped_invalid;
        self.data.hosts = p.hosts.len();
        self.split = SplitInfo {
            hash: p.split.hash(),
            members: ips(&p.split.members),
            nonmembers: ips(&p.split.nonmembers),
            holdout: ips(&p.split.holdout),
            reference: ips(&p.split.reference),
            train_window: (format_time(p.train.0), format_time(p.train.1)),
            test_window: (format_time(p.test.0), format_time(p.test.1)),
        };
        if let Some(path) = self.spec.pointer("/data/path").and_then(|v| v.as_str()) {
            self.data.path = path.to_string();
        }
    }

    pub fn finish(&mut self, stages: Stages) {
        self.total_seconds = stages.total();
        self.stages = stages;
        self.status = "complete".into();
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
