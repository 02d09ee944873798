//! Batched roll-out: every active host advances one row per step; the network runs once per
//! (step, attribute) on all active hosts, the sampling happens on the host side from one seeded
//! `StdRng` per host (so results do not depend on thread scheduling).

use std::time::Instant;

use candle_core::{DType, Tensor};
use rand::rngs::StdRng;
use rayon::prelude::*;

use super::categorical::{sample_softmax, scratch_len};
use super::layers::sub_rng;
use super::mdn::sample_mdn;
use super::net::{HostFeatures, Kind, Layout, Net, class_index, shift_concat};
use super::{GenStats, Stan};
use crate::schema::Sequences;
use crate::{Error, Result};

pub use crate::schema::{Conditioner, Unconditioned};

/// Weights of the part of the network that one head needs past the first layer (units are
/// sorted by MADE degree, so head p only needs the first `prefix[p]` hidden units of every
/// layer).
struct HeadWeights {
    e: usize,
    layers: Vec<(Tensor, Tensor)>,
    wo: Tensor,
    bo: Tensor,
    /// The same weights on the host, for f32 models on the CPU.
    host: Option<HostHead>,
}

/// One head's weights as host f32 slices (row-major; `layers` as (weight [e, e], bias [e])):
/// generation's per-head products run on the host with the matrix-multiply routine candle
/// calls, with the same arguments, so the outputs are the same bits as the tensor path's.
/// Why: with the quickstart's ~47 hosts per step, a head's two small products are ~8 candle
/// operations (upload, products, bias additions, relu, download), each with its own
/// allocations, and that per-operation overhead, not arithmetic, bounded generation.
struct HostHead {
    layers: Vec<(Vec<f32>, Vec<f32>)>,
    wo: Vec<f32>,
    bo: Vec<f32>,
}

