//! Layer-2 responder in network namespaces: a client namespace and two speaker namespaces
//! on one bridge (in a hub namespace). Each responder runs on a dedicated thread that has
//! entered its speaker's namespace, with a current-thread tokio runtime of its own.
//!
//! Needs root, iproute2, arping (Habets) and ndisc6; skips loudly without them unless
//! `PORTER_LAB_REQUIRE=1`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use porter::layer2::{InterfaceSpec, MacAddr, Responder, ResponderConfig};
use porter::telemetry::{Layer2Labels, Metrics};
use tokio::sync::{oneshot, watch};

const VIP4: &str = "198.51.100.10";
const VIP4_UNOWNED: &str = "198.51.100.99";
const VIP6: &str = "2001:db8:ffff:2::10";
const VIP6_UNOWNED: &str = "2001:db8:ffff:2::99";

/// Returns why the lab cannot run here, if it cannot.
fn lab_unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    for tool in ["ip", "arping", "ndisc6", "ping"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            return Some(format!("{tool} not installed (tests/deps.sh installs it)"));
        }
    }
    None
}

/// True when the test must run; false (after saying so) when it is skipped.
fn lab_or_skip(test: &str) -> bool {
    match lab_unavailable() {
        None => true,
        Some(why) if std::env::var("PORTER_LAB_REQUIRE").as_deref() == Ok("1") => {
            panic!("{test}: lab required (PORTER_LAB_REQUIRE=1) but {why}")
        }
        Some(why) => {
            eprintln!("SKIPPED: {test}: {why}");
            false
        }
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

fn must(args: &[&str]) {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The namespaces of one test: `l2-<test>-hub` holds the bridge, `l2-<test>-c` the client,
/// `l2-<test>-a` and `l2-<test>-b` the speakers. Removed on drop.
struct Lab {
    prefix: String,
    subnet: u8,
}

impl Lab {
    fn ns(&self, which: &str) -> String {
        format!("{}-{which}", self.prefix)
    }

    fn new(test: &str, subnet: u8) -> Lab {
        let lab = Lab {
            prefix: format!("l2-{test}"),
            subnet,
        };
        lab.cleanup();
        let hub = lab.ns("hub");
        must(&["ip", "netns", "add", &hub]);
        must(&["ip", "-n", &hub, "link", "add", "br0", "type", "bridge"]);
        // No multicast snooping: without an MLD querier the test would depend on the
        // bridge's flooding heuristics instead of on the responder.
        must(&[
            "ip",
            "-n",
            &hub,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        must(&["ip", "-n", &hub, "link", "set", "br0", "up"]);
        for (i, end) in ["c", "a", "b"].iter().enumerate() {
            let ns = lab.ns(end);
            must(&["ip", "netns", "add", &ns]);
            let port = format!("p-{end}");
            must(&[
                "ip", "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ]);
            must(&[
                "ip", "-n", &hub, "link", "set", &port, "master", "br0", "up",
            ]);
            let mac = lab.mac(end).to_string();
            must(&[
                "ip", "-n", &ns, "link", "set", "eth0", "address", &mac, "up",
            ]);
            must(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            let host = i + 1;
            must(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.202.{}.{host}/24", lab.subnet),
                "dev",
                "eth0",
            ]);
            must(&[
                "ip",
                "-n",
                &ns,
                "-6",
                "addr",
                "add",
                &format!("2001:db8:2{}::{host}/64", lab.subnet),
                "dev",
                "eth0",
                "nodad",
            ]);
        }
        let c = lab.ns("c");
        // The VIPs are on the link: the client resolves them with ARP / NDP directly.
        must(&[
            "ip",
            "-n",
            &c,
            "route",
            "add",
            "198.51.100.0/24",
            "dev",
            "eth0",
        ]);
        must(&[
            "ip",
            "-n",
            &c,
            "-6",
            "route",
            "add",
            "2001:db8:ffff:2::/64",
            "dev",
            "eth0",
        ]);
        // Keep learned entries REACHABLE for minutes: the client then never re-asks by
        // itself during a test, so a changed entry can only come from an announcement.
        for family in ["ipv4", "ipv6"] {
            must(&[
                "ip",
                "netns",
                "exec",
                &c,
                "sysctl",
                "-qw",
                &format!("net.{family}.neigh.eth0.base_reachable_time_ms=600000"),
            ]);
        }
        lab
    }

    /// Deterministic MACs: 02:00:00:00:<subnet>:<1 client, 2 speaker a, 3 speaker b>.
    fn mac(&self, end: &str) -> MacAddr {
        let host = match end {
            "c" => 1,
            "a" => 2,
            _ => 3,
        };
        MacAddr([0x02, 0, 0, 0, self.subnet, host])
    }

    fn client(&self, args: &[&str]) -> Output {
        let ns = self.ns("c");
        let mut full = vec!["ip", "netns", "exec", &ns];
        full.extend_from_slice(args);
        run(&full)
    }

    /// MACs that answered an ARP request for `ip` (arping, two requests).
    fn arping(&self, ip: &str) -> Vec<MacAddr> {
        let out = self.client(&["arping", "-c", "2", "-W", "0.3", "-i", "eth0", ip]);
        macs_in(&String::from_utf8_lossy(&out.stdout), "bytes from ")
    }

    /// MACs that answered a Neighbor Solicitation for `ip` (ndisc6, all responses).
    fn ndisc6(&self, ip: &str) -> Vec<MacAddr> {
        let out = self.client(&["ndisc6", "-m", "-n", "-r", "2", "-w", "400", ip, "eth0"]);
        macs_in(
            &String::from_utf8_lossy(&out.stdout),
            "Target link-layer address: ",
        )
    }

    /// The MAC the client's neighbor table holds for `ip`, if any.
    fn neighbor(&self, ip: &str) -> Option<MacAddr> {
        let out = self.client(&["ip", "neigh", "show", ip, "dev", "eth0"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            if w == "lladdr" {
                return words.next().and_then(|m| m.parse().ok());
            }
        }
        None
    }

    fn cleanup(&self) {
        for end in ["c", "a", "b", "hub"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(end)])
                .output();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Every MAC following `marker` in a tool's output.
fn macs_in(text: &str, marker: &str) -> Vec<MacAddr> {
    text.lines()
        .filter_map(|l| {
            let rest = &l[l.find(marker)? + marker.len()..];
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect()
}

/// A responder running inside a speaker namespace.
struct Speaker {
    owned: watch::Sender<BTreeSet<IpAddr>>,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Speaker {
    fn start(lab: &Lab, end: &str, owned: &[&str]) -> Speaker {
        let path = PathBuf::from("/run/netns").join(lab.ns(end));
        let node = format!("node-{end}");
        let metrics = Arc::new(Metrics::new());
        let (owned_tx, owned_rx) = watch::channel(set(owned));
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_metrics = metrics.clone();
        let thread = thread::spawn(move || {
            // Only this thread enters the namespace; the runtime is created afterwards, on
            // this thread, so its sockets are opened in the speaker's namespace.
            if let Err(e) = porter::sys::enter_network_namespace(&path) {
                let _ = ready_tx.send(Err(format!("setns {}: {e}", path.display())));
                return;
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("current-thread runtime");
            runtime.block_on(async move {
                let mut config = ResponderConfig::new(node);
                config.announce_interval = Duration::from_millis(300);
                let started = "eth0"
                    .parse::<InterfaceSpec>()
                    .map_err(|e| e.to_string())
                    .and_then(|spec| spec.resolve().map_err(|e| e.to_string()))
                    .and_then(|iface| {
                        Responder::start(iface, owned_rx, config, thread_metrics)
                            .map_err(|e| e.to_string())
                    });
                match started {
                    Ok(responder) => {
                        let _ = ready_tx.send(Ok(responder.interface().mac));
                        let _ = stop_rx.await;
                        responder.stop().await.expect("responder stops cleanly");
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        });
        let mac = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("speaker thread reports")
            .unwrap_or_else(|e| panic!("speaker {end}: {e}"));
        assert_eq!(mac, lab.mac(end), "the responder uses the interface's MAC");
        Speaker {
            owned: owned_tx,
            metrics,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    fn own(&self, ips: &[&str]) {
        self.owned.send_replace(set(ips));
    }

    fn counter(&self, ip: &str, which: &str) -> u64 {
        let l = Layer2Labels { ip: ip.into() };
        match which {
            "requests" => self
                .metrics
                .layer2_requests_received
                .get_or_create(&l)
                .get(),
            "responses" => self.metrics.layer2_responses_sent.get_or_create(&l).get(),
            _ => self.metrics.layer2_gratuitous_sent.get_or_create(&l).get(),
        }
    }

    fn stop(mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            t.join().expect("speaker thread");
        }
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn set(ips: &[&str]) -> BTreeSet<IpAddr> {
    ips.iter()
        .map(|s| s.parse().expect("test address"))
        .collect()
}

/// Polls `f` until it returns true or `within` passes; returns the time it took.
fn wait_for(within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if f() {
            return Some(start.elapsed());
        }
        thread::sleep(Duration::from_millis(50));
    }
    None
}

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
    let _ = lab.client(&["ping", "-c", "1", "-W", "1", VIP4]);
    let _ = lab.client(&["ping", "-6", "-c", "1", "-W", "1", VIP6]);
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
