//! `porter manager`: the Kubernetes mode.
//!
//! Every replica (one per node, hostNetwork) watches Nodes, Services, EndpointSlices, Eips,
//! BgpConfs and BgpPeers, and from them alone computes what its own speaker runs and
//! announces ([`node`]). One replica, the holder of a `coordination.k8s.io/v1` Lease
//! ([`leader`]), also allocates addresses ([`service`]) and writes Eip status ([`eip`]).
//!
//! Data flows one way: watches → pure cores ([`announce`], [`peers`], [`status`] and the IPAM
//! allocator) → speaker and status writes. The leader also reports on each BgpConf and
//! BgpPeer whether porter can run it ([`bgp`]). Status goes back only by server-side apply, each
//! writer with its own field manager: `porter` for what the leader owns (Service ingress,
//! Eip status, the `Valid` condition of BgpConfs and BgpPeers), `porter/<node>` for what one node owns (its `nodesPeerStatus` and
//! `nodesConfStatus` entries, its advertisement condition on Services), so two replicas never
//! take each other's fields away.

#![deny(missing_docs)]

pub mod announce;
pub mod bgp;
pub mod cli;
pub mod eip;
pub mod layer2;
pub mod leader;
pub mod node;
pub mod peers;
pub mod service;
pub mod status;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use porter_crds::{BgpConf, BgpPeer, Eip};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::speaker::Speaker;
use crate::telemetry::{HttpState, Metrics};

/// Field manager of everything the leader writes.
pub const FIELD_MANAGER: &str = "porter";
/// Finalizer porter puts on the Services it serves: the address is released and withdrawn
/// before the Service goes.
pub const SERVICE_FINALIZER: &str = "porter.network.kubesphere.io/service";
/// Finalizer porter puts on Eips: deletion waits until no Service holds an address of it.
pub const EIP_FINALIZER: &str = "porter.network.kubesphere.io/eip";
/// Default `spec.loadBalancerClass` porter answers to.
pub const DEFAULT_CLASS: &str = "network.kubesphere.io/porter";
/// Default name of the leader Lease.
pub const LEASE_NAME: &str = "porter-manager";

/// Field manager of what one node writes: `porter/<node>`, within the API's 128 bytes.
pub fn node_field_manager(node: &str) -> String {
    let mut m = format!("{FIELD_MANAGER}/{node}");
    if m.len() > 128 {
        let mut cut = 128;
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        m.truncate(cut);
    }
    m
}

/// Settings of `porter manager`.
#[derive(Clone, Debug)]
pub struct Options {
    /// This node (downward API `NODE_NAME`).
    pub node_name: String,
    /// This pod's namespace (downward API `POD_NAMESPACE`): where the Lease lives.
    pub namespace: String,
    /// Identity in the Lease: unique per replica (pod name, else node name).
    pub identity: String,
    /// `spec.loadBalancerClass` porter serves.
    pub load_balancer_class: String,
    /// Also serve LoadBalancer Services with no class and no annotation.
    pub default_class: bool,
    /// Leader Lease name.
    pub lease_name: String,
    /// Lease timing.
    pub lease: leader::LeaseTiming,
    /// Where to serve /metrics, /healthz, /readyz, /status.
    pub http: SocketAddr,
    /// Minimum interval between two status writes of one object by this node.
    pub status_interval: Duration,
    /// RFC 8326 drain time on shutdown.
    pub shutdown_drain: Duration,
    /// Timings of the per-address layer-2 Leases.
    pub layer2: crate::layer2::ElectionTimings,
}

/// Errors of a reconcile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A call to the API server failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The finalizer helper failed (adding or removing the finalizer, or the step it guards).
    #[error("{0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// An Eip cannot go yet: Services hold addresses of it.
    #[error("Eip {eip} is in use by {holders}")]
    EipInUse {
        /// The Eip.
        eip: String,
        /// The Services, `ns/name`, comma-separated.
        holders: String,
    },
    /// A Service that cannot get an address (retried when capacity frees).
    #[error("{0}")]
    NoAddress(String),
    /// The leader Lease was not renewed recently enough to hand out an address: this
    /// replica may already have been replaced.
    #[error("not leading (the leader lease was not renewed in time); nothing written")]
    NotLeading,
}

