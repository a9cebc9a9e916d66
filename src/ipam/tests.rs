//! Behaviour tests of the allocator, and a property test of random allocate/release runs.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::cost;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn pool(name: &str, address: &str) -> PoolSpec {
    PoolSpec::new(name, address)
}

fn default_pool(name: &str, address: &str) -> PoolSpec {
    PoolSpec {
        is_default: true,
        ..PoolSpec::new(name, address)
    }
}

fn ns_pool(name: &str, address: &str, namespaces: &[&str], priority: i32) -> PoolSpec {
    PoolSpec {
        namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
        priority,
        ..PoolSpec::new(name, address)
    }
}

fn svc(ns: &str, name: &str) -> ServiceRequest {
    ServiceRequest::new(ns, name)
}

fn key(ns: &str, name: &str) -> ServiceKey {
    ServiceKey::new(ns, name)
}

trait RequestExt {
    fn in_pool(self, p: &str) -> Self;
    fn want(self, a: &str) -> Self;
    fn tcp(self, port: u16) -> Self;
    fn udp(self, port: u16) -> Self;
    fn share(self, k: &str) -> Self;
    fn fam(self, f: FamilyRequest) -> Self;
    fn ns_label(self, k: &str, v: &str) -> Self;
}

impl RequestExt for ServiceRequest {
    fn in_pool(mut self, p: &str) -> Self {
        self.pools.push(p.into());
        self
    }
    fn want(mut self, a: &str) -> Self {
        self.requested_ips.push(ip(a));
        self
    }
    fn tcp(mut self, port: u16) -> Self {
        self.ports.push(ServicePort {
            protocol: PortProtocol::Tcp,
            port,
        });
        self
    }
    fn udp(mut self, port: u16) -> Self {
        self.ports.push(ServicePort {
            protocol: PortProtocol::Udp,
            port,
        });
        self
    }
    fn share(mut self, k: &str) -> Self {
        self.sharing_key = Some(k.into());
        self
    }
    fn fam(mut self, f: FamilyRequest) -> Self {
        self.families = f;
        self
    }
    fn ns_label(mut self, k: &str, v: &str) -> Self {
        self.namespace_labels.insert(k.into(), v.into());
        self
    }
}

/// Allocate and return the addresses, checking the invariants after the step.
fn alloc(a: &mut Allocator, r: &ServiceRequest) -> Vec<IpAddr> {
    let out = a
        .allocate(r)
        .unwrap_or_else(|e| panic!("{}: {e}", r.service));
    a.check_invariants().unwrap();
    out.assigned.iter().map(|x| x.ip).collect()
}

fn alloc_err(a: &mut Allocator, r: &ServiceRequest) -> String {
    let before = format!("{a:?}");
    let e = a.allocate(r).expect_err("allocation should fail");
    assert_eq!(
        before,
        format!("{a:?}"),
        "a failed allocation changed the state"
    );
    e.to_string()
}

// ---- lowest free, pool shapes -----------------------------------------------------------------

#[test]
fn allocates_lowest_free_address() {
    let mut a = Allocator::new([default_pool("p", "203.0.113.10-203.0.113.20")]);
    assert_eq!(alloc(&mut a, &svc("ns", "a")), [ip("203.0.113.10")]);
    assert_eq!(alloc(&mut a, &svc("ns", "b")), [ip("203.0.113.11")]);
    assert_eq!(alloc(&mut a, &svc("ns", "c")), [ip("203.0.113.12")]);
    a.release(&key("ns", "b"));
    assert_eq!(alloc(&mut a, &svc("ns", "d")), [ip("203.0.113.11")]);
    assert_eq!(alloc(&mut a, &svc("ns", "e")), [ip("203.0.113.13")]);
}

#[test]
fn lowest_free_fills_gap_before_explicit_holding() {
    let mut a = Allocator::new([default_pool("p", "203.0.113.10-203.0.113.20")]);
    alloc(&mut a, &svc("ns", "x").want("203.0.113.12"));
    alloc(&mut a, &svc("ns", "y").want("203.0.113.10"));
    assert_eq!(alloc(&mut a, &svc("ns", "a")), [ip("203.0.113.11")]);
    assert_eq!(alloc(&mut a, &svc("ns", "b")), [ip("203.0.113.13")]);
}

#[test]
fn allocation_is_idempotent() {
    let mut a = Allocator::new([default_pool("p", "203.0.113.0/28")]);
    let r = svc("ns", "a").tcp(80);
    let first = a.allocate(&r).unwrap();
    let again = a.allocate(&r).unwrap();
    assert_eq!(first.assigned, again.assigned);
    assert!(again.released.is_empty());
    assert_eq!(a.pool_status("p").unwrap().usage, 1);
}

#[test]
fn skips_network_and_broadcast() {
    let mut a = Allocator::new([default_pool("p", "203.0.113.0/30")]);
    assert_eq!(alloc(&mut a, &svc("ns", "a")), [ip("203.0.113.1")]);
    assert_eq!(alloc(&mut a, &svc("ns", "b")), [ip("203.0.113.2")]);
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "c")),
        "no free IPv4 address in pool(s) p"
    );
    let st = a.pool_status("p").unwrap();
    assert_eq!(st.pool_size, 2);
    assert!(st.occupied);
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "d").want("203.0.113.3")),
        "requested address 203.0.113.3 is the network or broadcast address of pool \"p\" \
         (set usingKnownIPs to use it)"
    );
}

#[test]
fn using_known_ips_hands_out_network_address() {
    let mut a = Allocator::new([PoolSpec {
        using_known_ips: true,
        ..default_pool("p", "203.0.113.0/30")
    }]);
    let got: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .flat_map(|n| alloc(&mut a, &svc("ns", n)))
        .collect();
    assert_eq!(
        got,
        ["203.0.113.0", "203.0.113.1", "203.0.113.2", "203.0.113.3"].map(ip)
    );
}

#[test]
fn ipv6_slash_64_pool_size() {
    let mut a = Allocator::new([default_pool("v6", "2001:db8:0:1::/64")]);
    let r = svc("ns", "a").fam(FamilyRequest::V6);
    assert_eq!(alloc(&mut a, &r), [ip("2001:db8:0:1::")]);
    let st = a.pool_status("v6").unwrap();
    assert_eq!(st.pool_size, 1 << 64);
    assert_eq!(st.usage, 1);
    assert!(!st.occupied && !st.v4);
    assert_eq!(st.first_ip, ip("2001:db8:0:1::"));
    assert_eq!(st.last_ip, ip("2001:db8:0:1:ffff:ffff:ffff:ffff"));
}

