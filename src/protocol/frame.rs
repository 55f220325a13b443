//! Frame encoding and message assembly with early corruption detection.

use super::{Cmd, HEADER_LEN, MAX_TOTAL_DATA, MSG_MAX_DATA, PROTO_LEVEL, PROTO_VERSION};
use std::fmt;

/// The decoded 14-byte frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub proto_level: u32,
    pub is_response: bool,
    pub uid: u32,
    pub cmd: Cmd,
    pub complete: bool,
    pub data_len: u16,
}

impl FrameHeader {
    /// The header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..4].copy_from_slice(&self.proto_level.to_be_bytes());
        h[4] = self.is_response as u8;
        h[5..9].copy_from_slice(&self.uid.to_be_bytes());
        h[9] = 0; // op_class USER
        h[10] = self.cmd.operation();
        h[11] = self.complete as u8;
        h[12..14].copy_from_slice(&self.data_len.to_be_bytes());
        h
    }
}

/// Why a byte stream was rejected. Each variant is one check of the
/// protocol; all of them close the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corrupt {
    /// The peer speaks another protocol version (full level given).
    Version(u32),
    /// `is_response` is neither 0 nor 1.
    BadDirection(u8),
    /// A request where a response was expected, or the reverse.
    WrongDirection,
    OpClass(u8),
    Operation(u8),
    CompleteFlag(u8),
    /// `data_len` above 2048.
    DataLen(u16),
    /// A non-final frame that does not carry exactly 2048 bytes.
    ShortFragment(u16),
    /// A continuation frame whose uid or operation differs from the first.
    Mismatch,
    /// The message payload would exceed 32768 bytes.
    TooLong,
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corrupt::Version(level) => {
                write!(f, "protocol incompatibility; my level is {PROTO_LEVEL:08x}, the peer's is {level:08x}")
            }
            Corrupt::BadDirection(v) => write!(f, "invalid is_response byte {v}"),
            Corrupt::WrongDirection => write!(f, "frame sent in the wrong direction"),
            Corrupt::OpClass(v) => write!(f, "invalid operation class {v}"),
            Corrupt::Operation(v) => write!(f, "invalid operation {v}"),
            Corrupt::CompleteFlag(v) => write!(f, "invalid complete flag {v}"),
            Corrupt::DataLen(n) => write!(f, "frame data length {n} above 2048"),
            Corrupt::ShortFragment(n) => write!(f, "non-final frame of {n} bytes"),
            Corrupt::Mismatch => write!(f, "continuation frame of another message"),
            Corrupt::TooLong => write!(f, "message longer than 32768 bytes"),
        }
    }
}

impl std::error::Error for Corrupt {}

/// Appends the frames of one message to `out`: 2048-byte frames marked
/// incomplete while more than 2048 bytes remain, then one final frame with
/// the rest (an empty payload is one empty final frame).
pub fn encode_message(out: &mut Vec<u8>, is_response: bool, uid: u32, cmd: Cmd, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_TOTAL_DATA);
    let frames = payload.len().div_ceil(MSG_MAX_DATA).max(1);
    out.reserve(payload.len() + frames * HEADER_LEN);
    let mut rest = payload;
    loop {
        let n = rest.len().min(MSG_MAX_DATA);
        let complete = rest.len() <= MSG_MAX_DATA;
        let header = FrameHeader { proto_level: PROTO_LEVEL, is_response, uid, cmd, complete, data_len: n as u16 };
        out.extend_from_slice(&header.encode());
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        if complete {
            break;
        }
    }
}

/// Number of bytes [`encode_message`] produces for a payload.
pub fn encoded_len(payload_len: usize) -> usize {
    payload_len + payload_len.div_ceil(MSG_MAX_DATA).max(1) * HEADER_LEN
}

