//! Decoded per-flow columns of host traffic, computed once and shared by every metric.
//!
//! Real and synthetic traffic arrive as `&[HostTraffic]`; direction and the own/remote split
//! are taken from the host's own IP (`flow.sa == host.ip` = outgoing), which is a pseudonym for
//! synthetic hosts, so no metric below compares own-IP identities except the raw `sa`/`da` JSD.

use crate::data::flow::second_of_day;
use crate::data::hosts::HostTraffic;

/// Column-wise view of all flows of a set of hosts, in host order then flow order.
#[derive(Clone, Debug, Default)]
pub struct FlowColumns {
    pub pr: Vec<u8>,
    pub sp: Vec<u16>,
    pub dp: Vec<u16>,
    pub flg: Vec<u8>,
    pub stos: Vec<u8>,
    pub sa: Vec<u32>,
    pub da: Vec<u32>,
    pub own_port: Vec<u16>,
    pub remote_port: Vec<u16>,
    pub remote_ip: Vec<u32>,
    /// 1.0 when the host is the source (outgoing), else 0.0.
    pub outgoing: Vec<f64>,
    pub td: Vec<f64>,
    pub byt: Vec<f64>,
    pub pkt: Vec<f64>,
    /// Time of day of `te`, seconds since midnight UTC.
    pub tod: Vec<f64>,
    /// The flow's end time `te` itself, Unix seconds (NetShare's `ts` row re-bases it).
    pub te: Vec<i64>,
    /// Seconds since the host's previous flow (`te` differences after sorting the host's `te`
    /// values); `NaN` for a host's first flow.
    pub gap_per_flow: Vec<f64>,
    /// The inter-arrival gaps only (no `NaN`), i.e. the `gap` sample of the marginal metrics.
    pub gap: Vec<f64>,
    /// `[start, end)` index range of each host's flows in the columns above.
    pub host_ranges: Vec<(usize, usize)>,
    /// `[start, end)` range of each host's gaps in `gap` (length = flows − 1, or 0).
    pub gap_ranges: Vec<(usize, usize)>,
    /// Absolute hour index `te.div_euclid(3600)` of each flow.
    pub abs_hour: Vec<i64>,
}

impl FlowColumns {
    pub fn new(hosts: &[HostTraffic]) -> FlowColumns {
        let n: usize = hosts.iter().map(|h| h.flows.len()).sum();
        let mut c = FlowColumns::default();
        macro_rules! reserve {
            ($($f:ident),*) => { $( c.$f.reserve(n); )* };
        }
        reserve!(
            pr,
            sp,
            dp,
            flg,
            stos,
            sa,
            da,
            own_port,
            remote_port,
            remote_ip,
            outgoing,
            td,
            byt,
            pkt,
            tod,
            te,
            gap_per_flow,
            gap,
            abs_hour
        );
        let mut tes: Vec<i64> = Vec::new();
        for h in hosts {
            let start = c.pr.len();
            let gstart = c.gap.len();
            for f in &h.flows {
                let (own, rip, rport) = f.remote_for(h.ip);
                c.pr.push(f.pr.0);
                c.sp.push(f.sp);
                c.dp.push(f.dp);
                c.flg.push(f.flg.0);
                c.stos.push(f.stos);
                c.sa.push(f.sa);
                c.da.push(f.da);
                c.own_port.push(own);
                c.remote_port.push(rport);
                c.remote_ip.push(rip);
                c.outgoing
                    .push(if f.is_outgoing_for(h.ip) { 1.0 } else { 0.0 });
                c.td.push(f.td);
                c.byt.push(f.byt as f64);
                c.pkt.push(f.pkt as f64);
                c.tod.push(second_of_day(f.te) as f64);
                c.te.push(f.te);
                c.abs_hour.push(f.te.div_euclid(3600));
            }
            // Gaps from the sorted end times (the flows are documented as time-ordered; sorting
            // a copy keeps the metric well-defined if a generator emits them out of order).
            tes.clear();
            tes.extend(h.flows.iter().map(|f| f.te));
            let sorted = tes.windows(2).all(|w| w[0] <= w[1]);
            if !sorted {
                tes.sort_unstable();
            }
            for (i, _) in h.flows.iter().enumerate() {
                let g = if i == 0 {
                    f64::NAN
                } else if sorted {
                    (h.flows[i].te - h.flows[i - 1].te) as f64
                } else {
                    (tes[i] - tes[i - 1]) as f64
                };
                c.gap_per_flow.push(g);
                if i > 0 {
                    c.gap.push(g);
                }
            }
            c.host_ranges.push((start, c.pr.len()));
            c.gap_ranges.push((gstart, c.gap.len()));
        }
        c
    }

    pub fn len(&self) -> usize {
        self.pr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pr.is_empty()
    }
}

/// `ln(1 + x)`: the analysis scale of heavy-tailed non-negative fields (bytes, packets,
/// durations, gaps).
pub fn log1p_all(x: &[f64]) -> Vec<f64> {
    x.iter().map(|v| v.max(0.0).ln_1p()).collect()
}
