//! Soak and fault-injection driver for dc_server + dc_client (run through
//! tools/soak.sh, which documents the options).
//!
//! Starts `dc_server` (small `-sessions`, so the cache fills) and
//! `dc_client` on unix sockets in a work directory, then runs worker
//! threads that talk to the proxy through the distcache client (half of
//! them over one persistent connection, half with a connection per
//! operation) with a mix of ADD, GET, HAVE and REMOVE on sessions of
//! 100 B – 30 KiB expiring after 1–60 s. Every answer is checked against a
//! model of what the cache must hold:
//!
//! * a session added and neither removed nor expired must come back
//!   byte-identical, unless the cache may have been full since it was
//!   added (counted as an eviction) or dc_server was restarted since
//!   (counted as lost to a restart);
//! * a session whose expiry instant has certainly passed must be gone;
//!   answers within a tolerance window around the expiry instant are
//!   accepted either way and counted;
//! * anything else is a wrong answer.
//!
//! With faults on, dc_server and dc_client are killed with SIGKILL and
//! restarted at random intervals; failures while one of them is down (or
//! within a grace period after it is back) are expected and counted, any
//! other failure is an error. Garbage is sent on fresh connections to both
//! processes, and requests are started and abandoned half-written.
//! Throughout, the RSS and descriptor count of both processes are sampled,
//! and neither may die unless the driver killed it.

use distcache_core::client::bounds::Bounds;
use distcache_core::client::{Client, Connector, Flags, Stream, TxError};
use distcache_core::protocol::payload::encode_add;
use distcache_core::protocol::{encode_message, Cmd};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The client's own timeout: no exchange may take longer.
const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// Accepted uncertainty of the expiry instant (both clocks, scheduling).
const EXPIRY_TOLERANCE_US: u64 = 100_000;
/// Failures this long after a restarted process is ready are still
/// attributed to the restart (dc_client's reconnect interval included).
const RESTART_GRACE_US: u64 = 1_500_000;
/// dc_client's reconnect interval (ms).
const PROXY_RETRY_MS: u64 = 100;

struct Config {
    server_bin: PathBuf,
    client_bin: PathBuf,
    dir: PathBuf,
    seconds: u64,
    workers: usize,
    sessions: usize,
    ids_per_worker: usize,
    faults: bool,
    warmup: u64,
    /// Cache size the model assumes (default: the server's); a larger
    /// value than the server's makes every eviction a wrong answer, which
    /// shows that the checks bite.
    capacity: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: soak -server BIN -client BIN -dir DIR [-seconds N] [-workers N] [-sessions N] \
         [-ids N] [-faults 0|1] [-warmup SECONDS] [-capacity N]"
    );
    std::process::exit(2);
}

fn parse_args() -> Config {
    let mut c = Config {
        server_bin: PathBuf::new(),
        client_bin: PathBuf::new(),
        dir: PathBuf::new(),
        seconds: 60,
        workers: 16,
        sessions: 256,
        ids_per_worker: 20,
        faults: false,
        warmup: 0,
        capacity: 0,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_else(|| usage());
        let num = || v.parse::<u64>().unwrap_or_else(|_| usage());
        match args[i].as_str() {
            "-server" => c.server_bin = v.clone().into(),
            "-client" => c.client_bin = v.clone().into(),
            "-dir" => c.dir = v.clone().into(),
            "-seconds" => c.seconds = num(),
            "-workers" => c.workers = num() as usize,
            "-sessions" => c.sessions = num() as usize,
            "-ids" => c.ids_per_worker = num() as usize,
            "-faults" => c.faults = num() != 0,
            "-warmup" => c.warmup = num(),
            "-capacity" => c.capacity = num() as usize,
            _ => usage(),
        }
        i += 2;
    }
    if c.server_bin.as_os_str().is_empty() || c.client_bin.as_os_str().is_empty() || c.dir.as_os_str().is_empty() {
        usage();
    }
    if c.capacity == 0 {
        c.capacity = c.sessions;
    }
    if c.warmup == 0 {
        c.warmup = (c.seconds / 6).clamp(1, 300);
    }
    c
}

/// Microseconds since the driver started.
fn now_us(start: Instant) -> u64 {
    start.elapsed().as_micros() as u64
}

/// xorshift64*: a small deterministic generator per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
}

/// Session contents, derived from a seed (so the model stores no data).
fn session_data(seed: u64, len: usize) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&r.next().to_le_bytes());
    }
    v.truncate(len);
    v
}

