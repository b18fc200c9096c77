//! Recording `async` work: a transaction or step per future, whatever
//! threads poll it, and a [`Send`] step handle for work handed between
//! threads.
//!
//! A future wrapped with [`FutureExt::in_transaction`] is one transaction
//! from the wrap to its completion; futures wrapped with
//! [`FutureExt::in_step`] while it (or a step of it) is being polled are its
//! steps, nested as they were created. Elapsed times cover the awaits; the
//! time spent being polled is the `osprey.busy_ns` attribute. A future
//! dropped before it completes (a cancelled request) ends at the drop,
//! marked `osprey.cancelled` and repaired.
//!
//! ```
//! use osprey::future::FutureExt;
//!
//! # let _osprey = osprey::init(osprey::Config::default().exporter(osprey::export::NullExporter)).unwrap();
//! async fn load_cart() -> u32 {
//!     // An outgoing call would carry this header.
//!     let header = osprey::traceparent();
//!     assert!(header.is_some());
//!     3
//! }
//!
//! async fn handle() -> u32 {
//!     load_cart().in_step("load_cart").await
//! }
//!
//! # let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
//! let items = rt.block_on(async {
//!     handle()
//!         .in_transaction(osprey::transaction("GET /cart").server())
//!         .await
//! });
//! assert_eq!(items, 3);
//! ```
//!
//! Work handed to another thread (a spawned task, a thread pool) takes a
//! [`StepHandle`] with it:
//!
//! ```
//! # let _osprey = osprey::init(osprey::Config::default().exporter(osprey::export::NullExporter)).unwrap();
//! let txn = osprey::transaction("nightly-report").begin_async();
//! let step = txn.step("render");
//! std::thread::spawn(move || {
//!     step.attr("pages", 12i64);
//!     // Steps begun inside `in_scope` hang under `render`.
//!     step.in_scope(|| drop(osprey::future::step("layout")));
//!     step.end();
//! })
//! .join()
//! .unwrap();
//! txn.end();
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::api::TransactionBuilder;
use crate::clock;
use crate::local::Handover;
use crate::local::raw::{NO_STEP, RawName};
use crate::local::shared::{self, ContextGuard, FinishedStep, SharedTxn};
use crate::model::{AttrValue, ErrorInfo, StepKind};

/// A transaction of `async` work, open until [`AsyncTransaction::end`] or
/// drop; `Send` and `Sync`, so it can go wherever the work goes.
#[must_use = "the transaction ends when this is dropped"]
#[derive(Debug)]
pub struct AsyncTransaction {
    txn: Option<Arc<SharedTxn>>,
    busy: u64,
    polled: bool,
}

impl TransactionBuilder {
    /// Begins it as an `async` transaction: not tied to this thread, its
    /// steps may begin and end anywhere. Inert when Osprey is not running
    /// (or is compiled out).
    pub fn begin_async(self) -> AsyncTransaction {
        AsyncTransaction {
            txn: self.begin_shared(),
            busy: 0,
            polled: false,
        }
    }
}

impl AsyncTransaction {
    /// True when it records (Osprey running and compiled in).
    pub fn is_recording(&self) -> bool {
        self.txn.is_some()
    }

    /// Adds an attribute to the transaction.
    pub fn attr(&self, key: &'static str, value: impl Into<AttrValue>) -> &Self {
        if let Some(txn) = &self.txn {
            txn.attr(NO_STEP, RawName::Static(key), value.into());
        }
        self
    }

    /// Marks the transaction failed.
    pub fn error(&self, error: ErrorInfo) -> &Self {
        if let Some(txn) = &self.txn {
            txn.error(NO_STEP, error);
        }
        self
    }

    /// Renames the transaction (a route learnt late).
    pub fn rename(&self, name: impl Into<String>) -> &Self {
        if let Some(txn) = &self.txn {
            txn.rename(name.into());
        }
        self
    }

    /// Begins a method step directly under the transaction.
    pub fn step(&self, name: &'static str) -> StepHandle {
        StepHandle::begin(
            self.txn.as_ref(),
            NO_STEP,
            StepKind::Method,
            RawName::Static(name),
        )
    }

