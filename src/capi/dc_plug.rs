//! `DC_PLUG`: whole distcache messages over a `NAL_CONNECTION`.

use super::nal_connection::{
    NAL_CONNECTION_add_to_selector, NAL_CONNECTION_del_from_selector, NAL_CONNECTION_io, NAL_CONNECTION,
};
use super::nal_selector::NAL_SELECTOR;
use super::{guard, guard_void, obj, obj_mut};
use crate::nal::buffer::SharedBuffer;
use crate::nal::connection::Connection;
use crate::protocol::{Cmd, Plug};
use libc::{c_int, c_uchar, c_uint, c_ulong};
use std::sync::Arc;

/// The C `DC_CMD` enum (int-sized).
pub type DC_CMD = c_int;

const FLAG_TO_SERVER: c_uint = 0x1;
const FLAG_NOFREE_CONN: c_uint = 0x2;

/// A plug and the connection it wraps.
pub struct DC_PLUG {
    conn: *mut NAL_CONNECTION,
    nofree: bool,
    plug: Plug,
    /// Non-empty placeholder handed out for empty payloads.
    empty: [u8; 1],
}

impl DC_PLUG {
    fn conn(&self) -> Option<&Connection> {
        obj(self.conn)
    }

    fn buffers(&self) -> Option<(Arc<SharedBuffer>, Arc<SharedBuffer>)> {
        let c = self.conn()?;
        Some((c.read_buffer()?.clone(), c.send_buffer()?.clone()))
    }
}

fn get_plug<'a>(plug: *mut DC_PLUG) -> Option<&'a mut DC_PLUG> {
    obj_mut(plug)
}

/// Wraps `conn` (client end with DC_PLUG_FLAG_TO_SERVER, server end
/// without). Unless DC_PLUG_FLAG_NOFREE_CONN, the plug owns `conn` from now
/// on. NULL for a NULL `conn`.
#[no_mangle]
pub extern "C" fn DC_PLUG_new(conn: *mut NAL_CONNECTION, flags: c_uint) -> *mut DC_PLUG {
    guard(std::ptr::null_mut(), || {
        if conn.is_null() {
            return std::ptr::null_mut();
        }
        Box::into_raw(Box::new(DC_PLUG {
            conn,
            nofree: flags & FLAG_NOFREE_CONN != 0,
            plug: Plug::new(flags & FLAG_TO_SERVER != 0),
            empty: [0],
        }))
    })
}

/// Frees the plug and, unless DC_PLUG_FLAG_NOFREE_CONN, its connection.
/// 1, or 0 for NULL.
#[no_mangle]
pub extern "C" fn DC_PLUG_free(plug: *mut DC_PLUG) -> c_int {
    guard(0, || {
        if plug.is_null() {
            return 0;
        }
        // SAFETY: plugs come from Box::into_raw in DC_PLUG_new and the
        // caller frees each one once.
        let boxed = unsafe { Box::from_raw(plug) };
        if !boxed.nofree {
            // As NAL_CONNECTION_free: a C transport's on_destroy hook runs.
            super::nal_connection::NAL_CONNECTION_free(boxed.conn);
        }
        1
    })
}

/// NAL_CONNECTION_add_to_selector on the wrapped connection.
#[no_mangle]
pub extern "C" fn DC_PLUG_to_select(plug: *mut DC_PLUG, sel: *mut NAL_SELECTOR) -> c_int {
    guard(0, || get_plug(plug).map_or(0, |p| NAL_CONNECTION_add_to_selector(p.conn, sel)))
}

/// NAL_CONNECTION_del_from_selector on the wrapped connection.
#[no_mangle]
pub extern "C" fn DC_PLUG_from_select(plug: *mut DC_PLUG) {
    guard_void(|| {
        if let Some(p) = get_plug(plug) {
            NAL_CONNECTION_del_from_selector(p.conn)
        }
    })
}

/// Connection I/O, then assembly of incoming frames and flushing of queued
/// ones. 0 when the connection failed or the incoming stream is corrupt.
#[no_mangle]
pub extern "C" fn DC_PLUG_io(plug: *mut DC_PLUG) -> c_int {
    guard(0, || {
        let Some(p) = get_plug(plug) else { return 0 };
        if NAL_CONNECTION_io(p.conn, std::ptr::null_mut()) == 0 {
            return 0;
        }
        let Some((read, send)) = p.buffers() else {
            return 0;
        };
        p.plug.process(&read, &send).is_ok() as c_int
    })
}

