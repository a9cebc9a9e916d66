//! `porter manager` end to end on the routing side, where no kube-apiserver is at hand: two
//! manager processes in network namespaces peer with a BIRD router, and a small fake API
//! server in the test (fixed objects, list + watch, changes pushed as watch events, every
//! write recorded) stands in for Kubernetes. It checks what only real processes show: ECMP
//! from both replicas in BIRD's FIB, `externalTrafficPolicy: Local` next hops following an
//! EndpointSlice change, a NotReady node's withdrawal, and the per-node status writes
//! (field manager `porter/<node>`, session Established, advertisement condition).
//!
//! The fake answers no Lease (every replica leads) and keeps no write; the envtest tests
//! check allocation, leadership and status against a real API server.
//!
//! Needs root, `ip`, BIRD 2 and python3; skips loudly otherwise.

mod envtest_support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use envtest_support::netlab::{bird_command, forwarder_command, have, is_root, wait_fib, Lab, LAN};
use envtest_support::{manager_command, wait_for, Procs};
use serde_json::{json, Value};
use tokio::sync::broadcast;

const T: Duration = Duration::from_secs(40);

/// The fake API server's state.
struct Fake {
    /// Collection path (`/api/v1/nodes`, `/apis/<g>/<v>/eips`) → objects.
    objects: Mutex<BTreeMap<String, Vec<Value>>>,
    /// (collection, watch event) to every open watch.
    events: broadcast::Sender<(String, Value)>,
    /// Every write: method, path and query, body.
    writes: Mutex<Vec<(String, String, Value)>>,
    rv: AtomicU64,
}

/// `(collection, name)` of an API path; namespaced paths fold into the cluster-wide
/// collection (the fake's objects carry their namespace).
fn parse(path: &str) -> (String, Option<String>) {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (base, rest) = match seg.first() {
        Some(&"api") => (seg[..2].join("/"), &seg[2..]),
        _ => (seg[..3.min(seg.len())].join("/"), &seg[3.min(seg.len())..]),
    };
    let rest = if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        &rest[2..]
    } else {
        rest
    };
    (
        format!("/{base}/{}", rest.first().copied().unwrap_or_default()),
        rest.get(1).map(|s| s.to_string()),
    )
}

impl Fake {
    fn new() -> Arc<Fake> {
        Arc::new(Fake {
            objects: Mutex::default(),
            events: broadcast::channel(1024).0,
            writes: Mutex::default(),
            rv: AtomicU64::new(10),
        })
    }

    fn put(&self, collection: &str, mut obj: Value) {
        let rv = self.rv.fetch_add(1, Ordering::SeqCst).to_string();
        obj["metadata"]["resourceVersion"] = json!(rv);
        let mut all = self.objects.lock().unwrap();
        let list = all.entry(collection.to_string()).or_default();
        let same = |o: &Value| {
            o["metadata"]["name"] == obj["metadata"]["name"]
                && o["metadata"]["namespace"] == obj["metadata"]["namespace"]
        };
        let kind = match list.iter().position(same) {
            Some(i) => {
                list[i] = obj.clone();
                "MODIFIED"
            }
            None => {
                list.push(obj.clone());
                "ADDED"
            }
        };
        let _ = self
            .events
            .send((collection.to_string(), json!({"type": kind, "object": obj})));
    }

    fn writes_to(&self, path_prefix: &str) -> Vec<(String, Value)> {
        self.writes
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, p, _)| p.starts_with(path_prefix))
            .map(|(_, p, b)| (p.clone(), b.clone()))
            .collect()
    }
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(v).unwrap()))
        .unwrap()
}

