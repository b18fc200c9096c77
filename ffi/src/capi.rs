//! The `extern "C"` functions of `osprey.h`.
//!
//! Every body runs inside [`ffi_boundary!`]; pointers are checked for NULL
//! and strings for UTF-8 before use. Recording functions act on the calling
//! thread's transaction only.

use std::ffi::{CStr, c_char, c_int};
use std::time::Duration;

use osprey::names::{self, NameId, NameKind};
use osprey::{AttrValue, Config, ErrorInfo, SpanKind, StepKind, raw};

use crate::error::{
    UNKNOWN_TEXT, detach_error, fail, init_error, last_error_ptr, osprey_result, osprey_result::*,
    record_error,
};
use crate::panic::ffi_boundary;

/// Bytes `osprey_traceparent` needs: 55 characters and the NUL.
pub const OSPREY_TRACEPARENT_LEN: usize = 56;

/// Kind of a transaction (`osprey_txn_begin`).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum osprey_txn_kind {
    /// Work started inside the process (a batch job); OpenTelemetry INTERNAL.
    OSPREY_TXN_INTERNAL = 0,
    /// Handling a request from outside; OpenTelemetry SERVER.
    OSPREY_TXN_SERVER = 1,
}

/// Kind of a step (`osprey_step_enter`); decides the exported attributes.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum osprey_step_kind {
    /// A function call.
    OSPREY_STEP_METHOD = 0,
    /// A database statement; exported as a CLIENT span.
    OSPREY_STEP_SQL = 1,
    /// An outgoing HTTP call; exported as a CLIENT span.
    OSPREY_STEP_HTTP_CALL = 2,
    /// Anything else.
    OSPREY_STEP_CUSTOM = 3,
}

/// Delivery statistics filled by `osprey_stats_sized`.
///
/// Append-only: fields are only ever added at the end, so the first bytes
/// of a newer struct are an older one. A program passes the size it was
/// built with and the library writes no more than that.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct osprey_statistics {
    /// Transactions that ended while Osprey ran (received + dropped).
    pub produced: u64,
    /// Transactions the collector received.
    pub received: u64,
    /// Transactions dropped before the collector (queue or memory full).
    pub dropped: u64,
    /// Transactions the first exporter delivered.
    pub delivered: u64,
    /// Transactions the first exporter dropped (failed or queue full).
    pub export_dropped: u64,
    /// Failed export calls of the first exporter.
    pub failed_batches: u64,
    /// Number of exporters configured.
    pub exporters: u32,
    /// Received transactions that kept no call tree while no exporter
    /// wanted them (OTLP and Zipkin send kept trees only): counted in the
    /// per-second aggregates, in no batch.
    pub counted_only: u64,
    /// New names given an overflow name since the process started, because
    /// the name table's budget for their kind was used up (their text then travels with each
    /// transaction). Filled by `osprey_stats_sized` only.
    pub names_refused: u64,
}

/// Bytes of `osprey_statistics` as the first header declared it (up to and
/// including `exporters`): all `osprey_stats` writes.
pub const OSPREY_STATS_V1_SIZE: usize = 56;

const _: () =
    assert!(OSPREY_STATS_V1_SIZE == std::mem::offset_of!(osprey_statistics, counted_only));

/// Unwraps `Ok`, or returns the error code from the enclosing body.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(code) => return code,
        }
    };
}

