//! Semantic next-hop checks that need the session's addresses.
//!
//! RFC 4271 §6.3: "If the NEXT_HOP attribute is semantically incorrect, the error SHOULD
//! be logged, and the route SHOULD be ignored." It names the receiver's own address as
//! incorrect; an unspecified, multicast or broadcast address cannot be forwarded to either.
//! RFC 7606 §7.3 settles the outcome as treat-as-withdraw. The codec cannot make these
//! checks (it does not know the local address), so the session calls these pure functions,
//! or [`crate::message::update::ReceivedUpdate::check_next_hops`] which applies them to a
//! whole UPDATE.
//!
//! Loopback next hops are not refused: lab peers on 127.0.0.0/8 use them legitimately.

use std::net::{IpAddr, Ipv6Addr};

use super::MpNextHop;

/// Why a next hop is semantically incorrect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NextHopError {
    /// 0.0.0.0 or `::`.
    #[error("next hop {0} is the unspecified address")]
    Unspecified(IpAddr),
    /// A multicast address.
    #[error("next hop {0} is a multicast address")]
    Multicast(IpAddr),
    /// 255.255.255.255.
    #[error("next hop {0} is the broadcast address")]
    Broadcast(IpAddr),
    /// The receiving speaker's own address (RFC 4271 §6.3: "It MUST NOT be the IP address
    /// of the receiving speaker").
    #[error("next hop {0} is our own address")]
    OwnAddress(IpAddr),
    /// The second address of a 32-octet IPv6 next hop is not link-local (RFC 2545 §3).
    #[error("next hop {0} was sent as link-local but is not in fe80::/10")]
    NotLinkLocal(Ipv6Addr),
}

/// Checks a next hop (NEXT_HOP, or the global address of an MP_REACH_NLRI next hop),
/// and against the local address of the session when known. An error means
/// treat-as-withdraw (RFC 7606 §7.3).
pub fn validate_next_hop(next_hop: IpAddr, local: Option<IpAddr>) -> Result<(), NextHopError> {
    if next_hop.is_unspecified() {
        return Err(NextHopError::Unspecified(next_hop));
    }
    if next_hop.is_multicast() {
        return Err(NextHopError::Multicast(next_hop));
    }
    if let IpAddr::V4(a) = next_hop {
        if a.is_broadcast() {
            return Err(NextHopError::Broadcast(next_hop));
        }
    }
    if Some(next_hop) == local {
        return Err(NextHopError::OwnAddress(next_hop));
    }
    Ok(())
}

/// Checks an MP_REACH_NLRI next hop: the global address as [`validate_next_hop`], and the
/// link-local address, when sent, must be in fe80::/10 and not ours.
pub fn validate_mp_next_hop(
    next_hop: &MpNextHop,
    local: Option<IpAddr>,
) -> Result<(), NextHopError> {
    match *next_hop {
        MpNextHop::V4(a) => validate_next_hop(a.into(), local),
        MpNextHop::V6 { global, link_local } => {
            validate_next_hop(global.into(), local)?;
            if let Some(ll) = link_local {
                if ll.segments()[0] & 0xffc0 != 0xfe80 {
                    return Err(NextHopError::NotLinkLocal(ll));
                }
                if Some(IpAddr::V6(ll)) == local {
                    return Err(NextHopError::OwnAddress(ll.into()));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_zero_multicast_broadcast_and_own_address() {
        let local = ip("10.200.7.1");
        assert!(validate_next_hop(ip("10.200.7.2"), Some(local)).is_ok());
        assert!(validate_next_hop(ip("127.0.0.2"), Some(local)).is_ok());
        assert_eq!(
            validate_next_hop(ip("0.0.0.0"), Some(local)),
            Err(NextHopError::Unspecified(ip("0.0.0.0")))
        );
        assert_eq!(
            validate_next_hop(ip("224.0.0.5"), Some(local)),
            Err(NextHopError::Multicast(ip("224.0.0.5")))
        );
        assert_eq!(
            validate_next_hop(ip("255.255.255.255"), Some(local)),
            Err(NextHopError::Broadcast(ip("255.255.255.255")))
        );
        assert_eq!(
            validate_next_hop(local, Some(local)),
            Err(NextHopError::OwnAddress(local))
        );
        assert!(validate_next_hop(ip("::"), Some(ip("2001:db8::1"))).is_err());
        assert!(validate_next_hop(ip("ff02::1"), None).is_err());
        // Without the local address only the own-address check is skipped.
        assert!(validate_next_hop(local, None).is_ok());
    }

    #[test]
    fn link_local_part_must_be_link_local() {
        let local = ip("2001:db8::1");
        let good = MpNextHop::V6 {
            global: "2001:db8::2".parse().unwrap(),
            link_local: Some("fe80::2".parse().unwrap()),
        };
        assert!(validate_mp_next_hop(&good, Some(local)).is_ok());
        let bad = MpNextHop::V6 {
            global: "2001:db8::2".parse().unwrap(),
            link_local: Some("2001:db8::3".parse().unwrap()),
        };
        assert!(matches!(
            validate_mp_next_hop(&bad, Some(local)),
            Err(NextHopError::NotLinkLocal(_))
        ));
        assert!(validate_mp_next_hop(&MpNextHop::V4(Ipv4Addr::UNSPECIFIED), Some(local)).is_err());
    }
}
