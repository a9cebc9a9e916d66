//! OPEN message (RFC 4271 §4.2, RFC 5492, RFC 9072 extended optional parameters length).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Optional Parameters (variable)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv4Addr;

use super::EncodeError;
use crate::capability::{
    decode_capabilities, encode_capabilities, AddPathEntry, AddPathMode, Capability,
    ExtendedNextHopEntry, GracefulRestartCap, MAX_CAPABILITY_VALUE_LEN,
};
use crate::codec::{len_placeholder, patch_len, put_u16, put_u32, Reader};
use crate::error::OpenError;
use crate::iana::{Family, AS_TRANS};

/// The BGP version this crate speaks.
pub const BGP_VERSION: u8 = 4;
/// Optional parameter type of capabilities (RFC 5492 §4).
pub const CAPABILITIES_PARAM: u8 = 2;
/// Value of the one-octet length and the first type octet that mark the RFC 9072 extended
/// optional parameters form.
pub const EXTENDED_PARAMS_MARKER: u8 = 0xff;

/// An OPEN message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct OpenMsg {
    /// Protocol version; 4.
    pub version: u8,
    /// My Autonomous System: the sender's AS, or AS_TRANS (23456) when it is 4-octet.
    pub my_as: u16,
    /// Proposed hold time in seconds (0, or at least 3).
    pub hold_time: u16,
    /// BGP identifier (RFC 6286: any non-zero 4 octets).
    pub bgp_id: Ipv4Addr,
    /// Optional parameters in the order sent.
    pub params: Vec<OptionalParam>,
}

/// An optional parameter of the OPEN message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub enum OptionalParam {
    /// Type 2: capabilities (RFC 5492 §4). One parameter may carry several.
    Capabilities(Vec<Capability>),
    /// Any other type; unsupported (the receiver answers 2/4) but kept for display.
    Unknown {
        /// Parameter type.
        kind: u8,
        /// Raw value.
        value: Vec<u8>,
    },
}

impl OpenMsg {
    /// Every capability, in the order sent, across all capability parameters.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.params.iter().flat_map(|p| match p {
            OptionalParam::Capabilities(c) => c.as_slice(),
            OptionalParam::Unknown { .. } => &[],
        })
    }

    /// The sender's AS number: the 4-octet AS capability's if present, else `my_as`
    /// (RFC 6793 §4.1).
    pub fn asn(&self) -> u32 {
        self.capabilities()
            .find_map(|c| match c {
                Capability::FourOctetAs(a) => Some(*a),
                _ => None,
            })
            .unwrap_or(self.my_as as u32)
    }
}

