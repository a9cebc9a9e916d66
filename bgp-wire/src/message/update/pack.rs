//! Packing many routes that share one attribute set into as few UPDATE messages as fit.
//!
//! The speaker's Adj-RIB-Out groups routes by attribute set; for each group it calls
//! [`encode_announcements`] (and [`encode_withdrawals`] for removed routes) and writes the
//! resulting messages, each whole with its header and within the negotiated maximum length
//! (RFC 4271 §4.1, RFC 8654). The attribute set is encoded once; each message is sized
//! before it is allocated, so a prefix is touched twice (measure, copy) and nothing is
//! re-encoded.
//!
//! Layout choices: IPv4 unicast with an IPv4 next hop uses the NEXT_HOP attribute and the
//! NLRI field; IPv6 unicast, and IPv4 with an IPv6 next hop (RFC 8950), use MP_REACH_NLRI,
//! encoded as the very first attribute (RFC 7606 §5.1: it "SHALL be encoded as the very
//! first path attribute"); the other attributes follow in ascending type order (RFC 4271 §5:
//! "SHOULD order path attributes within the UPDATE message in ascending order of attribute
//! type").

use crate::attribute::decode::is_decoded_family;
use crate::attribute::encode::{
    next_hop_len, nlri_len, put_family, put_next_hop, put_nlri, NLRI_SLACK,
};
use crate::attribute::{MpNextHop, PathAttribute};
use crate::context::CodecContext;
use crate::framing::{HEADER_LEN, MARKER};
use crate::iana::{attr_flags, AttrType, Family};
use crate::message::EncodeError;
use crate::nlri::Nlri;

/// Header, Withdrawn Routes Length and Total Path Attribute Length.
const FIXED: usize = HEADER_LEN + 2 + 2;

/// Encodes UPDATE messages announcing `nlri` of `family` with `attrs` and `next_hop`,
/// appending each whole message (header included) to `out`.
///
/// `attrs` must not hold MP_REACH_NLRI or MP_UNREACH_NLRI (they are built here); a NEXT_HOP
/// in it is ignored in favour of `next_hop`. ORIGIN and AS_PATH are required. Each prefix
/// must belong to `family` (IPv4 or IPv6 unicast). On error nothing is appended.
pub fn encode_announcements(
    attrs: &[PathAttribute],
    family: Family,
    next_hop: MpNextHop,
    nlri: &[Nlri],
    ctx: &CodecContext,
    out: &mut Vec<Vec<u8>>,
) -> Result<(), EncodeError> {
    check_family(family, nlri)?;
    let mut sorted: Vec<&PathAttribute> = attrs
        .iter()
        .filter(|a| !matches!(a, PathAttribute::NextHop(_)))
        .collect();
    sorted.sort_by_key(|a| a.type_code());
    for w in sorted.windows(2) {
        if w[0].type_code() == w[1].type_code() {
            return Err(invalid("an attribute appears twice"));
        }
    }
    for a in &sorted {
        if matches!(a, PathAttribute::MpReach(_) | PathAttribute::MpUnreach(_)) {
            return Err(invalid(
                "MP_REACH_NLRI / MP_UNREACH_NLRI are built by the packer",
            ));
        }
    }
    let has = |t| sorted.iter().any(|a| a.type_code() == t);
    if !has(AttrType::ORIGIN) || !has(AttrType::AS_PATH) {
        return Err(invalid("ORIGIN and AS_PATH are mandatory (RFC 4271 §5)"));
    }
    let nlri_field = match (family, next_hop) {
        (Family::IPV4_UNICAST, MpNextHop::V4(_)) => true,
        (_, MpNextHop::V6 { .. }) => false,
        _ => return Err(invalid("IPv4 next hop for IPv6 NLRI")),
    };
    let mut attr_bytes = Vec::with_capacity(64);
    // NEXT_HOP (type 3) goes in its place in ascending order
    let mut next_hop_due = nlri_field;
    for a in &sorted {
        if next_hop_due && a.type_code() > AttrType::NEXT_HOP {
            put_next_hop_attr(next_hop, &mut attr_bytes);
            next_hop_due = false;
        }
        a.encode(ctx, &mut attr_bytes)?;
    }
    if next_hop_due {
        put_next_hop_attr(next_hop, &mut attr_bytes);
    }
    let add_path = ctx.add_path.contains(family);
    let max = ctx.max_message_len();
    let start = out.len();
    let res = if nlri_field {
        pack(
            nlri,
            add_path,
            max,
            FIXED + attr_bytes.len(),
            out,
            |m, _, chunk| {
                m.extend_from_slice(&[0, 0]);
                m.extend_from_slice(&(attr_bytes.len() as u16).to_be_bytes());
                m.extend_from_slice(&attr_bytes);
                for n in chunk {
                    put_nlri(n, add_path, m);
                }
            },
        )
    } else {
        let nh = next_hop_len(&next_hop);
        // AFI, SAFI, next hop length, next hop, reserved
        let mp_fixed = 3 + 1 + nh + 1;
        // reserve the extended length header; a short attribute gives back a byte
        let fixed = FIXED + 4 + mp_fixed + attr_bytes.len();
        pack(nlri, add_path, max, fixed, out, |m, nlri_len, chunk| {
            let value_len = mp_fixed + nlri_len;
            m.extend_from_slice(&[0, 0]);
            let header = if value_len > 0xff { 4 } else { 3 };
            m.extend_from_slice(&((header + value_len + attr_bytes.len()) as u16).to_be_bytes());
            put_attr_header(attr_flags::OPTIONAL, AttrType::MP_REACH_NLRI, value_len, m);
            put_family(family, m);
            put_next_hop(&next_hop, m);
            m.push(0);
            for n in chunk {
                put_nlri(n, add_path, m);
            }
            m.extend_from_slice(&attr_bytes);
        })
    };
    if res.is_err() {
        out.truncate(start);
    }
    res
}

