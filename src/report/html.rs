//! `report.html`: one self-contained page per run folder (and per `stan report` output): the
//! setting, the headline tables, the plots inline, links to the full tables. No script, no
//! stylesheet or font from the network, so it opens the same offline, from an archive, or
//! attached to a message; every text from the rows or the manifest is escaped.

use super::headline::{Headline, escape};
use crate::data::write::atomic_write_str;
use crate::error::{Error, Result};
use crate::report::MetricRow;
use crate::run::manifest::Manifest;
use std::fmt::Write as _;
use std::path::Path;

/// What the page shows.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub title: String,
    /// One sentence under the title (what the numbers are: one run, or means over seeds).
    pub lead: String,
    /// The setting: `(name, value)` pairs such as `("seed", "7")`.
    pub setting: Vec<(String, String)>,
    /// Headline tables, one set per group (`None` when there is a single group).
    pub groups: Vec<(Option<String>, Headline)>,
    /// Inline SVG plots: `(file name, svg text)`.
    pub plots: Vec<(String, String)>,
    /// Relative links: `(href, what it holds)`.
    pub links: Vec<(String, String)>,
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em auto;max-width:78em;padding:0 1em;color:#222;line-height:1.4}\
h1{font-size:1.5em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}h3{margin:1.4em 0 .2em}\
.lead{color:#555;margin-top:0}.note{color:#555;font-size:.9em;margin:.2em 0 .5em;max-width:60em}\
dl.setting{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;font-size:.92em}dl.setting dt{font-weight:600}dl.setting dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}\
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.85em;margin-bottom:.5em}\
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}\
thead th{background:#f2f2f2;text-align:center;vertical-align:bottom;white-space:normal;min-width:4.5em}tbody th{text-align:left;font-weight:600}\
tr.floor th,tr.floor td{background:#f7f7f7;color:#666;font-style:italic}td.best{font-weight:700;background:#e8f4ea}\
.ci{color:#888;font-size:.8em;display:block}.arrow{color:#1a6;font-weight:700}\
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(30em,1fr));gap:1em}\
figure{margin:0}figure svg{width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.85em;color:#555}\
ul.links li{margin:.2em 0}";

impl Page {
    /// The page as HTML text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p class=\"lead\">{}</p>\n",
            escape(&self.title),
            escape(&self.title),
            escape(&self.lead)
        );
        if !self.setting.is_empty() {
            s.push_str("<h2>Setting</h2>\n<dl class=\"setting\">\n");
            for (k, v) in &self.setting {
                let _ = writeln!(s, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(v));
            }
            s.push_str("</dl>\n");
        }
        s.push_str("<h2>Headline</h2>\n<p class=\"note\">Arrows give the better direction (↓ lower, ↑ higher, →0.5 closest to chance); the best generator of a column is in bold on green; floors (real traffic, or its copy) are in grey italics and do not compete. Brackets: 95 % interval.</p>\n");
        for (group, h) in &self.groups {
            if let Some(g) = group {
                let _ = writeln!(s, "<h2>{}</h2>", escape(g));
            }
            if h.tables.is_empty() {
                s.push_str("<p>No headline figure in this run's metrics.</p>\n");
            }
            // Wide tables scroll sideways instead of widening the page.
            s.push_str(
                &h.to_html()
                    .replace("<table>", "<div class=\"scroll\"><table>")
                    .replace("</table>", "</table></div>"),
            );
        }
        if !self.plots.is_empty() {
            s.push_str("<h2>Plots</h2>\n<div class=\"plots\">\n");
            for (name, svg) in &self.plots {
                let _ = writeln!(
                    s,
                    "<figure>{}<figcaption>{}</figcaption></figure>",
                    inline_svg(svg),
                    escape(name)
                );
            }
            s.push_str("</div>\n");
        }
        if !self.links.is_empty() {
            s.push_str("<h2>Files</h2>\n<ul class=\"links\">\n");
            for (href, what) in &self.links {
                let _ = writeln!(
                    s,
                    "<li><a href=\"{}\">{}</a>: {}</li>",
                    escape(href),
                    escape(href),
                    escape(what)
                );
            }
            s.push_str("</ul>\n");
        }
        s.push_str("</body>\n</html>\n");
        s
    }

    /// Write the page to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        atomic_write_str(path, &self.render())
    }
}

