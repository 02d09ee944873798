//! The STAN generator in candle: an autoregressive model of a host's flow sequence.
//!
//! p(row_i | rows_{i-k..i-1}) = Π_j p(a_j | context, a_1..a_{j-1}), with the context encoded by a
//! 1-D CNN over the k previous rows of the same host and the within-row factorisation done by
//! one MADE-masked block (one forward pass gives every head, teacher forced). Continuous
//! attributes use mixture-density heads, discrete ones softmax heads; the loss is the sum of the
//! per-attribute negative log-likelihoods (nats). The model only knows the [`Schema`].
//!
//! CPU performance note: candle 0.11's element-wise worker pool spin-waits. On a shared 2-core
//! machine running with `CANDLE_NUM_THREADS=1` doubled training throughput (matmuls still use
//! all cores through gemm's rayon pool); binaries should call
//! [`crate::runtime::init_thread_env`] before any thread starts.

mod categorical;
mod checkpoint;
pub mod config;
mod generate;
mod generator;
mod layers;
mod mdn;
mod mdn_cpu;
mod net;
mod shift;
mod train;
mod xent;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Tensor, backprop::GradStore};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use config::{StanConfig, ValSplit, resolve_device};
pub use generate::{Conditioner, Unconditioned};
pub use generator::StanGenerator;
pub use train::TrainState;

use crate::schema::{Schema, Sequences};
use crate::{Error, Result};
use net::{Net, RowData};
use train::{AdamW, Table, secs, shard_bounds, shuffle_epoch, split_hosts};

/// Rows per teacher-forced evaluation batch (bounded so that [B, sum of head widths] fits in
/// memory: 1024 x 5102 logits on NetFlow).
const EVAL_BATCH: usize = 1024;

/// What [`Stan::fit`] did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TrainReport {
    /// Epochs run by this call (a resumed fit counts only the new ones).
    pub epochs_run: usize,
    /// Mean training loss (sum of per-attribute NLLs, nats per row) of every epoch so far.
    pub train_loss: Vec<f64>,
    /// Mean validation loss per epoch (empty without validation hosts).
    pub val_loss: Vec<f64>,
    /// Mean NLL per attribute (schema order, non-given attributes) of the returned weights,
    /// on the validation hosts (or the training rows when there are none).
    pub per_attribute: Vec<(String, f64)>,
    /// Training rows processed per second of optimisation (excluding validation passes).
    pub flows_per_sec: f64,
    pub seconds: f64,
    /// Epoch (0-based) whose weights were kept (best validation loss), if validating.
    pub best_epoch: Option<usize>,
    pub stopped_early: bool,
}

/// What [`Stan::generate`] did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct GenStats {
    pub rows: usize,
    /// Continuous samples redrawn because they fell above max (or below min when the
    /// likelihood is not binned).
    pub redraws: usize,
    /// Continuous samples still out of range after `max_redraws` redraws, then clamped.
    pub clamped: usize,
    pub seconds: f64,
    pub flows_per_sec: f64,
}

/// The STAN model: network, configuration, schema and training state.
pub struct Stan {
    net: Net,
    schema: Schema,
    cfg: StanConfig,
    seed: u64,
    state: TrainState,
    opt: AdamW,
    best: Option<BTreeMap<String, Tensor>>,
    checkpoint_dir: Option<PathBuf>,
}

impl Stan {
    /// Build an untrained model (f32, on `cfg.device`); all weights come from `seed`.
    pub fn new(schema: &Schema, cfg: &StanConfig, seed: u64) -> Result<Stan> {
        let dev = resolve_device(&cfg.device)?;
        Self::with_dtype(schema, cfg, seed, &dev, DType::F32)
    }

