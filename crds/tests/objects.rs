//! OpenELB objects load unchanged, defaults and validation behave as OpenELB's, errors name
//! their fields, and status is written in the shape OpenELB writes it.

use std::net::IpAddr;

use porter_crds::bgp_peer::{
    default_afi_safi, AdminState, Afi, Direction, EffectiveTimers, Family, LastError,
    MessageCounters, Messages, NodePeerStatus, PeerState, Safi, SessionState, TimersConfig,
    TimersState, DEFAULT_SEND_MAX,
};
use porter_crds::eip::Protocol;
use porter_crds::{parse_object, parse_yaml, AnyObject, BgpPeerStatus, ParseError, ProtoU64};
use serde_json::{json, Value};

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml_value(text: &str) -> Value {
    serde_yaml::from_str(text).expect("test YAML parses")
}

fn one(name: &str) -> AnyObject {
    let mut objects = parse_yaml(&data(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(objects.len(), 1);
    objects.remove(0)
}

fn time(s: &str) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    serde_json::from_value(json!(s)).unwrap()
}

// ---- OpenELB samples load -------------------------------------------------------------------

#[test]
fn loads_openelb_layer2_eip_with_status() {
    let AnyObject::Eip(eip) = one("eip-layer2.yaml") else {
        panic!("not an Eip")
    };
    assert_eq!(eip.metadata.name.as_deref(), Some("eip-sample-pool"));
    assert!(eip.is_default());
    assert_eq!(eip.spec.address, "198.51.100.91-198.51.100.100");
    assert_eq!(eip.spec.protocol, Protocol::Layer2);
    assert_eq!(eip.spec.interface.as_deref(), Some("eth0"));
    assert_eq!(eip.spec.priority, 10);
    assert_eq!(eip.spec.namespaces, ["namespace-1"]);
    assert_eq!(
        eip.spec.namespace_selector.get("label").map(String::as_str),
        Some("test")
    );
    let range = eip.spec.range().unwrap();
    assert_eq!(range.size(), 10);

    let status = eip.status.as_ref().unwrap();
    assert_eq!((status.usage, status.pool_size), (1, 10));
    assert_eq!(status.used["198.51.100.91"], "default/test-svc");
    assert_eq!(status.first_ip.as_deref(), Some("198.51.100.91"));
    assert_eq!(status.last_ip.as_deref(), Some("198.51.100.100"));
    assert!(status.ready && status.v4 && !status.occupied);
}

#[test]
fn eip_protocol_defaults_to_bgp() {
    let AnyObject::Eip(eip) = one("eip-bgp.yaml") else {
        panic!("not an Eip")
    };
    assert_eq!(eip.spec.protocol, Protocol::Bgp);
    assert!(!eip.is_default());
    assert!(eip.spec.using_known_ips);
    assert_eq!(eip.spec.range().unwrap().size(), 256);
}

#[test]
fn loads_openelb_bgpconf() {
    let AnyObject::BgpConf(conf) = one("bgpconf.yaml") else {
        panic!("not a BgpConf")
    };
    assert_eq!(conf.spec.asn, 50000);
    assert_eq!(conf.spec.listen_port, 17900);
    assert_eq!(conf.spec.router_id.as_deref(), Some("198.51.100.2"));
}

#[test]
fn loads_openelb_bgppeer() {
    let AnyObject::BgpPeer(peer) = one("bgppeer.yaml") else {
        panic!("not a BgpPeer")
    };
    assert_eq!(peer.spec.conf.peer_as, 50001);
    assert_eq!(peer.spec.afi_safis.len(), 1);
    let config = peer.spec.afi_safis[0].config.as_ref().unwrap();
    assert_eq!(config.family, Some(Family::IPV4_UNICAST));
    assert!(config.enabled);
    let labels = peer
        .spec
        .node_selector
        .as_ref()
        .unwrap()
        .match_labels
        .as_ref()
        .unwrap();
    assert_eq!(labels["openelb.kubesphere.io/rack"], "leaf1");
}

#[test]
fn loads_every_openelb_peer_field_and_string_timers() {
    let AnyObject::BgpPeer(peer) = one("bgppeer-full.yaml") else {
        panic!("not a BgpPeer")
    };
    let spec = &peer.spec;
    assert_eq!(spec.conf.auth_password.as_deref(), Some("s3cret"));
    assert_eq!(spec.conf.local_as, 64512);
    assert_eq!(spec.conf.allow_own_as, 1);
    assert_eq!(spec.ebgp_multihop.as_ref().unwrap().multihop_ttl, 3);
    let timers = spec.timers.as_ref().unwrap().config.as_ref().unwrap();
    assert_eq!(timers.hold_time, Some(ProtoU64(90)));
    assert_eq!(timers.connect_retry, Some(ProtoU64(10)));
    assert_eq!(
        spec.effective_timers().unwrap(),
        EffectiveTimers {
            connect_retry: 10,
            hold_time: 90,
            keepalive: 30,
            minimum_advertisement_interval: Some(0),
        }
    );
    let transport = spec.transport.as_ref().unwrap();
    assert!(transport.passive_mode && transport.mtu_discovery);
    assert_eq!((transport.remote_port, transport.tcp_mss), (179, 1400));
    assert_eq!(spec.graceful_restart.as_ref().unwrap().restart_time, 120);
    let v6 = spec.afi_safis[1].config.as_ref().unwrap().family.unwrap();
    assert_eq!((v6.afi, v6.safi), (Afi::Ip6, Safi::Unicast));
    assert_eq!((v6.afi.code(), v6.safi.code()), (2, 1));

    let status = peer.status.as_ref().unwrap();
    let node_a = &status.nodes_peer_status["node-a"];
    assert_eq!(
        node_a.peer_state.session_state,
        Some(SessionState::Established)
    );
    assert_eq!(node_a.peer_state.admin_state, Some(AdminState::Up));
    assert_eq!(node_a.peer_state.flops, 2);
    let received = node_a
        .peer_state
        .messages
        .as_ref()
        .unwrap()
        .received
        .as_ref()
        .unwrap();
    assert_eq!(received.keepalive, ProtoU64(1042));
    assert_eq!(received.notification, ProtoU64(0));
    assert_eq!(node_a.timers_state.negotiated_hold_time, Some(ProtoU64(90)));
    assert_eq!(
        node_a.timers_state.uptime,
        Some(time("2024-05-01T10:05:00Z"))
    );
    assert_eq!(
        status.nodes_peer_status["node-b"].peer_state.session_state,
        Some(SessionState::Active)
    );
}

#[test]
fn timers_accept_numbers_as_well_as_strings_and_write_strings() {
    let peer = json!({
        "apiVersion": "network.kubesphere.io/v1alpha2",
        "kind": "BgpPeer",
        "metadata": {"name": "p"},
        "spec": {
            "conf": {"neighborAddress": "2001:db8::1", "peerAs": 65001},
            "timers": {"config": {"holdTime": 9, "keepaliveInterval": "3"}}
        }
    });
    let AnyObject::BgpPeer(peer) = parse_object(&peer).unwrap() else {
        panic!()
    };
    let timers = peer.spec.effective_timers().unwrap();
    assert_eq!((timers.hold_time, timers.keepalive), (9, 3));
    let written = serde_json::to_value(&peer).unwrap();
    assert_eq!(
        written["spec"]["timers"]["config"],
        json!({"holdTime": "9", "keepaliveInterval": "3"})
    );
}

// ---- round trip -----------------------------------------------------------------------------

#[test]
fn every_sample_survives_a_round_trip() {
    for name in [
        "eip-layer2.yaml",
        "eip-bgp.yaml",
        "bgpconf.yaml",
        "bgppeer.yaml",
        "bgppeer-full.yaml",
    ] {
        let first = one(name);
        let written = serde_json::to_value(&first).unwrap();
        let second = parse_object(&written).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(first, second, "{name}");
        // Writing again gives the same document: the written form is a fixed point.
        assert_eq!(written, serde_json::to_value(&second).unwrap(), "{name}");
        assert_eq!(written["apiVersion"], "network.kubesphere.io/v1alpha2");
    }
}

#[test]
fn parse_yaml_reads_a_multi_document_stream() {
    let stream = format!(
        "{}\n---\n{}\n---\n",
        data("bgpconf.yaml"),
        data("bgppeer.yaml")
    );
    let objects = parse_yaml(&stream).unwrap();
    let kinds: Vec<_> = objects.iter().map(|o| (o.kind(), o.name())).collect();
    assert_eq!(
        kinds,
        [("BgpConf", "default"), ("BgpPeer", "bgppeer-sample")]
    );
}

// ---- defaulting -----------------------------------------------------------------------------

#[test]
fn peer_without_families_gets_the_neighbor_family_with_add_path_ten() {
    for (address, family) in [
        ("198.51.100.5", Family::IPV4_UNICAST),
        ("2001:db8::5", Family::IPV6_UNICAST),
    ] {
        let value = json!({
            "apiVersion": "network.kubesphere.io/v1alpha2",
            "kind": "BgpPeer",
            "metadata": {"name": "p"},
            "spec": {"conf": {"neighborAddress": address, "peerAs": 65001}}
        });
        let AnyObject::BgpPeer(peer) = parse_object(&value).unwrap() else {
            panic!()
        };
        let defaulted = peer.spec.with_defaults().unwrap();
        assert_eq!(
            defaulted.afi_safis,
            [default_afi_safi(address.parse().unwrap())]
        );
        let written = serde_json::to_value(&defaulted.afi_safis).unwrap();
        let afi = if family == Family::IPV4_UNICAST {
            "AFI_IP"
        } else {
            "AFI_IP6"
        };
        assert_eq!(
            written,
            json!([{
                "config": {"family": {"afi": afi, "safi": "SAFI_UNICAST"}, "enabled": true},
                "addPaths": {"config": {"sendMax": DEFAULT_SEND_MAX}}
            }])
        );
        // The input is untouched: defaulting is a pure function.
        assert!(peer.spec.afi_safis.is_empty());
    }
}

#[test]
fn defaulting_keeps_listed_families_and_needs_a_valid_neighbor() {
    let AnyObject::BgpPeer(peer) = one("bgppeer-full.yaml") else {
        panic!()
    };
    assert_eq!(peer.spec.with_defaults().unwrap(), peer.spec);

    let mut bad = peer.spec.clone();
    bad.afi_safis.clear();
    bad.conf.neighbor_address = "tor-1.example".into();
    let err = bad.with_defaults().unwrap_err();
    assert_eq!(err.path, "spec.conf.neighborAddress");
}

#[test]
fn timers_default_to_ninety_thirty_and_one_twenty() {
    let AnyObject::BgpPeer(peer) = one("bgppeer.yaml") else {
        panic!()
    };
    assert_eq!(
        peer.spec.effective_timers().unwrap(),
        EffectiveTimers {
            connect_retry: 120,
            hold_time: 90,
            keepalive: 30,
            minimum_advertisement_interval: None,
        }
    );
}

// ---- type errors name the field --------------------------------------------------------------

fn peer_with(spec_patch: Value) -> Value {
    let mut peer = yaml_value(&data("bgppeer.yaml"));
    merge(&mut peer["spec"], spec_patch);
    peer
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p,
    }
}