/// Reads a required string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub(crate) unsafe fn arg_str<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, osprey_result> {
    if ptr.is_null() {
        return Err(fail(OSPREY_ERR_NULL, format!("`{what}` is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map_err(|e| {
        fail(
            OSPREY_ERR_UTF8,
            format!(
                "`{what}` is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Reads an optional string argument: NULL gives `None`.
///
/// # Safety
/// As for [`arg_str`].
pub(crate) unsafe fn opt_str<'a>(
    ptr: *const c_char,
    what: &str,
) -> Result<Option<&'a str>, osprey_result> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { arg_str(ptr, what) }.map(Some)
}

fn step_kind(kind: c_int) -> Result<StepKind, osprey_result> {
    match u8::try_from(kind) {
        Ok(k @ 0..=3) => Ok(StepKind::from_u8(k)),
        _ => Err(fail(
            OSPREY_ERR_INVALID,
            format!("unknown step kind {kind}: expected 0 (method) to 3 (custom)"),
        )),
    }
}

/// Runs `op` (flush or shutdown) with a timeout when Osprey is running;
/// `OSPREY_ERR_TIMEOUT` when it did not finish in time.
pub(crate) fn bounded_wait(what: &str, op: fn(Duration) -> bool, timeout_ms: u32) -> osprey_result {
    if !osprey::is_running() {
        return fail(OSPREY_ERR_NOT_RUNNING, "osprey is not running");
    }
    if op(Duration::from_millis(u64::from(timeout_ms))) {
        OSPREY_OK
    } else {
        fail(OSPREY_ERR_TIMEOUT, format!("{what} did not finish in time"))
    }
}

/// Starts Osprey with `key=value` items separated by `;` or newlines
/// (`"exporter=otlp;otlp.endpoint=http://127.0.0.1:4318"`), applied on top
/// of the process environment (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_*`,
/// `OSPREY_*`). NULL or `""` with no such variables means the defaults (the
/// local store under `./osprey-data`).
///
/// Returns `OSPREY_ERR_CONFIG` for an unknown key or a bad value (the last
/// error names the key), `OSPREY_ERR_ALREADY_RUNNING` when already started.
///
/// # Safety
/// `config` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_init(config: *const c_char) -> osprey_result {
    ffi_boundary!({
        // SAFETY: forwarded contract.
        let text = tri!(unsafe { opt_str(config, "config") }).unwrap_or("");
        start_from_text(text)
    })
}

/// Starts Osprey from the environment (`OTEL_*`, `OSPREY_*`) overlaid with
/// the `key=value` items of `text`: the one start-up path of the C ABI and
/// the JNI bridge.
/// No `process.runtime.*` of its own: a C program has no runtime, and the
/// Java agent names the JVM's in `text`.
pub(crate) fn start_from_text(text: &str) -> osprey_result {
    let config = match Config::default()
        .process_runtime(None)
        .with_env(|k| std::env::var(k).ok())
    {
        Ok(c) => c,
        Err(e) => return fail(OSPREY_ERR_CONFIG, format!("environment: {e}")),
    };
    let config = match config.with_pairs_str(text) {
        Ok(c) => c,
        Err(e) => return fail(OSPREY_ERR_CONFIG, e.to_string()),
    };
    #[cfg(any(debug_assertions, feature = "fault-inject"))]
    let config = crate::fault::with_injected_exporter(config);
    match osprey::start(config) {
        Ok(()) => {
            #[cfg(any(debug_assertions, feature = "fault-inject"))]
            crate::fault::arm();
            OSPREY_OK
        }
        Err(e) => init_error(e),
    }
}

/// Stops Osprey: recording stops, queued transactions are exported and the
/// exporters shut down, waiting at most `timeout_ms`. A transaction still
/// open on some thread can be ended afterwards; it is dropped and counted.
///
/// Returns `OSPREY_ERR_NOT_RUNNING` when not started, `OSPREY_ERR_TIMEOUT`
/// when time ran out (the exporters then finish on their own threads).
#[unsafe(no_mangle)]
pub extern "C" fn osprey_shutdown(timeout_ms: u32) -> osprey_result {
    ffi_boundary!({ bounded_wait("shutdown", osprey::shutdown, timeout_ms) })
}

/// Exports every transaction ended so far and waits at most `timeout_ms`
/// for the exporters to deliver it.
///
/// Returns `OSPREY_ERR_NOT_RUNNING` when not started and
/// `OSPREY_ERR_TIMEOUT` when time ran out.
#[unsafe(no_mangle)]
pub extern "C" fn osprey_flush(timeout_ms: u32) -> osprey_result {
    ffi_boundary!({ bounded_wait("flush", osprey::flush, timeout_ms) })
}

/// Interns `name` (a function, SQL text, URL or attribute key) and writes
/// its id to `*out_id`. The same name always gives the same id; names over
/// 1024 bytes are cut at a character boundary. Works whether or not Osprey
/// is running. Intern once at start-up and keep the id: this takes a lock.
///
/// Text that starts with a SQL verb (`SELECT`, `INSERT`, ...) is interned
/// as `osprey_intern_step` does for `OSPREY_STEP_SQL`, and text starting
/// with a URL (`https://...`, `GET https://...`) as for
/// `OSPREY_STEP_HTTP_CALL`: literals become `?` and ids `{id}` first. Prefer
/// `osprey_intern_step`, which does not guess.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_intern(name: *const c_char, out_id: *mut u32) -> osprey_result {
    ffi_boundary!({
        if out_id.is_null() {
            return fail(OSPREY_ERR_NULL, "`out_id` is NULL");
        }
        // SAFETY: forwarded contract.
        let name = tri!(unsafe { arg_str(name, "name") });
        let id = names::intern_as(name, NameKind::guess(name));
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out_id.write(id.0) };
        OSPREY_OK
    })
}

/// Interns the name of a step of `step_kind` (an `osprey_step_kind`) and
/// writes its id to `*out_id`: SQL literals (`'a'`, `42`, `IN (1, 2)`)
/// become `?` and URLs lose their query values and id-like path segments (`{id}`)
/// *before* the text is interned, so that statements differing only in
/// their literals share one id and no literal stays in memory. Each kind
/// of name has its own budget in the table; past it the id is the kind's
/// overflow name (`"(other SQL: name budget full)"`) — name such steps
/// with `osprey_step_enter_name`, which then copies the text into the
/// transaction. Takes a lock.
///
/// Returns `OSPREY_ERR_INVALID` for an unknown kind.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_intern_step(
    name: *const c_char,
    step_kind: c_int,
    out_id: *mut u32,
) -> osprey_result {
    ffi_boundary!({
        if out_id.is_null() {
            return fail(OSPREY_ERR_NULL, "`out_id` is NULL");
        }
        // SAFETY: forwarded contract.
        let name = tri!(unsafe { arg_str(name, "name") });
        let kind = tri!(self::step_kind(step_kind));
        let id = names::intern_as(name, NameKind::of_step(kind));
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out_id.write(id.0) };
        OSPREY_OK
    })
}

