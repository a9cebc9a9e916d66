//! Golden vectors for OPEN (with every capability), NOTIFICATION, KEEPALIVE and
//! ROUTE-REFRESH.
//!
//! Each is built by hand from the layout in the RFC section named in its `source`; the
//! multi-capability OPENs follow the shapes BIRD 2 (one capabilities parameter holding
//! every capability) and FRR 8 (one parameter per capability) send. Captures of real
//! OPENs live with the interop tests.

use std::net::Ipv4Addr;

use bgp_wire::capability::{
    AddPathEntry, AddPathMode, Capability, ExtendedNextHopEntry, GracefulRestartCap,
    GracefulRestartFamily,
};
use bgp_wire::iana::{Afi, CapabilityCode, Family, Safi};
use bgp_wire::message::notification::{
    CeaseSubcode, ErrorKind, FsmSubcode, HeaderSubcode, OpenSubcode, RouteRefreshSubcode,
    UpdateSubcode,
};
use bgp_wire::message::open::OptionalParam;
use bgp_wire::message::route_refresh::RefreshSubtype;
use bgp_wire::message::{NotificationMsg, OpenMsg, RouteRefreshMsg};
use bgp_wire::{CodecContext, Message};

use super::Vector;

/// The vectors of this file.
pub fn vectors() -> Vec<Vector> {
    let mut v = open_vectors();
    v.extend(notification_vectors());
    v.extend(keepalive_and_route_refresh_vectors());
    v
}

/// An OPEN from AS 65001, hold time 90, identifier 10.0.0.1.
fn open(params: Vec<OptionalParam>) -> Message {
    Message::Open(OpenMsg {
        version: 4,
        my_as: 65001,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(10, 0, 0, 1),
        params,
    })
}

/// An OPEN with one capabilities parameter holding `caps`.
fn open_caps(caps: Vec<Capability>) -> Message {
    open(vec![OptionalParam::Capabilities(caps)])
}

fn fam(afi: u16, safi: u8) -> Family {
    Family::new(Afi(afi), Safi(safi))
}

fn ctx() -> CodecContext {
    CodecContext::default()
}

fn notification(code: u8, subcode: u8, data: &[u8]) -> Message {
    Message::Notification(NotificationMsg {
        error: ErrorKind::from_code_subcode(code, subcode),
        data: data.to_vec(),
    })
}

