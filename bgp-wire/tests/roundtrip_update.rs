//! Round trips of generated UPDATE messages: `decode(encode(m)) == m` under the context the
//! message was generated for (2- or 4-octet AS, ADD-PATH per family, extended messages),
//! for every attribute kind; the packing encoder's output decodes back to what it was given;
//! arbitrary bodies never panic the decoder.

use std::net::{Ipv4Addr, Ipv6Addr};

use bgp_wire::attribute::{
    Aggregator, AsPath, AsSegment, LargeCommunity, MpNextHop, MpReach, MpUnreach, Origin,
    PathAttribute, RawAttribute, SegmentType,
};
use bgp_wire::codec::Reader;
use bgp_wire::context::AddPathFamilies;
use bgp_wire::iana::{Afi, AttrType, Family, Safi};
use bgp_wire::message::update::{encode_announcements, encode_withdrawals, Treatment};
use bgp_wire::message::{decode_message, UpdateMsg};
use bgp_wire::nlri::{Ipv4Prefix, Ipv6Prefix, Nlri, Prefix};
use bgp_wire::{CodecContext, Message};
use proptest::prelude::*;

fn ctx_strategy() -> impl Strategy<Value = CodecContext> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(four, v4, v6, ext)| {
        let mut fams = Vec::new();
        if v4 {
            fams.push(Family::IPV4_UNICAST);
        }
        if v6 {
            fams.push(Family::IPV6_UNICAST);
        }
        CodecContext {
            four_octet_as: four,
            extended_message: ext,
            add_path: AddPathFamilies::of(&fams),
        }
    })
}

fn prefix(family: Family) -> BoxedStrategy<Prefix> {
    if family == Family::IPV4_UNICAST {
        (any::<u32>(), 0u8..=32)
            .prop_map(|(a, l)| Prefix::V4(Ipv4Prefix::new(Ipv4Addr::from(a), l).unwrap()))
            .boxed()
    } else {
        (any::<u128>(), 0u8..=128)
            .prop_map(|(a, l)| Prefix::V6(Ipv6Prefix::new(Ipv6Addr::from(a), l).unwrap()))
            .boxed()
    }
}

fn nlri_list(family: Family, ctx: &CodecContext, max: usize) -> BoxedStrategy<Vec<Nlri>> {
    let add_path = ctx.add_path.contains(family);
    prop::collection::vec(
        (prefix(family), any::<u32>()).prop_map(move |(prefix, id)| Nlri {
            path_id: add_path.then_some(id),
            prefix,
        }),
        0..max,
    )
    .boxed()
}

fn asn(four: bool) -> BoxedStrategy<u32> {
    if four {
        (1u32..=u32::MAX).boxed()
    } else {
        (1u32..=0xffff).boxed()
    }
}

fn segment_kind(confed: bool) -> BoxedStrategy<SegmentType> {
    let plain = prop_oneof![Just(SegmentType::Set), Just(SegmentType::Sequence)];
    if confed {
        prop_oneof![
            plain,
            Just(SegmentType::ConfedSequence),
            Just(SegmentType::ConfedSet)
        ]
        .boxed()
    } else {
        plain.boxed()
    }
}

fn as_path(four: bool, confed: bool, min_segments: usize) -> BoxedStrategy<AsPath> {
    prop::collection::vec(
        (segment_kind(confed), prop::collection::vec(asn(four), 1..8))
            .prop_map(|(kind, asns)| AsSegment { kind, asns }),
        min_segments..4,
    )
    .prop_map(|segments| AsPath { segments })
    .boxed()
}

fn aggregator(four: bool) -> impl Strategy<Value = Aggregator> {
    (asn(four), any::<u32>()).prop_map(|(asn, a)| Aggregator {
        asn,
        address: Ipv4Addr::from(a),
    })
}

fn origin() -> impl Strategy<Value = Origin> {
    prop_oneof![
        Just(Origin::Igp),
        Just(Origin::Egp),
        Just(Origin::Incomplete)
    ]
}

