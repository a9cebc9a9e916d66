//! Pool address syntax: a single IP, a CIDR, or an `a-b` range, IPv4 or IPv6.
//!
//! The grammar (whitespace is not allowed anywhere, as in OpenELB where the address goes straight
//! to Go's `net.ParseIP` / `net.ParseCIDR`):
//!
//! ```text
//! pool-address = ip [ "/" prefix-length / "-" ip ]
//! ip           = 1*( HEXDIG / "." / ":" )      ; then checked by std's IpAddr parser
//! ```
//!
//! Addresses are kept as `u128` (an IPv4 address is its 32-bit value), so an IPv6 /64 with 2^64
//! addresses is two numbers, never an enumeration.
//!
//! A CIDR with host bits set (`203.0.113.7/24`) is accepted and normalised to its network
//! (`203.0.113.0/24`), because that is what Go's `net.ParseCIDR`, and so OpenELB, does with an
//! existing Eip; rejecting it would turn a working OpenELB pool invalid on migration.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nom::branch::alt;
use nom::bytes::complete::take_while1;
use nom::character::complete::{char, digit1};
use nom::combinator::{cut, eof, opt};
use nom::error::ErrorKind;
use nom::sequence::preceded;
use nom::{IResult, Parser};

use super::error::AddressError;

/// An IP address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }

    /// Address width in bits (32 or 128): also the longest prefix length.
    pub fn bits(self) -> u8 {
        match self {
            IpFamily::V4 => 32,
            IpFamily::V6 => 128,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        })
    }
}

/// How a pool address was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressForm {
    /// One address, e.g. `203.0.113.10`.
    Single,
    /// A CIDR block with its prefix length, e.g. `203.0.113.0/24`.
    Cidr {
        /// The prefix length after the `/`.
        prefix_len: u8,
    },
    /// An inclusive range, e.g. `203.0.113.10-203.0.113.20`.
    Range,
}

/// A parsed pool address: the whole block it names and the part of it that may be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolAddress {
    family: IpFamily,
    form: AddressForm,
    /// First and last address of the whole block (network and broadcast included).
    span: (u128, u128),
    /// First and last address that may be allocated.
    usable: (u128, u128),
}

impl PoolAddress {
    /// Parse `text` as a pool address.
    ///
    /// Unless `using_known_ips` is set, an IPv4 CIDR shorter than /31 loses its network and
    /// broadcast addresses (RFC 3021 makes both addresses of a /31 usable; a /32 has only one).
    /// IPv6 has no broadcast address, and ranges and single addresses are taken as written.
    pub fn parse(text: &str, using_known_ips: bool) -> Result<Self, AddressError> {
        let syntax = parse_syntax(text)?;
        let start = parse_ip(syntax.start)?;
        let family = IpFamily::of(start);
        let first = to_u128(start);
        let (form, span) = match syntax.tail {
            None => (AddressForm::Single, (first, first)),
            Some(Tail::End(end_text)) => {
                let end = parse_ip(end_text)?;
                if IpFamily::of(end) != family {
                    return Err(AddressError::MixedFamilies { start, end });
                }
                let last = to_u128(end);
                if last < first {
                    return Err(AddressError::RangeStartAfterEnd { start, end });
                }
                (AddressForm::Range, (first, last))
            }
            Some(Tail::Prefix(prefix_text)) => {
                let max = family.bits();
                // At most three digits fit any valid prefix; longer text cannot be one.
                let prefix_len = match prefix_text.parse::<u8>() {
                    Ok(p) if prefix_text.len() <= 3 && p <= max => p,
                    _ => {
                        return Err(AddressError::PrefixTooLong {
                            prefix: prefix_text.to_owned(),
                            family,
                            max,
                        })
                    }
                };
                let host_bits = u32::from(max - prefix_len);
                let host_mask = low_mask(host_bits);
                let network = first & !host_mask;
                (
                    AddressForm::Cidr { prefix_len },
                    (network, network | host_mask),
                )
            }
        };
        if span.0 == 0 && span.1 == u128::MAX {
            // 2^128 addresses do not fit the u128 pool size.
            return Err(AddressError::TooLarge);
        }
        let usable = match form {
            AddressForm::Cidr { prefix_len }
                if family == IpFamily::V4 && prefix_len < 31 && !using_known_ips =>
            {
                (span.0 + 1, span.1 - 1)
            }
            _ => span,
        };
        Ok(PoolAddress {
            family,
            form,
            span,
            usable,
        })
    }

