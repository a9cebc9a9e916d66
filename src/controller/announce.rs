//! Desired announcements: which VIP is announced with which next hops, computed from
//! Services, EndpointSlices and Nodes. Pure: plain data in, plain data out.
//!
//! Level-triggered: every replica recomputes the whole answer from what it observes, never
//! from the event that woke it, so a missed or reordered event cannot leave a stale next hop
//! (OpenELB #458).
//!
//! Rules, per announced Service (managed by porter, not being deleted, holding addresses of
//! a BGP pool):
//! * `externalTrafficPolicy: Local`: the nodes that run a ready endpoint of the Service;
//! * `Cluster` (or unset): every node;
//! * either way only nodes that are Ready and not labelled
//!   `node.kubernetes.io/exclude-from-external-load-balancers` (the label Kubernetes' own
//!   service controller honours);
//! * the next hop is the node's `InternalIP` of the VIP's family; a node without one is
//!   skipped for that VIP;
//! * rack mode, as OpenELB defines it: when this node carries `openelb.kubesphere.io/rack`
//!   and BgpConf has `asPerRack`, only nodes of the same rack are next hops (the rack's leaf
//!   router can reach only those).
//!
//! Every replica announces every eligible next hop (ADD-PATH when negotiated); a VIP with no
//! eligible node is withdrawn.
//!
//! The eligibility part ([`eligible_nodes`]) is shared with layer 2, which elects one owner among
//! the same nodes ([`super::layer2`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use bgp_wire::nlri::Prefix;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;

use crate::ipam::ServiceKey;
use crate::speaker::{DesiredRoutes, NextHop, RouteSpec};

/// Node label that keeps a node out of external load balancers (Kubernetes well-known label).
pub const EXCLUDE_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
/// EndpointSlice label naming the Service it belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// What the announcement rules need to know about a Node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// The `Ready` condition is `True`.
    pub ready: bool,
    /// Carries [`EXCLUDE_LB_LABEL`].
    pub excluded: bool,
    /// Value of the `openelb.kubesphere.io/rack` label.
    pub rack: Option<String>,
    /// `InternalIP` addresses, in the order the Node lists them.
    pub internal_ips: Vec<IpAddr>,
}

impl NodeInfo {
    /// Reads a Node object.
    pub fn from_node(node: &Node) -> NodeInfo {
        let status = node.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        let internal_ips = status
            .and_then(|s| s.addresses.as_ref())
            .map(|addrs| {
                addrs
                    .iter()
                    .filter(|a| a.type_ == "InternalIP")
                    .filter_map(|a| a.address.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        NodeInfo {
            name: node.name_any(),
            ready,
            excluded: node.labels().contains_key(EXCLUDE_LB_LABEL),
            rack: node
                .labels()
                .get(porter_crds::annotations::RACK)
                .filter(|r| !r.is_empty())
                .cloned(),
            internal_ips,
        }
    }

    /// The first `InternalIP` of `ip`'s family.
    pub fn address_for(&self, ip: IpAddr) -> Option<IpAddr> {
        self.internal_ips
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == ip.is_ipv4())
    }
}

/// `spec.externalTrafficPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TrafficPolicy {
    /// Any node may receive the traffic (kube-proxy forwards it on).
    #[default]
    Cluster,
    /// Only nodes with a ready local endpoint.
    Local,
}

/// What the announcement rules need to know about a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Which Service.
    pub key: ServiceKey,
    /// Addresses to announce (its ingress addresses that belong to a BGP pool).
    pub ips: Vec<IpAddr>,
    /// Its traffic policy.
    pub policy: TrafficPolicy,
    /// Nodes running a ready endpoint (from its EndpointSlices).
    pub endpoint_nodes: BTreeSet<String>,
}

impl ServiceInfo {
    /// Reads a Service: its key, the ingress IPs for which `announce` is true, and its policy.
    /// `endpoint_nodes` is left empty; see [`ready_endpoint_nodes`].
    pub fn from_service(svc: &Service, announce: impl Fn(IpAddr) -> bool) -> ServiceInfo {
        let ips = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|ing| {
                ing.iter()
                    .filter_map(|i| i.ip.as_deref()?.parse().ok())
                    .filter(|ip| announce(*ip))
                    .collect()
            })
            .unwrap_or_default();
        let policy = match svc
            .spec
            .as_ref()
            .and_then(|s| s.external_traffic_policy.as_deref())
        {
            Some("Local") => TrafficPolicy::Local,
            _ => TrafficPolicy::Cluster,
        };
        ServiceInfo {
            key: ServiceKey::new(svc.namespace().unwrap_or_default(), svc.name_any()),
            ips,
            policy,
            endpoint_nodes: BTreeSet::new(),
        }
    }
}

