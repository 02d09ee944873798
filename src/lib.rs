//! `stan`: a research harness for synthetic NetFlow traffic (STAN and baselines), its fidelity,
//! its usefulness for anomaly detection, and its privacy.

pub mod data;
pub mod error;
pub mod privacy;
pub mod report;
pub mod schema;
pub mod stats;

pub use error::{Error, Result};
