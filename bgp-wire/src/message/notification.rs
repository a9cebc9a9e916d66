//! NOTIFICATION message (RFC 4271 §4.5, §6) with the shutdown communication of RFC 9003.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;

use crate::codec::{Reader, Short};
use crate::iana::codepoint;
use crate::message::open::truncate_utf8;

codepoint! {
    /// Message Header Error subcodes (RFC 4271 §4.5).
    HeaderSubcode(u8) {
        /// 0: unspecific.
        UNSPECIFIC = 0,
        /// 1.
        CONNECTION_NOT_SYNCHRONIZED = 1,
        /// 2: data is the erroneous Length field.
        BAD_MESSAGE_LENGTH = 2,
        /// 3: data is the erroneous Type field.
        BAD_MESSAGE_TYPE = 3,
    }
}

codepoint! {
    /// OPEN Message Error subcodes (RFC 4271 §4.5, RFC 5492, RFC 9234 excluded).
    OpenSubcode(u8) {
        /// 0: unspecific.
        UNSPECIFIC = 0,
        /// 1: data is the largest supported version (2 octets).
        UNSUPPORTED_VERSION_NUMBER = 1,
        /// 2.
        BAD_PEER_AS = 2,
        /// 3.
        BAD_BGP_IDENTIFIER = 3,
        /// 4.
        UNSUPPORTED_OPTIONAL_PARAMETER = 4,
        /// 6.
        UNACCEPTABLE_HOLD_TIME = 6,
        /// 7: RFC 5492 §5; data lists the unsupported capabilities.
        UNSUPPORTED_CAPABILITY = 7,
    }
}

codepoint! {
    /// UPDATE Message Error subcodes (RFC 4271 §4.5).
    UpdateSubcode(u8) {
        /// 0: unspecific.
        UNSPECIFIC = 0,
        /// 1.
        MALFORMED_ATTRIBUTE_LIST = 1,
        /// 2.
        UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE = 2,
        /// 3: data is the missing attribute's type code.
        MISSING_WELL_KNOWN_ATTRIBUTE = 3,
        /// 4.
        ATTRIBUTE_FLAGS_ERROR = 4,
        /// 5.
        ATTRIBUTE_LENGTH_ERROR = 5,
        /// 6.
        INVALID_ORIGIN_ATTRIBUTE = 6,
        /// 8.
        INVALID_NEXT_HOP_ATTRIBUTE = 8,
        /// 9.
        OPTIONAL_ATTRIBUTE_ERROR = 9,
        /// 10.
        INVALID_NETWORK_FIELD = 10,
        /// 11.
        MALFORMED_AS_PATH = 11,
    }
}

codepoint! {
    /// Finite State Machine Error subcodes (RFC 6608 §4).
    FsmSubcode(u8) {
        /// 0: unspecified.
        UNSPECIFIED = 0,
        /// 1: a message arrived in OpenSent that was not OPEN or NOTIFICATION.
        UNEXPECTED_MESSAGE_IN_OPEN_SENT = 1,
        /// 2: likewise in OpenConfirm.
        UNEXPECTED_MESSAGE_IN_OPEN_CONFIRM = 2,
        /// 3: likewise in Established.
        UNEXPECTED_MESSAGE_IN_ESTABLISHED = 3,
    }
}

codepoint! {
    /// Cease subcodes (RFC 4486, RFC 9003).
    CeaseSubcode(u8) {
        /// 0: unspecific.
        UNSPECIFIC = 0,
        /// 1.
        MAXIMUM_PREFIXES_REACHED = 1,
        /// 2: may carry a shutdown communication (RFC 9003).
        ADMINISTRATIVE_SHUTDOWN = 2,
        /// 3.
        PEER_DECONFIGURED = 3,
        /// 4: may carry a shutdown communication (RFC 9003).
        ADMINISTRATIVE_RESET = 4,
        /// 5.
        CONNECTION_REJECTED = 5,
        /// 6.
        OTHER_CONFIGURATION_CHANGE = 6,
        /// 7.
        CONNECTION_COLLISION_RESOLUTION = 7,
        /// 8.
        OUT_OF_RESOURCES = 8,
        /// 9: RFC 8538.
        HARD_RESET = 9,
        /// 10: RFC 9384.
        BFD_DOWN = 10,
    }
}

codepoint! {
    /// ROUTE-REFRESH Message Error subcodes (RFC 7313 §5).
    RouteRefreshSubcode(u8) {
        /// 0: reserved.
        RESERVED = 0,
        /// 1: data is the complete ROUTE-REFRESH message.
        INVALID_MESSAGE_LENGTH = 1,
    }
}

