//! End-to-end: external generators (`[external.*]`, src/generator/external.rs).
//!
//! One run fits `copy` beside five command generators on eight hosts of the embedded day over
//! one hour without a time split (a few seconds): the reference adapter `raw`
//! (scripts/generators/raw.sh, which replays each member's flows under its pseudonym, so
//! membership inference must succeed as against `copy`), a command that exits 1, one that
//! outlives its `timeout_s`, one that writes a malformed line and one that writes a flow
//! outside the generation window. Each failure must fail that generator only. A second run
//! takes the first run's `raw` output as a file generator.

use std::path::PathBuf;
use std::process::Output;
use std::sync::OnceLock;

#[path = "common/cli.rs"]
mod cli;
use cli::{manifest, run_dir, stan, text};

/// The value of `section,generator,metric,subject` in a metrics.csv.
fn metric(metrics: &str, key: &str) -> f64 {
    let line = metrics
        .lines()
        .find(|l| l.starts_with(&format!("{key},")))
        .unwrap_or_else(|| panic!("metrics.csv lacks {key}"));
    line.split(',').nth(4).unwrap().parse().unwrap()
}

/// The shared part of both specs: eight hosts, one hour, fidelity and privacy only, small
/// evaluation budgets.
const COMMON: &str = r#"
evaluations = ["fidelity", "privacy"]
plots = false

[data]
hosts = ["42.219.170.246", "42.219.153.71", "42.219.153.82", "42.219.155.91",
         "42.219.153.16", "42.219.156.190", "42.219.156.188", "42.219.155.30"]
start = "2016-04-11 09:00:00"
end = "2016-04-11 10:00:00"

[split]
stratify = false
seed = 5

[fidelity]
bootstrap_reps = 20
detection_trees = 5

[privacy]
max_candidates = 300
reference_size = 300
bootstrap_reps = 20
null_reps = 5
classifier_trees = 5
diag_rows = 2000

[privacy.shadow]
targets = 1
shadows = 2
"#;

struct Run {
    tmp: tempfile::TempDir,
    out: Output,
    dir: PathBuf,
    metrics: String,
    manifest: serde_json::Value,
}

/// The run with the command generators, made once for every test here.
fn commands() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let bad = tmp.path().join("bad.sh");
        std::fs::write(
            &bad,
            "echo 'te,td,sa,da,sp,dp,pr,flg,fwd,stos,pkt,byt,label' > \"$3\"\n\
             echo '2016-04-11 09:10:00,0.5,42.219.240.1,1.2.3.4,80,notaport,TCP,.A....,0,0,1,40,background' >> \"$3\"\n\
             echo 'writing a bad line' >&2\n",
        )
        .unwrap();
        let late = tmp.path().join("late.sh");
        std::fs::write(
            &late,
            "echo '2016-04-11 12:00:00,0.5,42.219.240.1,1.2.3.4,80,80,TCP,.A....,0,0,1,40,background' > \"$3\"\n",
        )
        .unwrap();
        let spec = format!(
            r#"name = "external"
seed = 1
generators = ["copy", "raw", "fails", "slow", "bad", "late"]
{COMMON}
[external.raw]
command = ["sh", "scripts/generators/raw.sh"]
timeout_s = 60

[external.fails]
command = ["false"]

[external.slow]
command = ["sh", "-c", "sleep 30"]
timeout_s = 1

[external.bad]
command = ["sh", "{}"]

[external.late]
command = ["sh", "{}"]
"#,
            bad.display(),
            late.display()
        );
        let path = tmp.path().join("external.toml");
        std::fs::write(&path, &spec).unwrap();
        let res = tmp.path().join("res");
        // A log of an earlier attempt in the same run folder, which the run must clear.
        let run_id = stan::spec::Spec::from_toml(&spec, "external").unwrap().run_id();
        let stale = res.join("external").join(run_id).join("external/raw");
        std::fs::create_dir_all(&stale).unwrap();
        std::fs::write(stale.join("stderr-shadow-9.txt"), "earlier attempt").unwrap();
        let out = stan(&["run", path.to_str().unwrap(), "--out", res.to_str().unwrap()]);
        let dir = run_dir(&out);
        let metrics = std::fs::read_to_string(dir.join("metrics.csv"))
            .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stderr)));
        let manifest = manifest(&dir);
        Run {
            tmp,
            out,
            dir,
            metrics,
            manifest,
        }
    })
}

fn error_of(run: &Run, g: &str) -> String {
    let gen_ = &run.manifest["generators"][g];
    assert_eq!(gen_["status"], "failed", "{g}: {gen_}");
    gen_["error"].as_str().unwrap().to_string()
}

