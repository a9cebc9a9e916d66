//! Which speaker configuration this node runs: the BgpPeers whose `nodeSelector` matches
//! this Node, and BgpConf with OpenELB's rack rules. Pure: plain data in, plain data out.
//!
//! Rack mode, as OpenELB v0.6 defines it: when the Node carries `openelb.kubesphere.io/rack`
//! and BgpConf has a non-empty `asPerRack`, the node's AS is `asPerRack[rack]` (when present
//! and non-zero, else `spec.as`), its router ID is its own address (whatever `routerId`
//! says, so that the replicas of one rack do not share an ID), and only nodes of the same
//! rack are next hops (see [`super::announce`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_wire::Family;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use porter_crds::bgp_conf::BgpConfSpec;
use porter_crds::bgp_peer::{Afi, BgpPeerSpec, Safi};
use porter_crds::{BgpConf, BgpPeer, BGP_CONF_NAME};

use super::announce::NodeInfo;
use crate::speaker::config::{AddPath, GracefulRestart, BGP_PORT};
use crate::speaker::{GlobalConfig, PeerConfig, SpeakerConfig};

/// gobgp's default graceful-restart time when BgpConf enables it without one.
const DEFAULT_RESTART_TIME: u16 = 120;

/// Whether `selector` selects an object with `labels`. No selector, or an empty one,
/// selects everything (OpenELB peers every node with a BgpPeer that has no selector).
/// An operator Kubernetes does not define is an error, never a silent match.
pub fn selector_matches(
    selector: Option<&LabelSelector>,
    labels: &BTreeMap<String, String>,
) -> Result<bool, String> {
    let Some(sel) = selector else {
        return Ok(true);
    };
    for (k, v) in sel.match_labels.iter().flatten() {
        if labels.get(k) != Some(v) {
            return Ok(false);
        }
    }
    for req in sel.match_expressions.iter().flatten() {
        let values = req.values.as_deref().unwrap_or_default();
        let value = labels.get(&req.key);
        let ok = match req.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => {
                return Err(format!(
                    "nodeSelector operator {other:?} is not In, NotIn, Exists or DoesNotExist"
                ))
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// This node's rack in rack mode, `None` when rack mode is off for it.
pub fn local_rack<'a>(conf: Option<&BgpConfSpec>, node: &'a NodeInfo) -> Option<&'a str> {
    let conf = conf?;
    if conf.as_per_rack.is_empty() {
        return None;
    }
    node.rack.as_deref()
}

/// The speaker's global settings on `node`. The BgpConf translation follows OpenELB:
/// `listenPort` 0 means 179, a negative one (gobgp's -1) disables the listener; a missing
/// `routerId` is the node's first IPv4 InternalIP.
pub fn global_config(
    spec: &BgpConfSpec,
    node: &NodeInfo,
    shutdown_drain: Duration,
) -> Result<GlobalConfig, String> {
    let rack = local_rack(Some(spec), node);
    let asn = rack
        .and_then(|r| spec.as_per_rack.get(r).copied())
        .filter(|a| *a > 0)
        .unwrap_or(spec.asn);
    if asn == 0 {
        return Err("BgpConf spec.as is 0".into());
    }
    let node_v4 = node.internal_ips.iter().find_map(|a| match a {
        IpAddr::V4(v4) => Some(*v4),
        IpAddr::V6(_) => None,
    });
    let configured = match spec.router_id.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => Some(
            r.parse::<Ipv4Addr>()
                .map_err(|_| format!("BgpConf spec.routerId `{r}` is not an IPv4 address"))?,
        ),
        None => None,
    };
    let router_id = match (rack, configured) {
        (None, Some(id)) => id,
        _ => node_v4.ok_or_else(|| {
            format!(
                "node {} has no IPv4 InternalIP to use as router ID; set BgpConf spec.routerId",
                node.name
            )
        })?,
    };
    let listen_port = match spec.listen_port {
        p if p < 0 => None,
        0 => Some(BGP_PORT),
        p => Some(u16::try_from(p).map_err(|_| format!("BgpConf listenPort {p} is above 65535"))?),
    };
    let listen_addresses = spec
        .listen_addresses
        .iter()
        .map(|a| {
            a.parse()
                .map_err(|_| format!("BgpConf listenAddresses: `{a}` is not an IP address"))
        })
        .collect::<Result<_, _>>()?;
    let graceful_restart = spec
        .graceful_restart
        .as_ref()
        .filter(|g| g.enabled)
        .map(|g| GracefulRestart {
            // 12 bits on the wire (RFC 4724 §3)
            restart_time: match g.restart_time {
                0 => DEFAULT_RESTART_TIME,
                t => t.min(0x0fff) as u16,
            },
        });
    Ok(GlobalConfig {
        asn,
        router_id,
        listen_port,
        listen_addresses,
        graceful_restart,
        node_addresses: node.internal_ips.clone(),
        shutdown_drain,
    })
}

