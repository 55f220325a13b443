//! The escrow wire messages: fixed little structs in host byte order, one
//! per `sendmsg`, their length implied by the opcode (and, for ADD and REP,
//! by the `nob` field of the header).

use std::fmt;

pub const OP_HEL: i16 = 0;
pub const OP_ADD: i16 = 1;
pub const OP_DEL: i16 = 2;
pub const OP_REP: i16 = 3;
pub const OP_TAG: i16 = 4;
pub const OP_INF: i16 = 5;
pub const OP_GET: i16 = 6;

/// Largest payload of one entry.
pub const MAX_PAYLOAD: usize = 32768;
/// Indices of a tag are `0..MAX_INDEX`.
pub const MAX_INDEX: i32 = 1 << 20;
/// Largest reply text, terminating NUL included.
pub const MAX_REPLY: usize = 1024;
/// Header sizes.
pub const ADD_HEADER: usize = 16;
pub const REP_HEADER: usize = 6;
/// Largest message (an ADD with a full payload).
pub const MAX_MESSAGE: usize = ADD_HEADER + MAX_PAYLOAD;

/// One message. Byte fields borrow from the buffer they were decoded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// Declared by the protocol, never used; answered as an unknown request.
    Hel {
        nr_tags: i16,
        flags: i32,
        key: i64,
    },
    /// Store request, and the answer to GET. `ufd` is the sender's number
    /// for the attached descriptor, or -1 for a payload-only entry.
    Add {
        tag: i16,
        idx: i32,
        ufd: i32,
        payload: &'a [u8],
    },
    Del {
        tag: i16,
        idx: i32,
    },
    /// Status reply; `text` holds the wire bytes including the final NUL.
    Rep {
        rc: i16,
        text: &'a [u8],
    },
    Tag {
        tag: i16,
    },
    /// Answer to TAG: number of entries and sum of their payload sizes.
    Inf {
        pad: i16,
        nr: i32,
        total: i32,
    },
    Get {
        tag: i16,
        idx: i32,
    },
}

/// Why a byte sequence cannot be a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The opcode is none of 0..=6.
    UnknownOpcode(i16),
    /// The `nob` field of an ADD or REP header is out of range.
    BadLength(i16),
    /// `decode` got more or fewer bytes than the header implies.
    SizeMismatch,
}

/// How much of a buffer the message at its start occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameLen {
    /// More bytes are needed before the length is known or complete.
    Incomplete,
    /// The first message is complete and this long.
    Complete(usize),
    /// The length cannot be determined.
    Invalid(FrameError),
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_ne_bytes([b[at], b[at + 1]])
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Length of the message at the start of `buf`, as far as it is known.
pub fn frame_len(buf: &[u8]) -> FrameLen {
    if buf.len() < 2 {
        return FrameLen::Incomplete;
    }
    let opcode = i16_at(buf, 0);
    let need = match opcode {
        OP_HEL => 16,
        OP_DEL | OP_GET => 8,
        OP_TAG => 4,
        OP_INF => 12,
        OP_ADD => {
            if buf.len() < ADD_HEADER {
                return FrameLen::Incomplete;
            }
            let nob = i32_at(buf, 12);
            if nob < 0 || nob as usize > MAX_PAYLOAD {
                return FrameLen::Invalid(FrameError::BadLength(opcode));
            }
            ADD_HEADER + nob as usize
        }
        OP_REP => {
            if buf.len() < REP_HEADER {
                return FrameLen::Incomplete;
            }
            let nob = i16_at(buf, 4);
            if nob < 0 || nob as usize > MAX_REPLY {
                return FrameLen::Invalid(FrameError::BadLength(opcode));
            }
            REP_HEADER + nob as usize
        }
        other => return FrameLen::Invalid(FrameError::UnknownOpcode(other)),
    };
    if buf.len() < need {
        FrameLen::Incomplete
    } else {
        FrameLen::Complete(need)
    }
}

/// The opcode of a (possibly partial) message, if two bytes are present.
pub fn opcode(buf: &[u8]) -> Option<i16> {
    (buf.len() >= 2).then(|| i16_at(buf, 0))
}

