//! The dc_server binary on a unix socket: recorded requests get the
//! recorded responses byte for byte, malformed input closes only the
//! offending client, and the real client library talks to it.

mod common;

use common::recorded;
use distcache_core::client::net::NetConnector;
use distcache_core::client::{Client, Flags, GetResult};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

struct ServerProc {
    child: Child,
    dir: PathBuf,
}

impl ServerProc {
    fn start(tag: &str, extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("dc-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("sock");
        let child = Command::new(env!("CARGO_BIN_EXE_dc_server"))
            .arg("-listen")
            .arg(format!("UNIX:{}", sock.display()))
            .args(extra)
            .spawn()
            .expect("start dc_server");
        let s = Self { child, dir };
        for _ in 0..500 {
            if UnixStream::connect(&sock).is_ok() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("dc_server did not come up");
    }
    fn sock(&self) -> PathBuf {
        self.dir.join("sock")
    }
    fn target(&self) -> String {
        format!("UNIX:{}", self.sock().display())
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn read_n(s: &mut UnixStream, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    s.read_exact(&mut v).expect("response");
    v
}

#[test]
fn recorded_exchanges_over_the_wire() {
    let srv = ServerProc::start("vectors", &[]);
    let all = recorded();
    for (case, req, resp) in &all[..12] {
        let mut s = UnixStream::connect(srv.sock()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(req).unwrap();
        assert_eq!(&read_n(&mut s, resp.len()), resp, "{}", case.name);
    }
    let mut s = UnixStream::connect(srv.sock()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for (case, req, resp) in &all[12..] {
        // byte by byte for the persistent sequence
        for b in req {
            s.write_all(&[*b]).unwrap();
        }
        assert_eq!(&read_n(&mut s, resp.len()), resp, "{}", case.name);
    }
}

#[test]
fn malformed_input_closes_only_that_client() {
    let srv = ServerProc::start("corrupt", &[]);
    let all = recorded();
    let (_, have_req, have_resp) = &all[9]; // have_miss: nothing stored
    let mut good = UnixStream::connect(srv.sock()).unwrap();
    good.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for garbage in [&b"GET / HTTP/1.0\r\n\r\n"[..], &[0, 0x10, 0, 0, 0][..], &[0, 0x11, 0, 0, 1][..]] {
        let mut bad = UnixStream::connect(srv.sock()).unwrap();
        bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        bad.write_all(garbage).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(bad.read(&mut buf).unwrap_or(0), 0, "closed without an answer");
        good.write_all(have_req).unwrap();
        assert_eq!(&read_n(&mut good, have_resp.len()), have_resp);
    }
    // a truncated ADD is dropped without a reply
    let mut bad = UnixStream::connect(srv.sock()).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    bad.write_all(&[0, 0x11, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 2, 0, 0]).unwrap();
    let mut buf = [0u8; 16];
    let r = bad.read(&mut buf);
    assert!(matches!(r, Ok(0)), "{r:?} {buf:?}");
}

#[test]
fn client_library_against_server() {
    let srv = ServerProc::start("client", &["-sessions", "5000"]);
    for flags in [0, Flags::PERSISTENT] {
        let client = std::sync::Arc::new(
            Client::new(NetConnector::new(srv.target().as_bytes()).unwrap(), Flags::from_bits(flags)).unwrap(),
        );
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let c = client.clone();
                std::thread::spawn(move || {
                    for i in 0..300u32 {
                        let id = [flags.to_be_bytes(), t.to_be_bytes(), i.to_be_bytes()].concat();
                        let data = vec![(i % 251) as u8; 10 + (i as usize * 97) % 30000];
                        assert_eq!(c.add(&id, &data, 60_000), Ok(true));
                        assert_eq!(c.get(&id, None), Ok(GetResult::Found(data.len())));
                        let mut out = vec![0u8; data.len()];
                        assert_eq!(c.reget(&id, Some(&mut out)), Some(data.len()));
                        assert_eq!(out, data);
                        assert_eq!(c.has(&id), Ok(1));
                        assert_eq!(c.remove(&id), Ok(true));
                        assert_eq!(c.has(&id), Ok(0));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}

#[test]
fn a_client_that_reads_late_gets_every_answer_in_order() {
    let srv = ServerProc::start("late", &[]);
    let target = srv.target();
    let client = Client::new(NetConnector::new(target.as_bytes()).unwrap(), Flags::from_bits(0)).unwrap();
    let data: Vec<u8> = (0..30000u32).map(|i| (i % 253) as u8).collect();
    assert_eq!(client.add(b"late", &data, 60_000), Ok(true));
    // 300 GETs of 30,000 bytes sent without reading: 9 MB of answers, far
    // more than the socket holds, so the server must hold back and wait.
    let mut requests = Vec::new();
    for uid in 0..300u32 {
        distcache_core::protocol::encode_message(
            &mut requests,
            false,
            uid,
            distcache_core::protocol::Cmd::Get,
            b"late",
        );
    }
    let mut late = UnixStream::connect(srv.sock()).unwrap();
    late.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut writer = late.try_clone().unwrap();
    let sending = std::thread::spawn(move || writer.write_all(&requests));
    std::thread::sleep(Duration::from_millis(300));
    // meanwhile everybody else is served
    for i in 0..20u32 {
        assert_eq!(client.has(b"late"), Ok(1), "round {i}");
    }
    for uid in 0..300u32 {
        let mut expect = Vec::new();
        distcache_core::protocol::encode_message(&mut expect, true, uid, distcache_core::protocol::Cmd::Get, &data);
        assert_eq!(read_n(&mut late, expect.len()), expect, "answer {uid}");
    }
    sending.join().unwrap().unwrap();
}

#[test]
fn answers_before_a_bad_request_are_sent_then_the_client_is_closed() {
    let srv = ServerProc::start("bad-after-good", &[]);
    let all = recorded();
    let (_, have_req, have_resp) = &all[9]; // have_miss
    let mut s = UnixStream::connect(srv.sock()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut bytes = have_req.clone();
    bytes.extend_from_slice(b"GET / HTTP/1.0\r\n\r\n");
    s.write_all(&bytes).unwrap();
    assert_eq!(&read_n(&mut s, have_resp.len()), have_resp);
    let mut buf = [0u8; 16];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "then closed");
}
