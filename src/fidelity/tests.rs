//! Sanity tests of [`super::evaluate`] on real UGR'16 traffic.

use super::*;
use crate::data::flow::{Flow, parse_ipv4};
use crate::data::hosts::{host_view, internal_hosts};
use crate::data::read::{FlowReader, read_flows};
use std::path::Path;

fn fixture_hosts() -> Vec<HostTraffic> {
    let mut hosts = Vec::new();
    for ip in ["42.219.145.151", "42.219.152.127"] {
        let flows = read_flows(Path::new(&format!("tests/data/day_1_{ip}.csv"))).unwrap();
        hosts.extend(host_view(&flows, &[parse_ipv4(ip).unwrap()]));
    }
    hosts
}

fn value(rows: &[MetricRow], metric: &str, subject: &str) -> f64 {
    rows.iter()
        .find(|r| r.metric == metric && r.subject == subject)
        .unwrap_or_else(|| panic!("no row {metric}/{subject}"))
        .value
}

fn quick_cfg() -> FidelityConfig {
    FidelityConfig {
        bootstrap_reps: 50,
        detection_max_flows_per_side: 2000,
        ..Default::default()
    }
}

use crate::baselines::shuffle_columns;

#[test]
fn real_vs_itself_is_zero_and_rows_are_deterministic() {
    let real = fixture_hosts();
    let cfg = quick_cfg();
    let rows = evaluate("copy", &real, &real, &cfg, 11).unwrap();
    assert_eq!(rows, evaluate("copy", &real, &real, &cfg, 11).unwrap());
    for r in &rows {
        assert_eq!(r.section, "fidelity");
        assert_eq!(r.generator, "copy");
        assert!(r.value.is_finite(), "{r:?}");
        let zero = [
            "jsd",
            "jsd_distance",
            "jsd_rank",
            "jsd_rank_distance",
            "emd",
            "emd_raw",
            "ks",
            "jsd_mean",
            "emd_mean",
            "ks_mean",
            "corr_diff",
            "cramers_v_diff",
            "bpp_emd",
            "autocorr_diff",
            "hourly_profile_jsd",
            "flows_per_hour_emd",
            "flows_per_host_emd",
            "netshare_jsd",
            "netshare_emd",
        ];
        if zero.contains(&r.metric.as_str()) {
            assert!(r.value.abs() < 1e-12, "{r:?}");
        }
    }
    // Every family is present, and the subjects are the documented ones.
    for (m, s) in [
        ("jsd", "pr"),
        ("jsd", "remote_ip"),
        ("jsd", "tod"),
        ("jsd_rank", "sa"),
        ("emd", "gap"),
        ("emd_raw", "byt"),
        ("ks", "td"),
        ("jsd_mean", "all"),
        ("bpp_emd", "TCP"),
        ("autocorr_diff", "gap"),
        ("lag1_autocorr", "byt"),
        ("flows_per_hour_emd", "host_hour"),
        ("rule_violation", "any"),
    ] {
        value(&rows, m, s);
    }
    // The detector splits by host: with two hosts per side, each side tests one host, and a
    // host-cluster bootstrap of one host per stratum has nothing to resample, so there is no
    // CI (the null check, two disjoint host samples of one population, is in the test on the
    // 92-host day below). Its `n` counts the test hosts, one per side.
    let auc = rows.iter().find(|r| r.metric == "detection_auc").unwrap();
    assert_eq!((auc.ci_low, auc.ci_high, auc.n), (None, None, 2));
    // The real lag-1 ACFs reported for the table: sizes of consecutive flows are positively
    // correlated (0.240), log gaps negatively (−0.190: a long pause is followed by a burst).
    let d = describe_rows("real", &real, &cfg);
    assert!(
        (value(&d, "lag1_autocorr", "byt") - 0.2397).abs() < 1e-3,
        "{d:?}"
    );
    assert!(
        (value(&d, "lag1_autocorr", "gap") + 0.1903).abs() < 1e-3,
        "{d:?}"
    );
    // Different seeds give a different detection sample but the same deterministic distances.
    let other = evaluate("copy", &real, &real, &cfg, 12).unwrap();
    assert_eq!(value(&rows, "jsd", "dp"), value(&other, "jsd", "dp"));
}

