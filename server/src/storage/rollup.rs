//! Per-service, per-minute transaction rollups: what a report needs from a
//! day of transactions without reading each of them.
//!
//! A [`MinuteAgg`] holds, for one service and one UNIX minute (transactions
//! placed by end time, as everywhere), the transactions ended in each of
//! its 60 seconds and, per endpoint, the count, errors, total and largest
//! response time, the newest transaction's cursor, and the response-time
//! histogram the report keeps (microseconds, [`HIST_HIGH_US`] at most, 2
//! significant digits) as its non-empty buckets. Every part is mergeable
//! exactly (sums, maxima, bucket counts), so the rollups of several
//! segments that share a minute add up to what one pass over the rows
//! gives: [`crate::report`] merges them into the same figures.
//!
//! [`RollupBuilder`] makes them from rows. The embedded backend builds one
//! [`SegmentRollup`] per sealed segment when it seals it (a file next to
//! the segment's index, [`SUFFIX`], written with [`SegmentRollup::encode`])
//! and one from the rows of the hot segment when asked; a backend that
//! keeps none answers [`Storage::minute_rollup`](super::Storage::minute_rollup)
//! with `None` and the report reads the rows.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use hdrhistogram::Histogram;
use prost::Message;

use super::{TxnCursor, TxnRow};

/// Suffix of a sealed segment's rollup file (after the index file's name).
pub const SUFFIX: &str = ".rollup";
/// Largest response time the histograms keep apart, µs (a day; longer
/// ones count as a day).
pub const HIST_HIGH_US: u64 = 86_400_000_000;
/// Significant digits of the histograms.
pub const HIST_DIGITS: u8 = 2;
/// Nanoseconds per minute.
pub const NS_PER_MIN: u64 = 60_000_000_000;
/// First bytes of a rollup file (format version 1).
const MAGIC: &[u8; 8] = b"OSPRRU01";

/// The response-time histogram of reports and rollups: µs from 1 to
/// [`HIST_HIGH_US`], [`HIST_DIGITS`] significant digits (about 30 KiB).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_HIGH_US, HIST_DIGITS).expect("valid histogram bounds")
}

/// The value a histogram records for a response time of `elapsed_ns`: µs,
/// at most [`HIST_HIGH_US`].
pub fn hist_value(elapsed_ns: u64) -> u64 {
    (elapsed_ns / 1_000).min(HIST_HIGH_US)
}

/// One service's minute.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MinuteAgg {
    /// UNIX minute (UNIX second / 60).
    #[prost(uint64, tag = "1")]
    pub minute: u64,
    /// Transactions ended in each second of the minute (60 entries).
    #[prost(uint32, repeated, tag = "2")]
    pub per_second: Vec<u32>,
    /// Per endpoint, by name.
    #[prost(message, repeated, tag = "3")]
    pub endpoints: Vec<EndpointAgg>,
}

/// One endpoint's transactions in one minute.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EndpointAgg {
    /// Endpoint (root span name).
    #[prost(string, tag = "1")]
    pub endpoint: String,
    /// Transactions.
    #[prost(uint64, tag = "2")]
    pub count: u64,
    /// Of which failed.
    #[prost(uint64, tag = "3")]
    pub errors: u64,
    /// Sum of response times, ns: low 64 bits.
    #[prost(uint64, tag = "4")]
    pub total_ns_lo: u64,
    /// Sum of response times, ns: high 64 bits.
    #[prost(uint64, tag = "5")]
    pub total_ns_hi: u64,
    /// Largest response time, ns.
    #[prost(uint64, tag = "6")]
    pub max_ns: u64,
    /// End of the newest transaction (newest-first order), UNIX ns.
    #[prost(uint64, tag = "7")]
    pub newest_end_ns: u64,
    /// Sequence number of the newest transaction.
    #[prost(uint64, tag = "8")]
    pub newest_seq: u64,
    /// Non-empty histogram buckets: their values ([`hist_value`]s
    /// reduced to the bucket's highest equivalent), ascending, each as
    /// the difference from the previous one.
    #[prost(uint64, repeated, tag = "9")]
    pub hist_deltas: Vec<u64>,
    /// The counts of those buckets.
    #[prost(uint64, repeated, tag = "10")]
    pub hist_counts: Vec<u64>,
}

impl EndpointAgg {
    /// Sum of response times, ns.
    pub fn total_ns(&self) -> u128 {
        (u128::from(self.total_ns_hi) << 64) | u128::from(self.total_ns_lo)
    }

    /// The newest transaction's position in the newest-first order.
    pub fn newest(&self) -> TxnCursor {
        TxnCursor {
            end_ns: self.newest_end_ns,
            seq: self.newest_seq,
        }
    }

