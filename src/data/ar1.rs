//! STAN's simulated check data ("ar1"): one temporal and one within-row dependency.
//!
//! x_0 = e_0, x_t = 0.9 x_{t-1} + 0.1 e_t, y_t = 0.9 x_t + 0.1 e'_t with e, e' iid N(0, 1).
//! In the stationary regime Var(x) = 0.01 / 0.19 ≈ 0.0526, corr(x_t, x_{t-1}) = 0.9 and
//! corr(x_t, y_t) = 0.9. The first rows of each host carry the N(0, 1) start (a transient that
//! decays as 0.9^t), as in the original generator.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use crate::schema::{Attribute, Schema, Sequences};

/// Two continuous attributes `x`, `y` on [-5, 5]: wide enough for the N(0, 1) start value
/// (|x_0| > 5 has probability 6e-7), so valid samples are never clamped in practice.
pub fn schema() -> Schema {
    Schema {
        attrs: vec![
            Attribute::continuous("x", -5.0, 5.0),
            Attribute::continuous("y", -5.0, 5.0),
        ],
    }
}

/// `n_hosts` independent sequences of `rows_per_host` rows (x, y), from one seeded `StdRng`.
pub fn simulate(n_hosts: usize, rows_per_host: usize, seed: u64) -> Sequences {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seq = Sequences::new(2);
    let mut rows = Vec::with_capacity(2 * rows_per_host);
    for _ in 0..n_hosts {
        rows.clear();
        let mut x = 0.0f64;
        for t in 0..rows_per_host {
            let e: f64 = StandardNormal.sample(&mut rng);
            let e2: f64 = StandardNormal.sample(&mut rng);
            x = if t == 0 { e } else { 0.9 * x + 0.1 * e };
            let y = 0.9 * x + 0.1 * e2;
            rows.push(x as f32);
            rows.push(y as f32);
        }
        seq.push_host(&rows);
    }
    seq
}

/// Pearson correlation of (v_{t-1}, v_t) pairs of attribute `attr`, pooled over hosts (pairs
/// never cross a host boundary). NaN when undefined (fewer than 2 pairs or zero variance).
pub fn lag1_autocorr(seq: &Sequences, attr: usize) -> f64 {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for h in 0..seq.n_hosts() {
        let r = seq.host(h);
        for i in r.start + 1..r.end {
            a.push(seq.row(i - 1)[attr] as f64);
            b.push(seq.row(i)[attr] as f64);
        }
    }
    crate::stats::pearson(&a, &b).unwrap_or(f64::NAN)
}

/// Pearson correlation of attributes `a` and `b` within rows, pooled over all rows.
pub fn cross_corr(seq: &Sequences, a: usize, b: usize) -> f64 {
    let xa: Vec<f64> = (0..seq.n_rows()).map(|i| seq.row(i)[a] as f64).collect();
    let xb: Vec<f64> = (0..seq.n_rows()).map(|i| seq.row(i)[b] as f64).collect();
    crate::stats::pearson(&xa, &xb).unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulation_has_theoretical_correlations() {
        // Long hosts keep the start transient small (its share of the variance is ~10 %).
        let s = simulate(4, 5000, 7);
        assert_eq!((s.n_hosts(), s.n_rows(), s.n_attrs), (4, 20_000, 2));
        let r1 = lag1_autocorr(&s, 0);
        let rxy = cross_corr(&s, 0, 1);
        assert!((r1 - 0.9).abs() < 0.02, "lag-1 autocorrelation {r1}");
        assert!((rxy - 0.9).abs() < 0.02, "x-y correlation {rxy}");
        // Stationary sd of x is sqrt(0.01 / 0.19) = 0.229; skip each host's first 100 rows.
        let xs: Vec<f64> = (0..4)
            .flat_map(|h| {
                s.host(h)
                    .skip(100)
                    .map(|i| s.row(i)[0] as f64)
                    .collect::<Vec<_>>()
            })
            .collect();
        let sd = crate::stats::std_dev(&xs);
        assert!((sd - 0.2294).abs() < 0.02, "sd {sd}");
    }

    #[test]
    fn same_seed_same_data_and_pairs_stay_within_hosts() {
        assert_eq!(simulate(2, 10, 3), simulate(2, 10, 3));
        assert_ne!(simulate(2, 10, 3), simulate(2, 10, 4));
        // Two hosts of 2 rows: pairs (1, 2) and (10, 20) only; (2, 10) would cross hosts.
        let mut s = Sequences::new(1);
        s.push_host(&[1.0, 2.0]);
        s.push_host(&[10.0, 20.0]);
        assert!((lag1_autocorr(&s, 0) - 1.0).abs() < 1e-12);
    }
}
