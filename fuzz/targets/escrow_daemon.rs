//! The escrow message decoder as escrowd runs it: a client connection
//! carrying the input bytes (at most 512 in tools/fuzz.sh), cut into
//! `sendmsg` calls by the mode byte, some of which carry a descriptor (mode
//! bit 7: every third call; bit 6: every call), is served by a daemon
//! (4 tags) until the client stops sending (or stops reading: replies that
//! overflow the socket buffer end the session). Exercised: stream splitting
//! and descriptor attribution (`Channel`), `Message::decode`, request
//! checks and the entry store. Checks: the session ends, every reply is a
//! well-formed message, and no descriptor outlives the run (the store is
//! cleared after each input).
#![no_main]

use distcache_core::escrow::daemon::Daemon;
use distcache_core::escrow::message::{frame_len, FrameLen, Message};
use distcache_core::escrow::sys::send_msg;
use distcache_fuzz::{assert_no_descriptor_leak, chunks, fuzz_target, split_mode};
use std::io::Read;
use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, OnceLock};

struct Harness {
    daemon: Daemon,
    devnull: std::fs::File,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The client's sending half: queues the input in the socket as the client
/// would send it (without blocking: at most 64 calls and 16 KiB fit in the
/// socket buffer; anything that does not fit is cut off), then half-closes.
fn write_input(sock: &UnixStream, stream: &[u8], mode: u8, devnull: &std::fs::File) {
    sock.set_nonblocking(true).expect("nonblocking");
    let mut pos = 0;
    'pieces: for (i, n) in chunks(mode & 0x3f, stream.len(), 64).into_iter().enumerate() {
        let with_fd = mode & 0x40 != 0 || (mode & 0x80 != 0 && i % 3 == 0);
        let mut fd = with_fd.then(|| devnull.as_fd());
        let piece = &stream[pos..pos + n];
        pos += n;
        let mut sent = 0;
        while sent < piece.len() {
            match send_msg(sock.as_fd(), &piece[sent..], fd.take()) {
                Ok(s) => sent += s,
                Err(_) => break 'pieces,
            }
        }
    }
    let _ = sock.shutdown(Shutdown::Write);
    sock.set_nonblocking(false).expect("blocking");
}

fn harness() -> &'static Mutex<Harness> {
    static H: OnceLock<Mutex<Harness>> = OnceLock::new();
    H.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("escrow-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let daemon = Daemon::start(&dir.join("sock"), 0, 4).expect("daemon starts");
        let devnull = std::fs::File::open("/dev/null").expect("open /dev/null");
        Mutex::new(Harness { daemon, devnull, _dir: TempDir(dir) })
    })
}

fuzz_target!(|data| {
    let (mode, stream) = split_mode(data);
    let mut h = harness().lock().unwrap_or_else(|e| e.into_inner());
    let (client, server) = UnixStream::pair().expect("socketpair");
    write_input(&client, stream, mode, &h.devnull);
    // The whole input is queued and the daemon's end never blocks: a reply
    // that does not fit in the socket buffer ends the session as a client
    // that stopped reading would. So one thread suffices.
    server.set_nonblocking(true).expect("nonblocking");
    let rc = h.daemon.serve_connection(OwnedFd::from(server));
    assert!(rc < 0, "session status {rc}");
    let mut replies = Vec::new();
    let mut client = client;
    client.read_to_end(&mut replies).expect("read replies");
    h.daemon.clear();
    let mut rest = &replies[..];
    while !rest.is_empty() {
        match frame_len(rest) {
            FrameLen::Complete(n) => {
                Message::decode(&rest[..n]).expect("a reply decodes");
                rest = &rest[n..];
            }
            other => panic!("malformed reply bytes: {other:?}"),
        }
    }
    drop(h);
    assert_no_descriptor_leak();
});
