//! `stan run`: one spec, one seed, one result folder.
//!
//! Stages: load and validate flows, split hosts and time, fit the encoder on training data,
//! fit each generator and roll it out, evaluate (fidelity, downstream detection, privacy), and
//! write `results/<experiment>/<run-id>/` with `manifest.json`, `metrics.csv`, tables, plots and
//! the synthetic flows. Every file is written atomically; `manifest.json` is written last and
//! only a folder with a manifest whose `status` is `complete` or `partial` counts as finished.
//!
//! A generator that fails, or one of its evaluation steps, does not end the run: the others
//! are still evaluated and written, the failure is recorded in the manifest and in
//! `metrics.csv`, and the run's status is `partial` (`Failures` says how).
//!
//! # Generators whose output lacks a field
//!
//! An external generator's file may lack optional UGR'16 fields (NetShare's layout has no
//! flags, ToS or forwarding status; [`crate::data::fields`]). The manifest records the fields
//! each generator's roll-out carried (`generators.<name>.fields`), and no figure is computed
//! from the reader's fillers:
//!
//! * `fidelity`, `fidelity_train`: the rows that read an absent field are not written
//!   ([`fidelity::row_needs`]); one marker row per section and absent field the section reads
//!   ([`fidelity::FIELDS`]): `status,<generator>,missing,fidelity.flg,1,,,0`.
//! * `detect`: the detectors that read an absent field ([`crate::detect::DETECTOR_FIELDS`]:
//!   the protocol predictor reads ToS) get no rows for the generator's sources;
//!   `status,<generator>,missing,detect.stos,1,,,0`.
//! * `privacy` (shadow attack included): the attacks run, with the absent field dropped on
//!   every side ([`crate::privacy::features::FIELDS`]): it measures what leaks from what was
//!   released; `status,<generator>,dropped,privacy.flg,1,,,0`.
//!
//! A field the real data file lacks (`data.path` in NetShare's layout) counts as absent from
//! every generator's roll-out: the built-ins would only have learnt the fillers.
//!
//! Neither marker is a failure (the run stays `complete`).

pub mod machine;
pub mod manifest;
pub mod prepare;
mod revision;
pub mod split;

use crate::data::FieldSet;
use crate::data::hosts::HostTraffic;
use crate::encode::Encoder;
use crate::error::{Error, Result};
use crate::fidelity;
use crate::generator::{self, Role, Simulated, Training};
use crate::privacy::{self, PrivacyInput};
use crate::report::{self, MetricRow};
use crate::schema::Sequences;
use crate::spec::{DatasetKind, Evaluation, Spec};
use manifest::{GeneratorInfo, Manifest, Stages};
use prepare::Prepared;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where and how to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Results root (default `results/`).
    pub out: PathBuf,
    /// Show progress bars.
    pub progress: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            out: PathBuf::from("results"),
            progress: false,
        }
    }
}

/// What a finished run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub dir: PathBuf,
    pub rows: Vec<MetricRow>,
    pub manifest: Manifest,
}

/// The run folder of `spec` under `out`.
pub fn run_dir(spec: &Spec, out: &Path) -> PathBuf {
    out.join(&spec.name).join(spec.run_id())
}

/// Rows per synthetic host at most (defined with the generators, which enforce it).
pub use crate::generator::MAX_ROWS_PER_HOST;

/// Run one spec.
pub fn run(spec: &Spec, opts: &RunOptions) -> Result<RunOutcome> {
    let dir = run_dir(spec, &opts.out);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    // A stale manifest from an interrupted earlier attempt must not make this folder look done.
    let _ = std::fs::remove_file(dir.join("manifest.json"));
    let mut stages = Stages::default();
    let mut manifest = Manifest::new(spec);
    let rows = match spec.data.dataset {
        DatasetKind::Ugr16 => run_ugr16(spec, opts, &dir, &mut stages, &mut manifest)?,
        DatasetKind::Ar1 => run_ar1(spec, &dir, opts, &mut stages, &mut manifest)?,
    };
    stages.time("write", || -> Result<()> {
        report::write_metrics(&dir.join("metrics.csv"), &rows)?;
        report::write_tables(&dir, &rows, &format!("{} ({})", spec.name, spec.run_id()))
    })?;
    manifest.finish(stages);
    // The headline and the page show the finished status and timings, so they come after
    // `finish`; the manifest still comes last.
    report::html::write_run_report(&dir, &manifest, &rows)?;
    manifest.write(&dir.join("manifest.json"))?;
    Ok(RunOutcome {
        dir,
        rows,
        manifest,
    })
}

