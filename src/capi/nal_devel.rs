//! `nal_devel.h`: the extension API for C-defined transports and selectors.
//!
//! The functions exist and are safe to call, but this release does not
//! accept C-defined vtables: binding functions refuse them and accessors
//! report "nothing bound". `nal_selector_get_type` reports the real type of
//! our builtin selectors.

use super::nal_address::NAL_ADDRESS;
use super::nal_connection::NAL_CONNECTION;
use super::nal_listener::NAL_LISTENER;
use super::nal_selector::NAL_SELECTOR;
use super::{guard, obj};
use crate::nal::selector::SelectorType;
use libc::{c_int, c_void};

pub enum NAL_ADDRESS_vtable {}
pub enum NAL_LISTENER_vtable {}
pub enum NAL_CONNECTION_vtable {}
pub enum NAL_SELECTOR_vtable {}
pub type NAL_SELECTOR_TOKEN = *mut c_void;
pub type NAL_SELECTOR_TYPE = c_int;

const NULL: *mut c_void = std::ptr::null_mut();

#[no_mangle]
pub extern "C" fn nal_address_set_vtable(addr: *mut NAL_ADDRESS, vt: *const NAL_ADDRESS_vtable) -> c_int {
    let _ = (addr, vt);
    0
}

#[no_mangle]
pub extern "C" fn nal_address_get_vtable(addr: *const NAL_ADDRESS) -> *const NAL_ADDRESS_vtable {
    let _ = addr;
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn nal_address_get_vtdata(addr: *const NAL_ADDRESS) -> *mut c_void {
    let _ = addr;
    NULL
}

#[no_mangle]
pub extern "C" fn nal_address_get_listener(addr: *const NAL_ADDRESS) -> *const NAL_LISTENER_vtable {
    let _ = addr;
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn nal_address_get_connection(addr: *const NAL_ADDRESS) -> *const NAL_CONNECTION_vtable {
    let _ = addr;
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn nal_listener_set_vtable(list: *mut NAL_LISTENER, vt: *const NAL_LISTENER_vtable) -> c_int {
    let _ = (list, vt);
    0
}

#[no_mangle]
pub extern "C" fn nal_listener_get_vtable(list: *const NAL_LISTENER) -> *const NAL_LISTENER_vtable {
    let _ = list;
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn nal_listener_get_vtdata(list: *const NAL_LISTENER) -> *mut c_void {
    let _ = list;
    NULL
}

#[no_mangle]
pub extern "C" fn nal_listener_pre_accept(list: *mut NAL_LISTENER) -> *const NAL_CONNECTION_vtable {
    let _ = list;
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn nal_listener_pre_select(list: *mut NAL_LISTENER) {
    let _ = list;
}

#[no_mangle]
pub extern "C" fn nal_listener_post_select(list: *mut NAL_LISTENER) {
    let _ = list;
}

#[no_mangle]
pub extern "C" fn nal_listener_get_selector(
    list: *const NAL_LISTENER,
    token: *mut NAL_SELECTOR_TOKEN,
) -> *mut NAL_SELECTOR {
    let _ = (list, token);
    std::ptr::null_mut()
}

#[no_mangle]
pub extern "C" fn nal_listener_set_selector_raw(
    list: *mut NAL_LISTENER,
    sel: *mut NAL_SELECTOR,
    token: NAL_SELECTOR_TOKEN,
) {
    let _ = (list, sel, token);
}

#[no_mangle]
pub extern "C" fn nal_connection_set_vtable(conn: *mut NAL_CONNECTION, vt: *const NAL_CONNECTION_vtable) -> c_int {
    let _ = (conn, vt);
    0
}

#[no_mangle]
pub extern "C" fn nal_connection_get_vtable(conn: *const NAL_CONNECTION) -> *const NAL_CONNECTION_vtable {
    let _ = conn;
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn nal_connection_get_vtdata(conn: *const NAL_CONNECTION) -> *mut c_void {
    let _ = conn;
    NULL
}

#[no_mangle]
pub extern "C" fn nal_connection_pre_select(conn: *mut NAL_CONNECTION) {
    let _ = conn;
}

#[no_mangle]
pub extern "C" fn nal_connection_post_select(conn: *mut NAL_CONNECTION) {
    let _ = conn;
}

#[no_mangle]
pub extern "C" fn nal_connection_get_selector(
    conn: *const NAL_CONNECTION,
    token: *mut NAL_SELECTOR_TOKEN,
) -> *mut NAL_SELECTOR {
    let _ = (conn, token);
    std::ptr::null_mut()
}

#[no_mangle]
pub extern "C" fn nal_connection_set_selector_raw(
    conn: *mut NAL_CONNECTION,
    sel: *mut NAL_SELECTOR,
    token: NAL_SELECTOR_TOKEN,
) {
    let _ = (conn, sel, token);
}

/// Head of the list of address types; none is exposed as a C vtable.
#[no_mangle]
pub extern "C" fn NAL_ADDRESS_vtable_builtins() -> *const NAL_ADDRESS_vtable {
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn NAL_ADDRESS_vtable_link(vt: *mut NAL_ADDRESS_vtable) {
    let _ = vt;
}

#[no_mangle]
pub extern "C" fn sel_fdselect() -> *const NAL_SELECTOR_vtable {
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn sel_fdpoll() -> *const NAL_SELECTOR_vtable {
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn nal_selector_new(vt: *const NAL_SELECTOR_vtable) -> *mut NAL_SELECTOR {
    let _ = vt;
    std::ptr::null_mut()
}

#[no_mangle]
pub extern "C" fn nal_selector_get_vtable(sel: *const NAL_SELECTOR) -> *const NAL_SELECTOR_vtable {
    let _ = sel;
    std::ptr::null()
}

#[no_mangle]
pub extern "C" fn nal_selector_get_vtdata(sel: *const NAL_SELECTOR) -> *mut c_void {
    let _ = sel;
    NULL
}

/// NAL_SELECTOR_TYPE_DYNAMIC (1) until the first attach, then FDPOLL (3);
/// FDSELECT (2) / FDPOLL for the explicit constructors; ERROR (0) for NULL.
#[no_mangle]
pub extern "C" fn nal_selector_get_type(sel: *const NAL_SELECTOR) -> NAL_SELECTOR_TYPE {
    guard(0, || match obj(sel).map(|s| s.selector_type()) {
        None => 0,
        Some(SelectorType::Dynamic) => 1,
        Some(SelectorType::FdSelect) => 2,
        Some(SelectorType::FdPoll) => 3,
    })
}

#[no_mangle]
pub extern "C" fn nal_selector_ctrl(sel: *mut NAL_SELECTOR, cmd: c_int, arg: *mut c_void) -> c_int {
    let _ = (sel, cmd, arg);
    0
}

#[no_mangle]
pub extern "C" fn nal_selector_dynamic_set(sel: *mut NAL_SELECTOR, vt: *const NAL_SELECTOR_vtable) -> c_int {
    let _ = (sel, vt);
    0
}
