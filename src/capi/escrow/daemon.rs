//! The daemon entry points libescrow exports beside `escrow.h` (which does
//! not declare them): `escrowd` for programs that embed the daemon, and
//! the lower-level `escrowd_fork`, `escrowd_init`, `escrowd_loop` and
//! `escrowd_fini` (`struct escrowd` is opaque).

use super::socket_path;
use crate::capi::{guard, guard_void};
use crate::escrow::daemon::Daemon;
use crate::escrow::spawn::spawn_daemon;
use libc::{c_char, c_int};

/// The state behind `struct escrowd *`.
pub struct EscrowDaemon {
    daemon: Daemon,
}

const EINVAL: c_int = -libc::EINVAL;

/// Creates the daemon on `path` (NULL: `$ESCROW_PATH`) and serves clients
/// for ever. Returns only when it cannot start: a negated errno
/// (`-EADDRINUSE` also when another daemon already answers on `path`).
#[no_mangle]
pub extern "C" fn escrowd(path: *const c_char, flags: u32, nr_tags: i32) -> c_int {
    guard(EINVAL, || {
        let Some(path) = socket_path(path) else {
            return EINVAL;
        };
        match Daemon::start(&path, flags, nr_tags) {
            Ok(mut d) => d.run(),
            Err(e) => e.errno().negated(),
        }
    })
}

/// Starts a detached daemon on `path` as `escrow_init` does when nothing
/// listens, and waits until it listens. 0 (also when another daemon
/// already answers on `path`) or a negated errno.
#[no_mangle]
pub extern "C" fn escrowd_fork(path: *const c_char, flags: u32, nr_tags: i32) -> c_int {
    guard(EINVAL, || {
        let Some(path) = socket_path(path) else {
            return EINVAL;
        };
        match spawn_daemon(&path, flags, nr_tags) {
            Ok(_) => 0,
            Err(e) => e.negated(),
        }
    })
}

/// Creates the listening daemon state in `*out`. 0 or a negated errno.
#[no_mangle]
pub extern "C" fn escrowd_init(out: *mut *mut EscrowDaemon, path: *const c_char, flags: u32, nr_tags: i32) -> c_int {
    guard(EINVAL, || {
        if out.is_null() {
            return EINVAL;
        }
        let Some(path) = socket_path(path) else {
            return EINVAL;
        };
        match Daemon::start(&path, flags, nr_tags) {
            Ok(daemon) => {
                let d = Box::into_raw(Box::new(EscrowDaemon { daemon }));
                // SAFETY: out is non-NULL caller storage for one pointer.
                unsafe { *out = d };
                0
            }
            Err(e) => e.errno().negated(),
        }
    })
}

/// Accepts one client and serves it until it disconnects; returns the
/// session's final status (`-ESHUTDOWN` after a normal close).
#[no_mangle]
pub extern "C" fn escrowd_loop(d: *mut EscrowDaemon) -> c_int {
    guard(EINVAL, || {
        // SAFETY: non-NULL pointers come from escrowd_init.
        match unsafe { d.as_mut() } {
            Some(d) => d.daemon.serve_one(),
            None => EINVAL,
        }
    })
}

/// Closes the listening socket and every escrowed descriptor and frees the
/// state. The socket file stays. NULL is a no-op.
#[no_mangle]
pub extern "C" fn escrowd_fini(d: *mut EscrowDaemon) {
    guard_void(|| {
        if !d.is_null() {
            // SAFETY: pointers come from Box::into_raw in escrowd_init and
            // are freed exactly once, here.
            drop(unsafe { Box::from_raw(d) });
        }
    })
}
