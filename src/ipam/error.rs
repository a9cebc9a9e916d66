//! Typed IPAM errors. Each message names the pool, address or Service it is about, so the
//! controller can put it in an Event or a condition as it is.

use std::fmt;
use std::net::IpAddr;

use super::address::IpFamily;
use super::request::{PortProtocol, ServiceKey};

/// Why a pool's `address` field is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The address is the empty string.
    #[error("empty address")]
    Empty,
    /// A character that the grammar does not allow at this place.
    #[error(
        "unexpected {} at column {column}, expected {expected}",
        found.map_or_else(|| "end of address".to_owned(), |c| format!("{c:?}"))
    )]
    Syntax {
        /// 1-based character column of the offending character.
        column: usize,
        /// The offending character, `None` at the end of the text.
        found: Option<char>,
        /// What the grammar wanted there.
        expected: &'static str,
    },
    /// A token made of address characters that is not an IPv4 or IPv6 address.
    #[error("not an IP address: {text:?}")]
    BadIp {
        /// The token as written.
        text: String,
    },
    /// `a-b` where `b` comes before `a`.
    #[error("{start}-{end}: range start after end")]
    RangeStartAfterEnd {
        /// Range start.
        start: IpAddr,
        /// Range end.
        end: IpAddr,
    },
    /// `a-b` with one IPv4 and one IPv6 address.
    #[error("{start}-{end}: range mixes IPv4 and IPv6")]
    MixedFamilies {
        /// Range start.
        start: IpAddr,
        /// Range end.
        end: IpAddr,
    },
    /// A CIDR prefix longer than the address.
    #[error("prefix length /{prefix} is too long for {family} (at most /{max})")]
    PrefixTooLong {
        /// The prefix digits as written.
        prefix: String,
        /// The family of the address before the `/`.
        family: IpFamily,
        /// The longest valid prefix for that family.
        max: u8,
    },
    /// The whole IPv6 space (`::/0`): its size does not fit in 128 bits.
    #[error("a pool of all 2^128 IPv6 addresses is not supported")]
    TooLarge,
}

/// Why a pool is unusable (the controller shows it as an `Invalid` condition on the Eip).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The pool has an empty name.
    #[error("pool has an empty name")]
    EmptyName,
    /// The `address` field does not parse.
    #[error("invalid address {address:?}: {error}")]
    Address {
        /// The address as written.
        address: String,
        /// What is wrong with it.
        error: AddressError,
    },
    /// Another pool of the same name came first (only possible in a standalone file).
    #[error("duplicate pool name {name:?}")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// The address block overlaps a pool whose name sorts first.
    #[error("address {address} overlaps pool {other:?} ({other_address})")]
    Overlap {
        /// This pool's address.
        address: String,
        /// The pool that keeps the overlapping addresses.
        other: String,
        /// That pool's address.
        other_address: String,
    },
    /// A second default pool of the same family; the one whose name sorts first stays default.
    #[error("pool {other:?} is already the default {family} pool")]
    DuplicateDefault {
        /// Address family of both pools.
        family: IpFamily,
        /// The default pool that stays.
        other: String,
    },
    /// A namespace selector expression that Kubernetes would reject.
    #[error("invalid namespaceSelector: {reason}")]
    BadSelector {
        /// What is wrong.
        reason: String,
    },
}

/// Why two Services may not hold the same address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SharingRefusal {
    /// The requesting Service has no sharing key.
    NoKey,
    /// The holder has no sharing key.
    HolderNoKey,
    /// Both have sharing keys, but different ones.
    KeyMismatch {
        /// The requester's key.
        ours: String,
        /// The holder's key.
        theirs: String,
    },
    /// Both use the same protocol and port.
    PortCollision {
        /// Protocol of the colliding port.
        protocol: PortProtocol,
        /// The colliding port number.
        port: u16,
    },
}