fn next_hop(family: Family) -> BoxedStrategy<MpNextHop> {
    let v6 = (any::<u128>(), prop::option::of(any::<u64>())).prop_map(|(g, ll)| MpNextHop::V6 {
        global: Ipv6Addr::from(g),
        link_local: ll.map(|l| Ipv6Addr::from(0xfe80u128 << 112 | l as u128)),
    });
    if family == Family::IPV4_UNICAST {
        prop_oneof![any::<u32>().prop_map(|a| MpNextHop::V4(a.into())), v6].boxed()
    } else {
        v6.boxed()
    }
}

fn unicast_family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::IPV4_UNICAST), Just(Family::IPV6_UNICAST)]
}

fn other_family() -> impl Strategy<Value = Family> {
    prop_oneof![
        Just(Family::new(Afi::IPV4, Safi::MULTICAST)),
        Just(Family::new(Afi::L2VPN, Safi(65))),
        Just(Family::new(Afi::IPV6, Safi::FLOWSPEC)),
    ]
}

fn mp_reach(ctx: &CodecContext) -> BoxedStrategy<PathAttribute> {
    let c = ctx.clone();
    let unicast = unicast_family().prop_flat_map(move |family| {
        (next_hop(family), nlri_list(family, &c, 12)).prop_map(move |(next_hop, nlri)| {
            PathAttribute::MpReach(MpReach::Unicast {
                family,
                next_hop,
                nlri,
            })
        })
    });
    let other = (
        other_family(),
        prop::collection::vec(any::<u8>(), 0..20),
        prop::collection::vec(any::<u8>(), 0..20),
    )
        .prop_map(|(family, next_hop, nlri)| {
            PathAttribute::MpReach(MpReach::Other {
                family,
                next_hop,
                nlri,
            })
        });
    prop_oneof![3 => unicast, 1 => other].boxed()
}

fn mp_unreach(ctx: &CodecContext) -> BoxedStrategy<PathAttribute> {
    let c = ctx.clone();
    let unicast = unicast_family().prop_flat_map(move |family| {
        nlri_list(family, &c, 12).prop_map(move |withdrawn| {
            PathAttribute::MpUnreach(MpUnreach::Unicast { family, withdrawn })
        })
    });
    let other = (other_family(), prop::collection::vec(any::<u8>(), 0..20)).prop_map(
        |(family, withdrawn)| PathAttribute::MpUnreach(MpUnreach::Other { family, withdrawn }),
    );
    prop_oneof![3 => unicast, 1 => other].boxed()
}

fn unknown() -> impl Strategy<Value = PathAttribute> {
    // type codes this crate does not interpret
    let code = (19u8..=255).prop_filter("known", |c| *c != 32);
    (
        code,
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(t, transitive, partial, value)| {
            let mut flags = 0x80;
            if transitive {
                flags |= 0x40;
            }
            // RFC 4271 §4.3 wants Partial only on optional transitive attributes, but an
            // unknown attribute keeps the flags it came with
            if partial {
                flags |= 0x20;
            }
            PathAttribute::Unknown(RawAttribute {
                flags,
                type_code: AttrType(t),
                value,
            })
        })
}

