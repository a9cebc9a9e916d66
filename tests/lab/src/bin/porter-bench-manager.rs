//! `porter-bench-manager`: `porter manager` at scale against a real kube-apiserver (issue 15,
//! item 3), started by the envtest harness (`tests/envtest_support/cluster.rs`, included here
//! by path).
//!
//! ```text
//! cargo build --release -p porter -p porter-lab
//! KUBEBUILDER_ASSETS=$(bash tests/k8s/build.sh) target/release/porter-bench-manager \
//!     [--quick] [--out bench/results] [--porter PATH] [--waiting 1000,10000] [--created 1000] [--rate 200]
//! ```
//!
//! For each count of `--waiting` (1,000 and 10,000; 1,000 in `--quick`), on a fresh control
//! plane: that many opted-in LoadBalancer Services are created, then one `porter manager`
//! replica (release build, the porter ServiceAccount) starts. Measured:
//! * leadership: the Lease's `acquireTime` after the process start;
//! * time from leadership to the last Service showing `status.loadBalancer.ingress` (seen by
//!   a watch of the benchmark's own);
//! * API requests per Service, by verb, resource and response code: kube-apiserver's
//!   `apiserver_request_total` read before the manager starts and once every Service is
//!   addressed (everything in between is the manager's, kube-controller-manager's and the
//!   one watch of this benchmark);
//! * the manager's RSS (VmRSS, VmHWM) and CPU time (utime + stime) then.
//!
//! On the first (smallest) cluster the manager keeps running and `--created` more Services
//! (1,000) are created at `--rate` per second (200): p50/p99 from the API server's answer to
//! each create to the watch showing its address, and the same request and process figures
//! for that phase.
//! Every run checks that no address is shown by two Services.
//!
//! Results go to `<out>/<date>-manager.json` and `<out>/<date>-manager.md` (printed too).

#[path = "../../../envtest_support/cluster.rs"]
mod cluster;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use porter_lab::measure::{clock_ticks, proc_sample, round, Latencies, ProcSample};
use serde_json::{json, Value};

use cluster::Cluster;

const USAGE: &str = "usage: porter-bench-manager [--quick] [--out DIR] [--porter PATH] [--waiting N,N] [--created N] [--rate PER_S]";
/// Namespace of the benchmark's Services.
const NAMESPACE: &str = "bench";
/// The manager's identity (pod name) and log name.
const MANAGER: &str = "porter-bench";
/// Services created at once while filling the waiting set.
const CREATE_CONCURRENCY: usize = 32;
/// How long a manager may take to address every Service before the run fails.
const ADDRESS_TIMEOUT: Duration = Duration::from_secs(900);

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args).await {
        eprintln!("porter-bench-manager: {e:#}");
        std::process::exit(1);
    }
}

/// Command-line settings.
struct Settings {
    porter: PathBuf,
    out: PathBuf,
    quick: bool,
    waiting: Vec<usize>,
    created: usize,
    rate: f64,
}