/// Begins a transaction on the calling thread. `kind` is an
/// `osprey_txn_kind`. `traceparent` (may be NULL) is the inbound W3C
/// header, or a B3 single header (`{trace}-{span}[-{sampled}]`); an
/// unparsable one starts a new trace, as the W3C specification asks. Names over 1024 bytes are cut.
///
/// Returns `OSPREY_ERR_NOT_RUNNING` before `osprey_init` or after
/// `osprey_shutdown`, `OSPREY_ERR_ALREADY_ACTIVE` when this thread already
/// has a transaction, `OSPREY_ERR_INVALID` for an unknown kind.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; so is `traceparent`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_txn_begin(
    name: *const c_char,
    kind: c_int,
    traceparent: *const c_char,
) -> osprey_result {
    ffi_boundary!({
        // SAFETY: forwarded contract.
        let name = tri!(unsafe { arg_str(name, "name") });
        // SAFETY: forwarded contract.
        let header = tri!(unsafe { opt_str(traceparent, "traceparent") });
        let kind = match kind {
            0 => SpanKind::Internal,
            1 => SpanKind::Server,
            _ => {
                return fail(
                    OSPREY_ERR_INVALID,
                    format!("unknown transaction kind {kind}: expected 0 (internal) or 1 (server)"),
                );
            }
        };
        let remote = header.and_then(osprey::propagation::parse_inbound);
        match raw::begin(names::truncate(name), kind, remote) {
            Ok(()) => OSPREY_OK,
            Err(e) => record_error(e),
        }
    })
}

/// Ends the calling thread's transaction, closing steps left open, and
/// hands it to the collector. `OSPREY_OK` also when it was dropped (queue
/// full, or Osprey shut down meanwhile): drops are counted in
/// `osprey_stats`.
///
/// Returns `OSPREY_ERR_NO_TRANSACTION` when this thread has none.
#[unsafe(no_mangle)]
pub extern "C" fn osprey_txn_end() -> osprey_result {
    ffi_boundary!({
        match raw::end() {
            Ok(_) => OSPREY_OK,
            Err(e) => record_error(e),
        }
    })
}

