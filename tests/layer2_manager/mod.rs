//! The layer-2 scenario of `porter manager`, run by two tests against two API servers:
//! tests/manager_layer2.rs (the in-test fake, `envtest_support::fake_api`) and
//! tests/envtest_layer2.rs (a real kube-apiserver). Both write and read objects the same
//! way, through the API ([`Objects`]); the lab, the processes and every check are here.
//!
//! The lab (`layer2_lab`): a bridge in `<prefix>-hub`, a client namespace and two node
//! namespaces `a` (node n1) and `b` (node n2), each running a real `porter manager` that
//! reaches the API through a forwarder on its 127.0.0.1:6443. Two layer-2 Eips (IPv4 on
//! `eth0`, IPv6 on `can_reach:<the client>`), three Services: `web4` and `web6`
//! (`externalTrafficPolicy: Cluster`) and `local4` (`Local`, its endpoint on n2).
//!
//! Checked: the owner's MAC and only it answers ARP and NDP; each node's Service condition
//! names what it does; `Local` moves with the endpoint (the node that lost it releases at
//! once); after SIGKILL of the owner the other answers within lease expiry + 2 s and never
//! before the expiry, and a capture on the bridge shows no answers of the two interleaved;
//! after SIGTERM the owner releases its Leases and the other answers within a retry period.

#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::envtest_support::netlab::forwarder_command;
use crate::envtest_support::{manager_command, pod, pod_status, Procs};
use crate::layer2_lab::{only_from, Lab, VIP4, VIP6};
use porter_lab::Tool;

/// The `externalTrafficPolicy: Local` Service's address.
pub const LOCAL4: &str = "198.51.100.11";
const LEASES: &str = "/apis/coordination.k8s.io/v1/leases";
const SERVICES: &str = "/api/v1/services";
const SLICES: &str = "/apis/discovery.k8s.io/v1/endpointslices";
const PODS: &str = "/api/v1/pods";
/// `local4`'s Pods with [`Endpoints::Pods`]: one per node, with its address.
const LOCAL4_PODS: [(&str, &str); 2] = [("n1", "10.244.1.10"), ("n2", "10.244.2.10")];
const CONDITION: &str = "advertised.porter.network.kubesphere.io";
const T: Duration = Duration::from_secs(30);

/// How the scenario writes and reads objects, by collection path (`/api/v1/services`) with
/// the namespace in the object: through a kube client, POST, else PUT with the current
/// `resourceVersion`; status through its subresource, which a create ignores.
pub struct Objects(pub kube::Client, pub Endpoints);

/// Where `local4`'s endpoint comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Endpoints {
    /// The test writes the EndpointSlice (the fake API has no controllers).
    Slices,
    /// Pods whose status the test writes as a kubelet would; kube-controller-manager's
    /// EndpointSlice controller makes the slices (a real control plane).
    Pods,
}

/// The path of `collection` for objects in `namespace`.
fn namespaced(collection: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => {
            let (group, kind) = collection.rsplit_once('/').expect("a collection path");
            format!("{group}/namespaces/{ns}/{kind}")
        }
        None => collection.to_owned(),
    }
}

impl Objects {
    /// Creates `obj`, or replaces the object of that name, status included.
    pub async fn put(&self, collection: &str, obj: Value) {
        let ns = obj["metadata"]["namespace"].as_str().map(str::to_owned);
        let base = namespaced(collection, ns.as_deref());
        let name = obj["metadata"]["name"].as_str().unwrap().to_owned();
        let path = format!("{base}/{name}");
        let json = "application/json";
        match self.call("POST", &base, json, Some(&obj)).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let current = self.call("GET", &path, json, None).await.unwrap();
                let mut obj = obj.clone();
                obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
                self.call("PUT", &path, json, Some(&obj))
                    .await
                    .unwrap_or_else(|e| panic!("PUT {path}: {e}"));
            }
            Err(e) => panic!("POST {base} ({name}): {e}"),
        }
        if let Some(status) = obj.get("status") {
            self.call(
                "PATCH",
                &format!("{path}/status"),
                "application/merge-patch+json",
                Some(&json!({ "status": status })),
            )
            .await
            .unwrap_or_else(|e| panic!("PATCH {path}/status: {e}"));
        }
    }

    /// `local4`'s one ready endpoint is on `node`: its EndpointSlice written, or its Pod on
    /// `node` made Ready and the other not.
    pub async fn endpoint_on(&self, node: &str) {
        if self.1 == Endpoints::Slices {
            return self.put(SLICES, slice(node)).await;
        }
        for (n, ip) in LOCAL4_PODS {
            let path = format!("{}/local4-{n}/status", namespaced(PODS, Some("default")));
            let patch = pod_status(ip, n == node);
            self.call("PATCH", &path, "application/merge-patch+json", Some(&patch))
                .await
                .unwrap_or_else(|e| panic!("PATCH {path}: {e}"));
        }
    }

    /// The object `name` in `namespace`, if it exists.
    pub async fn get(
        &self,
        collection: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let path = format!("{}/{name}", namespaced(collection, namespace));
        self.call("GET", &path, "application/json", None).await.ok()
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        ct: &str,
        body: Option<&Value>,
    ) -> Result<Value, kube::Error> {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", ct)
            .body(
                body.map(|b| serde_json::to_vec(b).unwrap())
                    .unwrap_or_default(),
            )
            .unwrap();
        self.0.request::<Value>(req).await
    }
}

