//! The dc_server event loop: one thread, edge-triggered readiness (mio),
//! requests answered where they lie in one input buffer shared by all
//! clients, responses built in one shared output buffer and written at
//! once. A client owns memory only for what its socket left over: the
//! start of a request still arriving, or response bytes the socket would
//! not take yet. Per request that is one wait, one read and one write.
//!
//! With an [`AsyncStore`](crate::cache::AsyncStore) (sessions in
//! Valkey/Redis) a request that needs the store is not answered where it
//! lies: it is submitted with a tag naming the client and a sequence
//! number, and the client keeps an ordered list of its requests in
//! flight. The store wakes the loop (a `mio::Waker`) when answers are
//! ready; each goes into its slot in the list, and the answered front of
//! the list is written, so every client gets its answers in its own
//! request order while many requests from many clients are in flight at
//! once. The builtin cache's path is unchanged.

use super::{ClientFailure, Server};
use crate::cache::Now;
use crate::nal::accept_pause::AcceptPause;
use crate::nal::connection::Endpoint;
use crate::nal::listener::{Accepted, Listener};
use crate::nal::sys;
use crate::nal::tls::{LinkEnd, ServerLink};
use crate::protocol::frame::release_large;
use crate::protocol::{encode_message, Cmd, HEADER_LEN, MAX_MSG, MSG_MAX_DATA};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use rustls::ServerConfig;
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(usize::MAX);
/// The asynchronous store has answers ready.
const STORE: Token = Token(usize::MAX - 1);
/// Most requests of one client waiting for the store; further requests
/// wait unread until answers come back.
const MAX_IN_FLIGHT: usize = 512;
/// Bits of a store tag that carry the client's index (the rest is the
/// request's sequence number).
const TAG_INDEX_BITS: u32 = 24;
/// Most bytes taken from one client per read.
const READ_CHUNK: usize = 64 * 1024;
/// The largest request: 16 full frames.
const MAX_REQUEST: usize = MAX_MSG * (HEADER_LEN + MSG_MAX_DATA);
/// Once this much of a client's output waits, its further requests wait
/// until the client reads.
const OUT_LIMIT: usize = 64 * 1024;
/// Reads (each with its answers) per client per round, so that a client
/// pipelining without pause cannot hold up the others.
const MAX_PASSES: usize = 8;
/// How soon an accept that failed other than for exhaustion is tried
/// again (exhaustion pauses through [`AcceptPause`]).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// What the loop reports to the program around it.
pub trait Hooks {
    /// Once per round, with the time the round's requests were answered
    /// at. True ends the loop.
    fn round(&mut self, server: &mut Server, now: Now) -> bool;
    /// The wait was interrupted by a signal. True ends the loop.
    fn interrupted(&mut self) -> bool;
    /// A client was dropped because its request has no answer.
    fn dropped(&mut self, failure: ClientFailure);
    /// Clients that neither send nor read for this long are closed
    /// (`dc_server -idle-timeout`); None keeps them open for ever.
    fn idle_timeout(&self) -> Option<Duration> {
        None
    }
    /// A client was refused at the TLS layer (handshake failed, not a TLS
    /// peer, a TLS peer on a plaintext listener): who and why.
    fn refused(&mut self, peer: &str, reason: &str);
}

/// One connected client.
struct Peer {
    endpoint: Endpoint,
    /// The start of a request whose rest has not arrived (or requests
    /// held back by the output limit).
    held_in: Vec<u8>,
    /// Response bytes the client has not taken yet, from `out_pos`.
    held_out: Vec<u8>,
    out_pos: usize,
    /// The descriptor may have unread bytes (edge-triggered readiness
    /// says so only once).
    may_read: bool,
    /// Writability is watched (only while output is held back).
    watching_write: bool,
    /// Already in this round's list of clients to serve.
    listed: bool,
    /// When the client was accepted or last had an event.
    last_active: Instant,
    /// The TLS server end, on a TLS listener.
    tls: Option<Box<ServerLink>>,
    /// Requests in flight to the store, oldest first, each with its
    /// response once known (only with an asynchronous store).
    pending: VecDeque<Pending>,
    /// The client leaves once its pending answers are written.
    ending: Option<Gone>,
}