    /// Begins a SQL step directly under the transaction, named by
    /// `statement` sanitised (see [`sql_step`]).
    pub fn sql(&self, statement: &str) -> StepHandle {
        match &self.txn {
            Some(txn) => StepHandle::begin_named(txn, NO_STEP, StepKind::Sql, statement),
            None => StepHandle::inert(StepKind::Sql, RawName::Static("")),
        }
    }

    /// The `traceparent` an outgoing call made directly from the
    /// transaction should carry.
    pub fn traceparent(&self) -> Option<String> {
        self.txn
            .as_ref()
            .map(|t| t.traceparent(t.span_id_of(NO_STEP)))
    }

    /// Makes the transaction the parent of steps begun on this thread
    /// (by [`step`], [`FutureExt::in_step`], the `tracing` layer) until the
    /// guard drops; the time until then counts as busy time.
    pub fn enter(&mut self) -> Entered<'_> {
        let pushed = self
            .txn
            .as_ref()
            .is_some_and(|t| shared::push_context(t, NO_STEP));
        Entered {
            start: if self.txn.is_some() { clock::now() } else { 0 },
            pushed,
            txn: self,
            _here: std::marker::PhantomData,
        }
    }

    /// Ends it now and hands it to the collector; `None` when it recorded
    /// nothing.
    pub fn end(mut self) -> Option<Handover> {
        self.finish(false)
    }

    /// Ends it now, marked cancelled and repaired (its work was dropped
    /// before it completed).
    pub fn cancel(mut self) -> Option<Handover> {
        self.finish(true)
    }

    fn finish(&mut self, cancelled: bool) -> Option<Handover> {
        self.finish_at(clock::now(), cancelled)
    }

    /// Ends it at `end` (ticks), a clock read its caller made anyway.
    fn finish_at(&mut self, end: u64, cancelled: bool) -> Option<Handover> {
        let txn = self.txn.take()?;
        txn.end(end, self.polled.then_some(self.busy), cancelled)
    }
}

impl Drop for AsyncTransaction {
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// While alive, the transaction is this thread's async context; see
/// [`AsyncTransaction::enter`]. It stays on the thread that entered (it is
/// not `Send`, so it cannot be held across an `.await` in a spawned task):
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// let mut txn = osprey::transaction("GET /").begin_async();
/// send(txn.enter());
/// ```
#[must_use = "the context is left when this is dropped"]
#[derive(Debug)]
pub struct Entered<'a> {
    txn: &'a mut AsyncTransaction,
    start: u64,
    pushed: bool,
    /// Not `Send`: the context it pushed is this thread's, so it must be
    /// dropped here (held across an `.await`, it would pop another
    /// thread's stack and leave its own entry behind for good).
    _here: std::marker::PhantomData<*const ()>,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if let Some(txn) = &self.txn.txn {
            if self.pushed {
                shared::pop_context(txn, NO_STEP);
            }
            self.txn.busy += clock::now().saturating_sub(self.start);
            self.txn.polled = true;
        }
    }
}

/// An open step that may move between threads (`Send` and `Sync`): ends on
/// [`StepHandle::end`] or drop, wherever that happens.
#[must_use = "the step ends when this is dropped"]
#[derive(Debug)]
pub struct StepHandle {
    txn: Option<Arc<SharedTxn>>,
    key: u32,
    parent: u32,
    start: u64,
    name: RawName,
    kind: StepKind,
}

/// Begins a method step under the async work being polled on this thread
/// (a future in [`FutureExt::in_transaction`] or [`FutureExt::in_step`], an
/// entered `tracing` span, a [`StepHandle::in_scope`]); inert outside any.
pub fn step(name: &'static str) -> StepHandle {
    step_of_kind(StepKind::Method, name)
}

/// As [`step`], of the given kind (`HttpCall` and `Sql` are exported as
/// CLIENT spans).
pub fn step_of_kind(kind: StepKind, name: &'static str) -> StepHandle {
    context_step(kind, name, clock::now)
}