/// Checks as much of a frame header as `bytes` holds (any prefix), so that
/// corruption is reported as soon as the offending byte has arrived.
/// `first` is `(uid, operation)` of the message being continued, if any,
/// and `so_far` the payload bytes it already holds. Returns the header once
/// all 14 bytes are present and valid.
fn check_header(
    bytes: &[u8],
    expect_response: bool,
    first: Option<(u32, u8)>,
    so_far: usize,
) -> Result<Option<FrameHeader>, Corrupt> {
    let n = bytes.len();
    if n >= 4 {
        let level = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if level >> 16 != PROTO_VERSION {
            return Err(Corrupt::Version(level));
        }
    }
    if n >= 5 {
        match bytes[4] {
            0 | 1 => {
                if (bytes[4] == 1) != expect_response {
                    return Err(Corrupt::WrongDirection);
                }
            }
            v => return Err(Corrupt::BadDirection(v)),
        }
    }
    if n >= 9 {
        if let Some((uid, _)) = first {
            if u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) != uid {
                return Err(Corrupt::Mismatch);
            }
        }
    }
    if n >= 10 && bytes[9] != 0 {
        return Err(Corrupt::OpClass(bytes[9]));
    }
    if n >= 11 {
        if bytes[10] > 3 {
            return Err(Corrupt::Operation(bytes[10]));
        }
        if let Some((_, op)) = first {
            if bytes[10] != op {
                return Err(Corrupt::Mismatch);
            }
        }
    }
    if n >= 12 && bytes[11] > 1 {
        return Err(Corrupt::CompleteFlag(bytes[11]));
    }
    if n < HEADER_LEN {
        return Ok(None);
    }
    let data_len = u16::from_be_bytes([bytes[12], bytes[13]]);
    if data_len as usize > MSG_MAX_DATA {
        return Err(Corrupt::DataLen(data_len));
    }
    let complete = bytes[11] == 1;
    if !complete && data_len as usize != MSG_MAX_DATA {
        return Err(Corrupt::ShortFragment(data_len));
    }
    if so_far + data_len as usize > MAX_TOTAL_DATA {
        return Err(Corrupt::TooLong);
    }
    Ok(Some(FrameHeader {
        proto_level: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        is_response: bytes[4] == 1,
        uid: u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]),
        cmd: Cmd::from_operation(bytes[10]).expect("checked above"),
        complete,
        data_len,
    }))
}

/// Capacity a reused message buffer may keep when emptied.
pub const KEEP_CAPACITY: usize = 4096;

/// Empties `v`, freeing its allocation when it is larger than
/// [`KEEP_CAPACITY`] (the allocator hands the same warm block to the next
/// large message, whichever connection it is for).
pub fn release_large(v: &mut Vec<u8>) {
    if v.capacity() > KEEP_CAPACITY {
        *v = Vec::new();
    } else {
        v.clear();
    }
}

/// A complete message found in place by [`scan_message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scanned {
    /// Bytes of the message's frames at the front of the input.
    pub used: usize,
    pub uid: u32,
    pub cmd: Cmd,
    /// Payload bytes over all frames.
    pub payload_len: usize,
}

/// Checks the frames at the front of `input` without copying them:
/// Some once a whole message is there, None while bytes are missing, Err
/// on the same corruption [`Assembler`] reports. With
/// [`frame_payloads`] this reads a message without reassembling it.
pub fn scan_message(input: &[u8], expect_response: bool) -> Result<Option<Scanned>, Corrupt> {
    let (mut used, mut payload_len, mut first) = (0, 0, None);
    loop {
        let rest = &input[used..];
        let header = match check_header(rest, expect_response, first, payload_len)? {
            Some(h) => h,
            None => return Ok(None),
        };
        let frame_len = HEADER_LEN + header.data_len as usize;
        if rest.len() < frame_len {
            return Ok(None);
        }
        first.get_or_insert((header.uid, header.cmd.operation()));
        payload_len += header.data_len as usize;
        used += frame_len;
        if header.complete {
            return Ok(Some(Scanned { used, uid: header.uid, cmd: header.cmd, payload_len }));
        }
    }
}

/// The payload pieces of the frames in `frames` (a message checked by
/// [`scan_message`]), in order.
pub fn frame_payloads(mut frames: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if frames.len() < HEADER_LEN {
            return None;
        }
        let len = u16::from_be_bytes([frames[12], frames[13]]) as usize;
        let end = (HEADER_LEN + len).min(frames.len());
        let piece = &frames[HEADER_LEN..end];
        frames = &frames[end..];
        Some(piece)
    })
}

/// Reassembles one message at a time from a byte stream.
///
/// [`Assembler::feed`] takes whole frames from the front of its input and
/// never looks at a frame's payload before all of its bytes are present; a
/// partial frame is left in the input for a later call.
#[derive(Debug)]
pub struct Assembler {
    expect_response: bool,
    first: Option<(u32, u8)>,
    payload: Vec<u8>,
    complete: bool,
}