/// (a) `raw` goes through the protocol and replays the members' flows: membership inference
/// succeeds as it does against `copy`; its stderr is kept in the run folder (an earlier
/// attempt's logs there are cleared), and the shadow attack retrains it through the command
/// too.
#[test]
fn raw_adapter_replays_the_members() {
    let run = commands();
    let g = &run.manifest["generators"]["raw"];
    assert_eq!(g["status"], "ok", "{g}");
    assert!(g["flows"].as_u64().unwrap() > 0);
    assert_eq!(g["flows"], run.manifest["generators"]["copy"]["flows"]);
    let exact = metric(&run.metrics, "privacy,raw,auc,exact_match");
    let dcr = metric(&run.metrics, "privacy,raw,auc,dcr");
    assert!(exact >= 0.9, "exact-match AUC {exact}");
    assert!(dcr >= 0.9, "DCR AUC {dcr}");
    assert_eq!(dcr, metric(&run.metrics, "privacy,copy,auc,dcr"));
    assert!(run.metrics.contains("\nprivacy,raw,auc,shadow,"));
    assert!(run.metrics.contains("\nfidelity,raw,jsd_mean,all,"));
    let logs = run.dir.join("external/raw");
    assert!(logs.join("stderr-release.txt").is_file());
    assert!(logs.join("stderr-shadow-1.txt").is_file());
    assert!(
        !logs.join("stderr-shadow-9.txt").exists(),
        "an earlier attempt's log"
    );
    assert!(run.dir.join("synthetic/raw.csv.gz").is_file());
}

/// (b) A command that exits 1 fails that generator only, naming the command and the status;
/// the others are evaluated and `stan run` exits non-zero with a partial run.
#[test]
fn failing_command_fails_only_its_generator() {
    let run = commands();
    assert!(
        !run.out.status.success(),
        "a partial run must fail the command"
    );
    assert_eq!(run.manifest["status"], "partial");
    let e = error_of(run, "fails");
    assert!(e.starts_with("generate: "), "{e}");
    assert!(e.contains("`false`") && e.contains("exit status 1"), "{e}");
    assert!(
        run.metrics
            .contains("\nstatus,fails,failed,generate,1,,,0\n")
    );
    for ok in ["copy", "raw"] {
        assert!(!run.metrics.contains(&format!("status,{ok},")), "{ok}");
        assert!(
            run.metrics.contains(&format!("\nprivacy,{ok},auc,dcr,")),
            "{ok}"
        );
    }
}

/// (c) A command that outlives `timeout_s` is killed and fails that generator only.
#[test]
fn timeout_kills_the_command() {
    let run = commands();
    let e = error_of(run, "slow");
    assert!(
        e.contains("`sh -c sleep 30`") && e.contains("timed out after 1 s"),
        "{e}"
    );
    assert!(
        run.metrics
            .contains("\nstatus,slow,failed,generate,1,,,0\n")
    );
}

/// (d) Malformed output names the file, line and column (and the command's stderr); a flow
/// outside the generation window is bad output too.
#[test]
fn bad_output_names_file_line_and_column() {
    let run = commands();
    let e = error_of(run, "bad");
    assert!(e.contains("out.csv:2: column `dp`"), "{e}");
    assert!(
        e.contains("exited with status 0") && e.contains("writing a bad line"),
        "{e}"
    );
    let e = error_of(run, "late");
    assert!(e.contains("out.csv:1: column `te`"), "{e}");
    assert!(e.contains("outside the generation window"), "{e}");
    let _ = &run.tmp;
}

