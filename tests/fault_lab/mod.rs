//! The fault lab: `porter standalone` as a child process in a network namespace, its config
//! written from [`Conf`] and reloaded with SIGHUP, and readers of a router's WHOLE table of
//! porter's routes ([`Table`]), so that a test compares sets (no lost route, no stale one)
//! instead of looking up one prefix.
//!
//! Namespaces are named `flt-<tag>-<pid>-<n>`; links use 10.200.80.0/24 – 10.200.89.0/24 and
//! `2001:db8:80:f0XX::/64`, VIPs come from 198.51.100.0/24 and `2001:db8:80::/112`.

#![allow(dead_code)] // not every test uses every helper

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use porter_lab::{
    available, Bird, BirdConfig, BirdPeer, Daemon, Frr, FrrConfig, FrrNeighbor, Netns, Tool,
};
use serde_json::Value;

/// porter's AS.
pub const PORTER_AS: u32 = 65001;
/// Every router's AS.
pub const ROUTER_AS: u32 = 65000;
/// The IPv4 VIP pool (a documentation /24).
pub const POOL_V4: &str = "198.51.100.0/24";
/// The IPv6 VIP pool: 65,536 addresses, room for the burst test.
pub const POOL_V6: &str = "2001:db8:80::/112";
/// porter's HTTP endpoint inside its namespace.
const HTTP: &str = "127.0.0.1:9580";

/// Whether the test can run (root, the tools, porter's `standalone` command); prints a loud
/// `SKIPPED` line otherwise, and panics instead under `PORTER_LAB_REQUIRE=1`.
pub fn ready(tools: &[Tool]) -> bool {
    let mut tools = tools.to_vec();
    tools.push(Tool::Root);
    if !available(&tools) {
        return false;
    }
    for tool in ["tc", "ss", "curl"] {
        if porter_lab::find_binary(tool).is_none() {
            let msg = format!("SKIPPED: fault tests: {tool} not installed");
            if std::env::var("PORTER_LAB_REQUIRE").is_ok_and(|v| v == "1") {
                panic!("PORTER_LAB_REQUIRE=1 but {msg}");
            }
            eprintln!("\n*** {msg} ***\n");
            return false;
        }
    }
    true
}

/// Held by each fault case for its whole run, so that the cases run one at a time even
/// under `cargo test`'s default parallelism (CI runs the workspace that way): they measure
/// timings — a 0.9 s outage against a 3 s hold time, a burst cut at a tenth — that a second
/// case loading the same cores would blur.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static GATE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // a failed case poisons the lock; the next one still runs
    GATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A namespace `flt-<tag>-…` whose interfaces skip IPv6 duplicate address detection (a
/// tentative address cannot carry a session for ~2 s).
pub fn netns(tag: &str) -> Netns {
    let ns = Netns::with_prefix("flt", tag).unwrap_or_else(|e| panic!("netns {tag}: {e:#}"));
    for key in ["default", "all"] {
        let _ = ns.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{key}.accept_dad=0"),
        ]);
    }
    ns
}

/// Link number `x` (80–89): `a` gets 10.200.x.1 and 2001:db8:80:f0x::1, `b` .2 and ::2; more
/// hosts on the same link with [`add_host`].
pub fn link(a: &Netns, a_if: &str, b: &Netns, b_if: &str, x: u8) {
    assert!(
        (80..=89).contains(&x),
        "link {x} is outside this suite's range"
    );
    a.veth(a_if, b, b_if).expect("veth");
    add_host(a, a_if, x, 1);
    add_host(b, b_if, x, 2);
}

/// Adds host `h` of link `x` (10.200.x.h/24, 2001:db8:80:f0x::h/64) to `ifname`.
pub fn add_host(ns: &Netns, ifname: &str, x: u8, h: u8) {
    ns.addr(ifname, &format!("10.200.{x}.{h}/24"))
        .expect("addr");
    ns.addr(ifname, &format!("2001:db8:80:f0{x:02}::{h:x}/64"))
        .expect("addr");
}

/// Host `h` of link `x`, IPv4.
pub fn v4(x: u8, h: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 200, x, h))
}

/// Host `h` of link `x`, IPv6.
pub fn v6(x: u8, h: u8) -> IpAddr {
    format!("2001:db8:80:f0{x:02}::{h:x}").parse().expect("v6")
}

