//! Cut per-host day files from a large UGR'16 file, the way STAN built its training data:
//! keep one date, pick internal hosts that both send to and receive from external hosts
//! ("type 0"), sort them by flow count, sample hosts between the 1st and 3rd quartile, and write
//! each host's flows (rows where it is `sa` or `da`) to `day_<date>_<ip>.csv`.
//!
//! Two streaming passes (count, then write), so week-sized files need memory only for the
//! per-host counters and the selected hosts' rows.

use super::flow::{Flow, format_ipv4, second_of_day};
use super::read::FlowReader;
use super::write::write_flows;
use crate::error::{Error, Result};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct CutOptions {
    /// Day start (Unix seconds, midnight UTC) to keep.
    pub day: i64,
    /// Internal /16 prefix.
    pub prefix16: u32,
    /// Explicit hosts; empty = STAN's selection.
    pub hosts: Vec<u32>,
    /// Hosts to sample between the quartiles when `hosts` is empty.
    pub n_hosts: usize,
    pub seed: u64,
}

#[derive(Default, Clone, Copy)]
struct Usage {
    flows: usize,
    sends_external: bool,
    receives_external: bool,
}

fn in_day(f: &Flow, day: i64) -> bool {
    f.te >= day && f.te < day + 86_400 && second_of_day(day) == 0
}

/// Run the cut; returns the written files.
pub fn cut(input: &Path, out_dir: &Path, opts: &CutOptions) -> Result<Vec<PathBuf>> {
    let internal = |ip: u32| ip >> 16 == opts.prefix16;
    let hosts = if opts.hosts.is_empty() {
        let mut usage: HashMap<u32, Usage> = HashMap::new();
        for (_, r) in FlowReader::open(input)? {
            let f = r?;
            if !in_day(&f, opts.day) {
                continue;
            }
            if internal(f.sa) {
                let u = usage.entry(f.sa).or_default();
                u.flows += 1;
                u.sends_external |= !internal(f.da);
            }
            if internal(f.da) && f.da != f.sa {
                let u = usage.entry(f.da).or_default();
                u.flows += 1;
                u.receives_external |= !internal(f.sa);
            }
        }
        let mut type0: Vec<(usize, u32)> = usage
            .into_iter()
            .filter(|(_, u)| u.sends_external && u.receives_external)
            .map(|(ip, u)| (u.flows, ip))
            .collect();
        type0.sort_unstable();
        let n = type0.len();
        // Inter-quartile range of flow counts (at least one host when any qualifies).
        let (lo, hi) = (n / 4, (3 * n / 4).max(n / 4 + 1).min(n));
        let mut mid: Vec<u32> = type0[lo..hi].iter().map(|&(_, ip)| ip).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
        mid.shuffle(&mut rng);
        mid.truncate(opts.n_hosts);
        mid.sort_unstable();
        mid
    } else {
        opts.hosts.clone()
    };
    if hosts.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no internal hosts qualify on that day",
            input.display()
        )));
    }
    let mut per_host: BTreeMap<u32, Vec<Flow>> = hosts.iter().map(|&h| (h, Vec::new())).collect();
    for (_, r) in FlowReader::open(input)? {
        let f = r?;
        if !in_day(&f, opts.day) {
            continue;
        }
        if let Some(v) = per_host.get_mut(&f.sa) {
            v.push(f);
        }
        if f.da != f.sa
            && let Some(v) = per_host.get_mut(&f.da)
        {
            v.push(f);
        }
    }
    let date = crate::data::flow::format_time(opts.day)[..10].to_string();
    let mut written = Vec::new();
    for (ip, mut flows) in per_host {
        flows.sort_by_key(|f| f.te);
        let p = out_dir.join(format!("day_{date}_{}.csv", format_ipv4(ip)));
        write_flows(&p, &flows, true)?;
        written.push(p);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_real_fixture_by_host() {
        let input =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/day_1_42.219.145.151.csv");
        let dir = tempfile::tempdir().unwrap();
        let day = crate::data::flow::parse_time("2016-04-11 00:00:00").unwrap();
        let opts = CutOptions {
            day,
            prefix16: (42 << 8) | 219,
            hosts: vec![],
            n_hosts: 5,
            seed: 1,
        };
        let files = cut(&input, dir.path(), &opts).unwrap();
        assert!(!files.is_empty());
        // The fixture is one host's file: that host must be among the type-0 hosts found, and
        // every written row must involve its host.
        for p in &files {
            let ip_s = p
                .file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .rsplit('_')
                .next()
                .unwrap()
                .to_string();
            let ip = crate::data::flow::parse_ipv4(&ip_s).unwrap();
            let flows = crate::data::read_flows(p).unwrap();
            assert!(flows.iter().all(|f| f.sa == ip || f.da == ip));
            assert!(flows.windows(2).all(|w| w[0].te <= w[1].te));
        }
        let explicit = CutOptions {
            hosts: vec![crate::data::flow::parse_ipv4("42.219.145.151").unwrap()],
            ..opts
        };
        let files = cut(&input, dir.path(), &explicit).unwrap();
        assert_eq!(crate::data::read_flows(&files[0]).unwrap().len(), 7005);
    }
}
