//! Decoding one path attribute, with what RFC 7606 says to do when it is wrong.
//!
//! [`decode_attribute`] reads a value whose header (flags, type, length) the UPDATE decoder
//! has already split off; [`flags_error`] checks the flags against the type. Each error
//! carries an [`ErrorAction`] taken from the section of RFC 7606 (or of the attribute's own
//! RFC) that covers it, and an [`UpdateError`] naming the RFC 4271 §6.3 subcode with the
//! whole attribute as NOTIFICATION data.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{
    canonical_flags, Aggregator, AsPath, AsSegment, LargeCommunity, MpNextHop, MpReach, MpUnreach,
    Origin, PathAttribute, RawAttribute, SegmentType,
};
use crate::codec::Reader;
use crate::context::CodecContext;
use crate::error::UpdateError;
use crate::iana::{attr_flags, Afi, AttrType, Family, Safi};
use crate::nlri::decode_nlri;

/// What to do about one attribute error (RFC 7606 §2), ordered so the worst wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorAction {
    /// Drop the attribute, keep the routes.
    AttributeDiscard,
    /// Handle every route the UPDATE announces as withdrawn.
    TreatAsWithdraw,
    /// Drop every route of the family and stop accepting it on this session.
    AfiSafiDisable(Family),
    /// Send the NOTIFICATION of the error and close the session.
    SessionReset,
}

/// A path attribute that could not be decoded as sent, and the RFC 7606 outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeError {
    /// What to do.
    pub action: ErrorAction,
    /// The error, as it would appear in a NOTIFICATION.
    pub error: UpdateError,
}

/// Checks an attribute's flags against its type.
///
/// RFC 7606 §3 c: "If the value of either the Optional or Transitive bits in the Attribute
/// Flags is in conflict with their specified values, then the attribute MUST be treated as
/// malformed and the "treat-as-withdraw" approach used". The Partial bit is checked too:
/// RFC 4271 §4.3 says "For well-known attributes and for optional non-transitive attributes,
/// the Partial bit MUST be set to 0", and §6.3 makes flags in conflict with the type an
/// Attribute Flags Error, which RFC 7606 handles the same way. Unknown types have no
/// specified flags and never conflict.
#[inline]
pub fn flags_error(flags: u8, type_code: AttrType, whole: &[u8]) -> Option<AttributeError> {
    let ot = attr_flags::OPTIONAL | attr_flags::TRANSITIVE;
    let expected = canonical_flags(type_code)?;
    let partial_allowed = expected == ot;
    let got = flags & (ot | attr_flags::PARTIAL);
    if got == expected || (partial_allowed && got == expected | attr_flags::PARTIAL) {
        None
    } else {
        Some(flags_conflict(type_code, whole))
    }
}

#[cold]
#[inline(never)]
fn flags_conflict(type_code: AttrType, whole: &[u8]) -> AttributeError {
    AttributeError {
        action: ErrorAction::TreatAsWithdraw,
        error: UpdateError::AttributeFlagsError {
            type_code,
            data: whole.to_vec(),
        },
    }
}