impl Error {
    /// The error of the reconcile step itself, seen through the finalizer helper's wrapping.
    pub fn inner(&self) -> &Error {
        use kube::runtime::finalizer::Error as F;
        match self {
            Error::Finalizer(f) => match f.as_ref() {
                F::ApplyFailed(e) | F::CleanupFailed(e) => e.inner(),
                _ => self,
            },
            other => other,
        }
    }

    /// Whether a write was refused because the object changed since it was read: a 409
    /// Conflict on a conditional write, or a failed `test` of the finalizer helper's JSON
    /// patch (422). Worth an early retry: the next read has the current object.
    pub fn is_conflict(&self) -> bool {
        use kube::runtime::finalizer::Error as F;
        let api_code = |e: &kube::Error| match e {
            kube::Error::Api(s) => Some(s.code),
            _ => None,
        };
        match self {
            Error::Kube(e) => api_code(e) == Some(409),
            Error::Finalizer(f) => match f.as_ref() {
                F::ApplyFailed(e) | F::CleanupFailed(e) => e.is_conflict(),
                F::AddFinalizer(e) | F::RemoveFinalizer(e) => {
                    matches!(api_code(e), Some(409 | 422))
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// Watched objects, shared by every loop of this replica.
#[derive(Clone)]
pub struct Stores {
    /// Nodes.
    pub nodes: Store<Node>,
    /// Services.
    pub services: Store<Service>,
    /// EndpointSlices.
    pub slices: Store<EndpointSlice>,
    /// Namespaces (for Eip namespaceSelector).
    pub namespaces: Store<Namespace>,
    /// Eips.
    pub eips: Store<Eip>,
    /// BgpConfs.
    pub bgp_confs: Store<BgpConf>,
    /// BgpPeers.
    pub bgp_peers: Store<BgpPeer>,
}

/// What no controller of porter reads, dropped from every watched object before it is
/// stored: `managedFields` (one entry per field manager, often larger than the object) and
/// kubectl's copy of the last applied object. With 10,000 Services they were most of the
/// manager's memory.
pub(crate) fn lean<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Starts a reflector for `K`, waking `changed` on every event.
fn reflect<K>(api: Api<K>, changed: Arc<Notify>) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default().any_semantic())
        .backoff(WatchBackoff::default())
        .modify(lean)
        .reflect(writer)
        .touched_objects();
    let what = WatchedKind {
        kind: K::kind(&()).to_string(),
        resource: match K::group(&()).as_ref() {
            "" => K::plural(&()).to_string(),
            group => format!("{}.{group}", K::plural(&())),
        },
    };
    tokio::spawn(drive(stream, changed, what));
    reader
}

/// What a watch is of, for its messages.
struct WatchedKind {
    kind: String,
    /// `plural.group`: the CRD's name for a custom resource.
    resource: String,
}

/// Whether `e` says the API server does not serve the watched resource at all: a 404 on the
/// list, which for porter's kinds means their CRD is not installed.
fn not_served(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code == 404,
        watcher::Error::WatchError(s) => s.code == 404,
        _ => false,
    }
}

/// Retry pacing of the watches: 0.5 s, doubling to at most 5 s, back to 0.5 s after an
/// event gets through. kube's default grows to 30 s, so after an API outage of a minute a
/// change made at recovery waited up to half a minute for the watch to come back (measured
/// in `tests/manager_outage.rs`); seven watches per replica retrying every 5 s cost an API
/// server nothing.
#[derive(Clone, Debug)]
pub(crate) struct WatchBackoff {
    next: Duration,
}

impl WatchBackoff {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(5);
}

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff { next: Self::FIRST }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        Some(now)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

/// Feeds a watch's events to `changed` and says what goes wrong. A resource the API server
/// does not serve (a CRD not installed yet) is named once, with the command that installs
/// it, not at every retry; the stores stay not ready (so is `/readyz`) until it appears,
/// and the manager then goes on without a restart.
async fn drive<S, K>(stream: S, changed: Arc<Notify>, what: WatchedKind)
where
    S: Stream<Item = Result<K, watcher::Error>>,
{
    let WatchedKind { kind, resource } = what;
    let mut stream = std::pin::pin!(stream);
    let mut missing = false;
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(_) => {
                if std::mem::take(&mut missing) {
                    info!(%kind, "{resource} is served now");
                }
                changed.notify_one()
            }
            Err(e) if not_served(&e) => {
                if !std::mem::replace(&mut missing, true) {
                    tracing::error!(
                        %kind,
                        "the API server does not serve {resource}: is its CRD installed? \
                         `kubectl apply -k deploy/` installs porter's CRDs; waiting for it"
                    );
                }
            }
            Err(e) => warn!(%kind, error = %e, "watch failed; retrying"),
        }
    }
}

