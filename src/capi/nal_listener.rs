//! `NAL_LISTENER`: listening sockets.

use super::nal_address::NAL_ADDRESS;
use super::nal_connection::NAL_CONNECTION;
use super::nal_devel::{
    address_has_devel, connection_has_devel, listener_add_slow, listener_create_slow, listener_del_slow,
    listener_finished_slow, listener_free_slow, listener_fs_owner_slow, listener_fs_perms_slow, listener_has_devel,
    listener_reset_slow, selector_has_devel,
};
use super::nal_selector::NAL_SELECTOR;
use super::{c_bytes, free_handle, guard, guard_void, new_handle, obj, obj_mut};
use crate::nal::listener::Listener;
use libc::{c_char, c_int};

pub type NAL_LISTENER = Listener;

#[no_mangle]
pub extern "C" fn NAL_LISTENER_new() -> *mut NAL_LISTENER {
    guard(std::ptr::null_mut(), new_handle::<Listener>)
}

/// Older name of `NAL_LISTENER_new`.
#[no_mangle]
pub extern "C" fn NAL_LISTENER_malloc() -> *mut NAL_LISTENER {
    NAL_LISTENER_new()
}

#[no_mangle]
pub extern "C" fn NAL_LISTENER_free(list: *mut NAL_LISTENER) {
    guard_void(|| {
        if listener_has_devel(list) {
            listener_free_slow(list);
        }
        free_handle(list)
    })
}

#[no_mangle]
pub extern "C" fn NAL_LISTENER_reset(list: *mut NAL_LISTENER) {
    guard_void(|| {
        if listener_has_devel(list) {
            listener_reset_slow(list);
        } else if let Some(l) = obj_mut(list) {
            l.reset()
        }
    })
}

/// Listens on an active address; a unix socket file is replaced.
#[no_mangle]
pub extern "C" fn NAL_LISTENER_create(list: *mut NAL_LISTENER, addr: *const NAL_ADDRESS) -> c_int {
    guard(0, || match (obj_mut(list), obj(addr)) {
        _ if listener_has_devel(list) || address_has_devel(addr) => listener_create_slow(list, addr),
        (Some(l), Some(a)) => l.create(a) as c_int,
        _ => 0,
    })
}

#[no_mangle]
pub extern "C" fn NAL_LISTENER_add_to_selector(list: *mut NAL_LISTENER, sel: *mut NAL_SELECTOR) -> c_int {
    guard(0, || match (obj_mut(list), obj(sel)) {
        _ if listener_has_devel(list) || selector_has_devel(sel) => listener_add_slow(list, sel),
        (Some(l), Some(s)) => l.add_to_selector(s) as c_int,
        _ => 0,
    })
}

#[no_mangle]
pub extern "C" fn NAL_LISTENER_del_from_selector(list: *mut NAL_LISTENER) {
    guard_void(|| {
        if listener_has_devel(list) {
            listener_del_slow(list);
        }
        if let Some(l) = obj_mut(list) {
            l.del_from_selector()
        }
    })
}

/// Non-zero once no more connections can come (an `FD:` listener whose
/// single connection was accepted).
#[no_mangle]
pub extern "C" fn NAL_LISTENER_finished(list: *const NAL_LISTENER) -> c_int {
    guard(0, || {
        if listener_has_devel(list) {
            return listener_finished_slow(list);
        }
        obj(list).is_some_and(Listener::finished) as c_int
    })
}

fn name<'a>(ptr: *const c_char) -> Result<Option<&'a str>, ()> {
    match c_bytes(ptr) {
        None => Ok(None),
        Some(b) => std::str::from_utf8(b).map(Some).map_err(|_| ()),
    }
}

/// Changes the owner (and group) of a unix socket file.
#[no_mangle]
pub extern "C" fn NAL_LISTENER_set_fs_owner(
    list: *mut NAL_LISTENER,
    ownername: *const c_char,
    groupname: *const c_char,
) -> c_int {
    guard(0, || {
        if listener_has_devel(list) {
            return listener_fs_owner_slow(list, ownername, groupname);
        }
        let (Some(l), Ok(owner), Ok(group)) = (obj(list), name(ownername), name(groupname)) else {
            return 0;
        };
        l.set_fs_owner(owner, group) as c_int
    })
}

/// Changes the permissions of a unix socket file ("600", "0660", ...).
#[no_mangle]
pub extern "C" fn NAL_LISTENER_set_fs_perms(list: *mut NAL_LISTENER, octal_string: *const c_char) -> c_int {
    guard(0, || match (obj(list), name(octal_string)) {
        _ if listener_has_devel(list) => listener_fs_perms_slow(list, octal_string),
        (Some(l), Ok(Some(s))) => l.set_fs_perms(s) as c_int,
        _ => 0,
    })
}

/// Older API: accept the connection `sel`'s last select reported (0 when
/// the listener took no part in a select on `sel`).
#[no_mangle]
pub extern "C" fn NAL_LISTENER_accept(
    list: *const NAL_LISTENER,
    sel: *mut NAL_SELECTOR,
    conn: *mut NAL_CONNECTION,
) -> c_int {
    guard(0, || match (obj_mut(list as *mut NAL_LISTENER), obj(sel), obj_mut(conn)) {
        _ if listener_has_devel(list) || connection_has_devel(conn) => 0, // older API: builtin objects only
        (Some(l), Some(s), Some(c)) if l.registered_with(s) => c.accept(l) as c_int,
        _ => 0,
    })
}

/// Older API: wait (without a selector) for a connection and accept it.
#[no_mangle]
pub extern "C" fn NAL_LISTENER_accept_block(list: *const NAL_LISTENER, conn: *mut NAL_CONNECTION) -> c_int {
    guard(0, || match (obj_mut(list as *mut NAL_LISTENER), obj_mut(conn)) {
        _ if listener_has_devel(list) || connection_has_devel(conn) => 0, // older API: builtin objects only
        (Some(l), Some(c)) => c.accept_blocking(l) as c_int,
        _ => 0,
    })
}
