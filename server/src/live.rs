//! The live side of `osprey serve`: every second the transactions stored
//! since the last look ([`Storage::since`](crate::storage::Storage::since))
//! are counted for `/metrics` ([`crate::prom`]) and for the alert rules'
//! per-second windows, then the rules are evaluated ([`crate::alerts`]).

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::alerts::Alerts;
use crate::app::App;
use crate::prom::counters::Counters;
use crate::storage::{StorageResult, TxnFilter};

/// Rows read per [`Storage::since`](crate::storage::Storage::since) call.
const PAGE: usize = 20_000;

/// The feed's state and its consumers.
pub struct Live {
    /// The server.
    pub app: Arc<App>,
    /// Request counters since start.
    pub counters: Counters,
    /// The alert engine.
    pub alerts: Alerts,
    cursor: Mutex<u64>,
}

impl Live {
    /// How often [`Live::step`] runs.
    pub const EVERY: Duration = Duration::from_secs(1);

    /// Starts the feed at what is stored now (the counters count from here).
    pub fn new(app: Arc<App>, alerts: Alerts) -> StorageResult<Self> {
        let cursor = app.storage().transactions(&TxnFilter::default(), 0)?.cursor;
        // The rules' windows start with what is stored (a restart does not
        // blind them); the counters start at zero.
        let scopes = alerts.recent().scopes();
        alerts.backfill(app.storage(), &scopes, cursor, crate::time::now_ms())?;
        Ok(Self {
            app,
            counters: Counters::default(),
            alerts,
            cursor: Mutex::new(cursor),
        })
    }

    /// New rules ([`Alerts::replace`]), with the windows of new scopes
    /// filled from stored data; the feed waits meanwhile, so no
    /// transaction is counted twice.
    pub fn replace_rules(&self, text: &str) -> Result<usize, crate::alerts::AlertError> {
        let cursor = self.cursor.lock();
        let (n, fresh) = self.alerts.replace(text)?;
        if let Err(e) =
            self.alerts
                .backfill(self.app.storage(), &fresh, *cursor, crate::time::now_ms())
        {
            eprintln!("osprey: alert windows not filled from stored data: {e}");
        }
        Ok(n)
    }

    /// Reads what arrived since the last call and hands it on; returns
    /// how many transactions.
    pub fn poll(&self, now_ms: u64) -> StorageResult<usize> {
        let mut cursor = self.cursor.lock();
        let mut total = 0;
        loop {
            let page = self.app.storage().since(*cursor, PAGE)?;
            let rows = page.transactions;
            let Some(last) = rows.last() else { break };
            *cursor = last.seq;
            total += rows.len();
            self.counters.add(&rows);
            self.alerts.recent().add(&rows, now_ms / 1000);
            if rows.len() < PAGE {
                break;
            }
        }
        Ok(total)
    }

    /// One second's work: [`Live::poll`], then the rules.
    pub fn step(&self, now_ms: u64) {
        if let Err(e) = self.poll(now_ms) {
            eprintln!("osprey: live feed: {e}");
            return;
        }
        self.alerts.tick(self.app.storage(), now_ms);
    }
}
