//! From the file's objects to what this node should do: a pure translation, no I/O.
//!
//! ```text
//! Objects (load.rs) ──┬─ BgpConf, BgpPeers ─→ SpeakerConfig   (peers selected for this node)
//!                     ├─ Eips ──────────────→ IPAM pools ─┐
//!                     └─ Services ──────────→ requests ───┴─→ allocations ─→ DesiredRoutes
//!                                                                          └→ Eip / Service status
//! ```
//!
//! Defaults follow OpenELB v0.6 (which hands objects to gobgp): a BgpPeer without `afiSafis`
//! negotiates its neighbor's unicast family with ADD-PATH send limit 10; `listenPort` 0 means
//! 179 and a negative one turns the listener off; timers as numbers or gobgp's decimal strings.
//!
//! Addresses stay put. A Service keeps what it held before a reload ([`Holdings`]); at the first
//! load a Service whose `status.loadBalancer.ingress` carries an address asks for that address
//! first, so a restart with porter's own answers left in the file keeps every IP. A Service that
//! cannot get an address gets an error in its status; the others are not affected.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use bgp_wire::nlri::Prefix;
use k8s_openapi::api::core::v1::Service;
use porter_crds::eip::Protocol;
use porter_crds::{annotations, Eip, EipStatus};
use serde::Serialize;

use super::load::{Objects, Problem, Problems};
use crate::ipam::{
    self, Allocator, Assigned, FamilyRequest, IpFamily, LabelSelector, OptIn, PoolProtocol,
    PoolSpec, PortProtocol, RebuildConflict, ServiceKey, ServicePort, ServiceRequest,
};
use crate::speaker::from_crds::{self, selector_matches, NodeFacts};
use crate::speaker::{DesiredRoutes, GlobalConfig, NextHop, RouteAttrs, RouteSpec, SpeakerConfig};

/// The node label every Kubernetes node carries with its host name; in standalone mode it is
/// the one label the node has, so BgpPeer `nodeSelector`s can name the node.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// The label Kubernetes puts on every namespace with the namespace's name; standalone mode
/// gives each Service's namespace this one label, for Eip `namespaceSelector`s.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The `spec.loadBalancerClass` porter serves unless told otherwise.
pub const DEFAULT_LOAD_BALANCER_CLASS: &str = "network.kubesphere.io/porter";

/// Nodes carrying this label never serve load-balancer traffic (Kubernetes' well-known label).
pub const EXCLUDE_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// The InternalIP addresses of the Nodes that may carry Service traffic
/// (externalTrafficPolicy Cluster): Ready — a Node written without status conditions counts
/// as Ready, since a hand-written file states what exists — and not labelled
/// [`EXCLUDE_LB_LABEL`].
pub fn eligible_next_hops(
    nodes: &BTreeMap<String, k8s_openapi::api::core::v1::Node>,
) -> BTreeSet<IpAddr> {
    let mut out = BTreeSet::new();
    for node in nodes.values() {
        if node
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(EXCLUDE_LB_LABEL))
        {
            continue;
        }
        let status = node.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .is_none_or(|c| c.status == "True");
        if !ready {
            continue;
        }
        for a in status
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
        {
            if a.type_ == "InternalIP" {
                if let Ok(ip) = a.address.parse::<IpAddr>() {
                    out.insert(ip);
                }
            }
        }
    }
    out
}

/// This node as the translation sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Node name (the `status.bgpPeers` key of the CRD status).
    pub name: String,
    /// Node labels, for BgpPeer `nodeSelector` and BgpConf `asPerRack`.
    pub labels: BTreeMap<String, String>,
    /// The node's own addresses: a BGP identifier when BgpConf has no `routerId` (the first
    /// IPv4 one), and next-hop-self for a VIP of the other family.
    pub addresses: Vec<IpAddr>,
}

impl Node {
    /// This node as the shared BgpConf/BgpPeer translation reads it.
    pub fn facts(&self) -> NodeFacts<'_> {
        NodeFacts {
            name: &self.name,
            labels: &self.labels,
            addresses: &self.addresses,
        }
    }

    /// A standalone node: its only label is `kubernetes.io/hostname=<name>`, no addresses.
    pub fn standalone(name: impl Into<String>) -> Node {
        let name = name.into();
        Node {
            labels: [(HOSTNAME_LABEL.to_owned(), name.clone())].into(),
            name,
            addresses: Vec::new(),
        }
    }
}

/// Settings that do not come from the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The `spec.loadBalancerClass` that hands a Service to porter.
    pub load_balancer_class: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            load_balancer_class: DEFAULT_LOAD_BALANCER_CLASS.to_owned(),
        }
    }
}

/// What each Service holds, carried from one translation to the next so that addresses stay
/// put across reloads.
pub type Holdings = BTreeMap<ServiceKey, Vec<IpAddr>>;

/// Everything the file asks of this node.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// The speaker's configuration: the peers selected for this node. Without a BgpConf it has
    /// no peers and no listener (no BGP at all), like OpenELB without one.
    pub speaker: SpeakerConfig,
    /// Whether the file has a BgpConf.
    pub bgp: bool,
    /// BgpPeers skipped on this node and why (their `nodeSelector` does not match).
    pub skipped_peers: BTreeMap<String, String>,
    /// Routes to announce: one host route per address of a Service in a `bgp` pool.
    pub routes: Arc<DesiredRoutes>,
    /// Addresses of Services in `layer2` pools, by the Eip's `spec.interface`: this instance
    /// answers ARP/NDP for all of them (standalone has one instance, so it owns them all).
    pub layer2: BTreeMap<String, BTreeSet<IpAddr>>,
    /// Eip name → the status the Eip object would show.
    pub eips: BTreeMap<String, EipStatus>,
    /// `namespace/name` → what became of the Service.
    pub services: BTreeMap<String, ServiceOutcome>,
    /// What each Service holds now: pass it to the next [`translate`].
    pub holdings: Holdings,
}

