//! The leader's Service controller: allocation through the IPAM core.
//!
//! `reconcile` has one top-level action, kube's finalizer helper, for the Services porter
//! serves: Apply allocates (or keeps) the Service's addresses and writes
//! `status.loadBalancer.ingress` by server-side apply; Cleanup releases them. A Service that
//! leaves porter (annotation or class changed) is cleaned up the same way and loses the
//! finalizer. The allocator is rebuilt from what Services show when leadership starts
//! ([`LeaderCtx::start`]), so a restart or a failover never hands an address out twice.
//!
//! Fencing a deposed leader. Two replicas may both believe they lead for a moment: the old
//! one stuck in a request, the new one past the lease duration. Three rules keep them from
//! giving one address to two Services:
//! 1. the new leader rebuilds its allocator from a fresh List taken *after* it won the Lease
//!    (not from the watch cache), so it sees every address the old leader's writes put in
//!    place up to then;
//! 2. the old leader writes an address only while its [`Fence`] holds, i.e. within
//!    `renew_deadline` of the start of its last successful renewal, which ends before the new
//!    leader can win (it waits `lease_duration` > `renew_deadline` on its own clock);
//! 3. the ingress write carries the `resourceVersion` the reconcile read, so it is a
//!    conditional write: if anyone (the new leader) changed the Service since, the API
//!    server answers 409 and nothing is written; the retry reads the current object.
//!
//! 4. rule 2 is checked *before* a write is sent, so a write that passed it and was then held
//!    up (the process frozen, the request stuck in the network) can still land after the
//!    takeover, on a Service the new leader has not touched, with an address the new
//!    leader gives to another Service. So before its List, the new leader stamps every
//!    Service still waiting for an address ([`LEADER_EPOCH_ANNOTATION`]): that moves their
//!    `resourceVersion` on, and any such late write fails rule 3 with 409. A late write that
//!    lands before the stamp is in the List. (Seen in the 1,000-Service race under load:
//!    a leader frozen with SIGSTOP between its fence check and its write.)
//!
//! What the rules still cannot stop (a write to a Service that already had an address)
//! heals itself: the Service watch shows the new leader that write, and its reconcile
//! replaces any address its own allocator did not give that Service.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{self, Action};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::{reflector, watcher, Controller, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use porter_crds::annotations;
use porter_crds::eip::Protocol;
use porter_crds::{BgpConf, BgpPeer, Eip};
use tracing::{debug, info, warn};

use super::leader::Fence;
use super::status::{ingress, ingress_ips};
use super::{remove_finalizer, Error, Options, Stores, FIELD_MANAGER, SERVICE_FINALIZER};
use crate::ipam::{
    is_default_pool, opt_in, Allocator, FamilyRequest, IpamError, LabelSelector, OptIn,
    PoolProtocol, PoolSpec, PortProtocol, ServiceKey, ServicePort, ServiceRequest,
};
use crate::telemetry::Metrics;

/// Annotation a new leader stamps, before rebuilding its allocator, on every Service still
/// waiting for an address, so that a deposed leader's late write to it fails (module doc,
/// rule 4). Its value names the leader and when it took over.
pub const LEADER_EPOCH_ANNOTATION: &str = "porter.network.kubesphere.io/leader-epoch";
/// How many stamps are in flight at once at a takeover.
const STAMP_CONCURRENCY: usize = 32;
/// How many Services are reconciled at once (each sends its writes in turn). Unbounded, a
/// takeover with 1,000 Services waiting opened 900 connections to the API server, one TLS
/// handshake each, and queued the leader's own Lease renewal behind them until it missed
/// its deadline and every write was fenced off.
const SERVICES_IN_FLIGHT: u16 = 32;

/// Label OpenELB writes on a Service: the Eip its address comes from.
pub const EIP_LABEL: &str = annotations::EIP_POOL;
/// How long a Service that got no address waits before the next try when nothing else
/// (a released address, an Eip change) wakes it first.
const RETRY_NO_ADDRESS: Duration = Duration::from_secs(60);
/// How soon a write refused with 409 Conflict is retried (on the object as read again).
pub(crate) const RETRY_CONFLICT: Duration = Duration::from_secs(1);

