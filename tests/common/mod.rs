//! Shared pieces of the interop tests: `porter standalone` run as a child process inside a
//! network namespace (its config file written from [`PorterConf`], its `/status` read over
//! HTTP from inside the namespace), routers under test ([`Router`]: BIRD 2 or FRR 8, restartable)
//! and waits whose failure message carries the router's view and porter's log tail.
//!
//! Every test calls [`ready`] first: it prints a loud `SKIPPED: <test>: <why>` and returns
//! false when not root, a tool is missing or this build of porter has no `standalone` command;
//! with `PORTER_LAB_REQUIRE=1` those become failures. Namespaces are named `io-<test>-…` and
//! each test uses its own 10.201.X.0/24 links, so tests run in parallel; everything a test
//! starts is stopped by `Drop`, also when it panics.

#![allow(dead_code)] // each tests/interop_*.rs uses its own subset

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

#[allow(unused_imports)] // each test file uses a subset
pub use porter_lab::{
    available, wait_until, Bird, BirdConfig, BirdPeer, Exabgp, ExabgpConfig, ExabgpNeighbor, Frr,
    FrrConfig, FrrNeighbor, GobgpConfig, GobgpNeighbor, Gobgpd, Lan, Netns, Tool,
};

/// Generous timeout for anything BGP: sessions come up in 1–2 s here, but the machine is shared.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Port of porter's HTTP endpoint inside each namespace (every namespace has its own loopback).
pub const HTTP_PORT: u16 = 9180;

/// Lines of porter's log quoted in a failure.
const LOG_TAIL: usize = 40;

/// Parses an address literal of the test itself.
pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

/// The running test's name (the thread name under `cargo test`).
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("interop test")
        .to_string()
}

/// Says loudly why a test does not run; panics instead under `PORTER_LAB_REQUIRE=1` (CI, where a
/// skip would hide a broken setup). Always returns false, for `return skip(..)` shapes.
pub fn skip(why: &str) -> bool {
    let msg = format!("SKIPPED: {}: {why}", test_name());
    if std::env::var("PORTER_LAB_REQUIRE").is_ok_and(|v| v == "1") {
        panic!("PORTER_LAB_REQUIRE=1 but {msg}");
    }
    eprintln!("\n*** {msg} ***\n");
    false
}

/// Says that a test stops early because porter lacks a feature it needs. Unlike [`skip`] this
/// never fails, even under `PORTER_LAB_REQUIRE=1`: the setup is fine, the feature is not there
/// yet.
pub fn skip_feature(why: &str) {
    eprintln!("\n*** SKIPPED: {}: {why} ***\n", test_name());
}

/// Whether the test can run: root, the tools, and a porter with the `standalone` command.
pub fn ready(tools: &[Tool]) -> bool {
    if !available(tools) {
        return false;
    }
    let ok = Command::new(porter_bin())
        .args(["standalone", "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return skip(
            "this porter build has no `standalone` command (porter standalone --help fails)",
        );
    }
    true
}

/// The porter binary cargo built for these tests.
pub fn porter_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_porter"))
}

/// A namespace `io-<tag>-<pid>-<n>` whose new interfaces skip IPv6 duplicate address
/// detection: FRR resets an IPv6 session whose interface link-local address is still
/// tentative ("nexthop_set failed"), which would cost a test porter's 5 s idle hold.
pub fn netns(tag: &str) -> Netns {
    let ns =
        Netns::with_prefix("io", tag).unwrap_or_else(|e| panic!("creating netns {tag}: {e:#}"));
    for key in [
        "net.ipv6.conf.default.accept_dad",
        "net.ipv6.conf.all.accept_dad",
    ] {
        let _ = ns.exec(&["sysctl", "-qw", &format!("{key}=0")]);
    }
    ns
}

