//! End-to-end tests of `porter manager` against a real kube-apiserver and etcd
//! (envtest style, see `envtest_support`). They need `KUBEBUILDER_ASSETS` and skip loudly
//! without it. No BGP listener is opened (BgpConf `listenPort: -1`), so they run unprivileged.

mod envtest_support;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use envtest_support::{assets_or_skip, wait_for, Cluster};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use porter_crds::{BgpConf, BgpPeer, Eip};
use serde_json::json;

const T: Duration = Duration::from_secs(30);

async fn create<K>(api: &Api<K>, v: serde_json::Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(v).expect("a valid object");
    api.create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {}: {e}", obj.name_any()))
}

/// Nodes `names`, Ready, with InternalIPs 10.200.48.<i+1>.
async fn setup_nodes(client: &Client, names: &[&str]) {
    let nodes = Api::<Node>::all(client.clone());
    for (i, name) in names.iter().enumerate() {
        create(
            &nodes,
            json!({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}),
        )
        .await;
        // Status is not taken at create: set it through the subresource.
        let status = json!({"status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "envtest", "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "addresses": [{"type": "InternalIP", "address": format!("10.200.48.{}", i + 1)}]}});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }
}

async fn create_eip(client: &Client, name: &str, address: &str) {
    create(
        &Api::<Eip>::all(client.clone()),
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
               "metadata": {"name": name,
                            "annotations": {"eip.openelb.kubesphere.io/is-default-eip": "true"}},
               "spec": {"address": address}}),
    )
    .await;
}

async fn create_service(client: &Client, name: &str) {
    create(
        &Api::<Service>::namespaced(client.clone(), "default"),
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "annotations": {"lb.kubesphere.io/v1alpha1": "openelb"}},
               "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
    )
    .await;
}

/// The Service's first ingress IP once it has one.
async fn wait_ip(client: &Client, name: &str, timeout: Duration) -> IpAddr {
    let api = Api::<Service>::namespaced(client.clone(), "default");
    wait_for(timeout, &format!("an address for Service {name}"), || {
        let api = api.clone();
        async move {
            let svc = api.get(name).await.ok()?;
            svc.status?
                .load_balancer?
                .ingress?
                .first()?
                .ip
                .as_deref()?
                .parse()
                .ok()
        }
    })
    .await
}

