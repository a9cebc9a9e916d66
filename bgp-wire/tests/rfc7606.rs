//! RFC 7606 error handling: a table of malformed UPDATEs, each hand-built from the RFC 4271
//! §4.3 layout, and the outcome RFC 7606 (or the attribute's RFC) asks for: a treatment with
//! the subcode of the first error found, or a session reset with the NOTIFICATION subcode.
//!
//! Every row is also decoded strictly: the strict decoder accepts exactly the rows that
//! need no error handling.

mod vectors;

use bgp_wire::attribute::PathAttribute;
use bgp_wire::context::AddPathFamilies;
use bgp_wire::error::UpdateError;
use bgp_wire::iana::Family;
use bgp_wire::message::decode_header;
use bgp_wire::message::update::{ReceivedUpdate, Treatment};
use bgp_wire::message::UpdateMsg;
use bgp_wire::{CodecContext, DecodeError};

use vectors::from_hex;

// Building blocks (2-octet AS session unless said otherwise).
const ORIGIN: &str = "400101 00";
const AS_PATH: &str = "400204 0201fde9";
const AS_PATH4: &str = "400206 020100 00fde9";
const NEXT_HOP: &str = "400304 0ac80101";
/// 203.0.113.0/24
const NLRI: &str = "18cb0071";
/// MP_REACH_NLRI IPv6 unicast, next hop 2001:db8::1, 2001:db8:1::/48
const MP_REACH6: &str = "80 0e 1c 0002 01 10 20010db8000000000000000000000001 00 30 20010db80001";
/// MP_UNREACH_NLRI IPv6 unicast, 2001:db8:1::/48
const MP_UNREACH6: &str = "80 0f 0a 0002 01 30 20010db80001";

/// What a row expects.
#[derive(Debug)]
enum Want {
    /// No error at all.
    Accept,
    /// This treatment, and the first error has this UPDATE Message Error subcode.
    Treat(Treatment, u8),
    /// Session reset with a NOTIFICATION 3/subcode.
    Reset(u8),
}

struct Case {
    name: &'static str,
    ctx: CodecContext,
    /// The UPDATE body.
    body: Vec<u8>,
    want: Want,
}

fn two() -> CodecContext {
    CodecContext::default()
}

fn four() -> CodecContext {
    CodecContext {
        four_octet_as: true,
        ..CodecContext::default()
    }
}

/// An UPDATE body from hex pieces: lengths computed here.
fn body(withdrawn: &str, attrs: &[&str], nlri: &str) -> Vec<u8> {
    let w = from_hex(withdrawn);
    let a: Vec<u8> = attrs.iter().flat_map(|s| from_hex(s)).collect();
    let mut b = Vec::new();
    b.extend_from_slice(&(w.len() as u16).to_be_bytes());
    b.extend_from_slice(&w);
    b.extend_from_slice(&(a.len() as u16).to_be_bytes());
    b.extend_from_slice(&a);
    b.extend_from_slice(&from_hex(nlri));
    b
}

/// A whole message around `body`.
fn message(body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(body);
    m
}

fn received(ctx: &CodecContext, body: &[u8]) -> Result<ReceivedUpdate, UpdateError> {
    let m = message(body);
    let (_, mut r) = decode_header(&m, ctx).expect("header is valid");
    UpdateMsg::decode_received(&mut r, ctx)
}

fn strict(ctx: &CodecContext, body: &[u8]) -> Result<UpdateMsg, UpdateError> {
    let m = message(body);
    let (_, mut r) = decode_header(&m, ctx).expect("header is valid");
    UpdateMsg::decode(&mut r, ctx)
}

fn subcode(e: &UpdateError) -> u8 {
    DecodeError::Update(e.clone())
        .notification()
        .expect("UPDATE errors send a NOTIFICATION")
        .error
        .code_subcode()
        .1
}

const DISABLE6: Treatment = Treatment::AfiSafiDisable(Family::IPV6_UNICAST);
const TAW: Treatment = Treatment::TreatAsWithdraw;
const DISCARD: Treatment = Treatment::AttributeDiscard;

