//! escrowd — the descriptor escrow daemon.
//!
//! `escrowd [-d] [-v] [-f] [-t nr_tags] [-h] <socket-path>`
//!
//! Options may be combined (`-vf`), values attached (`-t8`) and options may
//! follow the path; `--` ends the options. Each option also has a long
//! form (`--detach`, `--verbose`, `--force`, `--tags N`, `--help`). Start-up errors (bad path,
//! missing directory, existing file without `-f`, a live daemon on the
//! path) are reported before detaching, with exit status 1.

use distcache_core::escrow::daemon::{Daemon, StartError};
use distcache_core::escrow::spawn::{spawn_keeping_stdio, Started};
use distcache_core::escrow::store::MAX_TAGS;
use distcache_core::escrow::sys;
use distcache_core::escrow::{Errno, ESCROW_FORCE, ESCROW_VERBOSE, MAX_PATH};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::exit;

const USAGE: &str = "\
Usage: escrowd [-d] [-v] [-f] [-t nr_tags] [-h] <socket-path>
    -d, --detach          run in the background once listening
    -v, --verbose         report every message on stderr
    -f, --force           remove a stale socket file at <socket-path> first
    -t, --tags nr_tags    number of tags, 1..32768 (default 32)
    -h, --help            print this help
";

/// `-h`: the usage text on standard output, status 0.
fn help_exit() -> ! {
    print!("{USAGE}");
    exit(0)
}

/// A usage error: what was wrong, then the usage text, status 1.
fn usage_exit(msg: &str) -> ! {
    eprintln!("escrowd: {msg}");
    eprint!("{USAGE}");
    exit(1)
}

/// The one-letter option a long option stands for.
fn long_option(name: &str) -> Option<char> {
    Some(match name {
        "detach" => 'd',
        "verbose" => 'v',
        "force" => 'f',
        "tags" => 't',
        "help" => 'h',
        _ => return None,
    })
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
        // --name and --name=value are their one-letter options.
        let short: String = match s.strip_prefix("--") {
            Some(long) => {
                let (name, attached) = long.split_once('=').unwrap_or((long, ""));
                match long_option(name) {
                    Some(c) => format!("{c}{attached}"),
                    None => usage_exit(&format!("unrecognised option '--{name}'")),
                }
            }
            None => s[1..].to_string(),
        };
        let chars: Vec<char> = short.chars().collect();
        let mut k = 0;
        while k < chars.len() {
            match chars[k] {
                'd' => o.detach = true,
                'v' => o.flags |= ESCROW_VERBOSE,
                'f' => o.flags |= ESCROW_FORCE,
                'h' => help_exit(),
                't' => {
                    let attached: String = chars[k + 1..].iter().collect();
                    let value = if !attached.is_empty() {
                        attached
                    } else {
                        match it.next() {
                            Some(v) => v.to_string_lossy().into_owned(),
                            None => usage_exit("option -t requires an argument (the number of tags)"),
                        }
                    };
                    match leading_int(&value) {
                        Some(n) if (1..=i64::from(MAX_TAGS)).contains(&n) => o.nr_tags = n as i32,
                        _ => usage_exit(&format!(
                            "invalid number of tags '{value}': give a whole number from 1 to {MAX_TAGS}"
                        )),
                    }
                    break;
                }
                c => usage_exit(&format!("invalid option -- '{c}'")),
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
        usage_exit("missing <socket-path>: give the path of the unix socket to listen on");
    };
    if o.detach {
        // The detached daemon binds and listens before this process exits,
        // so start-up errors still give exit status 1 here.
        match spawn_keeping_stdio(&path, o.flags, o.nr_tags) {
            Ok(Started::Listening) => exit(0),
            Ok(Started::AlreadyRunning) => fail(&path, StartError::AlreadyRunning),
            Err(e) => fail(&path, StartError::Failed(e)),
        }
    }
    match Daemon::start(&path, o.flags, o.nr_tags) {
        Ok(mut d) => d.run(),
        Err(e) => fail(&path, e),
    }
}

/// Why the daemon could not start, in words, and exit 1.
fn fail(path: &Path, e: StartError) -> ! {
    let why = match e {
        StartError::AlreadyRunning => "another escrowd is already answering there".to_string(),
        StartError::Failed(Errno(code)) => {
            let reason = std::io::Error::from_raw_os_error(code).to_string();
            let reason = reason.split(" (os error").next().unwrap_or_default().to_string();
            match code {
                libc::EADDRINUSE => format!("{reason} (a file is in the way; -f removes a stale socket)"),
                libc::EINVAL => format!("{reason} (a socket path is 1 to {} bytes)", MAX_PATH - 1),
                libc::ETIMEDOUT => format!("{reason} (waiting for the start-up lock on its directory)"),
                _ => reason,
            }
        }
    };
    eprintln!("escrowd: can't listen on '{}': {why}", path.display());
    exit(1)
}
