//! The per-thread recorder. Everything here runs on the application's
//! threads: no locks, no atomic read-modify-write and no allocation on step
//! enter/exit, only a clock read and a push into a reused buffer.

use std::cell::{Cell, UnsafeCell};
use std::sync::Arc;

use super::deferred::DeferredEnd;
use super::fork::{Fork, MAX_FORKS};
use super::raw::{
    NO_STEP, RECYCLED_STEPS, RawAttr, RawName, RawStep, RawTransaction, RawTxnName, RawValue,
};
use super::shared::{EndedTxn, SharedTxn};
use super::stash::Stash;
use crate::clock;
use crate::collector::handoff::{self, Handoff, Queued};
use crate::model::{AttrValue, ErrorInfo, SpanId, SpanKind, StepKind, TraceId};
use crate::names::NameId;
use crate::propagation::RemoteParent;
use crate::rng::Rng;

/// Attributes plus errors kept per transaction; more are ignored, so a
/// loop setting attributes cannot grow the application's heap without bound.
pub(crate) const MAX_ATTRS: usize = 1024;

/// Why a transaction could not begin or end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// `init` was not called, or `shutdown` already ran.
    NotRunning,
    /// This thread already has an open transaction.
    AlreadyActive,
    /// This thread has no open transaction.
    NoTransaction,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NotRunning => "osprey is not running (init was not called, or shutdown ran)",
            Self::AlreadyActive => "this thread already has an open transaction",
            Self::NoTransaction => "this thread has no open transaction",
        })
    }
}

impl std::error::Error for RecordError {}

/// What happened to a transaction handed to the collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handover {
    /// Queued for the collector.
    Queued,
    /// Dropped (queue full, memory budget reached or collector gone), counted.
    Dropped,
}

/// Identifies a step for its guard: the transaction sequence number on this
/// thread and the step index within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StepToken {
    pub seq: u32,
    pub index: u32,
}

impl StepToken {
    pub const NONE: Self = Self {
        seq: 0,
        index: NO_STEP,
    };
}

/// Per-thread state used at transaction begin and end (not on the step path).
struct LocalRecorder {
    spare: Option<Box<RawTransaction>>,
    link: Option<Link>,
    seq: u32,
    rng: Rng,
    thread_id: u64,
}

impl Drop for LocalRecorder {
    fn drop(&mut self) {
        // The open transaction dies with the thread.
        if let Ok(ptr) = ACTIVE.try_with(|a| a.replace(std::ptr::null_mut()))
            && !ptr.is_null()
        {
            // SAFETY: a non-null `ACTIVE` came from `Box::into_raw` and is
            // owned by this thread alone.
            drop(unsafe { Box::from_raw(ptr) });
        }
    }
}

thread_local! {
    /// The open transaction, owned through this pointer (`Box::into_raw` at
    /// begin, `Box::from_raw` at end or thread exit). A plain pointer in a
    /// destructor-free thread-local, so the step path is one TLS load.
    static ACTIVE: Cell<*mut RawTransaction> = const { Cell::new(std::ptr::null_mut()) };

    static LOCAL: UnsafeCell<LocalRecorder> = const {
        UnsafeCell::new(LocalRecorder {
            spare: None,
            link: None,
            seq: 0,
            rng: Rng::UNSEEDED,
            thread_id: 0,
        })
    };
}

/// Runs `f` on this thread's open transaction, if any.
#[inline(always)]
fn with_active<R>(default: R, f: impl FnOnce(&mut RawTransaction) -> R) -> R {
    let ptr = ACTIVE.with(Cell::get);
    if ptr.is_null() {
        return default;
    }
    // SAFETY: a non-null `ACTIVE` is the only pointer to a live boxed
    // transaction owned by this thread; it is cleared before the box is
    // reclaimed, and `f` does not re-enter this module.
    f(unsafe { &mut *ptr })
}

/// Runs `f` on this thread's recorder. `f` never calls back into this module,
/// so the mutable borrow is unique. During thread teardown nothing is recorded.
fn with_local<R>(default: R, f: impl FnOnce(&mut LocalRecorder) -> R) -> R {
    LOCAL
        .try_with(|cell| {
            // SAFETY: the cell is thread-local and `f` does not re-enter.
            f(unsafe { &mut *cell.get() })
        })
        .unwrap_or(default)
}

