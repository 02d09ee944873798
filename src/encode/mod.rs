//! STAN's row encoding of a host's flows, fitted on training data only and invertible.
//!
//! Each flow of host `h` becomes one row of [`Schema`] attributes, seen from `h`:
//!
//! | attribute | kind | encoding |
//! |---|---|---|
//! | `hour` | discrete 24, *given* | hour of day of the host clock *before* this flow (the previous flow's `te`, or the window start) |
//! | `gap` | continuous | `ln(1 + Δt) / s_gap`, Δt = seconds since the previous flow of the host (or window start) |
//! | `byt`, `pkt` | continuous | `ln(1 + x) / s_x` |
//! | `td` | continuous | `ln(1 + td) / s_td` |
//! | `own_port`, `remote_port` | discrete 1670 | STAN's port category: `p` if `p < 1024`, else `1024 + (p - 1024) / 100` |
//! | `ip_a` .. `ip_d` | discrete 256 | remote IP octets in natural order (STAN stored them reversed: a bug) |
//! | `dir` | discrete 2 | 0 = outgoing (host is `sa`), 1 = incoming |
//! | `proto` | discrete 10 | class in [`PROTOCOLS`] |
//! | `flags` | discrete 64 | the six TCP flag bits (STAN dropped them) |
//! | `tos`, `fwd` | discrete 256 | raw values (STAN dropped them) |
//! | `activity` | discrete 8, *given* | the host's activity class, [`activity_class`] of its flows per hour in the window (not in STAN; why: [`activity_class`]) |
//!
//! Scales `s_x` are the maxima of the transformed values on the training data, so training rows
//! lie in `[0, 1]` like STAN's (whose constants came from the same data: `ln(max byt) = 20.13`).
//! STAN used `Δt / 1430` and `td / 363`, linear; the log keeps the 54 % zero gaps and the long
//! tail apart without a 1430-s ceiling.
//!
//! **Round trip.** `decode(encode(x)) == x` except: ports `>= 1024` come back as a uniformly drawn
//! port of the same 100-wide bin; continuous fields pass through `f32`, which is exact for
//! `byt`/`pkt` up to about 4·10⁵ and within a relative 2·10⁻⁶ beyond, exact for gaps (whole
//! seconds) and for `td` at millisecond precision; the `label` is not modelled (decoded flows
//! are `background`); with `model_flags_tos = false`, flags/ToS/forwarding come back as the most
//! frequent training combination for the flow's protocol.

use crate::data::flow::{Flags, Flow, Label, PROTOCOLS, Proto, second_of_day};
use crate::data::hosts::HostTraffic;
use crate::error::{Error, Result};
use crate::schema::{Attribute, Conditioner, Rounding, Schema, Sequences};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

pub mod rate;

/// Number of STAN port categories: 1024 exact well-known ports + 646 bins of 100.
pub const PORT_CLASSES: usize = 1670;

/// Encoded continuous values above this are invalid samples (redrawn by the model). Training
/// values lie in `[0, 1]`; the head-room lets the generator exceed the training maximum a bit.
pub const CONTINUOUS_MAX: f32 = 1.25;

/// Column indices of the fixed part of the schema.
pub mod col {
    pub const HOUR: usize = 0;
    pub const GAP: usize = 1;
    pub const BYT: usize = 2;
    pub const PKT: usize = 3;
    pub const TD: usize = 4;
    pub const OWN_PORT: usize = 5;
    pub const REMOTE_PORT: usize = 6;
    pub const IP_A: usize = 7;
    pub const DIR: usize = 11;
    pub const PROTO: usize = 12;
    pub const FLAGS: usize = 13;
    pub const TOS: usize = 14;
    pub const FWD: usize = 15;
}

/// Encoder options.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderConfig {
    /// Model TCP flags, ToS and forwarding status as categorical attributes (default `true`).
    /// `false` reproduces STAN's attribute set (an ablation).
    pub model_flags_tos: bool,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            model_flags_tos: true,
        }
    }
}

