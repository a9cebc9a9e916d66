//! What every replica does for its own node: run the speaker with the BgpPeers that select
//! this Node, announce what [`super::announce`] computes, and write the status this node
//! owns.
//!
//! Level-triggered: any watch event wakes [`run`], which recomputes the whole speaker
//! configuration and the whole route set from the stores and hands them to the speaker only
//! when they differ from the last ones; the speaker itself applies only the difference, so
//! an unrelated edit loses no session and no route.
//!
//! Status ([`status_loop`]) is written at most every `status_interval`, and only what changed,
//! by server-side apply with this node's own field manager (`porter/<node>`): its entry of
//! `BgpPeer.status.nodesPeerStatus` and `BgpConf.status.nodesConfStatus`, and its
//! advertisement condition on each Service. The leader also prunes entries of Nodes that no
//! longer exist.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, Resource, ResourceExt};
use porter_crds::bgp_conf::NodeConfStatus;
use porter_crds::bgp_peer::NodePeerStatus;
use porter_crds::eip::Protocol;
use porter_crds::{BgpConf, BgpPeer, BGP_CONF_NAME};
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use super::announce::{
    desired_announcements, ready_endpoint_nodes, Announcements, NodeInfo, ServiceInfo,
};
use super::layer2::{compute_layer2, describe, Layer2Role, Layer2Runtime, Layer2Status};
use super::peers::{local_rack, speaker_config};
use super::service::is_managed;
use super::{node_field_manager, Options, Stores};
use crate::ipam::ServiceKey;
use crate::speaker::{Speaker, SpeakerConfig};

/// Prefix of the per-node advertisement condition type on Services:
/// `advertised.porter.network.kubesphere.io/<node>`.
pub const ADVERTISED_CONDITION_PREFIX: &str = "advertised.porter.network.kubesphere.io";

/// What the per-node loops share.
pub struct NodeCtx {
    /// API client.
    pub client: Client,
    /// Settings.
    pub opts: Arc<Options>,
    /// Watched objects.
    pub stores: Stores,
    /// This node's speaker.
    pub speaker: Speaker,
    /// Whether this replica leads (it then prunes status of vanished nodes).
    pub leading: watch::Receiver<bool>,
    /// Set once the first configuration is applied (`/readyz`).
    pub ready: Arc<AtomicBool>,
    /// The AS the speaker runs with (for `/status`).
    pub global_as: Arc<std::sync::atomic::AtomicU32>,
    /// What this node does for each layer-2 address (for its advertisement conditions).
    pub layer2: Layer2Status,
    /// Where `porter_services_waiting` goes.
    pub metrics: Arc<crate::telemetry::Metrics>,
}

/// The last state handed to the speaker, and what it announces per Service.
#[derive(Default)]
struct Applied {
    config: Option<SpeakerConfig>,
    errors: BTreeMap<String, String>,
    announcements: Announcements,
}

/// Recomputes and applies on every watch event until `stopped`; then stops the layer-2
/// elections and responders.
pub async fn run(
    ctx: Arc<NodeCtx>,
    mut layer2: Layer2Runtime,
    changed: Arc<Notify>,
    stopped: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stopped);
    let applied = Mutex::new(Applied::default());
    // Between watch events, the layer-2 interfaces are re-checked every second: an address
    // must stop being a candidate as soon as its responder ends.
    let mut recheck = tokio::time::interval(Duration::from_secs(1));
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    'events: loop {
        step(&ctx, &applied, &mut layer2).await;
        let sweep = tokio::time::sleep(Duration::from_secs(30));
        tokio::pin!(sweep);
        loop {
            tokio::select! {
                _ = &mut stopped => break 'events,
                _ = changed.notified() => break,
                // a safety net: level-triggered, so a periodic pass costs nothing when idle
                _ = &mut sweep => break,
                _ = recheck.tick() => layer2.refresh().await,
            }
        }
        // Let a burst of events (a rollout) settle into one pass.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    layer2.stop().await;
}

