//! IPv4 / IPv6 unicast NLRI, with and without ADD-PATH path identifiers (RFC 4271 §4.3,
//! RFC 4760 §5, RFC 7911 §3).
//!
//! ```text
//! +--------------------------------+
//! | Path Identifier (4 octets)     |   only when ADD-PATH applies
//! +--------------------------------+
//! | Length (1 octet, in bits)      |
//! +--------------------------------+
//! | Prefix (variable)              |   ceil(Length / 8) octets
//! +--------------------------------+
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::codec::Reader;
use crate::iana::{Afi, Family};

/// An IPv4 prefix; bits past `len` are always zero.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Prefix {
    addr: u32,
    len: u8,
}

/// An IPv6 prefix; bits past `len` are always zero.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv6Prefix {
    addr: u128,
    len: u8,
}

/// A prefix length larger than the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("prefix length {len} is longer than the address ({max} bits)")]
pub struct PrefixLenError {
    /// The length given.
    pub len: u8,
    /// The address width.
    pub max: u8,
}

impl Ipv4Prefix {
    /// A prefix; host bits of `addr` are cleared.
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, PrefixLenError> {
        if len > 32 {
            return Err(PrefixLenError { len, max: 32 });
        }
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        Ok(Self {
            addr: u32::from(addr) & mask,
            len,
        })
    }
    /// The network address.
    pub fn addr(self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }
    /// The prefix length in bits.
    pub fn prefix_len(self) -> u8 {
        self.len
    }
    /// True for the default route 0.0.0.0/0.
    pub fn is_default(self) -> bool {
        self.len == 0
    }
}

impl Ipv6Prefix {
    /// A prefix; host bits of `addr` are cleared.
    pub fn new(addr: Ipv6Addr, len: u8) -> Result<Self, PrefixLenError> {
        if len > 128 {
            return Err(PrefixLenError { len, max: 128 });
        }
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        Ok(Self {
            addr: u128::from(addr) & mask,
            len,
        })
    }
    /// The network address.
    pub fn addr(self) -> Ipv6Addr {
        Ipv6Addr::from(self.addr)
    }
    /// The prefix length in bits.
    pub fn prefix_len(self) -> u8 {
        self.len
    }
    /// True for the default route ::/0.
    pub fn is_default(self) -> bool {
        self.len == 0
    }
}

/// An IPv4 or IPv6 prefix.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Prefix {
    /// IPv4.
    V4(Ipv4Prefix),
    /// IPv6.
    V6(Ipv6Prefix),
}

