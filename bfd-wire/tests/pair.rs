//! Two sessions stepped with simulated time over a lossy link: coming up, the negotiated
//! interval and its jitter, detection of a silent failure, recovery, timer changes with a
//! Poll Sequence, administrative down, the passive role.

mod support;
mod vectors;

use std::time::{Duration, Instant};

use bfd_wire::{ControlPacket, Diag, Event, SessionConfig, State};
use support::*;

const MS: Duration = Duration::from_millis(1);

fn both_up(p: &Pair) -> bool {
    p.a.session.state() == State::Up && p.b.session.state() == State::Up
}

fn up_pair(a: SessionConfig, b: SessionConfig) -> Pair {
    let mut p = Pair::new(a, b);
    p.run_until_cond(Duration::from_secs(5), both_up)
        .expect("the pair comes up");
    // let the Poll Sequences of coming up (1 s slow start → configured) finish
    p.run_for(Duration::from_secs(2));
    p
}

#[test]
fn comes_up_within_one_exchange() {
    let mut p = Pair::new(SessionConfig::default(), SessionConfig::default());
    let took = p
        .run_until_cond(Duration::from_secs(5), both_up)
        .expect("up");
    assert!(took <= 10 * MS, "took {took:?}");
    assert_eq!(
        p.a.changes_since(p.t0),
        vec![
            (State::Down, State::Init, Diag::None),
            (State::Init, State::Up, Diag::None)
        ]
    );
    assert_eq!(p.a.session.remote_discriminator(), B_DISCR);
    assert_eq!(p.b.session.remote_discriminator(), A_DISCR);
    assert_eq!(p.a.session.counters().up_events, 1);
}

#[test]
fn comes_up_under_slow_start_when_the_first_packets_are_lost() {
    let mut p = Pair::new(SessionConfig::default(), SessionConfig::default());
    // everything sent in the first 10 ms is lost: the next packets follow the 1 s slow start
    p.a.drop_outgoing = true;
    p.b.drop_outgoing = true;
    p.run_for(10 * MS);
    p.a.drop_outgoing = false;
    p.b.drop_outgoing = false;
    let took = p
        .run_until_cond(Duration::from_secs(5), both_up)
        .expect("up");
    assert!(took <= Duration::from_secs(1), "took {took:?}");
    let first: Vec<_> = p.a.periodic_since(p.t0);
    assert!(
        first[1] - first[0] >= 750 * MS,
        "slow start interval {:?}",
        first[1] - first[0]
    );
}

#[test]
fn after_up_the_interval_is_negotiated_and_jittered_75_to_100_percent() {
    let mut p = up_pair(SessionConfig::default(), SessionConfig::default());
    assert_eq!(p.a.session.negotiated_tx_interval(), 300 * MS);
    assert_eq!(p.a.session.detection_time(), 900 * MS);
    let from = p.now;
    p.run_for(Duration::from_secs(60));
    let times = p.a.periodic_since(from);
    let gaps: Vec<_> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.len() > 190, "{} packets in 60 s", gaps.len());
    let (min, max) = (*gaps.iter().min().unwrap(), *gaps.iter().max().unwrap());
    assert!(min >= 225 * MS && max <= 300 * MS, "gaps {min:?}..{max:?}");
    assert!(
        min < 235 * MS && max > 290 * MS,
        "jitter spans too little: {min:?}..{max:?}"
    );
    assert!(p.a.changes_since(from).is_empty());
}

#[test]
fn the_slower_side_sets_the_interval() {
    let fast = SessionConfig {
        desired_min_tx: 100 * MS,
        required_min_rx: 100 * MS,
        ..SessionConfig::default()
    };
    let slow_rx = SessionConfig {
        required_min_rx: 500 * MS,
        ..SessionConfig::default()
    };
    let p = up_pair(fast, slow_rx);
    // a sends no faster than b can receive; b sends at its own 300 ms
    assert_eq!(p.a.session.negotiated_tx_interval(), 500 * MS);
    assert_eq!(p.b.session.negotiated_tx_interval(), 300 * MS);
    // a detects b after 3 × max(100 ms, b's 300 ms)
    assert_eq!(p.a.session.negotiated_rx_interval(), 300 * MS);
    assert_eq!(p.a.session.detection_time(), 900 * MS);
    assert_eq!(p.b.session.detection_time(), 1500 * MS);
}

