//! The C layer: one module per C type. Each exported function checks its
//! pointers, converts arguments, calls the safe core, and runs inside
//! [`guard`] so that a panic becomes the function's failure value instead of
//! unwinding into C.

use std::panic::{catch_unwind, AssertUnwindSafe};

pub mod escrow;
pub mod nal_buffer;
pub mod nal_codec;

/// Runs `body`, turning a panic into `fail`.
pub(crate) fn guard<R>(fail: R, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fail)
}

/// Runs a body that returns nothing; a panic becomes a no-op.
pub(crate) fn guard_void(body: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(body));
}

/// Sets the calling thread's `errno` (C callers read it after failures).
pub(crate) fn set_errno(code: i32) {
    // SAFETY: __errno_location returns the valid thread-local errno slot.
    unsafe { *libc::__errno_location() = code };
}