/// Renames the calling thread's open transaction (a route known late).
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_txn_rename(name: *const c_char) -> osprey_result {
    ffi_boundary!({
        // SAFETY: forwarded contract.
        let name = tri!(unsafe { arg_str(name, "name") });
        match raw::rename(names::truncate(name)) {
            Ok(()) => OSPREY_OK,
            Err(e) => record_error(e),
        }
    })
}

/// Takes the calling thread's open transaction off the thread, still open,
/// and writes an id for `osprey_txn_attach` to `*out_id` (never 0): for
/// work that completes on another thread. The thread can then begin
/// another transaction.
///
/// Returns `OSPREY_ERR_NO_TRANSACTION` when this thread has none and
/// `OSPREY_ERR_LIMIT` when 4096 transactions are detached already (end it
/// instead).
///
/// # Safety
/// `out_id` is NULL or points to writable memory for a `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_txn_detach(out_id: *mut u64) -> osprey_result {
    ffi_boundary!({
        if out_id.is_null() {
            return fail(OSPREY_ERR_NULL, "out_id is NULL");
        }
        match raw::detach() {
            Ok(id) => {
                // SAFETY: checked non-null; the caller guarantees it is writable.
                unsafe { out_id.write(id) };
                OSPREY_OK
            }
            Err(e) => detach_error(e),
        }
    })
}

/// Makes the transaction detached as `id` the calling thread's open
/// transaction again; steps, attributes and `osprey_txn_end` then apply to
/// it. A transaction the thread had open is detached in its place and its
/// id written to `*out_previous` (0 when there was none): attach it again
/// when done. An id is attached once.
///
/// Returns `OSPREY_ERR_INVALID` for an unknown id.
///
/// # Safety
/// `out_previous` points to writable memory for a `uint64_t` (NULL is
/// refused: the previous transaction's id must not be lost).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_txn_attach(id: u64, out_previous: *mut u64) -> osprey_result {
    ffi_boundary!({
        if out_previous.is_null() {
            return fail(OSPREY_ERR_NULL, "out_previous is NULL");
        }
        match raw::attach(id) {
            Ok(previous) => {
                // SAFETY: checked non-null; the caller guarantees it is writable.
                unsafe { out_previous.write(previous) };
                OSPREY_OK
            }
            Err(e) => detach_error(e),
        }
    })
}

/// True when the calling thread has an open transaction.
#[unsafe(no_mangle)]
pub extern "C" fn osprey_txn_active() -> bool {
    ffi_boundary!({ raw::in_transaction() })
}

/// Enters a step named by an id from `osprey_intern`; `step_kind` is an
/// `osprey_step_kind`. Writes the step's handle to `*out_handle` (may be
/// NULL): `0` when this thread has no open transaction, which is not an
/// error (exiting handle 0 is harmless). Past the per-transaction step cap
/// (`steps.max`) the step is counted, not kept, and the handle is still
/// nonzero so that exiting it keeps enter/exit balanced. No lock, no
/// allocation.
///
/// Returns `OSPREY_ERR_INVALID` for an unknown kind.
///
/// # Safety
/// `out_handle` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_step_enter(
    name_id: u32,
    step_kind: c_int,
    out_handle: *mut u64,
) -> osprey_result {
    ffi_boundary!({
        let handle = match self::step_kind(step_kind) {
            Ok(kind) => raw::enter(NameId(name_id), kind),
            Err(code) => {
                if !out_handle.is_null() {
                    // SAFETY: non-NULL and writable per the contract.
                    unsafe { out_handle.write(0) };
                }
                return code;
            }
        };
        if !out_handle.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { out_handle.write(handle) };
        }
        OSPREY_OK
    })
}

/// Like `osprey_step_enter`, interning `name` first as `osprey_intern_step`
/// does (SQL literals become `?`, URL ids `{id}`). When the table's budget for
/// the name's kind is used up, the step is named by the kind's overflow
/// name and the sanitised text is copied into the transaction as
/// `db.query.text` (SQL), `url.full` (calls) or `code.function.name`, so no
/// step is left unnamed. Takes a lock: prefer ids on hot paths.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `out_handle` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_step_enter_name(
    name: *const c_char,
    step_kind: c_int,
    out_handle: *mut u64,
) -> osprey_result {
    ffi_boundary!({
        if !out_handle.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { out_handle.write(0) };
        }
        // SAFETY: forwarded contract.
        let name = tri!(unsafe { arg_str(name, "name") });
        let kind = tri!(self::step_kind(step_kind));
        let handle = raw::enter_named(name, kind);
        if !out_handle.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { out_handle.write(handle) };
        }
        OSPREY_OK
    })
}

