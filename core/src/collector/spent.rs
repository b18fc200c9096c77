//! Exported transactions come back to the collector for their buffers.
//!
//! Every transaction record owns two or three small vectors (its
//! attributes, its steps, each step's attributes). Without reuse the
//! collector allocates them and the exporter thread frees them, a free
//! across threads that cost the async bench (`benches/benches/async_compare.rs`,
//! one step per transaction) about a tenth of its CPU time in the
//! allocator. Instead the exporter thread that holds a batch last hands its
//! records back over a small bounded channel ([`SpentSender::give`]); the
//! collector empties them into a [`RecordStock`] and builds the next
//! records in their vectors. Nothing waits: a full channel frees the
//! records where they are, as before, and an empty stock allocates.
//!
//! Memory stays bounded: the channel holds [`RETURNED_BATCHES`] batches,
//! the stock at most [`MAX_SHELLS`] emptied records and [`MAX_ATTR_VECS`]
//! attribute vectors, and vectors grown past [`MAX_KEPT_STEPS`] steps or
//! [`MAX_KEPT_ATTRS`] attributes are freed instead of kept.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::model::{Attribute, ExportBatch, StepRecord, TransactionRecord};

/// Batches waiting to be emptied; more are freed by the exporter thread.
const RETURNED_BATCHES: usize = 2;
/// Emptied records kept (a default batch is 512).
const MAX_SHELLS: usize = 1024;
/// Emptied step attribute vectors kept.
const MAX_ATTR_VECS: usize = 2048;
/// Records whose step vector grew past this are freed, not kept.
const MAX_KEPT_STEPS: usize = 256;
/// Attribute vectors grown past this are freed, not kept.
const MAX_KEPT_ATTRS: usize = 32;

/// The exporter threads' end: hands exported records back.
#[derive(Clone)]
pub(crate) struct SpentSender(Sender<Vec<TransactionRecord>>);

impl SpentSender {
    /// Gives `batch`'s records back if this was its last holder (several
    /// exporters share a batch); otherwise, or when the collector has
    /// enough waiting, the records are freed here as before.
    pub fn give(&self, batch: Arc<ExportBatch>) {
        if let Some(batch) = Arc::into_inner(batch)
            && !batch.transactions.is_empty()
        {
            let _ = self.0.try_send(batch.transactions);
        }
    }
}

/// The collector's end: vectors of exported records, emptied for reuse.
pub(crate) struct RecordStock {
    returned: Receiver<Vec<TransactionRecord>>,
    /// Emptied records: (attributes, steps), both cleared.
    shells: Vec<(Vec<Attribute>, Vec<StepRecord>)>,
    /// Emptied step attribute vectors.
    attr_vecs: Vec<Vec<Attribute>>,
    /// An emptied batch vector, for the next batch.
    batch: Option<Vec<TransactionRecord>>,
}

/// A channel between the exporter threads and the collector's stock.
pub(crate) fn channel() -> (SpentSender, RecordStock) {
    let (tx, rx) = bounded(RETURNED_BATCHES);
    (
        SpentSender(tx),
        RecordStock {
            returned: rx,
            shells: Vec::new(),
            attr_vecs: Vec::new(),
            batch: None,
        },
    )
}

impl RecordStock {
    /// Empty vectors for a record's attributes and steps: reused when the
    /// stock or a returned batch has some, else new.
    pub fn shell(&mut self) -> (Vec<Attribute>, Vec<StepRecord>) {
        if self.shells.is_empty() {
            self.refill();
        }
        self.shells.pop().unwrap_or_default()
    }

    /// An empty vector for a step's attributes (reused when there is one).
    pub fn step_attrs(&mut self) -> Vec<Attribute> {
        self.attr_vecs.pop().unwrap_or_default()
    }

    /// An empty vector for the next batch, with room for `capacity`.
    pub fn batch(&mut self, capacity: usize) -> Vec<TransactionRecord> {
        match self.batch.take() {
            Some(v) if v.capacity() >= capacity => v,
            _ => Vec::with_capacity(capacity),
        }
    }

