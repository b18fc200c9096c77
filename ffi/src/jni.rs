//! JNI entry points: the native methods of the Java class
//! `io.osprey.agent.bootstrap.OspreyNative` (all `static`), the one class
//! through which the Java agent talks to the recorder.
//!
//! Conventions, as for the C ABI:
//! - every body runs inside the one panic boundary ([`ffi_boundary!`]);
//! - nothing ever throws into Java: failures are `osprey_result` codes
//!   (as `int`), and their text is this thread's last error
//!   (`OspreyNative.lastError()`);
//! - the hot functions (`enter`, `exit`) take raw `jni-sys` types only:
//!   no environment upgrade, no allocation, no lock.
//!
//! Step targets for `attrStr`, `attrName`, `attrLong` and `error`: a step handle from
//! `enter`, `0` for the innermost open step (the transaction when none is
//! open), `-1` for the transaction itself.
//!
//! # Safety
//! The functions are `unsafe` because only the JVM may call them: it passes
//! the calling thread's valid `JNIEnv` and valid local references. That
//! one contract is stated here rather than on each function.
#![allow(clippy::missing_safety_doc)]

use std::ffi::CStr;
use std::mem::MaybeUninit;

use jni_sys::{
    JNIEnv, jclass, jdoubleArray, jint, jintArray, jlong, jlongArray, jobjectArray, jstring,
};
use osprey::names::{self, NameId, NameKind};
use osprey::{AttrValue, Config, ErrorInfo, SpanKind, StepKind, raw};

use crate::capi::{bounded_wait, start_from_text};
use crate::error::{
    detach_error, fail, last_error_ptr, osprey_result, osprey_result::*, record_error,
};
use crate::panic::ffi_boundary;

/// Reads a Java string (NULL gives `None`). Uses the UTF-16 contents, so
/// characters outside the BMP survive; unpaired surrogates become U+FFFD.
/// One allocation per string; see [`java_str_with`] for none.
///
/// # Safety
/// `env` is the calling thread's JNI environment and `s` NULL or a valid
/// local reference to a `java.lang.String`.
unsafe fn java_str(env: *mut JNIEnv, s: jstring) -> Option<String> {
    // SAFETY: forwarded contract.
    unsafe { java_str_with(env, s, str::to_owned) }
}

/// Calls `f` with the text of a Java string (NULL gives `None`), decoded as
/// for [`java_str`]. A string of up to [`STACK_CHARS`] ASCII characters
/// (URLs, addresses, most names) goes through the stack only: no
/// allocation.
///
/// # Safety
/// As for [`java_str`].
unsafe fn java_str_with<R>(env: *mut JNIEnv, s: jstring, f: impl FnOnce(&str) -> R) -> Option<R> {
    if s.is_null() || env.is_null() {
        return None;
    }
    // SAFETY: a JNI environment points to a function table of at least 1.2.
    let table = unsafe { (**env).v1_2 };
    // SAFETY: valid env and string per the contract.
    let len = usize::try_from(unsafe { (table.GetStringLength)(env, s) }).unwrap_or(0);
    // Not zeroed: the JVM fills the first `len` units (1 KiB of memset per
    // string otherwise).
    let mut stack = [MaybeUninit::<u16>::uninit(); STACK_CHARS];
    let mut heap = Vec::new();
    let ptr = if len <= STACK_CHARS {
        stack.as_mut_ptr().cast::<u16>()
    } else {
        heap.resize(len, 0u16);
        heap.as_mut_ptr()
    };
    // SAFETY: `ptr` has room for `len` chars; the range is the whole string.
    unsafe { (table.GetStringRegion)(env, s, 0, len as jint, ptr) };
    // SAFETY: valid env.
    if unsafe { (table.ExceptionCheck)(env) } {
        // SAFETY: valid env; never leave an exception pending for Java.
        unsafe { (table.ExceptionClear)(env) };
        return None;
    }
    // SAFETY: GetStringRegion wrote all `len` units (no exception pending).
    let buf = unsafe { std::slice::from_raw_parts(ptr, len) };
    let mut bytes = [MaybeUninit::<u8>::uninit(); STACK_CHARS];
    Some(match ascii_on_stack(buf, &mut bytes) {
        Some(text) => f(text),
        None => f(&utf16_to_string(buf)),
    })
}