impl<'a> Message<'a> {
    /// Decodes exactly one message; `buf` must hold it and nothing else.
    pub fn decode(buf: &'a [u8]) -> Result<Self, FrameError> {
        match frame_len(buf) {
            FrameLen::Complete(n) if n == buf.len() => {}
            FrameLen::Invalid(e) => return Err(e),
            _ => return Err(FrameError::SizeMismatch),
        }
        let b = buf;
        Ok(match i16_at(b, 0) {
            OP_HEL => Message::Hel { nr_tags: i16_at(b, 2), flags: i32_at(b, 4), key: i64_at(b, 8) },
            OP_ADD => {
                Message::Add { tag: i16_at(b, 2), idx: i32_at(b, 4), ufd: i32_at(b, 8), payload: &b[ADD_HEADER..] }
            }
            OP_DEL => Message::Del { tag: i16_at(b, 2), idx: i32_at(b, 4) },
            OP_REP => Message::Rep { rc: i16_at(b, 2), text: &b[REP_HEADER..] },
            OP_TAG => Message::Tag { tag: i16_at(b, 2) },
            OP_INF => Message::Inf { pad: i16_at(b, 2), nr: i32_at(b, 4), total: i32_at(b, 8) },
            OP_GET => Message::Get { tag: i16_at(b, 2), idx: i32_at(b, 4) },
            other => return Err(FrameError::UnknownOpcode(other)),
        })
    }

    pub fn opcode(&self) -> i16 {
        match self {
            Message::Hel { .. } => OP_HEL,
            Message::Add { .. } => OP_ADD,
            Message::Del { .. } => OP_DEL,
            Message::Rep { .. } => OP_REP,
            Message::Tag { .. } => OP_TAG,
            Message::Inf { .. } => OP_INF,
            Message::Get { .. } => OP_GET,
        }
    }

    /// Replaces the contents of `out` with the wire bytes. The caller keeps
    /// payloads and texts within their limits (`MAX_PAYLOAD`, `MAX_REPLY`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.opcode().to_ne_bytes());
        match *self {
            Message::Hel { nr_tags, flags, key } => {
                out.extend_from_slice(&nr_tags.to_ne_bytes());
                out.extend_from_slice(&flags.to_ne_bytes());
                out.extend_from_slice(&key.to_ne_bytes());
            }
            Message::Add { tag, idx, ufd, payload } => {
                out.extend_from_slice(&tag.to_ne_bytes());
                out.extend_from_slice(&idx.to_ne_bytes());
                out.extend_from_slice(&ufd.to_ne_bytes());
                out.extend_from_slice(&(payload.len() as i32).to_ne_bytes());
                out.extend_from_slice(payload);
            }
            Message::Del { tag, idx } | Message::Get { tag, idx } => {
                out.extend_from_slice(&tag.to_ne_bytes());
                out.extend_from_slice(&idx.to_ne_bytes());
            }
            Message::Rep { rc, text } => {
                out.extend_from_slice(&rc.to_ne_bytes());
                out.extend_from_slice(&(text.len() as i16).to_ne_bytes());
                out.extend_from_slice(text);
            }
            Message::Tag { tag } => out.extend_from_slice(&tag.to_ne_bytes()),
            Message::Inf { pad, nr, total } => {
                out.extend_from_slice(&pad.to_ne_bytes());
                out.extend_from_slice(&nr.to_ne_bytes());
                out.extend_from_slice(&total.to_ne_bytes());
            }
        }
    }

    /// The wire bytes in a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// The text of a REP without its terminating NUL (and anything after it).
pub fn reply_text(text: &[u8]) -> String {
    let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
    String::from_utf8_lossy(&text[..end]).into_owned()
}