/// As [`step_of_kind`], for a future that [`InStep`] runs: the step begins
/// when the future is first polled, whose clock read it shares.
fn step_from_first_poll(kind: StepKind, name: &'static str) -> StepHandle {
    context_step(kind, name, || NOT_STARTED)
}

/// A step of `kind` under the async work being polled on this thread,
/// beginning at `start()` (read only when there is such work); inert
/// outside any.
fn context_step(kind: StepKind, name: &'static str, start: fn() -> u64) -> StepHandle {
    if !cfg!(feature = "enable") {
        return StepHandle::inert(kind, RawName::Static(name));
    }
    match shared::current_context() {
        Some((txn, parent)) => {
            StepHandle::begin_owned(txn, parent, kind, RawName::Static(name), start())
        }
        None => StepHandle::inert(kind, RawName::Static(name)),
    }
}

/// [`StepHandle::start`] of a step that begins at its future's first poll.
const NOT_STARTED: u64 = 0;

/// A SQL step under the async work being polled on this thread (see
/// [`step`]), named by `statement` with its literals replaced by `?`
/// ([`crate::names::intern_as`]): the literal values never reach the name
/// table or an exporter, and statements differing only in them share a
/// name. Exporters give the name as `db.statement`. For database clients
/// whose statements are only known at run time:
///
/// ```
/// # let _osprey = osprey::init(osprey::Config::default().exporter(osprey::export::NullExporter)).unwrap();
/// let txn = osprey::transaction("GET /orders").begin_async();
/// let query = txn.sql("SELECT * FROM orders WHERE customer = 'alice'");
/// query.attr("db.system", "postgresql");
/// query.end();
/// txn.end();
/// ```
pub fn sql_step(statement: &str) -> StepHandle {
    named_step(StepKind::Sql, statement)
}

/// As [`sql_step`], of any kind: `text` is sanitised for the kind
/// ([`crate::names::NameKind::of_step`]: SQL literals, URL query values and
/// ids) and interned.
pub fn named_step(kind: StepKind, text: &str) -> StepHandle {
    if !cfg!(feature = "enable") {
        return StepHandle::inert(kind, RawName::Static(""));
    }
    match shared::current_context() {
        Some((txn, parent)) => StepHandle::begin_named(&txn, parent, kind, text),
        None => StepHandle::inert(kind, RawName::Static("")),
    }
}

/// Opens step `key` of `txn` named by `text` sanitised for `kind`: the
/// interned name, and past the kind's name budget the overflow id with the
/// sanitised text as the step's attribute (so it still reaches exporters).
pub(crate) fn intern_step_name(txn: &SharedTxn, key: u32, kind: StepKind, text: &str) -> RawName {
    use crate::names::{self, NameKind};
    let name_kind = NameKind::of_step(kind);
    let id = names::intern_as(text, name_kind);
    if names::is_overflow(id) {
        let clean = names::clean(text, name_kind);
        txn.attr(
            key,
            RawName::Static(name_kind.overflow_key()),
            AttrValue::Str(names::truncate(&clean).to_owned()),
        );
    }
    RawName::Id(id)
}

impl StepHandle {
    fn begin(txn: Option<&Arc<SharedTxn>>, parent: u32, kind: StepKind, name: RawName) -> Self {
        let Some((txn, key)) = txn.and_then(|t| Some((t, t.open_step()?))) else {
            return Self::inert(kind, name);
        };
        Self::opened(txn.clone(), key, parent, kind, name, clock::now())
    }

    fn begin_named(txn: &Arc<SharedTxn>, parent: u32, kind: StepKind, text: &str) -> Self {
        let Some(key) = txn.open_step() else {
            return Self::inert(kind, RawName::Static(""));
        };
        let name = intern_step_name(txn, key, kind, text);
        Self::opened(txn.clone(), key, parent, kind, name, clock::now())
    }

