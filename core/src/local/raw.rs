//! In-flight data of one thread's open transaction: tick-stamped, names not
//! yet interned. Handed to the collector whole when the transaction ends.

use crate::model::{AttrValue, ErrorInfo, SpanId, SpanKind, StepKind, TraceId};
use crate::names::NameId;

/// Step capacity a recycled buffer keeps (160 KiB).
pub(crate) const RECYCLED_STEPS: usize = 4096;

/// Attribute text capacity a recycled buffer keeps.
const RECYCLED_TEXT: usize = 4096;

/// Marks "no step": the transaction itself is the parent or current frame.
pub(crate) const NO_STEP: u32 = u32::MAX;

/// A name as recorded on the hot path: a static string (interned later by
/// the collector) or an id interned beforehand. 16 bytes.
#[derive(Clone, Copy, Debug)]
pub enum RawName {
    /// A `'static` string, e.g. a `tracing` callsite name.
    Static(&'static str),
    /// A pre-interned name (C ABI, Java agent).
    Id(NameId),
}

/// The transaction's own name, which is often dynamic (a URL).
#[derive(Clone, Debug)]
pub(crate) enum RawTxnName {
    Raw(RawName),
    Owned(String),
}

/// One step as recorded: 40 bytes, no heap.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawStep {
    pub start: u64,
    /// 0 while open.
    pub end: u64,
    pub name: RawName,
    /// Index of the parent step, or [`NO_STEP`].
    pub parent: u32,
    pub kind: StepKind,
    /// Closed by the recorder rather than by its own exit.
    pub repaired: bool,
}

/// An attribute value as recorded: a value, the id of an interned name
/// that the collector turns into a string value (no copy on the recording
/// thread), or a string copied into the transaction's [`RawTransaction::text`]
/// (no allocation on the recording thread once the buffer has grown).
#[derive(Clone, Debug)]
pub(crate) enum RawValue {
    Value(AttrValue),
    Name(NameId),
    /// `text[start..start + len]`.
    Text {
        start: u32,
        len: u32,
    },
    /// A duration in clock ticks, exported as integer nanoseconds.
    Ticks(u64),
}

/// An attribute or error, addressed to a step index or [`NO_STEP`] (the
/// transaction).
#[derive(Clone, Debug)]
pub(crate) struct RawAttr {
    pub step: u32,
    pub key: RawName,
    pub value: RawValue,
}

/// A transaction in flight. Boxed and recycled through the collector so
/// steady-state recording does not allocate.
#[derive(Debug)]
pub(crate) struct RawTransaction {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub kind: SpanKind,
    pub name: RawTxnName,
    pub start: u64,
    pub end: u64,
    pub thread_id: u64,
    /// Thread CPU time at begin (ns), 0 when not measured.
    pub cpu_start_ns: u64,
    /// CPU time the transaction used on its thread (ns), 0 when not measured.
    pub cpu_ns: u64,
    pub steps: Vec<RawStep>,
    pub attrs: Vec<RawAttr>,
    /// Ticks the transaction's own future or span was polled (async work),
    /// `None` when not measured.
    pub busy: Option<u64>,
    /// Ticks each async step (by index in `steps`) was polled; synchronous
    /// steps have no entry.
    pub step_busy: Vec<(u32, u64)>,
    /// The bytes of [`RawValue::Text`] attribute values, back to back; kept
    /// with the buffer when it is recycled.
    pub text: String,
    pub errors: Vec<(u32, ErrorInfo)>,
    /// Span ids handed out for propagation before export (step, id).
    pub assigned_span_ids: Vec<(u32, SpanId)>,
    /// Steps whose end another thread reports (step, its end).
    pub deferred: Vec<(u32, std::sync::Arc<super::deferred::DeferredEnd>)>,
    /// Work handed to other threads (the step open at submission, its fork),
    /// settled when this transaction ends.
    pub forks: Vec<(u32, std::sync::Arc<super::fork::Fork>)>,
    /// Set when this transaction is a worker's part of another one (see
    /// [`super::fork`]).
    pub fork: Option<std::sync::Arc<super::fork::Fork>>,
    /// Most steps recorded; further enters are counted in `dropped_steps`.
    pub max_steps: u32,
    /// `min(steps.capacity(), max_steps)`: below it an enter needs no
    /// further check.
    pub fast_limit: u32,
    /// This thread's transaction sequence number, checked by step guards.
    pub seq: u32,
    /// Innermost open step, or [`NO_STEP`].
    pub current: u32,
    /// Enters past the step cap not yet matched by an exit.
    pub overflow_depth: u32,
    pub dropped_steps: u32,
    pub repaired: bool,
    /// The inbound sampled flag, or a forced decision.
    pub force_sample: bool,
    /// [`Self::footprint`] as counted into the queue's memory budget when
    /// it was queued (computed by the recording thread, whose cache holds
    /// the buffers), and taken back out with that same number.
    pub queued_bytes: usize,
}

impl RawTransaction {
    /// True while attributes and errors together are under
    /// [`super::recorder::MAX_ATTRS`]: one more may be added.
    #[inline]
    pub fn has_attr_room(&self) -> bool {
        self.attrs.len() + self.errors.len() < super::recorder::MAX_ATTRS
    }