impl Stores {
    /// Starts every watch.
    pub fn start(client: &Client, changed: Arc<Notify>) -> Stores {
        Stores {
            nodes: reflect(Api::all(client.clone()), changed.clone()),
            services: reflect(Api::all(client.clone()), changed.clone()),
            slices: reflect(Api::all(client.clone()), changed.clone()),
            namespaces: reflect(Api::all(client.clone()), changed.clone()),
            eips: reflect(Api::all(client.clone()), changed.clone()),
            bgp_confs: reflect(Api::all(client.clone()), changed.clone()),
            bgp_peers: reflect(Api::all(client.clone()), changed),
        }
    }

    /// Waits until every store has its first full list.
    pub async fn ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.nodes.wait_until_ready().await?;
        self.services.wait_until_ready().await?;
        self.slices.wait_until_ready().await?;
        self.namespaces.wait_until_ready().await?;
        self.eips.wait_until_ready().await?;
        self.bgp_confs.wait_until_ready().await?;
        self.bgp_peers.wait_until_ready().await
    }

    /// Labels of namespace `name` (empty when unknown).
    pub fn namespace_labels(&self, name: &str) -> BTreeMap<String, String> {
        self.namespaces
            .state()
            .iter()
            .find(|n| n.name_any() == name)
            .map(|n| n.labels().clone())
            .unwrap_or_default()
    }
}

/// Removes `finalizer` from `obj` when present, with the same test-then-remove JSON patch as
/// kube's finalizer helper (so a concurrent change makes it fail instead of removing the
/// wrong entry). For finalizers the helper does not manage: OpenELB's, and ours on a Service
/// that left porter.
pub async fn remove_finalizer<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let Some(i) = obj.finalizers().iter().position(|f| f == finalizer) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{i}");
    let patch: json_patch::Patch = serde_json::from_value(serde_json::json!([
        {"op": "test", "path": path, "value": finalizer},
        {"op": "remove", "path": path},
    ]))
    .expect("a well-formed JSON patch");
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::<()>::Json(patch),
    )
    .await?;
    Ok(())
}

