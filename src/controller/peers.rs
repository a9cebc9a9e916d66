//! Which speaker configuration this node runs: the BgpPeers whose `nodeSelector` matches
//! this Node, translated by [`crate::speaker::from_crds`] (shared with standalone mode,
//! rack mode included). Pure: plain data in, plain data out.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::ResourceExt;
use porter_crds::{BgpConf, BgpPeer, BGP_CONF_NAME};

use super::announce::NodeInfo;
use crate::speaker::from_crds::{global_config, peer_config, NodeFacts};
pub use crate::speaker::from_crds::{local_rack, selector_matches};
use crate::speaker::{GlobalConfig, SpeakerConfig};

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
    let Some(conf) = conf.filter(|c| c.name_any() == BGP_CONF_NAME) else {
        return (idle(shutdown_drain), errors);
    };
    let mut selected = Vec::new();
    for peer in peers {
        match selector_matches(peer.spec.node_selector.as_ref(), node_labels) {
            Ok(true) => selected.push(peer),
            Ok(false) => {}
            Err(e) => {
                errors.insert(peer.name_any(), e);
            }
        }
    }
    let facts = NodeFacts {
        name: &node.name,
        labels: node_labels,
        addresses: &node.internal_ips,
    };
    let global = match global_config(
        &conf.spec,
        facts,
        selected.iter().map(|p| &p.spec),
        shutdown_drain,
    ) {
        Ok(g) => g,
        Err(e) => {
            errors.insert(format!("BgpConf/{BGP_CONF_NAME}"), e.to_string());
            return (idle(shutdown_drain), errors);
        }
    };
    let mut out = SpeakerConfig {
        global,
        peers: BTreeMap::new(),
    };
    for peer in selected {
        match peer_config(&peer.spec) {
            Ok(pc) => {
                out.peers.insert(peer.name_any(), pc);
            }
            Err(e) => {
                errors.insert(peer.name_any(), e.to_string());
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
    use bgp_wire::Family;

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
}
