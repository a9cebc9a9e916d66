//! What a session tells its caller: events, reasons to discard a packet, and counters.

use crate::packet::{DecodeError, Diag, State};

/// Something the caller acts on, from [`super::Session::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `bfd.SessionState` changed. `diag` is the new `bfd.LocalDiag`: for a drop from Up,
    /// [`Diag::ControlDetectionTimeExpired`] when the remote system fell silent, and
    /// [`Diag::NeighborSignaledSessionDown`] when it said Down or AdminDown (in the second
    /// case a [`Event::RemoteAdminDown`] comes just before).
    StateChanged {
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// `bfd.LocalDiag` after the change.
        diag: Diag,
    },
    /// The remote system signalled AdminDown while our session was not Down: it is taking
    /// the session down on purpose, which RFC 5882 §3.2 says is not a path failure ("the
    /// receiving system SHOULD NOT indicate a connectivity failure to any client"). The
    /// [`Event::StateChanged`] to Down follows.
    RemoteAdminDown,
}

impl Event {
    /// Whether this is a drop from Up that a client should treat as a failure of the path
    /// (RFC 5882 §3): detection time expiry or the neighbour signalling Down. A local or
    /// remote AdminDown is not.
    pub fn is_failure(&self, remote_state: State) -> bool {
        matches!(
            self,
            Event::StateChanged {
                from: State::Up,
                to: State::Down,
                ..
            }
        ) && remote_state != State::AdminDown
    }
}

/// Why [`super::Session::handle_packet`] discarded a packet (RFC 5880 §6.8.6), one variant
/// per rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Discard {
    /// A packet-only check failed (a packet built in memory rather than decoded, or decoded
    /// without checks).
    #[error("malformed: {0}")]
    Malformed(DecodeError),
    /// Your Discriminator is nonzero and not ours.
    #[error("your discriminator {got:#x} is not ours ({ours:#x})")]
    DiscriminatorMismatch {
        /// Our discriminator.
        ours: u32,
        /// The packet's Your Discriminator.
        got: u32,
    },
    /// Your Discriminator is zero while the packet's state is Init or Up.
    #[error("your discriminator is zero in state {0}")]
    ZeroYourDiscriminator(State),
    /// The A bit is set and the session has no authentication configured.
    #[error("authentication present, but not configured")]
    AuthNotConfigured,
    /// Our session is AdminDown: the remote variables were updated, the packet goes no
    /// further ("If bfd.SessionState is AdminDown: Discard the packet").
    #[error("session is administratively down")]
    AdminDown,
}

impl Discard {
    /// A short snake_case label for counters and metrics, one per variant (a malformed
    /// packet gives its [`DecodeError::reason`]).
    pub fn reason(&self) -> &'static str {
        match self {
            Discard::Malformed(e) => e.reason(),
            Discard::DiscriminatorMismatch { .. } => "discriminator_mismatch",
            Discard::ZeroYourDiscriminator(_) => "zero_your_discriminator",
            Discard::AuthNotConfigured => "auth_not_configured",
            Discard::AdminDown => "admin_down",
        }
    }
}

/// Counts over the life of a session, for metrics (MetalLB's names with a `porter_bfd_`
/// prefix map onto these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Control packets handed out by `poll_transmit`.
    pub packets_sent: u64,
    /// Control packets handed to `handle_packet`, discarded ones included. (Packets that
    /// do not decode never reach a session: the caller counts those.)
    pub packets_received: u64,
    /// Of those, the ones discarded.
    pub packets_dropped: u64,
    /// Transitions into Up.
    pub up_events: u64,
    /// Transitions out of Up (to Down or AdminDown).
    pub down_events: u64,
    /// Of those, the ones caused by detection time expiry.
    pub detection_timeouts: u64,
}