/// A router namespace and a speaker namespace joined by a veth pair: the router has
/// 10.201.X.1/24 and 2001:db8:X::1/64 on `r-s`, the speaker .2 / ::2 on `s-r`.
pub fn pair(tag: &str, x: u8) -> (Netns, Netns) {
    let r = netns(&format!("{tag}-r"));
    let s = netns(&format!("{tag}-s"));
    link(&r, "r-s", &s, "s-r", x);
    (r, s)
}

/// Links `a` (10.201.X.1, 2001:db8:X::1) and `b` (.2, ::2) with a veth pair.
pub fn link(a: &Netns, a_if: &str, b: &Netns, b_if: &str, x: u8) {
    a.veth(a_if, b, b_if).expect("veth");
    a.addr(a_if, &format!("10.201.{x}.1/24")).expect("addr");
    b.addr(b_if, &format!("10.201.{x}.2/24")).expect("addr");
    a.addr(a_if, &format!("2001:db8:{x:x}::1/64"))
        .expect("addr");
    b.addr(b_if, &format!("2001:db8:{x:x}::2/64"))
        .expect("addr");
}

/// The router side (.1) of link X.
pub fn router_addr(x: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 201, x, 1))
}

/// The speaker side (.2) of link X.
pub fn speaker_addr(x: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 201, x, 2))
}

/// The router side of link X, IPv6.
pub fn router_addr6(x: u8) -> IpAddr {
    ip(&format!("2001:db8:{x:x}::1"))
}

/// The speaker side of link X, IPv6.
pub fn speaker_addr6(x: u8) -> IpAddr {
    ip(&format!("2001:db8:{x:x}::2"))
}

// ---------------------------------------------------------------------------------------------
// porter standalone

/// One BgpPeer document.
#[derive(Clone, Debug)]
pub struct PeerDoc {
    /// metadata.name, also the key of the peer in `/status`.
    pub name: String,
    /// spec.conf.neighborAddress.
    pub neighbor: IpAddr,
    /// spec.conf.peerAs.
    pub peer_as: u32,
    /// spec.transport.passiveMode.
    pub passive: bool,
    /// spec.transport.remotePort.
    pub remote_port: Option<u16>,
    /// spec.conf.authPassword (TCP MD5).
    pub password: Option<String>,
    /// ADD-PATH send limit for the neighbor's family (spec.afiSafis[].addPaths.config.sendMax).
    pub add_path_send: Option<u32>,
    /// Also negotiate the other unicast family (IPv6 over an IPv4 session or the reverse).
    pub both_families: bool,
}

impl PeerDoc {
    /// A neighbor with the lab's short timers (hold 9, keepalive 3, connect retry 2).
    pub fn new(name: &str, neighbor: IpAddr, peer_as: u32) -> PeerDoc {
        PeerDoc {
            name: name.into(),
            neighbor,
            peer_as,
            passive: false,
            remote_port: None,
            password: None,
            add_path_send: None,
            both_families: false,
        }
    }

    /// Waits for the neighbor to connect.
    pub fn passive(mut self) -> Self {
        self.passive = true;
        self
    }

    /// TCP MD5 password.
    pub fn password(mut self, pw: &str) -> Self {
        self.password = Some(pw.into());
        self
    }

    /// Negotiates IPv4 and IPv6 unicast on the session.
    pub fn both_families(mut self) -> Self {
        self.both_families = true;
        self
    }

    /// ADD-PATH send with this many paths per prefix.
    pub fn add_path_send(mut self, max: u32) -> Self {
        self.add_path_send = Some(max);
        self
    }

