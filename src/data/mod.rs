//! Flow data: the record type, readers and writers, validation, host view and splits, and the
//! simulated `ar1` check data.

pub mod ar1;
pub mod cut;
pub mod fields;
pub mod flow;
pub mod hosts;
pub mod read;
pub mod stats;
pub mod write;

pub use fields::{Field, FieldSet};
pub use flow::{Flags, Flow, Label, Proto};
pub use hosts::{HostSplit, HostTraffic};
pub use read::{FlowReader, read_flows};
pub use write::{atomic_write, atomic_write_str, write_flows};
