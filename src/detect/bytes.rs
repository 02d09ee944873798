//! The next-flow bytes regressor: a small MLP that predicts a flow's `ln(1 + byt)` from the
//! window of the host's previous flows ([`super::features::WINDOW`] lags).
//!
//! Architecture (the paper's code: 25 → 100 ReLU → 1, SGD): `BYTES_DIM → hidden (ReLU) → 1`,
//! trained with AdamW on mini-batches (full-batch SGD at lr 0.2 needs many more epochs for the
//! same loss). Loss = mean squared error in nats². The anomaly score is the squared error of the
//! flow's own bytes. Inputs are standardised with the training set's per-feature mean and SD
//! (part of the fitted model, so each training source gets its own).
//!
//! Determinism: candle's CPU RNG cannot be seeded, so every weight is drawn from our own
//! `StdRng` (He-uniform), the output bias starts at the training-target mean, and mini-batches
//! are shuffled by the same RNG. All layers are 2-D contiguous matmuls (see the crate notes on
//! candle 0.11.1's `Linear` defect with non-contiguous 3-D input).

use super::features::BYTES_DIM;
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// Settings of the bytes regressor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BytesConfig {
    /// Hidden units (default 64).
    pub hidden: usize,
    /// Passes over the training set (default 8).
    pub epochs: usize,
    /// Mini-batch size (default 256).
    pub batch_size: usize,
    /// AdamW learning rate (default 3e-3).
    pub lr: f64,
    /// AdamW weight decay (default 1e-4).
    pub weight_decay: f64,
    /// `auto` (CUDA when built with the `cuda` feature and a device is present, else CPU),
    /// `cpu`, or `cuda` (an error without the `cuda` feature). Default `cpu`: the model is tiny
    /// and the CPU path is the one with bit-identical reruns.
    pub device: String,
}

impl Default for BytesConfig {
    fn default() -> Self {
        BytesConfig {
            hidden: 64,
            epochs: 8,
            batch_size: 256,
            lr: 3e-3,
            weight_decay: 1e-4,
            device: "cpu".into(),
        }
    }
}

/// Resolve a device string (`auto|cpu|cuda`).
pub fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            #[cfg(feature = "cuda")]
            {
                if let Ok(d) = Device::new_cuda(0) {
                    return Ok(d);
                }
            }
            Ok(Device::Cpu)
        }
        "cuda" => {
            #[cfg(feature = "cuda")]
            {
                Ok(Device::new_cuda(0)?)
            }
            #[cfg(not(feature = "cuda"))]
            {
                Err(Error::Spec {
                    key: "detect.bytes.device".into(),
                    reason: "`cuda` needs a build with `--features cuda`".into(),
                })
            }
        }
        other => Err(Error::Spec {
            key: "detect.bytes.device".into(),
            reason: format!("unknown device {other:?}; expected auto, cpu or cuda"),
        }),
    }
}

/// A fitted bytes regressor.
pub struct BytesModel {
    w1: Var,
    b1: Var,
    w2: Var,
    b2: Var,
    dev: Device,
    /// Per-feature mean and 1/std of the training inputs: inputs are standardised with them
    /// (a constant column gets scale 1), so that the many zero/one indicators and the few
    /// continuous features start on one scale.
    shift: Vec<f32>,
    scale: Vec<f32>,
    /// Mean training loss of each epoch (for the convergence check).
    pub epoch_loss: Vec<f64>,
}

fn uniform(rng: &mut rand::rngs::StdRng, n: usize, bound: f64) -> Vec<f32> {
    (0..n)
        .map(|_| rng.random_range(-bound..bound) as f32)
        .collect()
}