/// `out = x w` for row-major `x` [m, k] and `w` [k, n], through `gemm` exactly as candle 0.11's
/// CPU matmul calls it (contiguous strides, `alpha = 0, beta = 1`, rayon parallelism with
/// candle's thread count), so results match `Tensor::matmul` bit for bit.
///
/// With `one_thread`, the product runs on the calling thread: for k <= 512 gemm adds every
/// output's k products in one sequential chain whatever the threading and the number of rows
/// (m >= 2; a single row takes gemm's vector path), so a batch split into parts of >= 2 rows
/// gives the same bits as the whole batch (see [`Stan::generate`]).
fn host_matmul(
    x: &[f32],
    m: usize,
    k: usize,
    w: &[f32],
    n: usize,
    out: &mut Vec<f32>,
    one_thread: bool,
) {
    assert!(x.len() == m * k && w.len() == k * n, "host_matmul: shapes");
    out.clear();
    out.resize(m * n, 0.0);
    let threads = candle_core::utils::get_num_threads();
    let par = if threads > 1 && !one_thread {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `out` holds m x n values, `x` m x k and `w` k x n (asserted above), all
    // row-major with the unit column strides and row strides passed here; `read_dst` is false.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// `v[r][j] += b[j]` for every row, then relu when asked (candle's `broadcast_add` and `relu`
/// on f32: `x + b`, `x.max(0)`).
fn add_bias(v: &mut [f32], b: &[f32], relu: bool) {
    for row in v.chunks_exact_mut(b.len()) {
        for (x, &bj) in row.iter_mut().zip(b) {
            *x += bj;
            if relu {
                *x = x.max(0f32);
            }
        }
    }
}

/// First-layer contribution of one attribute.
enum First {
    /// Continuous: the layer's row [H], times the value.
    PerUnit(Vec<f32>),
    /// Discrete: embedding times the layer's rows, [card, H], one row per class.
    PerClass(Vec<f32>),
}

/// The generation form of the network, built once per call.
///
/// The first MADE layer is linear in the row features, and a roll-out fills one attribute per
/// head, so its pre-activation is kept per host on the host side and updated by the sampled
/// attribute's contribution: a lookup in a precomputed [card, H] table (embedding row times
/// its first-layer rows) for a discrete value, `value x row` for a continuous one. Each head
/// then starts from `relu(acc[..e])` instead of multiplying the whole row's features by the
/// first layer again (~15 % of a row's arithmetic with the default model). The masks make
/// the two equal: a unit a head may see has zero weight from every attribute not sampled yet.
pub(super) struct GenWeights {
    /// First-layer rows of the context, [ctx_dim, H], and the layer's bias.
    w0_ctx: Tensor,
    b0: Tensor,
    hidden: usize,
    /// Per schema attribute: its first-layer contribution.
    first: Vec<First>,
    /// First-layer row of the present flag, [H].
    present: Vec<f32>,
    heads: Vec<HeadWeights>,
    /// The context path's weights on the host, for f32 models on the CPU.
    host_start: Option<HostStart>,
    /// The largest inner dimension of generation's products (see [`GenWeights::splittable`]).
    max_inner: usize,
    /// Schema indices of the given attributes (written by the caller, not sampled).
    given: Vec<usize>,
    /// The widest head (a slot's sampling scratch is sized for it).
    max_width: usize,
}

/// The window encoder and the first layer's context rows as host f32 slices, so that a step's
/// context and first-layer product run on the host like the heads ([`HostHead`]).
struct HostStart {
    /// Per convolution: weight [ks * cin, cout] and bias [cout].
    conv: Vec<(Vec<f32>, Vec<f32>)>,
    kernel: usize,
    w0_ctx: Vec<f32>,
    b0: Vec<f32>,
}

impl GenWeights {
    pub(super) fn new(net: &Net) -> Result<GenWeights> {
        let l = &net.layout;
        let p = &net.params;
        let masked = |w: &str, m: &Tensor| -> Result<Tensor> { Ok((p.get(w)?.detach() * m)?) };
        let w0 = masked("ar.0.w", &net.masks[0])?;
        let hidden = w0.dim(1)?;
        let host = |t: Tensor| -> Result<Vec<f32>> {
            Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?)
        };
        let w0_row = w0.narrow(0, l.ctx_dim, l.feat_width)?;
        let mut first = Vec::with_capacity(l.n_attrs);
        for (i, a) in l.attrs.iter().enumerate() {
            let c = l.feature_col(i);
            first.push(match a.kind {
                Kind::Continuous { .. } => First::PerUnit(host(w0_row.narrow(0, c, 1)?)?),
                Kind::Discrete { emb, .. } => {
                    let rows = w0_row.narrow(0, c, emb)?;
                    First::PerClass(host(p.get(&format!("emb.{i}"))?.detach().matmul(&rows)?)?)
                }
            });
        }
        let present = host(w0_row.narrow(0, l.feat_width - 1, 1)?)?;
        let deep: Vec<(Tensor, Tensor)> = (1..net.masks.len())
            .map(|i| {
                Ok((
                    masked(&format!("ar.{i}.w"), &net.masks[i])?,
                    p.get(&format!("ar.{i}.b"))?.detach(),
                ))
            })
            .collect::<Result<_>>()?;
        let on_host = net.device().is_cpu() && net.dtype() == DType::F32;
        let mut heads = Vec::new();
        for (pos, h) in l.heads.iter().enumerate() {
            let e = l.prefix[pos];
            let layers: Vec<(Tensor, Tensor)> = deep
                .iter()
                .map(|(w, b)| {
                    Ok((
                        w.narrow(0, 0, e)?.narrow(1, 0, e)?.contiguous()?,
                        b.narrow(0, 0, e)?.contiguous()?,
                    ))
                })
                .collect::<Result<_>>()?;
            let wo = p.get(&format!("head.{}.w", h.attr))?.detach();
            let bo = p.get(&format!("head.{}.b", h.attr))?.detach();
            let host = if on_host {
                Some(HostHead {
                    layers: layers
                        .iter()
                        .map(|(w, b)| Ok((host(w.clone())?, host(b.clone())?)))
                        .collect::<Result<_>>()?,
                    wo: host(wo.clone())?,
                    bo: host(bo.clone())?,
                })
            } else {
                None
            };
            heads.push(HeadWeights {
                e,
                layers,
                wo,
                bo,
                host,
            });
        }
        let w0_ctx = w0.narrow(0, 0, l.ctx_dim)?.contiguous()?;
        let b0 = p.get("ar.0.b")?.detach();
        let host_start = if on_host {
            let conv = if net.cfg.cnn_active() {
                (0..net.cfg.conv_channels.len())
                    .map(|i| {
                        Ok((
                            host(p.get(&format!("conv.{i}.w"))?.detach())?,
                            host(p.get(&format!("conv.{i}.b"))?.detach())?,
                        ))
                    })
                    .collect::<Result<_>>()?
            } else {
                Vec::new()
            };
            Some(HostStart {
                conv,
                kernel: net.cfg.kernel_size,
                w0_ctx: host(w0_ctx.clone())?,
                b0: host(b0.clone())?,
            })
        } else {
            None
        };
        // Inner dimensions: each convolution's taps x input channels, the context width, the
        // hidden units (deep layers and heads).
        let mut max_inner = l.ctx_dim.max(hidden);
        if net.cfg.cnn_active() {
            let mut cin = l.feat_width;
            for &cout in &net.cfg.conv_channels {
                max_inner = max_inner.max(net.cfg.kernel_size * cin);
                cin = cout;
            }
        }
        Ok(GenWeights {
            w0_ctx,
            b0,
            hidden,
            first,
            present,
            heads,
            host_start,
            max_inner,
            given: (0..l.n_attrs)
                .filter(|&i| l.attrs[i].pos.is_none())
                .collect(),
            max_width: l.heads.iter().map(|h| h.width).max().unwrap_or(1),
        })
    }

    /// The same weights without the host copies: every head runs through candle tensors
    /// (what other devices do), for tests that compare the two paths.
    #[cfg(test)]
    pub(super) fn tensor_only(mut self) -> GenWeights {
        for h in &mut self.heads {
            h.host = None;
        }
        self.host_start = None;
        self
    }

    /// Whether a step's batch may be split into parts by rows without changing the output:
    /// the host path runs (f32 on the CPU) and every product's inner dimension is <= 512, where
    /// gemm keeps one k-chain per output whatever the number of rows ([`host_matmul`]). Larger
    /// inner dimensions are cut into k-blocks whose size can depend on the row count, so the
    /// output would depend on the number of threads.
    pub(super) fn splittable(&self) -> bool {
        self.host_start.is_some() && self.max_inner <= 512
    }

    /// First-layer pre-activations [n, H] (host, row-major) of `n` rows from their windows'
    /// features `hist` (n x k x F): context product, bias and present flag; the row's own
    /// attributes are added by [`GenWeights::add`]. `one_thread` keeps the host products on
    /// the calling thread.
    pub(super) fn start(
        &self,
        net: &Net,
        hist: &[f32],
        n: usize,
        one_thread: bool,
    ) -> Result<Vec<f32>> {
        if let Some(hs) = &self.host_start {
            // `Net::context_host` and the product below, on host slices (same gemm calls).
            let (k, mut c) = (net.layout.window, net.layout.feat_width);
            let mut x = hist.to_vec();
            let mut y = Vec::new();
            for (w, b) in &hs.conv {
                let u = shift_concat(&x, n, k, c, hs.kernel);
                c = b.len();
                host_matmul(&u, n * k, u.len() / (n * k), w, c, &mut y, one_thread);
                add_bias(&mut y, b, true);
                std::mem::swap(&mut x, &mut y);
            }
            let mut pre = Vec::new();
            host_matmul(&x, n, k * c, &hs.w0_ctx, self.hidden, &mut pre, one_thread);
            add_bias(&mut pre, &hs.b0, false);
            for row in pre.chunks_exact_mut(self.hidden) {
                for (a, &p) in row.iter_mut().zip(&self.present) {
                    *a += p;
                }
            }
            return Ok(pre);
        }
        let ctx = net.context_host(hist, n)?.detach();
        let mut pre: Vec<f32> = ctx
            .matmul(&self.w0_ctx)?
            .broadcast_add(&self.b0)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1()?;
        for row in pre.chunks_exact_mut(self.hidden) {
            for (a, &p) in row.iter_mut().zip(&self.present) {
                *a += p;
            }
        }
        Ok(pre)
    }

    /// Raw outputs [n, width] (host, row-major) of the head at position `pos` for `n` rows
    /// whose first-layer pre-activations are `acc` (all attributes before `pos` added).
    /// `buf` is reused between calls; `one_thread` keeps the host products on the calling
    /// thread.
    pub(super) fn head<'a>(
        &self,
        pos: usize,
        acc: impl Iterator<Item = &'a [f32]>,
        n: usize,
        buf: &mut Vec<f32>,
        one_thread: bool,
    ) -> Result<Vec<f32>> {
        let hw = &self.heads[pos];
        buf.clear();
        for a in acc {
            buf.extend(a[..hw.e].iter().map(|&x| x.max(0.0)));
        }
        if let Some(hh) = &hw.host {
            let mut y = Vec::new();
            for (w, b) in &hh.layers {
                host_matmul(buf, n, hw.e, w, hw.e, &mut y, one_thread);
                add_bias(&mut y, b, true);
                std::mem::swap(buf, &mut y);
            }
            let mut raw = Vec::new();
            host_matmul(buf, n, hw.e, &hh.wo, hh.bo.len(), &mut raw, one_thread);
            add_bias(&mut raw, &hh.bo, false);
            return Ok(raw);
        }
        let (dev, dtype) = (self.b0.device(), self.b0.dtype());
        let mut h = Tensor::from_slice(buf, (n, hw.e), dev)?.to_dtype(dtype)?;
        for (w, b) in &hw.layers {
            h = h.matmul(w)?.broadcast_add(b)?.relu()?;
        }
        let raw = h.matmul(&hw.wo)?.broadcast_add(&hw.bo)?;
        Ok(raw.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?)
    }

    /// Add attribute `attr` with value `v` to a first-layer pre-activation `acc` [H]. A
    /// discrete value must be a class index below the cardinality.
    pub(super) fn add(&self, attr: usize, v: f32, acc: &mut [f32]) -> Result<()> {
        let t = match &self.first[attr] {
            First::PerUnit(w) => {
                for (a, w) in acc.iter_mut().zip(w) {
                    *a += v * w;
                }
                return Ok(());
            }
            First::PerClass(t) => t,
        };
        let c = class_index(v, t.len() / self.hidden)
            .ok_or_else(|| Error::Invalid(format!("attribute {attr}: class {v} out of range")))?;
        for (a, w) in acc
            .iter_mut()
            .zip(&t[c * self.hidden..(c + 1) * self.hidden])
        {
            *a += w;
        }
        Ok(())
    }
}

