//! Streaming readers for UGR'16 CSV (headerless or headered, plain or gzip) and the NetShare
//! CSV layout. Parsing is strict: every bad field is an error naming file, line, column, value.
//!
//! Layouts that lack fields: NetShare's has no TCP flags, ToS or forwarding status, and a
//! headered UGR'16 CSV may leave out any of the optional columns `flg fwd stos label` (its
//! header then names the columns it has, in any order; `te td sa da sp dp pr pkt byt` are
//! required). An absent field is filled (`flg` `......`, `fwd` and `stos` 0, `label`
//! `background`) and [`FlowReader::fields`] says which fields the file really carried, so that
//! no metric is computed on the fillers ([`super::fields`]). A first line whose first field is a
//! UGR'16 column name is a header; a 13-column header starting `te,td,sa,da` is read by
//! position, as before headers could name fewer columns.

use super::fields::{Field, FieldSet};
use super::flow::{Flags, Flow, Label, Proto, parse_ipv4, parse_time};
use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The UGR'16 column order.
pub const UGR16_COLUMNS: [&str; 13] = [
    "te", "td", "sa", "da", "sp", "dp", "pr", "flg", "fwd", "stos", "pkt", "byt", "label",
];
/// The NetShare NetFlow column order (`ts` = flow start in µs, IPs as u32).
pub const NETSHARE_COLUMNS: [&str; 10] = [
    "srcip", "dstip", "srcport", "dstport", "proto", "ts", "td", "pkt", "byt", "type",
];

/// Which layout a file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Ugr16,
    NetShare,
}

/// Open a file, transparently un-gzipping it (detected by magic bytes, not by name).
pub fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(|e| Error::io(path, e))?;
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            MultiGzDecoder::new(f),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
    }
}

/// A streaming flow reader. Yields `(line_number, Result<Flow>)`; line numbers are 1-based
/// physical lines of the (decompressed) file.
pub struct FlowReader {
    inner: Box<dyn BufRead>,
    file: String,
    line_no: u64,
    layout: Layout,
    /// For a headered UGR'16 file whose header is not the full column list: where each
    /// [`UGR16_COLUMNS`] column is in a line (`None`: absent), and the line's column count.
    columns: Option<(Vec<Option<usize>>, usize)>,
    fields: FieldSet,
    buf: String,
    pending: Option<String>,
}

/// What an absent optional column reads as.
fn filler(column: &str) -> &'static str {
    match column {
        "flg" => "......",
        "label" => "background",
        _ => "0",
    }
}

/// The column map of a headered UGR'16 file whose header `names` is not exactly
/// [`UGR16_COLUMNS`]: every name must be a UGR'16 column, once, and every required column
/// present.
fn column_map(names: &[&str], file: &str) -> Result<(Vec<Option<usize>>, usize, FieldSet)> {
    let bad = |value: &str, reason: String| perr(file, 1, "header", value, &reason);
    let mut map: Vec<Option<usize>> = vec![None; UGR16_COLUMNS.len()];
    for (i, name) in names.iter().enumerate() {
        let name = match name.trim() {
            "lable" => "label",
            n => n,
        };
        let Some(c) = UGR16_COLUMNS
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
        else {
            return Err(bad(
                name,
                format!(
                    "unknown column; a UGR'16 header names some of {}",
                    UGR16_COLUMNS.join(",")
                ),
            ));
        };
        if map[c].replace(i).is_some() {
            return Err(bad(name, "column named twice".into()));
        }
    }
    let mut fields = FieldSet::NONE;
    for (c, at) in UGR16_COLUMNS.iter().zip(&map) {
        match (Field::parse(c), at) {
            (Some(f), Some(_)) => fields = fields.with(f),
            (Some(_), None) => {}
            (None, Some(_)) => {}
            (None, None) => {
                return Err(bad(
                    &names.join(","),
                    format!(
                        "required column `{c}` is missing (only flg, fwd, stos and label may be left out)"
                    ),
                ));
            }
        }
    }
    Ok((map, names.len(), fields))
}