fn invalid_field(value: &Value) -> (String, String) {
    match parse_object(value) {
        Err(ParseError::InvalidField {
            path,
            message,
            kind,
            name,
        }) => {
            assert_eq!(kind, "BgpPeer");
            assert_eq!(name, "bgppeer-sample");
            (path, message)
        }
        other => panic!("expected InvalidField, got {other:?}"),
    }
}

#[test]
fn non_numeric_hold_time_names_its_path() {
    let (path, message) = invalid_field(&peer_with(
        json!({"timers": {"config": {"holdTime": "90s"}}}),
    ));
    assert_eq!(path, "spec.timers.config.holdTime");
    assert!(message.contains("90s"), "{message}");
}

#[test]
fn unknown_family_name_names_its_path_and_the_choices() {
    let (path, message) = invalid_field(&peer_with(
        json!({"afiSafis": [{"config": {"family": {"afi": "IPV4", "safi": "SAFI_UNICAST"}}}]}),
    ));
    assert_eq!(path, "spec.afiSafis[0].config.family.afi");
    assert!(message.contains("AFI_IP"), "{message}");
}

/// From the API (no file parser), an unknown family name must not make the object, and
/// with it the whole BgpPeer list, undecodable: it decodes, and validation names it.
#[test]
fn unknown_family_from_the_api_decodes_and_validation_names_it() {
    let value = peer_with(json!({"afiSafis": [
        {"config": {"family": {"afi": "AFI_IP", "safi": "SAFI_UNICAST"}, "enabled": true}},
        {"config": {"family": {"afi": "AFI_BOGUS", "safi": "SAFI_UNICAST"}, "enabled": true}}]}));
    let peer: porter_crds::BgpPeer = serde_json::from_value(value).unwrap();
    let config = peer.spec.afi_safis[1].config.as_ref().unwrap();
    assert_eq!(config.family, None);
    assert!(config
        .unrecognized_family
        .as_deref()
        .unwrap()
        .contains("AFI_BOGUS"));
    let err = peer.spec.validate().unwrap_err().to_string();
    assert!(
        err.contains("spec.afiSafis[1].config.family") && err.contains("AFI_BOGUS"),
        "{err}"
    );
    // Written back, the unknown text is not invented into a family.
    let out = serde_json::to_value(&peer.spec).unwrap();
    assert_eq!(out["afiSafis"][1]["config"], json!({"enabled": true}));
}

