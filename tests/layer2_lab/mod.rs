//! Lab harness shared by the layer-2 namespace tests: a hub namespace with a bridge, a
//! client namespace and two speaker namespaces, responders run on threads that entered a
//! speaker namespace, and an in-memory lease store for elections.
// Each test crate uses a different part of the harness.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use porter::layer2::election::LeaseRecord;
use porter::layer2::ownership::{Election, ElectionConfig, LeaseStore, StoreError, VersionedLease};
use porter::layer2::{InterfaceSpec, MacAddr, Responder, ResponderConfig};
use porter::telemetry::{Layer2Labels, Metrics};
use tokio::sync::{oneshot, watch};

pub const VIP4: &str = "198.51.100.10";
pub const VIP4_UNOWNED: &str = "198.51.100.99";
pub const VIP6: &str = "2001:db8:ffff:2::10";
pub const VIP6_UNOWNED: &str = "2001:db8:ffff:2::99";

/// Returns why the lab cannot run here, if it cannot.
fn lab_unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    for tool in ["ip", "arping", "ndisc6", "ping", "tcpdump", "timeout"] {
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
pub fn lab_or_skip(test: &str) -> bool {
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

pub fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

pub fn must(args: &[&str]) {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The namespaces of one test: `<prefix>-hub` holds the bridge, `<prefix>-c` the client,
/// `<prefix>-a` and `<prefix>-b` the speakers. Removed on drop.
pub struct Lab {
    prefix: String,
    subnet: u8,
    /// First three octets of the link's IPv4 /24 (client .1, speaker a .2, b .3).
    v4: String,
    /// The link's IPv6 /64, without `::` (client ::1, speaker a ::2, b ::3).
    v6: String,
}

impl Lab {
    pub fn ns(&self, which: &str) -> String {
        format!("{}-{which}", self.prefix)
    }

    /// Namespaces `l2-<test>-…` on 10.202.<subnet>.0/24 and 2001:db8:2<subnet>::/64.
    pub fn new(test: &str, subnet: u8) -> Lab {
        Lab::with(
            &format!("l2-{test}"),
            subnet,
            &format!("10.202.{subnet}"),
            &format!("2001:db8:2{subnet}"),
        )
    }

    /// Namespaces `<prefix>-…` on `<v4>.0/24` and `<v6>::/64`; `subnet` picks the MACs.
    pub fn with(prefix: &str, subnet: u8, v4: &str, v6: &str) -> Lab {
        let lab = Lab {
            prefix: prefix.to_owned(),
            subnet,
            v4: v4.to_owned(),
            v6: v6.to_owned(),
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
                &format!("{}.{host}/24", lab.v4),
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
                &format!("{}::{host}/64", lab.v6),
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

    /// The address of `end` (`c`, `a` or `b`) on the link, IPv4 or IPv6.
    pub fn addr(&self, end: &str, v6: bool) -> String {
        let host = host(end);
        if v6 {
            format!("{}::{host}", self.v6)
        } else {
            format!("{}.{host}", self.v4)
        }
    }

    /// Deterministic MACs: 02:00:00:00:<subnet>:<1 client, 2 speaker a, 3 speaker b>.
    pub fn mac(&self, end: &str) -> MacAddr {
        MacAddr([0x02, 0, 0, 0, self.subnet, host(end)])
    }

    pub fn client(&self, args: &[&str]) -> Output {
        let ns = self.ns("c");
        let mut full = vec!["ip", "netns", "exec", &ns];
        full.extend_from_slice(args);
        run(&full)
    }

    /// MACs that answered an ARP request for `ip` (arping, two requests).
    pub fn arping(&self, ip: &str) -> Vec<MacAddr> {
        let out = self.client(&["arping", "-c", "2", "-W", "0.3", "-i", "eth0", ip]);
        macs_in(&String::from_utf8_lossy(&out.stdout), "bytes from ")
    }

    /// MACs that answered a Neighbor Solicitation for `ip` (ndisc6, all responses).
    pub fn ndisc6(&self, ip: &str) -> Vec<MacAddr> {
        let out = self.client(&["ndisc6", "-m", "-n", "-r", "2", "-w", "400", ip, "eth0"]);
        macs_in(
            &String::from_utf8_lossy(&out.stdout),
            "Target link-layer address: ",
        )
    }

    /// The MAC the client's neighbor table holds for `ip`, if any.
    pub fn neighbor(&self, ip: &str) -> Option<MacAddr> {
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

/// The client got answers, all from `mac` (background probes may add to them).
pub fn only_from(macs: Vec<MacAddr>, mac: MacAddr) {
    assert!(
        !macs.is_empty() && macs.iter().all(|m| *m == mac),
        "answers {macs:?}, expected only {mac}"
    );
}

/// Host number of a lab end: client 1, speaker a 2, speaker b 3.
fn host(end: &str) -> u8 {
    match end {
        "c" => 1,
        "a" => 2,
        _ => 3,
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
pub struct Speaker {
    owned: watch::Sender<BTreeSet<IpAddr>>,
    pub metrics: Arc<Metrics>,
    /// How the responder ended, once it has.
    ended: Arc<Mutex<Option<Result<(), String>>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Speaker {
    /// A responder answering for `owned` (the test changes it with [`Speaker::own`]).
    pub fn start(lab: &Lab, end: &str, owned: &[&str]) -> Speaker {
        Self::spawn(lab, end, set(owned), None)
    }

    /// A responder whose owned set is decided by one election per address in `ips`,
    /// against `store` (as this speaker sees it).
    pub fn start_elected(lab: &Lab, end: &str, ips: &[&str], store: LeaseClient) -> Speaker {
        let ips: Vec<IpAddr> = set(ips).into_iter().collect();
        Self::spawn(lab, end, BTreeSet::new(), Some((ips, store)))
    }

    fn spawn(
        lab: &Lab,
        end: &str,
        owned: BTreeSet<IpAddr>,
        elected: Option<(Vec<IpAddr>, LeaseClient)>,
    ) -> Speaker {
        let path = PathBuf::from("/run/netns").join(lab.ns(end));
        let node = format!("node-{end}");
        let metrics = Arc::new(Metrics::new());
        let (owned_tx, owned_rx) = watch::channel(owned);
        let election_owned = owned_tx.clone();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_metrics = metrics.clone();
        let ended = Arc::new(Mutex::new(None));
        let thread_ended = ended.clone();
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
                let mut config = ResponderConfig::new(node.clone());
                config.announce_interval = Duration::from_millis(300);
                let started = "eth0"
                    .parse::<InterfaceSpec>()
                    .map_err(|e| e.to_string())
                    .and_then(|spec| spec.resolve().map_err(|e| e.to_string()))
                    .and_then(|iface| {
                        Responder::start(iface, owned_rx, config, thread_metrics.clone())
                            .map_err(|e| e.to_string())
                    });
                let responder = match started {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let (_eligible_tx, eligible_rx) = watch::channel(true);
                let mut elections = Vec::new();
                if let Some((ips, store)) = elected {
                    let store = Arc::new(store);
                    for ip in ips {
                        let election = Election::spawn(
                            ip,
                            store.clone(),
                            ElectionConfig::new(node.clone()),
                            eligible_rx.clone(),
                            election_owned.clone(),
                            thread_metrics.clone(),
                        )
                        .expect("default timings are valid");
                        elections.push(election);
                    }
                }
                drop(election_owned);
                let _ = ready_tx.send(Ok(responder.interface().mac));
                tokio::pin!(stop_rx);
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {
                            if !responder.is_running() {
                                break;
                            }
                        }
                    }
                }
                // Like a crash: nothing is released; the leases are left to expire.
                drop(elections);
                let result = responder.stop().await.map_err(|e| e.to_string());
                *thread_ended.lock().unwrap() = Some(result);
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
            ended,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn own(&self, ips: &[&str]) {
        self.owned.send_replace(set(ips));
    }

    pub fn counter(&self, ip: &str, which: &str) -> u64 {
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

    /// How the responder ended, if it has (by itself, or after [`Speaker::stop`]).
    pub fn ended(&self) -> Option<Result<(), String>> {
        self.ended.lock().unwrap().clone()
    }

    /// Stops the responder (and elections); it must have run without error.
    pub fn stop(mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            t.join().expect("speaker thread");
        }
        assert_eq!(
            self.ended(),
            Some(Ok(())),
            "the responder ended with an error"
        );
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

pub fn set(ips: &[&str]) -> BTreeSet<IpAddr> {
    ips.iter()
        .map(|s| s.parse().expect("test address"))
        .collect()
}

/// Polls `f` until it returns true or `within` passes; returns the time it took.
pub fn wait_for(within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if f() {
            return Some(start.elapsed());
        }
        thread::sleep(Duration::from_millis(50));
    }
    None
}

/// One write the store accepted.
#[derive(Clone, Debug)]
pub struct StoreWrite {
    /// When it was applied.
    pub at: Instant,
    /// The holder it wrote.
    pub holder: Option<String>,
}

#[derive(Default)]
struct StoreState {
    leases: BTreeMap<String, (LeaseRecord, u64)>,
    next_version: u64,
    /// Identities whose calls hang (a partition between them and the API).
    partitioned: BTreeSet<String>,
    log: Vec<StoreWrite>,
}

/// An in-memory lease store with compare-and-swap, shared by the speakers of one test
/// (each in its own runtime, hence a std mutex).
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<StoreState>>,
}

impl MemoryStore {
    /// The store as `identity` reaches it.
    pub fn client(&self, identity: &str) -> LeaseClient {
        LeaseClient {
            store: self.clone(),
            identity: identity.into(),
        }
    }

    /// Makes every call from `identity` hang (until the caller's timeout).
    pub fn partition(&self, identity: &str) {
        self.state
            .lock()
            .unwrap()
            .partitioned
            .insert(identity.into());
    }

    /// Every accepted write, in order.
    pub fn log(&self) -> Vec<StoreWrite> {
        self.state.lock().unwrap().log.clone()
    }
}

/// [`MemoryStore`] seen from one speaker.
pub struct LeaseClient {
    store: MemoryStore,
    identity: String,
}

impl LeaseClient {
    async fn reach(&self) {
        let partitioned = self
            .store
            .state
            .lock()
            .unwrap()
            .partitioned
            .contains(&self.identity);
        if partitioned {
            std::future::pending::<()>().await;
        }
        // A little API latency.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    fn write(
        &self,
        name: &str,
        record: &LeaseRecord,
        expected: Option<u64>,
    ) -> Result<String, StoreError> {
        let mut s = self.store.state.lock().unwrap();
        let current = s.leases.get(name).map(|(_, v)| *v);
        if current != expected {
            return Err(StoreError::Conflict);
        }
        s.next_version += 1;
        let version = s.next_version;
        s.leases.insert(name.into(), (record.clone(), version));
        s.log.push(StoreWrite {
            at: Instant::now(),
            holder: record.holder.clone(),
        });
        Ok(version.to_string())
    }
}

impl LeaseStore for LeaseClient {
    async fn get(&self, name: &str) -> Result<Option<VersionedLease>, StoreError> {
        self.reach().await;
        let s = self.store.state.lock().unwrap();
        Ok(s.leases.get(name).map(|(record, version)| VersionedLease {
            record: record.clone(),
            version: version.to_string(),
        }))
    }

    async fn create(&self, name: &str, record: &LeaseRecord) -> Result<String, StoreError> {
        self.reach().await;
        self.write(name, record, None)
    }

    async fn replace(
        &self,
        name: &str,
        record: &LeaseRecord,
        version: &str,
    ) -> Result<String, StoreError> {
        self.reach().await;
        let expected = version
            .parse()
            .map_err(|_| StoreError::Other(format!("bad version {version:?}")))?;
        self.write(name, record, Some(expected))
    }
}

/// A frame a speaker sent for a VIP, from a bridge capture.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Capture time, seconds since the epoch.
    pub time: f64,
    /// Sender MAC.
    pub mac: MacAddr,
    /// What it was (the tcpdump summary).
    pub what: String,
}

/// Captures ARP and ICMPv6 on the lab bridge for `seconds` (tcpdump in the hub
/// namespace, ending by itself). Returns the running capture and its file.
pub fn capture(lab: &Lab, seconds: u32) -> (std::process::Child, PathBuf) {
    let file = std::env::temp_dir().join(format!("{}-{}.pcap", lab.ns("cap"), std::process::id()));
    let _ = std::fs::remove_file(&file);
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("hub"),
            "timeout",
            &seconds.to_string(),
            "tcpdump",
            "-i",
            "br0",
            "-n",
            "-U",
            "-w",
        ])
        .arg(&file)
        .arg("arp or icmp6")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tcpdump");
    // Let tcpdump open the interface before anything worth seeing happens.
    thread::sleep(Duration::from_millis(700));
    (child, file)
}

/// Every ARP reply, ARP announcement and Neighbor Advertisement for `vip4` / `vip6` in
/// the capture, with its sender MAC, in capture order.
pub fn answers_in(file: &std::path::Path, vip4: &str, vip6: &str) -> Vec<Seen> {
    let out = Command::new("tcpdump")
        .args(["-r"])
        .arg(file)
        .args(["-n", "-e", "-tt"])
        .output()
        .expect("tcpdump -r");
    let text = String::from_utf8_lossy(&out.stdout);
    let reply = format!("Reply {vip4} is-at");
    let announce = format!("who-has {vip4} tell {vip4}");
    let advert = format!("neighbor advertisement, tgt is {vip6},");
    text.lines()
        .filter(|l| l.contains(&reply) || l.contains(&announce) || l.contains(&advert))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let time = words.next()?.parse().ok()?;
            let mac = words.next()?.parse().ok()?;
            Some(Seen {
                time,
                mac,
                what: l.to_owned(),
            })
        })
        .collect()
}

/// Runs `script` in the client namespace with `sh -c` under `timeout seconds`, in the
/// background (it ends by itself).
pub fn client_background(lab: &Lab, seconds: u32, script: &str) -> std::process::Child {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("c"),
            "timeout",
            &seconds.to_string(),
            "sh",
            "-c",
            script,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("client background probe")
}

/// Reads the capture of a handover: every answer for `vip4` / `vip6` came from `from` or
/// `to` (lab ends), all of `from`'s before any of `to`'s (never both at once). Returns the
/// last answer of `from` and the first of `to`.
pub fn handover_in(
    lab: &Lab,
    file: &std::path::Path,
    vip4: &str,
    vip6: &str,
    from: &str,
    to: &str,
) -> (Seen, Seen) {
    let seen = answers_in(file, vip4, vip6);
    let (mac_from, mac_to) = (lab.mac(from), lab.mac(to));
    let last_from = seen
        .iter()
        .rposition(|s| s.mac == mac_from)
        .unwrap_or_else(|| panic!("{from} answered in the capture: {seen:#?}"));
    let first_to = seen
        .iter()
        .position(|s| s.mac == mac_to)
        .unwrap_or_else(|| panic!("{to} answered in the capture: {seen:#?}"));
    assert!(
        last_from < first_to,
        "{from} answered after {to} had started: {:#?}",
        &seen[first_to.min(last_from)..=first_to.max(last_from)]
    );
    let strangers: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.mac != mac_from && s.mac != mac_to)
        .collect();
    assert!(strangers.is_empty(), "answers from others: {strangers:#?}");
    eprintln!(
        "capture: {} answers from {from}, then {} from {to}; silent for {:.3} s in between",
        last_from + 1,
        seen.len() - first_to,
        seen[first_to].time - seen[last_from].time
    );
    (seen[last_from].clone(), seen[first_to].clone())
}
