//! Group commit: the batches of concurrent ingest requests for one shard
//! go to ClickHouse as one insert per table. ClickHouse wants few large
//! inserts (each one is a part on disk, merged later), while agents send
//! many small requests; waiting for a timer would add latency, so the
//! first request to arrive while no insert is running becomes the leader
//! and sends everything queued so far, and the requests that arrive during
//! its insert queue up for the next one. Every request returns only once
//! its rows are inserted or buffered on disk.

use std::collections::{BTreeMap, HashMap};

use parking_lot::{Condvar, Mutex};

use super::rows::ShardInserts;

/// Why a group failed; every request of the group gets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupError {
    /// The shard's on-disk buffer is full.
    Full(String),
    /// Buffering failed.
    Io(String),
}

/// Outcomes kept for waiters that have not looked yet.
const KEPT_OUTCOMES: u64 = 65_536;

#[derive(Default)]
struct State {
    /// Rows of the group being collected, by table (`RowBinary` bodies
    /// concatenate).
    pending: HashMap<String, Vec<u8>>,
    /// Number of the group being collected.
    collecting: u64,
    /// True while a leader sends a group.
    flushing: bool,
    /// The newest group sent, and the outcome of recent groups.
    done: Option<u64>,
    outcomes: BTreeMap<u64, Result<(), GroupError>>,
}

/// The group commit of one shard.
#[derive(Default)]
pub struct Committer {
    state: Mutex<State>,
    wake: Condvar,
}

impl Committer {
    /// Queues `ins` and returns once the group holding it was handed to
    /// `flush` (by this thread or another), with the group's outcome.
    pub fn commit(
        &self,
        ins: &ShardInserts,
        flush: impl Fn(ShardInserts) -> Result<(), GroupError>,
    ) -> Result<(), GroupError> {
        let mut st = self.state.lock();
        let mine = st.collecting;
        for (table, rows) in &ins.tables {
            st.pending
                .entry(table.clone())
                .or_default()
                .extend_from_slice(rows);
        }
        loop {
            if st.done.is_some_and(|d| d >= mine) {
                return st.outcomes.get(&mine).cloned().unwrap_or(Ok(()));
            }
            if !st.flushing {
                st.flushing = true;
                let group = st.collecting;
                st.collecting += 1;
                let mut tables: Vec<(String, Vec<u8>)> = st.pending.drain().collect();
                tables.sort();
                drop(st);
                let outcome = flush(ShardInserts { tables });
                st = self.state.lock();
                st.flushing = false;
                st.done = Some(group);
                st.outcomes.insert(group, outcome);
                while st
                    .outcomes
                    .first_key_value()
                    .is_some_and(|(g, _)| g + KEPT_OUTCOMES < group)
                {
                    st.outcomes.pop_first();
                }
                self.wake.notify_all();
                continue;
            }
            self.wake.wait(&mut st);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn concurrent_requests_share_inserts_and_every_row_goes_once() {
        let c = Arc::new(Committer::default());
        let flushes = Arc::new(AtomicUsize::new(0));
        let rows = Arc::new(Mutex::new(Vec::new()));
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let (c, flushes, rows) = (c.clone(), flushes.clone(), rows.clone());
                s.spawn(move || {
                    for i in 0..50u8 {
                        let ins = ShardInserts {
                            tables: vec![("spans".into(), vec![t, i])],
                        };
                        c.commit(&ins, |group| {
                            flushes.fetch_add(1, Ordering::Relaxed);
                            std::thread::yield_now();
                            rows.lock()
                                .extend(group.tables[0].1.chunks(2).map(<[u8]>::to_vec));
                            Ok(())
                        })
                        .unwrap();
                        // Returned: the row was flushed already.
                        assert!(rows.lock().contains(&vec![t, i]));
                    }
                });
            }
        });
        let mut all = rows.lock().clone();
        all.sort();
        assert_eq!(all.len(), 400);
        all.dedup();
        assert_eq!(all.len(), 400, "each row once");
        assert!(flushes.load(Ordering::Relaxed) <= 400);
    }

    #[test]
    fn a_failed_group_fails_every_request_in_it() {
        let c = Committer::default();
        let ins = ShardInserts {
            tables: vec![("spans".into(), vec![1])],
        };
        let e = c.commit(&ins, |_| Err(GroupError::Full("full".into())));
        assert_eq!(e, Err(GroupError::Full("full".into())));
        assert_eq!(c.commit(&ins, |_| Ok(())), Ok(()), "the next group is new");
    }
}