/// Exits the innermost open step of the calling thread. Always
/// `OSPREY_OK`: without an open step (an exit without enter) the call is
/// ignored and the transaction is marked repaired.
#[unsafe(no_mangle)]
pub extern "C" fn osprey_step_exit() -> osprey_result {
    ffi_boundary!({
        raw::exit();
        OSPREY_OK
    })
}

/// Exits the step `handle` names, closing (and marking repaired) steps
/// entered inside it and left open. Always `OSPREY_OK`: handle `0`, a
/// handle already exited, or one from another transaction is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn osprey_step_exit_handle(handle: u64) -> osprey_result {
    ffi_boundary!({
        raw::exit_step(handle);
        OSPREY_OK
    })
}

/// The end of an asynchronous step, reported once from any thread: made by
/// `osprey_step_defer_end`, consumed by `osprey_deferred_complete`.
#[allow(non_camel_case_types)]
pub struct osprey_deferred(std::sync::Arc<osprey::DeferredEnd>);

/// Lets another thread report when the step `handle` names really ends (an
/// asynchronous call: exit the step as usual on this thread, complete the
/// cell where the call's result arrives). Writes the cell to `*out_cell`;
/// it must be passed to `osprey_deferred_complete` exactly once. When the
/// transaction is exported before that, the step keeps its exit time and is
/// marked `osprey.incomplete`.
///
/// Returns `OSPREY_ERR_INVALID` (and NULL) when `handle` is not a step of
/// this thread's open transaction, `OSPREY_ERR_LIMIT` when 4096 ends
/// already await completion.
///
/// # Safety
/// `out_cell` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_step_defer_end(
    handle: u64,
    out_cell: *mut *mut osprey_deferred,
) -> osprey_result {
    ffi_boundary!({
        if out_cell.is_null() {
            return fail(OSPREY_ERR_NULL, "`out_cell` is NULL");
        }
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out_cell.write(std::ptr::null_mut()) };
        if !raw::in_transaction() {
            return fail(
                OSPREY_ERR_NO_TRANSACTION,
                "this thread has no open transaction",
            );
        }
        let Some(end) = raw::defer_end(handle) else {
            return if osprey::DeferredEnd::outstanding() >= osprey::MAX_OUTSTANDING {
                fail(
                    OSPREY_ERR_LIMIT,
                    "too many asynchronous step ends await completion",
                )
            } else {
                fail(
                    OSPREY_ERR_INVALID,
                    "the handle is not a step of this thread's open transaction",
                )
            };
        };
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out_cell.write(Box::into_raw(Box::new(osprey_deferred(end)))) };
        OSPREY_OK
    })
}

/// Reports that the asynchronous step of `cell` ended now, with HTTP
/// `status` (`0`: none) and, when `error_message` is not NULL, as failed
/// with that message and `error_type` (may be NULL). Consumes `cell`,
/// from any thread. Text that is not valid UTF-8 is kept with U+FFFD in
/// place of the bad bytes.
///
/// Returns `OSPREY_ERR_NULL` when `cell` is NULL.
///
/// # Safety
/// `cell` is NULL or came from `osprey_step_defer_end` and was not
/// completed before; the strings are NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_deferred_complete(
    cell: *mut osprey_deferred,
    status: i64,
    error_type: *const c_char,
    error_message: *const c_char,
) -> osprey_result {
    ffi_boundary!({
        if cell.is_null() {
            return fail(OSPREY_ERR_NULL, "`cell` is NULL");
        }
        // SAFETY: from `osprey_step_defer_end`'s `Box::into_raw`, handed
        // back once per the contract.
        let cell = unsafe { Box::from_raw(cell) };
        // SAFETY: NULL or NUL-terminated per the contract.
        let lossy = |ptr: *const c_char| unsafe { lossy_str(ptr) };
        let error = lossy(error_message).map(|message| ErrorInfo {
            kind: lossy(error_type).unwrap_or_default(),
            message,
            stack: String::new(),
        });
        cell.0.complete(status, error);
        OSPREY_OK
    })
}

