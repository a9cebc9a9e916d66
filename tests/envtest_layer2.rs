//! Layer 2 in Kubernetes mode against a real kube-apiserver and etcd (envtest style, see
//! `envtest_support`): the scenario of tests/manager_layer2.rs (`layer2_manager`), two
//! `porter manager` processes in network namespaces, kill the owner, the other answers ARP
//! and NDP within lease expiry + 2 s, never both at once.
//!
//! Needs `KUBEBUILDER_ASSETS` (skipped with a loud `SKIPPED` line when unset), root,
//! iproute2, arping, ndisc6, tcpdump and python3.

mod envtest_support;
mod layer2_lab;
mod layer2_manager;

use envtest_support::netlab::serve_api_socket;
use envtest_support::{assets_or_skip, Cluster};
use layer2_manager::{lab, lab_available, Endpoints, Objects, Run};

#[tokio::test(flavor = "multi_thread")]
async fn envtest_layer2_owner_dies_and_the_survivor_takes_over_without_overlap() {
    let test = "envtest_layer2_owner_dies_and_the_survivor_takes_over_without_overlap";
    let Some(assets) = assets_or_skip(test) else {
        return;
    };
    if !lab_available(test) {
        return;
    }
    let mut cluster = Cluster::start(&assets, "layer2", "127.0.0.1").await;
    cluster.install_porter().await;

    // API server access from the node namespaces: their 127.0.0.1:6443 → a Unix socket →
    // the API server on the host's loopback.
    let sock = cluster.dir.join("api.sock");
    let api_addr = cluster.url.trim_start_matches("https://").to_string();
    serve_api_socket(sock.clone(), api_addr);
    let kubeconfig = cluster.kubeconfig_for("kubeconfig-ns", "https://127.0.0.1:6443");

    let objects = Objects(cluster.client.clone(), Endpoints::Pods);
    let dir = cluster.dir.clone();
    Run::new(&objects, lab("et", 61), &dir, &sock, &kubeconfig)
        .await
        .failover()
        .await;
    drop(cluster);
}
