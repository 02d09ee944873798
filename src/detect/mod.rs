//! Downstream utility: can synthetic traffic replace real traffic for training security models?
//!
//! Two self-supervised models (STAN §8), each also an anomaly detector through its surprise:
//!
//! * `protocol` ([`protocol`]): a random forest predicting a flow's protocol class from the
//!   previous flow of the same host and the current flow's other attributes; task metrics
//!   `macro_f1`, `accuracy`; anomaly score `-ln p(true protocol)`.
//! * `bytes` ([`bytes`]): an MLP predicting a flow's `ln(1+byt)` from the host's previous
//!   [`features::WINDOW`] flows; task metrics `mse`, `mae` (nats², nats); anomaly score the
//!   squared error.
//!
//! and, beside them, the paper's own protocol task, task metrics only:
//!
//! * `protocol_tree` ([`tree`]): one decision tree predicting a flow's protocol class from the
//!   previous flow's bytes, packets and protocol (`byt-1, pkt-1, pr-1`), as the paper's code
//!   does; task metrics `macro_f1`, `accuracy`; no anomaly score. Set its figures beside the
//!   paper's Task 1; the `protocol` forest is the harder test of a generator.
//!
//! Protocol ("train on X, test on real"), see [`evaluate`]: the training size is constant,
//! `N = min(max_train_flows, real training examples)`; a source with real share `r` trains on
//! `round(r·N)` real examples plus `N − round(r·N)` synthetic ones, each drawn at random (without
//! replacement; with replacement only when a generator produced fewer examples than asked).
//! One example per flow; windows never straddle hosts or sources. All three detectors of a
//! repetition train on the same sample. Everything is tested on the
//! real test hosts: task metrics on their unmodified traffic, anomaly metrics on the same
//! traffic after [`inject()`] added labelled attacks.
//!
//! Emitted rows (section `detect`; `generator` = training source: `real`, a generator name
//! (`r = 0`), or `<gen>+real<r>` such as `stan+real0.1`):
//!
//! | metric | subject | value | CI |
//! |---|---|---|---|
//! | `macro_f1`, `accuracy` | `protocol` | mean over seeds | 95% host-cluster bootstrap over the test hosts |
//! | `f1` | `protocol/<TCP\|UDP\|ICMP\|other>` | idem, per class (when in truth or predictions) | idem |
//! | `macro_f1`, `accuracy` | `protocol_tree` | idem | idem |
//! | `f1` | `protocol_tree/<TCP\|UDP\|ICMP\|other>` | idem | idem |
//! | `mse`, `mae` | `bytes` | mean over seeds | idem |
//! | `auc`, `average_precision` | `<protocol\|bytes>/<attack>` | mean over seeds | idem |
//! | `<metric>_seed_sd` | same | sample SD over the `seeds` repetitions (only if seeds ≥ 2) | none |
//! | `ratio_<metric>` | same | value / value of `real` (non-`real` sources only) | none |
//!
//! Attacks: `blacklist` (real UGR'16 label), `scan`, `dos`, `spam`, `beacon` (injected), `all`
//! (any non-background label). For one attack the positives are its flows and the negatives the
//! background flows; flows of other attacks are left out. A subject without positives in the
//! test traffic yields no row. `n` = test flows (task metrics) or positives + negatives.
//!
//! Every CI is a **host-cluster bootstrap** ([`crate::stats`]): the flows of one host are not
//! independent trials, so a replicate draws the test hosts with replacement and takes every
//! flow of each drawn host ([`Examples::host`]). Task metrics: one stratum, the test hosts as
//! clusters. AUC and AP: two strata, the subject's positives and its negatives, so that every
//! replicate has both classes; within each, the clusters are hosts. An injected attack's flows
//! belong to the host they were injected into ([`inject()`] appends them to that host), so one
//! event's flows resample together, and events on the same host form one cluster (their
//! scores share that host's history); with `scan_events = 3` the positives of `scan` are at
//! most three clusters, and the CI reflects three events rather than hundreds of independent
//! probes. A stratum of one host adds no variance; a figure whose strata all have one host
//! (a single test host) has no CI. Each replicate is applied to every seed's predictions, so the CI is that
//! of the seed-averaged figure. It contains the variance due to *which hosts are tested*, not
//! that due to *which hosts trained the model*, which on UGR'16 matters for the protocol task:
//! the `other` class comes from four tunnel hosts (three GRE, one ESP), so its F1 (a quarter of
//! macro-F1) depends on which of them trained the model (quickstart seed 1: `real` F1(other)
//! 0.04, `holdout` 0.79). The `f1` rows per class show it; the spread over seeds
//! (`stan report`) is the interval that contains it.
//!
//! Seeds: repetition `k` of every source draws its own training sample, but initialises both
//! random models from the same per-`k` seed, so sources differ by their data, not by their
//! init (the tree draws no random number).
//!
//! Reading the anomaly rows: the surprise of a *worse* model is not a worse detector. A bytes
//! regressor trained on column-shuffled traffic predicts about the mean, so every tiny flow
//! (scan probes, SYNs) is surprising and its scan AUC exceeds the real-trained one, which has
//! learned that tiny flows follow tiny flows. Compare generators on the task metrics first.

pub mod bytes;
pub mod features;
pub mod inject;
pub mod plot;
pub mod protocol;
pub mod tree;

pub use bytes::{BytesConfig, BytesModel};
pub use features::{Examples, shuffle_columns};
pub use inject::{InjectConfig, inject};
pub use protocol::{ProtocolConfig, ProtocolModel};
pub use tree::TreeModel;

use crate::data::fields::{Field, FieldSet};
use crate::data::flow::Label;
use crate::data::hosts::HostTraffic;
use crate::error::{Error, Result};
use crate::report::MetricRow;
use crate::stats;
use features::N_CLASSES;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::{RngExt, seq::SliceRandom};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Section name of every row.
pub const SECTION: &str = "detect";
/// Detector names (subject prefixes). The first [`SCORED`] also score anomalies;
/// `protocol_tree` ([`tree`], the paper's protocol task) has task metrics only.
pub const DETECTORS: [&str; 3] = ["protocol", "bytes", "protocol_tree"];
/// How many of [`DETECTORS`], from the first, give an anomaly score (`auc`,
/// `average_precision` rows and ROC plots).
pub const SCORED: usize = 2;
/// Attack subjects, in table order.
pub const ATTACKS: [&str; 6] = ["blacklist", "scan", "dos", "spam", "beacon", "all"];
/// The optional flow fields each detector ([`DETECTORS`]) reads: the protocol predictor uses
/// the current flow's ToS ([`features::protocol_row`]); the bytes regressor and the protocol
/// tree ([`features::tree_row`]) no optional field.
/// A generator whose output lacks one trains no such detector: its sources get no rows of it
/// (trained on fillers and tested on real values, the detector would measure the filler), and
/// the run writes a marker row instead ([`crate::run`]).
pub const DETECTOR_FIELDS: [FieldSet; 3] =
    [FieldSet::of(&[Field::Stos]), FieldSet::NONE, FieldSet::NONE];

/// Every optional field some detector reads.
pub const FIELDS: FieldSet = DETECTOR_FIELDS[0]
    .union(DETECTOR_FIELDS[1])
    .union(DETECTOR_FIELDS[2]);

/// The detector (index into [`DETECTORS`]) of a row's subject (`protocol`, `protocol/TCP`,
/// `bytes/scan`, ...).
fn detector_of(subject: &str) -> Option<usize> {
    let head = subject.split('/').next().unwrap_or(subject);
    DETECTORS.iter().position(|d| *d == head)
}

/// Base metrics in table order.
pub const METRICS: [&str; 7] = [
    "macro_f1",
    "f1",
    "accuracy",
    "mse",
    "mae",
    "auc",
    "average_precision",
];

/// Settings of the downstream evaluation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    pub protocol: ProtocolConfig,
    pub bytes: BytesConfig,
    pub inject: InjectConfig,
    /// Real shares `r` of the training set (default `[1.0, 0.1, 0.01, 0.0]`, the paper's grid
    /// without its finest steps). `1.0` is the `real` source, trained once.
    pub real_shares: Vec<f64>,
    /// Cap of the constant training size N (default 20,000 flows).
    pub max_train_flows: usize,
    /// Bootstrap replicates of the CIs (default 200).
    pub bootstrap_reps: usize,
    /// Repetitions with different training samples and model initialisations (default 2).
    pub seeds: usize,
    /// Whether to add `ratio_*` rows (default true).
    pub ratio_rows: bool,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            protocol: ProtocolConfig::default(),
            bytes: BytesConfig::default(),
            inject: InjectConfig::default(),
            real_shares: vec![1.0, 0.1, 0.01, 0.0],
            max_train_flows: 20_000,
            bootstrap_reps: 200,
            seeds: 2,
            ratio_rows: true,
        }
    }
}

/// Which attack subject a label belongs to: `Some(true)` positive, `Some(false)` negative
/// (background), `None` left out.
pub fn attack_role(attack: &str, l: Label) -> Option<bool> {
    if l == Label::Background {
        return Some(false);
    }
    let hit = match attack {
        "all" => true,
        "blacklist" => l == Label::Blacklist,
        "scan" => l == Label::InjectedScan,
        "dos" => l == Label::InjectedDos,
        "spam" => l == Label::InjectedSpam,
        "beacon" => l == Label::InjectedBeacon,
        _ => false,
    };
    hit.then_some(true)
}

/// Name of a training source (see the module docs).
pub fn source_name(generator: &str, share: f64) -> String {
    if share >= 1.0 {
        "real".into()
    } else if share <= 0.0 {
        generator.into()
    } else {
        format!("{generator}+real{share}")
    }
}

