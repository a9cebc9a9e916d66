//! FRR (zebra + bgpd, and bfdd when a neighbor has BFD; one isolated instance per
//! namespace): config generation, start/stop, and `vtysh` JSON queries.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::netns::Netns;
use crate::process::{run, Daemon};
use crate::tools::{binary, wait_until, wait_until_ok};

/// How long zebra and bgpd each get to come up.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// One `neighbor` of `router bgp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrrNeighbor {
    /// The neighbor's address.
    pub address: IpAddr,
    /// The neighbor's AS.
    pub remote_as: u32,
    /// The neighbor's TCP port, if not 179.
    pub port: Option<u16>,
    /// Source address of the session (`update-source`).
    pub update_source: Option<IpAddr>,
    /// Wait for the neighbor to connect.
    pub passive: bool,
    /// TCP MD5 password.
    pub password: Option<String>,
    /// Activate IPv4 unicast (default: when the neighbor is IPv4).
    pub ipv4: bool,
    /// Activate IPv6 unicast (default: when the neighbor is IPv6).
    pub ipv6: bool,
    /// Send all paths (ADD-PATH tx); FRR always offers ADD-PATH receive.
    pub add_path_tx_all: bool,
    /// Do not send the neighbor routes whose AS_PATH already holds its AS (FRR otherwise
    /// sends them and leaves loop detection to the receiver).
    pub sender_loop_detection: bool,
    /// Hold time (keepalive a third of it).
    pub hold_time: u16,
    /// BFD with the neighbor (`neighbor X bfd profile P`): (interval in ms for both
    /// directions, detection multiplier).
    pub bfd: Option<(u32, u8)>,
}

impl FrrNeighbor {
    /// A neighbor with hold time 9 s, activated in its address family.
    pub fn new(address: IpAddr, remote_as: u32) -> FrrNeighbor {
        FrrNeighbor {
            address,
            remote_as,
            port: None,
            update_source: None,
            passive: false,
            password: None,
            ipv4: address.is_ipv4(),
            ipv6: address.is_ipv6(),
            add_path_tx_all: false,
            sender_loop_detection: false,
            hold_time: 9,
            bfd: None,
        }
    }

    /// Sets the neighbor's port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Sets the session's source address.
    pub fn update_source(mut self, addr: IpAddr) -> Self {
        self.update_source = Some(addr);
        self
    }

    /// Waits for the neighbor to connect.
    pub fn passive(mut self) -> Self {
        self.passive = true;
        self
    }

    /// Uses a TCP MD5 password.
    pub fn password(mut self, pw: &str) -> Self {
        self.password = Some(pw.to_string());
        self
    }

    /// Activates IPv6 unicast as well.
    pub fn ipv6(mut self) -> Self {
        self.ipv6 = true;
        self
    }

    /// Sends every path (ADD-PATH tx).
    pub fn add_path_tx_all(mut self) -> Self {
        self.add_path_tx_all = true;
        self
    }

    /// Suppresses routes whose AS_PATH holds the neighbor's AS.
    pub fn sender_loop_detection(mut self) -> Self {
        self.sender_loop_detection = true;
        self
    }

    /// Sets the hold time.
    pub fn hold_time(mut self, secs: u16) -> Self {
        self.hold_time = secs;
        self
    }

    /// Runs BFD with the neighbor (bfdd starts beside bgpd): `interval_ms` as both the
    /// receive and the transmit interval, `multiplier` as the detection multiplier.
    pub fn bfd(mut self, interval_ms: u32, multiplier: u8) -> Self {
        self.bfd = Some((interval_ms, multiplier));
        self
    }
}

/// The bfdd profile holding BFD timers `(interval_ms, multiplier)`.
fn bfd_profile((interval, mult): (u32, u8)) -> String {
    format!("lab-{interval}-{mult}")
}

