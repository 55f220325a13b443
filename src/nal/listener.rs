//! NAL_LISTENER: a listening socket (or an `FD:` pseudo-listener that yields
//! exactly one connection).

use super::address::{Address, Transport};
use super::connection::Endpoint;
use super::nagle_enabled;
use super::selector::{Attachment, EntryFds, EntrySpec, Selector, EXCEPT, READ, READ_SEND};
use super::sys;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

enum State {
    Socket {
        fd: OwnedFd,
        unix_path: Option<Vec<u8>>,
        /// TCP_NODELAY of the listening socket (false for unix sockets).
        nodelay: bool,
    },
    /// The descriptors are not owned until the connection takes them.
    Fd { read: RawFd, write: RawFd, accepted: bool },
}

/// What [`Listener::accept_next`] found.
pub(crate) enum Accepted {
    Connection(Endpoint),
    /// Nothing is waiting.
    Nothing,
    /// Accepting failed (a descriptor limit, say); try again later.
    Failed(io::Error),
}

/// A listener (the C `NAL_LISTENER`).
#[derive(Default)]
pub struct Listener {
    state: Option<State>,
    attach: Option<Attachment>,
    /// Default buffer size copied from the address at creation.
    def_buffer_size: u32,
    /// Why the last accept through the selector failed, other than for
    /// want of a pending connection.
    accept_error: Option<io::Error>,
    /// Binding made by the C extension layer (`nal_devel.h`); empty on the
    /// builtin path.
    pub devel: super::DevelSlot,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.reset();
    }
}

impl Listener {
    pub fn new() -> Self {
        Self::default()
    }

