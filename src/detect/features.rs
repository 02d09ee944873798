//! Per-flow training/test examples of the self-supervised tasks.
//!
//! Every flow of every host gives one example of each task, so that every test flow gets an
//! anomaly score. A host's first flows lack history; the missing predecessors are encoded as
//! zero rows with `present = 0` (the models learn what an empty history means), instead of
//! dropping those flows. The paper's protocol task ([`tree_row`]) marks the missing
//! predecessor with [`NO_PREVIOUS`] instead.
//!
//! Conventions (fixed, never fitted on data, so that the encoding cannot differ between
//! training sources): logarithms are natural, `ln(1 + x)`; ports are the host-relative own and
//! remote ports; `outgoing` = the host is the flow's source.

use crate::data::flow::{Flow, Label, Proto, second_of_day};
use crate::data::hosts::HostTraffic;

/// Protocol classes of the protocol predictor: TCP, UDP, ICMP and everything else.
pub const N_CLASSES: usize = 4;
/// Class names in class order.
pub const CLASS_NAMES: [&str; N_CLASSES] = ["TCP", "UDP", "ICMP", "other"];
/// Lags in the bytes regressor's window (the current flow and 4 lags in the paper's code, i.e.
/// the 5 flows before the predicted one).
pub const WINDOW: usize = 5;
/// Features per lag of the bytes window.
pub const BYTES_PER_LAG: usize = 10;
/// Width of a bytes example.
pub const BYTES_DIM: usize = WINDOW * BYTES_PER_LAG;
/// Width of a protocol example (see [`protocol_row`]).
pub const PROTO_DIM: usize = 15;
/// Width of an example of the paper's protocol task (see [`tree_row`]).
pub const TREE_DIM: usize = 3;
/// Every feature of [`tree_row`] for a host's first flow: below any value a flow has.
pub const NO_PREVIOUS: f64 = -1.0;

/// Protocol class of a flow (see [`CLASS_NAMES`]).
pub fn proto_class(p: Proto) -> usize {
    match p {
        Proto::TCP => 0,
        Proto::UDP => 1,
        Proto::ICMP => 2,
        _ => 3,
    }
}

fn ln1p(x: f64) -> f64 {
    x.max(0.0).ln_1p()
}

/// The protocol predictor's features of flow `cur` after `prev` (None for a host's first flow).
///
/// Previous flow: `present, ln(1+byt), ln(1+pkt), pr one-hot(4)`; current flow: `ln(1+td),
/// own port, remote port, outgoing, ln(1+pkt), ln(1+byt), stos, hour of day`.
/// The current flow's TCP flags are left out on purpose: UGR'16 writes a protocol-specific flag
/// pattern (real TCP flags for TCP, a fixed `.A....` for UDP/ICMP), so with flags the task is a
/// lookup and says nothing about how well a generator models traffic behaviour.
pub fn protocol_row(ip: u32, prev: Option<&Flow>, cur: &Flow, out: &mut Vec<f64>) {
    match prev {
        Some(p) => {
            out.extend([1.0, ln1p(p.byt as f64), ln1p(p.pkt as f64)]);
            let c = proto_class(p.pr);
            out.extend((0..N_CLASSES).map(|k| if k == c { 1.0 } else { 0.0 }));
        }
        None => out.extend([0.0; 3 + N_CLASSES]),
    }
    let (own, _, remote) = cur.remote_for(ip);
    out.extend([
        ln1p(cur.td),
        own as f64,
        remote as f64,
        if cur.is_outgoing_for(ip) { 1.0 } else { 0.0 },
        ln1p(cur.pkt as f64),
        ln1p(cur.byt as f64),
        cur.stos as f64,
        (second_of_day(cur.te) / 3600) as f64,
    ]);
}

/// The paper's protocol-task features of a flow after `prev` (None for a host's first flow):
/// the previous flow's `byt-1, pkt-1, pr-1`, in raw units (bytes, packets, protocol class as
/// a number, as STAN's `task_runner.py` feeds its decision tree), or [`NO_PREVIOUS`] three
/// times. Nothing of the current flow: its protocol is the target.
pub fn tree_row(prev: Option<&Flow>, out: &mut Vec<f64>) {
    match prev {
        Some(p) => out.extend([p.byt as f64, p.pkt as f64, proto_class(p.pr) as f64]),
        None => out.extend([NO_PREVIOUS; TREE_DIM]),
    }
}

