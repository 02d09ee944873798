//! The headline tables: a dozen figures per section that answer "how good, how useful, how
//! private", each column marked with its better direction, the floors beside the generators.
//!
//! `tables.md` has every figure (~50 tables); these few are what a reader looks at first, in a
//! run folder (`headline.md`, `report.html`), in `stan report`'s output and in the paper. They
//! are built from metric rows alone (a run's `metrics.csv`, or `stan report`'s seed means with
//! their 95 % intervals), so a figure absent from the rows is simply absent: a column without
//! any value and a row without any value are dropped, never filled.

use super::MetricRow;
use std::fmt::Write as _;

/// Which value of a column is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    /// Closest to 0.5: a classifier that cannot tell real from synthetic, or members from
    /// non-members, is at chance.
    Half,
    /// Closest to 1: a ratio to the real value (`flows_ratio`, the roll-out volume).
    One,
    /// No better direction: a reference figure shown beside the others.
    Neither,
}

impl Better {
    /// The mark shown after a column's name.
    pub fn arrow(self) -> &'static str {
        match self {
            Better::Lower => "↓",
            Better::Higher => "↑",
            Better::Half => "→0.5",
            Better::One => "→1",
            Better::Neither => "",
        }
    }

    /// Whether `a` is better than `b` in this direction.
    fn beats(self, a: f64, b: f64) -> bool {
        match self {
            Better::Lower => a < b,
            Better::Higher => a > b,
            Better::Half => (a - 0.5).abs() < (b - 0.5).abs(),
            Better::One => a.ln().abs() < b.ln().abs(),
            Better::Neither => false,
        }
    }
}

/// A figure with its interval, if it has one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cell {
    pub value: f64,
    pub ci: Option<(f64, f64)>,
    /// Best of its column among the generators (floors do not compete; ties are all best,
    /// a column where every generator ties has none).
    pub best: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub label: String,
    pub better: Better,
}

/// What a row stands for: a generator, or a floor (what real traffic scores, the level a
/// generator cannot be expected to beat).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    Generator,
    Floor,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub label: String,
    pub kind: RowKind,
    pub cells: Vec<Option<Cell>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub title: String,
    /// One or two sentences: what the rows and columns are, which reference.
    pub note: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// The headline tables of one set of rows, in reading order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Headline {
    pub tables: Vec<Table>,
}

/// Generators written by the runner as floors: `holdout` is real traffic of hosts no generator
/// saw, `copy` replays the members' training traffic, `real` is the reference itself (or, in
/// `detect`, the detectors trained on real traffic only).
pub const FLOORS: [&str; 3] = ["holdout", "copy", "real"];
/// The project's baselines, shown after STAN and before any external generator.
const BASELINES: [&str; 2] = ["independent", "bayes"];

/// Reading order of generator names: STAN, baselines, external generators (as they come), then
/// the floors.
fn order_generators(names: &[String]) -> Vec<String> {
    let rank = |g: &str| {
        if g == "stan" {
            0
        } else if let Some(i) = BASELINES.iter().position(|b| *b == g) {
            1 + i
        } else if let Some(i) = FLOORS.iter().position(|f| *f == g) {
            100 + i
        } else {
            10
        }
    };
    let mut v: Vec<String> = Vec::new();
    for n in names {
        if !v.contains(n) {
            v.push(n.clone());
        }
    }
    // Stable: external generators keep the order they first appear in.
    v.sort_by_key(|g| rank(g));
    v
}

fn kind_of(g: &str) -> RowKind {
    if FLOORS.contains(&g) {
        RowKind::Floor
    } else {
        RowKind::Generator
    }
}

/// The generator name a column looks up for a row's generator, if any.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// One column's source: the row of `section/<generator>/metric/subject`, where the generator
/// name looked up is `source(row generator)` (the detect table looks up mixes such as
/// `stan+real0.1`), `None` when the column has no figure for that row.
struct Source<'a> {
    label: String,
    better: Better,
    section: &'a str,
    metric: &'a str,
    subject: String,
    source: Lookup<'a>,
}

impl<'a> Source<'a> {
    fn plain(
        label: &str,
        better: Better,
        section: &'a str,
        metric: &'a str,
        subject: &str,
    ) -> Self {
        Source {
            label: label.into(),
            better,
            section,
            metric,
            subject: subject.into(),
            source: Box::new(|g: &str| Some(g.to_string())),
        }
    }
}