/// The desired speaker configuration and announcements from the stores.
pub fn compute(
    stores: &Stores,
    opts: &Options,
) -> (SpeakerConfig, BTreeMap<String, String>, Announcements) {
    let node_infos = node_infos(stores);
    let me = stores
        .nodes
        .state()
        .into_iter()
        .find(|n| n.name_any() == opts.node_name);
    let (me_info, me_labels) = match me {
        Some(n) => (NodeInfo::from_node(&n), n.labels().clone()),
        None => (
            NodeInfo {
                name: opts.node_name.clone(),
                ..NodeInfo::default()
            },
            BTreeMap::new(),
        ),
    };
    let conf = stores
        .bgp_confs
        .state()
        .into_iter()
        .find(|c| c.name_any() == BGP_CONF_NAME);
    let peers: Vec<BgpPeer> = stores
        .bgp_peers
        .state()
        .iter()
        .map(|p| (**p).clone())
        .collect();
    let (config, errors) = speaker_config(
        conf.as_deref(),
        &peers,
        &me_info,
        &me_labels,
        opts.shutdown_drain,
    );

    // Addresses of BGP pools are announced; layer-2 ones are answered by ARP/NDP.
    let bgp_ranges: Vec<_> = stores
        .eips
        .state()
        .iter()
        .filter(|e| e.spec.protocol == Protocol::Bgp)
        .filter_map(|e| e.spec.range().ok())
        .collect();
    let services = service_infos(stores, opts, |ip| bgp_ranges.iter().any(|r| r.contains(ip)));
    let rack = local_rack(conf.as_ref().map(|c| &c.spec), &me_labels);
    let announcements = desired_announcements(&services, &node_infos, rack);
    (config, errors, announcements)
}

/// Every Node, as the announcement rules read it.
pub fn node_infos(stores: &Stores) -> Vec<NodeInfo> {
    stores
        .nodes
        .state()
        .iter()
        .map(|n| NodeInfo::from_node(n))
        .collect()
}

/// The live Services porter manages, each with its ingress addresses for which `keep` is
/// true and its nodes with ready endpoints.
pub fn service_infos(
    stores: &Stores,
    opts: &Options,
    keep: impl Fn(IpAddr) -> bool,
) -> Vec<ServiceInfo> {
    let endpoints = ready_endpoint_nodes(stores.slices.state().iter().map(|s| s.as_ref()));
    stores
        .services
        .state()
        .iter()
        .filter(|s| s.meta().deletion_timestamp.is_none() && is_managed(s, opts))
        .map(|s| {
            let mut info = ServiceInfo::from_service(s, &keep);
            info.endpoint_nodes = endpoints.get(&info.key).cloned().unwrap_or_default();
            info
        })
        .collect()
}

async fn step(ctx: &NodeCtx, applied: &Mutex<Applied>, layer2: &mut Layer2Runtime) {
    let (mut config, errors, announcements) = compute(&ctx.stores, &ctx.opts);
    layer2.apply(compute_layer2(&ctx.stores, &ctx.opts)).await;
    if errors.contains_key(&format!("BgpConf/{BGP_CONF_NAME}")) {
        // A BgpConf edited into something unusable keeps the last good global settings
        // running (MetalLB's rule for a bad configuration): one typo must not drop every
        // session of every node. Its Valid condition says what is wrong; deleting the
        // BgpConf still stops the speaker.
        let a = applied.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(last_good) = a.config.as_ref().filter(|c| c.global.asn != 0) {
            config = last_good.clone();
        }
    }
    let (config_changed, errors_changed, routes_changed) = {
        let a = applied.lock().unwrap_or_else(|p| p.into_inner());
        (
            a.config.as_ref() != Some(&config),
            a.errors != errors,
            a.announcements.routes != announcements.routes,
        )
    };
    if errors_changed {
        for (object, e) in &errors {
            warn!(%object, error = %e, "not run on this node");
        }
    }
    if config_changed {
        info!(
            peers = config.peers.len(),
            asn = config.global.asn,
            "applying speaker configuration"
        );
        if let Err(e) = ctx.speaker.apply(config.clone()).await {
            warn!(error = %e, "speaker configuration partly applied");
        }
        ctx.ready.store(true, Ordering::Relaxed);
        ctx.global_as.store(config.global.asn, Ordering::Relaxed);
    }
    if routes_changed {
        info!(
            prefixes = announcements.routes.len(),
            "announcements changed"
        );
        ctx.speaker
            .set_routes(Arc::new(announcements.routes.clone()))
            .await;
    }
    let mut a = applied.lock().unwrap_or_else(|p| p.into_inner());
    a.config = Some(config);
    a.errors = errors;
    a.announcements = announcements;
}

