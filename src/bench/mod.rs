//! Load generators with verified payloads and latency histograms, to measure netkit
//! or any other server of the same protocol.

pub mod chat;
pub mod echo;
mod latency;
mod usage;

pub use latency::Latency;
pub use usage::{ProcessSample, SelfSample};
