//! Targeted shadow-model attack (Stadler / TAPAS game with a LiRA statistic) on a few of the
//! most vulnerable member hosts.
//!
//! * **Targets**: the `targets` member hosts with the largest *outlier score* = mean over (at
//!   most `target_flows`, seeded) of their flows of the distance to the nearest flow of the
//!   attacker's reference sample R (at most `reference_rows` flows). Hosts whose traffic is
//!   far from the population are the ones a generator can most visibly memorise (Achilles-style
//!   selection); ties keep the member order.
//! * **Datasets**: IN = the released synthetic data plus `shadows` retrainings on the full
//!   member set, shared by all targets (each target is in the full member set); OUT = `shadows`
//!   retrainings per target on the members without it (one host fewer; no replacement host).
//!   `shadows x (1 + targets)` retrainings in all. Retraining seeds are derived from `seed`.
//! * **Statistic** of a synthetic dataset S for target t: `-mean d_1(x, S)` over t's flows
//!   (the `host_mean_dcr` score).
//! * **Score** (LiRA, fixed variance because the number of shadows is small): each dataset is
//!   scored leave-one-out against the others of the same target:
//!   `((x - mu_out)^2 - (x - mu_in)^2) / (2 sigma^2)` with `mu` = median of the other IN / OUT
//!   statistics and `sigma` = pooled within-group standard deviation of those others (floored
//!   at 1e-9 so that identical statistics still give a finite, correctly signed score).
//! * Metrics: the standard attack rows with subject `shadow`, pooled over targets (`n` = scored
//!   datasets; `n_neg = targets * shadows`, so TPR at low FPR is coarse), plus per target
//!   (`shadow/target<rank>`) `auc` and `outlier_score`.

use super::features::Rows;
use super::nn::NnIndex;
use super::roc::summarize;
use super::{PrivacyInput, sample_indices, sub_seed, summary_rows};
use crate::data::hosts::HostTraffic;
use crate::error::{Error, Result};
use crate::report::metrics::MetricRow;
use crate::stats::{mean, roc_auc};
use serde::{Deserialize, Serialize};

/// Settings of [`shadow_attack`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShadowConfig {
    /// Target hosts (most outlying members). Default 2.
    pub targets: usize,
    /// Retrainings per side: `shadows` IN retrainings shared by all targets and `shadows` OUT
    /// retrainings per target. Default 2, i.e. 6 retrainings for the default 2 targets.
    pub shadows: usize,
    /// Flows of the target used for the outlier score and the statistic. Default 500.
    pub target_flows: usize,
    /// Reference flows used for the outlier score. Default 20 000.
    pub reference_rows: usize,
    /// Bootstrap resamples for the pooled AUC CI. Default 200.
    pub bootstrap_reps: usize,
    /// Confidence of the epsilon bound. Default 0.95.
    pub confidence: f64,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        ShadowConfig {
            targets: 2,
            shadows: 2,
            target_flows: 500,
            reference_rows: 20_000,
            bootstrap_reps: 200,
            confidence: 0.95,
        }
    }
}

impl ShadowConfig {
    pub fn validate(&self) -> Result<()> {
        if self.targets == 0 || self.shadows == 0 || self.target_flows == 0 {
            return Err(Error::Spec {
                key: "privacy.shadow".into(),
                reason: "targets, shadows and target_flows must be > 0".into(),
            });
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(Error::Spec {
                key: "privacy.shadow.confidence".into(),
                reason: "must be in (0, 1)".into(),
            });
        }
        Ok(())
    }
}

/// The retraining callback: `retrain(training hosts, seed)` returns synthetic hosts.
pub type Retrain<'a> = dyn Fn(&[HostTraffic], u64) -> Result<Vec<HostTraffic>> + 'a;

/// Leave-one-out fixed-variance LiRA scores of `stats` (labels: IN = true).
pub fn lira_loo(stats: &[f64], is_in: &[bool]) -> Vec<f64> {
    (0..stats.len())
        .map(|i| {
            let others = |want: bool| -> Vec<f64> {
                (0..stats.len())
                    .filter(|&j| j != i && is_in[j] == want)
                    .map(|j| stats[j])
                    .collect()
            };
            let (a, b) = (others(true), others(false));
            if a.is_empty() || b.is_empty() {
                return 0.0;
            }
            let med = |v: &[f64]| {
                let mut s = v.to_vec();
                s.sort_by(f64::total_cmp);
                crate::stats::quantile_sorted(&s, 0.5)
            };
            let (mu_in, mu_out) = (med(&a), med(&b));
            let ss: f64 = [&a, &b]
                .iter()
                .map(|v| {
                    let m = mean(v);
                    v.iter().map(|x| (x - m).powi(2)).sum::<f64>()
                })
                .sum();
            let df = (a.len() + b.len()).saturating_sub(2).max(1) as f64;
            let sigma = (ss / df).sqrt().max(1e-9);
            let x = stats[i];
            ((x - mu_out).powi(2) - (x - mu_in).powi(2)) / (2.0 * sigma * sigma)
        })
        .collect()
}

