//! Fused CPU kernel for the convolution's shift-and-concatenate: `[B, L, C] -> [B * L, ks * C]`
//! with row `b * L + t`, columns `j * C .. (j + 1) * C` = input row `t + j - ks / 2` of window `b`
//! (zeros outside the window).
//!
//! Composed from candle operations (zero padding, `ks` narrows, a concatenation along the last
//! axis and a reshape of the non-contiguous result) it was four copies forward and as many
//! zero-padded gradients backward: 9 % of a CPU training step went to `copy_strided_src` alone.
//! This is one pass each way. The backward adds each input position's `ks` contributions in the
//! order candle's backward pass adds them to the padded input (tap `ks - 1` first, starting
//! from +0, adding +0 for taps that fall on padding), so gradients are the same bits as the
//! composed version's (tested). Other devices use the composed version.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor, bail};

/// Forward: gather taps into the product's rows.
pub(crate) fn gather<T: Copy + Default>(
    x: &[T],
    b: usize,
    l: usize,
    c: usize,
    ks: usize,
) -> Vec<T> {
    let pad = ks / 2;
    let mut u = vec![T::default(); b * l * ks * c];
    for (bi, win) in x.chunks_exact(l * c).enumerate() {
        for t in 0..l {
            for j in 0..ks {
                if let Some(src) = (t + j).checked_sub(pad).filter(|&r| r < l) {
                    let dst = ((bi * l + t) * ks + j) * c;
                    u[dst..dst + c].copy_from_slice(&win[src * c..(src + 1) * c]);
                }
            }
        }
    }
    u
}

/// Backward: `dx[b, s, ch] = sum over taps j (descending) of du[b * L + s + pad - j, j * C + ch]`
/// (a tap whose output row falls outside the window contributes +0, as the padding does in
/// the composed version).
fn scatter<T>(g: &[T], b: usize, l: usize, c: usize, ks: usize) -> Vec<T>
where
    T: Copy + Default + std::ops::Add<Output = T>,
{
    let pad = ks / 2;
    let zero = T::default();
    let mut dx = vec![zero; b * l * c];
    for (bi, out) in dx.chunks_exact_mut(l * c).enumerate() {
        for s in 0..l {
            let row = &mut out[s * c..(s + 1) * c];
            for j in (0..ks).rev() {
                match (s + pad).checked_sub(j).filter(|&t| t < l) {
                    Some(t) => {
                        let src = ((bi * l + t) * ks + j) * c;
                        for (d, &v) in row.iter_mut().zip(&g[src..src + c]) {
                            *d = *d + v;
                        }
                    }
                    None => {
                        for d in row.iter_mut() {
                            *d = *d + zero;
                        }
                    }
                }
            }
        }
    }
    dx
}

fn contiguous<'a, T>(v: &'a [T], l: &Layout, what: &str) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((o1, o2)) => Ok(&v[o1..o2]),
        None => bail!("shift-concat: {what} must be contiguous"),
    }
}

/// `[B, L, C] -> [B * L, ks * C]`.
struct ShiftConcat {
    ks: usize,
}

impl CustomOp1 for ShiftConcat {
    fn name(&self) -> &'static str {
        "stan-shift-concat"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, len, c) = l.shape().dims3()?;
        let out = match s {
            CpuStorage::F32(v) => {
                CpuStorage::F32(gather(contiguous(v, l, "x")?, b, len, c, self.ks))
            }
            CpuStorage::F64(v) => {
                CpuStorage::F64(gather(contiguous(v, l, "x")?, b, len, c, self.ks))
            }
            _ => bail!("shift-concat: f32 or f64 only"),
        };
        Ok((out, Shape::from((b * len, self.ks * c))))
    }
    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let (b, l, c) = arg.dims3()?;
        let g = grad.contiguous()?.apply_op1_no_bwd(&ShiftConcatGrad {
            b,
            l,
            c,
            ks: self.ks,
        })?;
        Ok(Some(g))
    }
}

/// `[B * L, ks * C] -> [B, L, C]`: the gradient of [`ShiftConcat`].
struct ShiftConcatGrad {
    b: usize,
    l: usize,
    c: usize,
    ks: usize,
}

