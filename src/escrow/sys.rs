//! System-call wrappers: descriptor passing over unix stream sockets,
//! listening sockets with fixed permissions, liveness probes, start-up
//! locking and the process plumbing of the daemon. Every `unsafe` block of
//! the escrow lives here.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::time::Duration;

/// Most descriptors one control message can carry on Linux (SCM_MAX_FD).
const MAX_FDS_PER_MESSAGE: usize = 253;

/// Control-message storage with the alignment `cmsghdr` needs.
#[repr(C, align(8))]
struct CmsgBuf([u8; 1040]);

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// Sends `bytes` with one `sendmsg` (no SIGPIPE), attaching `fd` as one
/// `SCM_RIGHTS` descriptor when given. Returns the number of bytes sent.
pub fn send_msg(sock: BorrowedFd<'_>, bytes: &[u8], fd: Option<BorrowedFd<'_>>) -> io::Result<usize> {
    let mut cmsg = CmsgBuf([0; 1040]);
    let mut iov = libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() };
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        let raw: RawFd = fd.as_raw_fd();
        // SAFETY: CMSG_SPACE/CMSG_LEN are pure arithmetic on a small size;
        // the buffer is aligned and larger than CMSG_SPACE(4); CMSG_FIRSTHDR
        // returns a pointer into it because msg_controllen covers one
        // header, and CMSG_DATA points at the int slot inside the buffer.
        unsafe {
            msg.msg_control = cmsg.0.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = libc::CMSG_SPACE(mem::size_of::<RawFd>() as u32) as usize;
            let hdr = libc::CMSG_FIRSTHDR(&msg);
            (*hdr).cmsg_level = libc::SOL_SOCKET;
            (*hdr).cmsg_type = libc::SCM_RIGHTS;
            (*hdr).cmsg_len = libc::CMSG_LEN(mem::size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(hdr) as *mut RawFd, raw);
        }
    }
    loop {
        // SAFETY: msg points at live iovec/control storage for the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// What one `recvmsg` delivered.
#[derive(Debug, Default)]
pub struct Received {
    /// Bytes placed at the start of the buffer; 0 means end of stream.
    pub len: usize,
    /// Descriptors that came with them (close-on-exec, owned by the caller).
    pub fds: Vec<OwnedFd>,
    /// The kernel dropped descriptors (`MSG_CTRUNC`), typically because
    /// the receiver had reached its descriptor limit.
    pub dropped: bool,
}

/// One `recvmsg` into `buf`, collecting any `SCM_RIGHTS` descriptors.
pub fn recv_msg(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    let mut cmsg = CmsgBuf([0; 1040]);
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut libc::c_void, iov_len: buf.len() };
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.0.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = cmsg.0.len();
    let n = loop {
        // SAFETY: msg points at live, writable iovec/control storage.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    let mut out = Received { len: n, fds: Vec::new(), dropped: msg.msg_flags & libc::MSG_CTRUNC != 0 };
    // SAFETY: the kernel filled msg_control/msg_controllen; the CMSG_*
    // macros walk headers inside that region only. Each SCM_RIGHTS payload
    // holds (cmsg_len - CMSG_LEN(0)) / sizeof(int) descriptors that were
    // installed in this process and are owned by nobody else yet.
    unsafe {
        let mut hdr = libc::CMSG_FIRSTHDR(&msg);
        while !hdr.is_null() {
            if (*hdr).cmsg_level == libc::SOL_SOCKET && (*hdr).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*hdr).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(hdr) as *const RawFd;
                for i in 0..(bytes / mem::size_of::<RawFd>()).min(MAX_FDS_PER_MESSAGE) {
                    let fd = std::ptr::read_unaligned(data.add(i));
                    out.fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            hdr = libc::CMSG_NXTHDR(&msg, hdr);
        }
    }
    Ok(out)
}

/// A `sockaddr_un` for `path` (which must fit with its NUL).
fn sockaddr(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: an all-zero sockaddr_un is valid.
    let mut addr: libc::sockaddr_un = unsafe { mem::zeroed() };
    if bytes.is_empty() || bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, &src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    let len = mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((addr, len as libc::socklen_t))
}

fn unix_socket(nonblocking: bool) -> io::Result<OwnedFd> {
    let mut ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    if nonblocking {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: plain socket(2) call; a non-negative result is a new
    // descriptor owned by nobody else.
    let fd = unsafe { libc::socket(libc::AF_UNIX, ty, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned here.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates a listening unix stream socket at `path` whose file gets mode
/// 0600 whatever the process umask (the umask is set to 0177 around
/// `bind`; the daemon is single-threaded at this point).
pub fn listen_unix(path: &Path, backlog: i32) -> io::Result<OwnedFd> {
    let (addr, len) = sockaddr(path)?;
    let sock = unix_socket(false)?;
    // SAFETY: umask only swaps the process mask; it is restored below.
    let old = unsafe { libc::umask(0o177) };
    // SAFETY: addr/len describe a valid sockaddr_un.
    let rc = unsafe { libc::bind(sock.as_raw_fd(), &addr as *const _ as *const libc::sockaddr, len) };
    let bind_err = (rc < 0).then(io::Error::last_os_error);
    // SAFETY: restores the previous mask.
    unsafe { libc::umask(old) };
    if let Some(e) = bind_err {
        return Err(e);
    }
    // SAFETY: listen on a bound socket we own.
    if unsafe { libc::listen(sock.as_raw_fd(), backlog) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}

/// Whether something answers on the socket at `path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A listener accepted the connection or has a full backlog.
    Alive,
    /// No file at `path`.
    Missing,
    /// The file exists but nobody listens (a stale socket).
    Stale,
    /// Some other error (errno).
    Error(i32),
}

/// Non-blocking connect to `path`; the probe connection is closed at once.
pub fn probe(path: &Path) -> Probe {
    let (addr, len) = match sockaddr(path) {
        Ok(a) => a,
        Err(e) => return Probe::Error(e.raw_os_error().unwrap_or(libc::EINVAL)),
    };
    let sock = match unix_socket(true) {
        Ok(s) => s,
        Err(e) => return Probe::Error(e.raw_os_error().unwrap_or(libc::EIO)),
    };
    // SAFETY: addr/len describe a valid sockaddr_un.
    let rc = unsafe { libc::connect(sock.as_raw_fd(), &addr as *const _ as *const libc::sockaddr, len) };
    if rc == 0 {
        return Probe::Alive;
    }
    match errno() {
        libc::EAGAIN | libc::EINPROGRESS => Probe::Alive,
        libc::ENOENT => Probe::Missing,
        libc::ECONNREFUSED => Probe::Stale,
        e => Probe::Error(e),
    }
}

/// Removes `path` if it is a socket (never a regular file or directory).
pub fn unlink_socket(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::from_raw_os_error(libc::EADDRINUSE)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// An exclusive `flock` on a directory, released when dropped.
pub struct DirLock(#[allow(dead_code)] File);

/// Locks `dir` (the directory of a socket path) so that concurrent daemon
/// start-ups on it run one after the other. `Ok(None)` when the directory
/// cannot be opened for reading (start-up then proceeds unlocked). Gives
/// up with `ETIMEDOUT` after `timeout`, so that a lock held by something
/// else cannot leave a starting daemon waiting for ever.
pub fn lock_dir(dir: &Path, timeout: Duration) -> io::Result<Option<DirLock>> {
    let Ok(file) = File::open(dir) else {
        return Ok(None);
    };
    let deadline = std::time::Instant::now() + timeout;
    let mut pause = Duration::from_micros(100);
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Some(DirLock(file)));
        }
        match errno() {
            libc::EINTR => continue,
            libc::EWOULDBLOCK => {}
            _ => return Ok(None),
        }
        if std::time::Instant::now() >= deadline {
            return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// Writes a line to descriptor 2 without taking any lock (usable in a
/// forked child of a multi-threaded process).
pub fn write_stderr(line: &str) {
    write_raw(2, line.as_bytes());
}

/// Writes all of `bytes` to `fd` (best effort, no locks).
pub fn write_fd(fd: BorrowedFd<'_>, bytes: &[u8]) {
    write_raw(fd.as_raw_fd(), bytes);
}

fn write_raw(fd: RawFd, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writes from a live slice to a descriptor number; a
        // closed or wrong descriptor only makes write fail.
        let n = unsafe { libc::write(fd, bytes.as_ptr() as *const libc::c_void, bytes.len()) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Ignores SIGPIPE in this process.
pub fn ignore_sigpipe() {
    // SAFETY: installs the SIG_IGN disposition, no handler code involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Result of [`fork`].
pub enum Fork {
    Child,
    Parent(libc::pid_t),
}

/// `fork(2)`. In the child only this crate's daemon code runs, and the
/// child ends with [`exit_now`].
pub fn fork() -> io::Result<Fork> {
    // SAFETY: fork has no memory-safety preconditions; the child avoids
    // locks another thread of the parent could have held (see spawn.rs).
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Fork::Child),
        pid => Ok(Fork::Parent(pid)),
    }
}

/// Ends the process at once (no destructors, no atexit handlers, no
/// stdio flushing of the parent's buffers).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// Starts a new session (detaches from the controlling terminal).
pub fn setsid() {
    // SAFETY: plain setsid(2).
    unsafe { libc::setsid() };
}

/// Waits for child `pid` to exit (reaps it). Errors are ignored: a caller
/// that reaps its own children or ignores SIGCHLD makes this a no-op.
pub fn reap(pid: libc::pid_t) {
    let mut status = 0;
    loop {
        // SAFETY: waitpid with a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r >= 0 || errno() != libc::EINTR {
            return;
        }
    }
}

/// Unblocks every signal and restores default dispositions (SIGPIPE is
/// ignored), so that nothing of the parent's signal setup stays in effect.
pub fn reset_signals() {
    // SAFETY: sigset manipulation on a local set, then sigprocmask and
    // signal with constant dispositions (no handler code is installed).
    unsafe {
        let mut set: libc::sigset_t = mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in 1..libc::SIGRTMIN() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Sets the process name shown by ps/top.
pub fn set_process_name(name: &str) {
    if let Ok(c) = CString::new(name) {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string (cut at 15 bytes).
        unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr() as libc::c_ulong, 0, 0, 0) };
    }
}

/// Points stdin, stdout and (unless `keep_stderr`) stderr at /dev/null.
pub fn redirect_stdio(keep_stderr: bool) {
    let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") else {
        return;
    };
    let last = if keep_stderr { 1 } else { 2 };
    for target in 0..=last {
        // SAFETY: dup2 onto a standard descriptor number; the source is open.
        unsafe { libc::dup2(null.as_raw_fd(), target) };
    }
}

/// Closes every descriptor above 2 except `keep`.
pub fn close_other_fds(keep: RawFd) {
    let ranges = [(3u32, keep as u32 - 1), (keep as u32 + 1, u32::MAX)];
    for (lo, hi) in ranges {
        if lo > hi {
            continue;
        }
        // SAFETY: close_range only closes descriptors of this process; the
        // caller owns the whole process (a freshly forked daemon child).
        let rc = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0u32) };
        if rc == 0 {
            continue;
        }
        // Older kernels: close one by one up to the descriptor limit.
        let mut lim: libc::rlimit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit with a valid out pointer.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        let top = (lim.rlim_cur.min(1 << 20) as u32).min(hi.saturating_add(1));
        for fd in lo..top {
            // SAFETY: as above; errors (not open) are irrelevant.
            unsafe { libc::close(fd as RawFd) };
        }
    }
}

/// Waits until `fd` is readable or `timeout` passes; false on timeout.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: poll on one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if n > 0 {
            return Ok(true);
        }
        if n == 0 {
            return Ok(false);
        }
        if errno() != libc::EINTR {
            return Err(io::Error::last_os_error());
        }
    }
}

/// Peer process id of a connected unix socket (SO_PEERCRED).
pub fn peer_pid(sock: BorrowedFd<'_>) -> io::Result<libc::pid_t> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt into a correctly sized ucred.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut cred as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cred.pid)
}
