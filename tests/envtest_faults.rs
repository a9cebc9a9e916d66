//! Controller faults that need a real kube-apiserver (issue 6, part 4), envtest style:
//! etcd and kube-apiserver from `KUBEBUILDER_ASSETS`, real `porter manager` processes.
//! The scenarios and checks are the fake-API ones (`envtest_support::faults`), so the two
//! cannot drift apart; what only a real server shows is checked on top: the CRD schema
//! rejects what it can see (peerAs 0, an AFI outside the enum) and prunes unknown fields,
//! and the ingress writes' `resourceVersion` preconditions are the API server's own.
//!
//! Skipped loudly without `KUBEBUILDER_ASSETS`.

mod envtest_support;

use std::time::Duration;

use envtest_support::faults::{
    self, bgp_conf, lb_service, peer, Backend, Fault, RealApi, BGP_CONFS, BGP_PEERS, EIPS, SERVICES,
};
use envtest_support::{assets_or_skip, wait_for, Cluster};
use serde_json::json;

const T: Duration = Duration::from_secs(60);

/// Garbage costs only its own object, on a real API server: the Eip
/// `203.0.113.9-203.0.113.1` passes the schema's CEL rule (two IPv4 addresses) and is
/// reported `Valid=False BadAddress` (it ends before it starts); BgpPeers whose
/// fault the schema cannot see are reported `Valid=False InvalidSpec`; those it can see are
/// refused at create with the field named; unknown fields are pruned and the object runs.
#[tokio::test(flavor = "multi_thread")]
async fn garbage_objects_get_conditions_on_a_real_api_server() {
    let test = "garbage_objects_get_conditions_on_a_real_api_server";
    let Some(assets) = assets_or_skip(test) else {
        return;
    };
    let mut cluster = Cluster::start(&assets, "faults-garbage", "127.0.0.1").await;
    cluster.install_porter().await;
    let api = RealApi(cluster.client.clone());
    for e in faults::garbage_eips() {
        api.create(EIPS, e)
            .await
            .expect("the schema takes any address string");
    }
    // No listener and a passive neighbor on loopback: nothing leaves the host.
    let mut conf = bgp_conf("default", 64512);
    conf["spec"]["listenPort"] = json!(-1);
    conf["spec"]["routerId"] = json!("10.200.92.1");
    api.create(BGP_CONFS, conf).await.unwrap();
    let passive = json!({"transport": {"passiveMode": true}});
    api.create(
        BGP_PEERS,
        peer("router", "127.0.0.2", 65001, passive.clone()),
    )
    .await
    .unwrap();
    let bad = faults::bad_peers_schema_valid();
    for (p, _, _) in &bad {
        api.create(BGP_PEERS, p.clone()).await.unwrap();
    }
    for (p, _, phrase) in faults::bad_peers_schema_invalid() {
        let err = api
            .create(BGP_PEERS, p.clone())
            .await
            .expect_err("the schema refuses it");
        let field = match p["metadata"]["name"].as_str() {
            Some("bad-neighbor") => "spec.conf.neighborAddress",
            _ if phrase.contains("peerAs") => "peerAs",
            _ => "afi",
        };
        assert!(err.contains(field), "{}: {err}", p["metadata"]["name"]);
    }
    // Unknown fields: pruned by the structural schema, the object valid.
    let mut extra = peer("pruned", "127.0.0.3", 65002, passive);
    extra["spec"]["someFieldPorterDoesNotKnow"] = json!({"x": 1});
    extra["spec"]["conf"]["holdtime"] = json!("90");
    api.create(BGP_PEERS, extra).await.unwrap();
    let stored = api.read(BGP_PEERS, None, "pruned").await.unwrap();
    assert!(
        stored["spec"].get("someFieldPorterDoesNotKnow").is_none(),
        "{stored}"
    );
    assert!(stored["spec"]["conf"].get("holdtime").is_none(), "{stored}");

    cluster.start_manager("porter-1", "n1", &[], &[]);
    faults::check_garbage_conditions(&api, &bad, &["router", "pruned"], T).await;
    faults::wait_condition(&api, BGP_CONFS, "default", "Valid", "True", "Valid", T).await;
    // The good Eip still allocates.
    api.create(SERVICES, lb_service("after", "IPv4"))
        .await
        .unwrap();
    wait_for(T, "an address for `after` from the good Eip", || {
        let api = &api;
        async move {
            let s = api.read(SERVICES, Some("default"), "after").await?;
            let ip = faults::ingress_ips(&s).into_iter().next()?;
            ip.starts_with("203.0.113.").then_some(())
        }
    })
    .await;
    assert!(
        cluster.procs.alive("porter-1") && !cluster.log("porter-1").contains("panicked"),
        "{}",
        cluster.log("porter-1")
    );
}

/// Two replicas race to allocate 1,000 Services on a real API server while the leader is
/// killed, frozen past its lease and woken, and killed again: every Service ends with one
/// address, none is ever shown by two, and the Eip's counts agree. The Services are IPv6
/// (the pool is a /118 of 2001:db8::/32), so the cluster gets a dual-stack Service range.
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_services_race_on_a_real_api_server() {
    let test = "a_thousand_services_race_on_a_real_api_server";
    let Some(assets) = assets_or_skip(test) else {
        return;
    };
    let mut cluster = Cluster::start_with_args(
        &assets,
        "faults-race",
        "127.0.0.1",
        &["--service-cluster-ip-range=10.96.0.0/24,2001:db8:96::/112"],
    )
    .await;
    cluster.install_porter().await;
    let api = RealApi(cluster.client.clone());
    let (kubeconfig, dir) = (cluster.porter_kubeconfig().to_owned(), cluster.dir.clone());
    let report = faults::race(
        &api,
        &mut cluster.procs,
        &kubeconfig,
        &dir,
        1000,
        &[Fault::Kill, Fault::Freeze, Fault::Kill],
        Duration::from_secs(150),
    )
    .await;
    eprintln!("race (kube-apiserver): {report:?}");
    assert_eq!(report.faults.len(), 3);
    assert!(report.leaders_seen.len() >= 2, "{report:?}");
}
