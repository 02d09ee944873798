//! The network: embeddings, convolutional context encoder, MADE-masked autoregressive block and
//! per-attribute heads, built from a [`Schema`].
//!
//! Row features (used for the window rows and the current row alike): the continuous values in
//! schema order, then one embedding per discrete attribute in schema order, then a "present"
//! flag. Rows before a host's first row are padding: all features including the flag are zero
//! (zero rows, not a learned pad).
//!
//! MADE degrees: context features, the present flag and `given` attributes have degree 0; the
//! attribute at position p of the generation order has degree p + 1. A hidden unit of degree m
//! sees inputs of degree <= m; the head at position p sees hidden units of degree <= p. So one
//! teacher-forced forward pass yields every head with exactly its autoregressive inputs.

use candle_core::{DType, Device, Tensor};

use super::config::StanConfig;
use super::layers::{Init, Params, conv1d_cl, hidden_degrees, mask_tensor, masked_linear, sub_rng};
use super::mdn::{
    MEAN_SCALE, bottom_edge, cell, mdn_log_prob, mdn_log_prob_cells, softmax_log_prob,
};
use crate::schema::{AttrKind, Rounding, Schema, Sequences};
use crate::{Error, Result};

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Continuous {
        min: f32,
        max: f32,
        col: usize,
        /// The decoder's rounding, if any: widens the likelihood cells (see [`cell`]).
        rounding: Option<Rounding>,
        /// Generation returns every draw below this edge as `min` ([`bottom_edge`]).
        bottom: f32,
    },
    Discrete {
        card: usize,
        emb: usize,
        col: usize,
    },
}

/// The class index that value `v` of a discrete attribute with `card` classes stands for: an
/// integral value in `0..card`, or `None`.
pub(crate) fn class_index(v: f32, card: usize) -> Option<usize> {
    (v >= 0.0 && v.fract() == 0.0 && (v as usize) < card).then_some(v as usize)
}

/// Per-attribute layout information.
#[derive(Clone, Debug)]
pub(crate) struct AttrLayout {
    pub name: String,
    pub kind: Kind,
    /// Position in the generation order; `None` for given attributes.
    pub pos: Option<usize>,
}

/// Head of one sampled attribute: its slice of the output layer.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    pub attr: usize,
    pub width: usize,
}

/// Everything about the shapes, derived from schema + config.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub n_attrs: usize,
    pub attrs: Vec<AttrLayout>,
    /// Schema indices of continuous attributes (column order of the continuous block).
    pub cont: Vec<usize>,
    /// Schema indices of discrete attributes (order of the embedding blocks).
    pub disc: Vec<usize>,
    /// Heads in generation order.
    pub heads: Vec<Head>,
    pub feat_width: usize,
    pub feat_degree: Vec<usize>,
    pub ctx_dim: usize,
    pub hidden_degree: Vec<usize>,
    /// prefix[p] = number of hidden units with degree <= p (units are sorted by degree).
    pub prefix: Vec<usize>,
    pub k_mix: usize,
    pub window: usize,
}

