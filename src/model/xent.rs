//! Fused CPU kernel for the softmax heads' log-likelihood: `ln softmax(x)_t` per row and its
//! gradient `(onehot(t) - softmax(x)) * g`, one pass each over the logits.
//!
//! The composed candle version (max, subtract, exp, sum, log, gather and their backward ops)
//! makes about 15 passes and as many large allocations over [B, C] per head, which dominated CPU
//! training time on NetFlow's 1670-way heads. Other devices use the composed version.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor, bail};
use rayon::prelude::*;
use std::sync::Mutex;

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
        /// Per row: `ln softmax(x)_t`, and every `exp(x - max)` with the row's sum of them,
        /// which the backward scales.
        fn $fwd(x: &[$t], t: &[u32], c: usize) -> (Vec<$t>, Vec<$t>, Vec<$t>) {
            let b = t.len();
            let (mut lp, mut e, mut sums) =
                (vec![0 as $t; b], vec![0 as $t; x.len()], vec![0 as $t; b]);
            e.par_chunks_mut(c)
                .zip(x.par_chunks(c))
                .zip(t.par_iter())
                .zip(lp.par_iter_mut().zip(sums.par_iter_mut()))
                .for_each(|(((e, row), &ti), (lp, sum))| {
                    let m = row.iter().copied().fold(<$t>::NEG_INFINITY, <$t>::max);
                    let mut s: $t = 0.0;
                    for (ei, &v) in e.iter_mut().zip(row) {
                        *ei = (v - m).exp();
                        s += *ei;
                    }
                    *sum = s;
                    *lp = row[ti as usize] - m - s.ln();
                });
            (lp, e, sums)
        }
        /// The gradient `(onehot(t) - e / sum) * g` per row, in place over the forward's `e`.
        fn $bwd(mut e: Vec<$t>, sums: &[$t], t: &[u32], g: &[$t], c: usize) -> Vec<$t> {
            e.par_chunks_mut(c)
                .zip(sums.par_iter())
                .zip(t.par_iter().zip(g.par_iter()))
                .for_each(|((o, &s), (&ti, &gi))| {
                    let k = -gi / s;
                    for oi in o.iter_mut() {
                        *oi *= k;
                    }
                    o[ti as usize] += gi;
                });
            e
        }
    };
}
kernels!(fwd_f32, bwd_f32, f32);
kernels!(fwd_f64, bwd_f64, f64);

/// What the forward keeps for the backward: `exp(x - max)` per logit and their sum per row.
enum Saved {
    F32(Vec<f32>, Vec<f32>),
    F64(Vec<f64>, Vec<f64>),
}

/// (logits [B, C], targets [B] u32) -> ln softmax(logits)[b, targets[b]], shape [B].
///
/// The forward keeps its exponentials in the op and the backward only scales them: the
/// forward and backward used to compute every logit's `exp` each, 7 % of a CPU training step
/// in libm (same bits, tested). For untracked logits candle drops the op, and with it the
/// buffer, right after the forward; validation passes run on tracked parameters and keep a
/// [B, C] buffer per head that they never use, until the batch's graph is dropped.
struct ClassLogProb {
    saved: Mutex<Option<Saved>>,
}

