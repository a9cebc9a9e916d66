//! Test bodies shared by the BIRD and FRR suites: the same assertions against either router.

use std::net::IpAddr;
use std::time::Duration;

use super::*;

/// The router's AS in every scenario.
pub const ROUTER_AS: u32 = 65000;
/// porter's AS for eBGP.
pub const PORTER_AS: u32 = 65001;

/// porter as node1 with one peer, `router` at 10.201.X.1, announcing 203.0.113.7.
pub fn one_router_conf(x: u8) -> PorterConf {
    PorterConf::new("node1", PORTER_AS, speaker_addr(x))
        .peer(PeerDoc::new("router", router_addr(x), ROUTER_AS))
        .vip("203.0.113.7")
}

fn router_spec(kind: Kind, x: u8, peers: Vec<RouterPeer>) -> RouterSpec {
    let IpAddr::V4(id) = router_addr(x) else {
        unreachable!()
    };
    RouterSpec {
        kind,
        router_id: id,
        asn: ROUTER_AS,
        peers,
    }
}

/// How a basic session is set up.
#[derive(Clone, Copy, Debug)]
pub struct Basic {
    /// porter in the router's AS.
    pub ibgp: bool,
    /// porter only listens (the router connects); else porter connects and the router only
    /// listens, so each direction is exercised alone.
    pub porter_passive: bool,
    /// porter's listen port (BgpConf listenPort) when not 179; implies `porter_passive`.
    pub listen_port: Option<u16>,
}

/// One session, one VIP: the session comes up on both sides and the router has the VIP via
/// porter's address, in its BGP table and in the kernel FIB.
pub fn basic_session(kind: Kind, tag: &str, x: u8, b: Basic) {
    if !ready(&[kind.tool()]) {
        return;
    }
    let porter_passive = b.porter_passive || b.listen_port.is_some();
    let (r, s) = pair(tag, x);
    let porter_as = if b.ibgp { ROUTER_AS } else { PORTER_AS };
    let mut rp = RouterPeer::new("s1", speaker_addr(x), porter_as);
    rp.passive = !porter_passive;
    rp.port = b.listen_port;
    let router = Router::start(&r, router_spec(kind, x, vec![rp]));
    let mut peer = PeerDoc::new("router", router_addr(x), ROUTER_AS);
    if porter_passive {
        peer = peer.passive();
    }
    let mut conf = PorterConf::new("node1", porter_as, speaker_addr(x))
        .peer(peer)
        .vip("203.0.113.7");
    if let Some(p) = b.listen_port {
        conf.listen_port = p.into();
    }
    let porter = Porter::start(&s, conf).unwrap_or_else(|e| panic!("{e:#}"));
    let diag = || format!("{}\n{}", router.show(), porter.diag());
    let t = wait(
        "session Established at the router and in porter's /status",
        diag,
        || router.established(0).unwrap_or(false) && porter.is_established("router"),
    );
    wait(
        "the router's BGP table has 203.0.113.7/32 via porter",
        diag,
        || router.bgp_next_hops("203.0.113.7/32").unwrap_or_default() == [speaker_addr(x)],
    );
    wait("the router's FIB has 203.0.113.7 via porter", diag, || {
        fib(&r, "203.0.113.7") == [speaker_addr(x)]
    });
    if let Some(port) = b.listen_port {
        // the session can only have come from the router connecting to porter's port
        let ss = s
            .exec(&["ss", "-Htn", "state", "established"])
            .unwrap_or_default();
        assert!(
            ss.contains(&format!("{}:{port}", speaker_addr(x))),
            "no established TCP connection on porter's port {port}:\n{ss}\n{}",
            diag()
        );
    }
    eprintln!("{}: {kind:?} {b:?}: Established in {t:.2?}", test_name());
}

