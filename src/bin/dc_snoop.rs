//! dc_snoop: a transparent distcache proxy that logs every frame.
//!
//! Each accepted connection gets its own connection to the `-server`
//! address. Bytes travel unchanged, one whole frame at a time; for every
//! frame one `SNOOP_DBG_MSG` line goes to stderr, and for every complete
//! message one `SNOOP_DECODED` line with the command, the lengths and (for
//! responses) the result, unless `-nodecode` is given.

mod common;

use common::peer::Peer;
use distcache_core::nal::accept_pause::{is_exhaustion, AcceptPause};
use distcache_core::nal::address::{Address, Transport};
use distcache_core::nal::connection::Connection;
use distcache_core::nal::listener::Listener;
use distcache_core::nal::selector::{SelectError, Selector};
use distcache_core::protocol::payload::ADD_HEADER_LEN;
use distcache_core::protocol::{status, Assembler, Cmd, HEADER_LEN, MSG_MAX_DATA};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::process::exit;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Proxied pairs at a time; accepting pauses at this number.
const MAX_PAIRS: usize = 10;
/// Room for at least one whole frame in every buffer.
const BUFFER_SIZE: u32 = 4096;
/// How long a closing pair may take to hand over what it already received.
const FLUSH_LIMIT: Duration = Duration::from_secs(5);
/// Frames wait in the source's read buffer while this much is queued for
/// the destination (a slow reader slows its writer down).
const MAX_QUEUED: usize = 65536;

fn usage_text() -> String {
    format!(
        "Usage: dc_snoop [options]\n\
     where options include;\n\
     \x20   -listen <addr>       - the address to accept connections on (required)\n\
     \x20   -server <addr>       - the address to forward each connection to (required)\n\
     \x20   -connect <addr>      - the same as -server\n\
     \x20   -nodecode            - only the per-frame lines, no decoded message lines\n{}\
     \x20   -h                   - display this usage message\n\
     \x20   (every option may also be given with two dashes: --listen, --help)\n\
     Every frame is logged to stderr; the bytes pass unchanged.\n",
        common::tls::CLIENT_USAGE
    )
}

fn fail_usage(msg: &str) -> ! {
    common::fail_usage(msg, &usage_text())
}

struct Options {
    listen: Option<String>,
    server: Option<String>,
    decode: bool,
    tls: common::tls::TlsOptions,
}

fn parse_args() -> Options {
    let mut o = Options { listen: None, server: None, decode: true, tls: Default::default() };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value =
            |_name: &str| -> String { args.next().unwrap_or_else(|| fail_usage(&common::missing_value(&arg))) };
        match common::flag_name(&arg) {
            "-h" | "-help" | "-?" => {
                eprint!("{}", usage_text());
                exit(0)
            }
            "-listen" => o.listen = Some(value("listen")),
            "-server" => o.server = Some(value("server")),
            "-connect" => o.server = Some(value("connect")),
            "-nodecode" => o.decode = false,
            flag if o.tls.take(flag, true, || value("")) => {}
            _ => fail_usage(&common::unrecognised(&arg)),
        }
    }
    o
}

fn main() {
    let o = parse_args();
    let (Some(listen), Some(server)) = (o.listen, o.server) else {
        fail_usage("must provide -listen <addr> and -server <addr>");
    };
    // The connections to -server are TLS with these flags.
    let tls = o.tls.client_config("dc_snoop", &server);
    common::ignore_sigpipe();
    let server_addr = common::connect_address_or_exit("-server", &server, BUFFER_SIZE);
    let (listen_addr, mut listener) = common::listen_or_exit("-listen", &listen, BUFFER_SIZE);
    let sel = Selector::new();
    if !listener.add_to_selector(&sel) {
        listener.remove_socket_file();
        common::fail("can't watch the listening socket (the multiplexer failed)");
    }
    let mut snoop = Snoop {
        direct_clients: !matches!(listen_addr.transport(), Some(Transport::Fd { .. })),
        direct_server: !matches!(server_addr.transport(), Some(Transport::Fd { .. })) && tls.is_none(),
        sel,
        listener,
        listening: true,
        server_addr,
        decode: o.decode,
        pairs: Vec::new(),
        next_id: 0,
        log: String::new(),
        pause: AcceptPause::new("dc_snoop"),
        tls,
        server_text: server,
    };
    exit(snoop.run());
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    ClientToServer,
    ServerToClient,
}

