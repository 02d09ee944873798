//! Fused CPU kernel for the softmax heads' log-likelihood: `ln softmax(x)_t` per row and its
//! gradient `(onehot(t) - softmax(x)) * g`, one pass each over the logits.
//!
//! The composed candle version (max, subtract, exp, sum, log, gather and their backward ops)
//! makes about 15 passes and as many large allocations over [B, C] per head, which dominated CPU
//! training time on NetFlow's 1670-way heads. Other devices use the composed version.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor, bail};
use rayon::prelude::*;

/// Contiguous slices of the logits ([B, C]) and targets ([B], u32) of a layout pair.
fn rows<'a, T>(v: &'a [T], l: &Layout) -> candle_core::Result<(&'a [T], usize, usize)> {
    let (b, c) = l.shape().dims2()?;
    match l.contiguous_offsets() {
        Some((o1, o2)) => Ok((&v[o1..o2], b, c)),
        None => bail!("class log-prob: logits must be contiguous"),
    }
}

fn targets<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    b: usize,
    c: usize,
) -> candle_core::Result<&'a [u32]> {
    let t = match (s, l.contiguous_offsets()) {
        (CpuStorage::U32(v), Some((o1, o2))) => &v[o1..o2],
        _ => bail!("class log-prob: targets must be a contiguous u32 tensor"),
    };
    if t.len() != b || t.iter().any(|&x| x as usize >= c) {
        bail!(
            "class log-prob: {} targets for {b} rows or a class >= {c}",
            t.len()
        );
    }
    Ok(t)
}

macro_rules! kernels {
    ($fwd:ident, $bwd:ident, $t:ty) => {
        fn $fwd(x: &[$t], t: &[u32], c: usize) -> Vec<$t> {
            x.par_chunks(c)
                .zip(t.par_iter())
                .map(|(row, &ti)| {
                    let m = row.iter().copied().fold(<$t>::NEG_INFINITY, <$t>::max);
                    let s: $t = row.iter().map(|&v| (v - m).exp()).sum();
                    row[ti as usize] - m - s.ln()
                })
                .collect()
        }
        fn $bwd(x: &[$t], t: &[u32], g: &[$t], c: usize) -> Vec<$t> {
            let mut out = vec![0 as $t; x.len()];
            out.par_chunks_mut(c)
                .zip(x.par_chunks(c))
                .zip(t.par_iter().zip(g.par_iter()))
                .for_each(|((o, row), (&ti, &gi))| {
                    let m = row.iter().copied().fold(<$t>::NEG_INFINITY, <$t>::max);
                    let mut s: $t = 0.0;
                    for (oi, &v) in o.iter_mut().zip(row) {
                        *oi = (v - m).exp();
                        s += *oi;
                    }
                    let k = -gi / s;
                    for oi in o.iter_mut() {
                        *oi *= k;
                    }
                    o[ti as usize] += gi;
                });
            out
        }
    };
}
kernels!(fwd_f32, bwd_f32, f32);
kernels!(fwd_f64, bwd_f64, f64);

/// (logits [B, C], targets [B] u32) -> ln softmax(logits)[b, targets[b]], shape [B].
struct ClassLogProb;

impl CustomOp2 for ClassLogProb {
    fn name(&self) -> &'static str {
        "stan-class-log-prob"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match s1 {
            CpuStorage::F32(v) => {
                let (x, b, c) = rows(v, l1)?;
                CpuStorage::F32(fwd_f32(x, targets(s2, l2, b, c)?, c))
            }
            CpuStorage::F64(v) => {
                let (x, b, c) = rows(v, l1)?;
                CpuStorage::F64(fwd_f64(x, targets(s2, l2, b, c)?, c))
            }
            _ => bail!("class log-prob: logits must be f32 or f64"),
        };
        Ok((out, Shape::from(l1.dims()[0])))
    }
    fn bwd(
        &self,
        logits: &Tensor,
        target: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = logits.apply_op3_no_bwd(target, &grad.contiguous()?, &ClassLogProbGrad)?;
        Ok((Some(g), None))
    }
}

/// (logits [B, C], targets [B], upstream gradient [B]) -> d/dlogits, shape [B, C].
struct ClassLogProbGrad;

impl CustomOp3 for ClassLogProbGrad {
    fn name(&self) -> &'static str {
        "stan-class-log-prob-grad"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match (s1, s3) {
            (CpuStorage::F32(v), CpuStorage::F32(g)) => {
                let (x, b, c) = rows(v, l1)?;
                let Some((o1, o2)) = l3.contiguous_offsets() else {
                    bail!("grad not contiguous")
                };
                CpuStorage::F32(bwd_f32(x, targets(s2, l2, b, c)?, &g[o1..o2], c))
            }
            (CpuStorage::F64(v), CpuStorage::F64(g)) => {
                let (x, b, c) = rows(v, l1)?;
                let Some((o1, o2)) = l3.contiguous_offsets() else {
                    bail!("grad not contiguous")
                };
                CpuStorage::F64(bwd_f64(x, targets(s2, l2, b, c)?, &g[o1..o2], c))
            }
            _ => bail!("class log-prob grad: f32 or f64 with matching dtypes"),
        };
        Ok((out, l1.shape().clone()))
    }
}

/// `ln softmax(logits)[b, target[b]]` per row, fused on CPU; `None` on other devices.
pub(crate) fn class_log_prob_cpu(
    logits: &Tensor,
    target: &Tensor,
) -> Option<candle_core::Result<Tensor>> {
    if !logits.device().is_cpu() {
        return None;
    }
    Some(
        logits
            .contiguous()
            .and_then(|x| x.apply_op2(&target.contiguous()?, ClassLogProb)),
    )
}