/// Fields porter does not know, from the API (where a real API server would have pruned
/// them): ignored by the types, the rest of the object read as usual.
#[test]
fn unknown_fields_from_the_api_are_ignored() {
    let value = peer_with(
        json!({"timers": {"config": {"holdTime": "9", "holdtime": "90"}},
                                 "usingPortForward": true}),
    );
    let peer: porter_crds::BgpPeer = serde_json::from_value(value).unwrap();
    let timers = peer.spec.effective_timers().unwrap();
    assert_eq!(timers.hold_time, 9);
    assert!(peer.spec.validate().is_ok());
}

#[test]
fn out_of_range_port_and_missing_peer_as_name_their_paths() {
    let (path, _) = invalid_field(&peer_with(json!({"transport": {"remotePort": 70000}})));
    assert_eq!(path, "spec.transport.remotePort");

    let mut value = peer_with(json!({}));
    value["spec"]["conf"]
        .as_object_mut()
        .unwrap()
        .remove("peerAs");
    let (path, message) = invalid_field(&value);
    assert_eq!(path, "spec.conf");
    assert!(message.contains("peerAs"), "{message}");
}

#[test]
fn unknown_fields_are_rejected_and_all_listed() {
    let mut value =
        peer_with(json!({"timers": {"config": {"holdtime": "90"}}, "usingPortForward": true}));
    value["metadata"]["labelz"] = json!({});
    match parse_object(&value) {
        Err(ParseError::UnknownFields { kind, name, paths }) => {
            assert_eq!((kind, name.as_str()), ("BgpPeer", "bgppeer-sample"));
            assert_eq!(
                paths,
                [
                    "metadata.labelz",
                    "spec.timers.config.holdtime",
                    "spec.usingPortForward"
                ]
            );
            let text = ParseError::UnknownFields { kind, name, paths }.to_string();
            assert!(text.contains("spec.timers.config.holdtime"), "{text}");
        }
        other => panic!("expected UnknownFields, got {other:?}"),
    }
}