/// Decodes the value of one attribute.
///
/// `whole` is the attribute as sent (flags, type, length, value): the NOTIFICATION data of
/// RFC 4271 §6.3. `value_offset` is where the value starts in the message, for error
/// offsets. Flags are checked separately by [`flags_error`].
///
/// A recognized optional transitive attribute that arrives with the Partial bit set is
/// checked like its decoded form and then kept as a [`RawAttribute`] with its flags, so that
/// it round-trips and, if passed on, keeps the Partial bit as RFC 4271 §5 requires ("it
/// MUST remain set to 1 by the current AS").
pub fn decode_attribute(
    flags: u8,
    type_code: AttrType,
    value: &[u8],
    whole: &[u8],
    value_offset: usize,
    ctx: &CodecContext,
) -> Result<PathAttribute, AttributeError> {
    let e = Fault::new(type_code, whole);
    let attr = match type_code {
        // RFC 7606 §7.1: wrong length or undefined value: treat-as-withdraw.
        AttrType::ORIGIN => match value {
            [v] => PathAttribute::Origin(Origin::from_code(*v).ok_or_else(|| AttributeError {
                action: ErrorAction::TreatAsWithdraw,
                error: UpdateError::InvalidOriginAttribute {
                    data: whole.to_vec(),
                },
            })?),
            _ => return Err(e.length(ErrorAction::TreatAsWithdraw)),
        },
        // RFC 7606 §7.2: a malformed AS_PATH is handled by treat-as-withdraw; RFC 7607 §2
        // makes AS 0 in it malformed.
        AttrType::AS_PATH => {
            let path = decode_as_path(value, ctx.four_octet_as).ok_or_else(|| AttributeError {
                action: ErrorAction::TreatAsWithdraw,
                error: UpdateError::MalformedAsPath {
                    data: whole.to_vec(),
                },
            })?;
            PathAttribute::AsPath(path)
        }
        // RFC 7606 §7.3: wrong length: treat-as-withdraw. Semantic checks need the session's
        // addresses: see `validate_next_hop`.
        AttrType::NEXT_HOP => match fixed::<4>(value) {
            Some(b) => PathAttribute::NextHop(Ipv4Addr::from(b)),
            None => return Err(e.length(ErrorAction::TreatAsWithdraw)),
        },
        // RFC 7606 §7.4.
        AttrType::MULTI_EXIT_DISC => match fixed::<4>(value) {
            Some(b) => PathAttribute::MultiExitDisc(u32::from_be_bytes(b)),
            None => return Err(e.length(ErrorAction::TreatAsWithdraw)),
        },
        // RFC 7606 §7.5.
        AttrType::LOCAL_PREF => match fixed::<4>(value) {
            Some(b) => PathAttribute::LocalPref(u32::from_be_bytes(b)),
            None => return Err(e.length(ErrorAction::TreatAsWithdraw)),
        },
        // RFC 7606 §7.6: length other than 0: attribute-discard.
        AttrType::ATOMIC_AGGREGATE => {
            if !value.is_empty() {
                return Err(e.length(ErrorAction::AttributeDiscard));
            }
            PathAttribute::AtomicAggregate
        }
        // RFC 7606 §7.7: length other than 6 (8 with 4-octet AS numbers): attribute-discard.
        // RFC 7607 §2: AS 0 makes it malformed too.
        AttrType::AGGREGATOR => {
            let agg = decode_aggregator(value, ctx.four_octet_as)
                .ok_or_else(|| e.length(ErrorAction::AttributeDiscard))?;
            if agg.asn == 0 {
                return Err(e.optional(ErrorAction::AttributeDiscard));
            }
            PathAttribute::Aggregator(agg)
        }
        // RFC 7606 §7.8: "malformed if its length is not a non-zero multiple of 4":
        // treat-as-withdraw.
        AttrType::COMMUNITIES => PathAttribute::Communities(
            list(value, u32::from_be_bytes)
                .ok_or_else(|| e.length(ErrorAction::TreatAsWithdraw))?,
        ),
        // RFC 7606 §7.9.
        AttrType::ORIGINATOR_ID => match fixed::<4>(value) {
            Some(b) => PathAttribute::OriginatorId(Ipv4Addr::from(b)),
            None => return Err(e.length(ErrorAction::TreatAsWithdraw)),
        },
        // RFC 7606 §7.10: not a non-zero multiple of 4: treat-as-withdraw.
        AttrType::CLUSTER_LIST => PathAttribute::ClusterList(
            list(value, Ipv4Addr::from).ok_or_else(|| e.length(ErrorAction::TreatAsWithdraw))?,
        ),
        AttrType::MP_REACH_NLRI => {
            PathAttribute::MpReach(decode_mp_reach(value, whole, value_offset, ctx)?)
        }
        AttrType::MP_UNREACH_NLRI => {
            PathAttribute::MpUnreach(decode_mp_unreach(value, whole, value_offset, ctx)?)
        }
        // RFC 7606 §7.14: not a non-zero multiple of 8: treat-as-withdraw.
        AttrType::EXTENDED_COMMUNITIES => PathAttribute::ExtendedCommunities(
            list(value, u64::from_be_bytes)
                .ok_or_else(|| e.length(ErrorAction::TreatAsWithdraw))?,
        ),
        AttrType::AS4_PATH | AttrType::AS4_AGGREGATOR if ctx.four_octet_as => {
            // RFC 6793 §6: "A NEW BGP speaker that receives the AS4_PATH attribute or the
            // AS4_AGGREGATOR attribute in an UPDATE message from another NEW BGP speaker MUST
            // discard the path attribute and continue processing the UPDATE message."
            return Err(e.optional(ErrorAction::AttributeDiscard));
        }
        // RFC 6793 §6: a malformed AS4_PATH is discarded (as is one with AS 0, RFC 7607).
        // Confederation segments "MUST NOT be carried" in it; RFC 6793 asks to drop just those
        // segments, we drop the whole attribute: AS4_PATH only serves to rebuild the path,
        // AS_PATH stays, and a path rebuilt from a peer that breaks this rule is not to be
        // trusted anyway.
        AttrType::AS4_PATH => {
            let path = decode_as_path(value, true)
                .filter(|p| !p.segments.is_empty())
                .ok_or_else(|| e.optional(ErrorAction::AttributeDiscard))?;
            if path.segments.iter().any(|s| s.kind.is_confed()) {
                return Err(e.optional(ErrorAction::AttributeDiscard));
            }
            PathAttribute::As4Path(path)
        }
        // RFC 6793 §6: a malformed AS4_AGGREGATOR is discarded.
        AttrType::AS4_AGGREGATOR => match decode_aggregator(value, true) {
            Some(a) if a.asn != 0 => PathAttribute::As4Aggregator(a),
            Some(_) => return Err(e.optional(ErrorAction::AttributeDiscard)),
            None => return Err(e.length(ErrorAction::AttributeDiscard)),
        },
        // RFC 8092 §6: "not a non-zero multiple of 12": treat-as-withdraw.
        AttrType::LARGE_COMMUNITY => PathAttribute::LargeCommunities(
            list(value, |b: [u8; 12]| LargeCommunity {
                global_admin: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                local_data1: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                local_data2: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            })
            .ok_or_else(|| e.length(ErrorAction::TreatAsWithdraw))?,
        ),
        _ => {
            // RFC 4271 §6.3: "If any of the well-known mandatory attributes are not
            // recognized, then the Error Subcode MUST be set to Unrecognized Well-known
            // Attribute." RFC 7606 leaves this a session reset.
            if flags & attr_flags::OPTIONAL == 0 {
                return Err(AttributeError {
                    action: ErrorAction::SessionReset,
                    error: UpdateError::UnrecognizedWellKnownAttribute {
                        type_code,
                        data: whole.to_vec(),
                    },
                });
            }
            return Ok(PathAttribute::Unknown(RawAttribute {
                flags: flags & RawAttribute::KEPT_FLAGS,
                type_code,
                value: value.to_vec(),
            }));
        }
    };
    let partial_kept = attr_flags::OPTIONAL | attr_flags::TRANSITIVE;
    if flags & attr_flags::PARTIAL != 0
        && flags & partial_kept == partial_kept
        && attr.flags() == partial_kept
    {
        return Ok(PathAttribute::Unknown(RawAttribute {
            flags: flags & RawAttribute::KEPT_FLAGS,
            type_code,
            value: value.to_vec(),
        }));
    }
    Ok(attr)
}