/// Whether porter serves `svc`: opted in by annotation or by class, or classless when porter
/// is the cluster's default (`--default-class`).
pub fn is_managed(svc: &Service, opts: &Options) -> bool {
    serves(svc, &opts.load_balancer_class, opts.default_class)
}

/// Whether porter serving `class` (and classless Services too with `default_class`) serves
/// `svc`: the rule of [`is_managed`], for callers without the manager's options.
pub fn serves(svc: &Service, class: &str, default_class: bool) -> bool {
    let spec = svc.spec.as_ref();
    let type_ = spec.and_then(|s| s.type_.as_deref()).unwrap_or("ClusterIP");
    let own = spec.and_then(|s| s.load_balancer_class.as_deref());
    match opt_in(type_, svc.annotations(), own, Some(class)) {
        OptIn::Managed => true,
        OptIn::NotAnnotated => default_class && own.is_none(),
        OptIn::NotLoadBalancer | OptIn::OtherClass(_) => false,
    }
}

/// The IPAM request of a Service: families from `ipFamilies`/`ipFamilyPolicy`, ports,
/// annotations and `loadBalancerIP`.
pub fn service_request(
    svc: &Service,
    namespace_labels: BTreeMap<String, String>,
) -> Result<ServiceRequest, IpamError> {
    let spec = svc.spec.clone().unwrap_or_default();
    let mut req = ServiceRequest::new(svc.namespace().unwrap_or_default(), svc.name_any());
    req.namespace_labels = namespace_labels;
    let families = spec.ip_families.unwrap_or_default();
    let dual = matches!(
        spec.ip_family_policy.as_deref(),
        Some("PreferDualStack") | Some("RequireDualStack")
    ) && families.len() >= 2;
    req.families = if dual {
        FamilyRequest::DualStack
    } else if families.first().map(String::as_str) == Some("IPv6") {
        FamilyRequest::V6
    } else {
        FamilyRequest::V4
    };
    req.ports = spec
        .ports
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            let protocol = match p.protocol.as_deref().unwrap_or("TCP") {
                "TCP" => PortProtocol::Tcp,
                "UDP" => PortProtocol::Udp,
                "SCTP" => PortProtocol::Sctp,
                _ => return None,
            };
            Some(ServicePort {
                protocol,
                port: u16::try_from(p.port).ok()?,
            })
        })
        .collect();
    req.with_annotations(svc.annotations(), spec.load_balancer_ip.as_deref())
}

/// The pool an Eip defines, `None` for OpenELB's `vip` protocol, which porter does not
/// implement (the Eip controller reports it). A deleting Eip gives out no new address.
pub fn pool_spec(eip: &Eip) -> Option<PoolSpec> {
    let protocol = match eip.spec.protocol {
        Protocol::Bgp => PoolProtocol::Bgp,
        Protocol::Layer2 => PoolProtocol::Layer2,
        Protocol::Vip => return None,
    };
    Some(PoolSpec {
        name: eip.name_any(),
        address: eip.spec.address.clone(),
        protocol,
        disable: eip.spec.disable || eip.meta().deletion_timestamp.is_some(),
        using_known_ips: eip.spec.using_known_ips,
        priority: eip.spec.priority,
        namespaces: eip.spec.namespaces.clone(),
        namespace_selector: (!eip.spec.namespace_selector.is_empty())
            .then(|| LabelSelector::labels(eip.spec.namespace_selector.clone())),
        is_default: is_default_pool(eip.annotations()),
    })
}

