//! BIRD 2 as the router: config generation, start/stop, and `birdc` queries.

use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::netns::Netns;
use crate::process::{run, Daemon};
use crate::tools::{binary, wait_until_ok};

/// How long BIRD gets to open its control socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// One BGP protocol (session) in a BIRD config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BirdPeer {
    /// Protocol name (`birdc show protocols`), e.g. `s1`.
    pub name: String,
    /// The neighbor's address; its family decides the default channel.
    pub neighbor: IpAddr,
    /// The neighbor's AS; equal to the local AS makes the session iBGP.
    pub peer_as: u32,
    /// TCP port of the neighbor, if not 179.
    pub port: Option<u16>,
    /// Local address of the session (`local … as`), if BIRD should bind one.
    pub local_address: Option<IpAddr>,
    /// Only accept connections, never connect (`passive on`).
    pub passive: bool,
    /// Carry IPv4 unicast (default: when the neighbor is IPv4).
    pub ipv4: bool,
    /// Carry IPv6 unicast (default: when the neighbor is IPv6).
    pub ipv6: bool,
    /// TCP MD5 signature password (RFC 2385).
    pub password: Option<String>,
    /// Advertise graceful restart (RFC 4724).
    pub graceful_restart: bool,
    /// Accept several paths per prefix (ADD-PATH receive, RFC 7911).
    pub add_path_rx: bool,
    /// Send several paths per prefix (ADD-PATH send).
    pub add_path_tx: bool,
    /// Hold time offered in OPEN (keepalive is a third of it).
    pub hold_time: u16,
    /// Log every state change of the protocol (`debug { states; }`): BIRD's log then has one
    /// `NAME: State changed to up` line per session that reached Established.
    pub debug_states: bool,
    /// BFD with the neighbor (`bfd on`): (interval in ms for both directions, multiplier).
    pub bfd: Option<(u32, u8)>,
}

impl BirdPeer {
    /// An eBGP or iBGP session to `neighbor` in `peer_as`, active, hold time 9 s.
    pub fn new(name: &str, neighbor: IpAddr, peer_as: u32) -> BirdPeer {
        BirdPeer {
            name: name.to_string(),
            neighbor,
            peer_as,
            port: None,
            local_address: None,
            passive: false,
            ipv4: neighbor.is_ipv4(),
            ipv6: neighbor.is_ipv6(),
            password: None,
            graceful_restart: false,
            add_path_rx: false,
            add_path_tx: false,
            hold_time: 9,
            debug_states: false,
            bfd: None,
        }
    }

    /// Runs BFD with the neighbor: `interval_ms` as both min rx and min tx, `multiplier`.
    pub fn bfd(mut self, interval_ms: u32, multiplier: u8) -> Self {
        self.bfd = Some((interval_ms, multiplier));
        self
    }

    /// Sets the neighbor's TCP port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Binds the session to a local address.
    pub fn local_address(mut self, addr: IpAddr) -> Self {
        self.local_address = Some(addr);
        self
    }

    /// Makes BIRD wait for the neighbor to connect.
    pub fn passive(mut self) -> Self {
        self.passive = true;
        self
    }

    /// Enables the IPv6 unicast channel as well.
    pub fn ipv6(mut self) -> Self {
        self.ipv6 = true;
        self
    }

    /// Uses a TCP MD5 password.
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_string());
        self
    }

    /// Advertises graceful restart.
    pub fn graceful_restart(mut self) -> Self {
        self.graceful_restart = true;
        self
    }

    /// Receives several paths per prefix (ADD-PATH).
    pub fn add_path_rx(mut self) -> Self {
        self.add_path_rx = true;
        self
    }

    /// Sends several paths per prefix (ADD-PATH).
    pub fn add_path_tx(mut self) -> Self {
        self.add_path_tx = true;
        self
    }

    /// Sets the hold time.
    pub fn hold_time(mut self, secs: u16) -> Self {
        self.hold_time = secs;
        self
    }

    /// Logs the protocol's state changes, so a test can count sessions from BIRD's log.
    pub fn debug_states(mut self) -> Self {
        self.debug_states = true;
        self
    }
}

