//! Transactions whose work moves between threads: an `async` request whose
//! future is polled by whichever runtime worker is free, with steps that
//! begin on one thread and end on another, or run in parallel.
//!
//! The thread-local recorder ([`super::recorder`]) cannot hold such a
//! transaction (its buffer belongs to one thread), so it is a
//! [`SharedTxn`] behind an `Arc` that every step holds. A step keeps its
//! own state (start, busy time, parent) wherever its owner keeps it — a
//! span's registry extensions, a future, a handle — and when it ends it
//! pushes one self-contained [`FinishedStep`] onto the transaction's
//! lock-free queue: no lock, one atomic add when the step begins and one
//! queue push when it ends, whatever thread either happens on. The thread
//! that ends the transaction only marks it ended and queues it for the
//! collector ([`EndedTxn`]), which drains the queue, orders the steps by
//! when they began (parents first), links parents, repairs what ended out
//! of order and goes on with the usual raw transaction. The application's
//! thread so writes nothing but the transaction's own lines: a buffer to
//! assemble in would be one the collector last touched, every line of it a
//! cache miss on the way there and back.
//!
//! Memory is bounded as for the thread-local path: steps past the
//! configured cap are counted, not kept; attributes past
//! [`MAX_ATTRS`](super::recorder::MAX_ATTRS) are ignored.

use std::cell::{RefCell, UnsafeCell};
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicUsize, Ordering};

use parking_lot::Mutex;
use smallvec::SmallVec;

use super::raw::{NO_STEP, RawAttr, RawName, RawStep, RawTxnName, RawValue};
use super::recorder::{self, Handover, MAX_ATTRS};
use crate::clock;
use crate::model::{self, AttrValue, ErrorInfo, SpanId, SpanKind, StepKind, TraceId};
use crate::propagation::{self, RemoteParent};

/// One step as it ended.
#[derive(Debug)]
pub(crate) struct FinishedStep {
    /// Its key from [`SharedTxn::open_step`]: the order steps began in.
    pub key: u32,
    /// The parent step's key, or [`NO_STEP`] (the transaction).
    pub parent: u32,
    pub start: u64,
    pub end: u64,
    /// Ticks it was being polled (entered), or `None` when not measured.
    pub busy: Option<u64>,
    pub name: RawName,
    pub kind: StepKind,
    /// Dropped before it completed.
    pub cancelled: bool,
}

/// What the transaction's queue carries.
#[derive(Debug)]
enum Piece {
    Step(FinishedStep),
    Attr {
        step: u32,
        key: RawName,
        value: RawValue,
    },
    Error {
        step: u32,
        /// Boxed: errors are rare, and a piece stays one cache line.
        error: Box<ErrorInfo>,
    },
    Rename(String),
}

/// Pieces kept in the transaction's own allocation.
const INLINE_PIECES: usize = 8;

/// Pieces per overflow chunk: a chunk (960 bytes, line-aligned) stays
/// under 1 KiB.
const CHUNK_PIECES: usize = 14;

/// Bytes between a chunk's piece states and its slots, so that the slots
/// begin a cache line (the chunk's link, counter and states fill the
/// first).
const CHUNK_PAD: usize = 64 - 8 - 8 - 8 - CHUNK_PIECES;

/// Overflow chunks a pooled transaction keeps (see [`SharedTxn::emptied`]):
/// room for some 50 pieces without allocating.
const KEEP_CHUNKS: usize = 4;

/// Where [`SharedTxn::open_step`] holds the key counter once past the step
/// cap, so that it never wraps around to keys already handed out.
const KEY_CEILING: u32 = u32::MAX / 2;

/// Slot states of [`InlinePieces`].
const EMPTY: u8 = 0;
const READY: u8 = 1;
const TAKEN: u8 = 2;

/// A fixed number of pieces stored in place, lock-free: a pusher reserves a
/// slot with one atomic add, writes it, then marks it ready; the collector
/// takes each ready slot once. A slot reserved but not yet ready when the
/// collector drains is left (its step ended as the transaction did:
/// counted as unfinished) and dropped when the slots are cleared.
#[repr(C)]
struct InlinePieces<const N: usize = INLINE_PIECES, const PAD: usize = 0> {
    next: AtomicUsize,
    state: [AtomicU8; N],
    _pad: [u8; PAD],
    slots: Slots<N>,
}

/// A piece's room: a cache line's worth, so that where the slots begin on
/// a line each piece has one of its own (see [`SharedTxn`]'s layout).
#[repr(transparent)]
struct Slot(UnsafeCell<MaybeUninit<Piece>>);

/// The slots, after the counter and the states.
#[repr(transparent)]
struct Slots<const N: usize>([Slot; N]);

// SAFETY: a slot's value is written only by the one thread whose `fetch_add`
// returned its index, before its state becomes READY (release); it is read
// only by the one thread that moves the state from READY to TAKEN
// (acquire), or by `drop` with exclusive access. No two threads touch a
// slot's value at once, and `Piece` is `Send`.
unsafe impl<const N: usize, const PAD: usize> Sync for InlinePieces<N, PAD> {}

impl<const N: usize, const PAD: usize> InlinePieces<N, PAD> {
    fn new() -> Self {
        Self {
            next: AtomicUsize::new(0),
            state: [const { AtomicU8::new(EMPTY) }; N],
            _pad: [0; PAD],
            slots: Slots([const { Slot(UnsafeCell::new(MaybeUninit::uninit())) }; N]),
        }
    }

    /// True once every slot is reserved (a hint: a push may still fail).
    fn is_full(&self) -> bool {
        self.next.load(Ordering::Relaxed) >= N
    }