/// Enters a step of the current transaction; a no-op when none is open.
#[inline]
pub(crate) fn enter(name: RawName, kind: StepKind) -> StepToken {
    with_active(StepToken::NONE, |txn| StepToken {
        seq: txn.seq,
        index: txn.enter(name, kind),
    })
}

/// Exits the innermost open step.
#[inline]
pub(crate) fn exit() {
    with_active((), |txn| txn.exit(clock::now()))
}

/// Exits the step `token` names, repairing inner steps left open.
#[inline]
pub(crate) fn exit_step(token: StepToken) {
    with_active((), |txn| {
        if token.seq == txn.seq {
            txn.exit_index(token.index);
        }
    })
}

/// This thread's open transaction, told apart from every other one open
/// at the same time (the thread, by its `ACTIVE` slot's address, and the
/// transaction's sequence number); `None` when none is open. For the
/// `tracing` layer.
#[cfg(feature = "layer")]
pub(crate) fn active_txn() -> Option<ActiveTxn> {
    let thread = ACTIVE.with(|a| std::ptr::from_ref(a) as usize);
    with_active(None, |txn| {
        Some(ActiveTxn {
            thread,
            seq: txn.seq,
        })
    })
}

/// See [`active_txn`].
#[cfg(feature = "layer")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ActiveTxn {
    thread: usize,
    seq: u32,
}

#[cfg(feature = "layer")]
impl ActiveTxn {
    /// True when it is (or was) open on this thread.
    pub(crate) fn is_here(&self) -> bool {
        self.thread == ACTIVE.with(|a| std::ptr::from_ref(a) as usize)
    }
}

/// True when this thread has an open transaction.
#[inline]
pub(crate) fn is_active() -> bool {
    !ACTIVE.with(Cell::get).is_null()
}

/// Takes this thread's open transaction off the thread (to park it).
pub(crate) fn take_active() -> Option<Box<RawTransaction>> {
    let ptr = ACTIVE
        .try_with(|a| a.replace(std::ptr::null_mut()))
        .unwrap_or(std::ptr::null_mut());
    // SAFETY: a non-null `ACTIVE` came from `Box::into_raw` and was just
    // cleared, so this is the only owner.
    (!ptr.is_null()).then(|| unsafe { Box::from_raw(ptr) })
}

/// Makes `txn` this thread's open transaction; returns the one it replaces.
/// During thread teardown `txn` is dropped.
pub(crate) fn replace_active(txn: Box<RawTransaction>) -> Option<Box<RawTransaction>> {
    let previous = take_active();
    let ptr = Box::into_raw(txn);
    if ACTIVE.try_with(|a| a.set(ptr)).is_err() {
        // SAFETY: `ptr` was never stored, so this is still the only owner.
        drop(unsafe { Box::from_raw(ptr) });
    }
    previous
}

/// How [`begin`] names a transaction.
pub(crate) enum NewName<'a> {
    /// A static or pre-interned name.
    Raw(RawName),
    /// A name already in a `String` of its own.
    Owned(String),
    /// A name copied into the transaction buffer's own (reused) `String`.
    Copied(&'a str),
}

/// Begins a transaction on this thread; returns its sequence number, which
/// [`end_seq`] checks.
pub(crate) fn begin(
    name: NewName<'_>,
    kind: SpanKind,
    remote: Option<RemoteParent>,
) -> Result<u32, RecordError> {
    with_local(Err(RecordError::NotRunning), |l| {
        l.begin(name, kind, remote)
    })
}

/// Ends this thread's transaction and hands it to the collector.
pub(crate) fn end() -> Result<Handover, RecordError> {
    with_local(Err(RecordError::NoTransaction), LocalRecorder::end)
}

/// Ends this thread's transaction only if it is the one `begin` numbered
/// `seq` (a guard outliving its transaction must not end the next one).
pub(crate) fn end_seq(seq: u32) -> Result<Handover, RecordError> {
    if with_active(0, |txn| txn.seq) != seq {
        return Err(RecordError::NoTransaction);
    }
    end()
}

/// Adds an attribute to the step `token` (or the innermost open step when
/// `token` is [`StepToken::NONE`] with `to_transaction` false), or to the
/// transaction.
pub(crate) fn set_attr(target: Target, key: RawName, value: AttrValue) -> Result<(), RecordError> {
    push_attr(target, key, |_| {
        let mut value = value;
        crate::capped::cap_value(&key, &mut value);
        Some(RawValue::Value(value))
    })
}