/// IPv4 VIP number `i` (1–254) of [`POOL_V4`].
pub fn vip4(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, i))
}

/// IPv6 VIP number `i` (1–65535) of [`POOL_V6`].
pub fn vip6(i: u16) -> IpAddr {
    format!("2001:db8:80::{i:x}").parse().expect("v6")
}

// ---------------------------------------------------------------------------------------------
// porter's configuration and the table it should produce

/// One BgpPeer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// metadata.name (the key in `/status`).
    pub name: String,
    /// The router's address.
    pub neighbor: IpAddr,
    /// porter's address on the session: bound for active connects, and the next hop the
    /// router must see.
    pub local: IpAddr,
    /// Hold time offered (keepalive a third of it).
    pub hold_time: u16,
    /// `spec.bfd`, as a YAML flow mapping's inside (`enabled: true, multiplier: 3`).
    pub bfd: Option<String>,
}

impl Peer {
    /// A session from porter's `local` to the router's `neighbor`, hold time 9 s.
    pub fn new(name: &str, neighbor: IpAddr, local: IpAddr) -> Peer {
        Peer {
            name: name.into(),
            neighbor,
            local,
            hold_time: 9,
            bfd: None,
        }
    }

    /// Sets `spec.bfd` to `{fields}`.
    pub fn bfd(mut self, fields: &str) -> Peer {
        self.bfd = Some(fields.to_string());
        self
    }

    /// Sets the hold time.
    pub fn hold(mut self, secs: u16) -> Peer {
        self.hold_time = secs;
        self
    }
}

/// A whole standalone file: BgpConf, the peers, both pools, one Service per VIP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conf {
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// Graceful restart time, when porter advertises graceful restart.
    pub graceful_restart: Option<u16>,
    /// The BgpPeers.
    pub peers: Vec<Peer>,
    /// The Services' load-balancer addresses.
    pub vips: BTreeSet<IpAddr>,
}

impl Conf {
    /// No peers, no VIPs.
    pub fn new(router_id: &str) -> Conf {
        Conf {
            router_id: router_id.parse().expect("router id"),
            graceful_restart: None,
            peers: Vec::new(),
            vips: BTreeSet::new(),
        }
    }

    /// Adds a peer.
    pub fn peer(mut self, p: Peer) -> Conf {
        self.peers.push(p);
        self
    }

    /// Replaces the VIPs.
    pub fn vips(mut self, vips: impl IntoIterator<Item = IpAddr>) -> Conf {
        self.vips = vips.into_iter().collect();
        self
    }

    /// The YAML stream, one short flow-style document per object so that tens of thousands
    /// of Services stay well under porter's 16 MiB file limit.
    pub fn render(&self) -> String {
        let mut c = String::with_capacity(300 * (self.vips.len() + 8));
        let _ = write!(
            c,
            "apiVersion: network.kubesphere.io/v1alpha2\nkind: BgpConf\nmetadata: {{name: default}}\n\
             spec: {{as: {PORTER_AS}, routerId: \"{}\"",
            self.router_id
        );
        if let Some(t) = self.graceful_restart {
            let _ = write!(c, ", gracefulRestart: {{enabled: true, restartTime: {t}}}");
        }
        c.push_str("}\n");
        for p in &self.peers {
            let afi = if p.neighbor.is_ipv4() {
                "AFI_IP"
            } else {
                "AFI_IP6"
            };
            let _ = write!(
                c,
                "---\napiVersion: network.kubesphere.io/v1alpha2\nkind: BgpPeer\nmetadata: {{name: {}}}\n\
                 spec:\n  conf: {{neighborAddress: \"{}\", peerAs: {ROUTER_AS}}}\n  \
                 timers: {{config: {{holdTime: {}, keepaliveInterval: {}, connectRetry: 1}}}}\n  \
                 transport: {{localAddress: \"{}\"}}\n  \
                 afiSafis: [{{config: {{family: {{afi: {afi}, safi: SAFI_UNICAST}}, enabled: true}}}}]\n",
                p.name,
                p.neighbor,
                p.hold_time,
                (p.hold_time / 3).max(1),
                p.local
            );
            if let Some(bfd) = &p.bfd {
                let _ = writeln!(c, "  bfd: {{{bfd}}}");
            }
        }
        for (name, pool) in [("pool-v4", POOL_V4), ("pool-v6", POOL_V6)] {
            let _ = write!(
                c,
                "---\napiVersion: network.kubesphere.io/v1alpha2\nkind: Eip\nmetadata: {{name: {name}}}\n\
                 spec: {{address: \"{pool}\", protocol: bgp}}\n"
            );
        }
        for vip in &self.vips {
            let (pool, family) = match vip {
                IpAddr::V4(_) => ("pool-v4", ""),
                IpAddr::V6(_) => (
                    "pool-v6",
                    ", ipFamilies: [IPv6], ipFamilyPolicy: SingleStack",
                ),
            };
            let _ = write!(
                c,
                "---\n{{apiVersion: v1, kind: Service, metadata: {{name: {}, namespace: default, \
                 annotations: {{lb.kubesphere.io/v1alpha1: porter, eip.openelb.kubesphere.io/v1alpha2: {pool}}}}}, \
                 spec: {{type: LoadBalancer, loadBalancerIP: \"{vip}\"{family}, ports: [{{port: 80}}]}}}}\n",
                service_name(*vip)
            );
        }
        c
    }

