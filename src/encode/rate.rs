//! Rate calibration of roll-outs: a time dilation of the sampled gaps, per host and per hour of
//! day, fitted so that a roll-out generates the training hosts' flow counts.
//!
//! Why: a STAN roll-out's flow count is not a trained quantity. The model learns one-step
//! conditionals on real windows; rolled out on its own windows, each too-short gap makes the
//! window look busier and the next gap shorter (exposure bias), so the rate drifts, and by how
//! much changes chaotically with the weights (the quickstart's roll-outs generated 0.7x to
//! 1.9x the members' flows for the same spec under different summation orders; within one
//! roll-out the median host's rate grew 1.6x over four hours). Since pooled marginals weight
//! every host by its flow count, a wrong count per host also moves every marginal. The
//! calibration keeps the model's gap *shapes* (zero gaps, i.e. bursts, stay zero) and rescales
//! the clock only.
//!
//! **Fit.** A damped fixed-point iteration on roll-outs of the training hosts under the
//! current factors. After each roll-out a host's factor is multiplied by
//! `(generated / target)^0.4`, an hour's factor likewise by its pooled count over its target;
//! with both, the hours take only the shape (each hour's ratio over the total ratio) and the
//! hosts the level, so the total is not corrected twice. The step is damped because the
//! window feeds the dilated gaps back: on the quickstart a 1 % longer gap cut the count by
//! about 2.5 % (an undamped or 0.7 step oscillated: 1.21x, 0.87x, 1.17x, ...); 0.4 converges
//! for any such elasticity below 5. Factors stay within [`FACTOR_BOUNDS`]; the manifest
//! records every iteration.
//!
//! **Which host gets which count.** Without a host-level input the model does not know which
//! member a synthetic host stands for: its kind of traffic emerges from its own first draws.
//! Giving synthetic host `i` member `i`'s count would pair a busy member's count with whatever
//! host the roll-out made (measured: marginals got worse, protocol JSD 0.045 -> 0.059). So the
//! targets are the members' counts *by rank*: the host with the k-th smallest count in the
//! uncalibrated roll-out gets the k-th smallest member count. The roll-outs use the released
//! roll-out's seed (common random numbers), so the released hosts are the ones calibrated.
//!
//! **What it releases.** With `host` or `host_hour`, the multiset of the members' flow counts
//! over the training window (scaled to the generation window), up to roll-out noise; the
//! activity class releases it in powers of 4. `hour` uses only the members' pooled flows per
//! hour of day.

use super::{Encoder, col};
use crate::data::flow::second_of_day;
use crate::data::hosts::HostTraffic;
use crate::error::Result;
use crate::schema::Sequences;
use serde::{Deserialize, Serialize};

/// Which counts a roll-out is calibrated to (`stan.calibrate_rate`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RateCalibration {
    /// The model's gaps as sampled (STAN).
    #[default]
    Off,
    /// One factor per hour of day: the pooled flows per hour of day.
    Hour,
    /// One factor per host: the hosts' flow counts (the members' counts, matched by rank).
    Host,
    /// Both: per-host levels and the pooled hour-of-day shape.
    HostHour,
}

impl RateCalibration {
    pub fn is_off(&self) -> bool {
        *self == RateCalibration::Off
    }
    fn per_host(self) -> bool {
        matches!(self, RateCalibration::Host | RateCalibration::HostHour)
    }
    fn per_hour(self) -> bool {
        matches!(self, RateCalibration::Hour | RateCalibration::HostHour)
    }
}

/// Bounds of every factor: a factor at a bound means the model cannot reach the target rate
/// (e.g. a host whose roll-out is all bursts).
pub const FACTOR_BOUNDS: (f64, f64) = (1.0 / 64.0, 64.0);

/// Damping exponent of the fixed-point update (see the module doc).
const STEP: f64 = 0.4;

/// Multiplicative factors on a roll-out's gaps: a row of host `h` whose clock is in hour of day
/// `k` has its gap multiplied by `host[h] * hour[k]` (and rounded to whole seconds).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dilation {
    #[serde(rename = "host_factors")]
    pub host: Vec<f64>,
    #[serde(rename = "hour_factors")]
    pub hour: [f64; 24],
}

