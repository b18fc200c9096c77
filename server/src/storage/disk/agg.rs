//! Pre-aggregated statistics the disk engine persists: per-second
//! transaction statistics ([`SecondAgg`], whose distinct visitors are a
//! [`Visitors`] set) and server-map edge statistics ([`EdgeAgg`], stored as
//! [`EdgeRow`]s).
//!
//! Every aggregate is *mergeable*: the same second or the same edge may be
//! written by several segments, and merging the parts gives what one
//! aggregate fed every observation holds — exactly for counts, sums,
//! maxima, histograms and visitor sets of up to [`EXACT_VISITORS_MAX`]
//! members; within the sketches' error beyond that (a HyperLogLog of
//! [`HLL_REGISTERS`] registers for visitors, about 6.5 % standard error; a
//! log-bucketed duration sketch for edges, at most 1/128 relative error).
//! Merging is commutative and associative.
//!
//! Each aggregate has a protobuf form ([`SecondAggProto`], [`EdgeAggProto`],
//! [`EdgeRowProto`]) that can gain fields later; `decode` checks every
//! invariant, so damaged bytes give an [`AggDecodeError`], never a panic or
//! a wrong answer.
//!
//! [`window_stats`] turns the aggregates of a range of seconds into the
//! [`SecondStats`] the query API answers, with the same numbers the
//! in-memory index computes from transactions.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use osprey::model::{HISTOGRAM_BOUNDS_MS, SecondAggregate};
use prost::Message;

use crate::storage::SecondStats;

/// Buckets of [`SecondAgg::histogram`]: one per bound of
/// [`HISTOGRAM_BOUNDS_MS`] (upper bounds in ms, inclusive) and an overflow
/// bucket.
pub const HISTOGRAM_BUCKETS: usize = HISTOGRAM_BOUNDS_MS.len() + 1;

/// Most members [`Visitors::Exact`] holds; one more turns it into a sketch.
pub const EXACT_VISITORS_MAX: usize = 64;

/// Registers of [`Visitors::Sketch`] (one byte each).
pub const HLL_REGISTERS: usize = 256;

/// Largest register value: the rank of the 56 hash bits left after the
/// register index is at most 57.
pub const HLL_RANK_MAX: u8 = 57;

// ---------------------------------------------------------------------------
// Visitor hashing and HyperLogLog registers.

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64 bits.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
    })
}

/// MurmurHash3's 64-bit finalizer: every input bit flips about half of the
/// output bits (FNV-1a alone mixes the high bits poorly for short strings,
/// and the sketch takes its register index from them).
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The 64-bit hash a visitor (user id, else client IP) is stored as:
/// FNV-1a 64 over its UTF-8 bytes, then MurmurHash3's `fmix64`.
///
/// Part of the stored format: it depends on nothing but the bytes (not on
/// the Rust version, the platform or a seed) and must never change.
pub fn visitor_hash(visitor: &str) -> u64 {
    fmix64(fnv1a64(visitor.as_bytes()))
}

/// The register a hash updates (its top 8 bits) and the value it offers:
/// the position of the first 1 among the remaining 56 bits, from 1, or
/// [`HLL_RANK_MAX`] when they are all 0.
fn hll_slot(hash: u64) -> (usize, u8) {
    let index = (hash >> 56) as usize;
    let rest = hash << 8;
    let rank = if rest == 0 {
        HLL_RANK_MAX
    } else {
        rest.leading_zeros() as u8 + 1
    };
    (index, rank)
}

fn hll_observe(registers: &mut [u8; HLL_REGISTERS], hash: u64) {
    let (i, rank) = hll_slot(hash);
    registers[i] = registers[i].max(rank);
}

/// The HyperLogLog estimate of the registers (Flajolet et al. 2007), with
/// linear counting while it is below 2.5 × the register count and a
/// register is still 0.
fn hll_estimate(registers: impl IntoIterator<Item = u8>) -> u64 {
    let m = HLL_REGISTERS as f64;
    let mut sum = 0.0_f64;
    let mut zeros = 0_u32;
    for r in registers {
        sum += 0.5_f64.powi(i32::from(r));
        zeros += u32::from(r == 0);
    }
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let raw = alpha * m * m / sum;
    let estimate = if raw <= 2.5 * m && zeros > 0 {
        m * (m / f64::from(zeros)).ln()
    } else {
        raw
    };
    estimate.round() as u64
}

