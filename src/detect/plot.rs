//! ROC-curve plots (SVG via plotters).

use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

/// Keep at most ~`max_points` points of a ROC curve: a point is kept when it moved at least
/// `1/max_points` in FPR or TPR since the last kept one (the last point is always kept), so the
/// SVG stays small while the drawn curve is unchanged to the eye.
pub fn thin(curve: &[(f64, f64)], max_points: usize) -> Vec<(f64, f64)> {
    let step = 1.0 / max_points.max(2) as f64;
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (i, &p) in curve.iter().enumerate() {
        let keep = match out.last() {
            None => true,
            Some(&(x, y)) => {
                (p.0 - x).abs() >= step || (p.1 - y).abs() >= step || i + 1 == curve.len()
            }
        };
        if keep {
            out.push(p);
        }
    }
    out
}

/// One SVG with a ROC curve per `(name, curve)` and the chance diagonal.
pub fn roc_svg(path: &Path, title: &str, curves: &[(String, Vec<(f64, f64)>)]) -> Result<()> {
    let err = |e: String| Error::Other(format!("plot {}: {e}", path.display()));
    let root = SVGBackend::new(path, (640, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(44)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("false positive rate")
        .y_desc("true positive rate")
        .draw()
        .map_err(|e| err(e.to_string()))?;
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))
        .map_err(|e| err(e.to_string()))?;
    for (i, (name, c)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(c.iter().copied(), color.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thin_keeps_ends_and_big_moves() {
        let c: Vec<(f64, f64)> = (0..=1000)
            .map(|i| (i as f64 / 1000.0, i as f64 / 1000.0))
            .collect();
        let t = thin(&c, 100);
        assert_eq!(t.first(), Some(&(0.0, 0.0)));
        assert_eq!(t.last(), Some(&(1.0, 1.0)));
        assert!(t.len() <= 102 && t.len() >= 90, "{}", t.len());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("roc.svg");
        roc_svg(&p, "t", &[("real".into(), t)]).unwrap();
        let s = std::fs::read_to_string(&p).unwrap();
        assert!(s.starts_with("<svg") && s.contains("real"));
    }
}