/// A whole FRR config (bgpd.conf; zebra gets a minimal one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrrConfig {
    /// Router id.
    pub router_id: Ipv4Addr,
    /// Local AS.
    pub local_as: u32,
    /// Advertise graceful restart (RFC 4724) to every neighbor.
    pub graceful_restart: bool,
    /// Run zebra, so best paths reach the namespace's kernel FIB.
    pub zebra: bool,
    /// Neighbors.
    pub neighbors: Vec<FrrNeighbor>,
    /// Prefixes announced with `network`, each with `set …` lines of a route-map applied to it
    /// (e.g. `set community 65000:100`), possibly none.
    pub announce: Vec<(String, Vec<String>)>,
    /// Host name (FRR sends it in the FQDN capability); default: the namespace name.
    pub hostname: Option<String>,
}

impl FrrConfig {
    /// A router with zebra and no neighbors.
    pub fn new(router_id: Ipv4Addr, local_as: u32) -> FrrConfig {
        FrrConfig {
            router_id,
            local_as,
            graceful_restart: false,
            zebra: true,
            neighbors: Vec::new(),
            announce: Vec::new(),
            hostname: None,
        }
    }

    /// Sets the host name FRR announces in its FQDN capability.
    pub fn hostname(mut self, name: &str) -> Self {
        self.hostname = Some(name.to_string());
        self
    }

    /// Adds a neighbor.
    pub fn neighbor(mut self, n: FrrNeighbor) -> Self {
        self.neighbors.push(n);
        self
    }

    /// Advertises graceful restart.
    pub fn graceful_restart(mut self) -> Self {
        self.graceful_restart = true;
        self
    }

    /// Runs bgpd alone (`-Z`): nothing reaches the kernel.
    pub fn without_zebra(mut self) -> Self {
        self.zebra = false;
        self
    }

    /// Announces `prefix` with route-map `set` lines.
    pub fn announce(mut self, prefix: &str, sets: &[&str]) -> Self {
        self.announce.push((
            prefix.to_string(),
            sets.iter().map(|s| s.to_string()).collect(),
        ));
        self
    }

    /// The bgpd.conf text; `log_file` is where bgpd logs, `hostname` applies unless the
    /// config sets one.
    pub fn render(&self, hostname: &str, log_file: &Path) -> String {
        let hostname = self.hostname.as_deref().unwrap_or(hostname);
        let mut c = String::new();
        let _ = writeln!(c, "! generated by porter-lab");
        let _ = writeln!(c, "frr defaults traditional");
        let _ = writeln!(c, "hostname {hostname}");
        let _ = writeln!(c, "log file {}", log_file.display());
        let _ = writeln!(c, "!");
        for (i, (_, sets)) in self.announce.iter().enumerate() {
            if !sets.is_empty() {
                let _ = writeln!(c, "route-map LAB-NET-{i} permit 10");
                for s in sets {
                    let _ = writeln!(c, " {s}");
                }
                let _ = writeln!(c, "!");
            }
        }
        let _ = writeln!(c, "router bgp {}", self.local_as);
        let _ = writeln!(c, " bgp router-id {}", self.router_id);
        // else eBGP routes show "(Policy)" and are neither accepted nor sent (RFC 8212)
        let _ = writeln!(c, " no bgp ebgp-requires-policy");
        // announce `network` prefixes without a matching route in zebra's RIB
        let _ = writeln!(c, " no bgp network import-check");
        // families are activated per neighbor below, so an IPv6 neighbor carries no IPv4
        let _ = writeln!(c, " no bgp default ipv4-unicast");
        // ECMP across paths from different neighbor ASes
        let _ = writeln!(c, " bgp bestpath as-path multipath-relax");
        if self.graceful_restart {
            let _ = writeln!(c, " bgp graceful-restart");
        }
        for n in &self.neighbors {
            let a = n.address;
            let _ = writeln!(c, " neighbor {a} remote-as {}", n.remote_as);
            if let Some(p) = n.port {
                let _ = writeln!(c, " neighbor {a} port {p}");
            }
            if let Some(s) = n.update_source {
                let _ = writeln!(c, " neighbor {a} update-source {s}");
            }
            if n.passive {
                let _ = writeln!(c, " neighbor {a} passive");
            }
            if let Some(pw) = &n.password {
                let _ = writeln!(c, " neighbor {a} password {pw}");
            }
            let _ = writeln!(
                c,
                " neighbor {a} timers {} {}",
                (n.hold_time / 3).max(1),
                n.hold_time
            );
            let _ = writeln!(c, " neighbor {a} timers connect 2");
            if n.sender_loop_detection {
                let _ = writeln!(c, " neighbor {a} sender-as-path-loop-detection");
            }
            if let Some(timers) = n.bfd {
                let _ = writeln!(c, " neighbor {a} bfd");
                let _ = writeln!(c, " neighbor {a} bfd profile {}", bfd_profile(timers));
            }
        }
        for (fam, v6) in [("ipv4", false), ("ipv6", true)] {
            let _ = writeln!(c, " address-family {fam} unicast");
            let _ = writeln!(c, "  maximum-paths 8");
            let _ = writeln!(c, "  maximum-paths ibgp 8");
            for (i, (prefix, sets)) in self.announce.iter().enumerate() {
                if prefix.contains(':') != v6 {
                    continue;
                }
                if sets.is_empty() {
                    let _ = writeln!(c, "  network {prefix}");
                } else {
                    let _ = writeln!(c, "  network {prefix} route-map LAB-NET-{i}");
                }
            }
            for n in &self.neighbors {
                let active = if v6 { n.ipv6 } else { n.ipv4 };
                if active {
                    let _ = writeln!(c, "  neighbor {} activate", n.address);
                    if n.add_path_tx_all {
                        let _ = writeln!(c, "  neighbor {} addpath-tx-all-paths", n.address);
                    }
                }
            }
            let _ = writeln!(c, " exit-address-family");
        }
        let _ = writeln!(c, "!");
        c
    }