impl Prefix {
    /// A prefix from any address; host bits are cleared.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, PrefixLenError> {
        match addr {
            IpAddr::V4(a) => Ipv4Prefix::new(a, len).map(Prefix::V4),
            IpAddr::V6(a) => Ipv6Prefix::new(a, len).map(Prefix::V6),
        }
    }
    /// A host route (/32 or /128) for `addr`.
    pub fn host(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => Prefix::V4(Ipv4Prefix {
                addr: a.into(),
                len: 32,
            }),
            IpAddr::V6(a) => Prefix::V6(Ipv6Prefix {
                addr: a.into(),
                len: 128,
            }),
        }
    }
    /// The network address.
    pub fn addr(self) -> IpAddr {
        match self {
            Prefix::V4(p) => p.addr().into(),
            Prefix::V6(p) => p.addr().into(),
        }
    }
    /// The prefix length in bits.
    pub fn prefix_len(self) -> u8 {
        match self {
            Prefix::V4(p) => p.len,
            Prefix::V6(p) => p.len,
        }
    }
    /// True for 0.0.0.0/0 and ::/0.
    pub fn is_default(self) -> bool {
        self.prefix_len() == 0
    }
    /// The unicast family this prefix belongs to.
    pub fn family(self) -> Family {
        match self {
            Prefix::V4(_) => Family::IPV4_UNICAST,
            Prefix::V6(_) => Family::IPV6_UNICAST,
        }
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len)
    }
}
impl fmt::Debug for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len)
    }
}
impl fmt::Debug for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prefix::V4(p) => fmt::Display::fmt(p, f),
            Prefix::V6(p) => fmt::Display::fmt(p, f),
        }
    }
}
impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Prefix {
    type Err = String;
    /// Parses `addr/len`, or a bare address as a host route.
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("'{a}' is not an IP address"))?;
        match l {
            None => Ok(Prefix::host(addr)),
            Some(l) => {
                let len: u8 = l
                    .parse()
                    .map_err(|_| format!("'{l}' is not a prefix length"))?;
                Prefix::new(addr, len).map_err(|e| e.to_string())
            }
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Prefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One NLRI entry: a prefix and, with ADD-PATH, its path identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Nlri {
    /// RFC 7911 path identifier, present exactly when ADD-PATH applies to this direction.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub path_id: Option<u32>,
    /// The prefix.
    pub prefix: Prefix,
}

impl Nlri {
    /// A prefix without a path identifier.
    pub fn new(prefix: Prefix) -> Self {
        Nlri {
            path_id: None,
            prefix,
        }
    }
    /// Bytes this entry takes on the wire.
    pub fn encoded_len(&self) -> usize {
        self.path_id.map_or(0, |_| 4) + 1 + (self.prefix.prefix_len() as usize).div_ceil(8)
    }
    /// Appends the wire form.
    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Some(id) = self.path_id {
            out.extend_from_slice(&id.to_be_bytes());
        }
        let len = self.prefix.prefix_len();
        let n = (len as usize).div_ceil(8);
        out.push(len);
        match self.prefix {
            Prefix::V4(p) => out.extend_from_slice(&p.addr.to_be_bytes()[..n]),
            Prefix::V6(p) => out.extend_from_slice(&p.addr.to_be_bytes()[..n]),
        }
    }
}

/// A malformed NLRI field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NlriError {
    /// The prefix length is longer than the address family allows.
    #[error("prefix length {len} exceeds {max} at offset {offset}")]
    PrefixTooLong {
        /// The length octet.
        len: u8,
        /// Largest valid length.
        max: u8,
        /// Offset of the length octet.
        offset: usize,
    },
    /// The field ends inside an entry.
    #[error("NLRI truncated at offset {offset}")]
    Truncated {
        /// Offset where the entry starts.
        offset: usize,
    },
}

impl NlriError {
    /// Offset of the offending entry.
    pub fn offset(&self) -> usize {
        match self {
            NlriError::PrefixTooLong { offset, .. } | NlriError::Truncated { offset } => *offset,
        }
    }
}

/// Decodes a whole NLRI field of `afi` (IPv4 or IPv6) into `out`.
///
/// Appends to `out` so that callers can reuse one buffer. A first pass checks the field and
/// counts its entries ([`count_nlri`]), so exactly that many are reserved: a peer cannot make
/// us allocate more than one entry per entry it sent, and the second pass runs without error
/// paths.
pub fn decode_nlri(
    r: &mut Reader<'_>,
    afi: Afi,
    add_path: bool,
    out: &mut Vec<Nlri>,
) -> Result<(), NlriError> {
    let base = r.offset();
    let buf = r.peek_rest();
    let count = count_nlri(buf, afi, add_path).map_err(|e| match e {
        NlriError::PrefixTooLong { len, max, offset } => NlriError::PrefixTooLong {
            len,
            max,
            offset: base + offset,
        },
        NlriError::Truncated { offset } => NlriError::Truncated {
            offset: base + offset,
        },
    })?;
    r.rest();
    out.reserve(count);
    if afi == Afi::IPV6 {
        decode_checked::<16>(buf, add_path, out);
    } else {
        decode_checked::<4>(buf, add_path, out);
    }
    Ok(())
}

