//! Turns a raw, tick-stamped transaction into a [`TransactionRecord`]:
//! interns names, converts ticks to nanoseconds and UNIX time, computes
//! depths, attaches attributes and errors, assigns step span ids.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::clock::Calibration;
use crate::local::raw::{NO_STEP, RawName, RawTransaction, RawTxnName, RawValue};
use crate::model::{self, AttrValue, Attribute, SpanId, StepKind, StepRecord, TransactionRecord};
use crate::names::{self, NameId};
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
}

impl Converter {
    pub fn new() -> Self {
        Self {
            calibration: Calibration::new(),
            static_names: HashMap::default(),
            last_static: None,
        }
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

    /// Adds the transaction's SQL and outgoing-call counts and total times
    /// (the steps of that kind not nested in another of the same kind), so
    /// that they survive when sampling drops the tree.
    fn summarise(&mut self, steps: &[StepRecord], attributes: &mut Vec<Attribute>) {
        for (kind, count_key, time_key) in [
            (
                StepKind::Sql,
                model::ATTR_SQL_COUNT,
                model::ATTR_SQL_TIME_MS,
            ),
            (
                StepKind::HttpCall,
                model::ATTR_HTTP_CALL_COUNT,
                model::ATTR_HTTP_CALL_TIME_MS,
            ),
        ] {
            let (mut count, mut total_ns) = (0i64, 0u64);
            for step in steps.iter().filter(|s| s.kind == kind) {
                let nested = step.parent.is_some_and(|p| steps[p as usize].kind == kind);
                if !nested {
                    count += 1;
                    total_ns = total_ns.saturating_add(step.elapsed_ns);
                }
            }
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
    }

    /// Re-derives the tick rate if it is old (cheap otherwise); called once
    /// per collector wake-up rather than per transaction.
    pub fn refresh(&mut self) {
        self.calibration.refresh();
    }

    /// Builds the record; the raw buffers are left for recycling.
    pub fn convert(&mut self, raw: &mut RawTransaction, rng: &mut Rng) -> TransactionRecord {
        let cal = &mut self.calibration;
        let start_unix_ns = cal.unix_ns(raw.start);
        let elapsed_ns = cal.duration_ns(raw.start, raw.end);
        let mut steps: Vec<StepRecord> = Vec::with_capacity(raw.steps.len());
        for (i, s) in raw.steps.iter().enumerate() {
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
                name: NameId(0), // set below, after the calibration borrow
                start_offset_ns: cal.duration_ns(raw.start, s.start),
                elapsed_ns: cal.duration_ns(s.start, s.end),
                error: None,
                attributes: Vec::new(),
                repaired: s.repaired,
            });
        }
        for (record, raw_step) in steps.iter_mut().zip(&raw.steps) {
            record.name = self.name(raw_step.name);
        }
        let mut attributes = Vec::new();
        for attr in raw.attrs.drain(..) {
            let value = match attr.value {
                RawValue::Value(v) => v,
                RawValue::Name(id) => AttrValue::Str(names::resolve(id).to_string()),
            };
            let a = Attribute {
                key: self.name(attr.key),
                value,
            };
            match steps.get_mut(attr.step as usize) {
                Some(step) => step.attributes.push(a),
                None => attributes.push(a),
            }
        }
        let mut error = None;
        for (step, e) in raw.errors.drain(..) {
            match steps.get_mut(step as usize) {
                Some(s) => s.error = Some(Box::new(e)),
                None => error = Some(e),
            }
        }
        for (index, end) in raw.deferred.drain(..) {
            let (Some(step), Some(raw_step)) =
                (steps.get_mut(index as usize), raw.steps.get(index as usize))
            else {
                continue;
            };
            match end.outcome() {
                Some((end_ticks, status, error)) => {
                    step.elapsed_ns = self.calibration.duration_ns(raw_step.start, end_ticks);
                    if status > 0 {
                        step.attributes.push(Attribute {
                            key: self.name(RawName::Static(model::ATTR_HTTP_STATUS)),
                            value: AttrValue::Int(status),
                        });
                    }
                    if let Some(e) = error {
                        step.error = Some(Box::new(e));
                    }
                }
                None => step.attributes.push(Attribute {
                    key: self.name(RawName::Static(model::ATTR_INCOMPLETE)),
                    value: AttrValue::Bool(true),
                }),
            }
        }
        self.summarise(&steps, &mut attributes);
        if raw.cpu_ns > 0 {
            attributes.push(Attribute {
                key: self.name(RawName::Static(model::ATTR_CPU_TIME_MS)),
                value: AttrValue::Float(raw.cpu_ns as f64 / 1e6),
            });
        }
        let name = match std::mem::replace(&mut raw.name, RawTxnName::Owned(String::new())) {
            RawTxnName::Raw(r) => self.name(r),
            RawTxnName::Owned(s) => names::intern(&s),
        };
        TransactionRecord {
            trace_id: raw.trace_id,
            span_id: raw.span_id,
            parent_span_id: raw.parent_span_id,
            kind: raw.kind,
            name,
            start_unix_ns,
            elapsed_ns,
            error,
            attributes,
            steps,
            dropped_steps: raw.dropped_steps,
            repaired: raw.repaired,
            sampled: true,
            thread_id: raw.thread_id,
        }
    }
}