impl ClassLogProb {
    fn lock(&self) -> candle_core::Result<std::sync::MutexGuard<'_, Option<Saved>>> {
        self.saved
            .lock()
            .map_err(|_| candle_core::Error::msg("class log-prob: poisoned lock"))
    }
}

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
        let (out, saved) = match s1 {
            CpuStorage::F32(v) => {
                let (x, b, c) = rows(v, l1)?;
                let (lp, e, s) = fwd_f32(x, targets(s2, l2, b, c)?, c);
                (CpuStorage::F32(lp), Saved::F32(e, s))
            }
            CpuStorage::F64(v) => {
                let (x, b, c) = rows(v, l1)?;
                let (lp, e, s) = fwd_f64(x, targets(s2, l2, b, c)?, c);
                (CpuStorage::F64(lp), Saved::F64(e, s))
            }
            _ => bail!("class log-prob: logits must be f32 or f64"),
        };
        *self.lock()? = Some(saved);
        Ok((out, Shape::from(l1.dims()[0])))
    }
    fn bwd(
        &self,
        logits: &Tensor,
        target: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (b, c) = logits.dims2()?;
        let t = target.contiguous()?.to_vec1::<u32>()?;
        // A second backward pass over the same graph finds the buffer taken: recompute it.
        let saved = match self.lock()?.take() {
            Some(s) => s,
            None => match logits.dtype() {
                DType::F64 => {
                    let (_, e, s) = fwd_f64(&logits.flatten_all()?.to_vec1()?, &t, c);
                    Saved::F64(e, s)
                }
                _ => {
                    let x = logits.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
                    let (_, e, s) = fwd_f32(&x, &t, c);
                    Saved::F32(e, s)
                }
            },
        };
        let g = match saved {
            Saved::F32(e, s) => {
                let gv = grad.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
                Tensor::from_vec(bwd_f32(e, &s, &t, &gv, c), (b, c), logits.device())?
            }
            Saved::F64(e, s) => {
                let gv = grad.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
                Tensor::from_vec(bwd_f64(e, &s, &t, &gv, c), (b, c), logits.device())?
            }
        };
        Ok((Some(g), None))
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
    Some(logits.contiguous().and_then(|x| {
        let op = ClassLogProb {
            saved: Mutex::new(None),
        };
        x.apply_op2(&target.contiguous()?, op)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::{RngExt, SeedableRng};

    /// The kernels before b59c1c9, kept as the reference: a forward that sums the
    /// exponentials without keeping them and a backward that recomputes them.
    macro_rules! reference {
        ($fwd:ident, $bwd:ident, $t:ty) => {
            fn $fwd(x: &[$t], t: &[u32], c: usize) -> Vec<$t> {
                x.chunks(c)
                    .zip(t)
                    .map(|(row, &ti)| {
                        let m = row.iter().copied().fold(<$t>::NEG_INFINITY, <$t>::max);
                        let s: $t = row.iter().map(|&v| (v - m).exp()).sum();
                        row[ti as usize] - m - s.ln()
                    })
                    .collect()
            }
            fn $bwd(x: &[$t], t: &[u32], g: &[$t], c: usize) -> Vec<$t> {
                let mut out = vec![0 as $t; x.len()];
                for ((o, row), (&ti, &gi)) in
                    out.chunks_mut(c).zip(x.chunks(c)).zip(t.iter().zip(g))
                {
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
                }
                out
            }
        };
    }
    reference!(ref_fwd_f32, ref_bwd_f32, f32);
    reference!(ref_fwd_f64, ref_bwd_f64, f64);

    /// The saving forward and the backward from saved exponentials give the same bits as the
    /// reference kernels (f32 on a NetFlow-wide head, f64).
    #[test]
    fn saved_exponentials_give_the_reference_bits() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let (b, c) = (37, 1670);
        let x64: Vec<f64> = (0..b * c)
            .map(|_| rng.random::<f64>() * 20.0 - 10.0)
            .collect();
        let t: Vec<u32> = (0..b).map(|_| rng.random_range(0..c as u32)).collect();
        let g64: Vec<f64> = (0..b).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
        let x32: Vec<f32> = x64.iter().map(|&v| v as f32).collect();
        let g32: Vec<f32> = g64.iter().map(|&v| v as f32).collect();

        let (lp, e, s) = fwd_f32(&x32, &t, c);
        let bits32 = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits32(&lp), bits32(&ref_fwd_f32(&x32, &t, c)));
        assert_eq!(
            bits32(&bwd_f32(e, &s, &t, &g32, c)),
            bits32(&ref_bwd_f32(&x32, &t, &g32, c))
        );
        let (lp, e, s) = fwd_f64(&x64, &t, c);
        let bits64 = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits64(&lp), bits64(&ref_fwd_f64(&x64, &t, c)));
        assert_eq!(
            bits64(&bwd_f64(e, &s, &t, &g64, c)),
            bits64(&ref_bwd_f64(&x64, &t, &g64, c))
        );
    }

    /// Through candle: tracked and untracked logits give the same values; the gradient equals
    /// the reference, from the saved buffer and, on a second backward pass over the same
    /// graph, from the recomputed one.
    #[test]
    fn candle_gradients_equal_the_reference() {
        let dev = Device::Cpu;
        let xv = [0.5f32, -1.0, 2.0, 0.0, 3.0, 1.0, -2.0, 0.5];
        let x = Var::from_slice(&xv, (2, 4), &dev).unwrap();
        let t = Tensor::new(&[3u32, 0], &dev).unwrap();
        let lp = class_log_prob_cpu(x.as_tensor(), &t).unwrap().unwrap();
        let plain = class_log_prob_cpu(&x.as_detached_tensor(), &t)
            .unwrap()
            .unwrap();
        assert_eq!(
            lp.to_vec1::<f32>().unwrap(),
            plain.to_vec1::<f32>().unwrap()
        );
        let w = Tensor::new(&[0.7f32, -1.3], &dev).unwrap();
        let loss = (&lp * &w).unwrap().sum_all().unwrap();
        let want = ref_bwd_f32(&xv, &[3, 0], &[0.7, -1.3], 4);
        for _ in 0..2 {
            let grads = loss.backward().unwrap();
            let got = grads.get(&x).unwrap().to_vec2::<f32>().unwrap();
            assert_eq!(got.concat(), want);
        }
    }
}
