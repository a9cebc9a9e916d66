//! Layer-2 Eips in Kubernetes mode: every replica elects, per address, the one node that
//! answers ARP/NDP for it.
//!
//! Level-triggered like the rest of [`super::node`]: from the stores alone,
//! [`desired_layer2`] computes every layer-2 address some Service holds, the Eip's
//! `spec.interface` it is answered on, and whether this node may own it (the same rules as
//! BGP next hops, [`super::announce::eligible_nodes`]: `externalTrafficPolicy: Local` → this
//! node runs a ready endpoint; either way this node is Ready and not excluded).
//! [`Layer2Runtime`] then keeps one [`Election`] per address (a Lease named by
//! [`lease_name`] in porter's namespace, through [`KubeLeaseStore`]) and one responder per
//! interface ([`Responders`], the same manager standalone mode uses). A node whose
//! interface cannot answer (`lo`, missing, no privileges) takes part in no election as a
//! candidate: it stays a follower, so it never holds an address it cannot answer for.
//!
//! ## Where the owner shows
//! Each node writes, in its own advertisement condition on the Service
//! (`advertised.porter.network.kubesphere.io/<node>`, server-side applied with field
//! manager `porter/<node>`), what it does for each layer-2 address: "answering ARP on eth0",
//! "standby, owner is node-b", "not eligible (…)" or why its interface cannot answer. Not
//! in the Eip status: that is written by the leader alone, which would have to watch every
//! Lease to learn owners, and one Eip serves many Services whose users look at their
//! Service, not at the pool. The condition comes from the node that knows, with no write
//! conflicts between nodes, and says why a node is *not* answering, which an owner field
//! could not. The Lease itself (`kubectl get lease -l porter.network.kubesphere.io/layer2`)
//! and the `porter_layer2_owner` metric name the owner too.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use kube::{Client, ResourceExt};
use porter_crds::eip::Protocol;
use tokio::sync::watch;
use tracing::warn;

use super::announce::{eligible_nodes, NodeInfo, NotAnnounced, ServiceInfo, TrafficPolicy};
use super::node::{node_infos, service_infos};
use super::{Options, Stores};
use crate::ipam::ServiceKey;
use crate::layer2::lease::KubeLeaseStore;
use crate::layer2::ownership::{lease_name, Election, ElectionConfig};
use crate::layer2::responders::Responders;
use crate::layer2::ResponderConfig;
use crate::telemetry::{Layer2Labels, Metrics};

/// Why this node may not own a layer-2 address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ineligible {
    /// No node at all may serve the Services holding it.
    Service(NotAnnounced),
    /// `externalTrafficPolicy: Local` and no ready endpoint on this node.
    NoLocalEndpoint,
    /// This node is not Ready or carries the exclude-from-external-load-balancers label.
    NodeNotEligible,
}

impl fmt::Display for Ineligible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ineligible::Service(why) => why.fmt(f),
            Ineligible::NoLocalEndpoint => {
                f.write_str("externalTrafficPolicy Local and no ready endpoint on this node")
            }
            Ineligible::NodeNotEligible => {
                f.write_str("this node is not Ready or is excluded from external load balancers")
            }
        }
    }
}

/// A layer-2 address some Service holds, as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer2Address {
    /// The Eip's `spec.interface`: a name or `can_reach:<IP>`.
    pub interface: String,
    /// The Services holding it.
    pub services: BTreeSet<ServiceKey>,
    /// Whether this node may own it, or why not. With several Services on one address,
    /// eligible for any of them is enough (as with BGP next hops).
    pub eligible: Result<(), Ineligible>,
}

/// A layer-2 pool: its range and `spec.interface`.
#[derive(Clone, Debug)]
pub struct Layer2Pool {
    /// The Eip's addresses.
    pub range: porter_crds::eip::AddressRange,
    /// The Eip's `spec.interface`.
    pub interface: String,
}