/// What became of one Service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceOutcome {
    /// The first address (what `status.loadBalancer.ingress[0].ip` would show).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// Every address, IPv4 first (two for a dual-stack Service).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpAddr>,
    /// The pool of each address, in the order of `ips`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<String>,
    /// How each address is announced (`bgp` or `layer2`), in the order of `ips`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protocols: Vec<String>,
    /// Why the Service has no address (allocation failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why porter leaves the Service alone (not a LoadBalancer, not opted in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// Something the user should know although the Service has its address (a previous
    /// address that could not be kept, a family that could not be served).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Translates the file's objects into this node's desired state.
///
/// `previous` is what [`Desired::holdings`] returned last time (empty at start). Problems in
/// the configuration itself (a BgpConf without a router ID in standalone mode, two peers with
/// one neighbor address, overlapping Eips, …) are returned all together, each naming its
/// document; a Service that cannot get an address is not a problem of the configuration and
/// only shows in its [`ServiceOutcome`].
pub fn translate(
    objects: &Objects,
    node: &Node,
    options: &Options,
    previous: &Holdings,
) -> Result<Desired, Problems> {
    let mut problems = Vec::new();
    let global = match &objects.bgp_conf {
        Some(conf) => {
            let label = format!("BgpConf/{}", conf.metadata.name.as_deref().unwrap_or(""));
            // With graceful restart and no restartTime, the restart time follows the hold
            // times of the peers this node runs.
            let selected = objects.peers.values().filter(|p| {
                selector_matches(p.spec.node_selector.as_ref(), &node.labels).unwrap_or(false)
            });
            match from_crds::global_config(
                &conf.spec,
                node.facts(),
                selected.map(|p| &p.spec),
                GlobalConfig::default().shutdown_drain,
            ) {
                Ok(global) => global,
                Err(errors) => {
                    problems.extend(errors.0.into_iter().map(|e| Problem {
                        document: objects.document_of(&label),
                        object: Some(label.clone()),
                        path: Some(e.path),
                        message: e.message,
                    }));
                    GlobalConfig::default()
                }
            }
        }
        None => GlobalConfig {
            listen_port: None,
            node_addresses: node.addresses.clone(),
            ..GlobalConfig::default()
        },
    };
    let mut peers = BTreeMap::new();
    let mut skipped_peers = BTreeMap::new();
    if objects.bgp_conf.is_none() {
        for name in objects.peers.keys() {
            skipped_peers.insert(
                name.clone(),
                "the file has no BgpConf, so BGP is off".to_owned(),
            );
        }
    } else {
        let mut neighbors: BTreeMap<IpAddr, &str> = BTreeMap::new();
        for (name, peer) in &objects.peers {
            let at = |path: &str, message: String| Problem {
                document: objects.document_of(&format!("BgpPeer/{name}")),
                object: Some(format!("BgpPeer/{name}")),
                path: Some(path.to_owned()),
                message,
            };
            match selector_matches(peer.spec.node_selector.as_ref(), &node.labels) {
                Ok(true) => {}
                Ok(false) => {
                    skipped_peers.insert(
                        name.clone(),
                        format!("spec.nodeSelector does not match node {}", node.name),
                    );
                    continue;
                }
                Err(message) => {
                    problems.push(at("spec.nodeSelector", message));
                    continue;
                }
            }
            match from_crds::peer_config(&peer.spec) {
                Ok(pc) => {
                    if let Some(other) = neighbors.insert(pc.neighbor, name) {
                        problems.push(at(
                            "spec.conf.neighborAddress",
                            format!(
                                "{} is also the neighbor of BgpPeer {other}; a node has one session per neighbor",
                                pc.neighbor
                            ),
                        ));
                    }
                    peers.insert(name.clone(), pc);
                }
                Err(found) => problems.extend(found.0.into_iter().map(|e| at(&e.path, e.message))),
            }
        }
    }

    let pools: Vec<PoolSpec> = objects.eips.iter().map(|(n, e)| pool_spec(n, e)).collect();
    // Pool rules that span Eips (overlaps, two defaults) are refused like OpenELB's webhook
    // refuses them, rather than leaving one pool silently unusable.
    for invalid in Allocator::new(pools.clone()).invalid_pools() {
        let label = format!("Eip/{}", invalid.name);
        problems.push(Problem {
            document: objects.document_of(&label),
            object: Some(label),
            path: None,
            message: invalid.error.to_string(),
        });
    }

    if !problems.is_empty() {
        problems.sort_by_key(|p| p.document);
        return Err(Problems(problems));
    }

    let (services, holdings, allocator) = allocate(objects, options, previous, pools);

    let eligible = eligible_next_hops(&objects.nodes);
    let mut routes = DesiredRoutes::new();
    let mut layer2: BTreeMap<String, BTreeSet<IpAddr>> = BTreeMap::new();
    for assigned in allocator.allocations().flat_map(|(_, a)| a) {
        if assigned.protocol == PoolProtocol::Layer2 {
            let interface = objects
                .eips
                .get(&assigned.pool)
                .and_then(|e| e.spec.interface.clone());
            if let Some(interface) = interface.filter(|i| !i.is_empty()) {
                layer2.entry(interface).or_default().insert(assigned.ip);
            }
        }
        // Layer-2 pools are answered by ARP/NDP on their segment, never routed over BGP.
        if assigned.protocol == PoolProtocol::Bgp {
            let next_hops = if objects.nodes.is_empty() {
                BTreeSet::from([NextHop::Local])
            } else {
                eligible
                    .iter()
                    .filter(|a| a.is_ipv4() == assigned.ip.is_ipv4())
                    .map(|a| NextHop::Addr(*a))
                    .collect()
            };
            routes.insert(
                Prefix::host(assigned.ip),
                RouteSpec {
                    next_hops,
                    attrs: RouteAttrs::default(),
                },
            );
        }
    }

    let bgp = objects.bgp_conf.is_some();
    let eips = objects
        .eips
        .keys()
        .filter_map(|name| {
            let status = allocator.pool_status(name).ok()?;
            let protocol = allocator.pool(name).map(|p| p.spec().protocol);
            Some((name.clone(), eip_status(status, protocol, bgp)))
        })
        .collect();

    Ok(Desired {
        speaker: SpeakerConfig { global, peers },
        bgp,
        skipped_peers,
        routes: Arc::new(routes),
        layer2,
        eips,
        services,
        holdings,
    })
}

