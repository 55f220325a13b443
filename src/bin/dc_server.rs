//! dc_server: the distcache session cache server.
//!
//! Accepts clients on one libnal address and answers their requests from
//! the builtin cache, or from Valkey/Redis with `-cache URL`. Prints a statistics line on stderr when the session
//! count changes (at most once a second) or, with `-progress N`, whenever
//! the operation count crosses a multiple of N.

mod common;

use distcache_core::cache::redis::{config as redis_config, RedisConfig, StartState};
use distcache_core::cache::{BuiltinCache, Now, RedisStore};
use distcache_core::protocol::Corrupt;
use distcache_core::server::event_loop::{self, Hooks};
use distcache_core::server::snapshots::Snapshots;
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
/// Upper bound of `-idle-timeout` (one day).
const MAX_IDLE_SECS: u64 = 86_400;
/// ... and this often while snapshots are on (a snapshot is listed in
/// short steps between rounds, also when no client is talking).
const SNAPSHOT_TICK_USEC: u64 = 20_000;
const DEFAULT_SNAPSHOT_INTERVAL: u64 = 60;
const MAX_SNAPSHOT_INTERVAL: u64 = 86_400;

fn usage() -> ! {
    eprint!(
        "Usage: dc_server [options]\n\
         where options include;\n\
         \x20   -listen <addr>       - the address to listen on (required)\n\
         \x20   -sessions <num>      - the maximum number of sessions to store (default: 512)\n\
         \x20   -expiry-floor <ms>   - store sessions added with a shorter timeout for <ms> (default: 0, off)\n\
         \x20   -cache <url>         - where sessions live: builtin (default), redis://[user[:pass]@]host[:port][/db],\n\
         \x20                          rediss://... (TLS), redis+cluster://host[:port][,host[:port]...], rediss+cluster://...\n\
         \x20   -cache-prefix <str>  - put <str> before every session id in Redis keys (default: dc:)\n\
         \x20   -cache-timeout <ms>  - a Redis operation not answered within <ms> fails (10..60000, default: 1000)\n\
         \x20   -cache-ca <file>     - PEM file of the CA(s) that sign the Redis servers' certificates\n\
         \x20   -cache-password-file <file> - the Redis password: the file's first line\n\
         \x20                          (else the URL's, else $DC_CACHE_PASSWORD)\n\
         \x20   -progress <num>      - also report every <num> operations\n\
         \x20   -idle-timeout <secs> - close client connections idle this long (default: 0, never)\n\
         \x20   -daemon              - detach and run in the background\n\
         \x20   -pidfile <path>      - write the process id to <path>\n\
         \x20   -user <user>         - run as <user> once listening\n\
         \x20   -sockowner <user>    - owner of the unix socket file\n\
         \x20   -sockgroup <group>   - group of the unix socket file\n\
         \x20   -sockperms <oct>     - permissions of the unix socket file\n\
         \x20   -killable            - exit cleanly on SIGUSR1 or SIGUSR2\n\
         \x20   -snapshot <file>     - keep sessions across restarts in <file> (loaded at start,\n\
         \x20                          written every interval and at SIGTERM/SIGINT/SIGHUP)\n\
         \x20   -snapshot-interval <secs> - seconds between snapshots (default: 60, 0 = only at exit)\n{}\
         \x20   -h                   - display this usage message\n\
     \x20   (every option may also be given with two dashes: --listen, --help)\n\
         'addr' examples: UNIX:/tmp/dc.sock, IP:9001, IP:127.0.0.1:9001, IPv6:[::1]:9001\n",
        common::tls::SERVER_USAGE
    );
    exit(0)
}

fn fail_usage(msg: &str) -> ! {
    eprintln!("dc_server: {msg}");
    let _ = io::stderr().flush();
    eprintln!("Run 'dc_server -h' for the list of options.");
    exit(1)
}

#[derive(Default)]
struct Options {
    listen: Option<String>,
    sessions: usize,
    progress: u64,
    expiry_floor: u64,
    idle_timeout: Option<Duration>,
    cache: Option<String>,
    cache_prefix: Option<String>,
    cache_timeout: Option<u64>,
    cache_ca: Option<String>,
    cache_password_file: Option<String>,
    service: common::ServiceOptions,
    snapshot: Option<std::path::PathBuf>,
    snapshot_interval: u64,
    snapshot_interval_given: bool,
    tls: common::tls::TlsOptions,
}