    /// For an IPv4/IPv6 listener, the TCP_NODELAY its accepted sockets
    /// inherit from it; None where Nagle does not apply. Known here, so
    /// accepting needs no `getsockname`, and no `setsockopt` while the
    /// process-wide setting is the one the listener was created with.
    pub(crate) fn inherited_nodelay(&self) -> Option<bool> {
        match &self.state {
            Some(State::Socket { unix_path: None, nodelay, .. }) => Some(*nodelay),
            _ => None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.state.is_some()
    }

    pub fn def_buffer_size(&self) -> u32 {
        self.def_buffer_size
    }

    /// Starts listening on `addr` (`NAL_LISTENER_create`). A unix socket
    /// path is unlinked first, as the originals did.
    pub fn create(&mut self, addr: &Address) -> bool {
        self.open(addr).is_ok()
    }

    /// `create`, saying why it failed: the operating system's reason when
    /// a system call did, for tools to report.
    pub fn open(&mut self, addr: &Address) -> io::Result<()> {
        if self.is_active() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "the listener is already listening"));
        }
        let Some(transport) = addr.transport().filter(|_| addr.can_listen()) else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the address was not parsed"));
        };
        let (raw, unix_path) = match transport {
            Transport::Ipv4 { host, port } => (
                sys::RawSockAddr::inet(SocketAddr::new(IpAddr::V4(host.unwrap_or(Ipv4Addr::UNSPECIFIED)), *port)),
                None,
            ),
            Transport::Ipv6 { host, port } => (
                sys::RawSockAddr::inet(SocketAddr::new(IpAddr::V6(host.unwrap_or(Ipv6Addr::UNSPECIFIED)), *port)),
                None,
            ),
            Transport::Unix { path } => {
                sys::unlink(path);
                (sys::RawSockAddr::unix(path), Some(path.clone()))
            }
            Transport::Fd { read, write } => {
                self.state = Some(State::Fd { read: *read, write: *write, accepted: false });
                self.def_buffer_size = addr.def_buffer_size();
                return Ok(());
            }
        };
        let fd = sys::stream_socket(&raw)?;
        sys::bind_listen(&fd, &raw)?;
        // Accepted sockets inherit TCP_NODELAY: set it once here rather
        // than on every accepted socket.
        let nodelay = unix_path.is_none() && !nagle_enabled() && sys::set_nodelay(fd.as_raw_fd(), true).is_ok();
        self.state = Some(State::Socket { fd, unix_path, nodelay });
        self.def_buffer_size = addr.def_buffer_size();
        Ok(())
    }

    pub fn reset(&mut self) {
        if let Some(att) = self.attach.take() {
            att.detach();
        }
        self.state = None;
    }

    /// Whether no more connections can come: only an `FD:` listener whose
    /// one connection was accepted.
    pub fn finished(&self) -> bool {
        matches!(self.state, Some(State::Fd { accepted: true, .. }))
    }

    pub fn is_attached(&self) -> bool {
        self.attach.as_ref().is_some_and(Attachment::is_persistent)
    }

    /// The C handle of the builtin selector this object is attached to and
    /// its token there.
    pub fn selector_link(&self) -> Option<(usize, usize)> {
        self.attach.as_ref().filter(|a| a.is_persistent()).and_then(Attachment::handle_and_token)
    }

    /// Whether `sel` is the selector this listener is registered with.
    pub fn registered_with(&self, sel: &Selector) -> bool {
        self.attach.as_ref().is_some_and(|a| a.is_live() && sel.same(a.selector()))
    }

    fn spec(&self) -> Option<EntrySpec> {
        let (fds, want) = match self.state.as_ref()? {
            State::Socket { fd, .. } => (EntryFds::Listen(fd.as_raw_fd()), true),
            State::Fd { read, accepted, .. } => {
                (if *read >= 0 { EntryFds::Listen(*read) } else { EntryFds::Pair { read: -1, write: -1 } }, !accepted)
            }
        };
        Some(EntrySpec { fds, listener: true, want_read: want, want_send: false, connecting: false })
    }

    fn attach_to(&mut self, sel: &Selector, persistent: bool) -> bool {
        let Some(spec) = self.spec() else {
            return false;
        };
        if let Some(old) = self.attach.take() {
            old.detach();
        }
        self.attach = sel.attach(spec, persistent, READ);
        self.attach.is_some()
    }

    /// The descriptor a selector speaking the fd control protocol should
    /// watch for readability; None when nothing more can be accepted.
    pub fn fd_interest(&self) -> Option<RawFd> {
        match self.state.as_ref()? {
            State::Socket { fd, .. } => Some(fd.as_raw_fd()),
            State::Fd { read, accepted: false, .. } if *read >= 0 => Some(*read),
            _ => None,
        }
    }

    /// Whether the last select of the selector this listener is attached
    /// to reported a connection waiting (results are left in place).
    pub fn select_reported(&self) -> bool {
        self.attach.as_ref().is_some_and(|a| a.results(0) & READ != 0)
    }

    /// Whether the listener is registered with a builtin selector.
    pub fn has_attachment(&self) -> bool {
        self.attach.as_ref().is_some_and(Attachment::is_live)
    }

    /// `NAL_LISTENER_add_to_selector`.
    pub fn add_to_selector(&mut self, sel: &Selector) -> bool {
        if !self.is_active() || self.is_attached() {
            return false;
        }
        self.attach_to(sel, true)
    }

    pub fn del_from_selector(&mut self) {
        if let Some(att) = self.attach.take() {
            att.detach();
        }
    }

    /// Older API: register for the next select on `sel` only.
    pub fn register_oneshot(&mut self, sel: &Selector) -> bool {
        if !self.is_active() {
            return false;
        }
        if let Some(att) = &self.attach {
            if att.is_live() && sel.same(att.selector()) {
                if !att.is_persistent() {
                    att.register_oneshot(READ);
                }
                return true;
            }
            if att.is_persistent() {
                return false;
            }
        }
        self.attach_to(sel, false)
    }

    pub fn cancel_oneshot(&mut self, sel: &Selector) {
        if let Some(att) = &self.attach {
            if sel.same(att.selector()) && !att.is_persistent() {
                att.cancel_oneshot();
            }
        }
    }

    /// Accepts the connection the last select reported, at most one per
    /// round; None when nothing is pending.
    pub(crate) fn take_pending(&mut self) -> Option<(Endpoint, u32)> {
        let att = self.attach.as_ref()?;
        let results = att.results(READ_SEND);
        if results & EXCEPT != 0 || results & READ == 0 {
            return None;
        }
        match self.state.as_mut()? {
            State::Socket { fd, .. } => match sys::accept(fd.as_raw_fd()) {
                Ok(new) => {
                    // Report the listener again only if more are waiting.
                    if !sys::readable_now(fd.as_raw_fd()) {
                        att.note_io(true, false, false);
                    }
                    Some((Endpoint::Socket(new), self.def_buffer_size))
                }
                Err(e) => {
                    // Nothing left to accept: stop reporting until the next
                    // event. Other failures (descriptor limit) keep the
                    // listener reported so a later round retries.
                    if e.kind() == io::ErrorKind::WouldBlock {
                        att.note_io(true, false, false);
                    } else {
                        self.accept_error = Some(e);
                    }
                    None
                }
            },
            State::Fd { .. } => self.take_fds(),
        }
    }

    /// Why the last accept through the selector failed (a descriptor
    /// limit, say), if it failed other than for want of a connection;
    /// cleared by asking. Tools pause accepting on exhaustion
    /// ([`super::accept_pause`]).
    pub fn take_accept_error(&mut self) -> Option<io::Error> {
        self.accept_error.take()
    }

    /// For event loops that watch the listening socket themselves: the
    /// descriptor to watch (None for an `FD:` listener, which needs none).
    pub(crate) fn socket_fd(&self) -> Option<RawFd> {
        match self.state.as_ref()? {
            State::Socket { fd, .. } => Some(fd.as_raw_fd()),
            State::Fd { .. } => None,
        }
    }

    /// For event loops that watch the listener themselves: the next
    /// connection, without blocking. An `FD:` listener yields its
    /// descriptors once.
    pub(crate) fn accept_next(&mut self) -> Accepted {
        match self.state.as_ref() {
            Some(State::Socket { fd, .. }) => loop {
                match sys::accept(fd.as_raw_fd()) {
                    Ok(new) => return Accepted::Connection(Endpoint::Socket(new)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Accepted::Nothing,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                    Err(e) => return Accepted::Failed(e),
                }
            },
            Some(State::Fd { .. }) => match self.take_fds() {
                Some((endpoint, _)) => Accepted::Connection(endpoint),
                None => Accepted::Nothing,
            },
            None => Accepted::Nothing,
        }
    }

    fn take_fds(&mut self) -> Option<(Endpoint, u32)> {
        let Some(State::Fd { read, write, accepted }) = self.state.as_mut() else {
            return None;
        };
        if *accepted {
            return None;
        }
        let (r, w) = (*read, *write);
        for fd in [r, w] {
            if fd >= 0 && sys::set_nonblocking(fd).is_err() {
                return None;
            }
        }
        *accepted = true;
        if let Some(att) = &self.attach {
            att.set_wants(Some(false), None);
        }
        let endpoint = if r == w {
            Endpoint::FdSingle(sys::own(r))
        } else {
            Endpoint::FdPair((r >= 0).then(|| sys::own(r)), (w >= 0).then(|| sys::own(w)))
        };
        Some((endpoint, self.def_buffer_size))
    }

    /// Older API: waits (no selector) until a connection can be accepted.
    /// None on a signal or an error.
    pub(crate) fn accept_blocking(&mut self) -> Option<(Endpoint, u32)> {
        loop {
            let fd = match self.state.as_ref()? {
                State::Socket { fd, .. } => fd.as_raw_fd(),
                State::Fd { read, accepted, .. } => {
                    if *accepted || *read < 0 {
                        return None;
                    }
                    *read
                }
            };
            sys::wait_readable(fd).ok()?;
            match self.state.as_ref()? {
                State::Fd { .. } => return self.take_fds(),
                State::Socket { .. } => match sys::accept(fd) {
                    Ok(new) => return Some((Endpoint::Socket(new), self.def_buffer_size)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                    Err(_) => return None,
                },
            }
        }
    }

    fn unix_path(&self) -> Option<&[u8]> {
        match self.state.as_ref()? {
            State::Socket { unix_path: Some(p), .. } => Some(p),
            _ => None,
        }
    }

    /// Removes the unix socket file this listener made (a tool that
    /// fails after binding leaves nothing behind). False when there is
    /// none.
    pub fn remove_socket_file(&self) -> bool {
        match self.unix_path() {
            Some(p) => {
                sys::unlink(p);
                true
            }
            None => false,
        }
    }

    /// Changes the accept queue of a socket listener. libnal's listeners
    /// keep the originals' 511; the tools raise it for bursts of thousands
    /// of connecting clients.
    pub fn set_backlog(&self, backlog: i32) -> bool {
        match self.state.as_ref() {
            Some(State::Socket { fd, .. }) => sys::set_backlog(fd, backlog).is_ok(),
            _ => false,
        }
    }

    /// Changes the owner/group of a unix socket file. Both None: no change.
    pub fn set_fs_owner(&self, owner: Option<&str>, group: Option<&str>) -> bool {
        let Some(path) = self.unix_path() else {
            return false;
        };
        let (mut uid, mut gid) = (None, None);
        if let Some(name) = owner {
            let Some((u, g)) = sys::user_ids(name) else {
                return false;
            };
            uid = Some(u);
            gid = Some(g);
        }
        if let Some(name) = group {
            let Some(g) = sys::group_id(name) else {
                return false;
            };
            gid = Some(g);
        }
        if uid.is_none() && gid.is_none() {
            return true;
        }
        sys::chown(path, uid, gid).is_ok()
    }

    /// Changes the mode of a unix socket file from an octal string.
    pub fn set_fs_perms(&self, octal: &str) -> bool {
        let Some(path) = self.unix_path() else {
            return false;
        };
        let Some(mode) = parse_octal(octal) else {
            return false;
        };
        sys::chmod(path, mode).is_ok()
    }
}

/// Base-8 with `strtol` rules: leading white space and `+` allowed, the
/// whole string consumed, at least one digit.
pub fn parse_octal(text: &str) -> Option<u32> {
    let s = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o7777)
}

