//! The BGP speaker runtime: a tokio task per peer driving a `bgp_wire::session::Session`, a
//! listener, and an Adj-RIB-Out per peer fed from the desired routes.
//!
//! [`Speaker::apply`] takes a whole [`SpeakerConfig`] and changes only what differs: a peer
//! whose settings are unchanged keeps its session and its routes; a changed peer is
//! restarted alone (Cease 6/6); a global change that every OPEN depends on (AS, router id,
//! graceful restart) restarts the sessions, and the routes come back with them because they
//! live in the desired state, not in the sessions.

pub mod bfd;
pub mod config;
pub mod encode;
pub mod from_crds;
pub mod net;
pub mod peer;
pub mod rib;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use bgp_wire::nlri::Prefix;
use bgp_wire::session::StopReason;
use tokio::sync::{mpsc, watch, Mutex};
use tracing::{info, warn, Instrument};

pub use config::{GlobalConfig, PeerConfig, SpeakerConfig};
pub use peer::{LastError, PeerStatus};
pub use rib::{DesiredRoutes, NextHop, RouteAttrs, RouteSpec};

use crate::telemetry::Metrics;
use bfd::{Bfd, BfdPublisher};
use net::{Listener, SharedNeighbors};
use peer::{Advertised, Carried, PeerCommand, PeerContext, PeerTask};

/// How long a stopping peer task may take to send its NOTIFICATION and end.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A handle on the running speaker.
#[derive(Clone)]
pub struct Speaker {
    inner: Arc<Inner>,
}

struct Inner {
    metrics: Arc<Metrics>,
    neighbors: SharedNeighbors,
    state: Mutex<State>,
    /// Read side for status queries without the async lock.
    views: RwLock<BTreeMap<String, PeerView>>,
    /// The BFD task, started with the first peer that has BFD on.
    bfd: OnceLock<Bfd>,
}

#[derive(Clone)]
struct PeerView {
    status: watch::Receiver<Option<PeerStatus>>,
    advertised: Advertised,
}

#[derive(Default)]
struct State {
    config: Option<SpeakerConfig>,
    routes: Arc<DesiredRoutes>,
    peers: BTreeMap<String, PeerHandle>,
    listener: Option<Listener>,
    listener_key: Option<(Vec<IpAddr>, u16)>,
}

struct PeerHandle {
    config: PeerConfig,
    commands: mpsc::Sender<PeerCommand>,
    task: tokio::task::JoinHandle<Carried>,
    /// Where the BFD task publishes this peer's BFD state for its task.
    bfd: BfdPublisher,
}

/// The parts of the global configuration every session's OPEN depends on.
fn session_key(g: &GlobalConfig) -> impl PartialEq + '_ {
    (g.asn, g.router_id, g.graceful_restart, &g.node_addresses)
}

/// Peer settings that matter to the session: the description does not, and BFD settings
/// change without a restart (RFC 5880 §6.8.3 Poll sequence).
fn peer_key(p: &PeerConfig) -> PeerConfig {
    PeerConfig {
        description: String::new(),
        bfd: None,
        ..p.clone()
    }
}

impl Speaker {
    /// A speaker with no peers and no routes yet.
    pub fn new(metrics: Arc<Metrics>) -> Speaker {
        Speaker {
            inner: Arc::new(Inner {
                metrics,
                neighbors: SharedNeighbors::default(),
                state: Mutex::new(State::default()),
                views: RwLock::new(BTreeMap::new()),
                bfd: OnceLock::new(),
            }),
        }
    }

