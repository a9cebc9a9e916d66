//! The BFD Control packet of [RFC 5880 §4.1](https://www.rfc-editor.org/rfc/rfc5880#section-4.1),
//! with its optional authentication section (§4.2–§4.4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Your Discriminator                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Desired Min TX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Required Min RX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Auth Len    |    Authentication Data...     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! # What [`decode`] checks, and what it leaves to the session
//!
//! [`decode`] applies the checks of §6.8.6 that depend on the packet alone, in the RFC's
//! order: the version, the Length field against the minimum and against the bytes received,
//! Detect Mult, the Multipoint bit and My Discriminator. It also checks that the Length field
//! is exactly the fixed part plus the authentication section (§4.1: "Length: Length of the
//! BFD Control packet, in bytes"), and the Auth Len of the five RFC types (§4.2–§4.4).
//!
//! The checks that need session state are [`crate::session::Session::handle_packet`]'s: Your
//! Discriminator (zero while the packet's state is Init or Up, or not ours) and the A bit
//! against the session's authentication (porter configures none, so any packet with an
//! authentication section is refused there, after decoding it cleanly here).
//!
//! Bytes after the Length field's end (padding of the UDP payload) are ignored, as BIRD and
//! FRR ignore them: §6.8.6 refuses a Length *greater* than the payload only.

use std::fmt;

/// Length of the mandatory part of a Control packet (§4.1), and the smallest Length field
/// allowed without authentication (§6.8.6).
pub const CONTROL_LEN: usize = 24;

/// Smallest Length field allowed with the A bit set: the fixed part plus Auth Type and Auth
/// Len (§6.8.6: "less than the minimum correct value (24 if the A bit is clear, or 26 if the
/// A bit is set)").
pub const CONTROL_LEN_WITH_AUTH: usize = CONTROL_LEN + 2;

/// The protocol version this crate speaks (§4.1: "This document defines protocol version 1").
pub const VERSION: u8 = 1;

/// A session state as carried in the Sta field (§4.1) and held by `bfd.SessionState` (§6.8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum State {
    /// 0: administratively held down; no session comes up.
    AdminDown,
    /// 1: down, or just created.
    Down,
    /// 2: the remote system is heard, and wants to come up.
    Init,
    /// 3: both systems hear each other.
    Up,
}

impl State {
    /// The two-bit wire value.
    pub const fn code(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// The state of a two-bit wire value; the upper bits of `code` are ignored.
    pub const fn from_code(code: u8) -> State {
        match code & 0x3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        })
    }
}

/// A diagnostic code (§4.1, IANA "BFD Diagnostic Codes"): why the sender's session last
/// changed state. Five bits on the wire; values this crate does not name survive as
/// [`Diag::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diag {
    /// 0: No Diagnostic.
    None,
    /// 1: Control Detection Time Expired.
    ControlDetectionTimeExpired,
    /// 2: Echo Function Failed.
    EchoFunctionFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborSignaledSessionDown,
    /// 4: Forwarding Plane Reset.
    ForwardingPlaneReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdministrativelyDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9–31: a code RFC 5880 does not define (9 is RFC 6428's mis-connectivity defect).
    /// [`Diag::from_code`] only builds it for those values.
    Unknown(u8),
}

