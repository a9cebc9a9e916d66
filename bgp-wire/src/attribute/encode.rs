//! Encoding path attributes with canonical flags.
//!
//! Known attributes get the flags their RFC gives them; the Extended Length bit is set only
//! when the value exceeds 255 octets. The value length is computed first
//! ([`PathAttribute::value_len`]) so that the header is written once, and every value is
//! checked before a byte is appended: on error `out` is unchanged.

use super::decode::is_decoded_family;
use super::{canonical_flags, AsPath, MpNextHop, MpReach, MpUnreach, PathAttribute, RawAttribute};
use crate::context::CodecContext;
use crate::iana::{attr_flags, Afi, Family, AS_TRANS};
use crate::message::EncodeError;
use crate::nlri::{Nlri, Prefix};

impl PathAttribute {
    /// Length of the value on the wire under `ctx`.
    pub fn value_len(&self, ctx: &CodecContext) -> usize {
        let as_width = if ctx.four_octet_as { 4 } else { 2 };
        match self {
            PathAttribute::Origin(_) => 1,
            PathAttribute::AsPath(p) => as_path_len(p, as_width),
            PathAttribute::NextHop(_)
            | PathAttribute::MultiExitDisc(_)
            | PathAttribute::LocalPref(_)
            | PathAttribute::OriginatorId(_) => 4,
            PathAttribute::AtomicAggregate => 0,
            PathAttribute::Aggregator(_) => as_width + 4,
            PathAttribute::Communities(c) => 4 * c.len(),
            PathAttribute::ClusterList(c) => 4 * c.len(),
            PathAttribute::MpReach(MpReach::Unicast {
                family,
                next_hop,
                nlri,
            }) => 5 + next_hop_len(next_hop) + nlri_field_len(nlri, ctx.add_path.contains(*family)),
            PathAttribute::MpReach(MpReach::Other { next_hop, nlri, .. }) => {
                5 + next_hop.len() + nlri.len()
            }
            PathAttribute::MpUnreach(MpUnreach::Unicast { family, withdrawn }) => {
                3 + nlri_field_len(withdrawn, ctx.add_path.contains(*family))
            }
            PathAttribute::MpUnreach(MpUnreach::Other { withdrawn, .. }) => 3 + withdrawn.len(),
            PathAttribute::ExtendedCommunities(c) => 8 * c.len(),
            PathAttribute::As4Path(p) => as_path_len(p, 4),
            PathAttribute::As4Aggregator(_) => 8,
            PathAttribute::LargeCommunities(c) => 12 * c.len(),
            PathAttribute::Unknown(r) => r.value.len(),
        }
    }

    /// Length of the whole attribute (header and value) on the wire under `ctx`.
    pub fn encoded_len(&self, ctx: &CodecContext) -> usize {
        let v = self.value_len(ctx);
        v + if v > 0xff { 4 } else { 3 }
    }

    /// Appends the attribute. On error nothing is appended.
    pub fn encode(&self, ctx: &CodecContext, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.check(ctx)?;
        let len = self.value_len(ctx);
        if len > 0xffff {
            return Err(EncodeError::FieldTooLong {
                field: "path attribute",
            });
        }
        let start = out.len();
        out.reserve(len + 4);
        let flags = self.flags();
        if len > 0xff {
            out.extend_from_slice(&[flags | attr_flags::EXTENDED_LENGTH, self.type_code().0]);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.extend_from_slice(&[flags, self.type_code().0, len as u8]);
        }
        self.encode_value(ctx, out);
        debug_assert_eq!(out.len() - start, self.encoded_len(ctx));
        Ok(())
    }

