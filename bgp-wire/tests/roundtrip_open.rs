//! Round trips for OPEN, NOTIFICATION, ROUTE-REFRESH and KEEPALIVE: generated messages
//! survive `decode(encode(m))` with the header length equal to the bytes written, decoding
//! arbitrary bodies never panics, and the errors a session sees map to the NOTIFICATIONs the
//! RFCs require.

use std::net::Ipv4Addr;

use bgp_wire::capability::{
    AddPathEntry, AddPathMode, Capability, ExtendedNextHopEntry, GracefulRestartCap,
    GracefulRestartFamily,
};
use bgp_wire::error::{HeaderError, OpenError};
use bgp_wire::iana::{Afi, CapabilityCode, Family, Safi};
use bgp_wire::message::notification::ErrorKind;
use bgp_wire::message::open::OptionalParam;
use bgp_wire::message::route_refresh::RefreshSubtype;
use bgp_wire::message::{decode_message, NotificationMsg, OpenMsg, RouteRefreshMsg};
use bgp_wire::{CodecContext, DecodeError, Message};
use proptest::prelude::*;

/// Capability codes this crate interprets; an `Unknown` with one of them would decode as the
/// typed variant.
const KNOWN_CODES: [u8; 10] = [1, 2, 5, 6, 64, 65, 69, 70, 73, 128];

fn family() -> impl Strategy<Value = Family> {
    (any::<u16>(), any::<u8>()).prop_map(|(a, s)| Family::new(Afi(a), Safi(s)))
}

fn add_path_mode() -> impl Strategy<Value = AddPathMode> {
    prop_oneof![
        Just(AddPathMode::Receive),
        Just(AddPathMode::Send),
        Just(AddPathMode::Both)
    ]
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        Just(Capability::RouteRefresh),
        Just(Capability::RouteRefreshCisco),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (
            any::<bool>(),
            any::<bool>(),
            0u16..=0x0fff,
            prop::collection::vec((family(), any::<bool>()), 0..8)
        )
            .prop_map(
                |(r, n, t, f)| Capability::GracefulRestart(GracefulRestartCap {
                    restart_state: r,
                    notification: n,
                    restart_time: t,
                    families: f
                        .into_iter()
                        .map(|(family, forwarding_preserved)| GracefulRestartFamily {
                            family,
                            forwarding_preserved,
                        })
                        .collect(),
                })
            ),
        prop::collection::vec((family(), add_path_mode()), 0..8).prop_map(|e| {
            Capability::AddPath(
                e.into_iter()
                    .map(|(family, mode)| AddPathEntry { family, mode })
                    .collect(),
            )
        }),
        prop::collection::vec((any::<u16>(), any::<u16>(), any::<u16>()), 0..8).prop_map(|e| {
            Capability::ExtendedNextHop(
                e.into_iter()
                    .map(|(a, s, n)| ExtendedNextHopEntry {
                        nlri_afi: Afi(a),
                        nlri_safi: s,
                        next_hop_afi: Afi(n),
                    })
                    .collect(),
            )
        }),
        (
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        (
            any::<u8>().prop_filter("unknown code", |c| !KNOWN_CODES.contains(c)),
            prop::collection::vec(any::<u8>(), 0..32)
        )
            .prop_map(|(c, value)| Capability::Unknown {
                code: CapabilityCode(c),
                value
            }),
    ]
}

fn optional_param() -> impl Strategy<Value = OptionalParam> {
    prop_oneof![
        4 => prop::collection::vec(capability(), 0..6).prop_map(OptionalParam::Capabilities),
        1 => (
            any::<u8>().prop_filter("not capabilities", |k| *k != 2),
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(kind, value)| OptionalParam::Unknown { kind, value }),
    ]
}

fn open_msg() -> impl Strategy<Value = OpenMsg> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        prop::collection::vec(optional_param(), 0..4),
    )
        .prop_map(|(my_as, hold_time, id, params)| OpenMsg {
            version: 4,
            my_as,
            hold_time,
            bgp_id: Ipv4Addr::from(id),
            params,
        })
}

fn notification_msg() -> impl Strategy<Value = NotificationMsg> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(c, s, data)| NotificationMsg::new(
                ErrorKind::from_code_subcode(c, s),
                data
            )),
        ".{0,300}".prop_map(|r| NotificationMsg::admin_shutdown(&r)),
        ".{0,300}".prop_map(|r| NotificationMsg::admin_reset(&r)),
    ]
}