/// A request of a client waiting for its turn to be answered.
struct Pending {
    /// The store tag's sequence number (0: answered without the store).
    seq: u64,
    uid: u32,
    cmd: Cmd,
    /// The whole response message, once known.
    response: Option<Vec<u8>>,
}

/// Why a client leaves.
#[derive(Clone)]
enum Gone {
    Closed,
    Failed(ClientFailure),
    /// Refused at the TLS layer, with the reason for the log.
    Refused(String),
}

impl From<LinkEnd> for Gone {
    fn from(end: LinkEnd) -> Self {
        match end {
            LinkEnd::Closed => Gone::Closed,
            LinkEnd::Refused(why) => Gone::Refused(why),
        }
    }
}

/// The start of a TLS handshake record: a TLS client on a plaintext
/// listener.
fn looks_like_tls(bytes: &[u8]) -> bool {
    bytes.len() >= 3 && bytes[0] == 0x16 && bytes[1] == 0x03 && bytes[2] <= 0x04
}

fn read_token(index: usize) -> Token {
    Token(index * 2)
}

fn write_token(index: usize) -> Token {
    Token(index * 2 + 1)
}

impl Peer {
    fn new(endpoint: Endpoint, now: Instant) -> Self {
        Self {
            endpoint,
            held_in: Vec::new(),
            held_out: Vec::new(),
            out_pos: 0,
            may_read: true,
            watching_write: false,
            listed: false,
            last_active: now,
            tls: None,
            pending: VecDeque::new(),
            ending: None,
        }
    }

    /// Output waits for the socket (held back here or inside TLS).
    fn output_waits(&self) -> bool {
        !self.held_out.is_empty() || self.tls.as_ref().is_some_and(|t| t.output_waits())
    }

