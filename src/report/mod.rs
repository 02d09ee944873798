//! Result rows, `metrics.csv` I/O and the human tables built from them.

pub mod headline;
pub mod html;
pub mod metrics;
pub mod tables;

pub use metrics::MetricRow;

use crate::data::write::atomic_write;
use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Write `metrics.csv` atomically. Floats use Rust's shortest round-trip formatting, so equal
/// values give equal bytes and reading back gives the same `f64`.
pub fn write_metrics(path: &Path, rows: &[MetricRow]) -> Result<()> {
    atomic_write(path, |w| {
        writeln!(w, "section,generator,metric,subject,value,ci_low,ci_high,n")?;
        for r in rows {
            let o = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
            writeln!(
                w,
                "{},{},{},{},{},{},{},{}",
                r.section,
                r.generator,
                r.metric,
                r.subject,
                r.value,
                o(r.ci_low),
                o(r.ci_high),
                r.n
            )?;
        }
        Ok(())
    })
}

pub fn read_metrics(path: &Path) -> Result<Vec<MetricRow>> {
    let mut rdr = csv::Reader::from_path(path).map_err(|e| Error::Csv {
        path: path.into(),
        source: e,
    })?;
    rdr.deserialize()
        .map(|r| {
            r.map_err(|e| Error::Csv {
                path: path.into(),
                source: e,
            })
        })
        .collect()
}

/// Write `tables.md`, `tables.csv` and `tables.tex` for `rows` into `dir`.
pub fn write_tables(dir: &Path, rows: &[MetricRow], heading: &str) -> Result<()> {
    let t = tables::pivot(rows);
    crate::data::write::atomic_write_str(
        &dir.join("tables.md"),
        &format!("# {heading}\n\n{}", tables::to_markdown(&t)),
    )?;
    crate::data::write::atomic_write_str(&dir.join("tables.csv"), &tables::to_csv(&t))?;
    crate::data::write::atomic_write_str(&dir.join("tables.tex"), &tables::to_latex(&t))
}
