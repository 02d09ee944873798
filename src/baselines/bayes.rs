//! `bayes`: a small Bayesian chain over the encoded attributes, generalising STAN's baseline B2
//! (bytes conditioned on the hour and on the previous flow's bytes).
//!
//! Each non-given attribute `a_j` is drawn from `P(a_j | bin(prev_row[j]), bin(row[p_j]))`, where
//! `p_j` is its in-row parent: the attribute before it in the chain (the schema order, so the
//! first sampled attribute's parent is the last given one, e.g. the hour). Conditionals are the
//! empirical training values of each context; a context seen fewer than `min_count` times backs
//! off to `P(a_j | bin(prev_row[j]))` and then to the marginal. Binning for contexts: continuous
//! attributes in `context_bins` equal-width bins over their training range; discrete attributes
//! keep their `context_bins - 1` most frequent classes and pool the rest.

use super::RowSampler;
use crate::error::{Error, Result};
use crate::generator::{Fitted, Generator, Simulated, Training};
use crate::schema::{AttrKind, Schema, Sequences};
use rand::RngExt;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BayesConfig {
    /// Bins per parent in a context (default 16).
    pub context_bins: usize,
    /// Minimum observations for a context to be used instead of its back-off (default 20).
    pub min_count: usize,
}

impl Default for BayesConfig {
    fn default() -> Self {
        BayesConfig {
            context_bins: 16,
            min_count: 20,
        }
    }
}

/// Maps an attribute value to a context bin.
#[derive(Clone, Debug)]
enum Binner {
    Continuous { lo: f32, width: f32, bins: usize },
    Discrete { top: HashMap<u32, u8>, other: u8 },
}

impl Binner {
    fn fit(kind: &AttrKind, values: impl Iterator<Item = f32> + Clone, bins: usize) -> Binner {
        match kind {
            AttrKind::Continuous { .. } => {
                let (lo, hi) = values.fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                });
                let width = ((hi - lo) / bins as f32).max(1e-6);
                Binner::Continuous { lo, width, bins }
            }
            AttrKind::Discrete { .. } => {
                let mut counts: HashMap<u32, usize> = HashMap::new();
                for v in values {
                    *counts.entry(v as u32).or_default() += 1;
                }
                let mut c: Vec<(u32, usize)> = counts.into_iter().collect();
                c.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                let keep = bins.saturating_sub(1).max(1);
                let top = c
                    .iter()
                    .take(keep)
                    .enumerate()
                    .map(|(i, (v, _))| (*v, i as u8))
                    .collect();
                Binner::Discrete {
                    top,
                    other: keep as u8,
                }
            }
        }
    }
    fn bin(&self, v: f32) -> u8 {
        match self {
            Binner::Continuous { lo, width, bins } => {
                (((v - lo) / width).max(0.0) as usize).min(bins - 1) as u8
            }
            Binner::Discrete { top, other } => *top.get(&(v as u32)).unwrap_or(other),
        }
    }
}

struct Node {
    attr: usize,
    parent: Option<usize>,
    full: HashMap<(u8, u8), Vec<f32>>,
    temporal: HashMap<u8, Vec<f32>>,
    marginal: Vec<f32>,
}

/// The fitted chain.
pub struct BayesChain {
    binners: Vec<Binner>,
    nodes: Vec<Node>,
    min_count: usize,
}

/// Bin used for "no previous row" (a host's first flow).
const START: u8 = u8::MAX;

impl BayesChain {
    pub fn fit(schema: &Schema, train: &Sequences, cfg: &BayesConfig) -> Result<BayesChain> {
        if train.n_rows() == 0 {
            return Err(Error::Invalid("bayes: no training rows".into()));
        }
        if !(2..=255).contains(&cfg.context_bins) {
            return Err(Error::Spec {
                key: "bayes.context_bins".into(),
                reason: "must be in 2..=255".into(),
            });
        }
        let d = train.n_attrs;
        let binners: Vec<Binner> = (0..d)
            .map(|j| {
                Binner::fit(
                    &schema.attrs[j].kind,
                    train.rows.iter().skip(j).step_by(d).copied(),
                    cfg.context_bins,
                )
            })
            .collect();
        let mut nodes = Vec::new();
        let mut last: Option<usize> = None;
        for j in 0..d {
            if !schema.attrs[j].given {
                nodes.push(Node {
                    attr: j,
                    parent: last,
                    full: HashMap::new(),
                    temporal: HashMap::new(),
                    marginal: Vec::new(),
                });
            }
            last = Some(j);
        }
        for h in 0..train.n_hosts() {
            let r = train.host(h);
            for i in r.clone() {
                let row = train.row(i);
                let prev = (i > r.start).then(|| train.row(i - 1));
                for n in &mut nodes {
                    let v = row[n.attr];
                    let tb = prev
                        .map(|p| binners[n.attr].bin(p[n.attr]))
                        .unwrap_or(START);
                    let pb = n.parent.map(|p| binners[p].bin(row[p])).unwrap_or(0);
                    n.full.entry((tb, pb)).or_default().push(v);
                    n.temporal.entry(tb).or_default().push(v);
                    n.marginal.push(v);
                }
            }
        }
        Ok(BayesChain {
            binners,
            nodes,
            min_count: cfg.min_count,
        })
    }
}

impl RowSampler for BayesChain {
    fn sample_row(&self, prev: Option<&[f32]>, row: &mut [f32], rng: &mut StdRng) {
        for n in &self.nodes {
            let tb = prev
                .map(|p| self.binners[n.attr].bin(p[n.attr]))
                .unwrap_or(START);
            let pb = n.parent.map(|p| self.binners[p].bin(row[p])).unwrap_or(0);
            let pool = n
                .full
                .get(&(tb, pb))
                .filter(|v| v.len() >= self.min_count)
                .or_else(|| n.temporal.get(&tb).filter(|v| v.len() >= self.min_count))
                .unwrap_or(&n.marginal);
            row[n.attr] = pool[rng.random_range(0..pool.len())];
        }
    }
}

/// `bayes` as a [`Generator`]: a [`BayesChain`] of the encoded training rows.
#[derive(Clone, Debug, Default)]
pub struct BayesGenerator {
    pub config: BayesConfig,
}

impl BayesGenerator {
    /// Its name in specs and results (its entry in [`crate::generator::BUILTINS`]).
    pub const NAME: &'static str = "bayes";
}

impl Generator for BayesGenerator {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn fit<'a>(&self, data: &Training<'a>, _seed: u64) -> Result<Box<dyn Fitted + 'a>> {
        super::fit_sampler(data, |schema, seq| {
            BayesChain::fit(schema, seq, &self.config)
        })
    }

    fn fit_simulated(
        &self,
        data: &Simulated<'_>,
        seed: u64,
    ) -> Result<(Sequences, serde_json::Value)> {
        let chain = BayesChain::fit(data.schema, data.train, &self.config)?;
        Ok((
            super::sample_simulated(&chain, data, seed),
            serde_json::Value::Null,
        ))
    }
}
