//! porter standalone against FRR 8 (zebra + bgpd) in network namespaces: what the router
//! sees. Link subnets 10.201.21–29.0/24 and 34–38.

mod common;

use common::scenarios::{self, Basic};
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
