//! A libnal connection with an unbounded outgoing queue in front of its
//! fixed-size send buffer.

use distcache_core::nal::buffer::SharedBuffer;
use distcache_core::nal::connection::Connection;
use distcache_core::nal::selector::Selector;
use distcache_core::nal::sys;
use std::io::IoSlice;
use std::sync::Arc;

/// One end of a proxied conversation.
pub struct Peer {
    pub conn: Connection,
    pub read: Arc<SharedBuffer>,
    pub send: Arc<SharedBuffer>,
    /// Bytes waiting for room in `send`, from `out_pos` on.
    out: Vec<u8>,
    out_pos: usize,
    /// Whether the descriptor is a socket we may `send` to directly.
    direct: bool,
}

impl Peer {
    /// Wraps an active connection and attaches it to `sel`. `direct`
    /// allows writing to the socket right away instead of waiting for the
    /// next select (only for socket connections).
    pub fn attach(mut conn: Connection, sel: &Selector, direct: bool) -> Option<Self> {
        if !conn.add_to_selector(sel) {
            return None;
        }
        let read = conn.read_buffer()?.clone();
        let send = conn.send_buffer()?.clone();
        Some(Self { conn, read, send, out: Vec::new(), out_pos: 0, direct })
    }

    /// The queue to append outgoing bytes to; call [`Peer::pump`] after.
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Bytes waiting in the queue.
    pub fn queued(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Nothing left in the queue (the send buffer may still hold bytes).
    pub fn queue_empty(&self) -> bool {
        self.out_pos == self.out.len()
    }

    /// Everything handed to the kernel.
    pub fn drained(&self) -> bool {
        self.queue_empty() && self.send.with(|b| b.is_empty())
    }

    /// Hands queued bytes on: for sockets straight to the kernel from
    /// where they are (the send buffer's bytes first, then the queue's, in
    /// one system call), the rest into the send buffer as far as it has
    /// room, to go out with the connection's normal I/O. Returns how many
    /// bytes moved on.
    pub fn pump(&mut self) -> usize {
        let mut moved = if self.direct { self.send_now() } else { 0 };
        if !self.queue_empty() {
            let rest = &self.out[self.out_pos..];
            let n = self.send.modify(|b| b.write(rest));
            self.out_pos += n;
            moved += n;
        }
        if self.queue_empty() {
            self.out.clear();
            self.out_pos = 0;
        }
        // A TLS link encrypts and sends at once.
        if !self.direct && moved > 0 && self.conn.is_tls() {
            self.conn.flush_tls();
        }
        moved
    }

    /// Sends the send buffer's bytes and then the queue's until the kernel
    /// takes no more; returns how many it took.
    fn send_now(&mut self) -> usize {
        let fd = self.conn.raw_fd();
        let mut moved = 0;
        loop {
            let queued = &self.out[self.out_pos..];
            let (from_buffer, sent) = self.send.modify(|b| {
                let held = b.used();
                if held == 0 && queued.is_empty() {
                    return (0, 0);
                }
                match sys::send_vectored(fd, &[IoSlice::new(b.data()), IoSlice::new(queued)]) {
                    Ok(n) => {
                        b.consume(n.min(held));
                        (n.min(held), n)
                    }
                    Err(_) => (0, 0), // would block or failed: the next io() tells
                }
            });
            self.out_pos += sent - from_buffer;
            moved += sent;
            if sent == 0 || self.drained() {
                return moved;
            }
        }
    }

    /// After the selector has given the connection up (a hang-up is
    /// reported before the kernel's buffered bytes are read), reads what is
    /// left into the read buffer's free space. Returns the bytes read, or
    /// None once nothing more can come (end of file, an error, no data).
    pub fn read_leftover(&mut self) -> Option<usize> {
        let fd = self.conn.raw_fd();
        if fd < 0 || self.conn.is_tls() {
            // Through TLS the connection's own I/O read to the end.
            return None;
        }
        self.read.modify(|b| {
            let spare = b.spare_mut();
            if spare.is_empty() {
                return Some(0);
            }
            match sys::read(fd, spare) {
                Ok(0) | Err(_) => None,
                Ok(n) => Some(b.wrote(n)),
            }
        })
    }

    /// Drops everything not yet in the send buffer.
    pub fn discard_queue(&mut self) {
        self.out.clear();
        self.out_pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Bytes already in the send buffer go out before the queue's, and a
    /// queue larger than the socket holds arrives whole as the other end
    /// reads.
    #[test]
    fn pump_keeps_the_order_and_loses_nothing() {
        let (mut a, mut b) = (Connection::new(), Connection::new());
        assert!(Connection::create_pair(&mut a, &mut b, 4096));
        let sel = Selector::new();
        let mut peer = Peer::attach(a, &sel, true).expect("attached");
        let first: Vec<u8> = (0..1000u32).map(|i| (i % 7) as u8).collect();
        let rest: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8 + 7).collect();
        assert_eq!(peer.send.modify(|buf| buf.write(&first)), first.len());
        peer.out().extend_from_slice(&rest);
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 65536];
        let end = Instant::now() + Duration::from_secs(10);
        while got.len() < first.len() + rest.len() && Instant::now() < end {
            peer.pump();
            match sys::read(b.raw_fd(), &mut chunk) {
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        assert_eq!(got.len(), first.len() + rest.len());
        assert!(got[..first.len()] == first[..] && got[first.len()..] == rest[..]);
        assert!(peer.drained());
    }
}
