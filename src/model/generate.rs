//! Batched roll-out: every active host advances one row per step; the network runs once per
//! (step, attribute) on all active hosts, the sampling happens on the host side from one seeded
//! `StdRng` per host (so results do not depend on thread scheduling).

use std::time::Instant;

use candle_core::{DType, Tensor};
use rand::rngs::StdRng;
use rayon::prelude::*;

use super::layers::sub_rng;
use super::mdn::{sample_mdn, sample_softmax};
use super::net::{Kind, Layout, Net, RowData, RowScratch};
use super::{GenStats, Stan};
use crate::Result;
use crate::schema::Sequences;

pub use crate::schema::{Conditioner, Unconditioned};

/// Weights of the prefix of the network that one head needs (units are sorted by MADE degree,
/// so head p only needs the first `prefix[p]` hidden units of every layer). Built once per call.
struct HeadWeights {
    e: usize,
    w0_row: Tensor,
    layers: Vec<(Tensor, Tensor)>,
    wo: Tensor,
    bo: Tensor,
}

struct GenWeights {
    w0_ctx: Tensor,
    b0: Tensor,
    heads: Vec<HeadWeights>,
}

impl GenWeights {
    fn new(net: &Net) -> Result<GenWeights> {
        let l = &net.layout;
        let p = &net.params;
        let masked = |w: &str, m: &Tensor| -> Result<Tensor> { Ok((p.get(w)?.detach() * m)?) };
        let w0 = masked("ar.0.w", &net.masks[0])?;
        let b0 = p.get("ar.0.b")?.detach();
        let deep: Vec<(Tensor, Tensor)> = (1..net.masks.len())
            .map(|i| {
                Ok((
                    masked(&format!("ar.{i}.w"), &net.masks[i])?,
                    p.get(&format!("ar.{i}.b"))?.detach(),
                ))
            })
            .collect::<Result<_>>()?;
        let mut heads = Vec::new();
        for (pos, h) in l.heads.iter().enumerate() {
            let e = l.prefix[pos];
            heads.push(HeadWeights {
                e,
                w0_row: w0
                    .narrow(0, l.ctx_dim, l.feat_width)?
                    .narrow(1, 0, e)?
                    .contiguous()?,
                layers: deep
                    .iter()
                    .map(|(w, b)| {
                        Ok((
                            w.narrow(0, 0, e)?.narrow(1, 0, e)?.contiguous()?,
                            b.narrow(0, 0, e)?.contiguous()?,
                        ))
                    })
                    .collect::<Result<_>>()?,
                wo: p.get(&format!("head.{}.w", h.attr))?.detach(),
                bo: p.get(&format!("head.{}.b", h.attr))?.detach(),
            });
        }
        Ok(GenWeights {
            w0_ctx: w0.narrow(0, 0, l.ctx_dim)?.contiguous()?,
            b0,
            heads,
        })
    }
}

/// One host being generated.
struct Slot<S> {
    host: usize,
    state: S,
    rng: StdRng,
    /// The last k rows, oldest first; only the last `n_hist` are real.
    hist: Vec<f32>,
    n_hist: usize,
    row: Vec<f32>,
    out: Vec<f32>,
    n_rows: usize,
    redraws: usize,
    clamped: usize,
    scratch: Vec<f32>,
}

impl<S> Slot<S> {
    /// Sample the head at `pos` from its raw outputs into `row`.
    ///
    /// With the binned likelihood (`h > 0`), a continuous draw below the attribute's bottom
    /// edge is returned as `min` itself: training scored a row at the bound by the open cell
    /// P(Y <= bottom) (see `mdn::cell`), so that is the mass the model gives the bound. The
    /// edge is `min + h`, or the decoder's rounding edge when that is higher (`ln 1.5 / s` for
    /// a zero gap). Drawing inside the bin instead (and redrawing below `min`) turned the point
    /// masses of zero-inflated fields (a third of NetFlow durations are exactly 0) into small
    /// positive values. Draws above `max` (and below `min` when `h = 0`) are redrawn.
    fn sample(&mut self, layout: &Layout, pos: usize, raw: &[f32], max_redraws: usize, h: f32) {
        let attr = layout.heads[pos].attr;
        let v = match layout.attrs[attr].kind {
            Kind::Discrete { .. } => sample_softmax(raw, &mut self.scratch, &mut self.rng) as f32,
            Kind::Continuous {
                min, max, bottom, ..
            } => {
                let k = layout.k_mix;
                let lowest = if h > 0.0 { f32::NEG_INFINITY } else { min };
                let mut v = sample_mdn(raw, k, &mut self.scratch, &mut self.rng);
                let mut tries = 0;
                while !(v >= lowest && v <= max) {
                    if tries == max_redraws {
                        v = if v.is_nan() { min } else { v.clamp(min, max) };
                        self.clamped += 1;
                        break;
                    }
                    tries += 1;
                    self.redraws += 1;
                    v = sample_mdn(raw, k, &mut self.scratch, &mut self.rng);
                }
                if v < bottom { min } else { v }
            }
        };
        self.row[attr] = v;
    }
}