/// Java strings up to this many UTF-16 units are read without a heap buffer.
const STACK_CHARS: usize = 512;

/// `units` as text in `bytes` when they are all ASCII and fit.
fn ascii_on_stack<'a>(
    units: &[u16],
    bytes: &'a mut [MaybeUninit<u8>; STACK_CHARS],
) -> Option<&'a str> {
    if units.len() > STACK_CHARS || !units.iter().all(|&u| u < 0x80) {
        return None;
    }
    for (b, &u) in bytes.iter_mut().zip(units) {
        b.write(u as u8);
    }
    // SAFETY: the first `units.len()` bytes were just written.
    let written = unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<u8>(), units.len()) };
    std::str::from_utf8(written).ok()
}

/// UTF-16 to UTF-8, with an exact-size fast path for ASCII.
fn utf16_to_string(units: &[u16]) -> String {
    if units.iter().all(|&u| u < 0x80) {
        units.iter().map(|&u| u as u8 as char).collect()
    } else {
        String::from_utf16_lossy(units)
    }
}

/// Makes a Java string; NULL (with no pending exception) on failure.
///
/// # Safety
/// `env` is the calling thread's JNI environment.
unsafe fn new_java_str(env: *mut JNIEnv, text: &str) -> jstring {
    if env.is_null() {
        return std::ptr::null_mut();
    }
    let chars: Vec<u16> = text.encode_utf16().collect();
    // SAFETY: a JNI environment points to a function table of at least 1.2.
    let table = unsafe { (**env).v1_2 };
    let len = jint::try_from(chars.len()).unwrap_or(0);
    // SAFETY: `chars` holds at least `len` chars.
    let s = unsafe { (table.NewString)(env, chars.as_ptr(), len) };
    // SAFETY: valid env.
    if unsafe { (table.ExceptionCheck)(env) } {
        // SAFETY: valid env.
        unsafe { (table.ExceptionClear)(env) };
        return std::ptr::null_mut();
    }
    s
}

/// A required string argument, or `OSPREY_ERR_NULL` naming it.
///
/// # Safety
/// As for [`java_str`].
unsafe fn arg(env: *mut JNIEnv, s: jstring, what: &str) -> Result<String, osprey_result> {
    // SAFETY: forwarded contract.
    unsafe { java_str(env, s) }.ok_or_else(|| fail(OSPREY_ERR_NULL, format!("`{what}` is null")))
}

/// Maps a step target (`-1` transaction, `0` innermost, else a handle).
fn target(handle: jlong) -> Option<u64> {
    if handle == -1 {
        None
    } else {
        Some(handle as u64)
    }
}

fn code(r: osprey_result) -> jint {
    r as jint
}

/// `static native int init(String config)`: starts Osprey with the
/// process environment (`OSPREY_*`, `OTEL_*`) and then the `key=value`
/// items of `config` (separated by `;` or newlines; null means none).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_init(
    env: *mut JNIEnv,
    _class: jclass,
    config: jstring,
) -> jint {
    ffi_boundary!({
        // SAFETY: called by the JVM with a valid env and argument.
        let text = unsafe { java_str(env, config) }.unwrap_or_default();
        code(start_from_text(&text))
    })
}

/// `static native int checkKey(String key, String value)`: whether `init`
/// would accept the item, without starting anything. `OSPREY_ERR_CONFIG`
/// (last error naming the key) for an unknown key or a bad value.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_checkKey(
    env: *mut JNIEnv,
    _class: jclass,
    key: jstring,
    value: jstring,
) -> jint {
    ffi_boundary!({
        // SAFETY: called by the JVM with a valid env and arguments.
        let key = match unsafe { arg(env, key, "key") } {
            Ok(k) => k,
            Err(c) => return code(c),
        };
        // SAFETY: as above.
        let value = unsafe { java_str(env, value) }.unwrap_or_default();
        match Config::default().set(&key, &value) {
            Ok(()) => code(OSPREY_OK),
            Err(e) => code(fail(OSPREY_ERR_CONFIG, e.to_string())),
        }
    })
}

