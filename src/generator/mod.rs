//! The [`Generator`] trait every synthetic-traffic generator implements (STAN and the
//! baselines), the inputs a fit gets ([`Training`], [`Simulated`]) and the registry that builds
//! a spec's generators by name ([`registry`]), generators run outside `stan` included
//! ([`external`]: a command per fit, or a fixed file).
//!
//! Why a trait: the runner only orchestrates (fit, roll out, write, evaluate) and the shadow
//! attack retrains through the same interface as the released fit, so a generator is one module
//! plus its entry in the registry, and everything it does (STAN's training, rate calibration
//! and manifest details included) lives with it.

pub mod external;
pub mod registry;

pub use registry::{BUILTINS, Builtin, Role, build, build_entry};

use crate::data::hosts::HostTraffic;
use crate::encode::{Clock, Encoder, pseudonym};
use crate::error::Result;
use crate::schema::{Schema, Sequences};
use std::path::Path;

/// Upper bound on rows per synthetic host, a guard against a generator that never advances
/// its clock (e.g. a model that only samples zero gaps).
pub const MAX_ROWS_PER_HOST: usize = 200_000;

/// Mixed into a roll-out's seed for decoding (the port within a port class, which the encoded
/// rows leave open), so that decoding draws do not repeat the roll-out's.
const DECODE_SEED: u64 = 0xDEC0DE;

/// What a fit of NetFlow traffic gets: the training hosts (the members' training traffic, or
/// a shadow training set of the privacy attack), their encoding, the windows, and the
/// prepared real data that a generator may replay instead of fitting (`holdout`).
///
/// The same struct serves every generator, so the runner treats them alike: a generator takes
/// what it needs and ignores the rest.
#[derive(Clone, Copy)]
pub struct Training<'a> {
    /// The training hosts; one synthetic host is rolled out per training host.
    pub hosts: &'a [HostTraffic],
    /// `hosts` encoded by `encoder` over `train_window`.
    pub seq: &'a Sequences,
    /// The encoder fitted on the members' training traffic (also for shadow sets: the attacker
    /// retrains the generator, not the run's preprocessing).
    pub encoder: &'a Encoder,
    /// Training window `[start, end)`: activity classes are rates over its length.
    pub train_window: (i64, i64),
    /// Generation window `[start, end)` of the roll-out.
    pub window: (i64, i64),
    /// Real hosts kept out of every training set over the generation window (what `holdout`
    /// replays; independent of `hosts` by design).
    pub holdout: &'a [HostTraffic],
    /// Where a generator may checkpoint what it fitted (in a folder named after it); `None`
    /// for fits that are not released, such as shadow retrainings.
    pub checkpoints: Option<&'a Path>,
    /// Show progress bars.
    pub progress: bool,
}

impl<'a> Training<'a> {
    /// The same inputs with other training hosts (encoded as `seq`), for retraining on a
    /// shadow set; not checkpointed and without progress bars.
    pub fn with_hosts<'b>(&self, hosts: &'b [HostTraffic], seq: &'b Sequences) -> Training<'b>
    where
        'a: 'b,
    {
        Training {
            hosts,
            seq,
            checkpoints: None,
            progress: false,
            ..*self
        }
    }

    /// Synthetic hosts rolled out: one per training host.
    pub fn n_hosts(&self) -> usize {
        self.hosts.len()
    }

    /// The host clock of a roll-out over the generation window: synthetic host `i` takes the
    /// activity class of training host `i`.
    pub fn clock(&self) -> Clock<'a> {
        Clock::for_hosts(self.encoder, self.window, self.hosts, self.train_window)
    }

    /// Decode rolled-out rows into flows from the start of the generation window, host `h`
    /// under the pseudonymous own-IP `pseudonym(h)`; `seed` is the roll-out's.
    pub fn decode(&self, seq: &Sequences, seed: u64) -> Vec<HostTraffic> {
        use rand::SeedableRng;
        let ips: Vec<u32> = (0..self.n_hosts()).map(pseudonym).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ DECODE_SEED);
        self.encoder
            .decode_sequences(seq, &ips, self.window.0, &mut rng)
    }
}

/// What a fit of STAN's simulated dependency check gets (`data.dataset = "ar1"`): simulated
/// encoded series without a host clock, and an independent simulation as the holdout.
#[derive(Clone, Copy)]
pub struct Simulated<'a> {
    pub schema: &'a Schema,
    /// The training series.
    pub train: &'a Sequences,
    /// An independent simulation (what `holdout` returns).
    pub holdout: &'a Sequences,
    /// Hosts and rows per host to sample.
    pub n_hosts: usize,
    pub n_rows: usize,
    /// As [`Training::checkpoints`].
    pub checkpoints: Option<&'a Path>,
    pub progress: bool,
}