impl Dilation {
    /// All factors 1 (gaps unchanged).
    pub fn identity(n_hosts: usize) -> Dilation {
        Dilation {
            host: vec![1.0; n_hosts],
            hour: [1.0; 24],
        }
    }

    /// The factor of host `host` at hour of day `hour` (1 for hosts or hours out of range).
    pub fn factor(&self, host: usize, hour: usize) -> f64 {
        self.host.get(host).copied().unwrap_or(1.0) * self.hour.get(hour).copied().unwrap_or(1.0)
    }
}

/// Flow counts of a set of hosts: per host, and pooled per hour of day of each flow's end
/// second (`te`).
#[derive(Clone, Debug, PartialEq)]
pub struct RateCounts {
    pub host: Vec<f64>,
    pub hour: [f64; 24],
}

impl RateCounts {
    /// Counts of an encoded roll-out whose hosts start at `start`: each row's `te` is `start`
    /// plus the host's decoded gaps so far, as [`Encoder::decode_row`] computes it.
    pub fn of_rollout(seq: &Sequences, encoder: &Encoder, start: i64) -> RateCounts {
        let mut hour = [0.0; 24];
        let host = (0..seq.n_hosts())
            .map(|h| {
                let mut t = start;
                for i in seq.host(h) {
                    t += encoder.decode_gap(seq.row(i)[col::GAP]);
                    hour[(second_of_day(t) / 3600) as usize] += 1.0;
                }
                seq.host(h).len() as f64
            })
            .collect();
        RateCounts { host, hour }
    }

    /// The training hosts' counts over `train_window`, scaled to the generation window's
    /// length: per host by the ratio of the lengths, per hour of day by the ratio of the
    /// seconds each window spends in that hour (0 where the training window never is in it:
    /// such hours are not calibrated).
    pub fn targets(
        train: &[HostTraffic],
        train_window: (i64, i64),
        gen_window: (i64, i64),
    ) -> RateCounts {
        let len = |w: (i64, i64)| (w.1 - w.0).max(1) as f64;
        let scale = len(gen_window) / len(train_window);
        let (tc, gc) = (hour_cover(train_window), hour_cover(gen_window));
        let mut hour = [0.0; 24];
        for h in train {
            for f in &h.flows {
                hour[(second_of_day(f.te) / 3600) as usize] += 1.0;
            }
        }
        for k in 0..24 {
            hour[k] = if tc[k] > 0.0 {
                hour[k] * gc[k] / tc[k]
            } else {
                0.0
            };
        }
        RateCounts {
            host: train.iter().map(|h| h.flows.len() as f64 * scale).collect(),
            hour,
        }
    }

    fn total(&self) -> f64 {
        self.host.iter().sum()
    }
}

/// The `targets` reassigned so that their order follows `counts`': the host with the k-th
/// smallest count (ties: the lower index first) gets the k-th smallest target.
fn by_rank(counts: &[f64], targets: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| counts[a].total_cmp(&counts[b]).then(a.cmp(&b)));
    let mut sorted = targets.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut out = vec![0.0; counts.len()];
    for (k, &h) in order.iter().enumerate() {
        out[h] = sorted[k];
    }
    out
}

/// Seconds of `[start, end)` in each hour of day.
fn hour_cover(w: (i64, i64)) -> [f64; 24] {
    let mut cover = [0.0; 24];
    let mut t = w.0;
    while t < w.1 {
        let next = (t - second_of_day(t) % 3600 + 3600).min(w.1);
        cover[(second_of_day(t) / 3600) as usize] += (next - t) as f64;
        t = next;
    }
    cover
}

/// One iteration of the fit, as the manifest records it: the roll-out's total flow count over
/// the target's, and the mean absolute log ratio over the calibrated hosts and hours.
#[derive(Clone, Debug, Serialize)]
pub struct CalibrationStep {
    pub total_ratio: f64,
    pub host_mean_abs_log_ratio: f64,
    pub hour_mean_abs_log_ratio: f64,
}

/// The fitted dilation and how the fit went.
#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    pub mode: RateCalibration,
    /// Iteration `i` describes the roll-out under the factors of iteration `i` (the first:
    /// all factors 1, the model as trained); the returned factors come after the last update.
    pub steps: Vec<CalibrationStep>,
    /// The fitted factors (`host_factors`, `hour_factors` in the manifest).
    #[serde(flatten)]
    pub dilation: Dilation,
    /// Quantiles 0, 0.25, 0.5, 0.75, 1 of the host factors.
    pub host_factor_quantiles: [f64; 5],
    /// Factors that ended at a bound of [`FACTOR_BOUNDS`].
    pub at_bounds: usize,
}

