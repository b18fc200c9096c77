//! Work handed from a transaction to another thread (a thread pool, a
//! `CompletableFuture` stage, a virtual thread) recorded where it ran.
//!
//! The submitting thread takes a [`Fork`] of its open transaction
//! ([`fork`]): the trace, the span id of the step open at submission and
//! the name of the task. The worker thread begins a thread-local transaction
//! of its own from it ([`super::recorder::begin_fork`]), so its steps are
//! recorded at full speed with the worker's own clock reads, and when it
//! ends:
//! - if the submitting transaction has not been taken up by the collector
//!   yet, the finished fragment is left in the fork and merged into that
//!   transaction when the collector takes it: one step named after the task,
//!   under the step open at submission, with the worker's steps inside it
//!   (its true start and end, on the worker; cut to the transaction's end,
//!   saying by how much in [`END_CUT`], when the worker's bookkeeping
//!   finished just after it, as a `FutureTask` publishes its result before
//!   its runner returns; the collector waits up to
//!   `collector::awaiting::FORK_GRACE` for work still running when it takes
//!   the transaction up, so that this is not a race with it);
//! - otherwise (the work outlived it), the fragment goes to the collector as
//!   a transaction of its own in the same trace, whose parent is the step
//!   open at submission: a linked child. The parent then keeps its tree, so
//!   the link resolves.
//!
//! One lock per fork at the worker's end and on the collector thread;
//! nothing on the step path. A transaction takes at most [`MAX_FORKS`] forks; further
//! submissions run without context.

use parking_lot::Mutex;

use super::raw::{NO_STEP, RawAttr, RawName, RawStep, RawTransaction, RawValue};
use crate::model::{SpanId, StepKind, TraceId};

/// The attribute on a task step whose end was cut to its transaction's:
/// by how much (nanoseconds).
pub(crate) const END_CUT: &str = "osprey.end_cut_ns";

/// Forks one transaction hands out at most.
pub const MAX_FORKS: usize = 1024;

/// What became of the forked work so far.
#[derive(Debug)]
enum State {
    /// Submitted, not yet begun on a worker.
    Pending,
    /// Begun on a worker.
    Running,
    /// Ended while the submitting transaction was open: merged at its end.
    Done(Box<RawTransaction>),
    /// The submitting transaction ended first: the work is a transaction of
    /// its own when it ends.
    Orphan,
    /// Merged, or begun twice: nothing more to do.
    Closed,
}

/// Work of a transaction handed to another thread; see the module docs.
#[derive(Debug)]
pub struct Fork {
    pub(crate) trace_id: TraceId,
    /// The span id of the step open at submission (or of the transaction).
    pub(crate) parent_span_id: SpanId,
    /// The task's step name.
    pub(crate) name: RawName,
    state: Mutex<State>,
}

impl Fork {
    pub(crate) fn new(trace_id: TraceId, parent_span_id: SpanId, name: RawName) -> Self {
        Self {
            trace_id,
            parent_span_id,
            name,
            state: Mutex::new(State::Pending),
        }
    }

    /// Marks the work begun; false when it was begun before (a task run
    /// twice records only its first run).
    pub(crate) fn start(&self) -> bool {
        let mut state = self.state.lock();
        match *state {
            State::Pending => {
                *state = State::Running;
                true
            }
            State::Orphan => true,
            _ => false,
        }
    }

    /// The worker's fragment ended: kept for the submitting transaction
    /// (`None` returned), or given back when it must go to the collector on
    /// its own (the parent ended first).
    pub(crate) fn finish(&self, fragment: Box<RawTransaction>) -> Option<Box<RawTransaction>> {
        let mut state = self.state.lock();
        match *state {
            State::Running => {
                *state = State::Done(fragment);
                None
            }
            _ => {
                *state = State::Closed;
                Some(fragment)
            }
        }
    }

    /// Whether the work is running, or finished with work of its own still
    /// running: the submitting transaction may be waiting for its result
    /// (see [`busy`]).
    fn busy(&self) -> bool {
        match &*self.state.lock() {
            State::Running => true,
            State::Done(fragment) => busy(fragment),
            State::Pending | State::Orphan | State::Closed => false,
        }
    }

    /// The submitting transaction ends: the finished fragment to merge, or
    /// `None` (the work is still pending or running and is now an orphan).
    fn settle(&self) -> Option<Box<RawTransaction>> {
        let mut state = self.state.lock();
        match std::mem::replace(&mut *state, State::Closed) {
            State::Done(fragment) => Some(fragment),
            State::Pending | State::Running => {
                *state = State::Orphan;
                None
            }
            other => {
                *state = other;
                None
            }
        }
    }
}

/// Whether work `txn` handed to other threads is still running (also work
/// handed on by work that finished). A thread that waits for a task's
/// result can end its transaction before the task's runner has returned
/// (a `FutureTask` or a `CompletableFuture` stage publishes its result
/// first): the collector waits a little for such work before settling
/// (`collector::awaiting`). Work not begun yet is not waited for: nothing
/// in the transaction waited for it.
pub(crate) fn busy(txn: &RawTransaction) -> bool {
    txn.forks.iter().any(|(_, fork)| fork.busy())
}

