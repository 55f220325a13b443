//! TLS on the dc_client ↔ dc_server link, with the real programs and
//! certificates made by openssl for each run (capi-tests/lib/tls_certs.sh):
//! sessions pass, a recorder between the two sees neither ids nor data
//! (and sees both without TLS), every kind of refusal is logged once with
//! its peer and reason while another client keeps being served, and bad
//! files stop the programs at start with the file named.

use distcache_core::protocol::payload::encode_add;
use distcache_core::protocol::{encode_message, Cmd};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// A private directory with the test certificates, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("dc-tls-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("capi-tests/lib/tls_certs.sh");
        let st = Command::new("bash").arg(&script).arg(p.join("certs")).status().expect("bash");
        assert!(st.success(), "making the test certificates failed (is openssl installed? tools/deps.sh)");
        Dir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn cert(&self, name: &str) -> String {
        self.path("certs").join(name).display().to_string()
    }
    /// The TLS flags of a client presenting `who`'s certificate.
    fn client_flags(&self, who: &str) -> Vec<String> {
        vec![
            "-tls-cert".into(),
            self.cert(&format!("{who}.pem")),
            "--tls-key".into(),
            self.cert(&format!("{who}.key")),
            "-tls-ca".into(),
            self.cert("ca.pem"),
        ]
    }
    fn server_flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert("server.pem"),
            "-tls-key".into(),
            self.cert("server.key"),
            "--tls-ca".into(),
            self.cert("ca.pem"),
        ]
    }
    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A started program, killed on drop.
struct Proc(Child);