/// Every attribute kind but ORIGIN / AS_PATH / NEXT_HOP / MP_*, each maybe present.
fn optional_attributes(ctx: &CodecContext) -> BoxedStrategy<Vec<PathAttribute>> {
    let four = ctx.four_octet_as;
    let as4 = if four {
        // RFC 6793 §6: not sent between NEW speakers
        Just((None, None)).boxed()
    } else {
        (
            prop::option::of(as_path(true, false, 1).prop_map(PathAttribute::As4Path)),
            prop::option::of(aggregator(true).prop_map(PathAttribute::As4Aggregator)),
        )
            .boxed()
    };
    (
        (
            prop::option::of(any::<u32>().prop_map(PathAttribute::MultiExitDisc)),
            prop::option::of(any::<u32>().prop_map(PathAttribute::LocalPref)),
            prop::option::of(Just(PathAttribute::AtomicAggregate)),
            prop::option::of(aggregator(four).prop_map(PathAttribute::Aggregator)),
            prop::option::of(
                prop::collection::vec(any::<u32>(), 1..10).prop_map(PathAttribute::Communities),
            ),
            prop::option::of(any::<u32>().prop_map(|a| PathAttribute::OriginatorId(a.into()))),
        ),
        (
            prop::option::of(
                prop::collection::vec(any::<u32>().prop_map(Ipv4Addr::from), 1..5)
                    .prop_map(PathAttribute::ClusterList),
            ),
            prop::option::of(
                prop::collection::vec(any::<u64>(), 1..5)
                    .prop_map(PathAttribute::ExtendedCommunities),
            ),
            as4,
            prop::option::of(
                prop::collection::vec(
                    (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(g, a, b)| {
                        LargeCommunity {
                            global_admin: g,
                            local_data1: a,
                            local_data2: b,
                        }
                    }),
                    1..5,
                )
                .prop_map(PathAttribute::LargeCommunities),
            ),
            prop::option::of(unknown()),
        ),
    )
        .prop_map(|((a, b, c, d, e, f), (g, h, (i, j), k, l))| {
            [a, b, c, d, e, f, g, h, i, j, k, l]
                .into_iter()
                .flatten()
                .collect()
        })
        .boxed()
}

/// A valid UPDATE for `ctx`: mandatory attributes whenever routes are announced.
fn update(ctx: &CodecContext) -> BoxedStrategy<UpdateMsg> {
    let four = ctx.four_octet_as;
    (
        nlri_list(Family::IPV4_UNICAST, ctx, 15),
        nlri_list(Family::IPV4_UNICAST, ctx, 15),
        prop::option::of(mp_reach(ctx)),
        prop::option::of(mp_unreach(ctx)),
        origin(),
        as_path(four, true, 0),
        any::<u32>(),
        optional_attributes(ctx),
        any::<bool>(),
    )
        .prop_flat_map(
            move |(withdrawn, nlri, reach, unreach, origin, path, nh, optional, with_attrs)| {
                let mut attrs = Vec::new();
                let announces = !nlri.is_empty() || reach.is_some();
                if announces || with_attrs {
                    attrs.push(PathAttribute::Origin(origin));
                    attrs.push(PathAttribute::AsPath(path));
                    attrs.extend(optional);
                }
                if !nlri.is_empty() || with_attrs {
                    attrs.push(PathAttribute::NextHop(nh.into()));
                }
                attrs.extend(reach);
                attrs.extend(unreach);
                Just(attrs)
                    .prop_shuffle()
                    .prop_map(move |attributes| UpdateMsg {
                        withdrawn: withdrawn.clone(),
                        attributes,
                        nlri: nlri.clone(),
                    })
            },
        )
        .boxed()
}

fn ctx_and_update() -> impl Strategy<Value = (CodecContext, UpdateMsg)> {
    ctx_strategy().prop_flat_map(|ctx| (Just(ctx.clone()), update(&ctx)))
}

