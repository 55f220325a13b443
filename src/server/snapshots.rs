//! Snapshots of a server's cache on disk (`dc_server -snapshot FILE`):
//! loading at start, a snapshot every interval while serving, a final
//! one at shutdown. The file format is in `cache/snapshot.rs`; the
//! operator's view is docs/snapshots.md.
//!
//! Serving does not stop while a snapshot is written. The event loop
//! lists the cache a step at a time between rounds (each step a fraction
//! of a millisecond: it only takes shared references to ids and data), and
//! a writer thread encodes, writes and syncs the file. Every session in a
//! snapshot was live at the moment its step listed it; sessions added
//! after the listing finished are not in it.

use super::Server;
use crate::cache::snapshot::{self, FileWriter, OpenError, Session, WriteError};
use crate::cache::{ListCursor, Now};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Sessions listed per call into the cache.
const LIST_BATCH: usize = 64;
/// Listing time per event-loop round while a snapshot is taken.
const STEP_BUDGET: Duration = Duration::from_micros(250);

enum Msg {
    Sessions(Vec<Session>),
    /// Everything was listed: finish the file.
    End,
}

/// A snapshot being taken.
struct Job {
    cursor: Option<ListCursor>,
    listed: bool,
    tx: Option<mpsc::Sender<Msg>>,
    thread: JoinHandle<Result<(u64, u64), WriteError>>,
    started: Instant,
    steps: u32,
    longest_step: Duration,
}

/// Logs one line (dc_server prints it on stderr).
pub type Log = Box<dyn FnMut(&str) + Send>;

/// The snapshot schedule of one server.
pub struct Snapshots {
    path: PathBuf,
    interval: Option<Duration>,
    next_due: Instant,
    job: Option<Job>,
    /// Why this run writes no snapshots (a bad file could not be moved
    /// aside, and must not be overwritten).
    disabled: Option<String>,
    log: Log,
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

impl Snapshots {
    /// Snapshots to `path` every `interval_secs` seconds (0: only at
    /// shutdown).
    pub fn new(path: &Path, interval_secs: u64, log: Log) -> Self {
        let interval = (interval_secs > 0).then(|| Duration::from_secs(interval_secs));
        Self {
            path: path.to_path_buf(),
            interval,
            next_due: Instant::now() + interval.unwrap_or_default(),
            job: None,
            disabled: None,
            log,
        }
    }

    fn say(&mut self, level: &str, msg: &str) {
        let line = format!("{level}, snapshot '{}': {msg}", self.path.display());
        (self.log)(&line);
    }