/// Two porter speakers, each on its own link, announce the same VIP without ADD-PATH: the
/// router installs one ECMP route with both as next hops.
pub fn ecmp_two_speakers(kind: Kind, tag: &str, x1: u8, x2: u8) {
    if !ready(&[kind.tool()]) {
        return;
    }
    let r = netns(&format!("{tag}-r"));
    let s1 = netns(&format!("{tag}-s1"));
    let s2 = netns(&format!("{tag}-s2"));
    link(&r, "r-s1", &s1, "s1-r", x1);
    link(&r, "r-s2", &s2, "s2-r", x2);
    let mut p1 = RouterPeer::new("s1", speaker_addr(x1), PORTER_AS);
    let mut p2 = RouterPeer::new("s2", speaker_addr(x2), PORTER_AS);
    p1.passive = true;
    p2.passive = true;
    let router = Router::start(&r, router_spec(kind, x1, vec![p1, p2]));
    let speaker = |ns: &Netns, node: &str, x: u8| {
        Porter::start(
            ns,
            PorterConf::new(node, PORTER_AS, speaker_addr(x))
                .peer(PeerDoc::new("router", router_addr(x), ROUTER_AS))
                .vip("203.0.113.7"),
        )
        .unwrap_or_else(|e| panic!("{e:#}"))
    };
    let a = speaker(&s1, "node1", x1);
    let b = speaker(&s2, "node2", x2);
    let diag = || format!("{}\n{}\n{}", router.show(), a.diag(), b.diag());
    let want = {
        let mut w = vec![speaker_addr(x1), speaker_addr(x2)];
        w.sort();
        w
    };
    let t = wait(
        "the router's FIB has 203.0.113.7 via both speakers (ECMP)",
        diag,
        || fib(&r, "203.0.113.7") == want,
    );
    let text = r.ip(&["route", "show", "203.0.113.7"]).unwrap_or_default();
    assert_eq!(
        text.matches("nexthop via").count(),
        2,
        "expected two `nexthop via` lines:\n{text}\n{}",
        diag()
    );
    eprintln!(
        "{}: {kind:?}: ECMP over 2 speakers after {t:.2?}",
        test_name()
    );
}

/// Withdraw on config change, fast loss of the path when porter dies, recovery after porter
/// and after the router restart. The router offers graceful restart but porter's BgpConf does
/// not enable it: porter must not advertise the capability, or the router would keep the dead
/// speaker's path for the whole restart time instead of dropping it at once.
pub fn withdraw_kill_restart(kind: Kind, tag: &str, x: u8) {
    if !ready(&[kind.tool()]) {
        return;
    }
    let (r, s) = pair(tag, x);
    let mut rp = RouterPeer::new("s1", speaker_addr(x), PORTER_AS);
    rp.passive = true;
    rp.graceful_restart = true;
    let mut router = Router::start(&r, router_spec(kind, x, vec![rp]));
    let conf = one_router_conf(x).vip("198.51.100.7");
    let mut porter = Porter::start(&s, conf.clone()).unwrap_or_else(|e| panic!("{e:#}"));
    let me = speaker_addr(x);
    macro_rules! diag {
        () => {
            || format!("{}\n{}", router.show(), porter.diag())
        };
    }
    wait("both VIPs in the router's FIB", diag!(), || {
        fib(&r, "203.0.113.7") == [me] && fib(&r, "198.51.100.7") == [me]
    });

    // 1. the Service leaves the file: the router withdraws it, the other stays
    let mut fewer = conf.clone();
    fewer.vips.retain(|v| *v != ip("198.51.100.7"));
    porter.reconfigure(fewer).unwrap();
    let t = wait("198.51.100.7 withdrawn at the router", diag!(), || {
        router
            .bgp_next_hops("198.51.100.7/32")
            .is_ok_and(|h| h.is_empty())
            && fib(&r, "198.51.100.7").is_empty()
    });
    assert_eq!(fib(&r, "203.0.113.7"), [me], "{}", diag!()());
    eprintln!("{}: {kind:?}: withdraw seen after {t:.2?}", test_name());

    // 2. SIGKILL: the kernel closes the TCP connection; the router drops the path at once
    porter.kill();
    let lost = measure(Duration::from_secs(5), || fib(&r, "203.0.113.7").is_empty());
    let Some(lost) = lost else {
        panic!(
            "203.0.113.7 still in the router's FIB 5 s after porter was killed\n{}",
            diag!()()
        );
    };
    assert!(
        lost <= Duration::from_secs(1),
        "the router dropped porter's path {lost:.2?} after SIGKILL (> 1 s)\n{}",
        diag!()()
    );
    eprintln!(
        "{}: {kind:?}: path gone {lost:.3?} after SIGKILL",
        test_name()
    );

    // 3. porter back: session and route back
    porter.restart().unwrap_or_else(|e| panic!("{e:#}"));
    let t = wait("route back after porter restart", diag!(), || {
        porter.is_established("router") && fib(&r, "203.0.113.7") == [me]
    });
    eprintln!(
        "{}: {kind:?}: back {t:.2?} after porter restart",
        test_name()
    );

    // 4. the router restarts: session and route come back
    router.restart(&r);
    let t = wait("route back after router restart", diag!(), || {
        router.established(0).unwrap_or(false)
            && porter.is_established("router")
            && fib(&r, "203.0.113.7") == [me]
    });
    assert!(
        fib(&r, "198.51.100.7").is_empty(),
        "a withdrawn VIP came back\n{}",
        diag!()()
    );
    eprintln!(
        "{}: {kind:?}: back {t:.2?} after router restart",
        test_name()
    );
}

