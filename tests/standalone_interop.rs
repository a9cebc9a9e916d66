//! `porter standalone` against two BIRD routers in network namespaces: config changes are
//! applied as diffs. A change to one peer restarts that session alone; a BgpConf change that
//! restarts every session brings every route back; a new Service is announced without
//! touching any session. Root and BIRD only; skips loudly otherwise.

use std::path::Path;
use std::time::Duration;

use porter_lab::{available, find_binary, wait_until, Bird, BirdConfig, BirdPeer, Netns, Tool};

const PORTER: &str = env!("CARGO_BIN_EXE_porter");
const TIMEOUT: Duration = Duration::from_secs(30);

fn config(router_id: &str, r2_hold_time: u16, services: &[&str]) -> String {
    let mut docs = vec![
        format!(
            "apiVersion: network.kubesphere.io/v1alpha2
kind: BgpConf
metadata: {{name: default}}
spec: {{as: 65001, routerId: {router_id}}}
"
        ),
        "apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata: {name: r1}
spec:
  conf: {neighborAddress: 10.200.170.1, peerAs: 65000}
  timers: {config: {connectRetry: 2}}
"
        .to_owned(),
        format!(
            "apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata: {{name: r2}}
spec:
  conf: {{neighborAddress: 10.200.171.1, peerAs: 65000}}
  timers: {{config: {{connectRetry: 2, holdTime: {r2_hold_time}}}}}
"
        ),
        "apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata: {name: public}
spec: {address: 203.0.113.0/28}
"
        .to_owned(),
    ];
    for name in services {
        docs.push(format!(
            "apiVersion: v1
kind: Service
metadata:
  name: {name}
  annotations: {{lb.kubesphere.io/v1alpha1: porter, eip.openelb.kubesphere.io/v1alpha2: public}}
spec:
  type: LoadBalancer
  ports: [{{port: 80}}]
"
        ));
    }
    docs.join("---\n")
}

fn write_atomically(path: &Path, text: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, text).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

/// BIRD's import counters for its `porter` session ("Route change stats" in `show protocols
/// all porter`): what porter announced, re-announced unchanged and withdrew. They start from
/// zero with each session, so [`session_ups`] tells whether the session stayed the same.
///
/// Why not the age BIRD prints next to a route (`[porter 02:25:13.788]`)? BIRD stores it on
/// its monotonic clock and prints `wall clock now - (loop's monotonic now - stored)`, where
/// the wall clock is read later in the event loop iteration than the monotonic one; the gap
/// depends on scheduling, so two queries of one unchanged route can print milliseconds
/// that differ by one (a CI run under load read .789 and then .788 for the same route).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Imports {
    /// Routes announced (`Import updates`, received).
    updates: u64,
    /// Announcements of a route BIRD already held unchanged (`Import updates`, ignored).
    ignored: u64,
    /// Routes withdrawn (`Import withdraws`, received).
    withdraws: u64,
}

/// Reads [`Imports`] from BIRD.
fn imports(bird: &Bird) -> Imports {
    let text = bird.birdc(&["show", "protocols", "all", "porter"]).unwrap();
    // columns: received rejected filtered ignored accepted ("---" where one does not apply)
    let row = |label: &str| -> Vec<u64> {
        let line = text
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"));
        line.split_whitespace()
            .map(|n| n.parse().unwrap_or(0))
            .collect()
    };
    let (updates, withdraws) = (row("Import updates:"), row("Import withdraws:"));
    Imports {
        updates: updates[0],
        ignored: updates[3],
        withdraws: withdraws[0],
    }
}

/// How many times BIRD's `porter` session reached Established (its protocol went up).
fn session_ups(bird: &Bird) -> usize {
    std::fs::read_to_string(bird.daemon().log_path())
        .unwrap_or_default()
        .matches("porter: State changed to up")
        .count()
}

/// NOTIFICATIONs BIRD received so far (it logs each as `<name>: Received: <reason>`).
fn notifications(bird: &Bird) -> usize {
    std::fs::read_to_string(bird.daemon().log_path())
        .unwrap_or_default()
        .matches(": Received: ")
        .count()
}

