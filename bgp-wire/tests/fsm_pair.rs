//! Two sessions talking to each other over a simulated TCP connection, stepped with
//! simulated time: no sockets, no sleeping, hours pass in microseconds.

mod fsm_support;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bgp_wire::iana::Family;
use bgp_wire::message::notification::ErrorKind;
use bgp_wire::session::{
    collision_winner, ConnectionOrigin, DownReason, Event, HoldTime, Session, SessionConfig,
    SessionEvent, SessionState, StopReason,
};

use fsm_support::*;

/// A Down event as (reason, code/subcode sent, code/subcode received).
type Down = (DownReason, Option<(u8, u8)>, Option<(u8, u8)>);

/// One end of the simulated connection.
struct Side {
    session: Session,
    /// Every event the session produced, in order.
    events: Vec<SessionEvent>,
    /// When set, whatever this side transmits is lost (a peer gone silent).
    muted: bool,
}

impl Side {
    fn new(session: Session) -> Self {
        Side {
            session,
            events: Vec::new(),
            muted: false,
        }
    }

    fn state(&self) -> SessionState {
        self.session.state()
    }

    /// The Down events seen so far.
    fn downs(&self) -> Vec<Down> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Down {
                    reason,
                    sent,
                    received,
                } => Some((
                    reason.clone(),
                    sent.as_ref().map(|n| n.error.code_subcode()),
                    received.as_ref().map(|n| n.error.code_subcode()),
                )),
                _ => None,
            })
            .collect()
    }

    fn count(&self, pred: impl Fn(&SessionEvent) -> bool) -> usize {
        self.events.iter().filter(|e| pred(e)).count()
    }
}

/// Which side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    A,
    B,
}

/// Two sessions and at most one TCP connection between them. A connect request from one
/// side succeeds when the other is in Connect or Active (listening), and fails otherwise.
struct Pair {
    now: Instant,
    a: Side,
    b: Side,
    up: bool,
    a_to_b: VecDeque<Vec<u8>>,
    b_to_a: VecDeque<Vec<u8>>,
}

impl Pair {
    /// A (active) and B with the given configurations, both started.
    fn started(a: SessionConfig, b: SessionConfig) -> Pair {
        let now = Instant::now();
        let mut p = Pair {
            now,
            a: Side::new(Session::new(a, now).unwrap()),
            b: Side::new(Session::new(b, now).unwrap()),
            up: false,
            a_to_b: VecDeque::new(),
            b_to_a: VecDeque::new(),
        };
        p.a.session.handle_event(now, Event::Start);
        p.b.session.handle_event(now, Event::Start);
        p
    }

    /// Two sessions already joined by a connection (for collisions, where the test plays
    /// the I/O layer).
    fn connected(a: Session, b: Session, now: Instant) -> Pair {
        Pair {
            now,
            a: Side::new(a),
            b: Side::new(b),
            up: true,
            a_to_b: VecDeque::new(),
            b_to_a: VecDeque::new(),
        }
    }

    fn side(&mut self, who: Who) -> &mut Side {
        match who {
            Who::A => &mut self.a,
            Who::B => &mut self.b,
        }
    }

    /// Moves transmits onto the wire and acts on events, for both sides; then delivers at
    /// most one message in each direction. Returns whether anything happened.
    fn step(&mut self) -> bool {
        let mut progress = false;
        for who in [Who::A, Who::B] {
            progress |= self.flush(who);
            let events: Vec<SessionEvent> = {
                let side = self.side(who);
                std::iter::from_fn(|| side.session.poll_event()).collect()
            };
            for e in events {
                progress = true;
                self.side(who).events.push(e.clone());
                match e {
                    SessionEvent::Connect => self.connect(who),
                    SessionEvent::Disconnect => self.disconnect(who),
                    _ => {}
                }
            }
        }
        let now = self.now;
        if self.up {
            if let Some(m) = self.a_to_b.pop_front() {
                self.b.session.handle_frame(now, &m);
                progress = true;
            }
            if let Some(m) = self.b_to_a.pop_front() {
                self.a.session.handle_frame(now, &m);
                progress = true;
            }
        }
        progress
    }

