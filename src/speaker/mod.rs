//! The BGP speaker runtime: a tokio task per peer driving a `bgp_wire::session::Session`, a
//! listener, and an Adj-RIB-Out per peer fed from the desired routes.

pub mod config;
pub mod rib;

pub use config::{GlobalConfig, PeerConfig, SpeakerConfig};
pub use rib::{DesiredRoutes, NextHop, RouteAttrs, RouteSpec};
