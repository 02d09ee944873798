//! Throughput of the STAN model at the default configuration (CPU unless `STAN_BENCH_DEVICE`
//! says otherwise), on a realistic NetFlow-like
//! schema: a given hour (24 classes), 5 continuous attributes and discrete attributes with
//! cardinalities 1670, 1670, 256 x 4, 2, 10, 64, 256, 256 (16 generated attributes), random
//! rows. Reported as flows (rows) per second: training = rows / optimisation time of one
//! epoch (validation and setup excluded, see `TrainReport::flows_per_sec`), generation = rows /
//! wall time of `Stan::generate` (batched over hosts).

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use rand::{RngExt, SeedableRng};
use stan::model::{Conditioner, Stan, StanConfig};
use stan::schema::{Attribute, Schema, Sequences};

fn schema() -> Schema {
    let mut attrs = vec![Attribute::discrete("hour", 24).given()];
    for n in ["gap", "bytes", "packets", "duration", "c4"] {
        attrs.push(Attribute::continuous(n, 0.0, 1.0));
    }
    for (i, c) in [1670, 1670, 256, 256, 256, 256, 2, 10, 64, 256, 256]
        .iter()
        .enumerate()
    {
        attrs.push(Attribute::discrete(&format!("d{i}"), *c));
    }
    Schema { attrs }
}

fn random_rows(schema: &Schema, hosts: usize, rows: usize, seed: u64) -> Sequences {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut s = Sequences::new(schema.len());
    let mut buf = Vec::new();
    for _ in 0..hosts {
        buf.clear();
        for t in 0..rows {
            for a in &schema.attrs {
                buf.push(match a.cardinality() {
                    Some(_) if a.given => (t % 24) as f32,
                    Some(c) => rng.random_range(0..c) as f32,
                    None => rng.random::<f32>(),
                });
            }
        }
        s.push_host(&buf);
    }
    s
}

/// One training epoch of a fresh model on `data`, timed as rows / `TrainReport::flows_per_sec`
/// (optimisation only); throughput in rows.
fn bench_train_epoch(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    schema: &Schema,
    data: &Sequences,
    cfg: &StanConfig,
) {
    let n = data.n_rows() as u64;
    g.throughput(Throughput::Elements(n));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let mut stan = Stan::new(schema, cfg, i).unwrap();
                let rep = stan.fit(data, false).unwrap();
                eprintln!("{name}: {:.0} flows/s", rep.flows_per_sec);
                total += Duration::from_secs_f64(n as f64 / rep.flows_per_sec);
            }
            total
        })
    });
}

/// The quickstart's member hosts (`experiments/quickstart.toml`, embedded UGR'16 day) encoded
/// as in `stan run`, each cut to its first `per_host` rows.
fn ugr16_slice(per_host: usize) -> (Schema, Sequences) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut spec = stan::spec::Spec::load(&dir.join("experiments/quickstart.toml")).unwrap();
    spec.data.path = dir.join(&spec.data.path);
    let p = stan::run::prepare::Prepared::load(&spec).unwrap();
    let enc =
        stan::encode::Encoder::fit(&p.members_train, p.train.0, spec.encoder.clone()).unwrap();
    let all = enc.encode_hosts(&p.members_train, p.train).unwrap();
    let na = all.n_attrs;
    let mut out = Sequences::new(na);
    for h in 0..all.n_hosts() {
        let r = all.host(h);
        let end = r.end.min(r.start + per_host);
        out.push_host(&all.rows[r.start * na..end * na]);
    }
    (enc.schema(), out)
}

/// Hour of day from a row counter (one row = one "minute"); never stops the host.
struct Clock;
impl Conditioner for Clock {
    type State = usize;
    fn init(&self, _host: usize) -> usize {
        0
    }
    fn prepare(&self, t: &usize, row: &mut [f32]) -> bool {
        row[0] = ((t / 60) % 24) as f32;
        true
    }
    fn advance(&self, t: &mut usize, _row: &[f32]) {
        *t += 1;
    }
}