    /// Puts `who`'s transmits on the wire (or drops them when muted or unconnected).
    fn flush(&mut self, who: Who) -> bool {
        let up = self.up;
        let (side, wire) = match who {
            Who::A => (&mut self.a, &mut self.a_to_b),
            Who::B => (&mut self.b, &mut self.b_to_a),
        };
        let mut any = false;
        while let Some(m) = side.session.poll_transmit() {
            any = true;
            if up && !side.muted {
                wire.push_back(m);
            }
        }
        any
    }

    fn connect(&mut self, who: Who) {
        if self.up {
            // The other side's connection won the race; this attempt never completes.
            return;
        }
        let now = self.now;
        let (me, other) = match who {
            Who::A => (&mut self.a, &mut self.b),
            Who::B => (&mut self.b, &mut self.a),
        };
        if matches!(other.state(), SessionState::Connect | SessionState::Active) {
            self.up = true;
            me.session
                .handle_event(now, Event::TcpConnected(ConnectionOrigin::Local));
            other
                .session
                .handle_event(now, Event::TcpConnected(ConnectionOrigin::Remote));
        } else {
            me.session.handle_event(now, Event::TcpConnectFailed);
        }
    }

    /// `who` closes: what it wrote reaches the other side, which then sees the close.
    fn disconnect(&mut self, who: Who) {
        if !self.up {
            return;
        }
        self.flush(who);
        self.up = false;
        let now = self.now;
        let (wire, other) = match who {
            Who::A => (&mut self.a_to_b, &mut self.b),
            Who::B => (&mut self.b_to_a, &mut self.a),
        };
        while let Some(m) = wire.pop_front() {
            other.session.handle_frame(now, &m);
        }
        self.a_to_b.clear();
        self.b_to_a.clear();
        let other = match who {
            Who::A => &mut self.b,
            Who::B => &mut self.a,
        };
        other
            .session
            .handle_event(now, Event::TcpClosed { error: None });
    }

    /// Steps until nothing moves.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the pair never settles");
    }

    /// Runs simulated time forward to `now + d`, firing timers as they fall due.
    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            self.settle();
            let next = [self.a.session.poll_timeout(), self.b.session.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    self.a.session.handle_timeout(now);
                    self.b.session.handle_timeout(now);
                }
                _ => break,
            }
        }
        self.now = until;
    }

    /// Both ends see the connection fail at once (a cable pulled).
    fn cut(&mut self) {
        self.up = false;
        self.a_to_b.clear();
        self.b_to_a.clear();
        let now = self.now;
        let error = Some("connection reset".to_string());
        self.a.session.handle_event(
            now,
            Event::TcpClosed {
                error: error.clone(),
            },
        );
        self.b.session.handle_event(now, Event::TcpClosed { error });
    }
}

fn passive(mut c: SessionConfig) -> SessionConfig {
    c.passive = true;
    c
}

fn established(p: &Pair) -> bool {
    p.a.state() == SessionState::Established && p.b.state() == SessionState::Established
}

/// A actively connecting to a passive B, brought to Established.
fn up_pair() -> Pair {
    let mut p = Pair::started(config_a(), passive(config_b()));
    p.settle();
    assert!(
        established(&p),
        "a: {:?}, b: {:?}",
        p.a.state(),
        p.b.state()
    );
    p
}

#[test]
fn open_and_keepalive_exchange_reaches_established() {
    let p = up_pair();
    for (side, peer_id) in [(&p.a, B_ID), (&p.b, A_ID)] {
        let n = side
            .events
            .iter()
            .find_map(|e| match e {
                SessionEvent::Established(n) => Some(n),
                _ => None,
            })
            .expect("Established event");
        assert_eq!(n.peer_id, peer_id);
        assert_eq!(n.hold_time, HoldTime::DEFAULT);
        assert_eq!(n.keepalive_interval, Some(Duration::from_secs(30)));
        assert_eq!(n.families, vec![Family::IPV4_UNICAST]);
        assert!(n.four_octet_as && n.route_refresh);
    }
    assert_eq!(
        p.a.session.connection_origin(),
        Some(ConnectionOrigin::Local)
    );
    assert_eq!(
        p.b.session.connection_origin(),
        Some(ConnectionOrigin::Remote)
    );
    let states: Vec<_> =
        p.a.events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::StateChanged { to, .. } => Some(*to),
                _ => None,
            })
            .collect();
    assert_eq!(
        states,
        vec![
            SessionState::Connect,
            SessionState::OpenSent,
            SessionState::OpenConfirm,
            SessionState::Established
        ]
    );
}

