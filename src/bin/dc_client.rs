//! dc_client: the per-host distcache proxy.
//!
//! Applications connect locally (by default `UNIX:/tmp/scache`) and send
//! ordinary distcache requests. Every request is forwarded over one
//! persistent connection to `dc_server` under a request uid of the proxy's
//! own (a counter from 1 shared by all applications); the answer goes back
//! to the application that asked, carrying its original uid. Nothing is
//! cached here.
//!
//! While the server cannot be reached the proxy answers each request at
//! once with an empty response (the client library reads it as a failed
//! transaction); requests that were in flight when the connection broke get
//! the status byte `02`. A new connection is tried every `-retry`
//! milliseconds.
//!
//! A server that accepted the connection but stopped answering is treated
//! as lost once requests have waited `-server-timeout` milliseconds with
//! nothing arriving: they are answered with `02`, the connection is
//! dropped and the next one tried after `-retry` (docs/timeouts.md).

mod common;

use common::peer::Peer;
use distcache_core::nal::accept_pause::AcceptPause;
use distcache_core::nal::address::{Address, Transport};
use distcache_core::nal::connection::Connection;
use distcache_core::nal::listener::Listener;
use distcache_core::nal::selector::{SelectError, Selector};
use distcache_core::protocol::payload::ADD_HEADER_LEN;
use distcache_core::protocol::{encode_message, status, Assembler, Cmd, Corrupt};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::collections::HashMap;
use std::io;
use std::process::exit;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEFAULT_LISTEN: &str = "UNIX:/tmp/scache";
const DEFAULT_RETRY_MS: u64 = 5000;
/// How long requests wait on a silent server before it counts as lost:
/// below libdistcache's default deadline (1000 ms), so applications get
/// the proxy's answer rather than their own timeout.
const DEFAULT_SERVER_TIMEOUT_MS: u64 = 800;
/// A server connection that lasted this long and closed with no request
/// in flight is replaced at once (see `upstream_lost`); shorter-lived ones
/// wait for `-retry`, so a server that closes every connection at once
/// is not hammered.
const IDLE_CLOSE_MIN_UP: Duration = Duration::from_secs(1);
/// Upper bound of `-idle-timeout` (one day).
const MAX_IDLE_SECS: u64 = 86_400;
/// Upper bound of `-retry` and `-idle` (one hour).
const MAX_MSECS: u64 = 3_600_000;
/// Application connections served at a time.
const MAX_APPS: usize = 1024;
/// Requests outstanding on the server connection at a time.
const MAX_OUTSTANDING: usize = 512;
/// Buffer sizes of application connections and of the server connection.
const APP_BUFFER: u32 = 4096;
const SERVER_BUFFER: u32 = 32768;
/// The loop wakes up at least this often (idle checks, reconnects).
const MAX_WAIT: Duration = Duration::from_secs(1);
const MIN_TICK: Duration = Duration::from_millis(20);
/// Foreign-protocol diagnostics printed at most this many times.
const MAX_VERSION_REPORTS: u32 = 10;

fn usage_text() -> String {
    format!(
        "Usage: dc_client [options]\n\
     where options include;\n\
     \x20   -listen <addr>       - address applications connect to (default: UNIX:/tmp/scache)\n\
     \x20   -server <addr>       - the dc_server to forward requests to (required)\n\
     \x20   -connect <addr>      - the same as -server\n\
     \x20   -retry <msecs>       - reconnect interval after losing the server (default: 5000)\n\
     \x20   -idle <msecs>        - close application connections idle this long (default: 0, never)\n\
     \x20   -idle-timeout <secs> - the same in seconds (default: 0, never)\n\
     \x20   -server-timeout <msecs> - fail requests the server leaves unanswered this long,\n\
     \x20                          then reconnect after -retry (default: 800)\n\
     \x20   -daemon              - detach and run in the background\n\
     \x20   -pidfile <path>      - write the process id to <path>\n\
     \x20   -user <user>         - run as <user> once listening\n\
     \x20   -sockowner <user>    - owner of the unix socket file\n\
     \x20   -sockgroup <group>   - group of the unix socket file\n\
     \x20   -sockperms <oct>     - permissions of the unix socket file\n\
     \x20   -killable            - exit cleanly on SIGUSR1 or SIGUSR2\n{}\
     \x20   -h                   - display this usage message\n\
     \x20   (every option may also be given with two dashes: --listen, --help)\n\
     'addr' examples: UNIX:/tmp/scache, IP:cachehost:9001, IP:127.0.0.1:9001\n",
        common::tls::CLIENT_USAGE
    )
}

