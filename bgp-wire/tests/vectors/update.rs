//! Golden vectors for UPDATE messages and every path attribute.
//!
//! Hand-built from the RFC layouts named per vector (RFC 4271 §4.3 for the message and the
//! attribute header, the attribute's RFC for its value), field by field with a comment each,
//! independently of the encoder under test. Addresses are documentation ranges and the lab
//! range 10.200.0.0/16.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_wire::attribute::{
    Aggregator, AsPath, AsSegment, LargeCommunity, MpNextHop, MpReach, MpUnreach, Origin,
    PathAttribute, RawAttribute, SegmentType,
};
use bgp_wire::context::AddPathFamilies;
use bgp_wire::iana::{AttrType, Family, Safi};
use bgp_wire::message::UpdateMsg;
use bgp_wire::nlri::Nlri;
use bgp_wire::{CodecContext, Message};

use super::Vector;

fn two() -> CodecContext {
    CodecContext::default()
}

fn four() -> CodecContext {
    CodecContext {
        four_octet_as: true,
        ..CodecContext::default()
    }
}

fn four_add_path() -> CodecContext {
    CodecContext {
        four_octet_as: true,
        add_path: AddPathFamilies::of(&[Family::IPV4_UNICAST, Family::IPV6_UNICAST]),
        ..CodecContext::default()
    }
}

fn n(s: &str) -> Nlri {
    Nlri::new(s.parse().unwrap())
}

