//! Client tests against an in-memory server built from the server core.

use super::*;
use crate::cache::{BuiltinCache, Now};
use crate::nal::buffer::SharedBuffer;
use crate::protocol::Plug;
use crate::server::Server;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::time::Instant;

struct Mem {
    server: Arc<Mutex<Server>>,
    connects: AtomicUsize,
    refuse: AtomicBool,
    /// Set to make every open stream report end of file.
    epoch: AtomicUsize,
}

#[derive(Clone)]
struct MemConnector(Arc<Mem>);

struct MemStream {
    mem: Arc<Mem>,
    epoch: usize,
    plug: Plug,
    read: SharedBuffer,
    send: SharedBuffer,
    out: Vec<u8>,
}

impl MemConnector {
    fn new() -> Self {
        Self(Arc::new(Mem {
            server: Arc::new(Mutex::new(Server::new(Box::new(BuiltinCache::new(1000).unwrap())))),
            connects: AtomicUsize::new(0),
            refuse: AtomicBool::new(false),
            epoch: AtomicUsize::new(0),
        }))
    }
    fn connects(&self) -> usize {
        self.0.connects.load(Ordering::SeqCst)
    }
    fn drop_all(&self) {
        self.0.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

impl Connector for MemConnector {
    type Stream = MemStream;
    fn connect(&self, _deadline: Instant) -> io::Result<MemStream> {
        if self.0.refuse.load(Ordering::SeqCst) {
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        self.0.connects.fetch_add(1, Ordering::SeqCst);
        Ok(MemStream {
            mem: self.0.clone(),
            epoch: self.0.epoch.load(Ordering::SeqCst),
            plug: Plug::new(false),
            read: SharedBuffer::for_connection(4096),
            send: SharedBuffer::for_connection(4096),
            out: Vec::new(),
        })
    }
}

impl MemStream {
    fn alive(&self) -> bool {
        self.epoch == self.mem.epoch.load(Ordering::SeqCst)
    }
    fn pump(&mut self) {
        loop {
            let step = self.mem.server.lock().process(&mut self.plug, &self.read, &self.send, Now::wall_clock());
            self.out.extend(self.send.modify(|b| {
                let v = b.data().to_vec();
                b.clear();
                v
            }));
            if step.expect("client sent garbage") == crate::server::Step::Idle {
                break;
            }
        }
    }
}

impl Stream for MemStream {
    fn send_all(&mut self, mut data: &[u8], _deadline: Instant) -> io::Result<()> {
        if !self.alive() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        while !data.is_empty() {
            let n = self.read.modify(|b| b.write(data));
            data = &data[n..];
            self.pump();
        }
        Ok(())
    }
    fn recv(&mut self, buf: &mut [u8], _deadline: Instant) -> io::Result<usize> {
        if !self.alive() {
            return Ok(0);
        }
        self.pump();
        // small chunks, to exercise reassembly
        let n = self.out.len().min(buf.len()).min(777);
        buf[..n].copy_from_slice(&self.out[..n]);
        self.out.drain(..n);
        Ok(n)
    }
}

fn client(flags: u32) -> (MemConnector, Client<MemConnector>) {
    let c = MemConnector::new();
    let bounds = Bounds { deadline: std::time::Duration::from_secs(1), backoff: std::time::Duration::from_millis(50) };
    let cl = Client::with_bounds(c.clone(), Flags::from_bits(flags), bounds).unwrap();
    (c, cl)
}

#[test]
fn flags_need_persistent() {
    assert_eq!(Flags::from_bits(0xe), Flags::default());
    let f = Flags::from_bits(0xff);
    assert!(f.persistent && f.pidcheck && f.retry && f.late);
}

#[test]
fn operations_per_connection() {
    let (c, cl) = client(0);
    assert_eq!(c.connects(), 0);
    assert_eq!(cl.add(b"key1", b"value-one", 10_000), Ok(true));
    assert_eq!(cl.add(b"key1", b"value-one", 10_000), Ok(false));
    let mut buf = [0u8; 4];
    assert_eq!(cl.get(b"key1", Some(&mut buf)), Ok(GetResult::Found(9)));
    assert_eq!(&buf, b"valu");
    let mut big = [0u8; 20];
    assert_eq!(cl.reget(b"key1", Some(&mut big)), Some(9));
    assert_eq!(&big[..9], b"value-one");
    assert_eq!(cl.reget(b"key1", None), Some(9));
    assert_eq!(cl.reget(b"key2", None), None);
    assert_eq!(cl.has(b"key1"), Ok(1));
    assert_eq!(cl.reget(b"key1", None), None, "any other operation clears reget");
    assert_eq!(cl.remove(b"key1"), Ok(true));
    assert_eq!(cl.remove(b"key1"), Ok(false));
    assert_eq!(cl.has(b"key1"), Ok(0));
    assert_eq!(cl.get(b"key1", None), Ok(GetResult::Missing));
    assert_eq!(c.connects(), 8);
}

#[test]
fn short_sessions_read_as_missing_and_failed_get_clears_reget() {
    let (_, cl) = client(0);
    assert_eq!(cl.add(b"a", b"1234", 10_000), Ok(true));
    assert_eq!(cl.add(b"b", b"12345", 10_000), Ok(true));
    assert_eq!(cl.get(b"a", None), Ok(GetResult::Missing));
    assert_eq!(cl.has(b"a"), Ok(1));
    assert_eq!(cl.get(b"b", None), Ok(GetResult::Found(5)));
    assert_eq!(cl.get(b"zz", None), Ok(GetResult::Missing));
    assert_eq!(cl.reget(b"b", None), None);
}

#[test]
fn argument_checks() {
    let (c, cl) = client(0);
    assert_eq!(cl.add(b"", b"x", 1000), Err(Refused::BadArgument));
    assert_eq!(cl.add(b"x", b"", 1000), Err(Refused::BadArgument));
    assert_eq!(cl.add(b"x", b"x", 1 << 32), Err(Refused::BadTimeout));
    assert_eq!(cl.add(b"x", &[0; 32760], 1000), Err(Refused::TooLarge));
    assert_eq!(cl.remove(b""), Err(Refused::BadArgument));
    assert_eq!(cl.has(&[0; 32769]), Err(Refused::BadArgument));
    assert_eq!(c.connects(), 0);
    // accepted by the client, refused by the server
    assert_eq!(cl.add(&[1; 65], b"x", 1000), Ok(false));
    assert_eq!(cl.add(b"x", b"x", 604_800_001), Ok(false));
    // any timeout of at least 1 ms is forwarded
    assert_eq!(cl.add(b"one-ms", b"x", 1), Ok(true));
    assert_eq!(cl.add(b"x", &[0; 32759], 1000), Ok(true));
    assert_eq!(cl.get(b"x", None), Ok(GetResult::Found(32759)));
}

#[test]
fn persistent_uses_one_connection() {
    let (c, cl) = client(Flags::PERSISTENT);
    assert_eq!(c.connects(), 1);
    for i in 0..10u32 {
        assert_eq!(cl.add(&i.to_be_bytes(), b"hello", 10_000), Ok(true));
    }
    assert_eq!(cl.has(&3u32.to_be_bytes()), Ok(1));
    assert_eq!(c.connects(), 1);
}

#[test]
fn persistent_reconnects_after_failure() {
    // without RETRY the failing operation fails, the next one reconnects
    let (c, cl) = client(Flags::PERSISTENT);
    assert_eq!(cl.add(b"k", b"hello", 10_000), Ok(true));
    c.drop_all();
    assert_eq!(cl.has(b"k"), Ok(-1));
    assert!(!cl.is_connected());
    assert_eq!(cl.has(b"k"), Ok(1));
    assert_eq!(c.connects(), 2);
    // with RETRY the operation itself succeeds
    let (c, cl) = client(Flags::PERSISTENT | Flags::RETRY);
    assert_eq!(cl.add(b"k", b"hello", 10_000), Ok(true));
    c.drop_all();
    assert_eq!(cl.has(b"k"), Ok(1));
    assert_eq!(c.connects(), 2);
    // a failed reconnect leaves the context usable once the back-off passed
    c.drop_all();
    c.0.refuse.store(true, Ordering::SeqCst);
    assert_eq!(cl.has(b"k"), Ok(-1));
    assert_eq!(c.connects(), 2);
    assert_eq!(cl.has(b"k"), Ok(-1));
    c.0.refuse.store(false, Ordering::SeqCst);
    assert_eq!(cl.has(b"k"), Ok(-1), "backing off: not even tried");
    assert_eq!(c.connects(), 2);
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert_eq!(cl.has(b"k"), Ok(1));
}

#[test]
fn late_connects_on_first_use() {
    let c = MemConnector::new();
    c.0.refuse.store(true, Ordering::SeqCst);
    assert!(Client::new(c.clone(), Flags::from_bits(Flags::PERSISTENT)).is_err());
    let cl = Client::new(c.clone(), Flags::from_bits(Flags::PERSISTENT | Flags::LATE)).unwrap();
    assert!(Client::new(c.clone(), Flags::from_bits(0)).is_ok());
    c.0.refuse.store(false, Ordering::SeqCst);
    assert_eq!(c.connects(), 0);
    assert_eq!(cl.add(b"k", b"hello", 10_000), Ok(true));
    assert_eq!(cl.has(b"k"), Ok(1));
    assert_eq!(c.connects(), 1);
}

#[test]
fn threads_share_one_client() {
    for flags in [0, Flags::PERSISTENT] {
        let (_, cl) = client(flags);
        let cl = Arc::new(cl);
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let cl = cl.clone();
                std::thread::spawn(move || {
                    for i in 0..200u32 {
                        let id = [t.to_be_bytes(), i.to_be_bytes()].concat();
                        let data = [id.clone(), vec![t as u8; 20]].concat();
                        assert_eq!(cl.add(&id, &data, 60_000), Ok(true));
                        assert_eq!(cl.get(&id, None), Ok(GetResult::Found(data.len())));
                        let mut out = vec![0u8; 64];
                        assert_eq!(cl.reget(&id, Some(&mut out)), Some(data.len()));
                        assert_eq!(&out[..data.len()], &data[..]);
                        if i % 2 == 0 {
                            assert_eq!(cl.remove(&id), Ok(true));
                            assert_eq!(cl.has(&id), Ok(0));
                        } else {
                            assert_eq!(cl.has(&id), Ok(1));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}

/// A real unix socket whose server accepts (in the kernel's queue) but
/// never answers: every operation ends by the deadline, the next ones
/// fail at once during the back-off, and the one after it probes again.
#[test]
fn silent_server_costs_one_deadline_per_backoff() {
    use crate::client::net::NetConnector;
    use std::time::Duration;
    let dir = std::env::temp_dir().join(format!("dc-bounds-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("silent");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let target = format!("UNIX:{}", path.display());
    let bounds = Bounds { deadline: Duration::from_millis(150), backoff: Duration::from_millis(300) };
    for flags in [0, Flags::PERSISTENT | Flags::LATE | Flags::RETRY] {
        let c = Client::with_bounds(NetConnector::new(target.as_bytes()).unwrap(), Flags::from_bits(flags), bounds)
            .unwrap();
        let t = Instant::now();
        assert_eq!(c.has(b"id"), Ok(-1));
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(145) && took < Duration::from_millis(400), "{flags}: {took:?}");
        assert!(c.is_backing_off());
        assert!(!c.is_connected(), "a timed-out connection is dropped");
        let t = Instant::now();
        assert_eq!(c.get(b"id", None), Ok(GetResult::Failed));
        assert!(t.elapsed() < Duration::from_millis(5), "{:?}", t.elapsed());
        std::thread::sleep(Duration::from_millis(320));
        let t = Instant::now();
        assert_eq!(c.has(b"id"), Ok(-1), "the probe waits for the deadline again");
        assert!(t.elapsed() >= Duration::from_millis(145));
    }
    drop(listener);
    let _ = std::fs::remove_dir_all(&dir);
}