    /// Reads request bytes into `buf`: Ok(None) when the socket has none
    /// now, Ok(Some(n)) with n > 0 otherwise.
    fn read_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Gone> {
        let fd = self.endpoint.read_fd().unwrap_or(-1);
        if let Some(link) = self.tls.as_mut() {
            let (n, more) = link.read(fd, buf)?;
            self.may_read = more;
            return Ok((n > 0).then_some(n));
        }
        match sys::read(fd, buf) {
            Ok(0) => Err(Gone::Closed),
            Ok(n) => {
                // A short read emptied the descriptor.
                self.may_read = n == buf.len();
                Ok(Some(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.may_read = false;
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(_) => Err(Gone::Closed),
        }
    }

    fn single_fd(&self) -> bool {
        self.endpoint.read_fd() == self.endpoint.write_fd()
    }

    fn register(&self, registry: &Registry, index: usize) -> io::Result<()> {
        if let Some(fd) = self.endpoint.read_fd() {
            registry.register(&mut SourceFd(&fd), read_token(index), Interest::READABLE)?;
        }
        Ok(())
    }

    /// Stops watching a peer that is about to be dropped.
    fn deregister(&self, registry: &Registry) {
        if self.endpoint.close_ends_registration() {
            return;
        }
        if let Some(fd) = self.endpoint.read_fd() {
            let _ = registry.deregister(&mut SourceFd(&fd));
        }
        if self.watching_write && !self.single_fd() {
            if let Some(fd) = self.endpoint.write_fd() {
                let _ = registry.deregister(&mut SourceFd(&fd));
            }
        }
    }

    /// Starts or stops watching writability (only while output waits, so
    /// that a client reading its answers does not wake the loop).
    fn watch_write(&mut self, registry: &Registry, index: usize, on: bool) -> io::Result<()> {
        if self.watching_write == on {
            return Ok(());
        }
        let Some(wfd) = self.endpoint.write_fd() else {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        };
        if self.single_fd() {
            let interest = if on { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            registry.reregister(&mut SourceFd(&wfd), read_token(index), interest)?;
        } else if on {
            registry.register(&mut SourceFd(&wfd), write_token(index), Interest::WRITABLE)?;
        } else {
            registry.deregister(&mut SourceFd(&wfd))?;
        }
        self.watching_write = on;
        Ok(())
    }

    /// Writes as much of `bytes` as the descriptor takes now (through TLS:
    /// all of them, TLS holding what the socket did not take).
    fn write_now(&mut self, bytes: &[u8]) -> Result<usize, Gone> {
        if let Some(link) = self.tls.as_mut() {
            link.write(self.endpoint.write_fd().unwrap_or(-1), bytes)?;
            return Ok(bytes.len());
        }
        self.write_plain(bytes)
    }

    fn write_plain(&self, bytes: &[u8]) -> Result<usize, Gone> {
        let mut done = 0;
        while done < bytes.len() {
            match self.endpoint.write(&bytes[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(Gone::Closed),
            }
        }
        Ok(done)
    }

    /// Writes held-back output; true once none is left.
    fn flush_held(&mut self) -> Result<bool, Gone> {
        if let Some(link) = self.tls.as_mut() {
            return Ok(link.flush(self.endpoint.write_fd().unwrap_or(-1))?);
        }
        if self.held_out.is_empty() {
            return Ok(true);
        }
        self.out_pos += self.write_plain(&self.held_out[self.out_pos..])?;
        if self.out_pos < self.held_out.len() {
            return Ok(false);
        }
        release_large(&mut self.held_out);
        self.out_pos = 0;
        Ok(true)
    }
}

/// The buffers all clients share.
struct Scratch {
    /// Held-back request bytes followed by one read.
    input: Box<[u8]>,
    output: Vec<u8>,
}

/// What serving a client left to do.
enum Served {
    /// Waiting for the client (to send, or to read what is held).
    Idle,
    /// More requests or unread bytes wait: serve again next round.
    Again,
}

/// Reads, answers and writes for one client until it has nothing more
/// to say, its output backs up, or it used its passes for this round.
fn serve_peer(peer: &mut Peer, server: &mut Server, io: &mut Scratch, now: Now) -> Result<Served, Gone> {
    for _ in 0..MAX_PASSES {
        if !peer.flush_held()? {
            return Ok(Served::Idle);
        }
        let mut filled = peer.held_in.len();
        io.input[..filled].copy_from_slice(&peer.held_in);
        peer.held_in.clear();
        let room = (io.input.len() - filled).min(READ_CHUNK);
        if peer.may_read && room > 0 {
            if let Some(n) = peer.read_into(&mut io.input[filled..filled + room])? {
                filled += n;
            }
        }
        io.output.clear();
        let done = server.answer_stream(&io.input[..filled], &mut io.output, now, OUT_LIMIT);
        if let Some(failure) = done.failure {
            // The answers before the bad request still go out.
            let _ = peer.write_now(&io.output);
            if peer.tls.is_none() && done.used == 0 && looks_like_tls(&io.input[..filled]) {
                return Err(Gone::Refused(
                    "sent a TLS handshake to a plaintext listener (dc_server runs without -tls-cert)".into(),
                ));
            }
            return Err(Gone::Failed(failure));
        }
        peer.held_in.extend_from_slice(&io.input[done.used..filled]);
        if peer.held_in.is_empty() {
            release_large(&mut peer.held_in);
        }
        let sent = peer.write_now(&io.output)?;
        if sent < io.output.len() {
            peer.held_out.extend_from_slice(&io.output[sent..]);
            return Ok(Served::Idle);
        }
        if peer.tls.as_ref().is_some_and(|t| t.output_waits()) {
            return Ok(Served::Idle);
        }
        if !peer.may_read && !done.more {
            return Ok(Served::Idle);
        }
    }
    Ok(Served::Again)
}

/// [`serve_peer`] for a server whose sessions live in an asynchronous
/// store: answered requests at the front of the client's list are
/// written, new requests are read and submitted (up to MAX_IN_FLIGHT).
fn serve_peer_async(
    peer: &mut Peer,
    server: &mut Server,
    io: &mut Scratch,
    index: usize,
    next_seq: &mut u64,
) -> Result<Served, Gone> {
    for _ in 0..MAX_PASSES {
        if !peer.flush_held()? {
            return Ok(Served::Idle);
        }
        io.output.clear();
        while peer.pending.front().is_some_and(|p| p.response.is_some()) {
            let p = peer.pending.pop_front().expect("non-empty");
            io.output.extend_from_slice(&p.response.expect("answered"));
        }
        let room = if peer.ending.is_some() { 0 } else { MAX_IN_FLIGHT.saturating_sub(peer.pending.len()) };
        let mut more = false;
        if room > 0 {
            let mut filled = peer.held_in.len();
            io.input[..filled].copy_from_slice(&peer.held_in);
            peer.held_in.clear();
            let space = (io.input.len() - filled).min(READ_CHUNK);
            if peer.may_read && space > 0 {
                // Through TLS on a TLS listener; the client's answers
                // still owed are written before it leaves.
                match peer.read_into(&mut io.input[filled..filled + space]) {
                    Ok(Some(n)) => filled += n,
                    Ok(None) => {}
                    Err(gone) => peer.ending = Some(gone),
                }
            }
            let pending = &mut peer.pending;
            let output = &mut io.output;
            let done = server.route_stream(&io.input[..filled], room, |uid, cmd, reply| match reply {
                Some(payload) if pending.is_empty() => {
                    encode_message(output, true, uid, cmd, payload);
                    0
                }
                Some(payload) => {
                    let mut response = Vec::new();
                    encode_message(&mut response, true, uid, cmd, payload);
                    pending.push_back(Pending { seq: 0, uid, cmd, response: Some(response) });
                    0
                }
                None => {
                    *next_seq += 1;
                    pending.push_back(Pending { seq: *next_seq, uid, cmd, response: None });
                    (*next_seq << TAG_INDEX_BITS) | index as u64
                }
            });
            more = done.more;
            if let Some(failure) = done.failure {
                // Answered after the requests before it.
                peer.ending = Some(Gone::Failed(failure));
            } else if peer.ending.is_none() {
                peer.held_in.extend_from_slice(&io.input[done.used..filled]);
            }
            if peer.held_in.is_empty() {
                release_large(&mut peer.held_in);
            }
        }
        if let Some(gone) = peer.ending.clone() {
            if peer.pending.is_empty() {
                let _ = peer.write_now(&io.output);
                return Err(gone);
            }
        }
        let sent = peer.write_now(&io.output)?;
        if sent < io.output.len() {
            peer.held_out.extend_from_slice(&io.output[sent..]);
            return Ok(Served::Idle);
        }
        // Waiting for the store (its answers list the client again), or
        // for the client.
        if peer.ending.is_some() || peer.pending.len() >= MAX_IN_FLIGHT || (!peer.may_read && !more) {
            return Ok(Served::Idle);
        }
    }
    Ok(Served::Again)
}

/// Puts the store's ready answers into their clients' lists, and lists
/// those clients to be served.
fn take_store_answers(
    server: &mut Server,
    peers: &mut [Option<Peer>],
    ready: &mut Vec<usize>,
    done: &mut Vec<(u64, crate::cache::StoreAnswer)>,
    reply: &mut Vec<u8>,
) {
    let Some(store) = server.store_mut() else { return };
    store.take_done(done);
    for (tag, answer) in done.drain(..) {
        let index = (tag & ((1 << TAG_INDEX_BITS) - 1)) as usize;
        let seq = tag >> TAG_INDEX_BITS;
        let Some(Some(peer)) = peers.get_mut(index) else { continue };
        // A client that left and whose slot was reused has other numbers.
        let Some(p) = peer.pending.iter_mut().find(|p| p.seq == seq) else { continue };
        if p.response.is_some() {
            continue;
        }
        server.finish(p.cmd, answer, reply);
        let mut response = Vec::with_capacity(HEADER_LEN + reply.len());
        encode_message(&mut response, true, p.uid, p.cmd, reply);
        p.response = Some(response);
        if !peer.listed {
            peer.listed = true;
            ready.push(index);
        }
    }
}

/// Serves `listener` until a hook asks to stop (Ok) or waiting fails
/// (Err). With an `FD:` listener it also ends once its one connection
/// has closed.
pub fn serve(server: &mut Server, listener: &mut Listener, tick: Duration, hooks: &mut impl Hooks) -> io::Result<()> {
    serve_tls(server, listener, tick, hooks, None)
}

/// [`serve`], with every accepted connection wrapped in TLS when `tls` is
/// given (a TLS-only listener; the configuration decides what clients
/// must present).
pub fn serve_tls(
    server: &mut Server,
    listener: &mut Listener,
    tick: Duration,
    hooks: &mut impl Hooks,
    tls: Option<Arc<ServerConfig>>,
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    if let Some(fd) = listener.socket_fd() {
        poll.registry().register(&mut SourceFd(&fd), LISTENER, Interest::READABLE)?;
    }
    let mut peers: Vec<Option<Peer>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut live = 0usize;
    // Clients to serve this round, and those with work left for the next.
    let mut ready: Vec<usize> = Vec::new();
    let mut again: Vec<usize> = Vec::new();
    let mut accept_now = true;
    let mut accept_failed = false;
    let mut pause = AcceptPause::new("dc_server");
    let idle_timeout = hooks.idle_timeout();
    // Idle clients are looked for a few times per timeout, at most once
    // every 10 ms and at least once a second.
    let sweep_every = idle_timeout.map(|t| (t / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)));
    let mut next_sweep = sweep_every.map(|every| Instant::now() + every);
    let mut io = Scratch {
        input: vec![0; MAX_REQUEST + READ_CHUNK].into_boxed_slice(),
        output: Vec::with_capacity(OUT_LIMIT + MAX_REQUEST),
    };
    // With an asynchronous store: its wake-ups, answers and numbering.
    let asynchronous = server.store_mut().is_some();
    if let Some(store) = server.store_mut() {
        let waker = Waker::new(poll.registry(), STORE)?;
        store.set_notify(Box::new(move || {
            let _ = waker.wake();
        }));
    }
    let mut store_done = Vec::new();
    let mut store_reply = Vec::new();
    let mut next_seq = 0u64;
    loop {
        let timeout = if !again.is_empty() {
            Duration::ZERO
        } else if accept_failed {
            tick.min(ACCEPT_RETRY)
        } else {
            tick
        };
        let before = Instant::now();
        let timeout = match pause.resume_in(before) {
            Some(left) => timeout.min(left),
            None => timeout,
        };
        let timeout = match next_sweep {
            Some(t) => timeout.min(t.saturating_duration_since(before)),
            None => timeout,
        };
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() == io::ErrorKind::Interrupted {
                if hooks.interrupted() {
                    return Ok(());
                }
                continue;
            }
            return Err(e);
        }
        let clock = Instant::now();
        std::mem::swap(&mut ready, &mut again);
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_now = true;
                continue;
            }
            if event.token() == STORE {
                continue; // answers are taken below, every round
            }
            let index = event.token().0 / 2;
            let Some(Some(peer)) = peers.get_mut(index) else { continue };
            peer.last_active = clock;
            if event.token() == read_token(index) {
                peer.may_read = true;
            }
            if !peer.listed {
                peer.listed = true;
                ready.push(index);
            }
        }
        let now = Now::wall_clock();
        if asynchronous {
            take_store_answers(server, &mut peers, &mut ready, &mut store_done, &mut store_reply);
        }
        // Out of descriptors, the listener waits (edge-triggered, it does
        // not wake the loop) until a client leaves or the pause is over.
        if (accept_now || accept_failed || pause.in_episode()) && !pause.paused(clock) {
            accept_failed = false;
            loop {
                let endpoint = match listener.accept_next() {
                    Accepted::Connection(endpoint) => endpoint,
                    Accepted::Nothing => {
                        if let Some(line) = pause.accepted() {
                            eprintln!("{line}");
                        }
                        break;
                    }
                    Accepted::Failed(e) => {
                        let (exhausted, line) = pause.failed(&e, clock);
                        if let Some(line) = line {
                            eprintln!("{line}");
                        }
                        accept_failed = !exhausted;
                        break;
                    }
                };
                if let Some(line) = pause.accepted() {
                    eprintln!("{line}");
                }
                if !endpoint.prepare_accepted(listener.inherited_nodelay()) {
                    continue; // dropped: closes the descriptor
                }
                let index = free.pop().unwrap_or_else(|| {
                    peers.push(None);
                    peers.len() - 1
                });
                let mut peer = Peer::new(endpoint, clock);
                if let Some(config) = &tls {
                    match ServerLink::new(config) {
                        Ok(link) => peer.tls = Some(Box::new(link)),
                        Err(why) => {
                            let name = sys::peer_name(peer.endpoint.read_fd().unwrap_or(-1));
                            hooks.refused(&name, &why);
                            free.push(index);
                            continue;
                        }
                    }
                }
                if peer.register(poll.registry(), index).is_err() {
                    free.push(index);
                    continue;
                }
                // A new client has often sent its request already.
                peer.listed = true;
                ready.push(index);
                peers[index] = Some(peer);
                live += 1;
            }
            accept_now = false;
        }
        for &index in &ready {
            let Some(peer) = peers[index].as_mut() else { continue };
            peer.listed = false;
            let served = if asynchronous {
                serve_peer_async(peer, server, &mut io, index, &mut next_seq)
            } else {
                serve_peer(peer, server, &mut io, now)
            };
            let outcome = match served {
                Ok(served) => peer.watch_write(poll.registry(), index, peer.output_waits()).map(|_| served),
                Err(gone) => {
                    match gone {
                        Gone::Failed(failure) => hooks.dropped(failure),
                        Gone::Refused(why) => {
                            hooks.refused(&sys::peer_name(peer.endpoint.read_fd().unwrap_or(-1)), &why)
                        }
                        Gone::Closed => {}
                    }
                    Err(io::ErrorKind::ConnectionAborted.into())
                }
            };
            match outcome {
                Ok(Served::Again) => {
                    peer.listed = true;
                    again.push(index);
                }
                Ok(Served::Idle) => {}
                Err(_) => {
                    peer.deregister(poll.registry());
                    peers[index] = None; // closes the descriptors
                    free.push(index);
                    live -= 1;
                    pause.freed();
                }
            }
        }
        ready.clear();
        if let (Some(idle), Some(every), Some(due)) = (idle_timeout, sweep_every, next_sweep) {
            if clock >= due {
                next_sweep = Some(clock + every);
                for (index, slot) in peers.iter_mut().enumerate() {
                    let Some(peer) = slot.as_ref() else { continue };
                    // (a client waiting for the store's answers is not idle)
                    if peer.listed
                        || !peer.pending.is_empty()
                        || clock.saturating_duration_since(peer.last_active) < idle
                    {
                        continue;
                    }
                    peer.deregister(poll.registry());
                    *slot = None; // closes the descriptors
                    free.push(index);
                    live -= 1;
                    pause.freed();
                }
            }
        }
        if hooks.round(server, now) {
            return Ok(());
        }
        if listener.finished() && live == 0 {
            return Ok(());
        }
    }
}