/// The union of two sorted, deduplicated lists, sorted and deduplicated.
fn union_sorted(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        out.push(x.min(y));
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Distinct visitors of a second: exact while small, a HyperLogLog sketch
/// beyond [`EXACT_VISITORS_MAX`]. Members are [`visitor_hash`]es.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visitors {
    /// The hashes, sorted ascending, without duplicates, at most
    /// [`EXACT_VISITORS_MAX`] of them.
    Exact(Vec<u64>),
    /// HyperLogLog registers: register `hash >> 56` holds the largest rank
    /// (see [`HLL_RANK_MAX`]) of the hashes added.
    Sketch(Box<[u8; HLL_REGISTERS]>),
}

impl Default for Visitors {
    fn default() -> Self {
        Self::new()
    }
}

impl Visitors {
    /// An empty, exact set.
    pub fn new() -> Self {
        Self::Exact(Vec::new())
    }

    /// Adds a visitor (user id, else client IP).
    pub fn insert(&mut self, visitor: &str) {
        self.insert_hash(visitor_hash(visitor));
    }

    /// Adds a visitor by its [`visitor_hash`].
    pub fn insert_hash(&mut self, hash: u64) {
        match self {
            Self::Exact(set) => {
                if let Err(at) = set.binary_search(&hash) {
                    set.insert(at, hash);
                    if set.len() > EXACT_VISITORS_MAX {
                        let sketch = Self::sketch_of(set);
                        *self = sketch;
                    }
                }
            }
            Self::Sketch(registers) => hll_observe(registers, hash),
        }
    }

    /// Set union: stays exact while the union has at most
    /// [`EXACT_VISITORS_MAX`] members, else a sketch (register maximum).
    pub fn merge(&mut self, other: &Visitors) {
        match (&mut *self, other) {
            (Self::Exact(a), Self::Exact(b)) => {
                if b.is_empty() {
                    return;
                }
                let union = union_sorted(a, b);
                *self = if union.len() > EXACT_VISITORS_MAX {
                    Self::sketch_of(&union)
                } else {
                    Self::Exact(union)
                };
            }
            (Self::Sketch(registers), Self::Exact(b)) => {
                for &h in b {
                    hll_observe(registers, h);
                }
            }
            (Self::Exact(a), Self::Sketch(theirs)) => {
                let mut registers = theirs.clone();
                for &h in a.iter() {
                    hll_observe(&mut registers, h);
                }
                *self = Self::Sketch(registers);
            }
            (Self::Sketch(registers), Self::Sketch(theirs)) => {
                for (r, t) in registers.iter_mut().zip(theirs.iter()) {
                    *r = (*r).max(*t);
                }
            }
        }
    }

    /// Distinct visitors: exact for an exact set, else the HyperLogLog
    /// estimate.
    pub fn estimate(&self) -> u64 {
        match self {
            Self::Exact(set) => set.len() as u64,
            Self::Sketch(registers) => hll_estimate(registers.iter().copied()),
        }
    }

    /// True for [`Visitors::Exact`].
    pub fn is_exact(&self) -> bool {
        matches!(self, Self::Exact(_))
    }

    /// The HyperLogLog registers of the set (an exact set's members
    /// hashed in): the form in which any two sets merge.
    pub fn registers(&self) -> [u8; HLL_REGISTERS] {
        match self {
            Self::Exact(set) => {
                let mut registers = [0; HLL_REGISTERS];
                for &h in set {
                    hll_observe(&mut registers, h);
                }
                registers
            }
            Self::Sketch(registers) => **registers,
        }
    }

    fn sketch_of(hashes: &[u64]) -> Self {
        let mut registers = Box::new([0; HLL_REGISTERS]);
        for &h in hashes {
            hll_observe(&mut registers, h);
        }
        Self::Sketch(registers)
    }

