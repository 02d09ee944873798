//! Likelihoods of the heads (mixture density, softmax) and their host-side samplers.
//!
//! Conventions: natural logarithms (nats); the mixture has K components with weights
//! `softmax(logits)`, means `mu` and standard deviations `exp(log_sigma)`, log-sigma clamped to
//! [`LOG_SIGMA_MIN`, `LOG_SIGMA_MAX`].

use candle_core::{DType, Tensor};
use rand::RngExt;
use rand::rngs::StdRng;

use super::categorical::sample_softmax;
use crate::Result;
use crate::schema::Rounding;

pub(crate) const LN_2PI: f64 = 1.837_877_066_409_345_5;
/// The head's raw mean outputs are multiplied by this: Adam moves every parameter by about
/// `lr` per step, and without the scale a mean bias would jitter by more than STAN's bin
/// width (0.005 encoded units) at lr = 1e-2, so components could not settle on the spikes.
pub(crate) const MEAN_SCALE: f64 = 0.1;
/// Lower clamp of log-sigma: sigma >= 1.2e-4 in encoded units, far below STAN's bin width
/// (0.005) so the binned loss is never limited by it, while the exact density stays finite.
pub(crate) const LOG_SIGMA_MIN: f64 = -9.0;
pub(crate) const LOG_SIGMA_MAX: f64 = 5.0;
/// Below this z the CDF is taken from its asymptotic series (relative error < 2e-5 there),
/// because 0.5 (1 + erf(z / sqrt 2)) has lost most digits to cancellation in f64 by z = -8.
const TAIL_Z: f64 = -6.0;

/// log N(y; mu, sigma) per component: y [B,1], mu and log_sigma [B,K] -> [B,K].
fn log_normal(y: &Tensor, mu: &Tensor, log_sigma: &Tensor) -> Result<Tensor> {
    let z = y.broadcast_sub(mu)?.mul(&log_sigma.neg()?.exp()?)?;
    Ok(((z.sqr()? * -0.5)? - log_sigma)?.affine(1.0, -0.5 * LN_2PI)?)
}

/// Standard normal CDF.
fn phi(x: &Tensor) -> Result<Tensor> {
    Ok((x * std::f64::consts::FRAC_1_SQRT_2)?
        .erf()?
        .affine(0.5, 0.5)?)
}

/// ln Φ(t) for t <= TAIL_Z from the asymptotic (Mills-ratio) series
/// ln φ(t) - ln(-t) + ln(1 - t^-2 + 3 t^-4 - 15 t^-6 + 105 t^-8).
fn log_phi_tail(t: &Tensor) -> Result<Tensor> {
    let t = t.minimum(TAIL_Z)?;
    let u = t.sqr()?.recip()?; // 1/t^2
    // Horner: 1 + u(-1 + u(3 + u(-15 + 105 u)))
    let series = u
        .affine(105.0, -15.0)?
        .mul(&u)?
        .affine(1.0, 3.0)?
        .mul(&u)?
        .affine(1.0, -1.0)?;
    let series = series.mul(&u)?.affine(1.0, 1.0)?;
    let log_pdf = (t.sqr()? * -0.5)?.affine(1.0, -0.5 * LN_2PI)?;
    Ok(((log_pdf - t.neg()?.log()?)? + series.log()?)?)
}

/// Distance below `y` used as the lower edge of an open bottom cell (the encoded ranges are
/// about [0, 1.25], so this is minus infinity for every component the clamps allow).
pub(crate) const OPEN_EDGE: f64 = 1e3;

