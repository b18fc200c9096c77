//! The recording API: transactions and steps as RAII guards, plus the
//! id-based calls the C ABI and the Java agent use.
//!
//! Without the `enable` feature every function here is an empty inline
//! function and every guard is zero-sized.

use std::borrow::Cow;
use std::marker::PhantomData;

#[cfg(feature = "enable")]
use crate::local::raw::RawName;
#[cfg(feature = "enable")]
use crate::local::recorder::{self, NewName, StepToken, Target};
use crate::local::{DetachError, Handover, RecordError};
use crate::model::{AttrValue, ErrorInfo, SpanKind, StepKind};
use crate::names::{NameId, NameKind};
use crate::propagation::{self, RemoteParent};

/// Makes guards `!Send`: a step must end on the thread that began it.
type NotSend = PhantomData<*const ()>;

/// Describes a transaction before it begins. Created by [`transaction`].
#[must_use = "call .begin() to start the transaction"]
#[derive(Debug)]
pub struct TransactionBuilder {
    name: Cow<'static, str>,
    kind: SpanKind,
    remote: Option<RemoteParent>,
    tracestate: Option<String>,
}

/// Longest inbound `tracestate` carried on (the W3C limit is 32 members;
/// 512 bytes is the size a vendor must at least propagate).
const MAX_TRACESTATE: usize = 512;

/// Starts describing a transaction (the root span of this thread's work).
///
/// ```
/// let _osprey = osprey::init(osprey::Config::default().exporter(osprey::export::NullExporter)).unwrap();
/// let txn = osprey::transaction("GET /orders").server().begin();
/// {
///     let _step = osprey::step("load_orders");
/// }
/// txn.end();
/// ```
pub fn transaction(name: impl Into<Cow<'static, str>>) -> TransactionBuilder {
    TransactionBuilder {
        name: name.into(),
        kind: SpanKind::Internal,
        remote: None,
        tracestate: None,
    }
}

impl TransactionBuilder {
    /// Marks the transaction as handling a request (SERVER span).
    pub fn server(mut self) -> Self {
        self.kind = SpanKind::Server;
        self
    }

    /// Continues the trace named by an inbound `traceparent` header; an
    /// invalid header starts a new trace.
    pub fn traceparent(mut self, header: &str) -> Self {
        self.remote = propagation::parse_traceparent(header);
        self
    }

    /// Carries an inbound W3C `tracestate` on to the outgoing calls of an
    /// async transaction ([`crate::future`]). Ignored when longer than 512
    /// bytes or not printable ASCII.
    pub fn tracestate(mut self, header: &str) -> Self {
        let header = header.trim();
        if !header.is_empty()
            && header.len() <= MAX_TRACESTATE
            && header.bytes().all(|b| (0x20..0x7f).contains(&b))
        {
            self.tracestate = Some(header.to_owned());
        }
        self
    }

    /// Continues a trace from an already parsed parent.
    pub fn remote_parent(mut self, parent: Option<RemoteParent>) -> Self {
        self.remote = parent;
        self
    }

    /// Begins it. When this thread already has an open transaction the
    /// guard records a step of that transaction instead.
    #[inline]
    pub fn begin(self) -> TransactionGuard {
        #[cfg(feature = "enable")]
        {
            let name = match self.name {
                Cow::Borrowed(s) => NewName::Raw(RawName::Static(s)),
                Cow::Owned(s) => NewName::Owned(s),
            };
            let state = if recorder::is_active() {
                let raw = match name {
                    NewName::Raw(r) => r,
                    NewName::Owned(s) => {
                        RawName::Id(crate::names::intern_as(&s, NameKind::Endpoint))
                    }
                    NewName::Copied(s) => {
                        RawName::Id(crate::names::intern_as(s, NameKind::Endpoint))
                    }
                };
                TxnState::Nested(recorder::enter(raw, StepKind::Custom))
            } else {
                match recorder::begin(name, self.kind, self.remote) {
                    Ok(seq) => TxnState::Root(seq),
                    Err(_) => TxnState::Inert,
                }
            };
            TransactionGuard {
                state,
                _not_send: PhantomData,
            }
        }
        #[cfg(not(feature = "enable"))]
        {
            let _ = self;
            TransactionGuard {
                _not_send: PhantomData,
            }
        }
    }
}