#[test]
fn with_multiplier_one_the_jitter_is_10_to_25_percent() {
    let one = SessionConfig {
        detect_mult: 1,
        ..SessionConfig::default()
    };
    let mut p = up_pair(one, SessionConfig::default());
    let from = p.now;
    p.run_for(Duration::from_secs(30));
    let times = p.a.periodic_since(from);
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(gap >= 225 * MS && gap <= 270 * MS, "gap {gap:?}");
    }
}

#[test]
fn one_way_loss_takes_the_listener_down_within_the_detection_time_and_recovers() {
    let mut p = up_pair(SessionConfig::default(), SessionConfig::default());
    let cut = p.now;
    p.b.drop_outgoing = true;
    let took = p
        .run_until_cond(Duration::from_secs(5), |p| {
            p.a.session.state() == State::Down
        })
        .expect("a goes down");
    // detection time 3 × 300 ms, counted from the last packet before the cut
    assert!(took <= 900 * MS, "took {took:?}");
    assert_eq!(
        p.a.changes_since(cut),
        vec![(State::Up, State::Down, Diag::ControlDetectionTimeExpired)]
    );
    assert_eq!(p.a.session.remote_discriminator(), 0, "remote forgotten");
    assert_eq!(p.a.session.counters().detection_timeouts, 1);
    // b still hears a, which says Down: b goes down too, told by its neighbour
    p.run_for(10 * MS);
    assert_eq!(
        p.b.changes_since(cut),
        vec![(State::Up, State::Down, Diag::NeighborSignaledSessionDown)]
    );
    let down = p.b.events.iter().rev().find_map(|(_, e)| match e {
        e @ Event::StateChanged { .. } => Some(*e),
        _ => None,
    });
    assert!(down.unwrap().is_failure(p.b.session.remote_state()));
    // recovery when the loss ends
    p.b.drop_outgoing = false;
    let took = p
        .run_until_cond(Duration::from_secs(5), both_up)
        .expect("recovers");
    assert!(took <= Duration::from_secs(2), "took {took:?}");
}

#[test]
fn set_config_changes_intervals_with_poll_and_final_without_a_flap() {
    let mut p = up_pair(SessionConfig::default(), SessionConfig::default());
    let from = p.now;
    let slower = SessionConfig {
        desired_min_tx: 600 * MS,
        required_min_rx: 200 * MS,
        ..SessionConfig::default()
    };
    p.a.session.set_config(p.now, slower).unwrap();
    // §6.8.3: the TX increase and the RX decrease wait for the Final
    assert!(p.a.session.is_polling());
    assert_eq!(p.a.session.negotiated_tx_interval(), 300 * MS);
    assert_eq!(p.a.session.detection_time(), 900 * MS);
    p.run_for(Duration::from_secs(5));
    assert!(!p.a.session.is_polling());
    assert_eq!(p.a.session.negotiated_tx_interval(), 600 * MS);
    assert_eq!(p.a.session.detection_time(), 900 * MS, "3 × b's 300 ms TX");
    assert_eq!(p.b.session.detection_time(), 1800 * MS);
    assert_eq!(p.b.session.negotiated_tx_interval(), 300 * MS);
    // a sent Polls, b answered with Final, never both bits
    let polls =
        p.a.sent
            .iter()
            .filter(|(t, x)| *t >= from && x.poll)
            .count();
    let finals =
        p.b.sent
            .iter()
            .filter(|(t, x)| *t >= from && x.final_)
            .count();
    assert!(polls >= 1 && finals >= 1, "polls {polls}, finals {finals}");
    for (_, x) in p.a.sent.iter().chain(&p.b.sent) {
        assert!(!(x.poll && x.final_));
    }
    assert!(p.a.changes_since(from).is_empty() && p.b.changes_since(from).is_empty());
    // and back down to faster timers, again without a flap
    p.a.session
        .set_config(p.now, SessionConfig::default())
        .unwrap();
    assert_eq!(
        p.a.session.negotiated_tx_interval(),
        300 * MS,
        "a decrease applies at once"
    );
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.b.session.detection_time(), 900 * MS);
    assert!(p.a.changes_since(from).is_empty() && p.b.changes_since(from).is_empty());
}

