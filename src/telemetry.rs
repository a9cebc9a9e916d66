//! Logs, metrics and the read-only HTTP endpoint (`/metrics`, `/healthz`, `/readyz`,
//! `/status`).
//!
//! The endpoint only reads: there is no route that changes state, whatever the method.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Installs the tracing subscriber, to stderr: `filter` (tracing directives), else
/// `RUST_LOG`, else `info`. A bad `filter` is an error for the caller to report.
pub fn init_logging(filter: Option<&str>) -> Result<(), String> {
    let filter = match filter {
        Some(f) => tracing_subscriber::EnvFilter::try_new(f).map_err(|e| e.to_string())?,
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in `kubectl logs`, journald or a file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    Ok(())
}

/// Labels of per-peer series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabels {
    /// BgpPeer name.
    pub peer: String,
}

/// Labels of the session-state gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerStateLabels {
    /// BgpPeer name.
    pub peer: String,
    /// RFC 4271 state name, as gobgp spells it (IDLE … ESTABLISHED).
    pub state: String,
}

/// Labels of message counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// BgpPeer name.
    pub peer: String,
    /// `sent` or `received`.
    pub direction: String,
    /// Message type (open, update, notification, keepalive, refresh).
    pub kind: String,
}

/// Labels of per-pool series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// Eip name.
    pub pool: String,
}

/// Labels of config reload outcomes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `ok` or `error`.
    pub result: String,
}

/// Labels of per-address layer-2 series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Layer2Labels {
    /// The Eip address (an IPv4 or IPv6 address as text).
    pub ip: String,
}

/// Labels of the layer-2 owner gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Layer2OwnerLabels {
    /// The Eip address.
    pub ip: String,
    /// The node answering ARP/NDP for it.
    pub node: String,
}

/// Every porter metric.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// 1 for the state each peer's session is in, 0 for the others.
    pub session_state: Family<PeerStateLabels, Gauge>,
    /// BGP messages sent and received.
    pub messages: Family<MessageLabels, Counter>,
    /// Paths currently advertised to each peer.
    pub prefixes_advertised: Family<PeerLabels, Gauge>,
    /// Established → down transitions per peer.
    pub session_flaps: Family<PeerLabels, Counter>,
    /// Connections refused because no configured neighbor has the remote address.
    pub connections_rejected: Counter,
    /// Addresses in each pool.
    pub pool_size: Family<PoolLabels, Gauge>,
    /// Addresses in use in each pool.
    pub pool_used: Family<PoolLabels, Gauge>,
    /// Configuration reloads by outcome.
    pub config_reloads: Family<ResultLabels, Counter>,
    /// ARP requests and Neighbor Solicitations received for each owned address (requests
    /// for other addresses are not counted: anyone on the link could create series).
    pub layer2_requests_received: Family<Layer2Labels, Counter>,
    /// ARP replies and Neighbor Advertisements sent in answer, per address.
    pub layer2_responses_sent: Family<Layer2Labels, Counter>,
    /// Gratuitous ARPs and unsolicited Neighbor Advertisements sent, per address.
    pub layer2_gratuitous_sent: Family<Layer2Labels, Counter>,
    /// 1 for the node that owns each layer-2 address, as far as this replica knows.
    pub layer2_owner: Family<Layer2OwnerLabels, Gauge>,
    /// 1 for each layer-2 address whose election this replica follows: with
    /// `layer2_owner`, an address that no node answers for is visible (the alert's input).
    pub layer2_addresses: Family<Layer2Labels, Gauge>,
    /// LoadBalancer Services porter serves that have no address yet, as this replica's
    /// cache shows them (every replica counts; alert on the maximum).
    pub services_waiting: Gauge,
    layer2_owners: Mutex<BTreeMap<IpAddr, String>>,
    /// Failed reconciles per controller (`service`, `eip`).
    pub reconcile_failures: Family<ControllerLabels, Counter>,
    /// 1 while a peer's BFD session is Up.
    pub bfd_session_up: Family<PeerLabels, Gauge>,
    /// BFD transitions to Up per peer.
    pub bfd_up_events: Family<PeerLabels, Counter>,
    /// BFD transitions from Up per peer.
    pub bfd_down_events: Family<PeerLabels, Counter>,
    /// BFD control packets sent per peer.
    pub bfd_packets_sent: Family<PeerLabels, Counter>,
    /// BFD control packets received per peer (before the session's own checks).
    pub bfd_packets_received: Family<PeerLabels, Counter>,
    /// BFD packets dropped, by reason (TTL, malformed, no session, RFC 5880 §6.8.6 rule).
    pub bfd_packets_dropped: Family<BfdDropLabels, Counter>,
}