async fn run(args: &[String]) -> Result<()> {
    let mut s = Settings {
        porter: std::env::current_exe()?.with_file_name("porter"),
        out: PathBuf::from("bench/results"),
        quick: false,
        waiting: Vec::new(),
        created: 1000,
        rate: 200.0,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--quick" => s.quick = true,
            "--out" => s.out = value()?.into(),
            "--porter" => s.porter = value()?.into(),
            "--waiting" => {
                s.waiting = value()?
                    .split(',')
                    .map(|n| n.trim().parse().context("--waiting takes counts"))
                    .collect::<Result<_>>()?
            }
            "--created" => s.created = value()?.parse().context("--created takes a count")?,
            "--rate" => s.rate = value()?.parse().context("--rate takes a number")?,
            _ => bail!("unknown argument {a}\n{USAGE}"),
        }
    }
    if s.waiting.is_empty() {
        s.waiting = if s.quick {
            vec![1000]
        } else {
            vec![1000, 10_000]
        };
    }
    s.waiting.sort_unstable();
    let assets = std::env::var_os("KUBEBUILDER_ASSETS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .context(
            "KUBEBUILDER_ASSETS is not set (export KUBEBUILDER_ASSETS=$(bash tests/k8s/build.sh))",
        )?;
    if !s.porter.is_file() {
        bail!(
            "no porter binary at {} (cargo build --release -p porter, or --porter PATH)",
            s.porter.display()
        );
    }
    let mut runs = Vec::new();
    for (i, &n) in s.waiting.iter().enumerate() {
        let created = if i == 0 { s.created } else { 0 };
        runs.push(bench_cluster(&assets, &s, n, created).await?);
    }
    let date = Timestamp::now().strftime("%Y-%m-%dT%H%MZ").to_string();
    let md = markdown(&runs, &date, s.quick);
    print!("{md}");
    std::fs::create_dir_all(&s.out)?;
    let base = s.out.join(format!("{date}-manager"));
    std::fs::write(base.with_extension("md"), &md)?;
    let json = json!({"date": date, "mode": if s.quick { "quick" } else { "full" },
                      "runs": runs.iter().flatten().map(Phase::json).collect::<Vec<_>>()});
    std::fs::write(
        base.with_extension("json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;
    eprintln!("porter-bench-manager: wrote {}.{{md,json}}", base.display());
    Ok(())
}

/// What one phase of a run measured.
struct Phase {
    /// `N waiting` or `N at R/s`.
    what: String,
    services: usize,
    /// Leadership after the process start, ms (waiting phases).
    leader_after_ms: Option<f64>,
    /// Leadership (waiting) or the first create (created) to the last address, ms.
    all_addressed_ms: f64,
    /// Create → address (created phases).
    latency: Option<Latencies>,
    /// `apiserver_request_total` increase over the phase, by (verb, resource, code).
    requests: BTreeMap<RequestKind, f64>,
    /// The manager at the end of the phase.
    proc: ProcSample,
    /// Its CPU time spent in the phase, s.
    cpu_s: f64,
}

impl Phase {
    fn requests_total(&self) -> f64 {
        self.requests.values().sum()
    }

    fn json(&self) -> Value {
        json!({
            "phase": self.what,
            "services": self.services,
            "leader_after_ms": self.leader_after_ms.map(round),
            "all_addressed_ms": round(self.all_addressed_ms),
            "create_to_ingress": self.latency.map(|l| l.json()),
            "api_requests_per_service": round(self.requests_total() / self.services as f64),
            "api_requests": self.requests.iter().map(|(k, v)| json!({
                "verb": k.verb, "resource": k.resource, "code": k.code, "count": v,
            })).collect::<Vec<_>>(),
            "rss_mb": round(self.proc.rss_kb as f64 / 1024.0),
            "peak_rss_mb": round(self.proc.hwm_kb as f64 / 1024.0),
            "cpu_s": round(self.cpu_s),
        })
    }
}

/// One row of `apiserver_request_total`, without the labels that do not matter here.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RequestKind {
    verb: String,
    /// `resource` or `resource/subresource`.
    resource: String,
    code: String,
}

