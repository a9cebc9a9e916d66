//! BGP-4 wire codec and sans-IO session state machine.
//!
//! Nothing in this crate performs I/O, reads a clock or spawns a task: decode functions take
//! `&[u8]`, encode functions append to a `Vec<u8>`, and the [`session`] state machine takes the
//! current [`std::time::Instant`] as an input and hands back messages to send and the next
//! deadline. The porter binary wraps it in a tokio task per peer.
//!
//! Negotiated state that changes how bytes are read (4-octet AS numbers, ADD-PATH per
//! AFI/SAFI, extended messages) is passed in as a [`CodecContext`].

pub mod attribute;
pub mod capability;
pub mod check;
pub mod codec;
pub mod context;
pub mod error;
pub mod framing;
pub mod iana;
pub mod message;
pub mod nlri;
pub mod session;

pub use context::CodecContext;
pub use error::DecodeError;
pub use framing::message_len;
pub use iana::{Afi, Family, Safi};
pub use message::Message;