    fn with_dtype(
        schema: &Schema,
        cfg: &StanConfig,
        seed: u64,
        dev: &candle_core::Device,
        dtype: DType,
    ) -> Result<Stan> {
        Ok(Stan {
            net: Net::new(schema, cfg, seed, dev, dtype)?,
            schema: schema.clone(),
            cfg: cfg.clone(),
            seed,
            state: TrainState::default(),
            opt: AdamW::default(),
            best: None,
            checkpoint_dir: None,
        })
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }
    pub fn config(&self) -> &StanConfig {
        &self.cfg
    }
    pub fn train_state(&self) -> &TrainState {
        &self.state
    }
    /// Number of trainable scalars.
    pub fn n_parameters(&self) -> usize {
        self.net.params.vars.values().map(|v| v.elem_count()).sum()
    }
    /// Names of the generated attributes in generation order.
    pub fn generation_order(&self) -> Vec<String> {
        self.net
            .layout
            .heads
            .iter()
            .map(|h| self.schema.attrs[h.attr].name.clone())
            .collect()
    }
    /// The batch-mean loss of one batch and its gradients, computed as `cfg.grad_shards`
    /// contiguous row shards (see [`StanConfig::grad_shards`]): each shard's loss is its NLL sum
    /// divided by the whole batch's row count, so the shards' losses and gradients add up to
    /// the batch mean's. On the CPU the shards run concurrently (rayon); elsewhere one after
    /// the other. Either way the gradients are added in shard order, so the result does not
    /// depend on the number of cores.
    fn sharded_grads(&self, rows: &RowData, w: &Tensor, c: &Tensor) -> Result<(f64, GradStore)> {
        let b = c.dim(0)?;
        let k = self.net.layout.window;
        let bounds = shard_bounds(b, self.cfg.grad_shards);
        let one = |&(s, len): &(usize, usize)| -> Result<(f64, GradStore)> {
            let (ws, cs) = (w.narrow(0, s * k, len * k)?, c.narrow(0, s, len)?);
            let nll = self.net.batch_nll(rows, &ws, &cs)?;
            let loss = (nll.sum_all()? / b as f64)?;
            let grads = loss.backward()?;
            Ok((loss.to_dtype(DType::F64)?.to_scalar::<f64>()?, grads))
        };
        let parts: Vec<Result<(f64, GradStore)>> = if bounds.len() > 1 && self.net.device().is_cpu()
        {
            bounds.par_iter().map(one).collect()
        } else {
            bounds.iter().map(one).collect()
        };
        let mut parts = parts.into_iter();
        let (mut loss, mut grads) = match parts.next() {
            Some(p) => p?,
            None => return Err(Error::Invalid("empty batch".into())),
        };
        for p in parts {
            let (l, g) = p?;
            loss += l;
            let vars: Vec<&Tensor> = self
                .net
                .params
                .vars
                .values()
                .map(|v| v.as_tensor())
                .collect();
            let sums: Vec<Option<Tensor>> = vars
                .par_iter()
                .map(|t| {
                    g.get(t)
                        .map(|gi| match grads.get(t) {
                            Some(g0) => g0 + gi,
                            None => Ok(gi.clone()),
                        })
                        .transpose()
                })
                .collect::<candle_core::Result<_>>()?;
            for (t, sum) in vars.into_iter().zip(sums) {
                if let Some(sum) = sum {
                    grads.insert(t, sum);
                }
            }
        }
        Ok((loss, grads))
    }

    /// When set, `fit` saves a resumable checkpoint to `dir` after every epoch.
    pub fn set_checkpoint_dir(&mut self, dir: Option<PathBuf>) {
        self.checkpoint_dir = dir;
    }

