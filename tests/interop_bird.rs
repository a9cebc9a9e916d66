//! porter standalone against BIRD 2 in network namespaces: what the router sees.
//!
//! Runs as root with BIRD installed (`bash tests/deps.sh`); otherwise every test prints
//! `SKIPPED: …` (and fails under `PORTER_LAB_REQUIRE=1`). Link subnets 10.201.1–19.0/24.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::scenarios::{self, one_router_conf, Basic, PORTER_AS, ROUTER_AS};
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

#[test]
fn bird_ecmp_with_add_path_on_shared_lan() {
    scenarios::add_path_shared_lan(Kind::Bird, "b-apath", 8);
}

#[test]
fn bird_ipv6_vip_over_ipv6_session() {
    scenarios::ipv6_session(Kind::Bird, "b-v6", 10);
}

#[test]
fn bird_dual_stack_each_vip_on_its_own_session() {
    scenarios::dual_stack(Kind::Bird, "b-dual", 33);
}

#[test]
fn bird_md5_matching_password_porter_active() {
    scenarios::md5(Kind::Bird, "b-md5a", 11, true, false);
}

#[test]
fn bird_md5_matching_password_porter_passive() {
    scenarios::md5(Kind::Bird, "b-md5p", 12, true, true);
}

#[test]
fn bird_md5_wrong_password_never_establishes() {
    scenarios::md5(Kind::Bird, "b-md5w", 14, false, false);
}

