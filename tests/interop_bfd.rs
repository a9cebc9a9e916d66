//! BFD (RFC 5880/5881/5882) against real routers in network namespaces, with porter running
//! as the real `porter standalone` binary: the session comes up at both ends over IPv4 and
//! IPv6; when porter's node falls silent (every packet it sends dropped by a zero-length FIFO, the link
//! up, BGP hold time 90 s) the router removes porter's routes from its RIB and FIB within
//! the BFD detection time, not the hold time; the routes come back when the drop is lifted;
//! a timer change goes through a Poll sequence without a flap; a router without BFD still
//! gets its BGP session; hostile BFD packets are dropped and counted.
//!
//! Root, BIRD, tc, curl and python3 (tests/deps.sh installs them); skips loudly otherwise
//! (fails under `PORTER_LAB_REQUIRE=1`). `cargo test -p porter --test interop_bfd`.

mod fault_lab;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use fault_lab::*;
use porter_lab::{Bird, BirdConfig, BirdPeer, Netns, Tool};

/// BFD timers on both sides: 300 ms × 3, porter's default.
const INTERVAL_MS: u32 = 300;
const MULTIPLIER: u8 = 3;
/// BGP hold time: long, so that only BFD can explain a fast withdrawal.
const HOLD: u16 = 90;
/// The issue's bound: multiplier × interval + 200 ms.
const DETECTION_BOUND: Duration = Duration::from_millis(1100);
/// What a test on a shared 2-core machine allows on top of it (scheduling of BIRD, porter
/// and the polling `birdc`).
const SLACK: Duration = Duration::from_millis(400);
const TIMEOUT: Duration = Duration::from_secs(40);

fn take_turn() -> Option<std::sync::MutexGuard<'static, ()>> {
    if !ready(&[Tool::Bird]) {
        return None;
    }
    if porter_lab::find_binary("python3").is_none() {
        let msg = "SKIPPED: BFD tests: python3 not installed";
        if std::env::var("PORTER_LAB_REQUIRE").is_ok_and(|v| v == "1") {
            panic!("PORTER_LAB_REQUIRE=1 but {msg}");
        }
        eprintln!("\n*** {msg} ***\n");
        return None;
    }
    Some(serial())
}

/// porter (namespace `s`) and BIRD (`rb`) on link 80, one BGP session per family.
struct Lab {
    s: Netns,
    rb: Netns,
    sessions: [Session; 2],
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let s = netns(&format!("{tag}-s"));
        let rb = netns(&format!("{tag}-b"));
        link(&rb, "b-s", &s, "s-b", 80);
        Lab {
            s,
            rb,
            sessions: [
                Session {
                    name: "bird4",
                    porter: v4(80, 2),
                    router: v4(80, 1),
                },
                Session {
                    name: "bird6",
                    porter: v6(80, 2),
                    router: v6(80, 1),
                },
            ],
        }
    }

    /// porter's config: both peers with `spec.bfd = {bfd}` (none when empty), one VIP each.
    fn conf(&self, bfd: &str) -> Conf {
        let mut c = Conf::new("10.200.80.2").vips([vip4(1), vip6(1)]);
        for s in &self.sessions {
            let mut p = Peer::new(s.name, s.router, s.porter).hold(HOLD);
            if !bfd.is_empty() {
                p = p.bfd(bfd);
            }
            c = c.peer(p);
        }
        c
    }

    /// BIRD with kernel export (so the FIB can be checked) and, when `bfd`, BFD on both
    /// sessions at 300 ms × 3.
    fn bird(&self, bfd: bool) -> Bird {
        let mut c = BirdConfig::new("10.200.80.1".parse().unwrap(), ROUTER_AS);
        for s in &self.sessions {
            let mut p = BirdPeer::new(s.name, s.porter, PORTER_AS)
                .local_address(s.router)
                .hold_time(HOLD);
            if bfd {
                p = p.bfd(INTERVAL_MS, MULTIPLIER);
            }
            c = c.peer(p);
        }
        Bird::start(&self.rb, &c).expect("BIRD")
    }

    /// Drops (or stops dropping) every packet porter's node sends on the link; the link
    /// stays up, so only BFD (or the hold timer) can tell.
    fn silence(&self, on: bool) {
        let args: &[&str] = if on {
            // a FIFO of length 0 drops every packet (this kernel has no netem)
            &[
                "tc", "qdisc", "add", "dev", "s-b", "root", "pfifo", "limit", "0",
            ]
        } else {
            &["tc", "qdisc", "del", "dev", "s-b", "root"]
        };
        self.s.exec(args).expect("tc");
    }
}

