//! dc_server: the distcache session cache server.
//!
//! Accepts clients on one libnal address and answers their requests from
//! the builtin cache. Prints a statistics line on stderr when the session
//! count changes (at most once a second) or, with `-progress N`, whenever
//! the operation count crosses a multiple of N.

mod common;

use distcache_core::cache::{BuiltinCache, Now};
use distcache_core::nal::address::Address;
use distcache_core::nal::listener::Listener;
use distcache_core::protocol::Corrupt;
use distcache_core::server::event_loop::{self, Hooks};
use distcache_core::server::{ClientFailure, Server};
use std::io::{self, Write};
use std::process::exit;
use std::time::Duration;

const BUFFER_SIZE: u32 = 4096;
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
         \x20   -killable            - exit cleanly on SIGUSR1 or SIGUSR2\n{}\
         \x20   -h                   - display this usage message\n\
         'addr' examples: UNIX:/tmp/dc.sock, IP:9001, IP:127.0.0.1:9001, IPv6:[::1]:9001\n",
        common::tls::SERVER_USAGE
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
    service: common::ServiceOptions,
    tls: common::tls::TlsOptions,
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
            flag if o.tls.take(flag, false, || value(flag.trim_start_matches('-'))) => {}
            flag => {
                if !o.service.take(flag, || value(&flag[1..])) {
                    fail_usage(&format!("Error, \"{arg}\" not recognised"));
                }
            }
        }
    }
    o
}

/// The statistics line and when to print it, and what else the event
/// loop reports.
struct Stats {
    progress: u64,
    /// When the session count was last looked at (or the server
    /// started), in µs.
    last_check: i64,
    last_ops: u64,
    last_sessions: usize,
    reported_versions: u32,
}

impl Hooks for Stats {
    fn round(&mut self, server: &mut Server, now: Now) -> bool {
        if common::stop_requested() {
            return true;
        }
        self.tick(server, now);
        false
    }

    fn interrupted(&mut self) -> bool {
        if common::stop_requested() {
            return true;
        }
        eprintln!("Error, select interrupted for unknown signal, continuing");
        false
    }

    fn refused(&mut self, peer: &str, reason: &str) {
        eprintln!("Error, refused client {peer}: {reason}");
    }

    fn dropped(&mut self, failure: ClientFailure) {
        if let ClientFailure::Corrupt(Corrupt::Version(level)) = failure {
            if self.reported_versions < 10 {
                self.reported_versions += 1;
                eprintln!("libdistcache(pid={}) {}", std::process::id(), Corrupt::Version(level));
            }
        }
    }
}

impl Stats {
    fn tick(&mut self, server: &mut Server, now: Now) {
        let ops = server.operations();
        let crossed = self.progress > 0 && ops / self.progress > self.last_ops / self.progress;
        if !crossed && now.micros().abs_diff(self.last_check) < 1_000_000 {
            return;
        }
        // Counting purges expired sessions: once a second at most.
        self.last_check = now.micros();
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
        self.last_ops = ops;
        self.last_sessions = sessions;
    }
}

fn main() {
    let o = parse_args();
    let Some(listen) = o.listen.clone() else {
        fail_usage("Error, must provide -listen");
    };
    let tls = o.tls.server_config("dc_server");
    if tls.is_some() && listen.starts_with("FD:") {
        fail_usage(&format!("Error, -tls-cert needs a socket listener (IP:, IPv6: or UNIX:), not '{listen}'"));
    }
    common::install_signals(o.service.killable);
    common::raise_fd_limit();

    let mut addr = Address::new();
    let mut listener = Listener::new();
    if !addr.create(listen.as_bytes(), BUFFER_SIZE) || !listener.create(&addr) {
        eprintln!("Error, can't listen on '{listen}'");
        exit(1);
    }
    o.service.start(&listener);

    let Some(cache) = BuiltinCache::new(o.sessions) else {
        eprintln!("Error, malloc/initialisation failure");
        exit(1);
    };
    let mut server = Server::new(Box::new(cache));
    server.set_expiry_floor(o.expiry_floor);
    let mut stats = Stats {
        progress: o.progress,
        last_check: Now::wall_clock().micros(),
        last_ops: 0,
        last_sessions: 0,
        reported_versions: 0,
    };
    if event_loop::serve_tls(&mut server, &mut listener, Duration::from_micros(TICK_USEC), &mut stats, tls).is_err() {
        eprintln!("Error, select() failed");
        exit(1);
    }
    exit(0);
}