/// `static native int shutdown(int timeoutMs)`: as `osprey_shutdown`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_shutdown(
    _env: *mut JNIEnv,
    _class: jclass,
    timeout_ms: jint,
) -> jint {
    ffi_boundary!({
        code(bounded_wait(
            "shutdown",
            osprey::shutdown,
            u32::try_from(timeout_ms).unwrap_or(0),
        ))
    })
}

/// `static native int flush(int timeoutMs)`: as `osprey_flush`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_flush(
    _env: *mut JNIEnv,
    _class: jclass,
    timeout_ms: jint,
) -> jint {
    ffi_boundary!({
        code(bounded_wait(
            "flush",
            osprey::flush,
            u32::try_from(timeout_ms).unwrap_or(0),
        ))
    })
}

/// `static native int intern(String name)`: the name's id (`>= 0`), or
/// `-1` for a null name. Takes a lock: call at transform time, not per
/// call.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_intern(
    env: *mut JNIEnv,
    _class: jclass,
    name: jstring,
) -> jint {
    ffi_boundary!({
        // SAFETY: called by the JVM with a valid env and argument.
        match unsafe { arg(env, name, "name") } {
            Ok(name) => names::intern_as(&name, NameKind::guess(&name)).0 as jint,
            Err(_) => -1,
        }
    })
}

/// The step kind `0..=3` (method, SQL, HTTP call, custom) names.
fn step_kind_of(kind: jint) -> Option<StepKind> {
    u8::try_from(kind)
        .ok()
        .filter(|k| *k <= 3)
        .map(StepKind::from_u8)
}

/// `static native int internStep(String name, int stepKind)`: the id of a
/// step name sanitised for its kind (SQL literals and URL ids become `?`
/// before interning), or `-1` for a null name or an unknown kind. Past the
/// budget of the name's kind, the kind's overflow id: name such steps with
/// `enterName`. Takes the name table's lock: call it outside any Java lock.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_internStep(
    env: *mut JNIEnv,
    _class: jclass,
    name: jstring,
    step_kind: jint,
) -> jint {
    ffi_boundary!({
        let Some(kind) = step_kind_of(step_kind) else {
            return -1;
        };
        // SAFETY: called by the JVM with a valid env and argument.
        match unsafe { arg(env, name, "name") } {
            Ok(name) => names::intern_as(&name, NameKind::of_step(kind)).0 as jint,
            Err(_) => -1,
        }
    })
}

/// `static native long enterName(String name, int stepKind)`: enters a step
/// named by `name`, sanitised and interned for its kind; past the kind's
/// budget the step gets the overflow name and the sanitised text is
/// copied into the transaction (`db.query.text`, `url.full`). The step's
/// handle, `0` without a transaction, a null name or an unknown kind.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_enterName(
    env: *mut JNIEnv,
    _class: jclass,
    name: jstring,
    step_kind: jint,
) -> jlong {
    ffi_boundary!({
        let Some(kind) = step_kind_of(step_kind) else {
            return 0;
        };
        // SAFETY: called by the JVM with a valid env and argument.
        match unsafe { arg(env, name, "name") } {
            Ok(name) => raw::enter_named(&name, kind) as jlong,
            Err(_) => 0,
        }
    })
}

/// `static native int begin(String name, int kind, String traceparent)`:
/// begins a transaction on this thread; `kind` 0 internal, 1 server;
/// `traceparent` (a W3C header or a B3 single header) may be null. `OSPREY_ERR_ALREADY_ACTIVE` when one is open.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_begin(
    env: *mut JNIEnv,
    _class: jclass,
    name: jstring,
    kind: jint,
    traceparent: jstring,
) -> jint {
    ffi_boundary!({
        let kind = match kind {
            0 => SpanKind::Internal,
            1 => SpanKind::Server,
            _ => {
                return code(fail(
                    OSPREY_ERR_INVALID,
                    format!("unknown transaction kind {kind}: expected 0 (internal) or 1 (server)"),
                ));
            }
        };
        if raw::in_transaction() {
            return code(record_error(osprey::RecordError::AlreadyActive));
        }
        // SAFETY: called by the JVM with a valid env and arguments.
        let remote = unsafe { java_str_with(env, traceparent, osprey::propagation::parse_inbound) }
            .flatten();
        // SAFETY: as above.
        let begun = unsafe {
            java_str_with(env, name, |name| {
                raw::begin(names::truncate(name), kind, remote)
            })
        };
        match begun {
            Some(Ok(())) => code(OSPREY_OK),
            Some(Err(e)) => code(record_error(e)),
            None => code(fail(OSPREY_ERR_NULL, "`name` is null".to_owned())),
        }
    })
}