/// Number of host activity classes.
pub const ACTIVITY_CLASSES: usize = 8;

/// Activity class of a host with `flows` flows in a window of `seconds`:
/// `floor(log4(1 + flows per hour))`, capped at [`ACTIVITY_CLASSES`]` - 1` (16,383 flows per
/// hour and more). Every row carries its host's class as a given attribute, and synthetic host
/// `i` of a roll-out takes the class of training host `i` ([`Clock::for_hosts`]).
///
/// Why (not in STAN): STAN's only memory is the last k rows, so a synthetic host that starts
/// from an empty window has no notion of being a busy server or a quiet workstation, and its
/// roll-out's hosts come out alike (quickstart seed 1 without the class: 1,807-3,518 flows per
/// synthetic host against 115-7,179 real). Measured on the quickstart with the rate calibration
/// ([`rate`]), six seeds (`results/paper/ablation-calibrate*`, revision cf7aab7): mean JSD /
/// EMD / KS 0.1045 / 0.0181 / 0.0821 with the class against 0.1124 / 0.0207 / 0.0896 without
/// on seeds 1-3, 0.1113 / 0.0200 / 0.0947 against 0.1310 / 0.0307 / 0.1575 on seeds 4-6.
/// What it releases about the members: each one's rate rounded to a power of 4.
///
/// Fixed bins, not fitted, so the classes reveal nothing beyond each host's rounded rate. Factor-4 bins: with factor 2 the 47 members of quickstart seed 1 fall into 7
/// classes (two of them with one host each; factor 4: 4 classes of 2 to 22 hosts), and that
/// seed came out worse (validation NLL 25.9 against 24.75 without the class, bytes-per-packet
/// rule violations 25 % against 3.7 %; factor 4: 25.5 and 4.9 %).
pub fn activity_class(flows: usize, seconds: i64) -> usize {
    let per_hour = flows as f64 * 3600.0 / seconds.max(1) as f64;
    (((1.0 + per_hour).log2() / 2.0).floor() as usize).min(ACTIVITY_CLASSES - 1)
}

/// A fitted encoder: the config plus the scales learned from training data.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Encoder {
    pub config: EncoderConfig,
    /// `[gap, byt, pkt, td]` scales (max of `ln(1 + x)` on training data).
    pub scales: [f64; 4],
    /// Most frequent (flags, tos, fwd) per protocol class in training data; used to decode when
    /// these are not modelled.
    pub default_extras: Vec<(u8, u8, u8)>,
}

/// STAN's port category.
pub fn port_class(p: u16) -> usize {
    if p < 1024 {
        p as usize
    } else {
        1024 + (p as usize - 1024) / 100
    }
}

/// Inverse of [`port_class`]: exact below 1024, otherwise a uniform port of the bin.
pub fn port_from_class(c: usize, rng: &mut impl Rng) -> u16 {
    if c < 1024 {
        c as u16
    } else {
        let lo = 1024 + (c.min(PORT_CLASSES - 1) - 1024) * 100;
        let hi = (lo + 100).min(65536);
        rng.random_range(lo..hi) as u16
    }
}