/// What the leader's controllers share.
pub struct LeaderCtx {
    /// API client.
    pub client: Client,
    /// Settings.
    pub opts: Arc<Options>,
    /// Watched objects.
    pub stores: Stores,
    /// The allocator; never held across an await.
    pub ipam: Mutex<Allocator>,
    /// The pool specs the allocator was last given.
    pools: Mutex<Vec<PoolSpec>>,
    /// Events.
    pub recorder: Recorder,
    /// Where [`LeaderCtx::publish`] queues Events for the sender task; `None`: it sends them
    /// itself, in order (tests).
    events: Option<tokio::sync::mpsc::Sender<(Event, ObjectReference)>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Whether this replica still leads; checked right before each address is written.
    pub fence: Fence,
    /// Per Service, the versions this leader's own writes replaced, until a newer version is
    /// reconciled: see [`LeaderCtx::is_superseded`].
    superseded: Mutex<BTreeMap<ServiceKey, Vec<String>>>,
    /// Wakes every Service (capacity freed, pools changed).
    kick_services: mpsc::UnboundedSender<()>,
    kick_services_rx: Mutex<Option<mpsc::UnboundedReceiver<()>>>,
    /// Wakes every Eip (usage changed).
    kick_eips: mpsc::UnboundedSender<()>,
    kick_eips_rx: Mutex<Option<mpsc::UnboundedReceiver<()>>>,
}

/// Rule 4 of the module doc: moves the `resourceVersion` of every live Service porter serves
/// that shows no address yet, so that a deposed leader's write to it, held up past the
/// takeover, is refused with 409.
async fn stamp_waiting_services(client: &Client, opts: &Options) -> Result<(), Error> {
    let epoch = format!("{}@{}", opts.identity, k8s_openapi::jiff::Timestamp::now());
    let mut waiting: Vec<(String, String)> = Vec::new();
    for_each_service_page(client, |page| {
        waiting.extend(
            page.iter()
                .filter(|s| {
                    s.meta().deletion_timestamp.is_none()
                        && is_managed(s, opts)
                        && current_ingress(s).is_empty()
                })
                .map(|s| (s.namespace().unwrap_or_default(), s.name_any())),
        )
    })
    .await?;
    let count = waiting.len();
    let results: Vec<Result<(), kube::Error>> = futures::stream::iter(waiting)
        .map(|(ns, name)| {
            let api = Api::<Service>::namespaced(client.clone(), &ns);
            let patch = serde_json::json!({
                "metadata": {"annotations": {LEADER_EPOCH_ANNOTATION: epoch.clone()}}
            });
            async move {
                match api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    // gone since the List: nothing to fence
                    Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                    r => r.map(|_| ()),
                }
            }
        })
        .buffer_unordered(STAMP_CONCURRENCY)
        .collect()
        .await;
    for r in results {
        r?;
    }
    info!(services = count, %epoch, "stamped the Services waiting for an address");
    Ok(())
}

/// Services per page of the Lists a new leader takes.
const LIST_PAGE: u32 = 500;

/// Every Service, read from the API server (not a watch cache, so as fresh as a List can be)
/// page by page, each page handed to `f`: one List of 10,000 Services was the manager's
/// peak memory.
async fn for_each_service_page(
    client: &Client,
    mut f: impl FnMut(Vec<Service>),
) -> Result<(), Error> {
    let api = Api::<Service>::all(client.clone());
    let mut params = ListParams::default().limit(LIST_PAGE);
    loop {
        let page = api.list(&params).await?;
        let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
        f(page.items);
        match next {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(()),
        }
    }
}

impl LeaderCtx {
    /// Rebuilds the allocator from a fresh list of Services (not the watch cache, which may
    /// lag behind the previous leader's last writes) and the Eips.
    pub async fn start(
        client: Client,
        opts: Arc<Options>,
        stores: Stores,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        fence: Fence,
    ) -> Result<Arc<LeaderCtx>, Error> {
        stamp_waiting_services(&client, &opts).await?;
        let pools = current_pools(&stores);
        let mut claims = Vec::new();
        for_each_service_page(&client, |page| {
            for svc in &page {
                if !is_managed(svc, &opts)
                    && !svc.finalizers().iter().any(|f| f == SERVICE_FINALIZER)
                {
                    continue;
                }
                let ips = current_ingress(svc);
                if ips.is_empty() {
                    continue;
                }
                let req = service_request(
                    svc,
                    stores.namespace_labels(&svc.namespace().unwrap_or_default()),
                )
                .unwrap_or_else(|_| {
                    ServiceRequest::new(svc.namespace().unwrap_or_default(), svc.name_any())
                });
                claims.extend(ips.into_iter().map(|ip| (req.clone(), ip)));
            }
        })
        .await?;
        let (ipam, conflicts) = Allocator::rebuild(pools.clone(), &claims);
        for c in &conflicts {
            warn!(conflict = %c, "allocator rebuild");
        }
        info!(
            services = claims.len(),
            pools = pools.len(),
            conflicts = conflicts.len(),
            "allocator rebuilt"
        );
        let (ks, ks_rx) = mpsc::unbounded();
        let (ke, ke_rx) = mpsc::unbounded();
        let events = spawn_event_sender(recorder.clone());
        Ok(Arc::new(LeaderCtx {
            client,
            opts,
            stores,
            ipam: Mutex::new(ipam),
            pools: Mutex::new(pools),
            recorder,
            events: Some(events),
            metrics,
            fence,
            superseded: Mutex::default(),
            kick_services: ks,
            kick_services_rx: Mutex::new(Some(ks_rx)),
            kick_eips: ke,
            kick_eips_rx: Mutex::new(Some(ke_rx)),
        }))
    }