    /// The address family of the pool.
    pub fn family(&self) -> IpFamily {
        self.family
    }

    /// How the address was written.
    pub fn form(&self) -> AddressForm {
        self.form
    }

    /// First address of the whole block (a CIDR's network address).
    pub fn span_first(&self) -> IpAddr {
        from_u128(self.family, self.span.0)
    }

    /// Last address of the whole block (an IPv4 CIDR's broadcast address).
    pub fn span_last(&self) -> IpAddr {
        from_u128(self.family, self.span.1)
    }

    /// First address that may be allocated (`status.firstIP`).
    pub fn first(&self) -> IpAddr {
        from_u128(self.family, self.usable.0)
    }

    /// Last address that may be allocated (`status.lastIP`).
    pub fn last(&self) -> IpAddr {
        from_u128(self.family, self.usable.1)
    }

    /// Number of addresses that may be allocated (`status.poolSize`).
    pub fn size(&self) -> u128 {
        // Cannot overflow: parse() rejects the one span of 2^128 addresses, and `usable` is
        // never wider than `span`.
        self.usable.1 - self.usable.0 + 1
    }

    /// Whether `ip` may be allocated from this pool.
    pub fn contains(&self, ip: IpAddr) -> bool {
        IpFamily::of(ip) == self.family && {
            let v = to_u128(ip);
            self.usable.0 <= v && v <= self.usable.1
        }
    }

    /// Whether `ip` lies in the whole block (including network and broadcast addresses).
    pub fn spans(&self, ip: IpAddr) -> bool {
        IpFamily::of(ip) == self.family && {
            let v = to_u128(ip);
            self.span.0 <= v && v <= self.span.1
        }
    }

    /// Whether the whole blocks of two pools share at least one address.
    pub fn overlaps(&self, other: &PoolAddress) -> bool {
        self.family == other.family && self.span.0 <= other.span.1 && other.span.0 <= self.span.1
    }

    pub(crate) fn usable_bounds(&self) -> (u128, u128) {
        self.usable
    }

    pub(crate) fn span_bounds(&self) -> (u128, u128) {
        self.span
    }
}

/// The numeric value of an address: IPv4 in the low 32 bits, IPv6 in all 128.
pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The address of `family` with numeric value `value` (an IPv4 value is truncated to 32 bits;
/// callers only pass values taken from a pool of that family).
pub fn from_u128(family: IpFamily, value: u128) -> IpAddr {
    match family {
        IpFamily::V4 => IpAddr::V4(Ipv4Addr::from(value as u32)),
        IpFamily::V6 => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// `bits` low bits set (`bits` ≤ 128).
fn low_mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// What follows the first address.
enum Tail<'a> {
    /// `/` and the prefix digits.
    Prefix(&'a str),
    /// `-` and the range end address.
    End(&'a str),
}

/// The syntax tree of a pool address; the tokens are checked afterwards.
struct Syntax<'a> {
    start: &'a str,
    tail: Option<Tail<'a>>,
}

fn ip_token(input: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_hexdigit() || c == '.' || c == ':').parse(input)
}

fn tail(input: &str) -> IResult<&str, Tail<'_>> {
    alt((
        // After a separator, the next token is required: `cut` turns its absence into a hard
        // error located right after the separator instead of "unexpected '-'".
        preceded(char('/'), cut(digit1)).map(Tail::Prefix),
        preceded(char('-'), cut(ip_token)).map(Tail::End),
    ))
    .parse(input)
}

fn syntax(input: &str) -> IResult<&str, Syntax<'_>> {
    let (rest, (start, tail, _)) = (ip_token, opt(tail), eof).parse(input)?;
    Ok((rest, Syntax { start, tail }))
}