#[cfg(test)]
mod tests {
    use super::{parse_octal, Listener};
    use crate::nal::address::Address;

    /// Nagle is set on sockets accepted from IPv4/IPv6 listeners only, and
    /// the listener knows which kind it is without asking the kernel.
    #[test]
    fn inherited_nodelay_follows_the_address() {
        let dir = std::env::temp_dir().join(format!("nal-inet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            (format!("UNIX:{}/l.sock", dir.display()), false),
            ("IP:127.0.0.1:0".to_string(), true),
            ("IPv6:[::1]:0".to_string(), true),
        ];
        for (text, inet) in cases {
            let mut addr = Address::new();
            assert!(addr.create(text.as_bytes(), 0), "{text}");
            let mut list = Listener::new();
            assert_eq!(list.inherited_nodelay(), None);
            if !list.create(&addr) {
                assert!(text.starts_with("IPv6"), "{text}"); // a host without IPv6
                continue;
            }
            // Nagle is off by default: inet listeners carry TCP_NODELAY
            assert_eq!(list.inherited_nodelay(), inet.then_some(true), "{text}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn octal_strings() {
        assert_eq!(parse_octal("600"), Some(0o600));
        assert_eq!(parse_octal("0660"), Some(0o660));
        assert_eq!(parse_octal(""), None);
        assert_eq!(parse_octal("9"), None);
        assert_eq!(parse_octal("60x"), None);
    }
}