fn cases() -> Vec<Case> {
    let base = [ORIGIN, AS_PATH, NEXT_HOP];
    let with = |extra: &str| -> Vec<u8> { body("", &[ORIGIN, AS_PATH, NEXT_HOP, extra], NLRI) };
    let c = |name, ctx, body, want| Case {
        name,
        ctx,
        body,
        want,
    };
    vec![
        c("valid", two(), body("", &base, NLRI), Want::Accept),
        // RFC 7606 §3 b keeps RFC 4271: lengths overrunning the message: Malformed Attribute List.
        c(
            "withdrawn_length_overruns",
            two(),
            from_hex("0010 0000"),
            Want::Reset(1),
        ),
        c(
            "attribute_length_overruns",
            two(),
            from_hex("0000 0010 400101"),
            Want::Reset(1),
        ),
        // §5.3: the Withdrawn Routes and NLRI fields must parse.
        c(
            "withdrawn_prefix_longer_than_32",
            two(),
            body("21 0a000000 00", &[], ""),
            Want::Reset(10),
        ),
        c(
            "nlri_truncated",
            two(),
            body("", &base, "18cb00"),
            Want::Reset(10),
        ),
        // §7.1 ORIGIN
        c(
            "origin_length_2",
            two(),
            body("", &["400102 0000", AS_PATH, NEXT_HOP], NLRI),
            Want::Treat(TAW, 5),
        ),
        c(
            "origin_value_3",
            two(),
            body("", &["400101 03", AS_PATH, NEXT_HOP], NLRI),
            Want::Treat(TAW, 6),
        ),
        // §3 c flags
        c(
            "origin_flagged_optional",
            two(),
            body("", &["c00101 00", AS_PATH, NEXT_HOP], NLRI),
            Want::Treat(TAW, 4),
        ),
        c(
            "med_flagged_well_known",
            two(),
            with("400404 00000001"),
            Want::Treat(TAW, 4),
        ),
        c(
            "mp_reach_flagged_transitive",
            four(),
            body(
                "",
                &[&MP_REACH6.replacen("80", "c0", 1), ORIGIN, AS_PATH4],
                "",
            ),
            Want::Treat(TAW, 4),
        ),
        c(
            "partial_bit_on_well_known",
            two(),
            body("", &["600101 00", AS_PATH, NEXT_HOP], NLRI),
            Want::Treat(TAW, 4),
        ),
        c(
            "partial_bit_on_optional_non_transitive",
            two(),
            with("a00404 00000001"),
            Want::Treat(TAW, 4),
        ),
        c(
            "extended_length_on_short_value_and_low_flag_bits_accepted",
            two(),
            body("", &["5f01 0001 00", AS_PATH, NEXT_HOP], NLRI),
            Want::Accept,
        ),
        // §7.2 AS_PATH
        c(
            "as_path_segment_length_0",
            two(),
            body("", &[ORIGIN, "400202 0200", NEXT_HOP], NLRI),
            Want::Treat(TAW, 11),
        ),
        c(
            "as_path_segment_type_5",
            two(),
            body("", &[ORIGIN, "400204 0501fde9", NEXT_HOP], NLRI),
            Want::Treat(TAW, 11),
        ),
        c(
            "as_path_segment_overruns",
            two(),
            body("", &[ORIGIN, "400204 0202fde9", NEXT_HOP], NLRI),
            Want::Treat(TAW, 11),
        ),
        c(
            "as_path_trailing_byte",
            two(),
            body("", &[ORIGIN, "400205 0201fde902", NEXT_HOP], NLRI),
            Want::Treat(TAW, 11),
        ),
        c(
            "as_path_odd_length_on_four_octet_session",
            four(),
            body("", &[ORIGIN, "400204 0201fde9", NEXT_HOP], NLRI),
            Want::Treat(TAW, 11),
        ),
        // RFC 7607 §2
        c(
            "as_path_with_as_0",
            two(),
            body("", &[ORIGIN, "400204 02010000", NEXT_HOP], NLRI),
            Want::Treat(TAW, 11),
        ),
        // §7.3-§7.5
        c(
            "next_hop_length_5",
            two(),
            body("", &[ORIGIN, AS_PATH, "400305 0ac8010101"], NLRI),
            Want::Treat(TAW, 5),
        ),
        c(
            "med_length_3",
            two(),
            with("800403 000001"),
            Want::Treat(TAW, 5),
        ),
        c(
            "local_pref_length_2",
            two(),
            with("400502 0001"),
            Want::Treat(TAW, 5),
        ),
        // §7.6, §7.7: attribute-discard
        c(
            "atomic_aggregate_length_1",
            two(),
            with("400601 00"),
            Want::Treat(DISCARD, 5),
        ),
        c(
            "aggregator_length_8_on_two_octet_session",
            two(),
            with("c00708 0000fde90ac80101"),
            Want::Treat(DISCARD, 5),
        ),
        c(
            "aggregator_length_6_on_four_octet_session",
            four(),
            body(
                "",
                &[ORIGIN, AS_PATH4, NEXT_HOP, "c00706 fde90ac80101"],
                NLRI,
            ),
            Want::Treat(DISCARD, 5),
        ),
        c(
            "aggregator_as_0",
            two(),
            with("c00706 00000ac80101"),
            Want::Treat(DISCARD, 9),
        ),
        // §7.8-§7.10, §7.14, RFC 8092 §6
        c(
            "communities_length_5",
            two(),
            with("c00805 0000000001"),
            Want::Treat(TAW, 5),
        ),
        c(
            "communities_empty",
            two(),
            with("c00800"),
            Want::Treat(TAW, 5),
        ),
        c(
            "originator_id_length_3",
            two(),
            with("800903 0a0000"),
            Want::Treat(TAW, 5),
        ),
        c(
            "cluster_list_length_6",
            two(),
            with("800a06 0a0000010a00"),
            Want::Treat(TAW, 5),
        ),
        c(
            "cluster_list_empty",
            two(),
            with("800a00"),
            Want::Treat(TAW, 5),
        ),
        c(
            "extended_communities_length_7",
            two(),
            with("c01007 00000000000000"),
            Want::Treat(TAW, 5),
        ),
        c(
            "large_community_length_13",
            two(),
            with("c0200d 00000000000000000000000000"),
            Want::Treat(TAW, 5),
        ),
        // RFC 6793 §6: AS4_PATH / AS4_AGGREGATOR problems discard the attribute
        c(
            "as4_path_segment_length_0",
            two(),
            with("c01102 0200"),
            Want::Treat(DISCARD, 9),
        ),
        c(
            "as4_path_empty",
            two(),
            with("c01100"),
            Want::Treat(DISCARD, 9),
        ),
        c(
            "as4_path_with_confed_segment",
            two(),
            with("c0110c 0301fa56ea01 0201fa56ea02"),
            Want::Treat(DISCARD, 9),
        ),
        c(
            "as4_path_between_new_speakers",
            four(),
            body(
                "",
                &[ORIGIN, AS_PATH4, NEXT_HOP, "c01106 0201fa56ea01"],
                NLRI,
            ),
            Want::Treat(DISCARD, 9),
        ),
        c(
            "as4_aggregator_length_6",
            two(),
            with("c01206 fde90ac80101"),
            Want::Treat(DISCARD, 5),
        ),
        // §7.11 and RFC 4760 §7: MP_REACH / MP_UNREACH
        c(
            "mp_reach_next_hop_length_8",
            four(),
            body(
                "",
                &[
                    "800e 14 0002 01 08 20010db800000000 00 30 20010db80001",
                    ORIGIN,
                    AS_PATH4,
                ],
                "",
            ),
            Want::Treat(DISABLE6, 9),
        ),
        c(
            "mp_reach_prefix_length_129",
            four(),
            body(
                "",
                &[
                    "800e 1a 0002 01 10 20010db8000000000000000000000001 00 81 20010db8",
                    ORIGIN,
                    AS_PATH4,
                ],
                "",
            ),
            Want::Treat(DISABLE6, 10),
        ),
        c(
            "mp_reach_next_hop_overruns",
            four(),
            body("", &["800e 08 0002 01 10 20010db8", ORIGIN, AS_PATH4], ""),
            Want::Treat(DISABLE6, 9),
        ),
        c(
            "mp_reach_without_family",
            four(),
            body("", &["800e 02 0002", ORIGIN, AS_PATH4], ""),
            Want::Reset(5),
        ),
        c(
            "mp_unreach_truncated_prefix",
            four(),
            body("", &["800f 06 0002 01 30 2001"], ""),
            Want::Treat(DISABLE6, 10),
        ),
        c(
            "mp_unreach_without_family",
            four(),
            body("", &["800f 01 00"], ""),
            Want::Reset(5),
        ),
        c(
            "two_families_to_disable",
            four(),
            body(
                "",
                &[
                    "800e 14 0002 01 08 20010db800000000 00 30 20010db80001",
                    "800f 05 0001 01 21 0a",
                    ORIGIN,
                    AS_PATH4,
                ],
                "",
            ),
            // the error that made it fatal: the IPv4 one, Invalid Network Field
            Want::Reset(10),
        ),
        // §3 g duplicates
        c(
            "mp_reach_twice",
            four(),
            body("", &[MP_REACH6, MP_REACH6, ORIGIN, AS_PATH4], ""),
            Want::Reset(1),
        ),
        c(
            "mp_unreach_twice",
            four(),
            body("", &[MP_UNREACH6, MP_UNREACH6], ""),
            Want::Reset(1),
        ),
        c(
            "origin_twice",
            two(),
            body("", &[ORIGIN, "400101 02", AS_PATH, NEXT_HOP], NLRI),
            Want::Treat(DISCARD, 1),
        ),
        // §3 d missing well-known attributes
        c(
            "origin_missing",
            two(),
            body("", &[AS_PATH, NEXT_HOP], NLRI),
            Want::Treat(TAW, 3),
        ),
        c(
            "as_path_missing_with_mp_reach",
            four(),
            body("", &[MP_REACH6, ORIGIN], ""),
            Want::Treat(TAW, 3),
        ),
        c(
            "next_hop_missing",
            two(),
            body("", &[ORIGIN, AS_PATH], NLRI),
            Want::Treat(TAW, 3),
        ),
        c(
            "next_hop_not_needed_with_mp_reach_only",
            four(),
            body("", &[MP_REACH6, ORIGIN, AS_PATH4], ""),
            Want::Accept,
        ),
        c(
            "withdrawals_need_no_attribute",
            two(),
            body(NLRI, &[], ""),
            Want::Accept,
        ),
        c(
            "mp_unreach_needs_no_attribute",
            four(),
            body("", &[MP_UNREACH6], ""),
            Want::Accept,
        ),
        // §4: the attribute list cannot be walked; the NLRI is found from the total length
        c(
            "last_attribute_overruns_list",
            two(),
            body("", &[ORIGIN, AS_PATH, NEXT_HOP, "c0080a 00000001"], NLRI),
            Want::Treat(TAW, 1),
        ),
        c(
            "two_bytes_left_in_list",
            two(),
            body("", &[ORIGIN, AS_PATH, NEXT_HOP, "c008"], NLRI),
            Want::Treat(TAW, 1),
        ),
        c(
            "extended_length_header_cut",
            two(),
            body("", &[ORIGIN, AS_PATH, NEXT_HOP, "d00801"], NLRI),
            Want::Treat(TAW, 1),
        ),
        // §5.2: attributes but nothing announced: anything worse than a discard resets
        c(
            "bad_origin_without_nlri",
            two(),
            body("", &["400101 07", AS_PATH, NEXT_HOP], ""),
            Want::Reset(6),
        ),
        c(
            "overrun_without_nlri",
            two(),
            body("", &[ORIGIN, "c0080a 00000001"], ""),
            Want::Reset(1),
        ),
        c(
            "bad_atomic_aggregate_without_nlri",
            two(),
            body("", &[ORIGIN, "400601 00"], ""),
            Want::Treat(DISCARD, 5),
        ),
        c(
            "bad_mp_unreach_alone_keeps_disable",
            four(),
            body("", &["800f 06 0002 01 30 2001"], ""),
            Want::Treat(DISABLE6, 10),
        ),
        // §3 h: the strongest approach wins; the first error is still listed first
        c(
            "discard_then_withdraw",
            two(),
            body(
                "",
                &[ORIGIN, AS_PATH, NEXT_HOP, "400601 00", "800403 000001"],
                NLRI,
            ),
            Want::Treat(TAW, 5),
        ),
        // RFC 4271 §6.3: unrecognized well-known attribute
        c(
            "unrecognized_well_known",
            two(),
            with("406301 00"),
            Want::Reset(2),
        ),
        c(
            "unknown_optional_non_transitive_kept",
            two(),
            with("806301 00"),
            Want::Accept,
        ),
    ]
}

