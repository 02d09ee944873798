//! Privacy evaluation of synthetic NetFlow: no-box membership-inference attacks at flow and
//! host level, a shadow-model targeted attack, and nearest-record / identifier
//! replay diagnostics.
//!
//! # Threat model
//! The attacker holds the released synthetic traffic S and a reference sample R of real
//! **non-member** traffic (hosts disjoint from members and from the non-member candidates; size
//! [`PrivacyConfig::reference_size`] flows). The attacker does **not** hold the model. The
//! candidates are the member hosts' training flows and, in **equal number** (seeded subsample),
//! the non-member hosts' flows from the same time window; each attack scores every candidate
//! (higher = member) and is judged by the ROC of those scores. The shadow attack
//! ([`shadow_attack`]) additionally assumes black-box access to the training procedure.
//!
//! Own IPs are pseudonyms for synthetic hosts and are excluded from every feature, key and
//! identifier (see [`features`]); the fact that STAN publishes the training-host list is a
//! separate, trivial leak that these figures do not cover.
//!
//! # Emitted rows (section `privacy`)
//! Per attack (subject): `auc` (95% host-cluster bootstrap CI: candidates resampled by host,
//! members and non-members as strata), `tpr_at_fpr_0.001`, `tpr_at_fpr_0.01`, `tpr_at_fpr_0.1`
//! (CI), `advantage` (CI), `privacy_gain` (CI), `epsilon_lb` (on one trial per host, its `n`
//! the number of hosts; see [`roc`] for why), `n_neg` (its `n`: all candidates); the `n` of the
//! other rows counts the units their intervals resample (hosts; for `shadow`, targets).
//! Flow-level attacks have `n_neg` = half the candidates
//! candidates per side, so TPR at FPR below `1/n_neg` is the TPR at FPR = 0 (see [`roc`]).
//! Flow-level attacks also get `auc_host_null` (`n`: the permuted hosts): the median AUC under permutation of the
//! member / non-member role across hosts, with its 2.5–97.5% band as CI
//! ([`roc::host_permutation_null`]); an AUC inside that band is indistinguishable from the
//! difference between two real host groups.
//!
//! | subject | attack |
//! |---------|--------|
//! | `exact_match` | A1: `1[x in S]` on the full row key |
//! | `dcr` | A2: `-d_1(x, S)` |
//! | `dcr_ref` | A3: `-(d_1(x, S) - d_1(x, R))` |
//! | `mc` | A4: share of S within the median-DCR ball |
//! | `neighbourhood` | A5: share of S within [`PrivacyConfig::neighbourhood_radius`] |
//! | `density_ratio` | A6: kNN density ratio S vs R |
//! | `classifier` | A7: LOGAN-D1, random forest S vs R |
//! | `host_mean_dcr`, `host_max_dcr`, `host_topk_dcr` | mean / max / top-k mean of `-d_1(x, S)` over a host's flows |
//! | `shadow` | [`shadow_attack`] (pooled over targets) |
//!
//! Diagnostics (see [`diagnostics`]): `dcr_share` (`member`), `exact_copy_share`, `dcr_p5`,
//! `nndr`, `ip_replay`, `prefix24_replay`, `ip_port_replay` (`member` / `nonmember`).

pub mod attacks;
pub mod diagnostics;
pub mod features;
pub mod nn;
pub mod plot;
pub mod roc;
pub mod shadow;

pub use plot::plot_roc;
pub use shadow::{ShadowConfig, shadow_attack};

use crate::data::hosts::HostTraffic;
use crate::error::{Error, Result};
use crate::report::metrics::MetricRow;
use features::{Rows, row_key};
use nn::NnIndex;
use rand::SeedableRng;
use rayon::prelude::*;
use roc::{AttackSummary, FPR_LEVELS, summarize};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

const SECTION: &str = "privacy";

