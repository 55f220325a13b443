//! The escrow message decoder as the client library runs it: the input is
//! what a daemon sends back (cut into `sendmsg` calls by the mode byte,
//! with a descriptor on every call when mode bit 7 is set), read by a
//! `Client` that issues GET, ADD, DEL and TAG requests in turn (starting
//! at the request chosen by mode bits 5-6) until the replies run out.
//! Checks: every request returns, a fetched payload length is within the
//! protocol's limit, and no descriptor outlives the run.
#![no_main]

use distcache_core::escrow::client::Client;
use distcache_core::escrow::message::MAX_PAYLOAD;
use distcache_core::escrow::sys::send_msg;
use distcache_fuzz::{assert_no_descriptor_leak, chunks, fuzz_target, split_mode};
use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

fuzz_target!(|data| {
    let (mode, stream) = split_mode(data);
    {
        let (mine, daemon) = UnixStream::pair().expect("socketpair");
        let devnull = std::fs::File::open("/dev/null").expect("open /dev/null");
        let mut pos = 0;
        // Few calls, so everything fits in the socket buffer up front.
        for n in chunks(mode & 0x1f, stream.len(), 48) {
            let piece = &stream[pos..pos + n];
            pos += n;
            if piece.is_empty() {
                continue;
            }
            let fd = (mode & 0x80 != 0).then(|| devnull.as_fd());
            let mut sent = send_msg(daemon.as_fd(), piece, fd).expect("pre-load replies");
            while sent < piece.len() {
                sent += send_msg(daemon.as_fd(), &piece[sent..], None).expect("pre-load replies");
            }
        }
        daemon.shutdown(Shutdown::Write).expect("shutdown");
        let mut client = Client::from_socket(OwnedFd::from(mine), false);
        let mut buf = [0u8; 64];
        let first = usize::from((mode >> 5) & 3);
        for i in 0..32 {
            let r = match (first + i) % 4 {
                0 => client.get(2, 7, &mut buf).map(|f| {
                    assert!(f.nob >= 0 && f.nob as usize <= MAX_PAYLOAD);
                }),
                1 => client.add(2, 7, Some(devnull.as_fd()), b"payload!!"),
                2 => client.del(2, 7),
                _ => client.tag(2).map(|_| ()),
            };
            if r.is_err_and(|e| e.0 == libc_eshutdown()) {
                break;
            }
        }
        drop(daemon);
    }
    assert_no_descriptor_leak();
});

fn libc_eshutdown() -> i32 {
    108 // ESHUTDOWN on Linux
}