impl Encoder {
    /// Fit scales (and the extras table) on training hosts only.
    pub fn fit(train: &[HostTraffic], window_start: i64, config: EncoderConfig) -> Result<Encoder> {
        let mut scales = [0f64; 4];
        let mut extra_counts =
            vec![std::collections::BTreeMap::<(u8, u8, u8), usize>::new(); PROTOCOLS.len()];
        let mut n = 0usize;
        for h in train {
            let mut clock = window_start;
            for f in &h.flows {
                let gap = (f.te - clock).max(0) as f64;
                clock = f.te;
                for (s, v) in scales
                    .iter_mut()
                    .zip([gap, f.byt as f64, f.pkt as f64, f.td])
                {
                    *s = s.max(v.ln_1p());
                }
                *extra_counts[f.pr.class()]
                    .entry((f.flg.0, f.stos, f.fwd))
                    .or_default() += 1;
                n += 1;
            }
        }
        if n == 0 {
            return Err(Error::Invalid(
                "cannot fit the encoder: the training data has no flows".into(),
            ));
        }
        for s in &mut scales {
            if *s <= 0.0 {
                *s = 1.0; // constant-zero column: any positive scale is invertible
            }
        }
        let global = extra_counts
            .iter()
            .flat_map(|m| m.iter())
            .max_by_key(|(_, c)| **c)
            .map(|(k, _)| *k)
            .unwrap_or((0, 0, 0));
        let default_extras = extra_counts
            .iter()
            .map(|m| {
                m.iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(k, _)| *k)
                    .unwrap_or(global)
            })
            .collect();
        Ok(Encoder {
            config,
            scales,
            default_extras,
        })
    }

    /// The attribute list the model is built from.
    pub fn schema(&self) -> Schema {
        let c = |n: &str, i: usize| {
            Attribute::continuous(n, 0.0, CONTINUOUS_MAX).rounded(self.rounding(i))
        };
        let mut attrs = vec![
            Attribute::discrete("hour", 24).given(),
            c("gap", 0),
            c("byt", 1),
            c("pkt", 2),
            c("td", 3),
            Attribute::discrete("own_port", PORT_CLASSES),
            Attribute::discrete("remote_port", PORT_CLASSES),
            Attribute::discrete("ip_a", 256),
            Attribute::discrete("ip_b", 256),
            Attribute::discrete("ip_c", 256),
            Attribute::discrete("ip_d", 256),
            Attribute::discrete("dir", 2),
            Attribute::discrete("proto", PROTOCOLS.len()),
        ];
        if self.config.model_flags_tos {
            attrs.push(Attribute::discrete("flags", 64));
            attrs.push(Attribute::discrete("tos", 256));
            attrs.push(Attribute::discrete("fwd", 256));
        }
        attrs.push(Attribute::discrete("activity", ACTIVITY_CLASSES).given());
        Schema { attrs }
    }

    pub fn n_attrs(&self) -> usize {
        if self.config.model_flags_tos { 17 } else { 14 }
    }

    /// Column of the `activity` attribute (the last one).
    pub fn activity_col(&self) -> usize {
        self.n_attrs() - 1
    }

    /// Encode one flow of host `ip` whose host clock (previous flow's `te`) is `clock`.
    pub fn encode_flow(&self, f: &Flow, ip: u32, clock: i64, out: &mut [f32]) {
        let gap = (f.te - clock).max(0) as f64;
        let (own_port, remote, remote_port) = f.remote_for(ip);
        let o = remote.to_be_bytes();
        out[col::HOUR] = (second_of_day(clock) / 3600) as f32;
        out[col::GAP] = (gap.ln_1p() / self.scales[0]) as f32;
        out[col::BYT] = ((f.byt as f64).ln_1p() / self.scales[1]) as f32;
        out[col::PKT] = ((f.pkt as f64).ln_1p() / self.scales[2]) as f32;
        out[col::TD] = (f.td.ln_1p() / self.scales[3]) as f32;
        out[col::OWN_PORT] = port_class(own_port) as f32;
        out[col::REMOTE_PORT] = port_class(remote_port) as f32;
        for k in 0..4 {
            out[col::IP_A + k] = o[k] as f32;
        }
        out[col::DIR] = if f.is_outgoing_for(ip) { 0.0 } else { 1.0 };
        out[col::PROTO] = f.pr.class() as f32;
        if self.config.model_flags_tos {
            out[col::FLAGS] = f.flg.0 as f32;
            out[col::TOS] = f.stos as f32;
            out[col::FWD] = f.fwd as f32;
        }
    }

    /// Encode hosts into sequences; each host's clock starts at the window's start, and its
    /// activity class is its flow count over the window's length. Flows before the window
    /// start are an error (they would need a negative gap).
    pub fn encode_hosts(&self, hosts: &[HostTraffic], window: (i64, i64)) -> Result<Sequences> {
        let (window_start, window_end) = window;
        let d = self.n_attrs();
        let mut seq = Sequences::new(d);
        let mut buf = Vec::new();
        for h in hosts {
            buf.clear();
            buf.resize(h.flows.len() * d, 0.0);
            let mut clock = window_start;
            for (i, f) in h.flows.iter().enumerate() {
                if f.te < clock {
                    return Err(Error::Invalid(format!(
                        "host {}: flows are not time-ordered or start before the window (te {} < {})",
                        crate::data::flow::format_ipv4(h.ip),
                        f.te,
                        clock
                    )));
                }
                self.encode_flow(f, h.ip, clock, &mut buf[i * d..(i + 1) * d]);
                clock = f.te;
            }
            let class = activity_class(h.flows.len(), window_end - window_start) as f32;
            let c = self.activity_col();
            buf.iter_mut().skip(c).step_by(d).for_each(|v| *v = class);
            seq.push_host(&buf);
        }
        Ok(seq)
    }

    /// How the continuous field `i` of `[gap, byt, pkt, td]` is decoded: whole seconds, whole
    /// bytes and packets, milliseconds. The model's likelihood uses the same cells.
    pub fn rounding(&self, i: usize) -> Rounding {
        Rounding {
            scale: self.scales[i],
            per_unit: if i == 3 { 1000.0 } else { 1.0 },
        }
    }

    /// Seconds encoded by a `gap` value (rounded to whole seconds, never negative).
    pub fn decode_gap(&self, x: f32) -> i64 {
        self.rounding(0).decode(x as f64) as i64
    }

    /// Decode one row of host `own_ip` whose clock is `clock`; returns the flow (its `te` is the
    /// new clock).
    pub fn decode_row(&self, row: &[f32], own_ip: u32, clock: i64, rng: &mut impl Rng) -> Flow {
        let te = clock + self.decode_gap(row[col::GAP]);
        let byt = self.rounding(1).decode(row[col::BYT] as f64) as u64;
        let pkt = self.rounding(2).decode(row[col::PKT] as f64) as u64;
        let td = self.rounding(3).decode(row[col::TD] as f64);
        let cls = |i: usize| row[i].max(0.0) as usize;
        let own_port = port_from_class(cls(col::OWN_PORT), rng);
        let remote_port = port_from_class(cls(col::REMOTE_PORT), rng);
        let remote = u32::from_be_bytes([0, 1, 2, 3].map(|k| cls(col::IP_A + k).min(255) as u8));
        let pr = Proto::from_class(cls(col::PROTO));
        let (flg, stos, fwd) = if self.config.model_flags_tos {
            (
                cls(col::FLAGS).min(63) as u8,
                cls(col::TOS).min(255) as u8,
                cls(col::FWD).min(255) as u8,
            )
        } else {
            self.default_extras
                .get(pr.class())
                .copied()
                .unwrap_or((0, 0, 0))
        };
        let outgoing = cls(col::DIR) == 0;
        let (sa, sp, da, dp) = if outgoing {
            (own_ip, own_port, remote, remote_port)
        } else {
            (remote, remote_port, own_ip, own_port)
        };
        Flow {
            te,
            td,
            sa,
            da,
            sp,
            dp,
            pr,
            flg: Flags(flg),
            fwd,
            stos,
            pkt,
            byt,
            label: Label::Background,
        }
    }

    /// Decode a host's rows (clock starting at `window_start`).
    pub fn decode_host(
        &self,
        rows: &[f32],
        own_ip: u32,
        window_start: i64,
        rng: &mut impl Rng,
    ) -> HostTraffic {
        let d = self.n_attrs();
        let mut clock = window_start;
        let flows = rows
            .chunks_exact(d)
            .map(|r| {
                let f = self.decode_row(r, own_ip, clock, rng);
                clock = f.te;
                f
            })
            .collect();
        HostTraffic { ip: own_ip, flows }
    }

    /// Decode all hosts of `seq`, giving host `h` the own-IP `ips[h]`.
    pub fn decode_sequences(
        &self,
        seq: &Sequences,
        ips: &[u32],
        window_start: i64,
        rng: &mut impl Rng,
    ) -> Vec<HostTraffic> {
        (0..seq.n_hosts())
            .map(|h| {
                let r = seq.host(h);
                self.decode_host(
                    &seq.rows[r.start * seq.n_attrs..r.end * seq.n_attrs],
                    ips[h],
                    window_start,
                    rng,
                )
            })
            .collect()
    }
}