/// porter's BFD view of `peer` from `/status` (`bgpPeers.<peer>.bfd`).
fn porter_bfd(p: &Porter, peer: &str) -> serde_json::Value {
    p.status()
        .map(|s| s["bgpPeers"][peer]["bfd"].clone())
        .unwrap_or_default()
}

fn porter_bfd_state(p: &Porter, peer: &str) -> String {
    porter_bfd(p, peer)["state"]
        .as_str()
        .unwrap_or("?")
        .to_owned()
}

/// BIRD's BFD session with `neighbor`: (state, transmit interval in seconds), from `show
/// bfd sessions` (`IP address  Interface  State  Since  Interval  Timeout`).
fn bird_bfd(bird: &Bird, neighbor: IpAddr) -> Option<(String, String)> {
    let out = bird.birdc(&["show", "bfd", "sessions"]).ok()?;
    let neighbor = neighbor.to_string();
    out.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.first() != Some(&neighbor.as_str()) {
            return None;
        }
        Some((f.get(2)?.to_string(), f.get(4)?.to_string()))
    })
}

fn vip_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    }
}

/// Whether BIRD has porter's route for `vip` in its RIB and in the namespace's FIB.
fn router_has(lab: &Lab, bird: &Bird, vip: IpAddr) -> (bool, bool) {
    let prefix = vip_prefix(vip);
    let rib = bird.routes(&prefix).is_ok_and(|r| !r.is_empty());
    let fib = lab.rb.route_next_hops(&prefix).is_ok_and(|h| !h.is_empty());
    (rib, fib)
}

/// Waits until both BGP sessions are Established and both BFD sessions Up at both ends.
fn wait_up(lab: &Lab, porter: &Porter, bird: &Bird) -> Duration {
    porter_lab::wait_until(TIMEOUT, "BGP Established and BFD Up at both ends", || {
        porter.all_established()
            && lab.sessions.iter().all(|s| {
                porter_bfd_state(porter, s.name) == "Up"
                    && bird_bfd(bird, s.porter).is_some_and(|(st, _)| st == "Up")
            })
            && [vip4(1), vip6(1)]
                .into_iter()
                .all(|v| router_has(lab, bird, v) == (true, true))
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e:#}\nporter: {}\nBIRD: {}\n{}",
            serde_json::to_string_pretty(&porter.status().unwrap_or_default()).unwrap(),
            bird.birdc(&["show", "bfd", "sessions"]).unwrap_or_default(),
            porter.log_tail(30)
        )
    })
}

