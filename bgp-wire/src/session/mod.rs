//! Sans-IO BGP session state machine (RFC 4271 §8).
//!
//! A [`Session`] is the finite state machine of one BGP peer over one TCP connection. It
//! performs no I/O, reads no clock and spawns nothing: every input carries the current
//! [`Instant`], and every output is something the caller polls for.
//!
//! Inputs:
//! - [`Session::handle_event`]: start, stop with a reason, TCP connected / failed / closed,
//!   collision lost;
//! - [`Session::handle_frame`]: exactly one framed message, as
//!   [`crate::framing::next_frame`] cuts it from the read buffer;
//! - [`Session::handle_timeout`]: the deadline from [`Session::poll_timeout`] has passed;
//! - [`Session::send_update`] and [`Session::send_route_refresh`]: the speaker's traffic.
//!
//! Outputs, to drain after every input:
//! - [`Session::poll_transmit`]: encoded bytes to write, in order;
//! - [`Session::poll_event`]: [`SessionEvent`]s — open a connection, close it, state
//!   changes, Established with the [`Negotiated`] result, Down with its reason, UPDATEs and
//!   route refresh requests received;
//! - [`Session::poll_timeout`]: when to call [`Session::handle_timeout`] next.
//!
//! # Driving a session
//!
//! An I/O task owns one `Session`, at most one `TcpStream` and one timer. After each input
//! it first writes every transmit, then acts on the events (a [`SessionEvent::Disconnect`]
//! closes the socket after the pending bytes, which may hold the NOTIFICATION that explains
//! the close), then re-arms its timer:
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use std::time::Instant;
//! use bgp_wire::framing::next_frame;
//! use bgp_wire::session::{ConnectionOrigin, Event, Session, SessionConfig, SessionEvent};
//!
//! let config = SessionConfig::new(64512, 64513, "10.0.0.1".parse().unwrap());
//! let mut session = Session::new(config, Instant::now()).unwrap();
//! session.handle_event(Instant::now(), Event::Start);
//! let mut socket: Option<TcpStream> = None;
//! let mut buf = Vec::new();
//! loop {
//!     // 1. Write what the session wants written.
//!     while let Some(bytes) = session.poll_transmit() {
//!         if let Some(s) = socket.as_mut() {
//!             let _ = s.write_all(&bytes);
//!         }
//!     }
//!     // 2. Act on its events.
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             SessionEvent::Connect => match TcpStream::connect("10.0.0.2:179") {
//!                 Ok(s) => {
//!                     socket = Some(s);
//!                     session.handle_event(Instant::now(), Event::TcpConnected(ConnectionOrigin::Local));
//!                 }
//!                 Err(_) => session.handle_event(Instant::now(), Event::TcpConnectFailed),
//!             },
//!             SessionEvent::Disconnect => socket = None,
//!             other => println!("{other:?}"),
//!         }
//!     }
//!     // 3. Read, frame, and hand over one message at a time. (A real task waits on the
//!     //    socket and on `poll_timeout` together; this sketch blocks on the socket.)
//!     let Some(s) = socket.as_mut() else {
//!         session.handle_timeout(Instant::now());
//!         continue;
//!     };
//!     let mut chunk = [0u8; 4096];
//!     match s.read(&mut chunk) {
//!         Ok(0) | Err(_) => session.handle_event(Instant::now(), Event::TcpClosed { error: None }),
//!         Ok(n) => buf.extend_from_slice(&chunk[..n]),
//!     }
//!     while let Some(len) = next_frame(&buf, session.max_frame_len()) {
//!         let frame: Vec<u8> = buf.drain(..len).collect();
//!         session.handle_frame(Instant::now(), &frame);
//!     }
//!     if session.poll_timeout().is_some_and(|t| t <= Instant::now()) {
//!         session.handle_timeout(Instant::now());
//!     }
//! }
//! ```
//!
//! # Collisions
//!
//! When both speakers connect at once (RFC 4271 §6.8), the I/O layer runs a second session
//! for the second connection ([`Session::accept`] for an incoming one). Once both have the
//! peer's OPEN (OpenConfirm), [`collision_winner`] says which connection to keep; the other
//! session gets [`Event::CollisionLost`] and leaves with Cease 6/7. A connection that
//! collides with an Established one always loses.
//!
//! # After a drop
//!
//! A session that goes down returns to Idle and starts again by itself after
//! [`SessionConfig::idle_hold_after_down`], unless an operator stop
//! ([`StopReason::restarts`] false) put it there.

mod collision;
mod config;
mod counters;
mod event;
mod negotiate;
mod state;
mod summary;
mod timers;

use std::collections::VecDeque;
use std::time::Instant;

pub use collision::collision_winner;
pub use config::{ConfigError, GracefulRestartConfig, SessionConfig};
pub use counters::{MessageCounters, Messages, SessionSnapshot};
pub use event::{
    ConnectionOrigin, DownReason, Event, SendError, SessionEvent, StopReason, UpdateSummary,
};
pub use negotiate::{Negotiated, NegotiatedGracefulRestart};
pub use state::SessionState;
pub use timers::{HoldTime, InvalidHoldTime};

use crate::context::CodecContext;
use crate::error::DecodeError;
use crate::iana::{Family, MessageType};
use crate::message::notification::NotificationMsg;
use crate::message::route_refresh::{RefreshSubtype, RouteRefreshMsg};
use crate::message::update::UpdateMsg;
use crate::message::{decode_header, Message};

use state::{Active, Idle, Input, State};
use timers::Jitter;

/// One BGP session: the RFC 4271 §8 state machine of a peer over one connection.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    jitter: Jitter,
    /// Graceful restart's R bit for the next OPEN; cleared once a session is established.
    restarting: bool,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<SessionEvent>,
    messages: Messages,
    flaps: u64,
    established_count: u64,
    last_established_at: Option<Instant>,
    last_down_at: Instant,
    last_notification_sent: Option<NotificationMsg>,
    last_notification_received: Option<NotificationMsg>,
}