/// Pseudonymous own-IPs for synthetic hosts: `42.219.240.1` upwards, a block of the UGR'16
/// internal prefix that the real data never uses, so rules about internal endpoints still hold
/// and no synthetic host carries a training host's real IP.
pub fn pseudonym(i: usize) -> u32 {
    let base = u32::from_be_bytes([42, 219, 240, 0]);
    base + 1 + i as u32 + (i as u32 / 255) // skip .0 of every /24 after the first
}

/// The host-clock conditioner used by every NetFlow roll-out: a host starts at `start`, each
/// row's `hour` is the clock's hour and its `activity` the host's class, and the host stops
/// once its clock reaches `end`.
#[derive(Clone, Debug)]
pub struct Clock<'a> {
    pub encoder: &'a Encoder,
    pub start: i64,
    pub end: i64,
    /// Activity class of each generated host (synthetic host i gets the class of training
    /// host i).
    pub activity: Vec<u32>,
    /// Time dilation of the sampled gaps (rate calibration, [`rate`]); `None` keeps the
    /// model's gaps as sampled.
    pub dilation: Option<rate::Dilation>,
}

impl<'a> Clock<'a> {
    /// The clock for rolling out one synthetic host per training host over `window`, each
    /// taking its training host's activity class (flows over the training window's length).
    pub fn for_hosts(
        encoder: &'a Encoder,
        window: (i64, i64),
        train: &[HostTraffic],
        train_window: (i64, i64),
    ) -> Clock<'a> {
        let secs = train_window.1 - train_window.0;
        let activity = train
            .iter()
            .map(|h| activity_class(h.flows.len(), secs) as u32)
            .collect();
        Clock {
            encoder,
            start: window.0,
            end: window.1,
            activity,
            dilation: None,
        }
    }
}