/// The setting of one run from its manifest: what was run, on which data and split, by which
/// code on which machine.
pub fn run_setting(m: &Manifest) -> Vec<(String, String)> {
    let s = &m.split;
    let mut v = vec![
        ("spec".to_string(), m.experiment.clone()),
        ("run".into(), format!("{} ({})", m.run_id, m.status)),
        ("seed".into(), m.seed.to_string()),
        (
            "data".into(),
            format!(
                "{} ({} flows, {} hosts)",
                m.data.path, m.data.flows, m.data.hosts
            ),
        ),
        (
            "hosts per role".into(),
            format!(
                "{} members, {} non-members, {} holdout, {} reference",
                s.members.len(),
                s.nonmembers.len(),
                s.holdout.len(),
                s.reference.len()
            ),
        ),
        (
            "training window".into(),
            format!("{} to {}", s.train_window.0, s.train_window.1),
        ),
        (
            "generation window".into(),
            format!("{} to {}", s.test_window.0, s.test_window.1),
        ),
        (
            "generators".into(),
            m.generators
                .iter()
                .map(|(g, i)| format!("{g} ({}, {:.1} s)", status_word(i), i.seconds))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "revision".into(),
            format!(
                "build {}, checkout {}, version {}",
                m.build_revision.as_deref().unwrap_or("unknown"),
                m.git_revision.as_deref().unwrap_or("unknown"),
                m.crate_version
            ),
        ),
        ("machine".into(), machine_line(&m.machine)),
        ("time".into(), format!("{:.0} s", m.total_seconds)),
    ];
    if !m.cell.is_empty() {
        let cell: Vec<String> = m.cell.iter().map(|(k, v)| format!("{k}={v}")).collect();
        v.insert(2, ("sweep cell".into(), cell.join(", ")));
    }
    v
}

fn status_word(i: &crate::run::manifest::GeneratorInfo) -> &'static str {
    match i.status {
        crate::run::manifest::GeneratorStatus::Ok => "ok",
        crate::run::manifest::GeneratorStatus::Failed => "failed",
    }
}

/// The CPU and arithmetic path in one line.
pub fn machine_line(m: &crate::run::machine::Machine) -> String {
    format!(
        "{}, gemm {}, L1d {} KiB {}-way, {} threads",
        m.cpu_model, m.gemm_kernels, m.l1d_kib, m.l1d_ways, m.threads
    )
}

/// Links every run folder has (relative, so the folder can move).
pub fn run_links() -> Vec<(String, String)> {
    [
        ("headline.md", "these headline tables as Markdown"),
        (
            "tables.md",
            "every figure, one table per section and metric",
        ),
        (
            "metrics.csv",
            "every figure with its interval and sample size",
        ),
        (
            "detect_headline.md",
            "every detector figure by training mix",
        ),
        (
            "manifest.json",
            "resolved spec, split, revisions, machine, timings",
        ),
    ]
    .iter()
    .map(|(h, w)| (h.to_string(), w.to_string()))
    .collect()
}

