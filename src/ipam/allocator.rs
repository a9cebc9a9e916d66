//! The allocator: which Service holds which address of which pool.
//!
//! # Rules
//!
//! * **Stable.** A Service keeps what it holds as long as the holding still satisfies its
//!   request: the same requested address, a pool it names, compatible sharing. An automatic
//!   holding is kept even if a better pool appears or the pool is disabled (OpenELB does the
//!   same: it only re-allocates when the Service names another pool or address).
//! * **Deterministic.** Everything is ordered (`BTreeMap`s keyed by name and address). A new
//!   address is the lowest free one of the chosen pool; a Service with a sharing key first
//!   joins the lowest address whose holders all agree to share with it.
//! * **Atomic.** [`Allocator::allocate`] either applies a whole request (all families) or
//!   changes nothing, so a failed change of request never loses the address in use.
//! * **Rebuildable.** [`Allocator::rebuild`] restores the state from what Services hold. Two
//!   Services holding one address without a sharing agreement are reported; the loser's claim
//!   is kept ("pending"), so it is not silently renumbered: its next `allocate` asks for that
//!   address again and fails, naming the holder, until the holder lets go.
//! * **O(log n) per Service, whatever the pool's size.** Per pool, besides the sorted map of
//!   used addresses and their holders, the free addresses are kept as maximal runs
//!   (`first → last`, in `free.rs`): a fresh IPv6 /64 is one run of two numbers, the lowest
//!   free address is the first run's start, and taking or giving back an address splits or
//!   merges runs in a few searches. An address the requester holds alone also counts as free
//!   for it: that is its own slot, one more search. A Service with a sharing key looks for an
//!   address to join only among the addresses whose holders all have its key (an index per
//!   key), not among every used address. So allocating and releasing cost O(log n) searches
//!   and a rebuild O(n log n). Memory: one entry per used address, per hole between used
//!   addresses and per address shared under a key. Still linear, as before: joining under a
//!   key walks that key's addresses until one has no port in common with the requester, and
//!   each holder of a shared address is checked. A test keeps the counted steps from growing
//!   faster than n·log n (`cost.rs`, `allocation_work_grows_as_n_log_n`).
//!
//! # Pool choice, per wanted family
//!
//! 1. A requested address (IP annotation, `loadBalancerIP`): the pool containing it; if the
//!    Service also names pools, the address must be in one of them.
//! 2. Named pools (pool annotation), in the order given.
//! 3. Pools bound to the namespace (`namespaces` or `namespaceSelector`), lowest `priority`
//!    value first, then by name; the first with room wins (OpenELB sorts non-full pools first,
//!    then by ascending priority).
//! 4. Only if no pool is bound to the namespace: the default pool of that family.
//!
//! Disabled pools give out no new addresses but keep existing ones.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::address::{from_u128, to_u128, IpFamily};
use super::cost;
use super::error::{IpamError, SharingRefusal};
use super::free::FreeRuns;
use super::pool::{validate_pools, Invalid, Pool, PoolProtocol, PoolSpec};
use super::request::{ServiceKey, ServicePort, ServiceRequest};

/// One address held by a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    /// The address.
    pub ip: IpAddr,
    /// The pool it comes from.
    pub pool: String,
    /// How the pool's addresses are announced.
    pub protocol: PoolProtocol,
}

/// Result of a successful [`Allocator::allocate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// The Service's addresses now, IPv4 first.
    pub assigned: Vec<Assigned>,
    /// Addresses the Service held before this call and no longer holds (to withdraw).
    pub released: Vec<Assigned>,
}

/// A problem found while rebuilding from what Services hold. None is resolved silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RebuildConflict {
    /// Two Services hold one address without a sharing agreement. `holder` keeps it (a
    /// Service that requested the address explicitly wins, then the lower `namespace/name`);
    /// `service`'s claim stays pending.
    #[error("{service} and {holder} both hold {ip} ({reason}); {holder} keeps it")]
    Contested {
        /// The address.
        ip: IpAddr,
        /// The Service whose claim was not granted.
        service: ServiceKey,
        /// The Service that keeps the address.
        holder: ServiceKey,
        /// Why they cannot share.
        reason: SharingRefusal,
    },
    /// The address is in no pool (its pool was deleted or changed): it is not recorded.
    #[error("{service} holds {ip}, which is in no pool")]
    OutsidePools {
        /// The address.
        ip: IpAddr,
        /// The Service.
        service: ServiceKey,
    },
    /// The address is in an invalid pool only: it is not recorded.
    #[error("{service} holds {ip} of invalid pool {pool:?}")]
    InvalidPool {
        /// The address.
        ip: IpAddr,
        /// The Service.
        service: ServiceKey,
        /// The invalid pool.
        pool: String,
    },
    /// The address is the network or broadcast address of an IPv4 CIDR pool (the pool changed
    /// or lost `usingKnownIPs`): it is not recorded.
    #[error("{service} holds {ip}, the network or broadcast address of pool {pool:?}")]
    Reserved {
        /// The address.
        ip: IpAddr,
        /// The Service.
        service: ServiceKey,
        /// The pool.
        pool: String,
    },
    /// A Service holds two addresses of one family; the lower one is kept.
    #[error("{service} holds two {family} addresses, keeping {kept} and dropping {ip}")]
    SecondAddress {
        /// The dropped address.
        ip: IpAddr,
        /// The kept address.
        kept: IpAddr,
        /// Their family.
        family: IpFamily,
        /// The Service.
        service: ServiceKey,
    },
}