impl TransactionBuilder {
    /// Begins it as a transaction shared between threads (for
    /// [`crate::future`]); `None` when Osprey is not running or compiled out.
    pub(crate) fn begin_shared(self) -> Option<std::sync::Arc<crate::local::shared::SharedTxn>> {
        #[cfg(feature = "enable")]
        {
            use crate::local::raw::RawTxnName;
            let name = match self.name {
                Cow::Borrowed(s) => RawTxnName::Raw(RawName::Static(s)),
                Cow::Owned(s) => RawTxnName::Owned(s),
            };
            crate::local::shared::SharedTxn::begin(name, self.kind, self.remote, self.tracestate)
        }
        #[cfg(not(feature = "enable"))]
        {
            let _ = self;
            None
        }
    }
}

#[cfg(feature = "enable")]
#[derive(Debug, Clone, Copy)]
enum TxnState {
    /// The transaction this guard began, by its sequence number.
    Root(u32),
    Nested(StepToken),
    Inert,
    Ended,
}

/// An open transaction; ends (and is handed to the collector) on drop or
/// [`TransactionGuard::end`].
#[must_use = "the transaction ends when this guard is dropped"]
#[derive(Debug)]
pub struct TransactionGuard {
    #[cfg(feature = "enable")]
    state: TxnState,
    _not_send: NotSend,
}

impl TransactionGuard {
    /// Adds an attribute to the transaction.
    pub fn attr(&self, key: &'static str, value: impl Into<AttrValue>) -> &Self {
        #[cfg(feature = "enable")]
        {
            let target = match self.state {
                TxnState::Root(_) => Target::Transaction,
                TxnState::Nested(t) => Target::Step(t),
                _ => return self,
            };
            let _ = recorder::set_attr(target, RawName::Static(key), value.into());
        }
        #[cfg(not(feature = "enable"))]
        let _ = (key, value);
        self
    }

    /// Marks the transaction failed.
    pub fn error(&self, error: ErrorInfo) -> &Self {
        #[cfg(feature = "enable")]
        {
            let target = match self.state {
                TxnState::Root(_) => Target::Transaction,
                TxnState::Nested(t) => Target::Step(t),
                _ => return self,
            };
            let _ = recorder::set_error(target, error);
        }
        #[cfg(not(feature = "enable"))]
        let _ = error;
        self
    }

    /// Ends the transaction now. `None` when nothing was recorded (Osprey
    /// not running, or the guard stood for a nested step).
    pub fn end(mut self) -> Option<Handover> {
        self.finish()
    }

    #[inline]
    fn finish(&mut self) -> Option<Handover> {
        #[cfg(feature = "enable")]
        {
            let state = std::mem::replace(&mut self.state, TxnState::Ended);
            match state {
                TxnState::Root(seq) => recorder::end_seq(seq).ok(),
                TxnState::Nested(t) => {
                    recorder::exit_step(t);
                    None
                }
                TxnState::Inert | TxnState::Ended => None,
            }
        }
        #[cfg(not(feature = "enable"))]
        None
    }
}

impl Drop for TransactionGuard {
    #[inline]
    fn drop(&mut self) {
        self.finish();
    }
}

/// An open step; exits on drop.
#[must_use = "the step exits when this guard is dropped"]
#[derive(Debug)]
pub struct StepGuard {
    #[cfg(feature = "enable")]
    token: StepToken,
    _not_send: NotSend,
}

/// Enters a method step of this thread's transaction (a no-op without one).
///
/// ```
/// fn load_orders() {
///     let _step = osprey::step("load_orders");
///     // ...
/// }
/// ```
#[inline]
pub fn step(name: &'static str) -> StepGuard {
    step_of_kind(StepKind::Method, name)
}

/// Enters a step of the given kind.
#[inline]
pub fn step_of_kind(kind: StepKind, name: &'static str) -> StepGuard {
    #[cfg(feature = "enable")]
    {
        StepGuard {
            token: recorder::enter(RawName::Static(name), kind),
            _not_send: PhantomData,
        }
    }
    #[cfg(not(feature = "enable"))]
    {
        let _ = (kind, name);
        StepGuard {
            _not_send: PhantomData,
        }
    }
}

