//! Result rows and the human tables built from them.

pub mod metrics;

pub use metrics::MetricRow;
