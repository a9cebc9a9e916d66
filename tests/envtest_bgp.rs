//! End to end with routing: a real kube-apiserver (envtest style), two `porter manager`
//! processes as two nodes, each in its own network namespace on a LAN with a BIRD router,
//! and assertions on what BIRD puts in its FIB and on the objects' status:
//! ECMP from both replicas, `externalTrafficPolicy: Local` next hops following EndpointSlice
//! changes, a NotReady node's withdrawal, BgpPeer status counters moving, and the Service's
//! advertisement condition.
//!
//! Needs root (network namespaces, port 179), `ip`, BIRD 2 and python3 (the in-namespace end
//! of the API server forwarder), and `KUBEBUILDER_ASSETS`; skips loudly otherwise.
//!
//! Lab: 10.200.48.0/24 on a bridge in the router namespace (router .254, node i at .i); VIPs
//! from 203.0.113.0/28. The API server listens on the host's loopback only (no address in the
//! host namespace): each node namespace reaches it through a TCP listener on its own
//! loopback that forwards over a Unix socket to the test, which forwards to the API server.

mod envtest_support;

use std::time::Duration;

use envtest_support::netlab::{
    bird_command, forwarder_command, have, is_root, serve_api_socket, wait_fib, Lab, LAN,
};
use envtest_support::{assets_or_skip, wait_for, Cluster};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use porter_crds::{BgpConf, BgpPeer, Eip};
use serde_json::json;

const T: Duration = Duration::from_secs(40);

async fn apply<K>(api: &Api<K>, v: serde_json::Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(v).unwrap();
    api.create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {}: {e}", obj.name_any()))
}

fn node_status(ready: bool, ip: &str) -> serde_json::Value {
    json!({"status": {
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                        "reason": "envtest", "message": "envtest",
                        "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        "addresses": [{"type": "InternalIP", "address": ip}]}})
}

fn slice(node: &str) -> serde_json::Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "local-1", "namespace": "default",
                        "labels": {"kubernetes.io/service-name": "local"}},
           "addressType": "IPv4",
           "ports": [{"port": 8080, "protocol": "TCP"}],
           "endpoints": [{"addresses": ["10.244.0.10"], "nodeName": node,
                          "conditions": {"ready": true}}]})
}