/// Eip → IPAM pool.
fn pool_spec(name: &str, eip: &Eip) -> PoolSpec {
    let spec = &eip.spec;
    PoolSpec {
        name: name.to_owned(),
        address: spec.address.clone(),
        protocol: match spec.protocol {
            Protocol::Layer2 => PoolProtocol::Layer2,
            // `vip` is refused by porter-crds' validation.
            Protocol::Bgp | Protocol::Vip => PoolProtocol::Bgp,
        },
        disable: spec.disable,
        using_known_ips: spec.using_known_ips,
        priority: spec.priority,
        namespaces: spec.namespaces.clone(),
        namespace_selector: (!spec.namespace_selector.is_empty())
            .then(|| LabelSelector::labels(spec.namespace_selector.clone())),
        is_default: ipam::is_default_pool(
            eip.metadata
                .annotations
                .as_ref()
                .unwrap_or(&BTreeMap::new()),
        ),
    }
}

/// IPAM pool status → the status the Eip object would show.
fn eip_status(s: ipam::PoolStatus, protocol: Option<PoolProtocol>, bgp: bool) -> EipStatus {
    EipStatus {
        occupied: s.occupied,
        usage: EipStatus::count(s.usage as u128),
        pool_size: EipStatus::count(s.pool_size),
        used: s
            .used
            .into_iter()
            .map(|(ip, holders)| (ip.to_string(), holders))
            .collect(),
        first_ip: Some(s.first_ip.to_string()),
        last_ip: Some(s.last_ip.to_string()),
        v4: s.v4,
        // The announcer runs: the speaker for a bgp pool when there is a BgpConf; standalone
        // mode has no layer-2 responder.
        ready: protocol == Some(PoolProtocol::Bgp) && bgp,
        conditions: Vec::new(),
    }
}

/// One Service's request and what it may already hold.
struct Candidate {
    key: String,
    request: ServiceRequest,
    /// `PreferDualStack`: fall back to the primary family when dual stack cannot be served.
    fallback: Option<FamilyRequest>,
    /// Addresses from `status.loadBalancer.ingress`.
    status_ips: Vec<IpAddr>,
}

/// Allocates every Service's addresses, strongest claim first, and reports each outcome.
fn allocate(
    objects: &Objects,
    options: &Options,
    previous: &Holdings,
    pools: Vec<PoolSpec>,
) -> (BTreeMap<String, ServiceOutcome>, Holdings, Allocator) {
    let mut outcomes = BTreeMap::new();
    let mut candidates = Vec::new();
    for (key, service) in &objects.services {
        match candidate(key, service, options) {
            Ok(c) => candidates.push(c),
            Err(outcome) => {
                outcomes.insert(key.clone(), *outcome);
            }
        }
    }

    // What Services held before this reload is recorded first; a Service no longer in the
    // file (or no longer ours) is simply not recorded, which releases its addresses.
    let existing: Vec<(ServiceRequest, IpAddr)> = candidates
        .iter()
        .flat_map(|c| {
            previous
                .get(&c.request.service)
                .into_iter()
                .flatten()
                .map(|ip| (c.request.clone(), *ip))
        })
        .collect();
    let (mut allocator, conflicts) = Allocator::rebuild(pools, &existing);
    // A holding that cannot be kept (its pool shrank or went away) is dropped by the rebuild
    // and the Service is allocated anew below; say so in its status.
    let mut carried: BTreeMap<ServiceKey, Vec<String>> = BTreeMap::new();
    for conflict in conflicts {
        let service = match &conflict {
            RebuildConflict::Contested { service, .. }
            | RebuildConflict::OutsidePools { service, .. }
            | RebuildConflict::InvalidPool { service, .. }
            | RebuildConflict::Reserved { service, .. }
            | RebuildConflict::SecondAddress { service, .. } => service.clone(),
        };
        carried
            .entry(service)
            .or_default()
            .push(format!("previous address not kept: {conflict}"));
    }

    // Claim strength: what a Service already holds, then addresses a Service asks for (its
    // annotation, loadBalancerIP, or its status from before a restart), then the rest. So an
    // automatic allocation never takes the address another Service is known to want.
    let rank = |c: &Candidate| {
        if previous.contains_key(&c.request.service) {
            0
        } else if !c.request.requested_ips.is_empty() || !c.status_ips.is_empty() {
            1
        } else {
            2
        }
    };
    candidates.sort_by(|a, b| (rank(a), &a.key).cmp(&(rank(b), &b.key)));

    for c in &candidates {
        let mut outcome = ServiceOutcome {
            warnings: carried.remove(&c.request.service).unwrap_or_default(),
            ..ServiceOutcome::default()
        };
        let result = allocate_one(&mut allocator, c, previous, &mut outcome.warnings);
        match result {
            Ok(assigned) => {
                outcome.ip = assigned.first().map(|a| a.ip);
                outcome.ips = assigned.iter().map(|a| a.ip).collect();
                outcome.pools = assigned.iter().map(|a| a.pool.clone()).collect();
                outcome.protocols = assigned.iter().map(|a| a.protocol.to_string()).collect();
            }
            Err(e) => outcome.error = Some(e.to_string()),
        }
        outcomes.insert(c.key.clone(), outcome);
    }
    let holdings = allocator
        .allocations()
        .map(|(k, a)| (k.clone(), a.iter().map(|a| a.ip).collect()))
        .collect();
    (outcomes, holdings, allocator)
}

