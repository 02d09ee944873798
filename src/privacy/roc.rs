//! Membership-inference summary statistics of one attack: AUC, TPR at fixed FPR, advantage,
//! privacy gain and a Clopper–Pearson lower bound on epsilon.
//!
//! Conventions (pinned here, used everywhere in the module):
//! * scores are "higher = member"; a threshold `t` predicts member for `score >= t`;
//! * the ROC curve is [`crate::stats::roc_curve`] (one point per distinct score, ties move
//!   diagonally);
//! * **TPR@FPR α** = the largest TPR over ROC points with `FPR <= α`, no interpolation. With
//!   `n_neg` negatives the smallest non-zero FPR is `1/n_neg`, so for `α < 1/n_neg` the figure
//!   is the TPR at FPR = 0 (e.g. TPR@0.1% needs `n_neg >= 1000` to mean anything);
//! * **advantage** = `max_t (TPR - FPR)` over the ROC points (>= 0, since (0,0) is a point);
//!   **privacy gain** = `1 - advantage`;
//! * **intervals** (AUC, TPR, advantage): host-cluster bootstrap
//!   ([`crate::stats::cluster_bootstrap_ci`]) with the member and non-member sides as strata
//!   and the candidates' hosts as clusters, so a flow-level attack's interval reflects that
//!   its candidates come from a few dozen hosts;
//! * **epsilon lower bound**, on a game whose trials are **hosts** (below). The trials are
//!   split (seeded, stratified) into a selection half and a test half. On the selection half
//!   the threshold maximising the bound below is chosen; on the test half
//!   `eps = max(ln(TPR_lo / FPR_hi), ln(TNR_lo / FNR_hi))` where `_lo` / `_hi` are one-sided
//!   Clopper–Pearson bounds at level `1 - (1 - γ)/2` (Jagielski et al. 2020, TAPAS
//!   `EffectiveEpsilonReport`). Choosing the threshold on held-out trials keeps the bound
//!   honest (no max over thousands of thresholds on the same counts). Reported as
//!   `max(0, eps)`.
//!
//! # Why the epsilon trials are hosts
//! A Clopper–Pearson bound counts independent Bernoulli trials whose member / non-member
//! label is exchangeable under the null. Flows are neither: the flows of one host share its
//! services and rhythm, and member and non-member hosts are two finite groups that differ as
//! populations even when nothing leaks. Counting flows as trials turns that group difference
//! into a "leak" measured with thousands of pseudo-trials (a generator that never saw a member
//! got epsilon 0.47 that way). The run's host split, however, is a seeded random assignment
//! (within activity strata) of hosts to roles, so under the null, a generator whose output
//! does not depend on which hosts are members, the member labels are exchangeable across the
//! member and non-member hosts and independent of any score computed from the synthetic data.
//! So each host is one trial with one score: a host-level attack's own score, and for a
//! flow-level attack the mean of its candidate flows' mid-ranks among all candidates (one
//! decision per host; ranks make the mean insensitive to a score's scale). Under the null the
//! true-positive count at a fixed threshold is then hypergeometric, whose tails are no heavier
//! than the binomial's that Clopper–Pearson assumes, so the bound is valid (conservative).
//! What it bounds is host-level (user-level) membership: the privacy unit of a generator that
//! learns hosts' traffic. The price is few trials: the quickstart has 47 member and 23
//! non-member hosts, so even a perfect attack can show at most 1.64 there (24 and 12 hosts in
//! the test half); a bound above 0 is evidence, its absence is no proof of privacy.