/// The condition type of `node`'s advertisement of a Service. The name part of a qualified
/// name is at most 63 characters: longer node names keep their first 54 and a hash.
pub fn advertised_condition_type(node: &str) -> String {
    let name = if node.len() <= 63 {
        node.to_string()
    } else {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a: stable across releases
        for b in node.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!(
            "{}-{:08x}",
            node[..54].trim_end_matches(['-', '.']),
            h as u32
        )
    };
    format!("{ADVERTISED_CONDITION_PREFIX}/{name}")
}

/// One peer's view of a prefix: the peer name, next hops sent, since when.
pub type PeerAdvert = (String, Vec<IpAddr>, SystemTime);

/// This node's advertisement condition for one Service: True when at least one peer has
/// each of its BGP addresses and this node answers ARP/NDP for each of its layer-2 ones;
/// the message says, per address, to which peers, with which next hops, since when, on
/// which interface, which node owns it instead, or why not. `advertised` is what the
/// speaker reports per prefix; `layer2` this node's role for each layer-2 address.
pub fn advertisement_condition(
    node: &str,
    adverts: &[super::announce::AddressAdvert],
    layer2: &[(IpAddr, Layer2Role)],
    advertised: &BTreeMap<bgp_wire::nlri::Prefix, Vec<PeerAdvert>>,
    current: &[Condition],
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let mut parts = Vec::new();
    // The reason of each address that keeps the condition False.
    let mut failing: Vec<&'static str> = Vec::new();
    let mut since: Option<SystemTime> = None;
    for a in adverts {
        let prefix = bgp_wire::nlri::Prefix::host(a.ip);
        let peers = advertised.get(&prefix).map(Vec::as_slice).unwrap_or(&[]);
        if let Some(why) = &a.withdrawn {
            failing.push("Withdrawn");
            parts.push(format!("{}: withdrawn, {why}", a.ip));
        } else if peers.is_empty() {
            failing.push("NoEstablishedPeer");
            let hops: BTreeSet<String> = a.next_hops.keys().cloned().collect();
            parts.push(format!(
                "{}: no established peer on this node (next hops from {})",
                a.ip,
                hops.into_iter().collect::<Vec<_>>().join(", ")
            ));
        } else {
            let nodes: Vec<&str> = a.next_hops.keys().map(String::as_str).collect();
            let to: Vec<String> = peers
                .iter()
                .map(|(peer, _, t)| {
                    since = Some(since.map_or(*t, |s| s.min(*t)));
                    peer.clone()
                })
                .collect();
            parts.push(format!(
                "{}: to {} with next hops from {}",
                a.ip,
                to.join(", "),
                nodes.join(", ")
            ));
        }
    }
    for (ip, role) in layer2 {
        if !matches!(role, Layer2Role::Answering { .. }) {
            failing.push(role.reason());
        }
        parts.push(describe(*ip, role));
    }
    let type_ = advertised_condition_type(node);
    let any = !adverts.is_empty() || !layer2.is_empty();
    let status = if failing.is_empty() && any {
        "True"
    } else {
        "False"
    };
    // The most actionable cause first: something is broken, then this node is not meant
    // to, then it waits for a peer or another node.
    const PRIORITY: [&str; 6] = [
        "Withdrawn",
        "InterfaceError",
        "NotEligible",
        "NoEstablishedPeer",
        "Standby",
        "NoOwner",
    ];
    let reason = match status {
        "True" if adverts.is_empty() => "Answering",
        "True" => "Advertised",
        _ => PRIORITY
            .into_iter()
            .find(|r| failing.contains(r))
            .unwrap_or("NoEstablishedPeer"),
    };
    // The transition time is the moment the routes went out, when known.
    let keep = current
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone());
    let last_transition_time = keep.unwrap_or_else(|| {
        Time(
            since
                .and_then(|t| Timestamp::try_from(t).ok())
                .filter(|_| status == "True")
                .unwrap_or(now),
        )
    });
    Condition {
        type_,
        status: status.into(),
        reason: reason.into(),
        message: parts.join("; "),
        observed_generation: generation,
        last_transition_time,
    }
}

