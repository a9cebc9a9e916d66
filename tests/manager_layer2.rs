//! Layer 2 in Kubernetes mode with real processes, where no kube-apiserver is at hand: two
//! `porter manager` processes in network namespaces on one bridge, a client namespace that
//! resolves the Service addresses with arping and ndisc6, and the in-test fake API server
//! (`envtest_support::fake_api`) standing in for Kubernetes. The scenario itself
//! (`layer2_manager`) is shared with tests/envtest_layer2.rs, which runs it against a real
//! kube-apiserver.
//!
//! Needs root, iproute2, arping, ndisc6, tcpdump and python3; skips loudly otherwise unless
//! `PORTER_LAB_REQUIRE=1`.

mod envtest_support;
mod layer2_lab;
mod layer2_manager;

use envtest_support::client_for;
use envtest_support::fake_api::FakeApi;
use layer2_manager::{fake_kubeconfig, lab, lab_available, Endpoints, Objects, Run};

#[tokio::test(flavor = "multi_thread")]
async fn the_elected_node_answers_and_the_survivor_takes_over_after_expiry_without_overlap() {
    let test = "the_elected_node_answers_and_the_survivor_takes_over_after_expiry_without_overlap";
    if !lab_available(test) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("porter-l2k-fake-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // The fake API on a Unix socket, which each node namespace reaches on its
    // 127.0.0.1:6443, and on loopback for the test, which writes objects through the API as
    // the envtest variant does.
    let fake = FakeApi::new();
    let sock = dir.join("api.sock");
    let unix = tokio::net::UnixListener::bind(&sock).unwrap();
    let app = fake.router();
    tokio::spawn(async move { axum::serve(unix, app).await });
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let test_api = format!("http://{}", tcp.local_addr().unwrap());
    let app = fake.router();
    tokio::spawn(async move { axum::serve(tcp, app).await });
    let kubeconfig = fake_kubeconfig(&dir, "kubeconfig-ns", "http://127.0.0.1:6443");
    let objects = Objects(
        client_for(&fake_kubeconfig(&dir, "kubeconfig-test", &test_api)).await,
        Endpoints::Slices,
    );

    let run = Run::new(&objects, lab("fk", 60), &dir, &sock, &kubeconfig).await;
    run.failover().await;

    // Every layer-2 Lease write was a create or a replace carrying the version read.
    let writes = fake.writes_to("/apis/coordination.k8s.io/v1/namespaces/porter-system/leases");
    let l2: Vec<_> = writes
        .iter()
        .filter(|(p, b)| {
            p.contains("porter-l2-")
                || b["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("porter-l2-"))
        })
        .collect();
    assert!(!l2.is_empty());
    for (path, body) in &l2 {
        let create = !path.contains("/leases/");
        assert!(
            create || body["metadata"]["resourceVersion"].is_string(),
            "a replace without resourceVersion: {path} {body}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