/// Settings of [`evaluate`]. Defaults are sized for a full-day run (a few seconds in release).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Candidate flows per side (members, non-members); the smaller side bounds it. Default 5000.
    pub max_candidates: usize,
    /// Flows in the attacker's reference sample R (drawn from the reference hosts). Default 5000.
    pub reference_size: usize,
    /// Synthetic flows used by the distance-based attacks (seeded subsample; 0 = all). Default
    /// 200 000. Exact match always uses every synthetic flow.
    pub max_synthetic: usize,
    /// Bootstrap resamples for the CIs. Default 200.
    pub bootstrap_reps: usize,
    /// Confidence γ of the Clopper–Pearson epsilon bound. Default 0.95.
    pub confidence: f64,
    /// k of the host-level top-k aggregate. Default 10.
    pub top_k: usize,
    /// Flows per host (seeded subsample) for the host-level attacks, so that max / top-k do not
    /// depend on how many flows a host happens to have beyond this. Default 500.
    pub host_flows: usize,
    /// k of the kNN density ratio (A6). Default 5.
    pub density_k: usize,
    /// Ball radius of the neighbourhood attack (A5), feature units. Default 0.05.
    pub neighbourhood_radius: f64,
    /// Rows per class (S, R) to train the A7 classifier. Default 5000.
    pub classifier_rows: usize,
    /// Trees of the A7 random forest. Default 50.
    pub classifier_trees: usize,
    /// Max depth of the A7 trees. Default 12.
    pub classifier_depth: u16,
    /// Rows of M' and N' (each) for the nearest-record diagnostics. Default 100 000. A copy
    /// of the training data only reaches a DCR share of 1 when M' holds every member flow, i.e.
    /// when this and the non-member flow count are at least the member flow count.
    pub diag_rows: usize,
    /// Rows of the synthetic sample S' whose nearest records in M' and N' the diagnostics
    /// look up (seeded subsample; all synthetic flows when there are fewer). Default 20 000.
    /// Why not `diag_rows`: the lookups cost time in proportion to S', and much more for
    /// traffic far from the real flows (on the quickstart, 100k rows of `independent` took
    /// 10.5 s of exact k-d tree search against 1.3 s for `copy`), while 20k rows already
    /// put the DCR share's bootstrap CI within about ±0.007; the identifier-replay shares
    /// always use every synthetic flow.
    pub diag_synthetic: usize,
    /// Host-label permutations for the `auc_host_null` band of the flow-level attacks.
    /// Default 100 (0 = no band).
    pub null_reps: usize,
    /// Shadow attack settings (used by [`shadow_attack`]; carried here so one spec holds all).
    pub shadow: ShadowConfig,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            max_candidates: 5000,
            reference_size: 5000,
            max_synthetic: 200_000,
            bootstrap_reps: 200,
            confidence: 0.95,
            top_k: 10,
            host_flows: 500,
            density_k: 5,
            neighbourhood_radius: 0.05,
            classifier_rows: 5000,
            classifier_trees: 50,
            classifier_depth: 12,
            diag_rows: 100_000,
            diag_synthetic: 20_000,
            null_reps: 100,
            shadow: ShadowConfig::default(),
        }
    }
}

impl PrivacyConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, reason: &str| {
            Err(Error::Spec {
                key: format!("privacy.{key}"),
                reason: reason.into(),
            })
        };
        if self.max_candidates == 0 {
            return bad("max_candidates", "must be > 0");
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return bad("confidence", "must be in (0, 1)");
        }
        if self.host_flows == 0 || self.top_k == 0 || self.density_k == 0 {
            return bad("host_flows/top_k/density_k", "must be > 0");
        }
        if !(self.neighbourhood_radius > 0.0 && self.neighbourhood_radius.is_finite()) {
            return bad("neighbourhood_radius", "must be a positive number");
        }
        if self.classifier_trees == 0 || self.classifier_depth == 0 || self.classifier_rows == 0 {
            return bad("classifier_*", "must be > 0");
        }
        if self.diag_rows == 0 {
            return bad("diag_rows", "must be > 0");
        }
        if self.diag_synthetic == 0 {
            return bad("diag_synthetic", "must be > 0");
        }
        self.shadow.validate()
    }
}

/// The traffic of one evaluation. `members` are the training hosts restricted to the training
/// window; `nonmembers` are held-out hosts in the same window; `reference` is a third, disjoint
/// host group (the attacker's R); `synthetic` is the generator's output (own IPs are pseudonyms).
///
/// Every host's flows must carry that host's `ip` as `sa` or `da` on its own side (for
/// synthetic hosts: the pseudonym), because rows are read through `flow.remote_for(host.ip)`;
/// a flow whose own side holds another IP would be read as incoming with that IP as remote.
#[derive(Clone, Copy, Debug)]
pub struct PrivacyInput<'a> {
    pub members: &'a [HostTraffic],
    pub nonmembers: &'a [HostTraffic],
    pub reference: &'a [HostTraffic],
    pub synthetic: &'a [HostTraffic],
}