/// `static native int end()`: ends this thread's transaction.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_end(
    _env: *mut JNIEnv,
    _class: jclass,
) -> jint {
    ffi_boundary!({
        match raw::end() {
            Ok(_) => code(OSPREY_OK),
            Err(e) => code(record_error(e)),
        }
    })
}

/// `static native long detach()`: takes this thread's open transaction off
/// the thread, still open; returns its id (> 0) for `attach`, or a negated
/// result code.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_detach(
    _env: *mut JNIEnv,
    _class: jclass,
) -> jlong {
    ffi_boundary!({
        match raw::detach() {
            Ok(id) => id as jlong,
            Err(e) => -(detach_error(e) as jlong),
        }
    })
}

/// `static native boolean inTransaction()`: whether this thread has an open
/// transaction. Hot path (a virtual thread asks at every unmount): one
/// thread-local read, no allocation, no lock.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_inTransaction(
    _env: *mut JNIEnv,
    _class: jclass,
) -> jni_sys::jboolean {
    ffi_boundary!({ raw::in_transaction() })
}

/// `static native long attach(long id)`: makes the detached transaction
/// `id` this thread's open one; returns the id the thread's previous
/// transaction was detached as (0 when none), or a negated result code.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_attach(
    _env: *mut JNIEnv,
    _class: jclass,
    id: jlong,
) -> jlong {
    ffi_boundary!({
        match raw::attach(id as u64) {
            Ok(previous) => previous as jlong,
            Err(e) => -(detach_error(e) as jlong),
        }
    })
}

/// `static native long enter(int nameId, int kind)`: enters a step; the
/// handle is `0` when no transaction is open or the kind is unknown.
/// Hot path: raw types, no allocation, no lock.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_enter(
    _env: *mut JNIEnv,
    _class: jclass,
    name_id: jint,
    kind: jint,
) -> jlong {
    ffi_boundary!({
        match u8::try_from(kind) {
            Ok(k @ 0..=3) => raw::enter(NameId(name_id as u32), StepKind::from_u8(k)) as jlong,
            _ => 0,
        }
    })
}

/// `static native void exit(long handle)`: exits the step `handle` names
/// (`0` is ignored). Hot path: raw types, no allocation, no lock.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_exit(
    _env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
) {
    ffi_boundary!({ raw::exit_step(handle as u64) })
}

/// `static native void attrStr(long target, int keyId, String value)`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_attrStr(
    env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
    key_id: jint,
    value: jstring,
) {
    ffi_boundary!({
        // SAFETY: called by the JVM with a valid env and argument.
        let set = unsafe {
            java_str_with(env, value, |value| {
                raw::attr_str(target(handle), NameId(key_id as u32), value)
            })
        };
        if let Some(Err(e)) = set {
            record_error(e);
        }
    })
}

/// `static native void attrName(long target, int keyId, int valueId)`: a
/// string attribute whose value is the name `valueId` (from `intern`),
/// for values with few distinct texts. Copies nothing: the collector turns
/// the id into the text. Hot path: raw types, no allocation, no lock.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_attrName(
    _env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
    key_id: jint,
    value_id: jint,
) {
    ffi_boundary!({
        if value_id < 0 {
            return;
        }
        if let Err(e) = raw::attr_name(
            target(handle),
            NameId(key_id as u32),
            NameId(value_id as u32),
        ) {
            record_error(e);
        }
    })
}

/// `static native void attrLong(long target, int keyId, long value)`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_attrLong(
    _env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
    key_id: jint,
    value: jlong,
) {
    ffi_boundary!({
        if let Err(e) = raw::attr(target(handle), NameId(key_id as u32), AttrValue::Int(value)) {
            record_error(e);
        }
    })
}

