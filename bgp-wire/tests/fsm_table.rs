//! The session FSM as a table: (state, input) → (next state, messages sent), one row per
//! transition of RFC 4271 §8.2.2 that porter implements, including every state's catch-all
//! with its RFC 6608 subcode. Named tests below the table check what a row cannot show
//! (events, timers, counters).

mod fsm_support;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_wire::capability::{AddPathEntry, AddPathMode};
use bgp_wire::iana::{Family, AS_TRANS};
use bgp_wire::message::notification::{CeaseSubcode, ErrorKind};
use bgp_wire::message::open::OptionalParam;
use bgp_wire::message::route_refresh::RefreshSubtype;
use bgp_wire::message::update::Treatment;
use bgp_wire::message::{decode_message, Message};
use bgp_wire::session::{
    ConnectionOrigin, DownReason, Event, GracefulRestartConfig, HoldTime, SendError, Session,
    SessionConfig, SessionEvent, SessionState, StopReason,
};
use bgp_wire::CodecContext;

use fsm_support::*;

/// Where a row starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// Never started.
    Idle,
    /// Started, and our connection attempt is pending.
    Connect,
    /// Started, the connection attempt failed; the connect-retry timer runs.
    Active,
    /// Passive, started: waits for the peer without a connect-retry timer.
    ActivePassive,
    /// Connected, our OPEN sent.
    OpenSent,
    /// The peer's OPEN (hold 90) accepted, our KEEPALIVE sent.
    OpenConfirm,
    /// The peer's KEEPALIVE received.
    Established,
}

