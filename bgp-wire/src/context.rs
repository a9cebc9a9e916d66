//! What the two speakers negotiated, as far as it changes the bytes of a message.

use crate::iana::Family;

/// Negotiated state that encode and decode depend on.
///
/// A session keeps one for each direction once OPENs are exchanged: ADD-PATH is asymmetric
/// (RFC 7911 §4: NLRI carry a path identifier only in the direction where one side sends and
/// the other receives). Before the OPEN exchange [`CodecContext::default`] applies: 2-octet AS
/// numbers, no ADD-PATH, 4096-byte messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CodecContext {
    /// Both sides sent the 4-octet AS capability (RFC 6793): AS_PATH and AGGREGATOR carry
    /// 4-octet AS numbers.
    pub four_octet_as: bool,
    /// Both sides sent the extended message capability (RFC 8654): messages other than OPEN
    /// and KEEPALIVE may be up to 65535 bytes.
    pub extended_message: bool,
    /// Families whose NLRI carry a 4-octet path identifier in this direction (RFC 7911).
    pub add_path: AddPathFamilies,
}

/// The set of families with ADD-PATH path identifiers, as a small bit set over the families
/// this crate decodes NLRI for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AddPathFamilies(u8);

impl AddPathFamilies {
    const V4: u8 = 1;
    const V6: u8 = 2;

    /// No family.
    pub const NONE: AddPathFamilies = AddPathFamilies(0);

    /// Whether NLRI of `family` carry path identifiers.
    pub fn contains(self, family: Family) -> bool {
        match Self::bit(family) {
            Some(b) => self.0 & b != 0,
            None => false,
        }
    }

    /// Adds `family`; families without NLRI support here are ignored (their NLRI stay raw).
    pub fn insert(&mut self, family: Family) {
        if let Some(b) = Self::bit(family) {
            self.0 |= b;
        }
    }

    /// A set holding `families`.
    pub fn of(families: &[Family]) -> Self {
        let mut s = Self::NONE;
        for f in families {
            s.insert(*f);
        }
        s
    }

    fn bit(family: Family) -> Option<u8> {
        match family {
            Family::IPV4_UNICAST => Some(Self::V4),
            Family::IPV6_UNICAST => Some(Self::V6),
            _ => None,
        }
    }
}

impl CodecContext {
    /// Largest message this context allows (RFC 4271 §4.1, RFC 8654 §3).
    pub fn max_message_len(&self) -> usize {
        if self.extended_message {
            crate::framing::MAX_EXTENDED_MESSAGE_LEN
        } else {
            crate::framing::MAX_MESSAGE_LEN
        }
    }
}
