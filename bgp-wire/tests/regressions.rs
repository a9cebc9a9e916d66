//! The property checks the fuzz targets run (bgp_wire::check), over the golden vectors and
//! over named inputs: every crash a fuzzer finds is added here as a named case.

mod vectors;

use bgp_wire::check;

#[test]
fn golden_vectors_pass_the_fuzz_checks() {
    for v in vectors::all() {
        check::decode_stream(&v.ctx, &v.bytes());
        check::roundtrip(&v.ctx, &v.bytes());
        // all vectors as one stream, as a TCP read would deliver them
    }
    let all: Vec<u8> = vectors::all()
        .iter()
        .filter(|v| v.ctx == Default::default())
        .flat_map(|v| v.bytes())
        .collect();
    check::decode_stream(&Default::default(), &all);
}

/// Ops for check::session (see its op table): start, connect, the peer's OPEN, KEEPALIVE,
/// time passing. Reaches Established, then the hold timer runs out and it starts again.
const TO_ESTABLISHED: &[u8] = &[0x00, 0, 3, 9, 10, 8, 4, 8, 200, 8, 200];

#[test]
fn session_check_reaches_established_and_expires() {
    use bgp_wire::session::SessionState::*;
    let visited = check::session(TO_ESTABLISHED);
    let est = visited
        .iter()
        .position(|s| *s == Established)
        .unwrap_or_else(|| panic!("never Established: {visited:?}"));
    // the hold timer ends it, and after the idle hold it starts over
    assert!(
        visited[est..].contains(&Idle),
        "the hold timer should have ended it: {visited:?}"
    );
}

#[test]
fn session_check_survives_arbitrary_frames_in_every_state() {
    // start, connect, then frames of every type with bodies of every small length
    for kind in 0u8..6 {
        for len in 0u8..40 {
            let mut ops = vec![0x02, 0, 3, 9, 10];
            ops.extend([11, kind, len]);
            ops.extend((0..len).map(|i| i.wrapping_mul(37)));
            ops.extend([12, 3, 0, 0, 0, 8, 100]);
            let _ = check::session(&ops);
        }
    }
}

#[test]
fn decode_checks_survive_every_header_length() {
    for len in 0u16..=300 {
        let mut b = vec![0xff; 16];
        b.extend_from_slice(&len.to_be_bytes());
        b.push(2);
        b.extend(std::iter::repeat_n(0u8, 300));
        for ctx in 0..16 {
            check::decode_stream(&check::context_from_byte(ctx), &b);
        }
    }
}