impl fmt::Display for SharingRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SharingRefusal::NoKey => f.write_str("this Service has no sharing key"),
            SharingRefusal::HolderNoKey => f.write_str("that Service has no sharing key"),
            SharingRefusal::KeyMismatch { ours, theirs } => {
                write!(f, "sharing keys differ ({ours:?} vs {theirs:?})")
            }
            SharingRefusal::PortCollision { protocol, port } => {
                write!(f, "both use {protocol} port {port}")
            }
        }
    }
}

/// Why an allocation request cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpamError {
    /// A pool named by the Service does not exist.
    #[error("pool {pool:?} not found")]
    PoolNotFound {
        /// The requested pool name.
        pool: String,
    },
    /// A pool named by the Service, or holding the requested address, is invalid.
    #[error("pool {pool:?} is invalid: {reason}")]
    PoolInvalid {
        /// The pool name.
        pool: String,
        /// Why it is invalid.
        reason: PoolError,
    },
    /// The chosen pool is disabled: it keeps existing allocations but gives out no new ones.
    #[error("pool {pool:?} is disabled")]
    PoolDisabled {
        /// The pool name.
        pool: String,
    },
    /// Every candidate pool is full.
    #[error("no free {family} address in pool(s) {}", pools.join(", "))]
    PoolExhausted {
        /// Family of the wanted address.
        family: IpFamily,
        /// The candidate pools, in the order they were tried.
        pools: Vec<String>,
    },
    /// The requested address is in no pool.
    #[error("requested address {ip} is not in any pool")]
    IpOutsidePools {
        /// The requested address.
        ip: IpAddr,
    },
    /// The requested address is not in the pool(s) the Service names.
    #[error("requested address {ip} is not in pool(s) {}", pools.join(", "))]
    IpOutsidePool {
        /// The requested address.
        ip: IpAddr,
        /// The pools the Service names for that family.
        pools: Vec<String>,
    },
    /// The requested address is the network or broadcast address of an IPv4 CIDR pool.
    #[error(
        "requested address {ip} is the network or broadcast address of pool {pool:?} \
         (set usingKnownIPs to use it)"
    )]
    ReservedAddress {
        /// The requested address.
        ip: IpAddr,
        /// The pool whose block holds it.
        pool: String,
    },
    /// The requested address is held by another Service that will not share it.
    #[error("address {ip} is already taken by {holder}: {reason}")]
    AddressInUse {
        /// The contested address.
        ip: IpAddr,
        /// The Service that holds it.
        holder: ServiceKey,
        /// Why they cannot share.
        reason: SharingRefusal,
    },
    /// A requested address of a family the Service does not ask for.
    #[error("requested address {ip} is {}, but the Service asks for {families}", IpFamily::of(*ip))]
    IpFamilyNotRequested {
        /// The requested address.
        ip: IpAddr,
        /// The families the Service asks for.
        families: String,
    },
    /// Two requested addresses of one family.
    #[error("two requested {family} addresses: {first} and {second}")]
    DuplicateRequestedFamily {
        /// The family.
        family: IpFamily,
        /// The first address.
        first: IpAddr,
        /// The second address.
        second: IpAddr,
    },
    /// The Service names pools, but none of them is of a family it needs.
    #[error("no {family} pool among the requested pool(s) {}", pools.join(", "))]
    NoPoolOfFamily {
        /// The family with no pool.
        family: IpFamily,
        /// The pools the Service names.
        pools: Vec<String>,
    },
    /// No pool is bound to the namespace and there is no usable default pool.
    #[error("no {family} pool for namespace {namespace:?} and no default {family} pool")]
    NoPoolForNamespace {
        /// The Service namespace.
        namespace: String,
        /// The wanted family.
        family: IpFamily,
    },
    /// A requested address (annotation or `spec.loadBalancerIP`) that does not parse.
    #[error("requested address {text:?} is not an IP address")]
    BadRequestedIp {
        /// The text as written.
        text: String,
    },
}