use crate::stats::{
    Clusters, cluster_bootstrap_ci, mid_ranks, quantile_sorted, roc_auc, roc_curve,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use statrs::distribution::{Beta, ContinuousCDF};

/// FPR levels of the `tpr_at_fpr_*` metrics.
pub const FPR_LEVELS: [(f64, &str); 3] = [
    (0.001, "tpr_at_fpr_0.001"),
    (0.01, "tpr_at_fpr_0.01"),
    (0.1, "tpr_at_fpr_0.1"),
];

/// Largest TPR over ROC points with `FPR <= alpha` (see module docs).
pub fn tpr_at_fpr(curve: &[(f64, f64)], alpha: f64) -> f64 {
    curve
        .iter()
        .filter(|(f, _)| *f <= alpha + 1e-12)
        .map(|&(_, t)| t)
        .fold(0.0, f64::max)
}

/// `max (TPR - FPR)` over the ROC points.
pub fn max_advantage(curve: &[(f64, f64)]) -> f64 {
    curve.iter().map(|&(f, t)| t - f).fold(0.0, f64::max)
}

/// Two-sided Clopper–Pearson interval for `k` successes in `n` trials at confidence `conf`
/// (each tail `(1 - conf)/2`): `lo = Beta(k, n-k+1).icdf(a)`, `hi = Beta(k+1, n-k).icdf(1-a)`,
/// with `lo = 0` for `k = 0` and `hi = 1` for `k = n`. `(0, 1)` for `n = 0`.
pub fn clopper_pearson(k: usize, n: usize, conf: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let a = (1.0 - conf) / 2.0;
    let (kf, nf) = (k as f64, n as f64);
    let lo = if k == 0 {
        0.0
    } else {
        Beta::new(kf, nf - kf + 1.0)
            .map(|b| b.inverse_cdf(a))
            .unwrap_or(0.0)
    };
    let hi = if k >= n {
        1.0
    } else {
        Beta::new(kf + 1.0, nf - kf)
            .map(|b| b.inverse_cdf(1.0 - a))
            .unwrap_or(1.0)
    };
    (lo, hi)
}

/// Confusion counts (tp, fp) for "member iff score >= t".
fn counts(scores: &[f64], labels: &[bool], t: f64) -> (usize, usize) {
    let mut tp = 0;
    let mut fp = 0;
    for (s, &l) in scores.iter().zip(labels) {
        if *s >= t {
            if l {
                tp += 1;
            } else {
                fp += 1;
            }
        }
    }
    (tp, fp)
}

/// The Clopper–Pearson epsilon of one threshold (may be negative or `-inf`).
fn eps_at(tp: usize, fp: usize, n_pos: usize, n_neg: usize, conf: f64) -> f64 {
    let (tpr_lo, _) = clopper_pearson(tp, n_pos, conf);
    let (_, fpr_hi) = clopper_pearson(fp, n_neg, conf);
    let (tnr_lo, _) = clopper_pearson(n_neg - fp, n_neg, conf);
    let (_, fnr_hi) = clopper_pearson(n_pos - tp, n_pos, conf);
    let a = if tpr_lo > 0.0 {
        (tpr_lo / fpr_hi).ln()
    } else {
        f64::NEG_INFINITY
    };
    let b = if tnr_lo > 0.0 {
        (tnr_lo / fnr_hi).ln()
    } else {
        f64::NEG_INFINITY
    };
    a.max(b)
}

/// Epsilon lower bound at confidence `conf` with threshold selection on a seeded half (module
/// docs). At most 256 candidate thresholds (score quantiles of the selection half) are tried.
pub fn epsilon_lower_bound(scores: &[f64], labels: &[bool], conf: f64, seed: u64) -> f64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut pos: Vec<usize> = (0..labels.len()).filter(|&i| labels[i]).collect();
    let mut neg: Vec<usize> = (0..labels.len()).filter(|&i| !labels[i]).collect();
    pos.shuffle(&mut rng);
    neg.shuffle(&mut rng);
    let (ps, pt) = pos.split_at(pos.len() / 2);
    let (ns, nt) = neg.split_at(neg.len() / 2);
    if ps.is_empty() || pt.is_empty() || ns.is_empty() || nt.is_empty() {
        return 0.0;
    }
    let gather = |a: &[usize], b: &[usize]| -> (Vec<f64>, Vec<bool>) {
        let s = a.iter().chain(b).map(|&i| scores[i]).collect();
        let l = a
            .iter()
            .map(|_| true)
            .chain(b.iter().map(|_| false))
            .collect();
        (s, l)
    };
    let (sel_s, sel_l) = gather(ps, ns);
    let (test_s, test_l) = gather(pt, nt);
    let mut sorted = sel_s.clone();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    let mut thresholds: Vec<f64> = if sorted.len() <= 256 {
        sorted
    } else {
        (0..256)
            .map(|i| quantile_sorted(&sorted, i as f64 / 255.0))
            .collect()
    };
    thresholds.dedup();
    let mut best = (f64::NEG_INFINITY, f64::NAN);
    for &t in &thresholds {
        let (tp, fp) = counts(&sel_s, &sel_l, t);
        let e = eps_at(tp, fp, ps.len(), ns.len(), conf);
        if e > best.0 {
            best = (e, t);
        }
    }
    if !best.1.is_finite() {
        return 0.0;
    }
    let (tp, fp) = counts(&test_s, &test_l, best.1);
    eps_at(tp, fp, pt.len(), nt.len(), conf).max(0.0)
}

