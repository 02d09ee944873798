//! Baseline generators. `independent` and `bayes` are schema-generic samplers of encoded rows
//! (so they also run on the `ar1` check data); `copy` and `holdout` replay real flows and bound
//! every metric from the two sides (privacy worst case, real-vs-real floor).

pub mod bayes;
pub mod independent;
pub mod replay;

pub use bayes::{BayesChain, BayesConfig, BayesGenerator};
pub use independent::{IndependentConfig, IndependentGenerator, Marginals};
pub use replay::{CopyGenerator, HoldoutGenerator, replay, shuffle_columns};

use crate::error::Result;
use crate::generator::{Fitted, MAX_ROWS_PER_HOST, Simulated, Synthetic, Training};
use crate::schema::{Conditioner, Schema, Sequences, Unconditioned};
use rand::rngs::StdRng;

/// A fitted sampler of encoded rows: fills the non-given attributes of `row`, given the previous
/// row of the same host (`None` for a host's first row).
pub trait RowSampler: Sync {
    fn sample_row(&self, prev: Option<&[f32]>, row: &mut [f32], rng: &mut StdRng);
}

/// Roll out `n_hosts` hosts with `sampler` under `cond`, at most `max_rows` rows per host.
/// Host `h` uses its own RNG seeded from `(seed, h)`, so output does not depend on threading.
pub fn roll_out<C: Conditioner>(
    sampler: &dyn RowSampler,
    cond: &C,
    n_attrs: usize,
    n_hosts: usize,
    max_rows: usize,
    seed: u64,
) -> Sequences {
    use rand::SeedableRng;
    use rayon::prelude::*;
    let hosts: Vec<Vec<f32>> = (0..n_hosts)
        .into_par_iter()
        .map(|h| {
            let mut rng =
                StdRng::seed_from_u64(seed ^ (h as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut state = cond.init(h);
            let mut rows: Vec<f32> = Vec::new();
            let mut row = vec![0f32; n_attrs];
            for _ in 0..max_rows {
                row.iter_mut().for_each(|v| *v = 0.0);
                if !cond.prepare(&state, &mut row) {
                    break;
                }
                let n = rows.len();
                let prev = (n >= n_attrs).then(|| &rows[n - n_attrs..]);
                sampler.sample_row(prev, &mut row, &mut rng);
                for a in 0..n_attrs {
                    cond.adjust(&state, a, &mut row);
                }
                cond.advance(&mut state, &row);
                rows.extend_from_slice(&row);
            }
            rows
        })
        .collect();
    let mut seq = Sequences::new(n_attrs);
    for r in hosts {
        seq.push_host(&r);
    }
    seq
}

/// A fitted [`RowSampler`] of encoded NetFlow rows: rolls out under the host clock of the
/// generation window and decodes (what `independent` and `bayes` share).
struct FittedSampler<'a, S> {
    sampler: S,
    n_attrs: usize,
    data: Training<'a>,
}

impl<S: RowSampler> Fitted for FittedSampler<'_, S> {
    fn generate(&self, seed: u64) -> Result<Synthetic> {
        let clock = self.data.clock();
        let seq = roll_out(
            &self.sampler,
            &clock,
            self.n_attrs,
            self.data.n_hosts(),
            MAX_ROWS_PER_HOST,
            seed,
        );
        Ok(Synthetic {
            hosts: self.data.decode(&seq, seed),
            details: serde_json::Value::Null,
            fields: crate::data::FieldSet::ALL,
        })
    }
}

/// Fit a row sampler on `data`'s encoded training rows with `fit(schema, rows)`.
fn fit_sampler<'a, S: RowSampler + 'a>(
    data: &Training<'a>,
    fit: impl FnOnce(&Schema, &Sequences) -> Result<S>,
) -> Result<Box<dyn Fitted + 'a>> {
    let schema = data.encoder.schema();
    let sampler = fit(&schema, data.seq)?;
    Ok(Box::new(FittedSampler {
        sampler,
        n_attrs: schema.len(),
        data: *data,
    }))
}

/// Sample the simulated check's `n_hosts` x `n_rows` rows from a fitted row sampler.
fn sample_simulated(sampler: &dyn RowSampler, data: &Simulated<'_>, seed: u64) -> Sequences {
    roll_out(
        sampler,
        &Unconditioned,
        data.schema.len(),
        data.n_hosts,
        data.n_rows,
        seed,
    )
}
