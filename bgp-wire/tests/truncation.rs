//! Every strict prefix of every golden vector fails to decode, cleanly.
//!
//! Two sweeps: the raw prefix (the header's length no longer matches: a header error), and
//! the prefix with the header's length patched to match, which drives each body decoder over
//! every truncation point. The second may legitimately succeed where the cut falls on an
//! element boundary (an UPDATE without its last NLRI); then the result must re-encode to
//! exactly the truncated bytes.

mod vectors;

use bgp_wire::message::decode_message;

#[test]
fn every_strict_prefix_fails() {
    for v in vectors::all() {
        let b = v.bytes();
        for cut in 0..b.len() {
            assert!(
                decode_message(&b[..cut], &v.ctx).is_err(),
                "{}: prefix of {cut} bytes decoded",
                v.name
            );
        }
    }
}

#[test]
fn every_body_truncation_is_an_error_or_a_valid_message() {
    for v in vectors::all() {
        let b = v.bytes();
        for cut in 19..b.len() {
            let mut t = b[..cut].to_vec();
            t[16..18].copy_from_slice(&(cut as u16).to_be_bytes());
            if let Ok(m) = decode_message(&t, &v.ctx) {
                let again = m.to_bytes(&v.ctx).expect("a decoded message encodes");
                assert_eq!(
                    again, t,
                    "{}: truncated to {cut} bytes decoded to {m:?} which re-encodes differently",
                    v.name
                );
            }
        }
    }
}