/// The second pass of [`decode_nlri`] over a field that [`count_nlri`] accepted. `W` is the
/// address width in bytes. Where `W` bytes remain the address is read whole and the bits past
/// the prefix length masked off (they belong to the next entry or are host bits), which
/// avoids a variable-length copy per entry.
#[inline(always)]
fn decode_checked<const W: usize>(buf: &[u8], add_path: bool, out: &mut Vec<Nlri>) {
    let mut i = 0usize;
    while i < buf.len() {
        let path_id = if add_path {
            let id = u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
            i += 4;
            Some(id)
        } else {
            None
        };
        let len = buf[i];
        i += 1;
        let n = (len as usize).div_ceil(8);
        let mut a = [0u8; W];
        match buf.get(i..i + W) {
            Some(whole) => a.copy_from_slice(whole),
            None => a[..n].copy_from_slice(&buf[i..i + n]),
        }
        i += n;
        let prefix = if W == 4 {
            // the top `len` bits, without a branch for len == 0
            let mask = (0xffff_ffff_0000_0000u64 >> len) as u32;
            let v = u32::from_be_bytes([a[0], a[1], a[2], a[3]]);
            Prefix::V4(Ipv4Prefix {
                addr: v & mask,
                len,
            })
        } else {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            let mut b = [0u8; 16];
            b.copy_from_slice(&a[..16]);
            Prefix::V6(Ipv6Prefix {
                addr: u128::from_be_bytes(b) & mask,
                len,
            })
        };
        out.push(Nlri { path_id, prefix });
    }
}

/// Counts the entries of an NLRI field and checks it is well formed, without storing
/// anything: what a speaker that validates but does not keep received routes needs.
pub fn count_nlri(buf: &[u8], afi: Afi, add_path: bool) -> Result<usize, NlriError> {
    let max: u8 = if afi == Afi::IPV6 { 128 } else { 32 };
    let (mut i, mut n) = (0usize, 0usize);
    while i < buf.len() {
        let start = i;
        if add_path {
            i += 4;
        }
        let Some(&len) = buf.get(i) else {
            return Err(NlriError::Truncated { offset: start });
        };
        if len > max {
            return Err(NlriError::PrefixTooLong {
                len,
                max,
                offset: i,
            });
        }
        i += 1 + (len as usize).div_ceil(8);
        if i > buf.len() {
            return Err(NlriError::Truncated { offset: start });
        }
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn decodes_and_masks_host_bits() {
        // 10.1.2.0/23 sent with a stray host bit in its last octet, the default route, a /32
        let b = [23, 10, 1, 3, 0, 32, 203, 0, 113, 7];
        let mut out = Vec::new();
        decode_nlri(&mut Reader::new(&b), Afi::IPV4, false, &mut out).unwrap();
        let want: Vec<Nlri> = ["10.1.2.0/23", "0.0.0.0/0", "203.0.113.7/32"]
            .iter()
            .map(|s| Nlri::new(p(s)))
            .collect();
        assert_eq!(out, want);
        assert_eq!(count_nlri(&b, Afi::IPV4, false), Ok(3));
    }

    #[test]
    fn rejects_ipv4_prefix_longer_than_32() {
        let e = decode_nlri(
            &mut Reader::new(&[33, 1, 2, 3, 4, 5]),
            Afi::IPV4,
            false,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(
            e,
            NlriError::PrefixTooLong {
                len: 33,
                max: 32,
                offset: 0
            }
        );
    }

    #[test]
    fn add_path_ids_round_trip() {
        let n = Nlri {
            path_id: Some(7),
            prefix: p("2001:db8::/32"),
        };
        let mut b = Vec::new();
        n.encode(&mut b);
        assert_eq!(b, [0, 0, 0, 7, 32, 0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(b.len(), n.encoded_len());
        let mut out = Vec::new();
        decode_nlri(&mut Reader::new(&b), Afi::IPV6, true, &mut out).unwrap();
        assert_eq!(out, vec![n]);
        assert_eq!(count_nlri(&b, Afi::IPV6, true), Ok(1));
    }

    #[test]
    fn every_strict_prefix_is_truncated() {
        let b = [0, 0, 0, 1, 24, 10, 1, 2];
        for cut in 1..b.len() {
            assert!(decode_nlri(
                &mut Reader::new(&b[..cut]),
                Afi::IPV4,
                true,
                &mut Vec::new()
            )
            .is_err());
            assert!(count_nlri(&b[..cut], Afi::IPV4, true).is_err());
        }
    }
}