    /// Calls `f(register, value)` for every non-zero contribution of the
    /// set to the registers (one per member of an exact set).
    fn for_each_slot(&self, mut f: impl FnMut(usize, u8)) {
        match self {
            Self::Exact(set) => {
                for &h in set {
                    let (i, rank) = hll_slot(h);
                    f(i, rank);
                }
            }
            Self::Sketch(registers) => {
                for (i, &r) in registers.iter().enumerate() {
                    if r > 0 {
                        f(i, r);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Per-second statistics.

/// The statistics of the transactions that ended in one second, as one
/// segment holds them; parts of the same second [`merge`](Self::merge).
#[derive(Clone, Debug, PartialEq)]
pub struct SecondAgg {
    /// UNIX second (transactions are placed by end time).
    pub second: u64,
    /// Transactions.
    pub count: u64,
    /// Of which failed.
    pub errors: u64,
    /// Sum of elapsed ns (saturating).
    pub elapsed_sum_ns: u64,
    /// Largest elapsed ns.
    pub elapsed_max_ns: u64,
    /// [`HISTOGRAM_BUCKETS`] counts: by elapsed time against
    /// [`HISTOGRAM_BOUNDS_MS`] (inclusive upper bounds), then overflow.
    pub histogram: Vec<u64>,
    /// Distinct visitors (user id, else client IP).
    pub visitors: Visitors,
}

impl SecondAgg {
    /// An empty aggregate of `second`.
    pub fn new(second: u64) -> Self {
        Self {
            second,
            count: 0,
            errors: 0,
            elapsed_sum_ns: 0,
            elapsed_max_ns: 0,
            histogram: vec![0; HISTOGRAM_BUCKETS],
            visitors: Visitors::new(),
        }
    }

    /// Adds one transaction; `visitor` is its user id, else its client IP
    /// (none: it counts for no visitor).
    pub fn add(&mut self, elapsed_ns: u64, error: bool, visitor: Option<&str>) {
        // Counting and bucketing are `SecondAggregate::add`'s, so that the
        // answers match the in-memory index's: lend it the fields (no
        // allocation) and take them back.
        self.histogram.resize(HISTOGRAM_BUCKETS, 0);
        let mut core = SecondAggregate {
            unix_second: self.second,
            count: self.count,
            errors: self.errors,
            elapsed_sum_ns: self.elapsed_sum_ns,
            elapsed_max_ns: self.elapsed_max_ns,
            histogram: std::mem::take(&mut self.histogram),
        };
        core.add(elapsed_ns, error);
        self.count = core.count;
        self.errors = core.errors;
        self.elapsed_sum_ns = core.elapsed_sum_ns;
        self.elapsed_max_ns = core.elapsed_max_ns;
        self.histogram = core.histogram;
        if let Some(v) = visitor {
            self.visitors.insert(v);
        }
    }

    /// Adds `other`'s transactions (another part of the same second;
    /// `other.second` is not checked). Counts and sums saturate.
    pub fn merge(&mut self, other: &SecondAgg) {
        self.count = self.count.saturating_add(other.count);
        self.errors = self.errors.saturating_add(other.errors);
        self.elapsed_sum_ns = self.elapsed_sum_ns.saturating_add(other.elapsed_sum_ns);
        self.elapsed_max_ns = self.elapsed_max_ns.max(other.elapsed_max_ns);
        if self.histogram.len() < other.histogram.len() {
            self.histogram.resize(other.histogram.len(), 0);
        }
        for (a, b) in self.histogram.iter_mut().zip(&other.histogram) {
            *a = a.saturating_add(*b);
        }
        self.visitors.merge(&other.visitors);
    }

    /// The answer for this second, with `concurrent_users` counted by the
    /// caller over its window.
    fn stats(&self, concurrent_users: u64) -> SecondStats {
        SecondStats {
            second: self.second,
            count: self.count,
            errors: self.errors,
            elapsed_avg_ms: if self.count == 0 {
                0.0
            } else {
                self.elapsed_sum_ns as f64 / self.count as f64 / 1e6
            },
            elapsed_max_ms: self.elapsed_max_ns as f64 / 1e6,
            histogram: self.histogram.clone(),
            concurrent_users,
        }
    }
}

/// Live visitors of a sliding window of exact sets: how many of the
/// window's seconds hold each hash.
#[derive(Default)]
struct ExactWindow {
    live: HashMap<u64, u32>,
}

impl ExactWindow {
    fn enter(&mut self, hashes: &[u64]) {
        for &h in hashes {
            *self.live.entry(h).or_default() += 1;
        }
    }

    fn leave(&mut self, hashes: &[u64]) {
        for h in hashes {
            if let Some(n) = self.live.get_mut(h) {
                *n -= 1;
                if *n == 0 {
                    self.live.remove(h);
                }
            }
        }
    }
}

/// The register-wise maximum of a sliding window of sketches: per
/// register, a deque of (second, value) with values strictly decreasing
/// from the front, so the front is the window's maximum (amortised O(1)
/// per register and second).
struct RegisterWindow {
    deques: Vec<VecDeque<(u64, u8)>>,
}

impl RegisterWindow {
    fn new() -> Self {
        Self {
            deques: vec![VecDeque::new(); HLL_REGISTERS],
        }
    }

    fn enter(&mut self, second: u64, visitors: &Visitors) {
        visitors.for_each_slot(|i, value| {
            let d = &mut self.deques[i];
            while d.back().is_some_and(|&(_, v)| v <= value) {
                d.pop_back();
            }
            d.push_back((second, value));
        });
    }

    /// Drops what entered at or before `second`.
    fn leave_through(&mut self, second: u64) {
        for d in &mut self.deques {
            while d.front().is_some_and(|&(s, _)| s <= second) {
                d.pop_front();
            }
        }
    }

    fn estimate(&self) -> u64 {
        hll_estimate(self.deques.iter().map(|d| d.front().map_or(0, |&(_, v)| v)))
    }
}

/// The answers for seconds `from_s..=to_s` (one [`SecondStats`] per second,
/// empty ones included), as
/// [`Storage::seconds`](crate::storage::Storage::seconds) gives them.
///
/// `aggs` must be sorted by second; it should hold at most one aggregate
/// per second (several of one second are merged here, at a cost) and may
/// hold seconds outside the range (ignored). Seconds it lacks are empty.
/// `concurrent_users` of a second counts the distinct visitors of the
/// `window_s` seconds ending with it (`window_s` 0 counts as 1), so `aggs`
/// should cover `from_s - window_s + 1 ..= to_s`.
///
/// For exact data the answers equal the in-memory index's. Visitor counts
/// are exact for every window that holds no sketch, whatever the size of
/// the union (a sliding count per hash), else the HyperLogLog estimate of
/// the window's register-wise maximum. Cost: O(seconds + visitor hashes),
/// plus O(256) per second when any sketch is in the range.
pub fn window_stats(aggs: &[SecondAgg], from_s: u64, to_s: u64, window_s: u64) -> Vec<SecondStats> {
    if to_s < from_s {
        return Vec::new();
    }
    debug_assert!(
        aggs.windows(2).all(|w| w[0].second <= w[1].second),
        "aggregates sorted by second"
    );
    let window = window_s.max(1);
    let lo = from_s.saturating_sub(window - 1);
    let start = aggs.partition_point(|a| a.second < lo);
    let end = aggs.partition_point(|a| a.second <= to_s);
    let aggs = &aggs[start..end];

    let mut exact = ExactWindow::default();
    let mut registers = aggs
        .iter()
        .any(|a| !a.visitors.is_exact())
        .then(RegisterWindow::new);
    let mut sketches_live = 0_usize;
    let (mut head, mut tail) = (0, 0);
    let mut out = Vec::with_capacity(usize::try_from(to_s - from_s + 1).unwrap_or(0));
    for sec in lo..=to_s {
        let first = head;
        while head < aggs.len() && aggs[head].second == sec {
            let a = &aggs[head];
            match &a.visitors {
                Visitors::Exact(hashes) => exact.enter(hashes),
                Visitors::Sketch(_) => sketches_live += 1,
            }
            if let Some(r) = registers.as_mut() {
                r.enter(sec, &a.visitors);
            }
            head += 1;
        }
        if let Some(gone) = sec.checked_sub(window) {
            while tail < head && aggs[tail].second <= gone {
                match &aggs[tail].visitors {
                    Visitors::Exact(hashes) => exact.leave(hashes),
                    Visitors::Sketch(_) => sketches_live -= 1,
                }
                tail += 1;
            }
            if let Some(r) = registers.as_mut() {
                r.leave_through(gone);
            }
        }
        if sec < from_s {
            continue;
        }
        let users = match &registers {
            Some(r) if sketches_live > 0 => r.estimate(),
            _ => exact.live.len() as u64,
        };
        out.push(match &aggs[first..head] {
            [] => SecondAgg::new(sec).stats(users),
            [one] => one.stats(users),
            [one, rest @ ..] => {
                let mut merged = one.clone();
                for r in rest {
                    merged.merge(r);
                }
                merged.stats(users)
            }
        });
    }
    out
}

// ---------------------------------------------------------------------------
// Edge statistics.

/// Sub-buckets per power of two: a bucket spans at most 1/64 (1.56 %) of
/// its lowest value.
const SUB_BUCKET_BITS: u32 = 6;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;

/// The bucket of a duration: values below 128 ns have one bucket each;
/// above, each power of two is cut into 64 equal sub-buckets. Integer only,
/// so the same value lands in the same bucket on every machine.
const fn bucket_of(ns: u64) -> u32 {
    if ns < 2 * SUB_BUCKETS {
        return ns as u32;
    }
    let exp = 63 - ns.leading_zeros();
    let sub = (ns >> (exp - SUB_BUCKET_BITS)) & (SUB_BUCKETS - 1);
    ((exp - SUB_BUCKET_BITS + 1) as u64 * SUB_BUCKETS + sub) as u32
}

/// The largest bucket index (that of `u64::MAX`).
const MAX_BUCKET: u32 = bucket_of(u64::MAX);

/// The lowest and highest duration of bucket `idx` (at most
/// [`MAX_BUCKET`]).
fn bucket_bounds(idx: u32) -> (u64, u64) {
    let idx = u64::from(idx);
    if idx < 2 * SUB_BUCKETS {
        return (idx, idx);
    }
    let exp = idx / SUB_BUCKETS + u64::from(SUB_BUCKET_BITS) - 1;
    let shift = exp - u64::from(SUB_BUCKET_BITS);
    let low = (SUB_BUCKETS + idx % SUB_BUCKETS) << shift;
    (low, low + ((1 << shift) - 1))
}

/// Statistics of the calls of one server-map edge (in one second, as one
/// segment holds them); parts of the same edge [`merge`](Self::merge).
/// Call durations are kept in a sparse log-bucketed sketch: quantiles are
/// within 1/128 of the nearest-rank value, the smallest and largest exact.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EdgeAgg {
    /// Calls.
    pub count: u64,
    /// Failed calls.
    pub errors: u64,
    /// Shortest call, ns (0 when none).
    pub min_ns: u64,
    /// Longest call, ns (0 when none).
    pub max_ns: u64,
    /// (bucket, calls) for every bucket holding calls, by bucket.
    buckets: Vec<(u32, u64)>,
}

impl EdgeAgg {
    /// No calls.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one call.
    pub fn add(&mut self, elapsed_ns: u64, error: bool) {
        if self.buckets.is_empty() {
            self.min_ns = elapsed_ns;
            self.max_ns = elapsed_ns;
        } else {
            self.min_ns = self.min_ns.min(elapsed_ns);
            self.max_ns = self.max_ns.max(elapsed_ns);
        }
        self.count = self.count.saturating_add(1);
        self.errors = self.errors.saturating_add(u64::from(error));
        let b = bucket_of(elapsed_ns);
        match self.buckets.binary_search_by_key(&b, |&(k, _)| k) {
            Ok(i) => self.buckets[i].1 = self.buckets[i].1.saturating_add(1),
            Err(i) => self.buckets.insert(i, (b, 1)),
        }
    }

    /// Adds `other`'s calls (another part of the same edge). Counts
    /// saturate.
    pub fn merge(&mut self, other: &EdgeAgg) {
        self.count = self.count.saturating_add(other.count);
        self.errors = self.errors.saturating_add(other.errors);
        if other.buckets.is_empty() {
            return;
        }
        if self.buckets.is_empty() {
            self.min_ns = other.min_ns;
            self.max_ns = other.max_ns;
            self.buckets = other.buckets.clone();
            return;
        }
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        let (a, b) = (&self.buckets, &other.buckets);
        let mut merged = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            let ((ka, na), (kb, nb)) = (a[i], b[j]);
            if ka == kb {
                merged.push((ka, na.saturating_add(nb)));
                i += 1;
                j += 1;
            } else if ka < kb {
                merged.push(a[i]);
                i += 1;
            } else {
                merged.push(b[j]);
                j += 1;
            }
        }
        merged.extend_from_slice(&a[i..]);
        merged.extend_from_slice(&b[j..]);
        self.buckets = merged;
    }

    /// The `q` quantile of the call durations in ms, with the server map's
    /// nearest-rank rule (the value of rank `ceil(q·n)`, clamped to
    /// `1..=n`): the middle of that value's bucket, clamped to
    /// `[min_ns, max_ns]`; rank 1 gives `min_ns` and rank n `max_ns`
    /// exactly. 0 when there are no calls.
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self
            .buckets
            .iter()
            .fold(0_u64, |n, &(_, c)| n.saturating_add(c));
        if total == 0 {
            return 0.0;
        }
        // `as` saturates: NaN and negatives give 0, which the clamp lifts to 1.
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let ns = if rank == total {
            self.max_ns
        } else if rank == 1 {
            self.min_ns
        } else {
            let mut seen = 0_u64;
            let bucket = self
                .buckets
                .iter()
                .find(|&&(_, c)| {
                    seen = seen.saturating_add(c);
                    seen >= rank
                })
                .map_or(MAX_BUCKET, |&(b, _)| b);
            let (low, high) = bucket_bounds(bucket);
            (low + (high - low) / 2).max(self.min_ns).min(self.max_ns)
        };
        ns as f64 / 1e6
    }
}

/// One stored server-map row: the calls from `caller` to `callee` ending in
/// `second`. Names and kinds are ids of the engine's dictionaries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EdgeRow {
    /// UNIX second the calls ended in.
    pub second: u64,
    /// Calling service id.
    pub caller: u32,
    /// Callee (service, database or host) id.
    pub callee: u32,
    /// What the callee is (the engine's code of a
    /// [`TargetKind`](crate::storage::TargetKind)).
    pub kind: u32,
    /// The calls.
    pub agg: EdgeAgg,
}

// ---------------------------------------------------------------------------
// Protobuf forms.

/// The stored form of a [`SecondAgg`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct SecondAggProto {
    /// [`SecondAgg::second`].
    #[prost(uint64, tag = "1")]
    pub second: u64,
    /// [`SecondAgg::count`].
    #[prost(uint64, tag = "2")]
    pub count: u64,
    /// [`SecondAgg::errors`].
    #[prost(uint64, tag = "3")]
    pub errors: u64,
    /// [`SecondAgg::elapsed_sum_ns`].
    #[prost(uint64, tag = "4")]
    pub elapsed_sum_ns: u64,
    /// [`SecondAgg::elapsed_max_ns`].
    #[prost(uint64, tag = "5")]
    pub elapsed_max_ns: u64,
    /// [`SecondAgg::histogram`] ([`HISTOGRAM_BUCKETS`] values, packed).
    #[prost(uint64, repeated, tag = "6")]
    pub histogram: Vec<u64>,
    /// Members of an exact visitor set, ascending (empty for a sketch).
    #[prost(fixed64, repeated, tag = "7")]
    pub visitors_exact: Vec<u64>,
    /// The [`HLL_REGISTERS`] registers of a visitor sketch (empty for an
    /// exact set).
    #[prost(bytes = "vec", tag = "8")]
    pub visitors_sketch: Vec<u8>,
}

/// The stored form of an [`EdgeAgg`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct EdgeAggProto {
    /// [`EdgeAgg::count`].
    #[prost(uint64, tag = "1")]
    pub count: u64,
    /// [`EdgeAgg::errors`].
    #[prost(uint64, tag = "2")]
    pub errors: u64,
    /// [`EdgeAgg::min_ns`].
    #[prost(uint64, tag = "3")]
    pub min_ns: u64,
    /// [`EdgeAgg::max_ns`].
    #[prost(uint64, tag = "4")]
    pub max_ns: u64,
    /// Non-empty buckets, ascending, as gaps: the first index, then the
    /// difference to the previous one.
    #[prost(uint32, repeated, tag = "5")]
    pub bucket_gaps: Vec<u32>,
    /// Calls in each of those buckets.
    #[prost(uint64, repeated, tag = "6")]
    pub bucket_counts: Vec<u64>,
}

