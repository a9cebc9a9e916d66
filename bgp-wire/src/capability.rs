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

use crate::codec::{put_u16, put_u32, Reader};
use crate::error::OpenError;
use crate::iana::{Afi, CapabilityCode, Family, Safi};
use crate::message::EncodeError;

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

/// Largest capability value: its length field is one octet (RFC 5492 §4).
pub const MAX_CAPABILITY_VALUE_LEN: usize = 0xff;

/// Largest restart time the graceful restart capability can carry: 12 bits (RFC 4724 §3).
pub const MAX_RESTART_TIME: u16 = 0x0fff;

// Graceful restart bits (RFC 4724 §3, RFC 8538 §2): in the first octet of the value, R is
// the most significant bit and N the next; in each family's flags, F is the most
// significant bit. The other bits are reserved: sent as zero, ignored on receipt.
const GR_RESTART_STATE: u16 = 0x8000;
const GR_NOTIFICATION: u16 = 0x4000;
const GR_FORWARDING_PRESERVED: u8 = 0x80;

impl Capability {
    /// The capability code.
    pub fn code(&self) -> CapabilityCode {
        match self {
            Capability::Multiprotocol(_) => CapabilityCode::MULTIPROTOCOL,
            Capability::RouteRefresh => CapabilityCode::ROUTE_REFRESH,
            Capability::RouteRefreshCisco => CapabilityCode::ROUTE_REFRESH_CISCO,
            Capability::EnhancedRouteRefresh => CapabilityCode::ENHANCED_ROUTE_REFRESH,
            Capability::FourOctetAs(_) => CapabilityCode::FOUR_OCTET_AS,
            Capability::GracefulRestart(_) => CapabilityCode::GRACEFUL_RESTART,
            Capability::AddPath(_) => CapabilityCode::ADD_PATH,
            Capability::ExtendedNextHop(_) => CapabilityCode::EXTENDED_NEXT_HOP,
            Capability::ExtendedMessage => CapabilityCode::EXTENDED_MESSAGE,
            Capability::Fqdn { .. } => CapabilityCode::FQDN,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Length of the capability value (without the code and length octets).
    pub fn value_len(&self) -> usize {
        match self {
            Capability::Multiprotocol(_) => 4,
            Capability::RouteRefresh
            | Capability::RouteRefreshCisco
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => 0,
            Capability::FourOctetAs(_) => 4,
            Capability::GracefulRestart(g) => 2 + 4 * g.families.len(),
            Capability::AddPath(e) => 4 * e.len(),
            Capability::ExtendedNextHop(e) => 6 * e.len(),
            Capability::Fqdn { hostname, domain } => 2 + hostname.len() + domain.len(),
            Capability::Unknown { value, .. } => value.len(),
        }
    }

    /// Length of the encoded capability: code, length and value.
    pub fn encoded_len(&self) -> usize {
        2 + self.value_len()
    }

    /// Appends the capability (code, length, value). On error nothing is appended.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let len = self.value_len();
        if len > MAX_CAPABILITY_VALUE_LEN {
            return Err(EncodeError::FieldTooLong {
                field: "capability value",
            });
        }
        if let Capability::GracefulRestart(g) = self {
            if g.restart_time > MAX_RESTART_TIME {
                return Err(EncodeError::OutOfRange {
                    field: "graceful restart time",
                });
            }
        }
        let start = out.len();
        out.push(self.code().0);
        out.push(len as u8);
        match self {
            Capability::Multiprotocol(f) => {
                // RFC 4760 §8: AFI, a reserved octet that "SHOULD be set to 0 by the
                // sender", SAFI.
                put_u16(out, f.afi.0);
                out.push(0);
                out.push(f.safi.0);
            }
            Capability::RouteRefresh
            | Capability::RouteRefreshCisco
            | Capability::EnhancedRouteRefresh
            | Capability::ExtendedMessage => {}
            Capability::FourOctetAs(asn) => put_u32(out, *asn),
            Capability::GracefulRestart(g) => {
                let mut word = g.restart_time;
                if g.restart_state {
                    word |= GR_RESTART_STATE;
                }
                if g.notification {
                    word |= GR_NOTIFICATION;
                }
                put_u16(out, word);
                for f in &g.families {
                    put_u16(out, f.family.afi.0);
                    out.push(f.family.safi.0);
                    out.push(if f.forwarding_preserved {
                        GR_FORWARDING_PRESERVED
                    } else {
                        0
                    });
                }
            }
            Capability::AddPath(entries) => {
                for e in entries {
                    put_u16(out, e.family.afi.0);
                    out.push(e.family.safi.0);
                    out.push(e.mode.code());
                }
            }
            Capability::ExtendedNextHop(entries) => {
                for e in entries {
                    put_u16(out, e.nlri_afi.0);
                    put_u16(out, e.nlri_safi);
                    put_u16(out, e.next_hop_afi.0);
                }
            }
            Capability::Fqdn { hostname, domain } => {
                // Both lengths are single octets; their sum with the two length octets is
                // the value length, already checked to be at most 255.
                out.push(hostname.len() as u8);
                out.extend_from_slice(hostname);
                out.push(domain.len() as u8);
                out.extend_from_slice(domain);
            }
            Capability::Unknown { value, .. } => out.extend_from_slice(value),
        }
        debug_assert_eq!(out.len() - start, self.encoded_len());
        Ok(())
    }

    /// Decodes one capability (code, length, value) from `r`.
    ///
    /// A known code whose value does not parse is an error
    /// ([`OpenError::MalformedCapability`], sent as NOTIFICATION 2/0 Unspecific). RFC 5492
    /// names no subcode for it, and 2/7 Unsupported Capability would tell the peer we do
    /// not support something we do. Accepting the OPEN while dropping the bad capability
    /// would negotiate different things on the two sides (an ADD-PATH family one side
    /// thinks is on, a 4-octet AS one side thinks is off) and corrupt the UPDATE stream
    /// later, far from the cause. FRR (`bgp_capability_parse`) and BIRD
    /// (`bgp_read_capabilities`) both answer a known capability of the wrong length with
    /// 2/0. For an ADD-PATH send/receive value outside 1..=3 BIRD only logs a warning; we
    /// refuse it too, since RFC 7911 §4 defines no such mode and guessing one would
    /// desynchronise the path identifiers.
    pub fn decode(r: &mut Reader<'_>) -> Result<Capability, OpenError> {
        let offset = r.offset();
        let code = CapabilityCode(r.u8("capability code").map_err(OpenError::Malformed)?);
        let len = r.u8("capability length").map_err(OpenError::Malformed)?;
        let value = r
            .sub(len as usize, "capability value")
            .map_err(OpenError::Malformed)?;
        Self::decode_value(code, value, offset)
    }

    /// Decodes a capability value of `code` held whole by `value`. `offset` is where the
    /// capability starts, for the error.
    pub fn decode_value(
        code: CapabilityCode,
        mut value: Reader<'_>,
        offset: usize,
    ) -> Result<Capability, OpenError> {
        let bad = |reason| OpenError::MalformedCapability {
            code,
            offset,
            reason,
        };
        let len = value.remaining();
        // Every read below is checked against the length first, so a failed read cannot
        // happen; the map keeps the error typed if one ever did.
        let short = |_| bad("value shorter than its fields");
        let cap = match code {
            CapabilityCode::MULTIPROTOCOL => {
                if len != 4 {
                    return Err(bad("length must be 4"));
                }
                let afi = Afi(value.u16("AFI").map_err(short)?);
                // RFC 4760 §8: the reserved octet "SHOULD be ... ignored by the receiver".
                value.u8("reserved").map_err(short)?;
                let safi = Safi(value.u8("SAFI").map_err(short)?);
                Capability::Multiprotocol(Family::new(afi, safi))
            }
            CapabilityCode::ROUTE_REFRESH
            | CapabilityCode::ROUTE_REFRESH_CISCO
            | CapabilityCode::ENHANCED_ROUTE_REFRESH
            | CapabilityCode::EXTENDED_MESSAGE => {
                if len != 0 {
                    return Err(bad("length must be 0"));
                }
                match code {
                    CapabilityCode::ROUTE_REFRESH => Capability::RouteRefresh,
                    CapabilityCode::ROUTE_REFRESH_CISCO => Capability::RouteRefreshCisco,
                    CapabilityCode::ENHANCED_ROUTE_REFRESH => Capability::EnhancedRouteRefresh,
                    _ => Capability::ExtendedMessage,
                }
            }
            CapabilityCode::FOUR_OCTET_AS => {
                if len != 4 {
                    return Err(bad("length must be 4"));
                }
                Capability::FourOctetAs(value.u32("AS number").map_err(short)?)
            }
            CapabilityCode::GRACEFUL_RESTART => {
                if len < 2 || (len - 2) % 4 != 0 {
                    return Err(bad("length must be 2 plus a multiple of 4"));
                }
                let word = value.u16("restart flags and time").map_err(short)?;
                let mut families = Vec::with_capacity((len - 2) / 4);
                while !value.is_empty() {
                    let afi = Afi(value.u16("AFI").map_err(short)?);
                    let safi = Safi(value.u8("SAFI").map_err(short)?);
                    let flags = value.u8("address family flags").map_err(short)?;
                    families.push(GracefulRestartFamily {
                        family: Family::new(afi, safi),
                        forwarding_preserved: flags & GR_FORWARDING_PRESERVED != 0,
                    });
                }
                Capability::GracefulRestart(GracefulRestartCap {
                    restart_state: word & GR_RESTART_STATE != 0,
                    notification: word & GR_NOTIFICATION != 0,
                    restart_time: word & MAX_RESTART_TIME,
                    families,
                })
            }
            CapabilityCode::ADD_PATH => {
                if len % 4 != 0 {
                    return Err(bad("length must be a multiple of 4"));
                }
                let mut entries = Vec::with_capacity(len / 4);
                while !value.is_empty() {
                    let afi = Afi(value.u16("AFI").map_err(short)?);
                    let safi = Safi(value.u8("SAFI").map_err(short)?);
                    // RFC 7911 §4 defines 1 (receive), 2 (send) and 3 (both); no other
                    // value has a meaning to negotiate with.
                    let mode = AddPathMode::from_code(value.u8("send/receive").map_err(short)?)
                        .ok_or_else(|| bad("send/receive must be 1, 2 or 3"))?;
                    entries.push(AddPathEntry {
                        family: Family::new(afi, safi),
                        mode,
                    });
                }
                Capability::AddPath(entries)
            }
            CapabilityCode::EXTENDED_NEXT_HOP => {
                if len % 6 != 0 {
                    return Err(bad("length must be a multiple of 6"));
                }
                let mut entries = Vec::with_capacity(len / 6);
                while !value.is_empty() {
                    entries.push(ExtendedNextHopEntry {
                        nlri_afi: Afi(value.u16("NLRI AFI").map_err(short)?),
                        nlri_safi: value.u16("NLRI SAFI").map_err(short)?,
                        next_hop_afi: Afi(value.u16("next hop AFI").map_err(short)?),
                    });
                }
                Capability::ExtendedNextHop(entries)
            }
            CapabilityCode::FQDN => {
                let missing = |_| bad("host or domain name overruns the value");
                let n = value.u8("hostname length").map_err(missing)?;
                let hostname = value
                    .take(n as usize, "hostname")
                    .map_err(missing)?
                    .to_vec();
                let n = value.u8("domain name length").map_err(missing)?;
                let domain = value
                    .take(n as usize, "domain name")
                    .map_err(missing)?
                    .to_vec();
                if !value.is_empty() {
                    return Err(bad("bytes after the domain name"));
                }
                Capability::Fqdn { hostname, domain }
            }
            _ => Capability::Unknown {
                code,
                value: value.rest().to_vec(),
            },
        };
        Ok(cap)
    }
}

impl AddPathMode {
    /// The wire value (RFC 7911 §4): 1 receive, 2 send, 3 both.
    pub fn code(self) -> u8 {
        match self {
            AddPathMode::Receive => 1,
            AddPathMode::Send => 2,
            AddPathMode::Both => 3,
        }
    }

