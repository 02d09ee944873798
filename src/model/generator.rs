//! STAN as a [`Generator`]: training (checkpointed for a released fit), the rate calibration
//! of the roll-out ([`crate::encode::rate`]) and what the manifest records of both.

use super::{GenStats, Stan, StanConfig, TrainReport};
use crate::encode::rate::{self, RateCounts};
use crate::error::Result;
use crate::generator::{
    Fitted, Generator, MAX_ROWS_PER_HOST, Role, Simulated, Synthetic, Training,
};
use crate::schema::{Schema, Sequences, Unconditioned};
use crate::spec::Spec;
use std::path::{Path, PathBuf};

/// Mixed into the seed of a released roll-out (also the rate calibration's), so that the
/// roll-out does not replay the training's draws.
const RELEASE_SEED: u64 = 0x5A3D;

/// STAN with its spec's configuration.
#[derive(Clone, Debug)]
pub struct StanGenerator {
    pub config: StanConfig,
}

impl StanGenerator {
    /// Its name in specs and results (its entry in [`crate::generator::BUILTINS`]).
    pub const NAME: &'static str = "stan";

    /// `spec.stan`, trained for `shadow_stan_epochs` when built for a shadow retraining (a
    /// smaller budget for the many shadow fits; the privacy shadow module says why that is
    /// part of the game).
    pub fn from_spec(spec: &Spec, role: Role) -> StanGenerator {
        let mut config = spec.stan.clone();
        if role == Role::Shadow {
            config.epochs = spec.shadow_stan_epochs;
        }
        StanGenerator { config }
    }

    /// Train on `seq` and checkpoint the kept weights into `<checkpoints>/stan`.
    fn train(
        &self,
        schema: &Schema,
        seq: &Sequences,
        seed: u64,
        checkpoints: Option<&Path>,
        progress: bool,
    ) -> Result<(Stan, TrainReport, Option<PathBuf>)> {
        let mut model = Stan::new(schema, &self.config, seed)?;
        let report = model.fit(seq, progress)?;
        tracing::info!(
            epochs = report.epochs_run,
            flows_per_sec = report.flows_per_sec as u64,
            "stan trained"
        );
        let ckpt = checkpoints.map(|c| c.join(self.name()));
        if let Some(ckpt) = &ckpt {
            model.save(ckpt)?;
        }
        Ok((model, report, ckpt))
    }
}

impl Generator for StanGenerator {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn fit<'a>(&self, data: &Training<'a>, seed: u64) -> Result<Box<dyn Fitted + 'a>> {
        let schema = data.encoder.schema();
        let (model, report, ckpt) =
            self.train(&schema, data.seq, seed, data.checkpoints, data.progress)?;
        Ok(Box::new(FittedStan {
            model,
            report,
            ckpt,
            data: *data,
        }))
    }

    /// No rate calibration: the simulated series have no host clock.
    fn fit_simulated(
        &self,
        data: &Simulated<'_>,
        seed: u64,
    ) -> Result<(Sequences, serde_json::Value)> {
        let (model, report, ckpt) = self.train(
            data.schema,
            data.train,
            seed,
            data.checkpoints,
            data.progress,
        )?;
        let (seq, stats) = model.generate(
            &Unconditioned,
            data.n_hosts,
            data.n_rows,
            seed ^ RELEASE_SEED,
        )?;
        log_generated(&stats);
        let details = details(&model, &report, &stats, None, ckpt.as_deref());
        Ok((seq, details))
    }
}

/// A trained STAN and the inputs of its roll-out.
struct FittedStan<'a> {
    model: Stan,
    report: TrainReport,
    ckpt: Option<PathBuf>,
    data: Training<'a>,
}

impl Fitted for FittedStan<'_> {
    /// The released roll-out is one of the rate calibration's roll-outs (encode::rate): the
    /// one whose per-host and per-hour flow counts come closest to the training rates.
    fn generate(&self, seed: u64) -> Result<Synthetic> {
        let data = &self.data;
        let clock = data.clock();
        let n_hosts = data.n_hosts();
        let start = data.window.0;
        let target = RateCounts::targets(data.hosts, data.train_window, data.window);
        // The calibration's roll-outs take as long as the training on small data: say so.
        tracing::info!(
            rollouts = rate::ITERS,
            hosts = n_hosts,
            "stan rolling out and calibrating the flow rate"
        );
        let (cal, (seq, stats)) = rate::fit(&target, rate::ITERS, |d| {
            let mut c = clock.clone();
            c.dilation = Some(d.clone());
            let (seq, stats) =
                self.model
                    .generate(&c, n_hosts, MAX_ROWS_PER_HOST, seed ^ RELEASE_SEED)?;
            Ok((
                RateCounts::of_rollout(&seq, data.encoder, start),
                (seq, stats),
            ))
        })?;
        tracing::info!(
            ratios = ?cal.steps.iter().map(|s| s.total_ratio).collect::<Vec<_>>(),
            kept = cal.kept,
            "stan rate calibrated"
        );
        log_generated(&stats);
        let details = details(
            &self.model,
            &self.report,
            &stats,
            Some(serde_json::json!(cal)),
            self.ckpt.as_deref(),
        );
        Ok(Synthetic {
            hosts: data.decode(&seq, seed),
            details,
            fields: crate::data::FieldSet::ALL,
        })
    }
}

fn log_generated(stats: &GenStats) {
    tracing::info!(
        rows = stats.rows,
        flows_per_sec = stats.flows_per_sec as u64,
        redraws = stats.redraws,
        "stan generated"
    );
}

/// What the manifest records of a STAN fit and roll-out.
fn details(
    model: &Stan,
    report: &TrainReport,
    stats: &GenStats,
    calibration: Option<serde_json::Value>,
    ckpt: Option<&Path>,
) -> serde_json::Value {
    serde_json::json!({
        "parameters": model.n_parameters(),
        "order": model.generation_order(),
        "train": report,
        "generate": stats,
        "rate_calibration": calibration,
        "checkpoint": ckpt.map(|c| c.display().to_string()),
    })
}
