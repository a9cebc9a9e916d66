//! Request-shape tests against a mocked API server (kube-rs controller-rs style): each test
//! scripts the exact requests a reconcile must send — method, path, query (field manager,
//! force), content type, body — and the answers, and fails on any other request.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use kube::api::Api;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use kube::Client;
use porter_crds::{BgpConf, Eip};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::leader::{Elector, LeaseTiming};
use super::service::LeaderCtx;
use super::{node, Options, Stores, DEFAULT_CLASS};
use crate::ipam::{Allocator, PoolSpec};
use crate::speaker::Speaker;
use crate::telemetry::Metrics;

/// One expected request and the answer to give.
pub(crate) struct Step {
    pub(crate) method: &'static str,
    /// Path and query, exactly.
    pub(crate) uri: String,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) check: Box<dyn Fn(&Value) + Send>,
    pub(crate) status: u16,
    pub(crate) reply: Value,
}

pub(crate) fn step(
    method: &'static str,
    uri: impl Into<String>,
    content_type: Option<&'static str>,
    check: impl Fn(&Value) + Send + 'static,
    reply: Value,
) -> Step {
    Step {
        method,
        uri: uri.into(),
        content_type,
        check: Box::new(check),
        status: 200,
        reply,
    }
}

/// A client whose API server answers `steps` in order; the returned task fails the test on
/// an unexpected request and reports how many steps ran.
pub(crate) fn scripted(steps: Vec<Step>) -> (Client, tokio::task::JoinHandle<usize>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let task = tokio::spawn(async move {
        let mut done = 0;
        for s in steps {
            let Some((req, send)) = handle.next_request().await else {
                break;
            };
            assert_eq!(req.method().as_str(), s.method, "step {done}: method");
            assert_eq!(req.uri().to_string(), s.uri, "step {done}: uri");
            if let Some(ct) = s.content_type {
                assert_eq!(
                    req.headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok()),
                    Some(ct),
                    "step {done}: content type"
                );
            }
            let bytes = req.into_body().collect_bytes().await.unwrap();
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap()
            };
            (s.check)(&body);
            send.send_response(
                Response::builder()
                    .status(s.status)
                    .body(Body::from(serde_json::to_vec(&s.reply).unwrap()))
                    .unwrap(),
            );
            done += 1;
        }
        // No request beyond the script.
        if let Ok(Some((req, _))) =
            tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await
        {
            panic!("unexpected request {} {}", req.method(), req.uri());
        }
        done
    });
    (Client::new(service, "default"), task)
}

pub(crate) fn opts() -> Arc<Options> {
    Arc::new(Options {
        node_name: "n1".into(),
        namespace: "porter-system".into(),
        identity: "porter-a".into(),
        load_balancer_class: DEFAULT_CLASS.into(),
        default_class: false,
        lease_name: "porter-manager".into(),
        lease: LeaseTiming::default(),
        http: "127.0.0.1:0".parse().unwrap(),
        status_interval: Duration::from_secs(1),
        shutdown_drain: Duration::ZERO,
        layer2: Default::default(),
    })
}

struct Writers {
    stores: Stores,
    eips: Writer<Eip>,
    confs: Writer<BgpConf>,
}

fn stores() -> Writers {
    let (nodes, _) = reflector::store();
    let (services, _) = reflector::store();
    let (slices, _) = reflector::store();
    let (namespaces, _) = reflector::store();
    let (eips, eips_w) = reflector::store();
    let (bgp_confs, confs_w) = reflector::store();
    let (bgp_peers, _) = reflector::store();
    Writers {
        stores: Stores {
            nodes,
            services,
            slices,
            namespaces,
            eips,
            bgp_confs,
            bgp_peers,
        },
        eips: eips_w,
        confs: confs_w,
    }
}