/// Encodes UPDATE messages withdrawing `nlri` of `family` (the Withdrawn Routes field for
/// IPv4 unicast, MP_UNREACH_NLRI for IPv6 unicast), appending each whole message to `out`.
/// On error nothing is appended.
pub fn encode_withdrawals(
    family: Family,
    nlri: &[Nlri],
    ctx: &CodecContext,
    out: &mut Vec<Vec<u8>>,
) -> Result<(), EncodeError> {
    check_family(family, nlri)?;
    let add_path = ctx.add_path.contains(family);
    let max = ctx.max_message_len();
    let start = out.len();
    let res = if family == Family::IPV4_UNICAST {
        pack(nlri, add_path, max, FIXED, out, |m, nlri_len, chunk| {
            m.extend_from_slice(&(nlri_len as u16).to_be_bytes());
            for n in chunk {
                put_nlri(n, add_path, m);
            }
            m.extend_from_slice(&[0, 0]);
        })
    } else {
        pack(
            nlri,
            add_path,
            max,
            FIXED + 4 + 3,
            out,
            |m, nlri_len, chunk| {
                let value_len = 3 + nlri_len;
                let header = if value_len > 0xff { 4 } else { 3 };
                m.extend_from_slice(&[0, 0]);
                m.extend_from_slice(&((header + value_len) as u16).to_be_bytes());
                put_attr_header(
                    attr_flags::OPTIONAL,
                    AttrType::MP_UNREACH_NLRI,
                    value_len,
                    m,
                );
                put_family(family, m);
                for n in chunk {
                    put_nlri(n, add_path, m);
                }
            },
        )
    };
    if res.is_err() {
        out.truncate(start);
    }
    res
}

/// Splits `nlri` greedily into messages of at most `max` bytes, `fixed` of which are taken
/// by everything but the NLRI (counting an MP attribute header as 4 bytes). `body` appends
/// what follows the message header, given the chunk's NLRI byte count and the chunk.
fn pack(
    nlri: &[Nlri],
    add_path: bool,
    max: usize,
    fixed: usize,
    out: &mut Vec<Vec<u8>>,
    mut body: impl FnMut(&mut Vec<u8>, usize, &[Nlri]),
) -> Result<(), EncodeError> {
    if fixed > max {
        return Err(EncodeError::TooLong { len: fixed, max });
    }
    let room = max - fixed;
    let mut i = 0;
    while i < nlri.len() {
        let mut used = 0;
        let mut j = i;
        while j < nlri.len() {
            let l = nlri_len(&nlri[j], add_path);
            if used + l > room {
                break;
            }
            used += l;
            j += 1;
        }
        if j == i {
            return Err(EncodeError::TooLong {
                len: fixed + nlri_len(&nlri[i], add_path),
                max,
            });
        }
        let mut m = Vec::with_capacity(fixed + used + NLRI_SLACK);
        m.extend_from_slice(&MARKER);
        m.extend_from_slice(&[0, 0, crate::iana::MessageType::Update as u8]);
        body(&mut m, used, &nlri[i..j]);
        let len = m.len();
        debug_assert!(len <= max && len + 1 >= fixed + used);
        m[16..18].copy_from_slice(&(len as u16).to_be_bytes());
        out.push(m);
        i = j;
    }
    Ok(())
}

fn check_family(family: Family, nlri: &[Nlri]) -> Result<(), EncodeError> {
    if !is_decoded_family(family) {
        return Err(invalid("only IPv4 and IPv6 unicast are packed"));
    }
    if nlri.iter().any(|n| n.prefix.family() != family) {
        return Err(invalid("prefix of another address family"));
    }
    Ok(())
}

fn put_next_hop_attr(next_hop: MpNextHop, out: &mut Vec<u8>) {
    if let MpNextHop::V4(a) = next_hop {
        out.extend_from_slice(&[attr_flags::TRANSITIVE, AttrType::NEXT_HOP.0, 4]);
        out.extend_from_slice(&a.octets());
    }
}

fn put_attr_header(flags: u8, type_code: AttrType, len: usize, out: &mut Vec<u8>) {
    if len > 0xff {
        out.extend_from_slice(&[flags | attr_flags::EXTENDED_LENGTH, type_code.0]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[flags, type_code.0, len as u8]);
    }
}

fn invalid(reason: &'static str) -> EncodeError {
    EncodeError::InvalidValue {
        field: "UPDATE",
        reason,
    }
}
