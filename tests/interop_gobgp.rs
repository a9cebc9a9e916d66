//! porter standalone with gobgpd as the router: porter's route appears in
//! `gobgp -j global rib`. Link subnets 10.201.31–39.0/24.

mod common;

use common::scenarios::{PORTER_AS, ROUTER_AS};
use common::*;

fn gobgp_case(tag: &str, x: u8, porter_passive: bool) {
    if !ready(&[Tool::Gobgp]) {
        return;
    }
    let (r, s) = pair(tag, x);
    let mut n = GobgpNeighbor::new(speaker_addr(x), PORTER_AS);
    n.passive = !porter_passive;
    let IpAddr::V4(id) = router_addr(x) else {
        unreachable!()
    };
    let gobgp = Gobgpd::start(&r, &GobgpConfig::new(id, ROUTER_AS).neighbor(n))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let mut peer = PeerDoc::new("router", router_addr(x), ROUTER_AS);
    if porter_passive {
        peer = peer.passive();
    }
    let porter = Porter::start(
        &s,
        PorterConf::new("node1", PORTER_AS, speaker_addr(x))
            .peer(peer)
            .vip("203.0.113.7")
            .vip("198.51.100.9"),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let diag = || {
        format!(
            "--- gobgp neighbor ---\n{}\n--- gobgp global rib ---\n{}\n{}",
            gobgp.cli(&["neighbor"]).unwrap_or_default(),
            gobgp.cli(&["global", "rib"]).unwrap_or_default(),
            porter.diag()
        )
    };
    let t = wait("gobgpd Established with porter", diag, || {
        gobgp
            .neighbor_state(speaker_addr(x))
            .is_ok_and(|s| s == "established")
            && porter.is_established("router")
    });
    wait("porter's VIP in gobgp global rib", diag, || {
        gobgp.rib_next_hops("203.0.113.7/32").unwrap_or_default() == [speaker_addr(x)]
    });
    // the whole table as JSON, as an operator would read it
    let rib = gobgp.json(&["global", "rib"]).unwrap();
    let text = rib.to_string();
    for want in ["203.0.113.7/32", "198.51.100.9/32"] {
        assert!(
            text.contains(want),
            "{want} missing from gobgp -j global rib: {text}"
        );
    }
    eprintln!("{}: gobgpd has porter's routes {t:.2?}", test_name());
}

use std::net::IpAddr;

#[test]
fn gobgp_learns_porter_route_porter_active() {
    gobgp_case("g-act", 31, false);
}

#[test]
fn gobgp_learns_porter_route_porter_passive() {
    gobgp_case("g-pas", 32, true);
}
