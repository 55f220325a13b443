//! What every server tool does when accepting fails for lack of
//! descriptors or memory (EMFILE, ENFILE, ENOMEM, ENOBUFS): stop accepting
//! until a connection of its own closes or [`PAUSE`] passes, keep serving
//! the connections it has, and say so once per episode rather than once
//! per attempt. Without the pause the listener stays readable and the loop
//! spins on failing `accept` calls (docs/timeouts.md).

use std::io;
use std::time::{Duration, Instant};

/// Longest pause before accepting is tried again without a connection
/// having closed (another process may have freed descriptors).
pub const PAUSE: Duration = Duration::from_millis(100);

/// Whether an accept failure means the process or system ran out of
/// descriptors or memory (rather than a connection that went away).
pub fn is_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS))
}

/// The accept state of one listener (see the module documentation).
#[derive(Debug)]
pub struct AcceptPause {
    program: &'static str,
    /// Accepting is paused until then.
    until: Option<Instant>,
    /// An episode is in progress (reported, not yet over).
    episode: bool,
    /// Failed accepts in this episode.
    failures: u64,
}

impl AcceptPause {
    pub fn new(program: &'static str) -> Self {
        Self { program, until: None, episode: false, failures: 0 }
    }

    /// Accepting failed with `e`. True when it was exhaustion: the caller
    /// stops accepting until [`AcceptPause::paused`] says otherwise. The
    /// first failure of an episode returns the line to log.
    pub fn failed(&mut self, e: &io::Error, now: Instant) -> (bool, Option<String>) {
        if !is_exhaustion(e) {
            return (false, None);
        }
        self.until = Some(now + PAUSE);
        self.failures += 1;
        if self.episode {
            return (true, None);
        }
        self.episode = true;
        let msg = format!(
            "{}: cannot accept new connections ({e}); pausing accepts until a connection closes \
             (retrying every {} ms), existing connections are still served",
            self.program,
            PAUSE.as_millis()
        );
        (true, Some(msg))
    }

    /// A connection was accepted: ends an episode, returning the line to
    /// log when one was in progress.
    pub fn accepted(&mut self) -> Option<String> {
        self.until = None;
        if !self.episode {
            return None;
        }
        self.episode = false;
        let n = std::mem::take(&mut self.failures);
        Some(format!("{}: accepting new connections again ({n} accept attempts failed meanwhile)", self.program))
    }

    /// A connection of ours closed, freeing a descriptor: accept again now.
    pub fn freed(&mut self) {
        self.until = None;
    }

    /// Whether accepting is paused at `now`.
    pub fn paused(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| now < u)
    }

    /// How long until accepting should be tried again (None when not
    /// paused, also once the pause is over): the most a wait for events
    /// may last.
    pub fn resume_in(&self, now: Instant) -> Option<Duration> {
        self.until.filter(|u| *u > now).map(|u| u - now)
    }

    /// Whether an episode is in progress (the last accept failed).
    pub fn in_episode(&self) -> bool {
        self.episode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_episode() {
        let mut p = AcceptPause::new("dc_test");
        let now = Instant::now();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(p.failed(&io::Error::from_raw_os_error(libc::ECONNABORTED), now), (false, None));
        assert!(!p.paused(now));
        let (stop, msg) = p.failed(&emfile, now);
        assert!(stop);
        let msg = msg.unwrap();
        assert!(msg.starts_with("dc_test: cannot accept new connections") && msg.contains("open files"), "{msg}");
        assert!(p.paused(now) && !p.paused(now + PAUSE));
        assert_eq!(p.resume_in(now), Some(PAUSE));
        assert_eq!(p.resume_in(now + PAUSE), None, "a pause that is over bounds no wait");
        assert_eq!(p.failed(&io::Error::from_raw_os_error(libc::ENFILE), now), (true, None));
        p.freed();
        assert!(!p.paused(now));
        assert!(p.in_episode());
        assert!(p.accepted().unwrap().contains("2 accept attempts failed"));
        assert_eq!(p.accepted(), None);
        assert!(p.failed(&emfile, now).1.is_some(), "a new episode is reported again");
    }
}