#[test]
fn big_pool_allocation_walks_used_addresses_only() {
    // Thousands of allocations from a /64 and a holding at its very end: each allocation costs
    // what is used, not 2^64; a pool-size loop would never finish.
    let mut a = Allocator::new([default_pool("v6", "2001:db8::/64")]);
    alloc(
        &mut a,
        &svc("ns", "last")
            .fam(FamilyRequest::V6)
            .want("2001:db8::ffff:ffff:ffff:ffff"),
    );
    for i in 0..2000u32 {
        let got = a
            .allocate(&svc("ns", &format!("s{i}")).fam(FamilyRequest::V6))
            .unwrap();
        assert_eq!(
            got.assigned[0].ip,
            IpAddr::V6(std::net::Ipv6Addr::from(
                0x2001_0db8_0000_0000_0000_0000_0000_0000u128 + u128::from(i)
            ))
        );
    }
    a.check_invariants().unwrap();
    assert_eq!(a.pool_status("v6").unwrap().usage, 2001);
}

#[test]
fn single_address_pool() {
    let mut a = Allocator::new([default_pool("one", "203.0.113.7")]);
    assert_eq!(alloc(&mut a, &svc("ns", "a")), [ip("203.0.113.7")]);
    assert!(a.pool_status("one").unwrap().occupied);
    alloc_err(&mut a, &svc("ns", "b"));
}

#[test]
fn pool_at_top_of_address_space() {
    let mut a = Allocator::new([
        PoolSpec {
            using_known_ips: true,
            ..default_pool("top4", "255.255.255.254/31")
        },
        default_pool("top6", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"),
    ]);
    let d = FamilyRequest::DualStack;
    assert_eq!(
        alloc(&mut a, &svc("ns", "a").fam(d)),
        [
            ip("255.255.255.254"),
            ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")
        ]
    );
    assert_eq!(
        alloc(&mut a, &svc("ns", "b").fam(d)),
        [
            ip("255.255.255.255"),
            ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        ]
    );
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "c").fam(d)),
        "no free IPv4 address in pool(s) top4"
    );
}

// ---- requested addresses --------------------------------------------------------------------

#[test]
fn requested_ip_is_granted_from_its_pool() {
    let mut a = Allocator::new([
        default_pool("a", "203.0.113.0/24"),
        pool("b", "198.51.100.0/24"),
    ]);
    // The address picks its pool, without any namespace binding (as in OpenELB).
    let got = a.allocate(&svc("ns", "x").want("198.51.100.77")).unwrap();
    assert_eq!(got.assigned[0].ip, ip("198.51.100.77"));
    assert_eq!(got.assigned[0].pool, "b");
}

#[test]
fn requested_ip_outside_pools() {
    let mut a = Allocator::new([default_pool("a", "203.0.113.0/24")]);
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "x").want("192.0.2.99")),
        "requested address 192.0.2.99 is not in any pool"
    );
}

#[test]
fn requested_ip_outside_named_pool() {
    let mut a = Allocator::new([pool("a", "203.0.113.0/24"), pool("b", "198.51.100.0/24")]);
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "x").in_pool("a").want("198.51.100.5")),
        "requested address 198.51.100.5 is not in pool(s) a"
    );
}

#[test]
fn requested_ip_already_taken_names_holder() {
    let mut a = Allocator::new([default_pool("a", "203.0.113.0/24")]);
    alloc(&mut a, &svc("team", "first").want("203.0.113.9"));
    assert_eq!(
        alloc_err(&mut a, &svc("other", "second").want("203.0.113.9")),
        "address 203.0.113.9 is already taken by team/first: this Service has no sharing key"
    );
}

#[test]
fn requested_ip_family_mismatch() {
    let mut a = Allocator::new([default_pool("a", "203.0.113.0/24")]);
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "x").want("2001:db8::1")),
        "requested address 2001:db8::1 is IPv6, but the Service asks for IPv4 only"
    );
}

#[test]
fn requested_ip_in_disabled_pool() {
    let mut a = Allocator::new([PoolSpec {
        disable: true,
        ..pool("off", "203.0.113.0/24")
    }]);
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "x").want("203.0.113.5")),
        "pool \"off\" is disabled"
    );
}

#[test]
fn changing_requested_ip_moves_and_releases_old() {
    let mut a = Allocator::new([default_pool("a", "203.0.113.0/24")]);
    alloc(&mut a, &svc("ns", "x").want("203.0.113.5"));
    let moved = a.allocate(&svc("ns", "x").want("203.0.113.6")).unwrap();
    assert_eq!(moved.assigned[0].ip, ip("203.0.113.6"));
    assert_eq!(moved.released[0].ip, ip("203.0.113.5"));
    assert!(a.holders(ip("203.0.113.5")).is_empty());
    a.check_invariants().unwrap();
}

#[test]
fn dropping_requested_ip_keeps_address() {
    // Once the request no longer names an address, the held one satisfies it: no renumbering.
    let mut a = Allocator::new([default_pool("a", "203.0.113.0/24")]);
    alloc(&mut a, &svc("ns", "x").want("203.0.113.50"));
    assert_eq!(alloc(&mut a, &svc("ns", "x")), [ip("203.0.113.50")]);
}

#[test]
fn impossible_change_keeps_old_address() {
    let mut a = Allocator::new([default_pool("a", "203.0.113.0/24")]);
    alloc(&mut a, &svc("ns", "x").want("203.0.113.5"));
    alloc(&mut a, &svc("ns", "y").want("203.0.113.6"));
    alloc_err(&mut a, &svc("ns", "x").want("203.0.113.6"));
    assert_eq!(a.assigned(&key("ns", "x"))[0].ip, ip("203.0.113.5"));
}

// ---- pool choice ----------------------------------------------------------------------------

#[test]
fn explicit_pool_wins_over_namespace_pools() {
    let mut a = Allocator::new([
        ns_pool("bound", "203.0.113.0/24", &["ns"], 0),
        default_pool("dflt", "198.51.100.0/24"),
        pool("named", "192.0.2.0/24"),
    ]);
    let got = a.allocate(&svc("ns", "x").in_pool("named")).unwrap();
    assert_eq!(got.assigned[0].pool, "named");
    assert_eq!(got.assigned[0].ip, ip("192.0.2.1"));
}

#[test]
fn namespace_pool_before_default() {
    let mut a = Allocator::new([
        ns_pool("bound", "203.0.113.0/24", &["team"], 0),
        default_pool("dflt", "198.51.100.0/24"),
    ]);
    assert_eq!(alloc(&mut a, &svc("team", "x")), [ip("203.0.113.1")]);
    assert_eq!(alloc(&mut a, &svc("other", "y")), [ip("198.51.100.1")]);
}