impl Diag {
    /// The wire value (five bits).
    pub const fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledSessionDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Unknown(c) => c & 0x1f,
        }
    }

    /// The diagnostic of a wire value; the upper three bits of `code` are ignored.
    pub const fn from_code(code: u8) -> Diag {
        match code & 0x1f {
            0 => Diag::None,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledSessionDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            c => Diag::Unknown(c),
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diag::None => f.write_str("No Diagnostic"),
            Diag::ControlDetectionTimeExpired => f.write_str("Control Detection Time Expired"),
            Diag::EchoFunctionFailed => f.write_str("Echo Function Failed"),
            Diag::NeighborSignaledSessionDown => f.write_str("Neighbor Signaled Session Down"),
            Diag::ForwardingPlaneReset => f.write_str("Forwarding Plane Reset"),
            Diag::PathDown => f.write_str("Path Down"),
            Diag::ConcatenatedPathDown => f.write_str("Concatenated Path Down"),
            Diag::AdministrativelyDown => f.write_str("Administratively Down"),
            Diag::ReverseConcatenatedPathDown => f.write_str("Reverse Concatenated Path Down"),
            Diag::Unknown(c) => write!(f, "Unknown Diagnostic {c}"),
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Diag {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Diag> {
        Ok(Diag::from_code(u.arbitrary()?))
    }
}

/// Authentication types (IANA "BFD Authentication Types", RFC 5880 §4.1).
pub mod auth_type {
    /// 0: Reserved.
    pub const RESERVED: u8 = 0x00;
    /// 1: Simple Password (§4.2.1).
    pub const SIMPLE_PASSWORD: u8 = 0x01;
    /// 2: Keyed MD5 (§4.3).
    pub const KEYED_MD5: u8 = 0x02;
    /// 3: Meticulous Keyed MD5 (§4.3).
    pub const METICULOUS_KEYED_MD5: u8 = 0x03;
    /// 4: Keyed SHA1 (§4.4).
    pub const KEYED_SHA1: u8 = 0x04;
    /// 5: Meticulous Keyed SHA1 (§4.4).
    pub const METICULOUS_KEYED_SHA1: u8 = 0x05;
}

/// The authentication section (present when the A bit is set), kept as bytes: porter never
/// authenticates, so only its framing matters.
///
/// ```text
/// |   Auth Type   |   Auth Len    |    Authentication Data...     |
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AuthSection {
    /// Auth Type ([`auth_type`]).
    pub auth_type: u8,
    /// Everything after Auth Len: Auth Len − 2 bytes (for the RFC types, the Auth Key ID
    /// first).
    pub data: Vec<u8>,
}

impl AuthSection {
    /// The Auth Len field this section encodes with (its whole length).
    pub fn auth_len(&self) -> usize {
        2 + self.data.len()
    }

    /// Auth Key ID, the first data byte of every RFC 5880 authentication type.
    pub fn key_id(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// Whether Auth Len suits Auth Type: §4.2 (Simple Password: "The password MUST be from
    /// 1 to 16 bytes in length", so Auth Len 4–19), §4.3 (MD5: "Auth Len … 24"), §4.4 (SHA1:
    /// "Auth Len … 28"). A reserved or unassigned type needs only the Key ID byte.
    fn valid_len(auth_type: u8, auth_len: usize) -> bool {
        match auth_type {
            auth_type::SIMPLE_PASSWORD => (4..=19).contains(&auth_len),
            auth_type::KEYED_MD5 | auth_type::METICULOUS_KEYED_MD5 => auth_len == 24,
            auth_type::KEYED_SHA1 | auth_type::METICULOUS_KEYED_SHA1 => auth_len == 28,
            _ => auth_len >= 3,
        }
    }
}

/// A BFD Control packet (§4.1). Intervals are in microseconds, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ControlPacket {
    /// Vers: always [`VERSION`] in packets this crate builds and decodes.
    pub version: u8,
    /// Diag: the sender's reason for its last state change.
    pub diag: Diag,
    /// Sta: the sender's session state.
    pub state: State,
    /// P: the sender asks for verification of a parameter change (a Poll Sequence, §6.5).
    pub poll: bool,
    /// F: the answer to a Poll.
    pub final_: bool,
    /// C: the sender's BFD runs independently of its control plane.
    pub control_plane_independent: bool,
    /// D: the sender wishes to run in Demand mode (§6.6).
    pub demand: bool,
    /// M: reserved for point-to-multipoint; refused by [`decode`].
    pub multipoint: bool,
    /// Detect Mult: the sender's detection time multiplier.
    pub detect_mult: u8,
    /// My Discriminator: the sender's nonzero discriminator for the session.
    pub my_discriminator: u32,
    /// Your Discriminator: the receiver's discriminator as the sender knows it, or zero.
    pub your_discriminator: u32,
    /// Desired Min TX Interval (µs).
    pub desired_min_tx_us: u32,
    /// Required Min RX Interval (µs); zero: the sender wants no periodic packets.
    pub required_min_rx_us: u32,
    /// Required Min Echo RX Interval (µs); zero: no Echo packets.
    pub required_min_echo_rx_us: u32,
    /// The authentication section; `Some` exactly when the A bit is set.
    pub auth: Option<AuthSection>,
}

impl ControlPacket {
    /// The Length field of this packet: the fixed part plus the authentication section.
    pub fn len(&self) -> usize {
        CONTROL_LEN + self.auth.as_ref().map_or(0, AuthSection::auth_len)
    }

    /// Never: a Control packet has at least [`CONTROL_LEN`] bytes.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The packet's bytes.
    ///
    /// The header fields are written as they are; the authentication data is truncated to
    /// what Length (one byte) can carry, so [`ControlPacket::len`] equals the bytes written
    /// for every packet [`decode`] returns or [`ControlPacket::validate`] accepts.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        self.encode_into(&mut out);
        out
    }

    /// Appends the packet's bytes to `out` (see [`ControlPacket::encode`]).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let auth = self.auth.as_ref().map(|a| {
            let max = 0xff - CONTROL_LEN - 2;
            (a.auth_type, &a.data[..a.data.len().min(max)])
        });
        let length = CONTROL_LEN + auth.map_or(0, |(_, d)| 2 + d.len());
        out.push((self.version & 0x7) << 5 | self.diag.code());
        let flags = [
            (self.poll, 0x20),
            (self.final_, 0x10),
            (self.control_plane_independent, 0x08),
            (auth.is_some(), 0x04),
            (self.demand, 0x02),
            (self.multipoint, 0x01),
        ];
        let bits = flags
            .iter()
            .filter(|(set, _)| *set)
            .fold(0u8, |acc, (_, bit)| acc | bit);
        out.push(self.state.code() << 6 | bits);
        out.push(self.detect_mult);
        out.push(length as u8);
        for field in [
            self.my_discriminator,
            self.your_discriminator,
            self.desired_min_tx_us,
            self.required_min_rx_us,
            self.required_min_echo_rx_us,
        ] {
            out.extend_from_slice(&field.to_be_bytes());
        }
        if let Some((auth_type, data)) = auth {
            out.push(auth_type);
            out.push((2 + data.len()) as u8);
            out.extend_from_slice(data);
        }
    }

    /// The §6.8.6 checks that need only the packet (see the [module docs](self)), for a
    /// packet built in memory rather than decoded. [`decode`] applies the same checks.
    pub fn validate(&self) -> Result<(), DecodeError> {
        // "If the version number is not correct (1), the packet MUST be discarded."
        if self.version != VERSION {
            return Err(DecodeError::BadVersion(self.version));
        }
        if let Some(a) = &self.auth {
            let len = a.auth_len();
            if CONTROL_LEN + len > 0xff {
                return Err(DecodeError::AuthTruncated {
                    auth_len: len.min(0xff) as u8,
                    available: 0xff - CONTROL_LEN,
                });
            }
            if !AuthSection::valid_len(a.auth_type, len) {
                return Err(DecodeError::AuthBadLength {
                    auth_type: a.auth_type,
                    auth_len: len as u8,
                });
            }
        }
        self.validate_fields()
    }

    /// The field checks of §6.8.6 after the length checks.
    fn validate_fields(&self) -> Result<(), DecodeError> {
        // "If the Detect Mult field is zero, the packet MUST be discarded."
        if self.detect_mult == 0 {
            return Err(DecodeError::ZeroDetectMult);
        }
        // "If the Multipoint (M) bit is nonzero, the packet MUST be discarded."
        if self.multipoint {
            return Err(DecodeError::Multipoint);
        }
        // "If the My Discriminator field is zero, the packet MUST be discarded."
        if self.my_discriminator == 0 {
            return Err(DecodeError::ZeroMyDiscriminator);
        }
        Ok(())
    }
}