/// One BgpPeer as the speaker runs it, after OpenELB's defaulting.
pub fn peer_config(spec: &BgpPeerSpec) -> Result<PeerConfig, String> {
    spec.validate().map_err(|e| e.to_string())?;
    let spec = spec.with_defaults().map_err(|e| e.to_string())?;
    let neighbor = spec.neighbor_ip().map_err(|e| e.to_string())?;
    let timers = spec.effective_timers().map_err(|e| e.to_string())?;
    let mut pc = PeerConfig::new(neighbor, spec.conf.peer_as);
    pc.local_as = Some(spec.conf.local_as).filter(|a| *a != 0);
    pc.password = spec.conf.auth_password.clone().filter(|p| !p.is_empty());
    pc.admin_down = spec.conf.admin_down;
    pc.description = spec.conf.description.clone().unwrap_or_default();
    pc.hold_time = timers.hold_time;
    pc.keepalive = timers.keepalive;
    pc.connect_retry = timers.connect_retry;
    if let Some(t) = &spec.transport {
        pc.passive = t.passive_mode;
        if t.remote_port != 0 {
            pc.remote_port = t.remote_port;
        }
        pc.local_address = t
            .local_address
            .as_deref()
            .filter(|a| !a.is_empty())
            .map(|a| a.parse().map_err(|_| format!("`{a}` is not an IP address")))
            .transpose()?;
    }
    pc.multihop_ttl = spec.ebgp_multihop.as_ref().filter(|m| m.enabled).map(|m| {
        if m.multihop_ttl == 0 {
            255
        } else {
            m.multihop_ttl
        }
    });
    let mut families = BTreeMap::new();
    for afi_safi in &spec.afi_safis {
        let Some(cfg) = &afi_safi.config else {
            continue;
        };
        let Some(family) = cfg.family else { continue };
        if !cfg.enabled {
            continue;
        }
        let family = match (family.afi, family.safi) {
            (Afi::Ip, Safi::Unicast) => Family::IPV4_UNICAST,
            (Afi::Ip6, Safi::Unicast) => Family::IPV6_UNICAST,
            _ => return Err(format!("family {family} is not supported (only unicast)")),
        };
        let add = afi_safi
            .add_paths
            .as_ref()
            .and_then(|a| a.config.as_ref())
            .map(|c| AddPath {
                receive: c.receive,
                send_max: c.send_max.min(u32::from(u8::MAX)) as u8,
            })
            .unwrap_or_default();
        families.insert(family, add);
    }
    if families.is_empty() {
        return Err("no enabled unicast family in spec.afiSafis".into());
    }
    pc.families = families;
    Ok(pc)
}

/// The speaker configuration of `node`, and per BgpPeer (or `BgpConf/default`) that cannot
/// run, why. Without a BgpConf named `default` the speaker runs nothing.
pub fn speaker_config(
    conf: Option<&BgpConf>,
    peers: &[BgpPeer],
    node: &NodeInfo,
    node_labels: &BTreeMap<String, String>,
    shutdown_drain: Duration,
) -> (SpeakerConfig, BTreeMap<String, String>) {
    let mut errors = BTreeMap::new();
    let conf = conf.filter(|c| c.name_any() == BGP_CONF_NAME);
    let global = match conf.map(|c| global_config(&c.spec, node, shutdown_drain)) {
        Some(Ok(g)) => g,
        Some(Err(e)) => {
            errors.insert(format!("BgpConf/{BGP_CONF_NAME}"), e);
            return (idle(shutdown_drain), errors);
        }
        None => return (idle(shutdown_drain), errors),
    };
    let mut out = SpeakerConfig {
        global,
        peers: BTreeMap::new(),
    };
    for peer in peers {
        let name = peer.name_any();
        match selector_matches(peer.spec.node_selector.as_ref(), node_labels) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                errors.insert(name, e);
                continue;
            }
        }
        match peer_config(&peer.spec) {
            Ok(pc) => {
                out.peers.insert(name, pc);
            }
            Err(e) => {
                errors.insert(name, e);
            }
        }
    }
    (out, errors)
}

