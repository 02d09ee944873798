//! Fidelity of synthetic traffic: how close synthetic flows are to real traffic, per
//! attribute, in their dependencies, in time, to a classifier, and against domain rules.
//!
//! Real and synthetic traffic have the same type (`&[HostTraffic]`); every metric is computed on
//! the decoded host view ([`view::FlowColumns`]): direction is `flow.sa == host.ip`, own/remote
//! port and remote IP follow from it. Synthetic own IPs are pseudonyms, so IP **identities** are
//! only compared in the raw `sa`/`da`/`remote_ip` JSD rows (and kept out of the means); the
//! IP-agnostic popularity-rank JSD (`jsd_rank`, and NetShare's `netshare_jsd` on `sa`/`da`) is
//! the comparable IP metric.
//!
//! # Two references ([`Reference`])
//!
//! The same rows are computed against two real references, each in its own section:
//!
//! * `fidelity` ([`Reference::Test`]): the **test traffic of held-out hosts** (the run's
//!   non-members in the generation window). It asks whether a generator learned traffic in
//!   general rather than its training hosts; `holdout` (real traffic of yet other hosts) is its
//!   floor, far from 0 because hosts differ.
//! * `fidelity_train` ([`Reference::Train`]): the **members' own training traffic**, what every
//!   generator was fitted on. This is the reference of the literature (NetShare, SDMetrics,
//!   FlowChronicle compare synthetic with training data), so these rows, above all the
//!   `netshare_*` ones, are the ones to set beside published figures. `copy` replays exactly
//!   this traffic under pseudonymous own IPs, so its distances are 0 (its IP rank rows are only
//!   ~0: a flow between two member hosts keeps the other member's real address, which splits
//!   that address's count), and its `detection_auc` falls below 0.5 (copies of the test hosts
//!   train the other class; [`detect`]).
//!
//! **Window of the training reference.** The reference is the members' traffic in the
//! *training* window, as fitted, not cut to the generation window. Without a time split (the
//! default, and every shipped spec) the two windows are the same, so the generators' roll-outs
//! and the reference cover the same clock hours. With `split.test_start` the generators roll
//! out over the test window, which is disjoint from the training window: cut to it, the
//! reference would be empty, and `copy` (which replays the training window) would lose its
//! floor. So the reference stays the training traffic, and the rows tied to the clock (`tod`,
//! `hourly_profile_jsd`, `flows_per_hour_emd`, whose hours are the reference's) then also
//! measure the distance between the two windows for every generator but `copy`; read those in
//! `fidelity`. NetShare's `ts` is re-based on each side and compares the two time profiles'
//! shapes.
//!
//! The two read together: a generator much closer to its training traffic than to held-out
//! hosts (by more than real hosts differ, `holdout`'s distance in `fidelity`) fits its members
//! rather than traffic in general; whether that leaks is the privacy section's question.
//!
//! # Rows emitted by [`evaluate_against`] (in this order, in the reference's section)
//!
//! | metric | subjects | definition |
//! |---|---|---|
//! | `jsd`, `jsd_distance` | `pr sp dp flg stos sa da own_port remote_port remote_ip` | categorical JS over the union of categories |
//! | `jsd_rank`, `jsd_rank_distance` | `sa da remote_ip` | JS of popularity-rank vectors (sorted counts, zero-padded; NetShare) |
//! | `jsd`, `jsd_distance` | `td byt pkt gap tod` | JS of histograms with `bins` common equal-width bins over the union's range, on the analysis scale |
//! | `emd` | `td byt pkt gap tod` | W1 on the analysis scale divided by the real sample's range on that scale |
//! | `emd_raw` | `td byt pkt gap tod` | W1 in raw units (s, bytes, packets, s, s) — NetShare's unnormalised EMD |
//! | `ks` | `td byt pkt gap tod` | two-sample KS statistic D |
//! | `jsd_mean` | `all`, `categorical`, `continuous` | mean `jsd` over `pr sp dp flg stos own_port remote_port` (+ the continuous subjects for `all`) |
//! | `emd_mean`, `ks_mean` | `all` | mean over the continuous subjects |
//! | `netshare_jsd` | `sa da sp dp pr` | NetShare's JSD: IP popularity-rank, 65,536 port bins, 256 protocol bins ([`netshare`]) |
//! | `netshare_emd` | `ts td pkt byt` | NetShare's raw W1: re-based timestamps (s), duration (s), packets, bytes ([`netshare`]) |
//! | `corr_diff` | `all` | mean abs difference of Pearson correlations over [`CORR_COLUMNS`] pairs |
//! | `cramers_v_diff` | `all` | mean abs difference of Cramér's V over [`CRAMER_COLUMNS`] pairs |
//! | `bpp_emd` | `TCP UDP ICMP other` | W1 of bytes per packet (bytes) within the protocol group, when both sides have it |
//! | `autocorr_diff` | `byt gap` | mean over lags 1..=`max_lag` of the abs difference of the host-weighted ACFs |
//! | `lag1_autocorr` | `byt gap` | the synthetic side's lag-1 ACF ([`reference_rows`] give the real one) |
//! | `hourly_profile_jsd` | `all` | JS of the pooled 24-bin hour-of-day flow histogram |
//! | `flows_per_hour_emd` | `host_hour` | W1 of `ln(1+flows)` per (host, clock hour) over the real data's hours, zeros included |
//! | `flows_per_host_emd` | `all` | W1 of `ln(1+flows)` per host |
//! | `flows_ratio` | `all` | mean flows per synthetic host-hour / the same of the real hosts, host-cluster bootstrap CI ([`volume`]) |
//! | `detection_auc` | `rf` | real-vs-synthetic random-forest AUC, split by host, with a host-cluster bootstrap CI ([`detect`]) |
//! | `rule_violation` | rule names, `any` | share of flows violating each rule ([`rules`]) |
//!
//! [`reference_rows`] gives the reference's own rows (generator `real`): its `lag1_autocorr`
//! and its `rule_violation`.
//!
//! # Generators whose output lacks a field
//!
//! A synthetic file may lack TCP flags (`flg`) or ToS (`stos`), e.g. NetShare's layout
//! ([`crate::data::fields`]); its flows then carry filler values. [`evaluate_fields`] writes no
//! row computed from an absent field ([`row_needs`]): not its `jsd`/`jsd_distance` rows, not
//! `jsd_mean` over `all` or `categorical` (a mean over fewer subjects would not be comparable
//! with the other generators'; `continuous` stays), not `cramers_v_diff` (its columns include
//! both), not `detection_auc` (the classifier uses both, [`detect::FIELDS`]), and not the rules
//! that read flags nor `any` ([`rules::Rule::needs`]). Every other row is written as usual, and
//! the run writes a marker row per absent field instead ([`crate::run`]).
//!
//! # Conventions
//! * **JS**: `jsd` is the divergence in **nats** (NetShare's `jensenshannon(p,q)**2`, in
//!   `[0, ln 2]`); `jsd_distance` is `sqrt(jsd / ln 2)`, the distance in **bits** (in `[0, 1]`).
//!   No smoothing.
//! * **Continuous JS bins** are fitted on the **union** of real and synthetic values, so both
//!   histograms share edges. STAN's own script instead cuts each series into 304 bins over its
//!   *own* range (different edges per side) with add-one smoothing; its numbers are not
//!   comparable with ours.
//! * **Analysis scale**: `ln(1+x)` for `td`, `byt`, `pkt`, `gap`; seconds for `tod`.
//! * **EMD**: `emd` is normalised by the real sample's range on the analysis scale — the
//!   denominator depends on real data only, so it is comparable across generators and in
//!   "fraction of the real range" units; `emd_raw` is the raw-unit W1.
//! * **gap**: per-host inter-arrival time of consecutive flows' `te` (s, 1-s resolution).
//! * **tod**: second of day of `te` (UTC).
//! * **ACF**: per host, standard estimator with the host's own mean; hosts with a constant
//!   series or at most `max_lag` values are skipped; averaged over hosts weighted by series
//!   length. Series: `ln(1+byt)` in flow order, `ln(1+gap)` (heavy tails would let a few huge
//!   gaps dominate a raw-scale ACF).
//! * **NetShare's rows** (`netshare_jsd`, `netshare_emd`) follow NetShare's scoring code to
//!   the letter, including its JS base (divergence in nats, the same as `jsd`) and its raw,
//!   unnormalised EMD; [`netshare`] documents every convention and the field mapping.
//! * **n**: real + synthetic flows for two-sample rows, test flows for `detection_auc`,
//!   flows checked for rules, host-hours / hosts for the activity rows.
//! * **CI**: `detection_auc` has one, a host-cluster bootstrap ([`crate::stats`]): strata
//!   real and synthetic, clusters the hosts of each side's test half, since the flows of one
//!   host are not independent trials; so has `flows_ratio` (hosts resampled on each side).
//!   The other rows are point values.

