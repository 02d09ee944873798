//! Flow -> fixed-size feature vector, seen from the host's side, and the exact-match row key.
//!
//! The map is **fixed** (no scaler fitted on any data set): fitting a scaler on members, on the
//! synthetic data or on their union would leak information between the sets being compared and
//! would make distances depend on which generator is evaluated. Every coordinate is already
//! weighted, so the row distance is the plain Euclidean distance of two vectors (this is what
//! lets an exact k-d tree answer nearest-record queries).
//!
//! The host's **own IP is never used**: synthetic hosts carry pseudonyms (STAN re-attaches IPs
//! from the training list), so own IP would reveal membership trivially. Fields are read through
//! [`Flow::remote_for`] with the host's IP: (own port, remote IP, remote port) plus the direction
//! (`sa == host`).
//!
//! | dims  | field | encoding (value in vector) | weight |
//! |-------|-------|----------------------------|--------|
//! | 0     | bytes | `ln(1 + byt) / 20` | 1 |
//! | 1     | packets | `ln(1 + pkt) / 15` | 1 |
//! | 2     | duration | `ln(1 + td) / 8` (td in s) | 1 |
//! | 3, 4  | time of day | `0.5 (cos, sin)(2 pi sod / 86400)`, so opposite times are 1 apart | 0.5 |
//! | 5     | direction | 1 if the host is the source | 1 |
//! | 6..=8 | protocol | one-hot TCP / UDP / ICMP, times `1/sqrt 2` (two different known protocols are 1 apart; any other protocol is the zero vector, `1/sqrt 2` from each) | 1 |
//! | 9, 10 | own port | bucket code (0: <1024, 0.5: 1024..49151, 1: >= 49152) and `0.5 *` position inside the bucket | 1 / 0.5 |
//! | 11, 12| remote port | same as own port | 1 / 0.5 |
//! | 13..=16 | remote IP | octet / 255 times 1, 0.5, 0.25, 0.125 (ordinal octets; the geometric weights make a different /8 matter more than a different last octet) | 1 .. 0.125 |
//! | 17..=22 | TCP flags | one coordinate per bit U A P R S F, 0 or 0.5 | 0.5 |
//!
//! Logs are natural logs; the divisors map the UGR'16 ranges (bytes up to ~1e9, packets up to
//! ~1e6, durations up to ~1 h) to roughly [0, 1].

use crate::data::fields::{Field, FieldSet};
use crate::data::flow::{Flow, Proto, second_of_day};
use crate::data::hosts::HostTraffic;

/// The optional flow fields the features and the exact-match key read: the TCP flags. For a
/// generator whose output lacks them, the run sets them to the filler on every side (members,
/// non-members, reference) before the attacks ([`crate::data::fields::blank`]), which drops
/// them from every distance and key: the attacker can only use what the generator released.
pub const FIELDS: FieldSet = FieldSet::of(&[Field::Flg]);

/// Dimension of the flow feature vector.
pub const DIM: usize = 23;

/// One encoded flow.
pub type Feature = [f64; DIM];

const W_TOD: f64 = 0.5;
const W_PORT_POS: f64 = 0.5;
const W_FLAG: f64 = 0.5;
const OCTET_W: [f64; 4] = [1.0, 0.5, 0.25, 0.125];

/// Exact-match key of a flow seen from a host: every modelled field except the own IP, the
/// calendar date and the labels / router fields (`fwd`, `stos`), which generators do not model.
/// Two rows are an *exact copy* of each other iff their keys are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    pub outgoing: bool,
    pub own_port: u16,
    pub remote_ip: u32,
    pub remote_port: u16,
    pub proto: u8,
    pub flags: u8,
    pub pkt: u64,
    pub byt: u64,
    /// Duration in milliseconds (the source resolution).
    pub td_ms: i64,
    /// Second of day of `te`.
    pub sod: i64,
}

fn port_code(p: u16) -> (f64, f64) {
    let p = p as f64;
    if p < 1024.0 {
        (0.0, p / 1023.0)
    } else if p < 49152.0 {
        (0.5, (p - 1024.0) / (49151.0 - 1024.0))
    } else {
        (1.0, (p - 49152.0) / (65535.0 - 49152.0))
    }
}

/// Encode one flow as seen from host `host_ip` (see the module table).
pub fn encode(f: &Flow, host_ip: u32) -> Feature {
    let mut v = [0.0; DIM];
    let (own_port, rip, rport) = f.remote_for(host_ip);
    v[0] = (f.byt as f64).ln_1p() / 20.0;
    v[1] = (f.pkt as f64).ln_1p() / 15.0;
    v[2] = f.td.max(0.0).ln_1p() / 8.0;
    let ang = 2.0 * std::f64::consts::PI * second_of_day(f.te) as f64 / 86_400.0;
    v[3] = W_TOD * ang.cos();
    v[4] = W_TOD * ang.sin();
    v[5] = if f.is_outgoing_for(host_ip) { 1.0 } else { 0.0 };
    let p = std::f64::consts::FRAC_1_SQRT_2;
    match f.pr {
        Proto::TCP => v[6] = p,
        Proto::UDP => v[7] = p,
        Proto::ICMP => v[8] = p,
        _ => {}
    }
    let (b, u) = port_code(own_port);
    v[9] = b;
    v[10] = W_PORT_POS * u;
    let (b, u) = port_code(rport);
    v[11] = b;
    v[12] = W_PORT_POS * u;
    for (i, (o, w)) in rip.to_be_bytes().iter().zip(OCTET_W).enumerate() {
        v[13 + i] = w * *o as f64 / 255.0;
    }
    for bit in 0..6 {
        // bit 5 = U ... bit 0 = F; coordinate 17 = U ... 22 = F.
        if f.flg.0 & (1 << (5 - bit)) != 0 {
            v[17 + bit] = W_FLAG;
        }
    }
    v
}