/// A whole BIRD 2 config: router id, local AS, sessions, and static routes it announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BirdConfig {
    /// Router id.
    pub router_id: Ipv4Addr,
    /// Local AS (4-octet AS numbers work: BIRD always offers the capability).
    pub local_as: u32,
    /// Export BGP routes into the namespace's kernel FIB, merging equal paths into ECMP.
    pub kernel: bool,
    /// The BGP sessions.
    pub peers: Vec<BirdPeer>,
    /// Static routes announced to every peer: (prefix, BIRD filter statements run on the route,
    /// e.g. `bgp_community.add((65000,100));`, may be empty).
    pub announce: Vec<(String, String)>,
}

impl BirdConfig {
    /// A router with kernel export on and no sessions.
    pub fn new(router_id: Ipv4Addr, local_as: u32) -> BirdConfig {
        BirdConfig {
            router_id,
            local_as,
            kernel: true,
            peers: Vec::new(),
            announce: Vec::new(),
        }
    }

    /// Adds a session.
    pub fn peer(mut self, peer: BirdPeer) -> Self {
        self.peers.push(peer);
        self
    }

    /// Announces `prefix` (a blackhole static route) to every peer, with `attrs` BIRD filter
    /// statements applied to it.
    pub fn announce(mut self, prefix: &str, attrs: &str) -> Self {
        self.announce.push((prefix.to_string(), attrs.to_string()));
        self
    }

    /// Disables the kernel protocols (nothing goes into the FIB).
    pub fn without_kernel(mut self) -> Self {
        self.kernel = false;
        self
    }

    /// The config file text.
    pub fn render(&self) -> String {
        let mut c = String::new();
        let _ = writeln!(c, "# generated by porter-lab");
        let _ = writeln!(c, "log stderr all;");
        let _ = writeln!(c, "router id {};", self.router_id);
        let _ = writeln!(c, "protocol device {{ scan time 10; }}");
        if self.kernel {
            for (kern, fam) in [("kern4", "ipv4"), ("kern6", "ipv6")] {
                // merge paths: equal BGP paths become one multipath kernel route (ECMP)
                let _ = writeln!(
                    c,
                    "protocol kernel {kern} {{ {fam} {{ import none; export where source = RTS_BGP; }}; merge paths on; }}"
                );
            }
        }
        for (name, fam, v6) in [("static4", "ipv4", false), ("static6", "ipv6", true)] {
            let routes: Vec<_> = self
                .announce
                .iter()
                .filter(|(p, _)| p.contains(':') == v6)
                .collect();
            if routes.is_empty() {
                continue;
            }
            let _ = writeln!(c, "protocol static {name} {{");
            let _ = writeln!(c, "  {fam};");
            for (prefix, attrs) in routes {
                if attrs.is_empty() {
                    let _ = writeln!(c, "  route {prefix} blackhole;");
                } else {
                    let _ = writeln!(c, "  route {prefix} blackhole {{ {attrs} }};");
                }
            }
            let _ = writeln!(c, "}}");
        }
        // one BFD protocol for the whole router, with the first BFD peer's timers
        if let Some((interval, mult)) = self.peers.iter().find_map(|p| p.bfd) {
            let _ = writeln!(
                c,
                "protocol bfd {{ interface \"*\" {{ min rx interval {interval} ms; \
                 min tx interval {interval} ms; idle tx interval 1000 ms; multiplier {mult}; }}; }}"
            );
        }
        for p in &self.peers {
            self.render_peer(&mut c, p);
        }
        c
    }

