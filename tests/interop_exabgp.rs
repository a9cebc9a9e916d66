//! ExaBGP as porter's neighbor, sending unusual and malformed UPDATEs: porter handles each
//! as RFC 7606 says (treat-as-withdraw, attribute discard, or plain acceptance) and never
//! resets the session. Link subnet 10.201.41.0/24.

mod common;

use common::scenarios::{one_router_conf, PORTER_AS, ROUTER_AS};
use common::*;
use std::net::Ipv4Addr;

/// What porter should make of an UPDATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Valid: no error recorded.
    Accepted,
    /// RFC 7606 treat-as-withdraw.
    Withdraw,
    /// RFC 7606 attribute discard.
    Discard,
    /// Either accepted or handled without a reset (the RFC leaves a choice).
    NoReset,
}

/// ExaBGP in one namespace, porter (announcing 203.0.113.7) in the other, Established.
struct Lab {
    x: u8,
    exa: Exabgp,
    porter: Porter,
    _ns: (Netns, Netns),
}

impl Lab {
    fn start(tag: &str, x: u8, neighbor: impl Fn(ExabgpNeighbor) -> ExabgpNeighbor) -> Lab {
        let (r, s) = pair(tag, x);
        let exa = Exabgp::start(
            &r,
            &ExabgpConfig::new(Ipv4Addr::new(10, 201, x, 1), ROUTER_AS).neighbor(neighbor(
                ExabgpNeighbor::new(speaker_addr(x), router_addr(x), PORTER_AS).passive(),
            )),
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        let porter = Porter::start(&s, one_router_conf(x)).unwrap_or_else(|e| panic!("{e:#}"));
        let lab = Lab {
            x,
            exa,
            porter,
            _ns: (r, s),
        };
        wait(
            "ExaBGP and porter Established",
            || lab.diag(),
            || {
                lab.exa.is_up(speaker_addr(x)).unwrap_or(false)
                    && lab.porter.is_established("router")
            },
        );
        wait(
            "ExaBGP received porter's 203.0.113.7/32",
            || lab.diag(),
            || {
                lab.exa
                    .updates()
                    .is_ok_and(|u| u.iter().any(|m| m.to_string().contains("203.0.113.7/32")))
            },
        );
        lab
    }

    fn diag(&self) -> String {
        let log = std::fs::read_to_string(self.exa.dir().join("received.jsonl"))
            .unwrap_or_default()
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .join("\n");
        format!(
            "--- ExaBGP received (latest first) ---\n{log}\n{}",
            self.porter.diag()
        )
    }

    /// Sends each UPDATE and checks porter's handling: counted, no NOTIFICATION, still
    /// Established, and lastError as `outcome` says.
    fn check(&self, cases: &[(&str, String, Outcome)]) {
        let (exa, porter, x) = (&self.exa, &self.porter, self.x);
        let diag = || self.diag();
        for (what, cmd, outcome) in cases {
            let before = porter
                .peer_status("router")
                .unwrap_or_else(|e| panic!("{e:#}\n{}", diag()));
            let n_before = updates_received(&before).unwrap_or_else(|| {
                panic!("no received-UPDATE counter in porter's peer status: {before}")
            });
            let err_before = last_error(&before);
            exa.send(cmd).unwrap();
            wait(
                &format!("porter counts the UPDATE with {what}"),
                diag,
                || {
                    porter
                        .peer_status("router")
                        .ok()
                        .and_then(|p| updates_received(&p))
                        .is_some_and(|n| n > n_before)
                },
            );
            // a reset would show within a moment: NOTIFICATION at ExaBGP, porter not Established
            std::thread::sleep(std::time::Duration::from_millis(300));
            let notifications: Vec<_> = exa
                .received()
                .unwrap()
                .into_iter()
                .filter(|m| m.get("type").and_then(|t| t.as_str()) == Some("notification"))
                .collect();
            assert!(
                notifications.is_empty(),
                "{what}: porter sent a NOTIFICATION: {notifications:?}\n{}",
                diag()
            );
            assert!(
                porter.is_established("router") && exa.is_up(speaker_addr(x)).unwrap_or(false),
                "{what}: session not Established any more\n{}",
                diag()
            );
            let after = porter.peer_status("router").unwrap();
            let err_after = last_error(&after);
            let lower = err_after.to_ascii_lowercase();
            match outcome {
                Outcome::Accepted => assert_eq!(
                    err_after,
                    err_before,
                    "{what}: a valid UPDATE changed lastError\n{}",
                    diag()
                ),
                Outcome::Withdraw => assert!(
                    err_after != err_before && lower.contains("withdraw"),
                    "{what}: lastError should name treat-as-withdraw, is {err_after}\n{}",
                    diag()
                ),
                Outcome::Discard => assert!(
                    err_after != err_before && lower.contains("discard"),
                    "{what}: lastError should name attribute discard, is {err_after}\n{}",
                    diag()
                ),
                Outcome::NoReset => {}
            }
            eprintln!("{}: {what}: {outcome:?} ok", test_name());
        }
        // still one session from the start: ExaBGP never saw it go down
        let downs = exa
            .received()
            .unwrap()
            .into_iter()
            .filter(|m| {
                m.get("type").and_then(|t| t.as_str()) == Some("state")
                    && m.pointer("/neighbor/state").and_then(|s| s.as_str()) == Some("down")
            })
            .count();
        assert_eq!(downs, 0, "the session went down at some point\n{}", diag());
    }
}

#[test]
fn exabgp_unusual_and_malformed_updates_keep_the_session_up() {
    if !ready(&[Tool::Exabgp]) {
        return;
    }
    let lab = Lab::start("x-mal", 41, |n| n);
    let (exa, porter, x) = (&lab.exa, &lab.porter, lab.x);
    let diag = || lab.diag();
    let nh = "next-hop 10.201.41.1";
    let many: Vec<String> = (20..=250).map(|i| format!("198.51.100.{i}/32")).collect();
    let communities: Vec<String> = (0..900).map(|i| format!("65000:{i}")).collect();
    let cases: Vec<(&str, String, Outcome)> = vec![
        (
            "ORIGIN with the undefined value 5",
            format!("announce route 198.51.100.1/32 {nh} attribute [ 0x01 0x40 0x05 ]"),
            Outcome::Withdraw,
        ),
        (
            "unknown optional transitive attribute 0xee",
            format!("announce route 198.51.100.2/32 {nh} origin igp attribute [ 0xee 0xc0 0xdeadbeef ]"),
            Outcome::Accepted,
        ),
        (
            "AS_PATH whose segment claims 5 ASes in 0 octets",
            format!("announce route 198.51.100.3/32 {nh} origin igp attribute [ 0x02 0x40 0x0205 ]"),
            Outcome::Withdraw,
        ),
        (
            "ORIGIN flagged optional",
            format!("announce route 198.51.100.4/32 {nh} attribute [ 0x01 0xc0 0x00 ]"),
            Outcome::Withdraw,
        ),
        (
            "MULTI_EXIT_DISC of 2 octets",
            format!("announce route 198.51.100.5/32 {nh} origin igp attribute [ 0x04 0x80 0x0001 ]"),
            Outcome::Withdraw,
        ),
        (
            "ATOMIC_AGGREGATE with a value",
            format!("announce route 198.51.100.6/32 {nh} origin igp attribute [ 0x06 0x40 0x00 ]"),
            Outcome::Discard,
        ),
        (
            "AGGREGATOR of 4 octets on a 4-octet-AS session",
            format!("announce route 198.51.100.7/32 {nh} origin igp attribute [ 0x07 0xc0 0x0000fde8 ]"),
            Outcome::Discard,
        ),
        (
            "COMMUNITIES of 3 octets",
            format!("announce route 198.51.100.8/32 {nh} origin igp attribute [ 0x08 0xc0 0x000001 ]"),
            Outcome::Withdraw,
        ),
        (
            "AS_SET, communities, large and extended communities",
            format!("announce route 198.51.100.9/32 {nh} origin igp as-path [ 65000 65010 ( 65020 65021 ) ] community [ 65000:1 no-export ] large-community [ 65000:1:1 ] extended-community [ target:65000:1 ]"),
            Outcome::Accepted,
        ),
        (
            "LOCAL_PREF from an external neighbor",
            format!("announce route 198.51.100.251/32 {nh} origin igp local-preference 200"),
            Outcome::NoReset,
        ),
        (
            "withdrawal of a prefix never announced",
            format!("withdraw route 203.0.113.200/32 {nh}"),
            Outcome::Accepted,
        ),
        (
            "MP_REACH_NLRI of IPv6 unicast, a family not negotiated",
            format!("announce route 198.51.100.252/32 {nh} origin igp attribute [ 0x0e 0x80 0x0002011020010db8002900000000000000000001008020010db8ffff00000000000000000009 ]"),
            Outcome::NoReset,
        ),
        (
            "MP_UNREACH_NLRI of IPv6 unicast, a family not negotiated",
            format!("announce route 198.51.100.253/32 {nh} origin igp attribute [ 0x0f 0x80 0x0002018020010db8ffff00000000000000000009 ]"),
            Outcome::NoReset,
        ),
        (
            // RFC 4271 §6.3 / RFC 7606 §7.3: not a host address.
            "NEXT_HOP 0.0.0.0",
            "announce route 198.51.100.11/32 next-hop 0.0.0.0 origin igp".to_owned(),
            Outcome::Withdraw,
        ),
        (
            "NEXT_HOP a multicast address",
            "announce route 198.51.100.12/32 next-hop 224.0.0.5 origin igp".to_owned(),
            Outcome::Withdraw,
        ),
        (
            // RFC 4271 §6.3: "It MUST NOT be the IP address of the receiving speaker."
            "NEXT_HOP porter's own address",
            format!("announce route 198.51.100.13/32 next-hop {} origin igp", speaker_addr(x)),
            Outcome::Withdraw,
        ),
        (
            // 3,600 octets: needs the Extended Length bit, and is valid.
            "COMMUNITIES with 900 values",
            format!("announce route 198.51.100.15/32 {nh} origin igp community [ {} ]", communities.join(" ")),
            Outcome::Accepted,
        ),
        (
            // RFC 6793 §4.2.1: AS_TRANS is an ordinary AS number in a NEW speaker's AS_PATH.
            "AS_TRANS (23456) inside the AS_PATH of a 4-octet session",
            format!("announce route 198.51.100.16/32 {nh} origin igp as-path [ 65000 23456 65010 ]"),
            Outcome::Accepted,
        ),
        (
            // RFC 6793 §6: "A NEW BGP speaker that receives the AS4_PATH attribute ... from
            // another NEW BGP speaker MUST discard" it.
            "AS4_PATH between two 4-octet speakers",
            format!("announce route 198.51.100.17/32 {nh} origin igp attribute [ 0x11 0xc0 0x020100010001 ]"),
            Outcome::Discard,
        ),
        (
            "231 prefixes in one UPDATE",
            format!("announce attributes {nh} origin igp nlri {}", many.join(" ")),
            Outcome::Accepted,
        ),
    ];
    lab.check(&cases);

    // RFC 4271 §6.3: "If any of the well-known mandatory attributes are not recognized, then
    // the Error Subcode MUST be set to Unrecognized Well-known Attribute." RFC 7606 does not
    // soften this one (it is no malformed attribute porter could discard): 3/2, the data
    // being the attribute, and the session comes back.
    exa.send(&format!(
        "announce route 198.51.100.18/32 {nh} origin igp attribute [ 0x30 0x40 0xab ]"
    ))
    .unwrap();
    wait("ExaBGP receives NOTIFICATION 3/2", diag, || {
        exa.received().unwrap_or_default().iter().any(|m| {
            m.get("type").and_then(|t| t.as_str()) == Some("notification")
                && find_key(m, "code").and_then(|c| c.as_u64()) == Some(3)
                && find_key(m, "subcode").and_then(|c| c.as_u64()) == Some(2)
        })
    });
    // ExaBGP keeps the route and would send it again on every reconnect.
    exa.send(&format!("withdraw route 198.51.100.18/32 {nh}"))
        .unwrap();
    let err = last_error(&porter.peer_status("router").unwrap());
    assert!(
        err.contains("\"code\":3") && err.contains("\"subcode\":2"),
        "lastError should be the 3/2 porter sent, is {err}\n{}",
        diag()
    );
    wait("the session is Established again", diag, || {
        porter.is_established("router") && exa.is_up(speaker_addr(x)).unwrap_or(false)
    });
}

/// ExaBGP as an OLD speaker (no 4-octet AS capability, RFC 6793): the AS4 attributes are in
/// use on this session. (ExaBGP builds AS4_PATH itself from the AS path, so the hand-made
/// AS4_PATH cases — longer than AS_PATH, malformed — are in hostile_raw.rs.)
#[test]
fn exabgp_two_octet_session_as4_attributes() {
    if !ready(&[Tool::Exabgp]) {
        return;
    }
    let lab = Lab::start("x-as2", 58, ExabgpNeighbor::two_octet_as);
    let nh = "next-hop 10.201.58.1";
    let cases: Vec<(&str, String, Outcome)> = vec![
        (
            // RFC 6793 §4.2.2: an OLD speaker sends AS_TRANS in AS_PATH and the 4-octet AS
            // in AS4_PATH; §4.2.3 merges them.
            "a 4-octet AS in the path: AS_TRANS in AS_PATH, AS4_PATH beside it",
            format!("announce route 198.51.100.31/32 {nh} origin igp as-path [ 65000 100000 ]"),
            Outcome::Accepted,
        ),
        (
            // RFC 6793 §6 / RFC 7606 §7.7: AS4_AGGREGATOR is 8 octets; a malformed one is
            // discarded.
            "AS4_AGGREGATOR of 6 octets",
            format!("announce route 198.51.100.34/32 {nh} origin igp attribute [ 0x12 0xc0 0x0001869f0a0a ]"),
            Outcome::Discard,
        ),
    ];
    lab.check(&cases);
}
