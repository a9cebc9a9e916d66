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

use crate::iana::{AttrType, Family};
use crate::nlri::Nlri;

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
