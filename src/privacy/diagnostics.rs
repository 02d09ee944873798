//! Nearest-record diagnostics and identifier replay (overfitting diagnostics, not privacy
//! evidence: datasets that pass DCR tests can still be vulnerable to membership inference).
//!
//! Inputs are equal-size member and non-member row samples M', N' (equal size is what makes
//! 0.5 the ideal DCR share) and a synthetic sample S'.
//!
//! * `dcr_share` (subject `member`): share of S' rows with `d_1(s, M') < d_1(s, N')`, ties
//!   counted half (unbiased under the null; NetFlow has many exact ties); ideal 0.5. A tie is
//!   an exact tie at any distance, not only at 0: both distances are recomputed in the
//!   original feature coordinates ([`NnIndex`]), not taken from the two trees' rotations.
//!   Its CI is a host-cluster bootstrap over the **synthetic** hosts of S' (their rows are
//!   pooled). M' and N' stay fixed. Resampling their hosts *independently* of the synthetic
//!   hosts was measured and rejected (revision 2696eb4, reverted; quickstart seed 1): it
//!   breaks the link between a generator's output and the member hosts it learned from. A
//!   resample leaves out about a third of the member hosts, so the synthetic rows modelled on
//!   them lose their nearest member, and the replicates sit below the statistic: `copy`
//!   (share 0.896) got the interval [0.590, 0.890], which excludes its own value, and STAN
//!   [0.454, 0.714] around 0.620. A valid interval over the member hosts would resample each
//!   member host together with the synthetic traffic it shaped, which needs a host mapping
//!   that a generator's output does not carry. So the interval does not cover how much two
//!   real host groups differ; a share away from 0.5 is judged against `holdout`'s share in
//!   the same run, which measures exactly that difference with a generator that saw no
//!   member.
//! * `exact_copy_share` (`member` / `nonmember`): share of S' rows whose [`RowKey`] occurs in M'
//!   (resp. N').
//! * `dcr_p5`: 5th percentile (linear interpolation) of `d_1(s, M')` (resp. N').
//! * `nndr`: 5th percentile of `(d_1 + 1e-8) / (d_2 + 1e-8)` of S' rows against M' (resp. N');
//!   values near 0 mean "much closer to one record than to any other".
//! * `ip_replay`, `prefix24_replay`, `ip_port_replay`: of the remote IPs (/24 prefixes,
//!   (remote IP, remote port) pairs) seen in M' but not in N' (subject `member`), the share that
//!   appears anywhere in the synthetic traffic; and the same for N'-only identifiers (subject
//!   `nonmember`). A generator that does not replay identifiers gives equal shares. Their CI
//!   is a host-cluster bootstrap over the hosts of that side ([`replay_row`]): which
//!   identifiers a side contributes depends on which hosts it happens to hold, and one busy
//!   host can contribute hundreds. The other side's identifier set and the synthetic traffic
//!   stay fixed; `n` counts the side's hosts that contribute an identifier.

use super::features::{Feature, RowKey, Rows};
use super::nn::NnIndex;
use crate::error::Result;
use crate::report::metrics::MetricRow;
use crate::stats::{Clusters, cluster_bootstrap_ci, quantile_sorted};
use std::collections::{BTreeSet, HashSet};
use std::hash::Hash;

const SECTION: &str = "privacy";

/// Tie-split share of `a < b` (ties count 1/2) over the indices `idx`.
pub fn closer_share(a: &[f64], b: &[f64], idx: impl Iterator<Item = usize>) -> Option<f64> {
    let mut n = 0usize;
    let mut s = 0.0;
    for i in idx {
        n += 1;
        if a[i] < b[i] {
            s += 1.0;
        } else if a[i] == b[i] {
            s += 0.5;
        }
    }
    (n > 0).then(|| s / n as f64)
}

fn p5(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, 0.05)
}

/// Share of `only` that occurs in `synth`, and `|only|`.
pub fn replay_share<T: Eq + Hash + Ord>(only: &BTreeSet<T>, synth: &HashSet<T>) -> (f64, usize) {
    if only.is_empty() {
        return (f64::NAN, 0);
    }
    let hit = only.iter().filter(|x| synth.contains(*x)).count();
    (hit as f64 / only.len() as f64, only.len())
}