/// The likelihood cell `(lo, hi)` of a training value `y` of a continuous attribute with lower
/// bound `min`: STAN's bin `[y - h, y + h]`, widened to the whole interval that the decoder turns
/// into the same value (`rounding`, see [`crate::schema::Rounding`]), and open below
/// (`lo = y - OPEN_EDGE`) for a value on the bound. Generation maps a draw to a value by the
/// same cells where they are the decoder's intervals (the bound via [`bottom_edge`], the rest
/// by the decoder's rounding), so there the probability the model is trained to give a decoded
/// value is the probability with which it generates it; where STAN's bin is wider (large
/// values), neighbouring bins overlap and the bin acts as a smoothed density, as in STAN.
///
/// Why the bound's cell is open: zero-inflated fields such as NetFlow durations and
/// inter-arrival gaps have a third to a half of their mass on the bound; with a closed cell a
/// component of width ~h centred there is credited with only ~68 % of its weight in training
/// but decoded as the bound almost entirely, so under-trained models over-generated zero gaps
/// and rolled out into same-second bursts (2.3x the real flow count).
pub(crate) fn cell(y: f64, min: f64, h: f64, rounding: Option<Rounding>) -> (f64, f64) {
    let (mut lo, mut hi) = (y - h, y + h);
    if let Some(r) = rounding {
        let (a, b) = r.cell(y);
        lo = lo.min(a);
        hi = hi.max(b);
    }
    if y <= min || !lo.is_finite() {
        lo = y - OPEN_EDGE;
    }
    (lo, hi)
}

/// Upper edge of the bottom cell: generation returns every draw below it as `min` (h > 0).
pub(crate) fn bottom_edge(min: f32, h: f64, rounding: Option<Rounding>) -> f32 {
    if h > 0.0 {
        cell(min as f64, min as f64, h, rounding).1 as f32
    } else {
        min
    }
}

/// ln P(lo < Y <= hi) per component, computed in f64: y, lo, hi [B,1] (`y` inside its cell),
/// mu/log_sigma [B,K] -> [B,K].
///
/// The CDF difference is taken on the side of the mean where both CDF values are small
/// (reflecting when y > mu); when even the upper end lies below `TAIL_Z` standard deviations
/// both CDFs come from the asymptotic series and are subtracted in log space.
fn log_cell(
    y: &Tensor,
    lo: &Tensor,
    hi: &Tensor,
    mu: &Tensor,
    log_sigma: &Tensor,
) -> Result<Tensor> {
    let dt = mu.dtype();
    let f = |t: &Tensor| t.to_dtype(DType::F64);
    let (y, lo, hi, mu, ls) = (f(y)?, f(lo)?, f(hi)?, f(mu)?, f(log_sigma)?);
    let inv = ls.neg()?.exp()?;
    let za = lo.broadcast_sub(&mu)?.mul(&inv)?;
    let zb = hi.broadcast_sub(&mu)?.mul(&inv)?;
    let flip = y.broadcast_sub(&mu)?.gt(0.0)?;
    let lo = flip.where_cond(&zb.neg()?, &za)?;
    let hi = flip.where_cond(&za.neg()?, &zb)?;
    let direct = (phi(&hi)? - phi(&lo)?)?.maximum(1e-300)?.log()?;
    // Tail: ln(Φ(hi) - Φ(lo)) = ln Φ(hi) + ln(1 - e^d), d = ln Φ(lo) - ln Φ(hi) <= 0.
    let lh = log_phi_tail(&hi)?;
    let d = (log_phi_tail(&lo)? - &lh)?.minimum(0.0)?;
    let small = d.gt(-1e-4)?;
    let one_minus = small.where_cond(
        &(d.neg()? * d.affine(0.5, 1.0)?)?,
        &d.exp()?.affine(-1.0, 1.0)?,
    )?;
    let tail = (lh + one_minus.maximum(1e-300)?.log()?)?;
    Ok(hi.lt(TAIL_Z)?.where_cond(&tail, &direct)?.to_dtype(dt)?)
}

/// Per-sample log-likelihood of a mixture head: `params` [B, 3K] = (logits | mu / MEAN_SCALE |
/// log_sigma), `y` [B, 1]. `half_width` 0 gives the density ln p(y); > 0 STAN's symmetric bin
/// ln P(|Y - y| <= h). Returns [B]. Uses log-softmax weights and a max-shifted log-sum-exp.
/// Training uses [`mdn_log_prob_cells`] with the cells of [`cell`] (open at the bound, widened
/// to the decoder's rounding); this form serves the exact density and the tests of the bins.
pub(crate) fn mdn_log_prob(
    params: &Tensor,
    y: &Tensor,
    k: usize,
    half_width: f64,
) -> Result<Tensor> {
    if half_width > 0.0 {
        let y64 = y.to_dtype(DType::F64)?;
        let cells = Tensor::cat(&[&(&y64 - half_width)?, &(&y64 + half_width)?], 1)?;
        return mdn_log_prob_cells(params, y, &cells, k);
    }
    let (log_pi, mu, ls) = mixture(params, k)?;
    Ok((log_pi + log_normal(y, &mu, &ls)?)?.log_sum_exp(1)?)
}

