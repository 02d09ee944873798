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
//!   pooled). M' and N' stay fixed: resampling their hosts would need every row's nearest
//!   record per host. So the interval does not cover how much two real host groups differ;
//!   a share away from 0.5 is judged against `holdout`'s share in the same run, which
//!   measures exactly that difference with a generator that saw no member.
//! * `exact_copy_share` (`member` / `nonmember`): share of S' rows whose [`RowKey`] occurs in M'
//!   (resp. N').
//! * `dcr_p5`: 5th percentile (linear interpolation) of `d_1(s, M')` (resp. N').
//! * `nndr`: 5th percentile of `(d_1 + 1e-8) / (d_2 + 1e-8)` of S' rows against M' (resp. N');
//!   values near 0 mean "much closer to one record than to any other".
//! * `ip_replay`, `prefix24_replay`, `ip_port_replay`: of the remote IPs (/24 prefixes,
//!   (remote IP, remote port) pairs) seen in M' but not in N' (subject `member`), the share that
//!   appears anywhere in the synthetic traffic; and the same for N'-only identifiers (subject
//!   `nonmember`). A generator that does not replay identifiers gives equal shares.

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
    // Identifier replay.
    let ips = |r: &Rows| -> BTreeSet<u32> { r.remote_ip.iter().copied().collect() };
    let pre = |r: &Rows| -> BTreeSet<u32> { r.remote_ip.iter().map(|ip| ip >> 8).collect() };
    let pairs = |r: &Rows| -> BTreeSet<(u32, u16)> {
        r.remote_ip
            .iter()
            .copied()
            .zip(r.remote_port.iter().copied())
            .collect()
    };
    let s_ip: HashSet<u32> = synth_all.remote_ip.iter().copied().collect();
    let s_pre: HashSet<u32> = synth_all.remote_ip.iter().map(|ip| ip >> 8).collect();
    let s_pair: HashSet<(u32, u16)> = synth_all
        .remote_ip
        .iter()
        .copied()
        .zip(synth_all.remote_port.iter().copied())
        .collect();
    let (m_ip, n_ip) = (ips(mem), ips(non));
    let (m_pre, n_pre) = (pre(mem), pre(non));
    let (m_pair, n_pair) = (pairs(mem), pairs(non));
    let mut push = |metric: &str, subject: &str, (v, k): (f64, usize)| {
        out.push(MetricRow::new(SECTION, generator, metric, subject, v, k));
    };
    push(
        "ip_replay",
        "member",
        replay_share(&only_in(&m_ip, &n_ip), &s_ip),
    );
    push(
        "ip_replay",
        "nonmember",
        replay_share(&only_in(&n_ip, &m_ip), &s_ip),
    );
    push(
        "prefix24_replay",
        "member",
        replay_share(&only_in(&m_pre, &n_pre), &s_pre),
    );
    push(
        "prefix24_replay",
        "nonmember",
        replay_share(&only_in(&n_pre, &m_pre), &s_pre),
    );
    push(
        "ip_port_replay",
        "member",
        replay_share(&only_in(&m_pair, &n_pair), &s_pair),
    );
    push(
        "ip_port_replay",
        "nonmember",
        replay_share(&only_in(&n_pair, &m_pair), &s_pair),
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
    fn replay_share_counts_only_set() {
        let only: BTreeSet<u32> = [1, 2, 3, 4].into_iter().collect();
        let synth: HashSet<u32> = [2, 4, 9].into_iter().collect();
        assert_eq!(replay_share(&only, &synth), (0.5, 4));
        let a: BTreeSet<u32> = [1, 2, 3].into_iter().collect();
        let b: BTreeSet<u32> = [2].into_iter().collect();
        assert_eq!(only_in(&a, &b).into_iter().collect::<Vec<_>>(), vec![1, 3]);
    }
}
