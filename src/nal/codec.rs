//! Cursor-style big-endian encoding helpers (`NAL_encode_*`/`NAL_decode_*`).
//!
//! A cursor is a slice that shrinks from the front as bytes are consumed or
//! written. On failure (not enough room) the cursor is left untouched.

/// Takes `n` bytes from the front of a read cursor.
pub fn take<'a>(cursor: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if cursor.len() < n {
        return None;
    }
    let (head, tail) = cursor.split_at(n);
    *cursor = tail;
    Some(head)
}

pub fn decode_u32(cursor: &mut &[u8]) -> Option<u32> {
    take(cursor, 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

pub fn decode_u16(cursor: &mut &[u8]) -> Option<u16> {
    take(cursor, 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

pub fn decode_u8(cursor: &mut &[u8]) -> Option<u8> {
    take(cursor, 1).map(|b| b[0])
}

/// Writes `bytes` at the front of a write cursor.
pub fn put(cursor: &mut &mut [u8], bytes: &[u8]) -> bool {
    if cursor.len() < bytes.len() {
        return false;
    }
    let (head, tail) = std::mem::take(cursor).split_at_mut(bytes.len());
    head.copy_from_slice(bytes);
    *cursor = tail;
    true
}

/// Encodes the low 32 bits of `val`.
pub fn encode_u32(cursor: &mut &mut [u8], val: u64) -> bool {
    put(cursor, &(val as u32).to_be_bytes())
}

/// Encodes the low 16 bits of `val`.
pub fn encode_u16(cursor: &mut &mut [u8], val: u32) -> bool {
    put(cursor, &(val as u16).to_be_bytes())
}

pub fn encode_u8(cursor: &mut &mut [u8], val: u8) -> bool {
    put(cursor, &[val])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_from_spec() {
        let mut out = [0u8; 16];
        let mut cur: &mut [u8] = &mut out;
        assert!(encode_u32(&mut cur, 0x12_3456_7890));
        assert!(encode_u16(&mut cur, 0x1ABCD));
        assert!(encode_u8(&mut cur, 0x7F));
        assert_eq!(cur.len(), 9);
        assert_eq!(&out[..7], &[0x34, 0x56, 0x78, 0x90, 0xAB, 0xCD, 0x7F]);
        let mut rd: &[u8] = &out[..7];
        assert_eq!(decode_u32(&mut rd), Some(0x3456_7890));
        assert_eq!(decode_u16(&mut rd), Some(0xABCD));
        assert_eq!(decode_u8(&mut rd), Some(0x7F));
        assert_eq!(decode_u8(&mut rd), None);
    }

    #[test]
    fn short_cursor_is_untouched() {
        let data = [1u8, 2, 3];
        let mut rd: &[u8] = &data;
        assert_eq!(decode_u32(&mut rd), None);
        assert_eq!(rd.len(), 3);
        let mut out = [0u8; 1];
        let mut cur: &mut [u8] = &mut out;
        assert!(!encode_u16(&mut cur, 5));
        assert_eq!(cur.len(), 1);
    }
}