    fn render_peer(&self, c: &mut String, p: &BirdPeer) {
        let ibgp = p.peer_as == self.local_as;
        let _ = writeln!(c, "protocol bgp {} {{", p.name);
        match p.local_address {
            Some(a) => {
                let _ = writeln!(c, "  local {a} as {};", self.local_as);
            }
            None => {
                let _ = writeln!(c, "  local as {};", self.local_as);
            }
        }
        let port = p.port.map(|x| format!(" port {x}")).unwrap_or_default();
        let _ = writeln!(c, "  neighbor {}{port} as {};", p.neighbor, p.peer_as);
        if ibgp {
            // iBGP neighbors on the same link: no IGP to resolve next hops through
            let _ = writeln!(c, "  direct;");
        }
        if p.passive {
            let _ = writeln!(c, "  passive on;");
        }
        if let Some(pw) = &p.password {
            let _ = writeln!(c, "  password \"{}\";", pw.replace('"', "\\\""));
        }
        if p.graceful_restart {
            let _ = writeln!(c, "  graceful restart on;");
        }
        if p.debug_states {
            let _ = writeln!(c, "  debug {{ states }};");
        }
        if p.bfd.is_some() {
            let _ = writeln!(c, "  bfd on;");
        }
        // short timers: a lab session should come up and recover within seconds
        let _ = writeln!(
            c,
            "  hold time {}; connect delay time 1; connect retry time 2; error wait time 1, 10;",
            p.hold_time
        );
        for (on, fam) in [(p.ipv4, "ipv4"), (p.ipv6, "ipv6")] {
            if !on {
                continue;
            }
            // RFC 8212: eBGP needs explicit filters in BIRD 2; we take everything and send
            // only our own static routes
            let mut ch = String::from("import all; export where source = RTS_STATIC;");
            if ibgp {
                ch.push_str(" gateway direct; next hop self;");
            }
            match (p.add_path_rx, p.add_path_tx) {
                (true, true) => ch.push_str(" add paths on;"),
                (true, false) => ch.push_str(" add paths rx;"),
                (false, true) => ch.push_str(" add paths tx;"),
                (false, false) => {}
            }
            let _ = writeln!(c, "  {fam} {{ {ch} }};");
        }
        let _ = writeln!(c, "}}");
    }
}

/// One route BIRD holds for a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BirdRoute {
    /// The protocol it came from (`s1`, `static4` …).
    pub protocol: String,
    /// Whether BIRD marked it best (`*`).
    pub best: bool,
    /// Its next hops (`via` lines).
    pub next_hops: Vec<IpAddr>,
    /// The route's text as birdc printed it.
    pub text: String,
}

/// A running BIRD, stopped on drop.
#[derive(Debug)]
pub struct Bird {
    daemon: Daemon,
    socket: PathBuf,
    netns: String,
}

impl Bird {
    /// Writes the config into the namespace's state dir, checks it with `bird -p`, starts
    /// `bird -f` inside the namespace and waits until `birdc` answers.
    pub fn start(ns: &Netns, config: &BirdConfig) -> Result<Bird> {
        let dir = ns.dir().join("bird");
        std::fs::create_dir_all(&dir)?;
        let conf = dir.join("bird.conf");
        let socket = dir.join("bird.ctl");
        let pidfile = dir.join("bird.pid");
        // a killed BIRD leaves its socket behind; a new one would refuse to bind
        let _ = std::fs::remove_file(&socket);
        std::fs::write(&conf, config.render())?;
        let bird = binary("bird")?;
        run(Command::new(&bird).arg("-p").arg("-c").arg(&conf))
            .with_context(|| format!("BIRD rejected {}:\n{}", conf.display(), config.render()))?;
        let mut daemon = Daemon::spawn(
            &format!("bird in {}", ns.name()),
            ns.name(),
            &bird,
            [
                "-f".as_ref(),
                "-c".as_ref(),
                conf.as_os_str(),
                "-s".as_ref(),
                socket.as_os_str(),
                "-P".as_ref(),
                pidfile.as_os_str(),
            ],
            &dir.join("bird.log"),
        )?;
        let ready = wait_until_ok(START_TIMEOUT, "birdc show status", || {
            daemon.check_running()?;
            birdc(&socket, &["show", "status"]).map(|_| true)
        });
        if let Err(e) = ready {
            return Err(daemon.failure(&format!("did not become ready: {e:#}"), &[]));
        }
        Ok(Bird {
            daemon,
            socket,
            netns: ns.name().to_string(),
        })
    }

    /// The daemon (PID, log).
    pub fn daemon(&self) -> &Daemon {
        &self.daemon
    }

    /// Runs one `birdc` command (words joined by birdc) and returns its output.
    pub fn birdc(&self, args: &[&str]) -> Result<String> {
        birdc(&self.socket, args)
    }

    /// `(name, state, info)` of every protocol (`show protocols`).
    pub fn protocols(&self) -> Result<Vec<(String, String, String)>> {
        Ok(parse_protocols(&self.birdc(&["show", "protocols"])?))
    }

    /// Whether protocol `name` is a BGP session in state Established.
    pub fn is_established(&self, name: &str) -> Result<bool> {
        Ok(self
            .protocols()?
            .iter()
            .any(|(n, _, info)| n == name && info.starts_with("Established")))
    }

