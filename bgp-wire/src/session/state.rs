//! The six states of RFC 4271 §8.2.2, the data each one owns, and the transition function.
//!
//! Each state holds exactly what it needs: the deadlines it runs and, from OpenConfirm on,
//! the [`Negotiated`] result of the OPEN exchange. A transition consumes the old state and
//! builds the next one, so negotiated data moves forward and cannot linger after a drop.

use std::time::Instant;

use crate::codec::Reader;
use crate::context::CodecContext;
use crate::error::{DecodeError, HeaderError};
use crate::iana::{Family, MessageType};
use crate::message::notification::{CeaseSubcode, ErrorKind, FsmSubcode, NotificationMsg};
use crate::message::open::OpenMsg;
use crate::message::route_refresh::{RefreshSubtype, RouteRefreshMsg};
use crate::message::update::{Treatment, UpdateMsg};
use crate::message::Message;

use super::event::{notification, ConnectionOrigin, DownReason, SessionEvent, StopReason};
use super::negotiate::{self, Negotiated};
use super::summary::summarize;
use super::Session;

/// The name of a state (RFC 4271 §8.2.2), without its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum SessionState {
    /// Refuses connections; waits for a start (or the idle hold time after a drop).
    Idle,
    /// Waiting for our outgoing TCP connection to complete.
    Connect,
    /// Waiting for the peer to connect (passive), or for the connect-retry timer.
    Active,
    /// Our OPEN is sent; waiting for the peer's.
    OpenSent,
    /// OPENs exchanged; waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// Routes may flow.
    Established,
}

/// A state with its data.
#[derive(Debug)]
pub(crate) enum State {
    Idle(Idle),
    Connect(Connect),
    Active(Active),
    OpenSent(OpenSent),
    OpenConfirm(OpenConfirm),
    Established(Established),
}

#[derive(Debug)]
pub(crate) struct Idle {
    /// When the session starts again by itself; `None` when it waits for a start.
    pub(crate) restart_at: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Connect {
    pub(crate) retry_at: Instant,
}

#[derive(Debug)]
pub(crate) struct Active {
    /// When to try connecting again; `None` for a passive session, which never does.
    pub(crate) retry_at: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct OpenSent {
    pub(crate) origin: ConnectionOrigin,
    pub(crate) hold_at: Instant,
}

#[derive(Debug)]
pub(crate) struct OpenConfirm {
    pub(crate) origin: ConnectionOrigin,
    pub(crate) negotiated: Box<Negotiated>,
    pub(crate) hold_at: Option<Instant>,
    pub(crate) keepalive_at: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Established {
    pub(crate) origin: ConnectionOrigin,
    pub(crate) negotiated: Box<Negotiated>,
    pub(crate) hold_at: Option<Instant>,
    pub(crate) keepalive_at: Option<Instant>,
    pub(crate) end_of_rib_sent: Vec<Family>,
    pub(crate) end_of_rib_received: Vec<Family>,
}

/// The timers of RFC 4271 §8 (plus the idle hold timer of §8.1.1's damping attributes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    IdleHold,
    ConnectRetry,
    Hold,
    Keepalive,
}

/// Every input, flattened: [`super::Event`]s, expired timers, and framed messages with their
/// bodies still undecoded (a message is decoded only by a state that accepts its type, so an
/// UPDATE in OpenSent is an FSM error, not an UPDATE error).
pub(crate) enum Input<'a> {
    /// Events 1, 3, 4, 5: ManualStart, AutomaticStart (with or without passive TCP).
    Start,
    /// Events 2, 8: ManualStop, AutomaticStop.
    Stop(StopReason),
    /// Events 14, 16, 17: TcpConnection_Valid, Tcp_CR_Acked, TcpConnectionConfirmed.
    TcpConnected(ConnectionOrigin),
    /// Events 15, 18: Tcp_CR_Invalid, TcpConnectionFails (while connecting).
    TcpConnectFailed,
    /// Event 18: TcpConnectionFails (on an open connection).
    TcpClosed(Option<String>),
    /// Event 23: OpenCollisionDump.
    CollisionLost,
    /// Event 13: IdleHoldTimer_Expires.
    IdleHoldTimerExpires,
    /// Event 9: ConnectRetryTimer_Expires.
    ConnectRetryTimerExpires,
    /// Event 10: HoldTimer_Expires.
    HoldTimerExpires,
    /// Event 11: KeepaliveTimer_Expires.
    KeepaliveTimerExpires,
    /// Event 21: BGPHeaderErr.
    HeaderError(HeaderError),
    /// Events 19, 22: BGPOpen, BGPOpenMsgErr (decided once the body is decoded).
    Open(Reader<'a>),
    /// Events 27, 28: UpdateMsg, UpdateMsgErr.
    Update(Reader<'a>),
    /// Events 24, 25: NotifMsgVerErr, NotifMsg.
    Notification(Reader<'a>),
    /// Event 26: KeepAliveMsg.
    Keepalive,
    /// RFC 2918 / RFC 7313 ROUTE-REFRESH (no RFC 4271 event); the whole frame is kept as
    /// the data of a 7/1 NOTIFICATION.
    RouteRefresh(Reader<'a>, &'a [u8]),
}

impl Input<'_> {
    /// Whether this input is a message from the peer.
    fn is_message(&self) -> bool {
        matches!(
            self,
            Input::HeaderError(_)
                | Input::Open(_)
                | Input::Update(_)
                | Input::Notification(_)
                | Input::Keepalive
                | Input::RouteRefresh(..)
        )
    }

    /// How an FSM error names the input.
    fn name(&self) -> &'static str {
        match self {
            Input::Start => "start",
            Input::Stop(_) => "stop",
            Input::TcpConnected(_) => "TCP connected",
            Input::TcpConnectFailed => "TCP connect failure",
            Input::TcpClosed(_) => "TCP close",
            Input::CollisionLost => "collision loss",
            Input::IdleHoldTimerExpires => "idle hold timer expiry",
            Input::ConnectRetryTimerExpires => "connect retry timer expiry",
            Input::HoldTimerExpires => "hold timer expiry",
            Input::KeepaliveTimerExpires => "keepalive timer expiry",
            Input::HeaderError(_) => "bad message header",
            Input::Open(_) => "OPEN",
            Input::Update(_) => "UPDATE",
            Input::Notification(_) => "NOTIFICATION",
            Input::Keepalive => "KEEPALIVE",
            Input::RouteRefresh(..) => "ROUTE-REFRESH",
        }
    }
}

impl State {
    pub(crate) fn kind(&self) -> SessionState {
        match self {
            State::Idle(_) => SessionState::Idle,
            State::Connect(_) => SessionState::Connect,
            State::Active(_) => SessionState::Active,
            State::OpenSent(_) => SessionState::OpenSent,
            State::OpenConfirm(_) => SessionState::OpenConfirm,
            State::Established(_) => SessionState::Established,
        }
    }