/// A NOTIFICATION's error code and subcode, typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 1: Message Header Error.
    MessageHeader(HeaderSubcode),
    /// 2: OPEN Message Error.
    Open(OpenSubcode),
    /// 3: UPDATE Message Error.
    Update(UpdateSubcode),
    /// 4: Hold Timer Expired.
    HoldTimerExpired,
    /// 5: Finite State Machine Error.
    FiniteStateMachine(FsmSubcode),
    /// 6: Cease.
    Cease(CeaseSubcode),
    /// 7: ROUTE-REFRESH Message Error.
    RouteRefresh(RouteRefreshSubcode),
    /// Any other error code; kept so a NOTIFICATION from the future still decodes.
    Unknown {
        /// Error code.
        code: u8,
        /// Error subcode.
        subcode: u8,
    },
}

/// A NOTIFICATION message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationMsg {
    /// Error code and subcode.
    pub error: ErrorKind,
    /// Data, as defined per error.
    pub data: Vec<u8>,
}

impl NotificationMsg {
    /// A NOTIFICATION of `error` with `data`.
    pub fn new(error: ErrorKind, data: Vec<u8>) -> Self {
        NotificationMsg { error, data }
    }

    /// Hold Timer Expired (RFC 4271 §6.5): no subcode, no data.
    pub fn hold_timer_expired() -> Self {
        Self::new(ErrorKind::HoldTimerExpired, Vec::new())
    }

    /// Cease with `subcode` and `data` (RFC 4486).
    pub fn cease(subcode: CeaseSubcode, data: Vec<u8>) -> Self {
        Self::new(ErrorKind::Cease(subcode), data)
    }

    /// Cease / Administrative Shutdown with `reason` as the shutdown communication (RFC
    /// 9003 §2); see [`NotificationMsg::admin_reset`] for how the reason is encoded.
    pub fn admin_shutdown(reason: &str) -> Self {
        Self::cease(
            CeaseSubcode::ADMINISTRATIVE_SHUTDOWN,
            shutdown_communication_data(reason),
        )
    }

    /// Cease / Administrative Reset with `reason` as the shutdown communication (RFC 9003
    /// §2): a length octet and the UTF-8 text, cut at a character boundary to the 255
    /// octets the length can express. An empty reason gives no data at all, which every
    /// speaker reads as a plain Cease.
    pub fn admin_reset(reason: &str) -> Self {
        Self::cease(
            CeaseSubcode::ADMINISTRATIVE_RESET,
            shutdown_communication_data(reason),
        )
    }

    /// The shutdown communication of a Cease / Administrative Shutdown or Reset (RFC 9003
    /// §2), or `None` when this is another error, carries none, or carries a malformed
    /// one. RFC 9003 §4 asks a receiver of "a Shutdown Communication with an invalid
    /// Length value, or an invalid UTF-8 sequence" only to log it, so a malformed one is
    /// treated as absent ([`std::fmt::Display`] then shows the data in hex). Bytes after
    /// the communication are outside it and ignored.
    pub fn shutdown_communication(&self) -> Option<String> {
        if !matches!(
            self.error,
            ErrorKind::Cease(CeaseSubcode::ADMINISTRATIVE_SHUTDOWN)
                | ErrorKind::Cease(CeaseSubcode::ADMINISTRATIVE_RESET)
        ) {
            return None;
        }
        let (&len, rest) = self.data.split_first()?;
        let text = rest.get(..len as usize).filter(|t| !t.is_empty())?;
        std::str::from_utf8(text).ok().map(str::to_owned)
    }

    /// Decodes a NOTIFICATION body: error code, subcode, and the rest as data. Fails only
    /// when fewer than 2 bytes are given (the header check already requires them).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Short> {
        let code = r.u8("error code")?;
        let subcode = r.u8("error subcode")?;
        Ok(NotificationMsg {
            error: ErrorKind::from_code_subcode(code, subcode),
            data: r.rest().to_vec(),
        })
    }

    /// Appends the NOTIFICATION body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        let (code, subcode) = self.error.code_subcode();
        out.push(code);
        out.push(subcode);
        out.extend_from_slice(&self.data);
    }
}

/// Longest shutdown communication: its length field is one octet (RFC 9003 §2).
pub const MAX_SHUTDOWN_COMMUNICATION_LEN: usize = 0xff;

/// Data bytes [`std::fmt::Display`] shows before eliding the rest.
const DISPLAY_DATA_BYTES: usize = 32;

