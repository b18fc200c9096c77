//! Turns a raw, tick-stamped transaction into a [`TransactionRecord`]:
//! interns names, converts ticks to nanoseconds and UNIX time, computes
//! depths, attaches attributes and errors, assigns step span ids.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::spare::Spare;
use crate::clock::Calibration;
use crate::local::raw::{NO_STEP, RawName, RawStep, RawTransaction, RawTxnName, RawValue};
use crate::model::{
    self, AttrValue, Attribute, ExportBatch, SpanId, StepKind, StepRecord, TransactionRecord,
};
use crate::names::{self, NameId, NameKind};
use crate::rng::Rng;

/// Hashes `'static` string addresses: one multiply per word, no SipHash
/// (the keys are pointers, not attacker-chosen data).
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Converter state owned by the collector thread.
pub(crate) struct Converter {
    calibration: Calibration,
    static_names: HashMap<(usize, usize), NameId, BuildHasherDefault<AddressHasher>>,
    /// The last static name looked up: steps often repeat one name.
    last_static: Option<(usize, usize, NameId)>,
    /// The transaction's deferred step ends, read once by [`Self::facts`]
    /// and applied by [`Self::convert`]: (step, end ticks, status, error).
    outcomes: Vec<(usize, Option<DeferredOutcome>)>,
    /// Vectors of spent records, for the next ones.
    spare: Spare,
}

/// A completed deferred end: end ticks, HTTP status, error.
type DeferredOutcome = (u64, i64, Option<model::ErrorInfo>);

impl Converter {
    pub fn new() -> Self {
        Self {
            calibration: Calibration::new(),
            static_names: HashMap::default(),
            last_static: None,
            outcomes: Vec::new(),
            spare: Spare::default(),
        }
    }

    /// Keeps the vectors of a batch the exporters are done with for the
    /// next records (see [`Spare`]), freeing the rest.
    pub fn reclaim(&mut self, batch: ExportBatch) {
        self.spare.reclaim(batch);
    }

    /// Interns a raw name, caching `'static` strings by address.
    fn name(&mut self, raw: RawName) -> NameId {
        match raw {
            RawName::Id(id) => id,
            RawName::Static(s) => {
                let key = (s.as_ptr() as usize, s.len());
                if let Some((p, l, id)) = self.last_static
                    && (p, l) == key
                {
                    return id;
                }
                let id = *self
                    .static_names
                    .entry(key)
                    .or_insert_with(|| names::intern(s));
                self.last_static = Some((key.0, key.1, id));
                id
            }
        }
    }

    /// Start, elapsed time and failure of a raw transaction: what the
    /// sampler decides on before anything is converted. Takes its deferred
    /// ends' outcomes as they are now, so that the decision and the record
    /// see the same ones; call [`Self::convert`] next.
    pub fn facts(&mut self, raw: &mut RawTransaction) -> TreeFacts {
        let start_unix_ns = self.calibration.unix_ns(raw.start);
        let elapsed_ns = self.calibration.duration_ns(raw.start, raw.end);
        self.outcomes.clear();
        self.outcomes.extend(
            raw.deferred
                .drain(..)
                .map(|(index, end)| (index as usize, end.outcome())),
        );
        let deferred_failed = self
            .outcomes
            .iter()
            .any(|(_, o)| o.as_ref().is_some_and(|(_, _, e)| e.is_some()));
        TreeFacts {
            start_unix_ns,
            elapsed_ns,
            failed: !raw.errors.is_empty() || deferred_failed,
        }
    }

    /// Drops what [`Self::facts`] read of a transaction that will not be
    /// converted.
    pub fn forget(&mut self) {
        self.outcomes.clear();
    }

    /// Re-derives the tick rate if it is old (cheap otherwise); called once
    /// per collector wake-up rather than per transaction.
    pub fn refresh(&mut self) {
        self.calibration.refresh();
    }