/// Why bytes are not a Control packet this crate accepts. Each variant is one §6.8.6 (or
/// §4.2–§4.4) reason to discard; [`DecodeError::reason`] names it for counters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the mandatory part of a Control packet.
    #[error("truncated: {got} bytes, a BFD Control packet has at least {CONTROL_LEN}")]
    Truncated {
        /// Bytes received.
        got: usize,
    },
    /// Vers is not 1 (§6.8.6).
    #[error("unsupported BFD version {0} (only 1)")]
    BadVersion(u8),
    /// The Length field is below the minimum: 24, or 26 with the A bit (§6.8.6).
    #[error("length field {length} is below the minimum {min}")]
    BadLength {
        /// The Length field.
        length: u8,
        /// The minimum for this packet's A bit.
        min: u8,
    },
    /// The Length field is greater than the bytes received (§6.8.6).
    #[error("length field {length} exceeds the {payload} bytes received")]
    LengthExceedsPayload {
        /// The Length field.
        length: u8,
        /// Bytes received.
        payload: usize,
    },
    /// The Length field is not the fixed part plus the authentication section (§4.1).
    #[error("length field {length} does not match the packet's contents ({expected} bytes)")]
    LengthMismatch {
        /// The Length field.
        length: u8,
        /// 24, or 24 plus Auth Len.
        expected: usize,
    },
    /// Detect Mult is zero (§6.8.6).
    #[error("detect multiplier is zero")]
    ZeroDetectMult,
    /// The Multipoint bit is set (§6.8.6).
    #[error("multipoint bit set")]
    Multipoint,
    /// My Discriminator is zero (§6.8.6).
    #[error("my discriminator is zero")]
    ZeroMyDiscriminator,
    /// Auth Len runs past the Length field.
    #[error("authentication section of {auth_len} bytes, only {available} left in the packet")]
    AuthTruncated {
        /// The Auth Len field.
        auth_len: u8,
        /// Bytes from Auth Type to the end of the Length field.
        available: usize,
    },
    /// Auth Len is wrong for Auth Type (§4.2–§4.4).
    #[error("authentication type {auth_type} with length {auth_len}")]
    AuthBadLength {
        /// The Auth Type field.
        auth_type: u8,
        /// The Auth Len field.
        auth_len: u8,
    },
}