pub mod detect;
pub mod dist;
pub mod netshare;
pub mod plots;
pub mod rules;
pub mod view;
pub mod volume;

pub use plots::plot_marginals;

use crate::data::fields::{Field, FieldSet};
use crate::data::hosts::HostTraffic;
use crate::error::{Error, Result};
use crate::report::metrics::MetricRow;
use crate::stats::pearson;
use dist::{
    Counts, acf, counts, cramers_v, js_distance_bits, jsd_categorical, jsd_continuous, jsd_rank,
    ks_statistic, wasserstein1,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use view::{FlowColumns, log1p_all};

/// Section of the rows against the held-out hosts' test traffic ([`Reference::Test`]).
pub const SECTION: &str = "fidelity";
/// Section of the rows against the members' training traffic ([`Reference::Train`]).
pub const SECTION_TRAIN: &str = "fidelity_train";

/// The real traffic synthetic traffic is compared with; each has its own section so that a
/// reader never mixes figures of the two (module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// Test traffic of held-out hosts: section `fidelity`, floor `holdout`.
    Test,
    /// The members' own training traffic: section `fidelity_train`, floor `copy` (0).
    Train,
}

impl Reference {
    /// The `metrics.csv` section of the rows against this reference.
    pub fn section(self) -> &'static str {
        match self {
            Reference::Test => SECTION,
            Reference::Train => SECTION_TRAIN,
        }
    }
}

