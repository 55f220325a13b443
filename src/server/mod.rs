//! Server-side request handling: answers distcache requests from a
//! [`Cache`], counts operations, and drives server-end plugs.
//!
//! A server may instead keep its sessions in an [`AsyncStore`] (answered
//! off the event loop's thread): then [`Server::route`] answers what needs
//! no store at once and turns the rest into [`StoreOp`]s, and
//! [`Server::finish`] turns the store's answers into response payloads.

pub mod event_loop;
pub mod snapshots;

use crate::cache::{AsyncStore, Cache, NoCache, Now, StoreAnswer, StoreOp};
use crate::nal::buffer::SharedBuffer;
use crate::protocol::frame::{frame_payloads, scan_message};
use crate::protocol::payload::{parse_add, AddParse};
use crate::protocol::plug::WriteState;
use crate::protocol::{encode_message, status, Cmd, Corrupt, Plug, HEADER_LEN, MAX_ID_LEN, MAX_TOTAL_DATA};

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

/// What [`Server::answer_stream`] did with a run of request bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answered {
    /// Bytes of the whole requests answered, at the front of the input.
    pub used: usize,
    /// It stopped at the output limit; more requests may be waiting.
    pub more: bool,
    /// The request after the answered ones has no answer: the client is
    /// to be dropped (once the answers before it are sent).
    pub failure: Option<ClientFailure>,
}

/// The request-answering half of a distcache server.
pub struct Server {
    cache: Box<dyn Cache>,
    /// Where sessions live when they are not in `cache`.
    store: Option<Box<dyn AsyncStore>>,
    operations: u64,
    expiry_floor_ms: u64,
    reply: Vec<u8>,
    /// The payload of a request of several frames, put together.
    gathered: Vec<u8>,
}

impl Server {
    pub fn new(cache: Box<dyn Cache>) -> Self {
        Self {
            cache,
            store: None,
            operations: 0,
            expiry_floor_ms: 0,
            reply: Vec::with_capacity(MAX_TOTAL_DATA),
            gathered: Vec::new(),
        }
    }

    /// A server whose sessions live in `store` (served by
    /// [`event_loop::serve`]; [`Server::process`] and [`Server::answer`]
    /// answer every request as failed).
    pub fn with_store(store: Box<dyn AsyncStore>) -> Self {
        let mut s = Self::new(Box::new(NoCache));
        s.store = Some(store);
        s
    }

    /// The asynchronous store, if sessions live in one.
    pub fn store_mut(&mut self) -> Option<&mut (dyn AsyncStore + 'static)> {
        self.store.as_deref_mut()
    }

    /// For a server with an [`AsyncStore`]: what to do with one request.
    /// Ok(Some(op)) goes to the store (its answer then goes through
    /// [`Server::finish`]); Ok(None) means `reply` holds the response
    /// payload already (a rejected ADD, an id no session can have).
    pub fn route(&mut self, cmd: Cmd, payload: &[u8], reply: &mut Vec<u8>) -> Result<Option<StoreOp>, ClientFailure> {
        reply.clear();
        let op = match cmd {
            Cmd::Add => match parse_add(payload) {
                AddParse::Truncated => return Err(ClientFailure::TruncatedAdd),
                AddParse::Reject(code) => {
                    reply.push(code);
                    self.operations += 1;
                    return Ok(None);
                }
                AddParse::Ok(req) => StoreOp::Add {
                    id: req.id.to_vec(),
                    data: req.data.to_vec(),
                    ttl_ms: u64::from(req.timeout_ms).max(self.expiry_floor_ms),
                },
            },
            _ if payload.is_empty() || payload.len() > MAX_ID_LEN => {
                // never stored: a miss, as with the builtin cache
                reply.push(status::NOTOK);
                self.operations += 1;
                return Ok(None);
            }
            Cmd::Get => StoreOp::Get { id: payload.to_vec() },
            Cmd::Remove => StoreOp::Remove { id: payload.to_vec() },
            Cmd::Have => StoreOp::Have { id: payload.to_vec() },
        };
        Ok(Some(op))
    }

