//! Log-log ROC plot (SVG) of several attacks, as recommended for membership inference (the
//! low-FPR corner is where a confident attack shows).

use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

/// Smallest FPR / TPR drawn; points at 0 are drawn at this floor.
pub const LOG_FLOOR: f64 = 1e-4;

fn perr<E: std::fmt::Debug>(e: E) -> Error {
    Error::Other(format!("plot: {e:?}"))
}

/// Draw `(attack, ROC curve)` pairs on log-log axes (FPR, TPR in [1e-4, 1]) with the diagonal,
/// and write an SVG to `path`. Curves are thinned to at most 2000 points.
pub fn plot_roc(path: &Path, title: &str, curves: &[(String, Vec<(f64, f64)>)]) -> Result<()> {
    let root = SVGBackend::new(path, (720, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(perr)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(
            (LOG_FLOOR..1.0f64).log_scale(),
            (LOG_FLOOR..1.0f64).log_scale(),
        )
        .map_err(perr)?;
    chart
        .configure_mesh()
        .x_desc("false positive rate")
        .y_desc("true positive rate")
        .draw()
        .map_err(perr)?;
    let diag: Vec<(f64, f64)> = (0..=40)
        .map(|i| 10f64.powf(-4.0 + i as f64 * 0.1))
        .map(|x| (x, x))
        .collect();
    chart
        .draw_series(LineSeries::new(diag, BLACK.mix(0.35)))
        .map_err(perr)?;
    for (i, (name, c)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let step = c.len().div_ceil(2000).max(1);
        let mut pts: Vec<(f64, f64)> = c
            .iter()
            .step_by(step)
            .map(|&(f, t)| (f.max(LOG_FLOOR), t.max(LOG_FLOOR)))
            .collect();
        if let Some(&(f, t)) = c.last() {
            pts.push((f.max(LOG_FLOOR), t.max(LOG_FLOOR)));
        }
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(perr)?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(perr)?;
    root.present().map_err(perr)?;
    Ok(())
}