/// Settings of the fidelity evaluation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FidelityConfig {
    /// Common equal-width bins for the continuous-field JSD (default 50: fine enough to see
    /// shape on ~10⁵ flows, coarse enough that real-vs-real stays near 0 on ~10⁴).
    pub bins: usize,
    /// Largest ACF lag for `autocorr_diff` (default 5).
    pub max_lag: usize,
    /// Ports kept as their own category in the Cramér's V columns; the rest become "other"
    /// (default 20, chosen by real frequency). Keeps χ² from degenerating on 65,536 levels.
    pub top_ports: usize,
    /// Run the detection classifier (default true).
    pub detection: bool,
    /// Trees of the detection forest (default 30).
    pub detection_trees: usize,
    /// Maximum depth of each tree (default 10).
    pub detection_depth: u16,
    /// Flows per side at most, training and test half together (default 5,000).
    pub detection_max_flows_per_side: usize,
    /// Share of each side's flows in the training half, whose hosts are then kept out of the
    /// test half (default 0.7; [`detect`]).
    pub detection_train_fraction: f64,
    /// Host-cluster bootstrap resamples for the CI (default 200).
    pub bootstrap_reps: usize,
    /// CI level (default 0.95).
    pub ci_level: f64,
    /// Whether the runner should call [`plot_marginals`] (default true; `evaluate` never plots).
    pub plots: bool,
}

impl Default for FidelityConfig {
    fn default() -> Self {
        FidelityConfig {
            bins: 50,
            max_lag: 5,
            top_ports: 20,
            detection: true,
            detection_trees: 30,
            detection_depth: 10,
            detection_max_flows_per_side: 5000,
            detection_train_fraction: 0.7,
            bootstrap_reps: 200,
            ci_level: 0.95,
            plots: true,
        }
    }
}

impl FidelityConfig {
    fn validate(&self) -> Result<()> {
        let bad = |key: &str, reason: &str| {
            Err(Error::Spec {
                key: format!("fidelity.{key}"),
                reason: reason.into(),
            })
        };
        if self.bins == 0 {
            return bad("bins", "must be at least 1");
        }
        if self.max_lag == 0 {
            return bad("max_lag", "must be at least 1");
        }
        if !(self.detection_train_fraction > 0.0 && self.detection_train_fraction < 1.0) {
            return bad("detection_train_fraction", "must be in (0, 1)");
        }
        if !(self.ci_level > 0.0 && self.ci_level < 1.0) {
            return bad("ci_level", "must be in (0, 1)");
        }
        Ok(())
    }
}