    fn render(&self, c: &mut String) {
        let afi = if self.neighbor.is_ipv4() {
            "AFI_IP"
        } else {
            "AFI_IP6"
        };
        let _ = writeln!(c, "apiVersion: network.kubesphere.io/v1alpha2");
        let _ = writeln!(c, "kind: BgpPeer");
        let _ = writeln!(c, "metadata:\n  name: {}", self.name);
        let _ = writeln!(c, "spec:\n  conf:");
        let _ = writeln!(c, "    neighborAddress: \"{}\"", self.neighbor);
        let _ = writeln!(c, "    peerAs: {}", self.peer_as);
        if let Some(pw) = &self.password {
            let _ = writeln!(c, "    authPassword: \"{pw}\"");
        }
        let _ = writeln!(
            c,
            "  timers:\n    config:\n      holdTime: 9\n      keepaliveInterval: 3\n      connectRetry: 2"
        );
        if self.passive || self.remote_port.is_some() {
            let _ = writeln!(c, "  transport:");
            if self.passive {
                let _ = writeln!(c, "    passiveMode: true");
            }
            if let Some(p) = self.remote_port {
                let _ = writeln!(c, "    remotePort: {p}");
            }
        }
        let _ = writeln!(c, "  afiSafis:");
        let other = if afi == "AFI_IP" { "AFI_IP6" } else { "AFI_IP" };
        let afis: &[&str] = if self.both_families {
            &[afi, other]
        } else {
            &[afi]
        };
        for afi in afis {
            let _ = writeln!(
                c,
                "    - config:\n        family: {{afi: {afi}, safi: SAFI_UNICAST}}\n        enabled: true"
            );
            let _ = writeln!(
                c,
                "      addPaths:\n        config:\n          sendMax: {}",
                self.add_path_send.unwrap_or(0)
            );
        }
    }
}

/// A whole standalone file: BgpConf, BgpPeers, the address pools, one Service per VIP and,
/// optionally, v1 Node documents.
#[derive(Clone, Debug)]
pub struct PorterConf {
    /// `--node-name`.
    pub node: String,
    /// BgpConf spec.as.
    pub asn: u32,
    /// BgpConf spec.routerId.
    pub router_id: Ipv4Addr,
    /// BgpConf spec.listenPort (0: 179, -1: no listener).
    pub listen_port: i32,
    /// BgpConf spec.gracefulRestart restartTime, when enabled.
    pub graceful_restart: Option<u32>,
    /// BgpPeers.
    pub peers: Vec<PeerDoc>,
    /// One LoadBalancer Service (externalTrafficPolicy Cluster) per address.
    pub vips: Vec<IpAddr>,
    /// Node name → InternalIP addresses (Ready unless listed in `not_ready`).
    pub nodes: Vec<(String, Vec<IpAddr>)>,
    /// Nodes (by name) whose Ready condition is False.
    pub not_ready: Vec<String>,
    /// Extra command-line arguments of `porter standalone` (e.g. `--shutdown-drain 3`).
    pub args: Vec<String>,
}

impl PorterConf {
    /// A speaker named `node` in `asn` with router id `router_id`, listening on 179.
    pub fn new(node: &str, asn: u32, router_id: IpAddr) -> PorterConf {
        let IpAddr::V4(router_id) = router_id else {
            panic!("router id must be IPv4");
        };
        PorterConf {
            node: node.into(),
            asn,
            router_id,
            listen_port: 0,
            graceful_restart: None,
            peers: Vec::new(),
            vips: Vec::new(),
            nodes: Vec::new(),
            not_ready: Vec::new(),
            args: Vec::new(),
        }
    }

    /// Adds a BgpPeer.
    pub fn peer(mut self, p: PeerDoc) -> Self {
        self.peers.push(p);
        self
    }

    /// Adds a Service with this load-balancer address.
    pub fn vip(mut self, addr: &str) -> Self {
        self.vips.push(ip(addr));
        self
    }

    /// Adds a Ready Node with these InternalIPs.
    pub fn node(mut self, name: &str, addrs: &[IpAddr]) -> Self {
        self.nodes.push((name.into(), addrs.to_vec()));
        self
    }