    /// Refuses values the wire cannot carry or a receiver would treat as malformed, so that
    /// whatever encodes also decodes to the same value.
    fn check(&self, ctx: &CodecContext) -> Result<(), EncodeError> {
        let bad = |field, reason| Err(EncodeError::InvalidValue { field, reason });
        if ctx.four_octet_as
            && matches!(
                self,
                PathAttribute::As4Path(_) | PathAttribute::As4Aggregator(_)
            )
        {
            // RFC 6793 §6: "MUST NOT be carried in an UPDATE message between NEW BGP speakers"
            return bad(
                "AS4_PATH / AS4_AGGREGATOR",
                "sent between 4-octet AS speakers",
            );
        }
        match self {
            PathAttribute::AsPath(p) => check_as_path(p, ctx.four_octet_as, "AS_PATH")?,
            PathAttribute::As4Path(p) => {
                check_as_path(p, true, "AS4_PATH")?;
                // RFC 6793 §6: AS4_PATH carries at least one AS and no confederation segment
                if p.segments.is_empty() || p.segments.iter().any(|s| s.kind.is_confed()) {
                    return bad("AS4_PATH", "empty, or holds a confederation segment");
                }
            }
            PathAttribute::Aggregator(a)
                if a.asn == 0 || (!ctx.four_octet_as && a.asn > 0xffff) =>
            {
                return bad(
                    "AGGREGATOR",
                    "AS 0, or a 4-octet AS without the 4-octet AS capability",
                );
            }
            PathAttribute::As4Aggregator(a) if a.asn == 0 => {
                return bad("AS4_AGGREGATOR", "AS 0");
            }
            PathAttribute::Communities(c) if c.is_empty() => return bad("COMMUNITIES", "empty"),
            PathAttribute::ClusterList(c) if c.is_empty() => return bad("CLUSTER_LIST", "empty"),
            PathAttribute::ExtendedCommunities(c) if c.is_empty() => {
                return bad("EXTENDED_COMMUNITIES", "empty")
            }
            PathAttribute::LargeCommunities(c) if c.is_empty() => {
                return bad("LARGE_COMMUNITY", "empty")
            }
            PathAttribute::MpReach(MpReach::Unicast {
                family,
                next_hop,
                nlri,
            }) => {
                check_nlri_family(*family, nlri, "MP_REACH_NLRI")?;
                if matches!(next_hop, MpNextHop::V4(_)) && family.afi != Afi::IPV4 {
                    return bad("MP_REACH_NLRI", "IPv4 next hop for IPv6 NLRI");
                }
            }
            PathAttribute::MpReach(MpReach::Other {
                family, next_hop, ..
            }) => {
                if is_decoded_family(*family) {
                    return bad("MP_REACH_NLRI", "unicast family given as raw bytes");
                }
                if next_hop.len() > 0xff {
                    return Err(EncodeError::FieldTooLong {
                        field: "MP_REACH_NLRI next hop",
                    });
                }
            }
            PathAttribute::MpUnreach(MpUnreach::Unicast { family, withdrawn }) => {
                check_nlri_family(*family, withdrawn, "MP_UNREACH_NLRI")?;
            }
            PathAttribute::MpUnreach(MpUnreach::Other { family, .. })
                if is_decoded_family(*family) =>
            {
                return bad("MP_UNREACH_NLRI", "unicast family given as raw bytes");
            }
            PathAttribute::Unknown(r) => check_raw(r)?,
            _ => {}
        }
        Ok(())
    }

