//! The protocol predictor: a random forest that predicts a flow's protocol class (TCP, UDP,
//! ICMP, other) from the previous flow of the same host and the current flow's other attributes
//! (features in [`super::features::protocol_row`]).
//!
//! Probabilities: smartcore 0.7's `RandomForestClassifier` has no `predict_proba` and its trees'
//! `predict_proba` is one-hot, so we fit one smartcore `RandomForestRegressor` per class on 0/1
//! targets (one-vs-rest). A regression leaf's mean of 0/1 targets is the class frequency in the
//! leaf, so the forest average is the usual forest probability estimate; the K outputs are then
//! normalised to sum to one. The anomaly score is the surprise `-ln p(true class)` with `p`
//! floored at [`ProtocolConfig::min_prob`] so that it stays finite.

use super::features::{N_CLASSES, PROTO_DIM};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

/// Settings of the protocol predictor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProtocolConfig {
    /// Trees per one-vs-rest forest (default 20; with 3–4 classes present that is 60–80 trees,
    /// enough for stable probabilities at ~0.5 s per fit on 20k flows in release).
    pub n_trees: usize,
    /// Maximum tree depth (default 10).
    pub max_depth: u16,
    /// Minimum examples in a leaf (default 5: smoother probabilities than 1).
    pub min_samples_leaf: usize,
    /// Features tried per split; 0 = smartcore's default for regression forests.
    pub mtry: usize,
    /// Floor of the predicted probability in the surprise score (default 1e-4, i.e. a
    /// maximal surprise of ~9.2 nats).
    pub min_prob: f64,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        ProtocolConfig {
            n_trees: 20,
            max_depth: 10,
            min_samples_leaf: 5,
            mtry: 0,
            min_prob: 1e-4,
        }
    }
}

type Forest = RandomForestRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

/// A fitted protocol predictor.
pub struct ProtocolModel {
    /// One forest per class; `None` for a class absent from the training set (probability 0).
    forests: Vec<Option<Forest>>,
    /// The only class seen in training, when there was just one.
    single: Option<usize>,
}

fn sm_err(e: smartcore::error::Failed) -> Error {
    Error::Other(format!("smartcore: {e}"))
}

fn matrix(x: &[f64]) -> Result<DenseMatrix<f64>> {
    DenseMatrix::new(x.len() / PROTO_DIM, PROTO_DIM, x.to_vec(), false).map_err(sm_err)
}

impl ProtocolModel {
    /// Fit on row-major `x` (`[n, PROTO_DIM]`) and classes `y`.
    pub fn fit(x: &[f64], y: &[usize], cfg: &ProtocolConfig, seed: u64) -> Result<ProtocolModel> {
        if y.is_empty() || x.len() != y.len() * PROTO_DIM {
            return Err(Error::Invalid(format!(
                "protocol predictor: {} labels for {} feature values",
                y.len(),
                x.len()
            )));
        }
        let mut present = [false; N_CLASSES];
        for &c in y {
            present[c.min(N_CLASSES - 1)] = true;
        }
        let n_present = present.iter().filter(|&&p| p).count();
        if n_present == 1 {
            return Ok(ProtocolModel {
                forests: (0..N_CLASSES).map(|_| None).collect(),
                single: present.iter().position(|&p| p),
            });
        }
        let xm = matrix(x)?;
        let mut params = RandomForestRegressorParameters::default()
            .with_n_trees(cfg.n_trees.max(1))
            .with_max_depth(cfg.max_depth.max(1))
            .with_min_samples_leaf(cfg.min_samples_leaf.max(1));
        if cfg.mtry > 0 {
            params = params.with_m(cfg.mtry.min(PROTO_DIM));
        }
        let mut forests = Vec::with_capacity(N_CLASSES);
        for (k, &p) in present.iter().enumerate() {
            if !p {
                forests.push(None);
                continue;
            }
            let t: Vec<f64> = y.iter().map(|&c| if c == k { 1.0 } else { 0.0 }).collect();
            let f = Forest::fit(
                &xm,
                &t,
                params.clone().with_seed(seed.wrapping_add(k as u64)),
            )
            .map_err(sm_err)?;
            forests.push(Some(f));
        }
        Ok(ProtocolModel {
            forests,
            single: None,
        })
    }

    /// Class probabilities, row-major `[n, N_CLASSES]`, each row summing to one.
    pub fn predict_proba(&self, x: &[f64]) -> Result<Vec<f64>> {
        let n = x.len() / PROTO_DIM;
        let mut p = vec![0.0; n * N_CLASSES];
        if let Some(c) = self.single {
            for i in 0..n {
                p[i * N_CLASSES + c] = 1.0;
            }
            return Ok(p);
        }
        if n == 0 {
            return Ok(p);
        }
        let xm = matrix(x)?;
        for (k, f) in self.forests.iter().enumerate() {
            if let Some(f) = f {
                let v = f.predict(&xm).map_err(sm_err)?;
                for (i, pi) in v.iter().enumerate() {
                    p[i * N_CLASSES + k] = pi.clamp(0.0, 1.0);
                }
            }
        }
        for row in p.chunks_mut(N_CLASSES) {
            let s: f64 = row.iter().sum();
            if s > 0.0 {
                row.iter_mut().for_each(|v| *v /= s);
            } else {
                row.iter_mut().for_each(|v| *v = 1.0 / N_CLASSES as f64);
            }
        }
        Ok(p)
    }
}

/// Predicted class = arg-max probability (lowest class index on ties).
pub fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (k, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = k;
        }
    }
    best
}

/// Surprise `-ln max(p(true class), min_prob)` in nats.
pub fn surprise(row: &[f64], class: usize, min_prob: f64) -> f64 {
    -row[class].max(min_prob).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_deterministic_rule_and_scores_surprise() {
        // Class = TCP when feature 9 (remote port) < 1000, else UDP; one ICMP example.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..400 {
            let mut row = vec![0.0; PROTO_DIM];
            row[9] = (i * 5) as f64;
            x.extend(row);
            y.push(if i * 5 < 1000 { 0 } else { 1 });
        }
        // All other features are constant, so every split must use feature 9: try all features.
        let cfg = ProtocolConfig {
            n_trees: 10,
            mtry: PROTO_DIM,
            ..Default::default()
        };
        let m = ProtocolModel::fit(&x, &y, &cfg, 1).unwrap();
        let mut q = vec![0.0; 2 * PROTO_DIM];
        q[9] = 10.0;
        q[PROTO_DIM + 9] = 1800.0;
        let p = m.predict_proba(&q).unwrap();
        assert_eq!(argmax(&p[..4]), 0);
        assert_eq!(argmax(&p[4..]), 1);
        assert!(p[0] > 0.95 && p[5] > 0.95, "{p:?}");
        assert_eq!((p[2], p[3]), (0.0, 0.0));
        assert!((p[..4].iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Surprise of the true class is small; of an unseen class it hits the floor.
        assert!(surprise(&p[..4], 0, 1e-4) < 0.06);
        assert!((surprise(&p[..4], 2, 1e-4) - 1e4f64.ln()).abs() < 1e-9);
        // Same seed, same model.
        let m2 = ProtocolModel::fit(&x, &y, &cfg, 1).unwrap();
        assert_eq!(m2.predict_proba(&q).unwrap(), p);
    }
}
