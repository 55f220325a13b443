//! The request payload decoders on their own: the ADD decoder
//! (`parse_add`, with its checks in the protocol's order) and the answers
//! to ADD, GET, REMOVE and HAVE for arbitrary payloads, against a small
//! builtin cache the input fills. The input is a sequence of
//! `op (1 byte) | len (2 bytes BE) | payload` records.
#![no_main]

use distcache_core::cache::{BuiltinCache, Now};
use distcache_core::protocol::payload::{parse_add, AddParse};
use distcache_core::protocol::{status, Cmd, MAX_DATA_LEN, MAX_EXPIRY, MAX_ID_LEN};
use distcache_core::server::{ClientFailure, Server};
use distcache_fuzz::fuzz_target;

fuzz_target!(|data| {
    let mut server = Server::new(Box::new(BuiltinCache::new(64).expect("valid size")));
    let mut rest = data;
    let mut reply = Vec::new();
    let mut now = Now::new(5_000, 0);
    for _ in 0..10_000 {
        if rest.len() < 3 {
            break;
        }
        let op = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let payload = &rest[3..3 + len];
        rest = &rest[3 + len..];
        now.usec += i64::from(op >> 2) * 10_000;
        let cmd = Cmd::ALL[usize::from(op & 3)];
        if cmd == Cmd::Add {
            match parse_add(payload) {
                AddParse::Truncated => assert!(payload.len() < 8),
                AddParse::Reject(code) => assert!((status::ADD_CORRUPT..=status::ADD_DATA_RANGE).contains(&code)),
                AddParse::Ok(req) => {
                    assert!(u64::from(req.timeout_ms) <= MAX_EXPIRY);
                    assert!((1..=MAX_ID_LEN).contains(&req.id.len()));
                    assert!((1..=MAX_DATA_LEN).contains(&req.data.len()));
                    assert_eq!(8 + req.id.len() + req.data.len(), payload.len());
                }
            }
        }
        match server.answer(now, cmd, payload, &mut reply) {
            Ok(()) => {
                assert!(!reply.is_empty());
                if reply.len() > 1 {
                    assert_eq!(cmd, Cmd::Get);
                }
            }
            Err(ClientFailure::TruncatedAdd) => assert!(cmd == Cmd::Add && payload.len() < 8),
            Err(e) => panic!("unexpected failure {e:?}"),
        }
    }
});