impl CustomOp1 for ShiftConcatGrad {
    fn name(&self) -> &'static str {
        "stan-shift-concat-grad"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, len, c, ks) = (self.b, self.l, self.c, self.ks);
        if l.shape().dims2()? != (b * len, ks * c) {
            bail!("shift-concat grad: shape {:?}", l.shape());
        }
        let out = match s {
            CpuStorage::F32(v) => {
                CpuStorage::F32(scatter(contiguous(v, l, "grad")?, b, len, c, ks))
            }
            CpuStorage::F64(v) => {
                CpuStorage::F64(scatter(contiguous(v, l, "grad")?, b, len, c, ks))
            }
            _ => bail!("shift-concat grad: f32 or f64 only"),
        };
        Ok((out, Shape::from((b, len, c))))
    }
}

/// The fused shift-and-concatenate of `x` [B, L, C] on CPU; `None` on other devices.
pub(crate) fn shift_concat_cpu(x: &Tensor, ks: usize) -> Option<candle_core::Result<Tensor>> {
    if !x.device().is_cpu() {
        return None;
    }
    Some(x.contiguous().and_then(|x| x.apply_op1(ShiftConcat { ks })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layers::shift_concat_composed;
    use candle_core::{DType, Device, Var};
    use rand::{RngExt, SeedableRng};

    fn rand_tensor(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap()
    }

    fn bits(t: &Tensor) -> Vec<u64> {
        let t = t.flatten_all().unwrap();
        match t.dtype() {
            DType::F32 => t
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits() as u64)
                .collect(),
            _ => t
                .to_vec1::<f64>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect(),
        }
    }

    /// Values and input gradients are the same bits as the composed candle version, for
    /// batch >= 2, both float types, several kernel sizes (window shorter than the kernel
    /// included), with an upstream gradient that has negative zeros in it.
    #[test]
    fn fused_equals_composed_bit_for_bit() {
        for dtype in [DType::F32, DType::F64] {
            for (b, l, c, ks) in [(3, 5, 4, 3), (2, 5, 7, 1), (4, 3, 2, 5), (2, 2, 3, 5)] {
                let x = Var::from_tensor(&rand_tensor(&[b, l, c], 7, dtype)).unwrap();
                let mut r = rand_tensor(&[b * l, ks * c], 8, dtype);
                // Rows of -0.0 upstream: the sign of zero sums must match too.
                let neg0 =
                    (Tensor::zeros((1, ks * c), dtype, &Device::Cpu).unwrap() * -1.0).unwrap();
                r = r.slice_assign(&[0..1, 0..ks * c], &neg0).unwrap();
                let fused = shift_concat_cpu(x.as_tensor(), ks).unwrap().unwrap();
                let composed = shift_concat_composed(x.as_tensor(), ks).unwrap();
                assert_eq!(fused.dims(), composed.dims());
                assert_eq!(
                    bits(&fused),
                    bits(&composed),
                    "values {dtype:?} {b} {l} {c} {ks}"
                );
                let gf = (fused * &r).unwrap().sum_all().unwrap().backward().unwrap();
                let gc = (composed * &r)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let (gf, gc) = (gf.get(&x).unwrap(), gc.get(&x).unwrap());
                assert_eq!(gf.dims(), &[b, l, c]);
                assert_eq!(bits(gf), bits(gc), "grads {dtype:?} {b} {l} {c} {ks}");
            }
        }
    }

    /// The gather against the definition for one element.
    #[test]
    fn taps_by_hand() {
        // x[b, t, ch] = 100 b + 10 t + ch; ks = 3, so columns j = 0, 1, 2 read t - 1, t, t + 1.
        let v: Vec<f32> = (0..2)
            .flat_map(|b| {
                (0..4).flat_map(move |t| (0..2).map(move |c| (100 * b + 10 * t + c) as f32))
            })
            .collect();
        let u = gather(&v, 2, 4, 2, 3);
        let at = |row: usize, col: usize| u[row * 6 + col];
        assert_eq!(at(4, 0), 0.0); // b = 1, t = 0, tap t - 1: padding
        assert_eq!(at(4, 2), 100.0); // b = 1, t = 0, tap t
        assert_eq!(at(5, 5), 121.0); // b = 1, t = 1, tap t + 1, channel 1
        assert_eq!(at(7, 4), 0.0); // b = 1, t = 3, tap t + 1: padding
    }
}
