//! The read path: every [`Storage`] query as SQL over the tables of
//! [`super::schema`], retention and status.

use super::*;

impl Inner {
    pub(super) fn cutoff(&self) -> u64 {
        self.cutoff_ns.load(Ordering::Relaxed)
    }

    pub(super) fn clip(&self, f: &TxnFilter) -> TxnFilter {
        let cutoff = self.cutoff();
        let mut f = f.clone();
        if cutoff > 0 {
            f.from_ns = Some(f.from_ns.map_or(cutoff, |x| x.max(cutoff)));
        }
        f
    }

    pub(super) fn cursor(&self) -> Result<u64, ChError> {
        let b = self.select("SELECT max(seq) FROM transactions")?;
        let v = read_all(&b, |r| r.u64())?;
        Ok(v.first().copied().unwrap_or(0))
    }

    pub(super) fn txns(&self, sql: &str) -> Result<Vec<TxnRow>, ChError> {
        read_all(&self.select(sql)?, query::read_txn)
    }

    pub(super) fn trace_days(&self, trace: TraceId) -> Result<Vec<u16>, ChError> {
        Ok(self.trace_extent(trace)?.0)
    }

    /// The days holding spans of `trace`, and the first and last start
    /// among them (what lets a span lookup skip most of a day's parts:
    /// `spans` is ordered by service, name and start).
    pub(super) fn trace_extent(&self, trace: TraceId) -> Result<(Vec<u16>, u64, u64), ChError> {
        let b = self.select(&format!(
            "SELECT toUInt16(day), min(start_min), max(start_max) FROM trace_index \
             WHERE trace_id = {} GROUP BY day",
            bytes_lit(&trace.0)
        ))?;
        let rows = read_all(&b, |r| Ok((r.u16()?, r.u64()?, r.u64()?)))?;
        let first = rows.iter().map(|r| r.1).min().unwrap_or(0);
        let last = rows.iter().map(|r| r.2).max().unwrap_or(0);
        Ok((rows.into_iter().map(|r| r.0).collect(), first, last))
    }

    /// True when shard `n` removes old days by table TTL, set to this
    /// server's retention age (checked once per process and shard). A
    /// server that refuses the TTL gets its partitions dropped instead.
    pub(super) fn ttl_in_force(&self, n: usize) -> Result<bool, ChError> {
        if let Some(ttl) = self.ttl.lock().get(&n) {
            return Ok(*ttl);
        }
        let shard = &self.cfg.shards[n];
        let caps = schema::caps(&*self.http, shard)?;
        let ttl = match schema::sync_ttl(&*self.http, &self.cfg, shard, &caps) {
            Ok(_) => caps.modern,
            Err(ChError::Server(m)) => {
                eprintln!(
                    "osprey: clickhouse: {shard}: the retention TTL was refused ({m}); \
                     old day partitions are dropped instead"
                );
                false
            }
            Err(e) => return Err(e),
        };
        self.ttl.lock().insert(n, ttl);
        Ok(ttl)
    }

    pub(super) fn status(&self) -> Result<Status, ChError> {
        let mut index = IndexStats::default();
        // One count per statement: scalar subqueries answer Nullable on
        // current servers, plain on 18.16.
        let count = |sql: String| -> Result<u64, ChError> {
            Ok(read_all(&self.select(&sql)?, |r| r.u64())?
                .first()
                .copied()
                .unwrap_or(0))
        };
        let c = self.cutoff();
        index.transactions = count(format!(
            "SELECT count() FROM transactions WHERE end_ns >= {c}"
        ))? as usize;
        index.spans_indexed = count(format!("SELECT count() FROM spans WHERE end_ns >= {c}"))?;
        index.edges = count(format!("SELECT count() FROM calls WHERE end_ns >= {c}"))? as usize;
        let mut bytes = 0;
        for shard in &self.cfg.shards {
            let sql = format!(
                "SELECT sum(bytes_on_disk) FROM system.parts WHERE database = {} AND active \
                 FORMAT RowBinary",
                lit(self.db())
            );
            if let Ok(b) = self.http.query(shard, None, &sql, &[]) {
                bytes += read_all(&b, |r| r.u64())?.first().copied().unwrap_or(0);
            }
        }
        Ok(Status {
            segments: Vec::new(),
            store_bytes: bytes,
            issues: Vec::new(),
            index,
            records_written: self.counters.records.load(Ordering::Relaxed),
        })
    }
}

