//! Shared setup of the integration tests that train a small STAN on real hosts.

use std::path::Path;

use stan::data::flow::parse_ipv4;
use stan::data::hosts::{HostTraffic, host_view};
use stan::data::read_flows;
use stan::model::StanConfig;

/// The two real hosts of `tests/data` (2016-04-11): 42.219.145.151 (7,005 flows, busy) and
/// 42.219.152.127 (1,491 flows, quiet), in that order.
pub fn two_real_hosts() -> Vec<HostTraffic> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    ["42.219.145.151", "42.219.152.127"]
        .iter()
        .map(|ip| {
            let flows = read_flows(&data.join(format!("day_1_{ip}.csv"))).unwrap();
            host_view(&flows, &[parse_ipv4(ip).unwrap()]).remove(0)
        })
        .collect()
}

/// A STAN small enough to train in seconds: one 16-channel convolution, 64 hidden units,
/// `epochs` epochs without early stopping.
pub fn small_stan(epochs: usize) -> StanConfig {
    StanConfig {
        conv_channels: vec![16],
        hidden: 64,
        epochs,
        patience: 0,
        ..StanConfig::default()
    }
}
