//! Small numeric routines shared by the evaluations: ROC AUC (tie-aware), ROC curve, average
//! precision, percentile bootstrap CIs (the host-cluster bootstrap among them). Each is tested
//! against hand-computed values or, for the bootstrap, against coverage on simulated data.
//!
//! # The host is the unit of resampling
//! Flows of one host are not independent trials: a host's flows share its services, peers and
//! daily rhythm, so a statistic pooled over the flows of a few dozen hosts varies from one host
//! sample to the next far more than a bootstrap over flows says. Every interval in this project
//! of a statistic pooled over flows of several hosts is therefore a **host-cluster bootstrap**
//! ([`Clusters`], [`cluster_bootstrap_ci`]): within each stratum (a side of the comparison:
//! real / synthetic, member / non-member, clean / attacked) the hosts are drawn with replacement,
//! as many as the stratum has, every flow of a drawn host enters the resample (a host drawn
//! twice enters twice), and the statistic is recomputed. Strata keep both sides in every
//! resample, as in a two-sample design. The plain [`bootstrap_ci`] remains for statistics whose
//! items are independent (one value per host, per seed).

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

/// Mid-ranks (1-based; tied values share the mean of their ranks), as R's `rank()`.
pub fn mid_ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mid;
        }
        i = j + 1;
    }
    r
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

/// Items grouped in clusters (hosts) within strata (sides), for [`cluster_bootstrap_ci`]. A
/// cluster id seen in two strata counts as two clusters (one per stratum).
///
/// ```
/// use stan::stats::{Clusters, cluster_bootstrap_ci};
/// // 6 flows of 3 hosts; hosts 0 and 1 on side 0, host 2 on side 1.
/// let side = [0, 0, 0, 0, 1, 1];
/// let host = [0, 0, 1, 1, 2, 2];
/// let c = Clusters::new(&side, &host);
/// assert_eq!((c.n_items(), c.n_clusters()), (6, 3));
/// let x = [1.0, 1.0, 3.0, 3.0, 5.0, 5.0];
/// let mean = |idx: &[usize]| Some(idx.iter().map(|&i| x[i]).sum::<f64>() / idx.len() as f64);
/// let (lo, hi) = cluster_bootstrap_ci(&c, 200, 0.95, 1, mean).unwrap();
/// assert!(lo < hi);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Clusters {
    /// stratum -> cluster -> item indices (ascending).
    strata: Vec<Vec<Vec<usize>>>,
    /// Id of each stratum (ascending).
    ids: Vec<usize>,
    n_items: usize,
}

impl Clusters {
    /// `stratum[i]` and `cluster[i]` of every item `i` (equal lengths). Strata and clusters are
    /// ordered by id, items within a cluster by index, so equal input gives equal resamples.
    pub fn new(stratum: &[usize], cluster: &[usize]) -> Self {
        assert_eq!(stratum.len(), cluster.len());
        let mut map: std::collections::BTreeMap<
            usize,
            std::collections::BTreeMap<usize, Vec<usize>>,
        > = Default::default();
        for (i, (&s, &c)) in stratum.iter().zip(cluster).enumerate() {
            map.entry(s).or_default().entry(c).or_default().push(i);
        }
        Clusters {
            ids: map.keys().copied().collect(),
            strata: map
                .into_values()
                .map(|cl| cl.into_values().collect())
                .collect(),
            n_items: stratum.len(),
        }
    }

    /// Every item its own cluster: the ordinary bootstrap, stratified by `stratum`. For items
    /// that are independent already (e.g. one score per host).
    pub fn singletons(stratum: &[usize]) -> Self {
        let ids: Vec<usize> = (0..stratum.len()).collect();
        Clusters::new(stratum, &ids)
    }

    pub fn n_items(&self) -> usize {
        self.n_items
    }

    pub fn n_clusters(&self) -> usize {
        self.strata.iter().map(Vec::len).sum()
    }

    /// Every cluster as `(stratum id, its item indices)`, strata in id order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &[usize])> {
        self.ids
            .iter()
            .zip(&self.strata)
            .flat_map(|(&id, cl)| cl.iter().map(move |c| (id, c.as_slice())))
    }

    /// Clusters per stratum, in stratum order.
    pub fn clusters_per_stratum(&self) -> Vec<usize> {
        self.strata.iter().map(Vec::len).collect()
    }
}

/// The resamples of the host-cluster bootstrap (module docs): `reps` times, in every stratum as
/// many clusters as it holds drawn with replacement from one `StdRng` seeded with `seed`; `f`
/// receives the concatenated item indices of the drawn clusters (its length varies with the
/// drawn clusters' sizes).
pub fn cluster_bootstrap_resamples(
    c: &Clusters,
    reps: usize,
    seed: u64,
    mut f: impl FnMut(&[usize]),
) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut idx = Vec::with_capacity(c.n_items * 2);
    for _ in 0..reps {
        idx.clear();
        for clusters in &c.strata {
            for _ in 0..clusters.len() {
                idx.extend_from_slice(&clusters[rng.random_range(0..clusters.len())]);
            }
        }
        f(&idx);
    }
}

