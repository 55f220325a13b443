//! Conformance of the escrowd daemon and of the client core: replays the
//! recorded vectors with real descriptors, and checks every case where the
//! traditional daemon died (it must answer and keep its entries instead).
//!
//! Every daemon runs on a unix socket in a private temporary directory and
//! is killed by PID when its guard is dropped, also when a test fails.

#[path = "../src/escrow/vectors.rs"]
mod vectors;

use distcache_core::escrow::client::Client;
use distcache_core::escrow::message::{text, Message, MAX_PAYLOAD};
use distcache_core::escrow::sys;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use vectors::Dir;

static SEQ: AtomicUsize = AtomicUsize::new(0);

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("escrow-rs-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running escrowd, killed (by PID) and reaped on drop.
struct Daemon {
    child: Child,
    path: PathBuf,
    _dir: TempDir,
}

impl Daemon {
    fn start(nr_tags: u32) -> Daemon {
        Daemon::start_with(nr_tags, None)
    }

    /// With `fd_limit`, the daemon runs under `ulimit -n fd_limit`.
    fn start_with(nr_tags: u32, fd_limit: Option<u32>) -> Daemon {
        let dir = TempDir::new();
        let path = dir.0.join("sock");
        let exe = env!("CARGO_BIN_EXE_escrowd");
        let mut cmd = match fd_limit {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(format!("ulimit -n {n} && exec \"$0\" -t {nr_tags} \"$1\"")).arg(exe).arg(&path);
                c
            }
            None => {
                let mut c = Command::new(exe);
                c.arg("-t").arg(nr_tags.to_string()).arg(&path);
                c
            }
        };
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let d = Daemon { child, path, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(5);
        while sys::probe(&d.path) != sys::Probe::Alive {
            assert!(Instant::now() < deadline, "escrowd did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        d
    }

    fn connect(&self) -> UnixStream {
        UnixStream::connect(&self.path).unwrap()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).unwrap().count()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send(s: &UnixStream, bytes: &[u8], fd: Option<&OwnedFd>) {
    let n = sys::send_msg(s.as_fd(), bytes, fd.map(|f| f.as_fd())).unwrap();
    assert_eq!(n, bytes.len());
}

/// Receives one whole reply (the daemon sends each with one sendmsg).
fn recv(s: &UnixStream) -> (Vec<u8>, Vec<OwnedFd>) {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65536];
    let got = sys::recv_msg(s.as_fd(), &mut buf).expect("reply within 5 s");
    buf.truncate(got.len);
    (buf, got.fds)
}

fn rep(rc: i16, t: &[u8]) -> Vec<u8> {
    Message::Rep { rc, text: t }.to_bytes()
}

fn same_file(a: &OwnedFd, b: &OwnedFd) -> bool {
    let ma = File::from(a.try_clone().unwrap()).metadata().unwrap();
    let mb = File::from(b.try_clone().unwrap()).metadata().unwrap();
    (ma.dev(), ma.ino()) == (mb.dev(), mb.ino())
}

fn devnull() -> OwnedFd {
    OwnedFd::from(File::open("/dev/null").unwrap())
}

#[test]
fn replays_recorded_vectors_with_descriptors() {
    let mut d = Daemon::start(32);
    let s = d.connect();
    let sent = OwnedFd::from(File::open(std::env::current_exe().unwrap()).unwrap());
    let all = vectors::load();
    let mut i = 0;
    while i < all.len() {
        let v = &all[i];
        assert_eq!(v.dir, Dir::ClientToServer, "{}", v.step);
        send(&s, &v.bytes, v.fd_attached.then_some(&sent));
        let (reply, fds) = recv(&s);
        if let Some(r) = all.get(i + 1).filter(|r| r.dir == Dir::ServerToClient) {
            assert_eq!(reply, r.bytes, "reply to {}", v.step);
            assert_eq!(fds.len(), usize::from(r.fd_attached), "descriptor with {}", r.step);
            if r.fd_attached {
                assert!(same_file(&fds[0], &sent), "GET returns the escrowed file");
            }
            i += 2;
        } else {
            // The recording ends where the traditional daemon aborted.
            assert!(v.step.starts_with("add_badtag_nofd"));
            assert_eq!(reply, hex("0300eaff130057726f6e672041444420726571756573742e00"));
            assert!(fds.is_empty());
            i += 1;
        }
    }
    // Still serving: the same ADD with a valid tag makes a payload-only entry.
    send(&s, &hex("0100020000000000ffffffff00000000"), None);
    assert_eq!(recv(&s).0, hex("03000000010000"));
    send(&s, &Message::Get { tag: 2, idx: 0 }.to_bytes(), None);
    let (reply, fds) = recv(&s);
    assert_eq!(reply, hex("0100020000000000ffffffff00000000"));
    assert!(fds.is_empty());
    assert!(d.alive());
}

fn hex(s: &str) -> Vec<u8> {
    vectors::unhex(s)
}

#[test]
fn ranges_of_tags_indices_and_payloads() {
    let mut d = Daemon::start(32);
    let s = d.connect();
    let fd = devnull();
    let add = |tag, idx, payload: &[u8]| Message::Add { tag, idx, ufd: 9, payload }.to_bytes();
    for (tag, idx) in [(-1i16, 0), (32, 0), (0, 1 << 20), (0, -1)] {
        send(&s, &add(tag, idx, b"x"), Some(&fd));
        let (reply, fds) = recv(&s);
        assert_eq!(reply, rep(-22, text::WRONG_ADD), "ADD {tag} {idx}");
        assert!(fds.is_empty());
        send(&s, &Message::Get { tag, idx }.to_bytes(), None);
        assert_eq!(recv(&s).0, rep(-22, text::WRONG_DEL), "GET {tag} {idx} (traditional text)");
        send(&s, &Message::Del { tag, idx }.to_bytes(), None);
        assert_eq!(recv(&s).0, rep(-22, text::WRONG_DEL), "DEL {tag} {idx}");
    }
    for tag in [-1i16, 32, i16::MAX] {
        send(&s, &Message::Tag { tag }.to_bytes(), None);
        assert_eq!(recv(&s).0, rep(-22, text::WRONG_TAG));
    }
    // The largest index and a full payload are fine.
    let full = vec![0xa5u8; MAX_PAYLOAD];
    send(&s, &add(31, (1 << 20) - 1, &full), Some(&fd));
    assert_eq!(recv(&s).0, rep(0, text::OK));
    send(&s, &Message::Get { tag: 31, idx: (1 << 20) - 1 }.to_bytes(), None);
    let (reply, fds) = recv(&s);
    assert_eq!(reply, add(31, (1 << 20) - 1, &full));
    assert_eq!(fds.len(), 1);
    // One byte more: the length cannot be trusted, everything is discarded.
    let mut big = add(0, 0, b"");
    big[12..16].copy_from_slice(&(MAX_PAYLOAD as i32 + 1).to_ne_bytes());
    send(&s, &big, Some(&fd));
    assert_eq!(recv(&s).0, rep(-22, text::WRONG_ADD));
    // Descriptor and ufd must agree.
    send(&s, &Message::Add { tag: 0, idx: 0, ufd: -1, payload: b"" }.to_bytes(), Some(&fd));
    assert_eq!(recv(&s).0, rep(-22, text::WRONG_ADD));
    send(&s, &Message::Add { tag: 0, idx: 0, ufd: 5, payload: b"" }.to_bytes(), None);
    assert_eq!(recv(&s).0, rep(-22, text::WRONG_ADD));
    send(&s, &Message::Add { tag: 0, idx: 0, ufd: -2, payload: b"" }.to_bytes(), None);
    assert_eq!(recv(&s).0, rep(-22, text::WRONG_ADD));
    // ufd is checked as 32 bits (65536 is a fine number).
    send(&s, &Message::Add { tag: 0, idx: 1, ufd: 65536, payload: b"" }.to_bytes(), Some(&fd));
    assert_eq!(recv(&s).0, rep(0, text::OK));
    send(&s, &Message::Tag { tag: 0 }.to_bytes(), None);
    assert_eq!(recv(&s).0, Message::Inf { pad: 0, nr: 1, total: 0 }.to_bytes());
    assert!(d.alive());
}

#[test]
fn count_total_and_replacement() {
    let d = Daemon::start(4);
    let s = d.connect();
    let a = devnull();
    let b = OwnedFd::from(File::open(std::env::current_exe().unwrap()).unwrap());
    for (idx, p) in [(2, &b"abc"[..]), (7, b"12345")] {
        send(&s, &Message::Add { tag: 1, idx, ufd: 3, payload: p }.to_bytes(), Some(&a));
        assert_eq!(recv(&s).0, rep(0, text::OK));
    }
    send(&s, &Message::Tag { tag: 1 }.to_bytes(), None);
    assert_eq!(recv(&s).0, Message::Inf { pad: 0, nr: 2, total: 8 }.to_bytes(), "count, not largest index + 1");
    // Replace index 7 with another file and payload.
    send(&s, &Message::Add { tag: 1, idx: 7, ufd: 4, payload: b"z" }.to_bytes(), Some(&b));
    assert_eq!(recv(&s).0, rep(0, text::OK));
    send(&s, &Message::Tag { tag: 1 }.to_bytes(), None);
    assert_eq!(recv(&s).0, Message::Inf { pad: 0, nr: 2, total: 4 }.to_bytes());
    send(&s, &Message::Get { tag: 1, idx: 7 }.to_bytes(), None);
    let (reply, fds) = recv(&s);
    assert_eq!(reply, Message::Add { tag: 1, idx: 7, ufd: 4, payload: b"z" }.to_bytes());
    assert!(same_file(&fds[0], &b));
}

#[test]
fn unknown_opcodes_truncated_chunked_and_coalesced_messages() {
    let mut d = Daemon::start(32);
    let s = d.connect();
    for bytes in [vec![7u8, 0, 1, 2], vec![0xff, 0xff], Message::Hel { nr_tags: 1, flags: 0, key: 0 }.to_bytes()] {
        send(&s, &bytes, None);
        assert_eq!(recv(&s).0, rep(-71, text::UNEXPECTED));
    }
    let inf = Message::Rep { rc: 0, text: text::OK }.to_bytes();
    send(&s, &inf, None);
    assert_eq!(recv(&s).0, rep(-71, text::UNEXPECTED), "a REP is no request");

    // An ADD arriving in pieces, the descriptor with the first piece.
    let fd = devnull();
    let add = Message::Add { tag: 3, idx: 9, ufd: 8, payload: &[1u8; 1000] }.to_bytes();
    send(&s, &add[..5], Some(&fd));
    std::thread::sleep(Duration::from_millis(20));
    send(&s, &add[5..600], None);
    std::thread::sleep(Duration::from_millis(20));
    send(&s, &add[600..], None);
    assert_eq!(recv(&s).0, rep(0, text::OK));

    // Two requests in one write get two replies.
    let mut two = Message::Tag { tag: 3 }.to_bytes();
    two.extend(Message::Get { tag: 3, idx: 9 }.to_bytes());
    send(&s, &two, None);
    let mut got = Vec::new();
    let mut fds = Vec::new();
    while got.len() < 12 + add.len() {
        let (b, f) = recv(&s);
        got.extend(b);
        fds.extend(f);
    }
    let mut want = Message::Inf { pad: 0, nr: 1, total: 1000 }.to_bytes();
    want.extend(&add);
    assert_eq!(got, want);
    assert_eq!(fds.len(), 1);
    assert!(same_file(&fds[0], &fd));

    // A short GET followed by end of input: an error reply, not GET 0 0.
    send(&s, &Message::Get { tag: 3, idx: 9 }.to_bytes()[..2], None);
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(recv(&s).0, rep(-71, text::TRUNCATED));
    assert_eq!(recv(&s).0, Vec::<u8>::new(), "session ends");

    // The entry survived all of it.
    let s2 = d.connect();
    send(&s2, &Message::Tag { tag: 3 }.to_bytes(), None);
    assert_eq!(recv(&s2).0, Message::Inf { pad: 0, nr: 1, total: 1000 }.to_bytes());
    assert!(d.alive());
}

#[test]
fn descriptors_on_other_requests_are_refused_and_closed() {
    let mut d = Daemon::start(32);
    let s = d.connect();
    let fd = devnull();
    send(&s, &Message::Tag { tag: 0 }.to_bytes(), None);
    recv(&s);
    let before = d.open_fds();
    for _ in 0..3 {
        send(&s, &Message::Del { tag: 0, idx: 0 }.to_bytes(), Some(&fd));
        assert_eq!(recv(&s).0, rep(-22, text::FD_IN_DEL));
        send(&s, &Message::Tag { tag: 0 }.to_bytes(), Some(&fd));
        assert_eq!(recv(&s).0, rep(-22, text::FD_IN_TAG));
        send(&s, &Message::Get { tag: 0, idx: 0 }.to_bytes(), Some(&fd));
        assert_eq!(recv(&s).0, rep(-22, text::FD_IN_GET));
        send(&s, &Message::Add { tag: 99, idx: 0, ufd: 1, payload: b"" }.to_bytes(), Some(&fd));
        assert_eq!(recv(&s).0, rep(-22, text::WRONG_ADD));
        send(&s, &[7, 0], Some(&fd));
        assert_eq!(recv(&s).0, rep(-71, text::UNEXPECTED));
    }
    assert_eq!(d.open_fds(), before, "no descriptor leaked");
    // Two descriptors with one ADD: refused, both closed.
    let two = [fd.try_clone().unwrap(), devnull()];
    let raw: Vec<i32> = two.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect();
    send_two(&s, &Message::Add { tag: 0, idx: 0, ufd: raw[0], payload: b"" }.to_bytes(), &raw);
    assert_eq!(recv(&s).0, rep(-22, text::TOO_MANY_FDS));
    assert_eq!(d.open_fds(), before);
    assert!(d.alive());
}

/// A sendmsg with two descriptors (not something the library ever sends).
fn send_two(s: &UnixStream, bytes: &[u8], fds: &[i32]) {
    use std::os::fd::AsRawFd;
    let mut cmsg = [0u64; 8];
    let mut iov = libc::iovec { iov_base: bytes.as_ptr() as *mut _, iov_len: bytes.len() };
    // SAFETY: test-only hand-built msghdr over live local buffers.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr() as *mut _;
        msg.msg_controllen = libc::CMSG_SPACE(8) as usize;
        let h = libc::CMSG_FIRSTHDR(&msg);
        (*h).cmsg_level = libc::SOL_SOCKET;
        (*h).cmsg_type = libc::SCM_RIGHTS;
        (*h).cmsg_len = libc::CMSG_LEN(8) as usize;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(h) as *mut i32, 2);
        assert_eq!(libc::sendmsg(s.as_raw_fd(), &msg, 0), bytes.len() as isize);
    }
}

#[test]
fn descriptor_limit_gives_emfile_and_keeps_every_entry() {
    let mut d = Daemon::start_with(4, Some(20));
    let s = d.connect();
    let fd = devnull();
    let mut stored = 0;
    let mut refused = false;
    for idx in 0..100 {
        send(&s, &Message::Add { tag: 0, idx, ufd: 3, payload: &idx.to_ne_bytes() }.to_bytes(), Some(&fd));
        let (reply, _) = recv(&s);
        if reply == rep(0, text::OK) {
            stored += 1;
            continue;
        }
        assert_eq!(reply, rep(-24, text::CANNOT_RECEIVE));
        refused = true;
        break;
    }
    assert!(refused, "limit never reached");
    assert!(stored >= 10, "only {stored} stored");
    // Payload-only entries need no descriptor and still work.
    send(&s, &Message::Add { tag: 1, idx: 0, ufd: -1, payload: b"p" }.to_bytes(), None);
    assert_eq!(recv(&s).0, rep(0, text::OK));
    for idx in 0..stored {
        send(&s, &Message::Get { tag: 0, idx }.to_bytes(), None);
        let (reply, fds) = recv(&s);
        assert_eq!(reply, Message::Add { tag: 0, idx, ufd: 3, payload: &idx.to_ne_bytes() }.to_bytes());
        assert!(same_file(&fds[0], &fd));
    }
    // Freeing one slot makes room again.
    send(&s, &Message::Del { tag: 0, idx: 0 }.to_bytes(), None);
    assert_eq!(recv(&s).0, rep(0, text::OK));
    send(&s, &Message::Add { tag: 0, idx: 0, ufd: 3, payload: b"" }.to_bytes(), Some(&fd));
    assert_eq!(recv(&s).0, rep(0, text::OK));
    // And a later session can still connect.
    drop(s);
    let s2 = d.connect();
    send(&s2, &Message::Tag { tag: 0 }.to_bytes(), None);
    assert_eq!(recv(&s2).0, Message::Inf { pad: 0, nr: stored, total: 4 * (stored - 1) }.to_bytes());
    assert!(d.alive());
}

#[test]
fn one_session_at_a_time_and_vanishing_clients() {
    let mut d = Daemon::start(32);
    let a = d.connect();
    send(&a, &Message::Tag { tag: 0 }.to_bytes(), None);
    recv(&a);
    let mut b = d.connect();
    b.write_all(&Message::Tag { tag: 1 }.to_bytes()).unwrap();
    b.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 64];
    assert!(b.read(&mut buf).is_err(), "second client waits while the first is connected");
    drop(a);
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A signal for another test's child may interrupt the wait.
    let n = loop {
        match b.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => break r.unwrap(),
        }
    };
    assert_eq!(&buf[..n], &Message::Inf { pad: 0, nr: 0, total: 0 }.to_bytes()[..]);
    drop(b);
    // A client that leaves before reading its reply does not kill it.
    for _ in 0..5 {
        let c = d.connect();
        send(&c, &Message::Tag { tag: 0 }.to_bytes(), None);
        drop(c);
    }
    let e = d.connect();
    send(&e, &Message::Tag { tag: 0 }.to_bytes(), None);
    assert_eq!(recv(&e).0, Message::Inf { pad: 0, nr: 0, total: 0 }.to_bytes());
    assert!(d.alive());
}