/// What `Eip.status` shows for a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStatus {
    /// `occupied`: every address is in use.
    pub occupied: bool,
    /// `usage`: number of addresses in use (a shared address counts once).
    pub usage: usize,
    /// `poolSize`: number of allocatable addresses. Up to 2^128 − 1: the status writer must
    /// clamp it for the CRD's integer field.
    pub pool_size: u128,
    /// `used`: address → holders as `ns/name`, sorted, joined by `;`.
    pub used: BTreeMap<IpAddr, String>,
    /// `firstIP`: first allocatable address.
    pub first_ip: IpAddr,
    /// `lastIP`: last allocatable address.
    pub last_ip: IpAddr,
    /// `v4`: the pool is IPv4.
    pub v4: bool,
}

/// The IPAM state. Pure: no I/O, no clock; every input and output is plain data.
#[derive(Debug, Clone, Default)]
pub struct Allocator {
    pools: BTreeMap<String, PoolState>,
    invalid: Vec<Invalid>,
    /// Valid pools by (family, first address of the whole block); blocks are disjoint.
    blocks: BTreeMap<(IpFamily, u128), String>,
    /// What each Service holds, at most one address per family.
    services: BTreeMap<ServiceKey, Held>,
    /// Contested claims from a rebuild, per Service and family.
    pending: BTreeMap<ServiceKey, BTreeMap<IpFamily, IpAddr>>,
    /// Test only: pick addresses by the linear walks of the reference model.
    #[cfg(test)]
    linear: bool,
}

impl Allocator {
    /// An allocator over `pools` with nothing allocated. Invalid pools are kept aside; see
    /// [`Allocator::invalid_pools`].
    pub fn new(pools: impl IntoIterator<Item = PoolSpec>) -> Self {
        let validated = validate_pools(pools);
        let mut blocks = BTreeMap::new();
        let pools = validated
            .valid
            .into_iter()
            .map(|(name, pool)| {
                blocks.insert(
                    (pool.family(), pool.address().span_bounds().0),
                    name.clone(),
                );
                (name, PoolState::new(pool))
            })
            .collect();
        Allocator {
            pools,
            invalid: validated.invalid,
            blocks,
            services: BTreeMap::new(),
            pending: BTreeMap::new(),
            #[cfg(test)]
            linear: false,
        }
    }

    /// Rebuild the state from what Services already hold (their `status.loadBalancer`
    /// addresses), e.g. after a restart. A dual-stack Service appears once per address.
    ///
    /// The result does not depend on the order of `existing`. Holdings are recorded even when
    /// they no longer match the Service's request (a later [`Allocator::allocate`] moves
    /// them); what cannot be recorded is returned as a conflict.
    pub fn rebuild(
        pools: impl IntoIterator<Item = PoolSpec>,
        existing: &[(ServiceRequest, IpAddr)],
    ) -> (Self, Vec<RebuildConflict>) {
        let claims = existing
            .iter()
            .map(|(req, ip)| Claim {
                // A Service that asked for this very address outranks one that did not.
                rank: if req.requested_ips.contains(ip) { 1 } else { 2 },
                service: req.service.clone(),
                ip: *ip,
                holder: Holder::of(req),
            })
            .collect();
        let mut allocator = Allocator::new(pools);
        let conflicts = allocator.record_claims(claims);
        (allocator, conflicts)
    }

    /// Replace the pool set, keeping current holdings where the new pools still contain them.
    /// Current holders always keep their addresses over pending claims.
    pub fn set_pools(&mut self, pools: impl IntoIterator<Item = PoolSpec>) -> Vec<RebuildConflict> {
        let mut claims = Vec::new();
        for state in self.pools.values() {
            for (addr, holders) in &state.used {
                for (service, holder) in holders.iter() {
                    claims.push(Claim {
                        rank: 0,
                        service: service.clone(),
                        ip: from_u128(state.pool.family(), *addr),
                        holder: holder.clone(),
                    });
                }
            }
        }
        for (service, ips) in &self.pending {
            for ip in ips.values() {
                claims.push(Claim {
                    rank: 2,
                    service: service.clone(),
                    ip: *ip,
                    // A pending claim has no holder data of its own; the next allocate()
                    // replaces it with the request's.
                    holder: Holder::default(),
                });
            }
        }
        #[cfg(test)]
        let linear = self.linear;
        *self = Allocator::new(pools);
        #[cfg(test)]
        {
            self.linear = linear;
        }
        self.record_claims(claims)
    }

