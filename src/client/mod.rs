//! The distcache client (what `DC_CTX` is built on).
//!
//! A [`Client`] turns session operations into request/response exchanges
//! over byte streams obtained from a [`Connector`]. Without
//! [`Flags::persistent`] every operation uses its own connection, so
//! operations from many threads run in parallel; a persistent client keeps
//! one connection and serialises exchanges on it.
//!
//! Request uids come from one process-wide counter starting at 1, taken
//! once per operation that reaches the network stage.
//!
//! Every operation is bounded in time ([`bounds`]): it completes or fails
//! within the client's deadline, and after a server failed to answer the
//! client refuses operations at once for a back-off, then probes again.

pub mod bounds;
pub mod net;

use bounds::{Admit, Bounds, Breaker, Outcome};

use crate::protocol::frame::{frame_payloads, scan_message, Scanned};
use crate::protocol::payload::encode_add;
use crate::protocol::{encode_message, Cmd, HEADER_LEN, MAX_TOTAL_DATA};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::ThreadId;
use std::time::Instant;

thread_local! {
    static THIS_THREAD: ThreadId = std::thread::current().id();
}

/// The calling thread's id, without touching its `Thread` handle.
fn this_thread() -> ThreadId {
    THIS_THREAD.with(|id| *id)
}

/// Hashes thread ids: unique counters the process hands out, so they need
/// mixing, not SipHash's protection against chosen keys.
#[derive(Default)]
struct ThreadIdHasher(u64);