/// A fresh control plane with `waiting` Services, a manager started over them, then
/// `created` more at the set rate (when not 0).
async fn bench_cluster(
    assets: &Path,
    s: &Settings,
    waiting: usize,
    created: usize,
) -> Result<Vec<Phase>> {
    eprintln!("== {waiting} Services waiting when the leader starts");
    // The default /24 of the harness has room for 254 ClusterIPs.
    let mut cluster = Cluster::start_with_args(
        assets,
        &format!("bench-manager-{waiting}"),
        "127.0.0.1",
        &["--service-cluster-ip-range=10.96.0.0/12"],
    )
    .await;
    cluster.install_porter().await;
    let client = cluster.client.clone();
    post(
        &client,
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
    )
    .await?;
    post(
        &client,
        "/apis/network.kubesphere.io/v1alpha2/eips",
        json!({"apiVersion": "network.kubesphere.io/v1alpha2", "kind": "Eip",
               "metadata": {"name": "bench",
                            "annotations": {"eip.openelb.kubesphere.io/is-default-eip": "true"}},
               "spec": {"address": "10.128.0.0/15"}}),
    )
    .await?;
    let t = Instant::now();
    let path = services_path();
    futures::stream::iter(0..waiting)
        .map(|i| post(&client, &path, service(i)))
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    eprintln!(
        "  created {waiting} Services in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let addressed = Addressed::watch(&client);
    let tck = clock_ticks();
    let before = request_counts(&client).await?;
    let started = Timestamp::now();
    let kubeconfig = cluster.porter_kubeconfig().to_owned();
    let node = "bench-node";
    let cmd = cluster::manager_command_of(&s.porter, MANAGER, node, &[], &[], &kubeconfig);
    let pid = cluster.spawn_manager(MANAGER, node, cmd);
    let names: Vec<String> = (0..waiting).map(name).collect();
    let last = addressed.wait_all(&names, &mut cluster).await?;
    let proc = proc_sample(pid, tck)?;
    let after = request_counts(&client).await?;
    let lease = Api::<Lease>::namespaced(client.clone(), "porter-system")
        .get("porter-manager")
        .await?;
    let acquired = lease
        .spec
        .and_then(|s| s.acquire_time)
        .context("the Lease has no acquireTime")?
        .0;
    let first = Phase {
        what: format!("{waiting} waiting"),
        services: waiting,
        leader_after_ms: Some(ms_between(started, acquired)),
        all_addressed_ms: ms_between(acquired, last),
        latency: None,
        requests: increase(&before, &after),
        proc,
        cpu_s: proc.cpu_s,
    };
    eprintln!(
        "  leader after {:.0} ms, all addressed {:.0} ms after leadership",
        first.leader_after_ms.unwrap_or(f64::NAN),
        first.all_addressed_ms
    );
    let mut phases = vec![first];
    if created > 0 {
        phases.push(created_at_rate(&mut cluster, &addressed, s, waiting, created, pid).await?);
    }
    check_no_duplicates(&client).await?;
    // The manager's log outlives the cluster's scratch folder.
    std::fs::create_dir_all(&s.out)?;
    std::fs::copy(
        cluster.dir.join(format!("{MANAGER}.log")),
        s.out.join(format!("{MANAGER}-{waiting}.log")),
    )?;
    Ok(phases)
}

/// `created` Services created at `s.rate` per second while the manager runs.
async fn created_at_rate(
    cluster: &mut Cluster,
    addressed: &Addressed,
    s: &Settings,
    from: usize,
    created: usize,
    pid: u32,
) -> Result<Phase> {
    eprintln!("== {created} Services created at {}/s", s.rate);
    let client = cluster.client.clone();
    let tck = clock_ticks();
    let cpu_before = proc_sample(pid, tck)?.cpu_s;
    let before = request_counts(&client).await?;
    let sent: Arc<Mutex<HashMap<String, Timestamp>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / s.rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut creates = tokio::task::JoinSet::new();
    let first = Timestamp::now();
    for i in from..from + created {
        tick.tick().await;
        let (client, sent) = (client.clone(), sent.clone());
        creates.spawn(async move {
            post(&client, &services_path(), service(i)).await?;
            // created: the API server has answered
            sent.lock().unwrap().insert(name(i), Timestamp::now());
            anyhow::Ok(())
        });
    }
    while let Some(r) = creates.join_next().await {
        r??;
    }
    let names: Vec<String> = (from..from + created).map(name).collect();
    let last = addressed.wait_all(&names, cluster).await?;
    let proc = proc_sample(pid, tck)?;
    let after = request_counts(&client).await?;
    let sent = sent.lock().unwrap().clone();
    let seen = addressed.seen.lock().unwrap().clone();
    let latencies: Vec<f64> = names.iter().map(|n| ms_between(sent[n], seen[n])).collect();
    let latency = Latencies::of(&latencies);
    eprintln!(
        "  create → ingress p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latency.p50, latency.p99, latency.max
    );
    Ok(Phase {
        what: format!("{created} created at {}/s", s.rate),
        services: created,
        leader_after_ms: None,
        all_addressed_ms: ms_between(first, last),
        latency: Some(latency),
        requests: increase(&before, &after),
        proc,
        cpu_s: proc.cpu_s - cpu_before,
    })
}

/// When each Service was first seen with an address, by a watch of the benchmark's own.
struct Addressed {
    seen: Arc<Mutex<HashMap<String, Timestamp>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Addressed {
    fn watch(client: &Client) -> Addressed {
        let seen: Arc<Mutex<HashMap<String, Timestamp>>> = Arc::default();
        let api = Api::<Service>::namespaced(client.clone(), NAMESPACE);
        let into = seen.clone();
        let task = tokio::spawn(async move {
            let mut events = std::pin::pin!(watcher(api, watcher::Config::default())
                .default_backoff()
                .applied_objects());
            while let Some(ev) = events.next().await {
                let Ok(svc) = ev else { continue };
                let has_ingress = svc
                    .status
                    .as_ref()
                    .and_then(|s| s.load_balancer.as_ref())
                    .and_then(|l| l.ingress.as_ref())
                    .is_some_and(|i| !i.is_empty());
                if has_ingress {
                    let now = Timestamp::now();
                    if let Some(n) = svc.metadata.name {
                        into.lock().unwrap().entry(n).or_insert(now);
                    }
                }
            }
        });
        Addressed { seen, task }
    }

    /// Waits until every one of `names` was seen addressed; the latest of those times.
    async fn wait_all(&self, names: &[String], cluster: &mut Cluster) -> Result<Timestamp> {
        let deadline = Instant::now() + ADDRESS_TIMEOUT;
        let mut reported = Instant::now();
        loop {
            let (done, last) = {
                let seen = self.seen.lock().unwrap();
                let times: Vec<Timestamp> =
                    names.iter().filter_map(|n| seen.get(n).copied()).collect();
                (times.len(), times.into_iter().max())
            };
            if done == names.len() {
                return last.context("no Service");
            }
            if !cluster.procs.alive(MANAGER) {
                bail!(
                    "the manager exited with {done} of {} Services addressed; log: {}",
                    names.len(),
                    cluster.dir.join(format!("{MANAGER}.log")).display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{done} of {} Services addressed after {ADDRESS_TIMEOUT:?}",
                    names.len()
                );
            }
            if reported.elapsed() > Duration::from_secs(10) {
                eprintln!("  … {done} of {} addressed", names.len());
                reported = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Addressed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn name(i: usize) -> String {
    format!("s{i}")
}

fn services_path() -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/services")
}

/// Service `i`: a LoadBalancer porter serves (OpenELB annotation), one port, no node ports.
fn service(i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name(i), "namespace": NAMESPACE,
                        "annotations": {"lb.kubesphere.io/v1alpha1": "openelb"}},
           "spec": {"type": "LoadBalancer", "ports": [{"port": 80}],
                    "allocateLoadBalancerNodePorts": false}})
}

/// POSTs `obj` to `path` as the admin. AlreadyExists counts as done: the client retries a
/// create the API server answered late (504) though it had made the object.
async fn post(client: &Client, path: &str, obj: Value) -> Result<()> {
    let req = http::Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&obj)?)?;
    match client.request::<Value>(req).await {
        Err(kube::Error::Api(e)) if e.reason == "AlreadyExists" => Ok(()),
        r => r.map(drop).with_context(|| format!("POST {path}")),
    }
}

