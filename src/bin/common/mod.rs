//! Start-up plumbing shared by the distcache tools (`dc_server`,
//! `dc_client`, `dc_snoop`, `dc_test`): number parsing, signals, daemon
//! mode, pid files, user switching and unix socket ownership.
//!
//! Every call into the C library that Rust cannot check lives in the
//! `os` submodule, each block with its own safety argument.
#![allow(dead_code)] // each tool uses a different subset

pub mod peer;
pub mod tls;

use distcache_core::nal::address::{Address, Transport};
use distcache_core::nal::listener::Listener;
use std::sync::atomic::{AtomicBool, Ordering};

/// The tool's name for messages: the last part of how it was started.
pub fn prog() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(std::path::Path::new)
        .and_then(std::path::Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "distcache".to_string())
}

/// Prints `prog: msg` and exits with status 1.
pub fn fail(msg: &str) -> ! {
    eprintln!("{}: {msg}", prog());
    std::process::exit(1)
}

/// Prints `prog: msg`, then the tool's usage text, and exits with status 1.
pub fn fail_usage(msg: &str, usage_text: &str) -> ! {
    eprintln!("{}: {msg}", prog());
    eprint!("{usage_text}");
    std::process::exit(1)
}

/// Every flag has a one-dash and a two-dash form (`-listen`, `--listen`):
/// the one-dash form, which the tools match on.
pub fn flag_name(arg: &str) -> &str {
    match arg.strip_prefix("--") {
        Some(rest) if !rest.is_empty() && !rest.starts_with('-') => &arg[1..],
        _ => arg,
    }
}

/// `-flag requires an argument`.
pub fn missing_value(flag: &str) -> String {
    format!("{flag} requires an argument")
}

/// `unrecognised option '-x'`.
pub fn unrecognised(arg: &str) -> String {
    format!("unrecognised option '{arg}'")
}

/// `invalid -flag 'value': valid` (what would have been accepted).
pub fn invalid(flag: &str, value: &str, valid: &str) -> String {
    format!("invalid {flag} '{value}': {valid}")
}

/// The valid range of a numeric flag, for `invalid`.
pub fn range(lo: impl std::fmt::Display, hi: impl std::fmt::Display, unit: &str) -> String {
    if unit.is_empty() {
        format!("give a whole number from {lo} to {hi}")
    } else {
        format!("give a whole number of {unit} from {lo} to {hi}")
    }
}

/// The operating system's reason, without Rust's "(os error N)" suffix.
pub fn os_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The addresses a tool takes, for messages about one that did not parse.
pub const ADDRESS_FORMS: &str =
    "expected UNIX:/path, IP:port, IP:host:port, IPv6:[host]:port or FD:n, 2 to 255 characters";

/// Parses `text` as an address and starts listening on it; exits with a
/// message saying why when either fails (`flag` names the option).
pub fn listen_or_exit(flag: &str, text: &str, buffer_size: u32) -> (Address, Listener) {
    let mut addr = Address::new();
    if !addr.create(text.as_bytes(), buffer_size) {
        fail(&format!("can't listen on '{text}' ({flag}): not a valid address ({ADDRESS_FORMS})"));
    }
    let mut listener = Listener::new();
    if let Err(e) = listener.open(&addr) {
        fail(&format!("can't listen on '{text}' ({flag}): {}", os_reason(&e)));
    }
    (addr, listener)
}

/// Parses `text` as an address to connect to; exits with a message saying
/// why when it does not parse or cannot be connected to.
pub fn connect_address_or_exit(flag: &str, text: &str, buffer_size: u32) -> Address {
    let mut addr = Address::new();
    if !addr.create(text.as_bytes(), buffer_size) {
        fail(&format!("invalid {flag} '{text}': not a valid address ({ADDRESS_FORMS})"));
    }
    if !addr.can_connect() {
        fail(&format!("invalid {flag} '{text}': a listening-only address (give a host, e.g. IP:127.0.0.1:9001)"));
    }
    let empty_unix = matches!(addr.transport(), Some(Transport::Unix { path }) if path.is_empty());
    if empty_unix {
        fail(&format!("invalid {flag} '{text}': the unix socket path is empty"));
    }
    addr
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

/// True once SIGUSR1 or SIGUSR2 arrived in a `-killable` process (or
/// SIGTERM/SIGINT/SIGHUP after [`stop_on_terminate`]).
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

/// SIGTERM, SIGINT and SIGHUP ask the main loop to stop (instead of
/// ending the process at once), so that it can finish cleanly
/// (dc_server -snapshot).
pub fn stop_on_terminate() {
    os::set_signal(libc::SIGTERM, Some(on_stop_signal));
    os::set_signal(libc::SIGINT, Some(on_stop_signal));
    os::set_signal(libc::SIGHUP, Some(on_stop_signal));
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
/// The error says why not.
pub fn become_user(name: &str) -> Result<(), String> {
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
        match flag_name(arg) {
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
        // A failed start leaves neither a socket file nor a pid file.
        let give_up = |msg: String, pidfile: bool| -> ! {
            listener.remove_socket_file();
            if pidfile {
                if let Some(path) = &self.pidfile {
                    let _ = std::fs::remove_file(path);
                }
            }
            fail(&msg)
        };
        if self.daemon && !daemonize() {
            give_up(format!("couldn't detach: {}", os_reason(&std::io::Error::last_os_error())), false);
        }
        if let Some(path) = &self.pidfile {
            if let Err(e) = write_pidfile(path) {
                give_up(format!("couldn't write the pid file '{path}' (-pidfile): {}", os_reason(&e)), false);
            }
        }
        if let Some(user) = &self.user {
            if let Err(why) = become_user(user) {
                give_up(format!("couldn't become user '{user}' (-user): {why}"), true);
            }
        }
    }
}

/// Accept queue of the tools' listeners (the kernel caps it at
/// net.core.somaxconn).
const TOOL_BACKLOG: i32 = 4096;

/// The pid file: the decimal pid, no trailing newline.
pub fn write_pidfile(path: &str) -> std::io::Result<()> {
    std::fs::write(path, std::process::id().to_string())
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
    pub fn become_user(name: &str) -> Result<(), String> {
        let Some((uid, gid)) = sys::user_ids(name) else {
            return Err("no such user".to_string());
        };
        let Ok(cname) = CString::new(name) else {
            return Err("no such user".to_string());
        };
        let reason = || super::os_reason(&std::io::Error::last_os_error());
        // SAFETY: plain system calls on the ids of an existing user;
        // cname is a valid C string.
        unsafe {
            if libc::setgid(gid) != 0 {
                return Err(reason());
            }
            // Without the right to change groups only a switch to
            // ourselves can succeed below; then the group list is moot.
            if libc::initgroups(cname.as_ptr(), gid) != 0 {
                libc::setgroups(0, std::ptr::null());
            }
            if libc::setuid(uid) != 0 {
                return Err(reason());
            }
        }
        Ok(())
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
    fn both_flag_forms() {
        assert_eq!(flag_name("--listen"), "-listen");
        assert_eq!(flag_name("-listen"), "-listen");
        assert_eq!(flag_name("--"), "--");
        assert_eq!(flag_name("---x"), "---x");
        assert_eq!(flag_name("x"), "x");
    }

    #[test]
    fn messages_say_why() {
        assert_eq!(
            invalid("-sessions", "0", &range(64, 60000, "")),
            "invalid -sessions '0': give a whole number from 64 to 60000"
        );
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(os_reason(&e), "No such file or directory");
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
