//! Server-side request handling: answers distcache requests from a
//! [`Cache`], counts operations, and drives server-end plugs.

use crate::cache::{Cache, Now};
use crate::nal::buffer::SharedBuffer;
use crate::protocol::payload::{parse_add, AddParse};
use crate::protocol::plug::WriteState;
use crate::protocol::{status, Cmd, Corrupt, Plug, MAX_TOTAL_DATA};

/// Why a client must be dropped without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientFailure {
    /// The stream is corrupt.
    Corrupt(Corrupt),
    /// An ADD payload shorter than 8 bytes (no status byte describes it).
    TruncatedAdd,
    /// The cache failed to produce a session it reported.
    Cache,
}

/// What one processing step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// No complete request was waiting.
    Idle,
    /// A request is waiting behind a response still queued for sending.
    Blocked,
    /// One request was answered.
    Answered,
}

/// The request-answering half of a distcache server.
pub struct Server {
    cache: Box<dyn Cache>,
    operations: u64,
    expiry_floor_ms: u64,
    reply: Vec<u8>,
}

impl Server {
    pub fn new(cache: Box<dyn Cache>) -> Self {
        Self { cache, operations: 0, expiry_floor_ms: 0, reply: Vec::with_capacity(MAX_TOTAL_DATA) }
    }

    /// ADDs with a shorter timeout are stored for `floor_ms` instead
    /// (0 = off). The range check still applies to the requested value.
    pub fn set_expiry_floor(&mut self, floor_ms: u64) {
        self.expiry_floor_ms = floor_ms;
    }

    pub fn expiry_floor(&self) -> u64 {
        self.expiry_floor_ms
    }

    /// Requests answered since creation or the last reset (misses and
    /// refused ADDs included; requests that dropped their client excluded).
    pub fn operations(&self) -> u64 {
        self.operations
    }

    pub fn reset_operations(&mut self) {
        self.operations = 0;
    }

    /// Live sessions (the builtin cache purges expired ones first).
    pub fn items_stored(&mut self, now: Now) -> usize {
        self.cache.num_items(now)
    }

    pub fn cache_mut(&mut self) -> &mut dyn Cache {
        &mut *self.cache
    }

    /// Computes the response payload of one request into `reply`.
    pub fn answer(&mut self, now: Now, cmd: Cmd, payload: &[u8], reply: &mut Vec<u8>) -> Result<(), ClientFailure> {
        reply.clear();
        let byte = match cmd {
            Cmd::Add => match parse_add(payload) {
                AddParse::Truncated => return Err(ClientFailure::TruncatedAdd),
                AddParse::Reject(code) => code,
                AddParse::Ok(req) => {
                    let timeout = u64::from(req.timeout_ms).max(self.expiry_floor_ms);
                    if self.cache.add(now, timeout, req.id, req.data) {
                        status::OK
                    } else {
                        status::ADD_MATCHING_SESSION
                    }
                }
            },
            Cmd::Get => match self.cache.get(now, payload, reply) {
                Ok(true) if !reply.is_empty() && reply.len() <= MAX_TOTAL_DATA => return Ok(()),
                Ok(true) | Err(_) => return Err(ClientFailure::Cache),
                Ok(false) => status::NOTOK,
            },
            Cmd::Remove => {
                if self.cache.remove(now, payload) {
                    status::OK
                } else {
                    status::NOTOK
                }
            }
            Cmd::Have => {
                if self.cache.have(now, payload) {
                    status::OK
                } else {
                    status::NOTOK
                }
            }
        };
        reply.clear();
        reply.push(byte);
        Ok(())
    }

    /// Answers at most one request waiting in `plug`: assembles frames from
    /// `read`, pushes queued output into `send`, and, when a whole request
    /// is there and no earlier response is still queued, queues its
    /// response and consumes it. A request behind a queued response waits
    /// (so pipelining clients are never dropped).
    pub fn process(
        &mut self,
        plug: &mut Plug,
        read: &SharedBuffer,
        send: &SharedBuffer,
        now: Now,
    ) -> Result<Step, ClientFailure> {
        let step = self.process_deferred(plug, read, send, now)?;
        plug.flush(send);
        Ok(step)
    }

