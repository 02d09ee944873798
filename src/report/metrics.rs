//! The one result format: `metrics.csv` rows.

use serde::{Deserialize, Serialize};

/// One figure of a run. `metrics.csv` has exactly these columns, in this order:
/// `section,generator,metric,subject,value,ci_low,ci_high,n`.
///
/// Metric names are lower_snake_case; `subject` says what the metric is about (an attribute, a
/// rule, an attack, `detector/attack`, ...). `ci_low`/`ci_high` are empty when a figure is not
/// random; `n` is the sample size the figure rests on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    pub section: String,
    pub generator: String,
    pub metric: String,
    pub subject: String,
    pub value: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub n: u64,
}

impl MetricRow {
    pub fn new(
        section: &str,
        generator: &str,
        metric: &str,
        subject: &str,
        value: f64,
        n: usize,
    ) -> Self {
        MetricRow {
            section: section.into(),
            generator: generator.into(),
            metric: metric.into(),
            subject: subject.into(),
            value,
            ci_low: None,
            ci_high: None,
            n: n as u64,
        }
    }
    pub fn with_ci(mut self, lo: f64, hi: f64) -> Self {
        self.ci_low = Some(lo);
        self.ci_high = Some(hi);
        self
    }
}