/// What this node wrote last, to write only changes.
#[derive(Default)]
struct Written {
    peers: BTreeMap<String, NodePeerStatus>,
    conf: Option<NodeConfStatus>,
    services: BTreeMap<ServiceKey, (String, String, String)>,
}

/// Writes this node's status entries every `status_interval`, when they changed.
pub async fn status_loop(ctx: Arc<NodeCtx>, stopped: impl std::future::Future<Output = ()>) {
    tokio::pin!(stopped);
    let mut written = Written::default();
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = tokio::time::sleep(ctx.opts.status_interval) => {}
        }
        if let Err(e) = write_peer_status(&ctx, &mut written).await {
            warn!(error = %e, "cannot write BgpPeer status");
        }
        if let Err(e) = write_conf_status(&ctx, &mut written).await {
            warn!(error = %e, "cannot write BgpConf status");
        }
        if let Err(e) = write_service_conditions(&ctx, &mut written).await {
            warn!(error = %e, "cannot write Service advertisement conditions");
        }
        let waiting = waiting_services(&ctx.stores.services.state(), &ctx.opts);
        ctx.metrics
            .services_waiting
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
        if *ctx.leading.borrow() {
            if let Err(e) = prune(&ctx).await {
                warn!(error = %e, "cannot prune status of removed nodes");
            }
        }
    }
}

fn ignore_not_found(r: Result<(), kube::Error>) -> Result<(), kube::Error> {
    match r {
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        other => other,
    }
}

async fn write_peer_status(ctx: &NodeCtx, written: &mut Written) -> Result<(), kube::Error> {
    let api = Api::<BgpPeer>::all(ctx.client.clone());
    let pp = PatchParams::apply(&node_field_manager(&ctx.opts.node_name)).force();
    let node = &ctx.opts.node_name;
    let status = ctx.speaker.status();
    // The session's local AS defaults to the global one (rack rules included).
    let global_as = if status.is_empty() {
        0
    } else {
        compute(&ctx.stores, &ctx.opts).0.global.asn
    };
    for (name, s) in &status {
        let entry = crate::status::node_peer_status(s, global_as);
        if written.peers.get(name) == Some(&entry) {
            continue;
        }
        let patch = serde_json::json!({
            "apiVersion": porter_crds::API_VERSION,
            "kind": "BgpPeer",
            "metadata": {"name": name},
            "status": {"nodesPeerStatus": {node.as_str(): entry}},
        });
        ignore_not_found(
            api.patch_status(name, &pp, &Patch::Apply(&patch))
                .await
                .map(drop),
        )?;
        written.peers.insert(name.clone(), entry);
    }
    // Peers this node no longer runs: applying nothing gives up (removes) our entry.
    let gone: Vec<String> = written
        .peers
        .keys()
        .filter(|n| !status.contains_key(*n))
        .cloned()
        .collect();
    for name in gone {
        let patch = serde_json::json!({
            "apiVersion": porter_crds::API_VERSION,
            "kind": "BgpPeer",
            "metadata": {"name": name},
        });
        ignore_not_found(
            api.patch_status(&name, &pp, &Patch::Apply(&patch))
                .await
                .map(drop),
        )?;
        written.peers.remove(&name);
    }
    Ok(())
}