/// Allocates one Service: status addresses first when it held nothing before, then its plain
/// request, then (PreferDualStack) its primary family alone.
fn allocate_one(
    allocator: &mut Allocator,
    c: &Candidate,
    previous: &Holdings,
    warnings: &mut Vec<String>,
) -> Result<Vec<Assigned>, ipam::IpamError> {
    if !previous.contains_key(&c.request.service)
        && c.request.requested_ips.is_empty()
        && !c.status_ips.is_empty()
    {
        let mut wanted = c.request.clone();
        wanted.requested_ips = c
            .status_ips
            .iter()
            .copied()
            .filter(|ip| c.request.families.wants(IpFamily::of(*ip)))
            .collect();
        match allocator.allocate(&wanted) {
            Ok(a) => return Ok(a.assigned),
            Err(e) => warnings.push(format!(
                "the address(es) in status.loadBalancer could not be kept ({e}); allocating anew"
            )),
        }
    }
    match allocator.allocate(&c.request) {
        Ok(a) => Ok(a.assigned),
        Err(e) => {
            let Some(family) = c.fallback else {
                return Err(e);
            };
            let mut single = c.request.clone();
            single.families = family;
            single
                .requested_ips
                .retain(|ip| family.wants(IpFamily::of(*ip)));
            let a = allocator.allocate(&single).map_err(|_| e.clone())?;
            warnings.push(format!(
                "PreferDualStack: served {family}, dual stack could not be ({e})"
            ));
            Ok(a.assigned)
        }
    }
}

