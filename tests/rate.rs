//! Rate calibration of a trained STAN (`encode::rate`, part of every NetFlow roll-out): a small
//! model trained on two real hosts of different rates is rolled out over the same six hours, and
//! the fitted time dilation brings the roll-out's per-host and per-hour flow counts to the
//! members' (by rank); the released roll-out is the kept iterate's, identical to a fresh
//! roll-out under the kept factors.

mod common;

use stan::data::flow::parse_time;
use stan::encode::rate::{self, RateCounts};
use stan::encode::{Clock, Encoder, EncoderConfig};
use stan::model::Stan;

#[test]
fn calibration_brings_roll_out_counts_to_the_members() {
    let hosts = common::two_real_hosts();
    let start = parse_time("2016-04-11 00:00:00").unwrap();
    let window = (start, start + 6 * 3600);
    let hosts: Vec<_> = hosts.iter().map(|h| h.window(window.0, window.1)).collect();
    let enc = Encoder::fit(&hosts, start, EncoderConfig::default()).unwrap();
    let seq = enc.encode_hosts(&hosts, window).unwrap();
    let cfg = common::small_stan(3);
    let mut model = Stan::new(&enc.schema(), &cfg, 3).unwrap();
    model.fit(&seq, false).unwrap();
    let clock = Clock::for_hosts(&enc, window, &hosts, window);
    let target = RateCounts::targets(&hosts, window, window);
    let roll = |c: &Clock| model.generate(c, 2, 50_000, 11).unwrap().0;
    let (cal, kept) = rate::fit(&target, rate::ITERS, |d| {
        let mut c = clock.clone();
        c.dilation = Some(d.clone());
        let out = roll(&c);
        Ok((RateCounts::of_rollout(&out, &enc, start), out))
    })
    .unwrap();
    let mut c = clock.clone();
    c.dilation = Some(cal.dilation.clone());
    // Common random numbers: the kept roll-out is what the kept factors roll out.
    assert_eq!(roll(&c).rows, kept.rows);
    let before = RateCounts::of_rollout(&roll(&clock), &enc, start);
    let after = RateCounts::of_rollout(&kept, &enc, start);
    // Distance of each host's count to the members' counts matched by rank, and of the hour
    // profile: mean |ln(generated / target)|.
    let host_err = |got: &RateCounts| {
        let mut g = got.host.clone();
        let mut t = target.host.clone();
        g.sort_by(f64::total_cmp);
        t.sort_by(f64::total_cmp);
        g.iter()
            .zip(&t)
            .map(|(a, b)| (a.max(0.5) / b).ln().abs())
            .sum::<f64>()
            / 2.0
    };
    let hour_err = |got: &RateCounts| {
        (0..6)
            .map(|k| (got.hour[k].max(0.5) / target.hour[k]).ln().abs())
            .sum::<f64>()
            / 6.0
    };
    eprintln!(
        "hosts {:?} -> {:?} (members {:?}); steps {:?}",
        before.host, after.host, target.host, cal.steps
    );
    // Chaos keeps it from converging exactly: a changed gap changes every later draw.
    assert!(
        host_err(&after) < 0.1 && host_err(&after) < 0.5 * host_err(&before),
        "host counts {:?} -> {:?}, members {:?}",
        before.host,
        after.host,
        target.host
    );
    assert!(
        hour_err(&after) < hour_err(&before),
        "hour error {} -> {}",
        hour_err(&before),
        hour_err(&after)
    );
}