    /// What porter's `/status` should list as advertised: every VIP to every peer of its
    /// family, via porter's address on that session.
    pub fn desired_status(&self) -> BTreeMap<String, BTreeSet<(String, IpAddr)>> {
        self.vips
            .iter()
            .map(|v| {
                let peers = self
                    .peers
                    .iter()
                    .filter(|p| p.local.is_ipv4() == v.is_ipv4());
                (
                    v.to_string(),
                    peers.map(|p| (p.name.clone(), p.local)).collect(),
                )
            })
            .collect()
    }

    /// What a router with sessions to `sessions` (porter's local addresses) must hold: each
    /// VIP of a session's family, via porter's address on that session.
    pub fn desired(&self, sessions: &[IpAddr]) -> Table {
        let mut t = Table::new();
        for p in self.peers.iter().filter(|p| sessions.contains(&p.local)) {
            for vip in self
                .vips
                .iter()
                .filter(|v| v.is_ipv4() == p.local.is_ipv4())
            {
                t.entry(host_prefix(*vip)).or_default().insert(p.local);
            }
        }
        t
    }
}

/// The Service carrying `vip`: the name follows from the address, so a VIP that stays in the
/// file keeps its Service (and porter keeps its allocation) across reloads.
fn service_name(vip: IpAddr) -> String {
    format!("vip-{}", vip.to_string().replace(['.', ':'], "-")).replace("--", "-z-")
}

fn host_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(_) => format!("{ip}/32"),
        IpAddr::V6(_) => format!("{ip}/128"),
    }
}

/// `porter standalone` in a namespace; SIGKILLed when dropped.
pub struct Porter {
    netns: String,
    dir: PathBuf,
    daemon: Option<Daemon>,
    conf: Conf,
    /// Extra arguments of `porter standalone`.
    args: Vec<String>,
}

impl Porter {
    /// Writes `conf` and starts porter; waits until `/status` answers.
    pub fn start(ns: &Netns, conf: Conf) -> Porter {
        let mut p = Porter {
            netns: ns.name().to_owned(),
            dir: ns.dir().to_owned(),
            daemon: None,
            conf,
            args: Vec::new(),
        };
        p.write();
        p.spawn(ns);
        p
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("porter.yaml")
    }