/// `static native void error(long target, String type, String message,
/// String stack)`: records an error; each string may be null.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_error(
    env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
    kind: jstring,
    message: jstring,
    stack: jstring,
) {
    ffi_boundary!({
        // SAFETY: called by the JVM with a valid env and arguments.
        let info = unsafe {
            ErrorInfo {
                kind: java_str(env, kind).unwrap_or_default(),
                message: java_str(env, message).unwrap_or_default(),
                stack: java_str(env, stack).unwrap_or_default(),
            }
        };
        if let Err(e) = raw::error(target(handle), info) {
            record_error(e);
        }
    })
}

/// `static native long deferEnd(long handle)`: lets another thread report
/// the end of step `handle` (an asynchronous call). Returns a cell for
/// `completeDeferred`, which must be called exactly once with it; `0` when
/// `handle` is not a step of this thread's open transaction or too many
/// ends await completion.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_deferEnd(
    _env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
) -> jlong {
    ffi_boundary!({
        raw::defer_end(handle as u64).map_or(0, |end| Box::into_raw(Box::new(end)) as jlong)
    })
}

/// `static native void completeDeferred(long cell, int status, String
/// errorType, String message)`: the asynchronous call of `cell` (from
/// `deferEnd`, used once; `0` is ignored) finished now with HTTP `status`
/// (`0`: none) and, when `errorType` is not null, that error.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_completeDeferred(
    env: *mut JNIEnv,
    _class: jclass,
    cell: jlong,
    status: jint,
    error_type: jstring,
    message: jstring,
) {
    ffi_boundary!({
        if cell == 0 {
            return;
        }
        // SAFETY: `cell` came from `deferEnd`'s `Box::into_raw`, and the
        // caller hands each one back exactly once.
        let end = unsafe { Box::from_raw(cell as *mut std::sync::Arc<osprey::DeferredEnd>) };
        // SAFETY: called by the JVM with a valid env and arguments.
        let error = unsafe { java_str(env, error_type) }.map(|kind| ErrorInfo {
            kind,
            message: unsafe { java_str(env, message) }.unwrap_or_default(),
            stack: String::new(),
        });
        end.complete(i64::from(status), error);
    })
}

/// `static native void rename(String name)`: renames this thread's open
/// transaction.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_rename(
    env: *mut JNIEnv,
    _class: jclass,
    name: jstring,
) {
    ffi_boundary!({
        // SAFETY: called by the JVM with a valid env and argument.
        let renamed =
            unsafe { java_str_with(env, name, |name| raw::rename(names::truncate(name))) };
        if let Some(Err(e)) = renamed {
            record_error(e);
        }
    })
}

/// `static native String traceparent()`: the header an outgoing call from
/// the innermost open step carries; null without a transaction.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_traceparent(
    env: *mut JNIEnv,
    _class: jclass,
) -> jstring {
    ffi_boundary!({
        match osprey::traceparent() {
            // SAFETY: valid env from the JVM.
            Some(header) => unsafe { new_java_str(env, &header) },
            None => std::ptr::null_mut(),
        }
    })
}

/// `static native String currentIds()`: the trace id (32 hex digits) and
/// the span id (16) of the innermost open step, joined (48 characters), for
/// log lines; null without a transaction. Does not make the trace keep its
/// tree (a log line is not a span downstream).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_currentIds(
    env: *mut JNIEnv,
    _class: jclass,
) -> jstring {
    ffi_boundary!({
        match osprey::current_ids() {
            Some((trace, span)) => {
                let mut ids = trace.to_hex();
                ids.push_str(&span.to_hex());
                // SAFETY: valid env from the JVM.
                unsafe { new_java_str(env, &ids) }
            }
            None => std::ptr::null_mut(),
        }
    })
}

/// `static native long fork(int nameId)`: hands work to another thread: a
/// fork of this thread's open transaction under its innermost open step,
/// the task named `nameId`. A cell for `beginFork`, released exactly once
/// with `releaseFork`; `0` without a transaction or past the forks cap.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_fork(
    _env: *mut JNIEnv,
    _class: jclass,
    name_id: jint,
) -> jlong {
    ffi_boundary!({
        if name_id < 0 {
            return 0;
        }
        raw::fork(NameId(name_id as u32)).map_or(0, |fork| Box::into_raw(Box::new(fork)) as jlong)
    })
}