    /// Stores `piece`, or gives it back when every slot is taken.
    #[inline]
    fn push(&self, piece: Piece) -> Result<(), Piece> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        let Some(Slot(slot)) = self.slots.0.get(index) else {
            return Err(piece);
        };
        // SAFETY: `index` came from the `fetch_add` above, so this thread
        // alone writes this slot, and nobody reads it before READY.
        unsafe { (*slot.get()).write(piece) };
        self.state[index].store(READY, Ordering::Release);
        Ok(())
    }

    /// Passes each ready piece, in slot order, to `f` (once ever).
    fn take_each(&self, mut f: impl FnMut(Piece)) {
        let filled = self.next.load(Ordering::Relaxed).min(N);
        for index in 0..filled {
            if self.state[index]
                .compare_exchange(READY, TAKEN, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                // SAFETY: READY means written (the acquire pairs with the
                // writer's release); winning the exchange makes this the only
                // read, and TAKEN keeps `drop` from dropping it again.
                f(unsafe { (*self.slots.0[index].0.get()).assume_init_read() });
            }
        }
    }
}

impl<const N: usize, const PAD: usize> InlinePieces<N, PAD> {
    /// Drops the pieces never taken and empties every slot for reuse.
    fn clear(&mut self) {
        for (state, Slot(slot)) in self.state.iter_mut().zip(&mut self.slots.0) {
            if *state.get_mut() == READY {
                // SAFETY: READY and not TAKEN: written and never read out;
                // `&mut self` excludes every other access.
                unsafe { slot.get_mut().assume_init_drop() };
            }
            *state.get_mut() = EMPTY;
        }
        *self.next.get_mut() = 0;
    }
}

impl<const N: usize, const PAD: usize> Drop for InlinePieces<N, PAD> {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<const N: usize, const PAD: usize> std::fmt::Debug for InlinePieces<N, PAD> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlinePieces")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// The pieces past the in-place ones: a chain of [`CHUNK_PIECES`]-piece
/// chunks, each made on first need (most transactions never need one). A
/// chunk is filled as the in-place pieces are, lock-free, and is a small
/// allocation whose slots are not zeroed.
#[derive(Default)]
struct Overflow(Link);

/// The chunk pushes start from, kept in the first chunk: the last one a
/// pusher moved on to, so a push walks no full chunks (a long transaction
/// would otherwise walk the chain from its head for every step). Only a
/// hint: every chunk before it is full, and a racing pusher may set an
/// earlier one, which costs that walk and nothing else. Null until a
/// second chunk is made, and again after [`Overflow::clear`].
#[derive(Default)]
struct Tail(AtomicPtr<Chunk>);

/// One cache line of link, tail hint (the first chunk's only), counter and
/// states, then a line per piece.
#[repr(C, align(64))]
struct Chunk {
    next: Link,
    tail: Tail,
    pieces: InlinePieces<CHUNK_PIECES, CHUNK_PAD>,
}

/// A pointer to the next chunk, null until one is made; set at most once.
#[derive(Default)]
struct Link(AtomicPtr<Chunk>);

impl Link {
    fn get(&self) -> Option<&Chunk> {
        let ptr = self.0.load(Ordering::Acquire);
        // SAFETY: a non-null pointer here came from `Box::into_raw` in
        // `get_or_make`, is never replaced once set, and is freed only by
        // `drop` (`&mut self`).
        (!ptr.is_null()).then(|| unsafe { &*ptr })
    }

    /// The chunk, made now if it is not yet (lock-free: a racing maker's
    /// chunk is dropped, the first one stays).
    fn get_or_make(&self) -> &Chunk {
        if let Some(chunk) = self.get() {
            return chunk;
        }
        let fresh = Box::into_raw(Box::new(Chunk {
            next: Link::default(),
            tail: Tail::default(),
            pieces: InlinePieces::new(),
        }));
        let ptr = match self.0.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: `fresh` came from `Box::into_raw` above and was
                // never shared.
                drop(unsafe { Box::from_raw(fresh) });
                winner
            }
        };
        // SAFETY: as in `get`.
        unsafe { &*ptr }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Iteratively, so a long chain cannot overflow the stack.
        let mut ptr = std::mem::replace(self.0.get_mut(), std::ptr::null_mut());
        while !ptr.is_null() {
            // SAFETY: from `Box::into_raw` in `get_or_make`; `&mut self`
            // (and then ownership of each chunk) means no other reference
            // remains.
            let mut chunk = unsafe { Box::from_raw(ptr) };
            ptr = std::mem::replace(chunk.next.0.get_mut(), std::ptr::null_mut());
        }
    }
}

impl Overflow {
    /// Stores `piece` in the first chunk with room from [`Tail`] on,
    /// making chunks as needed.
    fn push(&self, mut piece: Piece) {
        let first = self.0.get_or_make();
        let tail = first.tail.0.load(Ordering::Acquire);
        let mut chunk = if tail.is_null() {
            first
        } else {
            // SAFETY: a non-null tail is a chunk of this chain (stored
            // below from `get_or_make`); chunks are freed only by `clear`
            // and `drop` (`&mut self`), and `clear` nulls it.
            unsafe { &*tail }
        };
        loop {
            if !chunk.pieces.is_full() {
                match chunk.pieces.push(piece) {
                    Ok(()) => return,
                    Err(back) => piece = back,
                }
            }
            chunk = chunk.next.get_or_make();
            first
                .tail
                .0
                .store(std::ptr::from_ref(chunk).cast_mut(), Ordering::Release);
        }
    }

    /// Passes each ready piece, chunk by chunk in slot order, to `f`.
    fn take_each(&self, mut f: impl FnMut(Piece)) {
        let mut next = self.0.get();
        while let Some(chunk) = next {
            chunk.pieces.take_each(&mut f);
            next = chunk.next.get();
        }
    }

    /// Empties the first `keep` chunks for reuse and frees the rest.
    fn clear(&mut self, keep: usize) {
        let mut link = &mut self.0;
        for _ in 0..keep {
            let ptr = *link.0.get_mut();
            if ptr.is_null() {
                return;
            }
            // SAFETY: from `Box::into_raw` in `get_or_make`, never replaced
            // once set; `&mut self` excludes every other access.
            let chunk = unsafe { &mut *ptr };
            *chunk.tail.0.get_mut() = std::ptr::null_mut();
            chunk.pieces.clear();
            link = &mut chunk.next;
        }
        drop(std::mem::take(link));
    }
}

