//! UPDATE message (RFC 4271 §4.3) and End-of-RIB markers (RFC 4724 §2).
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```

use std::net::IpAddr;

use crate::attribute::decode::{decode_attribute, flags_error, ErrorAction};
use crate::attribute::encode::{put_family, put_next_hop, put_nlri};
use crate::attribute::{
    validate_mp_next_hop, validate_next_hop, MpReach, MpUnreach, PathAttribute,
};
use crate::codec::{len_placeholder, patch_len, Reader};
use crate::context::CodecContext;
use crate::error::UpdateError;
use crate::iana::{attr_flags, Afi, AttrType, Family};
use crate::nlri::{decode_nlri, Nlri};

use super::EncodeError;

mod pack;
pub use pack::{encode_announcements, encode_withdrawals};

/// An UPDATE message. IPv4 unicast routes may travel in `withdrawn`/`nlri` or in
/// MP_REACH/MP_UNREACH attributes; other families only in the attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct UpdateMsg {
    /// Withdrawn IPv4 unicast routes.
    pub withdrawn: Vec<Nlri>,
    /// Path attributes, in the order sent.
    pub attributes: Vec<PathAttribute>,
    /// Reachable IPv4 unicast routes.
    pub nlri: Vec<Nlri>,
}

/// What RFC 7606 says to do with an UPDATE whose errors did not reset the session. Ordered
/// so that the worst outcome wins (`max`). A session reset is not a variant: it is the `Err`
/// of [`UpdateMsg::decode_received`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Treatment {
    /// No error.
    Accept,
    /// RFC 7606 §2: the bad attributes were dropped; the rest of the UPDATE stands.
    AttributeDiscard,
    /// RFC 7606 §2: every route the UPDATE announces is to be handled as withdrawn.
    TreatAsWithdraw,
    /// RFC 7606 §2: every route of this family from the peer is to be dropped and the
    /// family treated as not negotiated. The rest of the UPDATE is suspect too: every other
    /// route it announces is to be handled as withdrawn.
    AfiSafiDisable(Family),
}

/// An UPDATE as a session receives it: what could be decoded, what RFC 7606 says to do with
/// it, and the errors that led there (for logs and counters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedUpdate {
    /// The message, without discarded attributes.
    pub update: UpdateMsg,
    /// The worst outcome of all errors found.
    pub treatment: Treatment,
    /// Each non-fatal error, in order found.
    pub errors: Vec<UpdateError>,
}

impl UpdateMsg {
    /// Decodes an UPDATE body strictly: [`UpdateMsg::decode_received`], then any error,
    /// fatal or not, fails the decode with the first one found. What this accepts
    /// re-encodes to the same message.
    pub fn decode(r: &mut Reader<'_>, ctx: &CodecContext) -> Result<Self, UpdateError> {
        let received = Self::decode_received(r, ctx)?;
        match received.errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(received.update),
        }
    }

    /// Decodes an UPDATE body as a session receives it, with RFC 7606 error handling.
    ///
    /// `Err` means session reset: send the NOTIFICATION of
    /// [`crate::DecodeError::notification`] and close. Otherwise the result says what to do
    /// (see [`Treatment`]) and lists every non-fatal error. The rules, in the order applied:
    ///
    /// - Withdrawn Routes Length or Total Path Attribute Length overrunning the message:
    ///   Malformed Attribute List, fatal (RFC 7606 §3 b keeps RFC 4271 here).
    /// - A malformed Withdrawn Routes or NLRI field: Invalid Network Field, fatal (§5.3).
    /// - An attribute header or length overrunning the attribute list: treat-as-withdraw,
    ///   the rest of the list is skipped and the NLRI field is found from the Total Path
    ///   Attribute Length (§4).
    /// - MP_REACH_NLRI or MP_UNREACH_NLRI repeated: fatal; any other attribute repeated:
    ///   the later copies are discarded (§3 g).
    /// - Optional/Transitive flag bits wrong for the type: treat-as-withdraw (§3 c).
    /// - Each attribute's own value errors as its RFC says (see
    ///   [`crate::attribute::decode::decode_attribute`]); an unrecognized well-known
    ///   attribute is fatal (RFC 4271 §6.3).
    /// - ORIGIN or AS_PATH missing while routes are announced, or NEXT_HOP missing while
    ///   the NLRI field is not empty: treat-as-withdraw (§3 d; NEXT_HOP is not needed when
    ///   only MP_REACH_NLRI announces, RFC 4760 §3). An UPDATE that only withdraws needs no
    ///   attribute.
    /// - An UPDATE that announces nothing but carries attributes other than
    ///   MP_UNREACH_NLRI turns any error worse than attribute-discard into a session reset
    ///   (§5.2: its NLRI cannot be trusted to have been located).
    /// - Errors needing AFI/SAFI disable for two different families: session reset.
    pub fn decode_received(
        r: &mut Reader<'_>,
        ctx: &CodecContext,
    ) -> Result<ReceivedUpdate, UpdateError> {
        let v4_add_path = ctx.add_path.contains(Family::IPV4_UNICAST);
        let wlen = r
            .u16("withdrawn routes length")
            .map_err(UpdateError::Malformed)? as usize;
        // RFC 4271 §6.3 (kept by RFC 7606 §3 b): "If the Withdrawn Routes Length or Total
        // Attribute Length is too large ... the Error Subcode MUST be set to Malformed
        // Attribute List."
        if wlen + 2 > r.remaining() {
            return Err(UpdateError::MalformedAttributeList {
                offset: r.offset() - 2,
                reason: "withdrawn routes length overruns the message",
            });
        }
        let mut wr = r
            .sub(wlen, "withdrawn routes")
            .map_err(UpdateError::Malformed)?;
        let alen = r
            .u16("total path attribute length")
            .map_err(UpdateError::Malformed)? as usize;
        if alen > r.remaining() {
            return Err(UpdateError::MalformedAttributeList {
                offset: r.offset() - 2,
                reason: "total path attribute length overruns the message",
            });
        }
        let attr_r = r
            .sub(alen, "path attributes")
            .map_err(UpdateError::Malformed)?;
        let mut nr = r
            .sub(r.remaining(), "nlri")
            .map_err(UpdateError::Malformed)?;

        // RFC 7606 §5.3: the NLRI fields must parse for any gentler outcome to be possible.
        let network = |family| {
            move |e: crate::nlri::NlriError| UpdateError::InvalidNetworkField {
                offset: e.offset(),
                family,
            }
        };
        let mut withdrawn = Vec::new();
        decode_nlri(&mut wr, Afi::IPV4, v4_add_path, &mut withdrawn)
            .map_err(network(Family::IPV4_UNICAST))?;
        let mut nlri = Vec::new();
        decode_nlri(&mut nr, Afi::IPV4, v4_add_path, &mut nlri)
            .map_err(network(Family::IPV4_UNICAST))?;

        let mut triage = Triage::default();
        let mut seen = TypeSet::default();
        let mut other_than_unreach = false;
        let mut broken = false;
        let buf = attr_r.peek_rest();
        let base = attr_r.offset();
        let mut attributes = Vec::with_capacity(8);
        let mut i = 0;
        while i < buf.len() {
            let rest = &buf[i..];
            let at = base + i;
            let ext = rest[0] & attr_flags::EXTENDED_LENGTH != 0;
            let header = if ext { 4 } else { 3 };
            let len = match rest {
                [_, _, hi, lo, ..] if ext => u16::from_be_bytes([*hi, *lo]) as usize,
                [_, _, l, ..] if !ext => *l as usize,
                _ => usize::MAX,
            };
            if rest.len() >= 2 && rest[1] != AttrType::MP_UNREACH_NLRI.0 {
                other_than_unreach = true;
            }
            // RFC 7606 §4: an attribute overrunning the list, or fewer bytes left than an
            // attribute header: "the "treat-as-withdraw" approach MUST be used ... and the
            // Total Attribute Length MUST be relied upon to enable the beginning of the NLRI
            // field to be located."
            if len == usize::MAX || rest.len() - header < len {
                triage.note(
                    ErrorAction::TreatAsWithdraw,
                    UpdateError::MalformedAttributeList {
                        offset: at,
                        reason: if len == usize::MAX {
                            "attribute header truncated by the total path attribute length"
                        } else {
                            "attribute length overruns the total path attribute length"
                        },
                    },
                )?;
                broken = true;
                break;
            }
            let flags = rest[0];
            let type_code = AttrType(rest[1]);
            let whole = &rest[..header + len];
            let value = &whole[header..];
            i += header + len;
            // RFC 7606 §3 g
            if !seen.insert(type_code) {
                if type_code == AttrType::MP_REACH_NLRI || type_code == AttrType::MP_UNREACH_NLRI {
                    return Err(UpdateError::MalformedAttributeList {
                        offset: at,
                        reason: "MP_REACH_NLRI or MP_UNREACH_NLRI appears more than once",
                    });
                }
                triage.note(
                    ErrorAction::AttributeDiscard,
                    UpdateError::MalformedAttributeList {
                        offset: at,
                        reason: "attribute repeated: all but the first discarded",
                    },
                )?;
                continue;
            }
            if let Some(e) = flags_error(flags, type_code, whole) {
                triage.note(e.action, e.error)?;
            }
            match decode_attribute(flags, type_code, value, whole, at + header, ctx) {
                Ok(a) => attributes.push(a),
                Err(e) => triage.note(e.action, e.error)?,
            }
        }

        let announces = !nlri.is_empty() || seen.contains(AttrType::MP_REACH_NLRI);
        // RFC 7606 §3 d: "If any of the well-known mandatory attributes are not present in an
        // UPDATE message, then "treat-as-withdraw" MUST be used." Not checked past a broken
        // list, where later attributes were never read.
        if announces && !broken {
            let mut required = [AttrType::ORIGIN, AttrType::AS_PATH, AttrType::NEXT_HOP].as_slice();
            if nlri.is_empty() {
                required = &required[..2];
            }
            for t in required {
                if !seen.contains(*t) {
                    triage.note(
                        ErrorAction::TreatAsWithdraw,
                        UpdateError::MissingWellKnownAttribute { type_code: *t },
                    )?;
                }
            }
        }
        // RFC 7606 §5.2: attributes but no reachable NLRI: "if any encountered error
        // specifies an error handling approach other than "attribute discard", then the
        // "session reset" approach MUST be used."
        if !announces && other_than_unreach {
            if let Some(first) = triage.first_serious.take() {
                return Err(triage.errors.swap_remove(first));
            }
        }
        Ok(ReceivedUpdate {
            update: UpdateMsg {
                withdrawn,
                attributes,
                nlri,
            },
            treatment: triage.treatment(),
            errors: triage.errors,
        })
    }

    /// Appends the UPDATE body. Path identifiers are written as the context says (see
    /// [`crate::attribute::encode`]). Refuses, leaving `out` unchanged, what a receiver
    /// would find malformed: a prefix that is not IPv4 in the Withdrawn Routes or NLRI
    /// field, an attribute twice, NLRI without ORIGIN, AS_PATH and NEXT_HOP, MP_REACH_NLRI
    /// without ORIGIN and AS_PATH, or any attribute [`PathAttribute::encode`] refuses.
    pub fn encode_body(&self, ctx: &CodecContext, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let res = self.encode_body_unchecked(ctx, out);
        if res.is_err() {
            out.truncate(start);
        }
        res
    }

    /// An End-of-RIB marker for `family` (RFC 4724 §2): an empty UPDATE for IPv4 unicast,
    /// otherwise an UPDATE holding only an empty MP_UNREACH_NLRI.
    pub fn end_of_rib(family: Family) -> Self {
        if family == Family::IPV4_UNICAST {
            return UpdateMsg::default();
        }
        let unreach = if crate::attribute::decode::is_decoded_family(family) {
            MpUnreach::Unicast {
                family,
                withdrawn: Vec::new(),
            }
        } else {
            MpUnreach::Other {
                family,
                withdrawn: Vec::new(),
            }
        };
        UpdateMsg {
            attributes: vec![PathAttribute::MpUnreach(unreach)],
            ..UpdateMsg::default()
        }
    }

    /// The family this UPDATE marks the End-of-RIB of (RFC 4724 §2), or `None` when it is
    /// not an End-of-RIB marker.
    pub fn end_of_rib_family(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        match self.attributes.as_slice() {
            [] => Some(Family::IPV4_UNICAST),
            [PathAttribute::MpUnreach(MpUnreach::Unicast { family, withdrawn })]
                if withdrawn.is_empty() =>
            {
                Some(*family)
            }
            [PathAttribute::MpUnreach(MpUnreach::Other { family, withdrawn })]
                if withdrawn.is_empty() =>
            {
                Some(*family)
            }
            _ => None,
        }
    }

    /// Every route this UPDATE announces, from the NLRI field and MP_REACH_NLRI, with its
    /// family. Under treat-as-withdraw these are the routes to withdraw.
    pub fn announced(&self) -> impl Iterator<Item = (Family, &Nlri)> {
        let mp = self.attributes.iter().filter_map(|a| match a {
            PathAttribute::MpReach(MpReach::Unicast { family, nlri, .. }) => Some((*family, nlri)),
            _ => None,
        });
        self.nlri
            .iter()
            .map(|n| (Family::IPV4_UNICAST, n))
            .chain(mp.flat_map(|(f, v)| v.iter().map(move |n| (f, n))))
    }

    /// Every route this UPDATE withdraws, from the Withdrawn Routes field and
    /// MP_UNREACH_NLRI, with its family.
    pub fn withdrawn_routes(&self) -> impl Iterator<Item = (Family, &Nlri)> {
        let mp = self.attributes.iter().filter_map(|a| match a {
            PathAttribute::MpUnreach(MpUnreach::Unicast { family, withdrawn }) => {
                Some((*family, withdrawn))
            }
            _ => None,
        });
        self.withdrawn
            .iter()
            .map(|n| (Family::IPV4_UNICAST, n))
            .chain(mp.flat_map(|(f, v)| v.iter().map(move |n| (f, n))))
    }

    /// The first attribute of a type.
    pub fn attribute(&self, type_code: AttrType) -> Option<&PathAttribute> {
        self.attributes.iter().find(|a| a.type_code() == type_code)
    }

    fn encode_body_unchecked(
        &self,
        ctx: &CodecContext,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let v4 = |n: &Nlri| n.prefix.family() == Family::IPV4_UNICAST;
        if !self.withdrawn.iter().all(v4) || !self.nlri.iter().all(v4) {
            return Err(EncodeError::InvalidValue {
                field: "UPDATE",
                reason: "IPv6 prefix in the Withdrawn Routes or NLRI field",
            });
        }
        let mut seen = TypeSet::default();
        for a in &self.attributes {
            if !seen.insert(a.type_code()) {
                return Err(EncodeError::InvalidValue {
                    field: "UPDATE",
                    reason: "an attribute appears twice (RFC 4271 §5)",
                });
            }
        }
        let reach = seen.contains(AttrType::MP_REACH_NLRI);
        let missing = |t| !seen.contains(t);
        if (!self.nlri.is_empty() || reach)
            && (missing(AttrType::ORIGIN) || missing(AttrType::AS_PATH))
            || !self.nlri.is_empty() && missing(AttrType::NEXT_HOP)
        {
            return Err(EncodeError::InvalidValue {
                field: "UPDATE",
                reason: "routes announced without a mandatory attribute (RFC 4271 §5)",
            });
        }
        let add_path = ctx.add_path.contains(Family::IPV4_UNICAST);
        let at = len_placeholder(out, 2);
        for n in &self.withdrawn {
            put_nlri(n, add_path, out);
        }
        if !patch_len(out, at, 2) {
            return Err(EncodeError::FieldTooLong {
                field: "withdrawn routes",
            });
        }
        let at = len_placeholder(out, 2);
        for a in &self.attributes {
            a.encode(ctx, out)?;
        }
        if !patch_len(out, at, 2) {
            return Err(EncodeError::FieldTooLong {
                field: "path attributes",
            });
        }
        for n in &self.nlri {
            put_nlri(n, add_path, out);
        }
        Ok(())
    }
}

impl ReceivedUpdate {
    /// Applies the semantic next-hop checks of RFC 4271 §6.3, the own-address one when the
    /// session's `local` address is known ([`validate_next_hop`], [`validate_mp_next_hop`]):
    /// a next hop that fails them
    /// makes the UPDATE treat-as-withdraw (RFC 7606 §7.3) and adds an Invalid NEXT_HOP error.
    /// The NEXT_HOP attribute is only checked when the NLRI field announces routes (RFC 4760
    /// §3 lets a receiver ignore it otherwise).
    pub fn check_next_hops(&mut self, local: Option<IpAddr>) {
        let mut bad = Vec::new();
        for a in &self.update.attributes {
            match a {
                PathAttribute::NextHop(nh) if !self.update.nlri.is_empty() => {
                    if let Err(reason) = validate_next_hop(IpAddr::V4(*nh), local) {
                        let mut data = vec![attr_flags::TRANSITIVE, AttrType::NEXT_HOP.0, 4];
                        data.extend_from_slice(&nh.octets());
                        bad.push((data, reason));
                    }
                }
                PathAttribute::MpReach(MpReach::Unicast {
                    family, next_hop, ..
                }) => {
                    if let Err(reason) = validate_mp_next_hop(next_hop, local) {
                        // the AFI, SAFI and next hop part of the attribute, enough for a log
                        let mut data = Vec::new();
                        put_family(*family, &mut data);
                        put_next_hop(next_hop, &mut data);
                        bad.push((data, reason));
                    }
                }
                _ => {}
            }
        }
        for (data, reason) in bad {
            self.errors.push(UpdateError::InvalidNextHopAttribute {
                data,
                reason: Some(reason),
            });
            self.treatment = self.treatment.max(Treatment::TreatAsWithdraw);
        }
    }

    /// Applies the rules that hold only for an UPDATE from an external (not confederation)
    /// peer, which the codec cannot know about:
    ///
    /// - RFC 7606 §7.5: a LOCAL_PREF "received from an external neighbor ... SHALL be
    ///   discarded" (RFC 4271 §5.1.5 already asks to ignore it): it is removed, without
    ///   counting as an error.
    /// - RFC 7606 §7.2: an AS_PATH with AS_CONFED_SEQUENCE or AS_CONFED_SET segments from
    ///   such a peer "MUST be handled using the approach of "treat-as-withdraw"".
    pub fn check_external_peer(&mut self) {
        self.update
            .attributes
            .retain(|a| !matches!(a, PathAttribute::LocalPref(_)));
        let confed = self.update.attributes.iter().find_map(|a| match a {
            PathAttribute::AsPath(p) if p.segments.iter().any(|s| s.kind.is_confed()) => Some(p),
            _ => None,
        });
        if let Some(path) = confed {
            let attr = PathAttribute::AsPath(path.clone());
            let mut data = Vec::new();
            // the data is for logs only (no NOTIFICATION is sent): a 4-octet encoding
            // always succeeds for a decoded path
            let ctx = CodecContext {
                four_octet_as: true,
                ..CodecContext::default()
            };
            let _ = attr.encode(&ctx, &mut data);
            self.errors.push(UpdateError::MalformedAsPath { data });
            self.treatment = self.treatment.max(Treatment::TreatAsWithdraw);
        }
    }
}

/// A set of attribute type codes, for duplicate detection.
#[derive(Default)]
struct TypeSet([u64; 4]);

impl TypeSet {
    /// Adds `t`; false when it was already there.
    fn insert(&mut self, t: AttrType) -> bool {
        let (w, b) = ((t.0 >> 6) as usize, 1u64 << (t.0 & 63));
        let fresh = self.0[w] & b == 0;
        self.0[w] |= b;
        fresh
    }
    fn contains(&self, t: AttrType) -> bool {
        self.0[(t.0 >> 6) as usize] & (1u64 << (t.0 & 63)) != 0
    }
}

/// The errors of one UPDATE and the worst outcome among them.
#[derive(Default)]
struct Triage {
    worst: Option<Treatment>,
    errors: Vec<UpdateError>,
    /// Index of the first error worse than attribute-discard.
    first_serious: Option<usize>,
}

impl Triage {
    /// Records an error; `Err` when it resets the session.
    fn note(&mut self, action: ErrorAction, error: UpdateError) -> Result<(), UpdateError> {
        let t = match action {
            ErrorAction::SessionReset => return Err(error),
            ErrorAction::AttributeDiscard => Treatment::AttributeDiscard,
            ErrorAction::TreatAsWithdraw => Treatment::TreatAsWithdraw,
            ErrorAction::AfiSafiDisable(f) => Treatment::AfiSafiDisable(f),
        };
        if let (Treatment::AfiSafiDisable(a), Some(Treatment::AfiSafiDisable(b))) = (t, self.worst)
        {
            // one UPDATE cannot disable two families: reset rather than pick one
            if a != b {
                return Err(error);
            }
        }
        if t != Treatment::AttributeDiscard && self.first_serious.is_none() {
            self.first_serious = Some(self.errors.len());
        }
        self.worst = self.worst.max(Some(t));
        self.errors.push(error);
        Ok(())
    }

    fn treatment(&self) -> Treatment {
        self.worst.unwrap_or(Treatment::Accept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribute::{AsPath, MpNextHop, Origin};
    use std::net::Ipv4Addr;

    fn n(s: &str) -> Nlri {
        Nlri::new(s.parse().unwrap())
    }

    #[test]
    fn ipv4_end_of_rib_is_an_empty_update() {
        let mut b = Vec::new();
        UpdateMsg::end_of_rib(Family::IPV4_UNICAST)
            .encode_body(&CodecContext::default(), &mut b)
            .unwrap();
        assert_eq!(b, [0, 0, 0, 0]);
    }

    #[test]
    fn refuses_nlri_without_mandatory_attributes_and_leaves_out_unchanged() {
        let m = UpdateMsg {
            nlri: vec![n("203.0.113.0/24")],
            attributes: vec![
                PathAttribute::Origin(Origin::Igp),
                PathAttribute::AsPath(AsPath::sequence([65001])),
            ],
            ..UpdateMsg::default()
        };
        let mut out = vec![0xaa];
        assert!(m.encode_body(&CodecContext::default(), &mut out).is_err());
        assert_eq!(out, [0xaa]);
        let mut ok = m.clone();
        ok.attributes
            .push(PathAttribute::NextHop(Ipv4Addr::new(10, 200, 1, 1)));
        assert!(ok.encode_body(&CodecContext::default(), &mut out).is_ok());
    }

    #[test]
    fn refuses_ipv6_prefix_in_the_nlri_field_and_duplicate_attributes() {
        let v6 = UpdateMsg {
            withdrawn: vec![n("2001:db8::/32")],
            ..UpdateMsg::default()
        };
        assert!(v6
            .encode_body(&CodecContext::default(), &mut Vec::new())
            .is_err());
        let dup = UpdateMsg {
            attributes: vec![
                PathAttribute::MultiExitDisc(1),
                PathAttribute::MultiExitDisc(2),
            ],
            ..UpdateMsg::default()
        };
        assert!(dup
            .encode_body(&CodecContext::default(), &mut Vec::new())
            .is_err());
    }

    #[test]
    fn strict_decode_fails_where_received_decode_discards() {
        // ORIGIN, AS_PATH, NEXT_HOP, then ATOMIC_AGGREGATE with a length of 1
        let body = [
            0, 0, 0, 22, 0x40, 1, 1, 0, 0x40, 2, 4, 2, 1, 0xfd, 0xe9, 0x40, 3, 4, 10, 200, 1, 1,
            0x40, 6, 1, 0, 24, 203, 0, 113,
        ];
        let ctx = CodecContext::default();
        let r = UpdateMsg::decode_received(&mut Reader::new(&body), &ctx).unwrap();
        assert_eq!(r.treatment, Treatment::AttributeDiscard);
        assert_eq!(r.update.attributes.len(), 3);
        assert_eq!(
            UpdateMsg::decode(&mut Reader::new(&body), &ctx),
            Err(r.errors[0].clone())
        );
    }

    #[test]
    fn announced_and_withdrawn_routes_span_both_encodings() {
        let m = UpdateMsg {
            withdrawn: vec![n("10.0.0.0/8")],
            attributes: vec![
                PathAttribute::MpReach(MpReach::Unicast {
                    family: Family::IPV6_UNICAST,
                    next_hop: MpNextHop::V6 {
                        global: "2001:db8::1".parse().unwrap(),
                        link_local: None,
                    },
                    nlri: vec![n("2001:db8:1::/48")],
                }),
                PathAttribute::MpUnreach(MpUnreach::Unicast {
                    family: Family::IPV6_UNICAST,
                    withdrawn: vec![n("2001:db8:2::/48")],
                }),
            ],
            nlri: vec![n("203.0.113.0/24")],
        };
        let a: Vec<_> = m.announced().map(|(f, n)| (f, n.prefix)).collect();
        assert_eq!(
            a,
            vec![
                (Family::IPV4_UNICAST, n("203.0.113.0/24").prefix),
                (Family::IPV6_UNICAST, n("2001:db8:1::/48").prefix)
            ]
        );
        assert_eq!(m.withdrawn_routes().count(), 2);
        assert_eq!(m.end_of_rib_family(), None);
    }
}
