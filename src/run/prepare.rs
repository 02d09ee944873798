//! Loading, validating and splitting the real data of a run.

use crate::data::FieldSet;
use crate::data::flow::{Flow, format_time, parse_time};
use crate::data::hosts::{HostSplit, HostTraffic, host_strata, host_view, internal_hosts, select};
use crate::data::read::{FlowReader, read_flows, read_flows_lenient};
use crate::error::{Error, Result};
use crate::spec::Spec;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};

/// Flow-count classes of the stratified host split (`split.stratify`).
const ACTIVITY_QUARTILES: usize = 4;

/// The real traffic of a run, split into its roles. Windows are `[start, end)` Unix seconds.
pub struct Prepared {
    pub data_hash: String,
    pub n_flows: usize,
    pub skipped_invalid: usize,
    pub hosts: Vec<u32>,
    pub split: HostSplit,
    pub train: (i64, i64),
    pub test: (i64, i64),
    /// Members in the training window: what generators learn from (and `copy` replays).
    pub members_train: Vec<HostTraffic>,
    /// Non-members in the training window: membership-inference non-member candidates.
    pub nonmembers_train: Vec<HostTraffic>,
    /// Non-members in the test window: the real test traffic for fidelity and detection.
    pub nonmembers_test: Vec<HostTraffic>,
    /// Holdout hosts in the test (generation) window: what `holdout` replays.
    pub holdout_test: Vec<HostTraffic>,
    /// Reference hosts in the training window: the attacker's real non-member sample.
    pub reference_train: Vec<HostTraffic>,
    /// The optional fields the data file carried (all for UGR'16 data); what it lacks, every
    /// generator's roll-out lacks too, for the evaluations ([`crate::run`]).
    pub fields: FieldSet,
}

fn sha256_file(path: &std::path::Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| Error::io(path, e))?;
    Ok(hex::encode(h.finalize()))
}

/// The real data of a run and its host split, before each role's traffic is cut out of it:
/// the part of loading that `stan run` ([`Prepared::load`]) and `stan split`
/// ([`super::split::write_split`]) share, so that the two cannot disagree on the hosts, the
/// roles or the windows. Windows are `[start, end)` Unix seconds.
pub struct Loaded {
    /// SHA-256 of the data file.
    pub data_hash: String,
    /// Flows in the data window.
    pub n_flows: usize,
    pub skipped_invalid: usize,
    /// The data window's flows, in file order.
    pub flows: Vec<Flow>,
    /// The optional fields the data file carried ([`crate::data::fields`]).
    pub fields: FieldSet,
    /// The modelled hosts, sorted.
    pub hosts: Vec<u32>,
    /// Every modelled host's traffic in the data window (`host_view` of `flows`).
    pub traffic: Vec<HostTraffic>,
    pub split: HostSplit,
    /// The seed the split was dealt with (`split.seed`, default the run seed).
    pub split_seed: u64,
    /// The data window.
    pub window: (i64, i64),
    pub train: (i64, i64),
    pub test: (i64, i64),
}

