//! dc_test: random-operation tester for a dc_client or dc_server.
//!
//! Generates a set of random sessions, then runs random ADD, REMOVE, GET
//! and HAVE operations on them through the client library, tracking which
//! sessions must be present, and stops at the first unexpected answer.
//! Every message goes to stderr; the exit status is 0 only when all
//! operations behaved.

mod common;

use common::atoi;
use distcache_core::client::net::NetConnector;
use distcache_core::client::{Client, Flags, GetResult};
use std::io::Read;
use std::process::exit;
use std::time::{SystemTime, UNIX_EPOCH};

const MAX_PROGRESS: i64 = 1_000_000;
const MAX_SESSIONS: i64 = 512;
const MAX_OPS: i64 = 1_000_000;
const MAX_SECS: i64 = 3600;
const MIN_DATA: i64 = 4;
const MAX_DATA: i64 = 4096;
/// Sessions longer than this are never generated, whatever the options.
const DATA_CAP: i64 = 65536;

fn usage_text() -> &'static str {
    "Usage: dc_test [options]\n\
     where options include;\n\
     \x20   -connect <addr>      - the dc_client or dc_server to test (required)\n\
     \x20   -progress <num>      - report after every <num> operations (default: 0, off)\n\
     \x20   -sessions <num>      - number of sample sessions, 1..512 (default: 10)\n\
     \x20   -datamin <num>       - minimum session length, at least 4 (default: 50)\n\
     \x20   -datamax <num>       - session length bound, at most 4096 (default: 2100)\n\
     \x20   -timeout <secs>      - mean session lifetime, at most 3600 (default: 60)\n\
     \x20   -timevar <secs>      - spread of the lifetime, below -timeout (default: 5)\n\
     \x20   -ops <num>           - random operations to run (default: 10 * sessions^2)\n\
     \x20   -persistent          - use one connection for everything\n\
     \x20   -h                   - display this usage message\n\
     \x20   (every option may also be given with two dashes: --connect, --help)\n"
}

fn fail_usage(msg: &str) -> ! {
    common::fail_usage(msg, usage_text())
}

use common::fail;

struct Options {
    connect: Option<String>,
    progress: u64,
    sessions: usize,
    datamin: i64,
    datamax: i64,
    timeout: i64,
    timevar: i64,
    ops: Option<u64>,
    persistent: bool,
}

fn parse_args() -> Options {
    let mut o = Options {
        connect: None,
        progress: 0,
        sessions: 10,
        datamin: 50,
        datamax: 2100,
        timeout: 60,
        timevar: 5,
        ops: None,
        persistent: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let flag = arg.clone();
        let mut value =
            |_name: &str| -> String { args.next().unwrap_or_else(|| fail_usage(&common::missing_value(&flag))) };
        let mut number = |name: &str, lo: i64, hi: i64| -> i64 {
            let text = value(name);
            let v = atoi(&text);
            if !(lo..=hi).contains(&v) {
                fail_usage(&common::invalid(&arg, &text, &common::range(lo, hi, "")));
            }
            v
        };
        match common::flag_name(&arg) {
            "-h" | "-help" | "-?" => {
                eprint!("{}", usage_text());
                exit(0)
            }
            "-connect" => o.connect = Some(value("connect")),
            "-progress" => o.progress = number("progress", 0, MAX_PROGRESS) as u64,
            "-sessions" => o.sessions = number("sessions", 1, MAX_SESSIONS) as usize,
            "-datamin" => o.datamin = atoi(&value("datamin")),
            "-datamax" => o.datamax = atoi(&value("datamax")),
            "-timeout" => o.timeout = number("timeout", 0, MAX_SECS),
            "-timevar" => o.timevar = number("timevar", 0, MAX_SECS),
            "-ops" => o.ops = Some(number("ops", 0, MAX_OPS) as u64),
            "-persistent" => o.persistent = true,
            "-withcert" => fail("-withcert is not available: this build has no OpenSSL support"),
            _ => fail_usage(&common::unrecognised(&arg)),
        }
    }
    if o.connect.is_none() {
        fail_usage("must provide -connect <addr>, the server to test");
    }
    if o.datamin < MIN_DATA {
        fail(&format!("invalid -datamin {}: give at least {MIN_DATA}", o.datamin));
    }
    if o.datamax > MAX_DATA {
        fail(&format!("invalid -datamax {}: give at most {MAX_DATA}", o.datamax));
    }
    if o.timevar >= o.timeout {
        fail(&format!("invalid -timevar {}: it must be smaller than -timeout ({})", o.timevar, o.timeout));
    }
    o
}