#[test]
fn dispatch_errors_are_specific() {
    assert!(matches!(
        parse_object(&json!([1])),
        Err(ParseError::NotAnObject { found: "a list" })
    ));
    assert!(matches!(
        parse_object(&json!({"kind": "Eip"})),
        Err(ParseError::MissingTypeField {
            field: "apiVersion"
        })
    ));
    let old = json!({"apiVersion": "network.kubesphere.io/v1alpha1", "kind": "Eip", "metadata": {}, "spec": {}});
    let err = parse_object(&old).unwrap_err();
    assert!(matches!(err, ParseError::UnsupportedApiVersion { .. }));
    assert!(
        err.to_string().contains("network.kubesphere.io/v1alpha2"),
        "{err}"
    );
    let service = json!({"apiVersion": "v1", "kind": "Service"});
    assert!(matches!(
        parse_object(&service),
        Err(ParseError::UnknownKind { .. })
    ));
}

#[test]
fn yaml_syntax_errors_give_the_document_index() {
    let stream = format!("{}\n---\nkind: [unclosed\n", data("bgpconf.yaml"));
    match parse_yaml(&stream) {
        Err(ParseError::Yaml { index, message }) => {
            assert_eq!(index, 1);
            assert!(message.contains("line"), "{message}");
        }
        other => panic!("expected a YAML error, got {other:?}"),
    }
}