impl std::fmt::Debug for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Overflow")
    }
}

/// How a shared transaction ended, and its name until then: written by
/// the thread whose swap of [`SharedTxn::ended`] counted, read by the
/// [`EndedTxn`] that thread hands to the collector. No lock (a lock's line
/// would be one more cache miss when the transaction ends on another
/// thread).
struct Ending {
    name: Option<RawTxnName>,
    end: u64,
    busy: Option<u64>,
    cancelled: bool,
}

impl Ending {
    fn new(name: RawTxnName) -> Self {
        Self {
            name: Some(name),
            end: 0,
            busy: None,
            cancelled: false,
        }
    }
}

/// [`Ending`] shared by a transaction's threads.
struct EndingCell(UnsafeCell<Ending>);

// SAFETY: the value is written only before the transaction is shared (its
// begin, `&mut`) and by `SharedTxn::end`, on the one thread whose swap
// turned `ended` from false to true (every other caller returns before
// touching it); it is read only through the one `EndedTxn` that
// thread made, after the hand-off that carries it (a channel: the write
// happens before the read). So no two threads access it at once, and
// `RawTxnName` is `Send`.
unsafe impl Sync for EndingCell {}

impl std::fmt::Debug for EndingCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndingCell")
    }
}

/// A transaction open across threads. Shared by its steps through `Arc`.
///
/// Laid out by cache line, as a small transaction is written on one core
/// and read on another: the first line holds everything a step touches
/// (with the `Arc`'s counts on the line before it), then one line per
/// in-place piece, then what only the begin and the end write.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct SharedTxn {
    next_key: AtomicU32,
    /// Attributes and errors accepted so far (capped at [`MAX_ATTRS`]).
    extras: AtomicU32,
    max_steps: u32,
    /// Set by the one [`Self::end`] that counts.
    ended: AtomicBool,
    force_sample: AtomicBool,
    /// Set once `assigned` holds an id: the end locks it only then.
    any_assigned: AtomicBool,
    kind: SpanKind,
    start: u64,
    /// Heap bytes of the texts it owns (name, attribute values, errors,
    /// renames), for the queue's memory budget.
    owned_bytes: AtomicUsize,
    thread_id: u64,
    span_id: SpanId,
    /// The first pieces, in place (the counter and states end the first
    /// line; the slots begin the next); the rest in `pieces`.
    inline: InlinePieces,
    /// How it ended; its name until then. With `pieces`, the line after
    /// the slots.
    ending: EndingCell,
    /// The pieces past the in-place ones, made on first need.
    pieces: Overflow,
    trace_id: TraceId,
    parent_span_id: Option<SpanId>,
    /// The inbound `tracestate`, passed on to outgoing calls.
    tracestate: Option<Box<str>>,
    /// Span ids handed out before the end (step key, id): once per
    /// outgoing call or link, so a lock is fine here.
    assigned: Mutex<Vec<(u32, SpanId)>>,
}

impl SharedTxn {
    /// Begins a transaction now, with the inbound `tracestate` to pass on
    /// to outgoing calls; `None` when Osprey is not running. Begins in an
    /// emptied one from the pool when this thread has one.
    pub fn begin(
        name: RawTxnName,
        kind: SpanKind,
        remote: Option<RemoteParent>,
        tracestate: Option<String>,
    ) -> Option<Arc<Self>> {
        let mut ids = recorder::shared_start(remote)?;
        let owned = match &name {
            RawTxnName::Owned(name) => name.capacity(),
            RawTxnName::Raw(_) => 0,
        } + tracestate.as_ref().map_or(0, String::len);
        let tracestate = tracestate.map(String::into_boxed_str);
        let start = clock::now();
        if let Some(mut reused) = ids.reuse.take() {
            // Unique when pooled (see `emptied`): nothing can have cloned it.
            if let Some(txn) = Arc::get_mut(&mut reused) {
                txn.trace_id = ids.trace_id;
                txn.span_id = ids.span_id;
                txn.parent_span_id = ids.parent_span_id;
                txn.kind = kind;
                *txn.ended.get_mut() = false;
                *txn.ending.0.get_mut() = Ending::new(name);
                txn.start = start;
                txn.thread_id = ids.thread_id;
                txn.max_steps = ids.max_steps;
                *txn.next_key.get_mut() = 0;
                *txn.extras.get_mut() = 0;
                *txn.force_sample.get_mut() = ids.force_sample;
                *txn.any_assigned.get_mut() = false;
                *txn.owned_bytes.get_mut() = owned;
                txn.tracestate = tracestate;
                return Some(reused);
            }
        }
        Some(Arc::new(Self {
            trace_id: ids.trace_id,
            span_id: ids.span_id,
            parent_span_id: ids.parent_span_id,
            kind,
            ended: AtomicBool::new(false),
            ending: EndingCell(UnsafeCell::new(Ending::new(name))),
            start,
            thread_id: ids.thread_id,
            max_steps: ids.max_steps,
            next_key: AtomicU32::new(0),
            extras: AtomicU32::new(0),
            force_sample: AtomicBool::new(ids.force_sample),
            any_assigned: AtomicBool::new(false),
            owned_bytes: AtomicUsize::new(owned),
            inline: InlinePieces::new(),
            pieces: Overflow::default(),
            assigned: Mutex::new(Vec::new()),
            tracestate,
        }))
    }

    /// `txn` emptied for another transaction to begin in, when nothing else
    /// holds it (a step handle or span may outlive the end); `None` then.
    /// Keeps up to [`KEEP_CHUNKS`] overflow chunks.
    pub fn emptied(mut txn: Arc<Self>) -> Option<Arc<Self>> {
        let inner = Arc::get_mut(&mut txn)?;
        // Only what this transaction used: each line left alone is one the
        // next begin finds where it left it. (The tracestate is replaced
        // at the begin.)
        let overflowed = *inner.inline.next.get_mut() > INLINE_PIECES;
        inner.inline.clear();
        if overflowed {
            inner.pieces.clear(KEEP_CHUNKS);
        }
        if *inner.any_assigned.get_mut() {
            inner.assigned.get_mut().clear();
        }
        Some(txn)
    }

