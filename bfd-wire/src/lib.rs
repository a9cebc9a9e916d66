//! BFD (Bidirectional Forwarding Detection, RFC 5880) control packet codec and sans-IO
//! session state machine.
//!
//! Nothing in this crate performs I/O, reads a clock or draws randomness of its own:
//! [`decode`] takes `&[u8]`, [`ControlPacket::encode`] returns bytes, and the
//! [`session::Session`] state machine takes the current [`std::time::Instant`] as an input
//! (and a seed for its transmit jitter) and hands back packets to send, events and the next
//! deadline. The porter binary wraps it in a task with the UDP sockets of RFC 5881
//! (single hop: port 3784, TTL 255), which are not this crate's business.
//!
//! # Scope
//!
//! - Asynchronous mode (§6.1) with the Poll Sequence (§6.5) for timer changes and the slow
//!   start of §6.8.3.
//! - No Demand mode (we never set D; a remote that does is honoured as §6.8.7 says) and no
//!   Echo function (we advertise Required Min Echo RX Interval zero).
//! - Authentication (§6.7) is not implemented: [`decode`] parses the authentication section
//!   of the five RFC types and checks its length, and a session discards every packet that
//!   carries one ([`session::Discard::AuthNotConfigured`]).
//!
//! Which §6.8.6 checks [`decode`] makes and which the session makes is told in [`packet`].

pub mod check;
pub mod packet;
pub mod session;

pub use packet::{decode, AuthSection, ControlPacket, DecodeError, Diag, State, CONTROL_LEN};
pub use session::{ConfigError, Counters, Discard, Event, Session, SessionConfig};