// ---------------------------------------------------------------- processes

/// One managed program (dc_server or dc_client) and its incarnations.
struct Managed {
    name: &'static str,
    bin: PathBuf,
    args: Vec<String>,
    socket: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// Set while the driver itself is killing it.
    restarts: u64,
}

impl Managed {
    fn start(&mut self) -> io::Result<()> {
        let _ = std::fs::remove_file(&self.socket);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(&self.bin)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        // Ready once the socket accepts a connection (bounded wait).
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(io::Error::other(format!("{} exited at start: {st}", self.name)));
            }
            thread::sleep(Duration::from_millis(10));
        }
        Err(io::Error::other(format!("{} did not start listening", self.name)))
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    /// Some(status) if it exited by itself.
    fn exited(&mut self) -> Option<String> {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(st))) => {
                self.child = None;
                Some(st.to_string())
            }
            _ => None,
        }
    }
}

fn proc_rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn proc_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

// ---------------------------------------------------------------- transport

/// Unix-socket streams with the client's own timeout on every read/write.
struct TimedConnector(PathBuf);

struct TimedStream(UnixStream);

impl Connector for TimedConnector {
    type Stream = TimedStream;

    fn connect(&self, _deadline: Instant) -> io::Result<TimedStream> {
        let s = UnixStream::connect(&self.0)?;
        s.set_read_timeout(Some(OP_TIMEOUT))?;
        s.set_write_timeout(Some(OP_TIMEOUT))?;
        Ok(TimedStream(s))
    }
}

impl Stream for TimedStream {
    fn send_all(&mut self, data: &[u8], _deadline: Instant) -> io::Result<()> {
        self.0.write_all(data)
    }

    fn recv(&mut self, buf: &mut [u8], _deadline: Instant) -> io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
}

// ---------------------------------------------------------------- shared state

#[derive(Default)]
struct Counters {
    ops: AtomicU64,
    adds: AtomicU64,
    gets: AtomicU64,
    haves: AtomicU64,
    removes: AtomicU64,
    verified_hits: AtomicU64,
    verified_bytes: AtomicU64,
    correct_absent: AtomicU64,
    evicted: AtomicU64,
    expiry_window: AtomicU64,
    lost_to_restart: AtomicU64,
    expected_failures: AtomicU64,
    unexpected_failures: AtomicU64,
    wrong: AtomicU64,
    timeouts: AtomicU64,
    max_latency_us: AtomicU64,
    garbage_conns: AtomicU64,
    garbage_bytes: AtomicU64,
    half_written: AtomicU64,
    server_kills: AtomicU64,
    client_kills: AtomicU64,
    unexpected_deaths: AtomicU64,
}

struct Shared {
    start: Instant,
    stop: AtomicBool,
    counters: Counters,
    /// Live-session upper bound published by each worker.
    live: Vec<AtomicUsize>,
    /// Latest instant (µs) at which the cache may have been full.
    last_full: AtomicU64,
    capacity: usize,
    /// Instant (µs) of the latest dc_server kill (0 = none).
    last_server_kill: AtomicU64,
    /// Fault windows (start, end) in µs; end u64::MAX while still open.
    windows: Mutex<Vec<(u64, u64)>>,
    problems: Mutex<Vec<String>>,
}

impl Shared {
    fn problem(&self, s: String) {
        let mut p = self.problems.lock().unwrap();
        if p.len() < 50 {
            eprintln!("soak: {s}");
            p.push(s);
        }
    }

    /// Whether [t0, t1] overlaps a fault window.
    fn in_fault_window(&self, t0: u64, t1: u64) -> bool {
        self.windows.lock().unwrap().iter().any(|&(a, b)| t0 <= b.saturating_add(RESTART_GRACE_US) && t1 >= a)
    }
}

// ---------------------------------------------------------------- model

#[derive(Clone, Copy)]
struct Stored {
    seed: u64,
    len: usize,
    /// When the ADD was sent and answered (µs).
    sent: u64,
    done: u64,
    timeout_ms: u64,
}

impl Stored {
    fn expiry_lo(&self) -> u64 {
        self.sent + self.timeout_ms * 1000
    }

    fn expiry_hi(&self) -> u64 {
        self.done + self.timeout_ms * 1000
    }
}