    /// The earliest running timer. On a tie the hold timer wins: an expired hold time ends
    /// the session, and a KEEPALIVE sent just before would be pointless.
    pub(crate) fn next_timer(&self) -> Option<(Instant, Timer)> {
        let pick = |hold: Option<Instant>, keepalive: Option<Instant>| match (hold, keepalive) {
            (Some(h), Some(k)) if k < h => Some((k, Timer::Keepalive)),
            (Some(h), _) => Some((h, Timer::Hold)),
            (None, k) => k.map(|k| (k, Timer::Keepalive)),
        };
        match self {
            State::Idle(s) => s.restart_at.map(|t| (t, Timer::IdleHold)),
            State::Connect(s) => Some((s.retry_at, Timer::ConnectRetry)),
            State::Active(s) => s.retry_at.map(|t| (t, Timer::ConnectRetry)),
            State::OpenSent(s) => Some((s.hold_at, Timer::Hold)),
            State::OpenConfirm(s) => pick(s.hold_at, s.keepalive_at),
            State::Established(s) => pick(s.hold_at, s.keepalive_at),
        }
    }

    pub(crate) fn negotiated(&self) -> Option<&Negotiated> {
        match self {
            State::OpenConfirm(s) => Some(&s.negotiated),
            State::Established(s) => Some(&s.negotiated),
            _ => None,
        }
    }

