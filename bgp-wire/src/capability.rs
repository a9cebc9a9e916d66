//! BGP capabilities (RFC 5492) carried in the OPEN message's optional parameters.
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! +------------------------------+
//! ```

use crate::iana::{Afi, CapabilityCode, Family};

/// One capability. Unknown codes keep their raw value so they can be shown and re-sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub enum Capability {
    /// Multiprotocol extensions, RFC 4760 §8.
    Multiprotocol(Family),
    /// Route refresh, RFC 2918 §3.
    RouteRefresh,
    /// The pre-standard route refresh code 128, kept apart so it re-encodes as sent.
    RouteRefreshCisco,
    /// Enhanced route refresh, RFC 7313 §3.
    EnhancedRouteRefresh,
    /// 4-octet AS number support, RFC 6793 §3, with the speaker's AS number.
    FourOctetAs(u32),
    /// Graceful restart, RFC 4724 §3 (and the N bit of RFC 8538).
    GracefulRestart(GracefulRestartCap),
    /// ADD-PATH, RFC 7911 §4.
    AddPath(Vec<AddPathEntry>),
    /// Extended next hop encoding, RFC 8950 §3.
    ExtendedNextHop(Vec<ExtendedNextHopEntry>),
    /// Extended messages, RFC 8654 §3.
    ExtendedMessage,
    /// Hostname and domain name, draft-ietf-idr-dynamic-cap-hostname §3. Bytes as sent; they
    /// are meant to be UTF-8 but a peer may send anything.
    Fqdn {
        /// Host name.
        hostname: Vec<u8>,
        /// Domain name.
        domain: Vec<u8>,
    },
    /// A capability this crate does not interpret.
    Unknown {
        /// The code.
        code: CapabilityCode,
        /// The raw value.
        value: Vec<u8>,
    },
}

/// Graceful restart capability value (RFC 4724 §3).
///
/// ```text
/// +--------------------------------------------------+
/// | Restart Flags (4 bits) | Restart Time (12 bits)   |
/// +--------------------------------------------------+
/// | AFI (2) | SAFI (1) | Flags for Address Family (1) |  repeated
/// +--------------------------------------------------+
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct GracefulRestartCap {
    /// R bit: the sender has restarted (RFC 4724 §3).
    pub restart_state: bool,
    /// N bit: the sender supports graceful restart for NOTIFICATION (RFC 8538 §2).
    pub notification: bool,
    /// Restart time in seconds, 12 bits.
    pub restart_time: u16,
    /// Families the sender preserves forwarding state for.
    pub families: Vec<GracefulRestartFamily>,
}

/// One family entry of the graceful restart capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct GracefulRestartFamily {
    /// The family.
    pub family: Family,
    /// F bit: forwarding state was preserved across the restart.
    pub forwarding_preserved: bool,
}

/// Send/receive mode of an ADD-PATH entry (RFC 7911 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub enum AddPathMode {
    /// 1: able to receive multiple paths.
    Receive,
    /// 2: able to send multiple paths.
    Send,
    /// 3: both.
    Both,
}

impl AddPathMode {
    /// Whether the sender of this entry can receive multiple paths.
    pub fn can_receive(self) -> bool {
        matches!(self, AddPathMode::Receive | AddPathMode::Both)
    }
    /// Whether the sender of this entry can send multiple paths.
    pub fn can_send(self) -> bool {
        matches!(self, AddPathMode::Send | AddPathMode::Both)
    }
}

/// One AFI/SAFI entry of the ADD-PATH capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct AddPathEntry {
    /// The family.
    pub family: Family,
    /// Send/receive.
    pub mode: AddPathMode,
}

/// One entry of the extended next hop capability (RFC 8950 §3): NLRI of this AFI/SAFI may
/// carry a next hop of `next_hop_afi`. The SAFI is 16 bits here, unlike elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct ExtendedNextHopEntry {
    /// NLRI AFI.
    pub nlri_afi: Afi,
    /// NLRI SAFI (two octets in this capability).
    pub nlri_safi: u16,
    /// Next hop AFI.
    pub next_hop_afi: Afi,
}
