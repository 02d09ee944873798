//! Throughput of the fidelity evaluation: `evaluate` on two disjoint host sets (real vs
//! "synthetic") of the first 100k flows (~50k vs ~50k) and of the first 200k flows (~100k vs
//! ~100k, the quickstart size) of the embedded UGR'16 day.
//!
//! `cargo bench --bench metrics`; throughput is reported in flows/s (real + synthetic).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stan::data::hosts::{HostTraffic, host_view, internal_hosts};
use stan::data::read::FlowReader;
use stan::fidelity::{FidelityConfig, evaluate};
use std::hint::black_box;
use std::path::Path;

fn host_sets(n_flows: usize) -> (Vec<HostTraffic>, Vec<HostTraffic>) {
    let path = Path::new("experiments/data/ugr16_2016-04-11_stan92users.csv.gz");
    let flows: Vec<_> = FlowReader::open(path)
        .expect("embedded UGR'16 day")
        .take(n_flows)
        .map(|(_, f)| f.expect("valid flow"))
        .collect();
    let ips = internal_hosts(&flows, (42 << 8) | 219, 1);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, h) in host_view(&flows, &ips).into_iter().enumerate() {
        if i % 2 == 0 { a.push(h) } else { b.push(h) }
    }
    (a, b)
}

fn bench_evaluate(c: &mut Criterion) {
    let mut g = c.benchmark_group("fidelity");
    g.sample_size(10);
    for n_flows in [100_000, 200_000] {
        let (a, b) = host_sets(n_flows);
        let n: usize = a.iter().chain(&b).map(|h| h.flows.len()).sum();
        g.throughput(Throughput::Elements(n as u64));
        let k = n_flows / 1000;
        let full = FidelityConfig::default();
        g.bench_function(format!("evaluate_full_{k}k"), |bench| {
            bench.iter(|| black_box(evaluate("bench", &a, &b, &full, 1).expect("evaluate")))
        });
        let no_det = FidelityConfig {
            detection: false,
            ..Default::default()
        };
        g.bench_function(format!("evaluate_no_detection_{k}k"), |bench| {
            bench.iter(|| black_box(evaluate("bench", &a, &b, &no_det, 1).expect("evaluate")))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_evaluate);
criterion_main!(benches);
