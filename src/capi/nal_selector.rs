//! `NAL_SELECTOR`: waiting for events, and the older one-shot registration
//! calls of the original API document.

use super::nal_connection::NAL_CONNECTION;
use super::nal_devel::{
    connection_has_devel, core_select, listener_has_devel, selector_free_slow, selector_has_devel,
    selector_num_objects_slow, selector_reset_slow, selector_select_slow,
};
use super::nal_listener::NAL_LISTENER;
use super::{free_handle, guard, guard_void, obj, obj_mut};
use crate::nal::selector::{Selector, SelectorType, READ, SEND};
use libc::{c_int, c_uint, c_ulong};
use parking_lot::Mutex;
use std::collections::HashSet;

pub type NAL_SELECTOR = Selector;

/// Addresses of live selectors: lets `NAL_CONNECTION_io` recognise a
/// selector passed by a caller of the two-argument (older) form without
/// ever dereferencing that argument.
static LIVE: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

pub(crate) fn is_live_selector(sel: *const NAL_SELECTOR) -> bool {
    !sel.is_null() && LIVE.lock().as_ref().is_some_and(|s| s.contains(&(sel as usize)))
}

pub(crate) fn new_selector(ty: SelectorType) -> *mut NAL_SELECTOR {
    guard(std::ptr::null_mut(), || {
        let ptr = Box::into_raw(Box::new(Selector::with_type(ty)));
        // SAFETY: ptr was just made by Box::into_raw and is live.
        unsafe { (*ptr).set_handle(ptr as usize) };
        LIVE.lock().get_or_insert_with(HashSet::new).insert(ptr as usize);
        ptr
    })
}

/// A selector whose implementation is chosen at the first attach (poll).
#[no_mangle]
pub extern "C" fn NAL_SELECTOR_new() -> *mut NAL_SELECTOR {
    new_selector(SelectorType::Dynamic)
}

/// Older name of `NAL_SELECTOR_new`.
#[no_mangle]
pub extern "C" fn NAL_SELECTOR_malloc() -> *mut NAL_SELECTOR {
    NAL_SELECTOR_new()
}

/// A selector with select(2) semantics (microsecond timeouts; descriptors
/// from 1024 up are refused).
#[no_mangle]
pub extern "C" fn NAL_SELECTOR_new_fdselect() -> *mut NAL_SELECTOR {
    new_selector(SelectorType::FdSelect)
}

/// A selector with poll(2) semantics (millisecond timeouts, truncated).
#[no_mangle]
pub extern "C" fn NAL_SELECTOR_new_fdpoll() -> *mut NAL_SELECTOR {
    new_selector(SelectorType::FdPoll)
}

/// Destroys the selector; attached objects become unattached.
#[no_mangle]
pub extern "C" fn NAL_SELECTOR_free(sel: *mut NAL_SELECTOR) {
    guard_void(|| {
        if selector_has_devel(sel) {
            selector_free_slow(sel);
        }
        release_selector(sel)
    })
}

/// Forgets a selector handle and frees it (no hooks).
pub(crate) fn release_selector(sel: *mut NAL_SELECTOR) {
    {
        {
            let mut live = LIVE.lock();
            if let Some(set) = live.as_mut() {
                set.remove(&(sel as usize));
                if set.is_empty() {
                    *live = None; // nothing stays allocated once all are freed
                }
            }
        }
        free_handle(sel);
    }
}

/// Detaches every object and clears all results.
#[no_mangle]
pub extern "C" fn NAL_SELECTOR_reset(sel: *mut NAL_SELECTOR) {
    guard_void(|| {
        if selector_has_devel(sel) {
            selector_reset_slow(sel);
        } else if let Some(s) = obj(sel) {
            s.reset()
        }
    })
}

/// One blocking round: > 0 something is ready, 0 timed out, -1 error
/// (errno from the system call, e.g. EINTR).
#[no_mangle]
pub extern "C" fn NAL_SELECTOR_select(sel: *mut NAL_SELECTOR, usec_timeout: c_ulong, use_timeout: c_int) -> c_int {
    guard(-1, || {
        if selector_has_devel(sel) {
            return selector_select_slow(sel, usec_timeout, use_timeout);
        }
        core_select(sel, usec_timeout, use_timeout)
    })
}

/// Listeners and connections currently attached.
#[no_mangle]
pub extern "C" fn NAL_SELECTOR_num_objects(sel: *const NAL_SELECTOR) -> c_uint {
    guard(0, || {
        if selector_has_devel(sel) {
            return selector_num_objects_slow(sel);
        }
        obj(sel).map_or(0, |s| s.num_objects().min(c_uint::MAX as usize) as c_uint)
    })
}

/// Older API: register `conn` for the next select (read and send).
#[no_mangle]
pub extern "C" fn NAL_SELECTOR_add_conn(sel: *mut NAL_SELECTOR, conn: *const NAL_CONNECTION) -> c_int {
    NAL_SELECTOR_add_conn_ex(sel, conn, (READ | SEND) as c_uint)
}

/// Older API: register `conn` for the next select; `flags`
/// (NAL_SELECT_FLAG_READ/_SEND) limit which events may wake it.
#[no_mangle]
pub extern "C" fn NAL_SELECTOR_add_conn_ex(
    sel: *mut NAL_SELECTOR,
    conn: *const NAL_CONNECTION,
    flags: c_uint,
) -> c_int {
    if selector_has_devel(sel) || connection_has_devel(conn) {
        return 0; // the older registration calls know only builtin objects
    }
    guard(0, || match (obj(sel), obj_mut(conn as *mut NAL_CONNECTION)) {
        (Some(s), Some(c)) => c.register_oneshot(s, (flags as u8) & (READ | SEND)) as c_int,
        _ => 0,
    })
}

/// Older API: cancel a registration made for the next select.
#[no_mangle]
pub extern "C" fn NAL_SELECTOR_del_conn(sel: *mut NAL_SELECTOR, conn: *const NAL_CONNECTION) -> c_int {
    guard(0, || match (obj(sel), obj_mut(conn as *mut NAL_CONNECTION)) {
        (Some(s), Some(c)) => {
            c.cancel_oneshot(s);
            1
        }
        _ => 0,
    })
}

/// Older API: register `list` for the next select.
#[no_mangle]
pub extern "C" fn NAL_SELECTOR_add_listener(sel: *mut NAL_SELECTOR, list: *const NAL_LISTENER) -> c_int {
    if selector_has_devel(sel) || listener_has_devel(list) {
        return 0; // the older registration calls know only builtin objects
    }
    guard(0, || match (obj(sel), obj_mut(list as *mut NAL_LISTENER)) {
        (Some(s), Some(l)) => l.register_oneshot(s) as c_int,
        _ => 0,
    })
}

/// Older API: cancel a listener registration made for the next select.
#[no_mangle]
pub extern "C" fn NAL_SELECTOR_del_listener(sel: *mut NAL_SELECTOR, list: *const NAL_LISTENER) -> c_int {
    guard(0, || match (obj(sel), obj_mut(list as *mut NAL_LISTENER)) {
        (Some(s), Some(l)) => {
            l.cancel_oneshot(s);
            1
        }
        _ => 0,
    })
}