/// Runs `porter manager` until SIGTERM or Ctrl-C.
pub async fn run(opts: Options, client: Client) -> anyhow::Result<()> {
    let opts = Arc::new(opts);
    let metrics = Arc::new(Metrics::new());
    let speaker = Speaker::new(metrics.clone());
    let ready = Arc::new(AtomicBool::new(false));
    let global_as = Arc::new(AtomicU32::new(0));
    let layer2_status = layer2::Layer2Status::new(&opts.node_name, metrics.clone());
    let changed = Arc::new(Notify::new());
    let stores = Stores::start(&client, changed.clone());

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = {
        let rx = stop_rx.clone();
        move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        }
    };

    // HTTP endpoint
    let status_speaker = speaker.clone();
    let status_as = global_as.clone();
    let status_layer2 = layer2_status.clone();
    let http = HttpState {
        metrics: metrics.clone(),
        // The same shape as BgpPeer nodesPeerStatus (and standalone mode's /status), plus
        // what each prefix is advertised to.
        status: Arc::new(move || {
            let peers: BTreeMap<String, serde_json::Value> = status_speaker
                .status()
                .into_iter()
                .map(|(name, s)| {
                    let entry =
                        crate::status::node_peer_status(&s, status_as.load(Ordering::Relaxed));
                    (name, serde_json::to_value(entry).unwrap_or_default())
                })
                .collect();
            let advertised: BTreeMap<String, Vec<String>> = status_speaker
                .advertised()
                .into_iter()
                .map(|(prefix, peers)| {
                    (
                        prefix.to_string(),
                        peers.into_iter().map(|(peer, _, _)| peer).collect(),
                    )
                })
                .collect();
            serde_json::json!({
                "bgpPeers": peers,
                "advertised": advertised,
                "layer2": status_layer2.to_json(),
            })
        }),
        ready: ready.clone(),
    };
    let listener = crate::telemetry::bind(opts.http).await?;
    tokio::spawn(async move {
        if let Err(e) = crate::telemetry::serve(listener, http).await {
            warn!(error = %e, "HTTP endpoint stopped");
        }
    });

    info!(node = %opts.node_name, "waiting for the first list of every watched kind");
    stores
        .ready()
        .await
        .map_err(|e| anyhow::anyhow!("watch store closed: {e}"))?;

    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: FIELD_MANAGER.into(),
            instance: Some(opts.identity.clone()),
        },
    );

    // Leader election.
    let (elector, leading) = leader::Elector::new(
        Api::<Lease>::namespaced(client.clone(), &opts.namespace),
        opts.lease_name.clone(),
        opts.identity.clone(),
        opts.lease,
    );
    let fence = elector.fence();
    let elector_task = tokio::spawn(elector.run(stopped()));

    // Every replica: speaker config, announcements, node-owned status.
    let node_ctx = Arc::new(node::NodeCtx {
        client: client.clone(),
        opts: opts.clone(),
        stores: stores.clone(),
        speaker: speaker.clone(),
        leading: leading.clone(),
        ready: ready.clone(),
        global_as,
        layer2: layer2_status.clone(),
        metrics: metrics.clone(),
    });
    let layer2 = layer2::Layer2Runtime::new(client.clone(), &opts, metrics.clone(), layer2_status);
    let node_task = tokio::spawn(node::run(
        node_ctx.clone(),
        layer2,
        changed.clone(),
        stopped(),
    ));
    let status_task = tokio::spawn(node::status_loop(node_ctx, stopped()));

    // The leader: allocation and Eip status, started and stopped with the Lease.
    let leader_task = tokio::spawn(leader_loop(
        client.clone(),
        opts.clone(),
        stores.clone(),
        recorder,
        metrics.clone(),
        (leading, fence),
        stopped(),
    ));

    shutdown_signal().await;
    info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = leader_task.await;
    let _ = elector_task.await;
    let _ = status_task.await;
    let _ = node_task.await;
    speaker
        .shutdown("porter manager stopping", opts.shutdown_drain)
        .await;
    Ok(())
}

/// While we lead, runs the Service and Eip controllers; stops them when the Lease is lost.
async fn leader_loop(
    client: Client,
    opts: Arc<Options>,
    stores: Stores,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    (mut leading, fence): (tokio::sync::watch::Receiver<bool>, leader::Fence),
    stopped: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            r = leading.wait_for(|l| *l) => if r.is_err() { return },
        }
        info!("leading: rebuilding the allocator from the Services' current addresses");
        let ctx = match service::LeaderCtx::start(
            client.clone(),
            opts.clone(),
            stores.clone(),
            recorder.clone(),
            metrics.clone(),
            fence.clone(),
        )
        .await
        {
            Ok(ctx) => ctx,
            Err(e) => {
                warn!(error = %e, "cannot rebuild the allocator; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        let lost = {
            let mut l = leading.clone();
            async move {
                let _ = l.wait_for(|l| !*l).await;
            }
        };
        tokio::select! {
            _ = &mut stopped => return,
            _ = service::run_controllers(ctx, lost) => {
                info!("no longer leading: allocation stopped");
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
pub(crate) mod mock_tests;