/// Host-permutation null of the AUC: the member / non-member role is permuted across **hosts**
/// (keeping the number of member hosts), each candidate takes its host's permuted role, and the
/// AUC of the unchanged scores is recomputed `reps` times. Returns the median and the central
/// `level` band (e.g. 0.95: the 2.5% and 97.5% quantiles).
///
/// Why: candidates are clustered in hosts, and two disjoint real host groups differ even when
/// nothing leaks, so the flow-level bootstrap CI is too narrow as a null; this band is the
/// real-vs-real floor a leak-free generator should stay inside. `None` if fewer than two hosts
/// or no permutation has both classes.
pub fn host_permutation_null(
    scores: &[f64],
    cand_host: &[usize],
    host_is_member: &[bool],
    reps: usize,
    level: f64,
    seed: u64,
) -> Option<(f64, f64, f64)> {
    if host_is_member.len() < 2 || reps == 0 {
        return None;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut roles = host_is_member.to_vec();
    let mut labels = vec![false; scores.len()];
    let mut vals = Vec::with_capacity(reps);
    for _ in 0..reps {
        roles.shuffle(&mut rng);
        for (l, &h) in labels.iter_mut().zip(cand_host) {
            *l = roles[h];
        }
        if let Some(a) = roc_auc(scores, &labels) {
            vals.push(a);
        }
    }
    if vals.is_empty() {
        return None;
    }
    vals.sort_by(f64::total_cmp);
    let a = (1.0 - level) / 2.0;
    Some((
        quantile_sorted(&vals, 0.5),
        quantile_sorted(&vals, a),
        quantile_sorted(&vals, 1.0 - a),
    ))
}

/// `(alpha, TPR at FPR <= alpha, bootstrap CI)`.
pub type TprAt = (f64, f64, Option<(f64, f64)>);

/// Point estimates and bootstrap CIs of one attack.
#[derive(Clone, Debug, PartialEq)]
pub struct AttackSummary {
    pub auc: f64,
    pub auc_ci: Option<(f64, f64)>,
    /// `(alpha, tpr, ci)` for [`FPR_LEVELS`].
    pub tpr: Vec<TprAt>,
    pub advantage: f64,
    pub advantage_ci: Option<(f64, f64)>,
    pub epsilon_lb: f64,
    /// Member and non-member trials (hosts) of the epsilon bound.
    pub eps_trials: (usize, usize),
    /// Units the intervals resample (hosts for flow candidates).
    pub n_units: usize,
    pub n_pos: usize,
    pub n_neg: usize,
    pub curve: Vec<(f64, f64)>,
}

/// One trial per cluster (host) for the epsilon bound (module docs): the mean mid-rank of its
/// items' scores among all items, labelled with its items' label (the stratum of `clusters`
/// is the label, so every cluster holds one label).
pub fn host_trials(scores: &[f64], labels: &[bool], clusters: &Clusters) -> (Vec<f64>, Vec<bool>) {
    let ranks = mid_ranks(scores);
    clusters
        .iter()
        .filter(|(_, items)| !items.is_empty())
        .map(|(_, items)| {
            let m = items.iter().map(|&i| ranks[i]).sum::<f64>() / items.len() as f64;
            (m, labels[items[0]])
        })
        .unzip()
}

/// Summarise one attack. Intervals: `reps` resamples of the cluster bootstrap over
/// `resample` (percentile 95 %), the same resamples for every statistic. Epsilon: one trial per
/// cluster of `trials`, whose strata must be the labels (0 = non-member, 1 = member; see
/// [`host_trials`]). For flow candidates both are `Clusters::new(&label, &host)`; for one score
/// per host both are `Clusters::singletons(&label)`.
pub fn summarize(
    scores: &[f64],
    labels: &[bool],
    resample: &Clusters,
    trials: &Clusters,
    reps: usize,
    conf: f64,
    seed: u64,
) -> Option<AttackSummary> {
    assert_eq!(resample.n_items(), scores.len());
    assert_eq!(trials.n_items(), scores.len());
    let clusters = resample;
    let auc = roc_auc(scores, labels)?;
    let curve = roc_curve(scores, labels);
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    let mut side: Vec<[f64; 4]> = Vec::with_capacity(reps);
    let mut s = Vec::with_capacity(2 * scores.len());
    let mut l = Vec::with_capacity(2 * scores.len());
    let auc_ci = cluster_bootstrap_ci(clusters, reps, 0.95, seed, |idx| {
        s.clear();
        l.clear();
        s.extend(idx.iter().map(|&i| scores[i]));
        l.extend(idx.iter().map(|&i| labels[i]));
        let a = roc_auc(&s, &l)?;
        let c = roc_curve(&s, &l);
        side.push([
            tpr_at_fpr(&c, FPR_LEVELS[0].0),
            tpr_at_fpr(&c, FPR_LEVELS[1].0),
            tpr_at_fpr(&c, FPR_LEVELS[2].0),
            max_advantage(&c),
        ]);
        Some(a)
    });
    let ci = |j: usize| -> Option<(f64, f64)> {
        if side.is_empty() {
            return None;
        }
        let mut v: Vec<f64> = side.iter().map(|r| r[j]).collect();
        v.sort_by(f64::total_cmp);
        Some((quantile_sorted(&v, 0.025), quantile_sorted(&v, 0.975)))
    };
    let tpr = FPR_LEVELS
        .iter()
        .enumerate()
        .map(|(j, &(a, _))| (a, tpr_at_fpr(&curve, a), ci(j)))
        .collect();
    let (ts, tl) = host_trials(scores, labels, trials);
    let tp = tl.iter().filter(|&&l| l).count();
    Some(AttackSummary {
        auc,
        auc_ci,
        tpr,
        advantage: max_advantage(&curve),
        advantage_ci: ci(3),
        epsilon_lb: epsilon_lower_bound(&ts, &tl, conf, seed ^ 0x5eed_e951),
        eps_trials: (tp, tl.len() - tp),
        n_units: resample.n_clusters(),
        n_pos,
        n_neg,
        curve,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn tpr_at_fpr_on_a_hand_built_roc() {
        // 4 positives, 5 negatives. Sorted high->low: P(0.9) N(0.8) P(0.7) P(0.6) N(0.5) N(0.4) P(0.3) N(0.2) N(0.1)
        let s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1];
        let l = [true, false, true, true, false, false, true, false, false];
        let c = roc_curve(&s, &l);
        assert_eq!(c[1], (0.0, 0.25));
        assert_eq!(tpr_at_fpr(&c, 0.001), 0.25); // only FPR = 0 allowed
        assert_eq!(tpr_at_fpr(&c, 0.1), 0.25);
        assert_eq!(tpr_at_fpr(&c, 0.2), 0.75); // FPR exactly 1/5 is allowed (<=)
        assert_eq!(tpr_at_fpr(&c, 0.6), 1.0);
        // advantage: max(TPR - FPR) = 0.75 - 0.2 = 0.55
        assert!((max_advantage(&c) - 0.55).abs() < 1e-12);
        // Ties: a positive and a negative tied at the top move the curve diagonally.
        let c2 = roc_curve(&[1.0, 1.0, 0.0], &[true, false, false]);
        assert_eq!(tpr_at_fpr(&c2, 0.1), 0.0);
    }

    #[test]
    fn clopper_pearson_known_values() {
        // R: binom.test(5, 10)$conf.int = 0.1870860 0.8129140
        let (lo, hi) = clopper_pearson(5, 10, 0.95);
        assert!(
            (lo - 0.1870860).abs() < 1e-6 && (hi - 0.8129140).abs() < 1e-6,
            "{lo} {hi}"
        );
        // R: binom.test(0, 10)$conf.int = 0.0000000 0.3084971
        let (lo, hi) = clopper_pearson(0, 10, 0.95);
        assert!(lo == 0.0 && (hi - 0.3084971).abs() < 1e-6);
        // R: binom.test(1, 100)$conf.int = 0.0002531460 0.0544593853
        let (lo, hi) = clopper_pearson(1, 100, 0.95);
        assert!(
            (lo - 0.000253146).abs() < 1e-8 && (hi - 0.0544593853).abs() < 1e-7,
            "{lo} {hi}"
        );
        assert_eq!(clopper_pearson(10, 10, 0.95).1, 1.0);
    }

    /// TAPAS' calibration: scores = label + Laplace(1/eps) is an eps-DP-like mechanism, so the
    /// bound must not exceed eps; with a perfect separation and many trials it must be large.
    #[test]
    fn epsilon_bound_is_calibrated() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for eps in [0.1, 1.0, 10.0] {
            let n = 1000;
            let labels: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
            let scores: Vec<f64> = labels
                .iter()
                .map(|&l| {
                    let u: f64 = rng.random::<f64>() - 0.5;
                    let lap = -u.signum() * (1.0 - 2.0 * u.abs()).ln() / eps;
                    l as u8 as f64 + lap
                })
                .collect();
            let e = epsilon_lower_bound(&scores, &labels, 0.99, 1);
            assert!(e <= eps, "eps {eps}: bound {e}");
        }
        // Perfect separation with 500 per class (250 in the test half), tails 0.025:
        // TPR_lo = 0.025^(1/250) = 0.98535, FPR_hi = 1 - 0.025^(1/250) = 0.01465 -> eps = 4.2085.
        let labels: Vec<bool> = (0..1000).map(|i| i % 2 == 0).collect();
        let scores: Vec<f64> = labels.iter().map(|&l| l as u8 as f64).collect();
        let e = epsilon_lower_bound(&scores, &labels, 0.95, 1);
        let (_, fpr_hi) = clopper_pearson(0, 250, 0.95);
        let (tpr_lo, _) = clopper_pearson(250, 250, 0.95);
        assert!((e - (tpr_lo / fpr_hi).ln()).abs() < 1e-9, "{e}");
        assert!((e - 4.2085).abs() < 1e-3, "{e}");
    }

    #[test]
    fn host_permutation_null_brackets_half_and_is_seeded() {
        // 20 hosts x 10 flows; the score depends on the host only, so the null band is wide.
        let cand_host: Vec<usize> = (0..200).map(|i| i / 10).collect();
        let scores: Vec<f64> = cand_host.iter().map(|&h| (h * 7 % 20) as f64).collect();
        let roles: Vec<bool> = (0..20).map(|h| h < 10).collect();
        let (med, lo, hi) =
            host_permutation_null(&scores, &cand_host, &roles, 200, 0.95, 1).unwrap();
        assert!(
            lo < 0.5 && 0.5 < hi && (med - 0.5).abs() < 0.1,
            "{med} {lo} {hi}"
        );
        assert!(
            hi - lo > 0.3,
            "host clustering must widen the band: {lo} {hi}"
        );
        assert_eq!(
            host_permutation_null(&scores, &cand_host, &roles, 200, 0.95, 1),
            Some((med, lo, hi))
        );
        assert_eq!(
            host_permutation_null(&scores, &cand_host, &[true], 10, 0.95, 1),
            None
        );
    }

    #[test]
    fn summary_of_random_scores_is_null() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let labels: Vec<bool> = (0..2000).map(|i| i < 1000).collect();
        let scores: Vec<f64> = (0..2000).map(|_| rng.random::<f64>()).collect();
        let side: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
        let c = Clusters::singletons(&side);
        let s = summarize(&scores, &labels, &c, &c, 100, 0.95, 3).unwrap();
        let (lo, hi) = s.auc_ci.unwrap();
        assert!(lo < 0.5 && 0.5 < hi, "{lo} {hi}");
        assert!(s.advantage < 0.1 && s.epsilon_lb == 0.0, "{s:?}");
        assert_eq!((s.n_pos, s.n_neg), (1000, 1000));
        assert_eq!(s.eps_trials, (1000, 1000));
        assert_eq!(summarize(&scores, &labels, &c, &c, 100, 0.95, 3), Some(s));
    }

    /// Randomised response on membership: each trial is a member with probability 1/2 and the
    /// attacker sees the true label with probability `e^eps / (1 + e^eps)`, the flipped one
    /// otherwise, an exactly eps-DP view of membership. Over 200 repetitions of 400 trials the
    /// bound exceeds the true eps in at most 5 % (the confidence is 95 %); with 4,000 trials it
    /// is clearly above 0.
    #[test]
    fn epsilon_bound_on_randomised_response() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let mut draw = |n: usize, eps: f64| -> (Vec<f64>, Vec<bool>) {
            let keep = eps.exp() / (1.0 + eps.exp());
            (0..n)
                .map(|_| {
                    let l = rng.random::<f64>() < 0.5;
                    let seen = if rng.random::<f64>() < keep { l } else { !l };
                    (seen as u8 as f64, l)
                })
                .unzip()
        };
        for eps in [1.0, 2.0] {
            let reps = 200;
            let mut above = 0;
            let mut positive = 0;
            for r in 0..reps {
                let (s, l) = draw(400, eps);
                let b = epsilon_lower_bound(&s, &l, 0.95, r as u64);
                above += (b > eps) as usize;
                positive += (b > 0.0) as usize;
            }
            let (s, l) = draw(4000, eps);
            let big = epsilon_lower_bound(&s, &l, 0.95, 1);
            eprintln!(
                "randomised response eps {eps}: bound > eps in {above}/{reps}, > 0 in {positive}/{reps} (400 trials); {big:.3} with 4000 trials"
            );
            assert!(
                above as f64 <= 0.05 * reps as f64,
                "eps {eps}: {above}/{reps}"
            );
            assert!(big > 0.5 * eps, "eps {eps}: {big}");
        }
    }

    /// Flow scores vote by host: a host's trial score is the mean mid-rank of its flows; with
    /// singletons the trials are the items themselves (ranks keep their order).
    #[test]
    fn host_trials_average_ranks_per_host() {
        let scores = [0.1, 0.9, 0.5, 0.3, 0.7];
        let labels = [true, true, false, false, true];
        let side: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
        let host = [0, 0, 1, 1, 2];
        let (ts, tl) = host_trials(&scores, &labels, &Clusters::new(&side, &host));
        // ranks 1 5 3 2 4; clusters in (stratum, host) order: non-member host 1, member 0, 2.
        assert_eq!(ts, vec![2.5, 3.0, 4.0]);
        assert_eq!(tl, vec![false, true, true]);
        let (ts, _) = host_trials(&scores, &labels, &Clusters::singletons(&side));
        assert_eq!(ts, vec![3.0, 2.0, 1.0, 5.0, 4.0]);
    }
}