impl Conditioner for Clock<'_> {
    /// (host clock, activity class, host index)
    type State = (i64, u32, usize);
    fn init(&self, host: usize) -> (i64, u32, usize) {
        // Roll-outs ask for at most one host per training host (`for_hosts`).
        (self.start, self.activity[host], host)
    }
    fn prepare(&self, state: &(i64, u32, usize), row: &mut [f32]) -> bool {
        row[col::HOUR] = (second_of_day(state.0) / 3600) as f32;
        row[self.encoder.activity_col()] = state.1 as f32;
        state.0 < self.end
    }
    /// With a dilation, the sampled gap (whole seconds) is multiplied by the host's and the
    /// row's hour's factor and rounded to whole seconds; zero gaps (bursts) stay zero. The
    /// row's later attributes are drawn given the dilated gap, as the window's are.
    fn adjust(&self, state: &(i64, u32, usize), attr: usize, row: &mut [f32]) {
        if attr != col::GAP {
            return;
        }
        if let Some(d) = &self.dilation {
            let f = d.factor(state.2, row[col::HOUR] as usize);
            if f != 1.0 {
                let gap = (self.encoder.decode_gap(row[col::GAP]) as f64 * f).round();
                row[col::GAP] = self.encoder.rounding(0).encode(gap) as f32;
            }
        }
    }
    fn advance(&self, state: &mut (i64, u32, usize), row: &[f32]) {
        state.0 += self.encoder.decode_gap(row[col::GAP]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::read_flows;
    use crate::schema::AttrKind;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn fixture() -> HostTraffic {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/day_1_42.219.152.127.csv");
        let flows = read_flows(&p).unwrap();
        let ip = crate::data::flow::parse_ipv4("42.219.152.127").unwrap();
        crate::data::hosts::host_view(&flows, &[ip]).remove(0)
    }

    #[test]
    fn port_classes_match_stan() {
        assert_eq!(port_class(8080), 1094);
        assert_eq!(port_class(17379), 1187);
        assert_eq!(port_class(65535), 1669);
        assert_eq!(port_class(443), 443);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for p in [0u16, 1023, 1024, 8080, 65535, 65500] {
            assert_eq!(
                port_class(port_from_class(port_class(p), &mut rng)),
                port_class(p)
            );
        }
    }

    /// Activity classes are floor(log4(1 + flows per hour)), hand-computed, capped at 7.
    #[test]
    fn activity_class_values() {
        assert_eq!(activity_class(0, 3600), 0);
        assert_eq!(activity_class(2, 3600), 0); // log4(3) = 0.79
        assert_eq!(activity_class(3, 3600), 1); // log4(4)
        assert_eq!(activity_class(14, 3600), 1); // log4(15) = 1.95
        assert_eq!(activity_class(15, 3600), 2); // log4(16)
        assert_eq!(activity_class(60, 4 * 3600), 2); // 15 per hour
        assert_eq!(activity_class(1_000, 86_400), 2); // 41.7 per hour: log4(42.7) = 2.7
        assert_eq!(activity_class(1 << 20, 3600), ACTIVITY_CLASSES - 1);
        assert_eq!(activity_class(5, 0), 7); // zero-length window: counted per second
    }

    /// The class rides as the last, given attribute on every row of a host and the clock
    /// writes each synthetic host's training host's class.
    #[test]
    fn activity_is_a_given_host_attribute() {
        let h = fixture();
        let start = crate::data::flow::parse_time("2016-04-11 00:00:00").unwrap();
        let window = (start, start + 86_400);
        let enc = Encoder::fit(std::slice::from_ref(&h), start, EncoderConfig::default()).unwrap();
        let schema = enc.schema();
        let c = enc.activity_col();
        assert_eq!((c, enc.n_attrs()), (16, 17));
        assert_eq!(c, schema.len() - 1);
        assert!(schema.attrs[c].given && schema.attrs[c].name == "activity");
        let class = activity_class(h.flows.len(), 86_400) as f32; // 1,491 flows: 62 per hour
        assert_eq!(class, 2.0);
        let seq = enc.encode_hosts(std::slice::from_ref(&h), window).unwrap();
        assert!(
            seq.rows
                .iter()
                .skip(c)
                .step_by(seq.n_attrs)
                .all(|&v| v == class)
        );
        let quiet = HostTraffic {
            ip: h.ip,
            flows: h.flows[..10].to_vec(),
        };
        let clock = Clock::for_hosts(&enc, window, &[h.clone(), quiet], window);
        assert_eq!(clock.activity, vec![2, 0]);
        let mut row = vec![0f32; enc.n_attrs()];
        let state = clock.init(0);
        assert!(clock.prepare(&state, &mut row));
        assert_eq!((row[c], row[col::HOUR]), (2.0, 0.0));
    }

    #[test]
    fn real_host_round_trips_up_to_port_bins() {
        let h = fixture();
        let start = crate::data::flow::parse_time("2016-04-11 00:00:00").unwrap();
        let enc = Encoder::fit(std::slice::from_ref(&h), start, EncoderConfig::default()).unwrap();
        let seq = enc
            .encode_hosts(std::slice::from_ref(&h), (start, start + 86_400))
            .unwrap();
        assert_eq!(seq.n_rows(), h.flows.len());
        for v in &seq.rows {
            assert!(v.is_finite());
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let back = enc.decode_host(&seq.rows, h.ip, start, &mut rng);
        for (a, b) in h.flows.iter().zip(&back.flows) {
            let mut b2 = *b;
            let (ao, _, ar) = a.remote_for(h.ip);
            let (bo, _, br) = b.remote_for(h.ip);
            assert_eq!(port_class(ao), port_class(bo));
            assert_eq!(port_class(ar), port_class(br));
            // Put the exact ports back, then everything else must be identical.
            b2.sp = a.sp;
            b2.dp = a.dp;
            // Some source rows carry float noise (`0.14800000000000002`): ms precision is the contract.
            assert!((a.td - b.td).abs() < 5e-4, "{} vs {}", a.td, b.td);
            b2.td = a.td;
            b2.label = a.label;
            assert_eq!(*a, b2);
        }
        // Schema agrees with the rows: discrete values are in range.
        let schema = enc.schema();
        for r in 0..seq.n_rows() {
            for (j, a) in schema.attrs.iter().enumerate() {
                if let AttrKind::Discrete { .. } = a.kind {
                    assert!(
                        matches!(a.kind, AttrKind::Discrete { cardinality } if (seq.row(r)[j] as usize) < cardinality && seq.row(r)[j] >= 0.0),
                        "{} {}",
                        a.name,
                        seq.row(r)[j]
                    );
                }
            }
        }
    }

    #[test]
    fn flows_before_the_window_are_an_error() {
        let h = fixture();
        let start = h.flows[10].te;
        let enc = Encoder::fit(
            std::slice::from_ref(&h),
            h.flows[0].te,
            EncoderConfig::default(),
        )
        .unwrap();
        assert!(
            enc.encode_hosts(std::slice::from_ref(&h), (start, start + 86_400))
                .is_err()
        );
    }

    #[test]
    fn pseudonyms_are_unique_and_outside_real_hosts() {
        let ips: std::collections::BTreeSet<u32> = (0..2000).map(pseudonym).collect();
        assert_eq!(ips.len(), 2000);
        for ip in ips {
            let o = ip.to_be_bytes();
            assert!(
                o[0] == 42 && o[1] == 219 && o[2] >= 240 && o[3] != 0,
                "{o:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_flow_round_trips(te_off in 0i64..86_000, td_ms in 0u32..400_000, byt in 1u64..400_000, pkt in 1u64..100_000,
                                sp in any::<u16>(), dp in 0u16..1024, pr in 0usize..PROTOCOLS.len(), flg in 0u8..64,
                                stos in any::<u8>(), fwd in any::<u8>(), outgoing in any::<bool>(), remote in any::<u32>()) {
            let start = 1_460_332_800i64;
            let me = pseudonym(0);
            let (sa, da) = if outgoing { (me, remote) } else { (remote, me) };
            let f = Flow { te: start + te_off, td: td_ms as f64 / 1000.0, sa, da, sp, dp, pr: Proto::from_class(pr),
                           flg: Flags(flg), fwd, stos, pkt, byt, label: Label::Background };
            let h = HostTraffic { ip: me, flows: vec![f] };
            let enc = Encoder::fit(std::slice::from_ref(&h), start, EncoderConfig::default()).unwrap();
            let seq = enc.encode_hosts(std::slice::from_ref(&h), (start, start + 86_400)).unwrap();
            let mut rng = rand::rngs::StdRng::seed_from_u64(1);
            let g = enc.decode_host(&seq.rows, me, start, &mut rng).flows[0];
            prop_assert_eq!(g.te, f.te);
            prop_assert_eq!(g.byt, f.byt);
            prop_assert_eq!(g.pkt, f.pkt);
            prop_assert!((g.td - f.td).abs() < 1e-9);
            prop_assert_eq!((g.sa, g.da, g.pr, g.flg, g.stos, g.fwd), (f.sa, f.da, f.pr, f.flg, f.stos, f.fwd));
            prop_assert_eq!(port_class(g.sp), port_class(f.sp));
            prop_assert_eq!(g.dp, f.dp);
        }
    }
}
