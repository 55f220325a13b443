//! The C layer: one module per C type. Each exported function checks its
//! pointers, converts arguments, calls the safe core, and runs inside
//! [`guard`] so that a panic becomes the function's failure value instead of
//! unwinding into C.

#![allow(non_camel_case_types)]
// Every function here is called from C, which cannot honour an `unsafe`
// marker: each checks its pointers for NULL before use, and the documented
// contract of the C API covers the rest.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
// C's `long` and `time_t` are 64 bits on this target and 32 on others:
// `u64::from`/`i64::from` on them are lossless on every target, though a
// no-op here.
#![allow(clippy::useless_conversion)]

use std::panic::{catch_unwind, AssertUnwindSafe};

pub mod dc_ctx;
pub mod dc_plug;
pub mod dc_server;
pub mod escrow;
pub mod nal_address;
pub mod nal_buffer;
pub mod nal_codec;
pub mod nal_connection;
pub mod nal_devel;
pub mod nal_global;
pub mod nal_listener;
pub mod nal_selector;

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

/// Allocates a new C handle holding a default core object.
pub(crate) fn new_handle<T: Default>() -> *mut T {
    Box::into_raw(Box::<T>::default())
}

/// Destroys a handle made by [`new_handle`]; NULL is a no-op.
pub(crate) fn free_handle<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: non-NULL handles of this type come from new_handle
        // (Box::into_raw) and C frees each one once.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// Borrows the object behind a handle.
pub(crate) fn obj<'a, T>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: non-NULL handles point at live objects made by new_handle;
    // the API is single-threaded per object, so no &mut exists meanwhile.
    unsafe { ptr.as_ref() }
}

/// Mutably borrows the object behind a handle.
pub(crate) fn obj_mut<'a, T>(ptr: *mut T) -> Option<&'a mut T> {
    // SAFETY: as for `obj`; callers never hold two borrows of one handle
    // (functions taking two handles of one type check they differ).
    unsafe { ptr.as_mut() }
}

/// Borrows a NUL-terminated C string as bytes.
pub(crate) fn c_bytes<'a>(ptr: *const libc::c_char) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller passes a valid NUL-terminated string.
    Some(unsafe { std::ffi::CStr::from_ptr(ptr) }.to_bytes())
}