    /// Builds the record; the raw buffers are left for recycling. Without
    /// `tree` only the transaction and its counts are built.
    pub fn convert(
        &mut self,
        raw: &mut RawTransaction,
        facts: &TreeFacts,
        tree: bool,
        rng: &mut Rng,
    ) -> TransactionRecord {
        let TreeFacts {
            start_unix_ns,
            elapsed_ns,
            ..
        } = *facts;
        // Read by `facts`; the buffer goes back to `self` at the end.
        let mut deferred = std::mem::take(&mut self.outcomes);
        let outcome = |i: usize| {
            deferred
                .iter()
                .find(|(index, _)| *index == i)
                .map(|(_, outcome)| outcome)
        };
        let step_elapsed = |cal: &mut Calibration, i: usize, s: &RawStep| match outcome(i) {
            Some(Some((end, _, _))) => cal.duration_ns(s.start, *end),
            _ => cal.duration_ns(s.start, s.end),
        };
        let totals = call_totals(&raw.steps, |i| {
            step_elapsed(&mut self.calibration, i, &raw.steps[i])
        });
        // Sized once: the transaction's own attributes, the call totals, CPU
        // time and an overflowing name; none, no allocation.
        let own = raw
            .attrs
            .iter()
            .filter(|a| a.step as usize >= raw.steps.len())
            .count();
        let total_attrs = 2 * totals.iter().filter(|(count, _)| *count > 0).count();
        let cpu_attr = usize::from(raw.cpu_ns > 0);
        let name_attr = usize::from(matches!(raw.name, RawTxnName::Owned(_)));
        let mut attributes = self
            .spare
            .attributes(own + total_attrs + cpu_attr + name_attr);

        // Without the tree no step is built; none has failed (a failure keeps
        // the tree, as does a span id handed downstream).
        let kept_steps = if tree { raw.steps.len() } else { 0 };
        let mut steps: Vec<StepRecord> = self.spare.steps(kept_steps);
        for (i, s) in raw.steps.iter().enumerate().take(kept_steps) {
            let (parent, depth) = match s.parent {
                NO_STEP => (None, 1),
                p => (Some(p), steps[p as usize].depth.saturating_add(1)),
            };
            let span_id = raw
                .assigned_span_ids
                .iter()
                .find(|(idx, _)| *idx as usize == i)
                .map(|(_, id)| *id)
                .unwrap_or_else(|| SpanId(rng.next_nonzero().to_le_bytes()));
            steps.push(StepRecord {
                span_id,
                parent,
                depth,
                kind: s.kind,
                name: self.name(s.name),
                start_offset_ns: self.calibration.duration_ns(raw.start, s.start),
                elapsed_ns: step_elapsed(&mut self.calibration, i, s),
                busy_ns: None,
                error: None,
                attributes: Vec::new(),
                repaired: s.repaired,
            });
        }
        for (i, busy) in raw.step_busy.drain(..) {
            if let Some(step) = steps.get_mut(i as usize) {
                step.busy_ns = Some(self.calibration.duration_ns(0, busy));
            }
        }
        for attr in raw.attrs.drain(..) {
            let on_step = (attr.step as usize) < raw.steps.len();
            if on_step && !tree {
                continue;
            }
            let value = match attr.value {
                RawValue::Value(v) => v,
                RawValue::Name(id) => AttrValue::Str(names::resolve(id).to_string()),
                RawValue::Ticks(ticks) => AttrValue::Int(
                    i64::try_from(self.calibration.duration_ns(0, ticks)).unwrap_or(i64::MAX),
                ),
                RawValue::Text { start, len } => {
                    let start = start as usize;
                    AttrValue::Str(
                        raw.text
                            .get(start..start + len as usize)
                            .unwrap_or_default()
                            .to_owned(),
                    )
                }
            };
            let a = Attribute {
                key: self.name(attr.key),
                value,
            };
            match steps.get_mut(attr.step as usize) {
                Some(step) => self.spare.push(&mut step.attributes, a),
                None => attributes.push(a),
            }
        }
        let mut error = None;
        for (step, e) in raw.errors.drain(..) {
            match steps.get_mut(step as usize) {
                Some(s) => s.error = Some(Box::new(e)),
                None if (step as usize) < raw.steps.len() => {} // not built
                None => error = Some(e),
            }
        }
        for (i, outcome) in deferred.drain(..) {
            let Some(step) = steps.get_mut(i) else {
                continue;
            };
            match outcome {
                Some((_, status, e)) => {
                    if status > 0 {
                        let status = Attribute {
                            key: self.name(RawName::Static(model::ATTR_HTTP_STATUS)),
                            value: AttrValue::Int(status),
                        };
                        self.spare.push(&mut step.attributes, status);
                    }
                    if let Some(e) = e {
                        step.error = Some(Box::new(e));
                    }
                }
                None => {
                    let incomplete = Attribute {
                        key: self.name(RawName::Static(model::ATTR_INCOMPLETE)),
                        value: AttrValue::Bool(true),
                    };
                    self.spare.push(&mut step.attributes, incomplete);
                }
            }
        }
        for ((count, total_ns), (count_key, time_key)) in totals.into_iter().zip(TOTAL_KEYS) {
            if count > 0 {
                attributes.push(Attribute {
                    key: self.name(RawName::Static(count_key)),
                    value: AttrValue::Int(count),
                });
                attributes.push(Attribute {
                    key: self.name(RawName::Static(time_key)),
                    value: AttrValue::Float(total_ns as f64 / 1e6),
                });
            }
        }
        if raw.cpu_ns > 0 {
            attributes.push(Attribute {
                key: self.name(RawName::Static(model::ATTR_CPU_TIME_MS)),
                value: AttrValue::Float(raw.cpu_ns as f64 / 1e6),
            });
        }
        self.outcomes = deferred; // emptied by the drain above, kept for its capacity
        // The name's buffer stays with `raw`, for the next transaction.
        let name = match &raw.name {
            RawTxnName::Raw(r) => self.name(*r),
            RawTxnName::Owned(s) => {
                let id = names::intern_as(s, NameKind::Endpoint);
                if names::is_overflow(id) {
                    // Past the endpoints' budget the name travels with the
                    // transaction, sanitised as it would have been interned.
                    attributes.push(Attribute {
                        key: self.name(RawName::Static(NameKind::Endpoint.overflow_key())),
                        value: AttrValue::Str(names::clean(s, NameKind::Endpoint).into_owned()),
                    });
                }
                id
            }
        };
        TransactionRecord {
            trace_id: raw.trace_id,
            span_id: raw.span_id,
            parent_span_id: raw.parent_span_id,
            kind: raw.kind,
            name,
            start_unix_ns,
            elapsed_ns,
            busy_ns: raw.busy.map(|ticks| self.calibration.duration_ns(0, ticks)),
            error,
            attributes,
            steps,
            dropped_steps: raw.dropped_steps,
            repaired: raw.repaired,
            sampled: tree,
            thread_id: raw.thread_id,
        }
    }
}

