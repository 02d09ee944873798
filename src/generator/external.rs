//! Generators that run outside `stan`: a command it runs for every fit, or a fixed file of
//! synthetic flows (`[external.<name>]` in a spec, named in `generators` like a built-in).
//!
//! Why: a generator written in another language (a GAN in Python, a tool of another group)
//! is evaluated by exactly the same fidelity, detection and privacy code as the built-ins,
//! and a command generator is even retrained by the shadow attack, through the protocol below.
//!
//! # Command protocol
//!
//! For every fit (the released one and each shadow retraining) `stan` makes a fresh temporary
//! folder with
//! * `train.csv`: the training hosts' flows, headered UGR'16 CSV, each flow once, in time
//!   order, written exactly (the strict reader gives the same bits back);
//! * `request.json`: what to generate: `generator` (the entry's name), `seed`, `window` and
//!   `train_window` (`start`/`end` as `YYYY-MM-DD HH:MM:SS` UTC and `start_unix`/`end_unix`,
//!   half-open), `members_flows` (flows in `train.csv`) and `hosts`, one object per line, each
//!   `{"pseudonym": "42.219.240.1", "member": "42.219.153.5", "member_flows": 120}`: synthetic
//!   host `i` is named `pseudonym` (`encode::pseudonym(i)`, as in `stan split`'s split.json)
//!   and is paired with training host `member` (whose activity class the built-ins give it);
//!
//! and runs the command with three arguments appended, `TRAIN_CSV REQUEST_JSON OUT_CSV`
//! (absolute paths), in that folder as working directory, with the `env` table added to its
//! environment. Elements of `command` that are relative paths of existing files (such as
//! `scripts/generators/raw.sh`) are resolved against the directory `stan` was started in, as
//! `data.path` is. Its stdout and stderr are kept in the run folder as
//! `external/<name>/{stdout,stderr}-<fit>.txt` (`<fit>`: `release`, `shadow-1`, ...; the
//! folder is emptied when the released fit starts, so an earlier attempt's logs do not
//! linger). After
//! `timeout_s` seconds the command is killed with every process it started (it runs in its
//! own process group on Unix).
//!
//! The command must exit 0 having written `OUT_CSV`: UGR'16 CSV (headered or not; a header
//! may leave out the optional columns `flg fwd stos label`) or NetShare's NetFlow layout, read
//! with the strict reader. The fields the file carried travel with the roll-out
//! ([`Synthetic::fields`]); evaluations that read a missing one skip it with a marker row
//! ([`crate::run`]: generators whose output lacks a field). Each flow must have one of the requested pseudonyms as `sa` or `da` (it
//! then belongs to that host, or to both as in real data) and `te` in the generation window.
//! A non-zero exit, a timeout, a missing or malformed file or a stray flow fails that
//! generator only (the run's failure isolation); the message names the command, its exit
//! status and the tail of its stderr, and for bad output the file, line and column.
//!
//! # File generators
//!
//! `file = "synthetic.csv"` is a synthetic set made elsewhere, for instance by a generator
//! trained on `stan split`'s `members.csv`. It is read as a command's output is, with the same
//! rule for hosts: its flows must use the pseudonymous own IPs listed in split.json's
//! `synthetic_hosts` (host `i` is `pseudonym(i)`, one per member). A file cannot be retrained,
//! so the shadow attack is skipped for it (a `status` row `skipped`, not a failure).

use super::{Fitted, Generator, Simulated, Synthetic, Training};
use crate::data::FieldSet;
use crate::data::flow::{format_ipv4, format_time};
use crate::data::hosts::{HostTraffic, host_view};
use crate::data::read::FlowReader;
use crate::encode::pseudonym;
use crate::error::{Error, Result};
use crate::schema::Sequences;
use crate::spec::ExternalSpec;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How much of a failed command's stderr an error message quotes.
const STDERR_TAIL: usize = 2000;

/// The generator of entry `name`: a [`CommandGenerator`] or a [`FileGenerator`]. `run_dir` is
/// where a command's stdout and stderr are kept (`None`: not kept).
pub fn build(name: &str, entry: &ExternalSpec, run_dir: Option<&Path>) -> Box<dyn Generator> {
    match (&entry.command, &entry.file) {
        (Some(command), _) => Box::new(CommandGenerator {
            name: name.to_string(),
            command: resolve_command(command),
            timeout: entry.timeout_s.map(Duration::from_secs),
            env: entry.env.clone(),
            logs: run_dir.map(|d| d.join("external").join(name)),
            fits: AtomicUsize::new(0),
        }),
        (None, file) => Box::new(FileGenerator {
            name: name.to_string(),
            file: file.clone().unwrap_or_default(),
        }),
    }
}

