//! A connected escrow stream: sends one message per `sendmsg` and splits
//! the received byte stream back into messages, whatever the chunking.
//!
//! Descriptor attribution: the kernel hands out the descriptors of a
//! `sendmsg` together with the first bytes of that call and ends the
//! receiving `recvmsg` within (or at the end of) those bytes. So the
//! descriptors a `recvmsg` delivers belong to the message that contains
//! the last byte of that read; the channel records each batch at that
//! stream offset and hands it to the message covering it.

use super::message::{frame_len, FrameError, FrameLen, MAX_MESSAGE};
use super::sys;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// What [`Channel::recv`] produced.
#[derive(Debug)]
pub enum Incoming {
    /// One complete message, copied into the caller's buffer.
    Frame(Extras),
    /// The bytes at the head cannot be a message; everything received so
    /// far was discarded (and its descriptors closed).
    Invalid { error: FrameError, extras: Extras },
    /// End of stream inside a message (its bytes are in the caller's
    /// buffer, its descriptors closed).
    Truncated(Extras),
    /// End of stream between messages.
    Eof,
}

/// Out-of-band facts about a received message.
#[derive(Debug, Default)]
pub struct Extras {
    /// Descriptors that arrived with it.
    pub fds: Vec<OwnedFd>,
    /// The kernel dropped descriptors sent with it (`MSG_CTRUNC`).
    pub dropped: bool,
}

pub struct Channel {
    sock: OwnedFd,
    buf: Box<[u8]>,
    head: usize,
    tail: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// Descriptors by the stream offset they were attributed to.
    fds: VecDeque<(u64, OwnedFd)>,
    /// Stream offsets of reads that had descriptors dropped.
    dropped: VecDeque<u64>,
}

impl Channel {
    pub fn new(sock: OwnedFd) -> Self {
        Channel {
            sock,
            buf: vec![0u8; 2 * MAX_MESSAGE].into_boxed_slice(),
            head: 0,
            tail: 0,
            base: 0,
            fds: VecDeque::new(),
            dropped: VecDeque::new(),
        }
    }