/// The conditioner's values of the given attributes must be valid inputs (class indices of
/// discrete ones, finite values): checked once per row, where they enter the roll-out.
fn check_given(l: &Layout, given: &[usize], row: &[f32]) -> Result<()> {
    for &i in given {
        let v = row[i];
        let ok = match l.attrs[i].kind {
            Kind::Discrete { card, .. } => class_index(v, card).is_some(),
            Kind::Continuous { .. } => v.is_finite(),
        };
        if !ok {
            return Err(Error::Invalid(format!(
                "conditioner gave attribute `{}` the invalid value {v}",
                l.attrs[i].name
            )));
        }
    }
    Ok(())
}

/// The part length that splits `n` rows into about `parts` parts, none of one row
/// (a single row takes another gemm path, see [`host_matmul`]); `None` when not worth
/// splitting (one thread, or fewer than 4 rows).
pub(super) fn part_len(n: usize, parts: usize) -> Option<usize> {
    if parts < 2 || n < 4 {
        return None;
    }
    let mut per = n.div_ceil(parts).max(2);
    while n % per == 1 {
        per += 1;
    }
    Some(per)
}

/// One generation step for `slots`: the context and first layer from each slot's window, the
/// given attributes, then every head in order, each sampled into the slot's row from its own
/// RNG. `one_thread`: everything on the calling thread (a part of a split batch); otherwise
/// the products may use the pool and the draws run in parallel.
fn sample_step<C: Conditioner>(
    gw: &GenWeights,
    net: &Net,
    cond: &C,
    slots: &mut [Slot<C::State>],
    (max_redraws, bin_h): (usize, f32),
    one_thread: bool,
) -> Result<()> {
    let l = &net.layout;
    let n = slots.len();
    let mut win = Vec::with_capacity(n * slots.first().map_or(0, |s| s.hist.len()));
    for s in slots.iter() {
        win.extend_from_slice(&s.hist);
    }
    let pre = gw.start(net, &win, n, one_thread)?;
    // The row's first-layer pre-activation: context, present flag, given attributes.
    for (s, pc) in slots.iter_mut().zip(pre.chunks_exact(gw.hidden)) {
        s.acc.copy_from_slice(pc);
        for &i in &gw.given {
            gw.add(i, s.row[i], &mut s.acc)?;
        }
    }
    let mut cur = Vec::new();
    for pos in 0..gw.heads.len() {
        let acc = slots.iter().map(|s| s.acc.as_slice());
        let raw = gw.head(pos, acc, n, &mut cur, one_thread)?;
        let (width, attr) = (l.heads[pos].width, l.heads[pos].attr);
        let draw = |(s, r): (&mut Slot<C::State>, &[f32])| {
            s.sample(l, pos, r, max_redraws, bin_h);
            cond.adjust(&s.state, attr, &mut s.row);
            gw.add(attr, s.row[attr], &mut s.acc)
        };
        if one_thread {
            slots.iter_mut().zip(raw.chunks(width)).try_for_each(draw)?;
        } else {
            slots
                .par_iter_mut()
                .zip(raw.par_chunks(width))
                .try_for_each(draw)?;
        }
    }
    Ok(())
}