fn eip(name: &str, address: &str, finalizers: &[&str]) -> Eip {
    serde_json::from_value(json!({
        "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
        "metadata": {"name": name, "generation": 1, "finalizers": finalizers,
                     "annotations": {"eip.openelb.kubesphere.io/is-default-eip": "true"}},
        "spec": {"address": address}
    }))
    .unwrap()
}

fn service(finalizers: &[&str], deleting: bool, ingress: &[&str]) -> Service {
    let mut v = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1",
                     "resourceVersion": "41", "finalizers": finalizers,
                     "annotations": {"lb.kubesphere.io/v1alpha1": "openelb"}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": ingress.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>()}}
    });
    if deleting {
        v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    serde_json::from_value(v).unwrap()
}

fn leader_ctx(client: Client, w: &mut Writers, claims: &[(&str, &str)]) -> Arc<LeaderCtx> {
    w.eips.apply_watcher_event(&watcher::Event::Apply(eip(
        "pool",
        "203.0.113.0/24",
        &[super::EIP_FINALIZER],
    )));
    let mut spec = PoolSpec::new("pool", "203.0.113.0/24");
    spec.is_default = true;
    let existing: Vec<_> = claims
        .iter()
        .map(|(name, ip)| {
            (
                crate::ipam::ServiceRequest::new("shop", *name),
                ip.parse().unwrap(),
            )
        })
        .collect();
    let (ipam, conflicts) = Allocator::rebuild([spec], &existing);
    assert!(conflicts.is_empty());
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "porter".into(),
            instance: Some("porter-a".into()),
        },
    );
    LeaderCtx::new(client, opts(), w.stores.clone(), ipam, recorder)
}

fn event_reply() -> Value {
    json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "shop"}, "eventTime": "2026-01-01T00:00:00.000000Z"})
}

/// `svc` as the API server answers a write to it: version 42, labelled with its Eip.
fn written(mut svc: Service) -> Value {
    svc.metadata.resource_version = Some("42".into());
    svc.metadata.labels = Some(
        [(
            "eip.openelb.kubesphere.io/v1alpha2".to_string(),
            "pool".to_string(),
        )]
        .into(),
    );
    serde_json::to_value(svc).unwrap()
}