/// Both sides connect at once (the usual deployment: neither side passive): RFC 4271 §6.8
/// collision resolution leaves one session that stays up.
pub fn both_active(kind: Kind, tag: &str, x: u8) {
    if !ready(&[kind.tool()]) {
        return;
    }
    let (r, s) = pair(tag, x);
    let router = Router::start(
        &r,
        router_spec(
            kind,
            x,
            vec![RouterPeer::new("s1", speaker_addr(x), PORTER_AS)],
        ),
    );
    let porter = Porter::start(&s, one_router_conf(x)).unwrap_or_else(|e| panic!("{e:#}"));
    let diag = || format!("{}\n{}", router.show(), porter.diag());
    let t = wait(
        "one session Established with both sides active",
        diag,
        || {
            router.established(0).unwrap_or(false)
                && porter.is_established("router")
                && fib(&r, "203.0.113.7") == [speaker_addr(x)]
        },
    );
    // the losing connection must not take the winner down with it
    hold_for(
        Duration::from_secs(4),
        "the session stays Established",
        diag,
        || router.established(0).unwrap_or(false) && porter.is_established("router"),
    );
    let flaps = porter
        .peer_status("router")
        .ok()
        .and_then(|p| find_key(&p, "flops").and_then(|f| f.as_u64()))
        .unwrap_or(0);
    assert_eq!(flaps, 0, "the session flapped\n{}", diag());
    let conns = s
        .exec(&[
            "ss",
            "-Htn",
            "state",
            "established",
            "( sport = :179 or dport = :179 )",
        ])
        .unwrap_or_default();
    assert_eq!(
        conns.lines().count(),
        1,
        "exactly one BGP connection should remain:\n{conns}\n{}",
        diag()
    );
    eprintln!(
        "{}: {kind:?}: collision resolved, up after {t:.2?}",
        test_name()
    );
}

/// An IPv6 VIP over an IPv6 session: the router has it via porter's IPv6 address.
pub fn ipv6_session(kind: Kind, tag: &str, x: u8) {
    if !ready(&[kind.tool()]) {
        return;
    }
    let (r, s) = pair(tag, x);
    let mut rp = RouterPeer::new("s1", speaker_addr6(x), PORTER_AS);
    rp.passive = true;
    let router = Router::start(&r, router_spec(kind, x, vec![rp]));
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
        "the router has 2001:db8:ffff::7/128 via porter's IPv6 address",
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
    eprintln!("{}: {kind:?}: IPv6 route after {t:.2?}", test_name());
}