#[test]
fn namespace_selector_binds_by_labels() {
    let mut a = Allocator::new([
        PoolSpec {
            namespace_selector: Some(LabelSelector::labels([("tier", "gold")])),
            ..pool("gold", "203.0.113.0/24")
        },
        default_pool("dflt", "198.51.100.0/24"),
    ]);
    assert_eq!(
        alloc(&mut a, &svc("any", "x").ns_label("tier", "gold")),
        [ip("203.0.113.1")]
    );
    assert_eq!(
        alloc(&mut a, &svc("any", "y").ns_label("tier", "tin")),
        [ip("198.51.100.1")]
    );
}

#[test]
fn lower_priority_value_wins() {
    let mut a = Allocator::new([
        ns_pool("a-low", "203.0.113.0/24", &["ns"], 10),
        ns_pool("b-high", "198.51.100.0/24", &["ns"], 1),
    ]);
    let got = a.allocate(&svc("ns", "x")).unwrap();
    assert_eq!(got.assigned[0].pool, "b-high");
}

#[test]
fn priority_tie_broken_by_name() {
    let mut a = Allocator::new([
        ns_pool("zz", "203.0.113.0/24", &["ns"], 5),
        ns_pool("aa", "198.51.100.0/24", &["ns"], 5),
    ]);
    assert_eq!(a.allocate(&svc("ns", "x")).unwrap().assigned[0].pool, "aa");
}

#[test]
fn full_namespace_pool_falls_to_next_priority() {
    let mut a = Allocator::new([
        ns_pool("first", "203.0.113.1", &["ns"], 0),
        ns_pool("second", "198.51.100.0/24", &["ns"], 1),
    ]);
    assert_eq!(alloc(&mut a, &svc("ns", "x")), [ip("203.0.113.1")]);
    assert_eq!(alloc(&mut a, &svc("ns", "y")), [ip("198.51.100.1")]);
}

#[test]
fn full_namespace_pools_do_not_fall_back_to_default() {
    let mut a = Allocator::new([
        ns_pool("bound", "203.0.113.1", &["ns"], 0),
        default_pool("dflt", "198.51.100.0/24"),
    ]);
    alloc(&mut a, &svc("ns", "x"));
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "y")),
        "no free IPv4 address in pool(s) bound"
    );
}

#[test]
fn no_pool_matches_namespace() {
    let mut a = Allocator::new([ns_pool("bound", "203.0.113.0/24", &["team"], 0)]);
    assert_eq!(
        alloc_err(&mut a, &svc("other", "x")),
        "no IPv4 pool for namespace \"other\" and no default IPv4 pool"
    );
}

#[test]
fn unbound_non_default_pool_only_serves_explicit_requests() {
    let mut a = Allocator::new([pool("plain", "203.0.113.0/24")]);
    alloc_err(&mut a, &svc("ns", "x"));
    assert_eq!(
        alloc(&mut a, &svc("ns", "x").in_pool("plain")),
        [ip("203.0.113.1")]
    );
}

#[test]
fn pool_not_found() {
    let mut a = Allocator::new([default_pool("a", "203.0.113.0/24")]);
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "x").in_pool("nope")),
        "pool \"nope\" not found"
    );
}

#[test]
fn bad_named_pool_reported_even_with_requested_ip() {
    let mut a = Allocator::new([
        default_pool("a", "203.0.113.0/24"),
        pool("b", "203.0.113.0/25"),
    ]);
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "x").in_pool("typo").want("203.0.113.5")),
        "pool \"typo\" not found"
    );
    assert!(
        alloc_err(&mut a, &svc("ns", "x").in_pool("b").want("203.0.113.5"))
            .starts_with("pool \"b\" is invalid: ")
    );
}

#[test]
fn allocations_lists_every_service() {
    let mut a = Allocator::new(pools3());
    alloc(&mut a, &svc("team", "t"));
    alloc(&mut a, &svc("ns", "d").fam(FamilyRequest::DualStack));
    let all: Vec<(String, Vec<IpAddr>)> = a
        .allocations()
        .map(|(k, v)| (k.to_string(), v.iter().map(|x| x.ip).collect()))
        .collect();
    assert_eq!(
        all,
        [
            ("ns/d".to_owned(), vec![ip("203.0.113.1"), ip("2001:db8::")]),
            ("team/t".to_owned(), vec![ip("198.51.100.1")]),
        ]
    );
}

#[test]
fn overlapping_pool_is_unusable() {
    let mut a = Allocator::new([pool("a", "203.0.113.0/24"), pool("b", "203.0.113.128/25")]);
    assert_eq!(a.invalid_pools().len(), 1);
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "x").in_pool("b")),
        "pool \"b\" is invalid: address 203.0.113.128/25 overlaps pool \"a\" (203.0.113.0/24)"
    );
    assert!(matches!(
        a.pool_status("b"),
        Err(IpamError::PoolInvalid { .. })
    ));
    // The overlapping addresses belong to the valid pool.
    assert_eq!(
        a.allocate(&svc("ns", "y").want("203.0.113.200"))
            .unwrap()
            .assigned[0]
            .pool,
        "a"
    );
}

#[test]
fn named_pool_of_other_family() {
    let mut a = Allocator::new([pool("v6", "2001:db8::/64")]);
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "x").in_pool("v6")),
        "no IPv4 pool among the requested pool(s) v6"
    );
}

// ---- disabled pools -------------------------------------------------------------------------

#[test]
fn disabled_pool_allocates_nothing_new_but_keeps_existing() {
    let spec = |disable| PoolSpec {
        disable,
        ..default_pool("p", "203.0.113.0/24")
    };
    let mut a = Allocator::new([spec(false)]);
    alloc(&mut a, &svc("ns", "x"));
    assert!(a.set_pools([spec(true)]).is_empty());
    // The holder keeps its address, also when it allocates again...
    assert_eq!(alloc(&mut a, &svc("ns", "x")), [ip("203.0.113.1")]);
    // ...but nobody gets a new one.
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "y")),
        "no IPv4 pool for namespace \"ns\" and no default IPv4 pool"
    );
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "y").in_pool("p")),
        "pool \"p\" is disabled"
    );
}

#[test]
fn disabled_namespace_pool_is_skipped() {
    let mut a = Allocator::new([
        PoolSpec {
            disable: true,
            ..ns_pool("off", "203.0.113.0/24", &["ns"], 0)
        },
        ns_pool("on", "198.51.100.0/24", &["ns"], 9),
    ]);
    assert_eq!(alloc(&mut a, &svc("ns", "x")), [ip("198.51.100.1")]);
}

// ---- dual-stack -----------------------------------------------------------------------------