/// Nodes with a ready endpoint, per Service, from EndpointSlices (`discovery.k8s.io/v1`).
/// An endpoint whose `ready` condition is unset counts as ready, as the API documents.
pub fn ready_endpoint_nodes<'a>(
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
) -> BTreeMap<ServiceKey, BTreeSet<String>> {
    let mut out: BTreeMap<ServiceKey, BTreeSet<String>> = BTreeMap::new();
    for slice in slices {
        let Some(service) = slice.labels().get(SERVICE_NAME_LABEL) else {
            continue;
        };
        let key = ServiceKey::new(slice.namespace().unwrap_or_default(), service.clone());
        let nodes = out.entry(key).or_default();
        for ep in &slice.endpoints {
            let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if let (true, Some(node)) = (ready, &ep.node_name) {
                nodes.insert(node.clone());
            }
        }
    }
    out
}

/// Why a Service's address is not announced (or announced with fewer next hops).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotAnnounced {
    /// `Local` policy and no node runs a ready endpoint.
    NoReadyEndpoint,
    /// Candidate nodes exist, but none is Ready and included.
    NoEligibleNode,
    /// Eligible nodes exist but none in this node's rack.
    NoNodeInRack(String),
    /// Eligible nodes exist but none has an `InternalIP` of the address's family.
    NoAddressOfFamily,
}

impl std::fmt::Display for NotAnnounced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotAnnounced::NoReadyEndpoint => {
                f.write_str("externalTrafficPolicy Local and no ready endpoint on any node")
            }
            NotAnnounced::NoEligibleNode => f.write_str(
                "no node is Ready and free of the exclude-from-external-load-balancers label",
            ),
            NotAnnounced::NoNodeInRack(rack) => {
                write!(f, "no eligible node in rack {rack:?}")
            }
            NotAnnounced::NoAddressOfFamily => {
                f.write_str("no eligible node has an InternalIP of the address's family")
            }
        }
    }
}

/// One address of a Service, as this replica announces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressAdvert {
    /// The VIP.
    pub ip: IpAddr,
    /// Node name → next hop; empty when withdrawn.
    pub next_hops: BTreeMap<String, IpAddr>,
    /// Why it is withdrawn, when `next_hops` is empty.
    pub withdrawn: Option<NotAnnounced>,
}

/// The desired state of this replica's speaker plus the per-Service view of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Announcements {
    /// Routes for [`crate::speaker::Speaker::set_routes`].
    pub routes: DesiredRoutes,
    /// Per Service, each of its addresses.
    pub services: BTreeMap<ServiceKey, Vec<AddressAdvert>>,
}

/// The nodes that may serve `svc`, whatever the protocol: with `Local` policy those running
/// a ready endpoint of it, with `Cluster` every node; either way only Ready nodes without
/// [`EXCLUDE_LB_LABEL`]. Or why there is none.
pub fn eligible_nodes<'a>(
    svc: &ServiceInfo,
    nodes: &'a [NodeInfo],
) -> Result<Vec<&'a NodeInfo>, NotAnnounced> {
    let candidates: Vec<&NodeInfo> = nodes
        .iter()
        .filter(|n| match svc.policy {
            TrafficPolicy::Cluster => true,
            TrafficPolicy::Local => svc.endpoint_nodes.contains(&n.name),
        })
        .collect();
    if candidates.is_empty() && svc.policy == TrafficPolicy::Local {
        return Err(NotAnnounced::NoReadyEndpoint);
    }
    let eligible: Vec<&NodeInfo> = candidates
        .into_iter()
        .filter(|n| n.ready && !n.excluded)
        .collect();
    if eligible.is_empty() {
        return Err(NotAnnounced::NoEligibleNode);
    }
    Ok(eligible)
}