impl Session {
    /// A session in Idle, waiting for [`Event::Start`]. Fails when the configuration
    /// cannot run ([`SessionConfig::validate`], or an OPEN too large to encode).
    pub fn new(config: SessionConfig, now: Instant) -> Result<Session, ConfigError> {
        config.validate()?;
        let restarting = config.graceful_restart.is_some_and(|g| g.restarting);
        Message::Open(negotiate::local_open(&config, restarting))
            .to_bytes(&CodecContext::default())?;
        Ok(Session {
            jitter: Jitter::new(config.seed),
            config,
            state: State::Idle(Idle { restart_at: None }),
            restarting,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            messages: Messages::default(),
            flaps: 0,
            established_count: 0,
            last_established_at: None,
            last_down_at: now,
            last_notification_sent: None,
            last_notification_received: None,
        })
    }

    /// A started session for a connection the peer opened (used for the second connection
    /// of a collision): it sends its OPEN at once and is in OpenSent. After a later drop it
    /// behaves like any session with this configuration.
    pub fn accept(config: SessionConfig, now: Instant) -> Result<Session, ConfigError> {
        let mut s = Session::new(config, now)?;
        s.state = State::Active(Active { retry_at: None });
        s.step(now, Input::TcpConnected(ConnectionOrigin::Remote));
        Ok(s)
    }

    /// Feeds an event from the operator or the I/O layer.
    pub fn handle_event(&mut self, now: Instant, event: Event) {
        let input = match event {
            Event::Start => Input::Start,
            Event::Stop(r) => Input::Stop(r),
            Event::TcpConnected(o) => Input::TcpConnected(o),
            Event::TcpConnectFailed => Input::TcpConnectFailed,
            Event::TcpClosed { error } => Input::TcpClosed(error),
            Event::CollisionLost => Input::CollisionLost,
        };
        self.step(now, input);
    }