/// Settles every fork of `txn`, which ended (on the collector thread): finished fragments become
/// its steps (with their own forks in turn), unfinished ones orphans (and
/// `txn` then keeps its tree, which they link to).
pub(crate) fn settle_all(txn: &mut RawTransaction) {
    while let Some((step, fork)) = txn.forks.pop() {
        match fork.settle() {
            Some(fragment) => merge(txn, step, fragment),
            None => txn.force_sample = true,
        }
    }
}

/// Appends `fragment` to `txn` as one step under `under` (the task, with the
/// fragment's span id) holding the fragment's steps; its attributes, errors,
/// text, span ids, deferred ends and forks come along, re-indexed. Steps past
/// `txn`'s cap are counted as dropped.
fn merge(txn: &mut RawTransaction, under: u32, mut fragment: Box<RawTransaction>) {
    let base = txn.steps.len();
    let room = (txn.max_steps as usize).saturating_sub(base);
    if room == 0 {
        txn.dropped_steps = txn
            .dropped_steps
            .saturating_add(1 + fragment.steps.len() as u32 + fragment.dropped_steps);
        return;
    }
    let kept = fragment.steps.len().min(room - 1);
    txn.dropped_steps = txn
        .dropped_steps
        .saturating_add((fragment.steps.len() - kept) as u32 + fragment.dropped_steps);
    let task_name = match &fragment.name {
        super::raw::RawTxnName::Raw(name) => *name,
        super::raw::RawTxnName::Owned(_) => RawName::Static("task"),
    };
    let under = if (under as usize) < base {
        under
    } else {
        NO_STEP
    };
    // Ends past the transaction's (the worker's last bookkeeping) are cut.
    let limit = if txn.end == 0 { u64::MAX } else { txn.end };
    txn.steps.push(RawStep {
        start: fragment.start.min(limit),
        end: fragment.end.max(fragment.start).min(limit),
        name: task_name,
        parent: under,
        kind: StepKind::Method,
        repaired: fragment.repaired,
    });
    let at = |i: u32| -> Option<u32> {
        if i == NO_STEP {
            Some(base as u32)
        } else if (i as usize) < kept {
            Some((base + 1) as u32 + i)
        } else {
            None
        }
    };
    if fragment.end > limit && txn.has_attr_room() {
        // Said, not hidden: how much of the task's end was cut.
        txn.attrs.push(RawAttr {
            step: base as u32,
            key: RawName::Static(END_CUT),
            value: RawValue::Ticks(fragment.end - limit),
        });
    }
    for s in fragment.steps.drain(..kept) {
        txn.steps.push(RawStep {
            parent: at(s.parent).unwrap_or(base as u32),
            start: s.start.min(limit),
            end: s.end.min(limit),
            ..s
        });
    }
    let text_base = txn.text.len();
    let text_fits = u32::try_from(text_base + fragment.text.len()).is_ok();
    if text_fits {
        txn.text.push_str(&fragment.text);
    }
    for attr in fragment.attrs.drain(..) {
        if !txn.has_attr_room() {
            break;
        }
        let Some(step) = at(attr.step) else { continue };
        let value = match attr.value {
            RawValue::Text { start, len } if text_fits => RawValue::Text {
                start: start + text_base as u32,
                len,
            },
            RawValue::Text { .. } => continue,
            other => other,
        };
        txn.attrs.push(RawAttr {
            step,
            key: attr.key,
            value,
        });
    }
    for (step, error) in fragment.errors.drain(..) {
        if !txn.has_attr_room() {
            break;
        }
        if let Some(step) = at(step) {
            txn.errors.push((step, error));
        }
    }
    txn.assigned_span_ids.push((base as u32, fragment.span_id));
    for (step, id) in fragment.assigned_span_ids.drain(..) {
        if let Some(step) = at(step).filter(|s| *s != base as u32) {
            txn.assigned_span_ids.push((step, id));
        }
    }
    for (step, end) in fragment.deferred.drain(..) {
        if let Some(step) = at(step).filter(|s| *s != base as u32) {
            txn.deferred.push((step, end));
        }
    }
    // The fragment's own forks now hang on this transaction: settled by the
    // loop in `settle_all`.
    for (step, fork) in fragment.forks.drain(..) {
        txn.forks.push((at(step).unwrap_or(base as u32), fork));
    }
    txn.force_sample |= fragment.force_sample;
}