#[test]
fn rfc7606_table() {
    let mut failed = Vec::new();
    for case in cases() {
        let got = received(&case.ctx, &case.body);
        let ok = match (&case.want, &got) {
            (Want::Accept, Ok(r)) => r.treatment == Treatment::Accept && r.errors.is_empty(),
            (Want::Treat(t, sub), Ok(r)) => {
                r.treatment == *t && r.errors.first().map(subcode) == Some(*sub)
            }
            (Want::Reset(sub), Err(e)) => subcode(e) == *sub,
            _ => false,
        };
        if !ok {
            failed.push(format!(
                "{}: want {:?}, got {:?}",
                case.name, case.want, got
            ));
        }
        // strict decoding accepts exactly the rows without any error
        let s = strict(&case.ctx, &case.body);
        if s.is_ok() != matches!(case.want, Want::Accept) {
            failed.push(format!("{}: strict decode gave {:?}", case.name, s));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn treat_as_withdraw_keeps_the_routes_to_withdraw() {
    let r = received(&four(), &body("", &[MP_REACH6, "400101 09", AS_PATH4], "")).unwrap();
    assert_eq!(r.treatment, Treatment::TreatAsWithdraw);
    let routes: Vec<_> = r
        .update
        .announced()
        .map(|(f, n)| (f, n.prefix.to_string()))
        .collect();
    assert_eq!(
        routes,
        vec![(Family::IPV6_UNICAST, "2001:db8:1::/48".to_string())]
    );
    // the bad ORIGIN is not kept
    assert!(r
        .update
        .attribute(bgp_wire::iana::AttrType::ORIGIN)
        .is_none());
}

#[test]
fn duplicate_keeps_the_first_copy() {
    let r = received(
        &two(),
        &body("", &[ORIGIN, "400101 02", AS_PATH, NEXT_HOP], NLRI),
    )
    .unwrap();
    assert_eq!(
        r.update.attribute(bgp_wire::iana::AttrType::ORIGIN),
        Some(&PathAttribute::Origin(bgp_wire::attribute::Origin::Igp))
    );
}

#[test]
fn notification_data_is_the_offending_attribute() {
    let e = received(
        &two(),
        &body("", &[ORIGIN, AS_PATH, NEXT_HOP, "406301 00"], NLRI),
    )
    .unwrap_err();
    let n = DecodeError::Update(e).notification().unwrap();
    assert_eq!(n.error.code_subcode(), (3, 2));
    assert_eq!(n.data, from_hex("406301 00"));

    let r = received(&two(), &body("", &[AS_PATH, NEXT_HOP], NLRI)).unwrap();
    let n = DecodeError::Update(r.errors[0].clone())
        .notification()
        .unwrap();
    // RFC 4271 §6.3: the data is the type code of the missing attribute
    assert_eq!(n.data, vec![1]);
}

#[test]
fn add_path_nlri_is_decoded_with_path_ids_only_when_negotiated() {
    let ctx = CodecContext {
        add_path: AddPathFamilies::of(&[Family::IPV4_UNICAST]),
        ..two()
    };
    let b = body("", &[ORIGIN, AS_PATH, NEXT_HOP], "00000005 18cb0071");
    let m = strict(&ctx, &b).unwrap();
    assert_eq!(m.nlri[0].path_id, Some(5));
    // the same bytes without ADD-PATH are a 0.0.0.0/0 followed by garbage: fatal
    assert!(matches!(
        received(&two(), &b),
        Err(UpdateError::InvalidNetworkField { .. })
    ));
}

#[test]
fn next_hop_semantics_turn_into_treat_as_withdraw() {
    let local: std::net::IpAddr = "10.200.1.1".parse().unwrap();
    let mut r = received(
        &two(),
        &body("", &base_with_next_hop("400304 0ac80101"), NLRI),
    )
    .unwrap();
    r.check_next_hops(Some(local));
    assert_eq!(r.treatment, Treatment::TreatAsWithdraw);
    assert_eq!(subcode(&r.errors[0]), 8);

    let mut r = received(
        &two(),
        &body("", &base_with_next_hop("400304 00000000"), NLRI),
    )
    .unwrap();
    r.check_next_hops(Some(local));
    assert_eq!(r.treatment, Treatment::TreatAsWithdraw);

    let mut r = received(
        &two(),
        &body("", &base_with_next_hop("400304 0ac80102"), NLRI),
    )
    .unwrap();
    r.check_next_hops(Some(local));
    assert_eq!(r.treatment, Treatment::Accept);

    let mut r = received(&four(), &body("", &[MP_REACH6, ORIGIN, AS_PATH4], "")).unwrap();
    r.check_next_hops("2001:db8::1".parse().ok());
    assert_eq!(r.treatment, Treatment::TreatAsWithdraw);

    // Our address unknown: 0.0.0.0 is still refused, our own address cannot be told.
    let mut r = received(
        &two(),
        &body("", &base_with_next_hop("400304 00000000"), NLRI),
    )
    .unwrap();
    r.check_next_hops(None);
    assert_eq!(r.treatment, Treatment::TreatAsWithdraw);
    let mut r = received(
        &two(),
        &body("", &base_with_next_hop("400304 0ac80101"), NLRI),
    )
    .unwrap();
    r.check_next_hops(None);
    assert_eq!(r.treatment, Treatment::Accept);
}

fn base_with_next_hop(nh: &'static str) -> [&'static str; 3] {
    [ORIGIN, AS_PATH, nh]
}

#[test]
fn huge_declared_lengths_fail_cleanly() {
    // 16-bit lengths at their maximum over a short body: each is a session reset (the
    // withdrawn or attribute length overruns the message; an attribute overrunning a list
    // in an UPDATE that announces nothing, §5.2), never a panic or a large allocation
    for b in [
        from_hex("ffff ffff"),
        from_hex("0000 ffff d0 0e ffff"),
        from_hex("0000 0007 d00effff 000201"),
    ] {
        assert!(received(&four(), &b).is_err(), "{b:02x?}");
        assert!(strict(&four(), &b).is_err());
    }
}

#[test]
fn external_peer_rules_drop_local_pref_and_withdraw_confed_paths() {
    let mut r = received(
        &two(),
        &body("", &[ORIGIN, AS_PATH, NEXT_HOP, "400504 00000064"], NLRI),
    )
    .unwrap();
    r.check_external_peer();
    assert_eq!(r.treatment, Treatment::Accept);
    assert!(r
        .update
        .attribute(bgp_wire::iana::AttrType::LOCAL_PREF)
        .is_none());

    let confed = "400208 0301fdf2 0201fde9";
    let mut r = received(&two(), &body("", &[ORIGIN, confed, NEXT_HOP], NLRI)).unwrap();
    assert_eq!(r.treatment, Treatment::Accept);
    r.check_external_peer();
    assert_eq!(r.treatment, Treatment::TreatAsWithdraw);
    assert_eq!(subcode(&r.errors[0]), 11);
}
