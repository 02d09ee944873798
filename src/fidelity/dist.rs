//! Distribution distances: Jensen–Shannon (histogram, categorical, popularity-rank), 1-D
//! Wasserstein-1 (EMD), two-sample Kolmogorov–Smirnov D, Cramér's V and the autocorrelation
//! function. Each is tested against hand-computed values.
//!
//! Conventions (pinned here, referred to by the metric docs in [`super`]):
//! * **JS divergence** `jsd(p, q) = ½ KL(p‖m) + ½ KL(q‖m)`, `m = (p+q)/2`, natural log, on the
//!   normalised inputs, no smoothing; `0·ln 0 = 0`. In `[0, ln 2]`. This is NetShare's
//!   `scipy.spatial.distance.jensenshannon(p, q)**2`.
//! * **JS distance** `sqrt(jsd / ln 2)`: the square root of the divergence in **bits**, in
//!   `[0, 1]` (the convention of NetShare's newer tutorials with base 2).
//! * **EMD** is the 1-D Wasserstein-1 distance `∫ |F_a(x) − F_b(x)| dx` between the empirical
//!   CDFs (scipy `wasserstein_distance` without weights).
//! * **KS** is the two-sample statistic `D = sup_x |F_a(x) − F_b(x)|`, with both CDFs evaluated
//!   after all tied values (scipy `ks_2samp(...).statistic`).

use std::collections::BTreeMap;

/// Jensen–Shannon divergence (natural log) of two non-negative weight vectors of equal length
/// (missing tail entries count as zero). Each side is normalised by its own sum; returns 0 when
/// either side sums to 0 (nothing to compare) — callers reject empty inputs before this.
pub fn js_divergence(p: &[f64], q: &[f64]) -> f64 {
    let n = p.len().max(q.len());
    let sp: f64 = p.iter().sum();
    let sq: f64 = q.iter().sum();
    if sp <= 0.0 || sq <= 0.0 {
        return 0.0;
    }
    let mut d = 0.0;
    for i in 0..n {
        let a = p.get(i).copied().unwrap_or(0.0) / sp;
        let b = q.get(i).copied().unwrap_or(0.0) / sq;
        let m = 0.5 * (a + b);
        if a > 0.0 {
            d += 0.5 * a * (a / m).ln();
        }
        if b > 0.0 {
            d += 0.5 * b * (b / m).ln();
        }
    }
    // Rounding can leave a tiny negative value for identical inputs.
    d.clamp(0.0, std::f64::consts::LN_2)
}

/// JS distance in bits from a divergence in nats: `sqrt(div / ln 2)`, in `[0, 1]`.
pub fn js_distance_bits(div_nats: f64) -> f64 {
    (div_nats / std::f64::consts::LN_2).max(0.0).sqrt()
}

/// Category counts, keyed by the category's integer code (sorted, so sums are deterministic).
pub type Counts = BTreeMap<u64, u64>;

pub fn counts(values: impl IntoIterator<Item = u64>) -> Counts {
    let mut c = Counts::new();
    for v in values {
        *c.entry(v).or_default() += 1;
    }
    c
}

