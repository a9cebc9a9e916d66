//! NOTIFICATION message (RFC 4271 §4.5, §6) with the shutdown communication of RFC 9003.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::iana::codepoint;

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

// PLACEHOLDER(helper-open): replace with the real codec.
impl NotificationMsg {
    /// Decodes a NOTIFICATION body.
    pub fn decode(r: &mut crate::codec::Reader<'_>) -> Result<Self, crate::codec::Short> {
        let _ = r;
        unimplemented!("NOTIFICATION decode")
    }
    /// Appends the NOTIFICATION body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        let _ = out;
        unimplemented!("NOTIFICATION encode")
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
        let mut st = s.serialize_struct("NotificationMsg", 4)?;
        st.serialize_field("code", &code)?;
        st.serialize_field("subcode", &subcode)?;
        st.serialize_field("error", &format!("{:?}", self.error))?;
        let hex: String = self.data.iter().map(|b| format!("{b:02x}")).collect();
        st.serialize_field("data", &hex)?;
        st.end()
    }
}