fn np(id: u32, s: &str) -> Nlri {
    Nlri {
        path_id: Some(id),
        prefix: s.parse().unwrap(),
    }
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn seg(kind: SegmentType, asns: &[u32]) -> AsSegment {
    AsSegment {
        kind,
        asns: asns.to_vec(),
    }
}

fn path(segments: Vec<AsSegment>) -> AsPath {
    AsPath { segments }
}

fn update(withdrawn: Vec<Nlri>, attributes: Vec<PathAttribute>, nlri: Vec<Nlri>) -> Message {
    Message::Update(UpdateMsg {
        withdrawn,
        attributes,
        nlri,
    })
}

use PathAttribute as A;
use SegmentType::{ConfedSequence, ConfedSet, Sequence, Set};

/// The vectors of this file.
pub fn vectors() -> Vec<Vector> {
    vec![
        Vector {
            name: "update_ipv4_basic_two_octet",
            source: "RFC 4271 §4.3 and §5.1.1-§5.1.5 layouts, hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 004302  # marker, length 67, type 2 UPDATE
        0000  # withdrawn routes length 0
        0022  # total path attribute length 34
        400101 00  # ORIGIN IGP
        400206 0202fde9fdea  # AS_PATH SEQUENCE 65001 65002 (2-octet)
        400304 0ac80101  # NEXT_HOP 10.200.1.1
        800404 00000064  # MED 100
        400504 000000c8  # LOCAL_PREF 200
        18cb007119c633648000  # NLRI
            ",
            ctx: two(),
            message: update(
                vec![],
                vec![
                    A::Origin(Origin::Igp),
                    A::AsPath(AsPath::sequence([65001, 65002])),
                    A::NextHop(v4("10.200.1.1")),
                    A::MultiExitDisc(100),
                    A::LocalPref(200),
                ],
                vec![n("203.0.113.0/24"), n("198.51.100.128/25"), n("0.0.0.0/0")],
            ),
        },
        Vector {
            name: "update_all_segment_types_two_octet",
            source: "RFC 4271 §4.3 AS_PATH, RFC 5065 §3 confederation segments, RFC 4271 \
                     §5.1.6-7, RFC 1997, RFC 4456 §8; hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 006d02  # marker, length 109, type 2 UPDATE
        0000  # withdrawn routes length 0
        0051  # total path attribute length 81
        400101 01  # ORIGIN EGP
        400216 0302fdf2fdf30401fdf40202fde9fdea0102fe4cfe4d  # AS_PATH CONFED_SEQUENCE, CONFED_SET, SEQUENCE, SET
        400304 0ac80102  # NEXT_HOP
        400600  # ATOMIC_AGGREGATE
        c00706 fde90ac80109  # AGGREGATOR 65001 10.200.1.9 (6 bytes)
        c0080c fde90064ffffff01ffff0000  # COMMUNITIES 65001:100 NO_EXPORT GRACEFUL_SHUTDOWN
        800904 0ac80103  # ORIGINATOR_ID
        800a08 0ac801040ac80105  # CLUSTER_LIST
        1acb007140  # NLRI
            ",
            ctx: two(),
            message: update(
                vec![],
                vec![
                    A::Origin(Origin::Egp),
                    A::AsPath(path(vec![
                        seg(ConfedSequence, &[65010, 65011]),
                        seg(ConfedSet, &[65012]),
                        seg(Sequence, &[65001, 65002]),
                        seg(Set, &[65100, 65101]),
                    ])),
                    A::NextHop(v4("10.200.1.2")),
                    A::AtomicAggregate,
                    A::Aggregator(Aggregator {
                        asn: 65001,
                        address: v4("10.200.1.9"),
                    }),
                    A::Communities(vec![0xfde9_0064, 0xffff_ff01, 0xffff_0000]),
                    A::OriginatorId(v4("10.200.1.3")),
                    A::ClusterList(vec![v4("10.200.1.4"), v4("10.200.1.5")]),
                ],
                vec![n("203.0.113.64/26")],
            ),
        },
        Vector {
            name: "update_all_segment_types_four_octet",
            source: "RFC 6793 §3 (4-octet AS_PATH and AGGREGATOR), RFC 4360 §2, RFC 8092 §3; \
                     hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 008702  # marker, length 135, type 2 UPDATE
        0000  # withdrawn routes length 0
        0067  # total path attribute length 103
        400101 02  # ORIGIN INCOMPLETE
        400220 0301fa56ea0a0402fa56ea0bfa56ea0c0202fa56ea010000fdea0101fa  # AS_PATH 4-octet: CONFED_SEQUENCE, CONFED_SET, SEQUENCE, SET
        56ea64
        400304 0ac80102  # NEXT_HOP
        c00708 fa56ea010ac80109  # AGGREGATOR 4200000001 (8 bytes)
        c01010 0002fde900000064010a0000010000c8  # EXTENDED_COMMUNITIES rt:65001:100, rt:10.0.0.1:200
        c02018 fa56ea0100000001000000020000fde90000000000000007  # LARGE_COMMUNITY 4200000001:1:2 65001:0:7
        18c6336420c6336407  # NLRI
            ",
            ctx: four(),
            message: update(
                vec![],
                vec![
                    A::Origin(Origin::Incomplete),
                    A::AsPath(path(vec![
                        seg(ConfedSequence, &[4_200_000_010]),
                        seg(ConfedSet, &[4_200_000_011, 4_200_000_012]),
                        seg(Sequence, &[4_200_000_001, 65002]),
                        seg(Set, &[4_200_000_100]),
                    ])),
                    A::NextHop(v4("10.200.1.2")),
                    A::Aggregator(Aggregator {
                        asn: 4_200_000_001,
                        address: v4("10.200.1.9"),
                    }),
                    A::ExtendedCommunities(vec![0x0002_fde9_0000_0064, 0x010a_0000_0100_00c8]),
                    A::LargeCommunities(vec![
                        LargeCommunity {
                            global_admin: 4_200_000_001,
                            local_data1: 1,
                            local_data2: 2,
                        },
                        LargeCommunity {
                            global_admin: 65001,
                            local_data1: 0,
                            local_data2: 7,
                        },
                    ]),
                ],
                vec![n("198.51.100.0/24"), n("198.51.100.7/32")],
            ),
        },
        Vector {
            name: "update_as4_path_with_as_trans",
            source: "RFC 6793 §4.2.2: an OLD-speaker session, AS_TRANS in AS_PATH and \
                     AGGREGATOR, the real values in AS4_PATH and AS4_AGGREGATOR; hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 005702  # marker, length 87, type 2 UPDATE
        0000  # withdrawn routes length 0
        003b  # total path attribute length 59
        400101 00  # ORIGIN IGP
        400208 0203fde95ba05ba0  # AS_PATH 65001 AS_TRANS AS_TRANS
        400304 0ac80101  # NEXT_HOP
        c00706 5ba00ac80109  # AGGREGATOR AS_TRANS
        c0110e 02030000fde9fa56ea01fa56ea02  # AS4_PATH 65001 4200000001 4200000002
        c01208 fa56ea020ac80109  # AS4_AGGREGATOR 4200000002
        19cb007100  # NLRI
            ",
            ctx: two(),
            message: update(
                vec![],
                vec![
                    A::Origin(Origin::Igp),
                    A::AsPath(AsPath::sequence([65001, 23456, 23456])),
                    A::NextHop(v4("10.200.1.1")),
                    A::Aggregator(Aggregator {
                        asn: 23456,
                        address: v4("10.200.1.9"),
                    }),
                    A::As4Path(AsPath::sequence([65001, 4_200_000_001, 4_200_000_002])),
                    A::As4Aggregator(Aggregator {
                        asn: 4_200_000_002,
                        address: v4("10.200.1.9"),
                    }),
                ],
                vec![n("203.0.113.0/25")],
            ),
        },
        Vector {
            name: "update_mp_reach_ipv6_global_next_hop",
            source: "RFC 4760 §3, RFC 2545 §3 (16-octet next hop); hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 006402  # marker, length 100, type 2 UPDATE
        0000  # withdrawn routes length 0
        004d  # total path attribute length 77
        800e36 0002011020010db8000000000000000000000001003020010db8000140  # MP_REACH_NLRI AFI 2 SAFI 1, next hop 2001:db8::1, reserved, 3 NLRI
        20010db8000200038020010db8000000000000000000000005
        400101 00  # ORIGIN
        400206 0201fa56ea01  # AS_PATH 4200000001
        800404 00000000  # MED 0
            ",
            ctx: four(),
            message: update(
                vec![],
                vec![
                    A::MpReach(MpReach::Unicast {
                        family: Family::IPV6_UNICAST,
                        next_hop: MpNextHop::V6 {
                            global: v6("2001:db8::1"),
                            link_local: None,
                        },
                        nlri: vec![
                            n("2001:db8:1::/48"),
                            n("2001:db8:2:3::/64"),
                            n("2001:db8::5/128"),
                        ],
                    }),
                    A::Origin(Origin::Igp),
                    A::AsPath(AsPath::sequence([4_200_000_001])),
                    A::MultiExitDisc(0),
                ],
                vec![],
            ),
        },
        Vector {
            name: "update_mp_reach_ipv6_global_and_link_local",
            source: "RFC 2545 §3 (32-octet next hop: global then link-local); hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 005202  # marker, length 82, type 2 UPDATE
        0000  # withdrawn routes length 0
        003b  # total path attribute length 59
        800e2b 0002012020010db8000000000000000000000001fe8000000000000000  # MP_REACH_NLRI next hop 2001:db8::1 + fe80::1 (32 bytes)
        00000000000001002820010db801
        400101 00  # ORIGIN
        400206 02010000fde9  # AS_PATH 65001
            ",
            ctx: four(),
            message: update(
                vec![],
                vec![
                    A::MpReach(MpReach::Unicast {
                        family: Family::IPV6_UNICAST,
                        next_hop: MpNextHop::V6 {
                            global: v6("2001:db8::1"),
                            link_local: Some(v6("fe80::1")),
                        },
                        nlri: vec![n("2001:db8:100::/40")],
                    }),
                    A::Origin(Origin::Igp),
                    A::AsPath(AsPath::sequence([65001])),
                ],
                vec![],
            ),
        },
        Vector {
            name: "update_mp_unreach_ipv6",
            source: "RFC 4760 §4; hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 002d02  # marker, length 45, type 2 UPDATE
        0000  # withdrawn routes length 0
        0016  # total path attribute length 22
        800f13 0002013020010db800014020010db800020003  # MP_UNREACH_NLRI AFI 2 SAFI 1, 2 prefixes
            ",
            ctx: four(),
            message: update(
                vec![],
                vec![A::MpUnreach(MpUnreach::Unicast {
                    family: Family::IPV6_UNICAST,
                    withdrawn: vec![n("2001:db8:1::/48"), n("2001:db8:2:3::/64")],
                })],
                vec![],
            ),
        },
        Vector {
            name: "update_add_path_ipv4",
            source: "RFC 7911 §3: path identifiers in the Withdrawn Routes and NLRI fields; \
                     hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 004302  # marker, length 67, type 2 UPDATE
        0008  # withdrawn routes length 8
        0000000718cb0071  # withdrawn routes
        0014  # total path attribute length 20
        400101 00  # ORIGIN
        400206 02010000fde9  # AS_PATH
        400304 0ac80101  # NEXT_HOP
        0000000118c633640000000218c63364  # NLRI
            ",
            ctx: four_add_path(),
            message: update(
                vec![np(7, "203.0.113.0/24")],
                vec![
                    A::Origin(Origin::Igp),
                    A::AsPath(AsPath::sequence([65001])),
                    A::NextHop(v4("10.200.1.1")),
                ],
                vec![np(1, "198.51.100.0/24"), np(2, "198.51.100.0/24")],
            ),
        },
        Vector {
            name: "update_add_path_ipv6",
            source: "RFC 7911 §3: path identifiers in MP_REACH_NLRI; hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 005202  # marker, length 82, type 2 UPDATE
        0000  # withdrawn routes length 0
        003b  # total path attribute length 59
        800e2b 0002011020010db800000000000000000000000100000000013020010d  # MP_REACH_NLRI with path ids 1 and 2
        b80001000000023020010db80001
        400101 00  # ORIGIN
        400206 02010000fde9  # AS_PATH
            ",
            ctx: four_add_path(),
            message: update(
                vec![],
                vec![
                    A::MpReach(MpReach::Unicast {
                        family: Family::IPV6_UNICAST,
                        next_hop: MpNextHop::V6 {
                            global: v6("2001:db8::1"),
                            link_local: None,
                        },
                        nlri: vec![np(1, "2001:db8:1::/48"), np(2, "2001:db8:1::/48")],
                    }),
                    A::Origin(Origin::Igp),
                    A::AsPath(AsPath::sequence([65001])),
                ],
                vec![],
            ),
        },
        Vector {
            name: "update_withdrawals_ipv4",
            source: "RFC 4271 §4.3: Withdrawn Routes only, no path attribute; hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 002202  # marker, length 34, type 2 UPDATE
        000b  # withdrawn routes length 11
        18cb007120c6336407080a  # withdrawn routes
        0000  # total path attribute length 0
            ",
            ctx: two(),
            message: update(
                vec![n("203.0.113.0/24"), n("198.51.100.7/32"), n("10.0.0.0/8")],
                vec![],
                vec![],
            ),
        },
        Vector {
            name: "update_end_of_rib_ipv4",
            source: "RFC 4724 §2: an UPDATE with no withdrawn routes and no attributes",
            hex: "
        ffffffffffffffffffffffffffffffff 001702  # marker, length 23, type 2 UPDATE
        0000  # withdrawn routes length 0
        0000  # total path attribute length 0
            ",
            ctx: two(),
            message: Message::Update(UpdateMsg::end_of_rib(Family::IPV4_UNICAST)),
        },
        Vector {
            name: "update_end_of_rib_ipv6",
            source: "RFC 4724 §2: MP_UNREACH_NLRI with AFI 2 / SAFI 1 and no withdrawn routes",
            hex: "
        ffffffffffffffffffffffffffffffff 001d02  # marker, length 29, type 2 UPDATE
        0000  # withdrawn routes length 0
        0006  # total path attribute length 6
        800f03 000201  # MP_UNREACH_NLRI AFI 2 SAFI 1, no NLRI
            ",
            ctx: four(),
            message: Message::Update(UpdateMsg::end_of_rib(Family::IPV6_UNICAST)),
        },
        Vector {
            name: "update_unknown_optional_transitive_kept_raw",
            source: "RFC 4271 §5: unknown optional transitive attribute, and a known one \
                     passed on with the Partial bit; hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 004302  # marker, length 67, type 2 UPDATE
        0000  # withdrawn routes length 0
        0028  # total path attribute length 40
        400101 00  # ORIGIN
        400204 0201fde9  # AS_PATH
        400304 0ac80101  # NEXT_HOP
        c06304 deadbeef  # type 99 (unassigned) optional transitive
        e0200c 0000fde90000000100000001  # LARGE_COMMUNITY with Partial set: kept raw
        18cb0071  # NLRI
            ",
            ctx: two(),
            message: update(
                vec![],
                vec![
                    A::Origin(Origin::Igp),
                    A::AsPath(AsPath::sequence([65001])),
                    A::NextHop(v4("10.200.1.1")),
                    A::Unknown(RawAttribute {
                        flags: 0xc0,
                        type_code: AttrType(99),
                        value: vec![0xde, 0xad, 0xbe, 0xef],
                    }),
                    A::Unknown(RawAttribute {
                        flags: 0xe0,
                        type_code: AttrType::LARGE_COMMUNITY,
                        value: vec![0, 0, 0xfd, 0xe9, 0, 0, 0, 1, 0, 0, 0, 1],
                    }),
                ],
                vec![n("203.0.113.0/24")],
            ),
        },
        Vector {
            name: "update_extended_length_communities",
            source: "RFC 4271 §4.3: Extended Length flag with a 2-octet length (280 bytes); \
                     hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 014902  # marker, length 329, type 2 UPDATE
        0000  # withdrawn routes length 0
        012e  # total path attribute length 302
        400101 00  # ORIGIN
        400204 0201fde9  # AS_PATH
        400304 0ac80101  # NEXT_HOP
        d0080118 fde90000fde90001fde90002fde90003fde90004fde90005fde90006  # COMMUNITIES 65001:0..65001:69, 280 bytes: Extended Length
        fde90007fde90008fde90009fde9000afde9000bfde9000cfde9000dfde9000e
        fde9000ffde90010fde90011fde90012fde90013fde90014fde90015fde90016
        fde90017fde90018fde90019fde9001afde9001bfde9001cfde9001dfde9001e
        fde9001ffde90020fde90021fde90022fde90023fde90024fde90025fde90026
        fde90027fde90028fde90029fde9002afde9002bfde9002cfde9002dfde9002e
        fde9002ffde90030fde90031fde90032fde90033fde90034fde90035fde90036
        fde90037fde90038fde90039fde9003afde9003bfde9003cfde9003dfde9003e
        fde9003ffde90040fde90041fde90042fde90043fde90044fde90045
        18cb0071  # NLRI
            ",
            ctx: two(),
            message: update(
                vec![],
                vec![
                    A::Origin(Origin::Igp),
                    A::AsPath(AsPath::sequence([65001])),
                    A::NextHop(v4("10.200.1.1")),
                    A::Communities((0..70).map(|i| 0xfde9_0000 + i).collect()),
                ],
                vec![n("203.0.113.0/24")],
            ),
        },
        Vector {
            name: "update_ipv4_nlri_with_ipv6_next_hop",
            source: "RFC 8950 §3: IPv4 unicast NLRI in MP_REACH_NLRI with a 16-octet next hop; \
                     hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 004002  # marker, length 64, type 2 UPDATE
        0000  # withdrawn routes length 0
        0029  # total path attribute length 41
        800e19 0001011020010db80000000000000000000000010018cb0071  # MP_REACH_NLRI AFI 1 SAFI 1, IPv6 next hop (RFC 8950)
        400101 00  # ORIGIN
        400206 02010000fde9  # AS_PATH
            ",
            ctx: four(),
            message: update(
                vec![],
                vec![
                    A::MpReach(MpReach::Unicast {
                        family: Family::IPV4_UNICAST,
                        next_hop: MpNextHop::V6 {
                            global: v6("2001:db8::1"),
                            link_local: None,
                        },
                        nlri: vec![n("203.0.113.0/24")],
                    }),
                    A::Origin(Origin::Igp),
                    A::AsPath(AsPath::sequence([65001])),
                ],
                vec![],
            ),
        },
        Vector {
            name: "update_mp_reach_other_family_kept_raw",
            source: "RFC 4760 §3 with AFI 1 / SAFI 2 (not decoded here), and an empty AS_PATH \
                     (RFC 4271 §5.1.2, iBGP origination); hand-built",
            hex: "
        ffffffffffffffffffffffffffffffff 002d02  # marker, length 45, type 2 UPDATE
        0000  # withdrawn routes length 0
        0016  # total path attribute length 22
        800e0c 000102040ac801010010e801  # MP_REACH_NLRI AFI 1 SAFI 2 (multicast): kept raw
        400101 00  # ORIGIN
        400200  # AS_PATH empty (iBGP)
            ",
            ctx: two(),
            message: update(
                vec![],
                vec![
                    A::MpReach(MpReach::Other {
                        family: Family::new(bgp_wire::Afi::IPV4, Safi::MULTICAST),
                        next_hop: vec![10, 200, 1, 1],
                        nlri: vec![16, 232, 1],
                    }),
                    A::Origin(Origin::Igp),
                    A::AsPath(AsPath::default()),
                ],
                vec![],
            ),
        },
    ]
}
