//! NAL_CONNECTION: a non-blocking descriptor (or two) plus a read buffer
//! and a send buffer, moved by `io` according to the last select.

use super::address::{Address, Transport};
use super::buffer::SharedBuffer;
use super::listener::Accepted;
use super::listener::Listener;
use super::selector::{Attachment, EntryFds, EntrySpec, Selector, WatchRole, EXCEPT, READ, READ_SEND, SEND};
use super::tls::ClientLink;
use super::{nagle_enabled, sys, MAX_BUFFER_SIZE};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// The descriptors behind an active connection.
pub(crate) enum Endpoint {
    /// A socket (TCP, unix, or one end of a pair).
    Socket(OwnedFd),
    /// `FD:n` — one descriptor of any kind for both directions.
    FdSingle(OwnedFd),
    /// `FD:r:w` — separate descriptors; an absent direction is None.
    FdPair(Option<OwnedFd>, Option<OwnedFd>),
    /// Loopback FIFO without any descriptor.
    Dummy,
}

impl Endpoint {
    pub(crate) fn read_fd(&self) -> Option<RawFd> {
        match self {
            Endpoint::Socket(fd) | Endpoint::FdSingle(fd) => Some(fd.as_raw_fd()),
            Endpoint::FdPair(r, _) => r.as_ref().map(|f| f.as_raw_fd()),
            Endpoint::Dummy => None,
        }
    }

    pub(crate) fn write_fd(&self) -> Option<RawFd> {
        match self {
            Endpoint::Socket(fd) | Endpoint::FdSingle(fd) => Some(fd.as_raw_fd()),
            Endpoint::FdPair(_, w) => w.as_ref().map(|f| f.as_raw_fd()),
            Endpoint::Dummy => None,
        }
    }

    /// Readies an accepted socket: applies the Nagle setting to a socket
    /// accepted from an IPv4/IPv6 listener, whose TCP_NODELAY it inherited
    /// (`inherited`, see `Listener::inherited_nodelay`); false if that fails.
    pub(crate) fn prepare_accepted(&self, inherited: Option<bool>) -> bool {
        match (self, inherited) {
            (Endpoint::Socket(fd), Some(current)) => apply_nagle(fd, current),
            _ => true,
        }
    }

    /// Closing it also ends its epoll registrations: an accepted socket's
    /// descriptor is held by nobody else. Inherited descriptors (`FD:`) may
    /// be, so they are deregistered explicitly.
    pub(crate) fn close_ends_registration(&self) -> bool {
        matches!(self, Endpoint::Socket(_))
    }

    fn entry_fds(&self) -> Option<EntryFds> {
        match self {
            Endpoint::Socket(fd) | Endpoint::FdSingle(fd) => Some(EntryFds::Single(fd.as_raw_fd())),
            Endpoint::FdPair(r, w) => Some(EntryFds::Pair {
                read: r.as_ref().map_or(-1, |f| f.as_raw_fd()),
                write: w.as_ref().map_or(-1, |f| f.as_raw_fd()),
            }),
            Endpoint::Dummy => None,
        }
    }

    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let fd = self.write_fd().ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        match self {
            Endpoint::Socket(_) => sys::send(fd, buf),
            _ => sys::write(fd, buf),
        }
    }
}

struct Active {
    endpoint: Endpoint,
    read: Arc<SharedBuffer>,
    /// The same buffer as `read` for a dummy connection.
    send: Arc<SharedBuffer>,
    established: bool,
    /// The TLS client end, when the link is wrapped (see `start_tls`).
    tls: Option<Box<ClientLink>>,
}