/// Build a table; rows are `generators` (already in reading order), and columns or rows
/// without any figure are dropped.
fn build_table(
    rows: &[MetricRow],
    title: &str,
    note: &str,
    generators: &[(String, RowKind)],
    sources: &[Source],
    compete: bool,
) -> Option<Table> {
    let find = |s: &Source, g: &str| -> Option<Cell> {
        let name = (s.source)(g)?;
        rows.iter()
            .find(|r| {
                r.section == s.section
                    && r.generator == name
                    && r.metric == s.metric
                    && r.subject == s.subject
            })
            .map(|r| Cell {
                value: r.value,
                ci: r.ci_low.zip(r.ci_high),
                best: false,
            })
    };
    let mut grid: Vec<Vec<Option<Cell>>> = generators
        .iter()
        .map(|(g, _)| sources.iter().map(|s| find(s, g)).collect())
        .collect();
    let keep_col: Vec<bool> = (0..sources.len())
        .map(|c| grid.iter().any(|r| r[c].is_some()))
        .collect();
    // Mark the best generators of each column (floors do not compete; NaN never wins).
    for (c, src) in sources.iter().enumerate() {
        if !compete || src.better == Better::Neither {
            continue;
        }
        let values: Vec<(usize, f64)> = generators
            .iter()
            .enumerate()
            .filter(|(_, (_, k))| *k == RowKind::Generator)
            .filter_map(|(i, _)| grid[i][c].map(|x| (i, x.value)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        let Some(best) = values
            .iter()
            .map(|(_, v)| *v)
            .reduce(|a, b| if src.better.beats(b, a) { b } else { a })
        else {
            continue;
        };
        let winners: Vec<usize> = values
            .iter()
            .filter(|(_, v)| !src.better.beats(best, *v))
            .map(|(i, _)| *i)
            .collect();
        if winners.len() < values.len() {
            for i in winners {
                if let Some(cell) = grid[i][c].as_mut() {
                    cell.best = true;
                }
            }
        }
    }
    let columns: Vec<Column> = sources
        .iter()
        .zip(&keep_col)
        .filter(|(_, k)| **k)
        .map(|(s, _)| Column {
            label: s.label.clone(),
            better: s.better,
        })
        .collect();
    let out_rows: Vec<Row> = generators
        .iter()
        .zip(grid.iter())
        .filter(|(_, cells)| cells.iter().any(Option::is_some))
        .map(|((g, kind), cells)| Row {
            label: g.clone(),
            kind: *kind,
            cells: cells
                .iter()
                .zip(&keep_col)
                .filter(|(_, k)| **k)
                .map(|(c, _)| *c)
                .collect(),
        })
        .collect();
    if columns.is_empty() || out_rows.is_empty() {
        return None;
    }
    Some(Table {
        title: title.into(),
        note: note.into(),
        columns,
        rows: out_rows,
    })
}

/// Generators of `section` in reading order, with their kinds.
fn generators_of(rows: &[MetricRow], section: &str) -> Vec<(String, RowKind)> {
    let names: Vec<String> = rows
        .iter()
        .filter(|r| r.section == section)
        .map(|r| r.generator.clone())
        .collect();
    order_generators(&names)
        .into_iter()
        .map(|g| {
            let k = kind_of(&g);
            (g, k)
        })
        .collect()
}

/// The fidelity columns of one reference section.
fn fidelity_sources(section: &str) -> Vec<Source<'_>> {
    use Better::*;
    let p = |label: &str, b: Better, metric: &'static str, subject: &str| {
        Source::plain(label, b, section, metric, subject)
    };
    vec![
        p("flows_ratio", One, "flows_ratio", "all"),
        p("jsd_mean", Lower, "jsd_mean", "all"),
        p("emd_mean", Lower, "emd_mean", "all"),
        p("ks_mean", Lower, "ks_mean", "all"),
        p("cramers_v_diff", Lower, "cramers_v_diff", "all"),
        p("corr_diff", Lower, "corr_diff", "all"),
        p("autocorr_diff gap", Lower, "autocorr_diff", "gap"),
        p("autocorr_diff byt", Lower, "autocorr_diff", "byt"),
        p("flows_per_host_emd", Lower, "flows_per_host_emd", "all"),
        p(
            "flows_per_hour_emd",
            Lower,
            "flows_per_hour_emd",
            "host_hour",
        ),
        p("hourly_profile_jsd", Lower, "hourly_profile_jsd", "all"),
        p("rule_violation any", Lower, "rule_violation", "any"),
        p("detection_auc", Half, "detection_auc", "rf"),
    ]
}