/// kube-apiserver's `apiserver_request_total`, summed over the labels [`RequestKind`] drops.
async fn request_counts(client: &Client) -> Result<BTreeMap<RequestKind, f64>> {
    let req = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(req).await.context("GET /metrics")?;
    Ok(parse_request_counts(&text))
}

fn parse_request_counts(text: &str) -> BTreeMap<RequestKind, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let label = |key: &str| -> String {
            labels
                .split("\",")
                .filter_map(|kv| kv.split_once("=\""))
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        let (resource, sub) = (label("resource"), label("subresource"));
        let kind = RequestKind {
            verb: label("verb"),
            resource: if sub.is_empty() {
                resource
            } else {
                format!("{resource}/{sub}")
            },
            code: label("code"),
        };
        *out.entry(kind).or_insert(0.0) += value;
    }
    out
}

/// What grew between two readings of the counters (rows that did not grow left out).
fn increase(
    before: &BTreeMap<RequestKind, f64>,
    after: &BTreeMap<RequestKind, f64>,
) -> BTreeMap<RequestKind, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d > 0.0)
        .collect()
}

/// Fails when two of the benchmark's Services show the same address.
async fn check_no_duplicates(client: &Client) -> Result<()> {
    let list = Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .list(&Default::default())
        .await?;
    let mut by_ip: HashMap<String, String> = HashMap::new();
    for svc in &list.items {
        let ips = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.clone())
            .unwrap_or_default();
        for ip in ips.into_iter().filter_map(|i| i.ip) {
            let who = svc.metadata.name.clone().unwrap_or_default();
            if let Some(other) = by_ip.insert(ip.clone(), who.clone()) {
                bail!("{ip} is shown by both {other} and {who}");
            }
        }
    }
    Ok(())
}