    /// Whether any neighbor has BFD, so that bfdd must run.
    pub fn has_bfd(&self) -> bool {
        self.neighbors.iter().any(|n| n.bfd.is_some())
    }

    /// The bfdd.conf text: one profile per distinct BFD timer pair of the neighbors (bgpd
    /// creates the sessions themselves and names the profile, see [`FrrNeighbor::bfd`]).
    pub fn render_bfdd(&self, hostname: &str, log_file: &Path) -> String {
        let hostname = self.hostname.as_deref().unwrap_or(hostname);
        let mut timers: Vec<(u32, u8)> = self.neighbors.iter().filter_map(|n| n.bfd).collect();
        timers.sort_unstable();
        timers.dedup();
        let mut c = String::new();
        let _ = writeln!(c, "! generated by porter-lab");
        let _ = writeln!(c, "hostname {hostname}");
        let _ = writeln!(c, "log file {}", log_file.display());
        let _ = writeln!(c, "!");
        let _ = writeln!(c, "bfd");
        for t in timers {
            let _ = writeln!(c, " profile {}", bfd_profile(t));
            let _ = writeln!(c, "  receive-interval {}", t.0);
            let _ = writeln!(c, "  transmit-interval {}", t.0);
            let _ = writeln!(c, "  detect-multiplier {}", t.1);
            let _ = writeln!(c, " exit");
        }
        let _ = writeln!(c, "exit");
        c
    }
}

/// A running FRR (zebra unless disabled, bfdd when a neighbor has BFD, and bgpd), stopped
/// on drop.
#[derive(Debug)]
pub struct Frr {
    // bgpd first: fields drop in order, and bgpd should leave before bfdd and zebra
    bgpd: Daemon,
    bfdd: Option<Daemon>,
    zebra: Option<Daemon>,
    dir: PathBuf,
}