/// NetShare's conventions (JSD of the categorical fields, EMD of the continuous ones), against
/// the training traffic as NetShare reports them.
fn netshare_sources() -> Vec<Source<'static>> {
    let mut v: Vec<Source> = ["sa", "da", "sp", "dp", "pr"]
        .iter()
        .map(|f| {
            Source::plain(
                &format!("jsd {f}"),
                Better::Lower,
                "fidelity_train",
                "netshare_jsd",
                f,
            )
        })
        .collect();
    v.extend(["ts", "td", "pkt", "byt"].iter().map(|f| {
        Source::plain(
            &format!("emd {f}"),
            Better::Lower,
            "fidelity_train",
            "netshare_emd",
            f,
        )
    }));
    v
}

/// The real shares of the detect section's training mixes, 1 (real only) first, then the
/// mixes' shares in decreasing order, then 0 (synthetic only). Mixes are named
/// `<generator>+real<share>`.
fn real_shares(rows: &[MetricRow]) -> Vec<String> {
    let mut mixes: Vec<(f64, String)> = Vec::new();
    for r in rows.iter().filter(|r| r.section == "detect") {
        if let Some((_, s)) = r.generator.split_once("+real")
            && let Ok(x) = s.parse::<f64>()
            && !mixes.iter().any(|(_, t)| t == s)
        {
            mixes.push((x, s.to_string()));
        }
    }
    mixes.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut v = vec!["1".to_string()];
    v.extend(mixes.into_iter().map(|(_, s)| s));
    v.push("0".to_string());
    v
}

/// Detect columns of one figure across the real shares: share 1 is the `real` row's figure,
/// share `s` of generator `g` is `g+real<s>`'s, share 0 is `g`'s own.
fn detect_sources<'a>(
    shares: &[String],
    name: &str,
    better: Better,
    metric: &'a str,
    subject: &str,
) -> Vec<Source<'a>> {
    shares
        .iter()
        .map(|s| {
            let share = s.clone();
            let source: Lookup = Box::new(move |g: &str| match (share.as_str(), g == "real") {
                ("1", true) => Some("real".into()),
                (_, true) | ("1", false) => None,
                ("0", false) => Some(g.into()),
                (s, false) => Some(format!("{g}+real{s}")),
            });
            Source {
                label: format!("{name} @{s}"),
                better,
                section: "detect",
                metric,
                subject: subject.into(),
                source,
            }
        })
        .collect()
}

/// Membership-inference attacks of the privacy section, as they first appear (`auc` rows;
/// per-target shadow rows such as `shadow/target3` are left to `tables.md`).
fn attacks(rows: &[MetricRow]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.section == "privacy" && r.metric == "auc" && !r.subject.contains('/'))
    {
        if !v.contains(&r.subject) {
            v.push(r.subject.clone());
        }
    }
    v
}

