//! End-to-end: `stan split` on the CI spec writes the split that `stan run` uses for the same
//! spec and seed, with `members.csv` exactly the generators' training flows.

use std::collections::BTreeSet;

use stan::data::flow::parse_ipv4;
use stan::data::hosts::host_view;
use stan::data::read_flows;
use stan::run::manifest::Manifest;
use stan::run::prepare::Prepared;
use stan::run::split::{ROLE_FILES, SPLIT_JSON, SplitRecord, read_record};
use stan::spec::Spec;

#[path = "common/cli.rs"]
mod cli;
use cli::{root, stan, text};

fn ips(v: &[String]) -> Vec<u32> {
    v.iter().map(|h| parse_ipv4(h).unwrap()).collect()
}

/// The CI spec with seed 3 given on the command line: the split equals what the runner
/// records for that spec and seed, and `members.csv` is its training traffic.
#[test]
fn split_of_the_ci_spec_is_the_runners() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("split");
    let o = stan(&[
        "split",
        "experiments/ci.toml",
        "--out",
        out.to_str().unwrap(),
        "--seed",
        "3",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).trim(), out.display().to_string());

    // (a) the five files, and no temporary file left over.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = ROLE_FILES.iter().map(|(_, f)| f.to_string()).collect();
    want.push(SPLIT_JSON.into());
    want.sort();
    assert_eq!(names, want);
    let r: SplitRecord = read_record(&out.join(SPLIT_JSON)).unwrap();

    // (b) the runner's split for the same spec and seed, recorded by the runner's own calls
    // (what `stan run` does before fitting: Prepared::load, then Manifest::record_data).
    let mut spec = Spec::load(&root().join("experiments/ci.toml")).unwrap();
    spec.seed = 3;
    let p = Prepared::load(&spec).unwrap();
    let mut m = Manifest::new(&spec);
    m.record_data(&p);
    assert_eq!(r.split, m.split);
    assert_eq!(r.data, m.data);
    assert_eq!(r.spec_hash, m.spec_hash);
    assert_eq!(r.run_id, m.run_id);
    assert_eq!((r.seed, r.split_seed), (3, 3));
    assert_eq!(r.crate_version, env!("CARGO_PKG_VERSION"));
    // Seed 3 is not the spec's own seed 7: the override reached the split.
    let mut seven = spec.clone();
    seven.seed = 7;
    assert_ne!(r.spec_hash, seven.hash());

    // Roles are disjoint and cover the modelled hosts.
    let roles = [
        &r.split.members,
        &r.split.nonmembers,
        &r.split.holdout,
        &r.split.reference,
    ];
    let all: BTreeSet<&String> = roles.iter().flat_map(|v| v.iter()).collect();
    let n: usize = roles.iter().map(|v| v.len()).sum();
    assert_eq!(all.len(), n, "a host has two roles");
    assert_eq!(n, r.data.hosts);
    assert!(roles.iter().all(|v| !v.is_empty()));

    // (c) members.csv, read back strictly, is the members' training traffic flow for flow.
    let f = &r.files[0];
    assert_eq!(f.file, "members.csv");
    let flows = read_flows(&out.join("members.csv")).unwrap();
    assert_eq!(flows.len(), f.flows);
    let train_rows: usize = p.members_train.iter().map(|h| h.flows.len()).sum();
    assert_eq!(f.host_flows, train_rows);
    // Bit for bit, `td` included (the embedded day has float sums like 1.1840000000000002).
    assert!(host_view(&flows, &ips(&r.split.members)) == p.members_train);
    assert_eq!(f.window, r.split.train_window);

    // Every file reads back strictly with the counts split.json gives.
    for (f, hosts) in r.files.iter().zip(roles) {
        let flows = read_flows(&out.join(&f.file)).unwrap();
        assert_eq!(flows.len(), f.flows, "{}", f.file);
        assert_eq!(f.hosts, hosts.len(), "{}", f.file);
        let per_host: usize = host_view(&flows, &ips(hosts))
            .iter()
            .map(|h| h.flows.len())
            .sum();
        assert_eq!(per_host, f.host_flows, "{}", f.file);
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("split");
    let o = stan(&[
        "split",
        "experiments/no-such-spec.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(e.contains("no-such-spec.toml"), "{e}");

    let o = stan(&[
        "split",
        "experiments/ar1.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(e.contains("data.dataset") && e.contains("ar1"), "{e}");
    assert!(!out.join(SPLIT_JSON).exists());

    let o = stan(&["split", "experiments/ci.toml"]);
    assert!(!o.status.success(), "--out is required");
    assert!(text(&o.stderr).contains("--out"));
}
