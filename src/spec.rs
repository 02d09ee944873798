//! Experiment specs: TOML files in `experiments/`, deserialised strictly (unknown keys are
//! errors naming the key and the allowed ones), with documented defaults, and hashed so that
//! every result folder names the exact spec that produced it.

use crate::baselines::{BayesConfig, IndependentConfig};
use crate::encode::EncoderConfig;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The evaluations a spec can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Evaluation {
    Fidelity,
    Detect,
    Privacy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// Real UGR'16 flows from `data.path`.
    #[default]
    Ugr16,
    /// STAN's simulated dependency check (`x_t = 0.9 x_{t-1} + 0.1 e`, `y_t = 0.9 x_t + 0.1 e'`).
    Ar1,
}

/// Default of `data.min_flows`: a host with fewer flows in the data's window is not modelled.
pub const DEFAULT_MIN_FLOWS: usize = 100;

/// `[data]`: where flows come from and which hosts are modelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSpec {
    pub dataset: DatasetKind,
    /// UGR'16 CSV (headered or not, optionally gzip) or NetShare CSV; relative paths are
    /// resolved against the current directory. Default: the embedded 92-host day.
    pub path: PathBuf,
    /// `/16` prefix of the internal network whose hosts are modelled (default `42.219`).
    pub internal_prefix: String,
    /// Explicit host list (dotted quads); empty = every internal host with `min_flows` flows.
    pub hosts: Vec<String>,
    /// Minimum flows for a host to be modelled (default 100).
    pub min_flows: usize,
    /// Keep at most this many hosts, a seeded sample (0 = all; default 0).
    pub max_hosts: usize,
    /// Restrict to `[start, end)` (`YYYY-MM-DD HH:MM:SS`); default: the data's first midnight to
    /// its last flow.
    pub start: Option<String>,
    pub end: Option<String>,
    /// Skip malformed lines (their count is logged and recorded in the manifest) instead of
    /// failing (default `false`).
    pub skip_invalid: bool,
    /// `ar1` only: number of simulated hosts (series) and rows per host.
    pub ar1_hosts: usize,
    pub ar1_rows: usize,
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            dataset: DatasetKind::Ugr16,
            path: PathBuf::from("experiments/data/ugr16_2016-04-11_stan92users.csv.gz"),
            internal_prefix: "42.219".into(),
            hosts: Vec::new(),
            min_flows: DEFAULT_MIN_FLOWS,
            max_hosts: 0,
            start: None,
            end: None,
            skip_invalid: false,
            ar1_hosts: 20,
            ar1_rows: 500,
        }
    }
}

/// `[split]`: host roles and time windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitSpec {
    /// Fractions of hosts that are members (training), non-members (test / MIA candidates) and
    /// holdout (replayed by the `holdout` generator); the rest is the attacker's reference.
    pub members: f64,
    pub nonmembers: f64,
    pub holdout: f64,
    /// Deal hosts to roles within strata (default true): the hosts with protocols outside
    /// TCP/UDP/ICMP, then four flow-count quartiles of the others, each split in the role
    /// proportions (see `HostSplit::stratified`). `false`: one plain seeded shuffle (the split of
    /// runs made before this option existed).
    pub stratify: bool,
    /// Seed of the host shuffle; default: the run seed.
    pub seed: Option<u64>,
    /// Start of the test window; `None` (default) = no time split: train and test windows are
    /// the whole data window and only hosts separate training from test traffic. With a time
    /// split, generators roll out over the test window.
    pub test_start: Option<String>,
}

impl Default for SplitSpec {
    fn default() -> Self {
        SplitSpec {
            members: 0.5,
            nonmembers: 0.2,
            holdout: 0.15,
            stratify: true,
            seed: None,
            test_start: None,
        }
    }
}

/// `[resources]`: what one run needs; used by `stan sweep --emit slurm`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Resources {
    pub cpus: usize,
    pub mem_gb: usize,
    pub time_minutes: usize,
    pub gpus: usize,
    pub partition: Option<String>,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            cpus: 2,
            mem_gb: 8,
            time_minutes: 60,
            gpus: 0,
            partition: None,
        }
    }
}