impl Headline {
    /// The headline tables of `rows` (one run's, or one group's seed aggregates).
    pub fn build(rows: &[MetricRow]) -> Headline {
        let mut tables = Vec::new();
        for (section, title, note) in [
            (
                "fidelity",
                "Fidelity against held-out hosts",
                "Reference: real traffic of non-member hosts in the generation window (section `fidelity`). `holdout` is other real hosts: the level real traffic reaches. `real` is the reference itself.",
            ),
            (
                "fidelity_train",
                "Fidelity against the training traffic",
                "Reference: the members' training traffic the generators were fitted on (section `fidelity_train`). `copy` replays it: the floor.",
            ),
        ] {
            let gens = generators_of(rows, section);
            tables.extend(build_table(
                rows,
                title,
                note,
                &gens,
                &fidelity_sources(section),
                true,
            ));
        }
        let gens = generators_of(rows, "fidelity_train");
        tables.extend(build_table(
            rows,
            "Fidelity, NetShare's conventions (training traffic)",
            "JSD of the categorical fields (addresses, ports, protocol) and EMD of the continuous ones (start time, duration, packets, bytes), against the training traffic as NetShare reports them.",
            &gens,
            &netshare_sources(),
            true,
        ));

        let shares = real_shares(rows);
        let mut det_gens: Vec<(String, RowKind)> = generators_of(rows, "detect")
            .into_iter()
            .filter(|(g, _)| !g.contains("+real"))
            .collect();
        // The real-only detectors first: share 1 is theirs.
        det_gens.sort_by_key(|(g, _)| g.as_str() != "real");
        let det_note = "Detectors trained on a mix of real and synthetic traffic, tested on real held-out traffic with injected attacks. `@s` is the real share of the training set: @1 real only (row `real`), @0 synthetic only.";
        let tree_note = " `tree macro_f1` is the paper's own protocol task: one decision tree on the previous flow's bytes, packets and protocol (detector `protocol_tree`).";
        for (title, q, qb, qm, qs, tree, auc_subject) in [
            (
                "Downstream: protocol classifier",
                "macro_f1",
                Better::Higher,
                "macro_f1",
                "protocol",
                true,
                "protocol/all",
            ),
            (
                "Downstream: next-bytes regressor",
                "mse",
                Better::Lower,
                "mse",
                "bytes",
                false,
                "bytes/all",
            ),
        ] {
            let mut src = detect_sources(&shares, q, qb, qm, qs);
            if tree {
                src.extend(detect_sources(
                    &shares,
                    "tree macro_f1",
                    Better::Higher,
                    "macro_f1",
                    "protocol_tree",
                ));
            }
            src.extend(detect_sources(
                &shares,
                "anomaly auc",
                Better::Higher,
                "auc",
                auc_subject,
            ));
            let has_tree = tree
                && rows
                    .iter()
                    .any(|r| r.section == "detect" && r.subject == "protocol_tree");
            let note = if has_tree {
                format!("{det_note}{tree_note}")
            } else {
                det_note.to_string()
            };
            tables.extend(build_table(rows, title, &note, &det_gens, &src, true));
        }

        let priv_gens = generators_of(rows, "privacy");
        let mut attack_rows: Vec<(String, RowKind)> = Vec::new();
        let atts = attacks(rows);
        for (g, k) in &priv_gens {
            for a in &atts {
                attack_rows.push((format!("{g} / {a}"), *k));
            }
        }
        let privacy_sources = |metric: &'static str, label: &str, better| Source {
            label: label.into(),
            better,
            section: "privacy",
            metric,
            subject: String::new(),
            source: Box::new(|g: &str| Some(g.to_string())),
        };
        // Rows are `generator / attack`: split the label back into generator and subject.
        let privacy_table = {
            let cols = [
                privacy_sources("auc", "auc", Better::Half),
                privacy_sources("tpr_at_fpr_0.01", "tpr @1% fpr", Better::Lower),
                privacy_sources("tpr_at_fpr_0.001", "tpr @0.1% fpr", Better::Lower),
                privacy_sources("epsilon_lb", "epsilon_lb", Better::Lower),
            ];
            let relabelled: Vec<MetricRow> = rows
                .iter()
                .filter(|r| r.section == "privacy")
                .map(|r| {
                    let mut r = r.clone();
                    r.generator = format!("{} / {}", r.generator, r.subject);
                    r.subject = String::new();
                    r
                })
                .collect();
            build_table(
                &relabelled,
                "Privacy: membership inference",
                "Attacks on the members (hosts whose traffic the generator was fitted on) against non-members, per generator: AUC at 0.5 is chance, TPR at a low FPR is what an attacker confident in few guesses gets, epsilon_lb a lower bound on the differential-privacy epsilon. `copy` (the training traffic itself) is the worst case, `holdout` the level of traffic of no member.",
                &attack_rows,
                &cols,
                // Rows are attacks as well as generators: no single best.
                false,
            )
        };
        tables.extend(privacy_table);
        let mut replay = Vec::new();
        for m in ["ip_replay", "prefix24_replay", "ip_port_replay"] {
            for (who, b) in [("member", Better::Lower), ("nonmember", Better::Neither)] {
                replay.push(Source::plain(&format!("{m} {who}"), b, "privacy", m, who));
            }
        }
        tables.extend(build_table(
            rows,
            "Privacy: identifier replay",
            "Share of the members' (non-members') addresses, /24 prefixes and address:port pairs that reappear in the synthetic traffic. The non-member share is what chance reuse gives; a member share above it is leaked.",
            &priv_gens,
            &replay,
            true,
        ));
        Headline { tables }
    }

    /// Markdown: one `###` table per headline table, each with its note.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        for t in &self.tables {
            let _ = writeln!(s, "### {}\n\n{}\n", t.title, t.note);
            s.push_str("| generator |");
            for c in &t.columns {
                let _ = write!(s, " {} |", column_label(c));
            }
            s.push_str("\n|---|");
            for _ in &t.columns {
                s.push_str("---|");
            }
            s.push('\n');
            for r in &t.rows {
                let _ = write!(s, "| {} |", row_label(r));
                for c in &r.cells {
                    match c {
                        Some(c) if c.best => {
                            let _ = write!(s, " **{}** |", cell_text(c));
                        }
                        Some(c) => {
                            let _ = write!(s, " {} |", cell_text(c));
                        }
                        None => s.push_str(" |"),
                    }
                }
                s.push('\n');
            }
            s.push('\n');
        }
        s
    }

    /// HTML: one `<table>` per headline table (with its title and note), fragments to place in
    /// a page. Every text is escaped.
    pub fn to_html(&self) -> String {
        let mut s = String::new();
        for t in &self.tables {
            let _ = writeln!(
                s,
                "<h3>{}</h3>\n<p class=\"note\">{}</p>\n<table>\n<thead><tr><th>generator</th>",
                escape(&t.title),
                escape(&t.note)
            );
            for c in &t.columns {
                let _ = write!(
                    s,
                    "<th>{} <span class=\"arrow\">{}</span></th>",
                    // Long metric names may break after an underscore.
                    escape(&c.label).replace('_', "_<wbr>"),
                    escape(c.better.arrow())
                );
            }
            s.push_str("</tr></thead>\n<tbody>\n");
            for r in &t.rows {
                let class = match r.kind {
                    RowKind::Floor => " class=\"floor\"",
                    RowKind::Generator => "",
                };
                let _ = write!(s, "<tr{class}><th>{}</th>", escape(&row_label(r)));
                for c in &r.cells {
                    match c {
                        Some(c) => {
                            let best = if c.best { " class=\"best\"" } else { "" };
                            let _ = write!(s, "<td{best}>{}", fmt_num(c.value));
                            if let Some((lo, hi)) = c.ci {
                                let _ = write!(
                                    s,
                                    " <span class=\"ci\">[{}, {}]</span>",
                                    fmt_num(lo),
                                    fmt_num(hi)
                                );
                            }
                            s.push_str("</td>");
                        }
                        None => s.push_str("<td></td>"),
                    }
                }
                s.push_str("</tr>\n");
            }
            s.push_str("</tbody>\n</table>\n");
        }
        s
    }

    /// A few figures per generator, one line each, for the end of `stan run`: fidelity against
    /// held-out hosts, the synthetic-only detectors, the strongest membership attack.
    pub fn summary_lines(rows: &[MetricRow]) -> Vec<String> {
        let get = |section: &str, g: &str, metric: &str, subject: &str| {
            rows.iter()
                .find(|r| {
                    r.section == section
                        && r.generator == g
                        && r.metric == metric
                        && r.subject == subject
                })
                .map(|r| r.value)
        };
        let names: Vec<String> = rows
            .iter()
            .filter(|r| {
                r.section != "status" && r.generator != "real" && !r.generator.contains("+real")
            })
            .map(|r| r.generator.clone())
            .collect();
        let gens = order_generators(&names);
        let label = |g: &str| match kind_of(g) {
            RowKind::Floor => format!("{g} (floor)"),
            RowKind::Generator => g.to_string(),
        };
        let width = gens
            .iter()
            .map(|g| label(g).chars().count())
            .max()
            .unwrap_or(0);
        gens.iter()
            .map(|g| {
                let mut parts: Vec<String> = Vec::new();
                let mut add = |label: &str, v: Option<f64>, b: Better| {
                    if let Some(v) = v {
                        parts.push(format!("{label}{} {}", b.arrow(), fmt_num(v)));
                    }
                };
                add(
                    "flows_ratio",
                    get("fidelity_train", g, "flows_ratio", "all"),
                    Better::One,
                );
                add(
                    "jsd_mean",
                    get("fidelity", g, "jsd_mean", "all"),
                    Better::Lower,
                );
                add(
                    "detection_auc",
                    get("fidelity", g, "detection_auc", "rf"),
                    Better::Half,
                );
                add(
                    "macro_f1",
                    get("detect", g, "macro_f1", "protocol"),
                    Better::Higher,
                );
                add(
                    "tree_macro_f1",
                    get("detect", g, "macro_f1", "protocol_tree"),
                    Better::Higher,
                );
                add("mse", get("detect", g, "mse", "bytes"), Better::Lower);
                let strongest = rows
                    .iter()
                    .filter(|r| {
                        r.section == "privacy"
                            && r.generator == *g
                            && r.metric == "auc"
                            && !r.subject.contains('/')
                            && r.value.is_finite()
                    })
                    .max_by(|a, b| a.value.total_cmp(&b.value));
                if let Some(r) = strongest {
                    parts.push(format!("max mia_auc {} ({})", fmt_num(r.value), r.subject));
                }
                format!("{:width$}  {}", label(g), parts.join("  "))
            })
            .collect()
    }
}