impl Frr {
    /// Prepares a state dir owned by user `frr`, checks the config with `bgpd -C`, starts
    /// zebra (waiting for its zserv socket), bfdd when a neighbor has BFD (waiting until
    /// vtysh reaches it; bgpd asks for its sessions through zebra) and bgpd (waiting until
    /// vtysh reaches it).
    pub fn start(ns: &Netns, config: &FrrConfig) -> Result<Frr> {
        let dir = ns.dir().join("frr");
        std::fs::create_dir_all(&dir)?;
        // FRR leaves pid, vty and zserv files after SIGTERM; stale ones break the next start
        for f in [
            "zebra.pid",
            "bgpd.pid",
            "zebra.vty",
            "bgpd.vty",
            "zserv.api",
            "bfdd.pid",
            "bfdd.vty",
            "bfdd.sock",
        ] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        let bgpd_conf = dir.join("bgpd.conf");
        let zebra_conf = dir.join("zebra.conf");
        let bgpd_log = dir.join("bgpd.log");
        let zebra_log = dir.join("zebra.log");
        std::fs::write(&bgpd_conf, config.render(ns.name(), &bgpd_log))?;
        std::fs::write(
            &zebra_conf,
            format!("hostname {}\nlog file {}\n", ns.name(), zebra_log.display()),
        )?;
        std::fs::write(dir.join("vtysh.conf"), "")?;
        let bfdd_conf = dir.join("bfdd.conf");
        let bfdd_log = dir.join("bfdd.log");
        if config.has_bfd() {
            anyhow::ensure!(
                config.zebra,
                "bfdd reaches bgpd through zebra: BFD needs zebra"
            );
            std::fs::write(&bfdd_conf, config.render_bfdd(ns.name(), &bfdd_log))?;
        }
        // the daemons drop privileges to user frr, which must own and reach the dir
        run(Command::new(binary("chown")?)
            .args(["-R", "frr:frr"])
            .arg(&dir))?;
        let bgpd_bin = binary("bgpd")?;
        run(Command::new(&bgpd_bin).arg("-C").arg("-f").arg(&bgpd_conf))
            .with_context(|| format!("bgpd rejected {}", bgpd_conf.display()))?;
        let zserv = dir.join("zserv.api");
        let common = |conf: &Path, pid: &str| -> Vec<std::ffi::OsString> {
            vec![
                "-f".into(),
                conf.into(),
                "-i".into(),
                dir.join(pid).into(),
                "-z".into(),
                zserv.clone().into(),
                "--vty_socket".into(),
                dir.clone().into(),
                "-P".into(),
                "0".into(),
            ]
        };
        let zebra = if config.zebra {
            let mut z = Daemon::spawn(
                &format!("zebra in {}", ns.name()),
                ns.name(),
                &binary("zebra")?,
                common(&zebra_conf, "zebra.pid"),
                &dir.join("zebra.stderr"),
            )?;
            let up = wait_until(START_TIMEOUT, "zebra's zserv.api socket", || {
                z.is_running() && zserv.exists()
            });
            if let Err(e) = up {
                return Err(z.failure(&format!("{e:#}"), &[&zebra_log]));
            }
            Some(z)
        } else {
            None
        };
        let bfdd = if config.has_bfd() {
            let bfdd_bin = binary("bfdd")?;
            run(Command::new(&bfdd_bin).arg("-C").arg("-f").arg(&bfdd_conf))
                .with_context(|| format!("bfdd rejected {}", bfdd_conf.display()))?;
            let mut args = common(&bfdd_conf, "bfdd.pid");
            // the control socket defaults to /var/run/frr, shared by every namespace
            args.extend(["--bfdctl".into(), dir.join("bfdd.sock").into()]);
            let mut b = Daemon::spawn(
                &format!("bfdd in {}", ns.name()),
                ns.name(),
                &bfdd_bin,
                args,
                &dir.join("bfdd.stderr"),
            )?;
            let ready = wait_until_ok(START_TIMEOUT, "vtysh reaching bfdd", || {
                b.check_running()?;
                vtysh_daemon(&dir, "bfdd", &["show bfd peers"]).map(|_| true)
            });
            if let Err(e) = ready {
                return Err(b.failure(&format!("did not become ready: {e:#}"), &[&bfdd_log]));
            }
            Some(b)
        } else {
            None
        };
        let mut args = common(&bgpd_conf, "bgpd.pid");
        if !config.zebra {
            args.push("-Z".into());
        }
        let mut bgpd = Daemon::spawn(
            &format!("bgpd in {}", ns.name()),
            ns.name(),
            &bgpd_bin,
            args,
            &dir.join("bgpd.stderr"),
        )?;
        let ready = wait_until_ok(START_TIMEOUT, "vtysh reaching bgpd", || {
            bgpd.check_running()?;
            vtysh(&dir, &["show bgp summary"]).map(|_| true)
        });
        if let Err(e) = ready {
            return Err(bgpd.failure(&format!("did not become ready: {e:#}"), &[&bgpd_log]));
        }
        Ok(Frr {
            bgpd,
            bfdd,
            zebra,
            dir,
        })
    }