/// `static native int beginFork(long cell)`: begins the worker's part of the
/// fork `cell` (from `fork`, not yet released) as this thread's transaction;
/// `end` ends it. `OSPREY_ERR_ALREADY_ACTIVE` when this thread has one
/// open (detach it first), `OSPREY_ERR_NO_TRANSACTION` when the fork was
/// begun before, `OSPREY_ERR_NULL` for `0`.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_beginFork(
    _env: *mut JNIEnv,
    _class: jclass,
    cell: jlong,
) -> jint {
    ffi_boundary!({
        if cell == 0 {
            return code(fail(OSPREY_ERR_NULL, "`cell` is 0"));
        }
        // SAFETY: a non-zero `cell` came from `fork`'s `Box::into_raw` and
        // the caller has not released it yet.
        let fork = unsafe { &*(cell as *const std::sync::Arc<osprey::Fork>) };
        match raw::begin_fork(fork) {
            Ok(()) => code(OSPREY_OK),
            Err(e) => code(record_error(e)),
        }
    })
}

/// `static native void releaseFork(long cell)`: gives back the cell `fork`
/// returned (`0` is ignored); called exactly once per cell, after the work
/// ran or once it can no longer run.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_releaseFork(
    _env: *mut JNIEnv,
    _class: jclass,
    cell: jlong,
) {
    ffi_boundary!({
        if cell != 0 {
            // SAFETY: `cell` came from `fork`'s `Box::into_raw`, and the
            // caller hands each one back exactly once.
            drop(unsafe { Box::from_raw(cell as *mut std::sync::Arc<osprey::Fork>) });
        }
    })
}

/// `static native int metricSeries(String name, String unit, int kind,
/// String attrKey, String attrValue)`: defines a metric series (see
/// `osprey_metric_series`; `kind` may carry `| 16` for doubles; the
/// attribute strings may both be null). The id (`>= 0`), or minus a result
/// code. Takes a lock: call once per series at start-up.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_metricSeries(
    env: *mut JNIEnv,
    _class: jclass,
    name: jstring,
    unit: jstring,
    kind: jint,
    attr_key: jstring,
    attr_value: jstring,
) -> jint {
    ffi_boundary!({
        // SAFETY: called by the JVM with a valid env and arguments.
        let name = match unsafe { arg(env, name, "name") } {
            Ok(n) => n,
            Err(c) => return -code(c),
        };
        // SAFETY: as above.
        let (unit, key, value) = unsafe {
            (
                java_str(env, unit).unwrap_or_else(|| "1".into()),
                java_str(env, attr_key),
                java_str(env, attr_value),
            )
        };
        let attribute = key.as_deref().zip(value.as_deref());
        match crate::metrics::define_series(&name, &unit, kind, attribute) {
            Ok(id) => id as jint,
            Err(c) => -code(c),
        }
    })
}

