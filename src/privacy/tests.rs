//! Sanity generators on real UGR'16 hosts: copy, holdout, dose-response, label permutation,
//! determinism, the shadow attack and the ROC plot.
//!
//! Data: `testdata/ugr16_2016-04-11_0800-0830.csv.gz`, the 08:00–08:30 UTC slice (21 099 flows)
//! of `experiments/data/ugr16_2016-04-11_stan92users.csv.gz`, made with
//! `zcat … | awk -F, 'NR==1 || ($1 >= "2016-04-11 08:00:00" && $1 < "2016-04-11 08:30:00")' | gzip -9`
//! so that the tests do not parse 1.3 M lines in the dev profile.

use super::*;
use crate::data::hosts::{HostSplit, host_view, internal_hosts, select};
use crate::data::read::read_flows;
use rand::RngExt;
use std::path::Path;
use std::sync::OnceLock;

struct Groups {
    members: Vec<HostTraffic>,
    nonmembers: Vec<HostTraffic>,
    holdout: Vec<HostTraffic>,
    reference: Vec<HostTraffic>,
}

/// The slice split by a seeded host shuffle. The non-member group gets more hosts than the
/// member group so that the equal-size diagnostic sample M' can hold every member flow (what
/// a copy's DCR share of 1 needs).
fn groups() -> &'static Groups {
    static G: OnceLock<Groups> = OnceLock::new();
    G.get_or_init(|| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/privacy/testdata/ugr16_2016-04-11_0800-0830.csv.gz");
        let flows = read_flows(&p).unwrap();
        let ips = internal_hosts(&flows, (42 << 8) | 219, 5);
        let hv = host_view(&flows, &ips);
        let split = HostSplit::shuffle(&ips, [0.25, 0.35, 0.2], 11);
        let (s, e) = (i64::MIN, i64::MAX);
        Groups {
            members: select(&hv, &split.members, s, e),
            nonmembers: select(&hv, &split.nonmembers, s, e),
            holdout: select(&hv, &split.holdout, s, e),
            reference: select(&hv, &split.reference, s, e),
        }
    })
}

fn flows(h: &[HostTraffic]) -> usize {
    h.iter().map(|h| h.flows.len()).sum()
}

/// Replace each host's own IP by a pseudonym (10.0.0.i) in the host and in its flows, as a
/// generator's output carries.
fn pseudonymize(hosts: &[HostTraffic]) -> Vec<HostTraffic> {
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let p = (10 << 24) | (i as u32 + 1);
            let flows = h.flows.iter().map(|f| reassign(f, h.ip, p)).collect();
            HostTraffic { ip: p, flows }
        })
        .collect()
}

fn reassign(f: &crate::data::flow::Flow, from: u32, to: u32) -> crate::data::flow::Flow {
    let mut g = *f;
    if g.sa == from {
        g.sa = to;
    }
    if g.da == from {
        g.da = to;
    }
    g
}

fn input<'a>(g: &'a Groups, synthetic: &'a [HostTraffic]) -> PrivacyInput<'a> {
    PrivacyInput {
        members: &g.members,
        nonmembers: &g.nonmembers,
        reference: &g.reference,
        synthetic,
    }
}

/// Small settings for the dev profile (kiddo/smartcore generics are instantiated in this crate,
/// so they run unoptimised in tests).
fn cfg() -> PrivacyConfig {
    PrivacyConfig {
        max_candidates: 1000,
        reference_size: 1500,
        bootstrap_reps: 50,
        host_flows: 50,
        classifier_rows: 500,
        classifier_trees: 10,
        classifier_depth: 8,
        diag_rows: 10_000,
        diag_synthetic: 10_000,
        null_reps: 50,
        ..Default::default()
    }
}

fn get<'a>(rows: &'a [MetricRow], metric: &str, subject: &str) -> &'a MetricRow {
    rows.iter()
        .find(|r| r.metric == metric && r.subject == subject)
        .unwrap_or_else(|| panic!("missing {metric}/{subject}"))
}

