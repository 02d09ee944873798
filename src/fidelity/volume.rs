//! Traffic volume: how many flows a generator rolls out per host and hour, relative to the
//! reference's real hosts (`flows_ratio`).
//!
//! Autoregressive generators can drift in rate (each sampled gap shapes the next window), and
//! that one defect spoils marginals, temporal metrics and detectors downstream, so the volume
//! is a headline figure of its own: 1 is right, 2 means twice the real traffic. Rates per
//! host-hour make the two references comparable: the members' training window and the
//! generation window can differ in length, and the held-out reference has other hosts.
//!
//! The interval is a host-cluster bootstrap ([`crate::stats`]): real and synthetic hosts are
//! resampled with replacement on each side and the ratio of the mean per-host rates is
//! recomputed, so it says how much the figure depends on which hosts happen to be in either
//! sample; `n` counts the hosts of both sides.

use crate::report::MetricRow;
use crate::stats::{Clusters, cluster_bootstrap_ci};

/// Metric name of the volume row.
pub const METRIC: &str = "flows_ratio";

/// The `flows_ratio` row of `generator` in `section` from the flow counts of the real and the
/// synthetic hosts: mean flows per synthetic host-hour over `synthetic_window` divided by mean
/// flows per real host-hour over `real_window` (half-open Unix-second windows), with a `level`
/// host-cluster bootstrap interval from `reps` resamples. `None` when either side has no host,
/// a window is empty or the real hosts have no flow.
///
/// ```
/// use stan::fidelity::volume::flows_ratio;
/// // 20 flows per real host in 2 h; 40 per synthetic host in 1 h: four times the rate.
/// let row = flows_ratio("fidelity_train", "g", &[10, 30], (0, 7200), &[40, 40], (0, 3600), 200, 0.95, 1)
///     .unwrap();
/// assert!((row.value - 4.0).abs() < 1e-12);
/// assert_eq!(row.n, 4);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn flows_ratio(
    section: &str,
    generator: &str,
    real: &[usize],
    real_window: (i64, i64),
    synthetic: &[usize],
    synthetic_window: (i64, i64),
    reps: usize,
    level: f64,
    seed: u64,
) -> Option<MetricRow> {
    let hours = |w: (i64, i64)| (w.1 - w.0) as f64 / 3600.0;
    let (hr, hs) = (hours(real_window), hours(synthetic_window));
    if real.is_empty() || synthetic.is_empty() || hr <= 0.0 || hs <= 0.0 {
        return None;
    }
    // One item per host: side 0 real, side 1 synthetic; its flows per hour.
    let rate: Vec<f64> = real
        .iter()
        .map(|&n| n as f64 / hr)
        .chain(synthetic.iter().map(|&n| n as f64 / hs))
        .collect();
    let side: Vec<usize> = (0..rate.len())
        .map(|i| usize::from(i >= real.len()))
        .collect();
    let ratio = |idx: &[usize]| {
        let (mut sum, mut n) = ([0.0f64; 2], [0usize; 2]);
        for &i in idx {
            sum[side[i]] += rate[i];
            n[side[i]] += 1;
        }
        (n[0] > 0 && n[1] > 0 && sum[0] > 0.0)
            .then(|| (sum[1] / n[1] as f64) / (sum[0] / n[0] as f64))
    };
    let all: Vec<usize> = (0..rate.len()).collect();
    let value = ratio(&all)?;
    let row = MetricRow::new(section, generator, METRIC, "all", value, rate.len());
    Some(
        match cluster_bootstrap_ci(&Clusters::singletons(&side), reps, level, seed, ratio) {
            Some((lo, hi)) => row.with_ci(lo, hi),
            None => row,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_volume_is_one_and_its_interval_covers_one() {
        let real = [5, 50, 500, 20];
        let synth = [20, 500, 50, 5];
        let r = flows_ratio("s", "g", &real, (0, 3600), &synth, (0, 3600), 500, 0.95, 3).unwrap();
        assert!((r.value - 1.0).abs() < 1e-12);
        let (lo, hi) = (r.ci_low.unwrap(), r.ci_high.unwrap());
        assert!(lo < 1.0 && hi > 1.0 && lo > 0.0, "{lo} {hi}");
        // Deterministic for a seed.
        let again = flows_ratio("s", "g", &real, (0, 3600), &synth, (0, 3600), 500, 0.95, 3);
        assert_eq!(again.unwrap(), r);
    }

    #[test]
    fn empty_sides_or_windows_give_no_row() {
        let h = [1];
        assert!(flows_ratio("s", "g", &[], (0, 1), &h, (0, 1), 10, 0.95, 1).is_none());
        assert!(flows_ratio("s", "g", &h, (0, 1), &[], (0, 1), 10, 0.95, 1).is_none());
        assert!(flows_ratio("s", "g", &h, (5, 5), &h, (0, 1), 10, 0.95, 1).is_none());
        // No real flow at all: the ratio is undefined.
        assert!(flows_ratio("s", "g", &[0, 0], (0, 1), &h, (0, 1), 10, 0.95, 1).is_none());
    }
}