/// What the sampler decides on, known before anything is converted.
#[derive(Clone, Copy)]
pub(crate) struct TreeFacts {
    pub start_unix_ns: u64,
    pub elapsed_ns: u64,
    /// The transaction or one of its steps failed.
    pub failed: bool,
}

impl TreeFacts {
    /// When the transaction ended.
    pub fn end_unix_ns(&self) -> u64 {
        self.start_unix_ns.saturating_add(self.elapsed_ns)
    }
}

/// Keys of the SQL and outgoing-call totals, in [`call_totals`]' order.
const TOTAL_KEYS: [(&str, &str); 2] = [
    (model::ATTR_SQL_COUNT, model::ATTR_SQL_TIME_MS),
    (model::ATTR_HTTP_CALL_COUNT, model::ATTR_HTTP_CALL_TIME_MS),
];

/// Count and total nanoseconds of the SQL steps and of the outgoing calls,
/// each counting only steps not nested in a step of the same kind (a
/// statement run inside another statement's driver call counts once).
/// `elapsed_ns(i)` is step `i`'s duration.
fn call_totals(steps: &[RawStep], mut elapsed_ns: impl FnMut(usize) -> u64) -> [(i64, u64); 2] {
    let mut totals = [(0i64, 0u64); 2];
    for (i, step) in steps.iter().enumerate() {
        let slot = match step.kind {
            StepKind::Sql => 0,
            StepKind::HttpCall => 1,
            _ => continue,
        };
        let nested = steps
            .get(step.parent as usize)
            .is_some_and(|p| p.kind == step.kind);
        if !nested {
            totals[slot].0 += 1;
            totals[slot].1 = totals[slot].1.saturating_add(elapsed_ns(i));
        }
    }
    totals
}