fn ms_between(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64() * 1000.0
}

fn markdown(runs: &[Vec<Phase>], date: &str, quick: bool) -> String {
    let mut md = String::new();
    let mode = if quick { "quick" } else { "full" };
    let _ = writeln!(
        md,
        "## porter manager against kube-apiserver, {date} ({mode})\n\n\
         | phase | leader after start | all addressed | create → ingress p50 / p99 / max | API requests per Service | manager RSS (peak) | manager CPU |\n\
         |---|---|---|---|---|---|---|"
    );
    for p in runs.iter().flatten() {
        let latency = p.latency.map_or("–".into(), |l| {
            format!("{:.1} / {:.1} / {:.1} ms", l.p50, l.p99, l.max)
        });
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} s | {latency} | {:.2} | {:.1} MB ({:.1} MB) | {:.2} s |",
            p.what,
            p.leader_after_ms
                .map_or("–".into(), |m| format!("{:.2} s", m / 1000.0)),
            p.all_addressed_ms / 1000.0,
            p.requests_total() / p.services as f64,
            p.proc.rss_kb as f64 / 1024.0,
            p.proc.hwm_kb as f64 / 1024.0,
            p.cpu_s,
        );
    }
    for p in runs.iter().flatten() {
        let _ = writeln!(
            md,
            "\nAPI requests in phase \"{}\" (kube-apiserver `apiserver_request_total`; \
             per Service = count / {}):\n\n| verb | resource | code | count | per Service |\n|---|---|---|---|---|",
            p.what, p.services
        );
        let mut rows: Vec<_> = p.requests.iter().collect();
        rows.sort_by(|a, b| b.1.total_cmp(a.1));
        for (k, v) in rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {v} | {:.3} |",
                k.verb,
                k.resource,
                k.code,
                v / p.services as f64
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_counts_sum_over_dropped_labels() {
        let text = "# HELP apiserver_request_total x\n\
            apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"services\",scope=\"resource\",subresource=\"status\",verb=\"PATCH\",version=\"v1\"} 7\n\
            apiserver_request_total{code=\"200\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"services\",scope=\"namespace\",subresource=\"status\",verb=\"PATCH\",version=\"v1\"} 3\n\
            apiserver_request_total{code=\"409\",component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"services\",scope=\"resource\",subresource=\"\",verb=\"PATCH\",version=\"v1\"} 1\n";
        let counts = parse_request_counts(text);
        let key = |sub: &str, code: &str| RequestKind {
            verb: "PATCH".into(),
            resource: sub.into(),
            code: code.into(),
        };
        assert_eq!(counts[&key("services/status", "200")], 10.0);
        assert_eq!(counts[&key("services", "409")], 1.0);
        assert_eq!(counts.len(), 2);
    }
}
