//! The host activity class conditions STAN's roll-outs: trained on two real hosts of
//! different rates, the synthetic host that takes the busy host's class generates more flows
//! over the same day than the one that takes the quiet host's (before any rate calibration).

mod common;

use stan::data::flow::parse_time;
use stan::encode::{Clock, Encoder, EncoderConfig, activity_class};
use stan::model::Stan;

#[test]
fn activity_class_sets_the_roll_out_rate() {
    let hosts = common::two_real_hosts();
    let start = parse_time("2016-04-11 00:00:00").unwrap();
    let window = (start, start + 86_400);
    let (busy, quiet) = (hosts[0].flows.len(), hosts[1].flows.len());
    // 7,005 and 1,491 flows a day: 292 and 62 per hour, classes 4 and 2.
    assert_eq!(
        (activity_class(busy, 86_400), activity_class(quiet, 86_400)),
        (4, 2)
    );
    let enc = Encoder::fit(&hosts, start, EncoderConfig::default()).unwrap();
    let seq = enc.encode_hosts(&hosts, window).unwrap();
    let cfg = common::small_stan(6);
    let mut model = Stan::new(&enc.schema(), &cfg, 3).unwrap();
    model.fit(&seq, false).unwrap();
    let clock = Clock::for_hosts(&enc, window, &hosts, window);
    let (out, _) = model.generate(&clock, 2, 50_000, 1).unwrap();
    let (b, q) = (out.host(0).len(), out.host(1).len());
    eprintln!("busy-class host {b} flows, quiet-class host {q}");
    assert!(b > 2 * q, "busy-class host {b} flows, quiet-class host {q}");
}
