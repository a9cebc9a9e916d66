//! BGP messages: the header, and one module per message type holding its model, encoder and
//! decoder.
//!
//! ```text
//! +-----------------+------------+----------+------------------+
//! | Marker (16)     | Length (2) | Type (1) | Body (Length-19) |
//! +-----------------+------------+----------+------------------+
//! ```
//! RFC 4271 §4.1.

pub mod notification;
pub mod open;
pub mod route_refresh;
pub mod update;

pub use notification::NotificationMsg;
pub use open::OpenMsg;
pub use route_refresh::RouteRefreshMsg;
pub use update::UpdateMsg;

/// One BGP message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")
)]
pub enum Message {
    /// OPEN, RFC 4271 §4.2.
    Open(OpenMsg),
    /// UPDATE, RFC 4271 §4.3.
    Update(UpdateMsg),
    /// NOTIFICATION, RFC 4271 §4.5.
    Notification(NotificationMsg),
    /// KEEPALIVE, RFC 4271 §4.4: a header and nothing else.
    Keepalive,
    /// ROUTE-REFRESH, RFC 2918 §3 and RFC 7313 §3.2.
    RouteRefresh(RouteRefreshMsg),
}

use crate::codec::Reader;
use crate::context::CodecContext;
use crate::error::{DecodeError, HeaderError};
use crate::framing::{HEADER_LEN, MARKER, MAX_MESSAGE_LEN};
use crate::iana::MessageType;

/// A message could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded message exceeds the negotiated maximum; split it (UPDATEs) or send less.
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    TooLong {
        /// Encoded length.
        len: usize,
        /// Allowed maximum.
        max: usize,
    },
    /// A field does not fit its length field (an optional parameter over 65535 bytes, an
    /// AS_PATH segment of more than 255 AS numbers …).
    #[error("{field} does not fit its length field")]
    FieldTooLong {
        /// The field.
        field: &'static str,
    },
    /// A value does not fit the bits the wire gives it (a graceful restart time above the
    /// 12-bit maximum of 4095 …).
    #[error("{field} is out of range")]
    OutOfRange {
        /// The field.
        field: &'static str,
    },
    /// A value that the wire format cannot carry, or that a receiver would have to treat as
    /// malformed (an empty AS_PATH segment, an IPv6 prefix in the IPv4 NLRI field …).
    #[error("{field}: {reason}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl Message {
    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Appends the whole message (header included) to `out`. On error nothing is appended.
    pub fn encode(&self, ctx: &CodecContext, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&MARKER);
        out.extend_from_slice(&[0, 0, self.message_type() as u8]);
        let body = match self {
            Message::Open(m) => m.encode_body(out),
            Message::Update(m) => m.encode_body(ctx, out),
            Message::Notification(m) => {
                m.encode_body(out);
                Ok(())
            }
            Message::Keepalive => Ok(()),
            Message::RouteRefresh(m) => {
                m.encode_body(out);
                Ok(())
            }
        };
        let len = out.len() - start;
        let max = max_len(self.message_type(), ctx);
        let res = match body {
            Ok(()) if len > max => Err(EncodeError::TooLong { len, max }),
            other => other,
        };
        match res {
            Ok(()) => {
                out[start + 16..start + 18].copy_from_slice(&(len as u16).to_be_bytes());
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// The whole message as a new buffer.
    pub fn to_bytes(&self, ctx: &CodecContext) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode(ctx, &mut out)?;
        Ok(out)
    }
}

/// Largest allowed length for a message type: OPEN and KEEPALIVE stay at 4096 even with
/// extended messages (RFC 8654 §3).
fn max_len(kind: MessageType, ctx: &CodecContext) -> usize {
    match kind {
        MessageType::Open | MessageType::Keepalive => MAX_MESSAGE_LEN,
        _ => ctx.max_message_len(),
    }
}

/// Checks the header of the message in `buf` (exactly one message, as framed by
/// [`crate::framing::next_frame`]) and returns its type and body.
///
/// RFC 4271 §6.1: the marker must be all ones; the length must lie within 19..=max, equal
/// the bytes given, and suit the type (OPEN ≥ 29, UPDATE ≥ 23, KEEPALIVE = 19,
/// NOTIFICATION ≥ 21). ROUTE-REFRESH length is checked by its own decoder (RFC 7313 §5
/// gives it its own error code).
pub fn decode_header<'a>(
    buf: &'a [u8],
    ctx: &CodecContext,
) -> Result<(MessageType, Reader<'a>), HeaderError> {
    if buf.len() < HEADER_LEN {
        return Err(HeaderError::BadMessageLength {
            length: buf.len() as u16,
        });
    }
    if buf[..16] != MARKER {
        return Err(HeaderError::ConnectionNotSynchronized);
    }
    let length = u16::from_be_bytes([buf[16], buf[17]]);
    let code = buf[18];
    let kind = MessageType::from_code(code);
    let max = kind.map_or(ctx.max_message_len(), |k| max_len(k, ctx));
    let len = length as usize;
    if len < HEADER_LEN || len > max || len != buf.len() {
        return Err(HeaderError::BadMessageLength { length });
    }
    let kind = kind.ok_or(HeaderError::BadMessageType { kind: code })?;
    let min_ok = match kind {
        MessageType::Open => len >= 29,
        MessageType::Update => len >= 23,
        MessageType::Keepalive => len == HEADER_LEN,
        MessageType::Notification => len >= 21,
        MessageType::RouteRefresh => true,
    };
    if !min_ok {
        return Err(HeaderError::BadMessageLength { length });
    }
    Ok((kind, Reader::with_base(&buf[HEADER_LEN..], HEADER_LEN)))
}

/// Decodes exactly one whole message, strictly: any error in any attribute fails the
/// decode. A session uses [`decode_header`] and [`UpdateMsg::decode_received`] instead, to
/// apply RFC 7606's gentler outcomes to UPDATEs.
pub fn decode_message(buf: &[u8], ctx: &CodecContext) -> Result<Message, DecodeError> {
    let (kind, mut body) = decode_header(buf, ctx)?;
    Ok(match kind {
        MessageType::Open => Message::Open(OpenMsg::decode(&mut body)?),
        MessageType::Update => Message::Update(UpdateMsg::decode(&mut body, ctx)?),
        MessageType::Notification => Message::Notification(
            NotificationMsg::decode(&mut body).map_err(DecodeError::Notification)?,
        ),
        MessageType::Keepalive => Message::Keepalive,
        MessageType::RouteRefresh => {
            Message::RouteRefresh(RouteRefreshMsg::decode(&mut body).map_err(|()| {
                DecodeError::RouteRefresh {
                    length: buf.len(),
                    message: buf.to_vec(),
                }
            })?)
        }
    })
}