/// (e) A file generator (here `raw`'s released output of the first run) is evaluated without
/// retraining; its shadow attack is skipped with a `status` row, and the run is complete.
#[test]
fn file_generator_is_evaluated_and_its_shadow_attack_skipped() {
    let first = commands();
    let file = first.dir.join("synthetic/raw.csv.gz");
    let tmp = tempfile::tempdir().unwrap();
    let spec = format!(
        "name = \"external-file\"\nseed = 1\ngenerators = [\"copy\", \"fixed\"]\n{COMMON}\n\
         [external.fixed]\nfile = \"{}\"\n",
        file.display()
    );
    let path = tmp.path().join("file.toml");
    std::fs::write(&path, spec).unwrap();
    let res = tmp.path().join("res");
    let out = stan(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        res.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = run_dir(&out);
    assert_eq!(manifest(&dir)["status"], "complete");
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert!(metrics.contains("\nstatus,fixed,skipped,privacy.shadow,1,,,0\n"));
    assert!(metrics.contains("\nfidelity,fixed,jsd_mean,all,"));
    assert!(metrics.contains("\nfidelity_train,fixed,"));
    assert!(metrics.contains("\nprivacy,copy,auc,shadow,"));
    assert!(!metrics.contains("\nprivacy,fixed,auc,shadow,"));
    assert!(metric(&metrics, "privacy,fixed,auc,exact_match") >= 0.9);
}

/// (f) Missing fields: a file generator in NetShare's layout (no flags, ToS or forwarding
/// status), here the members' training flows replayed under their pseudonyms (as `copy`),
/// gets no figure computed from the reader's fillers. Fidelity has no `flg`/`stos` rows nor
/// the rows that mix them in, detect has no protocol-detector rows for it, and each is marked
/// with a `status,<name>,missing,<section>.<field>` row; the privacy attacks run without the
/// flags on every side (`dropped` row), so exact match still finds the replayed members. The
/// built-in beside it is evaluated in full, and the manifest records both generators' fields.
#[test]
fn a_file_without_flags_and_tos_gets_no_score_on_them() {
    use stan::encode::pseudonym;
    let tmp = tempfile::tempdir().unwrap();
    let spec_text = |file: &str| {
        format!(
            "name = \"external-fields\"\nseed = 1\ngenerators = [\"independent\", \"ns\"]\n\
             {}\n[detect]\nseeds = 1\nreal_shares = [1.0, 0.0]\nbootstrap_reps = 20\n\
             max_train_flows = 1000\n\n[external.ns]\nfile = \"{file}\"\n",
            COMMON.replace(
                "evaluations = [\"fidelity\", \"privacy\"]",
                "evaluations = [\"fidelity\", \"detect\", \"privacy\"]"
            )
        )
    };
    let file = tmp.path().join("netshare.csv");
    // The members as the run fits them (`stan split`'s members.csv), host i under pseudonym i.
    let spec = stan::spec::Spec::from_toml(&spec_text(file.to_str().unwrap()), "fields").unwrap();
    let p = stan::run::prepare::Prepared::load(&spec).unwrap();
    let mut csv = String::from("srcip,dstip,srcport,dstport,proto,ts,td,pkt,byt,type\n");
    for (i, h) in p.members_train.iter().enumerate() {
        let own = |ip: u32| if ip == h.ip { pseudonym(i) } else { ip };
        for f in &h.flows {
            // NetShare's `ts` is the start in µs; the reader takes floor(ts / 1e6 + td) as te.
            let ts = f.te * 1_000_000 - (f.td * 1e6).round() as i64 + 500;
            csv.push_str(&format!(
                "{},{},{},{},{},{ts},{},{},{},background\n",
                own(f.sa),
                own(f.da),
                f.sp,
                f.dp,
                f.pr.0,
                f.td,
                f.pkt,
                f.byt
            ));
        }
    }
    std::fs::write(&file, csv).unwrap();
    let path = tmp.path().join("fields.toml");
    std::fs::write(&path, spec_text(file.to_str().unwrap())).unwrap();
    let res = tmp.path().join("res");
    let out = stan(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        res.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = run_dir(&out);
    let m = manifest(&dir);
    assert_eq!(m["status"], "complete");
    assert_eq!(
        m["generators"]["ns"]["fields"],
        serde_json::json!(["label"])
    );
    assert_eq!(
        m["generators"]["independent"]["fields"],
        serde_json::json!(["flg", "fwd", "stos", "label"])
    );
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let has = |prefix: &str| metrics.lines().any(|l| l.starts_with(prefix));
    for section in ["fidelity", "fidelity_train"] {
        for field in ["flg", "stos"] {
            assert!(
                metrics.contains(&format!("\nstatus,ns,missing,{section}.{field},1,,,0\n")),
                "{section}.{field}"
            );
            assert!(!has(&format!("{section},ns,jsd,{field},")));
            assert!(!has(&format!("{section},ns,jsd_distance,{field},")));
            assert!(has(&format!("{section},independent,jsd,{field},")));
        }
        for gone in [
            "jsd_mean,all,",
            "jsd_mean,categorical,",
            "cramers_v_diff,",
            "detection_auc,",
            "rule_violation,tcp_has_flags,",
            "rule_violation,any,",
        ] {
            assert!(!has(&format!("{section},ns,{gone}")), "{section} {gone}");
            assert!(
                has(&format!("{section},independent,{gone}")),
                "{section} {gone}"
            );
        }
        for kept in [
            "jsd,dp,",
            "jsd_mean,continuous,",
            "netshare_jsd,",
            "rule_violation,packets_positive,",
        ] {
            assert!(has(&format!("{section},ns,{kept}")), "{section} {kept}");
        }
    }
    // Detect: the protocol detector reads ToS, the bytes regressor and the paper's protocol
    // tree do not.
    assert!(metrics.contains("\nstatus,ns,missing,detect.stos,1,,,0\n"));
    let ns_detect = |l: &&str| l.starts_with("detect,ns,") || l.starts_with("detect,ns+");
    assert!(
        !metrics
            .lines()
            .filter(ns_detect)
            .any(|l| l.contains(",protocol,") || l.contains(",protocol/"))
    );
    for kept in [",bytes", ",protocol_tree"] {
        assert!(
            metrics.lines().filter(ns_detect).any(|l| l.contains(kept)),
            "{kept}"
        );
    }
    assert!(has("detect,independent,macro_f1,protocol,"));
    // Privacy: run without the flags on every side.
    assert!(metrics.contains("\nstatus,ns,dropped,privacy.flg,1,,,0\n"));
    assert!(metrics.contains("\nstatus,ns,skipped,privacy.shadow,1,,,0\n"));
    let exact = metric(&metrics, "privacy,ns,auc,exact_match");
    assert!(exact >= 0.9, "exact-match AUC {exact}");
    assert!(!has("status,independent,"));
}
