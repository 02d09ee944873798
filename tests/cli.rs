//! End-to-end tests of the data commands through the real binary.

use std::process::Command;

fn stan() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stan"))
}

#[test]
fn validate_lists_every_bad_line_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("flows.csv");
    std::fs::write(
        &p,
        "te,td,sa,da,sp,dp,pr,flg,fwd,stos,pkt,byt,label\n\
         2016-04-11 00:06:22,0.0,1.2.3.4,5.6.7.8,1,2,TCP,.A....,0,0,1,40,background\n\
         2016-04-11 00:06:23,0.0,1.2.3.999,5.6.7.8,1,2,TCP,.A....,0,0,1,40,background\n\
         2016-04-11 00:06:24,0.0,1.2.3.4,5.6.7.8,1,2,TCP,.A....,0,0,1,40,nonsense\n",
    )
    .unwrap();
    let out = stan().args(["data", "validate"]).arg(&p).output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("flows.csv:3: column `sa`: invalid value \"1.2.3.999\""),
        "{text}"
    );
    assert!(
        text.contains("flows.csv:4: column `label`: invalid value \"nonsense\""),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2);
}

#[test]
fn validate_accepts_real_data_and_stats_reports_it() {
    let root = env!("CARGO_MANIFEST_DIR");
    let f = format!("{root}/tests/data/day_1_42.219.145.151.csv");
    let out = stan().args(["data", "validate", &f]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = stan().args(["data", "stats", &f]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rows            7005"), "{text}");
    assert!(text.contains("TCP"), "{text}");
}

#[test]
fn stats_skip_invalid_reports_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.csv");
    std::fs::write(
        &p,
        "2016-04-11 00:06:22,0.0,1.2.3.4,5.6.7.8,1,2,TCP,.A....,0,0,1,40,background\n\
         2016-04-11 00:06:23,-1,1.2.3.4,5.6.7.8,1,2,TCP,.A....,0,0,1,40,background\n",
    )
    .unwrap();
    let strict = stan().args(["data", "stats"]).arg(&p).output().unwrap();
    assert!(!strict.status.success());
    assert!(String::from_utf8_lossy(&strict.stderr).contains("f.csv:2: column `td`"));
    let out = stan()
        .args(["data", "stats", "--skip-invalid"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rows            1") && text.contains("skipped invalid 1"),
        "{text}"
    );
}