/// Writes a kubeconfig for an API server at `server` with no TLS and a dummy token (the fake
/// accepts anything) into `dir`; JSON, which is YAML too.
pub fn fake_kubeconfig(dir: &Path, file: &str, server: &str) -> PathBuf {
    let config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "lab", "cluster": {"server": server}}],
        "users": [{"name": "lab", "user": {"token": "lab"}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "lab"}}],
    });
    let path = dir.join(file);
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    path
}

/// Whether the lab can run (root, the layer-2 tools, python3 for the API forwarder); says
/// why not otherwise.
pub fn lab_available(test: &str) -> bool {
    porter_lab::skip_unless_available(
        test,
        &[Tool::Arping, Tool::Ndisc6, Tool::Tcpdump, Tool::Python3],
    )
}

/// The lab of one test: namespaces `l2k-<tag>-…` on 10.200.<subnet>.0/24 and
/// 2001:db8:<subnet>::/64.
pub fn lab(tag: &str, subnet: u8) -> Lab {
    Lab::with(
        "l2k",
        tag,
        subnet,
        &format!("10.200.{subnet}"),
        &format!("2001:db8:{subnet}"),
    )
}

fn node(name: &str, ip: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
           "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                      "message": "lab", "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                                      "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                      "addresses": [{"type": "InternalIP", "address": ip}]}})
}

fn eip(name: &str, address: &str, interface: &str) -> Value {
    json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
           "metadata": {"name": name},
           "spec": {"address": address, "protocol": "layer2", "interface": interface}})
}

fn service(name: &str, eip: &str, ip: &str, local: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": "default",
                        "labels": {"eip.openelb.kubesphere.io/v1alpha2": eip},
                        "annotations": {"lb.kubesphere.io/v1alpha1": "openelb",
                                        "eip.openelb.kubesphere.io/v1alpha2": eip}},
           "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}],
                    "selector": {"app": name},
                    "externalTrafficPolicy": if local { "Local" } else { "Cluster" }},
           "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})
}

fn slice(node: &str) -> Value {
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "local4-1", "namespace": "default",
                        "labels": {"kubernetes.io/service-name": "local4"}},
           "addressType": "IPv4",
           "ports": [{"port": 80, "protocol": "TCP"}],
           "endpoints": [{"addresses": ["10.244.0.10"], "nodeName": node,
                          "conditions": {"ready": true}}]})
}

/// The processes and namespaces of one run; dropping it stops and removes them.
pub struct Run<'a> {
    objects: &'a Objects,
    pub lab: Lab,
    dir: PathBuf,
    kubeconfig: PathBuf,
    procs: Procs,
    /// Process id of each manager, by pod name.
    pids: std::collections::BTreeMap<String, u32>,
}

impl<'a> Run<'a> {
    /// Seeds the objects and starts the API forwarders in the node namespaces (to `sock`,
    /// which the caller serves); `kubeconfig` points at 127.0.0.1:6443.
    pub async fn new(
        objects: &'a Objects,
        lab: Lab,
        dir: &Path,
        sock: &Path,
        kubeconfig: &Path,
    ) -> Run<'a> {
        for ns in ["default", "porter-system"] {
            objects
                .put(
                    "/api/v1/namespaces",
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                )
                .await;
        }
        objects
            .put("/api/v1/nodes", node("n1", &lab.addr("a", false)))
            .await;
        objects
            .put("/api/v1/nodes", node("n2", &lab.addr("b", false)))
            .await;
        let eips = "/apis/network.kubesphere.io/v1alpha2/eips";
        objects
            .put(eips, eip("l2v4", "198.51.100.10-198.51.100.11", "eth0"))
            .await;
        let reach = format!("can_reach:{}", lab.addr("c", true));
        objects.put(eips, eip("l2v6", VIP6, &reach)).await;
        objects
            .put(SERVICES, service("web4", "l2v4", VIP4, false))
            .await;
        objects
            .put(SERVICES, service("web6", "l2v6", VIP6, false))
            .await;
        objects
            .put(SERVICES, service("local4", "l2v4", LOCAL4, true))
            .await;
        if objects.1 == Endpoints::Pods {
            for (node, ip) in LOCAL4_PODS {
                let name = format!("local4-{node}");
                let mut pod = pod("default", &name, json!({"app": "local4"}), node);
                pod["status"] = pod_status(ip, false)["status"].take();
                objects.put(PODS, pod).await;
            }
        }
        objects.endpoint_on("n2").await;