#[derive(Clone)]
enum State {
    Absent,
    Present(Stored),
    /// After a failed operation or a restart: any of these (or nothing).
    Unknown(Vec<(u64, usize)>),
}

/// What the model says about a session during an operation [t0, t1].
enum Expect {
    Alive(Stored),
    Gone,
    /// Near the expiry instant: either.
    Either(Stored),
    Unknown(Vec<(u64, usize)>),
}

enum Outcome {
    Found(Vec<u8>),
    NotFound,
}

struct Worker {
    idx: usize,
    shared: Arc<Shared>,
    client: Client<TimedConnector>,
    rng: Rng,
    model: HashMap<usize, State>,
    ids: Vec<Vec<u8>>,
    seq: u64,
    /// The session the current ADD tries to store, and (timeout, sent).
    pending_add: Option<(u64, usize)>,
    pending_meta: (u64, u64),
}

impl Worker {
    fn expect(&mut self, k: usize, t0: u64, t1: u64) -> Expect {
        let kill = self.shared.last_server_kill.load(SeqCst);
        let st = self.model.get(&k).cloned().unwrap_or(State::Absent);
        match st {
            State::Absent => Expect::Gone,
            State::Unknown(c) => Expect::Unknown(c),
            State::Present(s) => {
                if kill != 0 && s.sent <= kill {
                    // The server was restarted since: empty cache.
                    self.model.insert(k, State::Unknown(vec![(s.seed, s.len)]));
                    self.shared.counters.lost_to_restart.fetch_add(1, SeqCst);
                    return Expect::Unknown(vec![(s.seed, s.len)]);
                }
                if t1 + EXPIRY_TOLERANCE_US < s.expiry_lo() {
                    Expect::Alive(s)
                } else if t0 > s.expiry_hi() + EXPIRY_TOLERANCE_US {
                    self.model.insert(k, State::Absent);
                    Expect::Gone
                } else {
                    Expect::Either(s)
                }
            }
        }
    }

    fn may_be_evicted(&self, s: &Stored) -> bool {
        self.shared.last_full.load(SeqCst) >= s.sent
    }

    /// Checks an observed outcome; returns the model's new state.
    fn judge(&mut self, what: &str, k: usize, exp: Expect, out: Outcome) -> State {
        let c = &self.shared.counters;
        let matches = |seed: u64, len: usize, d: &[u8]| d.len() == len && d == session_data(seed, len).as_slice();
        match (exp, out) {
            (Expect::Alive(s), Outcome::Found(d)) | (Expect::Either(s), Outcome::Found(d)) => {
                if d.is_empty() || matches(s.seed, s.len, &d) {
                    c.verified_hits.fetch_add(1, SeqCst);
                    c.verified_bytes.fetch_add(d.len() as u64, SeqCst);
                    State::Present(s)
                } else {
                    self.wrong(format!("{what} {}: data differ ({} bytes, expected {})", self.id(k), d.len(), s.len));
                    State::Unknown(vec![(s.seed, s.len)])
                }
            }
            (Expect::Alive(s), Outcome::NotFound) => {
                if self.may_be_evicted(&s) {
                    c.evicted.fetch_add(1, SeqCst);
                } else {
                    self.wrong(format!("{what} {}: missing although the cache was never full", self.id(k)));
                }
                State::Absent
            }
            (Expect::Either(_), Outcome::NotFound) => {
                c.expiry_window.fetch_add(1, SeqCst);
                State::Absent
            }
            (Expect::Gone, Outcome::NotFound) => {
                c.correct_absent.fetch_add(1, SeqCst);
                State::Absent
            }
            (Expect::Gone, Outcome::Found(_)) => {
                self.wrong(format!("{what} {}: present although removed, expired or never added", self.id(k)));
                State::Absent
            }
            (Expect::Unknown(cands), Outcome::Found(d)) => {
                if d.is_empty() || cands.iter().any(|&(seed, len)| matches(seed, len, &d)) {
                    State::Unknown(cands)
                } else {
                    self.wrong(format!("{what} {}: data of no session ever added", self.id(k)));
                    State::Unknown(cands)
                }
            }
            (Expect::Unknown(cands), Outcome::NotFound) => State::Unknown(cands),
        }
    }

    fn id(&self, k: usize) -> String {
        String::from_utf8_lossy(&self.ids[k]).into_owned()
    }

    fn wrong(&self, s: String) {
        self.shared.counters.wrong.fetch_add(1, SeqCst);
        self.shared.problem(format!("WRONG {s}"));
    }