/// As [`set_attr`] with a string value, copied into the transaction's text
/// buffer: no allocation once that buffer has grown.
pub(crate) fn set_attr_text(target: Target, key: RawName, value: &str) -> Result<(), RecordError> {
    let value = crate::capped::clean_oversized(&key, value);
    push_attr(target, key, |txn| txn.push_text(&value))
}

/// As [`set_attr`], with a string value given as an interned name: the
/// collector resolves it, so this copies and allocates nothing.
pub(crate) fn set_attr_name(
    target: Target,
    key: RawName,
    value: NameId,
) -> Result<(), RecordError> {
    push_attr(target, key, |_| Some(RawValue::Name(value)))
}

/// Adds the attribute `value` makes (from the open transaction, `None` to
/// leave it out) when its step was recorded and the cap is not reached.
fn push_attr(
    target: Target,
    key: RawName,
    value: impl FnOnce(&mut RawTransaction) -> Option<RawValue>,
) -> Result<(), RecordError> {
    with_active(Err(RecordError::NoTransaction), |txn| {
        if let Some(step) = target.resolve(txn)
            && txn.has_attr_room()
            && let Some(value) = value(txn)
        {
            txn.attrs.push(RawAttr { step, key, value });
        }
        Ok(())
    })
}

/// Records an error on a step or the transaction.
pub(crate) fn set_error(target: Target, mut error: ErrorInfo) -> Result<(), RecordError> {
    with_active(Err(RecordError::NoTransaction), |txn| {
        if let Some(step) = target.resolve(txn)
            && txn.has_attr_room()
        {
            crate::capped::cap_error(&mut error);
            txn.errors.push((step, error));
        }
        Ok(())
    })
}

/// Renames the open transaction (a servlet learns its route late), reusing
/// its name's buffer.
pub(crate) fn rename(name: &str) -> Result<(), RecordError> {
    with_active(Err(RecordError::NoTransaction), |txn| {
        txn.set_name(name);
        Ok(())
    })
}

/// The trace id and the span id an outgoing call should name as its parent:
/// the innermost open step's (assigned now) or the transaction's.
pub(crate) fn current_context() -> Option<(TraceId, SpanId, bool)> {
    with_local(None, |l| {
        with_active(None, |txn| {
            // A trace that continues elsewhere must keep its tree here too.
            txn.force_sample = true;
            Some((txn.trace_id, current_span(txn, &mut l.rng), true))
        })
    })
}

/// The trace id and the innermost open step's span id (assigned now, so it
/// is the id the step is exported with), or the transaction's: for log
/// lines. Unlike [`current_context`] it does not make the trace keep its
/// tree: a log line is not a downstream span.
pub(crate) fn current_ids() -> Option<(TraceId, SpanId)> {
    with_local(None, |l| {
        with_active(None, |txn| {
            Some((txn.trace_id, current_span(txn, &mut l.rng)))
        })
    })
}

/// The span id of `txn`'s innermost open step (assigned now when it has
/// none yet), or the transaction's when none is open.
fn current_span(txn: &mut RawTransaction, rng: &mut Rng) -> SpanId {
    if txn.current == NO_STEP {
        return txn.span_id;
    }
    let current = txn.current;
    match txn.assigned_span_ids.iter().find(|(s, _)| *s == current) {
        Some((_, id)) => *id,
        None => {
            let id = SpanId(rng.next_nonzero().to_le_bytes());
            txn.assigned_span_ids.push((current, id));
            id
        }
    }
}

/// Hands work to another thread: a [`Fork`] of this thread's open
/// transaction under its innermost open step, for the worker's
/// [`begin_fork`]. `None` without a transaction or past [`MAX_FORKS`].
pub(crate) fn fork(name: RawName) -> Option<Arc<Fork>> {
    with_local(None, |l| {
        with_active(None, |txn| {
            if txn.forks.len() >= MAX_FORKS {
                return None;
            }
            let span = current_span(txn, &mut l.rng);
            let fork = Arc::new(Fork::new(txn.trace_id, span, name));
            txn.forks.push((txn.current, fork.clone()));
            Some(fork)
        })
    })
}

