//! Experiments as a product: sweeps over spec keys (local or Slurm), reports aggregated over
//! seeds from result folders alone, and metric thresholds for regression checks.

pub mod aggregate;
pub mod check;
pub mod sweep;