    /// Loads the file into the server's cache, if there is one. A bad
    /// file is reported, moved aside as `FILE.bad-<time>`, and whatever
    /// verified in it is kept. Then checks that snapshots can be written.
    /// False if the server's cache cannot be listed (no snapshots then).
    pub fn load(&mut self, server: &mut Server) -> bool {
        if !server.cache_mut().can_list() {
            self.disabled = Some("this cache cannot be listed".into());
            self.say("Error", "snapshots need the builtin cache; none will be loaded or written");
            return false;
        }
        let started = Instant::now();
        let now = Now::wall_clock();
        let (mut loaded, mut expired, mut replaced) = (0u64, 0u64, 0u64);
        let mut written_ms = 0;
        let problem: Option<String> = match snapshot::open(&self.path) {
            Err(OpenError::Missing) => {
                self.say("Info", "no file yet, starting empty");
                None
            }
            Err(e) => Some(e.to_string()),
            Ok(reader) => {
                let cache = server.cache_mut();
                let now_ms = now.millis();
                let res = snapshot::read(reader, |s| {
                    if s.expiry_ms.saturating_mul(1000) < now.micros() {
                        expired += 1;
                        return;
                    }
                    let timeout = (s.expiry_ms - now_ms).max(0) as u64;
                    if !cache.add(now, timeout, &s.id, &s.data) {
                        // Removed and added again while that snapshot was
                        // listed: the later entry (later expiry) wins.
                        cache.remove(now, &s.id);
                        cache.add(now, timeout, &s.id, &s.data);
                        replaced += 1;
                    }
                    loaded += 1;
                });
                match res {
                    Ok(report) => {
                        written_ms = report.written_ms;
                        if report.is_good() {
                            None
                        } else {
                            let all: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
                            Some(all.join("; "))
                        }
                    }
                    Err(e) => Some(format!("read error: {e}")),
                }
            }
        };
        let held = server.items_stored(now) as u64;
        let evicted = (loaded - replaced).saturating_sub(held);
        if loaded + expired > 0 || problem.is_some() {
            let age = if written_ms > 0 {
                format!(", written {} s ago", (now.millis() - written_ms).max(0) / 1000)
            } else {
                String::new()
            };
            self.say(
                "Info",
                &format!(
                    "loaded {held} sessions in {}{age} ({expired} expired dropped, {evicted} evicted as over -sessions)",
                    ms(started.elapsed())
                ),
            );
        }
        if let Some(problem) = problem {
            self.say("Error", &format!("{problem}; started with the {held} sessions that verified"));
            match snapshot::move_aside(&self.path, now.sec) {
                Ok(to) => self.say("Warning", &format!("the bad file was moved aside as '{}'", to.display())),
                Err(e) => {
                    self.say(
                        "Error",
                        &format!(
                            "cannot move the bad file aside: {e}; no snapshot will be written by this run, so as not to \
                             overwrite it (move it away and restart)"
                        ),
                    );
                    self.disabled = Some("the bad file could not be moved aside".into());
                }
            }
        }
        if self.disabled.is_none() {
            if let Err(e) = snapshot::probe_writable(&self.path) {
                self.say(
                    "Error",
                    &format!("snapshots cannot be written: {e}; serving goes on, writes are retried every interval"),
                );
            }
        }
        true
    }

    fn start(&mut self) {
        let (tx, rx) = mpsc::channel();
        let path = self.path.clone();
        let written_ms = Now::wall_clock().millis();
        let thread = std::thread::spawn(move || write_file(&path, written_ms, rx));
        self.job = Some(Job {
            cursor: None,
            listed: false,
            tx: Some(tx),
            thread,
            started: Instant::now(),
            steps: 0,
            longest_step: Duration::ZERO,
        });
    }

    /// Lists sessions for `budget` (None: all of them) into the writer.
    fn list_step(job: &mut Job, server: &mut Server, budget: Option<Duration>) {
        let begin = Instant::now();
        let now = Now::wall_clock();
        let mut batch = Vec::new();
        loop {
            let next = server.cache_mut().list(now, job.cursor, LIST_BATCH, &mut batch);
            if next.is_none() {
                job.listed = true;
                break;
            }
            job.cursor = next;
            if budget.is_some_and(|b| begin.elapsed() >= b) {
                break;
            }
        }
        let tx = job.tx.as_ref().expect("sender kept until listed");
        // A send fails only if the writer is gone (it failed early); its
        // result says why.
        let _ = tx.send(Msg::Sessions(batch));
        if job.listed {
            let _ = tx.send(Msg::End);
            job.tx = None;
        }
        job.steps += 1;
        job.longest_step = job.longest_step.max(begin.elapsed());
    }

    fn report(&mut self, job: Job, what: &str) {
        let result = job.thread.join();
        let took = job.started.elapsed();
        match result {
            Ok(Ok((sessions, bytes))) => self.say(
                "Info",
                &format!(
                    "{what}wrote {sessions} sessions, {bytes} bytes, in {} (listed in {} steps, longest {})",
                    ms(took),
                    job.steps,
                    ms(job.longest_step)
                ),
            ),
            Ok(Err(e)) => {
                self.say("Error", &format!("{what}writing failed: {e}; the previous snapshot is kept, serving goes on"))
            }
            Err(_) => self.say("Error", &format!("{what}the writer thread failed; the previous snapshot is kept")),
        }
    }