    /// The histogram buckets as `(value, count)`, ascending.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut value = 0u64;
        self.hist_deltas
            .iter()
            .zip(&self.hist_counts)
            .map(move |(d, c)| {
                value = value.saturating_add(*d);
                (value, *c)
            })
    }

    /// Adds the buckets to `h` (made by [`histogram`]).
    pub fn add_to(&self, h: &mut Histogram<u64>) {
        for (v, c) in self.buckets() {
            h.saturating_record_n(v, c);
        }
    }
}

/// One service's minutes, oldest first.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServiceMinutes {
    /// Service.
    #[prost(string, tag = "1")]
    pub service: String,
    /// Its minutes with transactions, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub minutes: Vec<MinuteAgg>,
}

/// The rollup of a set of rows (a segment): every service's minutes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SegmentRollup {
    /// By service name.
    #[prost(message, repeated, tag = "1")]
    pub services: Vec<ServiceMinutes>,
}

/// A rollup file that cannot be read back.
#[derive(Debug)]
pub struct RollupDecodeError(pub String);

impl std::fmt::Display for RollupDecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad rollup: {}", self.0)
    }
}

impl std::error::Error for RollupDecodeError {}

impl SegmentRollup {
    /// The file form: `MAGIC`, then the protobuf compressed with zstd.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let body = zstd::bulk::compress(&self.encode_to_vec(), 3).expect("zstd compresses");
        out.extend_from_slice(&(self.encoded_len() as u64).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Reads [`SegmentRollup::encode`]'s form back, checking what a
    /// report relies on (60 seconds a minute, as many counts as buckets).
    pub fn decode_file(bytes: &[u8]) -> Result<Self, RollupDecodeError> {
        let bad = |m: &str| RollupDecodeError(m.to_owned());
        let rest = bytes.strip_prefix(MAGIC).ok_or_else(|| bad("magic"))?;
        let (len, body) = rest.split_at_checked(8).ok_or_else(|| bad("length"))?;
        let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
        if len > 1 << 32 {
            return Err(bad("length"));
        }
        let raw = zstd::bulk::decompress(body, len as usize).map_err(|e| bad(&e.to_string()))?;
        let r = Self::decode(raw.as_slice()).map_err(|e| bad(&e.to_string()))?;
        for s in &r.services {
            for m in &s.minutes {
                if m.per_second.len() != 60 {
                    return Err(bad("seconds of a minute"));
                }
                for e in &m.endpoints {
                    if e.hist_deltas.len() != e.hist_counts.len() {
                        return Err(bad("histogram"));
                    }
                }
            }
        }
        Ok(r)
    }

    /// The minutes of `service` in `from_minute..to_minute`.
    pub fn minutes_of(
        &self,
        service: &str,
        from_minute: u64,
        to_minute: u64,
    ) -> impl Iterator<Item = &MinuteAgg> {
        self.services
            .iter()
            .filter(move |s| s.service == service)
            .flat_map(|s| s.minutes.iter())
            .filter(move |m| (from_minute..to_minute).contains(&m.minute))
    }
}

/// What one endpoint's minute holds while it is built.
#[derive(Default)]
struct EndpointBuild {
    count: u64,
    errors: u64,
    total_ns: u128,
    max_ns: u64,
    newest: Option<TxnCursor>,
    hist: HashMap<u64, u64>,
}

/// One service's minute while it is built: transactions per second, and
/// per endpoint.
type MinuteBuild = ([u32; 60], HashMap<Arc<str>, EndpointBuild>);

/// Makes a [`SegmentRollup`] from rows in any order.
pub struct RollupBuilder {
    /// To reduce a value to its bucket's highest equivalent.
    template: Histogram<u64>,
    minutes: HashMap<(Arc<str>, u64), MinuteBuild>,
}

impl Default for RollupBuilder {
    fn default() -> Self {
        Self {
            template: histogram(),
            minutes: HashMap::new(),
        }
    }
}

impl RollupBuilder {
    /// Counts `t`.
    pub fn add(&mut self, t: &TxnRow) {
        let end = t.end_ns();
        let minute = end / NS_PER_MIN;
        let (seconds, endpoints) = self
            .minutes
            .entry((Arc::clone(&t.service), minute))
            .or_insert_with(|| ([0; 60], HashMap::new()));
        let s = &mut seconds[((end % NS_PER_MIN) / 1_000_000_000) as usize];
        *s = s.saturating_add(1);
        let e = endpoints.entry(Arc::clone(&t.endpoint)).or_default();
        e.count += 1;
        e.errors += u64::from(t.error);
        e.total_ns += u128::from(t.elapsed_ns);
        e.max_ns = e.max_ns.max(t.elapsed_ns);
        let at = TxnCursor::of(t);
        e.newest = Some(e.newest.map_or(at, |n| n.max(at)));
        let bucket = self.template.highest_equivalent(hist_value(t.elapsed_ns));
        *e.hist.entry(bucket).or_default() += 1;
    }