/// The stored form of an [`EdgeRow`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct EdgeRowProto {
    /// [`EdgeRow::second`].
    #[prost(uint64, tag = "1")]
    pub second: u64,
    /// [`EdgeRow::caller`].
    #[prost(uint32, tag = "2")]
    pub caller: u32,
    /// [`EdgeRow::callee`].
    #[prost(uint32, tag = "3")]
    pub callee: u32,
    /// [`EdgeRow::kind`].
    #[prost(uint32, tag = "4")]
    pub kind: u32,
    /// [`EdgeRow::agg`] (required).
    #[prost(message, optional, tag = "5")]
    pub agg: Option<EdgeAggProto>,
}

/// Why stored bytes are not an aggregate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AggDecodeError {
    /// Not a protobuf message of the expected shape.
    Protobuf(prost::DecodeError),
    /// A well-formed message whose content breaks the named invariant.
    Invalid(&'static str),
}

impl fmt::Display for AggDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protobuf(e) => write!(f, "aggregate is not valid protobuf: {e}"),
            Self::Invalid(what) => write!(f, "invalid aggregate: {what}"),
        }
    }
}

impl std::error::Error for AggDecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Protobuf(e) => Some(e),
            Self::Invalid(_) => None,
        }
    }
}

impl From<prost::DecodeError> for AggDecodeError {
    fn from(e: prost::DecodeError) -> Self {
        Self::Protobuf(e)
    }
}

