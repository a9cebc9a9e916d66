//! Smoke tests of the lab itself: a real router peers with gobgpd across a veth pair and
//! learns a /32 that gobgpd announces; ExaBGP, a shared LAN with ECMP, and an IPv6 session
//! with MD5, graceful restart and ADD-PATH. Root only; each skips loudly otherwise.

use porter_lab::{
    available, wait_until, Bird, BirdConfig, BirdPeer, Exabgp, ExabgpConfig, ExabgpNeighbor, Frr,
    FrrConfig, FrrNeighbor, GobgpConfig, GobgpNeighbor, Gobgpd, Lan, Netns, Tool,
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

#[test]
fn exabgp_and_bird_exchange_routes() {
    if !available(&[Tool::Bird, Tool::Exabgp]) {
        return;
    }
    let (r, s) = pair("smoke-exa", 102);
    let bird = Bird::start(
        &r,
        &BirdConfig::new("10.200.102.1".parse().unwrap(), 65000)
            .peer(BirdPeer::new("s1", ip("10.200.102.2"), 65001))
            .announce("198.51.100.0/24", ""),
    )
    .unwrap();
    let exa =
        Exabgp::start(
            &s,
            &ExabgpConfig::new("10.200.102.2".parse().unwrap(), 65001).neighbor(
                ExabgpNeighbor::new(ip("10.200.102.1"), ip("10.200.102.2"), 65000),
            ),
        )
        .unwrap();
    bird.wait_established(&["s1"], TIMEOUT).unwrap();
    exa.wait_established(&[ip("10.200.102.1")], TIMEOUT)
        .unwrap();
    exa.send("announce route 203.0.113.9/32 next-hop self origin igp community [65001:7]")
        .unwrap();
    porter_lab::wait_until(TIMEOUT, "203.0.113.9/32 from ExaBGP in BIRD", || {
        bird.routes("203.0.113.9/32")
            .is_ok_and(|r| r.len() == 1 && r[0].next_hops == vec![ip("10.200.102.2")])
    })
    .unwrap();
    // ... and ExaBGP logged BIRD's announcement as JSON
    porter_lab::wait_until(TIMEOUT, "198.51.100.0/24 from BIRD in ExaBGP", || {
        exa.updates()
            .is_ok_and(|u| u.iter().any(|m| m.to_string().contains("198.51.100.0/24")))
    })
    .unwrap();
}

#[test]
fn bird_gets_ecmp_from_two_gobgpd_on_a_shared_lan() {
    if !available(&[Tool::Bird, Tool::Gobgp]) {
        return;
    }
    let mut lan = Lan::new("smoke-lan").unwrap();
    let r = Netns::new("smoke-lan-r").unwrap();
    let s1 = Netns::new("smoke-lan-s1").unwrap();
    let s2 = Netns::new("smoke-lan-s2").unwrap();
    lan.attach(&r, "eth0", &["10.200.103.1/24"]).unwrap();
    lan.attach(&s1, "eth0", &["10.200.103.11/24"]).unwrap();
    lan.attach(&s2, "eth0", &["10.200.103.12/24"]).unwrap();
    let bird = Bird::start(
        &r,
        &BirdConfig::new("10.200.103.1".parse().unwrap(), 65000)
            .peer(BirdPeer::new("s1", ip("10.200.103.11"), 65001).hold_time(3))
            .peer(BirdPeer::new("s2", ip("10.200.103.12"), 65002).hold_time(3)),
    )
    .unwrap();
    let mut speakers = Vec::new();
    for (ns, me, asn) in [(&s1, "10.200.103.11", 65001), (&s2, "10.200.103.12", 65002)] {
        let g = Gobgpd::start(
            ns,
            &GobgpConfig::new(me.parse().unwrap(), asn)
                .neighbor(GobgpNeighbor::new(ip("10.200.103.1"), 65000).hold_time(3)),
        )
        .unwrap();
        speakers.push((g, ip(me)));
    }
    bird.wait_established(&["s1", "s2"], TIMEOUT).unwrap();
    for (g, me) in &speakers {
        g.wait_established(&[ip("10.200.103.1")], TIMEOUT).unwrap();
        g.announce("203.0.113.10/32", *me, &[]).unwrap();
    }
    porter_lab::wait_until(TIMEOUT, "two kernel next hops for 203.0.113.10/32", || {
        let mut hops = r.route_next_hops("203.0.113.10/32").unwrap_or_default();
        hops.sort();
        hops == vec![ip("10.200.103.11"), ip("10.200.103.12")]
    })
    .unwrap();
    assert_eq!(bird.routes("203.0.113.10/32").unwrap().len(), 2);
    // cutting one speaker's link (on its side: BIRD's interface stays up) withdraws its path
    // only when BIRD's hold timer (3 s here) expires
    s2.link_down("eth0").unwrap();
    porter_lab::wait_until(TIMEOUT, "one kernel next hop left", || {
        r.route_next_hops("203.0.113.10/32").unwrap_or_default() == vec![ip("10.200.103.11")]
    })
    .unwrap();
}

#[test]
fn bird_and_gobgpd_peer_over_ipv6_with_md5_gr_and_add_path() {
    if !available(&[Tool::Bird, Tool::Gobgp]) {
        return;
    }
    let r = Netns::new("smoke-v6-r").unwrap();
    let s = Netns::new("smoke-v6-s").unwrap();
    r.veth("r-s", &s, "s-r").unwrap();
    r.addr("r-s", "2001:db8:200:104::1/64").unwrap();
    s.addr("s-r", "2001:db8:200:104::2/64").unwrap();
    let bird = Bird::start(
        &r,
        &BirdConfig::new("10.200.104.1".parse().unwrap(), 4_200_000_001).peer(
            BirdPeer::new("s1", ip("2001:db8:200:104::2"), 4_200_000_002)
                .password("lab-secret")
                .graceful_restart()
                .add_path_rx(),
        ),
    )
    .unwrap();
    let gobgp = Gobgpd::start(
        &s,
        &GobgpConfig::new("10.200.104.2".parse().unwrap(), 4_200_000_002).neighbor(
            GobgpNeighbor::new(ip("2001:db8:200:104::1"), 4_200_000_001)
                .password("lab-secret")
                .graceful_restart()
                .add_path(false, 4),
        ),
    )
    .unwrap();
    bird.wait_established(&["s1"], TIMEOUT).unwrap();
    gobgp
        .announce("2001:db8:7::7/128", ip("2001:db8:200:104::2"), &[])
        .unwrap();
    porter_lab::wait_until(TIMEOUT, "2001:db8:7::7/128 in BIRD and the kernel", || {
        r.route_next_hops("2001:db8:7::7/128").unwrap_or_default()
            == vec![ip("2001:db8:200:104::2")]
    })
    .unwrap();
    let info = bird.birdc(&["show", "protocols", "all", "s1"]).unwrap();
    for cap in ["4-octet AS numbers", "Graceful restart", "ADD-PATH"] {
        assert!(info.contains(cap), "{cap} not negotiated:\n{info}");
    }
}

#[test]
fn spawned_program_is_tracked_and_stopped_with_its_namespace() {
    if !available(&[]) {
        return;
    }
    let ns = Netns::new("smoke-spawn").unwrap();
    let mut d = ns
        .spawn("sleep.log", std::path::Path::new("/bin/sleep"), ["300"])
        .unwrap();
    assert!(d.is_running());
    // the child is `ip netns exec`, which joins the namespace only after the fork returned:
    // under load `ip netns pids` can run first and see nobody yet
    let joined = |pid: u32| ns.pids().is_ok_and(|p| p == [pid]);
    wait_until(TIMEOUT, "the spawned program in the namespace", || {
        joined(d.pid())
    })
    .unwrap();
    d.stop().unwrap();
    assert!(!d.is_running());
    assert!(ns.pids().unwrap().is_empty());
    // a process we did not track is stopped by the namespace's Drop
    let other = ns
        .spawn("other.log", std::path::Path::new("/bin/sleep"), ["300"])
        .unwrap();
    let pid = other.pid();
    wait_until(TIMEOUT, "the untracked program in the namespace", || {
        joined(pid)
    })
    .unwrap();
    std::mem::forget(other);
    drop(ns);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/exe")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    );
}