    /// Waits until every protocol in `names` is Established; the error shows the protocol
    /// table and the log tail.
    pub fn wait_established(&self, names: &[&str], timeout: Duration) -> Result<Duration> {
        let what = format!("BIRD sessions {names:?} Established");
        wait_until_ok(timeout, &what, || {
            for n in names {
                if !self.is_established(n)? {
                    return Ok(false);
                }
            }
            Ok(true)
        })
        .map_err(|e| {
            let table = self
                .birdc(&["show", "protocols", "all"])
                .unwrap_or_default();
            self.daemon.failure(&format!("{e:#}\n{table}"), &[])
        })
    }

    /// Routes BIRD holds for exactly `prefix`, with their next hops.
    pub fn routes(&self, prefix: &str) -> Result<Vec<BirdRoute>> {
        let out = Command::new(binary("birdc")?)
            .arg("-s")
            .arg(&self.socket)
            .args(["show", "route", prefix, "all"])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        // birdc exits 1 with "Network not found" when there is no route: not an error here
        if !out.status.success() && !text.contains("Network not found") {
            bail!("birdc show route {prefix} failed ({}): {text}", out.status);
        }
        parse_routes(&text)
    }

    /// Number of routes in all tables (`show route count`).
    pub fn route_count(&self) -> Result<usize> {
        parse_route_count(&self.birdc(&["show", "route", "count"])?)
    }

    /// Disables protocol `name`, sending a Cease / Administrative Shutdown NOTIFICATION with
    /// `message` as its shutdown communication (RFC 9003).
    pub fn disable(&self, name: &str, message: Option<&str>) -> Result<()> {
        let quoted = message.map(|m| format!("\"{}\"", m.replace('"', "")));
        let mut args = vec!["disable", name];
        if let Some(q) = &quoted {
            args.push(q);
        }
        self.birdc(&args).map(drop)
    }

    /// Asks the neighbor of protocol `name` to resend its routes (`reload in`: a ROUTE-REFRESH
    /// when the neighbor supports it, RFC 2918).
    pub fn refresh_in(&self, name: &str) -> Result<()> {
        self.birdc(&["reload", "in", name]).map(drop)
    }

    /// Enables protocol `name` again.
    pub fn enable(&self, name: &str) -> Result<()> {
        self.birdc(&["enable", name]).map(drop)
    }

    /// Path of BIRD's control socket (what `birdc -s` talks to), for clients that keep one
    /// connection open instead of running `birdc` per query.
    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// The namespace BIRD runs in.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Stops BIRD now (also done on drop).
    pub fn stop(&mut self) -> Result<()> {
        self.daemon.stop()
    }
}

/// Runs `birdc -s SOCKET args…`.
fn birdc(socket: &std::path::Path, args: &[&str]) -> Result<String> {
    run(Command::new(binary("birdc")?)
        .arg("-s")
        .arg(socket)
        .args(args))
}

/// Parses `birdc show protocols` rows (after the header line).
fn parse_protocols(out: &str) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    for line in out.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // Name Proto Table State Since [Info…]; skip the banner and the header
        if cols.len() < 5 || cols[0] == "Name" || cols[0] == "BIRD" {
            continue;
        }
        rows.push((
            cols[0].to_string(),
            cols[3].to_string(),
            cols[5..].join(" "),
        ));
    }
    rows
}

/// Parses `birdc show route PREFIX all`.
fn parse_routes(out: &str) -> Result<Vec<BirdRoute>> {
    let mut routes: Vec<BirdRoute> = Vec::new();
    for line in out.lines() {
        if let Some(i) = line.find(" [") {
            // "203.0.113.7/32  unicast [s1 22:45:01.000] * (100) [AS65001i]"; a second path
            // for the same prefix starts with blanks instead of the prefix
            let head = &line[..i];
            if head.contains("unicast")
                || head.contains("blackhole")
                || head.contains("unreachable")
            {
                let rest = &line[i + 2..];
                let protocol = rest
                    .split(|c: char| c.is_whitespace() || c == ']')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let best = rest
                    .split_once(']')
                    .is_some_and(|(_, after)| after.trim_start().starts_with('*'));
                routes.push(BirdRoute {
                    protocol,
                    best,
                    next_hops: Vec::new(),
                    text: String::new(),
                });
            }
        }
        let Some(r) = routes.last_mut() else { continue };
        r.text.push_str(line);
        r.text.push('\n');
        let t = line.trim_start();
        if let Some(v) = t.strip_prefix("via ") {
            let addr = v.split_whitespace().next().unwrap_or_default();
            r.next_hops.push(
                addr.parse()
                    .with_context(|| format!("bad via in {line:?}"))?,
            );
        }
    }
    Ok(routes)
}

