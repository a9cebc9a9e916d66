//! What only a real API server can answer: how kube-apiserver treats porter's CRDs and the
//! writes porter's controllers rely on, with no porter process running.
//!
//! - the CRD schema and its CEL rules refuse what porter cannot run (422 Invalid, the message
//!   naming the field), accept OpenELB's objects unchanged, and the Eip address rule agrees
//!   with porter's parsers (every disagreement listed with its reason);
//! - unknown fields in a create or merge patch are pruned (spec, status, top level), not
//!   refused; in a server-side apply, porter's way of writing status, they are refused with a
//!   500 in every field-validation mode; `format: int32` is enforced by 1.37 (not by 1.33),
//!   but a u32 field can only say `int64`, which is why the schema carries `maximum`s;
//! - a server-side apply carrying a stale `metadata.resourceVersion` is refused with 409, on
//!   the main resource and on `/status`, for a Service and for an Eip: the conditional write
//!   that fences a deposed leader (src/controller/service.rs, kubernetes#63104);
//! - the Eip status porter computes is stored as written, also for pools larger than 2^63.
//!
//! Needs `KUBEBUILDER_ASSETS` (kube-apiserver and etcd); skips loudly otherwise.

mod envtest_support;

use std::time::Duration;

use envtest_support::{assets_or_skip, wait_for, Cluster};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::Status;
use kube::{Resource, ResourceExt};
use porter::controller::status::{eip_status, EipView};
use porter::ipam::{Allocator, FamilyRequest, PoolAddress, PoolSpec, ServiceRequest};
use porter_crds::eip::AddressRange;
use porter_crds::{BgpConf, BgpPeer, Eip, EipStatus};
use serde_json::{json, Value};

/// The field manager these tests write with (porter's own is `porter`).
const MANAGER: &str = "envtest-api";

async fn cluster(test: &str) -> Option<Cluster> {
    let assets = assets_or_skip(test)?;
    let cluster = Cluster::start(&assets, test, "127.0.0.1").await;
    cluster.install_crds().await;
    Some(cluster)
}

/// An untyped client for kind `K`, so a test can send what porter's types cannot hold.
fn dynamic<K: Resource<DynamicType = ()>>(cluster: &Cluster) -> Api<DynamicObject> {
    Api::all_with(cluster.client.clone(), &ApiResource::erase::<K>(&()))
}

async fn create(api: &Api<DynamicObject>, object: Value) -> Result<DynamicObject, kube::Error> {
    let object: DynamicObject = serde_json::from_value(object).expect("a well-formed object");
    api.create(&PostParams::default(), &object).await
}

fn eip(name: &str, spec: Value) -> Value {
    json!({"apiVersion": porter_crds::API_VERSION, "kind": "Eip",
           "metadata": {"name": name}, "spec": spec})
}

fn peer(name: &str, spec: Value) -> Value {
    json!({"apiVersion": porter_crds::API_VERSION, "kind": "BgpPeer",
           "metadata": {"name": name}, "spec": spec})
}

fn conf(name: &str, spec: Value) -> Value {
    json!({"apiVersion": porter_crds::API_VERSION, "kind": "BgpConf",
           "metadata": {"name": name}, "spec": spec})
}

/// The API server's refusal, or a panic saying what was accepted instead.
fn refusal(what: &str, result: Result<DynamicObject, kube::Error>) -> Box<Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        Err(e) => panic!("{what}: not an API refusal: {e}"),
        Ok(o) => panic!("{what}: accepted: {:?}", o.data),
    }
}