/// `command` with every element that is a relative path of an existing file made absolute
/// against the current directory (the command runs in a temporary folder).
fn resolve_command(command: &[String]) -> Vec<String> {
    let cwd = std::env::current_dir().ok();
    command
        .iter()
        .map(|c| {
            let p = Path::new(c);
            match &cwd {
                Some(cwd) if p.is_relative() && c.contains('/') && cwd.join(p).exists() => {
                    cwd.join(p).display().to_string()
                }
                _ => c.clone(),
            }
        })
        .collect()
}

/// A generator run as a command for every fit (module doc: the protocol).
pub struct CommandGenerator {
    name: String,
    command: Vec<String>,
    timeout: Option<Duration>,
    env: BTreeMap<String, String>,
    logs: Option<PathBuf>,
    /// Fits so far, to name each one's log files.
    fits: AtomicUsize,
}

/// A fixed synthetic set (module doc).
pub struct FileGenerator {
    name: String,
    file: PathBuf,
}

impl Generator for CommandGenerator {
    fn name(&self) -> &str {
        &self.name
    }

    fn fit<'a>(&self, data: &Training<'a>, _seed: u64) -> Result<Box<dyn Fitted + 'a>> {
        // The released fit is the checkpointed one; shadow retrainings are numbered.
        let k = self.fits.fetch_add(1, Ordering::Relaxed);
        let label = if data.checkpoints.is_some() {
            // The released fit is a run's first: logs of an earlier attempt in the same run
            // folder are cleared, so that every log file there is this attempt's.
            if let Some(dir) = &self.logs {
                match std::fs::remove_dir_all(dir) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(Error::io(dir, e));
                    }
                    _ => {}
                }
            }
            "release".to_string()
        } else {
            format!("shadow-{}", k + 1)
        };
        Ok(Box::new(CommandFit {
            name: self.name.clone(),
            command: self.command.clone(),
            timeout: self.timeout,
            env: self.env.clone(),
            logs: self.logs.as_ref().map(|d| (d.clone(), label)),
            data: *data,
        }))
    }

    fn fit_simulated(&self, _: &Simulated<'_>, _: u64) -> Result<(Sequences, serde_json::Value)> {
        Err(Error::Invalid(format!(
            "external generator `{}` runs on NetFlow data only, not the simulated check",
            self.name
        )))
    }
}

impl Generator for FileGenerator {
    fn name(&self) -> &str {
        &self.name
    }

    fn fit<'a>(&self, data: &Training<'a>, _seed: u64) -> Result<Box<dyn Fitted + 'a>> {
        Ok(Box::new(FileFit {
            file: self.file.clone(),
            n_hosts: data.n_hosts(),
            window: data.window,
        }))
    }

    fn fit_simulated(&self, _: &Simulated<'_>, _: u64) -> Result<(Sequences, serde_json::Value)> {
        Err(Error::Invalid(format!(
            "external generator `{}` runs on NetFlow data only, not the simulated check",
            self.name
        )))
    }
}

struct FileFit {
    file: PathBuf,
    n_hosts: usize,
    window: (i64, i64),
}

impl Fitted for FileFit {
    fn generate(&self, _seed: u64) -> Result<Synthetic> {
        let (hosts, fields) = read_synthetic(&self.file, self.n_hosts, self.window)?;
        Ok(Synthetic {
            hosts,
            details: serde_json::json!({ "file": self.file.display().to_string() }),
            fields,
        })
    }
}

struct CommandFit<'a> {
    name: String,
    command: Vec<String>,
    timeout: Option<Duration>,
    env: BTreeMap<String, String>,
    /// Folder and fit label of the log files.
    logs: Option<(PathBuf, String)>,
    data: Training<'a>,
}