/// The trace rendering used in verbose mode (`send: {GET   0   0} ...`).
impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Message::Add { tag, idx, ufd, payload } => {
                write!(f, "{{ADD {tag:3} {idx:3} {ufd:3} {:4}}}", payload.len())
            }
            Message::Del { tag, idx } => write!(f, "{{DEL {tag:3} {idx:3}}}"),
            Message::Rep { rc, text } => write!(f, "{{REP {rc:3} \"{}\"}}", reply_text(text)),
            // The traditional trace labels a TAG request "REP".
            Message::Tag { tag } => write!(f, "{{REP {tag:3}}}"),
            Message::Inf { nr, total, .. } => write!(f, "{{INF {nr:4} {total:5}}}"),
            Message::Get { tag, idx } => write!(f, "{{GET {tag:3} {idx:3}}}"),
            Message::Hel { .. } => write!(f, "{{UNKNOWN {OP_HEL}}}"),
        }
    }
}

/// Reply texts (wire bytes, NUL included). Identical situations must give
/// identical bytes to the traditional daemon's.
pub mod text {
    pub const OK: &[u8] = b"\0";
    pub const WRONG_ADD: &[u8] = b"Wrong ADD request.\0";
    pub const NO_SLOT: &[u8] = b"Cannot allocate a slot.\0";
    pub const NO_SEQUENCE: &[u8] = b"Cannot extend a sequence.\0";
    pub const CANNOT_RECEIVE: &[u8] = b"Cannot receive a descriptor.\0";
    pub const WRONG_DEL: &[u8] = b"Wrong DEL request.\0";
    pub const FD_IN_DEL: &[u8] = b"Descriptor present in a DEL request.\0";
    pub const MISSING_DEL: &[u8] = b"Non-existent index in DEL request.\0";
    pub const WRONG_TAG: &[u8] = b"Wrong TAG request.\0";
    pub const FD_IN_TAG: &[u8] = b"Descriptor present in a TAG request.\0";
    pub const FD_IN_GET: &[u8] = b"Descriptor present in a GET request.\0";
    pub const MISSING_GET: &[u8] = b"Non-existent index in a GET request.\0";
    pub const UNEXPECTED: &[u8] = b"Unexpected message type.\0";
    pub const TRUNCATED: &[u8] = b"Truncated message.\0";
    pub const TOO_MANY_FDS: &[u8] = b"More than one descriptor in a request.\0";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escrow::vectors::{load, Dir};

    #[test]
    fn vectors_round_trip() {
        let vectors = load();
        assert_eq!(vectors.len(), 13);
        for v in &vectors {
            let msg = Message::decode(&v.bytes).unwrap_or_else(|e| panic!("{}: {e:?}", v.step));
            assert_eq!(msg.to_bytes(), v.bytes, "{}", v.step);
            assert_eq!(frame_len(&v.bytes), FrameLen::Complete(v.bytes.len()));
            // Every proper prefix is incomplete, never misread.
            for cut in 0..v.bytes.len() {
                assert_eq!(frame_len(&v.bytes[..cut]), FrameLen::Incomplete, "{} cut {cut}", v.step);
            }
        }
    }

    #[test]
    fn vectors_decode_to_expected_fields() {
        let v = load();
        let by = |step: &str| v.iter().find(|x| x.step.starts_with(step)).unwrap();
        let add = by("add_fd");
        assert_eq!(add.dir, Dir::ClientToServer);
        assert!(add.fd_attached);
        assert_eq!(
            Message::decode(&add.bytes).unwrap(),
            Message::Add { tag: 2, idx: 7, ufd: 4, payload: b"payload!!\0" }
        );
        assert_eq!(Message::decode(&by("add_fd_reply").bytes).unwrap(), Message::Rep { rc: 0, text: text::OK });
        assert_eq!(Message::decode(&by("tag").bytes).unwrap(), Message::Tag { tag: 2 });
        assert_eq!(Message::decode(&by("tag_reply_INF").bytes).unwrap(), Message::Inf { pad: 0, nr: 1, total: 10 });
        assert_eq!(Message::decode(&by("get").bytes).unwrap(), Message::Get { tag: 2, idx: 7 });
        assert_eq!(by("get_reply_ADD_with_fd").bytes, add.bytes);
        assert_eq!(
            Message::decode(&by("get_missing_reply").bytes).unwrap(),
            Message::Rep { rc: -2, text: text::MISSING_GET }
        );
        assert_eq!(Message::decode(&by("del_reply").bytes).unwrap(), Message::Rep { rc: 0, text: text::OK });
        assert_eq!(Message::decode(&by("del").bytes).unwrap(), Message::Del { tag: 2, idx: 7 });
        assert_eq!(
            Message::decode(&by("del_missing_reply").bytes).unwrap(),
            Message::Rep { rc: -22, text: text::MISSING_DEL }
        );
        assert_eq!(
            Message::decode(&by("add_badtag_nofd").bytes).unwrap(),
            Message::Add { tag: 99, idx: 0, ufd: -1, payload: b"" }
        );
    }