    pub fn new() -> Self {
        Self {
            trace_id: TraceId::default(),
            span_id: SpanId::default(),
            parent_span_id: None,
            kind: SpanKind::Internal,
            name: RawTxnName::Owned(String::new()),
            start: 0,
            end: 0,
            thread_id: 0,
            cpu_start_ns: 0,
            cpu_ns: 0,
            steps: Vec::new(),
            attrs: Vec::new(),
            busy: None,
            step_busy: Vec::new(),
            text: String::new(),
            errors: Vec::new(),
            assigned_span_ids: Vec::new(),
            deferred: Vec::new(),
            forks: Vec::new(),
            fork: None,
            max_steps: 2048,
            fast_limit: 0,
            seq: 0,
            current: NO_STEP,
            overflow_depth: 0,
            dropped_steps: 0,
            repaired: false,
            force_sample: false,
            queued_bytes: 0,
        }
    }

    /// An empty transaction with room for `steps` steps and `attrs`
    /// attributes.
    pub fn with_capacity(steps: usize, attrs: usize) -> Self {
        let mut txn = Self::new();
        txn.steps.reserve_exact(steps);
        txn.attrs.reserve_exact(attrs);
        txn
    }

    /// Empties the buffers for reuse, keeping at most `keep_steps` (at most
    /// [`RECYCLED_STEPS`] for a thread's spare) of step capacity so pooled
    /// and spare buffers stay small whatever `steps.max` is.
    pub fn recycle(&mut self, keep_steps: usize) {
        self.steps.clear();
        self.attrs.clear();
        self.busy = None;
        self.step_busy.clear();
        self.text.clear();
        self.errors.clear();
        self.assigned_span_ids.clear();
        self.deferred.clear();
        self.forks.clear();
        self.fork = None;
        if self.steps.capacity() > keep_steps {
            self.steps.shrink_to(keep_steps);
            self.step_busy.shrink_to(keep_steps);
        }
        self.attrs.shrink_to(64);
        self.text.shrink_to(RECYCLED_TEXT);
        self.current = NO_STEP;
        self.overflow_depth = 0;
        self.dropped_steps = 0;
        self.repaired = false;
        self.force_sample = false;
        self.cpu_start_ns = 0;
        self.cpu_ns = 0;
        self.parent_span_id = None;
        self.end = 0;
    }

    /// Names the transaction `name`, reusing the buffer of an owned name.
    pub fn set_name(&mut self, name: &str) {
        match &mut self.name {
            RawTxnName::Owned(buf) => {
                buf.clear();
                buf.push_str(name);
            }
            RawTxnName::Raw(_) => self.name = RawTxnName::Owned(name.to_owned()),
        }
    }

    /// Copies `value` into [`Self::text`]; `None` when the buffer would pass
    /// 4 GiB.
    pub fn push_text(&mut self, value: &str) -> Option<RawValue> {
        let (value, mark) = crate::capped::prefix(value, crate::capped::MAX_VALUE_BYTES);
        let start = u32::try_from(self.text.len()).ok()?;
        let len = u32::try_from(value.len() + mark.len()).ok()?;
        start.checked_add(len)?;
        self.text.push_str(value);
        self.text.push_str(mark);
        Some(RawValue::Text { start, len })
    }

    /// Rough heap footprint, for the queue's memory budget.
    pub fn footprint(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.steps.capacity() * std::mem::size_of::<RawStep>()
            + self.attrs.capacity() * std::mem::size_of::<RawAttr>()
            + self.step_busy.capacity() * std::mem::size_of::<(u32, u64)>()
            + self.text.capacity()
            + match &self.name {
                RawTxnName::Owned(s) => s.capacity(),
                RawTxnName::Raw(_) => 0,
            }
            + self
                .attrs
                .iter()
                .map(|a| match &a.value {
                    RawValue::Value(AttrValue::Str(s)) => s.capacity(),
                    _ => 0,
                })
                .sum::<usize>()
            + self
                .errors
                .iter()
                .map(|(_, e)| e.kind.len() + e.message.len() + e.stack.len() + 32)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_step_stays_small() {
        assert_eq!(std::mem::size_of::<RawName>(), 16);
        assert!(std::mem::size_of::<RawStep>() <= 40);
    }

    #[test]
    fn names_and_texts_reuse_their_buffers_after_recycling() {
        let mut txn = RawTransaction::new();
        txn.set_name("GET /a long enough name");
        let Some(RawValue::Text { start, len }) = txn.push_text("/a") else {
            panic!("a text value");
        };
        assert_eq!(&txn.text[start as usize..(start + len) as usize], "/a");
        let Some(RawValue::Text { start, .. }) = txn.push_text("Zürich") else {
            panic!("a text value");
        };
        assert_eq!(start, 2);
        let (name_capacity, text_capacity) = match &txn.name {
            RawTxnName::Owned(s) => (s.capacity(), txn.text.capacity()),
            RawTxnName::Raw(_) => panic!("an owned name"),
        };
        txn.recycle(RECYCLED_STEPS);
        assert!(txn.text.is_empty());
        assert_eq!(txn.text.capacity(), text_capacity);
        txn.set_name("GET /b");
        match &txn.name {
            RawTxnName::Owned(s) => {
                assert_eq!(s, "GET /b");
                assert_eq!(s.capacity(), name_capacity, "the same buffer");
            }
            RawTxnName::Raw(_) => panic!("an owned name"),
        }
    }
}