    pub(crate) fn origin(&self) -> Option<ConnectionOrigin> {
        match self {
            State::OpenSent(s) => Some(s.origin),
            State::OpenConfirm(s) => Some(s.origin),
            State::Established(s) => Some(s.origin),
            _ => None,
        }
    }
}

impl Session {
    /// Runs one input through the state machine.
    pub(crate) fn step(&mut self, now: Instant, input: Input<'_>) {
        let from = self.state.kind();
        let state = std::mem::replace(&mut self.state, State::Idle(Idle { restart_at: None }));
        let next = match state {
            State::Idle(s) => match input {
                // Event 1/3/4/5: the first start has no idle hold. A start while a restart is
                // already pending keeps the idle hold (it damps a flapping peer).
                Input::Start if s.restart_at.is_none() => self.start(now),
                // Event 13 IdleHoldTimer_Expires: the automatic restart after a drop.
                Input::IdleHoldTimerExpires => self.start(now),
                // Event 2/8: stay in Idle, and forget a pending restart.
                Input::Stop(_) => State::Idle(Idle { restart_at: None }),
                // RFC 4271 §8.2.2 Idle: "the local system refuses all incoming BGP
                // connections for this peer". The I/O layer closes the socket.
                Input::TcpConnected(_) => {
                    self.events.push_back(SessionEvent::Disconnect);
                    State::Idle(s)
                }
                // RFC 4271 §8.2.2 Idle: "Any other events … received in the Idle state do
                // not cause change in the state of the local system." Idle has no
                // connection to send an FSM-error NOTIFICATION on. A stray message (the
                // I/O layer read it after the drop) is counted as discarded.
                other => {
                    if other.is_message() {
                        self.messages.received.discarded += 1;
                    }
                    State::Idle(s)
                }
            },

            State::Connect(s) => match input {
                Input::Start => State::Connect(s),
                Input::Stop(reason) => self.down(now, DownReason::Stopped(reason), None, None),
                Input::TcpConnected(origin) => self.send_open(now, origin),
                // RFC 4271 §8.2.2 Connect, TcpConnectionFails: "restarts the
                // ConnectRetryTimer, continues to listen for a connection …, and changes
                // its state to Active."
                Input::TcpConnectFailed | Input::TcpClosed(_) => State::Active(Active {
                    retry_at: Some(now + self.jitter.connect_retry(self.config.connect_retry)),
                }),
                // Event 9: "drops the TCP connection, restarts the ConnectRetryTimer, …
                // initiates a TCP connection to the other BGP peer".
                Input::ConnectRetryTimerExpires => {
                    self.events.push_back(SessionEvent::Disconnect);
                    self.events.push_back(SessionEvent::Connect);
                    State::Connect(Connect {
                        retry_at: now + self.jitter.connect_retry(self.config.connect_retry),
                    })
                }
                // RFC 4271 §8.2.2 Connect, "any other event": back to Idle. No connection
                // is up yet, so the RFC 6608 NOTIFICATION (5/0) has nothing to travel on.
                other => self.fsm_error(now, SessionState::Connect, None, other.name()),
            },

            State::Active(s) => match input {
                Input::Start => State::Active(s),
                Input::Stop(reason) => self.down(now, DownReason::Stopped(reason), None, None),
                Input::TcpConnected(origin) => self.send_open(now, origin),
                // Event 9: "initiates a TCP connection …, and changes its state to Connect."
                Input::ConnectRetryTimerExpires => self.connect(now),
                // RFC 4271 §8.2.2 Active, TcpConnectionFails: "changes its state to Idle".
                Input::TcpConnectFailed => self.closed(now, None),
                Input::TcpClosed(error) => self.closed(now, error),
                // As in Connect: any other event returns to Idle, with no connection to
                // carry the 5/0 NOTIFICATION.
                other => self.fsm_error(now, SessionState::Active, None, other.name()),
            },

            State::OpenSent(s) => match input {
                // Event 19 BGPOpen / Event 22 BGPOpenMsgErr.
                Input::Open(mut body) => match OpenMsg::decode(&mut body)
                    .and_then(|open| negotiate::check_open(&self.config, &open).map(|h| (open, h)))
                {
                    Ok((open, theirs)) => {
                        let negotiated =
                            negotiate::negotiate(&self.config, self.restarting, &open, theirs);
                        // RFC 4271 §8.2.2 OpenSent: "sends a KEEPALIVE message, … sets the
                        // HoldTimer according to the negotiated value".
                        self.send(&Message::Keepalive, &negotiated.tx);
                        State::OpenConfirm(OpenConfirm {
                            origin: s.origin,
                            hold_at: negotiated.hold_time_from(now),
                            keepalive_at: negotiated.keepalive_interval.map(|k| now + k),
                            negotiated: Box::new(negotiated),
                        })
                    }
                    Err(e) => self.message_error(now, DecodeError::Open(e)),
                },
                Input::Notification(body) => self.notification_received(now, body),
                Input::HeaderError(e) => self.message_error(now, DecodeError::Header(e)),
                Input::HoldTimerExpires => self.hold_expired(now),
                Input::Stop(reason) => self.stop(now, reason),
                Input::CollisionLost => self.collision_lost(now),
                Input::TcpClosed(error) => self.closed(now, error),
                Input::TcpConnectFailed => self.closed(now, None),
                // A second connection is the I/O layer's to track (RFC 4271 §6.8); this
                // session keeps driving its own.
                Input::Start | Input::TcpConnected(_) => State::OpenSent(s),
                other => self.fsm_error(
                    now,
                    SessionState::OpenSent,
                    Some(FsmSubcode::UNEXPECTED_MESSAGE_IN_OPEN_SENT),
                    other.name(),
                ),
            },

            State::OpenConfirm(mut s) => match input {
                // Event 26 KeepAliveMsg: "restarts the HoldTimer and changes its state to
                // Established".
                Input::Keepalive => {
                    self.restarting = false;
                    State::Established(Established {
                        origin: s.origin,
                        hold_at: s.negotiated.hold_time_from(now),
                        keepalive_at: s.keepalive_at,
                        negotiated: s.negotiated,
                        end_of_rib_sent: Vec::new(),
                        end_of_rib_received: Vec::new(),
                    })
                }
                // Event 11 KeepaliveTimer_Expires.
                Input::KeepaliveTimerExpires => {
                    self.send(&Message::Keepalive, &s.negotiated.tx);
                    s.keepalive_at = s.negotiated.keepalive_interval.map(|k| now + k);
                    State::OpenConfirm(s)
                }
                Input::Notification(body) => self.notification_received(now, body),
                Input::HeaderError(e) => self.message_error(now, DecodeError::Header(e)),
                Input::HoldTimerExpires => self.hold_expired(now),
                Input::Stop(reason) => self.stop(now, reason),
                Input::CollisionLost => self.collision_lost(now),
                Input::TcpClosed(error) => self.closed(now, error),
                Input::TcpConnectFailed => self.closed(now, None),
                Input::Start | Input::TcpConnected(_) => State::OpenConfirm(s),
                other => self.fsm_error(
                    now,
                    SessionState::OpenConfirm,
                    Some(FsmSubcode::UNEXPECTED_MESSAGE_IN_OPEN_CONFIRM),
                    other.name(),
                ),
            },

            State::Established(mut s) => match input {
                // Event 26 KeepAliveMsg: "restarts its HoldTimer".
                Input::Keepalive => {
                    s.hold_at = s.negotiated.hold_time_from(now);
                    State::Established(s)
                }
                // Event 27 UpdateMsg / Event 28 UpdateMsgErr, with RFC 7606's outcomes.
                Input::Update(mut body) => {
                    match UpdateMsg::decode_received(&mut body, &s.negotiated.rx) {
                        Ok(mut received) => {
                            received.check_next_hops(self.config.local_address);
                            s.hold_at = s.negotiated.hold_time_from(now);
                            let summary = summarize(received);
                            self.messages.received.count_withdrawn(summary.withdrawn);
                            if let Treatment::AfiSafiDisable(family) = summary.treatment {
                                // RFC 7606 §2 "AFI/SAFI disable": the family is treated as
                                // not negotiated from now on.
                                s.negotiated.families.retain(|f| *f != family);
                            }
                            if let Some(f) = summary.end_of_rib {
                                if !s.end_of_rib_received.contains(&f) {
                                    s.end_of_rib_received.push(f);
                                }
                            }
                            self.events.push_back(SessionEvent::UpdateReceived(summary));
                            State::Established(s)
                        }
                        Err(e) => self.message_error(now, DecodeError::Update(e)),
                    }
                }
                Input::RouteRefresh(mut body, frame) => match RouteRefreshMsg::decode(&mut body) {
                    Ok(m) => {
                        s.hold_at = s.negotiated.hold_time_from(now);
                        let family = Family::new(m.afi, m.safi);
                        let n = &s.negotiated;
                        // RFC 2918 §4: a request for a family "that the speaker didn't
                        // advertise … shall" be ignored; RFC 7313 §5: a reserved subtype
                        // "MUST" be ignored, and BoRR/EoRR mean nothing without the
                        // enhanced capability.
                        let allowed = n.route_refresh
                            && n.has_family(family)
                            && match m.subtype {
                                RefreshSubtype::Normal => true,
                                RefreshSubtype::BeginningOfRefresh
                                | RefreshSubtype::EndOfRefresh => n.enhanced_route_refresh,
                                RefreshSubtype::Reserved(_) => false,
                            };
                        if allowed {
                            self.events.push_back(SessionEvent::RouteRefreshRequested {
                                family,
                                subtype: m.subtype,
                            });
                        } else {
                            self.messages.received.discarded += 1;
                        }
                        State::Established(s)
                    }
                    Err(()) => self.message_error(
                        now,
                        DecodeError::RouteRefresh {
                            length: frame.len(),
                            message: frame.to_vec(),
                        },
                    ),
                },
                // Event 11 KeepaliveTimer_Expires.
                Input::KeepaliveTimerExpires => {
                    self.send(&Message::Keepalive, &s.negotiated.tx);
                    s.keepalive_at = s.negotiated.keepalive_interval.map(|k| now + k);
                    State::Established(s)
                }
                Input::Notification(body) => self.notification_received(now, body),
                Input::HeaderError(e) => self.message_error(now, DecodeError::Header(e)),
                Input::HoldTimerExpires => self.hold_expired(now),
                Input::Stop(reason) => self.stop(now, reason),
                Input::CollisionLost => self.collision_lost(now),
                Input::TcpClosed(error) => self.closed(now, error),
                Input::TcpConnectFailed => self.closed(now, None),
                Input::Start | Input::TcpConnected(_) => State::Established(s),
                other => self.fsm_error(
                    now,
                    SessionState::Established,
                    Some(FsmSubcode::UNEXPECTED_MESSAGE_IN_ESTABLISHED),
                    other.name(),
                ),
            },
        };
        self.enter(now, from, next);
    }