/// A C string as text, invalid UTF-8 replaced; NULL gives `None`.
///
/// # Safety
/// `ptr` is NULL or NUL-terminated.
unsafe fn lossy_str(ptr: *const c_char) -> Option<String> {
    // SAFETY: non-NULL and NUL-terminated per the contract.
    (!ptr.is_null()).then(|| {
        unsafe { CStr::from_ptr(ptr) }
            .to_string_lossy()
            .into_owned()
    })
}

/// An attribute value from C: text is copied by the recorder (no
/// allocation in steady state), other values are passed as they are.
enum CValue<'a> {
    Text(&'a str),
    Other(AttrValue),
}

/// Records an attribute for `step` (`Some(0)` = innermost open step, which
/// falls back to the transaction) or the transaction (`None`).
///
/// # Safety
/// `key` is NULL or a NUL-terminated string.
unsafe fn set_attr<'a>(
    step: Option<u64>,
    key: *const c_char,
    value: impl FnOnce() -> Result<CValue<'a>, osprey_result>,
) -> osprey_result {
    // SAFETY: forwarded contract.
    let key = tri!(unsafe { arg_str(key, "key") });
    let value = tri!(value());
    if !raw::in_transaction() {
        return fail(
            OSPREY_ERR_NO_TRANSACTION,
            "this thread has no open transaction",
        );
    }
    let key = names::intern(key);
    let set = match value {
        CValue::Text(text) => raw::attr_str(step, key, text),
        CValue::Other(value) => raw::attr(step, key, value),
    };
    match set {
        Ok(()) => OSPREY_OK,
        Err(e) => record_error(e),
    }
}

/// Adds a string attribute (`db.statement`, `url.full`, ...) to the step
/// `step` names, or to the innermost open step when `step` is `0` (the
/// transaction when no step is open). The key is interned.
///
/// Returns `OSPREY_ERR_NO_TRANSACTION` when this thread has none.
///
/// # Safety
/// `key` and `value` are NULL or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_attr_str(
    step: u64,
    key: *const c_char,
    value: *const c_char,
) -> osprey_result {
    ffi_boundary!({
        // SAFETY: forwarded contract.
        unsafe {
            set_attr(Some(step), key, || {
                arg_str(value, "value").map(CValue::Text)
            })
        }
    })
}

/// Adds an integer attribute; see `osprey_attr_str`.
///
/// # Safety
/// `key` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_attr_int(
    step: u64,
    key: *const c_char,
    value: i64,
) -> osprey_result {
    // SAFETY: forwarded contract.
    ffi_boundary!({
        unsafe { set_attr(Some(step), key, || Ok(CValue::Other(AttrValue::Int(value)))) }
    })
}

/// Adds a floating-point attribute; see `osprey_attr_str`.
///
/// # Safety
/// `key` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_attr_double(
    step: u64,
    key: *const c_char,
    value: f64,
) -> osprey_result {
    // SAFETY: forwarded contract.
    ffi_boundary!({
        unsafe {
            set_attr(Some(step), key, || {
                Ok(CValue::Other(AttrValue::Float(value)))
            })
        }
    })
}

/// Adds a boolean attribute; see `osprey_attr_str`.
///
/// # Safety
/// `key` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_attr_bool(
    step: u64,
    key: *const c_char,
    value: bool,
) -> osprey_result {
    // SAFETY: forwarded contract.
    ffi_boundary!({
        unsafe {
            set_attr(Some(step), key, || {
                Ok(CValue::Other(AttrValue::Bool(value)))
            })
        }
    })
}

/// Adds a string attribute to the calling thread's transaction
/// (`http.request.method`, `client.address`, ...).
///
/// Returns `OSPREY_ERR_NO_TRANSACTION` when this thread has none.
///
/// # Safety
/// `key` and `value` are NULL or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_txn_attr_str(
    key: *const c_char,
    value: *const c_char,
) -> osprey_result {
    ffi_boundary!({
        // SAFETY: forwarded contract.
        unsafe { set_attr(None, key, || arg_str(value, "value").map(CValue::Text)) }
    })
}

