//! Layer-2 responder in network namespaces: a client namespace and two speaker namespaces
//! on one bridge (in a hub namespace). Each responder runs on a dedicated thread that has
//! entered its speaker's namespace, with a current-thread tokio runtime of its own.
//!
//! Needs root, iproute2, arping (Habets), ndisc6 and tcpdump; skips loudly without them unless
//! `PORTER_LAB_REQUIRE=1`.

mod layer2_lab;

use std::thread;
use std::time::Duration;

use layer2_lab::*;

#[test]
fn standalone_responder_answers_owned_ipv4_and_ipv6_addresses_only() {
    if !lab_or_skip("standalone_responder_answers_owned_ipv4_and_ipv6_addresses_only") {
        return;
    }
    let lab = Lab::new("std", 1);
    let a = Speaker::start(&lab, "a", &[VIP4, VIP6]);
    let mac_a = lab.mac("a");

    assert_eq!(
        lab.arping(VIP4),
        vec![mac_a, mac_a],
        "both ARP requests answered by a"
    );
    assert_eq!(lab.ndisc6(VIP6), vec![mac_a], "the NS answered by a");
    assert_eq!(
        lab.arping(VIP4_UNOWNED),
        vec![],
        "no ARP answer outside the owned set"
    );
    assert_eq!(
        lab.ndisc6(VIP6_UNOWNED),
        vec![],
        "no NDP answer outside the owned set"
    );
    // The speaker's own interface addresses are the kernel's business, not porter's: the
    // responder must not answer for them (the kernel does, once).
    assert_eq!(lab.arping("10.202.1.2"), vec![mac_a, mac_a]);

    assert_eq!(a.counter(VIP4, "requests"), 2);
    assert_eq!(a.counter(VIP4, "responses"), 2);
    assert!(a.counter(VIP6, "requests") >= 1);
    assert_eq!(a.counter(VIP6, "requests"), a.counter(VIP6, "responses"));
    assert_eq!(
        a.counter(VIP4, "gratuitous"),
        3,
        "three announcements on taking it"
    );
    assert_eq!(a.counter(VIP6, "gratuitous"), 3);
    assert_eq!(a.counter(VIP4_UNOWNED, "requests"), 0);
    assert_eq!(
        a.metrics.layer2_owner(VIP4.parse().unwrap()).as_deref(),
        Some("node-a")
    );

    // Giving an address up stops the answers at once.
    a.own(&[VIP6]);
    thread::sleep(Duration::from_millis(100));
    assert_eq!(
        lab.arping(VIP4),
        vec![],
        "no answer after giving the address up"
    );
    assert_eq!(lab.ndisc6(VIP6), vec![mac_a]);
    assert_eq!(a.metrics.layer2_owner(VIP4.parse().unwrap()), None);
    a.stop();
    assert_eq!(
        lab.ndisc6(VIP6),
        vec![],
        "a stopped responder answers nothing"
    );
}

#[test]
fn takeover_updates_the_clients_neighbor_table_without_it_asking() {
    if !lab_or_skip("takeover_updates_the_clients_neighbor_table_without_it_asking") {
        return;
    }
    let lab = Lab::new("tko", 2);
    let (mac_a, mac_b) = (lab.mac("a"), lab.mac("b"));
    let a = Speaker::start(&lab, "a", &[VIP4, VIP6]);
    let b = Speaker::start(&lab, "b", &[]);

    // The client learns the VIPs the ordinary way (its kernel asks, a answers); the pings
    // themselves go unanswered, since the VIPs are on no interface.
    lab.client(&["ping", "-c", "1", "-W", "1", VIP4]);
    lab.client(&["ping", "-6", "-c", "1", "-W", "1", VIP6]);
    assert_eq!(lab.neighbor(VIP4), Some(mac_a));
    assert_eq!(lab.neighbor(VIP6), Some(mac_a));
    // Let a's own announcements finish so that only b's can change the table.
    thread::sleep(Duration::from_secs(1));

    // Takeover: a loses the addresses (its lease), b takes them.
    a.own(&[]);
    b.own(&[VIP4, VIP6]);
    let v4 = wait_for(Duration::from_secs(3), || lab.neighbor(VIP4) == Some(mac_b));
    let v6 = wait_for(Duration::from_secs(3), || lab.neighbor(VIP6) == Some(mac_b));
    assert!(v4.is_some(), "IPv4 entry still {:?}", lab.neighbor(VIP4));
    assert!(v6.is_some(), "IPv6 entry still {:?}", lab.neighbor(VIP6));
    eprintln!("client neighbor table moved to b after {v4:?} (IPv4), {v6:?} (IPv6)");
    // The client did not ask b: b received no request, it announced.
    assert_eq!(b.counter(VIP4, "requests"), 0);
    assert_eq!(b.counter(VIP6, "requests"), 0);
    assert!(b.counter(VIP4, "gratuitous") >= 1);
    assert!(b.counter(VIP6, "gratuitous") >= 1);

    // Only b answers now: never both.
    assert_eq!(lab.arping(VIP4), vec![mac_b, mac_b]);
    assert_eq!(lab.ndisc6(VIP6), vec![mac_b]);
    a.stop();
    b.stop();
}

#[test]
fn responder_survives_link_down_and_ends_when_its_interface_is_deleted() {
    if !lab_or_skip("responder_survives_link_down_and_ends_when_its_interface_is_deleted") {
        return;
    }
    let lab = Lab::new("gone", 5);
    let a = Speaker::start(&lab, "a", &[VIP4]);
    assert_eq!(lab.arping(VIP4), vec![lab.mac("a"), lab.mac("a")]);
    assert_eq!(a.counter(VIP4, "gratuitous"), 3);
    // Down and up again: the socket reports ENETDOWN once, then frames flow again.
    lab.netns("a").link_down("eth0").unwrap();
    thread::sleep(Duration::from_millis(300));
    lab.netns("a").link_up("eth0").unwrap();
    // It announces the address again once the link is back.
    assert!(
        wait_for(Duration::from_secs(3), || a.counter(VIP4, "gratuitous")
            >= 6)
        .is_some(),
        "not announced again after the link came back: {} announcements",
        a.counter(VIP4, "gratuitous")
    );
    assert!(
        wait_for(Duration::from_secs(5), || !lab.arping(VIP4).is_empty()).is_some(),
        "no answers after the link came back"
    );
    assert_eq!(a.ended(), None, "still running after link down/up");
    lab.netns("a").ip(&["link", "del", "eth0"]).unwrap();
    assert!(
        wait_for(Duration::from_secs(3), || a.ended().is_some()).is_some(),
        "the responder keeps running on a deleted interface"
    );
    let e = a.ended().unwrap().unwrap_err();
    assert!(e.contains("eth0"), "{e}");
    eprintln!("responder ended: {e}");
}
