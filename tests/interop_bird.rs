//! porter standalone against BIRD 2 in network namespaces: what the router sees.
//!
//! Runs as root with BIRD installed (`bash tests/deps.sh`); otherwise every test prints
//! `SKIPPED: …` (and fails under `PORTER_LAB_REQUIRE=1`). Link subnets 10.201.1–19.0/24.

mod common;

use std::time::Duration;

use common::scenarios::{self, Basic, PORTER_AS, ROUTER_AS};
use common::*;

const NO: Basic = Basic {
    ibgp: false,
    porter_passive: false,
    listen_port: None,
};

#[test]
fn bird_ebgp_porter_active() {
    scenarios::basic_session(Kind::Bird, "b-eact", 1, NO);
}

#[test]
fn bird_ebgp_porter_passive() {
    let b = Basic {
        porter_passive: true,
        ..NO
    };
    scenarios::basic_session(Kind::Bird, "b-epas", 2, b);
}

#[test]
fn bird_ibgp_porter_active() {
    let b = Basic { ibgp: true, ..NO };
    scenarios::basic_session(Kind::Bird, "b-iact", 3, b);
}

#[test]
fn bird_ibgp_porter_passive() {
    let b = Basic {
        ibgp: true,
        porter_passive: true,
        ..NO
    };
    scenarios::basic_session(Kind::Bird, "b-ipas", 4, b);
}

#[test]
fn bird_connects_to_porter_on_port_17900() {
    let b = Basic {
        listen_port: Some(17900),
        ..NO
    };
    scenarios::basic_session(Kind::Bird, "b-port", 5, b);
}

#[test]
fn bird_ecmp_from_two_speakers_without_add_path() {
    scenarios::ecmp_two_speakers(Kind::Bird, "b-ecmp", 6, 7);
}

#[test]
fn bird_withdraw_kill_and_restarts() {
    scenarios::withdraw_kill_restart(Kind::Bird, "b-wkr", 9);
}

/// One porter on a shared LAN announces the VIP with ADD-PATH: one path per Ready node, the
/// other node's path with a third-party next hop (RFC 4271 §5.1.3); BIRD installs both.
#[test]
fn bird_ecmp_with_add_path_on_shared_lan() {
    if !ready(&[Tool::Bird]) {
        return;
    }
    let mut lan = Lan::with_prefix("io", "b-apath").unwrap();
    let r = netns("b-apath-r");
    let n1 = netns("b-apath-n1");
    let n2 = netns("b-apath-n2");
    lan.attach(&r, "eth0", &["10.201.8.1/24"]).unwrap();
    lan.attach(&n1, "eth0", &["10.201.8.11/24"]).unwrap();
    lan.attach(&n2, "eth0", &["10.201.8.12/24"]).unwrap();
    let (a1, a2) = (ip("10.201.8.11"), ip("10.201.8.12"));
    let mut rp = RouterPeer::new("n1", a1, PORTER_AS);
    rp.passive = true;
    rp.add_path_rx = true;
    let router = Router::start(
        &r,
        RouterSpec {
            kind: Kind::Bird,
            router_id: "10.201.8.1".parse().unwrap(),
            asn: ROUTER_AS,
            peers: vec![rp],
        },
    );
    let conf = PorterConf::new("n1", PORTER_AS, a1)
        .peer(PeerDoc::new("router", ip("10.201.8.1"), ROUTER_AS).add_path_send(8))
        .vip("203.0.113.7")
        .node("n1", &[a1])
        .node("n2", &[a2]);
    let Some(porter) = Porter::start_unless(&n1, conf, "Node").unwrap_or_else(|e| panic!("{e:#}"))
    else {
        skip("standalone Node documents not supported yet (porter rejects kind Node)");
        return;
    };
    let diag = || format!("{}\n{}", router.show(), porter.diag());
    let t = wait("BIRD's FIB has 203.0.113.7 via both nodes", diag, || {
        fib(&r, "203.0.113.7") == [a1, a2]
    });
    let paths = router.bgp_next_hops("203.0.113.7/32").unwrap();
    assert_eq!(
        paths.len(),
        2,
        "two BGP paths expected: {paths:?}\n{}",
        diag()
    );
    eprintln!("{}: ADD-PATH ECMP after {t:.2?}", test_name());
}

