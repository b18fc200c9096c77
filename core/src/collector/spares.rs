//! The vectors of exported records, kept for the next records the
//! collector builds.
//!
//! A record owns up to three kinds of vector: its attributes, its steps,
//! and each step's attributes. Built and freed once per transaction they
//! were most of the collector's allocator time (a `malloc` and a `free`
//! each, three per transaction with one step). When the exporters are done
//! with a batch it comes back to the collector ([`super::Collector`]'s
//! `spent`), which takes its records apart here: the vectors are emptied
//! and handed out again by [`Spares::attributes`] and [`Spares::steps`].
//!
//! What is kept is bounded by [`SPARE_BYTES`] of capacity; past it, and for
//! a vector larger than [`LARGEST_KEPT`] elements, a vector is freed as
//! before.

use crate::model::{Attribute, StepRecord, TransactionRecord};

/// Capacity, in bytes, the kept vectors may hold in all.
pub(crate) const SPARE_BYTES: usize = 2 << 20;

/// Larger vectors are freed rather than kept (a step vector of this many
/// steps is some 20 KiB).
const LARGEST_KEPT: usize = 256;

/// Emptied vectors of exported records, owned by the collector thread.
#[derive(Default)]
pub(crate) struct Spares {
    attributes: Vec<Vec<Attribute>>,
    steps: Vec<Vec<StepRecord>>,
    /// A batch's vector of records, emptied.
    batch: Option<Vec<TransactionRecord>>,
    /// Capacity held by `attributes` and `steps`, in bytes.
    bytes: usize,
}

impl Spares {
    /// Takes the records of an exported batch apart, keeping their
    /// vectors within the budget and freeing the rest.
    pub fn reclaim(&mut self, mut records: Vec<TransactionRecord>) {
        for record in records.drain(..) {
            let TransactionRecord {
                attributes,
                mut steps,
                ..
            } = record;
            for step in steps.drain(..) {
                self.keep_attributes(step.attributes);
            }
            self.keep_attributes(attributes);
            self.keep(steps);
        }
        if self.batch.is_none() {
            self.batch = Some(records);
        }
    }

    /// An empty attribute vector with room for at least `n`.
    pub fn attributes(&mut self, n: usize) -> Vec<Attribute> {
        let mut v = match self.attributes.pop() {
            Some(v) => {
                self.bytes -= bytes(&v);
                v
            }
            None => Vec::new(),
        };
        v.reserve(n);
        v
    }

    /// Pushes `a` onto a step's attributes, which take a kept vector when
    /// they have none yet.
    #[inline]
    pub fn push(&mut self, attributes: &mut Vec<Attribute>, a: Attribute) {
        if attributes.capacity() == 0 {
            *attributes = self.attributes(1);
        }
        attributes.push(a);
    }

    /// An empty step vector with room for at least `n` (none taken for 0).
    pub fn steps(&mut self, n: usize) -> Vec<StepRecord> {
        if n == 0 {
            return Vec::new();
        }
        let mut v = match self.steps.pop() {
            Some(v) => {
                self.bytes -= bytes(&v);
                v
            }
            None => Vec::new(),
        };
        v.reserve(n);
        v
    }

    /// An empty vector for a batch of `n` records.
    pub fn batch(&mut self, n: usize) -> Vec<TransactionRecord> {
        let mut v = self.batch.take().unwrap_or_default();
        v.reserve(n);
        v
    }

    fn keep_attributes(&mut self, mut v: Vec<Attribute>) {
        // Their values (strings) are freed here; the vector may stay.
        v.clear();
        if fits(&v, self.bytes) {
            self.bytes += bytes(&v);
            self.attributes.push(v);
        }
    }

    fn keep(&mut self, v: Vec<StepRecord>) {
        debug_assert!(v.is_empty());
        if fits(&v, self.bytes) {
            self.bytes += bytes(&v);
            self.steps.push(v);
        }
    }
}

/// The capacity of `v`, in bytes.
fn bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}

/// Whether `v` is worth keeping and the budget has room for it.
fn fits<T>(v: &Vec<T>, held: usize) -> bool {
    (1..=LARGEST_KEPT).contains(&v.capacity()) && held + bytes(v) <= SPARE_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttrValue, SpanId, StepKind};
    use crate::names::NameId;

    fn attribute(text: &str) -> Attribute {
        Attribute {
            key: NameId(0),
            value: AttrValue::Str(text.to_owned()),
        }
    }

    fn step() -> StepRecord {
        StepRecord {
            span_id: SpanId([1; 8]),
            parent: None,
            depth: 1,
            kind: StepKind::Method,
            name: NameId(0),
            start_offset_ns: 0,
            elapsed_ns: 1,
            error: None,
            attributes: vec![attribute("step")],
            repaired: false,
        }
    }

    fn record(steps: usize) -> TransactionRecord {
        TransactionRecord {
            trace_id: Default::default(),
            span_id: SpanId([2; 8]),
            parent_span_id: None,
            kind: Default::default(),
            name: NameId(0),
            start_unix_ns: 0,
            elapsed_ns: 0,
            error: None,
            attributes: vec![attribute("a"), attribute("b")],
            steps: (0..steps).map(|_| step()).collect(),
            dropped_steps: 0,
            repaired: false,
            sampled: true,
            thread_id: 0,
        }
    }

    #[test]
    fn exported_records_hand_their_vectors_out_again_empty() {
        let mut spares = Spares::default();
        let records = vec![record(1), record(3)];
        let step_vectors: Vec<*const StepRecord> =
            records.iter().map(|r| r.steps.as_ptr()).collect();
        spares.reclaim(records);
        // Two transactions' and four steps' attribute vectors, two step vectors.
        assert_eq!(spares.attributes.len(), 6);
        assert_eq!(spares.steps.len(), 2);
        let steps = spares.steps(2);
        assert!(steps.is_empty() && steps.capacity() >= 2);
        assert!(step_vectors.contains(&steps.as_ptr()), "a reclaimed vector");
        let attributes = spares.attributes(1);
        assert!(attributes.is_empty() && attributes.capacity() >= 1);
        assert!(spares.batch(4).capacity() >= 4);
        // Nothing reclaimed is left: new vectors from then on.
        while !spares.attributes.is_empty() {
            spares.attributes(0);
        }
        spares.steps(1);
        assert_eq!(spares.bytes, 0, "the budget is given back as vectors leave");
        assert_eq!(spares.steps(0).capacity(), 0, "no vector for no steps");
    }

    #[test]
    fn what_is_kept_stays_within_the_budget() {
        let mut spares = Spares::default();
        let per_record = std::mem::size_of::<StepRecord>() * 200;
        let records = (0..SPARE_BYTES / per_record + 10)
            .map(|_| record(200))
            .collect();
        spares.reclaim(records);
        assert!(spares.bytes <= SPARE_BYTES, "{} bytes kept", spares.bytes);
        assert!(spares.bytes > SPARE_BYTES / 2, "the budget is used");
    }

    #[test]
    fn a_vector_past_the_largest_kept_size_is_freed() {
        let mut spares = Spares::default();
        spares.reclaim(vec![record(LARGEST_KEPT), record(LARGEST_KEPT + 1)]);
        assert_eq!(spares.steps.len(), 1);
        assert_eq!(spares.steps(1).capacity(), LARGEST_KEPT);
    }
}