fn run_ugr16(
    spec: &Spec,
    opts: &RunOptions,
    dir: &Path,
    stages: &mut Stages,
    manifest: &mut Manifest,
) -> Result<Vec<MetricRow>> {
    let p = stages.time("load", || Prepared::load(spec))?;
    manifest.record_data(&p);
    tracing::info!(
        flows = p.n_flows,
        members = p.split.members.len(),
        nonmembers = p.split.nonmembers.len(),
        "data loaded and split"
    );
    let encoder = stages.time("encode", || {
        Encoder::fit(&p.members_train, p.train.0, spec.encoder.clone())
    })?;
    let train_seq = stages.time("encode", || encoder.encode_hosts(&p.members_train, p.train))?;
    manifest.encoder = serde_json::to_value(&encoder).ok();

    let checkpoints = dir.join("checkpoints");
    // What every generator is fitted on: the members' training traffic.
    let training = Training {
        hosts: &p.members_train,
        seq: &train_seq,
        encoder: &encoder,
        train_window: p.train,
        window: p.test,
        holdout: &p.holdout_test,
        checkpoints: Some(&checkpoints),
        progress: opts.progress,
    };

    let mut failures = Failures::default();
    let mut synthetic: Vec<(&str, Vec<HostTraffic>)> = Vec::new();
    // The optional fields each generator's roll-out carried (module doc).
    let mut fields: BTreeMap<&str, FieldSet> = BTreeMap::new();
    for g in spec.generators.iter().map(String::as_str) {
        let stage = format!("generator.{g}");
        tracing::info!(generator = g, "fitting and rolling out");
        let t0 = std::time::Instant::now();
        let made = stages.time(&stage, || synthesize(g, spec, &training, dir));
        let seconds = t0.elapsed().as_secs_f64();
        let path = dir.join("synthetic").join(format!("{g}.csv.gz"));
        // (error, hosts rolled out) of a failed generator.
        let made = match made {
            Ok((hosts, info)) => match no_flows(g, &hosts, p.test) {
                None => Ok((hosts, info)),
                Some(e) => Err((e, hosts.len())),
            },
            Err(e) => Err((e, 0)),
        };
        let (hosts, mut info) = match made {
            Ok(made) => made,
            Err((e, hosts)) => {
                failures.record(g, STEP_GENERATE, &e);
                // No synthetic file for a failed generator, not even one of an earlier attempt.
                let _ = std::fs::remove_file(&path);
                let info = GeneratorInfo {
                    seconds,
                    hosts,
                    ..Default::default()
                };
                manifest.generators.insert(g.to_string(), info);
                continue;
            }
        };
        info.seconds = seconds;
        if let Some(f) = info.fields {
            // What the real data lacks, no roll-out has either (the built-ins learn fillers).
            let f = f.intersection(p.fields);
            info.fields = Some(f);
            fields.insert(g, f);
        }
        info.flows = hosts.iter().map(|h| h.flows.len()).sum();
        info.hosts = hosts.len();
        if spec.write_synthetic {
            let flows: Vec<_> = crate::data::hosts::all_flows(&hosts);
            stages.time("write", || crate::data::write_flows(&path, &flows, true))?;
        }
        manifest.generators.insert(g.to_string(), info);
        synthetic.push((g, hosts));
    }
    let seed = spec.seed;
    let mut rows = Vec::new();
    if spec.evaluates(Evaluation::Fidelity) {
        tracing::info!(
            generators = synthetic.len(),
            "fidelity: comparing each generator with the held-out hosts, then with the training traffic"
        );
        stages.time("fidelity", || -> Result<()> {
            let real = &p.nonmembers_test;
            rows.extend(fidelity_rows(
                fidelity::Reference::Test,
                (real, p.test),
                (&synthetic, p.test),
                &fields,
                spec,
                &mut failures,
            ));
            if spec.plots && spec.fidelity.plots {
                let refs: Vec<(&str, &[HostTraffic])> = synthetic
                    .iter()
                    .filter(|(g, _)| !failures.failed(g))
                    .map(|(g, h)| (*g, h.as_slice()))
                    .collect();
                fidelity::plot_marginals(&dir.join("plots"), real, &refs)?;
            }
            Ok(())
        })?;
        // The members' training traffic as fitted (fidelity module doc: why the training
        // window and not the generation window).
        let train_rows = stages.time("fidelity_train", || {
            fidelity_rows(
                fidelity::Reference::Train,
                (&p.members_train, p.train),
                (&synthetic, p.test),
                &fields,
                spec,
                &mut failures,
            )
        });
        rows.extend(train_rows);
    }
    if spec.evaluates(Evaluation::Detect) {
        // Every generator in its place, one that failed to generate as an empty slice: the
        // detection sources are seeded by place (detect::evaluate_isolated).
        let all: Vec<(&str, &[HostTraffic])> = spec
            .generators
            .iter()
            .map(|g| {
                let hosts = synthetic.iter().find(|(s, _)| s == g).map(|(_, h)| h);
                (g.as_str(), hosts.map_or(&[][..], |h| h.as_slice()))
            })
            .collect();
        let all_fields: Vec<FieldSet> = spec
            .generators
            .iter()
            .map(|g| fields_of(&fields, g))
            .collect();
        let plot_dir = dir.join("plots");
        tracing::info!(
            real_shares = ?spec.detect.real_shares,
            seeds = spec.detect.seeds,
            "detect: training the protocol classifier, the next-bytes regressor and the paper's protocol tree on real traffic and on each generator's mixes"
        );
        let det = stages.time("detect", || {
            crate::detect::evaluate_isolated_fields(
                &p.members_train,
                &all,
                &all_fields,
                &p.nonmembers_test,
                &spec.detect,
                seed ^ hash_name("detect"),
                spec.plots.then_some(plot_dir.as_path()),
            )
        })?;
        for (i, e) in &det.failed {
            let g = spec.generators[*i].as_str();
            if !failures.failed_at(g, STEP_GENERATE) {
                failures.record(g, STEP_DETECT, e);
            }
        }
        crate::data::write::atomic_write_str(
            &dir.join("detect_headline.md"),
            &crate::detect::headline_table(&det.rows),
        )?;
        rows.extend(det.rows);
        for (g, _) in &synthetic {
            if !failures.failed_at(g, STEP_DETECT) {
                let f = fields_of(&fields, g);
                rows.extend(marker_rows(
                    g,
                    MISSING_METRIC,
                    "detect",
                    crate::detect::FIELDS,
                    f,
                ));
            }
        }
    }
    if spec.evaluates(Evaluation::Privacy) {
        for (g, hosts) in &synthetic {
            let g: &str = g;
            // A field the generator did not release is dropped on every side (module doc).
            let present = fields_of(&fields, g);
            let blanked =
                (!privacy::features::FIELDS.missing_from(present).is_empty()).then(|| {
                    use crate::data::fields::blank;
                    (
                        blank(&p.members_train, present),
                        blank(&p.nonmembers_train, present),
                        blank(&p.reference_train, present),
                    )
                });
            let input = match &blanked {
                Some((members, nonmembers, reference)) => PrivacyInput {
                    members,
                    nonmembers,
                    reference,
                    synthetic: hosts,
                },
                None => PrivacyInput {
                    members: &p.members_train,
                    nonmembers: &p.nonmembers_train,
                    reference: &p.reference_train,
                    synthetic: hosts,
                },
            };
            rows.extend(marker_rows(
                g,
                DROPPED_METRIC,
                "privacy",
                privacy::features::FIELDS,
                present,
            ));
            let pseed = seed ^ hash_name(g) ^ hash_name("privacy");
            tracing::info!(generator = g, "privacy: membership-inference attacks");
            let report = stages.time("privacy", || {
                privacy::evaluate_detailed(g, &input, &spec.privacy, pseed)
            });
            match report {
                Ok(report) => {
                    if spec.plots {
                        let curves = report.curves();
                        let plots = dir.join("plots");
                        std::fs::create_dir_all(&plots).map_err(|e| Error::io(&plots, e))?;
                        privacy::plot::plot_roc(
                            &plots.join(format!("privacy_roc_{g}.svg")),
                            &format!("membership inference: {g}"),
                            &curves,
                        )?;
                    }
                    rows.extend(report.rows);
                }
                Err(e) => failures.record(g, STEP_PRIVACY, &e),
            }
            if spec.shadow_generators.iter().any(|s| s == g) {
                if let Some(reason) = no_shadow(spec, g) {
                    // Not a failure: there is nothing to retrain.
                    tracing::info!(generator = g, reason, "shadow attack skipped");
                    rows.push(MetricRow::new(
                        STATUS_SECTION,
                        g,
                        SKIPPED_METRIC,
                        STEP_SHADOW,
                        1.0,
                        0,
                    ));
                    continue;
                }
                // The attacker retrains the generator as the run fitted it (shadow budget).
                let n = spec.privacy.shadow.shadows;
                tracing::info!(
                    generator = g,
                    retrainings = n,
                    "privacy: shadow attack, retraining the generator on shadow datasets"
                );
                let shadow = generator::build_entry(g, spec, Role::Shadow, Some(dir)).and_then(
                    |shadow_generator| {
                        let fit = generator::retrain(shadow_generator.as_ref(), training);
                        // Every log line of a retraining (e.g. the model's `trained`) carries
                        // which generator and which retraining it belongs to; the shadow
                        // roll-outs are compared on the released fields only.
                        let done = std::cell::Cell::new(0usize);
                        let labelled = |hosts: &[HostTraffic], s: u64| {
                            done.set(done.get() + 1);
                            let _span = tracing::info_span!(
                                "shadow",
                                generator = %g,
                                retraining = %format!("{}/{n}", done.get())
                            )
                            .entered();
                            fit(hosts, s).map(|out| crate::data::fields::blank(&out, present))
                        };
                        stages.time("privacy.shadow", || {
                            privacy::shadow_attack(
                                g,
                                &input,
                                &spec.privacy.shadow,
                                &labelled,
                                pseed ^ 0x5AD0,
                            )
                        })
                    },
                );
                match shadow {
                    Ok(r) => rows.extend(r),
                    Err(e) => failures.record(g, STEP_SHADOW, &e),
                }
            }
        }
    }
    Ok(failures.finish(manifest, rows))
}