fn open_vectors() -> Vec<Vector> {
    vec![
        Vector {
            name: "open_without_optional_parameters",
            source: "RFC 4271 §4.2: the fixed fields and an Opt Parm Len of 0",
            hex: "
                ffffffffffffffffffffffffffffffff 001d 01  # header: length 29, OPEN
                04 fde9 005a 0a000001                     # version 4, AS 65001, hold 90, id 10.0.0.1
                00                                        # no optional parameters
            ",
            ctx: ctx(),
            message: open(vec![]),
        },
        Vector {
            name: "open_multiprotocol_ipv4_and_ipv6_unicast",
            source: "RFC 4760 §8: AFI (2), reserved (1), SAFI (1)",
            hex: "
                ffffffffffffffffffffffffffffffff 002b 01
                04 fde9 005a 0a000001
                0e 02 0c                # Opt Parm Len 14; capabilities parameter of 12
                01 04 0001 00 01        # multiprotocol IPv4 unicast
                01 04 0002 00 01        # multiprotocol IPv6 unicast
            ",
            ctx: ctx(),
            message: open_caps(vec![
                Capability::Multiprotocol(Family::IPV4_UNICAST),
                Capability::Multiprotocol(Family::IPV6_UNICAST),
            ]),
        },
        Vector {
            name: "open_route_refresh",
            source: "RFC 2918 §2: capability code 2, length 0",
            hex: "
                ffffffffffffffffffffffffffffffff 0021 01
                04 fde9 005a 0a000001
                04 02 02  02 00
            ",
            ctx: ctx(),
            message: open_caps(vec![Capability::RouteRefresh]),
        },
        Vector {
            name: "open_route_refresh_cisco",
            source: "IANA capability code 128 (pre-standard route refresh), length 0, as sent \
                     next to code 2 by Cisco IOS and FRR",
            hex: "
                ffffffffffffffffffffffffffffffff 0023 01
                04 fde9 005a 0a000001
                06 02 04  80 00  02 00
            ",
            ctx: ctx(),
            message: open_caps(vec![Capability::RouteRefreshCisco, Capability::RouteRefresh]),
        },
        Vector {
            name: "open_enhanced_route_refresh",
            source: "RFC 7313 §3: capability code 70, length 0",
            hex: "
                ffffffffffffffffffffffffffffffff 0021 01
                04 fde9 005a 0a000001
                04 02 02  46 00
            ",
            ctx: ctx(),
            message: open_caps(vec![Capability::EnhancedRouteRefresh]),
        },
        Vector {
            name: "open_extended_message",
            source: "RFC 8654 §3: capability code 6, length 0",
            hex: "
                ffffffffffffffffffffffffffffffff 0021 01
                04 fde9 005a 0a000001
                04 02 02  06 00
            ",
            ctx: ctx(),
            message: open_caps(vec![Capability::ExtendedMessage]),
        },
        Vector {
            name: "open_four_octet_as_with_as_trans",
            source: "RFC 6793 §3 and §4.1: AS_TRANS (23456) in My Autonomous System, the real \
                     AS 4200000001 in capability 65",
            hex: "
                ffffffffffffffffffffffffffffffff 0025 01
                04 5ba0 005a 0a000001   # AS_TRANS
                08 02 06  41 04 fa56ea01
            ",
            ctx: ctx(),
            message: Message::Open(OpenMsg {
                version: 4,
                my_as: 23456,
                hold_time: 90,
                bgp_id: Ipv4Addr::new(10, 0, 0, 1),
                params: vec![OptionalParam::Capabilities(vec![Capability::FourOctetAs(
                    4_200_000_001,
                )])],
            }),
        },
        Vector {
            name: "open_graceful_restart_restarting_with_forwarding_state",
            source: "RFC 4724 §3 (R bit, restart time 120, F bit per family) with the N bit of \
                     RFC 8538 §2",
            hex: "
                ffffffffffffffffffffffffffffffff 002b 01
                04 fde9 005a 0a000001
                0e 02 0c
                40 0a c078              # GR: R and N set, restart time 120
                      0001 01 80        # IPv4 unicast, forwarding preserved
                      0002 01 00        # IPv6 unicast, not preserved
            ",
            ctx: ctx(),
            message: open_caps(vec![Capability::GracefulRestart(GracefulRestartCap {
                restart_state: true,
                notification: true,
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
            })]),
        },
        Vector {
            name: "open_graceful_restart_helper_only",
            source: "RFC 4724 §3: restart time 0 and no families, what a receiving-speaker-only \
                     implementation (gobgp's default helper mode) announces",
            hex: "
                ffffffffffffffffffffffffffffffff 0023 01
                04 fde9 005a 0a000001
                06 02 04  40 02 0000
            ",
            ctx: ctx(),
            message: open_caps(vec![Capability::GracefulRestart(
                GracefulRestartCap::default(),
            )]),
        },
        Vector {
            name: "open_add_path_each_mode",
            source: "RFC 7911 §4: (AFI, SAFI, Send/Receive) tuples, modes 1, 2 and 3",
            hex: "
                ffffffffffffffffffffffffffffffff 002d 01
                04 fde9 005a 0a000001
                10 02 0e
                45 0c 0001 01 01        # IPv4 unicast: receive
                      0002 01 02        # IPv6 unicast: send
                      0001 02 03        # IPv4 multicast: both
            ",
            ctx: ctx(),
            message: open_caps(vec![Capability::AddPath(vec![
                AddPathEntry {
                    family: Family::IPV4_UNICAST,
                    mode: AddPathMode::Receive,
                },
                AddPathEntry {
                    family: Family::IPV6_UNICAST,
                    mode: AddPathMode::Send,
                },
                AddPathEntry {
                    family: fam(1, 2),
                    mode: AddPathMode::Both,
                },
            ])]),
        },
        Vector {
            name: "open_extended_next_hop_ipv4_over_ipv6",
            source: "RFC 8950 §3: (NLRI AFI 2, NLRI SAFI 2, next hop AFI 2) tuples",
            hex: "
                ffffffffffffffffffffffffffffffff 002d 01
                04 fde9 005a 0a000001
                10 02 0e
                05 0c 0001 0001 0002    # IPv4 unicast over IPv6 next hops
                      0001 0080 0002    # IPv4 MPLS VPN over IPv6 next hops
            ",
            ctx: ctx(),
            message: open_caps(vec![Capability::ExtendedNextHop(vec![
                ExtendedNextHopEntry {
                    nlri_afi: Afi::IPV4,
                    nlri_safi: 1,
                    next_hop_afi: Afi::IPV6,
                },
                ExtendedNextHopEntry {
                    nlri_afi: Afi::IPV4,
                    nlri_safi: 128,
                    next_hop_afi: Afi::IPV6,
                },
            ])]),
        },
        Vector {
            name: "open_fqdn",
            source: "draft-ietf-idr-dynamic-cap-hostname §3: hostname length and bytes, domain \
                     name length and bytes",
            hex: "
                ffffffffffffffffffffffffffffffff 0030 01
                04 fde9 005a 0a000001
                13 02 11
                49 0f 06 6e6f64652d31           # hostname node-1
                      07 6578616d706c65         # domain example
            ",
            ctx: ctx(),
            message: open_caps(vec![Capability::Fqdn {
                hostname: b"node-1".to_vec(),
                domain: b"example".to_vec(),
            }]),
        },
        Vector {
            name: "open_fqdn_without_domain",
            source: "draft-ietf-idr-dynamic-cap-hostname §3 with an empty domain name, as FRR \
                     sends when none is configured",
            hex: "
                ffffffffffffffffffffffffffffffff 0028 01
                04 fde9 005a 0a000001
                0b 02 09
                49 07 05 726f757465 00          # hostname route, no domain
            ",
            ctx: ctx(),
            message: open_caps(vec![Capability::Fqdn {
                hostname: b"route".to_vec(),
                domain: vec![],
            }]),
        },
        Vector {
            name: "open_unknown_capability_kept_raw",
            source: "RFC 5492 §4: an unrecognised capability (71, long-lived graceful restart, \
                     not interpreted here) is kept, not refused",
            hex: "
                ffffffffffffffffffffffffffffffff 0028 01
                04 fde9 005a 0a000001
                0b 02 09  47 07 0001 01 80 000e10
            ",
            ctx: ctx(),
            message: open_caps(vec![Capability::Unknown {
                code: CapabilityCode(71),
                value: vec![0x00, 0x01, 0x01, 0x80, 0x00, 0x0e, 0x10],
            }]),
        },
        Vector {
            name: "open_unknown_optional_parameter_kept",
            source: "RFC 4271 §4.2: an optional parameter other than capabilities (type 1, the \
                     authentication parameter of RFC 1771) decodes; the session refuses it",
            hex: "
                ffffffffffffffffffffffffffffffff 0022 01
                04 fde9 005a 0a000001
                05 01 03 00 aa bb
            ",
            ctx: ctx(),
            message: open(vec![OptionalParam::Unknown {
                kind: 1,
                value: vec![0x00, 0xaa, 0xbb],
            }]),
        },
        Vector {
            name: "open_bird_style_single_capabilities_parameter",
            source: "RFC 5492 §4, laid out as BIRD 2 sends it: one capabilities parameter \
                     holding every capability",
            hex: "
                ffffffffffffffffffffffffffffffff 0041 01
                04 fde9 00f0 0a000001           # hold time 240
                24 02 22
                01 04 0001 00 01                # IPv4 unicast
                01 04 0002 00 01                # IPv6 unicast
                02 00                           # route refresh
                46 00                           # enhanced route refresh
                06 00                           # extended message
                40 02 0078                      # graceful restart, 120 s, no families
                41 04 0000fde9                  # 4-octet AS 65001
                45 04 0001 01 03                # ADD-PATH IPv4 unicast both
            ",
            ctx: ctx(),
            message: Message::Open(OpenMsg {
                version: 4,
                my_as: 65001,
                hold_time: 240,
                bgp_id: Ipv4Addr::new(10, 0, 0, 1),
                params: vec![OptionalParam::Capabilities(vec![
                    Capability::Multiprotocol(Family::IPV4_UNICAST),
                    Capability::Multiprotocol(Family::IPV6_UNICAST),
                    Capability::RouteRefresh,
                    Capability::EnhancedRouteRefresh,
                    Capability::ExtendedMessage,
                    Capability::GracefulRestart(GracefulRestartCap {
                        restart_time: 120,
                        ..Default::default()
                    }),
                    Capability::FourOctetAs(65001),
                    Capability::AddPath(vec![AddPathEntry {
                        family: Family::IPV4_UNICAST,
                        mode: AddPathMode::Both,
                    }]),
                ])],
            }),
        },
        Vector {
            name: "open_frr_style_one_parameter_per_capability",
            source: "RFC 5492 §4, laid out as FRR 8 sends it: each capability in its own \
                     capabilities parameter",
            hex: "
                ffffffffffffffffffffffffffffffff 0039 01
                04 fde9 0009 0a000001           # hold time 9
                1c
                02 06 01 04 0001 00 01          # IPv4 unicast
                02 02 80 00                     # route refresh (old code)
                02 02 02 00                     # route refresh
                02 06 41 04 0000fde9            # 4-octet AS 65001
                02 02 46 00                     # enhanced route refresh
            ",
            ctx: ctx(),
            message: Message::Open(OpenMsg {
                version: 4,
                my_as: 65001,
                hold_time: 9,
                bgp_id: Ipv4Addr::new(10, 0, 0, 1),
                params: vec![
                    OptionalParam::Capabilities(vec![Capability::Multiprotocol(
                        Family::IPV4_UNICAST,
                    )]),
                    OptionalParam::Capabilities(vec![Capability::RouteRefreshCisco]),
                    OptionalParam::Capabilities(vec![Capability::RouteRefresh]),
                    OptionalParam::Capabilities(vec![Capability::FourOctetAs(65001)]),
                    OptionalParam::Capabilities(vec![Capability::EnhancedRouteRefresh]),
                ],
            }),
        },
        Vector {
            name: "open_hold_time_zero",
            source: "RFC 4271 §4.2: a hold time of 0 (no keepalives) is valid",
            hex: "
                ffffffffffffffffffffffffffffffff 001d 01
                04 fde9 0000 0a000001 00
            ",
            ctx: ctx(),
            message: Message::Open(OpenMsg {
                version: 4,
                my_as: 65001,
                hold_time: 0,
                bgp_id: Ipv4Addr::new(10, 0, 0, 1),
                params: vec![],
            }),
        },
        Vector {
            name: "open_rfc9072_extended_optional_parameters",
            source: "RFC 9072 §2: Opt Parm Len 255, marker type 255, 2-octet length; one \
                     capabilities parameter of 325 octets with a 2-octet length (an edge router \
                     announcing twelve families with GR, ADD-PATH and LLGR)",
            hex: "
                ffffffffffffffffffffffffffffffff 0168 01         # length 360
                04 5ba0 00b4 c6336401                            # AS_TRANS, hold 180, id 198.51.100.1
                ff ff 0148                                       # RFC 9072 marker, length 328
                02 0145                                          # capabilities, length 325
                01 04 0001 00 01  01 04 0002 00 01               # multiprotocol: v4, v6 unicast
                01 04 0001 00 02  01 04 0002 00 02               # v4, v6 multicast
                01 04 0001 00 04  01 04 0002 00 04               # v4, v6 labeled unicast
                01 04 0001 00 80  01 04 0002 00 80               # v4, v6 MPLS VPN
                01 04 0001 00 85  01 04 0002 00 85               # v4, v6 flowspec
                01 04 0019 00 46  01 04 0019 00 41               # L2VPN EVPN, VPLS
                02 00  46 00  06 00                              # RR, enhanced RR, extended message
                40 32 4078                                       # GR: N bit, 120 s; F for each
                   0001 01 80  0002 01 80  0001 02 80  0002 02 80
                   0001 04 80  0002 04 80  0001 80 80  0002 80 80
                   0001 85 80  0002 85 80  0019 46 80  0019 41 80
                41 04 fa56ea01                                   # 4-octet AS 4200000001
                45 30                                            # ADD-PATH both for each
                   0001 01 03  0002 01 03  0001 02 03  0002 02 03
                   0001 04 03  0002 04 03  0001 80 03  0002 80 03
                   0001 85 03  0002 85 03  0019 46 03  0019 41 03
                05 12 0001 0001 0002  0001 0002 0002  0001 0080 0002   # extended next hop
                49 1f 12 656467652d726f757465722d30312e646331    # FQDN edge-router-01.dc1
                      0b 6578616d706c652e6e6574                  #      example.net
                47 54                                            # LLGR (71), kept raw
                   0001 01 80 000e10  0002 01 80 000e10  0001 02 80 000e10
                   0002 02 80 000e10  0001 04 80 000e10  0002 04 80 000e10
                   0001 80 80 000e10  0002 80 80 000e10  0001 85 80 000e10
                   0002 85 80 000e10  0019 46 80 000e10  0019 41 80 000e10
            ",
            ctx: ctx(),
            message: rfc9072_open(),
        },
    ]
}