    /// A context over given parts, for tests.
    pub fn new(
        client: Client,
        opts: Arc<Options>,
        stores: Stores,
        ipam: Allocator,
        recorder: Recorder,
    ) -> Arc<LeaderCtx> {
        let (ks, ks_rx) = mpsc::unbounded();
        let (ke, ke_rx) = mpsc::unbounded();
        Arc::new(LeaderCtx {
            client,
            opts,
            pools: Mutex::new(current_pools(&stores)),
            stores,
            ipam: Mutex::new(ipam),
            recorder,
            events: None,
            metrics: Arc::new(Metrics::new()),
            fence: Fence::always(),
            superseded: Mutex::default(),
            kick_services: ks,
            kick_services_rx: Mutex::new(Some(ks_rx)),
            kick_eips: ke,
            kick_eips_rx: Mutex::new(Some(ke_rx)),
        })
    }

    /// Gives the allocator the current Eips when they changed; wakes every Service then.
    pub fn refresh_pools(&self) {
        let pools = current_pools(&self.stores);
        let mut known = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if *known == pools {
            return;
        }
        let conflicts = self
            .ipam
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_pools(pools.clone());
        for c in conflicts {
            warn!(conflict = %c, "pools changed");
        }
        *known = pools;
        let _ = self.kick_services.unbounded_send(());
        let _ = self.kick_eips.unbounded_send(());
    }

    /// Whether `svc` is a version this leader has already written over. Its own writes come
    /// back through the watch one by one, each waking the Service again: a reconcile of the
    /// first while the store has not seen the second would send an ingress write over a
    /// version known to be gone, refused with 409 (at a takeover of 1,000 Services, 945 such
    /// writes) and retried a second later. The newer version's watch event is still to come
    /// (or a relist, which wakes every Service), so skipping loses nothing. Seeing any other
    /// version forgets the Service's entry.
    fn is_superseded(&self, svc: &Service) -> bool {
        let mut map = self.superseded.lock().unwrap_or_else(|p| p.into_inner());
        let key = key(svc);
        let stale = map.get(&key).is_some_and(|v| {
            svc.metadata
                .resource_version
                .as_ref()
                .is_some_and(|rv| v.contains(rv))
        });
        if !stale {
            map.remove(&key);
        }
        stale
    }

    /// Notes that this leader wrote over version `rv` of `svc`.
    fn wrote_over(&self, svc: &Service, rv: Option<String>) {
        if let Some(rv) = rv {
            self.superseded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key(svc))
                .or_default()
                .push(rv);
        }
    }

    /// Wakes every Eip (after an allocation or release).
    pub fn kick_eips(&self) {
        let _ = self.kick_eips.unbounded_send(());
    }

    /// Wakes every Service (after a release: a waiting Service may fit now).
    pub fn kick_services(&self) {
        let _ = self.kick_services.unbounded_send(());
    }

    /// Publishes an Event about `svc` without holding up the reconcile: the sender task has
    /// its own bounded queue. A Warning waits for room in it; a Normal Event (a routine
    /// allocation or release, which the Service's status also shows) is dropped when the
    /// queue is full, as at a takeover with thousands of Services waiting, where one Event
    /// each would double the writes the API server is asked for at the busiest moment.
    async fn publish(&self, svc: &Service, type_: EventType, reason: &str, note: String) {
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: "Allocate".into(),
            secondary: None,
        };
        let reference = svc.object_ref(&());
        let Some(queue) = &self.events else {
            if let Err(e) = self.recorder.publish(&ev, &reference).await {
                warn!(error = %e, "cannot publish an Event");
            }
            return;
        };
        if ev.type_ == EventType::Warning {
            let _ = queue.send((ev, reference)).await;
        } else if queue.try_send((ev, reference)).is_err() {
            debug!(service = %key(svc), reason, "Event queue full: routine Event dropped");
        }
    }
}

