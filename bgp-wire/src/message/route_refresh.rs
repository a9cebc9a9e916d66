//! ROUTE-REFRESH message (RFC 2918 §3; message subtypes of RFC 7313 §3.2).
//!
//! ```text
//!  0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Subtype | SAFI |
//! +-------+-------+-------+-------+
//! ```

use crate::iana::{Afi, Safi};

/// Subtype of a ROUTE-REFRESH (RFC 7313 §3.2): the octet RFC 2918 called Reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum RefreshSubtype {
    /// 0: a plain route refresh request.
    Normal,
    /// 1: beginning of route refresh (BoRR).
    BeginningOfRefresh,
    /// 2: end of route refresh (EoRR).
    EndOfRefresh,
    /// 3..=255: reserved; RFC 7313 §5 says ignore the message.
    Reserved(u8),
}

/// A ROUTE-REFRESH message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct RouteRefreshMsg {
    /// Address family.
    pub afi: Afi,
    /// Subtype.
    pub subtype: RefreshSubtype,
    /// Subsequent address family.
    pub safi: Safi,
}

// PLACEHOLDER(helper-open): replace with the real codec.
impl RouteRefreshMsg {
    /// Decodes a ROUTE-REFRESH body; `Err(())` when its length is not 4 (RFC 7313 §5).
    #[allow(clippy::result_unit_err)]
    pub fn decode(r: &mut crate::codec::Reader<'_>) -> Result<Self, ()> {
        let _ = r;
        unimplemented!("ROUTE-REFRESH decode")
    }
    /// Appends the ROUTE-REFRESH body.
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        let _ = out;
        unimplemented!("ROUTE-REFRESH encode")
    }
}