/// Scores and summary of one attack (kept for plots and tests).
#[derive(Clone, Debug)]
pub struct AttackResult {
    pub name: String,
    pub scores: Vec<f64>,
    pub labels: Vec<bool>,
    pub summary: AttackSummary,
}

/// Everything [`evaluate_detailed`] computes.
#[derive(Clone, Debug)]
pub struct PrivacyReport {
    pub rows: Vec<MetricRow>,
    pub attacks: Vec<AttackResult>,
    /// Host of each flow-level candidate (members numbered first, then non-members).
    pub cand_host: Vec<usize>,
    /// Role of each host in that numbering.
    pub host_is_member: Vec<bool>,
}

impl PrivacyReport {
    /// `(attack, ROC curve)` pairs for [`plot_roc`].
    pub fn curves(&self) -> Vec<(String, Vec<(f64, f64)>)> {
        self.attacks
            .iter()
            .map(|a| (a.name.clone(), a.summary.curve.clone()))
            .collect()
    }
}

/// Derive an independent sub-seed for a named random choice (splitmix64 of seed and an FNV-1a
/// hash of the tag), so adding a new random step never shifts the others.
pub(crate) fn sub_seed(seed: u64, tag: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tag.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `k` of `n` indices without replacement, seeded, sorted ascending (all when `k >= n`).
pub(crate) fn sample_indices(n: usize, k: usize, seed: u64) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = rand::seq::index::sample(&mut rng, n, k).into_vec();
    v.sort_unstable();
    v
}

/// The rows of one attack's summary, in a fixed order.
pub(crate) fn summary_rows(generator: &str, subject: &str, s: &AttackSummary) -> Vec<MetricRow> {
    // `n` of the interval rows counts what the intervals resample (hosts for flow attacks).
    let n = s.n_units;
    let row = |m: &str, v: f64, ci: Option<(f64, f64)>| {
        let r = MetricRow::new(SECTION, generator, m, subject, v, n);
        match ci {
            Some((lo, hi)) => r.with_ci(lo, hi),
            None => r,
        }
    };
    let mut out = vec![row("auc", s.auc, s.auc_ci)];
    for ((_, name), (_, t, ci)) in FPR_LEVELS.iter().zip(&s.tpr) {
        out.push(row(name, *t, *ci));
    }
    out.push(row("advantage", s.advantage, s.advantage_ci));
    out.push(row(
        "privacy_gain",
        1.0 - s.advantage,
        s.advantage_ci.map(|(lo, hi)| (1.0 - hi, 1.0 - lo)),
    ));
    // The bound's trials are hosts (roc module docs): its `n` counts them.
    out.push(MetricRow::new(
        SECTION,
        generator,
        "epsilon_lb",
        subject,
        s.epsilon_lb,
        s.eps_trials.0 + s.eps_trials.1,
    ));
    out.push(MetricRow::new(
        SECTION,
        generator,
        "n_neg",
        subject,
        s.n_neg as f64,
        s.n_pos + s.n_neg,
    ));
    out
}

/// All flow-level + host-level attacks and diagnostics for one generator: section `privacy`.
/// Same inputs + seed => identical rows in the same order.
pub fn evaluate(
    generator: &str,
    input: &PrivacyInput,
    cfg: &PrivacyConfig,
    seed: u64,
) -> Result<Vec<MetricRow>> {
    Ok(evaluate_detailed(generator, input, cfg, seed)?.rows)
}