impl FlowReader {
    pub fn open(path: &Path) -> Result<Self> {
        let mut inner = open(path)?;
        let file = path.display().to_string();
        let mut first = String::new();
        inner
            .read_line(&mut first)
            .map_err(|e| Error::io(path, e))?;
        let trimmed = first.trim_end_matches(['\r', '\n']);
        let lower = trimmed.to_ascii_lowercase();
        let mut columns = None;
        let mut fields = FieldSet::ALL;
        let names: Vec<&str> = lower.split(',').map(str::trim).collect();
        let (layout, pending, line_no) = if lower.starts_with("srcip,dstip") {
            fields = FieldSet::of(&[Field::Label]);
            (Layout::NetShare, None, 1)
        } else if lower.starts_with("te,td,sa,da") && names.len() == UGR16_COLUMNS.len() {
            // The full header, read by position as always (the STAN per-host files spell the
            // last column `lable`).
            (Layout::Ugr16, None, 1)
        } else if UGR16_COLUMNS.contains(&names[0]) {
            let (map, n, present) = column_map(&names, &file)?;
            columns = Some((map, n));
            fields = present;
            (Layout::Ugr16, None, 1)
        } else {
            (
                Layout::Ugr16,
                (!trimmed.is_empty()).then(|| trimmed.to_string()),
                0,
            )
        };
        Ok(FlowReader {
            inner,
            file,
            line_no,
            layout,
            columns,
            fields,
            buf: String::new(),
            pending,
        })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The optional fields the file carries: all for a full UGR'16 file, `label` only for
    /// NetShare's layout, the header's for a headered UGR'16 file with fewer columns.
    pub fn fields(&self) -> FieldSet {
        self.fields
    }
}

impl Iterator for FlowReader {
    type Item = (u64, Result<Flow>);
    fn next(&mut self) -> Option<Self::Item> {
        let line = if let Some(p) = self.pending.take() {
            self.line_no += 1;
            p
        } else {
            loop {
                self.buf.clear();
                match self.inner.read_line(&mut self.buf) {
                    Ok(0) => return None,
                    Ok(_) => {
                        self.line_no += 1;
                        let t = self.buf.trim_end_matches(['\r', '\n']);
                        if !t.is_empty() {
                            break t.to_string();
                        }
                    }
                    Err(e) => return Some((self.line_no + 1, Err(Error::io(&self.file, e)))),
                }
            }
        };
        let r = match (self.layout, &self.columns) {
            (Layout::Ugr16, Some((map, n))) => {
                parse_mapped_line(&line, map, *n, &self.file, self.line_no)
            }
            (Layout::Ugr16, None) => parse_ugr16_line(&line, &self.file, self.line_no),
            (Layout::NetShare, _) => parse_netshare_line(&line, &self.file, self.line_no),
        };
        Some((self.line_no, r))
    }
}

fn perr(file: &str, line: u64, column: &str, value: &str, reason: &str) -> Error {
    Error::Parse {
        file: file.into(),
        line,
        column: column.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

fn num<T: std::str::FromStr>(v: &str, file: &str, line: u64, col: &str, what: &str) -> Result<T> {
    v.parse::<T>().map_err(|_| perr(file, line, col, v, what))
}

/// Parse one UGR'16 line (13 comma-separated fields).
pub fn parse_ugr16_line(line: &str, file: &str, line_no: u64) -> Result<Flow> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() != 13 {
        return Err(Error::Columns {
            file: file.into(),
            line: line_no,
            expected: 13,
            found: fields.len(),
        });
    }
    parse_ugr16_fields(&fields, file, line_no)
}

/// Parse one line of a headered UGR'16 file with the column map of its header (absent
/// optional columns read as their filler).
fn parse_mapped_line(
    line: &str,
    map: &[Option<usize>],
    n: usize,
    file: &str,
    line_no: u64,
) -> Result<Flow> {
    let raw: Vec<&str> = line.split(',').collect();
    if raw.len() != n {
        return Err(Error::Columns {
            file: file.into(),
            line: line_no,
            expected: n,
            found: raw.len(),
        });
    }
    let fields: Vec<&str> = UGR16_COLUMNS
        .iter()
        .zip(map)
        .map(|(c, at)| at.map_or(filler(c), |i| raw[i]))
        .collect();
    parse_ugr16_fields(&fields, file, line_no)
}

/// Parse the 13 UGR'16 fields of a line, in [`UGR16_COLUMNS`] order.
fn parse_ugr16_fields(fields: &[&str], file: &str, line_no: u64) -> Result<Flow> {
    let c = UGR16_COLUMNS;
    let te = parse_time(fields[0]).ok_or_else(|| {
        perr(
            file,
            line_no,
            c[0],
            fields[0],
            "expected `YYYY-MM-DD HH:MM:SS`",
        )
    })?;
    let td: f64 = num(
        fields[1],
        file,
        line_no,
        c[1],
        "expected a duration in seconds",
    )?;
    if !(td.is_finite() && td >= 0.0) {
        return Err(perr(
            file,
            line_no,
            c[1],
            fields[1],
            "duration must be finite and >= 0",
        ));
    }
    let ip = |i: usize| {
        parse_ipv4(fields[i])
            .ok_or_else(|| perr(file, line_no, c[i], fields[i], "expected an IPv4 address"))
    };
    let port = |i: usize| num::<u16>(fields[i], file, line_no, c[i], "expected a port 0..=65535");
    Ok(Flow {
        te,
        td,
        sa: ip(2)?,
        da: ip(3)?,
        sp: port(4)?,
        dp: port(5)?,
        pr: Proto::parse(fields[6]).ok_or_else(|| {
            perr(file, line_no, c[6], fields[6], "unknown protocol (known: TCP UDP ICMP GRE IPIP ESP IPv6 RSVP AH SCTP or their numbers)")
        })?,
        flg: Flags::parse(fields[7])
            .ok_or_else(|| perr(file, line_no, c[7], fields[7], "expected 6 flag characters `UAPRSF` or `.`"))?,
        fwd: num(fields[8], file, line_no, c[8], "expected an integer 0..=255")?,
        stos: num(fields[9], file, line_no, c[9], "expected an integer 0..=255")?,
        pkt: num(fields[10], file, line_no, c[10], "expected a packet count")?,
        byt: num(fields[11], file, line_no, c[11], "expected a byte count")?,
        label: Label::parse(fields[12]).ok_or_else(|| perr(file, line_no, c[12], fields[12], "unknown label"))?,
    })
}

/// Parse one NetShare line. NetShare has no flags, ToS or forwarding status (set to 0), its `ts`
/// is the flow *start* in µs; we store `te = floor(ts / 1e6 + td)` (the end, UGR'16's meaning).
pub fn parse_netshare_line(line: &str, file: &str, line_no: u64) -> Result<Flow> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() != 10 {
        return Err(Error::Columns {
            file: file.into(),
            line: line_no,
            expected: 10,
            found: fields.len(),
        });
    }
    let c = NETSHARE_COLUMNS;
    let ip = |i: usize| {
        num::<u32>(
            fields[i],
            file,
            line_no,
            c[i],
            "expected an IPv4 address as u32",
        )
    };
    let port = |i: usize| num::<u16>(fields[i], file, line_no, c[i], "expected a port 0..=65535");
    let ts: f64 = num(
        fields[5],
        file,
        line_no,
        c[5],
        "expected microseconds since the epoch",
    )?;
    let td: f64 = num(
        fields[6],
        file,
        line_no,
        c[6],
        "expected a duration in seconds",
    )?;
    if !(ts.is_finite() && ts >= 0.0) {
        return Err(perr(
            file,
            line_no,
            c[5],
            fields[5],
            "timestamp must be finite and >= 0",
        ));
    }
    if !(td.is_finite() && td >= 0.0) {
        return Err(perr(
            file,
            line_no,
            c[6],
            fields[6],
            "duration must be finite and >= 0",
        ));
    }
    let int_like = |i: usize| -> Result<u64> {
        let v: f64 = num(fields[i], file, line_no, c[i], "expected a count")?;
        if v < 0.0 || v.fract() != 0.0 {
            return Err(perr(
                file,
                line_no,
                c[i],
                fields[i],
                "expected a non-negative integer",
            ));
        }
        Ok(v as u64)
    };
    Ok(Flow {
        te: (ts / 1e6 + td).floor() as i64,
        td: (td * 1000.0).round() / 1000.0,
        sa: ip(0)?,
        da: ip(1)?,
        sp: port(2)?,
        dp: port(3)?,
        pr: Proto::parse(fields[4])
            .ok_or_else(|| perr(file, line_no, c[4], fields[4], "unknown protocol"))?,
        flg: Flags(0),
        fwd: 0,
        stos: 0,
        pkt: int_like(7)?,
        byt: int_like(8)?,
        label: Label::parse(fields[9])
            .ok_or_else(|| perr(file, line_no, c[9], fields[9], "unknown label"))?,
    })
}

/// Read every flow of a file with the optional fields it carried; the first bad line is an
/// error.
pub fn read_flows_with_fields(path: &Path) -> Result<(Vec<Flow>, FieldSet)> {
    let reader = FlowReader::open(path)?;
    let fields = reader.fields();
    let mut out = Vec::new();
    for (_, r) in reader {
        out.push(r?);
    }
    Ok((out, fields))
}

/// Read every flow of a file; the first bad line is an error.
pub fn read_flows(path: &Path) -> Result<Vec<Flow>> {
    let mut out = Vec::new();
    for (_, r) in FlowReader::open(path)? {
        out.push(r?);
    }
    Ok(out)
}

/// Read a file, collecting bad lines instead of stopping at the first. Returns the good flows
/// and every error (callers decide whether skipping is acceptable and must report the count).
pub fn read_flows_lenient(path: &Path) -> Result<(Vec<Flow>, Vec<Error>)> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (_, r) in FlowReader::open(path)? {
        match r {
            Ok(f) => out.push(f),
            Err(e @ Error::Io { .. }) => return Err(e),
            Err(e) => bad.push(e),
        }
    }
    Ok((out, bad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    #[test]
    fn reads_real_ugr16_fixture_with_header() {
        let flows = read_flows(&fixture("day_1_42.219.152.127.csv")).unwrap();
        assert_eq!(flows.len(), 1491);
        assert_eq!(
            flows.iter().filter(|f| f.label == Label::Blacklist).count(),
            4
        );
        assert_eq!(
            crate::data::write::format_ugr16(&flows[0]),
            "2016-04-11 00:06:22,0.000,176.116.195.149,42.219.152.127,5185,5074,UDP,.A....,0,40,1,441,background"
        );
    }

    #[test]
    fn reads_netshare_layout() {
        let r = FlowReader::open(&fixture("netshare_ugr16-small_raw.csv")).unwrap();
        assert_eq!(r.layout(), Layout::NetShare);
        let flows: Vec<Flow> = r.map(|(_, f)| f.unwrap()).collect();
        assert_eq!(flows.len(), 1000);
        assert_eq!(flows[0].pr, Proto::ICMP);
    }

    #[test]
    fn netshare_layout_lacks_flags_tos_and_fwd() {
        let r = FlowReader::open(&fixture("netshare_ugr16-small_raw.csv")).unwrap();
        assert_eq!(r.fields().names(), ["label"]);
        let r = FlowReader::open(&fixture("day_1_42.219.152.127.csv")).unwrap();
        assert!(r.fields().is_all());
    }

    /// A headered UGR'16 file may leave out optional columns and order its columns freely;
    /// the absent ones read as fillers and are reported missing. A missing required column,
    /// an unknown or a doubled one is an error naming the header.
    #[test]
    fn headered_ugr16_may_leave_out_optional_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("few.csv");
        std::fs::write(
            &p,
            "te,td,sa,da,sp,dp,pr,pkt,byt,label\n\
             2016-04-11 00:06:22,0.5,1.2.3.4,5.6.7.8,1,2,TCP,3,40,background\n",
        )
        .unwrap();
        let (flows, fields) = read_flows_with_fields(&p).unwrap();
        assert_eq!(fields.names(), ["label"]);
        assert_eq!(
            crate::data::write::format_ugr16(&flows[0]),
            "2016-04-11 00:06:22,0.500,1.2.3.4,5.6.7.8,1,2,TCP,......,0,0,3,40,background"
        );
        std::fs::write(
            &p,
            "byt,pkt,flg,pr,dp,sp,da,sa,td,te\n40,3,.A..S.,UDP,2,1,5.6.7.8,1.2.3.4,0.5,2016-04-11 00:06:22\n",
        )
        .unwrap();
        let (flows, fields) = read_flows_with_fields(&p).unwrap();
        assert_eq!(fields.names(), ["flg"]);
        assert_eq!((flows[0].byt, flows[0].pr), (40, Proto::UDP));
        assert!(flows[0].flg.has(b'S'));
        for (header, want) in [
            ("te,td,sa,da,sp,dp,pr,pkt\n", "`byt` is missing"),
            ("te,td,sa,da,sp,dp,pr,pkt,byt,tos\n", "unknown column"),
            ("te,td,sa,da,sp,dp,pr,pkt,byt,byt\n", "twice"),
        ] {
            std::fs::write(&p, header).unwrap();
            let e = read_flows(&p).map(|_| ()).unwrap_err().to_string();
            assert!(
                e.contains("few.csv:1: column `header`") && e.contains(want),
                "{e}"
            );
        }
        std::fs::write(
            &p,
            "te,td,sa,da,sp,dp,pr,pkt,byt\n2016-04-11 00:06:22,0.5\n",
        )
        .unwrap();
        let e = read_flows(&p).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("few.csv:2: expected 9 columns, found 2"), "{e}");
    }

    #[test]
    fn bad_line_names_file_line_column_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, "2016-04-11 00:06:22,0.0,1.2.3.4,5.6.7.8,1,2,TCP,.A....,0,0,1,40,background\n\
                            2016-04-11 00:06:23,0.0,1.2.3.4,5.6.7.8,1,99999,TCP,.A....,0,0,1,40,background\n").unwrap();
        let err = read_flows(&p).unwrap_err().to_string();
        assert!(
            err.contains("bad.csv:2") && err.contains("`dp`") && err.contains("99999"),
            "{err}"
        );
        let (good, bad) = read_flows_lenient(&p).unwrap();
        assert_eq!((good.len(), bad.len()), (1, 1));
    }
}