async fn events_for(client: &Client, name: &str) -> Vec<(String, String, String)> {
    Api::<Event>::namespaced(client.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn manager_allocates_reports_releases_and_holds_eip_deletion() {
    let Some(assets) = assets_or_skip("manager_allocates_reports_releases_and_holds_eip_deletion")
    else {
        return;
    };
    let mut cluster = Cluster::start(&assets, "alloc", "127.0.0.1").await;
    cluster.install_porter().await;
    let client = cluster.client.clone();
    setup_nodes(&client, &["n1"]).await;
    // A /29 without network and broadcast: 6 addresses, .1 to .6.
    create_eip(&client, "pool", "203.0.113.0/29").await;
    cluster.start_manager("porter-a", "n1", &[], &[]);

    create_service(&client, "web").await;
    let ip = wait_ip(&client, "web", T).await;
    assert_eq!(
        ip,
        "203.0.113.1".parse::<IpAddr>().unwrap(),
        "{}",
        cluster.log("porter-a")
    );
    let services = Api::<Service>::namespaced(client.clone(), "default");
    let web = services.get("web").await.unwrap();
    assert!(web
        .finalizers()
        .iter()
        .any(|f| f == "porter.network.kubesphere.io/service"));
    assert_eq!(
        web.labels()
            .get("eip.openelb.kubesphere.io/v1alpha2")
            .map(String::as_str),
        Some("pool"),
        "the Eip label OpenELB writes"
    );
    // Only porter owns the ingress field.
    let owners: Vec<String> = web
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(owners.contains(&"porter".to_string()), "{owners:?}");

    // Eip status, by the leader.
    let eips = Api::<Eip>::all(client.clone());
    let status = wait_for(T, "Eip status usage 1", || {
        let eips = eips.clone();
        async move {
            let s = eips.get("pool").await.ok()?.status?;
            (s.usage == 1).then_some(s)
        }
    })
    .await;
    assert_eq!(status.pool_size, 6);
    assert_eq!(
        status.used.get("203.0.113.1").map(String::as_str),
        Some("default/web")
    );
    assert_eq!(status.first_ip.as_deref(), Some("203.0.113.1"));
    assert_eq!(status.last_ip.as_deref(), Some("203.0.113.6"));
    assert!(status.v4);
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "True");
    assert_eq!(ready.observed_generation, Some(1));

    let evs = wait_for(T, "an Allocated Event", || {
        let client = client.clone();
        async move {
            let evs = events_for(&client, "web").await;
            evs.iter().any(|(_, r, _)| r == "Allocated").then_some(evs)
        }
    })
    .await;
    assert!(evs
        .iter()
        .any(|(t, r, n)| t == "Normal" && r == "Allocated" && n.contains("203.0.113.1")));

    // Exhaust the pool: six more Services for five addresses; the last one waits.
    for i in 2..=7 {
        create_service(&client, &format!("s{i}")).await;
    }
    let mut got = BTreeSet::from([ip]);
    for i in 2..=6 {
        assert!(
            got.insert(wait_ip(&client, &format!("s{i}"), T).await),
            "no address twice"
        );
    }
    let warning = wait_for(T, "an AllocationFailed Warning for s7", || {
        let client = client.clone();
        async move {
            events_for(&client, "s7")
                .await
                .into_iter()
                .find(|(t, r, _)| t == "Warning" && r == "AllocationFailed")
        }
    })
    .await;
    assert!(warning.2.contains("no free IPv4 address"), "{warning:?}");
    let full = eips.get("pool").await.unwrap().status.unwrap();
    assert!(full.occupied, "{full:?}");

    // Deleting a Service releases its address (finalizer) and the waiting one gets it.
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(T, "Service web gone", || {
        let services = services.clone();
        async move { services.get_opt("web").await.ok()?.is_none().then_some(()) }
    })
    .await;
    let s7 = wait_ip(&client, "s7", Duration::from_secs(90)).await;
    assert_eq!(s7, ip, "the freed address goes to the waiting Service");

    // Deleting the Eip while in use is held by its finalizer, with the reason in status.
    eips.delete("pool", &DeleteParams::default()).await.unwrap();
    let blocked = wait_for(T, "DeletionBlocked on the Eip", || {
        let eips = eips.clone();
        async move {
            let e = eips.get("pool").await.ok()?;
            e.metadata.deletion_timestamp.as_ref()?;
            let c = e
                .status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "Ready")?;
            (c.reason == "DeletionBlocked").then_some(c)
        }
    })
    .await;
    assert!(
        blocked.message.contains("default/s7"),
        "{}",
        blocked.message
    );
    // Services keep their addresses meanwhile: no silent renumbering.
    assert_eq!(wait_ip(&client, "s7", T).await, ip);
    for i in 2..=7 {
        services
            .delete(&format!("s{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    wait_for(Duration::from_secs(60), "Eip gone once unused", || {
        let eips = eips.clone();
        async move { eips.get_opt("pool").await.ok()?.is_none().then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn leader_failover_never_hands_an_address_out_twice() {
    let Some(assets) = assets_or_skip("leader_failover_never_hands_an_address_out_twice") else {
        return;
    };
    let mut cluster = Cluster::start(&assets, "failover", "127.0.0.1").await;
    cluster.install_porter().await;
    let client = cluster.client.clone();
    setup_nodes(&client, &["n1", "n2"]).await;
    create_eip(&client, "pool", "198.51.100.0/28").await;
    cluster.start_manager("porter-a", "n1", &[], &[]);
    cluster.start_manager("porter-b", "n2", &[], &[]);

    let leases = Api::<Lease>::namespaced(client.clone(), "porter-system");
    let leader = wait_for(T, "a leader", || {
        let leases = leases.clone();
        async move {
            leases
                .get("porter-manager")
                .await
                .ok()?
                .spec?
                .holder_identity
        }
    })
    .await;
    create_service(&client, "first").await;
    let first = wait_ip(&client, "first", T).await;

    // The leader crashes (no release): the other takes over within the lease duration.
    cluster.procs.kill(&leader);
    create_service(&client, "second").await;
    let second = wait_ip(&client, "second", Duration::from_secs(20)).await;
    assert_ne!(first, second, "an address handed out twice");
    let lease = leases.get("porter-manager").await.unwrap().spec.unwrap();
    assert_ne!(lease.holder_identity.as_deref(), Some(leader.as_str()));
    assert!(lease.lease_transitions.unwrap_or(0) >= 1);

    // The crashed one comes back as a follower; the new leader's allocations stand.
    let node = if leader == "porter-a" { "n1" } else { "n2" };
    cluster.start_manager(&leader, node, &[], &[]);
    create_service(&client, "third").await;
    let third = wait_ip(&client, "third", T).await;
    let all = BTreeSet::from([first, second, third]);
    assert_eq!(all.len(), 3, "addresses: {all:?}");
    // Addresses stay put across the failover.
    assert_eq!(wait_ip(&client, "first", T).await, first);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_node_writes_its_own_peer_and_conf_status_and_gone_nodes_are_pruned() {
    let Some(assets) =
        assets_or_skip("each_node_writes_its_own_peer_and_conf_status_and_gone_nodes_are_pruned")
    else {
        return;
    };
    let mut cluster = Cluster::start(&assets, "status", "127.0.0.1").await;
    cluster.install_porter().await;
    let client = cluster.client.clone();
    setup_nodes(&client, &["n1", "n2"]).await;
    // No listener (listenPort -1): only active sessions, to a closed loopback port.
    create(
        &Api::<BgpConf>::all(client.clone()),
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
               "metadata": {"name": "default"},
               "spec": {"as": 64512, "routerId": "10.200.48.100", "listenPort": -1}}),
    )
    .await;
    create(
        &Api::<BgpPeer>::all(client.clone()),
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer",
               "metadata": {"name": "tor"},
               "spec": {"conf": {"peerAs": 65001, "neighborAddress": "127.0.0.1"},
                        "transport": {"remotePort": 9}}}),
    )
    .await;
    cluster.start_manager("porter-a", "n1", &[], &[]);
    cluster.start_manager("porter-b", "n2", &[], &[]);

    let peers = Api::<BgpPeer>::all(client.clone());
    let status = wait_for(T, "nodesPeerStatus of n1 and n2", || {
        let peers = peers.clone();
        async move {
            let s = peers.get("tor").await.ok()?.status?;
            (s.nodes_peer_status.contains_key("n1") && s.nodes_peer_status.contains_key("n2"))
                .then_some(s)
        }
    })
    .await;
    let n1 = &status.nodes_peer_status["n1"];
    assert_eq!(n1.peer_state.neighbor_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(n1.peer_state.peer_as, 65001);
    assert!(n1.peer_state.session_state.is_some());
    // Each entry belongs to its node's field manager.
    let tor = peers.get("tor").await.unwrap();
    let managers: BTreeSet<String> = tor
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.contains("porter/n1") && managers.contains("porter/n2"),
        "{managers:?}"
    );

    let confs = Api::<BgpConf>::all(client.clone());
    let conf = wait_for(T, "nodesConfStatus of n1 and n2", || {
        let confs = confs.clone();
        async move {
            let s = confs.get("default").await.ok()?.status?;
            (s.nodes_conf_status.len() == 2).then_some(s)
        }
    })
    .await;
    assert_eq!(conf.nodes_conf_status["n1"].asn, 64512);
    assert_eq!(
        conf.nodes_conf_status["n2"].router_id.as_deref(),
        Some("10.200.48.100")
    );

    // n2 goes away for good: its replica stops and its Node is deleted; the leader prunes.
    cluster.procs.kill("porter-b");
    Api::<Node>::all(client.clone())
        .delete("n2", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(T, "n2's entries pruned", || {
        let (peers, confs) = (peers.clone(), confs.clone());
        async move {
            let p = peers.get("tor").await.ok()?.status?;
            let c = confs.get("default").await.ok()?.status?;
            (!p.nodes_peer_status.contains_key("n2")
                && !c.nodes_conf_status.contains_key("n2")
                && p.nodes_peer_status.contains_key("n1"))
            .then_some(())
        }
    })
    .await;

    // A peer no longer selecting n1 loses n1's entry (the replica gives up its fields).
    peers
        .patch(
            "tor",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"nodeSelector": {"matchLabels": {"rack": "none"}}}})),
        )
        .await
        .unwrap();
    wait_for(T, "n1's entry removed", || {
        let peers = peers.clone();
        async move {
            let s = peers.get("tor").await.ok()?.status.unwrap_or_default();
            (!s.nodes_peer_status.contains_key("n1")).then_some(())
        }
    })
    .await;
}

