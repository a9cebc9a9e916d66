//! Standalone mode: a YAML file instead of the Kubernetes API as the source of desired state.
//!
//! `porter standalone --config FILE` reads BgpConf, BgpPeer, Eip and v1 Service objects from
//! FILE ([`load`]), turns them into this node's desired state ([`model`]: speaker settings,
//! allocations, routes, status) and hands that to the speaker. It re-reads FILE on SIGHUP (at
//! once: the signal says the file is complete) and when its content changes (polled once a
//! second, compared by content hash, not by mtime, which misses quick rewrites, and read
//! until two reads 100 ms apart agree), and applies the difference: the speaker keeps every
//! session whose settings did not change, and routes live in the desired state, so a BgpConf
//! change that restarts sessions brings them back with every route.
//! A reload decodes only the documents whose text changed ([`load::DocumentCache`]); the
//! translation into desired state is redone whole, from the previous holdings.
//!
//! A FILE that is malformed at start is an error (exit code 2, every problem listed on
//! stderr). On a reload it is logged and counted in `porter_config_reloads{result="error"}`,
//! and the running state is kept.

pub mod load;
pub mod model;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use bgp_wire::nlri::Prefix;
use serde_json::{json, Map, Value};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::{error, info, warn};

use crate::layer2::responders::{InterfaceStatus, Responders};
use crate::layer2::ResponderConfig;
use crate::speaker::{PeerStatus, Speaker};
use crate::telemetry::{self, HttpState, Metrics, PoolLabels, ResultLabels};
use model::{Desired, Holdings, Node, Options};

/// Exit code for a configuration that cannot be used at start.
pub const EXIT_CONFIG: u8 = 2;

/// The reason sent in the Cease NOTIFICATION (RFC 9003) when porter stops.
pub const SHUTDOWN_REASON: &str = "porter standalone stopping";

/// How `porter standalone` runs.
#[derive(Clone, Debug)]
pub struct Args {
    /// The configuration file.
    pub config: PathBuf,
    /// This node's name (BgpPeer nodeSelector, status keys).
    pub node_name: String,
    /// This node's own addresses: the BGP identifier when BgpConf has no `routerId` (the
    /// first IPv4 one), and next-hop-self for a VIP of the other family than the session.
    pub node_addresses: Vec<IpAddr>,
    /// Where to serve `/metrics`, `/healthz`, `/readyz`, `/status`; nothing when `None`.
    pub http: Option<SocketAddr>,
    /// Settings that do not come from the file.
    pub options: Options,
    /// How long to keep announcing with GRACEFUL_SHUTDOWN (RFC 8326) before closing sessions.
    pub shutdown_drain: Duration,
    /// How often to look at the file for changes.
    pub poll_interval: Duration,
}

/// Why standalone mode could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration file cannot be read or is not valid.
    #[error("{0}")]
    Config(String),
    /// The HTTP endpoint cannot listen.
    #[error("{0}")]
    Http(anyhow::Error),
    /// Signal handlers cannot be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

impl StartError {
    /// The process exit code: [`EXIT_CONFIG`] for a bad configuration, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::Config(_) => EXIT_CONFIG,
            StartError::Http(_) | StartError::Signals(_) => 1,
        }
    }
}