    /// Applies `config`, changing only what differs from the running one. An error (a
    /// listener that cannot bind, a peer whose settings cannot run) leaves every other
    /// part applied and is returned for the caller to report.
    pub async fn apply(&self, config: SpeakerConfig) -> anyhow::Result<()> {
        let mut st = self.inner.state.lock().await;
        let mut errors = Vec::new();
        let global_changed = st
            .config
            .as_ref()
            .is_none_or(|old| session_key(&old.global) != session_key(&config.global));

        // peers: stop the removed and changed ones first; a changed one's history goes on in
        // its new task
        let mut histories = BTreeMap::new();
        let names: Vec<String> = st.peers.keys().cloned().collect();
        for name in names {
            let keep = !global_changed
                && config
                    .peers
                    .get(&name)
                    .is_some_and(|p| peer_key(p) == peer_key(&st.peers[&name].config));
            if keep {
                // a description or BFD change: keep the session, remember the settings
                if let (Some(h), Some(p)) = (st.peers.get_mut(&name), config.peers.get(&name)) {
                    if h.config.bfd != p.bfd {
                        let _ = h.commands.send(PeerCommand::Bfd(p.bfd)).await;
                        self.set_bfd(&name, p, &h.bfd);
                    }
                    h.config = p.clone();
                }
                continue;
            }
            let reason = if config.peers.contains_key(&name) {
                StopReason::ConfigurationChange
            } else {
                StopReason::PeerDeconfigured
            };
            let h = st.peers.remove(&name).expect("listed");
            self.forget(&name, &h.config);
            if config.peers.get(&name).is_none_or(|p| p.bfd.is_none()) {
                self.remove_bfd(&name);
            }
            if let Some(history) = stop_peer(h, reason).await {
                histories.insert(name, history);
            }
        }

        // the listener, when its address or port changed
        let key = config
            .global
            .listen_port
            .map(|p| (config.global.listen_addresses.clone(), p));
        if key != st.listener_key {
            st.listener = None;
            st.listener_key = None;
            if let Some((addrs, port)) = key.clone() {
                match Listener::bind(
                    &addrs,
                    port,
                    self.inner.neighbors.clone(),
                    self.inner.metrics.clone(),
                ) {
                    Ok(l) => {
                        st.listener = Some(l);
                        st.listener_key = key;
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
        }

        // start new and changed peers
        for (name, pc) in &config.peers {
            if st.peers.contains_key(name) {
                continue;
            }
            let history = histories.remove(name).unwrap_or_default();
            match self.spawn_peer(name, pc, &config.global, st.routes.clone(), history) {
                Ok(h) => {
                    self.set_bfd(name, pc, &h.bfd);
                    st.peers.insert(name.clone(), h);
                }
                Err(e) => errors.push(format!("BgpPeer {name}: {e}")),
            }
        }
        let passwords = self
            .inner
            .neighbors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .passwords
            .clone();
        if let Some(l) = &st.listener {
            l.set_passwords(&passwords);
        }
        st.config = Some(config);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(anyhow::anyhow!(errors.join("; ")))
        }
    }

    /// Replaces the desired routes; each peer sends only what changed for it.
    pub async fn set_routes(&self, routes: Arc<DesiredRoutes>) {
        let mut st = self.inner.state.lock().await;
        st.routes = routes.clone();
        for h in st.peers.values() {
            let _ = h.commands.send(PeerCommand::Routes(routes.clone())).await;
        }
    }

    /// The status of every peer, by BgpPeer name.
    pub fn status(&self) -> BTreeMap<String, PeerStatus> {
        let views = self.inner.views.read().unwrap_or_else(|p| p.into_inner());
        views
            .iter()
            .filter_map(|(n, v)| v.status.borrow().clone().map(|s| (n.clone(), s)))
            .collect()
    }

    /// For every advertised prefix: which peers have it, with which next hops, since when.
    pub fn advertised(&self) -> BTreeMap<Prefix, Vec<(String, Vec<IpAddr>, SystemTime)>> {
        let views = self.inner.views.read().unwrap_or_else(|p| p.into_inner());
        let mut out: BTreeMap<Prefix, Vec<_>> = BTreeMap::new();
        for (name, v) in views.iter() {
            for (p, (hops, since)) in v
                .advertised
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
            {
                out.entry(*p).or_default().push((
                    name.clone(),
                    hops.iter().copied().collect(),
                    *since,
                ));
            }
        }
        out
    }

    /// RFC 8326 graceful shutdown: re-announce every route with GRACEFUL_SHUTDOWN so routers
    /// move traffic away, wait `drain`, then close every session with Cease/Administrative
    /// Shutdown carrying `reason` (RFC 9003).
    pub async fn shutdown(&self, reason: &str, drain: Duration) {
        let mut st = self.inner.state.lock().await;
        if !drain.is_zero() {
            for h in st.peers.values() {
                let _ = h.commands.send(PeerCommand::GracefulShutdown).await;
            }
            info!(
                ?drain,
                "graceful shutdown: routes re-announced with GRACEFUL_SHUTDOWN, draining"
            );
            tokio::time::sleep(drain).await;
        }
        let peers = std::mem::take(&mut st.peers);
        for (name, h) in peers {
            self.forget(&name, &h.config);
            self.remove_bfd(&name);
            stop_peer(h, StopReason::AdministrativeShutdown(reason.to_string())).await;
        }
        st.listener = None;
        st.listener_key = None;
    }

    /// Runs, reconfigures or (when `pc` has BFD off) ends the BFD session of peer `name`.
    fn set_bfd(&self, name: &str, pc: &PeerConfig, publish: &BfdPublisher) {
        match pc.bfd {
            Some(cfg) => self
                .inner
                .bfd
                .get_or_init(|| Bfd::start(self.inner.metrics.clone()))
                .set(name, pc.neighbor, pc.local_address, cfg, publish.clone()),
            None => self.remove_bfd(name),
        }
    }

    fn remove_bfd(&self, name: &str) {
        if let Some(b) = self.inner.bfd.get() {
            b.remove(name);
        }
    }

    fn spawn_peer(
        &self,
        name: &str,
        pc: &PeerConfig,
        global: &GlobalConfig,
        routes: Arc<DesiredRoutes>,
        history: Carried,
    ) -> anyhow::Result<PeerHandle> {
        let (status_tx, status_rx) = watch::channel(None);
        let (bfd_tx, bfd_rx) = watch::channel(None);
        let advertised = Advertised::default();
        let ctx = PeerContext {
            name: name.to_string(),
            config: pc.clone(),
            global: global.clone(),
            routes,
            metrics: self.inner.metrics.clone(),
            status: status_tx,
            advertised: advertised.clone(),
            bfd: bfd_rx,
        };
        let task = PeerTask::new(ctx, history).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (tx, rx) = mpsc::channel(64);
        let span = tracing::info_span!("neighbor", name = %name, address = %pc.neighbor);
        let handle = tokio::spawn(task.run(rx).instrument(span));
        {
            let mut nb = self
                .inner
                .neighbors
                .write()
                .unwrap_or_else(|p| p.into_inner());
            nb.tasks.insert(pc.neighbor, tx.clone());
            match &pc.password {
                Some(pw) => nb.passwords.insert(pc.neighbor, pw.clone()),
                None => nb.passwords.remove(&pc.neighbor),
            };
        }
        self.inner
            .views
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                name.to_string(),
                PeerView {
                    status: status_rx,
                    advertised,
                },
            );
        Ok(PeerHandle {
            config: pc.clone(),
            commands: tx,
            task: handle,
            bfd: Arc::new(bfd_tx),
        })
    }

    fn forget(&self, name: &str, pc: &PeerConfig) {
        let mut nb = self
            .inner
            .neighbors
            .write()
            .unwrap_or_else(|p| p.into_inner());
        nb.tasks.remove(&pc.neighbor);
        nb.passwords.remove(&pc.neighbor);
        self.inner
            .views
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}

/// Sleeps until the earliest deadline of a sans-IO core's timers, or forever without one.
async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Stops a peer's task; its history (see [`Carried`]), unless it had to be aborted.
async fn stop_peer(h: PeerHandle, reason: StopReason) -> Option<Carried> {
    let _ = h.commands.send(PeerCommand::Stop(reason)).await;
    let abort = h.task.abort_handle();
    match tokio::time::timeout(STOP_GRACE, h.task).await {
        Ok(joined) => joined.ok(),
        Err(_) => {
            warn!("peer task did not stop in time; aborted");
            abort.abort();
            None
        }
    }
}
