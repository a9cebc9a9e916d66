//! porter standalone against FRR 8 (zebra + bgpd) in network namespaces: what the router
//! sees. Link subnets 10.201.21–29.0/24 34–38, 40, 42, 47 and 54–56.

mod common;

use common::scenarios::{self, one_router_conf, Basic};
use common::*;

const NO: Basic = Basic {
    ibgp: false,
    porter_passive: false,
    listen_port: None,
};

#[test]
fn frr_ebgp_porter_active() {
    scenarios::basic_session(Kind::Frr, "f-eact", 21, NO);
}

#[test]
fn frr_ebgp_porter_passive() {
    let b = Basic {
        porter_passive: true,
        ..NO
    };
    scenarios::basic_session(Kind::Frr, "f-epas", 22, b);
}

#[test]
fn frr_ibgp_porter_active() {
    let b = Basic { ibgp: true, ..NO };
    scenarios::basic_session(Kind::Frr, "f-iact", 23, b);
}

#[test]
fn frr_ibgp_porter_passive() {
    let b = Basic {
        ibgp: true,
        porter_passive: true,
        ..NO
    };
    scenarios::basic_session(Kind::Frr, "f-ipas", 24, b);
}

#[test]
fn frr_connects_to_porter_on_port_17900() {
    let b = Basic {
        listen_port: Some(17900),
        ..NO
    };
    scenarios::basic_session(Kind::Frr, "f-port", 25, b);
}

#[test]
fn frr_ecmp_from_two_speakers_without_add_path() {
    scenarios::ecmp_two_speakers(Kind::Frr, "f-ecmp", 26, 27);
}

#[test]
fn frr_withdraw_kill_and_restarts() {
    scenarios::withdraw_kill_restart(Kind::Frr, "f-wkr", 28);
}

#[test]
fn frr_both_sides_active_resolve_the_collision() {
    scenarios::both_active(Kind::Frr, "f-coll", 29);
}

#[test]
fn frr_ipv6_vip_over_ipv6_session() {
    scenarios::ipv6_session(Kind::Frr, "f-v6", 34);
}

#[test]
fn frr_dual_stack_each_vip_on_its_own_session() {
    scenarios::dual_stack(Kind::Frr, "f-dual", 35);
}

#[test]
fn frr_md5_matching_password_porter_active() {
    scenarios::md5(Kind::Frr, "f-md5a", 36, true, false);
}

#[test]
fn frr_md5_matching_password_porter_passive() {
    scenarios::md5(Kind::Frr, "f-md5p", 37, true, true);
}

#[test]
fn frr_md5_wrong_password_never_establishes() {
    scenarios::md5(Kind::Frr, "f-md5w", 38, false, false);
}

#[test]
fn frr_decodes_add_path_announcements_and_withdrawals() {
    scenarios::add_path_wire(Kind::Frr, "f-apw", 40);
}

/// RFC 4724 with FRR as the helper: after porter's SIGKILL FRR marks the paths stale and
/// keeps them in the FIB; once porter is back and has sent End-of-RIB, the refreshed path is no
/// longer stale and the one porter stopped announcing is gone.
#[test]
fn frr_keeps_routes_while_porter_restarts_gracefully() {
    if !ready(&[Tool::Frr]) {
        return;
    }
    use common::scenarios::{PORTER_AS, ROUTER_AS};
    use std::time::Duration;
    let x = 42;
    let (r, s) = pair("f-gr", x);
    let mut rp = RouterPeer::new("s1", speaker_addr(x), PORTER_AS);
    rp.passive = true;
    rp.graceful_restart = true;
    let router = Router::start(
        &r,
        RouterSpec {
            kind: Kind::Frr,
            router_id: "10.201.42.1".parse().unwrap(),
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
    wait("both VIPs at FRR", diag!(), || {
        fib(&r, "203.0.113.7") == [me] && fib(&r, "198.51.100.7") == [me]
    });
    let stale = |prefix: &str| -> Option<bool> {
        let Ok(v) = router.frr().route(prefix) else {
            return None;
        };
        let paths = v.get("paths")?.as_array()?.clone();
        let first = paths.first()?;
        Some(
            first
                .get("stale")
                .and_then(|s| s.as_bool())
                .unwrap_or(false),
        )
    };
    porter.kill();
    wait("FRR marks porter's paths stale", diag!(), || {
        stale("203.0.113.7/32") == Some(true) && stale("198.51.100.7/32") == Some(true)
    });
    hold_for(
        Duration::from_secs(2),
        "FRR keeps both stale routes in the FIB while porter is down",
        diag!(),
        || fib(&r, "203.0.113.7") == [me] && fib(&r, "198.51.100.7") == [me],
    );
    let mut fewer = conf.clone();
    fewer.vips.retain(|v| *v != ip("198.51.100.7"));
    porter.set_conf(fewer).unwrap();
    porter.restart().unwrap_or_else(|e| panic!("{e:#}"));
    let t = wait(
        "203.0.113.7 refreshed (not stale), 198.51.100.7 gone after End-of-RIB",
        diag!(),
        || {
            porter.is_established("router")
                && stale("203.0.113.7/32") == Some(false)
                && stale("198.51.100.7/32").is_none()
                && fib(&r, "198.51.100.7").is_empty()
        },
    );
    assert_eq!(fib(&r, "203.0.113.7"), [me], "{}", diag!()());
    eprintln!("{}: stale path flushed {t:.2?} after restart", test_name());
}

#[test]
fn frr_ecmp_with_add_path_on_shared_lan() {
    scenarios::add_path_shared_lan(Kind::Frr, "f-apath", 47);
}

#[test]
fn frr_route_refresh_keeps_the_route() {
    scenarios::route_refresh(Kind::Frr, "f-rr", 54);
}

#[test]
fn frr_receives_500_vips_with_add_path_over_several_updates() {
    scenarios::many_vips(Kind::Frr, "f-500ap", 55, 500, false, true);
}

#[test]
fn frr_receives_1000_ipv6_vips_over_several_updates() {
    scenarios::many_vips(Kind::Frr, "f-1000v6", 56, 1000, true, false);
}