impl Loaded {
    /// Read `spec.data`, restrict it to the data window, choose the modelled hosts and deal
    /// them to the roles.
    pub fn load(spec: &Spec) -> Result<Loaded> {
        let d = &spec.data;
        let data_hash = sha256_file(&d.path)?;
        let fields = FlowReader::open(&d.path)?.fields();
        let (mut flows, skipped) = if d.skip_invalid {
            let (f, bad) = read_flows_lenient(&d.path)?;
            if !bad.is_empty() {
                tracing::warn!(skipped = bad.len(), first = %bad[0], "skipped invalid lines (data.skip_invalid = true)");
            }
            (f, bad.len())
        } else {
            (read_flows(&d.path)?, 0)
        };
        if flows.is_empty() {
            return Err(Error::Invalid(format!("{}: no flows", d.path.display())));
        }
        let t_min = flows.iter().map(|f| f.te).min().unwrap_or(0);
        let t_max = flows.iter().map(|f| f.te).max().unwrap_or(0);
        let start = d
            .start
            .as_deref()
            .and_then(parse_time)
            .unwrap_or(t_min - t_min.rem_euclid(86_400));
        let end = d.end.as_deref().and_then(parse_time).unwrap_or(t_max + 1);
        if end <= start {
            return Err(Error::Spec {
                key: "data.end".into(),
                reason: format!(
                    "window [{}, {}) is empty",
                    format_time(start),
                    format_time(end)
                ),
            });
        }
        flows.retain(|f| f.te >= start && f.te < end);
        let n_flows = flows.len();
        let hosts = Self::choose_hosts(spec, &flows)?;
        let traffic = host_view(&flows, &hosts);
        let fractions = [
            spec.split.members,
            spec.split.nonmembers,
            spec.split.holdout,
        ];
        let split_seed = spec.split.seed.unwrap_or(spec.seed);
        let split = if spec.split.stratify {
            // Strata from the whole data window: the split is a design choice made before any
            // model sees data, like the choice of hosts.
            let strata = host_strata(&traffic, ACTIVITY_QUARTILES);
            HostSplit::stratified(&hosts, &strata, fractions, split_seed)
        } else {
            HostSplit::shuffle(&hosts, fractions, split_seed)
        };
        let (train, test) = match spec.split.test_start.as_deref().and_then(parse_time) {
            Some(t) if t > start && t < end => ((start, t), (t, end)),
            Some(_) => {
                return Err(Error::Spec {
                    key: "split.test_start".into(),
                    reason: "must lie strictly inside the data window".into(),
                });
            }
            None => ((start, end), (start, end)),
        };
        Ok(Loaded {
            data_hash,
            n_flows,
            skipped_invalid: skipped,
            flows,
            fields,
            hosts,
            traffic,
            split,
            split_seed,
            window: (start, end),
            train,
            test,
        })
    }

    /// The traffic of hosts `ips` in `window`, in the order of `ips`.
    pub fn select(&self, ips: &[u32], window: (i64, i64)) -> Vec<HostTraffic> {
        select(&self.traffic, ips, window.0, window.1)
    }

    /// Cut out each role's traffic in the window the runner uses it in.
    pub fn into_prepared(self) -> Prepared {
        let s = &self.split;
        let (train, test) = (self.train, self.test);
        Prepared {
            members_train: self.select(&s.members, train),
            nonmembers_train: self.select(&s.nonmembers, train),
            nonmembers_test: self.select(&s.nonmembers, test),
            holdout_test: self.select(&s.holdout, test),
            reference_train: self.select(&s.reference, train),
            fields: self.fields,
            data_hash: self.data_hash,
            n_flows: self.n_flows,
            skipped_invalid: self.skipped_invalid,
            hosts: self.hosts,
            split: self.split,
            train,
            test,
        }
    }

    /// The modelled hosts: `data.hosts`, or the internal hosts with `data.min_flows` flows; at
    /// most `data.max_hosts` of them, a sample seeded by the run seed.
    fn choose_hosts(spec: &Spec, flows: &[Flow]) -> Result<Vec<u32>> {
        let d = &spec.data;
        let mut hosts = if d.hosts.is_empty() {
            internal_hosts(
                flows,
                crate::data::flow::parse_prefix16(&d.internal_prefix).ok_or_else(|| {
                    Error::Spec {
                        key: "data.internal_prefix".into(),
                        reason: format!(
                            "expected two octets like `42.219`, got {:?}",
                            d.internal_prefix
                        ),
                    }
                })?,
                d.min_flows,
            )
        } else {
            let mut v = d
                .hosts
                .iter()
                .map(|h| {
                    crate::data::flow::parse_ipv4(h).ok_or_else(|| Error::Spec {
                        key: "data.hosts".into(),
                        reason: format!("{h:?} is not an IPv4 address"),
                    })
                })
                .collect::<Result<Vec<u32>>>()?;
            v.sort_unstable();
            v.dedup();
            v
        };
        if d.max_hosts > 0 && hosts.len() > d.max_hosts {
            let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed ^ 0x4057);
            hosts.shuffle(&mut rng);
            hosts.truncate(d.max_hosts);
            hosts.sort_unstable();
        }
        if hosts.len() < 4 {
            return Err(Error::Spec {
                key: "data".into(),
                reason: format!(
                    "found {} modelled hosts; need at least 4 (members, non-members, holdout, reference). Check data.internal_prefix / data.min_flows / data.hosts",
                    hosts.len()
                ),
            });
        }
        Ok(hosts)
    }
}

impl Prepared {
    /// Load the data and split it ([`Loaded::load`]), then cut out the roles' traffic.
    pub fn load(spec: &Spec) -> Result<Prepared> {
        Loaded::load(spec).map(Loaded::into_prepared)
    }
}
