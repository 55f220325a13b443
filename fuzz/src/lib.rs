//! Shared pieces of the fuzz targets.
//!
//! Every target takes the same input shape: the first byte is a *mode*
//! byte that chooses how the rest is cut into the chunks a peer would send
//! (and, for some targets, small options); the rest is the byte stream
//! itself. Seed files are therefore a mode byte followed by recorded wire
//! bytes.

/// Defines `LLVMFuzzerTestOneInput` around a body that sees the input as
/// `&[u8]`.
#[macro_export]
macro_rules! fuzz_target {
    (|$data:ident| $body:block) => {
        #[no_mangle]
        pub extern "C" fn LLVMFuzzerTestOneInput(ptr: *const u8, len: usize) -> i32 {
            let input: &[u8] = if ptr.is_null() || len == 0 {
                &[]
            } else {
                // SAFETY: libFuzzer passes `len` readable bytes at `ptr`
                // that stay valid and unchanged for the duration of the call.
                unsafe { std::slice::from_raw_parts(ptr, len) }
            };
            // A closure, so that `return` in the body ends one run.
            let run = |$data: &[u8]| $body;
            run(input);
            0
        }
    };
}

/// Splits an input into its mode byte and the stream.
pub fn split_mode(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&m, rest)) => (m, rest),
        None => (0, &[]),
    }
}

/// A small deterministic generator (xorshift32) seeded from the mode byte.
pub struct Rng(u32);

impl Rng {
    pub fn new(seed: u8) -> Self {
        Rng(0x9e37_79b9 ^ (u32::from(seed) << 8 | u32::from(seed)) | 1)
    }

    pub fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

/// Chunk sizes for a stream of `len` bytes: mode 0 delivers everything at
/// once; otherwise the low two bits choose the largest chunk (7, 64, 2062
/// or 8192 bytes) and the generator seeded with the mode picks sizes up to
/// it. At most `max_chunks` chunks; the last one takes the rest.
pub fn chunks(mode: u8, len: usize, max_chunks: usize) -> Vec<usize> {
    if mode == 0 || len == 0 {
        return vec![len];
    }
    let largest = [7usize, 64, 2062, 8192][usize::from(mode & 3)];
    let mut rng = Rng::new(mode);
    let mut out = Vec::new();
    let mut left = len;
    while left > 0 {
        let n = if out.len() + 1 >= max_chunks { left } else { (1 + rng.next() as usize % largest).min(left) };
        out.push(n);
        left -= n;
    }
    out
}

/// Fails the run if descriptors leak: the lowest free descriptor number
/// must stay small across runs (each run closes what it opened).
pub fn assert_no_descriptor_leak() {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open("/dev/null").expect("open /dev/null");
    let fd = f.as_raw_fd();
    assert!(fd < 64, "descriptor leak: lowest free descriptor is {fd}");
}