impl Dir {
    fn name(self) -> &'static str {
        match self {
            Dir::ClientToServer => "client->server",
            Dir::ServerToClient => "server->client",
        }
    }
}

/// One accepted connection and its connection to the server.
struct Pair {
    id: u64,
    client: Peer,
    server: Peer,
    client_open: bool,
    server_open: bool,
    /// After a side closed: whether the kernel may still hold bytes it sent.
    client_leftover: bool,
    server_leftover: bool,
    /// Set once either side has closed: the pair only hands what the closed
    /// side sent before to the other side, then goes.
    closing: Option<Instant>,
    /// Message decoders for client->server and server->client; None after
    /// a direction stopped looking like distcache.
    decoders: [Option<Assembler>; 2],
}

struct Snoop {
    sel: Selector,
    listener: Listener,
    listening: bool,
    server_addr: Address,
    direct_clients: bool,
    direct_server: bool,
    decode: bool,
    pairs: Vec<Pair>,
    next_id: u64,
    /// Lines of this round, written in one go.
    log: String,
    /// Accepting pauses while out of descriptors.
    pause: AcceptPause,
    /// The TLS configuration and server name of the -server connections.
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    server_text: String,
}

impl Snoop {
    fn run(&mut self) -> i32 {
        loop {
            let wait = self.pause.resume_in(Instant::now()).map_or(1_000_000, |w| w.as_micros().max(1) as u64);
            match self.sel.select(wait.min(1_000_000), true) {
                Ok(_) => {}
                Err(SelectError::Os(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return 1,
            }
            self.accept();
            let mut i = 0;
            while i < self.pairs.len() {
                if self.service(i) {
                    i += 1;
                } else {
                    self.pairs.swap_remove(i); // closes both connections
                    self.pause.freed();
                }
            }
            self.flush_log();
            self.pace_listener();
            if self.listener.finished() && self.pairs.is_empty() {
                return 0;
            }
        }
    }

    fn flush_log(&mut self) {
        if !self.log.is_empty() {
            let mut err = io::stderr().lock();
            let _ = err.write_all(self.log.as_bytes());
            let _ = err.flush();
            self.log.clear();
        }
    }

    /// Stops accepting while the pair table is full or accepting is
    /// paused for want of descriptors, resumes below it.
    fn pace_listener(&mut self) {
        let want = self.pairs.len() < MAX_PAIRS && !self.pause.paused(Instant::now());
        if want && !self.listening {
            self.listening = self.listener.add_to_selector(&self.sel);
        } else if !want && self.listening {
            self.listener.del_from_selector();
            self.listening = false;
        }
    }

    fn accept(&mut self) {
        while self.pairs.len() < MAX_PAIRS {
            let mut conn = Connection::new();
            if !conn.accept(&mut self.listener) {
                if let Some(e) = self.listener.take_accept_error() {
                    self.exhausted(&e);
                }
                return;
            }
            let id = self.next_id;
            self.next_id += 1;
            let Some(client) = Peer::attach(conn, &self.sel, self.direct_clients) else {
                continue;
            };
            let mut upstream = Connection::new();
            if !upstream.create(&self.server_addr) {
                // The accepted connection closes here; out of descriptors
                // for its server side, accepting pauses.
                let e = io::Error::last_os_error();
                if is_exhaustion(&e) {
                    self.exhausted(&e);
                    return;
                }
                continue;
            }
            if let Some((config, name)) = &self.tls {
                if let Err(e) = upstream.start_tls(config, name.clone()) {
                    let _ = writeln!(self.log, "Error, can't start TLS with the server {}: {e}", self.server_text);
                    continue;
                }
            }
            let Some(server) = Peer::attach(upstream, &self.sel, self.direct_server) else {
                continue;
            };
            let decoders =
                if self.decode { [Some(Assembler::new(false)), Some(Assembler::new(true))] } else { [None, None] };
            self.pairs.push(Pair {
                id,
                client,
                server,
                client_open: true,
                server_open: true,
                client_leftover: true,
                server_leftover: true,
                closing: None,
                decoders,
            });
            // Both sides connected: out of any exhaustion episode.
            if let Some(line) = self.pause.accepted() {
                self.log.push_str(&line);
                self.log.push('\n');
            }
        }
    }

    /// Accepting failed with `e`: pauses on exhaustion (logged once per
    /// episode).
    fn exhausted(&mut self, e: &io::Error) {
        if let (_, Some(line)) = self.pause.failed(e, Instant::now()) {
            self.log.push_str(&line);
            self.log.push('\n');
        }
    }

    /// One round of a pair; false when it is finished.
    fn service(&mut self, i: usize) -> bool {
        let log = &mut self.log;
        let pair = &mut self.pairs[i];
        // A side that closed leaves the selector (its hang-up would be
        // reported for ever); the bytes it sent before are still read.
        if pair.client_open && !pair.client.conn.io() {
            pair.client_open = false;
            pair.client.conn.del_from_selector();
        }
        if pair.server_open && !pair.server.conn.io() {
            if let Some(why) = pair.server.conn.tls_failure() {
                let _ = writeln!(log, "Error, TLS with the server {} failed: {why}", self.server_text);
            }
            pair.server_open = false;
            pair.server.conn.del_from_selector();
        }
        // Frames that arrived before a close are still passed on, but only
        // towards a side that is open. Handing bytes to the kernel can make
        // room for frames held back in this very round, and no event would
        // announce that: repeat until nothing moves.
        loop {
            let mut moved = 0;
            if !pair.client_open && pair.client_leftover {
                let got = pair.client.read_leftover();
                pair.client_leftover = got.is_some();
                moved += got.unwrap_or(0);
            }
            if !pair.server_open && pair.server_leftover {
                let got = pair.server.read_leftover();
                pair.server_leftover = got.is_some();
                moved += got.unwrap_or(0);
            }
            if pair.server_open {
                match pair.forward(Dir::ClientToServer, log) {
                    Ok(n) => moved += n,
                    Err(()) => return false,
                }
            }
            if pair.client_open {
                match pair.forward(Dir::ServerToClient, log) {
                    Ok(n) => moved += n,
                    Err(()) => return false,
                }
            }
            if pair.client_open {
                moved += pair.client.pump();
            }
            if pair.server_open {
                moved += pair.server.pump();
            }
            if moved == 0 {
                break;
            }
        }
        match (pair.client_open, pair.server_open) {
            (true, true) => true,
            (false, false) => false,
            (client_open, _) => {
                let since = *pair.closing.get_or_insert_with(Instant::now);
                let (open, closed, leftover) = if client_open {
                    (&pair.client, &pair.server, pair.server_leftover)
                } else {
                    (&pair.server, &pair.client, pair.client_leftover)
                };
                let done = open.drained() && !has_frame(closed) && !leftover;
                !done && since.elapsed() < FLUSH_LIMIT
            }
        }
    }
}

/// Whether a whole frame (or an oversized header) waits in a read buffer.
fn has_frame(p: &Peer) -> bool {
    p.read.with(|b| {
        let d = b.data();
        d.len() >= HEADER_LEN
            && d.len() >= HEADER_LEN + (u16::from_be_bytes([d[12], d[13]]) as usize).min(MSG_MAX_DATA + 1)
    })
}

impl Pair {
    /// Moves every whole frame from one side's read buffer to the other
    /// side's queue, logging each; returns the bytes moved. Err when a frame
    /// header announces more than 2048 payload bytes (the pair must close).
    fn forward(&mut self, dir: Dir, log: &mut String) -> Result<usize, ()> {
        let mut moved = 0;
        let (src, dst, decoder) = match dir {
            Dir::ClientToServer => (&mut self.client, &mut self.server, &mut self.decoders[0]),
            Dir::ServerToClient => (&mut self.server, &mut self.client, &mut self.decoders[1]),
        };
        while dst.queued() < MAX_QUEUED {
            let frame = src.read.with(|b| {
                let d = b.data();
                if d.len() < HEADER_LEN {
                    return None;
                }
                let data_len = u16::from_be_bytes([d[12], d[13]]);
                if data_len as usize > MSG_MAX_DATA {
                    return Some(Err(data_len));
                }
                let total = HEADER_LEN + data_len as usize;
                (d.len() >= total).then(|| Ok((u32::from_be_bytes([d[5], d[6], d[7], d[8]]), total)))
            });
            let (uid, total) = match frame {
                None => return Ok(moved),
                Some(Err(data_len)) => {
                    let _ = writeln!(
                        log,
                        "SNOOP_DBG_MSG: connection {}, {}, message has illegal 'data_len' ({data_len})",
                        self.id,
                        dir.name()
                    );
                    let _ = writeln!(log, "[TODO: change me] {} error", dir.name());
                    return Err(());
                }
                Some(Ok(f)) => f,
            };
            let _ = writeln!(
                log,
                "SNOOP_DBG_MSG: connection {}, {}, message completed (request_uid = {uid}), total_len={total}",
                self.id,
                dir.name()
            );
            src.read.modify(|b| {
                let bytes = &b.data()[..total];
                dst.out().extend_from_slice(bytes);
                if let Some(asm) = decoder {
                    if !decode_frame(asm, bytes, self.id, dir, log) {
                        *decoder = None;
                    }
                }
                b.consume(total);
            });
            moved += total;
        }
        Ok(moved)
    }
}

/// Feeds one whole frame to a direction's decoder and logs the message it
/// completes. False when the stream stopped being valid distcache.
fn decode_frame(asm: &mut Assembler, frame: &[u8], id: u64, dir: Dir, log: &mut String) -> bool {
    if let Err(c) = asm.feed(frame) {
        let _ = writeln!(log, "SNOOP_DECODED: connection {id}, {}, not decodable any more ({c})", dir.name());
        return false;
    }
    if let Some((uid, cmd, payload)) = asm.message() {
        let _ = writeln!(log, "SNOOP_DECODED: connection {id}, {}, {}", dir.name(), describe(dir, uid, cmd, payload));
        asm.reset();
    }
    true
}

fn cmd_name(cmd: Cmd) -> &'static str {
    match cmd {
        Cmd::Add => "ADD",
        Cmd::Get => "GET",
        Cmd::Remove => "REMOVE",
        Cmd::Have => "HAVE",
    }
}

fn status_name(byte: u8) -> &'static str {
    match byte {
        status::OK => "ok",
        status::NOTOK => "notok",
        status::DISCONNECTED => "disconnected",
        status::ADD_CORRUPT => "add_corrupt",
        status::ADD_MATCHING_SESSION => "add_matching_session",
        status::ADD_TIMEOUT_RANGE => "add_timeout_range",
        status::ADD_ID_RANGE => "add_id_range",
        status::ADD_DATA_RANGE => "add_data_range",
        _ => "unknown",
    }
}