    /// The YAML stream.
    pub fn render(&self) -> String {
        let mut c = String::from("# generated by porter's interop tests\n");
        let _ = writeln!(
            c,
            "apiVersion: network.kubesphere.io/v1alpha2\nkind: BgpConf"
        );
        let _ = writeln!(c, "metadata:\n  name: default\nspec:");
        let _ = writeln!(c, "  as: {}", self.asn);
        let _ = writeln!(c, "  routerId: \"{}\"", self.router_id);
        let _ = writeln!(c, "  listenPort: {}", self.listen_port);
        if let Some(t) = self.graceful_restart {
            let _ = writeln!(
                c,
                "  gracefulRestart:\n    enabled: true\n    restartTime: {t}"
            );
        }
        for p in &self.peers {
            c.push_str("---\n");
            p.render(&mut c);
        }
        for (name, pool) in POOLS {
            let _ = writeln!(
                c,
                "---\napiVersion: network.kubesphere.io/v1alpha2\nkind: Eip"
            );
            let _ = writeln!(c, "metadata:\n  name: {name}\nspec:");
            let _ = writeln!(c, "  address: \"{pool}\"\n  protocol: bgp");
        }
        for vip in &self.vips {
            let pool = pool_of(*vip);
            let name = format!("vip-{}", vip.to_string().replace(['.', ':'], "-"))
                .trim_end_matches('-')
                .to_string();
            let _ = writeln!(c, "---\napiVersion: v1\nkind: Service");
            let _ = writeln!(c, "metadata:\n  name: {name}\n  namespace: default");
            let _ = writeln!(c, "  annotations:");
            let _ = writeln!(c, "    lb.kubesphere.io/v1alpha1: porter");
            let _ = writeln!(c, "    eip.openelb.kubesphere.io/v1alpha2: {pool}");
            let _ = writeln!(c, "spec:\n  type: LoadBalancer");
            let _ = writeln!(c, "  loadBalancerIP: \"{vip}\"");
            let _ = writeln!(c, "  externalTrafficPolicy: Cluster");
            if vip.is_ipv6() {
                let _ = writeln!(c, "  ipFamilies: [IPv6]\n  ipFamilyPolicy: SingleStack");
            }
            let _ = writeln!(c, "  ports:\n    - port: 80\n      protocol: TCP");
        }
        for (name, addrs) in &self.nodes {
            let _ = writeln!(c, "---\napiVersion: v1\nkind: Node");
            let _ = writeln!(c, "metadata:\n  name: {name}\nstatus:\n  addresses:");
            for a in addrs {
                let _ = writeln!(c, "    - {{type: InternalIP, address: \"{a}\"}}");
            }
            let ready = if self.not_ready.contains(name) {
                "False"
            } else {
                "True"
            };
            let _ = writeln!(
                c,
                "  conditions:\n    - {{type: Ready, status: \"{ready}\"}}"
            );
        }
        c
    }
}

/// The address pools every config carries (Eip name, range).
const POOLS: [(&str, &str); 3] = [
    ("pool-a", "203.0.113.0/24"),
    ("pool-b", "198.51.100.0/24"),
    ("pool-v6", "2001:db8:ffff::/64"),
];

fn pool_of(vip: IpAddr) -> &'static str {
    match vip {
        IpAddr::V6(_) => "pool-v6",
        IpAddr::V4(a) if a.octets()[..3] == [198, 51, 100] => "pool-b",
        IpAddr::V4(_) => "pool-a",
    }
}

/// `porter standalone` running inside a namespace; killed (SIGKILL) on drop.
pub struct Porter {
    netns: String,
    config: PathBuf,
    log: PathBuf,
    conf: PorterConf,
    child: Option<Child>,
}

impl Porter {
    /// Writes `conf` into the namespace's state directory and starts porter; waits until its
    /// HTTP endpoint answers.
    pub fn start(ns: &Netns, conf: PorterConf) -> Result<Porter> {
        let dir = ns.dir().join("porter");
        std::fs::create_dir_all(&dir)?;
        let mut p = Porter {
            netns: ns.name().to_string(),
            config: dir.join("porter.yaml"),
            log: dir.join("porter.log"),
            conf,
            child: None,
        };
        p.write_config()?;
        p.spawn()?;
        Ok(p)
    }