/// Builds errors about one attribute.
struct Fault<'a> {
    type_code: AttrType,
    whole: &'a [u8],
}

impl<'a> Fault<'a> {
    fn new(type_code: AttrType, whole: &'a [u8]) -> Self {
        Fault { type_code, whole }
    }
    /// 3/5 Attribute Length Error.
    #[cold]
    #[inline(never)]
    fn length(&self, action: ErrorAction) -> AttributeError {
        AttributeError {
            action,
            error: UpdateError::AttributeLengthError {
                type_code: self.type_code,
                data: self.whole.to_vec(),
            },
        }
    }
    /// 3/9 Optional Attribute Error.
    #[cold]
    #[inline(never)]
    fn optional(&self, action: ErrorAction) -> AttributeError {
        AttributeError {
            action,
            error: UpdateError::OptionalAttributeError {
                type_code: self.type_code,
                data: self.whole.to_vec(),
            },
        }
    }
}

/// The value as an array when it has exactly `N` bytes.
fn fixed<const N: usize>(value: &[u8]) -> Option<[u8; N]> {
    value.try_into().ok()
}

/// The value decoded as `N`-byte words, each by `f`, when it is a non-zero multiple of `N`
/// bytes (the rule RFC 7606 §7.8, §7.10, §7.14 and RFC 8092 §6 share).
#[inline]
fn list<const N: usize, T>(value: &[u8], f: impl Fn([u8; N]) -> T) -> Option<Vec<T>> {
    if value.is_empty() || value.len() % N != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(value.len() / N);
    for c in value.chunks_exact(N) {
        out.push(f(c.try_into().ok()?));
    }
    Some(out)
}

