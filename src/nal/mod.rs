//! libnal: non-blocking network abstraction (addresses, listeners,
//! connections, selectors, buffers and the byte codec).

pub mod accept_pause;
pub mod address;
pub mod buffer;
pub mod codec;
pub mod connection;
pub mod listener;
pub mod selector;
pub mod sys;
pub mod tls;

use std::sync::atomic::{AtomicBool, Ordering};

/// Largest size of any libnal buffer, in bytes.
pub const MAX_BUFFER_SIZE: usize = 32768;

/// Process-wide Nagle switch; off by default (TCP_NODELAY on new TCP
/// connections).
static NAGLE: AtomicBool = AtomicBool::new(false);

pub fn set_nagle(enabled: bool) {
    NAGLE.store(enabled, Ordering::Relaxed);
}

pub fn nagle_enabled() -> bool {
    NAGLE.load(Ordering::Relaxed)
}
