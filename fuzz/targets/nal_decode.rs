//! The exported `NAL_decode_*` helpers, called through their C entry points
//! the way C callers do: a cursor (pointer + remaining length) over the
//! input, driven by opcodes taken from the input. Checks: a decode succeeds
//! exactly when enough bytes remain, advances the cursor by exactly its
//! size, reads the bytes at the cursor, and leaves the cursor untouched on
//! failure.
#![no_main]

use distcache_core::capi::nal_codec::{NAL_decode_bin, NAL_decode_char, NAL_decode_uint16, NAL_decode_uint32};
use distcache_fuzz::{fuzz_target, split_mode};
use std::os::raw::{c_uchar, c_uint, c_ulong};

fuzz_target!(|data| {
    let (ops, stream) = match data.len() {
        0 => return,
        n => data.split_at((usize::from(data[0]) % 16 + 1).min(n)),
    };
    let (_, ops) = split_mode(ops);
    let mut cur: *const c_uchar = stream.as_ptr();
    let mut left: c_uint = stream.len() as c_uint;
    let mut out = [0u8; 320];
    for &op in ops.iter().cycle().take(64) {
        let before = (cur, left);
        let offset = stream.len() - left as usize;
        let (rc, need) = match op & 3 {
            0 => {
                let mut v: c_ulong = 0;
                let rc = NAL_decode_uint32(&mut cur, &mut left, &mut v);
                if rc == 1 {
                    let b = &stream[offset..offset + 4];
                    assert_eq!(v, c_ulong::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])));
                }
                (rc, 4)
            }
            1 => {
                let mut v: c_uint = 0;
                let rc = NAL_decode_uint16(&mut cur, &mut left, &mut v);
                if rc == 1 {
                    assert_eq!(v, c_uint::from(u16::from_be_bytes([stream[offset], stream[offset + 1]])));
                }
                (rc, 2)
            }
            2 => {
                let mut v: c_uchar = 0;
                let rc = NAL_decode_char(&mut cur, &mut left, &mut v);
                if rc == 1 {
                    assert_eq!(v, stream[offset]);
                }
                (rc, 1)
            }
            _ => {
                let n = usize::from(op >> 2) * 5;
                let rc = NAL_decode_bin(&mut cur, &mut left, out.as_mut_ptr(), n as c_uint);
                if rc == 1 {
                    assert_eq!(&out[..n], &stream[offset..offset + n]);
                }
                (rc, n)
            }
        };
        let had = before.1 as usize;
        if had >= need {
            assert_eq!(rc, 1, "decode of {need} bytes failed with {had} left");
            assert_eq!(left as usize, had - need);
            assert_eq!(cur as usize, before.0 as usize + need);
        } else {
            assert_eq!(rc, 0, "decode of {need} bytes succeeded with {had} left");
            assert_eq!((cur, left), before, "a failed decode moved the cursor");
        }
    }
});
