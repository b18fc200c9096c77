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
//! Each aggregate has a protobuf form ([`ProtoForm`]: [`SecondAggProto`],
//! [`EdgeAggProto`], [`EdgeRowProto`]) that can gain fields later; decoding
//! checks every invariant, so damaged bytes give an [`AggDecodeError`],
//! never a panic or a wrong answer.
//!
//! [`window_stats`] turns the aggregates of a range of seconds into the
//! [`SecondStats`] the query API answers, with the same numbers the
//! in-memory index computes from transactions.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use osprey::model::{HISTOGRAM_BOUNDS_MS, SecondAggregate};
use prost::Message;

use crate::storage::{EdgeJson, SecondStats, TargetKind};

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

/// A register's term of the HyperLogLog sum, 2^-value, in fixed point
/// (units of 2^-57) so that sums kept incrementally are exact. Values
/// above [`HLL_RANK_MAX`] (which no hash produces) count as it.
fn hll_term(value: u8) -> u128 {
    1 << (HLL_RANK_MAX - value.min(HLL_RANK_MAX))
}

/// The HyperLogLog estimate of the registers (Flajolet et al. 2007), with
/// linear counting while it is below 2.5 × the register count and a
/// register is still 0.
fn hll_estimate(registers: impl IntoIterator<Item = u8>) -> u64 {
    let (sum, zeros) = registers.into_iter().fold((0, 0), |(sum, zeros), r| {
        (sum + hll_term(r), zeros + u32::from(r == 0))
    });
    hll_finish(sum, zeros)
}

