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

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use envtest_support::{assets_or_skip, wait_for, Cluster};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use porter_crds::{BgpConf, BgpPeer, Eip};
use serde_json::json;

const T: Duration = Duration::from_secs(40);
const LAN: &str = "10.200.48";

/// Network namespaces deleted on drop.
struct Lab {
    router: String,
    nodes: Vec<String>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.nodes.iter().chain([&self.router]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Lab {
    fn new(tag: &str, nodes: usize) -> Lab {
        let lab = Lab {
            router: format!("pk8s{tag}-r"),
            nodes: (1..=nodes).map(|i| format!("pk8s{tag}-n{i}")).collect(),
        };
        for ns in lab.nodes.iter().chain([&lab.router]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
            sh(&["ip", "netns", "add", ns]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        let r = lab.router.as_str();
        sh(&["ip", "-n", r, "link", "add", "br0", "type", "bridge"]);
        sh(&[
            "ip",
            "-n",
            r,
            "addr",
            "add",
            &format!("{LAN}.254/24"),
            "dev",
            "br0",
        ]);
        sh(&["ip", "-n", r, "link", "set", "br0", "up"]);
        for (i, ns) in lab.nodes.iter().enumerate() {
            let port = format!("e{}", i + 1);
            // Both ends are created inside namespaces: nothing appears in the host's.
            sh(&[
                "ip", "-n", r, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", ns,
            ]);
            sh(&["ip", "-n", r, "link", "set", &port, "master", "br0", "up"]);
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{LAN}.{}/24", i + 1),
                "dev",
                "eth0",
            ]);
            sh(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
        }
        lab
    }

    /// Next hops of `vip` in the router's FIB (empty when there is no route).
    fn fib(&self, vip: &str) -> BTreeSet<IpAddr> {
        let out = Command::new("ip")
            .args(["-n", &self.router, "route", "show", vip])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let words: Vec<&str> = text.split_whitespace().collect();
        words
            .windows(2)
            .filter(|w| w[0] == "via")
            .filter_map(|w| w[1].parse().ok())
            .collect()
    }
}

const BIRD_CONF: &str = r#"
log stderr all;
router id 10.200.48.254;
protocol device { scan time 1; }
protocol kernel {
  ipv4 { import none; export all; };
  merge paths on;
  scan time 2;
}
template bgp porter {
  local 10.200.48.254 as 65001;
  hold time 9;
  keepalive time 3;
  connect retry time 2;
  ipv4 { import all; export none; add paths rx; };
}
protocol bgp n1 from porter { neighbor 10.200.48.1 as 64512; }
protocol bgp n2 from porter { neighbor 10.200.48.2 as 64512; }
"#;

/// The in-namespace end of the API server forwarder: TCP on the namespace's loopback to the
/// Unix socket the test serves.
const FORWARDER: &str = r#"
import asyncio, sys
port, path = int(sys.argv[1]), sys.argv[2]
async def pipe(r, w):
    try:
        while True:
            d = await r.read(65536)
            if not d:
                break
            w.write(d)
            await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def handle(r, w):
    ur, uw = await asyncio.open_unix_connection(path)
    await asyncio.gather(pipe(r, uw), pipe(ur, w))
async def main():
    s = await asyncio.start_server(handle, '127.0.0.1', port)
    async with s:
        await s.serve_forever()
asyncio.run(main())
"#;

/// Serves `sock`, forwarding each connection to the API server at `api` (host loopback).
fn serve_api_socket(sock: PathBuf, api: String) {
    let _ = std::fs::remove_file(&sock);
    let listener = tokio::net::UnixListener::bind(&sock).expect("bind the forwarder socket");
    tokio::spawn(async move {
        loop {
            let Ok((mut unix, _)) = listener.accept().await else {
                return;
            };
            let api = api.clone();
            tokio::spawn(async move {
                if let Ok(mut tcp) = tokio::net::TcpStream::connect(&api).await {
                    let _ = tokio::io::copy_bidirectional(&mut unix, &mut tcp).await;
                }
            });
        }
    });
}

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

async fn wait_fib(lab: &Lab, vip: &str, want: &[&str], what: &str) {
    let want: BTreeSet<IpAddr> = want.iter().map(|s| s.parse().unwrap()).collect();
    let mut last = BTreeSet::new();
    let found = tokio::time::timeout(T, async {
        loop {
            last = lab.fib(vip);
            if last == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "{what}: router FIB for {vip} is {last:?}, want {want:?}"
    );
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
    let bird_conf = cluster.dir.join("bird.conf");
    std::fs::write(&bird_conf, BIRD_CONF).unwrap();
    let mut bird = Command::new("ip");
    bird.args(["netns", "exec", &lab.router, "bird", "-f", "-c"])
        .arg(&bird_conf)
        .arg("-s")
        .arg(cluster.dir.join("bird.ctl"));
    cluster
        .procs
        .spawn("bird", bird, &cluster.dir.join("bird.log"));

    // API server access from the node namespaces.
    let sock = cluster.dir.join("api.sock");
    let api_addr = cluster.url.trim_start_matches("https://").to_string();
    serve_api_socket(sock.clone(), api_addr);
    let script = cluster.dir.join("forward.py");
    std::fs::write(&script, FORWARDER).unwrap();
    for (i, ns) in lab.nodes.iter().enumerate() {
        let mut fwd = Command::new("ip");
        fwd.args(["netns", "exec", ns, "python3"])
            .arg(&script)
            .arg("6443")
            .arg(&sock);
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
    wait_fib(&lab, &cluster_vip, &[&h1, &h2], "Cluster policy").await;
    // Local: only the node with the ready endpoint.
    wait_fib(&lab, &local_vip, &[&h1], "Local policy, endpoint on n1").await;

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
    wait_fib(&lab, &local_vip, &[], "Local policy, no ready endpoint").await;

    // n2 goes NotReady: it leaves the Cluster VIP's next hops.
    nodes
        .patch_status(
            "n2",
            &PatchParams::default(),
            &Patch::Merge(node_status(false, &h2)),
        )
        .await
        .unwrap();
    wait_fib(&lab, &cluster_vip, &[&h1], "n2 NotReady").await;

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