/// A whole experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Experiment name: the results sub-folder (`results/<name>/<run-id>/`).
    pub name: String,
    /// Free text for humans; not part of the hash.
    #[serde(default, skip_serializing)]
    pub description: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub data: DataSpec,
    #[serde(default)]
    pub split: SplitSpec,
    /// Generators to fit and evaluate, by name: built-ins ([`crate::generator::BUILTINS`]) and the names of
    /// `[external.*]` entries alike (the name is the `generator` column of `metrics.csv`).
    #[serde(default = "default_generators")]
    pub generators: Vec<String>,
    #[serde(default = "default_evaluations")]
    pub evaluations: Vec<Evaluation>,
    /// Write the synthetic flows of each generator as UGR'16 CSV (gzip) into the run folder.
    #[serde(default = "yes")]
    pub write_synthetic: bool,
    /// Write SVG plots.
    #[serde(default = "yes")]
    pub plots: bool,
    #[serde(default)]
    pub encoder: EncoderConfig,
    #[serde(default)]
    pub independent: IndependentConfig,
    #[serde(default)]
    pub bayes: BayesConfig,
    #[serde(default)]
    pub stan: crate::model::StanConfig,
    #[serde(default)]
    pub fidelity: crate::fidelity::FidelityConfig,
    #[serde(default)]
    pub detect: crate::detect::DetectConfig,
    #[serde(default)]
    pub privacy: crate::privacy::PrivacyConfig,
    /// Generators whose privacy evaluation includes the shadow-model attack, which retrains
    /// the generator `privacy.shadow.shadows` times (default: all, the `[external.*]` entries
    /// included; a file generator's attack is then recorded as skipped).
    #[serde(default = "default_generators")]
    pub shadow_generators: Vec<String>,
    /// Epochs of each STAN shadow retraining (default 1). Shadow models then approximate the
    /// released model with a smaller training budget; set it to `stan.epochs` for the exact game.
    #[serde(default = "one")]
    pub shadow_stan_epochs: usize,
    #[serde(default)]
    pub resources: Resources,
    /// `[external.<name>]`: generators run outside `stan` (a command or a fixed file), named in
    /// `generators` by `<name>` ([`crate::generator::external`] has the protocol). Left out of
    /// the hash when empty, so specs without external generators keep their run ids.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub external: std::collections::BTreeMap<String, ExternalSpec>,
    /// Set by `stan sweep`: this cell's swept keys and values (`"stan.window" = "5"`). Empty,
    /// and then left out of the hash, for a plain run.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sweep_cell: std::collections::BTreeMap<String, String>,
}

fn default_seed() -> u64 {
    1
}
fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn default_generators() -> Vec<String> {
    crate::generator::registry::builtin_names()
        .map(String::from)
        .collect()
}

/// `[external.<name>]`: a generator outside `stan`, either a `command` that `stan` runs for
/// every fit (the released one and each shadow retraining) or a `file` of synthetic flows
/// made elsewhere. Exactly one of the two; [`crate::generator::external`] has the protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalSpec {
    /// Program and arguments; `stan` appends `TRAIN_CSV REQUEST_JSON OUT_CSV`. Elements that
    /// are relative paths of existing files are resolved against the directory `stan` was
    /// started in (as `data.path` is), since the command runs in a temporary folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Seconds a command may run before it is killed and the generator fails (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// Extra environment variables of the command.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
    /// A fixed synthetic set (UGR'16 CSV, optionally gzip), relative to the directory `stan`
    /// was started in. It cannot be retrained, so the shadow attack is skipped for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}
fn default_evaluations() -> Vec<Evaluation> {
    vec![
        Evaluation::Fidelity,
        Evaluation::Detect,
        Evaluation::Privacy,
    ]
}

