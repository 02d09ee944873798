//! Targeted shadow-model attack (Stadler / TAPAS game) on the most
//! vulnerable member hosts, in LiRA's shared-shadow design.
//!
//! * **Targets**: the `targets` member hosts with the largest *outlier score* = mean over (at
//!   most `target_flows`, seeded) of their flows of the distance to the nearest flow of the
//!   attacker's reference sample R (at most `reference_rows` flows). Hosts whose traffic is
//!   far from the population are the ones a generator can most visibly memorise (Achilles-style
//!   selection); ties keep the member order.
//! * **Datasets**: `shadows` retrainings shared by all targets. Each target is left out of
//!   exactly `shadows / 2` of them (a seeded choice per target) and is in the others; the
//!   other members are always in. So every retraining serves every target, as LiRA's shadow
//!   models serve every record, and the cost is `shadows` retrainings whatever the number of
//!   targets: `targets x shadows` = 120 scored pairs at the defaults from 6 retrainings.
//! * **The released data is not a trial.** It is IN for every target, and its generator may
//!   have had a larger budget than the shadows (STAN's `shadow_stan_epochs`, 1 by default,
//!   against `stan.epochs`): scored among the shadows it looks IN for being a better model,
//!   not for holding the target (on the quickstart, seed 1, it lifted STAN's pooled AUC to
//!   0.81). So the game measures the generator's training procedure, as TAPAS's does, on
//!   datasets that differ only in the targets' membership.
//! * **Statistic** of a synthetic dataset S for target t: `-mean d_1(x, S)` over t's flows
//!   (the `host_mean_dcr` score).
//! * **Score**: the statistic standardised over all datasets of the same target,
//!   `(x - mean) / sd` (0 when they are all equal), so that targets with different distance
//!   scales pool; higher = closer = member. The standardisation does not look at the labels,
//!   so under the null (output independent of the target's membership) every dataset's score
//!   is exchangeable and the pooled AUC is centred on 0.5. LiRA's leave-one-out likelihood
//!   ratio (`mu_in`, `mu_out` from the other datasets' labels) is not: a left-out dataset's own
//!   group has one dataset fewer, its noisier centre makes the dataset look like the other
//!   group, and with 4 IN and 3 OUT datasets (the release as a fourth IN) a generator that
//!   ignores its training data scored AUC 0.33 [0.18, 0.47] on the test slice.
//! * **Trials and intervals**: a trial is one (target, dataset) pair, "was this target in that
//!   dataset's training set"; its label is fixed by the seeded plan, independent of the data.
//!   The pooled AUC's interval is a host-cluster bootstrap over targets (a target's scores
//!   share its traffic), the epsilon bound counts the trials (roc module docs).
//! * Metrics: the standard attack rows with subject `shadow`, pooled over targets (`n` =
//!   targets; the `epsilon_lb` and `n_neg` rows' `n` = scored pairs), plus per target (`shadow/target<rank>`) `auc` and `outlier_score`.

use super::features::Rows;
use super::nn::NnIndex;
use super::roc::summarize;
use super::{PrivacyInput, sample_indices, sub_seed, summary_rows};
use crate::data::hosts::HostTraffic;
use crate::error::{Error, Result};
use crate::report::metrics::MetricRow;
use crate::stats::{Clusters, mean, roc_auc};
use serde::{Deserialize, Serialize};

/// Settings of [`shadow_attack`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShadowConfig {
    /// Target hosts (most outlying members; at most the member count). Default 20.
    pub targets: usize,
    /// Shadow retrainings, shared by all targets; each target is out of `shadows / 2` of them.
    /// At least 2. Default 6.
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
            targets: 20,
            shadows: 6,
            target_flows: 500,
            reference_rows: 20_000,
            bootstrap_reps: 200,
            confidence: 0.95,
        }
    }
}

impl ShadowConfig {
    pub fn validate(&self) -> Result<()> {
        if self.targets == 0 || self.target_flows == 0 {
            return Err(Error::Spec {
                key: "privacy.shadow".into(),
                reason: "targets and target_flows must be > 0".into(),
            });
        }
        if self.shadows < 2 {
            return Err(Error::Spec {
                key: "privacy.shadow.shadows".into(),
                reason: format!(
                    "must be >= 2 (each target is left out of shadows / 2 retrainings), got {}",
                    self.shadows
                ),
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

/// The retraining callback: `retrain(training hosts, seed)` returns synthetic hosts. The runner
/// builds it from the generator's [`crate::generator::Generator`] with
/// [`crate::generator::retrain`], so a shadow is fitted and rolled out as the released data is.
pub type Retrain<'a> = dyn Fn(&[HostTraffic], u64) -> Result<Vec<HostTraffic>> + 'a;

/// Scores of one target's dataset statistics: `(x - mean) / sd` over all of them (sample sd;
/// all 0 when the statistics are equal). Label-free, hence exchangeable under the null.
pub fn standardise(stats: &[f64]) -> Vec<f64> {
    let m = mean(stats);
    let sd = crate::stats::std_dev(stats);
    stats
        .iter()
        .map(|x| if sd > 0.0 { (x - m) / sd } else { 0.0 })
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

    // The plan: out[j][r] = target of rank r is left out of shadow j.
    let k = cfg.shadows;
    let mut out = vec![vec![false; cands.len()]; k];
    for r in 0..cands.len() {
        for j in sample_indices(k, k / 2, sub_seed(seed, &format!("shadow_plan_{r}"))) {
            if let Some(o) = out.get_mut(j) {
                o[r] = true;
            }
        }
    }

    let mut datasets = Vec::with_capacity(k);
    for (j, left_out) in out.iter().enumerate() {
        let train: Vec<HostTraffic> = input
            .members
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                !cands
                    .iter()
                    .zip(left_out)
                    .any(|((ti, _, _), &o)| o && ti == i)
            })
            .map(|(_, h)| h.clone())
            .collect();
        datasets.push(index(&retrain(
            &train,
            sub_seed(seed, &format!("shadow_{j}")),
        )?)?);
    }

    let mut all_scores = Vec::new();
    let mut all_labels = Vec::new();
    let mut all_targets = Vec::new();
    let mut per_target = Vec::new();
    for (rank, (_, outlier, target)) in cands.iter().enumerate() {
        let stats: Vec<f64> = datasets.iter().map(|idx| stat(idx, target)).collect();
        let is_in: Vec<bool> = out.iter().map(|o| !o[rank]).collect();
        let sc = standardise(&stats);
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
        all_targets.extend(std::iter::repeat_n(rank, sc.len()));
        all_scores.extend(sc);
        all_labels.extend(is_in);
    }
    let mut rows = Vec::new();
    // Intervals resample targets (one stratum: every target has IN and OUT scores); the
    // epsilon trials are the (target, dataset) pairs, IN and OUT as strata.
    let by_target = Clusters::new(&vec![0; all_targets.len()], &all_targets);
    let side: Vec<usize> = all_labels.iter().map(|&l| l as usize).collect();
    if let Some(s) = summarize(
        &all_scores,
        &all_labels,
        &by_target,
        &Clusters::singletons(&side),
        cfg.bootstrap_reps,
        cfg.confidence,
        sub_seed(seed, "shadow_boot"),
    ) {
        rows.extend(summary_rows(generator, "shadow", &s));
    }
    rows.extend(per_target);
    Ok(rows)
}