/// Begins the worker's part of `fork` as this thread's transaction (see
/// [`super::fork`]). `AlreadyActive` when this thread has one open,
/// `NoTransaction` when the fork was begun before.
pub(crate) fn begin_fork(fork: &Arc<Fork>) -> Result<u32, RecordError> {
    if is_active() {
        return Err(RecordError::AlreadyActive);
    }
    if !fork.start() {
        return Err(RecordError::NoTransaction);
    }
    let remote = RemoteParent {
        trace_id: fork.trace_id,
        span_id: fork.parent_span_id,
        sampled: false,
    };
    let seq = begin(NewName::Raw(fork.name), SpanKind::Internal, Some(remote))?;
    with_active((), |txn| txn.fork = Some(fork.clone()));
    Ok(seq)
}

/// Makes the end of the step `token` names come from the returned cell,
/// which another thread completes (see [`super::deferred`]). `None` when
/// the step is not one of this thread's open transaction or too many ends
/// are outstanding.
pub(crate) fn defer_end(token: StepToken) -> Option<Arc<DeferredEnd>> {
    with_active(None, |txn| {
        if token.seq != txn.seq || token.index as usize >= txn.steps.len() {
            return None;
        }
        let end = Arc::new(DeferredEnd::reserve()?);
        txn.deferred.push((token.index, end.clone()));
        Some(end)
    })
}

/// Where an attribute or error goes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// The transaction itself.
    Transaction,
    /// The innermost open step, or the transaction when none is open.
    Current,
    /// A particular step.
    Step(StepToken),
}

impl Target {
    /// The step index (or `NO_STEP` for the transaction); `None` when the
    /// step was not recorded (past the cap) or belongs to another
    /// transaction — its data is then dropped, never misattributed.
    fn resolve(self, txn: &RawTransaction) -> Option<u32> {
        match self {
            Self::Transaction => Some(NO_STEP),
            Self::Current => Some(txn.current),
            Self::Step(t) if t.seq == txn.seq && (t.index as usize) < txn.steps.len() => {
                Some(t.index)
            }
            Self::Step(_) => None,
        }
    }
}

impl LocalRecorder {
    fn begin(
        &mut self,
        name: NewName<'_>,
        kind: SpanKind,
        remote: Option<RemoteParent>,
    ) -> Result<u32, RecordError> {
        if is_active() {
            return Err(RecordError::AlreadyActive);
        }
        let link = refresh_link(&mut self.link).ok_or(RecordError::NotRunning)?;
        let handoff = &link.handoff;
        let max_steps = handoff.max_steps;
        let mut txn = self
            .spare
            .take()
            .or_else(|| link.stash.take(&handoff.buffers))
            .unwrap_or_else(|| Box::new(RawTransaction::with_capacity(FRESH_STEPS, FRESH_ATTRS)));
        if self.thread_id == 0 {
            // SAFETY: gettid has no preconditions.
            self.thread_id = unsafe { libc::gettid() } as u64;
        }
        match remote {
            Some(parent) => {
                txn.trace_id = parent.trace_id;
                txn.parent_span_id = Some(parent.span_id);
                txn.force_sample = parent.sampled;
            }
            None => {
                let hi = self.rng.next_nonzero();
                let lo = self.rng.next_nonzero();
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&hi.to_be_bytes());
                id[8..].copy_from_slice(&lo.to_be_bytes());
                txn.trace_id = TraceId(id);
                txn.parent_span_id = None;
                txn.force_sample = false;
            }
        }
        txn.span_id = SpanId(self.rng.next_nonzero().to_le_bytes());
        txn.kind = kind;
        match name {
            NewName::Raw(raw) => txn.name = RawTxnName::Raw(raw),
            NewName::Owned(owned) => txn.name = RawTxnName::Owned(owned),
            NewName::Copied(text) => txn.set_name(text),
        }
        txn.thread_id = self.thread_id;
        txn.max_steps = max_steps;
        txn.fast_limit = max_steps.min(txn.steps.capacity() as u32);
        self.seq = self.seq.wrapping_add(1).max(1);
        txn.seq = self.seq;
        txn.cpu_start_ns = if handoff.cpu_time { thread_cpu_ns() } else { 0 };
        txn.cpu_ns = 0;
        txn.start = clock::now();
        ACTIVE.with(|a| a.set(Box::into_raw(txn)));
        Ok(self.seq)
    }

    fn end(&mut self) -> Result<Handover, RecordError> {
        let now = clock::now();
        let ptr = ACTIVE.with(|a| a.replace(std::ptr::null_mut()));
        if ptr.is_null() {
            return Err(RecordError::NoTransaction);
        }
        // SAFETY: a non-null `ACTIVE` came from `Box::into_raw` in `begin`
        // and was just cleared, so this is the only owner.
        let mut txn = unsafe { Box::from_raw(ptr) };
        txn.end = now;
        txn.close_open_steps(now);
        // Only when it ends on the thread it began on (not after a detach).
        if txn.cpu_start_ns != 0 && txn.thread_id == self.thread_id {
            txn.cpu_ns = thread_cpu_ns().saturating_sub(txn.cpu_start_ns);
        }
        if let Some(fork) = txn.fork.take() {
            match fork.finish(txn) {
                // Merged into the submitting transaction when that ends.
                None => return Ok(Handover::Queued),
                // That ended first: a transaction of its own, in its trace.
                Some(fragment) => {
                    txn = fragment;
                    txn.force_sample = true;
                }
            }
        }
        Ok(queue_raw(
            refresh_link(&mut self.link),
            txn,
            &mut self.spare,
        ))
    }
}