impl OpenMsg {
    /// The sender's 4-octet AS capability value, if it sent one (RFC 6793 §3). The first
    /// instance counts; RFC 6793 defines no meaning for several.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities().find_map(|c| match c {
            Capability::FourOctetAs(a) => Some(*a),
            _ => None,
        })
    }

    /// Families announced with the multiprotocol capability (RFC 4760 §8), in the order
    /// sent, without repeats. Empty when the sender announced none; see
    /// [`OpenMsg::families_or_ipv4_unicast`].
    pub fn families(&self) -> Vec<Family> {
        let mut out = Vec::new();
        for c in self.capabilities() {
            if let Capability::Multiprotocol(f) = c {
                if !out.contains(f) {
                    out.push(*f);
                }
            }
        }
        out
    }

    /// [`OpenMsg::families`], or IPv4 unicast alone when the sender announced no
    /// multiprotocol capability: a speaker without RFC 4760 can carry only IPv4 unicast,
    /// in the RFC 4271 fields of UPDATE.
    pub fn families_or_ipv4_unicast(&self) -> Vec<Family> {
        let f = self.families();
        if f.is_empty() {
            vec![Family::IPV4_UNICAST]
        } else {
            f
        }
    }

    /// Every ADD-PATH entry (RFC 7911 §4) across all ADD-PATH capabilities, one per family:
    /// when a family appears more than once the last entry wins.
    pub fn add_path(&self) -> Vec<AddPathEntry> {
        let mut out: Vec<AddPathEntry> = Vec::new();
        for c in self.capabilities() {
            if let Capability::AddPath(entries) = c {
                for e in entries {
                    match out.iter_mut().find(|x| x.family == e.family) {
                        Some(x) => x.mode = e.mode,
                        None => out.push(*e),
                    }
                }
            }
        }
        out
    }

    /// The ADD-PATH mode the sender announced for `family`, if any.
    pub fn add_path_mode(&self, family: Family) -> Option<AddPathMode> {
        self.add_path()
            .into_iter()
            .find(|e| e.family == family)
            .map(|e| e.mode)
    }

    /// The graceful restart capability (RFC 4724 §3). The last instance counts, as in BIRD:
    /// RFC 4724 does not define several.
    pub fn graceful_restart(&self) -> Option<&GracefulRestartCap> {
        self.capabilities()
            .filter_map(|c| match c {
                Capability::GracefulRestart(g) => Some(g),
                _ => None,
            })
            .last()
    }

    /// Whether the sender supports ROUTE-REFRESH (RFC 2918 §3), by the standard code 2 or
    /// the pre-standard code 128.
    pub fn route_refresh(&self) -> bool {
        self.capabilities()
            .any(|c| matches!(c, Capability::RouteRefresh | Capability::RouteRefreshCisco))
    }

    /// Whether the sender supports enhanced route refresh (RFC 7313 §3).
    pub fn enhanced_route_refresh(&self) -> bool {
        self.capabilities()
            .any(|c| matches!(c, Capability::EnhancedRouteRefresh))
    }

    /// Whether the sender supports extended messages (RFC 8654 §3).
    pub fn extended_message(&self) -> bool {
        self.capabilities()
            .any(|c| matches!(c, Capability::ExtendedMessage))
    }

    /// Every extended next hop entry (RFC 8950 §3) across all such capabilities.
    pub fn extended_next_hop(&self) -> Vec<ExtendedNextHopEntry> {
        self.capabilities()
            .filter_map(|c| match c {
                Capability::ExtendedNextHop(e) => Some(e.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    }

    /// The sender's host and domain name from the FQDN capability, as sent (meant to be
    /// UTF-8; show them with [`String::from_utf8_lossy`]).
    pub fn fqdn(&self) -> Option<(&[u8], &[u8])> {
        self.capabilities().find_map(|c| match c {
            Capability::Fqdn { hostname, domain } => Some((hostname.as_slice(), domain.as_slice())),
            _ => None,
        })
    }

    /// Optional parameters other than capabilities. RFC 4271 §6.2: "If one of the Optional
    /// Parameters in the OPEN message is not recognized, then the Error Subcode MUST be set
    /// to Unsupported Optional Parameters." The session refuses the OPEN when this is
    /// not empty; the codec keeps them so that the refusal can name them.
    pub fn unsupported_params(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.params.iter().filter_map(|p| match p {
            OptionalParam::Unknown { kind, value } => Some((*kind, value.as_slice())),
            OptionalParam::Capabilities(_) => None,
        })
    }

    /// Starts the OPEN porter sends: version 4, the given AS and identifier, hold time 90
    /// (RFC 4271 §10 suggests 90 seconds), the 4-octet AS capability always (RFC 6793 §3: a
    /// speaker that supports it "MUST advertise" it).
    pub fn builder(asn: u32, bgp_id: Ipv4Addr) -> OpenBuilder {
        OpenBuilder {
            asn,
            bgp_id,
            hold_time: 90,
            families: Vec::new(),
            route_refresh: false,
            enhanced_route_refresh: false,
            extended_message: false,
            graceful_restart: None,
            add_path: Vec::new(),
            extended_next_hop: Vec::new(),
            fqdn: None,
            others: Vec::new(),
        }
    }

    /// Decodes an OPEN body (the header already checked).
    ///
    /// A version other than 4 is reported before anything else is read: the version is
    /// what decides how the rest would be read. Hold times of 1 or 2, a zero identifier
    /// and a wrong peer AS decode fine; the session checks those against its
    /// configuration. Optional parameters of types other than 2 are kept as
    /// [`OptionalParam::Unknown`] for the session to refuse with 2/4.
    pub fn decode(r: &mut Reader<'_>) -> Result<OpenMsg, OpenError> {
        use OpenError::Malformed as M;
        let version = r.u8("version").map_err(M)?;
        if version != BGP_VERSION {
            return Err(OpenError::UnsupportedVersionNumber { version });
        }
        let my_as = r.u16("my autonomous system").map_err(M)?;
        let hold_time = r.u16("hold time").map_err(M)?;
        let bgp_id = r.ipv4("BGP identifier").map_err(M)?;
        let opt_len = r.u8("optional parameters length").map_err(M)?;
        // RFC 9072 §2: "if the one-octet Optional Parameters Length field ... is non-zero,
        // a BGP speaker MUST use the value of the octet following [it] to determine both
        // the encoding of the Optional Parameters length and the size of the Parameter
        // Length field". 255 there selects the extended form, whatever the one-octet
        // length says (§3: a value other than 255 is "not considered a fatal error").
        let extended = opt_len != 0 && r.peek_rest().first() == Some(&EXTENDED_PARAMS_MARKER);
        let mut params_r = if extended {
            r.u8("non-extended optional parameter type").map_err(M)?;
            let len = r.u16("extended optional parameters length").map_err(M)?;
            r.sub(len as usize, "optional parameters").map_err(M)?
        } else {
            r.sub(opt_len as usize, "optional parameters").map_err(M)?
        };
        if !r.is_empty() {
            return Err(OpenError::TrailingBytes {
                offset: r.offset(),
                trailing: r.remaining(),
            });
        }
        let mut params = Vec::new();
        while !params_r.is_empty() {
            let kind = params_r.u8("parameter type").map_err(M)?;
            let len = if extended {
                params_r.u16("parameter length").map_err(M)? as usize
            } else {
                params_r.u8("parameter length").map_err(M)? as usize
            };
            let mut value = params_r.sub(len, "parameter value").map_err(M)?;
            params.push(match kind {
                CAPABILITIES_PARAM => OptionalParam::Capabilities(decode_capabilities(&mut value)?),
                // RFC 9072 §3: a parameter of type 255 inside the extended form "MUST be
                // treated as an unrecognized Optional Parameter"; it lands here too.
                _ => OptionalParam::Unknown {
                    kind,
                    value: value.rest().to_vec(),
                },
            });
        }
        Ok(OpenMsg {
            version,
            my_as,
            hold_time,
            bgp_id,
            params,
        })
    }

    /// Appends the OPEN body. The optional parameters take the RFC 4271 form when it can
    /// hold them, and the RFC 9072 extended form otherwise (RFC 9072 §2: when they do not
    /// exceed 255 octets "the encodings of the base BGP specification MUST be used without
    /// alteration"). On error nothing is appended.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let res = self.encode_body_inner(out);
        if res.is_err() {
            out.truncate(start);
        } else {
            debug_assert_eq!(out.len() - start, self.body_len());
        }
        res
    }

    /// Whether [`OpenMsg::encode_body`] uses the RFC 9072 extended optional parameters
    /// form: when the parameters exceed 255 octets in the classic form, when one value
    /// exceeds 255 octets, or when the first parameter has type 255 (which a receiver
    /// would otherwise take for the RFC 9072 marker).
    pub fn uses_extended_params(&self) -> bool {
        let classic: usize = self.params.iter().map(|p| 2 + p.value_len()).sum();
        classic > 0xff
            || self.params.iter().any(|p| p.value_len() > 0xff)
            || matches!(
                self.params.first(),
                Some(OptionalParam::Unknown {
                    kind: EXTENDED_PARAMS_MARKER,
                    ..
                })
            )
    }

    /// Length of the body [`OpenMsg::encode_body`] writes.
    pub fn body_len(&self) -> usize {
        let head = if self.uses_extended_params() { 3 } else { 2 };
        let params: usize = self.params.iter().map(|p| head + p.value_len()).sum();
        // version, AS, hold time, identifier, Opt Parm Len; plus the RFC 9072 marker type
        // and 2-octet length.
        10 + params + if head == 3 { 3 } else { 0 }
    }

    fn encode_body_inner(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.version);
        put_u16(out, self.my_as);
        put_u16(out, self.hold_time);
        put_u32(out, u32::from(self.bgp_id));
        let extended = self.uses_extended_params();
        let width = if extended {
            // RFC 9072 §2: the one-octet length "MUST be set to 255" and the octet after
            // it "MUST be set to 255 as well", then the 2-octet length.
            out.push(EXTENDED_PARAMS_MARKER);
            out.push(EXTENDED_PARAMS_MARKER);
            2
        } else {
            1
        };
        let total_at = len_placeholder(out, width);
        for p in &self.params {
            out.push(p.kind());
            let at = len_placeholder(out, width);
            match p {
                OptionalParam::Capabilities(caps) => encode_capabilities(caps, out)?,
                OptionalParam::Unknown { value, .. } => out.extend_from_slice(value),
            }
            if !patch_len(out, at, width) {
                return Err(EncodeError::FieldTooLong {
                    field: "optional parameter",
                });
            }
        }
        if !patch_len(out, total_at, width) {
            return Err(EncodeError::FieldTooLong {
                field: "optional parameters",
            });
        }
        Ok(())
    }
}

