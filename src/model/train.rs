//! Training: data upload, host split, AdamW with StepLR and global-norm clipping, early stopping.

use std::collections::BTreeMap;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, backprop::GradStore};
use rand::RngExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::layers::{Params, sub_rng};
use super::net::{Kind, Layout, Net, RowData, RowScratch, class_index};
use crate::schema::Sequences;
use crate::{Error, Result};

/// Check that every value of `seq` fits the schema: discrete values are integral class indices
/// in `0..cardinality`, every value is finite.
pub(crate) fn validate_rows(layout: &Layout, seq: &Sequences) -> Result<()> {
    if seq.n_attrs != layout.n_attrs {
        return Err(Error::Invalid(format!(
            "sequences have {} attributes, the schema has {}",
            seq.n_attrs, layout.n_attrs
        )));
    }
    for (r, row) in seq.rows.chunks_exact(layout.n_attrs).enumerate() {
        for (a, &v) in layout.attrs.iter().zip(row) {
            let ok = match a.kind {
                Kind::Continuous { .. } => v.is_finite(),
                Kind::Discrete { card, .. } => class_index(v, card).is_some(),
            };
            if !ok {
                return Err(Error::Invalid(format!(
                    "row {r}, attribute `{}`: invalid value {v}",
                    a.name
                )));
            }
        }
    }
    Ok(())
}

/// A whole data set on the device (uploaded once) plus the host-side index helpers.
pub(crate) struct Table {
    pub rows: RowData,
    /// First row of the host owning each row.
    pub row_start: Vec<u32>,
    pub n_rows: usize,
}

impl Table {
    pub fn new(net: &Net, seq: &Sequences) -> Result<Table> {
        validate_rows(&net.layout, seq)?;
        let n = seq.n_rows();
        if n >= u32::MAX as usize {
            return Err(Error::Invalid("too many rows for u32 indices".into()));
        }
        let mut vals = seq.rows.clone();
        vals.extend(std::iter::repeat_n(0.0, seq.n_attrs)); // the padding row, index n
        let mut present = vec![1f32; n];
        present.push(0.0);
        let mut scratch = RowScratch::default();
        let rows = RowData::from_rows(
            &net.layout,
            &vals,
            &present,
            net.device(),
            net.dtype(),
            &mut scratch,
        )?
        .with_cells(&net.layout, &vals, net.cfg.bin_half_width as f64)?;
        let mut row_start = vec![0u32; n];
        for h in 0..seq.n_hosts() {
            let r = seq.host(h);
            row_start[r.clone()].fill(r.start as u32);
        }
        Ok(Table {
            rows,
            row_start,
            n_rows: n,
        })
    }

    /// Window (oldest first, padded) and current-row index tensors for `rows`.
    pub fn indices(
        &self,
        rows: &[u32],
        k: usize,
        dev: &Device,
        iw: &mut Vec<u32>,
        ic: &mut Vec<u32>,
    ) -> Result<(Tensor, Tensor)> {
        iw.clear();
        ic.clear();
        let pad = self.n_rows as u32;
        for &r in rows {
            let start = self.row_start[r as usize] as i64;
            for j in (1..=k as i64).rev() {
                let s = r as i64 - j;
                iw.push(if s >= start { s as u32 } else { pad });
            }
            ic.push(r);
        }
        Ok((
            Tensor::from_slice(iw, iw.len(), dev)?,
            Tensor::from_slice(ic, ic.len(), dev)?,
        ))
    }

    /// Sum over rows of each head's NLL (generation order) — teacher forced, no parameter update.
    /// Batches are evaluated as parallel jobs on the CPU (one after the other elsewhere) and
    /// their sums added in batch order, so the result does not depend on the number of cores.
    pub fn nll_sums(&self, net: &Net, batch: usize) -> Result<Vec<f64>> {
        let all: Vec<u32> = (0..self.n_rows as u32).collect();
        let one = |chunk: &[u32]| -> Result<Vec<f64>> {
            let (w, c) = self.indices(
                chunk,
                net.layout.window,
                net.device(),
                &mut Vec::new(),
                &mut Vec::new(),
            )?;
            let nll = net.batch_nll(&self.rows, &w, &c)?.detach();
            Ok(nll.sum(1)?.to_dtype(DType::F64)?.to_vec1::<f64>()?)
        };
        let chunks: Vec<&[u32]> = all.chunks(batch.max(1)).collect();
        let parts: Vec<Result<Vec<f64>>> = if net.device().is_cpu() {
            chunks.par_iter().map(|c| one(c)).collect()
        } else {
            chunks.iter().map(|c| one(c)).collect()
        };
        let mut sums = vec![0f64; net.layout.heads.len()];
        for p in parts {
            for (a, b) in sums.iter_mut().zip(p?) {
                *a += b;
            }
        }
        Ok(sums)
    }
}

/// Persistent training progress (saved in config.json so that `fit` can resume).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TrainState {
    pub epochs_done: usize,
    pub step: u64,
    pub best_val: Option<f64>,
    pub best_epoch: Option<usize>,
    pub bad_epochs: usize,
    pub train_loss: Vec<f64>,
    pub val_loss: Vec<f64>,
    /// Set when early stopping fired (a resumed `fit` then does nothing).
    pub stopped: bool,
}

