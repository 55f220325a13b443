//! dc_server with its sessions in a real Valkey/Redis (`-cache redis://…`):
//! the builtin cache's answers byte for byte, pipelined requests answered
//! in order, two servers sharing one store, faults (store absent at start,
//! lost and back), ACL users and passwords, TLS with a CA made here, and
//! Clusters: 3 masters/3 replicas read throughout a resharding and the
//! loss of a master, over TLS, and with an ACL user while a slot migrates.
//!
//! The servers come from Debian's redis-server/redis-tools and openssl
//! (installed by tools/deps.sh); each test starts its own on free
//! 127.0.0.1 ports in a temporary directory and kills them by PID.

mod common;

use common::recorded;
use distcache_core::cache::redis::cluster::slot_of as key_slot;
use distcache_core::protocol::payload::encode_add;
use distcache_core::protocol::{encode_message, Cmd, HEADER_LEN};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OK: u8 = 0;
const NOTOK: u8 = 1;
const FAILED: u8 = 2;
const MATCHING: u8 = 101;

fn tool(name: &str) -> &str {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "{name} is missing: run tools/deps.sh (it installs redis-server, redis-tools and openssl)"
    );
    name
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A test's scratch directory, removed when the test is over (kept, and
/// named, when it failed: the servers' logs are in it).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the servers' files are kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn temp_dir(tag: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("dc-redis-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn wait_for(what: &str, limit: Duration, mut up: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if up() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not happen within {limit:?}");
}

/// A redis-server child, killed (SIGKILL) by PID when dropped.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    tls: bool,
    /// What redis-cli needs to reach it (TLS options).
    cli_args: Vec<String>,
}

impl Redis {
    fn start(dir: &Path, extra: &[&str]) -> Self {
        Self::start_on(dir, free_port(), extra)
    }

