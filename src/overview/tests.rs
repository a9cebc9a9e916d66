use k8s_openapi::api::core::v1::Service;
use k8s_openapi::jiff::Timestamp;
use porter_crds::{BgpPeer, Eip};
use serde_json::json;

use super::table::Tables;
use super::*;

fn now() -> Timestamp {
    "2030-01-01T12:00:00Z".parse().unwrap()
}

fn peer() -> BgpPeer {
    serde_json::from_value(json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer",
        "metadata": {"name": "tor1"},
        "spec": {"conf": {"neighborAddress": "10.200.1.1", "peerAs": 65000}},
        "status": {"nodesPeerStatus": {
            "n2": {
                "peerState": {"localAs": 65001, "peerAs": 65000, "neighborAddress": "10.200.1.1",
                              "sessionState": "ACTIVE"},
                "timersState": {"downtime": "2030-01-01T11:59:20Z"},
                "lastError": {"direction": "received", "code": 4, "subcode": 0,
                              "reason": "Hold Timer Expired", "time": "2030-01-01T11:59:20Z"},
            },
            "n1": {
                "peerState": {"localAs": 65001, "peerAs": 65000, "neighborAddress": "10.200.1.1",
                              "sessionState": "ESTABLISHED",
                              "messages": {"received": {"update": "4"}, "sent": {"update": "7"}}},
                "timersState": {"uptime": "2030-01-01T09:58:00Z"},
                "bfd": {"state": "Up", "remoteState": "Up", "localDiscriminator": 1,
                        "remoteDiscriminator": 2, "txIntervalMs": 300, "detectionTimeMs": 900,
                        "upTransitions": "1", "downTransitions": "0"},
                "advertised": "3",
            },
        }},
    }))
    .unwrap()
}

fn eip(name: &str, used: serde_json::Value, conditions: serde_json::Value) -> Eip {
    serde_json::from_value(json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
        "metadata": {"name": name},
        "spec": {"address": "203.0.113.0/28", "protocol": "bgp"},
        "status": {"usage": used.as_object().map_or(0, |m| m.len()), "poolSize": 16,
                   "used": used, "conditions": conditions},
    }))
    .unwrap()
}

fn condition(node: &str, ok: bool, reason: &str, message: &str) -> serde_json::Value {
    json!({"type": format!("{ADVERTISED_CONDITION_PREFIX}/{node}"),
           "status": if ok { "True" } else { "False" }, "reason": reason, "message": message,
           "lastTransitionTime": "2030-01-01T11:00:00Z"})
}

fn service(name: &str, spec: serde_json::Value, status: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec, "status": status,
    }))
    .unwrap()
}

fn services() -> Vec<Service> {
    let lb = json!({"type": "LoadBalancer", "loadBalancerClass": "network.kubesphere.io/porter"});
    vec![
        service(
            "web",
            lb.clone(),
            json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}]}, "conditions": [
                condition("n1", true, "Advertised", "203.0.113.1: to tor1 with next hops from n1, n2"),
                condition("n2", false, "NoEstablishedPeer", "203.0.113.1: no established peer on this node (next hops from n1, n2)"),
                {"type": "Other", "status": "True", "reason": "X", "message": "",
                 "lastTransitionTime": "2030-01-01T11:00:00Z"},
            ]}),
        ),
        service("waiting", lb, json!({})),
        service(
            "metallb",
            json!({"type": "LoadBalancer", "loadBalancerClass": "metallb"}),
            json!({"loadBalancer": {"ingress": [{"ip": "198.51.100.9"}]}}),
        ),
        service("plain", json!({"type": "ClusterIP"}), json!({})),
    ]
}

fn overview() -> Overview {
    let eips = [
        eip(
            "pool",
            json!({"203.0.113.1": "default/web"}),
            json!([
            {"type": "Ready", "status": "True", "reason": "Ready", "message": "",
             "lastTransitionTime": "2030-01-01T11:00:00Z"}]),
        ),
        eip(
            "full",
            json!({}),
            json!([
            {"type": "Valid", "status": "False", "reason": "Overlap",
             "message": "overlaps Eip pool", "lastTransitionTime": "2030-01-01T11:00:00Z"}]),
        ),
    ];
    let mut pools: Vec<PoolRow> = eips.iter().map(pool_row).collect();
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    Overview {
        peers: peer_rows(&[peer()]),
        services: service_rows(&services(), &eips, "network.kubesphere.io/porter"),
        pools,
    }
}

#[test]
fn tables_show_sessions_services_and_pools_at_a_glance() {
    let text = render(&overview(), Tables::All, now());
    let expected = "\
BGP sessions
NODE  PEER  NEIGHBOR    LOCAL AS  PEER AS  STATE        UPTIME      UPDATES IN/OUT  ADVERTISED  BFD  LAST ERROR
n1    tor1  10.200.1.1  65001     65000    Established  2h02m       4/7             3           Up
n2    tor1  10.200.1.1  65001     65000    Active       (down 40s)  0/0             -           -    Hold Timer Expired (received, 2030-01-01T11:59:20Z)

Services
SERVICE          ADDRESSES    POOL  ADVERTISEMENT (+ yes, - no)
default/waiting  -            -     ! no address yet (see `kubectl describe service` for its events)
default/web      203.0.113.1  pool  + n1 Advertised: 203.0.113.1: to tor1 with next hops from n1, n2
                                    - n2 NoEstablishedPeer: 203.0.113.1: no established peer on this node (next hops from n1, n2)

Pools
POOL  PROTOCOL  ADDRESS         USED/SIZE   STATUS
full  bgp       203.0.113.0/28  0/16 (0 %)  Valid: overlaps Eip pool
pool  bgp       203.0.113.0/28  1/16 (6 %)  Ready
";
    assert_eq!(text, expected, "\n{text}");
}