/// Categorical attributes (name, code per flow).
fn categorical_columns(c: &FlowColumns) -> Vec<(&'static str, Counts)> {
    vec![
        ("pr", counts(c.pr.iter().map(|&v| v as u64))),
        ("sp", counts(c.sp.iter().map(|&v| v as u64))),
        ("dp", counts(c.dp.iter().map(|&v| v as u64))),
        ("flg", counts(c.flg.iter().map(|&v| v as u64))),
        ("stos", counts(c.stos.iter().map(|&v| v as u64))),
        ("sa", counts(c.sa.iter().map(|&v| v as u64))),
        ("da", counts(c.da.iter().map(|&v| v as u64))),
        ("own_port", counts(c.own_port.iter().map(|&v| v as u64))),
        (
            "remote_port",
            counts(c.remote_port.iter().map(|&v| v as u64)),
        ),
        ("remote_ip", counts(c.remote_ip.iter().map(|&v| v as u64))),
    ]
}

/// Categorical subjects whose JSD enters `jsd_mean` (IP identities excluded: see module doc).
const MEAN_CATEGORICAL: [&str; 7] = ["pr", "sp", "dp", "flg", "stos", "own_port", "remote_port"];
const RANK_SUBJECTS: [&str; 3] = ["sa", "da", "remote_ip"];
/// Continuous subjects, in emission order.
pub const CONTINUOUS: [&str; 5] = ["td", "byt", "pkt", "gap", "tod"];

/// Raw continuous sample of `name`.
fn raw_continuous<'a>(c: &'a FlowColumns, name: &str) -> &'a [f64] {
    match name {
        "td" => &c.td,
        "byt" => &c.byt,
        "pkt" => &c.pkt,
        "gap" => &c.gap,
        _ => &c.tod,
    }
}

/// Analysis scale of a continuous field: `ln(1+x)` except `tod` (seconds).
fn analysis_scale(name: &str, x: &[f64]) -> Vec<f64> {
    if name == "tod" {
        x.to_vec()
    } else {
        log1p_all(x)
    }
}

/// Numeric columns of `corr_diff`.
pub const CORR_COLUMNS: [&str; 7] = [
    "log_byt",
    "log_pkt",
    "log_td",
    "own_port",
    "remote_port",
    "outgoing",
    "tod",
];

fn corr_columns(c: &FlowColumns) -> Vec<Vec<f64>> {
    vec![
        log1p_all(&c.byt),
        log1p_all(&c.pkt),
        log1p_all(&c.td),
        c.own_port.iter().map(|&p| p as f64).collect(),
        c.remote_port.iter().map(|&p| p as f64).collect(),
        c.outgoing.clone(),
        c.tod.clone(),
    ]
}

/// Pearson correlation matrix (upper triangle, row-major); a pair with a constant column is
/// taken as 0 (no measurable linear association), as is a non-finite correlation.
fn corr_upper(cols: &[Vec<f64>]) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 0..cols.len() {
        for j in i + 1..cols.len() {
            // A NaN (e.g. a generator's NaN duration) also counts as "no association".
            out.push(
                pearson(&cols[i], &cols[j])
                    .filter(|r| r.is_finite())
                    .unwrap_or(0.0),
            );
        }
    }
    out
}

/// Categorical columns of `cramers_v_diff`.
pub const CRAMER_COLUMNS: [&str; 7] = [
    "pr",
    "flg",
    "stos",
    "outgoing",
    "own_port_top",
    "remote_port_top",
    "hour",
];

/// The `k` most frequent values of `ports` (ties: lower port first).
fn top_ports(ports: &[u16], k: usize) -> Vec<u16> {
    let c = counts(ports.iter().map(|&p| p as u64));
    let mut v: Vec<(u64, u64)> = c.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().take(k).map(|(p, _)| p as u16).collect()
}

/// Category codes of the Cramér columns; ports outside `tops` map to 65,536 ("other").
fn cramer_columns(c: &FlowColumns, own_top: &[u16], remote_top: &[u16]) -> Vec<Vec<u32>> {
    let bucket = |p: u16, tops: &[u16]| if tops.contains(&p) { p as u32 } else { 65_536 };
    vec![
        c.pr.iter().map(|&v| v as u32).collect(),
        c.flg.iter().map(|&v| v as u32).collect(),
        c.stos.iter().map(|&v| v as u32).collect(),
        c.outgoing.iter().map(|&v| v as u32).collect(),
        c.own_port.iter().map(|&p| bucket(p, own_top)).collect(),
        c.remote_port
            .iter()
            .map(|&p| bucket(p, remote_top))
            .collect(),
        c.tod.iter().map(|&t| (t / 3600.0) as u32).collect(),
    ]
}