/// AS_PATH / AS4_PATH segments (RFC 4271 §4.3, RFC 6793 §3). `None` when malformed in a
/// way RFC 7606 §7.2 lists: an undefined segment type, a segment length of zero, a segment
/// overrunning the attribute, or a trailing byte too short for a segment header; and, for
/// RFC 7607 §2, when an AS number is 0.
pub(crate) fn decode_as_path(value: &[u8], four_octet: bool) -> Option<AsPath> {
    let width = if four_octet { 4 } else { 2 };
    // most paths are one AS_SEQUENCE
    let mut segments = Vec::with_capacity(1);
    let mut zero = false;
    let mut rest = value;
    while !rest.is_empty() {
        let [kind, count, tail @ ..] = rest else {
            return None;
        };
        let kind = SegmentType::from_code(*kind)?;
        let n = *count as usize * width;
        if n == 0 || tail.len() < n {
            return None;
        }
        let (body, tail) = tail.split_at(n);
        let asns: Vec<u32> = if four_octet {
            body.chunks_exact(4)
                .map(|c| {
                    let a = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
                    zero |= a == 0;
                    a
                })
                .collect()
        } else {
            body.chunks_exact(2)
                .map(|c| {
                    let a = u16::from_be_bytes([c[0], c[1]]) as u32;
                    zero |= a == 0;
                    a
                })
                .collect()
        };
        segments.push(AsSegment { kind, asns });
        rest = tail;
    }
    (!zero).then_some(AsPath { segments })
}

/// AGGREGATOR (6 or 8 bytes) or AS4_AGGREGATOR (8 bytes).
fn decode_aggregator(value: &[u8], four_octet: bool) -> Option<Aggregator> {
    match (four_octet, value) {
        (false, [a, b, ip @ ..]) if ip.len() == 4 => Some(Aggregator {
            asn: u16::from_be_bytes([*a, *b]) as u32,
            address: Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]),
        }),
        (true, [a, b, c, d, ip @ ..]) if ip.len() == 4 => Some(Aggregator {
            asn: u32::from_be_bytes([*a, *b, *c, *d]),
            address: Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]),
        }),
        _ => None,
    }
}

/// True for the two families whose NLRI this crate decodes.
pub(crate) fn is_decoded_family(family: Family) -> bool {
    family == Family::IPV4_UNICAST || family == Family::IPV6_UNICAST
}