/// Runs standalone mode until SIGTERM or SIGINT, then shuts the speaker down gracefully.
pub async fn run(args: Args) -> Result<(), StartError> {
    // Installed first: SIGHUP's default action would end the process.
    let mut signals = Signals::install().map_err(StartError::Signals)?;
    let mut node = Node::standalone(&args.node_name);
    node.addresses = args.node_addresses.clone();
    let bytes = load::read(&args.config).map_err(|e| StartError::Config(e.to_string()))?;
    // Lives as long as the loop: a reload decodes only the documents that changed.
    let mut cache = load::DocumentCache::default();
    let desired = translate_cached(&mut cache, &bytes, &node, &args.options, &Holdings::new())
        .map_err(|e| StartError::Config(invalid(&args.config, &e)))?;
    let desired = Arc::new(desired);
    let http = match args.http {
        Some(addr) => Some(telemetry::bind(addr).await.map_err(StartError::Http)?),
        None => None,
    };

    let metrics = Arc::new(Metrics::new());
    let speaker = Speaker::new(metrics.clone());
    let shared = Arc::new(RwLock::new(Shared {
        file: args.config.clone(),
        node: args.node_name.clone(),
        desired: desired.clone(),
        applied_at: SystemTime::now(),
        last_error: None,
        layer2: BTreeMap::new(),
    }));
    let mut l2 = Responders::new(
        ResponderConfig::new(args.node_name.clone()),
        metrics.clone(),
    );
    // Ready once the first configuration is applied; /healthz answers from the start.
    let ready = Arc::new(AtomicBool::new(false));
    if let Some(listener) = http {
        let addr = listener
            .local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        let state = HttpState {
            metrics: metrics.clone(),
            status: status_source(shared.clone(), speaker.clone()),
            ready: ready.clone(),
        };
        tokio::spawn(async move {
            if let Err(e) = telemetry::serve(listener, state).await {
                error!("HTTP endpoint stopped: {e}");
            }
        });
        info!(%addr, "serving /metrics, /healthz, /readyz, /status");
    }
    apply(&speaker, &metrics, &mut l2, Changes::everything(), &desired).await;
    {
        let mut s = lock(&shared);
        s.applied_at = SystemTime::now();
        s.layer2 = l2.status();
    }
    ready.store(true, Ordering::Relaxed);
    info!(
        file = %args.config.display(),
        node = %args.node_name,
        peers = desired.speaker.peers.len(),
        routes = desired.routes.len(),
        "configuration applied"
    );

    let mut seen = signature(&Ok(bytes));
    let mut tick = tokio::time::interval(args.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let forced = tokio::select! {
            _ = signals.terminate.recv() => { info!("SIGTERM: stopping"); break; }
            _ = signals.interrupt.recv() => { info!("SIGINT: stopping"); break; }
            _ = signals.hangup.recv() => { info!("SIGHUP: reloading {}", args.config.display()); true }
            _ = tick.tick() => false,
        };
        if !forced && signature(&load::read(&args.config)) == seen {
            continue;
        }
        // SIGHUP is the writer saying the file is complete: read it at once. A change found
        // by polling may be a write still in progress, so that read waits for it to settle
        // (100 ms per look), which would otherwise be most of a SIGHUP reload's latency.
        let read = if forced {
            load::read(&args.config)
        } else {
            read_settled(&args.config).await
        };
        seen = signature(&read);
        let parts = Parts {
            speaker: &speaker,
            metrics: &metrics,
            l2: &mut l2,
            shared: &shared,
        };
        reload(&args, &node, &mut cache, read, parts).await;
    }
    l2.stop().await;
    speaker.shutdown(SHUTDOWN_REASON, args.shutdown_drain).await;
    info!("stopped");
    Ok(())
}

/// What the speaker advertises: prefix → (peer, next hops, since when), per peer.
type Advertised = BTreeMap<Prefix, Vec<(String, Vec<IpAddr>, SystemTime)>>;

/// What a reload applies the new state to.
struct Parts<'a> {
    speaker: &'a Speaker,
    metrics: &'a Metrics,
    l2: &'a mut Responders,
    shared: &'a RwLock<Shared>,
}

/// What `/status` reads, updated by each successful reload.
struct Shared {
    file: PathBuf,
    node: String,
    /// Shared with the loop that applied it: a Desired of 100,000 Services is tens of MB.
    desired: Arc<Desired>,
    applied_at: SystemTime,
    last_error: Option<(SystemTime, String)>,
    layer2: BTreeMap<String, InterfaceStatus>,
}

struct Signals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }
}

/// Parses and translates a file's bytes without a cache (the tests' shorthand).
#[cfg(test)]
fn translate(
    bytes: &[u8],
    node: &Node,
    options: &Options,
    previous: &Holdings,
) -> Result<Desired, load::Problems> {
    translate_cached(
        &mut load::DocumentCache::default(),
        bytes,
        node,
        options,
        previous,
    )
}

/// Parses (through `cache`) and translates a file's bytes.
fn translate_cached(
    cache: &mut load::DocumentCache,
    bytes: &[u8],
    node: &Node,
    options: &Options,
    previous: &Holdings,
) -> Result<Desired, load::Problems> {
    let objects = cache.parse(bytes)?;
    model::translate(&objects, node, options, previous)
}