fn has_route(bird: &Bird, prefix: &str, next_hop: &str) -> bool {
    bird.routes(prefix).is_ok_and(|r| {
        r.iter()
            .any(|r| r.next_hops.iter().any(|h| h.to_string() == next_hop))
    })
}

/// `porter status --from http://127.0.0.1:9480 ARGS` inside `ns`: exit code and stdout.
fn porter_status(ns: &Netns, args: &[&str]) -> (Option<i32>, String) {
    let out = ns
        .command(PORTER)
        .args(["status", "--from", "http://127.0.0.1:9480"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn config_changes_apply_as_diffs() {
    if !available(&[Tool::Root, Tool::Bird]) {
        return;
    }
    let r1 = Netns::new("sa-r1").unwrap();
    let r2 = Netns::new("sa-r2").unwrap();
    let s = Netns::new("sa-s").unwrap();
    r1.veth("r1-s", &s, "s-r1").unwrap();
    r1.addr("r1-s", "10.200.170.1/24").unwrap();
    s.addr("s-r1", "10.200.170.2/24").unwrap();
    r2.veth("r2-s", &s, "s-r2").unwrap();
    r2.addr("r2-s", "10.200.171.1/24").unwrap();
    s.addr("s-r2", "10.200.171.2/24").unwrap();
    let bird = |ns: &Netns, own: &str, porter: &str| {
        Bird::start(
            ns,
            &BirdConfig::new(own.parse().unwrap(), 65000)
                .without_kernel()
                .peer(BirdPeer::new("porter", porter.parse().unwrap(), 65001).debug_states()),
        )
        .unwrap()
    };
    let b1 = bird(&r1, "10.200.170.1", "10.200.170.2");
    let b2 = bird(&r2, "10.200.171.1", "10.200.171.2");

    let file = s.dir().join("porter.yaml");
    std::fs::write(&file, config("10.200.170.2", 90, &["web"])).unwrap();
    let mut porter = s
        .spawn(
            "porter.log",
            Path::new(PORTER),
            [
                "standalone",
                "--node-name",
                "node1",
                "--http",
                "127.0.0.1:9480",
                "--config",
                file.to_str().unwrap(),
            ],
        )
        .unwrap();
    let log = |porter: &porter_lab::Daemon| {
        std::fs::read_to_string(porter.log_path()).unwrap_or_default()
    };

    b1.wait_established(&["porter"], TIMEOUT).unwrap();
    b2.wait_established(&["porter"], TIMEOUT).unwrap();
    wait_until(TIMEOUT, "203.0.113.1/32 at both routers", || {
        has_route(&b1, "203.0.113.1/32", "10.200.170.2")
            && has_route(&b2, "203.0.113.1/32", "10.200.171.2")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log(&porter)));

    // /status, from inside the namespace: the CRD-shaped peer status and what was advertised.
    if find_binary("curl").is_some() {
        let body = s
            .exec(&["curl", "-sf", "http://127.0.0.1:9480/status"])
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        for peer in ["r1", "r2"] {
            assert_eq!(
                doc["bgpPeers"][peer]["peerState"]["sessionState"], "ESTABLISHED",
                "{doc:#}"
            );
        }
        let advertised = doc["services"]["default/web"]["advertised"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut peers: Vec<_> = advertised
            .iter()
            .map(|a| (a["peer"].clone(), a["nextHops"].clone()))
            .collect();
        peers.sort_by_key(|p| p.0.to_string());
        assert_eq!(
            peers,
            [
                (serde_json::json!("r1"), serde_json::json!(["10.200.170.2"])),
                (serde_json::json!("r2"), serde_json::json!(["10.200.171.2"])),
            ],
            "{doc:#}"
        );
    } else {
        eprintln!("curl not found: /status inside the namespace not checked");
    }
    // `porter status --from` reads the same document as tables: both sessions Established
    // (exit 0), the Service advertised to both routers.
    let (code, table) = porter_status(&s, &[]);
    assert_eq!(code, Some(0), "{table}");
    eprintln!("porter status --from:\n{table}");
    for needle in [
        "r1    10.200.170.1  65001     65000    Established",
        "r2    10.200.171.1  65001     65000    Established",
        "default/web  203.0.113.1  public  + node1 Advertised",
        "to r1, r2 with next hops 10.200.170.2, 10.200.171.2",
    ] {
        assert!(table.contains(needle), "{needle:?} not in\n{table}");
    }

    // Each router learned the one route once, on one session.
    let one = Imports {
        updates: 1,
        ignored: 0,
        withdraws: 0,
    };
    assert_eq!((imports(&b1), imports(&b2)), (one, one));
    assert_eq!((session_ups(&b1), session_ups(&b2)), (1, 1));

    // A new Service: announced to both, no session touched, the old route not sent again.
    write_atomically(&file, &config("10.200.170.2", 90, &["web", "api"]));
    wait_until(TIMEOUT, "203.0.113.2/32 at both routers", || {
        has_route(&b1, "203.0.113.2/32", "10.200.170.2")
            && has_route(&b2, "203.0.113.2/32", "10.200.171.2")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log(&porter)));
    let two = Imports { updates: 2, ..one };
    assert_eq!((imports(&b1), imports(&b2)), (two, two));
    assert_eq!((session_ups(&b1), session_ups(&b2)), (1, 1));
    assert_eq!((notifications(&b1), notifications(&b2)), (0, 0));

    // r2's hold time changes: r2's session restarts (Cease, Other Configuration Change),
    // r1's does not.
    write_atomically(&file, &config("10.200.170.2", 30, &["web", "api"]));
    wait_until(TIMEOUT, "r2 restarted by porter", || {
        notifications(&b2) == 1
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log(&porter)));
    b2.wait_established(&["porter"], TIMEOUT).unwrap();
    wait_until(TIMEOUT, "r2 has both routes again", || {
        has_route(&b2, "203.0.113.1/32", "10.200.171.2")
            && has_route(&b2, "203.0.113.2/32", "10.200.171.2")
    })
    .unwrap();
    // the new session's counters start from zero: both routes once each
    assert_eq!(session_ups(&b2), 2);
    assert_eq!(imports(&b2), two);
    assert_eq!(notifications(&b1), 0, "r1 must not hear a NOTIFICATION");
    assert_eq!(session_ups(&b1), 1, "r1's session must stay up");
    assert_eq!(
        imports(&b1),
        two,
        "r1's routes must not be withdrawn or re-sent"
    );
    assert!(b1.is_established("porter").unwrap());

    // A BgpConf change every OPEN depends on (the router ID): every session restarts and
    // every route comes back.
    write_atomically(&file, &config("10.200.170.9", 30, &["web", "api"]));
    wait_until(TIMEOUT, "both sessions restarted", || {
        notifications(&b1) == 1 && notifications(&b2) == 2
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log(&porter)));
    b1.wait_established(&["porter"], TIMEOUT).unwrap();
    b2.wait_established(&["porter"], TIMEOUT).unwrap();
    assert_eq!((session_ups(&b1), session_ups(&b2)), (2, 3));
    wait_until(TIMEOUT, "every route back at both routers", || {
        ["203.0.113.1/32", "203.0.113.2/32"]
            .iter()
            .all(|p| has_route(&b1, p, "10.200.170.2") && has_route(&b2, p, "10.200.171.2"))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log(&porter)));
    let neighbor_id = b1.birdc(&["show", "protocols", "all", "porter"]).unwrap();
    assert!(neighbor_id.contains("10.200.170.9"), "{neighbor_id}");

    // r2 goes down: `porter status` exits 3 and names it, unless only r1 is selected.
    b2.disable("porter", Some("maintenance")).unwrap();
    wait_until(TIMEOUT, "porter status sees r2 down", || {
        porter_status(&s, &["peers"]).0 == Some(3)
    })
    .unwrap();
    let (code, json) = porter_status(&s, &["peers", "--peer", "r1", "-o", "json"]);
    assert_eq!(code, Some(0), "{json}");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["peers"][0]["state"], "Established", "{doc:#}");
    assert_eq!(doc["peers"][0]["advertised"], 2, "{doc:#}");

    porter.stop().unwrap();
}