/// Events waiting for the sender task, at most; see [`LeaderCtx::publish`].
const EVENTS_QUEUED: usize = 256;
/// Events the sender task has in flight at once.
const EVENTS_IN_FLIGHT: usize = 4;

/// Starts the task that sends queued Events until every sender is dropped (the leader
/// context with it).
fn spawn_event_sender(recorder: Recorder) -> tokio::sync::mpsc::Sender<(Event, ObjectReference)> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Event, ObjectReference)>(EVENTS_QUEUED);
    tokio::spawn(async move {
        futures::stream::poll_fn(|cx| rx.poll_recv(cx))
            .for_each_concurrent(EVENTS_IN_FLIGHT, |(ev, reference)| {
                let recorder = recorder.clone();
                async move {
                    if let Err(e) = recorder.publish(&ev, &reference).await {
                        warn!(error = %e, "cannot publish an Event");
                    }
                }
            })
            .await;
    });
    tx
}

fn current_pools(stores: &Stores) -> Vec<PoolSpec> {
    let mut pools: Vec<PoolSpec> = stores
        .eips
        .state()
        .iter()
        .filter_map(|e| pool_spec(e))
        .collect();
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    pools
}

/// Runs the Service, Eip, BgpPeer and BgpConf controllers until `lost` resolves.
pub async fn run_controllers(ctx: Arc<LeaderCtx>, lost: impl std::future::Future<Output = ()>) {
    let services = Api::<Service>::all(ctx.client.clone());
    let eips = Api::<Eip>::all(ctx.client.clone());
    let kick_s = ctx
        .kick_services_rx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let kick_e = ctx
        .kick_eips_rx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let (Some(kick_s), Some(kick_e)) = (kick_s, kick_e) else {
        warn!("controllers already ran on this context");
        return;
    };
    // The controller's own store of Services, as lean as the shared ones (super::lean).
    let (reader, writer) = reflector::store();
    let watched = watcher(services, watcher::Config::default())
        .backoff(super::WatchBackoff::default())
        .modify(super::lean)
        .reflect(writer)
        .applied_objects();
    let svc_ctl = Controller::for_stream(watched, reader)
        .with_config(controller::Config::default().concurrency(SERVICES_IN_FLIGHT))
        .reconcile_all_on(kick_s)
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                warn!(error = %e, "Service reconcile");
            }
        });
    let eip_ctl = Controller::new(eips, watcher::Config::default())
        .reconcile_all_on(kick_e)
        .run(super::eip::reconcile, super::eip::error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                warn!(error = %e, "Eip reconcile");
            }
        });
    let peer_ctl = Controller::new(
        Api::<BgpPeer>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .run(
        super::bgp::reconcile_peer,
        super::bgp::error_policy,
        ctx.clone(),
    )
    .for_each(|r| async move {
        if let Err(e) = r {
            warn!(error = %e, "BgpPeer reconcile");
        }
    });
    let conf_ctl = Controller::new(
        Api::<BgpConf>::all(ctx.client.clone()),
        watcher::Config::default(),
    )
    .run(
        super::bgp::reconcile_conf,
        super::bgp::error_policy,
        ctx.clone(),
    )
    .for_each(|r| async move {
        if let Err(e) = r {
            warn!(error = %e, "BgpConf reconcile");
        }
    });
    tokio::select! {
        _ = lost => {}
        _ = svc_ctl => {}
        _ = eip_ctl => {}
        _ = peer_ctl => {}
        _ = conf_ctl => {}
    }
}