/// splitmix64 of `a` then `b`: independent seeds per (purpose, source, repetition).
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(0x632b_e59b_d9b4_e019);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Predictions of one trained set of detectors.
struct Preds {
    /// Predicted protocol class on the clean test flows.
    class: Vec<usize>,
    /// Predicted `ln(1+byt)` on the clean test flows.
    log_bytes: Vec<f32>,
    /// The protocol tree's predicted class on the clean test flows.
    tree_class: Vec<usize>,
    /// Anomaly scores on the attacked test flows: `[protocol, bytes]`.
    score: [Vec<f64>; SCORED],
}

struct Source {
    name: String,
    generator: Option<usize>,
    share: f64,
}

/// Draw `k` indices of `0..n` at random: without replacement when `k <= n`, else with.
fn draw(n: usize, k: usize, rng: &mut StdRng) -> Vec<usize> {
    if k <= n {
        let mut all: Vec<usize> = (0..n).collect();
        let (head, _) = all.partial_shuffle(rng, k);
        head.to_vec()
    } else {
        (0..k).map(|_| rng.random_range(0..n)).collect()
    }
}

fn train_and_predict(
    train: &Examples,
    clean: &Examples,
    attacked: &Examples,
    cfg: &DetectConfig,
    seed: u64,
) -> Result<Preds> {
    let pm = ProtocolModel::fit(&train.proto_x, &train.proto_y, &cfg.protocol, mix(seed, 1))?;
    let bm = BytesModel::fit(&train.bytes_x, &train.bytes_y, &cfg.bytes, mix(seed, 2))?;
    let tree_class = TreeModel::fit(&train.tree_x, &train.proto_y)?.predict(&clean.tree_x)?;
    let pc = pm.predict_proba(&clean.proto_x)?;
    let class = pc.chunks(N_CLASSES).map(protocol::argmax).collect();
    let log_bytes = bm.predict(&clean.bytes_x)?;
    let pa = pm.predict_proba(&attacked.proto_x)?;
    let s_proto = pa
        .chunks(N_CLASSES)
        .zip(&attacked.proto_y)
        .map(|(p, &c)| protocol::surprise(p, c, cfg.protocol.min_prob))
        .collect();
    let s_bytes = bm
        .predict(&attacked.bytes_x)?
        .iter()
        .zip(&attacked.bytes_y)
        .map(|(&p, &y)| ((p - y) as f64).powi(2))
        .collect();
    Ok(Preds {
        class,
        log_bytes,
        tree_class,
        score: [s_proto, s_bytes],
    })
}

/// Confusion counts of protocol predictions and, optionally, the bytes errors over a list of
/// test flows (with multiplicity: a bootstrap resample may list a flow several times), from
/// which every task metric follows. One count serves all of them.
struct TaskCounts {
    tp: [usize; N_CLASSES],
    n_true: [usize; N_CLASSES],
    n_pred: [usize; N_CLASSES],
    /// Whether the bytes errors were counted.
    bytes: bool,
    /// Sums of squared and absolute bytes errors, added in the order of the list.
    se: f64,
    ae: f64,
    n: usize,
}

impl TaskCounts {
    /// The `protocol` forest's classes and the `bytes` regressor's errors.
    fn new(clean: &Examples, p: &Preds, idx: &[usize]) -> TaskCounts {
        Self::count(
            (&clean.proto_y, &p.class),
            Some((&clean.bytes_y, &p.log_bytes)),
            idx,
        )
    }

    /// The `protocol_tree`'s classes (no bytes errors).
    fn of_tree(clean: &Examples, p: &Preds, idx: &[usize]) -> TaskCounts {
        Self::count((&clean.proto_y, &p.tree_class), None, idx)
    }

    /// Counts over `idx` of (true, predicted) protocol classes and, if given, (true,
    /// predicted) log bytes.
    fn count(
        (y, c): (&[usize], &[usize]),
        bytes: Option<(&[f32], &[f32])>,
        idx: &[usize],
    ) -> TaskCounts {
        let mut t = TaskCounts {
            tp: [0; N_CLASSES],
            n_true: [0; N_CLASSES],
            n_pred: [0; N_CLASSES],
            bytes: bytes.is_some(),
            se: 0.0,
            ae: 0.0,
            n: idx.len(),
        };
        for &i in idx {
            t.n_true[y[i]] += 1;
            t.n_pred[c[i]] += 1;
            t.tp[y[i]] += usize::from(y[i] == c[i]);
        }
        if let Some((yb, pb)) = bytes {
            for &i in idx {
                let d = (pb[i] - yb[i]) as f64;
                t.se += d * d;
                t.ae += d.abs();
            }
        }
        t
    }

    /// F1 of class `c`; `None` when `c` occurs neither in the truth nor in the predictions
    /// (the classes that [`TaskCounts::macro_f1`] leaves out).
    fn class_f1(&self, c: usize) -> Option<f64> {
        let d = self.n_true[c] + self.n_pred[c];
        (d > 0).then(|| 2.0 * self.tp[c] as f64 / d as f64)
    }

    /// Macro-F1 over the classes that occur in the truth or the predictions (sklearn's
    /// `average='macro'` convention).
    fn macro_f1(&self) -> f64 {
        let (mut f1, mut k) = (0.0, 0);
        for c in 0..N_CLASSES {
            if let Some(v) = self.class_f1(c) {
                f1 += v;
                k += 1;
            }
        }
        f1 / k.max(1) as f64
    }

    fn accuracy(&self) -> f64 {
        self.tp.iter().sum::<usize>() as f64 / self.n.max(1) as f64
    }

    fn mse(&self) -> f64 {
        self.se / self.n.max(1) as f64
    }

    fn mae(&self) -> f64 {
        self.ae / self.n.max(1) as f64
    }

    /// The statistics in row order: F1 of each class, macro-F1, accuracy, MSE, MAE (the last
    /// two `None` without bytes errors).
    fn values(&self) -> [Option<f64>; COUNT_STATS] {
        let mut v = [None; COUNT_STATS];
        for (c, slot) in v.iter_mut().take(N_CLASSES).enumerate() {
            *slot = self.class_f1(c);
        }
        v[N_CLASSES] = Some(self.macro_f1());
        v[N_CLASSES + 1] = Some(self.accuracy());
        if self.bytes {
            v[N_CLASSES + 2] = Some(self.mse());
            v[N_CLASSES + 3] = Some(self.mae());
        }
        v
    }
}

/// Number of statistics of one [`TaskCounts`] ([`TaskCounts::values`]).
const COUNT_STATS: usize = N_CLASSES + 4;
/// Number of task statistics per source ([`task_values`]).
const TASK_STATS: usize = 2 * COUNT_STATS;

/// The task statistics of one trained set of detectors over `idx`: the `protocol` forest's
/// and the `bytes` regressor's ([`TaskCounts::new`]), then the `protocol_tree`'s
/// ([`TaskCounts::of_tree`]), each in [`TaskCounts::values`] order.
fn task_values(clean: &Examples, p: &Preds, idx: &[usize]) -> [Option<f64>; TASK_STATS] {
    let mut v = [None; TASK_STATS];
    v[..COUNT_STATS].copy_from_slice(&TaskCounts::new(clean, p, idx).values());
    v[COUNT_STATS..].copy_from_slice(&TaskCounts::of_tree(clean, p, idx).values());
    v
}

/// A figure: (value, 95% CI, per-seed values).
type Stat = (f64, Option<(f64, f64)>, Vec<f64>);

/// The task statistics of every source (outer: source, inner: [`task_values`] order),
/// each the mean over the source's seeds, with a host-cluster bootstrap CI (one stratum, the
/// test hosts as clusters; module docs). A statistic that is undefined for some seed on the
/// whole test set has no figure; a replicate where it is undefined for some seed is skipped.
/// Every source and statistic sees the same resamples (drawn once from `boot_seed`).
fn task_stats(
    preds: &[&[Preds]],
    clean: &Examples,
    reps: usize,
    boot_seed: u64,
) -> Vec<Vec<Option<Stat>>> {
    let n = clean.len();
    let seed_values = |p: &[Preds], idx: &[usize]| -> Vec<[Option<f64>; TASK_STATS]> {
        p.iter().map(|q| task_values(clean, q, idx)).collect()
    };
    let mean_over_seeds = |v: &[[Option<f64>; TASK_STATS]], k: usize| -> Option<f64> {
        let per: Option<Vec<f64>> = v.iter().map(|s| s[k]).collect();
        per.map(|per| stats::mean(&per))
    };
    let all: Vec<usize> = (0..n).collect();
    let point: Vec<Vec<[Option<f64>; TASK_STATS]>> =
        preds.iter().map(|p| seed_values(p, &all)).collect();
    let mut boot: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); TASK_STATS]; preds.len()];
    // One stratum: the task statistics compare no two groups of flows.
    let clusters = stats::Clusters::new(&vec![0; n], &clean.host);
    if resamplable(&clusters) {
        stats::cluster_bootstrap_resamples(&clusters, reps, boot_seed, |idx| {
            for (s, p) in preds.iter().enumerate() {
                let v = seed_values(p, idx);
                for (k, b) in boot[s].iter_mut().enumerate() {
                    if let Some(m) = mean_over_seeds(&v, k).filter(|m| m.is_finite()) {
                        b.push(m);
                    }
                }
            }
        });
    }
    point
        .iter()
        .zip(boot.iter_mut())
        .map(|(pt, b)| {
            (0..TASK_STATS)
                .map(|k| {
                    let per: Vec<f64> = pt.iter().map(|s| s[k]).collect::<Option<_>>()?;
                    let ci = stats::percentile_ci(&mut b[k], 0.95);
                    Some((stats::mean(&per), ci, per))
                })
                .collect()
        })
        .collect()
}

/// Whether a host-cluster bootstrap over `c` can vary: some stratum has two hosts or more.
/// With one host per stratum every replicate is the sample itself, and a zero-width interval
/// would claim a certainty that one host cannot give, so such a figure gets no CI.
fn resamplable(c: &stats::Clusters) -> bool {
    c.clusters_per_stratum().iter().any(|&k| k >= 2)
}

