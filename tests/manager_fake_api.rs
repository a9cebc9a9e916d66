//! `porter manager` end to end on the routing side, where no kube-apiserver is at hand: two
//! manager processes in network namespaces peer with a BIRD router, and a small fake API
//! server in the test (fixed objects, list + watch, changes pushed as watch events, every
//! write recorded) stands in for Kubernetes. It checks what only real processes show: ECMP
//! from both replicas in BIRD's FIB, `externalTrafficPolicy: Local` next hops following an
//! EndpointSlice change, a NotReady node's withdrawal, and the per-node status writes
//! (field manager `porter/<node>`, session Established, advertisement condition).
//!
//! The fake (`envtest_support::fake_api`) is no kube-apiserver; the envtest tests check the
//! same against a real one.
//!
//! Needs root, `ip`, BIRD 2 and python3; skips loudly otherwise.

mod envtest_support;

use std::path::Path;
use std::time::Duration;

use envtest_support::fake_api::FakeApi;
use envtest_support::faults::fake_kubeconfig;
use envtest_support::netlab::{have, is_root, spawn_cluster, wait_fib, Lab, LAN};
use envtest_support::{manager_command, wait_for, Procs};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(40);

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

    let fake = FakeApi::new();
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
    let app = fake.router();
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
    spawn_cluster(&mut procs, &lab, &dir, &sock, &kubeconfig).await;
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

