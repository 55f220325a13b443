//! Rust implementation of distcache's libnal, libdistcache and
//! libdistcacheserver, and of libescrow.
//!
//! The safe core lives in the domain modules (`nal`, ...) and knows nothing
//! of C. The `capi` module is the thin C layer: it checks pointers, converts
//! arguments, calls the core and turns panics into failure values.

pub mod cache;
pub mod capi;
pub mod client;
pub mod escrow;
pub mod nal;
pub mod protocol;
pub mod server;