impl BytesModel {
    /// Untrained model with weights drawn from `seed`; `y_mean` initialises the output bias.
    pub fn init(cfg: &BytesConfig, y_mean: f32, dtype: DType, seed: u64) -> Result<BytesModel> {
        let dev = device(&cfg.device)?;
        let h = cfg.hidden.max(1);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let w1 = uniform(&mut rng, BYTES_DIM * h, (6.0 / BYTES_DIM as f64).sqrt());
        let w2 = uniform(&mut rng, h, (3.0 / h as f64).sqrt());
        let var = |v: Vec<f32>, shape: &[usize]| -> Result<Var> {
            Ok(Var::from_tensor(
                &Tensor::from_vec(v, shape, &dev)?.to_dtype(dtype)?,
            )?)
        };
        Ok(BytesModel {
            w1: var(w1, &[BYTES_DIM, h])?,
            b1: var(vec![0.0; h], &[h])?,
            w2: var(w2, &[h, 1])?,
            b2: var(vec![y_mean], &[1])?,
            dev: dev.clone(),
            shift: vec![0.0; BYTES_DIM],
            scale: vec![1.0; BYTES_DIM],
            epoch_loss: Vec::new(),
        })
    }

    fn vars(&self) -> Vec<Var> {
        vec![
            self.w1.clone(),
            self.b1.clone(),
            self.w2.clone(),
            self.b2.clone(),
        ]
    }

