//! The path a user follows, on a real control plane (etcd, kube-apiserver and
//! kube-controller-manager from `KUBEBUILDER_ASSETS`, see `envtest_support`):
//!
//! - `kubectl apply -k deploy/` exactly as shipped, then deploy/samples/ with the router's
//!   address adapted to the lab;
//! - two `porter manager` processes play two nodes, each in its own network namespace on a LAN
//!   with a BIRD router, authenticating with a token of the ServiceAccount deploy/rbac.yaml
//!   binds: every call is judged by the real RBAC authorizer, and a refused one fails the test;
//! - Pods made Ready and not Ready through their status, as a kubelet would: EndpointSlices
//!   come from kube-controller-manager, and `externalTrafficPolicy: Local` next hops follow;
//! - a Node made NotReady is withdrawn, the control plane restarted under running speakers
//!   withdraws nothing, the leader SIGKILLed mid-allocation hands no address out twice, a
//!   deleted Service releases its finalizer and its route;
//! - BFD turned on in the BgpPeer against a BIRD with BFD: both nodes Up in its status, no
//!   BGP restart for it.
//! - `kubectl get eips`, `kubectl get bgppeers -o yaml` and `kubectl get events` show what
//!   README says;
//! - objects written as OpenELB's documentation writes them apply unchanged, and their status
//!   reads as OpenELB's does.
//!
//! Needs root (network namespaces, port 179), `ip`, BIRD 2, python3 and
//! `KUBEBUILDER_ASSETS`; skips loudly otherwise (a failure under `PORTER_LAB_REQUIRE=1`).
//!
//! Lab: 10.200.49.0/24 on a bridge in the router namespace (router .254, node4 at .1, node5 at
//! .2); VIPs from the sample pool 203.0.113.0/24, inside the lab only.

mod envtest_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use envtest_support::faults::{self, ingress_ips, Backend, RealApi};
use envtest_support::netlab::{
    bird_command, bird_config_with, forwarder_command, have, is_root, serve_api_socket, wait_fib,
    Lab,
};
use envtest_support::{assets_or_skip, create_pod, log_tails, set_pod_ready, wait_for, Cluster};
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(40);
const LAN: &str = "10.200.49";
const NODES: [&str; 2] = ["node4", "node5"];

