//! BgpConf and BgpPeer → the speaker's configuration: the one translation both `porter
//! standalone` and `porter manager` use, so a file and a cluster holding the same objects
//! run the same sessions. Pure: plain data in, plain data out.
//!
//! Defaults follow OpenELB v0.6, which hands the objects to gobgp: a BgpPeer without
//! `afiSafis` negotiates its neighbor's unicast family with ADD-PATH send limit 10;
//! `listenPort` 0 means 179 and a negative one turns the listener off; a missing `routerId`
//! is the node's first IPv4 address.
//!
//! Rack mode, as OpenELB defines it: when the node carries `openelb.kubesphere.io/rack` and
//! BgpConf has a non-empty `asPerRack`, the node's AS is `asPerRack[rack]` (when present, else
//! `spec.as`) and its router ID is its own IPv4 address whatever `routerId` says, so that the
//! replicas of one rack never share an identifier.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_wire::Family;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use porter_crds::annotations;
use porter_crds::bgp_conf::BgpConfSpec;
use porter_crds::bgp_peer::{
    Afi, BgpPeerSpec, Safi, DEFAULT_BFD_INTERVAL_MS, DEFAULT_BFD_MULTIPLIER, DEFAULT_HOLD_TIME,
};
use porter_crds::validate::{FieldError, ValidationErrors};

use super::config::{AddPath, BfdConfig, GracefulRestart, BGP_PORT};
use super::{GlobalConfig, PeerConfig};

/// The node a configuration is computed for.
#[derive(Clone, Copy, Debug)]
pub struct NodeFacts<'a> {
    /// Node name, for messages.
    pub name: &'a str,
    /// Node labels (`asPerRack` reads the rack label).
    pub labels: &'a BTreeMap<String, String>,
    /// The node's own addresses, in the order the Node lists them.
    pub addresses: &'a [IpAddr],
}

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

/// The node's rack in rack mode; `None` when rack mode is off for it.
pub fn local_rack<'a>(
    conf: Option<&BgpConfSpec>,
    labels: &'a BTreeMap<String, String>,
) -> Option<&'a str> {
    if conf?.as_per_rack.is_empty() {
        return None;
    }
    labels.get(annotations::RACK).map(String::as_str)
}

/// The speaker's global settings on `node`. `peers` are the BgpPeers this node runs: with
/// graceful restart on and no `restartTime`, the restart time is the smallest hold time
/// among them, as gobgp derives it (RFC 4724 §4: "A suggested default for the Restart Time
/// is a value less than or equal to the HOLDTIME carried in the OPEN"; one value serves
/// every session).
pub fn global_config<'p>(
    spec: &BgpConfSpec,
    node: NodeFacts<'_>,
    peers: impl IntoIterator<Item = &'p BgpPeerSpec>,
    shutdown_drain: Duration,
) -> Result<GlobalConfig, ValidationErrors> {
    spec.validate()?;
    let rack = local_rack(Some(spec), node.labels);
    let asn = rack
        .and_then(|r| spec.as_per_rack.get(r).copied())
        .unwrap_or(spec.asn);
    let node_v4 = node.addresses.iter().find_map(|a| match a {
        IpAddr::V4(v4) => Some(*v4),
        IpAddr::V6(_) => None,
    });
    // Validated above: a non-zero IPv4 address when present.
    let configured = spec
        .router_id
        .as_deref()
        .filter(|r| !r.is_empty())
        .and_then(|r| r.parse::<Ipv4Addr>().ok());
    let router_id = match (rack, configured) {
        (Some(_), _) => node_v4.or(configured),
        (None, Some(id)) => Some(id),
        (None, None) => node_v4,
    }
    .ok_or_else(|| {
        single(
            "spec.routerId",
            format!(
                "is required when the node ({}) has no IPv4 address to serve as the BGP \
                 identifier (set it, or in standalone mode pass --node-address)",
                node.name
            ),
        )
    })?;
    let listen_port = match spec.listen_port {
        p if p < 0 => None,
        0 => Some(BGP_PORT),
        // Validated above to be at most 65535.
        p => Some(u16::try_from(p).unwrap_or(u16::MAX)),
    };
    let graceful_restart = spec
        .graceful_restart
        .as_ref()
        // Helper-only means porter would only keep a restarting peer's routes, and porter
        // keeps no received routes: nothing to advertise.
        .filter(|gr| gr.enabled && !gr.helper_only)
        .map(|gr| {
            let restart_time = if gr.restart_time > 0 {
                gr.restart_time
            } else {
                peers
                    .into_iter()
                    .filter_map(|p| p.effective_timers().ok())
                    .map(|t| u32::from(t.hold_time))
                    .filter(|h| *h > 0)
                    .min()
                    .unwrap_or(u32::from(DEFAULT_HOLD_TIME))
            };
            GracefulRestart {
                // 12 bits on the wire (RFC 4724 §3); validated above.
                restart_time: u16::try_from(restart_time.min(0x0fff)).unwrap_or(0x0fff),
            }
        });
    Ok(GlobalConfig {
        asn,
        router_id,
        listen_port,
        listen_addresses: spec
            .listen_addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect(),
        graceful_restart,
        node_addresses: node.addresses.to_vec(),
        shutdown_drain,
    })
}

