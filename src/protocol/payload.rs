//! Message payload encodings.
//!
//! ADD requests carry `timeout (u32 BE, ms) | id_len (u32 BE) | id | data`;
//! GET, REMOVE and HAVE requests carry the id alone. Responses are one
//! status byte, except a GET hit whose payload is the session data itself.

use super::{status, MAX_DATA_LEN, MAX_EXPIRY, MAX_ID_LEN, MAX_TOTAL_DATA};

/// Bytes of the fixed part of an ADD payload.
pub const ADD_HEADER_LEN: usize = 8;

/// Encodes an ADD payload; None if it would exceed 32768 bytes.
pub fn encode_add(timeout_ms: u32, id: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let total = ADD_HEADER_LEN.checked_add(id.len())?.checked_add(data.len())?;
    if total > MAX_TOTAL_DATA {
        return None;
    }
    let mut v = Vec::with_capacity(total);
    v.extend_from_slice(&timeout_ms.to_be_bytes());
    v.extend_from_slice(&(id.len() as u32).to_be_bytes());
    v.extend_from_slice(id);
    v.extend_from_slice(data);
    Some(v)
}

/// A well-formed ADD request, after the server's checks.
#[derive(Debug, PartialEq, Eq)]
pub struct AddRequest<'a> {
    pub timeout_ms: u32,
    pub id: &'a [u8],
    pub data: &'a [u8],
}

/// Outcome of parsing an ADD payload on the server.
#[derive(Debug, PartialEq, Eq)]
pub enum AddParse<'a> {
    /// Shorter than 8 bytes: no reply is possible, the client is dropped.
    Truncated,
    /// Rejected with this one-byte status.
    Reject(u8),
    Ok(AddRequest<'a>),
}

/// Applies the server's ADD checks in the protocol's order.
pub fn parse_add(payload: &[u8]) -> AddParse<'_> {
    if payload.len() < ADD_HEADER_LEN {
        return AddParse::Truncated;
    }
    let timeout_ms = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
    let id_len = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
    let rest = &payload[ADD_HEADER_LEN..];
    if u64::from(timeout_ms) > MAX_EXPIRY {
        return AddParse::Reject(status::ADD_TIMEOUT_RANGE);
    }
    if id_len as usize >= rest.len() {
        return AddParse::Reject(status::ADD_CORRUPT);
    }
    let id_len = id_len as usize;
    if id_len == 0 || id_len > MAX_ID_LEN {
        return AddParse::Reject(status::ADD_ID_RANGE);
    }
    let (id, data) = rest.split_at(id_len);
    if data.is_empty() || data.len() > MAX_DATA_LEN {
        return AddParse::Reject(status::ADD_DATA_RANGE);
    }
    AddParse::Ok(AddRequest { timeout_ms, id, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_roundtrip() {
        let p = encode_add(60000, b"abc", b"data").unwrap();
        assert_eq!(&p[..8], &[0, 0, 0xea, 0x60, 0, 0, 0, 3]);
        assert_eq!(parse_add(&p), AddParse::Ok(AddRequest { timeout_ms: 60000, id: b"abc", data: b"data" }));
    }

    #[test]
    fn add_limits() {
        assert!(encode_add(1, &[1], &vec![0; 32759]).is_some());
        assert!(encode_add(1, &[1], &vec![0; 32760]).is_none());
    }

    #[test]
    fn add_check_order() {
        assert_eq!(parse_add(&[0; 7]), AddParse::Truncated);
        assert_eq!(parse_add(&[]), AddParse::Truncated);
        // timeout checked before everything else
        let mut p = encode_add(604_800_001, &[], &[]).unwrap();
        assert_eq!(parse_add(&p), AddParse::Reject(status::ADD_TIMEOUT_RANGE));
        p = encode_add(604_800_000, &[1], &[2]).unwrap();
        assert!(matches!(parse_add(&p), AddParse::Ok(_)));
        // id fills the payload: corrupt
        p = encode_add(1, b"abc", &[]).unwrap();
        assert_eq!(parse_add(&p), AddParse::Reject(status::ADD_CORRUPT));
        // id_len huge (as unsigned) is corrupt, not an id range error
        p = encode_add(1, &[], b"xx").unwrap();
        p[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(parse_add(&p), AddParse::Reject(status::ADD_CORRUPT));
        // zero-length id with data
        p = encode_add(1, &[], b"xx").unwrap();
        assert_eq!(parse_add(&p), AddParse::Reject(status::ADD_ID_RANGE));
        p = encode_add(1, &[7; 65], b"x").unwrap();
        assert_eq!(parse_add(&p), AddParse::Reject(status::ADD_ID_RANGE));
        p = encode_add(1, &[7; 64], b"x").unwrap();
        assert!(matches!(parse_add(&p), AddParse::Ok(_)));
        // only the header: id_len 0 >= 0 remaining -> corrupt
        assert_eq!(parse_add(&[0; 8]), AddParse::Reject(status::ADD_CORRUPT));
    }
}
