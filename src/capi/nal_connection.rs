//! `NAL_CONNECTION`: connections and their buffers.
//!
//! Other C modules (DC_PLUG, DC_SERVER) receive `NAL_CONNECTION` pointers;
//! they borrow them with [`super::obj_mut`] and free owned ones with
//! [`super::free_handle`].

use super::nal_address::NAL_ADDRESS;
use super::nal_buffer::{buffer_ptr, NAL_BUFFER};
use super::nal_devel::{
    address_has_devel, connection_accept_slow, connection_add_slow, connection_buffer_slow, connection_create_slow,
    connection_del_slow, connection_established_slow, connection_free_slow, connection_has_devel, connection_io_slow,
    connection_release, connection_reset_slow, connection_set_size_slow, listener_has_devel, selector_has_devel,
};
use super::nal_listener::NAL_LISTENER;
use super::nal_selector::{is_live_selector, NAL_SELECTOR};
use super::{free_handle, guard, guard_void, new_handle, obj, obj_mut};
use crate::nal::connection::Connection;
use libc::{c_int, c_uint};

pub type NAL_CONNECTION = Connection;

#[no_mangle]
pub extern "C" fn NAL_CONNECTION_new() -> *mut NAL_CONNECTION {
    guard(std::ptr::null_mut(), new_handle::<Connection>)
}

/// Older name of `NAL_CONNECTION_new`.
#[no_mangle]
pub extern "C" fn NAL_CONNECTION_malloc() -> *mut NAL_CONNECTION {
    NAL_CONNECTION_new()
}

#[no_mangle]
pub extern "C" fn NAL_CONNECTION_free(conn: *mut NAL_CONNECTION) {
    guard_void(|| {
        if connection_has_devel(conn) {
            connection_free_slow(conn);
        }
        free_handle(conn)
    })
}

#[no_mangle]
pub extern "C" fn NAL_CONNECTION_reset(conn: *mut NAL_CONNECTION) {
    guard_void(|| {
        if connection_has_devel(conn) {
            connection_reset_slow(conn);
        } else if let Some(c) = obj_mut(conn) {
            c.reset()
        }
    })
}

/// Connects to an address that can connect; a TCP connect may still be in
/// progress on return (see NAL_CONNECTION_is_established).
#[no_mangle]
pub extern "C" fn NAL_CONNECTION_create(conn: *mut NAL_CONNECTION, addr: *const NAL_ADDRESS) -> c_int {
    guard(0, || match (obj_mut(conn), obj(addr)) {
        _ if connection_has_devel(conn) || address_has_devel(addr) => connection_create_slow(conn, addr),
        (Some(c), Some(a)) => c.create(a) as c_int,
        _ => 0,
    })
}

/// Accepts the connection the listener's last select reported; never blocks.
#[no_mangle]
pub extern "C" fn NAL_CONNECTION_accept(conn: *mut NAL_CONNECTION, list: *mut NAL_LISTENER) -> c_int {
    guard(0, || match (obj_mut(conn), obj_mut(list)) {
        _ if connection_has_devel(conn) || listener_has_devel(list) => connection_accept_slow(conn, list),
        (Some(c), Some(l)) => c.accept(l) as c_int,
        _ => 0,
    })
}

/// Resizes both buffers (at most 32768 bytes).
#[no_mangle]
pub extern "C" fn NAL_CONNECTION_set_size(conn: *mut NAL_CONNECTION, size: c_uint) -> c_int {
    guard(0, || {
        if connection_has_devel(conn) {
            return connection_set_size_slow(conn, size);
        }
        obj_mut(conn).is_some_and(|c| c.set_size(size)) as c_int
    })
}

#[no_mangle]
pub extern "C" fn NAL_CONNECTION_get_read(conn: *mut NAL_CONNECTION) -> *mut NAL_BUFFER {
    guard(std::ptr::null_mut(), || {
        if connection_has_devel(conn) {
            return connection_buffer_slow(conn, false);
        }
        obj(conn).and_then(Connection::read_buffer).map_or(std::ptr::null_mut(), buffer_ptr)
    })
}

#[no_mangle]
pub extern "C" fn NAL_CONNECTION_get_send(conn: *mut NAL_CONNECTION) -> *mut NAL_BUFFER {
    guard(std::ptr::null_mut(), || {
        if connection_has_devel(conn) {
            return connection_buffer_slow(conn, true);
        }
        obj(conn).and_then(Connection::send_buffer).map_or(std::ptr::null_mut(), buffer_ptr)
    })
}