/// Exact-match key of one flow as seen from host `host_ip`.
pub fn row_key(f: &Flow, host_ip: u32) -> RowKey {
    let (own_port, remote_ip, remote_port) = f.remote_for(host_ip);
    RowKey {
        outgoing: f.is_outgoing_for(host_ip),
        own_port,
        remote_ip,
        remote_port,
        proto: f.pr.0,
        flags: f.flg.0,
        pkt: f.pkt,
        byt: f.byt,
        td_ms: (f.td * 1000.0).round() as i64,
        sod: second_of_day(f.te),
    }
}

/// Squared Euclidean distance of two feature vectors.
pub fn dist2(a: &Feature, b: &Feature) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// A set of encoded rows with the host each came from (index into the host slice).
#[derive(Clone, Debug, Default)]
pub struct Rows {
    pub feats: Vec<Feature>,
    pub keys: Vec<RowKey>,
    pub remote_ip: Vec<u32>,
    pub remote_port: Vec<u16>,
    pub host: Vec<usize>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.feats.len()
    }
    pub fn is_empty(&self) -> bool {
        self.feats.is_empty()
    }
    fn push(&mut self, f: &Flow, host_ip: u32, host_idx: usize) {
        let (_, rip, rport) = f.remote_for(host_ip);
        self.feats.push(encode(f, host_ip));
        self.keys.push(row_key(f, host_ip));
        self.remote_ip.push(rip);
        self.remote_port.push(rport);
        self.host.push(host_idx);
    }
    /// Every flow of every host, host by host, in flow order.
    pub fn from_hosts(hosts: &[HostTraffic]) -> Rows {
        let mut r = Rows::default();
        for (i, h) in hosts.iter().enumerate() {
            for f in &h.flows {
                r.push(f, h.ip, i);
            }
        }
        r
    }
    /// The rows at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Rows {
        Rows {
            feats: idx.iter().map(|&i| self.feats[i]).collect(),
            keys: idx.iter().map(|&i| self.keys[i]).collect(),
            remote_ip: idx.iter().map(|&i| self.remote_ip[i]).collect(),
            remote_port: idx.iter().map(|&i| self.remote_port[i]).collect(),
            host: idx.iter().map(|&i| self.host[i]).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::flow::{Flags, Label};

    fn flow(sa: u32, da: u32, sp: u16, dp: u16) -> Flow {
        Flow {
            te: 1_460_333_244,
            td: 1.5,
            sa,
            da,
            sp,
            dp,
            pr: Proto::TCP,
            flg: Flags::parse(".AP.SF").unwrap(),
            fwd: 0,
            stos: 0,
            pkt: 10,
            byt: 1000,
            label: Label::Background,
        }
    }

    #[test]
    fn own_ip_does_not_enter_features_or_key() {
        // The same conversation seen by two different (pseudonymous) own IPs encodes identically.
        let a = flow(1, 99, 40000, 443);
        let b = flow(2, 99, 40000, 443);
        assert_eq!(encode(&a, 1), encode(&b, 2));
        assert_eq!(row_key(&a, 1), row_key(&b, 2));
        // Seen from the other end the direction and ports swap.
        let e = encode(&a, 99);
        assert_eq!(e[5], 0.0);
        assert_eq!(encode(&a, 1)[5], 1.0);
    }

    #[test]
    fn hand_computed_coordinates() {
        let f = flow(1, (8 << 24) | (8 << 16) | (4 << 8) | 4, 443, 50000);
        let v = encode(&f, 1);
        assert!((v[0] - 1001f64.ln() / 20.0).abs() < 1e-15);
        assert!((v[1] - 11f64.ln() / 15.0).abs() < 1e-15);
        assert!((v[2] - 2.5f64.ln() / 8.0).abs() < 1e-15);
        // te = 00:07:24 -> 444 s of day.
        let ang = 2.0 * std::f64::consts::PI * 444.0 / 86400.0;
        assert!((v[3] - 0.5 * ang.cos()).abs() < 1e-15 && (v[4] - 0.5 * ang.sin()).abs() < 1e-15);
        assert_eq!(&v[6..9], &[std::f64::consts::FRAC_1_SQRT_2, 0.0, 0.0]);
        assert_eq!(v[9], 0.0);
        assert!((v[10] - 0.5 * 443.0 / 1023.0).abs() < 1e-15);
        assert_eq!(v[11], 1.0);
        assert!((v[13] - 8.0 / 255.0).abs() < 1e-15 && (v[16] - 0.125 * 4.0 / 255.0).abs() < 1e-15);
        // .AP.SF -> A, P, S, F set.
        assert_eq!(&v[17..23], &[0.0, 0.5, 0.5, 0.0, 0.5, 0.5]);
        // A different known protocol is exactly 1 away on the protocol block.
        let mut g = f;
        g.pr = Proto::UDP;
        let d: f64 = (6..9).map(|i| (encode(&g, 1)[i] - v[i]).powi(2)).sum();
        assert!((d - 1.0).abs() < 1e-12);
    }
}