    /// The rollup, services by name, minutes and endpoints ascending.
    pub fn finish(self) -> SegmentRollup {
        let mut services: BTreeMap<Arc<str>, Vec<MinuteAgg>> = BTreeMap::new();
        for ((service, minute), (seconds, endpoints)) in self.minutes {
            let mut eps: Vec<EndpointAgg> = endpoints
                .into_iter()
                .map(|(name, e)| {
                    let mut buckets: Vec<(u64, u64)> = e.hist.into_iter().collect();
                    buckets.sort_unstable();
                    let mut prev = 0;
                    let newest = e.newest.unwrap_or(TxnCursor { end_ns: 0, seq: 0 });
                    EndpointAgg {
                        endpoint: name.to_string(),
                        count: e.count,
                        errors: e.errors,
                        total_ns_lo: e.total_ns as u64,
                        total_ns_hi: (e.total_ns >> 64) as u64,
                        max_ns: e.max_ns,
                        newest_end_ns: newest.end_ns,
                        newest_seq: newest.seq,
                        hist_deltas: buckets
                            .iter()
                            .map(|(v, _)| {
                                let d = v - prev;
                                prev = *v;
                                d
                            })
                            .collect(),
                        hist_counts: buckets.iter().map(|(_, c)| *c).collect(),
                    }
                })
                .collect();
            eps.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
            services.entry(service).or_default().push(MinuteAgg {
                minute,
                per_second: seconds.to_vec(),
                endpoints: eps,
            });
        }
        SegmentRollup {
            services: services
                .into_iter()
                .map(|(service, mut minutes)| {
                    minutes.sort_by_key(|m| m.minute);
                    ServiceMinutes {
                        service: service.to_string(),
                        minutes,
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osprey::model::{SpanId, TraceId};

    fn row(seq: u64, endpoint: &str, end_ns: u64, elapsed_ns: u64, error: bool) -> TxnRow {
        TxnRow {
            seq,
            trace_id: TraceId([seq as u8; 16]),
            span_id: SpanId([seq as u8; 8]),
            parent: None,
            service: Arc::from("shop"),
            endpoint: Arc::from(endpoint),
            start_ns: end_ns - elapsed_ns,
            elapsed_ns,
            error,
            client_ip: None,
            user: None,
            http_status: 200,
            thread: 0,
            instance: None,
            tree_omitted: false,
        }
    }

    #[test]
    fn a_rollup_survives_its_file_form_and_merges_to_one_histogram() {
        let mut b = RollupBuilder::default();
        let mut whole = histogram();
        let base = 1_000 * NS_PER_MIN;
        for i in 0..500u64 {
            let elapsed = 1_000_000 + i * i * 7_919;
            let end = base + i * 300_000_000; // 2.5 minutes
            b.add(&row(
                i,
                ["/a", "/b"][(i % 2) as usize],
                end,
                elapsed,
                i.is_multiple_of(10),
            ));
            whole.record(hist_value(elapsed)).unwrap();
        }
        let r = b.finish();
        let back = SegmentRollup::decode_file(&r.encode()).expect("decodes");
        assert_eq!(back, r);
        let mins: Vec<_> = back.minutes_of("shop", 0, u64::MAX).collect();
        assert_eq!(mins.len(), 3);
        let mut merged = histogram();
        let (mut count, mut errors, mut per_second) = (0, 0, 0);
        for m in &mins {
            per_second += m.per_second.iter().map(|c| u64::from(*c)).sum::<u64>();
            for e in &m.endpoints {
                e.add_to(&mut merged);
                count += e.count;
                errors += e.errors;
            }
        }
        assert_eq!((count, errors, per_second), (500, 50, 500));
        for q in [0.5, 0.95, 0.99, 1.0] {
            assert_eq!(merged.value_at_quantile(q), whole.value_at_quantile(q));
        }
        assert_eq!(back.minutes_of("shop", 1_001, 1_002).count(), 1);
        assert_eq!(back.minutes_of("other", 0, u64::MAX).count(), 0);
    }

    #[test]
    fn damaged_files_are_refused() {
        let mut b = RollupBuilder::default();
        b.add(&row(1, "/a", 5 * NS_PER_MIN, 1_000_000, false));
        let bytes = b.finish().encode();
        assert!(SegmentRollup::decode_file(&bytes[..bytes.len() - 3]).is_err());
        assert!(SegmentRollup::decode_file(b"OSPRRU00").is_err());
        let mut flipped = bytes.clone();
        flipped[0] ^= 1;
        assert!(SegmentRollup::decode_file(&flipped).is_err());
    }
}