/// One BgpPeer as the speaker runs it, after OpenELB's defaulting; every problem found,
/// each with its field path.
pub fn peer_config(spec: &BgpPeerSpec) -> Result<PeerConfig, ValidationErrors> {
    spec.validate()?;
    let spec = spec
        .with_defaults()
        .map_err(|e| ValidationErrors(vec![e]))?;
    let neighbor = spec.neighbor_ip().map_err(|e| ValidationErrors(vec![e]))?;
    let timers = spec.effective_timers()?;
    let mut errs = ValidationErrors::default();
    let mut pc = PeerConfig::new(neighbor, spec.conf.peer_as);
    pc.local_as = Some(spec.conf.local_as).filter(|a| *a != 0);
    pc.password = spec.conf.auth_password.clone().filter(|p| !p.is_empty());
    pc.admin_down = spec.conf.admin_down;
    pc.description = spec.conf.description.clone().unwrap_or_default();
    pc.hold_time = timers.hold_time;
    pc.keepalive = timers.keepalive;
    pc.connect_retry = timers.connect_retry;
    if let Some(transport) = &spec.transport {
        pc.passive = transport.passive_mode;
        if transport.remote_port != 0 {
            pc.remote_port = transport.remote_port;
        }
        match transport.local_address.as_deref().filter(|a| !a.is_empty()) {
            None => {}
            Some(a) => match a.parse() {
                Ok(ip) => pc.local_address = Some(ip),
                Err(_) => errs.push(
                    "spec.transport.localAddress",
                    format!("`{a}` is not an IP address"),
                ),
            },
        }
        pc.tcp_mss = Some(transport.tcp_mss).filter(|m| *m != 0);
        pc.mtu_discovery = transport.mtu_discovery;
        if let Some(remote) = transport
            .remote_address
            .as_deref()
            .filter(|a| !a.is_empty())
        {
            if remote.parse::<IpAddr>().ok() != Some(neighbor) {
                errs.push(
                    "spec.transport.remoteAddress",
                    format!(
                        "`{remote}` differs from spec.conf.neighborAddress ({neighbor}); porter \
                         connects to the neighbor address"
                    ),
                );
            }
        }
    }
    if let Some(multihop) = spec.ebgp_multihop.as_ref().filter(|m| m.enabled) {
        // gobgp's default when multihop is on without a TTL: the largest.
        pc.multihop_ttl = Some(match multihop.multihop_ttl {
            0 => u8::MAX,
            ttl => ttl,
        });
    }
    pc.bfd = spec.bfd.as_ref().filter(|b| b.enabled).map(|b| {
        let ms =
            |v: Option<u32>| Duration::from_millis(v.unwrap_or(DEFAULT_BFD_INTERVAL_MS).into());
        BfdConfig {
            min_rx: ms(b.min_rx_interval_ms),
            min_tx: ms(b.min_tx_interval_ms),
            multiplier: b.multiplier.unwrap_or(DEFAULT_BFD_MULTIPLIER),
            passive: b.passive,
            strict: b.strict,
        }
    });
    pc.families.clear();
    for (i, afi_safi) in spec.afi_safis.iter().enumerate() {
        let Some(config) = afi_safi.config.as_ref().filter(|c| c.enabled) else {
            continue;
        };
        let Some(family) = config.family else {
            continue;
        };
        let family = match (family.afi, family.safi) {
            (Afi::Ip, Safi::Unicast) => Family::IPV4_UNICAST,
            (Afi::Ip6, Safi::Unicast) => Family::IPV6_UNICAST,
            _ => {
                errs.push(
                    format!("spec.afiSafis[{i}].config.family"),
                    format!("{family} is not supported: porter speaks IPv4 and IPv6 unicast"),
                );
                continue;
            }
        };
        let add_paths = afi_safi
            .add_paths
            .as_ref()
            .and_then(|a| a.config.clone())
            .unwrap_or_default();
        pc.families.insert(
            family,
            AddPath {
                receive: add_paths.receive,
                // One path per node at most is ever sent, so a larger limit than one octet
                // holds (gobgp's field is 8 bits too) loses nothing.
                send_max: u8::try_from(add_paths.send_max).unwrap_or(u8::MAX),
            },
        );
    }
    if pc.families.is_empty() && errs.0.is_empty() {
        errs.push(
            "spec.afiSafis",
            "no address family is enabled (set config.enabled: true on at least one)",
        );
    }
    errs.into_result().map(|()| pc)
}