impl Proc {
    fn start(bin: &str, args: &[String], stderr: &Path) -> Self {
        let child = Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin}: {e}"));
        Proc(child)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// dc_server on 127.0.0.1 (TLS when `tls`), stderr into `log`, on `port`
/// or a free one (tried again on another when a parallel test took it).
fn server(dir: &Dir, port: Option<u16>, tls: bool, log: &str) -> (Proc, u16) {
    for _ in 0..5 {
        let p_port = port.unwrap_or_else(free_port);
        let mut args = vec!["-listen".to_string(), format!("IP:127.0.0.1:{p_port}")];
        if tls {
            args.extend(dir.server_flags());
        }
        let mut p = Proc::start(env!("CARGO_BIN_EXE_dc_server"), &args, &dir.path(log));
        // A connection that sends nothing is not a refusal: no log line.
        wait_until("dc_server", || {
            TcpStream::connect(("127.0.0.1", p_port)).is_ok() || p.0.try_wait().unwrap().is_some()
        });
        std::thread::sleep(Duration::from_millis(50));
        if p.0.try_wait().unwrap().is_none() {
            return (p, p_port);
        }
        assert!(port.is_none(), "dc_server could not listen on {p_port}:\n{}", dir.log(log));
    }
    panic!("dc_server found no free port");
}

/// dc_client on a unix socket `name` in `dir`, forwarding to `upstream`.
fn client(dir: &Dir, name: &str, upstream: u16, extra: &[String]) -> Proc {
    let mut args = vec![
        "-listen".to_string(),
        format!("UNIX:{}", dir.path(name).display()),
        "-server".to_string(),
        format!("IP:127.0.0.1:{upstream}"),
        "-retry".to_string(),
        "200".to_string(),
    ];
    args.extend_from_slice(extra);
    let p = Proc::start(env!("CARGO_BIN_EXE_dc_client"), &args, &dir.path(&format!("{name}.log")));
    wait_until("dc_client", || UnixStream::connect(dir.path(name)).is_ok());
    p
}

/// One request and its response payload over a persistent application
/// connection (None when the connection or the answer failed).
fn ask(s: &mut UnixStream, uid: u32, cmd: Cmd, payload: &[u8]) -> Option<Vec<u8>> {
    let mut req = Vec::new();
    encode_message(&mut req, false, uid, cmd, payload);
    s.write_all(&req).ok()?;
    let mut out = Vec::new();
    loop {
        let mut h = [0u8; 14];
        s.read_exact(&mut h).ok()?;
        let n = u16::from_be_bytes([h[12], h[13]]) as usize;
        let mut d = vec![0u8; n];
        s.read_exact(&mut d).ok()?;
        out.extend_from_slice(&d);
        if h[11] == 1 {
            return Some(out);
        }
    }
}

fn app(dir: &Dir, name: &str) -> UnixStream {
    let s = UnixStream::connect(dir.path(name)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// An ADD and a GET of it through the dc_client at `name`; true when the
/// session came back.
fn round_trip(dir: &Dir, name: &str, id: &[u8], data: &[u8]) -> bool {
    let mut s = app(dir, name);
    let added = ask(&mut s, 1, Cmd::Add, &encode_add(60_000, id, data).unwrap());
    added.as_deref() == Some(&[0][..]) && ask(&mut s, 2, Cmd::Get, id).as_deref() == Some(data)
}

/// Waits until the client at `name` is served (its link is up).
fn served(dir: &Dir, name: &str, tag: &str) {
    let id = format!("served-{tag}");
    wait_until(&format!("{name} to be served"), || round_trip(dir, name, id.as_bytes(), b"still served"));
}

/// Small deterministic generator (xorshift), seeded from the clock.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        Rng(t.as_nanos() as u64 | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A TCP relay from a free port to `upstream` that records every byte
/// of both directions.
fn recorder(upstream: u16) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tape = Arc::new(Mutex::new(Vec::new()));
    let t = tape.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(down) = conn else { return };
            let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
            for (mut from, mut to) in [(down.try_clone().unwrap(), up.try_clone().unwrap()), (up, down)] {
                let t = t.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        t.lock().unwrap().extend_from_slice(&buf[..n]);
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    (port, tape)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// (id, data) pairs.
type Sessions = Vec<(Vec<u8>, Vec<u8>)>;

/// Sessions (random ids, random data of 100 B to 30 KiB) through a
/// dc_client whose link passes a recorder; returns the sessions and the
/// recording.
fn record_sessions(tls: bool) -> (Sessions, Vec<u8>) {
    let dir = Dir::new(if tls { "rec-tls" } else { "rec-plain" });
    let (_srv, port) = server(&dir, None, tls, "server.log");
    let (relay, tape) = recorder(port);
    let extra = if tls { dir.client_flags("client") } else { Vec::new() };
    let _cl = client(&dir, "cl", relay, &extra);
    served(&dir, "cl", "rec");
    let mut rng = Rng::new();
    let mut sessions = Vec::new();
    for i in 0..12 {
        let id = rng.bytes(32);
        let len = match i {
            0 => 100,
            1 => 30 * 1024,
            _ => 100 + (rng.next() as usize) % (30 * 1024 - 100),
        };
        let data = rng.bytes(len);
        assert!(round_trip(&dir, "cl", &id, &data), "session {i} ({len} bytes) did not come back");
        sessions.push((id, data));
    }
    let tape = tape.lock().unwrap().clone();
    assert!(tape.len() > sessions.iter().map(|(_, d)| d.len()).sum::<usize>(), "the recorder saw the traffic");
    (sessions, tape)
}

#[test]
fn recorder_sees_no_session_through_tls_and_every_session_without() {
    let (sessions, tape) = record_sessions(true);
    for (id, data) in &sessions {
        assert!(!contains(&tape, id), "a session id crossed the TLS link in clear");
        for chunk in data.chunks_exact(16) {
            assert!(!contains(&tape, chunk), "session bytes crossed the TLS link in clear");
        }
    }
    // The same test without TLS does see them: the check can fail.
    let (sessions, tape) = record_sessions(false);
    for (id, data) in &sessions {
        assert!(contains(&tape, id), "a session id missing from the plaintext recording");
        assert!(
            data.chunks_exact(16).all(|c| contains(&tape, c)),
            "session bytes missing from the plaintext recording"
        );
    }
}

/// Lines of `log` that name `needle`.
fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

/// Sends `bytes` to the server port and waits for it to close the
/// connection; returns the local port (named in the server's log line).
fn raw_attempt(port: u16, bytes: &[u8]) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let local = s.local_addr().unwrap().port();
    s.write_all(bytes).unwrap();
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink); // ends when the server closes
    local
}

/// Waits for exactly one line naming `peer` in the server log, holding
/// `reason`.
fn one_refusal(dir: &Dir, log: &str, peer: &str, reason: &str) {
    wait_until(&format!("the refusal of {peer}"), || !lines_with(&dir.log(log), peer).is_empty());
    std::thread::sleep(Duration::from_millis(50));
    let text = dir.log(log);
    let lines = lines_with(&text, peer);
    assert_eq!(lines.len(), 1, "one line per refused connection:\n{text}");
    assert!(lines[0].contains("refused client") && lines[0].contains(reason), "{}", lines[0]);
}

/// A refused dc_client: its server-side line, its own report repeated
/// per retry, and the application's request failing.
fn refused_client(dir: &Dir, port: u16, name: &str, flags: Vec<String>, server_says: &str, client_says: &str) {
    let before = lines_with(&dir.log("server.log"), server_says).len();
    let _cl = client(dir, name, port, &flags);
    let log = format!("{name}.log");
    // Requests keep coming (a plaintext client says nothing until asked).
    wait_until(&format!("{name} to report twice (it keeps retrying)"), || {
        let mut s = app(dir, name);
        let answer = ask(&mut s, 7, Cmd::Get, b"anything");
        assert!(answer.as_deref().is_none_or(|a| a.len() <= 1), "a refused link answers nothing: {answer:?}");
        lines_with(&dir.log(&log), client_says).len() >= 2
    });
    wait_until(&format!("the server to log {name}'s refusals"), || {
        lines_with(&dir.log("server.log"), server_says).len() >= before + 2
    });
}

#[test]
fn refusals_are_logged_once_and_others_keep_being_served() {
    let dir = Dir::new("refuse");
    let (_srv, port) = server(&dir, None, true, "server.log");
    let _good = client(&dir, "good", port, &dir.client_flags("client"));
    served(&dir, "good", "start");

    // A plaintext distcache client on the TLS port.
    let mut plain = Vec::new();
    encode_message(&mut plain, false, 1, Cmd::Get, b"session");
    let local = raw_attempt(port, &plain);
    one_refusal(&dir, "server.log", &format!(":{local}:"), "not a TLS peer");
    served(&dir, "good", "plain");

    // Garbage.
    let local = raw_attempt(port, &Rng::new().bytes(300));
    one_refusal(&dir, "server.log", &format!(":{local}:"), "not a TLS peer");
    served(&dir, "good", "garbage");

    // A TLS client without a certificate.
    let local = no_certificate_attempt(&dir, port);
    one_refusal(&dir, "server.log", &format!(":{local}:"), "no client certificate");
    served(&dir, "good", "nocert");

    // A certificate from another CA, an expired one, the wrong server name.
    refused_client(&dir, port, "other", dir.client_flags("other"), "unknown issuer", "UnknownCA");
    served(&dir, "good", "other");
    refused_client(&dir, port, "expired", dir.client_flags("expired"), "certificate expired", "CertificateExpired");
    served(&dir, "good", "expired");
    let mut wrong_name = dir.client_flags("client");
    wrong_name.extend(["-tls-server-name".to_string(), "wrong.example".to_string()]);
    refused_client(&dir, port, "name", wrong_name, "BadCertificate", "not valid for the expected server name");
    served(&dir, "good", "name");

    // A plaintext dc_client on the TLS port is told the server speaks TLS.
    refused_client(&dir, port, "plainclient", Vec::new(), "not a TLS peer", "answered with TLS");
    served(&dir, "good", "plainclient");

    // A TLS dc_client on a plaintext port.
    let (_plain_srv, plain_port) = server(&dir, None, false, "plain-server.log");
    let _tls_cl = client(&dir, "tlsonplain", plain_port, &dir.client_flags("client"));
    wait_until("the TLS client's report", || {
        lines_with(&dir.log("tlsonplain.log"), "closed the connection during the TLS handshake").len() >= 2
    });
    let text = dir.log("plain-server.log");
    assert!(lines_with(&text, "sent a TLS handshake to a plaintext listener").len() >= 2, "{text}");
    served(&dir, "good", "end");
}

/// A TLS 1.3 client (rustls, the same library) presenting no certificate;
/// returns its local port.
fn no_certificate_attempt(dir: &Dir, port: u16) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.cert("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let local = sock.local_addr().unwrap().port();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    let _ = tls.write_all(b"\x00\x00\x00\x00");
    let mut sink = [0u8; 64];
    let r = tls.read(&mut sink);
    assert!(!matches!(r, Ok(n) if n > 0), "a client without certificate got an answer");
    local
}

#[test]
fn bad_files_stop_the_programs_at_start_naming_the_file() {
    let dir = Dir::new("files");
    let run = |bin: &str, args: &[String]| {
        let out = Command::new(bin).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let listen = vec!["-listen".to_string(), format!("IP:127.0.0.1:{}", free_port())];
    let upstream = vec![
        "-listen".to_string(),
        format!("UNIX:{}", dir.path("c").display()),
        "-server".into(),
        "IP:127.0.0.1:1".into(),
    ];

    // A missing certificate file.
    let mut flags = dir.server_flags();
    flags[1] = dir.path("missing.pem").display().to_string();
    let (code, err) = run(env!("CARGO_BIN_EXE_dc_server"), &[listen.clone(), flags].concat());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("missing.pem") && err.contains("dc_server"), "{err}");

    // A key others may read.
    let loose = dir.path("loose.key");
    std::fs::copy(dir.cert("client.key"), &loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut flags = dir.client_flags("client");
    flags[3] = loose.display().to_string();
    let (code, err) = run(env!("CARGO_BIN_EXE_dc_client"), &[upstream.clone(), flags].concat());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("loose.key") && err.contains("group or others") && err.contains("0644"), "{err}");

    // A file that is not PEM.
    let junk = dir.path("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let mut flags = dir.server_flags();
    flags[5] = junk.display().to_string();
    let (code, err) = run(env!("CARGO_BIN_EXE_dc_server"), &[listen.clone(), flags].concat());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("junk.pem"), "{err}");

    // A key that does not fit the certificate.
    let mut flags = dir.server_flags();
    flags[3] = dir.cert("client.key");
    let (code, err) = run(env!("CARGO_BIN_EXE_dc_server"), &[listen.clone(), flags].concat());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("client.key") && err.contains("server.pem"), "{err}");

    // Only some of the three flags.
    let (code, err) = run(env!("CARGO_BIN_EXE_dc_server"), &[listen, dir.server_flags()[..2].to_vec()].concat());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("must be given together"), "{err}");
}

