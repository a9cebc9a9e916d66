//! porter: a load balancer for bare-metal Kubernetes with its own BGP-4 speaker.
//!
//! Data flows one way: sources (Kubernetes watches or the standalone file) → desired state
//! (which IP, which next hops, to which peers) → speaker / layer-2 announcer → wire. Status
//! flows back from the speaker to one status writer.

pub mod controller;
pub mod decode;
pub mod import;
pub mod ipam;
pub mod layer2;
pub mod overview;
pub mod speaker;
pub mod standalone;
pub mod status;
pub mod sys;
pub mod telemetry;