// ---- validation beyond types ----------------------------------------------------------------

fn validation_paths(value: Value) -> Vec<String> {
    let object = parse_object(&value).unwrap_or_else(|e| panic!("should parse: {e}"));
    let errs = object.validate().expect_err("should not validate");
    // parse_yaml reports the same problems through ParseError::Invalid, naming the object.
    let as_parse = object.check().unwrap_err().to_string();
    assert!(as_parse.contains(object.name()), "{as_parse}");
    errs.errors().iter().map(|e| e.path.clone()).collect()
}

#[test]
fn peer_validation_names_each_bad_field() {
    let paths = validation_paths(peer_with(json!({
        "conf": {"neighborAddress": "198.51.100.300", "peerAs": 0},
        "timers": {"config": {"holdTime": "2", "connectRetry": "70000"}},
        "transport": {"localAddress": "eth0"},
        "afiSafis": [
            {"config": {"family": {"afi": "AFI_L2VPN", "safi": "SAFI_EVPN"}, "enabled": true}},
            {"config": {"enabled": true}}
        ],
        "nodeSelector": {"matchExpressions": [{"key": "rack", "operator": "In"}]},
        "gracefulRestart": {"enabled": true, "restartTime": 5000}
    })));
    assert_eq!(
        paths,
        [
            "spec.conf.neighborAddress",
            "spec.conf.peerAs",
            "spec.timers.config.connectRetry",
            "spec.timers.config.holdTime",
            "spec.transport.localAddress",
            "spec.gracefulRestart.restartTime",
            "spec.afiSafis[0].config.family",
            "spec.afiSafis[1].config.family",
            "spec.nodeSelector.matchExpressions[0].values",
        ]
    );
}

#[test]
fn keepalive_must_be_below_hold_time() {
    let paths = validation_paths(peer_with(
        json!({"timers": {"config": {"holdTime": "30", "keepaliveInterval": "30"}}}),
    ));
    assert_eq!(paths, ["spec.timers.config.keepaliveInterval"]);
    // Against the default hold time of 90 when only the keepalive is given.
    let paths = validation_paths(peer_with(
        json!({"timers": {"config": {"keepaliveInterval": 95}}}),
    ));
    assert_eq!(paths, ["spec.timers.config.keepaliveInterval"]);
}

#[test]
fn hold_time_zero_disables_keepalives_and_three_is_the_minimum() {
    let timers = |hold: u64| {
        let mut spec = match one("bgppeer.yaml") {
            AnyObject::BgpPeer(p) => p.spec,
            _ => unreachable!(),
        };
        spec.timers = Some(porter_crds::bgp_peer::Timers {
            config: Some(TimersConfig {
                hold_time: Some(ProtoU64(hold)),
                keepalive_interval: Some(ProtoU64(10)),
                ..Default::default()
            }),
        });
        spec.effective_timers()
    };
    let zero = timers(0).unwrap();
    assert_eq!((zero.hold_time, zero.keepalive), (0, 0));
    assert!(timers(1)
        .unwrap_err()
        .has_path("spec.timers.config.holdTime"));
    assert!(timers(2).is_err());
    assert!(timers(3)
        .unwrap_err()
        .has_path("spec.timers.config.keepaliveInterval"));
    assert_eq!(timers(11).unwrap().keepalive, 10);
    assert!(timers(65536)
        .unwrap_err()
        .has_path("spec.timers.config.holdTime"));
}

