//! Property checks shared by the fuzz targets and the tests, so that a fuzz target is a thin
//! wrapper and every crash it finds can be replayed as a named regression test.
//!
//! Each function panics when a property is violated; on any input that merely is malformed
//! it returns normally.

use std::time::{Duration, Instant};

use crate::packet::{decode, ControlPacket, Diag, State, VERSION};
use crate::session::{Session, SessionConfig};

/// Decodes `bytes` as one UDP payload. Checks: no panic; an error has a nonempty
/// [`crate::DecodeError::reason`]; a packet that decodes passes
/// [`ControlPacket::validate`], has `len()` equal to its Length field, encodes to exactly the
/// bytes the Length field covers, and decodes from those to itself.
pub fn decode_roundtrip(bytes: &[u8]) {
    let p = match decode(bytes) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.reason().is_empty(), "{e:?} has no reason");
            return;
        }
    };
    p.validate()
        .unwrap_or_else(|e| panic!("decoded {p:?} does not validate: {e}"));
    let length = usize::from(bytes[3]);
    assert_eq!(p.len(), length, "len() differs from the Length field");
    let encoded = p.encode();
    assert_eq!(
        encoded,
        &bytes[..length],
        "encode(decode(b)) differs from b for {p:?}"
    );
    assert_eq!(decode(&encoded).as_ref(), Ok(&p), "decode(encode(p)) != p");
}

/// Drives a [`Session`] with an operation script read from `data` and checks after every
/// step that the session keeps its invariants:
///
/// - every packet it sends validates, round-trips through the codec, carries our
///   discriminator and its current state and remote discriminator, never both P and F,
///   never D, and has a nonzero Your Discriminator when in Init or Up;
/// - a passive session that knows no remote system sends nothing but answers;
/// - Init and Up always have a remote discriminator;
/// - after `handle_timeout(now)` and draining `poll_transmit(now)`, the next timeout is
///   never at or before `now`;
/// - counters add up, and the events tell the same state as [`Session::state`].
///
/// The first byte chooses the configuration (bit 0 passive, bits 1–2 the multiplier 1–4);
/// then each operation is a byte (`op % 6`) and its arguments: 0 let time pass and fire
/// what is due, 1 a well-formed packet from the remote system (state, P, F, D, right or
/// zero or wrong Your Discriminator, intervals), 2 raw bytes for [`decode`], 3 a new
/// configuration, 4 admin down, 5 admin up. Returns the states visited, in order.
pub fn session(data: &[u8]) -> Vec<State> {
    const LOCAL: u32 = 0x0102_0304;
    const REMOTE: u32 = 0x0a0b_0c0d;
    let mut visited = Vec::new();
    let Some((&flags, mut ops)) = data.split_first() else {
        return visited;
    };
    let config = SessionConfig {
        passive: flags & 1 != 0,
        detect_mult: 1 + (flags >> 1 & 3),
        ..SessionConfig::default()
    };
    let mut now = Instant::now();
    let mut s = Session::new(LOCAL, config, u64::from(flags), now).expect("valid config");
    visited.push(s.state());
    let mut take = |n: usize| -> Option<Vec<u8>> {
        (ops.len() >= n).then(|| {
            let (a, b) = ops.split_at(n);
            ops = b;
            a.to_vec()
        })
    };
    let mut last_state = s.state();
    while let Some(op) = take(1) {
        match op[0] % 6 {
            0 => {
                let Some(b) = take(1) else { break };
                let target = now + Duration::from_millis(u64::from(b[0]) * 20);
                // fire every deadline up to `target` in order, as an I/O loop would
                while let Some(t) = s.poll_timeout().filter(|t| *t <= target) {
                    now = now.max(t);
                    s.handle_timeout(now);
                    drain(&mut s, now);
                    if let Some(next) = s.poll_timeout() {
                        assert!(next > now, "timeout {next:?} not after {now:?}");
                    }
                }
                now = target;
            }
            1 => {
                let Some(b) = take(4) else { break };
                let p = ControlPacket {
                    version: VERSION,
                    diag: Diag::from_code(b[1]),
                    state: State::from_code(b[0]),
                    poll: b[0] & 4 != 0,
                    final_: b[0] & 8 != 0,
                    control_plane_independent: false,
                    demand: b[0] & 16 != 0,
                    multipoint: false,
                    detect_mult: 1 + b[1] % 4,
                    my_discriminator: REMOTE,
                    your_discriminator: match b[0] >> 5 & 3 {
                        0 => 0,
                        1 => LOCAL ^ 1,
                        _ => LOCAL,
                    },
                    desired_min_tx_us: u32::from(b[2]) * 10_000,
                    required_min_rx_us: u32::from(b[3]) * 10_000,
                    required_min_echo_rx_us: 0,
                    auth: None,
                };
                let _ = s.handle_packet(now, &p);
            }
            2 => {
                let Some(n) = take(1) else { break };
                let Some(bytes) = take(usize::from(n[0] % 64)) else {
                    break;
                };
                if let Ok(p) = decode(&bytes) {
                    let _ = s.handle_packet(now, &p);
                }
            }
            3 => {
                let Some(b) = take(3) else { break };
                let c = SessionConfig {
                    desired_min_tx: Duration::from_millis(u64::from(b[0]) * 10),
                    required_min_rx: Duration::from_millis(u64::from(b[1]) * 10),
                    detect_mult: b[2],
                    passive: s.config().passive,
                };
                let before = *s.config();
                let r = s.set_config(now, c);
                assert_eq!(r.is_ok(), c.validate().is_ok());
                if r.is_err() {
                    assert_eq!(*s.config(), before, "a refused config changed the session");
                }
            }
            4 => s.set_admin_down(now, true),
            _ => s.set_admin_down(now, false),
        }
        drain(&mut s, now);
        while let Some(e) = s.poll_event() {
            if let crate::Event::StateChanged { from, to, .. } = e {
                assert_eq!(from, last_state, "event out of order");
                assert_ne!(from, to);
                last_state = to;
                visited.push(to);
            }
        }
        assert_eq!(last_state, s.state(), "events disagree with state()");
        if matches!(s.state(), State::Init | State::Up) {
            assert_ne!(
                s.remote_discriminator(),
                0,
                "{:?} without a remote",
                s.state()
            );
        }
        let c = s.counters();
        assert!(c.packets_dropped <= c.packets_received);
        assert!(c.down_events <= c.up_events);
    }
    visited
}

/// Takes every packet due at `now` and checks it (see [`session`]).
fn drain(s: &mut Session, now: Instant) {
    let mut n = 0;
    while let Some(p) = s.poll_transmit(now) {
        n += 1;
        assert!(
            n <= 2,
            "more than an answer and a periodic packet at one instant"
        );
        p.validate()
            .unwrap_or_else(|e| panic!("sent an invalid packet {p:?}: {e}"));
        assert_eq!(
            decode(&p.encode()).as_ref(),
            Ok(&p),
            "sent packet round trip"
        );
        assert!(!(p.poll && p.final_), "P and F together");
        assert!(!p.demand && p.auth.is_none() && p.required_min_echo_rx_us == 0);
        assert_eq!(p.my_discriminator, s.local_discriminator());
        assert_eq!(p.your_discriminator, s.remote_discriminator());
        assert_eq!(p.state, s.state());
        if matches!(p.state, State::Init | State::Up) {
            assert_ne!(p.your_discriminator, 0);
        }
        if s.config().passive && s.remote_discriminator() == 0 {
            assert!(p.final_, "a passive session spoke first");
        }
    }
}
