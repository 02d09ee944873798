//! `stan`: a research harness for synthetic NetFlow traffic (STAN and baselines), its fidelity,
//! its usefulness for anomaly detection, and its privacy.

pub mod baselines;
pub mod data;
pub mod detect;
pub mod encode;
pub mod error;
pub mod experiments;
pub mod fidelity;
pub mod generator;
pub mod model;
pub mod privacy;
pub mod report;
pub mod run;
pub mod runtime;
pub mod schema;
pub mod spec;
pub mod stats;

pub use error::{Error, Result};
