//! The registry: every generator a spec can name, and how each is built from the spec.
//! Adding a built-in generator means writing its module (which implements [`Generator`] and
//! names itself) and adding one entry to [`BUILTINS`]; spec validation, the default
//! `generators` list and the error for an unknown name all read the table. Generators outside
//! `stan` need no code: a spec's `[external.<name>]` entry ([`super::external`]) is built by
//! [`build_entry`].

use super::Generator;
use crate::baselines::{BayesGenerator, CopyGenerator, HoldoutGenerator, IndependentGenerator};
use crate::error::{Error, Result};
use crate::model::StanGenerator;
use crate::spec::Spec;

/// A built-in generator: its name in specs (`generators = ["stan", ...]`, the `generator`
/// column of `metrics.csv`), what it is, and how a spec builds it.
pub struct Builtin {
    pub name: &'static str,
    pub description: &'static str,
    pub build: fn(&Spec, Role) -> Box<dyn Generator>,
}

/// Every built-in generator, in the default spec order (the default `generators` and
/// `shadow_generators`; the order is part of a default spec's hash, so new entries go last).
pub const BUILTINS: [Builtin; 5] = [
    Builtin {
        name: StanGenerator::NAME,
        description: "STAN: an autoregressive model of each host's flow sequence (CNN context, MADE heads)",
        build: |spec, role| Box::new(StanGenerator::from_spec(spec, role)),
    },
    Builtin {
        name: IndependentGenerator::NAME,
        description: "every attribute from its own training marginal (STAN's baseline B1)",
        build: |_, _| Box::new(IndependentGenerator),
    },
    Builtin {
        name: BayesGenerator::NAME,
        description: "a small Bayesian chain over the encoded attributes (generalises STAN's B2)",
        build: |spec, _| {
            Box::new(BayesGenerator {
                config: spec.bayes.clone(),
            })
        },
    },
    Builtin {
        name: CopyGenerator::NAME,
        description: "replays the members' training flows (memorisation, the privacy worst case)",
        build: |_, _| Box::new(CopyGenerator),
    },
    Builtin {
        name: HoldoutGenerator::NAME,
        description: "replays held-out real hosts (the real-vs-real floor of every metric)",
        build: |_, _| Box::new(HoldoutGenerator),
    },
];

/// The built-in generator called `name`, if any.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The built-in names, in the default spec order.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.name)
}

/// The message for a name that is no built-in: it lists the allowed names (the built-ins,
/// then `extra`, such as a spec's external entries).
pub fn unknown_name(name: &str, extra: &[&str]) -> String {
    let allowed: Vec<String> = builtin_names()
        .map(|n| format!("`{n}`"))
        .chain(extra.iter().map(|n| format!("`{n}`")))
        .collect();
    format!(
        "unknown generator `{name}`, expected one of {}",
        allowed.join(", ")
    )
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

/// Built-in generator `name` configured by `spec` for `role`; an unknown name is an error
/// that lists the built-ins.
pub fn build(name: &str, spec: &Spec, role: Role) -> Result<Box<dyn Generator>> {
    match builtin(name) {
        Some(b) => Ok((b.build)(spec, role)),
        None => Err(Error::Spec {
            key: "generators".into(),
            reason: unknown_name(name, &[]),
        }),
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
        None => build(name, spec, role),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry builds a generator that answers to the entry's name; names are unique.
    #[test]
    fn entries_build_their_named_generator() {
        let spec = match Spec::from_toml(r#"name = "t""#, "t") {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        for (i, b) in BUILTINS.iter().enumerate() {
            assert_eq!((b.build)(&spec, Role::Release).name(), b.name);
            assert!(!b.description.is_empty());
            assert!(BUILTINS[..i].iter().all(|a| a.name != b.name), "{}", b.name);
        }
        assert_eq!(
            builtin_names().collect::<Vec<_>>(),
            ["stan", "independent", "bayes", "copy", "holdout"]
        );
    }

    #[test]
    fn unknown_name_lists_the_allowed_ones() {
        let spec = match Spec::from_toml(r#"name = "t""#, "t") {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let e = match build("gan", &spec, Role::Release) {
            Ok(_) => panic!("`gan` is no generator"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("`gan`"), "{e}");
        for g in builtin_names() {
            assert!(e.contains(&format!("`{g}`")), "{e}");
        }
        // The spec parser's own message lists them too.
        let e = match Spec::from_toml("name = \"t\"\ngenerators = [\"gan\"]", "t") {
            Ok(_) => panic!("`gan` is no generator"),
            Err(e) => e.to_string(),
        };
        for g in builtin_names() {
            assert!(e.contains(&format!("`{g}`")), "{e}");
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
