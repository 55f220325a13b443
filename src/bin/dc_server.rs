//! dc_server: the distcache session cache server.
//!
//! Accepts clients on one libnal address and answers their requests from
//! the builtin cache. Prints a statistics line on stderr when the session
//! count changes (at most once a second) or, with `-progress N`, whenever
//! the operation count crosses a multiple of N.

use distcache_core::cache::{BuiltinCache, Now};
use distcache_core::nal::address::Address;
use distcache_core::nal::buffer::SharedBuffer;
use distcache_core::nal::connection::Connection;
use distcache_core::nal::listener::Listener;
use distcache_core::nal::selector::{SelectError, Selector};
use distcache_core::nal::sys;
use distcache_core::protocol::plug::WriteState;
use distcache_core::protocol::{Corrupt, Plug};
use distcache_core::server::{ClientFailure, Server, Step};
use std::ffi::CString;
use std::io::{self, Write};
use std::process::exit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUFFER_SIZE: u32 = 4096;
/// Send buffers grow to this for responses that do not fit.
const MAX_SEND_BUFFER: usize = 32768;
const DEFAULT_SESSIONS: usize = 512;
const MAX_SESSIONS: usize = 60000;
const MAX_PROGRESS: u64 = 1_000_000;
/// The loop wakes up at least this often.
const TICK_USEC: u64 = 500_000;

static STOP: AtomicBool = AtomicBool::new(false);

fn usage() -> ! {
    eprint!(
        "Usage: dc_server [options]\n\
         where options include;\n\
         \x20   -listen <addr>       - the address to listen on (required)\n\
         \x20   -sessions <num>      - the maximum number of sessions to store (default: 512)\n\
         \x20   -expiry-floor <ms>   - store sessions added with a shorter timeout for <ms> (default: 0, off)\n\
         \x20   -progress <num>      - also report every <num> operations\n\
         \x20   -daemon              - detach and run in the background\n\
         \x20   -pidfile <path>      - write the process id to <path>\n\
         \x20   -user <user>         - run as <user> once listening\n\
         \x20   -sockowner <user>    - owner of the unix socket file\n\
         \x20   -sockgroup <group>   - group of the unix socket file\n\
         \x20   -sockperms <oct>     - permissions of the unix socket file\n\
         \x20   -killable            - exit cleanly on SIGUSR1 or SIGUSR2\n\
         \x20   -h                   - display this usage message\n\
         'addr' examples: UNIX:/tmp/dc.sock, IP:9001, IP:127.0.0.1:9001, IPv6:[::1]:9001\n"
    );
    exit(0)
}

fn fail_usage(msg: &str) -> ! {
    eprintln!("{msg}");
    let _ = io::stderr().flush();
    eprint!("Run 'dc_server -h' for the list of options.\n");
    exit(1)
}

/// C `atoi`: optional white space and sign, leading digits, rest ignored.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add((b - b'0') as i64);
    }
    if neg {
        -v
    } else {
        v
    }
}

#[derive(Default)]
struct Options {
    listen: Option<String>,
    sessions: usize,
    progress: u64,
    expiry_floor: u64,
    daemon: bool,
    pidfile: Option<String>,
    user: Option<String>,
    sockowner: Option<String>,
    sockgroup: Option<String>,
    sockperms: Option<String>,
    killable: bool,
}

fn parse_args() -> Options {
    let mut o = Options { sessions: DEFAULT_SESSIONS, ..Default::default() };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> String {
            args.next().unwrap_or_else(|| fail_usage(&format!("Error, --{name} requires an argument")))
        };
        match arg.as_str() {
            "-h" | "-help" | "-?" => usage(),
            "-listen" => o.listen = Some(value("listen")),
            "-sessions" => {
                let v = atoi(&value("sessions"));
                // The cache needs at least 64 slots; smaller values are
                // refused here rather than after start-up.
                if v < 64 || v > MAX_SESSIONS as i64 {
                    fail_usage("Error, --sessions given an invalid argument");
                }
                o.sessions = v as usize;
            }
            "-progress" => {
                let v = atoi(&value("progress"));
                if !(0..=MAX_PROGRESS as i64).contains(&v) {
                    fail_usage("Error, --progress given an invalid argument");
                }
                o.progress = v as u64;
            }
            "-expiry-floor" => {
                let v = atoi(&value("expiry-floor"));
                if !(0..=604_800_000).contains(&v) {
                    fail_usage("Error, --expiry-floor given an invalid argument");
                }
                o.expiry_floor = v as u64;
            }
            "-daemon" => o.daemon = true,
            "-pidfile" => o.pidfile = Some(value("pidfile")),
            "-user" => o.user = Some(value("user")),
            "-sockowner" => o.sockowner = Some(value("sockowner")),
            "-sockgroup" => o.sockgroup = Some(value("sockgroup")),
            "-sockperms" => o.sockperms = Some(value("sockperms")),
            "-killable" => o.killable = true,
            _ => fail_usage(&format!("Error, \"{arg}\" not recognised")),
        }
    }
    o
}

