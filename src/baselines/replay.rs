//! `copy` and `holdout`: replay real flows under pseudonymous own-IPs.
//!
//! `copy` replays the members' training flows (memorisation, the privacy worst case); `holdout`
//! replays flows of held-out real hosts (the ideal generator: real traffic that was not trained
//! on, the real-vs-real floor of every metric). Times, remote endpoints and all other fields are
//! kept; only the host's own IP is replaced by [`crate::encode::pseudonym`], as for every
//! generator, so own-IP never identifies a member.

use crate::data::flow::Flow;
use crate::data::hosts::HostTraffic;
use crate::encode::pseudonym;
use crate::error::Result;
use crate::generator::{Fitted, Generator, Simulated, Synthetic, Training};
use crate::schema::Sequences;
use rand::SeedableRng;
use rand::seq::SliceRandom;

/// Replay `hosts` with pseudonymous own-IPs (host `i` gets `pseudonym(i)`).
pub fn replay(hosts: &[HostTraffic]) -> Vec<HostTraffic> {
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let p = pseudonym(i);
            let flows = h
                .flows
                .iter()
                .map(|f| {
                    let mut g = *f;
                    if g.sa == h.ip {
                        g.sa = p;
                    }
                    if g.da == h.ip {
                        g.da = p;
                    }
                    g
                })
                .collect();
            HostTraffic { ip: p, flows }
        })
        .collect()
}

/// Permute each flow attribute independently across all flows of `hosts` (host identities,
/// times and order kept). The marginals stay exact while every dependence between attributes and
/// along time is destroyed: a stand-in for a bad generator and the analogue of the paper code's
/// "disturb" control.
pub fn shuffle_columns(hosts: &[HostTraffic], seed: u64) -> Vec<HostTraffic> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let flows: Vec<&Flow> = hosts.iter().flat_map(|h| h.flows.iter()).collect();
    let n = flows.len();
    let mut perm = || {
        let mut p: Vec<usize> = (0..n).collect();
        p.shuffle(&mut rng);
        p
    };
    let (p_td, p_sp, p_dp, p_pr, p_flg, p_pkt, p_byt, p_stos) = (
        perm(),
        perm(),
        perm(),
        perm(),
        perm(),
        perm(),
        perm(),
        perm(),
    );
    let mut k = 0;
    hosts
        .iter()
        .map(|h| HostTraffic {
            ip: h.ip,
            flows: h
                .flows
                .iter()
                .map(|f| {
                    let mut g = *f;
                    g.td = flows[p_td[k]].td;
                    g.sp = flows[p_sp[k]].sp;
                    g.dp = flows[p_dp[k]].dp;
                    g.pr = flows[p_pr[k]].pr;
                    g.flg = flows[p_flg[k]].flg;
                    g.pkt = flows[p_pkt[k]].pkt;
                    g.byt = flows[p_byt[k]].byt;
                    g.stos = flows[p_stos[k]].stos;
                    k += 1;
                    g
                })
                .collect(),
        })
        .collect()
}

/// Real hosts to replay: what a fitted `copy` or `holdout` is.
struct Replayed<'a>(&'a [HostTraffic]);

impl Fitted for Replayed<'_> {
    /// Replays the same hosts whatever the seed.
    fn generate(&self, _seed: u64) -> Result<Synthetic> {
        Ok(Synthetic {
            hosts: replay(self.0),
            details: serde_json::Value::Null,
            fields: crate::data::FieldSet::ALL,
        })
    }
}

/// `copy` as a [`Generator`]: replays its training hosts.
#[derive(Clone, Debug, Default)]
pub struct CopyGenerator;

impl CopyGenerator {
    /// Its name in specs and results (its entry in [`crate::generator::BUILTINS`]).
    pub const NAME: &'static str = "copy";
}

impl Generator for CopyGenerator {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn fit<'a>(&self, data: &Training<'a>, _seed: u64) -> Result<Box<dyn Fitted + 'a>> {
        Ok(Box::new(Replayed(data.hosts)))
    }

    fn fit_simulated(
        &self,
        data: &Simulated<'_>,
        _seed: u64,
    ) -> Result<(Sequences, serde_json::Value)> {
        Ok((data.train.clone(), serde_json::Value::Null))
    }
}

/// `holdout` as a [`Generator`]: replays the prepared holdout hosts ([`Training::holdout`]),
/// whatever it is trained on, so shadow retrainings of it ignore their training sets too.
#[derive(Clone, Debug, Default)]
pub struct HoldoutGenerator;

impl HoldoutGenerator {
    /// Its name in specs and results (its entry in [`crate::generator::BUILTINS`]).
    pub const NAME: &'static str = "holdout";
}

impl Generator for HoldoutGenerator {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn fit<'a>(&self, data: &Training<'a>, _seed: u64) -> Result<Box<dyn Fitted + 'a>> {
        Ok(Box::new(Replayed(data.holdout)))
    }

    fn fit_simulated(
        &self,
        data: &Simulated<'_>,
        _seed: u64,
    ) -> Result<(Sequences, serde_json::Value)> {
        Ok((data.holdout.clone(), serde_json::Value::Null))
    }
}