#[test]
fn socket_mode_and_refusals_at_start() {
    let d = Daemon::start(32);
    let mode = std::fs::metadata(&d.path).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let exe = env!("CARGO_BIN_EXE_escrowd");
    // A live daemon's socket is never replaced, with or without -f.
    for args in [vec![], vec!["-f"], vec!["--force"]] {
        let out = Command::new(exe).args(&args).arg(&d.path).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("escrowd: can't listen on '") && err.contains("another escrowd is already answering there"),
            "{err}"
        );
    }
    let out = Command::new(exe).arg("/nonexistent-dir/x/sock").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("escrowd: can't listen on '/nonexistent-dir/x/sock': No such file or directory"), "{err}");
    let long = format!("/tmp/{}", "x".repeat(110));
    let out = Command::new(exe).arg(&long).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Invalid argument (a socket path is 1 to 106 bytes)"), "{err}");
    // Usage errors: what was wrong, then the usage, status 1.
    for (args, why) in [
        (vec![], "escrowd: missing <socket-path>"),
        (vec!["-t", "0", "x"], "escrowd: invalid number of tags '0': give a whole number from 1 to 32768"),
        (vec!["--tags=99999", "x"], "escrowd: invalid number of tags '99999'"),
        (vec!["-t"], "escrowd: option -t requires an argument"),
        (vec!["-q", "x"], "escrowd: invalid option -- 'q'"),
        (vec!["--bogus", "x"], "escrowd: unrecognised option '--bogus'"),
    ] {
        let out = Command::new(exe).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why) && err.contains("Usage: escrowd"), "{args:?}: {err}");
    }
    // Help: the usage on standard output, status 0, long forms listed.
    for args in [vec!["-h"], vec!["--help"]] {
        let out = Command::new(exe).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: escrowd") && text.contains("--detach") && text.contains("--tags"), "{text}");
    }
}

