//! Path attributes (RFC 4271 §4.3, §5 and the RFCs named per variant).
//!
//! ```text
//! +---------------------------------+
//! | Attr. Flags (1) | Attr. Type (1)|
//! +---------------------------------+
//! | Attr. Length (1, or 2 when the Extended Length flag is set) |
//! +---------------------------------+
//! | Attr. Value (variable)          |
//! +---------------------------------+
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::iana::{attr_flags, AttrType, Family};
use crate::nlri::Nlri;

pub mod decode;
pub mod encode;
pub mod next_hop;

pub use decode::{decode_attribute, AttributeError, ErrorAction};
pub use encode::for_two_octet_peer;
pub use next_hop::{validate_mp_next_hop, validate_next_hop, NextHopError};

/// ORIGIN values (RFC 4271 §5.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "SCREAMING_SNAKE_CASE")
)]
pub enum Origin {
    /// 0.
    Igp,
    /// 1.
    Egp,
    /// 2.
    Incomplete,
}

/// AS_PATH segment types (RFC 4271 §4.3, RFC 5065 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "SCREAMING_SNAKE_CASE")
)]
pub enum SegmentType {
    /// 1: AS_SET.
    Set,
    /// 2: AS_SEQUENCE.
    Sequence,
    /// 3: AS_CONFED_SEQUENCE.
    ConfedSequence,
    /// 4: AS_CONFED_SET.
    ConfedSet,
}

/// One AS_PATH segment. AS numbers are always held as u32; the codec context decides
/// whether they travel as 2 or 4 octets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct AsSegment {
    /// Segment type.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub kind: SegmentType,
    /// AS numbers, 1..=255 of them on the wire.
    pub asns: Vec<u32>,
}

/// An AS_PATH or AS4_PATH value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct AsPath {
    /// Segments in order.
    pub segments: Vec<AsSegment>,
}

/// AGGREGATOR / AS4_AGGREGATOR value (RFC 4271 §5.1.7, RFC 6793 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct Aggregator {
    /// AS number (2 or 4 octets on the wire, by context for AGGREGATOR; always 4 for
    /// AS4_AGGREGATOR).
    pub asn: u32,
    /// The aggregating speaker's address.
    pub address: Ipv4Addr,
}

/// A large community (RFC 8092).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct LargeCommunity {
    /// Global administrator.
    pub global_admin: u32,
    /// Local data part 1.
    pub local_data1: u32,
    /// Local data part 2.
    pub local_data2: u32,
}

/// Next hop carried in MP_REACH_NLRI (RFC 4760 §3, RFC 2545 §3, RFC 8950).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub enum MpNextHop {
    /// 4 octets.
    V4(Ipv4Addr),
    /// 16 octets, or 32 with a link-local address (RFC 2545 §3).
    V6 {
        /// Global address.
        global: Ipv6Addr,
        /// Link-local address, when 32 octets were sent.
        link_local: Option<Ipv6Addr>,
    },
}

/// MP_REACH_NLRI (RFC 4760 §3).
///
/// ```text
/// +---------------------------------------------------------+
/// | Address Family Identifier (2 octets)                    |
/// | Subsequent Address Family Identifier (1 octet)          |
/// | Length of Next Hop Network Address (1 octet)            |
/// | Network Address of Next Hop (variable)                  |
/// | Reserved (1 octet)                                      |
/// | Network Layer Reachability Information (variable)       |
/// +---------------------------------------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub enum MpReach {
    /// IPv4 or IPv6 unicast: decoded.
    Unicast {
        /// IPV4_UNICAST or IPV6_UNICAST.
        family: Family,
        /// Next hop.
        next_hop: MpNextHop,
        /// Reachable prefixes. An empty list with no next hop would be odd but is legal.
        nlri: Vec<Nlri>,
    },
    /// Any other family: next hop and NLRI kept raw.
    Other {
        /// The family.
        family: Family,
        /// Raw next hop.
        next_hop: Vec<u8>,
        /// Raw NLRI.
        nlri: Vec<u8>,
    },
}

/// MP_UNREACH_NLRI (RFC 4760 §4). An empty unicast list is the End-of-RIB marker for that
/// family (RFC 4724 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub enum MpUnreach {
    /// IPv4 or IPv6 unicast: decoded.
    Unicast {
        /// IPV4_UNICAST or IPV6_UNICAST.
        family: Family,
        /// Withdrawn prefixes.
        withdrawn: Vec<Nlri>,
    },
    /// Any other family: kept raw.
    Other {
        /// The family.
        family: Family,
        /// Raw withdrawn routes.
        withdrawn: Vec<u8>,
    },
}

/// An attribute this crate does not interpret, kept as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct RawAttribute {
    /// Flags as received (the Extended Length bit is recomputed on encode).
    pub flags: u8,
    /// Type code.
    pub type_code: AttrType,
    /// Value.
    pub value: Vec<u8>,
}