#[no_mangle]
pub extern "C" fn NAL_CONNECTION_get_read_c(conn: *const NAL_CONNECTION) -> *const NAL_BUFFER {
    NAL_CONNECTION_get_read(conn as *mut NAL_CONNECTION)
}

#[no_mangle]
pub extern "C" fn NAL_CONNECTION_get_send_c(conn: *const NAL_CONNECTION) -> *const NAL_BUFFER {
    NAL_CONNECTION_get_send(conn as *mut NAL_CONNECTION)
}

/// Both prototypes land here: 1.5 code calls `NAL_CONNECTION_io(conn)`
/// (then `sel` holds whatever the register had), code written to the older
/// API calls `NAL_CONNECTION_io(conn, sel)`. `sel` is only ever compared
/// with the addresses of live selectors, never dereferenced; the connection
/// finds its results through its own attachment.
#[no_mangle]
pub extern "C" fn NAL_CONNECTION_io(conn: *mut NAL_CONNECTION, sel: *mut NAL_SELECTOR) -> c_int {
    guard(0, || {
        if connection_has_devel(conn) {
            return connection_io_slow(conn);
        }
        let Some(c) = obj_mut(conn) else { return 0 };
        if c.is_dummy() {
            1
        } else if c.is_attached() {
            c.io() as c_int
        } else if c.has_oneshot_home() {
            c.io_capped(0, 0) as c_int
        } else if c.is_active() && is_live_selector(sel) {
            1 // older API: not part of sel's last select, nothing to do
        } else {
            0
        }
    })
}

/// Older API: like the two-argument `NAL_CONNECTION_io`, reading at most
/// `max_read` and sending at most `max_send` bytes (0 = no limit).
#[no_mangle]
pub extern "C" fn NAL_CONNECTION_io_cap(
    conn: *mut NAL_CONNECTION,
    sel: *mut NAL_SELECTOR,
    max_read: c_uint,
    max_send: c_uint,
) -> c_int {
    guard(0, || match (obj_mut(conn), obj(sel)) {
        _ if connection_has_devel(conn) || selector_has_devel(sel) => 0, // older API: builtin objects only
        (Some(c), Some(s)) if c.is_active() => {
            if c.is_dummy() || !c.registered_with(s) {
                1 // not part of sel's last select: nothing to do
            } else {
                c.io_capped(max_read as usize, max_send as usize) as c_int
            }
        }
        _ => 0,
    })
}

#[no_mangle]
pub extern "C" fn NAL_CONNECTION_is_established(conn: *const NAL_CONNECTION) -> c_int {
    guard(0, || {
        if connection_has_devel(conn) {
            return connection_established_slow(conn);
        }
        obj(conn).is_some_and(Connection::is_established) as c_int
    })
}

#[no_mangle]
pub extern "C" fn NAL_CONNECTION_add_to_selector(conn: *mut NAL_CONNECTION, sel: *mut NAL_SELECTOR) -> c_int {
    guard(0, || match (obj_mut(conn), obj(sel)) {
        _ if connection_has_devel(conn) || selector_has_devel(sel) => connection_add_slow(conn, sel),
        (Some(c), Some(s)) => c.add_to_selector(s) as c_int,
        _ => 0,
    })
}

#[no_mangle]
pub extern "C" fn NAL_CONNECTION_del_from_selector(conn: *mut NAL_CONNECTION) {
    guard_void(|| {
        if connection_has_devel(conn) {
            connection_del_slow(conn);
        }
        if let Some(c) = obj_mut(conn) {
            c.del_from_selector()
        }
    })
}

/// Two connected unix-domain sockets (e.g. for a parent and a forked child).
#[no_mangle]
pub extern "C" fn NAL_CONNECTION_create_pair(
    conn1: *mut NAL_CONNECTION,
    conn2: *mut NAL_CONNECTION,
    def_buffer_size: c_uint,
) -> c_int {
    guard(0, || {
        if conn1 == conn2 || !connection_release(conn1) || !connection_release(conn2) {
            return 0;
        }
        match (obj_mut(conn1), obj_mut(conn2)) {
            (Some(a), Some(b)) => Connection::create_pair(a, b, def_buffer_size) as c_int,
            _ => 0,
        }
    })
}

/// Older API: a loopback FIFO without a descriptor; its read and send
/// buffers are one buffer.
#[no_mangle]
pub extern "C" fn NAL_CONNECTION_create_dummy(conn: *mut NAL_CONNECTION, def_buffer_size: c_uint) -> c_int {
    guard(0, || (connection_release(conn) && obj_mut(conn).is_some_and(|c| c.create_dummy(def_buffer_size))) as c_int)
}
