//! Automatic daemon start.
//!
//! The caller forks an intermediate child, which starts a new session,
//! forks the daemon and exits at once; the caller reaps it. The daemon
//! (the grandchild) resets signal handling, names itself `escrowd`, points
//! stdin/stdout (and stderr unless verbose) at /dev/null, closes every other
//! descriptor it inherited, starts listening ([`Daemon::start`], which
//! serialises concurrent start-ups and backs off when another daemon already
//! answers) and reports the outcome through a close-on-exec pipe: the caller
//! returns as soon as the socket listens, without any fixed sleep.
//!
//! The child runs only this module's code, which takes no lock another
//! thread of the caller could have held at fork time (logging writes
//! straight to descriptor 2; glibc's allocator is reset across fork).

use super::daemon::{Daemon, StartError};
use super::sys::{self, Fork};
use super::{Errno, ESCROW_VERBOSE};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

/// How long the caller waits for the daemon's start-up report.
pub const START_TIMEOUT: Duration = Duration::from_secs(5);

const STATUS_LISTENING: i32 = 0;
const STATUS_ALREADY_RUNNING: i32 = 1;
/// How long a start-up waits for the daemon to close the status pipe.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Outcome of a successful [`spawn_daemon`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// The new daemon listens on the path.
    Listening,
    /// Another daemon already answered on the path; the new one exited.
    AlreadyRunning,
}

/// Starts a detached daemon on `path` and waits until it listens.
pub fn spawn_daemon(path: &Path, flags: u32, nr_tags: i32) -> Result<Started, Errno> {
    spawn(path, flags, nr_tags, false)
}

/// Like [`spawn_daemon`] but the daemon keeps the caller's stdin, stdout
/// and stderr (`escrowd -d`).
pub fn spawn_keeping_stdio(path: &Path, flags: u32, nr_tags: i32) -> Result<Started, Errno> {
    spawn(path, flags, nr_tags, true)
}

fn spawn(path: &Path, flags: u32, nr_tags: i32, keep_stdio: bool) -> Result<Started, Errno> {
    let (reader, writer) = std::io::pipe()?;
    let reader = OwnedFd::from(reader);
    let writer = OwnedFd::from(writer);
    match sys::fork()? {
        Fork::Child => {
            // Whatever happens, the child never returns into the caller's
            // code: a panic ends it like any other failure.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                drop(reader);
                sys::setsid();
                match sys::fork() {
                    Ok(Fork::Child) => daemon_child(writer, path, flags, nr_tags, keep_stdio),
                    Ok(Fork::Parent(_)) => sys::exit_now(0),
                    Err(e) => {
                        report(&writer, Errno::from_io(&e).negated());
                        sys::exit_now(1)
                    }
                }
            }));
            sys::exit_now(1)
        }
        Fork::Parent(pid) => {
            drop(writer);
            sys::reap(pid);
            read_status(reader)
        }
    }
}

fn report(writer: &OwnedFd, status: i32) {
    sys::write_fd(writer.as_fd(), &status.to_ne_bytes());
}

fn read_status(reader: OwnedFd) -> Result<Started, Errno> {
    if !sys::wait_readable(reader.as_fd(), START_TIMEOUT)? {
        return Err(Errno(libc::ETIMEDOUT));
    }
    let mut f = std::fs::File::from(reader);
    let mut buf = [0u8; 4];
    let status = match f.read_exact(&mut buf) {
        Ok(()) => match i32::from_ne_bytes(buf) {
            STATUS_LISTENING => Ok(Started::Listening),
            STATUS_ALREADY_RUNNING => Ok(Started::AlreadyRunning),
            n if n < 0 => Err(Errno(-n)),
            _ => Err(Errno(libc::EPROTO)),
        },
        // The daemon died before reporting.
        Err(_) => return Err(Errno(libc::ECONNREFUSED)),
    };
    wait_for_close(&mut f);
    status
}

/// Waits (briefly, bounded) until the daemon has closed its end of the
/// status pipe, which it does right after reporting (or by exiting): when
/// `escrow_init` returns, the daemon then holds no descriptor of the start-up
/// and a daemon that lost a start-up race has gone.
fn wait_for_close(f: &mut std::fs::File) {
    let deadline = std::time::Instant::now() + CLOSE_WAIT;
    let mut buf = [0u8; 16];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || !sys::wait_readable(f.as_fd(), left).unwrap_or(false) {
            return;
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The daemon process: never returns.
fn daemon_child(writer: OwnedFd, path: &Path, flags: u32, nr_tags: i32, keep_stdio: bool) -> ! {
    sys::reset_signals();
    sys::set_process_name("escrowd");
    // Keep the status pipe above the standard descriptors before those are
    // pointed at /dev/null (the pipe may have got 0..2 if they were closed).
    let status = writer.try_clone().unwrap_or_else(|_| sys::exit_now(1));
    drop(writer);
    if !keep_stdio {
        sys::redirect_stdio(flags & ESCROW_VERBOSE != 0);
    }
    sys::close_other_fds(status.as_raw_fd());
    match Daemon::start(path, flags, nr_tags) {
        Ok(mut daemon) => {
            report(&status, STATUS_LISTENING);
            drop(status);
            daemon.run()
        }
        Err(StartError::AlreadyRunning) => {
            report(&status, STATUS_ALREADY_RUNNING);
            sys::exit_now(0)
        }
        Err(StartError::Failed(e)) => {
            report(&status, e.negated());
            sys::exit_now(1)
        }
    }
}