    fn start_on(dir: &Path, port: u16, extra: &[&str]) -> Self {
        let tls = extra.contains(&"--tls-port");
        let mut args: Vec<String> =
            if tls { vec!["--port".into(), "0".into()] } else { vec!["--port".into(), port.to_string()] };
        let log = dir.join(format!("redis-{port}.log"));
        args.extend(
            [
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                dir.to_str().unwrap(),
                // Servers share the directory: a replica writes the copy it
                // receives from its master to this file and then loads it,
                // so with one name for all, two replicas syncing at once
                // could each load the other's data.
                "--dbfilename",
                &format!("dump-{port}.rdb"),
                "--logfile",
                log.to_str().unwrap(),
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        args.extend(extra.iter().map(|s| s.replace("{port}", &port.to_string())));
        // redis-cli trusts the CA the server is given
        let cli_args = match extra.iter().position(|a| *a == "--tls-ca-cert-file") {
            Some(i) => vec!["--tls".to_string(), "--cacert".to_string(), extra[i + 1].to_string()],
            None => Vec::new(),
        };
        let mut r = Redis { child: None, port, dir: dir.to_path_buf(), args, tls, cli_args };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let child = Command::new(tool("redis-server")).args(&self.args).stdout(Stdio::null()).spawn().unwrap();
        self.child = Some(child);
        let port = self.port;
        wait_for("redis-server listening", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !self.tls {
            // PONG, or NOAUTH when the default user needs a password
            wait_for("redis-server answering", Duration::from_secs(10), || !self.cli(&["PING"]).trim().is_empty());
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// redis-cli against this server (plain TCP, no auth).
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(tool("redis-cli"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.cli_args)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// redis-cli reading commands (one per line) from its standard
    /// input, all over one connection.
    fn cli_script(&self, script: &str) -> String {
        let mut child = Command::new(tool("redis-cli"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.cli_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = &self.dir;
    }
}

/// A dc_server child on a unix socket, stderr kept in a file.
struct Dc {
    child: Child,
    sock: PathBuf,
    log: PathBuf,
}

impl Dc {
    fn start(dir: &Path, name: &str, args: &[&str]) -> Self {
        Self::start_env(dir, name, args, &[])
    }

    fn start_env(dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let sock = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_dc_server"))
            .arg("-listen")
            .arg(format!("UNIX:{}", sock.display()))
            .args(args)
            .envs(env.iter().copied())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let dc = Dc { child, sock, log };
        wait_for("dc_server listening", Duration::from_secs(15), || UnixStream::connect(&dc.sock).is_ok());
        dc
    }

    fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(&self.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Dc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// dc_server's exit status and stderr when it is expected to refuse to start.
fn dc_refuses(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dc_server"))
        .args(["-listen", "IP:127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            return (status.code().unwrap_or(-1), err);
        }
        if start.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dc_server {args:?} kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_response(s: &mut UnixStream) -> (u32, Cmd, Vec<u8>) {
    let mut payload = Vec::new();
    loop {
        let mut h = [0u8; HEADER_LEN];
        s.read_exact(&mut h).expect("a response header");
        assert_eq!(h[4], 1, "a response frame");
        let uid = u32::from_be_bytes(h[5..9].try_into().unwrap());
        let cmd = Cmd::from_operation(h[10]).expect("a known operation");
        let len = u16::from_be_bytes([h[12], h[13]]) as usize;
        let mut p = vec![0u8; len];
        s.read_exact(&mut p).unwrap();
        payload.extend_from_slice(&p);
        if h[11] == 1 {
            return (uid, cmd, payload);
        }
    }
}

fn send(s: &mut UnixStream, uid: u32, cmd: Cmd, payload: &[u8]) {
    let mut req = Vec::new();
    encode_message(&mut req, false, uid, cmd, payload);
    s.write_all(&req).unwrap();
}

fn ask(s: &mut UnixStream, cmd: Cmd, payload: &[u8]) -> Vec<u8> {
    send(s, 77, cmd, payload);
    let (uid, c, p) = read_response(s);
    assert_eq!((uid, c), (77, cmd));
    p
}

fn add(s: &mut UnixStream, id: &[u8], data: &[u8], timeout_ms: u32) -> Vec<u8> {
    ask(s, Cmd::Add, &encode_add(timeout_ms, id, data).unwrap())
}

fn session(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|k| (i * 31 + k * 7) as u8).collect()
}

#[test]
fn answers_like_the_builtin_cache() {
    let dir = temp_dir("semantics");
    let redis = Redis::start(&dir, &[]);
    let dc = Dc::start(&dir, "dc", &["-cache", &redis.url(), "-cache-prefix", "t1:"]);
    let mut s = dc.connect();
    let data = session(1, 3000);
    // binary-safe ids, including bytes Redis Cluster treats specially
    for id in [&b"plain"[..], b"\x00\xff\r\n{tag}", &[7u8; 64]] {
        assert_eq!(add(&mut s, id, &data, 60_000), [OK]);
        assert_eq!(add(&mut s, id, b"other", 60_000), [MATCHING], "a duplicate keeps the original");
        assert_eq!(ask(&mut s, Cmd::Get, id), data);
        assert_eq!(ask(&mut s, Cmd::Have, id), [OK]);
        assert_eq!(ask(&mut s, Cmd::Remove, id), [OK]);
        assert_eq!(ask(&mut s, Cmd::Remove, id), [NOTOK]);
        assert_eq!(ask(&mut s, Cmd::Have, id), [NOTOK]);
        assert_eq!(ask(&mut s, Cmd::Get, id), [NOTOK]);
    }
    // the keys carry the prefix, the value is the session
    assert_eq!(add(&mut s, b"k1", b"value-1", 60_000), [OK]);
    assert_eq!(redis.cli(&["GET", "t1:k1"]).trim(), "value-1");
    let ttl: i64 = redis.cli(&["PTTL", "t1:k1"]).trim().parse().unwrap();
    assert!((50_000..=60_000).contains(&ttl), "expiry = the session's timeout ({ttl} ms)");
    // range checks as the builtin cache, without the store
    assert_eq!(add(&mut s, &[1; 65], b"d", 1000), [103]);
    assert_eq!(ask(&mut s, Cmd::Add, &encode_add(604_800_001, b"i", b"d").unwrap()), [102]);
    assert_eq!(ask(&mut s, Cmd::Add, &encode_add(1000, b"id", b"").unwrap()), [100]);
    assert_eq!(ask(&mut s, Cmd::Get, b""), [NOTOK]);
    assert_eq!(ask(&mut s, Cmd::Have, &[1; 65]), [NOTOK]);
    // the largest session
    let big = session(9, 32768 - 8 - 1);
    assert_eq!(add(&mut s, b"B", &big, 60_000), [OK]);
    assert_eq!(ask(&mut s, Cmd::Get, b"B"), big);
    // expiry: gone after its timeout
    assert_eq!(add(&mut s, b"short", b"12345", 300), [OK]);
    assert_eq!(ask(&mut s, Cmd::Have, b"short"), [OK]);
    std::thread::sleep(Duration::from_millis(450));
    assert_eq!(ask(&mut s, Cmd::Have, b"short"), [NOTOK]);
    assert_eq!(add(&mut s, b"short", b"again", 60_000), [OK], "an expired session does not block an add");
    // a 0 ms session is accepted and gone at once
    assert_eq!(add(&mut s, b"zero", b"12345", 0), [OK]);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(ask(&mut s, Cmd::Get, b"zero"), [NOTOK]);
    // the truncated ADD closes only this client, after the earlier answers
    send(&mut s, 5, Cmd::Have, b"k1");
    send(&mut s, 6, Cmd::Add, &[0; 4]);
    assert_eq!(read_response(&mut s), (5, Cmd::Have, vec![OK]));
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0, "closed without an answer");
    let mut again = dc.connect();
    assert_eq!(ask(&mut again, Cmd::Get, b"k1"), b"value-1");
}

#[test]
fn expiry_floor_applies() {
    let dir = temp_dir("floor");
    let redis = Redis::start(&dir, &[]);
    let dc = Dc::start(&dir, "dc", &["-cache", &redis.url(), "-expiry-floor", "5000"]);
    let mut s = dc.connect();
    assert_eq!(add(&mut s, b"f", b"12345", 1), [OK]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(ask(&mut s, Cmd::Have, b"f"), [OK]);
    let ttl: i64 = redis.cli(&["PTTL", "dc:f"]).trim().parse().unwrap();
    assert!((3000..=5000).contains(&ttl), "stored for the floor ({ttl} ms)");
    // a database the server does not have: a start-up error
    let (rc, err) = dc_refuses(&["-cache", &format!("{}/99", redis.url())], &[]);
    assert_eq!(rc, 1);
    assert!(err.contains("DB index is out of range"), "{err}");
}

#[test]
fn recorded_vectors_byte_for_byte() {
    let dir = temp_dir("vectors");
    let redis = Redis::start(&dir, &[]);
    let dc = Dc::start(&dir, "dc", &["-cache", &redis.url()]);
    let all = recorded();
    for (case, req, resp) in &all[..12] {
        let mut s = dc.connect();
        s.write_all(req).unwrap();
        let mut got = vec![0u8; resp.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, resp, "{}", case.name);
    }
    let mut s = dc.connect();
    for (case, req, resp) in &all[12..] {
        for b in req {
            s.write_all(&[*b]).unwrap();
        }
        let mut got = vec![0u8; resp.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, resp, "{}", case.name);
    }
}

#[test]
fn pipelined_requests_answered_in_order_across_clients() {
    let dir = temp_dir("pipeline");
    let redis = Redis::start(&dir, &[]);
    // (12,000 requests in flight on a loaded machine: a generous timeout,
    // this is about order)
    let dc = Dc::start(&dir, "dc", &["-cache", &redis.url(), "-cache-timeout", "10000"]);
    let threads: Vec<_> = (0..8usize)
        .map(|t| {
            let mut s = dc.connect();
            std::thread::spawn(move || {
                // 1,500 requests written before any answer is read
                let n = 500;
                let mut req = Vec::new();
                for i in 0..n {
                    let id = format!("p{t}-{i}");
                    let data = session(t * 1000 + i, 100 + (i * 37) % 2100);
                    let base = (i * 3) as u32;
                    encode_message(&mut req, false, base, Cmd::Add, &encode_add(60_000, id.as_bytes(), &data).unwrap());
                    encode_message(&mut req, false, base + 1, Cmd::Get, id.as_bytes());
                    encode_message(&mut req, false, base + 2, Cmd::Remove, id.as_bytes());
                }
                let mut w = s.try_clone().unwrap();
                let writer = std::thread::spawn(move || w.write_all(&req).unwrap());
                for i in 0..n {
                    let base = (i * 3) as u32;
                    let data = session(t * 1000 + i, 100 + (i * 37) % 2100);
                    assert_eq!(read_response(&mut s), (base, Cmd::Add, vec![OK]));
                    assert_eq!(read_response(&mut s), (base + 1, Cmd::Get, data));
                    assert_eq!(read_response(&mut s), (base + 2, Cmd::Remove, vec![OK]));
                }
                writer.join().unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(redis.cli(&["DBSIZE"]).trim(), "0");
}

#[test]
fn two_servers_share_one_store() {
    let dir = temp_dir("shared");
    let redis = Redis::start(&dir, &[]);
    let a = Dc::start(&dir, "a", &["-cache", &redis.url()]);
    let b = Dc::start(&dir, "b", &["-cache", &redis.url()]);
    let other = Dc::start(&dir, "other", &["-cache", &redis.url(), "-cache-prefix", "farm2:"]);
    let (mut sa, mut sb, mut so) = (a.connect(), b.connect(), other.connect());
    assert_eq!(add(&mut sa, b"made-on-a", b"session-a", 60_000), [OK]);
    assert_eq!(ask(&mut sb, Cmd::Get, b"made-on-a"), b"session-a");
    assert_eq!(add(&mut sb, b"made-on-a", b"session-b", 60_000), [MATCHING]);
    assert_eq!(ask(&mut so, Cmd::Have, b"made-on-a"), [NOTOK], "another prefix is another namespace");
    assert_eq!(ask(&mut sb, Cmd::Remove, b"made-on-a"), [OK]);
    assert_eq!(ask(&mut sa, Cmd::Have, b"made-on-a"), [NOTOK]);
}

#[test]
fn store_absent_at_start_then_lost_and_back() {
    let dir = temp_dir("faults");
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let dc = Dc::start(&dir, "dc", &["-cache", &url, "-cache-timeout", "300"]);
    wait_for("the warning", Duration::from_secs(5), || dc.log().contains("unreachable"));
    let mut s = dc.connect();
    let t = Instant::now();
    assert_eq!(add(&mut s, b"x", b"12345", 60_000), [FAILED]);
    assert_eq!(ask(&mut s, Cmd::Get, b"x"), [FAILED]);
    assert_eq!(ask(&mut s, Cmd::Have, b"x"), [FAILED]);
    assert!(t.elapsed() < Duration::from_secs(2), "failures are answered at once");
    let mut redis = Redis::start_on(&dir, port, &[]);
    wait_for("reconnection", Duration::from_secs(10), || add(&mut s, b"x", b"12345", 60_000) == [OK]);
    assert_eq!(ask(&mut s, Cmd::Get, b"x"), b"12345");
    // lost while running: each operation fails within the timeout
    redis.kill();
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(ask(&mut s, Cmd::Get, b"x"), [FAILED]);
        assert!(t.elapsed() < Duration::from_millis(300 + 1500), "{:?}", t.elapsed());
    }
    // other clients are still served meanwhile
    let mut s2 = dc.connect();
    assert_eq!(ask(&mut s2, Cmd::Have, b""), [NOTOK]);
    redis.spawn();
    wait_for("reconnection", Duration::from_secs(10), || add(&mut s, b"y", b"12345", 60_000) == [OK]);
    assert_eq!(ask(&mut s, Cmd::Get, b"y"), b"12345");
}

#[test]
fn startup_errors_name_what_is_wrong() {
    let (rc, err) = dc_refuses(&["-cache", "http://127.0.0.1:1"], &[]);
    assert_eq!(rc, 1);
    assert!(err.contains("unknown scheme 'http'"), "{err}");
    let (rc, err) = dc_refuses(&["-cache", "redis://u:hunter2@127.0.0.1:99999"], &[]);
    assert_eq!(rc, 1);
    assert!(err.contains("port '99999'") && !err.contains("hunter2"), "{err}");
    let (rc, err) = dc_refuses(&["-cache", "rediss://127.0.0.1:1", "-cache-ca", "/nonexistent/ca.pem"], &[]);
    assert_eq!(rc, 1);
    assert!(err.contains("/nonexistent/ca.pem") && err.contains("No such file"), "{err}");
    let (rc, err) = dc_refuses(&["-cache-prefix", "x:"], &[]);
    assert_eq!(rc, 1);
    assert!(err.contains("need -cache"), "{err}");
    let (rc, err) = dc_refuses(&["-cache", "redis://h:1", "-cache-timeout", "5"], &[]);
    assert_eq!(rc, 1);
    assert!(err.contains("invalid -cache-timeout '5'") && err.contains("10 to 60000"), "{err}");
}

#[test]
fn acl_user_and_password() {
    let dir = temp_dir("acl");
    let redis = Redis::start(
        &dir,
        &[
            "--user", "default", "off", "--user", "web", "on", ">s3cret", "~dc:*", "+set", "+get", "+del", "+exists",
            "+ping",
        ],
    );
    let url = format!("redis://web:s3cret@127.0.0.1:{}", redis.port);
    let dc = Dc::start(&dir, "url", &["-cache", &url]);
    let mut s = dc.connect();
    assert_eq!(add(&mut s, b"acl", b"12345", 60_000), [OK]);
    // the password from a file, and from the environment
    let pw = dir.join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let user_url = format!("redis://web@127.0.0.1:{}", redis.port);
    let dc2 = Dc::start(&dir, "file", &["-cache", &user_url, "-cache-password-file", pw.to_str().unwrap()]);
    assert_eq!(ask(&mut dc2.connect(), Cmd::Get, b"acl"), b"12345");
    let dc3 = Dc::start_env(&dir, "env", &["-cache", &user_url], &[("DC_CACHE_PASSWORD", "s3cret")]);
    assert_eq!(ask(&mut dc3.connect(), Cmd::Have, b"acl"), [OK]);
    // a wrong password or user: a clear start-up error, the password not shown
    let bad = format!("redis://web:wrong@127.0.0.1:{}", redis.port);
    let (rc, err) = dc_refuses(&["-cache", &bad], &[]);
    assert_eq!(rc, 1);
    assert!(err.contains("authentication failed") && !err.contains("wrong@"), "{err}");
    let (rc, err) = dc_refuses(&["-cache", &user_url], &[("DC_CACHE_PASSWORD", "nope")]);
    assert_eq!(rc, 1);
    assert!(err.contains("authentication failed"), "{err}");
}

/// A CA and a server certificate for 127.0.0.1, made with openssl.
fn make_ca(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let p = |f: &str| dir.join(format!("{name}-{f}"));
    let run = |args: &[&str]| {
        let out = Command::new(tool("openssl")).args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    let (ca_key, ca, key, csr, crt, ext) =
        (p("ca.key"), p("ca.pem"), p("server.key"), p("server.csr"), p("server.pem"), p("ext.cnf"));
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &format!("/CN={name} CA")]
        .iter()
        .copied()
        .chain(["-keyout", &s(&ca_key), "-out", &s(&ca)])
        .collect::<Vec<_>>());
    run(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", &s(&key), "-out", &s(&csr)]);
    run(&[
        "x509",
        "-req",
        "-in",
        &s(&csr),
        "-CA",
        &s(&ca),
        "-CAkey",
        &s(&ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &s(&ext),
        "-out",
        &s(&crt),
    ]);
    (ca, crt, key)
}

#[test]
fn tls_with_a_private_ca() {
    let dir = temp_dir("tls");
    let (ca, crt, key) = make_ca(&dir, "good");
    let (other_ca, _, _) = make_ca(&dir, "other");
    let (crt, key, cas) = (crt.to_str().unwrap(), key.to_str().unwrap(), ca.to_str().unwrap());
    let redis = Redis::start(
        &dir,
        &[
            "--tls-port",
            "{port}",
            "--tls-cert-file",
            crt,
            "--tls-key-file",
            key,
            "--tls-ca-cert-file",
            cas,
            "--tls-auth-clients",
            "no",
        ],
    );
    let url = format!("rediss://127.0.0.1:{}", redis.port);
    let dc = Dc::start(&dir, "dc", &["-cache", &url, "-cache-ca", cas]);
    let mut s = dc.connect();
    assert_eq!(add(&mut s, b"tls", b"over-tls", 60_000), [OK]);
    assert_eq!(ask(&mut s, Cmd::Get, b"tls"), b"over-tls");
    // a CA that did not sign the server's certificate: refused at start
    let (rc, err) = dc_refuses(&["-cache", &url, "-cache-ca", other_ca.to_str().unwrap()], &[]);
    assert_eq!(rc, 1);
    assert!(err.contains("certificate"), "{err}");
    // a CA file without a certificate
    let (_, err) = dc_refuses(&["-cache", &url, "-cache-ca", "/dev/null"], &[]);
    assert!(err.contains("no PEM certificate"), "{err}");
}

/// Adds c0..c{n-1}, pipelined, sending again those answered with a
/// failure (0x02): a failed ADD may have been stored before the answer was
/// given up on, so a repeated one may find it (0x65). Anything else fails
/// the test. Returns the rounds taken and the failures seen.
fn add_all(s: &mut UnixStream, n: usize, data: &impl Fn(usize) -> Vec<u8>) -> (usize, usize) {
    let mut todo: Vec<usize> = (0..n).collect();
    let (mut rounds, mut failed) = (0, 0);
    let start = Instant::now();
    while !todo.is_empty() {
        rounds += 1;
        assert!(start.elapsed() < Duration::from_secs(60), "{} ADDs still failing", todo.len());
        let mut req = Vec::new();
        for &i in &todo {
            let add = encode_add(600_000, format!("c{i}").as_bytes(), &data(i)).unwrap();
            encode_message(&mut req, false, i as u32, Cmd::Add, &add);
        }
        let mut w = s.try_clone().unwrap();
        let wr = std::thread::spawn(move || w.write_all(&req).unwrap());
        let mut again = Vec::new();
        for &i in &todo {
            let (uid, cmd, p) = read_response(s);
            assert_eq!((uid, cmd), (i as u32, Cmd::Add), "answers in request order");
            match p[..] {
                [OK] => {}
                [MATCHING] if rounds > 1 => {}
                [FAILED] => again.push(i),
                _ => panic!("ADD c{i} answered {p:?}"),
            }
        }
        wr.join().unwrap();
        failed += again.len();
        todo = again;
    }
    (rounds, failed)
}

/// One pipelined GET of each of `ids`: returns those answered with a
/// failure (0x02); anything else than the session itself (a miss, other
/// data) fails the test.
fn get_round(s: &mut UnixStream, ids: &[usize], data: &impl Fn(usize) -> Vec<u8>) -> Vec<usize> {
    let mut req = Vec::new();
    for &i in ids {
        encode_message(&mut req, false, i as u32, Cmd::Get, format!("c{i}").as_bytes());
    }
    let mut w = s.try_clone().unwrap();
    let wr = std::thread::spawn(move || w.write_all(&req).unwrap());
    let mut again = Vec::new();
    for &i in ids {
        let (uid, cmd, p) = read_response(s);
        assert_eq!((uid, cmd), (i as u32, Cmd::Get), "answers in request order");
        if p == [FAILED] {
            again.push(i);
        } else {
            assert!(p == data(i), "session c{i}: {} bytes {:?}, not the session", p.len(), &p[..p.len().min(8)]);
        }
    }
    wr.join().unwrap();
    again
}

/// A client reading c0..c{n-1} again and again (pipelined rounds of
/// [`get_round`]) until told to stop; returns the rounds and the ids
/// answered with a failure.
struct Reader {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(usize, Vec<usize>)>,
}

impl Reader {
    fn start(mut s: UnixStream, n: usize, data: fn(usize) -> Vec<u8>) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let all: Vec<usize> = (0..n).collect();
            let (mut rounds, mut failed) = (0, Vec::new());
            while rounds == 0 || !flag.load(std::sync::atomic::Ordering::Relaxed) {
                failed.extend(get_round(&mut s, &all, &data));
                rounds += 1;
            }
            (rounds, failed)
        });
        Reader { stop, thread }
    }

    fn finish(self) -> (usize, Vec<usize>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

/// Gets c0..c{n-1} until every one came back intact: a failure (0x02)
/// is tried again, anything else (a miss, other data) fails the test.
/// Returns the rounds taken and the failures seen.
fn retrieve_all(s: &mut UnixStream, n: usize, data: &impl Fn(usize) -> Vec<u8>) -> (usize, usize) {
    let mut todo: Vec<usize> = (0..n).collect();
    let (mut rounds, mut failed) = (0, 0);
    let start = Instant::now();
    while !todo.is_empty() {
        rounds += 1;
        assert!(start.elapsed() < Duration::from_secs(60), "{} sessions still failing", todo.len());
        todo = get_round(s, &todo, data);
        failed += todo.len();
    }
    (rounds, failed)
}

/// `redis-cli --cluster create` over `nodes` (redis-cli's own options
/// first, e.g. TLS), then waits until every node reports the cluster ok.
/// Returns the nodes' addresses.
fn create_cluster(nodes: &[Redis], replicas: usize, cli: &[&str]) -> Vec<String> {
    let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
    let out = Command::new(tool("redis-cli"))
        .args(cli)
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    wait_for("cluster ok", Duration::from_secs(30), || {
        nodes.iter().all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
    });
    addrs
}

#[test]
fn cluster_survives_losing_a_master() {
    let dir = temp_dir("cluster");
    let mut nodes: Vec<Redis> = (0..6)
        .map(|_| {
            Redis::start(
                &dir,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes-{port}.conf",
                    "--cluster-node-timeout",
                    "1000",
                    // the other masters keep serving their slots while
                    // one is failing over (docs/farm.md)
                    "--cluster-require-full-coverage",
                    "no",
                ],
            )
        })
        .collect();
    let addrs = create_cluster(&nodes, 1, &[]);
    let url = format!("redis+cluster://{},{}", addrs[0], addrs[1]);
    let dc = Dc::start(&dir, "dc", &["-cache", &url, "-cache-timeout", "500"]);
    // 5,000 sessions, pipelined
    let n = 5000usize;
    fn data(i: usize) -> Vec<u8> {
        session(i, 100 + i % 300)
    }
    let mut s = dc.connect();
    let (rounds, failed) = add_all(&mut s, n, &data);
    eprintln!("5,000 ADDs: {failed} failed (0x02) and were sent again, {rounds} rounds");
    let masters: Vec<usize> = (0..6).filter(|&k| nodes[k].cli(&["ROLE"]).lines().next() == Some("master")).collect();
    assert_eq!(masters.len(), 3);
    // resharding: 1,000 slots move to another master while a client
    // reads all 5,000 over and over; dc_server follows the ASK
    // redirections during the move and the MOVED ones after it
    let reader = Reader::start(dc.connect(), n, data);
    let id = |k: usize| nodes[k].cli(&["CLUSTER", "MYID"]).trim().to_string();
    let out = Command::new(tool("redis-cli"))
        .args(["--cluster", "reshard", &addrs[masters[0]], "--cluster-from", &id(masters[0])])
        .args(["--cluster-to", &id(masters[1]), "--cluster-slots", "1000", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "reshard: {}", String::from_utf8_lossy(&out.stdout));
    let (rounds, failed) = reader.finish();
    eprintln!("during resharding: {rounds} rounds of 5,000 GETs, {} failed (0x02)", failed.len());
    let mut s = dc.connect();
    let t = Instant::now();
    let (rounds, failed) = retrieve_all(&mut s, n, &data);
    eprintln!("after resharding: {failed} GETs failed (0x02) over {rounds} rounds, all retrieved in {:?}", t.elapsed());
    // every write acknowledged by a replica too: WAIT covers the writes
    // made before it on its own connection, so each master gets one more
    // write (to a key in one of its own slots) and the WAIT on the same
    // connection, which counts every write before it in that master's
    // replication stream
    for &m in &masters {
        let key = nodes[m].cli(&["RANDOMKEY"]).trim().to_string();
        assert!(key.starts_with("dc:"), "master {m} holds sessions: {key:?}");
        let out = nodes[m].cli_script(&format!("SET {{{key}}}.replicated 1\nWAIT 1 5000\n"));
        let acked: i64 = out.lines().last().unwrap_or("").trim().parse().unwrap_or(-1);
        assert!(acked >= 1, "master {m}: replicated ({out:?})");
    }
    // a paused master delays only the requests for its keys
    let slot_of = |key: &str| nodes[0].cli(&["CLUSTER", "KEYSLOT", &format!("dc:{key}")]).trim().to_string();
    let owner = |key: &str| {
        let slot = slot_of(key);
        masters.iter().copied().find(|&m| nodes[m].cli(&["CLUSTER", "COUNTKEYSINSLOT", &slot]).trim() != "0").unwrap()
    };
    let paused = owner("c0");
    let other = (1..n).find(|&i| owner(&format!("c{i}")) != paused).unwrap();
    assert_eq!(nodes[paused].cli(&["CLIENT", "PAUSE", "1500", "ALL"]).trim(), "OK");
    let mut slow = dc.connect();
    send(&mut slow, 1, Cmd::Get, b"c0");
    let mut fast = dc.connect();
    let t = Instant::now();
    assert_eq!(ask(&mut fast, Cmd::Get, format!("c{other}").as_bytes()), data(other));
    slow.set_nonblocking(true).unwrap();
    let mut probe = [0u8; 1];
    let waiting = matches!(slow.read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    assert!(waiting, "another node's key answered first (in {:?})", t.elapsed());
    slow.set_nonblocking(false).unwrap();
    let (_, _, p) = read_response(&mut slow);
    assert!(p == [FAILED] || p == data(0), "the paused node's key: failed or late, never a miss");
    // kill -9 the master of the first session's slot
    let slot = nodes[0].cli(&["CLUSTER", "KEYSLOT", "dc:c0"]).trim().to_string();
    let victim = masters
        .iter()
        .copied()
        .find(|&m| nodes[m].cli(&["CLUSTER", "COUNTKEYSINSLOT", &slot]).trim() != "0")
        .expect("the owner of dc:c0");
    // meanwhile another client reads all 5,000 again and again: each
    // answer is the session or the failure answer, never a miss or
    // another session's bytes
    let reader = Reader::start(dc.connect(), n, data);
    // the slots the victim serves, as the cluster says ("myself" line of
    // CLUSTER NODES: ... connected 0-5460 6000 ...)
    let nodes_line = nodes[victim].cli(&["CLUSTER", "NODES"]);
    let mine = nodes_line.lines().find(|l| l.contains("myself")).expect("CLUSTER NODES names myself");
    let mut victim_slots = vec![false; 16384];
    for range in mine.split_whitespace().skip(8).filter(|r| !r.starts_with('[')) {
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        victim_slots[a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap()].fill(true);
    }
    nodes[victim].kill();
    // during the failover each operation answers within the timeout
    let started = Instant::now();
    let mut failed = 0;
    loop {
        let t = Instant::now();
        let got = ask(&mut s, Cmd::Get, b"c0");
        assert!(t.elapsed() < Duration::from_millis(500 + 1500), "answered in {:?}", t.elapsed());
        if got == data(0) {
            break;
        }
        if got != [FAILED] {
            for (k, node) in nodes.iter().enumerate() {
                eprintln!(
                    "node {k} (port {}): role {:?}, dbsize {:?}, EXISTS dc:c0 {:?}, {:?}",
                    node.port,
                    node.cli(&["ROLE"]).lines().next(),
                    node.cli(&["DBSIZE"]).trim(),
                    node.cli(&["EXISTS", "dc:c0"]).trim(),
                    node.cli(&["CLUSTER", "NODES"]).lines().find(|l| l.contains("myself")).map(|l| l
                        .split_whitespace()
                        .skip(2)
                        .collect::<Vec<_>>()
                        .join(" "))
                );
            }
            let d = dc.log();
            eprintln!("dc_server log: {}", &d[d.len().saturating_sub(3000)..]);
        }
        assert!(got == [FAILED], "fails, never misses: got {} bytes {:?}", got.len(), &got[..got.len().min(8)]);
        failed += 1;
        assert!(started.elapsed() < Duration::from_secs(30), "no failover");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("failover: {failed} failed GETs over {:?}", started.elapsed());
    let (rounds, failed) = reader.finish();
    eprintln!("during the failover: {rounds} rounds of 5,000 GETs, {} failed (0x02)", failed.len());
    // a dead master delays only the requests for its own keys
    let elsewhere = failed.iter().filter(|&&i| !victim_slots[key_slot(format!("dc:c{i}").as_bytes()) as usize]);
    assert_eq!(elsewhere.count(), 0, "GETs of keys on live masters failed");
    // all 5,000 retrievable afterwards
    let (rounds, failed) = retrieve_all(&mut s, n, &data);
    eprintln!("after the failover: {failed} GETs failed (0x02) over {rounds} rounds, all retrieved");
    assert_eq!(add(&mut s, b"after", b"12345", 60_000), [OK]);
    drop(nodes);
}

#[test]
fn cluster_over_tls() {
    let dir = temp_dir("tls-cluster");
    let (ca, crt, key) = make_ca(&dir, "cluster");
    let (crt, key, cas) = (crt.to_str().unwrap(), key.to_str().unwrap(), ca.to_str().unwrap());
    let nodes: Vec<Redis> = (0..3)
        .map(|_| {
            Redis::start(
                &dir,
                &[
                    "--tls-port",
                    "{port}",
                    "--tls-cert-file",
                    crt,
                    "--tls-key-file",
                    key,
                    "--tls-ca-cert-file",
                    cas,
                    "--tls-auth-clients",
                    "no",
                    "--tls-cluster",
                    "yes",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes-{port}.conf",
                ],
            )
        })
        .collect();
    let addrs = create_cluster(&nodes, 0, &["--tls", "--cacert", cas]);
    let url = format!("rediss+cluster://{}", addrs[0]);
    let dc = Dc::start(&dir, "dc", &["-cache", &url, "-cache-ca", cas]);
    let mut s = dc.connect();
    // keys on every master
    for i in 0..300usize {
        assert_eq!(add(&mut s, format!("t{i}").as_bytes(), &session(i, 200), 60_000), [OK]);
    }
    for i in 0..300usize {
        assert_eq!(ask(&mut s, Cmd::Get, format!("t{i}").as_bytes()), session(i, 200));
    }
    let per_node: Vec<i64> = nodes.iter().map(|n| n.cli(&["DBSIZE"]).trim().parse().unwrap()).collect();
    assert!(per_node.iter().all(|&k| k > 0), "spread over the masters: {per_node:?}");
}

#[test]
fn cluster_with_an_acl_user() {
    let dir = temp_dir("acl-cluster");
    // The user dc_server needs in a Cluster: the standalone commands, plus
    // what it uses to learn the slot map and to follow a migrating slot
    // (docs/farm.md). The default user stays open for redis-cli here.
    let acl = [
        "--user",
        "web",
        "on",
        ">s3cret",
        "~dc:*",
        "+set",
        "+get",
        "+del",
        "+exists",
        "+ping",
        "+cluster|slots",
        "+asking",
    ];
    let mut args = vec!["--cluster-enabled", "yes", "--cluster-config-file", "nodes-{port}.conf"];
    args.extend(acl);
    let nodes: Vec<Redis> = (0..3).map(|_| Redis::start(&dir, &args)).collect();
    let addrs = create_cluster(&nodes, 0, &[]);
    let url = format!("redis+cluster://web:s3cret@{}", addrs[0]);
    let dc = Dc::start(&dir, "dc", &["-cache", &url]);
    let mut s = dc.connect();
    for i in 0..100usize {
        assert_eq!(add(&mut s, format!("c{i}").as_bytes(), &session(i, 100), 60_000), [OK]);
    }
    // a slot with a session in it moves to another master while its
    // sessions are read: ASK during the move, MOVED after it
    let slot = nodes[0].cli(&["CLUSTER", "KEYSLOT", "dc:c0"]).trim().to_string();
    let from = (0..3).find(|&k| nodes[k].cli(&["CLUSTER", "COUNTKEYSINSLOT", &slot]).trim() != "0").unwrap();
    let to = (from + 1) % 3;
    let id = |k: usize| nodes[k].cli(&["CLUSTER", "MYID"]).trim().to_string();
    let reader = Reader::start(dc.connect(), 100, |i| session(i, 100));
    assert_eq!(nodes[to].cli(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", &id(from)]).trim(), "OK");
    assert_eq!(nodes[from].cli(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", &id(to)]).trim(), "OK");
    std::thread::sleep(Duration::from_millis(100));
    let moved = nodes[from].cli(&["MIGRATE", "127.0.0.1", &nodes[to].port.to_string(), "dc:c0", "0", "5000"]);
    assert_eq!(moved.trim(), "OK");
    std::thread::sleep(Duration::from_millis(100));
    for node in &nodes[..3] {
        assert_eq!(node.cli(&["CLUSTER", "SETSLOT", &slot, "NODE", &id(to)]).trim(), "OK");
    }
    std::thread::sleep(Duration::from_millis(100));
    let (rounds, failed) = reader.finish();
    assert!(failed.is_empty(), "{} GETs failed over {rounds} rounds", failed.len());
    assert_eq!(ask(&mut s, Cmd::Get, b"c0"), session(0, 100));
    assert_eq!(nodes[to].cli(&["EXISTS", "dc:c0"]).trim(), "1");
    // a wrong password: a clear start-up error
    let bad = format!("redis+cluster://web:wrong@{}", addrs[0]);
    let (rc, err) = dc_refuses(&["-cache", &bad], &[]);
    assert_eq!(rc, 1);
    assert!(err.contains("authentication failed") && !err.contains("wrong@"), "{err}");
}
