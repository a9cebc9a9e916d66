//! UPDATE message (RFC 4271 §4.3) and End-of-RIB markers (RFC 4724 §2).
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```

use crate::attribute::PathAttribute;
use crate::nlri::Nlri;

/// An UPDATE message. IPv4 unicast routes may travel in `withdrawn`/`nlri` or in
/// MP_REACH/MP_UNREACH attributes; other families only in the attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct UpdateMsg {
    /// Withdrawn IPv4 unicast routes.
    pub withdrawn: Vec<Nlri>,
    /// Path attributes, in the order sent.
    pub attributes: Vec<PathAttribute>,
    /// Reachable IPv4 unicast routes.
    pub nlri: Vec<Nlri>,
}

use crate::error::UpdateError;
use crate::iana::Family;

/// What RFC 7606 says to do with an UPDATE whose errors did not reset the session. Ordered
/// so that the worst outcome wins (`max`). A session reset is not a variant: it is the `Err`
/// of [`UpdateMsg::decode_received`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Treatment {
    /// No error.
    Accept,
    /// RFC 7606 §2: the bad attributes were dropped; the rest of the UPDATE stands.
    AttributeDiscard,
    /// RFC 7606 §2: every route the UPDATE announces is to be handled as withdrawn.
    TreatAsWithdraw,
    /// RFC 7606 §2: every route of this family from the peer is to be dropped and the
    /// family treated as not negotiated.
    AfiSafiDisable(Family),
}

/// An UPDATE as a session receives it: what could be decoded, what RFC 7606 says to do with
/// it, and the errors that led there (for logs and counters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedUpdate {
    /// The message, without discarded attributes.
    pub update: UpdateMsg,
    /// The worst outcome of all errors found.
    pub treatment: Treatment,
    /// Each non-fatal error, in order found.
    pub errors: Vec<UpdateError>,
}

// PLACEHOLDER(helper-update): replace with the real codec.
impl UpdateMsg {
    /// Decodes an UPDATE body strictly: any attribute error fails.
    pub fn decode(
        r: &mut crate::codec::Reader<'_>,
        ctx: &crate::CodecContext,
    ) -> Result<Self, UpdateError> {
        let _ = (r, ctx);
        unimplemented!("UPDATE decode")
    }
    /// Decodes an UPDATE body with RFC 7606 error handling.
    pub fn decode_received(
        r: &mut crate::codec::Reader<'_>,
        ctx: &crate::CodecContext,
    ) -> Result<ReceivedUpdate, UpdateError> {
        let _ = (r, ctx);
        unimplemented!("UPDATE decode_received")
    }
    /// Appends the UPDATE body.
    pub fn encode_body(
        &self,
        ctx: &crate::CodecContext,
        out: &mut Vec<u8>,
    ) -> Result<(), super::EncodeError> {
        let _ = (ctx, out);
        unimplemented!("UPDATE encode")
    }
}