/// One path attribute. Known attributes are encoded with the flags RFC 4271 gives them
/// (Extended Length when the value exceeds 255 octets); unknown ones keep theirs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub enum PathAttribute {
    /// ORIGIN, type 1.
    Origin(Origin),
    /// AS_PATH, type 2.
    AsPath(AsPath),
    /// NEXT_HOP, type 3.
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC, type 4.
    MultiExitDisc(u32),
    /// LOCAL_PREF, type 5.
    LocalPref(u32),
    /// ATOMIC_AGGREGATE, type 6.
    AtomicAggregate,
    /// AGGREGATOR, type 7.
    Aggregator(Aggregator),
    /// COMMUNITIES, type 8 (RFC 1997).
    Communities(Vec<u32>),
    /// ORIGINATOR_ID, type 9 (RFC 4456).
    OriginatorId(Ipv4Addr),
    /// CLUSTER_LIST, type 10 (RFC 4456).
    ClusterList(Vec<Ipv4Addr>),
    /// MP_REACH_NLRI, type 14 (RFC 4760).
    MpReach(MpReach),
    /// MP_UNREACH_NLRI, type 15 (RFC 4760).
    MpUnreach(MpUnreach),
    /// EXTENDED COMMUNITIES, type 16 (RFC 4360), each 8 octets as a big-endian u64.
    ExtendedCommunities(Vec<u64>),
    /// AS4_PATH, type 17 (RFC 6793).
    As4Path(AsPath),
    /// AS4_AGGREGATOR, type 18 (RFC 6793).
    As4Aggregator(Aggregator),
    /// LARGE_COMMUNITY, type 32 (RFC 8092).
    LargeCommunities(Vec<LargeCommunity>),
    /// Anything else, kept as sent (unknown optional attributes).
    Unknown(RawAttribute),
}

impl Origin {
    /// The wire value (RFC 4271 §5.1.1).
    pub fn code(self) -> u8 {
        match self {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        }
    }

    /// The ORIGIN for a wire value, or `None` for an undefined one.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Origin::Igp),
            1 => Some(Origin::Egp),
            2 => Some(Origin::Incomplete),
            _ => None,
        }
    }
}

impl SegmentType {
    /// The wire value (RFC 4271 §4.3, RFC 5065 §3).
    pub fn code(self) -> u8 {
        match self {
            SegmentType::Set => 1,
            SegmentType::Sequence => 2,
            SegmentType::ConfedSequence => 3,
            SegmentType::ConfedSet => 4,
        }
    }

    /// The segment type for a wire value, or `None` for an undefined one.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(SegmentType::Set),
            2 => Some(SegmentType::Sequence),
            3 => Some(SegmentType::ConfedSequence),
            4 => Some(SegmentType::ConfedSet),
            _ => None,
        }
    }

    /// True for the confederation segment types of RFC 5065.
    pub fn is_confed(self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

impl AsPath {
    /// A path of one AS_SEQUENCE segment (an empty path when `asns` is empty).
    pub fn sequence(asns: impl Into<Vec<u32>>) -> Self {
        let asns = asns.into();
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    /// Path length for route selection (RFC 4271 §9.1.2.2 a): an AS_SET counts as one, the
    /// confederation segments count as zero (RFC 5065 §5.3).
    pub fn route_len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
            })
            .sum()
    }
}

/// The flags RFC 4271 §5 and the defining RFCs give a known attribute type (without the
/// Extended Length bit), or `None` for a type this crate does not interpret.
#[inline]
pub fn canonical_flags(type_code: AttrType) -> Option<u8> {
    match FLAGS[type_code.0 as usize] {
        UNKNOWN => None,
        f => Some(f),
    }
}

/// Marks a type code without specified flags in [`FLAGS`].
const UNKNOWN: u8 = 0xff;

/// Specified flags per type code: a table, because the UPDATE decoder consults it for every
/// attribute.
static FLAGS: [u8; 256] = {
    use attr_flags::{OPTIONAL, TRANSITIVE};
    let mut t = [UNKNOWN; 256];
    // well-known: "Optional bit ... MUST be set to 0", "Transitive ... MUST be set to 1"
    t[AttrType::ORIGIN.0 as usize] = TRANSITIVE;
    t[AttrType::AS_PATH.0 as usize] = TRANSITIVE;
    t[AttrType::NEXT_HOP.0 as usize] = TRANSITIVE;
    t[AttrType::LOCAL_PREF.0 as usize] = TRANSITIVE;
    t[AttrType::ATOMIC_AGGREGATE.0 as usize] = TRANSITIVE;
    // optional non-transitive
    t[AttrType::MULTI_EXIT_DISC.0 as usize] = OPTIONAL;
    t[AttrType::ORIGINATOR_ID.0 as usize] = OPTIONAL;
    t[AttrType::CLUSTER_LIST.0 as usize] = OPTIONAL;
    t[AttrType::MP_REACH_NLRI.0 as usize] = OPTIONAL;
    t[AttrType::MP_UNREACH_NLRI.0 as usize] = OPTIONAL;
    // optional transitive
    t[AttrType::AGGREGATOR.0 as usize] = OPTIONAL | TRANSITIVE;
    t[AttrType::COMMUNITIES.0 as usize] = OPTIONAL | TRANSITIVE;
    t[AttrType::EXTENDED_COMMUNITIES.0 as usize] = OPTIONAL | TRANSITIVE;
    t[AttrType::AS4_PATH.0 as usize] = OPTIONAL | TRANSITIVE;
    t[AttrType::AS4_AGGREGATOR.0 as usize] = OPTIONAL | TRANSITIVE;
    t[AttrType::LARGE_COMMUNITY.0 as usize] = OPTIONAL | TRANSITIVE;
    t
};