/// `static native int metrics(int[] ids, double[] values, int count)`: one
/// sample set, `values[i]` for series `ids[i]`, in one call (see
/// `osprey_metrics_record`). `OSPREY_ERR_QUEUE_FULL` when dropped.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_metrics(
    env: *mut JNIEnv,
    _class: jclass,
    ids: jintArray,
    values: jdoubleArray,
    count: jint,
) -> jint {
    ffi_boundary!({
        if env.is_null() || ids.is_null() || values.is_null() {
            return code(fail(OSPREY_ERR_NULL, "`ids` or `values` is null"));
        }
        // SAFETY: a JNI environment points to a function table of at least 1.2.
        let table = unsafe { (**env).v1_2 };
        // SAFETY: valid env and array references per the contract.
        let (n_ids, n_values) = unsafe {
            (
                (table.GetArrayLength)(env, ids),
                (table.GetArrayLength)(env, values),
            )
        };
        let n = count.min(n_ids).min(n_values).max(0);
        if n as usize > osprey::metrics::MAX_POINTS_PER_SET {
            return code(fail(
                OSPREY_ERR_INVALID,
                "too many values in one sample set",
            ));
        }
        let mut id_buf = vec![0 as jint; n as usize];
        let mut value_buf = vec![0.0f64; n as usize];
        // SAFETY: both buffers hold `n` elements; the ranges are within the arrays.
        unsafe {
            (table.GetIntArrayRegion)(env, ids, 0, n, id_buf.as_mut_ptr());
            (table.GetDoubleArrayRegion)(env, values, 0, n, value_buf.as_mut_ptr());
        }
        // SAFETY: valid env.
        if unsafe { (table.ExceptionCheck)(env) } {
            // SAFETY: valid env; never leave an exception pending for Java.
            unsafe { (table.ExceptionClear)(env) };
            return code(fail(OSPREY_ERR_INVALID, "cannot read the sample arrays"));
        }
        let id_buf: Vec<u32> = id_buf.into_iter().map(|i| i as u32).collect();
        code(crate::metrics::record_values(&id_buf, &value_buf))
    })
}

/// Element `i` of a Java `String[]` (null, or out of range, gives `None`).
///
/// # Safety
/// `env` is the calling thread's JNI environment and `array` a valid local
/// reference to a `String[]`.
unsafe fn string_at(env: *mut JNIEnv, array: jobjectArray, i: jint) -> Option<String> {
    // SAFETY: a JNI environment points to a function table of at least 1.2.
    let table = unsafe { (**env).v1_2 };
    // SAFETY: valid env and array per the contract.
    let element = unsafe { (table.GetObjectArrayElement)(env, array, i) };
    // SAFETY: valid env.
    if unsafe { (table.ExceptionCheck)(env) } {
        // SAFETY: valid env; never leave an exception pending for Java.
        unsafe { (table.ExceptionClear)(env) };
        return None;
    }
    // SAFETY: `element` is null or a String of the array.
    let text = unsafe { java_str(env, element) };
    if !element.is_null() {
        // SAFETY: a local reference this call created.
        unsafe { (table.DeleteLocalRef)(env, element) };
    }
    text
}

/// Reads `n` longs of a Java `long[]` (zeroes past its end).
///
/// # Safety
/// As for [`string_at`], with a `long[]`.
unsafe fn longs(env: *mut JNIEnv, array: jlongArray, n: jint) -> Vec<jlong> {
    let mut out = vec![0; usize::try_from(n).unwrap_or(0)];
    // SAFETY: a JNI environment points to a function table of at least 1.2.
    let table = unsafe { (**env).v1_2 };
    // SAFETY: valid env and array; `out` holds `n` elements.
    let len = unsafe { (table.GetArrayLength)(env, array) }.min(n);
    // SAFETY: as above; the range is within the array.
    unsafe { (table.GetLongArrayRegion)(env, array, 0, len, out.as_mut_ptr()) };
    out
}

/// `static native int active(String[] names, String[] threadNames, long[]
/// threadIds, long[] elapsedNanos, String[] stacks, int count)`: one
/// snapshot of the transactions in flight (the first `count` of each
/// array; a null stack means none), stamped now, in one call. An empty
/// snapshot (`count` 0) says nothing is in flight.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_active(
    env: *mut JNIEnv,
    _class: jclass,
    names: jobjectArray,
    thread_names: jobjectArray,
    thread_ids: jlongArray,
    elapsed_nanos: jlongArray,
    stacks: jobjectArray,
    count: jint,
) -> jint {
    ffi_boundary!({
        if env.is_null()
            || names.is_null()
            || thread_names.is_null()
            || thread_ids.is_null()
            || elapsed_nanos.is_null()
            || stacks.is_null()
        {
            return code(fail(OSPREY_ERR_NULL, "an `active` array is null"));
        }
        let n = count.clamp(0, osprey::active::MAX_PER_SNAPSHOT as jint);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        // SAFETY: called by the JVM with a valid env and arrays.
        let (ids, elapsed) = unsafe { (longs(env, thread_ids, n), longs(env, elapsed_nanos, n)) };
        let mut transactions = Vec::with_capacity(n as usize);
        for i in 0..n {
            let elapsed_ns = u64::try_from(elapsed[i as usize]).unwrap_or(0);
            // SAFETY: as above.
            let (name, thread_name, stack) = unsafe {
                (
                    string_at(env, names, i),
                    string_at(env, thread_names, i),
                    string_at(env, stacks, i),
                )
            };
            transactions.push(osprey::active::ActiveTransaction {
                name: name.unwrap_or_default(),
                thread_name: thread_name.unwrap_or_default(),
                thread_id: u64::try_from(ids[i as usize]).unwrap_or(0),
                start_unix_ns: now.saturating_sub(elapsed_ns),
                elapsed_ns,
                stack: stack.unwrap_or_default(),
            });
        }
        let snapshot = osprey::active::ActiveSnapshot {
            unix_ns: now,
            transactions,
        };
        match osprey::active::report(snapshot) {
            Ok(()) => code(OSPREY_OK),
            Err(e) => code(crate::error::metrics_error(e)),
        }
    })
}