/// Items sorted by descending score, with the ends of groups of tied scores marked: computed
/// once per score vector so that a bootstrap replicate costs one sequential pass.
struct Ranked {
    /// Item indices in descending score order, each with its label in bit 31 and, in bit 30,
    /// whether it is the last item of its group of tied scores (the pass then reads labels
    /// and group ends in order instead of at random).
    order: Vec<u32>,
}

impl Ranked {
    const LABEL: u32 = 1 << 31;
    const GROUP_END: u32 = 1 << 30;

    fn new(scores: &[f64], labels: &[bool]) -> Ranked {
        assert!(scores.len() < Self::GROUP_END as usize && scores.len() == labels.len());
        let mut idx: Vec<usize> = (0..scores.len()).collect();
        idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let order = (0..idx.len())
            .map(|j| {
                let i = idx[j];
                let end = j + 1 == idx.len() || scores[idx[j + 1]] != scores[i];
                i as u32
                    | if labels[i] { Self::LABEL } else { 0 }
                    | if end { Self::GROUP_END } else { 0 }
            })
            .collect();
        Ranked { order }
    }

    /// (ROC AUC, average precision) of the sample where item `i` occurs `w[i]` times, of which
    /// `p_all` are positives and `n_all` negatives ([`class_totals`]): the same definitions as
    /// `stats::roc_auc` (Mann–Whitney with mid-ranks) and `stats::average_precision` (sklearn's
    /// step sum over distinct thresholds), evaluated on multiplicities instead of a
    /// materialised resample (checked against both in the tests). The Mann–Whitney sum is kept
    /// in integers (twice the tie-corrected pair count), which is exact; the AP sum only moves
    /// at groups holding positives. `None` when a class is absent.
    fn auc_ap(&self, w: &[u32], p_all: u64, n_all: u64) -> Option<(f64, f64)> {
        if p_all == 0 || n_all == 0 {
            return None;
        }
        let (mut twice_auc, mut neg_seen) = (0u64, 0u64);
        let (mut ap, mut tp, mut fp, mut prev) = (0.0, 0u64, 0u64, 0.0);
        let (mut p, mut n) = (0u64, 0u64);
        for &v in &self.order {
            let wi = w[(v & !(Self::LABEL | Self::GROUP_END)) as usize] as u64;
            let pos = u64::from(v >> 31);
            p += wi * pos;
            n += wi * (1 - pos);
            if v & Self::GROUP_END != 0 {
                // Positives of this group beat every negative below it and tie with its own.
                twice_auc += p * (2 * (n_all - neg_seen) - n);
                neg_seen += n;
                tp += p;
                fp += n;
                if p > 0 {
                    let recall = tp as f64 / p_all as f64;
                    let precision = tp as f64 / (tp + fp) as f64;
                    ap += (recall - prev) * precision;
                    prev = recall;
                }
                (p, n) = (0, 0);
            }
        }
        Some((twice_auc as f64 / (2 * p_all * n_all) as f64, ap))
    }
}

/// (positives, negatives) in the sample where item `i` occurs `w[i]` times.
fn class_totals(labels: &[bool], w: &[u32]) -> (u64, u64) {
    labels.iter().zip(w).fold((0, 0), |(p, n), (&l, &c)| {
        if l {
            (p + c as u64, n)
        } else {
            (p, n + c as u64)
        }
    })
}

/// One detector of one source on one attack subject: per-seed AUC and AP on every item, and
/// the ranked scores for the bootstrap.
type Fitted = (Vec<f64>, Vec<f64>, Vec<Ranked>);

/// AUC and AP of the scoring detectors of every source (outer: source, inner: detector, the
/// first [`SCORED`] of [`DETECTORS`]) for one
/// attack subject, each the mean over the source's seeds (point values from `stats::roc_auc`
/// / `stats::average_precision`), with host-cluster bootstrap CIs over the subject's test
/// flows, stratified by label (module docs). Every source and detector sees the same resamples
/// (drawn once from `boot_seed`); a replicate in which some seed's statistic is undefined is
/// skipped.
fn subject_stats(
    preds: &[&[Preds]],
    attacked: &Examples,
    attack: &str,
    reps: usize,
    boot_seed: u64,
) -> (usize, Vec<[Option<[Stat; 2]>; SCORED]>) {
    let (items, labels) = subject_items(attacked, attack);
    let n = labels.len();
    // Per source and detector: the per-seed (AUC, AP) on every item and the ranked scores.
    // The point values are the replicate formula with every item once, which equals
    // `stats::roc_auc` / `stats::average_precision` bit for bit (tested), without sorting again.
    let ones = vec![1u32; n];
    let (p_all, n_all) = class_totals(&labels, &ones);
    let fitted: Vec<[Option<Fitted>; SCORED]> = preds
        .iter()
        .map(|p| {
            std::array::from_fn(|d| {
                let ranked: Vec<Ranked> = p
                    .iter()
                    .map(|q| {
                        let scores: Vec<f64> = items.iter().map(|&i| q.score[d][i]).collect();
                        Ranked::new(&scores, &labels)
                    })
                    .collect();
                let (auc, ap): (Vec<f64>, Vec<f64>) = ranked
                    .iter()
                    .map(|r| r.auc_ap(&ones, p_all, n_all))
                    .collect::<Option<Vec<_>>>()?
                    .into_iter()
                    .unzip();
                Some((auc, ap, ranked))
            })
        })
        .collect();
    let mut boot: Vec<[(Vec<f64>, Vec<f64>); SCORED]> = vec![Default::default(); preds.len()];
    // Strata positives / negatives, so that every replicate has both classes (with few
    // attacked hosts, a draw of hosts alone would often have no positive); clusters: the host
    // of each flow, an attack's flows that of the host it was injected into.
    let side: Vec<usize> = labels.iter().map(|&l| usize::from(l)).collect();
    let host: Vec<usize> = items.iter().map(|&i| attacked.host[i]).collect();
    let clusters = stats::Clusters::new(&side, &host);
    if resamplable(&clusters) {
        // Multiplicity of each item in the replicate (a host drawn twice counts twice).
        let mut w = vec![0u32; n];
        stats::cluster_bootstrap_resamples(&clusters, reps, boot_seed, |idx| {
            w.iter_mut().for_each(|c| *c = 0);
            for &i in idx {
                w[i] += 1;
            }
            let (p_all, n_all) = class_totals(&labels, &w);
            for (f, b) in fitted.iter().zip(boot.iter_mut()) {
                for (fd, (auc_reps, ap_reps)) in f.iter().zip(b.iter_mut()) {
                    let Some((_, _, ranked)) = fd else { continue };
                    let (mut a, mut p) = (0.0, 0.0);
                    let all = ranked.iter().all(|r| match r.auc_ap(&w, p_all, n_all) {
                        Some((auc, ap)) => {
                            a += auc;
                            p += ap;
                            true
                        }
                        None => false,
                    });
                    if all {
                        ap_reps.push(p / ranked.len() as f64);
                        let a = a / ranked.len() as f64;
                        if a.is_finite() {
                            auc_reps.push(a);
                        }
                    }
                }
            }
        });
    }
    let out = fitted
        .into_iter()
        .zip(boot)
        .map(|(f, b)| {
            let mut b = b.into_iter();
            f.map(|fd| {
                let (mut auc_reps, mut ap_reps) = b.next().unwrap_or_default();
                let (auc, ap, _) = fd?;
                Some([
                    (
                        stats::mean(&auc),
                        stats::percentile_ci(&mut auc_reps, 0.95),
                        auc,
                    ),
                    (
                        stats::mean(&ap),
                        stats::percentile_ci(&mut ap_reps, 0.95),
                        ap,
                    ),
                ])
            })
        })
        .collect();
    // `n` of the rows: the units the interval resamples (hosts, per class).
    (clusters.n_clusters(), out)
}

fn push_rows(
    rows: &mut Vec<MetricRow>,
    source: &str,
    metric: &str,
    subject: &str,
    n: usize,
    (value, ci, per): Stat,
) {
    let mut r = MetricRow::new(SECTION, source, metric, subject, value, n);
    if let Some((lo, hi)) = ci {
        r = r.with_ci(lo, hi);
    }
    rows.push(r);
    if per.len() >= 2 {
        let sd = stats::std_dev(&per);
        rows.push(MetricRow::new(
            SECTION,
            source,
            &format!("{metric}_seed_sd"),
            subject,
            sd,
            per.len(),
        ));
    }
}

/// All rows of every training source (outer: source, in `preds` order) from the sources'
/// per-seed predictions: task metrics on the clean test flows, then AUC and AP per detector
/// and attack. The task statistics and each attack subject run as parallel jobs.
fn all_source_rows(
    names: &[&str],
    preds: &[&[Preds]],
    clean: &Examples,
    attacked: &Examples,
    cfg: &DetectConfig,
    bseed: u64,
) -> Vec<Vec<MetricRow>> {
    let reps = cfg.bootstrap_reps;
    let (task, subjects) = rayon::join(
        || task_stats(preds, clean, reps, bseed),
        || {
            ATTACKS
                .par_iter()
                .map(|attack| subject_stats(preds, attacked, attack, reps, bseed))
                .collect::<Vec<_>>()
        },
    );
    // `n` of the task rows: the test hosts, the units their intervals resample.
    let nc = clean
        .host
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let mut out = Vec::with_capacity(names.len());
    for (s, (name, task)) in names.iter().zip(task).enumerate() {
        let mut rows = Vec::new();
        let mut task = task.into_iter();
        // The blocks of `task_values`: the forest's classes with the bytes errors, then the
        // tree's classes (its block's `mse`, `mae` are `None`: no rows).
        for classifier in ["protocol", "protocol_tree"] {
            // Per-class F1: the macro average over four classes moves with the rare `other`
            // class (a handful of tunnel hosts), so the table shows which class moved it.
            for class in features::CLASS_NAMES {
                if let Some(v) = task.next().flatten() {
                    push_rows(
                        &mut rows,
                        name,
                        "f1",
                        &format!("{classifier}/{class}"),
                        nc,
                        v,
                    );
                }
            }
            for (metric, subject) in [
                ("macro_f1", classifier),
                ("accuracy", classifier),
                ("mse", "bytes"),
                ("mae", "bytes"),
            ] {
                if let Some(v) = task.next().flatten() {
                    push_rows(&mut rows, name, metric, subject, nc, v);
                }
            }
        }
        for (d, det) in DETECTORS[..SCORED].iter().enumerate() {
            for (attack, (n, per_source)) in ATTACKS.iter().zip(&subjects) {
                if let Some([auc, ap]) = per_source[s][d].clone() {
                    let subject = format!("{det}/{attack}");
                    push_rows(&mut rows, name, "auc", &subject, *n, auc);
                    push_rows(&mut rows, name, "average_precision", &subject, *n, ap);
                }
            }
        }
        out.push(rows);
    }
    out
}

