//! What goes into a session ([`Event`]) and what comes out of it ([`SessionEvent`]).

use crate::error::{DecodeError, HeaderError, UpdateError};
use crate::iana::Family;
use crate::message::notification::{CeaseSubcode, ErrorKind, NotificationMsg};
use crate::message::route_refresh::RefreshSubtype;
use crate::message::update::Treatment;

use super::negotiate::Negotiated;
use super::state::SessionState;

/// An input from the I/O layer or the operator. Messages go through
/// [`super::Session::handle_frame`] and timers through [`super::Session::handle_timeout`]
/// instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// RFC 4271 §8.1.2 Event 1 ManualStart, Event 3 AutomaticStart, Event 4
    /// ManualStart_with_PassiveTcpEstablishment and Event 5
    /// AutomaticStart_with_PassiveTcpEstablishment (passive or not is configuration).
    /// Ignored outside Idle.
    Start,
    /// RFC 4271 §8.1.2 Event 2 ManualStop and Event 8 AutomaticStop: leave the session with
    /// a Cease NOTIFICATION carrying the reason (RFC 4486, RFC 9003).
    Stop(StopReason),
    /// RFC 4271 §8.1.3 Event 14 TcpConnection_Valid, Event 16 Tcp_CR_Acked and Event 17
    /// TcpConnectionConfirmed: the connection this session drives is up.
    TcpConnected(ConnectionOrigin),
    /// RFC 4271 §8.1.3 Event 15 Tcp_CR_Invalid and Event 18 TcpConnectionFails while
    /// connecting: our connection attempt failed (refused, unreachable, timed out).
    TcpConnectFailed,
    /// RFC 4271 §8.1.3 Event 18 TcpConnectionFails on an open connection: the peer closed
    /// it, or reading or writing failed (`error` says how).
    TcpClosed {
        /// The I/O error, if it was not an orderly close.
        error: Option<String>,
    },
    /// RFC 4271 §8.1.4 Event 23 OpenCollisionDump: collision detection (RFC 4271 §6.8, see
    /// [`super::collision_winner`]) chose the other connection; this one leaves with Cease /
    /// Connection Collision Resolution (6/7).
    CollisionLost,
}

/// Which side opened the TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ConnectionOrigin {
    /// We connected to the peer.
    Local,
    /// The peer connected to us.
    Remote,
}

/// Why the operator (or the speaker) stops or resets a session, and the Cease subcode it
/// sends (RFC 4486 §4).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum StopReason {
    /// 6/2 Administrative Shutdown with an RFC 9003 shutdown communication (may be empty).
    /// The session stays in Idle until started again.
    AdministrativeShutdown(String),
    /// 6/3 Peer De-configured. The session stays in Idle.
    PeerDeconfigured,
    /// 6/4 Administrative Reset with an RFC 9003 shutdown communication (may be empty). The
    /// session restarts after the idle hold time.
    AdministrativeReset(String),
    /// 6/6 Other Configuration Change: the session restarts after the idle hold time, e.g.
    /// with new capabilities.
    ConfigurationChange,
    /// 6/10 BFD Down (RFC 9384): BFD declared the path to the peer dead (RFC 5882). The
    /// NOTIFICATION carries no data; `reason` is for the local log and status.
    BfdDown {
        /// What BFD reported, for people.
        reason: String,
        /// Restart after the idle hold time (false: stay in Idle until started, as BFD
        /// strict mode wants while BFD is down).
        restart: bool,
    },
}

impl StopReason {
    /// Whether the session starts again by itself after this stop.
    pub fn restarts(&self) -> bool {
        match self {
            StopReason::AdministrativeReset(_) | StopReason::ConfigurationChange => true,
            StopReason::BfdDown { restart, .. } => *restart,
            StopReason::AdministrativeShutdown(_) | StopReason::PeerDeconfigured => false,
        }
    }

    /// The Cease NOTIFICATION this stop sends.
    pub fn notification(&self) -> NotificationMsg {
        match self {
            StopReason::AdministrativeShutdown(text) => NotificationMsg::admin_shutdown(text),
            StopReason::AdministrativeReset(text) => NotificationMsg::admin_reset(text),
            StopReason::PeerDeconfigured => {
                NotificationMsg::cease(CeaseSubcode::PEER_DECONFIGURED, Vec::new())
            }
            StopReason::ConfigurationChange => {
                NotificationMsg::cease(CeaseSubcode::OTHER_CONFIGURATION_CHANGE, Vec::new())
            }
            StopReason::BfdDown { .. } => {
                NotificationMsg::cease(CeaseSubcode::BFD_DOWN, Vec::new())
            }
        }
    }
}

/// An output for the I/O layer or the speaker, from [`super::Session::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// Open a TCP connection to the peer, then report [`Event::TcpConnected`] or
    /// [`Event::TcpConnectFailed`]. A pending attempt is abandoned by [`SessionEvent::Disconnect`].
    Connect,
    /// Write every pending transmit, then close the connection (or abandon the attempt).
    Disconnect,
    /// The state changed.
    StateChanged {
        /// Old state.
        from: SessionState,
        /// New state.
        to: SessionState,
    },
    /// The session reached Established with this negotiated state.
    Established(Box<Negotiated>),
    /// The session went back to Idle.
    Down {
        /// Why.
        reason: DownReason,
        /// The NOTIFICATION we sent, if any (queued for transmission before the disconnect).
        sent: Option<NotificationMsg>,
        /// The NOTIFICATION the peer sent, if any.
        received: Option<NotificationMsg>,
    },
    /// An UPDATE arrived and did not reset the session.
    UpdateReceived(UpdateSummary),
    /// The peer asked for our routes again (RFC 2918), or marks the start or end of its own
    /// re-advertisement (RFC 7313).
    RouteRefreshRequested {
        /// The family.
        family: Family,
        /// Normal request, BoRR or EoRR.
        subtype: RefreshSubtype,
    },
}

