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

use crate::capability::Capability;

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

// PLACEHOLDER(helper-open): replace with the real codec.
impl OpenMsg {
    /// Decodes an OPEN body (the header already checked).
    pub fn decode(r: &mut crate::codec::Reader<'_>) -> Result<OpenMsg, crate::error::OpenError> {
        let _ = r;
        unimplemented!("OPEN decode")
    }
    /// Appends the OPEN body.
    pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), super::EncodeError> {
        let _ = out;
        unimplemented!("OPEN encode")
    }
}
