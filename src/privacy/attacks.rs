//! Per-candidate membership scores (higher = member) of the no-box attacks A1–A7 and the
//! host-level aggregates. Notation: S = synthetic rows, R = the attacker's reference rows of
//! real non-member traffic, x = a candidate row, `d_k(x, Y)` = distance to the k-th nearest row
//! of Y in the feature space of [`super::features`].

use super::features::{DIM, Feature, RowKey};
use super::nn::NnIndex;
use crate::error::{Error, Result};
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use std::collections::HashSet;

/// Offset added to kNN distances before taking logs in the density ratio, so that exact
/// duplicates (distance 0, common in NetFlow) give a finite score.
pub const DENSITY_EPS: f64 = 1e-6;

/// A1 exact match: `1[x in S]` on the full row key ([`RowKey`]).
pub fn exact_match(cand: &[RowKey], synth: &HashSet<RowKey>) -> Vec<f64> {
    cand.iter()
        .map(|k| if synth.contains(k) { 1.0 } else { 0.0 })
        .collect()
}

/// A2 DCR: `-d_1(x, S)`.
pub fn dcr(d_s: &[f64]) -> Vec<f64> {
    d_s.iter().map(|d| -d).collect()
}

/// A3 DCR calibrated by the reference (GAN-Leaks-cal as in DOMIAS' baselines):
/// `-(d_1(x, S) - d_1(x, R))`.
pub fn dcr_ref(d_s: &[f64], d_r: &[f64]) -> Vec<f64> {
    d_s.iter().zip(d_r).map(|(s, r)| -(s - r)).collect()
}