    /// The bgpd daemon (PID, log).
    pub fn bgpd(&self) -> &Daemon {
        &self.bgpd
    }

    /// The zebra daemon, if running.
    pub fn zebra(&self) -> Option<&Daemon> {
        self.zebra.as_ref()
    }

    /// Runs vtysh commands against bgpd (`vtysh --vty_socket DIR -d bgpd -c CMD …`).
    pub fn vtysh(&self, commands: &[&str]) -> Result<String> {
        vtysh(&self.dir, commands)
    }

    /// Runs one `show … json` command and parses it.
    pub fn json(&self, command: &str) -> Result<serde_json::Value> {
        let out = self.vtysh(&[command])?;
        serde_json::from_str(&out).with_context(|| format!("{command:?} gave non-JSON: {out}"))
    }

    /// `show bgp summary json`.
    pub fn summary(&self) -> Result<serde_json::Value> {
        self.json("show bgp summary json")
    }

    /// The FSM state of neighbor `addr` (`show bgp neighbors ADDR json` → `bgpState`).
    pub fn neighbor_state(&self, addr: IpAddr) -> Result<String> {
        let v = self.json(&format!("show bgp neighbors {addr} json"))?;
        v.get(addr.to_string())
            .and_then(|n| n.get("bgpState"))
            .and_then(|s| s.as_str())
            .map(str::to_string)
            .with_context(|| format!("no bgpState for {addr} in {v}"))
    }

    /// Waits until every neighbor in `addrs` is Established.
    pub fn wait_established(&self, addrs: &[IpAddr], timeout: Duration) -> Result<Duration> {
        wait_until_ok(
            timeout,
            &format!("FRR neighbors {addrs:?} Established"),
            || {
                for a in addrs {
                    if self.neighbor_state(*a)? != "Established" {
                        return Ok(false);
                    }
                }
                Ok(true)
            },
        )
        .map_err(|e| {
            let summary = self.vtysh(&["show bgp summary"]).unwrap_or_default();
            self.bgpd
                .failure(&format!("{e:#}\n{summary}"), &[&self.dir.join("bgpd.log")])
        })
    }

    /// `show bgp ipv4|ipv6 unicast PREFIX json`.
    pub fn route(&self, prefix: &str) -> Result<serde_json::Value> {
        let fam = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        self.json(&format!("show bgp {fam} unicast {prefix} json"))
    }

    /// Next hops of the paths FRR holds for `prefix` (empty when none).
    pub fn route_next_hops(&self, prefix: &str) -> Result<Vec<IpAddr>> {
        path_next_hops(&self.route(prefix)?)
    }

    /// Stops announcing `prefix` (`no network PREFIX`): FRR withdraws it from every peer.
    pub fn withdraw_network(&self, prefix: &str, local_as: u32) -> Result<()> {
        let fam = if prefix.contains(':') { "ipv6" } else { "ipv4" };
        self.vtysh(&[
            "configure terminal",
            &format!("router bgp {local_as}"),
            &format!("address-family {fam} unicast"),
            &format!("no network {prefix}"),
        ])
        .map(drop)
    }

    /// Asks neighbor `addr` to resend its routes of the family of `addr` (sends a
    /// ROUTE-REFRESH, RFC 2918): `clear bgp … soft in`.
    pub fn refresh_in(&self, addr: IpAddr) -> Result<()> {
        let fam = if addr.is_ipv6() { "ipv6" } else { "ipv4" };
        self.vtysh(&[&format!("clear bgp {fam} unicast {addr} soft in")])
            .map(drop)
    }