fn only_in<T: Ord + Clone>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> BTreeSet<T> {
    a.difference(b).cloned().collect()
}

/// The replay row of `metric`/`subject`: of the identifiers of `side` (one list per row,
/// `host[i]` the row's host) absent from `other`, the share that occurs in `synth`, with a
/// host-cluster bootstrap interval over `side`'s hosts.
///
/// The point value is [`replay_share`] of the distinct identifiers. For the interval each
/// (host, identifier) pair is an item of its host's cluster, weighted by one over the number
/// of the side's hosts that hold the identifier, so that the full sample gives exactly the
/// distinct-identifier share and a resample counts an identifier once per drawn host that
/// holds it.
///
/// ```
/// use std::collections::{BTreeSet, HashSet};
/// use stan::privacy::diagnostics::replay_row;
/// // Host 0 holds identifiers 1 and 2, host 1 holds 2 and 3; identifier 3 is on the other side.
/// let (host, ids) = (vec![0, 0, 1, 1], vec![1u32, 2, 2, 3]);
/// let other: BTreeSet<u32> = [3].into_iter().collect();
/// let synth: HashSet<u32> = [2].into_iter().collect();
/// let row = replay_row("g", "ip_replay", "member", &host, &ids, &other, &synth, 200, 1);
/// assert_eq!(row.value, 0.5); // of {1, 2}, 2 is replayed
/// assert_eq!(row.n, 2);
/// assert!(row.ci_low.unwrap() <= 0.5 && row.ci_high.unwrap() >= 0.5);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn replay_row<T: Eq + Hash + Ord + Clone>(
    generator: &str,
    metric: &str,
    subject: &str,
    host: &[usize],
    ids: &[T],
    other: &BTreeSet<T>,
    synth: &HashSet<T>,
    reps: usize,
    seed: u64,
) -> MetricRow {
    let mine: BTreeSet<T> = ids.iter().cloned().collect();
    let (value, _) = replay_share(&only_in(&mine, other), synth);
    // Distinct (host, identifier) pairs of identifiers only this side holds.
    let pairs: BTreeSet<(usize, &T)> = host
        .iter()
        .copied()
        .zip(ids)
        .filter(|(_, id)| !other.contains(*id))
        .collect();
    let mut holders: std::collections::BTreeMap<&T, usize> = Default::default();
    for (_, id) in &pairs {
        *holders.entry(*id).or_default() += 1;
    }
    let cluster: Vec<usize> = pairs.iter().map(|(h, _)| *h).collect();
    let weight: Vec<f64> = pairs
        .iter()
        .map(|(_, id)| 1.0 / holders[id] as f64)
        .collect();
    let hit: Vec<bool> = pairs.iter().map(|(_, id)| synth.contains(*id)).collect();
    let clusters = Clusters::new(&vec![0; cluster.len()], &cluster);
    let mut row = MetricRow::new(
        SECTION,
        generator,
        metric,
        subject,
        value,
        clusters.n_clusters(),
    );
    let share = |idx: &[usize]| {
        let (mut w, mut h) = (0.0, 0.0);
        for &i in idx {
            w += weight[i];
            if hit[i] {
                h += weight[i];
            }
        }
        (w > 0.0).then(|| h / w)
    };
    if let Some((lo, hi)) = cluster_bootstrap_ci(&clusters, reps, 0.95, seed, share) {
        row = row.with_ci(lo, hi);
    }
    row
}

/// The `member` and `nonmember` rows of one replay metric; `ids` are the identifiers of the
/// member and non-member rows, `k` makes the two rows' bootstrap seeds the metric's own.
fn replay_pair<T: Eq + Hash + Ord + Clone>(
    out: &mut Vec<MetricRow>,
    generator: &str,
    metric: &str,
    (mem, non, reps, seed): (&Rows, &Rows, usize, u64),
    ids: (&[T], &[T]),
    synth: &HashSet<T>,
    k: u64,
) {
    let m: BTreeSet<T> = ids.0.iter().cloned().collect();
    let n: BTreeSet<T> = ids.1.iter().cloned().collect();
    let s = |j: u64| seed ^ (2 * k + j).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    out.push(replay_row(
        generator,
        metric,
        "member",
        &mem.host,
        ids.0,
        &n,
        synth,
        reps,
        s(0),
    ));
    out.push(replay_row(
        generator,
        metric,
        "nonmember",
        &non.host,
        ids.1,
        &m,
        synth,
        reps,
        s(1),
    ));
}

