//! Hostile packets (the list: bad version, bad length, zero discriminator, detect
//! multiplier 0, multipoint) are refused by decode with distinct reasons, and a session
//! given such a packet built in memory discards it.

mod vectors;

use std::collections::HashSet;
use std::time::Instant;

use bfd_wire::{decode, DecodeError, Session, SessionConfig};

fn base() -> Vec<u8> {
    vectors::all()[0].bytes()
}

fn with(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = base();
    f(&mut b);
    b
}

#[test]
fn hostile_packets_have_distinct_reasons() {
    let cases: Vec<(&str, Vec<u8>, DecodeError)> = vec![
        (
            "version 0",
            with(|b| b[0] &= 0x1f),
            DecodeError::BadVersion(0),
        ),
        (
            "version 2",
            with(|b| b[0] = 0x40 | (b[0] & 0x1f)),
            DecodeError::BadVersion(2),
        ),
        (
            "version 7",
            with(|b| b[0] |= 0xe0),
            DecodeError::BadVersion(7),
        ),
        (
            "length 20",
            with(|b| b[3] = 20),
            DecodeError::BadLength {
                length: 20,
                min: 24,
            },
        ),
        (
            "length 200",
            with(|b| b[3] = 200),
            DecodeError::LengthExceedsPayload {
                length: 200,
                payload: 24,
            },
        ),
        (
            "detect mult 0",
            with(|b| b[2] = 0),
            DecodeError::ZeroDetectMult,
        ),
        (
            "multipoint",
            with(|b| b[1] |= 0x01),
            DecodeError::Multipoint,
        ),
        (
            "my discriminator 0",
            with(|b| b[4..8].fill(0)),
            DecodeError::ZeroMyDiscriminator,
        ),
        ("empty", Vec::new(), DecodeError::Truncated { got: 0 }),
        (
            "short",
            base()[..10].to_vec(),
            DecodeError::Truncated { got: 10 },
        ),
    ];
    let mut reasons = HashSet::new();
    for (name, bytes, want) in cases {
        let got = decode(&bytes).expect_err(name);
        assert_eq!(got, want, "{name}");
        assert!(!got.to_string().is_empty());
        reasons.insert(got.reason());
    }
    let expected: HashSet<_> = [
        "bad_version",
        "bad_length",
        "length_exceeds_payload",
        "zero_detect_mult",
        "multipoint",
        "zero_my_discriminator",
        "truncated",
    ]
    .into();
    assert_eq!(reasons, expected);
}

#[test]
fn version_is_checked_before_anything_else() {
    // a version-0 packet with every other field wrong too
    let b = with(|b| {
        b[0] = 0x00;
        b[1] |= 0x01;
        b[2] = 0;
        b[3] = 3;
    });
    assert_eq!(decode(&b), Err(DecodeError::BadVersion(0)));
    assert_eq!(decode(&b[..5]), Err(DecodeError::BadVersion(0)));
}

#[test]
fn session_discards_a_packet_built_with_hostile_fields() {
    let now = Instant::now();
    let mut s = Session::new(1, SessionConfig::default(), 0, now).unwrap();
    let good = vectors::all()[0].packet.clone();
    let cases = [
        (
            "version 2",
            bfd_wire::ControlPacket {
                version: 2,
                ..good.clone()
            },
            "bad_version",
        ),
        (
            "detect mult 0",
            bfd_wire::ControlPacket {
                detect_mult: 0,
                ..good.clone()
            },
            "zero_detect_mult",
        ),
        (
            "multipoint",
            bfd_wire::ControlPacket {
                multipoint: true,
                ..good.clone()
            },
            "multipoint",
        ),
        (
            "my discriminator 0",
            bfd_wire::ControlPacket {
                my_discriminator: 0,
                ..good.clone()
            },
            "zero_my_discriminator",
        ),
    ];
    for (name, p, reason) in cases {
        let e = s.handle_packet(now, &p).expect_err(name);
        assert_eq!(e.reason(), reason, "{name}");
    }
    assert_eq!(s.counters().packets_received, 4);
    assert_eq!(s.counters().packets_dropped, 4);
    assert_eq!(
        s.remote_discriminator(),
        0,
        "a discarded packet set the remote"
    );
}
