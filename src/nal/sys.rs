//! Thin wrappers over the socket system calls libnal needs.
//!
//! This is the one place in the libnal core that talks to the C library;
//! everything above it works with `OwnedFd`, slices and `io::Result`.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Backlog of every listening socket (as the originals).
pub const LISTEN_BACKLOG: i32 = 511;
/// Longest unix-domain path, excluding the terminating NUL.
pub const UNIX_PATH_MAX: usize = 107;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// A socket address in the form the kernel takes.
pub struct RawSockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawSockAddr {
    pub fn inet(addr: SocketAddr) -> Self {
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
                size_of::<libc::sockaddr_in6>()
            }
        };
        Self { storage, len: len as libc::socklen_t }
    }

    /// `path` must be at most 107 bytes (callers truncate first).
    pub fn unix(path: &[u8]) -> Self {
        // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_un.
        let sun = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_un) };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let n = path.len().min(UNIX_PATH_MAX);
        for (dst, src) in sun.sun_path.iter_mut().zip(&path[..n]) {
            *dst = *src as libc::c_char;
        }
        let len = size_of::<libc::sa_family_t>() + n + 1;
        Self { storage, len: len as libc::socklen_t }
    }

    fn family(&self) -> libc::c_int {
        self.storage.ss_family as libc::c_int
    }

    fn as_ptr(&self) -> *const libc::sockaddr {
        &self.storage as *const _ as *const libc::sockaddr
    }
}

/// A new non-blocking stream socket for `addr`'s family.
pub fn stream_socket(addr: &RawSockAddr) -> io::Result<OwnedFd> {
    // SAFETY: plain system call; the result is checked before use.
    let fd = cvt(unsafe { libc::socket(addr.family(), libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) })?;
    // SAFETY: fd was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// [`stream_socket`], closed on exec (for client library sockets, which
/// the application's child processes must not inherit).
pub fn stream_socket_cloexec(addr: &RawSockAddr) -> io::Result<OwnedFd> {
    // SAFETY: plain system call; the result is checked before use.
    let fd =
        cvt(unsafe { libc::socket(addr.family(), libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: fd was just returned by socket() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: passes a pointer to a live c_int and its exact size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const _ as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

pub fn set_nodelay(fd: RawFd, on: bool) -> io::Result<()> {
    set_int_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, on as i32)
}

/// Binds and listens; inet sockets get SO_REUSEADDR (IPv6 ones V6ONLY so an
/// IPv4 listener on the same port can coexist).
pub fn bind_listen(fd: &OwnedFd, addr: &RawSockAddr) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    if addr.family() != libc::AF_UNIX {
        set_int_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    }
    if addr.family() == libc::AF_INET6 {
        set_int_opt(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    // SAFETY: addr points at a sockaddr of the stated length.
    cvt(unsafe { libc::bind(raw, addr.as_ptr(), addr.len) })?;
    // SAFETY: plain system call on a descriptor we own.
    cvt(unsafe { libc::listen(raw, LISTEN_BACKLOG) })?;
    Ok(())
}

/// Changes the accept queue length of a listening socket (the kernel caps
/// it at net.core.somaxconn).
pub fn set_backlog(fd: &OwnedFd, backlog: i32) -> io::Result<()> {
    // SAFETY: plain system call on a descriptor we own; on a listening
    // socket listen() only changes the backlog.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(())
}

/// Starts a connect; Ok(true) when it completed at once, Ok(false) while in
/// progress.
pub fn connect(fd: &OwnedFd, addr: &RawSockAddr) -> io::Result<bool> {
    // SAFETY: addr points at a sockaddr of the stated length.
    match cvt(unsafe { libc::connect(fd.as_raw_fd(), addr.as_ptr(), addr.len) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Accepts one pending connection as a non-blocking socket.
pub fn accept(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: NULL address pointers are allowed by accept4.
    let new = cvt(unsafe { libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_NONBLOCK) })?;
    // SAFETY: new was just returned by accept4 and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

pub fn socket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors socketpair writes.
    cvt(unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0, fds.as_mut_ptr()) })?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The pending error of a socket (completion status of a connect).
pub fn take_socket_error(fd: RawFd) -> io::Result<i32> {
    let mut err: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: err/len point at live locals of the right size.
    cvt(unsafe {
        libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR, &mut err as *mut _ as *mut libc::c_void, &mut len)
    })?;
    Ok(err)
}

pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor number; failure is reported, not UB.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is a valid writable region of buf.len() bytes.
    cvt_size(unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) })
}

/// Writes to a socket without raising SIGPIPE.
pub fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is a valid readable region of buf.len() bytes.
    cvt_size(unsafe { libc::send(fd, buf.as_ptr() as *const libc::c_void, buf.len(), libc::MSG_NOSIGNAL) })
}

/// Writes to a descriptor of any kind (pipes, terminals, files).
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is a valid readable region of buf.len() bytes.
    cvt_size(unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) })
}

/// Waits until `fd` is readable; Err(EINTR) when a signal arrives.
pub fn wait_readable(fd: RawFd) -> io::Result<()> {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: pfd is one live pollfd.
    cvt(unsafe { libc::poll(&mut pfd, 1, -1) }).map(|_| ())
}

/// Waits up to `timeout_ms` for `events` (or an error or hang-up) on `fd`;
/// Ok(false) when the time passed first.
pub fn poll_one(fd: RawFd, events: libc::c_short, timeout_ms: libc::c_int) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd, events, revents: 0 };
    // SAFETY: pfd is one live pollfd.
    cvt(unsafe { libc::poll(&mut pfd, 1, timeout_ms) }).map(|n| n > 0)
}