/// Percentile host-cluster bootstrap CI (`level`, e.g. 0.95) of `stat`, seeded; `stat` may
/// return `None` for a resample where it is undefined (skipped). `None` without items or reps.
pub fn cluster_bootstrap_ci(
    c: &Clusters,
    reps: usize,
    level: f64,
    seed: u64,
    mut stat: impl FnMut(&[usize]) -> Option<f64>,
) -> Option<(f64, f64)> {
    if c.n_items == 0 || reps == 0 {
        return None;
    }
    let mut vals = Vec::with_capacity(reps);
    cluster_bootstrap_resamples(c, reps, seed, |idx| {
        if let Some(s) = stat(idx)
            && s.is_finite()
        {
            vals.push(s);
        }
    });
    percentile_ci(&mut vals, level)
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

    #[test]
    fn mid_ranks_known_values() {
        // R: rank(c(3, 1, 4, 1, 5)) = 3.0 1.5 4.0 1.5 5.0
        assert_eq!(
            mid_ranks(&[3.0, 1.0, 4.0, 1.0, 5.0]),
            vec![3.0, 1.5, 4.0, 1.5, 5.0]
        );
        assert!(mid_ranks(&[]).is_empty());
    }

    #[test]
    fn clusters_group_by_stratum_and_cluster() {
        let c = Clusters::new(&[1, 0, 0, 1, 0], &[7, 3, 3, 7, 4]);
        assert_eq!(c.strata, vec![vec![vec![1, 2], vec![4]], vec![vec![0, 3]]]);
        assert_eq!(c.clusters_per_stratum(), vec![2, 1]);
        let all: Vec<(usize, Vec<usize>)> = c.iter().map(|(s, v)| (s, v.to_vec())).collect();
        assert_eq!(all, vec![(0, vec![1, 2]), (0, vec![4]), (1, vec![0, 3])]);
        // A cluster id in two strata is two clusters.
        assert_eq!(Clusters::new(&[0, 1], &[5, 5]).n_clusters(), 2);
        assert_eq!(Clusters::singletons(&[0, 0, 1]).n_clusters(), 3);
        // Each resample keeps every stratum and whole clusters.
        let mut seen = 0;
        cluster_bootstrap_resamples(&c, 50, 2, |idx| {
            assert!(idx.contains(&0) && idx.contains(&3));
            assert_eq!(
                idx.iter().filter(|&&i| i == 1).count(),
                idx.iter().filter(|&&i| i == 2).count()
            );
            assert_eq!(
                idx.len() - 2,
                idx.iter().filter(|&&i| i == 1 || i == 2 || i == 4).count()
            );
            seen += 1;
        });
        assert_eq!(seen, 50);
    }

    /// Two-sided data with a host effect: flow `j` of host `i` is `mu_side + u_i + e_ij`,
    /// `u_i ~ N(0, 1)`, `e_ij ~ N(0, 1)`, 25 hosts per side with 2-80 flows each. The statistic
    /// is the difference of the pooled side means (truth: `mu_1 - mu_0 = 0.5`). Over 300 data
    /// sets the host-cluster 95 % CI covers the truth at close to its nominal rate, the flow
    /// bootstrap far below it.
    #[test]
    fn cluster_ci_covers_clustered_truth_where_flow_bootstrap_does_not() {
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let (mut cover_cluster, mut cover_flow) = (0, 0);
        let sets = 300;
        for rep in 0..sets {
            let (mut x, mut side, mut host) = (Vec::new(), Vec::new(), Vec::new());
            for s in 0..2usize {
                for h in 0..25usize {
                    let u: f64 = StandardNormal.sample(&mut rng);
                    let n = rng.random_range(2..=80);
                    for _ in 0..n {
                        let e: f64 = StandardNormal.sample(&mut rng);
                        x.push(0.5 * s as f64 + u + e);
                        side.push(s);
                        host.push(h);
                    }
                }
            }
            let diff = |idx: &[usize]| {
                let (mut sum, mut cnt) = ([0.0; 2], [0usize; 2]);
                for &i in idx {
                    sum[side[i]] += x[i];
                    cnt[side[i]] += 1;
                }
                (cnt[0] > 0 && cnt[1] > 0).then(|| sum[1] / cnt[1] as f64 - sum[0] / cnt[0] as f64)
            };
            let seed = 1000 + rep as u64;
            let (lo, hi) =
                cluster_bootstrap_ci(&Clusters::new(&side, &host), 400, 0.95, seed, diff).unwrap();
            cover_cluster += (lo <= 0.5 && 0.5 <= hi) as usize;
            let (lo, hi) =
                cluster_bootstrap_ci(&Clusters::singletons(&side), 400, 0.95, seed, diff).unwrap();
            cover_flow += (lo <= 0.5 && 0.5 <= hi) as usize;
        }
        let (c, f) = (
            cover_cluster as f64 / sets as f64,
            cover_flow as f64 / sets as f64,
        );
        eprintln!("95 % CI coverage over {sets} data sets: host-cluster {c:.3}, flow {f:.3}");
        assert!(c >= 0.90, "host-cluster coverage {c}");
        assert!(
            f < 0.6,
            "flow bootstrap coverage {f} (expected far below nominal)"
        );
    }
}