    /// The mode for a wire value, or `None` outside 1..=3.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(AddPathMode::Receive),
            2 => Some(AddPathMode::Send),
            3 => Some(AddPathMode::Both),
            _ => None,
        }
    }
}

/// Decodes a sequence of capabilities filling `r` (the value of one capabilities optional
/// parameter, RFC 5492 §4).
pub fn decode_capabilities(r: &mut Reader<'_>) -> Result<Vec<Capability>, OpenError> {
    let mut caps = Vec::new();
    while !r.is_empty() {
        caps.push(Capability::decode(r)?);
    }
    Ok(caps)
}

/// Appends each capability, in order.
pub fn encode_capabilities(caps: &[Capability], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    for c in caps {
        if let Err(e) = c.encode(out) {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

/// The data of a NOTIFICATION 2/7 Unsupported Capability: RFC 5492 §5, "the Data field of
/// the NOTIFICATION message MUST list the set of capabilities that cause the speaker to send
/// the message. Each such capability is encoded in the same way as it would be encoded in
/// the OPEN message."
///
/// `caps` are the capabilities the peer sent that we refuse, or those we require that it did
/// not send. Capabilities that cannot be encoded (a value over 255 bytes, only possible for
/// one built by hand) are left out, and the list stops before the data would exceed what a
/// 4096-byte NOTIFICATION can carry.
pub fn unsupported_capability_data(caps: &[Capability]) -> Vec<u8> {
    // 4096 - 19 (header) - 2 (code, subcode).
    const MAX_DATA: usize = crate::framing::MAX_MESSAGE_LEN - crate::framing::HEADER_LEN - 2;
    let mut out = Vec::new();
    for c in caps {
        if out.len() + c.encoded_len() > MAX_DATA {
            break;
        }
        // On error `encode` appends nothing, which is the skip we want.
        let _ = c.encode(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_one(bytes: &[u8]) -> Result<Capability, OpenError> {
        let mut r = Reader::new(bytes);
        let c = Capability::decode(&mut r)?;
        assert!(r.is_empty(), "decode left bytes");
        Ok(c)
    }

    fn round_trip(c: Capability, bytes: &[u8]) {
        let mut out = Vec::new();
        c.encode(&mut out).unwrap();
        assert_eq!(out, bytes, "encoding of {c:?}");
        assert_eq!(c.encoded_len(), bytes.len());
        assert_eq!(decode_one(bytes).unwrap(), c);
    }

    fn malformed(bytes: &[u8]) -> &'static str {
        match decode_one(bytes) {
            Err(OpenError::MalformedCapability { reason, offset, .. }) => {
                assert_eq!(offset, 0);
                reason
            }
            other => panic!("expected MalformedCapability, got {other:?}"),
        }
    }

    #[test]
    fn encodes_each_kind_as_the_rfcs_lay_it_out() {
        round_trip(
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            &[0x01, 0x04, 0x00, 0x02, 0x00, 0x01],
        );
        round_trip(Capability::RouteRefresh, &[0x02, 0x00]);
        round_trip(Capability::RouteRefreshCisco, &[0x80, 0x00]);
        round_trip(Capability::EnhancedRouteRefresh, &[0x46, 0x00]);
        round_trip(Capability::ExtendedMessage, &[0x06, 0x00]);
        round_trip(
            Capability::FourOctetAs(4_200_000_000),
            &[0x41, 0x04, 0xfa, 0x56, 0xea, 0x00],
        );
        round_trip(
            Capability::GracefulRestart(GracefulRestartCap {
                restart_state: true,
                notification: true,
                restart_time: 120,
                families: vec![GracefulRestartFamily {
                    family: Family::IPV4_UNICAST,
                    forwarding_preserved: true,
                }],
            }),
            &[0x40, 0x06, 0xc0, 0x78, 0x00, 0x01, 0x01, 0x80],
        );
        round_trip(
            Capability::AddPath(vec![AddPathEntry {
                family: Family::IPV6_UNICAST,
                mode: AddPathMode::Both,
            }]),
            &[0x45, 0x04, 0x00, 0x02, 0x01, 0x03],
        );
        round_trip(
            Capability::ExtendedNextHop(vec![ExtendedNextHopEntry {
                nlri_afi: Afi::IPV4,
                nlri_safi: 1,
                next_hop_afi: Afi::IPV6,
            }]),
            &[0x05, 0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x02],
        );
        round_trip(
            Capability::Fqdn {
                hostname: b"n1".to_vec(),
                domain: vec![],
            },
            &[0x49, 0x04, 0x02, b'n', b'1', 0x00],
        );
        round_trip(
            Capability::Unknown {
                code: CapabilityCode(0x47),
                value: vec![0x01, 0x02],
            },
            &[0x47, 0x02, 0x01, 0x02],
        );
    }

    #[test]
    fn rejects_add_path_mode_zero() {
        assert_eq!(
            malformed(&[0x45, 0x04, 0x00, 0x01, 0x01, 0x00]),
            "send/receive must be 1, 2 or 3"
        );
    }

    #[test]
    fn rejects_add_path_mode_above_three() {
        assert_eq!(
            malformed(&[0x45, 0x04, 0x00, 0x01, 0x01, 0x04]),
            "send/receive must be 1, 2 or 3"
        );
    }

    #[test]
    fn rejects_known_capabilities_of_the_wrong_length() {
        malformed(&[0x01, 0x03, 0x00, 0x01, 0x00]);
        malformed(&[0x02, 0x01, 0x00]);
        malformed(&[0x06, 0x01, 0x00]);
        malformed(&[0x41, 0x02, 0xfd, 0xe8]);
        malformed(&[0x40, 0x01, 0x00]);
        malformed(&[0x40, 0x04, 0x00, 0x78, 0x00, 0x01]);
        malformed(&[0x45, 0x03, 0x00, 0x01, 0x01]);
        malformed(&[0x05, 0x04, 0x00, 0x01, 0x00, 0x01]);
    }

    #[test]
    fn rejects_fqdn_whose_names_overrun_or_underrun_the_value() {
        malformed(&[0x49, 0x03, 0x05, b'a', b'b']);
        malformed(&[0x49, 0x02, 0x00, 0x01]);
        malformed(&[0x49, 0x03, 0x00, 0x00, 0x00]);
    }

    #[test]
    fn ignores_reserved_bits_of_graceful_restart() {
        let c = decode_one(&[0x40, 0x06, 0x30, 0x5a, 0x00, 0x01, 0x01, 0x7f]).unwrap();
        assert_eq!(
            c,
            Capability::GracefulRestart(GracefulRestartCap {
                restart_state: false,
                notification: false,
                restart_time: 0x5a,
                families: vec![GracefulRestartFamily {
                    family: Family::IPV4_UNICAST,
                    forwarding_preserved: false,
                }],
            })
        );
    }

    #[test]
    fn capability_length_overrunning_the_parameter_is_short() {
        let mut r = Reader::with_base(&[0x41, 0x04, 0x00, 0x00], 40);
        match Capability::decode(&mut r) {
            Err(OpenError::Malformed(s)) => {
                assert_eq!(s.field, "capability value");
                assert_eq!(s.offset, 42);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_to_encode_restart_time_over_twelve_bits() {
        let c = Capability::GracefulRestart(GracefulRestartCap {
            restart_time: 4096,
            ..Default::default()
        });
        let mut out = vec![0xaa];
        assert!(matches!(
            c.encode(&mut out),
            Err(EncodeError::OutOfRange { .. })
        ));
        assert_eq!(out, [0xaa]);
    }

    #[test]
    fn refuses_to_encode_a_value_over_255_bytes() {
        let c = Capability::AddPath(
            (0..64)
                .map(|_| AddPathEntry {
                    family: Family::IPV4_UNICAST,
                    mode: AddPathMode::Send,
                })
                .collect(),
        );
        assert_eq!(c.value_len(), 256);
        assert!(matches!(
            c.encode(&mut Vec::new()),
            Err(EncodeError::FieldTooLong { .. })
        ));
    }

    #[test]
    fn unsupported_capability_data_lists_capabilities_as_in_open() {
        let data = unsupported_capability_data(&[
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::FourOctetAs(65000),
        ]);
        assert_eq!(
            data,
            [0x01, 0x04, 0x00, 0x02, 0x00, 0x01, 0x41, 0x04, 0x00, 0x00, 0xfd, 0xe8]
        );
    }

    #[test]
    fn unsupported_capability_data_fits_a_notification() {
        let big = Capability::Unknown {
            code: CapabilityCode(0xf0),
            value: vec![0; 255],
        };
        let data = unsupported_capability_data(&vec![big; 20]);
        assert_eq!(data.len(), 15 * 257);
        assert!(data.len() <= 4096 - 21);
    }
}
