//! BFD (RFC 5880/5881/5882) against real routers in network namespaces, with porter running
//! as the real `porter standalone` binary. One silent-failure scenario runs against BIRD and
//! against FRR (bfdd), IPv4 and IPv6: the session comes up at both ends; when porter's node
//! falls silent (every packet it sends dropped by a zero-length FIFO, the link up, BGP hold
//! time 90 s) the router removes porter's routes from its RIB and FIB within the BFD
//! detection time, not the hold time; the routes come back when the drop is lifted; when
//! the router falls silent porter closes BGP with Cease / BFD Down; a timer change goes
//! through a Poll sequence without a flap. Against BIRD alone: a router without BFD still
//! gets its BGP session; strict mode holds BGP down until BFD is Up; a neighbor switching
//! BFD off (AdminDown) is not a failure; hostile BFD packets are dropped and counted.
//!
//! Root, BIRD, FRR (with bfdd), tc, curl and python3 (tests/deps.sh installs them); skips
//! loudly otherwise (fails under `PORTER_LAB_REQUIRE=1`).
//! `cargo test -p porter --test interop_bfd`.

mod fault_lab;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use fault_lab::*;
use porter_lab::{Bird, BirdConfig, BirdPeer, Frr, FrrConfig, FrrNeighbor, Netns, Tool};

/// BFD timers on both sides: 300 ms × 3, porter's default.
const INTERVAL_MS: u32 = 300;
const MULTIPLIER: u8 = 3;
/// BGP hold time: long, so that only BFD can explain a fast withdrawal.
const HOLD: u16 = 90;
/// The target: multiplier × interval + 200 ms. Printed beside every measured failover (the
/// figures README quotes), not asserted: a test's timing on shared cores is no benchmark,
/// and one `vtysh` poll of the router alone can take a few hundred ms under load.
const DETECTION_BOUND: Duration = Duration::from_millis(1100);
/// What is asserted: the withdrawal came from BFD, an order of magnitude before the hold
/// timer (90 s) or even the shortest hold time an operator accepts (9 s) could explain it.
const BFD_NOT_HOLD_TIMER: Duration = Duration::from_secs(3);
const TIMEOUT: Duration = Duration::from_secs(40);

fn take_turn(kind: Kind) -> Option<std::sync::MutexGuard<'static, ()>> {
    if !ready(&[kind.tool()]) {
        return None;
    }
    for (tool, wanted) in [("python3", true), ("bfdd", kind == Kind::Frr)] {
        if wanted && porter_lab::find_binary(tool).is_none() {
            let msg = format!("SKIPPED: BFD tests: {tool} not installed");
            if std::env::var("PORTER_LAB_REQUIRE").is_ok_and(|v| v == "1") {
                panic!("PORTER_LAB_REQUIRE=1 but {msg}");
            }
            eprintln!("\n*** {msg} ***\n");
            return None;
        }
    }
    Some(serial())
}

/// Which router the scenario runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bird,
    Frr,
}

impl Kind {
    fn tool(self) -> Tool {
        match self {
            Kind::Bird => Tool::Bird,
            Kind::Frr => Tool::Frr,
        }
    }

    /// porter's peer names (also BIRD's protocol names) for the IPv4 and IPv6 sessions.
    fn session_names(self) -> [&'static str; 2] {
        match self {
            Kind::Bird => ["bird4", "bird6"],
            Kind::Frr => ["frr4", "frr6"],
        }
    }
}

/// porter (namespace `s`) and a router (`r`) on link 80, one BGP session per family.
struct Lab {
    kind: Kind,
    s: Netns,
    r: Netns,
    sessions: [Session; 2],
}