    /// Give the Service the addresses its request asks for, keeping what it already holds when
    /// that still satisfies the request. Idempotent. On error nothing changes.
    pub fn allocate(&mut self, req: &ServiceRequest) -> Result<Allocation, IpamError> {
        req.validate()?;
        // A named pool that is missing or invalid is reported even when the request could be
        // served without it: it is most likely a typo the user wants to see.
        if let Some(name) = req.pools.iter().find(|p| !self.pools.contains_key(*p)) {
            return Err(self.missing_pool(name));
        }
        let key = &req.service;
        cost::search(self.services.len());
        let current = self.services.get(key).cloned().unwrap_or_default();
        let mut plan = Vec::new();
        for &family in req.families.families() {
            let explicit = req.requested_ip(family).or_else(|| {
                // A pending claim acts as a requested address unless the request now points
                // elsewhere (other named pools).
                cost::search(self.pending.len());
                self.pending
                    .get(key)
                    .and_then(|c| c.get(&family))
                    .copied()
                    .filter(|ip| req.pools.is_empty() || self.pool_named_holds(req, *ip))
            });
            let choice = match current.get(&family) {
                Some(slot) if self.keeps(req, slot, explicit) => slot.clone(),
                _ => match explicit {
                    Some(ip) => self.choose_explicit(req, ip)?,
                    None => self.choose_automatic(req, family)?,
                },
            };
            plan.push((family, choice));
        }

        // Apply: nothing below can fail.
        let mut released = Vec::new();
        for (family, slot) in current.iter() {
            if !plan.iter().any(|(f, s)| f == family && s == slot) {
                self.remove_holder(key, slot);
                released.push(self.assigned_of(*family, slot));
            }
        }
        let holder = Holder::of(req);
        let mut held = Held::default();
        let mut assigned = Vec::new();
        for (family, slot) in plan {
            self.pools
                .get_mut(&slot.pool)
                .expect("planned pool exists")
                .hold(slot.addr, key.clone(), holder.clone());
            assigned.push(self.assigned_of(family, &slot));
            held.insert(family, slot);
        }
        cost::search(self.services.len());
        self.services.insert(key.clone(), held);
        cost::search(self.pending.len());
        self.pending.remove(key);
        Ok(Allocation { assigned, released })
    }

    /// Release everything the Service holds or claims (Service deleted or no longer ours).
    /// Returns the released addresses.
    pub fn release(&mut self, service: &ServiceKey) -> Vec<Assigned> {
        cost::search(self.pending.len());
        self.pending.remove(service);
        cost::search(self.services.len());
        let Some(held) = self.services.remove(service) else {
            return Vec::new();
        };
        held.iter()
            .map(|(family, slot)| {
                self.remove_holder(service, slot);
                self.assigned_of(*family, slot)
            })
            .collect()
    }

