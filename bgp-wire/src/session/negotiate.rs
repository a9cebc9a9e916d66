//! Our OPEN, the checks a received OPEN must pass (RFC 4271 §6.2), and what the two OPENs
//! together negotiate.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::capability::{
    unsupported_capability_data, Capability, GracefulRestartCap, GracefulRestartFamily,
};
use crate::context::{AddPathFamilies, CodecContext};
use crate::error::OpenError;
use crate::iana::{Family, AS_TRANS};
use crate::message::open::{OpenMsg, OptionalParam};

use super::config::SessionConfig;
use super::timers::HoldTime;

/// What the OPEN exchange settled. Exists only once both OPENs are known: a session in
/// OpenConfirm or Established holds one; earlier states have nothing to hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's AS number (its 4-octet capability value when present).
    pub peer_as: u32,
    /// The peer's BGP identifier.
    pub peer_id: Ipv4Addr,
    /// The hold time both sides run: the smaller proposal. Zero means neither keepalives nor
    /// a hold timer.
    pub hold_time: HoldTime,
    /// Interval between our KEEPALIVEs: the smaller of the configured interval and a third
    /// of [`Negotiated::hold_time`]; `None` when the hold time is zero.
    pub keepalive_interval: Option<Duration>,
    /// Both sides sent the 4-octet AS capability (RFC 6793).
    pub four_octet_as: bool,
    /// Families both sides offered (RFC 4760 §8). A peer without any multiprotocol
    /// capability implicitly offers IPv4 unicast alone.
    pub families: Vec<Family>,
    /// Both sides sent the extended message capability (RFC 8654).
    pub extended_message: bool,
    /// We offered route refresh and the peer did too (RFC 2918 code 2, or the pre-standard
    /// code 128): we may send ROUTE-REFRESH, and honour the peer's.
    pub route_refresh: bool,
    /// Both sides sent the enhanced route refresh capability (RFC 7313): BoRR/EoRR allowed.
    pub enhanced_route_refresh: bool,
    /// Graceful restart, when both sides offered it (RFC 4724).
    pub graceful_restart: Option<NegotiatedGracefulRestart>,
    /// Context to decode what the peer sends: ADD-PATH for families where we receive.
    pub rx: CodecContext,
    /// Context to encode what we send: ADD-PATH for families where we send.
    pub tx: CodecContext,
    /// Every capability the peer sent, in order, for display.
    pub peer_capabilities: Vec<Capability>,
}

/// Graceful restart as negotiated (RFC 4724 §3, §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegotiatedGracefulRestart {
    /// How long the peer asks us to keep its routes after the session drops, in seconds.
    pub peer_restart_time: u16,
    /// The peer's R bit: it has just restarted and will not wait for our End-of-RIB.
    pub peer_restarting: bool,
    /// The peer's N bit (RFC 8538).
    pub peer_notification: bool,
    /// The negotiated families the peer preserves state for, with its F bit.
    pub peer_families: Vec<GracefulRestartFamily>,
    /// We set the R bit in our OPEN: we restarted, and the peer should not wait for our
    /// End-of-RIB before sending its routes.
    pub local_restarting: bool,
}

impl NegotiatedGracefulRestart {
    /// Whether the peer supports graceful restart for `family`.
    pub fn peer_supports(&self, family: Family) -> bool {
        self.peer_families.iter().any(|f| f.family == family)
    }
}

impl Negotiated {
    /// Whether `family` was negotiated.
    pub fn has_family(&self, family: Family) -> bool {
        self.families.contains(&family)
    }

    /// Whether we send path identifiers for `family` (RFC 7911).
    pub fn add_path_send(&self, family: Family) -> bool {
        self.tx.add_path.contains(family)
    }

    /// Whether the peer sends us path identifiers for `family` (RFC 7911).
    pub fn add_path_receive(&self, family: Family) -> bool {
        self.rx.add_path.contains(family)
    }
}