#[test]
fn a_session_not_established_is_named_and_filters_select_what_counts() {
    let o = overview();
    assert_eq!(o.peers_down(), ["n2/tor1 (Active)"]);
    let n1 = o.clone().filtered(&Filter {
        node: Some("n1".into()),
        peer: None,
    });
    assert!(n1.peers_down().is_empty());
    assert_eq!(n1.services[1].nodes.len(), 1, "{:?}", n1.services);
    let other = o.filtered(&Filter {
        node: None,
        peer: Some("tor9".into()),
    });
    assert!(other.peers.is_empty() && other.peers_down().is_empty());
}

#[test]
fn services_of_other_implementations_are_left_out_unless_they_hold_a_pool_address() {
    let names: Vec<String> = overview().services.into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["default/waiting", "default/web"]);
    // A Service that left porter but still holds a pool address is shown, with why.
    let eips = [eip(
        "pool",
        json!({"198.51.100.9": "default/metallb"}),
        json!([]),
    )];
    let rows = service_rows(&services(), &eips, "network.kubesphere.io/porter");
    let left = rows.iter().find(|s| s.name == "default/metallb").unwrap();
    assert!(left
        .problem
        .as_deref()
        .unwrap()
        .contains("no longer opted in"));
}

#[test]
fn json_output_keeps_every_field() {
    let v = serde_json::to_value(overview()).unwrap();
    assert_eq!(v["peers"][0]["advertised"], 3);
    assert_eq!(v["peers"][0]["bfd"], "Up");
    assert_eq!(v["peers"][1]["since"], "2030-01-01T11:59:20Z");
    assert_eq!(v["services"][1]["nodes"][1]["reason"], "NoEstablishedPeer");
    assert_eq!(v["pools"][0]["problems"][0], "Valid: overlaps Eip pool");
}

#[test]
fn ages_read_as_people_write_them() {
    let at = |s: &str| age(s, now()).unwrap();
    assert_eq!(at("2030-01-01T11:59:51Z"), "9s");
    assert_eq!(at("2030-01-01T11:55:48Z"), "4m12s");
    assert_eq!(at("2030-01-01T09:55:00Z"), "2h05m");
    assert_eq!(at("2029-12-29T08:00:00Z"), "3d4h");
    // A clock ahead of ours reads as 0 s, not as a negative age.
    assert_eq!(at("2030-01-01T12:00:05Z"), "0s");
    assert_eq!(age("yesterday", now()), None);
}

#[test]
fn a_standalone_status_document_reads_as_the_same_rows() {
    let doc = json!({
        "node": "edge1",
        "config": {"file": "/etc/porter.yaml", "bgp": true},
        "bgpPeers": {"r1": {
            "peerState": {"localAs": 65001, "peerAs": 65000, "neighborAddress": "10.200.1.1",
                          "sessionState": "ESTABLISHED"},
            "timersState": {"uptime": "2030-01-01T11:00:00Z"},
            "advertised": "1",
            "endOfRibReceived": ["ipv4-unicast"],
        }},
        "eips": {"pool": {"usage": 1, "poolSize": 16, "firstIP": "203.0.113.0",
                          "lastIP": "203.0.113.15", "used": {"203.0.113.1": "default/web"}}},
        "services": {
            "default/web": {"ip": "203.0.113.1", "ips": ["203.0.113.1"], "pools": ["pool"],
                            "protocols": ["bgp"],
                            "advertised": [{"peer": "r1", "nextHops": ["10.200.1.2"],
                                            "since": "2030-01-01T11:00:01Z"}]},
            "default/db": {"error": "pool `gone` does not exist"},
            "default/internal": {"ignored": "type ClusterIP, not LoadBalancer"},
        },
        "layer2": {},
    });
    let o = from_standalone_json(&doc.to_string()).unwrap();
    assert_eq!(o.peers.len(), 1);
    assert!(o.peers_down().is_empty());
    assert_eq!(o.peers[0].node, "edge1");
    assert_eq!(o.peers[0].advertised, Some(1));
    let names: Vec<&str> = o.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["default/db", "default/web"]);
    assert_eq!(
        o.services[0].problem.as_deref(),
        Some("pool `gone` does not exist")
    );
    assert_eq!(
        o.services[1].nodes,
        [NodeAdvert {
            node: "edge1".into(),
            ok: true,
            reason: "Advertised".into(),
            message: "to r1 with next hops 10.200.1.2".into(),
        }]
    );
    assert_eq!(o.pools[0].address, "203.0.113.0-203.0.113.15");
    assert!(from_standalone_json("{\"no\": 1}").is_err());
}