#[test]
fn training_reference_has_the_same_rows_in_its_own_section_and_copy_is_its_floor() {
    // `copy` in the training reference: the reference replayed under pseudonymous own IPs,
    // exactly what the runner compares in section `fidelity_train`.
    let real = fixture_hosts();
    let copy = crate::baselines::replay(&real);
    let cfg = quick_cfg();
    let train = evaluate_against(Reference::Train, "copy", &real, &copy, &cfg, 11).unwrap();
    let test = evaluate_against(Reference::Test, "copy", &real, &copy, &cfg, 11).unwrap();
    assert_eq!(test, evaluate("copy", &real, &copy, &cfg, 11).unwrap());
    // Same rows, same values, only the section differs.
    assert_eq!(train.len(), test.len());
    for (a, b) in train.iter().zip(&test) {
        assert_eq!(a.section, "fidelity_train");
        assert_eq!(b.section, "fidelity");
        assert_eq!(
            (&a.metric, &a.subject, a.value, a.n),
            (&b.metric, &b.subject, b.value, b.n)
        );
    }
    // The floor: marginal means and NetShare's rows are 0 (the two fixture hosts share no
    // flow, so not even the IP ranks move when own IPs become pseudonyms).
    assert_eq!(value(&train, "jsd_mean", "all"), 0.0);
    let netshare: Vec<&MetricRow> = train
        .iter()
        .filter(|r| r.metric.starts_with("netshare_"))
        .collect();
    let subjects: Vec<(&str, &str)> = netshare
        .iter()
        .map(|r| (r.metric.as_str(), r.subject.as_str()))
        .collect();
    let want: Vec<(&str, &str)> = netshare::JSD_FIELDS
        .iter()
        .map(|f| (netshare::JSD_METRIC, *f))
        .chain(
            netshare::EMD_FIELDS
                .iter()
                .map(|f| (netshare::EMD_METRIC, *f)),
        )
        .collect();
    assert_eq!(subjects, want);
    assert!(
        netshare
            .iter()
            .all(|r| r.value == 0.0 && r.ci_low.is_none())
    );
    // The raw own-IP JSD does see the pseudonyms: proof that the zeros above are not vacuous.
    assert!(value(&train, "jsd", "sa") > 0.1);
    // The reference's own rows: the describe and rule rows of `real`, in its section.
    let refs = reference_rows(Reference::Train, &real, &cfg);
    let plain: Vec<MetricRow> = describe_rows("real", &real, &cfg)
        .into_iter()
        .chain(rule_rows("real", &real))
        .collect();
    assert_eq!(refs.len(), plain.len());
    for (a, b) in refs.iter().zip(&plain) {
        assert_eq!(
            (a.section.as_str(), a.generator.as_str()),
            (SECTION_TRAIN, "real")
        );
        assert_eq!(
            (&a.metric, &a.subject, a.value),
            (&b.metric, &b.subject, b.value)
        );
    }
}