impl Spec {
    /// Parse a spec from TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Spec> {
        let value: toml::Value = toml::from_str(text).map_err(|e| spec_err(origin, e))?;
        Spec::from_value(value, origin)
    }

    /// Deserialise from an already-parsed (and possibly sweep-modified) TOML value.
    pub fn from_value(value: toml::Value, origin: &str) -> Result<Spec> {
        let explicit_shadows = value.get("shadow_generators").is_some();
        let mut spec: Spec = Spec::deserialize(value).map_err(|e| spec_err(origin, e))?;
        if !explicit_shadows {
            // "Default: all" includes the external generators (a no-op without `[external]`,
            // so such specs keep their hash).
            spec.shadow_generators.extend(spec.external.keys().cloned());
        }
        spec.validate()?;
        Ok(spec)
    }

    pub fn load(path: &Path) -> Result<Spec> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Spec::from_toml(&text, &path.display().to_string())
    }

    /// Checks serde cannot express.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, reason: &str| {
            Err(Error::Spec {
                key: key.into(),
                reason: reason.into(),
            })
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return bad(
                "name",
                "must be non-empty and use only letters, digits, `-`, `_`, `.` (it names a folder)",
            );
        }
        let s = &self.split;
        for (k, v) in [
            ("split.members", s.members),
            ("split.nonmembers", s.nonmembers),
            ("split.holdout", s.holdout),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(k, "must be a fraction in [0, 1]");
            }
        }
        if s.members + s.nonmembers + s.holdout > 1.0 + 1e-9 {
            return bad(
                "split",
                "members + nonmembers + holdout must be <= 1 (the rest is the attacker's reference)",
            );
        }
        if s.members <= 0.0 || s.nonmembers <= 0.0 {
            return bad("split", "members and nonmembers must both be > 0");
        }
        if self.generators.is_empty() {
            let names: Vec<&str> = crate::generator::registry::builtin_names().collect();
            return bad(
                "generators",
                &format!(
                    "name at least one of: {} (or an `[external.*]` entry)",
                    names.join(", ")
                ),
            );
        }
        self.validate_external()?;
        for (key, names) in [
            ("generators", &self.generators),
            ("shadow_generators", &self.shadow_generators),
        ] {
            for name in names {
                if crate::generator::registry::builtin(name).is_none()
                    && !self.external.contains_key(name)
                {
                    return bad(key, &self.unknown_generator(name));
                }
            }
        }
        let mut g = self.generators.clone();
        g.sort();
        g.dedup();
        if g.len() != self.generators.len() {
            return bad("generators", "a generator is listed twice");
        }
        for (k, t) in [
            ("data.start", &self.data.start),
            ("data.end", &self.data.end),
            ("split.test_start", &s.test_start),
        ] {
            if let Some(t) = t
                && crate::data::flow::parse_time(t).is_none()
            {
                return bad(k, "expected `YYYY-MM-DD HH:MM:SS`");
            }
        }
        self.stan.validate().map_err(|e| match e {
            Error::Spec { key, reason } => Error::Spec {
                key: format!("stan.{key}"),
                reason,
            },
            e => e,
        })?;
        if self.data.dataset == DatasetKind::Ar1
            && (self.data.ar1_hosts < 2 || self.data.ar1_rows < 10)
        {
            return bad(
                "data.ar1_hosts",
                "ar1 needs at least 2 hosts and 10 rows per host",
            );
        }
        Ok(())
    }

    /// SHA-256 of the resolved spec (every default filled in, as JSON): two specs that differ
    /// in any value get different hashes; formatting and comments do not matter.
    pub fn hash(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        hex::encode(Sha256::digest(json.as_bytes()))
    }

    /// Run folder name: seed plus the first 12 hex digits of the spec hash.
    pub fn run_id(&self) -> String {
        format!("s{}-{}", self.seed, &self.hash()[..12])
    }

    /// Whether the spec fits generator `name` (a built-in or an external entry).
    pub fn has(&self, name: &str) -> bool {
        self.generators.iter().any(|n| n == name)
    }

    /// The message for a generator name that is neither a built-in nor an `[external.*]` entry:
    /// it lists both.
    fn unknown_generator(&self, name: &str) -> String {
        let external: Vec<&str> = self.external.keys().map(String::as_str).collect();
        format!(
            "{} (or an `[external.{name}]` entry)",
            crate::generator::registry::unknown_name(name, &external)
        )
    }

    /// `[external.*]` entries: exactly one of `command` and `file`, a non-empty command, and
    /// a name that is no built-in (it would be ambiguous in `generators` and `metrics.csv`).
    fn validate_external(&self) -> Result<()> {
        for (name, e) in &self.external {
            let key = format!("external.{name}");
            let bad = |reason: String| {
                Err(Error::Spec {
                    key: key.clone(),
                    reason,
                })
            };
            if crate::generator::registry::builtin(name).is_some() {
                return bad(format!(
                    "`{name}` is a built-in generator; name the external entry otherwise"
                ));
            }
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
            {
                return bad(
                    "the name must use only letters, digits, `-` and `_` (it names files)".into(),
                );
            }
            match (&e.command, &e.file) {
                (Some(_), Some(_)) => {
                    return bad("set either `command` or `file`, not both".into());
                }
                (None, None) => return bad("set one of `command` or `file`".into()),
                (Some(c), None) if c.is_empty() || c[0].is_empty() => {
                    return bad("`command` needs at least a program".into());
                }
                (None, Some(_)) if e.timeout_s.is_some() || !e.env.is_empty() => {
                    return bad("`timeout_s` and `env` apply to a `command` only".into());
                }
                _ => {}
            }
            if e.timeout_s == Some(0) {
                return bad("`timeout_s` must be at least 1".into());
            }
        }
        Ok(())
    }
    pub fn evaluates(&self, e: Evaluation) -> bool {
        self.evaluations.contains(&e)
    }
}