/// [`evaluate`], also returning every attack's scores and ROC curve.
pub fn evaluate_detailed(
    generator: &str,
    input: &PrivacyInput,
    cfg: &PrivacyConfig,
    seed: u64,
) -> Result<PrivacyReport> {
    cfg.validate()?;
    let m_all = Rows::from_hosts(input.members);
    let n_all = Rows::from_hosts(input.nonmembers);
    let r_all = Rows::from_hosts(input.reference);
    let s_all = Rows::from_hosts(input.synthetic);
    if m_all.is_empty() || n_all.is_empty() {
        return Err(Error::Invalid(
            "privacy evaluation needs member and non-member flows".into(),
        ));
    }
    if s_all.is_empty() {
        return Err(Error::Invalid(format!(
            "generator `{generator}` produced no synthetic flows"
        )));
    }

    // Candidates: equal numbers of member and non-member flows.
    let nc = cfg.max_candidates.min(m_all.len()).min(n_all.len());
    let cm = m_all.subset(&sample_indices(
        m_all.len(),
        nc,
        sub_seed(seed, "cand_member"),
    ));
    let cn = n_all.subset(&sample_indices(
        n_all.len(),
        nc,
        sub_seed(seed, "cand_nonmember"),
    ));
    let cand: Vec<features::Feature> = cm.feats.iter().chain(&cn.feats).copied().collect();
    let cand_keys: Vec<features::RowKey> = cm.keys.iter().chain(&cn.keys).copied().collect();
    let labels: Vec<bool> = (0..2 * nc).map(|i| i < nc).collect();
    // Host of each candidate in one numbering: members first, then non-members.
    let n_mh = input.members.len();
    let cand_host: Vec<usize> = cm
        .host
        .iter()
        .copied()
        .chain(cn.host.iter().map(|h| h + n_mh))
        .collect();
    let host_is_member: Vec<bool> = (0..n_mh + input.nonmembers.len())
        .map(|h| h < n_mh)
        .collect();

    let r = r_all.subset(&sample_indices(
        r_all.len(),
        cfg.reference_size,
        sub_seed(seed, "reference"),
    ));
    let s = if cfg.max_synthetic > 0 && s_all.len() > cfg.max_synthetic {
        s_all.subset(&sample_indices(
            s_all.len(),
            cfg.max_synthetic,
            sub_seed(seed, "synthetic"),
        ))
    } else {
        s_all.clone()
    };
    let is = NnIndex::new(&s.feats)?;
    let k = cfg.density_k.max(1);
    let ds = is.nearest_k(&cand, k);
    let ds1: Vec<f64> = ds.iter().map(|d| d[0]).collect();
    let dsk: Vec<f64> = ds.iter().map(|d| d[k - 1]).collect();

    let mut scored: Vec<(&str, Vec<f64>, Vec<bool>)> = Vec::new();
    // Exact match is a hash lookup: use every synthetic flow, not the NN subsample (a subsample
    // would hide replayed flows and cap even `copy` far below AUC 1 on large runs).
    let s_keys: HashSet<features::RowKey> = s_all.keys.iter().copied().collect();
    scored.push((
        "exact_match",
        attacks::exact_match(&cand_keys, &s_keys),
        labels.clone(),
    ));
    scored.push(("dcr", attacks::dcr(&ds1), labels.clone()));
    let ir = (!r.is_empty())
        .then(|| NnIndex::new(&r.feats))
        .transpose()?;
    if let Some(ir) = &ir {
        let dr = ir.nearest_k(&cand, k);
        let dr1: Vec<f64> = dr.iter().map(|d| d[0]).collect();
        scored.push(("dcr_ref", attacks::dcr_ref(&ds1, &dr1), labels.clone()));
        if let Some(eps) = attacks::mc_radius(&ds1) {
            scored.push(("mc", attacks::ball_share(&is, &cand, eps), labels.clone()));
        }
        scored.push((
            "neighbourhood",
            attacks::ball_share(&is, &cand, cfg.neighbourhood_radius),
            labels.clone(),
        ));
        let drk: Vec<f64> = dr.iter().map(|d| d[k - 1]).collect();
        scored.push((
            "density_ratio",
            attacks::density_ratio(&dsk, &drk),
            labels.clone(),
        ));
        let nrf = cfg.classifier_rows.min(s.len()).min(r.len());
        let s_rf = s.subset(&sample_indices(
            s.len(),
            nrf,
            sub_seed(seed, "rf_synthetic"),
        ));
        let r_rf = r.subset(&sample_indices(
            r.len(),
            nrf,
            sub_seed(seed, "rf_reference"),
        ));
        let p = attacks::ForestParams {
            trees: cfg.classifier_trees,
            max_depth: cfg.classifier_depth,
            seed: sub_seed(seed, "rf"),
        };
        scored.push((
            "classifier",
            attacks::classifier(&s_rf.feats, &r_rf.feats, &cand, p)?,
            labels.clone(),
        ));
    } else {
        if let Some(eps) = attacks::mc_radius(&ds1) {
            scored.push(("mc", attacks::ball_share(&is, &cand, eps), labels.clone()));
        }
        scored.push((
            "neighbourhood",
            attacks::ball_share(&is, &cand, cfg.neighbourhood_radius),
            labels.clone(),
        ));
    }

    // Host level: per-host DCR on at most `host_flows` flows per host.
    let mut host_scores: [Vec<f64>; 3] = Default::default();
    let mut host_labels = Vec::new();
    for (is_member, hosts) in [(true, input.members), (false, input.nonmembers)] {
        for h in hosts {
            let rows = Rows::from_hosts(std::slice::from_ref(h));
            let tag = format!("host_{}_{}", is_member, h.ip);
            let sub = rows.subset(&sample_indices(
                rows.len(),
                cfg.host_flows,
                sub_seed(seed, &tag),
            ));
            let sc = attacks::dcr(&is.nearest(&sub.feats));
            if let Some(agg) = attacks::host_aggregates(&sc, cfg.top_k) {
                for (j, v) in agg.iter().enumerate() {
                    host_scores[j].push(*v);
                }
                host_labels.push(is_member);
            }
        }
    }
    let n_flow_attacks = scored.len();
    // Flow-level candidates resample and vote by host, members and non-members as strata;
    // host-level scores are one item per host already.
    let side: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
    let flow_clusters = crate::stats::Clusters::new(&side, &cand_host);
    let host_side: Vec<usize> = host_labels.iter().map(|&l| l as usize).collect();
    let host_clusters = crate::stats::Clusters::singletons(&host_side);
    let [hm, hx, ht] = host_scores;
    scored.push(("host_mean_dcr", hm, host_labels.clone()));
    scored.push(("host_max_dcr", hx, host_labels.clone()));
    scored.push(("host_topk_dcr", ht, host_labels));

    // Each attack's bootstrap and host-permutation null have their own seeds, so they run as
    // parallel jobs; rows are then written in attack order.
    let summaries: Vec<_> = scored
        .par_iter()
        .enumerate()
        .map(|(i, (name, sc, lab))| {
            let clusters = if i < n_flow_attacks {
                &flow_clusters
            } else {
                &host_clusters
            };
            let summary = summarize(
                sc,
                lab,
                clusters,
                clusters,
                cfg.bootstrap_reps,
                cfg.confidence,
                sub_seed(seed, name),
            )?;
            let null = (i < n_flow_attacks)
                .then(|| {
                    roc::host_permutation_null(
                        sc,
                        &cand_host,
                        &host_is_member,
                        cfg.null_reps,
                        0.95,
                        sub_seed(seed, &format!("null_{name}")),
                    )
                })
                .flatten();
            Some((summary, null))
        })
        .collect();
    let mut rows = Vec::new();
    let mut results = Vec::new();
    for ((name, sc, lab), summary) in scored.into_iter().zip(summaries) {
        if let Some((summary, null)) = summary {
            rows.extend(summary_rows(generator, name, &summary));
            if let Some((med, lo, hi)) = null {
                rows.push(
                    MetricRow::new(
                        SECTION,
                        generator,
                        "auc_host_null",
                        name,
                        med,
                        host_is_member.len(),
                    )
                    .with_ci(lo, hi),
                );
            }
            results.push(AttackResult {
                name: name.to_string(),
                scores: sc,
                labels: lab,
                summary,
            });
        } else {
            tracing::warn!(attack = name, "privacy: attack skipped (one class empty)");
        }
    }

    // Nearest-record diagnostics on equal-size M', N'.
    let nd = cfg.diag_rows.min(m_all.len()).min(n_all.len());
    let md = m_all.subset(&sample_indices(
        m_all.len(),
        nd,
        sub_seed(seed, "diag_member"),
    ));
    let ndr = n_all.subset(&sample_indices(
        n_all.len(),
        nd,
        sub_seed(seed, "diag_nonmember"),
    ));
    let sd = s_all.subset(&sample_indices(
        s_all.len(),
        cfg.diag_synthetic,
        sub_seed(seed, "diag_synthetic"),
    ));
    rows.extend(diagnostics::rows(
        generator,
        &md,
        &ndr,
        &sd,
        &s_all,
        cfg.bootstrap_reps,
        sub_seed(seed, "diag_boot"),
    )?);
    Ok(PrivacyReport {
        rows,
        attacks: results,
        cand_host,
        host_is_member,
    })
}

/// Exact-match key set of hosts' flows (helper for callers that check copies).
pub fn key_set(hosts: &[HostTraffic]) -> HashSet<features::RowKey> {
    hosts
        .iter()
        .flat_map(|h| h.flows.iter().map(move |f| row_key(f, h.ip)))
        .collect()
}

#[cfg(test)]
mod tests;