    /// The log file (appended to across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("porter.log")
    }

    fn write(&self) {
        // write then rename: a reload never reads half a file
        let tmp = self.dir.join("porter.yaml.tmp");
        std::fs::write(&tmp, self.conf.render()).expect("writing porter.yaml");
        std::fs::rename(&tmp, self.config_path()).expect("renaming porter.yaml");
    }

    fn spawn(&mut self, ns: &Netns) {
        let config = self.config_path();
        let mut args = vec![
            "standalone".to_owned(),
            "--config".into(),
            config.display().to_string(),
            "--node-name".into(),
            "node1".into(),
            "--http".into(),
            HTTP.into(),
        ];
        args.extend(self.args.iter().cloned());
        let d = ns
            .spawn("porter.log", Path::new(env!("CARGO_BIN_EXE_porter")), &args)
            .expect("spawning porter");
        self.daemon = Some(d);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            // /readyz, not /status: with tens of thousands of Services /status takes seconds
            // to build, and the burst would be over before it answers
            if self.get("/readyz").is_ok() {
                return;
            }
            if !self.daemon.as_mut().is_some_and(Daemon::is_running) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("porter did not start\n{}", self.log_tail(40));
    }

    /// porter's process id.
    pub fn pid(&self) -> u32 {
        self.daemon.as_ref().expect("porter runs").pid()
    }

    /// The config in effect (or about to be, after [`Porter::reload`]).
    pub fn conf(&self) -> &Conf {
        &self.conf
    }

    /// Writes `conf` and sends SIGHUP.
    pub fn reload(&mut self, conf: Conf) {
        self.conf = conf;
        self.write();
        signal(self.pid(), "HUP");
    }

    /// SIGKILL: no NOTIFICATION, no flush by porter; the kernel closes the sockets.
    pub fn kill(&mut self) {
        if let Some(d) = self.daemon.take() {
            signal(d.pid(), "KILL");
            drop(d); // reaps it
        }
    }

    /// Starts porter again (after [`Porter::kill`]) with `conf`.
    pub fn restart(&mut self, ns: &Netns, conf: Conf) {
        self.kill();
        self.conf = conf;
        self.write();
        self.spawn(ns);
    }

    /// GET `path` from porter's HTTP endpoint (curl inside the namespace): the body of a
    /// 2xx answer.
    pub fn get(&self, path: &str) -> Result<Vec<u8>> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.netns, "curl", "-sf", "-m", "10"])
            .arg(format!("http://{HTTP}{path}"))
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            bail!("curl {path}: {}", out.status);
        }
        Ok(out.stdout)
    }

    /// `/status` as JSON.
    pub fn status(&self) -> Result<Value> {
        serde_json::from_slice(&self.get("/status")?).context("/status is not JSON")
    }

    /// The value of metric `name` for peer `peer` in `/metrics` (`name{peer="…"} value`).
    pub fn metric(&self, name: &str, peer: &str) -> Option<f64> {
        let text = String::from_utf8(self.get("/metrics").ok()?).ok()?;
        let head = format!("{name}{{peer=\"{peer}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&head))
            .and_then(|v| v.trim().parse().ok())
    }

    /// What porter says it advertises to `peer`: the `porter_bgp_prefixes_advertised` gauge.
    pub fn advertised(&self, peer: &str) -> Option<f64> {
        self.metric("porter_bgp_prefixes_advertised", peer)
    }

    /// What `/status` says porter advertises: VIP → {(peer, next hop)}, from each Service's
    /// `advertised` list.
    pub fn status_advertised(&self) -> Result<BTreeMap<String, BTreeSet<(String, IpAddr)>>> {
        let st = self.status()?;
        let mut out = BTreeMap::<String, BTreeSet<(String, IpAddr)>>::new();
        for svc in st["services"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, v)| v)
        {
            let Some(ip) = svc["ip"].as_str() else {
                continue;
            };
            let set = out.entry(ip.to_owned()).or_default();
            for a in svc["advertised"].as_array().into_iter().flatten() {
                let peer = a["peer"].as_str().unwrap_or_default().to_owned();
                for h in a["nextHops"].as_array().into_iter().flatten() {
                    let h = h.as_str().unwrap_or_default();
                    set.insert((
                        peer.clone(),
                        h.parse().with_context(|| format!("next hop {h}"))?,
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The session-state gauges of `/metrics`: peer → the states whose gauge reads 1.
    pub fn state_gauges(&self) -> BTreeMap<String, Vec<String>> {
        let text = self
            .get("/metrics")
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let mut out = BTreeMap::<String, Vec<String>>::new();
        for l in text.lines() {
            let Some(rest) = l.strip_prefix("porter_bgp_session_state{") else {
                continue;
            };
            let label = |k: &str| {
                let at = rest.find(&format!("{k}=\""))? + k.len() + 2;
                Some(rest[at..].split('"').next()?.to_owned())
            };
            let (Some(peer), Some(state)) = (label("peer"), label("state")) else {
                continue;
            };
            let on = l.rsplit(' ').next() == Some("1");
            let e = out.entry(peer).or_default();
            if on {
                e.push(state);
            }
        }
        out
    }

    /// Session state of every peer (`ESTABLISHED`, `OPENSENT` …).
    pub fn states(&self) -> BTreeMap<String, String> {
        let Ok(st) = self.status() else {
            return BTreeMap::new();
        };
        st["bgpPeers"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                let s = v["peerState"]["sessionState"].as_str().unwrap_or("?");
                (k.clone(), s.to_owned())
            })
            .collect()
    }

    /// Whether every peer of the current config is Established.
    pub fn all_established(&self) -> bool {
        let states = self.states();
        self.conf
            .peers
            .iter()
            .all(|p| states.get(&p.name).is_some_and(|s| s == "ESTABLISHED"))
    }

    /// The `flops` counter of each peer (gobgp's name for session drops from Established).
    pub fn flaps(&self) -> BTreeMap<String, u64> {
        let st = self.status().unwrap_or_default();
        st["bgpPeers"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v["peerState"]["flops"].as_u64().unwrap_or(0)))
            .collect()
    }

    /// Resident set size (KiB) and open file descriptors of the process, from /proc.
    pub fn footprint(&self) -> (u64, usize) {
        let pid = self.pid();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0);
        (rss, fds)
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- porter log {} (last {n} lines) ---\n{}",
            self.log_path().display(),
            lines[lines.len().saturating_sub(n)..].join("\n")
        )
    }
}

impl Drop for Porter {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail(60));
        }
        self.kill();
    }
}