fn single(path: &str, message: String) -> ValidationErrors {
    ValidationErrors(vec![FieldError {
        path: path.to_owned(),
        message,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use std::net::Ipv6Addr;

    const ADDRESSES: &[IpAddr] = &[
        IpAddr::V6(Ipv6Addr::new(0xfd10, 0, 0, 0, 0, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(10, 200, 40, 1)),
    ];

    fn facts(labels: &BTreeMap<String, String>) -> NodeFacts<'_> {
        NodeFacts {
            name: "n1",
            labels,
            addresses: ADDRESSES,
        }
    }

    fn rack(name: &str) -> BTreeMap<String, String> {
        labels(&[(annotations::RACK, name)])
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
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
        let g = global_config(&spec, facts(&rack("leaf1")), [], Duration::ZERO).unwrap();
        assert_eq!(g.asn, 65101);
        assert_eq!(g.router_id, Ipv4Addr::new(10, 200, 40, 1));
        assert_eq!(g.listen_port, Some(17900));
        // A rack without an entry keeps spec.as, still with its own router ID.
        let g = global_config(&spec, facts(&rack("leaf7")), [], Duration::ZERO).unwrap();
        assert_eq!((g.asn, g.router_id), (65000, Ipv4Addr::new(10, 200, 40, 1)));
        // No rack label: spec.as and spec.routerId.
        let g = global_config(&spec, facts(&BTreeMap::new()), [], Duration::ZERO).unwrap();
        assert_eq!((g.asn, g.router_id), (65000, Ipv4Addr::new(10, 9, 9, 9)));
        // A rack label without asPerRack is not rack mode.
        let plain = conf(65000, &[], Some("10.9.9.9"));
        assert_eq!(local_rack(Some(&plain), &rack("leaf1")), None);
        assert_eq!(local_rack(Some(&spec), &rack("leaf1")), Some("leaf1"));
        let g = global_config(&plain, facts(&rack("leaf1")), [], Duration::ZERO).unwrap();
        assert_eq!(g.router_id, Ipv4Addr::new(10, 9, 9, 9));
    }

    #[test]
    fn missing_router_id_uses_the_node_ipv4_address_or_says_why_not() {
        let spec = conf(65000, &[], None);
        let g = global_config(&spec, facts(&BTreeMap::new()), [], Duration::ZERO).unwrap();
        assert_eq!(g.router_id, Ipv4Addr::new(10, 200, 40, 1));
        let none = BTreeMap::new();
        let v6only = NodeFacts {
            addresses: &ADDRESSES[..1],
            ..facts(&none)
        };
        let e = global_config(&spec, v6only, [], Duration::ZERO).unwrap_err();
        assert!(e.has_path("spec.routerId"), "{e}");
        assert!(e.to_string().contains("no IPv4 address"), "{e}");
        // Rack mode falls back to the configured identifier when the node has no IPv4.
        let spec = conf(65000, &[("leaf1", 65101)], Some("10.9.9.9"));
        let labels = rack("leaf1");
        let v6only = NodeFacts {
            addresses: &ADDRESSES[..1],
            ..facts(&labels)
        };
        let g = global_config(&spec, v6only, [], Duration::ZERO).unwrap();
        assert_eq!(g.router_id, Ipv4Addr::new(10, 9, 9, 9));
    }

    #[test]
    fn peer_translation_follows_the_object() {
        let spec: BgpPeerSpec = serde_json::from_value(serde_json::json!({
            "conf": {"peerAs": 65001, "neighborAddress": "2001:db8::1", "localAs": 65010,
                     "authPassword": "s3cret", "description": "tor"},
            "transport": {"passiveMode": true, "remotePort": 1179, "tcpMss": 1200, "mtuDiscovery": true},
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
        assert_eq!((pc.tcp_mss, pc.mtu_discovery), (Some(1200), true));
        assert_eq!(pc.multihop_ttl, Some(3));
        assert_eq!((pc.hold_time, pc.keepalive, pc.connect_retry), (9, 3, 5));
        // sendMax is clamped to what one octet holds.
        assert_eq!(pc.families[&Family::IPV6_UNICAST].send_max, 255);
    }

    #[test]
    fn bfd_defaults_to_300_ms_times_3_and_is_off_unless_enabled() {
        let peer = |bfd: serde_json::Value| {
            let spec: BgpPeerSpec = serde_json::from_value(serde_json::json!({
                "conf": {"peerAs": 65001, "neighborAddress": "10.0.0.1"}, "bfd": bfd
            }))
            .unwrap();
            peer_config(&spec).unwrap().bfd
        };
        assert_eq!(peer(serde_json::json!({"multiplier": 5})), None);
        assert_eq!(
            peer(serde_json::json!({"enabled": true})),
            Some(BfdConfig {
                min_rx: Duration::from_millis(300),
                min_tx: Duration::from_millis(300),
                multiplier: 3,
                passive: false,
                strict: false,
            })
        );
        let custom = peer(serde_json::json!({"enabled": true, "minRxIntervalMs": 50,
            "minTxIntervalMs": 100, "multiplier": 5, "passive": true, "strict": true}))
        .unwrap();
        assert_eq!(
            (custom.min_rx, custom.min_tx, custom.multiplier),
            (Duration::from_millis(50), Duration::from_millis(100), 5)
        );
        assert!(custom.passive && custom.strict);
    }
}
