//! How long would dc_server stop answering to take a snapshot, by
//! technique? The measurement behind the choice in docs/snapshots.md.
//!
//!   cargo run --release --example snapshot_techniques [sessions] [bytes]
//!
//! Fills the builtin cache (default 60,000 sessions of 2 KiB), then times
//! on the thread that answers requests, best and worst of 5 runs each:
//!  - copy: copying every session's id and data (copy, then write from a
//!    thread);
//!  - fork: `fork()` in the parent (fork, then write from the child), and
//!    the copy-on-write faults the parent then takes for every page it
//!    writes while the child lives (here: one byte in every page of a
//!    buffer as large as the sessions: the worst case, spread over the
//!    write in reality);
//!  - list all: listing every session by shared reference in one go;
//!  - list in steps: the longest single step of the stepped listing
//!    dc_server uses (steps of 64 sessions until 250 µs have passed).

use distcache_core::cache::snapshot::Session;
use distcache_core::cache::{BuiltinCache, Cache, ListCursor, Now};
use std::time::{Duration, Instant};

fn fill(n: usize, size: usize) -> BuiltinCache {
    let mut c = BuiltinCache::new(n.clamp(64, 60000)).expect("valid size");
    let now = Now::wall_clock();
    for i in 0..n {
        let id = format!("session-{i:08}");
        assert!(c.add(now, 3_600_000, id.as_bytes(), &vec![(i % 251) as u8; size]));
    }
    c
}

fn list_all(c: &mut BuiltinCache) -> Vec<Session> {
    let mut out = Vec::new();
    let mut cur: Option<ListCursor> = None;
    loop {
        cur = c.list(Now::wall_clock(), cur, usize::MAX, &mut out);
        if cur.is_none() {
            return out;
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU time of the calling thread: unlike the wall clock it leaves out
/// the time other processes of a busy machine had the CPU.
fn cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec for the kernel to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Wall-clock and CPU time since a start.
struct Clock(Instant, Duration);

impl Clock {
    fn start() -> Self {
        Clock(Instant::now(), cpu())
    }
    fn ms(&self) -> (f64, f64) {
        (ms(self.0.elapsed()), ms(cpu() - self.1))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(60000);
    let size: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2048);
    let mut c = fill(n, size);
    let runs = 5;
    let mut rows: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();

    let mut v = Vec::new();
    for _ in 0..runs {
        let t = Clock::start();
        let copy: Vec<(Vec<u8>, Vec<u8>)> =
            list_all(&mut c).into_iter().map(|s| (s.id.to_vec(), s.data.to_vec())).collect();
        v.push(t.ms());
        drop(copy);
    }
    rows.push(("copy every session (copy, then write from a thread)", v));

    let mut v = Vec::new();
    let mut faults = Vec::new();
    // A buffer as large as the sessions, standing in for the heap pages a
    // busy parent dirties while the child writes.
    let mut heap = vec![1u8; n * size];
    for _ in 0..runs {
        let t = Clock::start();
        // SAFETY: the child only calls pause and _exit (async-signal-safe);
        // this program has no other threads.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: waits for the parent's SIGKILL; never returns.
            unsafe {
                libc::pause();
                libc::_exit(0)
            };
        }
        v.push(t.ms());
        let t = Clock::start();
        for page in heap.chunks_mut(4096) {
            page[0] = page[0].wrapping_add(1);
        }
        faults.push(t.ms());
        let mut st = 0;
        // SAFETY: kills and reaps our own child; st is a valid int.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, &mut st, 0)
        };
    }
    std::hint::black_box(&heap);
    drop(heap);
    rows.push(("fork() in the parent (fork, then write from the child)", v));
    rows.push(("  then copy-on-write: the parent dirtying every page once (sum over all faults)", faults));

    let mut v = Vec::new();
    for _ in 0..runs {
        let t = Clock::start();
        let all = list_all(&mut c);
        v.push(t.ms());
        drop(all);
    }
    rows.push(("list every session by reference in one go", v));

    let mut v = Vec::new();
    for _ in 0..runs {
        let mut longest = (0.0f64, 0.0f64);
        let mut cur: Option<ListCursor> = None;
        let mut out = Vec::new();
        loop {
            let t = Clock::start();
            let mut done = false;
            loop {
                cur = c.list(Now::wall_clock(), cur, 64, &mut out);
                if cur.is_none() {
                    done = true;
                    break;
                }
                if t.0.elapsed() >= Duration::from_micros(250) {
                    break;
                }
            }
            let (w, p) = t.ms();
            longest = (longest.0.max(w), longest.1.max(p));
            out.clear();
            if done {
                break;
            }
        }
        v.push(longest);
    }
    rows.push(("list in steps (dc_server): longest step", v));

    println!("### Pause of the serving thread per technique ({n} sessions of {size} B, {runs} runs)\n");
    println!("| technique | wall clock, best | wall clock, worst | CPU time of the thread, best | worst |");
    println!("|---|---:|---:|---:|---:|");
    for (name, v) in rows {
        let wall: Vec<f64> = v.iter().map(|x| x.0).collect();
        let cpu: Vec<f64> = v.iter().map(|x| x.1).collect();
        let min = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
            min(&wall),
            max(&wall),
            min(&cpu),
            max(&cpu)
        );
    }
}
