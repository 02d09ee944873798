//! SVG plots of real vs synthetic marginals, for eyeballing what the distance rows summarise.
//!
//! Files written to `dir` (created if missing):
//! * `marginal_<field>.svg` for `td`, `byt`, `pkt`, `gap` (x = `ln(1+x)`, the analysis scale of
//!   the metrics) and `tod` (x = hour of day): share of flows per bin, one line per traffic set,
//!   60 common bins over the union of all sets;
//! * `marginal_pr.svg`, `marginal_own_port.svg`, `marginal_remote_port.svg`: grouped bars of the
//!   share of flows per protocol / per port, categories ordered by real frequency (top 15 ports).

use super::view::{FlowColumns, log1p_all};
use crate::data::flow::Proto;
use crate::data::hosts::HostTraffic;
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

const PLOT_BINS: usize = 60;
const TOP_PORTS: usize = 15;
const SIZE: (u32, u32) = (800, 500);

fn perr(e: impl std::fmt::Debug) -> Error {
    Error::Other(format!("plot: {e:?}"))
}

/// Write the marginal plots of `real` and each named synthetic set into `dir`.
pub fn plot_marginals(
    dir: &Path,
    real: &[HostTraffic],
    synth: &[(&str, &[HostTraffic])],
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut sets: Vec<(&str, FlowColumns)> = vec![("real", FlowColumns::new(real))];
    for (name, hosts) in synth {
        sets.push((name, FlowColumns::new(hosts)));
    }
    for field in ["td", "byt", "pkt", "gap", "tod"] {
        let samples: Vec<(&str, Vec<f64>)> = sets
            .iter()
            .map(|(n, c)| {
                let v = match field {
                    "td" => log1p_all(&c.td),
                    "byt" => log1p_all(&c.byt),
                    "pkt" => log1p_all(&c.pkt),
                    "gap" => log1p_all(&c.gap),
                    _ => c.tod.iter().map(|t| t / 3600.0).collect(),
                };
                (*n, v)
            })
            .collect();
        let xlabel = if field == "tod" {
            "hour of day (UTC)".to_string()
        } else {
            format!("ln(1 + {field})")
        };
        line_plot(
            &dir.join(format!("marginal_{field}.svg")),
            field,
            &xlabel,
            &samples,
        )?;
    }
    let pr: Vec<(&str, Vec<u64>)> = sets
        .iter()
        .map(|(n, c)| (*n, c.pr.iter().map(|&p| p as u64).collect()))
        .collect();
    bar_plot(
        &dir.join("marginal_pr.svg"),
        "protocol",
        &pr,
        usize::MAX,
        |k| Proto(k as u8).name().to_string(),
    )?;
    for (file, title, pick) in [
        ("marginal_own_port.svg", "own port", 0usize),
        ("marginal_remote_port.svg", "remote port", 1),
    ] {
        let ports: Vec<(&str, Vec<u64>)> = sets
            .iter()
            .map(|(n, c)| {
                let v = if pick == 0 {
                    &c.own_port
                } else {
                    &c.remote_port
                };
                (*n, v.iter().map(|&p| p as u64).collect())
            })
            .collect();
        bar_plot(&dir.join(file), title, &ports, TOP_PORTS, |k| k.to_string())?;
    }
    Ok(())
}

