//! Test support shared by Osprey's crates (never shipped): a loopback
//! OTLP/HTTP receiver that decodes what exporters send, and helpers to read
//! the decoded spans.

pub mod otlp_receiver;
pub mod spans;

pub use otlp_receiver::{Receiver, Reply, Request};