    /// The inbound `tracestate`, for outgoing calls.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The trace this transaction belongs to.
    #[cfg_attr(not(feature = "layer"), allow(dead_code))]
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// True once [`Self::end`] ran: further steps are not recorded.
    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }

    /// A key for a step beginning now; `None` past the step cap (the step
    /// is then counted as dropped) or after the end.
    #[inline]
    pub fn open_step(&self) -> Option<u32> {
        if self.has_ended() {
            return None;
        }
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        if key < self.max_steps {
            return Some(key);
        }
        if key >= KEY_CEILING && self.max_steps <= KEY_CEILING {
            // Keys past the cap only count dropped steps: held far below
            // wrapping (which would hand out stored keys again) by setting
            // the count back now and then; the count stays a lower bound.
            self.next_key.store(KEY_CEILING, Ordering::Relaxed);
        }
        None
    }

    /// Records a step that ended.
    #[inline]
    pub fn finish_step(&self, step: FinishedStep) {
        self.push(Piece::Step(step));
    }

    /// Adds an attribute to a step (`step` its key) or to the transaction
    /// ([`NO_STEP`]).
    pub fn attr(&self, step: u32, key: RawName, mut value: AttrValue) {
        if self.take_extra() {
            crate::capped::cap_value(&key, &mut value);
            if let AttrValue::Str(text) = &value {
                self.own(text.capacity());
            }
            self.push(Piece::Attr {
                step,
                key,
                value: RawValue::Value(value),
            });
        }
    }

    /// Records an error on a step or the transaction (as for [`Self::attr`]).
    pub fn error(&self, step: u32, mut error: ErrorInfo) {
        if self.take_extra() {
            crate::capped::cap_error(&mut error);
            self.own(error.kind.len() + error.message.len() + error.stack.len() + 32);
            self.push(Piece::Error {
                step,
                error: Box::new(error),
            });
        }
    }

    /// Renames the transaction (the last rename wins). Counts against the
    /// attribute cap, so a rename in a loop cannot grow memory without bound.
    pub fn rename(&self, name: String) {
        if self.take_extra() {
            self.own(name.capacity());
            self.push(Piece::Rename(name));
        }
    }

    /// Counts `bytes` of owned text against the queue's budget.
    fn own(&self, bytes: usize) {
        self.owned_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Queues a piece: in place while there is room (no allocation for a
    /// small transaction), else in the overflow chunks. A piece that comes
    /// after the end is not kept (the collector may be reading the queue).
    #[inline]
    fn push(&self, piece: Piece) {
        if self.has_ended() {
            return;
        }
        if let Err(piece) = self.inline.push(piece) {
            self.pieces.push(piece);
        }
    }

    fn take_extra(&self) -> bool {
        self.extras
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                ((n as usize) < MAX_ATTRS).then_some(n + 1)
            })
            .is_ok()
    }

    /// The span id the step `key` (or the transaction, [`NO_STEP`]) will be
    /// exported with, assigned now if it has none yet.
    pub fn span_id_of(&self, key: u32) -> SpanId {
        if key == NO_STEP {
            return self.span_id;
        }
        let mut assigned = self.assigned.lock();
        if let Some((_, id)) = assigned.iter().find(|(k, _)| *k == key) {
            return *id;
        }
        let id = recorder::new_span_id();
        assigned.push((key, id));
        self.any_assigned.store(true, Ordering::Release);
        id
    }

    /// The `traceparent` naming `span` (a step's or the transaction's id)
    /// as the parent of an outgoing call; the trace then keeps its tree.
    pub fn traceparent(&self, span: SpanId) -> String {
        self.force_sample.store(true, Ordering::Relaxed);
        propagation::format_traceparent(self.trace_id, span, true)
    }

    /// Ends the transaction at `end` (ticks) and hands it to the collector,
    /// which assembles it ([`EndedTxn::assemble`]): the ending thread only
    /// marks it ended and queues it. Only the first call counts (`None` for
    /// the others). `busy` is the time its own future or span was polled,
    /// `cancelled` that it was dropped before completing.
    pub fn end(self: Arc<Self>, end: u64, busy: Option<u64>, cancelled: bool) -> Option<Handover> {
        if self.ended.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: this thread won the swap above, so it alone writes the
        // ending (see `EndingCell`), and only this once.
        let ending = unsafe { &mut *self.ending.0.get() };
        ending.end = end.max(self.start);
        ending.busy = busy;
        ending.cancelled = cancelled;
        Some(recorder::hand_over_shared(EndedTxn(self)))
    }
}

/// A shared transaction that ended, on its way to the collector: made once,
/// by the thread whose [`SharedTxn::end`] counted, and consumed by
/// [`EndedTxn::assemble`]. Steps that end after it are not kept.
#[derive(Debug)]
pub(crate) struct EndedTxn(Arc<SharedTxn>);

impl EndedTxn {
    /// Rough heap footprint, for the queue's memory budget: the
    /// transaction, its overflow chunks, and the texts its pieces own.
    pub fn footprint(&self) -> usize {
        let txn = &self.0;
        // Keys past the step cap were counted, not stored.
        let steps = txn.next_key.load(Ordering::Relaxed).min(txn.max_steps);
        let pieces = steps as usize + txn.extras.load(Ordering::Relaxed) as usize;
        let chunks = pieces.saturating_sub(INLINE_PIECES).div_ceil(CHUNK_PIECES);
        std::mem::size_of::<SharedTxn>()
            + chunks * std::mem::size_of::<Chunk>()
            + txn.owned_bytes.load(Ordering::Relaxed)
    }