impl Fitted for CommandFit<'_> {
    fn generate(&self, seed: u64) -> Result<Synthetic> {
        let tmp = TempDir::new(&self.name)?;
        let train = tmp.0.join("train.csv");
        let request = tmp.0.join("request.json");
        let out = tmp.0.join("out.csv");
        let flows = training_flows(self.data.hosts);
        crate::data::write::write_flows_exact(&train, &flows, true)?;
        let text = request_json(&self.name, &self.data, seed, flows.len());
        crate::data::write::atomic_write_str(&request, &text)?;
        let (stdout, stderr) = match &self.logs {
            Some((dir, label)) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                (
                    dir.join(format!("stdout-{label}.txt")),
                    dir.join(format!("stderr-{label}.txt")),
                )
            }
            None => (tmp.0.join("stdout.txt"), tmp.0.join("stderr.txt")),
        };
        let shown = self.command.join(" ");
        let open = |p: &Path| std::fs::File::create(p).map_err(|e| Error::io(p, e));
        let mut command = std::process::Command::new(&self.command[0]);
        #[cfg(unix)]
        {
            // Its own process group, so that a timeout kills what it started too.
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let mut child = command
            .args(&self.command[1..])
            .arg(&train)
            .arg(&request)
            .arg(&out)
            .current_dir(&tmp.0)
            .envs(&self.env)
            .stdin(std::process::Stdio::null())
            .stdout(open(&stdout)?)
            .stderr(open(&stderr)?)
            .spawn()
            .map_err(|e| {
                Error::Other(format!(
                    "external generator `{}`: cannot start command `{shown}`: {e}",
                    self.name
                ))
            })?;
        let t0 = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => return Err(Error::io(&self.command[0], e)),
            }
            if let Some(limit) = self.timeout
                && t0.elapsed() >= limit
            {
                kill(&mut child);
                return Err(Error::Other(format!(
                    "external generator `{}`: command `{shown}` timed out after {} s and was \
                     killed; stderr tail: {}",
                    self.name,
                    limit.as_secs(),
                    tail(&stderr)
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if !status.success() {
            return Err(Error::Other(format!(
                "external generator `{}`: command `{shown}` failed with exit status {}; \
                 stderr tail: {}",
                self.name,
                status
                    .code()
                    .map_or("none (killed by a signal)".into(), |c| c.to_string()),
                tail(&stderr)
            )));
        }
        let (hosts, fields) =
            read_synthetic(&out, self.data.n_hosts(), self.data.window).map_err(|e| {
                Error::Other(format!(
                    "external generator `{}`: command `{shown}` exited with status 0 but its \
                 output is bad: {e}; stderr tail: {}",
                    self.name,
                    tail(&stderr)
                ))
            })?;
        Ok(Synthetic {
            hosts,
            details: serde_json::json!({ "command": self.command }),
            fields,
        })
    }
}

/// The training hosts' flows, each once (a flow between two hosts is in both hosts' traffic)
/// and in time order: reading them back and taking each host's view gives `hosts` again.
fn training_flows(hosts: &[HostTraffic]) -> Vec<crate::data::flow::Flow> {
    let index: HashMap<u32, usize> = hosts.iter().enumerate().map(|(i, h)| (h.ip, i)).collect();
    let earlier = |ip: u32, own: u32, i: usize| ip != own && index.get(&ip).is_some_and(|&j| j < i);
    let mut flows: Vec<_> = hosts
        .iter()
        .enumerate()
        .flat_map(|(i, h)| {
            h.flows
                .iter()
                .filter(move |f| !earlier(f.sa, h.ip, i) && !earlier(f.da, h.ip, i))
                .copied()
        })
        .collect();
    flows.sort_by_key(|f| f.te);
    flows
}

/// `request.json` (module doc), one host per line so that line tools can read it.
fn request_json(name: &str, data: &Training<'_>, seed: u64, members_flows: usize) -> String {
    let window = |(start, end): (i64, i64)| {
        serde_json::json!({
            "start": format_time(start), "end": format_time(end),
            "start_unix": start, "end_unix": end,
        })
        .to_string()
    };
    let hosts: Vec<String> = data
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            serde_json::json!({
                "pseudonym": format_ipv4(pseudonym(i)),
                "member": format_ipv4(h.ip),
                "member_flows": h.flows.len(),
            })
            .to_string()
        })
        .collect();
    format!(
        "{{\n  \"generator\": {},\n  \"seed\": {seed},\n  \"window\": {},\n  \
         \"train_window\": {},\n  \"members_flows\": {},\n  \"hosts\": [\n    {}\n  ]\n}}\n",
        serde_json::Value::from(name),
        window(data.window),
        window(data.train_window),
        members_flows,
        hosts.join(",\n    ")
    )
}