/// Adds an integer attribute to the transaction
/// (`http.response.status_code`); see `osprey_txn_attr_str`.
///
/// # Safety
/// `key` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_txn_attr_int(key: *const c_char, value: i64) -> osprey_result {
    // SAFETY: forwarded contract.
    ffi_boundary!({ unsafe { set_attr(None, key, || Ok(CValue::Other(AttrValue::Int(value)))) } })
}

/// Builds an `ErrorInfo` from the three C strings.
///
/// # Safety
/// Each pointer is NULL or a NUL-terminated string.
unsafe fn error_info(
    kind: *const c_char,
    message: *const c_char,
    stack: *const c_char,
) -> Result<ErrorInfo, osprey_result> {
    // SAFETY: forwarded contract.
    let message = unsafe { arg_str(message, "message") }?;
    // SAFETY: forwarded contract.
    let kind = unsafe { opt_str(kind, "type") }?;
    // SAFETY: forwarded contract.
    let stack = unsafe { opt_str(stack, "stack") }?;
    Ok(ErrorInfo {
        kind: kind.unwrap_or_default().to_owned(),
        message: message.to_owned(),
        stack: stack.unwrap_or_default().to_owned(),
    })
}

/// Records an error on the innermost open step (the transaction when no
/// step is open). `type` (an exception class) and `stack` may be NULL;
/// `message` may not.
///
/// Returns `OSPREY_ERR_NO_TRANSACTION` when this thread has none.
///
/// # Safety
/// Each pointer is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_error(
    r#type: *const c_char,
    message: *const c_char,
    stack: *const c_char,
) -> osprey_result {
    ffi_boundary!({
        // SAFETY: forwarded contract.
        let info = tri!(unsafe { error_info(r#type, message, stack) });
        match raw::error(Some(0), info) {
            Ok(()) => OSPREY_OK,
            Err(e) => record_error(e),
        }
    })
}

/// Marks the calling thread's transaction failed; arguments as for
/// `osprey_error`.
///
/// # Safety
/// Each pointer is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_txn_error(
    r#type: *const c_char,
    message: *const c_char,
    stack: *const c_char,
) -> osprey_result {
    ffi_boundary!({
        // SAFETY: forwarded contract.
        let info = tri!(unsafe { error_info(r#type, message, stack) });
        match raw::error(None, info) {
            Ok(()) => OSPREY_OK,
            Err(e) => record_error(e),
        }
    })
}

/// Writes the `traceparent` header an outgoing call from the innermost
/// open step should carry, NUL-terminated, into `buf` of `len` bytes
/// (`OSPREY_TRACEPARENT_LEN` is enough).
///
/// Returns `OSPREY_ERR_BUFFER_TOO_SMALL` (nothing written) when `len` is
/// too small, `OSPREY_ERR_NO_TRANSACTION` when this thread has none.
///
/// # Safety
/// `buf` is NULL or writable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_traceparent(buf: *mut c_char, len: usize) -> osprey_result {
    ffi_boundary!({
        if buf.is_null() {
            return fail(OSPREY_ERR_NULL, "`buf` is NULL");
        }
        let Some(header) = osprey::traceparent() else {
            return fail(
                OSPREY_ERR_NO_TRANSACTION,
                "this thread has no open transaction",
            );
        };
        let bytes = header.as_bytes();
        if bytes.len() >= len {
            return fail(
                OSPREY_ERR_BUFFER_TOO_SMALL,
                format!(
                    "traceparent needs {} bytes, the buffer has {len}",
                    bytes.len() + 1
                ),
            );
        }
        // SAFETY: `buf` is writable for `len` > bytes.len() bytes; the
        // header owns its bytes, so the ranges cannot overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len());
            buf.add(bytes.len()).write(0);
        }
        OSPREY_OK
    })
}

/// Fills the first `OSPREY_STATS_V1_SIZE` bytes of `*out` (the fields up
/// to `exporters`, the layout of the first header) with delivery
/// statistics; later fields are left as they are. Kept for programs built
/// against that header, which would be overrun by more: new code calls
/// `osprey_stats_sized`.
///
/// # Safety
/// `out` is NULL or writable for `OSPREY_STATS_V1_SIZE` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_stats(out: *mut osprey_statistics) -> osprey_result {
    // SAFETY: forwarded contract.
    unsafe { osprey_stats_sized(out, OSPREY_STATS_V1_SIZE) }
}

/// Fills `*out` with delivery statistics, writing at most `size` bytes:
/// pass `sizeof(osprey_statistics)` as the program was compiled, so that a
/// newer library with more fields never writes past an older program's
/// struct (and a library older than the program leaves the fields it
/// does not know as they were: zero the struct first). Zeroes before the first `osprey_init`;
/// after `osprey_shutdown` the final counts, so
/// `produced == dropped + delivered + export_dropped` can be checked then.
///
/// # Safety
/// `out` is NULL or writable for `size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_stats_sized(
    out: *mut osprey_statistics,
    size: usize,
) -> osprey_result {
    ffi_boundary!({
        if out.is_null() {
            return fail(OSPREY_ERR_NULL, "`out` is NULL");
        }
        let s = osprey::stats();
        let first = s.exporters.first().cloned().unwrap_or_default();
        let stats = osprey_statistics {
            produced: s.produced(),
            received: s.received,
            dropped: s.dropped_queue,
            delivered: first.delivered,
            export_dropped: first.dropped,
            failed_batches: first.failed_batches,
            exporters: u32::try_from(s.exporters.len()).unwrap_or(u32::MAX),
            counted_only: s.counted_only,
            names_refused: names::refused_count(),
        };
        let len = size.min(std::mem::size_of::<osprey_statistics>());
        // SAFETY: `out` is non-NULL and writable for `size` >= `len` bytes
        // per the contract; `stats` is a local, so the ranges are disjoint.
        unsafe {
            std::ptr::copy_nonoverlapping((&raw const stats).cast::<u8>(), out.cast::<u8>(), len);
        }
        OSPREY_OK
    })
}

/// The text of the last failed `osprey_*` call on the calling thread
/// (`""` when none failed). Successful calls leave it unchanged. The
/// pointer stays valid until the next failing call on this thread; never
/// free it.
#[unsafe(no_mangle)]
pub extern "C" fn osprey_last_error() -> *const c_char {
    ffi_boundary!({ last_error_ptr() })
}

/// A static description of a result code (`"unknown result code"` for
/// values that are not an `osprey_result`); never free it.
#[unsafe(no_mangle)]
pub extern "C" fn osprey_result_text(result: c_int) -> *const c_char {
    ffi_boundary!({
        osprey_result::from_raw(i64::from(result))
            .map_or(UNKNOWN_TEXT, osprey_result::text)
            .as_ptr()
    })
}

/// The library version (`"0.1.0"`), static.
#[unsafe(no_mangle)]
pub extern "C" fn osprey_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    ffi_boundary!({ VERSION.as_ptr() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_text_covers_every_code_and_unknown_values() {
        for code in osprey_result::ALL {
            // SAFETY: static C strings.
            let text = unsafe { CStr::from_ptr(osprey_result_text(code as c_int)) };
            assert_eq!(text, code.text());
        }
        for bad in [
            -1,
            osprey_result::ALL.len() as c_int,
            c_int::MAX,
            c_int::MIN,
        ] {
            // SAFETY: static C string.
            let text = unsafe { CStr::from_ptr(osprey_result_text(bad)) };
            assert_eq!(text, UNKNOWN_TEXT);
        }
    }

    #[test]
    fn bad_arguments_give_codes_without_running() {
        let mut id = 0u32;
        // SAFETY: the arguments honour each function's contract.
        unsafe {
            assert_eq!(osprey_intern(std::ptr::null(), &mut id), OSPREY_ERR_NULL);
            assert_eq!(osprey_intern(c"a\xffb".as_ptr(), &mut id), OSPREY_ERR_UTF8);
            let err = CStr::from_ptr(osprey_last_error()).to_str().unwrap();
            assert!(err.contains("`name`") && err.contains("offset 1"), "{err}");
            assert_eq!(
                osprey_step_enter(1, 7, std::ptr::null_mut()),
                OSPREY_ERR_INVALID
            );
            let mut buf = [0 as c_char; 8];
            assert_eq!(
                osprey_traceparent(buf.as_mut_ptr(), buf.len()),
                OSPREY_ERR_NO_TRANSACTION
            );
        }
        // SAFETY: static C string.
        let version = unsafe { CStr::from_ptr(osprey_version()) };
        assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