fn ingress_ip(fake: &FakeApi, name: &str) -> Option<String> {
    let s = fake.get("/api/v1/services", Some("default"), name)?;
    s["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .map(str::to_owned)
}

/// Allocation and leader failover with real processes (unprivileged: no BGP, loopback only):
/// the leader allocates through status apply, finalizer and label; killed without warning,
/// the other replica takes the Lease, rebuilds from the Services and never hands an address
/// out twice; a deleted Service's address is released through its finalizer and reused.
#[tokio::test(flavor = "multi_thread")]
async fn failover_keeps_addresses_unique_and_releases_through_the_finalizer() {
    let dir = std::env::temp_dir().join(format!("porter-fakeapi-fo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fake = FakeApi::new();
    for (i, n) in ["n1", "n2"].iter().enumerate() {
        fake.put("/api/v1/nodes", node(n, &format!("{LAN}.{}", i + 1), true));
    }
    for ns in ["default", "porter-system"] {
        fake.put(
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        );
    }
    fake.put(
        "/apis/network.kubesphere.io/v1alpha2/eips",
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
               "metadata": {"name": "pool", "generation": 1,
                            "annotations": {"eip.openelb.kubesphere.io/is-default-eip": "true"}},
               "spec": {"address": "203.0.113.0/29"}}),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = fake.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let kc = fake_kubeconfig(&dir, &format!("http://{addr}"));

    let mut procs = Procs::default();
    for (pod, node) in [("porter-1", "n1"), ("porter-2", "n2")] {
        let cmd = manager_command(pod, node, &[], &[], &kc);
        procs.spawn(pod, cmd, &dir.join(format!("{pod}.log")));
    }
    let new_service = |name: &str| {
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                            "annotations": {"lb.kubesphere.io/v1alpha1": "openelb"}},
               "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    };

    fake.put("/api/v1/services", new_service("a"));
    let a = wait_for(T, "an address for a", || {
        let fake = fake.clone();
        async move { ingress_ip(&fake, "a") }
    })
    .await;
    assert_eq!(a, "203.0.113.1");
    let svc = fake.get("/api/v1/services", Some("default"), "a").unwrap();
    assert_eq!(
        svc["metadata"]["finalizers"],
        json!(["porter.network.kubesphere.io/service"])
    );
    let eip = wait_for(T, "Eip status usage 1", || {
        let fake = fake.clone();
        async move {
            let e = fake.get("/apis/network.kubesphere.io/v1alpha2/eips", None, "pool")?;
            (e["status"]["usage"] == 1).then_some(e)
        }
    })
    .await;
    assert_eq!(eip["status"]["used"]["203.0.113.1"], "default/a");
    wait_for(T, "the Eip label", || {
        let fake = fake.clone();
        async move {
            let s = fake.get("/api/v1/services", Some("default"), "a")?;
            (s["metadata"]["labels"]["eip.openelb.kubesphere.io/v1alpha2"] == "pool").then_some(())
        }
    })
    .await;

    // The leader dies without releasing the Lease.
    let lease = |fake: &FakeApi| {
        fake.get(
            "/apis/coordination.k8s.io/v1/leases",
            Some("porter-system"),
            "porter-manager",
        )
    };
    let leader = lease(&fake).unwrap()["spec"]["holderIdentity"]
        .as_str()
        .unwrap()
        .to_string();
    procs.kill(&leader);
    fake.put("/api/v1/services", new_service("b"));
    let b = wait_for(
        Duration::from_secs(30),
        "an address for b after failover",
        || {
            let fake = fake.clone();
            async move { ingress_ip(&fake, "b") }
        },
    )
    .await;
    assert_ne!(a, b, "an address handed out twice");
    let holder = lease(&fake).unwrap()["spec"]["holderIdentity"].clone();
    assert_ne!(holder, json!(leader), "the other replica took over");
    assert_eq!(
        ingress_ip(&fake, "a").as_deref(),
        Some(a.as_str()),
        "a kept its address"
    );

    // Deleting a: the finalizer holds it until its address is released.
    let mut deleting = fake.get("/api/v1/services", Some("default"), "a").unwrap();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    fake.put("/api/v1/services", deleting);
    wait_for(T, "a gone", || {
        let fake = fake.clone();
        async move {
            fake.get("/api/v1/services", Some("default"), "a")
                .is_none()
                .then_some(())
        }
    })
    .await;
    fake.put("/api/v1/services", new_service("c"));
    let c = wait_for(T, "an address for c", || {
        let fake = fake.clone();
        async move { ingress_ip(&fake, "c") }
    })
    .await;
    assert_eq!(c, a, "the released address is reused");
    let released = fake
        .writes_to("/apis/events.k8s.io/v1/namespaces/default/events")
        .into_iter()
        .any(|(_, e)| e["reason"] == "Released" && e["regarding"]["name"] == "a");
    assert!(released, "a Released Event for a");

    let survivor = if leader == "porter-1" {
        "porter-2"
    } else {
        "porter-1"
    };
    let log = std::fs::read_to_string(dir.join(format!("{survivor}.log"))).unwrap();
    assert!(log.contains("TakeOver"), "{log}");

    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A full pool: the next Service gets a Warning and waits; a release hands it the address;
/// an Eip deleted while in use is held by its finalizer with the reason in its status.
#[tokio::test(flavor = "multi_thread")]
async fn exhausted_pool_warns_retries_on_release_and_holds_eip_deletion() {
    let dir = std::env::temp_dir().join(format!("porter-fakeapi-ex-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fake = FakeApi::new();
    fake.put("/api/v1/nodes", node("n1", &format!("{LAN}.1"), true));
    fake.put(
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
    );
    // Two usable addresses: .1 and .2 of a /30.
    fake.put(
        "/apis/network.kubesphere.io/v1alpha2/eips",
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
               "metadata": {"name": "small", "generation": 1,
                            "annotations": {"eip.openelb.kubesphere.io/is-default-eip": "true"}},
               "spec": {"address": "198.51.100.0/30"}}),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = fake.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let kc = fake_kubeconfig(&dir, &format!("http://{addr}"));
    let mut procs = Procs::default();
    procs.spawn(
        "porter-1",
        manager_command("porter-1", "n1", &[], &[], &kc),
        &dir.join("porter-1.log"),
    );
    let new_service = |name: &str| {
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                            "annotations": {"lb.kubesphere.io/v1alpha1": "porter"}},
               "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    };
    for name in ["s1", "s2", "s3"] {
        fake.put("/api/v1/services", new_service(name));
    }
    // Two of the three get the two addresses (in whatever order they are reconciled).
    let waiting = wait_for(T, "two Services with an address", || {
        let fake = fake.clone();
        async move {
            let without: Vec<&str> = ["s1", "s2", "s3"]
                .into_iter()
                .filter(|n| ingress_ip(&fake, n).is_none())
                .collect();
            (without.len() == 1).then(|| without[0].to_string())
        }
    })
    .await;
    let warning = wait_for(T, "a Warning for the waiting Service", || {
        let fake = fake.clone();
        let waiting = waiting.clone();
        async move {
            fake.writes_to("/apis/events.k8s.io/v1/namespaces/default/events")
                .into_iter()
                .map(|(_, e)| e)
                .find(|e| e["type"] == "Warning" && e["regarding"]["name"] == waiting.as_str())
        }
    })
    .await;
    assert_eq!(warning["reason"], "AllocationFailed");
    assert!(
        warning["note"]
            .as_str()
            .unwrap()
            .contains("no free IPv4 address in pool(s) small"),
        "{warning}"
    );
    let holders: Vec<&str> = ["s1", "s2", "s3"]
        .into_iter()
        .filter(|n| *n != waiting)
        .collect();

    // One holder goes: the waiting one gets its address without waiting for the retry period.
    let (gone, kept) = (holders[0], holders[1]);
    let freed = ingress_ip(&fake, gone).unwrap();
    let mut deleting = fake.get("/api/v1/services", Some("default"), gone).unwrap();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    fake.put("/api/v1/services", deleting);
    let got = wait_for(
        Duration::from_secs(20),
        "an address after the release",
        || {
            let fake = fake.clone();
            let waiting = waiting.clone();
            async move { ingress_ip(&fake, &waiting) }
        },
    )
    .await;
    assert_eq!(got, freed);

    // Deleting the Eip in use: held, with the holders named.
    let mut eip = fake
        .get("/apis/network.kubesphere.io/v1alpha2/eips", None, "small")
        .unwrap();
    assert!(eip["metadata"]["finalizers"]
        .as_array()
        .unwrap()
        .contains(&json!("porter.network.kubesphere.io/eip")));
    eip["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    fake.put("/apis/network.kubesphere.io/v1alpha2/eips", eip);
    let ready = wait_for(T, "DeletionBlocked", || {
        let fake = fake.clone();
        async move {
            let e = fake.get("/apis/network.kubesphere.io/v1alpha2/eips", None, "small")?;
            e["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "Ready" && c["reason"] == "DeletionBlocked")
                .cloned()
        }
    })
    .await;
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("default/{kept}"))
            && message.contains(&format!("default/{waiting}")),
        "{message}"
    );
    // Services keep their addresses meanwhile.
    assert_eq!(ingress_ip(&fake, &waiting).as_deref(), Some(got.as_str()));
    for name in [kept, waiting.as_str()] {
        let mut d = fake.get("/api/v1/services", Some("default"), name).unwrap();
        d["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        fake.put("/api/v1/services", d);
    }
    wait_for(Duration::from_secs(30), "the Eip gone once unused", || {
        let fake = fake.clone();
        async move {
            fake.get("/apis/network.kubesphere.io/v1alpha2/eips", None, "small")
                .is_none()
                .then_some(())
        }
    })
    .await;

    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}