#[test]
fn stale_socket_needs_force_and_detach_binds_first() {
    let dir = TempDir::new();
    let path = dir.0.join("s");
    let exe = env!("CARGO_BIN_EXE_escrowd");
    // Leave a stale socket file behind.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let out = Command::new(exe).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Address already in use (a file is in the way; -f removes a stale socket)"), "{err}");
    // -d with -f: binds, then the foreground process exits 0.
    let st =
        Command::new(exe).stdout(Stdio::null()).args(["-df", "-t8"]).arg(&path).stderr(Stdio::null()).status().unwrap();
    assert_eq!(st.code(), Some(0));
    let s = UnixStream::connect(&path).expect("listening when -d returns");
    let _guard = KillOnDrop(sys::peer_pid(s.as_fd()).unwrap());
    send(&s, &Message::Tag { tag: 7 }.to_bytes(), None);
    assert_eq!(recv(&s).0, Message::Inf { pad: 0, nr: 0, total: 0 }.to_bytes());
    send(&s, &Message::Tag { tag: 8 }.to_bytes(), None);
    assert_eq!(recv(&s).0, rep(-22, text::WRONG_TAG), "-t8 gives tags 0..7");
}

/// Kills a detached daemon started by a test, by PID, also on failure.
struct KillOnDrop(libc::pid_t);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: sends SIGKILL to the daemon process this test started.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