/// One host being generated.
struct Slot<S> {
    host: usize,
    state: S,
    rng: StdRng,
    /// Features of the last k rows, oldest first (all zero before the host's first row).
    hist: Vec<f32>,
    row: Vec<f32>,
    /// First-layer pre-activation of `row` as sampled so far ([`GenWeights`]).
    acc: Vec<f32>,
    out: Vec<f32>,
    n_rows: usize,
    redraws: usize,
    clamped: usize,
    scratch: Vec<f32>,
}

impl<S> Slot<S> {
    /// A slot with an all-padding window of `hist_len` features, a zero row of `na` values
    /// and scratch for `gw`'s widest head.
    fn new(
        host: usize,
        state: S,
        rng: StdRng,
        hist_len: usize,
        na: usize,
        gw: &GenWeights,
    ) -> Slot<S> {
        Slot {
            host,
            state,
            rng,
            hist: vec![0.0; hist_len],
            row: vec![0.0; na],
            acc: vec![0.0; gw.hidden],
            out: Vec::new(),
            n_rows: 0,
            redraws: 0,
            clamped: 0,
            scratch: vec![0.0; scratch_len(gw.max_width)],
        }
    }

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
        let parts = rayon::current_num_threads();
        self.generate_in_parts(cond, n_hosts, max_rows_per_host, seed, parts)
    }

    /// [`Stan::generate`] with each step's hosts split into about `parts` parts on the host
    /// path (the output does not depend on it; a test checks that).
    pub(super) fn generate_in_parts<C: Conditioner>(
        &self,
        cond: &C,
        n_hosts: usize,
        max_rows_per_host: usize,
        seed: u64,
        parts: usize,
    ) -> Result<(Sequences, GenStats)> {
        let t0 = Instant::now();
        let net = &self.net;
        let l = &net.layout;
        let (na, k) = (l.n_attrs, l.window);
        let gw = GenWeights::new(net)?;
        let hf = HostFeatures::new(net)?;
        let fw = hf.width();
        let mut active: Vec<Slot<C::State>> = (0..n_hosts)
            .map(|h| {
                let rng = sub_rng(seed, 0x5EED_0000 + h as u64);
                Slot::new(h, cond.init(h), rng, k * fw, na, &gw)
            })
            .collect();
        let mut done: Vec<Slot<C::State>> = Vec::with_capacity(n_hosts);
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
                    check_given(l, &gw.given, &s.row)?;
                    i += 1;
                } else {
                    done.push(active.swap_remove(i));
                }
            }
            if active.is_empty() {
                break;
            }
            let step = |slots: &mut [Slot<C::State>], one_thread: bool| {
                sample_step(&gw, net, cond, slots, (max_redraws, bin_h), one_thread)
            };
            // On the host path, split the hosts into one part per thread, each sampled on its
            // own thread: one hand-off per step instead of one per product and per head (~50),
            // whose wake-ups cost more than the arithmetic of a small batch. Parts of >= 2
            // rows give the same bits as the whole batch ([`GenWeights::splittable`]).
            match part_len(active.len(), parts) {
                Some(per) if gw.splittable() => active
                    .par_chunks_mut(per)
                    .try_for_each(|part| step(part, true))?,
                _ => step(&mut active, false)?,
            }
            for s in active.iter_mut() {
                cond.advance(&mut s.state, &s.row);
                s.out.extend_from_slice(&s.row);
                s.n_rows += 1;
                s.hist.copy_within(fw.., 0);
                hf.row(&s.row, &mut s.hist[(k - 1) * fw..])?;
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