    fn failed(&mut self, k: usize, what: &str, t0: u64, t1: u64, err: &str) {
        let c = &self.shared.counters;
        if t1 - t0 >= OP_TIMEOUT.as_micros() as u64 {
            c.timeouts.fetch_add(1, SeqCst);
        }
        if self.shared.in_fault_window(t0, t1) {
            c.expected_failures.fetch_add(1, SeqCst);
        } else {
            c.unexpected_failures.fetch_add(1, SeqCst);
            self.shared.problem(format!("{what} {} failed outside any fault window: {err}", self.id(k)));
        }
        // Whatever the operation may have done is now unknown.
        let st = self.model.get(&k).cloned().unwrap_or(State::Absent);
        let kill = self.shared.last_server_kill.load(SeqCst);
        let mut cands = match st {
            State::Absent => vec![],
            State::Present(s) => {
                if kill != 0 && s.sent <= kill {
                    c.lost_to_restart.fetch_add(1, SeqCst);
                }
                vec![(s.seed, s.len)]
            }
            State::Unknown(c) => c,
        };
        if let Some(&(seed, len)) = self.pending_add.as_ref() {
            cands.push((seed, len));
        }
        self.model.insert(k, State::Unknown(cands));
    }

    fn publish_live(&mut self, now: u64) {
        let live = self
            .model
            .values()
            .filter(|s| match s {
                State::Absent => false,
                State::Present(st) => st.expiry_hi() + EXPIRY_TOLERANCE_US >= now,
                State::Unknown(_) => true,
            })
            .count();
        self.shared.live[self.idx].store(live, SeqCst);
    }