fn strict(bytes: &[u8], ctx: &CodecContext) -> UpdateMsg {
    match decode_message(bytes, ctx) {
        Ok(Message::Update(u)) => u,
        other => panic!("not an UPDATE: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_inverts_encode((ctx, m) in ctx_and_update()) {
        let msg = Message::Update(m.clone());
        let bytes = match msg.to_bytes(&ctx) {
            Ok(b) => b,
            // generated too large for a 4096-byte message: not what this test is about
            Err(bgp_wire::message::EncodeError::TooLong { .. }) => return Ok(()),
            Err(e) => panic!("valid message refused: {e}"),
        };
        let back = decode_message(&bytes, &ctx).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &msg);
        prop_assert_eq!(back.to_bytes(&ctx).unwrap(), bytes);
    }

    #[test]
    fn attribute_encoded_len_matches_bytes((ctx, m) in ctx_and_update()) {
        for a in &m.attributes {
            let mut b = Vec::new();
            a.encode(&ctx, &mut b).unwrap();
            prop_assert_eq!(b.len(), a.encoded_len(&ctx));
            // Extended Length exactly when the value exceeds 255 bytes
            prop_assert_eq!(b[0] & 0x10 != 0, a.value_len(&ctx) > 255);
        }
    }

    #[test]
    fn decoder_never_panics(ctx in ctx_strategy(), body in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut r = Reader::new(&body);
        if let Ok(rec) = UpdateMsg::decode_received(&mut r, &ctx) {
            prop_assert_eq!(rec.treatment == Treatment::Accept, rec.errors.is_empty());
        }
        let _ = UpdateMsg::decode(&mut Reader::new(&body), &ctx);
    }

    #[test]
    fn mutated_messages_never_panic_the_decoder(
        (ctx, m) in ctx_and_update(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut body = Vec::new();
        if m.encode_body(&ctx, &mut body).is_err() || body.is_empty() {
            return Ok(());
        }
        for (at, byte) in flips {
            let i = at.index(body.len());
            body[i] = byte;
        }
        if let Ok(rec) = UpdateMsg::decode_received(&mut Reader::new(&body), &ctx) {
            prop_assert_eq!(rec.treatment == Treatment::Accept, rec.errors.is_empty());
            // whatever is kept encodes again, unless it was a discarded or withdrawn mess
            if rec.treatment == Treatment::Accept {
                let mut again = Vec::new();
                prop_assert!(rec.update.encode_body(&ctx, &mut again).is_ok(), "{:?}", rec.update);
                let back = UpdateMsg::decode(&mut Reader::new(&again), &ctx);
                prop_assert_eq!(back.as_ref(), Ok(&rec.update));
            }
        }
    }

    #[test]
    fn packed_announcements_decode_to_the_input(
        ctx in ctx_strategy(),
        family in unicast_family(),
        seed in any::<u64>(),
        count in 0usize..3000,
        four_attrs in optional_attributes(&CodecContext::default()),
    ) {
        let nlri = gen_nlri(family, &ctx, seed, count);
        let nh = if family == Family::IPV4_UNICAST && seed % 3 != 0 {
            MpNextHop::V4(Ipv4Addr::new(10, 200, 1, 1))
        } else {
            MpNextHop::V6 { global: "2001:db8::1".parse().unwrap(), link_local: None }
        };
        let mut attrs = vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::sequence([65001])),
        ];
        attrs.extend(four_attrs.into_iter().filter(|a| !matches!(a,
            PathAttribute::Aggregator(_) | PathAttribute::As4Path(_) | PathAttribute::As4Aggregator(_))));
        let mut out = Vec::new();
        encode_announcements(&attrs, family, nh, &nlri, &ctx, &mut out).unwrap();
        let max = ctx.max_message_len();
        let mut got = Vec::new();
        for (i, m) in out.iter().enumerate() {
            prop_assert!(m.len() <= max);
            let u = strict(m, &ctx);
            let announced: Vec<Nlri> = u.announced().map(|(f, n)| { assert_eq!(f, family); *n }).collect();
            // the next message's first prefix would not have fitted (one byte of slack: an
            // MP_REACH_NLRI header is reserved at its extended size)
            if let Some(next) = out.get(i + 1) {
                let first = strict(next, &ctx).announced().next().map(|(_, n)| *n).unwrap();
                let l = first.encoded_len() + if ctx.add_path.contains(family) && first.path_id.is_none() { 4 } else { 0 };
                prop_assert!(m.len() + l + 1 > max, "message {i} of {} bytes had room", m.len());
            }
            got.extend(announced);
            // the attribute set is the given one (plus NEXT_HOP or MP_REACH_NLRI)
            for a in &attrs {
                prop_assert!(u.attributes.contains(a));
            }
            if matches!(nh, MpNextHop::V6 { .. }) {
                prop_assert!(matches!(u.attributes[0], PathAttribute::MpReach(_)), "MP_REACH_NLRI first");
            }
        }
        prop_assert_eq!(got, nlri);
    }

    #[test]
    fn packed_withdrawals_decode_to_the_input(
        ctx in ctx_strategy(),
        family in unicast_family(),
        seed in any::<u64>(),
        count in 0usize..3000,
    ) {
        let nlri = gen_nlri(family, &ctx, seed, count);
        let mut out = Vec::new();
        encode_withdrawals(family, &nlri, &ctx, &mut out).unwrap();
        let mut got = Vec::new();
        for m in &out {
            prop_assert!(m.len() <= ctx.max_message_len());
            let u = strict(m, &ctx);
            prop_assert_eq!(u.end_of_rib_family(), None);
            got.extend(u.withdrawn_routes().map(|(_, n)| *n));
        }
        prop_assert_eq!(got, nlri);
    }
}