/// MP_REACH_NLRI (RFC 4760 §3).
///
/// RFC 7606 §7.11: when the next hop length is inconsistent "it will not be possible to
/// reliably locate the NLRI; thus, the "session reset" or "AFI/SAFI disable" approach MUST
/// be used". We choose AFI/SAFI disable whenever the AFI and SAFI could be read (RFC 4760
/// §7 asks exactly that: delete the family's routes and ignore it for the session) so that
/// a peer's bad IPv6 routes do not take its IPv4 routes down with the session; an
/// attribute too short to name its family can only reset the session. A malformed NLRI
/// inside the attribute is handled the same way (RFC 7606 §5.3).
fn decode_mp_reach(
    value: &[u8],
    whole: &[u8],
    value_offset: usize,
    ctx: &CodecContext,
) -> Result<MpReach, AttributeError> {
    let e = Fault::new(AttrType::MP_REACH_NLRI, whole);
    let Some((family, rest)) = mp_family(value) else {
        return Err(e.length(ErrorAction::SessionReset));
    };
    let disable = ErrorAction::AfiSafiDisable(family);
    let [nh_len, rest @ ..] = rest else {
        return Err(e.optional(disable));
    };
    let nh_len = *nh_len as usize;
    // next hop, then the Reserved octet ("MUST be set to 0, and SHOULD be ignored upon
    // receipt")
    if rest.len() < nh_len + 1 {
        return Err(e.optional(disable));
    }
    let (nh, rest) = rest.split_at(nh_len);
    let nlri = &rest[1..];
    if !is_decoded_family(family) {
        return Ok(MpReach::Other {
            family,
            next_hop: nh.to_vec(),
            nlri: nlri.to_vec(),
        });
    }
    let next_hop = match (family.afi, nh_len) {
        (Afi::IPV4, 4) => MpNextHop::V4(Ipv4Addr::new(nh[0], nh[1], nh[2], nh[3])),
        // RFC 2545 §3 for IPv6 NLRI, RFC 8950 §3 for IPv4 NLRI over an IPv6 next hop: 16
        // octets of global address, or 32 with a link-local address after it.
        (_, 16) | (_, 32) => MpNextHop::V6 {
            global: ipv6(&nh[..16]),
            link_local: (nh_len == 32).then(|| ipv6(&nh[16..])),
        },
        _ => return Err(e.optional(disable)),
    };
    let nlri_offset = value_offset + 3 + 1 + nh_len + 1;
    let mut out = Vec::new();
    decode_nlri(
        &mut Reader::with_base(nlri, nlri_offset),
        family.afi,
        ctx.add_path.contains(family),
        &mut out,
    )
    .map_err(|err| AttributeError {
        action: disable,
        error: UpdateError::InvalidNetworkField {
            offset: err.offset(),
            family,
        },
    })?;
    Ok(MpReach::Unicast {
        family,
        next_hop,
        nlri: out,
    })
}

/// MP_UNREACH_NLRI (RFC 4760 §4), with the same choice of outcome as MP_REACH_NLRI.
fn decode_mp_unreach(
    value: &[u8],
    whole: &[u8],
    value_offset: usize,
    ctx: &CodecContext,
) -> Result<MpUnreach, AttributeError> {
    let Some((family, rest)) = mp_family(value) else {
        return Err(Fault::new(AttrType::MP_UNREACH_NLRI, whole).length(ErrorAction::SessionReset));
    };
    if !is_decoded_family(family) {
        return Ok(MpUnreach::Other {
            family,
            withdrawn: rest.to_vec(),
        });
    }
    let mut out = Vec::new();
    decode_nlri(
        &mut Reader::with_base(rest, value_offset + 3),
        family.afi,
        ctx.add_path.contains(family),
        &mut out,
    )
    .map_err(|err| AttributeError {
        action: ErrorAction::AfiSafiDisable(family),
        error: UpdateError::InvalidNetworkField {
            offset: err.offset(),
            family,
        },
    })?;
    Ok(MpUnreach::Unicast {
        family,
        withdrawn: out,
    })
}