/// A roll-out: synthetic hosts, what the manifest records of the generator
/// (`serde_json::Value::Null` when nothing) and which optional flow fields it carries.
#[derive(Clone, Debug)]
pub struct Synthetic {
    pub hosts: Vec<HostTraffic>,
    pub details: serde_json::Value,
    /// The optional UGR'16 fields (`flg fwd stos label`) the roll-out really carries; the
    /// others hold the reader's fillers and no evaluation scores them
    /// ([`crate::data::fields`]). Every built-in carries all of them (the encoder models flags,
    /// ToS and forwarding status or takes their mode per protocol; the label is `background`,
    /// and no evaluation reads a synthetic label); an external generator carries what its
    /// file's layout has.
    pub fields: crate::data::FieldSet,
}

/// A generator of synthetic NetFlow traffic, built from a spec by [`build`].
///
/// [`fit`](Generator::fit) learns from the training traffic and returns a [`Fitted`] generator
/// that rolls out the generation window from a seed. Fitting and rolling out are separate so
/// that what is learnt once (STAN's weights) is visibly apart from the seeded roll-out; the
/// runner seeds both with the same per-generator seed.
///
/// # Example
///
/// Fit `independent` on two hand-made hosts and roll out the next minute:
///
/// ```
/// use stan::data::flow::{Flags, Flow, Label, Proto};
/// use stan::data::hosts::HostTraffic;
/// use stan::encode::Encoder;
/// use stan::generator::{Role, Training, build};
/// use stan::spec::Spec;
///
/// let flow = |te: i64, sa: u32, da: u32, dp: u16| Flow {
///     te, td: 0.5, sa, da, sp: 40000, dp, pr: Proto::TCP, flg: Flags(0), fwd: 0, stos: 0,
///     pkt: 4, byt: 400, label: Label::Background,
/// };
/// let ip = |last: u8| u32::from_be_bytes([42, 219, 150, last]);
/// let hosts: Vec<HostTraffic> = (1..=2)
///     .map(|h| HostTraffic {
///         ip: ip(h),
///         flows: (0..15).map(|i| flow(10 + 3 * i, ip(h), ip(200), 80 + h as u16)).collect(),
///     })
///     .collect();
/// let (train_window, window) = ((0, 60), (60, 120));
/// let encoder = Encoder::fit(&hosts, train_window.0, Default::default())?;
/// let seq = encoder.encode_hosts(&hosts, train_window)?;
/// let data = Training {
///     hosts: &hosts, seq: &seq, encoder: &encoder, train_window, window,
///     holdout: &[], checkpoints: None, progress: false,
/// };
/// let spec = Spec::from_toml(r#"name = "example""#, "example")?;
/// let independent = build("independent", &spec, Role::Release)?;
/// let out = independent.fit(&data, 7)?.generate(7)?;
/// assert_eq!(out.hosts.len(), 2);
/// assert!(out.hosts.iter().flat_map(|h| &h.flows).all(|f| f.te >= 60));
/// # Ok::<(), stan::Error>(())
/// ```
pub trait Generator {
    /// The generator's name in specs, results and the manifest.
    fn name(&self) -> &str;

    /// Fit on `data`'s training hosts; `seed` drives whatever the fit draws.
    fn fit<'a>(&self, data: &Training<'a>, seed: u64) -> Result<Box<dyn Fitted + 'a>>;

    /// Fit on the simulated series of STAN's dependency check and sample `n_hosts` hosts of
    /// `n_rows` rows, with the details for the manifest (no host clock, so no decoding).
    fn fit_simulated(
        &self,
        data: &Simulated<'_>,
        seed: u64,
    ) -> Result<(Sequences, serde_json::Value)>;
}

/// A fitted generator.
pub trait Fitted {
    /// Roll out one synthetic host per training host over the generation window.
    fn generate(&self, seed: u64) -> Result<Synthetic>;
}

