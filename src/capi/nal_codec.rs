//! `NAL_encode_*` / `NAL_decode_*`: big-endian cursor helpers.
//!
//! `*bin` is a cursor and `*bin_len` the bytes left. On success both
//! advance; on failure (too few bytes, NULL pointer) nothing changes.

use super::guard;
use crate::nal::codec;
use libc::{c_int, c_uchar, c_uint, c_ulong};

/// Runs `f` on a read cursor of exactly `need` bytes and advances it.
fn decode_with(bin: *mut *const c_uchar, bin_len: *mut c_uint, need: usize, f: impl FnOnce(&[u8])) -> c_int {
    guard(0, || {
        if bin.is_null() || bin_len.is_null() {
            return 0;
        }
        // SAFETY: both pointers were checked non-NULL; the caller owns them.
        let (cur, left) = unsafe { (*bin, *bin_len as usize) };
        if left < need || (need > 0 && cur.is_null()) {
            return 0;
        }
        if need > 0 {
            // SAFETY: the caller promises `left >= need` readable bytes at cur.
            f(unsafe { std::slice::from_raw_parts(cur, need) });
        }
        // SAFETY: advancing within the caller's buffer by the checked amount.
        unsafe {
            *bin = cur.add(need);
            *bin_len -= need as c_uint;
        }
        1
    })
}

/// Writes exactly `bytes.len()` bytes at a write cursor and advances it.
fn encode_with(bin: *mut *mut c_uchar, bin_len: *mut c_uint, bytes: &[u8]) -> c_int {
    guard(0, || {
        if bin.is_null() || bin_len.is_null() {
            return 0;
        }
        // SAFETY: both pointers were checked non-NULL; the caller owns them.
        let (cur, left) = unsafe { (*bin, *bin_len as usize) };
        if left < bytes.len() || (!bytes.is_empty() && cur.is_null()) {
            return 0;
        }
        if !bytes.is_empty() {
            // SAFETY: the caller promises `left >= len` writable bytes at cur.
            let mut out = unsafe { std::slice::from_raw_parts_mut(cur, bytes.len()) };
            codec::put(&mut out, bytes);
        }
        // SAFETY: advancing within the caller's buffer by the checked amount.
        unsafe {
            *bin = cur.add(bytes.len());
            *bin_len -= bytes.len() as c_uint;
        }
        1
    })
}

#[no_mangle]
pub extern "C" fn NAL_decode_uint32(bin: *mut *const c_uchar, bin_len: *mut c_uint, val: *mut c_ulong) -> c_int {
    if val.is_null() {
        return 0;
    }
    decode_with(bin, bin_len, 4, |mut b| {
        let v = codec::decode_u32(&mut b).unwrap_or(0);
        // SAFETY: `val` was checked non-NULL.
        unsafe { *val = v as c_ulong };
    })
}

#[no_mangle]
pub extern "C" fn NAL_decode_uint16(bin: *mut *const c_uchar, bin_len: *mut c_uint, val: *mut c_uint) -> c_int {
    if val.is_null() {
        return 0;
    }
    decode_with(bin, bin_len, 2, |mut b| {
        let v = codec::decode_u16(&mut b).unwrap_or(0);
        // SAFETY: `val` was checked non-NULL.
        unsafe { *val = v as c_uint };
    })
}

#[no_mangle]
pub extern "C" fn NAL_decode_char(bin: *mut *const c_uchar, bin_len: *mut c_uint, val: *mut c_uchar) -> c_int {
    if val.is_null() {
        return 0;
    }
    decode_with(bin, bin_len, 1, |b| {
        // SAFETY: `val` was checked non-NULL.
        unsafe { *val = b[0] };
    })
}

#[no_mangle]
pub extern "C" fn NAL_decode_bin(
    bin: *mut *const c_uchar,
    bin_len: *mut c_uint,
    val: *mut c_uchar,
    val_len: c_uint,
) -> c_int {
    if val_len == 0 {
        return 1;
    }
    if val.is_null() {
        return 0;
    }
    decode_with(bin, bin_len, val_len as usize, |b| {
        // SAFETY: `val` is non-NULL and the caller provides val_len bytes.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), val, b.len()) };
    })
}

#[no_mangle]
pub extern "C" fn NAL_encode_uint32(bin: *mut *mut c_uchar, bin_len: *mut c_uint, val: c_ulong) -> c_int {
    encode_with(bin, bin_len, &(val as u32).to_be_bytes())
}

#[no_mangle]
pub extern "C" fn NAL_encode_uint16(bin: *mut *mut c_uchar, bin_len: *mut c_uint, val: c_uint) -> c_int {
    encode_with(bin, bin_len, &(val as u16).to_be_bytes())
}

#[no_mangle]
pub extern "C" fn NAL_encode_char(bin: *mut *mut c_uchar, bin_len: *mut c_uint, val: c_uchar) -> c_int {
    encode_with(bin, bin_len, &[val])
}

#[no_mangle]
pub extern "C" fn NAL_encode_bin(
    bin: *mut *mut c_uchar,
    bin_len: *mut c_uint,
    val: *const c_uchar,
    val_len: c_uint,
) -> c_int {
    if val_len == 0 {
        return 1;
    }
    if val.is_null() {
        return 0;
    }
    // SAFETY: `val` is non-NULL and the caller provides val_len bytes.
    let src = unsafe { std::slice::from_raw_parts(val, val_len as usize) };
    encode_with(bin, bin_len, src)
}
