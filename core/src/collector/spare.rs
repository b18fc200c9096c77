//! Step and attribute vectors of exported records, kept for the next
//! records the collector builds.
//!
//! Every kept call tree is a `Vec<StepRecord>` and most transactions carry
//! a `Vec<Attribute>`: allocated by the converter, freed once the exporters
//! are done with the batch (on the collector thread, see
//! `Collector::spent`). With many small transactions a second that
//! is malloc and free in the collector's profile rather than conversion
//! work. The vectors of a spent batch are emptied and kept here, up to
//! [`SPARE_BYTES`] of capacity in all, and the converter takes them
//! before allocating.

use crate::model::{Attribute, ExportBatch, StepRecord};

/// Capacity kept for reuse at most, in bytes (steps and attributes).
pub(crate) const SPARE_BYTES: usize = 2 << 20;

/// Emptied vectors, and the bytes of capacity they hold.
#[derive(Debug, Default)]
pub(crate) struct Spare {
    steps: Vec<Vec<StepRecord>>,
    attributes: Vec<Vec<Attribute>>,
    bytes: usize,
}

impl Spare {
    /// An empty vector for at least `n` steps (no allocation for none).
    pub(crate) fn steps(&mut self, n: usize) -> Vec<StepRecord> {
        take(&mut self.steps, &mut self.bytes, n)
    }

    /// An empty vector for at least `n` attributes (no allocation for none).
    pub(crate) fn attributes(&mut self, n: usize) -> Vec<Attribute> {
        take(&mut self.attributes, &mut self.bytes, n)
    }

    /// Pushes `attribute` onto a step's `attributes`, which takes a kept
    /// vector when it has none.
    pub(crate) fn push(&mut self, attributes: &mut Vec<Attribute>, attribute: Attribute) {
        if attributes.capacity() == 0 {
            *attributes = self.attributes(1);
        }
        attributes.push(attribute);
    }

    /// Keeps the vectors of `batch`'s records and of their steps, emptied,
    /// while they fit in [`SPARE_BYTES`]; the rest of the batch is freed.
    pub(crate) fn reclaim(&mut self, batch: ExportBatch) {
        for mut record in batch.transactions {
            for step in &mut record.steps {
                let attributes = std::mem::take(&mut step.attributes);
                keep(&mut self.attributes, &mut self.bytes, attributes);
            }
            keep(&mut self.steps, &mut self.bytes, record.steps);
            keep(&mut self.attributes, &mut self.bytes, record.attributes);
        }
    }

    /// Bytes of capacity kept.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }
}

fn take<T>(spare: &mut Vec<Vec<T>>, bytes: &mut usize, n: usize) -> Vec<T> {
    if n == 0 {
        return Vec::new();
    }
    match spare.pop() {
        Some(mut v) => {
            *bytes -= v.capacity() * size_of::<T>();
            v.reserve(n);
            v
        }
        None => Vec::with_capacity(n),
    }
}

fn keep<T>(spare: &mut Vec<Vec<T>>, bytes: &mut usize, mut v: Vec<T>) {
    let size = v.capacity() * size_of::<T>();
    if size == 0 || *bytes + size > SPARE_BYTES {
        return;
    }
    v.clear();
    *bytes += size;
    spare.push(v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AttrValue, Resource, SpanId, SpanKind, StepKind, TraceId, TransactionRecord,
    };
    use std::sync::Arc;

    fn record(steps: usize) -> TransactionRecord {
        let step = StepRecord {
            span_id: SpanId([1; 8]),
            parent: None,
            depth: 1,
            kind: StepKind::Method,
            name: crate::names::intern("spare"),
            start_offset_ns: 0,
            elapsed_ns: 1,
            busy_ns: None,
            error: None,
            attributes: vec![Attribute {
                key: crate::names::intern("spare"),
                value: AttrValue::Str("x".into()),
            }],
            repaired: false,
        };
        TransactionRecord {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([1; 8]),
            parent_span_id: None,
            kind: SpanKind::Server,
            name: crate::names::intern("spare"),
            start_unix_ns: 0,
            elapsed_ns: 1,
            busy_ns: None,
            error: None,
            attributes: vec![Attribute {
                key: crate::names::intern("spare"),
                value: AttrValue::Int(1),
            }],
            steps: vec![step; steps],
            dropped_steps: 0,
            repaired: false,
            sampled: true,
            thread_id: 0,
        }
    }

    fn batch(records: Vec<TransactionRecord>) -> ExportBatch {
        ExportBatch {
            resource: Arc::new(Resource::default()),
            transactions: records,
            aggregates: Vec::new(),
            metrics: Vec::new(),
            active: Vec::new(),
        }
    }

    #[test]
    fn a_spent_batchs_vectors_are_reused_emptied() {
        let mut spare = Spare::default();
        spare.reclaim(batch(vec![record(3)]));
        assert!(spare.bytes() >= 3 * size_of::<StepRecord>() + 4 * size_of::<Attribute>());
        let steps = spare.steps(2);
        assert!(steps.is_empty() && steps.capacity() >= 3, "the kept one");
        // The transaction's and its three steps' attribute vectors.
        for _ in 0..4 {
            let attributes = spare.attributes(1);
            assert!(attributes.is_empty() && attributes.capacity() >= 1);
        }
        assert_eq!(spare.bytes(), 0, "all taken");
        assert_eq!(spare.steps(0).capacity(), 0, "none wanted, none allocated");
        assert!(
            spare.steps(5).capacity() >= 5,
            "a new one when none is kept"
        );
    }

    #[test]
    fn what_is_kept_stays_under_the_bound() {
        let mut spare = Spare::default();
        let per = 1000 * size_of::<StepRecord>();
        let records = (0..2 * SPARE_BYTES / per + 2)
            .map(|_| record(1000))
            .collect();
        spare.reclaim(batch(records));
        assert!(spare.bytes() <= SPARE_BYTES);
        assert!(spare.bytes() + per > SPARE_BYTES, "kept up to the bound");
    }
}
