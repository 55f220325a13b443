//! Start-up plumbing shared by the distcache tools (`dc_server`,
//! `dc_client`, `dc_snoop`, `dc_test`): number parsing, signals, daemon
//! mode, pid files, user switching and unix socket ownership.
//!
//! Every call into the C library that Rust cannot check lives in the
//! `os` submodule, each block with its own safety argument.
#![allow(dead_code)] // each tool uses a different subset

pub mod peer;
pub mod tls;

use distcache_core::nal::listener::Listener;
use std::sync::atomic::{AtomicBool, Ordering};

/// Prints `msg` and exits with status 1.
pub fn fail(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(1)
}

/// Prints `msg`, then the tool's usage text, and exits with status 1.
pub fn fail_usage(msg: &str, usage_text: &str) -> ! {
    eprintln!("{msg}");
    eprint!("{usage_text}");
    std::process::exit(1)
}

/// C `atoi`: optional leading white space and sign, then leading digits;
/// anything after them is ignored and a string without digits reads as 0.
pub fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// A pure decimal number: digits only, nothing else, no sign.
pub fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

static STOP: AtomicBool = AtomicBool::new(false);

/// True once SIGUSR1 or SIGUSR2 arrived in a `-killable` process.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

extern "C" fn on_stop_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGPIPE ignored; SIGUSR1/SIGUSR2 ignored, or (with `killable`) asking
/// the main loop to stop. Other signals keep their default effect.
pub fn install_signals(killable: bool) {
    os::set_signal(libc::SIGPIPE, None);
    let handler = if killable { Some(on_stop_signal as extern "C" fn(libc::c_int)) } else { None };
    os::set_signal(libc::SIGUSR1, handler);
    os::set_signal(libc::SIGUSR2, handler);
}

/// Only SIGPIPE ignored (for tools without daemon options).
pub fn ignore_sigpipe() {
    os::set_signal(libc::SIGPIPE, None);
}

/// Raises the soft descriptor limit to the hard limit.
pub fn raise_fd_limit() {
    os::raise_fd_limit()
}

/// Detaches from the terminal (see the `os` module); false on failure.
pub fn daemonize() -> bool {
    os::daemonize()
}

/// Switches to `name`: its group, its supplementary groups, its uid.
pub fn become_user(name: &str) -> bool {
    os::become_user(name)
}

/// Applies `-sockowner`/`-sockgroup`/`-sockperms` to a unix listener;
/// failures are warnings only.
pub fn apply_socket_options(listener: &Listener, owner: Option<&str>, group: Option<&str>, perms: Option<&str>) {
    // Thousands of clients may connect at once (per-operation connections):
    // a longer accept queue than libnal's 511 keeps TCP clients from
    // waiting out a dropped SYN. Not possible for FD: listeners.
    listener.set_backlog(TOOL_BACKLOG);
    if (owner.is_some() || group.is_some()) && !listener.set_fs_owner(owner, group) {
        eprintln!(
            "Warning, can't set socket ownership to user '{}' and group '{}', continuing anyway",
            owner.unwrap_or("(null)"),
            group.unwrap_or("(null)")
        );
    }
    if let Some(perms) = perms {
        if !listener.set_fs_perms(perms) {
            eprintln!("Warning, can't set socket permissions to '{perms}', continuing anyway");
        }
    }
}

/// The flags `dc_server` and `dc_client` share for running as a service.
#[derive(Default)]
pub struct ServiceOptions {
    pub daemon: bool,
    pub pidfile: Option<String>,
    pub user: Option<String>,
    pub sockowner: Option<String>,
    pub sockgroup: Option<String>,
    pub sockperms: Option<String>,
    pub killable: bool,
}

impl ServiceOptions {
    /// Takes `arg` when it is one of these flags (`value` fetches the
    /// flag's argument); false when it is not.
    pub fn take(&mut self, arg: &str, value: impl FnOnce() -> String) -> bool {
        match arg {
            "-daemon" => self.daemon = true,
            "-pidfile" => self.pidfile = Some(value()),
            "-user" => self.user = Some(value()),
            "-sockowner" => self.sockowner = Some(value()),
            "-sockgroup" => self.sockgroup = Some(value()),
            "-sockperms" => self.sockperms = Some(value()),
            "-killable" => self.killable = true,
            _ => return false,
        }
        true
    }