    /// [`Server::process`], except that a new response stays queued in
    /// the plug: the caller writes it to the socket from [`Plug::queued`]
    /// and flushes what is left into `send` (one copy fewer per response).
    pub fn process_deferred(
        &mut self,
        plug: &mut Plug,
        read: &SharedBuffer,
        send: &SharedBuffer,
        now: Now,
    ) -> Result<Step, ClientFailure> {
        plug.process(read, send).map_err(ClientFailure::Corrupt)?;
        if !plug.has_message() {
            return Ok(Step::Idle);
        }
        if plug.write_state() != WriteState::Idle {
            return Ok(Step::Blocked);
        }
        let (uid, cmd, payload) = plug.read(true).expect("a message is waiting");
        if cmd == Cmd::Get {
            // A hit is framed straight from the cache's own copy.
            if let Some(data) = self.cache.peek(now, payload) {
                if !data.is_empty() && data.len() <= MAX_TOTAL_DATA {
                    let queued = plug.queue(uid, cmd, data);
                    debug_assert!(queued);
                    return self.answered(plug, read);
                }
            }
        }
        let mut reply = std::mem::take(&mut self.reply);
        let (uid, cmd, payload) = plug.read(true).expect("a message is waiting");
        let res = self.answer(now, cmd, payload, &mut reply);
        if let Err(e) = res {
            self.reply = reply;
            plug.discard_output();
            return Err(e);
        }
        let queued = plug.queue(uid, cmd, &reply);
        debug_assert!(queued);
        self.reply = reply;
        self.answered(plug, read)
    }