#[test]
fn disjoint_real_hosts_are_close_and_column_shuffle_is_clearly_worse() {
    // The first 80k flows of the 92-host day (the first ~1.5 h), split into two host sets.
    let path = Path::new("experiments/data/ugr16_2016-04-11_stan92users.csv.gz");
    let flows: Vec<Flow> = FlowReader::open(path)
        .unwrap()
        .take(80_000)
        .map(|(_, f)| f.unwrap())
        .collect();
    let ips = internal_hosts(&flows, (42 << 8) | 219, 150);
    let all = host_view(&flows, &ips);
    let (a, b): (Vec<_>, Vec<_>) = all.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let a: Vec<HostTraffic> = a.into_iter().map(|(_, h)| h).collect();
    let b: Vec<HostTraffic> = b.into_iter().map(|(_, h)| h).collect();
    assert!(a.len() >= 20 && b.len() >= 20, "{} {}", a.len(), b.len());
    let shuffled = shuffle_columns(&b, 5);
    let cfg = quick_cfg();
    let rb = evaluate("other_hosts", &a, &b, &cfg, 3).unwrap();
    let rs = evaluate("shuffled", &a, &shuffled, &cfg, 3).unwrap();
    let v = |rows: &[MetricRow], m: &str, s: &str| value(rows, m, s);
    // Real vs real: small marginal distances (measured: pr 0.027, ks_mean 0.120, emd_mean
    // 0.031, continuous jsd_mean 0.018; the host sets differ in protocol and port mix).
    // Shuffled: corr_diff 0.038 -> 0.207, cramers_v_diff 0.048 -> 0.267, autocorr_diff/byt
    // 0.035 -> 0.115, detection AUC 0.57 -> 0.94, any-rule violations 0.0005 -> 0.64.
    assert!(v(&rb, "jsd", "pr") < 0.05, "{}", v(&rb, "jsd", "pr"));
    assert!(
        v(&rb, "jsd_mean", "continuous") < 0.05,
        "{}",
        v(&rb, "jsd_mean", "continuous")
    );
    assert!(
        v(&rb, "ks_mean", "all") < 0.15,
        "{}",
        v(&rb, "ks_mean", "all")
    );
    assert!(
        v(&rb, "emd_mean", "all") < 0.05,
        "{}",
        v(&rb, "emd_mean", "all")
    );
    // Two disjoint host samples of one day: split by host, the detector finds no difference
    // beyond host-sampling noise (AUC 0.57, host-cluster CI [0.44, 0.76] around 0.5; with a
    // split by flow it scored host identity, 0.81).
    let auc = rb.iter().find(|r| r.metric == "detection_auc").unwrap();
    assert!(
        auc.ci_low.unwrap() < 0.5 && 0.5 < auc.ci_high.unwrap(),
        "{auc:?}"
    );
    // Synthetic hosts that copy the real ones: a real test host whose copy trained the
    // synthetic class scores synthetic and vice versa, so the AUC falls below 0.5 (0.34).
    let copy = evaluate("copy", &a, &crate::baselines::replay(&a), &cfg, 3).unwrap();
    let auc = copy.iter().find(|r| r.metric == "detection_auc").unwrap();
    assert!(auc.ci_high.unwrap() < 0.5, "{auc:?}");
    // Shuffling keeps the pooled marginals of the permuted fields ...
    assert!((v(&rs, "jsd", "byt") - v(&rb, "jsd", "byt")).abs() < 1e-12);
    // ... but breaks dependencies, temporal structure and realism.
    for (m, s) in [
        ("corr_diff", "all"),
        ("cramers_v_diff", "all"),
        ("autocorr_diff", "byt"),
        ("detection_auc", "rf"),
    ] {
        assert!(
            v(&rs, m, s) > v(&rb, m, s) + 0.02,
            "{m}/{s}: shuffled {} vs real {}",
            v(&rs, m, s),
            v(&rb, m, s)
        );
    }
    assert!(v(&rs, "rule_violation", "any") > 10.0 * v(&rb, "rule_violation", "any").max(1e-4));
}

#[test]
fn host_acf_weights_hosts_by_length() {
    // Host 1: 1..5 (lag1 0.4); host 2: alternating length 4 (lag1 −0.75); host 3 constant
    // (skipped). Weighted: (5·0.4 + 4·(−0.75)) / 9 = −1/9.
    let x = [1.0, 2.0, 3.0, 4.0, 5.0, 1.0, -1.0, 1.0, -1.0, 7.0, 7.0, 7.0];
    let r = host_acf(&x, &[(0, 5), (5, 9), (9, 12)], 1).unwrap();
    assert!((r[0] + 1.0 / 9.0).abs() < 1e-12, "{r:?}");
    assert_eq!(host_acf(&x, &[(9, 12)], 1), None);
}