/// The message of `open_rfc9072_extended_optional_parameters`.
fn rfc9072_open() -> Message {
    let families: Vec<Family> = [
        (1, 1),
        (2, 1),
        (1, 2),
        (2, 2),
        (1, 4),
        (2, 4),
        (1, 128),
        (2, 128),
        (1, 133),
        (2, 133),
        (25, 70),
        (25, 65),
    ]
    .iter()
    .map(|&(a, s)| fam(a, s))
    .collect();
    let mut caps: Vec<Capability> = families
        .iter()
        .map(|f| Capability::Multiprotocol(*f))
        .collect();
    caps.push(Capability::RouteRefresh);
    caps.push(Capability::EnhancedRouteRefresh);
    caps.push(Capability::ExtendedMessage);
    caps.push(Capability::GracefulRestart(GracefulRestartCap {
        restart_state: false,
        notification: true,
        restart_time: 120,
        families: families
            .iter()
            .map(|f| GracefulRestartFamily {
                family: *f,
                forwarding_preserved: true,
            })
            .collect(),
    }));
    caps.push(Capability::FourOctetAs(4_200_000_001));
    caps.push(Capability::AddPath(
        families
            .iter()
            .map(|f| AddPathEntry {
                family: *f,
                mode: AddPathMode::Both,
            })
            .collect(),
    ));
    caps.push(Capability::ExtendedNextHop(
        [1u16, 2, 128]
            .iter()
            .map(|&safi| ExtendedNextHopEntry {
                nlri_afi: Afi::IPV4,
                nlri_safi: safi,
                next_hop_afi: Afi::IPV6,
            })
            .collect(),
    ));
    caps.push(Capability::Fqdn {
        hostname: b"edge-router-01.dc1".to_vec(),
        domain: b"example.net".to_vec(),
    });
    let mut llgr = Vec::new();
    for f in &families {
        llgr.extend_from_slice(&f.afi.0.to_be_bytes());
        llgr.push(f.safi.0);
        llgr.extend_from_slice(&[0x80, 0x00, 0x0e, 0x10]);
    }
    caps.push(Capability::Unknown {
        code: CapabilityCode(71),
        value: llgr,
    });
    Message::Open(OpenMsg {
        version: 4,
        my_as: 23456,
        hold_time: 180,
        bgp_id: Ipv4Addr::new(198, 51, 100, 1),
        params: vec![OptionalParam::Capabilities(caps)],
    })
}

