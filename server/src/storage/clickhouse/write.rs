//! The write path: group commit per shard, the inserts, the on-disk
//! buffer when a shard fails, its replay and the shard health checks.

use super::*;

pub(super) fn replay_loop(inner: Weak<Inner>) {
    loop {
        let Some(i) = inner.upgrade() else { return };
        if i.stop.load(Ordering::Relaxed) {
            return;
        }
        i.check_shards();
        i.replay_all();
        drop(i);
        std::thread::park_timeout(REPLAY_EVERY);
    }
}

impl Inner {
    pub(super) fn reserve_seqs(&self, n: u64) -> u64 {
        let floor = crate::time::now_ms() << 11;
        let mut cur = self.last_seq.load(Ordering::Relaxed);
        loop {
            let start = cur.saturating_add(1).max(floor);
            match self.last_seq.compare_exchange_weak(
                cur,
                start + n.max(1) - 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return start,
                Err(now) => cur = now,
            }
        }
    }

    /// Inserts `ins` into shard `i`; on failure, what is left to insert.
    pub(super) fn send(&self, i: usize, ins: &ShardInserts) -> Result<(), (ChError, ShardInserts)> {
        for (n, (table, rows)) in ins.tables.iter().enumerate() {
            let local = schema::local_name(&self.cfg, table);
            if let Err(e) = self
                .http
                .insert(&self.cfg.shards[i], self.db(), &local, rows)
            {
                let rest = ShardInserts {
                    tables: ins.tables[n..].to_vec(),
                };
                return Err((e, rest));
            }
        }
        Ok(())
    }

    pub(super) fn mark(&self, i: usize, down: Option<String>) {
        let mut d = self.down.lock();
        match down {
            Some(why) => {
                if d.insert(i, why.clone()).is_none() {
                    eprintln!(
                        "osprey: clickhouse shard {} failed, buffering on disk: {why}",
                        self.cfg.shards[i]
                    );
                }
            }
            None => {
                if d.remove(&i).is_some() {
                    eprintln!("osprey: clickhouse shard {} is back", self.cfg.shards[i]);
                }
            }
        }
    }

    /// Asks every shard of a sharded setup whether it answers, and notes
    /// those that do not (what [`Storage::missing`] reports).
    pub(super) fn check_shards(&self) {
        if !self.cfg.sharded() {
            return;
        }
        for (i, shard) in self.cfg.shards.iter().enumerate() {
            match self.http.query(shard, None, "SELECT 1", &[]) {
                Err(e) => self.mark(i, Some(e.to_string())),
                Ok(_) if self.spools[i].is_empty() => self.mark(i, None),
                Ok(_) => {}
            }
        }
    }

    pub(super) fn replay_all(&self) -> bool {
        let mut empty = true;
        for (i, spool) in self.spools.iter().enumerate() {
            if spool.is_empty() {
                continue;
            }
            let r = spool.replay(|ins| {
                self.send(i, ins).map_err(|(e, _)| e)
                // A batch that failed part-way is sent whole again: its
                // first tables may be stored twice (at least once).
            });
            match r {
                Ok(()) => self.mark(i, None),
                Err(e) => {
                    self.mark(i, Some(e.to_string()));
                    empty = false;
                }
            }
        }
        empty
    }

    pub(super) fn append(&self, batch: IngestBatch) -> StorageResult<AppendAck> {
        let mut ack = AppendAck {
            records: 0,
            spans: batch.spans.len() as u64,
            metric_points: batch.metrics.len() as u64,
        };
        if batch.spans.is_empty() && batch.metrics.is_empty() {
            return Ok(ack);
        }
        let n = self.cfg.shards.len();
        let first_seq = self.reserve_seqs(batch.spans.len() as u64);
        let spare = (self.spare.fetch_add(1, Ordering::Relaxed) % n as u64) as usize;
        let (inserts, _) = rows::encode(&self.cfg, &batch, first_seq, spare);
        // Refuse up front rather than store part of the request: a shard
        // whose buffer holds data cannot take more past the cap.
        let cap = self.cfg.spool_max_bytes;
        for (i, ins) in inserts.iter().enumerate() {
            let spool = &self.spools[i];
            if !ins.is_empty() && !spool.is_empty() && spool.bytes() + ins.bytes() > cap {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                return Err(StorageError::Unavailable(format!(
                    "ClickHouse shard {} is down and its buffer is full ({} bytes)",
                    self.cfg.shards[i],
                    spool.bytes()
                )));
            }
        }
        for (i, ins) in inserts.iter().enumerate() {
            if ins.is_empty() {
                continue;
            }
            ack.records += ins.tables.len() as u64;
            self.committers[i]
                .commit(ins, |group| self.flush(i, group))
                .map_err(|e| match e {
                    commit::GroupError::Full(m) => StorageError::Unavailable(m),
                    commit::GroupError::Io(m) => StorageError::Io(std::io::Error::other(m)),
                })?;
        }
        self.counters
            .records
            .fetch_add(ack.records, Ordering::Relaxed);
        Ok(ack)
    }

    /// Sends one group to shard `i`, or buffers it (what is left of it)
    /// on disk when the shard fails or already has a backlog (order is
    /// kept: while a shard has a backlog, its groups queue behind it).
    pub(super) fn flush(&self, i: usize, group: ShardInserts) -> Result<(), commit::GroupError> {
        let spool = &self.spools[i];
        let left = if spool.is_empty() {
            match self.send(i, &group) {
                Ok(()) => return Ok(()),
                Err((e, rest)) => {
                    self.mark(i, Some(e.to_string()));
                    rest
                }
            }
        } else {
            group
        };
        self.counters.buffered.fetch_add(1, Ordering::Relaxed);
        match spool.push(&left, self.cfg.spool_max_bytes) {
            Ok(()) => Ok(()),
            Err(SpoolError::Full) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                Err(commit::GroupError::Full(format!(
                    "ClickHouse shard {} is down and its buffer is full",
                    self.cfg.shards[i]
                )))
            }
            Err(SpoolError::Io(e)) => Err(commit::GroupError::Io(e.to_string())),
        }
    }
}