impl Layout {
    pub fn new(schema: &Schema, cfg: &StanConfig) -> Result<Layout> {
        cfg.validate()?;
        if schema.is_empty() {
            return Err(Error::Invalid("empty schema".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for a in &schema.attrs {
            if !seen.insert(a.name.as_str()) {
                return Err(Error::Invalid(format!(
                    "duplicate attribute name `{}`",
                    a.name
                )));
            }
            match a.kind {
                AttrKind::Continuous { min, max, .. }
                    if !(min < max && min.is_finite() && max.is_finite()) =>
                {
                    return Err(Error::Invalid(format!(
                        "attribute `{}`: need finite min < max",
                        a.name
                    )));
                }
                AttrKind::Discrete { cardinality } if !(1..=(1 << 24)).contains(&cardinality) => {
                    return Err(Error::Invalid(format!(
                        "attribute `{}`: cardinality {cardinality} out of range 1..2^24",
                        a.name
                    )));
                }
                _ => {}
            }
        }
        let order: Vec<usize> = if cfg.order.is_empty() {
            (0..schema.len())
                .filter(|&i| !schema.attrs[i].given)
                .collect()
        } else {
            let mut o = Vec::new();
            for n in &cfg.order {
                let i = schema.index(n).ok_or_else(|| Error::Spec {
                    key: "order".into(),
                    reason: format!("unknown attribute `{n}`"),
                })?;
                if schema.attrs[i].given || o.contains(&i) {
                    return Err(Error::Spec {
                        key: "order".into(),
                        reason: format!("`{n}` is given or listed twice"),
                    });
                }
                o.push(i);
            }
            let need = schema.attrs.iter().filter(|a| !a.given).count();
            if o.len() != need {
                return Err(Error::Spec {
                    key: "order".into(),
                    reason: format!(
                        "lists {} attributes, the schema has {need} non-given ones",
                        o.len()
                    ),
                });
            }
            o
        };
        if order.is_empty() {
            return Err(Error::Invalid("schema has no attribute to generate".into()));
        }
        let mut attrs = Vec::new();
        let (mut cont, mut disc) = (Vec::new(), Vec::new());
        for (i, a) in schema.attrs.iter().enumerate() {
            let kind = match a.kind {
                AttrKind::Continuous { min, max, rounding } => {
                    cont.push(i);
                    let rounding = rounding.filter(|_| cfg.rounding_cells);
                    Kind::Continuous {
                        min,
                        max,
                        col: cont.len() - 1,
                        rounding,
                        bottom: bottom_edge(min, cfg.bin_half_width as f64, rounding),
                    }
                }
                AttrKind::Discrete { cardinality } => {
                    disc.push(i);
                    Kind::Discrete {
                        card: cardinality,
                        emb: cfg.embed_dim.min(cardinality),
                        col: disc.len() - 1,
                    }
                }
            };
            attrs.push(AttrLayout {
                name: a.name.clone(),
                kind,
                pos: order.iter().position(|&o| o == i),
            });
        }
        let degree = |i: usize| attrs[i].pos.map_or(0, |p| p + 1);
        let mut feat_degree: Vec<usize> = cont.iter().map(|&i| degree(i)).collect();
        for &i in &disc {
            if let Kind::Discrete { emb, .. } = attrs[i].kind {
                feat_degree.extend(std::iter::repeat_n(degree(i), emb));
            }
        }
        feat_degree.push(0); // present flag
        let feat_width = feat_degree.len();
        let ctx_dim = if cfg.cnn_active() {
            cfg.window * cfg.conv_channels.last().copied().unwrap_or(feat_width)
        } else {
            cfg.window * feat_width
        };
        let k_mix = cfg.mixture_components;
        let mut heads = Vec::new();
        for &i in &order {
            let width = match attrs[i].kind {
                Kind::Continuous { .. } => 3 * k_mix,
                Kind::Discrete { card, .. } => card,
            };
            heads.push(Head { attr: i, width });
        }
        let hidden_degree = hidden_degrees(cfg.hidden, order.len())?;
        let prefix = (0..order.len())
            .map(|p| hidden_degree.iter().filter(|&&m| m <= p).count())
            .collect();
        Ok(Layout {
            n_attrs: schema.len(),
            attrs,
            cont,
            disc,
            heads,
            feat_width,
            feat_degree,
            ctx_dim,
            hidden_degree,
            prefix,
            k_mix,
            window: cfg.window,
        })
    }

    /// First feature column of attribute `i` in a row's features ([`Net::features`]: the
    /// continuous values, then one embedding block per discrete attribute in `disc` order, then
    /// the present flag in the last column).
    pub fn feature_col(&self, i: usize) -> usize {
        match self.attrs[i].kind {
            Kind::Continuous { col, .. } => col,
            Kind::Discrete { col, .. } => {
                let emb = |&j: &usize| match self.attrs[j].kind {
                    Kind::Discrete { emb, .. } => emb,
                    Kind::Continuous { .. } => 0,
                };
                self.cont.len() + self.disc[..col].iter().map(emb).sum::<usize>()
            }
        }
    }
}

/// Row data on the device: continuous block, discrete class ids, present flags.
pub(crate) struct RowData {
    /// [M, n_cont] in the model dtype (absent when there is no continuous attribute).
    pub cont: Option<Tensor>,
    /// One [M] u32 tensor per discrete attribute.
    pub ids: Vec<Tensor>,
    /// [M, 1] in the model dtype.
    pub present: Tensor,
    /// Likelihood cells of the continuous values, [M, 2 * n_cont] f64 as (lo, hi) pairs in
    /// column order; only on training tables ([`RowData::with_cells`]), computed once.
    pub cells: Option<Tensor>,
}

impl RowData {
    /// Upload host rows (row-major, `n_attrs` per row) with `present` flags. Discrete values
    /// must already be validated class indices.
    pub fn from_rows(
        layout: &Layout,
        rows: &[f32],
        present: &[f32],
        dev: &Device,
        dtype: DType,
        scratch: &mut RowScratch,
    ) -> Result<RowData> {
        let m = present.len();
        let na = layout.n_attrs;
        scratch.cont.clear();
        for r in 0..m {
            let row = &rows[r * na..(r + 1) * na];
            scratch.cont.extend(layout.cont.iter().map(|&i| row[i]));
        }
        let cont = if layout.cont.is_empty() {
            None
        } else {
            Some(Tensor::from_slice(&scratch.cont, (m, layout.cont.len()), dev)?.to_dtype(dtype)?)
        };
        let mut ids = Vec::with_capacity(layout.disc.len());
        for &i in &layout.disc {
            scratch.ids.clear();
            scratch.ids.extend((0..m).map(|r| rows[r * na + i] as u32));
            ids.push(Tensor::from_slice(&scratch.ids, m, dev)?);
        }
        let present = Tensor::from_slice(present, (m, 1), dev)?.to_dtype(dtype)?;
        Ok(RowData {
            cont,
            ids,
            present,
            cells: None,
        })
    }

    /// Attach the likelihood cells ([`cell`]) of the continuous values of `rows` (the rows this
    /// table was built from) for the binned likelihood with half-width `h` (none when h = 0).
    pub fn with_cells(mut self, layout: &Layout, rows: &[f32], h: f64) -> Result<RowData> {
        if h <= 0.0 || layout.cont.is_empty() {
            return Ok(self);
        }
        let na = layout.n_attrs;
        let m = rows.len() / na;
        let mut edges = Vec::with_capacity(m * 2 * layout.cont.len());
        for r in rows.chunks_exact(na) {
            for &i in &layout.cont {
                if let Kind::Continuous { min, rounding, .. } = layout.attrs[i].kind {
                    let (lo, hi) = cell(r[i] as f64, min as f64, h, rounding);
                    edges.extend([lo, hi]);
                }
            }
        }
        let dev = self.present.device().clone();
        self.cells = Some(Tensor::from_vec(edges, (m, 2 * layout.cont.len()), &dev)?);
        Ok(self)
    }

    /// Rows `idx` [M] (u32) of this table, with their likelihood cells.
    pub fn select(&self, idx: &Tensor) -> Result<RowData> {
        let mut r = self.select_inputs(idx)?;
        r.cells = self
            .cells
            .as_ref()
            .map(|c| c.index_select(idx, 0))
            .transpose()?;
        Ok(r)
    }

    /// Rows `idx` without their likelihood cells (model inputs only, e.g. context windows).
    pub fn select_inputs(&self, idx: &Tensor) -> Result<RowData> {
        Ok(RowData {
            cont: self
                .cont
                .as_ref()
                .map(|c| c.index_select(idx, 0))
                .transpose()?,
            ids: self
                .ids
                .iter()
                .map(|t| t.index_select(idx, 0))
                .collect::<candle_core::Result<_>>()?,
            present: self.present.index_select(idx, 0)?,
            cells: None,
        })
    }
}

/// The shift-and-concatenate of `conv1d_cl` on host data: `x` holds `n` windows of `k` rows
/// of `c` channels; row t of window b in the result is the concatenation of input rows
/// t - ks/2 .. t - ks/2 + ks - 1 (zeros outside the window), [n * k, ks * c]. The same gather
/// as the training op's forward, so generation's context sees the same values.
pub(crate) fn shift_concat(x: &[f32], n: usize, k: usize, c: usize, ks: usize) -> Vec<f32> {
    super::shift::gather(x, n, k, c, ks)
}

/// [`Net::features`] computed on the host, one row at a time, for generation: a roll-out
/// keeps each host's window as feature rows and builds only the finished row's features per
/// step, instead of rebuilding the features of all k window rows from tensors (index selects,
/// concatenations) every step. The values are the same bits as `Net::features` (copies of the
/// values and of the f32 embedding rows; the present flag is 1), so the convolution sees the
/// same input.
pub(crate) struct HostFeatures {
    /// Per schema attribute, where its features go.
    cols: Vec<FeatureBlock>,
    width: usize,
}

/// The feature columns of one attribute.
enum FeatureBlock {
    /// A continuous value, in this column.
    Value(usize),
    /// A class's embedding row (`table` is [card, dim]), in columns `col..col + dim`.
    Embedding {
        col: usize,
        dim: usize,
        table: Vec<f32>,
    },
}

impl HostFeatures {
    pub fn new(net: &Net) -> Result<HostFeatures> {
        let l = &net.layout;
        let mut cols = Vec::with_capacity(l.n_attrs);
        for (i, a) in l.attrs.iter().enumerate() {
            cols.push(match a.kind {
                Kind::Continuous { col, .. } => FeatureBlock::Value(col),
                Kind::Discrete { emb, .. } => {
                    let table: Vec<f32> = net
                        .params
                        .get(&format!("emb.{i}"))?
                        .detach()
                        .to_dtype(DType::F32)?
                        .flatten_all()?
                        .to_vec1()?;
                    FeatureBlock::Embedding {
                        col: l.feature_col(i),
                        dim: emb,
                        table,
                    }
                }
            });
        }
        Ok(HostFeatures {
            cols,
            width: l.feat_width,
        })
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Write the features of attribute `attr` with value `v` into `out` (one feature row). A
    /// discrete value must be a class index below the cardinality.
    fn set(&self, attr: usize, v: f32, out: &mut [f32]) -> Result<()> {
        match &self.cols[attr] {
            FeatureBlock::Value(c) => out[*c] = v,
            FeatureBlock::Embedding { col: c, dim, table } => {
                let id = class_index(v, table.len() / dim).ok_or_else(|| {
                    Error::Invalid(format!("attribute {attr}: class {v} out of range"))
                })?;
                out[*c..c + dim].copy_from_slice(&table[id * dim..(id + 1) * dim]);
            }
        }
        Ok(())
    }

    /// Features of a whole present row (`n_attrs` values) into `out`.
    pub fn row(&self, row: &[f32], out: &mut [f32]) -> Result<()> {
        for (a, &v) in row.iter().enumerate() {
            self.set(a, v, out)?;
        }
        out[self.width - 1] = 1.0;
        Ok(())
    }
}

/// Reusable host buffers for [`RowData::from_rows`].
#[derive(Default)]
pub(crate) struct RowScratch {
    cont: Vec<f32>,
    ids: Vec<u32>,
}

/// The `n` most populated bins of width 2h (grid anchored at 0) of sorted values `v`, as
/// (mean of the values in the bin, count), most populated first (ties: lower bin first).
fn top_bins(v: &[f64], h: f64, n: usize) -> Vec<(f64, f64)> {
    if n == 0 || h <= 0.0 || v.is_empty() {
        return Vec::new();
    }
    let mut bins: Vec<(i64, f64, f64)> = Vec::new(); // (bin, count, sum)
    for &x in v {
        let b = (x / (2.0 * h)).floor() as i64;
        match bins.last_mut() {
            Some(last) if last.0 == b => {
                last.1 += 1.0;
                last.2 += x;
            }
            _ => bins.push((b, 1.0, x)),
        }
    }
    bins.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    bins.iter().take(n).map(|&(_, c, s)| (s / c, c)).collect()
}

/// The network parameters plus constant masks.
pub(crate) struct Net {
    pub layout: Layout,
    pub params: Params,
    pub masks: Vec<Tensor>,
    pub cfg: StanConfig,
}

impl Net {
    pub fn new(
        schema: &Schema,
        cfg: &StanConfig,
        seed: u64,
        dev: &Device,
        dtype: DType,
    ) -> Result<Net> {
        let layout = Layout::new(schema, cfg)?;
        let mut rng = sub_rng(seed, 1);
        let mut params = Params::new(dev, dtype);
        for &i in &layout.disc {
            if let Kind::Discrete { card, emb, .. } = layout.attrs[i].kind {
                params.add(
                    &format!("emb.{i}"),
                    &[card, emb],
                    Init::Uniform(1.0),
                    &mut rng,
                )?;
            }
        }
        if cfg.cnn_active() {
            let mut cin = layout.feat_width;
            for (l, &cout) in cfg.conv_channels.iter().enumerate() {
                let fan_in = cfg.kernel_size * cin;
                let bound = (6.0 / fan_in as f64).sqrt();
                params.add(
                    &format!("conv.{l}.w"),
                    &[fan_in, cout],
                    Init::Uniform(bound),
                    &mut rng,
                )?;
                params.add(&format!("conv.{l}.b"), &[cout], Init::Zeros, &mut rng)?;
                cin = cout;
            }
        }
        let h = cfg.hidden;
        let hd = &layout.hidden_degree;
        let mut masks = Vec::new();
        let in0 = layout.ctx_dim + layout.feat_width;
        for l in 0..cfg.ar_layers {
            let fan_in = if l == 0 { in0 } else { h };
            params.add(
                &format!("ar.{l}.w"),
                &[fan_in, h],
                Init::Uniform((6.0 / fan_in as f64).sqrt()),
                &mut rng,
            )?;
            params.add(&format!("ar.{l}.b"), &[h], Init::Zeros, &mut rng)?;
            let m = if l == 0 {
                let ctx = layout.ctx_dim;
                let fd = &layout.feat_degree;
                mask_tensor(in0, h, |i, j| i < ctx || fd[i - ctx] <= hd[j], dev, dtype)?
            } else {
                mask_tensor(h, h, |i, j| hd[i] <= hd[j], dev, dtype)?
            };
            masks.push(m);
        }
        // One output layer per head, reading only the hidden units it may see (a prefix, since
        // units are sorted by degree): no output mask and no slicing of a wide output tensor.
        // Mixture heads start with means spread over [min, max] and sigmas of one component
        // spacing; `fit` then moves all biases to the training marginals. Zero weights: the
        // initial heads equal their biases (see `Net::init_heads_from_data`), so training starts
        // from the independent-attributes model instead of randomly scattered mixture means.
        let k = layout.k_mix;
        for (p, hd_) in layout.heads.iter().enumerate() {
            let mut bias = vec![0f64; hd_.width];
            if let Kind::Continuous { min, max, .. } = layout.attrs[hd_.attr].kind {
                let (lo, span) = (min as f64, (max - min) as f64);
                for c in 0..k {
                    bias[k + c] = (lo + span * (c as f64 + 0.5) / k as f64) / MEAN_SCALE;
                    bias[2 * k + c] = (span / k as f64).ln();
                }
            }
            let i = hd_.attr;
            params.add(
                &format!("head.{i}.w"),
                &[layout.prefix[p], hd_.width],
                Init::Zeros,
                &mut rng,
            )?;
            params.add(
                &format!("head.{i}.b"),
                &[hd_.width],
                Init::Values(bias),
                &mut rng,
            )?;
        }
        Ok(Net {
            layout,
            params,
            masks,
            cfg: cfg.clone(),
        })
    }

    /// Set the output biases to the marginals of `seq` so training starts from the
    /// independent-attributes model: softmax biases = ln of add-one smoothed class frequencies;
    /// mixture means at the K quantiles (c + 0.5) / K, sigmas = the spacing of neighbouring
    /// quantiles (at least the bin half-width, or 1e-3 of the range), equal weights.
    pub fn init_heads_from_data(&self, seq: &Sequences) -> Result<()> {
        let n = seq.n_rows();
        if n == 0 {
            return Ok(());
        }
        let k = self.layout.k_mix;
        for head in &self.layout.heads {
            let out_b = &self.params.vars[&format!("head.{}.b", head.attr)];
            let mut bias = vec![0f64; head.width];
            let vals = (0..n).map(|i| seq.row(i)[head.attr]);
            match self.layout.attrs[head.attr].kind {
                Kind::Discrete { card, .. } => {
                    let mut counts = vec![1f64; card];
                    for v in vals {
                        counts[(v as usize).min(card - 1)] += 1.0;
                    }
                    let tot = (n + card) as f64;
                    for (c, cnt) in counts.iter().enumerate() {
                        bias[c] = (cnt / tot).ln();
                    }
                }
                Kind::Continuous { min, max, .. } => {
                    let mut v: Vec<f64> = vals.map(|x| x as f64).collect();
                    v.sort_by(f64::total_cmp);
                    let h = self.cfg.bin_half_width as f64;
                    let floor = h.max((max - min) as f64 * 1e-3);
                    // Binned likelihood (spiky columns): half of the components sit on the most
                    // frequent bins of width 2h, with sigma = h and weight = bin frequency.
                    let n_modes = if h > 0.0 { k / 2 } else { 0 };
                    let modes = top_bins(&v, h, n_modes);
                    let mode_mass: f64 = modes.iter().map(|m| m.1).sum::<f64>() / n as f64;
                    let rest = k - modes.len();
                    for (c, &(centre, count)) in modes.iter().enumerate() {
                        bias[c] = (count / n as f64).max(1e-6).ln();
                        bias[k + c] = centre / MEAN_SCALE;
                        bias[2 * k + c] = floor.ln();
                    }
                    // The other components at the quantiles (c + 0.5) / rest, sigma = spacing.
                    let q = |p: f64| crate::stats::quantile_sorted(&v, p.clamp(0.0, 1.0));
                    let w_rest = ((1.0 - mode_mass).max(1e-3) / rest.max(1) as f64).ln();
                    for j in 0..rest {
                        let c = modes.len() + j;
                        let (a, b) = (j as f64 / rest as f64, (j + 1) as f64 / rest as f64);
                        bias[c] = w_rest;
                        bias[k + c] = q((a + b) / 2.0) / MEAN_SCALE;
                        bias[2 * k + c] = (q(b) - q(a)).max(floor).ln();
                    }
                }
            }
            let t = Tensor::from_vec(bias, head.width, &Device::Cpu)?
                .to_dtype(self.dtype())?
                .to_device(self.device())?;
            out_b.set(&t)?;
        }
        Ok(())
    }

    pub fn device(&self) -> &Device {
        &self.params.device
    }
    pub fn dtype(&self) -> DType {
        self.params.dtype
    }

    /// Row features [M, F] (see the module docs for the column layout).
    pub fn features(&self, rows: &RowData) -> Result<Tensor> {
        let mut parts: Vec<Tensor> = Vec::with_capacity(1 + rows.ids.len());
        if let Some(c) = &rows.cont {
            parts.push(c.clone());
        }
        for (j, &i) in self.layout.disc.iter().enumerate() {
            parts.push(
                self.params
                    .get(&format!("emb.{i}"))?
                    .index_select(&rows.ids[j], 0)?,
            );
        }
        let x = Tensor::cat(&parts, 1)?.broadcast_mul(&rows.present)?;
        Ok(Tensor::cat(&[&x, &rows.present], 1)?)
    }

    /// Context vector [B, ctx_dim] from window features [B, k, F] (oldest row first).
    pub fn context(&self, window: &Tensor) -> Result<Tensor> {
        let b = window.dim(0)?;
        let mut x = window.clone();
        if self.cfg.cnn_active() {
            for l in 0..self.cfg.conv_channels.len() {
                let w = self.params.get(&format!("conv.{l}.w"))?;
                let bias = self.params.get(&format!("conv.{l}.b"))?;
                x = conv1d_cl(&x, w, bias, self.cfg.kernel_size)?.relu()?;
            }
        }
        Ok(x.contiguous()?.reshape((b, ()))?)
    }

    /// [`Net::context`] of `n` windows given as host features (`hist`: n x k x F, oldest row
    /// first), with every convolution's shift-and-concatenate built on the host: in
    /// `conv1d_cl` it is two strided copies (the concatenation of narrowed views, then the
    /// reshape), a tenth of a generation step. The products see the same values in the same
    /// layout, so the result is bit-identical to `context`.
    pub fn context_host(&self, hist: &[f32], n: usize) -> Result<Tensor> {
        let (k, f) = (self.layout.window, self.layout.feat_width);
        let (dev, dtype) = (self.device(), self.dtype());
        if !self.cfg.cnn_active() {
            return Ok(Tensor::from_slice(hist, (n, k * f), dev)?.to_dtype(dtype)?);
        }
        let ks = self.cfg.kernel_size;
        let layers = self.cfg.conv_channels.len();
        // Layer 0 reads the host window itself; later layers the previous layer's output.
        let mut prev_out: Vec<f32>;
        let (mut x, mut c) = (hist, f);
        let mut out: Option<Tensor> = None;
        for l in 0..layers {
            if let Some(prev) = out.take() {
                c = prev.dim(1)?;
                prev_out = prev.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
                x = &prev_out;
            }
            let u = Tensor::from_vec(shift_concat(x, n, k, c, ks), (n * k, ks * c), dev)?;
            let w = self.params.get(&format!("conv.{l}.w"))?;
            let bias = self.params.get(&format!("conv.{l}.b"))?;
            out = Some(u.to_dtype(dtype)?.matmul(w)?.broadcast_add(bias)?.relu()?);
        }
        let y = out.ok_or_else(|| Error::Other("no convolution layer".into()))?;
        Ok(y.reshape((n, ()))?)
    }

    /// Teacher-forced forward pass: raw outputs of every head (generation order), [B, width].
    pub fn forward(&self, window: &Tensor, current: &Tensor) -> Result<Vec<Tensor>> {
        let ctx = self.context(window)?;
        let mut h = Tensor::cat(&[&ctx, current], 1)?;
        for (l, m) in self.masks.iter().enumerate() {
            let w = self.params.get(&format!("ar.{l}.w"))?;
            let b = self.params.get(&format!("ar.{l}.b"))?;
            h = masked_linear(&h, w, m, b)?.relu()?;
        }
        let hidden = self.cfg.hidden;
        let mut outs = Vec::with_capacity(self.layout.heads.len());
        // The bias rides in the matrix product as an extra input column of ones: as a
        // `broadcast_add`, its backward summed the [B, width] gradient over the batch with
        // candle's strided CPU reduction, about 10 % of a training step on the 5,000-logit heads
        // (plus one zero-fill and one addition of that size), where the product's own backward
        // gets the same sum from the gradient's matrix product.
        let ones = Tensor::ones((h.dim(0)?, 1), h.dtype(), h.device())?;
        for (p, head) in self.layout.heads.iter().enumerate() {
            let e = self.layout.prefix[p];
            let hp = if e == hidden {
                h.clone()
            } else {
                h.narrow(1, 0, e)?
            };
            let w = self.params.get(&format!("head.{}.w", head.attr))?;
            let b = self.params.get(&format!("head.{}.b", head.attr))?;
            let x = Tensor::cat(&[&hp, &ones], 1)?;
            let wb = Tensor::cat(&[w, &b.unsqueeze(0)?], 0)?;
            outs.push(x.matmul(&wb)?);
        }
        Ok(outs)
    }

    /// Per-sample negative log-likelihood of every head, stacked [n_heads, B] in generation
    /// order. `target` holds the current rows.
    pub fn head_nll(&self, outs: &[Tensor], target: &RowData) -> Result<Tensor> {
        let h = self.cfg.bin_half_width as f64;
        let mut per = Vec::with_capacity(self.layout.heads.len());
        for (head, out) in self.layout.heads.iter().zip(outs) {
            let lp = match self.layout.attrs[head.attr].kind {
                Kind::Continuous { col, .. } => {
                    let c = target
                        .cont
                        .as_ref()
                        .ok_or_else(|| Error::Other("continuous targets missing".into()))?;
                    let y = c.narrow(1, col, 1)?;
                    match &target.cells {
                        Some(e) => {
                            let cells = e.narrow(1, 2 * col, 2)?;
                            mdn_log_prob_cells(out, &y, &cells, self.layout.k_mix)?
                        }
                        None if h == 0.0 => mdn_log_prob(out, &y, self.layout.k_mix, 0.0)?,
                        None => {
                            return Err(Error::Other(
                                "binned likelihood without the table's cells (RowData::with_cells)"
                                    .into(),
                            ));
                        }
                    }
                }
                Kind::Discrete { col, .. } => softmax_log_prob(out, &target.ids[col])?,
            };
            per.push(lp.neg()?);
        }
        Ok(Tensor::stack(&per, 0)?)
    }

    /// Teacher-forced per-head NLL [n_heads, B] for current rows `idx_c` [B] with window rows
    /// `idx_w` [B * k] (oldest first; the padding row index selects an all-zero row).
    pub fn batch_nll(&self, table: &RowData, idx_w: &Tensor, idx_c: &Tensor) -> Result<Tensor> {
        let b = idx_c.dim(0)?;
        let k = self.layout.window;
        let wf =
            self.features(&table.select_inputs(idx_w)?)?
                .reshape((b, k, self.layout.feat_width))?;
        let cur = table.select(idx_c)?;
        let cf = self.features(&cur)?;
        let out = self.forward(&wf, &cf)?;
        self.head_nll(&out, &cur)
    }
}
