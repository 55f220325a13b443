//! dc_server: the distcache session cache server.
//!
//! Accepts clients on one libnal address and answers their requests from
//! the builtin cache. Prints a statistics line on stderr when the session
//! count changes (at most once a second) or, with `-progress N`, whenever
//! the operation count crosses a multiple of N.

mod common;

use distcache_core::cache::{BuiltinCache, Now};
use distcache_core::nal::address::Address;
use distcache_core::nal::buffer::SharedBuffer;
use distcache_core::nal::connection::Connection;
use distcache_core::nal::listener::Listener;
use distcache_core::nal::selector::{SelectError, Selector};
use distcache_core::nal::sys;
use distcache_core::protocol::{Corrupt, Plug};
use distcache_core::server::{ClientFailure, Server, Step};
use std::io::{self, Write};
use std::process::exit;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUFFER_SIZE: u32 = 4096;
/// Send buffers grow to this for responses that do not fit.
const MAX_SEND_BUFFER: usize = 32768;
/// Read buffers grow to this (libnal's largest buffer) while a request of
/// several frames arrives.
const MAX_READ_BUFFER: usize = distcache_core::nal::MAX_BUFFER_SIZE;
const DEFAULT_SESSIONS: usize = 512;
const MAX_SESSIONS: usize = 60000;
const MAX_PROGRESS: u64 = 1_000_000;
/// The loop wakes up at least this often.
const TICK_USEC: u64 = 500_000;

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
                let v = common::atoi(&value("sessions"));
                // The cache needs at least 64 slots; smaller values are
                // refused here rather than after start-up.
                if v < 64 || v > MAX_SESSIONS as i64 {
                    fail_usage("Error, --sessions given an invalid argument");
                }
                o.sessions = v as usize;
            }
            "-progress" => {
                let v = common::atoi(&value("progress"));
                if !(0..=MAX_PROGRESS as i64).contains(&v) {
                    fail_usage("Error, --progress given an invalid argument");
                }
                o.progress = v as u64;
            }
            "-expiry-floor" => {
                let v = common::atoi(&value("expiry-floor"));
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

/// One connected client.
struct Client {
    conn: Connection,
    plug: Plug,
    read: Arc<SharedBuffer>,
    send: Arc<SharedBuffer>,
}

impl Client {
    /// Sends a fresh response at once instead of waiting for the next
    /// select to report the socket writable: one round per request. The
    /// response goes to the socket straight from the plug when nothing
    /// older is buffered; whatever the socket does not take moves into the
    /// send buffer for the normal I/O path (which also reports errors).
    fn push_out(&mut self) {
        let fd = self.conn.raw_fd();
        if self.send.with(|b| b.is_empty()) {
            while !self.plug.queued().is_empty() {
                match sys::send(fd, self.plug.queued()) {
                    Ok(n) if n > 0 => self.plug.advance_queued(n),
                    _ => break,
                }
            }
        }
        if !self.plug.queued().is_empty() {
            // Room for the whole rest of the largest response, so the plug
            // holds nothing back that only a later round would move.
            self.send.modify(|b| b.set_size(MAX_SEND_BUFFER));
        }
        self.plug.flush(&self.send);
        while !self.send.with(|b| b.is_empty()) {
            let sent = self.send.modify(|b| match sys::send(fd, b.data()) {
                Ok(n) => {
                    b.consume(n);
                    n
                }
                Err(_) => 0,
            });
            self.plug.flush(&self.send);
            if sent == 0 {
                break;
            }
        }
    }

    /// A client that sends a request of several frames gets room for the
    /// whole of it, so that such requests arrive in one or two reads
    /// rather than 2-4 KiB at a time. The buffer keeps that size (growing
    /// and shrinking it per request would clear 32 KiB each time).
    fn fit_read_buffer(&mut self) {
        if self.plug.mid_message() && self.read.with(|b| b.size()) < MAX_READ_BUFFER {
            self.read.modify(|b| b.set_size(MAX_READ_BUFFER));
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
    common::install_signals(o.killable);
    common::raise_fd_limit();

    let mut addr = Address::new();
    let mut listener = Listener::new();
    if !addr.create(listen.as_bytes(), BUFFER_SIZE) || !listener.create(&addr) {
        eprintln!("Error, can't listen on '{listen}'");
        exit(1);
    }
    common::apply_socket_options(&listener, o.sockowner.as_deref(), o.sockgroup.as_deref(), o.sockperms.as_deref());
    if o.daemon && !common::daemonize() {
        eprintln!("Error, couldn't detach!");
        exit(1);
    }
    if let Some(path) = &o.pidfile {
        if !common::write_pidfile(path) {
            eprintln!("Error, couldn't open 'pidfile' at '{path}'.");
            exit(1);
        }
    }
    if let Some(user) = &o.user {
        if !common::become_user(user) {
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
        if common::stop_requested() {
            return 0;
        }
        // Buffered requests are answered without waiting for the network.
        let timeout = if pending.is_empty() { TICK_USEC } else { 0 };
        match sel.select(timeout, true) {
            Ok(_) => {}
            Err(SelectError::Os(e)) if e.kind() == io::ErrorKind::Interrupted => {
                if !common::stop_requested() {
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
                && match server.process_deferred(&mut c.plug, &c.read, &c.send, now) {
                    Ok(Step::Answered) => {
                        c.push_out();
                        if c.plug.has_message() {
                            pending.push(i);
                        }
                        c.fit_read_buffer();
                        true
                    }
                    Ok(_) => {
                        c.fit_read_buffer();
                        true
                    }
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