/// Reconciles one Service.
pub async fn reconcile(svc: Arc<Service>, ctx: Arc<LeaderCtx>) -> Result<Action, Error> {
    let api = Api::<Service>::namespaced(ctx.client.clone(), &svc.namespace().unwrap_or_default());
    ctx.refresh_pools();
    if !is_managed(&svc, &ctx.opts) {
        // Not (or no longer) ours: give back what it holds, and our finalizer.
        let ours = svc.finalizers().iter().any(|f| f == SERVICE_FINALIZER);
        let holds = !ctx
            .ipam
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .assigned(&key(&svc))
            .is_empty();
        if ours || holds {
            cleanup(&svc, &ctx, &api).await?;
            remove_finalizer(&api, svc.as_ref(), SERVICE_FINALIZER).await?;
        }
        return Ok(Action::await_change());
    }
    if svc.meta().deletion_timestamp.is_some() {
        if svc.finalizers().iter().any(|f| f == SERVICE_FINALIZER) {
            cleanup(&svc, &ctx, &api).await?;
            remove_finalizer(&api, svc.as_ref(), SERVICE_FINALIZER).await?;
        }
        return Ok(Action::await_change());
    }
    apply(&svc, &ctx, &api).await
}

/// Retry policy: a Service without an address waits for capacity; API errors back off.
pub fn error_policy(_svc: Arc<Service>, err: &Error, ctx: Arc<LeaderCtx>) -> Action {
    ctx.metrics.reconcile_errors("service");
    if err.is_conflict() {
        return Action::requeue(RETRY_CONFLICT);
    }
    match err.inner() {
        Error::NoAddress(_) => Action::requeue(RETRY_NO_ADDRESS),
        _ => Action::requeue(Duration::from_secs(5)),
    }
}

fn key(svc: &Service) -> ServiceKey {
    ServiceKey::new(svc.namespace().unwrap_or_default(), svc.name_any())
}

fn current_ingress(svc: &Service) -> Vec<IpAddr> {
    ingress_ips(
        svc.status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_deref()),
    )
}

async fn apply(svc: &Service, ctx: &LeaderCtx, api: &Api<Service>) -> Result<Action, Error> {
    if ctx.is_superseded(svc) {
        return Ok(Action::await_change());
    }
    let name = svc.name_any();
    let req = match service_request(
        svc,
        ctx.stores
            .namespace_labels(&svc.namespace().unwrap_or_default()),
    ) {
        Ok(r) => r,
        Err(e) => {
            ctx.publish(svc, EventType::Warning, "InvalidRequest", e.to_string())
                .await;
            return Err(Error::NoAddress(e.to_string()));
        }
    };
    let result = ctx
        .ipam
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .allocate(&req);
    let alloc = match result {
        Ok(a) => a,
        Err(e) => {
            ctx.publish(svc, EventType::Warning, "AllocationFailed", e.to_string())
                .await;
            return Err(Error::NoAddress(format!("{}: {e}", key(svc))));
        }
    };
    let want = ingress(&alloc.assigned);
    let want_ips = ingress_ips(Some(&want));
    // The label OpenELB writes: the Eip the address comes from (the first family's).
    let pool = alloc.assigned.first().map(|a| a.pool.as_str());
    let mut version = svc.resource_version();
    // One metadata write before the address: our finalizer (so a deletion always releases
    // it), OpenELB's gone, and the Eip label. It carries the version read, like the
    // ingress write after it, which then carries the version this write made: the two
    // together are as conditional as the ingress write alone (module doc, rule 3).
    if let Some(patch) = metadata_patch(svc, pool) {
        if !ctx.fence.holds() {
            return Err(Error::NotLeading);
        }
        let written = api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        ctx.wrote_over(svc, version);
        version = written.resource_version();
    }
    if current_ingress(svc) != want_ips {
        // See the module doc: only while the Lease is ours, and only over the version read.
        if !ctx.fence.holds() {
            return Err(Error::NotLeading);
        }
        let patch = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "resourceVersion": version},
            "status": {"loadBalancer": {"ingress": want}},
        });
        api.patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
        ctx.wrote_over(svc, version);
        let what: Vec<String> = alloc
            .assigned
            .iter()
            .map(|a| format!("{} from Eip {}", a.ip, a.pool))
            .collect();
        ctx.publish(svc, EventType::Normal, "Allocated", what.join(", "))
            .await;
        ctx.kick_eips();
    }
    for r in &alloc.released {
        ctx.publish(
            svc,
            EventType::Normal,
            "Released",
            format!("{} returned to Eip {}", r.ip, r.pool),
        )
        .await;
    }
    if !alloc.released.is_empty() {
        ctx.kick_services();
    }
    Ok(Action::requeue(Duration::from_secs(3600)))
}