    /// Like [`Porter::start`] but returns `Ok(None)` when porter exits at once with a log
    /// mentioning `needle` (a feature this build does not have yet).
    pub fn start_unless(ns: &Netns, conf: PorterConf, needle: &str) -> Result<Option<Porter>> {
        match Porter::start(ns, conf) {
            Ok(p) => Ok(Some(p)),
            Err(e) if format!("{e:#}").contains(needle) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write_config(&self) -> Result<()> {
        // write then rename, so a reload never reads half a file
        let tmp = self.config.with_extension("yaml.tmp");
        std::fs::write(&tmp, self.conf.render())?;
        std::fs::rename(&tmp, &self.config)?;
        Ok(())
    }

    fn spawn(&mut self) -> Result<()> {
        use std::os::unix::process::CommandExt;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let err = out.try_clone()?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .arg(porter_bin())
            .arg("standalone")
            .arg("--config")
            .arg(&self.config)
            .args(["--node-name", &self.conf.node])
            .args(["--http", &format!("127.0.0.1:{HTTP_PORT}")])
            .args(&self.conf.args)
            .env("RUST_LOG", "info,porter=debug")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // out of the test runner's process group: a Ctrl-C reaches our Drop first
            .process_group(0)
            .spawn()
            .context("spawning porter standalone")?;
        self.child = Some(child);
        let ready = porter_lab::wait_until(Duration::from_secs(15), "porter /status", || {
            self.running() && self.status().is_ok()
        });
        if let Err(e) = ready {
            bail!(
                "porter standalone did not start ({e:#}); running: {}\n{}",
                self.running(),
                self.log_tail()
            );
        }
        Ok(())
    }

    /// Whether the process is alive.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL: no NOTIFICATION, the kernel closes the sockets.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits up to `timeout` for the exit; the exit status, `None` if it did not
    /// exit in time (it is then killed).
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-s", "TERM", &c.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Starts porter again with the current config (after [`Porter::kill`]).
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn()
    }

    /// The config in use.
    pub fn conf(&self) -> &PorterConf {
        &self.conf
    }

    /// Replaces the config file, without telling the process (for a restart).
    pub fn set_conf(&mut self, conf: PorterConf) -> Result<()> {
        self.conf = conf;
        self.write_config()
    }

    /// Replaces the config file and asks porter to reload it (SIGHUP; the file is also
    /// watched).
    pub fn reconfigure(&mut self, conf: PorterConf) -> Result<()> {
        self.set_conf(conf)?;
        if let Some(c) = &self.child {
            Command::new("kill")
                .args(["-s", "HUP", &c.id().to_string()])
                .status()?;
        }
        Ok(())
    }

    /// GET `path` from porter's HTTP endpoint, inside the namespace (bash's /dev/tcp: no
    /// curl needed).
    pub fn http_get(&self, path: &str) -> Result<String> {
        let script = format!(
            "exec 3<>/dev/tcp/127.0.0.1/{HTTP_PORT} && printf 'GET {path} HTTP/1.0\\r\\nHost: porter\\r\\n\\r\\n' >&3 && cat <&3"
        );
        let out = Command::new("ip")
            .args(["netns", "exec", &self.netns, "bash", "-c", &script])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            bail!(
                "GET {path}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            bail!("GET {path}: no HTTP header in {text:?}");
        };
        if !head.starts_with("HTTP/1.") || head.split_whitespace().nth(1).is_none_or(|c| c != "200")
        {
            bail!("GET {path}: {}", head.lines().next().unwrap_or_default());
        }
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            return dechunk(body);
        }
        Ok(body.to_string())
    }

    /// `/status` as JSON.
    pub fn status(&self) -> Result<Value> {
        let body = self.http_get("/status")?;
        serde_json::from_str(&body).with_context(|| format!("/status is not JSON: {body}"))
    }