async fn write_conf_status(ctx: &NodeCtx, written: &mut Written) -> Result<(), kube::Error> {
    let conf_exists = ctx
        .stores
        .bgp_confs
        .state()
        .iter()
        .any(|c| c.name_any() == BGP_CONF_NAME);
    if !conf_exists {
        written.conf = None;
        return Ok(());
    }
    let (config, _, _) = compute(&ctx.stores, &ctx.opts);
    if config.global.asn == 0 {
        return Ok(());
    }
    let entry = NodeConfStatus {
        router_id: Some(config.global.router_id.to_string()),
        asn: config.global.asn,
    };
    if written.conf.as_ref() == Some(&entry) {
        return Ok(());
    }
    let patch = serde_json::json!({
        "apiVersion": porter_crds::API_VERSION,
        "kind": "BgpConf",
        "metadata": {"name": BGP_CONF_NAME},
        "status": {"nodesConfStatus": {ctx.opts.node_name.as_str(): entry}},
    });
    Api::<BgpConf>::all(ctx.client.clone())
        .patch_status(
            BGP_CONF_NAME,
            &PatchParams::apply(&node_field_manager(&ctx.opts.node_name)).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    written.conf = Some(entry);
    Ok(())
}

async fn write_service_conditions(ctx: &NodeCtx, written: &mut Written) -> Result<(), kube::Error> {
    let (_, _, announcements) = compute(&ctx.stores, &ctx.opts);
    let advertised = ctx.speaker.advertised();
    let pp = PatchParams::apply(&node_field_manager(&ctx.opts.node_name)).force();
    let now = Timestamp::now();
    let services: BTreeMap<ServiceKey, Arc<Service>> = ctx
        .stores
        .services
        .state()
        .into_iter()
        .map(|s| {
            (
                ServiceKey::new(s.namespace().unwrap_or_default(), s.name_any()),
                s,
            )
        })
        .collect();
    let layer2 = ctx.layer2.roles();
    let keys: BTreeSet<&ServiceKey> = announcements.services.keys().chain(layer2.keys()).collect();
    for key in keys.iter().copied() {
        let Some(svc) = services.get(key) else {
            continue;
        };
        let current = svc
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        let cond = advertisement_condition(
            &ctx.opts.node_name,
            announcements.services.get(key).map_or(&[], Vec::as_slice),
            layer2.get(key).map_or(&[], Vec::as_slice),
            &advertised,
            current,
            svc.metadata.generation,
            now,
        );
        let fingerprint = (
            cond.status.clone(),
            cond.reason.clone(),
            cond.message.clone(),
        );
        if written.services.get(key) == Some(&fingerprint) {
            continue;
        }
        let patch = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": key.name, "namespace": key.namespace},
            "status": {"conditions": [cond]},
        });
        ignore_not_found(
            Api::<Service>::namespaced(ctx.client.clone(), &key.namespace)
                .patch_status(&key.name, &pp, &Patch::Apply(&patch))
                .await
                .map(drop),
        )?;
        written.services.insert(key.clone(), fingerprint);
    }
    // Services this node no longer announces (deleted, left porter): applying nothing gives
    // up our condition.
    let gone: Vec<ServiceKey> = written
        .services
        .keys()
        .filter(|k| !keys.contains(k))
        .cloned()
        .collect();
    for key in gone {
        let patch = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": key.name, "namespace": key.namespace},
        });
        ignore_not_found(
            Api::<Service>::namespaced(ctx.client.clone(), &key.namespace)
                .patch_status(&key.name, &pp, &Patch::Apply(&patch))
                .await
                .map(drop),
        )?;
        written.services.remove(&key);
    }
    Ok(())
}

/// Services porter serves that are not being deleted and have no address in their status.
pub fn waiting_services(services: &[Arc<Service>], opts: &Options) -> usize {
    services
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none() && is_managed(s, opts))
        .filter(|s| {
            s.status
                .as_ref()
                .and_then(|st| st.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .is_none_or(|i| i.iter().all(|e| e.ip.is_none()))
        })
        .count()
}