/// JS divergence of two categorical distributions over the union of their categories (a category
/// seen on one side only gets probability 0 on the other).
pub fn jsd_categorical(a: &Counts, b: &Counts) -> f64 {
    let mut keys: Vec<u64> = a.keys().chain(b.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    let p: Vec<f64> = keys
        .iter()
        .map(|k| a.get(k).copied().unwrap_or(0) as f64)
        .collect();
    let q: Vec<f64> = keys
        .iter()
        .map(|k| b.get(k).copied().unwrap_or(0) as f64)
        .collect();
    js_divergence(&p, &q)
}

/// Popularity-rank vector: the counts sorted in decreasing order (NetShare's
/// `Counter(...).most_common()` values), identity of the categories dropped.
pub fn rank_vector(c: &Counts) -> Vec<f64> {
    let mut v: Vec<u64> = c.values().copied().collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v.into_iter().map(|x| x as f64).collect()
}

/// JS divergence of the popularity-rank distributions (the shorter vector is zero-padded):
/// IP-identity agnostic, so pseudonymised synthetic IPs are scored fairly.
pub fn jsd_rank(a: &Counts, b: &Counts) -> f64 {
    js_divergence(&rank_vector(a), &rank_vector(b))
}

/// Histograms of `a` and `b` on `bins` common equal-width bins spanning the union's
/// `[min, max]` (the last bin is closed). Non-finite values are ignored. With a degenerate range
/// everything falls in one bin.
pub fn common_histograms(a: &[f64], b: &[f64], bins: usize) -> (Vec<f64>, Vec<f64>) {
    let bins = bins.max(1);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &x in a.iter().chain(b).filter(|x| x.is_finite()) {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let fill = |v: &[f64]| {
        let mut h = vec![0.0; bins];
        for &x in v.iter().filter(|x| x.is_finite()) {
            let i = (((x - lo) / width) as usize).min(bins - 1);
            h[i] += 1.0;
        }
        h
    };
    (fill(a), fill(b))
}

/// JS divergence (nats) of two samples histogrammed on common edges ([`common_histograms`]).
pub fn jsd_continuous(a: &[f64], b: &[f64], bins: usize) -> f64 {
    let (p, q) = common_histograms(a, b, bins);
    js_divergence(&p, &q)
}

fn sorted_finite(x: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = x.iter().copied().filter(|v| v.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Walk the merged sorted samples and call `f(x, F_a(x), F_b(x), next_x)` at every distinct
/// value `x` (CDFs taken after all values equal to `x`); `next_x` is the next distinct value.
fn walk_cdfs(a: &[f64], b: &[f64], mut f: impl FnMut(f64, f64, Option<f64>)) {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&u), Some(&v)) => u.min(v),
            (Some(&u), None) => u,
            (None, Some(&v)) => v,
            (None, None) => break,
        };
        while i < a.len() && a[i] == x {
            i += 1;
        }
        while j < b.len() && b[j] == x {
            j += 1;
        }
        let next = match (a.get(i), b.get(j)) {
            (Some(&u), Some(&v)) => Some(u.min(v)),
            (Some(&u), None) => Some(u),
            (None, Some(&v)) => Some(v),
            (None, None) => None,
        };
        f(i as f64 / na - j as f64 / nb, x, next);
    }
}

/// 1-D Wasserstein-1 distance between two samples (non-finite values dropped). `None` if a
/// side is empty.
pub fn wasserstein1(a: &[f64], b: &[f64]) -> Option<f64> {
    let (a, b) = (sorted_finite(a), sorted_finite(b));
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mut w = 0.0;
    walk_cdfs(&a, &b, |diff, x, next| {
        if let Some(nx) = next {
            w += diff.abs() * (nx - x);
        }
    });
    Some(w)
}

/// Two-sample Kolmogorov–Smirnov statistic `D` (non-finite values dropped). `None` if a side is
/// empty.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> Option<f64> {
    let (a, b) = (sorted_finite(a), sorted_finite(b));
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mut d: f64 = 0.0;
    walk_cdfs(&a, &b, |diff, _, _| d = d.max(diff.abs()));
    Some(d)
}

/// Cramér's V of a contingency table (rows × columns of counts), without bias correction:
/// `V = sqrt(χ² / (n · (min(r, c) − 1)))`, where empty rows and columns are dropped first.
/// `None` when fewer than two non-empty rows or columns remain (association undefined).
pub fn cramers_v(table: &[Vec<f64>]) -> Option<f64> {
    let ncols = table.iter().map(|r| r.len()).max().unwrap_or(0);
    let row_tot: Vec<f64> = table.iter().map(|r| r.iter().sum()).collect();
    let mut col_tot = vec![0.0; ncols];
    for r in table {
        for (c, v) in r.iter().enumerate() {
            col_tot[c] += v;
        }
    }
    let n: f64 = row_tot.iter().sum();
    let r_eff = row_tot.iter().filter(|&&t| t > 0.0).count();
    let c_eff = col_tot.iter().filter(|&&t| t > 0.0).count();
    if r_eff < 2 || c_eff < 2 || n <= 0.0 {
        return None;
    }
    let mut chi2 = 0.0;
    for (ri, r) in table.iter().enumerate() {
        if row_tot[ri] <= 0.0 {
            continue;
        }
        for (ci, &ct) in col_tot.iter().enumerate() {
            if ct <= 0.0 {
                continue;
            }
            let e = row_tot[ri] * ct / n;
            let o = r.get(ci).copied().unwrap_or(0.0);
            chi2 += (o - e).powi(2) / e;
        }
    }
    let k = (r_eff.min(c_eff) - 1) as f64;
    Some((chi2 / (n * k)).sqrt().min(1.0))
}

