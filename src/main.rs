//! The `stan` command line.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use stan::data::read::FlowReader;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "stan",
    version,
    about = "Synthetic NetFlow traffic (STAN and baselines): train, generate, judge fidelity, utility and privacy"
)]
struct Cli {
    /// Log level filter (e.g. info, debug); overrides RUST_LOG.
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one experiment spec and write its result folder. Exits non-zero when a generator
    /// failed (the folder is then written with status `partial`).
    Run {
        spec: PathBuf,
        /// Results root.
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Override the spec's seed.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Write the host split `stan run` uses for a spec and seed, to train a generator elsewhere.
    ///
    /// Each role's flows in the training window (members.csv: exactly the generators' training
    /// data; nonmembers.csv, holdout.csv, reference.csv), then split.json (hosts per role,
    /// windows, spec hash, seed, revisions, flow counts).
    Split {
        spec: PathBuf,
        /// Folder to write the files into (created if missing; files there are replaced).
        #[arg(long)]
        out: PathBuf,
        /// Override the spec's seed (as `stan run --seed`).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Expand a `[sweep]` grid into runs; run the missing ones locally or emit a Slurm array.
    Sweep {
        file: PathBuf,
        /// Cells run in parallel (each a `stan run` subprocess).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Results root.
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Instead of running, write a job-array script for this scheduler (to stdout, or to
        /// `<out>/<experiment>/sweep.slurm` when --out is given explicitly).
        #[arg(long, value_parser = ["slurm"])]
        emit: Option<String>,
    },
    /// Rebuild tables from result folders alone, aggregating seeds (mean, std, 95 % CI).
    /// Partial runs count with the figures they wrote (see `sources.csv`).
    ///
    /// Writes report.html, headline.md, summary.csv, sources.csv and tables.{md,csv,tex} into
    /// its own folder, never over a run's files.
    Report {
        /// Run folders, or folders holding run folders (searched at any depth).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output folder (default: `report/` inside the first DIR). A run folder itself (one
        /// with a manifest.json) is refused.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare a run's metrics.csv with thresholds; exit non-zero listing every violation.
    ///
    /// By default the run's own `thresholds.toml`, which `stan run` copies from
    /// `<spec stem>.thresholds.toml` beside its spec (e.g. experiments/ci.thresholds.toml).
    Check {
        run_dir: PathBuf,
        /// Another thresholds file instead of the run's own.
        #[arg(long)]
        thresholds: Option<PathBuf>,
    },
    /// Inspect flow files.
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
    },
}

#[derive(Subcommand)]
enum DataCmd {
    /// List every malformed line (file, line, column, value); exit non-zero if any.
    Validate { file: PathBuf },
    /// Cut per-host day files from a large UGR'16 file the way STAN did (type-0 hosts between
    /// the flow-count quartiles, or an explicit host list).
    Cut {
        file: PathBuf,
        /// Date to keep (YYYY-MM-DD).
        #[arg(long)]
        date: String,
        #[arg(long, default_value = "cut")]
        out: PathBuf,
        /// Explicit hosts (repeatable); default: STAN's quartile sample.
        #[arg(long = "host")]
        hosts: Vec<String>,
        #[arg(long, default_value_t = 100)]
        n_hosts: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "42.219")]
        internal_prefix: String,
    },
    /// Rows, hosts, time span, labels and protocol mix.
    Stats {
        file: PathBuf,
        /// Skip malformed lines (their count is reported) instead of failing.
        #[arg(long)]
        skip_invalid: bool,
        /// /16 prefix of internal hosts.
        #[arg(long, default_value = "42.219")]
        internal_prefix: String,
    },
}

fn main() -> ExitCode {
    // SAFETY: first statement of main, before any thread exists.
    unsafe { stan::runtime::init_thread_env() };
    let cli = Cli::parse();
    let filter = cli
        .log
        .clone()
        .map(tracing_subscriber::EnvFilter::new)
        .unwrap_or_else(|| {
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into())
        });
    // Colour codes only on a terminal: a log redirected to a file stays plain text.
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match dispatch(cli.cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Run { spec, out, seed } => {
            let s = load_spec(&spec, seed)?;
            let opts = stan::run::RunOptions {
                out,
                progress: true,
            };
            let o =
                stan::run::run(&s, &opts).with_context(|| format!("running {}", spec.display()))?;
            // The spec's own bounds travel with its run, so `stan check RUN` needs no path.
            let own = o.dir.join(stan::experiments::check::RUN_FILE);
            match stan::experiments::check::beside(&spec) {
                Some(th) => {
                    let text = std::fs::read_to_string(&th)
                        .with_context(|| format!("reading {}", th.display()))?;
                    stan::data::atomic_write_str(&own, &text)?;
                }
                None => {
                    let _ = std::fs::remove_file(&own);
                }
            }
            // The summary goes to stderr: stdout's last line stays the folder, for scripts.
            eprintln!(
                "\nrun {} ({}): {}",
                o.manifest.run_id,
                o.manifest.status,
                o.dir.display()
            );
            for line in stan::report::headline::Headline::summary_lines(&o.rows) {
                eprintln!("  {line}");
            }
            eprintln!(
                "next: {} (headline tables and plots), {} (every figure)\n",
                o.dir.join("report.html").display(),
                o.dir.join("tables.md").display()
            );
            println!("{}", o.dir.display());
            // A partial run has written everything it could; it still fails the command, so
            // that no script takes it for a complete one.
            let failed = o.manifest.failed_generators();
            for (g, e) in &failed {
                eprintln!("failed generator {g}: {e}");
            }
            if failed.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "run partial: {} of {} generators failed; the others' results are in {}",
                    failed.len(),
                    o.manifest.generators.len(),
                    o.dir.display()
                );
                Ok(ExitCode::FAILURE)
            }
        }
        Cmd::Split { spec, out, seed } => {
            let s = load_spec(&spec, seed)?;
            let r = stan::run::split::write_split(&s, &out)
                .with_context(|| format!("splitting {}", spec.display()))?;
            for f in &r.files {
                eprintln!(
                    "{}: {} hosts, {} flows in [{}, {})",
                    f.file, f.hosts, f.flows, f.window.0, f.window.1
                );
            }
            println!("{}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Sweep {
            file,
            jobs,
            out,
            emit,
        } => {
            use stan::experiments::sweep;
            let cells = sweep::expand_file(&file)?;
            if emit.is_some() {
                let out_abs = std::path::absolute(&out)?;
                let paths = sweep::write_cells(&cells, &out_abs)?;
                let exe = std::env::current_exe()?.display().to_string();
                let script = sweep::slurm_script(&cells, &paths, &out_abs, &exe);
                let explicit = std::env::args().any(|a| a == "--out" || a.starts_with("--out="));
                if explicit && let Some(c) = cells.first() {
                    let p = out_abs.join(&c.spec.name).join("sweep.slurm");
                    stan::data::atomic_write_str(&p, &script)?;
                    eprintln!("wrote {} ({} cells)", p.display(), cells.len());
                } else {
                    print!("{script}");
                }
                return Ok(ExitCode::SUCCESS);
            }
            let exe = std::env::current_exe()?;
            let o = sweep::run_local(&exe, &cells, &out, jobs)?;
            eprintln!(
                "sweep: {} cells, {} ran, {} already complete, {} partial, {} failed",
                cells.len(),
                o.ran,
                o.already_complete,
                o.partial.len(),
                o.failed.len()
            );
            for p in &o.partial {
                eprintln!("partial: {p}");
            }
            if !o.partial.is_empty() {
                eprintln!("a partial cell is not run again; delete its folder to retry it");
            }
            for f in &o.failed {
                eprintln!("failed: {f}");
            }
            Ok(if o.partial.is_empty() && o.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Report { dirs, out } => {
            use stan::experiments::aggregate;
            let runs = aggregate::find_runs(&dirs)?;
            anyhow::ensure!(
                !runs.is_empty(),
                "no finished run folders (with a complete or partial manifest.json) under {dirs:?}"
            );
            let aggs = aggregate::aggregate(&runs);
            let out = out.unwrap_or_else(|| dirs[0].join("report"));
            aggregate::write_report(&runs, &aggs, &out)?;
            eprintln!(
                "{} runs, {} figures -> {}",
                runs.len(),
                aggs.len(),
                out.display()
            );
            eprintln!("next: {}", out.join("report.html").display());
            println!("{}", out.join("tables.md").display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Check {
            run_dir,
            thresholds,
        } => {
            use stan::experiments::check;
            let rows = stan::report::read_metrics(&run_dir.join("metrics.csv"))?;
            let thresholds = match thresholds {
                Some(t) => t,
                None => {
                    let own = run_dir.join(check::RUN_FILE);
                    anyhow::ensure!(
                        own.is_file(),
                        "{} has no {} (its spec had no <spec stem>.thresholds.toml beside it); \
                         name one with --thresholds FILE",
                        run_dir.display(),
                        check::RUN_FILE
                    );
                    own
                }
            };
            let th = check::Thresholds::load(&thresholds)?;
            let v = check::check(&rows, &th);
            for line in &v {
                println!("VIOLATION {line}");
            }
            eprintln!(
                "{} thresholds checked, {} violations",
                th.threshold.len(),
                v.len()
            );
            Ok(if v.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Data {
            cmd: DataCmd::Validate { file },
        } => {
            let mut bad = 0usize;
            let mut rows = 0usize;
            for (_, r) in FlowReader::open(&file)? {
                match r {
                    Ok(_) => rows += 1,
                    Err(e @ stan::Error::Io { .. }) => return Err(e.into()),
                    Err(e) => {
                        bad += 1;
                        println!("{e}");
                    }
                }
            }
            eprintln!("{}: {rows} valid rows, {bad} invalid", file.display());
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Data {
            cmd:
                DataCmd::Cut {
                    file,
                    date,
                    out,
                    hosts,
                    n_hosts,
                    seed,
                    internal_prefix,
                },
        } => {
            let day = stan::data::flow::parse_time(&format!("{date} 00:00:00"))
                .with_context(|| format!("--date: expected YYYY-MM-DD, got {date:?}"))?;
            let hosts = hosts
                .iter()
                .map(|h| stan::data::flow::parse_ipv4(h).with_context(|| format!("--host {h:?}")))
                .collect::<Result<Vec<u32>>>()?;
            let opts = stan::data::cut::CutOptions {
                day,
                prefix16: parse_prefix(&internal_prefix)?,
                hosts,
                n_hosts,
                seed,
            };
            let files = stan::data::cut::cut(&file, &out, &opts)?;
            eprintln!("wrote {} host files to {}", files.len(), out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Data {
            cmd:
                DataCmd::Stats {
                    file,
                    skip_invalid,
                    internal_prefix,
                },
        } => {
            let (flows, skipped) = if skip_invalid {
                let (f, bad) = stan::data::read::read_flows_lenient(&file)?;
                (f, bad.len())
            } else {
                (stan::data::read_flows(&file)?, 0)
            };
            let prefix = parse_prefix(&internal_prefix)?;
            let mut s = stan::data::stats::DataStats::compute(&flows, prefix);
            s.skipped_invalid = skipped;
            print!("{s}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The spec at `path`, with its seed replaced by `seed` when given (`stan run` and `stan split`
/// alike, so that both see the same spec for the same arguments).
fn load_spec(path: &std::path::Path, seed: Option<u64>) -> Result<stan::spec::Spec> {
    let mut s = stan::spec::Spec::load(path)?;
    if let Some(seed) = seed {
        s.seed = seed;
    }
    Ok(s)
}

fn parse_prefix(s: &str) -> Result<u32> {
    stan::data::flow::parse_prefix16(s)
        .with_context(|| format!("--internal-prefix: expected two octets like 42.219, got {s:?}"))
}