/// Computes the announcements. `local_rack` is this node's rack in rack mode (see the module
/// documentation), `None` otherwise.
pub fn desired_announcements(
    services: &[ServiceInfo],
    nodes: &[NodeInfo],
    local_rack: Option<&str>,
) -> Announcements {
    let mut out = Announcements::default();
    for svc in services {
        if svc.ips.is_empty() {
            continue;
        }
        let eligible = eligible_nodes(svc, nodes);
        let in_rack: Vec<&NodeInfo> = eligible
            .iter()
            .flatten()
            .copied()
            .filter(|n| local_rack.is_none_or(|r| n.rack.as_deref() == Some(r)))
            .collect();
        let mut adverts = Vec::new();
        for &ip in &svc.ips {
            let next_hops: BTreeMap<String, IpAddr> = in_rack
                .iter()
                .filter_map(|n| Some((n.name.clone(), n.address_for(ip)?)))
                .collect();
            let withdrawn = match &eligible {
                _ if !next_hops.is_empty() => None,
                Err(why) => Some(why.clone()),
                Ok(_) if in_rack.is_empty() => Some(NotAnnounced::NoNodeInRack(
                    local_rack.unwrap_or_default().to_string(),
                )),
                Ok(_) => Some(NotAnnounced::NoAddressOfFamily),
            };
            if !next_hops.is_empty() {
                // Two Services sharing one address: the union of their next hops.
                let spec = out
                    .routes
                    .entry(Prefix::host(ip))
                    .or_insert_with(RouteSpec::default);
                spec.next_hops
                    .extend(next_hops.values().map(|a| NextHop::Addr(*a)));
            }
            adverts.push(AddressAdvert {
                ip,
                next_hops,
                withdrawn,
            });
        }
        out.services.insert(svc.key.clone(), adverts);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn node(name: &str, ready: bool, ips: &[&str]) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            ready,
            excluded: false,
            rack: None,
            internal_ips: ips.iter().map(|s| ip(s)).collect(),
        }
    }

    /// A Service in namespace `default` (also for the layer-2 tests).
    pub(crate) fn svc(
        name: &str,
        ips: &[&str],
        policy: TrafficPolicy,
        eps: &[&str],
    ) -> ServiceInfo {
        ServiceInfo {
            key: ServiceKey::new("default", name),
            ips: ips.iter().map(|s| ip(s)).collect(),
            policy,
            endpoint_nodes: eps.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn hops(a: &Announcements, vip: &str) -> Vec<IpAddr> {
        a.routes
            .get(&Prefix::host(ip(vip)))
            .map(|r| {
                r.next_hops
                    .iter()
                    .map(|h| match h {
                        NextHop::Addr(a) => *a,
                        NextHop::Local => panic!("no Local next hop expected"),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn cluster() -> Vec<NodeInfo> {
        vec![
            node("n1", true, &["10.200.40.1", "fd10::1"]),
            node("n2", true, &["10.200.40.2"]),
            node("n3", false, &["10.200.40.3"]),
        ]
    }

    /// (case, service, expected next hops of 203.0.113.10)
    #[test]
    fn next_hops_follow_policy_readiness_and_endpoints() {
        let cases: Vec<(&str, ServiceInfo, Vec<&str>)> = vec![
            (
                "cluster: every Ready node",
                svc("a", &["203.0.113.10"], TrafficPolicy::Cluster, &[]),
                vec!["10.200.40.1", "10.200.40.2"],
            ),
            (
                "local: only nodes with a ready endpoint",
                svc("a", &["203.0.113.10"], TrafficPolicy::Local, &["n2"]),
                vec!["10.200.40.2"],
            ),
            (
                "local: endpoint on a NotReady node does not count",
                svc("a", &["203.0.113.10"], TrafficPolicy::Local, &["n2", "n3"]),
                vec!["10.200.40.2"],
            ),
            (
                "local: no endpoint, withdrawn",
                svc("a", &["203.0.113.10"], TrafficPolicy::Local, &[]),
                vec![],
            ),
            (
                "local: endpoint only on a NotReady node, withdrawn",
                svc("a", &["203.0.113.10"], TrafficPolicy::Local, &["n3"]),
                vec![],
            ),
        ];
        for (case, s, want) in cases {
            let a = desired_announcements(&[s], &cluster(), None);
            let want: Vec<IpAddr> = want.iter().map(|s| ip(s)).collect();
            assert_eq!(hops(&a, "203.0.113.10"), want, "{case}");
            if want.is_empty() {
                assert!(a.routes.is_empty(), "{case}: withdrawn means absent");
            }
        }
    }

    #[test]
    fn withdrawal_reasons_are_named() {
        let a = desired_announcements(
            &[svc("a", &["203.0.113.10"], TrafficPolicy::Local, &[])],
            &cluster(),
            None,
        );
        assert_eq!(
            a.services[&ServiceKey::new("default", "a")][0].withdrawn,
            Some(NotAnnounced::NoReadyEndpoint)
        );
        let a = desired_announcements(
            &[svc("a", &["203.0.113.10"], TrafficPolicy::Local, &["n3"])],
            &cluster(),
            None,
        );
        assert_eq!(
            a.services[&ServiceKey::new("default", "a")][0].withdrawn,
            Some(NotAnnounced::NoEligibleNode)
        );
        let a = desired_announcements(
            &[svc("a", &["2001:db8::10"], TrafficPolicy::Local, &["n2"])],
            &cluster(),
            None,
        );
        assert_eq!(
            a.services[&ServiceKey::new("default", "a")][0].withdrawn,
            Some(NotAnnounced::NoAddressOfFamily)
        );
    }

    #[test]
    fn excluded_nodes_are_never_next_hops() {
        let mut nodes = cluster();
        nodes[0].excluded = true;
        let a = desired_announcements(
            &[svc("a", &["203.0.113.10"], TrafficPolicy::Cluster, &[])],
            &nodes,
            None,
        );
        assert_eq!(hops(&a, "203.0.113.10"), [ip("10.200.40.2")]);
    }

    #[test]
    fn next_hop_is_the_internal_ip_of_the_vip_family() {
        let a = desired_announcements(
            &[svc(
                "ds",
                &["203.0.113.10", "2001:db8::10"],
                TrafficPolicy::Cluster,
                &[],
            )],
            &cluster(),
            None,
        );
        assert_eq!(
            hops(&a, "203.0.113.10"),
            [ip("10.200.40.1"), ip("10.200.40.2")]
        );
        // n2 has no IPv6 InternalIP: only n1 serves the IPv6 VIP.
        assert_eq!(hops(&a, "2001:db8::10"), [ip("fd10::1")]);
    }

    #[test]
    fn rack_mode_keeps_only_nodes_of_this_rack() {
        let mut nodes = cluster();
        nodes[0].rack = Some("leaf1".into());
        nodes[1].rack = Some("leaf2".into());
        let s = svc("a", &["203.0.113.10"], TrafficPolicy::Cluster, &[]);
        let a = desired_announcements(std::slice::from_ref(&s), &nodes, Some("leaf2"));
        assert_eq!(hops(&a, "203.0.113.10"), [ip("10.200.40.2")]);
        let a = desired_announcements(std::slice::from_ref(&s), &nodes, Some("leaf9"));
        assert!(a.routes.is_empty());
        assert_eq!(
            a.services[&s.key][0].withdrawn,
            Some(NotAnnounced::NoNodeInRack("leaf9".into()))
        );
        // Not in rack mode: every rack.
        let a = desired_announcements(&[s], &nodes, None);
        assert_eq!(hops(&a, "203.0.113.10").len(), 2);
    }

    #[test]
    fn shared_address_announces_the_union_of_next_hops() {
        let a = desired_announcements(
            &[
                svc("a", &["203.0.113.10"], TrafficPolicy::Local, &["n1"]),
                svc("b", &["203.0.113.10"], TrafficPolicy::Local, &["n2"]),
            ],
            &cluster(),
            None,
        );
        assert_eq!(
            hops(&a, "203.0.113.10"),
            [ip("10.200.40.1"), ip("10.200.40.2")]
        );
        assert_eq!(a.services.len(), 2);
    }

    #[test]
    fn reads_nodes_services_and_endpoint_slices() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "labels": {
                "openelb.kubesphere.io/rack": "leaf1",
                EXCLUDE_LB_LABEL: ""}},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [
                    {"type": "Hostname", "address": "n1"},
                    {"type": "ExternalIP", "address": "198.51.100.7"},
                    {"type": "InternalIP", "address": "10.200.40.1"}]}
        }))
        .unwrap();
        let n = NodeInfo::from_node(&node);
        assert!(n.ready && n.excluded);
        assert_eq!(n.rack.as_deref(), Some("leaf1"));
        assert_eq!(n.internal_ips, [ip("10.200.40.1")]);

        let service: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
            "status": {"loadBalancer": {"ingress": [
                {"ip": "203.0.113.10"}, {"ip": "198.51.100.9"}, {"hostname": "x"}]}}
        }))
        .unwrap();
        let s = ServiceInfo::from_service(&service, |ip| ip.to_string().starts_with("203."));
        assert_eq!(s.key, ServiceKey::new("shop", "web"));
        assert_eq!(s.ips, [ip("203.0.113.10")]);
        assert_eq!(s.policy, TrafficPolicy::Local);

        let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-abc", "namespace": "shop",
                         "labels": {SERVICE_NAME_LABEL: "web"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.1.0.1"], "nodeName": "n1", "conditions": {"ready": true}},
                {"addresses": ["10.1.0.2"], "nodeName": "n2", "conditions": {"ready": false}},
                {"addresses": ["10.1.0.3"], "nodeName": "n3"},
                {"addresses": ["10.1.0.4"]}]
        }))
        .unwrap();
        let eps = ready_endpoint_nodes([&slice]);
        assert_eq!(
            eps[&ServiceKey::new("shop", "web")],
            ["n1".to_string(), "n3".to_string()].into()
        );
    }
}