/// Radius of the A4 Monte-Carlo attack: the median over candidates of `d_1(x, S)` (Hilprecht's
/// median heuristic); when that median is 0 (more than half the candidates have an exact
/// duplicate in S) the smallest positive `d_1` is used instead so the ball is not empty by
/// construction. `None` when every `d_1` is 0.
pub fn mc_radius(d_s: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = d_s.iter().copied().filter(|d| d.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let med = crate::stats::quantile_sorted(&v, 0.5);
    if med > 0.0 {
        Some(med)
    } else {
        v.into_iter().find(|&d| d > 0.0)
    }
}

/// A4 / A5: share of S strictly inside the ball of radius `r` around x, `#{s: d(x,s) < r}/|S|`.
pub fn ball_share(index: &NnIndex, cand: &[Feature], r: f64) -> Vec<f64> {
    let n = index.len().max(1) as f64;
    index
        .count_within(cand, r)
        .into_iter()
        .map(|c| c as f64 / n)
        .collect()
}

/// A6 density ratio in the DOMIAS spirit with kNN densities: `p_S(x) / p_R(x)` with
/// `p_Y(x) ∝ k / (|Y| d_k(x, Y)^dim)`; the log ratio is
/// `dim (ln d_k(x,R) - ln d_k(x,S)) + const`, so the score is the monotone equivalent
/// `ln((d_k(x,R) + ε) / (d_k(x,S) + ε))` with ε = [`DENSITY_EPS`].
pub fn density_ratio(dk_s: &[f64], dk_r: &[f64]) -> Vec<f64> {
    dk_s.iter()
        .zip(dk_r)
        .map(|(s, r)| ((r + DENSITY_EPS) / (s + DENSITY_EPS)).ln())
        .collect()
}

/// Forest settings of the A7 classifier.
#[derive(Clone, Copy, Debug)]
pub struct ForestParams {
    pub trees: usize,
    pub max_depth: u16,
    pub seed: u64,
}

/// A7 LOGAN-D1: a random-forest regressor on 0/1 targets trained to tell S (1) from R (0) on
/// balanced rows; the score of x is the forest's mean prediction (a probability-like value).
pub fn classifier(
    synth: &[Feature],
    reference: &[Feature],
    cand: &[Feature],
    p: ForestParams,
) -> Result<Vec<f64>> {
    if synth.is_empty() || reference.is_empty() {
        return Err(Error::Invalid(
            "classifier attack needs synthetic and reference rows".into(),
        ));
    }
    let to_matrix = |rows: &[&Feature]| -> Result<DenseMatrix<f64>> {
        let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        DenseMatrix::new(rows.len(), DIM, flat, false)
            .map_err(|e| Error::Other(format!("smartcore matrix: {e}")))
    };
    let train: Vec<&Feature> = synth.iter().chain(reference).collect();
    let y: Vec<f64> = synth
        .iter()
        .map(|_| 1.0)
        .chain(reference.iter().map(|_| 0.0))
        .collect();
    let x = to_matrix(&train)?;
    let params = RandomForestRegressorParameters::default()
        .with_n_trees(p.trees)
        .with_max_depth(p.max_depth)
        .with_min_samples_leaf(2)
        .with_seed(p.seed);
    let rf = RandomForestRegressor::fit(&x, &y, params)
        .map_err(|e| Error::Other(format!("random forest fit: {e}")))?;
    let c: Vec<&Feature> = cand.iter().collect();
    rf.predict(&to_matrix(&c)?)
        .map_err(|e| Error::Other(format!("random forest predict: {e}")))
}

/// Host-level aggregates of per-flow scores `s` (higher = member) of one host: mean, max and
/// mean of the `top_k` largest (all flows when the host has fewer). `None` for no flows.
pub fn host_aggregates(s: &[f64], top_k: usize) -> Option<[f64; 3]> {
    if s.is_empty() {
        return None;
    }
    let mut v = s.to_vec();
    v.sort_by(|a, b| b.total_cmp(a));
    let k = top_k.clamp(1, v.len());
    Some([crate::stats::mean(&v), v[0], crate::stats::mean(&v[..k])])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_on_hand_values() {
        assert_eq!(dcr(&[0.0, 2.0]), vec![-0.0, -2.0]);
        assert_eq!(dcr_ref(&[1.0, 2.0], &[3.0, 0.5]), vec![2.0, -1.5]);
        assert_eq!(mc_radius(&[0.0, 0.0, 0.0, 0.2, 0.4]), Some(0.2));
        assert_eq!(mc_radius(&[0.1, 0.3, 0.5]), Some(0.3));
        assert_eq!(mc_radius(&[0.0, 0.0]), None);
        let r = density_ratio(&[0.0, 1.0], &[0.0, 2.0]);
        assert_eq!(r[0], 0.0);
        assert!((r[1] - ((2.0 + DENSITY_EPS) / (1.0 + DENSITY_EPS)).ln()).abs() < 1e-15);
        assert_eq!(
            host_aggregates(&[-3.0, -1.0, -2.0], 2),
            Some([-2.0, -1.0, -1.5])
        );
        assert_eq!(host_aggregates(&[], 2), None);
    }

    #[test]
    fn ball_share_counts_strictly_inside() {
        let mut pts = vec![[0.0; DIM]; 4];
        pts[1][0] = 0.1;
        pts[2][0] = 0.2;
        pts[3][0] = 1.0;
        let idx = NnIndex::new(&pts).unwrap();
        // Around the origin: 0 and 0.1 are < 0.2; 0.2 is on the boundary (excluded).
        assert_eq!(ball_share(&idx, &[[0.0; DIM]], 0.2), vec![0.5]);
    }

    #[test]
    fn classifier_separates_disjoint_clouds() {
        let a: Vec<Feature> = (0..200)
            .map(|i| [1.0 + (i % 7) as f64 * 0.01; DIM])
            .collect();
        let b: Vec<Feature> = (0..200).map(|i| [(i % 5) as f64 * 0.01; DIM]).collect();
        let p = ForestParams {
            trees: 10,
            max_depth: 6,
            seed: 1,
        };
        let s = classifier(&a, &b, &[[1.02; DIM], [0.02; DIM]], p).unwrap();
        assert!(s[0] > 0.9 && s[1] < 0.1, "{s:?}");
        assert_eq!(
            s,
            classifier(&a, &b, &[[1.02; DIM], [0.02; DIM]], p).unwrap()
        );
    }
}