fn contingency(a: &[u32], b: &[u32]) -> Vec<Vec<f64>> {
    let index = |x: &[u32]| {
        let mut m: BTreeMap<u32, usize> = BTreeMap::new();
        for &v in x {
            m.entry(v).or_default();
        }
        for (i, v) in m.values_mut().enumerate() {
            *v = i;
        }
        m
    };
    let (ia, ib) = (index(a), index(b));
    let mut t = vec![vec![0.0; ib.len()]; ia.len()];
    for (x, y) in a.iter().zip(b) {
        t[ia[x]][ib[y]] += 1.0;
    }
    t
}

/// Cramér's V for every column pair (upper triangle); undefined (a constant column) = 0.
fn cramer_upper(cols: &[Vec<u32>]) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 0..cols.len() {
        for j in i + 1..cols.len() {
            out.push(cramers_v(&contingency(&cols[i], &cols[j])).unwrap_or(0.0));
        }
    }
    out
}

fn mean_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len().max(1) as f64
}

/// Protocol group of a flow for `bpp_emd`.
const BPP_GROUPS: [&str; 4] = ["TCP", "UDP", "ICMP", "other"];
fn bpp_group(pr: u8) -> usize {
    match pr {
        6 => 0,
        17 => 1,
        1 => 2,
        _ => 3,
    }
}

fn bytes_per_packet(c: &FlowColumns, group: usize) -> Vec<f64> {
    (0..c.len())
        .filter(|&i| bpp_group(c.pr[i]) == group)
        .map(|i| c.byt[i] / c.pkt[i].max(1.0))
        .collect()
}

/// Host-weighted ACF at lags `1..=max_lag` of a per-host series (`ranges` into `x`). `None`
/// when no host has a usable series.
pub fn host_acf(x: &[f64], ranges: &[(usize, usize)], max_lag: usize) -> Option<Vec<f64>> {
    let mut acc = vec![0.0; max_lag];
    let mut w = 0.0;
    for &(s, e) in ranges {
        if let Some(r) = acf(&x[s..e], max_lag) {
            let n = (e - s) as f64;
            for (a, v) in acc.iter_mut().zip(r) {
                *a += n * v;
            }
            w += n;
        }
    }
    (w > 0.0).then(|| acc.into_iter().map(|a| a / w).collect())
}

fn acf_series(c: &FlowColumns, which: &str, max_lag: usize) -> Option<Vec<f64>> {
    if which == "byt" {
        host_acf(&log1p_all(&c.byt), &c.host_ranges, max_lag)
    } else {
        host_acf(&log1p_all(&c.gap), &c.gap_ranges, max_lag)
    }
}

/// `ln(1+flows)` per (host, absolute clock hour) for hours `h0..=h1`, zeros included.
fn flows_per_host_hour(c: &FlowColumns, h0: i64, h1: i64) -> Vec<f64> {
    let span = (h1 - h0 + 1).max(0) as usize;
    let mut out = Vec::with_capacity(c.host_ranges.len() * span);
    for &(s, e) in &c.host_ranges {
        let mut k = vec![0u64; span];
        for &h in &c.abs_hour[s..e] {
            if h >= h0 && h <= h1 {
                k[(h - h0) as usize] += 1;
            }
        }
        out.extend(k.into_iter().map(|v| (v as f64).ln_1p()));
    }
    out
}

/// Descriptive rows of one traffic set (use with generator `real` for the reference values):
/// `lag1_autocorr` for `byt` and `gap` (see the ACF convention in the module doc).
pub fn describe_rows(
    generator: &str,
    hosts: &[HostTraffic],
    cfg: &FidelityConfig,
) -> Vec<MetricRow> {
    describe_cols(SECTION, generator, &FlowColumns::new(hosts), cfg)
}

