//! The distcache frame decoder (`Assembler`): requests as a server reads
//! them (mode bit 7 clear) or responses as a client reads them (set), fed
//! through a 4096-byte read buffer in peer-sized reads as a connection
//! would. Checks: the decoder never stalls on a full frame, every message
//! is at most 32768 bytes, came from whole frames, and re-encodes to the
//! consumed bytes (up to the patch level the peer announced, and allowing
//! the one other framing a peer may choose: a payload of whole 2048-byte
//! frames all marked incomplete, ended by an empty final frame).
#![no_main]

use distcache_core::protocol::frame::encoded_len;
use distcache_core::protocol::{encode_message, Assembler, HEADER_LEN, MAX_TOTAL_DATA, MSG_MAX_DATA};
use distcache_fuzz::{chunks, fuzz_target, split_mode};

const READ_BUFFER: usize = 4096;
const FRAME: usize = HEADER_LEN + MSG_MAX_DATA;

fuzz_target!(|data| {
    let (mode, stream) = split_mode(data);
    let responses = mode & 0x80 != 0;
    let reads = chunks(mode & 0x7f, stream.len(), 512);
    let mut asm = Assembler::new(responses);
    let mut buf: Vec<u8> = Vec::with_capacity(READ_BUFFER);
    let mut consumed: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut reads = reads.into_iter();
    // Every round reads or consumes at least one byte, or ends.
    for _ in 0..=(2 * stream.len() + 2) {
        if pos < stream.len() && buf.len() < READ_BUFFER {
            let want = reads.next().unwrap_or(stream.len());
            let n = want.min(READ_BUFFER - buf.len()).min(stream.len() - pos);
            buf.extend_from_slice(&stream[pos..pos + n]);
            pos += n;
        }
        let used = match asm.feed(&buf) {
            Ok(n) => n,
            Err(_) => return,
        };
        assert!(used <= buf.len());
        consumed.extend_from_slice(&buf[..used]);
        buf.drain(..used);
        if asm.is_complete() {
            let (uid, cmd, payload) = asm.message().expect("complete message");
            assert!(payload.len() <= MAX_TOTAL_DATA);
            let mut again = Vec::new();
            encode_message(&mut again, responses, uid, cmd, payload);
            if consumed.len() != again.len() {
                // The one other framing a peer may use: full 2048-byte
                // frames all marked incomplete, then an empty final frame.
                assert!(!payload.is_empty() && payload.len() % MSG_MAX_DATA == 0, "framing of {} bytes", payload.len());
                assert_eq!(consumed.len(), encoded_len(payload.len()) + HEADER_LEN);
                let last_full = again.len() - FRAME;
                again[last_full + 11] = 0;
                let mut tail = again[last_full..last_full + HEADER_LEN].to_vec();
                tail[11] = 1;
                tail[12] = 0;
                tail[13] = 0;
                again.extend_from_slice(&tail);
            }
            assert_eq!(again.len(), consumed.len());
            for (i, (a, b)) in again.iter().zip(&consumed).enumerate() {
                // Bytes 2 and 3 of each header carry the peer's patch level.
                let at = i % FRAME;
                if at != 2 && at != 3 {
                    assert_eq!(a, b, "re-encoding differs at byte {i}");
                }
            }
            consumed.clear();
            asm.reset();
        } else if used == 0 {
            // Nothing taken: what waits must be less than one whole frame.
            assert!(buf.len() < FRAME, "decoder stalled with {} bytes buffered", buf.len());
            if pos == stream.len() {
                return;
            }
        }
    }
    panic!("decoder made no progress");
});
