//! Controller fault scenarios shared by the fake-API tests (`manager_faults.rs`) and the
//! envtest ones (`envtest_faults.rs`): the same objects, the same process choreography and
//! the same checks, against either [`FakeApi`] or a real kube-apiserver, through the small
//! [`Backend`] trait (raw API paths, so both speak the same language).
//!
//! * [`race`]: two `porter manager` replicas allocate for many Services created at once
//!   while the leader is killed (SIGKILL) and restarted several times; afterwards every
//!   Service has exactly one address, no address is held twice (also at every sample taken
//!   during the run), and the Eip's status counts agree with the Services.
//! * [`garbage_objects`] / [`check_garbage_conditions`]: an Eip whose address is garbage and
//!   BgpPeers/BgpConfs with bad values get a clear `Valid=False` condition with a reason,
//!   while the good ones keep working.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use porter::controller::service::LEADER_EPOCH_ANNOTATION;
use serde_json::{json, Value};

use super::fake_api::FakeApi;
use super::{manager_command, Procs};

/// Collection paths.
pub const SERVICES: &str = "/api/v1/services";
/// Collection path of Eips.
pub const EIPS: &str = "/apis/network.kubesphere.io/v1alpha2/eips";
/// Collection path of BgpPeers.
pub const BGP_PEERS: &str = "/apis/network.kubesphere.io/v1alpha2/bgppeers";
/// Collection path of BgpConfs.
pub const BGP_CONFS: &str = "/apis/network.kubesphere.io/v1alpha2/bgpconfs";
/// Collection path of Leases.
pub const LEASES: &str = "/apis/coordination.k8s.io/v1/leases";
/// Collection path of Namespaces.
pub const NAMESPACES: &str = "/api/v1/namespaces";

/// What a scenario needs from an API server.
pub trait Backend: Send + Sync {
    /// Creates `obj` (apiVersion, kind and metadata set) in `collection` (a cluster-wide
    /// path such as [`SERVICES`]); the error text when the server refuses it.
    fn create(
        &self,
        collection: &str,
        obj: Value,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// Every object of `collection`.
    fn list(&self, collection: &str) -> impl Future<Output = Vec<Value>> + Send;
    /// One object.
    fn read(
        &self,
        collection: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> impl Future<Output = Option<Value>> + Send;
}

impl Backend for Arc<FakeApi> {
    async fn create(&self, collection: &str, mut obj: Value) -> Result<(), String> {
        let ns = obj["metadata"]["namespace"].as_str().map(str::to_owned);
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if FakeApi::get(self, collection, ns.as_deref(), &name).is_some() {
            return Err(format!("{name} already exists"));
        }
        obj["metadata"]["uid"] = json!(format!("uid-{name}"));
        obj["metadata"]["generation"] = json!(1);
        self.put(collection, obj);
        Ok(())
    }

    async fn list(&self, collection: &str) -> Vec<Value> {
        self.all(collection)
    }

    async fn read(&self, collection: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        FakeApi::get(self, collection, namespace, name)
    }
}

/// A real API server through a kube client, by raw path.
pub struct RealApi(pub kube::Client);

/// `/api/v1/services` + namespace → `/api/v1/namespaces/<ns>/services`.
fn namespaced(collection: &str, namespace: Option<&str>) -> String {
    match namespace {
        None => collection.to_string(),
        Some(ns) => {
            let (base, plural) = collection.rsplit_once('/').expect("a collection path");
            format!("{base}/namespaces/{ns}/{plural}")
        }
    }
}

impl Backend for RealApi {
    async fn create(&self, collection: &str, obj: Value) -> Result<(), String> {
        let path = namespaced(collection, obj["metadata"]["namespace"].as_str());
        let req = http::Request::post(path)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&obj).unwrap())
            .unwrap();
        self.0
            .request::<Value>(req)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn list(&self, collection: &str) -> Vec<Value> {
        let req = http::Request::get(collection).body(Vec::new()).unwrap();
        match self.0.request::<Value>(req).await {
            Ok(v) => v["items"].as_array().cloned().unwrap_or_default(),
            Err(e) => panic!("list {collection}: {e}"),
        }
    }

    async fn read(&self, collection: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let path = format!("{}/{name}", namespaced(collection, namespace));
        let req = http::Request::get(path).body(Vec::new()).unwrap();
        self.0.request::<Value>(req).await.ok()
    }
}

/// A Namespace object.
pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// An Eip; `default` makes it the default pool.
pub fn eip(name: &str, address: &str, default: bool) -> Value {
    let mut e = json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
                       "metadata": {"name": name}, "spec": {"address": address}});
    if default {
        e["metadata"]["annotations"] = json!({"eip.openelb.kubesphere.io/is-default-eip": "true"});
    }
    e
}