    /// What the Service holds, IPv4 first.
    pub fn assigned(&self, service: &ServiceKey) -> Vec<Assigned> {
        self.services
            .get(service)
            .map(|held| {
                held.iter()
                    .map(|(family, slot)| self.assigned_of(*family, slot))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every Service's addresses, by Service (the input of the desired announcements).
    pub fn allocations(&self) -> impl Iterator<Item = (&ServiceKey, Vec<Assigned>)> + '_ {
        self.services.iter().map(|(key, held)| {
            (
                key,
                held.iter()
                    .map(|(family, slot)| self.assigned_of(*family, slot))
                    .collect(),
            )
        })
    }

    /// The Services holding `ip`, in order.
    pub fn holders(&self, ip: IpAddr) -> Vec<ServiceKey> {
        self.pool_spanning(ip)
            .and_then(|state| state.holders(to_u128(ip)))
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Contested claims left by a rebuild: (Service, address it claims).
    pub fn pending_claims(&self) -> Vec<(ServiceKey, IpAddr)> {
        self.pending
            .iter()
            .flat_map(|(s, ips)| ips.values().map(move |ip| (s.clone(), *ip)))
            .collect()
    }

    /// A valid pool by name.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.get(name).map(|s| &s.pool)
    }

    /// Names of the valid pools, sorted.
    pub fn pool_names(&self) -> impl Iterator<Item = &str> {
        self.pools.keys().map(String::as_str)
    }

    /// Unusable pools and why, sorted by name.
    pub fn invalid_pools(&self) -> &[Invalid] {
        &self.invalid
    }

    /// The status of a pool, or why it has none.
    pub fn pool_status(&self, name: &str) -> Result<PoolStatus, IpamError> {
        let Some(state) = self.pools.get(name) else {
            return Err(self.missing_pool(name));
        };
        let address = state.pool.address();
        let used: BTreeMap<IpAddr, String> = state
            .used
            .iter()
            .map(|(addr, holders)| {
                // Sorted as the displayed strings, which is what a reader of the status sees.
                let mut names: Vec<String> = holders.keys().map(ServiceKey::to_string).collect();
                names.sort();
                (from_u128(address.family(), *addr), names.join(";"))
            })
            .collect();
        let usage = used.len();
        Ok(PoolStatus {
            occupied: usage as u128 >= address.size(),
            usage,
            pool_size: address.size(),
            used,
            first_ip: address.first(),
            last_ip: address.last(),
            v4: address.family() == IpFamily::V4,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Helpers

    /// Record claims (rebuild, set_pools) in rank order; report what cannot be recorded.
    fn record_claims(&mut self, mut claims: Vec<Claim>) -> Vec<RebuildConflict> {
        let mut conflicts = Vec::new();
        claims.sort_by(|a, b| {
            (a.rank, &a.service, to_u128(a.ip), IpFamily::of(a.ip)).cmp(&(
                b.rank,
                &b.service,
                to_u128(b.ip),
                IpFamily::of(b.ip),
            ))
        });
        // The same (Service, address) may come twice (e.g. with different request data):
        // keep its best-ranked occurrence.
        let mut seen = std::collections::BTreeSet::new();
        claims.retain(|c| seen.insert((c.service.clone(), c.ip)));

        // One address per (Service, family): the lowest is the claim, whatever its rank.
        let mut firsts: BTreeMap<(ServiceKey, IpFamily), IpAddr> = BTreeMap::new();
        for c in &claims {
            let e = firsts
                .entry((c.service.clone(), IpFamily::of(c.ip)))
                .or_insert(c.ip);
            if to_u128(c.ip) < to_u128(*e) {
                *e = c.ip;
            }
        }
        for claim in claims {
            let family = IpFamily::of(claim.ip);
            let kept = firsts[&(claim.service.clone(), family)];
            if kept != claim.ip {
                conflicts.push(RebuildConflict::SecondAddress {
                    ip: claim.ip,
                    kept,
                    family,
                    service: claim.service,
                });
                continue;
            }
            let Some(state) = self.pool_spanning(claim.ip) else {
                conflicts.push(match self.invalid_spanning(claim.ip) {
                    Some(pool) => RebuildConflict::InvalidPool {
                        ip: claim.ip,
                        service: claim.service,
                        pool: pool.to_owned(),
                    },
                    None => RebuildConflict::OutsidePools {
                        ip: claim.ip,
                        service: claim.service,
                    },
                });
                continue;
            };
            let pool = state.pool.name().to_owned();
            if !state.pool.address().contains(claim.ip) {
                conflicts.push(RebuildConflict::Reserved {
                    ip: claim.ip,
                    service: claim.service,
                    pool,
                });
                continue;
            }
            let addr = to_u128(claim.ip);
            let refusal = state.holders(addr).and_then(|holders| {
                holders.iter().find_map(|(other, h)| {
                    refusal(&claim.holder, h).map(|reason| (other.clone(), reason))
                })
            });
            if let Some((holder, reason)) = refusal {
                self.pending
                    .entry(claim.service.clone())
                    .or_default()
                    .insert(family, claim.ip);
                conflicts.push(RebuildConflict::Contested {
                    ip: claim.ip,
                    service: claim.service,
                    holder,
                    reason,
                });
                continue;
            }
            self.pools
                .get_mut(&pool)
                .expect("spanning pool exists")
                .hold(addr, claim.service.clone(), claim.holder);
            cost::search(self.services.len());
            self.services
                .entry(claim.service)
                .or_default()
                .insert(family, Slot { pool, addr });
        }
        conflicts
    }

    /// Whether a current holding still satisfies the request.
    fn keeps(&self, req: &ServiceRequest, slot: &Slot, explicit: Option<IpAddr>) -> bool {
        let Some(state) = self.pools.get(&slot.pool) else {
            return false;
        };
        let ip = from_u128(state.pool.family(), slot.addr);
        let wanted_here = match explicit {
            Some(want) => want == ip,
            None => req.pools.is_empty() || req.pools.contains(&slot.pool),
        };
        wanted_here && self.sharing_refusal(req, state, slot.addr).is_none()
    }

    /// The first holder of `addr` (other than the requester) that refuses to share with it.
    fn sharing_refusal(
        &self,
        req: &ServiceRequest,
        state: &PoolState,
        addr: u128,
    ) -> Option<(ServiceKey, SharingRefusal)> {
        let ours = Holder::of(req);
        state.holders(addr).and_then(|holders| {
            holders
                .iter()
                .filter(|(k, _)| **k != req.service)
                .find_map(|(k, h)| refusal(&ours, h).map(|r| (k.clone(), r)))
        })
    }

    /// Whether `ip` lies in one of the pools the request names.
    fn pool_named_holds(&self, req: &ServiceRequest, ip: IpAddr) -> bool {
        self.pool_spanning(ip)
            .is_some_and(|s| req.pools.iter().any(|p| p == s.pool.name()))
    }

    fn choose_explicit(&self, req: &ServiceRequest, ip: IpAddr) -> Result<Slot, IpamError> {
        let family = IpFamily::of(ip);
        let Some(state) = self.pool_spanning(ip) else {
            if let Some(pool) = self.invalid_spanning(ip) {
                return Err(self.missing_pool(pool));
            }
            return Err(IpamError::IpOutsidePools { ip });
        };
        let name = state.pool.name();
        if !req.pools.is_empty() && !req.pools.iter().any(|p| p == name) {
            // Name the requested pools of the address's family, or all if none is.
            let of_family: Vec<String> = req
                .pools
                .iter()
                .filter(|p| self.pool(p).is_some_and(|p| p.family() == family))
                .cloned()
                .collect();
            return Err(IpamError::IpOutsidePool {
                ip,
                pools: if of_family.is_empty() {
                    req.pools.clone()
                } else {
                    of_family
                },
            });
        }
        if !state.pool.address().contains(ip) {
            return Err(IpamError::ReservedAddress {
                ip,
                pool: name.to_owned(),
            });
        }
        if state.pool.spec().disable {
            return Err(IpamError::PoolDisabled {
                pool: name.to_owned(),
            });
        }
        let addr = to_u128(ip);
        if let Some((holder, reason)) = self.sharing_refusal(req, state, addr) {
            return Err(IpamError::AddressInUse { ip, holder, reason });
        }
        Ok(Slot {
            pool: name.to_owned(),
            addr,
        })
    }

    fn choose_automatic(&self, req: &ServiceRequest, family: IpFamily) -> Result<Slot, IpamError> {
        let candidates: Vec<&PoolState> = if !req.pools.is_empty() {
            let mut named = Vec::new();
            for name in &req.pools {
                let state = self
                    .pools
                    .get(name)
                    .ok_or_else(|| self.missing_pool(name))?;
                if state.pool.family() == family {
                    named.push(state);
                }
            }
            if named.is_empty() {
                return Err(IpamError::NoPoolOfFamily {
                    family,
                    pools: req.pools.clone(),
                });
            }
            named
        } else {
            let mut bound: Vec<&PoolState> = self
                .pools
                .values()
                .filter(|s| {
                    s.pool.family() == family
                        && !s.pool.spec().disable
                        && s.pool
                            .binds_namespace(&req.service.namespace, &req.namespace_labels)
                })
                .collect();
            // Lower priority value first (OpenELB); ties by name (the map order, kept by the
            // stable sort).
            bound.sort_by_key(|s| s.pool.spec().priority);
            if bound.is_empty() {
                let default = self.pools.values().find(|s| {
                    s.pool.family() == family && s.pool.spec().is_default && !s.pool.spec().disable
                });
                match default {
                    Some(d) => vec![d],
                    None => {
                        return Err(IpamError::NoPoolForNamespace {
                            namespace: req.service.namespace.clone(),
                            family,
                        })
                    }
                }
            } else {
                bound
            }
        };

        let mut tried = Vec::new();
        for state in &candidates {
            if state.pool.spec().disable {
                continue;
            }
            if let Some(addr) = self.pick(req, state) {
                return Ok(Slot {
                    pool: state.pool.name().to_owned(),
                    addr,
                });
            }
            tried.push(state.pool.name().to_owned());
        }
        if tried.is_empty() {
            // Only named pools can all be disabled here; automatic candidates skip them.
            return Err(IpamError::PoolDisabled {
                pool: candidates[0].pool.name().to_owned(),
            });
        }
        Err(IpamError::PoolExhausted {
            family,
            pools: tried,
        })
    }

    /// The address a request gets from one enabled pool: with a sharing key, the lowest
    /// address whose holders all agree to share; otherwise (or if there is none) the lowest
    /// free address.
    fn pick(&self, req: &ServiceRequest, state: &PoolState) -> Option<u128> {
        #[cfg(test)]
        if self.linear {
            return linear::pick(req, state);
        }
        if req.sharing_key.is_some() {
            let join = join_shared(req, state);
            if join.is_some() {
                return join;
            }
        }
        self.lowest_free(req, state)
    }

    /// The lowest address of the pool not held by anyone but the requester: the lowest free
    /// one, or the one the requester holds alone if that is lower.
    fn lowest_free(&self, req: &ServiceRequest, state: &PoolState) -> Option<u128> {
        cost::search(self.services.len());
        let own = self
            .services
            .get(&req.service)
            .and_then(|held| held.get(&state.pool.family()))
            .filter(|slot| slot.pool == state.pool.name())
            .map(|slot| slot.addr)
            .filter(|addr| {
                state
                    .holders(*addr)
                    .is_some_and(|h| h.len() == 1 && h.contains_key(&req.service))
            });
        match (state.free.lowest(), own) {
            (Some(free), Some(own)) => Some(free.min(own)),
            (free, own) => free.or(own),
        }
    }

    fn pool_spanning(&self, ip: IpAddr) -> Option<&PoolState> {
        let family = IpFamily::of(ip);
        let v = to_u128(ip);
        let (_, name) = self.blocks.range((family, 0)..=(family, v)).next_back()?;
        let state = &self.pools[name];
        state.pool.address().spans(ip).then_some(state)
    }

    fn invalid_spanning(&self, ip: IpAddr) -> Option<&str> {
        self.invalid
            .iter()
            .find(|i| i.address.as_ref().is_some_and(|a| a.spans(ip)))
            .map(|i| i.name.as_str())
    }

    /// The error for a pool name that is not among the valid pools.
    fn missing_pool(&self, name: &str) -> IpamError {
        match self.invalid.iter().find(|i| i.name == name) {
            Some(i) => IpamError::PoolInvalid {
                pool: name.to_owned(),
                reason: i.error.clone(),
            },
            None => IpamError::PoolNotFound {
                pool: name.to_owned(),
            },
        }
    }

    fn remove_holder(&mut self, service: &ServiceKey, slot: &Slot) {
        if let Some(state) = self.pools.get_mut(&slot.pool) {
            state.release(slot.addr, service);
        }
    }

    fn assigned_of(&self, family: IpFamily, slot: &Slot) -> Assigned {
        Assigned {
            ip: from_u128(family, slot.addr),
            pool: slot.pool.clone(),
            protocol: self
                .pools
                .get(&slot.pool)
                .map(|s| s.pool.spec().protocol)
                .unwrap_or_default(),
        }
    }

    /// The same allocator, picking addresses by the linear walks of the reference model
    /// instead of the free runs and the sharing index: what the property tests compare with.
    #[cfg(test)]
    pub(crate) fn linear_model(mut self) -> Self {
        self.linear = true;
        self
    }

    /// Check every internal invariant; used by the tests after each step.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for (name, state) in &self.pools {
            let addr = state.pool.address();
            let (lo, hi) = addr.usable_bounds();
            state
                .check_index(lo, hi)
                .map_err(|e| format!("{name}: {e}"))?;
            for (a, holders) in &state.used {
                if *a < lo || *a > hi {
                    return Err(format!("{name}: {a} outside pool"));
                }
                if holders.is_empty() {
                    return Err(format!("{name}: {a} has no holders"));
                }
                if !seen.insert((addr.family(), *a)) {
                    return Err(format!("{a} in two pools"));
                }
                let hs: Vec<_> = holders.iter().collect();
                for (i, (ka, ha)) in hs.iter().enumerate() {
                    for (kb, hb) in &hs[i + 1..] {
                        if let Some(r) = refusal(ha, hb) {
                            return Err(format!("{ka} and {kb} share {a}: {r}"));
                        }
                    }
                    let slot = self
                        .services
                        .get(*ka)
                        .and_then(|h| h.get(&addr.family()))
                        .ok_or_else(|| format!("{ka} holds {a} but has no slot"))?;
                    if slot.pool != *name || slot.addr != *a {
                        return Err(format!("{ka}: slot and pool disagree"));
                    }
                }
            }
        }
        for (key, held) in &self.services {
            for (family, slot) in held.iter() {
                let ok = self
                    .pools
                    .get(&slot.pool)
                    .filter(|s| s.pool.family() == *family)
                    .and_then(|s| s.used.get(&slot.addr))
                    .is_some_and(|h| h.contains_key(key));
                if !ok {
                    return Err(format!("{key}: slot {slot:?} not recorded in its pool"));
                }
            }
        }
        Ok(())
    }
}

/// Why `ours` may not share an address with `theirs`, if it may not.
fn refusal(ours: &Holder, theirs: &Holder) -> Option<SharingRefusal> {
    let (a, b) = match (&ours.sharing_key, &theirs.sharing_key) {
        (None, _) => return Some(SharingRefusal::NoKey),
        (_, None) => return Some(SharingRefusal::HolderNoKey),
        (Some(a), Some(b)) => (a, b),
    };
    if a != b {
        return Some(SharingRefusal::KeyMismatch {
            ours: a.clone(),
            theirs: b.clone(),
        });
    }
    ours.ports
        .iter()
        .find(|p| theirs.ports.contains(p))
        .map(|p| SharingRefusal::PortCollision {
            protocol: p.protocol,
            port: p.port,
        })
}

/// The lowest address a request with a sharing key may join: one whose other holders (there
/// must be some) all agree to share with it. Holders of one address agree with each other, so
/// they all have the requester's key: only the addresses indexed under that key are tried.
fn join_shared(req: &ServiceRequest, state: &PoolState) -> Option<u128> {
    let ours = Holder::of(req);
    let key = ours.sharing_key.as_ref()?;
    cost::search(state.shared.len());
    state.shared.get(key)?.iter().copied().find(|addr| {
        cost::visit(1);
        state
            .holders(*addr)
            .is_some_and(|holders| agree_to_share(&ours, &req.service, holders))
    })
}

/// Whether `holders` other than `me` exist and all agree to share with `ours`.
fn agree_to_share(ours: &Holder, me: &ServiceKey, holders: &Holders) -> bool {
    let mut others = holders.iter().filter(|(k, _)| *k != me).peekable();
    let has_others = others.peek().is_some();
    let agree = others.all(|(_, h)| refusal(ours, h).is_none());
    has_others && agree
}

/// Where a Service's address of one family lives.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    pool: String,
    addr: u128,
}

/// What the allocator remembers of a holder: what sharing depends on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Holder {
    sharing_key: Option<String>,
    ports: Vec<ServicePort>,
}

impl Holder {
    fn of(req: &ServiceRequest) -> Self {
        Holder {
            sharing_key: req.sharing_key.clone().filter(|k| !k.is_empty()),
            ports: req.ports.clone(),
        }
    }
}

/// What one Service holds: at most one address per family.
///
/// A pair of fields rather than a map: the allocator keeps one per Service (100,000 in a large
/// standalone file), and a `BTreeMap` allocates a node of eleven entries for the one or two
/// it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Held {
    v4: Option<Slot>,
    v6: Option<Slot>,
}

