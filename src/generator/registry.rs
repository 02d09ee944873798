//! The registry: every generator a spec can name, and how each is built from the spec.
//! Adding a generator means writing its module and adding it here (a variant, its name and a
//! `build` arm). Generators outside `stan` need no code: a spec's `[external.<name>]` entry
//! ([`super::external`]) is built by [`build_entry`].

use super::Generator;
use crate::baselines::{BayesGenerator, CopyGenerator, HoldoutGenerator, IndependentGenerator};
use crate::error::{Error, Result};
use crate::model::StanGenerator;
use crate::spec::Spec;
use serde::{Deserialize, Serialize};

/// The built-in generators a spec can name (`generators = ["stan", ...]`, beside its
/// `[external.*]` entries; the spec's error for any other name lists both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeneratorName {
    Stan,
    Independent,
    Bayes,
    Copy,
    Holdout,
}

impl GeneratorName {
    /// Every generator, in the default spec order.
    pub const ALL: [GeneratorName; 5] = [
        GeneratorName::Stan,
        GeneratorName::Independent,
        GeneratorName::Bayes,
        GeneratorName::Copy,
        GeneratorName::Holdout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GeneratorName::Stan => "stan",
            GeneratorName::Independent => "independent",
            GeneratorName::Bayes => "bayes",
            GeneratorName::Copy => "copy",
            GeneratorName::Holdout => "holdout",
        }
    }

    /// The generator called `name`; an unknown name is an error that lists the allowed ones.
    pub fn parse(name: &str) -> Result<GeneratorName> {
        GeneratorName::ALL
            .into_iter()
            .find(|g| g.as_str() == name)
            .ok_or_else(|| Error::Spec {
                key: "generators".into(),
                reason: format!(
                    "unknown generator `{name}`, expected one of {}",
                    GeneratorName::ALL
                        .iter()
                        .map(|g| format!("`{}`", g.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }
}

impl std::str::FromStr for GeneratorName {
    type Err = Error;
    fn from_str(s: &str) -> Result<GeneratorName> {
        GeneratorName::parse(s)
    }
}

/// Which fit a generator is built for. The privacy attack's shadow retrainings may get a
/// smaller budget than the released fit (STAN trains them for `shadow_stan_epochs`), since
/// they are many; the attack's module doc says what that does to the game.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The fit whose roll-out the run releases and evaluates.
    Release,
    /// A shadow retraining of the membership-inference attack.
    Shadow,
}

/// Generator `name` configured by `spec` for `role`.
pub fn build(name: GeneratorName, spec: &Spec, role: Role) -> Box<dyn Generator> {
    match name {
        GeneratorName::Stan => Box::new(StanGenerator::from_spec(spec, role)),
        GeneratorName::Independent => Box::new(IndependentGenerator),
        GeneratorName::Bayes => Box::new(BayesGenerator {
            config: spec.bayes.clone(),
        }),
        GeneratorName::Copy => Box::new(CopyGenerator),
        GeneratorName::Holdout => Box::new(HoldoutGenerator),
    }
}

/// Generator `name` of `spec`: a built-in, or an `[external.<name>]` entry (whose command
/// keeps its logs under `run_dir`, see [`super::external`]). An unknown name is an error that
/// lists the built-ins.
///
/// # Example
///
/// ```
/// use stan::generator::{Generator, Role, build_entry};
/// use stan::spec::Spec;
///
/// let spec = Spec::from_toml(
///     "name = \"example\"\ngenerators = [\"copy\", \"theirs\"]\n\
///      [external.theirs]\nfile = \"theirs.csv\"\n",
///     "example",
/// )?;
/// assert_eq!(build_entry("copy", &spec, Role::Release, None)?.name(), "copy");
/// assert_eq!(build_entry("theirs", &spec, Role::Release, None)?.name(), "theirs");
/// assert!(build_entry("gan", &spec, Role::Release, None).is_err());
/// # Ok::<(), stan::Error>(())
/// ```
pub fn build_entry(
    name: &str,
    spec: &Spec,
    role: Role,
    run_dir: Option<&std::path::Path>,
) -> Result<Box<dyn Generator>> {
    match spec.external.get(name) {
        Some(entry) => Ok(super::external::build(name, entry, run_dir)),
        None => build_named(name, spec, role),
    }
}

/// [`build`] by name, for callers holding a string (an unknown name lists the allowed ones).
pub fn build_named(name: &str, spec: &Spec, role: Role) -> Result<Box<dyn Generator>> {
    Ok(build(GeneratorName::parse(name)?, spec, role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for g in GeneratorName::ALL {
            assert!(matches!(GeneratorName::parse(g.as_str()), Ok(h) if h == g));
            let json = serde_json::to_string(&g).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", g.as_str()));
        }
    }

    #[test]
    fn unknown_name_lists_the_allowed_ones() {
        let spec = match Spec::from_toml(r#"name = "t""#, "t") {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let e = match build_named("gan", &spec, Role::Release) {
            Ok(_) => panic!("`gan` is no generator"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("`gan`"), "{e}");
        for g in GeneratorName::ALL {
            assert!(e.contains(&format!("`{}`", g.as_str())), "{e}");
        }
        // The spec parser's own message lists them too.
        let e = match Spec::from_toml("name = \"t\"\ngenerators = [\"gan\"]", "t") {
            Ok(_) => panic!("`gan` is no generator"),
            Err(e) => e.to_string(),
        };
        for g in GeneratorName::ALL {
            assert!(e.contains(&format!("`{}`", g.as_str())), "{e}");
        }
    }

    #[test]
    fn shadow_role_sets_stan_shadow_budget() {
        let text = "name = \"t\"\nshadow_stan_epochs = 2\n[stan]\nepochs = 9";
        let spec = match Spec::from_toml(text, "t") {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            StanGenerator::from_spec(&spec, Role::Release).config.epochs,
            9
        );
        assert_eq!(
            StanGenerator::from_spec(&spec, Role::Shadow).config.epochs,
            2
        );
    }
}