fn attack<'a>(rep: &'a PrivacyReport, name: &str) -> &'a AttackResult {
    rep.attacks.iter().find(|a| a.name == name).unwrap()
}

/// Share of non-member candidates that tie with the members' best score (the part of the AUC a
/// copy cannot win on data with exact duplicates across hosts).
fn top_tie_share(a: &AttackResult) -> f64 {
    let top = a.scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let neg: Vec<f64> = a
        .scores
        .iter()
        .zip(&a.labels)
        .filter(|(_, l)| !**l)
        .map(|(s, _)| *s)
        .collect();
    neg.iter().filter(|&&s| s == top).count() as f64 / neg.len() as f64
}

#[test]
fn split_sizes_suit_the_sanity_tests() {
    let g = groups();
    assert!(
        g.members.len() >= 5
            && g.nonmembers.len() >= 5
            && g.holdout.len() >= 5
            && g.reference.len() >= 5
    );
    // M' can hold every member flow only if non-members have at least as many flows.
    assert!(
        flows(&g.nonmembers) >= flows(&g.members),
        "{} {}",
        flows(&g.nonmembers),
        flows(&g.members)
    );
    assert!(flows(&g.members) <= cfg().diag_rows);
}

#[test]
fn copy_generator_is_caught() {
    let g = groups();
    let synth = pseudonymize(&g.members);
    let rep = evaluate_detailed("copy", &input(g, &synth), &cfg(), 1).unwrap();
    for name in ["exact_match", "dcr", "mc"] {
        let a = attack(&rep, name);
        let tie = top_tie_share(a);
        eprintln!("copy {name}: auc {:.4} tie share {:.4}", a.summary.auc, tie);
        // Every member candidate is in S (score at the top); only ties can cost AUC.
        assert!(
            a.summary.auc >= 1.0 - tie / 2.0 - 1e-12,
            "{name}: {} < 1 - {tie}/2",
            a.summary.auc
        );
        assert!(tie < 0.05, "{name}: tie share {tie}");
        assert_eq!(a.summary.tpr[2].1, 1.0, "{name}: TPR@10% FPR");
    }
    let r = &rep.rows;
    assert_eq!(get(r, "auc", "host_mean_dcr").value, 1.0);
    assert_eq!(get(r, "exact_copy_share", "member").value, 1.0);
    assert_eq!(get(r, "dcr_p5", "member").value, 0.0);
    let share = get(r, "dcr_share", "member");
    let copy_in_n = get(r, "exact_copy_share", "nonmember").value;
    eprintln!(
        "copy dcr_share {:.4} (non-member exact copies {:.4})",
        share.value, copy_in_n
    );
    // Rows with an exact twin in N' tie (count 1/2); every other row is strictly closer to M'.
    assert!(share.value >= 1.0 - copy_in_n / 2.0 - 1e-12 && share.value > 0.97);
    assert_eq!(get(r, "ip_replay", "member").value, 1.0);
    assert_eq!(get(r, "ip_port_replay", "member").value, 1.0);
    assert_eq!(get(r, "ip_replay", "nonmember").value, 0.0);
    // Epsilon trials are hosts: a copy separates member from non-member hosts perfectly, so
    // the bound is the largest one its host counts allow (test halves, tails 2.5 %).
    let a = attack(&rep, "dcr");
    let (m, n) = a.summary.eps_trials;
    let (mt, nt) = (m - m / 2, n - n / 2);
    let (tpr_lo, _) = roc::clopper_pearson(mt, mt, 0.95);
    let (_, fpr_hi) = roc::clopper_pearson(0, nt, 0.95);
    let (tnr_lo, _) = roc::clopper_pearson(nt, nt, 0.95);
    let (_, fnr_hi) = roc::clopper_pearson(0, mt, 0.95);
    let most = (tpr_lo / fpr_hi).ln().max((tnr_lo / fnr_hi).ln());
    let eps = get(r, "epsilon_lb", "dcr");
    eprintln!(
        "copy epsilon_lb dcr {:.4} on {m} + {n} hosts (largest possible {most:.4})",
        eps.value
    );
    assert_eq!(eps.n, (m + n) as u64);
    assert!((eps.value - most).abs() < 1e-9, "{} vs {most}", eps.value);
    // Label-permutation null on the copy's (highly informative) DCR scores: the AUC falls back
    // inside the Mann–Whitney 99% band around 0.5.
    let a = attack(&rep, "dcr");
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut lab = a.labels.clone();
    for i in (1..lab.len()).rev() {
        lab.swap(i, rng.random_range(0..=i));
    }
    let auc = crate::stats::roc_auc(&a.scores, &lab).unwrap();
    let (n1, n2) = (a.summary.n_pos as f64, a.summary.n_neg as f64);
    let half = 2.576 * ((n1 + n2 + 1.0) / (12.0 * n1 * n2)).sqrt();
    eprintln!("permuted-label AUC {auc:.4} (band 0.5 ± {half:.4})");
    assert!((auc - 0.5).abs() < half, "{auc}");
}