/// The retraining of the shadow-model attack ([`crate::privacy::shadow::Retrain`]) through
/// the trait: fit `generator` on the shadow training hosts (encoded by `base`'s encoder over
/// its training window) and roll it out with the shadow seed, as the released fit is.
pub fn retrain<'a>(
    generator: &'a dyn Generator,
    base: Training<'a>,
) -> impl Fn(&[HostTraffic], u64) -> Result<Vec<HostTraffic>> + 'a {
    move |hosts: &[HostTraffic], seed: u64| {
        let seq = base.encoder.encode_hosts(hosts, base.train_window)?;
        let data = base.with_hosts(hosts, &seq);
        Ok(generator.fit(&data, seed)?.generate(seed)?.hosts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::flow::{Flags, Flow, Label, Proto};
    use crate::spec::Spec;

    const TRAIN: (i64, i64) = (0, 600);
    const WINDOW: (i64, i64) = (600, 1200);

    fn ip(last: u8) -> u32 {
        u32::from_be_bytes([42, 219, 150, last])
    }

    /// Host `h` sends a TCP flow every `every` seconds over `window` to one of two servers.
    fn host(h: u8, window: (i64, i64), every: i64) -> HostTraffic {
        let flows = (window.0 + 1..window.1)
            .step_by(every as usize)
            .enumerate()
            .map(|(i, te)| Flow {
                te,
                td: 0.25 * (i % 4) as f64,
                sa: ip(h),
                da: ip(200 + (i % 2) as u8),
                sp: 40000 + i as u16,
                dp: if i % 3 == 0 { 443 } else { 80 },
                pr: Proto::TCP,
                flg: Flags(0),
                fwd: 0,
                stos: 0,
                pkt: 2 + (i % 5) as u64,
                byt: 100 * (1 + (i % 7) as u64),
                label: Label::Background,
            })
            .collect();
        HostTraffic { ip: ip(h), flows }
    }

    fn spec() -> Spec {
        let text = r#"
            name = "generator-test"
            [stan]
            window = 3
            conv_channels = [6]
            embed_dim = 3
            hidden = 32
            mixture_components = 2
            epochs = 1
            patience = 0
        "#;
        match Spec::from_toml(text, "test") {
            Ok(s) => s,
            Err(e) => panic!("test spec: {e}"),
        }
    }

    /// Every built-in generator, fitted and rolled out through the trait, returns one host per
    /// training host (`holdout`: per holdout host) with flows, all in the generation window.
    #[test]
    fn every_generator_rolls_out_the_window() -> Result<()> {
        let train: Vec<HostTraffic> = (1..=3).map(|h| host(h, TRAIN, 7 + h as i64)).collect();
        let holdout = vec![host(9, WINDOW, 11), host(10, WINDOW, 13)];
        let encoder = Encoder::fit(&train, TRAIN.0, Default::default())?;
        let seq = encoder.encode_hosts(&train, TRAIN)?;
        let data = Training {
            hosts: &train,
            seq: &seq,
            encoder: &encoder,
            train_window: TRAIN,
            window: WINDOW,
            holdout: &holdout,
            checkpoints: None,
            progress: false,
        };
        let spec = spec();
        for g in registry::builtin_names() {
            let generator = build(g, &spec, Role::Release)?;
            assert_eq!(generator.name(), g);
            let out = generator.fit(&data, 3)?.generate(3)?;
            let want = if g == "holdout" { 2 } else { 3 };
            assert_eq!(out.hosts.len(), want, "{g}");
            let flows: Vec<&Flow> = out.hosts.iter().flat_map(|h| &h.flows).collect();
            assert!(!flows.is_empty(), "{g}");
            // `copy` replays the training window by design; the others roll out the window.
            if g != "copy" {
                assert!(
                    flows.iter().all(|f| f.te >= WINDOW.0),
                    "{g} rolled out before the window"
                );
            }
            assert!(out.fields.is_all(), "{g}");
            // No synthetic host carries a training host's IP.
            for (i, h) in out.hosts.iter().enumerate() {
                assert_eq!(h.ip, pseudonym(i));
            }
            assert_eq!(
                out.details.is_null(),
                g != "stan",
                "{g}: only STAN records details"
            );
        }
        Ok(())
    }

    /// The shadow retraining goes through the same fit and roll-out: same seed, same hosts.
    #[test]
    fn retrain_matches_a_release_fit_on_the_same_hosts() -> Result<()> {
        let train: Vec<HostTraffic> = (1..=4).map(|h| host(h, TRAIN, 5 + h as i64)).collect();
        let encoder = Encoder::fit(&train, TRAIN.0, Default::default())?;
        let seq = encoder.encode_hosts(&train, TRAIN)?;
        let base = Training {
            hosts: &train,
            seq: &seq,
            encoder: &encoder,
            train_window: TRAIN,
            window: WINDOW,
            holdout: &[],
            checkpoints: None,
            progress: false,
        };
        let spec = spec();
        let g = build("bayes", &spec, Role::Shadow)?;
        let shadow = retrain(g.as_ref(), base)(&train[1..], 11)?;
        let seq_sub = encoder.encode_hosts(&train[1..], TRAIN)?;
        let direct = g
            .fit(&base.with_hosts(&train[1..], &seq_sub), 11)?
            .generate(11)?
            .hosts;
        assert_eq!(shadow.len(), 3);
        assert_eq!(shadow, direct);
        Ok(())
    }

    /// `Simulated` fits sample the requested shape (copy and holdout return their series).
    #[test]
    fn every_generator_fits_the_simulated_check() -> Result<()> {
        use crate::data::ar1;
        let schema = ar1::schema();
        let train = ar1::simulate(3, 40, 1);
        let holdout = ar1::simulate(3, 40, 2);
        let data = Simulated {
            schema: &schema,
            train: &train,
            holdout: &holdout,
            n_hosts: 3,
            n_rows: 40,
            checkpoints: None,
            progress: false,
        };
        let spec = spec();
        for g in registry::builtin_names() {
            let (seq, _) = build(g, &spec, Role::Release)?.fit_simulated(&data, 5)?;
            assert_eq!(seq.n_hosts(), 3, "{g}");
            assert_eq!(seq.n_rows(), 120, "{g}");
        }
        Ok(())
    }
}