        let mut procs = Procs::default();
        for end in ["a", "b"] {
            procs.spawn(
                &format!("fwd-{end}"),
                forwarder_command(&lab.ns(end), dir, sock),
                &dir.join(format!("fwd-{end}.log")),
            );
        }
        Run {
            objects,
            lab,
            dir: dir.to_owned(),
            kubeconfig: kubeconfig.to_owned(),
            procs,
            pids: Default::default(),
        }
    }

    /// Starts `porter manager` for node `n1` (in `a`) or `n2` (in `b`), pod `porter-<end>`.
    fn start(&mut self, end: &str) {
        let node = if end == "a" { "n1" } else { "n2" };
        let pod = format!("porter-{end}");
        let ns = self.lab.ns(end);
        let cmd = manager_command(
            &pod,
            node,
            &["ip", "netns", "exec", &ns],
            &[],
            &self.kubeconfig,
        );
        let pid = self
            .procs
            .spawn(&pod, cmd, &self.dir.join(format!("{pod}.log")));
        self.pids.insert(pod, pid);
    }

    /// Sends SIGTERM to manager `pod` (`ip netns exec` execs it: the pid is porter's).
    fn terminate(&self, pod: &str) {
        let pid = self.pids[pod].to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {pid}");
    }

    fn logs(&self) -> String {
        crate::envtest_support::log_tails(&self.dir, &["porter-a", "porter-b"])
    }

    async fn lease(&self, ip: &str) -> Option<Value> {
        let name = porter::layer2::ownership::lease_name(ip.parse().unwrap());
        self.objects.get(LEASES, Some("porter-system"), &name).await
    }

    /// Polls `probe` every 100 ms until it gives `Ok`; returns that and how long it took.
    /// After `within`, fails with the last `Err` and the managers' logs.
    async fn poll<T, F, Fut>(&self, within: Duration, mut probe: F) -> (T, Duration)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let start = Instant::now();
        loop {
            match probe().await {
                Ok(v) => return (v, start.elapsed()),
                Err(last) if start.elapsed() >= within => {
                    panic!("after {within:?}: {last}\n{}", self.logs())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits until the Lease of `ip` is held by `node`; returns how long it took.
    async fn wait_holder(&self, ip: &str, node: &str, within: Duration) -> Duration {
        let held = || async move {
            let lease = self.lease(ip).await;
            match &lease {
                Some(l) if l["spec"]["holderIdentity"] == node => Ok(()),
                _ => Err(format!(
                    "the Lease of {ip} is not held by {node}: {lease:#?}"
                )),
            }
        };
        self.poll(within, held).await.1
    }

    /// Waits until `node`'s condition on Service `name` has a message containing `text`.
    async fn wait_condition(&self, name: &str, node: &str, text: &str) -> Value {
        let says = || async move {
            let svc = self.objects.get(SERVICES, Some("default"), name).await;
            let cond = svc.as_ref().and_then(|s| {
                s["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == format!("{CONDITION}/{node}"))
                    .cloned()
            });
            match cond {
                Some(c) if c["message"].as_str().is_some_and(|m| m.contains(text)) => Ok(c),
                other => Err(format!(
                    "{node}'s condition on {name} does not say {text:?}: {other:#?}"
                )),
            }
        };
        self.poll(T, says).await.0
    }

    /// When the Lease of `ip` expires as written (its `renewTime` + `leaseDurationSeconds`),
    /// in seconds since the epoch.
    async fn expiry(&self, ip: &str) -> f64 {
        let lease = self.lease(ip).await.expect("the lease exists");
        let renew: k8s_openapi::jiff::Timestamp = lease["spec"]["renewTime"]
            .as_str()
            .expect("renewTime")
            .parse()
            .unwrap();
        let duration = lease["spec"]["leaseDurationSeconds"].as_f64().unwrap();
        renew.as_microsecond() as f64 / 1e6 + duration
    }

    /// The whole scenario.
    pub async fn failover(mut self) {
        let (mac_a, mac_b) = (self.lab.mac("a"), self.lab.mac("b"));

        // n1 alone takes the Cluster addresses; the Local one is not its to take.
        self.start("a");
        self.wait_holder(VIP4, "n1", T).await;
        self.wait_holder(VIP6, "n1", Duration::from_secs(5)).await;
        self.start("b");
        self.wait_holder(LOCAL4, "n2", T).await;
        only_from(self.lab.arping(VIP4), mac_a);
        only_from(self.lab.ndisc6(VIP6), mac_a);
        only_from(self.lab.arping(LOCAL4), mac_b);

        // Each node says what it does, in its own condition.
        self.wait_condition("web4", "n1", "198.51.100.10: answering ARP on eth0")
            .await;
        self.wait_condition("web4", "n2", "198.51.100.10: standby, owner is n1")
            .await;
        let c = self
            .wait_condition("web6", "n1", &format!("{VIP6}: answering NDP on eth0"))
            .await;
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str()),
            (Some("True"), Some("Answering"))
        );
        let c = self
            .wait_condition("local4", "n1", "not eligible (externalTrafficPolicy Local and no ready endpoint on this node), owner is n2")
            .await;
        assert_eq!(c["reason"], "NotEligible");

        // The endpoint moves to n1: n2 releases at once, n1 takes it without waiting for
        // an expiry; and back.
        self.objects.endpoint_on("n1").await;
        let took = self
            .wait_holder(LOCAL4, "n1", Duration::from_secs(10))
            .await;
        eprintln!("local4 moved to n1 {took:?} after its endpoint did");
        assert!(
            took < Duration::from_secs(3),
            "a released lease taken in {took:?}"
        );
        only_from(self.lab.arping(LOCAL4), mac_a);
        self.objects.endpoint_on("n2").await;
        self.wait_holder(LOCAL4, "n2", Duration::from_secs(10))
            .await;
        only_from(self.lab.arping(LOCAL4), mac_b);

        // Capture and probe through the owner's death.
        let capture = self.lab.capture();
        let probes = [
            format!("arping -q -i eth0 -W 0.2 {VIP4}"),
            format!("while :; do ndisc6 -q -1 -r 1 -w 200 {VIP6} eth0; sleep 0.1; done"),
            format!("arping -q -i eth0 -W 0.3 {LOCAL4}"),
        ]
        .map(|script| self.lab.client_background(12, &script));
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.procs.kill("porter-a");
        let killed = Instant::now();
        // Written by n1 before it died (a renewal it had sent may still land meanwhile):
        // when its Leases can first expire.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let expiry4 = self.expiry(VIP4).await;
        let expiry6 = self.expiry(VIP6).await;
        self.wait_holder(VIP4, "n2", Duration::from_secs(12)).await;
        self.wait_holder(VIP6, "n2", Duration::from_secs(3)).await;
        eprintln!(
            "n2 holds both Leases {:?} after n1 was killed",
            killed.elapsed()
        );
        only_from(self.lab.arping(VIP4), mac_b);
        only_from(self.lab.ndisc6(VIP6), mac_b);
        only_from(self.lab.arping(LOCAL4), mac_b);
        for mut p in probes {
            let _ = p.wait();
        }
        let file = capture.stop().unwrap();

        // The capture: n1's answers, then n2's, never interleaved; n2 first answers after
        // the Lease could expire, and within 2 s of it.
        for (vip4, vip6, expiry) in [(VIP4, "-", expiry4), ("-", VIP6, expiry6)] {
            let (_, first_b) = self.lab.handover_in(&file, vip4, vip6, "a", "b");
            let after = first_b.time - expiry;
            eprintln!("{vip4}{vip6}: n2 first answered {after:.3} s after n1's Lease expired");
            assert!(
                after > -0.05,
                "n2 answered {:.3} s before the Lease expired",
                -after
            );
            assert!(
                after <= 2.0,
                "n2 answered {after:.3} s after the Lease expired"
            );
        }
        // The Local address stayed with n2 throughout.
        let local = porter_lab::layer2::answers_in(&file, LOCAL4, "-").unwrap();
        assert!(!local.is_empty(), "no answer for {LOCAL4} in the capture");
        let b = self.lab.seg.mac("b").unwrap();
        assert!(local.iter().all(|s| s.mac == b), "{local:#?}");
        let _ = std::fs::remove_file(&file);

        self.wait_condition("web4", "n2", "198.51.100.10: answering ARP on eth0")
            .await;

        // A graceful stop hands over at once: n1 comes back as a follower, n2 is told to
        // stop (SIGTERM) and releases its Leases; n1 takes them at its next retry, long
        // before they could have expired.
        self.start("a");
        self.wait_condition("web4", "n1", "198.51.100.10: standby, owner is n2")
            .await;
        self.terminate("porter-b");
        let took = self.wait_holder(VIP4, "n1", Duration::from_secs(10)).await;
        eprintln!("n1 holds {VIP4} {took:?} after SIGTERM to n2");
        assert!(
            took < Duration::from_secs(3),
            "a handover after SIGTERM took {took:?}: the Lease was not released"
        );
        only_from(self.lab.arping(VIP4), mac_a);
        self.wait_holder(VIP6, "n1", Duration::from_secs(3)).await;
        only_from(self.lab.ndisc6(VIP6), mac_a);
    }
}
