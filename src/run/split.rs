//! `stan split`: the host split of a run written out as flow files, so that a generator can be
//! trained outside the harness on exactly the traffic `stan run` fits its generators on.
//!
//! The data are loaded and split by the runner's own code ([`Loaded::load`]), and `split.json`
//! records the split the way the run manifest does ([`Manifest::record_data`]), so the two
//! cannot diverge.

use super::manifest::{DataInfo, Manifest, SplitInfo};
use super::prepare::Loaded;
use crate::data::flow::{format_ipv4, format_time};
use crate::data::hosts::flows_of;
use crate::data::write::{atomic_write_str, write_flows_exact};
use crate::encode::pseudonym;
use crate::error::{Error, Result};
use crate::spec::{DatasetKind, Spec};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The record of a split, written last: a folder without it is not a finished split.
pub const SPLIT_JSON: &str = "split.json";

/// The roles in the order their files are written, with their file names.
pub const ROLE_FILES: [(&str, &str); 4] = [
    ("members", "members.csv"),
    ("nonmembers", "nonmembers.csv"),
    ("holdout", "holdout.csv"),
    ("reference", "reference.csv"),
];

/// One flow file of a split.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SplitFile {
    /// File name in the split folder.
    pub file: String,
    /// The role whose hosts' flows it holds.
    pub role: String,
    /// `[start, end)` of the flows' `te`: the training window.
    pub window: (String, String),
    /// Hosts of the role.
    pub hosts: usize,
    /// Rows of the file (each flow once).
    pub flows: usize,
    /// Flows summed over the role's hosts, as the runner's host view holds them: a flow
    /// between two hosts of the role counts once for each. For `members.csv` this is the
    /// number of training rows the generators are fitted on.
    pub host_flows: usize,
}

/// The own IP a synthetic host gets in `stan run`: every generator fitted on the members rolls
/// out one host per member, and the `i`-th gets `pseudonym(i)` and the activity class of the
/// `i`-th member in `split.members` (whose traffic `copy` replays under that pseudonym).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SyntheticHost {
    pub pseudonym: String,
    pub member: String,
}

/// `split.json`: what a split is and where it came from. `spec_hash`, `crate_version`, the
/// revisions, `data` and `split` are those the manifest of `stan run` records for the same
/// spec and seed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SplitRecord {
    pub experiment: String,
    /// The run folder name `stan run` gives this spec and seed.
    pub run_id: String,
    /// The run seed (after `--seed`).
    pub seed: u64,
    /// The seed the hosts were dealt with: `split.seed`, default the run seed.
    pub split_seed: u64,
    pub spec_hash: String,
    pub crate_version: String,
    /// Revision of the checkout the split was made in (`-dirty` with uncommitted changes).
    pub git_revision: Option<String>,
    /// Revision the `stan` binary was built from.
    pub build_revision: Option<String>,
    /// The data file, its hash, its flows in the data window and the modelled hosts.
    pub data: DataInfo,
    /// `[start, end)` of the data: the training window and the test (generation) window lie
    /// in it, and are the same window when the spec has no `split.test_start`.
    pub data_window: (String, String),
    /// Hosts per role, their hash and the training and test windows.
    pub split: SplitInfo,
    pub synthetic_hosts: Vec<SyntheticHost>,
    /// The flow files, in [`ROLE_FILES`] order.
    pub files: Vec<SplitFile>,
}