/// AdamW (decoupled weight decay, bias-corrected moments; beta = (0.9, 0.999), eps = 1e-8),
/// written here so that its moments can be checkpointed and training resumed exactly.
#[derive(Default)]
pub(crate) struct AdamW {
    pub m: BTreeMap<String, Tensor>,
    pub v: BTreeMap<String, Tensor>,
}

impl AdamW {
    const B1: f64 = 0.9;
    const B2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    /// One update; `step` is the 1-based step count. Gradients are first scaled so that their
    /// global L2 norm is at most `clip` (0 = no clipping). Returns the pre-clip norm.
    pub fn step(
        &mut self,
        params: &Params,
        grads: &GradStore,
        step: u64,
        lr: f64,
        wd: f64,
        clip: f64,
    ) -> Result<f64> {
        let mut gs = Vec::with_capacity(params.vars.len());
        for (name, var) in &params.vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                gs.push((name, var, g));
            }
        }
        // Parameters are independent: their squares and updates run as parallel jobs (each
        // one's element-wise operations are the same as one after the other, so the result is
        // too), and the norm adds the squares in parameter order.
        let sq: Vec<Tensor> = gs
            .par_iter()
            .map(|(_, _, g)| g.sqr()?.sum_all()?.to_dtype(DType::F64))
            .collect::<candle_core::Result<_>>()?;
        let norm = Tensor::stack(&sq, 0)?.sum_all()?.to_scalar::<f64>()?.sqrt();
        let scale = if clip > 0.0 && norm > clip {
            clip / (norm + 1e-12)
        } else {
            1.0
        };
        let t = step as i32;
        let (c1, c2) = (1.0 - Self::B1.powi(t), 1.0 - Self::B2.powi(t));
        let moments: Vec<(Tensor, Tensor)> = gs
            .par_iter()
            .map(|(name, var, g)| -> candle_core::Result<(Tensor, Tensor)> {
                // Detach: gradients carry their backward graph, and the moment estimates built
                // from them would otherwise chain every step's graph into the next (unbounded
                // memory).
                let g = (g.detach() * scale)?;
                let m_old = match self.m.get(name.as_str()) {
                    Some(m) => m.clone(),
                    None => g.zeros_like()?,
                };
                let v_old = match self.v.get(name.as_str()) {
                    Some(v) => v.clone(),
                    None => g.zeros_like()?,
                };
                let m = (m_old.affine(Self::B1, 0.0)? + g.affine(1.0 - Self::B1, 0.0)?)?;
                let v = (v_old.affine(Self::B2, 0.0)? + g.sqr()?.affine(1.0 - Self::B2, 0.0)?)?;
                let upd =
                    (m.affine(1.0 / c1, 0.0)? / (v.affine(1.0 / c2, 0.0)?.sqrt()? + Self::EPS)?)?;
                let theta = var.as_tensor().affine(1.0 - lr * wd, 0.0)?;
                var.set(&(theta - upd.affine(lr, 0.0)?)?)?;
                Ok((m.detach(), v.detach()))
            })
            .collect::<candle_core::Result<_>>()?;
        for ((name, _, _), (m, v)) in gs.iter().zip(moments) {
            self.m.insert((*name).clone(), m);
            self.v.insert((*name).clone(), v);
        }
        Ok(norm)
    }
}

/// `(start, len)` of `shards` contiguous, nearly equal parts of `rows` rows (the first
/// `rows % shards` parts one row longer); fewer parts when there are fewer rows.
pub(crate) fn shard_bounds(rows: usize, shards: usize) -> Vec<(usize, usize)> {
    let s = shards.clamp(1, rows.max(1));
    let (base, extra) = (rows / s, rows % s);
    let mut start = 0;
    (0..s)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let out = (start, len);
            start += len;
            out
        })
        .collect()
}

/// Seeded split of host indices into (train, validation).
pub(crate) fn split_hosts(n_hosts: usize, frac: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let n_val = if n_hosts < 2 || frac <= 0.0 {
        0
    } else {
        ((n_hosts as f64 * frac).round() as usize).clamp(1, n_hosts - 1)
    };
    let mut idx: Vec<usize> = (0..n_hosts).collect();
    let mut rng = sub_rng(seed, 2);
    for i in (1..idx.len()).rev() {
        let j = rng.random_range(0..=i);
        idx.swap(i, j);
    }
    let mut val = idx[..n_val].to_vec();
    let mut tr = idx[n_val..].to_vec();
    val.sort_unstable();
    tr.sort_unstable();
    (tr, val)
}

/// Fisher–Yates shuffle of `v` from `seed`/`epoch` (same on resume).
pub(crate) fn shuffle_epoch(v: &mut [u32], seed: u64, epoch: usize) {
    let mut rng = sub_rng(seed, 1000 + epoch as u64);
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

/// Wall-clock timer helper.
pub(crate) fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}
