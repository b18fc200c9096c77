//! The disk-backed parts of the embedded engine: the mergeable
//! pre-aggregates it persists ([`agg`]), the index file of a sealed
//! segment ([`sealed`]) and the byte-bounded cache its parts are read
//! through ([`cache`]).

pub mod agg;
pub mod cache;
pub mod sealed;