/// Write the host split that `stan run` uses for `spec` into `dir`: `members.csv`,
/// `nonmembers.csv`, `holdout.csv` and `reference.csv` (headered UGR'16 CSV, each flow once,
/// in data-file order) with the flows of each role's hosts in the training window, then
/// `split.json` ([`SplitRecord`]). `members.csv` is exactly the generators' training data: its
/// host view over `split.members` is the runner's `members_train`. Note that the runner uses
/// the holdout hosts' traffic in the test window (what `holdout` replays) and the non-members'
/// in both; with a time split (`split.test_start`) those windows differ from the files'.
///
/// Every file is written to a temporary name in `dir` and renamed; a `split.json` already in
/// `dir` is removed first and written last. Errors: a spec of simulated data (`ar1`), and every
/// error of loading the data for a run.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use stan::run::split::write_split;
/// // Eight internal hosts with one flow each.
/// let dir = tempfile::tempdir()?;
/// let data = dir.path().join("flows.csv");
/// let mut csv = String::from("te,td,sa,da,sp,dp,pr,flg,fwd,stos,pkt,byt,label\n");
/// for h in 1..=8 {
///     csv += &format!(
///         "2016-04-11 00:0{h}:00,0.0,42.219.0.{h},8.8.8.8,5000,53,UDP,......,0,0,1,60,background\n"
///     );
/// }
/// std::fs::write(&data, csv)?;
/// let spec = stan::spec::Spec::from_toml(
///     &format!("name = \"demo\"\n[data]\npath = {data:?}\nmin_flows = 1\n"),
///     "demo.toml",
/// )?;
/// let out = dir.path().join("split");
/// let record = write_split(&spec, &out)?;
/// assert_eq!(record.split.members.len(), 4);
/// assert_eq!(record.files[0].file, "members.csv");
/// assert_eq!(record.files[0].flows, 4);
/// assert!(out.join("split.json").exists());
/// # Ok(())
/// # }
/// ```
pub fn write_split(spec: &Spec, dir: &Path) -> Result<SplitRecord> {
    if spec.data.dataset != DatasetKind::Ugr16 {
        return Err(Error::Spec {
            key: "data.dataset".into(),
            reason: "only `ugr16` data have hosts to split (`ar1` simulates its series)".into(),
        });
    }
    let loaded = Loaded::load(spec)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let json = dir.join(SPLIT_JSON);
    // The record of an earlier split must not vouch for files that are being replaced.
    match std::fs::remove_file(&json) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&json, e)),
        _ => {}
    }
    let train = loaded.train;
    let window = |w: (i64, i64)| (format_time(w.0), format_time(w.1));
    let s = &loaded.split;
    let mut files = Vec::with_capacity(ROLE_FILES.len());
    for ((role, file), ips) in
        ROLE_FILES
            .into_iter()
            .zip([&s.members, &s.nonmembers, &s.holdout, &s.reference])
    {
        let flows = flows_of(&loaded.flows, ips, train.0, train.1);
        let host_flows = loaded
            .select(ips, train)
            .iter()
            .map(|h| h.flows.len())
            .sum();
        write_flows_exact(&dir.join(file), &flows, true)?;
        files.push(SplitFile {
            file: file.into(),
            role: role.into(),
            window: window(train),
            hosts: ips.len(),
            flows: flows.len(),
            host_flows,
        });
    }
    let synthetic_hosts = s
        .members
        .iter()
        .enumerate()
        .map(|(i, &m)| SyntheticHost {
            pseudonym: format_ipv4(pseudonym(i)),
            member: format_ipv4(m),
        })
        .collect();
    let (split_seed, data_window) = (loaded.split_seed, window(loaded.window));
    // What the run manifest records, by the runner's own calls.
    let mut m = Manifest::new(spec);
    m.record_data(&loaded.into_prepared());
    let record = SplitRecord {
        experiment: m.experiment,
        run_id: m.run_id,
        seed: m.seed,
        split_seed,
        spec_hash: m.spec_hash,
        crate_version: m.crate_version,
        git_revision: m.git_revision,
        build_revision: m.build_revision,
        data: m.data,
        data_window,
        split: m.split,
        synthetic_hosts,
        files,
    };
    let text = serde_json::to_string_pretty(&record).map_err(|e| Error::Other(e.to_string()))?;
    atomic_write_str(&json, &(text + "\n"))?;
    Ok(record)
}

