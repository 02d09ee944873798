//! Benchmarks of the privacy module on the embedded UGR'16 day: exact nearest-record search
//! (k-d tree vs the brute-force reference) and a full `evaluate` on a modest size.
//!
//! `cargo bench --bench privacy` (reads experiments/data/ugr16_2016-04-11_stan92users.csv.gz).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use stan::data::hosts::{HostSplit, HostTraffic, host_view, internal_hosts, select};
use stan::data::read::read_flows;
use stan::privacy::features::Rows;
use stan::privacy::nn::{NnIndex, brute_nearest_k};
use stan::privacy::{PrivacyConfig, PrivacyInput, evaluate};
use std::hint::black_box;
use std::path::Path;

struct Data {
    hosts: Vec<HostTraffic>,
    split: HostSplit,
}

fn load() -> Data {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("experiments/data/ugr16_2016-04-11_stan92users.csv.gz");
    let flows = read_flows(&p).expect("embedded day");
    let ips = internal_hosts(&flows, (42 << 8) | 219, 20);
    let hosts = host_view(&flows, &ips);
    let split = HostSplit::shuffle(&ips, [0.5, 0.2, 0.15], 3);
    Data { hosts, split }
}

/// Every `step`-th row of the given hosts' flows, `n` rows at most (a deterministic spread over
/// the whole day).
fn rows(d: &Data, ips: &[u32], n: usize) -> Rows {
    let h = select(&d.hosts, ips, i64::MIN, i64::MAX);
    let all = Rows::from_hosts(&h);
    let step = (all.len() / n).max(1);
    let idx: Vec<usize> = (0..all.len()).step_by(step).take(n).collect();
    all.subset(&idx)
}

fn nn(c: &mut Criterion, d: &Data) {
    let mut g = c.benchmark_group("privacy_nn");
    g.sample_size(10);
    for n in [20_000usize, 100_000] {
        let pts = rows(d, &d.split.members, n);
        let qs = rows(d, &d.split.nonmembers, n);
        g.throughput(Throughput::Elements(qs.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("kdtree_build_and_nearest", n),
            &n,
            |b, _| {
                b.iter(|| {
                    let idx = NnIndex::new(&pts.feats).unwrap();
                    black_box(idx.nearest(&qs.feats))
                })
            },
        );
    }
    let pts = rows(d, &d.split.members, 20_000);
    let qs = rows(d, &d.split.nonmembers, 2_000);
    g.throughput(Throughput::Elements(qs.len() as u64));
    g.bench_function("brute_force_nearest/20000x2000", |b| {
        b.iter(|| black_box(brute_nearest_k(&pts.feats, &qs.feats, 1)))
    });
    g.finish();
}

fn eval(c: &mut Criterion, d: &Data) {
    // Two hours, holdout-style synthetic data: the `evaluate` cost of a typical run at 5000
    // candidates per side.
    let (s, e) = (1_460_332_800 + 8 * 3600, 1_460_332_800 + 10 * 3600);
    let m = select(&d.hosts, &d.split.members, s, e);
    let n = select(&d.hosts, &d.split.nonmembers, s, e);
    let h = select(&d.hosts, &d.split.holdout, s, e);
    let r = select(&d.hosts, &d.split.reference, s, e);
    let input = PrivacyInput {
        members: &m,
        nonmembers: &n,
        reference: &r,
        synthetic: &h,
    };
    let cfg = PrivacyConfig::default();
    let mut g = c.benchmark_group("privacy_evaluate");
    g.sample_size(10);
    g.bench_function("holdout_2h_default_cfg", |b| {
        b.iter(|| black_box(evaluate("holdout", &input, &cfg, 1).unwrap()))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let d = load();
    nn(c, &d);
    eval(c, &d);
}

criterion_group!(privacy, benches);
criterion_main!(privacy);
