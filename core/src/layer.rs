//! A `tracing-subscriber` Layer recording `tracing` spans into Osprey.