impl StepGuard {
    /// Adds an attribute to this step.
    pub fn attr(&self, key: &'static str, value: impl Into<AttrValue>) -> &Self {
        #[cfg(feature = "enable")]
        if self.token != StepToken::NONE {
            let _ =
                recorder::set_attr(Target::Step(self.token), RawName::Static(key), value.into());
        }
        #[cfg(not(feature = "enable"))]
        let _ = (key, value);
        self
    }

    /// Records an error on this step.
    pub fn error(&self, error: ErrorInfo) -> &Self {
        #[cfg(feature = "enable")]
        if self.token != StepToken::NONE {
            let _ = recorder::set_error(Target::Step(self.token), error);
        }
        #[cfg(not(feature = "enable"))]
        let _ = error;
        self
    }
}

impl Drop for StepGuard {
    #[inline]
    fn drop(&mut self) {
        #[cfg(feature = "enable")]
        if self.token != StepToken::NONE {
            recorder::exit_step(self.token);
        }
    }
}

/// The `traceparent` an outgoing request from the current step should carry:
/// the step open on this thread, else the async work being polled here
/// (see [`crate::future`]); `None` outside a transaction.
pub fn traceparent() -> Option<String> {
    #[cfg(feature = "enable")]
    {
        recorder::current_context()
            .map(|(trace, span, sampled)| propagation::format_traceparent(trace, span, sampled))
            .or_else(|| {
                let (txn, key) = crate::local::shared::current_context()?;
                Some(txn.traceparent(txn.span_id_of(key)))
            })
    }
    #[cfg(not(feature = "enable"))]
    None
}

/// The trace id and the span id of the step open on this thread (else of
/// the async work being polled here, see [`crate::future`]), for putting
/// into log lines; `None` outside a transaction. The span id is the one the
/// step is exported with. Unlike [`traceparent`] this does not make the
/// trace keep its tree: a log line is not a span downstream.
///
/// ```
/// let _osprey = osprey::init(osprey::Config::default().exporter(osprey::export::NullExporter)).unwrap();
/// assert!(osprey::current_ids().is_none());
/// let txn = osprey::transaction("GET /orders").begin();
/// let (trace, _span) = osprey::current_ids().unwrap();
/// assert_eq!(trace.to_hex().len(), 32);
/// txn.end();
/// ```
pub fn current_ids() -> Option<(crate::model::TraceId, crate::model::SpanId)> {
    #[cfg(feature = "enable")]
    {
        recorder::current_ids().or_else(|| {
            let (txn, key) = crate::local::shared::current_context()?;
            Some((txn.trace_id(), txn.span_id_of(key)))
        })
    }
    #[cfg(not(feature = "enable"))]
    None
}

/// Low-level, id-based recording for the C ABI and the Java agent: names
/// interned once up front, steps exited without a guard.
pub mod raw {
    use super::*;

    /// An entered step, for [`exit_step`]. `0` when no transaction was open;
    /// a step past the per-transaction cap gets a handle that records
    /// nothing but must still be exited to keep enter/exit balanced.
    pub type StepHandle = u64;

    /// Begins a transaction on this thread, named `name` (copied into a
    /// buffer the thread reuses: no allocation in steady state).
    pub fn begin(
        name: &str,
        kind: SpanKind,
        remote: Option<RemoteParent>,
    ) -> Result<(), RecordError> {
        #[cfg(feature = "enable")]
        {
            recorder::begin(NewName::Copied(name), kind, remote).map(drop)
        }
        #[cfg(not(feature = "enable"))]
        {
            let _ = (name, kind, remote);
            Err(RecordError::NotRunning)
        }
    }

    /// Ends this thread's transaction.
    pub fn end() -> Result<Handover, RecordError> {
        #[cfg(feature = "enable")]
        {
            recorder::end()
        }
        #[cfg(not(feature = "enable"))]
        Err(RecordError::NoTransaction)
    }

