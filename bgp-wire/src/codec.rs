//! Bounded reader and small writer helpers shared by every message codec.
//!
//! The reader never slices past its end: each length field read from the wire opens a
//! sub-reader of exactly that length (checked against what remains), so a peer-controlled
//! length can neither panic nor make us allocate more than the bytes it actually sent.

/// Not enough bytes for the field being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: needed {needed} bytes at offset {offset}, {remaining} left")]
pub struct Short {
    /// Name of the field that could not be read.
    pub field: &'static str,
    /// Absolute offset (from the start of the buffer given to the outermost reader).
    pub offset: usize,
    /// Bytes the field needed.
    pub needed: usize,
    /// Bytes that were left.
    pub remaining: usize,
}

/// A cursor over a borrowed byte slice that knows its absolute offset in the message.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute offset of `buf[0]` in the outermost buffer, for error reports.
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over the whole of `buf`, offsets counted from its start.
    pub fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// A reader whose reported offsets start at `base`.
    pub fn with_base(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte to read.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consumes and returns every unread byte.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// Consumes exactly `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Short> {
        if n > self.remaining() {
            return Err(self.short(field, n));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Consumes `n` bytes and returns a reader over them that reports absolute offsets.
    pub fn sub(&mut self, n: usize, field: &'static str) -> Result<Reader<'a>, Short> {
        let base = self.offset();
        let buf = self.take(n, field)?;
        Ok(Reader { buf, pos: 0, base })
    }

    /// Reads one byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, Short> {
        Ok(self.take(1, field)?[0])
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, Short> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, Short> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a big-endian u64.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, Short> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// Reads 16 bytes as a big-endian u128 (an IPv6 address).
    pub fn u128(&mut self, field: &'static str) -> Result<u128, Short> {
        let b = self.take(16, field)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(u128::from_be_bytes(a))
    }

    /// Reads an IPv4 address.
    pub fn ipv4(&mut self, field: &'static str) -> Result<std::net::Ipv4Addr, Short> {
        self.u32(field).map(std::net::Ipv4Addr::from)
    }

    /// Reads an IPv6 address.
    pub fn ipv6(&mut self, field: &'static str) -> Result<std::net::Ipv6Addr, Short> {
        self.u128(field).map(std::net::Ipv6Addr::from)
    }

    fn short(&self, field: &'static str, needed: usize) -> Short {
        Short {
            field,
            offset: self.offset(),
            needed,
            remaining: self.remaining(),
        }
    }
}

/// Appends a big-endian u16.
pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a big-endian u32.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Reserves a length field of `width` bytes (1 or 2) and returns its position for
/// [`patch_len`].
pub fn len_placeholder(out: &mut Vec<u8>, width: usize) -> usize {
    let at = out.len();
    out.extend(std::iter::repeat_n(0u8, width));
    at
}

/// Writes the number of bytes appended after the placeholder at `at` into it.
/// Returns `false` (leaving the placeholder) when the length does not fit the field.
pub fn patch_len(out: &mut [u8], at: usize, width: usize) -> bool {
    let len = out.len() - at - width;
    match width {
        1 if len <= 0xff => out[at] = len as u8,
        2 if len <= 0xffff => out[at..at + 2].copy_from_slice(&(len as u16).to_be_bytes()),
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_reader_reports_absolute_offsets() {
        let mut r = Reader::new(&[1, 2, 3, 4, 5]);
        r.u8("a").unwrap();
        let mut s = r.sub(3, "s").unwrap();
        assert_eq!(s.offset(), 1);
        s.u16("b").unwrap();
        let e = s.u16("c").unwrap_err();
        assert_eq!(
            e,
            Short {
                field: "c",
                offset: 3,
                needed: 2,
                remaining: 1
            }
        );
        assert_eq!(r.remaining(), 1);
    }

    #[test]
    fn take_past_end_fails_without_consuming() {
        let mut r = Reader::new(&[1, 2]);
        assert!(r.take(3, "x").is_err());
        assert_eq!(r.remaining(), 2);
    }

    #[test]
    fn patch_len_refuses_overflow() {
        let mut v = Vec::new();
        let at = len_placeholder(&mut v, 1);
        v.extend(std::iter::repeat_n(0u8, 256));
        assert!(!patch_len(&mut v, at, 1));
    }
}