/// Sends `sig` to `pid` (kill(1), so the test needs no libc).
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -s {sig} {pid} failed");
}

// ---------------------------------------------------------------------------------------------
// routers

/// One session as a router sees it: porter's address and the router's own.
#[derive(Clone, Copy, Debug)]
pub struct Session {
    /// BIRD protocol name (FRR keys neighbors by address).
    pub name: &'static str,
    /// porter's address.
    pub porter: IpAddr,
    /// The router's address.
    pub router: IpAddr,
}

/// BIRD config with one protocol per session, active (so both sides connect and collisions
/// happen), hold time `hold`, graceful restart helper when `gr`.
pub fn bird_config(router_id: IpAddr, sessions: &[Session], hold: u16, gr: bool) -> BirdConfig {
    let IpAddr::V4(id) = router_id else {
        panic!("router id must be IPv4")
    };
    let mut c = BirdConfig::new(id, ROUTER_AS).without_kernel();
    for s in sessions {
        let mut p = BirdPeer::new(s.name, s.porter, PORTER_AS)
            .local_address(s.router)
            .hold_time(hold);
        if gr {
            p = p.graceful_restart();
        }
        c = c.peer(p);
    }
    c
}

/// FRR config (zebra on: eBGP needs connected routes) with one neighbor per session.
pub fn frr_config(router_id: IpAddr, sessions: &[Session], hold: u16, gr: bool) -> FrrConfig {
    let IpAddr::V4(id) = router_id else {
        panic!("router id must be IPv4")
    };
    let mut c = FrrConfig::new(id, ROUTER_AS);
    c.graceful_restart = gr;
    for s in sessions {
        c = c.neighbor(
            FrrNeighbor::new(s.porter, PORTER_AS)
                .update_source(s.router)
                .hold_time(hold),
        );
    }
    c
}

/// BIRD in `rb` and FRR in `rf` with the sessions of each (router identifiers 10.200.xb.1
/// and 10.200.xf.1, the router's first host on its link).
pub fn start_routers(
    (rb, xb, bird_sessions): (&Netns, u8, &[Session]),
    (rf, xf, frr_sessions): (&Netns, u8, &[Session]),
    hold: u16,
    gr: bool,
) -> (Bird, Frr) {
    let bird = Bird::start(rb, &bird_config(v4(xb, 1), bird_sessions, hold, gr)).expect("BIRD");
    let frr = Frr::start(rf, &frr_config(v4(xf, 1), frr_sessions, hold, gr)).expect("FRR");
    (bird, frr)
}

/// The porter addresses of `sessions`.
pub fn porter_addrs(sessions: &[Session]) -> Vec<IpAddr> {
    sessions.iter().map(|s| s.porter).collect()
}