async fn wait_ip(client: &kube::Client, name: &str) -> String {
    let api = Api::<Service>::namespaced(client.clone(), "default");
    wait_for(T, &format!("an address for {name}"), || {
        let api = api.clone();
        async move {
            let s = api.get(name).await.ok()?;
            s.status?.load_balancer?.ingress?.first()?.ip.clone()
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn routers_see_ecmp_local_next_hops_and_not_ready_withdrawal() {
    let test = "routers_see_ecmp_local_next_hops_and_not_ready_withdrawal";
    let Some(assets) = assets_or_skip(test) else {
        return;
    };
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
    let mut cluster = Cluster::start(&assets, "bgp", "127.0.0.1").await;
    cluster.install_crds().await;
    let client = cluster.client.clone();
    let tag = format!("{}", std::process::id() % 10000);
    let lab = Lab::new(&tag, 2);

    // BIRD on the router.
    let bird = bird_command(&lab, &cluster.dir);
    cluster
        .procs
        .spawn("bird", bird, &cluster.dir.join("bird.log"));

    // API server access from the node namespaces.
    let sock = cluster.dir.join("api.sock");
    let api_addr = cluster.url.trim_start_matches("https://").to_string();
    serve_api_socket(sock.clone(), api_addr);
    for (i, ns) in lab.nodes.iter().enumerate() {
        let fwd = forwarder_command(ns, &cluster.dir, &sock);
        cluster.procs.spawn(
            &format!("fwd{i}"),
            fwd,
            &cluster.dir.join(format!("fwd{i}.log")),
        );
    }
    let ns_kubeconfig = cluster.kubeconfig_for("kubeconfig-ns", "https://127.0.0.1:6443");

    // Cluster objects.
    apply(
        &Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone()),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "porter-system"}}),
    )
    .await;
    let nodes = Api::<Node>::all(client.clone());
    for i in 1..=2 {
        let name = format!("n{i}");
        apply(
            &nodes,
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}),
        )
        .await;
        nodes
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(node_status(true, &format!("{LAN}.{i}"))),
            )
            .await
            .unwrap();
    }
    apply(
        &Api::<Eip>::all(client.clone()),
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
               "metadata": {"name": "pool",
                            "annotations": {"eip.openelb.kubesphere.io/is-default-eip": "true"}},
               "spec": {"address": "203.0.113.0/28"}}),
    )
    .await;
    // An OpenELB BgpConf/BgpPeer pair, as users write them; routerId from each node's IP.
    apply(
        &Api::<BgpConf>::all(client.clone()),
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
               "metadata": {"name": "default"}, "spec": {"as": 64512, "listenPort": 179}}),
    )
    .await;
    apply(
        &Api::<BgpPeer>::all(client.clone()),
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer",
               "metadata": {"name": "router"},
               "spec": {"conf": {"peerAs": 65001, "neighborAddress": format!("{LAN}.254")},
                        "timers": {"config": {"holdTime": 9, "keepaliveInterval": 3}}}}),
    )
    .await;

    for (i, ns) in lab.nodes.clone().iter().enumerate() {
        cluster.start_manager_with(
            &format!("porter-{}", i + 1),
            &format!("n{}", i + 1),
            &["ip", "netns", "exec", ns],
            &[],
            &ns_kubeconfig,
        );
    }

    let services = Api::<Service>::namespaced(client.clone(), "default");
    apply(
        &services,
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "cluster", "annotations": {"lb.kubesphere.io/v1alpha1": "openelb"}},
               "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
    )
    .await;
    apply(
        &services,
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "local", "annotations": {"lb.kubesphere.io/v1alpha1": "openelb"}},
               "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                        "ports": [{"port": 81}]}}),
    )
    .await;
    let slices = Api::<EndpointSlice>::namespaced(client.clone(), "default");
    apply(&slices, slice("n1")).await;

    let cluster_vip = wait_ip(&client, "cluster").await;
    let local_vip = wait_ip(&client, "local").await;
    assert_ne!(cluster_vip, local_vip);
    let (h1, h2) = (format!("{LAN}.1"), format!("{LAN}.2"));

    // ECMP from both replicas.
    wait_fib(&lab, &cluster_vip, &[&h1, &h2], "Cluster policy", T).await;
    // Local: only the node with the ready endpoint.
    wait_fib(&lab, &local_vip, &[&h1], "Local policy, endpoint on n1", T).await;

    // The pod moves to n2.
    slices
        .patch(
            "local-1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"endpoints": [{"addresses": ["10.244.1.10"], "nodeName": "n2",
                                                "conditions": {"ready": true}}]}),
            ),
        )
        .await
        .unwrap();
    wait_fib(
        &lab,
        &local_vip,
        &[&h2],
        "Local policy, endpoint moved to n2",
        T,
    )
    .await;

    // The endpoint becomes unready: withdrawn, not left stale.
    slices
        .patch(
            "local-1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"endpoints": [{"addresses": ["10.244.1.10"], "nodeName": "n2",
                                                "conditions": {"ready": false}}]}),
            ),
        )
        .await
        .unwrap();
    wait_fib(&lab, &local_vip, &[], "Local policy, no ready endpoint", T).await;

    // n2 goes NotReady: it leaves the Cluster VIP's next hops.
    nodes
        .patch_status(
            "n2",
            &PatchParams::default(),
            &Patch::Merge(node_status(false, &h2)),
        )
        .await
        .unwrap();
    wait_fib(&lab, &cluster_vip, &[&h1], "n2 NotReady", T).await;

    // BgpPeer status: both nodes' sessions, counters moving.
    let peers = Api::<BgpPeer>::all(client.clone());
    let received = |p: &BgpPeer, node: &str| -> Option<u64> {
        let st = p.status.as_ref()?.nodes_peer_status.get(node)?;
        Some(st.peer_state.messages.as_ref()?.received.as_ref()?.total.0)
    };
    let first = wait_for(T, "n1 and n2 Established in BgpPeer status", || {
        let peers = peers.clone();
        async move {
            let p = peers.get("router").await.ok()?;
            let s = p.status.as_ref()?;
            let est = |n: &str| {
                s.nodes_peer_status
                    .get(n)
                    .and_then(|e| e.peer_state.session_state)
                    == Some(porter_crds::bgp_peer::SessionState::Established)
            };
            (est("n1") && est("n2"))
                .then(|| received(&p, "n1"))
                .flatten()
        }
    })
    .await;
    wait_for(T, "n1's received counter moving", || {
        let peers = peers.clone();
        async move {
            let p = peers.get("router").await.ok()?;
            (received(&p, "n1")? > first).then_some(())
        }
    })
    .await;

    // The Service says where it is advertised from this node.
    let cond = wait_for(T, "the advertisement condition of n1", || {
        let services = services.clone();
        async move {
            let s = services.get("cluster").await.ok()?;
            s.status?.conditions?.into_iter().find(|c| {
                c.type_ == "advertised.porter.network.kubesphere.io/n1" && c.status == "True"
            })
        }
    })
    .await;
    assert!(cond.message.contains("to router"), "{}", cond.message);

    // Processes first, then their namespaces.
    drop(cluster);
    drop(lab);
}