/// Asserts a 422 Invalid whose message and causes name `field`; returns the message.
fn assert_invalid(what: &str, result: Result<DynamicObject, kube::Error>, field: &str) -> String {
    let status = refusal(what, result);
    assert_eq!(
        (status.code, status.reason.as_str()),
        (422, "Invalid"),
        "{what}: {status:?}"
    );
    assert!(
        status.message.contains(field),
        "{what}: the message does not name {field}: {}",
        status.message
    );
    let causes: Vec<&str> = status
        .details
        .iter()
        .flat_map(|d| &d.causes)
        .map(|c| c.field.as_str())
        .collect();
    assert!(
        causes.contains(&field),
        "{what}: no cause for {field}: {causes:?}"
    );
    eprintln!("refused {what}: {}", status.message);
    status.message
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_refuses_what_porter_cannot_run_and_names_the_field() {
    let Some(cluster) = cluster("api-schema").await else {
        return;
    };
    let eips = dynamic::<Eip>(&cluster);
    let peers = dynamic::<BgpPeer>(&cluster);
    let confs = dynamic::<BgpConf>(&cluster);
    let unicast = |afi: &str, safi: &str| {
        json!({"conf": {"neighborAddress": "10.0.0.1", "peerAs": 65001},
               "afiSafis": [{"config": {"family": {"afi": afi, "safi": safi}, "enabled": true}}]})
    };
    let mut seen = Vec::new();
    let cases: Vec<(&str, &Api<DynamicObject>, Value, &str)> = vec![
        (
            "Eip address that is not an address",
            &eips,
            eip("bad-1", json!({"address": "not-an-address"})),
            "spec.address",
        ),
        (
            "Eip CIDR longer than 32 bits",
            &eips,
            eip("bad-2", json!({"address": "203.0.113.0/33"})),
            "spec.address",
        ),
        (
            "Eip range across families",
            &eips,
            eip("bad-3", json!({"address": "203.0.113.1-2001:db8::1"})),
            "spec.address",
        ),
        (
            "Eip range with spaces",
            &eips,
            eip("bad-4", json!({"address": "203.0.113.1 - 203.0.113.9"})),
            "spec.address",
        ),
        (
            "Eip empty address",
            &eips,
            eip("bad-5", json!({"address": ""})),
            "spec.address",
        ),
        (
            "Eip layer2 without interface",
            &eips,
            eip(
                "bad-6",
                json!({"address": "203.0.113.9", "protocol": "layer2"}),
            ),
            "spec",
        ),
        (
            "Eip can_reach: without an IP",
            &eips,
            eip(
                "bad-7",
                json!({"address": "203.0.113.9", "protocol": "layer2",
                       "interface": "can_reach:gateway"}),
            ),
            "spec.interface",
        ),
        (
            "Eip namespace that is not a DNS label",
            &eips,
            eip(
                "bad-8",
                json!({"address": "203.0.113.9", "namespaces": ["Default"]}),
            ),
            "spec.namespaces[0]",
        ),
        (
            "Eip unknown protocol",
            &eips,
            eip(
                "bad-9",
                json!({"address": "203.0.113.9", "protocol": "ospf"}),
            ),
            "spec.protocol",
        ),
        (
            "BgpPeer unknown AFI (gobgp's config-file name)",
            &peers,
            peer("bad-1", unicast("ipv4-unicast", "SAFI_UNICAST")),
            "spec.afiSafis[0].config.family.afi",
        ),
        (
            "BgpPeer unknown SAFI",
            &peers,
            peer("bad-2", unicast("AFI_IP", "SAFI_UNICORN")),
            "spec.afiSafis[0].config.family.safi",
        ),
        (
            "BgpPeer peerAs 0",
            &peers,
            peer(
                "bad-3",
                json!({"conf": {"neighborAddress": "10.0.0.1", "peerAs": 0}}),
            ),
            "spec.conf.peerAs",
        ),
        (
            "BgpPeer peerAs above 2^32-1",
            &peers,
            peer(
                "bad-4",
                json!({"conf": {"neighborAddress": "10.0.0.1", "peerAs": 4294967296_u64}}),
            ),
            "spec.conf.peerAs",
        ),
        (
            "BgpPeer neighbor that is not an address",
            &peers,
            peer(
                "bad-5",
                json!({"conf": {"neighborAddress": "10.0.0.256", "peerAs": 65001}}),
            ),
            "spec.conf.neighborAddress",
        ),
        (
            "BgpPeer local address that is not an address",
            &peers,
            peer(
                "bad-6",
                json!({"conf": {"neighborAddress": "10.0.0.1", "peerAs": 65001},
                       "transport": {"localAddress": "eth0"}}),
            ),
            "spec.transport.localAddress",
        ),
        (
            "BgpPeer TCP MSS below the kernel's minimum",
            &peers,
            peer(
                "bad-7",
                json!({"conf": {"neighborAddress": "10.0.0.1", "peerAs": 65001},
                       "transport": {"tcpMss": 50}}),
            ),
            "spec.transport.tcpMss",
        ),
        (
            "BgpPeer BFD detect multiplier 0",
            &peers,
            peer(
                "bad-8",
                json!({"conf": {"neighborAddress": "10.0.0.1", "peerAs": 65001},
                       "bfd": {"enabled": true, "multiplier": 0}}),
            ),
            "spec.bfd.multiplier",
        ),
        (
            "BgpPeer BFD receive interval below 10 ms",
            &peers,
            peer(
                "bad-9",
                json!({"conf": {"neighborAddress": "10.0.0.1", "peerAs": 65001},
                       "bfd": {"enabled": true, "minRxIntervalMs": 5}}),
            ),
            "spec.bfd.minRxIntervalMs",
        ),
        (
            "BgpPeer BFD transmit interval above a minute",
            &peers,
            peer(
                "bad-10",
                json!({"conf": {"neighborAddress": "10.0.0.1", "peerAs": 65001},
                       "bfd": {"enabled": true, "minTxIntervalMs": 60001}}),
            ),
            "spec.bfd.minTxIntervalMs",
        ),
        (
            "BgpPeer BFD with eBGP multihop",
            &peers,
            peer(
                "bad-11",
                json!({"conf": {"neighborAddress": "10.0.0.1", "peerAs": 65001},
                       "ebgpMultihop": {"enabled": true, "multihopTtl": 3},
                       "bfd": {"enabled": true}}),
            ),
            "spec.bfd",
        ),
        (
            "BgpConf AS 0",
            &confs,
            conf("default", json!({"as": 0})),
            "spec.as",
        ),
        (
            "BgpConf rack AS 0",
            &confs,
            conf("default", json!({"as": 64512, "asPerRack": {"r1": 0}})),
            "spec.asPerRack.r1",
        ),
        (
            "BgpConf router ID 0.0.0.0",
            &confs,
            conf("default", json!({"as": 64512, "routerId": "0.0.0.0"})),
            "spec.routerId",
        ),
        (
            "BgpConf IPv6 router ID",
            &confs,
            conf("default", json!({"as": 64512, "routerId": "2001:db8::1"})),
            "spec.routerId",
        ),
        (
            "BgpConf listen address that is not an address",
            &confs,
            conf(
                "default",
                json!({"as": 64512, "listenAddresses": ["0.0.0.0", "any"]}),
            ),
            "spec.listenAddresses[1]",
        ),
        (
            "BgpConf listen port above 65535",
            &confs,
            conf("default", json!({"as": 64512, "listenPort": 65536})),
            "spec.listenPort",
        ),
    ];
    for (what, api, object, field) in cases {
        let message = assert_invalid(what, create(api, object).await, field);
        seen.push(format!("{what}\n    {message}"));
    }
    eprintln!("--- refusals\n{}", seen.join("\n"));

    // OpenELB's objects, as OpenELB's docs and porter's samples write them, load unchanged.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in [
        "crds/tests/data/eip-bgp.yaml",
        "crds/tests/data/eip-layer2.yaml",
        "crds/tests/data/bgpconf.yaml",
        "crds/tests/data/bgppeer.yaml",
        "crds/tests/data/bgppeer-full.yaml",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let mut object: Value = serde_yaml::from_str(&text).unwrap();
        // What only the server sets (resourceVersion, generation, …) must not be sent; the
        // file's stem names the object (two of the files share a name).
        let stem = file
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".yaml"));
        object["metadata"] = json!({"name": stem});
        let api = match object["kind"].as_str() {
            Some("Eip") => &eips,
            Some("BgpConf") => &confs,
            _ => &peers,
        };
        let created = create(api, object)
            .await
            .unwrap_or_else(|e| panic!("{file}: refused: {e}"));
        eprintln!("accepted {file} as {}", created.name_any());
    }
    // And read back through porter's types, so what the server stored decodes.
    let typed = Api::<BgpPeer>::all(cluster.client.clone());
    let full = typed.get("bgppeer-full").await.unwrap();
    assert!(full.validate().is_ok(), "{:?}", full.validate());
    // porter's BFD extension is stored as written, and so is a multihop peer with BFD off
    let bfd = json!({"enabled": true, "minRxIntervalMs": 10, "minTxIntervalMs": 60000,
                     "multiplier": 255, "passive": true, "strict": true});
    for (name, extra) in [
        ("bfd", json!({"bfd": bfd})),
        (
            "bfd-off-multihop",
            json!({"bfd": {"enabled": false}, "ebgpMultihop": {"enabled": true}}),
        ),
    ] {
        let mut spec = json!({"conf": {"neighborAddress": "10.0.0.2", "peerAs": 65001}});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        create(&peers, peer(name, spec))
            .await
            .unwrap_or_else(|e| panic!("{name}: refused: {e}"));
    }
    let stored = typed.get("bfd").await.unwrap();
    assert_eq!(serde_json::to_value(&stored.spec.bfd).unwrap(), bfd);
    assert!(stored.validate().is_ok(), "{:?}", stored.validate());
    let typed = Api::<Eip>::all(cluster.client.clone());
    assert_eq!(
        typed.list(&Default::default()).await.unwrap().items.len(),
        2
    );
}

