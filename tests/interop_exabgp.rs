//! ExaBGP as porter's neighbor, sending unusual and malformed UPDATEs: porter handles each
//! as RFC 7606 says (treat-as-withdraw, attribute discard, or plain acceptance) and never
//! resets the session. Link subnet 10.201.41.0/24.

mod common;

use common::scenarios::{PORTER_AS, ROUTER_AS};
use common::*;

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

#[test]
fn exabgp_unusual_and_malformed_updates_keep_the_session_up() {
    if !ready(&[Tool::Exabgp]) {
        return;
    }
    let x = 41;
    let (r, s) = pair("x-mal", x);
    let exa = Exabgp::start(
        &r,
        &ExabgpConfig::new("10.201.41.1".parse().unwrap(), ROUTER_AS)
            .neighbor(ExabgpNeighbor::new(speaker_addr(x), router_addr(x), PORTER_AS).passive()),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let porter = Porter::start(
        &s,
        PorterConf::new("node1", PORTER_AS, speaker_addr(x))
            .peer(PeerDoc::new("router", router_addr(x), ROUTER_AS))
            .vip("203.0.113.7"),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let exa_log = || {
        std::fs::read_to_string(exa.dir().join("received.jsonl"))
            .unwrap_or_default()
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let diag = || {
        format!(
            "--- ExaBGP received (latest first) ---\n{}\n{}",
            exa_log(),
            porter.diag()
        )
    };
    wait("ExaBGP and porter Established", diag, || {
        exa.is_up(speaker_addr(x)).unwrap_or(false) && porter.is_established("router")
    });
    wait("ExaBGP received porter's 203.0.113.7/32", diag, || {
        exa.updates()
            .is_ok_and(|u| u.iter().any(|m| m.to_string().contains("203.0.113.7/32")))
    });

    let nh = "next-hop 10.201.41.1";
    let many: Vec<String> = (10..=250).map(|i| format!("198.51.100.{i}/32")).collect();
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
            "241 prefixes in one UPDATE",
            format!("announce attributes {nh} origin igp nlri {}", many.join(" ")),
            Outcome::Accepted,
        ),
    ];
    for (what, cmd, outcome) in &cases {
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