impl fmt::Display for NotificationMsg {
    /// `Cease / Administrative Shutdown: maintenance`, `Hold Timer Expired`,
    /// `UPDATE Message Error / Malformed AS_PATH (data 02 04 00 00 fd e8)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(text) = self.shutdown_communication() {
            return write!(f, ": {text}");
        }
        if !self.data.is_empty() {
            f.write_str(" (data")?;
            for b in self.data.iter().take(DISPLAY_DATA_BYTES) {
                write!(f, " {b:02x}")?;
            }
            if self.data.len() > DISPLAY_DATA_BYTES {
                write!(f, " ... {} bytes in all", self.data.len())?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Display for ErrorKind {
    /// `<code name> / <subcode name>`, the names of the IANA "BGP Error (Notification)
    /// Codes" and subcode registries; numbers where a value has no name, and the code
    /// name alone for codes without subcodes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (code, subcode) = self.code_subcode();
        match self.code_name() {
            Some(n) => f.write_str(n)?,
            None => write!(f, "error code {code}")?,
        }
        match self.subcode_name() {
            Some(n) => write!(f, " / {n}"),
            None if subcode == 0 && !has_subcodes(code) => Ok(()),
            None => write!(f, " / subcode {subcode}"),
        }
    }
}

impl ErrorKind {
    /// The wire (code, subcode).
    pub fn code_subcode(self) -> (u8, u8) {
        match self {
            ErrorKind::MessageHeader(s) => (1, s.0),
            ErrorKind::Open(s) => (2, s.0),
            ErrorKind::Update(s) => (3, s.0),
            ErrorKind::HoldTimerExpired => (4, 0),
            ErrorKind::FiniteStateMachine(s) => (5, s.0),
            ErrorKind::Cease(s) => (6, s.0),
            ErrorKind::RouteRefresh(s) => (7, s.0),
            ErrorKind::Unknown { code, subcode } => (code, subcode),
        }
    }

    /// The error code's name (IANA "BGP Error (Notification) Codes"), or `None` for a code
    /// we do not know.
    pub fn code_name(self) -> Option<&'static str> {
        let (code, _) = self.code_subcode();
        Some(match code {
            1 => "Message Header Error",
            2 => "OPEN Message Error",
            3 => "UPDATE Message Error",
            4 => "Hold Timer Expired",
            5 => "Finite State Machine Error",
            6 => "Cease",
            7 => "ROUTE-REFRESH Message Error",
            // RFC 9687.
            8 => "Send Hold Timer Expired",
            _ => return None,
        })
    }

    /// The subcode's name (the IANA subcode registries; RFC 4271 §4.5, RFC 4486, RFC 5492,
    /// RFC 6608, RFC 7313, RFC 8538, RFC 9234, RFC 9384), or `None` for a subcode we do
    /// not know and for codes without subcodes.
    pub fn subcode_name(self) -> Option<&'static str> {
        let (code, subcode) = self.code_subcode();
        Some(match (code, subcode) {
            (1, 0) | (2, 0) | (3, 0) | (6, 0) => "Unspecific",
            (1, 1) => "Connection Not Synchronized",
            (1, 2) => "Bad Message Length",
            (1, 3) => "Bad Message Type",
            (2, 1) => "Unsupported Version Number",
            (2, 2) => "Bad Peer AS",
            (2, 3) => "Bad BGP Identifier",
            (2, 4) => "Unsupported Optional Parameter",
            (2, 5) => "Authentication Failure (deprecated)",
            (2, 6) => "Unacceptable Hold Time",
            (2, 7) => "Unsupported Capability",
            (2, 8) | (2, 9) => "Deprecated",
            (2, 10) => "Role Mismatch",
            (3, 1) => "Malformed Attribute List",
            (3, 2) => "Unrecognized Well-known Attribute",
            (3, 3) => "Missing Well-known Attribute",
            (3, 4) => "Attribute Flags Error",
            (3, 5) => "Attribute Length Error",
            (3, 6) => "Invalid ORIGIN Attribute",
            (3, 7) => "AS Routing Loop (deprecated)",
            (3, 8) => "Invalid NEXT_HOP Attribute",
            (3, 9) => "Optional Attribute Error",
            (3, 10) => "Invalid Network Field",
            (3, 11) => "Malformed AS_PATH",
            (5, 0) => "Unspecified Error",
            (5, 1) => "Receive Unexpected Message in OpenSent State",
            (5, 2) => "Receive Unexpected Message in OpenConfirm State",
            (5, 3) => "Receive Unexpected Message in Established State",
            (6, 1) => "Maximum Number of Prefixes Reached",
            (6, 2) => "Administrative Shutdown",
            (6, 3) => "Peer De-configured",
            (6, 4) => "Administrative Reset",
            (6, 5) => "Connection Rejected",
            (6, 6) => "Other Configuration Change",
            (6, 7) => "Connection Collision Resolution",
            (6, 8) => "Out of Resources",
            (6, 9) => "Hard Reset",
            (6, 10) => "BFD Down",
            (7, 0) => "Reserved",
            (7, 1) => "Invalid Message Length",
            _ => return None,
        })
    }

    /// The typed kind for a wire (code, subcode).
    pub fn from_code_subcode(code: u8, subcode: u8) -> Self {
        match code {
            1 => ErrorKind::MessageHeader(HeaderSubcode(subcode)),
            2 => ErrorKind::Open(OpenSubcode(subcode)),
            3 => ErrorKind::Update(UpdateSubcode(subcode)),
            4 if subcode == 0 => ErrorKind::HoldTimerExpired,
            5 => ErrorKind::FiniteStateMachine(FsmSubcode(subcode)),
            6 => ErrorKind::Cease(CeaseSubcode(subcode)),
            7 => ErrorKind::RouteRefresh(RouteRefreshSubcode(subcode)),
            _ => ErrorKind::Unknown { code, subcode },
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for NotificationMsg {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (code, subcode) = self.error.code_subcode();
        let communication = self.shutdown_communication();
        let mut st = s.serialize_struct("NotificationMsg", 7)?;
        st.serialize_field("code", &code)?;
        st.serialize_field("subcode", &subcode)?;
        st.serialize_field("error", &format!("{:?}", self.error))?;
        st.serialize_field("codeName", &self.error.code_name())?;
        st.serialize_field("subcodeName", &self.error.subcode_name())?;
        let hex: String = self.data.iter().map(|b| format!("{b:02x}")).collect();
        st.serialize_field("data", &hex)?;
        match communication {
            Some(text) => st.serialize_field("shutdownCommunication", &text)?,
            None => st.skip_field("shutdownCommunication")?,
        }
        st.end()
    }
}

/// Codes whose subcode is unused (RFC 4271 §4.5: Hold Timer Expired; RFC 9687: Send Hold
/// Timer Expired) show no subcode when it is 0.
fn has_subcodes(code: u8) -> bool {
    !matches!(code, 4 | 8)
}

/// RFC 9003 §2 data: a length octet and the UTF-8 text; nothing for an empty reason.
fn shutdown_communication_data(reason: &str) -> Vec<u8> {
    let text = truncate_utf8(reason, MAX_SHUTDOWN_COMMUNICATION_LEN);
    if text.is_empty() {
        return Vec::new();
    }
    let mut data = Vec::with_capacity(1 + text.len());
    data.push(text.len() as u8);
    data.extend_from_slice(text.as_bytes());
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_shutdown_carries_the_reason() {
        let n = NotificationMsg::admin_shutdown("maintenance");
        assert_eq!(n.error.code_subcode(), (6, 2));
        assert_eq!(n.data[0], 11);
        assert_eq!(&n.data[1..], b"maintenance");
        assert_eq!(n.shutdown_communication().as_deref(), Some("maintenance"));
        assert_eq!(
            n.to_string(),
            "Cease / Administrative Shutdown: maintenance"
        );
    }

    #[test]
    fn truncates_shutdown_reason_at_char_boundary() {
        // 127 two-byte characters and one more: 256 bytes, cut to 254, not 255.
        let reason = "é".repeat(128);
        let n = NotificationMsg::admin_reset(&reason);
        assert_eq!(n.data[0], 254);
        assert_eq!(n.data.len(), 255);
        assert_eq!(n.shutdown_communication(), Some("é".repeat(127)));
        let ascii = "x".repeat(300);
        let n = NotificationMsg::admin_reset(&ascii);
        assert_eq!(n.data[0], 255);
        assert_eq!(n.shutdown_communication(), Some("x".repeat(255)));
    }

    #[test]
    fn empty_reason_sends_no_data() {
        let n = NotificationMsg::admin_shutdown("");
        assert!(n.data.is_empty());
        assert_eq!(n.shutdown_communication(), None);
        assert_eq!(n.to_string(), "Cease / Administrative Shutdown");
    }

    #[test]
    fn malformed_shutdown_communication_is_treated_as_absent() {
        let with = |data: &[u8]| {
            NotificationMsg::cease(CeaseSubcode::ADMINISTRATIVE_SHUTDOWN, data.to_vec())
        };
        // Length overruns the data.
        assert_eq!(with(&[5, b'a', b'b']).shutdown_communication(), None);
        // Invalid UTF-8.
        assert_eq!(with(&[2, 0xc3, 0x28]).shutdown_communication(), None);
        // Zero length.
        assert_eq!(with(&[0]).shutdown_communication(), None);
        assert_eq!(
            with(&[2, 0xc3, 0x28]).to_string(),
            "Cease / Administrative Shutdown (data 02 c3 28)"
        );
        // Trailing bytes after a valid one are outside it.
        assert_eq!(
            with(&[2, b'o', b'k', 0xff])
                .shutdown_communication()
                .as_deref(),
            Some("ok")
        );
    }

    #[test]
    fn only_shutdown_and_reset_carry_a_communication() {
        let n = NotificationMsg::cease(CeaseSubcode::PEER_DECONFIGURED, vec![2, b'h', b'i']);
        assert_eq!(n.shutdown_communication(), None);
        let n = NotificationMsg::new(
            ErrorKind::Open(OpenSubcode::UNSPECIFIC),
            vec![2, b'h', b'i'],
        );
        assert_eq!(n.shutdown_communication(), None);
    }

    #[test]
    fn displays_names_and_data() {
        let n = NotificationMsg::new(
            ErrorKind::Update(UpdateSubcode::MALFORMED_AS_PATH),
            vec![0x02, 0x04, 0x00, 0x00],
        );
        assert_eq!(
            n.to_string(),
            "UPDATE Message Error / Malformed AS_PATH (data 02 04 00 00)"
        );
        assert_eq!(
            NotificationMsg::hold_timer_expired().to_string(),
            "Hold Timer Expired"
        );
        assert_eq!(
            NotificationMsg::new(ErrorKind::from_code_subcode(8, 0), vec![]).to_string(),
            "Send Hold Timer Expired"
        );
        assert_eq!(
            NotificationMsg::new(ErrorKind::from_code_subcode(2, 42), vec![]).to_string(),
            "OPEN Message Error / subcode 42"
        );
        assert_eq!(
            NotificationMsg::new(ErrorKind::from_code_subcode(99, 1), vec![]).to_string(),
            "error code 99 / subcode 1"
        );
        assert_eq!(
            NotificationMsg::new(ErrorKind::from_code_subcode(4, 1), vec![]).to_string(),
            "Hold Timer Expired / subcode 1"
        );
        let long = NotificationMsg::new(ErrorKind::from_code_subcode(3, 1), vec![0xab; 40]);
        assert!(long.to_string().ends_with(" ab ... 40 bytes in all)"));
    }

    #[test]
    fn every_named_codepoint_has_a_human_name() {
        let kinds = [
            HeaderSubcode::CONNECTION_NOT_SYNCHRONIZED.0,
            HeaderSubcode::BAD_MESSAGE_LENGTH.0,
            HeaderSubcode::BAD_MESSAGE_TYPE.0,
        ]
        .map(|s| ErrorKind::MessageHeader(HeaderSubcode(s)))
        .into_iter()
        .chain((0..=7).map(|s| ErrorKind::Open(OpenSubcode(s))))
        .chain((0..=11).map(|s| ErrorKind::Update(UpdateSubcode(s))))
        .chain((0..=3).map(|s| ErrorKind::FiniteStateMachine(FsmSubcode(s))))
        .chain((0..=10).map(|s| ErrorKind::Cease(CeaseSubcode(s))))
        .chain((0..=1).map(|s| ErrorKind::RouteRefresh(RouteRefreshSubcode(s))));
        for k in kinds {
            assert!(k.code_name().is_some(), "{k:?}");
            assert!(k.subcode_name().is_some(), "{k:?}");
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json_names_the_error_and_the_communication() {
        let v = serde_json::to_value(NotificationMsg::admin_shutdown("bye")).unwrap();
        assert_eq!(v["code"], 6);
        assert_eq!(v["subcode"], 2);
        assert_eq!(v["codeName"], "Cease");
        assert_eq!(v["subcodeName"], "Administrative Shutdown");
        assert_eq!(v["data"], "03627965");
        assert_eq!(v["shutdownCommunication"], "bye");
        let v = serde_json::to_value(NotificationMsg::hold_timer_expired()).unwrap();
        assert_eq!(v["codeName"], "Hold Timer Expired");
        assert!(v["subcodeName"].is_null());
        assert!(v.get("shutdownCommunication").is_none());
    }

    #[test]
    fn decode_needs_code_and_subcode() {
        let e = NotificationMsg::decode(&mut Reader::new(&[6])).unwrap_err();
        assert_eq!(e.field, "error subcode");
        let n = NotificationMsg::decode(&mut Reader::new(&[6, 2, 0])).unwrap();
        assert_eq!(
            n,
            NotificationMsg::cease(CeaseSubcode::ADMINISTRATIVE_SHUTDOWN, vec![0])
        );
    }
}