/// A quick deterministic list of prefixes (proptest shrinking over thousands of prefixes
/// would be slow and tell little).
fn gen_nlri(family: Family, ctx: &CodecContext, seed: u64, count: usize) -> Vec<Nlri> {
    let mut x = seed | 1;
    let add_path = ctx.add_path.contains(family);
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let prefix = if family == Family::IPV4_UNICAST {
                Prefix::V4(Ipv4Prefix::new(Ipv4Addr::from(x as u32), (x >> 40) as u8 % 33).unwrap())
            } else {
                Prefix::V6(
                    Ipv6Prefix::new(
                        Ipv6Addr::from((x as u128) << 64 | x as u128),
                        (x >> 40) as u8 % 129,
                    )
                    .unwrap(),
                )
            };
            Nlri {
                path_id: add_path.then_some((x >> 20) as u32),
                prefix,
            }
        })
        .collect()
}

#[test]
fn end_of_rib_markers_are_recognised() {
    for f in [
        Family::IPV4_UNICAST,
        Family::IPV6_UNICAST,
        Family::new(Afi::L2VPN, Safi(70)),
    ] {
        let m = UpdateMsg::end_of_rib(f);
        assert_eq!(m.end_of_rib_family(), Some(f));
        let ctx = CodecContext::default();
        let bytes = Message::Update(m).to_bytes(&ctx).unwrap();
        assert_eq!(strict(&bytes, &ctx).end_of_rib_family(), Some(f));
    }
    // a withdrawal is not an End-of-RIB
    let w = UpdateMsg {
        withdrawn: vec![Nlri::new("10.0.0.0/8".parse().unwrap())],
        ..UpdateMsg::default()
    };
    assert_eq!(w.end_of_rib_family(), None);
}

#[test]
fn resend_sets_partial_on_unknown_transitive_and_drops_non_transitive() {
    let transitive = PathAttribute::Unknown(RawAttribute {
        flags: 0xc0,
        type_code: AttrType(99),
        value: vec![1],
    });
    let non_transitive = PathAttribute::Unknown(RawAttribute {
        flags: 0x80,
        type_code: AttrType(98),
        value: vec![2],
    });
    let known = PathAttribute::MultiExitDisc(5);
    let out = bgp_wire::attribute::prepare_for_resend(vec![
        transitive,
        non_transitive.clone(),
        known.clone(),
    ]);
    assert_eq!(
        out,
        vec![
            PathAttribute::Unknown(RawAttribute {
                flags: 0xe0,
                type_code: AttrType(99),
                value: vec![1],
            }),
            known
        ]
    );
    assert_eq!(non_transitive.for_resend(), None);
    // and on the wire the Partial bit is there
    let mut b = Vec::new();
    out[0].encode(&CodecContext::default(), &mut b).unwrap();
    assert_eq!(b, [0xe0, 99, 1, 1]);
}