    /// `[B, BYTES_DIM]` → `[B]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = x
            .matmul(self.w1.as_tensor())?
            .broadcast_add(self.b1.as_tensor())?
            .relu()?;
        Ok(h.matmul(self.w2.as_tensor())?
            .broadcast_add(self.b2.as_tensor())?
            .squeeze(1)?)
    }

    /// Mean squared error of the model on `(x, y)` tensors.
    pub fn loss(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        Ok(self.forward(x)?.sub(y)?.sqr()?.mean_all()?)
    }

    /// Fit on row-major `x` (`[n, BYTES_DIM]`) and targets `y` (`ln(1+byt)`).
    pub fn fit(x: &[f32], y: &[f32], cfg: &BytesConfig, seed: u64) -> Result<BytesModel> {
        let n = y.len();
        if n == 0 || x.len() != n * BYTES_DIM {
            return Err(Error::Invalid(format!(
                "bytes regressor: {n} targets for {} feature values",
                x.len()
            )));
        }
        let y_mean = (y.iter().map(|&v| v as f64).sum::<f64>() / n as f64) as f32;
        let mut m = BytesModel::init(cfg, y_mean, DType::F32, seed)?;
        let (mut s1, mut s2) = (vec![0f64; BYTES_DIM], vec![0f64; BYTES_DIM]);
        for row in x.chunks(BYTES_DIM) {
            for (j, &v) in row.iter().enumerate() {
                s1[j] += v as f64;
                s2[j] += (v as f64) * (v as f64);
            }
        }
        for j in 0..BYTES_DIM {
            let mean = s1[j] / n as f64;
            let sd = (s2[j] / n as f64 - mean * mean).max(0.0).sqrt();
            m.shift[j] = mean as f32;
            m.scale[j] = if sd > 1e-6 { (1.0 / sd) as f32 } else { 1.0 };
        }
        let xs = m.standardise(x);
        let xt = Tensor::from_slice(&xs, (n, BYTES_DIM), &m.dev)?;
        let yt = Tensor::from_slice(y, n, &m.dev)?;
        let mut opt = AdamW::new(
            m.vars(),
            ParamsAdamW {
                lr: cfg.lr,
                weight_decay: cfg.weight_decay,
                ..Default::default()
            },
        )?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let bs = cfg.batch_size.clamp(1, n);
        let mut order: Vec<u32> = (0..n as u32).collect();
        for _ in 0..cfg.epochs {
            order.shuffle(&mut rng);
            let (mut sum, mut cnt) = (0.0, 0usize);
            for chunk in order.chunks(bs) {
                let ids = Tensor::from_slice(chunk, chunk.len(), &m.dev)?;
                let loss = m.loss(&xt.index_select(&ids, 0)?, &yt.index_select(&ids, 0)?)?;
                opt.backward_step(&loss)?;
                sum += loss.to_scalar::<f32>()? as f64 * chunk.len() as f64;
                cnt += chunk.len();
            }
            m.epoch_loss.push(sum / cnt as f64);
        }
        Ok(m)
    }

    fn standardise(&self, x: &[f32]) -> Vec<f32> {
        x.chunks(BYTES_DIM)
            .flat_map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(j, &v)| (v - self.shift[j]) * self.scale[j])
            })
            .collect()
    }

    /// Predicted `ln(1+byt)` for each row of `x`.
    pub fn predict(&self, x: &[f32]) -> Result<Vec<f32>> {
        let x = &self.standardise(x)[..];
        let n = x.len() / BYTES_DIM;
        let mut out = Vec::with_capacity(n);
        for chunk in x.chunks(8192 * BYTES_DIM) {
            let t = Tensor::from_slice(chunk, (chunk.len() / BYTES_DIM, BYTES_DIM), &self.dev)?;
            out.extend(self.forward(&t)?.to_dtype(DType::F32)?.to_vec1::<f32>()?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Data with a known non-linear rule: y = 3 + 4·|x0 − 0.5| + 2·x9.
    fn toy(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let x: Vec<f32> = (0..n * BYTES_DIM)
            .map(|_| rng.random_range(0.0..1.0f32))
            .collect();
        let y = (0..n)
            .map(|i| 3.0 + 4.0 * (x[i * BYTES_DIM] - 0.5).abs() + 2.0 * x[i * BYTES_DIM + 9])
            .collect();
        (x, y)
    }

    #[test]
    fn loss_decreases_and_is_seeded() {
        let (x, y) = toy(2000, 1);
        let cfg = BytesConfig {
            epochs: 30,
            ..Default::default()
        };
        let m = BytesModel::fit(&x, &y, &cfg, 5).unwrap();
        // Var(y) = 16/48 + 4/12 = 2/3 (the loss of predicting the mean); training must fall
        // far below it and keep falling.
        let last = m.epoch_loss[29];
        assert!(
            m.epoch_loss.windows(10).all(|w| w[9] < w[0]),
            "{:?}",
            m.epoch_loss
        );
        assert!(
            last < 0.1 && last < 0.1 * m.epoch_loss[0],
            "{:?}",
            m.epoch_loss
        );
        let m2 = BytesModel::fit(&x, &y, &cfg, 5).unwrap();
        assert_eq!(m.epoch_loss, m2.epoch_loss);
        let (xt, _) = toy(10, 2);
        assert_eq!(m.predict(&xt).unwrap(), m2.predict(&xt).unwrap());
    }

    #[test]
    fn gradient_matches_finite_differences() {
        // f64, batch 4: autograd against central differences on a few weights of each layer.
        let (x, y) = toy(4, 3);
        let cfg = BytesConfig {
            hidden: 5,
            ..Default::default()
        };
        let m = BytesModel::init(&cfg, 3.0, DType::F64, 9).unwrap();
        let xt = Tensor::from_slice(&x, (4, BYTES_DIM), &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap();
        let yt = Tensor::from_slice(&y, 4, &Device::Cpu)
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap();
        let grads = m.loss(&xt, &yt).unwrap().backward().unwrap();
        for var in m.vars() {
            let g = grads
                .get(var.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            let w0 = var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            for j in [0, w0.len() / 2, w0.len() - 1] {
                let eps = 1e-6;
                let at = |d: f64| {
                    let mut w = w0.clone();
                    w[j] += d;
                    var.set(&Tensor::from_vec(w, var.shape(), &Device::Cpu).unwrap())
                        .unwrap();
                    m.loss(&xt, &yt).unwrap().to_scalar::<f64>().unwrap()
                };
                let fd = (at(eps) - at(-eps)) / (2.0 * eps);
                var.set(&Tensor::from_vec(w0.clone(), var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                let err = (fd - g[j]).abs() / (fd.abs() + g[j].abs()).max(1e-8);
                assert!(err < 1e-5, "grad {j}: autograd {} vs fd {fd}", g[j]);
            }
        }
    }

    #[test]
    fn device_strings() {
        assert!(matches!(device("cpu").unwrap(), Device::Cpu));
        assert!(device("tpu").is_err());
        #[cfg(not(feature = "cuda"))]
        {
            assert!(matches!(device("auto").unwrap(), Device::Cpu));
            assert!(device("cuda").is_err());
        }
    }
}