/// No BgpConf: no listener, no peers.
fn idle(shutdown_drain: Duration) -> SpeakerConfig {
    SpeakerConfig {
        global: GlobalConfig {
            listen_port: None,
            shutdown_drain,
            ..GlobalConfig::default()
        },
        peers: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn node(rack: Option<&str>) -> NodeInfo {
        NodeInfo {
            name: "n1".into(),
            ready: true,
            excluded: false,
            rack: rack.map(Into::into),
            internal_ips: vec!["fd10::1".parse().unwrap(), "10.200.40.1".parse().unwrap()],
        }
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
        }
    }

    /// (case, selector, node labels, expected)
    #[test]
    fn node_selector_table() {
        let rack1 = labels(&[("openelb.kubesphere.io/rack", "leaf1"), ("zone", "a")]);
        let ml = |pairs: &[(&str, &str)]| LabelSelector {
            match_labels: Some(labels(pairs)),
            match_expressions: None,
        };
        let me = |e: LabelSelectorRequirement| LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![e]),
        };
        let cases: Vec<(&str, Option<LabelSelector>, bool)> = vec![
            ("no selector selects all", None, true),
            (
                "empty selector selects all",
                Some(LabelSelector::default()),
                true,
            ),
            (
                "matchLabels equal",
                Some(ml(&[("openelb.kubesphere.io/rack", "leaf1")])),
                true,
            ),
            (
                "matchLabels differ",
                Some(ml(&[("openelb.kubesphere.io/rack", "leaf2")])),
                false,
            ),
            ("matchLabels missing key", Some(ml(&[("x", "y")])), false),
            ("In hit", Some(me(expr("zone", "In", &["a", "b"]))), true),
            ("In miss", Some(me(expr("zone", "In", &["b"]))), false),
            (
                "NotIn absent key",
                Some(me(expr("role", "NotIn", &["x"]))),
                true,
            ),
            ("NotIn hit", Some(me(expr("zone", "NotIn", &["a"]))), false),
            ("Exists", Some(me(expr("zone", "Exists", &[]))), true),
            (
                "DoesNotExist",
                Some(me(expr("zone", "DoesNotExist", &[]))),
                false,
            ),
        ];
        for (case, sel, want) in cases {
            assert_eq!(selector_matches(sel.as_ref(), &rack1), Ok(want), "{case}");
        }
        assert!(selector_matches(Some(&me(expr("zone", "Gt", &["1"]))), &rack1).is_err());
    }

    fn conf(asn: u32, per_rack: &[(&str, u32)], router_id: Option<&str>) -> BgpConfSpec {
        serde_json::from_value(serde_json::json!({
            "as": asn,
            "asPerRack": per_rack.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "routerId": router_id,
            "listenPort": 17900,
        }))
        .unwrap()
    }

    #[test]
    fn rack_mode_takes_as_per_rack_and_the_node_address_as_router_id() {
        let spec = conf(65000, &[("leaf1", 65101)], Some("10.9.9.9"));
        let g = global_config(&spec, &node(Some("leaf1")), Duration::ZERO).unwrap();
        assert_eq!(g.asn, 65101);
        assert_eq!(g.router_id, Ipv4Addr::new(10, 200, 40, 1));
        assert_eq!(g.listen_port, Some(17900));
        // A rack without an entry keeps spec.as, still with its own router ID.
        let g = global_config(&spec, &node(Some("leaf7")), Duration::ZERO).unwrap();
        assert_eq!((g.asn, g.router_id), (65000, Ipv4Addr::new(10, 200, 40, 1)));
        // No rack label: spec.as and spec.routerId.
        let g = global_config(&spec, &node(None), Duration::ZERO).unwrap();
        assert_eq!((g.asn, g.router_id), (65000, Ipv4Addr::new(10, 9, 9, 9)));
        // A rack label without asPerRack is not rack mode.
        let plain = conf(65000, &[], Some("10.9.9.9"));
        assert_eq!(local_rack(Some(&plain), &node(Some("leaf1"))), None);
        assert_eq!(local_rack(Some(&spec), &node(Some("leaf1"))), Some("leaf1"));
        let g = global_config(&plain, &node(Some("leaf1")), Duration::ZERO).unwrap();
        assert_eq!(g.router_id, Ipv4Addr::new(10, 9, 9, 9));
    }

    #[test]
    fn missing_router_id_uses_the_node_ipv4_address_or_says_why_not() {
        let spec = conf(65000, &[], None);
        let g = global_config(&spec, &node(None), Duration::ZERO).unwrap();
        assert_eq!(g.router_id, Ipv4Addr::new(10, 200, 40, 1));
        let mut v6only = node(None);
        v6only.internal_ips.retain(|a| a.is_ipv6());
        let e = global_config(&spec, &v6only, Duration::ZERO).unwrap_err();
        assert!(e.contains("no IPv4 InternalIP"), "{e}");
    }

    fn peer(name: &str, selector: serde_json::Value) -> BgpPeer {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "network.kubesphere.io/v1alpha2",
            "kind": "BgpPeer",
            "metadata": {"name": name},
            "spec": {
                "conf": {"peerAs": 65001, "neighborAddress": "10.200.40.254"},
                "nodeSelector": selector,
            }
        }))
        .unwrap()
    }

    #[test]
    fn speaker_config_keeps_matching_peers_and_reports_bad_ones() {
        let bgp_conf: BgpConf = serde_json::from_value(serde_json::json!({
            "apiVersion": "network.kubesphere.io/v1alpha2",
            "kind": "BgpConf",
            "metadata": {"name": "default"},
            "spec": {"as": 65000, "routerId": "10.200.40.1"}
        }))
        .unwrap();
        let peers = [
            peer("all", serde_json::Value::Null),
            peer(
                "leaf1",
                serde_json::json!({"matchLabels": {"rack": "leaf1"}}),
            ),
            peer(
                "leaf2",
                serde_json::json!({"matchLabels": {"rack": "leaf2"}}),
            ),
            peer(
                "bad",
                serde_json::json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
            ),
        ];
        let (cfg, errors) = speaker_config(
            Some(&bgp_conf),
            &peers,
            &node(None),
            &labels(&[("rack", "leaf1")]),
            Duration::ZERO,
        );
        assert_eq!(cfg.peers.keys().collect::<Vec<_>>(), ["all", "leaf1"]);
        assert_eq!(cfg.global.asn, 65000);
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["bad"]);
        // OpenELB's defaulting: IPv4 unicast with ADD-PATH send 10.
        let fam = &cfg.peers["all"].families[&Family::IPV4_UNICAST];
        assert_eq!(fam.send_max, 10);

        // No BgpConf: nothing runs, and nothing listens.
        let (cfg, errors) = speaker_config(None, &peers, &node(None), &labels(&[]), Duration::ZERO);
        assert!(cfg.peers.is_empty() && errors.is_empty());
        assert_eq!(cfg.global.listen_port, None);
    }

    #[test]
    fn peer_translation_follows_the_object() {
        let spec: BgpPeerSpec = serde_json::from_value(serde_json::json!({
            "conf": {"peerAs": 65001, "neighborAddress": "2001:db8::1", "localAs": 65010,
                     "authPassword": "s3cret", "description": "tor"},
            "transport": {"passiveMode": true, "remotePort": 1179},
            "ebgpMultihop": {"enabled": true, "multihopTtl": 3},
            "timers": {"config": {"holdTime": 9, "keepaliveInterval": 3, "connectRetry": 5}},
            "afiSafis": [{"config": {"family": {"afi": "AFI_IP6", "safi": "SAFI_UNICAST"}, "enabled": true},
                          "addPaths": {"config": {"sendMax": 300}}}]
        }))
        .unwrap();
        let pc = peer_config(&spec).unwrap();
        assert_eq!(pc.neighbor, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!(pc.local_as, Some(65010));
        assert_eq!(pc.password.as_deref(), Some("s3cret"));
        assert!(pc.passive);
        assert_eq!(pc.remote_port, 1179);
        assert_eq!(pc.multihop_ttl, Some(3));
        assert_eq!((pc.hold_time, pc.keepalive, pc.connect_retry), (9, 3, 5));
        // sendMax is clamped to what one octet holds.
        assert_eq!(pc.families[&Family::IPV6_UNICAST].send_max, 255);
    }
}
