//! Two elected replicas in network namespaces sharing one lease store (in memory, with
//! compare-and-swap, as the Kubernetes Lease adapter will be): the owner dies or loses the
//! API, the other answers within the target, and a capture on the bridge shows the two
//! never answered at overlapping times.
//!
//! Needs root, iproute2, arping (Habets), ndisc6 and tcpdump; skips loudly without them
//! unless `PORTER_LAB_REQUIRE=1`.

mod layer2_lab;

use std::thread;
use std::time::{Duration, Instant};

use layer2_lab::*;
use porter::layer2::election::ElectionTimings;

/// Starts the two replicas (a first, so it wins the new lease), waits until a owns both
/// addresses, and starts a capture on the bridge and client probes for `seconds`.
fn two_replicas(
    lab: &Lab,
    store: &MemoryStore,
    seconds: u32,
) -> (
    Speaker,
    Speaker,
    porter_lab::Capture,
    Vec<std::process::Child>,
) {
    let a = Speaker::start_elected(lab, "a", &[VIP4, VIP6], store.client("node-a"));
    let owns = |s: &Speaker, node: &str| {
        s.metrics.layer2_owner(VIP4.parse().unwrap()).as_deref() == Some(node)
            && s.metrics.layer2_owner(VIP6.parse().unwrap()).as_deref() == Some(node)
    };
    assert!(
        wait_for(Duration::from_secs(5), || owns(&a, "node-a")).is_some(),
        "a never took the new leases"
    );
    let b = Speaker::start_elected(lab, "b", &[VIP4, VIP6], store.client("node-b"));
    assert!(
        wait_for(Duration::from_secs(3), || owns(&b, "node-a")).is_some(),
        "b does not see a as the owner"
    );
    let capture = lab.capture();
    // The client keeps asking, ARP every 200 ms and NDP in a loop, through the failover.
    let probes = vec![
        lab.client_background(seconds, &format!("arping -q -i eth0 -W 0.2 {VIP4}")),
        lab.client_background(
            seconds,
            &format!("while :; do ndisc6 -q -1 -r 1 -w 200 {VIP6} eth0; sleep 0.1; done"),
        ),
    ];
    (a, b, capture, probes)
}

/// Waits for the probes, then checks the capture: answers from a, then answers from b,
/// never interleaved; returns the silent gap between the two (seconds).
fn check_no_overlap(
    lab: &Lab,
    capture: porter_lab::Capture,
    probes: Vec<std::process::Child>,
) -> f64 {
    for mut p in probes {
        let _ = p.wait();
    }
    let file = capture.stop().unwrap();
    let (last_a, first_b) = lab.handover_in(&file, VIP4, VIP6, "a", "b");
    let _ = std::fs::remove_file(&file);
    first_b.time - last_a.time
}

#[test]
fn the_survivor_answers_soon_after_the_owners_lease_expires() {
    if !lab_or_skip("the_survivor_answers_soon_after_the_owners_lease_expires") {
        return;
    }
    let lab = Lab::new("fo", 3);
    let store = MemoryStore::default();
    let (a, b, capture, probes) = two_replicas(&lab, &store, 13);
    thread::sleep(Duration::from_secs(2));

    let killed = Instant::now();
    a.stop();
    let took = wait_for(Duration::from_secs(10), || {
        b.metrics.layer2_owner(VIP4.parse().unwrap()).as_deref() == Some("node-b")
            && b.metrics.layer2_owner(VIP6.parse().unwrap()).as_deref() == Some("node-b")
    })
    .expect("b never took over");
    let timings = ElectionTimings::default();
    eprintln!("b owns both addresses {took:?} after a died");
    assert!(
        took <= timings.lease_duration + timings.retry_period + Duration::from_millis(500),
        "takeover took {took:?}"
    );

    // From the store's point of view: the last renewal by a, then b's acquisition.
    let log = store.log();
    let last_a = log
        .iter()
        .filter(|w| w.holder.as_deref() == Some("node-a") && w.at <= killed)
        .map(|w| w.at)
        .max()
        .expect("a wrote the lease");
    let first_b = log
        .iter()
        .filter(|w| w.holder.as_deref() == Some("node-b"))
        .map(|w| w.at)
        .min()
        .expect("b wrote the lease");
    let after_expiry = first_b.saturating_duration_since(last_a + timings.lease_duration);
    eprintln!("b acquired {after_expiry:?} after a's lease could first expire");
    assert!(
        first_b >= last_a + timings.lease_duration,
        "taken before it could expire"
    );
    assert!(
        after_expiry < Duration::from_secs(2),
        "{after_expiry:?} after expiry"
    );

    // The client gets b's MAC, from b only.
    only_from(lab.arping(VIP4), lab.mac("b"));
    only_from(lab.ndisc6(VIP6), lab.mac("b"));
    check_no_overlap(&lab, capture, probes);
    b.stop();
}

