//! What the alerts did: every firing and recovery ([`Event`], with its
//! evidence) appended to `<data>/alerts/history.jsonl` and kept in
//! memory for the viewer, and the outcome of every notification
//! ([`Delivery`], in memory only).

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// One of the worst transactions of an alert's window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Transaction id (16 hex digits).
    pub id: String,
    /// Trace id.
    pub trace_id: String,
    /// Service.
    pub service: String,
    /// Endpoint.
    pub endpoint: String,
    /// Elapsed ms.
    pub elapsed_ms: f64,
    /// Failed.
    pub error: bool,
    /// End, UNIX ms.
    pub end_ms: u64,
    /// The viewer's page of it (relative unless `public_url` is set).
    pub link: String,
}

/// A firing or a recovery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When, UNIX ms.
    pub at_ms: u64,
    /// `firing` or `resolved`.
    pub state: String,
    /// Rule name.
    pub rule: String,
    /// Rule kind.
    pub kind: String,
    /// `info`, `warning`, `critical`.
    pub severity: String,
    /// The service concerned, when one is.
    pub service: Option<String>,
    /// The measured value.
    pub value: Option<f64>,
    /// The rule's threshold.
    pub threshold: f64,
    /// What was measured, in words.
    pub detail: String,
    /// The rule's summary text.
    #[serde(default)]
    pub summary: Option<String>,
    /// Firing: when the condition started; resolved: when it had fired.
    pub since_ms: u64,
    /// The window evaluated, UNIX ms.
    pub window_from_ms: u64,
    /// End of that window, UNIX ms.
    pub window_to_ms: u64,
    /// Recorded, not notified (a silence period was in force).
    pub silenced: bool,
    /// The worst transactions of the window.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

/// The outcome of one notification.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delivery {
    /// When it finished, UNIX ms.
    pub at_ms: u64,
    /// Rule name.
    pub rule: String,
    /// `firing` or `resolved`.
    pub state: String,
    /// Notifier name.
    pub notifier: String,
    /// Sent.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
}

/// Events kept in memory (the file keeps all).
pub const KEEP: usize = 1_000;
/// Deliveries kept in memory.
pub const KEEP_DELIVERIES: usize = 200;

/// The history.
pub struct History {
    path: Option<PathBuf>,
    events: Mutex<VecDeque<Event>>,
    deliveries: Mutex<VecDeque<Delivery>>,
}

impl History {
    /// Reads the last [`KEEP`] events of `path` (a damaged line is
    /// skipped and reported); `None` keeps them in memory only.
    pub fn open(path: Option<PathBuf>) -> io::Result<Self> {
        let mut events = VecDeque::new();
        if let Some(p) = &path {
            if let Some(dir) = p.parent() {
                fs::create_dir_all(dir)?;
            }
            match fs::File::open(p) {
                Ok(f) => {
                    for (n, line) in BufReader::new(f).lines().enumerate() {
                        let line = line?;
                        match serde_json::from_str::<Event>(&line) {
                            Ok(e) => {
                                events.push_back(e);
                                if events.len() > KEEP {
                                    events.pop_front();
                                }
                            }
                            Err(e) => {
                                eprintln!("osprey: {}: line {} skipped: {e}", p.display(), n + 1)
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Self {
            path,
            events: Mutex::new(events),
            deliveries: Mutex::new(VecDeque::new()),
        })
    }

    /// Appends `e` to the file and the memory.
    pub fn record(&self, e: &Event) {
        if let Some(p) = &self.path {
            let written = serde_json::to_string(e)
                .map_err(io::Error::other)
                .and_then(|line| {
                    let mut f = OpenOptions::new().create(true).append(true).open(p)?;
                    f.write_all(format!("{line}\n").as_bytes())
                });
            if let Err(err) = written {
                eprintln!("osprey: alert history {}: {err}", p.display());
            }
        }
        let mut ev = self.events.lock();
        ev.push_back(e.clone());
        if ev.len() > KEEP {
            ev.pop_front();
        }
    }

    /// Notes a notification's outcome.
    pub fn delivered(&self, d: Delivery) {
        if let Some(err) = &d.error {
            eprintln!("osprey: alert {:?} to {}: {err}", d.rule, d.notifier);
        }
        let mut dl = self.deliveries.lock();
        dl.push_back(d);
        if dl.len() > KEEP_DELIVERIES {
            dl.pop_front();
        }
    }

    /// The newest `limit` events, newest first.
    pub fn events(&self, limit: usize) -> Vec<Event> {
        self.events
            .lock()
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }

    /// The newest deliveries, newest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().iter().rev().cloned().collect()
    }
}