impl Held {
    fn get(&self, family: &IpFamily) -> Option<&Slot> {
        match family {
            IpFamily::V4 => self.v4.as_ref(),
            IpFamily::V6 => self.v6.as_ref(),
        }
    }

    fn insert(&mut self, family: IpFamily, slot: Slot) {
        match family {
            IpFamily::V4 => self.v4 = Some(slot),
            IpFamily::V6 => self.v6 = Some(slot),
        }
    }

    /// (family, slot), IPv4 first: the order the map had.
    fn iter(&self) -> impl Iterator<Item = (&'static IpFamily, &Slot)> {
        [(&IpFamily::V4, &self.v4), (&IpFamily::V6, &self.v6)]
            .into_iter()
            .filter_map(|(family, slot)| Some((family, slot.as_ref()?)))
    }
}

/// The holders of one address, sorted by Service: one unless the address is shared.
///
/// A sorted `Vec` rather than a map, for the same reason as [`Held`]: one per used address.
#[derive(Debug, Clone, Default)]
struct Holders(Vec<(ServiceKey, Holder)>);

impl Holders {
    /// Adds or replaces `service`'s entry.
    fn insert(&mut self, service: ServiceKey, holder: Holder) {
        match self.0.binary_search_by(|(k, _)| k.cmp(&service)) {
            Ok(at) => self.0[at].1 = holder,
            Err(at) => self.0.insert(at, (service, holder)),
        }
    }