fn describe_cols(
    section: &str,
    generator: &str,
    c: &FlowColumns,
    cfg: &FidelityConfig,
) -> Vec<MetricRow> {
    let mut rows = Vec::new();
    for (which, n) in [("byt", c.len()), ("gap", c.gap.len())] {
        if let Some(a) = acf_series(c, which, cfg.max_lag.max(1)) {
            rows.push(MetricRow::new(
                section,
                generator,
                "lag1_autocorr",
                which,
                a[0],
                n,
            ));
        }
    }
    rows
}

/// Validity-rule rows of any traffic: `rule_violation` per rule (share of all flows) and subject
/// `any` (share violating at least one rule); `n` = flows checked. Empty input gives no rows.
pub fn rule_rows(generator: &str, hosts: &[HostTraffic]) -> Vec<MetricRow> {
    rule_rows_in(SECTION, generator, hosts)
}

fn rule_rows_in(section: &str, generator: &str, hosts: &[HostTraffic]) -> Vec<MetricRow> {
    let (v, any, n) = rules::violation_counts(hosts);
    if n == 0 {
        return Vec::new();
    }
    let share = |k: u64| k as f64 / n as f64;
    let mut rows: Vec<MetricRow> = rules::RULES
        .iter()
        .zip(v)
        .map(|(r, k)| {
            MetricRow::new(
                section,
                generator,
                "rule_violation",
                r.name(),
                share(k),
                n as usize,
            )
        })
        .collect();
    rows.push(MetricRow::new(
        section,
        generator,
        "rule_violation",
        "any",
        share(any),
        n as usize,
    ));
    rows
}

/// The reference's own rows, generator `real`, in the reference's section: [`describe_rows`]
/// and [`rule_rows`] of `real`, the values a generator's `lag1_autocorr` and
/// `rule_violation` are read against.
pub fn reference_rows(
    reference: Reference,
    real: &[HostTraffic],
    cfg: &FidelityConfig,
) -> Vec<MetricRow> {
    let section = reference.section();
    let mut rows = describe_cols(section, "real", &FlowColumns::new(real), cfg);
    rows.extend(rule_rows_in(section, "real", real));
    rows
}

/// [`evaluate_against`] the held-out hosts' test traffic (section `fidelity`).
pub fn evaluate(
    generator: &str,
    real: &[HostTraffic],
    synth: &[HostTraffic],
    cfg: &FidelityConfig,
    seed: u64,
) -> Result<Vec<MetricRow>> {
    evaluate_against(Reference::Test, generator, real, synth, cfg, seed)
}

/// The optional flow fields the fidelity rows read (flags and ToS); a generator lacking one
/// loses the rows that need it ([`row_needs`]).
pub const FIELDS: FieldSet = FieldSet::of(&[Field::Flg, Field::Stos]);

/// The optional flow fields row `(metric, subject)` is computed from (module doc: generators
/// whose output lacks a field).
pub fn row_needs(metric: &str, subject: &str) -> FieldSet {
    let fields_of = |columns: &[&str]| {
        columns
            .iter()
            .filter_map(|c| Field::parse(c))
            .fold(FieldSet::NONE, FieldSet::with)
    };
    match (metric, subject) {
        ("jsd" | "jsd_distance", s) => fields_of(&[s]),
        ("jsd_mean", "all" | "categorical") => fields_of(&MEAN_CATEGORICAL),
        ("cramers_v_diff", _) => fields_of(&CRAMER_COLUMNS),
        ("detection_auc", _) => detect::FIELDS,
        ("rule_violation", "any") => rules::RULES
            .iter()
            .fold(FieldSet::NONE, |m, r| m.union(r.needs())),
        ("rule_violation", s) => rules::RULES
            .iter()
            .find(|r| r.name() == s)
            .map_or(FieldSet::NONE, |r| r.needs()),
        _ => FieldSet::NONE,
    }
}

/// [`evaluate_against`] a generator whose output carries only the optional fields `fields`:
/// the rows that need another one are not written (and `detection_auc` not computed), see the
/// module doc.
pub fn evaluate_fields(
    reference: Reference,
    generator: &str,
    real: &[HostTraffic],
    synth: &[HostTraffic],
    fields: FieldSet,
    cfg: &FidelityConfig,
    seed: u64,
) -> Result<Vec<MetricRow>> {
    let mut rows = evaluate_impl(reference, generator, real, synth, fields, cfg, seed)?;
    rows.retain(|r| {
        row_needs(&r.metric, &r.subject)
            .missing_from(fields)
            .is_empty()
    });
    Ok(rows)
}

