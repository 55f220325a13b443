//! escrowd — the descriptor escrow daemon.
//!
//! `escrowd [-d] [-v] [-f] [-t nr_tags] [-h] <socket-path>`
//!
//! Options may be combined (`-vf`), values attached (`-t8`) and options may
//! follow the path; `--` ends the options. Start-up errors (bad path,
//! missing directory, existing file without `-f`, a live daemon on the
//! path) are reported before detaching, with exit status 1.

use distcache_core::escrow::daemon::Daemon;
use distcache_core::escrow::spawn::{spawn_keeping_stdio, Started};
use distcache_core::escrow::store::MAX_TAGS;
use distcache_core::escrow::sys;
use distcache_core::escrow::{ESCROW_FORCE, ESCROW_VERBOSE};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::exit;

const USAGE: &str = "\
Usage: escrowd [-d] [-v] [-f] [-t nr_tags] [-h] <socket-path>
    -d          detach: run in the background once listening
    -v          verbose: report every message on stderr
    -f          remove a stale socket file at <socket-path> first
    -t nr_tags  number of tags, 1..32768 (default 32)
    -h          print this help
";

fn usage_exit(msg: Option<&str>) -> ! {
    if let Some(m) = msg {
        eprintln!("{m}");
    }
    eprint!("{USAGE}");
    exit(1)
}

struct Options {
    detach: bool,
    flags: u32,
    nr_tags: i32,
    path: Option<PathBuf>,
}

/// Leading decimal integer of `s` (like atoi, but `None` if there is none).
fn leading_int(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    digits[..end.min(12)].parse::<i64>().ok().map(|v| sign * v)
}

fn parse(args: Vec<OsString>) -> Options {
    let mut o = Options { detach: false, flags: 0, nr_tags: 32, path: None };
    let mut operands = Vec::new();
    let mut only_operands = false;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let s = arg.to_string_lossy().into_owned();
        if only_operands || !s.starts_with('-') || s == "-" {
            operands.push(arg);
            continue;
        }
        if s == "--" {
            only_operands = true;
            continue;
        }
        let chars: Vec<char> = s[1..].chars().collect();
        let mut k = 0;
        while k < chars.len() {
            match chars[k] {
                'd' => o.detach = true,
                'v' => o.flags |= ESCROW_VERBOSE,
                'f' => o.flags |= ESCROW_FORCE,
                'h' => usage_exit(None),
                't' => {
                    let attached: String = chars[k + 1..].iter().collect();
                    let value = if !attached.is_empty() {
                        attached
                    } else {
                        match it.next() {
                            Some(v) => v.to_string_lossy().into_owned(),
                            None => usage_exit(Some("escrowd: option requires an argument -- 't'")),
                        }
                    };
                    match leading_int(&value) {
                        Some(n) if (1..=i64::from(MAX_TAGS)).contains(&n) => o.nr_tags = n as i32,
                        _ => usage_exit(Some(&format!("escrowd: invalid number of tags: {value}"))),
                    }
                    break;
                }
                c => usage_exit(Some(&format!("escrowd: invalid option -- '{c}'"))),
            }
            k += 1;
        }
    }
    o.path = operands.into_iter().next().map(PathBuf::from);
    o
}

fn main() {
    sys::ignore_sigpipe();
    let o = parse(std::env::args_os().skip(1).collect());
    let Some(path) = o.path else {
        usage_exit(Some("    Path to a UNIX domain socket must follow the options."));
    };
    if o.detach {
        // The detached daemon binds and listens before this process exits,
        // so start-up errors still give exit status 1 here.
        match spawn_keeping_stdio(&path, o.flags, o.nr_tags) {
            Ok(Started::Listening) => exit(0),
            Ok(Started::AlreadyRunning) => fail(-libc::EADDRINUSE),
            Err(e) => fail(e.negated()),
        }
    }
    match Daemon::start(&path, o.flags, o.nr_tags) {
        Ok(mut d) => d.run(),
        Err(e) => fail(e.errno().negated()),
    }
}

fn fail(rc: i32) -> ! {
    eprintln!("escrowd: escrowd_init(): {rc}");
    exit(1)
}