/// One line's worth of a decoded message.
fn describe(dir: Dir, uid: u32, cmd: Cmd, payload: &[u8]) -> String {
    let head = format!("{} {} (request_uid = {uid}), payload_len={}", cmd_name(cmd), kind(dir), payload.len());
    match dir {
        Dir::ClientToServer if cmd == Cmd::Add => {
            if payload.len() < ADD_HEADER_LEN {
                return format!("{head}, truncated");
            }
            let timeout = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
            let id_len = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]) as usize;
            let data_len = (payload.len() - ADD_HEADER_LEN).saturating_sub(id_len);
            format!("{head}, timeout={timeout}ms, id_len={id_len}, data_len={data_len}")
        }
        Dir::ClientToServer => format!("{head}, id_len={}", payload.len()),
        Dir::ServerToClient => {
            let result = match (cmd, payload) {
                (_, []) => "none (empty answer)".to_string(),
                (Cmd::Get, p) if p.len() >= 5 => "session data".to_string(),
                (_, [b]) => format!("{b:02x} ({})", status_name(*b)),
                _ => "unexpected payload".to_string(),
            };
            format!("{head}, result={result}")
        }
    }
}

fn kind(dir: Dir) -> &'static str {
    match dir {
        Dir::ClientToServer => "request",
        Dir::ServerToClient => "response",
    }
}
