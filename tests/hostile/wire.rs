//! Bytes for the raw client: well-formed messages through `bgp_wire`'s encoder, and the
//! pieces (header, attributes, NLRI) to hand-build malformed ones.

use std::net::Ipv4Addr;

use bgp_wire::framing::MARKER;
use bgp_wire::message::{Message, OpenMsg};
use bgp_wire::{CodecContext, Family};

/// Message type codes (RFC 4271 §4.1, RFC 2918 §3).
pub const OPEN: u8 = 0x01;
/// UPDATE.
pub const UPDATE: u8 = 0x02;
/// NOTIFICATION.
pub const NOTIFICATION: u8 = 0x03;
/// KEEPALIVE.
pub const KEEPALIVE: u8 = 0x04;
/// ROUTE-REFRESH.
pub const ROUTE_REFRESH: u8 = 0x05;

/// Attribute flags (RFC 4271 §4.3).
pub const OPTIONAL: u8 = 0x80;
/// Transitive.
pub const TRANSITIVE: u8 = 0x40;
/// Extended length: a 2-octet length field.
pub const EXTENDED_LENGTH: u8 = 0x10;

/// Attribute type codes.
pub const ORIGIN: u8 = 0x01;
/// AS_PATH.
pub const AS_PATH: u8 = 0x02;
/// NEXT_HOP.
pub const NEXT_HOP: u8 = 0x03;
/// MP_REACH_NLRI (RFC 4760).
pub const MP_REACH_NLRI: u8 = 0x0e;

/// An OPEN as a well-behaved neighbor sends it: IPv4 unicast, route refresh, 4-octet AS.
pub fn open(asn: u32, bgp_id: Ipv4Addr, hold: u16) -> OpenMsg {
    OpenMsg::builder(asn, bgp_id)
        .hold_time(hold)
        .family(Family::IPV4_UNICAST)
        .route_refresh()
        .build()
}

/// `message` encoded before any negotiation (2-octet AS, 4096-byte limit).
pub fn encode(message: &Message) -> Vec<u8> {
    message
        .to_bytes(&CodecContext::default())
        .expect("test message encodes")
}

/// A header of `length` and `kind` followed by `body`, with the length taken as given (so a
/// test can lie about it).
pub fn raw_message(length: u16, kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = MARKER.to_vec();
    out.extend_from_slice(&length.to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    out
}

/// A message of `kind` with `body` and the correct length.
pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(19 + body.len()).expect("test message fits 65535 bytes");
    raw_message(len, kind, body)
}

/// A KEEPALIVE.
pub fn keepalive() -> Vec<u8> {
    message(KEEPALIVE, &[])
}

/// One path attribute; the extended-length flag is set when the value needs it.
pub fn attribute(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if value.len() > 0xff {
        out.extend_from_slice(&[flags | EXTENDED_LENGTH, code]);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[flags, code, value.len() as u8]);
    }
    out.extend_from_slice(value);
    out
}

/// ORIGIN with `value` (0 IGP, 1 EGP, 2 INCOMPLETE; anything else is malformed).
pub fn origin(value: u8) -> Vec<u8> {
    attribute(TRANSITIVE, ORIGIN, &[value])
}

/// AS_PATH of one AS_SEQUENCE of 4-octet AS numbers.
pub fn as_path(asns: &[u32]) -> Vec<u8> {
    let mut v = vec![0x02, asns.len() as u8];
    for a in asns {
        v.extend_from_slice(&a.to_be_bytes());
    }
    attribute(TRANSITIVE, AS_PATH, &v)
}

/// NEXT_HOP.
pub fn next_hop(addr: Ipv4Addr) -> Vec<u8> {
    attribute(TRANSITIVE, NEXT_HOP, &addr.octets())
}

/// An MP_REACH_NLRI for IPv4 unicast with `next_hop` and the NLRI bytes `nlri`.
pub fn mp_reach_v4(next_hop: Ipv4Addr, nlri: &[u8]) -> Vec<u8> {
    let mut v = vec![0x00, 0x01, 0x01, 0x04];
    v.extend_from_slice(&next_hop.octets());
    v.push(0x00);
    v.extend_from_slice(nlri);
    attribute(OPTIONAL, MP_REACH_NLRI, &v)
}

/// One IPv4 NLRI entry: the length and as many address octets as it covers. `len` is
/// taken as given, so a test can ask for /33.
pub fn nlri(addr: Ipv4Addr, len: u8) -> Vec<u8> {
    let n = (len as usize).div_ceil(8).min(4);
    let mut out = vec![len];
    out.extend_from_slice(&addr.octets()[..n]);
    out
}

/// An UPDATE with no withdrawn routes, the attribute bytes `attributes` and NLRI `nlri`.
pub fn update(attributes: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, 0x00];
    body.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
    body.extend_from_slice(attributes);
    body.extend_from_slice(nlri);
    message(UPDATE, &body)
}

/// A valid eBGP UPDATE announcing `nlri` from `asn` via `next_hop` (4-octet AS_PATH).
pub fn valid_update(asn: u32, next_hop_addr: Ipv4Addr, nlri: &[u8]) -> Vec<u8> {
    let attrs = [origin(0), as_path(&[asn]), next_hop(next_hop_addr)].concat();
    update(&attrs, nlri)
}

/// A ROUTE-REFRESH for `afi`/`safi` (RFC 2918 §3; reserved/subtype octet 0).
pub fn route_refresh(afi: u16, safi: u8) -> Vec<u8> {
    let mut body = afi.to_be_bytes().to_vec();
    body.extend_from_slice(&[0x00, safi]);
    message(ROUTE_REFRESH, &body)
}
