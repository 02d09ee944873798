//! A seeded attack injector: it adds labelled attack flows to real test traffic so that the
//! detectors can be scored on attack types the UGR'16 extract does not contain.
//!
//! Behaviour (all random choices from one `StdRng::seed_from_u64(seed)`, in the fixed order
//! scan, DoS, spam, beacon, event by event):
//!
//! * The time range is `[t0, t1]` = first and last `te` of the test traffic; every injected flow
//!   has `t0 <= te <= t1`. Each event picks its victim / infected host uniformly among the test
//!   hosts that have flows, and its start uniformly so that the event fits the range (an event
//!   longer than the range is compressed into it).
//! * Remote addresses are random public IPv4 addresses (first octet 1–223, not 10, 42, 127 and
//!   not 172.16/12, 192.168/16), so they never collide with the 42.219/16 hosts.
//! * **Port scan** ([`Label::InjectedScan`]): one scanner probes `scan_probes` distinct ports of
//!   the host (drawn from 1–1024, or 1–65535 when more probes are asked), `scan_rate` probes/s,
//!   from one fixed ephemeral source port (nmap's SYN-scan habit): TCP `....S.`, 1 packet, 44
//!   bytes (IP + TCP header + MSS option), duration 0. With `scan_replies`, the host answers
//!   each probe in the same second with a TCP `.A.R..` reset, 1 packet, 40 bytes.
//! * **SYN flood / DoS burst** ([`Label::InjectedDos`]): `dos_flows` flows over `dos_duration_s`
//!   seconds to the host's port 80 or 443 (chosen per event), each from a fresh spoofed source
//!   address and random ephemeral port: TCP `....S.`, 1–3 packets (SYN retransmissions) of 40,
//!   44 or 60 bytes, duration 0 for one packet, else up to 3 s.
//! * **Spam-like SMTP burst** ([`Label::InjectedSpam`]): the host opens `spam_flows` SMTP
//!   connections over `spam_duration_s` seconds to distinct mail servers: TCP `.AP.SF`, port 25,
//!   source ports increasing from a random ephemeral start, 10–40 packets of 80–500 bytes,
//!   duration 0.5–8 s.
//! * **Botnet-like beacons** ([`Label::InjectedBeacon`]): the host contacts one C2 address on
//!   port 443 every `beacon_period_s` seconds with ±`beacon_jitter` relative jitter, from the
//!   first period after `t0` to `t1` or `beacon_max_flows` flows: TCP `.AP.SF`, 5–9 packets,
//!   500–1300 bytes, duration 0.05–0.5 s.
//!
//! Injected flows are appended to the host's flows and the host's sequence is re-sorted by `te`
//! with a stable sort (real flows first within a second), so the output is time-ordered and
//! deterministic. Hosts keep their order.

use crate::data::flow::{Flags, Flow, Label, Proto};
use crate::data::hosts::HostTraffic;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// nfdump flag bits (U A P R S F = bits 5..0).
const SYN: Flags = Flags(0b000010);
const ACK_RST: Flags = Flags(0b010100);
const ACK_PSH_SYN_FIN: Flags = Flags(0b011011);

/// How many attacks of each kind to inject, and their shape (see the module docs).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InjectConfig {
    /// Port-scan events (default 3).
    pub scan_events: usize,
    /// Ports probed per scan (default 150).
    pub scan_probes: usize,
    /// Probes per second (default 10).
    pub scan_rate: f64,
    /// Whether the host answers each probe with a reset flow (default true).
    pub scan_replies: bool,
    /// SYN-flood events (default 2).
    pub dos_events: usize,
    /// Flows per flood (default 400).
    pub dos_flows: usize,
    /// Flood duration in seconds (default 60).
    pub dos_duration_s: f64,
    /// Spam events (default 2).
    pub spam_events: usize,
    /// SMTP connections per spam event (default 100).
    pub spam_flows: usize,
    /// Spam event duration in seconds (default 600).
    pub spam_duration_s: f64,
    /// Beaconing hosts (default 2).
    pub beacon_events: usize,
    /// Beacon period in seconds (default 300).
    pub beacon_period_s: f64,
    /// Relative jitter of the period (default 0.05).
    pub beacon_jitter: f64,
    /// Beacons per event at most (default 200).
    pub beacon_max_flows: usize,
}