#[test]
fn dual_stack_gets_one_address_per_family() {
    let mut a = Allocator::new([
        default_pool("v4", "203.0.113.0/24"),
        default_pool("v6", "2001:db8::/64"),
    ]);
    let r = svc("ns", "x").fam(FamilyRequest::DualStack);
    assert_eq!(alloc(&mut a, &r), [ip("203.0.113.1"), ip("2001:db8::")]);
    // Going single-stack releases the other family.
    let single = a.allocate(&svc("ns", "x").fam(FamilyRequest::V6)).unwrap();
    assert_eq!(single.assigned[0].ip, ip("2001:db8::"));
    assert_eq!(single.released[0].ip, ip("203.0.113.1"));
    a.check_invariants().unwrap();
}

#[test]
fn dual_stack_with_named_pools_and_addresses() {
    let mut a = Allocator::new([pool("v4", "203.0.113.0/24"), pool("v6", "2001:db8::/64")]);
    let r = svc("ns", "x")
        .fam(FamilyRequest::DualStack)
        .in_pool("v4")
        .in_pool("v6")
        .want("2001:db8::99");
    assert_eq!(alloc(&mut a, &r), [ip("203.0.113.1"), ip("2001:db8::99")]);
}

#[test]
fn dual_stack_failure_changes_nothing() {
    let mut a = Allocator::new([default_pool("v4", "203.0.113.0/24")]);
    alloc(&mut a, &svc("ns", "x"));
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "x").fam(FamilyRequest::DualStack)),
        "no IPv6 pool for namespace \"ns\" and no default IPv6 pool"
    );
    assert_eq!(a.assigned(&key("ns", "x"))[0].ip, ip("203.0.113.1"));
}

// ---- sharing --------------------------------------------------------------------------------

#[test]
fn sharing_requires_both_and_disjoint_ports() {
    let mut a = Allocator::new([default_pool("p", "203.0.113.0/24")]);
    let at = "203.0.113.9";
    alloc(&mut a, &svc("ns", "web").want(at).tcp(80).share("k"));
    // Requester without key.
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "dns").want(at).udp(53)),
        "address 203.0.113.9 is already taken by ns/web: this Service has no sharing key"
    );
    // Same key, same protocol and port.
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "web2").want(at).tcp(80).share("k")),
        "address 203.0.113.9 is already taken by ns/web: both use TCP port 80"
    );
    // Same port number, other protocol: fine.
    assert_eq!(
        alloc(&mut a, &svc("ns", "quic").want(at).udp(80).share("k")),
        [ip(at)]
    );
    // A third one must agree with both holders.
    assert_eq!(
        alloc_err(
            &mut a,
            &svc("ns", "h3").want(at).udp(80).tcp(443).share("k")
        ),
        "address 203.0.113.9 is already taken by ns/quic: both use UDP port 80"
    );
    assert_eq!(a.holders(ip(at)), [key("ns", "quic"), key("ns", "web")]);
}

#[test]
fn sharing_needs_the_holder_to_agree() {
    let mut a = Allocator::new([default_pool("p", "203.0.113.0/24")]);
    alloc(&mut a, &svc("ns", "web").want("203.0.113.9").tcp(80));
    assert_eq!(
        alloc_err(
            &mut a,
            &svc("ns", "dns").want("203.0.113.9").udp(53).share("k")
        ),
        "address 203.0.113.9 is already taken by ns/web: that Service has no sharing key"
    );
}

#[test]
fn sharing_key_mismatch_refused() {
    let mut a = Allocator::new([default_pool("p", "203.0.113.0/24")]);
    alloc(
        &mut a,
        &svc("ns", "web").want("203.0.113.9").tcp(80).share("a"),
    );
    assert_eq!(
        alloc_err(
            &mut a,
            &svc("ns", "dns").want("203.0.113.9").udp(53).share("b")
        ),
        "address 203.0.113.9 is already taken by ns/web: sharing keys differ (\"b\" vs \"a\")"
    );
}

#[test]
fn sharing_key_joins_lowest_compatible_address() {
    let mut a = Allocator::new([default_pool("p", "203.0.113.0/24")]);
    alloc(&mut a, &svc("ns", "plain"));
    alloc(&mut a, &svc("ns", "web").tcp(80).share("k"));
    alloc(&mut a, &svc("ns", "other").tcp(80).share("j"));
    // Same key and disjoint ports: joins web's address without naming it.
    assert_eq!(
        alloc(&mut a, &svc("ns", "dns").udp(53).share("k")),
        [ip("203.0.113.2")]
    );
    // Colliding port: a fresh address instead.
    assert_eq!(
        alloc(&mut a, &svc("ns", "web2").tcp(80).share("k")),
        [ip("203.0.113.4")]
    );
    let st = a.pool_status("p").unwrap();
    assert_eq!(st.usage, 4);
    assert_eq!(st.used[&ip("203.0.113.2")], "ns/dns;ns/web");
}

#[test]
fn port_change_that_collides_moves_service() {
    let mut a = Allocator::new([default_pool("p", "203.0.113.0/24")]);
    alloc(&mut a, &svc("ns", "web").tcp(80).share("k"));
    alloc(&mut a, &svc("ns", "dns").udp(53).share("k"));
    // dns now also wants TCP 80: it can no longer sit with web.
    let moved = a
        .allocate(&svc("ns", "dns").udp(53).tcp(80).share("k"))
        .unwrap();
    assert_eq!(moved.assigned[0].ip, ip("203.0.113.2"));
    assert_eq!(moved.released[0].ip, ip("203.0.113.1"));
    assert_eq!(a.holders(ip("203.0.113.1")), [key("ns", "web")]);
    a.check_invariants().unwrap();
}

#[test]
fn shared_address_freed_only_when_last_holder_leaves() {
    let mut a = Allocator::new([default_pool("p", "203.0.113.0/24")]);
    alloc(&mut a, &svc("ns", "web").tcp(80).share("k"));
    alloc(&mut a, &svc("ns", "dns").udp(53).share("k"));
    a.release(&key("ns", "web"));
    assert_eq!(alloc(&mut a, &svc("ns", "x")), [ip("203.0.113.2")]);
    a.release(&key("ns", "dns"));
    assert_eq!(alloc(&mut a, &svc("ns", "y")), [ip("203.0.113.1")]);
}

// ---- release and status ---------------------------------------------------------------------

#[test]
fn release_on_delete() {
    let mut a = Allocator::new([
        default_pool("v4", "203.0.113.0/24"),
        default_pool("v6", "2001:db8::/64"),
    ]);
    alloc(&mut a, &svc("ns", "x").fam(FamilyRequest::DualStack));
    let released = a.release(&key("ns", "x"));
    assert_eq!(
        released.iter().map(|r| r.ip).collect::<Vec<_>>(),
        [ip("203.0.113.1"), ip("2001:db8::")]
    );
    assert!(a.assigned(&key("ns", "x")).is_empty());
    assert!(a.release(&key("ns", "x")).is_empty());
    assert_eq!(a.pool_status("v4").unwrap().usage, 0);
    a.check_invariants().unwrap();
}

