//! Writers for UGR'16 CSV (headered by default; headerless on request). Output goes to a
//! temporary name and is renamed on success, so an interrupted write never looks complete.

use super::flow::{Flow, format_ipv4, format_time};
use super::read::UGR16_COLUMNS;
use crate::error::{Error, Result};
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::Path;

/// Format one flow as a UGR'16 CSV line (no newline). `td` is written with millisecond precision.
pub fn format_ugr16(f: &Flow) -> String {
    format_line(f, format!("{:.3}", f.td))
}

/// Format one flow as [`format_ugr16`] does, but with `td` exact: at millisecond precision where
/// that reads back as the same number, else as the shortest decimal that does (e.g.
/// `1.1840000000000002`, a float sum in STAN's extraction of the embedded day). Reading the
/// line back gives the flow bit for bit.
pub fn format_ugr16_exact(f: &Flow) -> String {
    let ms = format!("{:.3}", f.td);
    let td = if ms
        .parse::<f64>()
        .is_ok_and(|v| v.to_bits() == f.td.to_bits())
    {
        ms
    } else {
        format!("{}", f.td)
    };
    format_line(f, td)
}

fn format_line(f: &Flow, td: String) -> String {
    format!(
        "{},{td},{},{},{},{},{},{},{},{},{},{},{}",
        format_time(f.te),
        format_ipv4(f.sa),
        format_ipv4(f.da),
        f.sp,
        f.dp,
        f.pr.name(),
        f.flg.format(),
        f.fwd,
        f.stos,
        f.pkt,
        f.byt,
        f.label.name()
    )
}

/// Write flows as UGR'16 CSV ([`format_ugr16`]: `td` in milliseconds); gzip when the name ends
/// in `.gz`.
pub fn write_flows(path: &Path, flows: &[Flow], header: bool) -> Result<()> {
    write_lines(path, flows, header, format_ugr16)
}

/// Write flows as [`write_flows`] does, but with `td` exact ([`format_ugr16_exact`]): the
/// strict reader gives back exactly `flows`. For real flows that must stay the same bits (the
/// training data of `stan split`).
pub fn write_flows_exact(path: &Path, flows: &[Flow], header: bool) -> Result<()> {
    write_lines(path, flows, header, format_ugr16_exact)
}

fn write_lines(path: &Path, flows: &[Flow], header: bool, line: fn(&Flow) -> String) -> Result<()> {
    atomic_write(path, |w| {
        let gz = path.extension().is_some_and(|e| e == "gz");
        let mut body: Box<dyn Write + '_> = if gz {
            Box::new(GzEncoder::new(w, flate2::Compression::default()))
        } else {
            Box::new(w)
        };
        if header {
            writeln!(body, "{}", UGR16_COLUMNS.join(","))?;
        }
        for f in flows {
            writeln!(body, "{}", line(f))?;
        }
        body.flush()
    })
}

/// Write through a temp file in the same directory, then rename: readers never see half a file.
pub fn atomic_write(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let res = (|| {
        let f = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(f);
        write(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Atomically write a string.
pub fn atomic_write_str(path: &Path, s: &str) -> Result<()> {
    atomic_write(path, |w| w.write_all(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::flow::{Flags, Label, Proto};

    /// `td` at millisecond precision is written as before; one that is not is written exactly,
    /// and both read back bit for bit with the strict reader.
    #[test]
    fn exact_td_reads_back_bit_for_bit() {
        let flow = |td: f64| Flow {
            te: 1_460_332_800,
            td,
            sa: 0x2ADB_0001,
            da: 0x0808_0808,
            sp: 5000,
            dp: 53,
            pr: Proto::UDP,
            flg: Flags(0),
            fwd: 0,
            stos: 0,
            pkt: 1,
            byt: 60,
            label: Label::Background,
        };
        let tds = [
            0.0,
            6.0,
            1.184,
            1.1840000000000002,
            0.29600000000000004,
            1e-7,
        ];
        let flows: Vec<Flow> = tds.iter().map(|&td| flow(td)).collect();
        assert_eq!(format_ugr16_exact(&flows[2]), format_ugr16(&flows[2]));
        assert!(format_ugr16_exact(&flows[3]).contains(",1.1840000000000002,"));
        assert!(format_ugr16(&flows[3]).contains(",1.184,"));
        let dir = tempfile::tempdir().unwrap();
        for name in ["f.csv", "f.csv.gz"] {
            let p = dir.path().join(name);
            write_flows_exact(&p, &flows, true).unwrap();
            assert_eq!(crate::data::read_flows(&p).unwrap(), flows, "{name}");
        }
    }
}
