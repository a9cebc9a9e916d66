//! Decode errors, and the one mapping from each to the NOTIFICATION it causes
//! (RFC 4271 §6, RFC 7606, RFC 7313 §5).
//!
//! Each area has its own enum with variants named after the RFC subcodes. The mapping in
//! [`DecodeError::notification`] is a single exhaustive match without a catch-all, so a new
//! variant cannot compile until someone decides what it sends.

use crate::codec::Short;
use crate::iana::{AttrType, CapabilityCode, Family};
use crate::message::notification::{
    ErrorKind, HeaderSubcode, NotificationMsg, OpenSubcode, RouteRefreshSubcode, UpdateSubcode,
};

/// A message could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The header is wrong (RFC 4271 §6.1).
    #[error("message header error: {0}")]
    Header(#[from] HeaderError),
    /// The OPEN is wrong (RFC 4271 §6.2).
    #[error("OPEN message error: {0}")]
    Open(#[from] OpenError),
    /// The UPDATE is wrong in a way that resets the session (RFC 4271 §6.3, RFC 7606 §3).
    #[error("UPDATE message error: {0}")]
    Update(#[from] UpdateError),
    /// A NOTIFICATION is malformed. RFC 4271 §6.4: no NOTIFICATION is sent in reply; the
    /// connection is closed.
    #[error("malformed NOTIFICATION: {0}")]
    Notification(Short),
    /// A ROUTE-REFRESH has the wrong length (RFC 7313 §5).
    #[error("ROUTE-REFRESH message error: invalid length {length}")]
    RouteRefresh {
        /// The message length.
        length: usize,
        /// The whole message, the NOTIFICATION's data (RFC 7313 §5).
        message: Vec<u8>,
    },
}

/// Message header errors (RFC 4271 §6.1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The marker is not all ones.
    #[error("connection not synchronized (marker is not all ones)")]
    ConnectionNotSynchronized,
    /// The length is below 19, above the negotiated maximum, or wrong for the type.
    #[error("bad message length {length}")]
    BadMessageLength {
        /// The Length field.
        length: u16,
    },
    /// The type is not a BGP message type.
    #[error("bad message type {kind}")]
    BadMessageType {
        /// The Type field.
        kind: u8,
    },
}

/// OPEN message errors (RFC 4271 §6.2, RFC 5492 §5). The codec raises the syntactic ones;
/// the session raises the ones that depend on configuration (peer AS, hold time policy).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Version other than 4.
    #[error("unsupported version {version}")]
    UnsupportedVersionNumber {
        /// The version sent.
        version: u8,
    },
    /// The peer's AS is not the configured one.
    #[error("bad peer AS {received} (expected {expected})")]
    BadPeerAs {
        /// What the peer announced (the 4-octet capability's value when present).
        received: u32,
        /// What the configuration says.
        expected: u32,
    },
    /// Identifier is 0, or (iBGP) equal to ours (RFC 6286 §2.2).
    #[error("bad BGP identifier {id}")]
    BadBgpIdentifier {
        /// The identifier sent.
        id: std::net::Ipv4Addr,
    },
    /// An optional parameter type other than capabilities.
    #[error("unsupported optional parameter type {kind}")]
    UnsupportedOptionalParameter {
        /// The parameter type.
        kind: u8,
    },
    /// Hold time of 1 or 2 seconds (RFC 4271 §4.2: it MUST be 0 or at least 3).
    #[error("unacceptable hold time {hold_time}")]
    UnacceptableHoldTime {
        /// The hold time sent.
        hold_time: u16,
    },
    /// A capability we require is missing, or one we must refuse is present (RFC 5492 §5).
    /// The data carries the capabilities in question, encoded.
    #[error("unsupported capability")]
    UnsupportedCapability {
        /// Encoded capability tuples for the NOTIFICATION data.
        data: Vec<u8>,
    },
    /// The body does not parse (a length that overruns, a truncated field).
    #[error("malformed OPEN: {0}")]
    Malformed(Short),
    /// A known capability's value does not parse: wrong length for its code, an ADD-PATH
    /// send/receive value outside 1..=3, FQDN names overrunning the value. Sent as 2/0; see
    /// [`crate::capability::Capability::decode`] for why.
    #[error("malformed {code:?} capability at offset {offset}: {reason}")]
    MalformedCapability {
        /// The capability code.
        code: CapabilityCode,
        /// Offset of the capability's code octet in the message.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Bytes follow the optional parameters: the Optional Parameters Length does not
    /// account for the whole body.
    #[error("{trailing} bytes after the optional parameters at offset {offset}")]
    TrailingBytes {
        /// Offset of the first byte after the optional parameters.
        offset: usize,
        /// How many bytes follow.
        trailing: usize,
    },
}

impl OpenError {
    /// 2/7 Unsupported Capability listing `caps` (those of the peer we refuse, or ours it
    /// lacks), encoded as in an OPEN (RFC 5492 §5).
    pub fn unsupported_capabilities(caps: &[crate::capability::Capability]) -> Self {
        OpenError::UnsupportedCapability {
            data: crate::capability::unsupported_capability_data(caps),
        }
    }
}

/// UPDATE errors that end the session (after RFC 7606 triage), and the per-attribute errors
/// that [`crate::message::update::ReceivedUpdate`] reports without ending it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// 3/1: lengths inconsistent, a well-known attribute repeated in a way RFC 7606 cannot
    /// repair, MP_REACH/MP_UNREACH repeated (RFC 7606 §3 g).
    #[error("malformed attribute list at offset {offset}: {reason}")]
    MalformedAttributeList {
        /// Offset in the message.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// 3/2: a well-known attribute type we do not know.
    #[error("unrecognized well-known attribute {type_code:?}")]
    UnrecognizedWellKnownAttribute {
        /// Its type.
        type_code: AttrType,
        /// The attribute (type, length, value) for the NOTIFICATION data.
        data: Vec<u8>,
    },
    /// 3/3: a mandatory attribute is missing.
    #[error("missing well-known attribute {type_code:?}")]
    MissingWellKnownAttribute {
        /// Its type.
        type_code: AttrType,
    },
    /// 3/4: flags wrong for the type.
    #[error("attribute flags error on {type_code:?}")]
    AttributeFlagsError {
        /// Its type.
        type_code: AttrType,
        /// The attribute, for the NOTIFICATION data.
        data: Vec<u8>,
    },
    /// 3/5: length wrong for the type.
    #[error("attribute length error on {type_code:?}")]
    AttributeLengthError {
        /// Its type.
        type_code: AttrType,
        /// The attribute, for the NOTIFICATION data.
        data: Vec<u8>,
    },
    /// 3/6: ORIGIN value not 0, 1 or 2.
    #[error("invalid ORIGIN")]
    InvalidOriginAttribute {
        /// The attribute, for the NOTIFICATION data.
        data: Vec<u8>,
    },
    /// 3/8: NEXT_HOP syntactically or semantically invalid.
    #[error("invalid NEXT_HOP{}", reason.map(|r| format!(": {r}")).unwrap_or_default())]
    InvalidNextHopAttribute {
        /// The attribute, for the NOTIFICATION data.
        data: Vec<u8>,
        /// Which check failed, when it was a semantic one (RFC 4271 §6.3).
        reason: Option<crate::attribute::NextHopError>,
    },
    /// 3/9: an optional attribute's value is wrong.
    #[error("optional attribute error on {type_code:?}")]
    OptionalAttributeError {
        /// Its type.
        type_code: AttrType,
        /// The attribute, for the NOTIFICATION data.
        data: Vec<u8>,
    },
    /// 3/10: NLRI or withdrawn routes malformed; or MP_REACH/MP_UNREACH NLRI malformed.
    #[error("invalid network field at offset {offset}")]
    InvalidNetworkField {
        /// Offset in the message.
        offset: usize,
        /// The family whose NLRI was bad.
        family: Family,
    },
    /// 3/11: AS_PATH malformed.
    #[error("malformed AS_PATH")]
    MalformedAsPath {
        /// The attribute, for the NOTIFICATION data.
        data: Vec<u8>,
    },
    /// 3/0: the body does not parse at all (truncated lengths).
    #[error("malformed UPDATE: {0}")]
    Malformed(Short),
}

impl DecodeError {
    /// The NOTIFICATION this error causes, or `None` for a malformed NOTIFICATION (RFC 4271
    /// §6.4: never answer a NOTIFICATION with one).
    pub fn notification(&self) -> Option<NotificationMsg> {
        use DecodeError as D;
        let (error, data) = match self {
            D::Header(h) => match h {
                HeaderError::ConnectionNotSynchronized => (
                    ErrorKind::MessageHeader(HeaderSubcode::CONNECTION_NOT_SYNCHRONIZED),
                    vec![],
                ),
                HeaderError::BadMessageLength { length } => (
                    ErrorKind::MessageHeader(HeaderSubcode::BAD_MESSAGE_LENGTH),
                    length.to_be_bytes().to_vec(),
                ),
                HeaderError::BadMessageType { kind } => (
                    ErrorKind::MessageHeader(HeaderSubcode::BAD_MESSAGE_TYPE),
                    vec![*kind],
                ),
            },
            D::Open(o) => match o {
                // RFC 4271 §6.2: data is "a 2-octet unsigned integer, which indicates the
                // largest, locally-supported version number less than the version the
                // remote BGP peer bid".
                OpenError::UnsupportedVersionNumber { .. } => (
                    ErrorKind::Open(OpenSubcode::UNSUPPORTED_VERSION_NUMBER),
                    vec![0, 4],
                ),
                OpenError::BadPeerAs { .. } => (ErrorKind::Open(OpenSubcode::BAD_PEER_AS), vec![]),
                OpenError::BadBgpIdentifier { .. } => {
                    (ErrorKind::Open(OpenSubcode::BAD_BGP_IDENTIFIER), vec![])
                }
                OpenError::UnsupportedOptionalParameter { .. } => (
                    ErrorKind::Open(OpenSubcode::UNSUPPORTED_OPTIONAL_PARAMETER),
                    vec![],
                ),
                OpenError::UnacceptableHoldTime { .. } => {
                    (ErrorKind::Open(OpenSubcode::UNACCEPTABLE_HOLD_TIME), vec![])
                }
                OpenError::UnsupportedCapability { data } => (
                    ErrorKind::Open(OpenSubcode::UNSUPPORTED_CAPABILITY),
                    data.clone(),
                ),
                OpenError::Malformed(_) => (ErrorKind::Open(OpenSubcode::UNSPECIFIC), vec![]),
                // RFC 5492 has no subcode for a malformed capability; FRR and BIRD send
                // 2/0 too.
                OpenError::MalformedCapability { .. } => {
                    (ErrorKind::Open(OpenSubcode::UNSPECIFIC), vec![])
                }
                OpenError::TrailingBytes { .. } => {
                    (ErrorKind::Open(OpenSubcode::UNSPECIFIC), vec![])
                }
            },
            D::Update(u) => {
                let (sub, data) = match u {
                    UpdateError::MalformedAttributeList { .. } => {
                        (UpdateSubcode::MALFORMED_ATTRIBUTE_LIST, vec![])
                    }
                    UpdateError::UnrecognizedWellKnownAttribute { data, .. } => (
                        UpdateSubcode::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                        data.clone(),
                    ),
                    UpdateError::MissingWellKnownAttribute { type_code } => (
                        UpdateSubcode::MISSING_WELL_KNOWN_ATTRIBUTE,
                        vec![type_code.0],
                    ),
                    UpdateError::AttributeFlagsError { data, .. } => {
                        (UpdateSubcode::ATTRIBUTE_FLAGS_ERROR, data.clone())
                    }
                    UpdateError::AttributeLengthError { data, .. } => {
                        (UpdateSubcode::ATTRIBUTE_LENGTH_ERROR, data.clone())
                    }
                    UpdateError::InvalidOriginAttribute { data } => {
                        (UpdateSubcode::INVALID_ORIGIN_ATTRIBUTE, data.clone())
                    }
                    UpdateError::InvalidNextHopAttribute { data, .. } => {
                        (UpdateSubcode::INVALID_NEXT_HOP_ATTRIBUTE, data.clone())
                    }
                    UpdateError::OptionalAttributeError { data, .. } => {
                        (UpdateSubcode::OPTIONAL_ATTRIBUTE_ERROR, data.clone())
                    }
                    UpdateError::InvalidNetworkField { .. } => {
                        (UpdateSubcode::INVALID_NETWORK_FIELD, vec![])
                    }
                    UpdateError::MalformedAsPath { data } => {
                        (UpdateSubcode::MALFORMED_AS_PATH, data.clone())
                    }
                    UpdateError::Malformed(_) => (UpdateSubcode::UNSPECIFIC, vec![]),
                };
                (ErrorKind::Update(sub), data)
            }
            D::Notification(_) => return None,
            D::RouteRefresh { message, .. } => (
                ErrorKind::RouteRefresh(RouteRefreshSubcode::INVALID_MESSAGE_LENGTH),
                message.clone(),
            ),
        };
        Some(NotificationMsg { error, data })
    }
}
