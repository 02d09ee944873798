//! Detection score: how well a classifier tells real flows from synthetic ones.
//!
//! A smartcore random-forest **regressor** on 0/1 targets (1 = synthetic) gives probability-like
//! scores and is an order of magnitude faster than its classifier. Classes are balanced by
//! sampling the same number of flows from each side (capped), each side is split
//! `train_fraction` / rest, and the ROC AUC on the held-out flows is reported with a percentile
//! bootstrap CI over those flows. 0.5 = indistinguishable, 1 = trivially detected.
//!
//! Features per flow (all from the host view, none using IP identities, which are pseudonyms for
//! synthetic hosts): `ln(1+byt)`, `ln(1+pkt)`, `ln(1+td)`, own port, remote port, protocol
//! number, flag bits, ToS, direction, hour of day (fractional), `ln(1+gap)` to the host's
//! previous flow (−1 for a host's first flow).
//!
//! Caveat: when the synthetic set contains exact copies of the real test flows, the AUC falls
//! *below* 0.5 (a test flow's duplicate sits in the other class's training set and pulls its
//! score the wrong way); scoring a sample against itself gives ≈0.44 on the fixtures. Two
//! random halves of the same traffic give ≈0.5.

use super::view::FlowColumns;
use crate::error::{Error, Result};
use crate::stats::{bootstrap_ci, roc_auc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

pub const N_FEATURES: usize = 11;

/// Feature row of flow `i` (see the module doc for the order).
pub fn features(c: &FlowColumns, i: usize) -> [f64; N_FEATURES] {
    let g = c.gap_per_flow[i];
    [
        c.byt[i].ln_1p(),
        c.pkt[i].ln_1p(),
        c.td[i].max(0.0).ln_1p(),
        c.own_port[i] as f64,
        c.remote_port[i] as f64,
        c.pr[i] as f64,
        c.flg[i] as f64,
        c.stos[i] as f64,
        c.outgoing[i],
        c.tod[i] / 3600.0,
        if g.is_finite() {
            g.max(0.0).ln_1p()
        } else {
            -1.0
        },
    ]
}

/// Sizes of the detection experiment.
#[derive(Clone, Copy, Debug)]
pub struct DetectionParams {
    pub trees: usize,
    pub depth: u16,
    pub max_flows_per_side: usize,
    pub train_fraction: f64,
    pub bootstrap_reps: usize,
    pub ci_level: f64,
}

/// Result: AUC on the test flows, its bootstrap CI, and the test-set size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    pub auc: f64,
    pub ci: Option<(f64, f64)>,
    pub n_test: usize,
}

/// Train and score the real-vs-synthetic detector. Errors when a side has fewer than 10 flows.
pub fn detection_auc(
    real: &FlowColumns,
    synth: &FlowColumns,
    p: &DetectionParams,
    seed: u64,
) -> Result<Detection> {
    let per_side = real
        .len()
        .min(synth.len())
        .min(p.max_flows_per_side.max(10));
    if per_side < 10 {
        return Err(Error::Invalid(format!(
            "detection needs at least 10 flows per side (real {}, synthetic {})",
            real.len(),
            synth.len()
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let n_train = ((per_side as f64 * p.train_fraction).round() as usize).clamp(1, per_side - 1);
    let (mut xtr, mut ytr, mut xte, mut yte) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (cols, label) in [(real, 0.0), (synth, 1.0)] {
        let mut idx: Vec<usize> = (0..cols.len()).collect();
        idx.shuffle(&mut rng);
        idx.truncate(per_side);
        for (k, &i) in idx.iter().enumerate() {
            let row = features(cols, i);
            if k < n_train {
                xtr.extend_from_slice(&row);
                ytr.push(label);
            } else {
                xte.extend_from_slice(&row);
                yte.push(label);
            }
        }
    }
    let to_err = |e: smartcore::error::Failed| Error::Other(format!("detection forest: {e}"));
    let xtr = DenseMatrix::new(ytr.len(), N_FEATURES, xtr, false).map_err(to_err)?;
    let xte = DenseMatrix::new(yte.len(), N_FEATURES, xte, false).map_err(to_err)?;
    let params = RandomForestRegressorParameters::default()
        .with_n_trees(p.trees.max(1))
        .with_max_depth(p.depth.max(1))
        .with_seed(seed ^ 0x005E_EDDE_7EC7);
    let forest = RandomForestRegressor::fit(&xtr, &ytr, params).map_err(to_err)?;
    let scores: Vec<f64> = forest.predict(&xte).map_err(to_err)?;
    let labels: Vec<bool> = yte.iter().map(|&y| y > 0.5).collect();
    let auc = roc_auc(&scores, &labels)
        .ok_or_else(|| Error::Other("detection test set has one class".into()))?;
    let ci = bootstrap_ci(
        labels.len(),
        p.bootstrap_reps,
        p.ci_level,
        seed ^ 0xB007,
        |idx| {
            let s: Vec<f64> = idx.iter().map(|&i| scores[i]).collect();
            let l: Vec<bool> = idx.iter().map(|&i| labels[i]).collect();
            roc_auc(&s, &l)
        },
    );
    Ok(Detection {
        auc,
        ci,
        n_test: labels.len(),
    })
}