    /// Train on `train` until `cfg.epochs` epochs in total (counting epochs of a resumed run)
    /// or early stopping. A `val_fraction` of the data is held out as `val_split` says (the
    /// tail of every host in time, or whole seeded hosts); the weights with the best validation
    /// loss are kept. Deterministic on CPU for a given seed.
    pub fn fit(&mut self, train: &Sequences, progress: bool) -> Result<TrainReport> {
        let t0 = Instant::now();
        let (tr_seq, va_seq) = match self.cfg.val_split {
            ValSplit::Time => train.split_tail(self.cfg.val_fraction),
            ValSplit::Hosts => {
                let (tr_hosts, va_hosts) =
                    split_hosts(train.n_hosts(), self.cfg.val_fraction, self.seed);
                (
                    train.select_hosts(|h| tr_hosts.binary_search(&h).is_ok()),
                    train.select_hosts(|h| va_hosts.binary_search(&h).is_ok()),
                )
            }
        };
        if tr_seq.n_rows() == 0 {
            return Err(Error::Invalid("no training rows".into()));
        }
        let tr = Table::new(&self.net, &tr_seq)?;
        let va = if va_seq.n_rows() > 0 {
            Some(Table::new(&self.net, &va_seq)?)
        } else {
            None
        };
        let n = tr.n_rows;
        let bs = self.cfg.batch_size;
        let k = self.net.layout.window;
        let dev = self.net.device().clone();
        let remaining = self.cfg.epochs.saturating_sub(self.state.epochs_done);
        let n_batches = n.div_ceil(bs);
        let bar = if progress {
            let b = indicatif::ProgressBar::new((remaining * n_batches) as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} batches {msg}",
            ) {
                b.set_style(style);
            }
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        if self.state.step == 0 {
            self.net.init_heads_from_data(&tr_seq)?;
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        let (mut iw, mut ic) = (Vec::new(), Vec::new());
        let (mut opt_secs, mut rows_done, mut epochs_run) = (0f64, 0usize, 0usize);
        let mut stopped_early = false;
        while self.state.epochs_done < self.cfg.epochs && !self.state.stopped {
            let epoch = self.state.epochs_done;
            let lr = self.cfg.lr
                * self
                    .cfg
                    .lr_decay
                    .powi((epoch / self.cfg.lr_step_epochs) as i32);
            order
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = i as u32);
            shuffle_epoch(&mut order, self.seed, epoch);
            let te = Instant::now();
            let mut loss_sum = 0f64;
            for chunk in order.chunks(bs) {
                let (w, c) = tr.indices(chunk, k, &dev, &mut iw, &mut ic)?;
                let (l, grads) = self.sharded_grads(&tr.rows, &w, &c)?;
                self.state.step += 1;
                self.opt.step(
                    &self.net.params,
                    &grads,
                    self.state.step,
                    lr,
                    self.cfg.weight_decay,
                    self.cfg.grad_clip,
                )?;
                if !l.is_finite() {
                    return Err(Error::Other(format!(
                        "training loss became {l} at epoch {epoch}"
                    )));
                }
                loss_sum += l * chunk.len() as f64;
                rows_done += chunk.len();
                bar.inc(1);
                if progress && self.state.step.is_multiple_of(10) {
                    let done = rows_done as f64 / (opt_secs + secs(te)).max(1e-9);
                    bar.set_message(format!("epoch {} loss {l:.4} {done:.0} flows/s", epoch + 1));
                }
            }
            opt_secs += secs(te);
            let train_loss = loss_sum / n as f64;
            self.state.train_loss.push(train_loss);
            let mut msg = format!("epoch {} loss {train_loss:.4}", epoch + 1);
            if let Some(va) = &va {
                let v = va.nll_sums(&self.net, EVAL_BATCH)?.iter().sum::<f64>() / va.n_rows as f64;
                self.state.val_loss.push(v);
                msg.push_str(&format!(" val {v:.4}"));
                if self.state.best_val.is_none_or(|b| v < b) {
                    self.state.best_val = Some(v);
                    self.state.best_epoch = Some(epoch);
                    self.state.bad_epochs = 0;
                    self.best = Some(self.net.params.snapshot()?);
                } else {
                    self.state.bad_epochs += 1;
                    if self.cfg.patience > 0 && self.state.bad_epochs >= self.cfg.patience {
                        self.state.stopped = true;
                        stopped_early = true;
                    }
                }
            }
            msg.push_str(&format!(
                " {:.0} flows/s",
                rows_done as f64 / opt_secs.max(1e-9)
            ));
            // Logged as well as shown: the bar is invisible in batch jobs (Slurm, CI logs).
            tracing::info!("{msg}");
            bar.set_message(msg);
            self.state.epochs_done += 1;
            epochs_run += 1;
            if let Some(dir) = self.checkpoint_dir.clone() {
                self.save(&dir)?;
            }
        }
        bar.finish_and_clear();
        if let Some(best) = &self.best {
            self.net.params.restore(best)?;
        }
        if let Some(dir) = self.checkpoint_dir.clone() {
            // The final checkpoint holds the kept (best-validation) weights.
            self.save(&dir)?;
        }
        let eval = va.as_ref().unwrap_or(&tr);
        let sums = eval.nll_sums(&self.net, EVAL_BATCH)?;
        let per_attribute = self.per_attr(&sums, eval.n_rows);
        Ok(TrainReport {
            epochs_run,
            train_loss: self.state.train_loss.clone(),
            val_loss: self.state.val_loss.clone(),
            per_attribute,
            flows_per_sec: rows_done as f64 / opt_secs.max(1e-9),
            seconds: secs(t0),
            best_epoch: self.state.best_epoch,
            stopped_early,
        })
    }

    fn per_attr(&self, sums: &[f64], n: usize) -> Vec<(String, f64)> {
        let mut v: Vec<(usize, String, f64)> = self
            .net
            .layout
            .heads
            .iter()
            .zip(sums)
            .map(|(h, s)| {
                (
                    h.attr,
                    self.schema.attrs[h.attr].name.clone(),
                    s / n.max(1) as f64,
                )
            })
            .collect();
        v.sort_by_key(|x| x.0);
        v.into_iter().map(|(_, a, b)| (a, b)).collect()
    }

    /// Mean teacher-forced NLL per generated attribute (nats per row, schema order), under the
    /// configured likelihood (binned when `bin_half_width > 0`).
    pub fn nll_per_attribute(&self, data: &Sequences) -> Result<Vec<(String, f64)>> {
        let t = Table::new(&self.net, data)?;
        if t.n_rows == 0 {
            return Err(Error::Invalid("no rows to evaluate".into()));
        }
        let sums = t.nll_sums(&self.net, EVAL_BATCH)?;
        Ok(self.per_attr(&sums, t.n_rows))
    }
}

#[cfg(test)]
mod tests;
