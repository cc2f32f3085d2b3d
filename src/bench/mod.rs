//! Load generators with verified payloads and latency histograms, to measure netkit
//! or any other server of the same protocol.

pub mod chat;
pub mod echo;
mod latency;
mod shared;
mod usage;

pub use latency::Latency;
pub use shared::{ErrorCounts, Progress, describe_errors};
pub use usage::{ProcessSample, SelfSample};