/// What a row feeds in.
#[derive(Clone, Debug)]
enum In {
    Event(Event),
    Frame(&'static str, Vec<u8>),
    /// Let this many seconds pass, firing each timer as it falls due, as an I/O loop would.
    Advance(u64),
}

struct Row {
    from: At,
    input: In,
    to: SessionState,
    sent: Vec<Sent>,
}

fn row(from: At, input: In, to: SessionState, sent: &[Sent]) -> Row {
    Row {
        from,
        input,
        to,
        sent: sent.to_vec(),
    }
}

fn frame(name: &'static str, bytes: Vec<u8>) -> In {
    In::Frame(name, bytes)
}

fn ev(e: Event) -> In {
    In::Event(e)
}

/// A session in `from`, with its outputs drained, and the time it got there.
fn setup(from: At) -> (Session, Instant) {
    let t0 = Instant::now();
    let mut cfg = config_a();
    cfg.passive = from == At::ActivePassive;
    let mut s = Session::new(cfg, t0).unwrap();
    if from != At::Idle {
        s.handle_event(t0, Event::Start);
    }
    match from {
        At::Active => s.handle_event(t0, Event::TcpConnectFailed),
        At::OpenSent | At::OpenConfirm | At::Established => {
            s.handle_event(t0, Event::TcpConnected(ConnectionOrigin::Local))
        }
        _ => {}
    }
    if matches!(from, At::OpenConfirm | At::Established) {
        s.handle_frame(t0, &open_bytes(open_from_b(90)));
    }
    if from == At::Established {
        s.handle_frame(t0, &keepalive());
    }
    let want = match from {
        At::Idle => SessionState::Idle,
        At::Connect => SessionState::Connect,
        At::Active | At::ActivePassive => SessionState::Active,
        At::OpenSent => SessionState::OpenSent,
        At::OpenConfirm => SessionState::OpenConfirm,
        At::Established => SessionState::Established,
    };
    assert_eq!(s.state(), want, "setup of {from:?}");
    let _ = drain(&mut s);
    (s, t0)
}

/// Runs `input` on `s` at `now`.
fn apply(s: &mut Session, now: Instant, input: &In) {
    match input {
        In::Event(e) => s.handle_event(now, e.clone()),
        In::Frame(_, b) => s.handle_frame(now, b),
        In::Advance(secs) => advance(s, now + Duration::from_secs(*secs)),
    }
}

/// Fires every timer due up to `until`, in order.
fn advance(s: &mut Session, until: Instant) {
    while let Some(t) = s.poll_timeout().filter(|t| *t <= until) {
        s.handle_timeout(t);
    }
}

fn stop() -> Event {
    Event::Stop(StopReason::AdministrativeShutdown("maintenance".into()))
}

fn closed() -> Event {
    Event::TcpClosed { error: None }
}

fn fsm(sub: u8) -> Sent {
    Sent::Notification(5, sub)
}

fn open_with(f: impl FnOnce(&mut bgp_wire::message::OpenMsg)) -> Vec<u8> {
    let mut o = open_from_b(90);
    f(&mut o);
    open_bytes(o)
}

/// An OPEN of version 3: the rest of the body is that of a valid OPEN.
fn open_version_3() -> Vec<u8> {
    let mut b = open_bytes(open_from_b(90));
    b[19] = 3;
    b
}

fn cease_frame() -> Vec<u8> {
    notification(ErrorKind::Cease(CeaseSubcode::ADMINISTRATIVE_SHUTDOWN))
}

fn bad_marker() -> Vec<u8> {
    let mut k = keepalive();
    k[0] = 0;
    k
}

/// The table, except rows that decode an UPDATE body (see [`update_rows`]).
#[rustfmt::skip]
fn rows() -> Vec<Row> {
    use At::*;
    use SessionState as S;
    let ka = Sent::Keepalive;
    let v4 = Family::IPV4_UNICAST;
    vec![
        // Idle: only a start moves it; it refuses connections and ignores the rest
        // (RFC 4271 §8.2.2), with no connection to send an FSM error on.
        row(Idle, ev(Event::Start), S::Connect, &[]),
        row(Idle, ev(stop()), S::Idle, &[]),
        row(Idle, ev(Event::TcpConnected(ConnectionOrigin::Remote)), S::Idle, &[]),
        row(Idle, ev(Event::TcpConnectFailed), S::Idle, &[]),
        row(Idle, ev(closed()), S::Idle, &[]),
        row(Idle, ev(Event::CollisionLost), S::Idle, &[]),
        row(Idle, frame("OPEN", open_bytes(open_from_b(90))), S::Idle, &[]),
        row(Idle, frame("KEEPALIVE", keepalive()), S::Idle, &[]),
        row(Idle, frame("NOTIFICATION", cease_frame()), S::Idle, &[]),
        row(Idle, In::Advance(24 * 3600), S::Idle, &[]),
        // Connect.
        row(Connect, ev(Event::TcpConnected(ConnectionOrigin::Local)), S::OpenSent, &[Sent::Open]),
        row(Connect, ev(Event::TcpConnected(ConnectionOrigin::Remote)), S::OpenSent, &[Sent::Open]),
        row(Connect, ev(Event::TcpConnectFailed), S::Active, &[]),
        row(Connect, ev(closed()), S::Active, &[]),
        row(Connect, In::Advance(120), S::Connect, &[]),
        row(Connect, ev(Event::Start), S::Connect, &[]),
        row(Connect, ev(stop()), S::Idle, &[]),
        // Catch-all: back to Idle; no connection is up to carry 5/0.
        row(Connect, frame("KEEPALIVE", keepalive()), S::Idle, &[]),
        row(Connect, frame("OPEN", open_bytes(open_from_b(90))), S::Idle, &[]),
        row(Connect, ev(Event::CollisionLost), S::Idle, &[]),
        // Active after a failed attempt.
        row(Active, ev(Event::TcpConnected(ConnectionOrigin::Remote)), S::OpenSent, &[Sent::Open]),
        row(Active, In::Advance(120), S::Connect, &[]),
        row(Active, ev(Event::Start), S::Active, &[]),
        row(Active, ev(stop()), S::Idle, &[]),
        row(Active, ev(Event::TcpConnectFailed), S::Idle, &[]),
        row(Active, frame("KEEPALIVE", keepalive()), S::Idle, &[]),
        row(Active, frame("UPDATE", end_of_rib_ipv4()), S::Idle, &[]),
        row(Active, ev(Event::CollisionLost), S::Idle, &[]),
        // Passive Active: no timer ever fires, only the peer's connection moves it.
        row(ActivePassive, In::Advance(24 * 3600), S::Active, &[]),
        row(ActivePassive, ev(Event::TcpConnected(ConnectionOrigin::Remote)), S::OpenSent, &[Sent::Open]),
        // OpenSent: the OPEN checks of RFC 4271 §6.2.
        row(OpenSent, frame("OPEN", open_bytes(open_from_b(90))), S::OpenConfirm, &[ka]),
        row(OpenSent, frame("OPEN hold 0", open_bytes(open_from_b(0))), S::OpenConfirm, &[ka]),
        row(OpenSent, frame("OPEN hold 3", open_bytes(open_from_b(3))), S::OpenConfirm, &[ka]),
        row(OpenSent, frame("OPEN version 3", open_version_3()), S::Idle, &[Sent::Notification(2, 1)]),
        row(OpenSent, frame("OPEN bad peer AS", open_with(|o| {
            o.my_as = 65003;
            o.params = vec![];
        })), S::Idle, &[Sent::Notification(2, 2)]),
        row(OpenSent, frame("OPEN 4-octet AS mismatch", open_bytes(
            bgp_wire::message::OpenMsg::builder(65003, B_ID).build(),
        )), S::Idle, &[Sent::Notification(2, 2)]),
        row(OpenSent, frame("OPEN 4-octet AS without AS_TRANS", open_with(|o| {
            o.my_as = 64000;
            o.params = vec![OptionalParam::Capabilities(vec![
                bgp_wire::capability::Capability::FourOctetAs(4_200_000_000),
            ])];
        })), S::Idle, &[Sent::Notification(2, 2)]),
        row(OpenSent, frame("OPEN id 0", open_with(|o| o.bgp_id = Ipv4Addr::UNSPECIFIED)), S::Idle, &[Sent::Notification(2, 3)]),
        row(OpenSent, frame("OPEN optional parameter 1", open_with(|o| {
            o.params.push(OptionalParam::Unknown { kind: 1, value: vec![0] })
        })), S::Idle, &[Sent::Notification(2, 4)]),
        row(OpenSent, frame("OPEN hold 1", open_bytes(open_from_b(1))), S::Idle, &[Sent::Notification(2, 6)]),
        row(OpenSent, frame("OPEN hold 2", open_bytes(open_from_b(2))), S::Idle, &[Sent::Notification(2, 6)]),
        row(OpenSent, frame("NOTIFICATION", cease_frame()), S::Idle, &[]),
        row(OpenSent, frame("bad marker", bad_marker()), S::Idle, &[Sent::Notification(1, 1)]),
        row(OpenSent, frame("bad type", raw(9, &[])), S::Idle, &[Sent::Notification(1, 3)]),
        row(OpenSent, frame("KEEPALIVE with a body", raw(4, &[0])), S::Idle, &[Sent::Notification(1, 2)]),
        row(OpenSent, In::Advance(240), S::Idle, &[Sent::Notification(4, 0)]),
        row(OpenSent, In::Advance(239), S::OpenSent, &[]),
        row(OpenSent, ev(stop()), S::Idle, &[Sent::Notification(6, 2)]),
        row(OpenSent, ev(Event::CollisionLost), S::Idle, &[Sent::Notification(6, 7)]),
        row(OpenSent, ev(closed()), S::Idle, &[]),
        row(OpenSent, ev(Event::TcpConnectFailed), S::Idle, &[]),
        row(OpenSent, ev(Event::Start), S::OpenSent, &[]),
        row(OpenSent, ev(Event::TcpConnected(ConnectionOrigin::Remote)), S::OpenSent, &[]),
        // OpenSent catch-all: RFC 6608 subcode 1.
        row(OpenSent, frame("KEEPALIVE", keepalive()), S::Idle, &[fsm(1)]),
        row(OpenSent, frame("UPDATE", end_of_rib_ipv4()), S::Idle, &[fsm(1)]),
        row(OpenSent, frame("ROUTE-REFRESH", route_refresh(v4)), S::Idle, &[fsm(1)]),
        // OpenConfirm.
        row(OpenConfirm, frame("KEEPALIVE", keepalive()), S::Established, &[]),
        row(OpenConfirm, frame("NOTIFICATION", cease_frame()), S::Idle, &[]),
        row(OpenConfirm, In::Advance(30), S::OpenConfirm, &[ka]),
        row(OpenConfirm, In::Advance(90), S::Idle, &[ka, ka, Sent::Notification(4, 0)]),
        row(OpenConfirm, ev(stop()), S::Idle, &[Sent::Notification(6, 2)]),
        row(OpenConfirm, ev(Event::CollisionLost), S::Idle, &[Sent::Notification(6, 7)]),
        row(OpenConfirm, ev(closed()), S::Idle, &[]),
        row(OpenConfirm, ev(Event::Start), S::OpenConfirm, &[]),
        row(OpenConfirm, frame("bad marker", bad_marker()), S::Idle, &[Sent::Notification(1, 1)]),
        // OpenConfirm catch-all: RFC 6608 subcode 2.
        row(OpenConfirm, frame("OPEN", open_bytes(open_from_b(90))), S::Idle, &[fsm(2)]),
        row(OpenConfirm, frame("UPDATE", end_of_rib_ipv4()), S::Idle, &[fsm(2)]),
        row(OpenConfirm, frame("ROUTE-REFRESH", route_refresh(v4)), S::Idle, &[fsm(2)]),
        // Established.
        row(Established, frame("KEEPALIVE", keepalive()), S::Established, &[]),
        row(Established, frame("ROUTE-REFRESH", route_refresh(v4)), S::Established, &[]),
        row(Established, frame("ROUTE-REFRESH for IPv6", route_refresh(Family::IPV6_UNICAST)), S::Established, &[]),
        row(Established, frame("ROUTE-REFRESH of 5 bytes", raw(5, &[0, 1, 0, 1, 0])), S::Idle, &[Sent::Notification(7, 1)]),
        row(Established, frame("NOTIFICATION", cease_frame()), S::Idle, &[]),
        row(Established, In::Advance(30), S::Established, &[ka]),
        row(Established, In::Advance(89), S::Established, &[ka, ka]),
        row(Established, In::Advance(90), S::Idle, &[ka, ka, Sent::Notification(4, 0)]),
        row(Established, ev(stop()), S::Idle, &[Sent::Notification(6, 2)]),
        row(Established, ev(Event::Stop(StopReason::PeerDeconfigured)), S::Idle, &[Sent::Notification(6, 3)]),
        row(Established, ev(Event::Stop(StopReason::AdministrativeReset(String::new()))), S::Idle, &[Sent::Notification(6, 4)]),
        row(Established, ev(Event::Stop(StopReason::ConfigurationChange)), S::Idle, &[Sent::Notification(6, 6)]),
        row(Established, ev(Event::CollisionLost), S::Idle, &[Sent::Notification(6, 7)]),
        row(Established, ev(closed()), S::Idle, &[]),
        row(Established, ev(Event::TcpConnectFailed), S::Idle, &[]),
        row(Established, ev(Event::Start), S::Established, &[]),
        row(Established, ev(Event::TcpConnected(ConnectionOrigin::Remote)), S::Established, &[]),
        row(Established, frame("bad marker", bad_marker()), S::Idle, &[Sent::Notification(1, 1)]),
        row(Established, frame("bad type", raw(0, &[])), S::Idle, &[Sent::Notification(1, 3)]),
        // Established catch-all: RFC 6608 subcode 3.
        row(Established, frame("OPEN", open_bytes(open_from_b(90))), S::Idle, &[fsm(3)]),
    ]
}

/// Rows that decode an UPDATE body in Established (RFC 7606 outcomes).
#[rustfmt::skip]
fn update_rows() -> Vec<Row> {
    use At::*;
    use SessionState as S;
    vec![
        row(Established, frame("End-of-RIB", end_of_rib_ipv4()), S::Established, &[]),
        // Withdrawn Routes Length overruns the message: RFC 7606 §3 (a) leaves only a
        // session reset.
        row(Established, frame("UPDATE with a withdrawn length overrun", raw(2, &[0xff, 0xff, 0, 0])), S::Idle, &[Sent::Notification(3, 1)]),
    ]
}

fn run(rows: Vec<Row>) {
    let mut failed = Vec::new();
    for r in &rows {
        let (mut s, t0) = setup(r.from);
        apply(&mut s, t0, &r.input);
        let (sent, _) = drain(&mut s);
        if s.state() != r.to || sent != r.sent {
            let input = match &r.input {
                In::Frame(name, _) => format!("frame {name}"),
                other => format!("{other:?}"),
            };
            failed.push(format!(
                "{:?} + {input}: got {:?} sending {sent:?}, want {:?} sending {:?}",
                r.from,
                s.state(),
                r.to,
                r.sent
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} rows failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn transition_table() {
    run(rows());
}

#[test]
fn transition_table_update_rows() {
    run(update_rows());
}

#[test]
fn table_covers_every_state_and_each_catch_all() {
    let rows = rows();
    for f in [
        At::Idle,
        At::Connect,
        At::Active,
        At::ActivePassive,
        At::OpenSent,
        At::OpenConfirm,
        At::Established,
    ] {
        assert!(rows.iter().any(|r| r.from == f), "no row for {f:?}");
    }
    for (f, sub) in [
        (At::OpenSent, 1),
        (At::OpenConfirm, 2),
        (At::Established, 3),
    ] {
        assert!(
            rows.iter().any(|r| r.from == f && r.sent == [fsm(sub)]),
            "no FSM-error row for {f:?}"
        );
    }
}

fn events(s: &mut Session) -> Vec<SessionEvent> {
    drain(s).1
}

#[test]
fn start_requests_a_connection() {
    let t0 = Instant::now();
    let mut s = Session::new(config_a(), t0).unwrap();
    assert_eq!(s.poll_timeout(), None);
    s.handle_event(t0, Event::Start);
    let ev = events(&mut s);
    assert_eq!(
        ev,
        vec![
            SessionEvent::Connect,
            SessionEvent::StateChanged {
                from: SessionState::Idle,
                to: SessionState::Connect
            }
        ]
    );
    // The connect-retry timer runs 75–100 % of 120 s.
    let t = s.poll_timeout().unwrap() - t0;
    assert!(
        t >= Duration::from_secs(90) && t <= Duration::from_secs(120),
        "{t:?}"
    );
}

#[test]
fn connect_retry_expiry_abandons_and_retries_the_connection() {
    let (mut s, t0) = setup(At::Connect);
    let first = s.poll_timeout().unwrap();
    s.handle_timeout(first);
    assert_eq!(
        events(&mut s),
        vec![SessionEvent::Disconnect, SessionEvent::Connect]
    );
    let second = s.poll_timeout().unwrap();
    assert!(second - first >= Duration::from_secs(90));
    assert!(first - t0 <= Duration::from_secs(120));
}

#[test]
fn connect_retry_timer_is_jittered_by_the_seed() {
    let t0 = Instant::now();
    let mut a = config_a();
    let mut b = config_a();
    a.seed = 1;
    b.seed = 2;
    let mut sa = Session::new(a, t0).unwrap();
    let mut sb = Session::new(b, t0).unwrap();
    sa.handle_event(t0, Event::Start);
    sb.handle_event(t0, Event::Start);
    assert_ne!(sa.poll_timeout(), sb.poll_timeout());
}

#[test]
fn passive_start_waits_in_active_without_connecting() {
    let (mut s, t0) = setup(At::ActivePassive);
    assert_eq!(s.poll_timeout(), None);
    advance(&mut s, at(t0, 7 * 24 * 3600));
    assert!(events(&mut s).is_empty());
    assert_eq!(s.state(), SessionState::Active);
}

#[test]
fn messages_arriving_in_idle_are_counted_as_discarded() {
    let (mut s, t0) = setup(At::Established);
    s.handle_event(t0, closed());
    s.handle_frame(t0, &keepalive());
    let m = s.snapshot(t0).messages.received;
    assert_eq!((m.keepalive, m.discarded), (2, 1));
    assert_eq!(s.state(), SessionState::Idle);
}

#[test]
fn idle_refuses_incoming_connections() {
    let t0 = Instant::now();
    let mut s = Session::new(config_a(), t0).unwrap();
    s.handle_event(t0, Event::TcpConnected(ConnectionOrigin::Remote));
    assert_eq!(events(&mut s), vec![SessionEvent::Disconnect]);
    assert_eq!(s.state(), SessionState::Idle);
}

#[test]
fn established_reports_the_negotiated_session() {
    let (mut s, t0) = setup(At::OpenSent);
    s.handle_frame(t0, &open_bytes(open_from_b(30)));
    s.handle_frame(t0, &keepalive());
    let ev = events(&mut s);
    let n = ev
        .iter()
        .find_map(|e| match e {
            SessionEvent::Established(n) => Some(n.clone()),
            _ => None,
        })
        .expect("Established event");
    assert_eq!(n.hold_time, HoldTime::new(30).unwrap());
    assert_eq!(n.keepalive_interval, Some(Duration::from_secs(10)));
    assert_eq!(n.peer_as, B_AS);
    assert_eq!(n.peer_id, B_ID);
    assert_eq!(n.families, vec![Family::IPV4_UNICAST]);
    assert!(n.four_octet_as && n.route_refresh);
    assert_eq!(s.connection_origin(), Some(ConnectionOrigin::Local));
    assert_eq!(s.poll_timeout(), Some(at(t0, 10)));
    let snap = s.snapshot(at(t0, 5));
    assert_eq!(snap.negotiated_hold_time, Some(30));
    assert_eq!(snap.keepalive_interval, Some(Duration::from_secs(10)));
    assert_eq!(snap.uptime, Some(Duration::from_secs(5)));
    assert_eq!(snap.peer_id, Some(B_ID));
}

#[test]
fn hold_time_zero_runs_no_keepalive_and_no_hold_timer() {
    let (mut s, t0) = setup(At::OpenSent);
    s.handle_frame(t0, &open_bytes(open_from_b(0)));
    s.handle_frame(t0, &keepalive());
    assert_eq!(s.state(), SessionState::Established);
    assert_eq!(
        drain(&mut s).0,
        vec![Sent::Keepalive],
        "the OpenSent reply only"
    );
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.negotiated().unwrap().keepalive_interval, None);
    advance(&mut s, at(t0, 30 * 24 * 3600));
    assert_eq!(s.state(), SessionState::Established);
    assert_eq!(drain(&mut s).0, vec![]);
}

#[test]
fn down_reports_the_notification_sent() {
    let (mut s, t0) = setup(At::OpenSent);
    s.handle_frame(t0, &open_bytes(open_from_b(1)));
    let ev = events(&mut s);
    match &ev[0] {
        SessionEvent::Down {
            reason: DownReason::MessageError(_),
            sent: Some(n),
            received: None,
        } => assert_eq!(n.error.code_subcode(), (2, 6)),
        other => panic!("want Down first, got {other:?}"),
    }
    assert_eq!(ev[1], SessionEvent::Disconnect);
    let snap = s.snapshot(t0);
    assert_eq!(
        snap.last_notification_sent.unwrap().error.code_subcode(),
        (2, 6)
    );
}

#[test]
fn down_reports_the_notification_received_with_its_shutdown_communication() {
    let (mut s, t0) = setup(At::Established);
    let n = bgp_wire::message::NotificationMsg::admin_shutdown("upgrade");
    s.handle_frame(t0, &bytes(&Message::Notification(n.clone())));
    let ev = events(&mut s);
    assert!(ev.contains(&SessionEvent::Down {
        reason: DownReason::NotificationReceived,
        sent: None,
        received: Some(n.clone()),
    }));
    let snap = s.snapshot(t0);
    assert_eq!(snap.flaps, 1);
    assert_eq!(
        snap.last_notification_received
            .unwrap()
            .shutdown_communication()
            .as_deref(),
        Some("upgrade")
    );
}

#[test]
fn stop_sends_cease_with_the_shutdown_communication_and_stays_idle() {
    let (mut s, t0) = setup(At::Established);
    s.handle_event(t0, stop());
    let b = s.poll_transmit().unwrap();
    let Ok(Message::Notification(n)) = decode_message(&b, &CodecContext::default()) else {
        panic!("want a NOTIFICATION")
    };
    assert_eq!(
        n.error,
        ErrorKind::Cease(CeaseSubcode::ADMINISTRATIVE_SHUTDOWN)
    );
    assert_eq!(n.shutdown_communication().as_deref(), Some("maintenance"));
    assert_eq!(s.state(), SessionState::Idle);
    assert_eq!(s.poll_timeout(), None, "a stopped session does not restart");
    // A new start needs no idle hold.
    s.handle_event(at(t0, 1), Event::Start);
    assert_eq!(s.state(), SessionState::Connect);
}

#[test]
fn reset_restarts_after_the_idle_hold_time() {
    let (mut s, t0) = setup(At::Established);
    s.handle_event(
        t0,
        Event::Stop(StopReason::AdministrativeReset("new config".into())),
    );
    assert_eq!(s.poll_timeout(), Some(at(t0, 5)));
    // A start during the idle hold does not cut it short.
    s.handle_event(at(t0, 1), Event::Start);
    assert_eq!(s.state(), SessionState::Idle);
    let _ = drain(&mut s);
    s.handle_timeout(at(t0, 5));
    assert_eq!(s.state(), SessionState::Connect);
    assert!(events(&mut s).contains(&SessionEvent::Connect));
}

#[test]
fn counters_follow_the_messages() {
    let (mut s, t0) = setup(At::Established);
    s.handle_frame(t0, &keepalive());
    s.handle_frame(t0, &route_refresh(Family::IPV6_UNICAST));
    advance(&mut s, at(t0, 30));
    let snap = s.snapshot(at(t0, 30));
    let m = snap.messages;
    assert_eq!(m.sent.open, 1);
    assert_eq!(m.sent.keepalive, 2);
    assert_eq!(m.sent.total, 3);
    assert_eq!(m.received.open, 1);
    assert_eq!(m.received.keepalive, 2);
    assert_eq!(m.received.refresh, 1);
    assert_eq!(m.received.discarded, 1, "IPv6 was not negotiated");
    assert_eq!(m.received.total, 4);
    assert_eq!(snap.established_count, 1);
    assert_eq!(snap.configured_hold_time, 90);
}

#[test]
fn route_refresh_request_is_reported_for_a_negotiated_family() {
    let (mut s, t0) = setup(At::Established);
    s.handle_frame(t0, &route_refresh(Family::IPV4_UNICAST));
    assert_eq!(
        events(&mut s),
        vec![SessionEvent::RouteRefreshRequested {
            family: Family::IPV4_UNICAST,
            subtype: RefreshSubtype::Normal
        }]
    );
}

#[test]
fn send_route_refresh_follows_the_negotiated_capabilities() {
    let (mut s, t0) = setup(At::OpenConfirm);
    assert_eq!(
        s.send_route_refresh(t0, Family::IPV4_UNICAST, RefreshSubtype::Normal),
        Err(SendError::NotEstablished(SessionState::OpenConfirm))
    );
    let (mut s, t0) = setup(At::Established);
    assert_eq!(
        s.send_route_refresh(t0, Family::IPV6_UNICAST, RefreshSubtype::Normal),
        Err(SendError::FamilyNotNegotiated(Family::IPV6_UNICAST))
    );
    assert_eq!(
        s.send_route_refresh(t0, Family::IPV4_UNICAST, RefreshSubtype::BeginningOfRefresh),
        Err(SendError::RefreshSubtypeNotAllowed(
            RefreshSubtype::BeginningOfRefresh
        ))
    );
    s.send_route_refresh(t0, Family::IPV4_UNICAST, RefreshSubtype::Normal)
        .unwrap();
    assert_eq!(drain(&mut s).0, vec![Sent::RouteRefresh]);
    assert_eq!(s.snapshot(t0).messages.sent.refresh, 1);
}

#[test]
fn send_update_is_refused_before_established() {
    let (mut s, t0) = setup(At::OpenConfirm);
    assert_eq!(
        s.send_update(t0, end_of_rib_ipv4()),
        Err(SendError::NotEstablished(SessionState::OpenConfirm))
    );
    assert!(s.poll_transmit().is_none());
    assert_eq!(s.snapshot(t0).messages.sent.discarded, 1);
}

#[test]
fn send_update_refuses_other_messages() {
    let (mut s, t0) = setup(At::Established);
    assert_eq!(s.send_update(t0, keepalive()), Err(SendError::NotAnUpdate));
    assert!(matches!(
        s.send_update(t0, bad_marker()),
        Err(SendError::InvalidUpdate(_))
    ));
    assert!(s.poll_transmit().is_none());
}

#[test]
fn send_update_counts_end_of_rib_and_restarts_the_keepalive_timer() {
    let (mut s, t0) = setup(At::Established);
    assert_eq!(s.poll_timeout(), Some(at(t0, 30)));
    s.send_update(at(t0, 20), end_of_rib_ipv4()).unwrap();
    assert_eq!(s.poll_timeout(), Some(at(t0, 50)));
    assert_eq!(drain(&mut s).0, vec![Sent::Update]);
    let snap = s.snapshot(at(t0, 20));
    assert_eq!(snap.messages.sent.update, 1);
    assert_eq!(snap.end_of_rib_sent, vec![Family::IPV4_UNICAST]);
}

#[test]
fn received_end_of_rib_is_reported_and_recorded() {
    let (mut s, t0) = setup(At::Established);
    s.handle_frame(t0, &end_of_rib_ipv4());
    let ev = events(&mut s);
    let [SessionEvent::UpdateReceived(u)] = ev.as_slice() else {
        panic!("want one UpdateReceived, got {ev:?}")
    };
    assert_eq!(u.end_of_rib, Some(Family::IPV4_UNICAST));
    assert_eq!((u.announced, u.withdrawn), (0, 0));
    assert_eq!(
        s.snapshot(t0).end_of_rib_received,
        vec![Family::IPV4_UNICAST]
    );
}

#[test]
fn graceful_restart_bit_is_set_only_until_the_first_establishment() {
    let t0 = Instant::now();
    let mut cfg = config_a();
    cfg.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 120,
        restarting: true,
        forwarding_preserved: true,
    });
    let r_bit = |b: &[u8]| match decode_message(b, &CodecContext::default()) {
        Ok(Message::Open(o)) => o.graceful_restart().unwrap().restart_state,
        other => panic!("want OPEN, got {other:?}"),
    };
    let mut s = Session::new(cfg, t0).unwrap();
    s.handle_event(t0, Event::Start);
    s.handle_event(t0, Event::TcpConnected(ConnectionOrigin::Local));
    assert!(r_bit(&s.poll_transmit().unwrap()));
    s.handle_frame(t0, &open_bytes(open_from_b(90)));
    s.handle_frame(t0, &keepalive());
    assert_eq!(s.state(), SessionState::Established);
    s.handle_event(t0, closed());
    let _ = drain(&mut s);
    s.handle_timeout(at(t0, 5));
    s.handle_event(at(t0, 5), Event::TcpConnected(ConnectionOrigin::Local));
    assert!(!r_bit(&s.poll_transmit().unwrap()));
}

#[test]
fn accepts_a_four_octet_peer_as_behind_as_trans() {
    let t0 = Instant::now();
    let mut cfg = config_a();
    cfg.peer_as = 4_200_000_000;
    let mut s = Session::new(cfg, t0).unwrap();
    s.handle_event(t0, Event::Start);
    s.handle_event(t0, Event::TcpConnected(ConnectionOrigin::Local));
    let open = bgp_wire::message::OpenMsg::builder(4_200_000_000, B_ID).build();
    assert_eq!(open.my_as, AS_TRANS);
    s.handle_frame(t0, &open_bytes(open));
    assert_eq!(s.state(), SessionState::OpenConfirm);
    assert_eq!(s.negotiated().unwrap().peer_as, 4_200_000_000);
}

#[test]
fn accept_sends_open_at_once() {
    let t0 = Instant::now();
    let mut s = Session::accept(config_a(), t0).unwrap();
    assert_eq!(s.state(), SessionState::OpenSent);
    assert_eq!(s.connection_origin(), Some(ConnectionOrigin::Remote));
    assert_eq!(drain(&mut s).0, vec![Sent::Open]);
}

#[test]
fn refuses_configurations_that_cannot_run() {
    let t0 = Instant::now();
    let mut c = config_a();
    c.router_id = Ipv4Addr::UNSPECIFIED;
    assert!(Session::new(c, t0).is_err());
    let mut c = config_a();
    c.families.clear();
    assert!(Session::new(c, t0).is_err());
    let mut c = SessionConfig::new(65001, 0, A_ID);
    c.seed = 1;
    assert!(Session::new(c, t0).is_err());
}

/// An UPDATE body from its three parts, already encoded.
fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    raw(2, &body)
}

const ORIGIN_IGP: &[u8] = &[0x40, 0x01, 0x01, 0x00];
/// AS_PATH of one AS_SEQUENCE [65002], 4-octet (both sides sent the capability).
const AS_PATH_B: &[u8] = &[0x40, 0x02, 0x06, 0x02, 0x01, 0x00, 0x00, 0xfd, 0xea];
const NEXT_HOP_B: &[u8] = &[0x40, 0x03, 0x04, 10, 0, 0, 2];
/// 10.0.0.0/8 and 192.168.0.0/16.
const TWO_PREFIXES: &[u8] = &[8, 10, 16, 192, 168];

fn received(s: &mut Session) -> bgp_wire::session::UpdateSummary {
    let ev = events(s);
    match ev.as_slice() {
        [SessionEvent::UpdateReceived(u)] => u.clone(),
        other => panic!("want one UpdateReceived, got {other:?}"),
    }
}

#[test]
fn accepted_update_is_summarised() {
    let (mut s, t0) = setup(At::Established);
    let attrs = [ORIGIN_IGP, AS_PATH_B, NEXT_HOP_B].concat();
    s.handle_frame(t0, &update(&[], &attrs, TWO_PREFIXES));
    let u = received(&mut s);
    assert_eq!((u.announced, u.withdrawn), (2, 0));
    assert_eq!(u.treatment, Treatment::Accept);
    assert_eq!(u.end_of_rib, None);
    assert!(u.errors.is_empty());
    // An UPDATE restarts the hold timer (RFC 4271 §8.2.2 Established, Event 27).
    s.handle_frame(at(t0, 80), &update(&[], &attrs, TWO_PREFIXES));
    let _ = drain(&mut s);
    advance(&mut s, at(t0, 160));
    assert_eq!(s.state(), SessionState::Established);
}

#[test]
fn withdrawals_are_counted() {
    let (mut s, t0) = setup(At::Established);
    s.handle_frame(t0, &update(TWO_PREFIXES, &[], &[]));
    let u = received(&mut s);
    assert_eq!((u.announced, u.withdrawn), (0, 2));
    let m = s.snapshot(t0).messages.received;
    assert_eq!((m.update, m.withdraw_update, m.withdraw_prefix), (1, 1, 2));
}

#[test]
fn treat_as_withdraw_keeps_the_session_up() {
    // RFC 7606 §3 (d): ORIGIN missing while routes are announced.
    let (mut s, t0) = setup(At::Established);
    let attrs = [AS_PATH_B, NEXT_HOP_B].concat();
    s.handle_frame(t0, &update(&[], &attrs, TWO_PREFIXES));
    assert_eq!(s.state(), SessionState::Established);
    assert!(s.poll_transmit().is_none(), "no NOTIFICATION");
    let u = received(&mut s);
    assert_eq!(u.treatment, Treatment::TreatAsWithdraw);
    assert_eq!(u.announced, 2);
    assert!(!u.errors.is_empty());
}

#[test]
fn attribute_discard_keeps_the_session_up() {
    // RFC 7606 §7.6: ATOMIC_AGGREGATE of the wrong length is discarded.
    let (mut s, t0) = setup(At::Established);
    let attrs = [ORIGIN_IGP, AS_PATH_B, NEXT_HOP_B, &[0x40, 0x06, 0x01, 0x00]].concat();
    s.handle_frame(t0, &update(&[], &attrs, TWO_PREFIXES));
    assert_eq!(s.state(), SessionState::Established);
    let u = received(&mut s);
    assert_eq!(u.treatment, Treatment::AttributeDiscard);
}

#[test]
fn next_hop_equal_to_our_address_is_treated_as_withdraw() {
    let t0 = Instant::now();
    let mut cfg = config_a();
    cfg.local_address = Some("10.0.0.1".parse().unwrap());
    let mut s = Session::new(cfg, t0).unwrap();
    s.handle_event(t0, Event::Start);
    s.handle_event(t0, Event::TcpConnected(ConnectionOrigin::Local));
    s.handle_frame(t0, &open_bytes(open_from_b(90)));
    s.handle_frame(t0, &keepalive());
    let _ = drain(&mut s);
    let attrs = [ORIGIN_IGP, AS_PATH_B, &[0x40, 0x03, 0x04, 10, 0, 0, 1]].concat();
    s.handle_frame(t0, &update(&[], &attrs, TWO_PREFIXES));
    assert_eq!(received(&mut s).treatment, Treatment::TreatAsWithdraw);
}

#[test]
fn fatal_update_error_sends_notification_and_goes_down() {
    // RFC 7606 §5.3: a malformed NLRI field (prefix length 33) resets the session.
    let (mut s, t0) = setup(At::Established);
    let attrs = [ORIGIN_IGP, AS_PATH_B, NEXT_HOP_B].concat();
    s.handle_frame(t0, &update(&[], &attrs, &[33, 10, 0, 0, 0, 0]));
    let (sent, ev) = drain(&mut s);
    assert_eq!(sent, vec![Sent::Notification(3, 10)]);
    assert_eq!(s.state(), SessionState::Idle);
    assert!(matches!(
        ev.first(),
        Some(SessionEvent::Down {
            reason: DownReason::MessageError(_),
            ..
        })
    ));
    assert_eq!(s.snapshot(t0).flaps, 1);
}

#[test]
fn received_updates_are_decoded_with_the_negotiated_add_path_context() {
    let t0 = Instant::now();
    let mut cfg = config_a();
    cfg.add_path = vec![AddPathEntry {
        family: Family::IPV4_UNICAST,
        mode: AddPathMode::Receive,
    }];
    let mut s = Session::new(cfg, t0).unwrap();
    s.handle_event(t0, Event::Start);
    s.handle_event(t0, Event::TcpConnected(ConnectionOrigin::Local));
    let open = bgp_wire::message::OpenMsg::builder(B_AS, B_ID)
        .family(Family::IPV4_UNICAST)
        .add_path(Family::IPV4_UNICAST, AddPathMode::Send)
        .build();
    s.handle_frame(t0, &open_bytes(open));
    s.handle_frame(t0, &keepalive());
    let _ = drain(&mut s);
    let n = s.negotiated().unwrap();
    assert!(n.add_path_receive(Family::IPV4_UNICAST));
    assert!(!n.add_path_send(Family::IPV4_UNICAST));
    // Path ID 7 then 10.0.0.0/8: without the context this would not decode.
    let attrs = [ORIGIN_IGP, AS_PATH_B, NEXT_HOP_B].concat();
    s.handle_frame(t0, &update(&[], &attrs, &[0, 0, 0, 7, 8, 10]));
    assert_eq!(received(&mut s).announced, 1);
}

#[test]
fn extended_message_raises_the_frame_limit_once_negotiated() {
    let t0 = Instant::now();
    let mut cfg = config_a();
    cfg.extended_message = true;
    let mut s = Session::new(cfg, t0).unwrap();
    s.handle_event(t0, Event::Start);
    s.handle_event(t0, Event::TcpConnected(ConnectionOrigin::Local));
    assert_eq!(s.max_frame_len(), 4096);
    let open = bgp_wire::message::OpenMsg::builder(B_AS, B_ID)
        .extended_message()
        .build();
    s.handle_frame(t0, &open_bytes(open));
    assert_eq!(s.max_frame_len(), 65535);
}

#[test]
fn sent_withdrawals_are_counted() {
    let (mut s, t0) = setup(At::Established);
    s.send_update(t0, update(TWO_PREFIXES, &[], &[])).unwrap();
    let m = s.snapshot(t0).messages.sent;
    assert_eq!((m.update, m.withdraw_update, m.withdraw_prefix), (1, 1, 2));
    assert_eq!(s.snapshot(t0).end_of_rib_sent, vec![]);
}

#[test]
fn send_update_refuses_an_update_the_peer_would_reject() {
    // ADD-PATH was not negotiated: a path identifier makes the NLRI field malformed.
    let (mut s, t0) = setup(At::Established);
    let attrs = [ORIGIN_IGP, AS_PATH_B, NEXT_HOP_B].concat();
    assert!(matches!(
        s.send_update(t0, update(&[], &attrs, &[0, 0, 0, 7, 8, 10])),
        Err(SendError::InvalidUpdate(_))
    ));
    assert!(s.poll_transmit().is_none());
}

#[test]
fn end_of_rib_from_update_msg_is_recognised_when_sent() {
    let (mut s, t0) = setup(At::Established);
    let eor = Message::Update(bgp_wire::message::UpdateMsg::end_of_rib(
        Family::IPV4_UNICAST,
    ));
    s.send_update(t0, bytes(&eor)).unwrap();
    assert_eq!(s.snapshot(t0).end_of_rib_sent, vec![Family::IPV4_UNICAST]);
}

#[cfg(feature = "serde")]
#[test]
fn snapshot_serializes_as_plain_data() {
    let (mut s, t0) = setup(At::Established);
    s.handle_event(at(t0, 42), stop());
    let v = serde_json::to_value(s.snapshot(at(t0, 50))).unwrap();
    assert_eq!(v["state"], "Idle");
    assert_eq!(v["downtime"], 8);
    assert_eq!(v["uptime"], serde_json::Value::Null);
    assert_eq!(v["flaps"], 1);
    assert_eq!(v["messages"]["received"]["open"], 1);
    assert_eq!(v["messages"]["sent"]["notification"], 1);
    assert_eq!(v["lastNotificationSent"]["code"], 6);
    assert_eq!(v["lastNotificationSent"]["subcode"], 2);
    assert_eq!(v["configuredHoldTime"], 90);
    assert!(
        v.get("lastEstablishedAt").is_none(),
        "instants are not serialized"
    );
}

#[test]
fn session_can_move_into_an_io_task() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Session>();
    assert_send::<SessionEvent>();
}