/// Read a `split.json`.
pub fn read_record(path: &Path) -> Result<SplitRecord> {
    let s = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&s).map_err(|e| Error::Other(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str) -> Spec {
        Spec::from_toml(&format!("name = \"t\"\n{extra}"), "t.toml").unwrap()
    }

    /// Eight internal hosts over four hours, each talking to the outside and to the next host
    /// every 20 minutes, split in time at 02:00.
    fn time_split_spec(dir: &Path) -> Spec {
        let data = dir.join("flows.csv");
        let mut csv = String::from("te,td,sa,da,sp,dp,pr,flg,fwd,stos,pkt,byt,label\n");
        for m in (0..240).step_by(20) {
            for h in 1..=8u32 {
                let next = h % 8 + 1;
                let t = format!("2016-04-11 {:02}:{:02}:00", m / 60, m % 60);
                csv += &format!(
                    "{t},0.5,42.219.0.{h},8.8.8.8,5000,53,UDP,......,0,0,1,60,background\n"
                );
                csv += &format!(
                    "{t},1.1840000000000002,42.219.0.{h},42.219.0.{next},40000,22,TCP,.AP...,0,0,9,900,background\n"
                );
            }
        }
        std::fs::write(&data, csv).unwrap();
        spec(&format!(
            "[data]\npath = {data:?}\nmin_flows = 1\nstart = \"2016-04-11 00:00:00\"\n\
             end = \"2016-04-11 04:00:00\"\n[split]\ntest_start = \"2016-04-11 02:00:00\"\n"
        ))
    }

    /// With a time split every file holds the training window, `members.csv` is the runner's
    /// training traffic flow for flow, and `split.json` is the manifest's record of the split.
    #[test]
    fn files_hold_the_training_window_of_each_role() {
        use crate::data::hosts::host_view;
        use crate::data::read_flows;
        use crate::run::prepare::Prepared;
        let tmp = tempfile::tempdir().unwrap();
        let spec = time_split_spec(tmp.path());
        let out = tmp.path().join("split");
        let r = write_split(&spec, &out).unwrap();
        assert_eq!(read_record(&out.join(SPLIT_JSON)).unwrap(), r);

        let p = Prepared::load(&spec).unwrap();
        let mut m = Manifest::new(&spec);
        m.record_data(&p);
        assert_eq!(r.split, m.split);
        assert_eq!(r.data, m.data);
        assert_eq!((r.spec_hash.as_str(), r.seed), (spec.hash().as_str(), 1));
        let two = "2016-04-11 02:00:00".to_string();
        assert_eq!(r.split.train_window.1, two);
        assert_eq!(r.split.test_window.0, two);
        assert_eq!(r.data_window.1, "2016-04-11 04:00:00");

        let loaded = Loaded::load(&spec).unwrap();
        let ips = |v: &[String]| -> Vec<u32> {
            v.iter()
                .map(|h| crate::data::flow::parse_ipv4(h).unwrap())
                .collect()
        };
        let runner = [
            p.members_train.clone(),
            p.nonmembers_train.clone(),
            loaded.select(&loaded.split.holdout, loaded.train),
            p.reference_train.clone(),
        ];
        let roles = [
            &r.split.members,
            &r.split.nonmembers,
            &r.split.holdout,
            &r.split.reference,
        ];
        for ((f, want), hosts) in r.files.iter().zip(&runner).zip(roles) {
            assert_eq!(f.window, r.split.train_window);
            let flows = read_flows(&out.join(&f.file)).unwrap();
            assert_eq!(flows.len(), f.flows, "{}", f.file);
            assert_eq!(&host_view(&flows, &ips(hosts)), want, "{}", f.file);
            let n: usize = want.iter().map(|h| h.flows.len()).sum();
            assert_eq!(f.host_flows, n, "{}", f.file);
            // Flows between two hosts of the role are written once.
            assert!(f.flows <= f.host_flows && f.flows > 0, "{}", f.file);
        }
        assert_eq!(r.synthetic_hosts.len(), r.split.members.len());
        assert_eq!(r.synthetic_hosts[0].pseudonym, "42.219.240.1");
        assert_eq!(r.synthetic_hosts[0].member, r.split.members[0]);
    }

    #[test]
    fn simulated_data_have_no_split() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_split(&spec("[data]\ndataset = \"ar1\"\n"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.dataset") && e.contains("ar1"), "{e}");
        assert!(!dir.path().join(SPLIT_JSON).exists());
    }

    #[test]
    fn a_missing_data_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nowhere.csv");
        let s = spec(&format!("[data]\npath = {missing:?}\n"));
        let e = write_split(&s, &dir.path().join("out"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nowhere.csv"), "{e}");
        assert!(!dir.path().join("out").exists());
    }
}
