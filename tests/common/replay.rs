//! A connector whose streams check what the client writes against the
//! recorded requests and answer with the recorded responses, delivered in
//! small irregular chunks.

use distcache_core::client::{Connector, Stream};
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Default)]
pub struct Script {
    /// (expected request bytes, response bytes) in order.
    pub exchanges: VecDeque<(String, Vec<u8>, Vec<u8>)>,
    pub connects: usize,
    /// Bytes written that no exchange consumed yet.
    pub unmatched: Vec<u8>,
    pub mismatches: Vec<String>,
}

#[derive(Clone, Default)]
pub struct Replay(pub Arc<Mutex<Script>>);

pub struct ReplayStream {
    script: Arc<Mutex<Script>>,
    written: Vec<u8>,
    out: VecDeque<u8>,
    chunk: usize,
}

impl Connector for Replay {
    type Stream = ReplayStream;
    fn connect(&self, _deadline: Instant) -> io::Result<ReplayStream> {
        self.0.lock().unwrap().connects += 1;
        Ok(ReplayStream { script: self.0.clone(), written: Vec::new(), out: VecDeque::new(), chunk: 1 })
    }
}

impl Stream for ReplayStream {
    fn send_all(&mut self, data: &[u8], _deadline: Instant) -> io::Result<()> {
        self.written.extend_from_slice(data);
        Ok(())
    }
    fn recv(&mut self, buf: &mut [u8], _deadline: Instant) -> io::Result<usize> {
        if self.out.is_empty() {
            let mut s = self.script.lock().unwrap();
            let Some((name, req, resp)) = s.exchanges.pop_front() else {
                s.unmatched.extend_from_slice(&self.written);
                return Ok(0);
            };
            if self.written != req {
                s.mismatches.push(format!("{name}: client wrote {} bytes, recorded {}", self.written.len(), req.len()));
                if self.written.len() == req.len() {
                    let at = self.written.iter().zip(&req).position(|(a, b)| a != b).unwrap();
                    s.mismatches.push(format!("{name}: first difference at byte {at}"));
                }
            }
            self.written.clear();
            self.out.extend(resp);
        }
        // chunk sizes cycle through 1, 2, ..., 1500
        self.chunk = self.chunk % 1500 + 1;
        let n = self.out.len().min(buf.len()).min(self.chunk);
        for (i, b) in self.out.drain(..n).enumerate() {
            buf[i] = b;
        }
        Ok(n)
    }
}

impl Drop for ReplayStream {
    fn drop(&mut self) {
        if !self.written.is_empty() {
            if let Ok(mut s) = self.script.lock() {
                s.unmatched.extend_from_slice(&self.written);
            }
        }
    }
}