fn notification_vectors() -> Vec<Vector> {
    vec![
        Vector {
            name: "notification_hold_timer_expired",
            source: "RFC 4271 §6.5: error code 4, no subcode, no data",
            hex: "ffffffffffffffffffffffffffffffff 0015 03  04 00",
            ctx: ctx(),
            message: Message::Notification(NotificationMsg::hold_timer_expired()),
        },
        Vector {
            name: "notification_admin_shutdown_with_communication",
            source: "RFC 9003 §2: Cease / Administrative Shutdown, length 11, UTF-8 text",
            hex: "
                ffffffffffffffffffffffffffffffff 0021 03
                06 02 0b 6d61696e74656e616e6365     # \"maintenance\"
            ",
            ctx: ctx(),
            message: Message::Notification(NotificationMsg::cease(
                CeaseSubcode::ADMINISTRATIVE_SHUTDOWN,
                [&[0x0b][..], b"maintenance"].concat(),
            )),
        },
        Vector {
            name: "notification_admin_reset_with_utf8_communication",
            source: "RFC 9003 §2: Cease / Administrative Reset with a multi-byte UTF-8 text",
            hex: "
                ffffffffffffffffffffffffffffffff 001f 03
                06 04 09 6dc3a46e74656e616e     # \"mäntenan\" (9 bytes)
            ",
            ctx: ctx(),
            message: Message::Notification(NotificationMsg::admin_reset("mäntenan")),
        },
        Vector {
            name: "notification_admin_shutdown_without_communication",
            source: "RFC 4486 §4: Cease / Administrative Shutdown with no data",
            hex: "ffffffffffffffffffffffffffffffff 0015 03  06 02",
            ctx: ctx(),
            message: Message::Notification(NotificationMsg::admin_shutdown("")),
        },
        Vector {
            name: "notification_connection_collision_resolution",
            source: "RFC 4486 §4: Cease / Connection Collision Resolution",
            hex: "ffffffffffffffffffffffffffffffff 0015 03  06 07",
            ctx: ctx(),
            message: Message::Notification(NotificationMsg::cease(
                CeaseSubcode::CONNECTION_COLLISION_RESOLUTION,
                vec![],
            )),
        },
        Vector {
            name: "notification_bad_message_length",
            source: "RFC 4271 §6.1: Message Header Error / Bad Message Length, data the bad \
                     Length field (17)",
            hex: "ffffffffffffffffffffffffffffffff 0017 03  01 02 0011",
            ctx: ctx(),
            message: Message::Notification(NotificationMsg {
                error: ErrorKind::MessageHeader(HeaderSubcode::BAD_MESSAGE_LENGTH),
                data: vec![0x00, 0x11],
            }),
        },
        Vector {
            name: "notification_unsupported_version_number",
            source: "RFC 4271 §6.2: OPEN Message Error / Unsupported Version Number, data the \
                     largest supported version (2 octets)",
            hex: "ffffffffffffffffffffffffffffffff 0017 03  02 01 0004",
            ctx: ctx(),
            message: Message::Notification(NotificationMsg {
                error: ErrorKind::Open(OpenSubcode::UNSUPPORTED_VERSION_NUMBER),
                data: vec![0x00, 0x04],
            }),
        },
        Vector {
            name: "notification_unsupported_capability",
            source: "RFC 5492 §5: OPEN Message Error / Unsupported Capability, data the \
                     capability as encoded in the OPEN (multiprotocol IPv6 unicast)",
            hex: "ffffffffffffffffffffffffffffffff 001b 03  02 07 01 04 0002 00 01",
            ctx: ctx(),
            message: Message::Notification(NotificationMsg {
                error: ErrorKind::Open(OpenSubcode::UNSUPPORTED_CAPABILITY),
                data: vec![0x01, 0x04, 0x00, 0x02, 0x00, 0x01],
            }),
        },
        Vector {
            name: "notification_malformed_as_path",
            source: "RFC 4271 §6.3: UPDATE Message Error / Malformed AS_PATH",
            hex: "ffffffffffffffffffffffffffffffff 0015 03  03 0b",
            ctx: ctx(),
            message: notification(3, 11, &[]),
        },
        Vector {
            name: "notification_fsm_error_in_open_sent",
            source: "RFC 6608 §4: Finite State Machine Error / Receive Unexpected Message in \
                     OpenSent State",
            hex: "ffffffffffffffffffffffffffffffff 0015 03  05 01",
            ctx: ctx(),
            message: Message::Notification(NotificationMsg {
                error: ErrorKind::FiniteStateMachine(FsmSubcode::UNEXPECTED_MESSAGE_IN_OPEN_SENT),
                data: vec![],
            }),
        },
        Vector {
            name: "notification_route_refresh_invalid_length",
            source: "RFC 7313 §5: ROUTE-REFRESH Message Error / Invalid Message Length, data \
                     the whole offending ROUTE-REFRESH (24 bytes)",
            hex: "
                ffffffffffffffffffffffffffffffff 002d 03
                07 01
                ffffffffffffffffffffffffffffffff 0018 05 0001 00 01 00   # the bad message
            ",
            ctx: ctx(),
            message: Message::Notification(NotificationMsg {
                error: ErrorKind::RouteRefresh(RouteRefreshSubcode::INVALID_MESSAGE_LENGTH),
                data: [
                    &[0xff; 16][..],
                    &[0x00, 0x18, 0x05, 0x00, 0x01, 0x00, 0x01, 0x00],
                ]
                .concat(),
            }),
        },
        Vector {
            name: "notification_send_hold_timer_expired",
            source: "RFC 9687 §3: error code 8 (Send Hold Timer Expired), no typed kind here",
            hex: "ffffffffffffffffffffffffffffffff 0015 03  08 00",
            ctx: ctx(),
            message: notification(8, 0, &[]),
        },
        Vector {
            name: "notification_unknown_code_kept",
            source: "RFC 4271 §4.5: an error code from the future still decodes, data kept",
            hex: "ffffffffffffffffffffffffffffffff 0017 03  2a 05 beef",
            ctx: ctx(),
            message: notification(42, 5, &[0xbe, 0xef]),
        },
        Vector {
            name: "notification_update_unspecific",
            source: "RFC 4271 §4.5 (subcode 0, Unspecific, per the IANA registry)",
            hex: "ffffffffffffffffffffffffffffffff 0015 03  03 00",
            ctx: ctx(),
            message: Message::Notification(NotificationMsg {
                error: ErrorKind::Update(UpdateSubcode::UNSPECIFIC),
                data: vec![],
            }),
        },
    ]
}