impl OptionalParam {
    /// Length of the parameter value.
    pub fn value_len(&self) -> usize {
        match self {
            OptionalParam::Capabilities(caps) => caps.iter().map(Capability::encoded_len).sum(),
            OptionalParam::Unknown { value, .. } => value.len(),
        }
    }

    /// The parameter type.
    pub fn kind(&self) -> u8 {
        match self {
            OptionalParam::Capabilities(_) => CAPABILITIES_PARAM,
            OptionalParam::Unknown { kind, .. } => *kind,
        }
    }
}

/// Builds the OPEN a porter speaker sends. Capabilities go out in a fixed order (families,
/// route refresh, enhanced route refresh, extended message, graceful restart, 4-octet AS,
/// ADD-PATH, extended next hop, FQDN, then any others) packed into as few capability
/// parameters as fit 255 octets each, so the classic encoding is used whenever possible.
#[derive(Clone, Debug)]
#[must_use = "an OpenBuilder does nothing until build() is called"]
pub struct OpenBuilder {
    asn: u32,
    bgp_id: Ipv4Addr,
    hold_time: u16,
    families: Vec<Family>,
    route_refresh: bool,
    enhanced_route_refresh: bool,
    extended_message: bool,
    graceful_restart: Option<GracefulRestartCap>,
    add_path: Vec<AddPathEntry>,
    extended_next_hop: Vec<ExtendedNextHopEntry>,
    fqdn: Option<(Vec<u8>, Vec<u8>)>,
    others: Vec<Capability>,
}

