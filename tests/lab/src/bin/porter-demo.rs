//! `porter-demo`: the README's first command. Builds a small network in namespaces — a BIRD 2
//! router and two nodes, each running `porter standalone` from the same embedded example
//! configuration — shows the router's ECMP route for the demo Service and one speaker's
//! `/status`, then cleans everything up.
//!
//! ```text
//! porter-demo --porter target/release/porter [--keep-seconds N]
//! ```
//!
//! ```text
//!            ns router (BIRD 2, AS 65000)
//!     r-n1 10.200.1.1/24        r-n2 10.200.2.1/24
//!          |                          |
//!     n1-r 10.200.1.2/24        n2-r 10.200.2.2/24
//!    ns node1 (porter, AS 65001)   ns node2 (porter, AS 65002)
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use porter_lab::{skip_unless_available, wait_until, Bird, BirdConfig, BirdPeer, Netns, Tool};

const VIP: &str = "203.0.113.1";
const HTTP: &str = "127.0.0.1:9696";

/// The standalone configuration of one node: what a new user would write.
fn node_config(asn: u32, node_ip: &str, router_ip: &str) -> String {
    format!(
        r#"# porter standalone: one BGP router, one address pool, one Service
apiVersion: network.kubesphere.io/v1alpha2
kind: BgpConf
metadata:
  name: default
spec:
  as: {asn}
  routerId: {node_ip}
  listenPort: 17900
---
apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata:
  name: router
spec:
  conf:
    neighborAddress: {router_ip}
    peerAs: 65000
  timers:
    config:
      holdTime: 9
      keepaliveInterval: 3
      connectRetry: 2
---
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata:
  name: demo-pool
  annotations:
    eip.openelb.kubesphere.io/is-default-eip: "true"
spec:
  address: 203.0.113.0/28
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
  annotations:
    lb.kubesphere.io/v1alpha1: porter
spec:
  type: LoadBalancer
  ports:
  - name: http
    port: 80
    protocol: TCP
"#
    )
}

/// A porter process inside a namespace, killed on drop.
struct Porter {
    child: Child,
    log: PathBuf,
}

impl Porter {
    fn start(ns: &Netns, porter: &Path, node: &str, config: &str) -> Result<Porter> {
        let cfg = ns.dir().join("porter.yaml");
        std::fs::write(&cfg, config)?;
        let log = ns.dir().join("porter.log");
        let out = std::fs::File::create(&log)?;
        let child = ns
            .command(porter)
            .args(["standalone", "--config"])
            .arg(&cfg)
            .args(["--node-name", node, "--http", HTTP])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", porter.display()))?;
        Ok(Porter { child, log })
    }
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Porter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `path` from porter's HTTP endpoint inside `ns`, by running this program there.
fn http_get(ns: &Netns, path: &str) -> Result<String> {
    let me = std::env::current_exe()?;
    let out = ns.command(me).args(["http-get", HTTP, path]).output()?;
    if !out.status.success() {
        bail!(
            "GET {path} in {}: {}",
            ns.name(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The hidden helper behind [`http_get`]: a plain HTTP/1.1 GET, body to stdout.
fn http_get_here(addr: &str, path: &str) -> Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: porter\r\nconnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    if !head.starts_with("HTTP/1.1 200") {
        bail!("{}", head.lines().next().unwrap_or("no answer"));
    }
    print!("{body}");
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("http-get") if args.len() == 3 => http_get_here(&args[1], &args[2]),
        _ => run(&args),
    };
    if let Err(e) = res {
        eprintln!("porter-demo: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<()> {
    let mut porter = PathBuf::from("target/release/porter");
    let mut keep = 0u64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--porter" => porter = it.next().context("--porter needs a path")?.into(),
            "--keep-seconds" => {
                keep = it
                    .next()
                    .context("--keep-seconds needs a number")?
                    .parse()?
            }
            other => bail!(
                "unknown argument {other:?} (usage: porter-demo --porter PATH [--keep-seconds N])"
            ),
        }
    }
    if !porter.exists() {
        bail!(
            "{} not found: build it first (cargo build --release)",
            porter.display()
        );
    }
    let porter = porter.canonicalize()?;
    if !skip_unless_available("porter-demo", &[Tool::Bird]) {
        bail!("the demo needs root and BIRD 2 (bash tests/demo.sh installs it)");
    }
    let t0 = Instant::now();
    let router = Netns::new("demo-router")?;
    let node1 = Netns::new("demo-node1")?;
    let node2 = Netns::new("demo-node2")?;
    router.veth("r-n1", &node1, "n1-r")?;
    router.veth("r-n2", &node2, "n2-r")?;
    router.addr("r-n1", "10.200.1.1/24")?;
    router.addr("r-n2", "10.200.2.1/24")?;
    node1.addr("n1-r", "10.200.1.2/24")?;
    node2.addr("n2-r", "10.200.2.2/24")?;
    router.exec(&["sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1"])?;
    println!(
        "== network: router ns {} ↔ node1 ns {}, node2 ns {}",
        router.name(),
        node1.name(),
        node2.name()
    );

    let bird = Bird::start(
        &router,
        &BirdConfig::new("10.200.0.1".parse()?, 65000)
            .peer(BirdPeer::new("node1", "10.200.1.2".parse()?, 65001).hold_time(9))
            .peer(BirdPeer::new("node2", "10.200.2.2".parse()?, 65002).hold_time(9)),
    )?;
    println!("== BIRD 2 started in {}", router.name());
    let p1 = Porter::start(
        &node1,
        &porter,
        "node1",
        &node_config(65001, "10.200.1.2", "10.200.1.1"),
    )?;
    let p2 = Porter::start(
        &node2,
        &porter,
        "node2",
        &node_config(65002, "10.200.2.2", "10.200.2.1"),
    )?;
    println!("== porter standalone started on node1 and node2 (config: deploy/standalone/example.yaml shape)");

    if let Err(e) = bird.wait_established(&["node1", "node2"], Duration::from_secs(30)) {
        bail!(
            "sessions did not come up: {e:#}\n-- node1 log:\n{}\n-- node2 log:\n{}",
            p1.log_tail(),
            p2.log_tail()
        );
    }
    println!("== both BGP sessions Established after {:?}", t0.elapsed());
    let ecmp = wait_until(Duration::from_secs(30), "2-way ECMP at the router", || {
        router
            .route_next_hops(VIP)
            .map(|h| h.len() >= 2)
            .unwrap_or(false)
    });
    println!("\n$ birdc show route {VIP}/32");
    for r in bird.routes(&format!("{VIP}/32"))? {
        println!("{}", r.text);
    }
    println!("\n$ ip -n {} route show {VIP}", router.name());
    print!("{}", router.ip(&["route", "show", VIP])?);
    if let Err(e) = ecmp {
        bail!(
            "the router has no 2-way ECMP route for {VIP}: {e:#}\n-- node1 log:\n{}",
            p1.log_tail()
        );
    }
    println!(
        "\n== the router spreads {VIP} over both nodes (ECMP), {:?} after start",
        t0.elapsed()
    );
    println!("\n$ curl http://{HTTP}/status   # on node1");
    println!("{}", http_get(&node1, "/status")?);
    if keep > 0 {
        println!(
            "== keeping the lab for {keep}s (namespaces {}, {}, {})",
            router.name(),
            node1.name(),
            node2.name()
        );
        std::thread::sleep(Duration::from_secs(keep));
    }
    drop((p1, p2, bird));
    println!("== cleaned up: processes stopped, namespaces deleted");
    Ok(())
}