impl Lab {
    fn new(tag: &str, kind: Kind) -> Lab {
        let s = netns(&format!("{tag}-s"));
        let r = netns(&format!("{tag}-r"));
        link(&r, "r-s", &s, "s-r", 80);
        let [n4, n6] = kind.session_names();
        Lab {
            kind,
            s,
            r,
            sessions: [
                Session {
                    name: n4,
                    porter: v4(80, 2),
                    router: v4(80, 1),
                },
                Session {
                    name: n6,
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

    /// Starts the router, with FIB export (BIRD's kernel protocol, FRR's zebra) so the FIB
    /// can be checked and, when `bfd`, BFD on both sessions at 300 ms × 3.
    fn start_router(&self, bfd: bool) -> Router<'_> {
        let daemon = match self.kind {
            Kind::Bird => {
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
                Daemon::Bird(Bird::start(&self.r, &c).expect("BIRD"))
            }
            Kind::Frr => {
                let mut c = FrrConfig::new("10.200.80.1".parse().unwrap(), ROUTER_AS);
                for s in &self.sessions {
                    let mut n = FrrNeighbor::new(s.porter, PORTER_AS)
                        .update_source(s.router)
                        .hold_time(HOLD);
                    if bfd {
                        n = n.bfd(INTERVAL_MS, MULTIPLIER);
                    }
                    c = c.neighbor(n);
                }
                Daemon::Frr(Frr::start(&self.r, &c).expect("FRR"))
            }
        };
        Router { lab: self, daemon }
    }

    /// Drops (or stops dropping) every packet that namespace `ns` sends on its interface
    /// `dev`; the link stays up, so only BFD (or the hold timer) can tell.
    fn silence(ns: &Netns, dev: &str, on: bool) {
        let args: &[&str] = if on {
            // a FIFO of length 0 drops every packet (this kernel has no netem)
            &[
                "tc", "qdisc", "add", "dev", dev, "root", "pfifo", "limit", "0",
            ]
        } else {
            &["tc", "qdisc", "del", "dev", dev, "root"]
        };
        ns.exec(args).expect("tc");
    }

    /// porter's node falls silent (or speaks again).
    fn silence_node(&self, on: bool) {
        Lab::silence(&self.s, "s-r", on);
    }

    /// The router falls silent towards porter (or speaks again).
    fn silence_router(&self, on: bool) {
        Lab::silence(&self.r, "r-s", on);
    }
}

enum Daemon {
    Bird(Bird),
    Frr(Frr),
}

/// A running router of the lab, read the same way whatever its kind.
struct Router<'a> {
    lab: &'a Lab,
    daemon: Daemon,
}

impl Router<'_> {
    fn name(&self) -> &'static str {
        match self.daemon {
            Daemon::Bird(_) => "BIRD",
            Daemon::Frr(_) => "FRR",
        }
    }

    /// The router's BFD session state with `neighbor`, in RFC 5880 spelling (`Up`, `Down`,
    /// `Init`, `AdminDown`); `None` without a session.
    fn bfd_state(&self, neighbor: IpAddr) -> Option<String> {
        match &self.daemon {
            Daemon::Bird(b) => bird_bfd(b, neighbor).map(|(state, _)| state),
            Daemon::Frr(f) => {
                let p = f.bfd_peer(neighbor).ok()??;
                Some(match p["status"].as_str()? {
                    "up" => "Up".into(),
                    "down" => "Down".into(),
                    "init" => "Init".into(),
                    "shutdown" => "AdminDown".into(),
                    other => other.into(),
                })
            }
        }
    }

    /// The interval (ms) at which the router sends BFD Control packets to `neighbor`: its own
    /// desired minimum or the neighbor's required minimum, whichever is larger (RFC 5880
    /// §6.8.7). BIRD shows that value; FRR 8 shows both parts.
    fn tx_interval(&self, neighbor: IpAddr) -> Option<u64> {
        match &self.daemon {
            Daemon::Bird(b) => {
                let (_, seconds) = bird_bfd(b, neighbor)?;
                let ms = seconds.parse::<f64>().ok()? * 1000.0;
                Some(ms.round() as u64)
            }
            Daemon::Frr(f) => {
                let p = f.bfd_peer(neighbor).ok()??;
                let own = p["transmit-interval"].as_u64()?;
                let required = p["remote-receive-interval"].as_u64()?;
                Some(own.max(required))
            }
        }
    }