    fn begin_owned(
        txn: Arc<SharedTxn>,
        parent: u32,
        kind: StepKind,
        name: RawName,
        start: u64,
    ) -> Self {
        let Some(key) = txn.open_step() else {
            return Self::inert(kind, name);
        };
        Self::opened(txn, key, parent, kind, name, start)
    }

    /// Step `key` of `txn`, beginning at `start` (ticks; [`NOT_STARTED`]:
    /// at its future's first poll).
    fn opened(
        txn: Arc<SharedTxn>,
        key: u32,
        parent: u32,
        kind: StepKind,
        name: RawName,
        start: u64,
    ) -> Self {
        Self {
            txn: Some(txn),
            key,
            parent,
            start,
            name,
            kind,
        }
    }

    fn inert(kind: StepKind, name: RawName) -> Self {
        Self {
            txn: None,
            key: NO_STEP,
            parent: NO_STEP,
            start: 0,
            name,
            kind,
        }
    }

    /// True when it records.
    pub fn is_recording(&self) -> bool {
        self.txn.is_some()
    }

    /// Adds an attribute to this step.
    pub fn attr(&self, key: &'static str, value: impl Into<AttrValue>) -> &Self {
        if let Some(txn) = &self.txn {
            txn.attr(self.key, RawName::Static(key), value.into());
        }
        self
    }

    /// Records an error on this step.
    pub fn error(&self, error: ErrorInfo) -> &Self {
        if let Some(txn) = &self.txn {
            txn.error(self.key, error);
        }
        self
    }

    /// Begins a method step nested in this one.
    pub fn child(&self, name: &'static str) -> StepHandle {
        StepHandle::begin(
            self.txn.as_ref(),
            self.key,
            StepKind::Method,
            RawName::Static(name),
        )
    }

    /// The `traceparent` an outgoing call made by this step should carry.
    pub fn traceparent(&self) -> Option<String> {
        self.txn
            .as_ref()
            .map(|t| t.traceparent(t.span_id_of(self.key)))
    }

    /// The inbound `tracestate` of its transaction, which outgoing calls
    /// carry on next to [`Self::traceparent`].
    pub fn tracestate(&self) -> Option<&str> {
        self.txn.as_ref().and_then(|t| t.tracestate())
    }

    /// Runs `f` with this step as the parent of steps begun on this thread.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let Some(txn) = &self.txn else { return f() };
        let _context = ContextGuard::new(txn, self.key);
        f()
    }

    /// Ends the step now.
    pub fn end(mut self) {
        self.finish(None, false);
    }

    fn finish(&mut self, busy: Option<u64>, cancelled: bool) {
        if self.txn.is_some() {
            self.finish_at(clock::now(), busy, cancelled);
        }
    }

    /// Ends the step at `end` (ticks), a clock read its caller made anyway.
    fn finish_at(&mut self, end: u64, busy: Option<u64>, cancelled: bool) {
        let Some(txn) = self.txn.take() else { return };
        txn.finish_step(FinishedStep {
            key: self.key,
            parent: self.parent,
            // Never polled (dropped before): it began as it ended.
            start: if self.start == NOT_STARTED {
                end
            } else {
                self.start
            },
            end,
            busy,
            name: self.name,
            kind: self.kind,
            cancelled,
        });
    }
}

impl Drop for StepHandle {
    fn drop(&mut self) {
        self.finish(None, false);
    }
}

/// Wraps futures in transactions and steps.
pub trait FutureExt: Future + Sized {
    /// Runs this future as one transaction, from now until it completes.
    /// Takes a [`TransactionBuilder`] (begun now) or an
    /// [`AsyncTransaction`] begun earlier.
    fn in_transaction(self, txn: impl IntoAsyncTransaction) -> InTransaction<Self> {
        InTransaction {
            inner: self,
            txn: OpenTxn {
                txn: txn.into_async_transaction(),
                done: false,
            },
        }
    }

    /// Runs this future as a method step of the async work being polled
    /// now (see [`step`]), from its first poll until it completes (a
    /// future made now and awaited later begins when it is awaited; the
    /// parent is the work being polled now).
    fn in_step(self, name: &'static str) -> InStep<Self> {
        self.in_step_of_kind(StepKind::Method, name)
    }