    fn remove(&mut self, service: &ServiceKey) {
        if let Ok(at) = self.0.binary_search_by(|(k, _)| k.cmp(service)) {
            self.0.remove(at);
        }
    }

    fn contains_key(&self, service: &ServiceKey) -> bool {
        self.0.binary_search_by(|(k, _)| k.cmp(service)).is_ok()
    }

    fn iter(&self) -> impl Iterator<Item = (&ServiceKey, &Holder)> {
        self.0.iter().map(|(k, h)| (k, h))
    }

    fn keys(&self) -> impl Iterator<Item = &ServiceKey> {
        self.0.iter().map(|(k, _)| k)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The sharing key all holders have, if there are holders and they have one key.
    fn common_key(&self) -> Option<&str> {
        let (first, rest) = self.0.split_first()?;
        let key = first.1.sharing_key.as_deref()?;
        rest.iter()
            .all(|(_, h)| h.sharing_key.as_deref() == Some(key))
            .then_some(key)
    }
}

/// One valid pool and who holds what in it.
///
/// `used`, `free` and `shared` change together, only through [`PoolState::hold`] and
/// [`PoolState::release`], each a few searches: O(log used).
#[derive(Debug, Clone)]
struct PoolState {
    pool: Pool,
    /// Used addresses → their holders (more than one only when shared).
    used: BTreeMap<u128, Holders>,
    /// The pool's allocatable addresses not in `used`.
    free: FreeRuns,
    /// Sharing key → the used addresses whose holders all have that key: the only addresses a
    /// Service with that key can join.
    shared: BTreeMap<String, BTreeSet<u128>>,
}

impl PoolState {
    fn new(pool: Pool) -> Self {
        let (lo, hi) = pool.address().usable_bounds();
        PoolState {
            pool,
            used: BTreeMap::new(),
            free: FreeRuns::new(lo, hi),
            shared: BTreeMap::new(),
        }
    }