#[test]
fn holdout_generator_stays_inside_the_null() {
    let g = groups();
    let synth = pseudonymize(&g.holdout);
    let rep = evaluate_detailed("holdout", &input(g, &synth), &cfg(), 2).unwrap();
    let r = &rep.rows;
    // The reported 95% band (50 permutations) is printed; the assertion uses a 99% band from
    // 400 permutations, a two-sided test at 1% per attack.
    for name in [
        "exact_match",
        "dcr",
        "dcr_ref",
        "mc",
        "neighbourhood",
        "density_ratio",
        "classifier",
    ] {
        let a = attack(&rep, name);
        let null = get(r, "auc_host_null", name);
        let (_, lo, hi) = roc::host_permutation_null(
            &a.scores,
            &rep.cand_host,
            &rep.host_is_member,
            400,
            0.99,
            3,
        )
        .unwrap();
        eprintln!(
            "holdout {name}: auc {:.4} (bootstrap [{:.4}, {:.4}]), host null 95% [{:.4}, {:.4}], 99% [{lo:.4}, {hi:.4}]",
            a.summary.auc,
            a.summary.auc_ci.unwrap().0,
            a.summary.auc_ci.unwrap().1,
            null.ci_low.unwrap(),
            null.ci_high.unwrap()
        );
        assert!(
            lo <= a.summary.auc && a.summary.auc <= hi,
            "{name}: {} outside [{lo}, {hi}]",
            a.summary.auc
        );
    }
    // The epsilon game counts hosts, whose roles the split assigns at random: a generator
    // that never saw a member gives no bound above 0 (at most one attack in 20 by chance).
    let positive: Vec<(String, f64)> = rep
        .attacks
        .iter()
        .map(|a| (a.name.clone(), a.summary.epsilon_lb))
        .filter(|(_, e)| *e > 0.0)
        .collect();
    eprintln!("holdout attacks with epsilon_lb > 0: {positive:?}");
    assert!(positive.len() <= 1, "{positive:?}");
    let share = get(r, "dcr_share", "member");
    eprintln!(
        "holdout dcr_share {:.4} [{:?}, {:?}]",
        share.value, share.ci_low, share.ci_high
    );
    assert!((share.value - 0.5).abs() < 0.1, "{}", share.value);
    // No identifier of either group is replayed preferentially by orders of magnitude.
    let (m, n) = (
        get(r, "ip_replay", "member").value,
        get(r, "ip_replay", "nonmember").value,
    );
    eprintln!("holdout ip_replay member {m:.4} nonmember {n:.4}");
    assert!(m < 0.5 && n < 0.5);
    assert!(get(r, "exact_copy_share", "member").value < 0.05);
}

