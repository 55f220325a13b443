//! The distcache wire protocol: frame layout, message assembly, payload
//! encodings and the DC_PLUG read/write state machines.
//!
//! A *frame* is a 14-byte header plus 0..=2048 payload bytes; a *message*
//! (one request or one response) is one or more frames sharing a request uid
//! and an operation, the last one marked complete.

pub mod frame;
pub mod payload;
pub mod plug;

pub use frame::{encode_message, Assembler, Corrupt, FrameHeader};
pub use plug::Plug;

/// Protocol level sent in every frame: version 0x0011, patch level 0.
pub const PROTO_LEVEL: u32 = 0x0011_0000;
/// The version half of [`PROTO_LEVEL`]; peers with another version are
/// incompatible.
pub const PROTO_VERSION: u32 = PROTO_LEVEL >> 16;
/// Bytes in a frame header.
pub const HEADER_LEN: usize = 14;
/// Largest payload of one frame; every non-final frame carries exactly this.
pub const MSG_MAX_DATA: usize = 2048;
/// Most frames in one message.
pub const MAX_MSG: usize = 16;
/// Largest message payload.
pub const MAX_TOTAL_DATA: usize = MSG_MAX_DATA * MAX_MSG;
/// Longest session id a server stores.
pub const MAX_ID_LEN: usize = 64;
/// Longest session lifetime a server accepts (7 days, in milliseconds).
pub const MAX_EXPIRY: u64 = 604_800_000;
/// Largest session a server accepts.
pub const MAX_DATA_LEN: usize = 32768;

/// One-byte status replies.
pub mod status {
    pub const OK: u8 = 0;
    pub const NOTOK: u8 = 1;
    pub const DISCONNECTED: u8 = 2;
    pub const ADD_CORRUPT: u8 = 100;
    pub const ADD_MATCHING_SESSION: u8 = 101;
    pub const ADD_TIMEOUT_RANGE: u8 = 102;
    pub const ADD_ID_RANGE: u8 = 103;
    pub const ADD_DATA_RANGE: u8 = 104;
}

/// A distcache command. The C enum `DC_CMD` numbers them 1..=4 (0 is the
/// "error" value, never sent); on the wire the operation byte is one less.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cmd {
    Add,
    Get,
    Remove,
    Have,
}

impl Cmd {
    pub const ALL: [Cmd; 4] = [Cmd::Add, Cmd::Get, Cmd::Remove, Cmd::Have];

    /// The `DC_CMD` value (1..=4).
    pub fn to_c(self) -> i32 {
        self.operation() as i32 + 1
    }

    /// From a `DC_CMD` value; `DC_CMD_ERROR` and unknown values give None.
    pub fn from_c(cmd: i32) -> Option<Cmd> {
        match cmd {
            1..=4 => Self::from_operation((cmd - 1) as u8),
            _ => None,
        }
    }

    /// The wire operation byte (0..=3).
    pub fn operation(self) -> u8 {
        match self {
            Cmd::Add => 0,
            Cmd::Get => 1,
            Cmd::Remove => 2,
            Cmd::Have => 3,
        }
    }

    pub fn from_operation(op: u8) -> Option<Cmd> {
        match op {
            0 => Some(Cmd::Add),
            1 => Some(Cmd::Get),
            2 => Some(Cmd::Remove),
            3 => Some(Cmd::Have),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants() {
        assert_eq!(PROTO_LEVEL, 0x00110000);
        assert_eq!(MAX_TOTAL_DATA, 32768);
    }

    #[test]
    fn cmd_numbering() {
        for c in Cmd::ALL {
            assert_eq!(Cmd::from_c(c.to_c()), Some(c));
            assert_eq!(Cmd::from_operation(c.operation()), Some(c));
        }
        assert_eq!(Cmd::Add.to_c(), 1);
        assert_eq!(Cmd::Have.operation(), 3);
        assert_eq!(Cmd::from_c(0), None);
        assert_eq!(Cmd::from_c(5), None);
        assert_eq!(Cmd::from_c(-1), None);
        assert_eq!(Cmd::from_operation(4), None);
    }
}