    /// Renames this thread's open transaction (copied, as for [`begin`]).
    pub fn rename(name: &str) -> Result<(), RecordError> {
        #[cfg(feature = "enable")]
        {
            recorder::rename(name)
        }
        #[cfg(not(feature = "enable"))]
        {
            let _ = name;
            Err(RecordError::NoTransaction)
        }
    }

    /// Takes this thread's open transaction off the thread, still open, and
    /// returns an id for [`attach`] (never 0): for a request that completes
    /// asynchronously on another thread. At most
    /// [`MAX_DETACHED`](crate::MAX_DETACHED) are parked at once.
    pub fn detach() -> Result<u64, DetachError> {
        #[cfg(feature = "enable")]
        {
            crate::local::detached::detach()
        }
        #[cfg(not(feature = "enable"))]
        Err(DetachError::NoTransaction)
    }

    /// Makes the transaction [`detach`] parked as `id` this thread's open
    /// transaction again (steps and [`end`] then apply to it). A transaction
    /// this thread had open is parked in its place: the returned id (0 when
    /// there was none) restores it with another `attach`.
    pub fn attach(id: u64) -> Result<u64, DetachError> {
        #[cfg(feature = "enable")]
        {
            crate::local::detached::attach(id)
        }
        #[cfg(not(feature = "enable"))]
        {
            let _ = id;
            Err(DetachError::UnknownId)
        }
    }

    /// Hands work to another thread: a [`Fork`](crate::Fork) of this
    /// thread's open transaction under its innermost open step, the task
    /// named `name`. The worker calls [`begin_fork`] with it, records as
    /// usual and calls [`end`]: its part becomes a step of this transaction
    /// when that is still open, else a linked transaction of its own (see
    /// the `local::fork` module). `None` without a transaction or past
    /// [`MAX_FORKS`](crate::MAX_FORKS) forks.
    pub fn fork(name: NameId) -> Option<std::sync::Arc<crate::Fork>> {
        #[cfg(feature = "enable")]
        {
            recorder::fork(RawName::Id(name))
        }
        #[cfg(not(feature = "enable"))]
        {
            let _ = name;
            None
        }
    }

    /// Begins the worker's part of `fork` on this thread (ended by
    /// [`end`]). `AlreadyActive` when this thread has a transaction open
    /// ([`detach`] it first), `NoTransaction` when `fork` was begun before.
    pub fn begin_fork(fork: &std::sync::Arc<crate::Fork>) -> Result<(), RecordError> {
        #[cfg(feature = "enable")]
        {
            recorder::begin_fork(fork).map(drop)
        }
        #[cfg(not(feature = "enable"))]
        {
            let _ = fork;
            Err(RecordError::NotRunning)
        }
    }

    /// Transactions parked by [`detach`] and not attached again.
    pub fn detached_count() -> usize {
        #[cfg(feature = "enable")]
        {
            crate::local::detached::parked_count()
        }
        #[cfg(not(feature = "enable"))]
        0
    }

    /// True when this thread has an open transaction.
    #[inline]
    pub fn in_transaction() -> bool {
        #[cfg(feature = "enable")]
        {
            recorder::is_active()
        }
        #[cfg(not(feature = "enable"))]
        false
    }

    /// Enters a step named by a pre-interned id.
    #[inline]
    pub fn enter(name: NameId, kind: StepKind) -> StepHandle {
        #[cfg(feature = "enable")]
        {
            let t = recorder::enter(RawName::Id(name), kind);
            if t == StepToken::NONE {
                0
            } else {
                (u64::from(t.seq) << 32) | u64::from(t.index)
            }
        }
        #[cfg(not(feature = "enable"))]
        {
            let _ = (name, kind);
            0
        }
    }

    /// Enters a step named by `text`, sanitised and interned for `kind`
    /// ([`names::intern_as`](crate::names::intern_as): SQL literals and URL
    /// ids become `?` first, so statements that differ only in their
    /// literals share a name). Past the budget of the name's kind the step
    /// is named by the kind's overflow id and the sanitised text is copied
    /// into the transaction under [`NameKind::overflow_key`], so it still
    /// reaches the exporters. Takes the name table's read lock (its write
    /// lock for a new name): for names known only at run time.
    pub fn enter_named(text: &str, kind: StepKind) -> StepHandle {
        let name_kind = NameKind::of_step(kind);
        let id = crate::names::intern_as(text, name_kind);
        let handle = enter(id, kind);
        if handle != 0 && crate::names::is_overflow(id) {
            let key = crate::names::intern(name_kind.overflow_key());
            let clean = crate::names::clean(text, name_kind);
            let _ = attr_str(Some(handle), key, crate::names::truncate(&clean));
        }
        handle
    }

