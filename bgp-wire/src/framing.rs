//! Message framing: how many bytes the next message occupies (RFC 4271 §4.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                           Marker                              |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

/// Length of the fixed header.
pub const HEADER_LEN: usize = 19;
/// Largest message without the extended message capability (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Largest message with the extended message capability (RFC 8654 §3).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;
/// The all-ones marker.
pub const MARKER: [u8; 16] = [0xff; 16];

/// The length of the message that starts at `buf[0]`, read from its header, or `None` when
/// fewer than 19 bytes are buffered. The value is not validated here: the decoder rejects a
/// bad marker or length with the right NOTIFICATION, so an I/O loop should hand
/// `buf[..HEADER_LEN]` to the decoder when the length is below [`HEADER_LEN`] rather than
/// wait for more bytes.
pub fn message_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < HEADER_LEN {
        return None;
    }
    Some(u16::from_be_bytes([buf[16], buf[17]]) as usize)
}

/// How many bytes an I/O loop should hand to [`crate::message::decode_message`] next: the
/// message length when the whole message is buffered, or the header alone when its length
/// field is invalid (so that the decoder answers with Bad Message Length instead of the loop
/// waiting forever). `None`: read more.
pub fn next_frame(buf: &[u8], max_len: usize) -> Option<usize> {
    let len = message_len(buf)?;
    if !(HEADER_LEN..=max_len).contains(&len) || buf[..16] != MARKER {
        return Some(HEADER_LEN);
    }
    (buf.len() >= len).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_a_whole_header() {
        assert_eq!(message_len(&[0xff; 18]), None);
        let mut h = vec![0xff; 16];
        h.extend_from_slice(&[0, 19, 4]);
        assert_eq!(message_len(&h), Some(19));
        assert_eq!(next_frame(&h, MAX_MESSAGE_LEN), Some(19));
    }

    #[test]
    fn bad_length_frames_the_header_alone() {
        let mut h = vec![0xff; 16];
        h.extend_from_slice(&[0x10, 0x01, 2]);
        assert_eq!(next_frame(&h, MAX_MESSAGE_LEN), Some(HEADER_LEN));
        assert_eq!(next_frame(&h, MAX_EXTENDED_MESSAGE_LEN), None);
    }
}