fn invalid(path: &Path, problems: &load::Problems) -> String {
    format!(
        "{} is not a valid porter configuration:\n{problems}",
        path.display()
    )
}

/// What the file looked like last: its content hash, or why it could not be read. A change
/// of either triggers one reload, so a broken file is reported once, not every second.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Signature {
    Content(u64),
    Unreadable(String),
}

fn signature(read: &Result<Vec<u8>, load::LoadError>) -> Signature {
    match read {
        Ok(bytes) => {
            // SipHash with fixed keys: stable for the life of the process, which is all a
            // change detector needs.
            let mut h = std::hash::DefaultHasher::new();
            bytes.hash(&mut h);
            Signature::Content(h.finish())
        }
        Err(e) => Signature::Unreadable(e.to_string()),
    }
}

/// Reads the file until two reads 100 ms apart agree (at most a second), so that a file
/// being written in place is not loaded half-written.
async fn read_settled(path: &Path) -> Result<Vec<u8>, load::LoadError> {
    let mut read = load::read(path);
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let again = load::read(path);
        let settled = match (&read, &again) {
            (Ok(a), Ok(b)) => a == b,
            (Err(a), Err(b)) => a.to_string() == b.to_string(),
            _ => false,
        };
        read = again;
        if settled {
            break;
        }
    }
    read
}

/// Applies a new version of the file, or logs why it cannot and keeps the running state.
async fn reload(
    args: &Args,
    node: &Node,
    cache: &mut load::DocumentCache,
    read: Result<Vec<u8>, load::LoadError>,
    parts: Parts<'_>,
) {
    let Parts {
        speaker,
        metrics,
        l2,
        shared,
    } = parts;
    // The running state is read in place, not cloned (a copy of every Service's outcome and
    // route would cost as much as the translation); the guard is gone before any await.
    let result = read.map_err(|e| e.to_string()).and_then(|bytes| {
        let running = read_lock(shared);
        translate_cached(
            cache,
            &bytes,
            node,
            &args.options,
            &running.desired.holdings,
        )
        .map_err(|p| invalid(&args.config, &p))
    });
    let outcome = match result {
        Ok(desired) => {
            let changes = Changes::between(&read_lock(shared).desired, &desired);
            apply(speaker, metrics, l2, changes, &desired).await;
            info!(
                peers = desired.speaker.peers.len(),
                routes = desired.routes.len(),
                "configuration reloaded"
            );
            let mut s = lock(shared);
            s.desired = Arc::new(desired);
            s.applied_at = SystemTime::now();
            s.layer2 = l2.status();
            "ok"
        }
        Err(message) => {
            error!("reload failed, keeping the running configuration: {message}");
            lock(shared).last_error = Some((SystemTime::now(), message));
            "error"
        }
    };
    metrics
        .config_reloads
        .get_or_create(&ResultLabels {
            result: outcome.into(),
        })
        .inc();
}

/// What a new desired state changes in the running one.
struct Changes {
    routes: bool,
    speaker: bool,
    /// Pools (Eips) that are gone: their gauges are removed.
    gone_pools: Vec<String>,
}

impl Changes {
    /// At start: everything is new.
    fn everything() -> Changes {
        Changes {
            routes: true,
            speaker: true,
            gone_pools: Vec::new(),
        }
    }

    fn between(previous: &Desired, next: &Desired) -> Changes {
        Changes {
            routes: previous.routes != next.routes,
            speaker: previous.speaker != next.speaker,
            gone_pools: previous
                .eips
                .keys()
                .filter(|name| !next.eips.contains_key(*name))
                .cloned()
                .collect(),
        }
    }
}