/// The ingress write, over version `rv`.
fn ingress_step(rv: &'static str, status: u16, reply: Value) -> Step {
    Step {
        status,
        ..step(
            "PATCH",
            "/api/v1/namespaces/shop/services/web/status?&force=true&fieldManager=porter",
            Some("application/apply-patch+yaml"),
            move |b| {
                assert_eq!(
                    *b,
                    json!({"apiVersion": "v1", "kind": "Service",
                           // the version read: a conditional write (fencing)
                           "metadata": {"name": "web", "resourceVersion": rv},
                           "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}]}}})
                )
            },
            reply,
        )
    }
}

fn allocated_event_step() -> Step {
    step(
        "POST",
        "/apis/events.k8s.io/v1/namespaces/shop/events?",
        None,
        |b| {
            assert_eq!(b["reason"], "Allocated");
            assert_eq!(b["type"], "Normal");
            assert_eq!(b["note"], "203.0.113.1 from Eip pool");
            assert_eq!(b["regarding"]["name"], "web");
            assert_eq!(b["reportingController"], "porter");
        },
        event_reply(),
    )
}

/// A new Service: one conditional metadata write (finalizer and Eip label), then the
/// ingress over the version that write made, then the Event. Two writes, not four.
#[tokio::test]
async fn new_service_gets_finalizer_and_label_in_one_conditional_write_then_its_address() {
    let done = written(service(
        &[super::SERVICE_FINALIZER],
        false,
        &["203.0.113.1"],
    ));
    let (client, server) = scripted(vec![
        step(
            "PATCH",
            "/api/v1/namespaces/shop/services/web?",
            Some("application/merge-patch+json"),
            |b| {
                assert_eq!(
                    *b,
                    json!({"metadata": {
                        "resourceVersion": "41",
                        "finalizers": [super::SERVICE_FINALIZER],
                        "labels": {"eip.openelb.kubesphere.io/v1alpha2": "pool"}}})
                )
            },
            written(service(&[super::SERVICE_FINALIZER], false, &[])),
        ),
        ingress_step("42", 200, done),
        allocated_event_step(),
    ]);
    let mut w = stores();
    let ctx = leader_ctx(client, &mut w, &[]);
    super::service::reconcile(Arc::new(service(&[], false, &[])), ctx.clone())
        .await
        .unwrap();
    assert_eq!(server.await.unwrap(), 3);
}

/// Taking over from OpenELB: its finalizer goes in the same write that adds ours, the
/// other finalizers stay.
#[tokio::test]
async fn openelb_finalizer_is_swapped_for_ours_in_the_metadata_write() {
    let openelb = porter_crds::annotations::OPENELB_SERVICE_FINALIZER;
    let (client, server) = scripted(vec![
        step(
            "PATCH",
            "/api/v1/namespaces/shop/services/web?",
            Some("application/merge-patch+json"),
            move |b| {
                assert_eq!(
                    b["metadata"]["finalizers"],
                    json!(["example.com/keep", super::SERVICE_FINALIZER])
                );
                assert_eq!(b["metadata"]["resourceVersion"], "41");
            },
            written(service(
                &["example.com/keep", super::SERVICE_FINALIZER],
                false,
                &[],
            )),
        ),
        ingress_step(
            "42",
            200,
            written(service(
                &[super::SERVICE_FINALIZER],
                false,
                &["203.0.113.1"],
            )),
        ),
        allocated_event_step(),
    ]);
    let mut w = stores();
    let ctx = leader_ctx(client, &mut w, &[]);
    super::service::reconcile(
        Arc::new(service(&["example.com/keep", openelb], false, &[])),
        ctx,
    )
    .await
    .unwrap();
    assert_eq!(server.await.unwrap(), 3);
}

/// A replica whose Lease renewal is too old (it may have been replaced) allocates nothing
/// and writes nothing, though the Service has its finalizer and the pool has room.
#[tokio::test]
async fn deposed_leader_writes_no_address() {
    let (client, server) = scripted(vec![]);
    let mut w = stores();
    let mut ctx = leader_ctx(client, &mut w, &[]);
    Arc::get_mut(&mut ctx).expect("only reference").fence =
        super::leader::Fence::new(Duration::from_secs(10));
    let err = super::service::reconcile(
        Arc::new(service(&[super::SERVICE_FINALIZER], false, &[])),
        ctx.clone(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err.inner(), super::Error::NotLeading), "{err}");
    assert_eq!(server.await.unwrap(), 0);
}

/// A 409 on the conditional ingress write (the Service changed since it was read) is a
/// conflict: retried after a second, not after the generic 5 s back-off; the retry, on the
/// object as read again, carries the new resourceVersion and the same address.
#[tokio::test]
async fn conflicting_ingress_write_is_retried_soon_with_the_new_version() {
    let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                          "reason": "Conflict", "code": 409, "message": "the object has been modified"});
    // labelled and with its finalizer: the ingress is the only write
    let waiting = |rv: &str| {
        let mut svc: Service =
            serde_json::from_value(written(service(&[super::SERVICE_FINALIZER], false, &[])))
                .unwrap();
        svc.metadata.resource_version = Some(rv.into());
        svc
    };
    let (client, server) = scripted(vec![ingress_step("41", 409, conflict)]);
    let mut w = stores();
    let ctx = leader_ctx(client, &mut w, &[]);
    let svc = Arc::new(waiting("41"));
    let err = super::service::reconcile(svc.clone(), ctx.clone())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        super::service::error_policy(svc, &err, ctx.clone()),
        Action::requeue(Duration::from_secs(1))
    );
    assert_eq!(server.await.unwrap(), 1);

    // The retry reads the Service again (someone else wrote it: version 42).
    let done = written(service(
        &[super::SERVICE_FINALIZER],
        false,
        &["203.0.113.1"],
    ));
    let (client, server) = scripted(vec![ingress_step("42", 200, done), allocated_event_step()]);
    // The allocator kept the address it chose: the same one is written.
    let mut w = stores();
    let ctx2 = leader_ctx(client, &mut w, &[("web", "203.0.113.1")]);
    super::service::reconcile(Arc::new(waiting("42")), ctx2)
        .await
        .unwrap();
    assert_eq!(server.await.unwrap(), 2);
}