/// Indices of the flows of an attack subject and whether each is a positive.
fn subject_items(e: &Examples, attack: &str) -> (Vec<usize>, Vec<bool>) {
    e.label
        .iter()
        .enumerate()
        .filter_map(|(i, &l)| attack_role(attack, l).map(|r| (i, r)))
        .unzip()
}

/// Train the detectors on every training source and test them on real traffic.
///
/// Sources, in row order: `real` first (real share 1), then for each `(name, synthetic)` one
/// source per share in `cfg.real_shares` below 1 (in the given order): `name+real<r>` mixes and
/// `name` itself for `r = 0`. Attacks are injected into `test` with [`inject()`] seeded from
/// `seed`. With `plot_dir`, one ROC SVG per scoring detector ([`SCORED`]) and attack
/// (`detect_roc_<detector>_<attack>.svg`) shows the first repetition of `real` and of each pure
/// generator. Ratio rows (see the module docs) come last when `cfg.ratio_rows`.
///
/// Fails when any generator fails; [`evaluate_isolated`] keeps the others instead.
pub fn evaluate(
    real_train: &[HostTraffic],
    synthetic: &[(&str, &[HostTraffic])],
    test: &[HostTraffic],
    cfg: &DetectConfig,
    seed: u64,
    plot_dir: Option<&Path>,
) -> Result<Vec<MetricRow>> {
    let out = evaluate_isolated(real_train, synthetic, test, cfg, seed, plot_dir)?;
    match out.failed.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(out.rows),
    }
}

/// What [`evaluate_isolated`] produced.
#[derive(Debug)]
pub struct Isolated {
    /// The rows of `real` and of every generator that did not fail, as [`evaluate`] writes them.
    pub rows: Vec<MetricRow>,
    /// Each failed generator (index into `synthetic`) with the first error of its sources.
    pub failed: Vec<(usize, Error)>,
}

/// [`evaluate`], with failures isolated per generator: a generator that has no flows (while it
/// has sources to train) or whose detector training fails loses its rows and is listed in
/// [`Isolated::failed`]; the others are evaluated as usual. Failures of `real` (the baseline
/// every ratio row needs) and bad settings are still errors.
///
/// A failed generator keeps its place among the sources, and each source's training draws
/// from a seed derived from that place while the bootstrap resamples are shared by all
/// sources: every other generator's rows are therefore bit for bit those of a run in which the
/// failed one had succeeded. Callers pass a generator that failed before this step as an empty
/// slice for the same reason (it is then listed as failed here too).
pub fn evaluate_isolated(
    real_train: &[HostTraffic],
    synthetic: &[(&str, &[HostTraffic])],
    test: &[HostTraffic],
    cfg: &DetectConfig,
    seed: u64,
    plot_dir: Option<&Path>,
) -> Result<Isolated> {
    evaluate_isolated_fields(real_train, synthetic, &[], test, cfg, seed, plot_dir)
}

/// [`evaluate_isolated`] with the optional fields each generator's output carries (`fields[i]`
/// for `synthetic[i]`; a generator without an entry carries all): the sources of a generator
/// that lacks a field a detector reads ([`DETECTOR_FIELDS`]) get no rows (and no ROC curve) of
/// that detector. The other rows are bit for bit those of [`evaluate_isolated`].
pub fn evaluate_isolated_fields(
    real_train: &[HostTraffic],
    synthetic: &[(&str, &[HostTraffic])],
    fields: &[FieldSet],
    test: &[HostTraffic],
    cfg: &DetectConfig,
    seed: u64,
    plot_dir: Option<&Path>,
) -> Result<Isolated> {
    if cfg.seeds == 0 {
        return Err(Error::Spec {
            key: "detect.seeds".into(),
            reason: "must be at least 1".into(),
        });
    }
    if let Some(r) = cfg.real_shares.iter().find(|r| !(0.0..=1.0).contains(*r)) {
        return Err(Error::Spec {
            key: "detect.real_shares".into(),
            reason: format!("{r} is not in [0, 1]"),
        });
    }
    let real = Examples::from_hosts(real_train);
    let clean = Examples::from_hosts(test);
    if real.is_empty() || clean.is_empty() {
        return Err(Error::Invalid(format!(
            "detect: {} real training flows and {} test flows; both must be non-empty",
            real.len(),
            clean.len()
        )));
    }
    let attacked_hosts = inject(test, &cfg.inject, mix(seed, 0xa77ac));
    let attacked = Examples::from_hosts(&attacked_hosts);
    let syn: Vec<Examples> = synthetic
        .iter()
        .map(|(_, h)| Examples::from_hosts(h))
        .collect();
    let n_train = cfg.max_train_flows.clamp(1, real.len());

    let mut sources = vec![Source {
        name: "real".into(),
        generator: None,
        share: 1.0,
    }];
    let mut failed: Vec<(usize, Error)> = Vec::new();
    let mut gen_failed = vec![false; synthetic.len()];
    for (g, (name, _)) in synthetic.iter().enumerate() {
        for &r in cfg.real_shares.iter().filter(|&&r| r < 1.0) {
            if syn[g].is_empty() && !gen_failed[g] {
                gen_failed[g] = true;
                failed.push((
                    g,
                    Error::Invalid(format!("detect: generator `{name}` has no flows")),
                ));
            }
            sources.push(Source {
                name: source_name(name, r),
                generator: Some(g),
                share: r,
            });
        }
    }

    let t_train = std::time::Instant::now();
    let jobs: Vec<(usize, usize)> = (0..sources.len())
        .flat_map(|s| (0..cfg.seeds).map(move |k| (s, k)))
        .collect();
    // `None` for the sources of a generator that failed above: not trained, place kept.
    let outcomes: Vec<Option<Result<Preds>>> = jobs
        .par_iter()
        .map(|&(s, k)| {
            let src = &sources[s];
            if src.generator.is_some_and(|g| gen_failed[g]) {
                return None;
            }
            let mut rng = StdRng::seed_from_u64(mix(mix(seed, s as u64), k as u64));
            let n_real = ((src.share * n_train as f64).round() as usize).min(n_train);
            let mut train = Examples::default();
            for i in draw(real.len(), n_real, &mut rng) {
                train.push_from(&real, i, 0);
            }
            if let Some(g) = src.generator {
                for i in draw(syn[g].len(), n_train - n_real, &mut rng) {
                    train.push_from(&syn[g], i, real.n_hosts);
                }
            }
            Some(train_and_predict(
                &train,
                &clean,
                &attacked,
                cfg,
                mix(seed ^ 0x5eed, k as u64),
            ))
        })
        .collect();
    let mut per_source: Vec<Vec<Preds>> = (0..sources.len())
        .map(|_| Vec::with_capacity(cfg.seeds))
        .collect();
    for (&(s, _), out) in jobs.iter().zip(outcomes) {
        match (out, sources[s].generator) {
            (None, _) => {}
            (Some(Ok(p)), _) => per_source[s].push(p),
            (Some(Err(e)), None) => return Err(e),
            (Some(Err(e)), Some(g)) => {
                if !gen_failed[g] {
                    gen_failed[g] = true;
                    failed.push((g, e));
                }
            }
        }
    }
    // The sources that get rows: `real` and those of generators that did not fail.
    let kept: Vec<usize> = (0..sources.len())
        .filter(|&s| sources[s].generator.is_none_or(|g| !gen_failed[g]))
        .collect();

    tracing::debug!(
        "detect: {} trainings in {:.1} s",
        jobs.len(),
        t_train.elapsed().as_secs_f64()
    );
    let t_stats = std::time::Instant::now();
    let names: Vec<&str> = kept.iter().map(|&s| sources[s].name.as_str()).collect();
    let by_source: Vec<&[Preds]> = kept.iter().map(|&s| per_source[s].as_slice()).collect();
    let per_source_rows = all_source_rows(
        &names,
        &by_source,
        &clean,
        &attacked,
        cfg,
        mix(seed, 0xb007),
    );
    // Whether source `src` lacks a field detector `d` reads.
    let lacks = |src: &Source, d: usize| {
        src.generator
            .and_then(|g| fields.get(g))
            .is_some_and(|f| !DETECTOR_FIELDS[d].missing_from(*f).is_empty())
    };
    let mut rows: Vec<MetricRow> = per_source_rows.into_iter().flatten().collect();
    rows.retain(|r| {
        let src = sources.iter().find(|s| s.name == r.generator);
        match (src, detector_of(&r.subject)) {
            (Some(src), Some(d)) => !lacks(src, d),
            _ => true,
        }
    });
    tracing::debug!(
        "detect: metrics and bootstrap intervals of {} sources in {:.1} s",
        sources.len(),
        t_stats.elapsed().as_secs_f64()
    );
    if let Some(dir) = plot_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for (d, det) in DETECTORS[..SCORED].iter().enumerate() {
            for attack in ATTACKS {
                let (items, labels) = subject_items(&attacked, attack);
                if !labels.iter().any(|&l| l) || labels.iter().all(|&l| l) {
                    continue;
                }
                let curves: Vec<(String, Vec<(f64, f64)>)> = kept
                    .iter()
                    .map(|&s| (s, &sources[s]))
                    .filter(|(_, src)| src.generator.is_none() || src.share <= 0.0)
                    .filter(|(_, src)| !lacks(src, d))
                    .map(|(s, src)| {
                        let sc: Vec<f64> = items
                            .iter()
                            .map(|&i| per_source[s][0].score[d][i])
                            .collect();
                        (
                            src.name.clone(),
                            plot::thin(&stats::roc_curve(&sc, &labels), 400),
                        )
                    })
                    .collect();
                let path = dir.join(format!("detect_roc_{det}_{attack}.svg"));
                plot::roc_svg(&path, &format!("{det} detector: {attack}"), &curves)?;
            }
        }
    }
    if cfg.ratio_rows {
        let ratios = ratio_rows(&rows);
        rows.extend(ratios);
    }
    Ok(Isolated { rows, failed })
}