/// Every layer-2 address held by `services` (whose `ips` are already those of layer-2
/// pools), with the pool's interface and whether node `me` may own it. Pure.
pub fn desired_layer2(
    me: &str,
    pools: &[Layer2Pool],
    services: &[ServiceInfo],
    nodes: &[NodeInfo],
) -> BTreeMap<IpAddr, Layer2Address> {
    let mut out: BTreeMap<IpAddr, Layer2Address> = BTreeMap::new();
    for svc in services {
        let eligible = match eligible_nodes(svc, nodes) {
            Err(why) => Err(Ineligible::Service(why)),
            Ok(nodes) if nodes.iter().any(|n| n.name == me) => Ok(()),
            Ok(_) if svc.policy == TrafficPolicy::Local && !svc.endpoint_nodes.contains(me) => {
                Err(Ineligible::NoLocalEndpoint)
            }
            Ok(_) => Err(Ineligible::NodeNotEligible),
        };
        for &ip in &svc.ips {
            let Some(pool) = pools.iter().find(|p| p.range.contains(ip)) else {
                continue;
            };
            let a = out.entry(ip).or_insert_with(|| Layer2Address {
                interface: pool.interface.clone(),
                services: BTreeSet::new(),
                eligible: eligible.clone(),
            });
            a.services.insert(svc.key.clone());
            if a.eligible.is_err() && eligible.is_ok() {
                a.eligible = Ok(());
            }
        }
    }
    out
}

/// [`desired_layer2`] from the stores: managed, live Services holding addresses of Eips with
/// `protocol: layer2`.
pub fn compute_layer2(stores: &Stores, opts: &Options) -> BTreeMap<IpAddr, Layer2Address> {
    let pools: Vec<Layer2Pool> = stores
        .eips
        .state()
        .iter()
        .filter(|e| e.spec.protocol == Protocol::Layer2)
        .filter_map(|e| {
            let range = e.spec.range().ok()?;
            let interface = e.spec.interface.clone().filter(|i| !i.is_empty());
            if interface.is_none() {
                warn!(eip = %e.name_any(), "layer2 Eip without spec.interface: not answered");
            }
            Some(Layer2Pool {
                range,
                interface: interface?,
            })
        })
        .collect();
    let services = service_infos(stores, opts, |ip| {
        pools.iter().any(|p| p.range.contains(ip))
    });
    desired_layer2(&opts.node_name, &pools, &services, &node_infos(stores))
}

/// What this node does for one layer-2 address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer2Role {
    /// It owns the address and answers for it on this interface.
    Answering {
        /// The interface `spec.interface` resolved to.
        interface: String,
    },
    /// Another node owns it.
    Standby {
        /// The owner.
        owner: String,
    },
    /// Eligible, but no node holds the lease right now (an election is under way).
    NoOwner,
    /// This node may not own it.
    Ineligible {
        /// Why.
        why: Ineligible,
        /// The owner, when known.
        owner: Option<String>,
    },
    /// This node's `spec.interface` cannot answer.
    InterfaceError {
        /// The Eip's `spec.interface`.
        spec: String,
        /// Why.
        error: String,
    },
}

impl Layer2Role {
    /// The condition reason when this role keeps the condition False.
    pub fn reason(&self) -> &'static str {
        match self {
            Layer2Role::Answering { .. } => "Answering",
            Layer2Role::Standby { .. } => "Standby",
            Layer2Role::NoOwner => "NoOwner",
            Layer2Role::Ineligible { .. } => "NotEligible",
            Layer2Role::InterfaceError { .. } => "InterfaceError",
        }
    }
}

/// Says what the role means for address `ip`: "answering ARP on eth0", …
pub fn describe(ip: IpAddr, role: &Layer2Role) -> String {
    let protocol = if ip.is_ipv4() { "ARP" } else { "NDP" };
    match role {
        Layer2Role::Answering { interface } => {
            format!("{ip}: answering {protocol} on {interface}")
        }
        Layer2Role::Standby { owner } => format!("{ip}: standby, owner is {owner}"),
        Layer2Role::NoOwner => format!("{ip}: standby, no node owns it yet"),
        Layer2Role::Ineligible { why, owner } => {
            let owner = owner
                .as_deref()
                .map_or_else(|| "no owner".to_owned(), |o| format!("owner is {o}"));
            format!("{ip}: not eligible ({why}), {owner}")
        }
        Layer2Role::InterfaceError { spec, error } => {
            format!("{ip}: cannot answer {protocol} on interface {spec:?}: {error}")
        }
    }
}

/// What the status writer reads about one address.
#[derive(Clone, Debug)]
struct AddressView {
    address: Layer2Address,
    /// The interface it answers on, or why it cannot.
    interface: Result<String, String>,
    /// The interface's owned set, live.
    owned: watch::Receiver<BTreeSet<IpAddr>>,
}