fn bench(c: &mut Criterion) {
    let schema = schema();
    let cfg = StanConfig {
        epochs: 1,
        val_fraction: 0.0,
        // `STAN_BENCH_DEVICE=cuda` runs the same bench on the GPU (scripts/gpu_check.sh).
        device: std::env::var("STAN_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into()),
        ..StanConfig::default()
    };
    let data = random_rows(&schema, 20, 1000, 1);
    let mut g = c.benchmark_group("stan");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    bench_train_epoch(&mut g, "train_epoch_20k_rows", &schema, &data, &cfg);
    // The same epoch on real rows: the NetFlow schema fitted on the quickstart members (15
    // generated attributes, the decoder's rounding cells on gap/bytes/packets/duration), the
    // first 430 flows of each of the 47 member hosts.
    let (real_schema, real) = ugr16_slice(430);
    let real_name = format!("train_epoch_ugr16_{}k_rows", real.n_rows() / 1000);
    bench_train_epoch(&mut g, &real_name, &real_schema, &real, &cfg);
    // The same with one gradient shard per batch: both cores then share each operation
    // instead of running one half-batch each (`StanConfig::grad_shards`).
    let one_shard = StanConfig {
        grad_shards: 1,
        ..cfg.clone()
    };
    let one_name = format!("{real_name}_one_shard");
    bench_train_epoch(&mut g, &one_name, &real_schema, &real, &one_shard);
    let mut stan = Stan::new(&schema, &cfg, 0).unwrap();
    stan.fit(&data, false).unwrap();
    let (hosts, rows) = (1000, 20);
    g.throughput(Throughput::Elements((hosts * rows) as u64));
    g.bench_function("generate_1000_hosts_x_20_rows", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let (_, st) = stan.generate(&Clock, hosts, rows, i).unwrap();
                eprintln!(
                    "generate: {:.0} flows/s ({} redraws, {} clamped)",
                    st.flows_per_sec, st.redraws, st.clamped
                );
                total += Duration::from_secs_f64(st.seconds);
            }
            total
        })
    });
    // The quickstart's shape: its 47 member hosts, so every step is a small batch where
    // per-operation overhead, not arithmetic, sets the pace.
    let (hosts, rows) = (47, 400);
    g.throughput(Throughput::Elements((hosts * rows) as u64));
    g.bench_function("generate_47_hosts_x_400_rows", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let (_, st) = stan.generate(&Clock, hosts, rows, i).unwrap();
                eprintln!("generate 47 hosts: {:.0} flows/s", st.flows_per_sec);
                total += Duration::from_secs_f64(st.seconds);
            }
            total
        })
    });
    g.finish();
}

/// The machine's peaks: matmul through candle (gemm crate, f32, CPU): the denominator of the
/// arithmetic floors in PERFORMANCE.md. Throughput is in FLOPs (2 m n k per product), so
/// criterion's "Gelem/s" reads as GFLOP/s. Shapes: square 1024 (the best case) and the STAN
/// output layer of one training batch (512 x 128 times 128 x 5072: all heads' logits).
fn machine_peaks(c: &mut Criterion) {
    use candle_core::{Device, Tensor};
    let mut g = c.benchmark_group("gemm_f32");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (name, m, k, n) in [
        ("square_1024", 1024, 1024, 1024),
        ("stan_output_512x128x5072", 512, 128, 5072),
    ] {
        let a = Tensor::ones((m, k), candle_core::DType::F32, &Device::Cpu).unwrap();
        let b = Tensor::ones((k, n), candle_core::DType::F32, &Device::Cpu).unwrap();
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        g.bench_function(name, |bch| bch.iter(|| a.matmul(&b).unwrap()));
    }
    g.finish();
    // Memory bandwidth: one thread copying 64 MiB (far beyond the caches); bytes moved = read
    // + write. The bytes-moved floors in PERFORMANCE.md divide by this.
    let mut g = c.benchmark_group("memory");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let n = 16 << 20;
    let src = vec![1f32; n];
    let mut dst = vec![0f32; n];
    g.throughput(Throughput::Bytes((2 * 4 * n) as u64));
    g.bench_function("copy_64MiB_one_thread", |b| {
        b.iter(|| {
            dst.copy_from_slice(&src);
            std::hint::black_box(&dst);
        })
    });
    g.finish();
}

criterion_group!(benches, bench, machine_peaks);

/// Thread settings as in the CLI (see `stan::runtime::init_thread_env`).
fn main() {
    // SAFETY: set before any thread is spawned (criterion and candle start threads later).
    unsafe { stan::runtime::init_thread_env() };
    benches();
    Criterion::default().configure_from_args().final_summary();
}