#[test]
fn both_sides_active_still_establish_one_session() {
    let mut p = Pair::started(config_a(), config_b());
    p.settle();
    assert!(established(&p));
}

#[test]
fn keepalives_keep_the_session_up_for_hours() {
    let mut p = up_pair();
    p.run_for(Duration::from_secs(6 * 3600));
    assert!(established(&p));
    let a = p.a.session.snapshot(p.now);
    let b = p.b.session.snapshot(p.now);
    assert_eq!(a.flaps, 0);
    // One KEEPALIVE every 30 s for 6 hours, plus the one that answered the OPEN.
    assert!(
        (720..=722).contains(&a.messages.sent.keepalive),
        "{}",
        a.messages.sent.keepalive
    );
    assert_eq!(a.messages.sent.keepalive, b.messages.received.keepalive);
    assert_eq!(b.messages.sent.keepalive, a.messages.received.keepalive);
    assert_eq!(a.uptime, Some(Duration::from_secs(6 * 3600)));
    assert_eq!(a.downtime, None);
}

#[test]
fn smaller_hold_time_wins_on_both_sides() {
    let mut b = passive(config_b());
    b.hold_time = HoldTime::new(9).unwrap();
    let mut p = Pair::started(config_a(), b);
    p.settle();
    assert!(established(&p));
    for s in [&p.a.session, &p.b.session] {
        let n = s.negotiated().unwrap();
        assert_eq!(n.hold_time.seconds(), 9);
        assert_eq!(n.keepalive_interval, Some(Duration::from_secs(3)));
    }
    p.run_for(Duration::from_secs(3600));
    assert!(established(&p));
}

#[test]
fn hold_timer_expires_when_the_peer_goes_silent() {
    let mut p = up_pair();
    p.run_for(Duration::from_secs(45));
    p.b.muted = true;
    // B's last KEEPALIVE left at 30 s; A's hold timer (90 s) runs out at 120 s.
    p.run_for(Duration::from_secs(74));
    assert!(established(&p), "not yet at 119 s");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.a.state(), SessionState::Idle);
    assert_eq!(p.b.state(), SessionState::Idle);
    assert_eq!(
        p.a.downs(),
        vec![(DownReason::HoldTimerExpired, Some((4, 0)), None)]
    );
    assert_eq!(
        p.b.downs(),
        vec![(DownReason::NotificationReceived, None, Some((4, 0)))]
    );
    let a = p.a.session.snapshot(p.now);
    assert_eq!(a.flaps, 1);
    assert_eq!(
        a.last_notification_sent.unwrap().error,
        ErrorKind::HoldTimerExpired
    );
}

#[test]
fn notification_from_the_peer_takes_both_down_and_both_restart() {
    let mut p = up_pair();
    let now = p.now;
    p.a.session.handle_event(
        now,
        Event::Stop(StopReason::AdministrativeReset("reconfigured".into())),
    );
    p.settle();
    assert_eq!(p.a.state(), SessionState::Idle);
    assert_eq!(p.b.state(), SessionState::Idle);
    let (reason, sent, received) = p.b.downs().pop().unwrap();
    assert_eq!(reason, DownReason::NotificationReceived);
    assert_eq!((sent, received), (None, Some((6, 4))));
    let n =
        p.b.session
            .snapshot(p.now)
            .last_notification_received
            .unwrap();
    assert_eq!(n.shutdown_communication().as_deref(), Some("reconfigured"));
    // Both rest for the idle hold time, then A connects again and B, passive, listens.
    p.run_for(Duration::from_secs(6));
    assert!(established(&p));
    for s in [&p.a.session, &p.b.session] {
        let snap = s.snapshot(p.now);
        assert_eq!(snap.flaps, 1);
        assert_eq!(snap.established_count, 2);
    }
}

#[test]
fn administrative_shutdown_keeps_the_stopping_side_down() {
    let mut p = up_pair();
    let now = p.now;
    p.a.session.handle_event(
        now,
        Event::Stop(StopReason::AdministrativeShutdown("bye".into())),
    );
    p.run_for(Duration::from_secs(3600));
    assert_eq!(p.a.state(), SessionState::Idle);
    // B went back to listening after its idle hold; A never came.
    assert_eq!(p.b.state(), SessionState::Active);
    assert_eq!(p.a.count(|e| *e == SessionEvent::Connect), 1);
}

