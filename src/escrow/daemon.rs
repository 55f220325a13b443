//! The escrow daemon: listens on a unix socket and serves one client
//! session at a time (later clients wait in the listen backlog, which is
//! what lets a restarted service block until its old instance has gone).
//!
//! Unlike the traditional daemon it never aborts: payload-only entries are
//! stored, bad requests, malformed or truncated messages and descriptors it
//! cannot receive get error replies, descriptors attached to rejected
//! requests are closed, and a vanished client only ends its session.

use super::channel::{Channel, Extras, Incoming};
use super::message::{text, FrameError, Message, MAX_MESSAGE, OP_ADD};
use super::store::{Entry, Store};
use super::sys;
use super::{check_path, Errno, BACKLOG, ESCROW_FORCE, ESCROW_VERBOSE};
use crate::nal::accept_pause::AcceptPause;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Longest wait for the start-up lock of a socket directory (held only for
/// the few milliseconds of a start-up, unless something else locks the
/// directory).
const LOCK_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a daemon did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// Another daemon already answers on the path (nothing was touched).
    AlreadyRunning,
    Failed(Errno),
}

impl StartError {
    /// The errno a caller that wanted its own daemon reports.
    pub fn errno(self) -> Errno {
        match self {
            StartError::AlreadyRunning => Errno(libc::EADDRINUSE),
            StartError::Failed(e) => e,
        }
    }
}

pub struct Daemon {
    listener: UnixListener,
    store: Store,
    verbose: bool,
    path: PathBuf,
    rx: Vec<u8>,
    tx: Vec<u8>,
    /// Accepting pauses while out of descriptors.
    pause: AcceptPause,
}

/// The directory holding `path` ("." for a bare name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Outcome of handling one request: the reply and its descriptor.
struct Reply<'a> {
    msg: Message<'a>,
    fd: Option<BorrowedFd<'a>>,
}