#[test]
fn status_reports_used_with_sorted_names() {
    let mut a = Allocator::new([PoolSpec {
        protocol: PoolProtocol::Layer2,
        ..default_pool("p", "203.0.113.0/29")
    }]);
    alloc(&mut a, &svc("zeta", "b").tcp(1).share("k"));
    alloc(&mut a, &svc("alpha", "a").tcp(2).share("k"));
    alloc(&mut a, &svc("mid", "c"));
    let st = a.pool_status("p").unwrap();
    assert_eq!(
        st,
        PoolStatus {
            occupied: false,
            usage: 2,
            pool_size: 6,
            used: BTreeMap::from([
                (ip("203.0.113.1"), "alpha/a;zeta/b".to_owned()),
                (ip("203.0.113.2"), "mid/c".to_owned()),
            ]),
            first_ip: ip("203.0.113.1"),
            last_ip: ip("203.0.113.6"),
            v4: true,
        }
    );
    assert_eq!(
        a.assigned(&key("mid", "c"))[0].protocol,
        PoolProtocol::Layer2
    );
    assert!(matches!(
        a.pool_status("nope"),
        Err(IpamError::PoolNotFound { .. })
    ));
}

// ---- rebuild --------------------------------------------------------------------------------

fn pools3() -> Vec<PoolSpec> {
    vec![
        default_pool("v4", "203.0.113.0/24"),
        default_pool("v6", "2001:db8::/64"),
        ns_pool("team", "198.51.100.0/24", &["team"], 0),
    ]
}

#[test]
fn rebuild_keeps_existing_allocations() {
    let dual = svc("ns", "d").fam(FamilyRequest::DualStack);
    let existing = vec![
        (svc("ns", "a"), ip("203.0.113.7")),
        (dual.clone(), ip("203.0.113.3")),
        (dual.clone(), ip("2001:db8::42")),
        (svc("team", "t"), ip("198.51.100.200")),
    ];
    let (mut a, conflicts) = Allocator::rebuild(pools3(), &existing);
    assert!(conflicts.is_empty(), "{conflicts:?}");
    a.check_invariants().unwrap();
    // Reconciling again returns what they hold: stable across restarts.
    assert_eq!(alloc(&mut a, &svc("ns", "a")), [ip("203.0.113.7")]);
    assert_eq!(
        alloc(&mut a, &dual),
        [ip("203.0.113.3"), ip("2001:db8::42")]
    );
    assert_eq!(alloc(&mut a, &svc("team", "t")), [ip("198.51.100.200")]);
    // New Services get the lowest free address around them.
    assert_eq!(alloc(&mut a, &svc("ns", "new")), [ip("203.0.113.1")]);
}

#[test]
fn restart_reproduces_state() {
    // Allocate, "restart" by rebuilding from the Services' holdings, and compare statuses.
    let mut a = Allocator::new(pools3());
    let reqs = vec![
        svc("ns", "a").tcp(80).share("k"),
        svc("ns", "b").udp(53).share("k"),
        svc("ns", "c").fam(FamilyRequest::DualStack),
        svc("team", "t"),
        svc("ns", "e").want("203.0.113.99"),
    ];
    let mut existing = Vec::new();
    for r in &reqs {
        for ip in alloc(&mut a, r) {
            existing.push((r.clone(), ip));
        }
    }
    existing.reverse();
    let (b, conflicts) = Allocator::rebuild(pools3(), &existing);
    assert!(conflicts.is_empty());
    for name in ["v4", "v6", "team"] {
        assert_eq!(a.pool_status(name), b.pool_status(name));
    }
}

#[test]
fn rebuild_is_order_independent() {
    let existing = vec![
        (svc("ns", "b"), ip("203.0.113.5")),
        (svc("ns", "a"), ip("203.0.113.5")),
        (svc("ns", "c"), ip("203.0.113.6")),
        (svc("ns", "c"), ip("203.0.113.4")),
    ];
    let (a, ca) = Allocator::rebuild(pools3(), &existing);
    let mut rev = existing.clone();
    rev.reverse();
    let (b, cb) = Allocator::rebuild(pools3(), &rev);
    assert_eq!(ca, cb);
    assert_eq!(a.pool_status("v4"), b.pool_status("v4"));
    assert_eq!(a.pending_claims(), b.pending_claims());
}

#[test]
fn rebuild_reports_contested_address_and_never_renumbers() {
    let existing = vec![
        (svc("ns", "b"), ip("203.0.113.5")),
        (svc("ns", "a"), ip("203.0.113.5")),
    ];
    let (mut a, conflicts) = Allocator::rebuild(pools3(), &existing);
    assert_eq!(
        conflicts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["ns/b and ns/a both hold 203.0.113.5 (this Service has no sharing key); ns/a keeps it"]
    );
    assert_eq!(a.pending_claims(), [(key("ns", "b"), ip("203.0.113.5"))]);
    // The loser is not given another address behind its back.
    assert_eq!(
        alloc_err(&mut a, &svc("ns", "b")),
        "address 203.0.113.5 is already taken by ns/a: this Service has no sharing key"
    );
    // Once the holder leaves, the claim is granted.
    a.release(&key("ns", "a"));
    assert_eq!(alloc(&mut a, &svc("ns", "b")), [ip("203.0.113.5")]);
    assert!(a.pending_claims().is_empty());
}

#[test]
fn pending_claim_dropped_when_request_names_other_pool() {
    let existing = vec![
        (svc("ns", "a"), ip("203.0.113.5")),
        (svc("ns", "b"), ip("203.0.113.5")),
    ];
    let (mut a, _) = Allocator::rebuild(pools3(), &existing);
    // The user resolved the conflict by pointing b at another pool.
    assert_eq!(
        alloc(&mut a, &svc("ns", "b").in_pool("team")),
        [ip("198.51.100.1")]
    );
    assert!(a.pending_claims().is_empty());
}

#[test]
fn rebuild_explicit_requester_wins_contest() {
    let existing = vec![
        (svc("ns", "a"), ip("203.0.113.5")),
        (svc("ns", "b").want("203.0.113.5"), ip("203.0.113.5")),
    ];
    let (a, conflicts) = Allocator::rebuild(pools3(), &existing);
    assert_eq!(a.holders(ip("203.0.113.5")), [key("ns", "b")]);
    assert!(matches!(
        &conflicts[..],
        [RebuildConflict::Contested { service, .. }] if *service == key("ns", "a")
    ));
}

