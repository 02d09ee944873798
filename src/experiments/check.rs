//! `stan check`: compare a run's metrics with thresholds (regression tests on metric values).
//!
//! `thresholds.toml` holds `[[threshold]]` tables: `metric`, `generator`, `subject` (`"*"` =
//! every subject), optional `section`, `min` and/or `max`, and a `reason`. A threshold that
//! matches no row is itself a violation: a metric that silently disappeared must fail too.
//!
//! Bounds belong to one spec: a bound calibrated on `ci.toml`'s one hour of traffic says
//! nothing about the quickstart's four. So a spec's thresholds live beside it, as
//! `<spec stem>.thresholds.toml` ([`beside`]); `stan run` copies that file into the run folder
//! as [`RUN_FILE`], and `stan check RUN` applies the copy unless `--thresholds` names another.

use crate::error::{Error, Result};
use crate::report::MetricRow;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub metric: String,
    pub generator: String,
    #[serde(default = "star")]
    pub subject: String,
    #[serde(default)]
    pub section: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub reason: String,
}

fn star() -> String {
    "*".into()
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    #[serde(default)]
    pub threshold: Vec<Threshold>,
}

impl Thresholds {
    pub fn load(path: &Path) -> Result<Thresholds> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let t: Thresholds = toml::from_str(&text).map_err(|e| Error::Spec {
            key: path.display().to_string(),
            reason: e.to_string(),
        })?;
        for (i, th) in t.threshold.iter().enumerate() {
            if th.min.is_none() && th.max.is_none() {
                return Err(Error::Spec {
                    key: format!("threshold[{i}]"),
                    reason: "needs `min` and/or `max`".into(),
                });
            }
        }
        Ok(t)
    }
}

/// The name of a run folder's own thresholds (copied from beside its spec by `stan run`).
pub const RUN_FILE: &str = "thresholds.toml";

/// The thresholds file that belongs to `spec`: `<dir>/<stem>.thresholds.toml` beside it, when
/// that file exists.
///
/// ```
/// use std::path::Path;
/// let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/ci.toml");
/// let th = stan::experiments::check::beside(&p).unwrap();
/// assert!(th.ends_with("experiments/ci.thresholds.toml"));
/// assert!(stan::experiments::check::Thresholds::load(&th).is_ok());
/// ```
pub fn beside(spec: &Path) -> Option<std::path::PathBuf> {
    let stem = spec.file_stem()?.to_str()?;
    let p = spec.with_file_name(format!("{stem}.thresholds.toml"));
    p.is_file().then_some(p)
}

/// Every violation, as a human-readable line.
pub fn check(rows: &[MetricRow], thresholds: &Thresholds) -> Vec<String> {
    let mut out = Vec::new();
    for th in &thresholds.threshold {
        let matching: Vec<&MetricRow> = rows
            .iter()
            .filter(|r| {
                r.metric == th.metric
                    && r.generator == th.generator
                    && (th.subject == "*" || r.subject == th.subject)
            })
            .filter(|r| th.section.as_ref().is_none_or(|s| &r.section == s))
            .collect();
        if matching.is_empty() {
            out.push(format!(
                "{}/{}/{}: no such metric in the run ({})",
                th.generator, th.metric, th.subject, th.reason
            ));
        }
        for r in matching {
            // NaN violates every bound.
            let low = th.min.is_some_and(|m| r.value.is_nan() || r.value < m);
            let high = th.max.is_some_and(|m| r.value.is_nan() || r.value > m);
            if low || high {
                out.push(format!(
                    "{}/{}/{}/{} = {} violates {}{} ({})",
                    r.section,
                    r.generator,
                    r.metric,
                    r.subject,
                    r.value,
                    th.min.map(|m| format!("min {m} ")).unwrap_or_default(),
                    th.max.map(|m| format!("max {m}")).unwrap_or_default(),
                    th.reason
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_and_missing_metrics_are_reported() {
        let rows = vec![
            MetricRow::new("fidelity", "copy", "jsd", "pr", 0.001, 10),
            MetricRow::new("fidelity", "copy", "jsd", "dp", 0.2, 10),
            MetricRow::new("privacy", "copy", "auc", "dcr", f64::NAN, 10),
        ];
        let t: Thresholds = toml::from_str(
            r#"
            [[threshold]]
            metric = "jsd"
            generator = "copy"
            max = 0.1
            reason = "copy must be close"
            [[threshold]]
            metric = "auc"
            generator = "copy"
            subject = "dcr"
            min = 0.9
            reason = "copy leaks"
            [[threshold]]
            metric = "ks"
            generator = "stan"
            max = 1.0
            reason = "present"
            "#,
        )
        .unwrap();
        let v = check(&rows, &t);
        assert_eq!(v.len(), 3, "{v:#?}");
        assert!(v[0].contains("jsd/dp"));
        assert!(v[1].contains("NaN"));
        assert!(v[2].contains("no such metric"));
    }
}