/// Queues `txn` through `link`'s handoff; a transaction refused (or with
/// no collector running) becomes `spare` when that is empty.
fn queue_raw(
    link: Option<&mut Link>,
    txn: Box<RawTransaction>,
    spare: &mut Option<Box<RawTransaction>>,
) -> Handover {
    let mut refused = match link {
        Some(link) => match link.handoff.try_send(Queued::Raw(txn)) {
            Ok(()) => return Handover::Queued,
            Err(Queued::Raw(txn)) => txn,
            // Given back as sent, so never this; no panic on this path.
            Err(Queued::Shared(..)) => return Handover::Dropped,
        },
        None => txn,
    };
    refused.recycle(RECYCLED_STEPS);
    if spare.is_none() {
        *spare = Some(refused);
    }
    Handover::Dropped
}

/// What a transaction recorded off the thread-local path (see
/// [`super::shared`]) takes from this thread at its begin: fresh ids, the
/// step cap and this thread's id. `None` when Osprey is not running.
pub(crate) struct SharedStart {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub force_sample: bool,
    pub max_steps: u32,
    pub thread_id: u64,
    /// An emptied shared transaction to begin in, from the pool.
    pub reuse: Option<Arc<SharedTxn>>,
}

/// Ids and limits for a transaction that [`super::shared`] records.
pub(crate) fn shared_start(remote: Option<RemoteParent>) -> Option<SharedStart> {
    with_local(None, |l| {
        let link = refresh_link(&mut l.link)?;
        let max_steps = link.handoff.max_steps;
        let reuse = link.shared.take(&link.handoff.shared);
        if l.thread_id == 0 {
            // SAFETY: gettid has no preconditions.
            l.thread_id = unsafe { libc::gettid() } as u64;
        }
        let (trace_id, parent_span_id, force_sample) = match remote {
            Some(parent) => (parent.trace_id, Some(parent.span_id), parent.sampled),
            None => {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&l.rng.next_nonzero().to_be_bytes());
                id[8..].copy_from_slice(&l.rng.next_nonzero().to_be_bytes());
                (TraceId(id), None, false)
            }
        };
        Some(SharedStart {
            trace_id,
            span_id: SpanId(l.rng.next_nonzero().to_le_bytes()),
            parent_span_id,
            force_sample,
            max_steps,
            thread_id: l.thread_id,
            reuse,
        })
    })
}

/// A fresh span id from this thread's generator.
pub(crate) fn new_span_id() -> SpanId {
    let v = with_local(0, |l| l.rng.next_nonzero());
    SpanId(if v == 0 { 1u64 } else { v }.to_le_bytes())
}

/// Hands an ended shared transaction to the collector, which assembles it
/// (never blocks).
pub(crate) fn hand_over_shared(txn: EndedTxn) -> Handover {
    let mut slot = Some(txn);
    with_local(Handover::Dropped, |l| {
        let (Some(txn), Some(link)) = (slot.take(), refresh_link(&mut l.link)) else {
            return Handover::Dropped;
        };
        match link.handoff.try_send(Queued::Shared(txn, 0)) {
            Ok(()) => Handover::Queued,
            Err(_) => Handover::Dropped,
        }
    })
}

/// Step and attribute capacity of a buffer allocated when none was free for
/// reuse: room for a typical request without growing.
const FRESH_STEPS: usize = 64;
const FRESH_ATTRS: usize = 16;

