//! Smoke tests of the lab itself: a real router peers with gobgpd across a veth pair and
//! learns a /32 that gobgpd announces. Root only; each skips loudly otherwise.

use porter_lab::{
    available, Bird, BirdConfig, BirdPeer, Frr, FrrConfig, FrrNeighbor, GobgpConfig, GobgpNeighbor,
    Gobgpd, Netns, Tool,
};
use std::net::IpAddr;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Router namespace and speaker namespace joined by one veth on 10.200.`net`.0/24.
fn pair(tag: &str, net: u8) -> (Netns, Netns) {
    let r = Netns::new(&format!("{tag}-r")).unwrap();
    let s = Netns::new(&format!("{tag}-s")).unwrap();
    r.veth("r-s", &s, "s-r").unwrap();
    r.addr("r-s", &format!("10.200.{net}.1/24")).unwrap();
    s.addr("s-r", &format!("10.200.{net}.2/24")).unwrap();
    (r, s)
}

#[test]
fn bird_learns_prefix_from_gobgpd() {
    if !available(&[Tool::Bird, Tool::Gobgp]) {
        return;
    }
    let t0 = Instant::now();
    let (r, s) = pair("smoke-bird", 100);
    let bird = Bird::start(
        &r,
        &BirdConfig::new("10.200.100.1".parse().unwrap(), 65000).peer(BirdPeer::new(
            "s1",
            ip("10.200.100.2"),
            65001,
        )),
    )
    .unwrap();
    let gobgp = Gobgpd::start(
        &s,
        &GobgpConfig::new("10.200.100.2".parse().unwrap(), 65001)
            .neighbor(GobgpNeighbor::new(ip("10.200.100.1"), 65000)),
    )
    .unwrap();
    let up = bird.wait_established(&["s1"], TIMEOUT).unwrap();
    gobgp
        .wait_established(&[ip("10.200.100.1")], TIMEOUT)
        .unwrap();
    gobgp
        .announce("203.0.113.7/32", ip("10.200.100.2"), &[])
        .unwrap();
    let t1 = Instant::now();
    porter_lab::wait_until(TIMEOUT, "203.0.113.7/32 in BIRD and the kernel", || {
        r.route_next_hops("203.0.113.7/32").unwrap_or_default() == vec![ip("10.200.100.2")]
    })
    .unwrap();
    let routes = bird.routes("203.0.113.7/32").unwrap();
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0].protocol, "s1");
    assert!(routes[0].best);
    assert_eq!(routes[0].next_hops, vec![ip("10.200.100.2")]);
    assert!(bird.route_count().unwrap() >= 1);
    eprintln!(
        "bird smoke: established after {up:?}, route in FIB {:?} after announce, total {:?}",
        t1.elapsed(),
        t0.elapsed()
    );
    gobgp.withdraw("203.0.113.7/32").unwrap();
    porter_lab::wait_until(TIMEOUT, "203.0.113.7/32 withdrawn", || {
        bird.routes("203.0.113.7/32").is_ok_and(|r| r.is_empty())
            && r.route_next_hops("203.0.113.7/32")
                .is_ok_and(|h| h.is_empty())
    })
    .unwrap();
}

#[test]
fn frr_learns_prefix_from_gobgpd() {
    if !available(&[Tool::Frr, Tool::Gobgp]) {
        return;
    }
    let t0 = Instant::now();
    let (r, s) = pair("smoke-frr", 101);
    let frr = Frr::start(
        &r,
        &FrrConfig::new("10.200.101.1".parse().unwrap(), 65000)
            .neighbor(FrrNeighbor::new(ip("10.200.101.2"), 65001)),
    )
    .unwrap();
    let gobgp = Gobgpd::start(
        &s,
        &GobgpConfig::new("10.200.101.2".parse().unwrap(), 65001)
            .neighbor(GobgpNeighbor::new(ip("10.200.101.1"), 65000)),
    )
    .unwrap();
    let up = frr
        .wait_established(&[ip("10.200.101.2")], TIMEOUT)
        .unwrap();
    let summary = frr.summary().unwrap();
    assert_eq!(
        summary["ipv4Unicast"]["peers"]["10.200.101.2"]["state"], "Established",
        "{summary}"
    );
    gobgp
        .announce("203.0.113.8/32", ip("10.200.101.2"), &[])
        .unwrap();
    let t1 = Instant::now();
    porter_lab::wait_until(TIMEOUT, "203.0.113.8/32 in FRR and the kernel", || {
        frr.route_next_hops("203.0.113.8/32").unwrap_or_default() == vec![ip("10.200.101.2")]
            && r.route_next_hops("203.0.113.8/32").unwrap_or_default() == vec![ip("10.200.101.2")]
    })
    .unwrap();
    eprintln!(
        "frr smoke: established after {up:?}, route in FIB {:?} after announce, total {:?}",
        t1.elapsed(),
        t0.elapsed()
    );
}