#[test]
fn bird_md5_wrong_password_never_establishes_porter_passive() {
    scenarios::md5(Kind::Bird, "b-md5wp", 15, false, true);
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
    let mut conf = one_router_conf(x).vip("198.51.100.7");
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

#[test]
fn bird_both_sides_active_resolve_the_collision() {
    scenarios::both_active(Kind::Bird, "b-coll", 16);
}

/// Starts BIRD (one passive session `s1` to porter at .2 of link X) and porter with `conf`.
fn bird_and_porter(
    tag: &str,
    x: u8,
    conf: PorterConf,
    tweak: impl FnOnce(&mut RouterPeer),
) -> (Netns, Netns, Router, Porter) {
    let (r, s) = pair(tag, x);
    let mut rp = RouterPeer::new("s1", speaker_addr(x), conf.asn);
    rp.passive = true;
    tweak(&mut rp);
    let router = Router::start(
        &r,
        RouterSpec {
            kind: Kind::Bird,
            router_id: format!("10.201.{x}.1").parse().unwrap(),
            asn: ROUTER_AS,
            peers: vec![rp],
        },
    );
    let porter = Porter::start(&s, conf).unwrap_or_else(|e| panic!("{e:#}"));
    (r, s, router, porter)
}

/// A cut link (no FIN, no RST): porter's hold timer expires after the negotiated 9 s, and the
/// session comes back once the link is up again.
#[test]
fn bird_hold_timer_expires_on_a_cut_link_and_session_recovers() {
    if !ready(&[Tool::Bird]) {
        return;
    }
    let x = 17;
    let conf = one_router_conf(x);
    let (r, _s, router, porter) = bird_and_porter("b-hold", x, conf, |_| {});
    let diag = || format!("{}\n{}", router.show(), porter.diag());
    wait("Established", diag, || {
        porter.is_established("router") && fib(&r, "203.0.113.7") == [speaker_addr(x)]
    });
    // drop every packet between the two (the interfaces stay up, so no carrier event tells
    // either side): only the hold timer can notice
    r.exec(&[
        "tc", "qdisc", "add", "dev", "r-s", "root", "netem", "loss", "100%",
    ])
    .or_else(|_| {
        // no netem: block with a blackhole route on the router side instead
        r.ip(&[
            "route",
            "add",
            "blackhole",
            &format!("{}/32", speaker_addr(x)),
        ])
    })
    .unwrap();
    let start = std::time::Instant::now();
    wait(
        "porter leaves Established after the hold time",
        diag,
        || !porter.is_established("router"),
    );
    let down = start.elapsed();
    let peer = porter.peer_status("router").unwrap();
    assert!(
        down >= Duration::from_secs(5) && down <= Duration::from_secs(14),
        "hold timer of 9 s expired after {down:.2?}\n{}",
        diag()
    );
    let err = last_error(&peer).to_ascii_lowercase();
    assert!(
        err.contains("hold"),
        "lastError should say the hold timer expired: {err}\n{}",
        diag()
    );
    let _ = r.exec(&["tc", "qdisc", "del", "dev", "r-s", "root"]);
    let _ = r.ip(&[
        "route",
        "del",
        "blackhole",
        &format!("{}/32", speaker_addr(x)),
    ]);
    let t = wait("session and route back after the link heals", diag, || {
        porter.is_established("router")
            && router.established(0).unwrap_or(false)
            && fib(&r, "203.0.113.7") == [speaker_addr(x)]
    });
    eprintln!(
        "{}: hold timer expired after {down:.2?}; back {t:.2?} after the link healed",
        test_name()
    );
}

#[test]
fn bird_route_refresh_keeps_the_route() {
    scenarios::route_refresh(Kind::Bird, "b-rr", 18);
}

/// 4-octet AS numbers (RFC 6793) on both ends: BIRD sees porter's AS in the AS_PATH.
#[test]
fn bird_four_octet_as() {
    if !ready(&[Tool::Bird]) {
        return;
    }
    let x = 19;
    let asn = 4_200_000_001;
    let conf = PorterConf::new("node1", asn, speaker_addr(x))
        .peer(PeerDoc::new("router", router_addr(x), ROUTER_AS))
        .vip("203.0.113.7");
    let (_r, _s, router, porter) = bird_and_porter("b-as4", x, conf, |_| {});
    let diag = || format!("{}\n{}", router.show(), porter.diag());
    wait("BIRD has the route with AS_PATH 4200000001", diag, || {
        router.bird().routes("203.0.113.7/32").is_ok_and(|rs| {
            rs.iter()
                .any(|r| r.text.contains("BGP.as_path: 4200000001"))
        })
    });
}

#[test]
fn bird_receives_500_vips_and_their_withdrawal() {
    scenarios::many_vips(Kind::Bird, "b-500", 20, 500, false, false);
}

#[test]
fn bird_receives_500_vips_with_add_path_over_several_updates() {
    scenarios::many_vips(Kind::Bird, "b-500ap", 48, 500, false, true);
}

#[test]
fn bird_receives_1000_ipv6_vips_over_several_updates() {
    scenarios::many_vips(Kind::Bird, "b-1000v6", 49, 1000, true, false);
}

/// Ten quick rewrites of the file, each a different set of VIPs: BIRD ends with exactly the
/// last set (no lost withdrawal, no stale announcement).
#[test]
fn bird_converges_after_quick_config_churn() {
    if !ready(&[Tool::Bird]) {
        return;
    }
    let x = 50;
    let base = PorterConf::new("node1", PORTER_AS, speaker_addr(x)).peer(PeerDoc::new(
        "router",
        router_addr(x),
        ROUTER_AS,
    ));
    let set = |round: usize| -> Vec<IpAddr> {
        // a different mix each round: multiples of (round % 4 + 2), shifted by round
        (1..=200u32)
            .filter(|i| (i + round as u32) % (round as u32 % 4 + 2) == 0)
            .map(|i| ip(&format!("203.0.113.{i}")))
            .collect()
    };
    let mut first = base.clone();
    first.vips = set(0);
    let (r, s) = pair("b-churn", x);
    let mut rp = RouterPeer::new("s1", speaker_addr(x), PORTER_AS);
    rp.passive = true;
    let router = Router::start(
        &r,
        RouterSpec {
            kind: Kind::Bird,
            router_id: "10.201.50.1".parse().unwrap(),
            asn: ROUTER_AS,
            peers: vec![rp],
        },
    );
    let mut porter = Porter::start(&s, first).unwrap_or_else(|e| panic!("{e:#}"));
    wait(
        "first set at BIRD",
        || porter.diag(),
        || router.bird().route_count().unwrap_or(0) == set(0).len(),
    );
    for round in 1..=10 {
        let mut c = base.clone();
        c.vips = set(round);
        porter.reconfigure(c).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    let want: std::collections::BTreeSet<String> =
        set(10).iter().map(|v| format!("{v}/32")).collect();
    let have = || -> std::collections::BTreeSet<String> {
        router
            .bird()
            .birdc(&["show", "route"])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| w.starts_with("203.0.113."))
            .map(str::to_string)
            .collect()
    };
    wait(
        "BIRD holds exactly the last set",
        || {
            format!(
                "missing/extra at BIRD: {:?}\n{}",
                have().symmetric_difference(&want).collect::<Vec<_>>(),
                porter.diag()
            )
        },
        || have() == want,
    );
    assert!(porter.is_established("router"), "{}", porter.diag());
}

/// SIGTERM with --shutdown-drain: routes re-announced with GRACEFUL_SHUTDOWN (RFC 8326) for
/// the drain time, then a Cease NOTIFICATION; porter exits 0.
#[test]
fn bird_sees_graceful_shutdown_then_cease_on_sigterm() {
    if !ready(&[Tool::Bird]) {
        return;
    }
    let x = 30;
    let mut conf = one_router_conf(x);
    conf.args = vec!["--shutdown-drain".into(), "3".into()];
    let (r, _s, router, mut porter) = bird_and_porter("b-gshut", x, conf, |_| {});
    let me = speaker_addr(x);
    wait(
        "route at BIRD",
        || format!("{}\n{}", router.show(), porter.diag()),
        || fib(&r, "203.0.113.7") == [me],
    );
    let log = porter.log_path().to_path_buf();
    let killer = std::thread::spawn(move || {
        // porter is ours; SIGTERM through the handle happens on this thread
        porter.terminate(Duration::from_secs(20))
    });
    let show = || router.show();
    wait(
        "BIRD sees GRACEFUL_SHUTDOWN (65535,0) on the route",
        show,
        || {
            router
                .bird()
                .routes("203.0.113.7/32")
                .is_ok_and(|rs| rs.iter().any(|r| r.text.contains("(65535,0)")))
        },
    );
    wait("the route leaves BIRD after the drain", show, || {
        fib(&r, "203.0.113.7").is_empty()
    });
    let status = killer.join().unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "porter did not exit 0 after SIGTERM: {status:?}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let proto = router
        .bird()
        .birdc(&["show", "protocols", "all", "s1"])
        .unwrap();
    assert!(
        proto.contains("Administrative shutdown"),
        "BIRD should have received Cease/Administrative Shutdown:\n{proto}"
    );
}

#[test]
fn bird_decodes_add_path_announcements_and_withdrawals() {
    scenarios::add_path_wire(Kind::Bird, "b-apw", 39);
}

/// BIRD closes the session administratively (Cease with a shutdown communication, RFC 9003)
/// three times in a row: porter records what it received and, each time BIRD is enabled
/// again, comes back without a long back-off. Routes BIRD sends porter are counted and
/// ignored.
#[test]
fn bird_admin_shutdowns_porter_reconnects() {
    if !ready(&[Tool::Bird]) {
        return;
    }
    let x = 43;
    let (r, s) = pair("b-admin", x);
    let bird = Bird::start(
        &r,
        &BirdConfig::new("10.201.43.1".parse().unwrap(), ROUTER_AS)
            .peer(BirdPeer::new("s1", speaker_addr(x), PORTER_AS))
            .announce("198.51.100.128/25", ""),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let porter = Porter::start(&s, one_router_conf(x)).unwrap_or_else(|e| panic!("{e:#}"));
    let diag = || {
        format!(
            "{}\n{}",
            bird.birdc(&["show", "protocols", "all", "s1"])
                .unwrap_or_default(),
            porter.diag()
        )
    };
    let up = || {
        bird.is_established("s1").unwrap_or(false)
            && porter.is_established("router")
            && fib(&r, "203.0.113.7") == [speaker_addr(x)]
    };
    wait("Established with the route", diag, up);
    wait("porter counts BIRD's UPDATE and stays up", diag, || {
        porter
            .peer_status("router")
            .ok()
            .and_then(|p| updates_received(&p))
            .is_some_and(|n| n >= 1)
    });
    for round in 1..=3 {
        bird.disable("s1", Some(&format!("maintenance {round}")))
            .unwrap();
        wait("porter leaves Established after the Cease", diag, || {
            !porter.is_established("router")
        });
        let err = last_error(&porter.peer_status("router").unwrap());
        assert!(
            err.contains("received") && err.contains(&format!("maintenance {round}")),
            "round {round}: lastError should hold the received Cease and its text: {err}\n{}",
            diag()
        );
        bird.enable("s1").unwrap();
        let t = wait("the session comes back", diag, up);
        eprintln!("{}: round {round}: back {t:.2?} after enable", test_name());
    }
}

/// The shared LAN of `bird_ecmp_with_add_path_on_shared_lan` without ADD-PATH: one path per
/// prefix, and with this node eligible it is next-hop self (not the other node's address).
#[test]
fn bird_shared_lan_without_add_path_gets_next_hop_self() {
    if !ready(&[Tool::Bird]) {
        return;
    }
    let mut lan = Lan::with_prefix("io", "b-lanself").unwrap();
    let r = netns("b-lanself-r");
    let n1 = netns("b-lanself-n1");
    let n2 = netns("b-lanself-n2");
    lan.attach(&r, "eth0", &["10.201.44.1/24"]).unwrap();
    lan.attach(&n1, "eth0", &["10.201.44.11/24"]).unwrap();
    lan.attach(&n2, "eth0", &["10.201.44.12/24"]).unwrap();
    let (a1, a2) = (ip("10.201.44.11"), ip("10.201.44.12"));
    // porter runs on n2: n1 sorts first, so "the lowest eligible next hop" would be n1's
    // address and "self" is n2's; the design says self
    let mut rp = RouterPeer::new("n2", a2, PORTER_AS);
    rp.passive = true;
    let router = Router::start(
        &r,
        RouterSpec {
            kind: Kind::Bird,
            router_id: "10.201.44.1".parse().unwrap(),
            asn: ROUTER_AS,
            peers: vec![rp],
        },
    );
    let conf = PorterConf::new("n2", PORTER_AS, a2)
        .peer(PeerDoc::new("router", ip("10.201.44.1"), ROUTER_AS))
        .vip("203.0.113.7")
        .node("n1", &[a1])
        .node("n2", &[a2]);
    let Some(porter) = Porter::start_unless(&n2, conf, "Node").unwrap_or_else(|e| panic!("{e:#}"))
    else {
        skip_feature("standalone Node documents not supported yet (porter rejects kind Node)");
        return;
    };
    let diag = || format!("{}\n{}", router.show(), porter.diag());
    let t = wait(
        "BIRD has 203.0.113.7 via this node (next-hop self)",
        diag,
        || router.bgp_next_hops("203.0.113.7/32").unwrap_or_default() == [a2],
    );
    assert_eq!(fib(&r, "203.0.113.7"), [a2], "{}", diag());
    eprintln!("{}: one path, next-hop self, after {t:.2?}", test_name());
}

/// An IPv6 VIP over an IPv4 session (both families negotiated): without an IPv6 address of
/// its own porter has no next hop to give and must not announce garbage; with a Node
/// document naming the node's IPv6 InternalIP, the VIP goes out with that next hop.
#[test]
fn bird_ipv6_vip_over_ipv4_session_uses_the_node_ipv6_address() {
    if !ready(&[Tool::Bird]) {
        return;
    }
    let x = 45;
    let (r, s) = pair("b-v6o4", x);
    let mut rp = RouterPeer::new("s1", speaker_addr(x), PORTER_AS);
    rp.passive = true;
    rp.both_families = true;
    let router = Router::start(
        &r,
        RouterSpec {
            kind: Kind::Bird,
            router_id: "10.201.45.1".parse().unwrap(),
            asn: ROUTER_AS,
            peers: vec![rp],
        },
    );
    let base = PorterConf::new("node1", PORTER_AS, speaker_addr(x))
        .peer(PeerDoc::new("router", router_addr(x), ROUTER_AS).both_families())
        .vip("203.0.113.7")
        .vip("2001:db8:ffff::7");
    // 1. no Node document: only the IPv4 VIP can be announced
    let mut porter = Porter::start(&s, base.clone()).unwrap_or_else(|e| panic!("{e:#}"));
    macro_rules! diag {
        () => {
            || format!("{}\n{}", router.show(), porter.diag())
        };
    }
    wait("IPv4 VIP at BIRD", diag!(), || {
        fib(&r, "203.0.113.7") == [speaker_addr(x)]
    });
    hold_for(
        std::time::Duration::from_secs(2),
        "no IPv6 route without an IPv6 next hop, session up",
        diag!(),
        || {
            router
                .bgp_next_hops("2001:db8:ffff::7/128")
                .is_ok_and(|h| h.is_empty())
                && porter.is_established("router")
        },
    );
    // 2. the node's IPv6 address from a Node document
    porter.kill();
    drop(porter);
    let with_node = base.node("node1", &[speaker_addr(x), speaker_addr6(x)]);
    let Some(porter) =
        Porter::start_unless(&s, with_node, "Node").unwrap_or_else(|e| panic!("{e:#}"))
    else {
        skip_feature("standalone Node documents not supported yet (porter rejects kind Node)");
        return;
    };
    let diag = || format!("{}\n{}", router.show(), porter.diag());
    let t = wait(
        "BIRD has the IPv6 VIP via the node's IPv6 address",
        diag,
        || {
            router
                .bgp_next_hops("2001:db8:ffff::7/128")
                .unwrap_or_default()
                == [speaker_addr6(x)]
        },
    );
    eprintln!("{}: IPv6 VIP over IPv4 after {t:.2?}", test_name());
}

/// The BgpPeer leaves the file: porter closes the session with Cease / Peer De-configured
/// (RFC 4486 subcode 3), BIRD drops the route, and porter does not connect again.
#[test]
fn bird_sees_peer_deconfigured_when_the_bgppeer_is_removed() {
    if !ready(&[Tool::Bird]) {
        return;
    }
    let x = 46;
    let (r, s) = pair("b-deconf", x);
    // BIRD active too: if porter ever accepted again the session would come back
    let router = Router::start(
        &r,
        RouterSpec {
            kind: Kind::Bird,
            router_id: "10.201.46.1".parse().unwrap(),
            asn: ROUTER_AS,
            peers: vec![RouterPeer::new("s1", speaker_addr(x), PORTER_AS)],
        },
    );
    let conf = one_router_conf(x);
    let mut porter = Porter::start(&s, conf.clone()).unwrap_or_else(|e| panic!("{e:#}"));
    macro_rules! diag {
        () => {
            || format!("{}\n{}", router.show(), porter.diag())
        };
    }
    wait("route at BIRD", diag!(), || {
        fib(&r, "203.0.113.7") == [speaker_addr(x)]
    });
    let mut none = conf.clone();
    none.peers.clear();
    porter.reconfigure(none).unwrap();
    wait("BIRD loses the session and the route", diag!(), || {
        !router.established(0).unwrap_or(true) && fib(&r, "203.0.113.7").is_empty()
    });
    let proto = router
        .bird()
        .birdc(&["show", "protocols", "all", "s1"])
        .unwrap();
    assert!(
        proto.contains("Peer de-configured") || proto.contains("peer de-configured"),
        "BIRD should have received Cease / Peer De-configured:\n{proto}"
    );
    hold_for(
        Duration::from_secs(5),
        "no session while the BgpPeer is gone, and /status no longer lists it",
        diag!(),
        || {
            !router.established(0).unwrap_or(true)
                && porter
                    .status()
                    .is_ok_and(|st| find_peer(&st, "router").is_none())
        },
    );
}

/// BIRD offers hold time 0 (RFC 4271 §4.2: no KEEPALIVEs, no hold timer): the negotiated
/// hold time is 0 and the session stays up well past porter's own 9 s.
#[test]
fn bird_hold_time_zero_keeps_the_session() {
    if !ready(&[Tool::Bird]) {
        return;
    }
    let x = 51;
    let (r, s) = pair("b-hold0", x);
    let mut bp = BirdPeer::new("s1", speaker_addr(x), PORTER_AS).passive();
    bp.hold_time = 0;
    let bird = Bird::start(
        &r,
        &BirdConfig::new("10.201.51.1".parse().unwrap(), ROUTER_AS).peer(bp),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let porter = Porter::start(&s, one_router_conf(x)).unwrap_or_else(|e| panic!("{e:#}"));
    let diag = || {
        format!(
            "{}\n{}",
            bird.birdc(&["show", "protocols", "all", "s1"])
                .unwrap_or_default(),
            porter.diag()
        )
    };
    wait("Established with hold time 0", diag, || {
        porter.is_established("router") && fib(&r, "203.0.113.7") == [speaker_addr(x)]
    });
    let negotiated = porter
        .peer_status("router")
        .ok()
        .and_then(|p| find_key(&p, "negotiatedHoldTime").cloned());
    // gobgp's TimersState leaves a zero out (omitempty), so absent while Established is 0
    assert!(
        negotiated.is_none() || matches!(&negotiated, Some(v) if v == 0 || v == "0"),
        "negotiated hold time should be 0, is {negotiated:?}\n{}",
        diag()
    );
    hold_for(
        Duration::from_secs(12),
        "the session stays up with no hold timer",
        diag,
        || porter.is_established("router") && bird.is_established("s1").unwrap_or(false),
    );
}

/// BIRD sends porter 20000 routes (porter announces only, so it must read them, count them and
/// let them go) while porter's own VIP keeps flowing the other way and the session stays up.
#[test]
fn bird_floods_porter_with_20000_routes() {
    if !ready(&[Tool::Bird]) {
        return;
    }
    let x = 52;
    let (r, s) = pair("b-flood", x);
    let mut c = BirdConfig::new("10.201.52.1".parse().unwrap(), ROUTER_AS)
        .peer(BirdPeer::new("s1", speaker_addr6(x), PORTER_AS).passive());
    for i in 0..20000u32 {
        c = c.announce(&format!("2001:db8:ffff:{:x}::/64", i + 1), "");
    }
    let bird = Bird::start(&r, &c).unwrap_or_else(|e| panic!("{e:#}"));
    let porter = Porter::start(
        &s,
        PorterConf::new("node1", PORTER_AS, speaker_addr(x))
            .peer(PeerDoc::new("router", router_addr6(x), ROUTER_AS))
            .vip("2001:db8:ffff::7"),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let diag = || {
        format!(
            "{}\n{}",
            bird.birdc(&["show", "protocols", "all", "s1"])
                .unwrap_or_default(),
            porter.diag()
        )
    };
    let start = std::time::Instant::now();
    wait("BIRD has porter's VIP", diag, || {
        fib(&r, "2001:db8:ffff::7") == [speaker_addr6(x)]
    });
    // BIRD packs many /64s per UPDATE; wait until BIRD says it exported all of them
    let exported = || {
        bird.birdc(&["show", "protocols", "all", "s1"])
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.trim_start().starts_with("Routes:"))
                    .and_then(|l| l.split("exported").next())
                    .and_then(|l| l.split(',').nth(1))
                    .and_then(|w| w.split_whitespace().next())
                    .and_then(|n| n.parse::<u32>().ok())
            })
            .unwrap_or(0)
    };
    wait("BIRD exported 20000 routes to porter", diag, || {
        exported() >= 20000
    });
    // 20000 NLRI of 9 octets cannot travel in fewer than 44 UPDATEs of at most 4096 octets
    wait("porter counted at least 44 UPDATEs from BIRD", diag, || {
        porter
            .peer_status("router")
            .ok()
            .and_then(|p| updates_received(&p))
            .is_some_and(|n| n >= 44)
    });
    hold_for(Duration::from_secs(3), "the session stays up", diag, || {
        porter.is_established("router") && bird.is_established("s1").unwrap_or(false)
    });
    eprintln!(
        "{}: 20000 routes in, VIP out, {:.2?}",
        test_name(),
        start.elapsed()
    );
}

#[test]
#[ignore = "scale probe, run by hand"]
fn bird_receives_20000_ipv6_vips() {
    scenarios::many_vips(Kind::Bird, "b-20k", 57, 20000, true, false);
}
