//! The DC_PLUG state machines: whole messages in and out of a connection's
//! read and send buffers.
//!
//! Read side: **idle** (nothing or part of a message assembled) → **full**
//! (a whole message assembled) → **open** (handed out by [`Plug::read`]) →
//! back to idle by [`Plug::consume`]. Bytes of later messages stay in the
//! read buffer until the current message is consumed.
//!
//! Write side: **idle** → **open** ([`Plug::write`], [`Plug::write_more`])
//! → **queued** ([`Plug::commit`]; frames move into the send buffer as room
//! allows) → idle once every byte is in the send buffer.

use super::frame::{encode_message, release_large, Assembler, Corrupt};
use super::{Cmd, MAX_TOTAL_DATA};
use crate::nal::buffer::SharedBuffer;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadState {
    Idle,
    Full,
    Open,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteState {
    Idle,
    Open,
    Queued,
}

/// One end of a distcache conversation (see the module documentation).
#[derive(Debug)]
pub struct Plug {
    to_server: bool,
    asm: Assembler,
    read_state: ReadState,
    corrupt: Option<Corrupt>,
    write_state: WriteState,
    out_uid: u32,
    out_cmd: Cmd,
    out_payload: Vec<u8>,
    pending: Vec<u8>,
    pending_pos: usize,
}

impl Plug {
    /// A client end (`to_server`: sends requests, reads responses) or a
    /// server end (reads requests, sends responses).
    pub fn new(to_server: bool) -> Self {
        Self {
            to_server,
            asm: Assembler::new(to_server),
            read_state: ReadState::Idle,
            corrupt: None,
            write_state: WriteState::Idle,
            out_uid: 0,
            out_cmd: Cmd::Add,
            out_payload: Vec::new(),
            pending: Vec::new(),
            pending_pos: 0,
        }
    }

    pub fn to_server(&self) -> bool {
        self.to_server
    }

    pub fn read_state(&self) -> ReadState {
        self.read_state
    }

    pub fn write_state(&self) -> WriteState {
        self.write_state
    }

    /// The corruption that stopped the read side, if any. It is sticky:
    /// once the stream is corrupt every later assembly fails.
    pub fn corruption(&self) -> Option<Corrupt> {
        self.corrupt
    }

    /// Assembles frames from the front of `read` while the read side is
    /// idle. Err on corruption.
    pub fn assemble(&mut self, read: &SharedBuffer) -> Result<(), Corrupt> {
        if let Some(c) = self.corrupt {
            return Err(c);
        }
        if self.read_state != ReadState::Idle {
            return Ok(());
        }
        let asm = &mut self.asm;
        let res = read.modify(|b| {
            let n = asm.feed(b.data())?;
            if n > 0 {
                b.consume(n);
            }
            Ok(())
        });
        if let Err(c) = res {
            self.corrupt = Some(c);
            return Err(c);
        }
        if self.asm.is_complete() {
            self.read_state = ReadState::Full;
        }
        Ok(())
    }

    /// Moves queued frames into `send` as far as it has room.
    pub fn flush(&mut self, send: &SharedBuffer) {
        if self.write_state != WriteState::Queued {
            return;
        }
        let rest = &self.pending[self.pending_pos..];
        self.pending_pos += send.modify(|b| b.write(rest));
        if self.pending_pos == self.pending.len() {
            release_large(&mut self.pending);
            self.pending_pos = 0;
            self.write_state = WriteState::Idle;
        }
    }

    /// Assembly then flushing: what DC_PLUG_io does after connection I/O.
    pub fn process(&mut self, read: &SharedBuffer, send: &SharedBuffer) -> Result<(), Corrupt> {
        self.assemble(read)?;
        self.flush(send);
        Ok(())
    }

    /// Opens the assembled message (full → open), or returns it again
    /// when already open and `resume` is set.
    pub fn read(&mut self, resume: bool) -> Option<(u32, Cmd, &[u8])> {
        match self.read_state {
            ReadState::Full => self.read_state = ReadState::Open,
            ReadState::Open if resume => {}
            _ => return None,
        }
        self.asm.message()
    }

    /// Whether a whole message is waiting to be read (full or open).
    pub fn has_message(&self) -> bool {
        self.read_state != ReadState::Idle
    }

    /// Discards the open message and assembles the next one from bytes
    /// already buffered. False if nothing was open, or if the following
    /// bytes are corrupt (the message is consumed anyway).
    pub fn consume(&mut self, read: &SharedBuffer) -> bool {
        if self.read_state != ReadState::Open {
            return false;
        }
        self.asm.reset();
        self.read_state = ReadState::Idle;
        self.assemble(read).is_ok()
    }

    /// Starts an outgoing message (replacing an open one when `resume`).
    pub fn write(&mut self, resume: bool, uid: u32, cmd: Cmd, data: &[u8]) -> bool {
        if data.len() > MAX_TOTAL_DATA {
            return false;
        }
        match self.write_state {
            WriteState::Idle => {}
            WriteState::Open if resume => {}
            _ => return false,
        }
        self.out_uid = uid;
        self.out_cmd = cmd;
        self.out_payload.clear();
        self.out_payload.extend_from_slice(data);
        self.write_state = WriteState::Open;
        true
    }

    /// Appends to the open message.
    pub fn write_more(&mut self, data: &[u8]) -> bool {
        if self.write_state != WriteState::Open
            || data.is_empty()
            || self.out_payload.len() + data.len() > MAX_TOTAL_DATA
        {
            return false;
        }
        self.out_payload.extend_from_slice(data);
        true
    }

    /// Encodes the open message and starts moving it into `send`.
    pub fn commit(&mut self, send: &SharedBuffer) -> bool {
        if self.write_state != WriteState::Open {
            return false;
        }
        self.pending.clear();
        self.pending_pos = 0;
        encode_message(&mut self.pending, !self.to_server, self.out_uid, self.out_cmd, &self.out_payload);
        release_large(&mut self.out_payload);
        self.write_state = WriteState::Queued;
        self.flush(send);
        true
    }

    /// Answers the open message in one step: `respond` gets its uid,
    /// command and payload and appends the encoded response to the empty
    /// output queue, which [`Plug::flush`] then moves into the send buffer.
    /// Nothing stays queued when it fails. None unless a message is open
    /// and the write side idle.
    pub fn respond_with<E>(
        &mut self,
        respond: impl FnOnce(u32, Cmd, &[u8], &mut Vec<u8>) -> Result<(), E>,
    ) -> Option<Result<(), E>> {
        if self.read_state != ReadState::Open || self.write_state != WriteState::Idle {
            return None;
        }
        let (uid, cmd, payload) = self.asm.message()?;
        self.pending.clear();
        self.pending_pos = 0;
        let res = respond(uid, cmd, payload, &mut self.pending);
        if res.is_ok() && !self.pending.is_empty() {
            self.write_state = WriteState::Queued;
        } else {
            release_large(&mut self.pending);
        }
        Some(res)
    }

    /// Drops the open message.
    pub fn rollback(&mut self) -> bool {
        if self.write_state != WriteState::Open {
            return false;
        }
        self.out_payload.clear();
        self.write_state = WriteState::Idle;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bufs(size: usize) -> (SharedBuffer, SharedBuffer) {
        (SharedBuffer::for_connection(size), SharedBuffer::for_connection(size))
    }

    fn take_all(b: &SharedBuffer) -> Vec<u8> {
        b.modify(|b| {
            let v = b.data().to_vec();
            b.clear();
            v
        })
    }

    #[test]
    fn write_side_states() {
        let (_, send) = bufs(4096);
        let mut p = Plug::new(true);
        assert!(!p.commit(&send));
        assert!(!p.rollback());
        assert!(!p.write_more(b"x"));
        assert!(p.write(false, 1, Cmd::Get, b"ab"));
        assert!(!p.write(false, 2, Cmd::Get, b"cd"));
        assert!(p.write(true, 3, Cmd::Have, b"ef"));
        assert!(p.write_more(b"gh"));
        assert!(!p.write_more(b""));
        assert!(p.commit(&send));
        assert_eq!(p.write_state(), WriteState::Idle);
        let mut expect = Vec::new();
        encode_message(&mut expect, false, 3, Cmd::Have, b"efgh");
        assert_eq!(take_all(&send), expect);
        assert!(p.write(false, 4, Cmd::Get, b""));
        assert!(p.rollback());
        assert_eq!(p.write_state(), WriteState::Idle);
        assert!(!p.write(false, 1, Cmd::Add, &vec![0; 32769]));
        assert!(p.write(false, 1, Cmd::Add, &vec![0; 32768]));
        assert!(!p.write_more(b"x"));
    }

    #[test]
    fn queued_output_streams_through_small_buffer() {
        let (_, send) = bufs(100);
        let mut p = Plug::new(false);
        let data: Vec<u8> = (0..5000).map(|i| i as u8).collect();
        assert!(p.write(false, 6, Cmd::Get, &data));
        assert!(p.commit(&send));
        assert_eq!(p.write_state(), WriteState::Queued);
        assert!(!p.write(true, 7, Cmd::Get, b"x"));
        let mut out = Vec::new();
        while p.write_state() == WriteState::Queued {
            out.extend(take_all(&send));
            p.flush(&send);
        }
        out.extend(take_all(&send));
        let mut expect = Vec::new();
        encode_message(&mut expect, true, 6, Cmd::Get, &data);
        assert_eq!(out, expect);
    }

    #[test]
    fn respond_with_queues_the_answer_to_the_open_message() {
        let (read, send) = bufs(16);
        let mut bytes = Vec::new();
        encode_message(&mut bytes, false, 9, Cmd::Get, b"id");
        read.modify(|b| b.write(&bytes));
        let mut p = Plug::new(false);
        let answer = |_: u32, _: Cmd, _: &[u8], _: &mut Vec<u8>| Ok::<(), ()>(());
        assert_eq!(p.respond_with(answer), None, "nothing open yet");
        p.assemble(&read).unwrap();
        assert!(p.read(false).is_some());
        let failed = p.respond_with(|_, _, _, out| {
            out.push(1);
            Err("no answer")
        });
        assert_eq!(failed, Some(Err("no answer")));
        assert_eq!(p.write_state(), WriteState::Idle, "a failed answer queues nothing");
        let mut seen = None;
        let res = p.respond_with(|uid, cmd, payload, out| {
            seen = Some((uid, cmd, payload.to_vec()));
            encode_message(out, true, uid, cmd, &[5; 30]);
            Ok::<(), ()>(())
        });
        assert_eq!(res, Some(Ok(())));
        assert_eq!(seen, Some((9, Cmd::Get, b"id".to_vec())));
        assert_eq!(p.write_state(), WriteState::Queued);
        assert_eq!(p.respond_with(answer), None, "one response at a time");
        let mut expect = Vec::new();
        encode_message(&mut expect, true, 9, Cmd::Get, &[5; 30]);
        p.flush(&send);
        assert_eq!(take_all(&send), expect[..16].to_vec());
        p.flush(&send);
        assert_eq!(take_all(&send), expect[16..32].to_vec());
        p.flush(&send);
        assert_eq!(take_all(&send), expect[32..].to_vec());
        assert_eq!(p.write_state(), WriteState::Idle);
    }

    #[test]
    fn read_side_states() {
        let (read, _) = bufs(4096);
        let mut bytes = Vec::new();
        encode_message(&mut bytes, false, 1, Cmd::Get, b"one");
        encode_message(&mut bytes, false, 2, Cmd::Remove, b"two");
        read.modify(|b| b.write(&bytes));
        let mut p = Plug::new(false);
        assert!(p.read(false).is_none());
        assert!(!p.consume(&read));
        p.assemble(&read).unwrap();
        assert_eq!(p.read_state(), ReadState::Full);
        assert_eq!(p.read(false), Some((1, Cmd::Get, &b"one"[..])));
        assert!(p.read(false).is_none());
        assert_eq!(p.read(true), Some((1, Cmd::Get, &b"one"[..])));
        // the second message is still in the read buffer
        assert_eq!(read.with(|b| b.used()), 17);
        assert!(p.consume(&read));
        assert_eq!(p.read(false), Some((2, Cmd::Remove, &b"two"[..])));
        assert!(p.consume(&read));
        assert_eq!(p.read_state(), ReadState::Idle);
    }

    #[test]
    fn corruption_behind_message_fails_consume() {
        let (read, _) = bufs(4096);
        let mut bytes = Vec::new();
        encode_message(&mut bytes, false, 1, Cmd::Get, b"one");
        bytes.extend_from_slice(b"GET / HTTP/1.0\r\n");
        read.modify(|b| b.write(&bytes));
        let mut p = Plug::new(false);
        p.assemble(&read).unwrap();
        assert!(p.read(false).is_some());
        assert!(!p.consume(&read));
        assert!(p.corruption().is_some());
        assert!(p.assemble(&read).is_err());
    }

    #[test]
    fn direction_enforced() {
        let (read, _) = bufs(4096);
        let mut bytes = Vec::new();
        encode_message(&mut bytes, false, 1, Cmd::Get, b"one");
        read.modify(|b| b.write(&bytes));
        let mut p = Plug::new(true);
        assert!(p.assemble(&read).is_err());
    }
}
