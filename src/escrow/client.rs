//! The client side: a connection to the daemon and the four requests.
//! Strict lock-step: one request, then exactly one reply.

use super::channel::{Channel, Extras, Incoming};
use super::message::{reply_text, Message, MAX_PAYLOAD};
use super::spawn::spawn_daemon;
use super::store::MAX_TAGS;
use super::{check_path, sys, Errno, ESCROW_VERBOSE};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Connect attempts of [`Client::connect`] (each may start a daemon).
pub const CONNECT_ATTEMPTS: usize = 3;

pub struct Client {
    chan: Channel,
    verbose: bool,
    tx: Vec<u8>,
    rx: Vec<u8>,
}

/// Result of [`Client::get`].
#[derive(Debug)]
pub struct Fetched {
    /// The received duplicate, `None` for a payload-only entry.
    pub fd: Option<OwnedFd>,
    /// The stored payload length (may exceed what was copied).
    pub nob: i32,
}

impl Client {
    /// Wraps an already connected socket.
    pub fn from_socket(sock: OwnedFd, verbose: bool) -> Client {
        Client { chan: Channel::new(sock), verbose, tx: Vec::new(), rx: Vec::new() }
    }

    /// Connects to the daemon on `path`, starting one when nothing listens
    /// there (no socket file: `ENOENT`; stale file: `ECONNREFUSED`;
    /// `ESHUTDOWN`). A daemon is started whether or not `ESCROW_CREAT` is
    /// in `flags`, as the traditional library does; `nr_tags` (1..=32768)
    /// matters only then. Returns as soon as the new daemon listens; after
    /// [`CONNECT_ATTEMPTS`] failed rounds, or when the daemon cannot start,
    /// returns the error.
    pub fn connect(path: &Path, flags: u32, nr_tags: i32) -> Result<Client, Errno> {
        check_path(path)?;
        let verbose = flags & ESCROW_VERBOSE != 0;
        for _ in 0..CONNECT_ATTEMPTS {
            match UnixStream::connect(path) {
                Ok(stream) => {
                    if verbose {
                        sys::write_stderr(&format!("Connected to \"{}\"\n", path.display()));
                    }
                    return Ok(Client::from_socket(OwnedFd::from(stream), verbose));
                }
                Err(e) => {
                    let errno = Errno::from_io(&e);
                    if !matches!(errno.0, libc::ENOENT | libc::ECONNREFUSED | libc::ESHUTDOWN) {
                        return Err(errno);
                    }
                    if !(1..=MAX_TAGS).contains(&nr_tags) {
                        return Err(Errno::EINVAL);
                    }
                    if verbose {
                        sys::write_stderr(&format!("Starting escrowd ({}).\n", errno.0));
                    }
                    spawn_daemon(path, flags, nr_tags)?;
                }
            }
        }
        Err(Errno(libc::ECONNREFUSED))
    }

    pub fn socket(&self) -> BorrowedFd<'_> {
        self.chan.socket()
    }

    fn trace(&self, dir: &str, msg: &Message<'_>, fd: i32, rc: i32) {
        if self.verbose {
            sys::write_stderr(&format!("{dir}: {msg} ({fd}) {rc:3}\n"));
        }
    }

    /// Sends `msg` and receives the reply into `self.rx`.
    fn exchange(&mut self, msg: Message<'_>, fd: Option<BorrowedFd<'_>>) -> Result<Extras, Errno> {
        msg.encode(&mut self.tx);
        let sent = self.chan.send(&self.tx, fd);
        let raw = fd.map_or(-1, |f| f.as_raw_fd());
        self.trace("send", &msg, raw, sent.as_ref().map_or_else(|e| Errno::from_io(e).negated(), |_| 0));
        sent?;
        match self.chan.recv(&mut self.rx)? {
            Incoming::Frame(extras) => {
                if self.verbose {
                    if let Ok(reply) = Message::decode(&self.rx) {
                        self.trace("recv", &reply, extras.fds.first().map_or(-1, |f| f.as_raw_fd()), 0);
                    }
                }
                Ok(extras)
            }
            Incoming::Eof | Incoming::Truncated(_) => Err(Errno(libc::ESHUTDOWN)),
            Incoming::Invalid { .. } => Err(Errno(libc::EPROTO)),
        }
    }

    /// Interprets a REP reply (anything else is a protocol error).
    fn status(&self, reply: Message<'_>) -> Result<(), Errno> {
        match reply {
            Message::Rep { rc: 0, .. } => Ok(()),
            Message::Rep { rc, text } => {
                if self.verbose {
                    sys::write_stderr(&format!("Received from the escrowd: {rc} \"{}\"\n", reply_text(text)));
                }
                Err(if rc < 0 { Errno(-i32::from(rc)) } else { Errno(libc::EPROTO) })
            }
            other => {
                if self.verbose {
                    sys::write_stderr(&format!("Unexpected reply from escrowd: {}\n", other.opcode()));
                }
                Err(Errno(libc::EPROTO))
            }
        }
    }

    fn decode_reply(&self) -> Result<Message<'_>, Errno> {
        Message::decode(&self.rx).map_err(|_| Errno(libc::EPROTO))
    }

    /// Stores `payload` and (a duplicate of) `fd` at `tag`/`idx`.
    pub fn add(&mut self, tag: i16, idx: i32, fd: Option<BorrowedFd<'_>>, payload: &[u8]) -> Result<(), Errno> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Errno::EINVAL);
        }
        let ufd = fd.map_or(-1, |f| f.as_raw_fd());
        let _ = self.exchange(Message::Add { tag, idx, ufd, payload }, fd)?;
        let reply = self.decode_reply()?;
        self.status(reply)
    }

    /// Fetches the entry at `tag`/`idx`, copying at most `data.len()`
    /// payload bytes.
    pub fn get(&mut self, tag: i16, idx: i32, data: &mut [u8]) -> Result<Fetched, Errno> {
        let mut extras = self.exchange(Message::Get { tag, idx }, None)?;
        match self.decode_reply()? {
            Message::Add { payload, .. } => {
                if extras.fds.len() > 1 {
                    return Err(Errno(libc::EPROTO));
                }
                if extras.fds.is_empty() && extras.dropped {
                    // The entry has a descriptor we could not receive.
                    return Err(Errno(libc::EMFILE));
                }
                let n = payload.len().min(data.len());
                data[..n].copy_from_slice(&payload[..n]);
                Ok(Fetched { fd: extras.fds.pop(), nob: payload.len() as i32 })
            }
            other => {
                self.status(other)?;
                // A success REP is not an answer to GET.
                Err(Errno(libc::EPROTO))
            }
        }
    }

    /// Deletes the entry at `tag`/`idx`.
    pub fn del(&mut self, tag: i16, idx: i32) -> Result<(), Errno> {
        let _ = self.exchange(Message::Del { tag, idx }, None)?;
        let reply = self.decode_reply()?;
        self.status(reply)
    }

    /// Number of entries in `tag` and the sum of their payload sizes.
    pub fn tag(&mut self, tag: i16) -> Result<(i32, i32), Errno> {
        let _ = self.exchange(Message::Tag { tag }, None)?;
        match self.decode_reply()? {
            Message::Inf { nr, total, .. } => Ok((nr, total)),
            other => {
                self.status(other)?;
                Err(Errno(libc::EPROTO))
            }
        }
    }
}

impl AsFd for Client {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.chan.socket()
    }
}