/// `ratio_<metric>` rows: for every non-`real` row of a base metric (see [`METRICS`]) whose
/// `(metric, subject)` also has a `real` row, `value / real value` (skipped when the real value
/// is 0). Above 1 is better than real for `macro_f1`, `accuracy`, `auc`, `average_precision`,
/// worse for `mse` and `mae`.
pub fn ratio_rows(rows: &[MetricRow]) -> Vec<MetricRow> {
    rows.iter()
        .filter(|r| {
            r.section == SECTION && r.generator != "real" && METRICS.contains(&r.metric.as_str())
        })
        .filter_map(|r| {
            let base = rows.iter().find(|b| {
                b.section == SECTION
                    && b.generator == "real"
                    && b.metric == r.metric
                    && b.subject == r.subject
            })?;
            (base.value != 0.0).then(|| {
                MetricRow::new(
                    SECTION,
                    &r.generator,
                    &format!("ratio_{}", r.metric),
                    &r.subject,
                    r.value / base.value,
                    r.n as usize,
                )
            })
        })
        .collect()
}

/// The headline table (Markdown): detector × metric × subject × training source, `real`
/// first within each block, with value, 95% CI, seed SD and the synthetic/real ratio. Every
/// number is a [`MetricRow`] value printed with 4 decimals; nothing is computed here.
pub fn headline_table(rows: &[MetricRow]) -> String {
    let mut s = String::from(
        "| detector | metric | subject | source | value | 95% CI | seed SD | ratio to real |\n|---|---|---|---|---|---|---|---|\n",
    );
    let find = |g: &str, m: &str, sub: &str| {
        rows.iter()
            .find(|r| r.section == SECTION && r.generator == g && r.metric == m && r.subject == sub)
    };
    let mut sources: Vec<&str> = vec!["real"];
    for r in rows.iter().filter(|r| r.section == SECTION) {
        if !sources.contains(&r.generator.as_str()) {
            sources.push(&r.generator);
        }
    }
    for det in DETECTORS {
        for metric in METRICS {
            let subjects: Vec<String> = if matches!(metric, "auc" | "average_precision") {
                ATTACKS.iter().map(|a| format!("{det}/{a}")).collect()
            } else if metric == "f1" {
                features::CLASS_NAMES
                    .iter()
                    .map(|c| format!("{det}/{c}"))
                    .collect()
            } else {
                vec![det.to_string()]
            };
            for sub in subjects {
                for g in &sources {
                    let Some(r) = find(g, metric, &sub) else {
                        continue;
                    };
                    let ci = match (r.ci_low, r.ci_high) {
                        (Some(lo), Some(hi)) => format!("[{lo:.4}, {hi:.4}]"),
                        _ => String::new(),
                    };
                    let sd = find(g, &format!("{metric}_seed_sd"), &sub)
                        .map(|x| format!("{:.4}", x.value))
                        .unwrap_or_default();
                    let ratio = find(g, &format!("ratio_{metric}"), &sub)
                        .map(|x| format!("{:.4}", x.value))
                        .unwrap_or_default();
                    s.push_str(&format!(
                        "| {det} | {metric} | {sub} | {g} | {:.4} | {ci} | {sd} | {ratio} |\n",
                        r.value
                    ));
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::flow::parse_time;
    use crate::data::hosts::{host_view, internal_hosts, select};
    use crate::data::read::read_flows;
    use std::io::{BufRead, Write};
    use std::sync::OnceLock;

    const DAY_FILE: &str = "experiments/data/ugr16_2016-04-11_stan92users.csv.gz";

    /// The embedded UGR'16 day, hours 10–12 only, as host traffic; loaded once for the module.
    /// Lines are pre-filtered on their `te` text before parsing (parsing all 1.3 M flows takes
    /// ~18 s in the dev profile, the three hours ~3 s).
    fn day() -> &'static Vec<HostTraffic> {
        static DAY: OnceLock<Vec<HostTraffic>> = OnceLock::new();
        DAY.get_or_init(|| {
            let gz = flate2::read::MultiGzDecoder::new(std::fs::File::open(DAY_FILE).unwrap());
            let mut tmp = tempfile::NamedTempFile::new().unwrap();
            let mut w = std::io::BufWriter::new(tmp.as_file_mut());
            for (i, line) in std::io::BufReader::new(gz).lines().enumerate() {
                let line = line.unwrap();
                if i == 0
                    || ["2016-04-11 10", "2016-04-11 11", "2016-04-11 12"]
                        .iter()
                        .any(|h| line.starts_with(h))
                {
                    writeln!(w, "{line}").unwrap();
                }
            }
            drop(w);
            let flows = read_flows(tmp.path()).unwrap();
            let hosts = internal_hosts(&flows, (42 << 8) | 219, 1);
            host_view(&flows, &hosts)
        })
    }

    fn at(h: i64) -> i64 {
        parse_time("2016-04-11 00:00:00").unwrap() + 3600 * h
    }

    /// Members (10–12 h), holdout hosts (10–12 h) and test hosts (12–13 h): hosts with 100–2000
    /// flows in 10–13 h and no flows outside TCP/UDP/ICMP, dealt round-robin in IP order. The
    /// "other" protocols (GRE/ESP) come from single VPN-like hosts; one such host in the test set
    /// and none among the members makes any two host samples incomparable on macro-F1 (a real
    /// effect that the full experiment reports, but not what these tests check).
    fn split() -> &'static (Vec<HostTraffic>, Vec<HostTraffic>, Vec<HostTraffic>) {
        static SPLIT: OnceLock<(Vec<HostTraffic>, Vec<HostTraffic>, Vec<HostTraffic>)> =
            OnceLock::new();
        SPLIT.get_or_init(|| {
            let ips: Vec<u32> = day()
                .iter()
                .filter(|h| (100..=2000).contains(&h.flows.len()))
                .filter(|h| h.flows.iter().all(|f| features::proto_class(f.pr) < 3))
                .map(|h| h.ip)
                .collect();
            let pick = |k: usize| -> Vec<u32> { ips.iter().copied().skip(k).step_by(3).collect() };
            (
                select(day(), &pick(0), at(10), at(12)),
                select(day(), &pick(1), at(10), at(12)),
                select(day(), &pick(2), at(12), at(13)),
            )
        })
    }

    fn quick_cfg() -> DetectConfig {
        DetectConfig {
            protocol: ProtocolConfig {
                n_trees: 10,
                ..Default::default()
            },
            bytes: BytesConfig {
                epochs: 5,
                ..Default::default()
            },
            real_shares: vec![1.0, 0.0],
            max_train_flows: 3000,
            bootstrap_reps: 30,
            seeds: 2,
            ..Default::default()
        }
    }

    /// One evaluation shared by the tests below: sources `real`, `holdout`, `shuffled`.
    fn shared_rows() -> &'static Vec<MetricRow> {
        static ROWS: OnceLock<Vec<MetricRow>> = OnceLock::new();
        ROWS.get_or_init(|| {
            let (train, holdout, test) = split();
            let shuffled = shuffle_columns(train, 3);
            let t = std::time::Instant::now();
            let rows = evaluate(
                train,
                &[("holdout", holdout), ("shuffled", &shuffled)],
                test,
                &quick_cfg(),
                7,
                None,
            )
            .unwrap();
            eprintln!("evaluate: {:?}\n{}", t.elapsed(), headline_table(&rows));
            rows
        })
    }

    fn get<'a>(rows: &'a [MetricRow], g: &str, m: &str, s: &str) -> &'a MetricRow {
        rows.iter()
            .find(|r| r.generator == g && r.metric == m && r.subject == s)
            .unwrap_or_else(|| panic!("no row {g} {m} {s}"))
    }

    #[test]
    #[ignore = "exploration: prints the split and the headline table"]
    fn explore() {
        let (train, holdout, test) = split();
        let n = |h: &[HostTraffic]| h.iter().map(|h| h.flows.len()).sum::<usize>();
        eprintln!(
            "hosts {} {} {}; flows {} {} {}",
            train.len(),
            holdout.len(),
            test.len(),
            n(train),
            n(holdout),
            n(test)
        );
        for (name, g) in [("train", train), ("holdout", holdout), ("test", test)] {
            let e = Examples::from_hosts(g);
            let mut c = [0usize; N_CLASSES];
            e.proto_y.iter().for_each(|&k| c[k] += 1);
            eprintln!("{name}: classes {c:?}");
        }
        shared_rows();
    }

    fn real_auc(det: &str, attack: &str) -> &'static MetricRow {
        get(shared_rows(), "real", "auc", &format!("{det}/{attack}"))
    }

    #[test]
    fn real_trained_detectors_beat_chance_on_attacks() {
        // Figures of this split and seed (see the report): protocol/blacklist 0.95,
        // protocol/scan 0.74, protocol/spam 0.62, protocol/beacon 0.64, bytes/blacklist 0.68,
        // bytes/spam 0.64. Not asserted because they are at chance, a real limitation of
        // history-based surprise: the body of a burst that repeats one flow shape (scan, SYN
        // flood) is predictable from the burst's own flows (bytes/scan 0.50, bytes/dos 0.55,
        // protocol/dos 0.45), and beacons are ordinary mid-size TLS flows (bytes/beacon 0.49).
        // The host-cluster CI excludes chance where the positives span enough hosts or events:
        // blacklist [0.90, 0.98], scan [0.59, 0.85], bytes/blacklist [0.63, 0.74], bytes/spam
        // [0.59, 0.69]. For the protocol detector, two spam and two beacon events on a handful
        // of hosts are too few to exclude it (spam [0.42, 0.74], beacon [0.34, 0.81], all
        // [0.36, 0.82]): above chance in value, not beyond doubt.
        for (det, attack, min, beyond_chance) in [
            ("protocol", "blacklist", 0.85, true),
            ("protocol", "scan", 0.65, true),
            ("protocol", "spam", 0.55, false),
            ("protocol", "beacon", 0.55, false),
            ("protocol", "all", 0.55, false),
            ("bytes", "blacklist", 0.6, true),
            ("bytes", "spam", 0.58, true),
        ] {
            let r = real_auc(det, attack);
            assert!(
                r.value > min && (!beyond_chance || r.ci_low.unwrap() > 0.5),
                "{det}/{attack}: {r:?}"
            );
        }
        // Every attack subject is present in the one-hour test slice.
        for a in ATTACKS {
            assert!(
                get(
                    shared_rows(),
                    "real",
                    "average_precision",
                    &format!("bytes/{a}")
                )
                .n >= 3,
                "{a}: its rows' n counts the test hosts of both classes"
            );
        }
    }

    #[test]
    #[ignore = "timing of one training at the default size"]
    fn timing_parts() {
        let ips: Vec<u32> = day().iter().map(|h| h.ip).collect();
        let train: Vec<u32> = ips.iter().copied().step_by(3).collect();
        let e = Examples::from_hosts(&select(day(), &train, at(10), at(12)));
        let mut t = Examples::default();
        for i in 0..20_000.min(e.len()) {
            t.push_from(&e, i, 0);
        }
        let cfg = DetectConfig::default();
        let c = std::time::Instant::now();
        let pm = ProtocolModel::fit(&t.proto_x, &t.proto_y, &cfg.protocol, 1).unwrap();
        eprintln!("protocol fit {:?}", c.elapsed());
        let c = std::time::Instant::now();
        pm.predict_proba(&e.proto_x).unwrap();
        eprintln!("protocol predict {} {:?}", e.len(), c.elapsed());
        let c = std::time::Instant::now();
        let bm = BytesModel::fit(&t.bytes_x, &t.bytes_y, &cfg.bytes, 1).unwrap();
        eprintln!("bytes fit {:?} {:?}", c.elapsed(), bm.epoch_loss);
        let c = std::time::Instant::now();
        bm.predict(&e.bytes_x).unwrap();
        eprintln!("bytes predict {:?}", c.elapsed());
    }

    /// One fit of the paper's protocol tree on 50,000 examples of the embedded day (hours 10–12,
    /// every host, evenly spaced), then four more: every tree must be the first.
    /// `cargo test --lib detect::tests::timing_tree -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing of one protocol-tree fit on 50,000 examples"]
    fn timing_tree() {
        let e = Examples::from_hosts(day());
        let k = 50_000.min(e.len());
        let mut t = Examples::default();
        for j in 0..k {
            t.push_from(&e, j * e.len() / k, 0);
        }
        let c = std::time::Instant::now();
        let a = TreeModel::fit(&t.tree_x, &t.proto_y).unwrap();
        let fit = c.elapsed();
        let c = std::time::Instant::now();
        let pred = a.predict(&e.tree_x).unwrap();
        eprintln!(
            "protocol tree: fit on {k} of {} examples {fit:?} ({} leaves, depth {}); predict {} in {:?}",
            e.len(),
            a.n_leaves(),
            a.depth(),
            pred.len(),
            c.elapsed()
        );
        for _ in 0..4 {
            assert_eq!(TreeModel::fit(&t.tree_x, &t.proto_y).unwrap(), a);
        }
    }

    /// Release-mode timing on quickstart-sized data: `cargo test --release --lib
    /// detect::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing: 5 generators x 4 shares with the default settings"]
    fn timing() {
        let ips: Vec<u32> = day().iter().map(|h| h.ip).collect();
        let pick = |k: usize| -> Vec<u32> { ips.iter().copied().skip(k).step_by(3).collect() };
        let train = select(day(), &pick(0), at(10), at(12));
        let other = select(day(), &pick(1), at(10), at(12));
        let test = select(day(), &pick(2), at(12), at(13));
        let n = |h: &[HostTraffic]| h.iter().map(|h| h.flows.len()).sum::<usize>();
        let gens: Vec<Vec<HostTraffic>> = (0..5)
            .map(|k| {
                if k == 0 {
                    other.clone()
                } else {
                    shuffle_columns(&other, k as u64)
                }
            })
            .collect();
        let names = ["holdout", "shuf1", "shuf2", "shuf3", "shuf4"];
        let syn: Vec<(&str, &[HostTraffic])> =
            names.iter().zip(&gens).map(|(a, b)| (*a, &b[..])).collect();
        eprintln!(
            "flows: train {} synthetic {} each, test {}",
            n(&train),
            n(&other),
            n(&test)
        );
        let t = std::time::Instant::now();
        let rows = evaluate(&train, &syn, &test, &DetectConfig::default(), 1, None).unwrap();
        eprintln!(
            "evaluate, default config: {:?}, {} rows",
            t.elapsed(),
            rows.len()
        );
        eprintln!("{}", headline_table(&rows));
    }

    #[test]
    fn holdout_hosts_match_real_on_bytes_and_come_close_on_protocol() {
        let rows = shared_rows();
        for (m, s) in [("mse", "bytes"), ("mae", "bytes")] {
            let (r, h) = (get(rows, "real", m, s), get(rows, "holdout", m, s));
            assert!(
                h.ci_low.unwrap() <= r.ci_high.unwrap() && r.ci_low.unwrap() <= h.ci_high.unwrap(),
                "{m}: real {r:?} holdout {h:?}"
            );
        }
        // The protocol task is more host-specific: training on another 17 hosts gives a few
        // points less (macro-F1 0.85 vs 0.92; the CI covers which hosts are tested, not which
        // trained), yet far above the shuffled control.
        assert!(get(rows, "holdout", "ratio_macro_f1", "protocol").value > 0.9);
        assert!(get(rows, "holdout", "ratio_accuracy", "protocol").value > 0.95);
        assert!(get(rows, "shuffled", "ratio_macro_f1", "protocol").value < 0.5);
    }

    #[test]
    fn column_shuffled_training_is_worse() {
        let rows = shared_rows();
        for m in ["macro_f1", "accuracy"] {
            let (r, s) = (
                get(rows, "real", m, "protocol"),
                get(rows, "shuffled", m, "protocol"),
            );
            assert!(s.ci_high.unwrap() < r.ci_low.unwrap(), "{m}: {r:?} {s:?}");
        }
        for m in ["mse", "mae"] {
            let (r, s) = (
                get(rows, "real", m, "bytes"),
                get(rows, "shuffled", m, "bytes"),
            );
            assert!(s.value > r.ci_high.unwrap(), "{m}: {r:?} {s:?}");
        }
    }

    #[test]
    fn protocol_tree_has_task_rows_only() {
        let rows = shared_rows();
        for g in ["real", "holdout", "shuffled"] {
            for m in ["macro_f1", "accuracy"] {
                let r = get(rows, g, m, "protocol_tree");
                assert!((0.0..=1.0).contains(&r.value), "{g} {m}: {r:?}");
                let (lo, hi) = (r.ci_low.unwrap(), r.ci_high.unwrap());
                assert!((0.0..=1.0).contains(&lo) && lo <= hi && hi <= 1.0, "{r:?}");
                // Counted like the forest's rows: the test hosts.
                assert_eq!(r.n, get(rows, g, m, "protocol").n);
                assert_eq!(get(rows, g, &format!("{m}_seed_sd"), "protocol_tree").n, 2);
                if g != "real" {
                    let ratio = get(rows, g, &format!("ratio_{m}"), "protocol_tree");
                    let real = get(rows, "real", m, "protocol_tree");
                    assert_eq!(ratio.value, r.value / real.value);
                }
            }
            assert!(rows.iter().any(|r| {
                r.generator == g && r.metric == "f1" && r.subject.starts_with("protocol_tree/")
            }));
        }
        // Task rows only: no anomaly rows, no regression rows.
        for r in rows
            .iter()
            .filter(|r| r.subject.starts_with("protocol_tree"))
        {
            let m = r
                .metric
                .trim_start_matches("ratio_")
                .trim_end_matches("_seed_sd");
            assert!(["macro_f1", "accuracy", "f1"].contains(&m), "{r:?}");
        }
        // The previous flow tells the protocol; column-shuffled traffic breaks that link.
        let (r, s) = (
            get(rows, "real", "macro_f1", "protocol_tree"),
            get(rows, "shuffled", "macro_f1", "protocol_tree"),
        );
        assert!(s.value < r.value, "{r:?} {s:?}");
    }

    #[test]
    fn every_table_number_traces_to_a_row() {
        let rows = shared_rows();
        let table = headline_table(rows);
        let known: std::collections::HashSet<String> = rows
            .iter()
            .flat_map(|r| [Some(r.value), r.ci_low, r.ci_high])
            .flatten()
            .map(|v| format!("{v:.4}"))
            .collect();
        let mut numbers = 0;
        for line in table.lines().skip(2) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 10, "{line}");
            for cell in &cells[5..9] {
                for tok in cell
                    .trim_matches(['[', ']'])
                    .split(", ")
                    .filter(|t| !t.is_empty())
                {
                    assert!(known.contains(tok), "{tok} in {line}");
                    numbers += 1;
                }
            }
        }
        // real first within each block; all base rows of all sources are in the table.
        let first = table.lines().nth(2).unwrap();
        assert!(first.contains("| real |"), "{first}");
        let base = rows
            .iter()
            .filter(|r| METRICS.contains(&r.metric.as_str()))
            .count();
        assert_eq!(table.lines().count() - 2, base);
        assert!(numbers > 3 * base);
        // Rows are the documented names only.
        for r in rows {
            assert_eq!(r.section, SECTION);
            assert!(["real", "holdout", "shuffled"].contains(&r.generator.as_str()));
            let m = r
                .metric
                .trim_start_matches("ratio_")
                .trim_end_matches("_seed_sd");
            assert!(METRICS.contains(&m), "{}", r.metric);
        }
    }

    fn fixture(path: &str, ip: &str) -> HostTraffic {
        let flows = read_flows(Path::new(path)).unwrap();
        host_view(&flows, &[crate::data::flow::parse_ipv4(ip).unwrap()]).remove(0)
    }

    #[test]
    fn a_generator_without_flows_fails_alone_and_keeps_its_place() {
        let m = fixture("tests/data/day_1_42.219.145.151.csv", "42.219.145.151");
        let train = vec![m.window(0, at(12))];
        let test = vec![fixture(
            "tests/data/day_1_42.219.152.127.csv",
            "42.219.152.127",
        )];
        let cfg = DetectConfig {
            real_shares: vec![1.0, 0.5, 0.0],
            ..quick_cfg()
        };
        let empty: Vec<HostTraffic> = Vec::new();
        let all_ok = evaluate(
            &train,
            &[("first", &train), ("replay", &train)],
            &test,
            &cfg,
            1,
            None,
        )
        .unwrap();
        let with_empty = [("first", &empty[..]), ("replay", &train[..])];
        let iso = evaluate_isolated(&train, &with_empty, &test, &cfg, 1, None).unwrap();
        assert_eq!(iso.failed.len(), 1);
        assert_eq!(iso.failed[0].0, 0);
        assert!(iso.failed[0].1.to_string().contains("`first` has no flows"));
        // The others' rows are bit for bit those of the run in which `first` succeeded.
        let want: Vec<MetricRow> = all_ok
            .into_iter()
            .filter(|r| r.generator != "first" && !r.generator.starts_with("first+"))
            .collect();
        assert!(want.iter().any(|r| r.generator == "replay"));
        assert_eq!(iso.rows, want);
        // `evaluate` still fails as a whole.
        assert!(evaluate(&train, &with_empty, &test, &cfg, 1, None).is_err());

        // A generator without ToS loses its protocol rows only, its mixes' included; the
        // other rows stay bit for bit.
        let both = [("first", &train[..]), ("replay", &train[..])];
        let no_tos = FieldSet::ALL.without(Field::Stos);
        let iso = evaluate_isolated_fields(&train, &both, &[no_tos], &test, &cfg, 1, None).unwrap();
        let of_first = |r: &MetricRow| r.generator == "first" || r.generator.starts_with("first+");
        let full = all_ok_rows(&train, &test, &cfg);
        let want: Vec<&MetricRow> = full
            .iter()
            .filter(|r| !(of_first(r) && detector_of(&r.subject) == Some(0)))
            .collect();
        assert_eq!(iso.rows.iter().collect::<Vec<_>>(), want);
        assert!(
            iso.rows
                .iter()
                .any(|r| of_first(r) && r.subject.starts_with("bytes"))
        );
        assert!(
            !iso.rows
                .iter()
                .any(|r| of_first(r) && detector_of(&r.subject) == Some(0))
        );
        // The paper's tree reads no ToS: its rows stay.
        assert!(
            iso.rows
                .iter()
                .any(|r| of_first(r) && r.subject == "protocol_tree")
        );
        assert!(
            iso.rows
                .iter()
                .any(|r| r.generator == "replay" && r.subject == "protocol")
        );
    }

    fn all_ok_rows(
        train: &[HostTraffic],
        test: &[HostTraffic],
        cfg: &DetectConfig,
    ) -> Vec<MetricRow> {
        evaluate(
            train,
            &[("first", train), ("replay", train)],
            test,
            cfg,
            1,
            None,
        )
        .unwrap()
    }

    #[test]
    fn replayed_members_match_real_deterministic_with_plots() {
        // Members: host .145.151 before noon; test: host .152.127 (4 blacklist flows).
        let m = fixture("tests/data/day_1_42.219.145.151.csv", "42.219.145.151");
        let noon = at(12);
        let train = vec![m.window(0, noon)];
        let test = vec![fixture(
            "tests/data/day_1_42.219.152.127.csv",
            "42.219.152.127",
        )];
        let cfg = DetectConfig {
            real_shares: vec![1.0, 0.5, 0.0],
            ..quick_cfg()
        };
        let dir = tempfile::tempdir().unwrap();
        let a = evaluate(
            &train,
            &[("replay", &train)],
            &test,
            &cfg,
            1,
            Some(dir.path()),
        )
        .unwrap();
        let b = evaluate(&train, &[("replay", &train)], &test, &cfg, 1, None).unwrap();
        assert_eq!(a, b);
        let gens: Vec<&str> = a.iter().map(|r| r.generator.as_str()).collect();
        assert_eq!(gens[0], "real");
        assert!(gens.contains(&"replay+real0.5") && gens.contains(&"replay"));
        // A generator that replays the members is the real source up to the sampling of the
        // training examples: the two differ by less than their spread over seeds. (One test
        // host: the host-cluster bootstrap has nothing to resample, so no row has a CI.)
        assert!(a.iter().all(|r| r.ci_low.is_none() && r.ci_high.is_none()));
        for (m, s) in [
            ("macro_f1", "protocol"),
            ("accuracy", "protocol"),
            ("mse", "bytes"),
            ("mae", "bytes"),
        ] {
            let (r, g) = (get(&a, "real", m, s), get(&a, "replay", m, s));
            let sd = |g: &str| get(&a, g, &format!("{m}_seed_sd"), s).value;
            assert!(
                (g.value - r.value).abs() <= 2.0 * (sd("real") + sd("replay")),
                "{m}: real {r:?} replay {g:?}"
            );
            assert_eq!(
                get(&a, "replay", &format!("ratio_{m}"), s).value,
                g.value / r.value
            );
            assert_eq!(get(&a, "real", &format!("{m}_seed_sd"), s).n, 2);
        }
        // `n` counts the resampled hosts: the one test host, in each class.
        assert_eq!(get(&a, "real", "auc", "bytes/blacklist").n, 2);
        for det in &DETECTORS[..SCORED] {
            for attack in ATTACKS {
                let p = dir.path().join(format!("detect_roc_{det}_{attack}.svg"));
                let svg = std::fs::read_to_string(&p).unwrap();
                assert!(
                    svg.contains("real") && svg.contains("replay"),
                    "{}",
                    p.display()
                );
            }
        }
        // A different seed changes the injected attacks and the models.
        let c = evaluate(
            &train,
            &[("replay", &train)],
            &test,
            &DetectConfig {
                real_shares: vec![1.0],
                ..cfg.clone()
            },
            2,
            None,
        )
        .unwrap();
        assert_ne!(
            get(&c, "real", "auc", "bytes/all").value,
            get(&a, "real", "auc", "bytes/all").value
        );
        // Bad settings are errors, not panics.
        assert!(
            evaluate(
                &train,
                &[],
                &test,
                &DetectConfig {
                    seeds: 0,
                    ..cfg.clone()
                },
                1,
                None
            )
            .is_err()
        );
        assert!(
            evaluate(
                &train,
                &[],
                &test,
                &DetectConfig {
                    real_shares: vec![1.5],
                    ..cfg.clone()
                },
                1,
                None
            )
            .is_err()
        );
        assert!(evaluate(&[], &[], &test, &cfg, 1, None).is_err());
    }

    #[test]
    fn f1_accuracy_errors_and_names_by_hand() {
        // truth 0 0 1 1 2, pred 0 1 1 1 0: F1(0) = 2/(2+2) = 0.5, F1(1) = 4/(2+3) = 0.8,
        // F1(2) = 0 -> macro 1.3/3; accuracy 3/5.
        // truth 0 0 1 1 2, pred 0 1 1 1 0; bytes errors 0.5, 0, -2, 1, 0.
        let (y, p) = ([0, 0, 1, 1, 2], [0, 1, 1, 1, 0]);
        let (yb, pb) = ([1.0, 2.0, 3.0, 0.0, 5.0], [1.5, 2.0, 1.0, 1.0, 5.0]);
        let t = TaskCounts::count((&y, &p), Some((&yb, &pb)), &[0, 1, 2, 3, 4]);
        assert!((t.macro_f1() - 1.3 / 3.0).abs() < 1e-12 && (t.accuracy() - 0.6).abs() < 1e-12);
        // The same classes one at a time; class 3 occurs nowhere.
        assert_eq!(t.class_f1(0), Some(0.5));
        assert_eq!(t.class_f1(1), Some(0.8));
        assert_eq!(t.class_f1(2), Some(0.0));
        assert_eq!(t.class_f1(3), None);
        assert!((t.mse() - (0.25 + 4.0 + 1.0) / 5.0).abs() < 1e-12);
        assert!((t.mae() - 3.5 / 5.0).abs() < 1e-12);
        let v = t.values();
        assert_eq!(v[..N_CLASSES], [Some(0.5), Some(0.8), Some(0.0), None]);
        assert_eq!(
            v[N_CLASSES..],
            [Some(t.macro_f1()), Some(0.6), Some(t.mse()), Some(t.mae())]
        );
        // Resampled indices count with multiplicity: items 2, 2, 4 -> classes {1, 2, 0}.
        let t = TaskCounts::count((&y, &p), Some((&yb, &pb)), &[2, 2, 4]);
        assert!((t.macro_f1() - (0.0 + 1.0 + 0.0) / 3.0).abs() < 1e-12);
        assert!((t.accuracy() - 2.0 / 3.0).abs() < 1e-12);
        assert!((t.mse() - 8.0 / 3.0).abs() < 1e-12 && (t.mae() - 4.0 / 3.0).abs() < 1e-12);
        // Without bytes errors (the tree's counts): the same class figures, no MSE or MAE.
        let u = TaskCounts::count((&y, &p), None, &[0, 1, 2, 3, 4]).values();
        assert_eq!(u[..N_CLASSES + 2], v[..N_CLASSES + 2]);
        assert_eq!(u[N_CLASSES + 2..], [None, None]);
        assert_eq!(source_name("stan", 1.0), "real");
        assert_eq!(source_name("stan", 0.1), "stan+real0.1");
        assert_eq!(source_name("stan", 0.01), "stan+real0.01");
        assert_eq!(source_name("stan", 0.0), "stan");
        assert_eq!(attack_role("scan", Label::InjectedScan), Some(true));
        assert_eq!(attack_role("scan", Label::InjectedDos), None);
        assert_eq!(attack_role("dos", Label::Background), Some(false));
        assert_eq!(attack_role("all", Label::Blacklist), Some(true));
        assert_eq!(attack_role("blacklist", Label::Blacklist), Some(true));
    }

    /// The one-pass weighted AUC and AP equal `stats::roc_auc` and `stats::average_precision`
    /// on the materialised resample bit for bit (ties, zero weights, and random resamples of
    /// tie-heavy scores), and a one-class sample has none.
    #[test]
    fn weighted_auc_ap_equal_stats_on_materialised_resamples() {
        use rand::SeedableRng;
        let check = |scores: &[f64], labels: &[bool], w: &[u32]| {
            let r = Ranked::new(scores, labels);
            let (s, l): (Vec<f64>, Vec<bool>) = (0..scores.len())
                .flat_map(|i| std::iter::repeat_n((scores[i], labels[i]), w[i] as usize))
                .unzip();
            let (p_all, n_all) = class_totals(labels, w);
            assert_eq!(p_all as usize, l.iter().filter(|&&x| x).count());
            assert_eq!((p_all + n_all) as usize, l.len());
            let (auc, ap) = r.auc_ap(w, p_all, n_all).unwrap();
            assert_eq!(
                auc.to_bits(),
                stats::roc_auc(&s, &l).unwrap().to_bits(),
                "{w:?}"
            );
            let want = stats::average_precision(&s, &l).unwrap();
            assert_eq!(ap.to_bits(), want.to_bits(), "{w:?}");
        };
        let scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.2, 0.9, 0.4];
        let labels = [false, false, true, true, true, false, false, true];
        for w in [
            [1u32; 8],
            [2, 0, 1, 3, 0, 1, 1, 0],
            [0, 1, 0, 2, 1, 0, 3, 1],
        ] {
            check(&scores, &labels, &w);
        }
        let w = [1, 1, 0, 0, 0, 1, 1, 0];
        let (p_all, n_all) = class_totals(&labels, &w);
        assert_eq!((p_all, n_all), (0, 4));
        assert!(
            Ranked::new(&scores, &labels)
                .auc_ap(&w, p_all, n_all)
                .is_none()
        );
        // Random resamples of 300 items with heavy ties (20 distinct scores), rare positives.
        let mut rng = StdRng::seed_from_u64(7);
        let scores: Vec<f64> = (0..300).map(|_| rng.random_range(0..20) as f64).collect();
        let labels: Vec<bool> = (0..300).map(|_| rng.random_bool(0.1)).collect();
        for _ in 0..20 {
            let mut w = vec![0u32; 300];
            for _ in 0..300 {
                w[rng.random_range(0..300)] += 1;
            }
            check(&scores, &labels, &w);
        }
    }

    /// A figure that varies by host: the CIs are as wide as the host-to-host spread, far wider
    /// than a bootstrap over the same flows, and the same input and seed give the same figures.
    #[test]
    fn cis_resample_test_hosts_not_flows() {
        // Task: 12 hosts of 50 flows; every prediction is right on the even hosts and wrong on
        // the odd ones, so accuracy is 0.5 with a host-level SD of 0.5 / sqrt(12) = 0.14 (a
        // flow bootstrap sees 0.5 / sqrt(600) = 0.02).
        let (hosts, per) = (12, 50);
        let n = hosts * per;
        let clean = Examples {
            proto_y: vec![0; n],
            bytes_y: vec![0.0; n],
            label: vec![Label::Background; n],
            host: (0..n).map(|i| i / per).collect(),
            n_hosts: hosts,
            ..Default::default()
        };
        let class: Vec<usize> = clean.host.iter().map(|h| h % 2).collect();
        let preds = [Preds {
            tree_class: class.clone(),
            class,
            log_bytes: vec![0.0; n],
            score: [Vec::new(), Vec::new()],
        }];
        let by_source: Vec<&[Preds]> = vec![&preds];
        let task = task_stats(&by_source, &clean, 400, 5);
        let (acc, ci, _) = task[0][N_CLASSES + 1].clone().unwrap();
        assert_eq!(acc, 0.5);
        // The tree's block: the same predictions, the same resamples, the same figures.
        assert_eq!(
            task[0][COUNT_STATS..COUNT_STATS + N_CLASSES + 2],
            task[0][..N_CLASSES + 2]
        );
        assert_eq!(task[0][COUNT_STATS + N_CLASSES + 2..], [None, None]);
        let (lo, hi) = ci.unwrap();
        let mut flow = Vec::new();
        stats::bootstrap_resamples(n, 400, 5, |idx| {
            flow.push(TaskCounts::new(&clean, &preds[0], idx).accuracy());
        });
        let (flo, fhi) = stats::percentile_ci(&mut flow, 0.95).unwrap();
        assert!(
            hi - lo > 0.4 && hi - lo > 4.0 * (fhi - flo),
            "{lo} {hi} vs {flo} {fhi}"
        );
        assert_eq!(task, task_stats(&by_source, &clean, 400, 5));

        // Attack subject: 8 hosts of 50 background flows (score 0.5) and two scans of 50 flows,
        // on host 0 (score 1, always detected) and host 1 (score 0, never): AUC 0.5. With the
        // positives stratified by host, a replicate draws two scans: both on host 0 (AUC 1),
        // both on host 1 (AUC 0) or one each (0.5), a quarter of the replicates at each end,
        // so the 95% CI is [0, 1]. A flow bootstrap would give about 0.5 ± 0.1.
        let mut attacked = Examples {
            n_hosts: 8,
            ..Default::default()
        };
        let mut score = Vec::new();
        for h in 0..8 {
            for _ in 0..50 {
                attacked.label.push(Label::Background);
                attacked.host.push(h);
                score.push(0.5);
            }
        }
        for h in 0..2 {
            for _ in 0..50 {
                attacked.label.push(Label::InjectedScan);
                attacked.host.push(h);
                score.push(if h == 0 { 1.0 } else { 0.0 });
            }
        }
        let preds = [Preds {
            class: Vec::new(),
            log_bytes: Vec::new(),
            tree_class: Vec::new(),
            score: [score.clone(), score],
        }];
        let by_source: Vec<&[Preds]> = vec![&preds];
        let (n, out) = subject_stats(&by_source, &attacked, "scan", 400, 5);
        // `n` counts the resampled hosts: 8 with background flows, 2 with scans.
        assert_eq!(n, 10);
        for fd in &out[0] {
            let [(auc, ci, _), _] = fd.clone().unwrap();
            assert_eq!((auc, ci), (0.5, Some((0.0, 1.0))));
        }
        assert_eq!(out, subject_stats(&by_source, &attacked, "scan", 400, 5).1);
    }

    #[test]
    fn ratio_rows_divide_by_real() {
        let rows = vec![
            MetricRow::new(SECTION, "real", "mse", "bytes", 2.0, 10),
            MetricRow::new(SECTION, "stan", "mse", "bytes", 3.0, 10),
            MetricRow::new(SECTION, "stan", "mse_seed_sd", "bytes", 0.1, 2),
            MetricRow::new(SECTION, "stan", "auc", "bytes/dos", 0.7, 10),
        ];
        let r = ratio_rows(&rows);
        assert_eq!(
            r,
            vec![MetricRow::new(
                SECTION,
                "stan",
                "ratio_mse",
                "bytes",
                1.5,
                10
            )]
        );
    }

    #[test]
    fn config_defaults_and_strict_keys() {
        let c: DetectConfig = toml::from_str("seeds = 3\n[protocol]\nn_trees = 5\n").unwrap();
        assert_eq!(c.seeds, 3);
        assert_eq!(c.protocol.n_trees, 5);
        assert_eq!(c.protocol.max_depth, 10);
        assert_eq!(c.real_shares, vec![1.0, 0.1, 0.01, 0.0]);
        assert_eq!(c.max_train_flows, 20_000);
        assert_eq!(c.bytes.device, "cpu");
        assert_eq!(c.inject, InjectConfig::default());
        assert!(toml::from_str::<DetectConfig>("seed = 3").is_err());
        assert!(toml::from_str::<DetectConfig>("[bytes]\nlayers = 3").is_err());
        let round: DetectConfig =
            toml::from_str(&toml::to_string(&DetectConfig::default()).unwrap()).unwrap();
        assert_eq!(round, DetectConfig::default());
    }
}