fn node_status(ready: bool, ip: &str) -> Value {
    json!({"status": {
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                        "reason": "KubeletReady", "message": "envtest",
                        "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        "addresses": [{"type": "InternalIP", "address": ip}]}})
}

async fn set_node_ready(nodes: &Api<Node>, i: usize, ready: bool) {
    let status = node_status(ready, &format!("{LAN}.{}", i + 1));
    nodes
        .patch_status(NODES[i], &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
}

/// Creates a Cluster-policy Service `name` selecting Pods `app: name`. Retries while the API
/// server answers 500: right after a restart its ClusterIP allocator says "range is full"
/// until it has read the ServiceCIDRs again.
async fn create_service(services: &Api<Service>, name: &str) {
    let svc: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "annotations": {"lb.kubesphere.io/v1alpha1": "openelb"}},
        "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": 80}]}}))
    .unwrap();
    let deadline = Instant::now() + T;
    loop {
        match services.create(&PostParams::default(), &svc).await {
            Ok(_) => return,
            Err(kube::Error::Api(e)) if e.code == 500 && Instant::now() < deadline => {
                eprintln!("create Service {name}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("create Service {name}: {e}"),
        }
    }
}

async fn wait_ip(services: &Api<Service>, name: &str) -> String {
    wait_for(T, &format!("an address for {name}"), || async move {
        let s = services.get(name).await.ok()?;
        s.status?.load_balancer?.ingress?.first()?.ip.clone()
    })
    .await
}

/// Every LoadBalancer Service's addresses, by name.
async fn addresses(services: &Api<Service>) -> BTreeMap<String, Vec<String>> {
    let list = services.list(&ListParams::default()).await.unwrap();
    list.items
        .iter()
        .filter(|s| s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"))
        .map(|s| {
            let v = serde_json::to_value(s).unwrap();
            (s.name_any(), ingress_ips(&v))
        })
        .collect()
}

/// The samples as a user adapts them: the BgpPeer's neighbor is the lab router.
fn adapted_samples(dir: &Path) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/samples");
    let out = dir.join("samples");
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace(
            "neighborAddress: 10.0.0.1",
            &format!("neighborAddress: {LAN}.254"),
        );
        std::fs::write(out.join(path.file_name().unwrap()), text).unwrap();
    }
    assert!(
        std::fs::read_to_string(out.join("bgppeer.yaml"))
            .unwrap()
            .contains(&format!("{LAN}.254")),
        "deploy/samples/bgppeer.yaml no longer names 10.0.0.1: adapt this test"
    );
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_applies_deploy_and_samples_and_porter_serves_them() {
    let test = "a_user_applies_deploy_and_samples_and_porter_serves_them";
    let Some(assets) = assets_or_skip(test) else {
        return;
    };
    if !is_root() {
        assert!(
            std::env::var("PORTER_LAB_REQUIRE").as_deref() != Ok("1"),
            "{test}: needs root"
        );
        eprintln!("SKIPPED: {test}: needs root (network namespaces, BGP port 179)");
        return;
    }
    for tool in ["ip", "bird", "birdc", "python3"] {
        if !have(tool) {
            eprintln!("SKIPPED: {test}: {tool} is not installed (bash tests/deps.sh installs it)");
            assert!(std::env::var("PORTER_LAB_REQUIRE").as_deref() != Ok("1"));
            return;
        }
    }
    let mut cluster = Cluster::start(&assets, "e2e", "127.0.0.1").await;
    let client = cluster.client.clone();
    let dir = cluster.dir.clone();

    // deploy/ exactly as shipped.
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let applied = cluster.kubectl(&["apply", "-k", deploy.to_str().unwrap()]);
    for created in [
        "customresourcedefinition.apiextensions.k8s.io/eips.network.kubesphere.io created",
        "customresourcedefinition.apiextensions.k8s.io/bgpconfs.network.kubesphere.io created",
        "customresourcedefinition.apiextensions.k8s.io/bgppeers.network.kubesphere.io created",
        "namespace/porter-system created",
        "serviceaccount/porter created",
        "clusterrole.rbac.authorization.k8s.io/porter-manager created",
        "clusterrolebinding.rbac.authorization.k8s.io/porter-manager created",
        "role.rbac.authorization.k8s.io/porter-leases created",
        "rolebinding.rbac.authorization.k8s.io/porter-leases created",
        "deployment.apps/porter-manager created",
        "poddisruptionbudget.policy/porter-manager created",
    ] {
        assert!(
            applied.contains(created),
            "{created} missing from:\n{applied}"
        );
    }
    cluster.kubectl(&[
        "wait",
        "--for=condition=Established",
        "crd",
        "--all",
        "--timeout=30s",
    ]);
    cluster.use_porter_token();

    // The lab: BIRD (AS 65001, as the sample BgpPeer says) and the API forwarders.
    let tag = format!("{}", std::process::id() % 10000);
    let lab = Lab::with_lan(&format!("pe2e-{tag}"), LAN, 2);
    cluster
        .procs
        .spawn("bird", bird_command(&lab, &dir), &dir.join("bird.log"));
    let sock = dir.join("api.sock");
    serve_api_socket(
        sock.clone(),
        cluster.url.trim_start_matches("https://").into(),
    );
    for (i, ns) in lab.nodes.iter().enumerate() {
        let fwd = forwarder_command(ns, &dir, &sock);
        cluster
            .procs
            .spawn(&format!("fwd{i}"), fwd, &dir.join(format!("fwd{i}.log")));
    }
    let ns_kubeconfig = cluster.kubeconfig_for("kubeconfig-ns", "https://127.0.0.1:6443");

    // Two Nodes, as kubelets would register them.
    let nodes = Api::<Node>::all(client.clone());
    for (i, name) in NODES.iter().enumerate() {
        let node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}))
        .unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
        set_node_ready(&nodes, i, true).await;
    }

    let samples = adapted_samples(&dir);
    cluster.kubectl(&["apply", "-f", samples.to_str().unwrap()]);

    let mut managers: Vec<String> = Vec::new();
    for (i, ns) in lab.nodes.clone().iter().enumerate() {
        let pod = format!("porter-{}", i + 1);
        cluster.start_manager_with(
            &pod,
            NODES[i],
            &["ip", "netns", "exec", ns],
            &[],
            &ns_kubeconfig,
        );
        managers.push(pod);
    }
    let logs = |managers: &[String]| {
        let names: Vec<&str> = managers.iter().map(String::as_str).collect();
        log_tails(&dir, &names)
    };
    let (h1, h2) = (format!("{LAN}.1"), format!("{LAN}.2"));
    let services = Api::<Service>::namespaced(client.clone(), "default");

    // The sample Service is Local: its Pod on node4 becomes Ready.
    create_pod(&client, "default", "web-1", json!({"app": "web"}), NODES[0]).await;
    set_pod_ready(&client, "default", "web-1", "10.244.4.10", true).await;
    let web = wait_ip(&services, "web").await;
    wait_fib(&lab, &web, &[&h1], "Local, Ready Pod on node4", T).await;

    // A Cluster Service: ECMP over both nodes.
    create_service(&services, "cluster").await;
    let cluster_vip = wait_ip(&services, "cluster").await;
    wait_fib(&lab, &cluster_vip, &[&h1, &h2], "Cluster policy, ECMP", T).await;

    // The Pod moves to node5; then no Pod is ready: withdrawn, not left stale.
    set_pod_ready(&client, "default", "web-1", "10.244.4.10", false).await;
    create_pod(&client, "default", "web-2", json!({"app": "web"}), NODES[1]).await;
    set_pod_ready(&client, "default", "web-2", "10.244.5.10", true).await;
    wait_fib(&lab, &web, &[&h2], "Local, Pod moved to node5", T).await;
    set_pod_ready(&client, "default", "web-2", "10.244.5.10", false).await;
    wait_fib(&lab, &web, &[], "Local, no Ready Pod", T).await;

    // node5 NotReady: it leaves the Cluster VIP's next hops; Ready again: back.
    set_node_ready(&nodes, 1, false).await;
    wait_fib(&lab, &cluster_vip, &[&h1], "node5 NotReady", T).await;
    set_node_ready(&nodes, 1, true).await;
    wait_fib(&lab, &cluster_vip, &[&h1, &h2], "node5 Ready again", T).await;

    // What kubectl shows (README, "What porter writes").
    let mut eips = String::new();
    let deadline = Instant::now() + T;
    while !eips.contains("eip-sample-pool   203.0.113.0/24   2       254") {
        assert!(Instant::now() < deadline, "kubectl get eips:\n{eips}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        eips = cluster.kubectl(&["get", "eips"]);
    }
    assert!(
        eips.starts_with("NAME              CIDR             USAGE   TOTAL"),
        "{eips}"
    );
    let peers_yaml = wait_for(
        T,
        "both nodes Established in kubectl get bgppeers -o yaml",
        || {
            let out = cluster.kubectl(&["get", "bgppeers", "-o", "yaml"]);
            async move {
                let v: Value = serde_yaml::from_str(&out).ok()?;
                let st = &v["items"][0]["status"]["nodesPeerStatus"];
                NODES
                    .iter()
                    .all(|n| st[n]["peerState"]["sessionState"] == "ESTABLISHED")
                    .then_some(out)
            }
        },
    )
    .await;
    for field in [
        "neighborAddress: 10.200.49.254",
        "peerAs: 65001",
        "timersState:",
    ] {
        assert!(peers_yaml.contains(field), "{field} missing:\n{peers_yaml}");
    }
    // Counters move (keepalives every 3 s), and the Service says where it is advertised.
    let received = |yaml: &str| -> Option<u64> {
        let v: Value = serde_yaml::from_str(yaml).ok()?;
        let total = &v["items"][0]["status"]["nodesPeerStatus"]["node4"]["peerState"]["messages"]
            ["received"]["total"];
        total.as_str()?.parse().ok()
    };
    let first = received(&peers_yaml).expect("a received counter, as a string");
    wait_for(T, "node4's received counter moving", || {
        let out = cluster.kubectl(&["get", "bgppeers", "-o", "yaml"]);
        async move { (received(&out)? > first).then_some(()) }
    })
    .await;
    let cond = wait_for(
        T,
        "node4's advertisement condition on Service cluster",
        || {
            let services = services.clone();
            async move {
                let s = services.get("cluster").await.ok()?;
                s.status?.conditions?.into_iter().find(|c| {
                    c.type_ == "advertised.porter.network.kubesphere.io/node4" && c.status == "True"
                })
            }
        },
    )
    .await;
    assert!(
        cond.message.contains("to bgppeer-sample"),
        "{}",
        cond.message
    );
    // BFD, porter's extension: the router runs it, then the BgpPeer turns it on. Both nodes'
    // BFD sessions come Up in the BgpPeer's status, and the BGP sessions are not restarted
    // for it (a BFD setting is not a session setting).
    let mut bfd_bird = envtest_support::netlab::bird_config(LAN, lab.nodes.len());
    for p in &mut bfd_bird.peers {
        p.bfd = Some((300, 3));
    }
    std::fs::write(dir.join("bird.conf"), bfd_bird.render()).unwrap();
    let reconfigured = faults::birdc(&dir, &["configure"]);
    assert!(reconfigured.contains("Reconfigur"), "{reconfigured}");
    let node_status = |out: String| -> Option<Value> {
        let v: Value = serde_yaml::from_str(&out).ok()?;
        Some(v["items"][0]["status"]["nodesPeerStatus"].clone())
    };
    let before = wait_for(T, "both nodes Established with BFD on the router", || {
        let out = cluster.kubectl(&["get", "bgppeers", "-o", "yaml"]);
        async move {
            let st = node_status(out)?;
            NODES
                .iter()
                .all(|n| st[n]["peerState"]["sessionState"] == "ESTABLISHED")
                .then_some(st)
        }
    })
    .await;
    cluster.kubectl(&[
        "patch",
        "bgppeer",
        "bgppeer-sample",
        "--type=merge",
        "-p",
        r#"{"spec":{"bfd":{"enabled":true}}}"#,
    ]);
    let after = wait_for(T, "both nodes' BFD Up in the BgpPeer's status", || {
        let out = cluster.kubectl(&["get", "bgppeers", "-o", "yaml"]);
        async move {
            let st = node_status(out)?;
            NODES
                .iter()
                .all(|n| st[n]["bfd"]["state"] == "Up")
                .then_some(st)
        }
    })
    .await;
    for n in NODES {
        let bfd = &after[n]["bfd"];
        assert_eq!(
            (
                &bfd["txIntervalMs"],
                &bfd["detectionTimeMs"],
                &bfd["upTransitions"]
            ),
            (&300.into(), &900.into(), &"1".into()),
            "{n}: {bfd}"
        );
        assert_eq!(
            (
                &after[n]["peerState"]["flops"],
                &after[n]["peerState"]["sessionState"]
            ),
            (&before[n]["peerState"]["flops"], &"ESTABLISHED".into()),
            "{n}: turning BFD on restarted the BGP session"
        );
    }
    eprintln!(
        "kubectl get bgppeers: node4's BFD: {}",
        after["node4"]["bfd"]
    );

    let events = cluster.kubectl(&["get", "events", "-n", "default"]);
    for want in ["Allocated", "service/web", "service/cluster"] {
        assert!(
            events.contains(want),
            "{want} missing from kubectl get events:\n{events}"
        );
    }

    // `kubectl porter status` (the binary under its plugin name on PATH) as a user would run
    // it: every node's session Established with BFD Up, the Services and where they are
    // advertised, the pool's usage; exit 0. Only the BgpPeer of a node is selected: the same.
    let plugin_dir = dir.join("plugin-bin");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    let plugin = plugin_dir.join("kubectl-porter");
    if !plugin.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_porter"), &plugin).unwrap();
    }
    let kubectl_porter = |args: &[&str]| {
        let path = format!(
            "{}:{}",
            plugin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new(envtest_support::find_binary(&assets, "kubectl"))
            .args(["porter", "status"])
            .args(args)
            .env("PATH", path)
            .env("KUBECONFIG", &cluster.kubeconfig)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, table, err) = kubectl_porter(&[]);
    eprintln!("kubectl porter status:\n{table}{err}");
    assert_eq!(code, Some(0), "{table}{err}");
    for n in NODES {
        let row = table
            .lines()
            .find(|l| l.starts_with(n) && l.contains("10.200.49.254"))
            .unwrap_or_else(|| panic!("no session row of {n}:\n{table}"));
        for want in ["64512", "65001", "Established", "Up"] {
            assert!(row.contains(want), "{want} missing from {n}'s row: {row}");
        }
    }
    let web_row = table
        .lines()
        .find(|l| l.starts_with("default/web "))
        .unwrap_or_else(|| panic!("no row of default/web:\n{table}"));
    assert!(
        web_row.contains(&web) && web_row.contains("eip-sample-pool"),
        "{web_row}"
    );
    // The Cluster Service is advertised by both nodes.
    let cluster_row = table
        .lines()
        .find(|l| l.starts_with("default/cluster "))
        .unwrap_or_else(|| panic!("no row of default/cluster:\n{table}"));
    assert!(cluster_row.contains(&cluster_vip), "{cluster_row}");
    for n in NODES {
        assert!(
            table.contains(&format!(
                "+ {n} Advertised: {cluster_vip}: to bgppeer-sample"
            )),
            "{table}"
        );
    }
    let (code, json, err) = kubectl_porter(&["peers", "--node", NODES[0], "-o", "json"]);
    assert_eq!(code, Some(0), "{json}{err}");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["peers"].as_array().map(Vec::len), Some(1), "{v:#}");
    assert!(v["peers"][0]["advertised"].as_u64() >= Some(1), "{v:#}");

    // The control plane (etcd and kube-apiserver) restarts under running speakers: BIRD
    // withdraws nothing, the watches resume (a new Service is served), nothing twice.
    let before = faults::bird_routes(&dir);
    let ecmp = BTreeSet::from([h1.parse().unwrap(), h2.parse().unwrap()]);
    let mut moved = Vec::new();
    let sample = async {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(25) {
            let hops = lab.fib(&cluster_vip);
            if hops != ecmp {
                moved.push(format!("{:?} after the kill: {hops:?}", start.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let restart = async {
        cluster.restart_control_plane(Duration::from_secs(8)).await;
        create_service(&services, "after-restart").await;
        wait_ip(&services, "after-restart").await
    };
    let ((), after_vip) = tokio::join!(sample, restart);
    assert!(
        moved.is_empty(),
        "the router's route moved during the restart: {moved:?}"
    );
    wait_fib(
        &lab,
        &after_vip,
        &[&h1, &h2],
        "a Service created after the restart",
        T,
    )
    .await;
    let after = faults::bird_routes(&dir);
    for (prefix, protos) in &before {
        assert_eq!(after.get(prefix), Some(protos), "{prefix} changed at BIRD");
    }

    // The leader is SIGKILLed mid-allocation: the other replica allocates the rest; no
    // address is ever handed out twice.
    let api = RealApi(client.clone());
    let leader = wait_for(T, "a leader", || faults::leader(&api)).await;
    for i in 0..40 {
        create_service(&services, &format!("burst-{i}")).await;
    }
    wait_for(T, "the first of the burst allocated", || {
        let services = services.clone();
        async move {
            let a = addresses(&services).await;
            (a.iter()
                .filter(|(k, v)| k.starts_with("burst-") && !v.is_empty())
                .count()
                >= 3)
                .then_some(())
        }
    })
    .await;
    cluster.procs.kill(&leader);
    // Sampled every 200 ms until all are allocated: never one address on two Services.
    let all = wait_for(Duration::from_secs(60), "every Service allocated", || {
        let services = services.clone();
        let managers = &managers;
        async move {
            let a = addresses(&services).await;
            let mut seen = BTreeMap::new();
            for (svc, ip) in a
                .iter()
                .flat_map(|(svc, ips)| ips.iter().map(move |ip| (svc, ip)))
            {
                if let Some(other) = seen.insert(ip, svc) {
                    panic!("{ip} held by {svc} and {other}\n{}", logs(managers));
                }
            }
            a.values().all(|v| v.len() == 1).then_some(a)
        }
    })
    .await;
    let new_leader = wait_for(T, "a new leader", || {
        let api = &api;
        let leader = leader.clone();
        async move { faults::leader(api).await.filter(|l| *l != leader) }
    })
    .await;
    assert!(managers.contains(&new_leader), "{new_leader}");
    // The killed replica comes back as a new pod of the Deployment would.
    let idx = managers.iter().position(|m| *m == leader).unwrap();
    let reborn = format!("{leader}-b");
    cluster.start_manager_with(
        &reborn,
        NODES[idx],
        &["ip", "netns", "exec", &lab.nodes[idx]],
        &[],
        &ns_kubeconfig,
    );
    managers.push(reborn);
    let eip_used = wait_for(T, "Eip status counting every Service", || {
        let api = &api;
        let n = all.len();
        async move {
            let eip = api.read(faults::EIPS, None, "eip-sample-pool").await?;
            (eip["status"]["usage"] == n).then_some(eip)
        }
    })
    .await;
    assert_eq!(eip_used["status"]["poolSize"], 254);

    // The Service deleted: the finalizer is released, the route withdrawn.
    services
        .delete("cluster", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(T, "Service cluster gone (finalizer released)", || {
        let services = services.clone();
        async move {
            services
                .get_opt("cluster")
                .await
                .ok()?
                .is_none()
                .then_some(())
        }
    })
    .await;
    wait_fib(&lab, &cluster_vip, &[], "Service deleted", T).await;

    // OpenELB's documented objects, applied as written: BgpConf with as, listenPort and
    // routerId; a BgpPeer with only conf{neighborAddress, peerAs} and a nodeSelector on
    // kubernetes.io/hostname; an Eip annotated as the default. The router moves to AS 50000.
    // The router in AS 50000, the nodes' sessions from AS 50001 (the example BgpConf), no
    // ADD-PATH (the example BgpPeer has none).
    let openelb_bird = bird_config_with(LAN, lab.nodes.len(), 50000, 50001, false);
    std::fs::write(dir.join("bird.conf"), openelb_bird.render()).unwrap();
    let reconfigured = faults::birdc(&dir, &["configure"]);
    assert!(reconfigured.contains("Reconfigur"), "{reconfigured}");
    cluster.kubectl(&["delete", "bgppeer", "bgppeer-sample"]);
    cluster.kubectl(&[
        "annotate",
        "eip",
        "eip-sample-pool",
        "eip.openelb.kubesphere.io/is-default-eip-",
    ]);
    let openelb = dir.join("openelb.yaml");
    std::fs::write(
        &openelb,
        format!(
            "apiVersion: network.kubesphere.io/v1alpha2
kind: BgpConf
metadata:
  name: default
spec:
  as: 50001
  listenPort: 17900
  routerId: {LAN}.1
---
apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata:
  name: bgp-peer
spec:
  conf:
    peerAs: 50000
    neighborAddress: {LAN}.254
  nodeSelector:
    matchLabels:
      kubernetes.io/hostname: node4
---
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata:
  name: eip-pool
  annotations:
    eip.openelb.kubesphere.io/is-default-eip: \"true\"
spec:
  address: 198.51.100.0/28
"
        ),
    )
    .unwrap();
    cluster.kubectl(&["apply", "-f", openelb.to_str().unwrap()]);
    let status = wait_for(T, "node4 Established in bgp-peer's status", || {
        let out = cluster.kubectl(&["get", "bgppeer", "bgp-peer", "-o", "json"]);
        async move {
            let v: Value = serde_json::from_str(&out).ok()?;
            let st = v["status"]["nodesPeerStatus"].clone();
            (st["node4"]["peerState"]["sessionState"] == "ESTABLISHED").then_some(st)
        }
    })
    .await;
    // As OpenELB (gobgp's API) writes it: counters as strings, timers state present.
    let node4 = &status["node4"];
    assert!(
        node4["peerState"]["messages"]["received"]["total"].is_string()
            && node4["peerState"]["messages"]["sent"]["total"].is_string(),
        "{node4}"
    );
    assert!(node4["timersState"].is_object(), "{node4}");
    assert_eq!(node4["peerState"]["peerAs"], 50000, "{node4}");
    assert!(
        status.get("node5").is_none(),
        "node5 is not selected: {status}"
    );
    assert!(
        faults::bird_protocol(&dir, "n2").is_none_or(|(_, _, info)| info != "Established"),
        "node5 peers though the BgpPeer selects node4 only"
    );
    // Services keep their addresses, now announced from node4 only (no ADD-PATH); a new one
    // draws from the OpenELB default Eip.
    wait_fib(&lab, &after_vip, &[&h1], "OpenELB peer: from node4", T).await;
    create_service(&services, "openelb").await;
    let openelb_vip = wait_ip(&services, "openelb").await;
    assert!(openelb_vip.starts_with("198.51.100."), "{openelb_vip}");
    wait_fib(&lab, &openelb_vip, &[&h1], "OpenELB default Eip", T).await;

    // Dropping the cluster fails the test if any call was refused by RBAC.
    drop(cluster);
    drop(lab);
}