/// All diagnostic rows, in a fixed order.
pub fn rows(
    generator: &str,
    mem: &Rows,
    non: &Rows,
    synth_sample: &Rows,
    synth_all: &Rows,
    reps: usize,
    seed: u64,
) -> Result<Vec<MetricRow>> {
    let synth_keys = &synth_sample.keys;
    let synth_hosts = synth_sample.host.clone();
    let synth_sample: &[Feature] = &synth_sample.feats;
    let mut out = Vec::new();
    let im = NnIndex::new(&mem.feats)?;
    let inn = NnIndex::new(&non.feats)?;
    let dm = im.nearest_k(synth_sample, 2);
    let dn = inn.nearest_k(synth_sample, 2);
    let n = synth_sample.len();
    let dm1: Vec<f64> = dm.iter().map(|d| d[0]).collect();
    let dn1: Vec<f64> = dn.iter().map(|d| d[0]).collect();
    if let Some(share) = closer_share(&dm1, &dn1, 0..n) {
        let by_host = Clusters::new(&vec![0; n], &synth_hosts);
        // `n` counts the resampled synthetic hosts.
        let mut row = MetricRow::new(
            SECTION,
            generator,
            "dcr_share",
            "member",
            share,
            by_host.n_clusters(),
        );
        if let Some((lo, hi)) = cluster_bootstrap_ci(&by_host, reps, 0.95, seed, |idx| {
            closer_share(&dm1, &dn1, idx.iter().copied())
        }) {
            row = row.with_ci(lo, hi);
        }
        out.push(row);
    }
    let km: HashSet<RowKey> = mem.keys.iter().copied().collect();
    let kn: HashSet<RowKey> = non.keys.iter().copied().collect();
    for (subject, keys, d) in [("member", &km, &dm), ("nonmember", &kn, &dn)] {
        let copies = synth_keys.iter().filter(|k| keys.contains(k)).count();
        out.push(MetricRow::new(
            SECTION,
            generator,
            "exact_copy_share",
            subject,
            copies as f64 / n.max(1) as f64,
            n,
        ));
        out.push(MetricRow::new(
            SECTION,
            generator,
            "dcr_p5",
            subject,
            p5(d.iter().map(|x| x[0]).collect()),
            n,
        ));
        let ratio: Vec<f64> = d.iter().map(|x| (x[0] + 1e-8) / (x[1] + 1e-8)).collect();
        out.push(MetricRow::new(
            SECTION,
            generator,
            "nndr",
            subject,
            p5(ratio),
            n,
        ));
    }
    // Identifier replay: remote IPs, their /24 prefixes, (IP, port) pairs; each side's
    // interval resamples that side's hosts (its own seed per row).
    let prefixes = |r: &Rows| -> Vec<u32> { r.remote_ip.iter().map(|ip| ip >> 8).collect() };
    let pairs = |r: &Rows| -> Vec<(u32, u16)> {
        r.remote_ip
            .iter()
            .copied()
            .zip(r.remote_port.iter().copied())
            .collect()
    };
    let s_ip: HashSet<u32> = synth_all.remote_ip.iter().copied().collect();
    let s_pre: HashSet<u32> = prefixes(synth_all).into_iter().collect();
    let s_pair: HashSet<(u32, u16)> = pairs(synth_all).into_iter().collect();
    let sides = (mem, non, reps, seed);
    replay_pair(
        &mut out,
        generator,
        "ip_replay",
        sides,
        (&mem.remote_ip, &non.remote_ip),
        &s_ip,
        1,
    );
    let (m_pre, n_pre) = (prefixes(mem), prefixes(non));
    replay_pair(
        &mut out,
        generator,
        "prefix24_replay",
        sides,
        (&m_pre, &n_pre),
        &s_pre,
        2,
    );
    let (m_pair, n_pair) = (pairs(mem), pairs(non));
    replay_pair(
        &mut out,
        generator,
        "ip_port_replay",
        sides,
        (&m_pair, &n_pair),
        &s_pair,
        3,
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closer_share_splits_ties() {
        // 1 closer, 1 tie, 1 farther -> (1 + 0.5) / 3
        let s = closer_share(&[0.0, 1.0, 2.0], &[1.0, 1.0, 1.0], 0..3).unwrap();
        assert!((s - 0.5).abs() < 1e-15);
        assert_eq!(closer_share(&[0.0], &[1.0], 0..1), Some(1.0));
        assert_eq!(closer_share(&[], &[], 0..0), None);
    }

    #[test]
    fn dcr_share_counts_exact_nonzero_ties_half() {
        // Every synthetic row is exactly as far from its nearest member row as from its
        // nearest non-member row, at a non-zero distance, and the two k-d trees rotate
        // differently (nn::mirror_ties): each is a tie, so the share is exactly 1/2.
        let (s, a, b) = super::super::nn::mirror_ties(400, 3);
        let rows_of = |f: Vec<Feature>| Rows {
            host: (0..f.len()).map(|i| i % 8).collect(),
            feats: f,
            ..Rows::default()
        };
        let (mem, non, syn) = (rows_of(a), rows_of(b), rows_of(s));
        let out = rows("g", &mem, &non, &syn, &syn, 20, 1).unwrap();
        let share = out
            .iter()
            .find(|r| r.metric == "dcr_share")
            .expect("dcr_share row");
        assert_eq!(share.value, 0.5);
        assert_eq!((share.ci_low, share.ci_high), (Some(0.5), Some(0.5)));
        let p5 = |subject: &str| {
            out.iter()
                .find(|r| r.metric == "dcr_p5" && r.subject == subject)
                .map(|r| r.value)
        };
        assert!(p5("member").is_some_and(|v| v > 0.0));
        assert_eq!(p5("member"), p5("nonmember"));
    }

    #[test]
    fn replay_row_keeps_the_distinct_share_and_resamples_hosts() {
        // Host 0 holds 10 identifiers, all replayed; hosts 1-4 hold 10 each, none replayed;
        // identifier 0 is shared by hosts 0 and 1 and identifier 99 is on the other side.
        let mut host = Vec::new();
        let mut ids = Vec::new();
        for h in 0..5usize {
            for j in 0..10u32 {
                host.push(h);
                ids.push(h as u32 * 10 + j);
            }
        }
        host.push(1);
        ids.push(0);
        host.push(2);
        ids.push(99);
        let other: BTreeSet<u32> = [99].into_iter().collect();
        let synth: HashSet<u32> = (0..10).collect();
        let row = replay_row(
            "g",
            "ip_replay",
            "member",
            &host,
            &ids,
            &other,
            &synth,
            400,
            7,
        );
        let mine: BTreeSet<u32> = ids.iter().copied().collect();
        assert_eq!(row.value, replay_share(&only_in(&mine, &other), &synth).0);
        assert_eq!(row.value, 10.0 / 50.0);
        assert_eq!(row.n, 5);
        // Whether host 0 is drawn decides the share: a wide interval around 0.2.
        let (lo, hi) = (row.ci_low.unwrap(), row.ci_high.unwrap());
        assert!(lo <= 0.02 && hi >= 0.35, "[{lo}, {hi}]");
    }

    #[test]
    fn replay_share_counts_only_set() {
        let only: BTreeSet<u32> = [1, 2, 3, 4].into_iter().collect();
        let synth: HashSet<u32> = [2, 4, 9].into_iter().collect();
        assert_eq!(replay_share(&only, &synth), (0.5, 4));
        let a: BTreeSet<u32> = [1, 2, 3].into_iter().collect();
        let b: BTreeSet<u32> = [2].into_iter().collect();
        assert_eq!(only_in(&a, &b).into_iter().collect::<Vec<_>>(), vec![1, 3]);
    }
}
