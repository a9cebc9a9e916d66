//! Helpers shared by the FSM tests: configurations, peer messages as bytes, and a readable
//! form of what a session transmitted.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bgp_wire::iana::Family;
use bgp_wire::message::notification::ErrorKind;
use bgp_wire::message::open::OpenMsg;
use bgp_wire::message::route_refresh::{RefreshSubtype, RouteRefreshMsg};
use bgp_wire::message::{decode_message, NotificationMsg};
use bgp_wire::session::{Session, SessionConfig, SessionEvent};
use bgp_wire::{CodecContext, Message};

/// Speaker A: AS 65001, 10.0.0.1, peering with B.
pub const A_AS: u32 = 65001;
/// Speaker A's identifier.
pub const A_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Speaker B: AS 65002, 10.0.0.2.
pub const B_AS: u32 = 65002;
/// Speaker B's identifier.
pub const B_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// A's configuration towards B, with gobgp's defaults.
pub fn config_a() -> SessionConfig {
    SessionConfig::new(A_AS, B_AS, A_ID)
}

/// B's configuration towards A.
pub fn config_b() -> SessionConfig {
    let mut c = SessionConfig::new(B_AS, A_AS, B_ID);
    c.seed = 0x1234_5678;
    c
}

/// One message as the session under test sent it, reduced to what a table row compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// An OPEN.
    Open,
    /// A KEEPALIVE.
    Keepalive,
    /// An UPDATE.
    Update,
    /// A NOTIFICATION with this (code, subcode).
    Notification(u8, u8),
    /// A ROUTE-REFRESH.
    RouteRefresh,
}

/// Reads one transmitted message.
pub fn sent(bytes: &[u8], ctx: &CodecContext) -> Sent {
    match decode_message(bytes, ctx) {
        Ok(Message::Open(_)) => Sent::Open,
        Ok(Message::Keepalive) => Sent::Keepalive,
        Ok(Message::Update(_)) => Sent::Update,
        Ok(Message::Notification(n)) => {
            let (c, s) = n.error.code_subcode();
            Sent::Notification(c, s)
        }
        Ok(Message::RouteRefresh(_)) => Sent::RouteRefresh,
        Err(e) => panic!("session transmitted bytes that do not decode: {e}: {bytes:02x?}"),
    }
}

/// Drains every transmit and event of `s`.
pub fn drain(s: &mut Session) -> (Vec<Sent>, Vec<SessionEvent>) {
    let ctx = s.negotiated().map(|n| n.tx.clone()).unwrap_or_default();
    let mut out = Vec::new();
    while let Some(b) = s.poll_transmit() {
        out.push(sent(&b, &ctx));
    }
    let mut events = Vec::new();
    while let Some(e) = s.poll_event() {
        events.push(e);
    }
    (out, events)
}

/// The whole message as bytes.
pub fn bytes(m: &Message) -> Vec<u8> {
    m.to_bytes(&CodecContext::default())
        .expect("test message encodes")
}

/// B's OPEN as A expects it, with `hold` seconds.
pub fn open_from_b(hold: u16) -> OpenMsg {
    OpenMsg::builder(B_AS, B_ID)
        .hold_time(hold)
        .family(Family::IPV4_UNICAST)
        .route_refresh()
        .build()
}

/// An OPEN message's bytes.
pub fn open_bytes(open: OpenMsg) -> Vec<u8> {
    bytes(&Message::Open(open))
}

/// A KEEPALIVE.
pub fn keepalive() -> Vec<u8> {
    bytes(&Message::Keepalive)
}

/// A NOTIFICATION of `error` without data.
pub fn notification(error: ErrorKind) -> Vec<u8> {
    bytes(&Message::Notification(NotificationMsg::new(
        error,
        Vec::new(),
    )))
}

/// A plain ROUTE-REFRESH for `family`.
pub fn route_refresh(family: Family) -> Vec<u8> {
    bytes(&Message::RouteRefresh(RouteRefreshMsg {
        afi: family.afi,
        subtype: RefreshSubtype::Normal,
        safi: family.safi,
    }))
}

/// A header with the given length and type, followed by `body`. The length is written as
/// given, so it can lie.
pub fn raw(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    v.push(kind);
    v.extend_from_slice(body);
    v
}

/// The IPv4 unicast End-of-RIB: an UPDATE with empty withdrawn routes, no attributes and
/// no NLRI (RFC 4724 §2).
pub fn end_of_rib_ipv4() -> Vec<u8> {
    raw(2, &[0, 0, 0, 0])
}

/// `t0 + secs`.
pub fn at(t0: Instant, secs: u64) -> Instant {
    t0 + Duration::from_secs(secs)
}
