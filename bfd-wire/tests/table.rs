//! The session state machine as a table that reads like RFC 5880 §6.8.6: for every local
//! state and every received state (and the detection timeout), the next state and
//! bfd.LocalDiag. A second table lists the reception rules that discard a packet, each
//! with its own reason. Named tests below cover what a row cannot show.

mod vectors;

use std::time::{Duration, Instant};

use bfd_wire::packet::auth_type;
use bfd_wire::{AuthSection, ControlPacket, Diag, Session, SessionConfig, State};

const LOCAL: u32 = 0x11;
const REMOTE: u32 = 0x22;

/// What a row feeds in.
#[derive(Clone, Copy, Debug)]
enum In {
    /// A valid packet from the remote system in this state, Your Discriminator ours.
    Received(State),
    /// The detection time passes without a packet.
    Timeout,
}

use Diag::{AdministrativelyDown as ADMIN, ControlDetectionTimeExpired as EXPIRED};
use Diag::{NeighborSignaledSessionDown as NEIGHBOR, None as NONE};
use In::{Received as Rx, Timeout};
use State::{AdminDown, Down, Init, Up};

/// (local state, input, next state, bfd.LocalDiag after)
const TABLE: &[(State, In, State, Diag)] = &[
    // If received state is AdminDown: if bfd.SessionState is not Down, LocalDiag 3, Down
    (Down, Rx(AdminDown), Down, NONE),
    (Init, Rx(AdminDown), Down, NEIGHBOR),
    (Up, Rx(AdminDown), Down, NEIGHBOR),
    // If bfd.SessionState is Down: Down → Init, Init → Up
    (Down, Rx(Down), Init, NONE),
    (Down, Rx(Init), Up, NONE),
    (Down, Rx(Up), Down, NONE),
    // If bfd.SessionState is Init: Init or Up → Up
    (Init, Rx(Down), Init, NONE),
    (Init, Rx(Init), Up, NONE),
    (Init, Rx(Up), Up, NONE),
    // If bfd.SessionState is Up: Down → LocalDiag 3, Down
    (Up, Rx(Down), Down, NEIGHBOR),
    (Up, Rx(Init), Up, NONE),
    (Up, Rx(Up), Up, NONE),
    // If bfd.SessionState is AdminDown: discard the packet
    (AdminDown, Rx(AdminDown), AdminDown, ADMIN),
    (AdminDown, Rx(Down), AdminDown, ADMIN),
    (AdminDown, Rx(Init), AdminDown, ADMIN),
    (AdminDown, Rx(Up), AdminDown, ADMIN),
    // §6.8.4: detection time expired in Init or Up → Down, LocalDiag 1
    (Down, Timeout, Down, NONE),
    (Init, Timeout, Down, EXPIRED),
    (Up, Timeout, Down, EXPIRED),
    (AdminDown, Timeout, AdminDown, ADMIN),
];

/// A valid packet from the remote system (300 ms × 3).
fn packet(state: State, your: u32) -> ControlPacket {
    vectors::base(state, 3, REMOTE, your, 300_000, 300_000)
}

/// A session in `state` that has heard the remote system at `t0`, its outputs drained.
fn setup(state: State) -> (Session, Instant) {
    let t0 = Instant::now();
    let mut s = Session::new(LOCAL, SessionConfig::default(), 7, t0).unwrap();
    let feed = |s: &mut Session, st| s.handle_packet(t0, &packet(st, LOCAL)).unwrap();
    match state {
        Down => feed(&mut s, Up), // heard, but no change: Down with a remote
        Init => feed(&mut s, Down),
        Up => {
            feed(&mut s, Down);
            feed(&mut s, Up);
        }
        AdminDown => {
            feed(&mut s, Up);
            s.set_admin_down(t0, true);
        }
    }
    assert_eq!(s.state(), state, "setup");
    while s.poll_transmit(t0).is_some() {}
    while s.poll_event().is_some() {}
    (s, t0)
}