    /// Installs `next`, reporting the change and keeping the Established bookkeeping.
    fn enter(&mut self, now: Instant, from: SessionState, next: State) {
        let to = next.kind();
        self.state = next;
        if from == to {
            return;
        }
        self.events
            .push_back(SessionEvent::StateChanged { from, to });
        if to == SessionState::Established {
            self.established_count += 1;
            self.last_established_at = Some(now);
            if let Some(n) = self.state.negotiated() {
                self.events
                    .push_back(SessionEvent::Established(Box::new(n.clone())));
            }
        }
        if from == SessionState::Established {
            self.flaps += 1;
            self.last_down_at = now;
        }
    }

    /// Starts from Idle: a passive session waits in Active, any other connects.
    fn start(&mut self, now: Instant) -> State {
        if self.config.passive {
            State::Active(Active { retry_at: None })
        } else {
            self.connect(now)
        }
    }

    /// Asks the I/O layer to connect and enters Connect with a fresh connect-retry timer.
    fn connect(&mut self, now: Instant) -> State {
        self.events.push_back(SessionEvent::Connect);
        State::Connect(Connect {
            retry_at: now + self.jitter.connect_retry(self.config.connect_retry),
        })
    }

    /// RFC 4271 §8.2.2 Connect/Active on a connection: "completes BGP initialization, …
    /// sends an OPEN message to its peer, sets the HoldTimer to a large value, and changes
    /// its state to OpenSent."
    fn send_open(&mut self, now: Instant, origin: ConnectionOrigin) -> State {
        let open = negotiate::local_open(&self.config, self.restarting);
        self.send(&Message::Open(open), &CodecContext::default());
        State::OpenSent(OpenSent {
            origin,
            hold_at: now + self.config.open_sent_hold,
        })
    }