/// This thread's CPU time in nanoseconds (0 if the clock cannot be read).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// The collector's handoff, re-read only when `init`/`shutdown` changed it
/// (borrowed, so no reference-count traffic per transaction).
fn refresh_link(link: &mut Option<Link>) -> Option<&mut Link> {
    let generation = handoff::generation();
    if link.as_ref().is_none_or(|l| l.generation != generation) {
        *link = handoff::current().map(|handoff| Link {
            generation,
            handoff,
            stash: Stash::default(),
            shared: Stash::default(),
        });
    }
    link.as_mut()
}

/// This thread's view of the installed handoff (by its generation), and
/// the empty buffers it keeps from that handoff's pools.
struct Link {
    generation: u64,
    handoff: Arc<Handoff>,
    stash: Stash<Box<RawTransaction>>,
    shared: Stash<Arc<SharedTxn>>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stash.release(&self.handoff.buffers);
        self.shared.release(&self.handoff.shared);
    }
}

impl RawTransaction {
    #[inline(always)]
    fn enter(&mut self, name: RawName, kind: StepKind) -> u32 {
        let index = self.steps.len();
        if index >= self.fast_limit as usize {
            return self.enter_slow(name, kind);
        }
        let step = RawStep {
            start: clock::now(),
            end: 0,
            name,
            parent: self.current,
            kind,
            repaired: false,
        };
        // SAFETY: index < fast_limit <= capacity, and the slot is initialised
        // before the length covers it.
        unsafe {
            self.steps.as_mut_ptr().add(index).write(step);
            self.steps.set_len(index + 1);
        }
        self.current = index as u32;
        index as u32
    }

    /// Grows the buffer, or counts the step as dropped past the cap.
    #[cold]
    fn enter_slow(&mut self, name: RawName, kind: StepKind) -> u32 {
        let index = self.steps.len();
        if index >= self.max_steps as usize || self.overflow_depth > 0 {
            self.overflow_depth += 1;
            self.dropped_steps = self.dropped_steps.saturating_add(1);
            return NO_STEP;
        }
        self.steps
            .reserve((index.max(32)).min(self.max_steps as usize - index));
        self.fast_limit = self.max_steps.min(self.steps.capacity() as u32);
        self.enter(name, kind)
    }

    #[inline(always)]
    fn exit(&mut self, now: u64) {
        if self.overflow_depth > 0 {
            self.overflow_depth -= 1;
            return;
        }
        match self.steps.get_mut(self.current as usize) {
            Some(step) => {
                step.end = now;
                self.current = step.parent;
            }
            None => self.repaired = true, // exit without enter
        }
    }

    #[inline(always)]
    fn exit_index(&mut self, index: u32) {
        if index == self.current && self.overflow_depth == 0 {
            // `get_mut` also rejects NO_STEP (an exit with nothing open).
            if let Some(step) = self.steps.get_mut(index as usize) {
                step.end = clock::now();
                self.current = step.parent;
                return;
            }
        }
        self.exit_index_slow(index);
    }

    #[cold]
    fn exit_index_slow(&mut self, index: u32) {
        let now = clock::now();
        if index == NO_STEP {
            // The step was past the cap (or entered before the transaction).
            self.overflow_depth = self.overflow_depth.saturating_sub(1);
            return;
        }
        self.exit_out_of_order(index, now);
    }

    #[cold]
    fn exit_out_of_order(&mut self, index: u32, now: u64) {
        // Is `index` on the open chain? Then close everything inside it.
        let mut cursor = self.current;
        while cursor != NO_STEP && cursor != index {
            cursor = self.steps[cursor as usize].parent;
        }
        self.repaired = true;
        if cursor != index {
            return; // already closed: a second exit, ignored
        }
        self.overflow_depth = 0;
        while self.current != index {
            let step = &mut self.steps[self.current as usize];
            step.end = now;
            step.repaired = true;
            self.current = step.parent;
        }
        self.exit(now);
    }

