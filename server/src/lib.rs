//! # osprey-server
//!
//! The `osprey` binary's library: it receives OTLP over HTTP and gRPC
//! (traces and metrics, protobuf or JSON, optionally gzip), hands every
//! acknowledged request to a [`storage::Storage`] backend and answers a
//! JSON query API ([`api`]). The same binary has terminal helpers ([`cli`]).
//!
//! Today's backend, [`storage::embedded::EmbeddedStorage`], keeps every
//! request in an append-only segment store ([`store`]) and indexes
//! transactions, server-map calls and metric series in bounded memory
//! ([`index`]). Another backend implements the trait and is passed to
//! [`app::App::with_storage`]; `server/STORAGE.md` has the design.
//!
//! Module owners: [`ingest`] turns bytes into [`record`]s; [`storage`] owns
//! the trait, the types that cross it and the embedded backend, which alone
//! uses [`store`] (the files) and [`index`] (memory); [`app`] holds the
//! configuration and the `Arc<dyn Storage>` the HTTP layer, the gRPC
//! services and the CLI call; [`api`] is HTTP only; [`auth`] owns API keys,
//! users and sessions; [`tree`] builds call trees; [`cli`] is the command
//! line.
//!
//! ```no_run
//! use osprey_server::{api, app::ServerConfig};
//!
//! let running = api::start(ServerConfig::new("./data"), "127.0.0.1:4318".parse()?)?;
//! println!("serving on {}", running.base_url());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod alerts;
pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod dashboards;
pub mod index;
pub mod ingest;
pub mod live;
pub mod prom;
pub mod record;
pub mod report;
pub mod storage;
pub mod store;
pub mod time;
pub mod tree;
pub mod web;