/// The merge patch that gives `svc` porter's finalizer, takes OpenELB's away (taking over
/// from OpenELB: its finalizer would hold the Service forever) and sets the Eip label to
/// `pool`; `None` when all three are in place. The finalizer list is written whole, which
/// is safe because the patch names the `resourceVersion` read: a concurrent change makes
/// it fail with 409 instead of being overwritten.
fn metadata_patch(svc: &Service, pool: Option<&str>) -> Option<serde_json::Value> {
    let finalizers = svc.finalizers();
    let has_ours = finalizers.iter().any(|f| f == SERVICE_FINALIZER);
    let has_openelb = finalizers
        .iter()
        .any(|f| f == annotations::OPENELB_SERVICE_FINALIZER);
    let label_ok = svc.labels().get(EIP_LABEL).map(String::as_str) == pool;
    if has_ours && !has_openelb && label_ok {
        return None;
    }
    let mut meta = serde_json::json!({"resourceVersion": svc.resource_version()});
    if !has_ours || has_openelb {
        let mut list: Vec<&str> = finalizers
            .iter()
            .map(String::as_str)
            .filter(|f| *f != annotations::OPENELB_SERVICE_FINALIZER)
            .collect();
        if !has_ours {
            list.push(SERVICE_FINALIZER);
        }
        meta["finalizers"] = serde_json::json!(list);
    }
    if !label_ok {
        meta["labels"] = serde_json::json!({EIP_LABEL: pool});
    }
    Some(serde_json::json!({"metadata": meta}))
}

