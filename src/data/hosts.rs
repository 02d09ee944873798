//! Host view of traffic and the member / non-member / time splits.
//!
//! A host's traffic is every flow where it is `sa` or `da` (STAN's per-user extraction). A flow
//! between two modelled hosts belongs to both.

use super::flow::Flow;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// One host's flows in time order (stable: ties keep file order).
#[derive(Clone, Debug, PartialEq)]
pub struct HostTraffic {
    /// The host's own IP (real for real data, a pseudonym for synthetic data).
    pub ip: u32,
    pub flows: Vec<Flow>,
}

impl HostTraffic {
    /// Flows with `start <= te < end`.
    pub fn window(&self, start: i64, end: i64) -> HostTraffic {
        HostTraffic {
            ip: self.ip,
            flows: self
                .flows
                .iter()
                .filter(|f| f.te >= start && f.te < end)
                .copied()
                .collect(),
        }
    }
}

/// Group flows by host. `hosts` lists the modelled internal hosts; the output has one entry per
/// listed host, in the given order, even if it has no flows.
pub fn host_view(flows: &[Flow], hosts: &[u32]) -> Vec<HostTraffic> {
    let idx: HashMap<u32, usize> = hosts.iter().enumerate().map(|(i, &h)| (h, i)).collect();
    let mut out: Vec<HostTraffic> = hosts
        .iter()
        .map(|&ip| HostTraffic {
            ip,
            flows: Vec::new(),
        })
        .collect();
    for f in flows {
        if let Some(&i) = idx.get(&f.sa) {
            out[i].flows.push(*f);
        }
        if f.da != f.sa
            && let Some(&i) = idx.get(&f.da)
        {
            out[i].flows.push(*f);
        }
    }
    for h in &mut out {
        h.flows.sort_by_key(|f| f.te);
    }
    out
}

/// Hosts that appear as `sa` or `da` with the given /16 prefix (e.g. `42.219.`), sorted, with
/// at least `min_flows` flows.
pub fn internal_hosts(flows: &[Flow], prefix16: u32, min_flows: usize) -> Vec<u32> {
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for f in flows {
        for ip in [f.sa, f.da] {
            if ip >> 16 == prefix16 {
                *counts.entry(ip).or_default() += 1;
            }
        }
    }
    let mut v: Vec<u32> = counts
        .into_iter()
        .filter(|&(_, c)| c >= min_flows)
        .map(|(ip, _)| ip)
        .collect();
    v.sort_unstable();
    v
}

/// The role of each host in an experiment.
///
/// * `members`: the generators' training hosts (their train-window flows are the training set);
/// * `nonmembers`: held-out hosts; their traffic is the real test set for fidelity and
///   downstream tasks, and the non-member candidates of membership inference;
/// * `holdout`: hosts whose real flows the `holdout` generator replays (the ideal generator);
///   disjoint from `nonmembers` so that the real-vs-real floor is not a trivial zero;
/// * `reference`: the attacker's sample of real non-member traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostSplit {
    pub members: Vec<u32>,
    pub nonmembers: Vec<u32>,
    pub holdout: Vec<u32>,
    pub reference: Vec<u32>,
}

impl HostSplit {
    /// Seeded shuffle of `hosts` (sorted first, so the input order does not matter), then cut by
    /// fractions `(members, nonmembers, holdout)`; the rest is `reference`. Each role gets at
    /// least one host when there are enough hosts.
    pub fn shuffle(hosts: &[u32], fractions: [f64; 3], seed: u64) -> HostSplit {
        let mut h = hosts.to_vec();
        h.sort_unstable();
        h.dedup();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        h.shuffle(&mut rng);
        let n = h.len();
        let mut cuts = [0usize; 3];
        let mut acc = 0.0;
        for (i, f) in fractions.iter().enumerate() {
            acc += f;
            cuts[i] = ((acc * n as f64).round() as usize).min(n);
        }
        if n >= 4 {
            // Guarantee every role at least one host.
            cuts[0] = cuts[0].clamp(1, n - 3);
            cuts[1] = cuts[1].clamp(cuts[0] + 1, n - 2);
            cuts[2] = cuts[2].clamp(cuts[1] + 1, n - 1);
        }
        let mut s = HostSplit {
            members: h[..cuts[0]].to_vec(),
            nonmembers: h[cuts[0]..cuts[1]].to_vec(),
            holdout: h[cuts[1]..cuts[2]].to_vec(),
            reference: h[cuts[2]..].to_vec(),
        };
        for v in [
            &mut s.members,
            &mut s.nonmembers,
            &mut s.holdout,
            &mut s.reference,
        ] {
            v.sort_unstable();
        }
        s
    }

    /// SHA-256 over the role lists: recorded in the manifest so two runs can be compared.
    pub fn hash(&self) -> String {
        let mut d = Sha256::new();
        for (name, v) in [
            ("members", &self.members),
            ("nonmembers", &self.nonmembers),
            ("holdout", &self.holdout),
            ("reference", &self.reference),
        ] {
            d.update(name.as_bytes());
            for ip in v {
                d.update(ip.to_be_bytes());
            }
        }
        hex::encode(d.finalize())
    }
}

/// Filter hosts to those in `ips` (keeping `ips` order) and restrict to `[start, end)`.
pub fn select(hosts: &[HostTraffic], ips: &[u32], start: i64, end: i64) -> Vec<HostTraffic> {
    let by_ip: HashMap<u32, &HostTraffic> = hosts.iter().map(|h| (h.ip, h)).collect();
    ips.iter()
        .filter_map(|ip| by_ip.get(ip))
        .map(|h| h.window(start, end))
        .collect()
}

/// All flows of several hosts, as seen from each host (a flow between two selected hosts appears
/// twice, once per host, as in STAN's per-user files).
pub fn all_flows(hosts: &[HostTraffic]) -> Vec<Flow> {
    hosts.iter().flat_map(|h| h.flows.iter().copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        let hosts: Vec<u32> = (0..92).collect();
        let a = HostSplit::shuffle(&hosts, [0.5, 0.2, 0.15], 7);
        let b = HostSplit::shuffle(&hosts, [0.5, 0.2, 0.15], 7);
        let c = HostSplit::shuffle(&hosts, [0.5, 0.2, 0.15], 8);
        assert_eq!(a, b);
        assert_ne!(a.hash(), c.hash());
        assert_eq!(a.members.len(), 46);
        let mut all: Vec<u32> = [&a.members, &a.nonmembers, &a.holdout, &a.reference]
            .iter()
            .flat_map(|v| v.iter().copied())
            .collect();
        all.sort_unstable();
        assert_eq!(all, hosts);
        let tiny = HostSplit::shuffle(&[1, 2, 3, 4], [0.9, 0.05, 0.05], 1);
        assert!(!tiny.members.is_empty() && !tiny.nonmembers.is_empty());
        assert!(!tiny.holdout.is_empty() && !tiny.reference.is_empty());
    }
}