impl Default for InjectConfig {
    fn default() -> Self {
        InjectConfig {
            scan_events: 3,
            scan_probes: 150,
            scan_rate: 10.0,
            scan_replies: true,
            dos_events: 2,
            dos_flows: 400,
            dos_duration_s: 60.0,
            spam_events: 2,
            spam_flows: 100,
            spam_duration_s: 600.0,
            beacon_events: 2,
            beacon_period_s: 300.0,
            beacon_jitter: 0.05,
            beacon_max_flows: 200,
        }
    }
}

/// A random public IPv4 address outside the monitored 42.219/16 network.
fn public_ip(rng: &mut StdRng) -> u32 {
    loop {
        let ip: u32 = rng.random();
        let (a, b) = ((ip >> 24) as u8, (ip >> 16) as u8);
        let reserved = a == 0
            || a == 10
            || a == 42
            || a == 127
            || a >= 224
            || (a == 172 && (16..32).contains(&b))
            || (a == 192 && b == 168);
        if !reserved {
            return ip;
        }
    }
}

fn ephemeral(rng: &mut StdRng) -> u16 {
    rng.random_range(1024..=65535u16)
}

#[allow(clippy::too_many_arguments)]
fn flow(
    te: i64,
    td: f64,
    sa: u32,
    da: u32,
    sp: u16,
    dp: u16,
    flg: Flags,
    pkt: u64,
    byt: u64,
    label: Label,
) -> Flow {
    Flow {
        te,
        td,
        sa,
        da,
        sp,
        dp,
        pr: Proto::TCP,
        flg,
        fwd: 0,
        stos: 0,
        pkt,
        byt,
        label,
    }
}

/// Start time of an event of `duration` seconds in `[t0, t1]`, and the duration actually used.
fn place(rng: &mut StdRng, t0: i64, t1: i64, duration: f64) -> (i64, f64) {
    let span = (t1 - t0) as f64;
    let d = duration.max(0.0).min(span);
    let start = t0 + rng.random_range(0.0..=(span - d)).floor() as i64;
    (start, d)
}