/// Our OPEN for this configuration. `restarting` sets graceful restart's R bit.
pub(crate) fn local_open(config: &SessionConfig, restarting: bool) -> OpenMsg {
    let mut b =
        OpenMsg::builder(config.local_as, config.router_id).hold_time(config.hold_time.seconds());
    for f in &config.families {
        b = b.family(*f);
    }
    if config.route_refresh {
        b = b.route_refresh();
    }
    if config.enhanced_route_refresh {
        b = b.enhanced_route_refresh();
    }
    if config.extended_message {
        b = b.extended_message();
    }
    if let Some(gr) = &config.graceful_restart {
        b = b.graceful_restart(GracefulRestartCap {
            restart_state: restarting,
            notification: false,
            restart_time: gr.restart_time,
            families: config
                .families
                .iter()
                .map(|f| GracefulRestartFamily {
                    family: *f,
                    forwarding_preserved: gr.forwarding_preserved,
                })
                .collect(),
        });
    }
    for e in &config.add_path {
        b = b.add_path(e.family, e.mode);
    }
    b.build()
}

/// The checks of RFC 4271 §6.2 that depend on configuration, in the RFC's order. Version
/// and syntax were checked by the codec.
pub(crate) fn check_open(config: &SessionConfig, open: &OpenMsg) -> Result<HoldTime, OpenError> {
    if open.version != 4 {
        return Err(OpenError::UnsupportedVersionNumber {
            version: open.version,
        });
    }
    // RFC 4271 §6.2: "If the Autonomous System field of the OPEN message is unacceptable,
    // then the Error Subcode MUST be set to Bad Peer AS." With the 4-octet capability the
    // AS is its value (RFC 6793 §4.1), and My Autonomous System must then be AS_TRANS when
    // that value does not fit 2 octets.
    let asn = open.asn();
    let trans_ok = asn <= 0xffff || open.my_as == AS_TRANS;
    if asn != config.peer_as || !trans_ok {
        return Err(OpenError::BadPeerAs {
            received: asn,
            expected: config.peer_as,
        });
    }
    // RFC 4271 §6.2: "If the Hold Time field of the OPEN message is unacceptable, then the
    // Error Subcode MUST be set to Unacceptable Hold Time." 1 and 2 are never acceptable.
    let theirs = HoldTime::new(open.hold_time).map_err(|_| OpenError::UnacceptableHoldTime {
        hold_time: open.hold_time,
    })?;
    // RFC 6286 §2.2: the identifier is a non-zero 4-octet value, and "the BGP Identifier
    // of the peer MUST NOT be the same as the local BGP Identifier" for an internal peer.
    if open.bgp_id.is_unspecified() || (config.is_internal() && open.bgp_id == config.router_id) {
        return Err(OpenError::BadBgpIdentifier { id: open.bgp_id });
    }
    // RFC 4271 §6.2: "If one of the Optional Parameters in the OPEN message is not
    // recognized, then the Error Subcode MUST be set to Unsupported Optional Parameters."
    if let Some(kind) = open.params.iter().find_map(|p| match p {
        OptionalParam::Unknown { kind, .. } => Some(*kind),
        OptionalParam::Capabilities(_) => None,
    }) {
        return Err(OpenError::UnsupportedOptionalParameter { kind });
    }
    // RFC 5492 §3: a speaker that finds its peer lacks a capability it needs "MAY send a
    // NOTIFICATION message to the peer and terminate peering", subcode Unsupported
    // Capability, carrying "the capability or capabilities that cause the speaker to send
    // the message". porter needs at least one of its configured families: a session with
    // none would show Established while carrying no route, hiding a misconfiguration (FRR
    // refuses such a peer the same way). The data is our multiprotocol capabilities.
    let peer_families = open.families_or_ipv4_unicast();
    if !config.families.iter().any(|f| peer_families.contains(f)) {
        let wanted: Vec<Capability> = config
            .families
            .iter()
            .map(|f| Capability::Multiprotocol(*f))
            .collect();
        return Err(OpenError::UnsupportedCapability {
            data: unsupported_capability_data(&wanted),
        });
    }
    Ok(theirs)
}

