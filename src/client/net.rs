//! Real network transport for [`super::Client`], addressed with libnal's
//! address grammar (`IP:host:port`, `IPv6:[addr]:port`, `UNIX:path`,
//! `FD:...`).
//!
//! Unix and TCP targets use blocking sockets directly (one `send` and
//! usually one `recv` per exchange); descriptor targets go through a libnal
//! connection and a private selector.

use super::{Connector, Stream};
use crate::nal::address::{Address, Transport};
use crate::nal::connection::Connection;
use crate::nal::selector::{SelectError, Selector};
use crate::nal::{nagle_enabled, sys};
use std::ffi::OsStr;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;

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
    Unix(UnixStream),
    Tcp(TcpStream),
    Nal(NalStream),
}

impl Connector for NetConnector {
    type Stream = NetStream;

    fn connect(&self) -> io::Result<NetStream> {
        let inet = |ip: IpAddr, port: u16| -> io::Result<NetStream> {
            let s = TcpStream::connect(SocketAddr::new(ip, port))?;
            s.set_nodelay(!nagle_enabled())?;
            Ok(NetStream::Tcp(s))
        };
        match self.addr.transport() {
            Some(Transport::Unix { path }) => Ok(NetStream::Unix(UnixStream::connect(OsStr::from_bytes(path))?)),
            Some(Transport::Ipv4 { host: Some(h), port }) => inet(IpAddr::V4(*h), *port),
            Some(Transport::Ipv6 { host: Some(h), port }) => inet(IpAddr::V6(*h), *port),
            Some(Transport::Fd { .. }) => NalStream::connect(&self.addr).map(NetStream::Nal),
            _ => Err(io::ErrorKind::InvalidInput.into()),
        }
    }
}

fn send_socket(fd: i32, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // MSG_NOSIGNAL: a vanished peer is an error, never a SIGPIPE.
        match sys::send(fd, data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn recv_retrying(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

impl Stream for NetStream {
    fn send_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            NetStream::Unix(s) => send_socket(s.as_raw_fd(), data),
            NetStream::Tcp(s) => send_socket(s.as_raw_fd(), data),
            NetStream::Nal(s) => s.send_all(data),
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            NetStream::Unix(s) => recv_retrying(s, buf),
            NetStream::Tcp(s) => recv_retrying(s, buf),
            NetStream::Nal(s) => s.recv(buf),
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

    /// One select (re-waiting on EINTR) and the I/O it allows.
    fn round(&mut self) -> io::Result<()> {
        loop {
            match self.sel.select(0, false) {
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

    fn send_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        let send = self.conn.send_buffer().ok_or(io::ErrorKind::NotConnected)?.clone();
        loop {
            let n = send.modify(|b| b.write(data));
            data = &data[n..];
            if data.is_empty() && send.with(|b| b.is_empty()) {
                return Ok(());
            }
            self.round()?;
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.conn.read_buffer().ok_or(io::ErrorKind::NotConnected)?.clone();
        loop {
            let n = read.modify(|b| b.read(Some(&mut *buf), usize::MAX));
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            if self.round().is_err() {
                return Ok(0); // end of file or a dead connection
            }
        }
    }
}