/// IPv6 VIP over an IPv6 session.
#[test]
fn bird_ipv6_vip_over_ipv6_session() {
    if !ready(&[Tool::Bird]) {
        return;
    }
    let x = 10;
    let (r, s) = pair("b-v6", x);
    let mut rp = RouterPeer::new("s1", speaker_addr6(x), PORTER_AS);
    rp.passive = true;
    let router = Router::start(
        &r,
        RouterSpec {
            kind: Kind::Bird,
            router_id: "10.201.10.1".parse().unwrap(),
            asn: ROUTER_AS,
            peers: vec![rp],
        },
    );
    let porter = Porter::start(
        &s,
        PorterConf::new("node1", PORTER_AS, speaker_addr(x))
            .peer(PeerDoc::new("router", router_addr6(x), ROUTER_AS))
            .vip("2001:db8:ffff::7"),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let diag = || format!("{}\n{}", router.show(), porter.diag());
    let me = speaker_addr6(x);
    let t = wait(
        "BIRD has 2001:db8:ffff::7/128 via porter's IPv6 address",
        diag,
        || {
            router
                .bgp_next_hops("2001:db8:ffff::7/128")
                .unwrap_or_default()
                == [me]
        },
    );
    wait("the IPv6 FIB has the VIP", diag, || {
        fib(&r, "2001:db8:ffff::7") == [me]
    });
    assert!(porter.is_established("router"), "{}", diag());
    eprintln!("{}: IPv6 route after {t:.2?}", test_name());
}

fn md5_case(tag: &str, x: u8, router_pw: &str, porter_pw: &str, porter_passive: bool) {
    let (r, s) = pair(tag, x);
    let mut rp = RouterPeer::new("s1", speaker_addr(x), PORTER_AS);
    rp.passive = !porter_passive;
    rp.password = Some(router_pw.into());
    let router = Router::start(
        &r,
        RouterSpec {
            kind: Kind::Bird,
            router_id: format!("10.201.{x}.1").parse().unwrap(),
            asn: ROUTER_AS,
            peers: vec![rp],
        },
    );
    let mut peer = PeerDoc::new("router", router_addr(x), ROUTER_AS).password(porter_pw);
    if porter_passive {
        peer = peer.passive();
    }
    let porter = Porter::start(
        &s,
        PorterConf::new("node1", PORTER_AS, speaker_addr(x))
            .peer(peer)
            .vip("203.0.113.7"),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let diag = || format!("{}\n{}", router.show(), porter.diag());
    if router_pw == porter_pw {
        let t = wait("MD5 session Established", diag, || {
            router.established(0).unwrap_or(false) && porter.is_established("router")
        });
        wait("route at the router", diag, || {
            fib(&r, "203.0.113.7") == [speaker_addr(x)]
        });
        eprintln!("{}: MD5 session up after {t:.2?}", test_name());
    } else {
        hold_for(
            Duration::from_secs(10),
            "neither side Established with mismatched MD5 passwords",
            diag,
            || {
                !router.established(0).unwrap_or(true)
                    && porter
                        .peer_state("router")
                        .is_ok_and(|s| !s.eq_ignore_ascii_case("established"))
            },
        );
        assert!(fib(&r, "203.0.113.7").is_empty(), "{}", diag());
    }
}

#[test]
fn bird_md5_matching_password_porter_active() {
    if ready(&[Tool::Bird]) {
        md5_case("b-md5a", 11, "porter-md5", "porter-md5", false);
    }
}

#[test]
fn bird_md5_matching_password_porter_passive() {
    if ready(&[Tool::Bird]) {
        md5_case("b-md5p", 12, "porter-md5", "porter-md5", true);
    }
}

#[test]
fn bird_md5_wrong_password_never_establishes() {
    if ready(&[Tool::Bird]) {
        md5_case("b-md5w", 14, "porter-md5", "not-the-password", false);
    }
}

#[test]
fn bird_md5_wrong_password_never_establishes_porter_passive() {
    if ready(&[Tool::Bird]) {
        md5_case("b-md5wp", 15, "porter-md5", "not-the-password", true);
    }
}

/// RFC 4724 with porter as the restarting speaker: after SIGKILL BIRD keeps the route (stale)
/// and the FIB entry never goes away; after porter is back and sends End-of-RIB, BIRD flushes
/// the stale route porter no longer announces and keeps the refreshed one.
#[test]
fn bird_keeps_routes_while_porter_restarts_gracefully() {
    if !ready(&[Tool::Bird]) {
        return;
    }
    let x = 13;
    let (r, s) = pair("b-gr", x);
    let mut rp = RouterPeer::new("s1", speaker_addr(x), PORTER_AS);
    rp.passive = true;
    rp.graceful_restart = true;
    let router = Router::start(
        &r,
        RouterSpec {
            kind: Kind::Bird,
            router_id: "10.201.13.1".parse().unwrap(),
            asn: ROUTER_AS,
            peers: vec![rp],
        },
    );
    let mut conf = PorterConf::new("node1", PORTER_AS, speaker_addr(x))
        .peer(PeerDoc::new("router", router_addr(x), ROUTER_AS))
        .vip("203.0.113.7")
        .vip("198.51.100.7");
    conf.graceful_restart = Some(30);
    let mut porter = Porter::start(&s, conf.clone()).unwrap_or_else(|e| panic!("{e:#}"));
    let me = speaker_addr(x);
    macro_rules! diag {
        () => {
            || format!("{}\n{}", router.show(), porter.diag())
        };
    }
    wait("both VIPs at BIRD", diag!(), || {
        fib(&r, "203.0.113.7") == [me] && fib(&r, "198.51.100.7") == [me]
    });
    let caps = router
        .bird()
        .birdc(&["show", "protocols", "all", "s1"])
        .unwrap();
    assert!(
        caps.matches("Graceful restart").count() >= 2,
        "graceful restart not negotiated:\n{caps}"
    );

    // the restart: SIGKILL, 2 s down (BIRD must hold the routes), then porter comes back
    // without 198.51.100.7
    porter.kill();
    let gr_active = || {
        router
            .bird()
            .birdc(&["show", "protocols", "all", "s1"])
            .is_ok_and(|t| t.contains("Neighbor graceful restart active"))
    };
    wait(
        "BIRD enters graceful restart for porter",
        diag!(),
        gr_active,
    );
    hold_for(
        Duration::from_secs(2),
        "BIRD keeps both stale routes in its FIB while porter is down",
        diag!(),
        || fib(&r, "203.0.113.7") == [me] && fib(&r, "198.51.100.7") == [me],
    );
    let mut fewer = conf.clone();
    fewer.vips.retain(|v| *v != ip("198.51.100.7"));
    porter.set_conf(fewer).unwrap();
    // watch the FIB from another thread while porter restarts: 203.0.113.7 must never leave
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        let ns = r.name().to_string();
        std::thread::spawn(move || {
            let mut gaps = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = std::process::Command::new("ip")
                    .args(["-n", &ns, "route", "show", "203.0.113.7"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                if out.trim().is_empty() {
                    gaps += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            gaps
        })
    };
    porter.restart().unwrap_or_else(|e| panic!("{e:#}"));
    let t = wait(
        "BIRD ends graceful restart and flushes the stale 198.51.100.7",
        diag!(),
        || {
            porter.is_established("router")
                && !gr_active()
                && fib(&r, "198.51.100.7").is_empty()
                && router
                    .bgp_next_hops("198.51.100.7/32")
                    .is_ok_and(|h| h.is_empty())
        },
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let gaps = watcher.join().unwrap();
    assert_eq!(
        gaps,
        0,
        "203.0.113.7 left BIRD's FIB during the graceful restart ({gaps} polls)\n{}",
        diag!()()
    );
    assert_eq!(fib(&r, "203.0.113.7"), [me], "{}", diag!()());
    eprintln!("{}: stale route flushed {t:.2?} after restart", test_name());
}