/// xorshift64* seeded from the clock and the system's random device.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let clock = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        let mut extra = [0u8; 8];
        urandom(&mut extra);
        let seed = clock ^ u64::from_le_bytes(extra) ^ (u64::from(std::process::id()) << 32);
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Fills `buf` from the system's random device (or, failing that, from
/// the generator of last resort: the clock).
fn urandom(buf: &mut [u8]) {
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf)).is_ok();
    if !ok {
        let mut x = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1) | 1;
        for b in buf {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

struct Session {
    id: Vec<u8>,
    data: Vec<u8>,
    present: bool,
}

fn main() {
    let o = parse_args();
    common::ignore_sigpipe();
    let target = o.connect.clone().expect("checked");
    let mut rng = Rng::seeded();
    let mut sessions: Vec<Session> = (0..o.sessions)
        .map(|_| {
            let id_len = 10 + rng.below(54) as usize;
            let span = (o.datamax - o.datamin) as f64;
            let data_len = (o.datamin + (span * rng.unit()).floor() as i64).clamp(0, DATA_CAP) as usize;
            let mut id = vec![0u8; id_len];
            let mut data = vec![0u8; data_len];
            urandom(&mut id);
            urandom(&mut data);
            Session { id, data, present: false }
        })
        .collect();
    let ops = o.ops.unwrap_or(10 * (o.sessions as u64) * (o.sessions as u64));

    let Some(connector) = NetConnector::new(target.as_bytes()) else {
        fail(&format!("invalid -connect '{target}': not a valid address to connect to ({})", common::ADDRESS_FORMS));
    };
    let client = match Client::new(connector, Flags { persistent: o.persistent, ..Flags::default() }) {
        Ok(c) => c,
        Err(e) => fail(&format!("can't connect to '{target}' (-connect): {}", common::os_reason(&e))),
    };
    eprintln!("Info, {} sessions generated, will run {ops} random tests", o.sessions);

    let base_ms = 1000 * (o.timeout - o.timevar) as u64;
    let spread_ms = 2000 * o.timevar as u64;
    let mut buf = vec![0u8; DATA_CAP as usize];
    let mut done: u64 = 0;
    while done < ops {
        let s = &mut sessions[rng.below(o.sessions as u64) as usize];
        let outcome = match rng.below(4) {
            0 => {
                let timeout = base_ms + if spread_ms > 0 { rng.below(spread_ms) } else { 0 };
                let stored = client.add(&s.id, &s.data, timeout).unwrap_or(false);
                match (s.present, stored) {
                    (false, true) => {
                        s.present = true;
                        Ok(())
                    }
                    (false, false) => Err("Error, add failed!"),
                    (true, true) => Err("Error, add succeeded and shouldn't have!"),
                    (true, false) => Ok(()),
                }
            }
            1 => {
                let removed = client.remove(&s.id).unwrap_or(false);
                match (s.present, removed) {
                    (true, true) => {
                        s.present = false;
                        Ok(())
                    }
                    (true, false) => Err("Error, remove failed!"),
                    (false, true) => Err("Error, remove succeeded and shouldn't have!"),
                    (false, false) => Ok(()),
                }
            }
            2 => {
                let got = client.get(&s.id, Some(&mut buf)).unwrap_or(GetResult::Failed);
                match (s.present, got) {
                    (true, GetResult::Found(len)) => {
                        if len == s.data.len() && buf[..len] == s.data[..] {
                            Ok(())
                        } else {
                            Err("Error, received mismatched session")
                        }
                    }
                    (true, _) => Err("Error, get failed!"),
                    (false, GetResult::Found(_)) => Err("Error, get succeeded and shouldn't have!"),
                    (false, _) => Ok(()),
                }
            }
            _ => match client.has(&s.id).unwrap_or(-1) {
                r if r < 0 => Err("Error, transaction failure"),
                1 if s.present => Ok(()),
                _ if s.present => Err("Error, have failed!"),
                0 => Ok(()),
                _ => Err("Error, have succeeded and shouldn't have!"),
            },
        };
        if let Err(msg) = outcome {
            eprintln!("{msg}");
            eprintln!("Info, {done} tests succeeded before the first failure");
            exit(1);
        }
        done += 1;
        if o.progress > 0 && done.is_multiple_of(o.progress) {
            eprintln!("Info, total operations = {done:7}");
        }
    }
    eprintln!("Info, all tests complete");
}