    /// Shuts the session to `addr` down with a shutdown communication (RFC 9003).
    pub fn shutdown_neighbor(&self, addr: IpAddr, message: &str, local_as: u32) -> Result<()> {
        self.vtysh(&[
            "configure terminal",
            &format!("router bgp {local_as}"),
            &format!("neighbor {addr} shutdown message {message}"),
        ])
        .map(drop)
    }

    /// bfdd's sessions (`show bfd peers json`, an array of objects with `peer`, `status`
    /// (`up`, `down`, `init`, `shutdown`), `receive-interval`, `transmit-interval`,
    /// `remote-receive-interval`, `remote-transmit-interval`, …, intervals in ms).
    pub fn bfd_peers(&self) -> Result<Vec<serde_json::Value>> {
        let out = vtysh_daemon(&self.dir, "bfdd", &["show bfd peers json"])?;
        serde_json::from_str(&out).with_context(|| format!("show bfd peers json gave {out}"))
    }

    /// bfdd's session with `addr`, if any.
    pub fn bfd_peer(&self, addr: IpAddr) -> Result<Option<serde_json::Value>> {
        let addr = addr.to_string();
        Ok(self
            .bfd_peers()?
            .into_iter()
            .find(|p| p.get("peer").and_then(|a| a.as_str()) == Some(addr.as_str())))
    }

    /// Shuts down (or brings back) every BFD session using the timers `(interval_ms,
    /// multiplier)` of [`FrrNeighbor::bfd`] (`shutdown` in their bfdd profile): bfdd tells
    /// the neighbor AdminDown (RFC 5880 §6.8.16) and stops sending.
    pub fn bfd_shutdown(&self, interval_ms: u32, multiplier: u8, shutdown: bool) -> Result<()> {
        let no = if shutdown { "" } else { "no " };
        vtysh_daemon(
            &self.dir,
            "bfdd",
            &[
                "configure terminal",
                "bfd",
                &format!("profile {}", bfd_profile((interval_ms, multiplier))),
                &format!("{no}shutdown"),
            ],
        )
        .map(drop)
    }

    /// The bfdd daemon, if running.
    pub fn bfdd(&self) -> Option<&Daemon> {
        self.bfdd.as_ref()
    }

    /// The state directory (configs, logs, sockets).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops bgpd, bfdd, then zebra now (also done on drop).
    pub fn stop(&mut self) -> Result<()> {
        self.bgpd.stop()?;
        if let Some(b) = &mut self.bfdd {
            b.stop()?;
        }
        if let Some(z) = &mut self.zebra {
            z.stop()?;
        }
        Ok(())
    }
}

/// `vtysh --vty_socket DIR --config_dir DIR -d bgpd -c CMD…`.
fn vtysh(dir: &Path, commands: &[&str]) -> Result<String> {
    vtysh_daemon(dir, "bgpd", commands)
}

/// `vtysh --vty_socket DIR --config_dir DIR -d DAEMON -c CMD…`.
fn vtysh_daemon(dir: &Path, daemon: &str, commands: &[&str]) -> Result<String> {
    let mut cmd = Command::new(binary("vtysh")?);
    cmd.arg("--vty_socket")
        .arg(dir)
        .arg("--config_dir")
        .arg(dir)
        .args(["-d", daemon]);
    for c in commands {
        cmd.args(["-c", c]);
    }
    run(&mut cmd)
}