    /// Goes to Idle: sends `sent` (if any), reports Down, asks for a disconnect, and arms
    /// the automatic restart unless an operator stop says otherwise.
    pub(crate) fn down(
        &mut self,
        now: Instant,
        reason: DownReason,
        sent: Option<NotificationMsg>,
        received: Option<NotificationMsg>,
    ) -> State {
        if let Some(n) = &sent {
            // The default context limits a NOTIFICATION to 4096 bytes, which every peer
            // accepts; `send` cuts longer data.
            self.send(&Message::Notification(n.clone()), &CodecContext::default());
        }
        let restart = match &reason {
            DownReason::Stopped(r) => r.restarts(),
            _ => true,
        };
        self.events.push_back(SessionEvent::Down {
            reason,
            sent,
            received,
        });
        self.events.push_back(SessionEvent::Disconnect);
        State::Idle(Idle {
            restart_at: restart.then(|| now + self.config.idle_hold_after_down),
        })
    }

    /// An operator stop on a connection: Cease with the reason's subcode and text.
    fn stop(&mut self, now: Instant, reason: StopReason) -> State {
        let n = reason.notification();
        self.down(now, DownReason::Stopped(reason), Some(n), None)
    }

    /// RFC 4271 §6.5: "If a system does not receive successive KEEPALIVE, UPDATE, and/or
    /// NOTIFICATION messages within the period specified in the Hold Time field …, then
    /// the NOTIFICATION message with the Hold Timer Expired Error Code is sent".
    fn hold_expired(&mut self, now: Instant) -> State {
        let n = NotificationMsg::hold_timer_expired();
        self.down(now, DownReason::HoldTimerExpired, Some(n), None)
    }