async fn cleanup(svc: &Service, ctx: &LeaderCtx, api: &Api<Service>) -> Result<(), Error> {
    let released = ctx
        .ipam
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .release(&key(svc));
    let name = svc.name_any();
    let deleting = svc.meta().deletion_timestamp.is_some();
    // Every replica stops announcing as soon as the Service is deleting or not ours (see
    // node.rs); what is left here is the record.
    if !deleting && !current_ingress(svc).is_empty() {
        let patch = serde_json::json!({"status": {"loadBalancer": {"ingress": null}}});
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    if !deleting && svc.labels().contains_key(EIP_LABEL) {
        let patch = serde_json::json!({"metadata": {"labels": {EIP_LABEL: null}}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    if !released.is_empty() {
        let what: Vec<String> = released
            .iter()
            .map(|a| format!("{} returned to Eip {}", a.ip, a.pool))
            .collect();
        ctx.publish(svc, EventType::Normal, "Released", what.join(", "))
            .await;
        ctx.kick_eips();
        ctx.kick_services();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(default_class: bool) -> Options {
        Options {
            node_name: "n1".into(),
            namespace: "porter-system".into(),
            identity: "p1".into(),
            load_balancer_class: super::super::DEFAULT_CLASS.into(),
            default_class,
            lease_name: "porter-manager".into(),
            lease: Default::default(),
            http: "127.0.0.1:0".parse().unwrap(),
            status_interval: Duration::from_secs(5),
            shutdown_drain: Duration::ZERO,
            layer2: Default::default(),
        }
    }

    fn svc(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    /// (case, Service, managed without / with --default-class)
    #[test]
    fn opt_in_table() {
        let lb = |ann: serde_json::Value, class: Option<&str>| {
            svc(serde_json::json!({
                "metadata": {"name": "s", "namespace": "ns", "annotations": ann},
                "spec": {"type": "LoadBalancer", "loadBalancerClass": class}
            }))
        };
        let cases = [
            (
                "openelb annotation",
                lb(
                    serde_json::json!({"lb.kubesphere.io/v1alpha1": "openelb"}),
                    None,
                ),
                true,
                true,
            ),
            (
                "porter annotation",
                lb(
                    serde_json::json!({"lb.kubesphere.io/v1alpha1": "porter"}),
                    None,
                ),
                true,
                true,
            ),
            (
                "our class",
                lb(serde_json::json!({}), Some("network.kubesphere.io/porter")),
                true,
                true,
            ),
            (
                "other class beats the annotation",
                lb(
                    serde_json::json!({"lb.kubesphere.io/v1alpha1": "openelb"}),
                    Some("example.com/lb"),
                ),
                false,
                false,
            ),
            ("nothing", lb(serde_json::json!({}), None), false, true),
            (
                "not a LoadBalancer",
                svc(
                    serde_json::json!({"metadata": {"name": "s", "annotations": {"lb.kubesphere.io/v1alpha1": "openelb"}}, "spec": {"type": "NodePort"}}),
                ),
                false,
                false,
            ),
        ];
        for (case, s, plain, default) in cases {
            assert_eq!(is_managed(&s, &opts(false)), plain, "{case}");
            assert_eq!(
                is_managed(&s, &opts(true)),
                default,
                "{case} (default class)"
            );
        }
    }

    #[test]
    fn request_reads_families_ports_and_annotations() {
        let s = svc(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop", "annotations": {
                "eip.openelb.kubesphere.io/v1alpha2": "pool-a",
                "lb.kubesphere.io/allow-shared-ip": "k"}},
            "spec": {"type": "LoadBalancer", "ipFamilyPolicy": "RequireDualStack",
                     "ipFamilies": ["IPv4", "IPv6"],
                     "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}],
                     "loadBalancerIP": "203.0.113.7"}
        }));
        let r = service_request(&s, BTreeMap::new()).unwrap();
        assert_eq!(r.service, ServiceKey::new("shop", "web"));
        assert_eq!(r.families, FamilyRequest::DualStack);
        assert_eq!(r.pools, ["pool-a"]);
        assert_eq!(r.sharing_key.as_deref(), Some("k"));
        assert_eq!(r.requested_ips, ["203.0.113.7".parse::<IpAddr>().unwrap()]);
        assert_eq!(
            r.ports,
            [
                ServicePort {
                    protocol: PortProtocol::Tcp,
                    port: 80
                },
                ServicePort {
                    protocol: PortProtocol::Udp,
                    port: 53
                }
            ]
        );
        // PreferDualStack on a single-stack cluster is that one family.
        let s6 = svc(serde_json::json!({
            "metadata": {"name": "v6", "namespace": "shop"},
            "spec": {"type": "LoadBalancer", "ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv6"]}
        }));
        assert_eq!(
            service_request(&s6, BTreeMap::new()).unwrap().families,
            FamilyRequest::V6
        );
    }

    #[test]
    fn pool_spec_follows_the_eip() {
        let eip: Eip = serde_json::from_value(serde_json::json!({
            "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
            "metadata": {"name": "p", "annotations": {"eip.openelb.kubesphere.io/is-default-eip": "true"}},
            "spec": {"address": "203.0.113.0/24", "priority": 5, "namespaceSelector": {"team": "a"}}
        }))
        .unwrap();
        let p = pool_spec(&eip).unwrap();
        assert!(p.is_default && !p.disable);
        assert_eq!(p.priority, 5);
        assert!(p
            .namespace_selector
            .unwrap()
            .matches(&[("team".to_string(), "a".to_string())].into()));
        let mut deleting = eip.clone();
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-01-01T00:00:00Z".parse().unwrap(),
            ));
        assert!(
            pool_spec(&deleting).unwrap().disable,
            "a deleting Eip gives no new address"
        );
        let mut vip = eip;
        vip.spec.protocol = Protocol::Vip;
        assert!(pool_spec(&vip).is_none());
    }
}