/// Removes `nodesPeerStatus`/`nodesConfStatus` entries of Nodes that no longer exist (their
/// writer is gone, so nobody else would).
async fn prune(ctx: &NodeCtx) -> Result<(), kube::Error> {
    let nodes: BTreeSet<String> = ctx
        .stores
        .nodes
        .state()
        .iter()
        .map(|n| n.name_any())
        .collect();
    for peer in ctx.stores.bgp_peers.state() {
        let stale = stale_keys(
            peer.status.as_ref().map(|s| s.nodes_peer_status.keys()),
            &nodes,
        );
        if stale.is_empty() {
            continue;
        }
        info!(bgppeer = %peer.name_any(), ?stale, "pruning status of removed nodes");
        let patch = serde_json::json!({"status": {"nodesPeerStatus": nulls(&stale)}});
        ignore_not_found(
            Api::<BgpPeer>::all(ctx.client.clone())
                .patch_status(
                    &peer.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map(drop),
        )?;
    }
    for conf in ctx.stores.bgp_confs.state() {
        let stale = stale_keys(
            conf.status.as_ref().map(|s| s.nodes_conf_status.keys()),
            &nodes,
        );
        if stale.is_empty() {
            continue;
        }
        let patch = serde_json::json!({"status": {"nodesConfStatus": nulls(&stale)}});
        ignore_not_found(
            Api::<BgpConf>::all(ctx.client.clone())
                .patch_status(
                    &conf.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map(drop),
        )?;
    }
    // Advertisement conditions of removed nodes: apply nothing as their field manager.
    for svc in ctx.stores.services.state() {
        for manager in stale_node_managers(svc.as_ref(), &nodes) {
            let patch = serde_json::json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": svc.name_any(), "namespace": svc.namespace()},
            });
            ignore_not_found(
                Api::<Service>::namespaced(
                    ctx.client.clone(),
                    &svc.namespace().unwrap_or_default(),
                )
                .patch_status(
                    &svc.name_any(),
                    &PatchParams::apply(&manager).force(),
                    &Patch::Apply(&patch),
                )
                .await
                .map(drop),
            )?;
        }
    }
    Ok(())
}

/// Field managers `porter/<node>` on `obj`'s status whose node no longer exists.
pub fn stale_node_managers<K: Resource>(obj: &K, nodes: &BTreeSet<String>) -> Vec<String> {
    let live: BTreeSet<String> = nodes.iter().map(|n| node_field_manager(n)).collect();
    let prefix = format!("{}/", super::FIELD_MANAGER);
    obj.meta()
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .filter_map(|m| m.manager.clone())
        .filter(|m| m.starts_with(&prefix) && !live.contains(m))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Keys of a per-node status map whose node no longer exists.
pub fn stale_keys<'a>(
    keys: Option<impl Iterator<Item = &'a String>>,
    nodes: &BTreeSet<String>,
) -> Vec<String> {
    keys.into_iter()
        .flatten()
        .filter(|k| !nodes.contains(*k))
        .cloned()
        .collect()
}