/// The client core against a mock daemon replaying the recorded replies:
/// it must send exactly the recorded requests (with the real descriptor
/// number as ufd) and return the recorded results.
#[test]
fn client_sends_recorded_requests() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let all = vectors::load();
    let fd = devnull();
    let ufd = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let mock = std::thread::spawn(move || {
        let mut i = 0;
        let mut reply_fd = None;
        while i < all.len() {
            let v = &all[i];
            let (got, fds) = recv(&theirs);
            let mut want = v.bytes.clone();
            if v.fd_attached {
                want[8..12].copy_from_slice(&ufd.to_ne_bytes());
            }
            assert_eq!(got, want, "{}", v.step);
            assert_eq!(fds.len(), usize::from(v.fd_attached), "{}", v.step);
            if let Some(f) = fds.into_iter().next() {
                reply_fd = Some(f);
            }
            let reply = match all.get(i + 1).filter(|r| r.dir == Dir::ServerToClient) {
                Some(r) => {
                    i += 2;
                    (r.bytes.clone(), r.fd_attached)
                }
                None => {
                    i += 1;
                    (rep(-22, text::WRONG_ADD), false)
                }
            };
            send(&theirs, &reply.0, if reply.1 { reply_fd.as_ref() } else { None });
        }
    });
    let mut c = Client::from_socket(OwnedFd::from(ours), false);
    c.add(2, 7, Some(fd.as_fd()), b"payload!!\0").unwrap();
    assert_eq!(c.tag(2).unwrap(), (1, 10));
    let mut buf = [0u8; 64];
    let got = c.get(2, 7, &mut buf).unwrap();
    assert_eq!(got.nob, 10);
    assert_eq!(&buf[..10], b"payload!!\0");
    assert!(same_file(got.fd.as_ref().unwrap(), &fd));
    assert_eq!(c.get(2, 8, &mut buf).unwrap_err().negated(), -2);
    c.del(2, 7).unwrap();
    assert_eq!(c.del(2, 7).unwrap_err().negated(), -22);
    assert_eq!(c.add(99, 0, None, b"").unwrap_err().negated(), -22);
    mock.join().unwrap();
    // The peer has gone: a transport error, not a signal.
    let e = c.tag(0).unwrap_err().negated();
    assert!(e == -libc::EPIPE || e == -libc::ECONNRESET || e == -libc::ESHUTDOWN, "{e}");
}