/// A handle the status writers read: per address, this node's [`Layer2Role`].
#[derive(Clone)]
pub struct Layer2Status {
    me: String,
    metrics: Arc<Metrics>,
    view: Arc<Mutex<BTreeMap<IpAddr, AddressView>>>,
}

impl Layer2Status {
    /// Nothing known yet.
    pub fn new(me: &str, metrics: Arc<Metrics>) -> Self {
        Layer2Status {
            me: me.to_owned(),
            metrics,
            view: Arc::default(),
        }
    }

    /// This node's role for every layer-2 address, per Service holding it.
    pub fn roles(&self) -> BTreeMap<ServiceKey, Vec<(IpAddr, Layer2Role)>> {
        let view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: BTreeMap<ServiceKey, Vec<(IpAddr, Layer2Role)>> = BTreeMap::new();
        for (ip, v) in view.iter() {
            let role = self.role(*ip, v);
            for key in &v.address.services {
                out.entry(key.clone())
                    .or_default()
                    .push((*ip, role.clone()));
            }
        }
        out
    }

    fn role(&self, ip: IpAddr, v: &AddressView) -> Layer2Role {
        let owner = self.metrics.layer2_owner(ip).filter(|o| *o != self.me);
        match (&v.interface, &v.address.eligible) {
            (Err(error), _) => Layer2Role::InterfaceError {
                spec: v.address.interface.clone(),
                error: error.clone(),
            },
            (Ok(interface), _) if v.owned.borrow().contains(&ip) => Layer2Role::Answering {
                interface: interface.clone(),
            },
            (Ok(_), Err(why)) => Layer2Role::Ineligible {
                why: why.clone(),
                owner,
            },
            (Ok(_), Ok(())) => match owner {
                Some(owner) => Layer2Role::Standby { owner },
                None => Layer2Role::NoOwner,
            },
        }
    }