/// Hands the desired state to the speaker: routes first, so peers started by the new
/// configuration begin with the new routes, then the configuration, which the speaker diffs.
async fn apply(
    speaker: &Speaker,
    metrics: &Metrics,
    l2: &mut Responders,
    changes: Changes,
    next: &Desired,
) {
    // layer-2 responders are re-checked on every apply: one whose interface went away is
    // started again when it is back
    l2.apply(&next.layer2).await;
    for (key, outcome) in &next.services {
        if let Some(e) = &outcome.error {
            warn!(service = %key, "no address: {e}");
        }
        for w in &outcome.warnings {
            warn!(service = %key, "{w}");
        }
    }
    for (name, why) in &next.skipped_peers {
        info!(peer = %name, "not on this node: {why}");
    }
    if changes.routes {
        speaker.set_routes(next.routes.clone()).await;
    }
    if changes.speaker {
        if let Err(e) = speaker.apply(next.speaker.clone()).await {
            // Everything else is applied; a listener that cannot bind still lets sessions
            // connect out, so this is reported rather than fatal.
            warn!("speaker configuration partly applied: {e}");
        }
    }
    for (name, eip) in &next.eips {
        let labels = PoolLabels { pool: name.clone() };
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        metrics
            .pool_size
            .get_or_create(&labels)
            .set(clamp(eip.pool_size));
        metrics
            .pool_used
            .get_or_create(&labels)
            .set(clamp(eip.usage));
    }
    for pool in changes.gone_pools {
        let labels = PoolLabels { pool };
        metrics.pool_size.remove(&labels);
        metrics.pool_used.remove(&labels);
    }
}

fn lock(shared: &RwLock<Shared>) -> std::sync::RwLockWriteGuard<'_, Shared> {
    shared.write().unwrap_or_else(|p| p.into_inner())
}

fn read_lock(shared: &RwLock<Shared>) -> std::sync::RwLockReadGuard<'_, Shared> {
    shared.read().unwrap_or_else(|p| p.into_inner())
}

/// The `/status` producer: the file's state joined with the speaker's at request time.
fn status_source(
    shared: Arc<RwLock<Shared>>,
    speaker: Speaker,
) -> Arc<dyn Fn() -> Value + Send + Sync> {
    Arc::new(move || {
        let peers = speaker.status();
        let advertised = speaker.advertised();
        let s = shared.read().unwrap_or_else(|p| p.into_inner());
        status_document(&s, &peers, &advertised)
    })
}