/// A LoadBalancer Service porter serves (OpenELB annotation), single-stack `family`.
pub fn lb_service(name: &str, family: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": "default",
                        "annotations": {"lb.kubesphere.io/v1alpha1": "openelb"}},
           "spec": {"type": "LoadBalancer", "ports": [{"port": 80}],
                    "ipFamilyPolicy": "SingleStack", "ipFamilies": [family],
                    "allocateLoadBalancerNodePorts": false}})
}

/// The addresses a Service shows.
pub fn ingress_ips(svc: &Value) -> Vec<String> {
    svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["ip"].as_str().map(str::to_owned))
        .collect()
}

/// `ns/name` of an object.
pub fn key(obj: &Value) -> String {
    format!(
        "{}/{}",
        obj["metadata"]["namespace"].as_str().unwrap_or_default(),
        obj["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// Addresses shown by more than one Service, with who shows them.
pub fn duplicates(services: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut by_ip: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in services {
        for ip in ingress_ips(s) {
            by_ip.entry(ip).or_default().push(key(s));
        }
    }
    by_ip.retain(|_, who| who.len() > 1);
    by_ip
}

/// The Lease holder, if any.
pub async fn leader<B: Backend>(api: &B) -> Option<String> {
    let lease = api
        .read(LEASES, Some("porter-system"), "porter-manager")
        .await?;
    lease["spec"]["holderIdentity"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
}

/// Starts `porter manager` `pod` on node `node` into `procs`, logging to `dir/<pod>.log`
/// (appended to, so a restart keeps the story); its pid.
pub fn start_manager(
    procs: &mut Procs,
    pod: &str,
    node: &str,
    kubeconfig: &Path,
    dir: &Path,
) -> u32 {
    let cmd = manager_command(pod, node, &[], &[], kubeconfig);
    let log = dir.join(format!("{pod}.log"));
    let earlier = std::fs::read_to_string(&log).unwrap_or_default();
    let pid = procs.spawn(pod, cmd, &log);
    if !earlier.is_empty() {
        let _ = std::fs::write(dir.join(format!("{pod}.earlier.log")), earlier);
    }
    pid
}

/// What happens to the leader at each step of [`race`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL: a crash; started again once the other replica has taken over.
    Kill,
    /// SIGSTOP until the other replica has taken over and allocated more, then SIGCONT: a
    /// deposed leader that wakes up with reconciles in flight and a stale allocator, the
    /// case fencing is for.
    Freeze,
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid}");
}

/// What [`race`] measured.
#[derive(Debug)]
pub struct RaceReport {
    /// Services created.
    pub services: usize,
    /// Faults done to the leader, in order.
    pub faults: Vec<Fault>,
    /// Writes the deposed (frozen, then woken) leader refused to make: its log lines
    /// saying it was not leading any more.
    pub fenced: usize,
    /// Distinct Lease holders seen (takeovers happened when > 1).
    pub leaders_seen: BTreeSet<String>,
    /// Samples of every Service taken during the run (each checked for duplicates).
    pub samples: usize,
    /// From the first create to every Service showing an address.
    pub all_allocated_after: Duration,
}

/// The race's Services, as the API shows them now.
async fn race_services<B: Backend>(api: &B) -> Vec<Value> {
    api.list(SERVICES)
        .await
        .into_iter()
        .filter(|s| {
            s["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("race-"))
        })
        .collect()
}

/// Two replicas race to allocate `n` Services (IPv6, from one /118 Eip) created at once,
/// while `faults` strike the leader at evenly spaced points of progress.
/// Panics, with the replicas' logs, when a Service ends without exactly one address, an
/// address is ever shown by two Services, or the Eip's status disagrees.
pub async fn race<B: Backend>(
    api: &B,
    procs: &mut Procs,
    kubeconfig: &Path,
    dir: &Path,
    n: usize,
    faults: &[Fault],
    timeout: Duration,
) -> RaceReport {
    let kills = faults.len();
    let logs = || super::log_tails(dir, &["porter-1", "porter-2"]);
    for ns in ["default", "porter-system"] {
        let _ = api.create(NAMESPACES, namespace(ns)).await;
    }
    api.create(EIPS, eip("race", "2001:db8:90::/118", true))
        .await
        .expect("create the Eip");
    let nodes = [("porter-1", "n1"), ("porter-2", "n2")];
    let mut pids: BTreeMap<&str, u32> = BTreeMap::new();
    for (pod, node) in nodes {
        pids.insert(pod, start_manager(procs, pod, node, kubeconfig, dir));
    }
    let start = Instant::now();
    while leader(api).await.is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no leader\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Everything at once: the creates run concurrently, allocation starts while they land,
    // and the strikes below come while they still land (on a real API server the leader
    // keeps up with the creates: striking only after them would find nothing waiting).
    let created = Instant::now();
    let names: Vec<String> = (0..n).map(|i| format!("race-{i:04}")).collect();
    let creating = async {
        use futures::StreamExt;
        let results: Vec<Result<(), String>> = futures::stream::iter(names.iter())
            .map(|name| api.create(SERVICES, lb_service(name, "IPv6")))
            .buffer_unordered(32)
            .collect()
            .await;
        for r in results {
            r.expect("create a Service");
        }
    };

    let mut report = RaceReport {
        services: n,
        faults: Vec::new(),
        fenced: 0,
        leaders_seen: BTreeSet::new(),
        samples: 0,
        all_allocated_after: Duration::ZERO,
    };
    let deadline = Instant::now() + timeout;
    let mut pending: Option<(&str, &str, Fault, usize)> = None;
    let striking = async {
        loop {
            let services = race_services(api).await;
            report.samples += 1;
            let dup = duplicates(&services);
            assert!(
                dup.is_empty(),
                "an address shown by two Services at once: {dup:?}\n{}",
                logs()
            );
            let done = services
                .iter()
                .filter(|s| !ingress_ips(s).is_empty())
                .count();
            if let Some(l) = leader(api).await {
                report.leaders_seen.insert(l);
            }
            // Strike the leader at evenly spaced points of progress. A killed one is started
            // again once the other replica has taken over (restarted at once, it would renew
            // its own record: the identity is the pod's), a frozen one is woken once the new
            // leader has allocated more, so that leadership really moves each time.
            let holder = leader(api).await;
            if let Some((pod, node, fault, at)) = pending {
                if holder.as_deref().is_some_and(|h| h != pod) && done >= at.min(n) {
                    eprintln!("race: {done}/{n} allocated: {holder:?} leads; {fault:?} {pod} ends");
                    match fault {
                        Fault::Kill => {
                            pids.insert(pod, start_manager(procs, pod, node, kubeconfig, dir));
                        }
                        Fault::Freeze => signal(pids[pod], "-CONT"),
                    }
                    pending = None;
                }
            }
            let k = report.faults.len();
            // A strike still due when every Service already has its address (a fast run) comes
            // then: the takeover after it must keep every address as it is.
            if pending.is_none() && k < kills && done >= (n * (k + 1) / (kills + 1)).min(n) {
                if let Some(l) = holder {
                    let (pod, node) = *nodes.iter().find(|(p, _)| *p == l).unwrap();
                    let fault = faults[k];
                    eprintln!("race: {done}/{n} allocated: {fault:?} leader {pod}");
                    let at = match fault {
                        Fault::Kill => {
                            procs.kill(pod);
                            0
                        }
                        Fault::Freeze => {
                            signal(pids[pod], "-STOP");
                            done + n / 20
                        }
                    };
                    pending = Some((pod, node, fault, at));
                    report.faults.push(fault);
                }
            }
            if done == n && services.len() == n && pending.is_none() && report.faults.len() == kills
            {
                report.all_allocated_after = created.elapsed();
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{done} of {n} Services have an address after {timeout:?}\n{}",
                logs()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    tokio::join!(creating, striking);

    // Exactly one address each, all distinct, all from the pool.
    let services = race_services(api).await;
    // Every takeover came while Services were waiting, so the new leaders stamped them
    // (service.rs, rule 4): the fence for writes a deposed leader still had in flight.
    let stamped = services
        .iter()
        .filter(|s| !s["metadata"]["annotations"][LEADER_EPOCH_ANNOTATION].is_null())
        .count();
    eprintln!("race: {stamped} Services stamped by a new leader");
    assert!(
        stamped > 0,
        "no takeover stamped a waiting Service\n{}",
        logs()
    );
    let mut held: BTreeMap<String, String> = BTreeMap::new();
    for s in &services {
        let ips = ingress_ips(s);
        assert_eq!(ips.len(), 1, "{} shows {ips:?}", key(s));
        let ip: std::net::Ipv6Addr = ips[0].parse().unwrap();
        assert_eq!(
            ip.segments()[..7],
            [0x2001, 0xdb8, 0x90, 0, 0, 0, 0],
            "{ip} not from the Eip"
        );
        assert!(held.insert(ips[0].clone(), key(s)).is_none(), "{ip} twice");
    }
    // The Eip's status agrees with the Services (written by whoever leads at the end).
    let t = Instant::now();
    loop {
        let e = api.read(EIPS, None, "race").await.expect("the Eip");
        let used: BTreeMap<String, String> = e["status"]["used"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if e["status"]["usage"] == json!(n) && used == held {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "Eip status usage {} with {} entries, want {n} matching the Services\n{}",
            e["status"]["usage"],
            used.len(),
            logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    report.fenced = ["porter-1", "porter-2"]
        .iter()
        .flat_map(|p| {
            ["", ".earlier"].map(|e| {
                std::fs::read_to_string(dir.join(format!("{p}{e}.log"))).unwrap_or_default()
            })
        })
        .map(|log| log.matches("not leading (the leader lease").count())
        .sum();
    report
}

/// Eips and a Service for the garbage-address case: `garbage` is unusable, `good` serves.
pub fn garbage_eips() -> Vec<Value> {
    vec![
        // The schema's CEL rule accepts a range of two addresses of one family; only porter
        // sees that it ends before it starts.
        eip("garbage", "203.0.113.9-203.0.113.1", false),
        eip("good", "203.0.113.16/28", true),
    ]
}

/// A BgpPeer named `name` for `neighbor`, with `extra` merged into its spec.
pub fn peer(name: &str, neighbor: &str, peer_as: u32, extra: Value) -> Value {
    let mut p = json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer",
                       "metadata": {"name": name},
                       "spec": {"conf": {"peerAs": peer_as, "neighborAddress": neighbor},
                                "timers": {"config": {"holdTime": 9, "keepaliveInterval": 3}}}});
    if let (Some(spec), Some(extra)) = (p["spec"].as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    p
}

/// BgpPeers a real API server accepts (the schema cannot see what is wrong with them),
/// each with the condition reason and a phrase the message must contain.
pub fn bad_peers_schema_valid() -> Vec<(Value, &'static str, &'static str)> {
    vec![
        (
            peer(
                "bad-family",
                "10.200.91.254",
                65001,
                json!({"afiSafis": [{"config": {"family": {"afi": "AFI_L2VPN", "safi": "SAFI_EVPN"}, "enabled": true}}]}),
            ),
            "InvalidSpec",
            "AFI_L2VPN/SAFI_EVPN is not supported",
        ),
        (
            peer(
                "bad-hold",
                "10.200.91.254",
                65001,
                json!({"timers": {"config": {"holdTime": 2}}}),
            ),
            "InvalidSpec",
            "RFC 4271 §4.2",
        ),
    ]
}

/// BgpPeers the CRD schema rejects (peerAs 0, an AFI name outside the enum, a neighbor that
/// is no IP address): a real API server refuses them; an object stored under a looser
/// schema, or the fake, lets them through, and porter must still report them rather than
/// stall.
pub fn bad_peers_schema_invalid() -> Vec<(Value, &'static str, &'static str)> {
    vec![
        (
            peer("bad-neighbor", "10.0.0.300", 65001, json!({})),
            "InvalidSpec",
            "`10.0.0.300` is not an IP address",
        ),
        (
            peer("peer-as-zero", "10.200.91.254", 0, json!({})),
            "InvalidSpec",
            "spec.conf.peerAs",
        ),
        (
            peer(
                "unknown-afi",
                "10.200.91.254",
                65001,
                json!({"afiSafis": [{"config": {"family": {"afi": "AFI_BOGUS", "safi": "SAFI_UNICAST"}, "enabled": true}}],
                       "someFieldPorterDoesNotKnow": {"x": 1}}),
            ),
            "InvalidSpec",
            "AFI_BOGUS",
        ),
    ]
}

/// Waits for the condition `type_` of object `name` in `collection` with `status` and
/// `reason`; returns it.
pub async fn wait_condition<B: Backend>(
    api: &B,
    collection: &str,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
    timeout: Duration,
) -> Value {
    let t = Instant::now();
    loop {
        let obj = api.read(collection, None, name).await;
        let found = obj.as_ref().and_then(|o| {
            o["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == type_)
                .cloned()
        });
        if let Some(c) = &found {
            if c["status"] == status && c["reason"] == reason {
                return c.clone();
            }
        }
        assert!(
            t.elapsed() < timeout,
            "{collection}/{name}: no {type_}={status} ({reason}) condition after {timeout:?}; shows {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The garbage Eip gets `Valid=False BadAddress` naming the address, the good Eip stays
/// Valid, and each bad peer gets `Valid=False` with its reason and phrase; `good_peers` get
/// `Valid=True`.
pub async fn check_garbage_conditions<B: Backend>(
    api: &B,
    bad_peers: &[(Value, &'static str, &'static str)],
    good_peers: &[&str],
    timeout: Duration,
) {
    let c = wait_condition(
        api,
        EIPS,
        "garbage",
        "Valid",
        "False",
        "BadAddress",
        timeout,
    )
    .await;
    let message = c["message"].as_str().unwrap_or_default();
    assert!(message.contains("203.0.113.9-203.0.113.1"), "{c}");
    assert_eq!(c["observedGeneration"], 1, "{c}");
    wait_condition(api, EIPS, "good", "Valid", "True", "Valid", timeout).await;
    for (p, reason, phrase) in bad_peers {
        let name = p["metadata"]["name"].as_str().unwrap();
        let c = wait_condition(api, BGP_PEERS, name, "Valid", "False", reason, timeout).await;
        let message = c["message"].as_str().unwrap_or_default();
        assert!(message.contains(phrase), "{name}: {c}");
    }
    for name in good_peers {
        wait_condition(api, BGP_PEERS, name, "Valid", "True", "Valid", timeout).await;
    }
}

/// A kubeconfig in `dir` for the fake API at `server` (no TLS, any token).
pub fn fake_kubeconfig(dir: &Path, server: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: f\n  cluster:\n    server: {server}\nusers:\n- name: f\n  user:\n    token: t\ncontexts:\n- name: f\n  context:\n    cluster: f\n    user: f\ncurrent-context: f\n"),
    )
    .unwrap();
    path
}

/// Runs `birdc` on the control socket in `dir`; its output.
pub fn birdc(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("birdc")
        .arg("-s")
        .arg(dir.join("bird.ctl"))
        .args(args)
        .output()
        .expect("run birdc");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// BIRD's table: prefix → the protocols (BGP sessions) it has a path from.
pub fn bird_routes(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut table: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in birdc(dir, &["show", "route"]).lines() {
        let mut words = line.split_whitespace();
        if !line.starts_with(char::is_whitespace) {
            if let Some(first) = words.next().filter(|w| w.contains('/')) {
                current = Some(first.to_string());
            }
        }
        // `unicast [n1 01:02:03.456] * (100) [AS64512i]`
        if let (Some(prefix), Some(i)) = (&current, line.find("unicast [")) {
            let proto = line[i + 9..].split_whitespace().next().unwrap_or_default();
            table
                .entry(prefix.clone())
                .or_default()
                .insert(proto.to_string());
        }
    }
    table
}

/// `(state, since, info)` of BIRD protocol `name` (`("up", "01:02:03.456", "Established")`).
pub fn bird_protocol(dir: &Path, name: &str) -> Option<(String, String, String)> {
    birdc(dir, &["show", "protocols", name])
        .lines()
        .find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.first() == Some(&name) && w.len() >= 6)
                .then(|| (w[3].to_string(), w[4].to_string(), w[5..].join(" ")))
        })
}

/// Whether a process log shows a panic.
pub fn panicked(dir: &Path, pod: &str) -> bool {
    std::fs::read_to_string(dir.join(format!("{pod}.log")))
        .unwrap_or_default()
        .contains("panicked")
}

/// Serves `fake` on loopback TCP; its URL.
pub async fn serve_tcp(fake: &Arc<FakeApi>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = fake.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Serves `fake` on the Unix socket `sock` (node namespaces reach it through
/// [`super::netlab::forwarder_command`]).
pub fn serve_unix(fake: &Arc<FakeApi>, sock: &Path) {
    let _ = std::fs::remove_file(sock);
    let listener = tokio::net::UnixListener::bind(sock).unwrap();
    let app = fake.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
}

/// A Ready Node with InternalIP `ip`.
pub fn node(name: &str, ip: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
           "status": {"conditions": [{"type": "Ready", "status": "True"}],
                      "addresses": [{"type": "InternalIP", "address": ip}]}})
}

/// BgpConf `name` with AS `asn`.
pub fn bgp_conf(name: &str, asn: u32) -> Value {
    json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
           "metadata": {"name": name}, "spec": {"as": asn, "listenPort": 179}})
}