impl Active {
    /// Moves bytes as `results` allow. None: the connection failed (error,
    /// end of file). Some((read drained, send blocked, just connected)).
    fn transfer_bits(&mut self, results: u8, max_read: usize, max_send: usize) -> Option<(bool, bool, bool)> {
        if results & EXCEPT != 0 {
            return None;
        }
        let mut connected = false;
        if !self.established {
            if results & SEND == 0 {
                return Some((false, false, false));
            }
            let fd = self.endpoint.write_fd().unwrap_or(-1);
            match sys::take_socket_error(fd) {
                Ok(0) => {
                    self.established = true;
                    connected = true;
                }
                _ => return None,
            }
        }
        let mut read_drained = false;
        let mut send_blocked = false;
        if results & READ != 0 {
            let fd = self.endpoint.read_fd().unwrap_or(-1);
            let outcome: io::Result<(usize, usize)> = self.read.modify(|b| {
                let spare = b.spare_mut();
                let offered = spare.len().min(max_read);
                if offered == 0 {
                    return Ok((0, 0));
                }
                let n = sys::read(fd, &mut spare[..offered])?;
                b.wrote(n);
                Ok((n, offered))
            });
            match outcome {
                Ok((0, offered)) if offered > 0 => return None, // end of file
                Ok((n, offered)) => read_drained = n < offered,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => read_drained = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        if results & SEND != 0 {
            let endpoint = &self.endpoint;
            let outcome: io::Result<usize> = self.send.modify(|b| {
                let len = b.used().min(max_send);
                if len == 0 {
                    return Ok(0);
                }
                let n = endpoint.write(&b.data()[..len])?;
                b.consume(n);
                Ok(n)
            });
            match outcome {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => send_blocked = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        Some((read_drained, send_blocked, connected))
    }
}

/// A connection (the C `NAL_CONNECTION`): unused until created, accepted or
/// paired.
#[derive(Default)]
pub struct Connection {
    active: Option<Active>,
    attach: Option<Attachment>,
    /// Binding made by the C extension layer (`nal_devel.h`); empty on the
    /// builtin path.
    pub devel: super::DevelSlot,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reset();
    }
}

fn sized(size: u32) -> Arc<SharedBuffer> {
    Arc::new(SharedBuffer::for_connection(size as usize))
}

/// Applies the process-wide Nagle rule to a new TCP socket whose
/// TCP_NODELAY is `current` (off for a new socket; an accepted one has its
/// listener's); a system call only when the setting must change.
fn apply_nagle(fd: &OwnedFd, current: bool) -> bool {
    let wanted = !nagle_enabled();
    wanted == current || sys::set_nodelay(fd.as_raw_fd(), wanted).is_ok()
}

impl Connection {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    pub fn is_dummy(&self) -> bool {
        matches!(self.active, Some(Active { endpoint: Endpoint::Dummy, .. }))
    }

    fn activate(&mut self, endpoint: Endpoint, read: Arc<SharedBuffer>, send: Arc<SharedBuffer>, established: bool) {
        self.active = Some(Active { endpoint, read, send, established, tls: None });
    }

    /// Connects to `addr` (`NAL_CONNECTION_create`): established at once for
    /// unix sockets and descriptors, pending for a TCP connect in progress.
    pub fn create(&mut self, addr: &Address) -> bool {
        if self.is_active() || !addr.can_connect() {
            return false;
        }
        let size = addr.def_buffer_size();
        let Some(transport) = addr.transport() else {
            return false;
        };
        let (raw, inet) = match transport {
            Transport::Ipv4 { host: Some(h), port } => {
                (sys::RawSockAddr::inet(SocketAddr::new(IpAddr::V4(*h), *port)), true)
            }
            Transport::Ipv6 { host: Some(h), port } => {
                (sys::RawSockAddr::inet(SocketAddr::new(IpAddr::V6(*h), *port)), true)
            }
            Transport::Unix { path } => (sys::RawSockAddr::unix(path), false),
            Transport::Fd { read, write } => return self.create_from_fds(*read, *write, size),
            _ => return false,
        };
        let Ok(fd) = sys::stream_socket(&raw) else {
            return false;
        };
        let Ok(established) = sys::connect(&fd, &raw) else {
            return false;
        };
        if inet && !apply_nagle(&fd, false) {
            return false;
        }
        self.activate(Endpoint::Socket(fd), sized(size), sized(size), established);
        true
    }

    fn create_from_fds(&mut self, read: i32, write: i32, size: u32) -> bool {
        let present = |fd: i32| fd >= 0 && sys::is_open(fd);
        if (read >= 0 && !present(read)) || (write >= 0 && !present(write)) {
            return false;
        }
        for fd in [read, write] {
            if fd >= 0 && sys::set_nonblocking(fd).is_err() {
                return false;
            }
        }
        let (endpoint, rsize, wsize) = if read == write {
            (Endpoint::FdSingle(sys::own(read)), size, size)
        } else {
            let r = (read >= 0).then(|| sys::own(read));
            let w = (write >= 0).then(|| sys::own(write));
            let (rs, ws) = (if r.is_some() { size } else { 0 }, if w.is_some() { size } else { 0 });
            (Endpoint::FdPair(r, w), rs, ws)
        };
        self.activate(endpoint, sized(rsize), sized(wsize), true);
        true
    }

    /// Accepts the connection the listener's last select reported
    /// (`NAL_CONNECTION_accept`). Never blocks.
    pub fn accept(&mut self, list: &mut Listener) -> bool {
        if self.is_active() {
            return false;
        }
        let inherited = list.inherited_nodelay();
        match list.take_pending() {
            Some((endpoint, size)) => self.adopt(endpoint, size, inherited),
            None => false,
        }
    }

    /// Waits for and accepts a connection without a selector (older API).
    pub fn accept_blocking(&mut self, list: &mut Listener) -> bool {
        if self.is_active() {
            return false;
        }
        let inherited = list.inherited_nodelay();
        match list.accept_blocking() {
            Some((endpoint, size)) => self.adopt(endpoint, size, inherited),
            None => false,
        }
    }

    fn adopt(&mut self, endpoint: Endpoint, size: u32, inherited: Option<bool>) -> bool {
        if !endpoint.prepare_accepted(inherited) {
            return false;
        }
        let (rs, ws) = match &endpoint {
            Endpoint::FdPair(r, w) => (if r.is_some() { size } else { 0 }, if w.is_some() { size } else { 0 }),
            _ => (size, size),
        };
        self.activate(endpoint, sized(rs), sized(ws), true);
        true
    }

    /// A connected pair of unix sockets (`NAL_CONNECTION_create_pair`).
    pub fn create_pair(a: &mut Connection, b: &mut Connection, size: u32) -> bool {
        if a.is_active() || b.is_active() || size as usize > MAX_BUFFER_SIZE {
            return false;
        }
        let Ok((fa, fb)) = sys::socket_pair() else {
            return false;
        };
        a.activate(Endpoint::Socket(fa), sized(size), sized(size), true);
        b.activate(Endpoint::Socket(fb), sized(size), sized(size), true);
        true
    }

    /// A loopback FIFO: one buffer serves as read and send buffer.
    pub fn create_dummy(&mut self, size: u32) -> bool {
        if self.is_active() || size as usize > MAX_BUFFER_SIZE {
            return false;
        }
        let buf = sized(size);
        self.activate(Endpoint::Dummy, buf.clone(), buf, true);
        true
    }

    /// Closes everything and returns to unused.
    pub fn reset(&mut self) {
        self.detach();
        self.active = None; // closes the descriptors
    }

    pub fn set_size(&mut self, size: u32) -> bool {
        if size as usize > MAX_BUFFER_SIZE {
            return false;
        }
        let Some(a) = &self.active else { return false };
        let (has_read, has_send) = match &a.endpoint {
            Endpoint::FdPair(r, w) => (r.is_some(), w.is_some()),
            _ => (true, true),
        };
        let mut ok = true;
        if has_read {
            ok &= a.read.modify(|b| b.set_size(size as usize));
        }
        if has_send && !Arc::ptr_eq(&a.read, &a.send) {
            ok &= a.send.modify(|b| b.set_size(size as usize));
        }
        ok
    }

    pub fn read_buffer(&self) -> Option<&Arc<SharedBuffer>> {
        self.active.as_ref().map(|a| &a.read)
    }

    pub fn send_buffer(&self) -> Option<&Arc<SharedBuffer>> {
        self.active.as_ref().map(|a| &a.send)
    }

    pub fn is_established(&self) -> bool {
        self.active.as_ref().is_some_and(|a| a.established)
    }

    /// Attached with `add_to_selector` (and the selector still exists).
    pub fn is_attached(&self) -> bool {
        self.attach.as_ref().is_some_and(Attachment::is_persistent)
    }

    /// The C handle of the builtin selector this object is attached to and
    /// its token there.
    pub fn selector_link(&self) -> Option<(usize, usize)> {
        self.attach.as_ref().filter(|a| a.is_persistent()).and_then(Attachment::handle_and_token)
    }

    /// Whether `sel` is the selector this connection is registered with.
    pub fn registered_with(&self, sel: &Selector) -> bool {
        self.attach.as_ref().is_some_and(|a| a.is_live() && sel.same(a.selector()))
    }

    /// Has a live one-shot home from the older registration calls.
    pub fn has_oneshot_home(&self) -> bool {
        self.attach.as_ref().is_some_and(|a| a.is_live() && !a.is_persistent())
    }

    fn detach(&mut self) {
        if let Some(att) = self.attach.take() {
            if let Some(a) = &self.active {
                a.read.set_watch(None);
                a.send.set_watch(None);
            }
            att.detach();
        }
    }

    fn attach_to(&mut self, sel: &Selector, persistent: bool, mask: u8) -> bool {
        let Some(a) = &self.active else { return false };
        let Some(fds) = a.endpoint.entry_fds() else {
            return false;
        };
        let spec = EntrySpec { fds, listener: false, want_read: true, want_send: false, connecting: !a.established };
        let Some(att) = sel.attach(spec, persistent, mask) else {
            return false;
        };
        let (_, read_full) = a.read.set_watch(Some(att.watch(WatchRole::Read)));
        let (send_empty, _) = a.send.set_watch(Some(att.watch(WatchRole::Send)));
        let tls_output = a.tls.as_ref().is_some_and(|t| t.wants_write());
        att.set_wants(Some(!read_full), Some(!send_empty || tls_output));
        self.attach = Some(att);
        true
    }

    /// `NAL_CONNECTION_add_to_selector`: persistent attachment.
    pub fn add_to_selector(&mut self, sel: &Selector) -> bool {
        if !self.is_active() || self.is_attached() {
            return false;
        }
        if self.is_dummy() {
            return true; // selectors ignore dummies
        }
        self.detach(); // a stale or one-shot home
        self.attach_to(sel, true, READ_SEND)
    }

    pub fn del_from_selector(&mut self) {
        self.detach();
    }

    /// Older API: register for the next select on `sel` only, waiting for
    /// the events in `mask` (plus exceptions).
    pub fn register_oneshot(&mut self, sel: &Selector, mask: u8) -> bool {
        if !self.is_active() {
            return false;
        }
        if self.is_dummy() {
            return true;
        }
        if let Some(att) = &self.attach {
            if att.is_live() && sel.same(att.selector()) {
                if !att.is_persistent() {
                    att.register_oneshot(mask);
                }
                return true;
            }
            if att.is_persistent() {
                return false; // attached to another selector
            }
        }
        self.detach();
        self.attach_to(sel, false, mask)
    }

    /// Older API: cancel a pending one-shot registration on `sel`.
    pub fn cancel_oneshot(&mut self, sel: &Selector) {
        if let Some(att) = &self.attach {
            if sel.same(att.selector()) && !att.is_persistent() {
                att.cancel_oneshot();
            }
        }
    }

    /// `NAL_CONNECTION_io` (1.5): 0 when unused, not attached, or dead.
    pub fn io(&mut self) -> bool {
        if self.is_dummy() {
            return true;
        }
        if !self.is_attached() {
            return false;
        }
        self.transfer(usize::MAX, usize::MAX)
    }

    /// Older API I/O: a connection that was not part of the last select
    /// succeeds doing nothing. Limits of 0 mean "no limit".
    pub fn io_capped(&mut self, max_read: usize, max_send: usize) -> bool {
        if !self.is_active() {
            return false;
        }
        if self.is_dummy() || self.attach.as_ref().is_none_or(|a| !a.is_live()) {
            return true;
        }
        let cap = |v: usize| if v == 0 { usize::MAX } else { v };
        self.transfer(cap(max_read), cap(max_send))
    }

    /// Performs the I/O the last select allows and consumes those results.
    fn transfer(&mut self, max_read: usize, max_send: usize) -> bool {
        let (Some(a), Some(att)) = (self.active.as_mut(), self.attach.as_ref()) else {
            return false;
        };
        let results = att.results(READ_SEND);
        if a.tls.is_some() {
            return Self::transfer_tls(a, att, results);
        }
        match a.transfer_bits(results, max_read, max_send) {
            None => false,
            Some((read_drained, send_blocked, connected)) => {
                if read_drained || send_blocked || connected {
                    att.note_io(read_drained, send_blocked, connected);
                }
                true
            }
        }
    }

    /// `transfer` for a link wrapped in TLS: the socket's bytes go through
    /// the TLS session; the buffers hold plaintext.
    fn transfer_tls(a: &mut Active, att: &Attachment, results: u8) -> bool {
        if results & EXCEPT != 0 {
            return false;
        }
        if !a.established {
            if results & SEND == 0 {
                return true;
            }
            let fd = a.endpoint.write_fd().unwrap_or(-1);
            match sys::take_socket_error(fd) {
                Ok(0) => {
                    a.established = true;
                    att.note_io(false, false, true);
                }
                _ => return false,
            }
        }
        let Some(link) = a.tls.as_mut() else { return false };
        let fd = a.endpoint.read_fd().unwrap_or(-1);
        let Some(moved) = link.transfer(fd, results & READ != 0, &a.read, &a.send) else {
            return false;
        };
        att.set_wants(None, Some(moved.wants_send));
        if moved.read_drained || moved.send_blocked {
            att.note_io(moved.read_drained, moved.send_blocked, false);
        }
        true
    }

    /// What a selector speaking the fd control protocol (`nal_devel.h`)
    /// should watch for this connection this round: `(fd, interest bits)`
    /// for each descriptor. Empty for a dummy or unused connection.
    pub fn fd_interest(&self) -> Vec<(RawFd, u8)> {
        let Some(a) = &self.active else { return Vec::new() };
        let want_read = a.read.with(|b| !b.is_full());
        let want_send = !a.established || a.send.with(|b| !b.is_empty());
        let r = (if want_read { READ } else { 0 }) | (if !a.established { SEND } else { 0 });
        let w = if want_send { SEND } else { 0 };
        match &a.endpoint {
            Endpoint::Socket(fd) | Endpoint::FdSingle(fd) => vec![(fd.as_raw_fd(), r | w)],
            Endpoint::FdPair(rd, wr) => {
                let mut v = Vec::new();
                if let Some(f) = rd {
                    v.push((f.as_raw_fd(), r & READ));
                }
                if let Some(f) = wr {
                    v.push((f.as_raw_fd(), w));
                }
                v
            }
            Endpoint::Dummy => Vec::new(),
        }
    }

    /// `io` driven by results a selector reported through the fd control
    /// protocol instead of an attachment.
    pub fn io_with_results(&mut self, results: u8) -> bool {
        if self.is_dummy() {
            return true;
        }
        match self.active.as_mut() {
            // TLS links are driven by the builtin selectors only.
            Some(a) if a.tls.is_none() => a.transfer_bits(results, usize::MAX, usize::MAX).is_some(),
            _ => false,
        }
    }

    /// Accepts the next waiting connection of `list` without a selector's
    /// results (a listener attached through the fd control protocol).
    pub fn accept_next(&mut self, list: &mut Listener) -> bool {
        if self.is_active() {
            return false;
        }
        let inherited = list.inherited_nodelay();
        let size = list.def_buffer_size();
        match list.accept_next() {
            Accepted::Connection(endpoint) => self.adopt(endpoint, size, inherited),
            _ => false,
        }
    }

    /// Wraps a connection just created to a socket address in TLS (the
    /// client end); call it before attaching to a selector. Bytes in the
    /// buffers are plaintext from then on; `io` moves them through TLS.
    pub fn start_tls(&mut self, config: &Arc<ClientConfig>, name: ServerName<'static>) -> Result<(), String> {
        let Some(a) = self.active.as_mut().filter(|a| matches!(a.endpoint, Endpoint::Socket(_))) else {
            return Err("TLS needs a socket connection".into());
        };
        a.tls = Some(Box::new(ClientLink::new(config, name)?));
        Ok(())
    }

    /// The link is wrapped in TLS.
    pub fn is_tls(&self) -> bool {
        self.active.as_ref().is_some_and(|a| a.tls.is_some())
    }

    /// Why the TLS link failed (the handshake was refused, the peer is not
    /// TLS...), once `io` returned false; None otherwise.
    pub fn tls_failure(&self) -> Option<String> {
        self.active.as_ref()?.tls.as_ref()?.failure().map(str::to_string)
    }

    /// Sends what the send buffer holds through TLS right away (TLS
    /// connections only; others wait for `io`). False when the link broke.
    pub fn flush_tls(&mut self) -> bool {
        let (Some(a), Some(att)) = (self.active.as_mut(), self.attach.as_ref()) else {
            return true;
        };
        let Some(link) = a.tls.as_mut() else { return true };
        if !a.established {
            return true;
        }
        let fd = a.endpoint.read_fd().unwrap_or(-1);
        match link.transfer(fd, false, &a.read, &a.send) {
            Some(moved) => {
                att.set_wants(None, Some(moved.wants_send));
                if moved.send_blocked {
                    att.note_io(false, true, false);
                }
                true
            }
            None => false,
        }
    }

    /// The descriptor of a socket connection (-1 otherwise); for tests and
    /// tools.
    pub fn raw_fd(&self) -> RawFd {
        self.active.as_ref().and_then(|a| a.endpoint.read_fd()).unwrap_or(-1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nal::selector::{Selector, SelectorType};

    fn pair(size: u32) -> (Connection, Connection) {
        let (mut a, mut b) = (Connection::new(), Connection::new());
        assert!(Connection::create_pair(&mut a, &mut b, size));
        (a, b)
    }

    /// Runs select + io on both ends until `b` holds `want` bytes.
    fn pump(sel: &Selector, a: &mut Connection, b: &mut Connection, want: usize) -> bool {
        for _ in 0..100 {
            if b.read_buffer().unwrap().with(|r| r.used()) >= want {
                return true;
            }
            if sel.select(100_000, true).is_err() || !a.io() || !b.io() {
                return false;
            }
        }
        false
    }

    #[test]
    fn bytes_cross_a_pair_through_a_selector() {
        let sel = Selector::new();
        let (mut a, mut b) = pair(4096);
        assert!(a.add_to_selector(&sel) && b.add_to_selector(&sel));
        assert!(!a.add_to_selector(&sel), "attached twice");
        assert_eq!(sel.num_objects(), 2);
        a.send_buffer().unwrap().modify(|s| s.write(b"hello"));
        assert!(pump(&sel, &mut a, &mut b, 5));
        assert_eq!(b.read_buffer().unwrap().with(|r| r.data().to_vec()), b"hello");
    }

    #[test]
    fn idle_select_times_out_and_io_does_nothing() {
        let sel = Selector::with_type(SelectorType::FdPoll);
        let (mut a, mut b) = pair(64);
        assert!(a.add_to_selector(&sel) && b.add_to_selector(&sel));
        assert_eq!(sel.select(20_000, true).unwrap(), 0);
        assert!(a.io() && b.io());
    }

    #[test]
    fn full_read_buffer_stops_interest_until_drained() {
        let sel = Selector::new();
        let (mut a, mut b) = pair(8);
        assert!(a.add_to_selector(&sel) && b.add_to_selector(&sel));
        a.send_buffer().unwrap().modify(|s| s.write(b"12345678"));
        assert!(pump(&sel, &mut a, &mut b, 8));
        a.send_buffer().unwrap().modify(|s| s.write(b"abcd"));
        // b's buffer is full: the next bytes wait in the kernel
        for _ in 0..3 {
            sel.select(10_000, true).unwrap();
            assert!(a.io() && b.io());
        }
        assert_eq!(b.read_buffer().unwrap().with(|r| r.data().to_vec()), b"12345678");
        b.read_buffer().unwrap().modify(|r| r.consume(8));
        assert!(pump(&sel, &mut a, &mut b, 4));
        assert_eq!(b.read_buffer().unwrap().with(|r| r.data().to_vec()), b"abcd");
    }

    #[test]
    fn freed_selector_leaves_objects_usable() {
        let (mut a, mut b) = pair(64);
        {
            let sel = Selector::new();
            assert!(a.add_to_selector(&sel) && b.add_to_selector(&sel));
        }
        assert!(!a.is_attached());
        assert!(!a.io(), "1.5 io on an unattached connection fails");
        let sel = Selector::new();
        assert!(a.add_to_selector(&sel) && b.add_to_selector(&sel));
        a.send_buffer().unwrap().modify(|s| s.write(b"again"));
        assert!(pump(&sel, &mut a, &mut b, 5));
    }

    #[test]
    fn many_idle_connections_do_not_hide_the_active_one() {
        let sel = Selector::new();
        let mut idle: Vec<Connection> = Vec::new();
        for _ in 0..200 {
            let (mut x, mut y) = pair(16);
            assert!(x.add_to_selector(&sel) && y.add_to_selector(&sel));
            idle.push(x);
            idle.push(y);
        }
        let (mut a, mut b) = pair(1024);
        assert!(a.add_to_selector(&sel) && b.add_to_selector(&sel));
        a.send_buffer().unwrap().modify(|s| s.write(&[7u8; 1000]));
        assert!(pump(&sel, &mut a, &mut b, 1000));
        assert_eq!(sel.num_objects(), 402);
        drop(idle);
        assert_eq!(sel.num_objects(), 2);
    }

    #[test]
    fn dummy_loops_back_and_ignores_selectors() {
        let sel = Selector::new();
        let mut d = Connection::new();
        assert!(d.create_dummy(16));
        assert!(Arc::ptr_eq(d.read_buffer().unwrap(), d.send_buffer().unwrap()));
        assert!(d.add_to_selector(&sel));
        assert_eq!(sel.num_objects(), 0);
        d.send_buffer().unwrap().modify(|s| s.write(b"echo"));
        assert!(d.io());
        assert_eq!(d.read_buffer().unwrap().with(|r| r.data().to_vec()), b"echo");
        assert!(!d.create_dummy(16), "already active");
        assert!(!Connection::new().create_dummy(32769));
    }
}