/// All fidelity rows for one generator against the real traffic `real` of `reference`
/// (section = `reference.section()`, generator = `generator`), in the order of the table in
/// the module doc, followed by the rule rows. The computation does not depend on the
/// reference, only the section does. Deterministic in `(real, synth, cfg, seed)`. Errors on
/// an invalid config or an empty side.
pub fn evaluate_against(
    reference: Reference,
    generator: &str,
    real: &[HostTraffic],
    synth: &[HostTraffic],
    cfg: &FidelityConfig,
    seed: u64,
) -> Result<Vec<MetricRow>> {
    evaluate_impl(reference, generator, real, synth, FieldSet::ALL, cfg, seed)
}

fn evaluate_impl(
    reference: Reference,
    generator: &str,
    real: &[HostTraffic],
    synth: &[HostTraffic],
    fields: FieldSet,
    cfg: &FidelityConfig,
    seed: u64,
) -> Result<Vec<MetricRow>> {
    cfg.validate()?;
    let section = reference.section();
    let r = FlowColumns::new(real);
    let s = FlowColumns::new(synth);
    if r.is_empty() || s.is_empty() {
        return Err(Error::Invalid(format!(
            "fidelity of `{generator}`: real ({}) and synthetic ({}) flows must both be non-empty",
            r.len(),
            s.len()
        )));
    }
    let n2 = r.len() + s.len();
    let row = |metric: &str, subject: &str, value: f64, n: usize| {
        MetricRow::new(section, generator, metric, subject, value, n)
    };
    let mut rows = Vec::new();
    let mut jsd_of: BTreeMap<&str, f64> = BTreeMap::new();

    // Marginals: categorical, rank, continuous.
    let (cr, cs) = (categorical_columns(&r), categorical_columns(&s));
    for ((name, a), (_, b)) in cr.iter().zip(&cs) {
        let d = jsd_categorical(a, b);
        jsd_of.insert(name, d);
        rows.push(row("jsd", name, d, n2));
        rows.push(row("jsd_distance", name, js_distance_bits(d), n2));
    }
    for name in RANK_SUBJECTS {
        let a = &cr.iter().find(|(k, _)| *k == name).map(|(_, c)| c);
        let b = &cs.iter().find(|(k, _)| *k == name).map(|(_, c)| c);
        if let (Some(a), Some(b)) = (a, b) {
            let d = jsd_rank(a, b);
            rows.push(row("jsd_rank", name, d, n2));
            rows.push(row("jsd_rank_distance", name, js_distance_bits(d), n2));
        }
    }
    let (mut emds, mut kss) = (Vec::new(), Vec::new());
    for name in CONTINUOUS {
        let (ra, sa) = (raw_continuous(&r, name), raw_continuous(&s, name));
        if ra.is_empty() || sa.is_empty() {
            continue; // e.g. no gaps when every host has one flow
        }
        let n = ra.len() + sa.len();
        let (ta, tb) = (analysis_scale(name, ra), analysis_scale(name, sa));
        let d = jsd_continuous(&ta, &tb, cfg.bins);
        jsd_of.insert(name, d);
        rows.push(row("jsd", name, d, n));
        rows.push(row("jsd_distance", name, js_distance_bits(d), n));
        let (lo, hi) = ta
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                (l.min(x), h.max(x))
            });
        let range = if hi > lo { hi - lo } else { 1.0 };
        if let (Some(w), Some(wr), Some(k)) = (
            wasserstein1(&ta, &tb),
            wasserstein1(ra, sa),
            ks_statistic(ra, sa),
        ) {
            rows.push(row("emd", name, w / range, n));
            rows.push(row("emd_raw", name, wr, n));
            rows.push(row("ks", name, k, n));
            emds.push(w / range);
            kss.push(k);
        }
    }
    let mean_of = |names: &[&str]| {
        let v: Vec<f64> = names
            .iter()
            .filter_map(|k| jsd_of.get(k).copied())
            .collect();
        crate::stats::mean(&v)
    };
    let all: Vec<&str> = MEAN_CATEGORICAL
        .iter()
        .chain(CONTINUOUS.iter())
        .copied()
        .collect();
    rows.push(row("jsd_mean", "all", mean_of(&all), n2));
    rows.push(row(
        "jsd_mean",
        "categorical",
        mean_of(&MEAN_CATEGORICAL),
        n2,
    ));
    rows.push(row("jsd_mean", "continuous", mean_of(&CONTINUOUS), n2));
    if !emds.is_empty() {
        rows.push(row("emd_mean", "all", crate::stats::mean(&emds), n2));
        rows.push(row("ks_mean", "all", crate::stats::mean(&kss), n2));
    }
    rows.extend(netshare::rows(section, generator, &r, &s));

    // Dependencies.
    rows.push(row(
        "corr_diff",
        "all",
        mean_abs_diff(
            &corr_upper(&corr_columns(&r)),
            &corr_upper(&corr_columns(&s)),
        ),
        n2,
    ));
    let own_top = top_ports(&r.own_port, cfg.top_ports);
    let rem_top = top_ports(&r.remote_port, cfg.top_ports);
    rows.push(row(
        "cramers_v_diff",
        "all",
        mean_abs_diff(
            &cramer_upper(&cramer_columns(&r, &own_top, &rem_top)),
            &cramer_upper(&cramer_columns(&s, &own_top, &rem_top)),
        ),
        n2,
    ));
    for (g, name) in BPP_GROUPS.iter().enumerate() {
        let (a, b) = (bytes_per_packet(&r, g), bytes_per_packet(&s, g));
        if let Some(w) = wasserstein1(&a, &b) {
            rows.push(row("bpp_emd", name, w, a.len() + b.len()));
        }
    }

    // Temporal.
    for (which, n) in [("byt", n2), ("gap", r.gap.len() + s.gap.len())] {
        if let (Some(a), Some(b)) = (
            acf_series(&r, which, cfg.max_lag),
            acf_series(&s, which, cfg.max_lag),
        ) {
            rows.push(row("autocorr_diff", which, mean_abs_diff(&a, &b), n));
        }
    }
    rows.extend(describe_cols(section, generator, &s, cfg));
    let hod = |c: &FlowColumns| {
        let mut h = vec![0.0; 24];
        for &t in &c.tod {
            h[((t / 3600.0) as usize).min(23)] += 1.0;
        }
        h
    };
    rows.push(row(
        "hourly_profile_jsd",
        "all",
        dist::js_divergence(&hod(&r), &hod(&s)),
        n2,
    ));
    let (h0, h1) = r
        .abs_hour
        .iter()
        .fold((i64::MAX, i64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
    let (fa, fb) = (
        flows_per_host_hour(&r, h0, h1),
        flows_per_host_hour(&s, h0, h1),
    );
    if let Some(w) = wasserstein1(&fa, &fb) {
        rows.push(row(
            "flows_per_hour_emd",
            "host_hour",
            w,
            fa.len() + fb.len(),
        ));
    }
    let per_host = |c: &FlowColumns| -> Vec<f64> {
        c.host_ranges
            .iter()
            .map(|&(s, e)| ((e - s) as f64).ln_1p())
            .collect()
    };
    let (pa, pb) = (per_host(&r), per_host(&s));
    if let Some(w) = wasserstein1(&pa, &pb) {
        rows.push(row("flows_per_host_emd", "all", w, pa.len() + pb.len()));
    }

    // Detection.
    if cfg.detection && detect::FIELDS.missing_from(fields).is_empty() {
        let p = detect::DetectionParams {
            trees: cfg.detection_trees,
            depth: cfg.detection_depth,
            max_flows_per_side: cfg.detection_max_flows_per_side,
            train_fraction: cfg.detection_train_fraction,
            bootstrap_reps: cfg.bootstrap_reps,
            ci_level: cfg.ci_level,
        };
        match detect::detection_auc(&r, &s, &p, seed) {
            Ok(d) => {
                // `n` counts the test hosts that the interval resamples.
                let mut x = row("detection_auc", "rf", d.auc, d.n_hosts);
                if let Some((lo, hi)) = d.ci {
                    x = x.with_ci(lo, hi);
                }
                rows.push(x);
            }
            Err(e) => tracing::warn!("fidelity of `{generator}`: no detection score: {e}"),
        }
    }

    rows.extend(rule_rows_in(section, generator, synth));
    Ok(rows)
}

#[cfg(test)]
mod tests;
