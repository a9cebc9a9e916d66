//! A network lab for end-to-end tests, on porter-lab: a LAN (porter-lab's [`Lan`]) with a
//! router namespace running BIRD and node namespaces, and the forwarder that lets processes
//! in the node namespaces reach an API server on the test's side without any address in
//! the host namespace.
//!
//! Lab: 10.200.48.0/24 (router .254, node i at .i).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use porter_lab::{BirdConfig, BirdPeer, Lan, Netns};

/// The LAN's first three octets.
pub const LAN: &str = "10.200.48";

/// The router and node namespaces on one LAN; deleted (with what runs inside) on drop.
pub struct Lab {
    /// The router namespace.
    pub router: String,
    /// The node namespaces, node i+1 at index i.
    pub nodes: Vec<String>,
    /// The LAN's first three octets ([`LAN`] unless made with [`Lab::with_lan`]).
    pub lan: String,
    // Dropped after the names: the node and router namespaces, then the switch.
    namespaces: Vec<Netns>,
    switch: Lan,
}

/// Whether `tool` is on PATH (or in an sbin directory).
pub fn have(tool: &str) -> bool {
    porter_lab::find_binary(tool).is_some()
}

/// Whether the test runs as root.
pub fn is_root() -> bool {
    porter_lab::is_root()
}

impl Lab {
    /// Namespaces `pk8s-<tag>-r-…` (router, {LAN}.254 on `lan0`) and `pk8s-<tag>-n<i>-…`
    /// (node i, {LAN}.i on `eth0`), all on one bridge.
    pub fn new(tag: &str, nodes: usize) -> Lab {
        Lab::with_lan(&format!("pk8s-{tag}"), LAN, nodes)
    }

    /// Namespaces `<prefix>-r-…` and `<prefix>-n<i>-…` on LAN `lan` (`10.200.X`), for tests
    /// that run beside others using [`LAN`].
    pub fn with_lan(prefix: &str, lan: &str, nodes: usize) -> Lab {
        let mut switch = Lan::with_prefix(prefix, "lan").expect("the LAN");
        let router = Netns::with_prefix(prefix, "r").expect("the router");
        switch
            .attach(&router, "lan0", &[&format!("{lan}.254/24")])
            .expect("the router on the LAN");
        let mut namespaces = vec![router];
        for i in 1..=nodes {
            let node = Netns::with_prefix(prefix, &format!("n{i}")).expect("a node");
            switch
                .attach(&node, "eth0", &[&format!("{lan}.{i}/24")])
                .expect("a node on the LAN");
            namespaces.push(node);
        }
        Lab {
            router: namespaces[0].name().to_owned(),
            nodes: namespaces[1..]
                .iter()
                .map(|n| n.name().to_owned())
                .collect(),
            lan: lan.to_owned(),
            namespaces,
            switch,
        }
    }

    /// Next hops of `vip` in the router's FIB (empty when there is no route).
    pub fn fib(&self, vip: &str) -> BTreeSet<IpAddr> {
        self.namespaces[0]
            .route_next_hops(vip)
            .unwrap_or_default()
            .into_iter()
            .collect()
    }
}

/// BIRD on the router: AS 65001, a session to each node (AS 64512) with ADD-PATH receive
/// and short timers, BGP routes merged into ECMP routes in the kernel FIB.
pub fn bird_config(lan: &str, nodes: usize) -> BirdConfig {
    bird_config_with(lan, nodes, 65001, 64512, true)
}

/// [`bird_config`] with the router in `router_as`, the nodes' sessions from `node_as`, and
/// ADD-PATH receive only when `add_path`.
pub fn bird_config_with(
    lan: &str,
    nodes: usize,
    router_as: u32,
    node_as: u32,
    add_path: bool,
) -> BirdConfig {
    let router: IpAddr = format!("{lan}.254").parse().unwrap();
    let mut config = BirdConfig::new(format!("{lan}.254").parse().unwrap(), router_as);
    for i in 1..=nodes {
        let node: IpAddr = format!("{lan}.{i}").parse().unwrap();
        let mut peer = BirdPeer::new(&format!("n{i}"), node, node_as)
            .local_address(router)
            .hold_time(9);
        if add_path {
            peer = peer.add_path_rx();
        }
        config = config.peer(peer);
    }
    config
}

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
    std::fs::write(&conf, bird_config(&lab.lan, lab.nodes.len()).render()).unwrap();
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

/// Starts BIRD on the router, in each node namespace a forwarder to the API socket `sock`,
/// and, once they listen, one `porter manager` per node (`porter-<i>` on node `n<i>`,
/// logs `porter-<i>.log` in `dir`).
pub async fn spawn_cluster(
    procs: &mut super::Procs,
    lab: &Lab,
    dir: &std::path::Path,
    sock: &std::path::Path,
    kubeconfig: &std::path::Path,
) {
    procs.spawn("bird", bird_command(lab, dir), &dir.join("bird.log"));
    for (i, ns) in lab.nodes.iter().enumerate() {
        procs.spawn(
            &format!("fwd{i}"),
            forwarder_command(ns, dir, sock),
            &dir.join(format!("fwd{i}.log")),
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, ns) in lab.nodes.iter().enumerate() {
        let pod = format!("porter-{}", i + 1);
        let cmd = super::manager_command(
            &pod,
            &format!("n{}", i + 1),
            &["ip", "netns", "exec", ns],
            &[],
            kubeconfig,
        );
        procs.spawn(&pod, cmd, &dir.join(format!("{pod}.log")));
    }
}
