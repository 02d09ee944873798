//! Building blocks: a seeded parameter store, the channels-last convolution and MADE masks.
//!
//! candle 0.11.1's own Conv1d has a wrong weight gradient for batch > 1 and its RNG cannot be
//! seeded, so convolutions are written as shift + concat + one 2-D matmul, and every weight is
//! drawn from our own `StdRng`.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::{Error, Result};

/// How a parameter is initialised.
pub(crate) enum Init {
    /// Uniform in [-bound, bound].
    Uniform(f64),
    /// Explicit values (row-major).
    Values(Vec<f64>),
    Zeros,
}

/// Named trainable parameters, iterated in sorted-name order so that initialisation, saving and
/// optimiser updates are deterministic.
pub(crate) struct Params {
    pub vars: BTreeMap<String, Var>,
    pub device: Device,
    pub dtype: DType,
}

impl Params {
    pub fn new(device: &Device, dtype: DType) -> Self {
        Params {
            vars: BTreeMap::new(),
            device: device.clone(),
            dtype,
        }
    }

    /// Create a parameter. Values are drawn from `rng` in creation order (which is fixed by the
    /// network layout), so the same seed gives bit-identical weights on every run.
    pub fn add(&mut self, name: &str, shape: &[usize], init: Init, rng: &mut StdRng) -> Result<()> {
        let n: usize = shape.iter().product();
        let vals: Vec<f64> = match init {
            Init::Uniform(b) => (0..n)
                .map(|_| (rng.random::<f64>() * 2.0 - 1.0) * b)
                .collect(),
            Init::Values(v) => {
                if v.len() != n {
                    return Err(Error::Other(format!(
                        "param {name}: {} values for {n}",
                        v.len()
                    )));
                }
                v
            }
            Init::Zeros => vec![0.0; n],
        };
        let t = Tensor::from_vec(vals, shape, &Device::Cpu)?
            .to_dtype(self.dtype)?
            .to_device(&self.device)?;
        self.vars.insert(name.to_string(), Var::from_tensor(&t)?);
        Ok(())
    }

    /// The tracked tensor of a parameter (gradients flow into it).
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.vars
            .get(name)
            .map(|v| v.as_tensor())
            .ok_or_else(|| Error::Other(format!("missing parameter {name}")))
    }

    /// Detached copies of all parameters (for checkpoints and early-stopping snapshots).
    pub fn snapshot(&self) -> Result<BTreeMap<String, Tensor>> {
        self.vars
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.as_detached_tensor().copy()?)))
            .collect()
    }

    /// Overwrite every parameter from `values` (all names must be present with equal shapes).
    pub fn restore(&self, values: &BTreeMap<String, Tensor>) -> Result<()> {
        for (k, v) in &self.vars {
            let src = values
                .get(k)
                .ok_or_else(|| Error::Invalid(format!("checkpoint lacks tensor `{k}`")))?;
            if src.dims() != v.dims() {
                return Err(Error::Invalid(format!(
                    "checkpoint tensor `{k}` has shape {:?}, model expects {:?}",
                    src.dims(),
                    v.dims()
                )));
            }
            v.set(&src.to_dtype(self.dtype)?.to_device(&self.device)?)?;
        }
        Ok(())
    }
}

/// A `StdRng` for a named purpose, derived from the run seed (splitmix-style mixing so that
/// nearby seeds and purposes give unrelated streams).
pub(crate) fn sub_rng(seed: u64, purpose: u64) -> StdRng {
    let mut z = seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(z ^ (z >> 31))
}

/// "Same"-padded 1-D convolution over the window axis, channels last.
///
/// `x`: [B, W, Cin]; `w`: [ks * Cin, Cout] (row `k * Cin + c` is tap k, input channel c);
/// `b`: [Cout]. Returns [B, W, Cout]. Written as shift + concat + one 2-D matmul because candle's
/// conv1d has wrong weight gradients for batch > 1 on CPU.
pub(crate) fn conv1d_cl(x: &Tensor, w: &Tensor, b: &Tensor, ks: usize) -> Result<Tensor> {
    let (bs, l, _) = x.dims3()?;
    let u = match super::shift::shift_concat_cpu(x, ks) {
        Some(u) => u?,
        None => shift_concat_composed(x, ks)?,
    };
    Ok(u.matmul(w)?.broadcast_add(b)?.reshape((bs, l, ()))?)
}

/// The shift-and-concatenate of [`conv1d_cl`] from candle operations: `x` [B, L, C] ->
/// [B * L, ks * C] (used on other devices than the CPU, and as the reference in tests).
pub(crate) fn shift_concat_composed(x: &Tensor, ks: usize) -> Result<Tensor> {
    let (bs, l, c) = x.dims3()?;
    let pad = ks / 2;
    let xp = x.pad_with_zeros(1, pad, ks - 1 - pad)?;
    let cols: Vec<Tensor> = (0..ks)
        .map(|k| xp.narrow(1, k, l))
        .collect::<candle_core::Result<_>>()?;
    Ok(Tensor::cat(&cols, 2)?.reshape((bs * l, ks * c))?)
}

/// y = x · (w ⊙ mask) + b for a 2-D contiguous `x` [B, in], `w`/`mask` [in, out].
pub(crate) fn masked_linear(x: &Tensor, w: &Tensor, mask: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(x.matmul(&(w * mask)?)?.broadcast_add(b)?)
}

/// MADE degrees of the hidden units for `d` sampled attributes, sorted ascending so that the
/// units a head may see form a prefix. Degree m means: the unit sees the context, the given
/// attributes and the first m sampled attributes of the current row. Half of the units get
/// degree 0 (context only) so that the first attribute in the order has as much capacity as a
/// plain context network; the rest are spread evenly over degrees 1..d-1.
pub(crate) fn hidden_degrees(hidden: usize, d: usize) -> Result<Vec<usize>> {
    if d <= 1 {
        return Ok(vec![0; hidden]);
    }
    let rest = hidden - hidden / 2;
    if rest < d - 1 || hidden / 2 == 0 {
        return Err(Error::Spec {
            key: "hidden".into(),
            reason: format!(
                "{hidden} units cannot give each of {d} sampled attributes its own degree \
                 (need hidden >= {})",
                2 * (d - 1)
            ),
        });
    }
    let (base, extra) = (rest / (d - 1), rest % (d - 1));
    let mut deg = vec![0; hidden / 2];
    for m in 1..d {
        let n = base + usize::from(m - 1 < extra);
        deg.extend(std::iter::repeat_n(m, n));
    }
    Ok(deg)
}

/// Build a {0,1} mask tensor [rows, cols] with `allow(i, j)`.
pub(crate) fn mask_tensor(
    rows: usize,
    cols: usize,
    allow: impl Fn(usize, usize) -> bool,
    device: &Device,
    dtype: DType,
) -> Result<Tensor> {
    let mut v = Vec::with_capacity(rows * cols);
    for i in 0..rows {
        for j in 0..cols {
            v.push(if allow(i, j) { 1f32 } else { 0f32 });
        }
    }
    Ok(Tensor::from_vec(v, (rows, cols), &Device::Cpu)?
        .to_dtype(dtype)?
        .to_device(device)?)
}
