//! Test support shared by Osprey's crates (never shipped): a loopback
//! OTLP/HTTP receiver that decodes what exporters send, helpers to read
//! the decoded spans, the secrets scanner, a fault-injecting TCP proxy and a small disk to fill.

pub mod fault_proxy;
pub mod otlp_receiver;
pub mod secrets;
pub mod small_disk;
pub mod spans;

pub use fault_proxy::{FaultProxy, Mode, TlsFront};
pub use otlp_receiver::{Receiver, Reply, Request};
pub use small_disk::SmallDisk;