fn rep(rc: i32, text: &'static [u8]) -> Reply<'static> {
    Reply { msg: Message::Rep { rc: rc as i16, text }, fd: None }
}

impl Daemon {
    /// Creates the listening socket at `path` with `nr_tags` tags.
    ///
    /// Start-ups on one directory are serialised with an `flock` on that
    /// directory; under the lock the daemon first checks whether another
    /// daemon answers on `path` (a connection that is closed at once, which
    /// that daemon serves as an empty session; then this one backs off with
    /// [`StartError::AlreadyRunning`], never removing a live socket), then
    /// with `ESCROW_FORCE` removes a stale socket file, then binds (mode
    /// 0600) and listens. So two processes starting a daemon for the same
    /// path at once end up with exactly one.
    pub fn start(path: &Path, flags: u32, nr_tags: i32) -> Result<Daemon, StartError> {
        let store = Store::new(nr_tags).ok_or(StartError::Failed(Errno::EINVAL))?;
        check_path(path).map_err(StartError::Failed)?;
        let lock = sys::lock_dir(parent_dir(path), LOCK_TIMEOUT).map_err(|e| StartError::Failed(e.into()))?;
        match sys::probe(path) {
            sys::Probe::Alive => return Err(StartError::AlreadyRunning),
            sys::Probe::Stale if flags & ESCROW_FORCE != 0 => {
                sys::unlink_socket(path).map_err(|e| StartError::Failed(e.into()))?
            }
            _ => {}
        }
        let sock = sys::listen_unix(path, BACKLOG).map_err(|e| StartError::Failed(e.into()))?;
        drop(lock);
        let daemon = Daemon {
            listener: UnixListener::from(sock),
            store,
            verbose: flags & ESCROW_VERBOSE != 0,
            path: path.to_path_buf(),
            rx: Vec::with_capacity(MAX_MESSAGE),
            tx: Vec::with_capacity(MAX_MESSAGE),
            pause: AcceptPause::new("escrowd"),
        };
        daemon.log(&format!("Listening on \"{}\"", path.display()));
        Ok(daemon)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn listener(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    fn log(&self, line: &str) {
        if self.verbose {
            sys::write_stderr(&format!("{line}\n"));
        }
    }

    /// Serves clients for ever.
    pub fn run(&mut self) -> ! {
        loop {
            self.serve_one();
        }
    }

    /// Accepts one client and serves it until it goes away. Returns the
    /// session's final status (`-ESHUTDOWN` for a normal close).
    pub fn serve_one(&mut self) -> i32 {
        let conn = match self.listener.accept() {
            Ok((stream, _)) => {
                if let Some(line) = self.pause.accepted() {
                    sys::write_stderr(&format!("{line}\n"));
                }
                OwnedFd::from(stream)
            }
            Err(e) => {
                // Out of descriptors: wait out the pause (one client at a
                // time, nothing else to serve meanwhile), never spin, and
                // say so once per episode.
                let now = Instant::now();
                match self.pause.failed(&e, now) {
                    (true, line) => {
                        if let Some(line) = line {
                            sys::write_stderr(&format!("{line}\n"));
                        }
                        std::thread::sleep(self.pause.resume_in(now).unwrap_or(Duration::ZERO));
                    }
                    (false, _) => {
                        self.log(&format!("accept(): {e}"));
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                return Errno::from_io(&e).negated();
            }
        };
        self.serve_connection(conn)
    }

    /// Serves one already connected client until it goes away (what
    /// [`Daemon::serve_one`] does after accepting). Returns the session's
    /// final status.
    pub fn serve_connection(&mut self, conn: OwnedFd) -> i32 {
        let rc = self.session(Channel::new(conn));
        self.log(&format!("Session completed with {rc}."));
        rc
    }

    /// Drops every entry (closing their descriptors): the state of a
    /// freshly started daemon with the same number of tags.
    pub fn clear(&mut self) {
        self.store = Store::new(self.store.nr_tags()).expect("the tag count was valid at start");
    }

    fn session(&mut self, mut chan: Channel) -> i32 {
        let mut rx = std::mem::take(&mut self.rx);
        let rc = loop {
            let incoming = match chan.recv(&mut rx) {
                Ok(i) => i,
                Err(e) => break Errno::from_io(&e).negated(),
            };
            let (reply_rc, end) = match incoming {
                Incoming::Eof => break -libc::ESHUTDOWN,
                Incoming::Frame(extras) => (self.request(&chan, &rx, extras), None),
                Incoming::Invalid { error, extras } => {
                    self.trace_recv_invalid(&rx, &extras);
                    drop(extras);
                    let r = match error {
                        FrameError::BadLength(OP_ADD) => rep(-libc::EINVAL, text::WRONG_ADD),
                        _ => rep(-libc::EPROTO, text::UNEXPECTED),
                    };
                    (self.send(&chan, r), None)
                }
                Incoming::Truncated(extras) => {
                    self.trace_recv_invalid(&rx, &extras);
                    drop(extras);
                    let _ = self.send(&chan, rep(-libc::EPROTO, text::TRUNCATED));
                    (Ok(()), Some(-libc::EPROTO))
                }
            };
            if let Err(e) = reply_rc {
                break Errno::from_io(&e).negated();
            }
            if let Some(rc) = end {
                break rc;
            }
        };
        self.rx = rx;
        rc
    }

    fn trace_recv_invalid(&self, bytes: &[u8], extras: &Extras) {
        if self.verbose {
            let op = super::message::opcode(bytes).map_or(-1, i32::from);
            let fd = extras.fds.first().map_or(-1, |f| f.as_raw_fd());
            self.log(&format!("recv: {{UNKNOWN {op}}} ({fd}) {:3}", 0));
        }
    }

    fn send(&mut self, chan: &Channel, reply: Reply<'_>) -> io::Result<()> {
        reply.msg.encode(&mut self.tx);
        let result = chan.send(&self.tx, reply.fd);
        if self.verbose {
            let fd = reply.fd.map_or(-1, |f| f.as_raw_fd());
            let rc = result.as_ref().map_or_else(|e| Errno::from_io(e).negated(), |_| 0);
            self.log(&format!("send: {} ({fd}) {rc:3}", reply.msg));
        }
        result
    }

    /// Handles one complete request and sends its reply.
    fn request(&mut self, chan: &Channel, bytes: &[u8], mut extras: Extras) -> io::Result<()> {
        let msg = match Message::decode(bytes) {
            Ok(m) => m,
            Err(_) => return self.send(chan, rep(-libc::EPROTO, text::UNEXPECTED)),
        };
        if self.verbose {
            let fd = extras.fds.first().map_or(-1, |f| f.as_raw_fd());
            self.log(&format!("recv: {msg} ({fd}) {:3}", 0));
        }
        let einval = -libc::EINVAL;
        let has_fd = !extras.fds.is_empty();
        let reply = match msg {
            Message::Add { tag, idx, ufd, payload } => {
                if !self.store.valid(tag, idx) {
                    rep(einval, text::WRONG_ADD)
                } else if extras.dropped && !has_fd {
                    rep(-libc::EMFILE, text::CANNOT_RECEIVE)
                } else if extras.fds.len() > 1 || (extras.dropped && has_fd) {
                    rep(einval, text::TOO_MANY_FDS)
                } else if (has_fd && ufd < 0) || (!has_fd && ufd != -1) {
                    rep(einval, text::WRONG_ADD)
                } else {
                    let mut data = Vec::new();
                    if data.try_reserve_exact(payload.len()).is_err() {
                        rep(-libc::ENOMEM, text::NO_SLOT)
                    } else {
                        data.extend_from_slice(payload);
                        let entry = Entry { ufd, fd: extras.fds.pop(), payload: data };
                        match self.store.insert(tag, idx, entry) {
                            // The replaced entry (and its descriptor) goes now.
                            Ok(replaced) => {
                                drop(replaced);
                                rep(0, text::OK)
                            }
                            Err(_) => rep(-libc::ENOMEM, text::NO_SLOT),
                        }
                    }
                }
            }
            Message::Del { tag, idx } => {
                if !self.store.valid(tag, idx) {
                    rep(einval, text::WRONG_DEL)
                } else if has_fd {
                    rep(einval, text::FD_IN_DEL)
                } else if self.store.remove(tag, idx).is_none() {
                    rep(einval, text::MISSING_DEL)
                } else {
                    rep(0, text::OK)
                }
            }
            Message::Tag { tag } => {
                if !self.store.valid_tag(tag) {
                    rep(einval, text::WRONG_TAG)
                } else if has_fd {
                    rep(einval, text::FD_IN_TAG)
                } else {
                    let (nr, total) = self.store.info(tag).unwrap_or((0, 0));
                    let nr = nr.min(i32::MAX as usize) as i32;
                    let total = total.min(i32::MAX as u64) as i32;
                    return self.send(chan, Reply { msg: Message::Inf { pad: 0, nr, total }, fd: None });
                }
            }
            Message::Get { tag, idx } => {
                if !self.store.valid(tag, idx) {
                    // Traditional text for a bad GET (sic).
                    rep(einval, text::WRONG_DEL)
                } else if has_fd {
                    rep(einval, text::FD_IN_GET)
                } else if self.store.get(tag, idx).is_none() {
                    rep(-libc::ENOENT, text::MISSING_GET)
                } else {
                    // Encode the stored entry straight from the table.
                    let entry = self.store.get(tag, idx).expect("checked above");
                    let msg = Message::Add { tag, idx, ufd: entry.ufd, payload: &entry.payload };
                    msg.encode(&mut self.tx);
                    let fd = entry.fd.as_ref().map(|f| f.as_fd());
                    let result = chan.send(&self.tx, fd);
                    if self.verbose {
                        let raw = fd.map_or(-1, |f| f.as_raw_fd());
                        let rc = result.as_ref().map_or_else(|e| Errno::from_io(e).negated(), |_| 0);
                        self.log(&format!("send: {msg} ({raw}) {rc:3}"));
                    }
                    return result;
                }
            }
            Message::Hel { .. } | Message::Rep { .. } | Message::Inf { .. } => rep(-libc::EPROTO, text::UNEXPECTED),
        };
        // Descriptors of rejected requests are closed here.
        drop(extras);
        self.send(chan, reply)
    }
}