/// Holdout output with a fraction `q` of its rows replaced by copied member flows.
fn dosed(g: &Groups, q: f64, seed: u64) -> Vec<HostTraffic> {
    let mut synth = pseudonymize(&g.holdout);
    let pool: Vec<(u32, crate::data::flow::Flow)> = g
        .members
        .iter()
        .flat_map(|h| h.flows.iter().map(move |f| (h.ip, *f)))
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for h in &mut synth {
        let ip = h.ip;
        for f in &mut h.flows {
            if rng.random::<f64>() < q {
                let (mip, mf) = pool[rng.random_range(0..pool.len())];
                *f = reassign(&mf, mip, ip);
            }
        }
        h.flows.sort_by_key(|f| f.te);
    }
    synth
}

#[test]
fn dose_response_is_monotone() {
    let g = groups();
    let c = PrivacyConfig {
        max_candidates: 600,
        reference_size: 600,
        classifier_rows: 300,
        classifier_trees: 5,
        host_flows: 10,
        diag_rows: 2500,
        diag_synthetic: 2500,
        null_reps: 0,
        bootstrap_reps: 0,
        ..cfg()
    };
    let mut prev: Option<(f64, f64, f64, f64)> = None;
    for q in [0.0, 0.01, 0.05, 0.20] {
        let synth = dosed(g, q, 3);
        let rep = evaluate_detailed("dose", &input(g, &synth), &c, 4).unwrap();
        let v = (
            get(&rep.rows, "auc", "exact_match").value,
            get(&rep.rows, "auc", "dcr").value,
            get(&rep.rows, "tpr_at_fpr_0.01", "dcr").value,
            get(&rep.rows, "dcr_share", "member").value,
        );
        eprintln!(
            "q {q}: exact_match auc {:.4}, dcr auc {:.4}, dcr tpr@1% {:.4}, dcr_share {:.4}",
            v.0, v.1, v.2, v.3
        );
        if let Some(p) = prev {
            assert!(
                v.0 >= p.0 && v.1 >= p.1 && v.2 >= p.2 && v.3 >= p.3,
                "q {q}: {v:?} after {p:?}"
            );
        }
        prev = Some(v);
    }
    let last = prev.unwrap();
    assert!(last.0 > 0.55 && last.1 > 0.55, "{last:?}");
}