/// Write `headline.md` and `report.html` of the run folder `dir` (after `metrics.csv` and the
/// tables; the manifest may still say `running`, its status is the caller's).
pub fn write_run_report(dir: &Path, m: &Manifest, rows: &[MetricRow]) -> Result<()> {
    let h = Headline::build(rows);
    let title = format!("{} ({})", m.experiment, m.run_id);
    atomic_write_str(
        &dir.join("headline.md"),
        &format!(
            "# {title}: headline

{}",
            h.to_markdown()
        ),
    )?;
    let links = run_links()
        .into_iter()
        .filter(|(f, _)| f == "headline.md" || f == "manifest.json" || dir.join(f).is_file())
        .collect();
    Page {
        title,
        lead: "One run: each figure with its bootstrap 95 % interval where it has one.".into(),
        setting: run_setting(m),
        groups: vec![(None, h)],
        plots: read_plots(dir)?,
        links,
    }
    .write(&dir.join("report.html"))
}

/// An SVG file's `<svg>` element, without the XML prolog or doctype a standalone file may
/// start with (not allowed inside HTML).
fn inline_svg(svg: &str) -> &str {
    svg.find("<svg").map_or("", |i| svg[i..].trim_end())
}

/// The plots of a run folder's `plots/` to show inline, by name: the marginals first, then
/// the membership-inference and detector ROC curves over all attacks. The per-attack detector
/// curves stay files (linked from the folder), so the page stays readable.
pub fn read_plots(dir: &Path) -> Result<Vec<(String, String)>> {
    let plots = dir.join("plots");
    if !plots.is_dir() {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = std::fs::read_dir(&plots)
        .map_err(|e| Error::io(&plots, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".svg"))
        .filter(|n| !n.starts_with("detect_roc_") || n.ends_with("_all.svg"))
        .collect();
    let rank = |n: &str| {
        if n.starts_with("marginal_") {
            0
        } else if n == "privacy_roc_stan.svg" {
            1
        } else if n.starts_with("privacy_") {
            2
        } else {
            3
        }
    };
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    names
        .into_iter()
        .map(|n| {
            let p = plots.join(&n);
            let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
            Ok((format!("plots/{n}"), text))
        })
        .collect()
}

/// Whether every element of `html` is closed in order (void elements excepted, comments
/// and the doctype skipped): the well-formedness check the tests apply to every page this
/// module writes, enough to catch a table or div left open or closed twice. `Err` names the
/// first mismatch.
pub fn balanced(html: &str) -> std::result::Result<(), String> {
    const VOID: [&str; 7] = ["meta", "br", "hr", "img", "link", "input", "wbr"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').ok_or("unclosed <")?;
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        let self_closing = tag.ends_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ':')
            .collect::<String>()
            .to_ascii_lowercase();
        if tag.starts_with('/') {
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else if !self_closing && !VOID.contains(&name.as_str()) {
            stack.push(name);
            // Text of style elements is not markup.
            if stack.last().is_some_and(|n| n == "style") {
                let close = rest.find("</style>").ok_or("unclosed style")?;
                rest = &rest[close..];
            }
        }
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("left open: {stack:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_balanced_escaped_and_inlines_svg_without_prolog() {
        let rows = vec![MetricRow::new(
            "fidelity", "stan", "jsd_mean", "all", 0.1, 5,
        )];
        let page = Page {
            title: "ci <run>".into(),
            lead: "one run".into(),
            setting: vec![("seed".into(), "7 & more".into())],
            groups: vec![(None, Headline::build(&rows))],
            plots: vec![(
                "plots/a.svg".into(),
                "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"><rect width=\"1\" height=\"1\"/></svg>\n".into(),
            )],
            links: vec![("tables.md".into(), "every table".into())],
        };
        let html = page.render();
        balanced(&html).unwrap();
        assert!(html.contains("<title>ci &lt;run&gt;</title>"));
        assert!(html.contains("<dd>7 &amp; more</dd>"));
        assert!(html.contains("<figure><svg xmlns"));
        assert!(!html.contains("<?xml"));
        assert!(html.contains("<a href=\"tables.md\">tables.md</a>"));
        assert!(html.contains("Fidelity against held-out hosts"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn the_balance_check_finds_an_open_element() {
        assert!(balanced("<div><table></div>").is_err());
        assert!(balanced("<p>a<br></p>").is_ok());
    }
}
