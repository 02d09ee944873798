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
    format!(
        "{},{:.3},{},{},{},{},{},{},{},{},{},{},{}",
        format_time(f.te),
        f.td,
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

/// Write flows as UGR'16 CSV; gzip when the name ends in `.gz`.
pub fn write_flows(path: &Path, flows: &[Flow], header: bool) -> Result<()> {
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
            writeln!(body, "{}", format_ugr16(f))?;
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