    /// The holders of `addr`, if it is used.
    fn holders(&self, addr: u128) -> Option<&Holders> {
        cost::search(self.used.len());
        self.used.get(&addr)
    }

    /// Adds (or updates) `service` as a holder of `addr`, an allocatable address of the pool.
    fn hold(&mut self, addr: u128, service: ServiceKey, holder: Holder) {
        cost::search(self.used.len());
        let holders = self.used.entry(addr).or_insert_with(|| {
            self.free.take(addr);
            Holders::default()
        });
        let before = holders.common_key().map(str::to_owned);
        holders.insert(service, holder);
        let after = holders.common_key().map(str::to_owned);
        self.reindex(addr, before, after);
    }

    /// Removes `service` from the holders of `addr`; the address is free when none is left.
    fn release(&mut self, addr: u128, service: &ServiceKey) {
        cost::search(self.used.len());
        let Some(holders) = self.used.get_mut(&addr) else {
            return;
        };
        let before = holders.common_key().map(str::to_owned);
        holders.remove(service);
        let after = holders.common_key().map(str::to_owned);
        if holders.is_empty() {
            cost::search(self.used.len());
            self.used.remove(&addr);
            self.free.give(addr);
        }
        self.reindex(addr, before, after);
    }

    /// Moves `addr` in the sharing index from under the key its holders had to the one they
    /// have now.
    fn reindex(&mut self, addr: u128, before: Option<String>, after: Option<String>) {
        if before == after {
            return;
        }
        if let Some(key) = before {
            cost::search(self.shared.len());
            if let Some(addrs) = self.shared.get_mut(&key) {
                cost::search(addrs.len());
                addrs.remove(&addr);
                if addrs.is_empty() {
                    self.shared.remove(&key);
                }
            }
        }
        if let Some(key) = after {
            cost::search(self.shared.len());
            let addrs = self.shared.entry(key).or_default();
            cost::search(addrs.len());
            addrs.insert(addr);
        }
    }
}

/// One (Service, address) pair to record during a rebuild.
struct Claim {
    /// Lower wins a contested address: 0 held in memory, 1 explicitly requested, 2 other.
    rank: u8,
    service: ServiceKey,
    ip: IpAddr,
    holder: Holder,
}

#[cfg(test)]
impl PoolState {
    /// `free` is exactly the complement of `used` in `[lo, hi]`, as runs that never touch, and
    /// `shared` indexes exactly the addresses whose holders have one key.
    fn check_index(&self, lo: u128, hi: u128) -> Result<(), String> {
        let mut pieces: Vec<(u128, u128, bool)> = self
            .free
            .runs()
            .map(|(f, l)| (f, l, true))
            .chain(self.used.keys().map(|a| (*a, *a, false)))
            .collect();
        pieces.sort();
        let mut next = Some(lo);
        let mut last_was_free = false;
        for (first, last, free) in pieces {
            if Some(first) != next || first > last {
                return Err(format!(
                    "free runs and used addresses do not tile at {first}"
                ));
            }
            if free && last_was_free {
                return Err(format!("two adjacent free runs at {first}"));
            }
            last_was_free = free;
            next = last.checked_add(1);
        }
        if next != hi.checked_add(1) {
            return Err("free runs and used addresses do not reach the end".to_owned());
        }
        let mut shared: BTreeMap<String, BTreeSet<u128>> = BTreeMap::new();
        for (addr, holders) in &self.used {
            if let Some(key) = holders.common_key() {
                shared.entry(key.to_owned()).or_default().insert(*addr);
            }
        }
        if shared != self.shared {
            return Err(format!(
                "sharing index {:?}, expected {shared:?}",
                self.shared
            ));
        }
        Ok(())
    }
}

/// The linear walks that the free runs and the sharing index replaced, kept as the reference
/// model: [`Allocator::linear_model`] picks addresses with them, and the property tests require
/// both to give the same results. Each visited address counts one step.
#[cfg(test)]
mod linear {
    use super::*;