#[test]
fn bfd_settings_are_checked_as_the_schema_checks_them() {
    let paths = validation_paths(peer_with(json!({
        "bfd": {"enabled": true, "minRxIntervalMs": 9, "minTxIntervalMs": 60001, "multiplier": 0},
        "ebgpMultihop": {"enabled": true}
    })));
    assert_eq!(
        paths,
        [
            "spec.bfd.minRxIntervalMs",
            "spec.bfd.minTxIntervalMs",
            "spec.bfd.multiplier",
            "spec.bfd",
        ]
    );
    // off, nothing in it is checked (as the schema's rule does not look inside either)
    let off = peer_with(json!({"bfd": {"enabled": false}, "ebgpMultihop": {"enabled": true}}));
    parse_object(&off).unwrap().validate().unwrap();
    // a Detect Mult above 255 does not fit the field: a parse error naming it
    let err = parse_object(&peer_with(
        json!({"bfd": {"enabled": true, "multiplier": 256}}),
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("spec.bfd.multiplier"), "{err}");
}

#[test]
fn family_listed_twice_is_reported() {
    let entry =
        json!({"config": {"family": {"afi": "AFI_IP", "safi": "SAFI_UNICAST"}, "enabled": true}});
    let paths = validation_paths(peer_with(json!({"afiSafis": [entry.clone(), entry]})));
    assert_eq!(paths, ["spec.afiSafis[1].config.family"]);
}

#[test]
fn eip_validation_names_each_bad_field() {
    let eip = |spec: Value| json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip", "metadata": {"name": "e"}, "spec": spec});
    assert_eq!(
        validation_paths(eip(json!({"address": "203.0.113.9-203.0.113.1"}))),
        ["spec.address"]
    );
    assert_eq!(
        validation_paths(eip(
            json!({"address": "203.0.113.0/24", "protocol": "layer2"})
        )),
        ["spec.interface"]
    );
    assert_eq!(
        validation_paths(eip(
            json!({"address": "203.0.113.0/24", "protocol": "layer2", "interface": "can_reach:gw"})
        )),
        ["spec.interface"]
    );
    assert_eq!(
        validation_paths(eip(json!({"address": "203.0.113.0/24", "protocol": "vip"}))),
        ["spec.protocol"]
    );
    assert_eq!(
        validation_paths(eip(
            json!({"address": "2001:db8::/64", "namespaces": ["ok", "Not_OK"]})
        )),
        ["spec.namespaces[1]"]
    );
    let ok = parse_object(&eip(json!({"address": "2001:db8::10-2001:db8::20", "protocol": "layer2", "interface": "can_reach:2001:db8::1"}))).unwrap();
    ok.validate().unwrap();
}

#[test]
fn bgpconf_validation_names_each_bad_field() {
    let conf = |name: &str, spec: Value| json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf", "metadata": {"name": name}, "spec": spec});
    assert_eq!(
        validation_paths(conf(
            "default",
            json!({"as": 0, "routerId": "2001:db8::1", "listenPort": 70000, "listenAddresses": ["0.0.0.0", "any"]})
        )),
        [
            "spec.as",
            "spec.routerId",
            "spec.listenPort",
            "spec.listenAddresses[1]"
        ]
    );
    assert_eq!(
        validation_paths(conf("default", json!({"as": 65000, "routerId": "0.0.0.0"}))),
        ["spec.routerId"]
    );
    assert_eq!(
        validation_paths(conf("other", json!({"as": 65000}))),
        ["metadata.name"]
    );
    let ok = parse_object(&conf(
        "default",
        json!({"as": 65000, "listenPort": -1, "asPerRack": {"rack1": 65001}}),
    ))
    .unwrap();
    ok.validate().unwrap();
}

// ---- status shape ---------------------------------------------------------------------------

#[test]
fn status_is_written_as_openelb_writes_it() {
    let node = NodePeerStatus {
        peer_state: PeerState {
            neighbor_address: Some("198.51.100.1".into()),
            peer_as: 64513,
            local_as: 64512,
            session_state: Some(SessionState::OpenConfirm),
            admin_state: Some(AdminState::Up),
            flops: 1,
            messages: Some(Messages {
                received: Some(MessageCounters {
                    open: ProtoU64(1),
                    total: ProtoU64(1),
                    ..Default::default()
                }),
                sent: Some(MessageCounters {
                    open: ProtoU64(1),
                    keepalive: ProtoU64(u64::MAX),
                    total: ProtoU64(u64::MAX),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        },
        timers_state: TimersState {
            hold_time: ProtoU64(90),
            keepalive_interval: ProtoU64(30),
            negotiated_hold_time: Some(ProtoU64(9)),
            uptime: Some(time("2024-05-01T10:05:00Z")),
            ..Default::default()
        },
        last_error: Some(LastError {
            direction: Direction::Received,
            code: 4,
            subcode: 0,
            reason: "Hold Timer Expired".into(),
            time: time("2024-05-01T10:04:31Z"),
        }),
        bfd: None,
        advertised: Some(ProtoU64(2)),
    };
    let status = BgpPeerStatus {
        nodes_peer_status: [("node-a".to_string(), node)].into(),
        ..BgpPeerStatus::default()
    };
    assert_eq!(
        serde_json::to_value(&status).unwrap(),
        json!({"nodesPeerStatus": {"node-a": {
            "peerState": {
                "localAs": 64512,
                "messages": {
                    "received": {"open": "1", "total": "1"},
                    "sent": {"open": "1", "keepalive": "18446744073709551615", "total": "18446744073709551615"}
                },
                "neighborAddress": "198.51.100.1",
                "peerAs": 64513,
                "sessionState": "OPENCONFIRM",
                "adminState": "UP",
                "flops": 1
            },
            "timersState": {
                "holdTime": "90",
                "keepaliveInterval": "30",
                "negotiatedHoldTime": "9",
                "uptime": "2024-05-01T10:05:00Z"
            },
            "lastError": {
                "direction": "received",
                "code": 4,
                "subcode": 0,
                "reason": "Hold Timer Expired",
                "time": "2024-05-01T10:04:31Z"
            },
            "advertised": "2"
        }}})
    );
}

#[test]
fn session_state_names_are_gobgps() {
    let names: Vec<Value> = [
        SessionState::Unknown,
        SessionState::Idle,
        SessionState::Connect,
        SessionState::Active,
        SessionState::OpenSent,
        SessionState::OpenConfirm,
        SessionState::Established,
    ]
    .iter()
    .map(|s| serde_json::to_value(s).unwrap())
    .collect();
    assert_eq!(
        names,
        [
            json!("UNKNOWN"),
            json!("IDLE"),
            json!("CONNECT"),
            json!("ACTIVE"),
            json!("OPENSENT"),
            json!("OPENCONFIRM"),
            json!("ESTABLISHED")
        ]
    );
}

#[test]
fn eip_status_conditions_carry_observed_generation() {
    let mut eip = match one("eip-bgp.yaml") {
        AnyObject::Eip(e) => e,
        _ => unreachable!(),
    };
    eip.status = Some(porter_crds::EipStatus {
        pool_size: 256,
        first_ip: Some("203.0.113.0".into()),
        last_ip: Some("203.0.113.255".into()),
        v4: true,
        conditions: vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
            type_: "Valid".into(),
            status: "True".into(),
            reason: "AddressParsed".into(),
            message: String::new(),
            observed_generation: Some(7),
            last_transition_time: time("2024-05-01T10:00:00Z"),
        }],
        ..Default::default()
    });
    let written = serde_json::to_value(&eip).unwrap();
    assert_eq!(written["status"]["conditions"][0]["observedGeneration"], 7);
    assert_eq!(written["status"]["firstIP"], "203.0.113.0");
    assert_eq!(written["status"]["poolSize"], 256);
    assert!(
        written["status"].get("usage").is_none(),
        "zero usage is left out as OpenELB does"
    );
    assert_eq!(parse_object(&written).unwrap(), AnyObject::Eip(eip));
}

#[test]
fn auth_password_never_reaches_debug_output() {
    let AnyObject::BgpPeer(peer) = one("bgppeer-full.yaml") else {
        panic!()
    };
    let debug = format!("{peer:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(debug.contains("<redacted>"));
}

#[test]
fn neighbor_ip_parses_both_families() {
    let AnyObject::BgpPeer(mut peer) = one("bgppeer.yaml") else {
        panic!()
    };
    assert_eq!(
        peer.spec.neighbor_ip().unwrap(),
        "198.51.100.5".parse::<IpAddr>().unwrap()
    );
    peer.spec.conf.neighbor_address = "2001:db8::5".into();
    assert!(peer.spec.neighbor_ip().unwrap().is_ipv6());
}
