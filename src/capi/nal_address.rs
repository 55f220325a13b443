//! `NAL_ADDRESS`: parsed network addresses.

use super::nal_devel::{
    address_can_slow, address_create_slow, address_free_slow, address_has_devel, address_needs_slow_create,
    address_reset_slow,
};
use super::{c_bytes, free_handle, guard, guard_void, new_handle, obj, obj_mut};
use crate::nal::address::Address;
use libc::{c_char, c_int, c_uint};

pub type NAL_ADDRESS = Address;

#[no_mangle]
pub extern "C" fn NAL_ADDRESS_new() -> *mut NAL_ADDRESS {
    guard(std::ptr::null_mut(), new_handle::<Address>)
}

/// Older name of `NAL_ADDRESS_new`.
#[no_mangle]
pub extern "C" fn NAL_ADDRESS_malloc() -> *mut NAL_ADDRESS {
    NAL_ADDRESS_new()
}

#[no_mangle]
pub extern "C" fn NAL_ADDRESS_free(addr: *mut NAL_ADDRESS) {
    guard_void(|| {
        if address_has_devel(addr) {
            address_free_slow(addr);
        }
        free_handle(addr)
    })
}

/// Back to unused; the default buffer size is kept.
#[no_mangle]
pub extern "C" fn NAL_ADDRESS_reset(addr: *mut NAL_ADDRESS) {
    guard_void(|| {
        if address_has_devel(addr) {
            address_reset_slow(addr);
        } else if let Some(a) = obj_mut(addr) {
            a.reset()
        }
    })
}

/// Parses `IP:`/`IPv4:`/`IPv6:`/`UNIX:`/`FD:` strings; 1 on success.
#[no_mangle]
pub extern "C" fn NAL_ADDRESS_create(
    addr: *mut NAL_ADDRESS,
    addr_string: *const c_char,
    def_buffer_size: c_uint,
) -> c_int {
    guard(0, || match c_bytes(addr_string) {
        Some(s) if address_needs_slow_create(addr, s) => address_create_slow(addr, addr_string, def_buffer_size),
        Some(s) => obj_mut(addr).is_some_and(|a| a.create(s, def_buffer_size)) as c_int,
        None => 0,
    })
}

#[no_mangle]
pub extern "C" fn NAL_ADDRESS_get_def_buffer_size(addr: *const NAL_ADDRESS) -> c_uint {
    guard(0, || obj(addr).map_or(0, Address::def_buffer_size))
}

#[no_mangle]
pub extern "C" fn NAL_ADDRESS_set_def_buffer_size(addr: *mut NAL_ADDRESS, def_buffer_size: c_uint) -> c_int {
    guard(0, || obj_mut(addr).is_some_and(|a| a.set_def_buffer_size(def_buffer_size)) as c_int)
}

#[no_mangle]
pub extern "C" fn NAL_ADDRESS_can_connect(addr: *const NAL_ADDRESS) -> c_int {
    guard(0, || {
        if address_has_devel(addr) {
            return address_can_slow(addr, false);
        }
        obj(addr).is_some_and(Address::can_connect) as c_int
    })
}

#[no_mangle]
pub extern "C" fn NAL_ADDRESS_can_listen(addr: *const NAL_ADDRESS) -> c_int {
    guard(0, || {
        if address_has_devel(addr) {
            return address_can_slow(addr, true);
        }
        obj(addr).is_some_and(Address::can_listen) as c_int
    })
}