/// The AFI/SAFI that start both MP attributes, and what follows.
fn mp_family(value: &[u8]) -> Option<(Family, &[u8])> {
    match value {
        [a, b, s, rest @ ..] => Some((
            Family::new(Afi(u16::from_be_bytes([*a, *b])), Safi(*s)),
            rest,
        )),
        _ => None,
    }
}

fn ipv6(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ipv6Addr::from(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx4() -> CodecContext {
        CodecContext {
            four_octet_as: true,
            ..CodecContext::default()
        }
    }

    #[test]
    fn segment_of_length_zero_is_malformed() {
        assert_eq!(decode_as_path(&[2, 0], false), None);
        assert_eq!(decode_as_path(&[2, 1, 0xfd, 0xe8, 2], false), None);
        assert_eq!(decode_as_path(&[5, 1, 0xfd, 0xe8], false), None);
        assert!(decode_as_path(&[], true).unwrap().segments.is_empty());
    }

    #[test]
    fn as_path_with_as0_is_treated_as_withdraw() {
        let e = decode_attribute(
            0x40,
            AttrType::AS_PATH,
            &[2, 1, 0, 0],
            &[0x40, 2, 4, 2, 1, 0, 0],
            3,
            &CodecContext::default(),
        )
        .unwrap_err();
        assert_eq!(e.action, ErrorAction::TreatAsWithdraw);
    }

    #[test]
    fn as4_path_between_new_speakers_is_discarded() {
        let v = [2, 1, 0, 0, 0xfd, 0xe8];
        let e = decode_attribute(0xc0, AttrType::AS4_PATH, &v, &v, 3, &ctx4()).unwrap_err();
        assert_eq!(e.action, ErrorAction::AttributeDiscard);
        let ok = decode_attribute(
            0xc0,
            AttrType::AS4_PATH,
            &v,
            &v,
            3,
            &CodecContext::default(),
        );
        assert_eq!(ok, Ok(PathAttribute::As4Path(AsPath::sequence([65000]))));
    }

    #[test]
    fn known_transitive_with_partial_bit_is_kept_raw() {
        let v = [0xff, 0xff, 0xff, 0x01];
        let a = decode_attribute(0xe0, AttrType::COMMUNITIES, &v, &v, 3, &ctx4()).unwrap();
        assert_eq!(
            a,
            PathAttribute::Unknown(RawAttribute {
                flags: 0xe0,
                type_code: AttrType::COMMUNITIES,
                value: v.to_vec()
            })
        );
        // and a malformed one is still caught
        let e = decode_attribute(0xe0, AttrType::COMMUNITIES, &v[..3], &v, 3, &ctx4());
        assert_eq!(e.unwrap_err().action, ErrorAction::TreatAsWithdraw);
    }

    #[test]
    fn unknown_well_known_resets_the_session() {
        let e = decode_attribute(0x40, AttrType(99), &[], &[0x40, 99, 0], 3, &ctx4()).unwrap_err();
        assert_eq!(e.action, ErrorAction::SessionReset);
    }

    #[test]
    fn flags_conflict_is_treat_as_withdraw() {
        assert!(flags_error(0x40, AttrType::ORIGIN, &[]).is_none());
        // Extended Length and the unused low bits do not matter
        assert!(flags_error(0x40 | 0x10 | 0x01, AttrType::ORIGIN, &[]).is_none());
        // Partial only on optional transitive attributes
        assert!(flags_error(0x60, AttrType::ORIGIN, &[]).is_some());
        assert!(flags_error(0xa0, AttrType::MULTI_EXIT_DISC, &[]).is_some());
        assert!(flags_error(0xe0, AttrType::COMMUNITIES, &[]).is_none());
        let e = flags_error(0xc0, AttrType::ORIGIN, &[]).unwrap();
        assert_eq!(e.action, ErrorAction::TreatAsWithdraw);
        assert!(flags_error(0x40, AttrType::MULTI_EXIT_DISC, &[]).is_some());
        assert!(flags_error(0x00, AttrType(200), &[]).is_none());
    }
}