/// Labels of dropped BFD packets.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BfdDropLabels {
    /// Why (`ttl`, `bad_version`, `no_session`, …).
    pub reason: String,
}

/// Labels of per-controller series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// Controller name.
    pub controller: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `porter_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("porter");
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            session_state: Family::default(),
            messages: Family::default(),
            prefixes_advertised: Family::default(),
            session_flaps: Family::default(),
            connections_rejected: Counter::default(),
            pool_size: Family::default(),
            pool_used: Family::default(),
            config_reloads: Family::default(),
            layer2_requests_received: Family::default(),
            layer2_responses_sent: Family::default(),
            layer2_gratuitous_sent: Family::default(),
            layer2_owner: Family::default(),
            layer2_addresses: Family::default(),
            services_waiting: Gauge::default(),
            layer2_owners: Mutex::new(BTreeMap::new()),
            reconcile_failures: Family::default(),
            bfd_session_up: Family::default(),
            bfd_up_events: Family::default(),
            bfd_down_events: Family::default(),
            bfd_packets_sent: Family::default(),
            bfd_packets_received: Family::default(),
            bfd_packets_dropped: Family::default(),
        };
        registry.register(
            "bgp_session_state",
            "1 for the current state of each peer's session",
            m.session_state.clone(),
        );
        registry.register(
            "bgp_messages",
            "BGP messages by peer, direction and type",
            m.messages.clone(),
        );
        registry.register(
            "bgp_prefixes_advertised",
            "Paths advertised to each peer",
            m.prefixes_advertised.clone(),
        );
        registry.register(
            "bgp_session_flaps",
            "Established sessions that went down",
            m.session_flaps.clone(),
        );
        registry.register(
            "bgp_connections_rejected",
            "Incoming connections from addresses that are not configured neighbors",
            m.connections_rejected.clone(),
        );
        registry.register(
            "ipam_pool_size",
            "Addresses in each Eip pool",
            m.pool_size.clone(),
        );
        registry.register(
            "ipam_pool_used",
            "Addresses allocated from each Eip pool",
            m.pool_used.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads by result",
            m.config_reloads.clone(),
        );
        registry.register(
            "layer2_requests_received",
            "ARP requests and IPv6 Neighbor Solicitations received for each owned address",
            m.layer2_requests_received.clone(),
        );
        registry.register(
            "layer2_responses_sent",
            "ARP replies and Neighbor Advertisements sent in answer, per address",
            m.layer2_responses_sent.clone(),
        );
        registry.register(
            "layer2_gratuitous_sent",
            "Gratuitous ARPs and unsolicited Neighbor Advertisements sent, per address",
            m.layer2_gratuitous_sent.clone(),
        );
        registry.register(
            "layer2_owner",
            "1 for the node answering ARP/NDP for each layer-2 address",
            m.layer2_owner.clone(),
        );
        registry.register(
            "layer2_addresses",
            "1 for each layer-2 address whose election this replica follows",
            m.layer2_addresses.clone(),
        );
        registry.register(
            "services_waiting",
            "LoadBalancer Services porter serves that have no address yet",
            m.services_waiting.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles by controller",
            m.reconcile_failures.clone(),
        );
        registry.register(
            "bfd_session_up",
            "1 while each peer's BFD session is Up",
            m.bfd_session_up.clone(),
        );
        registry.register(
            "bfd_session_up_events",
            "BFD sessions that came Up, per peer",
            m.bfd_up_events.clone(),
        );
        registry.register(
            "bfd_session_down_events",
            "BFD sessions that went down from Up, per peer",
            m.bfd_down_events.clone(),
        );
        registry.register(
            "bfd_control_packets_sent",
            "BFD control packets sent, per peer",
            m.bfd_packets_sent.clone(),
        );
        registry.register(
            "bfd_control_packets_received",
            "BFD control packets received, per peer",
            m.bfd_packets_received.clone(),
        );
        registry.register(
            "bfd_control_packets_dropped",
            "BFD control packets dropped, by reason",
            m.bfd_packets_dropped.clone(),
        );
        *m.registry.lock().expect("fresh mutex") = registry;
        m
    }

    /// Sets the session-state gauge of `peer` to `state` (every other state to 0).
    pub fn set_session_state(&self, peer: &str, state: &str) {
        for s in [
            "IDLE",
            "CONNECT",
            "ACTIVE",
            "OPENSENT",
            "OPENCONFIRM",
            "ESTABLISHED",
        ] {
            let v = i64::from(s == state);
            self.session_state
                .get_or_create(&PeerStateLabels {
                    peer: peer.into(),
                    state: s.into(),
                })
                .set(v);
        }
    }

    /// Counts a failed reconcile of `controller`.
    pub fn reconcile_errors(&self, controller: &str) {
        self.reconcile_failures
            .get_or_create(&ControllerLabels {
                controller: controller.into(),
            })
            .inc();
    }

    /// Drops every series of a removed peer.
    pub fn remove_peer(&self, peer: &str) {
        for s in [
            "IDLE",
            "CONNECT",
            "ACTIVE",
            "OPENSENT",
            "OPENCONFIRM",
            "ESTABLISHED",
        ] {
            self.session_state.remove(&PeerStateLabels {
                peer: peer.into(),
                state: s.into(),
            });
        }
        self.prefixes_advertised
            .remove(&PeerLabels { peer: peer.into() });
    }

    /// Records that `node` owns layer-2 address `ip` (answers ARP/NDP for it), or that no
    /// node does (`None`). Written by the layer-2 responder for its own node and by the
    /// election for the holders it observes.
    pub fn set_layer2_owner(&self, ip: IpAddr, node: Option<&str>) {
        let mut owners = self.layer2_owners.lock().unwrap_or_else(|p| p.into_inner());
        self.set_layer2_owner_locked(&mut owners, ip, node);
    }

    fn set_layer2_owner_locked(
        &self,
        owners: &mut BTreeMap<IpAddr, String>,
        ip: IpAddr,
        node: Option<&str>,
    ) {
        let previous = match node {
            Some(n) => owners.insert(ip, n.to_owned()),
            None => owners.remove(&ip),
        };
        if let Some(old) = previous {
            self.layer2_owner.remove(&Layer2OwnerLabels {
                ip: ip.to_string(),
                node: old,
            });
        }
        if let Some(n) = node {
            self.layer2_owner
                .get_or_create(&Layer2OwnerLabels {
                    ip: ip.to_string(),
                    node: n.to_owned(),
                })
                .set(1);
        }
    }

    /// Forgets the owner of `ip` if it is still `node` (a responder giving an address up
    /// must not erase a newer owner the election recorded meanwhile).
    pub fn release_layer2_owner(&self, ip: IpAddr, node: &str) {
        let mut owners = self.layer2_owners.lock().unwrap_or_else(|p| p.into_inner());
        if owners.get(&ip).map(String::as_str) == Some(node) {
            self.set_layer2_owner_locked(&mut owners, ip, None);
        }
    }

    /// The node owning layer-2 address `ip`, if known. For status writers.
    pub fn layer2_owner(&self, ip: IpAddr) -> Option<String> {
        let owners = self.layer2_owners.lock().unwrap_or_else(|p| p.into_inner());
        owners.get(&ip).cloned()
    }

    /// Every known layer-2 address and its owning node. For status writers.
    pub fn layer2_owners(&self) -> BTreeMap<IpAddr, String> {
        self.layer2_owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        prometheus_client::encoding::text::encode(&mut out, &reg).expect("writing to a String");
        out
    }
}

/// What the HTTP endpoint reads.
#[derive(Clone)]
pub struct HttpState {
    /// Metrics to expose.
    pub metrics: Arc<Metrics>,
    /// Produces the `/status` document.
    pub status: Arc<dyn Fn() -> serde_json::Value + Send + Sync>,
    /// Set once the first configuration is applied.
    pub ready: Arc<AtomicBool>,
}

/// Serves the endpoint on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, state: HttpState) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .with_state(state);
    axum::serve(listener, app).await
}

/// Binds `addr` for [`serve`], with a message that names the address on failure.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for HTTP on {addr}: {e}"))
}

async fn metrics(State(s): State<HttpState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

async fn readyz(State(s): State<HttpState>) -> Response {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: configuration not applied yet\n",
        )
            .into_response()
    }
}

async fn status(State(s): State<HttpState>) -> Response {
    let body = serde_json::to_string_pretty(&(s.status)())
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    ([(header::CONTENT_TYPE, "application/json")], body + "\n").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_carry_the_porter_prefix_and_one_state_per_peer() {
        let m = Metrics::new();
        m.set_session_state("r1", "ESTABLISHED");
        m.set_session_state("r1", "IDLE");
        let text = m.encode();
        assert!(
            text.contains("porter_bgp_session_state{peer=\"r1\",state=\"IDLE\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("porter_bgp_session_state{peer=\"r1\",state=\"ESTABLISHED\"} 0"),
            "{text}"
        );
        m.remove_peer("r1");
        assert!(!m.encode().contains("peer=\"r1\""));
    }

    #[test]
    fn layer2_owner_is_tracked_per_address_and_released_only_by_its_node() {
        let m = Metrics::new();
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        m.set_layer2_owner(ip, Some("node-a"));
        assert_eq!(m.layer2_owner(ip).as_deref(), Some("node-a"));
        m.set_layer2_owner(ip, Some("node-b"));
        let text = m.encode();
        assert!(
            text.contains("porter_layer2_owner{ip=\"198.51.100.7\",node=\"node-b\"} 1"),
            "{text}"
        );
        assert!(!text.contains("node-a"), "{text}");
        m.release_layer2_owner(ip, "node-a");
        assert_eq!(
            m.layer2_owners().get(&ip).map(String::as_str),
            Some("node-b")
        );
        m.release_layer2_owner(ip, "node-b");
        assert_eq!(m.layer2_owner(ip), None);
        assert!(!m.encode().contains("porter_layer2_owner{"));
        m.layer2_requests_received
            .get_or_create(&Layer2Labels { ip: ip.to_string() })
            .inc();
        assert!(m
            .encode()
            .contains("porter_layer2_requests_received_total{ip=\"198.51.100.7\"} 1"));
    }

    #[tokio::test]
    async fn endpoint_serves_reads_and_refuses_writes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ready = Arc::new(AtomicBool::new(false));
        let state = HttpState {
            metrics: Arc::new(Metrics::new()),
            status: Arc::new(|| serde_json::json!({"bgpPeers": {}})),
            ready: ready.clone(),
        };
        tokio::spawn(serve(listener, state));
        let get = |path: &'static str, method: &'static str| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        assert!(get("/readyz", "GET").await.starts_with("HTTP/1.1 503"));
        ready.store(true, Ordering::Relaxed);
        assert!(get("/readyz", "GET").await.starts_with("HTTP/1.1 200"));
        assert!(get("/status", "GET").await.contains("\"bgpPeers\""));
        assert!(get("/metrics", "GET").await.contains("porter_"));
        assert!(get("/status", "POST").await.starts_with("HTTP/1.1 405"));
        assert!(get("/metrics", "DELETE").await.starts_with("HTTP/1.1 405"));
    }
}