async fn handle(State(fake): State<Arc<Fake>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or_default().to_string();
    let (collection, name) = parse(&path);
    if method == Method::GET {
        if collection.ends_with("/leases") {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "NotFound", "code": 404, "message": "not found"}),
            );
        }
        if query.contains("watch=true") {
            let rx = fake.events.subscribe();
            let stream = futures::stream::unfold(rx, move |mut rx| {
                let collection = collection.clone();
                async move {
                    loop {
                        match rx.recv().await {
                            Ok((c, ev)) if c == collection => {
                                let mut line = serde_json::to_vec(&ev).unwrap();
                                line.push(b'\n');
                                return Some((Ok::<_, Infallible>(Bytes::from(line)), rx));
                            }
                            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(broadcast::error::RecvError::Closed) => return None,
                        }
                    }
                }
            });
            return Response::builder()
                .header("content-type", "application/json")
                .body(Body::from_stream(stream))
                .unwrap();
        }
        let items = fake
            .objects
            .lock()
            .unwrap()
            .get(&collection)
            .cloned()
            .unwrap_or_default();
        return json_response(
            StatusCode::OK,
            &json!({"kind": "List", "apiVersion": "v1",
                    "metadata": {"resourceVersion": fake.rv.load(Ordering::SeqCst).to_string()},
                    "items": items}),
        );
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.writes
        .lock()
        .unwrap()
        .push((method.to_string(), format!("{path}?{query}"), body.clone()));
    // Answer a write with the stored object (the fake keeps none), else the body.
    let stored = name.and_then(|n| {
        fake.objects
            .lock()
            .unwrap()
            .get(&collection)?
            .iter()
            .find(|o| o["metadata"]["name"] == n.as_str())
            .cloned()
    });
    let mut reply = stored.unwrap_or(body);
    if reply.get("metadata").is_some() {
        reply["metadata"]["resourceVersion"] = json!("1");
    }
    let code = if method == Method::POST {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(code, &reply)
}

fn node(name: &str, ip: &str, ready: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
           "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                      "addresses": [{"type": "InternalIP", "address": ip}]}})
}

fn service(name: &str, ip: &str, local: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                        "finalizers": ["porter.network.kubesphere.io/service"],
                        "labels": {"eip.openelb.kubesphere.io/v1alpha2": "pool"},
                        "annotations": {"lb.kubesphere.io/v1alpha1": "openelb"}},
           "spec": {"type": "LoadBalancer", "ports": [{"port": 80}],
                    "externalTrafficPolicy": if local { "Local" } else { "Cluster" }},
           "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})
}