    /// Fills `raw` (emptied) from the transaction's queue: orders the steps
    /// by when they began (parents first), links parents and repairs what
    /// ended out of order; `scratch`'s buffers are kept by the caller, so
    /// assembling allocates nothing once warm. Gives the transaction back,
    /// for [`SharedTxn::emptied`].
    pub fn assemble(
        self,
        raw: &mut super::raw::RawTransaction,
        scratch: &mut Scratch,
    ) -> Arc<SharedTxn> {
        let txn = &*self.0;
        // SAFETY: an `EndedTxn` is made only by the thread that won the end
        // (which wrote the ending before the hand-off that carries this
        // value), and this consumes it: the only read (see `EndingCell`).
        let ending = unsafe { &mut *txn.ending.0.get() };
        let Scratch {
            steps,
            rest,
            index_of,
        } = scratch;
        let mut name = ending
            .name
            .take()
            .unwrap_or(RawTxnName::Raw(RawName::Static("?")));
        let mut sort = |piece| match piece {
            Piece::Step(step) => steps.push(step),
            Piece::Rename(new) => name = RawTxnName::Owned(new),
            other => rest.push(other),
        };
        // In push order: in place first, then the chunks (a rename's order
        // matters).
        txn.inline.take_each(&mut sort);
        txn.pieces.take_each(&mut sort);
        raw.busy = ending.busy;
        raw.end = ending.end;
        raw.trace_id = txn.trace_id;
        raw.span_id = txn.span_id;
        raw.parent_span_id = txn.parent_span_id;
        raw.kind = txn.kind;
        raw.name = name;
        raw.start = txn.start;
        raw.thread_id = txn.thread_id;
        raw.max_steps = txn.max_steps;
        raw.force_sample = txn.force_sample.load(Ordering::Relaxed);
        raw.repaired = ending.cancelled;
        let issued = txn.next_key.load(Ordering::Relaxed);
        raw.dropped_steps = issued.saturating_sub(txn.max_steps);
        let unfinished = (issued.min(txn.max_steps) as usize).saturating_sub(steps.len());
        link_steps(raw, steps, index_of, issued.min(txn.max_steps));
        if txn.any_assigned.load(Ordering::Acquire) {
            for (key, id) in txn.assigned.lock().drain(..) {
                if let Some(index) = resolve(index_of, key).filter(|i| *i != NO_STEP) {
                    raw.assigned_span_ids.push((index, id));
                }
            }
        }
        for piece in rest.drain(..) {
            let (step, attr) = match piece {
                Piece::Attr { step, key, value } => (step, Some((key, value))),
                Piece::Error { step, error } => {
                    if let Some(index) = resolve(index_of, step) {
                        raw.errors.push((index, *error));
                    }
                    continue;
                }
                Piece::Step(_) | Piece::Rename(_) => continue,
            };
            if let (Some(index), Some((key, value))) = (resolve(index_of, step), attr) {
                raw.attrs.push(RawAttr {
                    step: index,
                    key,
                    value,
                });
            }
        }
        if ending.cancelled {
            push_flag(&mut raw.attrs, NO_STEP, model::ATTR_CANCELLED);
        }
        if unfinished > 0 {
            raw.repaired = true;
            raw.attrs.push(RawAttr {
                step: NO_STEP,
                key: RawName::Static(model::ATTR_UNFINISHED_STEPS),
                value: RawValue::Value(AttrValue::Int(unfinished as i64)),
            });
        }
        steps.shrink_to(SCRATCH_KEEP);
        rest.shrink_to(SCRATCH_KEEP);
        index_of.shrink_to(SCRATCH_KEEP);
        self.0
    }
}

/// Puts `steps` into `raw` in the order they began, parents linked by
/// index, leaving each key's index (or [`NO_STEP`] when not kept) in
/// `index_of`.
///
/// Repairs what arrives broken, marking the step: a parent that never
/// ended (its children hang on the nearest kept ancestor, here the
/// transaction), a step that ended after its parent (cut to the parent's
/// end) or after the transaction (cut to its end).
fn link_steps(
    raw: &mut super::raw::RawTransaction,
    steps: &mut Vec<FinishedStep>,
    index_of: &mut Vec<u32>,
    issued: u32,
) {
    steps.sort_unstable_by_key(|s| s.key);
    index_of.clear();
    index_of.resize(issued as usize, NO_STEP);
    raw.steps.reserve(steps.len());
    for s in steps.drain(..) {
        let Some(slot) = index_of.get_mut(s.key as usize) else {
            continue;
        };
        if *slot != NO_STEP {
            continue; // a key ended twice: keep the first
        }
        let index = raw.steps.len() as u32;
        *slot = index;
        let (parent, parent_end, lost_parent) = if s.parent == NO_STEP {
            (NO_STEP, raw.end, false)
        } else {
            match index_of.get(s.parent as usize).copied() {
                Some(p) if p != NO_STEP && p < index => (p, raw.steps[p as usize].end, false),
                _ => (NO_STEP, raw.end, true),
            }
        };
        let end = s.end.max(s.start);
        let late = end > parent_end;
        let repaired = s.cancelled || lost_parent || late;
        raw.repaired |= repaired;
        raw.steps.push(RawStep {
            start: s.start,
            end: if late { parent_end.max(s.start) } else { end },
            name: s.name,
            parent,
            kind: s.kind,
            repaired,
        });
        if let Some(busy) = s.busy {
            raw.step_busy.push((index, busy));
        }
        if s.cancelled {
            push_flag(&mut raw.attrs, index, model::ATTR_CANCELLED);
        }
    }
}

fn resolve(index_of: &[u32], key: u32) -> Option<u32> {
    if key == NO_STEP {
        return Some(NO_STEP);
    }
    index_of
        .get(key as usize)
        .copied()
        .filter(|i| *i != NO_STEP)
}