fn nulls(keys: &[String]) -> serde_json::Value {
    keys.iter()
        .map(|k| (k.clone(), serde_json::Value::Null))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::super::announce::{AddressAdvert, NotAnnounced};
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn condition_type_is_a_valid_qualified_name() {
        assert_eq!(
            advertised_condition_type("worker-1"),
            "advertised.porter.network.kubesphere.io/worker-1"
        );
        let long = "n".repeat(80);
        let t = advertised_condition_type(&long);
        let name = t.split_once('/').unwrap().1;
        assert!(name.len() <= 63, "{name}");
        assert_ne!(advertised_condition_type(&"n".repeat(81)), t);
    }

    #[test]
    fn advertisement_condition_says_to_whom_from_where_and_since_when() {
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let now: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let adverts = [AddressAdvert {
            ip: ip("203.0.113.10"),
            next_hops: [
                ("n1".to_string(), ip("10.200.40.1")),
                ("n2".to_string(), ip("10.200.40.2")),
            ]
            .into(),
            withdrawn: None,
        }];
        let advertised = [(
            bgp_wire::nlri::Prefix::host(ip("203.0.113.10")),
            vec![("tor1".to_string(), vec![ip("10.200.40.1")], since)],
        )]
        .into();
        let c = advertisement_condition("n1", &adverts, &[], &advertised, &[], Some(1), now);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "Advertised")
        );
        assert_eq!(
            c.message,
            "203.0.113.10: to tor1 with next hops from n1, n2"
        );
        assert_eq!(
            c.last_transition_time,
            Time(Timestamp::try_from(since).unwrap())
        );

        // No session up yet.
        let c = advertisement_condition("n1", &adverts, &[], &BTreeMap::new(), &[], Some(1), now);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "NoEstablishedPeer")
        );
        assert_eq!(c.last_transition_time, Time(now));

        // Withdrawn, with the reason.
        let gone = [AddressAdvert {
            ip: ip("203.0.113.10"),
            next_hops: BTreeMap::new(),
            withdrawn: Some(NotAnnounced::NoReadyEndpoint),
        }];
        let c = advertisement_condition("n1", &gone, &[], &advertised, &[], Some(1), now);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "Withdrawn")
        );
        assert!(c.message.contains("no ready endpoint"), "{}", c.message);
    }

    #[test]
    fn layer2_condition_names_the_interface_or_the_owner() {
        let now: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let answering = [(
            ip("198.51.100.10"),
            Layer2Role::Answering {
                interface: "eth0".into(),
            },
        )];
        let c = advertisement_condition("n1", &[], &answering, &BTreeMap::new(), &[], None, now);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "Answering")
        );
        assert_eq!(c.message, "198.51.100.10: answering ARP on eth0");

        let mixed = [
            answering[0].clone(),
            (
                ip("2001:db8::10"),
                Layer2Role::Standby { owner: "n2".into() },
            ),
        ];
        let c = advertisement_condition("n1", &[], &mixed, &BTreeMap::new(), &[], None, now);
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "Standby"));
        assert_eq!(
            c.message,
            "198.51.100.10: answering ARP on eth0; 2001:db8::10: standby, owner is n2"
        );

        // A broken interface outranks waiting for another node.
        let broken = [
            mixed[1].clone(),
            (
                ip("198.51.100.11"),
                Layer2Role::InterfaceError {
                    spec: "eth9".into(),
                    error: "no interface named eth9".into(),
                },
            ),
        ];
        let c = advertisement_condition("n1", &[], &broken, &BTreeMap::new(), &[], None, now);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "InterfaceError")
        );
    }

    /// Level-triggered: the whole answer from the stores. A deleting Service, a Service that
    /// is not porter's, and an address of a layer-2 pool are not announced.
    #[test]
    fn compute_announces_only_live_managed_services_of_bgp_pools() {
        use kube::runtime::reflector;
        use kube::runtime::watcher::Event;
        let (nodes, mut nodes_w) = reflector::store();
        let (services, mut services_w) = reflector::store();
        let (slices, _) = reflector::store();
        let (namespaces, _) = reflector::store();
        let (eips, mut eips_w) = reflector::store();
        let (bgp_confs, mut confs_w) = reflector::store();
        let (bgp_peers, mut peers_w) = reflector::store();
        let stores = Stores {
            nodes,
            services,
            slices,
            namespaces,
            eips,
            bgp_confs,
            bgp_peers,
        };
        fn obj<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
            serde_json::from_value(v).unwrap()
        }
        for (name, addr) in [("n1", "10.200.40.1"), ("n2", "10.200.40.2")] {
            nodes_w.apply_watcher_event(&Event::Apply(obj(serde_json::json!({
                "metadata": {"name": name, "labels": {"role": name}},
                "status": {"conditions": [{"type": "Ready", "status": "True"}],
                           "addresses": [{"type": "InternalIP", "address": addr}]}}))));
        }
        for (name, address, protocol) in [
            ("bgp", "203.0.113.0/24", "bgp"),
            ("l2", "198.51.100.0/24", "layer2"),
        ] {
            eips_w.apply_watcher_event(&Event::Apply(obj(serde_json::json!({
                "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
                "metadata": {"name": name},
                "spec": {"address": address, "protocol": protocol, "interface": "eth0"}}))));
        }
        let svc = |name: &str, ip: &str, annotated: bool, deleting: bool| {
            let mut v = serde_json::json!({
                "metadata": {"name": name, "namespace": "ns"},
                "spec": {"type": "LoadBalancer"},
                "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}});
            if annotated {
                v["metadata"]["annotations"] =
                    serde_json::json!({"lb.kubesphere.io/v1alpha1": "openelb"});
            }
            if deleting {
                v["metadata"]["deletionTimestamp"] = serde_json::json!("2026-01-01T00:00:00Z");
                v["metadata"]["finalizers"] = serde_json::json!(["x"]);
            }
            Event::Apply(obj::<Service>(v))
        };
        services_w.apply_watcher_event(&svc("live", "203.0.113.1", true, false));
        services_w.apply_watcher_event(&svc("deleting", "203.0.113.2", true, true));
        services_w.apply_watcher_event(&svc("foreign", "203.0.113.3", false, false));
        services_w.apply_watcher_event(&svc("layer2", "198.51.100.1", true, false));
        confs_w.apply_watcher_event(&Event::Apply(obj(serde_json::json!({
            "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
            "metadata": {"name": "default"}, "spec": {"as": 64512}}))));
        peers_w.apply_watcher_event(&Event::Apply(obj(serde_json::json!({
            "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer",
            "metadata": {"name": "only-n2"},
            "spec": {"conf": {"peerAs": 65001, "neighborAddress": "10.200.40.254"},
                     "nodeSelector": {"matchLabels": {"role": "n2"}}}}))));

        let (config, errors, ann) = compute(&stores, &options());
        assert!(errors.is_empty(), "{errors:?}");
        // n1 runs BGP with its own address as router ID, but not n2's peer.
        assert_eq!(config.global.asn, 64512);
        assert_eq!(config.global.router_id.to_string(), "10.200.40.1");
        assert!(config.peers.is_empty());
        let prefixes: Vec<String> = ann.routes.keys().map(|p| p.to_string()).collect();
        assert_eq!(prefixes, ["203.0.113.1/32"]);
        let hops = &ann.routes.values().next().unwrap().next_hops;
        assert_eq!(
            hops.len(),
            2,
            "every replica announces every eligible next hop"
        );
        assert_eq!(
            ann.services
                .keys()
                .map(|k| k.to_string())
                .collect::<Vec<_>>(),
            ["ns/live"],
            "deleting, foreign and layer-2 Services have nothing announced by BGP"
        );
    }

    #[test]
    fn stale_managers_are_those_of_removed_nodes() {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "ns", "managedFields": [
                {"manager": "porter", "operation": "Apply", "subresource": "status"},
                {"manager": "porter/n1", "operation": "Apply", "subresource": "status"},
                {"manager": "porter/gone", "operation": "Apply", "subresource": "status"},
                {"manager": "porter/gone2", "operation": "Apply"},
                {"manager": "kubectl", "operation": "Update", "subresource": "status"}]}
        }))
        .unwrap();
        let nodes: BTreeSet<String> = ["n1".to_string()].into();
        assert_eq!(stale_node_managers(&svc, &nodes), ["porter/gone"]);
    }

    #[test]
    fn stale_keys_are_the_nodes_that_are_gone() {
        let keys = ["n1".to_string(), "n2".to_string(), "old".to_string()];
        let nodes: BTreeSet<String> = ["n1".to_string(), "n2".to_string()].into();
        assert_eq!(stale_keys(Some(keys.iter()), &nodes), ["old"]);
        assert!(stale_keys(None::<std::slice::Iter<String>>, &nodes).is_empty());
        assert_eq!(nulls(&["old".into()]), serde_json::json!({"old": null}));
    }

    fn options() -> Options {
        Options {
            node_name: "n1".into(),
            namespace: "porter-system".into(),
            identity: "p".into(),
            load_balancer_class: super::super::DEFAULT_CLASS.into(),
            default_class: false,
            lease_name: "l".into(),
            lease: Default::default(),
            http: "127.0.0.1:0".parse().unwrap(),
            status_interval: Duration::from_secs(5),
            shutdown_drain: Duration::ZERO,
            layer2: Default::default(),
        }
    }

    /// `porter_services_waiting`: served, not being deleted, no address yet.
    #[test]
    fn waiting_services_are_ours_without_an_address() {
        let svc = |name: &str, class: &str, ip: Option<&str>, deleting: bool| {
            let mut v = serde_json::json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"type": "LoadBalancer", "loadBalancerClass": class},
            });
            if let Some(ip) = ip {
                v["status"] = serde_json::json!({"loadBalancer": {"ingress": [{"ip": ip}]}});
            }
            if deleting {
                v["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z".into();
                v["metadata"]["finalizers"] = serde_json::json!(["x"]);
            }
            Arc::new(serde_json::from_value::<Service>(v).unwrap())
        };
        let ours = super::super::DEFAULT_CLASS;
        let services = [
            svc("waiting", ours, None, false),
            svc("served", ours, Some("203.0.113.1"), false),
            svc("deleting", ours, None, true),
            svc("metallb", "metallb", None, false),
        ];
        assert_eq!(waiting_services(&services, &options()), 1);
    }
}
