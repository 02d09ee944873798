//! Small numeric routines shared by the evaluations: ROC AUC (tie-aware), ROC curve, average
//! precision, percentile bootstrap CIs. Each is tested against hand-computed values.

use rand::{RngExt, SeedableRng};

/// ROC AUC of `scores` (higher = positive) against `labels`, as the Mann–Whitney statistic with
/// mid-ranks for ties (equal to sklearn's `roc_auc_score`). `None` when a class is empty.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len());
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0; // 1-based mid-rank
        for &k in &idx[i..=j] {
            if labels[k] {
                rank_sum_pos += mid;
            }
        }
        i = j + 1;
    }
    let u = rank_sum_pos - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos as f64 * n_neg as f64))
}

/// ROC curve points `(fpr, tpr)` from the highest threshold down, one point per distinct score
/// (ties move diagonally), starting at (0, 0) and ending at (1, 1).
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    let n_pos = labels.iter().filter(|&&l| l).count().max(1) as f64;
    let n_neg = (labels.len() - labels.iter().filter(|&&l| l).count()).max(1) as f64;
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut pts = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == s {
            if labels[idx[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        pts.push((fp / n_neg, tp / n_pos));
    }
    pts
}

/// Average precision (area under the precision-recall step curve, sklearn's definition:
/// `sum_k (R_k - R_{k-1}) P_k` over distinct thresholds). `None` without positives.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let n_pos = labels.iter().filter(|&&l| l).count();
    if n_pos == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp, mut ap, mut prev_recall) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == s {
            if labels[idx[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        let recall = tp / n_pos as f64;
        let precision = tp / (tp + fp);
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Some(ap)
}

/// Percentile bootstrap CI (`level`, e.g. 0.95) of `stat` over `n_items` resampled with
/// replacement, `reps` times, seeded. `stat` receives the resampled indices and may return
/// `None` (e.g. a one-class resample), which is skipped.
pub fn bootstrap_ci(
    n_items: usize,
    reps: usize,
    level: f64,
    seed: u64,
    mut stat: impl FnMut(&[usize]) -> Option<f64>,
) -> Option<(f64, f64)> {
    if n_items == 0 || reps == 0 {
        return None;
    }
    let mut vals = Vec::with_capacity(reps);
    bootstrap_resamples(n_items, reps, seed, |idx| {
        if let Some(s) = stat(idx)
            && s.is_finite()
        {
            vals.push(s);
        }
    });
    percentile_ci(&mut vals, level)
}

/// The resamples behind [`bootstrap_ci`]: `reps` times, `n_items` indices drawn with
/// replacement from one `StdRng` seeded with `seed`, handed to `f` in turn. Several statistics
/// evaluated on the same call see exactly the resamples that `bootstrap_ci` with the same seed
/// would give each of them, at the cost of drawing them once.
pub fn bootstrap_resamples(n_items: usize, reps: usize, seed: u64, mut f: impl FnMut(&[usize])) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut idx = vec![0usize; n_items];
    for _ in 0..reps {
        for v in idx.iter_mut() {
            *v = rng.random_range(0..n_items);
        }
        f(&idx);
    }
}

/// Percentile interval (`level`, e.g. 0.95) of replicate values (sorted in place); `None`
/// without values.
pub fn percentile_ci(vals: &mut [f64], level: f64) -> Option<(f64, f64)> {
    if vals.is_empty() {
        return None;
    }
    vals.sort_by(f64::total_cmp);
    let a = (1.0 - level) / 2.0;
    Some((quantile_sorted(vals, a), quantile_sorted(vals, 1.0 - a)))
}

/// Linear-interpolated quantile of sorted data (numpy's default, "linear").
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample standard deviation (n - 1).
pub fn std_dev(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return 0.0;
    }
    let m = mean(x);
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64).sqrt()
}

/// Pearson correlation; `None` for constant input.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let (mx, my) = (mean(&x[..n]), mean(&y[..n]));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (a, b) = (x[i] - mx, y[i] - my);
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_known_values_with_ties() {
        // sklearn: roc_auc_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.75
        assert!(
            (roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap() - 0.75).abs()
                < 1e-12
        );
        // all tied -> 0.5
        assert_eq!(roc_auc(&[1.0; 4], &[true, false, true, false]), Some(0.5));
        // sklearn: roc_auc_score([0,1,0,1,1],[0.5,0.5,0.2,0.9,0.5]) = 0.8333...
        let a = roc_auc(
            &[0.5, 0.5, 0.2, 0.9, 0.5],
            &[false, true, false, true, true],
        )
        .unwrap();
        assert!((a - 5.0 / 6.0).abs() < 1e-12, "{a}");
        assert_eq!(roc_auc(&[1.0, 2.0], &[true, true]), None);
    }

    #[test]
    fn ap_and_curve_known_values() {
        // sklearn: average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.8333...
        let ap = average_precision(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
        assert!((ap - 5.0 / 6.0).abs() < 1e-12, "{ap}");
        let c = roc_curve(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
        assert_eq!(
            c,
            vec![(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
        );
    }

    #[test]
    fn bootstrap_ci_brackets_the_mean_and_is_seeded() {
        let x: Vec<f64> = (0..200).map(|i| (i % 10) as f64).collect();
        let f = |idx: &[usize]| Some(idx.iter().map(|&i| x[i]).sum::<f64>() / idx.len() as f64);
        let a = bootstrap_ci(x.len(), 500, 0.95, 3, f).unwrap();
        let b = bootstrap_ci(x.len(), 500, 0.95, 3, f).unwrap();
        assert_eq!(a, b);
        assert!(a.0 < 4.5 && 4.5 < a.1 && a.1 - a.0 < 1.0, "{a:?}");
        assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 7.0]).unwrap() - 0.99339926).abs() < 1e-6);
    }
}