fn usage() -> ! {
    eprint!("{}", usage_text());
    exit(0)
}

fn fail_usage(msg: &str) -> ! {
    common::fail_usage(msg, &usage_text())
}

use common::fail;

struct Options {
    listen: String,
    server: Option<(String, String)>,
    retry: Duration,
    idle: Option<Duration>,
    server_timeout: Duration,
    service: common::ServiceOptions,
    tls: common::tls::TlsOptions,
}

fn parse_args() -> Options {
    let mut o = Options {
        listen: DEFAULT_LISTEN.to_string(),
        server: None,
        retry: Duration::from_millis(DEFAULT_RETRY_MS),
        idle: None,
        server_timeout: Duration::from_millis(DEFAULT_SERVER_TIMEOUT_MS),
        service: common::ServiceOptions::default(),
        tls: common::tls::TlsOptions::default(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        // Messages name the flag as it was typed (-listen or --listen).
        let mut value =
            |_name: &str| -> String { args.next().unwrap_or_else(|| fail_usage(&common::missing_value(&arg))) };
        match common::flag_name(&arg) {
            "-h" | "-help" | "-?" => usage(),
            "-listen" => o.listen = value("-listen"),
            "-server" | "-connect" => {
                let v = value(&arg);
                if let Some((first, _)) = &o.server {
                    fail_usage(&format!("too many servers: {arg} '{v}' after {first}; give one"));
                }
                o.server = Some((arg.clone(), v));
            }
            "-retry" => {
                let text = value("-retry");
                match common::decimal(&text) {
                    Some(v) if (1..=MAX_MSECS).contains(&v) => o.retry = Duration::from_millis(v),
                    _ => fail_usage(&common::invalid(&arg, &text, &common::range(1, MAX_MSECS, "milliseconds"))),
                }
            }
            "-idle" => {
                let text = value("-idle");
                match common::decimal(&text) {
                    Some(0) => o.idle = None,
                    Some(v) if v <= MAX_MSECS => o.idle = Some(Duration::from_millis(v)),
                    _ => fail_usage(&common::invalid(&arg, &text, &common::range(0, MAX_MSECS, "milliseconds"))),
                }
            }
            "-idle-timeout" => {
                let text = value("-idle-timeout");
                match common::decimal(&text) {
                    Some(0) => o.idle = None,
                    Some(s) if s <= MAX_IDLE_SECS => o.idle = Some(Duration::from_secs(s)),
                    _ => fail_usage(&common::invalid(&arg, &text, &common::range(0, MAX_IDLE_SECS, "seconds"))),
                }
            }
            "-server-timeout" => {
                let text = value("-server-timeout");
                match common::decimal(&text) {
                    Some(ms) if (1..=MAX_MSECS).contains(&ms) => o.server_timeout = Duration::from_millis(ms),
                    _ => fail_usage(&common::invalid(&arg, &text, &common::range(1, MAX_MSECS, "milliseconds"))),
                }
            }
            flag if o.tls.take(flag, true, || value("")) => {}
            _ => {
                if !o.service.take(&arg, || value("")) {
                    fail_usage(&common::unrecognised(&arg));
                }
            }
        }
    }
    o
}

fn main() {
    let o = parse_args();
    let Some((_, server_text)) = o.server.clone() else {
        fail_usage("no server specified: give -server <addr>, the dc_server to forward to");
    };
    let server_flag = o.server.as_ref().map(|(f, _)| f.clone()).unwrap_or_default();
    let tls = o.tls.client_config("dc_client", &server_text);
    common::install_signals(o.service.killable);
    common::raise_fd_limit();

    // The server address is checked first: a bad one leaves no socket file.
    let server_addr = common::connect_address_or_exit(&server_flag, &server_text, SERVER_BUFFER);
    let (listen_addr, mut listener) = common::listen_or_exit("-listen", &o.listen, APP_BUFFER);
    o.service.start(&listener);

    let sel = Selector::new();
    if !listener.add_to_selector(&sel) {
        listener.remove_socket_file();
        fail("can't watch the listening socket (the multiplexer failed)");
    }
    // Writing to application sockets directly is only right for sockets.
    let direct_apps = !matches!(listen_addr.transport(), Some(Transport::Fd { .. }));
    // Through TLS, bytes go out only by the connection's own I/O.
    let direct_server = !matches!(server_addr.transport(), Some(Transport::Fd { .. })) && tls.is_none();
    let mut proxy = Proxy {
        sel,
        listener,
        server_addr,
        direct_apps,
        direct_server,
        retry: o.retry,
        idle: o.idle,
        server_timeout: o.server_timeout,
        owed_since: None,
        apps: Vec::new(),
        free: Vec::new(),
        live: 0,
        next_gen: 1,
        round_robin: 0,
        link: Link::Down { next_attempt: Instant::now() },
        pending: HashMap::new(),
        next_uid: 1,
        version_reports: 0,
        pause: AcceptPause::new("dc_client"),
        listening: true,
        tls,
        server_text,
    };
    proxy.connect_upstream(Instant::now());
    exit(proxy.run());
}

/// Says why the TLS link to the server failed, if it did.
fn report_tls_failure(conn: &Connection, server: &str, retry: Duration) {
    if let Some(why) = conn.tls_failure() {
        eprintln!("Error, TLS with the server {server} failed: {why}; retrying in {} ms", retry.as_millis());
    }
}

/// One application connection.
struct App {
    peer: Peer,
    /// Assembles the application's next request (server side of the
    /// protocol: requests in, responses out).
    asm: Assembler,
    /// Tells a reused slot from the connection that held it before.
    gen: u64,
    /// The proxy uid of the request forwarded for this application.
    waiting: Option<u32>,
    /// Accept time, or when the latest request was forwarded.
    last_active: Instant,
}

impl App {
    /// Nothing in progress: no request upstream, no response still going
    /// out. Only such connections can be idle-closed.
    fn at_rest(&self) -> bool {
        self.waiting.is_none() && self.peer.drained()
    }
}

/// A request forwarded upstream, by proxy uid.
struct Pending {
    slot: usize,
    gen: u64,
    uid: u32,
    cmd: Cmd,
}

/// The connection to the server.
enum Link {
    /// Not connected; the next attempt is due at `next_attempt`.
    Down { next_attempt: Instant },
    /// A TCP connect in progress since `since`.
    Connecting { peer: Peer, since: Instant },
    Up {
        peer: Peer,
        asm: Assembler,
        /// When the connection was made.
        since: Instant,
    },
}

struct Proxy {
    sel: Selector,
    listener: Listener,
    server_addr: Address,
    direct_apps: bool,
    direct_server: bool,
    retry: Duration,
    idle: Option<Duration>,
    /// `-server-timeout`.
    server_timeout: Duration,
    /// Since when the server owes answers with nothing arriving (None
    /// while no request is outstanding).
    owed_since: Option<Instant>,
    apps: Vec<Option<App>>,
    free: Vec<usize>,
    live: usize,
    next_gen: u64,
    round_robin: usize,
    link: Link,
    pending: HashMap<u32, Pending>,
    next_uid: u32,
    version_reports: u32,
    /// Accepting pauses while out of descriptors.
    pause: AcceptPause,
    /// The listener is in the selector (not while paused).
    listening: bool,
    /// The TLS configuration and the name the server must prove, when the
    /// link is TLS.
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    server_text: String,
}

/// What became of an application connection in one round.
enum Verdict {
    Keep,
    Close,
}

impl Proxy {
    fn run(&mut self) -> i32 {
        let tick = (self.retry / 3).clamp(MIN_TICK, MAX_WAIT);
        let mut wait = tick;
        loop {
            if common::stop_requested() {
                return 0;
            }
            match self.sel.select(wait.as_micros() as u64, true) {
                Ok(_) => {}
                Err(SelectError::Os(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    eprintln!("Error, a fatal problem with the multiplexer has occured. Closing.");
                    return 1;
                }
            }
            let now = Instant::now();
            self.accept_apps(now);
            self.service_upstream(now);
            self.service_apps(now);
            if let Link::Up { peer, .. } = &mut self.link {
                peer.pump();
            }
            self.maintain_link(now);
            wait = self.close_idle(now).min(tick);
            self.pace_listener(now);
            if let Some(w) = self.pause.resume_in(now) {
                wait = wait.min(w);
            }
            if let Some(w) = self.link_deadline().map(|d| d.saturating_duration_since(now)) {
                wait = wait.min(w);
            }
            wait = wait.max(Duration::from_millis(1));
            if self.listener.finished() && self.live == 0 {
                return 0;
            }
        }
    }

    /// Takes the listener out of the selector while accepting is paused
    /// (it would report the waiting connections every round) and puts it
    /// back once a connection closed or the pause is over.
    fn pace_listener(&mut self, now: Instant) {
        let want = !self.pause.paused(now);
        if want && !self.listening {
            self.listening = self.listener.add_to_selector(&self.sel);
        } else if !want && self.listening {
            self.listener.del_from_selector();
            self.listening = false;
        }
    }

    /// An application connection closed: its descriptor is free again.
    fn app_closed(&mut self, i: usize) {
        self.apps[i] = None; // closes the connection
        self.free.push(i);
        self.live -= 1;
        self.pause.freed();
    }

    fn accept_apps(&mut self, now: Instant) {
        if !self.listening {
            return;
        }
        loop {
            let mut conn = Connection::new();
            if !conn.accept(&mut self.listener) {
                if let Some(e) = self.listener.take_accept_error() {
                    if let (_, Some(line)) = self.pause.failed(&e, now) {
                        eprintln!("{line}");
                    }
                }
                return;
            }
            if let Some(line) = self.pause.accepted() {
                eprintln!("{line}");
            }
            if self.live >= MAX_APPS {
                eprintln!("Error, rejected new client connection already at maximum ({MAX_APPS})");
                eprintln!("Error, couldn't add in new client connection - dropping it.");
                continue; // dropping conn closes it
            }
            let Some(peer) = Peer::attach(conn, &self.sel, self.direct_apps) else {
                eprintln!("Error, couldn't add in new client connection - dropping it.");
                continue;
            };
            let app = App { peer, asm: Assembler::new(false), gen: self.next_gen, waiting: None, last_active: now };
            self.next_gen += 1;
            match self.free.pop() {
                Some(i) => self.apps[i] = Some(app),
                None => self.apps.push(Some(app)),
            }
            self.live += 1;
        }
    }

    fn report_version(&mut self, level: u32) {
        if self.version_reports < MAX_VERSION_REPORTS {
            self.version_reports += 1;
            eprintln!("libdistcache(pid={}) {}", std::process::id(), Corrupt::Version(level));
        }
    }

    /// Starts a connection to the server.
    fn connect_upstream(&mut self, now: Instant) {
        let mut conn = Connection::new();
        let mut created = conn.create(&self.server_addr);
        if let (true, Some((config, name))) = (created, &self.tls) {
            if let Err(e) = conn.start_tls(config, name.clone()) {
                eprintln!("Error, can't start TLS with the server {}: {e}", self.server_text);
                created = false;
            }
        }
        let peer = if created { Peer::attach(conn, &self.sel, self.direct_server) } else { None };
        self.link = match peer {
            Some(peer) if peer.conn.is_established() => Link::Up { peer, asm: Assembler::new(true), since: now },
            Some(peer) => Link::Connecting { peer, since: now },
            None => Link::Down { next_attempt: now + self.retry },
        };
    }

    /// When the link needs attention without any network event.
    fn link_deadline(&self) -> Option<Instant> {
        match &self.link {
            Link::Down { next_attempt } => Some(*next_attempt),
            Link::Connecting { since, .. } => Some(*since + self.retry),
            Link::Up { .. } => self.owed_since.map(|t| t + self.server_timeout),
        }
    }

    /// Reconnects when due; gives up a connect that takes a whole retry
    /// period, and a server that left requests unanswered for
    /// `-server-timeout`.
    fn maintain_link(&mut self, now: Instant) {
        match &self.link {
            Link::Down { next_attempt } if now >= *next_attempt => self.connect_upstream(now),
            Link::Connecting { since, .. } if now >= *since + self.retry => self.connect_upstream(now),
            Link::Up { .. } if self.owed_since.is_some_and(|t| now >= t + self.server_timeout) => {
                eprintln!(
                    "Error, the server did not answer for {} ms; failing {} request(s), reconnecting in {} ms",
                    self.server_timeout.as_millis(),
                    self.pending.len(),
                    self.retry.as_millis()
                );
                self.upstream_lost(now);
            }
            _ => {}
        }
    }

    /// Server I/O: completes a pending connect, delivers responses.
    fn service_upstream(&mut self, now: Instant) {
        match &mut self.link {
            Link::Down { .. } => {}
            Link::Connecting { peer, since } => {
                if !peer.conn.io() {
                    report_tls_failure(&peer.conn, &self.server_text, self.retry);
                    let next_attempt = *since + self.retry;
                    self.link = Link::Down { next_attempt };
                } else if peer.conn.is_established() {
                    let Link::Connecting { peer, .. } =
                        std::mem::replace(&mut self.link, Link::Down { next_attempt: now })
                    else {
                        unreachable!()
                    };
                    self.link = Link::Up { peer, asm: Assembler::new(true), since: now };
                }
            }
            Link::Up { peer, .. } => {
                let alive = peer.conn.io();
                if !alive {
                    report_tls_failure(&peer.conn, &self.server_text, self.retry);
                }
                // Responses that arrived before a close still count.
                let before = self.pending.len();
                let delivered = self.deliver_responses();
                if self.pending.len() < before {
                    self.owed_since = (!self.pending.is_empty()).then_some(now);
                }
                if !alive || !delivered {
                    self.upstream_lost(now);
                }
            }
        }
    }

    /// Routes every complete response in the server connection's read
    /// buffer to its application. False when the server's stream is
    /// corrupt or answers a request we did not send.
    fn deliver_responses(&mut self) -> bool {
        loop {
            let Link::Up { peer, asm, .. } = &mut self.link else {
                return true;
            };
            let fed = peer.read.modify(|b| {
                let n = asm.feed(b.data())?;
                b.consume(n);
                Ok::<(), Corrupt>(())
            });
            if let Err(c) = fed {
                match c {
                    Corrupt::Version(level) if matches!(level >> 16, 0x1503 | 0x1603) => eprintln!(
                        "Error, the server {} answered with TLS; give dc_client -tls-cert, -tls-key and -tls-ca; reconnecting",
                        self.server_text
                    ),
                    Corrupt::Version(level) => self.report_version(level),
                    c => eprintln!("Error, the server sent corrupt data ({c}); reconnecting"),
                }
                return false;
            }
            if !asm.is_complete() {
                return true;
            }
            let (uid, cmd, payload) = asm.message().expect("complete");
            let Some(p) = self.pending.remove(&uid).filter(|p| p.cmd == cmd) else {
                eprintln!("Error, the server answered an unknown request (uid {uid}); reconnecting");
                return false;
            };
            if let Some(app) = self.apps.get_mut(p.slot).and_then(Option::as_mut).filter(|a| a.gen == p.gen) {
                encode_message(app.peer.out(), true, p.uid, cmd, payload);
                app.waiting = None;
                app.peer.pump();
            }
            // else: the application left; its answer is dropped.
            asm.reset();
        }
    }

    /// The server connection broke: every request in flight is answered
    /// with DISCONNECTED and the next attempt waits a retry period.
    fn upstream_lost(&mut self, now: Instant) {
        // A connection that served for a while and broke with nothing in
        // flight was most likely closed as idle (dc_server -idle-timeout):
        // reconnect at once rather than fail requests for a retry period.
        let idle_close = self.pending.is_empty()
            && matches!(self.link, Link::Up { since, .. } if now.saturating_duration_since(since) >= IDLE_CLOSE_MIN_UP);
        let next_attempt = if idle_close { now } else { now + self.retry };
        self.link = Link::Down { next_attempt };
        self.owed_since = None;
        for (_, p) in self.pending.drain() {
            if let Some(app) = self.apps.get_mut(p.slot).and_then(Option::as_mut).filter(|a| a.gen == p.gen) {
                encode_message(app.peer.out(), true, p.uid, p.cmd, &[status::DISCONNECTED]);
                app.waiting = None;
                app.peer.pump();
            }
        }
    }

    fn take_uid(&mut self) -> u32 {
        loop {
            let uid = self.next_uid;
            self.next_uid = self.next_uid.wrapping_add(1);
            if !self.pending.contains_key(&uid) {
                return uid;
            }
        }
    }

    /// Application I/O and requests, round-robin from a moving start.
    fn service_apps(&mut self, now: Instant) {
        let n = self.apps.len();
        if n == 0 {
            return;
        }
        self.round_robin = (self.round_robin + 1) % n;
        for k in 0..n {
            let i = (self.round_robin + k) % n;
            if self.apps[i].is_none() {
                continue;
            }
            if let Verdict::Close = self.service_app(i, now) {
                self.app_closed(i);
            }
        }
    }

    fn service_app(&mut self, i: usize, now: Instant) -> Verdict {
        let app = self.apps[i].as_mut().expect("checked by the caller");
        if !app.peer.conn.io() {
            return Verdict::Close;
        }
        app.peer.pump();
        // One request at a time: the next is taken once the previous
        // answer is entirely in the send buffer.
        loop {
            let app = self.apps[i].as_mut().expect("present");
            if app.waiting.is_some() || !app.peer.queue_empty() {
                return Verdict::Keep;
            }
            let asm = &mut app.asm;
            let fed = app.peer.read.modify(|b| {
                let n = asm.feed(b.data())?;
                b.consume(n);
                Ok::<(), Corrupt>(())
            });
            if let Err(c) = fed {
                if let Corrupt::Version(level) = c {
                    self.report_version(level);
                }
                return Verdict::Close;
            }
            if !app.asm.is_complete() {
                return Verdict::Keep;
            }
            let (_, cmd, payload) = app.asm.message().expect("complete");
            if cmd == Cmd::Add && payload.len() < ADD_HEADER_LEN {
                // The server would drop its connection over this (no
                // status byte describes it); drop only this application.
                return Verdict::Close;
            }
            if !matches!(self.link, Link::Up { .. }) {
                // No server: fail the request at once with an empty answer
                // and look at the next one.
                app.last_active = now;
                let (uid, cmd, _) = app.asm.message().expect("complete");
                encode_message(app.peer.out(), true, uid, cmd, &[]);
                app.asm.reset();
                app.peer.pump();
                continue;
            }
            if self.pending.len() >= MAX_OUTSTANDING {
                return Verdict::Keep; // waits for room
            }
            let up_uid = self.take_uid();
            let app = self.apps[i].as_mut().expect("present");
            let Link::Up { peer, .. } = &mut self.link else { unreachable!("checked above") };
            let (uid, cmd, payload) = app.asm.message().expect("complete");
            encode_message(peer.out(), false, up_uid, cmd, payload);
            if self.pending.is_empty() {
                self.owed_since = Some(now);
            }
            self.pending.insert(up_uid, Pending { slot: i, gen: app.gen, uid, cmd });
            app.waiting = Some(up_uid);
            app.last_active = now;
            app.asm.reset();
            return Verdict::Keep;
        }
    }

    /// Closes connections idle for `-idle`; returns how long until the
    /// next one could become idle (at most a second).
    fn close_idle(&mut self, now: Instant) -> Duration {
        let Some(idle) = self.idle else {
            return MAX_WAIT;
        };
        let mut next = MAX_WAIT;
        for i in 0..self.apps.len() {
            let Some(app) = &self.apps[i] else { continue };
            if !app.at_rest() {
                continue;
            }
            let age = now.saturating_duration_since(app.last_active);
            if age >= idle {
                self.app_closed(i);
            } else {
                next = next.min(idle - age);
            }
        }
        next
    }
}