    /// Empties one returned batch into the stock, if one is waiting.
    fn refill(&mut self) {
        let Ok(mut records) = self.returned.try_recv() else {
            return;
        };
        for record in records.drain(..) {
            let TransactionRecord {
                mut attributes,
                mut steps,
                ..
            } = record;
            if self.shells.len() >= MAX_SHELLS
                || steps.capacity() > MAX_KEPT_STEPS
                || attributes.capacity() > MAX_KEPT_ATTRS
            {
                continue;
            }
            for step in steps.drain(..) {
                let mut attrs = step.attributes;
                if attrs.capacity() > 0
                    && attrs.capacity() <= MAX_KEPT_ATTRS
                    && self.attr_vecs.len() < MAX_ATTR_VECS
                {
                    attrs.clear();
                    self.attr_vecs.push(attrs);
                }
            }
            attributes.clear();
            self.shells.push((attributes, steps));
        }
        if self.batch.is_none() {
            self.batch = Some(records);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttrValue, Resource, SpanId, SpanKind, StepKind, TraceId};
    use crate::names;

    fn record(steps: usize, step_attrs: usize) -> TransactionRecord {
        let attr = || Attribute {
            key: names::intern("k"),
            value: AttrValue::Str("kept".into()),
        };
        let step = || StepRecord {
            span_id: SpanId([1; 8]),
            parent: None,
            depth: 1,
            kind: StepKind::Method,
            name: names::intern("step"),
            start_offset_ns: 0,
            elapsed_ns: 1,
            error: None,
            attributes: (0..step_attrs).map(|_| attr()).collect(),
            repaired: false,
        };
        TransactionRecord {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([2; 8]),
            parent_span_id: None,
            kind: SpanKind::Server,
            name: names::intern("txn"),
            start_unix_ns: 1,
            elapsed_ns: 1,
            error: None,
            attributes: vec![attr(), attr()],
            steps: (0..steps).map(|_| step()).collect(),
            dropped_steps: 0,
            repaired: false,
            sampled: true,
            thread_id: 1,
        }
    }

    fn batch(records: Vec<TransactionRecord>) -> Arc<ExportBatch> {
        Arc::new(ExportBatch {
            resource: Arc::new(Resource::default()),
            transactions: records,
            aggregates: Vec::new(),
            metrics: Vec::new(),
            active: Vec::new(),
        })
    }

    #[test]
    fn the_last_holder_returns_the_records_and_they_come_back_empty() {
        let (give, mut stock) = channel();
        let shared = batch(vec![record(3, 1), record(1, 2)]);
        let other_holder = shared.clone();
        give.give(shared);
        // Another exporter still holds the batch: nothing came back yet.
        let (attrs, steps) = stock.shell();
        assert_eq!((attrs.capacity(), steps.capacity()), (0, 0));
        give.give(other_holder);
        let (attrs, steps) = stock.shell();
        assert!(attrs.is_empty() && steps.is_empty());
        assert!(attrs.capacity() >= 2 && steps.capacity() >= 1);
        let (_, steps) = stock.shell();
        assert!(steps.capacity() >= 1);
        // Four step attribute vectors, each emptied.
        for _ in 0..4 {
            let v = stock.step_attrs();
            assert!(v.is_empty() && v.capacity() >= 1);
        }
        assert_eq!(stock.step_attrs().capacity(), 0);
        assert!(stock.batch(2).capacity() >= 2);
    }

    #[test]
    fn oversized_records_are_freed_not_kept_and_a_full_channel_drops() {
        let (give, mut stock) = channel();
        give.give(batch(vec![record(MAX_KEPT_STEPS + 1, 0)]));
        assert_eq!(stock.shell().1.capacity(), 0);
        for _ in 0..RETURNED_BATCHES + 3 {
            give.give(batch(vec![record(1, 0)]));
        }
        assert_eq!(stock.returned.len(), RETURNED_BATCHES);
    }
}
