//! `NAL_BUFFER`: bounded byte FIFOs, standalone or owned by a connection.

use super::{guard, guard_void};
use crate::nal::buffer::SharedBuffer;
use libc::{c_int, c_uchar, c_uint};
use std::sync::Arc;

/// The C-visible buffer type.
pub type NAL_BUFFER = SharedBuffer;

/// Borrows a buffer from a C pointer.
pub(crate) fn buffer<'a>(buf: *const NAL_BUFFER) -> Option<&'a SharedBuffer> {
    // SAFETY: non-NULL NAL_BUFFER pointers handed to C always point at a
    // live SharedBuffer (from NAL_BUFFER_new or a connection's buffers).
    unsafe { buf.as_ref() }
}

/// Hands a connection-owned buffer to C.
pub(crate) fn buffer_ptr(buf: &Arc<SharedBuffer>) -> *mut NAL_BUFFER {
    Arc::as_ptr(buf) as *mut NAL_BUFFER
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_new() -> *mut NAL_BUFFER {
    guard(std::ptr::null_mut(), || Arc::into_raw(Arc::new(SharedBuffer::new())) as *mut _)
}

/// Seed-era name of `NAL_BUFFER_new`.
#[no_mangle]
pub extern "C" fn NAL_BUFFER_malloc() -> *mut NAL_BUFFER {
    NAL_BUFFER_new()
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_free(buf: *mut NAL_BUFFER) {
    guard_void(|| {
        if let Some(b) = buffer(buf) {
            if b.owned_by_connection() {
                return; // belongs to its connection
            }
            // SAFETY: standalone buffers come from Arc::into_raw in
            // NAL_BUFFER_new; this releases that reference exactly once.
            drop(unsafe { Arc::from_raw(buf as *const SharedBuffer) });
        }
    })
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_reset(buf: *mut NAL_BUFFER) {
    guard_void(|| {
        if let Some(b) = buffer(buf) {
            b.modify(|b| b.clear());
        }
    })
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_set_size(buf: *mut NAL_BUFFER, size: c_uint) -> c_int {
    guard(0, || buffer(buf).map_or(0, |b| b.modify(|b| b.set_size(size as usize)) as c_int))
}

fn query(buf: *const NAL_BUFFER, f: impl FnOnce(&crate::nal::buffer::Buffer) -> usize) -> usize {
    guard(0, || buffer(buf).map_or(0, |b| b.with(f)))
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_empty(buf: *const NAL_BUFFER) -> c_int {
    query(buf, |b| b.is_empty() as usize) as c_int
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_full(buf: *const NAL_BUFFER) -> c_int {
    query(buf, |b| b.is_full() as usize) as c_int
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_notempty(buf: *const NAL_BUFFER) -> c_int {
    query(buf, |b| !b.is_empty() as usize) as c_int
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_notfull(buf: *const NAL_BUFFER) -> c_int {
    query(buf, |b| !b.is_full() as usize) as c_int
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_used(buf: *const NAL_BUFFER) -> c_uint {
    query(buf, |b| b.used()) as c_uint
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_unused(buf: *const NAL_BUFFER) -> c_uint {
    query(buf, |b| b.unused()) as c_uint
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_size(buf: *const NAL_BUFFER) -> c_uint {
    query(buf, |b| b.size()) as c_uint
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_data(buf: *const NAL_BUFFER) -> *const c_uchar {
    guard(std::ptr::null(), || match buffer(buf) {
        Some(b) => b.with(|b| if b.size() == 0 { std::ptr::null() } else { b.storage().as_ptr() }),
        None => std::ptr::null(),
    })
}

/// Seed-era, non-const form of `NAL_BUFFER_data`.
#[no_mangle]
pub extern "C" fn NAL_BUFFER_read_ptr(buf: *mut NAL_BUFFER) -> *mut c_uchar {
    NAL_BUFFER_data(buf) as *mut c_uchar
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_write(buf: *mut NAL_BUFFER, ptr: *const c_uchar, size: c_uint) -> c_uint {
    guard(0, || {
        let Some(b) = buffer(buf) else { return 0 };
        if ptr.is_null() || size == 0 {
            return 0;
        }
        b.modify(|b| {
            let n = (size as usize).min(b.unused());
            // SAFETY: the caller provides `size` readable bytes at `ptr`; we
            // read only the first n <= size of them.
            let src = unsafe { std::slice::from_raw_parts(ptr, n) };
            b.write(src) as c_uint
        })
    })
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_read(buf: *mut NAL_BUFFER, ptr: *mut c_uchar, size: c_uint) -> c_uint {
    guard(0, || {
        let Some(b) = buffer(buf) else { return 0 };
        b.modify(|b| {
            let n = (size as usize).min(b.used());
            if ptr.is_null() {
                b.read(None, n) as c_uint
            } else {
                // SAFETY: the caller provides `size` writable bytes at `ptr`;
                // we write only the first n <= size of them.
                let dst = unsafe { std::slice::from_raw_parts_mut(ptr, n) };
                b.read(Some(dst), n) as c_uint
            }
        })
    })
}

/// Seed-era name of `NAL_BUFFER_read` (NULL `dest` discards).
#[no_mangle]
pub extern "C" fn NAL_BUFFER_takedata(buf: *mut NAL_BUFFER, dest: *mut c_uchar, size: c_uint) -> c_uint {
    NAL_BUFFER_read(buf, dest, size)
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_transfer(dest: *mut NAL_BUFFER, src: *mut NAL_BUFFER, max: c_uint) -> c_uint {
    guard(0, || match (buffer(dest), buffer(src)) {
        (Some(d), Some(s)) => d.transfer_from(s, max as usize) as c_uint,
        _ => 0,
    })
}

#[no_mangle]
pub extern "C" fn NAL_BUFFER_write_ptr(buf: *mut NAL_BUFFER) -> *mut c_uchar {
    guard(std::ptr::null_mut(), || match buffer(buf) {
        Some(b) => b.modify(|b| if b.size() == 0 { std::ptr::null_mut() } else { b.spare_mut().as_mut_ptr() }),
        None => std::ptr::null_mut(),
    })
}

/// Returns the number of bytes actually added (clamped to the free space);
/// 1.5 callers that declare it `void` simply ignore the value.
#[no_mangle]
pub extern "C" fn NAL_BUFFER_wrote(buf: *mut NAL_BUFFER, size: c_uint) -> c_uint {
    guard(0, || buffer(buf).map_or(0, |b| b.modify(|b| b.wrote(size as usize)) as c_uint))
}