/// Opens the assembled incoming message (or re-reads the open one with
/// `resume`). Outputs are written only on success; `*payload_data` points
/// into the plug, valid until DC_PLUG_consume or DC_PLUG_free.
#[no_mangle]
pub extern "C" fn DC_PLUG_read(
    plug: *mut DC_PLUG,
    resume: c_int,
    request_uid: *mut c_ulong,
    cmd: *mut DC_CMD,
    payload_data: *mut *const c_uchar,
    payload_len: *mut c_uint,
) -> c_int {
    guard(0, || {
        let Some(p) = get_plug(plug) else { return 0 };
        if request_uid.is_null() || cmd.is_null() || payload_data.is_null() || payload_len.is_null() {
            return 0;
        }
        let placeholder = p.empty.as_ptr();
        let Some((uid, c, data)) = p.plug.read(resume != 0) else {
            return 0;
        };
        let ptr = if data.is_empty() { placeholder } else { data.as_ptr() };
        // SAFETY: all four output pointers were checked non-NULL and point
        // at the caller's variables of the declared types.
        unsafe {
            *request_uid = uid as c_ulong;
            *cmd = c.to_c();
            *payload_data = ptr;
            *payload_len = data.len() as c_uint;
        }
        1
    })
}

/// Discards the open message and assembles the next from buffered bytes.
/// 0 if nothing was open or the following bytes are corrupt.
#[no_mangle]
pub extern "C" fn DC_PLUG_consume(plug: *mut DC_PLUG) -> c_int {
    guard(0, || {
        let Some(p) = get_plug(plug) else { return 0 };
        let Some((read, _)) = p.buffers() else {
            return 0;
        };
        p.plug.consume(&read) as c_int
    })
}

/// Starts an outgoing message (replacing an open one when `resume`).
/// `payload_data` may be NULL only with `payload_len` 0.
#[no_mangle]
pub extern "C" fn DC_PLUG_write(
    plug: *mut DC_PLUG,
    resume: c_int,
    request_uid: c_ulong,
    cmd: DC_CMD,
    payload_data: *const c_uchar,
    payload_len: c_uint,
) -> c_int {
    guard(0, || {
        let Some(p) = get_plug(plug) else { return 0 };
        let Some(cmd) = Cmd::from_c(cmd) else {
            return 0;
        };
        let data: &[u8] = if payload_len == 0 {
            &[]
        } else if payload_data.is_null() || payload_len as usize > crate::protocol::MAX_TOTAL_DATA {
            return 0;
        } else {
            // SAFETY: the caller passes payload_len readable bytes at the
            // non-NULL payload_data (at most 32768, checked above).
            unsafe { std::slice::from_raw_parts(payload_data, payload_len as usize) }
        };
        p.plug.write(resume != 0, request_uid as u32, cmd, data) as c_int
    })
}

/// Appends to the open outgoing message.
#[no_mangle]
pub extern "C" fn DC_PLUG_write_more(plug: *mut DC_PLUG, data: *const c_uchar, data_len: c_uint) -> c_int {
    guard(0, || {
        let Some(p) = get_plug(plug) else { return 0 };
        if data.is_null() || data_len == 0 || data_len as usize > crate::protocol::MAX_TOTAL_DATA {
            return 0;
        }
        // SAFETY: the caller passes data_len readable bytes at the non-NULL
        // data (at most 32768, checked above).
        let data = unsafe { std::slice::from_raw_parts(data, data_len as usize) };
        p.plug.write_more(data) as c_int
    })
}

/// Queues the open message and moves as much as fits into the send buffer.
#[no_mangle]
pub extern "C" fn DC_PLUG_commit(plug: *mut DC_PLUG) -> c_int {
    guard(0, || {
        let Some(p) = get_plug(plug) else { return 0 };
        let Some((_, send)) = p.buffers() else {
            return 0;
        };
        p.plug.commit(&send) as c_int
    })
}

/// Drops the open outgoing message.
#[no_mangle]
pub extern "C" fn DC_PLUG_rollback(plug: *mut DC_PLUG) -> c_int {
    guard(0, || get_plug(plug).map_or(0, |p| p.plug.rollback() as c_int))
}