fn slice(node: &str) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "local-1", "namespace": "default",
                        "labels": {"kubernetes.io/service-name": "local"}},
           "addressType": "IPv4",
           "endpoints": [{"addresses": ["10.244.0.10"], "nodeName": node,
                          "conditions": {"ready": true}}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn managers_announce_ecmp_follow_endpoints_and_write_node_status() {
    let test = "managers_announce_ecmp_follow_endpoints_and_write_node_status";
    if !is_root() {
        eprintln!("SKIPPED: {test}: needs root (network namespaces, BGP port 179)");
        return;
    }
    for tool in ["ip", "bird", "python3"] {
        if !have(tool) {
            eprintln!("SKIPPED: {test}: {tool} is not installed (bash tests/deps.sh installs it)");
            return;
        }
    }
    let dir = std::env::temp_dir().join(format!("porter-fakeapi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let fake = Fake::new();
    let (h1, h2) = (format!("{LAN}.1"), format!("{LAN}.2"));
    fake.put("/api/v1/nodes", node("n1", &h1, true));
    fake.put("/api/v1/nodes", node("n2", &h2, true));
    fake.put(
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
    );
    fake.put(
        "/apis/network.kubesphere.io/v1alpha2/eips",
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
               "metadata": {"name": "pool", "finalizers": ["porter.network.kubesphere.io/eip"],
                            "annotations": {"eip.openelb.kubesphere.io/is-default-eip": "true"}},
               "spec": {"address": "203.0.113.0/28"}}),
    );
    fake.put(
        "/apis/network.kubesphere.io/v1alpha2/bgpconfs",
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
               "metadata": {"name": "default"}, "spec": {"as": 64512, "listenPort": 179}}),
    );
    fake.put(
        "/apis/network.kubesphere.io/v1alpha2/bgppeers",
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer",
               "metadata": {"name": "router"},
               "spec": {"conf": {"peerAs": 65001, "neighborAddress": format!("{LAN}.254")},
                        "timers": {"config": {"holdTime": 9, "keepaliveInterval": 3}}}}),
    );
    fake.put("/api/v1/services", service("cluster", "203.0.113.1", false));
    fake.put("/api/v1/services", service("local", "203.0.113.2", true));
    fake.put("/apis/discovery.k8s.io/v1/endpointslices", slice("n1"));

    // The fake API on a Unix socket; each node namespace reaches it on its 127.0.0.1:6443.
    let sock = dir.join("api.sock");
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: f\n  cluster:\n    server: http://127.0.0.1:6443\nusers:\n- name: f\n  user:\n    token: t\ncontexts:\n- name: f\n  context:\n    cluster: f\n    user: f\ncurrent-context: f\n",
    )
    .unwrap();

    let mut procs = Procs::default();
    let tag = format!("f{}", std::process::id() % 1000);
    let lab = Lab::new(&tag, 2);
    procs.spawn("bird", bird_command(&lab, &dir), &dir.join("bird.log"));
    for (i, ns) in lab.nodes.iter().enumerate() {
        procs.spawn(
            &format!("fwd{i}"),
            forwarder_command(ns, &dir, &sock),
            &dir.join(format!("fwd{i}.log")),
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, ns) in lab.nodes.iter().enumerate() {
        let pod = format!("porter-{}", i + 1);
        let cmd = manager_command(
            &pod,
            &format!("n{}", i + 1),
            &["ip", "netns", "exec", ns],
            &[],
            &kubeconfig,
        );
        procs.spawn(&pod, cmd, &dir.join(format!("{pod}.log")));
    }
    let logs = || {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        format!(
            "--- porter-1\n{}\n--- bird\n{}",
            read("porter-1.log"),
            read("bird.log")
        )
    };

    // ECMP: both replicas announce both nodes for the Cluster Service.
    let want: std::collections::BTreeSet<std::net::IpAddr> =
        [h1.parse().unwrap(), h2.parse().unwrap()].into();
    let deadline = std::time::Instant::now() + T;
    while lab.fib("203.0.113.1") != want {
        if std::time::Instant::now() > deadline {
            panic!(
                "no ECMP route for 203.0.113.1: {:?}\n{}",
                lab.fib("203.0.113.1"),
                logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_fib(&lab, "203.0.113.2", &[&h1], "Local, endpoint on n1", T).await;

    // The pod moves to n2: the next hop follows.
    fake.put("/apis/discovery.k8s.io/v1/endpointslices", slice("n2"));
    wait_fib(
        &lab,
        "203.0.113.2",
        &[&h2],
        "Local, endpoint moved to n2",
        T,
    )
    .await;

    // n2 goes NotReady: it leaves every next-hop set; the Local VIP has no node left.
    fake.put("/api/v1/nodes", node("n2", &h2, false));
    wait_fib(&lab, "203.0.113.1", &[&h1], "n2 NotReady", T).await;
    wait_fib(&lab, "203.0.113.2", &[], "Local VIP withdrawn", T).await;

    // Each node wrote its own BgpPeer entry, with its own field manager, Established.
    let peer_status = wait_for(T, "n1's Established nodesPeerStatus entry", || {
        let fake = fake.clone();
        async move {
            fake.writes_to("/apis/network.kubesphere.io/v1alpha2/bgppeers/router/status")
                .into_iter()
                .rev()
                .find(|(p, b)| {
                    p.contains("fieldManager=porter%2Fn1")
                        && b["status"]["nodesPeerStatus"]["n1"]["peerState"]["sessionState"]
                            == "ESTABLISHED"
                })
        }
    })
    .await;
    let entries = peer_status.1["status"]["nodesPeerStatus"]
        .as_object()
        .unwrap();
    assert_eq!(entries.len(), 1, "only its own entry: {entries:?}");
    assert!(peer_status.0.contains("force=true"));

    // BgpConf: each node's identity, router ID from its InternalIP.
    wait_for(T, "n2's nodesConfStatus entry", || {
        let fake = fake.clone();
        let h2 = h2.clone();
        async move {
            fake.writes_to("/apis/network.kubesphere.io/v1alpha2/bgpconfs/default/status")
                .into_iter()
                .find(|(p, b)| {
                    p.contains("fieldManager=porter%2Fn2")
                        && b["status"]["nodesConfStatus"]["n2"]["routerId"] == h2.as_str()
                        && b["status"]["nodesConfStatus"]["n2"]["as"] == 64512
                })
        }
    })
    .await;

    // The Service's advertisement condition from n1.
    let cond = wait_for(T, "n1's advertisement condition on Service cluster", || {
        let fake = fake.clone();
        async move {
            fake.writes_to("/api/v1/namespaces/default/services/cluster/status")
                .into_iter()
                .filter(|(p, _)| p.contains("fieldManager=porter%2Fn1"))
                .filter_map(|(_, b)| b["status"]["conditions"][0].as_object().cloned())
                .find(|c| c["status"] == "True")
        }
    })
    .await;
    assert_eq!(cond["type"], "advertised.porter.network.kubesphere.io/n1");
    assert!(
        cond["message"].as_str().unwrap().contains("to router"),
        "{cond:?}"
    );

    drop(procs);
    drop(lab);
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