/// A fork of a made-up transaction, for tests.
#[cfg(test)]
pub(crate) fn new_fork() -> std::sync::Arc<Fork> {
    std::sync::Arc::new(Fork::new(
        TraceId([1; 16]),
        SpanId([2; 8]),
        RawName::Static("t"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::raw::RawTxnName;
    use crate::model::{AttrValue, ErrorInfo};

    fn step(start: u64, end: u64, parent: u32) -> RawStep {
        RawStep {
            start,
            end,
            name: RawName::Static("s"),
            parent,
            kind: StepKind::Sql,
            repaired: false,
        }
    }

    fn fragment() -> Box<RawTransaction> {
        let mut f = Box::new(RawTransaction::new());
        f.name = RawTxnName::Raw(RawName::Static("task"));
        f.span_id = SpanId([9; 8]);
        f.start = 20;
        f.end = 60;
        f.steps.push(step(25, 50, NO_STEP));
        f.steps.push(step(30, 40, 0));
        let text = f.push_text("pool-1").unwrap();
        f.attrs.push(RawAttr {
            step: NO_STEP,
            key: RawName::Static("thread.name"),
            value: text,
        });
        f.attrs.push(RawAttr {
            step: 1,
            key: RawName::Static("rows"),
            value: RawValue::Value(AttrValue::Int(3)),
        });
        f.errors.push((NO_STEP, ErrorInfo::default()));
        f.assigned_span_ids.push((1, SpanId([7; 8])));
        f
    }

    #[test]
    fn a_finished_fragment_becomes_a_task_step_under_the_submitting_step() {
        let fork = new_fork();
        assert!(fork.start());
        assert!(!fork.start(), "a second run is not recorded");
        assert!(fork.finish(fragment()).is_none(), "kept for the parent");
        let mut txn = RawTransaction::new();
        txn.steps.push(step(10, 90, NO_STEP));
        txn.push_text("GET /x").unwrap();
        txn.forks.push((0, fork.clone()));
        settle_all(&mut txn);
        assert!(txn.forks.is_empty());
        let parents: Vec<u32> = txn.steps.iter().map(|s| s.parent).collect();
        assert_eq!(parents, [NO_STEP, 0, 1, 2]);
        assert_eq!((txn.steps[1].start, txn.steps[1].end), (20, 60));
        // The fragment's own attribute and error are the task step's.
        let thread = txn.attrs.iter().find(|a| a.step == 1).unwrap();
        let RawValue::Text { start, len } = thread.value else {
            panic!("text")
        };
        assert_eq!(&txn.text[start as usize..(start + len) as usize], "pool-1");
        assert!(txn.attrs.iter().any(|a| a.step == 3));
        assert_eq!(txn.errors[0].0, 1);
        // Span ids handed out on the worker stay those of the exported steps.
        assert!(txn.assigned_span_ids.contains(&(1, SpanId([9; 8]))));
        assert!(txn.assigned_span_ids.contains(&(3, SpanId([7; 8]))));
        assert!(!txn.force_sample);
        // Settled: a late second finish goes to the collector on its own.
        assert!(fork.finish(fragment()).is_some());
    }

    #[test]
    fn a_task_ending_just_after_its_transaction_is_cut_to_it_and_says_by_how_much() {
        let fork = new_fork();
        assert!(fork.start());
        assert!(fork.finish(fragment()).is_none());
        let mut txn = RawTransaction::new();
        txn.start = 10;
        txn.end = 45;
        txn.forks.push((NO_STEP, fork));
        settle_all(&mut txn);
        let ends: Vec<u64> = txn.steps.iter().map(|s| s.end).collect();
        assert_eq!(ends, [45, 45, 40], "the task and its first step cut");
        let cut = txn
            .attrs
            .iter()
            .find(|a| matches!(a.key, RawName::Static(k) if k == END_CUT));
        assert!(
            matches!(
                cut,
                Some(RawAttr {
                    step: 0,
                    value: RawValue::Ticks(15),
                    ..
                })
            ),
            "{cut:?}"
        );
    }

    #[test]
    fn work_outliving_its_parent_is_an_orphan_and_the_parent_keeps_its_tree() {
        let fork = new_fork();
        let mut txn = RawTransaction::new();
        txn.forks.push((NO_STEP, fork.clone()));
        settle_all(&mut txn);
        assert!(txn.force_sample, "the child links to it");
        assert!(txn.steps.is_empty());
        assert!(fork.start(), "an orphan still runs");
        assert!(fork.finish(fragment()).is_some(), "to the collector");
    }

    #[test]
    fn merging_respects_the_step_cap_and_counts_what_it_drops() {
        let fork = new_fork();
        fork.start();
        fork.finish(fragment());
        let mut txn = RawTransaction::new();
        txn.max_steps = 2;
        txn.steps.push(step(10, 90, NO_STEP));
        txn.forks.push((0, fork));
        settle_all(&mut txn);
        assert_eq!(txn.steps.len(), 2, "the task step only");
        assert_eq!(txn.dropped_steps, 2);
        assert!(txn.attrs.iter().all(|a| (a.step as usize) < 2));
        assert!(txn.assigned_span_ids.iter().all(|(s, _)| *s < 2));
    }
}
