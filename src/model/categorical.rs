//! Drawing a class from a softmax on the host, the inner loop of generation.
//!
//! A NetFlow row samples ~5,000 logits (two 1670-way port heads, four 256-way address bytes,
//! ...). With libm's `expf` and one running f64 sum, one serial dependency chain per element, this
//! took 28 % of the CPU time of generation (perf self time, 20 % in the sampler and 8 % in
//! `expf`, `stan/generate_1000_hosts_x_20_rows`). Here every pass runs in eight independent
//! lanes that the compiler turns into SIMD without any reassociation (lane `j` always adds
//! elements `j, j+8, ...` in order) and in plain f32 arithmetic (no target features, no fused
//! multiply-add), so the result does not depend on how the loops are vectorised.

use rand::RngExt;
use rand::rngs::StdRng;

const LANES: usize = 8;
/// Classes per block of the two-level inverse-CDF walk.
const BLOCK: usize = 64;

/// Scratch length [`sample_softmax`] needs for `n` classes (exponentials, then block sums).
pub(crate) fn scratch_len(n: usize) -> usize {
    n + n.div_ceil(BLOCK)
}

/// `exp(x)` for `x <= 0` in plain f32 arithmetic (Cephes `expf`: x = n ln 2 + r, degree-6
/// polynomial in r, 2^n from the exponent bits): within 2 ulp of the exact value; 0 below
/// -87.3 (where the result would be subnormal) and for -inf.
#[inline(always)]
pub(crate) fn exp_nonpos(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4; // ln 2 split in a short high part ...
    const C2: f32 = -2.121_944_4e-4; // ... and the rest
    const LOW: f32 = -87.33654;
    // 1.5 * 2^23: adding it rounds x log2 e to an integer held in the low mantissa bits
    // (round to nearest even), in float operations that vectorise (a saturating `as i32` and
    // `round` do not, without SSE4.1).
    const SHIFT: f32 = 12_582_912.0;
    let xc = x.max(LOW);
    let t = xc * LOG2E + SHIFT;
    let nf = t - SHIFT;
    let n = t.to_bits() as i32 - SHIFT.to_bits() as i32;
    let r = xc - nf * C1 - nf * C2;
    let mut p = 1.987_569_2e-4f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    let scale = f32::from_bits(((n + 127) as u32) << 23);
    if x < LOW { 0.0 } else { e * scale }
}