fn spec_err(origin: &str, e: impl std::fmt::Display) -> Error {
    Error::Spec {
        key: origin.into(),
        reason: e.to_string().trim().to_string(),
    }
}

/// Set `key` (dotted path, e.g. `stan.window`) in a TOML table, creating tables on the way.
pub fn set_key(root: &mut toml::Value, key: &str, value: toml::Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = root;
    for p in &parts[..parts.len() - 1] {
        let t = cur.as_table_mut().ok_or_else(|| Error::Spec {
            key: key.into(),
            reason: format!("`{p}` is not a table"),
        })?;
        cur = t
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    let t = cur.as_table_mut().ok_or_else(|| Error::Spec {
        key: key.into(),
        reason: "parent is not a table".into(),
    })?;
    t.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_hash() {
        let a = Spec::from_toml("name = \"t\"", "a.toml").unwrap();
        assert_eq!(a.seed, 1);
        assert_eq!(a.generators.len(), 5);
        let b = Spec::from_toml("# comment\nname = \"t\"\nseed = 1\n", "b.toml").unwrap();
        assert_eq!(a.hash(), b.hash());
        let c = Spec::from_toml("name = \"t\"\nseed = 2\n", "c.toml").unwrap();
        assert_ne!(a.hash(), c.hash());
        assert_ne!(a.run_id(), c.run_id());
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = Spec::from_toml("name = \"t\"\n[split]\nmembrs = 0.5\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("membrs") && e.contains("members"), "{e}");
        let e = Spec::from_toml("name = \"t\"\ngenerators = [\"stan\", \"gan\"]\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("gan") && e.contains("independent"), "{e}");
        let e = Spec::from_toml(
            "name = \"t\"\n[split]\nmembers = 0.9\nnonmembers = 0.2\n",
            "x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("split"), "{e}");
        let e = Spec::from_toml("name = \"t\"\n[data]\nstart = \"yesterday\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("data.start"), "{e}");
        // Keys of options that no longer exist are rejected by name, with the allowed keys.
        for key in ["calibrate_rate = \"hour\"", "rollout_select = 3"] {
            let e = Spec::from_toml(&format!("name = \"t\"\n[stan]\n{key}\n"), "x.toml")
                .unwrap_err()
                .to_string();
            let name = key.split(' ').next().unwrap_or_default();
            assert!(e.contains(name) && e.contains("epochs"), "{e}");
        }
        let e = Spec::from_toml("name = \"t\"\n[encoder]\nhost_activity = true\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("host_activity") && e.contains("model_flags_tos"),
            "{e}"
        );
    }

    fn spec_error(text: &str) -> String {
        match Spec::from_toml(&format!("name = \"t\"\n{text}"), "x.toml") {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn external_entries_are_named_like_built_ins() {
        let s = Spec::from_toml(
            "name = \"t\"\ngenerators = [\"stan\", \"raw\", \"fixed\"]\n\
             [external.raw]\ncommand = [\"sh\", \"raw.sh\"]\ntimeout_s = 5\n\
             [external.raw.env]\nK = \"v\"\n\
             [external.fixed]\nfile = \"synthetic.csv\"\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(s.generators, ["stan", "raw", "fixed"]);
        assert_eq!(s.external["raw"].timeout_s, Some(5));
        assert_eq!(s.external["raw"].env["K"], "v");
        // Shadowed by default like the built-ins.
        assert!(s.shadow_generators.iter().any(|g| g == "raw"));
        assert!(s.shadow_generators.iter().any(|g| g == "fixed"));
        // An unknown name lists the built-ins and the external entries.
        let e = spec_error("generators = [\"gan\"]\n[external.raw]\nfile = \"a.csv\"\n");
        assert!(e.contains("`generators`") && e.contains("`gan`"), "{e}");
        assert!(e.contains("`stan`") && e.contains("`raw`"), "{e}");
        let e = spec_error("shadow_generators = [\"gan\"]\n");
        assert!(
            e.contains("`shadow_generators`") && e.contains("`gan`"),
            "{e}"
        );
    }

    #[test]
    fn external_entries_need_one_source_and_their_own_name() {
        let e = spec_error("[external.x]\ncommand = [\"a\"]\nfile = \"b.csv\"\n");
        assert!(e.contains("external.x") && e.contains("not both"), "{e}");
        let e = spec_error("[external.x]\ntimeout_s = 3\n");
        assert!(e.contains("external.x") && e.contains("one of"), "{e}");
        let e = spec_error("[external.x]\ncommand = []\n");
        assert!(e.contains("external.x") && e.contains("program"), "{e}");
        let e = spec_error("[external.copy]\nfile = \"b.csv\"\n");
        assert!(e.contains("external.copy") && e.contains("built-in"), "{e}");
        let e = spec_error("[external.x]\nfile = \"b.csv\"\ntimeout_s = 3\n");
        assert!(e.contains("external.x") && e.contains("command"), "{e}");
        let e = spec_error("[external.x]\ncommand = [\"a\"]\ntimeout_s = 0\n");
        assert!(e.contains("external.x") && e.contains("timeout_s"), "{e}");
        let e = spec_error("[external.x]\ncommand = [\"a\"]\nretries = 2\n");
        assert!(e.contains("retries") && e.contains("timeout_s"), "{e}");
    }

    /// Without `[external]` the resolved spec serialises as before (no `external` key, the
    /// same `shadow_generators`), so hashes and run ids do not change.
    #[test]
    fn specs_without_external_keep_their_hash() {
        let s = Spec::from_toml("name = \"t\"", "x.toml").unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("external"), "{json}");
        assert!(json.contains(
            "\"shadow_generators\":[\"stan\",\"independent\",\"bayes\",\"copy\",\"holdout\"]"
        ));
        let e = Spec::from_toml("name = \"t\"\n[external.x]\nfile = \"a.csv\"", "x.toml").unwrap();
        assert_ne!(s.hash(), e.hash());
    }

    /// The shipped CI spec keeps its run id (and so its results folder) across changes to how
    /// generators are named and registered: the id is the hash of the resolved spec, whose
    /// `generators` and `shadow_generators` are plain names in the registry's order.
    #[test]
    fn ci_spec_keeps_its_run_id() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/ci.toml");
        let s = Spec::load(&path).unwrap();
        assert_eq!(s.run_id(), "s7-e385327ebed8");
    }

    #[test]
    fn set_key_creates_tables() {
        let mut v: toml::Value = toml::from_str("name = \"t\"").unwrap();
        set_key(&mut v, "split.members", toml::Value::Float(0.4)).unwrap();
        let s = Spec::from_value(v, "x").unwrap();
        assert_eq!(s.split.members, 0.4);
    }
}