impl DecodeError {
    /// A short snake_case label for counters and metrics, one per variant.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::BadVersion(_) => "bad_version",
            DecodeError::BadLength { .. } => "bad_length",
            DecodeError::LengthExceedsPayload { .. } => "length_exceeds_payload",
            DecodeError::LengthMismatch { .. } => "length_mismatch",
            DecodeError::ZeroDetectMult => "zero_detect_mult",
            DecodeError::Multipoint => "multipoint",
            DecodeError::ZeroMyDiscriminator => "zero_my_discriminator",
            DecodeError::AuthTruncated { .. } => "auth_truncated",
            DecodeError::AuthBadLength { .. } => "auth_bad_length",
        }
    }
}

/// Decodes one Control packet from a UDP payload, applying the packet-only checks of §6.8.6
/// in the RFC's order (see the [module docs](self)). Bytes beyond the Length field are
/// ignored.
pub fn decode(buf: &[u8]) -> Result<ControlPacket, DecodeError> {
    if buf.len() < CONTROL_LEN {
        // The version is checked first when there is a byte to read it from, so a short
        // packet of another version reports its version.
        if let Some(b) = buf.first() {
            if b >> 5 != VERSION {
                return Err(DecodeError::BadVersion(b >> 5));
            }
        }
        return Err(DecodeError::Truncated { got: buf.len() });
    }
    let version = buf[0] >> 5;
    if version != VERSION {
        return Err(DecodeError::BadVersion(version));
    }
    let has_auth = buf[1] & 0x04 != 0;
    let length = buf[3];
    // "If the Length field is less than the minimum correct value (24 if the A bit is
    // clear, or 26 if the A bit is set), the packet MUST be discarded."
    let min = if has_auth {
        CONTROL_LEN_WITH_AUTH
    } else {
        CONTROL_LEN
    };
    if usize::from(length) < min {
        return Err(DecodeError::BadLength {
            length,
            min: min as u8,
        });
    }
    // "If the Length field is greater than the payload of the encapsulating protocol, the
    // packet MUST be discarded."
    if usize::from(length) > buf.len() {
        return Err(DecodeError::LengthExceedsPayload {
            length,
            payload: buf.len(),
        });
    }
    let packet = &buf[..usize::from(length)];
    let word = |at: usize| u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    let auth = if has_auth {
        let rest = &packet[CONTROL_LEN..];
        let (auth_type, auth_len) = (rest[0], rest[1]);
        if usize::from(auth_len) > rest.len() {
            return Err(DecodeError::AuthTruncated {
                auth_len,
                available: rest.len(),
            });
        }
        if !AuthSection::valid_len(auth_type, usize::from(auth_len)) {
            return Err(DecodeError::AuthBadLength {
                auth_type,
                auth_len,
            });
        }
        Some(AuthSection {
            auth_type,
            data: rest[2..usize::from(auth_len)].to_vec(),
        })
    } else {
        None
    };
    let expected = CONTROL_LEN + auth.as_ref().map_or(0, AuthSection::auth_len);
    if usize::from(length) != expected {
        return Err(DecodeError::LengthMismatch { length, expected });
    }
    let p = ControlPacket {
        version,
        diag: Diag::from_code(buf[0]),
        state: State::from_code(buf[1] >> 6),
        poll: buf[1] & 0x20 != 0,
        final_: buf[1] & 0x10 != 0,
        control_plane_independent: buf[1] & 0x08 != 0,
        demand: buf[1] & 0x02 != 0,
        multipoint: buf[1] & 0x01 != 0,
        detect_mult: buf[2],
        my_discriminator: word(4),
        your_discriminator: word(8),
        desired_min_tx_us: word(12),
        required_min_rx_us: word(16),
        required_min_echo_rx_us: word(20),
        auth,
    };
    p.validate_fields()?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diag_codes_round_trip() {
        for c in 0..32u8 {
            assert_eq!(Diag::from_code(c).code(), c);
        }
        assert_eq!(Diag::from_code(9), Diag::Unknown(9));
    }

    #[test]
    fn state_codes_round_trip() {
        for c in 0..4u8 {
            assert_eq!(State::from_code(c).code(), c);
        }
    }
}
