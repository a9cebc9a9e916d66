//! Network namespaces, veth links, bridges and addresses.

use anyhow::{bail, Context, Result};
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::process::{pid_alive, run, signal, Daemon};
use crate::tools::binary;

/// Counter making namespace names unique within one process (tests run in threads).
static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// Root of the per-namespace state directories. FRR drops privileges to user `frr`, which
/// must reach its directory: every parent needs o+x, so not under /root.
const DEFAULT_STATE_ROOT: &str = "/tmp/porter-lab";

/// A network namespace named `lab-<tag>-<pid>-<n>`, with `lo` up and a state directory for
/// the configs, sockets and logs of what runs inside.
///
/// Drop stops every process still inside (SIGTERM, then SIGKILL), deletes the namespace and
/// removes the state directory — unless the thread is panicking (a failed test) or
/// `PORTER_LAB_KEEP=1`, in which case the directory is kept and its path printed.
#[derive(Debug)]
pub struct Netns {
    name: String,
    dir: PathBuf,
}

impl Netns {
    /// Creates a namespace whose name contains `tag` (letters, digits and `-` are kept).
    pub fn new(tag: &str) -> Result<Netns> {
        Netns::with_prefix("lab", tag)
    }

    /// Like [`Netns::new`] but named `<prefix>-<tag>-<pid>-<n>`: suites that share a machine
    /// with other users of the lab give their namespaces a prefix of their own (the porter
    /// interop tests use `io`).
    pub fn with_prefix(prefix: &str, tag: &str) -> Result<Netns> {
        let tag: String = tag
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let ip = binary("ip")?;
        let mut name;
        loop {
            let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            name = format!("{prefix}-{tag}-{}-{n}", std::process::id());
            // a leftover from a crashed run with the same PID: take the next number
            if !Path::new("/run/netns").join(&name).exists() {
                break;
            }
        }
        run(Command::new(&ip).args(["netns", "add", &name]))?;
        let root = state_root();
        let ns = Netns {
            dir: root.join(&name),
            name,
        };
        // from here on Drop cleans up whatever fails below
        for d in [&root, &ns.dir] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
        }
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Deletes namespaces an interrupted lab run left behind, with the processes inside:
    /// those named `lab-<tag>-<pid>-<n>` whose creating process `<pid>` is gone and that have a
    /// state directory under the lab's state root (so a namespace someone else named `lab-…`
    /// is never touched). Returns the names removed.
    pub fn clean_stale() -> Result<Vec<String>> {
        let root = state_root();
        let list = run(Command::new(binary("ip")?).args(["netns", "list"]))?;
        let mut removed = Vec::new();
        for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
            let Some(pid) = creator_pid(name) else {
                continue;
            };
            let dir = root.join(name);
            if pid_alive(pid) || !dir.is_dir() {
                continue;
            }
            // Drop does the work: stop what runs inside, delete the namespace and the dir
            drop(Netns {
                name: name.to_string(),
                dir,
            });
            removed.push(name.to_string());
        }
        Ok(removed)
    }

    /// The namespace name (as in `ip netns list`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The state directory for files of processes in this namespace (mode 0755).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A command that runs `program` inside the namespace (`ip netns exec NAME program`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(binary("ip").unwrap_or_else(|_| PathBuf::from("ip")));
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs `argv` inside the namespace and returns its stdout; an error carries stderr.
    pub fn exec(&self, argv: &[&str]) -> Result<String> {
        let Some((prog, args)) = argv.split_first() else {
            bail!("exec: empty command");
        };
        run(self.command(prog).args(args))
    }

    /// Starts a long-running program inside the namespace (e.g. porter's own speaker) as a
    /// tracked [`Daemon`], stdout and stderr going to `<state dir>/<log_name>`; it is stopped
    /// when the returned value is dropped.
    pub fn spawn<I, S>(&self, log_name: &str, program: &Path, args: I) -> Result<Daemon>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Daemon::spawn(
            &format!("{} in {}", program.display(), self.name),
            &self.name,
            program,
            args,
            &self.dir.join(log_name),
        )
    }

    /// Runs `ip -n NAME args…` and returns its stdout.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        run(Command::new(binary("ip")?)
            .args(["-n", &self.name])
            .args(args))
    }

    /// Creates a veth pair, `local` in this namespace and `remote` in `peer`, both up. Both ends
    /// are created directly in their namespaces, so nothing appears in the host namespace.
    pub fn veth(&self, local: &str, peer: &Netns, remote: &str) -> Result<()> {
        run(Command::new(binary("ip")?).args([
            "link", "add", "name", local, "netns", &self.name, "type", "veth", "peer", "name",
            remote, "netns", &peer.name,
        ]))
        .with_context(|| format!("veth {}:{local} <-> {}:{remote}", self.name, peer.name))?;
        self.link_up(local)?;
        peer.link_up(remote)
    }

    /// Adds an address (`10.200.100.1/24`, `2001:db8:200:100::1/64`) to `ifname`. IPv6
    /// addresses skip duplicate address detection, which would hold them "tentative" (unusable
    /// for a BGP session) for about two seconds.
    pub fn addr(&self, ifname: &str, cidr: &str) -> Result<()> {
        if cidr.contains(':') {
            self.ip(&["-6", "addr", "add", cidr, "dev", ifname, "nodad"])?;
        } else {
            self.ip(&["addr", "add", cidr, "dev", ifname])?;
        }
        Ok(())
    }

    /// Sets `ifname` up.
    pub fn link_up(&self, ifname: &str) -> Result<()> {
        self.ip(&["link", "set", "dev", ifname, "up"]).map(drop)
    }

    /// Sets `ifname` down (e.g. to cut a BGP session without a NOTIFICATION).
    pub fn link_down(&self, ifname: &str) -> Result<()> {
        self.ip(&["link", "set", "dev", ifname, "down"]).map(drop)
    }

    /// Sets the MAC address of `ifname`, cycling the link down and up so the IPv6 link-local
    /// address is derived again from the new MAC (routers put it in IPv6 next hops, so a
    /// fixed MAC makes captured UPDATEs repeatable).
    pub fn set_mac(&self, ifname: &str, mac: &str) -> Result<()> {
        self.link_down(ifname)?;
        self.ip(&["link", "set", "dev", ifname, "address", mac])?;
        self.link_up(ifname)
    }

    /// Creates a bridge `name` in this namespace and sets it up.
    pub fn bridge(&self, name: &str) -> Result<()> {
        self.ip(&["link", "add", name, "type", "bridge"])?;
        self.link_up(name)
    }

    /// Attaches interface `ifname` of this namespace to bridge `bridge`.
    pub fn enslave(&self, ifname: &str, bridge: &str) -> Result<()> {
        self.ip(&["link", "set", "dev", ifname, "master", bridge])
            .map(drop)
    }

    /// Next hops of the kernel route for exactly `prefix` in this namespace
    /// (`ip -j route show PREFIX`): one per `nexthop` for ECMP, empty when there is no route.
    pub fn route_next_hops(&self, prefix: &str) -> Result<Vec<IpAddr>> {
        let family = if prefix.contains(':') { "-6" } else { "-4" };
        let out = self.ip(&["-j", family, "route", "show", prefix])?;
        parse_route_next_hops(&out)
    }

    /// PIDs of the processes inside this namespace (`ip netns pids`).
    pub fn pids(&self) -> Result<Vec<u32>> {
        let out = run(Command::new(binary("ip")?).args(["netns", "pids", &self.name]))?;
        Ok(out
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect())
    }

    fn kill_all(&self) {
        let Ok(pids) = self.pids() else { return };
        for &p in &pids {
            let _ = signal(p, "TERM");
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while pids.iter().any(|&p| pid_alive(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for &p in pids.iter().filter(|&&p| pid_alive(p)) {
            eprintln!(
                "porter-lab: pid {p} in {} ignored SIGTERM, killing",
                self.name
            );
            let _ = signal(p, "KILL");
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.kill_all();
        if let Err(e) =
            binary("ip").and_then(|ip| run(Command::new(ip).args(["netns", "del", &self.name])))
        {
            eprintln!("porter-lab: deleting netns {}: {e:#}", self.name);
        }
        let keep = std::env::var("PORTER_LAB_KEEP").is_ok_and(|v| v == "1");
        if keep || std::thread::panicking() {
            eprintln!(
                "porter-lab: kept state of netns {} in {}",
                self.name,
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A shared L2 segment: a bridge `br0` in a namespace of its own, to which router and
/// speakers attach one veth each, as on a Kubernetes node LAN.
#[derive(Debug)]
pub struct Lan {
    switch: Netns,
    ports: u32,
}

impl Lan {
    /// Creates the switch namespace and its bridge.
    pub fn new(tag: &str) -> Result<Lan> {
        Lan::with_prefix("lab", tag)
    }

    /// Like [`Lan::new`], the switch namespace named as by [`Netns::with_prefix`].
    pub fn with_prefix(prefix: &str, tag: &str) -> Result<Lan> {
        let switch = Netns::with_prefix(prefix, &format!("{tag}-sw"))?;
        switch.bridge("br0")?;
        Ok(Lan { switch, ports: 0 })
    }

    /// Connects `ns` to the segment through a new interface `ifname` in `ns` (up) and gives it
    /// the addresses in `cidrs`.
    pub fn attach(&mut self, ns: &Netns, ifname: &str, cidrs: &[&str]) -> Result<()> {
        let port = format!("p{}", self.ports);
        self.ports += 1;
        ns.veth(ifname, &self.switch, &port)?;
        self.switch.enslave(&port, "br0")?;
        for c in cidrs {
            ns.addr(ifname, c)?;
        }
        Ok(())
    }

    /// The namespace holding the bridge (e.g. to capture on `br0`).
    pub fn switch(&self) -> &Netns {
        &self.switch
    }
}

/// Where state directories live: `$PORTER_LAB_DIR` or /tmp/porter-lab.
fn state_root() -> PathBuf {
    std::env::var_os("PORTER_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_ROOT))
}

/// The PID in a name `lab-<tag>-<pid>-<n>` made by [`Netns::new`].
fn creator_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("lab-")?;
    let mut parts = rest.rsplitn(3, '-');
    let n = parts.next()?;
    let pid = parts.next()?;
    let tag = parts.next()?;
    if tag.is_empty() || n.parse::<u32>().is_err() {
        return None;
    }
    pid.parse().ok()
}

/// Parses `ip -j route show` output into next-hop addresses.
fn parse_route_next_hops(json: &str) -> Result<Vec<IpAddr>> {
    let json = json.trim();
    if json.is_empty() {
        return Ok(Vec::new());
    }
    let routes: serde_json::Value =
        serde_json::from_str(json).with_context(|| format!("parsing ip -j route: {json}"))?;
    let mut hops = Vec::new();
    for r in routes.as_array().into_iter().flatten() {
        let gateways = match r.get("nexthops").and_then(|n| n.as_array()) {
            Some(nhs) => nhs.iter().filter_map(|n| n.get("gateway")).collect(),
            None => r.get("gateway").into_iter().collect::<Vec<_>>(),
        };
        for g in gateways {
            let s = g.as_str().unwrap_or_default();
            hops.push(s.parse().with_context(|| format!("bad gateway {s:?}"))?);
        }
    }
    Ok(hops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_creator_pid_from_lab_names_only() {
        assert_eq!(creator_pid("lab-smoke-bird-r-21421-0"), Some(21421));
        assert_eq!(creator_pid("lab-x-7-12"), Some(7));
        assert_eq!(creator_pid("lab-21421-0"), None);
        assert_eq!(creator_pid("other-x-1-2"), None);
        assert_eq!(creator_pid("lab-x-y-z"), None);
    }

    #[test]
    fn parses_single_and_ecmp_routes() {
        let one = r#"[{"dst":"203.0.113.7","gateway":"10.200.100.2","dev":"r1-s1","protocol":"bird","metric":32,"flags":[]}]"#;
        assert_eq!(
            parse_route_next_hops(one).unwrap(),
            vec!["10.200.100.2".parse::<IpAddr>().unwrap()]
        );
        let ecmp = r#"[{"dst":"203.0.113.7","protocol":"bird","metric":32,"flags":[],"nexthops":[{"gateway":"10.200.100.2","dev":"a","weight":1,"flags":[]},{"gateway":"10.200.101.2","dev":"b","weight":1,"flags":[]}]}]"#;
        assert_eq!(parse_route_next_hops(ecmp).unwrap().len(), 2);
        assert!(parse_route_next_hops("").unwrap().is_empty());
        assert!(parse_route_next_hops("[]").unwrap().is_empty());
        assert!(parse_route_next_hops("{nope").is_err());
    }
}