impl Stan {
    /// Generate `n_hosts` host sequences. Each host starts from an empty (all-padding) window;
    /// per row, `cond` writes the given attributes, the model samples the others in order, and
    /// `cond` advances its state; a host stops when `cond.prepare` returns false or after
    /// `max_rows_per_host` rows. Host h uses its own `StdRng` derived from (`seed`, h).
    pub fn generate<C: Conditioner>(
        &self,
        cond: &C,
        n_hosts: usize,
        max_rows_per_host: usize,
        seed: u64,
    ) -> Result<(Sequences, GenStats)> {
        let t0 = Instant::now();
        let net = &self.net;
        let l = &net.layout;
        let (na, k, fw) = (l.n_attrs, l.window, l.feat_width);
        let dev = net.device();
        let dtype = net.dtype();
        let gw = GenWeights::new(net)?;
        let max_width = l.heads.iter().map(|h| h.width).max().unwrap_or(1);
        let mut active: Vec<Slot<C::State>> = (0..n_hosts)
            .map(|h| Slot {
                host: h,
                state: cond.init(h),
                rng: sub_rng(seed, 0x5EED_0000 + h as u64),
                hist: vec![0.0; k * na],
                n_hist: 0,
                row: vec![0.0; na],
                out: Vec::new(),
                n_rows: 0,
                redraws: 0,
                clamped: 0,
                scratch: vec![0.0; max_width],
            })
            .collect();
        let mut done: Vec<Slot<C::State>> = Vec::with_capacity(n_hosts);
        let (mut win_vals, mut win_present, mut cur_vals, mut cur_present) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut scratch = RowScratch::default();
        let max_redraws = self.cfg.max_redraws;
        let bin_h = self.cfg.bin_half_width;
        loop {
            // Ask each host for its next row's given attributes; retire finished hosts.
            let mut i = 0;
            while i < active.len() {
                let s = &mut active[i];
                s.row.fill(0.0);
                let go = s.n_rows < max_rows_per_host && cond.prepare(&s.state, &mut s.row);
                if go {
                    i += 1;
                } else {
                    done.push(active.swap_remove(i));
                }
            }
            if active.is_empty() {
                break;
            }
            let n = active.len();
            // Context of every active host, computed once per step.
            win_vals.clear();
            win_present.clear();
            for s in &active {
                win_vals.extend_from_slice(&s.hist);
                win_present.extend((0..k).map(|j| if j + s.n_hist >= k { 1f32 } else { 0.0 }));
            }
            let wrows = RowData::from_rows(l, &win_vals, &win_present, dev, dtype, &mut scratch)?;
            let wf = net.features(&wrows)?.reshape((n, k, fw))?;
            let ctx = net.context(&wf)?.detach();
            let pre_ctx = ctx.matmul(&gw.w0_ctx)?.broadcast_add(&gw.b0)?;
            cur_present.clear();
            cur_present.resize(n, 1f32);
            for (pos, hw) in gw.heads.iter().enumerate() {
                cur_vals.clear();
                for s in &active {
                    cur_vals.extend_from_slice(&s.row);
                }
                let crows =
                    RowData::from_rows(l, &cur_vals, &cur_present, dev, dtype, &mut scratch)?;
                let cf = net.features(&crows)?.detach();
                let mut h = (pre_ctx.narrow(1, 0, hw.e)? + cf.matmul(&hw.w0_row)?)?.relu()?;
                for (w, b) in &hw.layers {
                    h = h.matmul(w)?.broadcast_add(b)?.relu()?;
                }
                let raw = h.matmul(&hw.wo)?.broadcast_add(&hw.bo)?;
                let raw: Vec<f32> = raw.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
                let width = l.heads[pos].width;
                active
                    .par_iter_mut()
                    .zip(raw.par_chunks(width))
                    .for_each(|(s, r)| s.sample(l, pos, r, max_redraws, bin_h));
            }
            for s in active.iter_mut() {
                cond.advance(&mut s.state, &s.row);
                s.out.extend_from_slice(&s.row);
                s.n_rows += 1;
                s.hist.copy_within(na.., 0);
                s.hist[(k - 1) * na..].copy_from_slice(&s.row);
                s.n_hist = (s.n_hist + 1).min(k);
            }
        }
        done.sort_by_key(|s| s.host);
        let mut seq = Sequences::new(na);
        let mut stats = GenStats::default();
        for s in &done {
            seq.push_host(&s.out);
            stats.rows += s.n_rows;
            stats.redraws += s.redraws;
            stats.clamped += s.clamped;
        }
        stats.seconds = t0.elapsed().as_secs_f64();
        stats.flows_per_sec = stats.rows as f64 / stats.seconds.max(1e-9);
        Ok((seq, stats))
    }
}