fn push_flag(attrs: &mut Vec<RawAttr>, step: u32, key: &'static str) {
    attrs.push(RawAttr {
        step,
        key: RawName::Static(key),
        value: RawValue::Value(AttrValue::Bool(true)),
    });
}

/// Buffers [`EndedTxn::assemble`] sorts a transaction's pieces in; the
/// collector keeps one.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    steps: Vec<FinishedStep>,
    rest: Vec<Piece>,
    index_of: Vec<u32>,
}

/// Scratch buffers bigger than this many entries are not kept.
const SCRATCH_KEEP: usize = 4096;

/// Most entries of a thread's context stack; deeper (leaked) entries are
/// not pushed, so a guard forgotten in a loop cannot grow memory.
const MAX_CONTEXT_DEPTH: usize = 256;

/// How a context entry holds its transaction.
enum Holder {
    /// A reference of its own: for entries whose pop may never come (a
    /// `tracing` span entered and never exited, a public guard forgotten).
    Owned(Arc<SharedTxn>),
    /// Borrowed from a [`ContextGuard`], which removes the entry (by its
    /// token) before the borrow ends: no reference-count traffic per poll.
    Borrowed(std::ptr::NonNull<SharedTxn>, u32),
}

impl Holder {
    #[cfg(test)]
    fn ptr(&self) -> *const SharedTxn {
        match self {
            Self::Owned(txn) => Arc::as_ptr(txn),
            Self::Borrowed(ptr, _) => ptr.as_ptr(),
        }
    }
}

struct ContextStack {
    /// Kept inline, in the thread's own storage, up to [`INLINE_CONTEXT`]
    /// deep: every poll pushes and pops the top entry, and a small heap
    /// buffer may share cache lines with neighbours other threads write and
    /// free (transactions, tasks). Paired against a `Vec`, CPU per span
    /// 0.99 / 0.94 / 0.91 at n = 1 / 10 / 100 in the async bench.
    entries: SmallVec<[(Holder, u32); INLINE_CONTEXT]>,
    next_token: u32,
}

/// Context entries kept in place; deeper nesting spills to the heap.
const INLINE_CONTEXT: usize = 8;

thread_local! {
    /// The async work being polled on this thread, innermost last: the
    /// transaction and the step key (or [`NO_STEP`]) that new steps hang on.
    static CONTEXT: RefCell<ContextStack> = const {
        RefCell::new(ContextStack { entries: SmallVec::new_const(), next_token: 0 })
    };
}

/// Makes `step` of `txn` the parent of steps begun on this thread until
/// the matching [`pop_context`]. False when not pushed (stack full or
/// thread tearing down): then do not pop.
#[inline]
pub(crate) fn push_context(txn: &Arc<SharedTxn>, step: u32) -> bool {
    CONTEXT
        .try_with(|c| {
            let mut c = c.borrow_mut();
            if c.entries.len() >= MAX_CONTEXT_DEPTH {
                return false;
            }
            c.entries.push((Holder::Owned(txn.clone()), step));
            true
        })
        .unwrap_or(false)
}

/// Undoes [`push_context`]: removes the innermost entry it pushed for
/// `step` of `txn` (normally the last one; an out-of-order exit removes it
/// wherever it is).
#[inline]
pub(crate) fn pop_context(txn: &Arc<SharedTxn>, step: u32) {
    let _ =
        CONTEXT.try_with(|c| {
            let mut c = c.borrow_mut();
            if let Some(pos) = c.entries.iter().rposition(|(h, s)| {
                *s == step && matches!(h, Holder::Owned(t) if Arc::ptr_eq(t, txn))
            }) {
                drop(c.entries.remove(pos));
            }
        });
}

/// Keeps `key` of a transaction as this thread's async context while alive
/// (removed on drop, also when the work inside panics). Crate-private and
/// only ever a local of the function it guards, so its drop always runs
/// while the borrowed `Arc` is alive.
pub(crate) struct ContextGuard<'a> {
    _txn: std::marker::PhantomData<&'a Arc<SharedTxn>>,
    /// The entry's token, `None` when not pushed.
    token: Option<u32>,
}

impl<'a> ContextGuard<'a> {
    /// Pushes `key` of `txn`, borrowed.
    #[inline]
    pub fn new(txn: &'a Arc<SharedTxn>, key: u32) -> Self {
        let token = CONTEXT
            .try_with(|c| {
                let mut c = c.borrow_mut();
                if c.entries.len() >= MAX_CONTEXT_DEPTH {
                    return None;
                }
                let token = c.next_token;
                c.next_token = token.wrapping_add(1);
                let ptr = std::ptr::NonNull::from(&**txn);
                c.entries.push((Holder::Borrowed(ptr, token), key));
                Some(token)
            })
            .ok()
            .flatten();
        Self {
            _txn: std::marker::PhantomData,
            token,
        }
    }
}

impl Drop for ContextGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        let Some(token) = self.token else { return };
        let _ = CONTEXT.try_with(|c| {
            let mut c = c.borrow_mut();
            let ours = |(h, _): &(Holder, u32)| matches!(h, Holder::Borrowed(_, t) if *t == token);
            if c.entries.last().is_some_and(ours) {
                c.entries.pop();
            } else if let Some(pos) = c.entries.iter().rposition(ours) {
                c.entries.remove(pos);
            }
        });
    }
}

/// The innermost async work being polled on this thread, if any.
pub(crate) fn current_context() -> Option<(Arc<SharedTxn>, u32)> {
    CONTEXT
        .try_with(|c| {
            let mut c = c.borrow_mut();
            // An owned entry whose pop never came (a span closed before its
            // exit, a guard forgotten) would hold on to its transaction
            // after the end and take in every later span on this thread:
            // dropped once it is on top.
            while let Some((Holder::Owned(txn), _)) = c.entries.last()
                && txn.has_ended()
            {
                c.entries.pop();
            }
            let (holder, key) = c.entries.last()?;
            let txn = match holder {
                Holder::Owned(txn) => txn.clone(),
                // SAFETY: a borrowed entry is on the stack only while its
                // `ContextGuard` lives, which borrows a live `Arc` of this
                // transaction; so the count is at least one here.
                Holder::Borrowed(ptr, _) => unsafe {
                    Arc::increment_strong_count(ptr.as_ptr());
                    Arc::from_raw(ptr.as_ptr())
                },
            };
            Some((txn, *key))
        })
        .ok()
        .flatten()
}