#[test]
fn restarts_after_the_idle_hold_time() {
    let mut p = up_pair();
    p.cut();
    p.settle();
    assert_eq!(p.a.state(), SessionState::Idle);
    assert_eq!(
        p.a.downs(),
        vec![(
            DownReason::ConnectionClosed {
                error: Some("connection reset".into())
            },
            None,
            None
        )]
    );
    p.run_for(Duration::from_millis(4900));
    assert_eq!(p.a.state(), SessionState::Idle, "still in the idle hold");
    p.run_for(Duration::from_millis(100));
    assert!(established(&p));
    assert_eq!(p.a.count(|e| *e == SessionEvent::Connect), 2);
}

#[test]
fn connect_failures_retry_after_the_connect_retry_time() {
    // B is not started: every attempt of A fails.
    let now = Instant::now();
    let mut p = Pair::started(config_a(), config_b());
    p.b = Side::new(Session::new(config_b(), now).unwrap());
    p.run_for(Duration::from_secs(1000));
    let attempts = p.a.count(|e| *e == SessionEvent::Connect);
    // 120 s jittered to 90–120 s: between 8 and 12 attempts in 1000 s.
    assert!((8..=12).contains(&attempts), "{attempts} attempts");
    assert_eq!(p.a.state(), SessionState::Active);
    // Once B starts, A's next attempt succeeds.
    let now = p.now;
    p.b.session.handle_event(now, Event::Start);
    p.run_for(Duration::from_secs(120));
    assert!(established(&p));
}

#[test]
fn passive_side_never_connects() {
    let mut p = Pair::started(passive(config_a()), passive(config_b()));
    p.run_for(Duration::from_secs(24 * 3600));
    assert_eq!(p.a.state(), SessionState::Active);
    assert_eq!(p.b.state(), SessionState::Active);
    assert_eq!(p.a.count(|e| *e == SessionEvent::Connect), 0);
    assert_eq!(p.b.count(|e| *e == SessionEvent::Connect), 0);
    assert!(!p.up);
}

#[test]
fn rejects_bad_peer_as() {
    let mut b = passive(config_b());
    b.local_as = 65003;
    let mut p = Pair::started(config_a(), b);
    p.settle();
    // A expects AS 65002 and refuses B's OPEN with 2/2; B (which accepted A's OPEN) hears
    // that NOTIFICATION and goes down too.
    assert_eq!(p.a.downs()[0].1, Some((2, 2)));
    assert!(p
        .b
        .downs()
        .iter()
        .any(|(_, _, received)| *received == Some((2, 2))));
    assert_eq!(p.a.session.snapshot(p.now).established_count, 0);
    assert_eq!(p.b.session.snapshot(p.now).established_count, 0);
}

/// A session under test against a peer played by hand.
fn against_script(peer_open: Vec<u8>) -> (Session, Instant, Vec<Sent>) {
    let t0 = Instant::now();
    let mut s = Session::new(config_a(), t0).unwrap();
    s.handle_event(t0, Event::Start);
    s.handle_event(t0, Event::TcpConnected(ConnectionOrigin::Local));
    let _ = drain(&mut s);
    s.handle_frame(t0, &peer_open);
    let (sent, _) = drain(&mut s);
    (s, t0, sent)
}

#[test]
fn rejects_hold_time_of_one() {
    let (s, _, sent) = against_script(open_bytes(open_from_b(1)));
    assert_eq!(sent, vec![Sent::Notification(2, 6)]);
    assert_eq!(s.state(), SessionState::Idle);
}

#[test]
fn rejects_hold_time_of_two() {
    let (s, t0, sent) = against_script(open_bytes(open_from_b(2)));
    assert_eq!(sent, vec![Sent::Notification(2, 6)]);
    assert_eq!(s.state(), SessionState::Idle);
    // The refusal is a drop like any other: the session tries again after the idle hold.
    assert_eq!(s.poll_timeout(), Some(at(t0, 5)));
}

#[test]
fn accepts_hold_time_of_three() {
    let (s, _, sent) = against_script(open_bytes(open_from_b(3)));
    assert_eq!(sent, vec![Sent::Keepalive]);
    assert_eq!(
        s.negotiated().unwrap().keepalive_interval,
        Some(Duration::from_secs(1))
    );
}