impl OpenBuilder {
    /// The hold time to propose, in seconds (0, or at least 3: RFC 4271 §4.2).
    pub fn hold_time(mut self, seconds: u16) -> Self {
        self.hold_time = seconds;
        self
    }

    /// Announces a family with the multiprotocol capability (RFC 4760 §8). Repeats are
    /// ignored.
    pub fn family(mut self, family: Family) -> Self {
        if !self.families.contains(&family) {
            self.families.push(family);
        }
        self
    }

    /// Announces route refresh (RFC 2918).
    pub fn route_refresh(mut self) -> Self {
        self.route_refresh = true;
        self
    }

    /// Announces enhanced route refresh (RFC 7313).
    pub fn enhanced_route_refresh(mut self) -> Self {
        self.enhanced_route_refresh = true;
        self
    }

    /// Announces extended messages (RFC 8654).
    pub fn extended_message(mut self) -> Self {
        self.extended_message = true;
        self
    }

    /// Announces graceful restart (RFC 4724) with this value.
    pub fn graceful_restart(mut self, cap: GracefulRestartCap) -> Self {
        self.graceful_restart = Some(cap);
        self
    }

    /// Announces ADD-PATH (RFC 7911) for `family`; a second call for the same family
    /// replaces the mode.
    pub fn add_path(mut self, family: Family, mode: AddPathMode) -> Self {
        match self.add_path.iter_mut().find(|e| e.family == family) {
            Some(e) => e.mode = mode,
            None => self.add_path.push(AddPathEntry { family, mode }),
        }
        self
    }

    /// Announces an extended next hop entry (RFC 8950).
    pub fn extended_next_hop(mut self, entry: ExtendedNextHopEntry) -> Self {
        if !self.extended_next_hop.contains(&entry) {
            self.extended_next_hop.push(entry);
        }
        self
    }

    /// Announces the FQDN capability. The capability value is at most 255 octets, so the
    /// names are cut (at a character boundary) to fit: the host name first to 253 octets,
    /// then the domain name to what is left.
    pub fn fqdn(mut self, hostname: &str, domain: &str) -> Self {
        let hostname = truncate_utf8(hostname, MAX_CAPABILITY_VALUE_LEN - 2);
        let domain = truncate_utf8(domain, MAX_CAPABILITY_VALUE_LEN - 2 - hostname.len());
        self.fqdn = Some((hostname.as_bytes().to_vec(), domain.as_bytes().to_vec()));
        self
    }