    fn encode_value(&self, ctx: &CodecContext, out: &mut Vec<u8>) {
        match self {
            PathAttribute::Origin(o) => out.push(o.code()),
            PathAttribute::AsPath(p) => put_as_path(p, ctx.four_octet_as, out),
            PathAttribute::NextHop(a) | PathAttribute::OriginatorId(a) => {
                out.extend_from_slice(&a.octets())
            }
            PathAttribute::MultiExitDisc(v) | PathAttribute::LocalPref(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            PathAttribute::AtomicAggregate => {}
            PathAttribute::Aggregator(a) => {
                if ctx.four_octet_as {
                    out.extend_from_slice(&a.asn.to_be_bytes());
                } else {
                    out.extend_from_slice(&(a.asn as u16).to_be_bytes());
                }
                out.extend_from_slice(&a.address.octets());
            }
            PathAttribute::Communities(c) => {
                for v in c {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            PathAttribute::ClusterList(c) => {
                for v in c {
                    out.extend_from_slice(&v.octets());
                }
            }
            PathAttribute::MpReach(MpReach::Unicast {
                family,
                next_hop,
                nlri,
            }) => {
                put_family(*family, out);
                put_next_hop(next_hop, out);
                out.push(0);
                let add_path = ctx.add_path.contains(*family);
                for n in nlri {
                    put_nlri(n, add_path, out);
                }
            }
            PathAttribute::MpReach(MpReach::Other {
                family,
                next_hop,
                nlri,
            }) => {
                put_family(*family, out);
                out.push(next_hop.len() as u8);
                out.extend_from_slice(next_hop);
                out.push(0);
                out.extend_from_slice(nlri);
            }
            PathAttribute::MpUnreach(MpUnreach::Unicast { family, withdrawn }) => {
                put_family(*family, out);
                let add_path = ctx.add_path.contains(*family);
                for n in withdrawn {
                    put_nlri(n, add_path, out);
                }
            }
            PathAttribute::MpUnreach(MpUnreach::Other { family, withdrawn }) => {
                put_family(*family, out);
                out.extend_from_slice(withdrawn);
            }
            PathAttribute::ExtendedCommunities(c) => {
                for v in c {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            PathAttribute::As4Path(p) => put_as_path(p, true, out),
            PathAttribute::As4Aggregator(a) => {
                out.extend_from_slice(&a.asn.to_be_bytes());
                out.extend_from_slice(&a.address.octets());
            }
            PathAttribute::LargeCommunities(c) => {
                for v in c {
                    out.extend_from_slice(&v.global_admin.to_be_bytes());
                    out.extend_from_slice(&v.local_data1.to_be_bytes());
                    out.extend_from_slice(&v.local_data2.to_be_bytes());
                }
            }
            PathAttribute::Unknown(r) => out.extend_from_slice(&r.value),
        }
    }
}

/// Rewrites attributes for a peer without the 4-octet AS capability (RFC 6793 §4.2.2): AS
/// numbers above 65535 in AS_PATH and AGGREGATOR become AS_TRANS, and AS4_PATH /
/// AS4_AGGREGATOR carry the real values. Attributes that need no change are kept as they
/// are; an existing AS4_PATH or AS4_AGGREGATOR is replaced.
pub fn for_two_octet_peer(attrs: &[PathAttribute]) -> Vec<PathAttribute> {
    let wide = |a: u32| a > 0xffff;
    let needs_path = attrs.iter().any(|a| match a {
        PathAttribute::AsPath(p) => p.segments.iter().any(|s| s.asns.iter().any(|&a| wide(a))),
        _ => false,
    });
    let needs_agg = attrs
        .iter()
        .any(|a| matches!(a, PathAttribute::Aggregator(g) if wide(g.asn)));
    let mut out = Vec::with_capacity(attrs.len() + 2);
    for a in attrs {
        match a {
            PathAttribute::As4Path(_) if needs_path => {}
            PathAttribute::As4Aggregator(_) if needs_agg => {}
            PathAttribute::AsPath(p) if needs_path => {
                let mut two = p.clone();
                for s in &mut two.segments {
                    for asn in &mut s.asns {
                        if wide(*asn) {
                            *asn = AS_TRANS as u32;
                        }
                    }
                }
                out.push(PathAttribute::AsPath(two));
                // RFC 6793 §4.2.2: confederation segments are left out of AS4_PATH
                let mut four = p.clone();
                four.segments.retain(|s| !s.kind.is_confed());
                if !four.segments.is_empty() {
                    out.push(PathAttribute::As4Path(four));
                }
            }
            PathAttribute::Aggregator(g) if needs_agg => {
                let mut two = *g;
                two.asn = AS_TRANS as u32;
                out.push(PathAttribute::Aggregator(two));
                out.push(PathAttribute::As4Aggregator(*g));
            }
            other => out.push(other.clone()),
        }
    }
    out
}

fn check_as_path(p: &AsPath, four_octet: bool, field: &'static str) -> Result<(), EncodeError> {
    for s in &p.segments {
        if s.asns.is_empty() {
            return Err(EncodeError::InvalidValue {
                field,
                reason: "empty segment (RFC 7606 §7.2 makes it malformed)",
            });
        }
        if s.asns.len() > 0xff {
            return Err(EncodeError::FieldTooLong { field });
        }
        if s.asns
            .iter()
            .any(|&a| a == 0 || (!four_octet && a > 0xffff))
        {
            return Err(EncodeError::InvalidValue {
                field,
                reason: "AS 0 (RFC 7607), or a 4-octet AS without the 4-octet AS capability",
            });
        }
    }
    Ok(())
}

fn check_nlri_family(
    family: Family,
    nlri: &[Nlri],
    field: &'static str,
) -> Result<(), EncodeError> {
    if !is_decoded_family(family) {
        return Err(EncodeError::InvalidValue {
            field,
            reason: "only IPv4 and IPv6 unicast NLRI are encoded from prefixes",
        });
    }
    if nlri.iter().any(|n| n.prefix.family() != family) {
        return Err(EncodeError::InvalidValue {
            field,
            reason: "prefix of another address family",
        });
    }
    Ok(())
}

fn check_raw(r: &RawAttribute) -> Result<(), EncodeError> {
    let bad = |reason| {
        Err(EncodeError::InvalidValue {
            field: "path attribute",
            reason,
        })
    };
    if !r.is_optional() {
        return bad("an uninterpreted attribute must be optional (RFC 4271 §6.3)");
    }
    if r.flags & !RawAttribute::KEPT_FLAGS != 0 {
        return bad("flags other than Optional, Transitive and Partial");
    }
    // A known type is kept raw only when a previous AS passed it on with the Partial bit.
    let ot = attr_flags::OPTIONAL | attr_flags::TRANSITIVE;
    match canonical_flags(r.type_code) {
        None => Ok(()),
        Some(f) if f == ot && r.flags & RawAttribute::KEPT_FLAGS == ot | attr_flags::PARTIAL => {
            Ok(())
        }
        Some(_) => bad("a known attribute type given as raw bytes"),
    }
}

fn as_path_len(p: &AsPath, width: usize) -> usize {
    p.segments.iter().map(|s| 2 + width * s.asns.len()).sum()
}

fn put_as_path(p: &AsPath, four_octet: bool, out: &mut Vec<u8>) {
    for s in &p.segments {
        out.push(s.kind.code());
        out.push(s.asns.len() as u8);
        if four_octet {
            for a in &s.asns {
                out.extend_from_slice(&a.to_be_bytes());
            }
        } else {
            for a in &s.asns {
                out.extend_from_slice(&(*a as u16).to_be_bytes());
            }
        }
    }
}

pub(crate) fn put_family(family: Family, out: &mut Vec<u8>) {
    out.extend_from_slice(&family.afi.0.to_be_bytes());
    out.push(family.safi.0);
}

/// Bytes of a next hop in MP_REACH_NLRI.
pub(crate) fn next_hop_len(nh: &MpNextHop) -> usize {
    match nh {
        MpNextHop::V4(_) => 4,
        MpNextHop::V6 {
            link_local: None, ..
        } => 16,
        MpNextHop::V6 {
            link_local: Some(_),
            ..
        } => 32,
    }
}

/// Appends the length octet and the next hop.
pub(crate) fn put_next_hop(nh: &MpNextHop, out: &mut Vec<u8>) {
    out.push(next_hop_len(nh) as u8);
    match nh {
        MpNextHop::V4(a) => out.extend_from_slice(&a.octets()),
        MpNextHop::V6 { global, link_local } => {
            out.extend_from_slice(&global.octets());
            if let Some(l) = link_local {
                out.extend_from_slice(&l.octets());
            }
        }
    }
}

/// Bytes of one NLRI entry when path identifiers are (`add_path`) or are not sent.
#[inline]
pub(crate) fn nlri_len(n: &Nlri, add_path: bool) -> usize {
    (if add_path { 5 } else { 1 }) + (n.prefix.prefix_len() as usize).div_ceil(8)
}

/// Bytes of a list of NLRI.
pub(crate) fn nlri_field_len(nlri: &[Nlri], add_path: bool) -> usize {
    nlri.iter().map(|n| nlri_len(n, add_path)).sum()
}

/// Appends one NLRI entry. The negotiated context, not the value, decides whether a path
/// identifier is sent (RFC 7911 §3): with ADD-PATH an entry without one is sent with
/// identifier 0; without ADD-PATH an identifier is left out.
///
/// The length octet and the whole address are appended as one fixed-size copy and the bytes
/// past the prefix cut off again: cheaper than a variable-length copy per entry. `out` may
/// therefore need up to 16 bytes of spare capacity past the entry ([`NLRI_SLACK`]).
#[inline]
pub(crate) fn put_nlri(n: &Nlri, add_path: bool, out: &mut Vec<u8>) {
    if add_path {
        out.extend_from_slice(&n.path_id.unwrap_or(0).to_be_bytes());
    }
    let len = n.prefix.prefix_len();
    let bytes = (len as usize).div_ceil(8);
    match n.prefix {
        Prefix::V4(p) => {
            let o = p.addr().octets();
            out.extend_from_slice(&[len, o[0], o[1], o[2], o[3]]);
            out.truncate(out.len() - (4 - bytes));
        }
        Prefix::V6(p) => {
            let mut b = [0u8; 17];
            b[0] = len;
            b[1..].copy_from_slice(&p.addr().octets());
            out.extend_from_slice(&b);
            out.truncate(out.len() - (16 - bytes));
        }
    }
}

/// Spare capacity [`put_nlri`] may touch past the entry it writes.
pub(crate) const NLRI_SLACK: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::{Aggregator, AsSegment, SegmentType};
    use std::net::Ipv4Addr;

    #[test]
    fn extended_length_only_above_255_bytes() {
        let ctx = CodecContext::default();
        let short = PathAttribute::Communities(vec![1; 63]);
        let long = PathAttribute::Communities(vec![1; 64]);
        let mut b = Vec::new();
        short.encode(&ctx, &mut b).unwrap();
        assert_eq!(&b[..3], &[0xc0, 8, 252]);
        assert_eq!(b.len(), short.encoded_len(&ctx));
        b.clear();
        long.encode(&ctx, &mut b).unwrap();
        assert_eq!(&b[..4], &[0xd0, 8, 1, 0]);
        assert_eq!(b.len(), long.encoded_len(&ctx));
    }

    #[test]
    fn refuses_empty_segment_and_wide_asn_on_two_octet_session() {
        let ctx = CodecContext::default();
        let empty = PathAttribute::AsPath(AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Set,
                asns: vec![],
            }],
        });
        let mut b = Vec::new();
        assert!(empty.encode(&ctx, &mut b).is_err());
        assert!(PathAttribute::AsPath(AsPath::sequence([4_200_000_000]))
            .encode(&ctx, &mut b)
            .is_err());
        assert!(b.is_empty());
    }

    #[test]
    fn refuses_as4_attributes_between_four_octet_speakers() {
        let ctx = CodecContext {
            four_octet_as: true,
            ..CodecContext::default()
        };
        let mut b = Vec::new();
        assert!(PathAttribute::As4Path(AsPath::sequence([65001]))
            .encode(&ctx, &mut b)
            .is_err());
        assert!(PathAttribute::As4Path(AsPath::sequence([65001]))
            .encode(&CodecContext::default(), &mut b)
            .is_ok());
    }

    #[test]
    fn two_octet_peer_gets_as_trans_and_as4_attributes() {
        let attrs = vec![
            PathAttribute::AsPath(AsPath::sequence([65001, 4_200_000_000])),
            PathAttribute::Aggregator(Aggregator {
                asn: 4_200_000_000,
                address: Ipv4Addr::new(10, 0, 0, 1),
            }),
        ];
        let out = for_two_octet_peer(&attrs);
        assert_eq!(
            out,
            vec![
                PathAttribute::AsPath(AsPath::sequence([65001, 23456])),
                PathAttribute::As4Path(AsPath::sequence([65001, 4_200_000_000])),
                PathAttribute::Aggregator(Aggregator {
                    asn: 23456,
                    address: Ipv4Addr::new(10, 0, 0, 1),
                }),
                PathAttribute::As4Aggregator(Aggregator {
                    asn: 4_200_000_000,
                    address: Ipv4Addr::new(10, 0, 0, 1),
                }),
            ]
        );
        let mut b = Vec::new();
        for a in &out {
            a.encode(&CodecContext::default(), &mut b).unwrap();
        }
        // nothing to do for 2-octet AS numbers
        let plain = vec![PathAttribute::AsPath(AsPath::sequence([65001]))];
        assert_eq!(for_two_octet_peer(&plain), plain);
    }
}
