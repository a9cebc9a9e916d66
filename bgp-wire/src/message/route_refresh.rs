//! ROUTE-REFRESH message (RFC 2918 §3; message subtypes of RFC 7313 §3.2).
//!
//! ```text
//!  0       7      15      23      31
//! +-------+-------+-------+-------+
//! |      AFI      | Subtype | SAFI |
//! +-------+-------+-------+-------+
//! ```

use crate::codec::{put_u16, Reader};
use crate::iana::{Afi, Family, Safi};

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

impl RouteRefreshMsg {
    /// A plain request to re-send every route of `family` (RFC 2918 §3).
    pub fn request(family: Family) -> Self {
        Self::with_subtype(family, RefreshSubtype::Normal)
    }

    /// Beginning of route refresh for `family` (RFC 7313 §4).
    pub fn begin(family: Family) -> Self {
        Self::with_subtype(family, RefreshSubtype::BeginningOfRefresh)
    }

    /// End of route refresh for `family` (RFC 7313 §4).
    pub fn end(family: Family) -> Self {
        Self::with_subtype(family, RefreshSubtype::EndOfRefresh)
    }

    /// A message for `family` with `subtype`.
    pub fn with_subtype(family: Family, subtype: RefreshSubtype) -> Self {
        RouteRefreshMsg {
            afi: family.afi,
            subtype,
            safi: family.safi,
        }
    }

    /// The family the message is about.
    pub fn family(&self) -> Family {
        Family::new(self.afi, self.safi)
    }

    /// Decodes a ROUTE-REFRESH body; `Err(())` when its length is not 4.
    ///
    /// RFC 7313 §5: "If the length, excluding the fixed-size message header, of the
    /// received ROUTE-REFRESH message with Message Subtype 1 and 2 is not 4, then the BGP
    /// speaker MUST send a NOTIFICATION message with the Error Code of 'ROUTE-REFRESH
    /// Message Error' and the subcode of 'Invalid Message Length'." A subtype-0 message of
    /// the wrong length is just as unreadable, so every subtype gets the same answer; the
    /// caller builds it from the whole message.
    #[allow(clippy::result_unit_err)]
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, ()> {
        let b = r.peek_rest();
        if b.len() != 4 {
            return Err(());
        }
        r.rest();
        Ok(RouteRefreshMsg {
            afi: Afi(u16::from_be_bytes([b[0], b[1]])),
            subtype: RefreshSubtype::from_code(b[2]),
            safi: Safi(b[3]),
        })
    }

    /// Appends the ROUTE-REFRESH body (always 4 bytes).
    pub fn encode_body(&self, out: &mut Vec<u8>) {
        put_u16(out, self.afi.0);
        out.push(self.subtype.code());
        out.push(self.safi.0);
    }
}

impl RefreshSubtype {
    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            RefreshSubtype::Normal => 0,
            RefreshSubtype::BeginningOfRefresh => 1,
            RefreshSubtype::EndOfRefresh => 2,
            RefreshSubtype::Reserved(v) => v,
        }
    }

    /// The subtype for a wire value. `Reserved` holds only 3..=255, so that every message
    /// has one representation.
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => RefreshSubtype::Normal,
            1 => RefreshSubtype::BeginningOfRefresh,
            2 => RefreshSubtype::EndOfRefresh,
            v => RefreshSubtype::Reserved(v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_subtype() {
        for (code, subtype) in [
            (0, RefreshSubtype::Normal),
            (1, RefreshSubtype::BeginningOfRefresh),
            (2, RefreshSubtype::EndOfRefresh),
            (3, RefreshSubtype::Reserved(3)),
            (0xff, RefreshSubtype::Reserved(0xff)),
        ] {
            let body = [0x00, 0x02, code, 0x01];
            let m = RouteRefreshMsg::decode(&mut Reader::new(&body)).unwrap();
            assert_eq!(
                m,
                RouteRefreshMsg::with_subtype(Family::IPV6_UNICAST, subtype)
            );
            let mut out = Vec::new();
            m.encode_body(&mut out);
            assert_eq!(out, body);
        }
    }

    #[test]
    fn rejects_bodies_that_are_not_four_bytes() {
        for len in [0, 3, 5, 8] {
            let body = vec![0; len];
            assert_eq!(RouteRefreshMsg::decode(&mut Reader::new(&body)), Err(()));
        }
    }
}