/// poll(2) over `fds`, waiting at most `timeout` (None: no limit), with
/// microsecond precision (ppoll). Returns how many descriptors have events.
pub fn poll_fds(fds: &mut [libc::pollfd], timeout: Option<std::time::Duration>) -> io::Result<usize> {
    let ts = timeout.map(|d| libc::timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos() as _ });
    let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: fds is a live slice of pollfd of the length passed; tsp is
    // NULL or points at a live timespec; no signal mask is passed.
    let n = unsafe { libc::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, tsp, std::ptr::null()) };
    cvt(n).map(|n| n as usize)
}

/// Whether a descriptor number refers to an open descriptor.
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any number is harmless; EBADF means not open.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Takes ownership of a descriptor number the caller handed over.
pub fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass descriptors that the API contract transfers to us
    // (FD: addresses), and each is owned exactly once.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn c_path(path: &[u8]) -> io::Result<CString> {
    CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

pub fn chmod(path: &[u8], mode: u32) -> io::Result<()> {
    let p = c_path(path)?;
    // SAFETY: p is a valid NUL-terminated string.
    cvt(unsafe { libc::chmod(p.as_ptr(), mode as libc::mode_t) }).map(|_| ())
}

pub fn chown(path: &[u8], uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    let p = c_path(path)?;
    let uid = uid.unwrap_or(u32::MAX); // (uid_t)-1: leave unchanged
    let gid = gid.unwrap_or(u32::MAX);
    // SAFETY: p is a valid NUL-terminated string.
    cvt(unsafe { libc::chown(p.as_ptr(), uid, gid) }).map(|_| ())
}

/// Looks up a user: (uid, primary gid).
pub fn user_ids(name: &str) -> Option<(u32, u32)> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0u8; 16384];
    // SAFETY: passwd is plain data; all-zero is a valid value.
    let mut pwd: libc::passwd = unsafe { zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to a live object of the right size.
    let rc = unsafe {
        libc::getpwnam_r(name.as_ptr(), &mut pwd, buf.as_mut_ptr() as *mut libc::c_char, buf.len(), &mut result)
    };
    (rc == 0 && !result.is_null()).then_some((pwd.pw_uid, pwd.pw_gid))
}

pub fn group_id(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0u8; 16384];
    // SAFETY: group is plain data; all-zero is a valid value.
    let mut grp: libc::group = unsafe { zeroed() };
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer refers to a live object of the right size.
    let rc = unsafe {
        libc::getgrnam_r(name.as_ptr(), &mut grp, buf.as_mut_ptr() as *mut libc::c_char, buf.len(), &mut result)
    };
    (rc == 0 && !result.is_null()).then_some(grp.gr_gid)
}

pub fn unlink(path: &[u8]) {
    if let Ok(p) = c_path(path) {
        // SAFETY: p is a valid NUL-terminated string; failure is ignored on purpose.
        unsafe { libc::unlink(p.as_ptr()) };
    }
}

/// First IPv4 address of a host name or dotted quad.
pub fn resolve_v4(host: &str) -> Option<Ipv4Addr> {
    use std::net::ToSocketAddrs;
    (host, 0).to_socket_addrs().ok()?.find_map(|a| match a {
        SocketAddr::V4(a) => Some(*a.ip()),
        _ => None,
    })
}

/// First IPv6 address of a host name or literal.
pub fn resolve_v6(host: &str) -> Option<Ipv6Addr> {
    if let Ok(ip) = host.parse::<Ipv6Addr>() {
        return Some(ip);
    }
    use std::net::ToSocketAddrs;
    (host, 0).to_socket_addrs().ok()?.find_map(|a| match a {
        SocketAddr::V6(a) => Some(*a.ip()),
        _ => None,
    })
}

/// Whether `fd` is readable right now (no waiting).
pub fn readable_now(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: pfd is one live pollfd; timeout 0 never blocks.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0 && pfd.revents & libc::POLLIN != 0
}

/// Duplicates a descriptor (used to register one file twice with epoll).
pub fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor number; failure is reported.
    let new = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: new was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Runs `handler` in the child after every fork().
pub fn at_fork_child(handler: extern "C" fn()) {
    // SAFETY: registers a plain function pointer; the handler only touches
    // an atomic, which is safe in a freshly forked child.
    unsafe { libc::pthread_atfork(None, None, Some(handler)) };
}

/// The address of the peer of a connected socket, in libnal's notation
/// (`IP:1.2.3.4:5`, `IPv6:[::1]:5`, `UNIX:` for a unix socket); for log
/// lines.
pub fn peer_name(fd: RawFd) -> String {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: storage is writable for len bytes; the kernel writes at most
    // that much and updates len.
    let ret = unsafe { libc::getpeername(fd, &mut storage as *mut _ as *mut libc::sockaddr, &mut len) };
    if ret != 0 {
        return format!("(unknown peer: {})", io::Error::last_os_error());
    }
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(&storage as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            format!("IP:{ip}:{}", u16::from_be(sin.sin_port))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(&storage as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            format!("IPv6:[{ip}]:{}", u16::from_be(sin6.sin6_port))
        }
        libc::AF_UNIX => "UNIX:(local)".to_string(),
        other => format!("(address family {other})"),
    }
}

/// Writes several buffers to a socket in one call, without raising SIGPIPE.
pub fn send_vectored(fd: RawFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: msghdr is plain data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    // IoSlice is guaranteed ABI-compatible with iovec on Unix.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(libc::UIO_MAXIOV as usize) as _;
    // SAFETY: msg points at bufs.len() valid, readable iovecs for the
    // duration of the call; no address or control data.
    cvt_size(unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) })
}