/// One lag of the bytes window, scaled to about [0, 1] by fixed constants.
fn bytes_lag(ip: u32, f: Option<&Flow>, out: &mut Vec<f32>) {
    match f {
        None => out.extend([0.0; BYTES_PER_LAG]),
        Some(f) => {
            let (own, _, remote) = f.remote_for(ip);
            let c = proto_class(f.pr);
            out.extend([
                1.0,
                (ln1p(f.td) / 8.0) as f32,
                own as f32 / 65535.0,
                remote as f32 / 65535.0,
                if f.is_outgoing_for(ip) { 1.0 } else { 0.0 },
            ]);
            out.extend((0..N_CLASSES).map(|k| if k == c { 1.0f32 } else { 0.0 }));
            out.push((ln1p(f.byt as f64) / 20.0) as f32);
        }
    }
}

/// Target of the bytes regressor: `ln(1 + byt)` (natural log).
pub fn log_bytes(f: &Flow) -> f64 {
    ln1p(f.byt as f64)
}

/// Examples of both tasks for a set of hosts, one per flow, in host order then time order.
#[derive(Clone, Debug, Default)]
pub struct Examples {
    /// Row-major `[n, PROTO_DIM]`.
    pub proto_x: Vec<f64>,
    /// Protocol class of each flow.
    pub proto_y: Vec<usize>,
    /// Row-major `[n, TREE_DIM]`: the paper's protocol task ([`tree_row`]); its target is
    /// [`Examples::proto_y`].
    pub tree_x: Vec<f64>,
    /// Row-major `[n, BYTES_DIM]`; lag 1 (the previous flow) first.
    pub bytes_x: Vec<f32>,
    /// `ln(1 + byt)` of each flow.
    pub bytes_y: Vec<f32>,
    /// Label of each flow.
    pub label: Vec<Label>,
    /// Host of each flow: its position in the slice given to [`Examples::from_hosts`]. The
    /// unit of the host-cluster bootstrap behind every CI of [`crate::detect`] (flows of one
    /// host are not independent trials, see [`crate::stats`]).
    pub host: Vec<usize>,
    /// Number of hosts the examples were built from, those without flows included: the host
    /// indices are below it.
    pub n_hosts: usize,
}

impl Examples {
    pub fn from_hosts(hosts: &[HostTraffic]) -> Examples {
        let n: usize = hosts.iter().map(|h| h.flows.len()).sum();
        let mut e = Examples {
            proto_x: Vec::with_capacity(n * PROTO_DIM),
            proto_y: Vec::with_capacity(n),
            tree_x: Vec::with_capacity(n * TREE_DIM),
            bytes_x: Vec::with_capacity(n * BYTES_DIM),
            bytes_y: Vec::with_capacity(n),
            label: Vec::with_capacity(n),
            host: Vec::with_capacity(n),
            n_hosts: hosts.len(),
        };
        for (k, h) in hosts.iter().enumerate() {
            for (i, f) in h.flows.iter().enumerate() {
                let prev = i.checked_sub(1).map(|j| &h.flows[j]);
                protocol_row(h.ip, prev, f, &mut e.proto_x);
                e.proto_y.push(proto_class(f.pr));
                tree_row(prev, &mut e.tree_x);
                for lag in 1..=WINDOW {
                    bytes_lag(
                        h.ip,
                        i.checked_sub(lag).map(|j| &h.flows[j]),
                        &mut e.bytes_x,
                    );
                }
                e.bytes_y.push(log_bytes(f) as f32);
                e.label.push(f.label);
                e.host.push(k);
            }
        }
        e
    }

    pub fn len(&self) -> usize {
        self.proto_y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.proto_y.is_empty()
    }

    /// Append example `i` of `other` as a flow of host `host_offset + other.host[i]`. A set
    /// assembled from several sources (a training mix of real and synthetic examples) keeps
    /// their hosts apart by giving each source its own offset, e.g. the `n_hosts` of the
    /// sources before it.
    pub fn push_from(&mut self, other: &Examples, i: usize, host_offset: usize) {
        self.proto_x
            .extend_from_slice(&other.proto_x[i * PROTO_DIM..(i + 1) * PROTO_DIM]);
        self.proto_y.push(other.proto_y[i]);
        self.tree_x
            .extend_from_slice(&other.tree_x[i * TREE_DIM..(i + 1) * TREE_DIM]);
        self.bytes_x
            .extend_from_slice(&other.bytes_x[i * BYTES_DIM..(i + 1) * BYTES_DIM]);
        self.bytes_y.push(other.bytes_y[i]);
        self.label.push(other.label[i]);
        let h = host_offset + other.host[i];
        self.host.push(h);
        self.n_hosts = self.n_hosts.max(h + 1);
    }
}