/// Sum of `v` in eight lanes, combined in a fixed order.
#[inline(always)]
fn lane_sum(v: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = v.chunks_exact(LANES);
    for c in &mut chunks {
        for j in 0..LANES {
            acc[j] += c[j];
        }
    }
    for (j, &x) in chunks.remainder().iter().enumerate() {
        acc[j] += x;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// Draw a class from `softmax(logits)` by inverse CDF; `scratch` must hold
/// [`scratch_len`]`(logits.len())` values (kept by the caller so that sampling allocates
/// nothing). One uniform draw per call. The walk goes over block sums first, then within the
/// chosen block; a class with zero probability is never returned.
pub(crate) fn sample_softmax(logits: &[f32], scratch: &mut [f32], rng: &mut StdRng) -> usize {
    let n = logits.len();
    let mut mx = [f32::NEG_INFINITY; LANES];
    let mut chunks = logits.chunks_exact(LANES);
    for c in &mut chunks {
        for j in 0..LANES {
            mx[j] = mx[j].max(c[j]);
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(&mx)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let (e, blocks) = scratch[..scratch_len(n)].split_at_mut(n);
    for (s, &l) in e.iter_mut().zip(logits) {
        *s = exp_nonpos(l - max);
    }
    let mut total = 0f64;
    for (b, chunk) in blocks.iter_mut().zip(e.chunks(BLOCK)) {
        *b = lane_sum(chunk);
        total += *b as f64;
    }
    let mut u = rng.random::<f64>() * total;
    for (bi, &b) in blocks.iter().enumerate() {
        if u < b as f64 {
            let start = bi * BLOCK;
            let chunk = &e[start..(start + BLOCK).min(n)];
            for (i, &s) in chunk.iter().enumerate() {
                u -= s as f64;
                if u < 0.0 && s > 0.0 {
                    return start + i;
                }
            }
            // The block's f32 sum exceeded its f64 walk by rounding: its last positive class.
            return start + chunk.iter().rposition(|&s| s > 0.0).unwrap_or(0);
        }
        u -= b as f64;
    }
    // Rounding left u >= 0 after the last block: the last class with positive mass.
    e.iter().rposition(|&s| s > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The polynomial exp against f64's over [-90, 0]: relative error <= 2 ulp (2.4e-7),
    /// exactly 1 at 0, 0 at -inf and below the cut.
    #[test]
    fn exp_nonpos_is_accurate() {
        let mut worst = 0f64;
        for i in 0..=900_000 {
            let x = -(i as f32) * 1e-4;
            let want = (x as f64).exp();
            let got = exp_nonpos(x) as f64;
            if x >= -87.33 {
                worst = worst.max((got - want).abs() / want);
            } else {
                assert!(got == 0.0 || (got - want).abs() / want < 3e-7, "{x}: {got}");
            }
        }
        assert!(worst < 2.4e-7, "worst relative error {worst}");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert_eq!(exp_nonpos(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_nonpos(-100.0), 0.0);
    }

    /// Draw counts match softmax probabilities: 300k draws over 70 classes (two blocks, a
    /// partial lane chunk), one class at -inf and one at -30 (never / practically never drawn).
    /// Chi-square over the classes with expected count >= 5, 99.9 % critical value.
    #[test]
    fn draws_follow_the_softmax() {
        let n = 70;
        let mut logits: Vec<f32> = (0..n).map(|i| ((i * 37) % 11) as f32 * 0.3 - 1.0).collect();
        logits[3] = f32::NEG_INFINITY;
        logits[66] = -30.0;
        logits[69] = 2.5;
        let z: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
        let p: Vec<f64> = logits.iter().map(|&l| (l as f64).exp() / z).collect();
        let mut scratch = vec![0f32; scratch_len(n)];
        let mut rng = StdRng::seed_from_u64(11);
        let draws = 300_000;
        let mut count = vec![0usize; n];
        for _ in 0..draws {
            count[sample_softmax(&logits, &mut scratch, &mut rng)] += 1;
        }
        assert_eq!(count[3], 0);
        assert_eq!(count[66], 0);
        let (mut chi2, mut df) = (0.0, 0usize);
        for (c, q) in count.iter().zip(&p) {
            let e = q * draws as f64;
            if e >= 5.0 {
                chi2 += (*c as f64 - e).powi(2) / e;
                df += 1;
            }
        }
        // df - 1 = 67 degrees of freedom: the 99.9 % quantile is 111.5 (statrs).
        let crit = {
            use statrs::distribution::{ChiSquared, ContinuousCDF};
            ChiSquared::new((df - 1) as f64).unwrap().inverse_cdf(0.999)
        };
        assert!(chi2 < crit, "chi2 {chi2} >= {crit} (df {})", df - 1);
    }

    /// Edge cases: one class; all mass on the last class of a partial block; equal logits
    /// spread over 1670 classes hit both ends.
    #[test]
    fn edge_cases() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut scratch = vec![0f32; scratch_len(1670)];
        assert_eq!(sample_softmax(&[0.3], &mut scratch, &mut rng), 0);
        let mut l = vec![f32::NEG_INFINITY; 130];
        l[129] = 1.0;
        for _ in 0..100 {
            assert_eq!(sample_softmax(&l, &mut scratch, &mut rng), 129);
        }
        let flat = vec![0f32; 1670];
        let d: Vec<usize> = (0..20_000)
            .map(|_| sample_softmax(&flat, &mut scratch, &mut rng))
            .collect();
        assert!(d.iter().any(|&c| c < 20) && d.iter().any(|&c| c >= 1650));
        assert!(d.iter().all(|&c| c < 1670));
    }
}