#[tokio::test]
async fn steady_state_sends_nothing() {
    let (client, server) = scripted(vec![]);
    let mut w = stores();
    let ctx = leader_ctx(client, &mut w, &[("web", "203.0.113.1")]);
    let mut svc = service(&[super::SERVICE_FINALIZER], false, &["203.0.113.1"]);
    svc.metadata.labels = Some(
        [(
            "eip.openelb.kubesphere.io/v1alpha2".to_string(),
            "pool".to_string(),
        )]
        .into(),
    );
    super::service::reconcile(Arc::new(svc), ctx).await.unwrap();
    assert_eq!(server.await.unwrap(), 0);
}

#[tokio::test]
async fn deletion_releases_then_removes_the_finalizer() {
    let (client, server) = scripted(vec![
        step(
            "POST",
            "/apis/events.k8s.io/v1/namespaces/shop/events?",
            None,
            |b| {
                assert_eq!(b["reason"], "Released");
                assert_eq!(b["note"], "203.0.113.1 returned to Eip pool");
            },
            event_reply(),
        ),
        step(
            "PATCH",
            "/api/v1/namespaces/shop/services/web?",
            Some("application/json-patch+json"),
            |b| {
                assert_eq!(
                    *b,
                    json!([
                        {"op": "test", "path": "/metadata/finalizers/0", "value": super::SERVICE_FINALIZER},
                        {"op": "remove", "path": "/metadata/finalizers/0"}
                    ])
                )
            },
            serde_json::to_value(service(&[], true, &["203.0.113.1"])).unwrap(),
        ),
    ]);
    let mut w = stores();
    let ctx = leader_ctx(client, &mut w, &[("web", "203.0.113.1")]);
    super::service::reconcile(
        Arc::new(service(&[super::SERVICE_FINALIZER], true, &["203.0.113.1"])),
        ctx.clone(),
    )
    .await
    .unwrap();
    assert_eq!(server.await.unwrap(), 2);
    assert!(ctx.ipam.lock().unwrap().allocations().next().is_none());
}

#[tokio::test]
async fn service_without_address_gets_a_warning_and_an_error_to_retry() {
    let (client, server) = scripted(vec![step(
        "POST",
        "/apis/events.k8s.io/v1/namespaces/shop/events?",
        None,
        |b| {
            assert_eq!(b["type"], "Warning");
            assert_eq!(b["reason"], "AllocationFailed");
            assert_eq!(b["note"], "pool \"missing\" not found");
        },
        event_reply(),
    )]);
    let mut w = stores();
    let ctx = leader_ctx(client, &mut w, &[]);
    let mut svc = service(&[super::SERVICE_FINALIZER], false, &[]);
    svc.metadata.annotations.get_or_insert_default().insert(
        "eip.openelb.kubesphere.io/v1alpha2".into(),
        "missing".into(),
    );
    let err = super::service::reconcile(Arc::new(svc.clone()), ctx.clone())
        .await
        .unwrap_err();
    assert_eq!(server.await.unwrap(), 1);
    assert!(err.to_string().contains("missing"), "{err}");
    // The error policy retries it.
    let action = super::service::error_policy(Arc::new(svc), &err, ctx);
    assert_eq!(
        action,
        kube::runtime::controller::Action::requeue(Duration::from_secs(60))
    );
}