/// Shadow-model attack on the `cfg.targets` most outlying member hosts; `retrain(training
/// hosts, seed)` must return the generator's synthetic hosts for that training set.
pub fn shadow_attack(
    generator: &str,
    input: &PrivacyInput,
    cfg: &ShadowConfig,
    retrain: &Retrain,
    seed: u64,
) -> Result<Vec<MetricRow>> {
    cfg.validate()?;
    let r_all = Rows::from_hosts(input.reference);
    if r_all.is_empty() {
        return Err(Error::Invalid(
            "shadow attack needs reference flows for target selection".into(),
        ));
    }
    let r = r_all.subset(&sample_indices(
        r_all.len(),
        cfg.reference_rows,
        sub_seed(seed, "shadow_ref"),
    ));
    let ir = NnIndex::new(&r.feats)?;
    // Target selection.
    let mut cands: Vec<(usize, f64, Rows)> = Vec::new();
    for (i, h) in input.members.iter().enumerate() {
        let rows = Rows::from_hosts(std::slice::from_ref(h));
        if rows.is_empty() {
            continue;
        }
        let sub = rows.subset(&sample_indices(
            rows.len(),
            cfg.target_flows,
            sub_seed(seed, &format!("shadow_t{}", h.ip)),
        ));
        let score = mean(&ir.nearest(&sub.feats));
        cands.push((i, score, sub));
    }
    cands.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    cands.truncate(cfg.targets);
    if cands.is_empty() {
        return Err(Error::Invalid(
            "shadow attack: no member host has flows".into(),
        ));
    }

    let index = |synth: &[HostTraffic]| -> Result<NnIndex> {
        let s = Rows::from_hosts(synth);
        if s.is_empty() {
            return Err(Error::Invalid(
                "shadow attack: retrained generator produced no flows".into(),
            ));
        }
        NnIndex::new(&s.feats)
    };
    let stat = |idx: &NnIndex, target: &Rows| -> f64 { -mean(&idx.nearest(&target.feats)) };

    // IN datasets: the released one and `shadows` retrainings on the full member set. Every
    // target is in the full member set, so the retrainings serve all targets (as in LiRA, where
    // each model is IN for every record it was trained on): shadows x (1 + targets) retrainings
    // instead of 2 x shadows x targets.
    let mut ins = vec![index(input.synthetic)?];
    for k in 0..cfg.shadows {
        ins.push(index(&retrain(
            input.members,
            sub_seed(seed, &format!("shadow_in_{k}")),
        )?)?);
    }

    let mut all_scores = Vec::new();
    let mut all_labels = Vec::new();
    let mut per_target = Vec::new();
    for (rank, (ti, outlier, target)) in cands.iter().enumerate() {
        let mut stats: Vec<f64> = ins.iter().map(|idx| stat(idx, target)).collect();
        let mut is_in = vec![true; ins.len()];
        let without: Vec<HostTraffic> = input
            .members
            .iter()
            .enumerate()
            .filter(|(j, _)| j != ti)
            .map(|(_, h)| h.clone())
            .collect();
        for k in 0..cfg.shadows {
            let s_out = retrain(&without, sub_seed(seed, &format!("shadow_out_{rank}_{k}")))?;
            stats.push(stat(&index(&s_out)?, target));
            is_in.push(false);
        }
        let sc = lira_loo(&stats, &is_in);
        let subject = format!("shadow/target{}", rank + 1);
        if let Some(a) = roc_auc(&sc, &is_in) {
            per_target.push(MetricRow::new(
                "privacy",
                generator,
                "auc",
                &subject,
                a,
                sc.len(),
            ));
        }
        per_target.push(MetricRow::new(
            "privacy",
            generator,
            "outlier_score",
            &subject,
            *outlier,
            target.len(),
        ));
        all_scores.extend(sc);
        all_labels.extend(is_in);
    }
    let mut rows = Vec::new();
    // Each (target, dataset) score is one trial of the game "was this target in that dataset's
    // training set": retrainings are independent given the target, so they resample as items,
    // with IN and OUT as strata.
    let side: Vec<usize> = all_labels.iter().map(|&l| l as usize).collect();
    if let Some(s) = summarize(
        &all_scores,
        &all_labels,
        &crate::stats::Clusters::singletons(&side),
        cfg.bootstrap_reps,
        cfg.confidence,
        sub_seed(seed, "shadow_boot"),
    ) {
        rows.extend(summary_rows(generator, "shadow", &s));
    }
    rows.extend(per_target);
    Ok(rows)
}