#[test]
fn client_truncating_get_and_payload_limit() {
    let d = Daemon::start(32);
    let mut c = Client::connect(&d.path, 0, 0).unwrap();
    c.add(5, 1, None, b"0123456789ab").unwrap();
    let mut small = [0u8; 4];
    let got = c.get(5, 1, &mut small).unwrap();
    assert_eq!((got.nob, got.fd.is_none()), (12, true));
    assert_eq!(&small, b"0123");
    assert_eq!(c.add(5, 2, None, &vec![0; MAX_PAYLOAD + 1]).unwrap_err().negated(), -22);
    c.add(5, 2, None, &vec![1; MAX_PAYLOAD]).unwrap();
    assert_eq!(c.tag(5).unwrap(), (2, 12 + MAX_PAYLOAD as i32));
}

#[test]
fn vectors_file_is_where_ci_expects_it() {
    assert!(Path::new(&vectors::path()).exists());
}

/// A start-up lock held by something else makes the start fail after a
/// bounded wait instead of leaving a daemon waiting for ever.
#[test]
fn start_gives_up_on_a_foreign_directory_lock() {
    use std::os::fd::AsRawFd;
    let dir = TempDir::new();
    let lock = File::open(&dir.0).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_escrowd")).arg(dir.0.join("s")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(waiting for the start-up lock on its directory)"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(!dir.0.join("s").exists());
}