#[test]
fn config_defaults_round_trip_and_validation() {
    let cfg = FidelityConfig::default();
    let s = toml::to_string(&cfg).unwrap();
    assert_eq!(toml::from_str::<FidelityConfig>(&s).unwrap(), cfg);
    assert_eq!(
        toml::from_str::<FidelityConfig>("bins = 7").unwrap().bins,
        7
    );
    assert!(toml::from_str::<FidelityConfig>("binz = 7").is_err());
    let real = fixture_hosts();
    let bad = FidelityConfig {
        detection_train_fraction: 1.0,
        ..Default::default()
    };
    assert!(evaluate("x", &real, &real, &bad, 0).is_err());
    assert!(evaluate("x", &real, &[], &cfg, 0).is_err());
}

#[test]
fn tiny_and_degenerate_synthetic_sets_give_finite_rows_without_detection() {
    // One host with a single flow plus an empty host: no gaps, no ACF, too few flows to train a
    // detector; every emitted row must still be finite and the call must succeed.
    let real = fixture_hosts();
    let one = HostTraffic {
        ip: real[0].ip,
        flows: vec![real[0].flows[0]],
    };
    let empty = HostTraffic {
        ip: 2,
        flows: Vec::new(),
    };
    let rows = evaluate("tiny", &real, &[one, empty], &quick_cfg(), 0).unwrap();
    assert!(rows.iter().all(|r| r.value.is_finite()), "{rows:?}");
    assert!(
        !rows
            .iter()
            .any(|r| r.metric == "detection_auc" || r.subject == "gap")
    );
    // A flow copied from real, so pr/flg/... match on that category only: jsd(pr) is the
    // divergence between the real protocol mix and a point mass on the copied flow's protocol.
    assert!(value(&rows, "jsd", "pr") > 0.0 && value(&rows, "rule_violation", "any") == 0.0);
    // The NaN-duration flow of a broken generator is flagged and does not poison correlations.
    let mut bad = real.clone();
    bad[1].flows[0].td = f64::NAN;
    let rows = evaluate("nan", &real, &bad, &quick_cfg(), 0).unwrap();
    assert!(value(&rows, "corr_diff", "all").is_finite());
    assert!(value(&rows, "rule_violation", "duration_within_timeout") > 0.0);
}

/// A generator without flags and ToS (NetShare's layout) gets no row computed from them: its
/// flows are the real ones with the reader's fillers, which would otherwise score a flag JSD
/// and a `tcp_has_flags` violation of every TCP flow. Every other row is the full evaluation's.
#[test]
fn rows_that_need_an_absent_field_are_not_written() {
    use crate::data::fields::{Field, FieldSet};
    let real = fixture_hosts();
    let netshare = FieldSet::of(&[Field::Label]);
    let synth = crate::data::fields::blank(&real, netshare);
    let cfg = quick_cfg();
    let full = evaluate_against(Reference::Test, "ns", &real, &synth, &cfg, 3).unwrap();
    let rows = evaluate_fields(Reference::Test, "ns", &real, &synth, netshare, &cfg, 3).unwrap();
    let dropped: Vec<(&str, &str)> = full
        .iter()
        .filter(|r| !rows.contains(r))
        .map(|r| (r.metric.as_str(), r.subject.as_str()))
        .collect();
    assert_eq!(
        dropped,
        [
            ("jsd", "flg"),
            ("jsd_distance", "flg"),
            ("jsd", "stos"),
            ("jsd_distance", "stos"),
            ("jsd_mean", "all"),
            ("jsd_mean", "categorical"),
            ("cramers_v_diff", "all"),
            ("detection_auc", "rf"),
            ("rule_violation", "tcp_flags_only_tcp"),
            ("rule_violation", "tcp_has_flags"),
            ("rule_violation", "any"),
        ]
    );
    // The fillers really would have scored: every real TCP flow has flags.
    assert!(value(&full, "rule_violation", "tcp_has_flags") > 0.0);
    assert_eq!(rows.len() + dropped.len(), full.len());
    // A generator with every field loses nothing.
    let all =
        evaluate_fields(Reference::Test, "ns", &real, &synth, FieldSet::ALL, &cfg, 3).unwrap();
    assert_eq!(all, full);
}
