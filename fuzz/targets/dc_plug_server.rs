//! The DC_PLUG read path as a server uses it, with the request decoders
//! behind it: client bytes arrive in the 4096-byte read buffer of a
//! connection in peer-sized reads; `Server::process` assembles requests
//! through a server-end `Plug`, decodes ADD/GET/REMOVE/HAVE payloads and
//! answers them from a 64-session builtin cache whose clock advances one
//! second per read (so sessions expire and the cache evicts). The send
//! buffer is drained after every step and every byte the server wrote must
//! parse as well-formed responses, one per answered request, each carrying
//! the uid and command of its request (a client dropped for corruption may
//! be left with the first part of its last response).
//!
//! The same bytes then go through `Server::answer_stream`, the in-place
//! path of dc_server's event loop, arriving in the same pieces: it must
//! answer exactly as the plug path does, byte for byte, and fail where it
//! fails.
#![no_main]

use distcache_core::cache::{BuiltinCache, Now};
use distcache_core::nal::buffer::SharedBuffer;
use distcache_core::protocol::{Assembler, Cmd, Plug};
use distcache_core::server::{Server, Step};
use distcache_fuzz::{chunks, fuzz_target, split_mode};

const READ_BUFFER: usize = 4096;

fuzz_target!(|data| {
    let (mode, stream) = split_mode(data);
    let mut server = new_server(mode);
    let mut plug = Plug::new(false);
    let read = SharedBuffer::for_connection(READ_BUFFER);
    let send = SharedBuffer::for_connection(READ_BUFFER);
    let mut sent = Vec::new();
    // Requests seen by an independent decoder, to pair with the responses.
    let mut requests: Vec<(u32, Cmd)> = Vec::new();
    let mut shadow = Assembler::new(false);
    let mut shadow_buf: Vec<u8> = Vec::new();
    let mut answered = 0u64;
    let mut pos = 0;
    let mut reads = chunks(mode & 0x7f, stream.len(), 512).into_iter();
    let mut now = Now::new(1_000_000, 0);
    let mut dropped = false;
    for _ in 0..=(4 * stream.len() + 4) {
        let mut got = 0;
        if pos < stream.len() {
            let want = reads.next().unwrap_or(stream.len());
            got = read.modify(|b| b.write(&stream[pos..(pos + want).min(stream.len())]));
            shadow_buf.extend_from_slice(&stream[pos..pos + got]);
            pos += got;
            now.sec += 1;
        }
        if let Ok(n) = shadow.feed(&shadow_buf) {
            shadow_buf.drain(..n);
            if shadow.is_complete() {
                let (uid, cmd, _) = shadow.message().expect("complete");
                requests.push((uid, cmd));
                shadow.reset();
            }
        }
        let step = server.process(&mut plug, &read, &send, now);
        let mut out = [0u8; READ_BUFFER];
        let n = send.modify(|b| b.read(Some(&mut out), READ_BUFFER));
        sent.extend_from_slice(&out[..n]);
        match step {
            Ok(Step::Answered) => answered += 1,
            Ok(Step::Idle) | Ok(Step::Blocked) => {
                if got == 0 && n == 0 && pos == stream.len() {
                    break;
                }
            }
            Err(_) => {
                // A request answered just before the stream turned out to
                // be corrupt is counted, though its client is dropped.
                if server.operations() == answered + 1 {
                    answered += 1;
                }
                dropped = true;
                break;
            }
        }
    }
    assert_eq!(server.operations(), answered);
    // Every response the server produced is well formed and answers the
    // request at the same position.
    let mut responses = Assembler::new(true);
    let mut rest = &sent[..];
    let mut count = 0usize;
    while !rest.is_empty() {
        let n = responses.feed(rest).expect("the server wrote a corrupt response");
        rest = &rest[n..];
        if !responses.is_complete() {
            // Only a dropped client may be left with part of a response.
            assert!(dropped, "the server wrote a partial response");
            break;
        }
        let (uid, cmd, payload) = responses.message().expect("complete");
        assert!(!payload.is_empty());
        assert_eq!(Some(&(uid, cmd)), requests.get(count), "response {count} answers another request");
        count += 1;
        responses.reset();
    }
    assert!(count as u64 <= answered);
    same_answers_in_place(stream, mode);
});

fn new_server(mode: u8) -> Server {
    let mut server = Server::new(Box::new(BuiltinCache::new(64).expect("valid size")));
    if mode & 0x80 != 0 {
        server.set_expiry_floor(1500);
    }
    server
}

/// The plug path and the in-place path, on one clock, give the same bytes.
fn same_answers_in_place(stream: &[u8], mode: u8) {
    let now = Now::new(1_000_000, 0);
    let mut by_plug = new_server(mode);
    let mut plug = Plug::new(false);
    let read = SharedBuffer::for_connection(READ_BUFFER);
    let send = SharedBuffer::for_connection(READ_BUFFER);
    let (mut pos, mut plug_out, mut plug_failed) = (0, Vec::new(), false);
    for _ in 0..(20 * stream.len() + 100) {
        pos += read.modify(|b| b.write(&stream[pos..]));
        let step = by_plug.process(&mut plug, &read, &send, now);
        let mut out = [0u8; READ_BUFFER];
        let n = send.modify(|b| b.read(Some(&mut out), READ_BUFFER));
        plug_out.extend_from_slice(&out[..n]);
        match step {
            Err(_) => {
                plug_failed = true;
                break;
            }
            Ok(Step::Idle) if pos == stream.len() && n == 0 => break,
            _ => {}
        }
    }
    let mut in_place = new_server(mode);
    let (mut used, mut end, mut out, mut failed) = (0, 0, Vec::new(), false);
    let mut pass = Vec::new();
    'arrive: for piece in chunks(mode & 0x7f, stream.len(), 512) {
        end += piece;
        loop {
            // A pass starts with empty output, as in the event loop; its
            // small limit makes the path stop and resume.
            pass.clear();
            let done = in_place.answer_stream(&stream[used..end], &mut pass, now, 1000);
            out.extend_from_slice(&pass);
            used += done.used;
            if done.failure.is_some() {
                failed = true;
                break 'arrive;
            }
            if !done.more {
                break;
            }
        }
    }
    assert_eq!(failed, plug_failed, "one path dropped the client, the other did not");
    assert_eq!(in_place.operations(), by_plug.operations());
    if failed {
        // the plug path may hold back the end of its last response
        assert!(out.starts_with(&plug_out), "the paths answered differently");
    } else {
        assert!(out == plug_out, "the paths answered differently");
    }
}