/// An IPv4 and an IPv6 session to the same router, an IPv4 and an IPv6 VIP: each VIP travels
/// on the session of its family only, with that session's address as next hop.
pub fn dual_stack(kind: Kind, tag: &str, x: u8) {
    if !ready(&[kind.tool()]) {
        return;
    }
    let (r, s) = pair(tag, x);
    let mut p4 = RouterPeer::new("s4", speaker_addr(x), PORTER_AS);
    let mut p6 = RouterPeer::new("s6", speaker_addr6(x), PORTER_AS);
    p4.passive = true;
    p6.passive = true;
    let router = Router::start(&r, router_spec(kind, x, vec![p4, p6]));
    let porter = Porter::start(
        &s,
        PorterConf::new("node1", PORTER_AS, speaker_addr(x))
            .peer(PeerDoc::new("router4", router_addr(x), ROUTER_AS))
            .peer(PeerDoc::new("router6", router_addr6(x), ROUTER_AS))
            .vip("203.0.113.7")
            .vip("2001:db8:ffff::7"),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let diag = || format!("{}\n{}", router.show(), porter.diag());
    let t = wait(
        "both VIPs in the router's FIB via their family's session",
        diag,
        || {
            fib(&r, "203.0.113.7") == [speaker_addr(x)]
                && fib(&r, "2001:db8:ffff::7") == [speaker_addr6(x)]
        },
    );
    assert!(
        porter.is_established("router4") && porter.is_established("router6"),
        "{}",
        diag()
    );
    eprintln!("{}: {kind:?}: dual stack after {t:.2?}", test_name());
}

/// TCP MD5 (RFC 2385): with the same password the session comes up; with another, neither
/// side reaches Established within 10 s.
pub fn md5(kind: Kind, tag: &str, x: u8, matching: bool, porter_passive: bool) {
    if !ready(&[kind.tool()]) {
        return;
    }
    let (r, s) = pair(tag, x);
    let mut rp = RouterPeer::new("s1", speaker_addr(x), PORTER_AS);
    rp.passive = !porter_passive;
    rp.password = Some("porter-md5".into());
    let router = Router::start(&r, router_spec(kind, x, vec![rp]));
    let pw = if matching {
        "porter-md5"
    } else {
        "not-the-password"
    };
    let mut peer = PeerDoc::new("router", router_addr(x), ROUTER_AS).password(pw);
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
    if matching {
        let t = wait("MD5 session Established", diag, || {
            router.established(0).unwrap_or(false) && porter.is_established("router")
        });
        wait("route at the router", diag, || {
            fib(&r, "203.0.113.7") == [speaker_addr(x)]
        });
        eprintln!("{}: {kind:?}: MD5 session up after {t:.2?}", test_name());
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

/// ADD-PATH send negotiated with a router that receives it (BIRD `add paths rx`, FRR by
/// default): porter's NLRI carry path identifiers (RFC 7911 §3), announcements and
/// withdrawals both decode at the router and the session stays up.
pub fn add_path_wire(kind: Kind, tag: &str, x: u8) {
    if !ready(&[kind.tool()]) {
        return;
    }
    let (r, s) = pair(tag, x);
    let mut rp = RouterPeer::new("s1", speaker_addr(x), PORTER_AS);
    rp.passive = true;
    rp.add_path_rx = true;
    let router = Router::start(&r, router_spec(kind, x, vec![rp]));
    let conf = PorterConf::new("node1", PORTER_AS, speaker_addr(x))
        .peer(PeerDoc::new("router", router_addr(x), ROUTER_AS).add_path_send(8))
        .vip("203.0.113.7")
        .vip("198.51.100.7");
    let mut porter = Porter::start(&s, conf.clone()).unwrap_or_else(|e| panic!("{e:#}"));
    let me = speaker_addr(x);
    macro_rules! diag {
        () => {
            || format!("{}\n{}", router.show(), porter.diag())
        };
    }
    wait(
        "both VIPs at the router over an ADD-PATH session",
        diag!(),
        || fib(&r, "203.0.113.7") == [me] && fib(&r, "198.51.100.7") == [me],
    );
    let neg = router.show();
    let negotiated = match kind {
        // BIRD lists "ADD-PATH" among local and neighbor capabilities, and "RX" in the
        // channel's negotiated settings
        Kind::Bird => neg.matches("ADD-PATH").count() >= 2,
        Kind::Frr => neg.contains("Add Path") || neg.contains("AddPath") || neg.contains("addpath"),
    };
    assert!(negotiated, "ADD-PATH not negotiated:\n{neg}");
    let mut fewer = conf.clone();
    fewer.vips.retain(|v| *v != ip("198.51.100.7"));
    porter.reconfigure(fewer).unwrap();
    wait(
        "the ADD-PATH withdrawal reaches the router",
        diag!(),
        || {
            fib(&r, "198.51.100.7").is_empty()
                && router
                    .bgp_next_hops("198.51.100.7/32")
                    .is_ok_and(|h| h.is_empty())
        },
    );
    assert_eq!(fib(&r, "203.0.113.7"), [me], "{}", diag!()());
    assert!(
        router.established(0).unwrap_or(false) && porter.is_established("router"),
        "{}",
        diag!()()
    );
}

/// One porter on a shared LAN (router .1, nodes .11 and .12, porter on .11) announces the VIP
/// with ADD-PATH: one path per Ready node from the Node documents, the other node's with a
/// third-party next hop (RFC 4271 §5.1.3); the router installs both as ECMP.
pub fn add_path_shared_lan(kind: Kind, tag: &str, x: u8) {
    if !ready(&[kind.tool()]) {
        return;
    }
    let mut lan = Lan::with_prefix("io", tag).unwrap();
    let r = netns(&format!("{tag}-r"));
    let n1 = netns(&format!("{tag}-n1"));
    let n2 = netns(&format!("{tag}-n2"));
    let (a0, a1, a2) = (
        format!("10.201.{x}.1"),
        format!("10.201.{x}.11"),
        format!("10.201.{x}.12"),
    );
    lan.attach(&r, "eth0", &[&format!("{a0}/24")]).unwrap();
    lan.attach(&n1, "eth0", &[&format!("{a1}/24")]).unwrap();
    lan.attach(&n2, "eth0", &[&format!("{a2}/24")]).unwrap();
    let (a0, a1, a2) = (ip(&a0), ip(&a1), ip(&a2));
    let mut rp = RouterPeer::new("n1", a1, PORTER_AS);
    rp.passive = true;
    rp.add_path_rx = true;
    let router = Router::start(&r, router_spec(kind, x, vec![rp]));
    let conf = PorterConf::new("n1", PORTER_AS, a1)
        .peer(PeerDoc::new("router", a0, ROUTER_AS).add_path_send(8))
        .vip("203.0.113.7")
        .node("n1", &[a1])
        .node("n2", &[a2]);
    let Some(mut porter) =
        Porter::start_unless(&n1, conf.clone(), "Node").unwrap_or_else(|e| panic!("{e:#}"))
    else {
        skip_feature("standalone Node documents not supported yet (porter rejects kind Node)");
        return;
    };
    macro_rules! diag {
        () => {
            || format!("{}\n{}", router.show(), porter.diag())
        };
    }
    let t = wait(
        "the router's FIB has 203.0.113.7 via both nodes",
        diag!(),
        || fib(&r, "203.0.113.7") == [a1, a2],
    );
    let mut paths = router.bgp_next_hops("203.0.113.7/32").unwrap();
    paths.sort();
    assert_eq!(paths, [a1, a2], "two BGP paths expected\n{}", diag!()());
    // n2 turns NotReady: only its path is withdrawn (by path identifier), then it comes back
    let mut down = conf.clone();
    down.not_ready = vec!["n2".into()];
    porter.reconfigure(down).unwrap();
    wait("n2's path withdrawn, n1's kept", diag!(), || {
        fib(&r, "203.0.113.7") == [a1]
            && router.bgp_next_hops("203.0.113.7/32").unwrap_or_default() == [a1]
    });
    porter.reconfigure(conf).unwrap();
    wait("n2's path back", diag!(), || {
        fib(&r, "203.0.113.7") == [a1, a2]
    });
    assert!(porter.is_established("router"), "{}", diag!()());
    eprintln!("{}: {kind:?}: ADD-PATH ECMP after {t:.2?}", test_name());
}

/// The router asks for a refresh (ROUTE-REFRESH, RFC 2918; enhanced with BoRR/EoRR when
/// negotiated, RFC 7313, after which the router drops what was not re-sent): porter counts
/// the request, re-sends, and both routes stay.
pub fn route_refresh(kind: Kind, tag: &str, x: u8) {
    if !ready(&[kind.tool()]) {
        return;
    }
    let (r, s) = pair(tag, x);
    let mut rp = RouterPeer::new("s1", speaker_addr(x), PORTER_AS);
    rp.passive = true;
    let router = Router::start(&r, router_spec(kind, x, vec![rp]));
    let porter = Porter::start(&s, one_router_conf(x).vip("198.51.100.7"))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let diag = || format!("{}\n{}", router.show(), porter.diag());
    let both = || fib(&r, "203.0.113.7").len() == 1 && fib(&r, "198.51.100.7").len() == 1;
    wait("both routes at the router", diag, both);
    let counter = |p: &serde_json::Value, dir: &str, kind: &str| {
        find_key(p, dir)
            .and_then(|m| m.get(kind))
            .and_then(|v| {
                v.as_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    .or(v.as_u64())
            })
            .unwrap_or(0)
    };
    let before = porter.peer_status("router").unwrap();
    router.refresh_in(0);
    wait("porter counts the ROUTE-REFRESH and re-sends", diag, || {
        porter.peer_status("router").is_ok_and(|p| {
            counter(&p, "received", "refresh") > counter(&before, "received", "refresh")
                && counter(&p, "sent", "update") > counter(&before, "sent", "update")
        })
    });
    hold_for(
        Duration::from_secs(2),
        "both routes stay at the router after the refresh",
        diag,
        both,
    );
    assert!(porter.is_established("router"), "{}", diag());
}

/// Number of kernel routes a BGP daemon installed in `ns` (`proto bird` or `proto bgp`).
pub fn fib_bgp_routes(ns: &Netns, v6: bool) -> usize {
    let fam = if v6 { "-6" } else { "-4" };
    ns.ip(&[fam, "route", "show"])
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("proto bird") || l.contains("proto bgp"))
        .count()
}

/// `n` Services on one session (IPv4 VIPs from both documentation /24s, or IPv6 VIPs over an
/// IPv6 session), optionally with ADD-PATH (9 octets per IPv4 NLRI, so 500 do not fit one
/// 4096-octet UPDATE): every VIP reaches the router's FIB, then every other one is removed and
/// exactly those are withdrawn.
pub fn many_vips(kind: Kind, tag: &str, x: u8, n: usize, v6: bool, add_path: bool) {
    if !ready(&[kind.tool()]) {
        return;
    }
    let neighbor = if v6 { router_addr6(x) } else { router_addr(x) };
    let mut peer = PeerDoc::new("router", neighbor, ROUTER_AS);
    if add_path {
        peer = peer.add_path_send(8);
    }
    let mut conf = PorterConf::new("node1", PORTER_AS, speaker_addr(x)).peer(peer);
    for i in 0..n {
        let vip = if v6 {
            format!("2001:db8:ffff::{:x}", i + 1)
        } else if i < 250 {
            format!("203.0.113.{}", i + 1)
        } else {
            format!("198.51.100.{}", i - 249)
        };
        conf = conf.vip(&vip);
    }
    let (r, s) = pair(tag, x);
    let me = if v6 {
        speaker_addr6(x)
    } else {
        speaker_addr(x)
    };
    let mut rp = RouterPeer::new("s1", me, PORTER_AS);
    rp.passive = true;
    rp.add_path_rx = add_path;
    let _router = Router::start(&r, router_spec(kind, x, vec![rp]));
    let mut porter = Porter::start(&s, conf.clone()).unwrap_or_else(|e| panic!("{e:#}"));
    let count = || fib_bgp_routes(&r, v6);
    macro_rules! diag {
        () => {
            || {
                format!(
                    "{} BGP routes in the router's FIB\n{}",
                    count(),
                    porter.diag()
                )
            }
        };
    }
    let t = wait(&format!("{n} routes in the router's FIB"), diag!(), || {
        count() == n
    });
    eprintln!("{}: {kind:?}: {n} routes after {t:.2?}", test_name());
    let mut half = conf.clone();
    let gone: Vec<IpAddr> = conf.vips.iter().copied().skip(1).step_by(2).collect();
    half.vips.retain(|v| !gone.contains(v));
    porter.reconfigure(half).unwrap();
    let left = n - gone.len();
    let t = wait(&format!("{left} routes left"), diag!(), || count() == left);
    for g in gone.iter().take(20) {
        assert!(
            fib(&r, &g.to_string()).is_empty(),
            "withdrawn {g} is still in the router's FIB"
        );
    }
    assert!(porter.is_established("router"), "{}", diag!()());
    eprintln!(
        "{}: {kind:?}: {} withdrawn after {t:.2?}",
        test_name(),
        gone.len()
    );
}