/// Why a session went back to Idle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// The operator stopped or reset it.
    Stopped(StopReason),
    /// No message from the peer within the hold time (NOTIFICATION 4/0 sent).
    HoldTimerExpired,
    /// The peer sent a NOTIFICATION.
    NotificationReceived,
    /// A message from the peer could not be accepted: a header, OPEN, UPDATE or
    /// ROUTE-REFRESH error, or a malformed NOTIFICATION.
    MessageError(DecodeError),
    /// Something arrived that the state does not expect (RFC 6608): a message type, or an
    /// event the I/O layer should not have sent.
    FsmError {
        /// The state it arrived in.
        state: SessionState,
        /// What arrived.
        input: &'static str,
    },
    /// The TCP connection closed or failed.
    ConnectionClosed {
        /// The I/O error, if it was not an orderly close.
        error: Option<String>,
    },
    /// Collision detection closed this connection (Cease 6/7 sent).
    CollisionLost,
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::Stopped(StopReason::BfdDown { reason, .. }) => f.write_str(reason),
            DownReason::Stopped(r) => write!(f, "stopped: {r:?}"),
            DownReason::HoldTimerExpired => f.write_str("hold timer expired"),
            DownReason::NotificationReceived => f.write_str("NOTIFICATION received"),
            DownReason::MessageError(e) => write!(f, "{e}"),
            DownReason::FsmError { state, input } => {
                write!(f, "unexpected {input} in {state:?}")
            }
            DownReason::ConnectionClosed { error: None } => f.write_str("connection closed"),
            DownReason::ConnectionClosed { error: Some(e) } => {
                write!(f, "connection failed: {e}")
            }
            DownReason::CollisionLost => f.write_str("connection collision resolution"),
        }
    }
}

/// What an accepted UPDATE carried, for counters and the speaker's bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateSummary {
    /// Prefixes announced (NLRI field plus MP_REACH_NLRI; IPv4/IPv6 unicast only, other
    /// families travel undecoded and are not counted). Under
    /// [`Treatment::TreatAsWithdraw`] these count as withdrawn (RFC 7606 §2).
    pub announced: usize,
    /// Prefixes withdrawn (Withdrawn Routes plus MP_UNREACH_NLRI; IPv4/IPv6 unicast only).
    pub withdrawn: usize,
    /// What RFC 7606 says to do with the message.
    pub treatment: Treatment,
    /// The family this UPDATE marks End-of-RIB for (RFC 4724 §2), if it is such a marker.
    pub end_of_rib: Option<Family>,
    /// The non-fatal errors found, for logs.
    pub errors: Vec<UpdateError>,
}

/// Why [`super::Session::send_update`] or [`super::Session::send_route_refresh`] refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Only an Established session sends UPDATE and ROUTE-REFRESH (RFC 4271 §8.2.2).
    #[error("session is {0:?}, not Established")]
    NotEstablished(SessionState),
    /// The bytes are not one well-formed message for the negotiated context (sending them
    /// would make the peer reset the session).
    #[error("not a valid UPDATE for this session: {0}")]
    InvalidUpdate(DecodeError),
    /// The bytes hold a message that is not an UPDATE.
    #[error("not an UPDATE message")]
    NotAnUpdate,
    /// The peer did not offer route refresh (RFC 2918 §4: send only "if it has received the
    /// Route Refresh Capability from its peer").
    #[error("peer does not support route refresh")]
    RouteRefreshNotNegotiated,
    /// BoRR/EoRR need enhanced route refresh on both sides (RFC 7313 §4); reserved
    /// subtypes are never sent.
    #[error("route refresh subtype {0:?} not allowed on this session")]
    RefreshSubtypeNotAllowed(RefreshSubtype),
    /// The family was not negotiated.
    #[error("family {0} not negotiated")]
    FamilyNotNegotiated(Family),
}

impl From<HeaderError> for SendError {
    fn from(e: HeaderError) -> Self {
        SendError::InvalidUpdate(DecodeError::Header(e))
    }
}

/// A NOTIFICATION without data.
pub(crate) fn notification(error: ErrorKind) -> NotificationMsg {
    NotificationMsg {
        error,
        data: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_map_to_cease_subcodes() {
        let n = StopReason::AdministrativeShutdown("maintenance".into()).notification();
        assert_eq!(n.error.code_subcode(), (6, 2));
        assert_eq!(n.shutdown_communication().as_deref(), Some("maintenance"));
        assert_eq!(
            StopReason::PeerDeconfigured
                .notification()
                .error
                .code_subcode(),
            (6, 3)
        );
        assert_eq!(
            StopReason::AdministrativeReset(String::new())
                .notification()
                .error
                .code_subcode(),
            (6, 4)
        );
        assert!(StopReason::ConfigurationChange.restarts());
        assert!(!StopReason::PeerDeconfigured.restarts());
    }
}
