//! `DC_CTX`: the synchronous distcache client API.
//!
//! One context may be used by many threads at once: without
//! `DC_CTX_FLAG_PERSISTENT` operations run in parallel on their own
//! connections; a persistent context serialises them on its connection.
//! `DC_CTX_reget_session` serves the calling thread's own last get.

use super::{c_bytes, guard, guard_void};
use crate::client::net::NetConnector;
use crate::client::{Client, Flags, GetResult};
use libc::{c_char, c_int, c_uchar, c_uint, c_ulong};

pub type DC_CTX = Client<NetConnector>;

/// Borrows `len` bytes at `ptr`; None for NULL or an empty range.
fn bytes<'a>(ptr: *const c_uchar, len: c_uint) -> Option<&'a [u8]> {
    if ptr.is_null() || len == 0 {
        return None;
    }
    // SAFETY: the caller passes `len` readable bytes at the non-NULL `ptr`.
    Some(unsafe { std::slice::from_raw_parts(ptr, len as usize) })
}

/// Borrows the caller's result buffer; None when `ptr` is NULL.
fn out_buf<'a>(ptr: *mut c_uchar, len: c_uint) -> Option<&'a mut [u8]> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller passes `len` writable bytes at the non-NULL `ptr`.
    Some(unsafe { std::slice::from_raw_parts_mut(ptr, len as usize) })
}

/// The common part of get and reget: checks the pointers, runs `lookup`
/// (the session's full length, None when there is none) and reports the
/// length through `result_used`.
fn fetch(
    ctx: *mut DC_CTX,
    id_data: *const c_uchar,
    id_len: c_uint,
    result_storage: *mut c_uchar,
    result_size: c_uint,
    result_used: *mut c_uint,
    lookup: impl FnOnce(&DC_CTX, &[u8], Option<&mut [u8]>) -> Option<usize>,
) -> c_int {
    guard(0, || {
        let (Some(c), Some(id)) = (context(ctx), bytes(id_data, id_len)) else {
            return 0;
        };
        if result_used.is_null() {
            return 0;
        }
        match lookup(c, id, out_buf(result_storage, result_size)) {
            Some(n) => {
                // SAFETY: result_used is a non-NULL pointer to the caller's
                // unsigned int.
                unsafe { *result_used = n as c_uint };
                1
            }
            None => 0,
        }
    })
}

fn context<'a>(ctx: *const DC_CTX) -> Option<&'a DC_CTX> {
    // SAFETY: non-NULL contexts come from DC_CTX_new and stay valid until
    // DC_CTX_free; the client only needs shared access (it locks inside).
    unsafe { ctx.as_ref() }
}

/// Creates a client of the server at `target` (a libnal address). NULL if
/// the address is invalid or cannot connect, or, with
/// DC_CTX_FLAG_PERSISTENT but without DC_CTX_FLAG_PERSISTENT_LATE, if the
/// first connection fails.
#[no_mangle]
pub extern "C" fn DC_CTX_new(target: *const c_char, flags: c_uint) -> *mut DC_CTX {
    guard(std::ptr::null_mut(), || {
        let Some(target) = c_bytes(target) else {
            return std::ptr::null_mut();
        };
        let Some(connector) = NetConnector::new(target) else {
            return std::ptr::null_mut();
        };
        match Client::new(connector, Flags::from_bits(flags)) {
            Ok(c) => Box::into_raw(Box::new(c)),
            Err(_) => std::ptr::null_mut(),
        }
    })
}

/// Closes any persistent connection and frees the context.
#[no_mangle]
pub extern "C" fn DC_CTX_free(ctx: *mut DC_CTX) {
    guard_void(|| {
        if !ctx.is_null() {
            // SAFETY: contexts come from Box::into_raw in DC_CTX_new and the
            // caller frees each one once, with no operation running.
            drop(unsafe { Box::from_raw(ctx) });
        }
    })
}

/// Stores a session for `timeout_msecs` ms (any value from 0 up to what
/// fits in 32 bits is sent; the server refuses more than 7 days). 1 only
/// when the server stored it.
#[no_mangle]
pub extern "C" fn DC_CTX_add_session(
    ctx: *mut DC_CTX,
    id_data: *const c_uchar,
    id_len: c_uint,
    sess_data: *const c_uchar,
    sess_len: c_uint,
    timeout_msecs: c_ulong,
) -> c_int {
    guard(0, || {
        let (Some(c), Some(id), Some(data)) = (context(ctx), bytes(id_data, id_len), bytes(sess_data, sess_len)) else {
            return 0;
        };
        (c.add(id, data, u64::from(timeout_msecs)) == Ok(true)) as c_int
    })
}

/// 1 when the server removed the session, else 0.
#[no_mangle]
pub extern "C" fn DC_CTX_remove_session(ctx: *mut DC_CTX, id_data: *const c_uchar, id_len: c_uint) -> c_int {
    guard(0, || {
        let (Some(c), Some(id)) = (context(ctx), bytes(id_data, id_len)) else {
            return 0;
        };
        (c.remove(id) == Ok(true)) as c_int
    })
}

/// Fetches a session: 1 with `*result_used` = its full length and up to
/// `result_size` bytes copied (none when `result_storage` is NULL); the
/// session is kept for this thread's DC_CTX_reget_session.
#[no_mangle]
pub extern "C" fn DC_CTX_get_session(
    ctx: *mut DC_CTX,
    id_data: *const c_uchar,
    id_len: c_uint,
    result_storage: *mut c_uchar,
    result_size: c_uint,
    result_used: *mut c_uint,
) -> c_int {
    fetch(ctx, id_data, id_len, result_storage, result_size, result_used, |c, id, out| match c.get(id, out) {
        Ok(GetResult::Found(n)) => Some(n),
        _ => None,
    })
}

/// Serves the calling thread's last successful get again without network
/// traffic, if `id` matches it and no other operation ran since.
#[no_mangle]
pub extern "C" fn DC_CTX_reget_session(
    ctx: *mut DC_CTX,
    id_data: *const c_uchar,
    id_len: c_uint,
    result_storage: *mut c_uchar,
    result_size: c_uint,
    result_used: *mut c_uint,
) -> c_int {
    fetch(ctx, id_data, id_len, result_storage, result_size, result_used, |c, id, out| c.reget(id, out))
}

/// 1 present, 0 absent, -1 when the exchange failed or the arguments are
/// invalid.
#[no_mangle]
pub extern "C" fn DC_CTX_has_session(ctx: *mut DC_CTX, id_data: *const c_uchar, id_len: c_uint) -> c_int {
    guard(-1, || {
        let (Some(c), Some(id)) = (context(ctx), bytes(id_data, id_len)) else {
            return -1;
        };
        c.has(id).unwrap_or(-1)
    })
}