/// Addresses on both sides of the rule, the ones where CEL and porter's parser disagree
/// listed with the reason. Each is sent to the API server; the verdicts must match.
#[tokio::test(flavor = "multi_thread")]
async fn eip_address_rule_agrees_with_porters_parser() {
    let Some(cluster) = cluster("api-address").await else {
        return;
    };
    let eips = dynamic::<Eip>(&cluster);
    let addresses = [
        "203.0.113.5",
        "203.0.113.0/24",
        "203.0.113.77/24",
        "0.0.0.0/0",
        "203.0.113.10-203.0.113.20",
        "2001:db8::1",
        "2001:db8::/64",
        "::/0",
        "2001:db8::1-2001:db8::ff",
        "203.0.113.0/32",
        "203.0.113.0/33",
        "2001:db8::/129",
        "203.0.113",
        "203.0.113.0/",
        "203.0.113.0/+8",
        "203.0.113.1 - 203.0.113.2",
        "203.0.113.1-2001:db8::1",
        "x-y",
        "/24",
        "203.0.113.1-203.0.113.2-203.0.113.3",
        "010.0.0.1",
        "203.0.113.0/08",
        "203.0.113.9-203.0.113.1",
        "::ffff:203.0.113.5",
        "fe80::1%eth0",
        " 203.0.113.5",
    ];
    // What the server accepts and porter refuses, and why; that object shows Valid=False.
    let known = |address: &str| -> Option<&str> {
        match address {
            "203.0.113.9-203.0.113.1" => Some("reversed range: CEL IPs have no order"),
            "::/0" => Some("IPAM: 2^128 addresses do not fit its pool size"),
            _ => None,
        }
    };
    let verdict = |ok: bool| if ok { "accepts" } else { "refuses" };
    let mut table = Vec::new();
    let mut disagreements = Vec::new();
    for (i, address) in addresses.iter().enumerate() {
        let server = match create(&eips, eip(&format!("a-{i}"), json!({"address": address}))).await
        {
            Ok(_) => true,
            Err(kube::Error::Api(s)) if s.code == 422 => false,
            Err(other) => panic!("{address:?}: {other}"),
        };
        // validate() (what a standalone file and the Valid condition get) and the IPAM's own
        // parser (what allocates).
        let validate = AddressRange::parse(address).is_ok();
        let ipam = PoolAddress::parse(address, false).is_ok();
        let mut line = format!(
            "{address:?}: server {}, validate {}, ipam {}",
            verdict(server),
            verdict(validate),
            verdict(ipam)
        );
        if server && !(validate && ipam) {
            match known(address) {
                Some(why) => line.push_str(&format!("  [known: {why}]")),
                None => disagreements.push(line.clone()),
            }
        }
        // A standalone file must not get what the API server refuses.
        if !server && validate {
            disagreements.push(line.clone());
        }
        table.push(line);
    }
    eprintln!("--- address verdicts\n{}", table.join("\n"));
    assert!(
        disagreements.is_empty(),
        "the CEL rule and porter's parsers disagree:\n{}",
        disagreements.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_fields_are_pruned_but_refused_in_an_apply() {
    let Some(cluster) = cluster("api-prune").await else {
        return;
    };
    let eips = dynamic::<Eip>(&cluster);
    let mut object = eip("pruned", json!({"address": "203.0.113.0/28", "bogus": 1}));
    object["bogusTop"] = json!("x");
    object["status"] = json!({"usage": 1, "bogus": 1});
    // kube's PostParams sends no fieldValidation: the server warns and prunes.
    let created = create(&eips, object)
        .await
        .expect("created, unknown fields pruned");
    assert_eq!(created.data["spec"]["address"], "203.0.113.0/28");
    assert!(
        created.data["spec"].get("bogus").is_none(),
        "{:?}",
        created.data
    );
    assert!(created.data.get("bogusTop").is_none(), "{:?}", created.data);
    // With a status subresource, create ignores status altogether.
    assert!(created.data.get("status").is_none(), "{:?}", created.data);

    // Through /status: known fields land, unknown ones are pruned.
    let patch = json!({"status": {"usage": 1, "bogus": 1, "conditions": []}});
    let written = eips
        .patch_status("pruned", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(written.data["status"]["usage"], 1);
    assert!(
        written.data["status"].get("bogus").is_none(),
        "{:?}",
        written.data
    );
    let read = eips.get("pruned").await.unwrap();
    assert!(read.data["spec"].get("bogus").is_none());
    assert!(read.data["status"].get("bogus").is_none());

    // Nested in a list item too; the object still decodes through porter's types.
    let peers = dynamic::<BgpPeer>(&cluster);
    let created = create(
        &peers,
        peer(
            "pruned",
            json!({"conf": {"neighborAddress": "10.0.0.1", "peerAs": 65001, "holdtime": 9},
                   "afiSafis": [{"config": {"family": {"afi": "AFI_IP", "safi": "SAFI_UNICAST"},
                                            "enabled": true, "bogus": true}}]}),
        ),
    )
    .await
    .unwrap();
    assert!(created.data["spec"]["conf"].get("holdtime").is_none());
    assert!(created.data["spec"]["afiSafis"][0]["config"]
        .get("bogus")
        .is_none());
    Api::<BgpPeer>::all(cluster.client.clone())
        .get("pruned")
        .await
        .expect("decodes as porter's BgpPeer");

    // Server-side apply, porter's way of writing status, is different: an unknown status
    // field (a newer porter over an older CRD) is not pruned but refused with a 500, whatever
    // field validation asks (kube-apiserver 1.37). So the CRDs must be upgraded first.
    let patch = json!({"apiVersion": porter_crds::API_VERSION, "kind": "Eip",
                       "metadata": {"name": "pruned"},
                       "status": {"usage": 2, "fromTheFuture": true}});
    for (how, params) in [
        ("default", PatchParams::apply(MANAGER).force()),
        (
            "Warn",
            PatchParams::apply(MANAGER).force().validation_warn(),
        ),
        (
            "Ignore",
            PatchParams::apply(MANAGER).force().validation_ignore(),
        ),
    ] {
        let status = refusal(
            &format!("apply with an unknown status field, {how} field validation"),
            eips.patch_status("pruned", &params, &Patch::Apply(&patch))
                .await,
        );
        assert_eq!(status.code, 500, "{how}: {status:?}");
        assert!(
            status
                .message
                .contains(".status.fromTheFuture: field not declared in schema"),
            "{how}: {status:?}"
        );
    }

    // A client that asks for strict field validation is refused instead, naming the field;
    // for an apply the answer is a 500 with no reason, not the 400 BadRequest a create or
    // update gets (kube-apiserver 1.37).
    let strict = PatchParams::apply(MANAGER).validation_strict();
    let object = eip("strict", json!({"address": "203.0.113.16/28", "bogus": 1}));
    let status = refusal(
        "strict apply with an unknown field",
        eips.patch("strict", &strict, &Patch::Apply(&object)).await,
    );
    eprintln!(
        "strict apply: {} {:?}: {}",
        status.code, status.reason, status.message
    );
    assert!(status.message.contains(".spec.bogus"), "{status:?}");
    assert!(status.code == 400 || status.code == 500, "{status:?}");

    // `format: int32` is enforced by some releases, `format: int64` is all a u32 field can say (OpenAPI has no
    // unsigned formats): without `maximum`, 2^40 is stored in a field porter reads as u32.
    let crds = Api::<CustomResourceDefinition>::all(cluster.client.clone());
    let widget: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.envtest.porter.dev"},
        "spec": {"group": "envtest.porter.dev", "scope": "Cluster",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                         "spec": {"type": "object", "properties": {
                             "n32": {"type": "integer", "format": "int32"},
                             "n64": {"type": "integer", "format": "int64"}}}}}}}]}
    }))
    .unwrap();
    crds.create(&PostParams::default(), &widget).await.unwrap();
    let resource = ApiResource {
        group: "envtest.porter.dev".into(),
        version: "v1".into(),
        api_version: "envtest.porter.dev/v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
    };
    let widgets: Api<DynamicObject> = Api::all_with(cluster.client.clone(), &resource);
    let widget = |name: &str, field: &str| {
        json!({"apiVersion": "envtest.porter.dev/v1", "kind": "Widget",
               "metadata": {"name": name}, "spec": {field: 1_u64 << 40}})
    };
    let stored = wait_for(Duration::from_secs(30), "the Widget CRD served", || {
        let widgets = widgets.clone();
        let big = widget("big64", "n64");
        async move {
            match create(&widgets, big).await {
                Err(kube::Error::Api(s)) if s.code == 404 => None,
                other => Some(other),
            }
        }
    })
    .await
    .expect("2^40 in a format: int64 field");
    assert_eq!(stored.data["spec"]["n64"], 1_u64 << 40);
    // Whether int32 is enforced depends on the release (1.37 refuses 2^40 with 422, 1.33
    // stores it): porter's schema relies on neither, only on `maximum`.
    match create(&widgets, widget("big32", "n32")).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422, "{s:?}");
            eprintln!("int32 enforced by this release: {}", s.message);
        }
        Err(e) => panic!("2^40 in a format: int32 field: {e}"),
        Ok(_) => eprintln!("int32 not enforced by this release: 2^40 stored"),
    }
}