#[test]
fn state_table_of_rfc_5880_6_8_6() {
    let mut failed = Vec::new();
    for &(from, input, to, diag) in TABLE {
        let (mut s, t0) = setup(from);
        let now = t0 + Duration::from_millis(10);
        match input {
            Rx(st) => {
                let r = s.handle_packet(now, &packet(st, LOCAL));
                assert_eq!(r.is_err(), from == AdminDown, "{from:?} {input:?}: {r:?}");
            }
            Timeout => {
                let deadline = s.poll_timeout().expect("a deadline");
                let expiry = t0 + s.detection_time().max(Duration::from_secs(3));
                s.handle_timeout(deadline.max(expiry));
            }
        }
        let got = (s.state(), s.local_diag());
        if got != (to, diag) {
            failed.push(format!(
                "{from:?} + {input:?}: got {got:?}, want {:?}",
                (to, diag)
            ));
        }
        // a change is announced as one event with the same diag
        let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        let changes: Vec<_> = events
            .iter()
            .filter_map(|e| match *e {
                bfd_wire::Event::StateChanged { from, to, diag } => Some((from, to, diag)),
                _ => None,
            })
            .collect();
        let want: Vec<_> = if from == to {
            vec![]
        } else {
            vec![(from, to, diag)]
        };
        if changes != want {
            failed.push(format!("{from:?} + {input:?}: events {events:?}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn every_state_and_input_has_a_row() {
    for from in [AdminDown, Down, Init, Up] {
        for input in [Rx(AdminDown), Rx(Down), Rx(Init), Rx(Up), Timeout] {
            let n = TABLE
                .iter()
                .filter(|(f, i, _, _)| *f == from && format!("{i:?}") == format!("{input:?}"))
                .count();
            assert_eq!(n, 1, "{from:?} + {input:?}");
        }
    }
}

/// §6.8.6 rules that discard, in the RFC's order: (name, packet, local state, reason).
#[test]
fn discard_rules_each_with_its_reason() {
    let auth = Some(AuthSection {
        auth_type: auth_type::SIMPLE_PASSWORD,
        data: b"\x01secret".to_vec(),
    });
    let rows: Vec<(&str, ControlPacket, State, &str)> = vec![
        (
            "your discriminator not ours",
            packet(Up, LOCAL + 1),
            Up,
            "discriminator_mismatch",
        ),
        (
            "your discriminator zero in Init",
            packet(Init, 0),
            Down,
            "zero_your_discriminator",
        ),
        (
            "your discriminator zero in Up",
            packet(Up, 0),
            Up,
            "zero_your_discriminator",
        ),
        (
            "A bit, no auth configured",
            ControlPacket {
                auth: auth.clone(),
                ..packet(Down, 0)
            },
            Down,
            "auth_not_configured",
        ),
        (
            "A bit while Up",
            ControlPacket {
                auth,
                ..packet(Up, LOCAL)
            },
            Up,
            "auth_not_configured",
        ),
        (
            "local AdminDown",
            packet(Up, LOCAL),
            AdminDown,
            "admin_down",
        ),
        (
            "detect mult 0",
            ControlPacket {
                detect_mult: 0,
                ..packet(Up, LOCAL)
            },
            Up,
            "zero_detect_mult",
        ),
    ];
    for (name, p, local, reason) in rows {
        let (mut s, t0) = setup(local);
        let before = s.counters().packets_dropped;
        let e = s.handle_packet(t0, &p).expect_err(name);
        assert_eq!(e.reason(), reason, "{name}: {e}");
        assert_eq!(s.state(), local, "{name}: state changed");
        assert_eq!(s.counters().packets_dropped, before + 1, "{name}");
        assert!(s.poll_event().is_none(), "{name}: an event");
    }
}

#[test]
fn your_discriminator_zero_is_accepted_in_down_and_admin_down() {
    for st in [Down, AdminDown] {
        let (mut s, t0) = setup(Down);
        s.handle_packet(t0, &packet(st, 0)).expect("accepted");
    }
}

#[test]
fn a_poll_is_answered_with_final_and_never_both_bits() {
    let (mut s, t0) = setup(Up);
    // our own Poll Sequence runs (a config change) while the remote polls us
    let slower = SessionConfig {
        desired_min_tx: Duration::from_millis(500),
        ..SessionConfig::default()
    };
    s.set_config(t0, slower).unwrap();
    let p = ControlPacket {
        poll: true,
        ..packet(Up, LOCAL)
    };
    s.handle_packet(t0, &p).unwrap();
    let answer = s.poll_transmit(t0).expect("answer at once");
    assert!(answer.final_ && !answer.poll, "{answer:?}");
    let ours = s.poll_transmit(t0).expect("our own poll is due too");
    assert!(ours.poll && !ours.final_);
}

#[test]
fn a_final_ends_our_poll_sequence() {
    let (mut s, t0) = setup(Up);
    s.set_config(
        t0,
        SessionConfig {
            desired_min_tx: Duration::from_secs(1),
            ..SessionConfig::default()
        },
    )
    .unwrap();
    assert!(s.is_polling());
    assert_eq!(s.negotiated_tx_interval(), Duration::from_millis(300));
    s.handle_packet(t0, &packet(Up, LOCAL)).unwrap();
    assert!(s.is_polling(), "a packet without F does not end it");
    s.handle_packet(
        t0,
        &ControlPacket {
            final_: true,
            ..packet(Up, LOCAL)
        },
    )
    .unwrap();
    assert!(!s.is_polling());
    assert_eq!(s.negotiated_tx_interval(), Duration::from_secs(1));
}

#[test]
fn slow_start_advertises_at_least_one_second_until_up() {
    let t0 = Instant::now();
    let mut s = Session::new(LOCAL, SessionConfig::default(), 7, t0).unwrap();
    let p = s
        .poll_transmit(t0)
        .expect("an active session sends at once");
    assert_eq!(
        (p.state, p.desired_min_tx_us, p.required_min_rx_us),
        (Down, 1_000_000, 300_000)
    );
    assert_eq!(p.your_discriminator, 0);
    s.handle_packet(t0, &packet(Down, 0)).unwrap();
    s.handle_packet(t0, &packet(Up, LOCAL)).unwrap();
    let p = s.poll_transmit(t0).expect("sent on the change to Up");
    assert_eq!((p.state, p.desired_min_tx_us, p.poll), (Up, 300_000, true));
}

#[test]
fn remote_demand_mode_stops_periodic_packets_once_both_are_up() {
    let (mut s, t0) = setup(Up);
    let demand = ControlPacket {
        demand: true,
        ..packet(Up, LOCAL)
    };
    s.handle_packet(t0, &demand).unwrap();
    let later = t0 + Duration::from_secs(5);
    let p = s
        .poll_transmit(later)
        .expect("our Poll Sequence of coming up still runs");
    assert!(p.poll);
    // the Final ends it: now nothing periodic (§6.8.7)
    s.handle_packet(
        later,
        &ControlPacket {
            final_: true,
            ..demand
        },
    )
    .unwrap();
    assert_eq!(s.poll_transmit(later + Duration::from_secs(5)), None);
    assert!(s.poll_timeout().is_some(), "detection still runs");
}

#[test]
fn config_validation() {
    use bfd_wire::session::ConfigError;
    let t0 = Instant::now();
    let ok = SessionConfig::default();
    assert_eq!(
        Session::new(0, ok, 0, t0).err(),
        Some(ConfigError::ZeroDiscriminator)
    );
    let bad = [
        SessionConfig {
            detect_mult: 0,
            ..ok
        },
        SessionConfig {
            desired_min_tx: Duration::ZERO,
            ..ok
        },
        SessionConfig {
            required_min_rx: Duration::from_nanos(999),
            ..ok
        },
        SessionConfig {
            required_min_rx: Duration::from_secs(5000),
            ..ok
        },
    ];
    for c in bad {
        assert!(c.validate().is_err(), "{c:?}");
        assert!(Session::new(1, c, 0, t0).is_err());
    }
    let (mut s, t0) = setup(Up);
    assert!(s
        .set_config(
            t0,
            SessionConfig {
                detect_mult: 0,
                ..ok
            }
        )
        .is_err());
    assert_eq!(s.config(), &ok);
}
