//! libescrow: `struct escrow` and the six functions of `escrow.h`.
//!
//! Each function checks its pointers, converts the arguments and calls
//! [`crate::escrow::client::Client`]; every body runs inside [`guard`], so
//! a panic becomes `-EINVAL`. Results are 0 or a negated errno.

use super::guard;
use crate::escrow::client::Client;
use crate::escrow::message::MAX_PAYLOAD;
use crate::escrow::Errno;
use libc::{c_char, c_int, c_void};
use std::ffi::{CStr, OsStr, OsString};
use std::os::fd::{BorrowedFd, IntoRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// cbindgen:ignore
pub mod daemon;

/// A connection to the escrow daemon (opaque to C).
#[allow(non_camel_case_types)]
pub struct escrow {
    client: Client,
}

const EINVAL: c_int = -libc::EINVAL;

fn result(r: Result<(), Errno>) -> c_int {
    r.map_or_else(Errno::negated, |()| 0)
}

/// The socket path: `path`, or `$ESCROW_PATH` when `path` is NULL.
pub(crate) fn socket_path(path: *const c_char) -> Option<PathBuf> {
    if path.is_null() {
        return std::env::var_os("ESCROW_PATH").map(PathBuf::from);
    }
    // SAFETY: a non-NULL path is a NUL-terminated string from the caller.
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    Some(PathBuf::from(OsString::from(OsStr::from_bytes(bytes))))
}

fn handle<'a>(e: *mut escrow) -> Option<&'a mut escrow> {
    // SAFETY: non-NULL handles come from escrow_init and are used by one
    // thread at a time (the library is documented as not thread-safe).
    unsafe { e.as_mut() }
}

/// Connects to the escrow daemon listening on the unix socket `path` (or,
/// when `path` is NULL, on `$ESCROW_PATH`) and stores a new handle in
/// `*escrow`.
///
/// When nothing listens on `path` (no socket file, or a stale one), a
/// daemon with `nr_tags` tags (1..32768) is started and this call returns
/// as soon as it listens, usually within milliseconds. NOTE: a daemon is
/// started whether or not `ESCROW_CREAT` is given, as the traditional
/// library does (its own echo-server example relies on it); `ESCROW_CREAT`
/// is accepted and implied. `ESCROW_FORCE` lets the new daemon replace a
/// stale socket file (a socket that a live daemon still answers on is never
/// replaced); `ESCROW_VERBOSE` traces on stderr, in the daemon too.
/// Concurrent starts for one path end up with exactly one daemon. The
/// daemon runs detached, named `escrowd`, keeps no other descriptor of the
/// caller, creates its socket with mode 0600 and runs until killed.
///
/// Returns 0, `-EINVAL` (NULL `escrow`, no path, path of 107 or more
/// bytes, `nr_tags` out of range when a daemon must be started), the
/// daemon's start-up error (e.g. `-ENOENT` for a missing directory,
/// `-EADDRINUSE` for a stale socket without `ESCROW_FORCE`), or another
/// connect error.
#[no_mangle]
pub extern "C" fn escrow_init(path: *const c_char, flags: u32, nr_tags: i32, escrow: *mut *mut escrow) -> c_int {
    guard(EINVAL, || {
        if escrow.is_null() {
            return EINVAL;
        }
        let Some(path) = socket_path(path) else {
            return EINVAL;
        };
        match Client::connect(&path, flags, nr_tags) {
            Ok(client) => {
                let handle = Box::into_raw(Box::new(escrow { client }));
                // SAFETY: escrow is non-NULL and points at writable storage
                // for one pointer (caller's out parameter).
                unsafe { *escrow = handle };
                0
            }
            Err(e) => e.negated(),
        }
    })
}

/// Closes the connection to the daemon and frees the handle. The daemon
/// keeps every entry. NULL is a no-op.
#[no_mangle]
pub extern "C" fn escrow_fini(escrow: *mut escrow) {
    super::guard_void(|| {
        if !escrow.is_null() {
            // SAFETY: handles come from Box::into_raw in escrow_init and are
            // freed exactly once, here.
            drop(unsafe { Box::from_raw(escrow) });
        }
    })
}

/// Information about one tag: on success `*nr` is the NUMBER OF ENTRIES
/// present in the tag (not one more than the largest index in use, as the
/// traditional header said; the daemon has always sent the count) and
/// `*nob` the sum of their payload sizes. To visit every entry, probe
/// indices from 0 upwards until `*nr` entries have been found. On failure
/// (`-EINVAL` for a bad tag or NULL argument, transport errors) both
/// outputs are unchanged.
#[no_mangle]
pub extern "C" fn escrow_tag(escrow: *mut escrow, tag: i16, nr: *mut i32, nob: *mut i32) -> c_int {
    guard(EINVAL, || {
        let Some(e) = handle(escrow) else {
            return EINVAL;
        };
        if nr.is_null() || nob.is_null() {
            return EINVAL;
        }
        match e.client.tag(tag) {
            Ok((n, total)) => {
                // SAFETY: both out pointers are non-NULL caller storage.
                unsafe {
                    *nr = n;
                    *nob = total;
                }
                0
            }
            Err(err) => err.negated(),
        }
    })
}

/// Fetches the entry at `tag`/`idx` without removing it. In: `*nob` is the
/// capacity of `data`. On success `*fd` is a new duplicate of the escrowed
/// descriptor (the caller closes it) or -1 for a payload-only entry, `data`
/// receives min(capacity, stored length) bytes and `*nob` the STORED
/// length, which may exceed the capacity (truncated copy). On failure
/// `*fd` is -1 and `*nob` and `data` are unchanged: `-ENOENT` when there is
/// no entry, `-EINVAL` for a bad tag/index or arguments (NULL `fd`/`nob`,
/// `*nob < 0`, NULL `data` with `*nob > 0`), `-EMFILE` when this process
/// cannot receive another descriptor, or a transport error.
#[no_mangle]
pub extern "C" fn escrow_get(
    escrow: *mut escrow,
    tag: i16,
    idx: i32,
    fd: *mut c_int,
    nob: *mut i32,
    data: *mut c_void,
) -> c_int {
    guard(EINVAL, || {
        if fd.is_null() {
            return EINVAL;
        }
        // SAFETY: fd is non-NULL caller storage for one int.
        unsafe { *fd = -1 };
        let Some(e) = handle(escrow) else {
            return EINVAL;
        };
        if nob.is_null() {
            return EINVAL;
        }
        // SAFETY: nob is non-NULL caller storage.
        let capacity = unsafe { *nob };
        if capacity < 0 || (data.is_null() && capacity > 0) {
            return EINVAL;
        }
        let buf: &mut [u8] = if capacity == 0 {
            &mut []
        } else {
            // SAFETY: the caller provides `capacity` writable bytes at data.
            unsafe { std::slice::from_raw_parts_mut(data as *mut u8, capacity as usize) }
        };
        match e.client.get(tag, idx, buf) {
            Ok(got) => {
                // SAFETY: fd and nob are non-NULL caller storage.
                unsafe {
                    *fd = got.fd.map_or(-1, IntoRawFd::into_raw_fd);
                    *nob = got.nob;
                }
                0
            }
            Err(err) => err.negated(),
        }
    })
}

/// Stores (a duplicate of) descriptor `fd` and `nob` payload bytes from
/// `data` at `tag`/`idx`, replacing any entry there (the daemon then closes
/// the old descriptor). The caller keeps `fd`. `fd == -1` stores a
/// payload-only entry. Returns 0, `-EINVAL` (bad tag/index, `nob` outside
/// 0..32768, NULL `data` with `nob > 0`, `fd < -1`), `-EMFILE` when the
/// daemon cannot receive another descriptor (earlier entries are kept),
/// `-ENOMEM`, `-EBADF` for a descriptor that is not open, or a transport
/// error (`-EPIPE` if the daemon has gone; no SIGPIPE is raised).
#[no_mangle]
pub extern "C" fn escrow_add(escrow: *mut escrow, tag: i16, idx: i32, fd: c_int, nob: i32, data: *mut c_void) -> c_int {
    guard(EINVAL, || {
        let Some(e) = handle(escrow) else {
            return EINVAL;
        };
        if fd < -1 || nob < 0 || nob as usize > MAX_PAYLOAD || (data.is_null() && nob > 0) {
            return EINVAL;
        }
        let payload: &[u8] = if nob == 0 {
            &[]
        } else {
            // SAFETY: the caller provides `nob` readable bytes at data.
            unsafe { std::slice::from_raw_parts(data as *const u8, nob as usize) }
        };
        // SAFETY: fd >= 0 is a descriptor number the caller passes for the
        // duration of this call; if it is not open, sendmsg reports EBADF
        // and nothing else happens with it.
        let fd = (fd >= 0).then(|| unsafe { BorrowedFd::borrow_raw(fd) });
        result(e.client.add(tag, idx, fd, payload))
    })
}

/// Deletes the entry at `tag`/`idx`; the daemon closes its descriptor.
/// Returns 0, or `-EINVAL` for a bad tag/index AND for a missing entry
/// (the daemon's traditional answer), or a transport error.
#[no_mangle]
pub extern "C" fn escrow_del(escrow: *mut escrow, tag: i16, idx: i32) -> c_int {
    guard(EINVAL, || {
        let Some(e) = handle(escrow) else {
            return EINVAL;
        };
        result(e.client.del(tag, idx))
    })
}