/// Both speakers connect at once (RFC 4271 §6.8). The test plays both I/O layers: each
/// runs a second session for the incoming connection and, once both of its sessions have
/// the peer's OPEN, asks `collision_winner` which to keep.
fn collide(a_cfg: SessionConfig, b_cfg: SessionConfig) -> (Pair, Pair) {
    let now = Instant::now();
    let (a_id, a_as, b_id, b_as) = (
        a_cfg.router_id,
        a_cfg.local_as,
        b_cfg.router_id,
        b_cfg.local_as,
    );
    let mut a_out = Session::new(a_cfg.clone(), now).unwrap();
    a_out.handle_event(now, Event::Start);
    a_out.handle_event(now, Event::TcpConnected(ConnectionOrigin::Local));
    let mut b_out = Session::new(b_cfg.clone(), now).unwrap();
    b_out.handle_event(now, Event::Start);
    b_out.handle_event(now, Event::TcpConnected(ConnectionOrigin::Local));
    // Link 1: A's outgoing connection, accepted by B. Link 2: the reverse.
    let mut l1 = Pair::connected(a_out, Session::accept(b_cfg, now).unwrap(), now);
    let mut l2 = Pair::connected(Session::accept(a_cfg, now).unwrap(), b_out, now);
    let mut decided = [false, false];
    for _ in 0..100 {
        let progress = l1.step() | l2.step();
        // Speaker A holds l1.a (outgoing) and l2.a (incoming).
        if !decided[0] && l1.a.session.negotiated().is_some() && l2.a.session.negotiated().is_some()
        {
            decided[0] = true;
            let t = l1.now;
            match collision_winner(a_id, a_as, b_id, b_as) {
                ConnectionOrigin::Local => l2.a.session.handle_event(t, Event::CollisionLost),
                ConnectionOrigin::Remote => l1.a.session.handle_event(t, Event::CollisionLost),
            }
        }
        // Speaker B holds l2.b (outgoing) and l1.b (incoming).
        if !decided[1] && l1.b.session.negotiated().is_some() && l2.b.session.negotiated().is_some()
        {
            decided[1] = true;
            let t = l1.now;
            match collision_winner(b_id, b_as, a_id, a_as) {
                ConnectionOrigin::Local => l1.b.session.handle_event(t, Event::CollisionLost),
                ConnectionOrigin::Remote => l2.b.session.handle_event(t, Event::CollisionLost),
            }
        }
        if !progress {
            break;
        }
    }
    assert_eq!(decided, [true, true], "both speakers saw the collision");
    (l1, l2)
}

#[test]
fn collision_keeps_the_connection_of_the_larger_identifier() {
    // B has the larger identifier: the connection B opened (link 2) survives.
    let (l1, l2) = collide(config_a(), passive_free(config_b()));
    assert!(
        established(&l2),
        "link 2: {:?} / {:?}",
        l2.a.state(),
        l2.b.state()
    );
    assert_eq!(l1.a.state(), SessionState::Idle);
    assert_eq!(l1.b.state(), SessionState::Idle);
    for side in [&l1.a, &l1.b] {
        let downs = side.downs();
        assert!(
            downs
                .iter()
                .any(|d| d.0 == DownReason::CollisionLost && d.1 == Some((6, 7))),
            "{downs:?}"
        );
    }
}

#[test]
fn collision_is_decided_the_same_way_from_both_ends() {
    // Swap the identifiers: now A's connection (link 1) survives.
    let mut a = config_a();
    let mut b = config_b();
    a.router_id = B_ID;
    b.router_id = A_ID;
    let (l1, l2) = collide(a, b);
    assert!(established(&l1));
    assert_eq!(l2.a.state(), SessionState::Idle);
    assert_eq!(l2.b.state(), SessionState::Idle);
}

/// A configuration that initiates (the collision needs both sides active).
fn passive_free(mut c: SessionConfig) -> SessionConfig {
    c.passive = false;
    c
}

#[test]
fn updates_flow_once_established() {
    let mut p = up_pair();
    let now = p.now;
    p.a.session.send_update(now, end_of_rib_ipv4()).unwrap();
    p.settle();
    let got: Vec<_> =
        p.b.events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::UpdateReceived(u) => Some(u.end_of_rib),
                _ => None,
            })
            .collect();
    assert_eq!(got, vec![Some(Family::IPV4_UNICAST)]);
    assert_eq!(p.b.session.snapshot(p.now).messages.received.update, 1);
    assert_eq!(p.a.session.snapshot(p.now).messages.sent.update, 1);
}