/// Next hops in `show bgp … PREFIX json`: `paths[].nexthops[].ip`.
fn path_next_hops(v: &serde_json::Value) -> Result<Vec<IpAddr>> {
    let mut hops = Vec::new();
    for p in v
        .get("paths")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
    {
        for nh in p
            .get("nexthops")
            .and_then(|n| n.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(ip) = nh.get("ip").and_then(|i| i.as_str()) {
                hops.push(ip.parse().with_context(|| format!("bad next hop {ip}"))?);
            }
        }
    }
    Ok(hops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_neighbors_families_and_announcements() {
        let c = FrrConfig::new("10.200.100.1".parse().unwrap(), 4_200_000_001)
            .graceful_restart()
            .neighbor(
                FrrNeighbor::new("10.200.100.2".parse().unwrap(), 65001)
                    .port(1790)
                    .passive()
                    .password("pw")
                    .add_path_tx_all(),
            )
            .neighbor(FrrNeighbor::new(
                "2001:db8:200:100::2".parse().unwrap(),
                65001,
            ))
            .announce("198.51.100.0/24", &["set community 65000:100"])
            .announce("2001:db8:1::/48", &[])
            .render("r1", Path::new("/tmp/x/bgpd.log"));
        for want in [
            "router bgp 4200000001",
            "bgp graceful-restart",
            "no bgp ebgp-requires-policy",
            "neighbor 10.200.100.2 remote-as 65001",
            "neighbor 10.200.100.2 port 1790",
            "neighbor 10.200.100.2 passive",
            "neighbor 10.200.100.2 password pw",
            "neighbor 10.200.100.2 timers 3 9",
            "route-map LAB-NET-0 permit 10\n set community 65000:100",
            "network 198.51.100.0/24 route-map LAB-NET-0",
            "network 2001:db8:1::/48\n",
            "log file /tmp/x/bgpd.log",
        ] {
            assert!(c.contains(want), "missing {want:?} in\n{c}");
        }
        // each neighbor is activated only in its own family
        let v4 = &c[c.find("address-family ipv4").unwrap()..c.find("address-family ipv6").unwrap()];
        assert!(v4.contains("neighbor 10.200.100.2 activate"), "{v4}");
        assert!(
            v4.contains("neighbor 10.200.100.2 addpath-tx-all-paths"),
            "{v4}"
        );
        assert!(!v4.contains("2001:db8:200:100::2 activate"), "{v4}");
        let v6 = &c[c.find("address-family ipv6").unwrap()..];
        assert!(v6.contains("neighbor 2001:db8:200:100::2 activate"), "{v6}");
    }

    #[test]
    fn renders_bfd_neighbors_and_one_bfdd_profile_per_timer_pair() {
        let c = FrrConfig::new("10.200.100.1".parse().unwrap(), 65000)
            .neighbor(FrrNeighbor::new("10.200.100.2".parse().unwrap(), 65001).bfd(300, 3))
            .neighbor(FrrNeighbor::new("2001:db8:200:100::2".parse().unwrap(), 65001).bfd(300, 3))
            .neighbor(FrrNeighbor::new("10.200.100.3".parse().unwrap(), 65001));
        assert!(c.has_bfd());
        let bgpd = c.render("r1", Path::new("/tmp/x/bgpd.log"));
        for want in [
            " neighbor 10.200.100.2 bfd\n",
            " neighbor 10.200.100.2 bfd profile lab-300-3\n",
            " neighbor 2001:db8:200:100::2 bfd profile lab-300-3\n",
        ] {
            assert!(bgpd.contains(want), "missing {want:?} in\n{bgpd}");
        }
        assert!(!bgpd.contains("10.200.100.3 bfd"), "{bgpd}");
        let bfdd = c.render_bfdd("r1", Path::new("/tmp/x/bfdd.log"));
        assert_eq!(
            bfdd.matches("profile ").count(),
            1,
            "one profile for one timer pair:\n{bfdd}"
        );
        assert!(
            bfdd.contains(
                "bfd\n profile lab-300-3\n  receive-interval 300\n  transmit-interval 300\n  detect-multiplier 3\n exit\nexit\n"
            ),
            "{bfdd}"
        );
        assert!(!FrrConfig::new("10.0.0.1".parse().unwrap(), 1).has_bfd());
    }

    #[test]
    fn reads_path_next_hops() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"prefix":"203.0.113.7/32","paths":[{"nexthops":[{"ip":"10.200.100.2","afi":"ipv4"}]},{"nexthops":[{"ip":"10.200.101.2"}]}]}"#,
        )
        .unwrap();
        assert_eq!(path_next_hops(&v).unwrap().len(), 2);
        assert!(path_next_hops(&serde_json::json!({})).unwrap().is_empty());
    }
}