fn route_refresh_msg() -> impl Strategy<Value = RouteRefreshMsg> {
    (any::<u16>(), any::<u8>(), any::<u8>()).prop_map(|(a, st, s)| RouteRefreshMsg {
        afi: Afi(a),
        subtype: RefreshSubtype::from_code(st),
        safi: Safi(s),
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        open_msg().prop_map(Message::Open),
        notification_msg().prop_map(Message::Notification),
        route_refresh_msg().prop_map(Message::RouteRefresh),
        Just(Message::Keepalive),
    ]
}

fn context() -> impl Strategy<Value = CodecContext> {
    (any::<bool>(), any::<bool>()).prop_map(|(four_octet_as, extended_message)| CodecContext {
        four_octet_as,
        extended_message,
        ..CodecContext::default()
    })
}

/// A message of `kind` with `body`, its header length set to match.
fn framed(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut b = vec![0xff; 16];
    b.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    b.push(kind);
    b.extend_from_slice(body);
    b
}

fn notification_of(e: DecodeError) -> NotificationMsg {
    e.notification().expect("answered with a NOTIFICATION")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_messages_round_trip(m in message(), ctx in context()) {
        let bytes = m.to_bytes(&ctx).expect("generated messages fit");
        let header_len = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
        prop_assert_eq!(header_len, bytes.len());
        prop_assert_eq!(decode_message(&bytes, &ctx).expect("decodes"), m);
    }

    #[test]
    fn open_body_len_matches_the_bytes_written(m in open_msg()) {
        let mut out = Vec::new();
        m.encode_body(&mut out).expect("generated OPENs encode");
        prop_assert_eq!(out.len(), m.body_len());
        // RFC 9072 §2: the classic form whenever it can hold the parameters.
        prop_assert_eq!(out[9] == 0xff && out.get(10) == Some(&0xff), m.uses_extended_params());
    }

    #[test]
    fn arbitrary_bodies_decode_or_fail_without_panicking(
        kind in prop_oneof![Just(1u8), Just(3u8), Just(4u8), Just(5u8)],
        body in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let ctx = CodecContext::default();
        let bytes = framed(kind, &body);
        if let Ok(m) = decode_message(&bytes, &ctx) {
            // What decodes encodes, and its encoding decodes to the same message (it may
            // differ in bytes the decoder ignores: reserved bits, an unneeded RFC 9072 form).
            let again = m.to_bytes(&ctx).expect("a decoded message encodes");
            prop_assert_eq!(decode_message(&again, &ctx).expect("re-decodes"), m);
        }
    }

    #[test]
    fn arbitrary_capability_parameters_decode_or_fail_without_panicking(
        params in prop::collection::vec(any::<u8>(), 0..255),
    ) {
        let mut body = vec![0x04, 0xfd, 0xe9, 0x00, 0x5a, 0x0a, 0x00, 0x00, 0x01];
        body.push(params.len() as u8);
        body.extend_from_slice(&params);
        let bytes = framed(1, &body);
        if let Ok(m) = decode_message(&bytes, &CodecContext::default()) {
            let again = m.to_bytes(&CodecContext::default()).expect("encodes");
            prop_assert_eq!(decode_message(&again, &CodecContext::default()).expect("re-decodes"), m);
        }
    }
}

#[test]
fn keepalive_with_a_body_is_bad_message_length() {
    let bytes = framed(4, &[0x00]);
    let err = decode_message(&bytes, &CodecContext::default()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Header(HeaderError::BadMessageLength { length: 20 })
    );
    let n = notification_of(err);
    assert_eq!(n.error.code_subcode(), (1, 2));
    assert_eq!(n.data, [0x00, 0x14]);
}

#[test]
fn notification_without_subcode_is_bad_message_length() {
    let err = decode_message(&framed(3, &[0x06]), &CodecContext::default()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Header(HeaderError::BadMessageLength { length: 20 })
    );
}

#[test]
fn open_version_three_answers_unsupported_version_number() {
    let body = [0x03, 0xfd, 0xe9, 0x00, 0x5a, 0x0a, 0x00, 0x00, 0x01, 0x00];
    let err = decode_message(&framed(1, &body), &CodecContext::default()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Open(OpenError::UnsupportedVersionNumber { version: 3 })
    );
    let n = notification_of(err);
    assert_eq!(n.error.code_subcode(), (2, 1));
    assert_eq!(n.data, [0x00, 0x04]);
}

#[test]
fn rejects_add_path_mode_zero() {
    let body = [
        0x04, 0xfd, 0xe9, 0x00, 0x5a, 0x0a, 0x00, 0x00, 0x01, // fixed fields
        0x08, 0x02, 0x06, 0x45, 0x04, 0x00, 0x01, 0x01, 0x00, // ADD-PATH IPv4 unicast, mode 0
    ];
    let err = decode_message(&framed(1, &body), &CodecContext::default()).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Open(OpenError::MalformedCapability {
                code: CapabilityCode::ADD_PATH,
                offset: 31,
                ..
            })
        ),
        "{err:?}"
    );
    let n = notification_of(err);
    assert_eq!(n.error.code_subcode(), (2, 0));
    assert!(n.data.is_empty());
}

