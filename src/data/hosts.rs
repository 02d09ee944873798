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
        let c = role_counts(h.len(), fractions);
        let cuts = [c[0], c[0] + c[1], c[0] + c[1] + c[2]];
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

    /// Stratified version of [`HostSplit::shuffle`]: the same role sizes, but every stratum
    /// (`strata[i]` is the stratum of `hosts[i]`, see [`host_strata`]) is dealt to the roles in
    /// proportion to their sizes, so that a handful of unusual hosts cannot all land in one role.
    ///
    /// Why: in the quickstart window the protocols outside TCP/UDP/ICMP (GRE, IPIP, ESP: the
    /// protocol detector's `other` class) come from 4 of 93 hosts (3 GRE, 1 ESP), and host
    /// activity spans 115-7,179 flows. With a plain shuffle the 11 `holdout` hosts of seeds 1-3
    /// carried none of those protocols and half the members' flows per host, so the "ideal
    /// generator" could not learn a class that the real test hosts carry, and its detectors fell
    /// to macro-F1 0.58-0.63 against 0.77-0.90 for real-trained ones: a property of the split,
    /// not of replayed real traffic.
    ///
    /// `strata` must have one entry per host (a caller's bug otherwise: it panics).
    ///
    /// Strata are taken smallest first. Each gets the largest-remainder share of every role's
    /// remaining places; a stratum of at least 3 hosts gives one host to each of `members`,
    /// `nonmembers` and `holdout` (the roles that train or test models) before `reference`
    /// gets any; the last stratum takes exactly the places left. Within a stratum the hosts are
    /// shuffled with `seed`, so the seed still decides which host plays which role.
    pub fn stratified(
        hosts: &[u32],
        strata: &[usize],
        fractions: [f64; 3],
        seed: u64,
    ) -> HostSplit {
        assert_eq!(hosts.len(), strata.len(), "one stratum per host");
        let mut pairs: Vec<(u32, usize)> =
            hosts.iter().copied().zip(strata.iter().copied()).collect();
        pairs.sort_unstable();
        pairs.dedup_by_key(|p| p.0);
        let n = pairs.len();
        let mut cap = role_counts(n, fractions);
        let mut left = n;
        let mut groups: std::collections::BTreeMap<usize, Vec<u32>> = Default::default();
        for (h, s) in pairs {
            groups.entry(s).or_default().push(h);
        }
        let mut groups: Vec<(usize, Vec<u32>)> = groups.into_iter().collect();
        // Smallest stratum first (ties: lower stratum id), so rare strata are placed while every
        // role still has room.
        groups.sort_by_key(|(s, g)| (g.len(), *s));
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut roles: [Vec<u32>; 4] = Default::default();
        let last = groups.len().saturating_sub(1);
        for (gi, (_, mut g)) in groups.into_iter().enumerate() {
            g.shuffle(&mut rng);
            let q = if gi == last {
                cap
            } else {
                stratum_quotas(g.len(), left, &cap)
            };
            left -= g.len();
            let mut it = g.into_iter();
            for r in 0..4 {
                roles[r].extend(it.by_ref().take(q[r]));
                cap[r] -= q[r];
            }
        }
        let [mut members, mut nonmembers, mut holdout, mut reference] = roles;
        for v in [&mut members, &mut nonmembers, &mut holdout, &mut reference] {
            v.sort_unstable();
        }
        HostSplit {
            members,
            nonmembers,
            holdout,
            reference,
        }
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

/// Hosts per role `(members, nonmembers, holdout, reference)` for `n` hosts: cumulative
/// fractions rounded, and every role at least one host when `n >= 4`.
fn role_counts(n: usize, fractions: [f64; 3]) -> [usize; 4] {
    let mut cuts = [0usize; 3];
    let mut acc = 0.0;
    for (i, f) in fractions.iter().enumerate() {
        acc += f;
        cuts[i] = ((acc * n as f64).round() as usize).min(n);
    }
    if n >= 4 {
        cuts[0] = cuts[0].clamp(1, n - 3);
        cuts[1] = cuts[1].clamp(cuts[0] + 1, n - 2);
        cuts[2] = cuts[2].clamp(cuts[1] + 1, n - 1);
    }
    // Monotone for non-negative fractions already; this keeps a caller's negative fraction
    // from underflowing the subtractions below.
    cuts[1] = cuts[1].max(cuts[0]);
    cuts[2] = cuts[2].max(cuts[1]);
    [cuts[0], cuts[1] - cuts[0], cuts[2] - cuts[1], n - cuts[2]]
}

/// Places per role for a stratum of `ns` of the `left` hosts still to place: largest-remainder
/// shares of the places left (`cap`, which sums to `left`), then one host for each of members,
/// non-members and holdout when the stratum has >= 3 hosts. Shares of the places *left* (not of
/// all places) keep later strata proportional after a rare stratum took its minimum.
fn stratum_quotas(ns: usize, left: usize, cap: &[usize; 4]) -> [usize; 4] {
    let mut q = [0usize; 4];
    let mut rem = [0f64; 4];
    for r in 0..4 {
        let ideal = cap[r] as f64 * ns as f64 / left.max(1) as f64;
        q[r] = (ideal.floor() as usize).min(cap[r]);
        rem[r] = ideal - q[r] as f64;
    }
    let mut order = [0usize, 1, 2, 3];
    order.sort_by(|&a, &b| rem[b].total_cmp(&rem[a]).then(a.cmp(&b)));
    let mut todo = ns - q.iter().sum::<usize>().min(ns);
    while todo > 0 {
        let before = todo;
        for &r in &order {
            if todo > 0 && q[r] < cap[r] {
                q[r] += 1;
                todo -= 1;
            }
        }
        if todo == before {
            break; // no room anywhere: cannot happen when sum(cap) >= ns
        }
    }
    if ns >= 3 {
        for r in 0..3 {
            if q[r] == 0 && cap[r] > 0 {
                // Take the place from reference if it has one here, else from the role with
                // the most hosts in this stratum that can spare one.
                let donor = if q[3] > 0 {
                    Some(3)
                } else {
                    (0..3)
                        .filter(|&d| d != r && q[d] > 1)
                        .max_by_key(|&d| (q[d], d))
                };
                if let Some(d) = donor {
                    q[d] -= 1;
                    q[r] += 1;
                }
            }
        }
    }
    q
}

/// Strata for [`HostSplit::stratified`]. A host with flows outside TCP/UDP/ICMP (a tunnel or
/// VPN endpoint: GRE, IPIP, ESP; rare, and together the protocol detector's `other` class) is
/// in the stratum of its most frequent such protocol, `quantiles + protocol number` (ties: the
/// lower number); every other host is in its flow-count quantile `0..quantiles` among the
/// other hosts (`quantiles` classes, 1 = no activity strata).
///
/// Per protocol rather than one `other` stratum: GRE and ESP endpoints look nothing alike, so
/// a training source with only the ESP host does not learn the GRE host that the test set has.
/// In the quickstart window the three GRE hosts then go one each to members, non-members and
/// holdout, and the one ESP host to the members.
pub fn host_strata(hosts: &[HostTraffic], quantiles: usize) -> Vec<usize> {
    use super::flow::Proto;
    let q = quantiles.max(1);
    let tunnel = |h: &HostTraffic| -> Option<usize> {
        let mut n = [0usize; 256];
        for f in &h.flows {
            if !matches!(f.pr, Proto::TCP | Proto::UDP | Proto::ICMP) {
                n[f.pr.0 as usize] += 1;
            }
        }
        // The most frequent protocol; on ties the lower number (max_by_key keeps the last max,
        // so scan from the top).
        let (p, &c) = n.iter().enumerate().rev().max_by_key(|&(_, c)| *c)?;
        (c > 0).then_some(p)
    };
    let kind: Vec<Option<usize>> = hosts.iter().map(tunnel).collect();
    let mut counts: Vec<usize> = hosts
        .iter()
        .zip(&kind)
        .filter(|(_, k)| k.is_none())
        .map(|(h, _)| h.flows.len())
        .collect();
    counts.sort_unstable();
    hosts
        .iter()
        .zip(&kind)
        .map(|(h, k)| match k {
            Some(p) => q + p,
            None => {
                // Rank of the host's count among the plain hosts (first position of equal
                // counts), cut into `q` equal-size classes.
                let rank = counts.partition_point(|&c| c < h.flows.len());
                (rank * q / counts.len().max(1)).min(q - 1)
            }
        })
        .collect()
}

/// Filter hosts to those in `ips` (keeping `ips` order) and restrict to `[start, end)`.
pub fn select(hosts: &[HostTraffic], ips: &[u32], start: i64, end: i64) -> Vec<HostTraffic> {
    let by_ip: HashMap<u32, &HostTraffic> = hosts.iter().map(|h| (h.ip, h)).collect();
    ips.iter()
        .filter_map(|ip| by_ip.get(ip))
        .map(|h| h.window(start, end))
        .collect()
}

/// The flows of `flows` that belong to a host of `ips` (as `sa` or `da`) with
/// `start <= te < end`, each once, in their order in `flows`: a flow file of those hosts. Its
/// [`host_view`] over `ips` is the hosts' traffic in the window as [`select`] cuts it from the
/// host view of `flows`, flow for flow and with ties in time in the same order. Unlike
/// [`all_flows`], a flow between two of the hosts is in it once (each host's view takes it).
pub fn flows_of(flows: &[Flow], ips: &[u32], start: i64, end: i64) -> Vec<Flow> {
    let set: std::collections::HashSet<u32> = ips.iter().copied().collect();
    flows
        .iter()
        .filter(|f| f.te >= start && f.te < end && (set.contains(&f.sa) || set.contains(&f.da)))
        .copied()
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

    fn sizes(s: &HostSplit) -> [usize; 4] {
        [
            s.members.len(),
            s.nonmembers.len(),
            s.holdout.len(),
            s.reference.len(),
        ]
    }

    /// The quickstart's shape: 93 hosts, 3 GRE hosts, 1 ESP host, the rest in four quartiles.
    /// Role sizes equal the plain shuffle's; for every seed the GRE hosts go one each to
    /// members, non-members and holdout, the ESP host to the members, and each quartile is
    /// dealt in proportion.
    #[test]
    fn stratified_split_spreads_every_stratum_over_the_roles() {
        let hosts: Vec<u32> = (0..93).collect();
        let strata: Vec<usize> = hosts
            .iter()
            .map(|&h| match h {
                5 | 28 | 51 => 4 + 47,
                74 => 4 + 50,
                _ => h as usize % 4,
            })
            .collect();
        let f = [0.5, 0.25, 0.125];
        for seed in 0..20 {
            let s = HostSplit::stratified(&hosts, &strata, f, seed);
            assert_eq!(sizes(&s), sizes(&HostSplit::shuffle(&hosts, f, seed)));
            assert_eq!(sizes(&s), [47, 23, 11, 12]);
            let mut all: Vec<u32> = [&s.members, &s.nonmembers, &s.holdout, &s.reference]
                .iter()
                .flat_map(|v| v.iter().copied())
                .collect();
            all.sort_unstable();
            assert_eq!(all, hosts);
            let count =
                |v: &[u32], k: usize| v.iter().filter(|&&h| strata[h as usize] == k).count();
            let per_role = |k: usize| {
                [
                    count(&s.members, k),
                    count(&s.nonmembers, k),
                    count(&s.holdout, k),
                    count(&s.reference, k),
                ]
            };
            assert_eq!(per_role(51), [1, 1, 1, 0], "seed {seed}");
            assert_eq!(per_role(54), [1, 0, 0, 0], "seed {seed}");
            for k in 0..4 {
                // ~22 hosts per quartile: members 11 +- 1, non-members 5.5 +- 1, holdout and
                // reference 2.7 +- 1.
                let m = count(&s.members, k);
                let n = count(&s.nonmembers, k);
                let h = count(&s.holdout, k);
                assert!(
                    (10..=12).contains(&m),
                    "seed {seed} quartile {k}: {m} members"
                );
                assert!(
                    (5..=7).contains(&n),
                    "seed {seed} quartile {k}: {n} non-members"
                );
                assert!(
                    (2..=4).contains(&h),
                    "seed {seed} quartile {k}: {h} holdout"
                );
            }
        }
        let a = HostSplit::stratified(&hosts, &strata, f, 1);
        assert_eq!(a, HostSplit::stratified(&hosts, &strata, f, 1));
        assert_ne!(a, HostSplit::stratified(&hosts, &strata, f, 2));
        // One stratum is a plain proportional split; tiny inputs still fill every role.
        let one = HostSplit::stratified(&hosts, &[0; 93], f, 3);
        assert_eq!(sizes(&one), [47, 23, 11, 12]);
        let tiny = HostSplit::stratified(&[1, 2, 3, 4], &[0, 0, 1, 1], [0.9, 0.05, 0.05], 1);
        assert_eq!(sizes(&tiny), [1, 1, 1, 1]);
    }

    /// A role's flow file, read back as hosts, is the role's traffic: each flow written once
    /// (also one between two of its hosts), in file order, so that ties in time keep their order.
    #[test]
    fn flows_of_a_role_give_back_its_host_view() {
        use crate::data::flow::{Flags, Label, Proto};
        let flow = |te: i64, sa: u32, da: u32, sp: u16| Flow {
            te,
            td: 0.0,
            sa,
            da,
            sp,
            dp: 80,
            pr: Proto::TCP,
            flg: Flags(0),
            fwd: 0,
            stos: 0,
            pkt: 1,
            byt: 40,
            label: Label::Background,
        };
        // Hosts 1 and 2 are the role, 3 is another host, 9 is outside.
        let flows = vec![
            flow(5, 1, 9, 1),
            flow(5, 2, 1, 2), // between two role hosts, tied in time with the one before
            flow(3, 9, 2, 3),
            flow(5, 1, 9, 4),
            flow(4, 3, 9, 5),
            flow(6, 3, 1, 6),
            flow(9, 1, 9, 7), // outside the window
            flow(1, 2, 2, 8), // a host talking to itself
        ];
        let role = [1, 2];
        let out = flows_of(&flows, &role, 0, 9);
        let ports: Vec<u16> = out.iter().map(|f| f.sp).collect();
        assert_eq!(ports, vec![1, 2, 3, 4, 6, 8]);
        let all = host_view(&flows, &[1, 2, 3]);
        assert_eq!(host_view(&out, &role), select(&all, &role, 0, 9));
        // Host flows: host 1 has 1, 2, 4, 6; host 2 has 2, 3, 8.
        let n: usize = select(&all, &role, 0, 9)
            .iter()
            .map(|h| h.flows.len())
            .sum();
        assert_eq!(n, 7);
    }

    /// Strata: a host with non-TCP/UDP/ICMP flows goes by its most frequent such protocol; the
    /// others by flow-count quantile (ties share the lower class).
    #[test]
    fn host_strata_mark_tunnel_hosts_and_activity_quantiles() {
        use crate::data::flow::{Flags, Label, Proto};
        let flow = |pr: Proto| Flow {
            te: 0,
            td: 0.0,
            sa: 1,
            da: 2,
            sp: 1000,
            dp: 80,
            pr,
            flg: Flags(0),
            fwd: 0,
            stos: 0,
            pkt: 1,
            byt: 40,
            label: Label::Background,
        };
        let host = |ip: u32, n: usize, pr: Proto| HostTraffic {
            ip,
            flows: (0..n).map(|_| flow(pr)).collect(),
        };
        let mut gre = host(1, 50, Proto::TCP);
        gre.flows.push(flow(Proto(47)));
        // GRE and IPIP once each (tie: the lower number, IPIP = 4); ESP twice, GRE once.
        let mut ipip = host(7, 5, Proto::UDP);
        ipip.flows.extend([flow(Proto(47)), flow(Proto(4))]);
        let mut esp = host(8, 5, Proto::UDP);
        esp.flows
            .extend([flow(Proto(50)), flow(Proto(47)), flow(Proto(50))]);
        let hosts = vec![
            gre,
            ipip,
            esp,
            host(2, 10, Proto::TCP),
            host(3, 20, Proto::UDP),
            host(4, 30, Proto::ICMP),
            host(5, 40, Proto::TCP),
            host(6, 40, Proto::TCP),
        ];
        // Plain counts 10, 20, 30, 40, 40: ranks 0, 1, 2, 3, 3 -> class rank * 2 / 5.
        assert_eq!(
            host_strata(&hosts, 2),
            vec![2 + 47, 2 + 4, 2 + 50, 0, 0, 0, 1, 1]
        );
        assert_eq!(
            host_strata(&hosts, 1),
            vec![1 + 47, 1 + 4, 1 + 50, 0, 0, 0, 0, 0]
        );
    }
}