    /// `/status`: per address, what this node does.
    pub fn to_json(&self) -> serde_json::Value {
        let view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        view.iter()
            .map(|(ip, v)| {
                (
                    ip.to_string(),
                    serde_json::Value::String(describe(*ip, &self.role(*ip, v))),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

struct Running {
    interface: String,
    eligible: watch::Sender<bool>,
    election: Election,
}

/// This replica's layer-2 elections and responders.
pub struct Layer2Runtime {
    store: Arc<KubeLeaseStore>,
    config: ElectionConfig,
    metrics: Arc<Metrics>,
    responders: Responders,
    elections: BTreeMap<IpAddr, Running>,
    want: BTreeMap<IpAddr, Layer2Address>,
    status: Layer2Status,
}

impl Layer2Runtime {
    /// Nothing running yet. Leases go to `opts.namespace`, held under the node's name.
    pub fn new(
        client: Client,
        opts: &Options,
        metrics: Arc<Metrics>,
        status: Layer2Status,
    ) -> Self {
        let timings = opts.layer2;
        let lease_seconds = u32::try_from(timings.lease_duration.as_secs()).unwrap_or(u32::MAX);
        Layer2Runtime {
            store: Arc::new(KubeLeaseStore::new(client, &opts.namespace, lease_seconds)),
            config: ElectionConfig {
                identity: opts.node_name.clone(),
                timings,
                request_timeout: timings.retry_period,
            },
            responders: Responders::new(
                ResponderConfig::new(opts.node_name.clone()),
                metrics.clone(),
            ),
            metrics,
            elections: BTreeMap::new(),
            want: BTreeMap::new(),
            status,
        }
    }

    /// Brings elections and responders to `want`.
    pub async fn apply(&mut self, want: BTreeMap<IpAddr, Layer2Address>) {
        self.want = want;
        self.refresh().await;
    }

    /// Re-checks the last `want`: restarts responders whose interface came back, makes an
    /// address ineligible the moment its interface stops answering.
    pub async fn refresh(&mut self) {
        self.responders
            .ensure(self.want.values().map(|a| a.interface.as_str()))
            .await;
        let stale: Vec<IpAddr> = self
            .elections
            .iter()
            .filter(|(ip, r)| self.want.get(ip).is_none_or(|a| a.interface != r.interface))
            .map(|(ip, _)| *ip)
            .collect();
        for ip in stale {
            if let Some(r) = self.elections.remove(&ip) {
                r.election.stop().await;
                // The holder this replica observed is no longer followed.
                self.metrics.set_layer2_owner(ip, None);
                self.metrics
                    .layer2_addresses
                    .remove(&Layer2Labels { ip: ip.to_string() });
                tracing::info!(%ip, lease = %lease_name(ip), "layer 2: election stopped");
            }
        }
        let mut view = BTreeMap::new();
        for (ip, a) in &self.want {
            let interface = self.responders.interface(&a.interface);
            let eligible = a.eligible.is_ok() && interface.is_ok();
            let Some(owned) = self.responders.owned(&a.interface) else {
                continue;
            };
            view.insert(
                *ip,
                AddressView {
                    address: a.clone(),
                    interface,
                    owned: owned.subscribe(),
                },
            );
            if let Some(r) = self.elections.get(ip) {
                r.eligible
                    .send_if_modified(|e| std::mem::replace(e, eligible) != eligible);
                continue;
            }
            let (eligible_tx, eligible_rx) = watch::channel(eligible);
            match Election::spawn(
                *ip,
                self.store.clone(),
                self.config.clone(),
                eligible_rx,
                owned,
                self.metrics.clone(),
            ) {
                Ok(election) => {
                    tracing::info!(%ip, lease = %lease_name(*ip), eligible, "layer 2: election started");
                    self.metrics
                        .layer2_addresses
                        .get_or_create(&Layer2Labels { ip: ip.to_string() })
                        .set(1);
                    self.elections.insert(
                        *ip,
                        Running {
                            interface: a.interface.clone(),
                            eligible: eligible_tx,
                            election,
                        },
                    );
                }
                // The CLI validated the timings; say so if that ever changes.
                Err(e) => warn!(%ip, "layer 2: cannot elect: {e}"),
            }
        }
        *self.status.view.lock().unwrap_or_else(|p| p.into_inner()) = view;
    }

    /// Stops every election (the leases are left to expire) and responder.
    pub async fn stop(&mut self) {
        self.want.clear();
        self.refresh().await;
        self.responders.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::announce::tests::svc;
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn node(name: &str, ready: bool) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            ready,
            ..NodeInfo::default()
        }
    }

    fn pools() -> Vec<Layer2Pool> {
        vec![
            Layer2Pool {
                range: porter_crds::eip::AddressRange::parse("198.51.100.0/24").unwrap(),
                interface: "eth0".into(),
            },
            Layer2Pool {
                range: porter_crds::eip::AddressRange::parse("2001:db8:1::/64").unwrap(),
                interface: "can_reach:2001:db8:1::1".into(),
            },
        ]
    }

    /// (case, me, services, expected eligibility of 198.51.100.10)
    #[test]
    fn eligibility_follows_policy_endpoints_and_readiness() {
        let nodes = [node("n1", true), node("n2", true), node("n3", false)];
        type Case = (
            &'static str,
            &'static str,
            Vec<ServiceInfo>,
            Result<(), Ineligible>,
        );
        let cases: Vec<Case> = vec![
            (
                "cluster: any Ready node",
                "n1",
                vec![svc("a", &["198.51.100.10"], TrafficPolicy::Cluster, &[])],
                Ok(()),
            ),
            (
                "cluster: a NotReady node may not",
                "n3",
                vec![svc("a", &["198.51.100.10"], TrafficPolicy::Cluster, &[])],
                Err(Ineligible::NodeNotEligible),
            ),
            (
                "local: the node with the endpoint",
                "n2",
                vec![svc("a", &["198.51.100.10"], TrafficPolicy::Local, &["n2"])],
                Ok(()),
            ),
            (
                "local: not a node without one",
                "n1",
                vec![svc("a", &["198.51.100.10"], TrafficPolicy::Local, &["n2"])],
                Err(Ineligible::NoLocalEndpoint),
            ),
            (
                "local: an endpoint on a NotReady node",
                "n3",
                vec![svc(
                    "a",
                    &["198.51.100.10"],
                    TrafficPolicy::Local,
                    &["n2", "n3"],
                )],
                Err(Ineligible::NodeNotEligible),
            ),
            (
                "local: no endpoint anywhere",
                "n1",
                vec![svc("a", &["198.51.100.10"], TrafficPolicy::Local, &[])],
                Err(Ineligible::Service(NotAnnounced::NoReadyEndpoint)),
            ),
            (
                "shared address: eligible through either Service",
                "n1",
                vec![
                    svc("a", &["198.51.100.10"], TrafficPolicy::Local, &["n2"]),
                    svc("b", &["198.51.100.10"], TrafficPolicy::Cluster, &[]),
                ],
                Ok(()),
            ),
        ];
        for (case, me, services, want) in cases {
            let got = desired_layer2(me, &pools(), &services, &nodes);
            assert_eq!(got[&ip("198.51.100.10")].eligible, want, "{case}");
        }
    }

    #[test]
    fn each_address_gets_its_pools_interface_and_its_services() {
        let nodes = [node("n1", true)];
        let services = [
            svc(
                "a",
                &["198.51.100.10", "2001:db8:1::10"],
                TrafficPolicy::Cluster,
                &[],
            ),
            svc("b", &["198.51.100.10"], TrafficPolicy::Cluster, &[]),
            // not in a layer-2 pool
            svc("c", &["203.0.113.1"], TrafficPolicy::Cluster, &[]),
        ];
        let got = desired_layer2("n1", &pools(), &services, &nodes);
        assert_eq!(
            got.keys().copied().collect::<Vec<_>>(),
            [ip("198.51.100.10"), ip("2001:db8:1::10")]
        );
        let v4 = &got[&ip("198.51.100.10")];
        assert_eq!(v4.interface, "eth0");
        assert_eq!(v4.services.len(), 2);
        assert_eq!(
            got[&ip("2001:db8:1::10")].interface,
            "can_reach:2001:db8:1::1"
        );
    }

    #[test]
    fn roles_read_as_what_the_node_does() {
        let cases = [
            (
                Layer2Role::Answering {
                    interface: "eth0".into(),
                },
                "198.51.100.10: answering ARP on eth0",
            ),
            (
                Layer2Role::Standby {
                    owner: "n2".into(),
                },
                "198.51.100.10: standby, owner is n2",
            ),
            (
                Layer2Role::Ineligible {
                    why: Ineligible::NoLocalEndpoint,
                    owner: Some("n2".into()),
                },
                "198.51.100.10: not eligible (externalTrafficPolicy Local and no ready endpoint on this node), owner is n2",
            ),
            (
                Layer2Role::InterfaceError {
                    spec: "lo".into(),
                    error: "interface lo is the loopback interface".into(),
                },
                "198.51.100.10: cannot answer ARP on interface \"lo\": interface lo is the loopback interface",
            ),
        ];
        for (role, text) in cases {
            assert_eq!(describe(ip("198.51.100.10"), &role), text);
        }
        assert_eq!(
            describe(
                ip("2001:db8:1::10"),
                &Layer2Role::Answering {
                    interface: "eth1".into()
                }
            ),
            "2001:db8:1::10: answering NDP on eth1"
        );
    }

    /// A bad interface (the loopback, a missing one) is reported, never a panic, and the
    /// address is not elected as a candidate.
    #[tokio::test]
    async fn a_bad_interface_is_an_interface_error_and_never_a_candidate() {
        let metrics = Arc::new(Metrics::new());
        let status = Layer2Status::new("n1", metrics.clone());
        // An API that refuses every call: the elections only follow, and fail to read.
        let (service, handle) = tower_test::mock::pair::<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >();
        drop(handle);
        let client = Client::new(service, "default");
        let opts = super::super::mock_tests::opts();
        let mut rt = Layer2Runtime::new(client, &opts, metrics, status.clone());
        let want: BTreeMap<IpAddr, Layer2Address> = [
            ("198.51.100.10", "lo"),
            ("198.51.100.11", "porter-no-such-if0"),
        ]
        .into_iter()
        .map(|(a, i)| {
            (
                ip(a),
                Layer2Address {
                    interface: i.into(),
                    services: [ServiceKey::new("default", "web")].into(),
                    eligible: Ok(()),
                },
            )
        })
        .collect();
        rt.apply(want).await;
        let roles = status.roles();
        let roles = &roles[&ServiceKey::new("default", "web")];
        assert_eq!(roles.len(), 2);
        for (ip, role) in roles {
            assert_eq!(role.reason(), "InterfaceError", "{ip}: {role:?}");
        }
        assert!(
            describe(roles[0].0, &roles[0].1).contains("loopback"),
            "{:?}",
            roles[0]
        );
        for r in rt.elections.values() {
            assert!(!*r.eligible.borrow(), "a candidate without an interface");
        }
        rt.stop().await;
        assert!(status.roles().is_empty());
    }
}
