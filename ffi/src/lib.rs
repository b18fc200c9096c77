//! C ABI of the Osprey recorder.