    /// Called every event-loop round: takes a listing step, collects a
    /// finished write, or starts the next snapshot when it is due.
    pub fn tick(&mut self, server: &mut Server) {
        if let Some(job) = self.job.as_mut() {
            if !job.listed {
                Self::list_step(job, server, Some(STEP_BUDGET));
            } else if job.thread.is_finished() {
                let job = self.job.take().expect("present");
                let started = job.started;
                self.report(job, "");
                if let Some(i) = self.interval {
                    self.next_due = (started + i).max(Instant::now());
                }
            }
            return;
        }
        if self.disabled.is_none() && self.interval.is_some() && Instant::now() >= self.next_due {
            self.start();
        }
    }

    /// At shutdown: abandons a snapshot in progress (its temporary file
    /// is removed) and writes a final one with everything.
    pub fn finish(&mut self, server: &mut Server) {
        if let Some(mut job) = self.job.take() {
            job.tx = None;
            let _ = job.thread.join();
        }
        if let Some(why) = self.disabled.clone() {
            let n = server.items_stored(Now::wall_clock());
            self.say("Error", &format!("at shutdown: no snapshot written ({why}); {n} sessions are not saved"));
            return;
        }
        self.start();
        let mut job = self.job.take().expect("just started");
        Self::list_step(&mut job, server, None);
        self.report(job, "at shutdown: ");
    }
}

/// The writer thread: header, the sessions as they are listed, trailer,
/// fsync, rename, fsync of the directory. Without an End (the listing
/// was abandoned) the temporary file is removed.
fn write_file(path: &Path, written_ms: i64, rx: mpsc::Receiver<Msg>) -> Result<(u64, u64), WriteError> {
    lower_priority();
    let mut writer = Some(FileWriter::create(path, written_ms)?);
    let mut failed = None;
    for msg in rx {
        match msg {
            Msg::Sessions(batch) => {
                let Some(w) = writer.as_mut() else { continue };
                for s in &batch {
                    if let Err(e) = w.session(s) {
                        failed = Some(e);
                        writer = None; // removes the temporary file
                        break;
                    }
                }
            }
            Msg::End => {
                return match (failed, writer) {
                    (Some(e), _) => Err(e),
                    (None, Some(w)) => w.finish(),
                    (None, None) => unreachable!("no writer only after a failure"),
                };
            }
        }
    }
    Err(WriteError {
        step: "the snapshot".into(),
        error: std::io::Error::new(std::io::ErrorKind::Interrupted, "abandoned at shutdown"),
    })
}

/// Gives the calling (writer) thread the lowest scheduling priority, so
/// that on a busy machine the thread answering requests is not the one
/// that waits. Linux keeps a nice value per thread; failure is harmless.
fn lower_priority() {
    // SAFETY: setpriority with PRIO_PROCESS and who = 0 changes only the
    // calling thread's nice value (Linux: per thread); no pointers.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::BuiltinCache;
    use std::sync::{Arc, Mutex};

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dc-snaps-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn logger() -> (Log, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        (Box::new(move |m: &str| l.lock().unwrap().push(m.to_string())), lines)
    }

    fn server(n: usize) -> Server {
        Server::new(Box::new(BuiltinCache::new(n).unwrap()))
    }

    #[test]
    fn periodic_final_and_reload_keep_bytes_and_expiry() {
        let d = temp_dir("cycle");
        let path = d.join("snap");
        let (log, lines) = logger();
        let mut s = server(1000);
        let mut snaps = Snapshots::new(&path, 0, log);
        assert!(snaps.load(&mut s));
        let now = Now::wall_clock();
        for i in 0..700u32 {
            let data = vec![(i % 251) as u8; 1 + (i as usize * 13) % 3000];
            assert!(s.cache_mut().add(now, 60_000 + u64::from(i), &i.to_be_bytes(), &data));
        }
        // interval 0: ticks never start one
        snaps.tick(&mut s);
        assert!(!path.exists());
        snaps.finish(&mut s);
        assert!(lines.lock().unwrap().last().unwrap().contains("at shutdown: wrote 700 sessions"), "{lines:?}");
        // the listing order is expiry order: reload into a smaller cache
        // keeps the sessions furthest from expiry (the full-cache rule)
        let (log, lines) = logger();
        let mut t = server(1000);
        Snapshots::new(&path, 0, log).load(&mut t);
        let mut out = Vec::new();
        let mut listed = Vec::new();
        assert_eq!(t.cache_mut().list(Now::wall_clock(), None, 10_000, &mut listed), None);
        assert_eq!(listed.len(), 700);
        for l in &listed {
            let i = u32::from_be_bytes(l.id[..].try_into().unwrap());
            assert_eq!(l.expiry_ms, now.millis() + 60_000 + i64::from(i), "absolute expiry kept");
            assert_eq!(t.cache_mut().get(Now::wall_clock(), &l.id, &mut out), Ok(true));
            assert_eq!(out, vec![(i % 251) as u8; 1 + (i as usize * 13) % 3000]);
        }
        assert!(lines.lock().unwrap()[0].contains("loaded 700 sessions"), "{lines:?}");
        let (log, lines) = logger();
        let mut small = server(64);
        Snapshots::new(&path, 0, log).load(&mut small);
        assert!(small.items_stored(Now::wall_clock()) <= 64);
        assert!(small.cache_mut().have(Now::wall_clock(), &699u32.to_be_bytes()));
        assert!(!small.cache_mut().have(Now::wall_clock(), &0u32.to_be_bytes()));
        assert!(lines.lock().unwrap()[0].contains("evicted as over -sessions"), "{lines:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn listing_in_steps_while_serving() {
        let d = temp_dir("steps");
        let path = d.join("snap");
        let (log, lines) = logger();
        let mut s = server(60000);
        let now = Now::wall_clock();
        for i in 0..20000u32 {
            assert!(s.cache_mut().add(now, 60_000, &i.to_be_bytes(), &[1; 100]));
        }
        let mut snaps = Snapshots::new(&path, 1, log);
        snaps.next_due = Instant::now();
        snaps.tick(&mut s);
        assert!(snaps.job.is_some());
        let mut added = 0u32;
        let deadline = Instant::now() + Duration::from_secs(20);
        while snaps.job.is_some() && Instant::now() < deadline {
            // requests between the steps
            assert!(s.cache_mut().add(Now::wall_clock(), 60_000, &(100_000 + added).to_be_bytes(), b"x"));
            added += 1;
            snaps.tick(&mut s);
        }
        let lines = lines.lock().unwrap();
        assert!(lines.iter().any(|l| l.contains("wrote ") && l.contains(" sessions")), "{lines:?}");
        let mut n = 0;
        assert!(snapshot::read(snapshot::open(&path).ok().unwrap(), |_| n += 1).unwrap().is_good());
        assert!((20000..=20000 + added as u64).contains(&n));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bad_files_are_moved_aside_and_verified_sessions_kept() {
        let d = temp_dir("bad");
        let path = d.join("snap");
        let sessions: Vec<Session> = (0..5u8)
            .map(|i| Session {
                expiry_ms: Now::wall_clock().millis() + 100_000,
                id: vec![i + 1].into(),
                data: vec![i; 10].into(),
            })
            .collect();
        let mut bytes = snapshot::encode(1, &sessions);
        bytes.truncate(bytes.len() - 40); // cuts into the last record
        std::fs::write(&path, &bytes).unwrap();
        let (log, lines) = logger();
        let mut s = server(64);
        Snapshots::new(&path, 0, log).load(&mut s);
        assert_eq!(s.items_stored(Now::wall_clock()), 4);
        assert!(!path.exists());
        let aside: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(aside.len(), 1);
        assert!(aside[0].to_string_lossy().starts_with("snap.bad-"));
        let lines = lines.lock().unwrap().join("\n");
        assert!(lines.contains("truncated") && lines.contains("moved aside"), "{lines}");
        // a directory in the way
        std::fs::create_dir(&path).unwrap();
        let (log, lines) = logger();
        Snapshots::new(&path, 0, log).load(&mut server(64));
        assert!(lines.lock().unwrap().join("\n").contains("not a regular file"));
        assert!(!path.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