impl Assembler {
    /// An assembler for the requests a server reads (`expect_response`
    /// false) or for the responses a client reads (true).
    pub fn new(expect_response: bool) -> Self {
        Self { expect_response, first: None, payload: Vec::new(), complete: false }
    }

    /// Consumes whole frames from the front of `input` until the current
    /// message is complete or only a partial frame is left. Returns the
    /// number of bytes consumed. Does nothing while a complete message is
    /// held. On corruption the assembler must not be used further (until
    /// [`Assembler::reset`]).
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, Corrupt> {
        let mut used = 0;
        while !self.complete {
            let rest = &input[used..];
            if rest.is_empty() {
                break;
            }
            let header = match check_header(rest, self.expect_response, self.first, self.payload.len())? {
                Some(h) => h,
                None => break,
            };
            let frame_len = HEADER_LEN + header.data_len as usize;
            if rest.len() < frame_len {
                break;
            }
            if self.first.is_none() {
                self.first = Some((header.uid, header.cmd.operation()));
                if !header.complete {
                    // A message of several frames: room for the longest one
                    // at once instead of growing (and copying) frame by frame.
                    self.payload.reserve(MAX_TOTAL_DATA);
                }
            }
            self.payload.extend_from_slice(&rest[HEADER_LEN..frame_len]);
            self.complete = header.complete;
            used += frame_len;
        }
        Ok(used)
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The complete message: uid, command, payload.
    pub fn message(&self) -> Option<(u32, Cmd, &[u8])> {
        if !self.complete {
            return None;
        }
        let (uid, op) = self.first?;
        Some((uid, Cmd::from_operation(op)?, &self.payload))
    }

    /// The complete message, taking the payload out of the assembler.
    pub fn into_message(self) -> Option<(u32, Cmd, Vec<u8>)> {
        if !self.complete {
            return None;
        }
        let (uid, op) = self.first?;
        Some((uid, Cmd::from_operation(op)?, self.payload))
    }

    /// Forgets the current message (complete or partial). Room taken by
    /// a large message is given back, so that a server with thousands of
    /// clients does not hold 32 KiB for each that once sent one.
    pub fn reset(&mut self) {
        self.first = None;
        release_large(&mut self.payload);
        self.complete = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(uid: u32, cmd: Cmd, payload: &[u8], resp: bool) -> Vec<u8> {
        let mut v = Vec::new();
        encode_message(&mut v, resp, uid, cmd, payload);
        v
    }

    #[test]
    fn have_response_example() {
        assert_eq!(frames(4, Cmd::Have, &[0], true), hex("001100000100000004000301000100"));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn scan_agrees_with_the_assembler() {
        for len in [1usize, 100, 2048, 2049, 30720, 32768] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut bytes = frames(77, Cmd::Get, &payload, true);
            let whole = bytes.len();
            bytes.extend_from_slice(&frames(78, Cmd::Have, b"x", true));
            for cut in [0, 1, HEADER_LEN, whole - 1] {
                assert_eq!(scan_message(&bytes[..cut], true), Ok(None), "len {len} cut {cut}");
            }
            let s = scan_message(&bytes, true).unwrap().unwrap();
            assert_eq!(s, Scanned { used: whole, uid: 77, cmd: Cmd::Get, payload_len: len });
            assert_eq!(frame_payloads(&bytes[..whole]).collect::<Vec<_>>().concat(), payload);
            assert_eq!(scan_message(&bytes, false), Err(Corrupt::WrongDirection));
        }
        let mut mixed = frames(1, Cmd::Get, &[0; 3000], true);
        mixed[2062 + 5..2062 + 9].copy_from_slice(&2u32.to_be_bytes());
        assert_eq!(scan_message(&mixed, true), Err(Corrupt::Mismatch));
    }

    #[test]
    fn fragmentation_rules() {
        for (len, nframes) in [(0, 1), (1, 1), (2048, 1), (2049, 2), (4096, 2), (32768, 16)] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let bytes = frames(9, Cmd::Add, &payload, false);
            assert_eq!(bytes.len(), encoded_len(len));
            assert_eq!(bytes.len(), len + nframes * HEADER_LEN);
            let mut a = Assembler::new(false);
            assert_eq!(a.feed(&bytes), Ok(bytes.len()));
            assert_eq!(a.message(), Some((9, Cmd::Add, &payload[..])));
        }
    }

    #[test]
    fn stops_after_one_message() {
        let mut bytes = frames(1, Cmd::Get, b"abc", false);
        let first = bytes.len();
        bytes.extend(frames(2, Cmd::Have, b"de", false));
        let mut a = Assembler::new(false);
        assert_eq!(a.feed(&bytes), Ok(first));
        assert_eq!(a.feed(&bytes[first..]), Ok(0));
        a.reset();
        assert_eq!(a.feed(&bytes[first..]), Ok(bytes.len() - first));
        assert_eq!(a.message(), Some((2, Cmd::Have, &b"de"[..])));
    }

    fn corrupt_after(bytes: &[u8], resp: bool) -> (usize, Corrupt) {
        for n in 0..=bytes.len() {
            let mut a = Assembler::new(resp);
            if let Err(e) = a.feed(&bytes[..n]) {
                return (n, e);
            }
        }
        panic!("not corrupt");
    }

    #[test]
    fn early_detection() {
        let good = frames(7, Cmd::Get, b"id", false);
        let mut v = good.clone();
        v[1] = 0x10;
        assert_eq!(corrupt_after(&v, false), (4, Corrupt::Version(0x00100000)));
        // A foreign patch level is fine.
        let mut v = good.clone();
        v[3] = 0xff;
        v[2] = 0xff;
        let mut a = Assembler::new(false);
        assert_eq!(a.feed(&v), Ok(v.len()));
        assert_eq!(corrupt_after(&good, true), (5, Corrupt::WrongDirection));
        let mut v = good.clone();
        v[4] = 2;
        assert_eq!(corrupt_after(&v, false), (5, Corrupt::BadDirection(2)));
        let mut v = good.clone();
        v[9] = 1;
        assert_eq!(corrupt_after(&v, false), (10, Corrupt::OpClass(1)));
        let mut v = good.clone();
        v[10] = 4;
        assert_eq!(corrupt_after(&v, false), (11, Corrupt::Operation(4)));
        let mut v = good.clone();
        v[11] = 2;
        assert_eq!(corrupt_after(&v, false), (12, Corrupt::CompleteFlag(2)));
        let mut v = good.clone();
        v[12] = 0x08;
        v[13] = 0x01;
        assert_eq!(corrupt_after(&v, false), (14, Corrupt::DataLen(2049)));
        let mut v = good.clone();
        v[11] = 0;
        assert_eq!(corrupt_after(&v, false), (14, Corrupt::ShortFragment(2)));
    }

    #[test]
    fn continuation_checks() {
        let payload = vec![5u8; 3000];
        let good = frames(3, Cmd::Add, &payload, false);
        let mut v = good.clone();
        v[2062 + 8] ^= 1; // uid of frame 2
        assert_eq!(corrupt_after(&v, false), (2062 + 9, Corrupt::Mismatch));
        let mut v = good.clone();
        v[2062 + 10] = 1; // operation of frame 2
        assert_eq!(corrupt_after(&v, false), (2062 + 11, Corrupt::Mismatch));
        // 16 full frames then one more byte: too long.
        let mut v = frames(1, Cmd::Add, &vec![1u8; 32768], false);
        v[(15 * 2062) + 11] = 0; // 16th frame no longer final
        v.extend(
            FrameHeader {
                proto_level: PROTO_LEVEL,
                is_response: false,
                uid: 1,
                cmd: Cmd::Add,
                complete: true,
                data_len: 1,
            }
            .encode(),
        );
        v.push(0);
        assert_eq!(corrupt_after(&v, false), (16 * 2062 + 14, Corrupt::TooLong));
        // An empty final frame after 16 full ones is fine.
        let mut v = frames(1, Cmd::Add, &vec![1u8; 32768], false);
        v[(15 * 2062) + 11] = 0;
        v.extend(
            FrameHeader {
                proto_level: PROTO_LEVEL,
                is_response: false,
                uid: 1,
                cmd: Cmd::Add,
                complete: true,
                data_len: 0,
            }
            .encode(),
        );
        let mut a = Assembler::new(false);
        assert_eq!(a.feed(&v), Ok(v.len()));
        assert_eq!(a.message().unwrap().2.len(), 32768);
    }

    #[test]
    fn partial_frame_waits() {
        let bytes = frames(1, Cmd::Get, &[1, 2, 3, 4, 5, 6], false);
        for cut in 1..=bytes.len() {
            let mut a = Assembler::new(false);
            assert_eq!(a.feed(&bytes[..bytes.len() - cut]), Ok(0));
            assert!(!a.is_complete());
        }
    }
}