/// The `/status` document:
///
/// - `bgpPeers`: BgpPeer name → the `nodesPeerStatus` entry the CRD would show for this node,
///   plus `endOfRibReceived`: the families whose End-of-RIB the neighbor has sent;
/// - `eips`: Eip name → the Eip status;
/// - `services`: `namespace/name` → `{ip, ips, pools, …, advertised: [{peer, nextHops,
///   since}]}`;
/// - `config`: the file, when it was last applied, the last reload error.
fn status_document(
    s: &Shared,
    peers: &BTreeMap<String, PeerStatus>,
    advertised: &Advertised,
) -> Value {
    let asn = s.desired.speaker.global.asn;
    let bgp_peers: Map<String, Value> = peers
        .iter()
        .map(|(name, p)| {
            let entry = crate::status::node_peer_status(p, asn);
            let mut v = to_json(&entry);
            // Beyond the CRD's nodesPeerStatus: the families whose initial table the
            // neighbor finished sending (End-of-RIB, RFC 4724 §2), for tools that wait on it.
            v["endOfRibReceived"] = json!(p.end_of_rib_received);
            (name.clone(), v)
        })
        .collect();
    let services: Map<String, Value> = s
        .desired
        .services
        .iter()
        .map(|(key, outcome)| {
            let mut v = to_json(outcome);
            if !outcome.ips.is_empty() {
                let list: Vec<Value> = outcome
                    .ips
                    .iter()
                    .flat_map(|ip| advertised.get(&Prefix::host(*ip)).into_iter().flatten())
                    .map(|(peer, hops, since)| {
                        json!({
                            "peer": peer,
                            "nextHops": hops,
                            "since": crate::status::time(*since),
                        })
                    })
                    .collect();
                v["advertised"] = Value::Array(list);
            }
            (key.clone(), v)
        })
        .collect();
    let eips: Map<String, Value> = s
        .desired
        .eips
        .iter()
        .map(|(name, status)| (name.clone(), to_json(status)))
        .collect();
    let mut config = json!({
        "file": s.file.display().to_string(),
        "appliedAt": crate::status::time(s.applied_at),
        "bgp": s.desired.bgp,
    });
    if let Some((at, message)) = &s.last_error {
        config["lastReloadError"] = json!({
            "time": crate::status::time(*at),
            "message": message,
        });
    }
    json!({
        "node": s.node,
        "config": config,
        "bgpPeers": bgp_peers,
        "skippedBgpPeers": s.desired.skipped_peers,
        "eips": eips,
        "services": services,
        "layer2": to_json(&s.layer2),
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    // Status types are maps with string keys, strings and numbers: always representable.
    serde_json::to_value(value).unwrap_or_else(|e| json!({ "error": e.to_string() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "apiVersion: network.kubesphere.io/v1alpha2
kind: BgpConf
metadata: {name: default}
spec: {as: 65001, routerId: 10.200.1.2}
---
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata: {name: pool}
spec: {address: 203.0.113.0/28}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  annotations: {lb.kubesphere.io/v1alpha1: porter, eip.openelb.kubesphere.io/v1alpha2: pool}
spec:
  type: LoadBalancer
  ports: [{port: 80}]
";

    fn shared() -> Shared {
        let desired = translate(
            FILE.as_bytes(),
            &Node::standalone("node1"),
            &Options::default(),
            &Holdings::new(),
        )
        .unwrap();
        Shared {
            file: "/etc/porter.yaml".into(),
            node: "node1".into(),
            desired: Arc::new(desired),
            applied_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            last_error: Some((
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_060),
                "bad".into(),
            )),
            layer2: BTreeMap::new(),
        }
    }

    #[test]
    fn status_joins_allocations_with_what_the_speaker_advertises() {
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        let advertised = BTreeMap::from([(
            Prefix::host(ip),
            vec![(
                "r1".to_owned(),
                vec!["10.200.1.2".parse().unwrap()],
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_030),
            )],
        )]);
        let doc = status_document(&shared(), &BTreeMap::new(), &advertised);
        assert_eq!(
            doc["services"]["default/web"],
            json!({
                "ip": "203.0.113.1",
                "ips": ["203.0.113.1"],
                "pools": ["pool"],
                "protocols": ["bgp"],
                "advertised": [{
                    "peer": "r1",
                    "nextHops": ["10.200.1.2"],
                    "since": "2023-11-14T22:13:50Z",
                }],
            })
        );
        assert_eq!(doc["eips"]["pool"]["usage"], 1);
        assert_eq!(doc["eips"]["pool"]["used"]["203.0.113.1"], "default/web");
        assert_eq!(doc["bgpPeers"], json!({}));
        assert_eq!(doc["config"]["appliedAt"], "2023-11-14T22:13:20Z");
        assert_eq!(doc["config"]["lastReloadError"]["message"], "bad");
    }

    /// `porter status --from` reads this document: the rows it makes of it follow its shape.
    #[test]
    fn porter_status_reads_the_status_document() {
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_030);
        let advertised = BTreeMap::from([(
            Prefix::host(ip),
            vec![("r1".to_owned(), vec!["10.200.1.2".parse().unwrap()], since)],
        )]);
        let doc = status_document(&shared(), &BTreeMap::new(), &advertised);
        let o = crate::overview::from_standalone_json(&doc.to_string()).unwrap();
        let web = o.services.iter().find(|s| s.name == "default/web").unwrap();
        assert_eq!(web.addresses, ["203.0.113.1"]);
        assert_eq!(web.pools, ["pool"]);
        assert_eq!(web.nodes[0].node, "node1");
        assert_eq!(web.nodes[0].message, "to r1 with next hops 10.200.1.2");
        let pool = o.pools.iter().find(|p| p.name == "pool").unwrap();
        assert_eq!((pool.used, pool.address.is_empty()), (1, false));
    }

    #[test]
    fn a_service_not_yet_advertised_shows_an_empty_list() {
        let doc = status_document(&shared(), &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(doc["services"]["default/web"]["advertised"], json!([]));
    }

    #[test]
    fn signature_changes_with_content_not_with_rereads() {
        let a: Result<Vec<u8>, load::LoadError> = Ok(b"x".to_vec());
        let b: Result<Vec<u8>, load::LoadError> = Ok(b"y".to_vec());
        assert_eq!(signature(&a), signature(&Ok(b"x".to_vec())));
        assert_ne!(signature(&a), signature(&b));
        let missing = load::read(Path::new("/nonexistent/porter.yaml"));
        assert!(matches!(signature(&missing), Signature::Unreadable(_)));
    }
}