/// True when the innermost async context on this thread is `txn`'s.
#[cfg(test)]
fn current_is(txn: &Arc<SharedTxn>) -> bool {
    CONTEXT
        .try_with(|c| {
            c.borrow()
                .entries
                .last()
                .is_some_and(|(h, _)| std::ptr::eq(h.ptr(), Arc::as_ptr(txn)))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::raw::RawTransaction;

    fn step(key: u32, parent: u32, start: u64, end: u64) -> FinishedStep {
        FinishedStep {
            key,
            parent,
            start,
            end,
            busy: None,
            name: RawName::Static("s"),
            kind: StepKind::Method,
            cancelled: false,
        }
    }

    fn test_txn() -> Arc<SharedTxn> {
        Arc::new(SharedTxn {
            trace_id: TraceId([1; 16]),
            span_id: SpanId([1; 8]),
            parent_span_id: None,
            kind: SpanKind::Internal,
            ended: AtomicBool::new(false),
            ending: EndingCell(UnsafeCell::new(Ending::new(RawTxnName::Raw(
                RawName::Static("t"),
            )))),
            start: 0,
            thread_id: 0,
            max_steps: 10,
            next_key: AtomicU32::new(0),
            extras: AtomicU32::new(0),
            force_sample: AtomicBool::new(false),
            any_assigned: AtomicBool::new(false),
            owned_bytes: AtomicUsize::new(0),
            inline: InlinePieces::new(),
            pieces: Overflow::default(),
            assigned: Mutex::new(Vec::new()),
            tracestate: None,
        })
    }

    #[test]
    fn context_entries_borrowed_and_owned_come_off_by_their_own_rules() {
        let (a, b) = (test_txn(), test_txn());
        assert!(current_context().is_none());
        {
            let _outer = ContextGuard::new(&a, NO_STEP);
            assert!(current_is(&a));
            // A leaked owned entry above a borrowed one (a span never
            // exited) does not keep the borrowed one alive past its guard.
            assert!(push_context(&b, 3));
            {
                let _inner = ContextGuard::new(&a, 1);
                let (txn, key) = current_context().unwrap();
                assert!(Arc::ptr_eq(&txn, &a) && key == 1);
                assert_eq!(Arc::strong_count(&a), 2, "borrowed: one count, the clone's");
            }
            assert!(current_is(&b));
        }
        // The outer guard removed its own entry, not b's.
        let (txn, key) = current_context().unwrap();
        assert!(Arc::ptr_eq(&txn, &b) && key == 3);
        pop_context(&b, 3);
        assert!(current_context().is_none());
        assert_eq!(Arc::strong_count(&a), 1);
        assert_eq!(Arc::strong_count(&b), 2, "b plus `txn` above");
    }

    #[test]
    fn a_context_deeper_than_its_inline_entries_spills_and_stops_at_the_cap() {
        let txn = test_txn();
        let pushed: Vec<bool> = (0..MAX_CONTEXT_DEPTH as u32 + 8)
            .map(|key| push_context(&txn, key))
            .collect();
        assert!(pushed[..MAX_CONTEXT_DEPTH].iter().all(|p| *p));
        assert!(pushed[MAX_CONTEXT_DEPTH..].iter().all(|p| !*p), "full");
        const { assert!(MAX_CONTEXT_DEPTH > INLINE_CONTEXT) };
        let (_, key) = current_context().unwrap();
        assert_eq!(key, MAX_CONTEXT_DEPTH as u32 - 1);
        for key in (0..MAX_CONTEXT_DEPTH as u32).rev() {
            assert_eq!(current_context().unwrap().1, key);
            pop_context(&txn, key);
        }
        assert!(current_context().is_none());
        assert_eq!(Arc::strong_count(&txn), 1, "every entry's count given back");
    }

    /// The renames among the pieces not taken yet, in push order.
    fn take_renames(txn: &SharedTxn) -> Vec<String> {
        let mut names = Vec::new();
        let mut each = |p| {
            if let Piece::Rename(n) = p {
                names.push(n)
            }
        };
        txn.inline.take_each(&mut each);
        txn.pieces.take_each(&mut each);
        names
    }

    #[test]
    fn an_emptied_transaction_keeps_nothing_of_the_last_but_its_first_chunks() {
        let txn = test_txn();
        let many = INLINE_PIECES + (KEEP_CHUNKS + 2) * CHUNK_PIECES;
        for i in 0..many {
            txn.rename(format!("n{i}"));
        }
        txn.span_id_of(0);
        assert!(txn.any_assigned.load(Ordering::Relaxed));
        // Taken in part, as when steps ended after the end was queued.
        let mut first = None;
        txn.inline.take_each(|p| {
            first.get_or_insert(p);
        });
        let mut txn = SharedTxn::emptied(txn).expect("the only reference");
        let inner = Arc::get_mut(&mut txn).unwrap();
        assert_eq!(*inner.inline.next.get_mut(), 0);
        assert!(inner.inline.state.iter_mut().all(|s| *s.get_mut() == EMPTY));
        assert!(inner.assigned.get_mut().is_empty());
        let mut chunks = 0;
        let mut next = inner.pieces.0.get();
        while let Some(chunk) = next {
            assert_eq!(chunk.pieces.next.load(Ordering::Relaxed), 0);
            chunks += 1;
            next = chunk.next.get();
        }
        assert_eq!(chunks, KEEP_CHUNKS, "the rest freed");
        let first = inner.pieces.0.get().expect("kept");
        assert!(
            first.tail.0.load(Ordering::Relaxed).is_null(),
            "no tail into freed chunks"
        );
        // Filled again, it gives back only what came after.
        for i in 0..INLINE_PIECES + CHUNK_PIECES + 1 {
            txn.rename(format!("again {i}"));
        }
        let names = take_renames(&txn);
        assert_eq!(names.len(), INLINE_PIECES + CHUNK_PIECES + 1);
        assert!(names.iter().all(|n| n.starts_with("again")));
        // Held elsewhere too: not emptied.
        let other = txn.clone();
        assert!(SharedTxn::emptied(txn).is_none());
        drop(other);
    }

    #[test]
    fn a_piece_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Piece>(), 64);
    }

    #[test]
    fn what_a_step_touches_is_on_the_first_line_and_each_piece_on_its_own() {
        use std::mem::offset_of;
        let slots = offset_of!(SharedTxn, inline) + offset_of!(InlinePieces, slots);
        assert_eq!(slots, 64, "the slots begin the second line");
        let ending = offset_of!(SharedTxn, ending);
        assert_eq!(ending, 64 + 64 * INLINE_PIECES, "the line after the slots");
        assert!(offset_of!(SharedTxn, pieces) + 8 <= ending + 64);
        for hot in [
            offset_of!(SharedTxn, next_key),
            offset_of!(SharedTxn, ended),
            offset_of!(SharedTxn, extras),
            offset_of!(SharedTxn, inline) + offset_of!(InlinePieces, next),
            offset_of!(SharedTxn, inline) + offset_of!(InlinePieces, state),
        ] {
            assert!(hot < 64, "{hot}");
        }
        assert_eq!(std::mem::size_of::<Slot>(), 64);
        let chunk_slots =
            offset_of!(Chunk, pieces) + offset_of!(InlinePieces<CHUNK_PIECES, CHUNK_PAD>, slots);
        assert_eq!(chunk_slots, 64, "a chunk's slots begin its second line");
        assert_eq!(std::mem::align_of::<Chunk>(), 64);
        assert_eq!(std::mem::align_of::<SharedTxn>(), 64);
        // As the pool's memory bound counts them (collector/mod.rs, stash.rs).
        assert_eq!(std::mem::size_of::<SharedTxn>(), 768);
        assert_eq!(std::mem::size_of::<Chunk>(), 960);
    }

    #[test]
    fn pieces_past_the_inline_slots_go_to_chunks_and_come_back_in_order() {
        let txn = test_txn();
        // In place, a first chunk, and part of a second.
        for i in 0..(INLINE_PIECES + CHUNK_PIECES + 3) as u32 {
            txn.rename(format!("n{i}"));
        }
        let names = take_renames(&txn);
        let want: Vec<String> = (0..INLINE_PIECES + CHUNK_PIECES + 3)
            .map(|i| format!("n{i}"))
            .collect();
        assert_eq!(names, want);
        // Taken once only; untaken ones are dropped with the transaction.
        txn.inline.take_each(|_| panic!("taken twice"));
        txn.pieces.take_each(|_| panic!("taken twice"));
        let other = test_txn();
        for i in 0..INLINE_PIECES + 2 * CHUNK_PIECES + 1 {
            other.rename(format!("left in place {i}"));
        }
        drop(other);
    }

    #[test]
    fn threads_pushing_at_once_past_many_chunks_lose_no_piece() {
        const THREADS: usize = 4;
        const EACH: usize = 10 * CHUNK_PIECES;
        let txn = test_txn();
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let txn = &txn;
                s.spawn(move || {
                    for i in 0..EACH {
                        txn.rename(format!("{t}/{i}"));
                    }
                });
            }
        });
        let mut names = take_renames(&txn);
        assert_eq!(names.len(), THREADS * EACH);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), THREADS * EACH, "each once");
        let mut chunks = 0;
        let mut next = txn.pieces.0.get();
        while let Some(chunk) = next {
            chunks += 1;
            next = chunk.next.get();
        }
        let needed = (THREADS * EACH - INLINE_PIECES).div_ceil(CHUNK_PIECES);
        assert_eq!(chunks, needed, "no chunk skipped while it had room");
    }

    #[test]
    fn steps_are_ordered_by_begin_and_linked_to_parents_whatever_the_end_order() {
        let mut raw = RawTransaction::new();
        raw.end = 100;
        // Ended innermost first, as spans close.
        let mut steps = vec![
            step(2, 1, 30, 40),
            step(1, 0, 20, 50),
            step(0, NO_STEP, 10, 90),
        ];
        let mut index_of = Vec::new();
        link_steps(&mut raw, &mut steps, &mut index_of, 3);
        assert_eq!(index_of, [0, 1, 2]);
        let parents: Vec<u32> = raw.steps.iter().map(|s| s.parent).collect();
        assert_eq!(parents, [NO_STEP, 0, 1]);
        assert!(!raw.repaired);
        assert!(raw.steps.iter().all(|s| !s.repaired));
    }

    #[test]
    fn lost_parents_and_late_ends_are_repaired_and_marked() {
        let mut raw = RawTransaction::new();
        raw.end = 100;
        // Key 1 never ended; key 2 (its child) hangs on the transaction.
        // Key 3 ended after its parent 0; key 4 after the transaction.
        let mut steps = vec![
            step(0, NO_STEP, 10, 50),
            step(2, 1, 20, 30),
            step(3, 0, 30, 70),
            step(4, NO_STEP, 40, 150),
        ];
        let mut index_of = vec![7; 9]; // left over from a bigger transaction
        link_steps(&mut raw, &mut steps, &mut index_of, 5);
        assert_eq!(index_of, [0, NO_STEP, 1, 2, 3]);
        assert!(raw.repaired);
        let s = &raw.steps;
        assert_eq!((s[1].parent, s[1].repaired), (NO_STEP, true));
        assert_eq!((s[2].parent, s[2].end, s[2].repaired), (0, 50, true));
        assert_eq!((s[3].end, s[3].repaired), (100, true));
        assert!(!s[0].repaired);
    }
}