    /// As [`FutureExt::in_step`], of the given kind.
    fn in_step_of_kind(self, kind: StepKind, name: &'static str) -> InStep<Self> {
        self.in_step_handle(step_from_first_poll(kind, name))
    }

    /// Runs this future as `step`, begun earlier (to give it attributes
    /// first, or a name known only at run time: [`sql_step`]), until it
    /// completes; steps begun while it is polled nest under it.
    fn in_step_handle(self, step: StepHandle) -> InStep<Self> {
        InStep {
            inner: self,
            step: OpenStep {
                step,
                busy: 0,
                polled: false,
            },
        }
    }
}

impl<F: Future> FutureExt for F {}

/// What [`FutureExt::in_transaction`] accepts.
pub trait IntoAsyncTransaction {
    /// The transaction, begun.
    fn into_async_transaction(self) -> AsyncTransaction;
}

impl IntoAsyncTransaction for TransactionBuilder {
    fn into_async_transaction(self) -> AsyncTransaction {
        self.begin_async()
    }
}

impl IntoAsyncTransaction for AsyncTransaction {
    fn into_async_transaction(self) -> AsyncTransaction {
        self
    }
}

pin_project_lite::pin_project! {
    /// A future run as a transaction; see [`FutureExt::in_transaction`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct InTransaction<F> {
        #[pin]
        inner: F,
        // After `inner`, so dropped after it: the steps of work dropped
        // before it completed end (cancelled) while the transaction is
        // still open to record them.
        txn: OpenTxn,
    }
}

/// The transaction of an [`InTransaction`]: ended, cancelled, when dropped
/// before its future completed.
#[derive(Debug)]
struct OpenTxn {
    txn: AsyncTransaction,
    done: bool,
}

impl Drop for OpenTxn {
    fn drop(&mut self) {
        if !self.done {
            self.txn.finish(true);
        }
    }
}

impl<F: Future> Future for InTransaction<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let OpenTxn { txn, done } = this.txn;
        let Some(shared) = &txn.txn else {
            return this.inner.poll(cx);
        };
        let start = clock::now();
        let out = {
            let _context = ContextGuard::new(shared, NO_STEP);
            this.inner.poll(cx)
        };
        // One clock read ends the poll and, when done, the transaction.
        let now = clock::now();
        txn.busy += now.saturating_sub(start);
        txn.polled = true;
        if out.is_ready() {
            *done = true;
            txn.finish_at(now, false);
        }
        out
    }
}

pin_project_lite::pin_project! {
    /// A future run as a step; see [`FutureExt::in_step`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct InStep<F> {
        #[pin]
        inner: F,
        // After `inner`, so dropped after it: steps nested in the work end
        // before this one (see `InTransaction`).
        step: OpenStep,
    }
}

/// The step of an [`InStep`] and its busy time so far: ended, cancelled,
/// when dropped before its future completed.
#[derive(Debug)]
struct OpenStep {
    step: StepHandle,
    busy: u64,
    polled: bool,
}

impl Drop for OpenStep {
    fn drop(&mut self) {
        // Still open (not ended at completion): dropped before it completed.
        let busy = self.polled.then_some(self.busy);
        self.step.finish(busy, true);
    }
}

impl<F: Future> Future for InStep<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let OpenStep { step, busy, polled } = this.step;
        let StepHandle {
            txn: Some(txn),
            key,
            start: step_start,
            ..
        } = step
        else {
            return this.inner.poll(cx);
        };
        let start = clock::now();
        if *step_start == NOT_STARTED {
            *step_start = start;
        }
        let out = {
            let _context = ContextGuard::new(txn, *key);
            this.inner.poll(cx)
        };
        let now = clock::now();
        *busy += now.saturating_sub(start);
        *polled = true;
        if out.is_ready() {
            step.finish_at(now, Some(*busy), false);
        }
        out
    }
}
