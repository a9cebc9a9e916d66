//! `porter standalone` as a process: exit codes, the HTTP endpoint, reloads.
//!
//! The BgpPeers point at 127.0.0.1 on a port nobody listens on, so no router is needed: the
//! sessions stay in Connect/Active while allocation, status and reloads are exercised.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const PORTER: &str = env!("CARGO_BIN_EXE_porter");

/// A scratch directory removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "porter-standalone-cli-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The porter process, killed if the test ends early.
struct Porter {
    child: Child,
    log: PathBuf,
}

impl Porter {
    fn start(config: &Path, http: Option<SocketAddr>, log: PathBuf) -> Porter {
        let mut cmd = Command::new(PORTER);
        cmd.args(["standalone", "--node-name", "node1", "--config"])
            .arg(config)
            .args(["--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // To a file: a pipe nobody reads would block porter once full.
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(addr) = http {
            cmd.args(["--http", &addr.to_string()]);
        }
        Porter {
            child: cmd.spawn().expect("porter binary runs"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "porter did not exit within {within:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }
}

impl Drop for Porter {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port with nobody listening (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A GET over HTTP/1.1: (status code, body), or `None` if nothing answers.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: porter\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_owned()))
}

fn status(addr: SocketAddr) -> Value {
    let (code, body) = get(addr, "/status").expect("/status answers");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The value of one sample line of /metrics, 0 when absent.
fn metric(addr: SocketAddr, series: &str) -> u64 {
    let (_, body) = get(addr, "/metrics").expect("/metrics answers");
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Polls `check` every 100 ms until it holds or `within` passes.
fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Replaces the file in one step (write aside, rename), as editors and config managers do.
fn write_atomically(path: &Path, text: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, text).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

fn config(bgp_port: u16, services: &[&str]) -> String {
    let mut docs = vec![
        "apiVersion: network.kubesphere.io/v1alpha2
kind: BgpConf
metadata: {name: default}
spec: {as: 65001, routerId: 10.200.1.2, listenPort: -1}
"
        .to_owned(),
        format!(
            "apiVersion: network.kubesphere.io/v1alpha2
kind: BgpPeer
metadata: {{name: r1}}
spec:
  conf: {{neighborAddress: 127.0.0.1, peerAs: 65000}}
  transport: {{remotePort: {bgp_port}}}
"
        ),
        "apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata: {name: public}
spec: {address: 203.0.113.0/28}
"
        .to_owned(),
    ];
    for name in services {
        docs.push(format!(
            "apiVersion: v1
kind: Service
metadata:
  name: {name}
  annotations: {{lb.kubesphere.io/v1alpha1: porter, eip.openelb.kubesphere.io/v1alpha2: public}}
spec:
  type: LoadBalancer
  ports: [{{port: 80}}]
"
        ));
    }
    docs.join("---\n")
}

#[test]
fn malformed_file_at_start_exits_2_naming_the_field() {
    let dir = Scratch::new("malformed");
    let file = dir.path("porter.yaml");
    let bad = config(free_port(), &["web"]).replace(
        "  transport:",
        "  timers: {config: {holdTime: 1}}\n  transport:",
    );
    std::fs::write(&file, bad).unwrap();
    let mut porter = Porter::start(&file, None, dir.path("porter.log"));
    let status = porter.wait_exit(Duration::from_secs(10));
    let log = porter.log();
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(
        log.contains("document 2 (BgpPeer/r1): spec.timers.config.holdTime: 1 is not allowed"),
        "{log}"
    );
}

#[test]
fn missing_file_at_start_exits_2() {
    let dir = Scratch::new("missing");
    let mut porter = Porter::start(&dir.path("nope.yaml"), None, dir.path("porter.log"));
    let status = porter.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(2));
    assert!(porter.log().contains("cannot read"), "{}", porter.log());
}

#[test]
fn serves_status_reloads_on_change_and_keeps_state_on_garbage() {
    let dir = Scratch::new("reload");
    let file = dir.path("porter.yaml");
    let bgp_port = free_port();
    std::fs::write(&file, config(bgp_port, &["web"])).unwrap();
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut porter = Porter::start(&file, Some(http), dir.path("porter.log"));

    assert!(
        eventually(Duration::from_secs(10), || get(http, "/readyz")
            .is_some_and(|(code, _)| code == 200)),
        "not ready; log:\n{}",
        porter.log()
    );
    let s = status(http);
    assert_eq!(s["services"]["default/web"]["ip"], "203.0.113.1", "{s:#}");
    assert_eq!(s["eips"]["public"]["usage"], 1, "{s:#}");
    let state = s["bgpPeers"]["r1"]["peerState"]["sessionState"].clone();
    assert!(
        ["IDLE", "CONNECT", "ACTIVE"].contains(&state.as_str().unwrap_or("")),
        "{s:#}"
    );

    // A new Service in the file: picked up within 3 s, the first one keeps its address.
    write_atomically(&file, &config(bgp_port, &["web", "api"]));
    assert!(
        eventually(Duration::from_secs(3), || {
            status(http)["services"]["default/api"]["ip"] == "203.0.113.2"
        }),
        "reload not seen; log:\n{}",
        porter.log()
    );
    assert_eq!(status(http)["services"]["default/web"]["ip"], "203.0.113.1");
    // The status is published before the reload is counted.
    assert!(eventually(Duration::from_secs(2), || {
        metric(http, "porter_config_reloads_total{result=\"ok\"}") == 1
    }));

    // Garbage: logged, counted once, and the running state is kept.
    write_atomically(&file, "apiVersion: [unclosed\n");
    let errors = |n| metric(http, "porter_config_reloads_total{result=\"error\"}") == n;
    assert!(
        eventually(Duration::from_secs(3), || errors(1)),
        "error not counted; log:\n{}",
        porter.log()
    );
    let s = status(http);
    assert_eq!(s["services"]["default/web"]["ip"], "203.0.113.1", "{s:#}");
    assert_eq!(s["services"]["default/api"]["ip"], "203.0.113.2", "{s:#}");
    assert!(
        s["config"]["lastReloadError"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not valid YAML")),
        "{s:#}"
    );
    assert_eq!(get(http, "/readyz").map(|(c, _)| c), Some(200));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(errors(1), "the same bad file must be reported once");

    // SIGHUP forces a reload even when nothing changed; the file is still bad.
    porter.signal("HUP");
    assert!(
        eventually(Duration::from_secs(3), || errors(2)),
        "SIGHUP did not reload; log:\n{}",
        porter.log()
    );

    // A good file again: the Service that is gone releases its address.
    write_atomically(&file, &config(bgp_port, &["api"]));
    assert!(
        eventually(Duration::from_secs(3), || {
            status(http)["services"]
                .as_object()
                .is_some_and(|m| m.len() == 1 && m.contains_key("default/api"))
        }),
        "log:\n{}",
        porter.log()
    );
    let s = status(http);
    assert_eq!(s["services"]["default/api"]["ip"], "203.0.113.2", "{s:#}");
    assert_eq!(s["eips"]["public"]["usage"], 1, "{s:#}");

    porter.signal("TERM");
    let exit = porter.wait_exit(Duration::from_secs(10));
    assert_eq!(exit.code(), Some(0), "log:\n{}", porter.log());
}

#[test]
fn crds_subcommand_prints_the_three_crds() {
    let out = Command::new(PORTER).arg("crds").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for name in [
        "eips.network.kubesphere.io",
        "bgpconfs.network.kubesphere.io",
        "bgppeers.network.kubesphere.io",
    ] {
        assert!(text.contains(&format!("name: {name}")), "{name} missing");
    }
    assert_eq!(text.matches("kind: CustomResourceDefinition").count(), 3);
}