#[tokio::test]
async fn eip_status_is_server_side_applied_by_porter() {
    let (client, server) = scripted(vec![step(
        "PATCH",
        "/apis/network.kubesphere.io/v1alpha2/eips/pool/status?&force=true&fieldManager=porter",
        Some("application/apply-patch+yaml"),
        |b| {
            assert_eq!(b["apiVersion"], "network.kubesphere.io/v1alpha2");
            assert_eq!(b["kind"], "Eip");
            assert_eq!(b["metadata"]["name"], "pool");
            let s = &b["status"];
            assert_eq!(s["usage"], 1);
            assert_eq!(s["poolSize"], 254);
            assert_eq!(s["used"], json!({"203.0.113.1": "shop/web"}));
            assert_eq!(s["firstIP"], "203.0.113.1");
            assert_eq!(s["v4"], true);
            assert_eq!(s["conditions"][0]["type"], "Ready");
            assert_eq!(s["conditions"][0]["status"], "True");
            assert_eq!(s["conditions"][0]["observedGeneration"], 1);
        },
        serde_json::to_value(eip("pool", "203.0.113.0/24", &[super::EIP_FINALIZER])).unwrap(),
    )]);
    let mut w = stores();
    let ctx = leader_ctx(client, &mut w, &[("web", "203.0.113.1")]);
    super::eip::reconcile(
        Arc::new(eip("pool", "203.0.113.0/24", &[super::EIP_FINALIZER])),
        ctx,
    )
    .await
    .unwrap();
    assert_eq!(server.await.unwrap(), 1);
}

#[tokio::test]
async fn deleting_an_eip_in_use_keeps_the_finalizer_and_warns() {
    let mut deleting = eip("pool", "203.0.113.0/24", &[super::EIP_FINALIZER]);
    deleting.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-01-01T00:00:00Z".parse().unwrap(),
        ));
    let (client, server) = scripted(vec![
        step(
            "PATCH",
            "/apis/network.kubesphere.io/v1alpha2/eips/pool/status?&force=true&fieldManager=porter",
            Some("application/apply-patch+yaml"),
            |b| {
                let ready = &b["status"]["conditions"][0];
                assert_eq!(ready["reason"], "DeletionBlocked");
                assert!(ready["message"].as_str().unwrap().contains("shop/web"));
            },
            serde_json::to_value(&deleting).unwrap(),
        ),
        step(
            "POST",
            "/apis/events.k8s.io/v1/namespaces/default/events?",
            None,
            |b| {
                assert_eq!(b["type"], "Warning");
                assert_eq!(b["reason"], "DeletionBlocked");
            },
            event_reply(),
        ),
    ]);
    let mut w = stores();
    let ctx = leader_ctx(client, &mut w, &[("web", "203.0.113.1")]);
    w.eips
        .apply_watcher_event(&watcher::Event::Apply(deleting.clone()));
    let err = super::eip::reconcile(Arc::new(deleting), ctx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("shop/web"), "{err}");
    // No finalizer removal was sent: the script has no such step.
    assert_eq!(server.await.unwrap(), 2);
}

#[tokio::test]
async fn election_creates_the_lease_when_none_exists() {
    let (client, server) = scripted(vec![
        Step {
            status: 404,
            ..step(
                "GET",
                "/apis/coordination.k8s.io/v1/namespaces/porter-system/leases/porter-manager",
                None,
                |_| {},
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
            )
        },
        step(
            "POST",
            "/apis/coordination.k8s.io/v1/namespaces/porter-system/leases?",
            Some("application/json"),
            |b| {
                assert_eq!(b["metadata"]["name"], "porter-manager");
                assert_eq!(b["spec"]["holderIdentity"], "porter-a");
                assert_eq!(b["spec"]["leaseDurationSeconds"], 15);
                assert_eq!(b["spec"]["leaseTransitions"], 0);
            },
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                   "metadata": {"name": "porter-manager", "namespace": "porter-system", "resourceVersion": "1"},
                   "spec": {"holderIdentity": "porter-a"}}),
        ),
    ]);
    let (elector, _rx) = Elector::new(
        Api::<Lease>::namespaced(client, "porter-system"),
        "porter-manager",
        "porter-a",
        LeaseTiming::default(),
    );
    let mut seen = None;
    assert!(elector.try_once(&mut seen).await.unwrap());
    assert_eq!(server.await.unwrap(), 2);
}