    pub fn socket(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Sends one message (one `sendmsg`), with at most one descriptor. A
    /// rare partial send (signal) is completed without the descriptor.
    pub fn send(&self, bytes: &[u8], fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
        let mut sent = sys::send_msg(self.sock.as_fd(), bytes, fd)?;
        while sent < bytes.len() {
            sent += sys::send_msg(self.sock.as_fd(), &bytes[sent..], None)?;
        }
        Ok(())
    }

    /// Descriptors and drop marks attributed to stream range `[from, to)`.
    fn take_extras(&mut self, from: u64, to: u64) -> Extras {
        let mut extras = Extras::default();
        while let Some((at, _)) = self.fds.front() {
            if *at >= to {
                break;
            }
            let (at, fd) = self.fds.pop_front().expect("front exists");
            if at >= from {
                extras.fds.push(fd);
            }
        }
        while let Some(&at) = self.dropped.front() {
            if at >= to {
                break;
            }
            self.dropped.pop_front();
            extras.dropped |= at >= from;
        }
        extras
    }

    /// Receives the next message into `out`.
    pub fn recv(&mut self, out: &mut Vec<u8>) -> io::Result<Incoming> {
        loop {
            let start = self.base + self.head as u64;
            match frame_len(&self.buf[self.head..self.tail]) {
                FrameLen::Complete(n) => {
                    out.clear();
                    out.extend_from_slice(&self.buf[self.head..self.head + n]);
                    self.head += n;
                    let extras = self.take_extras(start, start + n as u64);
                    return Ok(Incoming::Frame(extras));
                }
                FrameLen::Invalid(error) => {
                    out.clear();
                    out.extend_from_slice(&self.buf[self.head..self.tail]);
                    self.head = self.tail;
                    let extras = self.take_extras(0, u64::MAX);
                    return Ok(Incoming::Invalid { error, extras });
                }
                FrameLen::Incomplete => {}
            }
            if self.head == self.tail {
                self.base += self.head as u64;
                self.head = 0;
                self.tail = 0;
            } else if self.buf.len() - self.tail < MAX_MESSAGE {
                self.buf.copy_within(self.head..self.tail, 0);
                self.base += self.head as u64;
                self.tail -= self.head;
                self.head = 0;
            }
            let room = (self.buf.len() - self.tail).min(MAX_MESSAGE);
            let got = sys::recv_msg(self.sock.as_fd(), &mut self.buf[self.tail..self.tail + room])?;
            if got.len == 0 {
                // Descriptors cannot come without bytes; nothing to keep.
                if self.head == self.tail {
                    return Ok(Incoming::Eof);
                }
                out.clear();
                out.extend_from_slice(&self.buf[self.head..self.tail]);
                self.head = self.tail;
                let extras = self.take_extras(0, u64::MAX);
                return Ok(Incoming::Truncated(extras));
            }
            self.tail += got.len;
            let last = self.base + self.tail as u64 - 1;
            self.fds.extend(got.fds.into_iter().map(|fd| (last, fd)));
            if got.dropped {
                self.dropped.push_back(last);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escrow::message::Message;
    use std::os::unix::net::UnixStream;

    fn pair() -> (Channel, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        (Channel::new(OwnedFd::from(a)), b)
    }

    fn frame(chan: &mut Channel) -> (Vec<u8>, Extras) {
        let mut out = Vec::new();
        match chan.recv(&mut out).unwrap() {
            Incoming::Frame(x) => (out, x),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn descriptor_goes_to_the_message_it_was_sent_with() {
        let (mut chan, peer) = pair();
        let get = Message::Get { tag: 1, idx: 2 }.to_bytes();
        let add = Message::Add { tag: 1, idx: 3, ufd: 9, payload: b"xyz" }.to_bytes();
        let null = std::fs::File::open("/dev/null").unwrap();
        // Both are queued before the first read, which then returns both.
        sys::send_msg(peer.as_fd(), &get, None).unwrap();
        sys::send_msg(peer.as_fd(), &add, Some(null.as_fd())).unwrap();
        let (bytes, x) = frame(&mut chan);
        assert_eq!((bytes, x.fds.len()), (get, 0));
        let (bytes, x) = frame(&mut chan);
        assert_eq!((bytes, x.fds.len()), (add, 1));
    }

    #[test]
    fn pieces_surplus_invalid_and_end_of_stream() {
        let (mut chan, peer) = pair();
        let add = Message::Add { tag: 0, idx: 0, ufd: 4, payload: &[5u8; 40] }.to_bytes();
        let null = std::fs::File::open("/dev/null").unwrap();
        sys::send_msg(peer.as_fd(), &add[..3], Some(null.as_fd())).unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let mut rest = add[3..].to_vec();
            rest.extend(Message::Tag { tag: 7 }.to_bytes());
            rest.extend([9u8, 0, 1]); // unknown opcode 9
            sys::send_msg(peer.as_fd(), &rest, None).unwrap();
            sys::send_msg(peer.as_fd(), &Message::Get { tag: 0, idx: 0 }.to_bytes()[..5], None).unwrap();
            (peer, add)
        });
        let (bytes, x) = frame(&mut chan);
        let (peer, add) = writer.join().unwrap();
        assert_eq!((bytes, x.fds.len()), (add, 1));
        assert_eq!(frame(&mut chan).0, Message::Tag { tag: 7 }.to_bytes());
        let mut out = Vec::new();
        match chan.recv(&mut out).unwrap() {
            Incoming::Invalid { error, .. } => assert_eq!(error, FrameError::UnknownOpcode(9)),
            other => panic!("{other:?}"),
        }
        drop(peer);
        match chan.recv(&mut out).unwrap() {
            Incoming::Truncated(_) => assert_eq!(out.len(), 5),
            // The invalid bytes and the partial GET may have come together.
            Incoming::Eof => {}
            other => panic!("{other:?}"),
        }
    }
}