/// Per-sample log-probability of the cells `(lo, hi]` (`cells` [B, 2] f64 as (lo, hi), from
/// [`cell`]) that hold the values `y` [B, 1] under a mixture head's raw outputs `params`
/// [B, 3K] -> [B]. Fused on CPU (`mdn_cpu`), composed from candle operations elsewhere.
pub(crate) fn mdn_log_prob_cells(
    params: &Tensor,
    y: &Tensor,
    cells: &Tensor,
    k: usize,
) -> Result<Tensor> {
    if let Some(lp) = super::mdn_cpu::cell_log_prob_cpu(params, cells, k) {
        return Ok(lp?);
    }
    mdn_log_prob_cells_composed(params, y, cells, k)
}

/// [`mdn_log_prob_cells`] from candle operations (any device).
pub(crate) fn mdn_log_prob_cells_composed(
    params: &Tensor,
    y: &Tensor,
    cells: &Tensor,
    k: usize,
) -> Result<Tensor> {
    let (lo, hi) = (cells.narrow(1, 0, 1)?, cells.narrow(1, 1, 1)?);
    let (log_pi, mu, ls) = mixture(params, k)?;
    Ok((log_pi + log_cell(y, &lo, &hi, &mu, &ls)?)?.log_sum_exp(1)?)
}

/// (log weights, means, clamped log-sigmas) [B, K] each, from raw outputs [B, 3K].
fn mixture(params: &Tensor, k: usize) -> Result<(Tensor, Tensor, Tensor)> {
    let log_pi = candle_nn::ops::log_softmax(&params.narrow(1, 0, k)?, 1)?;
    let mu = (params.narrow(1, k, k)? * MEAN_SCALE)?;
    let ls = params
        .narrow(1, 2 * k, k)?
        .clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX)?;
    Ok((log_pi, mu, ls))
}

/// Per-sample log-probability of class `target` [B] (u32) under `softmax(logits)` [B, C] -> [B].
pub(crate) fn softmax_log_prob(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    if let Some(lp) = super::xent::class_log_prob_cpu(logits, target) {
        return Ok(lp?);
    }
    // ln softmax(x)_t = x_t - logsumexp(x): cheaper than a full log-softmax for wide heads.
    let x_t = logits
        .contiguous()?
        .gather(&target.unsqueeze(1)?, 1)?
        .squeeze(1)?;
    Ok((x_t - logits.log_sum_exp(1)?)?)
}