/// Read synthetic flows for `n_hosts` pseudonymous hosts over `window` with the strict reader,
/// with the optional fields the file carried: every flow must have a pseudonym
/// `pseudonym(i)`, `i < n_hosts`, as `sa` or `da` and `te` in the window; the first that does
/// not is an error naming the file, line and column.
pub fn read_synthetic(
    path: &Path,
    n_hosts: usize,
    window: (i64, i64),
) -> Result<(Vec<HostTraffic>, FieldSet)> {
    let ips: Vec<u32> = (0..n_hosts).map(pseudonym).collect();
    let known: std::collections::HashSet<u32> = ips.iter().copied().collect();
    let file = path.display().to_string();
    let mut flows = Vec::new();
    let reader = FlowReader::open(path)?;
    let fields = reader.fields();
    for (line, flow) in reader {
        let f = flow?;
        let bad = |column: &str, value: String, reason: String| Error::Parse {
            file: file.clone(),
            line,
            column: column.into(),
            value,
            reason,
        };
        if f.te < window.0 || f.te >= window.1 {
            return Err(bad(
                "te",
                format_time(f.te),
                format!(
                    "outside the generation window [{}, {})",
                    format_time(window.0),
                    format_time(window.1)
                ),
            ));
        }
        if !known.contains(&f.sa) && !known.contains(&f.da) {
            return Err(bad(
                "sa",
                format_ipv4(f.sa),
                format!(
                    "neither `sa` nor `da` ({}) is one of the {n_hosts} requested pseudonyms \
                     ({} to {})",
                    format_ipv4(f.da),
                    format_ipv4(pseudonym(0)),
                    format_ipv4(pseudonym(n_hosts.saturating_sub(1)))
                ),
            ));
        }
        flows.push(f);
    }
    Ok((host_view(&flows, &ips), fields))
}

/// Kill a timed-out command: its whole process group on Unix (a shell script's children
/// too), else the child alone; then reap it.
fn kill(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stderr(std::process::Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The last [`STDERR_TAIL`] bytes of a log file (lossy UTF-8), or a note that it is empty.
fn tail(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = bytes.len().saturating_sub(STDERR_TAIL);
    let text = String::from_utf8_lossy(&bytes[start..]).trim().to_string();
    if text.is_empty() {
        "(empty)".into()
    } else {
        text
    }
}

/// A temporary folder removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Result<TempDir> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "stan-external-{name}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::flow::{Flags, Flow, Label, Proto};

    fn flow(te: i64, sa: u32, da: u32) -> Flow {
        Flow {
            te,
            td: 0.1 + 0.2,
            sa,
            da,
            sp: 40000,
            dp: 80,
            pr: Proto::TCP,
            flg: Flags(0),
            fwd: 0,
            stos: 0,
            pkt: 3,
            byt: 300,
            label: Label::Background,
        }
    }

    fn ip(last: u8) -> u32 {
        u32::from_be_bytes([42, 219, 150, last])
    }

    /// A flow between two training hosts is written once, and the hosts' views of what is
    /// written are the training hosts again, bit for bit.
    #[test]
    fn training_csv_reads_back_as_the_training_hosts() -> Result<()> {
        let (a, b, out) = (ip(1), ip(2), ip(200));
        let flows = vec![
            flow(5, a, out),
            flow(6, a, b),
            flow(7, out, b),
            flow(9, b, a),
        ];
        let hosts = host_view(&flows, &[a, b]);
        let written = training_flows(&hosts);
        assert_eq!(written.len(), flows.len());
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let path = dir.path().join("train.csv");
        crate::data::write::write_flows_exact(&path, &written, true)?;
        let back = crate::data::read_flows(&path)?;
        assert_eq!(host_view(&back, &[a, b]), hosts);
        Ok(())
    }

    /// Output flows go to the requested pseudonyms; a stray host or a flow outside the window
    /// is an error naming the file, line and column.
    #[test]
    fn output_is_split_by_pseudonym_and_checked() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let path = dir.path().join("out.csv");
        let (p0, p1) = (pseudonym(0), pseudonym(1));
        let write = |flows: &[Flow]| crate::data::write::write_flows_exact(&path, flows, false);
        write(&[
            flow(10, p0, ip(200)),
            flow(11, ip(201), p1),
            flow(12, p0, p1),
        ])?;
        let (hosts, fields) = read_synthetic(&path, 2, (10, 20))?;
        assert!(fields.is_all());
        assert_eq!(hosts[0].ip, p0);
        assert_eq!(hosts[0].flows.len(), 2);
        assert_eq!(hosts[1].flows.len(), 2);
        write(&[flow(10, p0, ip(200)), flow(20, p1, ip(200))])?;
        let e = read_synthetic(&path, 2, (10, 20)).unwrap_err().to_string();
        assert!(e.contains("out.csv:2: column `te`"), "{e}");
        write(&[flow(10, pseudonym(2), ip(200))])?;
        let e = read_synthetic(&path, 2, (10, 20)).unwrap_err().to_string();
        assert!(
            e.contains("out.csv:1: column `sa`") && e.contains("pseudonyms"),
            "{e}"
        );
        Ok(())
    }
}