    /// The response payload for a store's answer to a `cmd` request. A
    /// store failure is answered with the single byte DC_ERR_DISCONNECTED
    /// (2), as dc_client answers when its upstream is lost: every client
    /// library reads it as a failure, never as a miss or a success.
    pub fn finish(&mut self, cmd: Cmd, answer: StoreAnswer, reply: &mut Vec<u8>) {
        reply.clear();
        self.operations += 1;
        let byte = match (cmd, answer) {
            (Cmd::Get, StoreAnswer::Data(d)) if !d.is_empty() && d.len() <= MAX_TOTAL_DATA => {
                *reply = d;
                return;
            }
            (Cmd::Add, StoreAnswer::Yes) => status::OK,
            (Cmd::Add, StoreAnswer::No) => status::ADD_MATCHING_SESSION,
            (Cmd::Remove | Cmd::Have, StoreAnswer::Yes) => status::OK,
            (Cmd::Get | Cmd::Remove | Cmd::Have, StoreAnswer::No) => status::NOTOK,
            _ => status::DISCONNECTED,
        };
        reply.push(byte);
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
        if self.store.is_some() {
            // Sessions live elsewhere: only the event loop can ask.
            reply.push(status::DISCONNECTED);
            return Ok(());
        }
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

    /// Answers the whole requests at the front of `input` (a client's
    /// byte stream), appending each response to `out`, until `out` holds
    /// `out_limit` bytes. A request of one frame is read where it lies.
    pub fn answer_stream(&mut self, input: &[u8], out: &mut Vec<u8>, now: Now, out_limit: usize) -> Answered {
        let mut done = Answered { used: 0, more: false, failure: None };
        while done.used < input.len() {
            if out.len() >= out_limit {
                done.more = true;
                break;
            }
            let msg = match scan_message(&input[done.used..], false) {
                Ok(Some(msg)) => msg,
                Ok(None) => break,
                Err(c) => {
                    done.failure = Some(ClientFailure::Corrupt(c));
                    break;
                }
            };
            let frames = &input[done.used..done.used + msg.used];
            let res = if msg.used == HEADER_LEN + msg.payload_len {
                self.respond(now, msg.uid, msg.cmd, &frames[HEADER_LEN..], out)
            } else {
                let mut whole = std::mem::take(&mut self.gathered);
                whole.clear();
                frame_payloads(frames).for_each(|piece| whole.extend_from_slice(piece));
                let res = self.respond(now, msg.uid, msg.cmd, &whole, out);
                self.gathered = whole;
                res
            };
            if let Err(e) = res {
                done.failure = Some(e);
                break;
            }
            done.used += msg.used;
        }
        done
    }

    /// For a server with an [`AsyncStore`]: takes up to `max_requests`
    /// whole requests from the front of `input`. For each, `each(uid, cmd,
    /// reply)` is called in order: with `Some(payload)` when the response
    /// is known now, or with None when the request goes to the store, in
    /// which case `each` returns the tag the store's answer will carry.
    /// `more` says requests were left at the limit.
    pub fn route_stream(
        &mut self,
        input: &[u8],
        max_requests: usize,
        mut each: impl FnMut(u32, Cmd, Option<&[u8]>) -> u64,
    ) -> Answered {
        let mut done = Answered { used: 0, more: false, failure: None };
        if self.store.is_none() {
            done.failure = Some(ClientFailure::Cache);
            return done;
        }
        let mut taken = 0;
        let mut reply = std::mem::take(&mut self.reply);
        while done.used < input.len() {
            if taken >= max_requests {
                done.more = true;
                break;
            }
            let msg = match scan_message(&input[done.used..], false) {
                Ok(Some(msg)) => msg,
                Ok(None) => break,
                Err(c) => {
                    done.failure = Some(ClientFailure::Corrupt(c));
                    break;
                }
            };
            let frames = &input[done.used..done.used + msg.used];
            let res = if msg.used == HEADER_LEN + msg.payload_len {
                self.route(msg.cmd, &frames[HEADER_LEN..], &mut reply)
            } else {
                let mut whole = std::mem::take(&mut self.gathered);
                whole.clear();
                frame_payloads(frames).for_each(|piece| whole.extend_from_slice(piece));
                let res = self.route(msg.cmd, &whole, &mut reply);
                self.gathered = whole;
                res
            };
            match res {
                Ok(None) => {
                    each(msg.uid, msg.cmd, Some(&reply));
                }
                Ok(Some(op)) => {
                    let tag = each(msg.uid, msg.cmd, None);
                    if let Some(store) = self.store.as_mut() {
                        store.submit(tag, op);
                    }
                }
                Err(e) => {
                    done.failure = Some(e);
                    break;
                }
            }
            taken += 1;
            done.used += msg.used;
        }
        self.reply = reply;
        done
    }

    /// Appends the response to one request to `out`; a GET hit is framed
    /// straight from the cache's own copy.
    fn respond(
        &mut self,
        now: Now,
        uid: u32,
        cmd: Cmd,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ClientFailure> {
        if cmd == Cmd::Get {
            if let Some(data) = self.cache.peek(now, payload) {
                if !data.is_empty() && data.len() <= MAX_TOTAL_DATA {
                    encode_message(out, true, uid, cmd, data);
                    self.operations += 1;
                    return Ok(());
                }
            }
        }
        let mut reply = std::mem::take(&mut self.reply);
        let res = self.answer(now, cmd, payload, &mut reply);
        if res.is_ok() {
            encode_message(out, true, uid, cmd, &reply);
            self.operations += 1;
        }
        self.reply = reply;
        res
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
        plug.process(read, send).map_err(ClientFailure::Corrupt)?;
        if !plug.has_message() {
            return Ok(Step::Idle);
        }
        if plug.write_state() != WriteState::Idle {
            return Ok(Step::Blocked);
        }
        plug.read(true);
        match plug.respond_with(|uid, cmd, payload, out| self.respond(now, uid, cmd, payload, out)) {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e),
            None => return Ok(Step::Blocked),
        }
        plug.flush(send);
        if !plug.consume(read) {
            return Err(ClientFailure::Corrupt(plug.corruption().expect("consume failed on corruption")));
        }
        Ok(Step::Answered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{AsyncStore, BuiltinCache, StoreAnswer, StoreOp};
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

    /// A store that records what it is asked (answers come from the
    /// test through `finish`).
    struct Recorder(std::sync::Arc<parking_lot::Mutex<Vec<(u64, StoreOp)>>>);

    impl AsyncStore for Recorder {
        fn set_notify(&mut self, _notify: Box<dyn Fn() + Send + Sync>) {}
        fn submit(&mut self, tag: u64, op: StoreOp) {
            self.0.lock().push((tag, op));
        }
        fn take_done(&mut self, _out: &mut Vec<(u64, StoreAnswer)>) {}
    }

    #[test]
    fn store_requests_are_routed_and_answers_mapped_like_the_builtin_cache() {
        let asked = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let mut s = Server::with_store(Box::new(Recorder(asked.clone())));
        s.set_expiry_floor(2000);
        let mut input = Vec::new();
        encode_message(&mut input, false, 1, Cmd::Add, &encode_add(1000, b"id", b"data").unwrap());
        encode_message(&mut input, false, 2, Cmd::Get, b"");
        encode_message(&mut input, false, 3, Cmd::Have, &[1; 65]);
        encode_message(&mut input, false, 4, Cmd::Add, &encode_add(604_800_001, b"i", b"d").unwrap());
        encode_message(&mut input, false, 5, Cmd::Remove, b"id");
        encode_message(&mut input, false, 6, Cmd::Get, b"id");
        let mut seen = Vec::new();
        let mut tag = 100;
        let done = s.route_stream(&input, 5, |uid, cmd, reply| {
            seen.push((uid, cmd, reply.map(|r| r.to_vec())));
            tag += 1;
            tag
        });
        assert_eq!(done.failure, None);
        assert!(done.more, "stopped at 5 requests");
        assert_eq!(
            seen,
            [
                (1, Cmd::Add, None),
                (2, Cmd::Get, Some(vec![status::NOTOK])),
                (3, Cmd::Have, Some(vec![status::NOTOK])),
                (4, Cmd::Add, Some(vec![status::ADD_TIMEOUT_RANGE])),
                (5, Cmd::Remove, None),
            ]
        );
        assert_eq!(
            *asked.lock(),
            [
                (101, StoreOp::Add { id: b"id".to_vec(), data: b"data".to_vec(), ttl_ms: 2000 }),
                (105, StoreOp::Remove { id: b"id".to_vec() }),
            ]
        );
        let mut r = Vec::new();
        for (cmd, answer, want) in [
            (Cmd::Add, StoreAnswer::Yes, &[status::OK][..]),
            (Cmd::Add, StoreAnswer::No, &[status::ADD_MATCHING_SESSION]),
            (Cmd::Add, StoreAnswer::Failed, &[status::DISCONNECTED]),
            (Cmd::Get, StoreAnswer::Data(b"hello".to_vec()), b"hello"),
            (Cmd::Get, StoreAnswer::No, &[status::NOTOK]),
            (Cmd::Get, StoreAnswer::Data(Vec::new()), &[status::DISCONNECTED]),
            (Cmd::Get, StoreAnswer::Failed, &[status::DISCONNECTED]),
            (Cmd::Remove, StoreAnswer::Yes, &[status::OK]),
            (Cmd::Have, StoreAnswer::No, &[status::NOTOK]),
            (Cmd::Have, StoreAnswer::Failed, &[status::DISCONNECTED]),
        ] {
            s.finish(cmd, answer, &mut r);
            assert_eq!(r, want, "{cmd:?}");
        }
        // the synchronous path cannot reach the store: it answers failure
        assert_eq!(ask(&mut s, Cmd::Have, b"id"), Ok(vec![status::DISCONNECTED]));
        // a server without a store refuses to route
        let done = server().route_stream(&input, 5, |_, _, _| 0);
        assert_eq!(done.failure, Some(ClientFailure::Cache));
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
    fn answer_stream_answers_in_place_up_to_the_output_limit() {
        let mut s = server();
        let now = Now::new(1, 0);
        let mut input = Vec::new();
        encode_message(&mut input, false, 1, Cmd::Add, &encode_add(1000, b"k", &[7; 5000]).unwrap());
        encode_message(&mut input, false, 2, Cmd::Get, b"k");
        encode_message(&mut input, false, 3, Cmd::Have, b"k");
        let whole = input.len();
        encode_message(&mut input, false, 4, Cmd::Get, b"k");
        input.truncate(input.len() - 1); // the last request is still arriving
        let mut out = Vec::new();
        // the limit is reached after the GET's answer: the HAVE waits
        let done = s.answer_stream(&input, &mut out, now, 1000);
        let mut expect = Vec::new();
        encode_message(&mut expect, true, 1, Cmd::Add, &[0]);
        encode_message(&mut expect, true, 2, Cmd::Get, &[7; 5000]);
        assert_eq!(out, expect);
        assert!(done.more && done.failure.is_none());
        let mut rest = Vec::new();
        let done2 = s.answer_stream(&input[done.used..], &mut rest, now, 1000);
        let mut expect = Vec::new();
        encode_message(&mut expect, true, 3, Cmd::Have, &[0]);
        assert_eq!(rest, expect);
        assert_eq!(done.used + done2.used, whole, "the partial request stays unread");
        assert!(!done2.more && done2.failure.is_none());
        assert_eq!(s.operations(), 3);
    }

    #[test]
    fn answer_stream_stops_at_a_request_without_answer() {
        let mut s = server();
        let mut input = Vec::new();
        encode_message(&mut input, false, 1, Cmd::Have, b"k");
        let first = input.len();
        encode_message(&mut input, false, 2, Cmd::Add, &[0; 4]);
        let mut out = Vec::new();
        let done = s.answer_stream(&input, &mut out, Now::new(1, 0), usize::MAX);
        assert_eq!((done.used, done.failure), (first, Some(ClientFailure::TruncatedAdd)));
        let mut expect = Vec::new();
        encode_message(&mut expect, true, 1, Cmd::Have, &[1]);
        assert_eq!(out, expect, "the answer before the bad request is kept");
        let mut out = Vec::new();
        let done = s.answer_stream(b"\x00\x12\x00\x00", &mut out, Now::new(1, 0), usize::MAX);
        assert!(matches!(done.failure, Some(ClientFailure::Corrupt(_))) && out.is_empty() && done.used == 0);
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
