//! The election driver: runs one [`Elector`] per layer-2 address against a [`LeaseStore`]
//! and publishes whether this replica owns the address into the responder's owned set.
//!
//! The store is the only I/O. The Kubernetes adapter (see [`super::lease`]) implements it
//! with Lease get / create / replace-with-`resourceVersion`; tests implement it in memory.
//! Every decision stays in the sans-IO [`Elector`]; this loop only moves data and time.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use super::election::{
    ElectionTimings, Elector, LeaseRecord, TimingsError, WriteFailure, WriteKind,
};
use crate::telemetry::Metrics;

/// Why a lease store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The lease changed since it was read, or already exists on create (HTTP 409).
    #[error("the lease was changed by someone else")]
    Conflict,
    /// Anything else; the write may or may not have happened.
    #[error("lease store: {0}")]
    Other(String),
}

/// A lease as read from the store, with the opaque version to replace it with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedLease {
    /// The record.
    pub record: LeaseRecord,
    /// The store's version (`metadata.resourceVersion` for Kubernetes).
    pub version: String,
}

/// Where leases live: one record per name, written by compare-and-swap.
pub trait LeaseStore: Send + Sync + 'static {
    /// Reads lease `name`; `None` when it does not exist.
    fn get(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<VersionedLease>, StoreError>> + Send;
    /// Creates lease `name`; [`StoreError::Conflict`] when it exists. Returns the new version.
    fn create(
        &self,
        name: &str,
        record: &LeaseRecord,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
    /// Replaces lease `name` if its version is still `version`; [`StoreError::Conflict`]
    /// otherwise. Returns the new version.
    fn replace(
        &self,
        name: &str,
        record: &LeaseRecord,
        version: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
}

/// Settings of one replica's elections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionConfig {
    /// This replica's identity in `holderIdentity` (the node name).
    pub identity: String,
    /// Lease timings.
    pub timings: ElectionTimings,
    /// Longest wait for one store call; a slower call counts as failed.
    pub request_timeout: Duration,
}

impl ElectionConfig {
    /// Default timings for `identity`; store calls time out after the retry period.
    pub fn new(identity: impl Into<String>) -> Self {
        let timings = ElectionTimings::default();
        ElectionConfig {
            identity: identity.into(),
            timings,
            request_timeout: timings.retry_period,
        }
    }
}

/// The Lease name for a layer-2 address: `porter-l2-` and the address with `-` between
/// its parts; IPv6 uncompressed (eight groups), so the name never ends in `-` and IPv4 (4
/// parts) and IPv6 (8 parts) names cannot collide. A valid DNS subdomain name.
pub fn lease_name(ip: IpAddr) -> String {
    let parts: Vec<String> = match ip {
        IpAddr::V4(v4) => v4.octets().iter().map(u8::to_string).collect(),
        IpAddr::V6(v6) => v6.segments().iter().map(|s| format!("{s:x}")).collect(),
    };
    format!("porter-l2-{}", parts.join("-"))
}

/// A running election for one address. [`stop`](Election::stop) hands the address over
/// (releases the lease, so another replica takes it at its next retry); dropping it ends
/// the election like a crash would (this replica stops answering at once; its lease then
/// expires before anyone takes it).
#[derive(Debug)]
pub struct Election {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Election {
    /// Starts electing an owner for `ip` on the current tokio runtime. `eligible` says
    /// whether this node may own it; `owned` is the responder's owned set for the
    /// interface, into which `ip` is inserted while this replica owns it. Like
    /// `tokio::spawn`, it must be called inside a tokio runtime.
    pub fn spawn<S: LeaseStore>(
        ip: IpAddr,
        store: Arc<S>,
        config: ElectionConfig,
        eligible: watch::Receiver<bool>,
        owned: watch::Sender<BTreeSet<IpAddr>>,
        metrics: Arc<Metrics>,
    ) -> Result<Election, TimingsError> {
        let elector = Elector::new(config.identity.clone(), config.timings)?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let driver = Driver {
            ip,
            name: lease_name(ip),
            store,
            config,
            elector,
            version: None,
            owned,
            metrics,
        };
        let span = tracing::info_span!("layer2_election", %ip);
        let task = tokio::spawn(driver.run(eligible, stop_rx).instrument(span));
        Ok(Election {
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// Stops the election gracefully and waits for it: the address leaves the owned set at
    /// once, then the lease is released if this replica holds it (one read and one write,
    /// each bounded by the request timeout), so the next owner need not wait for expiry.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Election {
    fn drop(&mut self) {
        drop(self.stop.take());
    }
}

struct Driver<S> {
    ip: IpAddr,
    name: String,
    store: Arc<S>,
    config: ElectionConfig,
    elector: Elector,
    /// Version of the last read or written lease.
    version: Option<String>,
    owned: watch::Sender<BTreeSet<IpAddr>>,
    metrics: Arc<Metrics>,
}

impl<S: LeaseStore> Driver<S> {
    async fn run(mut self, mut eligible: watch::Receiver<bool>, mut stop: oneshot::Receiver<()>) {
        let now = Instant::now().into_std();
        self.elector
            .set_eligible(now, *eligible.borrow_and_update());
        let mut eligible_open = true;
        loop {
            self.cycle().await;
            let now = Instant::now();
            let wake = self
                .elector
                .poll_timeout(now.into_std())
                .map_or(now + self.config.timings.retry_period, Instant::from_std);
            tokio::select! {
                graceful = &mut stop => {
                    if graceful.is_ok() {
                        self.release().await;
                    }
                    break;
                }
                _ = tokio::time::sleep_until(wake) => {}
                changed = eligible.changed(), if eligible_open => {
                    match changed {
                        Ok(()) => {
                            let e = *eligible.borrow_and_update();
                            self.elector.set_eligible(Instant::now().into_std(), e);
                        }
                        // Nobody can tell us any more: treat as ineligible.
                        Err(_) => {
                            eligible_open = false;
                            self.elector.set_eligible(Instant::now().into_std(), false);
                        }
                    }
                }
            }
        }
        self.publish(false);
    }

    /// Hands the address over: stop answering, then release the lease if still held
    /// (the elector writes a release for an ineligible holder).
    async fn release(&mut self) {
        self.elector.set_eligible(Instant::now().into_std(), false);
        self.publish(false);
        self.cycle().await;
    }

    /// One read-decide-write cycle, publishing ownership after each step.
    async fn cycle(&mut self) {
        let store = self.store.clone();
        let name = self.name.clone();
        match self.call(store.get(&name)).await {
            Ok(lease) => {
                self.version = lease.as_ref().map(|l| l.version.clone());
                self.elector
                    .observe(Instant::now().into_std(), lease.map(|l| l.record));
            }
            Err(e) => tracing::warn!(lease = %self.name, error = %e, "cannot read the lease"),
        }
        self.publish_state();
        let Some(write) = self
            .elector
            .poll_write(Instant::now().into_std(), SystemTime::now())
        else {
            return;
        };
        let result = match (write.kind, self.version.clone()) {
            (WriteKind::Create, _) => self.call(store.create(&name, &write.record)).await,
            (_, Some(version)) => {
                self.call(store.replace(&name, &write.record, &version))
                    .await
            }
            (_, None) => Err(StoreError::Other("no version to replace".into())),
        };
        let now = Instant::now().into_std();
        match result {
            Ok(version) => {
                self.version = Some(version);
                self.elector.write_succeeded(now);
                if write.kind != WriteKind::Renew {
                    tracing::info!(lease = %self.name, kind = ?write.kind, "lease written");
                }
            }
            Err(StoreError::Conflict) => {
                self.elector.write_failed(now, WriteFailure::Conflict);
                tracing::info!(lease = %self.name, kind = ?write.kind, "lease changed by another replica");
            }
            Err(e) => {
                self.elector.write_failed(now, WriteFailure::Other);
                tracing::warn!(lease = %self.name, kind = ?write.kind, error = %e, "cannot write the lease");
            }
        }
        self.publish_state();
    }

    /// Runs one store call with the request timeout, withdrawing the address the moment
    /// the own deadline passes while the call hangs.
    async fn call<T>(
        &mut self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let timeout = tokio::time::sleep(self.config.request_timeout);
        tokio::pin!(call, timeout);
        let mut deadline = self.elector.owner_deadline().map(Instant::from_std);
        loop {
            tokio::select! {
                r = &mut call => return r,
                _ = &mut timeout => return Err(StoreError::Other("request timed out".into())),
                _ = sleep_until_some(deadline) => {
                    self.publish(false);
                    deadline = None;
                }
            }
        }
    }

    fn publish_state(&mut self) {
        let owner = self.elector.is_owner(Instant::now().into_std());
        self.publish(owner);
        // The status writers read who owns the address; record holders this replica sees.
        if !owner {
            match self.elector.observed_holder() {
                Some(holder) if holder != self.config.identity => {
                    self.metrics.set_layer2_owner(self.ip, Some(holder));
                }
                // Released, or ours on paper but past our deadline: nobody answers.
                _ => self.metrics.set_layer2_owner(self.ip, None),
            }
        }
    }

    fn publish(&self, owner: bool) {
        let ip = self.ip;
        let changed = self.owned.send_if_modified(|set| {
            if owner {
                set.insert(ip)
            } else {
                set.remove(&ip)
            }
        });
        if changed {
            tracing::info!(owner, "ownership changed");
        }
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_are_dns_labels_unique_per_address() {
        assert_eq!(
            lease_name("198.51.100.10".parse().unwrap()),
            "porter-l2-198-51-100-10"
        );
        assert_eq!(
            lease_name("2001:db8:ffff:2::10".parse().unwrap()),
            "porter-l2-2001-db8-ffff-2-0-0-0-10"
        );
        assert_eq!(
            lease_name("2001:db8::".parse().unwrap()),
            "porter-l2-2001-db8-0-0-0-0-0-0"
        );
    }
}