    /// RFC 4271 §6.8: the connection to be closed gets Cease (RFC 4486 subcode 7).
    fn collision_lost(&mut self, now: Instant) -> State {
        let n = notification(ErrorKind::Cease(
            CeaseSubcode::CONNECTION_COLLISION_RESOLUTION,
        ));
        self.down(now, DownReason::CollisionLost, Some(n), None)
    }

    fn closed(&mut self, now: Instant, error: Option<String>) -> State {
        self.down(now, DownReason::ConnectionClosed { error }, None, None)
    }

    /// A message that does not decode: the NOTIFICATION its error maps to (none for a
    /// malformed NOTIFICATION, RFC 4271 §6.4), then Idle.
    fn message_error(&mut self, now: Instant, e: DecodeError) -> State {
        let n = e.notification();
        self.down(now, DownReason::MessageError(e), n, None)
    }

    /// RFC 6608 §3: an unexpected input gets "a NOTIFICATION message with the Error Code
    /// Finite State Machine Error" and this state's subcode. `subcode` is `None` where no
    /// connection exists to carry it.
    fn fsm_error(
        &mut self,
        now: Instant,
        state: SessionState,
        subcode: Option<FsmSubcode>,
        input: &'static str,
    ) -> State {
        let n = subcode.map(|s| notification(ErrorKind::FiniteStateMachine(s)));
        self.down(now, DownReason::FsmError { state, input }, n, None)
    }

    /// Event 24 NotifMsgVerErr / Event 25 NotifMsg: the peer ends the session. Never
    /// answered with a NOTIFICATION (RFC 4271 §6.4).
    fn notification_received(&mut self, now: Instant, mut body: Reader<'_>) -> State {
        match NotificationMsg::decode(&mut body) {
            Ok(n) => {
                self.last_notification_received = Some(n.clone());
                self.down(now, DownReason::NotificationReceived, None, Some(n))
            }
            Err(short) => self.down(
                now,
                DownReason::MessageError(DecodeError::Notification(short)),
                None,
                None,
            ),
        }
    }

    /// Encodes and queues `msg`, counting it. A NOTIFICATION whose data would overflow the
    /// message is cut to fit: the error code matters more than the full data.
    pub(crate) fn send(&mut self, msg: &Message, ctx: &CodecContext) {
        let mut out = Vec::new();
        let res = msg.encode(ctx, &mut out);
        let res = match (res, msg) {
            (Err(_), Message::Notification(n)) => {
                let mut n = n.clone();
                let room = ctx
                    .max_message_len()
                    .saturating_sub(crate::framing::HEADER_LEN + 2);
                n.data.truncate(room);
                Message::Notification(n).encode(ctx, &mut out)
            }
            (r, _) => r,
        };
        if res.is_err() {
            // Only our own OPEN could fail here, and Session::new checked that it encodes.
            self.messages.sent.discarded += 1;
            return;
        }
        self.messages.sent.count(msg.message_type());
        if let Message::Notification(n) = msg {
            self.last_notification_sent = Some(n.clone());
        }
        self.transmits.push_back(out);
    }
}

impl Negotiated {
    /// The hold deadline counted from `now`, or `None` when the hold time is zero.
    pub(crate) fn hold_time_from(&self, now: Instant) -> Option<Instant> {
        (!self.hold_time.is_zero()).then(|| now + self.hold_time.duration())
    }
}

/// Which input a framed message is, given its header type.
pub(crate) fn frame_input<'a>(kind: MessageType, body: Reader<'a>, frame: &'a [u8]) -> Input<'a> {
    match kind {
        MessageType::Open => Input::Open(body),
        MessageType::Update => Input::Update(body),
        MessageType::Notification => Input::Notification(body),
        MessageType::Keepalive => Input::Keepalive,
        MessageType::RouteRefresh => Input::RouteRefresh(body, frame),
    }
}