/// The BIRD protocol names of `sessions`.
pub fn names(sessions: &[Session]) -> Vec<&'static str> {
    sessions.iter().map(|s| s.name).collect()
}

/// BIRD's and FRR's sessions and routes, for failure messages.
pub fn show_routers(bird: Option<&Bird>, frr: Option<&Frr>) -> String {
    let mut out = String::new();
    if let Some(b) = bird {
        let _ = writeln!(
            out,
            "--- BIRD ---\n{}",
            b.birdc(&["show", "protocols"])
                .unwrap_or_else(|e| format!("{e:#}"))
        );
    }
    if let Some(f) = frr {
        let _ = writeln!(
            out,
            "--- FRR ---\n{}",
            f.vtysh(&["show bgp summary"])
                .unwrap_or_else(|e| format!("{e:#}"))
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// the router's view

/// A router's table of porter's routes: prefix → next hops (one per path).
pub type Table = BTreeMap<String, BTreeSet<IpAddr>>;

/// What differs between `want` and `got`, shortly: missing prefixes, extra (stale) ones, and
/// prefixes with other next hops; empty when equal.
pub fn diff(want: &Table, got: &Table) -> String {
    let mut lost = Vec::new();
    let mut stale = Vec::new();
    let mut wrong = Vec::new();
    for (p, hops) in want {
        match got.get(p) {
            None => lost.push(p.as_str()),
            Some(h) if h != hops => wrong.push(format!("{p}: want {hops:?}, got {h:?}")),
            Some(_) => {}
        }
    }
    for p in got.keys().filter(|p| !want.contains_key(*p)) {
        stale.push(p.as_str());
    }
    if lost.is_empty() && stale.is_empty() && wrong.is_empty() {
        return String::new();
    }
    let few = |v: &[&str]| v.iter().take(8).copied().collect::<Vec<_>>().join(" ");
    format!(
        "{} lost [{}], {} stale [{}], {} with other next hops {:?}",
        lost.len(),
        few(&lost),
        stale.len(),
        few(&stale),
        wrong.len(),
        wrong.iter().take(4).collect::<Vec<_>>()
    )
}

/// BIRD's whole table (`show route all`), keeping paths learned by the protocols in
/// `protocols`. BIRD 2.0 does not print whether a path is stale (graceful restart): a test
/// that needs to tell makes the old and the new set differ.
pub fn bird_table(bird: &Bird, protocols: &[&str]) -> Result<Table> {
    let out = Command::new("birdc")
        .arg("-s")
        .arg(bird.socket())
        .args(["show", "route", "all"])
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!("birdc show route: {}", out.status);
    }
    parse_bird_table(&String::from_utf8_lossy(&out.stdout), protocols)
}

/// Parses `birdc show route all`: a path starts with `PREFIX  unicast [PROTO …]` (or blanks
/// instead of the prefix for a further path), its next hop is a `via ADDR` line.
fn parse_bird_table(text: &str, protocols: &[&str]) -> Result<Table> {
    let mut table = Table::new();
    let mut prefix = String::new();
    // the protocol of the path being read
    let mut path: Option<String> = None;
    let mut hops: Vec<IpAddr> = Vec::new();
    let mut flush = |path: &mut Option<String>, prefix: &str, hops: &mut Vec<IpAddr>| {
        if let Some(proto) = path.take() {
            if protocols.contains(&proto.as_str()) {
                table
                    .entry(prefix.to_owned())
                    .or_default()
                    .extend(hops.drain(..));
            }
        }
        hops.clear();
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(at) = line.find(" [").filter(|_| line.contains("unicast [")) {
            flush(&mut path, &prefix, &mut hops);
            if !line.starts_with(char::is_whitespace) {
                prefix = line
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
            let proto = line[at + 2..]
                .split(|c: char| c.is_whitespace() || c == ']')
                .next()
                .unwrap_or_default()
                .to_owned();
            path = Some(proto);
        } else if let Some(v) = trimmed.strip_prefix("via ") {
            let a = v.split_whitespace().next().unwrap_or_default();
            hops.push(a.parse().with_context(|| format!("bad via in {line:?}"))?);
        }
    }
    flush(&mut path, &prefix, &mut hops);
    Ok(table)
}

/// FRR's whole IPv4 and IPv6 unicast tables (`show bgp … json`), keeping paths from the
/// neighbors in `peers`; a stale path (graceful restart) is keyed `stale:<prefix>`. IPv6
/// paths carry porter's global address and, on a shared link, a link-local one: only global
/// next hops are kept.
pub fn frr_table(frr: &Frr, peers: &[IpAddr]) -> Result<Table> {
    let mut table = Table::new();
    for fam in ["ipv4", "ipv6"] {
        let v = frr.json(&format!("show bgp {fam} unicast json"))?;
        let Some(routes) = v.get("routes").and_then(Value::as_object) else {
            continue;
        };
        for (prefix, paths) in routes {
            for path in paths.as_array().into_iter().flatten() {
                let peer: Option<IpAddr> = path
                    .get("peerId")
                    .and_then(Value::as_str)
                    .and_then(|p| p.parse().ok());
                if !peer.is_some_and(|p| peers.contains(&p)) {
                    continue;
                }
                let stale = path.get("stale").and_then(Value::as_bool) == Some(true);
                // FRR keys the IPv6 table by prefix without length in some versions
                let mut key = match path.get("prefixLen").and_then(Value::as_u64) {
                    Some(len) if !prefix.contains('/') => format!("{prefix}/{len}"),
                    _ => prefix.clone(),
                };
                if stale {
                    key = format!("stale:{key}");
                }
                let hops = table.entry(key).or_default();
                for nh in path
                    .get("nexthops")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if nh.get("scope").and_then(Value::as_str) == Some("link-local") {
                        continue;
                    }
                    if let Some(ip) = nh.get("ip").and_then(Value::as_str) {
                        hops.insert(ip.parse().with_context(|| format!("bad next hop {ip}"))?);
                    }
                }
            }
        }
    }
    Ok(table)
}

/// Polls `read` until it equals `want` or `timeout` passes; the time it took, or a panic
/// with the last difference and `diag()`.
pub fn wait_table(
    what: &str,
    timeout: Duration,
    want: &Table,
    mut read: impl FnMut() -> Result<Table>,
    diag: impl Fn() -> String,
) -> Duration {
    let start = Instant::now();
    let mut last;
    loop {
        match read() {
            Ok(got) => {
                let d = diff(want, &got);
                if d.is_empty() {
                    return start.elapsed();
                }
                last = d;
            }
            Err(e) => last = format!("{e:#}"),
        }
        if start.elapsed() > timeout {
            panic!(
                "{what}: the router's table is not the desired one after {timeout:?}: {last}\n{}",
                diag()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls `cond` until true; panics with `what` and `diag()` after `timeout`.
pub fn wait(
    what: &str,
    timeout: Duration,
    diag: impl Fn() -> String,
    mut cond: impl FnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}\n{}", diag());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn reads_every_path_of_every_prefix_of_the_given_protocols() {
        let text = "BIRD 2.0.12 ready.
Table master4:
198.51.100.1/32      unicast [p1 01:30:12.345] * (100) [AS65001i]
\tvia 10.200.83.101 on r-s
\tType: BGP univ
\tBGP.next_hop: 10.200.83.101
                     unicast [p2 01:30:12.345] (100) [AS65001i]
\tvia 10.200.83.102 on r-s
\tType: BGP univ
198.51.100.2/32      unicast [other 01:30:12.345] * (100) [AS65009i]
\tvia 10.200.83.9 on r-s
";
        let t = parse_bird_table(text, &["p1", "p2"]).unwrap();
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!(
            t["198.51.100.1/32"],
            BTreeSet::from([v4(83, 101), v4(83, 102)])
        );
    }

    #[test]
    fn diff_names_lost_stale_and_wrong_routes() {
        let want = Table::from([
            ("a".to_owned(), BTreeSet::from([v4(80, 2)])),
            ("b".to_owned(), BTreeSet::from([v4(80, 2)])),
        ]);
        let got = Table::from([
            ("b".to_owned(), BTreeSet::from([v4(80, 3)])),
            ("c".to_owned(), BTreeSet::from([v4(80, 2)])),
        ]);
        let d = diff(&want, &got);
        assert!(d.contains("1 lost [a]") && d.contains("1 stale [c]"), "{d}");
        assert!(d.contains("1 with other next hops"), "{d}");
        assert_eq!(diff(&want, &want), "");
    }
}
