//! The slot holding this thread's open transaction: one pointer per
//! thread, read on every step enter and exit.
//!
//! On x86-64 Linux the slot is a thread-local variable of the
//! *initial-exec* TLS model, reached with one `mov` from the GOT and one
//! `%fs`-relative add. Rust's `thread_local!` cannot choose the model on
//! stable, and in a shared library (libosprey, loaded by the JVM with
//! `dlopen`) it gets the general-dynamic model: a call to `__tls_get_addr`
//! on every access, which was a measurable share of a step's cost through
//! JNI. Initial-exec in a `dlopen`ed library takes a few bytes of glibc's
//! static TLS surplus; if none were left, loading the library would fail
//! cleanly (the Java agent then switches itself off). Elsewhere a plain
//! `thread_local!` is used.
//!
//! The slot has no destructor: it stays readable during thread teardown.

use super::raw::RawTransaction;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use super::RawTransaction;

    // One 8-byte, zero-initialised TLS variable. Hidden (not exported from
    // the library) but global, so that every codegen unit of this crate
    // links to the same one.
    core::arch::global_asm!(
        ".pushsection .tbss.osprey_active_slot,\"awT\",@nobits",
        ".p2align 3",
        ".globl __osprey_active_slot_v1",
        ".hidden __osprey_active_slot_v1",
        ".type __osprey_active_slot_v1, @object",
        ".size __osprey_active_slot_v1, 8",
        "__osprey_active_slot_v1:",
        ".zero 8",
        ".popsection",
    );

    /// This thread's slot.
    #[inline(always)]
    fn slot() -> *mut *mut RawTransaction {
        let addr: usize;
        // SAFETY: reads the GOT entry the linker filled with the slot's
        // offset from the thread pointer, and the thread pointer itself
        // (`%fs:0` holds it on x86-64 Linux); no memory is written.
        unsafe {
            core::arch::asm!(
                "mov {addr}, qword ptr [rip + __osprey_active_slot_v1@GOTTPOFF]",
                "add {addr}, qword ptr fs:[0]",
                addr = out(reg) addr,
                options(pure, readonly, nostack),
            );
        }
        addr as *mut *mut RawTransaction
    }

    #[inline(always)]
    pub(super) fn get() -> *mut RawTransaction {
        // SAFETY: the slot is this thread's own, aligned and initialised.
        unsafe { slot().read() }
    }

    #[inline(always)]
    pub(super) fn set(ptr: *mut RawTransaction) {
        // SAFETY: as in `get`.
        unsafe { slot().write(ptr) }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    use std::cell::Cell;

    use super::RawTransaction;

    thread_local! {
        static ACTIVE: Cell<*mut RawTransaction> = const { Cell::new(std::ptr::null_mut()) };
    }

    #[inline(always)]
    pub(super) fn get() -> *mut RawTransaction {
        ACTIVE.with(Cell::get)
    }

    #[inline(always)]
    pub(super) fn set(ptr: *mut RawTransaction) {
        ACTIVE.with(|a| a.set(ptr))
    }
}

/// This thread's open transaction (null when none). The pointer owns the
/// box it came from (`Box::into_raw`).
#[inline(always)]
pub(crate) fn get() -> *mut RawTransaction {
    imp::get()
}

/// Stores `ptr` as this thread's open transaction.
#[inline(always)]
pub(crate) fn set(ptr: *mut RawTransaction) {
    imp::set(ptr)
}

/// Stores `ptr` and returns the previous value.
#[inline(always)]
pub(crate) fn replace(ptr: *mut RawTransaction) -> *mut RawTransaction {
    let previous = get();
    set(ptr);
    previous
}