/// A generator's name and its synthetic hosts.
type Rollout<'a> = (&'a str, Vec<HostTraffic>);

/// Fidelity rows of every generator against `reference`'s real traffic `real`, after the
/// reference's own `real` rows. A generator whose evaluation fails loses only these rows; the
/// failure is recorded at the reference's step. Each generator's evaluation is seeded by its
/// name alone, so both references draw the same detection samples of it.
fn fidelity_rows(
    reference: fidelity::Reference,
    real: (&[HostTraffic], (i64, i64)),
    synthetic: (&[Rollout<'_>], (i64, i64)),
    fields: &BTreeMap<&str, FieldSet>,
    spec: &Spec,
    failures: &mut Failures,
) -> Vec<MetricRow> {
    let ((real, real_window), (synthetic, window)) = (real, synthetic);
    let counts = |h: &[HostTraffic]| h.iter().map(|h| h.flows.len()).collect::<Vec<_>>();
    let real_counts = counts(real);
    let step = match reference {
        fidelity::Reference::Test => STEP_FIDELITY,
        fidelity::Reference::Train => STEP_FIDELITY_TRAIN,
    };
    let mut rows = fidelity::reference_rows(reference, real, &spec.fidelity);
    for (g, h) in synthetic {
        let name: &str = g;
        let seed = spec.seed ^ hash_name(name);
        let present = fields_of(fields, name);
        match fidelity::evaluate_fields(reference, name, real, h, present, &spec.fidelity, seed) {
            Ok(r) => {
                rows.extend(r);
                let section = reference.section();
                rows.extend(marker_rows(
                    name,
                    MISSING_METRIC,
                    section,
                    fidelity::FIELDS,
                    present,
                ));
            }
            Err(e) => failures.record(g, step, &e),
        }
        rows.extend(fidelity::volume::flows_ratio(
            reference.section(),
            name,
            &real_counts,
            real_window,
            &counts(h),
            window,
            spec.fidelity.bootstrap_reps,
            spec.fidelity.ci_level,
            seed ^ hash_name(fidelity::volume::METRIC),
        ));
    }
    rows
}

/// Steps of a generator whose failure the run survives (see [`Failures`]); the names appear
/// in the manifest's `error` and as subjects of the `status` rows.
const STEP_GENERATE: &str = "generate";
const STEP_FIDELITY: &str = "fidelity";
const STEP_FIDELITY_TRAIN: &str = "fidelity_train";
const STEP_DETECT: &str = "detect";
const STEP_PRIVACY: &str = "privacy";
const STEP_SHADOW: &str = "privacy.shadow";

/// Section and metric of the rows that record a failed step in `metrics.csv`.
pub const STATUS_SECTION: &str = "status";
pub const FAILED_METRIC: &str = "failed";
/// Metric of the `status` row of a step that was skipped by design, not failed:
/// `status,<generator>,skipped,privacy.shadow,1,,,0` for a file generator, which cannot be
/// retrained. It does not make the run `partial`.
pub const SKIPPED_METRIC: &str = "skipped";
/// Metric of the `status` rows of a field that a generator's output lacks (module doc):
/// `missing` where the section's rows that read it are not written, `dropped` where the
/// section ran without it on every side. Subject `<section>.<field>`, value 1, `n` 0.
pub const MISSING_METRIC: &str = "missing";
pub const DROPPED_METRIC: &str = "dropped";

/// The optional fields generator `g`'s roll-out carried (all when not recorded).
fn fields_of(fields: &BTreeMap<&str, FieldSet>, g: &str) -> FieldSet {
    fields.get(g).copied().unwrap_or(FieldSet::ALL)
}

/// One `status,<g>,<metric>,<section>.<field>,1,,,0` row per field that `section` reads
/// (`reads`) and `g`'s output lacks (`present` are the fields it has).
fn marker_rows(
    g: &str,
    metric: &str,
    section: &str,
    reads: FieldSet,
    present: FieldSet,
) -> Vec<MetricRow> {
    reads
        .missing_from(present)
        .iter()
        .map(|f| {
            MetricRow::new(
                STATUS_SECTION,
                g,
                metric,
                &format!("{section}.{}", f.name()),
                1.0,
                0,
            )
        })
        .collect()
}

/// Why the shadow attack cannot retrain generator `g`, if so: a fixed file
/// (`[external.g] file = ...`) has no fit to repeat.
fn no_shadow(spec: &Spec, g: &str) -> Option<&'static str> {
    spec.external
        .get(g)
        .and_then(|e| e.file.as_ref())
        .map(|_| "a file generator cannot be retrained")
}

/// The failed steps of a run's generators, in the order they happened.
///
/// Failure isolation: one generator failing must not cost the others' results. A generator
/// whose fit or roll-out returns an error, or that rolls out no flow, is left out of every
/// evaluation (step `generate`); an evaluation that fails for one generator (`fidelity`,
/// `fidelity_train`, `detect`, `privacy`, `privacy.shadow`) loses only that generator's rows
/// of that step. The
/// run still writes every file; each failure becomes its generator's `status = failed` and
/// `error` in the manifest and one row in `metrics.csv`:
/// `status,<generator>,failed,<step>,1,,,0` (no CI, `n` 0; the message is in the manifest, as
/// `metrics.csv` has no text column). The run's status is then `partial` and `stan run` exits
/// non-zero. Errors that are not one generator's (the real data, the encoder, the real-trained
/// detectors, writing files) end the run without a manifest.
#[derive(Default)]
struct Failures(Vec<(String, &'static str, String)>);

impl Failures {
    fn record(&mut self, g: &str, step: &'static str, e: &Error) {
        tracing::error!(
            generator = g,
            step,
            error = %e,
            "generator step failed; the run goes on without it"
        );
        self.0.push((g.to_string(), step, e.to_string()));
    }

    /// Whether any step of `g` failed so far.
    fn failed(&self, g: &str) -> bool {
        self.0.iter().any(|(h, _, _)| h == g)
    }

    fn failed_at(&self, g: &str, step: &str) -> bool {
        self.0.iter().any(|(h, s, _)| h == g && *s == step)
    }

    /// Record the failures in the manifest and return `rows` with one `status` row per
    /// failure in front.
    fn finish(self, manifest: &mut Manifest, rows: Vec<MetricRow>) -> Vec<MetricRow> {
        let mut out = Vec::with_capacity(self.0.len() + rows.len());
        for (g, step, message) in self.0 {
            manifest
                .generators
                .entry(g.clone())
                .or_default()
                .fail(step, &message);
            out.push(MetricRow::new(
                STATUS_SECTION,
                &g,
                FAILED_METRIC,
                step,
                1.0,
                0,
            ));
        }
        out.extend(rows);
        out
    }
}

/// The error of generator `g` when it rolled out no flow over `window`: it has nothing to
/// evaluate and fails (e.g. `holdout` when the holdout hosts are silent in the generation
/// window).
fn no_flows(g: &str, hosts: &[HostTraffic], window: (i64, i64)) -> Option<Error> {
    if hosts.iter().any(|h| !h.flows.is_empty()) {
        return None;
    }
    Some(Error::Invalid(format!(
        "`{}` rolled out no flows for its {} hosts in the generation window [{}, {})",
        g,
        hosts.len(),
        crate::data::flow::format_time(window.0),
        crate::data::flow::format_time(window.1)
    )))
}

/// Fit generator `g` on the members' training traffic and roll it out over the generation
/// window for as many pseudonymous hosts as there are members; both steps are seeded by the
/// generator's name. An external command keeps its logs in the run folder `dir`.
fn synthesize(
    g: &str,
    spec: &Spec,
    training: &Training<'_>,
    dir: &Path,
) -> Result<(Vec<HostTraffic>, GeneratorInfo)> {
    let seed = spec.seed ^ hash_name(g);
    let made = generator::build_entry(g, spec, Role::Release, Some(dir))?
        .fit(training, seed)?
        .generate(seed)?;
    Ok((
        made.hosts,
        GeneratorInfo {
            details: made.details,
            fields: Some(made.fields),
            ..Default::default()
        },
    ))
}

/// FNV-1a of a name: derives per-generator seeds from the run seed.
pub fn hash_name(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// STAN's simulated dependency check: every generator is fitted on simulated `x, y` series
/// and judged by the lag-1 autocorrelation of `x` and the `x`-`y` correlation of its samples
/// (0.9 and 0.9 in theory; the `real` rows give the training data's values). `copy` replays
/// the training series, `holdout` an independent simulation with another seed.
fn run_ar1(
    spec: &Spec,
    dir: &Path,
    opts: &RunOptions,
    stages: &mut Stages,
    manifest: &mut Manifest,
) -> Result<Vec<MetricRow>> {
    use crate::data::ar1;
    let (n_hosts, n_rows) = (spec.data.ar1_hosts, spec.data.ar1_rows);
    let schema = ar1::schema();
    let train = ar1::simulate(n_hosts, n_rows, spec.seed);
    let (x, y) = (0, 1);
    let mut rows = Vec::new();
    let mut emit = |g: &str, seq: &Sequences| {
        let n = seq.n_rows();
        rows.push(MetricRow::new(
            "fidelity",
            g,
            "lag1_autocorr",
            "x",
            ar1::lag1_autocorr(seq, x),
            n,
        ));
        rows.push(MetricRow::new(
            "fidelity",
            g,
            "cross_corr",
            "x_y",
            ar1::cross_corr(seq, x, y),
            n,
        ));
    };
    emit("real", &train);
    // `holdout`'s sample: an independent simulation.
    let holdout = ar1::simulate(n_hosts, n_rows, spec.seed.wrapping_add(0x0DD5EED));
    let checkpoints = dir.join("checkpoints");
    let data = Simulated {
        schema: &schema,
        train: &train,
        holdout: &holdout,
        n_hosts,
        n_rows,
        checkpoints: Some(&checkpoints),
        progress: opts.progress,
    };
    let mut failures = Failures::default();
    for g in spec.generators.iter().map(String::as_str) {
        let seed = spec.seed ^ hash_name(g);
        let t0 = std::time::Instant::now();
        let mut info = GeneratorInfo::default();
        let seq = stages
            .time(&format!("generator.{g}"), || {
                generator::build_entry(g, spec, Role::Release, Some(dir))?
                    .fit_simulated(&data, seed)
            })
            .map(|(seq, details)| {
                info.details = details;
                seq
            });
        info.seconds = t0.elapsed().as_secs_f64();
        let seq = match seq.and_then(|seq| {
            if seq.n_rows() > 0 {
                Ok(seq)
            } else {
                Err(Error::Invalid(format!("`{}` generated no rows", g)))
            }
        }) {
            Ok(seq) => seq,
            Err(e) => {
                failures.record(g, STEP_GENERATE, &e);
                manifest.generators.insert(g.to_string(), info);
                continue;
            }
        };
        info.flows = seq.n_rows();
        info.hosts = seq.n_hosts();
        emit(g, &seq);
        manifest.generators.insert(g.to_string(), info);
    }
    Ok(failures.finish(manifest, rows))
}