/// Reads `metadata.resourceVersion`.
fn rv<K: Resource>(object: &K) -> String {
    object
        .meta()
        .resource_version
        .clone()
        .expect("a resourceVersion")
}

/// Asserts a 409 Conflict.
fn assert_conflict<K: std::fmt::Debug>(what: &str, result: Result<K, kube::Error>) {
    match result {
        Err(kube::Error::Api(s)) if s.code == 409 => {
            eprintln!("409 for {what}: {}", s.message);
        }
        other => panic!("{what}: expected 409 Conflict, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_with_a_stale_resource_version_is_a_conflict() {
    let Some(cluster) = cluster("api-fence").await else {
        return;
    };
    let services = Api::<Service>::namespaced(cluster.client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": 8080}],
                 "selector": {"app": "web"}}
    }))
    .unwrap();
    let read = services.create(&PostParams::default(), &svc).await.unwrap();
    let stale = rv(&read);
    // Someone else changes the Service (the new leader's epoch stamp, say).
    let stamp = json!({"metadata": {"annotations": {"envtest/epoch": "2"}}});
    let changed = services
        .patch("web", &PatchParams::default(), &Patch::Merge(&stamp))
        .await
        .unwrap();
    let current = rv(&changed);
    assert_ne!(stale, current);
    let ssa = PatchParams::apply(MANAGER).force();

    // services/status, the write porter's Service controller makes (service.rs).
    let status = |version: &str, ip: &str| {
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "resourceVersion": version},
               "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})
    };
    assert_conflict(
        "services/status with a stale resourceVersion",
        services
            .patch_status("web", &ssa, &Patch::Apply(&status(&stale, "203.0.113.1")))
            .await,
    );
    let unchanged = services.get("web").await.unwrap();
    assert_eq!(rv(&unchanged), current, "the refused write changed nothing");
    assert!(unchanged
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|l| l.ingress)
        .is_none_or(|i| i.is_empty()));
    let written = services
        .patch_status("web", &ssa, &Patch::Apply(&status(&current, "203.0.113.1")))
        .await
        .expect("services/status with the current resourceVersion");
    let ingress = written
        .status
        .unwrap()
        .load_balancer
        .unwrap()
        .ingress
        .unwrap();
    assert_eq!(ingress[0].ip.as_deref(), Some("203.0.113.1"));

    // The status write moved the version on: a main-resource apply over the one read before
    // it is refused too (one resourceVersion per object, not one per subresource).
    let labels = |version: &str| {
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "resourceVersion": version,
                            "labels": {"eip.openelb.kubesphere.io": "pool"}}})
    };
    assert_conflict(
        "services (main resource) with the version read before a status write",
        services
            .patch("web", &ssa, &Patch::Apply(&labels(&current)))
            .await,
    );
    let now = rv(&services.get("web").await.unwrap());
    services
        .patch("web", &ssa, &Patch::Apply(&labels(&now)))
        .await
        .expect("services (main resource) with the current resourceVersion");

    // The same for a custom resource: an Eip, main resource and /status.
    let eips = Api::<Eip>::all(cluster.client.clone());
    let dynamic_eips = dynamic::<Eip>(&cluster);
    let created = create(
        &dynamic_eips,
        eip("pool", json!({"address": "203.0.113.0/28"})),
    )
    .await
    .unwrap();
    let stale = rv(&created);
    let bump = json!({"spec": {"priority": 1}});
    let current = rv(&eips
        .patch("pool", &PatchParams::default(), &Patch::Merge(&bump))
        .await
        .unwrap());
    let eip_status = |version: Option<&str>| {
        let mut patch = json!({"apiVersion": porter_crds::API_VERSION, "kind": "Eip",
                               "metadata": {"name": "pool"},
                               "status": {"usage": 1, "poolSize": 16}});
        // Left out, not null: `"resourceVersion": null` is read as "0" and refused with 422
        // ("must be specified for an update").
        if let Some(version) = version {
            patch["metadata"]["resourceVersion"] = json!(version);
        }
        patch
    };
    assert_conflict(
        "eips/status with a stale resourceVersion",
        eips.patch_status("pool", &ssa, &Patch::Apply(&eip_status(Some(&stale))))
            .await,
    );
    assert_conflict(
        "eips (main resource) with a stale resourceVersion",
        eips.patch(
            "pool",
            &ssa,
            &Patch::Apply(
                &json!({"apiVersion": porter_crds::API_VERSION, "kind": "Eip",
                "metadata": {"name": "pool", "resourceVersion": stale},
                "spec": {"address": "203.0.113.0/28", "priority": 2}}),
            ),
        )
        .await,
    );
    eips.patch_status("pool", &ssa, &Patch::Apply(&eip_status(Some(&current))))
        .await
        .expect("eips/status with the current resourceVersion");
    // Porter's Eip status write carries no resourceVersion (eip.rs): it is unconditional,
    // whatever changed since the read. Only the Service write is fenced.
    let stamp = json!({"metadata": {"annotations": {"envtest/epoch": "3"}}});
    eips.patch("pool", &PatchParams::default(), &Patch::Merge(&stamp))
        .await
        .unwrap();
    let written = eips
        .patch_status("pool", &ssa, &Patch::Apply(&eip_status(None)))
        .await
        .expect("an apply without resourceVersion is not conditional");
    assert_eq!(written.status.unwrap().pool_size, 16);
}