/// `static native String lastError()`: the text of this thread's last
/// failure (`""` when none).
#[unsafe(no_mangle)]
pub unsafe extern "system" fn Java_io_osprey_agent_bootstrap_OspreyNative_lastError(
    env: *mut JNIEnv,
    _class: jclass,
) -> jstring {
    ffi_boundary!({
        // SAFETY: last_error_ptr gives a NUL-terminated string valid until
        // the next failure on this thread.
        let text = unsafe { CStr::from_ptr(last_error_ptr()) }.to_string_lossy();
        // SAFETY: valid env from the JVM.
        unsafe { new_java_str(env, &text) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_becomes_utf8_exactly_sized_for_ascii_and_lossless_otherwise() {
        let ascii: Vec<u16> = "GET /orders?id=1".encode_utf16().collect();
        let s = utf16_to_string(&ascii);
        assert_eq!(s, "GET /orders?id=1");
        assert_eq!(s.capacity(), s.len());
        for text in ["Zürich ☕", "emoji 🦅 outside the BMP", ""] {
            let units: Vec<u16> = text.encode_utf16().collect();
            assert_eq!(utf16_to_string(&units), text);
        }
        assert_eq!(utf16_to_string(&[0x61, 0xD800, 0x62]), "a\u{FFFD}b");
    }

    #[test]
    fn short_ascii_is_decoded_on_the_stack_and_anything_else_is_left_to_the_heap() {
        let mut bytes = [MaybeUninit::uninit(); STACK_CHARS];
        let units: Vec<u16> = "GET /orders".encode_utf16().collect();
        assert_eq!(ascii_on_stack(&units, &mut bytes), Some("GET /orders"));
        assert_eq!(ascii_on_stack(&[], &mut bytes), Some(""));
        let full = vec![u16::from(b'a'); STACK_CHARS];
        assert_eq!(
            ascii_on_stack(&full, &mut bytes).map(str::len),
            Some(STACK_CHARS)
        );
        let over = vec![u16::from(b'a'); STACK_CHARS + 1];
        assert_eq!(ascii_on_stack(&over, &mut bytes), None);
        let accented: Vec<u16> = "Zürich".encode_utf16().collect();
        assert_eq!(ascii_on_stack(&accented, &mut bytes), None);
    }

    #[test]
    fn targets_map_minus_one_to_the_transaction() {
        assert_eq!(target(-1), None);
        assert_eq!(target(0), Some(0));
        assert_eq!(target(42), Some(42));
    }

    #[test]
    fn hot_functions_without_a_transaction_are_harmless() {
        let (null, class) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: these functions never touch a null env.
        unsafe {
            assert_eq!(
                Java_io_osprey_agent_bootstrap_OspreyNative_enter(null, class, 1, 0),
                0
            );
            assert_eq!(
                Java_io_osprey_agent_bootstrap_OspreyNative_enter(null, class, 1, 9),
                0
            );
            Java_io_osprey_agent_bootstrap_OspreyNative_exit(null, class, 0);
            assert_eq!(
                Java_io_osprey_agent_bootstrap_OspreyNative_end(null, class),
                OSPREY_ERR_NO_TRANSACTION as jint
            );
        }
    }
}