fn parse_syntax(text: &str) -> Result<Syntax<'_>, AddressError> {
    if text.is_empty() {
        return Err(AddressError::Empty);
    }
    match syntax(text) {
        Ok((_, s)) => Ok(s),
        Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => {
            let offset = text.len() - e.input.len();
            let column = text[..offset].chars().count() + 1;
            let expected = match e.code {
                ErrorKind::Digit => "a prefix length",
                ErrorKind::Eof => "'/', '-' or the end of the address",
                _ => "an IP address",
            };
            Err(AddressError::Syntax {
                column,
                found: e.input.chars().next(),
                expected,
            })
        }
        // Complete parsers never ask for more input.
        Err(nom::Err::Incomplete(_)) => Err(AddressError::Empty),
    }
}

fn parse_ip(token: &str) -> Result<IpAddr, AddressError> {
    token.parse::<IpAddr>().map_err(|_| AddressError::BadIp {
        text: token.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn err(text: &str) -> String {
        PoolAddress::parse(text, false).unwrap_err().to_string()
    }

    #[test]
    fn parses_single_ipv4() {
        let a = PoolAddress::parse("203.0.113.10", false).unwrap();
        assert_eq!(a.form(), AddressForm::Single);
        assert_eq!(a.family(), IpFamily::V4);
        assert_eq!(
            (a.first(), a.last(), a.size()),
            (ip("203.0.113.10"), ip("203.0.113.10"), 1)
        );
    }

    #[test]
    fn parses_range_inclusive() {
        let a = PoolAddress::parse("203.0.113.10-203.0.113.20", false).unwrap();
        assert_eq!(a.form(), AddressForm::Range);
        assert_eq!(a.size(), 11);
        assert_eq!(a.first(), ip("203.0.113.10"));
        assert_eq!(a.last(), ip("203.0.113.20"));
    }

    #[test]
    fn range_crossing_octet_boundary_keeps_all_addresses() {
        // A range is taken as written: .0 and .255 inside it are ordinary addresses.
        let a = PoolAddress::parse("198.51.100.250-198.51.101.5", false).unwrap();
        assert_eq!(a.size(), 12);
        assert!(a.contains(ip("198.51.101.0")));
        assert!(a.contains(ip("198.51.100.255")));
    }

    #[test]
    fn skips_network_and_broadcast() {
        let a = PoolAddress::parse("203.0.113.0/24", false).unwrap();
        assert_eq!(a.size(), 254);
        assert_eq!(a.first(), ip("203.0.113.1"));
        assert_eq!(a.last(), ip("203.0.113.254"));
        assert!(!a.contains(ip("203.0.113.0")));
        assert!(!a.contains(ip("203.0.113.255")));
        assert!(a.spans(ip("203.0.113.255")));
        assert_eq!(a.span_first(), ip("203.0.113.0"));
        assert_eq!(a.span_last(), ip("203.0.113.255"));
    }

    #[test]
    fn using_known_ips_keeps_network_and_broadcast() {
        let a = PoolAddress::parse("203.0.113.0/24", true).unwrap();
        assert_eq!(a.size(), 256);
        assert_eq!(a.first(), ip("203.0.113.0"));
        assert_eq!(a.last(), ip("203.0.113.255"));
    }

    #[test]
    fn slash_31_and_slash_32_use_every_address() {
        let a = PoolAddress::parse("203.0.113.4/31", false).unwrap();
        assert_eq!(
            (a.first(), a.last(), a.size()),
            (ip("203.0.113.4"), ip("203.0.113.5"), 2)
        );
        let b = PoolAddress::parse("203.0.113.9/32", false).unwrap();
        assert_eq!(b.size(), 1);
        let c = PoolAddress::parse("203.0.113.8/30", false).unwrap();
        assert_eq!(
            (c.first(), c.last(), c.size()),
            (ip("203.0.113.9"), ip("203.0.113.10"), 2)
        );
    }

    #[test]
    fn ipv6_slash_64_pool_size() {
        let a = PoolAddress::parse("2001:db8:1::/64", false).unwrap();
        assert_eq!(a.family(), IpFamily::V6);
        assert_eq!(a.size(), 1u128 << 64);
        // No broadcast in IPv6: the subnet's first and last addresses are usable.
        assert_eq!(a.first(), ip("2001:db8:1::"));
        assert_eq!(a.last(), ip("2001:db8:1:0:ffff:ffff:ffff:ffff"));
    }

    #[test]
    fn ipv6_range_and_single() {
        let a = PoolAddress::parse("2001:db8::10-2001:db8::1f", false).unwrap();
        assert_eq!(a.size(), 16);
        let b = PoolAddress::parse("2001:DB8::1", false).unwrap();
        assert_eq!(b.first(), ip("2001:db8::1"));
    }

    #[test]
    fn normalises_cidr_with_host_bits() {
        let a = PoolAddress::parse("203.0.113.77/24", false).unwrap();
        assert_eq!(a.span_first(), ip("203.0.113.0"));
        assert_eq!(a.first(), ip("203.0.113.1"));
    }

    #[test]
    fn huge_ipv4_and_ipv6_blocks() {
        let a = PoolAddress::parse("0.0.0.0/0", false).unwrap();
        assert_eq!(a.size(), (1u128 << 32) - 2);
        let b = PoolAddress::parse("8000::/1", false).unwrap();
        assert_eq!(b.size(), 1u128 << 127);
        assert_eq!(
            err("::/0"),
            "a pool of all 2^128 IPv6 addresses is not supported"
        );
    }

    #[test]
    fn rejects_range_start_after_end() {
        assert_eq!(
            err("203.0.113.10-203.0.113.1"),
            "203.0.113.10-203.0.113.1: range start after end"
        );
    }

    #[test]
    fn rejects_mixed_families() {
        assert_eq!(
            err("203.0.113.1-2001:db8::1"),
            "203.0.113.1-2001:db8::1: range mixes IPv4 and IPv6"
        );
    }

    #[test]
    fn rejects_prefix_too_long() {
        assert_eq!(
            err("203.0.113.0/33"),
            "prefix length /33 is too long for IPv4 (at most /32)"
        );
        assert_eq!(
            err("2001:db8::/129"),
            "prefix length /129 is too long for IPv6 (at most /128)"
        );
        assert!(err("2001:db8::/0000000000064").contains("too long"));
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(err(""), "empty address");
        assert_eq!(err("203.0.113.300"), "not an IP address: \"203.0.113.300\"");
        assert_eq!(
            err("pool"),
            "unexpected 'p' at column 1, expected an IP address"
        );
        assert_eq!(
            err(" 203.0.113.1"),
            "unexpected ' ' at column 1, expected an IP address"
        );
        assert_eq!(
            err("203.0.113.1 - 203.0.113.2"),
            "unexpected ' ' at column 12, expected '/', '-' or the end of the address"
        );
        assert_eq!(
            err("203.0.113.1-"),
            "unexpected end of address at column 13, expected an IP address"
        );
        assert_eq!(
            err("203.0.113.0/"),
            "unexpected end of address at column 13, expected a prefix length"
        );
        assert_eq!(
            err("203.0.113.0/24x"),
            "unexpected 'x' at column 15, expected '/', '-' or the end of the address"
        );
        assert_eq!(
            err("203.0.113.0/-1"),
            "unexpected '-' at column 13, expected a prefix length"
        );
        assert_eq!(
            err("fe80::1%eth0"),
            "unexpected '%' at column 8, expected '/', '-' or the end of the address"
        );
        assert!(err("203.0.113.1-203.0.113.2-203.0.113.3").contains("column 24"));
        assert!(err("203.0.113.0/24/25").contains("column 15"));
        assert!(err("1.2.3.4ü").contains("'ü' at column 8"));
    }

    #[test]
    fn overlap_uses_whole_blocks() {
        let a = PoolAddress::parse("203.0.113.0/24", false).unwrap();
        let b = PoolAddress::parse("203.0.113.255", false).unwrap();
        let c = PoolAddress::parse("203.0.114.0-203.0.114.9", false).unwrap();
        let d = PoolAddress::parse("2001:db8::/64", false).unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
        assert!(!a.overlaps(&d));
    }

    #[test]
    fn u128_round_trip() {
        for s in [
            "0.0.0.0",
            "255.255.255.255",
            "203.0.113.7",
            "::",
            "2001:db8::ffff",
        ] {
            let a = ip(s);
            assert_eq!(from_u128(IpFamily::of(a), to_u128(a)), a);
        }
    }
}