/// Sample autocorrelation at lags `1..=max_lag` with the standard (biased) estimator
/// `r_k = Σ_{t<n−k} (x_t − x̄)(x_{t+k} − x̄) / Σ_t (x_t − x̄)²` (numpy/statsmodels `acf`).
/// `None` for a constant series or one with `n ≤ max_lag`.
pub fn acf(x: &[f64], max_lag: usize) -> Option<Vec<f64>> {
    let n = x.len();
    if n <= max_lag || n < 2 {
        return None;
    }
    let m = x.iter().sum::<f64>() / n as f64;
    let c0: f64 = x.iter().map(|v| (v - m).powi(2)).sum();
    if c0 <= 0.0 {
        return None;
    }
    Some(
        (1..=max_lag)
            .map(|k| (0..n - k).map(|t| (x[t] - m) * (x[t + k] - m)).sum::<f64>() / c0)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() < tol
    }

    #[test]
    fn jsd_of_small_histograms() {
        // p = (1/2, 1/2, 0), q = (0, 1/2, 1/2): m = (1/4, 1/2, 1/4);
        // KL(p‖m) = ½ ln 2 + ½ ln 1 = ½ ln 2, same for q, so JSD = ½ ln 2 = 0.346574.
        let d = js_divergence(&[1.0, 1.0, 0.0], &[0.0, 2.0, 2.0]);
        assert!(close(d, 0.5 * std::f64::consts::LN_2, 1e-12), "{d}");
        assert!(close(js_distance_bits(d), 0.5f64.sqrt(), 1e-12));
        // Disjoint supports: ln 2 (distance 1); identical: 0.
        assert!(close(
            js_divergence(&[1.0, 0.0], &[0.0, 3.0]),
            std::f64::consts::LN_2,
            1e-12
        ));
        assert_eq!(js_divergence(&[2.0, 3.0], &[4.0, 6.0]), 0.0);
        // jensenshannon([0.1,0.4,0.5],[0.3,0.3,0.4])**2 = 0.0325302 (by hand: m = (.2,.35,.45)).
        let d = js_divergence(&[0.1, 0.4, 0.5], &[0.3, 0.3, 0.4]);
        let m = [0.2, 0.35, 0.45];
        let kl = |p: [f64; 3]| p.iter().zip(m).map(|(a, b)| a * (a / b).ln()).sum::<f64>();
        let want = 0.5 * kl([0.1, 0.4, 0.5]) + 0.5 * kl([0.3, 0.3, 0.4]);
        assert!(
            close(d, want, 1e-12) && close(d, 0.032_530_2, 1e-6),
            "{d} {want}"
        );
    }

    #[test]
    fn categorical_and_rank_jsd() {
        // a: {1:2, 2:2}; b: {2:2, 3:2} -> same as the histogram example, ½ ln 2.
        let a = counts([1, 1, 2, 2]);
        let b = counts([2, 2, 3, 3]);
        assert!(close(
            jsd_categorical(&a, &b),
            0.5 * std::f64::consts::LN_2,
            1e-12
        ));
        // Rank view: both are (2, 2): identical -> 0 although the identities differ.
        assert_eq!(jsd_rank(&a, &b), 0.0);
        // a ranks (3, 1), b ranks (2, 1, 1) -> p = (3/4, 1/4, 0), q = (1/2, 1/4, 1/4).
        let a = counts([7, 7, 7, 9]);
        let b = counts([1, 1, 2, 3]);
        assert_eq!(rank_vector(&a), vec![3.0, 1.0]);
        let m = [0.625, 0.25, 0.125];
        let want = 0.5 * (0.75 * (0.75f64 / m[0]).ln())
            + 0.5 * (0.5 * (0.5f64 / m[0]).ln() + 0.25 * (0.25f64 / m[2]).ln());
        assert!(close(jsd_rank(&a, &b), want, 1e-12), "{}", jsd_rank(&a, &b));
    }

    #[test]
    fn continuous_jsd_uses_common_edges() {
        // Union range [0, 4], 2 bins [0,2), [2,4]: a -> (2, 0), b -> (1, 1).
        let (p, q) = common_histograms(&[0.0, 1.0], &[1.5, 4.0], 2);
        assert_eq!((p, q), (vec![2.0, 0.0], vec![1.0, 1.0]));
        // p=(1,0), q=(1/2,1/2), m=(3/4,1/4): ½ ln(4/3) + ½(½ ln(2/3) + ½ ln 2).
        let want = 0.5 * (4.0f64 / 3.0).ln() + 0.25 * (2.0f64 / 3.0).ln() + 0.25 * 2.0f64.ln();
        assert!(close(
            jsd_continuous(&[0.0, 1.0], &[1.5, 4.0], 2),
            want,
            1e-12
        ));
        assert_eq!(jsd_continuous(&[3.0, 3.0], &[3.0], 10), 0.0);
    }

    #[test]
    fn emd_of_tiny_samples() {
        // scipy: wasserstein_distance([0,1,3],[5,6,8]) = 5 (a shift by 5).
        assert!(close(
            wasserstein1(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]).unwrap(),
            5.0,
            1e-12
        ));
        // [0, 1] vs [0]: CDFs differ by 1/2 on [0, 1) -> 0.5.
        assert!(close(
            wasserstein1(&[0.0, 1.0], &[0.0]).unwrap(),
            0.5,
            1e-12
        ));
        // [1,2,2,7] vs [3,3,4] (= scipy wasserstein_distance, 1.8333...):
        // F_a - F_b: [1,2): 1/4, [2,3): 3/4, [3,4): 3/4-2/3=1/12, [4,7): 3/4-1 = -1/4.
        let want = 0.25 + 0.75 + 1.0 / 12.0 + 0.75;
        let w = wasserstein1(&[2.0, 1.0, 7.0, 2.0], &[3.0, 4.0, 3.0]).unwrap();
        assert!(close(w, want, 1e-12), "{w}");
        assert_eq!(wasserstein1(&[], &[1.0]), None);
    }

    #[test]
    fn ks_of_tiny_samples() {
        // Same example: max |F_a - F_b| = 3/4 at x = 2.
        assert!(close(
            ks_statistic(&[1.0, 2.0, 2.0, 7.0], &[3.0, 3.0, 4.0]).unwrap(),
            0.75,
            1e-12
        ));
        // Ties across samples: [1,2] vs [1,2] -> 0; [1,1,2] vs [1,2,2] -> |2/3 - 1/3| = 1/3.
        assert_eq!(ks_statistic(&[1.0, 2.0], &[2.0, 1.0]).unwrap(), 0.0);
        let d = ks_statistic(&[1.0, 1.0, 2.0], &[1.0, 2.0, 2.0]).unwrap();
        assert!(close(d, 1.0 / 3.0, 1e-12));
        // Disjoint: 1.
        assert_eq!(ks_statistic(&[0.0], &[5.0, 6.0]).unwrap(), 1.0);
    }

    #[test]
    fn ks_matches_statrs_on_real_like_data() {
        use statrs::stats_tests::NaNPolicy;
        use statrs::stats_tests::ks_test::{KSTwoSampleAlternativeMethod, ks_twosample};
        let a: Vec<f64> = (0..300).map(|i| ((i * 37) % 101) as f64).collect();
        let b: Vec<f64> = (0..200).map(|i| ((i * 53) % 89) as f64 + 7.0).collect();
        let (d, _) = ks_twosample(
            a.clone(),
            b.clone(),
            KSTwoSampleAlternativeMethod::TwoSidedAsymptotic,
            NaNPolicy::Error,
        )
        .unwrap();
        assert!(close(ks_statistic(&a, &b).unwrap(), d, 1e-12), "{d}");
    }

    #[test]
    fn cramers_v_of_2x2() {
        // [[10, 20], [30, 40]]: n=100, chi2 = 100 (10·40 − 20·30)² / (30·70·40·60) = 0.793651,
        // V = sqrt(0.793651 / 100) = 0.0890871.
        let v = cramers_v(&[vec![10.0, 20.0], vec![30.0, 40.0]]).unwrap();
        assert!(
            close(v, (0.793_650_793_650_8f64 / 100.0).sqrt(), 1e-9),
            "{v}"
        );
        // Perfect association -> 1; independence -> 0; a constant column -> undefined.
        assert!(close(
            cramers_v(&[vec![5.0, 0.0], vec![0.0, 7.0]]).unwrap(),
            1.0,
            1e-12
        ));
        assert!(close(
            cramers_v(&[vec![1.0, 2.0], vec![2.0, 4.0]]).unwrap(),
            0.0,
            1e-12
        ));
        assert_eq!(cramers_v(&[vec![3.0, 0.0], vec![4.0, 0.0]]), None);
    }

    #[test]
    fn acf_of_short_series() {
        // x = 1,2,3,4,5: mean 3, c0 = 10; lag1 = (−2·−1 + −1·0 + 0·1 + 1·2)/10 = 0.4;
        // lag2 = (−2·0 + −1·1 + 0·2)/10 = −0.1.
        let r = acf(&[1.0, 2.0, 3.0, 4.0, 5.0], 2).unwrap();
        assert!(close(r[0], 0.4, 1e-12) && close(r[1], -0.1, 1e-12), "{r:?}");
        // Alternating series: lag1 = −(n−1)/n = −0.75 for n = 4.
        assert!(close(
            acf(&[1.0, -1.0, 1.0, -1.0], 1).unwrap()[0],
            -0.75,
            1e-12
        ));
        assert_eq!(acf(&[2.0; 6], 1), None);
        assert_eq!(acf(&[1.0, 2.0], 2), None);
    }
}
