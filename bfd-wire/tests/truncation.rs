//! Every strict prefix of every golden vector fails to decode, cleanly; and a Length field
//! that disagrees with the bytes or the authentication section is refused.

mod vectors;

use bfd_wire::check::decode_roundtrip;
use bfd_wire::{decode, DecodeError};

#[test]
fn every_strict_prefix_fails() {
    for v in vectors::all() {
        let b = v.bytes();
        for cut in 0..b.len() {
            let e =
                decode(&b[..cut]).expect_err(&format!("{}: prefix of {cut} bytes decoded", v.name));
            assert!(
                matches!(
                    e,
                    DecodeError::Truncated { .. } | DecodeError::LengthExceedsPayload { .. }
                ),
                "{}: prefix of {cut} bytes gave {e:?}",
                v.name
            );
            decode_roundtrip(&b[..cut]);
        }
    }
}

/// The prefix with its Length field patched to match: the authentication section is cut
/// short, which its own checks must refuse (or, cut exactly before it, the A bit with no
/// section).
#[test]
fn every_length_patched_prefix_fails() {
    for v in vectors::all() {
        let b = v.bytes();
        for cut in 24..b.len() {
            let mut t = b[..cut].to_vec();
            t[3] = cut as u8;
            assert!(
                decode(&t).is_err(),
                "{}: {cut} bytes with length {cut} decoded",
                v.name
            );
            decode_roundtrip(&t);
        }
    }
}

#[test]
fn rejects_length_field_beyond_the_payload() {
    let mut b = vectors::all()[0].bytes();
    b[3] = 25;
    assert_eq!(
        decode(&b),
        Err(DecodeError::LengthExceedsPayload {
            length: 25,
            payload: 24
        })
    );
}

#[test]
fn rejects_length_field_below_24() {
    for length in [0u8, 1, 23] {
        let mut b = vectors::all()[0].bytes();
        b[3] = length;
        assert_eq!(decode(&b), Err(DecodeError::BadLength { length, min: 24 }));
    }
}

#[test]
fn rejects_length_field_below_26_with_the_a_bit() {
    let mut b = vectors::all()[0].bytes();
    b[1] |= 0x04;
    b.extend([0, 0]);
    for length in [24u8, 25] {
        b[3] = length;
        assert_eq!(decode(&b), Err(DecodeError::BadLength { length, min: 26 }));
    }
}

#[test]
fn rejects_length_field_longer_than_the_packet_without_auth() {
    let mut b = vectors::all()[0].bytes();
    b.extend([0; 4]);
    b[3] = 28;
    assert_eq!(
        decode(&b),
        Err(DecodeError::LengthMismatch {
            length: 28,
            expected: 24
        })
    );
}

#[test]
fn rejects_auth_len_beyond_the_length_field() {
    let mut b = vectors::named("auth_keyed_md5").bytes();
    b[25] = 30; // Auth Len 30 in a packet of 48: 24 left
    assert_eq!(
        decode(&b),
        Err(DecodeError::AuthTruncated {
            auth_len: 30,
            available: 24
        })
    );
}

#[test]
fn rejects_auth_len_shorter_than_the_length_field() {
    let mut b = vectors::named("auth_simple_password").bytes();
    b[25] = 8; // a 5-byte password in a section of 9
    assert_eq!(
        decode(&b),
        Err(DecodeError::LengthMismatch {
            length: 33,
            expected: 32
        })
    );
}

#[test]
fn rejects_auth_len_wrong_for_its_type() {
    // (type, Auth Len) pairs that RFC 5880 §4.2–§4.4 forbid
    for (auth_type, auth_len) in [(1u8, 3u8), (1, 20), (2, 23), (3, 25), (4, 24), (5, 29)] {
        let mut b = vectors::all()[0].bytes();
        b[1] |= 0x04;
        b[3] = 24 + auth_len;
        b.extend([auth_type, auth_len]);
        b.extend(vec![0; usize::from(auth_len) - 2]);
        assert_eq!(
            decode(&b),
            Err(DecodeError::AuthBadLength {
                auth_type,
                auth_len
            }),
            "type {auth_type} length {auth_len}"
        );
    }
}