#[test]
fn evaluate_is_deterministic_and_seed_sensitive() {
    let g = groups();
    let synth = dosed(g, 0.05, 1);
    let c = PrivacyConfig {
        max_candidates: 300,
        reference_size: 500,
        classifier_trees: 5,
        classifier_rows: 200,
        host_flows: 10,
        diag_rows: 1500,
        diag_synthetic: 1500,
        bootstrap_reps: 20,
        null_reps: 20,
        ..cfg()
    };
    let a = evaluate("x", &input(g, &synth), &c, 9).unwrap();
    let b = evaluate("x", &input(g, &synth), &c, 9).unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    let c2 = evaluate("x", &input(g, &synth), &c, 10).unwrap();
    assert_ne!(format!("{a:?}"), format!("{c2:?}"));
    // Stable layout: same (metric, subject) sequence for another seed.
    let key = |r: &[MetricRow]| {
        r.iter()
            .map(|x| (x.metric.clone(), x.subject.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&a), key(&c2));
    assert!(
        a.iter()
            .all(|r| r.section == "privacy" && r.generator == "x")
    );
    // Bad settings are refused.
    let bad = PrivacyConfig {
        confidence: 1.0,
        ..c
    };
    assert!(evaluate("x", &input(g, &synth), &bad, 9).is_err());
    assert!(evaluate("x", &input(g, &[]), &cfg(), 9).is_err());
}

#[test]
fn shadow_attack_catches_a_copying_generator_only() {
    let g = groups();
    let released = pseudonymize(&g.members);
    let sc = ShadowConfig {
        target_flows: 100,
        reference_rows: 2000,
        ..Default::default()
    };
    let retrainings = std::cell::Cell::new(0);
    let copy = |train: &[HostTraffic], _seed: u64| -> Result<Vec<HostTraffic>> {
        retrainings.set(retrainings.get() + 1);
        Ok(pseudonymize(train))
    };
    let rows = shadow_attack("copy", &input(g, &released), &sc, &copy, 7).unwrap();
    let auc = get(&rows, "auc", "shadow");
    let per: Vec<f64> = (1..=sc.targets.min(g.members.len()))
        .map(|r| get(&rows, "auc", &format!("shadow/target{r}")).value)
        .collect();
    let eps = get(&rows, "epsilon_lb", "shadow").value;
    eprintln!(
        "shadow copy auc {:.3} n {} epsilon_lb {eps:.3}; per target {per:?}",
        auc.value, auc.n
    );
    // A target whose flows all have exact twins in other members' traffic is invisible even
    // to a copy (its OUT statistic is 0 as well); the most outlying ones are not.
    assert!(auc.value > 0.95, "{}", auc.value);
    assert_eq!(per[0], 1.0);
    assert!(eps > 1.0, "{eps}");
    // Every target scores the 6 shared retrainings (out of 3 of them): 20 x 6 trials from 6
    // retrainings.
    let targets = sc.targets.min(g.members.len());
    assert_eq!(auc.n, targets as u64, "the interval resamples targets");
    assert_eq!(retrainings.get(), 6);
    let n_neg = get(&rows, "n_neg", "shadow");
    assert_eq!(
        (n_neg.value, n_neg.n),
        ((targets * 3) as f64, (targets * 6) as u64)
    );
    assert!(
        get(&rows, "outlier_score", "shadow/target1").value
            >= get(&rows, "outlier_score", "shadow/target2").value
    );
    // A generator that ignores its training data: every statistic is equal -> AUC 0.5.
    let holdout = pseudonymize(&g.holdout);
    let fixed = |_: &[HostTraffic], _seed: u64| -> Result<Vec<HostTraffic>> { Ok(holdout.clone()) };
    let rows = shadow_attack("holdout", &input(g, &holdout), &sc, &fixed, 7).unwrap();
    assert_eq!(get(&rows, "auc", "shadow").value, 0.5);
    assert_eq!(get(&rows, "advantage", "shadow").value, 0.0);
    // One that ignores its training data but differs per retraining (a seeded half of the
    // holdout flows): no leak, and at the default sizes the pooled AUC's interval is narrow
    // enough to say so.
    let half = |_: &[HostTraffic], seed: u64| -> Result<Vec<HostTraffic>> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        Ok(holdout
            .iter()
            .map(|h| HostTraffic {
                ip: h.ip,
                flows: h
                    .flows
                    .iter()
                    .filter(|_| rng.random::<bool>())
                    .copied()
                    .collect(),
            })
            .collect())
    };
    let rows = shadow_attack("noise", &input(g, &half(&[], 99).unwrap()), &sc, &half, 7).unwrap();
    let auc = get(&rows, "auc", "shadow");
    let (lo, hi) = (auc.ci_low.unwrap(), auc.ci_high.unwrap());
    eprintln!(
        "shadow no-leak auc {:.3} [{lo:.3}, {hi:.3}] n {}",
        auc.value, auc.n
    );
    assert!(lo <= 0.5 && 0.5 <= hi && hi - lo <= 0.3, "[{lo}, {hi}]");
    assert_eq!(get(&rows, "epsilon_lb", "shadow").value, 0.0);
}

#[test]
fn standardise_hand_values() {
    // mean 2, sample sd 1.
    assert_eq!(shadow::standardise(&[1.0, 2.0, 3.0]), vec![-1.0, 0.0, 1.0]);
    assert_eq!(shadow::standardise(&[4.0, 4.0]), vec![0.0, 0.0]);
}

#[test]
fn roc_plot_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("roc.svg");
    let curves = vec![
        (
            "dcr".to_string(),
            vec![(0.0, 0.0), (0.001, 0.2), (0.1, 0.6), (1.0, 1.0)],
        ),
        (
            "classifier".to_string(),
            vec![(0.0, 0.0), (0.5, 0.5), (1.0, 1.0)],
        ),
    ];
    plot_roc(&p, "copy", &curves).unwrap();
    let svg = std::fs::read_to_string(&p).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("dcr") && svg.contains("classifier"));
}
