//! Controller faults against the fake API server (`envtest_support::fake_api`), with real
//! `porter manager` processes (issue 6, part 4):
//!
//! * conflicting writes: 409 Conflict injected on the Service status (ingress), Service
//!   finalizer, Eip status and BgpConf status writes are retried and converge;
//! * two replicas race to allocate 1,000 Services created at once while the leader is
//!   killed, frozen past its lease and woken, and killed again: one address each, none held
//!   twice, Eip counts agree;
//! * fencing: a leader whose Lease requests are lost while its other writes still land
//!   stops handing out addresses before the next leader starts;
//! * an Eip with a garbage address and BgpPeers/BgpConfs with bad values get a clear
//!   `Valid=False` condition, while the good Eip keeps allocating and the good peer's BGP
//!   session with BIRD stays up (netns; needs root and BIRD, skips loudly otherwise).
//!
//! `envtest_faults.rs` runs the race and the conditions against a real kube-apiserver,
//! through the same scenario code (`envtest_support::faults`).

mod envtest_support;

use std::time::{Duration, Instant};

use envtest_support::fake_api::FakeApi;
use envtest_support::faults::{
    self, bgp_conf, bird_protocol, bird_routes, eip, fake_kubeconfig, lb_service, node, peer,
    serve_tcp, serve_unix, start_manager, Backend, Fault, BGP_CONFS, BGP_PEERS, EIPS, SERVICES,
};
use envtest_support::netlab::{have, is_root, spawn_cluster, Lab};
use envtest_support::{wait_for, Procs};
use serde_json::json;