/// `Err(Invalid(what))` unless `ok`.
fn check(ok: bool, what: &'static str) -> Result<(), AggDecodeError> {
    if ok {
        Ok(())
    } else {
        Err(AggDecodeError::Invalid(what))
    }
}

impl SecondAgg {
    /// The protobuf form.
    pub fn to_proto(&self) -> SecondAggProto {
        let (visitors_exact, visitors_sketch) = match &self.visitors {
            Visitors::Exact(set) => (set.clone(), Vec::new()),
            Visitors::Sketch(registers) => (Vec::new(), registers.to_vec()),
        };
        SecondAggProto {
            second: self.second,
            count: self.count,
            errors: self.errors,
            elapsed_sum_ns: self.elapsed_sum_ns,
            elapsed_max_ns: self.elapsed_max_ns,
            histogram: self.histogram.clone(),
            visitors_exact,
            visitors_sketch,
        }
    }

    /// The aggregate of a protobuf form, checked: the histogram has
    /// [`HISTOGRAM_BUCKETS`] counts adding up to `count`, errors and
    /// visitors do not outnumber transactions, the maximum fits the sum,
    /// an exact set is ascending and small, a sketch has
    /// [`HLL_REGISTERS`] registers of at most [`HLL_RANK_MAX`].
    pub fn from_proto(p: SecondAggProto) -> Result<Self, AggDecodeError> {
        check(
            p.histogram.len() == HISTOGRAM_BUCKETS,
            "histogram has the wrong number of buckets",
        )?;
        let in_buckets = p.histogram.iter().try_fold(0_u64, |n, &c| n.checked_add(c));
        check(
            in_buckets == Some(p.count),
            "histogram does not add up to count",
        )?;
        check(p.errors <= p.count, "more errors than transactions")?;
        check(
            p.elapsed_max_ns <= p.elapsed_sum_ns
                && p.elapsed_sum_ns <= p.count.saturating_mul(p.elapsed_max_ns),
            "elapsed sum and maximum disagree",
        )?;
        let visitors = match (p.visitors_exact.is_empty(), p.visitors_sketch.is_empty()) {
            (_, true) => {
                let set = p.visitors_exact;
                check(
                    set.len() <= EXACT_VISITORS_MAX,
                    "exact visitor set too large",
                )?;
                check(
                    set.windows(2).all(|w| w[0] < w[1]),
                    "exact visitor set not strictly ascending",
                )?;
                check(
                    set.len() as u64 <= p.count,
                    "more visitors than transactions",
                )?;
                Visitors::Exact(set)
            }
            (true, false) => {
                let registers: Box<[u8; HLL_REGISTERS]> = p
                    .visitors_sketch
                    .into_boxed_slice()
                    .try_into()
                    .map_err(|_| AggDecodeError::Invalid("visitor sketch of the wrong size"))?;
                check(
                    registers.iter().all(|&r| r <= HLL_RANK_MAX),
                    "visitor sketch register out of range",
                )?;
                check(
                    p.count > 0 || registers.iter().all(|&r| r == 0),
                    "visitors without transactions",
                )?;
                Visitors::Sketch(registers)
            }
            (false, false) => {
                return Err(AggDecodeError::Invalid("visitors both exact and sketched"));
            }
        };
        Ok(Self {
            second: p.second,
            count: p.count,
            errors: p.errors,
            elapsed_sum_ns: p.elapsed_sum_ns,
            elapsed_max_ns: p.elapsed_max_ns,
            histogram: p.histogram,
            visitors,
        })
    }