extern "C" fn on_stop_signal(_sig: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signals(killable: bool) {
    let handler =
        if killable { on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t } else { libc::SIG_IGN };
    // SAFETY: installing SIG_IGN or a handler that only stores to an
    // atomic flag (async-signal-safe) is sound at any time.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGUSR1, handler);
        libc::signal(libc::SIGUSR2, handler);
    }
}

/// Raises the descriptor limit to the hard limit (many clients).
fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: lim is a valid rlimit for the kernel to fill and read.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn daemonize() -> bool {
    // SAFETY: the process is single-threaded here; fork, setsid, chdir,
    // open and dup2 are used exactly as in any classic daemon start-up.
    unsafe {
        match libc::fork() {
            -1 => return false,
            0 => {}
            _ => libc::_exit(0),
        }
        if libc::setsid() < 0 {
            return false;
        }
        let root = CString::new("/").unwrap();
        if libc::chdir(root.as_ptr()) != 0 {
            return false;
        }
        let null = CString::new("/dev/null").unwrap();
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

fn become_user(name: &str) -> bool {
    let Some((uid, gid)) = sys::user_ids(name) else {
        return false;
    };
    let Ok(cname) = CString::new(name) else {
        return false;
    };
    // SAFETY: plain system calls on ids of an existing user.
    unsafe {
        if libc::setgid(gid) != 0 {
            return false;
        }
        if libc::initgroups(cname.as_ptr(), gid) != 0 && libc::setgroups(0, std::ptr::null()) != 0 {
            // without the right to change groups, only a no-op switch to
            // ourselves can still succeed below
        }
        libc::setuid(uid) == 0
    }
}

/// One connected client.
struct Client {
    conn: Connection,
    plug: Plug,
    read: Arc<SharedBuffer>,
    send: Arc<SharedBuffer>,
}

impl Client {
    /// Sends a fresh response at once instead of waiting for the next
    /// select to report the socket writable: one round per request. A
    /// response larger than the send buffer grows it to the 32 KiB
    /// maximum, so big sessions go out in one write. Whatever the socket
    /// does not take stays buffered for the normal I/O path (which also
    /// reports errors).
    fn push_out(&mut self) {
        if self.plug.write_state() == WriteState::Queued {
            self.send.modify(|b| b.set_size(MAX_SEND_BUFFER));
            self.plug.flush(&self.send);
        }
        let fd = self.conn.raw_fd();
        loop {
            let sent = self.send.modify(|b| match sys::send(fd, b.data()) {
                Ok(n) => {
                    b.consume(n);
                    n
                }
                Err(_) => 0,
            });
            self.plug.flush(&self.send);
            if sent == 0 || self.send.with(|b| b.is_empty()) {
                break;
            }
        }
    }
}

/// The statistics line and when to print it.
struct Stats {
    progress: u64,
    last_line: Instant,
    last_ops: u64,
    last_sessions: usize,
}

impl Stats {
    fn tick(&mut self, server: &mut Server, now: Now) {
        let ops = server.operations();
        let crossed = self.progress > 0 && ops / self.progress > self.last_ops / self.progress;
        if !crossed && self.last_line.elapsed() < Duration::from_secs(1) {
            return;
        }
        let sessions = server.items_stored(now);
        if !crossed && sessions == self.last_sessions {
            return;
        }
        let (sign, diff) = match sessions.cmp(&self.last_sessions) {
            std::cmp::Ordering::Greater => ('+', sessions - self.last_sessions),
            std::cmp::Ordering::Less => ('-', self.last_sessions - sessions),
            std::cmp::Ordering::Equal => ('=', 0),
        };
        eprintln!(
            "Info, total operations = {:7}  (+ {:5}), total sessions = {:5}  ({}{:3})",
            ops,
            ops - self.last_ops,
            sessions,
            sign,
            diff
        );
        self.last_line = Instant::now();
        self.last_ops = ops;
        self.last_sessions = sessions;
    }
}

fn main() {
    let o = parse_args();
    let Some(listen) = o.listen.clone() else {
        fail_usage("Error, must provide -listen");
    };
    install_signals(o.killable);
    raise_fd_limit();

    let mut addr = Address::new();
    let mut listener = Listener::new();
    if !addr.create(listen.as_bytes(), BUFFER_SIZE) || !listener.create(&addr) {
        eprintln!("Error, can't listen on '{listen}'");
        exit(1);
    }
    if (o.sockowner.is_some() || o.sockgroup.is_some())
        && !listener.set_fs_owner(o.sockowner.as_deref(), o.sockgroup.as_deref())
    {
        eprintln!(
            "Warning, can't set socket ownership to user '{}' and group '{}', continuing anyway",
            o.sockowner.as_deref().unwrap_or("(null)"),
            o.sockgroup.as_deref().unwrap_or("(null)")
        );
    }
    if let Some(perms) = &o.sockperms {
        if !listener.set_fs_perms(perms) {
            eprintln!("Warning, can't set socket permissions to '{perms}', continuing anyway");
        }
    }
    if o.daemon && !daemonize() {
        eprintln!("Error, couldn't detach!");
        exit(1);
    }
    if let Some(path) = &o.pidfile {
        if std::fs::write(path, std::process::id().to_string()).is_err() {
            eprintln!("Error, couldn't open 'pidfile' at '{path}'.");
            exit(1);
        }
    }
    if let Some(user) = &o.user {
        if !become_user(user) {
            eprintln!("Error, couldn't become user '{user}'.");
            exit(1);
        }
    }

    let Some(cache) = BuiltinCache::new(o.sessions) else {
        eprintln!("Error, malloc/initialisation failure");
        exit(1);
    };
    let mut server = Server::new(Box::new(cache));
    server.set_expiry_floor(o.expiry_floor);
    let sel = Selector::new();
    if !listener.add_to_selector(&sel) {
        eprintln!("Error, selector problem");
        exit(1);
    }
    exit(serve(&mut server, &mut listener, &sel, o.progress));
}

fn serve(server: &mut Server, listener: &mut Listener, sel: &Selector, progress: u64) -> i32 {
    let mut clients: Vec<Option<Client>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    // Selector slot -> client index, so each round visits only the clients
    // the select reported, plus those still holding a buffered request.
    let mut by_slot: Vec<Option<usize>> = Vec::new();
    let mut pending: Vec<usize> = Vec::new();
    let mut live = 0usize;
    let mut stats = Stats { progress, last_line: Instant::now(), last_ops: 0, last_sessions: 0 };
    let mut reported_versions = 0u32;
    loop {
        if STOP.load(Ordering::SeqCst) {
            return 0;
        }
        // Buffered requests are answered without waiting for the network.
        let timeout = if pending.is_empty() { TICK_USEC } else { 0 };
        match sel.select(timeout, true) {
            Ok(_) => {}
            Err(SelectError::Os(e)) if e.kind() == io::ErrorKind::Interrupted => {
                if !STOP.load(Ordering::SeqCst) {
                    eprintln!("Error, select interrupted for unknown signal, continuing");
                }
                continue;
            }
            Err(_) => {
                eprintln!("Error, select() failed");
                return 1;
            }
        }
        let now = Now::wall_clock();
        let mut visit = std::mem::take(&mut pending);
        visit.extend(sel.reported_slots().into_iter().filter_map(|s| by_slot.get(s).copied().flatten()));
        visit.sort_unstable();
        visit.dedup();
        // New clients: everything queued on the listener.
        let mut first = true;
        loop {
            let mut conn = Connection::new();
            let accepted = if first { conn.accept(listener) } else { conn.accept_queued(listener) };
            first = false;
            if !accepted {
                break;
            }
            if !conn.add_to_selector(sel) {
                continue; // dropped: closes the descriptor
            }
            let (Some(read), Some(send), Some(slot)) =
                (conn.read_buffer().cloned(), conn.send_buffer().cloned(), conn.selector_slot())
            else {
                continue;
            };
            let c = Client { conn, plug: Plug::new(false), read, send };
            let index = match free.pop() {
                Some(i) => {
                    clients[i] = Some(c);
                    i
                }
                None => {
                    clients.push(Some(c));
                    clients.len() - 1
                }
            };
            if by_slot.len() <= slot {
                by_slot.resize(slot + 1, None);
            }
            by_slot[slot] = Some(index);
            live += 1;
        }
        for i in visit {
            let Some(c) = clients[i].as_mut() else { continue };
            let ok = c.conn.io()
                && match server.process(&mut c.plug, &c.read, &c.send, now) {
                    Ok(Step::Answered) => {
                        c.push_out();
                        if c.plug.has_message() {
                            pending.push(i);
                        }
                        true
                    }
                    Ok(_) => true,
                    Err(ClientFailure::Corrupt(Corrupt::Version(level))) => {
                        if reported_versions < 10 {
                            reported_versions += 1;
                            eprintln!("libdistcache(pid={}) {}", std::process::id(), Corrupt::Version(level));
                        }
                        false
                    }
                    Err(_) => false,
                };
            if !ok {
                if let Some(slot) = c.conn.selector_slot() {
                    by_slot[slot] = None;
                }
                clients[i] = None; // closes the connection
                free.push(i);
                live -= 1;
            }
        }
        stats.tick(server, now);
        if listener.finished() && live == 0 {
            return 0;
        }
    }
}