    #[test]
    fn required_new_replies_encode_as_documented() {
        let hex = |s: &str| crate::escrow::vectors::unhex(s);
        assert_eq!(
            Message::Rep { rc: -22, text: text::WRONG_ADD }.to_bytes(),
            hex("0300eaff130057726f6e672041444420726571756573742e00")
        );
        assert_eq!(
            Message::Add { tag: 2, idx: 0, ufd: -1, payload: b"" }.to_bytes(),
            hex("0100020000000000ffffffff00000000")
        );
        assert_eq!(Message::Rep { rc: 0, text: text::OK }.to_bytes(), hex("03000000010000"));
    }

    #[test]
    fn lengths_and_invalid_headers() {
        let mut add = Message::Add { tag: 0, idx: 0, ufd: -1, payload: &[7u8; 300] }.to_bytes();
        assert_eq!(frame_len(&add[..16]), FrameLen::Incomplete);
        assert_eq!(frame_len(&add), FrameLen::Complete(316));
        add.extend_from_slice(&[6, 0, 1]);
        assert_eq!(frame_len(&add), FrameLen::Complete(316), "surplus bytes are not part of it");
        assert_eq!(Message::decode(&add), Err(FrameError::SizeMismatch));

        let mut big = Message::Add { tag: 0, idx: 0, ufd: -1, payload: b"" }.to_bytes();
        big[12..16].copy_from_slice(&(MAX_PAYLOAD as i32 + 1).to_ne_bytes());
        assert_eq!(frame_len(&big), FrameLen::Invalid(FrameError::BadLength(OP_ADD)));
        big[12..16].copy_from_slice(&(-1i32).to_ne_bytes());
        assert_eq!(frame_len(&big), FrameLen::Invalid(FrameError::BadLength(OP_ADD)));
        big[12..16].copy_from_slice(&(MAX_PAYLOAD as i32).to_ne_bytes());
        assert_eq!(frame_len(&big), FrameLen::Incomplete);

        assert_eq!(frame_len(&[7, 0]), FrameLen::Invalid(FrameError::UnknownOpcode(7)));
        assert_eq!(frame_len(&[0xff, 0xff]), FrameLen::Invalid(FrameError::UnknownOpcode(-1)));
        assert_eq!(frame_len(&[6]), FrameLen::Incomplete);
        assert_eq!(frame_len(&[3, 0, 0, 0, 0xff, 0xff]), FrameLen::Invalid(FrameError::BadLength(OP_REP)));
        let hel = Message::Hel { nr_tags: 3, flags: 5, key: -9 };
        assert_eq!(Message::decode(&hel.to_bytes()), Ok(hel));
    }

    #[test]
    fn trace_rendering() {
        let add = Message::Add { tag: 1, idx: 5, ufd: 77, payload: b"abcde" };
        assert_eq!(add.to_string(), "{ADD   1   5  77    5}");
        assert_eq!(Message::Get { tag: 0, idx: 0 }.to_string(), "{GET   0   0}");
        assert_eq!(
            Message::Rep { rc: -2, text: text::MISSING_GET }.to_string(),
            "{REP  -2 \"Non-existent index in a GET request.\"}"
        );
        assert_eq!(Message::Rep { rc: 0, text: text::OK }.to_string(), "{REP   0 \"\"}");
        assert_eq!(Message::Inf { pad: 0, nr: 1, total: 10 }.to_string(), "{INF    1    10}");
    }
}
