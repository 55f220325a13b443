//! libescrow: hand open file descriptors (each with an optional payload of
//! up to 32 KiB) to a separate daemon and get duplicates back later, e.g.
//! across a restart of the service that owns them.
//!
//! * [`message`] — the wire messages (codec);
//! * [`channel`] — a connected stream: one `sendmsg` per message, framing
//!   of the received bytes and descriptor attribution;
//! * [`store`] — the daemon's table of entries;
//! * [`daemon`] — the daemon: start-up, one client session at a time;
//! * [`spawn`] — automatic start of a detached daemon;
//! * [`client`] — the client side used by the C API.

pub mod channel;
pub mod client;
pub mod daemon;
pub mod message;
pub mod spawn;
pub mod store;
pub mod sys;
#[cfg(test)]
pub(crate) mod vectors;

use std::fmt;
use std::io;
use std::path::Path;

/// `escrow_init` flag: start a daemon if none listens (implied, see
/// [`client::Client::connect`]).
pub const ESCROW_CREAT: u32 = 1;
/// Trace connects, daemon starts and every message on stderr.
pub const ESCROW_VERBOSE: u32 = 2;
/// A starting daemon removes a stale socket file at its path first.
pub const ESCROW_FORCE: u32 = 4;

/// Socket paths must be shorter than this many bytes.
pub const MAX_PATH: usize = 107;
/// Listen backlog of the daemon.
pub const BACKLOG: i32 = 16;

/// A positive `errno` value; the C API returns it negated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub const EINVAL: Errno = Errno(libc::EINVAL);

    pub fn from_io(e: &io::Error) -> Errno {
        Errno(e.raw_os_error().filter(|&n| n > 0).unwrap_or(libc::EIO))
    }

    /// The C return value: `-errno`.
    pub fn negated(self) -> i32 {
        -self.0
    }
}

impl From<io::Error> for Errno {
    fn from(e: io::Error) -> Errno {
        Errno::from_io(&e)
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Errno({}: {})", self.0, io::Error::from_raw_os_error(self.0))
    }
}

/// Checks a socket path: not empty, no NUL, shorter than [`MAX_PATH`].
pub fn check_path(path: &Path) -> Result<(), Errno> {
    use std::os::unix::ffi::OsStrExt;
    let b = path.as_os_str().as_bytes();
    if b.is_empty() || b.len() >= MAX_PATH || b.contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}