#[test]
fn packing_fills_messages_to_the_limit() {
    let ctx = CodecContext::default();
    let attrs = [
        PathAttribute::Origin(Origin::Igp),
        PathAttribute::AsPath(AsPath::sequence([65001])),
    ];
    // 100k /32: 5 bytes each; 4096 - 23 - 4 (ORIGIN) - 7 (AS_PATH) - 7 (NEXT_HOP) = 4055
    // bytes of room: 811 per message
    let nlri: Vec<Nlri> = (0..100_000u32)
        .map(|i| Nlri::new(Prefix::host(Ipv4Addr::from(0x0a00_0000 + i).into())))
        .collect();
    let mut out = Vec::new();
    encode_announcements(
        &attrs,
        Family::IPV4_UNICAST,
        MpNextHop::V4(Ipv4Addr::new(10, 200, 1, 1)),
        &nlri,
        &ctx,
        &mut out,
    )
    .unwrap();
    assert_eq!(out.len(), 100_000usize.div_ceil(811));
    assert_eq!(out[0].len(), 23 + 18 + 811 * 5);
    let mut w = Vec::new();
    encode_withdrawals(Family::IPV4_UNICAST, &nlri, &ctx, &mut w).unwrap();
    // 4096 - 23 = 4073 bytes: 814 per message
    assert_eq!(w.len(), 100_000usize.div_ceil(814));
}

#[test]
fn packing_refuses_what_cannot_be_sent() {
    let ctx = CodecContext::default();
    let v6 = [Nlri::new("2001:db8::/32".parse().unwrap())];
    let attrs = [
        PathAttribute::Origin(Origin::Igp),
        PathAttribute::AsPath(AsPath::sequence([65001])),
    ];
    let nh4 = MpNextHop::V4(Ipv4Addr::new(10, 200, 1, 1));
    let mut out = Vec::new();
    // IPv6 prefix announced as IPv4
    assert!(encode_announcements(&attrs, Family::IPV4_UNICAST, nh4, &v6, &ctx, &mut out).is_err());
    // IPv4 next hop for IPv6
    assert!(encode_announcements(&attrs, Family::IPV6_UNICAST, nh4, &v6, &ctx, &mut out).is_err());
    // no AS_PATH
    assert!(
        encode_announcements(&attrs[..1], Family::IPV6_UNICAST, nh4, &v6, &ctx, &mut out).is_err()
    );
    // attributes too large for any message
    let huge = [
        attrs[0].clone(),
        attrs[1].clone(),
        PathAttribute::Communities(vec![1; 1100]),
    ];
    let v4 = [Nlri::new("10.0.0.0/8".parse().unwrap())];
    assert!(encode_announcements(&huge, Family::IPV4_UNICAST, nh4, &v4, &ctx, &mut out).is_err());
    assert!(out.is_empty());
}

/// Found by `mutated_messages_never_panic_the_decoder`: the decoder kept an unknown optional
/// non-transitive attribute with the Partial bit set, and the encoder refused to send it back.
#[test]
fn unknown_non_transitive_attribute_with_partial_bit_round_trips() {
    let ctx = CodecContext::default();
    // ATOMIC_AGGREGATE, then type 0xdb flagged optional + partial
    let body = [0, 0, 0, 7, 0x40, 6, 0, 0xa0, 0xdb, 1, 0x45];
    let m = UpdateMsg::decode(&mut Reader::new(&body), &ctx).unwrap();
    assert_eq!(
        m.attributes[1],
        PathAttribute::Unknown(RawAttribute {
            flags: 0xa0,
            type_code: AttrType(0xdb),
            value: vec![0x45],
        })
    );
    let mut again = Vec::new();
    m.encode_body(&ctx, &mut again).unwrap();
    assert_eq!(again, body);
}