#[test]
fn a_poll_is_answered_at_once() {
    let mut p = up_pair(SessionConfig::default(), SessionConfig::default());
    let at = p.now;
    p.a.session
        .set_config(
            p.now,
            SessionConfig {
                desired_min_tx: 400 * MS,
                ..SessionConfig::default()
            },
        )
        .unwrap();
    p.run_for(10 * MS);
    let first = |sent: &[(Instant, ControlPacket)], f: fn(&ControlPacket) -> bool| {
        sent.iter().find(|(t, x)| *t >= at && f(x)).map(|(t, _)| *t)
    };
    let poll = first(&p.a.sent, |x| x.poll).expect("a polls at once");
    let fin = first(&p.b.sent, |x| x.final_).expect("b answers");
    assert_eq!(
        fin - poll,
        p.delay,
        "the Final waits for nothing but the link"
    );
}

#[test]
fn admin_down_takes_the_other_side_down_without_a_failure() {
    let mut p = up_pair(SessionConfig::default(), SessionConfig::default());
    let from = p.now;
    p.a.session.set_admin_down(p.now, true);
    p.run_for(Duration::from_secs(5));
    assert_eq!(p.a.session.state(), State::AdminDown);
    assert_eq!(p.a.session.local_diag(), Diag::AdministrativelyDown);
    assert_eq!(
        p.b.changes_since(from),
        vec![(State::Up, State::Down, Diag::NeighborSignaledSessionDown)],
        "b stays Down while a is AdminDown"
    );
    assert_eq!(p.b.session.remote_state(), State::AdminDown);
    let events: Vec<_> =
        p.b.events
            .iter()
            .filter(|(t, _)| *t >= from)
            .map(|(_, e)| *e)
            .collect();
    assert_eq!(events[0], Event::RemoteAdminDown);
    assert!(!events[1].is_failure(p.b.session.remote_state()));
    assert_eq!(p.b.session.counters().detection_timeouts, 0);
    assert_eq!(p.b.session.counters().down_events, 1);
    // back up
    p.a.session.set_admin_down(p.now, false);
    p.run_until_cond(Duration::from_secs(5), both_up)
        .expect("up again");
}

#[test]
fn passive_side_waits_for_the_active_one() {
    let passive = SessionConfig {
        passive: true,
        ..SessionConfig::default()
    };
    let mut p = Pair::new(passive, passive);
    p.run_for(Duration::from_secs(10));
    assert!(
        p.a.sent.is_empty() && p.b.sent.is_empty(),
        "two passive sides stay silent"
    );
    assert_eq!(p.a.session.poll_timeout(), None);

    let mut p = Pair::new(passive, SessionConfig::default());
    p.run_for(Duration::ZERO);
    // b speaks first; a only answers
    let first_a = p.a.sent.first().map(|(t, _)| *t);
    let first_b =
        p.b.sent
            .first()
            .map(|(t, _)| *t)
            .expect("active side sends at once");
    assert!(first_a.is_none_or(|t| t > first_b));
    p.run_until_cond(Duration::from_secs(5), both_up)
        .expect("up");
}

#[test]
fn a_remote_asking_for_no_packets_gets_none_but_its_answers() {
    let mut p = up_pair(SessionConfig::default(), SessionConfig::default());
    // b turns its receive interval to zero behind the API's back: forge b's packets
    let now = p.now;
    let forged = bfd_wire::ControlPacket {
        poll: true,
        ..vectors::base(State::Up, 3, B_DISCR, A_DISCR, 300_000, 0)
    };
    p.a.session.handle_packet(now, &forged).unwrap();
    let answer =
        p.a.session
            .poll_transmit(now)
            .expect("the Final is still sent");
    assert!(answer.final_ && !answer.poll);
    assert_eq!(
        p.a.session.poll_transmit(now + Duration::from_secs(10)),
        None
    );
}