    /// The protobuf bytes.
    pub fn encode(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// The aggregate of protobuf bytes, checked as by
    /// [`from_proto`](Self::from_proto).
    pub fn decode(bytes: &[u8]) -> Result<Self, AggDecodeError> {
        Self::from_proto(SecondAggProto::decode(bytes)?)
    }
}

impl EdgeAgg {
    /// The protobuf form.
    pub fn to_proto(&self) -> EdgeAggProto {
        let mut prev = 0;
        EdgeAggProto {
            count: self.count,
            errors: self.errors,
            min_ns: self.min_ns,
            max_ns: self.max_ns,
            bucket_gaps: self
                .buckets
                .iter()
                .map(|&(b, _)| {
                    let gap = b - prev;
                    prev = b;
                    gap
                })
                .collect(),
            bucket_counts: self.buckets.iter().map(|&(_, c)| c).collect(),
        }
    }

    /// The aggregate of a protobuf form, checked: buckets valid, ascending
    /// and non-empty, adding up to `count`; errors do not outnumber calls;
    /// the minimum and maximum lie in the first and last bucket (both 0
    /// when there are no calls).
    pub fn from_proto(p: EdgeAggProto) -> Result<Self, AggDecodeError> {
        check(
            p.bucket_gaps.len() == p.bucket_counts.len(),
            "bucket indexes and counts differ in number",
        )?;
        let mut buckets = Vec::with_capacity(p.bucket_gaps.len());
        let mut total = 0_u64;
        for (&gap, &calls) in p.bucket_gaps.iter().zip(&p.bucket_counts) {
            let bucket = match buckets.last() {
                None => Some(gap),
                Some(&(prev, _)) if gap > 0 => u32::checked_add(prev, gap),
                Some(_) => None,
            }
            .filter(|&b| b <= MAX_BUCKET)
            .ok_or(AggDecodeError::Invalid(
                "bucket index out of order or range",
            ))?;
            check(calls > 0, "empty bucket")?;
            total = total
                .checked_add(calls)
                .ok_or(AggDecodeError::Invalid("bucket counts overflow"))?;
            buckets.push((bucket, calls));
        }
        check(total == p.count, "buckets do not add up to count")?;
        check(p.errors <= p.count, "more errors than calls")?;
        match (buckets.first(), buckets.last()) {
            (Some(&(first, _)), Some(&(last, _))) => check(
                p.min_ns <= p.max_ns && bucket_of(p.min_ns) == first && bucket_of(p.max_ns) == last,
                "minimum or maximum outside the buckets",
            )?,
            _ => check(
                p.min_ns == 0 && p.max_ns == 0,
                "minimum or maximum without calls",
            )?,
        }
        Ok(Self {
            count: p.count,
            errors: p.errors,
            min_ns: p.min_ns,
            max_ns: p.max_ns,
            buckets,
        })
    }