/// Fit a dilation for `mode` in `iters` roll-outs: `rollout` rolls the hosts out under the given
/// dilation and returns their counts (it must use the same seed each time). With per-host
/// factors, `target.host` is reassigned by the rank of the first roll-out's counts.
pub fn fit(
    mode: RateCalibration,
    iters: usize,
    target: &RateCounts,
    mut rollout: impl FnMut(&Dilation) -> Result<RateCounts>,
) -> Result<Calibration> {
    let n_hosts = target.host.len();
    let mut target = target.clone();
    let mut d = Dilation::identity(n_hosts);
    let mut steps = Vec::with_capacity(iters);
    let clamp = |x: f64| x.clamp(FACTOR_BOUNDS.0, FACTOR_BOUNDS.1);
    // A generated count of 0 is taken as 0.5 so that its log ratio stays finite.
    let ratio = |got: f64, want: f64| got.max(0.5) / want;
    for _ in 0..iters {
        if mode.is_off() {
            break;
        }
        let got = rollout(&d)?;
        if mode.per_host() && steps.is_empty() {
            target.host = by_rank(&got.host, &target.host);
        }
        let total = got.total() / target.total().max(1e-9);
        let mean_abs_log = |pairs: Vec<(f64, f64)>| {
            let n = pairs.len().max(1) as f64;
            pairs
                .iter()
                .map(|&(g, w)| ratio(g, w).ln().abs())
                .sum::<f64>()
                / n
        };
        let hosts: Vec<usize> = (0..n_hosts).filter(|&h| target.host[h] > 0.0).collect();
        let hours: Vec<usize> = (0..24).filter(|&k| target.hour[k] > 0.0).collect();
        steps.push(CalibrationStep {
            total_ratio: total,
            host_mean_abs_log_ratio: mean_abs_log(
                hosts
                    .iter()
                    .map(|&h| (got.host[h], target.host[h]))
                    .collect(),
            ),
            hour_mean_abs_log_ratio: mean_abs_log(
                hours
                    .iter()
                    .map(|&k| (got.hour[k], target.hour[k]))
                    .collect(),
            ),
        });
        if mode.per_host() {
            for &h in &hosts {
                d.host[h] = clamp(d.host[h] * ratio(got.host[h], target.host[h]).powf(STEP));
            }
        }
        if mode.per_hour() {
            // With host factors, the hosts take the level and the hours only the shape.
            let level = if mode.per_host() {
                total.max(1e-9)
            } else {
                1.0
            };
            for &k in &hours {
                let r = ratio(got.hour[k], target.hour[k]) / level;
                d.hour[k] = clamp(d.hour[k] * r.powf(STEP));
            }
        }
    }
    let mut sorted = d.host.clone();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if sorted.is_empty() {
            1.0
        } else {
            sorted[((sorted.len() - 1) as f64 * p).round() as usize]
        }
    };
    let at_bound = |x: &f64| *x <= FACTOR_BOUNDS.0 || *x >= FACTOR_BOUNDS.1;
    Ok(Calibration {
        mode,
        steps,
        host_factor_quantiles: [q(0.0), q(0.25), q(0.5), q(0.75), q(1.0)],
        at_bounds: d.host.iter().filter(|x| at_bound(x)).count()
            + d.hour.iter().filter(|x| at_bound(x)).count(),
        dilation: d,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baselines::{self, Marginals};
    use crate::data::flow::parse_time;
    use crate::encode::{Clock, EncoderConfig};
    use crate::schema::Conditioner;

    fn fixture() -> HostTraffic {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/day_1_42.219.152.127.csv");
        let flows = crate::data::read_flows(&p).unwrap();
        let ip = crate::data::flow::parse_ipv4("42.219.152.127").unwrap();
        crate::data::hosts::host_view(&flows, &[ip]).remove(0)
    }

    #[test]
    fn targets_by_rank() {
        assert_eq!(
            by_rank(&[5.0, 1.0, 9.0, 1.0], &[10.0, 40.0, 20.0, 30.0]),
            vec![30.0, 10.0, 40.0, 20.0]
        );
    }

    #[test]
    fn hour_cover_by_hand() {
        let t0 = parse_time("2016-04-11 00:30:00").unwrap();
        let c = hour_cover((t0, t0 + 6300)); // 00:30 - 02:15
        assert_eq!(&c[..4], &[1800.0, 3600.0, 900.0, 0.0]);
        assert_eq!(c.iter().sum::<f64>(), 6300.0);
        // Across midnight: 23:00 - 01:00.
        let c = hour_cover((t0 - 5400, t0 + 1800));
        assert_eq!((c[23], c[0], c[1]), (3600.0, 3600.0, 0.0));
    }

    /// Targets: host counts scaled by the window lengths, hour-of-day counts by each hour's
    /// cover, 0 for hours the training window never saw.
    #[test]
    fn targets_scale_to_the_generation_window() {
        let h = fixture();
        let start = parse_time("2016-04-11 00:00:00").unwrap();
        let train = h.window(start, start + 2 * 3600);
        let (n0, n1) = (
            train.flows.iter().filter(|f| f.te < start + 3600).count() as f64,
            train.flows.iter().filter(|f| f.te >= start + 3600).count() as f64,
        );
        assert!(n0 > 0.0 && n1 > 0.0);
        // Generate 00:00-00:30 and 01:00-03:00 from a training window 00:00-02:00: one-and-a-
        // half times as long, hour 0 half covered, hour 2 never trained.
        let t = RateCounts::targets(
            std::slice::from_ref(&train),
            (start, start + 7200),
            (start + 1800, start + 3 * 3600 + 1800),
        );
        assert_eq!(t.host, vec![(n0 + n1) * 1.5]);
        assert_eq!((t.hour[0], t.hour[1], t.hour[2]), (n0 * 0.5, n1, 0.0));
    }

    /// The dilated clock multiplies whole-second gaps, keeps zero gaps, and leaves a row bit
    /// for bit alone at factor 1; roll-out counts follow the decoded clock.
    #[test]
    fn clock_dilates_gaps_and_counts_follow() {
        let h = fixture();
        let start = parse_time("2016-04-11 00:00:00").unwrap();
        let enc = Encoder::fit(std::slice::from_ref(&h), start, EncoderConfig::default()).unwrap();
        let mut clock = Clock::for_hosts(
            &enc,
            (start, start + 86_400),
            std::slice::from_ref(&h),
            (0, 1),
        );
        let mut d = Dilation::identity(1);
        d.host[0] = 2.0;
        d.hour[3] = 0.25;
        clock.dilation = Some(d);
        let gap = |s: f64| enc.rounding(0).encode(s) as f32;
        let mut row = vec![0f32; enc.n_attrs()];
        for (hour, secs, want) in [(0.0, 3.0, 6.0), (0.0, 0.0, 0.0), (3.0, 7.0, 4.0)] {
            row[col::HOUR] = hour;
            row[col::GAP] = gap(secs);
            clock.adjust(&clock.init(0), col::GAP, &mut row);
            assert_eq!(enc.decode_gap(row[col::GAP]), want as i64);
            assert_eq!(row[col::GAP], gap(want));
        }
        clock.dilation = Some(Dilation::identity(1));
        let x = gap(123.0) + 1e-4;
        row[col::GAP] = x;
        clock.adjust(&clock.init(0), col::GAP, &mut row);
        assert_eq!(row[col::GAP].to_bits(), x.to_bits());
        // Counts of the real host's encoded flows are its flows per hour of `te`.
        let seq = enc
            .encode_hosts(std::slice::from_ref(&h), (start, start + 86_400))
            .unwrap();
        let c = RateCounts::of_rollout(&seq, &enc, start);
        assert_eq!(c.host, vec![h.flows.len() as f64]);
        let mut by_hand = [0.0; 24];
        for f in &h.flows {
            by_hand[(second_of_day(f.te) / 3600) as usize] += 1.0;
        }
        assert_eq!(c.hour, by_hand);
    }

    /// The fixed point on a made-up response with feedback (count ~ dilation^-1.5 per host, a
    /// skewed hour profile): per-host and per-hour counts reach their targets within 2 %.
    #[test]
    fn fit_reaches_targets_of_a_steep_response() {
        let base = [120.0, 40.0, 900.0];
        let shape = [0.5, 1.5]; // hours 0 and 1 of every host, before dilation
        let target = RateCounts {
            host: vec![60.0, 80.0, 1000.0],
            hour: {
                let mut h = [0.0; 24];
                h[0] = 570.0;
                h[1] = 570.0;
                h
            },
        };
        let respond = |d: &Dilation| -> Result<RateCounts> {
            let mut hour = [0.0; 24];
            let host = (0..3)
                .map(|i| {
                    (0..2)
                        .map(|k| {
                            let n = base[i] * shape[k] / 2.0 * d.factor(i, k).powf(-1.5);
                            hour[k] += n;
                            n
                        })
                        .sum()
                })
                .collect();
            Ok(RateCounts { host, hour })
        };
        let cal = fit(RateCalibration::HostHour, 12, &target, respond).unwrap();
        let got = respond(&cal.dilation).unwrap();
        // Targets by rank of the uncalibrated counts 120, 40, 900.
        for (i, want) in [80.0, 60.0, 1000.0].into_iter().enumerate() {
            assert!((got.host[i] / want - 1.0).abs() < 0.02, "{got:?}");
        }
        assert!((got.hour[0] / got.hour[1] - 1.0).abs() < 0.02, "{got:?}");
        assert_eq!(cal.steps.len(), 12);
        // The manifest names the factors as before the dilation was flattened into it.
        let v = serde_json::to_value(&cal).unwrap();
        assert_eq!(v["host_factors"].as_array().map(Vec::len), Some(3));
        assert_eq!(v["hour_factors"].as_array().map(Vec::len), Some(24));
        assert_eq!(
            v["hour_factors"][1],
            serde_json::json!(cal.dilation.hour[1])
        );
        assert!(cal.steps[0].host_mean_abs_log_ratio > 0.3);
        assert!(cal.steps[11].host_mean_abs_log_ratio < 0.02);
        // `hour` alone matches the hours' counts, total included, with host factors 1.
        let cal = fit(RateCalibration::Hour, 12, &target, respond).unwrap();
        let got = respond(&cal.dilation).unwrap();
        assert!(
            (got.hour[0] / 570.0 - 1.0).abs() < 0.02 && (got.hour[1] / 570.0 - 1.0).abs() < 0.02
        );
        assert!(cal.dilation.host.iter().all(|&f| f == 1.0));
        // `off` rolls nothing out.
        let cal = fit(RateCalibration::Off, 12, &target, |_| unreachable!()).unwrap();
        assert!(cal.steps.is_empty() && cal.dilation == Dilation::identity(3));
    }

    /// A real roll-out: independent marginals of a real host, rolled out under the dilated
    /// clock, calibrated to half and to twice the host's flow count over one day.
    #[test]
    fn fit_calibrates_a_real_rollout() {
        let h = fixture();
        let start = parse_time("2016-04-11 00:00:00").unwrap();
        let window = (start, start + 86_400);
        let enc = Encoder::fit(std::slice::from_ref(&h), start, EncoderConfig::default()).unwrap();
        let seq = enc.encode_hosts(std::slice::from_ref(&h), window).unwrap();
        let sampler = Marginals::fit(&enc.schema(), &seq).unwrap();
        let clock = Clock::for_hosts(&enc, window, std::slice::from_ref(&h), window);
        let n_attrs = enc.n_attrs();
        let hosts = vec![h.clone(), h.clone()];
        let mut target = RateCounts::targets(&hosts, window, window);
        let real = h.flows.len() as f64;
        target.host = vec![real / 2.0, real * 2.0];
        let cal = fit(RateCalibration::Host, 6, &target, |d| {
            let mut c = clock.clone();
            c.dilation = Some(d.clone());
            let out = baselines::roll_out(&sampler, &c, n_attrs, 2, 1_000_000, 7);
            Ok(RateCounts::of_rollout(&out, &enc, start))
        })
        .unwrap();
        let first = cal.steps[0].host_mean_abs_log_ratio;
        let last = cal.steps[5].host_mean_abs_log_ratio;
        assert!(first > 0.5 && last < 0.1, "{:?}", cal.steps);
        let f = &cal.dilation.host;
        let (slow, fast) = if f[0] > f[1] {
            (f[0], f[1])
        } else {
            (f[1], f[0])
        };
        assert!(slow > 1.5 && fast < 0.7, "{f:?}");
    }
}