/// Sums "N of M routes" lines of `show route count`.
fn parse_route_count(out: &str) -> Result<usize> {
    let mut total = 0;
    let mut seen = false;
    for line in out.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() >= 4 && w[1] == "of" && w[3] == "routes" {
            total += w[0]
                .parse::<usize>()
                .with_context(|| format!("bad count line {line:?}"))?;
            seen = true;
        }
    }
    if !seen {
        bail!("no route count in birdc output: {out}");
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn renders_ebgp_with_all_options() {
        let c = BirdConfig::new("10.200.100.1".parse().unwrap(), 4_200_000_001)
            .peer(
                BirdPeer::new("s1", ip("10.200.100.2"), 65001)
                    .port(1790)
                    .passive()
                    .password("se\"cret")
                    .graceful_restart()
                    .add_path_rx(),
            )
            .announce("198.51.100.0/24", "bgp_community.add((65000,100));")
            .render();
        assert!(c.contains("local as 4200000001;"), "{c}");
        assert!(
            c.contains("neighbor 10.200.100.2 port 1790 as 65001;"),
            "{c}"
        );
        assert!(c.contains("passive on;"), "{c}");
        assert!(c.contains("password \"se\\\"cret\";"), "{c}");
        assert!(c.contains("graceful restart on;"), "{c}");
        assert!(c.contains("add paths rx;"), "{c}");
        assert!(
            c.contains("route 198.51.100.0/24 blackhole { bgp_community.add((65000,100)); };"),
            "{c}"
        );
        assert!(!c.contains("direct;"), "eBGP must not be direct: {c}");
        assert!(!c.contains("  ipv6 { import all"), "{c}");
        assert!(c.contains("merge paths on"), "{c}");
    }

    #[test]
    fn renders_ibgp_and_ipv6() {
        let c = BirdConfig::new("10.200.100.1".parse().unwrap(), 65000)
            .without_kernel()
            .peer(BirdPeer::new("s6", ip("2001:db8:200:100::2"), 65000))
            .render();
        assert!(c.contains("  direct;"), "{c}");
        assert!(c.contains("ipv6 { import all;"), "{c}");
        assert!(c.contains("gateway direct; next hop self;"), "{c}");
        assert!(!c.contains("ipv4 {"), "{c}");
        assert!(!c.contains("protocol kernel"), "{c}");
    }

    #[test]
    fn parses_protocol_table() {
        let out = "BIRD 2.0.12 ready.\nName       Proto      Table      State  Since         Info\n\
                   device1    Device     ---        up     22:45:00.123  \n\
                   s1         BGP        ---        up     22:45:01.456  Established   \n\
                   s2         BGP        ---        start  22:45:00.123  Active        Socket: Connection refused\n";
        let p = parse_protocols(out);
        assert_eq!(p.len(), 3);
        assert_eq!(p[1], ("s1".into(), "up".into(), "Established".into()));
        assert_eq!(p[2].2, "Active Socket: Connection refused");
    }

    #[test]
    fn parses_routes_with_second_path_and_ecmp() {
        let out = "BIRD 2.0.12 ready.\nTable master4:\n\
203.0.113.7/32       unicast [s1 22:45:01.000] * (100) [AS65001i]\n\
\tvia 10.200.100.2 on r1-s1\n\
\tType: BGP univ\n\
                     unicast [s2 22:45:01.100] (100) [AS65002i]\n\
\tvia 10.200.101.2 on r1-s2\n";
        let r = parse_routes(out).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].protocol, "s1");
        assert!(r[0].best);
        assert_eq!(r[0].next_hops, vec![ip("10.200.100.2")]);
        assert_eq!(r[1].protocol, "s2");
        assert!(!r[1].best);
        assert_eq!(r[1].next_hops, vec![ip("10.200.101.2")]);
        assert!(parse_routes("BIRD 2.0.12 ready.\nNetwork not found\n")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn sums_route_counts() {
        let out = "BIRD 2.0.12 ready.\n3 of 3 routes for 3 networks in table master4\n1 of 1 routes for 1 networks in table master6\nTotal: 4 of 4 routes for 4 networks in 2 tables\n";
        assert_eq!(parse_route_count(out).unwrap(), 4);
        assert!(parse_route_count("garbage").is_err());
    }
}