    /// The protobuf bytes.
    pub fn encode(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// The aggregate of protobuf bytes, checked as by
    /// [`from_proto`](Self::from_proto).
    pub fn decode(bytes: &[u8]) -> Result<Self, AggDecodeError> {
        Self::from_proto(EdgeAggProto::decode(bytes)?)
    }
}

impl EdgeRow {
    /// The protobuf form.
    pub fn to_proto(&self) -> EdgeRowProto {
        EdgeRowProto {
            second: self.second,
            caller: self.caller,
            callee: self.callee,
            kind: self.kind,
            agg: Some(self.agg.to_proto()),
        }
    }

    /// The row of a protobuf form; its statistics are required and checked
    /// as by [`EdgeAgg::from_proto`].
    pub fn from_proto(p: EdgeRowProto) -> Result<Self, AggDecodeError> {
        let agg = p
            .agg
            .ok_or(AggDecodeError::Invalid("edge row without statistics"))?;
        Ok(Self {
            second: p.second,
            caller: p.caller,
            callee: p.callee,
            kind: p.kind,
            agg: EdgeAgg::from_proto(agg)?,
        })
    }

    /// The protobuf bytes.
    pub fn encode(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// The row of protobuf bytes, checked as by
    /// [`from_proto`](Self::from_proto).
    pub fn decode(bytes: &[u8]) -> Result<Self, AggDecodeError> {
        Self::from_proto(EdgeRowProto::decode(bytes)?)
    }
}