fn column_label(c: &Column) -> String {
    match c.better.arrow() {
        "" => c.label.clone(),
        a => format!("{} {a}", c.label),
    }
}

fn row_label(r: &Row) -> String {
    match r.kind {
        RowKind::Floor => format!("{} (floor)", r.label),
        RowKind::Generator => r.label.clone(),
    }
}

fn cell_text(c: &Cell) -> String {
    match c.ci {
        Some((lo, hi)) => format!("{} [{}, {}]", fmt_num(c.value), fmt_num(lo), fmt_num(hi)),
        None => fmt_num(c.value),
    }
}

/// Four significant figures for the usual range, whole numbers from 1000 on (NetShare's EMDs
/// are in seconds and bytes).
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        format!("{v}")
    } else if v == 0.0 {
        "0".into()
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else if a >= 0.001 {
        format!("{v:.4}")
    } else {
        format!("{v:.2e}")
    }
}

/// Escape text for HTML element content and double-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(section: &str, g: &str, metric: &str, subject: &str, v: f64) -> MetricRow {
        MetricRow::new(section, g, metric, subject, v, 10)
    }

    fn sample() -> Vec<MetricRow> {
        vec![
            row("fidelity", "holdout", "jsd_mean", "all", 0.02),
            row("fidelity", "independent", "jsd_mean", "all", 0.3),
            row("fidelity", "stan", "jsd_mean", "all", 0.1),
            row("fidelity", "stan", "detection_auc", "rf", 0.8).with_ci(0.7, 0.9),
            row("fidelity", "independent", "detection_auc", "rf", 0.95),
            row("detect", "real", "macro_f1", "protocol", 0.64),
            row("detect", "stan+real0.1", "macro_f1", "protocol", 0.61),
            row("detect", "stan", "macro_f1", "protocol", 0.59),
            row("detect", "real", "macro_f1", "protocol_tree", 0.55),
            row("detect", "stan", "macro_f1", "protocol_tree", 0.52),
            row("privacy", "stan", "auc", "dcr", 0.66),
            row("privacy", "stan", "auc", "shadow/target1", 0.7),
            row("privacy", "stan", "tpr_at_fpr_0.01", "dcr", 0.05),
            row("privacy", "stan", "ip_replay", "member", 0.14),
            row("privacy", "stan", "ip_replay", "nonmember", 0.03),
        ]
    }

    #[test]
    fn markdown_orders_generators_marks_directions_floors_and_best() {
        let md = Headline::build(&sample()).to_markdown();
        let expected_fidelity = "### Fidelity against held-out hosts\n\n\
            Reference: real traffic of non-member hosts in the generation window (section `fidelity`). `holdout` is other real hosts: the level real traffic reaches. `real` is the reference itself.\n\n\
            | generator | jsd_mean ↓ | detection_auc →0.5 |\n\
            |---|---|---|\n\
            | stan | **0.1000** | **0.8000 [0.7000, 0.9000]** |\n\
            | independent | 0.3000 | 0.9500 |\n\
            | holdout (floor) | 0.0200 | |\n\n";
        assert!(md.starts_with(expected_fidelity), "{md}");
        // Sections absent from the rows give no table.
        assert!(
            !md.contains("Fidelity against the training traffic"),
            "{md}"
        );
        assert!(!md.contains("next-bytes"), "{md}");
    }

    #[test]
    fn detect_table_spreads_the_real_shares() {
        let h = Headline::build(&sample());
        let t = h
            .tables
            .iter()
            .find(|t| t.title == "Downstream: protocol classifier")
            .unwrap();
        let labels: Vec<&str> = t.columns.iter().map(|c| c.label.as_str()).collect();
        // The tree's columns without a figure (no `stan+real0.1` row of it) are dropped.
        assert_eq!(
            labels,
            [
                "macro_f1 @1",
                "macro_f1 @0.1",
                "macro_f1 @0",
                "tree macro_f1 @1",
                "tree macro_f1 @0"
            ]
        );
        assert!(t.note.contains("`protocol_tree`"), "{}", t.note);
        assert_eq!(t.rows[0].label, "real");
        assert_eq!(t.rows[0].kind, RowKind::Floor);
        let v = |r: usize, c: usize| t.rows[r].cells[c].map(|c| c.value);
        assert_eq!((v(0, 0), v(0, 1), v(0, 2)), (Some(0.64), None, None));
        assert_eq!((v(1, 0), v(1, 1), v(1, 2)), (None, Some(0.61), Some(0.59)));
        assert_eq!(
            (v(0, 3), v(0, 4), v(1, 3), v(1, 4)),
            (Some(0.55), None, None, Some(0.52))
        );
    }

    #[test]
    fn privacy_rows_are_generator_by_attack_without_per_target_rows() {
        let h = Headline::build(&sample());
        let t = h
            .tables
            .iter()
            .find(|t| t.title == "Privacy: membership inference")
            .unwrap();
        let labels: Vec<&str> = t.rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["stan / dcr"]);
        let cols: Vec<&str> = t.columns.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(cols, ["auc", "tpr @1% fpr"]);
        let replay = h
            .tables
            .iter()
            .find(|t| t.title == "Privacy: identifier replay")
            .unwrap();
        assert_eq!(replay.rows[0].cells[0].map(|c| c.value), Some(0.14));
    }

    #[test]
    fn html_escapes_text_and_marks_floor_rows() {
        let rows = vec![
            row("fidelity", "<x>&\"", "jsd_mean", "all", 0.5),
            row("fidelity", "holdout", "jsd_mean", "all", 0.01),
        ];
        let html = Headline::build(&rows).to_html();
        assert!(html.contains("<th>&lt;x&gt;&amp;&quot;</th>"), "{html}");
        assert!(
            html.contains("<tr class=\"floor\"><th>holdout (floor)</th><td>0.0100</td></tr>"),
            "{html}"
        );
        assert!(!html.contains("<x>"));
    }

    #[test]
    fn summary_has_one_line_per_generator() {
        let lines = Headline::summary_lines(&sample());
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(
            lines[0],
            "stan             jsd_mean↓ 0.1000  detection_auc→0.5 0.8000  macro_f1↑ 0.5900  tree_macro_f1↑ 0.5200  max mia_auc 0.6600 (dcr)"
        );
        assert!(
            lines[2].starts_with("holdout (floor)  jsd_mean↓ 0.0200"),
            "{lines:?}"
        );
    }

    #[test]
    fn ties_are_all_best_and_a_column_of_ties_has_none() {
        let rows = vec![
            row("fidelity", "stan", "jsd_mean", "all", 0.0),
            row("fidelity", "bayes", "jsd_mean", "all", 0.0),
            row("fidelity", "independent", "jsd_mean", "all", 0.1),
            row("fidelity", "stan", "emd_mean", "all", 0.2),
            row("fidelity", "bayes", "emd_mean", "all", 0.2),
        ];
        let t = &Headline::build(&rows).tables[0];
        let best: Vec<Vec<bool>> = t
            .rows
            .iter()
            .map(|r| r.cells.iter().map(|c| c.is_some_and(|c| c.best)).collect())
            .collect();
        // Rows: stan, independent, bayes.
        assert_eq!(best, [[true, false], [false, false], [true, false]]);
    }

    #[test]
    fn numbers_keep_four_significant_figures() {
        assert_eq!(fmt_num(459455.41), "459455");
        assert_eq!(fmt_num(620.1398), "620.1");
        assert_eq!(fmt_num(23.5196), "23.52");
        assert_eq!(fmt_num(0.0961469), "0.0961");
        assert_eq!(fmt_num(0.00005), "5.00e-5");
        assert_eq!(fmt_num(0.0), "0");
    }
}