    fn close_open_steps(&mut self, now: u64) {
        if self.current != NO_STEP || self.overflow_depth > 0 {
            self.repaired = true;
        }
        while self.current != NO_STEP {
            let step = &mut self.steps[self.current as usize];
            step.end = now;
            step.repaired = true;
            self.current = step.parent;
        }
        self.overflow_depth = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(max_steps: u32) -> RawTransaction {
        let mut t = RawTransaction::new();
        t.max_steps = max_steps;
        t
    }

    const A: RawName = RawName::Static("a");

    #[test]
    fn a_link_dropped_gives_its_stash_share_back() {
        let wired = Handoff::wired(1, 1);
        let mut batch = super::super::stash::PoolBatch::default();
        for _ in 0..3 {
            batch.push(Box::new(RawTransaction::new())).unwrap();
        }
        wired.pool.send(batch).unwrap();
        let handoff = Arc::new(wired.handoff);
        let mut link = Link {
            generation: 0,
            handoff: handoff.clone(),
            stash: Stash::default(),
            shared: Stash::default(),
        };
        assert!(link.stash.take(&link.handoff.buffers).is_some());
        assert_eq!(
            handoff
                .buffers
                .stashed
                .load(std::sync::atomic::Ordering::Relaxed),
            2
        );
        // As when the thread exits, or Osprey restarts with a new handoff.
        drop(link);
        assert_eq!(
            handoff
                .buffers
                .stashed
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }

    #[test]
    fn errors_describe_themselves() {
        fn text(e: &dyn std::error::Error) -> String {
            e.to_string()
        }
        assert!(text(&RecordError::NotRunning).contains("not running"));
        assert!(text(&RecordError::AlreadyActive).contains("already has an open transaction"));
        assert!(text(&RecordError::NoTransaction).contains("no open transaction"));
        let full = crate::local::DetachError::Full.to_string();
        assert!(full.contains(&crate::MAX_DETACHED.to_string()), "{full}");
        assert!(
            crate::local::DetachError::UnknownId
                .to_string()
                .contains("no detached transaction has this id")
        );
    }

    #[test]
    fn nested_steps_link_to_parents_and_nest_in_time() {
        let mut t = txn(10);
        let a = t.enter(A, StepKind::Method);
        let b = t.enter(A, StepKind::Sql);
        t.exit_index(b);
        t.exit_index(a);
        let c = t.enter(A, StepKind::Method);
        t.exit(clock::now());
        assert_eq!(t.steps[b as usize].parent, a);
        assert_eq!(t.steps[a as usize].parent, NO_STEP);
        assert_eq!(t.steps[c as usize].parent, NO_STEP);
        let (sa, sb) = (t.steps[a as usize], t.steps[b as usize]);
        assert!(sa.start <= sb.start && sb.start <= sb.end && sb.end <= sa.end);
        assert!(t.steps.iter().all(|s| s.end != 0 && !s.repaired));
        assert!(!t.repaired);
    }

    #[test]
    fn buffer_grows_until_the_cap_then_counts_overflow_and_keeps_balance() {
        let mut t = txn(100);
        let outer = t.enter(A, StepKind::Method);
        for _ in 0..150 {
            let s = t.enter(A, StepKind::Method);
            t.exit_index(s);
        }
        t.exit_index(outer);
        assert_eq!(t.steps.len(), 100);
        assert_eq!(t.dropped_steps, 51);
        assert_eq!(t.current, NO_STEP);
        assert!(t.steps.iter().all(|s| s.end != 0 && !s.repaired));
        // Nested overflow: exits of dropped steps do not close real ones.
        let mut t = txn(2);
        let a = t.enter(A, StepKind::Method);
        let b = t.enter(A, StepKind::Method);
        let c = t.enter(A, StepKind::Method);
        assert_eq!(c, NO_STEP);
        t.exit_index(c);
        assert_eq!(t.current, b);
        t.exit_index(b);
        t.exit_index(a);
        assert_eq!(t.current, NO_STEP);
        assert!(!t.repaired);
    }

    #[test]
    fn unbalanced_exits_are_repaired_not_panics() {
        let mut t = txn(10);
        t.exit(clock::now()); // exit without enter
        assert!(t.repaired);
        let a = t.enter(A, StepKind::Method);
        let _b = t.enter(A, StepKind::Method);
        t.exit_index(a); // outer exits while inner still open
        assert!(t.steps[1].repaired);
        assert_eq!(t.steps[1].end, t.steps[0].end);
        let end_a = t.steps[0].end;
        t.exit_index(a); // second exit ignored
        assert_eq!(t.steps[0].end, end_a);
        let _c = t.enter(A, StepKind::Method);
        t.close_open_steps(clock::now());
        assert!(t.steps[2].end >= t.steps[2].start);
        assert!(t.steps[2].repaired);
    }
}