    /// The status object of BgpPeer `name` (under `bgpPeers`).
    pub fn peer_status(&self, name: &str) -> Result<Value> {
        let st = self.status()?;
        find_peer(&st, name)
            .cloned()
            .with_context(|| format!("no peer {name:?} in /status: {st}"))
    }

    /// The session state of BgpPeer `name` as `/status` spells it (`ESTABLISHED`, `ACTIVE`…).
    pub fn peer_state(&self, name: &str) -> Result<String> {
        let p = self.peer_status(name)?;
        session_state(&p).with_context(|| format!("no session state for {name:?} in {p}"))
    }

    /// Whether BgpPeer `name` is Established.
    pub fn is_established(&self, name: &str) -> bool {
        self.peer_state(name)
            .is_ok_and(|s| s.eq_ignore_ascii_case("established"))
    }

    /// The last lines of porter's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- porter log ({}), last {LOG_TAIL} lines ---\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
        )
    }

    /// Everything useful when a test fails: `/status` and the log tail.
    pub fn diag(&self) -> String {
        let st = self
            .status()
            .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
            .unwrap_or_else(|e| format!("(no /status: {e:#})"));
        format!("--- porter /status ---\n{st}\n{}", self.log_tail())
    }

    /// The path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

impl Drop for Porter {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// Decodes an HTTP/1.1 chunked body.
fn dechunk(mut body: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let Some((size, rest)) = body.split_once("\r\n") else {
            bail!("truncated chunked body");
        };
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("bad chunk size {size:?}"))?;
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size {
            bail!("truncated chunk");
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
}

/// The object of peer `name` in a `/status` document: `bgpPeers.<name>`, or an element of a
/// `bgpPeers` list whose `name` is `name`.
pub fn find_peer<'a>(status: &'a Value, name: &str) -> Option<&'a Value> {
    let peers = status.get("bgpPeers")?;
    match peers {
        Value::Object(m) => m.get(name),
        Value::Array(a) => a
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name)),
        _ => None,
    }
}