#[test]
fn an_owner_cut_off_from_the_api_falls_silent_before_the_other_takes_over() {
    if !lab_or_skip("an_owner_cut_off_from_the_api_falls_silent_before_the_other_takes_over") {
        return;
    }
    let lab = Lab::new("part", 4);
    let store = MemoryStore::default();
    let (a, b, capture, probes) = two_replicas(&lab, &store, 13);
    thread::sleep(Duration::from_secs(2));

    // a keeps running and keeps its sockets, but can no longer renew.
    store.partition("node-a");
    let took = wait_for(Duration::from_secs(10), || {
        b.metrics.layer2_owner(VIP4.parse().unwrap()).as_deref() == Some("node-b")
    })
    .expect("b never took over");
    eprintln!("b owns the address {took:?} after a lost the API");
    assert_eq!(
        a.metrics.layer2_owner(VIP4.parse().unwrap()),
        None,
        "a no longer claims the address"
    );
    only_from(lab.arping(VIP4), lab.mac("b"));
    only_from(lab.ndisc6(VIP6), lab.mac("b"));
    let gap = check_no_overlap(&lab, capture, probes);
    // a stopped at its own deadline, at least the safety margin before b could start.
    let margin = ElectionTimings::default().safety_margin.as_secs_f64();
    assert!(gap >= margin - 0.3, "silent gap of only {gap:.3} s");
    a.stop();
    b.stop();
}

/// A graceful stop (SIGTERM, the address leaving) releases the lease: the other replica
/// takes over at its next retry instead of after the lease duration. No namespaces needed.
#[tokio::test]
async fn a_stopped_owner_releases_and_the_other_takes_over_within_a_retry() {
    use porter::layer2::ownership::{Election, ElectionConfig};
    use porter::telemetry::Metrics;
    use std::collections::BTreeSet;
    use std::net::IpAddr;
    use std::sync::Arc;
    use tokio::sync::watch;

    let store = MemoryStore::default();
    let ip: IpAddr = VIP4.parse().unwrap();
    let (_eligible, eligible_rx) = watch::channel(true);
    let start = |node: &str| {
        let (owned, owned_rx) = watch::channel(BTreeSet::new());
        let election = Election::spawn(
            ip,
            Arc::new(store.client(node)),
            ElectionConfig::new(node),
            eligible_rx.clone(),
            owned,
            Arc::new(Metrics::new()),
        )
        .unwrap();
        (election, owned_rx)
    };
    let owns = |rx: &watch::Receiver<BTreeSet<IpAddr>>| rx.borrow().contains(&ip);
    let until = |rx: watch::Receiver<BTreeSet<IpAddr>>, want: bool| async move {
        let mut rx = rx;
        let got = tokio::time::timeout(
            Duration::from_secs(10),
            rx.wait_for(|s| s.contains(&ip) == want),
        )
        .await;
        got.is_ok()
    };

    let (a, a_owned) = start("node-a");
    assert!(until(a_owned.clone(), true).await, "a never took the lease");
    let (_b, b_owned) = start("node-b");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(owns(&a_owned) && !owns(&b_owned));

    let stopped = Instant::now();
    a.stop().await;
    assert!(!owns(&a_owned), "a still answers after stop");
    assert_eq!(
        store.log().last().map(|w| w.holder.clone()),
        Some(None),
        "the last write released the lease"
    );
    assert!(until(b_owned, true).await, "b never took over");
    let took = stopped.elapsed();
    eprintln!("b owns the address {took:?} after a stopped");
    let timings = ElectionTimings::default();
    assert!(
        took < timings.retry_period + Duration::from_millis(500),
        "took {took:?}: the release did not shorten the takeover"
    );
}