    /// Feeds exactly one message, header included, as [`crate::framing::next_frame`]
    /// framed it with [`Session::max_frame_len`]. The header is checked against the
    /// negotiated context once there is one; the body is decoded only by a state that
    /// accepts its type.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        let ctx = self
            .state
            .negotiated()
            .map(|n| n.rx.clone())
            .unwrap_or_default();
        let input = match decode_header(frame, &ctx) {
            Ok((kind, body)) => {
                self.messages.received.count(kind);
                state::frame_input(kind, body, frame)
            }
            Err(e) => {
                self.messages.received.total += 1;
                Input::HeaderError(e)
            }
        };
        self.step(now, input);
    }

    /// Fires every timer due at `now` (connect retry, hold, keepalive, idle hold).
    pub fn handle_timeout(&mut self, now: Instant) {
        // Each firing moves or clears its deadline; the bound only guards against a bug
        // turning this into a busy loop.
        for _ in 0..16 {
            let Some((at, timer)) = self.state.next_timer() else {
                return;
            };
            if at > now {
                return;
            }
            let input = match timer {
                state::Timer::IdleHold => Input::IdleHoldTimerExpires,
                state::Timer::ConnectRetry => Input::ConnectRetryTimerExpires,
                state::Timer::Hold => Input::HoldTimerExpires,
                state::Timer::Keepalive => Input::KeepaliveTimerExpires,
            };
            self.step(now, input);
        }
    }

    /// Queues one encoded UPDATE (header included) from the speaker. Only in Established.
    ///
    /// The bytes are checked against the negotiated transmit context (length limit,
    /// ADD-PATH, 4-octet AS) before they are queued, because a malformed UPDATE would make
    /// the peer reset the session. Counted in the sent counters (withdrawals and End-of-RIB
    /// included); restarts the keepalive timer (RFC 4271 §8.2.2 Established: "Each time
    /// the local system sends a KEEPALIVE or UPDATE message, it restarts its
    /// KeepaliveTimer").
    pub fn send_update(&mut self, now: Instant, update: Vec<u8>) -> Result<(), SendError> {
        let State::Established(s) = &mut self.state else {
            self.messages.sent.discarded += 1;
            return Err(SendError::NotEstablished(self.state.kind()));
        };
        let checked = match decode_header(&update, &s.negotiated.tx) {
            Ok((MessageType::Update, mut body)) => UpdateMsg::decode(&mut body, &s.negotiated.tx)
                .map_err(|e| SendError::InvalidUpdate(DecodeError::Update(e))),
            Ok(_) => Err(SendError::NotAnUpdate),
            Err(e) => Err(e.into()),
        };
        let msg = match checked {
            Ok(m) => m,
            Err(e) => {
                self.messages.sent.discarded += 1;
                return Err(e);
            }
        };
        let withdrawn = msg.withdrawn_routes().count();
        if let Some(f) = msg.end_of_rib_family() {
            if !s.end_of_rib_sent.contains(&f) {
                s.end_of_rib_sent.push(f);
            }
        }
        s.keepalive_at = s.negotiated.keepalive_interval.map(|k| now + k);
        self.messages.sent.count(MessageType::Update);
        self.messages.sent.count_withdrawn(withdrawn);
        self.transmits.push_back(update);
        Ok(())
    }

    /// Queues a ROUTE-REFRESH for `family` (RFC 2918; BoRR/EoRR of RFC 7313). Only in
    /// Established, only when the peer offered route refresh (and enhanced route refresh
    /// for BoRR/EoRR), only for a negotiated family.
    pub fn send_route_refresh(
        &mut self,
        now: Instant,
        family: Family,
        subtype: RefreshSubtype,
    ) -> Result<(), SendError> {
        // `now` is unused: sending a ROUTE-REFRESH restarts no timer (RFC 4271 §8.2.2 names
        // only KEEPALIVE and UPDATE). Every input still carries the time.
        let _ = now;
        let State::Established(s) = &self.state else {
            return Err(SendError::NotEstablished(self.state.kind()));
        };
        let n = &s.negotiated;
        if !n.route_refresh {
            return Err(SendError::RouteRefreshNotNegotiated);
        }
        let subtype_ok = match subtype {
            RefreshSubtype::Normal => true,
            RefreshSubtype::BeginningOfRefresh | RefreshSubtype::EndOfRefresh => {
                n.enhanced_route_refresh
            }
            RefreshSubtype::Reserved(_) => false,
        };
        if !subtype_ok {
            return Err(SendError::RefreshSubtypeNotAllowed(subtype));
        }
        if !n.has_family(family) {
            return Err(SendError::FamilyNotNegotiated(family));
        }
        let ctx = n.tx.clone();
        let msg = Message::RouteRefresh(RouteRefreshMsg {
            afi: family.afi,
            subtype,
            safi: family.safi,
        });
        self.send(&msg, &ctx);
        Ok(())
    }

    /// The next encoded message to write, oldest first.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// When [`Session::handle_timeout`] should next be called; `None` when no timer runs.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.state.next_timer().map(|(at, _)| at)
    }

    /// The next event, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.state.kind()
    }

    /// What the OPEN exchange negotiated, in OpenConfirm and Established.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.state.negotiated()
    }

    /// Who opened the current connection, from OpenSent on.
    pub fn connection_origin(&self) -> Option<ConnectionOrigin> {
        self.state.origin()
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Records our address on the connection once TCP knows it, for the own-address
    /// NEXT_HOP check (RFC 4271 §6.3) when the configuration did not name one.
    pub fn set_local_address(&mut self, local: std::net::IpAddr) {
        self.config.local_address = Some(local);
    }

    /// The largest message the peer may send now: the `max_len` to give
    /// [`crate::framing::next_frame`].
    pub fn max_frame_len(&self) -> usize {
        self.state
            .negotiated()
            .map_or(crate::framing::MAX_MESSAGE_LEN, |n| n.rx.max_message_len())
    }

    /// The counters and status at `now`, as plain data.
    pub fn snapshot(&self, now: Instant) -> SessionSnapshot {
        let state = self.state.kind();
        let established = state == SessionState::Established;
        let n = self.state.negotiated();
        let (eor_sent, eor_received) = match &self.state {
            State::Established(s) => (s.end_of_rib_sent.clone(), s.end_of_rib_received.clone()),
            _ => (Vec::new(), Vec::new()),
        };
        SessionSnapshot {
            state,
            messages: self.messages,
            flaps: self.flaps,
            established_count: self.established_count,
            uptime: established
                .then(|| {
                    self.last_established_at
                        .map(|t| now.saturating_duration_since(t))
                })
                .flatten(),
            downtime: (!established).then(|| now.saturating_duration_since(self.last_down_at)),
            last_established_at: self.last_established_at,
            last_down_at: self.last_down_at,
            last_notification_sent: self.last_notification_sent.clone(),
            last_notification_received: self.last_notification_received.clone(),
            configured_hold_time: self.config.hold_time.seconds(),
            negotiated_hold_time: n.map(|n| n.hold_time.seconds()),
            keepalive_interval: n.and_then(|n| n.keepalive_interval),
            peer_id: n.map(|n| n.peer_id),
            families: n.map(|n| n.families.clone()).unwrap_or_default(),
            end_of_rib_sent: eor_sent,
            end_of_rib_received: eor_received,
        }
    }
}