impl Storage for ClickHouseStorage {
    fn backend(&self) -> &'static str {
        "clickhouse"
    }

    /// Inserts the batch's rows into each shard (one `RowBinary` insert
    /// per table); a shard that fails gets them in its on-disk buffer
    /// instead. `Ok` means inserted or buffered (fsynced); `Unavailable`
    /// (503) only when a buffer is full.
    fn append(&self, batch: IngestBatch) -> StorageResult<AppendAck> {
        self.inner.append(batch)
    }

    fn transactions(&self, filter: &TxnFilter, limit: usize) -> StorageResult<TxnPage> {
        let i = &self.inner;
        let cursor = i.cursor()?;
        if limit == 0 {
            return Ok(TxnPage {
                cursor,
                transactions: Vec::new(),
            });
        }
        let f = i.clip(filter);
        let mut rows = i.txns(&format!(
            "SELECT {} FROM transactions WHERE {} ORDER BY end_ns DESC, seq DESC LIMIT {limit}",
            query::TXN_COLUMNS,
            query::txn_where(&f)
        ))?;
        rows.sort_by(newest_first);
        Ok(TxnPage {
            cursor,
            transactions: rows,
        })
    }

    /// Rows whose transaction ended at most a day before the cursor's
    /// ingest time (the partitions a live tail reads).
    fn since(&self, cursor: u64, limit: usize) -> StorageResult<TxnPage> {
        let i = &self.inner;
        let newest = i.cursor()?;
        let cursor_ms = cursor >> 11;
        let floor = cursor_ms
            .saturating_sub(86_400_000)
            .saturating_mul(NS_PER_MS);
        let rows = i.txns(&format!(
            "SELECT {} FROM transactions WHERE seq > {cursor} AND day >= {} AND end_ns >= {} \
             ORDER BY seq LIMIT {limit}",
            query::TXN_COLUMNS,
            date_of(floor),
            i.cutoff()
        ))?;
        Ok(TxnPage {
            cursor: newest,
            transactions: rows,
        })
    }

    fn transaction(&self, id: SpanId) -> StorageResult<Option<TxnRow>> {
        let i = &self.inner;
        let b = i.select(&format!(
            "SELECT DISTINCT toUInt16(day) FROM txn_index WHERE span_id = {}",
            bytes_lit(&id.0)
        ))?;
        let days = read_all(&b, |r| r.u16())?;
        if days.is_empty() {
            return Ok(None);
        }
        let list: Vec<String> = days.into_iter().map(query::date).collect();
        let rows = i.txns(&format!(
            "SELECT {} FROM transactions WHERE span_id = {} AND day IN ({}) AND end_ns >= {} \
             ORDER BY seq DESC LIMIT 1",
            query::TXN_COLUMNS,
            bytes_lit(&id.0),
            list.join(", "),
            i.cutoff()
        ))?;
        Ok(rows.into_iter().next())
    }

    fn trace_transactions(&self, trace: TraceId) -> StorageResult<Vec<TxnRow>> {
        let i = &self.inner;
        let days = i.trace_days(trace)?;
        if days.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = i.txns(&format!(
            "SELECT {} FROM transactions WHERE trace_id = {} AND {} AND end_ns >= {} \
             ORDER BY start_ns, seq",
            query::TXN_COLUMNS,
            bytes_lit(&trace.0),
            query::days_in(&days),
            i.cutoff()
        ))?;
        let mut seen = HashSet::new();
        rows.retain(|r| seen.insert(r.span_id));
        Ok(rows)
    }

    fn trace_spans(&self, trace: TraceId) -> StorageResult<Vec<SpanRec>> {
        let i = &self.inner;
        let (days, first, last) = i.trace_extent(trace)?;
        if days.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = days.iter().map(|d| query::date(*d)).collect();
        let b = i.select(&format!(
            "SELECT {} FROM spans WHERE trace_id = {} AND day IN ({}) AND start_ns >= {first} \
             AND start_ns <= {last} AND end_ns >= {}",
            query::SPAN_COLUMNS,
            bytes_lit(&trace.0),
            list.join(", "),
            i.cutoff()
        ))?;
        let mut spans = read_all(&b, query::read_span)?;
        let mut seen = HashSet::new();
        spans.retain(|s| seen.insert(s.span_id));
        Ok(spans)
    }

    fn seconds(&self, from_s: u64, to_s: u64, window_s: u64) -> StorageResult<Vec<SecondStats>> {
        if to_s < from_s {
            return Ok(Vec::new());
        }
        let i = &self.inner;
        let window_s = window_s.max(1);
        let lo = from_s
            .saturating_sub(window_s - 1)
            .max(i.cutoff().div_ceil(NS_PER_S));
        let b = i.select(&format!(
            "SELECT state FROM seconds WHERE second >= {lo} AND second <= {to_s} \
             AND day >= {} AND day <= {} ORDER BY second",
            date_of(lo.saturating_mul(NS_PER_S)),
            date_of(to_s.saturating_mul(NS_PER_S)),
        ))?;
        let parts = read_all(&b, |r| {
            SecondAgg::decode(r.bytes()?)
                .map_err(|e| ChError::Decode(format!("seconds.state: {e}")))
        })?;
        Ok(window_stats(&merge_seconds(parts), from_s, to_s, window_s))
    }

    /// Calls are joined with the transactions they reached (same trace,
    /// so the same shard: the join runs on each shard) to name callee
    /// services; durations are summarised as the embedded backend does.
    fn server_map(&self, from_ns: u64, to_ns: u64) -> StorageResult<Vec<EdgeJson>> {
        let i = &self.inner;
        let from_ns = from_ns.max(i.cutoff());
        if to_ns <= from_ns {
            return Ok(Vec::new());
        }
        let days = format!(
            "day >= {} AND day <= {}",
            date_of(from_ns),
            date_of(to_ns - 1)
        );
        let callee_days = format!(
            "day >= {} AND day <= {}",
            date_of(from_ns.saturating_sub(86_400 * NS_PER_S)),
            date_of((to_ns - 1).saturating_add(86_400 * NS_PER_S))
        );
        let b = i.select(&format!(
            "SELECT caller, target, kind, callee, elapsed_ns, error, count() FROM calls \
             ANY LEFT JOIN (SELECT trace_id, assumeNotNull(parent) AS span_id, service AS callee \
             FROM {db}.{txns} WHERE parent IS NOT NULL AND {callee_days}) AS callees \
             USING (trace_id, span_id) \
             WHERE end_ns >= {from_ns} AND end_ns < {to_ns} AND {days} \
             GROUP BY caller, target, kind, callee, elapsed_ns, error",
            db = i.db(),
            txns = schema::local_name(&i.cfg, "transactions"),
        ))?;
        type Key = (String, String, TargetKind);
        let mut groups: BTreeMap<Key, EdgeAgg> = BTreeMap::new();
        for (caller, target, kind, callee, elapsed, error, n) in read_all(&b, |r| {
            Ok((
                r.string()?,
                r.string()?,
                rows::target_of(r.u8()?),
                r.string()?,
                r.u64()?,
                r.bool()?,
                r.u64()?,
            ))
        })? {
            let key = if !callee.is_empty() && callee != caller {
                (caller, callee, TargetKind::Service)
            } else if kind == TargetKind::Unknown {
                continue;
            } else {
                (caller, target, kind)
            };
            let agg = groups.entry(key).or_default();
            for _ in 0..n {
                agg.add(elapsed, error);
            }
        }
        Ok(groups
            .into_iter()
            .map(|((caller, callee, kind), a)| a.to_edge(caller, callee, kind))
            .collect())
    }

    fn series(&self, q: &SeriesQuery) -> StorageResult<Vec<SeriesJson>> {
        let i = &self.inner;
        let to = q.to_ns.unwrap_or(u64::MAX);
        let from = match (q.from_ns, q.latest_only) {
            (Some(f), _) => f,
            (None, true) if to != u64::MAX => to.saturating_sub(LATEST_LOOKBACK_NS),
            (None, _) => 0,
        }
        .max(i.cutoff());
        let mut c = vec![
            format!("time_ns >= {from}"),
            format!("day >= {}", date_of(from)),
        ];
        if to != u64::MAX {
            c.push(format!("time_ns < {to}"));
        }
        if let Some(s) = &q.service {
            c.push(format!("service = {}", lit(s)));
        }
        if let Some(n) = &q.name {
            c.push(format!("name = {}", lit(n)));
        }
        // The `instance` and `host` columns of schema migration 2; series
        // are told apart by them, as in the embedded store.
        if let Some(x) = &q.instance {
            c.push(format!("instance = {}", lit(x)));
        }
        let b = i.select(&format!(
            "SELECT service, instance, host, name, attributes, unit, kind, time_ns, value, count \
             FROM metrics WHERE {} ORDER BY service, instance, host, name, attributes, time_ns",
            c.join(" AND ")
        ))?;
        let mut out: Vec<SeriesJson> = Vec::new();
        read_all(&b, |r| {
            let (service, instance, host) = (r.string()?, r.string()?, r.string()?);
            let (name, attributes) = (r.string()?, r.string()?);
            let unit = r.string()?;
            let kind = MetricKind::from_code(i32::from(r.u8()?))
                .ok_or_else(|| ChError::Decode("metrics.kind: unknown code".into()))?;
            let point = (r.u64()? / NS_PER_MS, r.f64()?, r.u64()?);
            match out.last_mut() {
                Some(s)
                    if s.service == service
                        && s.instance == instance
                        && s.host == host
                        && s.name == name
                        && s.attributes == attributes =>
                {
                    s.points.push(point)
                }
                _ => out.push(SeriesJson {
                    service,
                    name,
                    attributes,
                    unit,
                    kind,
                    points: vec![point],
                    instance,
                    host,
                }),
            }
            Ok(())
        })?;
        if q.latest_only {
            for s in &mut out {
                s.points = s.points.pop().into_iter().collect();
            }
        }
        Ok(out)
    }

    fn instances(&self, service: Option<&str>) -> StorageResult<Vec<InstanceJson>> {
        let i = &self.inner;
        let only = service.map_or(String::new(), |s| format!("AND service = {}", lit(s)));
        let b = i.select(&format!(
            "SELECT service, instance, argMaxIf(host, end_ns, host != ''), \
             argMaxIf(pid, end_ns, has_pid = 1), max(has_pid), min(end_ns), max(end_ns), \
             count(), sum(error), sum(tree_omitted) FROM transactions \
             WHERE instance IS NOT NULL AND instance != '' AND end_ns >= {} {only} \
             GROUP BY service, instance",
            i.cutoff()
        ))?;
        let mut out = read_all(&b, |r| {
            let service = r.string()?;
            let instance = r.opt_string()?.unwrap_or_default();
            let host = Some(r.string()?).filter(|h| !h.is_empty());
            let (pid, has_pid) = (r.i64()?, r.u8()?);
            Ok(InstanceJson {
                service,
                instance,
                host,
                pid: (has_pid == 1).then_some(pid),
                first_seen_ms: r.u64()? / NS_PER_MS,
                last_seen_ms: r.u64()? / NS_PER_MS,
                transactions: r.u64()?,
                errors: r.u64()?,
                summaries: r.u64()?,
            })
        })?;
        crate::storage::sort_instances(&mut out);
        Ok(out)
    }

    fn report_active(&self, report: ActiveReport) -> StorageResult<()> {
        let i = &self.inner;
        let n = i.cfg.shards.len() as u64;
        let shard = (i.spare.fetch_add(1, Ordering::Relaxed) % n) as usize;
        let ins = ShardInserts {
            tables: vec![("active".into(), rows::encode_active(&report))],
        };
        if let Err((e, rest)) = i.send(shard, &ins) {
            i.mark(shard, Some(e.to_string()));
            i.spools[shard]
                .push(&rest, i.cfg.spool_max_bytes)
                .map_err(|e| match e {
                    SpoolError::Full => StorageError::Unavailable("buffer full".into()),
                    SpoolError::Io(e) => StorageError::Io(e),
                })?;
        }
        i.counters.records.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The latest report of every service received in the last day.
    fn active(&self) -> StorageResult<Vec<ActiveReport>> {
        let since = crate::time::now_ms().saturating_sub(86_400_000);
        self.active_between(since, u64::MAX)
    }

    fn active_at(&self, second: u64) -> StorageResult<Vec<ActiveReport>> {
        let to_ms = second.saturating_mul(1_000) + 999;
        let from_ms = second
            .saturating_mul(1_000)
            .saturating_sub(ACTIVE_IN_FORCE_MS);
        self.active_between(from_ms, to_ms)
    }

    /// Hides what ended before the retention age and, on every shard,
    /// removes the days wholly older than it: a server with table TTL
    /// does so itself (its TTL is set here when the age changed), older
    /// servers get their old day partitions dropped.
    fn apply_retention(&self, now_ms: u64) -> StorageResult<RetentionReport> {
        let i = &self.inner;
        let cutoff_ms = now_ms.saturating_sub(i.cfg.max_age.as_millis() as u64);
        let cutoff_ns = cutoff_ms.saturating_mul(NS_PER_MS);
        i.cutoff_ns.fetch_max(cutoff_ns, Ordering::Relaxed);
        let names: Vec<String> = schema::TABLES
            .iter()
            .map(|t| lit(&schema::local_name(&i.cfg, t.name)))
            .collect();
        let mut removed = 0;
        for (n, shard) in i.cfg.shards.iter().enumerate() {
            match i.ttl_in_force(n) {
                Ok(true) => continue,
                Ok(false) => {}
                // Down: its partitions go at a later pass.
                Err(ChError::Unreachable(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            let sql = format!(
                "SELECT DISTINCT table, partition FROM system.parts WHERE database = {} \
                 AND active AND table IN ({}) AND max_date < {} FORMAT RowBinary",
                lit(i.db()),
                names.join(", "),
                date_of(cutoff_ns)
            );
            let parts = match i.http.query(shard, None, &sql, &[]) {
                Ok(b) => read_all(&b, |r| Ok((r.string()?, r.string()?)))?,
                Err(ChError::Unreachable(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            for (table, partition) in parts {
                i.http.query(
                    shard,
                    None,
                    &format!(
                        "ALTER TABLE {}.{table} DROP PARTITION {}",
                        i.db(),
                        lit(&partition)
                    ),
                    &[],
                )?;
                removed += 1;
            }
        }
        Ok(RetentionReport {
            partitions_removed: removed,
        })
    }

    fn status(&self) -> Status {
        let i = &self.inner;
        let mut st = i.status().unwrap_or_else(|e| Status {
            segments: Vec::new(),
            store_bytes: 0,
            issues: vec![Issue {
                segment: "clickhouse".into(),
                offset: 0,
                problem: e.to_string(),
            }],
            index: IndexStats::default(),
            records_written: i.counters.records.load(Ordering::Relaxed),
        });
        for (n, spool) in i.spools.iter().enumerate() {
            st.segments.extend(spool.segments());
            let (replayed, damaged) = spool.counters();
            if damaged > 0 {
                st.issues.push(Issue {
                    segment: format!("buffer of shard {}", i.cfg.shards[n]),
                    offset: 0,
                    problem: format!("{damaged} damaged buffered batches skipped"),
                });
            }
            if !spool.is_empty() || replayed > 0 {
                st.issues.push(Issue {
                    segment: format!("buffer of shard {}", i.cfg.shards[n]),
                    offset: 0,
                    problem: if spool.is_empty() {
                        format!("buffer empty, {replayed} batches replayed")
                    } else {
                        format!(
                            "{} bytes waiting, {replayed} batches replayed",
                            spool.bytes()
                        )
                    },
                });
            }
        }
        for (n, why) in i.down.lock().iter() {
            st.issues.push(Issue {
                segment: format!("shard {}", i.cfg.shards[*n]),
                offset: 0,
                problem: format!("unreachable, answers miss its data: {why}"),
            });
        }
        let refused = i.counters.refused.load(Ordering::Relaxed);
        if refused > 0 {
            st.issues.push(Issue {
                segment: "clickhouse".into(),
                offset: 0,
                problem: format!("{refused} batches refused with 503 (buffer full)"),
            });
        }
        st
    }

    fn missing(&self) -> Vec<String> {
        let i = &self.inner;
        i.down
            .lock()
            .keys()
            .map(|n| format!("shard {} ({})", n + 1, i.cfg.shards[*n]))
            .collect()
    }
}

impl ClickHouseStorage {
    fn active_between(&self, from_ms: u64, to_ms: u64) -> StorageResult<Vec<ActiveReport>> {
        let i = &self.inner;
        let to = if to_ms == u64::MAX {
            String::new()
        } else {
            format!("AND received_ms <= {to_ms}")
        };
        let b = i.select(&format!(
            "SELECT argMax(report, received_ms) FROM active WHERE received_ms >= {from_ms} {to} \
             AND day >= {} GROUP BY service ORDER BY service",
            date_of(from_ms.saturating_mul(NS_PER_MS))
        ))?;
        Ok(read_all(&b, |r| {
            serde_json::from_slice(r.bytes()?)
                .map_err(|e| ChError::Decode(format!("active.report: {e}")))
        })?)
    }
}