    /// Exits the innermost open step.
    #[inline]
    pub fn exit() {
        #[cfg(feature = "enable")]
        recorder::exit();
    }

    /// Lets another thread report the end of the step `handle` names (an
    /// asynchronous call): exit the step as usual on this thread, and call
    /// [`DeferredEnd::complete`](crate::DeferredEnd::complete) from the
    /// thread that sees the call finish; the collector then uses that end.
    /// `None` when `handle` is not a step of this thread's open transaction
    /// or [`MAX_OUTSTANDING`](crate::MAX_OUTSTANDING) ends await completion.
    pub fn defer_end(handle: StepHandle) -> Option<std::sync::Arc<crate::DeferredEnd>> {
        #[cfg(feature = "enable")]
        {
            recorder::defer_end(token(handle))
        }
        #[cfg(not(feature = "enable"))]
        {
            let _ = handle;
            None
        }
    }

    /// Exits the step `handle` names, closing inner steps left open.
    #[inline]
    pub fn exit_step(handle: StepHandle) {
        #[cfg(feature = "enable")]
        recorder::exit_step(token(handle));
        #[cfg(not(feature = "enable"))]
        let _ = handle;
    }

    #[cfg(feature = "enable")]
    fn token(handle: StepHandle) -> StepToken {
        if handle == 0 {
            return StepToken::NONE;
        }
        StepToken {
            seq: (handle >> 32) as u32,
            index: handle as u32,
        }
    }

    /// Adds an attribute to a step (`Some(handle)`), to the innermost open
    /// step (`Some(0)`), or to the transaction (`None`).
    pub fn attr(
        step: Option<StepHandle>,
        key: NameId,
        value: AttrValue,
    ) -> Result<(), RecordError> {
        #[cfg(feature = "enable")]
        {
            recorder::set_attr(target(step), RawName::Id(key), value)
        }
        #[cfg(not(feature = "enable"))]
        {
            let _ = (step, key, value);
            Err(RecordError::NoTransaction)
        }
    }

    /// Adds a string attribute (targets as for [`attr`]), copied into the
    /// transaction's text buffer: no allocation in steady state.
    pub fn attr_str(step: Option<StepHandle>, key: NameId, value: &str) -> Result<(), RecordError> {
        #[cfg(feature = "enable")]
        {
            recorder::set_attr_text(target(step), RawName::Id(key), value)
        }
        #[cfg(not(feature = "enable"))]
        {
            let _ = (step, key, value);
            Err(RecordError::NoTransaction)
        }
    }

    /// Adds a string attribute whose value is the interned name `value`
    /// (targets as for [`attr`]): for values with few distinct texts (an
    /// HTTP method, a thread or host name), interned once and then recorded
    /// without copying; the collector turns the id into the text.
    pub fn attr_name(
        step: Option<StepHandle>,
        key: NameId,
        value: NameId,
    ) -> Result<(), RecordError> {
        #[cfg(feature = "enable")]
        {
            recorder::set_attr_name(target(step), RawName::Id(key), value)
        }
        #[cfg(not(feature = "enable"))]
        {
            let _ = (step, key, value);
            Err(RecordError::NoTransaction)
        }
    }

    /// Records an error on a step or the transaction (as for [`attr`]).
    pub fn error(step: Option<StepHandle>, error: ErrorInfo) -> Result<(), RecordError> {
        #[cfg(feature = "enable")]
        {
            recorder::set_error(target(step), error)
        }
        #[cfg(not(feature = "enable"))]
        {
            let _ = (step, error);
            Err(RecordError::NoTransaction)
        }
    }

    #[cfg(feature = "enable")]
    fn target(step: Option<StepHandle>) -> Target {
        match step {
            None => Target::Transaction,
            Some(0) => Target::Current,
            Some(h) => Target::Step(token(h)),
        }
    }
}