/// The estimate from the fixed-point sum of the register terms and the
/// number of zero registers.
fn hll_finish(term_sum: u128, zeros: u32) -> u64 {
    let m = HLL_REGISTERS as f64;
    let sum = term_sum as f64 / hll_term(0) as f64;
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
            Self::Exact(set) => Self::registers_of(set),
            Self::Sketch(registers) => **registers,
        }
    }

    fn registers_of(hashes: &[u64]) -> [u8; HLL_REGISTERS] {
        let mut registers = [0; HLL_REGISTERS];
        for &h in hashes {
            hll_observe(&mut registers, h);
        }
        registers
    }

    fn sketch_of(hashes: &[u64]) -> Self {
        Self::Sketch(Box::new(Self::registers_of(hashes)))
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
        if self.count == u64::MAX {
            // Saturated, as `merge` saturates (no bucket can overflow before
            // `count` does: they add up to it).
            return;
        }
        // Counting and bucketing are `SecondAggregate::add`'s, so that the
        // answers match the in-memory index's: lend it the fields (no
        // allocation) and take them back. (The resize is a no-op unless the
        // public field was given another length.)
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
/// window's seconds hold each hash. Hashes that leave keep their (zero)
/// entry, so one visitor coming and going costs no map churn; the map
/// grows to the distinct hashes of the range, which the input holds
/// anyway.
#[derive(Default)]
struct ExactWindow {
    seconds_holding: HashMap<u64, u32>,
    /// Hashes held by at least one second of the window.
    live: u64,
}

impl ExactWindow {
    fn enter(&mut self, hashes: &[u64]) {
        for &h in hashes {
            let n = self.seconds_holding.entry(h).or_default();
            self.live += u64::from(*n == 0);
            *n += 1;
        }
    }

    fn leave(&mut self, hashes: &[u64]) {
        for h in hashes {
            if let Some(n) = self.seconds_holding.get_mut(h) {
                *n -= 1;
                self.live -= u64::from(*n == 0);
            }
        }
    }
}

/// The register-wise maximum of a sliding window of sketches.
///
/// Per register, a deque of (second, value) with values strictly
/// decreasing from the front: the front is the window's maximum, and the
/// deque holds at most [`HLL_RANK_MAX`] entries. The seconds that pushed
/// to each register are remembered (a 256-bit mask per second), so that
/// expiry visits only those registers, and the estimate's sum is kept up
/// to date as maxima change: the cost is O(1) per register value entering
/// or leaving, and O(1) per second otherwise.
struct RegisterWindow {
    deques: Vec<VecDeque<(u64, u8)>>,
    /// (second, registers pushed to in it), oldest first.
    touched: VecDeque<(u64, [u64; HLL_REGISTERS / 64])>,
    /// [`hll_term`]s of the current maxima, summed.
    term_sum: u128,
    /// Registers whose current maximum is 0.
    zeros: u32,
}

impl RegisterWindow {
    fn new() -> Self {
        Self {
            deques: vec![VecDeque::new(); HLL_REGISTERS],
            touched: VecDeque::new(),
            term_sum: hll_term(0) * HLL_REGISTERS as u128,
            zeros: HLL_REGISTERS as u32,
        }
    }

    fn front(&self, register: usize) -> u8 {
        self.deques[register].front().map_or(0, |&(_, v)| v)
    }

    /// Accounts for a register's maximum going from `old` to `new`.
    fn replace_max(&mut self, old: u8, new: u8) {
        if old != new {
            self.term_sum = self.term_sum - hll_term(old) + hll_term(new);
            self.zeros = self.zeros + u32::from(new == 0) - u32::from(old == 0);
        }
    }

    fn enter(&mut self, second: u64, visitors: &Visitors) {
        if self.touched.back().is_none_or(|&(s, _)| s != second) {
            self.touched.push_back((second, [0; HLL_REGISTERS / 64]));
        }
        visitors.for_each_slot(|i, value| {
            let old = self.front(i);
            let d = &mut self.deques[i];
            while d.back().is_some_and(|&(_, v)| v <= value) {
                d.pop_back();
            }
            d.push_back((second, value));
            if let Some((_, mask)) = self.touched.back_mut() {
                mask[i / 64] |= 1 << (i % 64);
            }
            self.replace_max(old, old.max(value));
        });
    }

    /// Drops what entered at or before `second`.
    fn leave_through(&mut self, second: u64) {
        while let Some(&(s, mask)) = self.touched.front() {
            if s > second {
                break;
            }
            self.touched.pop_front();
            for (word, mut bits) in mask.into_iter().enumerate() {
                while bits != 0 {
                    let i = word * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let old = self.front(i);
                    let d = &mut self.deques[i];
                    while d.front().is_some_and(|&(s, _)| s <= second) {
                        d.pop_front();
                    }
                    let new = self.front(i);
                    self.replace_max(old, new);
                }
            }
        }
    }

    fn estimate(&self) -> u64 {
        hll_finish(self.term_sum, self.zeros)
    }
}

/// Parts of the same seconds merged into one aggregate per second, by
/// second (the parts in any order).
pub fn merge_seconds(mut parts: Vec<SecondAgg>) -> Vec<SecondAgg> {
    parts.sort_by_key(|a| a.second);
    let mut merged: Vec<SecondAgg> = Vec::with_capacity(parts.len());
    for a in parts {
        match merged.last_mut() {
            Some(m) if m.second == a.second => m.merge(&a),
            _ => merged.push(a),
        }
    }
    merged
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
/// the window's register-wise maximum (kept by monotonic deques per
/// register). Cost: O(seconds + visitor hashes + sketch registers in the
/// range); at most O(256) per second.
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
    let seconds = (to_s - from_s).saturating_add(1);
    let mut out = Vec::with_capacity(usize::try_from(seconds.min(1 << 20)).unwrap_or(0));
    // Seconds before the first aggregate change nothing: start there (a
    // window of years costs no more than the aggregates it holds).
    let begin = aggs.first().map_or(from_s, |a| a.second.min(from_s));
    for sec in begin..=to_s {
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
            _ => exact.live,
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

    /// The server-map edge from `caller` to `callee` (a `kind`) with these
    /// calls: counts, p50, p95, p99 and maximum.
    pub fn to_edge(&self, caller: String, callee: String, kind: TargetKind) -> EdgeJson {
        EdgeJson {
            caller,
            callee,
            callee_kind: kind,
            count: self.count,
            errors: self.errors,
            p50_ms: self.quantile(0.5),
            p95_ms: self.quantile(0.95),
            p99_ms: self.quantile(0.99),
            max_ms: self.quantile(1.0),
        }
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
    /// [`TargetKind`]).
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

/// A value stored as a protobuf message whose decoding checks every
/// invariant of the value.
pub trait ProtoForm: Sized {
    /// The message.
    type Proto: Message + Default;

    /// The message of the value.
    fn to_proto(&self) -> Self::Proto;

    /// The value of a message, checked (see each implementation).
    fn from_proto(proto: Self::Proto) -> Result<Self, AggDecodeError>;

    /// The protobuf bytes.
    fn encode(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// The value of protobuf bytes, checked as by
    /// [`from_proto`](Self::from_proto).
    fn decode(bytes: &[u8]) -> Result<Self, AggDecodeError> {
        Self::from_proto(Self::Proto::decode(bytes)?)
    }
}

impl ProtoForm for SecondAgg {
    type Proto = SecondAggProto;

    fn to_proto(&self) -> SecondAggProto {
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

    /// Checked: the histogram has
    /// [`HISTOGRAM_BUCKETS`] counts adding up to `count`, errors and
    /// visitors do not outnumber transactions, the maximum fits the sum,
    /// an exact set is ascending and small, a sketch has
    /// [`HLL_REGISTERS`] registers of at most [`HLL_RANK_MAX`].
    fn from_proto(p: SecondAggProto) -> Result<Self, AggDecodeError> {
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
}

impl ProtoForm for EdgeAgg {
    type Proto = EdgeAggProto;

    fn to_proto(&self) -> EdgeAggProto {
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

    /// Checked: buckets valid, ascending
    /// and non-empty, adding up to `count`; errors do not outnumber calls;
    /// the minimum and maximum lie in the first and last bucket (both 0
    /// when there are no calls).
    fn from_proto(p: EdgeAggProto) -> Result<Self, AggDecodeError> {
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
}

impl ProtoForm for EdgeRow {
    type Proto = EdgeRowProto;

    fn to_proto(&self) -> EdgeRowProto {
        EdgeRowProto {
            second: self.second,
            caller: self.caller,
            callee: self.callee,
            kind: self.kind,
            agg: Some(self.agg.to_proto()),
        }
    }

    /// Checked: the statistics are required and checked
    /// as by [`EdgeAgg`]'s [`from_proto`](ProtoForm::from_proto).
    fn from_proto(p: EdgeRowProto) -> Result<Self, AggDecodeError> {
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
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use osprey::AttrValue;
    use osprey::model::{SpanId, TraceId};

    use super::*;
    use crate::index::{Index, IndexConfig};
    use crate::record::{Kind, SpanRec};
    use crate::store::Loc;

    const S: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;

    /// splitmix64: a small, seeded generator for reproducible random data.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }

        /// Elapsed ns spread over every histogram bucket, often exactly on
        /// a bound.
        fn elapsed(&mut self) -> u64 {
            match self.below(4) {
                0 => HISTOGRAM_BOUNDS_MS[self.below(14) as usize] * MS,
                1 => HISTOGRAM_BOUNDS_MS[self.below(14) as usize] * MS + 1,
                2 => self.below(40_000 * MS),
                _ => self.below(3 * MS),
            }
        }
    }

    fn hashes(names: &[String]) -> Vec<u64> {
        let mut v: Vec<u64> = names.iter().map(|n| visitor_hash(n)).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn names(prefix: &str, range: std::ops::Range<u64>) -> Vec<String> {
        range.map(|i| format!("{prefix}{i}")).collect()
    }

    /// Sorts and merges parts of the same second, as the engine's reader does.
    fn merge_by_second(mut parts: Vec<SecondAgg>) -> Vec<SecondAgg> {
        parts.sort_by_key(|a| a.second);
        let mut out: Vec<SecondAgg> = Vec::new();
        for p in parts {
            match out.last_mut() {
                Some(last) if last.second == p.second => last.merge(&p),
                _ => out.push(p),
            }
        }
        out
    }

    #[test]
    fn visitor_hash_is_fnv1a_then_fmix64() {
        // FNV-1a 64 reference vectors (draft-eastlake-fnv).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        // fmix64 is a bijection that fixes 0 and scatters neighbours.
        assert_eq!(fmix64(0), 0);
        assert_eq!(visitor_hash("a"), fmix64(0xaf63_dc4c_8601_ec8c));
        let top: BTreeSet<u64> = (0..64).map(|i| fmix64(i) >> 56).collect();
        assert!(top.len() > 40, "consecutive inputs reach many registers");
        // The stored format, computed independently (a Python transcription
        // of FNV-1a and fmix64): this value must never change.
        assert_eq!(visitor_hash("u1"), 0x63b9_b7f5_2c45_b2b1);
    }

    #[test]
    fn exact_set_becomes_a_sketch_past_64_members() {
        let mut v = Visitors::new();
        for n in names("u", 0..64).iter().chain(names("u", 0..64).iter()) {
            v.insert(n);
        }
        assert_eq!(v, Visitors::Exact(hashes(&names("u", 0..64))));
        assert_eq!(v.estimate(), 64);
        v.insert("u64");
        assert!(!v.is_exact());
        let mut registers = [0; HLL_REGISTERS];
        for h in hashes(&names("u", 0..65)) {
            hll_observe(&mut registers, h);
        }
        assert_eq!(v, Visitors::Sketch(Box::new(registers)));
        assert_eq!(v.registers(), registers);
        let e = v.estimate();
        assert!((58..=72).contains(&e), "65 members estimated as {e}");
    }

    #[test]
    fn merge_is_set_union_in_either_order() {
        let sets = [
            names("a", 0..10),
            names("a", 5..40),
            names("a", 30..90),
            names("b", 0..500),
            Vec::new(),
        ];
        let of = |ns: &[String]| {
            let mut v = Visitors::new();
            ns.iter().for_each(|n| v.insert(n));
            v
        };
        for x in &sets {
            for y in &sets {
                let mut xy = of(x);
                xy.merge(&of(y));
                let mut yx = of(y);
                yx.merge(&of(x));
                let all: Vec<String> = x.iter().chain(y).cloned().collect();
                assert_eq!(xy, yx, "commutative");
                assert_eq!(xy, of(&all), "same as adding every member to one set");
                if hashes(&all).len() <= EXACT_VISITORS_MAX {
                    assert_eq!(xy.estimate(), hashes(&all).len() as u64);
                }
            }
        }
    }

    #[test]
    fn sketch_estimates_are_close_for_small_and_large_sets() {
        for n in [65_u64, 100, 300, 1_000, 10_000, 100_000] {
            let mut v = Visitors::new();
            for i in 0..n {
                v.insert(&format!("10.0.{}.{}", i / 256, i % 256));
            }
            let e = v.estimate() as f64;
            let err = (e - n as f64).abs() / n as f64;
            // 1.04/sqrt(256) = 6.5 % standard error; the hash is fixed, so
            // this is deterministic; allow three standard errors.
            assert!(err < 0.2, "{n} estimated as {e}");
        }
    }

    #[test]
    fn add_buckets_like_the_core_aggregate_and_parts_merge_to_the_whole() {
        let mut rng = Rng(7);
        let mut whole = SecondAgg::new(42);
        let mut core = SecondAggregate::new(42);
        let mut parts = vec![SecondAgg::new(42), SecondAgg::new(42), SecondAgg::new(42)];
        for i in 0..5_000 {
            let elapsed = rng.elapsed();
            let error = rng.chance(10);
            let visitor = format!("u{}", rng.below(if i < 2_500 { 30 } else { 200 }));
            whole.add(elapsed, error, Some(&visitor));
            core.add(elapsed, error);
            parts[rng.below(3) as usize].add(elapsed, error, Some(&visitor));
        }
        assert_eq!(
            (
                whole.count,
                whole.errors,
                whole.elapsed_sum_ns,
                whole.elapsed_max_ns
            ),
            (
                core.count,
                core.errors,
                core.elapsed_sum_ns,
                core.elapsed_max_ns
            )
        );
        assert_eq!(whole.histogram, core.histogram);
        let mut merged = SecondAgg::new(42);
        for p in &parts {
            merged.merge(p);
        }
        assert_eq!(merged, whole);
        let mut other_order = parts[2].clone();
        other_order.merge(&parts[0]);
        other_order.merge(&parts[1]);
        assert_eq!(other_order, whole);
    }

    #[test]
    fn a_saturated_second_stays_saturated_instead_of_overflowing() {
        let mut full = SecondAgg::new(1);
        full.count = u64::MAX;
        full.histogram[0] = u64::MAX;
        let before = full.clone();
        full.add(MS, true, Some("u"));
        assert_eq!(full, before);
        full.merge(&before);
        assert_eq!((full.count, full.histogram[0]), (u64::MAX, u64::MAX));
        assert_eq!(SecondAgg::decode(&full.encode()), Ok(full));
    }

    /// A transaction root span ending at `end_ns`.
    fn root(n: u64, end_ns: u64, elapsed_ns: u64, error: bool, visitor: &Visitor) -> SpanRec {
        let mut attributes = Vec::new();
        match visitor {
            Visitor::User(u) => attributes.push(("enduser.id".into(), AttrValue::from(u.clone()))),
            Visitor::Ip(ip) => {
                attributes.push(("client.address".into(), AttrValue::from(ip.clone())))
            }
            Visitor::None => {}
        }
        SpanRec {
            trace_id: TraceId(u128::from(n + 1).to_be_bytes()),
            span_id: SpanId((n + 1).to_be_bytes()),
            parent: None,
            service: "shop".into(),
            name: "GET /".into(),
            kind: Kind::Server,
            flags: 0,
            start_ns: end_ns - elapsed_ns,
            end_ns,
            error,
            status_message: String::new(),
            attributes,
            exceptions: Vec::new(),
        }
    }

    enum Visitor {
        User(String),
        Ip(String),
        None,
    }

    impl Visitor {
        fn name(&self) -> Option<&str> {
            match self {
                Visitor::User(u) | Visitor::Ip(u) => Some(u),
                Visitor::None => None,
            }
        }
    }

    #[test]
    fn window_stats_equal_the_in_memory_index_on_exact_data() {
        let base = 1_700_000_000_u64;
        let mut rng = Rng(11);
        let mut index = Index::new(IndexConfig::default());
        let mut parts = Vec::new();
        for n in 0..4_000 {
            // Seconds base..base+60, some left empty.
            let sec = base + rng.below(60);
            if (sec - base) % 7 == 3 {
                continue;
            }
            let end_ns = sec * S + rng.below(S);
            let elapsed = rng.elapsed().min(end_ns);
            let error = rng.chance(15);
            let visitor = match rng.below(3) {
                0 => Visitor::User(format!("user-{}", rng.below(40))),
                1 => Visitor::Ip(format!("10.0.0.{}", rng.below(20))),
                _ => Visitor::None,
            };
            let span = root(n, end_ns, elapsed, error, &visitor);
            index.add_spans(
                Loc {
                    segment: 0,
                    offset: n,
                },
                std::slice::from_ref(&span),
            );
            // Each transaction goes to one of three "segments".
            let mut part = SecondAgg::new(sec);
            part.add(elapsed, error, visitor.name());
            parts.push((rng.below(3), part));
        }
        let mut per_segment: Vec<Vec<SecondAgg>> = vec![Vec::new(); 3];
        for (seg, p) in parts {
            per_segment[seg as usize].push(p);
        }
        let per_segment: Vec<SecondAgg> =
            per_segment.into_iter().flat_map(merge_by_second).collect();
        let aggs = merge_by_second(per_segment);
        assert!(aggs.iter().all(|a| a.visitors.is_exact()));
        for (from, to, window) in [
            (base, base + 59, 1),
            (base, base + 59, 0),
            (base + 10, base + 50, 5),
            (base - 5, base + 70, 13),
            (base + 30, base + 30, 60),
            (base + 20, base + 65, 3_600),
            (base + 5, base + 4, 10),
        ] {
            assert_eq!(
                window_stats(&aggs, from, to, window),
                index.seconds(from, to, window),
                "{from}..={to} window {window}"
            );
        }
        // A window reaching before all data counts everything so far, and
        // an endless one costs no more.
        assert_eq!(
            window_stats(&aggs, base, base + 59, u64::MAX),
            index.seconds(base, base + 59, 1_000)
        );
        // The window reaches before second 0 without underflow.
        let near_zero = [SecondAgg::new(0), {
            let mut a = SecondAgg::new(2);
            a.add(5 * MS, false, Some("x"));
            a
        }];
        let stats = window_stats(&near_zero, 0, 3, 10);
        assert_eq!(
            stats.iter().map(|s| s.concurrent_users).collect::<Vec<_>>(),
            [0, 0, 1, 1]
        );
    }

    /// Distinct visitors of the `window` seconds ending at `t`, by brute
    /// force: the exact union when no sketch is among them, else the
    /// estimate of the register-wise maximum.
    fn brute_force_users(aggs: &[SecondAgg], t: u64, window: u64) -> u64 {
        let in_window: Vec<&SecondAgg> = aggs
            .iter()
            .filter(|a| a.second <= t && a.second + window > t)
            .collect();
        if in_window.iter().all(|a| a.visitors.is_exact()) {
            let mut union = BTreeSet::new();
            for a in &in_window {
                if let Visitors::Exact(set) = &a.visitors {
                    union.extend(set.iter().copied());
                }
            }
            union.len() as u64
        } else {
            let mut registers = [0_u8; HLL_REGISTERS];
            for a in &in_window {
                for (r, v) in registers.iter_mut().zip(a.visitors.registers()) {
                    *r = (*r).max(v);
                }
            }
            hll_estimate(registers)
        }
    }

    #[test]
    fn window_users_equal_a_brute_force_union_on_random_data() {
        // Percent of seconds with a sketch, by seed.
        let sketched = [0, 0, 5, 5, 60];
        for seed in 1..=4 {
            let mut rng = Rng(seed);
            let mut aggs = Vec::new();
            for sec in 0..300 {
                if rng.chance(20) {
                    continue;
                }
                let mut a = SecondAgg::new(sec);
                let n = if rng.chance(sketched[seed as usize]) {
                    65 + rng.below(100)
                } else {
                    rng.below(12)
                };
                for _ in 0..n {
                    let v = format!("v{}", rng.below(400));
                    a.add(rng.elapsed(), false, Some(&v));
                }
                aggs.push(a);
            }
            assert_eq!(seed == 1, aggs.iter().all(|a| a.visitors.is_exact()));
            for window in [1, 2, 7, 60, 1_000] {
                let got = window_stats(&aggs, 10, 299, window);
                assert_eq!(got.len(), 290);
                for s in &got {
                    assert_eq!(
                        s.concurrent_users,
                        brute_force_users(&aggs, s.second, window),
                        "seed {seed} window {window} second {}",
                        s.second
                    );
                }
            }
        }
    }

    #[test]
    fn unmerged_parts_of_a_second_give_the_merged_answer() {
        let mut rng = Rng(3);
        let mut parts = Vec::new();
        for sec in 0..50 {
            for _ in 0..=rng.below(3) {
                let mut a = SecondAgg::new(sec);
                for _ in 0..rng.below(30) {
                    a.add(
                        rng.elapsed(),
                        rng.chance(30),
                        Some(&format!("v{}", rng.below(90))),
                    );
                }
                parts.push(a);
            }
        }
        let merged = merge_by_second(parts.clone());
        assert!(merged.len() < parts.len());
        assert_eq!(
            window_stats(&parts, 5, 49, 6),
            window_stats(&merged, 5, 49, 6)
        );
    }

    #[test]
    fn a_day_of_seconds_with_an_hour_window_in_both_modes() {
        let (from, to, window) = (100_000_u64, 100_000 + 86_399, 3_600_u64);
        // Exact: "v{s % 4000}" and "w{s % 7}" every second, so every full
        // window holds 3,600 + 7 distinct visitors.
        let mut aggs: Vec<SecondAgg> = (from - window + 1..=to)
            .map(|s| {
                let mut a = SecondAgg::new(s);
                a.add(MS, false, Some(&format!("v{}", s % 4_000)));
                a.add(MS, false, Some(&format!("w{}", s % 7)));
                a
            })
            .collect();
        let exact = window_stats(&aggs, from, to, window);
        assert_eq!(exact.len(), 86_400);
        assert!(
            exact
                .iter()
                .all(|s| s.concurrent_users == 3_607 && s.count == 2)
        );

        // Sketches: every 600th second has 100 more visitors, so every
        // window holds six sketches.
        for a in aggs.iter_mut().filter(|a| a.second % 600 == 0) {
            for i in 0..100 {
                a.add(MS, false, Some(&format!("x{}-{i}", a.second)));
            }
            assert!(!a.visitors.is_exact());
        }
        let sketched = window_stats(&aggs, from, to, window);
        assert_eq!(sketched.len(), 86_400);
        for t in [from, from + 1, from + 40_000, to] {
            let s = &sketched[(t - from) as usize];
            assert_eq!(s.concurrent_users, brute_force_users(&aggs, t, window));
            let truth = 3_607.0 + 600.0;
            let err = (s.concurrent_users as f64 - truth).abs() / truth;
            assert!(err < 0.2, "{} estimated for {truth}", s.concurrent_users);
        }
    }

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_bounds(MAX_BUCKET).1, u64::MAX);
        let mut next = 0_u64;
        for b in 0..=MAX_BUCKET {
            let (low, high) = bucket_bounds(b);
            assert_eq!(
                low,
                next,
                "bucket {b} starts where {} ended",
                b.saturating_sub(1)
            );
            assert!(high >= low);
            assert_eq!((bucket_of(low), bucket_of(high)), (b, b));
            // One value (exact), or at most 1/64 of the lowest.
            assert!(high == low || (high - low + 1) as f64 / low as f64 <= 1.0 / 64.0);
            next = high.wrapping_add(1);
        }
        assert_eq!(next, 0, "the last bucket ends at u64::MAX");
    }

    fn nearest_rank(sorted: &[u64], q: f64) -> f64 {
        let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[i] as f64 / 1e6
    }

    #[test]
    fn quantiles_are_within_a_bucket_of_nearest_rank_and_exact_at_the_ends() {
        let mut rng = Rng(5);
        for n in [1_usize, 2, 3, 10, 99, 1_000, 20_000] {
            let mut values: Vec<u64> = (0..n)
                .map(|_| match rng.below(3) {
                    0 => rng.below(200),
                    1 => rng.below(50 * MS),
                    _ => rng.below(5 * S),
                })
                .collect();
            let mut agg = EdgeAgg::new();
            let mut parts = [EdgeAgg::new(), EdgeAgg::new()];
            for &v in &values {
                agg.add(v, v % 3 == 0);
                parts[rng.below(2) as usize].add(v, v % 3 == 0);
            }
            let mut merged = parts[1].clone();
            merged.merge(&parts[0]);
            assert_eq!(merged, agg, "parts merge to the whole");
            values.sort_unstable();
            assert_eq!(agg.count, n as u64);
            assert_eq!(
                agg.errors,
                values.iter().filter(|v| *v % 3 == 0).count() as u64
            );
            assert_eq!(agg.quantile(1.0), values[n - 1] as f64 / 1e6);
            assert_eq!(agg.quantile(0.0), values[0] as f64 / 1e6);
            for q in [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999] {
                let want = nearest_rank(&values, q);
                let got = agg.quantile(q);
                assert!(
                    (got - want).abs() <= want / 128.0 + 1e-9,
                    "n {n} q {q}: {got} for {want}"
                );
            }
        }
        let mut one = EdgeAgg::new();
        one.add(123_456_789, false);
        for q in [0.0, 0.5, 0.99, 1.0, f64::NAN, -1.0, 7.0] {
            assert_eq!(one.quantile(q), 123.456789);
        }
        assert_eq!(EdgeAgg::new().quantile(0.5), 0.0);
    }

    #[test]
    fn edge_quantiles_match_the_in_memory_server_map() {
        let mut rng = Rng(9);
        let base = 1_700_000_000 * S;
        let mut index = Index::new(IndexConfig::default());
        let mut agg = EdgeAgg::new();
        for n in 0..3_000_u64 {
            let elapsed = rng.elapsed();
            let end_ns = base + rng.below(10 * S);
            let error = rng.chance(5);
            let mut call = root(n, end_ns, elapsed, error, &Visitor::None);
            call.kind = Kind::Client;
            call.parent = Some(SpanId([9; 8]));
            call.attributes
                .push(("db.system".into(), AttrValue::from("redis")));
            index.add_spans(
                Loc {
                    segment: 0,
                    offset: n,
                },
                &[call],
            );
            agg.add(elapsed, error);
        }
        let edges = index.server_map(base, base + 10 * S);
        assert_eq!(edges.len(), 1);
        let e = &edges[0];
        assert_eq!((e.count, e.errors), (agg.count, agg.errors));
        assert_eq!(e.max_ms, agg.quantile(1.0));
        for (want, q) in [(e.p50_ms, 0.5), (e.p95_ms, 0.95), (e.p99_ms, 0.99)] {
            let got = agg.quantile(q);
            assert!(
                (got - want).abs() <= want / 128.0,
                "q {q}: {got} for {want}"
            );
        }
    }

    fn sample_seconds() -> Vec<SecondAgg> {
        let mut rng = Rng(21);
        let mut empty = SecondAgg::new(5);
        empty.second = 5;
        let mut small = SecondAgg::new(1_700_000_000);
        let mut big = SecondAgg::new(u64::MAX);
        for i in 0..40 {
            small.add(rng.elapsed(), i % 4 == 0, Some(&format!("u{}", i % 9)));
            small.add(rng.elapsed(), false, None);
        }
        for i in 0..500 {
            big.add(rng.elapsed(), i % 2 == 0, Some(&format!("u{i}")));
        }
        assert!(!big.visitors.is_exact());
        vec![empty, small, big]
    }

    fn sample_edges() -> Vec<EdgeAgg> {
        let mut rng = Rng(22);
        let mut one = EdgeAgg::new();
        one.add(0, true);
        let mut many = EdgeAgg::new();
        for _ in 0..1_000 {
            many.add(rng.elapsed(), rng.chance(10));
        }
        many.add(u64::MAX, false);
        vec![EdgeAgg::new(), one, many]
    }

    #[test]
    fn aggregates_round_trip_through_protobuf() {
        for a in sample_seconds() {
            assert_eq!(SecondAgg::decode(&a.encode()).unwrap(), a);
        }
        for (i, agg) in sample_edges().into_iter().enumerate() {
            assert_eq!(EdgeAgg::decode(&agg.encode()).unwrap(), agg);
            let row = EdgeRow {
                second: 1_700_000_000 + i as u64,
                caller: 3,
                callee: u32::MAX,
                kind: i as u32,
                agg,
            };
            assert_eq!(EdgeRow::decode(&row.encode()).unwrap(), row);
        }
    }

    fn invalid(r: Result<impl fmt::Debug, AggDecodeError>, what: &str) {
        match r {
            Err(AggDecodeError::Invalid(w)) => assert_eq!(w, what),
            other => panic!("expected Invalid({what}), got {other:?}"),
        }
    }

    #[test]
    fn invariant_breaking_messages_are_rejected() {
        let [_, small, big] = <[SecondAgg; 3]>::try_from(sample_seconds()).unwrap();
        let broken = |f: &dyn Fn(&mut SecondAggProto), from: &SecondAgg| {
            let mut p = from.to_proto();
            f(&mut p);
            SecondAgg::decode(&p.encode_to_vec())
        };
        invalid(
            broken(&|p| p.histogram.push(0), &small),
            "histogram has the wrong number of buckets",
        );
        invalid(
            broken(&|p| p.count += 1, &small),
            "histogram does not add up to count",
        );
        invalid(
            broken(&|p| p.errors = p.count + 1, &small),
            "more errors than transactions",
        );
        invalid(
            broken(&|p| p.elapsed_max_ns = p.elapsed_sum_ns + 1, &small),
            "elapsed sum and maximum disagree",
        );
        invalid(
            broken(&|p| p.visitors_exact.swap(0, 1), &small),
            "exact visitor set not strictly ascending",
        );
        invalid(
            broken(&|p| p.visitors_exact.push(p.visitors_exact[0]), &small),
            "exact visitor set not strictly ascending",
        );
        invalid(
            broken(
                &|p| {
                    p.visitors_sketch.clear();
                    p.visitors_exact = (0..65).collect();
                },
                &big,
            ),
            "exact visitor set too large",
        );
        invalid(
            broken(&|p| p.visitors_sketch.pop().map_or((), drop), &big),
            "visitor sketch of the wrong size",
        );
        invalid(
            broken(&|p| p.visitors_sketch[0] = HLL_RANK_MAX + 1, &big),
            "visitor sketch register out of range",
        );
        invalid(
            broken(&|p| p.visitors_sketch = vec![1; HLL_REGISTERS], &small),
            "visitors both exact and sketched",
        );
        invalid(
            broken(&|p| p.visitors_exact = vec![1], &SecondAgg::new(0)),
            "more visitors than transactions",
        );
        invalid(
            broken(
                &|p| p.visitors_sketch = vec![1; HLL_REGISTERS],
                &SecondAgg::new(0),
            ),
            "visitors without transactions",
        );

        let many = sample_edges().pop().unwrap();
        let broken = |f: &dyn Fn(&mut EdgeAggProto)| {
            let mut p = many.to_proto();
            f(&mut p);
            EdgeAgg::decode(&p.encode_to_vec())
        };
        invalid(
            broken(&|p| p.bucket_counts.truncate(p.bucket_counts.len() - 1)),
            "bucket indexes and counts differ in number",
        );
        invalid(
            broken(&|p| p.bucket_gaps[3] = 0),
            "bucket index out of order or range",
        );
        invalid(
            broken(&|p| p.bucket_gaps[1] = u32::MAX),
            "bucket index out of order or range",
        );
        invalid(
            broken(&|p| *p.bucket_gaps.last_mut().unwrap() += 1),
            "bucket index out of order or range",
        );
        invalid(broken(&|p| p.bucket_counts[2] = 0), "empty bucket");
        invalid(broken(&|p| p.count += 1), "buckets do not add up to count");
        invalid(
            broken(&|p| p.errors = p.count + 1),
            "more errors than calls",
        );
        invalid(
            broken(&|p| p.min_ns += 1_000_000),
            "minimum or maximum outside the buckets",
        );
        invalid(
            broken(&|p| p.max_ns -= 1 << 60),
            "minimum or maximum outside the buckets",
        );
        invalid(
            EdgeAgg::decode(
                &EdgeAggProto {
                    min_ns: 1,
                    ..EdgeAgg::new().to_proto()
                }
                .encode_to_vec(),
            ),
            "minimum or maximum without calls",
        );
        invalid(
            EdgeRow::decode(
                &EdgeRowProto {
                    second: 1,
                    caller: 1,
                    callee: 2,
                    kind: 0,
                    agg: None,
                }
                .encode_to_vec(),
            ),
            "edge row without statistics",
        );
        assert!(matches!(
            SecondAgg::decode(&[0x0a, 0xff]),
            Err(AggDecodeError::Protobuf(_))
        ));
    }

    #[test]
    fn damaged_bytes_decode_to_an_error_or_a_valid_aggregate_never_a_panic() {
        let mut rng = Rng(33);
        let seconds: Vec<Vec<u8>> = sample_seconds().iter().map(SecondAgg::encode).collect();
        let rows: Vec<Vec<u8>> = sample_edges()
            .into_iter()
            .map(|agg| {
                EdgeRow {
                    second: 9,
                    caller: 1,
                    callee: 2,
                    kind: 3,
                    agg,
                }
                .encode()
            })
            .collect();
        let mut errors = 0;
        for good in seconds.iter().chain(&rows) {
            let mut damaged: Vec<Vec<u8>> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
            for _ in 0..2_000 {
                let mut bad = good.clone();
                for _ in 0..=rng.below(3) {
                    let i = rng.below(bad.len() as u64) as usize;
                    bad[i] ^= 1 << rng.below(8);
                }
                damaged.push(bad);
            }
            for bad in damaged {
                // Whatever decodes re-encodes to an equal, valid aggregate.
                let a = SecondAgg::decode(&bad);
                if let Ok(a) = &a {
                    assert_eq!(&SecondAgg::decode(&a.encode()).unwrap(), a);
                    let _ = window_stats(std::slice::from_ref(a), a.second, a.second, 1);
                }
                let r = EdgeRow::decode(&bad);
                if let Ok(r) = &r {
                    assert_eq!(&EdgeRow::decode(&r.encode()).unwrap(), r);
                    let _ = r.agg.quantile(0.5);
                }
                errors += usize::from(a.is_err()) + usize::from(r.is_err());
            }
        }
        assert!(errors > 1_000, "damage is noticed ({errors} errors)");
    }
}
