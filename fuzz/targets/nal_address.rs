//! The libnal address-string parser (`NAL_ADDRESS_create`'s grammar:
//! `IP:`, `IPv4:`, `IPv6:`, `UNIX:`, `FD:`), with a resolver that accepts
//! only numeric hosts so no input causes network traffic. The first byte
//! picks the default buffer size. Checks: a parsed address is active,
//! keeps its buffer size, and a second create on it fails.
#![no_main]

use distcache_core::nal::address::{Address, NumericResolver, Transport};
use distcache_fuzz::{fuzz_target, split_mode};

fuzz_target!(|data| {
    let (mode, text) = split_mode(data);
    let size = [0u32, 1, 2048, 4096, 32768, 32769, u32::MAX, 100][usize::from(mode & 7)];
    let mut a = Address::new();
    let ok = a.create_with(text, size, &NumericResolver);
    assert_eq!(ok, a.is_active());
    if ok {
        assert!((2..=255).contains(&text.len()));
        assert_eq!(a.def_buffer_size(), size);
        assert!(!a.create_with(text, size, &NumericResolver), "create on an active address");
        if let Some(Transport::Unix { path }) = a.transport() {
            assert!(path.len() <= 107);
        }
        let _ = a.can_connect();
        a.reset();
        assert!(!a.is_active());
    }
});