fn keepalive_and_route_refresh_vectors() -> Vec<Vector> {
    vec![
        Vector {
            name: "keepalive",
            source: "RFC 4271 §4.4: a header of length 19 and type 4",
            hex: "ffffffffffffffffffffffffffffffff 0013 04",
            ctx: ctx(),
            message: Message::Keepalive,
        },
        Vector {
            name: "keepalive_with_extended_messages",
            source: "RFC 8654 §3: KEEPALIVE is unchanged by the extended message capability",
            hex: "ffffffffffffffffffffffffffffffff 0013 04",
            ctx: CodecContext {
                extended_message: true,
                ..CodecContext::default()
            },
            message: Message::Keepalive,
        },
        Vector {
            name: "route_refresh_ipv4_unicast",
            source: "RFC 2918 §3: AFI 1, reserved 0, SAFI 1",
            hex: "ffffffffffffffffffffffffffffffff 0017 05  0001 00 01",
            ctx: ctx(),
            message: Message::RouteRefresh(RouteRefreshMsg::request(Family::IPV4_UNICAST)),
        },
        Vector {
            name: "route_refresh_beginning_of_refresh_ipv6",
            source: "RFC 7313 §3.2: subtype 1 (BoRR), IPv6 unicast",
            hex: "ffffffffffffffffffffffffffffffff 0017 05  0002 01 01",
            ctx: ctx(),
            message: Message::RouteRefresh(RouteRefreshMsg::begin(Family::IPV6_UNICAST)),
        },
        Vector {
            name: "route_refresh_end_of_refresh_ipv6",
            source: "RFC 7313 §3.2: subtype 2 (EoRR), IPv6 unicast",
            hex: "ffffffffffffffffffffffffffffffff 0017 05  0002 02 01",
            ctx: ctx(),
            message: Message::RouteRefresh(RouteRefreshMsg::end(Family::IPV6_UNICAST)),
        },
        Vector {
            name: "route_refresh_reserved_subtype",
            source: "RFC 7313 §5: subtype 255 is reserved (the session ignores the message; \
                     the codec keeps it)",
            hex: "ffffffffffffffffffffffffffffffff 0017 05  0001 ff 01",
            ctx: ctx(),
            message: Message::RouteRefresh(RouteRefreshMsg {
                afi: Afi::IPV4,
                subtype: RefreshSubtype::Reserved(0xff),
                safi: Safi::UNICAST,
            }),
        },
    ]
}
