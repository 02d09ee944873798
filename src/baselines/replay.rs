//! `copy` and `holdout`: replay real flows under pseudonymous own-IPs.
//!
//! `copy` replays the members' training flows (memorisation, the privacy worst case); `holdout`
//! replays flows of held-out real hosts (the ideal generator: real traffic that was not trained
//! on, the real-vs-real floor of every metric). Times, remote endpoints and all other fields are
//! kept; only the host's own IP is replaced by [`crate::encode::pseudonym`], as for every
//! generator, so own-IP never identifies a member.

use crate::data::hosts::HostTraffic;
use crate::encode::pseudonym;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayMode {
    Copy,
    Holdout,
}

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