const T: Duration = Duration::from_secs(40);

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("porter-faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether the root-only test must run (CI) or may skip.
fn require_lab() -> bool {
    std::env::var("PORTER_LAB_REQUIRE").is_ok_and(|v| v == "1")
}

fn ingress(fake: &FakeApi, name: &str) -> Option<String> {
    let s = fake.get(SERVICES, Some("default"), name)?;
    faults::ingress_ips(&s).into_iter().next()
}

/// RFC-less rule from Kubernetes API conventions: a write refused with 409 Conflict is
/// retried on the object as read again, never given up. Every injected failure is consumed
/// and the Services and the Eip end as if none had happened.
#[tokio::test(flavor = "multi_thread")]
async fn conflicting_writes_are_retried_and_converge() {
    let dir = scratch("conflict");
    let fake = FakeApi::new();
    fake.put("/api/v1/namespaces", faults::namespace("default"));
    fake.put("/api/v1/namespaces", faults::namespace("porter-system"));
    fake.put(EIPS, eip("pool", "203.0.113.0/29", true));
    // A BgpConf without listener and no peer: status writes only, nothing on the network.
    fake.put("/api/v1/nodes", node("n1", "10.200.93.1"));
    let mut conf = bgp_conf("default", 64512);
    conf["spec"]["listenPort"] = json!(-1);
    fake.put(BGP_CONFS, conf);
    // c1: its ingress write conflicts 3 times; c2: adding its finalizer conflicts 3 times;
    // the Eip: its status write conflicts 3 times; the BgpConf status (the node's entry
    // and the leader's Valid condition): 3 times.
    fake.fail_writes("/services/c1/status", 3, 409);
    fake.fail_writes("/namespaces/default/services/c2", 3, 409);
    fake.fail_writes("/eips/pool/status", 3, 409);
    fake.fail_writes("/bgpconfs/default/status", 3, 409);
    let kc = fake_kubeconfig(&dir, &serve_tcp(&fake).await);
    let mut procs = Procs::default();
    start_manager(&mut procs, "porter-1", "n1", &kc, &dir);
    let start = Instant::now();
    for name in ["c1", "c2"] {
        fake.put(SERVICES, lb_service(name, "IPv4"));
    }
    let (a, b) = wait_for(T, "addresses for c1 and c2", || {
        let fake = fake.clone();
        async move { Some((ingress(&fake, "c1")?, ingress(&fake, "c2")?)) }
    })
    .await;
    assert_ne!(a, b);
    for name in ["c1", "c2"] {
        let s = fake.get(SERVICES, Some("default"), name).unwrap();
        assert_eq!(
            s["metadata"]["finalizers"],
            json!(["porter.network.kubesphere.io/service"]),
            "{name}"
        );
    }
    wait_for(T, "Eip status usage 2", || {
        let fake = fake.clone();
        async move {
            let e = fake.get(EIPS, None, "pool")?;
            (e["status"]["usage"] == 2 && e["status"]["used"].as_object()?.len() == 2).then_some(())
        }
    })
    .await;
    wait_for(T, "the BgpConf's node entry and Valid condition", || {
        let fake = fake.clone();
        async move {
            let c = fake.get(BGP_CONFS, None, "default")?;
            (c["status"]["nodesConfStatus"]["n1"]["as"] == 64512
                && c["status"]["conditions"][0]["status"] == "True")
                .then_some(())
        }
    })
    .await;
    eprintln!(
        "conflicts: {} injected 409s consumed, converged after {:?}",
        fake.injected_failures(),
        start.elapsed()
    );
    assert_eq!(
        fake.injected_failures(),
        12,
        "every injected conflict was hit"
    );
    assert!(!faults::panicked(&dir, "porter-1"));
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The leader Lease decides who allocates; a takeover rebuilds from a fresh List; the
/// ingress write is conditional on the version read, and a deposed leader is fenced (see
/// service.rs). 1,000 Services at once; the leader killed, then frozen past its lease and
/// woken with reconciles in flight, then killed again: no duplicate, ever.
#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_race_to_allocate_a_thousand_services_while_the_leader_dies() {
    let dir = scratch("race");
    let fake = FakeApi::new();
    let kc = fake_kubeconfig(&dir, &serve_tcp(&fake).await);
    let mut procs = Procs::default();
    let report = faults::race(
        &fake,
        &mut procs,
        &kc,
        &dir,
        1000,
        &[Fault::Kill, Fault::Freeze, Fault::Kill],
        Duration::from_secs(150),
    )
    .await;
    eprintln!("race (fake API): {report:?}");
    assert_eq!(report.faults.len(), 3);
    assert!(
        report.leaders_seen.len() >= 2,
        "leadership moved: {report:?}"
    );
    for pod in ["porter-1", "porter-2"] {
        assert!(!faults::panicked(&dir, pod), "{pod} panicked");
    }
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Garbage in one object costs only that object. The Eip `garbage` (`203.0.113.9-203.0.113.1`) is
/// reported `Valid=False BadAddress` while `good` allocates; the bad BgpPeers (bad
/// neighborAddress, peerAs 0, an unknown and an unsupported AFI/SAFI, hold time 2, which
/// RFC 4271 §4.2 forbids) are reported `Valid=False InvalidSpec` while the session of the
/// good one with BIRD stays Established, untouched; a BgpConf edited to AS 0 is reported
/// and the last good one keeps running; a BgpConf not named `default` is `Ignored`.
#[tokio::test(flavor = "multi_thread")]
async fn garbage_eip_and_bad_peers_get_conditions_while_good_ones_keep_working() {
    let test = "garbage_eip_and_bad_peers_get_conditions_while_good_ones_keep_working";
    if !is_root() || !have("bird") || !have("python3") {
        assert!(!require_lab(), "{test}: needs root, bird and python3");
        eprintln!(
            "SKIPPED: {test}: needs root, bird and python3 (bash tests/deps.sh installs them)"
        );
        return;
    }
    let dir = scratch("garbage");
    let lan = "10.200.91";
    let lab = Lab::with_lan(&format!("cflg{}", std::process::id() % 1000), lan, 1);
    let fake = FakeApi::new();
    fake.put("/api/v1/nodes", node("n1", &format!("{lan}.1")));
    fake.put("/api/v1/namespaces", faults::namespace("default"));
    fake.put("/api/v1/namespaces", faults::namespace("porter-system"));
    let good_peer = peer("router", &format!("{lan}.254"), 65001, json!({}));
    for (collection, obj) in [
        (EIPS, eip("good", "203.0.113.16/28", true)),
        (BGP_CONFS, bgp_conf("default", 64512)),
        (BGP_PEERS, good_peer),
        (SERVICES, lb_service("before", "IPv4")),
    ] {
        fake.create(collection, obj).await.unwrap();
    }
    let sock = dir.join("api.sock");
    serve_unix(&fake, &sock);
    let kc = fake_kubeconfig(&dir, "http://127.0.0.1:6443");
    let mut procs = Procs::default();
    spawn_cluster(&mut procs, &lab, &dir, &sock, &kc).await;
    let before = wait_for(T, "an address for `before`", || {
        let fake = fake.clone();
        async move { ingress(&fake, "before") }
    })
    .await;
    let prefix = format!("{before}/32");
    let session = wait_for(T, "BIRD: session n1 Established and the route in", || {
        let dir = dir.clone();
        let prefix = prefix.clone();
        async move {
            let p = bird_protocol(&dir, "n1").filter(|p| p.2 == "Established")?;
            bird_routes(&dir).contains_key(&prefix).then_some(p)
        }
    })
    .await;

    // The garbage arrives.
    let bad = [
        faults::bad_peers_schema_valid(),
        faults::bad_peers_schema_invalid(),
    ]
    .concat();
    for e in faults::garbage_eips()
        .into_iter()
        .filter(|e| e["metadata"]["name"] != "good")
    {
        fake.create(EIPS, e).await.unwrap();
    }
    for (p, _, _) in &bad {
        fake.create(BGP_PEERS, p.clone()).await.unwrap();
    }
    fake.create(BGP_CONFS, bgp_conf("other", 65000))
        .await
        .unwrap();
    faults::check_garbage_conditions(&fake, &bad, &["router"], T).await;
    faults::wait_condition(&fake, BGP_CONFS, "other", "Valid", "False", "Ignored", T).await;
    let c = faults::wait_condition(&fake, BGP_CONFS, "default", "Valid", "True", "Valid", T).await;
    assert_eq!(c["message"], "AS 64512");

    // BgpConf default edited into garbage: reported; the speaker keeps the last good one.
    let mut conf = fake.get(BGP_CONFS, None, "default").unwrap();
    conf["spec"] = json!({"as": 0, "routerId": "1.2.3", "listenPort": 179});
    conf["metadata"]["generation"] = json!(2);
    fake.put(BGP_CONFS, conf);
    let c = faults::wait_condition(
        &fake,
        BGP_CONFS,
        "default",
        "Valid",
        "False",
        "InvalidSpec",
        T,
    )
    .await;
    let message = c["message"].as_str().unwrap();
    assert!(
        message.contains("spec.as") && message.contains("spec.routerId"),
        "{c}"
    );
    assert_eq!(c["observedGeneration"], 2);

    // The good Eip still allocates, and the new address is announced.
    fake.create(SERVICES, lb_service("after", "IPv4"))
        .await
        .unwrap();
    let after = wait_for(T, "an address for `after`", || {
        let fake = fake.clone();
        async move { ingress(&fake, "after") }
    })
    .await;
    let after_prefix = format!("{after}/32");
    wait_for(T, "BIRD: the route of `after`", || {
        let dir = dir.clone();
        let p = after_prefix.clone();
        async move { bird_routes(&dir).contains_key(&p).then_some(()) }
    })
    .await;
    // The good session never dropped: same state, same `since`.
    assert_eq!(
        bird_protocol(&dir, "n1"),
        Some(session.clone()),
        "the good session was reset"
    );
    assert!(bird_routes(&dir).contains_key(&prefix));
    assert!(procs.alive("porter-1") && !faults::panicked(&dir, "porter-1"));
    eprintln!("garbage: good session {session:?} kept; `before` {before}, `after` {after}");
    drop(procs);
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Fencing, deterministically: the leader's Lease requests are lost (they hang) while its
/// other writes still land, the case where a deposed leader keeps writing. The other
/// replica takes the Lease after the lease duration; the old one must stop handing out
/// addresses by then (its Lease round is cut off at the renew deadline, and its Fence
/// refuses writes once the last renewal is that old). Services keep arriving throughout:
/// none may ever show an address another shows, and each ends with one.
#[tokio::test(flavor = "multi_thread")]
async fn a_leader_cut_off_from_its_lease_stops_allocating_before_the_next_one_starts() {
    let dir = scratch("fence");
    let fake = FakeApi::new();
    fake.put("/api/v1/namespaces", faults::namespace("default"));
    fake.put("/api/v1/namespaces", faults::namespace("porter-system"));
    fake.put(EIPS, eip("fence", "2001:db8:91::/120", true));
    let mut procs = Procs::default();
    for (pod, node) in [("porter-1", "n1"), ("porter-2", "n2")] {
        // One listener per replica, so that one of them alone can be cut off.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = fake.router_for(pod);
        tokio::spawn(async move { axum::serve(listener, app).await });
        let sub = dir.join(pod);
        std::fs::create_dir_all(&sub).unwrap();
        let kc = fake_kubeconfig(&sub, &url);
        start_manager(&mut procs, pod, node, &kc, &dir);
    }
    let old = wait_for(T, "a leader", || faults::leader(&fake)).await;
    let n = 120;
    let names: Vec<String> = (0..n).map(|i| format!("f-{i:03}")).collect();
    for name in &names[..20] {
        fake.put(SERVICES, lb_service(name, "IPv6"));
    }
    wait_for(T, "the first 20 allocated", || {
        let fake = fake.clone();
        let names = names.clone();
        async move {
            names[..20]
                .iter()
                .all(|s| ingress(&fake, s).is_some())
                .then_some(())
        }
    })
    .await;

    // Cut the leader off from its Lease only; 10 new Services every second meanwhile.
    fake.partition(&old, "/leases");
    let cut = Instant::now();
    let mut next = 20;
    let mut samples = 0;
    let mut new_leader = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if next < n {
            for name in &names[next..(next + 10).min(n)] {
                fake.put(SERVICES, lb_service(name, "IPv6"));
            }
            next += 10;
        }
        for _ in 0..4 {
            let services = fake.all(SERVICES);
            samples += 1;
            let dup = faults::duplicates(&services);
            assert!(
                dup.is_empty(),
                "{:?} after the cut: an address shown twice: {dup:?}",
                cut.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if new_leader.is_none() {
            new_leader = faults::leader(&fake).await.filter(|l| *l != old);
        }
        let done = names.iter().filter(|s| ingress(&fake, s).is_some()).count();
        if done == n && new_leader.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{done}/{n} allocated; leader {:?}",
            faults::leader(&fake).await
        );
    }
    // Settle a little longer: a deposed leader must not come back to overwrite anything.
    let settled: Vec<Option<String>> = names.iter().map(|s| ingress(&fake, s)).collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later: Vec<Option<String>> = names.iter().map(|s| ingress(&fake, s)).collect();
    assert_eq!(
        settled, later,
        "addresses moved after everything was allocated"
    );
    assert!(faults::duplicates(&fake.all(SERVICES)).is_empty());
    fake.heal();
    let old_log = std::fs::read_to_string(dir.join(format!("{old}.log"))).unwrap();
    assert!(
        old_log.contains("lost the leader lease; stopping allocation"),
        "{old} never stepped down"
    );
    eprintln!(
        "fence: {old} cut off from its Lease; {new_leader:?} took over; {n} Services, \
         {samples} samples, no duplicate; {} refused writes logged by {old}",
        old_log.matches("not leading (the leader lease").count()
    );
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}