#[test]
fn rebuild_tolerates_duplicate_entries() {
    let existing = vec![
        (svc("ns", "a"), ip("203.0.113.5")),
        (svc("ns", "b").want("203.0.113.9"), ip("203.0.113.9")),
        (svc("ns", "a").want("203.0.113.5"), ip("203.0.113.5")),
        (svc("ns", "a"), ip("203.0.113.5")),
    ];
    let (a, conflicts) = Allocator::rebuild(pools3(), &existing);
    assert!(conflicts.is_empty(), "{conflicts:?}");
    assert_eq!(a.holders(ip("203.0.113.5")), [key("ns", "a")]);
    a.check_invariants().unwrap();
}

#[test]
fn rebuild_accepts_agreed_sharing() {
    let existing = vec![
        (svc("ns", "a").tcp(80).share("k"), ip("203.0.113.5")),
        (svc("ns", "b").udp(53).share("k"), ip("203.0.113.5")),
    ];
    let (a, conflicts) = Allocator::rebuild(pools3(), &existing);
    assert!(conflicts.is_empty());
    assert_eq!(a.holders(ip("203.0.113.5")).len(), 2);
}

#[test]
fn rebuild_reports_addresses_it_cannot_record() {
    let pools = vec![
        default_pool("v4", "203.0.113.0/24"),
        pool("zbad", "203.0.113.128-203.0.114.10"),
    ];
    let existing = vec![
        (svc("ns", "gone"), ip("192.0.2.1")),
        (svc("ns", "net"), ip("203.0.113.0")),
        (svc("ns", "inv"), ip("203.0.114.5")),
        (svc("ns", "two"), ip("203.0.113.20")),
        (svc("ns", "two"), ip("203.0.113.10")),
    ];
    let (a, conflicts) = Allocator::rebuild(pools, &existing);
    let text: Vec<_> = conflicts.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "ns/gone holds 192.0.2.1, which is in no pool",
            "ns/inv holds 203.0.114.5 of invalid pool \"zbad\"",
            "ns/net holds 203.0.113.0, the network or broadcast address of pool \"v4\"",
            "ns/two holds two IPv4 addresses, keeping 203.0.113.10 and dropping 203.0.113.20",
        ]
    );
    assert_eq!(a.assigned(&key("ns", "two"))[0].ip, ip("203.0.113.10"));
    assert!(a.pending_claims().is_empty());
    a.check_invariants().unwrap();
}

#[test]
fn set_pools_keeps_holdings_and_reports_orphans() {
    let mut a = Allocator::new(pools3());
    alloc(&mut a, &svc("ns", "x"));
    alloc(&mut a, &svc("team", "t"));
    // The team pool is deleted; v4 stays.
    let conflicts = a.set_pools(vec![
        default_pool("v4", "203.0.113.0/24"),
        default_pool("v6", "2001:db8::/64"),
    ]);
    assert_eq!(
        conflicts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["team/t holds 198.51.100.1, which is in no pool"]
    );
    assert_eq!(a.assigned(&key("ns", "x"))[0].ip, ip("203.0.113.1"));
    assert!(a.assigned(&key("team", "t")).is_empty());
    a.check_invariants().unwrap();
}

#[test]
fn automatic_holding_kept_when_better_pool_appears() {
    let mut a = Allocator::new([default_pool("dflt", "203.0.113.0/24")]);
    alloc(&mut a, &svc("ns", "x"));
    a.set_pools([
        default_pool("dflt", "203.0.113.0/24"),
        ns_pool("bound", "198.51.100.0/24", &["ns"], 0),
    ]);
    assert_eq!(alloc(&mut a, &svc("ns", "x")), [ip("203.0.113.1")]);
    assert_eq!(alloc(&mut a, &svc("ns", "y")), [ip("198.51.100.1")]);
}

#[test]
fn set_pools_holders_beat_pending_claims() {
    let existing = vec![
        (svc("ns", "a"), ip("203.0.113.5")),
        (svc("ns", "b"), ip("203.0.113.5")),
    ];
    let (mut a, _) = Allocator::rebuild(pools3(), &existing);
    a.release(&key("ns", "a"));
    alloc(&mut a, &svc("ns", "c").want("203.0.113.5"));
    // b's claim (lower name than c) must not take c's address on a pool update.
    let conflicts = a.set_pools(pools3());
    assert_eq!(a.holders(ip("203.0.113.5")), [key("ns", "c")]);
    assert_eq!(conflicts.len(), 1);
    a.check_invariants().unwrap();
}

// ---- cost: counted steps, not time ------------------------------------------------------------

/// The steps (see `cost`) `a` takes for `n` Services in one pool: allocate them all (a quarter
/// with a sharing key of their own, a quarter joining the address of a partner with the same
/// key), release every third, allocate those again, and rebuild from the holdings.
fn allocation_steps(n: u32, a: Allocator) -> u64 {
    let mut a = a;
    let reqs: Vec<ServiceRequest> = (0..n)
        .map(|i| {
            let r = svc("ns", &format!("s{i:06}"));
            match i % 4 {
                0 => r,
                1 => r.share(&format!("own{i}")),
                2 => r.share(&format!("pair{}", i / 4)).tcp(80),
                _ => r.share(&format!("pair{}", i / 4)).tcp(443),
            }
        })
        .collect();
    let third: Vec<&ServiceRequest> = reqs.iter().step_by(3).collect();
    cost::take();
    for r in &reqs {
        a.allocate(r).unwrap();
    }
    for r in &third {
        a.release(&r.service);
    }
    for r in &third {
        a.allocate(r).unwrap();
    }
    let mut steps = cost::take();
    let existing: Vec<(ServiceRequest, IpAddr)> = reqs
        .iter()
        .flat_map(|r| {
            a.assigned(&r.service)
                .into_iter()
                .map(|x| (r.clone(), x.ip))
        })
        .collect();
    cost::take();
    let (b, conflicts) = Allocator::rebuild([default_pool("p", "10.0.0.0/8")], &existing);
    steps += cost::take();
    assert!(conflicts.is_empty());
    assert_eq!(b.pool_status("p").unwrap().usage, n as usize / 4 * 3);
    steps
}

/// Whether the steps for n and 2n Services grow as n·log n: at most 2.5 times for twice the
/// Services (n² would give 4), and at most `per_log` · log2(n) steps per Service.
fn grows_as_n_log_n(n: u32, steps_n: u64, steps_2n: u64, per_log: u64) -> Result<(), String> {
    let per_service = steps_2n / u64::from(2 * n);
    let log = u64::from(u32::BITS - (2 * n).leading_zeros());
    if steps_2n * 2 > steps_n * 5 {
        return Err(format!(
            "{steps_n} steps for {n} Services, {steps_2n} for twice as many"
        ));
    }
    if per_service > per_log * log {
        return Err(format!(
            "{per_service} steps per Service at {}, over {per_log}·{log}",
            2 * n
        ));
    }
    Ok(())
}