#[test]
fn the_link_survives_a_server_restart_with_a_new_handshake() {
    let dir = Dir::new("restart");
    let (srv, port) = server(&dir, None, true, "server.log");
    let _cl = client(&dir, "cl", port, &dir.client_flags("client"));
    served(&dir, "cl", "before");
    // One application connection, many requests: one link, one handshake.
    let mut s = app(&dir, "cl");
    for i in 0..200u32 {
        assert_eq!(ask(&mut s, i, Cmd::Have, b"served-before").as_deref(), Some(&[0][..]));
    }
    drop(srv);
    let (_srv, _) = server(&dir, Some(port), true, "server2.log");
    served(&dir, "cl", "after");
    assert!(dir.log("server2.log").lines().all(|l| !l.contains("refused")), "{}", dir.log("server2.log"));
}

#[test]
fn dc_snoop_relays_to_a_tls_server() {
    let dir = Dir::new("snoop");
    let (_srv, port) = server(&dir, None, true, "server.log");
    let start = |name: &str, who: &str| {
        let mut args = vec![
            "-listen".to_string(),
            format!("UNIX:{}", dir.path(name).display()),
            "-server".to_string(),
            format!("IP:127.0.0.1:{port}"),
        ];
        args.extend(dir.client_flags(who));
        let p = Proc::start(env!("CARGO_BIN_EXE_dc_snoop"), &args, &dir.path(&format!("{name}.log")));
        wait_until("dc_snoop", || dir.path(name).exists());
        p
    };
    let _snoop = start("snoop", "client");
    assert!(round_trip(&dir, "snoop", b"snooped-id", &[9u8; 5000]), "a session through dc_snoop over TLS");
    wait_until("dc_snoop's decoded lines", || dir.log("snoop.log").contains("SNOOP_DECODED"));

    let _bad = start("badsnoop", "other");
    let mut s = app(&dir, "badsnoop");
    assert!(ask(&mut s, 1, Cmd::Get, b"snooped-id").is_none_or(|a| a.len() <= 1));
    wait_until("dc_snoop's TLS failure line", || {
        dir.log("badsnoop.log").contains("Error, TLS with the server") && dir.log("badsnoop.log").contains("UnknownCA")
    });
    wait_until("the server's refusal line", || dir.log("server.log").contains("unknown issuer"));
}

#[test]
fn a_second_connection_with_the_same_configuration_resumes() {
    use distcache_core::nal::tls::{client_config, server_name, TlsFiles};
    let dir = Dir::new("resume");
    let (_srv, port) = server(&dir, None, true, "server.log");
    // The configuration dc_client builds once and reuses for every reconnect.
    let files = TlsFiles { cert: dir.cert("client.pem"), key: dir.cert("client.key"), ca: dir.cert("ca.pem") };
    let config = client_config(&files).unwrap();
    let mut kinds = Vec::new();
    for uid in 1..=2u32 {
        let mut conn = rustls::ClientConnection::new(config.clone(), server_name("127.0.0.1").unwrap()).unwrap();
        let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let mut req = Vec::new();
        encode_message(&mut req, false, uid, Cmd::Have, b"nothing");
        tls.write_all(&req).unwrap();
        let mut answer = [0u8; 15];
        tls.read_exact(&mut answer).unwrap();
        assert_eq!(answer[14], 1, "HAVE of a missing session answers NOTOK");
        kinds.push(conn.handshake_kind());
    }
    assert_eq!(kinds, [Some(rustls::HandshakeKind::Full), Some(rustls::HandshakeKind::Resumed)]);
}
