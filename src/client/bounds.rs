//! Time bounds of client operations: the deadline every operation meets
//! and the back-off after a server stopped answering (docs/timeouts.md).
//!
//! A cache must never be able to stop the site that uses it: a server that
//! accepted a connection and then stopped answering (SIGSTOP, swapped out,
//! a black-holed path) would otherwise hold every caller for as long as it
//! stays silent. Each operation therefore completes or fails within
//! [`Bounds::deadline`]; once one failed because the server did not answer
//! or could not be reached, the [`Breaker`] fails the next operations at
//! once for [`Bounds::backoff`], then lets exactly one probe the server.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Environment variable with the deadline of every operation, in ms.
pub const TIMEOUT_ENV: &str = "DC_CTX_TIMEOUT_MS";
/// Environment variable with the back-off after a failure, in ms.
pub const BACKOFF_ENV: &str = "DC_CTX_BACKOFF_MS";
/// Default deadline of an operation (connect, send and receive together).
pub const DEFAULT_TIMEOUT_MS: u64 = 1000;
/// Default back-off after an unresponsive or unreachable server.
pub const DEFAULT_BACKOFF_MS: u64 = 2000;
/// Largest value either variable accepts (one hour).
pub const MAX_MS: u64 = 3_600_000;

/// The deadline and back-off of a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub deadline: Duration,
    pub backoff: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Self { deadline: Duration::from_millis(DEFAULT_TIMEOUT_MS), backoff: Duration::from_millis(DEFAULT_BACKOFF_MS) }
    }
}

/// Parses one variable's value: Ok(None) when unset, Err with the reason
/// when set to something other than 1..=MAX_MS milliseconds.
fn parse_ms(name: &str, value: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(v) = value else { return Ok(None) };
    match v.trim().parse::<u64>() {
        Ok(ms) if (1..=MAX_MS).contains(&ms) => Ok(Some(Duration::from_millis(ms))),
        _ => Err(format!("{name}={v:?} is not a number of milliseconds from 1 to {MAX_MS}")),
    }
}

impl Bounds {
    /// From the values of [`TIMEOUT_ENV`] and [`BACKOFF_ENV`]; an invalid
    /// value keeps its default and is reported in the returned messages.
    pub fn from_values(timeout: Option<&str>, backoff: Option<&str>) -> (Self, Vec<String>) {
        let mut b = Self::default();
        let mut errors = Vec::new();
        match parse_ms(TIMEOUT_ENV, timeout) {
            Ok(Some(d)) => b.deadline = d,
            Ok(None) => {}
            Err(e) => errors.push(format!("{e}; using {DEFAULT_TIMEOUT_MS}")),
        }
        match parse_ms(BACKOFF_ENV, backoff) {
            Ok(Some(d)) => b.backoff = d,
            Ok(None) => {}
            Err(e) => errors.push(format!("{e}; using {DEFAULT_BACKOFF_MS}")),
        }
        (b, errors)
    }

    /// The process's bounds: read from the environment the first time a
    /// client asks, reporting invalid values once on stderr.
    pub fn process() -> Self {
        static PROCESS: OnceLock<Bounds> = OnceLock::new();
        *PROCESS.get_or_init(|| {
            let t = std::env::var(TIMEOUT_ENV).ok();
            let b = std::env::var(BACKOFF_ENV).ok();
            let (bounds, errors) = Self::from_values(t.as_deref(), b.as_deref());
            for e in errors {
                eprintln!("libdistcache(pid={}): {e}", std::process::id());
            }
            bounds
        })
    }
}

/// What the breaker allows an operation to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// The server answers: go ahead.
    Go,
    /// The back-off is over and this operation is the one probe.
    Probe,
    /// Backing off (or another operation is probing): fail at once.
    Refuse,
}

/// How an admitted operation ended, for the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered (whatever it said).
    Answered,
    /// The server did not answer in time or could not be reached.
    Unresponsive,
    /// Failed for another reason (a reused connection the server had
    /// closed, say): says nothing about the server.
    Inconclusive,
}

/// Fails operations at once while a server is known not to answer. Shared
/// by all threads of a client through atomics: checking it costs one load
/// while the server answers and never waits for another thread.
#[derive(Debug)]
pub struct Breaker {
    backoff: Duration,
    origin: Instant,
    /// Nanoseconds after `origin` until which operations are refused; 0
    /// while the server answers.
    open_until: AtomicU64,
    /// An operation is probing the server after a back-off.
    probing: AtomicBool,
}

impl Breaker {
    pub fn new(backoff: Duration) -> Self {
        Self { backoff, origin: Instant::now(), open_until: AtomicU64::new(0), probing: AtomicBool::new(false) }
    }

    fn now_ns(&self) -> u64 {
        // At least 1: 0 means closed.
        (self.origin.elapsed().as_nanos() as u64).max(1)
    }

    /// Whether an operation starting now may use the network.
    pub fn admit(&self) -> Admit {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Admit::Go;
        }
        if self.now_ns() < until {
            return Admit::Refuse;
        }
        match self.probing.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Admit::Probe,
            Err(_) => Admit::Refuse,
        }
    }

    /// Records how an operation admitted with `admit` ended.
    pub fn record(&self, admit: Admit, outcome: Outcome) {
        match outcome {
            Outcome::Answered => {
                if self.open_until.load(Ordering::Relaxed) != 0 {
                    self.open_until.store(0, Ordering::Release);
                }
            }
            Outcome::Unresponsive => {
                let until = self.now_ns().saturating_add(self.backoff.as_nanos() as u64);
                self.open_until.store(until, Ordering::Release);
            }
            Outcome::Inconclusive => {}
        }
        if admit == Admit::Probe {
            self.probing.store(false, Ordering::Release);
        }
    }

    /// Whether operations are being refused now.
    pub fn is_open(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        until != 0 && self.now_ns() < until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_parse_and_report() {
        assert_eq!(Bounds::from_values(None, None), (Bounds::default(), vec![]));
        let (b, e) = Bounds::from_values(Some("250"), Some("100"));
        assert_eq!(b, Bounds { deadline: Duration::from_millis(250), backoff: Duration::from_millis(100) });
        assert!(e.is_empty());
        let (b, e) = Bounds::from_values(Some("0"), Some("x"));
        assert_eq!(b, Bounds::default());
        assert_eq!(e.len(), 2);
        assert!(e[0].contains("DC_CTX_TIMEOUT_MS=\"0\"") && e[0].contains("from 1 to 3600000"), "{e:?}");
        assert!(e[1].contains("DC_CTX_BACKOFF_MS=\"x\""), "{e:?}");
    }

    #[test]
    fn breaker_backs_off_then_lets_one_probe() {
        let b = Breaker::new(Duration::from_millis(50));
        assert_eq!(b.admit(), Admit::Go);
        b.record(Admit::Go, Outcome::Unresponsive);
        assert_eq!(b.admit(), Admit::Refuse);
        assert!(b.is_open());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.admit(), Admit::Probe);
        // Only one probe at a time.
        assert_eq!(b.admit(), Admit::Refuse);
        b.record(Admit::Probe, Outcome::Unresponsive);
        assert_eq!(b.admit(), Admit::Refuse);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.admit(), Admit::Probe);
        b.record(Admit::Probe, Outcome::Answered);
        assert_eq!(b.admit(), Admit::Go);
        // An inconclusive probe lets the next operation probe.
        b.record(Admit::Go, Outcome::Unresponsive);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.admit(), Admit::Probe);
        b.record(Admit::Probe, Outcome::Inconclusive);
        assert_eq!(b.admit(), Admit::Probe);
    }
}