    fn run(mut self) {
        let sh = self.shared.clone();
        while !sh.stop.load(SeqCst) {
            let k = self.rng.below(self.ids.len() as u64) as usize;
            self.pending_add = None;
            let resync = matches!(self.model.get(&k), Some(State::Unknown(_)));
            let pick = self.rng.below(100);
            let t0 = now_us(sh.start);
            let id = self.ids[k].clone();
            let (what, res): (&str, Result<Vec<u8>, TxError>) = if resync && pick < 50 {
                ("REMOVE", self.client.transact(Cmd::Remove, &id))
            } else if pick < 35 {
                let len = self.rng.range(100, 30 * 1024) as usize;
                let timeout_ms = self.rng.range(1000, 60_000);
                self.seq += 1;
                let seed = (self.idx as u64) << 48 ^ self.seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                self.pending_add = Some((seed, len));
                let payload = encode_add(timeout_ms as u32, &id, &session_data(seed, len)).expect("fits");
                self.pending_meta = (timeout_ms, t0);
                ("ADD", self.client.transact(Cmd::Add, &payload))
            } else if pick < 75 {
                ("GET", self.client.transact(Cmd::Get, &id))
            } else if pick < 87 {
                ("HAVE", self.client.transact(Cmd::Have, &id))
            } else {
                ("REMOVE", self.client.transact(Cmd::Remove, &id))
            };
            let t1 = now_us(sh.start);
            let c = &sh.counters;
            c.ops.fetch_add(1, SeqCst);
            c.max_latency_us.fetch_max(t1 - t0, SeqCst);
            match what {
                "ADD" => c.adds.fetch_add(1, SeqCst),
                "GET" => c.gets.fetch_add(1, SeqCst),
                "HAVE" => c.haves.fetch_add(1, SeqCst),
                _ => c.removes.fetch_add(1, SeqCst),
            };
            let reply = match res {
                Ok(r) => r,
                Err(e) => {
                    let err = match e {
                        TxError::Network(e) => e.to_string(),
                        TxError::Protocol => "empty or malformed response".to_string(),
                        TxError::BackingOff => "backing off after an unresponsive server".to_string(),
                    };
                    self.failed(k, what, t0, t1, &err);
                    continue;
                }
            };
            // 0x02: the proxy lost the server with this request in flight.
            if reply == [2] {
                self.failed(k, what, t0, t1, "disconnected (0x02)");
                continue;
            }
            let exp = self.expect(k, t0, t1);
            let new_state = match what {
                "GET" => {
                    let out = if reply.len() >= 5 {
                        Outcome::Found(reply)
                    } else if reply == [1] {
                        Outcome::NotFound
                    } else {
                        self.wrong(format!("GET {}: unexpected reply {:?}", self.id(k), reply));
                        continue;
                    };
                    self.judge("GET", k, exp, out)
                }
                "HAVE" | "REMOVE" => {
                    let out = match reply.as_slice() {
                        [0] => Outcome::Found(Vec::new()),
                        [1] => Outcome::NotFound,
                        _ => {
                            self.wrong(format!("{what} {}: unexpected reply {:?}", self.id(k), reply));
                            continue;
                        }
                    };
                    let st = self.judge(what, k, exp, out);
                    if what == "REMOVE" {
                        State::Absent
                    } else {
                        st
                    }
                }
                _ => {
                    // ADD: OK means the id was free; 101 that a live session
                    // with this id exists.
                    let (seed, len) = self.pending_add.expect("add pending");
                    let (timeout_ms, sent) = self.pending_meta;
                    let fresh = Stored { seed, len, sent, done: t1, timeout_ms };
                    match reply.as_slice() {
                        [0] => {
                            // The previous session (if any) must be gone.
                            let _ = self.judge("ADD", k, exp, Outcome::NotFound);
                            State::Present(fresh)
                        }
                        [101] => self.judge("ADD", k, exp, Outcome::Found(Vec::new())),
                        _ => {
                            self.wrong(format!("ADD {}: unexpected reply {:?}", self.id(k), reply));
                            continue;
                        }
                    }
                }
            };
            self.model.insert(k, new_state);
            let now = now_us(sh.start);
            self.publish_live(now);
            if what == "ADD" {
                let total: usize = sh.live.iter().map(|a| a.load(SeqCst)).sum();
                // Other workers' adds in flight may not be counted yet.
                if total + sh.live.len() >= sh.capacity {
                    sh.last_full.fetch_max(now, SeqCst);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- faults

/// Sends random bytes on fresh connections to both processes, and starts
/// requests that are abandoned half-written (some held open for a while).
fn garbage(shared: Arc<Shared>, sockets: [PathBuf; 2], seed: u64) {
    let mut rng = Rng(seed);
    let mut held: Vec<(UnixStream, Instant)> = Vec::new();
    while !shared.stop.load(SeqCst) {
        thread::sleep(Duration::from_millis(rng.range(5, 40)));
        let path = &sockets[rng.below(2) as usize];
        let Ok(mut s) = UnixStream::connect(path) else { continue };
        let _ = s.set_write_timeout(Some(Duration::from_millis(500)));
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let c = &shared.counters;
        if rng.below(2) == 0 {
            // Garbage: random bytes, sometimes behind a valid header start.
            let n = rng.range(1, 4096) as usize;
            let mut bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            if rng.below(2) == 0 && n > 5 {
                bytes[..5].copy_from_slice(&[0, 0x11, 0, 0, 0]);
            }
            if s.write_all(&bytes).is_ok() {
                c.garbage_bytes.fetch_add(n as u64, SeqCst);
            }
            c.garbage_conns.fetch_add(1, SeqCst);
            let mut sink = [0u8; 4096];
            let _ = s.read(&mut sink);
        } else {
            // A request cut short: an ADD of up to 30 KiB, part of it sent.
            let len = rng.range(100, 30 * 1024) as usize;
            let payload = encode_add(5000, b"half-written", &session_data(rng.next(), len)).expect("fits");
            let mut frames = Vec::new();
            encode_message(&mut frames, false, rng.next() as u32, Cmd::Add, &payload);
            let cut = rng.range(1, frames.len() as u64 - 1) as usize;
            let _ = s.write_all(&frames[..cut]);
            c.half_written.fetch_add(1, SeqCst);
            if held.len() < 32 {
                held.push((s, Instant::now() + Duration::from_millis(rng.range(0, 3000))));
            }
        }
        held.retain(|(_, until)| Instant::now() < *until);
    }
}

/// Kills and restarts dc_server or dc_client at random intervals.
fn injector(shared: Arc<Shared>, procs: Arc<Mutex<[Managed; 2]>>, seed: u64) {
    let mut rng = Rng(seed);
    loop {
        let wait = Duration::from_millis(rng.range(4000, 15000));
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if shared.stop.load(SeqCst) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        // Alternately dc_server and dc_client, starting with dc_server.
        let which =
            (shared.counters.server_kills.load(SeqCst) + shared.counters.client_kills.load(SeqCst)) as usize % 2;
        let mut p = procs.lock().unwrap();
        let t = now_us(shared.start);
        shared.windows.lock().unwrap().push((t, u64::MAX));
        if which == 0 {
            shared.last_server_kill.store(t.max(1), SeqCst);
            shared.counters.server_kills.fetch_add(1, SeqCst);
        } else {
            shared.counters.client_kills.fetch_add(1, SeqCst);
        }
        p[which].kill();
        p[which].restarts += 1;
        // Down for a moment, as after a crash, then back.
        thread::sleep(Duration::from_millis(rng.range(0, 1000)));
        if let Err(e) = p[which].start() {
            shared.problem(format!("restarting {} failed: {e}", p[which].name));
        }
        let end = now_us(shared.start) + PROXY_RETRY_MS * 1000;
        let mut w = shared.windows.lock().unwrap();
        if let Some(last) = w.last_mut() {
            last.1 = end;
        }
    }
}

// ---------------------------------------------------------------- main

struct Sample {
    t: u64,
    rss: [Option<u64>; 2],
    fds: [Option<usize>; 2],
    restarts: [u64; 2],
}

fn main() {
    let cfg = parse_args();
    std::fs::create_dir_all(&cfg.dir).expect("work directory");
    let server_sock = cfg.dir.join("server.sock");
    let proxy_sock = cfg.dir.join("proxy.sock");
    let unix = |p: &Path| format!("UNIX:{}", p.display());
    let server = Managed {
        name: "dc_server",
        bin: cfg.server_bin.clone(),
        args: vec!["-listen".into(), unix(&server_sock), "-sessions".into(), cfg.sessions.to_string()],
        socket: server_sock.clone(),
        log: cfg.dir.join("dc_server.log"),
        child: None,
        restarts: 0,
    };
    let proxy = Managed {
        name: "dc_client",
        bin: cfg.client_bin.clone(),
        args: vec![
            "-listen".into(),
            unix(&proxy_sock),
            "-server".into(),
            unix(&server_sock),
            "-retry".into(),
            PROXY_RETRY_MS.to_string(),
        ],
        socket: proxy_sock.clone(),
        log: cfg.dir.join("dc_client.log"),
        child: None,
        restarts: 0,
    };
    let procs = Arc::new(Mutex::new([server, proxy]));
    {
        let mut p = procs.lock().unwrap();
        for m in p.iter_mut() {
            if let Err(e) = m.start() {
                eprintln!("soak: {e}");
                for m in p.iter_mut() {
                    m.kill();
                }
                std::process::exit(1);
            }
        }
    }
    let shared = Arc::new(Shared {
        start: Instant::now(),
        stop: AtomicBool::new(false),
        counters: Counters::default(),
        live: (0..cfg.workers).map(|_| AtomicUsize::new(0)).collect(),
        last_full: AtomicU64::new(0),
        capacity: cfg.capacity,
        last_server_kill: AtomicU64::new(0),
        windows: Mutex::new(Vec::new()),
        problems: Mutex::new(Vec::new()),
    });
    let mut threads = Vec::new();
    for w in 0..cfg.workers {
        let flags = if w % 2 == 0 {
            Flags::from_bits(Flags::PERSISTENT | Flags::RETRY | Flags::LATE)
        } else {
            Flags::default()
        };
        // The soak's own socket timeouts bound each operation; every
        // operation goes to the network (no back-off).
        let bounds = Bounds { deadline: OP_TIMEOUT, backoff: Duration::from_millis(1) };
        let client = Client::with_bounds(TimedConnector(proxy_sock.clone()), flags, bounds).expect("client");
        let worker = Worker {
            idx: w,
            shared: shared.clone(),
            client,
            rng: Rng(0x5eed_0000 + w as u64 * 7919),
            model: HashMap::new(),
            ids: (0..cfg.ids_per_worker).map(|k| format!("soak-w{w:02}-s{k:04}").into_bytes()).collect(),
            seq: 0,
            pending_add: None,
            pending_meta: (0, 0),
        };
        threads.push(thread::spawn(move || worker.run()));
    }
    if cfg.faults {
        let (sh, pr) = (shared.clone(), procs.clone());
        threads.push(thread::spawn(move || injector(sh, pr, 0xfa17)));
        let sh = shared.clone();
        let socks = [server_sock.clone(), proxy_sock.clone()];
        threads.push(thread::spawn(move || garbage(sh, socks, 0x6a7b)));
    }

    // Monitor: samples, and processes that die without being killed.
    let mut samples: Vec<Sample> = Vec::new();
    let csv_path = cfg.dir.join("samples.csv");
    let mut csv = std::fs::File::create(&csv_path).expect("samples file");
    let _ =
        writeln!(csv, "seconds,server_rss_kb,server_fds,client_rss_kb,client_fds,ops,server_restarts,client_restarts");
    let end = Instant::now() + Duration::from_secs(cfg.seconds);
    let mut next_sample = Instant::now();
    while Instant::now() < end {
        thread::sleep(Duration::from_millis(100));
        let mut p = procs.lock().unwrap();
        for m in p.iter_mut() {
            if let Some(st) = m.exited() {
                shared.counters.unexpected_deaths.fetch_add(1, SeqCst);
                shared.problem(format!("{} died by itself ({st}); restarting", m.name));
                let t = now_us(shared.start);
                shared.windows.lock().unwrap().push((t, u64::MAX));
                if m.name == "dc_server" {
                    shared.last_server_kill.store(t, SeqCst);
                }
                let _ = m.start();
                let e = now_us(shared.start);
                if let Some(last) = shared.windows.lock().unwrap().last_mut() {
                    last.1 = e;
                }
            }
        }
        if Instant::now() >= next_sample {
            next_sample += Duration::from_secs(5);
            let s = Sample {
                t: shared.start.elapsed().as_secs(),
                rss: [p[0].pid().and_then(proc_rss_kb), p[1].pid().and_then(proc_rss_kb)],
                fds: [p[0].pid().and_then(proc_fds), p[1].pid().and_then(proc_fds)],
                restarts: [p[0].restarts, p[1].restarts],
            };
            let f = |v: Option<u64>| v.map_or(String::new(), |x| x.to_string());
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{}",
                s.t,
                f(s.rss[0]),
                f(s.fds[0].map(|x| x as u64)),
                f(s.rss[1]),
                f(s.fds[1].map(|x| x as u64)),
                shared.counters.ops.load(SeqCst),
                s.restarts[0],
                s.restarts[1]
            );
            samples.push(s);
        }
    }
    shared.stop.store(true, SeqCst);
    let join_deadline = Instant::now() + OP_TIMEOUT * 3;
    for t in threads {
        while !t.is_finished() && Instant::now() < join_deadline {
            thread::sleep(Duration::from_millis(20));
        }
        if t.is_finished() {
            let _ = t.join();
        } else {
            shared.problem("a driver thread did not stop".into());
        }
    }
    // Final liveness check, then stop both processes.
    let mut p = procs.lock().unwrap();
    for m in p.iter_mut() {
        if let Some(st) = m.exited() {
            shared.counters.unexpected_deaths.fetch_add(1, SeqCst);
            shared.problem(format!("{} died by itself ({st})", m.name));
        }
        m.kill();
    }
    drop(p);
    std::process::exit(report(&cfg, &shared, &samples));
}

/// Prints the figures and the checks; returns the exit status.
fn report(cfg: &Config, sh: &Shared, samples: &[Sample]) -> i32 {
    let c = &sh.counters;
    let g = |a: &AtomicU64| a.load(SeqCst);
    let secs = sh.start.elapsed().as_secs_f64();
    println!(
        "soak: {:.0} s, {} workers, -sessions {}, faults {}",
        secs,
        cfg.workers,
        cfg.sessions,
        if cfg.faults { "on" } else { "off" }
    );
    println!(
        "operations: {} ({:.0}/s): add {} get {} have {} remove {}",
        g(&c.ops),
        g(&c.ops) as f64 / secs,
        g(&c.adds),
        g(&c.gets),
        g(&c.haves),
        g(&c.removes)
    );
    println!(
        "answers: verified present {} ({} bytes compared), verified absent {}, evicted (cache full) {}, \
         expiry window {}, lost to server restart {}",
        g(&c.verified_hits),
        g(&c.verified_bytes),
        g(&c.correct_absent),
        g(&c.evicted),
        g(&c.expiry_window),
        g(&c.lost_to_restart)
    );
    println!(
        "failures: expected (process down) {}, unexpected {}; wrong answers {}; timeouts {}; max latency {:.1} ms",
        g(&c.expected_failures),
        g(&c.unexpected_failures),
        g(&c.wrong),
        g(&c.timeouts),
        g(&c.max_latency_us) as f64 / 1000.0
    );
    println!(
        "faults: dc_server kills {}, dc_client kills {}, garbage connections {} ({} bytes), half-written requests {}, \
         unexpected deaths {}",
        g(&c.server_kills),
        g(&c.client_kills),
        g(&c.garbage_conns),
        g(&c.garbage_bytes),
        g(&c.half_written),
        g(&c.unexpected_deaths)
    );
    let mut passed = 0;
    let mut failed = 0;
    let mut check = |ok: bool, what: String| {
        if ok {
            passed += 1;
            println!("PASS {what}");
        } else {
            failed += 1;
            println!("FAIL {what}");
        }
    };
    check(g(&c.ops) > 0 && g(&c.verified_hits) > 0, format!("soak/traffic ({} operations)", g(&c.ops)));
    check(g(&c.wrong) == 0, format!("soak/wrong-answers ({})", g(&c.wrong)));
    check(g(&c.unexpected_failures) == 0, format!("soak/unexpected-failures ({})", g(&c.unexpected_failures)));
    check(
        g(&c.timeouts) == 0,
        format!("soak/no-hang ({} ops hit the {} s timeout)", g(&c.timeouts), OP_TIMEOUT.as_secs()),
    );
    check(g(&c.unexpected_deaths) == 0, format!("soak/no-unexpected-deaths ({})", g(&c.unexpected_deaths)));
    let problems = sh.problems.lock().unwrap().len();
    check(problems == 0, format!("soak/no-driver-problems ({problems})"));
    // Resource flatness per process, over samples after warm-up taken in
    // one incarnation (the last one, when faults restarted it).
    for (i, name) in ["dc_server", "dc_client"].iter().enumerate() {
        let last_restarts = samples.last().map_or(0, |s| s.restarts[i]);
        let steady: Vec<&Sample> =
            samples.iter().filter(|s| s.t >= cfg.warmup && s.restarts[i] == last_restarts).collect();
        let rss: Vec<u64> = steady.iter().filter_map(|s| s.rss[i]).collect();
        let fds: Vec<usize> = steady.iter().filter_map(|s| s.fds[i]).collect();
        if rss.len() < 3 || cfg.faults {
            if let (Some(lo), Some(hi)) = (rss.iter().min(), rss.iter().max()) {
                println!(
                    "{name}: RSS {lo}..{hi} kB, descriptors {:?}..{:?} (last incarnation)",
                    fds.iter().min(),
                    fds.iter().max()
                );
            }
            continue;
        }
        // Flat: no drift between the first and the last sixth of the
        // samples after warm-up (medians, so that the natural swing of
        // the cached data, 100 B - 30 KiB per session, does not count as
        // growth). The full range is reported as well.
        let sixth = (rss.len() / 6).max(1);
        let median = |v: &[u64]| {
            let mut v = v.to_vec();
            v.sort_unstable();
            v[v.len() / 2]
        };
        let early = median(&rss[..sixth]);
        let late = median(&rss[rss.len() - sixth..]);
        let drift = (late as f64 - early as f64) / early as f64 * 100.0;
        let (lo, hi) = (*rss.iter().min().unwrap(), *rss.iter().max().unwrap());
        let spread = (hi - lo) as f64 / lo as f64 * 100.0;
        println!(
            "{name}: RSS after warm-up ({} samples from {} s): median of first sixth {early} kB, of last sixth \
             {late} kB (drift {drift:+.1}%); min {lo}, max {hi} kB (range {spread:.1}% of min)",
            rss.len(),
            cfg.warmup,
        );
        check(drift.abs() <= 5.0, format!("soak/{name}-rss-flat (drift {drift:+.1}%, limit 5%)"));
        let (flo, fhi) = (*fds.iter().min().unwrap(), *fds.iter().max().unwrap());
        println!("{name}: descriptors after warm-up: min {flo}, max {fhi}, last {}", fds.last().unwrap());
        // Connections come and go with the 16 workers; the count must stay
        // within the bound they can hold open, with no upward drift.
        let bound = fds[0].max(flo) + cfg.workers + 4;
        check(fhi <= bound, format!("soak/{name}-descriptors-flat (max {fhi} <= {bound})"));
    }
    for p in sh.problems.lock().unwrap().iter().take(20) {
        println!("  problem: {p}");
    }
    println!("{passed} passed, {failed} failed");
    i32::from(failed > 0)
}