    /// The old `pick`: the first address to join walks every used address, then the lowest
    /// free one walks the used addresses from the start of the pool.
    pub(super) fn pick(req: &ServiceRequest, state: &PoolState) -> Option<u128> {
        if req.sharing_key.is_some() {
            let ours = Holder::of(req);
            let join = state.used.iter().find_map(|(addr, holders)| {
                cost::visit(1);
                agree_to_share(&ours, &req.service, holders).then_some(*addr)
            });
            if join.is_some() {
                return join;
            }
        }
        let (lo, hi) = state.pool.address().usable_bounds();
        lowest_free(&state.used, lo, hi, &req.service)
    }

    /// The lowest address in `[lo, hi]` not held by anyone but `me`, walking the gaps between
    /// used addresses: O(used addresses in the pool).
    fn lowest_free(
        used: &BTreeMap<u128, Holders>,
        lo: u128,
        hi: u128,
        me: &ServiceKey,
    ) -> Option<u128> {
        let mut candidate = lo;
        for (addr, holders) in used.range(lo..=hi) {
            cost::visit(1);
            if holders.len() == 1 && holders.contains_key(me) {
                // Held by the requester alone: free for it.
                continue;
            }
            if *addr > candidate {
                break;
            }
            // *addr == candidate: taken, try the next one.
            if *addr == hi {
                return None;
            }
            candidate = addr + 1;
        }
        Some(candidate)
    }
}
