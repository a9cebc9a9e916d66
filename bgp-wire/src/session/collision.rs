//! Connection collision resolution (RFC 4271 §6.8, RFC 6286 §2.3) as a pure decision.

use std::net::Ipv4Addr;

use super::event::ConnectionOrigin;

/// Which of two connections with the same peer survives a collision: the one opened by the
/// speaker with the larger BGP identifier, compared as 4-octet unsigned integers (RFC 4271
/// §6.8); with equal identifiers, the one opened by the speaker with the larger AS number
/// (RFC 6286 §2.3: "the connection initiated by the BGP speaker with the larger AS number
/// is preserved").
///
/// Both speakers reach the same answer from their own side: the result names the origin of
/// the connection to keep as seen locally. Call it once both sessions are in OpenConfirm (the
/// remote identifier comes from [`super::Negotiated::peer_id`]); send
/// [`super::Event::CollisionLost`] to the other. A connection that collides with an
/// Established session is closed without asking (RFC 4271 §6.8: "a connection collision
/// with an existing BGP connection that is in the Established state causes closing of the
/// newly created connection").
///
/// Equal identifiers and AS numbers cannot reach here (the OPEN checks refuse an internal
/// peer with our identifier); the remote connection is kept then.
pub fn collision_winner(
    local_id: Ipv4Addr,
    local_as: u32,
    remote_id: Ipv4Addr,
    remote_as: u32,
) -> ConnectionOrigin {
    let local = (u32::from(local_id), local_as);
    let remote = (u32::from(remote_id), remote_as);
    if local > remote {
        ConnectionOrigin::Local
    } else {
        ConnectionOrigin::Remote
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_connection_of_the_larger_identifier() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 2);
        assert_eq!(collision_winner(a, 1, b, 2), ConnectionOrigin::Remote);
        assert_eq!(collision_winner(b, 2, a, 1), ConnectionOrigin::Local);
    }

    #[test]
    fn compares_identifiers_as_unsigned_integers() {
        // 128.0.0.1 > 9.255.255.255 as an integer, though not as a string.
        let high = Ipv4Addr::new(128, 0, 0, 1);
        let low = Ipv4Addr::new(9, 255, 255, 255);
        assert_eq!(collision_winner(high, 1, low, 2), ConnectionOrigin::Local);
    }

    #[test]
    fn equal_identifiers_fall_back_to_the_larger_as() {
        let id = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(
            collision_winner(id, 65002, id, 65001),
            ConnectionOrigin::Local
        );
        assert_eq!(
            collision_winner(id, 65001, id, 65002),
            ConnectionOrigin::Remote
        );
    }
}