/// Started before porter's CRDs are installed, a manager names each missing one once, with
/// the command that installs it (not at every retry), and goes on without a restart once
/// they appear.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_crd_is_named_once_and_its_arrival_needs_no_restart() {
    let test = "a_missing_crd_is_named_once_and_its_arrival_needs_no_restart";
    let Some(assets) = assets_or_skip(test) else {
        return;
    };
    let mut cluster = Cluster::start(&assets, "nocrd", "127.0.0.1").await;
    cluster.install_rbac();
    let client = cluster.client.clone();
    setup_nodes(&client, &["n1"]).await;
    cluster.start_manager("porter-a", "n1", &[], &[]);
    // Several retries of every watch (0.5 s doubling to 5 s).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let log = cluster.log("porter-a");
    for crd in ["eips", "bgpconfs", "bgppeers"] {
        let named = format!("does not serve {crd}.network.kubesphere.io: is its CRD installed?");
        assert_eq!(log.matches(&named).count(), 1, "{crd}:\n{log}");
    }
    assert!(log.contains("`kubectl apply -k deploy/` installs"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file:\n{log}"
    );

    cluster.install_crds().await;
    create_eip(&client, "pool", "203.0.113.8/29").await;
    create_service(&client, "web").await;
    let ip = wait_ip(&client, "web", T).await;
    assert!(ip.to_string().starts_with("203.0.113."), "{ip}");
    assert!(
        cluster.procs.alive("porter-a"),
        "{}",
        cluster.log("porter-a")
    );
}