#[test]
fn decodes_rfc9072_extended_parameters() {
    let body = [
        0x04, 0xfd, 0xe9, 0x00, 0x5a, 0x0a, 0x00, 0x00, 0x01, // fixed fields
        0xff, 0xff, 0x00, 0x0b, // RFC 9072 marker, 11 bytes of parameters
        0x02, 0x00, 0x08, 0x41, 0x04, 0x00, 0x00, 0xfd, 0xe9, 0x02, 0x00, // caps, 2-octet len
    ];
    let m = decode_message(&framed(1, &body), &CodecContext::default()).unwrap();
    let Message::Open(open) = m else {
        panic!("not an OPEN")
    };
    assert_eq!(open.asn(), 65001);
    assert!(open.route_refresh());
    assert!(!open.uses_extended_params());
}

#[test]
fn rfc9072_length_overrunning_the_message_is_malformed() {
    let body = [
        0x04, 0xfd, 0xe9, 0x00, 0x5a, 0x0a, 0x00, 0x00, 0x01, 0xff, 0xff, 0x01, 0x00, 0x02, 0x00,
        0x00,
    ];
    let err = decode_message(&framed(1, &body), &CodecContext::default()).unwrap_err();
    assert!(
        matches!(&err, DecodeError::Open(OpenError::Malformed(s)) if s.field == "optional parameters"),
        "{err:?}"
    );
    assert_eq!(notification_of(err).error.code_subcode(), (2, 0));
}

#[test]
fn open_with_trailing_bytes_answers_open_unspecific() {
    let body = [
        0x04, 0xfd, 0xe9, 0x00, 0x5a, 0x0a, 0x00, 0x00, 0x01, 0x00, 0xde, 0xad,
    ];
    let err = decode_message(&framed(1, &body), &CodecContext::default()).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Open(OpenError::TrailingBytes {
            offset: 29,
            trailing: 2
        })
    );
    assert_eq!(notification_of(err).error.code_subcode(), (2, 0));
}

#[test]
fn route_refresh_of_wrong_length_answers_with_the_whole_message() {
    let bytes = framed(5, &[0x00, 0x01, 0x00, 0x01, 0x00]);
    let err = decode_message(&bytes, &CodecContext::default()).unwrap_err();
    let n = notification_of(err);
    assert_eq!(n.error.code_subcode(), (7, 1));
    assert_eq!(n.data, bytes);
}

#[test]
fn unsupported_capability_error_lists_the_capabilities() {
    let e = OpenError::unsupported_capabilities(&[Capability::Multiprotocol(Family::IPV6_UNICAST)]);
    let n = DecodeError::Open(e).notification().unwrap();
    assert_eq!(n.error.code_subcode(), (2, 7));
    assert_eq!(n.data, [0x01, 0x04, 0x00, 0x02, 0x00, 0x01]);
}

#[test]
fn open_over_4096_bytes_does_not_encode_even_with_extended_messages() {
    // RFC 8654 §3: OPEN stays within 4096 bytes.
    let caps = vec![
        Capability::Unknown {
            code: CapabilityCode(0xf0),
            value: vec![0; 255],
        };
        16
    ];
    let m = Message::Open(OpenMsg {
        version: 4,
        my_as: 1,
        hold_time: 90,
        bgp_id: Ipv4Addr::new(10, 0, 0, 1),
        params: vec![OptionalParam::Capabilities(caps)],
    });
    let ctx = CodecContext {
        extended_message: true,
        ..CodecContext::default()
    };
    let mut out = vec![0xaa];
    assert!(m.encode(&ctx, &mut out).is_err());
    assert_eq!(out, [0xaa]);
}

#[test]
fn admin_shutdown_round_trips_its_communication() {
    let m = Message::Notification(NotificationMsg::admin_shutdown("upgrade to v2 ✓"));
    let bytes = m.to_bytes(&CodecContext::default()).unwrap();
    let Message::Notification(n) = decode_message(&bytes, &CodecContext::default()).unwrap() else {
        panic!("not a NOTIFICATION")
    };
    assert_eq!(
        n.shutdown_communication().as_deref(),
        Some("upgrade to v2 ✓")
    );
    assert_eq!(
        n.to_string(),
        "Cease / Administrative Shutdown: upgrade to v2 ✓"
    );
}
