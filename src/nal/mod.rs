//! libnal: non-blocking network abstraction (addresses, listeners,
//! connections, selectors, buffers and the byte codec).

pub mod buffer;
pub mod codec;

/// Largest size of any libnal buffer, in bytes.
pub const MAX_BUFFER_SIZE: usize = 32768;
