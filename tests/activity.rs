//! The host activity class conditions STAN's roll-outs: trained on two real hosts of
//! different rates with `encoder.host_activity`, the synthetic host that takes the busy host's
//! class generates more flows over the same day than the one that takes the quiet host's.

use std::path::Path;

use stan::data::flow::{parse_ipv4, parse_time};
use stan::data::hosts::host_view;
use stan::data::read_flows;
use stan::encode::{Clock, Encoder, EncoderConfig, activity_class};
use stan::model::{Stan, StanConfig};

#[test]
fn activity_class_sets_the_roll_out_rate() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut hosts = Vec::new();
    for ip in ["42.219.145.151", "42.219.152.127"] {
        let flows = read_flows(&data.join(format!("day_1_{ip}.csv"))).unwrap();
        hosts.push(host_view(&flows, &[parse_ipv4(ip).unwrap()]).remove(0));
    }
    let start = parse_time("2016-04-11 00:00:00").unwrap();
    let window = (start, start + 86_400);
    let (busy, quiet) = (hosts[0].flows.len(), hosts[1].flows.len());
    // 7,005 and 1,491 flows a day: 292 and 62 per hour, classes 4 and 2.
    assert_eq!(
        (activity_class(busy, 86_400), activity_class(quiet, 86_400)),
        (4, 2)
    );
    let config = EncoderConfig {
        host_activity: true,
        ..EncoderConfig::default()
    };
    let enc = Encoder::fit(&hosts, start, config).unwrap();
    let seq = enc.encode_hosts(&hosts, window).unwrap();
    let cfg = StanConfig {
        conv_channels: vec![16],
        hidden: 64,
        epochs: 6,
        patience: 0,
        ..StanConfig::default()
    };
    let mut model = Stan::new(&enc.schema(), &cfg, 3).unwrap();
    model.fit(&seq, false).unwrap();
    let clock = Clock::for_hosts(&enc, window, &hosts, window);
    let (out, _) = model.generate(&clock, 2, 50_000, 1).unwrap();
    let (b, q) = (out.host(0).len(), out.host(1).len());
    eprintln!("busy-class host {b} flows, quiet-class host {q}");
    assert!(b > 2 * q, "busy-class host {b} flows, quiet-class host {q}");
}