/// Add the configured attacks to copies of `test` (see the module docs for what is injected).
pub fn inject(test: &[HostTraffic], cfg: &InjectConfig, seed: u64) -> Vec<HostTraffic> {
    let mut out: Vec<HostTraffic> = test.to_vec();
    let candidates: Vec<usize> = (0..test.len())
        .filter(|&i| !test[i].flows.is_empty())
        .collect();
    let (Some(t0), Some(t1)) = (
        test.iter().flat_map(|h| h.flows.iter().map(|f| f.te)).min(),
        test.iter().flat_map(|h| h.flows.iter().map(|f| f.te)).max(),
    ) else {
        return out;
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut added: Vec<Vec<Flow>> = vec![Vec::new(); test.len()];

    for _ in 0..cfg.scan_events {
        let h = candidates[rng.random_range(0..candidates.len())];
        let ip = test[h].ip;
        let scanner = public_ip(&mut rng);
        let sport = ephemeral(&mut rng);
        let hi = if cfg.scan_probes <= 1024 {
            1024u16
        } else {
            65535
        };
        let mut ports: Vec<u16> = (1..=hi).collect();
        ports.shuffle(&mut rng);
        ports.truncate(cfg.scan_probes);
        let rate = cfg.scan_rate.max(1e-3);
        let (start, d) = place(&mut rng, t0, t1, ports.len() as f64 / rate);
        let k = ports.len().max(1) as f64;
        for (i, &p) in ports.iter().enumerate() {
            let te = start + (i as f64 * d / k).floor() as i64;
            added[h].push(flow(
                te,
                0.0,
                scanner,
                ip,
                sport,
                p,
                SYN,
                1,
                44,
                Label::InjectedScan,
            ));
            if cfg.scan_replies {
                added[h].push(flow(
                    te,
                    0.0,
                    ip,
                    scanner,
                    p,
                    sport,
                    ACK_RST,
                    1,
                    40,
                    Label::InjectedScan,
                ));
            }
        }
    }

    for _ in 0..cfg.dos_events {
        let h = candidates[rng.random_range(0..candidates.len())];
        let ip = test[h].ip;
        let port = if rng.random_bool(0.5) { 80 } else { 443 };
        let (start, d) = place(&mut rng, t0, t1, cfg.dos_duration_s);
        let mut times: Vec<i64> = (0..cfg.dos_flows)
            .map(|_| start + rng.random_range(0.0..=d).floor() as i64)
            .collect();
        times.sort_unstable();
        for te in times {
            let src = public_ip(&mut rng);
            let sp = ephemeral(&mut rng);
            let pkt = rng.random_range(1..=3u64);
            let size = [40u64, 44, 60][rng.random_range(0..3usize)];
            let td = if pkt == 1 {
                0.0
            } else {
                (rng.random_range(0.0..3.0f64) * 1000.0).round() / 1000.0
            };
            added[h].push(flow(
                te,
                td,
                src,
                ip,
                sp,
                port,
                SYN,
                pkt,
                pkt * size,
                Label::InjectedDos,
            ));
        }
    }

    for _ in 0..cfg.spam_events {
        let h = candidates[rng.random_range(0..candidates.len())];
        let ip = test[h].ip;
        let (start, d) = place(&mut rng, t0, t1, cfg.spam_duration_s);
        let mut times: Vec<i64> = (0..cfg.spam_flows)
            .map(|_| start + rng.random_range(0.0..=d).floor() as i64)
            .collect();
        times.sort_unstable();
        let mut sp = rng.random_range(1024..=40000u32);
        for te in times {
            let server = public_ip(&mut rng);
            let pkt = rng.random_range(10..=40u64);
            let byt: u64 = (0..pkt).map(|_| rng.random_range(80..=500u64)).sum();
            let td = (rng.random_range(0.5..8.0f64) * 1000.0).round() / 1000.0;
            added[h].push(flow(
                te,
                td,
                ip,
                server,
                sp as u16,
                25,
                ACK_PSH_SYN_FIN,
                pkt,
                byt,
                Label::InjectedSpam,
            ));
            sp = 1024 + (sp + rng.random_range(1..=3u32) - 1024) % (65536 - 1024);
        }
    }

    for _ in 0..cfg.beacon_events {
        let h = candidates[rng.random_range(0..candidates.len())];
        let ip = test[h].ip;
        let c2 = public_ip(&mut rng);
        let period = cfg.beacon_period_s.max(1.0);
        let j = cfg.beacon_jitter.clamp(0.0, 0.99);
        let mut t = t0 as f64 + rng.random_range(0.0..period);
        let mut n = 0;
        while t <= t1 as f64 && n < cfg.beacon_max_flows {
            let pkt = rng.random_range(5..=9u64);
            let byt = rng.random_range(500..=1300u64);
            let td = (rng.random_range(0.05..0.5f64) * 1000.0).round() / 1000.0;
            let sp = ephemeral(&mut rng);
            added[h].push(flow(
                t.floor() as i64,
                td,
                ip,
                c2,
                sp,
                443,
                ACK_PSH_SYN_FIN,
                pkt,
                byt,
                Label::InjectedBeacon,
            ));
            n += 1;
            t += period * (1.0 + rng.random_range(-j..=j));
        }
    }

    for (h, extra) in out.iter_mut().zip(added) {
        if !extra.is_empty() {
            h.flows.extend(extra);
            h.flows.sort_by_key(|f| f.te);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::read::read_flows;
    use std::path::Path;

    fn host(path: &str, ip: &str) -> HostTraffic {
        let flows = read_flows(Path::new(path)).unwrap();
        let ip = crate::data::flow::parse_ipv4(ip).unwrap();
        crate::data::hosts::host_view(&flows, &[ip]).remove(0)
    }

    fn fixture() -> Vec<HostTraffic> {
        vec![
            host("tests/data/day_1_42.219.152.127.csv", "42.219.152.127"),
            host("tests/data/day_1_42.219.145.151.csv", "42.219.145.151"),
        ]
    }

    fn count(h: &[HostTraffic], l: Label) -> usize {
        h.iter()
            .flat_map(|h| &h.flows)
            .filter(|f| f.label == l)
            .count()
    }

    #[test]
    fn counts_labels_range_and_order() {
        let test = fixture();
        let n0: usize = test.iter().map(|h| h.flows.len()).sum();
        assert_eq!(n0, 1491 + 7005);
        let cfg = InjectConfig::default();
        let out = inject(&test, &cfg, 11);
        assert_eq!(count(&out, Label::InjectedScan), 3 * 150 * 2);
        assert_eq!(count(&out, Label::InjectedDos), 2 * 400);
        assert_eq!(count(&out, Label::InjectedSpam), 2 * 100);
        let beacons = count(&out, Label::InjectedBeacon);
        let t0 = test
            .iter()
            .flat_map(|h| h.flows.iter().map(|f| f.te))
            .min()
            .unwrap();
        let t1 = test
            .iter()
            .flat_map(|h| h.flows.iter().map(|f| f.te))
            .max()
            .unwrap();
        // About (t1 - t0) / 300 beacons per event (a day: ~288), capped at 200.
        let per = ((t1 - t0) as f64 / 300.0).min(200.0);
        assert!(
            (beacons as f64 - 2.0 * per).abs() <= 2.0 + 0.1 * per,
            "{beacons} vs {per}"
        );
        let total: usize = out.iter().map(|h| h.flows.len()).sum();
        assert_eq!(total, n0 + 900 + 800 + 200 + beacons);
        for (h, h0) in out.iter().zip(&test) {
            assert_eq!(h.ip, h0.ip);
            assert!(h.flows.windows(2).all(|w| w[0].te <= w[1].te));
            // Real flows are all still there, unchanged, in order.
            let real: Vec<&Flow> = h
                .flows
                .iter()
                .filter(|f| {
                    !matches!(
                        f.label,
                        Label::InjectedScan
                            | Label::InjectedDos
                            | Label::InjectedSpam
                            | Label::InjectedBeacon
                    )
                })
                .collect();
            assert_eq!(real.len(), h0.flows.len());
            for f in &h.flows {
                assert!(f.te >= t0 && f.te <= t1);
                assert!(f.sa == h.ip || f.da == h.ip);
            }
        }
        // Real blacklist flows keep their label.
        assert_eq!(
            count(&out, Label::Blacklist),
            count(&test, Label::Blacklist)
        );
    }

    #[test]
    fn field_values_are_realistic() {
        let out = inject(&fixture(), &InjectConfig::default(), 5);
        for h in &out {
            for f in h.flows.iter().filter(|f| f.label >= Label::InjectedScan) {
                assert_eq!(f.pr, Proto::TCP);
                assert!(
                    f.pkt >= 1 && f.byt >= 40 * f.pkt && f.byt <= 1500 * f.pkt,
                    "{f:?}"
                );
                assert!(f.td >= 0.0 && f.td <= 8.0);
                let remote = if f.sa == h.ip { f.da } else { f.sa };
                assert_ne!(remote >> 16, (42 << 8) | 219);
                match f.label {
                    Label::InjectedScan => {
                        assert!(f.flg.has(b'S') && f.da == h.ip || f.flg.has(b'R') && f.sa == h.ip);
                        assert!(f.pkt == 1 && (f.byt == 44 || f.byt == 40));
                        let port = if f.da == h.ip { f.dp } else { f.sp };
                        assert!((1..=1024).contains(&port));
                    }
                    Label::InjectedDos => {
                        assert!(f.flg.has(b'S') && !f.flg.has(b'A') && f.da == h.ip);
                        assert!(f.dp == 80 || f.dp == 443);
                        assert!(f.sp >= 1024 && f.pkt <= 3);
                    }
                    Label::InjectedSpam => {
                        assert!(f.sa == h.ip && f.dp == 25 && f.pkt >= 10 && f.td >= 0.5);
                    }
                    Label::InjectedBeacon => assert!(f.sa == h.ip && f.dp == 443),
                    _ => unreachable!(),
                }
            }
        }
        // Distinct scanned ports per scan; beacons of one host keep their period within jitter.
        for h in &out {
            let b: Vec<i64> = h
                .flows
                .iter()
                .filter(|f| f.label == Label::InjectedBeacon)
                .map(|f| f.te)
                .collect();
            for w in b.windows(2) {
                let gap = w[1] - w[0];
                // Two beacon events may share a host; then gaps interleave, so only check the
                // single-event case.
                if h.flows
                    .iter()
                    .filter(|f| f.label == Label::InjectedBeacon)
                    .map(|f| f.da)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
                    == 1
                {
                    assert!((284..=316).contains(&gap), "gap {gap}");
                }
            }
            let mut probes: Vec<(u32, u16)> = h
                .flows
                .iter()
                .filter(|f| f.label == Label::InjectedScan && f.da == h.ip)
                .map(|f| (f.sa, f.dp))
                .collect();
            let n = probes.len();
            probes.sort_unstable();
            probes.dedup();
            assert_eq!(probes.len(), n);
        }
    }

    #[test]
    fn deterministic_in_the_seed() {
        let test = fixture();
        let cfg = InjectConfig::default();
        let a = inject(&test, &cfg, 1);
        assert_eq!(a, inject(&test, &cfg, 1));
        assert_ne!(a, inject(&test, &cfg, 2));
        let none = InjectConfig {
            scan_events: 0,
            dos_events: 0,
            spam_events: 0,
            beacon_events: 0,
            ..cfg
        };
        assert_eq!(inject(&test, &none, 1), test);
        assert!(inject(&[], &InjectConfig::default(), 1).is_empty());
    }
}
