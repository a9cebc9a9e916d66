//! IANA codepoints. Values that must survive when unknown (AFI, SAFI, capability codes,
//! attribute type codes) are newtypes with named constants; closed sets are enums.

use std::fmt;

macro_rules! codepoint {
    ($(#[$m:meta])* $name:ident($inner:ty) { $($(#[$cm:meta])* $c:ident = $v:expr,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        pub struct $name(pub $inner);
        impl $name {
            $($(#[$cm])* pub const $c: $name = $name($v);)*
            /// The registered name, if this value has one we know.
            pub fn name(self) -> Option<&'static str> {
                match self { $(Self::$c => Some(stringify!($c)),)* _ => None }
            }
        }
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({:#x})", stringify!($name), self.0),
                }
            }
        }
    };
}
pub(crate) use codepoint;

codepoint! {
    /// Address Family Identifier (IANA "Address Family Numbers").
    Afi(u16) {
        /// IPv4, RFC 4760.
        IPV4 = 1,
        /// IPv6, RFC 4760.
        IPV6 = 2,
        /// L2VPN, RFC 4761 (recognised by name only).
        L2VPN = 25,
    }
}

codepoint! {
    /// Subsequent Address Family Identifier (IANA "SAFI Values").
    Safi(u8) {
        /// Unicast forwarding, RFC 4760.
        UNICAST = 1,
        /// Multicast forwarding, RFC 4760.
        MULTICAST = 2,
        /// MPLS-labeled VPN, RFC 4364 (recognised by name only).
        MPLS_VPN = 128,
        /// Flow specification, RFC 8955 (recognised by name only).
        FLOWSPEC = 133,
    }
}

codepoint! {
    /// Capability codes (IANA "Capability Codes"; RFC 5492).
    CapabilityCode(u8) {
        /// RFC 4760.
        MULTIPROTOCOL = 1,
        /// RFC 2918.
        ROUTE_REFRESH = 2,
        /// RFC 8950.
        EXTENDED_NEXT_HOP = 5,
        /// RFC 8654.
        EXTENDED_MESSAGE = 6,
        /// RFC 4724.
        GRACEFUL_RESTART = 64,
        /// RFC 6793.
        FOUR_OCTET_AS = 65,
        /// RFC 7911.
        ADD_PATH = 69,
        /// RFC 7313.
        ENHANCED_ROUTE_REFRESH = 70,
        /// draft-ietf-idr-dynamic-cap-hostname (FQDN capability).
        FQDN = 73,
        /// Pre-standard route refresh (Cisco), still sent by some routers.
        ROUTE_REFRESH_CISCO = 128,
    }
}

codepoint! {
    /// Path attribute type codes (IANA "BGP Path Attributes").
    AttrType(u8) {
        /// RFC 4271 §5.1.1.
        ORIGIN = 1,
        /// RFC 4271 §5.1.2.
        AS_PATH = 2,
        /// RFC 4271 §5.1.3.
        NEXT_HOP = 3,
        /// RFC 4271 §5.1.4.
        MULTI_EXIT_DISC = 4,
        /// RFC 4271 §5.1.5.
        LOCAL_PREF = 5,
        /// RFC 4271 §5.1.6.
        ATOMIC_AGGREGATE = 6,
        /// RFC 4271 §5.1.7.
        AGGREGATOR = 7,
        /// RFC 1997.
        COMMUNITIES = 8,
        /// RFC 4456.
        ORIGINATOR_ID = 9,
        /// RFC 4456.
        CLUSTER_LIST = 10,
        /// RFC 4760.
        MP_REACH_NLRI = 14,
        /// RFC 4760.
        MP_UNREACH_NLRI = 15,
        /// RFC 4360.
        EXTENDED_COMMUNITIES = 16,
        /// RFC 6793.
        AS4_PATH = 17,
        /// RFC 6793.
        AS4_AGGREGATOR = 18,
        /// RFC 8092.
        LARGE_COMMUNITY = 32,
    }
}

/// Path attribute flag bits (RFC 4271 §4.3).
pub mod attr_flags {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: an optional transitive attribute passed on by a speaker that did not know it.
    pub const PARTIAL: u8 = 0x20;
    /// The length field is two octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// Message type codes (RFC 4271 §4.1, RFC 2918). A closed set: an unknown type is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u8)]
pub enum MessageType {
    /// RFC 4271 §4.2.
    Open = 1,
    /// RFC 4271 §4.3.
    Update = 2,
    /// RFC 4271 §4.5.
    Notification = 3,
    /// RFC 4271 §4.4.
    Keepalive = 4,
    /// RFC 2918.
    RouteRefresh = 5,
}

impl MessageType {
    /// The type for a wire code, or `None` when it is not a BGP message type.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Open,
            2 => Self::Update,
            3 => Self::Notification,
            4 => Self::Keepalive,
            5 => Self::RouteRefresh,
            _ => return None,
        })
    }
}

/// An AFI/SAFI pair.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Family {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
}

impl Family {
    /// IPv4 unicast.
    pub const IPV4_UNICAST: Family = Family {
        afi: Afi::IPV4,
        safi: Safi::UNICAST,
    };
    /// IPv6 unicast.
    pub const IPV6_UNICAST: Family = Family {
        afi: Afi::IPV6,
        safi: Safi::UNICAST,
    };

    /// A family from its parts.
    pub const fn new(afi: Afi, safi: Safi) -> Self {
        Family { afi, safi }
    }

    /// gobgp's name for the family (`ipv4-unicast`), or `afi-N/safi-M`.
    pub fn gobgp_name(self) -> String {
        match self {
            Self::IPV4_UNICAST => "ipv4-unicast".into(),
            Self::IPV6_UNICAST => "ipv6-unicast".into(),
            Family { afi, safi } => format!("afi-{}/safi-{}", afi.0, safi.0),
        }
    }
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.gobgp_name())
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.gobgp_name())
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::*;
    impl serde::Serialize for Family {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&self.gobgp_name())
        }
    }
    macro_rules! ser_code {
        ($($t:ty),*) => {$(
            impl serde::Serialize for $t {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    match self.name() {
                        Some(n) => s.serialize_str(n),
                        None => s.serialize_u64(self.0 as u64),
                    }
                }
            }
        )*};
    }
    ser_code!(Afi, Safi, CapabilityCode, AttrType);
}

/// Well-known communities (RFC 1997, RFC 8326).
pub mod community {
    /// GRACEFUL_SHUTDOWN, RFC 8326 §3.
    pub const GRACEFUL_SHUTDOWN: u32 = 0xffff_0000;
    /// NO_EXPORT, RFC 1997.
    pub const NO_EXPORT: u32 = 0xffff_ff01;
    /// NO_ADVERTISE, RFC 1997.
    pub const NO_ADVERTISE: u32 = 0xffff_ff02;
}

/// AS_TRANS, the 2-octet stand-in for a 4-octet AS number (RFC 6793 §2).
pub const AS_TRANS: u16 = 23456;
