//! Streaming readers for UGR'16 CSV (headerless or headered, plain or gzip) and the NetShare
//! CSV layout. Parsing is strict: every bad field is an error naming file, line, column, value.

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
    buf: String,
    pending: Option<String>,
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
        let (layout, pending, line_no) = if lower.starts_with("te,td,sa,da") {
            (Layout::Ugr16, None, 1)
        } else if lower.starts_with("srcip,dstip") {
            (Layout::NetShare, None, 1)
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
            buf: String::new(),
            pending,
        })
    }

    pub fn layout(&self) -> Layout {
        self.layout
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
        let r = match self.layout {
            Layout::Ugr16 => parse_ugr16_line(&line, &self.file, self.line_no),
            Layout::NetShare => parse_netshare_line(&line, &self.file, self.line_no),
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