/// What our OPEN (from `config`, with `restarting` as its R bit) and the peer's `open`
/// negotiate. `theirs` is the peer's hold time as [`check_open`] accepted it.
pub(crate) fn negotiate(
    config: &SessionConfig,
    restarting: bool,
    open: &OpenMsg,
    theirs: HoldTime,
) -> Negotiated {
    // RFC 4760 §8 and gobgp: a peer that sends no multiprotocol capability speaks IPv4
    // unicast only.
    let peer_families = open.families_or_ipv4_unicast();
    let families: Vec<Family> = config
        .families
        .iter()
        .copied()
        .filter(|f| peer_families.contains(f))
        .collect();

    // RFC 7911 §4: we send path identifiers for F when we offered Send (or Both) and the
    // peer Receive (or Both); we receive them when the reverse holds.
    let mut tx_add_path = AddPathFamilies::NONE;
    let mut rx_add_path = AddPathFamilies::NONE;
    for ours in &config.add_path {
        if !families.contains(&ours.family) {
            continue;
        }
        let Some(theirs) = open.add_path_mode(ours.family) else {
            continue;
        };
        if ours.mode.can_send() && theirs.can_receive() {
            tx_add_path.insert(ours.family);
        }
        if ours.mode.can_receive() && theirs.can_send() {
            rx_add_path.insert(ours.family);
        }
    }

    // RFC 6793 §4.1, RFC 8654 §3, RFC 2918 §4, RFC 7313 §3: each takes effect only when
    // both sides sent the capability.
    let four_octet_as = open.four_octet_as().is_some();
    let extended_message = config.extended_message && open.extended_message();
    let route_refresh = config.route_refresh && open.route_refresh();
    let enhanced_route_refresh = config.enhanced_route_refresh && open.enhanced_route_refresh();

    let graceful_restart = config.graceful_restart.and_then(|_| {
        open.graceful_restart().map(|gr| NegotiatedGracefulRestart {
            peer_restart_time: gr.restart_time,
            peer_restarting: gr.restart_state,
            peer_notification: gr.notification,
            peer_families: gr
                .families
                .iter()
                .copied()
                .filter(|f| families.contains(&f.family))
                .collect(),
            local_restarting: restarting,
        })
    });

    let hold_time = config.hold_time.negotiate(theirs);
    let ctx = |add_path| CodecContext {
        four_octet_as,
        extended_message,
        add_path,
    };
    Negotiated {
        peer_as: open.asn(),
        peer_id: open.bgp_id,
        hold_time,
        keepalive_interval: hold_time.keepalive_interval(config.configured_keepalive()),
        four_octet_as,
        families,
        extended_message,
        route_refresh,
        enhanced_route_refresh,
        graceful_restart,
        rx: ctx(rx_add_path),
        tx: ctx(tx_add_path),
        peer_capabilities: open.capabilities().cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::AddPathEntry;
    use crate::capability::AddPathMode;
    use crate::iana::{Afi, Safi};

    fn mode(send: bool, receive: bool) -> AddPathMode {
        match (send, receive) {
            (true, true) => AddPathMode::Both,
            (true, false) => AddPathMode::Send,
            _ => AddPathMode::Receive,
        }
    }

    fn config() -> SessionConfig {
        SessionConfig::new(65001, 65002, Ipv4Addr::new(10, 0, 0, 1))
    }

    fn peer_open(caps: Vec<Capability>) -> OpenMsg {
        OpenMsg {
            version: 4,
            my_as: 65002,
            hold_time: 90,
            bgp_id: Ipv4Addr::new(10, 0, 0, 2),
            params: vec![OptionalParam::Capabilities(caps)],
        }
    }

    #[test]
    fn accepts_a_plain_open() {
        let open = peer_open(vec![Capability::FourOctetAs(65002)]);
        assert_eq!(check_open(&config(), &open), Ok(HoldTime::DEFAULT));
    }

    #[test]
    fn rejects_bad_peer_as() {
        let open = peer_open(vec![Capability::FourOctetAs(65003)]);
        assert!(matches!(
            check_open(&config(), &open),
            Err(OpenError::BadPeerAs {
                received: 65003,
                expected: 65002
            })
        ));
    }

    #[test]
    fn takes_the_peer_as_from_the_four_octet_capability() {
        let mut cfg = config();
        cfg.peer_as = 4_200_000_000;
        let mut open = peer_open(vec![Capability::FourOctetAs(4_200_000_000)]);
        open.my_as = AS_TRANS;
        assert!(check_open(&cfg, &open).is_ok());
        // RFC 6793 §4.1: a 4-octet AS travels as AS_TRANS in My Autonomous System.
        open.my_as = 64512;
        assert!(matches!(
            check_open(&cfg, &open),
            Err(OpenError::BadPeerAs { .. })
        ));
    }

    #[test]
    fn rejects_zero_identifier_and_our_own_for_ibgp() {
        let mut open = peer_open(vec![]);
        open.bgp_id = Ipv4Addr::UNSPECIFIED;
        assert!(matches!(
            check_open(&config(), &open),
            Err(OpenError::BadBgpIdentifier { .. })
        ));
        let mut cfg = config();
        cfg.peer_as = 65001;
        let mut open = peer_open(vec![]);
        open.my_as = 65001;
        open.bgp_id = cfg.router_id;
        assert!(matches!(
            check_open(&cfg, &open),
            Err(OpenError::BadBgpIdentifier { .. })
        ));
        // eBGP may share an identifier (RFC 6286 §2.2 restricts internal peers only).
        let mut open = peer_open(vec![]);
        open.bgp_id = config().router_id;
        assert!(check_open(&config(), &open).is_ok());
    }

    #[test]
    fn rejects_hold_time_of_one_and_two() {
        for h in [1, 2] {
            let mut open = peer_open(vec![]);
            open.hold_time = h;
            assert_eq!(
                check_open(&config(), &open),
                Err(OpenError::UnacceptableHoldTime { hold_time: h })
            );
        }
    }

    #[test]
    fn rejects_unknown_optional_parameter() {
        let mut open = peer_open(vec![]);
        open.params.push(OptionalParam::Unknown {
            kind: 1,
            value: vec![0],
        });
        assert_eq!(
            check_open(&config(), &open),
            Err(OpenError::UnsupportedOptionalParameter { kind: 1 })
        );
    }

    #[test]
    fn no_common_family_is_unsupported_capability_with_ours_as_data() {
        let mut cfg = config();
        cfg.families = vec![Family::IPV6_UNICAST];
        // No MP capability means IPv4 unicast only (RFC 4760 §8): nothing in common.
        let Err(OpenError::UnsupportedCapability { data }) = check_open(&cfg, &peer_open(vec![]))
        else {
            panic!("accepted a peer with no common family");
        };
        // code 1, length 4, AFI 2, reserved, SAFI 1 (RFC 4760 §8)
        assert_eq!(data, [1, 4, 0, 2, 0, 1]);
        let open = peer_open(vec![Capability::Multiprotocol(Family::new(
            Afi::L2VPN,
            Safi(70),
        ))]);
        assert!(matches!(
            check_open(&cfg, &open),
            Err(OpenError::UnsupportedCapability { .. })
        ));
        // One family in common is enough.
        let open = peer_open(vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
        ]);
        assert!(check_open(&cfg, &open).is_ok());
    }

    #[test]
    fn without_multiprotocol_capability_only_ipv4_unicast_is_negotiated() {
        let mut cfg = config();
        cfg.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
        let n = negotiate(&cfg, false, &peer_open(vec![]), HoldTime::DEFAULT);
        assert_eq!(n.families, vec![Family::IPV4_UNICAST]);
        assert!(!n.four_octet_as);
        assert!(!n.route_refresh);
    }

    #[test]
    fn families_are_the_intersection() {
        let mut cfg = config();
        cfg.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
        let open = peer_open(vec![
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::Multiprotocol(Family::new(Afi::L2VPN, Safi(70))),
            Capability::RouteRefresh,
            Capability::FourOctetAs(65002),
        ]);
        let n = negotiate(&cfg, false, &open, HoldTime::DEFAULT);
        assert_eq!(n.families, vec![Family::IPV6_UNICAST]);
        assert!(n.four_octet_as && n.rx.four_octet_as && n.tx.four_octet_as);
        assert!(n.route_refresh);
    }

    #[test]
    fn add_path_is_negotiated_per_direction() {
        let mut cfg = config();
        cfg.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
        cfg.add_path = vec![
            AddPathEntry {
                family: Family::IPV4_UNICAST,
                mode: mode(true, false),
            },
            AddPathEntry {
                family: Family::IPV6_UNICAST,
                mode: mode(true, true),
            },
        ];
        let open = peer_open(vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::AddPath(vec![
                AddPathEntry {
                    family: Family::IPV4_UNICAST,
                    mode: AddPathMode::Both,
                },
                AddPathEntry {
                    family: Family::IPV6_UNICAST,
                    mode: AddPathMode::Send,
                },
            ]),
        ]);
        let n = negotiate(&cfg, false, &open, HoldTime::DEFAULT);
        // IPv4: we send, peer receives → tx only. Peer can also send but we only send.
        assert!(n.add_path_send(Family::IPV4_UNICAST));
        assert!(!n.add_path_receive(Family::IPV4_UNICAST));
        // IPv6: peer only sends → we receive only.
        assert!(!n.add_path_send(Family::IPV6_UNICAST));
        assert!(n.add_path_receive(Family::IPV6_UNICAST));
    }

    #[test]
    fn hold_time_and_keepalive_follow_the_smaller_proposal() {
        let open = peer_open(vec![]);
        let n = negotiate(&config(), false, &open, HoldTime::new(9).unwrap());
        assert_eq!(n.hold_time.seconds(), 9);
        assert_eq!(n.keepalive_interval, Some(Duration::from_secs(3)));
        let n = negotiate(&config(), false, &open, HoldTime::ZERO);
        assert_eq!(n.keepalive_interval, None);
    }

    #[test]
    fn graceful_restart_needs_both_sides_and_keeps_negotiated_families() {
        let gr = Capability::GracefulRestart(GracefulRestartCap {
            restart_state: true,
            notification: false,
            restart_time: 120,
            families: vec![
                GracefulRestartFamily {
                    family: Family::IPV4_UNICAST,
                    forwarding_preserved: true,
                },
                GracefulRestartFamily {
                    family: Family::IPV6_UNICAST,
                    forwarding_preserved: false,
                },
            ],
        });
        let open = peer_open(vec![gr]);
        assert!(negotiate(&config(), false, &open, HoldTime::DEFAULT)
            .graceful_restart
            .is_none());
        let mut cfg = config();
        cfg.graceful_restart = Some(super::super::config::GracefulRestartConfig {
            restart_time: 90,
            restarting: true,
            forwarding_preserved: true,
        });
        let n = negotiate(&cfg, true, &open, HoldTime::DEFAULT);
        let g = n.graceful_restart.unwrap();
        assert_eq!(g.peer_restart_time, 120);
        assert!(g.peer_restarting && g.local_restarting);
        assert!(g.peer_supports(Family::IPV4_UNICAST));
        assert!(!g.peer_supports(Family::IPV6_UNICAST));
    }

    #[test]
    fn our_open_uses_as_trans_for_a_four_octet_as() {
        let mut cfg = config();
        cfg.local_as = 4_200_000_000;
        let open = local_open(&cfg, false);
        assert_eq!(open.my_as, AS_TRANS);
        assert_eq!(open.asn(), 4_200_000_000);
        assert_eq!(local_open(&config(), false).my_as, 65001);
    }
}
