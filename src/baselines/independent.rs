//! `independent`: every attribute drawn from its own training marginal (STAN's baseline B1).
//!
//! B1 fitted a 7-component GMM per continuous column and forced `Δt >= 1 s`; we sample the
//! empirical marginal of each encoded attribute instead (the maximum-likelihood marginal, and it
//! keeps the 54 % exact-zero gaps that B1 could not produce). Rows share nothing: no temporal
//! and no intra-row dependence, which is what the dependency metrics must expose.

use super::RowSampler;
use crate::error::{Error, Result};
use crate::generator::{Fitted, Generator, Simulated, Training};
use crate::schema::{Schema, Sequences};
use rand::RngExt;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IndependentConfig {}

/// Per-attribute empirical marginals of the training rows.
pub struct Marginals {
    /// `values[j]`: every training value of attribute `j` (empty for given attributes).
    values: Vec<Vec<f32>>,
}

impl Marginals {
    pub fn fit(schema: &Schema, train: &Sequences) -> Result<Marginals> {
        if train.n_rows() == 0 {
            return Err(Error::Invalid("independent: no training rows".into()));
        }
        let d = train.n_attrs;
        let values = (0..d)
            .map(|j| {
                if schema.attrs[j].given {
                    Vec::new()
                } else {
                    train.rows.iter().skip(j).step_by(d).copied().collect()
                }
            })
            .collect();
        Ok(Marginals { values })
    }
}

impl RowSampler for Marginals {
    fn sample_row(&self, _prev: Option<&[f32]>, row: &mut [f32], rng: &mut StdRng) {
        for (j, v) in self.values.iter().enumerate() {
            if !v.is_empty() {
                row[j] = v[rng.random_range(0..v.len())];
            }
        }
    }
}

/// `independent` as a [`Generator`]: [`Marginals`] of the encoded training rows.
#[derive(Clone, Debug, Default)]
pub struct IndependentGenerator;

impl IndependentGenerator {
    /// Its name in specs and results (its entry in [`crate::generator::BUILTINS`]).
    pub const NAME: &'static str = "independent";
}

impl Generator for IndependentGenerator {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn fit<'a>(&self, data: &Training<'a>, _seed: u64) -> Result<Box<dyn Fitted + 'a>> {
        super::fit_sampler(data, Marginals::fit)
    }

    fn fit_simulated(
        &self,
        data: &Simulated<'_>,
        seed: u64,
    ) -> Result<(Sequences, serde_json::Value)> {
        let m = Marginals::fit(data.schema, data.train)?;
        Ok((
            super::sample_simulated(&m, data, seed),
            serde_json::Value::Null,
        ))
    }
}
