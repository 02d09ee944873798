//! Human tables built from metric rows: one table per (section, metric), generators as rows
//! (in the order they first appear, so `real` / `holdout` floors come where the runner put
//! them), subjects as columns. Markdown, CSV and LaTeX carry the same numbers.

use super::MetricRow;
use std::collections::BTreeMap;

/// A rectangular table of optional numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<(String, Vec<Option<f64>>)>,
}

/// Group rows into one table per (section, metric), keeping first-appearance order.
pub fn pivot(rows: &[MetricRow]) -> Vec<Table> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut groups: BTreeMap<(String, String), Vec<&MetricRow>> = BTreeMap::new();
    for r in rows {
        let k = (r.section.clone(), r.metric.clone());
        if !groups.contains_key(&k) {
            order.push(k.clone());
        }
        groups.entry(k).or_default().push(r);
    }
    order
        .into_iter()
        .map(|k| {
            let g = &groups[&k];
            let mut cols: Vec<String> = Vec::new();
            let mut gens: Vec<String> = Vec::new();
            for r in g {
                if !cols.contains(&r.subject) {
                    cols.push(r.subject.clone());
                }
                if !gens.contains(&r.generator) {
                    gens.push(r.generator.clone());
                }
            }
            let rows = gens
                .iter()
                .map(|gname| {
                    let vals = cols
                        .iter()
                        .map(|c| {
                            g.iter()
                                .find(|r| &r.generator == gname && &r.subject == c)
                                .map(|r| r.value)
                        })
                        .collect();
                    (gname.clone(), vals)
                })
                .collect();
            Table {
                title: format!("{} / {}", k.0, k.1),
                columns: cols,
                rows,
            }
        })
        .collect()
}

/// Format a number with 4 significant decimals, compactly.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

pub fn to_markdown(tables: &[Table]) -> String {
    let mut s = String::new();
    for t in tables {
        s.push_str(&format!(
            "### {}\n\n| generator | {} |\n|---|{}\n",
            t.title,
            t.columns.join(" | "),
            "---|".repeat(t.columns.len())
        ));
        for (g, vals) in &t.rows {
            let cells: Vec<String> = vals
                .iter()
                .map(|v| v.map(fmt_num).unwrap_or_else(|| "–".into()))
                .collect();
            s.push_str(&format!("| {} | {} |\n", g, cells.join(" | ")));
        }
        s.push('\n');
    }
    s
}

fn tex_escape(s: &str) -> String {
    s.replace('\\', "\\textbackslash{}")
        .replace('_', "\\_")
        .replace('%', "\\%")
        .replace('&', "\\&")
        .replace('#', "\\#")
}

pub fn to_latex(tables: &[Table]) -> String {
    let mut s = String::new();
    for t in tables {
        s.push_str(&format!(
            "% {}\n\\begin{{tabular}}{{l{}}}\n\\hline\ngenerator & {} \\\\\n\\hline\n",
            tex_escape(&t.title),
            "r".repeat(t.columns.len()),
            t.columns
                .iter()
                .map(|c| tex_escape(c))
                .collect::<Vec<_>>()
                .join(" & ")
        ));
        for (g, vals) in &t.rows {
            let cells: Vec<String> = vals
                .iter()
                .map(|v| v.map(fmt_num).unwrap_or_else(|| "--".into()))
                .collect();
            s.push_str(&format!("{} & {} \\\\\n", tex_escape(g), cells.join(" & ")));
        }
        s.push_str("\\hline\n\\end{tabular}\n\n");
    }
    s
}

/// Wide CSV: `table,generator,<subject...>` blocks, one per table, separated by blank lines.
pub fn to_csv(tables: &[Table]) -> String {
    let mut s = String::new();
    for t in tables {
        s.push_str(&format!(
            "table,generator,{}\n",
            t.columns
                .iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(",")
        ));
        for (g, vals) in &t.rows {
            let cells: Vec<String> = vals
                .iter()
                .map(|v| v.map(|x| format!("{x}")).unwrap_or_default())
                .collect();
            s.push_str(&format!(
                "{},{},{}\n",
                csv_field(&t.title),
                csv_field(g),
                cells.join(",")
            ));
        }
        s.push('\n');
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pivot_keeps_order_and_marks_missing() {
        let rows = vec![
            MetricRow::new("fidelity", "holdout", "jsd", "pr", 0.01, 10),
            MetricRow::new("fidelity", "stan", "jsd", "pr", 0.02, 10),
            MetricRow::new("fidelity", "stan", "jsd", "dp", 0.5, 10),
            MetricRow::new("privacy", "stan", "auc", "dcr", 0.55, 10),
        ];
        let t = pivot(&rows);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].columns, vec!["pr", "dp"]);
        assert_eq!(
            t[0].rows[0],
            ("holdout".to_string(), vec![Some(0.01), None])
        );
        let md = to_markdown(&t);
        assert!(md.contains("| holdout | 0.0100 | – |"), "{md}");
        assert!(to_latex(&t).contains("stan & 0.0200 & 0.5000 \\\\"));
        assert!(to_csv(&t).contains("fidelity / jsd,stan,0.02,0.5"));
    }
}