#[test]
fn bird_removes_a_silent_nodes_routes_within_the_detection_time_and_takes_them_back() {
    let Some(_turn) = take_turn() else { return };
    let lab = Lab::new("bfdb");
    let bfd = format!(
        "enabled: true, minRxIntervalMs: {INTERVAL_MS}, minTxIntervalMs: {INTERVAL_MS}, multiplier: {MULTIPLIER}"
    );
    let bird = lab.bird(true);
    let mut porter = Porter::start(&lab.s, lab.conf(&bfd));
    let up = wait_up(&lab, &porter, &bird);
    eprintln!("bfd: BIRD: BGP Established and BFD Up (IPv4 and IPv6) after {up:.2?}");
    for s in &lab.sessions {
        let v = porter_bfd(&porter, s.name);
        assert_eq!(v["txIntervalMs"], INTERVAL_MS, "{v}");
        assert_eq!(
            v["detectionTimeMs"],
            INTERVAL_MS * u32::from(MULTIPLIER),
            "{v}"
        );
        assert_ne!(v["remoteDiscriminator"], 0, "{v}");
    }

    // the node falls silent: BIRD must drop both routes within the detection time
    let t0 = Instant::now();
    lab.silence(true);
    let mut gone = [None::<Duration>; 2];
    let mut fib_gone = [None::<Duration>; 2];
    while gone.iter().chain(&fib_gone).any(Option::is_none) && t0.elapsed() < TIMEOUT {
        for (i, vip) in [vip4(1), vip6(1)].into_iter().enumerate() {
            let (rib, fib) = router_has(&lab, &bird, vip);
            if !rib && gone[i].is_none() {
                gone[i] = Some(t0.elapsed());
            }
            if !fib && fib_gone[i].is_none() {
                fib_gone[i] = Some(t0.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for (i, family) in ["IPv4", "IPv6"].into_iter().enumerate() {
        let (rib, fib) = (gone[i].expect("RIB"), fib_gone[i].expect("FIB"));
        eprintln!(
            "bfd: BIRD {family}: route gone from the RIB {rib:.3?}, from the FIB {fib:.3?} after the node fell silent (bound {DETECTION_BOUND:?}, hold time {HOLD} s)"
        );
        assert!(
            rib.max(fib) <= DETECTION_BOUND + SLACK,
            "{family}: BIRD took {:?} to remove the route (RIB {rib:?}, FIB {fib:?})",
            rib.max(fib)
        );
    }
    // BIRD closed its BGP sessions, or porter did on its own BFD's word, whichever came
    // first (BIRD's Cease reaches porter: only porter's sending is cut)
    porter_lab::wait_until(TIMEOUT, "porter's BFD and BGP sessions down", || {
        let st = porter.status().unwrap_or_default();
        lab.sessions.iter().all(|s| {
            let peer = &st["bgpPeers"][s.name];
            peer["bfd"]["state"] != "Up" && peer["peerState"]["sessionState"] != "ESTABLISHED"
        })
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", porter.log_tail(30)));
    let t1 = Instant::now();
    lab.silence(false);
    let back = wait_up(&lab, &porter, &bird);
    eprintln!(
        "bfd: BIRD: BFD Up, BGP Established and routes back {back:.2?} after the drop was lifted ({:.2?})",
        t1.elapsed()
    );

    // now the router falls silent towards porter: porter's BFD detects it, closes the BGP
    // session with Cease / BFD Down (RFC 9384) and BIRD drops the routes with the session
    let t2 = Instant::now();
    lab.rb
        .exec(&[
            "tc", "qdisc", "add", "dev", "b-s", "root", "pfifo", "limit", "0",
        ])
        .expect("tc");
    porter_lab::wait_until(TIMEOUT, "BIRD without porter's routes", || {
        [vip4(1), vip6(1)]
            .into_iter()
            .all(|v| router_has(&lab, &bird, v) == (false, false))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", porter.log_tail(30)));
    let gone = t2.elapsed();
    eprintln!(
        "bfd: porter detected the silent router and closed BGP; BIRD's routes gone {gone:.3?} after the router fell silent"
    );
    assert!(gone <= DETECTION_BOUND + SLACK, "{gone:?}");
    let st = porter.status().unwrap();
    for s in &lab.sessions {
        let err = &st["bgpPeers"][s.name]["lastError"];
        assert_eq!(
            (&err["direction"], &err["code"], &err["subcode"]),
            (&"sent".into(), &6.into(), &10.into()),
            "Cease / BFD Down sent: {err}"
        );
        assert!(
            err["reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("BFD down: Control Detection Time Expired")),
            "{err}"
        );
    }
    lab.rb
        .exec(&["tc", "qdisc", "del", "dev", "b-s", "root"])
        .expect("tc");
    wait_up(&lab, &porter, &bird);
    for s in &lab.sessions {
        let v = porter_bfd(&porter, s.name);
        assert_eq!(v["upTransitions"], "3", "{v}");
        assert_eq!(v["downTransitions"], "2", "{v}");
    }

    // timer change: porter asks for 500 ms; BIRD follows through a Poll sequence, nothing
    // flaps (RFC 5880 §6.8.3)
    let flaps = porter.flaps();
    porter.reload(lab.conf(&format!(
        "enabled: true, minRxIntervalMs: 500, minTxIntervalMs: 500, multiplier: {MULTIPLIER}"
    )));
    porter_lab::wait_until(TIMEOUT, "BIRD and porter at 500 ms", || {
        lab.sessions.iter().all(|s| {
            bird_bfd(&bird, s.porter).is_some_and(|(st, iv)| st == "Up" && iv == "0.500")
                && porter_bfd(&porter, s.name)["txIntervalMs"] == 500
        })
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e:#}\n{}\n{}",
            bird.birdc(&["show", "bfd", "sessions"]).unwrap_or_default(),
            porter.log_tail(30)
        )
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(porter.flaps(), flaps, "a timer change must not flap BGP");
    for s in &lab.sessions {
        let v = porter_bfd(&porter, s.name);
        assert_eq!(v["state"], "Up", "{v}");
        assert_eq!(
            v["downTransitions"], "2",
            "no BFD flap on a timer change: {v}"
        );
    }
    eprintln!("bfd: BIRD: timers changed to 500 ms without a BFD or BGP flap");
    porter.kill();
}

#[test]
fn a_router_without_bfd_still_gets_its_session_and_status_says_bfd_is_down() {
    let Some(_turn) = take_turn() else { return };
    let lab = Lab::new("bfdn");
    let bird = lab.bird(false);
    let porter = Porter::start(&lab.s, lab.conf("enabled: true"));
    bird.wait_established(&["bird4", "bird6"], TIMEOUT)
        .expect("BGP without BFD on the router");
    porter_lab::wait_until(TIMEOUT, "routes at BIRD", || {
        router_has(&lab, &bird, vip4(1)).0 && router_has(&lab, &bird, vip6(1)).0
    })
    .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(porter.all_established());
    for s in &lab.sessions {
        let v = porter_bfd(&porter, s.name);
        assert_eq!(v["state"], "Down", "{v}");
        assert_eq!(v["remoteDiscriminator"], 0, "{v}");
    }
}

#[test]
fn hostile_bfd_packets_are_dropped_and_counted() {
    let Some(_turn) = take_turn() else { return };
    let lab = Lab::new("bfdh");
    let bird = lab.bird(true);
    let porter = Porter::start(&lab.s, lab.conf("enabled: true"));
    wait_up(&lab, &porter, &bird);
    let flaps = porter.flaps();
    let disc = porter_bfd(&porter, "bird4")["localDiscriminator"]
        .as_u64()
        .unwrap();
    // a stranger on the link: 10.200.80.3
    add_host(&lab.rb, "b-s", 80, 3);
    // (case, TTL, version, flags byte, detect mult, length, my disc, your disc, bytes sent)
    let script = format!(
        r#"
import socket, struct, time
def pkt(version=1, state_flags=0x40, mult=3, length=24, my=7, your=0):
    return struct.pack('!BBBBIIIII', (version << 5), state_flags, mult, length, my, your, 300000, 300000, 0)
cases = [
    (255, pkt(version=2)),           # bad_version
    (255, pkt(length=20)),           # bad_length
    (255, pkt(mult=0)),              # zero_detect_mult
    (255, pkt(my=0)),                # zero_my_discriminator
    (255, pkt(state_flags=0x41)),    # multipoint
    (255, pkt()[:10]),               # truncated
    (254, pkt()),                    # ttl
    (255, pkt(your=0x7fff1234)),     # no_session (not our discriminator)
    (255, pkt(your={disc})),         # wrong_source (ours, from another address)
]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('10.200.80.3', 49999))
for ttl, b in cases:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    for _ in range(3):
        s.sendto(b, ('10.200.80.2', 3784))
        time.sleep(0.01)
"#
    );
    lab.rb
        .exec(&["python3", "-c", &script])
        .expect("sending hostile packets");
    let want = [
        "bad_version",
        "bad_length",
        "zero_detect_mult",
        "zero_my_discriminator",
        "multipoint",
        "truncated",
        "ttl",
        "no_session",
        "wrong_source",
    ];
    let dropped = |reason: &str| -> f64 {
        let text = String::from_utf8(porter.get("/metrics").unwrap_or_default()).unwrap();
        let head = format!("porter_bfd_control_packets_dropped_total{{reason=\"{reason}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&head))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    porter_lab::wait_until(
        Duration::from_secs(10),
        "every hostile packet counted",
        || want.iter().all(|r| dropped(r) >= 3.0),
    )
    .unwrap_or_else(|e| {
        let counts: Vec<_> = want.iter().map(|r| (r, dropped(r))).collect();
        panic!("{e:#}: {counts:?}\n{}", porter.log_tail(20))
    });
    // nothing else moved: the real sessions are Up and BGP did not flap
    std::thread::sleep(Duration::from_secs(1));
    for s in &lab.sessions {
        assert_eq!(porter_bfd_state(&porter, s.name), "Up");
        let v = porter_bfd(&porter, s.name);
        assert_eq!(v["downTransitions"].as_str().unwrap_or("0"), "0", "{v}");
    }
    assert_eq!(porter.flaps(), flaps);
    assert!(porter.all_established());
}
