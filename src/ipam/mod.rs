//! Pure IP address management: pools, allocation, sharing. No Kubernetes types.
//!
//! Plain data in, plain data out: no I/O, no clock, no Kubernetes client. The Kubernetes
//! controller and the standalone mode both turn their objects into [`PoolSpec`]s and
//! [`ServiceRequest`]s, drive one [`Allocator`], and write back what it returns
//! ([`Allocation`], [`PoolStatus`], errors as Events and conditions).
//!
//! Semantics follow OpenELB v0.6 (`network.kubesphere.io/v1alpha2` Eip), with these choices:
//!
//! * `priority`: the lower value is tried first, as in OpenELB.
//! * IPv4 CIDR pools shorter than /31 skip their network and broadcast addresses unless
//!   `usingKnownIPs` is set, and `poolSize`, `firstIP`, `lastIP` count only allocatable
//!   addresses.
//! * Sharing needs the same [`SHARING_ANNOTATION`] key on both Services and no common
//!   (protocol, port); OpenELB shares any explicitly requested address.
//! * One default pool per family (OpenELB: one in all).
//!
//! See [`allocator`] for the allocation rules.
//!
//! ```
//! use porter::ipam::{Allocator, PoolSpec, ServiceRequest};
//!
//! let mut pool = PoolSpec::new("eip-pool", "203.0.113.0/24");
//! pool.is_default = true;
//! // After a restart, pass what Services hold as the second argument.
//! let (mut ipam, conflicts) = Allocator::rebuild([pool], &[]);
//! assert!(conflicts.is_empty());
//!
//! let web = ServiceRequest::new("default", "web");
//! let got = ipam.allocate(&web).unwrap();
//! assert_eq!(got.assigned[0].ip.to_string(), "203.0.113.1"); // .0 is the network address
//! assert_eq!(ipam.pool_status("eip-pool").unwrap().usage, 1);
//! ipam.release(&web.service);
//! ```

pub mod address;
pub mod allocator;
mod cost;
pub mod error;
mod free;
pub mod pool;
pub mod request;

pub use address::{AddressForm, IpFamily, PoolAddress};
pub use allocator::{Allocation, Allocator, Assigned, PoolStatus, RebuildConflict};
pub use error::{AddressError, IpamError, PoolError, SharingRefusal};
pub use pool::{
    is_default_pool, validate_pools, Invalid, LabelSelector, Pool, PoolProtocol, PoolSpec,
    SelectorOperator, SelectorRequirement, ValidatedPools, DEFAULT_POOL_ANNOTATION,
};
pub use request::{
    opt_in, FamilyRequest, OptIn, PortProtocol, ServiceKey, ServicePort, ServiceRequest,
    IP_ANNOTATION, LB_ANNOTATION, POOL_ANNOTATION, SHARING_ANNOTATION,
};

#[cfg(test)]
mod tests;