    /// Adds any other capability as is, after the ones above.
    pub fn capability(mut self, cap: Capability) -> Self {
        self.others.push(cap);
        self
    }

    /// The OPEN. `my_as` is the AS number, or AS_TRANS when it needs 4 octets (RFC 6793
    /// §4.1).
    pub fn build(self) -> OpenMsg {
        let mut caps: Vec<Capability> = Vec::new();
        caps.extend(self.families.iter().map(|f| Capability::Multiprotocol(*f)));
        if self.route_refresh {
            caps.push(Capability::RouteRefresh);
        }
        if self.enhanced_route_refresh {
            caps.push(Capability::EnhancedRouteRefresh);
        }
        if self.extended_message {
            caps.push(Capability::ExtendedMessage);
        }
        if let Some(g) = self.graceful_restart {
            caps.push(Capability::GracefulRestart(g));
        }
        caps.push(Capability::FourOctetAs(self.asn));
        // A capability value holds at most 63 ADD-PATH entries or 42 extended next hop
        // entries; more (never in practice) go into further instances, which RFC 5492 §4
        // allows and [`OpenMsg::add_path`] merges.
        for chunk in self.add_path.chunks(MAX_CAPABILITY_VALUE_LEN / 4) {
            caps.push(Capability::AddPath(chunk.to_vec()));
        }
        for chunk in self.extended_next_hop.chunks(MAX_CAPABILITY_VALUE_LEN / 6) {
            caps.push(Capability::ExtendedNextHop(chunk.to_vec()));
        }
        if let Some((hostname, domain)) = self.fqdn {
            caps.push(Capability::Fqdn { hostname, domain });
        }
        caps.extend(self.others);

        let mut params = Vec::new();
        let mut current: Vec<Capability> = Vec::new();
        let mut current_len = 0;
        for c in caps {
            let len = c.encoded_len();
            if !current.is_empty() && current_len + len > 0xff {
                params.push(OptionalParam::Capabilities(std::mem::take(&mut current)));
                current_len = 0;
            }
            current_len += len;
            current.push(c);
        }
        if !current.is_empty() {
            params.push(OptionalParam::Capabilities(current));
        }
        OpenMsg {
            version: BGP_VERSION,
            my_as: u16::try_from(self.asn).unwrap_or(AS_TRANS),
            hold_time: self.hold_time,
            bgp_id: self.bgp_id,
            params,
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::GracefulRestartFamily;
    use crate::iana::{Afi, CapabilityCode};

    fn decode(body: &[u8]) -> Result<OpenMsg, OpenError> {
        OpenMsg::decode(&mut Reader::with_base(body, 19))
    }

    fn encode(m: &OpenMsg) -> Vec<u8> {
        let mut out = Vec::new();
        m.encode_body(&mut out).unwrap();
        assert_eq!(out.len(), m.body_len());
        out
    }

    /// AS 65001, hold 90, id 10.0.0.1.
    const FIXED: [u8; 9] = [0x04, 0xfd, 0xe9, 0x00, 0x5a, 0x0a, 0x00, 0x00, 0x01];

    fn body(params: &[u8]) -> Vec<u8> {
        let mut b = FIXED.to_vec();
        b.extend_from_slice(params);
        b
    }

    #[test]
    fn decodes_classic_capability_parameter() {
        let b = body(&[
            0x0e, 0x02, 0x0c, 0x01, 0x04, 0x00, 0x01, 0x00, 0x01, 0x41, 0x04, 0x00, 0x00, 0xfd,
            0xe9,
        ]);
        let m = decode(&b).unwrap();
        assert_eq!(m.asn(), 65001);
        assert_eq!(m.four_octet_as(), Some(65001));
        assert_eq!(m.families(), [Family::IPV4_UNICAST]);
        assert!(!m.uses_extended_params());
        assert_eq!(encode(&m), b);
    }

    #[test]
    fn decodes_rfc9072_extended_parameters() {
        // Opt Parm Len 255, marker type 255, 2-octet length 9, then one capabilities
        // parameter with a 2-octet length of 6 holding route refresh and extended message.
        let b = body(&[
            0xff, 0xff, 0x00, 0x07, 0x02, 0x00, 0x04, 0x02, 0x00, 0x06, 0x00,
        ]);
        let m = decode(&b).unwrap();
        assert_eq!(
            m.params,
            [OptionalParam::Capabilities(vec![
                Capability::RouteRefresh,
                Capability::ExtendedMessage
            ])]
        );
        assert!(m.route_refresh() && m.extended_message());
        // Small enough for the classic form, which RFC 9072 §2 then requires.
        assert_eq!(
            encode(&m),
            body(&[0x06, 0x02, 0x04, 0x02, 0x00, 0x06, 0x00])
        );
    }

    #[test]
    fn takes_extended_form_from_the_marker_type_whatever_the_one_octet_length() {
        // RFC 9072 §3: a one-octet length other than 255 with the marker type is still
        // the extended form.
        let b = body(&[0x05, 0xff, 0x00, 0x05, 0x02, 0x00, 0x02, 0x46, 0x00]);
        let m = decode(&b).unwrap();
        assert!(m.enhanced_route_refresh());
    }

    #[test]
    fn encodes_extended_form_when_parameters_exceed_255_bytes() {
        let mut b = OpenMsg::builder(65001, Ipv4Addr::new(10, 0, 0, 1));
        for i in 0..70u8 {
            b = b.family(Family::new(Afi::IPV4, crate::iana::Safi(i)));
        }
        let m = b.build();
        // 70 families are 420 bytes of capabilities: two parameters, each under 256.
        assert_eq!(m.params.len(), 2);
        assert!(m.params.iter().all(|p| p.value_len() <= 0xff));
        assert!(m.uses_extended_params());
        let out = encode(&m);
        assert_eq!(&out[9..11], &[0xff, 0xff]);
        let total = u16::from_be_bytes([out[11], out[12]]) as usize;
        assert_eq!(total, out.len() - 13);
        assert_eq!(decode(&out).unwrap(), m);
    }

    #[test]
    fn encodes_extended_form_when_first_unknown_parameter_has_type_255() {
        let m = OpenMsg {
            version: 4,
            my_as: 1,
            hold_time: 0,
            bgp_id: Ipv4Addr::new(1, 1, 1, 1),
            params: vec![OptionalParam::Unknown {
                kind: 0xff,
                value: vec![1],
            }],
        };
        assert!(m.uses_extended_params());
        assert_eq!(decode(&encode(&m)).unwrap(), m);
    }

    #[test]
    fn rejects_version_other_than_four() {
        let mut b = body(&[0x00]);
        b[0] = 3;
        assert_eq!(
            decode(&b),
            Err(OpenError::UnsupportedVersionNumber { version: 3 })
        );
    }

    #[test]
    fn rejects_bytes_after_the_optional_parameters() {
        let b = body(&[0x00, 0xaa, 0xbb]);
        assert_eq!(
            decode(&b),
            Err(OpenError::TrailingBytes {
                offset: 19 + 10,
                trailing: 2
            })
        );
    }

    #[test]
    fn rejects_parameter_length_overrunning_the_parameters() {
        let b = body(&[0x03, 0x02, 0x05, 0x02]);
        match decode(&b) {
            Err(OpenError::Malformed(s)) => assert_eq!(s.field, "parameter value"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_optional_parameters_length_past_the_message() {
        let b = body(&[0x08, 0x02, 0x00]);
        match decode(&b) {
            Err(OpenError::Malformed(s)) => assert_eq!(s.field, "optional parameters"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keeps_unknown_optional_parameters() {
        // Type 1 (the deprecated authentication parameter of RFC 1771).
        let b = body(&[0x04, 0x01, 0x02, 0xde, 0xad]);
        let m = decode(&b).unwrap();
        assert_eq!(
            m.unsupported_params().collect::<Vec<_>>(),
            [(1u8, &[0xde, 0xad][..])]
        );
        assert_eq!(encode(&m), b);
    }

    #[test]
    fn malformed_capability_fails_the_open() {
        let b = body(&[0x08, 0x02, 0x06, 0x45, 0x04, 0x00, 0x01, 0x01, 0x00]);
        assert_eq!(
            decode(&b),
            Err(OpenError::MalformedCapability {
                code: CapabilityCode::ADD_PATH,
                offset: 19 + 12,
                reason: "send/receive must be 1, 2 or 3",
            })
        );
    }

    #[test]
    fn accepts_hold_time_of_one_for_the_session_to_judge() {
        let mut b = body(&[0x00]);
        b[3..5].copy_from_slice(&[0x00, 0x01]);
        assert_eq!(decode(&b).unwrap().hold_time, 1);
    }

    #[test]
    fn builder_uses_as_trans_for_four_octet_as_numbers() {
        let m = OpenMsg::builder(4_200_000_001, Ipv4Addr::new(10, 0, 0, 2)).build();
        assert_eq!(m.my_as, AS_TRANS);
        assert_eq!(m.asn(), 4_200_000_001);
        let m = OpenMsg::builder(64512, Ipv4Addr::new(10, 0, 0, 2)).build();
        assert_eq!(m.my_as, 64512);
        assert_eq!(m.hold_time, 90);
    }

    #[test]
    fn builder_orders_capabilities_and_accessors_read_them_back() {
        let gr = GracefulRestartCap {
            restart_state: false,
            notification: true,
            restart_time: 120,
            families: vec![GracefulRestartFamily {
                family: Family::IPV4_UNICAST,
                forwarding_preserved: false,
            }],
        };
        let m = OpenMsg::builder(65001, Ipv4Addr::new(10, 0, 0, 1))
            .hold_time(30)
            .family(Family::IPV4_UNICAST)
            .family(Family::IPV6_UNICAST)
            .family(Family::IPV4_UNICAST)
            .route_refresh()
            .enhanced_route_refresh()
            .extended_message()
            .graceful_restart(gr.clone())
            .add_path(Family::IPV4_UNICAST, AddPathMode::Receive)
            .add_path(Family::IPV4_UNICAST, AddPathMode::Both)
            .fqdn("node-1", "example.net")
            .build();
        assert_eq!(m.params.len(), 1);
        let codes: Vec<u8> = m.capabilities().map(|c| c.code().0).collect();
        assert_eq!(codes, [1, 1, 2, 70, 6, 64, 65, 69, 73]);
        assert_eq!(m.hold_time, 30);
        assert_eq!(m.families(), [Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
        assert_eq!(
            m.add_path_mode(Family::IPV4_UNICAST),
            Some(AddPathMode::Both)
        );
        assert_eq!(m.add_path_mode(Family::IPV6_UNICAST), None);
        assert_eq!(m.graceful_restart(), Some(&gr));
        assert!(m.route_refresh() && m.enhanced_route_refresh() && m.extended_message());
        assert_eq!(m.fqdn(), Some((&b"node-1"[..], &b"example.net"[..])));
        assert_eq!(decode(&encode(&m)).unwrap(), m);
    }

    #[test]
    fn builder_cuts_fqdn_to_fit_one_capability() {
        let host = "h".repeat(300);
        let m = OpenMsg::builder(1, Ipv4Addr::new(1, 1, 1, 1))
            .fqdn(&host, "d.example")
            .build();
        let (h, d) = m.fqdn().unwrap();
        assert_eq!((h.len(), d.len()), (253, 0));
        assert_eq!(decode(&encode(&m)).unwrap(), m);
    }

    #[test]
    fn no_multiprotocol_capability_means_ipv4_unicast() {
        let m = decode(&body(&[0x00])).unwrap();
        assert!(m.families().is_empty());
        assert_eq!(m.families_or_ipv4_unicast(), [Family::IPV4_UNICAST]);
    }

    #[test]
    fn add_path_entries_merge_across_instances_last_wins() {
        let m = OpenMsg {
            version: 4,
            my_as: 1,
            hold_time: 0,
            bgp_id: Ipv4Addr::new(1, 1, 1, 1),
            params: vec![
                OptionalParam::Capabilities(vec![Capability::AddPath(vec![AddPathEntry {
                    family: Family::IPV4_UNICAST,
                    mode: AddPathMode::Send,
                }])]),
                OptionalParam::Capabilities(vec![Capability::AddPath(vec![
                    AddPathEntry {
                        family: Family::IPV6_UNICAST,
                        mode: AddPathMode::Receive,
                    },
                    AddPathEntry {
                        family: Family::IPV4_UNICAST,
                        mode: AddPathMode::Receive,
                    },
                ])]),
            ],
        };
        assert_eq!(
            m.add_path(),
            [
                AddPathEntry {
                    family: Family::IPV4_UNICAST,
                    mode: AddPathMode::Receive
                },
                AddPathEntry {
                    family: Family::IPV6_UNICAST,
                    mode: AddPathMode::Receive
                }
            ]
        );
    }
}
