//! `porter import metallb` on configurations written after MetalLB's documentation (its
//! configuration page, advanced BGP/L2/pool pages and CRD reference): each test checks what
//! was carried over, what was reported, the exit status, and that the output loads and
//! translates with porter's own standalone loader.

use porter_crds::{AnyObject, BgpPeer, Eip};

use super::metallb::import;
use super::{Input, InputErrors, Output, EXIT_NOT_CARRIED};
use crate::standalone::load;
use crate::standalone::model::{translate, Holdings, Node, Options};

/// A layer-2 pool and the L2Advertisement that announces it (the configuration page).
const L2: &str = include_str!("../../tests/data/metallb/l2.yaml");

/// A BGP pool, one router, a plain BGPAdvertisement (the configuration page), with the
/// session settings of the advanced BGP page.
const BGP: &str = include_str!("../../tests/data/metallb/bgp.yaml");

/// A Community and a BGPAdvertisement of bgp.yaml's pool with every policy field porter lacks.
const POLICY: &str = include_str!("../../tests/data/metallb/policy.yaml");

/// A v1beta2 BGPPeer document in metallb-system; `spec` is its spec, indented by two.
fn peer(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: {name}\n  \
         namespace: metallb-system\nspec:\n{spec}"
    )
}

/// An L2Advertisement of every pool in metallb-system.
const L2_ALL: &str = "---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  \
                      name: all\n  namespace: metallb-system\n";

fn input(name: &str, text: &str) -> Input {
    Input {
        name: name.into(),
        bytes: text.as_bytes().to_vec(),
    }
}

fn import_text(text: &str) -> Result<Output, InputErrors> {
    import(&[input("metallb.yaml", text)])
}

/// Imports, and checks that the output loads and translates for a node.
fn imported(text: &str) -> Output {
    let output = import_text(text).unwrap_or_else(|e| panic!("import failed:\n{e}"));
    let yaml = output.to_yaml();
    let objects = load::parse(yaml.as_bytes())
        .unwrap_or_else(|e| panic!("output does not load:\n{e}\n{yaml}"));
    let node = Node {
        name: "node1".into(),
        labels: [("rack".to_owned(), "frontend".to_owned())].into(),
        addresses: vec!["10.0.0.2".parse().unwrap()],
    };
    if let Err(e) = translate(&objects, &node, &Options::default(), &Holdings::new()) {
        panic!("output does not translate:\n{e}\n{yaml}");
    }
    output
}

fn eips(output: &Output) -> Vec<&Eip> {
    output
        .objects
        .iter()
        .filter_map(|e| match &e.object {
            AnyObject::Eip(eip) => Some(eip),
            _ => None,
        })
        .collect()
}