#[tokio::test]
async fn election_follows_a_live_holder_and_loses_a_write_race() {
    let held = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "porter-manager", "namespace": "porter-system", "resourceVersion": "7"},
        "spec": {"holderIdentity": "porter-b", "leaseDurationSeconds": 15,
                 "renewTime": "2026-01-01T00:00:00.000000Z"}});
    let released = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "porter-manager", "namespace": "porter-system", "resourceVersion": "8"},
        "spec": {"leaseDurationSeconds": 1, "leaseTransitions": 2}});
    let get = |reply: Value| {
        step(
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/porter-system/leases/porter-manager",
            None,
            |_| {},
            reply,
        )
    };
    let (client, server) = scripted(vec![
        // A fresh holder: follow, write nothing.
        get(held),
        // Released (no holder): take over with the resourceVersion read...
        get(released),
        Step {
            status: 409,
            ..step(
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/porter-system/leases/porter-manager?",
                Some("application/json"),
                |b| {
                    assert_eq!(b["metadata"]["resourceVersion"], "8");
                    assert_eq!(b["spec"]["holderIdentity"], "porter-a");
                    assert_eq!(b["spec"]["leaseTransitions"], 3);
                },
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "conflict"}),
            )
        },
    ]);
    let (elector, _rx) = Elector::new(
        Api::<Lease>::namespaced(client, "porter-system"),
        "porter-manager",
        "porter-a",
        LeaseTiming::default(),
    );
    let mut seen = None;
    assert!(!elector.try_once(&mut seen).await.unwrap());
    // ...and someone else won: not leader.
    assert!(!elector.try_once(&mut seen).await.unwrap());
    assert_eq!(server.await.unwrap(), 3);
}

#[tokio::test]
async fn node_writes_only_its_own_nodes_conf_status_entry() {
    let (client, server) = scripted(vec![step(
        "PATCH",
        "/apis/network.kubesphere.io/v1alpha2/bgpconfs/default/status?&force=true&fieldManager=porter%2Fn1",
        Some("application/apply-patch+yaml"),
        |b| {
            assert_eq!(
                *b,
                json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
                       "metadata": {"name": "default"},
                       "status": {"nodesConfStatus": {"n1": {"routerId": "10.200.40.1", "as": 65000}}}})
            )
        },
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
               "metadata": {"name": "default"}, "spec": {"as": 65000}}),
    )]);
    let mut w = stores();
    w.confs.apply_watcher_event(&watcher::Event::Apply(
        serde_json::from_value(json!({
            "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
            "metadata": {"name": "default"},
            "spec": {"as": 65000, "routerId": "10.200.40.1", "listenPort": -1}
        }))
        .unwrap(),
    ));
    let (_tx, leading) = watch::channel(false);
    let ctx = Arc::new(node::NodeCtx {
        client,
        opts: opts(),
        stores: w.stores.clone(),
        speaker: Speaker::new(Arc::new(Metrics::new())),
        leading,
        ready: Arc::default(),
        global_as: Arc::default(),
        layer2: super::layer2::Layer2Status::new("n1", Arc::new(Metrics::new())),
        metrics: Arc::new(Metrics::new()),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(node::status_loop(ctx, async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|s| *s).await;
    }));
    // Two intervals: the second writes nothing, since nothing changed.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let _ = stop_tx.send(true);
    task.await.unwrap();
    assert_eq!(server.await.unwrap(), 1);
}
