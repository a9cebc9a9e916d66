//! A network lab for end-to-end tests: a router namespace with a bridge (the LAN), node
//! namespaces on it, BIRD as the router, and the forwarder that lets processes in the node
//! namespaces reach an API server on the test's side without any address in the host
//! namespace.
//!
//! Lab: 10.200.48.0/24 on a bridge in the router namespace (router .254, node i at .i).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The LAN's first three octets.
pub const LAN: &str = "10.200.48";

/// Network namespaces deleted on drop.
pub struct Lab {
    /// The router namespace.
    pub router: String,
    /// The node namespaces, node i+1 at index i.
    pub nodes: Vec<String>,
    /// The LAN's first three octets ([`LAN`] unless made with [`Lab::with_lan`]).
    pub lan: String,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.nodes.iter().chain([&self.router]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Runs a command, panicking with its stderr when it fails.
pub fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the test runs as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Lab {
    /// Namespaces `pk8s<tag>-r` and `pk8s<tag>-n<i>` wired to the LAN.
    pub fn new(tag: &str, nodes: usize) -> Lab {
        Lab::with_lan(&format!("pk8s{tag}"), LAN, nodes)
    }

    /// Namespaces `<prefix>-r` and `<prefix>-n<i>` on LAN `lan` (`10.200.X`), for tests that
    /// run beside others using [`LAN`].
    pub fn with_lan(prefix: &str, lan: &str, nodes: usize) -> Lab {
        let lab = Lab {
            router: format!("{prefix}-r"),
            nodes: (1..=nodes).map(|i| format!("{prefix}-n{i}")).collect(),
            lan: lan.to_string(),
        };
        for ns in lab.nodes.iter().chain([&lab.router]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            sh(&["ip", "netns", "add", ns]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        let r = lab.router.as_str();
        sh(&["ip", "-n", r, "link", "add", "br0", "type", "bridge"]);
        sh(&[
            "ip",
            "-n",
            r,
            "addr",
            "add",
            &format!("{}.254/24", lab.lan),
            "dev",
            "br0",
        ]);
        sh(&["ip", "-n", r, "link", "set", "br0", "up"]);
        for (i, ns) in lab.nodes.iter().enumerate() {
            let port = format!("e{}", i + 1);
            // Both ends are created inside namespaces: nothing appears in the host's.
            sh(&[
                "ip", "-n", r, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", ns,
            ]);
            sh(&["ip", "-n", r, "link", "set", &port, "master", "br0", "up"]);
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{}.{}/24", lab.lan, i + 1),
                "dev",
                "eth0",
            ]);
            sh(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
        }
        lab
    }

    /// Next hops of `vip` in the router's FIB (empty when there is no route).
    pub fn fib(&self, vip: &str) -> BTreeSet<IpAddr> {
        let out = Command::new("ip")
            .args(["-n", &self.router, "route", "show", vip])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let words: Vec<&str> = text.split_whitespace().collect();
        words
            .windows(2)
            .filter(|w| w[0] == "via")
            .filter_map(|w| w[1].parse().ok())
            .collect()
    }
}

pub const BIRD_CONF: &str = r#"
log stderr all;
router id 10.200.48.254;
protocol device { scan time 1; }
protocol kernel {
  ipv4 { import none; export all; };
  merge paths on;
  scan time 2;
}
template bgp porter {
  local 10.200.48.254 as 65001;
  hold time 9;
  keepalive time 3;
  connect retry time 2;
  ipv4 { import all; export none; add paths rx; };
}
protocol bgp n1 from porter { neighbor 10.200.48.1 as 64512; }
protocol bgp n2 from porter { neighbor 10.200.48.2 as 64512; }
"#;

/// The in-namespace end of the API server forwarder: TCP on the namespace's loopback to the
/// Unix socket the test serves.
pub const FORWARDER: &str = r#"
import asyncio, sys
port, path = int(sys.argv[1]), sys.argv[2]
async def pipe(r, w):
    try:
        while True:
            d = await r.read(65536)
            if not d:
                break
            w.write(d)
            await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def handle(r, w):
    ur, uw = await asyncio.open_unix_connection(path)
    await asyncio.gather(pipe(r, uw), pipe(ur, w))
async def main():
    s = await asyncio.start_server(handle, '127.0.0.1', port)
    async with s:
        await s.serve_forever()
asyncio.run(main())
"#;

/// Serves `sock`, forwarding each connection to the API server at `api` (host loopback).
pub fn serve_api_socket(sock: PathBuf, api: String) {
    let _ = std::fs::remove_file(&sock);
    let listener = tokio::net::UnixListener::bind(&sock).expect("bind the forwarder socket");
    tokio::spawn(async move {
        loop {
            let Ok((mut unix, _)) = listener.accept().await else {
                return;
            };
            let api = api.clone();
            tokio::spawn(async move {
                if let Ok(mut tcp) = tokio::net::TcpStream::connect(&api).await {
                    let _ = tokio::io::copy_bidirectional(&mut unix, &mut tcp).await;
                }
            });
        }
    });
}

/// Waits until the router's FIB has exactly `want` as next hops of `vip`.
pub async fn wait_fib(lab: &Lab, vip: &str, want: &[&str], what: &str, timeout: Duration) {
    let want: BTreeSet<IpAddr> = want.iter().map(|s| s.parse().unwrap()).collect();
    let mut last = BTreeSet::new();
    let found = tokio::time::timeout(timeout, async {
        loop {
            last = lab.fib(vip);
            if last == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "{what}: router FIB for {vip} is {last:?}, want {want:?}"
    );
}

/// Starts BIRD in the router namespace; returns the command to spawn.
pub fn bird_command(lab: &Lab, dir: &std::path::Path) -> Command {
    let conf = dir.join("bird.conf");
    std::fs::write(&conf, BIRD_CONF.replace(LAN, &lab.lan)).unwrap();
    let mut bird = Command::new("ip");
    bird.args(["netns", "exec", &lab.router, "bird", "-f", "-c"])
        .arg(&conf)
        .arg("-s")
        .arg(dir.join("bird.ctl"));
    bird
}

/// The forwarder command for node namespace `ns`: TCP 127.0.0.1:6443 there → `sock`.
pub fn forwarder_command(ns: &str, dir: &std::path::Path, sock: &std::path::Path) -> Command {
    let script = dir.join("forward.py");
    std::fs::write(&script, FORWARDER).unwrap();
    let mut fwd = Command::new("ip");
    fwd.args(["netns", "exec", ns, "python3"])
        .arg(&script)
        .arg("6443")
        .arg(sock);
    fwd
}