fn peers(output: &Output) -> Vec<&BgpPeer> {
    output
        .objects
        .iter()
        .filter_map(|e| match &e.object {
            AnyObject::BgpPeer(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// The lost findings as printed, for `contains` checks.
fn lost(output: &Output) -> Vec<String> {
    output
        .all_findings()
        .filter(|f| f.lost)
        .map(ToString::to_string)
        .collect()
}

fn assert_lost(output: &Output, needle: &str) {
    let found = lost(output);
    assert!(
        found.iter().any(|f| f.contains(needle)),
        "no lost finding contains {needle:?}: {found:#?}"
    );
}

#[test]
fn layer2_pool_and_advertisement_carry_over() {
    let out = imported(L2);
    assert_eq!(out.exit_code(), 0, "{:#?}", lost(&out));
    let eips = eips(&out);
    assert_eq!(eips.len(), 1);
    let eip = eips[0];
    assert_eq!(eip.metadata.name.as_deref(), Some("first-pool"));
    assert_eq!(eip.spec.address, "192.168.1.240-192.168.1.250");
    assert_eq!(eip.spec.protocol, porter_crds::eip::Protocol::Layer2);
    // MetalLB answers on every interface; the route to the pool picks porter's one.
    assert_eq!(
        eip.spec.interface.as_deref(),
        Some("can_reach:192.168.1.240")
    );
    assert!(eip.is_default(), "autoAssign (default true) → default pool");
    assert!(out
        .to_yaml()
        .contains("first-pool → eip.openelb.kubesphere.io/v1alpha2: first-pool"));
}

#[test]
fn l2advertisement_interfaces_name_the_interface() {
    let one = L2.replace(
        "  - first-pool\n",
        "  - first-pool\n  interfaces:\n  - eth1\n",
    );
    let out = imported(&one);
    assert_eq!(eips(&out)[0].spec.interface.as_deref(), Some("eth1"));
    assert_eq!(out.exit_code(), 0);

    let two = L2.replace(
        "  - first-pool\n",
        "  - first-pool\n  interfaces:\n  - eth1\n  - eth2\n",
    );
    let out = imported(&two);
    assert_eq!(eips(&out)[0].spec.interface.as_deref(), Some("eth1"));
    assert_eq!(out.exit_code(), EXIT_NOT_CARRIED);
    assert_lost(&out, "porter answers on one interface per Eip");
}

#[test]
fn bgp_peer_pool_and_advertisement_carry_over() {
    let out = imported(BGP);
    assert_eq!(out.exit_code(), 0, "{:#?}", lost(&out));
    let AnyObject::BgpConf(conf) = &out.objects[0].object else {
        panic!("BgpConf first: {:?}", out.objects[0]);
    };
    assert_eq!(conf.spec.asn, 64500);
    assert_eq!(conf.spec.router_id.as_deref(), Some("10.10.10.10"));
    let peer = &peers(&out)[0].spec;
    assert_eq!(peer.conf.neighbor_address, "10.0.0.1");
    assert_eq!(peer.conf.peer_as, 64501);
    assert_eq!(peer.conf.local_as, 0, "same AS as the BgpConf");
    assert_eq!(peer.conf.auth_password.as_deref(), Some("s3cret"));
    let transport = peer.transport.as_ref().unwrap();
    assert_eq!(transport.local_address.as_deref(), Some("10.0.0.2"));
    assert_eq!(transport.remote_port, 1179);
    let timers = peer.timers.as_ref().unwrap().config.clone().unwrap();
    assert_eq!(timers.hold_time.map(|t| t.0), Some(90));
    assert_eq!(timers.keepalive_interval.map(|t| t.0), Some(30));
    assert_eq!(timers.connect_retry.map(|t| t.0), Some(5));
    assert!(peer.graceful_restart.as_ref().unwrap().enabled);
    let selector = peer.node_selector.as_ref().unwrap();
    assert_eq!(
        selector.match_labels.as_ref().unwrap()["rack"],
        "frontend".to_owned()
    );
    let eip = eips(&out)[0];
    assert_eq!(eip.spec.address, "198.51.100.0/24");
    assert_eq!(eip.spec.protocol, porter_crds::eip::Protocol::Bgp);
    // MetalLB hands out a CIDR's network and broadcast addresses; porter only when told.
    assert!(eip.spec.using_known_ips);
}

#[test]
fn bfd_profile_becomes_inline_bfd() {
    // The configuration page's BFD example.
    let text = "
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata:
  name: testbfdprofile
  namespace: metallb-system
spec:
  receiveInterval: 380
  transmitInterval: 270
  detectMultiplier: 5
  passiveMode: true
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: peersample
  namespace: metallb-system
spec:
  myASN: 64512
  peerASN: 64512
  peerAddress: 172.30.0.3
  bfdProfile: testbfdprofile
";
    let out = imported(text);
    assert_eq!(out.exit_code(), 0, "{:#?}", lost(&out));
    let bfd = peers(&out)[0].spec.bfd.clone().unwrap();
    assert!(bfd.enabled && bfd.passive && !bfd.strict);
    assert_eq!(bfd.min_rx_interval_ms, Some(380));
    assert_eq!(bfd.min_tx_interval_ms, Some(270));
    assert_eq!(bfd.multiplier, Some(5));

    let echo = imported(&text.replace("  passiveMode: true\n", "  echoMode: true\n"));
    assert_eq!(echo.exit_code(), EXIT_NOT_CARRIED);
    assert_lost(
        &echo,
        "BFDProfile metallb-system/testbfdprofile spec.echoMode",
    );

    let missing = imported(&text.replace("bfdProfile: testbfdprofile", "bfdProfile: other"));
    assert_lost(&missing, "BFDProfile other is not in the input");
    assert!(peers(&missing)[0].spec.bfd.is_none());
}

#[test]
fn advertisement_policy_is_reported_not_carried() {
    // The advanced BGP page: communities (one by alias), local preference, aggregation,
    // peers and nodes.
    let text = format!("{BGP}{POLICY}");
    let out = imported(&text);
    assert_eq!(out.exit_code(), EXIT_NOT_CARRIED);
    assert_lost(
        &out,
        "BGPAdvertisement metallb-system/local spec.aggregationLength: /24",
    );
    assert_lost(&out, "spec.localPref: 50");
    assert_lost(
        &out,
        "spec.communities: [NO_ADVERTISE (= 65535:65282 from Community metallb-system/communities), 64512:100]: porter has no community policy yet",
    );
    assert_lost(&out, "spec.peers: [other-peer]");
    assert_lost(
        &out,
        "BGPAdvertisement metallb-system/local spec.nodeSelectors",
    );
    assert!(
        !lost(&out).iter().any(|f| f.contains("aggregationLengthV6")),
        "the default /128 is no loss"
    );
    assert!(out
        .to_yaml()
        .contains("# NOT CARRIED OVER: BGPAdvertisement metallb-system/local spec.localPref: 50"));
    // The pool itself is still carried over.
    assert_eq!(eips(&out).len(), 1);
}

#[test]
fn password_secret_is_read_from_a_secret_in_the_input_or_reported() {
    let peer = [
        peer("secure", "  myASN: 64512\n  peerASN: 64513\n  peerAddress: 10.0.0.1\n  passwordSecret:\n    name: bgp-password\n"),
    ]
    .concat();
    let out = imported(&peer);
    assert_eq!(out.exit_code(), EXIT_NOT_CARRIED);
    assert_lost(&out, "spec.passwordSecret: metallb-system/bgp-password");
    assert_eq!(peers(&out)[0].spec.conf.auth_password, None);

    let secret = "---
apiVersion: v1
kind: Secret
type: kubernetes.io/basic-auth
metadata:
  name: bgp-password
  namespace: metallb-system
data:
  password: czNjcmV0
";
    let out = imported(&format!("{peer}{secret}"));
    assert_eq!(out.exit_code(), 0, "{:#?}", lost(&out));
    assert_eq!(
        peers(&out)[0].spec.conf.auth_password.as_deref(),
        Some("s3cret")
    );
}

#[test]
fn a_second_my_asn_becomes_the_peers_local_as() {
    let text = [
        peer(
            "a",
            "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n",
        ),
        peer(
            "b",
            "  myASN: 64600\n  peerASN: 64601\n  peerAddress: 10.0.0.5\n",
        ),
        peer(
            "c",
            "  myASN: 64500\n  localASN: 64700\n  peerASN: 64701\n  peerAddress: 10.0.0.9\n",
        ),
    ]
    .concat();
    let out = imported(&text);
    assert_eq!(out.exit_code(), 0, "{:#?}", lost(&out));
    let local: Vec<u32> = peers(&out).iter().map(|p| p.spec.conf.local_as).collect();
    assert_eq!(local, [0, 64600, 64700]);
}

#[test]
fn v1beta1_and_v1beta2_peers_read_alike() {
    let v1beta2 = peer(
        "sample",
        "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n  holdTime: 120s\n  \
         ebgpMultiHop: true\n  nodeSelectors:\n  - matchExpressions:\n    - key: \
         kubernetes.io/hostname\n      operator: In\n      values: [node1, node2]\n",
    );
    let v1beta1 = v1beta2.replace("metallb.io/v1beta2", "metallb.io/v1beta1");
    let a = imported(&v1beta2);
    let b = imported(&v1beta1);
    assert_eq!(a.exit_code(), 0, "{:#?}", lost(&a));
    assert_eq!(peers(&a)[0].spec, peers(&b)[0].spec);
    let multihop = peers(&a)[0].spec.ebgp_multihop.clone().unwrap();
    assert!(multihop.enabled);
}

#[test]
fn several_node_selectors_on_one_label_become_an_in_expression() {
    let text = [
        peer("tor", "  myASN: 64500\n  peerASN: 64501\n  peerAddress: 10.0.0.1\n  nodeSelectors:\n  - matchLabels:\n      rack: frontend\n  - matchLabels:\n      rack: backend\n"),
    ]
    .concat();
    let out = imported(&text);
    assert_eq!(out.exit_code(), 0);
    let selector = peers(&out)[0].spec.node_selector.clone().unwrap();
    let expression = &selector.match_expressions.unwrap()[0];
    assert_eq!(
        (expression.key.as_str(), expression.operator.as_str()),
        ("rack", "In")
    );
    assert_eq!(
        expression.values.as_deref().unwrap(),
        ["frontend", "backend"]
    );

    let mixed = text.replace("      rack: backend", "      zone: b");
    let out = imported(&mixed);
    assert_lost(&out, "spec.nodeSelectors: 2 selectors on different labels");
    assert!(peers(&out)[0].spec.node_selector.is_none());
}

#[test]
fn dynamic_asn_internal_is_our_as_external_cannot_be_written() {
    let text = [
        peer(
            "ibgp",
            "  myASN: 64500\n  dynamicASN: internal\n  peerAddress: 10.0.0.1\n",
        ),
        peer(
            "ebgp",
            "  myASN: 64500\n  dynamicASN: external\n  peerAddress: 10.0.0.2\n",
        ),
    ]
    .concat();
    let out = imported(&text);
    assert_eq!(peers(&out).len(), 1);
    assert_eq!(peers(&out)[0].spec.conf.peer_as, 64500);
    assert_lost(
        &out,
        "BGPPeer metallb-system/ebgp spec.dynamicASN: external",
    );
}

#[test]
fn a_pool_announced_both_ways_or_not_at_all_is_reported() {
    let both = format!(
        "{L2}---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: everything
  namespace: metallb-system
"
    );
    let out = imported(&both);
    assert_lost(&out, "an Eip is announced one way; written as bgp");
    assert_eq!(eips(&out)[0].spec.protocol, porter_crds::eip::Protocol::Bgp);

    let none = L2.split("---").next().unwrap();
    let out = imported(none);
    assert_lost(
        &out,
        "MetalLB assigns its addresses without announcing them",
    );
}

#[test]
fn service_allocation_binds_namespaces_and_orders_unset_priority_last() {
    let text = format!(
        "{}{L2_ALL}",
        "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: ns-pool
  namespace: metallb-system
spec:
  addresses: [192.0.2.0/28]
  serviceAllocation:
    priority: 50
    namespaces: [team-a]
    namespaceSelectors:
    - matchLabels:
        team: b
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: unset
  namespace: metallb-system
spec:
  addresses: [192.0.2.16/28]
  serviceAllocation:
    namespaces: [team-a]
"
    );
    let out = imported(&text);
    assert_eq!(out.exit_code(), 0, "{:#?}", lost(&out));
    let eips = eips(&out);
    assert_eq!(eips[0].spec.namespaces, ["team-a"]);
    assert_eq!(eips[0].spec.namespace_selector["team"], "b");
    assert_eq!(eips[0].spec.priority, 50);
    assert_eq!(
        eips[1].spec.priority, 51,
        "no priority comes after those with one"
    );
    assert!(
        !eips[0].is_default() && !eips[1].is_default(),
        "bound pools are not default"
    );

    let selectors = text.replace(
        "  serviceAllocation:\n    priority: 50",
        "  serviceAllocation:\n    serviceSelectors:\n    - matchLabels: {app: web}\n    priority: 50",
    );
    assert_lost(
        &imported(&selectors),
        "spec.serviceAllocation.serviceSelectors",
    );
}

#[test]
fn avoid_buggy_ips_trims_the_range_or_reports_what_remains() {
    let pool = |address: &str| {
        format!(
            "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: p
spec:
  avoidBuggyIPs: true
  addresses: [{address}]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: all
"
        )
    };
    let out = imported(&pool("192.168.1.0/24"));
    assert_eq!(eips(&out)[0].spec.address, "192.168.1.0/24");
    assert!(!eips(&out)[0].spec.using_known_ips);
    let out = imported(&pool("192.168.1.0-192.168.1.255"));
    assert_eq!(eips(&out)[0].spec.address, "192.168.1.1-192.168.1.254");
    assert_eq!(out.exit_code(), 0);
    let out = imported(&pool("192.168.0.0/23"));
    assert_eq!(eips(&out)[0].spec.address, "192.168.0.1-192.168.1.254");
    assert_lost(&out, "still holds addresses ending in .0 or .255");
}

#[test]
fn unknown_fields_and_kinds_are_reported_and_other_kinds_skipped() {
    let text = format!(
        "{L2}---
apiVersion: v1
kind: ConfigMap
metadata:
  name: config
  namespace: metallb-system
data:
  config: |
    address-pools: []
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: controller
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: future
  namespace: metallb-system
spec:
  ipAddressPools: [nowhere]
  somethingNew: true
"
    );
    let out = imported(&text);
    assert_lost(&out, "ConfigMap config");
    assert_lost(&out, "configmaptocrs");
    assert_lost(
        &out,
        "BGPAdvertisement metallb-system/future spec.somethingNew: unknown field",
    );
    assert_lost(&out, "IPAddressPool nowhere is not in the input");
    assert!(out
        .all_findings()
        .any(|f| !f.lost && f.object.starts_with("Deployment controller")));
}

#[test]
fn a_kubectl_list_reads_like_separate_documents() {
    let items: Vec<String> = L2
        .split("---")
        .map(|doc| {
            doc.trim()
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
                .replacen("    ", "  - ", 1)
        })
        .collect();
    let list = format!("apiVersion: v1\nkind: List\nitems:\n{}\n", items.join("\n"));
    let out = imported(&list);
    assert_eq!(eips(&out).len(), 1, "{list}");
    assert_eq!(out.read, 2);
}

#[test]
fn invalid_input_names_file_document_and_field() {
    let bad_type = BGP.replace("myASN: 64500", "myASN: many");
    let e = import_text(&bad_type).unwrap_err().to_string();
    assert!(
        e.contains("metallb.yaml document 1 (BGPPeer sample): spec.myASN: invalid type"),
        "{e}"
    );
    let bad_address = BGP.replace("198.51.100.0/24", "198.51.100.0/33");
    let e = import_text(&bad_address).unwrap_err().to_string();
    assert!(
        e.contains("IPAddressPool metallb-system/bgp-pool (metallb.yaml document 2): spec.addresses[0]: prefix length /33"),
        "{e}"
    );
    let e = import_text("key: [unclosed").unwrap_err().to_string();
    assert!(
        e.starts_with("metallb.yaml document 1: not valid YAML"),
        "{e}"
    );
    // An alias without its anchor: the input serde_yaml 0.9 panics on, caught.
    let e = import_text("spec: *missing\n").unwrap_err().to_string();
    assert!(e.contains("not valid YAML"), "{e}");
    let e = import_text("- just\n- a list\n").unwrap_err().to_string();
    assert!(e.contains("expected an object"), "{e}");
    let e = import(&[Input {
        name: "bin".into(),
        bytes: vec![0xff, 0xfe],
    }])
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("bin: not UTF-8"), "{e}");
    let e = import_text(&BGP.replace("1m30s", "ninety"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("spec.holdTime: `ninety` is not a duration"),
        "{e}"
    );
}

#[test]
fn a_value_with_line_breaks_stays_inside_its_comment() {
    // A community written with line breaks (CR, LF, U+2028) must not end the comment and
    // inject YAML into the output.
    let text = format!(
        "{BGP}---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: sneaky
  namespace: metallb-system
spec:
  communities:
  - \"1:1\\nkind: Eip\\r\\u2028apiVersion: v1\"
"
    );
    let out = imported(&text);
    assert_lost(&out, "spec.communities");
    let yaml = out.to_yaml();
    let objects = yaml.lines().filter(|l| l.starts_with("kind:")).count();
    assert_eq!(objects, out.objects.len(), "{yaml}");
}

#[test]
fn never_panics_on_any_prefix() {
    let text = format!("{BGP}---\n{L2}");
    for end in (0..=text.len()).filter(|i| text.is_char_boundary(*i)) {
        if let Ok(out) = import_text(&text[..end]) {
            load::parse(out.to_yaml().as_bytes())
                .unwrap_or_else(|e| panic!("prefix of {end} bytes: output does not load:\n{e}"));
        }
    }
}

#[test]
fn go_durations_read_as_seconds() {
    use super::metallb::go_duration_seconds as d;
    assert_eq!(d("90s"), Some((90, true)));
    assert_eq!(d("1m30s"), Some((90, true)));
    assert_eq!(d("1.5m"), Some((90, true)));
    assert_eq!(d("2h"), Some((7200, true)));
    assert_eq!(d("1500ms"), Some((1, false)));
    assert_eq!(d("0"), Some((0, true)));
    for bad in ["", "90", "s", "-3s", "1x", "."] {
        assert_eq!(d(bad), None, "{bad:?}");
    }
}

#[test]
fn a_pool_without_auto_assign_is_not_default_and_names_stay_unique() {
    let text = format!(
        "{}{L2_ALL}{}",
        "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: manual
  namespace: metallb-system
spec:
  autoAssign: false
  addresses: [203.0.113.10-203.0.113.20]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: manual
  namespace: other
spec:
  addresses: [203.0.113.30-203.0.113.40]
",
        L2_ALL.replace("metallb-system", "other")
    );
    let out = imported(&text);
    assert_eq!(out.exit_code(), 0, "{:#?}", lost(&out));
    let eips = eips(&out);
    let names: Vec<_> = eips
        .iter()
        .map(|e| e.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["manual", "other-manual"]);
    assert!(out.to_yaml().contains("Eip other-manual, not manual"));
    assert!(!eips[0].is_default());
    assert!(eips[1].is_default());
}
