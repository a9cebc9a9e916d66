//! Layer-2 mode: answer ARP (IPv4) and NDP (IPv6) for Eip addresses from one elected
//! replica, and hand them over fast and cleanly when it dies.
//!
//! - [`interface`]: `spec.interface` (a name or `can_reach:<IP>`) → an Ethernet interface.
//! - [`packet`]: pure ARP / Neighbor Discovery parsing and frame building.
//! - [`responder`]: the tokio task on raw packet sockets that answers for the owned set.
//! - [`responders`]: one responder per `spec.interface` in use, for both modes.
//! - [`election`]: the pure Lease election state machine deciding who owns an address.
//! - [`ownership`]: the driver running one election per address against a [`ownership::LeaseStore`].
//! - [`lease`]: the Kubernetes Lease adapter of that store.
//!
//! Data flows one way: the election (or, in standalone mode, the configuration: the single
//! instance owns all its layer-2 addresses) produces the owned set per interface, the
//! responder obeys it.

pub mod election;
pub mod interface;
pub mod lease;
pub mod ownership;
pub mod packet;
pub mod responder;
pub mod responders;

pub use election::{ElectionTimings, Elector, LeaseRecord};
pub use interface::{Interface, InterfaceError, InterfaceSpec};
pub use packet::MacAddr;
pub use responder::{Responder, ResponderConfig, ResponderError};
