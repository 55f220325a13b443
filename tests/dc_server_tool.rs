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
        let dir = Self::fresh_dir(tag);
        let sock = dir.join("sock");
        Self::spawn(dir, &format!("UNIX:{}", sock.display()), extra, || UnixStream::connect(&sock).is_ok())
    }

    /// A server listening on 127.0.0.1:`port` instead.
    fn start_tcp(tag: &str, port: u16) -> Self {
        let dir = Self::fresh_dir(tag);
        Self::spawn(dir, &format!("IP:127.0.0.1:{port}"), &[], || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
    }

    fn fresh_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dc-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn spawn(dir: PathBuf, listen: &str, extra: &[&str], up: impl Fn() -> bool) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_dc_server"))
            .arg("-listen")
            .arg(listen)
            .args(extra)
            .spawn()
            .expect("start dc_server");
        let s = Self { child, dir };
        for _ in 0..500 {
            if up() {
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

/// Sends `count` GETs one at a time, each the only request of its read,
/// reading nothing until all are sent: the socket fills and the server must
/// keep back part of an answer. Then every answer must arrive, byte for byte.
fn large_answers_arrive_whole<S: Read + Write>(s: &mut S, sessions: &[Vec<u8>], count: u32) {
    let mut expect = Vec::new();
    for uid in 0..count {
        let which = uid as usize % sessions.len();
        let mut request = Vec::new();
        let id = format!("s{which}");
        distcache_core::protocol::encode_message(
            &mut request,
            false,
            uid,
            distcache_core::protocol::Cmd::Get,
            id.as_bytes(),
        );
        s.write_all(&request).unwrap();
        distcache_core::protocol::encode_message(
            &mut expect,
            true,
            uid,
            distcache_core::protocol::Cmd::Get,
            &sessions[which],
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut got = vec![0u8; expect.len()];
    s.read_exact(&mut got).unwrap();
    assert!(got == expect, "the answers differ");
}

#[test]
fn large_answers_survive_a_full_socket() {
    let srv = ServerProc::start("large", &[]);
    let target = srv.target();
    let client = Client::new(NetConnector::new(target.as_bytes()).unwrap(), Flags::from_bits(0)).unwrap();
    // frame boundaries on each side, up to nearly the largest session
    let sizes = [8192usize, 8193, 20_001, 32_000];
    let sessions: Vec<Vec<u8>> = sizes.iter().map(|&n| (0..n).map(|i| (i * 13 + n) as u8).collect()).collect();
    for (i, data) in sessions.iter().enumerate() {
        assert_eq!(client.add(format!("s{i}").as_bytes(), data, 60_000), Ok(true));
    }
    // a unix socket takes a whole answer or nothing
    let mut s = UnixStream::connect(srv.sock()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    large_answers_arrive_whole(&mut s, &sessions, 150);
    // TCP stops in the middle of an answer
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tcp = ServerProc::start_tcp("large-tcp", port);
    let tcp_target = format!("IP:127.0.0.1:{port}");
    let client = Client::new(NetConnector::new(tcp_target.as_bytes()).unwrap(), Flags::from_bits(0)).unwrap();
    for (i, data) in sessions.iter().enumerate() {
        assert_eq!(client.add(format!("s{i}").as_bytes(), data, 60_000), Ok(true));
    }
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    large_answers_arrive_whole(&mut s, &sessions, 400);
    drop(tcp);
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