/// The status porter's Eip controller computes (controller/status.rs), written the way it
/// writes it (eip.rs), for the largest pools too: the server must store it as sent.
#[tokio::test(flavor = "multi_thread")]
async fn eip_status_porter_writes_is_stored_as_written() {
    let Some(cluster) = cluster("api-status").await else {
        return;
    };
    let eips = Api::<Eip>::all(cluster.client.clone());
    let dynamic_eips = dynamic::<Eip>(&cluster);
    let ssa = PatchParams::apply(MANAGER).force();
    for (name, address) in [
        ("v4", "203.0.113.0/24"),
        ("v6-64", "2001:db8::/64"),
        ("v6-half", "::/1"),
    ] {
        let created = create(&dynamic_eips, eip(name, json!({"address": address})))
            .await
            .unwrap();
        let mut ipam = Allocator::new([PoolSpec::new(name, address)]);
        let mut request = ServiceRequest::new("default", "web");
        request.pools = vec![name.into()];
        if address.contains(':') {
            request.families = FamilyRequest::V6;
        }
        ipam.allocate(&request).unwrap();
        let view = EipView {
            name,
            generation: created.metadata.generation,
            deleting: false,
            current: &[],
        };
        let status = eip_status(&ipam, &view, Timestamp::now());
        let patch = json!({"apiVersion": porter_crds::API_VERSION, "kind": "Eip",
                           "metadata": {"name": name}, "status": status});
        let written = eips
            .patch_status(name, &ssa, &Patch::Apply(&patch))
            .await
            .unwrap_or_else(|e| panic!("{name} ({address}): status refused: {e}"));
        let stored = written.status.expect("a status");
        // Condition times come back at second precision; compare the rest.
        let strip = |s: &EipStatus| EipStatus {
            conditions: Vec::new(),
            ..s.clone()
        };
        assert_eq!(strip(&stored), strip(&status), "{name}");
        assert_eq!(stored.conditions.len(), status.conditions.len(), "{name}");
        eprintln!("{name}: poolSize {} stored", stored.pool_size);
    }
}