impl Hasher for ThreadIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }

    fn finish(&self) -> u64 {
        // Fibonacci hashing spreads consecutive ids over the high bits.
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

type ByThread<V> = HashMap<ThreadId, V, BuildHasherDefault<ThreadIdHasher>>;

/// Longest id the client sends (the server stores at most 64 bytes).
pub const MAX_SEND_ID_LEN: usize = MAX_TOTAL_DATA;

/// A connected byte stream to a server. Both calls give up with
/// [`io::ErrorKind::TimedOut`] once `deadline` passes.
pub trait Stream: Send {
    /// Writes all of `data`.
    fn send_all(&mut self, data: &[u8], deadline: Instant) -> io::Result<()>;
    /// Reads at least one byte into `buf` (waiting); Ok(0) is end of file.
    fn recv(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize>;
}

/// Opens streams to one server.
pub trait Connector: Send + Sync {
    type Stream: Stream;
    /// Connects, failing with [`io::ErrorKind::TimedOut`] at `deadline`.
    fn connect(&self, deadline: Instant) -> io::Result<Self::Stream>;
}

/// Connection-mode flags (the `DC_CTX_FLAG_*` bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub persistent: bool,
    pub pidcheck: bool,
    pub retry: bool,
    pub late: bool,
}

impl Flags {
    pub const PERSISTENT: u32 = 0x1;
    pub const PIDCHECK: u32 = 0x2;
    pub const RETRY: u32 = 0x4;
    pub const LATE: u32 = 0x8;

    /// From the C bit mask; unknown bits are ignored and the modifiers
    /// only count together with PERSISTENT.
    pub fn from_bits(bits: u32) -> Self {
        let persistent = bits & Self::PERSISTENT != 0;
        Self {
            persistent,
            pidcheck: persistent && bits & Self::PIDCHECK != 0,
            retry: persistent && bits & Self::RETRY != 0,
            late: persistent && bits & Self::LATE != 0,
        }
    }
}

static NEXT_UID: AtomicU32 = AtomicU32::new(1);

/// Takes the next request uid of the process (wrapping 32-bit counter).
pub fn next_uid() -> u32 {
    NEXT_UID.fetch_add(1, Ordering::Relaxed)
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum TxError {
    /// Connecting, sending or receiving failed, or the peer closed.
    Network(io::Error),
    /// The peer sent bytes that are not a valid response to the request.
    Protocol,
    /// Not tried: the server failed to answer an earlier operation and the
    /// back-off since has not passed.
    BackingOff,
}

/// Why an argument check refused an operation before any traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Empty id or data, or an id longer than 32768 bytes.
    BadArgument,
    /// Timeout beyond 32 bits.
    BadTimeout,
    /// The encoded ADD would exceed 32768 bytes.
    TooLarge,
}

/// Result of [`Client::get`].
#[derive(Debug, PartialEq, Eq)]
pub enum GetResult {
    /// The full session length; the data are kept for [`Client::reget`].
    Found(usize),
    Missing,
    Failed,
}

/// Outcome of a request/response exchange.
pub type TxResult = Result<Vec<u8>, TxError>;

struct Persistent<S> {
    stream: Option<S>,
    pid: u32,
}

/// A thread's last session: the response frames as received (copied out
/// of them on demand, so a get copies the data only into the caller's
/// buffer) and the receive space for the thread's next get.
struct Kept {
    id: Vec<u8>,
    frames: Vec<u8>,
    used: usize,
    len: usize,
}

impl Kept {
    fn copy_out(&self, out: Option<&mut [u8]>) {
        let Some(mut out) = out else { return };
        for piece in frame_payloads(&self.frames[..self.used]) {
            if out.is_empty() {
                break;
            }
            let n = out.len().min(piece.len());
            out[..n].copy_from_slice(&piece[..n]);
            out = &mut out[n..];
        }
    }
}

/// A distcache client (see the module documentation).
pub struct Client<C: Connector> {
    connector: C,
    flags: Flags,
    bounds: Bounds,
    breaker: Breaker,
    persistent: Mutex<Persistent<C::Stream>>,
    /// Session of each thread's last successful get, for reget.
    kept: Mutex<ByThread<Kept>>,
}

impl<C: Connector> Client<C> {
    /// A client with the process's bounds ([`Bounds::process`]); a
    /// persistent one without `late` connects now and fails if that fails.
    pub fn new(connector: C, flags: Flags) -> io::Result<Self> {
        Self::with_bounds(connector, flags, Bounds::process())
    }

    /// A client with the given deadline and back-off.
    pub fn with_bounds(connector: C, flags: Flags, bounds: Bounds) -> io::Result<Self> {
        let stream = if flags.persistent && !flags.late {
            Some(connector.connect(Instant::now() + bounds.deadline)?)
        } else {
            None
        };
        Ok(Self {
            connector,
            flags,
            bounds,
            breaker: Breaker::new(bounds.backoff),
            persistent: Mutex::new(Persistent { stream, pid: std::process::id() }),
            kept: Mutex::new(ByThread::default()),
        })
    }

    pub fn flags(&self) -> Flags {
        self.flags
    }

    pub fn connector(&self) -> &C {
        &self.connector
    }

    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Whether operations are failing at once (backing off after the
    /// server did not answer).
    pub fn is_backing_off(&self) -> bool {
        self.breaker.is_open()
    }

    /// Whether a persistent connection is currently held.
    pub fn is_connected(&self) -> bool {
        self.persistent.lock().stream.is_some()
    }

    /// One request/response exchange; returns the response payload.
    pub fn transact(&self, cmd: Cmd, payload: &[u8]) -> TxResult {
        self.transact_with(cmd, payload, |stream, request, uid, persistent, deadline| {
            exchange(stream, request, uid, cmd, persistent, deadline)
        })
    }

    /// Sends one request over the connection the flags call for (a fresh
    /// one, or the persistent one, reconnecting once under RETRY) and
    /// leaves reading the response to `receive`. The whole operation,
    /// waiting for the persistent connection included, ends by the
    /// deadline; the breaker refuses it at once while backing off.
    fn transact_with<T>(
        &self,
        cmd: Cmd,
        payload: &[u8],
        mut receive: impl FnMut(&mut C::Stream, &[u8], u32, bool, Instant) -> Result<T, TxError>,
    ) -> Result<T, TxError> {
        let admit = self.breaker.admit();
        if admit == Admit::Refuse {
            return Err(TxError::BackingOff);
        }
        let deadline = Instant::now() + self.bounds.deadline;
        let uid = next_uid();
        let mut request = Vec::with_capacity(payload.len() + HEADER_LEN * 16);
        encode_message(&mut request, false, uid, cmd, payload);
        if !self.flags.persistent {
            let r = match self.connector.connect(deadline) {
                Ok(mut stream) => receive(&mut stream, &request, uid, false, deadline),
                Err(e) => Err(TxError::Network(e)),
            };
            self.breaker.record(admit, outcome(&r, true));
            return r;
        }
        // Threads queue for the connection only until their deadline: a
        // dead server holds the one using it, not everyone behind it.
        let Some(mut p) = self.persistent.try_lock_until(deadline) else {
            self.breaker.record(admit, Outcome::Inconclusive);
            return Err(TxError::Network(io::ErrorKind::TimedOut.into()));
        };
        if admit == Admit::Go && self.breaker.admit() == Admit::Refuse {
            // The server stopped answering while this thread waited.
            return Err(TxError::BackingOff);
        }
        // A thread that queued for most of its deadline has too little
        // time left to judge the server by a timeout.
        let judged = deadline.saturating_duration_since(Instant::now()) >= self.bounds.deadline / 2;
        if self.flags.pidcheck {
            let pid = std::process::id();
            if pid != p.pid {
                // A forked child: the inherited connection belongs to the
                // parent. Dropping our copy only closes our descriptor.
                p.stream = None;
                p.pid = pid;
            }
        }
        let had_connection = p.stream.is_some();
        let mut fresh = false;
        let mut attempt = |fresh: &mut bool| -> Result<T, TxError> {
            *fresh = p.stream.is_none();
            if p.stream.is_none() {
                p.stream = Some(self.connector.connect(deadline).map_err(TxError::Network)?);
            }
            let r = receive(p.stream.as_mut().expect("connected above"), &request, uid, true, deadline);
            if r.is_err() {
                // A connection that failed is gone, never reused half-read;
                // the next operation (or the retry) reconnects.
                p.stream = None;
            }
            r
        };
        let r = match attempt(&mut fresh) {
            Err(TxError::Network(e)) if self.flags.retry && had_connection && !is_timeout(&e) => attempt(&mut fresh),
            r => r,
        };
        let outcome = match outcome(&r, fresh) {
            Outcome::Unresponsive if !judged => Outcome::Inconclusive,
            o => o,
        };
        self.breaker.record(admit, outcome);
        r
    }

    fn forget_kept(&self) {
        let mut kept = self.kept.lock();
        if !kept.is_empty() {
            kept.remove(&this_thread());
        }
    }

    /// Stores a session; true only on the server's OK.
    pub fn add(&self, id: &[u8], data: &[u8], timeout_ms: u64) -> Result<bool, Refused> {
        if id.is_empty() || data.is_empty() || id.len() > MAX_SEND_ID_LEN {
            return Err(Refused::BadArgument);
        }
        // Any 32-bit timeout is sent, 0 included: the server decides what it
        // accepts (Apache's stock module passes 0 for some sessions, and a
        // server with an expiry floor keeps those for the floor).
        let timeout = u32::try_from(timeout_ms).map_err(|_| Refused::BadTimeout)?;
        let payload = encode_add(timeout, id, data).ok_or(Refused::TooLarge)?;
        self.forget_kept();
        Ok(matches!(self.transact(Cmd::Add, &payload), Ok(r) if r == [0]))
    }

    /// Removes a session; true only if the server removed one.
    pub fn remove(&self, id: &[u8]) -> Result<bool, Refused> {
        check_id(id)?;
        self.forget_kept();
        Ok(matches!(self.transact(Cmd::Remove, id), Ok(r) if r == [0]))
    }

    /// 1 present, 0 absent (or a reply longer than one byte), -1 failure.
    pub fn has(&self, id: &[u8]) -> Result<i32, Refused> {
        check_id(id)?;
        self.forget_kept();
        Ok(match self.transact(Cmd::Have, id) {
            Ok(r) if r == [0] => 1,
            Ok(r) if r == [1] || r.len() > 1 => 0,
            _ => -1,
        })
    }

    /// Fetches a session, copying up to `out.len()` bytes into `out`, and
    /// keeps it for this thread's next [`Client::reget`]. Replies shorter
    /// than 5 bytes are status codes, so such sessions read as missing.
    pub fn get(&self, id: &[u8], out: Option<&mut [u8]>) -> Result<GetResult, Refused> {
        check_id(id)?;
        let me = this_thread();
        // The thread's previous session gives way, its buffers becoming the
        // receive space and the new id's.
        let (mut frames, mut kept_id) = self.kept.lock().remove(&me).map(|k| (k.frames, k.id)).unwrap_or_default();
        let result = self.transact_with(Cmd::Get, id, |stream, request, uid, persistent, deadline| {
            stream.send_all(request, deadline).map_err(TxError::Network)?;
            receive_frames(stream, &mut frames, uid, Cmd::Get, persistent, deadline)
        });
        match result {
            Ok(m) if m.payload_len >= 5 => {
                kept_id.clear();
                kept_id.extend_from_slice(id);
                let kept = Kept { id: kept_id, frames, used: m.used, len: m.payload_len };
                kept.copy_out(out);
                self.kept.lock().insert(me, kept);
                Ok(GetResult::Found(m.payload_len))
            }
            r => Ok(if r.is_ok() { GetResult::Missing } else { GetResult::Failed }),
        }
    }

    /// Serves this thread's last successful get again, if `id` matches it
    /// and nothing else ran on this thread since. Returns the full length.
    pub fn reget(&self, id: &[u8], out: Option<&mut [u8]>) -> Option<usize> {
        let kept = self.kept.lock();
        let k = kept.get(&this_thread())?;
        if k.id != id {
            return None;
        }
        k.copy_out(out);
        Some(k.len)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::TimedOut
}

/// What an exchange says about the server: a timeout, or any network
/// failure on a connection made for this operation, means it does not
/// answer; on a reused persistent connection other failures only mean the
/// server had closed it.
fn outcome<T>(r: &Result<T, TxError>, fresh: bool) -> Outcome {
    match r {
        Ok(_) | Err(TxError::Protocol) => Outcome::Answered,
        Err(TxError::Network(e)) if fresh || is_timeout(e) => Outcome::Unresponsive,
        Err(_) => Outcome::Inconclusive,
    }
}

fn check_id(id: &[u8]) -> Result<(), Refused> {
    if id.is_empty() || id.len() > MAX_SEND_ID_LEN {
        Err(Refused::BadArgument)
    } else {
        Ok(())
    }
}

/// Sends `request` and reads one response with the same uid and command.
/// `persistent` connections must hold nothing beyond that response.
pub fn exchange<S: Stream + ?Sized>(
    stream: &mut S,
    request: &[u8],
    uid: u32,
    cmd: Cmd,
    persistent: bool,
    deadline: Instant,
) -> TxResult {
    stream.send_all(request, deadline).map_err(TxError::Network)?;
    RECV_BUF.with(|cell| {
        let mut buf = cell.borrow_mut();
        let m = receive_frames(stream, &mut buf, uid, cmd, persistent, deadline)?;
        let mut payload = Vec::with_capacity(m.payload_len);
        frame_payloads(&buf[..m.used]).for_each(|piece| payload.extend_from_slice(piece));
        Ok(payload)
    })
}

thread_local! {
    /// Receive space reused by every exchange of the thread.
    static RECV_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Room for the longest response: 16 frames.
const RECV_SPACE: usize = MAX_TOTAL_DATA + 16 * HEADER_LEN;

/// Reads one whole response into the front of `buf` (grown to
/// [`RECV_SPACE`] once, never shrunk) and checks it in place.
fn receive_frames<S: Stream + ?Sized>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    uid: u32,
    cmd: Cmd,
    persistent: bool,
    deadline: Instant,
) -> Result<Scanned, TxError> {
    if buf.len() < RECV_SPACE {
        buf.resize(RECV_SPACE, 0);
    }
    let mut have = 0;
    loop {
        if have == buf.len() {
            return Err(TxError::Protocol); // longer than any response
        }
        let n = stream.recv(&mut buf[have..], deadline).map_err(TxError::Network)?;
        if n == 0 {
            return Err(TxError::Network(io::ErrorKind::UnexpectedEof.into()));
        }
        have += n;
        if let Some(m) = scan_message(&buf[..have], true).map_err(|_| TxError::Protocol)? {
            if (persistent && m.used != have) || m.uid != uid || m.cmd != cmd || m.payload_len == 0 {
                return Err(TxError::Protocol);
            }
            return Ok(m);
        }
    }
}

#[cfg(test)]
mod tests;
