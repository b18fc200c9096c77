//! # osprey-server
//!
//! The `osprey` binary's library: it receives OTLP/HTTP (traces and
//! metrics, protobuf or JSON, optionally gzip), keeps every acknowledged
//! request in an embedded append-only store ([`store`]), indexes
//! transactions, server-map calls and metric series in bounded memory
//! ([`index`]) and answers a JSON query API ([`api`]). The same binary has
//! terminal helpers ([`cli`]).
//!
//! Module owners: [`ingest`] turns bytes into [`record`]s; [`store`] owns
//! the files; [`index`] owns memory; [`app`] ties them together; [`api`]
//! is HTTP only; [`auth`] owns API keys, users and sessions; [`tree`]
//! builds call trees; [`cli`] is the command line.
//!
//! ```no_run
//! use osprey_server::{api, app::ServerConfig};
//!
//! let running = api::start(ServerConfig::new("./data"), "127.0.0.1:4318".parse()?)?;
//! println!("serving on {}", running.base_url());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod index;
pub mod ingest;
pub mod record;
pub mod storage;
pub mod store;
pub mod time;
pub mod tree;
pub mod web;