fn line_plot(path: &Path, title: &str, xlabel: &str, samples: &[(&str, Vec<f64>)]) -> Result<()> {
    let finite = || {
        samples
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .filter(|x| x.is_finite())
    };
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let w = (hi - lo) / PLOT_BINS as f64;
    let hists: Vec<Vec<(f64, f64)>> = samples
        .iter()
        .map(|(_, v)| {
            let mut h = vec![0.0; PLOT_BINS];
            let mut n = 0.0;
            for &x in v.iter().filter(|x| x.is_finite()) {
                h[(((x - lo) / w) as usize).min(PLOT_BINS - 1)] += 1.0;
                n += 1.0;
            }
            h.iter()
                .enumerate()
                .map(|(i, c)| (lo + (i as f64 + 0.5) * w, c / f64::max(n, 1.0)))
                .collect()
        })
        .collect();
    let ymax = hists
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(perr)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{title}: share of flows per bin"),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, 0.0..ymax)
        .map_err(perr)?;
    chart
        .configure_mesh()
        .x_desc(xlabel)
        .y_desc("share")
        .draw()
        .map_err(perr)?;
    for (i, ((name, _), h)) in samples.iter().zip(&hists).enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(h.iter().copied(), color.stroke_width(2)))
            .map_err(perr)?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(perr)?;
    root.present().map_err(perr)?;
    Ok(())
}

fn bar_plot(
    path: &Path,
    title: &str,
    sets: &[(&str, Vec<u64>)],
    top: usize,
    label: impl Fn(u64) -> String,
) -> Result<()> {
    let Some((_, real)) = sets.first() else {
        return Ok(());
    };
    let real_counts = super::dist::counts(real.iter().copied());
    let mut cats: Vec<(u64, u64)> = real_counts.into_iter().collect();
    cats.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    cats.truncate(top);
    let k = cats.len().max(1);
    let shares: Vec<Vec<f64>> = sets
        .iter()
        .map(|(_, v)| {
            let c = super::dist::counts(v.iter().copied());
            let n = v.len().max(1) as f64;
            cats.iter()
                .map(|(cat, _)| c.get(cat).copied().unwrap_or(0) as f64 / n)
                .collect()
        })
        .collect();
    let ymax = shares
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(perr)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{title}: share of flows"), ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(10)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..k as f64, -0.08 * ymax..ymax)
        .map_err(perr)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("share")
        .draw()
        .map_err(perr)?;
    let width = 0.8 / sets.len() as f64;
    for (j, ((name, _), s)) in sets.iter().zip(&shares).enumerate() {
        let color = Palette99::pick(j).to_rgba();
        chart
            .draw_series(s.iter().enumerate().map(|(i, &y)| {
                let x0 = i as f64 + 0.1 + j as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, y)], color.filled())
            }))
            .map_err(perr)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .draw_series(cats.iter().enumerate().map(|(i, (cat, _))| {
            Text::new(
                label(*cat),
                (i as f64 + 0.3, -0.02 * ymax),
                ("sans-serif", 12),
            )
        }))
        .map_err(perr)?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(perr)?;
    root.present().map_err(perr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::flow::parse_ipv4;
    use crate::data::hosts::host_view;
    use crate::data::read::read_flows;

    #[test]
    fn writes_every_marginal_plot() {
        let a = "42.219.152.127";
        let flows = read_flows(Path::new(&format!("tests/data/day_1_{a}.csv"))).unwrap();
        let real = host_view(&flows, &[parse_ipv4(a).unwrap()]);
        let b = "42.219.145.151";
        let flows = read_flows(Path::new(&format!("tests/data/day_1_{b}.csv"))).unwrap();
        let other = host_view(&flows, &[parse_ipv4(b).unwrap()]);
        let dir = tempfile::tempdir().unwrap();
        plot_marginals(dir.path(), &real, &[("other_host", &other)]).unwrap();
        for f in [
            "td",
            "byt",
            "pkt",
            "gap",
            "tod",
            "pr",
            "own_port",
            "remote_port",
        ] {
            let p = dir.path().join(format!("marginal_{f}.svg"));
            let svg = std::fs::read_to_string(&p).unwrap();
            assert!(
                svg.starts_with("<svg") && svg.contains("other_host") && svg.contains("real"),
                "{f}"
            );
        }
        // The protocol chart names the real protocols.
        let pr = std::fs::read_to_string(dir.path().join("marginal_pr.svg")).unwrap();
        assert!(
            pr.contains("\nTCP\n") && pr.contains("\nUDP\n"),
            "protocol labels missing"
        );
    }
}
