//! Replays the recorded distcache vectors through the frame decoder, the
//! plug and the server core.

mod common;

use common::{recorded, Lcg};
use distcache_core::cache::{BuiltinCache, Now};
use distcache_core::nal::buffer::SharedBuffer;
use distcache_core::protocol::{encode_message, Assembler, Cmd, Plug, HEADER_LEN, MSG_MAX_DATA, PROTO_LEVEL};
use distcache_core::server::{Server, Step};

/// Offsets where each frame of `bytes` ends, after checking every header.
fn frame_ends(bytes: &[u8], response: bool, uid: u32, cmd: Cmd) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let h = &bytes[pos..pos + HEADER_LEN];
        assert_eq!(u32::from_be_bytes(h[0..4].try_into().unwrap()), PROTO_LEVEL);
        assert_eq!(h[4], response as u8);
        assert_eq!(u32::from_be_bytes(h[5..9].try_into().unwrap()), uid);
        assert_eq!(h[9], 0);
        assert_eq!(h[10], cmd.operation());
        let len = u16::from_be_bytes([h[12], h[13]]) as usize;
        pos += HEADER_LEN + len;
        let last = pos == bytes.len();
        assert_eq!(h[11], last as u8, "only the last frame is complete");
        if !last {
            assert_eq!(len, MSG_MAX_DATA, "non-final frames carry 2048 bytes");
        }
        ends.push(pos);
    }
    assert_eq!(pos, bytes.len());
    assert!(ends.len() <= 16);
    ends
}

/// Feeds `bytes` in the given chunks, checking after every chunk that
/// exactly the whole frames received so far were consumed, and that the
/// message completes only with its last byte.
fn feed_chunks(bytes: &[u8], chunks: &[usize], response: bool, ends: &[usize]) -> (u32, Cmd, Vec<u8>) {
    let mut asm = Assembler::new(response);
    let mut pending: Vec<u8> = Vec::new();
    let mut consumed = 0;
    let mut received = 0;
    for &n in chunks {
        pending.extend_from_slice(&bytes[received..received + n]);
        received += n;
        let used = asm.feed(&pending).expect("recorded bytes are valid");
        pending.drain(..used);
        consumed += used;
        let whole = ends.iter().copied().filter(|&e| e <= received).max().unwrap_or(0);
        assert_eq!(consumed, whole, "after {received} of {} bytes", bytes.len());
        assert_eq!(asm.is_complete(), received == bytes.len());
    }
    assert_eq!(received, bytes.len());
    let (uid, cmd, payload) = asm.message().unwrap();
    (uid, cmd, payload.to_vec())
}

#[test]
fn decoder_on_every_split() {
    let mut rng = Lcg(7);
    for (case, req, resp) in recorded() {
        let cmd = Cmd::from_c(case.cmd).unwrap();
        for (bytes, response, payload) in [(&req, false, case.request_payload()), (&resp, true, case.reply.clone())] {
            let ends = frame_ends(bytes, response, case.uid, cmd);
            let n = bytes.len();
            let expect = (case.uid, cmd, payload);
            assert_eq!(feed_chunks(bytes, &[n], response, &ends), expect, "{}", case.name);
            // every two-piece split (this includes withholding the last
            // 1..4 bytes of the final frame and of every inner frame)
            for k in 1..n {
                assert_eq!(feed_chunks(bytes, &[k, n - k], response, &ends), expect, "{} split {k}", case.name);
            }
            // byte by byte
            assert_eq!(feed_chunks(bytes, &vec![1; n], response, &ends), expect, "{}", case.name);
            // random splits
            for _ in 0..20 {
                let mut chunks = Vec::new();
                let mut left = n;
                while left > 0 {
                    let c = 1 + rng.next(left.min(3000));
                    chunks.push(c);
                    left -= c;
                }
                assert_eq!(feed_chunks(bytes, &chunks, response, &ends), expect, "{}", case.name);
            }
        }
    }
}

#[test]
fn encoder_reproduces_recorded_bytes() {
    for (case, req, resp) in recorded() {
        let cmd = Cmd::from_c(case.cmd).unwrap();
        let mut out = Vec::new();
        encode_message(&mut out, false, case.uid, cmd, &case.request_payload());
        assert_eq!(out, req, "{} request", case.name);
        out.clear();
        encode_message(&mut out, true, case.uid, cmd, &case.reply);
        assert_eq!(out, resp, "{} response", case.name);
    }
}

/// Pushes `request` through a server-end plug in chunks of at most `chunk`
/// bytes and returns everything the server sent.
fn serve(server: &mut Server, plug: &mut Plug, request: &[u8], chunk: usize, expect_len: usize, now: Now) -> Vec<u8> {
    let read = SharedBuffer::for_connection(4096);
    let send = SharedBuffer::for_connection(4096);
    let mut out = Vec::new();
    let mut pos = 0;
    for _ in 0..100_000 {
        if pos < request.len() {
            let end = (pos + chunk).min(request.len());
            pos += read.modify(|b| b.write(&request[pos..end]));
        }
        server.process(plug, &read, &send, now).expect("valid request");
        out.extend(send.modify(|b| {
            let v = b.data().to_vec();
            b.clear();
            v
        }));
        if pos == request.len() && out.len() >= expect_len && read.with(|b| b.is_empty()) {
            assert_eq!(server.process(plug, &read, &send, now), Ok(Step::Idle));
            return out;
        }
    }
    panic!("server did not answer");
}

#[test]
fn server_answers_byte_identical() {
    for chunk in [1, 5, 13, 14, 15, 700, 2062, 4096] {
        let mut server = Server::new(Box::new(BuiltinCache::new(512).unwrap()));
        let mut now = Now::new(1_700_000_000, 123_456);
        let all = recorded();
        let (one_shot, sequence) = all.split_at(12);
        for (case, req, resp) in one_shot {
            let mut plug = Plug::new(false); // a fresh connection per case
            let out = serve(&mut server, &mut plug, req, chunk, resp.len(), now);
            assert_eq!(&out, resp, "{} (chunk {chunk})", case.name);
            now.usec += 1000;
        }
        let mut plug = Plug::new(false);
        for (case, req, resp) in sequence {
            let out = serve(&mut server, &mut plug, req, chunk, resp.len(), now);
            assert_eq!(&out, resp, "{} (chunk {chunk})", case.name);
            now.usec += 1000;
        }
        assert_eq!(server.operations(), 16);
    }
}

#[test]
fn server_answers_pipelined_sequence() {
    // all four persistent-sequence requests written at once
    let mut server = Server::new(Box::new(BuiltinCache::new(512).unwrap()));
    let all = recorded();
    let seq = &all[12..];
    let req: Vec<u8> = seq.iter().flat_map(|(_, r, _)| r.clone()).collect();
    let resp: Vec<u8> = seq.iter().flat_map(|(_, _, r)| r.clone()).collect();
    let mut plug = Plug::new(false);
    let out = serve(&mut server, &mut plug, &req, 4096, resp.len(), Now::new(5, 0));
    assert_eq!(out, resp);
}
