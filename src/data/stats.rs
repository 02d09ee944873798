//! `stan data stats`: a quick profile of a flow file.

use super::flow::{Flow, Label, Proto, format_time};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// Summary of a set of flows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataStats {
    pub rows: usize,
    pub distinct_ips: usize,
    /// Internal addresses (IPs with the given /16 prefix, as `sa` or `da`): a file cut for some
    /// hosts also names their internal peers, so this can exceed the hosts it was cut for.
    pub internal_hosts: usize,
    /// Internal addresses with at least [`crate::spec::DEFAULT_MIN_FLOWS`] flows: the hosts a
    /// run over the whole file models by default (`data.min_flows`).
    pub internal_modelled: usize,
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub labels: BTreeMap<Label, usize>,
    pub protocols: BTreeMap<Proto, usize>,
    pub skipped_invalid: usize,
}

impl DataStats {
    pub fn compute(flows: &[Flow], prefix16: u32) -> DataStats {
        let mut ips = HashSet::new();
        let mut internal: HashMap<u32, usize> = HashMap::new();
        let mut s = DataStats {
            rows: flows.len(),
            ..Default::default()
        };
        for f in flows {
            ips.insert(f.sa);
            ips.insert(f.da);
            for ip in [f.sa, f.da] {
                if ip >> 16 == prefix16 {
                    *internal.entry(ip).or_default() += 1;
                }
            }
            s.first = Some(s.first.map_or(f.te, |t| t.min(f.te)));
            s.last = Some(s.last.map_or(f.te, |t| t.max(f.te)));
            *s.labels.entry(f.label).or_default() += 1;
            *s.protocols.entry(f.pr).or_default() += 1;
        }
        s.distinct_ips = ips.len();
        s.internal_hosts = internal.len();
        s.internal_modelled = internal
            .values()
            .filter(|&&c| c >= crate::spec::DEFAULT_MIN_FLOWS)
            .count();
        s
    }
}

impl fmt::Display for DataStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rows            {}", self.rows)?;
        if self.skipped_invalid > 0 {
            writeln!(f, "skipped invalid {}", self.skipped_invalid)?;
        }
        writeln!(f, "distinct IPs    {}", self.distinct_ips)?;
        writeln!(
            f,
            "internal IPs    {} (own hosts and internal peers, as sa or da)",
            self.internal_hosts
        )?;
        writeln!(
            f,
            "  >= {} flows   {} (modelled by a run over the whole file: data.min_flows)",
            crate::spec::DEFAULT_MIN_FLOWS,
            self.internal_modelled
        )?;
        if let (Some(a), Some(b)) = (self.first, self.last) {
            writeln!(
                f,
                "time span       {} .. {} ({:.2} h)",
                format_time(a),
                format_time(b),
                (b - a) as f64 / 3600.0
            )?;
        }
        writeln!(f, "labels")?;
        for (l, n) in &self.labels {
            writeln!(
                f,
                "  {:<16} {:>10} {:>7.3}%",
                l.name(),
                n,
                100.0 * *n as f64 / self.rows.max(1) as f64
            )?;
        }
        writeln!(f, "protocols")?;
        let mut p: Vec<_> = self.protocols.iter().collect();
        p.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (pr, n) in p {
            writeln!(
                f,
                "  {:<16} {:>10} {:>7.3}%",
                pr.name(),
                n,
                100.0 * *n as f64 / self.rows.max(1) as f64
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_real_fixture() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/day_1_42.219.152.127.csv");
        let flows = crate::data::read_flows(&p).unwrap();
        let s = DataStats::compute(&flows, (42 << 8) | 219);
        assert_eq!(s.rows, 1491);
        assert_eq!(s.labels[&Label::Blacklist], 4);
        assert_eq!(s.labels[&Label::Background], 1487);
        assert!(s.internal_hosts >= 1);
        assert_eq!(s.protocols.values().sum::<usize>(), 1491);
        let text = s.to_string();
        assert!(
            text.contains("rows            1491") && text.contains("blacklist"),
            "{text}"
        );
    }
}