    /// Whether the router has porter's route for `vip` in its BGP RIB and in its namespace's
    /// FIB.
    fn has_route(&self, vip: IpAddr) -> (bool, bool) {
        let prefix = vip_prefix(vip);
        let rib = match &self.daemon {
            Daemon::Bird(b) => b.routes(&prefix).is_ok_and(|r| !r.is_empty()),
            Daemon::Frr(f) => f.route_next_hops(&prefix).is_ok_and(|h| !h.is_empty()),
        };
        let fib = self
            .lab
            .r
            .route_next_hops(&prefix)
            .is_ok_and(|h| !h.is_empty());
        (rib, fib)
    }

    /// BGP and BFD sessions, for failure messages.
    fn show(&self) -> String {
        match &self.daemon {
            Daemon::Bird(b) => format!(
                "{}\n{}",
                b.birdc(&["show", "protocols"]).unwrap_or_default(),
                b.birdc(&["show", "bfd", "sessions"]).unwrap_or_default()
            ),
            Daemon::Frr(f) => format!(
                "{}\n{:#?}",
                f.vtysh(&["show bgp summary"]).unwrap_or_default(),
                f.bfd_peers()
            ),
        }
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

/// Waits until both BGP sessions are Established, both BFD sessions Up at both ends and
/// both routes in the router's RIB and FIB.
fn wait_up(lab: &Lab, porter: &Porter, router: &Router) -> Duration {
    porter_lab::wait_until(TIMEOUT, "BGP Established and BFD Up at both ends", || {
        porter.all_established()
            && lab.sessions.iter().all(|s| {
                porter_bfd_state(porter, s.name) == "Up"
                    && router.bfd_state(s.porter).as_deref() == Some("Up")
            })
            && [vip4(1), vip6(1)]
                .into_iter()
                .all(|v| router.has_route(v) == (true, true))
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e:#}\nporter: {}\n{}: {}\n{}",
            serde_json::to_string_pretty(&porter.status().unwrap_or_default()).unwrap(),
            router.name(),
            router.show(),
            porter.log_tail(30)
        )
    })
}

/// The shared scenario: BFD Up at both ends; porter's node silent → the router drops the
/// routes from RIB and FIB within the detection time; recovery; the router silent → porter
/// sends Cease / BFD Down and the router drops the routes; a timer change without a flap.
fn silent_failures_are_detected_within_the_detection_time(kind: Kind, tag: &str) {
    let Some(_turn) = take_turn(kind) else { return };
    let lab = Lab::new(tag, kind);
    let bfd = format!(
        "enabled: true, minRxIntervalMs: {INTERVAL_MS}, minTxIntervalMs: {INTERVAL_MS}, multiplier: {MULTIPLIER}"
    );
    let router = lab.start_router(true);
    let name = router.name();
    let mut porter = Porter::start(&lab.s, lab.conf(&bfd));
    let up = wait_up(&lab, &porter, &router);
    eprintln!("bfd: {name}: BGP Established and BFD Up (IPv4 and IPv6) after {up:.2?}");
    for s in &lab.sessions {
        let v = porter_bfd(&porter, s.name);
        assert_eq!(v["txIntervalMs"], INTERVAL_MS, "{v}");
        assert_eq!(
            v["detectionTimeMs"],
            INTERVAL_MS * u32::from(MULTIPLIER),
            "{v}"
        );
        assert_ne!(v["remoteDiscriminator"], 0, "{v}");
        assert_eq!(
            router.tx_interval(s.porter),
            Some(u64::from(INTERVAL_MS)),
            "{}",
            router.show()
        );
    }

    // the node falls silent: the router must drop both routes within the detection time
    let t0 = Instant::now();
    lab.silence_node(true);
    let mut gone = [None::<Duration>; 2];
    let mut fib_gone = [None::<Duration>; 2];
    while gone.iter().chain(&fib_gone).any(Option::is_none) && t0.elapsed() < TIMEOUT {
        for (i, vip) in [vip4(1), vip6(1)].into_iter().enumerate() {
            let (rib, fib) = router.has_route(vip);
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
            "bfd: {name} {family}: route gone from the RIB {rib:.3?}, from the FIB {fib:.3?} after the node fell silent (bound {DETECTION_BOUND:?}, hold time {HOLD} s)"
        );
        assert!(
            rib.max(fib) <= BFD_NOT_HOLD_TIMER,
            "{name} {family}: took {:?} to remove the route (RIB {rib:?}, FIB {fib:?})",
            rib.max(fib)
        );
    }
    // the router closed its BGP sessions, or porter did on its own BFD's word, whichever
    // came first (the router's Cease reaches porter: only porter's sending is cut)
    porter_lab::wait_until(TIMEOUT, "porter's BFD and BGP sessions down", || {
        let st = porter.status().unwrap_or_default();
        lab.sessions.iter().all(|s| {
            let peer = &st["bgpPeers"][s.name];
            peer["bfd"]["state"] != "Up" && peer["peerState"]["sessionState"] != "ESTABLISHED"
        })
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", porter.log_tail(30)));
    let t1 = Instant::now();
    lab.silence_node(false);
    let back = wait_up(&lab, &porter, &router);
    eprintln!(
        "bfd: {name}: BFD Up, BGP Established and routes back {back:.2?} after the drop was lifted ({:.2?})",
        t1.elapsed()
    );

    // now the router falls silent towards porter: porter's BFD detects it, closes the BGP
    // session with Cease / BFD Down (RFC 9384) and the router drops the routes with the
    // session
    let t2 = Instant::now();
    lab.silence_router(true);
    porter_lab::wait_until(TIMEOUT, "the router without porter's routes", || {
        [vip4(1), vip6(1)]
            .into_iter()
            .all(|v| router.has_route(v) == (false, false))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}\n{}", router.show(), porter.log_tail(30)));
    let gone = t2.elapsed();
    eprintln!(
        "bfd: {name}: porter detected the silent router and closed BGP; routes gone from RIB and FIB {gone:.3?} after the router fell silent"
    );
    assert!(gone <= BFD_NOT_HOLD_TIMER, "{gone:?}");
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
    lab.silence_router(false);
    wait_up(&lab, &porter, &router);
    for s in &lab.sessions {
        let v = porter_bfd(&porter, s.name);
        assert_eq!(v["upTransitions"], "3", "{v}");
        assert_eq!(v["downTransitions"], "2", "{v}");
    }

    // timer change: porter asks for 500 ms; the router follows through a Poll sequence
    // (its transmit interval is now porter's required minimum), nothing flaps (RFC 5880
    // §6.8.3)
    let flaps = porter.flaps();
    porter.reload(lab.conf(&format!(
        "enabled: true, minRxIntervalMs: 500, minTxIntervalMs: 500, multiplier: {MULTIPLIER}"
    )));
    porter_lab::wait_until(TIMEOUT, "the router and porter at 500 ms", || {
        lab.sessions.iter().all(|s| {
            router.bfd_state(s.porter).as_deref() == Some("Up")
                && router.tx_interval(s.porter) == Some(500)
                && porter_bfd(&porter, s.name)["txIntervalMs"] == 500
        })
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}\n{}", router.show(), porter.log_tail(30)));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(porter.flaps(), flaps, "a timer change must not flap BGP");
    for s in &lab.sessions {
        let v = porter_bfd(&porter, s.name);
        assert_eq!(v["state"], "Up", "{v}");
        assert_eq!(
            v["downTransitions"], "2",
            "no BFD flap on a timer change: {v}"
        );
        assert_eq!(router.bfd_state(s.porter).as_deref(), Some("Up"));
    }
    eprintln!("bfd: {name}: timers changed to 500 ms without a BFD or BGP flap");
    porter.kill();
}

#[test]
fn bird_removes_a_silent_nodes_routes_within_the_detection_time_and_takes_them_back() {
    silent_failures_are_detected_within_the_detection_time(Kind::Bird, "bfdb");
}

#[test]
fn frr_removes_a_silent_nodes_routes_within_the_detection_time_and_takes_them_back() {
    silent_failures_are_detected_within_the_detection_time(Kind::Frr, "bfdf");
}

#[test]
fn a_router_without_bfd_still_gets_its_session_and_status_says_bfd_is_down() {
    let Some(_turn) = take_turn(Kind::Bird) else {
        return;
    };
    let lab = Lab::new("bfdn", Kind::Bird);
    let router = lab.start_router(false);
    let porter = Porter::start(&lab.s, lab.conf("enabled: true"));
    porter_lab::wait_until(TIMEOUT, "routes at BIRD", || {
        porter.all_established() && router.has_route(vip4(1)).0 && router.has_route(vip6(1)).0
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}\n{}", router.show(), porter.log_tail(30)));
    std::thread::sleep(Duration::from_secs(3));
    assert!(porter.all_established());
    for s in &lab.sessions {
        let v = porter_bfd(&porter, s.name);
        assert_eq!(v["state"], "Down", "{v}");
        assert_eq!(v["remoteDiscriminator"], 0, "{v}");
    }
}

/// porter's BGP session state of each peer of the lab (`IDLE`, `ESTABLISHED`, …).
fn session_states(lab: &Lab, porter: &Porter) -> Vec<String> {
    let states = porter.states();
    lab.sessions
        .iter()
        .map(|s| states.get(s.name).cloned().unwrap_or_default())
        .collect()
}

#[test]
fn strict_mode_keeps_bgp_down_until_bfd_is_up() {
    let Some(_turn) = take_turn(Kind::Bird) else {
        return;
    };
    let strict = "enabled: true, strict: true";
    // a router without BFD: porter's BGP must stay Idle, BIRD gets no route
    let lab = Lab::new("bfds", Kind::Bird);
    let router = lab.start_router(false);
    let mut porter = Porter::start(&lab.s, lab.conf(strict));
    let t0 = Instant::now();
    // the first status may come before the peers are known
    porter_lab::wait_until(TIMEOUT, "porter's status lists the peers", || {
        session_states(&lab, &porter).iter().all(|s| !s.is_empty())
    })
    .unwrap();
    while t0.elapsed() < Duration::from_secs(5) {
        let states = session_states(&lab, &porter);
        assert!(
            states.iter().all(|s| s == "IDLE"),
            "strict mode without BFD at the router: {states:?}\n{}",
            porter.log_tail(30)
        );
        for v in [vip4(1), vip6(1)] {
            assert_eq!(router.has_route(v), (false, false), "{v}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "bfd: strict mode, BIRD without BFD: BGP Idle for {:.2?}, no route at BIRD",
        t0.elapsed()
    );
    // strict off: BGP comes up although BFD stays Down
    let t1 = Instant::now();
    porter.reload(lab.conf("enabled: true, strict: false"));
    porter_lab::wait_until(TIMEOUT, "BGP up once strict mode is off", || {
        porter.all_established()
            && [vip4(1), vip6(1)]
                .into_iter()
                .all(|v| router.has_route(v) == (true, true))
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}\n{}", router.show(), porter.log_tail(30)));
    eprintln!(
        "bfd: strict mode off: BGP Established and routes at BIRD {:.2?} after the reload",
        t1.elapsed()
    );
    drop(router);
    porter.kill();

    // a router with BFD: BGP may reach Established only once porter's BFD is Up
    let router = lab.start_router(true);
    let porter = Porter::start(&lab.s, lab.conf(strict));
    let t2 = Instant::now();
    let mut bfd_up = [None::<Duration>; 2];
    let mut established = [None::<Duration>; 2];
    while established.iter().any(Option::is_none) && t2.elapsed() < TIMEOUT {
        let st = porter.status().unwrap_or_default();
        for (i, s) in lab.sessions.iter().enumerate() {
            let peer = &st["bgpPeers"][s.name];
            let bfd = peer["bfd"]["state"] == "Up";
            if bfd && bfd_up[i].is_none() {
                bfd_up[i] = Some(t2.elapsed());
            }
            if peer["peerState"]["sessionState"] == "ESTABLISHED" {
                assert!(bfd, "{}: Established while BFD is not Up: {peer}", s.name);
                established[i].get_or_insert(t2.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for (i, s) in lab.sessions.iter().enumerate() {
        let (Some(bfd), Some(bgp)) = (bfd_up[i], established[i]) else {
            panic!(
                "{}: BFD Up {:?}, Established {:?}\n{}\n{}",
                s.name,
                bfd_up[i],
                established[i],
                router.show(),
                porter.log_tail(30)
            )
        };
        eprintln!(
            "bfd: strict mode, BIRD with BFD, {}: BFD Up {bfd:.2?}, BGP Established {bgp:.2?} after porter started",
            s.name
        );
        assert!(bfd <= bgp);
    }
    wait_up(&lab, &porter, &router);
}

/// A neighbor switching BFD off tells porter AdminDown; porter's BFD goes Down but BGP
/// stays up (RFC 5882 §3.2). FRR's bfdd sends AdminDown on `shutdown`; BIRD 2.0.12 does
/// not on `disable` of its bfd protocol (it just falls silent, which porter rightly takes
/// for a failure: Detection Time Expired, Cease / BFD Down), so this runs against FRR.
#[test]
fn a_neighbor_switching_bfd_off_is_not_a_failure() {
    let Some(_turn) = take_turn(Kind::Frr) else {
        return;
    };
    let lab = Lab::new("bfda", Kind::Frr);
    let router = lab.start_router(true);
    let Daemon::Frr(frr) = &router.daemon else {
        unreachable!("an FRR lab")
    };
    let porter = Porter::start(&lab.s, lab.conf("enabled: true"));
    wait_up(&lab, &porter, &router);
    let flaps = porter.flaps();
    let t0 = Instant::now();
    frr.bfd_shutdown(INTERVAL_MS, MULTIPLIER, true)
        .expect("bfdd shutdown");
    porter_lab::wait_until(
        Duration::from_secs(5),
        "porter's BFD Down with the neighbor in AdminDown",
        || {
            lab.sessions.iter().all(|s| {
                let v = porter_bfd(&porter, s.name);
                v["state"] == "Down" && v["remoteState"] == "AdminDown"
            })
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e:#}\n{}\n{}\n{}",
            serde_json::to_string_pretty(&porter.status().unwrap_or_default()).unwrap(),
            router.show(),
            porter.log_tail(30)
        )
    });
    eprintln!(
        "bfd: FRR's BFD shut down: porter's BFD Down, remote AdminDown after {:.2?}",
        t0.elapsed()
    );
    for s in &lab.sessions {
        let v = porter_bfd(&porter, s.name);
        assert_eq!(
            v["lastDiagnostic"]["name"], "Neighbor Signaled Session Down",
            "{v}"
        );
    }
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_secs(3) {
        assert!(
            porter.all_established(),
            "BGP left Established after the neighbor's AdminDown: {:?}\n{}\n{}",
            porter.states(),
            router.show(),
            porter.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(porter.flaps(), flaps, "AdminDown must not flap BGP");
    for v in [vip4(1), vip6(1)] {
        assert_eq!(router.has_route(v), (true, true), "{v}");
    }
    let st = porter.status().unwrap();
    for s in &lab.sessions {
        let err = &st["bgpPeers"][s.name]["lastError"];
        assert_ne!(
            (&err["direction"], &err["code"], &err["subcode"]),
            (&"sent".into(), &6.into(), &10.into()),
            "porter took the neighbor's AdminDown for a failure: {err}"
        );
    }
    eprintln!("bfd: BGP stayed Established for 3 s after FRR's AdminDown, no flap");

    // BFD back on at the router: the sessions come Up again, still without a BGP flap
    frr.bfd_shutdown(INTERVAL_MS, MULTIPLIER, false)
        .expect("bfdd no shutdown");
    wait_up(&lab, &porter, &router);
    assert_eq!(porter.flaps(), flaps);
}

#[test]
fn hostile_bfd_packets_are_dropped_and_counted() {
    let Some(_turn) = take_turn(Kind::Bird) else {
        return;
    };
    let lab = Lab::new("bfdh", Kind::Bird);
    let router = lab.start_router(true);
    let porter = Porter::start(&lab.s, lab.conf("enabled: true"));
    wait_up(&lab, &porter, &router);
    let flaps = porter.flaps();
    let disc = porter_bfd(&porter, "bird4")["localDiscriminator"]
        .as_u64()
        .unwrap();
    // a stranger on the link: 10.200.80.3
    add_host(&lab.r, "r-s", 80, 3);
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
    lab.r
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
