//! Library error type. `main` wraps these in `anyhow`; the library never panics on user input.

use std::path::PathBuf;

/// Every failure the library reports. Input errors name the file, line, column and value so a
/// user can fix the data without guessing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}:{line}: column `{column}`: invalid value {value:?}: {reason}")]
    Parse {
        file: String,
        line: u64,
        column: String,
        value: String,
        reason: String,
    },
    #[error("{file}:{line}: expected {expected} columns, found {found}")]
    Columns {
        file: String,
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("spec: key `{key}`: {reason}")]
    Spec { key: String, reason: String },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("csv error on {path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