/// Draw one value from a mixture head's raw outputs `params` = (logits | mu | log_sigma);
/// `scratch` as for [`sample_softmax`] with `k` classes.
pub(crate) fn sample_mdn(params: &[f32], k: usize, scratch: &mut [f32], rng: &mut StdRng) -> f32 {
    let c = sample_softmax(&params[..k], scratch, rng);
    let mu = params[k + c] as f64 * MEAN_SCALE;
    let ls = (params[2 * k + c] as f64).clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX);
    let z: f64 = rng.sample(rand_distr::StandardNormal);
    (mu + ls.exp() * z) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use statrs::distribution::{Continuous, ContinuousCDF, Normal};

    /// Two rows, K = 2: compare the exact and binned mixture log-likelihoods with statrs.
    #[test]
    fn mixture_log_prob_matches_statrs() {
        let dev = Device::Cpu;
        // rows: (logits, mu, log_sigma)
        let p = [
            [0.3, -0.2, 0.1, 0.6, (0.2f64).ln(), (0.05f64).ln()],
            [-1.0, 0.5, 0.0, 0.02, (0.5f64).ln(), (0.01f64).ln()],
        ];
        let y = [0.55f64, 0.021];
        let params = Tensor::new(&p, &dev).unwrap();
        let yt = Tensor::new(&y, &dev).unwrap().unsqueeze(1).unwrap();
        let exact = mdn_log_prob(&params, &yt, 2, 0.0)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let h = 1.0 / 400.0;
        let binned = mdn_log_prob(&params, &yt, 2, h)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for r in 0..2 {
            let (l0, l1) = (p[r][0], p[r][1]);
            let z = l0.exp() + l1.exp();
            let w = [l0.exp() / z, l1.exp() / z];
            let mut dens = 0.0;
            let mut bin = 0.0;
            for c in 0..2 {
                let n = Normal::new(p[r][2 + c] * MEAN_SCALE, p[r][4 + c].exp()).unwrap();
                dens += w[c] * n.pdf(y[r]);
                bin += w[c] * (n.cdf(y[r] + h) - n.cdf(y[r] - h));
            }
            assert!(
                (exact[r] - dens.ln()).abs() < 1e-9,
                "{} vs {}",
                exact[r],
                dens.ln()
            );
            assert!(
                (binned[r] - bin.ln()).abs() < 1e-7,
                "{} vs {}",
                binned[r],
                bin.ln()
            );
        }
    }

    /// Cells from [`cell`] (rounding-widened, asymmetric, open at the bound) against statrs.
    #[test]
    fn cell_log_prob_matches_statrs() {
        let dev = Device::Cpu;
        let r = Rounding {
            scale: 700f64.ln_1p(),
            per_unit: 1.0,
        };
        let h = 1.0 / 400.0;
        // Hand-computed edges: a gap of 1 s owns [ln 1.5, ln 2.5] / s (wider than y +- h); a
        // gap of 500 s keeps STAN's bin (its rounding cell is narrower); 0 s is open below.
        let (y1, y500) = (r.encode(1.0), r.encode(500.0));
        let c1 = cell(y1, 0.0, h, Some(r));
        assert_eq!(c1, (1.5f64.ln() / r.scale, 2.5f64.ln() / r.scale));
        assert_eq!(cell(y500, 0.0, h, Some(r)), (y500 - h, y500 + h));
        assert_eq!(
            cell(0.0, 0.0, h, Some(r)),
            (-OPEN_EDGE, 1.5f64.ln() / r.scale)
        );
        assert_eq!(cell(0.3, 0.0, h, None), (0.3 - h, 0.3 + h));
        assert_eq!(bottom_edge(0.0, h, Some(r)), (1.5f64.ln() / r.scale) as f32);
        assert_eq!(bottom_edge(0.0, h, None), h as f32);
        assert_eq!(bottom_edge(0.0, 0.0, Some(r)), 0.0);

        let p = [
            [0.3, -0.2, 0.2, 0.6, (0.05f64).ln(), (0.2f64).ln()],
            [-1.0, 0.5, 0.0, 0.02, (0.5f64).ln(), (0.01f64).ln()],
            [0.0, 1.0, 9.0, 2.0, (0.3f64).ln(), (0.02f64).ln()],
        ];
        let ys = [y1, 0.0, y500];
        let cells: Vec<(f64, f64)> = ys.iter().map(|&y| cell(y, 0.0, h, Some(r))).collect();
        let col = |f: &dyn Fn(usize) -> f64| {
            Tensor::new(&[f(0), f(1), f(2)], &dev)
                .unwrap()
                .unsqueeze(1)
                .unwrap()
        };
        let cell_t = Tensor::cat(&[col(&|i| cells[i].0), col(&|i| cells[i].1)], 1).unwrap();
        let params = Tensor::new(&p, &dev).unwrap();
        let composed = mdn_log_prob_cells_composed(&params, &col(&|i| ys[i]), &cell_t, 2)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let lp = mdn_log_prob_cells(&params, &col(&|i| ys[i]), &cell_t, 2)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for (row, &(lo, hi)) in cells.iter().enumerate() {
            let z = p[row][0].exp() + p[row][1].exp();
            let mut prob = 0.0;
            for c in 0..2 {
                let n = Normal::new(p[row][2 + c] * MEAN_SCALE, p[row][4 + c].exp()).unwrap();
                prob += p[row][c].exp() / z * (n.cdf(hi) - n.cdf(lo));
            }
            for (path, v) in [("fused", lp[row]), ("composed", composed[row])] {
                assert!(
                    (v - prob.ln()).abs() < 1e-7,
                    "{path} row {row}: {v} vs {}",
                    prob.ln()
                );
            }
        }
    }

    /// Far in the tail the binned log-probability stays finite and close to the true value.
    #[test]
    fn binned_tail_is_finite() {
        let dev = Device::Cpu;
        let params = Tensor::new(
            &[[0.0f64, 0.0, (0.01f64).ln()], [0.0, 0.0, (0.01f64).ln()]],
            &dev,
        )
        .unwrap();
        let y = Tensor::new(&[[0.09f64], [-0.2]], &dev).unwrap(); // 9 and 20 sigma away
        let lp = mdn_log_prob(&params, &y, 1, 1.0 / 400.0)
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let n = Normal::new(0.0, 0.01).unwrap();
        let truth = (n.sf(0.09 - 0.0025) - n.sf(0.09 + 0.0025)).ln();
        assert!((lp[0] - truth).abs() < 1e-6, "{} vs {truth}", lp[0]);
        // 20 sigma: statrs underflows too; compare with the Mills-ratio value ln φ(z)/z at the
        // bin's inner edge z = 19.75 (the outer edge adds e^-4.9 relative, i.e. ~0.7 %).
        let z: f64 = 19.75;
        let approx = -0.5 * z * z - 0.5 * LN_2PI - z.ln();
        assert!(
            lp[1].is_finite() && (lp[1] - approx).abs() < 0.02,
            "{} vs {approx}",
            lp[1]
        );
    }

    #[test]
    fn softmax_log_prob_and_sampler() {
        let dev = Device::Cpu;
        let logits = Tensor::new(&[[1.0f32, 2.0, 3.0], [0.0, 0.0, 0.0]], &dev).unwrap();
        let t = Tensor::new(&[2u32, 0], &dev).unwrap();
        let lp = softmax_log_prob(&logits, &t)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let z = 1f32.exp() + 2f32.exp() + 3f32.exp();
        assert!((lp[0] - (3f32.exp() / z).ln()).abs() < 1e-6);
        assert!((lp[1] - (1.0f32 / 3.0).ln()).abs() < 1e-6);
        // The fused CPU kernel equals the composed x_t - logsumexp(x), values and gradients.
        let x = candle_core::Var::new(&[[0.5f64, -1.0, 2.0, 0.0], [3.0, 1.0, -2.0, 0.5]], &dev)
            .unwrap();
        let tt = Tensor::new(&[3u32, 0], &dev).unwrap();
        let w = Tensor::new(&[0.7f64, -1.3], &dev).unwrap();
        let fused = softmax_log_prob(x.as_tensor(), &tt).unwrap();
        let composed = (x
            .as_tensor()
            .gather(&tt.unsqueeze(1).unwrap(), 1)
            .unwrap()
            .squeeze(1)
            .unwrap()
            - x.as_tensor().log_sum_exp(1).unwrap())
        .unwrap();
        let gf = (&fused * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gc = (&composed * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let d = |a: &Tensor, b: &Tensor| {
            (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        assert!(d(&fused, &composed) < 1e-14);
        assert!(
            d(
                gf.get(x.as_tensor()).unwrap(),
                gc.get(x.as_tensor()).unwrap()
            ) < 1e-14
        );
        assert!(softmax_log_prob(x.as_tensor(), &Tensor::new(&[4u32, 0], &dev).unwrap()).is_err());
        // Empirical frequencies of the sampler match softmax([0, ln 3]) = (0.25, 0.75).
        let mut rng = <StdRng as rand::SeedableRng>::seed_from_u64(1);
        let mut scratch = [0f32; 3];
        let n = 20_000;
        let ones = (0..n)
            .filter(|_| sample_softmax(&[0.0, 3f32.ln()], &mut scratch, &mut rng) == 1)
            .count();
        assert!((ones as f64 / n as f64 - 0.75).abs() < 0.01);
    }
}