    /// Once listening: the socket file's owner and permissions, then
    /// detaching, the pid file (written by the detached process) and the
    /// user switch. A failure prints the originals' message and exits 1.
    pub fn start(&self, listener: &Listener) {
        apply_socket_options(listener, self.sockowner.as_deref(), self.sockgroup.as_deref(), self.sockperms.as_deref());
        if self.daemon && !daemonize() {
            fail("Error, couldn't detach!");
        }
        if let Some(path) = &self.pidfile {
            if !write_pidfile(path) {
                fail(&format!("Error, couldn't open 'pidfile' at '{path}'."));
            }
        }
        if let Some(user) = &self.user {
            if !become_user(user) {
                fail(&format!("Error, couldn't become user '{user}'."));
            }
        }
    }
}

/// Accept queue of the tools' listeners (the kernel caps it at
/// net.core.somaxconn).
const TOOL_BACKLOG: i32 = 4096;

/// The pid file: the decimal pid, no trailing newline.
pub fn write_pidfile(path: &str) -> bool {
    std::fs::write(path, std::process::id().to_string()).is_ok()
}

/// The part of the tools that calls the C library directly.
mod os {
    use distcache_core::nal::sys;
    use std::ffi::CString;

    /// Installs `handler` for `sig`, or ignores the signal when None.
    pub fn set_signal(sig: libc::c_int, handler: Option<extern "C" fn(libc::c_int)>) {
        let action = match handler {
            Some(h) => h as libc::sighandler_t,
            None => libc::SIG_IGN,
        };
        // SAFETY: the handlers used here only store to an atomic flag,
        // which is async-signal-safe; SIG_IGN is always valid.
        unsafe {
            libc::signal(sig, action);
        }
    }

    /// Raises the soft descriptor limit to the hard limit (many clients).
    pub fn raise_fd_limit() {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: lim is a valid rlimit for the kernel to fill and read.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }

    /// Classic detach: fork (the parent exits 0), new session, working
    /// directory `/`, standard descriptors on the null device.
    pub fn daemonize() -> bool {
        let root = CString::new("/").expect("no NUL");
        let null = CString::new("/dev/null").expect("no NUL");
        // SAFETY: called while the process is single-threaded, before the
        // main loop; fork, setsid, chdir, open and dup2 are used as in any
        // daemon start-up and every pointer is a valid C string.
        unsafe {
            match libc::fork() {
                -1 => return false,
                0 => {}
                _ => libc::_exit(0),
            }
            if libc::setsid() < 0 || libc::chdir(root.as_ptr()) != 0 {
                return false;
            }
            let fd = libc::open(null.as_ptr(), libc::O_RDWR);
            if fd < 0 {
                return false;
            }
            for target in 0..3 {
                libc::dup2(fd, target);
            }
            if fd > 2 {
                libc::close(fd);
            }
        }
        true
    }

    /// Switches to a user: primary group, supplementary groups from the
    /// group database, then the uid.
    pub fn become_user(name: &str) -> bool {
        let Some((uid, gid)) = sys::user_ids(name) else {
            return false;
        };
        let Ok(cname) = CString::new(name) else {
            return false;
        };
        // SAFETY: plain system calls on the ids of an existing user;
        // cname is a valid C string.
        unsafe {
            if libc::setgid(gid) != 0 {
                return false;
            }
            // Without the right to change groups only a switch to
            // ourselves can succeed below; then the group list is moot.
            if libc::initgroups(cname.as_ptr(), gid) != 0 {
                libc::setgroups(0, std::ptr::null());
            }
            libc::setuid(uid) == 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi("42"), 42);
        assert_eq!(atoi("  -7x"), -7);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi("+12.5"), 12);
        assert_eq!(atoi(""), 0);
    }

    #[test]
    fn decimal_is_strict() {
        assert_eq!(decimal("5000"), Some(5000));
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal(""), None);
        assert_eq!(decimal("12a"), None);
        assert_eq!(decimal("-1"), None);
        assert_eq!(decimal(" 1"), None);
        assert_eq!(decimal("+1"), None);
    }
}
