//! The read path of a client: server bytes as a `DC_PLUG` client end reads
//! them (assemble, read, consume, through a 4096-byte read buffer), and as
//! the `DC_CTX` client receives one response (`client::exchange` over a
//! stream that delivers the bytes in peer-sized reads). Mode bit 7 makes
//! the client persistent (nothing may follow the response). The expected
//! uid and command are taken from the first header, so the checks after
//! them are reached.
#![no_main]

use distcache_core::client::{exchange, Stream};
use distcache_core::nal::buffer::SharedBuffer;
use distcache_core::protocol::{Cmd, Plug, MAX_TOTAL_DATA};
use distcache_fuzz::{chunks, fuzz_target, split_mode};
use std::io;
use std::time::Instant;

const READ_BUFFER: usize = 4096;

struct Replay<'a> {
    data: &'a [u8],
    reads: std::vec::IntoIter<usize>,
}

impl Stream for Replay<'_> {
    fn send_all(&mut self, _data: &[u8], _deadline: Instant) -> io::Result<()> {
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], _deadline: Instant) -> io::Result<usize> {
        let want = self.reads.next().unwrap_or(self.data.len());
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|data| {
    let (mode, stream) = split_mode(data);

    // 1. DC_PLUG client end.
    let mut plug = Plug::new(true);
    let read = SharedBuffer::for_connection(READ_BUFFER);
    let mut pos = 0;
    let mut reads = chunks(mode & 0x7f, stream.len(), 512).into_iter();
    for _ in 0..=(2 * stream.len() + 2) {
        let mut got = 0;
        if pos < stream.len() {
            let want = reads.next().unwrap_or(stream.len());
            got = read.modify(|b| b.write(&stream[pos..(pos + want).min(stream.len())]));
            pos += got;
        }
        if plug.assemble(&read).is_err() {
            break;
        }
        if let Some((_, _, payload)) = plug.read(false) {
            assert!(payload.len() <= MAX_TOTAL_DATA);
            assert!(plug.read(false).is_none(), "a message was handed out twice");
            if !plug.consume(&read) {
                break;
            }
        } else if got == 0 {
            // Nothing new and nothing complete: the buffer cannot be full
            // of whole frames.
            assert!(read.with(|b| b.used()) < READ_BUFFER, "read side stalled");
            break;
        }
    }

    // 2. DC_CTX receive of one response.
    let uid = stream.get(5..9).map_or(1, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let cmd = stream.get(10).and_then(|&op| Cmd::from_operation(op)).unwrap_or(Cmd::Get);
    let mut s = Replay { data: stream, reads: chunks(mode & 0x7f, stream.len(), 512).into_iter() };
    let persistent = mode & 0x80 != 0;
    let deadline = Instant::now() + std::time::Duration::from_secs(3600);
    if let Ok(payload) = exchange(&mut s, b"request", uid, cmd, persistent, deadline) {
        assert!(!payload.is_empty() && payload.len() <= MAX_TOTAL_DATA);
    }
});