#[test]
fn allocation_work_grows_as_n_log_n() {
    let pool = || Allocator::new([default_pool("p", "10.0.0.0/8")]);
    let steps_10k = allocation_steps(10_000, pool());
    let steps_20k = allocation_steps(20_000, pool());
    println!("steps: 10,000 Services {steps_10k}, 20,000 Services {steps_20k}");
    grows_as_n_log_n(10_000, steps_10k, steps_20k, 16).unwrap();
}

#[test]
fn cost_guard_catches_the_linear_walk() {
    // The guard itself: the reference model's linear walks fail it already at 1,000 Services.
    let pool = || Allocator::new([default_pool("p", "10.0.0.0/8")]).linear_model();
    let steps_1k = allocation_steps(1_000, pool());
    let steps_2k = allocation_steps(2_000, pool());
    assert!(grows_as_n_log_n(1_000, steps_1k, steps_2k, 16).is_err());
}

// ---- property tests -------------------------------------------------------------------------

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Alloc {
            svc: u8,
            family: u8,
            want: Option<u8>,
            pool: Option<u8>,
            key: Option<u8>,
            ports: Vec<(bool, u8)>,
        },
        Release(u8),
    }

    const POOLS: [(&str, &str); 4] = [
        ("a", "203.0.113.0/29"),
        ("b", "198.51.100.10-198.51.100.13"),
        ("c", "2001:db8::/125"),
        ("d", "2001:db8:1::/64"),
    ];

    fn specs() -> Vec<PoolSpec> {
        let mut v: Vec<PoolSpec> = POOLS.iter().map(|(n, a)| pool(n, a)).collect();
        v[0].is_default = true;
        v[2].is_default = true;
        v[1].namespaces = vec!["ns1".into()];
        v[3].namespace_selector = Some(LabelSelector::labels([("six", "yes")]));
        v
    }

    /// Candidate requested addresses: inside, at the edges of and outside the pools.
    fn wanted(n: u8) -> IpAddr {
        let all = [
            "203.0.113.0",
            "203.0.113.1",
            "203.0.113.3",
            "203.0.113.6",
            "203.0.113.7",
            "198.51.100.10",
            "198.51.100.13",
            "198.51.100.14",
            "2001:db8::",
            "2001:db8::7",
            "2001:db8::8",
            "2001:db8:1::ffff:ffff:ffff:ffff",
            "2001:db8:1::",
        ];
        ip(all[n as usize % all.len()])
    }

    fn request(op: &Op) -> ServiceRequest {
        let Op::Alloc {
            svc: s,
            family,
            want,
            pool,
            key,
            ports,
        } = op
        else {
            unreachable!()
        };
        let mut r = svc(&format!("ns{}", s % 3), &format!("s{s}"));
        if s % 2 == 0 {
            r = r.ns_label("six", "yes");
        }
        r.families = [
            FamilyRequest::V4,
            FamilyRequest::V6,
            FamilyRequest::DualStack,
        ][*family as usize % 3];
        if let Some(w) = want {
            r.requested_ips.push(wanted(*w));
        }
        if let Some(p) = pool {
            r.pools.push(POOLS[*p as usize % 4].0.into());
        }
        r.sharing_key = key.map(|k| format!("k{}", k % 2));
        for (tcp, port) in ports {
            r.ports.push(ServicePort {
                protocol: if *tcp {
                    PortProtocol::Tcp
                } else {
                    PortProtocol::Udp
                },
                port: u16::from(*port % 4),
            });
        }
        r.ports.sort();
        r.ports.dedup();
        r
    }

    /// Allocations and releases over `services` Services.
    fn op(services: u8) -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (
                0u8..services,
                0u8..3,
                proptest::option::weighted(0.3, any::<u8>()),
                proptest::option::weighted(0.3, any::<u8>()),
                proptest::option::weighted(0.5, any::<u8>()),
                proptest::collection::vec((any::<bool>(), any::<u8>()), 0..3),
            )
                .prop_map(|(svc, family, want, pool, key, ports)| Op::Alloc {
                    svc,
                    family,
                    want,
                    pool,
                    key,
                    ports
                }),
            1 => (0u8..services).prop_map(Op::Release),
        ]
    }

    /// A step of the comparison with the reference model.
    #[derive(Debug, Clone)]
    enum Step {
        Op(Op),
        /// Restart: rebuild from what the Services hold, plus claims (Service, wanted address)
        /// that may contest them.
        Rebuild(Vec<(u8, u8)>),
        /// Switch to another pool set (see [`pool_set`]).
        SetPools(u8),
    }

    /// Pool sets the comparison switches between: ranges that shrink (to the middle of the old
    /// range), grow, move, disappear, pools disabled, and an invalid overlapping pool.
    fn pool_set(variant: u8) -> Vec<PoolSpec> {
        let mut v = specs();
        match variant % 4 {
            0 => {}
            1 => {
                v[0].address = "203.0.113.2-203.0.113.5".into();
                v[1].disable = true;
            }
            2 => {
                v[0].address = "203.0.113.0/28".into();
                v[2].disable = true;
                v[3].address = "2001:db8:1::ffff:ffff:ffff:fff0/124".into();
                v.push(pool("e", "203.0.113.12/30"));
            }
            _ => {
                v.remove(0);
                v[0].is_default = true;
                v[0].disable = true;
                v[1].address = "2001:db8::4-2001:db8::9".into();
            }
        }
        v
    }

    fn step(services: u8) -> impl Strategy<Value = Step> {
        prop_oneof![
            12 => op(services).prop_map(Step::Op),
            1 => proptest::collection::vec((0u8..services, any::<u8>()), 0..4).prop_map(Step::Rebuild),
            1 => any::<u8>().prop_map(Step::SetPools),
        ]
    }

    /// Everything the allocator shows outside, for comparing two of them.
    fn outside(a: &Allocator) -> String {
        let statuses: Vec<_> = a.pool_names().map(|n| a.pool_status(n)).collect();
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}",
            a.allocations().collect::<Vec<_>>(),
            a.pending_claims(),
            a.invalid_pools(),
            statuses
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Random allocate/release runs never hand out an address twice (except agreed
        /// sharing), never leave the pool, fail without side effects, and can be rebuilt.
        #[test]
        fn random_runs_keep_invariants(ops in proptest::collection::vec(op(10), 1..60)) {
            let mut a = Allocator::new(specs());
            let mut reqs: BTreeMap<ServiceKey, ServiceRequest> = BTreeMap::new();
            for op in &ops {
                match op {
                    Op::Alloc { .. } => {
                        let r = request(op);
                        let before = format!("{a:?}");
                        match a.allocate(&r) {
                            Ok(out) => {
                                // One address per wanted family, each inside its pool.
                                prop_assert_eq!(out.assigned.len(), r.families.families().len());
                                for (x, f) in out.assigned.iter().zip(r.families.families()) {
                                    prop_assert_eq!(IpFamily::of(x.ip), *f);
                                    prop_assert!(a.pool(&x.pool).unwrap().address().contains(x.ip));
                                    if let Some(w) = r.requested_ip(*f) {
                                        prop_assert_eq!(x.ip, w);
                                    }
                                }
                                // Idempotent.
                                let again = a.allocate(&r).unwrap();
                                prop_assert_eq!(&again.assigned, &out.assigned);
                                prop_assert!(again.released.is_empty());
                                reqs.insert(r.service.clone(), r);
                            }
                            Err(_) => prop_assert_eq!(before, format!("{a:?}")),
                        }
                    }
                    Op::Release(s) => {
                        let k = key(&format!("ns{}", s % 3), &format!("s{s}"));
                        a.release(&k);
                        reqs.remove(&k);
                        prop_assert!(a.assigned(&k).is_empty());
                    }
                }
                prop_assert_eq!(a.check_invariants(), Ok(()));
                // Independently of the allocator's own bookkeeping: addresses seen from the
                // Services' side are shared only by agreement.
                let mut by_ip: BTreeMap<IpAddr, Vec<&ServiceRequest>> = BTreeMap::new();
                for r in reqs.values() {
                    let held = a.assigned(&r.service);
                    prop_assert_eq!(held.len(), r.families.families().len());
                    for x in held {
                        by_ip.entry(x.ip).or_default().push(r);
                    }
                }
                for (addr, rs) in &by_ip {
                    prop_assert_eq!(a.holders(*addr).len(), rs.len());
                    for (i, x) in rs.iter().enumerate() {
                        for y in &rs[i + 1..] {
                            prop_assert!(x.sharing_key.is_some() && x.sharing_key == y.sharing_key,
                                "{} and {} share {} without a common key", x.service, y.service, addr);
                            prop_assert!(!x.ports.iter().any(|p| y.ports.contains(p)),
                                "{} and {} share {} with a common port", x.service, y.service, addr);
                        }
                    }
                }
            }

            // Rebuilding from the holdings gives the same pools, with no conflict.
            let existing: Vec<(ServiceRequest, IpAddr)> = reqs
                .values()
                .flat_map(|r| a.assigned(&r.service).into_iter().map(move |x| (r.clone(), x.ip)))
                .collect();
            let (b, conflicts) = Allocator::rebuild(specs(), &existing);
            prop_assert!(conflicts.is_empty(), "{:?}", conflicts);
            for (n, _) in POOLS {
                prop_assert_eq!(a.pool_status(n), b.pool_status(n));
            }
        }

        /// Random allocate/release/restart/pool-change runs give exactly the results of the
        /// reference model (the linear walks the free runs and the sharing index replaced):
        /// the same addresses in the same order, the same errors, conflicts and statuses.
        #[test]
        fn random_runs_match_the_linear_model(steps in proptest::collection::vec(step(24), 1..80)) {
            let mut specs = pool_set(0);
            let mut a = Allocator::new(specs.clone());
            let mut model = Allocator::new(specs.clone()).linear_model();
            let mut reqs: BTreeMap<ServiceKey, ServiceRequest> = BTreeMap::new();
            for step in &steps {
                match step {
                    Step::Op(op @ Op::Alloc { .. }) => {
                        let r = request(op);
                        let got = a.allocate(&r);
                        prop_assert_eq!(&got, &model.allocate(&r), "{}", r.service);
                        if got.is_ok() {
                            reqs.insert(r.service.clone(), r);
                        }
                    }
                    Step::Op(Op::Release(s)) => {
                        let k = key(&format!("ns{}", s % 3), &format!("s{s}"));
                        prop_assert_eq!(a.release(&k), model.release(&k));
                        reqs.remove(&k);
                    }
                    Step::Rebuild(claims) => {
                        let mut existing: Vec<(ServiceRequest, IpAddr)> = reqs
                            .values()
                            .flat_map(|r| a.assigned(&r.service).into_iter().map(move |x| (r.clone(), x.ip)))
                            .collect();
                        for (s, w) in claims {
                            existing.push((svc(&format!("ns{}", s % 3), &format!("s{s}")), wanted(*w)));
                        }
                        let (b, conflicts) = Allocator::rebuild(specs.clone(), &existing);
                        let (m, model_conflicts) = Allocator::rebuild(specs.clone(), &existing);
                        prop_assert_eq!(conflicts, model_conflicts);
                        a = b;
                        model = m.linear_model();
                    }
                    Step::SetPools(variant) => {
                        specs = pool_set(*variant);
                        prop_assert_eq!(a.set_pools(specs.clone()), model.set_pools(specs.clone()));
                    }
                }
                prop_assert_eq!(a.check_invariants(), Ok(()));
                prop_assert_eq!(model.check_invariants(), Ok(()));
                prop_assert_eq!(outside(&a), outside(&model));
            }
        }

        /// Without sharing or requested addresses, each allocation is the lowest address no
        /// one holds (checked against a brute-force model over a small pool).
        #[test]
        fn plain_allocation_is_lowest_free(ops in proptest::collection::vec((any::<bool>(), 0u8..12), 1..80)) {
            let mut a = Allocator::new([default_pool("p", "203.0.113.0/28")]);
            let mut model: BTreeMap<u8, u32> = BTreeMap::new();
            for (alloc_op, s) in ops {
                let k = key("ns", &format!("s{s}"));
                if alloc_op {
                    let got = a.allocate(&svc("ns", &format!("s{s}")));
                    let expected = model.get(&s).copied().or_else(|| {
                        (1u32..=14).find(|o| !model.values().any(|v| v == o))
                    });
                    match (got, expected) {
                        (Ok(out), Some(o)) => {
                            prop_assert_eq!(out.assigned[0].ip, IpAddr::V4(std::net::Ipv4Addr::from(0xCB00_7100 + o)));
                            model.insert(s, o);
                        }
                        (Err(IpamError::PoolExhausted { .. }), None) => {}
                        (got, expected) => prop_assert!(false, "got {:?}, expected {:?}", got, expected),
                    }
                } else {
                    a.release(&k);
                    model.remove(&s);
                }
            }
        }
    }
}