/// Depth-first search for the first value under key `key`.
pub fn find_key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m
            .get(key)
            .or_else(|| m.values().find_map(|x| find_key(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}

/// The session state in a peer's status: `sessionState`, else `state`.
pub fn session_state(peer: &Value) -> Option<String> {
    ["sessionState", "state"]
        .iter()
        .find_map(|k| find_key(peer, k).and_then(Value::as_str))
        .map(str::to_string)
}

/// UPDATEs received on the session, from a peer's status (`…received.update`, or
/// `…received.updates`).
pub fn updates_received(peer: &Value) -> Option<u64> {
    let rx = find_key(peer, "received")?;
    // counters are decimal strings in the CRD shape (gobgp's uint64 in JSON), numbers elsewhere
    ["update", "updates"]
        .iter()
        .find_map(|k| match rx.get(*k)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
}

/// A peer's `lastError` as text (empty when none).
pub fn last_error(peer: &Value) -> String {
    match find_key(peer, "lastError") {
        None | Some(Value::Null) => String::new(),
        Some(v) => v.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// routers

/// Which router implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// BIRD 2.
    Bird,
    /// FRR 8 (zebra + bgpd).
    Frr,
}

impl Kind {
    /// The lab tool it needs.
    pub fn tool(self) -> Tool {
        match self {
            Kind::Bird => Tool::Bird,
            Kind::Frr => Tool::Frr,
        }
    }
}

/// One session of the router under test.
#[derive(Clone, Debug)]
pub struct RouterPeer {
    /// BIRD protocol name.
    pub name: String,
    /// The speaker's address.
    pub addr: IpAddr,
    /// The speaker's AS.
    pub asn: u32,
    /// The speaker's port when not 179.
    pub port: Option<u16>,
    /// The router only listens.
    pub passive: bool,
    /// TCP MD5.
    pub password: Option<String>,
    /// Graceful restart helper.
    pub graceful_restart: bool,
    /// ADD-PATH receive.
    pub add_path_rx: bool,
    /// IPv4 and IPv6 unicast on the session, whatever its address family.
    pub both_families: bool,
}

impl RouterPeer {
    /// A session to `addr` in `asn`.
    pub fn new(name: &str, addr: IpAddr, asn: u32) -> RouterPeer {
        RouterPeer {
            name: name.into(),
            addr,
            asn,
            port: None,
            passive: false,
            password: None,
            graceful_restart: false,
            add_path_rx: false,
            both_families: false,
        }
    }
}

/// Router config: what [`Router::start`] renders for BIRD or FRR.
#[derive(Clone, Debug)]
pub struct RouterSpec {
    /// BIRD or FRR.
    pub kind: Kind,
    /// Router id.
    pub router_id: Ipv4Addr,
    /// Local AS.
    pub asn: u32,
    /// Sessions.
    pub peers: Vec<RouterPeer>,
}

enum Impl {
    Bird(Bird),
    Frr(Frr),
    Stopped,
}

/// The router under test, stoppable and restartable.
pub struct Router {
    spec: RouterSpec,
    ns: String,
    inner: Impl,
}

impl Router {
    /// Starts the router inside `ns`.
    pub fn start(ns: &Netns, spec: RouterSpec) -> Router {
        let mut r = Router {
            spec,
            ns: ns.name().to_string(),
            inner: Impl::Stopped,
        };
        r.launch(ns).expect("starting the router");
        r
    }

    fn launch(&mut self, ns: &Netns) -> Result<()> {
        let s = &self.spec;
        self.inner = match s.kind {
            Kind::Bird => {
                let mut c = BirdConfig::new(s.router_id, s.asn);
                for p in &s.peers {
                    let mut bp = BirdPeer::new(&p.name, p.addr, p.asn);
                    bp.port = p.port;
                    bp.passive = p.passive;
                    bp.password = p.password.clone();
                    bp.graceful_restart = p.graceful_restart;
                    bp.add_path_rx = p.add_path_rx;
                    if p.both_families {
                        bp.ipv4 = true;
                        bp.ipv6 = true;
                    }
                    c = c.peer(bp);
                }
                Impl::Bird(Bird::start(ns, &c)?)
            }
            Kind::Frr => {
                let mut c = FrrConfig::new(s.router_id, s.asn);
                for p in &s.peers {
                    let mut n = FrrNeighbor::new(p.addr, p.asn);
                    n.port = p.port;
                    n.passive = p.passive;
                    n.password = p.password.clone();
                    if p.both_families {
                        n = n.ipv6();
                    }
                    if p.graceful_restart {
                        c.graceful_restart = true;
                    }
                    c = c.neighbor(n);
                }
                Impl::Frr(Frr::start(ns, &c)?)
            }
        };
        Ok(())
    }

    /// Stops the router (SIGTERM).
    pub fn stop(&mut self) {
        self.inner = Impl::Stopped;
    }

    /// Starts it again with the same config.
    pub fn restart(&mut self, ns: &Netns) {
        self.stop();
        self.launch(ns).expect("restarting the router");
    }

    /// The BIRD instance, when this is BIRD.
    pub fn bird(&self) -> &Bird {
        match &self.inner {
            Impl::Bird(b) => b,
            _ => panic!("not a running BIRD"),
        }
    }

    /// The FRR instance, when this is FRR.
    pub fn frr(&self) -> &Frr {
        match &self.inner {
            Impl::Frr(f) => f,
            _ => panic!("not a running FRR"),
        }
    }

    /// Whether the session to peer `i` (index in the spec) is Established.
    pub fn established(&self, i: usize) -> Result<bool> {
        let p = &self.spec.peers[i];
        match &self.inner {
            Impl::Bird(b) => b.is_established(&p.name),
            Impl::Frr(f) => Ok(f.neighbor_state(p.addr)? == "Established"),
            Impl::Stopped => Ok(false),
        }
    }

    /// Asks the router to send a ROUTE-REFRESH on the session to peer `i`.
    pub fn refresh_in(&self, i: usize) {
        let p = &self.spec.peers[i];
        let res = match &self.inner {
            Impl::Bird(b) => b.refresh_in(&p.name),
            Impl::Frr(f) => f.refresh_in(p.addr),
            Impl::Stopped => Ok(()),
        };
        res.unwrap_or_else(|e| panic!("route refresh: {e:#}"));
    }

    /// Next hops of the BGP paths the router holds for `prefix`.
    pub fn bgp_next_hops(&self, prefix: &str) -> Result<Vec<IpAddr>> {
        match &self.inner {
            Impl::Bird(b) => Ok(b
                .routes(prefix)?
                .into_iter()
                .filter(|r| r.protocol != "static4" && r.protocol != "static6")
                .flat_map(|r| r.next_hops)
                .collect()),
            Impl::Frr(f) => f.route_next_hops(prefix),
            Impl::Stopped => Ok(Vec::new()),
        }
    }

    /// The router's sessions and routes, for failure messages.
    pub fn show(&self) -> String {
        let out = match &self.inner {
            Impl::Bird(b) => format!(
                "{}\n{}",
                b.birdc(&["show", "protocols", "all"])
                    .unwrap_or_else(|e| format!("{e:#}")),
                b.birdc(&["show", "route", "all"])
                    .unwrap_or_else(|e| format!("{e:#}"))
            ),
            Impl::Frr(f) => format!(
                "{}\n{}",
                f.vtysh(&["show bgp neighbors"])
                    .unwrap_or_else(|e| format!("{e:#}")),
                f.vtysh(&["show bgp ipv4 unicast", "show bgp ipv6 unicast"])
                    .unwrap_or_else(|e| format!("{e:#}"))
            ),
            Impl::Stopped => "(router stopped)".into(),
        };
        let fib = Command::new("ip")
            .args(["-n", &self.ns, "route"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let fib6 = Command::new("ip")
            .args(["-n", &self.ns, "-6", "route"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        format!(
            "--- router {:?} in {} ---\n{out}\n--- kernel routes ---\n{fib}{fib6}",
            self.spec.kind, self.ns
        )
    }
}

/// Kernel next hops of `prefix` in `ns` (`nexthop via` lines of ECMP routes included).
pub fn fib(ns: &Netns, prefix: &str) -> Vec<IpAddr> {
    let mut v = ns.route_next_hops(prefix).unwrap_or_default();
    v.sort();
    v
}

/// Polls `cond` until true or [`TIMEOUT`]; on timeout panics with `what` and `diag()`.
pub fn wait(what: &str, diag: impl Fn() -> String, cond: impl FnMut() -> bool) -> Duration {
    wait_for(TIMEOUT, what, diag, cond)
}

/// [`wait`] with an explicit timeout.
pub fn wait_for(
    timeout: Duration,
    what: &str,
    diag: impl Fn() -> String,
    cond: impl FnMut() -> bool,
) -> Duration {
    match wait_until(timeout, what, cond) {
        Ok(d) => d,
        Err(e) => panic!("{e:#}\n{}", diag()),
    }
}

/// Polls `cond` every 10 ms for up to `timeout`; returns the time it took to become true.
pub fn measure(timeout: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// Asserts `cond` holds on every poll for `period`; panics with `what` and `diag()` otherwise.
pub fn hold_for(
    period: Duration,
    what: &str,
    diag: impl Fn() -> String,
    mut cond: impl FnMut() -> bool,
) {
    let start = Instant::now();
    while start.elapsed() < period {
        if !cond() {
            panic!(
                "after {:.2}s: no longer true: {what}\n{}",
                start.elapsed().as_secs_f64(),
                diag()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub mod scenarios;