impl PathAttribute {
    /// The attribute type code.
    pub fn type_code(&self) -> AttrType {
        match self {
            PathAttribute::Origin(_) => AttrType::ORIGIN,
            PathAttribute::AsPath(_) => AttrType::AS_PATH,
            PathAttribute::NextHop(_) => AttrType::NEXT_HOP,
            PathAttribute::MultiExitDisc(_) => AttrType::MULTI_EXIT_DISC,
            PathAttribute::LocalPref(_) => AttrType::LOCAL_PREF,
            PathAttribute::AtomicAggregate => AttrType::ATOMIC_AGGREGATE,
            PathAttribute::Aggregator(_) => AttrType::AGGREGATOR,
            PathAttribute::Communities(_) => AttrType::COMMUNITIES,
            PathAttribute::OriginatorId(_) => AttrType::ORIGINATOR_ID,
            PathAttribute::ClusterList(_) => AttrType::CLUSTER_LIST,
            PathAttribute::MpReach(_) => AttrType::MP_REACH_NLRI,
            PathAttribute::MpUnreach(_) => AttrType::MP_UNREACH_NLRI,
            PathAttribute::ExtendedCommunities(_) => AttrType::EXTENDED_COMMUNITIES,
            PathAttribute::As4Path(_) => AttrType::AS4_PATH,
            PathAttribute::As4Aggregator(_) => AttrType::AS4_AGGREGATOR,
            PathAttribute::LargeCommunities(_) => AttrType::LARGE_COMMUNITY,
            PathAttribute::Unknown(r) => r.type_code,
        }
    }

    /// The flags this attribute is sent with, without the Extended Length bit (which the
    /// encoder sets when the value exceeds 255 octets).
    pub fn flags(&self) -> u8 {
        match self {
            PathAttribute::Unknown(r) => r.flags & RawAttribute::KEPT_FLAGS,
            known => canonical_flags(known.type_code()).unwrap_or(0),
        }
    }

    /// Prepares a received attribute for advertisement to another peer (RFC 4271 §5, §9.1.4):
    /// an unrecognized optional transitive attribute is passed on with the Partial bit set,
    /// an unrecognized optional non-transitive one is dropped (`None`). Recognized
    /// attributes are returned unchanged: which of them to rewrite or strip (NEXT_HOP, MED,
    /// LOCAL_PREF, MP_REACH_NLRI …) is the speaker's policy, not the codec's.
    pub fn for_resend(self) -> Option<PathAttribute> {
        match self {
            PathAttribute::Unknown(r) => r.for_resend().map(PathAttribute::Unknown),
            known => Some(known),
        }
    }
}

impl RawAttribute {
    /// The flag bits kept from the wire: Optional, Transitive and Partial. The Extended
    /// Length bit is recomputed on encode and the four low bits are unused (RFC 4271 §4.3:
    /// "MUST be zero when sent and MUST be ignored when received").
    pub const KEPT_FLAGS: u8 = attr_flags::OPTIONAL | attr_flags::TRANSITIVE | attr_flags::PARTIAL;

    /// True when the Optional bit is set.
    pub fn is_optional(&self) -> bool {
        self.flags & attr_flags::OPTIONAL != 0
    }

    /// True when the Transitive bit is set.
    pub fn is_transitive(&self) -> bool {
        self.flags & attr_flags::TRANSITIVE != 0
    }

    /// True when the Partial bit is set.
    pub fn is_partial(&self) -> bool {
        self.flags & attr_flags::PARTIAL != 0
    }

    /// RFC 4271 §5: "If an optional attribute is unrecognized and is transitive … the
    /// Partial bit in the Attribute Flags octet is set to 1, and the attribute is retained
    /// for propagation"; an unrecognized optional non-transitive attribute "MUST be quietly
    /// ignored and not passed along" (`None`). A well-known attribute (Optional bit clear)
    /// is returned unchanged.
    pub fn for_resend(mut self) -> Option<RawAttribute> {
        if !self.is_optional() {
            return Some(self);
        }
        if !self.is_transitive() {
            return None;
        }
        self.flags |= attr_flags::PARTIAL;
        Some(self)
    }
}

/// Applies [`PathAttribute::for_resend`] to each attribute of a received UPDATE.
pub fn prepare_for_resend(attrs: Vec<PathAttribute>) -> Vec<PathAttribute> {
    attrs
        .into_iter()
        .filter_map(PathAttribute::for_resend)
        .collect()
}