/// The request of a Service porter manages, or the outcome of one it does not (or whose
/// request is malformed).
fn candidate(
    key: &str,
    service: &Service,
    options: &Options,
) -> Result<Candidate, Box<ServiceOutcome>> {
    let no_annotations = BTreeMap::new();
    let annotations = service
        .metadata
        .annotations
        .as_ref()
        .unwrap_or(&no_annotations);
    let spec = service.spec.clone().unwrap_or_default();
    let service_type = spec.type_.as_deref().unwrap_or("ClusterIP");
    let ignored = |why: String| {
        Box::new(ServiceOutcome {
            ignored: Some(why),
            ..ServiceOutcome::default()
        })
    };
    match ipam::opt_in(
        service_type,
        annotations,
        spec.load_balancer_class.as_deref(),
        Some(&options.load_balancer_class),
    ) {
        OptIn::Managed => {}
        OptIn::NotLoadBalancer => {
            return Err(ignored(format!("type {service_type}, not LoadBalancer")))
        }
        OptIn::OtherClass(class) => {
            return Err(ignored(format!(
                "spec.loadBalancerClass {class} is not porter's ({})",
                options.load_balancer_class
            )))
        }
        OptIn::NotAnnotated => {
            return Err(ignored(format!(
                "no {}: porter or openelb annotation and no spec.loadBalancerClass",
                annotations::LB
            )))
        }
    }
    let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
    let name = service.metadata.name.as_deref().unwrap_or("");
    let mut request = ServiceRequest::new(namespace, name);
    request.namespace_labels = [(NAMESPACE_NAME_LABEL.to_owned(), namespace.to_owned())].into();
    request.ports = spec
        .ports
        .iter()
        .flatten()
        .map(|p| ServicePort {
            protocol: match p.protocol.as_deref() {
                Some("UDP") => PortProtocol::Udp,
                Some("SCTP") => PortProtocol::Sctp,
                _ => PortProtocol::Tcp,
            },
            // Checked to be 1..=65535 by the loader.
            port: u16::try_from(p.port).unwrap_or(0),
        })
        .collect();
    let primary = match spec.ip_families.as_ref().and_then(|f| f.first()) {
        Some(f) if f == "IPv6" => FamilyRequest::V6,
        _ => FamilyRequest::V4,
    };
    let (families, fallback) = match spec.ip_family_policy.as_deref() {
        Some("RequireDualStack") => (FamilyRequest::DualStack, None),
        Some("PreferDualStack") => (FamilyRequest::DualStack, Some(primary)),
        _ => (primary, None),
    };
    request.families = families;
    let request = request
        .with_annotations(
            annotations,
            spec.load_balancer_ip.as_deref().filter(|s| !s.is_empty()),
        )
        .map_err(|e| {
            Box::new(ServiceOutcome {
                error: Some(e.to_string()),
                ..ServiceOutcome::default()
            })
        })?;
    let status_ips = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect();
    Ok(Candidate {
        key: key.to_owned(),
        request,
        fallback,
        status_ips,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speaker::config::{AddPath, GracefulRestart};
    use crate::standalone::load::parse;
    use std::net::Ipv4Addr;

    const CONF: &str = "apiVersion: network.kubesphere.io/v1alpha2
kind: BgpConf
metadata: {name: default}
spec: {as: 65001, routerId: 10.200.1.2}
";

    fn peer(name: &str, neighbor: &str, extra: &str) -> String {
        format!(
            "apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata: {{name: {name}}}
spec:
  conf: {{neighborAddress: {neighbor}, peerAs: 65000}}
{extra}"
        )
    }

    fn eip(name: &str, address: &str, extra: &str) -> String {
        format!(
            "apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata: {{name: {name}}}
spec:
  address: {address}
{extra}"
        )
    }

    /// An Eip with OpenELB's default-pool annotation: Services that name no pool draw from it.
    fn default_eip(name: &str, address: &str) -> String {
        eip(name, address, "").replace(
            &format!("metadata: {{name: {name}}}"),
            &format!(
                "metadata: {{name: {name}, annotations: {{eip.openelb.kubesphere.io/is-default-eip: \"true\"}}}}"
            ),
        )
    }

    fn service(name: &str, annotations: &str, extra: &str) -> String {
        format!(
            "apiVersion: v1
kind: Service
metadata:
  name: {name}
  annotations: {{lb.kubesphere.io/v1alpha1: porter{annotations}}}
spec:
  type: LoadBalancer
  ports: [{{port: 80}}]
{extra}"
        )
    }

    fn objects(docs: &[String]) -> Objects {
        parse(docs.join("---\n").as_bytes()).unwrap()
    }

    fn run(docs: &[String]) -> Desired {
        translate(
            &objects(docs),
            &Node::standalone("node1"),
            &Options::default(),
            &Holdings::new(),
        )
        .unwrap()
    }

    fn node(name: &str, ips: &[&str], extra: &str) -> String {
        let addrs: Vec<String> = ips
            .iter()
            .map(|a| format!("{{type: InternalIP, address: \"{a}\"}}"))
            .collect();
        format!(
            "apiVersion: v1
kind: Node
metadata: {{name: {name}{extra}}}
status:
  addresses: [{}]
",
            addrs.join(", ")
        )
    }

    #[test]
    fn without_node_documents_the_next_hop_is_self() {
        let d = run(&[
            CONF.into(),
            default_eip("p", "203.0.113.0/28"),
            service("web", "", ""),
        ]);
        let r = &d.routes[&"203.0.113.1/32".parse().unwrap()];
        assert_eq!(r.next_hops, BTreeSet::from([NextHop::Local]));
    }

    #[test]
    fn node_documents_make_every_ready_node_a_next_hop_of_its_family() {
        let d = run(&[
            CONF.into(),
            default_eip("p", "203.0.113.0/28"),
            default_eip("p6", "2001:db8:ffff::/120"),
            service("web", "", ""),
            service("web6", "", "  ipFamilies: [IPv6]\n"),
            node("n1", &["10.200.1.2", "2001:db8:1::2"], ""),
            node("n2", &["10.200.1.3"], ""),
            node(
                "n3",
                &["10.200.1.4"],
                ", labels: {node.kubernetes.io/exclude-from-external-load-balancers: \"\"}",
            ),
        ]);
        let v4 = &d.routes[&"203.0.113.1/32".parse().unwrap()];
        let want: BTreeSet<NextHop> = ["10.200.1.2", "10.200.1.3"]
            .iter()
            .map(|a| NextHop::Addr(a.parse().unwrap()))
            .collect();
        assert_eq!(v4.next_hops, want);
        let v6 = d
            .routes
            .iter()
            .find(|(p, _)| !p.addr().is_ipv4())
            .expect("an IPv6 route")
            .1;
        assert_eq!(
            v6.next_hops,
            BTreeSet::from([NextHop::Addr("2001:db8:1::2".parse().unwrap())])
        );
    }

    #[test]
    fn a_node_that_is_not_ready_is_not_a_next_hop() {
        let not_ready = node("n2", &["10.200.1.3"], "").replace(
            "status:\n",
            "status:\n  conditions: [{type: Ready, status: \"False\"}]\n",
        );
        let d = run(&[
            CONF.into(),
            default_eip("p", "203.0.113.0/28"),
            service("web", "", ""),
            node("n1", &["10.200.1.2"], ""),
            not_ready,
        ]);
        let r = &d.routes[&"203.0.113.1/32".parse().unwrap()];
        assert_eq!(
            r.next_hops,
            BTreeSet::from([NextHop::Addr("10.200.1.2".parse().unwrap())])
        );
    }

    fn problems(docs: &[String]) -> Vec<String> {
        translate(
            &objects(docs),
            &Node::standalone("node1"),
            &Options::default(),
            &Holdings::new(),
        )
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_example_configuration_announces_its_service() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/standalone/example.yaml"
        );
        let objects = crate::standalone::load::load(std::path::Path::new(path)).unwrap();
        let d = translate(
            &objects,
            &Node::standalone("node1"),
            &Options::default(),
            &Holdings::new(),
        )
        .unwrap();
        assert_eq!(d.speaker.global.asn, 65001);
        assert_eq!(d.speaker.peers["bird"].neighbor, ip("10.200.1.1"));
        assert_eq!(d.services["default/web"].ip, Some(ip("203.0.113.1")));
        assert_eq!(
            d.routes.keys().map(ToString::to_string).collect::<Vec<_>>(),
            ["203.0.113.1/32"]
        );
    }

    #[test]
    fn bgp_conf_becomes_global_settings() {
        let conf = CONF.replace(
            "routerId: 10.200.1.2}",
            "routerId: 10.200.1.2, listenPort: 0, listenAddresses: [10.200.1.2], gracefulRestart: {enabled: true}}",
        );
        let d = run(&[
            conf,
            peer("r1", "10.200.1.1", "  timers: {config: {holdTime: 30}}\n"),
        ]);
        let g = &d.speaker.global;
        assert_eq!(g.asn, 65001);
        assert_eq!(g.router_id, Ipv4Addr::new(10, 200, 1, 2));
        assert_eq!(g.listen_port, Some(179));
        assert_eq!(g.listen_addresses, [ip("10.200.1.2")]);
        // Restart time left out: the smallest hold time of the peers (RFC 4724 §4).
        assert_eq!(
            g.graceful_restart,
            Some(GracefulRestart { restart_time: 30 })
        );
        assert!(d.bgp);
    }

    #[test]
    fn negative_listen_port_turns_the_listener_off() {
        let conf = CONF.replace(
            "routerId: 10.200.1.2}",
            "routerId: 10.200.1.2, listenPort: -1}",
        );
        assert_eq!(run(&[conf]).speaker.global.listen_port, None);
        let conf = CONF.replace(
            "routerId: 10.200.1.2}",
            "routerId: 10.200.1.2, listenPort: 1790}",
        );
        assert_eq!(run(&[conf]).speaker.global.listen_port, Some(1790));
    }

    #[test]
    fn router_id_is_required_without_node_addresses() {
        let conf = CONF.replace(", routerId: 10.200.1.2", "");
        assert_eq!(
            problems(std::slice::from_ref(&conf)),
            ["document 1 (BgpConf/default): spec.routerId: is required when the node (node1) has no IPv4 address to serve as the BGP identifier (set it, or in standalone mode pass --node-address)"]
        );
        let mut node = Node::standalone("n");
        node.addresses = vec![ip("2001:db8::1"), ip("10.200.1.9")];
        let d = translate(
            &objects(&[conf]),
            &node,
            &Options::default(),
            &Holdings::new(),
        )
        .unwrap();
        assert_eq!(d.speaker.global.router_id, Ipv4Addr::new(10, 200, 1, 9));
    }

    #[test]
    fn peer_without_families_gets_openelb_defaults() {
        let d = run(&[
            CONF.into(),
            peer("r1", "10.200.1.1", ""),
            peer("r6", "2001:db8::1", ""),
        ]);
        let r1 = &d.speaker.peers["r1"];
        assert_eq!(r1.neighbor, ip("10.200.1.1"));
        assert_eq!(r1.peer_as, 65000);
        assert_eq!(r1.remote_port, 179);
        assert_eq!(
            (r1.hold_time, r1.keepalive, r1.connect_retry),
            (90, 30, 120)
        );
        assert_eq!(
            r1.families,
            BTreeMap::from([(
                bgp_wire::Family::IPV4_UNICAST,
                AddPath {
                    receive: false,
                    send_max: 10
                }
            )])
        );
        let r6 = &d.speaker.peers["r6"];
        assert_eq!(
            r6.families.keys().copied().collect::<Vec<_>>(),
            [bgp_wire::Family::IPV6_UNICAST]
        );
    }

    #[test]
    fn peer_settings_map_field_by_field() {
        let extra = r#"  timers: {config: {holdTime: "9", keepaliveInterval: "3", connectRetry: 5}}
  transport: {passiveMode: true, remotePort: 1790, localAddress: 10.200.1.2}
  ebgpMultihop: {enabled: true}
  afiSafis:
    - config: {family: {afi: AFI_IP, safi: SAFI_UNICAST}, enabled: true}
    - config: {family: {afi: AFI_IP6, safi: SAFI_UNICAST}, enabled: true}
      addPaths: {config: {receive: true, sendMax: 4}}
"#;
        let p = peer("r1", "10.200.1.1", extra).replace(
            "peerAs: 65000}",
            "peerAs: 65000, localAs: 65100, authPassword: s3cret, description: rack 1, adminDown: true}",
        );
        let d = run(&[CONF.into(), p]);
        let r1 = &d.speaker.peers["r1"];
        assert_eq!((r1.hold_time, r1.keepalive, r1.connect_retry), (9, 3, 5));
        assert!(r1.passive);
        assert_eq!(r1.remote_port, 1790);
        assert_eq!(r1.local_address, Some(ip("10.200.1.2")));
        assert_eq!(r1.multihop_ttl, Some(255));
        assert_eq!(r1.local_as, Some(65100));
        assert_eq!(r1.password.as_deref(), Some("s3cret"));
        assert!(r1.admin_down);
        assert_eq!(r1.description, "rack 1");
        assert_eq!(
            r1.families,
            BTreeMap::from([
                (bgp_wire::Family::IPV4_UNICAST, AddPath::default()),
                (
                    bgp_wire::Family::IPV6_UNICAST,
                    AddPath {
                        receive: true,
                        send_max: 4
                    }
                ),
            ])
        );
    }

    #[test]
    fn node_selector_that_does_not_match_skips_the_peer() {
        let ours = "  nodeSelector: {matchLabels: {kubernetes.io/hostname: node1}}\n";
        let theirs = "  nodeSelector:\n    matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [node2]}]\n";
        let rack = "  nodeSelector: {matchLabels: {openelb.kubesphere.io/rack: leaf1}}\n";
        let d = run(&[
            CONF.into(),
            peer("mine", "10.200.1.1", ours),
            peer("other", "10.200.1.3", theirs),
            peer("rack", "10.200.1.4", rack),
            peer("all", "10.200.1.5", ""),
        ]);
        assert_eq!(d.speaker.peers.keys().collect::<Vec<_>>(), ["all", "mine"]);
        assert_eq!(
            d.skipped_peers.keys().collect::<Vec<_>>(),
            ["other", "rack"]
        );
        assert!(d.skipped_peers["other"].contains("node1"));
    }

    #[test]
    fn as_per_rack_follows_the_node_label() {
        let conf = CONF.replace("as: 65001,", "as: 65001, asPerRack: {leaf1: 65011},");
        let mut node = Node::standalone("node1");
        node.labels.insert(annotations::RACK.into(), "leaf1".into());
        let d = translate(
            &objects(&[conf]),
            &node,
            &Options::default(),
            &Holdings::new(),
        )
        .unwrap();
        assert_eq!(d.speaker.global.asn, 65011);
    }

    #[test]
    fn refuses_what_the_speaker_cannot_run() {
        let found = problems(&[
            CONF.into(),
            peer("a", "10.200.1.1", ""),
            peer("b", "10.200.1.1", ""),
            peer(
                "d",
                "10.200.1.4",
                "  afiSafis: [{config: {family: {afi: AFI_IP, safi: SAFI_UNICAST}}}]\n",
            ),
            peer(
                "e",
                "10.200.1.5",
                "  transport: {remoteAddress: 10.200.1.6}\n",
            ),
        ]);
        assert_eq!(
            found,
            [
                "document 3 (BgpPeer/b): spec.conf.neighborAddress: 10.200.1.1 is also the neighbor of BgpPeer a; a node has one session per neighbor",
                "document 4 (BgpPeer/d): spec.afiSafis: no address family is enabled (set config.enabled: true on at least one)",
                "document 5 (BgpPeer/e): spec.transport.remoteAddress: `10.200.1.6` differs from spec.conf.neighborAddress (10.200.1.5); porter connects to the neighbor address",
            ]
        );
    }

    #[test]
    fn refuses_overlapping_pools() {
        let found = problems(&[
            eip("a", "203.0.113.0/28", ""),
            eip("b", "203.0.113.8-203.0.113.20", ""),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("document 2 (Eip/b): "), "{found:?}");
        assert!(found[0].contains("overlaps pool \"a\""), "{found:?}");
    }

    #[test]
    fn no_bgp_conf_means_no_peers_and_no_listener() {
        let d = run(&[
            peer("r1", "10.200.1.1", ""),
            default_eip("p", "203.0.113.0/28"),
            service("web", "", ""),
        ]);
        assert!(!d.bgp);
        assert!(d.speaker.peers.is_empty());
        assert!(d.skipped_peers["r1"].contains("no BgpConf"));
        assert_eq!(d.speaker.global.listen_port, None);
        // Addresses are still allocated; the pool is not ready: nothing announces it.
        assert_eq!(d.services["default/web"].ip, Some(ip("203.0.113.1")));
        assert!(!d.eips["p"].ready);
    }

    #[test]
    fn routes_only_for_bgp_pools() {
        let d = run(&[
            CONF.into(),
            eip("a-bgp", "203.0.113.0/28", "  namespaces: [shop]\n"),
            eip(
                "l2",
                "198.51.100.0/28",
                "  protocol: layer2\n  interface: eth0\n",
            ),
            service("web", ", eip.openelb.kubesphere.io/v1alpha2: l2", ""),
            service("shop", "", "").replace("  name: shop\n", "  name: shop\n  namespace: shop\n"),
        ]);
        assert_eq!(d.services["default/web"].ip, Some(ip("198.51.100.1")));
        assert_eq!(d.services["default/web"].protocols, ["layer2"]);
        assert_eq!(d.services["shop/shop"].ip, Some(ip("203.0.113.1")));
        let prefixes: Vec<String> = d.routes.keys().map(ToString::to_string).collect();
        assert_eq!(prefixes, ["203.0.113.1/32"]);
        let route = &d.routes[&Prefix::host(ip("203.0.113.1"))];
        assert_eq!(route.next_hops, BTreeSet::from([NextHop::Local]));
        assert!(d.eips["a-bgp"].ready);
        assert!(!d.eips["l2"].ready);
        assert_eq!(d.eips["a-bgp"].usage, 1);
        assert_eq!(d.eips["a-bgp"].used["203.0.113.1"], "shop/shop");
        assert_eq!(d.eips["a-bgp"].pool_size, 14);
    }

    #[test]
    fn ipv6_and_dual_stack_services_get_host_routes_of_their_family() {
        let d = run(&[
            CONF.into(),
            eip("v4", "203.0.113.0/28", ""),
            eip("v6", "2001:db8::/124", ""),
            service(
                "dual",
                ", eip.openelb.kubesphere.io/v1alpha2: \"v4,v6\"",
                "  ipFamilyPolicy: RequireDualStack\n",
            ),
        ]);
        assert_eq!(
            d.services["default/dual"].ips,
            [ip("203.0.113.1"), ip("2001:db8::")]
        );
        let prefixes: Vec<String> = d.routes.keys().map(ToString::to_string).collect();
        assert_eq!(prefixes, ["203.0.113.1/32", "2001:db8::/128"]);
    }

    #[test]
    fn prefer_dual_stack_falls_back_to_one_family() {
        let d = run(&[
            default_eip("v4", "203.0.113.0/28"),
            service("web", "", "  ipFamilyPolicy: PreferDualStack\n"),
        ]);
        let web = &d.services["default/web"];
        assert_eq!(web.ips, [ip("203.0.113.1")]);
        assert_eq!(web.warnings.len(), 1, "{web:?}");
        assert!(web.warnings[0]
            .starts_with("PreferDualStack: served IPv4 only, dual stack could not be"));
    }

    #[test]
    fn unmanaged_services_are_ignored_with_a_reason() {
        let plain = service("plain", "", "").replace("lb.kubesphere.io/v1alpha1: porter", "x: y");
        let cluster_ip = service("cip", "", "").replace("type: LoadBalancer", "type: ClusterIP");
        let classed = service("classed", "", "  loadBalancerClass: example.com/other\n");
        let ours = service(
            "ours",
            "",
            "  loadBalancerClass: network.kubesphere.io/porter\n",
        )
        .replace("lb.kubesphere.io/v1alpha1: porter", "x: y");
        let d = run(&[
            default_eip("p", "203.0.113.0/28"),
            plain,
            cluster_ip,
            classed,
            ours,
        ]);
        assert!(d.services["default/plain"]
            .ignored
            .as_deref()
            .unwrap()
            .contains("annotation"));
        assert!(d.services["default/cip"]
            .ignored
            .as_deref()
            .unwrap()
            .contains("ClusterIP"));
        assert!(d.services["default/classed"]
            .ignored
            .as_deref()
            .unwrap()
            .contains("example.com/other"));
        assert_eq!(d.services["default/ours"].ip, Some(ip("203.0.113.1")));
        assert_eq!(d.holdings.len(), 1);
    }

    #[test]
    fn allocation_errors_stay_with_their_service() {
        let d = run(&[
            CONF.into(),
            default_eip("tiny", "203.0.113.5"),
            service("a", "", ""),
            service("b", "", ""),
            service(
                "c",
                ", eip.openelb.kubesphere.io/v1alpha1: 198.51.100.1",
                "",
            ),
            service("d", ", eip.openelb.kubesphere.io/v1alpha1: not-an-ip", ""),
        ]);
        assert_eq!(d.services["default/a"].ip, Some(ip("203.0.113.5")));
        let b = d.services["default/b"].error.as_deref().unwrap();
        assert!(b.contains("no free IPv4 address"), "{b}");
        let c = d.services["default/c"].error.as_deref().unwrap();
        assert!(c.contains("198.51.100.1 is not in any pool"), "{c}");
        assert!(d.services["default/d"].error.is_some());
        assert_eq!(d.routes.len(), 1);
        assert!(d.eips["tiny"].occupied);
    }

    #[test]
    fn addresses_from_status_survive_a_restart() {
        let pool = default_eip("p", "203.0.113.0/28");
        let held = service(
            "z-web",
            "",
            "status: {loadBalancer: {ingress: [{ip: 203.0.113.9}]}}\n",
        );
        // `a-new` sorts first and has no status: it must not take .9 from z-web.
        let d = run(&[pool.clone(), service("a-new", "", ""), held.clone()]);
        assert_eq!(d.services["default/z-web"].ip, Some(ip("203.0.113.9")));
        assert_eq!(d.services["default/a-new"].ip, Some(ip("203.0.113.1")));

        // A status address outside every pool: allocated anew, with a warning.
        let stale = held.replace("203.0.113.9", "198.51.100.9");
        let d = run(&[pool, stale]);
        let web = &d.services["default/z-web"];
        assert_eq!(web.ip, Some(ip("203.0.113.1")));
        assert!(web.warnings[0].contains("status.loadBalancer"), "{web:?}");
    }

    #[test]
    fn addresses_stay_put_across_reloads() {
        let pool = default_eip("p", "203.0.113.0/28");
        let node = Node::standalone("node1");
        let opts = Options::default();
        let first = translate(
            &objects(&[pool.clone(), service("b", "", ""), service("c", "", "")]),
            &node,
            &opts,
            &Holdings::new(),
        )
        .unwrap();
        assert_eq!(first.services["default/c"].ip, Some(ip("203.0.113.2")));
        // `a` sorts before the others: a fresh allocation would renumber them.
        let second = translate(
            &objects(&[pool.clone(), service("a", "", ""), service("c", "", "")]),
            &node,
            &opts,
            &first.holdings,
        )
        .unwrap();
        assert_eq!(second.services["default/c"].ip, Some(ip("203.0.113.2")));
        // b was removed: its .1 is free again and the newcomer takes it.
        assert_eq!(second.services["default/a"].ip, Some(ip("203.0.113.1")));
        assert!(!second
            .holdings
            .contains_key(&ServiceKey::new("default", "b")));
    }

    #[test]
    fn a_pool_change_moves_only_the_services_it_affects() {
        let node = Node::standalone("node1");
        let opts = Options::default();
        let docs = |second_pool: &str| {
            objects(&[
                eip("a", "203.0.113.0/28", ""),
                eip("b", second_pool, ""),
                service("x", ", eip.openelb.kubesphere.io/v1alpha2: a", ""),
                service("y", ", eip.openelb.kubesphere.io/v1alpha2: b", ""),
            ])
        };
        let first = translate(&docs("198.51.100.0/28"), &node, &opts, &Holdings::new()).unwrap();
        let second = translate(&docs("198.51.100.64/28"), &node, &opts, &first.holdings).unwrap();
        assert_eq!(
            second.services["default/x"].ip,
            first.services["default/x"].ip
        );
        assert!(second.services["default/x"].warnings.is_empty());
        let y = &second.services["default/y"];
        assert_eq!(y.ip, Some(ip("198.51.100.65")));
        assert_eq!(
            y.warnings,
            ["previous address not kept: default/y holds 198.51.100.1, which is in no pool"]
        );
    }

    /// Not a test but a measurement (it asserts no time): a file with N Services that name a
    /// pool and no address, allocated at start and again on a reload. Run it on a release
    /// build, e.g. `PORTER_MEASURE_N=2500,10000,40000,100000 cargo test --release -p porter
    /// --lib -- --ignored --nocapture measure_automatic_allocation`.
    #[test]
    #[ignore]
    fn measure_automatic_allocation() {
        let sizes = std::env::var("PORTER_MEASURE_N").unwrap_or_else(|_| "2500,10000".into());
        for n in sizes.split(',').map(|n| n.trim().parse::<usize>().unwrap()) {
            let mut docs = vec![CONF.to_owned(), eip("pool", "10.0.0.0/8", "")];
            docs.extend((0..n).map(|i| {
                service(
                    &format!("svc-{i:06}"),
                    &format!(", {}: pool", crate::ipam::POOL_ANNOTATION),
                    "",
                )
            }));
            let yaml = docs.join("---\n");
            let (node, opts) = (Node::standalone("node1"), Options::default());
            let start = std::time::Instant::now();
            let objects = parse(yaml.as_bytes()).unwrap();
            let parsed = start.elapsed();
            let first = translate(&objects, &node, &opts, &Holdings::new()).unwrap();
            let started = start.elapsed();
            let reload = std::time::Instant::now();
            let second = translate(&objects, &node, &opts, &first.holdings).unwrap();
            let reloaded = reload.elapsed();
            assert_eq!(first.holdings, second.holdings);
            assert_eq!(first.holdings.len(), n);
            println!(
                "N={n:>7}: parse {:>8.1} ms, parse + allocate {:>8.1} ms, reload (allocate) {:>8.1} ms",
                parsed.as_secs_f64() * 1e3,
                started.as_secs_f64() * 1e3,
                reloaded.as_secs_f64() * 1e3
            );
        }
    }
}