fn parse_args() -> Options {
    let mut o =
        Options { sessions: DEFAULT_SESSIONS, snapshot_interval: DEFAULT_SNAPSHOT_INTERVAL, ..Default::default() };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || -> String { args.next().unwrap_or_else(|| fail_usage(&common::missing_value(&arg))) };
        match common::flag_name(&arg) {
            "-h" | "-help" | "-?" => usage(),
            "-listen" => o.listen = Some(value()),
            "-sessions" => {
                let text = value();
                let v = common::atoi(&text);
                // The cache needs at least 64 slots; smaller values are
                // refused here rather than after start-up.
                if v < 64 || v > MAX_SESSIONS as i64 {
                    fail_usage(&common::invalid(&arg, &text, &common::range(64, MAX_SESSIONS, "")));
                }
                o.sessions = v as usize;
            }
            "-progress" => {
                let text = value();
                let v = common::atoi(&text);
                if !(0..=MAX_PROGRESS as i64).contains(&v) {
                    fail_usage(&common::invalid(&arg, &text, &common::range(0, MAX_PROGRESS, "")));
                }
                o.progress = v as u64;
            }
            "-expiry-floor" => {
                let text = value();
                let v = common::atoi(&text);
                if !(0..=604_800_000).contains(&v) {
                    fail_usage(&common::invalid(&arg, &text, &common::range(0, 604_800_000, "milliseconds")));
                }
                o.expiry_floor = v as u64;
            }
            "-idle-timeout" => {
                let text = value();
                match common::decimal(&text) {
                    Some(0) => o.idle_timeout = None,
                    Some(s) if s <= MAX_IDLE_SECS => o.idle_timeout = Some(Duration::from_secs(s)),
                    _ => fail_usage(&common::invalid(&arg, &text, &common::range(0, MAX_IDLE_SECS, "seconds"))),
                }
            }
            "-snapshot" => {
                let v = value();
                if v.is_empty() {
                    fail_usage(&common::invalid(&arg, &v, "give the path of the snapshot file"));
                }
                // Absolute: -daemon changes the working directory.
                let p = std::path::Path::new(&v);
                o.snapshot = Some(if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
                });
            }
            "-snapshot-interval" => {
                let text = value();
                match common::decimal(&text) {
                    Some(n) if n <= MAX_SNAPSHOT_INTERVAL => {
                        o.snapshot_interval = n;
                        o.snapshot_interval_given = true;
                    }
                    _ => fail_usage(&common::invalid(&arg, &text, &common::range(0, MAX_SNAPSHOT_INTERVAL, "seconds"))),
                }
            }
            flag if o.tls.take(flag, false, &mut value) => {}
            "-cache" => o.cache = Some(value()),
            "-cache-prefix" => o.cache_prefix = Some(value()),
            "-cache-timeout" => {
                let text = value();
                let v = common::atoi(&text);
                let (lo, hi) = (redis_config::MIN_TIMEOUT_MS, redis_config::MAX_TIMEOUT_MS);
                if !(lo as i64..=hi as i64).contains(&v) {
                    fail_usage(&common::invalid(&arg, &text, &common::range(lo, hi, "milliseconds")));
                }
                o.cache_timeout = Some(v as u64);
            }
            "-cache-ca" => o.cache_ca = Some(value()),
            "-cache-password-file" => o.cache_password_file = Some(value()),
            _ => {
                if !o.service.take(&arg, value) {
                    fail_usage(&common::unrecognised(&arg));
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
    idle_timeout: Option<Duration>,
    snapshots: Option<Snapshots>,
}

impl Hooks for Stats {
    fn round(&mut self, server: &mut Server, now: Now) -> bool {
        if common::stop_requested() {
            return true;
        }
        self.tick(server, now);
        if let Some(s) = self.snapshots.as_mut() {
            s.tick(server);
        }
        false
    }

    fn interrupted(&mut self) -> bool {
        if common::stop_requested() {
            return true;
        }
        eprintln!("Error, select interrupted for unknown signal, continuing");
        false
    }

    fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
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

fn bad_cache(url: &str, what: &str) -> String {
    format!("-cache '{}': {what}", redis_config::redact(url))
}

/// The Redis store's configuration (files read now, before any change of
/// user), None for the builtin cache; exits naming what is wrong.
fn redis_options(o: &Options) -> Option<RedisConfig> {
    let url = match o.cache.as_deref() {
        Some(url) if !redis_config::is_builtin(url) => url,
        _ => {
            if o.cache_prefix.is_some()
                || o.cache_timeout.is_some()
                || o.cache_ca.is_some()
                || o.cache_password_file.is_some()
            {
                fail_usage("the -cache-* options need -cache with a Redis URL (redis://, rediss://, ...)");
            }
            return None;
        }
    };
    let fail = |what: String| -> ! { common::fail(&bad_cache(url, &what)) };
    let mut config = RedisConfig::parse(url).unwrap_or_else(|e| fail(e));
    if let Some(p) = &o.cache_prefix {
        config.prefix = p.as_bytes().to_vec();
    }
    if let Some(t) = o.cache_timeout {
        config.timeout = Duration::from_millis(t);
    }
    if let Some(ca) = &o.cache_ca {
        if !config.tls {
            fail("-cache-ca needs a rediss:// URL".to_string());
        }
        config.load_ca(ca).unwrap_or_else(|e| fail(e));
    }
    let env = std::env::var(redis_config::PASSWORD_ENV).ok();
    config.resolve_password(o.cache_password_file.as_deref(), env).unwrap_or_else(|e| fail(e));
    Some(config)
}

/// Starts the Redis store (after any fork: it runs a thread); Err names
/// what is wrong (a wrong password, an untrusted certificate).
fn start_redis(config: RedisConfig, url: &str) -> Result<RedisStore, String> {
    match RedisStore::start(config) {
        Ok((store, StartState::Connected)) => Ok(store),
        Ok((store, StartState::Unreachable(why))) => {
            eprintln!(
                "dc_server: warning: -cache '{}' is unreachable ({why}); serving anyway: operations fail until it is reached (retrying)",
                redis_config::redact(url)
            );
            Ok(store)
        }
        Err(why) => Err(bad_cache(url, &why)),
    }
}

fn main() {
    let o = parse_args();
    let Some(listen) = o.listen.clone() else {
        fail_usage("must provide -listen <addr>, the address to accept clients on");
    };
    if o.snapshot_interval_given && o.snapshot.is_none() {
        eprintln!("Warning, -snapshot-interval has no effect without -snapshot");
    }
    let tls = o.tls.server_config("dc_server");
    if tls.is_some() && listen.starts_with("FD:") {
        fail_usage(&format!("-tls-cert needs a socket listener (IP:, IPv6: or UNIX:), not '{listen}'"));
    }
    let redis = redis_options(&o);
    if redis.is_some() && o.snapshot.is_some() {
        fail_usage("-snapshot keeps the builtin cache's sessions; with -cache the sessions live in Valkey/Redis, which persists them itself");
    }
    common::install_signals(o.service.killable);
    if o.snapshot.is_some() {
        // SIGTERM/SIGINT/SIGHUP end the loop so that a final snapshot is
        // written.
        common::stop_on_terminate();
    }
    common::raise_fd_limit();

    let (_addr, mut listener) = common::listen_or_exit("-listen", &listen, BUFFER_SIZE);
    o.service.start(&listener);

    let mut server = match redis {
        Some(config) => match start_redis(config, o.cache.as_deref().unwrap_or("")) {
            Ok(store) => Server::with_store(Box::new(store)),
            Err(why) => {
                listener.remove_socket_file();
                common::fail(&why);
            }
        },
        None => {
            let Some(cache) = BuiltinCache::new(o.sessions) else {
                listener.remove_socket_file();
                common::fail("can't allocate the cache");
            };
            Server::new(Box::new(cache))
        }
    };
    server.set_expiry_floor(o.expiry_floor);
    let mut stats = Stats {
        progress: o.progress,
        last_check: Now::wall_clock().micros(),
        last_ops: 0,
        last_sessions: 0,
        reported_versions: 0,
        idle_timeout: o.idle_timeout,
        snapshots: None,
    };
    let mut tick = TICK_USEC;
    if let Some(path) = &o.snapshot {
        let mut s = Snapshots::new(path, o.snapshot_interval, Box::new(|line: &str| eprintln!("{line}")));
        if s.load(&mut server) {
            stats.last_sessions = server.items_stored(Now::wall_clock());
            stats.snapshots = Some(s);
            tick = SNAPSHOT_TICK_USEC;
        }
    }
    let served = event_loop::serve_tls(&mut server, &mut listener, Duration::from_micros(tick), &mut stats, tls);
    if let Err(e) = &served {
        eprintln!("{}: the event loop failed: {}", common::prog(), common::os_reason(e));
    }
    if let Some(s) = stats.snapshots.as_mut() {
        s.finish(&mut server);
    }
    if served.is_err() {
        listener.remove_socket_file();
        exit(1);
    }
    exit(0);
}