pub use crate::baselines::shuffle_columns;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::flow::Flags;

    fn flow(te: i64, sa: u32, da: u32, pr: Proto, byt: u64) -> Flow {
        Flow {
            te,
            td: 1.5,
            sa,
            da,
            sp: 1000,
            dp: 80,
            pr,
            flg: Flags(0),
            fwd: 0,
            stos: 0,
            pkt: 3,
            byt,
            label: Label::Background,
        }
    }

    #[test]
    fn rows_have_history_padding_and_fixed_scaling() {
        let h = HostTraffic {
            ip: 7,
            flows: vec![
                flow(3600, 7, 9, Proto::TCP, 99),
                flow(7200, 9, 7, Proto::UDP, 0),
            ],
        };
        let e = Examples::from_hosts(&[h]);
        assert_eq!(e.len(), 2);
        assert_eq!(e.proto_y, vec![0, 1]);
        // First flow: empty history, outgoing, own port 1000, remote port 80, hour 1.
        let r0 = &e.proto_x[..PROTO_DIM];
        assert_eq!(&r0[..7], &[0.0; 7]);
        assert_eq!(&r0[8..11], &[1000.0, 80.0, 1.0]);
        assert_eq!(r0[14], 1.0);
        // Second flow: previous = TCP with 99 bytes; incoming, so own port is dp = 80.
        let r1 = &e.proto_x[PROTO_DIM..];
        assert_eq!(r1[0], 1.0);
        assert!((r1[1] - 100f64.ln()).abs() < 1e-12);
        assert_eq!(&r1[3..7], &[1.0, 0.0, 0.0, 0.0]);
        assert_eq!(&r1[8..11], &[80.0, 1000.0, 0.0]);
        // The paper's features: none before the first flow, then TCP's raw bytes and packets.
        assert_eq!(e.tree_x, vec![-1.0, -1.0, -1.0, 99.0, 3.0, 0.0]);
        assert_eq!(e.bytes_y[1], 0.0);
        // Bytes window of flow 2: lag 1 = flow 1, lags 2..5 empty.
        let w = &e.bytes_x[BYTES_DIM..];
        assert_eq!(w[0], 1.0);
        assert!((w[9] - (100f64.ln() / 20.0) as f32).abs() < 1e-6);
        assert!(w[BYTES_PER_LAG..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn host_index_is_the_position_in_the_hosts_slice_and_mixes_keep_sources_apart() {
        let h = |ip: u32, n: i64| HostTraffic {
            ip,
            flows: (0..n).map(|t| flow(t, ip, 9, Proto::TCP, 10)).collect(),
        };
        // The empty host keeps its place: host 2 is the third entry.
        let e = Examples::from_hosts(&[h(7, 2), h(8, 0), h(5, 3)]);
        assert_eq!(e.host, vec![0, 0, 2, 2, 2]);
        assert_eq!(e.n_hosts, 3);
        let s = Examples::from_hosts(&[h(1, 1), h(2, 1)]);
        let mut mix = Examples::default();
        mix.push_from(&e, 3, 0);
        mix.push_from(&s, 1, e.n_hosts);
        mix.push_from(&s, 0, e.n_hosts);
        assert_eq!(mix.host, vec![2, 4, 3]);
        assert_eq!((mix.len(), mix.n_hosts), (3, 5));
    }

    #[test]
    fn shuffle_keeps_marginals_and_is_seeded() {
        let flows: Vec<Flow> = (0..50)
            .map(|i| flow(i, 7, 9, Proto::TCP, i as u64 * 10))
            .collect();
        let h = vec![HostTraffic { ip: 7, flows }];
        let a = shuffle_columns(&h, 3);
        assert_eq!(a, shuffle_columns(&h, 3));
        assert_ne!(a, shuffle_columns(&h, 4));
        let mut b: Vec<u64> = a[0].flows.iter().map(|f| f.byt).collect();
        assert_ne!(b, (0..50).map(|i| i * 10).collect::<Vec<u64>>());
        b.sort_unstable();
        assert_eq!(b, (0..50).map(|i| i * 10).collect::<Vec<u64>>());
        assert!(a[0].flows.iter().enumerate().all(|(i, f)| f.te == i as i64));
    }
}
