//! Real network transport for [`super::Client`], addressed with libnal's
//! address grammar (`IP:host:port`, `IPv6:[addr]:port`, `UNIX:path`,
//! `FD:...`).
//!
//! Unix and TCP targets use non-blocking sockets directly (one `send` and
//! usually one `recv` per exchange, a `poll` only when the server is not
//! ready yet, bounded by the operation's deadline); descriptor targets go
//! through a libnal connection and a private selector.

use super::{Connector, Stream};
use crate::nal::address::{Address, Transport};
use crate::nal::connection::Connection;
use crate::nal::selector::{SelectError, Selector};
use crate::nal::sys::RawSockAddr;
use crate::nal::{nagle_enabled, sys};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

/// Buffer size of the libnal connections used for descriptor targets.
pub const CONNECTION_BUFFER_SIZE: u32 = 4096;

/// Connects to one parsed address.
pub struct NetConnector {
    addr: Address,
}

impl NetConnector {
    /// Parses `target`; None if it does not parse or cannot connect
    /// (e.g. `IP:9001`, which only names a port to listen on).
    pub fn new(target: &[u8]) -> Option<Self> {
        let mut addr = Address::new();
        if !addr.create(target, CONNECTION_BUFFER_SIZE) || !addr.can_connect() {
            return None;
        }
        // libnal parses "UNIX:" (an empty path), but no server can be there:
        // refuse it here rather than fail every operation later.
        if matches!(addr.transport(), Some(Transport::Unix { path }) if path.is_empty()) {
            return None;
        }
        Some(Self { addr })
    }
}

/// A connected stream (see the module documentation).
pub enum NetStream {
    /// A non-blocking unix or TCP socket.
    Socket(OwnedFd),
    Nal(NalStream),
}

/// Waits until `fd` is ready for `events` or `deadline` passes
/// (`TimedOut`).
fn wait_ready(fd: i32, events: i16, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        // Round up so that a wait never ends just before the deadline.
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        match sys::poll_one(fd, events, ms) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Connects a non-blocking socket by `deadline`. A unix socket whose
/// server does not accept (full queue) fails at once rather than waiting.
fn connect_socket(addr: &RawSockAddr, tcp: bool, deadline: Instant) -> io::Result<NetStream> {
    let fd = sys::stream_socket_cloexec(addr)?;
    if tcp {
        sys::set_nodelay(fd.as_raw_fd(), !nagle_enabled())?;
    }
    if !sys::connect(&fd, addr)? {
        wait_ready(fd.as_raw_fd(), libc::POLLOUT, deadline)?;
        match sys::take_socket_error(fd.as_raw_fd())? {
            0 => {}
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
    Ok(NetStream::Socket(fd))
}

impl Connector for NetConnector {
    type Stream = NetStream;

    fn connect(&self, deadline: Instant) -> io::Result<NetStream> {
        let inet =
            |ip: IpAddr, port: u16| connect_socket(&RawSockAddr::inet(SocketAddr::new(ip, port)), true, deadline);
        match self.addr.transport() {
            Some(Transport::Unix { path }) => connect_socket(&RawSockAddr::unix(path), false, deadline),
            Some(Transport::Ipv4 { host: Some(h), port }) => inet(IpAddr::V4(*h), *port),
            Some(Transport::Ipv6 { host: Some(h), port }) => inet(IpAddr::V6(*h), *port),
            Some(Transport::Fd { .. }) => NalStream::connect(&self.addr).map(NetStream::Nal),
            _ => Err(io::ErrorKind::InvalidInput.into()),
        }
    }
}

fn send_socket(fd: i32, mut data: &[u8], deadline: Instant) -> io::Result<()> {
    while !data.is_empty() {
        // MSG_NOSIGNAL: a vanished peer is an error, never a SIGPIPE.
        match sys::send(fd, data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_ready(fd, libc::POLLOUT, deadline)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn recv_socket(fd: i32, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    loop {
        match sys::read(fd, buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_ready(fd, libc::POLLIN, deadline)?,
            other => return other,
        }
    }
}

impl Stream for NetStream {
    fn send_all(&mut self, data: &[u8], deadline: Instant) -> io::Result<()> {
        match self {
            NetStream::Socket(s) => send_socket(s.as_raw_fd(), data, deadline),
            NetStream::Nal(s) => s.send_all(data, deadline),
        }
    }

    fn recv(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        match self {
            NetStream::Socket(s) => recv_socket(s.as_raw_fd(), buf, deadline),
            NetStream::Nal(s) => s.recv(buf, deadline),
        }
    }
}

/// A libnal connection driven by its own selector.
pub struct NalStream {
    // Field order: the connection detaches from the selector first.
    conn: Connection,
    sel: Selector,
}

impl NalStream {
    fn connect(addr: &Address) -> io::Result<Self> {
        let mut conn = Connection::new();
        let sel = Selector::new();
        if !conn.create(addr) || !conn.add_to_selector(&sel) {
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        Ok(Self { conn, sel })
    }

    /// One select (re-waiting on EINTR) and the I/O it allows; TimedOut
    /// once `deadline` passes.
    fn round(&mut self, deadline: Instant) -> io::Result<()> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            match self.sel.select(left.as_micros().max(1) as u64, true) {
                Ok(_) => break,
                Err(SelectError::Os(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(SelectError::Os(e)) => return Err(e),
                Err(SelectError::NothingAttached) => return Err(io::ErrorKind::NotConnected.into()),
            }
        }
        if self.conn.io() {
            Ok(())
        } else {
            Err(io::ErrorKind::ConnectionAborted.into())
        }
    }

    fn send_all(&mut self, mut data: &[u8], deadline: Instant) -> io::Result<()> {
        let send = self.conn.send_buffer().ok_or(io::ErrorKind::NotConnected)?.clone();
        loop {
            let n = send.modify(|b| b.write(data));
            data = &data[n..];
            if data.is_empty() && send.with(|b| b.is_empty()) {
                return Ok(());
            }
            self.round(deadline)?;
        }
    }

    fn recv(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        let read = self.conn.read_buffer().ok_or(io::ErrorKind::NotConnected)?.clone();
        loop {
            let n = read.modify(|b| b.read(Some(&mut *buf), usize::MAX));
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.round(deadline) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(e),
                Err(_) => return Ok(0), // end of file or a dead connection
            }
        }
    }
}
