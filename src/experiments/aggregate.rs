//! `stan report`: rebuild tables from result folders alone (no retraining), aggregating seeds.
//!
//! Runs are grouped by experiment and sweep cell (the cell's keys except `seed`); each figure
//! gets the mean over seeds, the sample standard deviation, and a 95 % Student-t interval
//! (`mean ± t(0.975, n-1) · sd / √n`). With a single seed the run's own CI (e.g. a bootstrap
//! interval) is carried over. `sources.csv` lists every run folder used, so each number traces
//! to its manifest.
//!
//! Partial runs (a generator failed, see [`crate::run`]) are used with the rows they wrote:
//! the figures of their ok generators, and of the steps that succeeded for a failed one, are
//! exactly those the run would have written had every generator succeeded (every evaluation is
//! seeded per generator; detect's by the generator's place in the spec, which a failed one
//! keeps), so they aggregate with complete runs' figures. A failed step wrote no
//! rows, so its figures aggregate over fewer seeds, which the `seeds` column shows; the failure
//! itself is a `status`/`failed` row (value 1, `seeds` = the runs in which that step failed).
//! `sources.csv` gives each run's status and failed generators, and every partial run is
//! named in a warning.

use crate::error::{Error, Result};
use crate::report::{MetricRow, read_metrics};
use crate::run::manifest::{Manifest, RunStatus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A finished run found on disk.
#[derive(Clone, Debug)]
pub struct FoundRun {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub rows: Vec<MetricRow>,
}

/// Find finished runs (complete or partial) under `roots` (any depth); folders of unfinished
/// runs are skipped with a warning, partial ones used with a warning naming the failures.
pub fn find_runs(roots: &[PathBuf]) -> Result<Vec<FoundRun>> {
    let mut out = Vec::new();
    for root in roots {
        walk(root, &mut out)?;
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<FoundRun>) -> Result<()> {
    let m = dir.join("manifest.json");
    if m.is_file() {
        let manifest = Manifest::read(&m)?;
        if !manifest.status.is_finished() {
            tracing::warn!(dir = %dir.display(), "skipping unfinished run");
            return Ok(());
        }
        if manifest.status == RunStatus::Partial {
            tracing::warn!(
                dir = %dir.display(),
                failed = %failed_list(&manifest),
                "partial run: using the figures it wrote"
            );
        }
        let rows = read_metrics(&dir.join("metrics.csv"))?;
        out.push(FoundRun {
            dir: dir.to_path_buf(),
            manifest,
            rows,
        });
        return Ok(());
    }
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut subs: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subs.sort();
    for s in subs {
        walk(&s, out)?;
    }
    Ok(())
}

/// `<generator>: <error>; ...` of a run's failed generators (empty for a complete run).
fn failed_list(m: &Manifest) -> String {
    m.failed_generators()
        .iter()
        .map(|(g, e)| format!("{g}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Label of a run's group: experiment plus its non-seed cell keys.
pub fn group_label(m: &Manifest) -> String {
    let cell: Vec<String> = m
        .cell
        .iter()
        .filter(|(k, _)| k.as_str() != "seed")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if cell.is_empty() {
        m.experiment.clone()
    } else {
        format!("{} [{}]", m.experiment, cell.join(", "))
    }
}

/// One aggregated figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    pub group: String,
    pub row: MetricRow,
    pub std: f64,
    pub seeds: usize,
}

/// Aggregate runs over seeds. The output `row.value` is the mean and `ci_*` the interval.
pub fn aggregate(runs: &[FoundRun]) -> Vec<Aggregate> {
    let mut order: Vec<(String, String, String, String, String)> = Vec::new();
    let mut groups: BTreeMap<(String, String, String, String, String), Vec<&MetricRow>> =
        BTreeMap::new();
    for r in runs {
        let g = group_label(&r.manifest);
        for m in &r.rows {
            let k = (
                g.clone(),
                m.section.clone(),
                m.generator.clone(),
                m.metric.clone(),
                m.subject.clone(),
            );
            if !groups.contains_key(&k) {
                order.push(k.clone());
            }
            groups.entry(k).or_default().push(m);
        }
    }
    order
        .into_iter()
        .map(|k| {
            let ms = &groups[&k];
            let vals: Vec<f64> = ms.iter().map(|m| m.value).collect();
            let n = vals.len();
            let mean = crate::stats::mean(&vals);
            let sd = crate::stats::std_dev(&vals);
            let (lo, hi) = if n >= 2 {
                use statrs::distribution::{ContinuousCDF, StudentsT};
                let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
                    .map(|d| d.inverse_cdf(0.975))
                    .unwrap_or(f64::NAN);
                let h = t * sd / (n as f64).sqrt();
                (Some(mean - h), Some(mean + h))
            } else {
                (ms[0].ci_low, ms[0].ci_high)
            };
            let mut row = MetricRow::new(
                &k.1,
                &k.2,
                &k.3,
                &k.4,
                mean,
                ms.iter().map(|m| m.n as usize).sum::<usize>() / n.max(1),
            );
            row.ci_low = lo;
            row.ci_high = hi;
            Aggregate {
                group: k.0,
                row,
                std: sd,
                seeds: n,
            }
        })
        .collect()
}

/// Write `summary.csv`, `sources.csv`, `tables.{md,csv,tex}`, `headline.md` and `report.html`
/// into `out` (created if missing). A run folder (one with a `manifest.json`) is refused as
/// `out`: its own `tables.*` would be overwritten by the aggregate's.
pub fn write_report(runs: &[FoundRun], aggs: &[Aggregate], out: &Path) -> Result<()> {
    use std::fmt::Write as _;
    if out.join("manifest.json").exists() {
        return Err(Error::Invalid(format!(
            "{} is a run folder: `stan report` does not write over a run's files; give another --out",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut s =
        String::from("group,section,generator,metric,subject,mean,std,ci_low,ci_high,seeds,n\n");
    for a in aggs {
        let o = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
        let r = &a.row;
        let _ = writeln!(
            s,
            "\"{}\",{},{},{},{},{},{},{},{},{},{}",
            a.group.replace('"', "'"),
            r.section,
            r.generator,
            r.metric,
            r.subject,
            r.value,
            a.std,
            o(r.ci_low),
            o(r.ci_high),
            a.seeds,
            r.n
        );
    }
    crate::data::write::atomic_write_str(&out.join("summary.csv"), &s)?;
    let mut src =
        String::from("dir,experiment,run_id,seed,spec_hash,git_revision,cell,status,failed\n");
    for r in runs {
        let m = &r.manifest;
        let cell: Vec<String> = m.cell.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            src,
            "{},{},{},{},{},{},\"{}\",{},\"{}\"",
            r.dir.display(),
            m.experiment,
            m.run_id,
            m.seed,
            m.spec_hash,
            m.git_revision.clone().unwrap_or_default(),
            cell.join("; ").replace('"', "'"),
            m.status,
            failed_list(m).replace('"', "'")
        );
    }
    crate::data::write::atomic_write_str(&out.join("sources.csv"), &src)?;
    // Tables: the group becomes part of the generator label when there is more than one group.
    let many = aggs
        .iter()
        .map(|a| &a.group)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    let rows: Vec<MetricRow> = aggs
        .iter()
        .map(|a| {
            let mut r = a.row.clone();
            if many {
                r.generator = format!("{} {}", a.group, r.generator);
            }
            r
        })
        .collect();
    crate::report::write_tables(out, &rows, "stan report (mean over seeds)")?;
    write_headline(runs, aggs, out)
}

/// `headline.md` and `report.html` of the aggregates: one set of headline tables per group.
fn write_headline(runs: &[FoundRun], aggs: &[Aggregate], out: &Path) -> Result<()> {
    use crate::report::headline::Headline;
    use crate::report::html::{Page, machine_line};
    let mut groups: Vec<String> = Vec::new();
    for a in aggs {
        if !groups.contains(&a.group) {
            groups.push(a.group.clone());
        }
    }
    let many = groups.len() > 1;
    let headlines: Vec<(Option<String>, Headline)> = groups
        .iter()
        .map(|g| {
            let rows: Vec<MetricRow> = aggs
                .iter()
                .filter(|a| &a.group == g)
                .map(|a| a.row.clone())
                .collect();
            (many.then(|| g.clone()), Headline::build(&rows))
        })
        .collect();
    let mut md = String::from("# stan report: headline (mean over seeds, 95 % interval)\n\n");
    for (g, h) in &headlines {
        if let Some(g) = g {
            md.push_str(&format!("## {g}\n\n"));
        }
        md.push_str(&h.to_markdown());
    }
    crate::data::write::atomic_write_str(&out.join("headline.md"), &md)?;

    // The setting: what differs between runs is listed, what they share said once.
    let distinct = |f: &dyn Fn(&FoundRun) -> String| -> String {
        let mut v: Vec<String> = Vec::new();
        for r in runs {
            let x = f(r);
            if !v.contains(&x) {
                v.push(x);
            }
        }
        v.join("; ")
    };
    let mut seeds: Vec<u64> = runs.iter().map(|r| r.manifest.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let setting = vec![
        (
            "spec".to_string(),
            distinct(&|r| r.manifest.experiment.clone()),
        ),
        (
            "runs".into(),
            format!("{} ({} seeds: {:?})", runs.len(), seeds.len(), seeds),
        ),
        (
            "data".into(),
            distinct(&|r| format!("{} ({} flows)", r.manifest.data.path, r.manifest.data.flows)),
        ),
        (
            "hosts per role".into(),
            distinct(&|r| {
                let s = &r.manifest.split;
                format!(
                    "{} members, {} non-members, {} holdout, {} reference",
                    s.members.len(),
                    s.nonmembers.len(),
                    s.holdout.len(),
                    s.reference.len()
                )
            }),
        ),
        (
            "training window".into(),
            distinct(&|r| {
                format!(
                    "{} to {}",
                    r.manifest.split.train_window.0, r.manifest.split.train_window.1
                )
            }),
        ),
        (
            "generation window".into(),
            distinct(&|r| {
                format!(
                    "{} to {}",
                    r.manifest.split.test_window.0, r.manifest.split.test_window.1
                )
            }),
        ),
        (
            "revision".into(),
            distinct(&|r| {
                r.manifest
                    .build_revision
                    .clone()
                    .unwrap_or_else(|| "unknown".into())
            }),
        ),
        (
            "machine".into(),
            distinct(&|r| machine_line(&r.manifest.machine)),
        ),
        (
            "status".into(),
            distinct(&|r| r.manifest.status.to_string()),
        ),
    ];
    let links = [
        ("headline.md", "these headline tables as Markdown"),
        ("tables.md", "every figure, mean over seeds"),
        (
            "summary.csv",
            "every figure: mean, sd, 95 % interval, seeds",
        ),
        (
            "sources.csv",
            "every run folder used, with its revision and status",
        ),
    ]
    .iter()
    .map(|(h, w)| (h.to_string(), w.to_string()))
    .collect();
    Page {
        title: format!("stan report: {}", distinct(&|r| r.manifest.experiment.clone())),
        lead: "Seed aggregates: each figure is the mean over seeds with its 95 % Student-t interval (a single seed keeps its run's own interval).".into(),
        setting,
        groups: headlines,
        plots: Vec::new(),
        links,
    }
    .write(&out.join("report.html"))
}
