//! A libnal connection with an unbounded outgoing queue in front of its
//! fixed-size send buffer.

use distcache_core::nal::buffer::SharedBuffer;
use distcache_core::nal::connection::Connection;
use distcache_core::nal::selector::Selector;
use distcache_core::nal::sys;
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

    /// Nothing left in the queue (the send buffer may still hold bytes).
    pub fn queue_empty(&self) -> bool {
        self.out_pos == self.out.len()
    }

    /// Everything handed to the kernel.
    pub fn drained(&self) -> bool {
        self.queue_empty() && self.send.with(|b| b.is_empty())
    }

    /// Moves queued bytes into the send buffer and, for sockets, straight
    /// on to the kernel as far as it takes them; the rest goes out with the
    /// connection's normal I/O.
    pub fn pump(&mut self) {
        loop {
            if !self.queue_empty() {
                let rest = &self.out[self.out_pos..];
                self.out_pos += self.send.modify(|b| b.write(rest));
                if self.queue_empty() {
                    self.out.clear();
                    self.out_pos = 0;
                }
            }
            if !self.direct {
                return;
            }
            let fd = self.conn.raw_fd();
            let sent = self.send.modify(|b| {
                if b.is_empty() {
                    return 0;
                }
                match sys::send(fd, b.data()) {
                    Ok(n) => {
                        b.consume(n);
                        n
                    }
                    Err(_) => 0, // would block or failed: the next io() tells
                }
            });
            if sent == 0 || self.drained() {
                return;
            }
        }
    }

    /// Drops everything not yet in the send buffer.
    pub fn discard_queue(&mut self) {
        self.out.clear();
        self.out_pos = 0;
    }
}