    /// Counts the answered request and moves on to the next one.
    fn answered(&mut self, plug: &mut Plug, read: &SharedBuffer) -> Result<Step, ClientFailure> {
        self.operations += 1;
        if !plug.consume(read) {
            return Err(ClientFailure::Corrupt(plug.corruption().expect("consume failed on corruption")));
        }
        Ok(Step::Answered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::BuiltinCache;
    use crate::protocol::encode_message;
    use crate::protocol::payload::encode_add;

    fn server() -> Server {
        Server::new(Box::new(BuiltinCache::new(64).unwrap()))
    }

    fn ask(s: &mut Server, cmd: Cmd, payload: &[u8]) -> Result<Vec<u8>, ClientFailure> {
        let mut r = Vec::new();
        s.answer(Now::new(100, 0), cmd, payload, &mut r).map(|_| r)
    }

    #[test]
    fn answers() {
        let mut s = server();
        let add = encode_add(1000, b"id", b"hello").unwrap();
        assert_eq!(ask(&mut s, Cmd::Add, &add), Ok(vec![0]));
        assert_eq!(ask(&mut s, Cmd::Add, &add), Ok(vec![101]));
        assert_eq!(ask(&mut s, Cmd::Get, b"id"), Ok(b"hello".to_vec()));
        assert_eq!(ask(&mut s, Cmd::Get, b""), Ok(vec![1]));
        assert_eq!(ask(&mut s, Cmd::Have, b"id"), Ok(vec![0]));
        assert_eq!(ask(&mut s, Cmd::Remove, b"id"), Ok(vec![0]));
        assert_eq!(ask(&mut s, Cmd::Remove, b"id"), Ok(vec![1]));
        assert_eq!(ask(&mut s, Cmd::Have, b"id"), Ok(vec![1]));
        assert_eq!(ask(&mut s, Cmd::Add, &[0; 7]), Err(ClientFailure::TruncatedAdd));
        assert_eq!(ask(&mut s, Cmd::Add, &encode_add(604_800_001, b"i", b"d").unwrap()), Ok(vec![102]));
        assert_eq!(ask(&mut s, Cmd::Add, &encode_add(1, b"id", b"").unwrap()), Ok(vec![100]));
        assert_eq!(ask(&mut s, Cmd::Add, &encode_add(1, &[1; 65], b"d").unwrap()), Ok(vec![103]));
    }

    #[test]
    fn expiry_floor_extends_short_timeouts() {
        let mut s = server();
        s.set_expiry_floor(5000);
        let mut r = Vec::new();
        let add = encode_add(1, b"id", b"x").unwrap();
        s.answer(Now::new(100, 0), Cmd::Add, &add, &mut r).unwrap();
        s.answer(Now::new(104, 0), Cmd::Have, b"id", &mut r).unwrap();
        assert_eq!(r, [0]);
        s.answer(Now::new(105, 1), Cmd::Have, b"id", &mut r).unwrap();
        assert_eq!(r, [1]);
    }

    #[test]
    fn process_counts_and_blocks_behind_queued_output() {
        let mut s = server();
        let read = SharedBuffer::for_connection(4096);
        let send = SharedBuffer::for_connection(4096);
        let mut plug = Plug::new(false);
        let now = Now::new(1, 0);
        assert_eq!(s.process(&mut plug, &read, &send, now), Ok(Step::Idle));
        let mut req = Vec::new();
        encode_message(&mut req, false, 1, Cmd::Add, &encode_add(1000, b"k", &[7; 6000]).unwrap());
        let mut pos = 0;
        // feed the 3-frame ADD through the 4 KiB read buffer
        loop {
            pos += read.modify(|b| b.write(&req[pos..]));
            let step = s.process(&mut plug, &read, &send, now).unwrap();
            if step == Step::Answered {
                break;
            }
        }
        assert_eq!(s.operations(), 1);
        send.modify(|b| b.clear());
        // a GET whose 6000-byte answer does not fit, followed by a HAVE
        let mut req = Vec::new();
        encode_message(&mut req, false, 2, Cmd::Get, b"k");
        encode_message(&mut req, false, 3, Cmd::Have, b"k");
        read.modify(|b| b.write(&req));
        assert_eq!(s.process(&mut plug, &read, &send, now), Ok(Step::Answered));
        assert_eq!(s.process(&mut plug, &read, &send, now), Ok(Step::Blocked));
        let mut out = Vec::new();
        while out.len() < 6000 + 3 * 14 {
            out.extend(send.modify(|b| {
                let v = b.data().to_vec();
                b.clear();
                v
            }));
            s.process(&mut plug, &read, &send, now).unwrap();
        }
        let mut expect = Vec::new();
        encode_message(&mut expect, true, 2, Cmd::Get, &[7; 6000]);
        encode_message(&mut expect, true, 3, Cmd::Have, &[0]);
        out.extend(send.with(|b| b.data().to_vec()));
        assert_eq!(out, expect);
        assert_eq!(s.operations(), 3);
        s.reset_operations();
        assert_eq!(s.operations(), 0);
    }

    #[test]
    fn corrupt_and_truncated_requests_fail_uncounted() {
        let mut s = server();
        let read = SharedBuffer::for_connection(4096);
        let send = SharedBuffer::for_connection(4096);
        let mut plug = Plug::new(false);
        let mut req = Vec::new();
        encode_message(&mut req, false, 1, Cmd::Add, &[0; 4]);
        read.modify(|b| b.write(&req));
        assert_eq!(s.process(&mut plug, &read, &send, Now::default()), Err(ClientFailure::TruncatedAdd));
        assert_eq!(s.operations(), 0);
        assert!(send.with(|b| b.is_empty()));
        let mut plug = Plug::new(false);
        read.modify(|b| {
            b.clear();
            b.write(b"\x00\x12\x00\x00\x00")
        });
        assert!(matches!(s.process(&mut plug, &read, &send, Now::default()), Err(ClientFailure::Corrupt(_))));
    }
}
