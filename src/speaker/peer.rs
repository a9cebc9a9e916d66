//! One tokio task per neighbor: it owns the `bgp_wire` [`Session`] (two while a connection
//! collision is being resolved), the neighbor's Adj-RIB-Out, and the timer; sockets are
//! served by a reader and a writer task per connection that only move bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bgp_wire::capability::{AddPathEntry, AddPathMode};
use bgp_wire::framing::next_frame;
use bgp_wire::iana::community::GRACEFUL_SHUTDOWN;
use bgp_wire::message::route_refresh::RefreshSubtype;
use bgp_wire::nlri::Prefix;
use bgp_wire::session::{
    collision_winner, ConnectionOrigin, DownReason, Event, GracefulRestartConfig, HoldTime,
    MessageCounters, Messages, Negotiated, Session, SessionConfig, SessionEvent, SessionSnapshot,
    SessionState, StopReason,
};
use bgp_wire::Family;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use super::bfd::BfdView;
use super::config::{BfdConfig, GlobalConfig, PeerConfig};
use super::encode::{encode_changes, end_of_rib, Sender};
use super::rib::{AdjRibOut, Change, DesiredRoutes, PeerView};
use crate::telemetry::{MessageLabels, Metrics, PeerLabels};

/// Bytes we let queue towards a peer that does not read before we give up on the
/// connection: a stuck peer must not make porter's memory grow without bound.
pub const MAX_SEND_QUEUE: usize = 64 << 20;

/// How long a connection the session has closed may go on delivering what was queued
/// before it (above all the NOTIFICATION, RFC 4271 §6: sent, then the connection closed)
/// before porter resets it. A neighbor that does not read must not keep the socket, the
/// writer task and up to [`MAX_SEND_QUEUE`] bytes alive for as long as it likes.
pub const FLUSH_GRACE: Duration = Duration::from_secs(5);

/// Reads (of up to 64 KiB each) that may wait for the peer task. A full queue stops the
/// socket readers, so TCP flow control slows a flooding neighbor down instead of porter
/// buffering whatever it sends: at most ~1 MiB per neighbor waits here.
const IO_QUEUE: usize = 16;

/// What the speaker tells a peer task.
#[derive(Debug)]
pub enum PeerCommand {
    /// The desired routes changed.
    Routes(Arc<DesiredRoutes>),
    /// A connection from the neighbor arrived at the listener.
    Incoming(TcpStream),
    /// Re-announce everything with GRACEFUL_SHUTDOWN (RFC 8326) until stopped.
    GracefulShutdown,
    /// The BFD settings changed (the session is kept; strict mode may start or stop it).
    Bfd(Option<BfdConfig>),
    /// Close the session with this reason and end the task.
    Stop(StopReason),
}

/// The last error seen on a session, for `BgpPeer.status.lastError`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    /// `sent` (we sent the NOTIFICATION) or `received`, or `local` (no NOTIFICATION: a
    /// closed connection, a connect failure).
    pub direction: String,
    /// NOTIFICATION code, 0 when none.
    pub code: u8,
    /// NOTIFICATION subcode.
    pub subcode: u8,
    /// Human-readable reason.
    pub reason: String,
    /// When.
    pub time: SystemTime,
}

/// What a peer task publishes after every step.
#[derive(Clone, Debug)]
pub struct PeerStatus {
    /// The neighbor.
    pub neighbor: IpAddr,
    /// Its configuration.
    pub config: PeerConfig,
    /// The session's counters and timers (of the connection that counts).
    pub snapshot: SessionSnapshot,
    /// Wall-clock time of the last Established entry, for RFC 3339 output.
    pub established_at: Option<SystemTime>,
    /// Wall-clock time of the last drop.
    pub down_at: Option<SystemTime>,
    /// Paths currently advertised.
    pub advertised: usize,
    /// Families the neighbor sent End-of-RIB for.
    pub end_of_rib_received: Vec<Family>,
    /// Last error.
    pub last_error: Option<LastError>,
    /// Connections refused while another was up (collision losers, Idle refusals).
    pub rejected_connections: u64,
    /// The BFD session, when BFD is on.
    pub bfd: Option<BfdView>,
}

/// Prefix → (next hops advertised, since when), shared with the speaker for `/status`.
pub type Advertised = Arc<RwLock<BTreeMap<Prefix, (BTreeSet<IpAddr>, SystemTime)>>>;

/// Handles a spawned peer task needs.
pub struct PeerContext {
    /// BgpPeer name.
    pub name: String,
    /// Neighbor settings.
    pub config: PeerConfig,
    /// Global settings.
    pub global: GlobalConfig,
    /// Routes at spawn time.
    pub routes: Arc<DesiredRoutes>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Where to publish status.
    pub status: watch::Sender<Option<PeerStatus>>,
    /// Where to publish advertised paths.
    pub advertised: Advertised,
    /// The BFD session's state, published by the BFD task (`None` while BFD is off).
    pub bfd: watch::Receiver<Option<BfdView>>,
}

/// The session configuration for a neighbor.
pub fn session_config(global: &GlobalConfig, peer: &PeerConfig, seed: u64) -> SessionConfig {
    let local_as = peer.local_as.unwrap_or(global.asn);
    let mut c = SessionConfig::new(local_as, peer.peer_as, global.router_id);
    c.hold_time = HoldTime::new(peer.hold_time).unwrap_or(HoldTime::DEFAULT);
    c.keepalive_interval = (peer.keepalive > 0).then(|| Duration::from_secs(peer.keepalive.into()));
    c.connect_retry = Duration::from_secs(peer.connect_retry.max(1).into());
    c.passive = peer.passive;
    c.families = peer.families.keys().copied().collect();
    c.add_path = peer
        .families
        .iter()
        .filter_map(|(family, ap)| {
            let mode = match (ap.receive, ap.send_max > 0) {
                (true, true) => AddPathMode::Both,
                (true, false) => AddPathMode::Receive,
                (false, true) => AddPathMode::Send,
                (false, false) => return None,
            };
            Some(AddPathEntry {
                family: *family,
                mode,
            })
        })
        .collect();
    c.route_refresh = true;
    c.enhanced_route_refresh = true;
    c.graceful_restart = global.graceful_restart.map(|gr| GracefulRestartConfig {
        restart_time: gr.restart_time,
        restarting: true,
        forwarding_preserved: true,
    });
    c.seed = seed;
    c
}

/// I/O notices from connection tasks, tagged with the connection id.
#[derive(Debug)]
enum Io {
    Connected(TcpStream),
    ConnectFailed(String),
    Data(Vec<u8>),
    Closed(Option<String>),
}

/// One connection: its session and the handles of its socket tasks.
struct Conn {
    id: u64,
    session: Session,
    rbuf: Vec<u8>,
    writer: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// Dropped when the session closes the connection: starts the writer's flush grace.
    closing: Option<oneshot::Sender<()>>,
    queued: Arc<AtomicUsize>,
    reader: Option<tokio::task::JoinHandle<()>>,
    connecting: Option<tokio::task::JoinHandle<()>>,
    local_addr: Option<IpAddr>,
}

impl Conn {
    fn new(id: u64, session: Session) -> Self {
        Conn {
            id,
            session,
            rbuf: Vec::new(),
            writer: None,
            closing: None,
            queued: Arc::new(AtomicUsize::new(0)),
            reader: None,
            connecting: None,
            local_addr: None,
        }
    }

    /// Stops the socket tasks; the writer finishes what is queued, then closes, or resets
    /// the connection when that takes longer than [`FLUSH_GRACE`].
    fn close(&mut self) {
        if let Some(h) = self.connecting.take() {
            h.abort();
        }
        if let Some(h) = self.reader.take() {
            h.abort();
        }
        self.writer = None;
        self.closing = None;
        self.rbuf.clear();
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.close();
    }
}

/// The peer task.
pub struct PeerTask {
    ctx: PeerContext,
    primary: Conn,
    secondary: Option<Conn>,
    next_id: u64,
    io_tx: mpsc::Sender<(u64, Io)>,
    io_rx: mpsc::Receiver<(u64, Io)>,
    rib: AdjRibOut,
    established: Option<(Negotiated, PeerView)>,
    draining: bool,
    last_error: Option<LastError>,
    established_at: Option<SystemTime>,
    down_at: Option<SystemTime>,
    rejected: u64,
    /// The history of sessions a won collision replaced, and of the peer's earlier tasks
    /// (see [`Carried`]).
    carried: Carried,
    exported: SessionSnapshot,
    /// The BFD state last acted on.
    bfd_seen: Option<BfdView>,
}

/// Counters of the peer's earlier session objects. A collision that the neighbor's newer
/// connection wins (RFC 4271 §6.8) makes the session accepted for that connection the
/// primary one; §6.8 chooses between two connections of one peer, so the peer's flaps,
/// Established count and message counts must go on from the replaced session's, not start
/// again from zero (which also stalled the Prometheus message counters, fed by differences
/// between snapshots). The same holds when a configuration change restarts the peer: its
/// task returns what it carried plus its last session, and the next task goes on from it,
/// so `flops` counts that drop from Established too, as gobgp's does.
#[derive(Debug, Default)]
pub(crate) struct Carried {
    messages: Messages,
    flaps: u64,
    established_count: u64,
}

impl Carried {
    /// Takes over the counts of `replaced`, a primary session being demoted.
    fn absorb(&mut self, replaced: &SessionSnapshot) {
        add_counters(&mut self.messages.received, &replaced.messages.received);
        add_counters(&mut self.messages.sent, &replaced.messages.sent);
        self.flaps += replaced.flaps;
        self.established_count += replaced.established_count;
    }

    /// The current primary session's snapshot with the earlier sessions' counts added.
    fn apply(&self, snap: &mut SessionSnapshot) {
        add_counters(&mut snap.messages.received, &self.messages.received);
        add_counters(&mut snap.messages.sent, &self.messages.sent);
        snap.flaps += self.flaps;
        snap.established_count += self.established_count;
    }
}

fn add_counters(to: &mut MessageCounters, from: &MessageCounters) {
    // exhaustive: a counter added to bgp-wire must be carried here too
    let MessageCounters {
        notification,
        update,
        open,
        keepalive,
        refresh,
        discarded,
        total,
        withdraw_update,
        withdraw_prefix,
    } = *from;
    to.notification += notification;
    to.update += update;
    to.open += open;
    to.keepalive += keepalive;
    to.refresh += refresh;
    to.discarded += discarded;
    to.total += total;
    to.withdraw_update += withdraw_update;
    to.withdraw_prefix += withdraw_prefix;
}

impl PeerTask {
    /// Builds the task; `run` drives it.
    pub(crate) fn new(
        ctx: PeerContext,
        carried: Carried,
    ) -> Result<Self, bgp_wire::session::ConfigError> {
        let seed = seed_for(&ctx.name);
        let now = Instant::now();
        let session = Session::new(session_config(&ctx.global, &ctx.config, seed), now)?;
        let exported = session.snapshot(now);
        let (io_tx, io_rx) = mpsc::channel(IO_QUEUE);
        Ok(PeerTask {
            ctx,
            primary: Conn::new(0, session),
            secondary: None,
            next_id: 1,
            io_tx,
            io_rx,
            rib: AdjRibOut::new(),
            established: None,
            draining: false,
            last_error: None,
            established_at: None,
            down_at: None,
            rejected: 0,
            carried,
            exported,
            bfd_seen: None,
        })
    }

    /// Runs until stopped.
    /// Runs the peer until it is told to stop (or its command channel closes); returns its
    /// history, for the task that replaces it after a configuration change.
    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<PeerCommand>) -> Carried {
        self.bfd_seen = self.ctx.bfd.borrow_and_update().clone();
        if !self.ctx.config.admin_down && !self.held_by_bfd() {
            self.primary
                .session
                .handle_event(Instant::now(), Event::Start);
        }
        self.drive();
        loop {
            let deadline = [
                self.primary.session.poll_timeout(),
                self.secondary
                    .as_ref()
                    .and_then(|c| c.session.poll_timeout()),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = super::sleep_until(deadline);
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(PeerCommand::Stop(reason)) => return self.stop(reason).await,
                    None => return self.stop(StopReason::PeerDeconfigured).await,
                    Some(other) => self.command(other),
                },
                Some((id, io)) = self.io_rx.recv() => self.io(id, io),
                Ok(()) = self.ctx.bfd.changed() => self.on_bfd(),
                () = sleep => {
                    let now = Instant::now();
                    self.primary.session.handle_timeout(now);
                    if let Some(c) = self.secondary.as_mut() {
                        c.session.handle_timeout(now);
                    }
                }
            }
            self.drive();
        }
    }

    fn command(&mut self, cmd: PeerCommand) {
        match cmd {
            PeerCommand::Routes(routes) => {
                self.ctx.routes = routes;
                self.sync_routes();
            }
            PeerCommand::Incoming(stream) => self.incoming(stream),
            PeerCommand::GracefulShutdown => {
                self.draining = true;
                if let Some((_, view)) = self.established.as_mut() {
                    view.extra_communities = vec![GRACEFUL_SHUTDOWN];
                }
                self.sync_routes();
            }
            PeerCommand::Bfd(bfd) => {
                let was_held = self.held_by_bfd();
                self.ctx.config.bfd = bfd;
                if self.held_by_bfd() {
                    self.stop_for_bfd("BFD strict mode: BFD is not up".into());
                } else if was_held && !self.ctx.config.admin_down {
                    self.primary
                        .session
                        .handle_event(Instant::now(), Event::Start);
                }
            }
            PeerCommand::Stop(_) => unreachable!("handled by run"),
        }
    }

    /// BFD strict mode: the session may run only while BFD is Up.
    fn held_by_bfd(&self) -> bool {
        self.ctx.config.bfd.is_some_and(|b| b.strict)
            && !self
                .bfd_seen
                .as_ref()
                .is_some_and(|v| v.state == bfd_wire::State::Up)
    }

    /// RFC 5882 §3.2: BFD declaring the neighbor down takes the BGP session down at once
    /// (Cease / BFD Down, RFC 9384) instead of waiting for the hold timer; the neighbor
    /// switching BFD off (AdminDown) does not. In strict mode the session comes back when
    /// BFD is Up again.
    fn on_bfd(&mut self) {
        let view = self.ctx.bfd.borrow_and_update().clone();
        let before = std::mem::replace(&mut self.bfd_seen, view);
        let Some(v) = self.bfd_seen.as_ref() else {
            return;
        };
        if v.failed_from(before.as_ref()) {
            let reason = format!("BFD down: {}", v.diag);
            self.stop_for_bfd(reason);
        } else if v.state == bfd_wire::State::Up
            && !before.is_some_and(|b| b.state == bfd_wire::State::Up)
            && self.ctx.config.bfd.is_some_and(|b| b.strict)
            && !self.ctx.config.admin_down
        {
            self.primary
                .session
                .handle_event(Instant::now(), Event::Start);
        }
    }

    /// Closes every connection of the neighbor for BFD's sake; it restarts by itself after
    /// the idle hold time unless strict mode holds it until BFD is Up.
    fn stop_for_bfd(&mut self, reason: String) {
        let now = Instant::now();
        let restart = !self.ctx.config.bfd.is_some_and(|b| b.strict);
        let idle = self.primary.session.state() == SessionState::Idle;
        if !idle {
            warn!(peer = %self.ctx.name, "{reason}: closing the BGP session");
        }
        let stop = Event::Stop(StopReason::BfdDown { reason, restart });
        // in Idle a stop only cancels a pending restart, which strict mode wants
        if !idle || !restart {
            self.primary.session.handle_event(now, stop.clone());
        }
        if let Some(c) = self.secondary.as_mut() {
            c.session.handle_event(now, stop);
        }
    }

    /// A connection from the neighbor. RFC 4271 §8.2.2: in Connect/Active it becomes the
    /// session's connection; in OpenSent/OpenConfirm it runs as a second session until
    /// collision detection (§6.8) picks one; against Established, or in Idle, it is closed.
    fn incoming(&mut self, stream: TcpStream) {
        let now = Instant::now();
        match self.primary.session.state() {
            SessionState::Connect | SessionState::Active if self.primary.writer.is_none() => {
                if let Some(h) = self.primary.connecting.take() {
                    h.abort();
                }
                self.attach(true, stream);
                self.primary
                    .session
                    .handle_event(now, Event::TcpConnected(ConnectionOrigin::Remote));
            }
            SessionState::OpenSent | SessionState::OpenConfirm if self.secondary.is_none() => {
                let cfg = self.primary.session.config().clone();
                match Session::accept(cfg, now) {
                    Ok(session) => {
                        let id = self.fresh_id();
                        self.secondary = Some(Conn::new(id, session));
                        self.attach(false, stream);
                    }
                    Err(e) => warn!(error = %e, "cannot accept connection"),
                }
            }
            state => {
                debug!(?state, "refusing a second connection from the neighbor");
                self.rejected += 1;
                drop(stream);
            }
        }
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Gives `stream` to the primary (or secondary) connection: a reader and a writer task.
    fn attach(&mut self, primary: bool, stream: TcpStream) {
        let options = self.socket_options();
        // A new primary connection gets a fresh id so that notices from the one it replaces
        // are ignored; a secondary got its own when it was created.
        let new_id = primary.then(|| self.fresh_id());
        let conn = if primary {
            &mut self.primary
        } else {
            self.secondary.as_mut().expect("secondary exists")
        };
        if let Some(id) = new_id {
            conn.id = id;
        }
        let ipv6 = stream.peer_addr().is_ok_and(|a| a.is_ipv6());
        if let Err(e) = options.apply(socket2::SockRef::from(&stream), ipv6) {
            warn!(error = %e, "socket options (TTL, MSS, path MTU discovery) not applied");
        }
        let _ = stream.set_nodelay(true);
        conn.local_addr = stream.local_addr().ok().map(|a| a.ip().to_canonical());
        if let Some(local) = conn.local_addr {
            conn.session.set_local_address(local);
        }
        let (mut rd, wr) = stream.into_split();
        let (wtx, wrx) = mpsc::unbounded_channel::<Vec<u8>>();
        let (closing_tx, closing_rx) = oneshot::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        conn.queued = queued.clone();
        conn.writer = Some(wtx);
        conn.closing = Some(closing_tx);
        conn.rbuf.clear();
        let id = conn.id;
        let io = self.io_tx.clone();
        tokio::spawn(write_loop(wr, wrx, queued, closing_rx, FLUSH_GRACE));
        conn.reader = Some(tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) => {
                        let _ = io.send((id, Io::Closed(None))).await;
                        return;
                    }
                    Ok(n) => {
                        if io.send((id, Io::Data(buf[..n].to_vec()))).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = io.send((id, Io::Closed(Some(e.to_string())))).await;
                        return;
                    }
                }
            }
        }));
    }

    /// Socket settings of the session: TTL 1 for directly connected eBGP, the multihop TTL
    /// when set, the system default for iBGP; the configured MSS and path MTU discovery.
    fn socket_options(&self) -> super::net::SocketOptions {
        let internal =
            self.ctx.config.local_as.unwrap_or(self.ctx.global.asn) == self.ctx.config.peer_as;
        super::net::SocketOptions {
            ttl: match self.ctx.config.multihop_ttl {
                Some(t) => Some(t),
                None if !internal => Some(1),
                None => None,
            },
            mss: self.ctx.config.tcp_mss,
            mtu_discovery: self.ctx.config.mtu_discovery,
        }
    }

    fn io(&mut self, id: u64, io: Io) {
        let now = Instant::now();
        let primary = id == self.primary.id;
        let Some(conn) = (if primary {
            Some(&mut self.primary)
        } else {
            self.secondary.as_mut().filter(|c| c.id == id)
        }) else {
            // a stale notice from a connection already replaced
            if let Io::Connected(s) = io {
                drop(s);
            }
            return;
        };
        match io {
            Io::Connected(stream) => {
                conn.connecting = None;
                self.attach(primary, stream);
                let conn = if primary {
                    &mut self.primary
                } else {
                    self.secondary.as_mut().expect("exists")
                };
                conn.session
                    .handle_event(now, Event::TcpConnected(ConnectionOrigin::Local));
            }
            Io::ConnectFailed(e) => {
                conn.connecting = None;
                debug!(error = %e, "connect failed");
                self.last_error = Some(LastError {
                    direction: "local".into(),
                    code: 0,
                    subcode: 0,
                    reason: format!("connect failed: {e}"),
                    time: SystemTime::now(),
                });
                conn.session.handle_event(now, Event::TcpConnectFailed);
            }
            Io::Data(chunk) => {
                conn.rbuf.extend_from_slice(&chunk);
                let max = conn.session.max_frame_len();
                let mut at = 0;
                while let Some(len) = next_frame(&conn.rbuf[at..], max) {
                    conn.session.handle_frame(now, &conn.rbuf[at..at + len]);
                    at += len;
                    if conn.writer.is_none() || matches!(conn.session.state(), SessionState::Idle) {
                        break;
                    }
                }
                conn.rbuf.drain(..at.min(conn.rbuf.len()));
            }
            Io::Closed(error) => {
                conn.writer = None;
                conn.session.handle_event(now, Event::TcpClosed { error });
            }
        }
    }

    /// Drains every session's outputs until nothing is left, acting on each.
    fn drive(&mut self) {
        loop {
            let mut progressed = false;
            progressed |= self.drain(true);
            if self.secondary.is_some() {
                progressed |= self.drain(false);
            }
            progressed |= self.resolve_collision();
            if !progressed {
                break;
            }
        }
        if self
            .secondary
            .as_ref()
            .is_some_and(|c| c.session.state() == SessionState::Idle)
        {
            self.secondary = None;
        }
        self.publish();
    }

    fn drain(&mut self, primary: bool) -> bool {
        let mut progressed = false;
        loop {
            let conn = if primary {
                &mut self.primary
            } else {
                self.secondary.as_mut().expect("exists")
            };
            while let Some(bytes) = conn.session.poll_transmit() {
                progressed = true;
                if let Some(w) = &conn.writer {
                    let n = bytes.len();
                    if conn.queued.fetch_add(n, Ordering::Relaxed) + n > MAX_SEND_QUEUE {
                        warn!("neighbor is not reading; {MAX_SEND_QUEUE} bytes queued: closing the connection");
                        conn.writer = None;
                        conn.session.handle_event(
                            Instant::now(),
                            Event::TcpClosed {
                                error: Some("send queue full: the neighbor stopped reading".into()),
                            },
                        );
                        break;
                    }
                    let _ = w.send(bytes);
                }
            }
            let conn = if primary {
                &mut self.primary
            } else {
                self.secondary.as_mut().expect("exists")
            };
            let Some(event) = conn.session.poll_event() else {
                break;
            };
            progressed = true;
            self.event(primary, event);
        }
        progressed
    }

    fn event(&mut self, primary: bool, event: SessionEvent) {
        match event {
            SessionEvent::Connect => {
                if primary {
                    self.connect();
                }
            }
            SessionEvent::Disconnect => {
                let conn = if primary {
                    &mut self.primary
                } else {
                    self.secondary.as_mut().expect("exists")
                };
                conn.close();
            }
            SessionEvent::StateChanged { from, to } => {
                if primary {
                    info!(peer = %self.ctx.name, "{} → {}", state_name(from), state_name(to));
                    self.ctx
                        .metrics
                        .set_session_state(&self.ctx.name, state_name(to));
                }
            }
            SessionEvent::Established(negotiated) => {
                if primary {
                    self.on_established(*negotiated);
                }
            }
            SessionEvent::Down {
                reason,
                sent,
                received,
            } => {
                let error = match (&sent, &received) {
                    (Some(n), _) => Some(("sent", n)),
                    (None, Some(n)) => Some(("received", n)),
                    _ => None,
                };
                let (code, subcode) = error.map_or((0, 0), |(_, n)| n.error.code_subcode());
                let text = match error {
                    Some((_, n)) => format!("{reason}: {n}"),
                    None => reason.to_string(),
                };
                if !matches!(reason, DownReason::CollisionLost) || primary {
                    self.last_error = Some(LastError {
                        direction: error.map_or("local", |(d, _)| d).into(),
                        code,
                        subcode,
                        reason: text.clone(),
                        time: SystemTime::now(),
                    });
                }
                if primary {
                    if self.established.take().is_some() {
                        self.ctx
                            .metrics
                            .session_flaps
                            .get_or_create(&PeerLabels {
                                peer: self.ctx.name.clone(),
                            })
                            .inc();
                        self.down_at = Some(SystemTime::now());
                    }
                    warn!(peer = %self.ctx.name, "session down: {text}");
                    self.rib = AdjRibOut::new();
                    self.ctx
                        .advertised
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .clear();
                    // the gauge follows the Adj-RIB-Out, now empty: it went on showing the
                    // old count for as long as the session stayed down
                    self.count_advertised();
                }
            }
            SessionEvent::UpdateReceived(summary) => {
                if !summary.errors.is_empty() {
                    warn!(peer = %self.ctx.name, treatment = ?summary.treatment, errors = ?summary.errors, "UPDATE with errors (RFC 7606)");
                    let first = &summary.errors[0];
                    self.last_error = Some(LastError {
                        direction: "received".into(),
                        code: 0,
                        subcode: 0,
                        reason: format!(
                            "UPDATE handled as {:?} (RFC 7606): {first}",
                            summary.treatment
                        ),
                        time: SystemTime::now(),
                    });
                }
            }
            SessionEvent::RouteRefreshRequested { family, subtype } => {
                if primary && subtype == RefreshSubtype::Normal {
                    self.refresh(family);
                }
            }
        }
    }

    /// Opens the active connection: MD5 key, local address, TTL and MSS set before connecting.
    fn connect(&mut self) {
        let id = self.fresh_id();
        self.primary.id = id;
        let addr = SocketAddr::new(self.ctx.config.neighbor, self.ctx.config.remote_port);
        let local = self.ctx.config.local_address;
        let password = self.ctx.config.password.clone();
        let options = self.socket_options();
        let io = self.io_tx.clone();
        self.primary.connecting = Some(tokio::spawn(async move {
            let res = super::net::connect(addr, local, password.as_deref(), options).await;
            let _ = io
                .send((
                    id,
                    match res {
                        Ok(s) => Io::Connected(s),
                        Err(e) => Io::ConnectFailed(e.to_string()),
                    },
                ))
                .await;
        }));
    }

    /// RFC 4271 §6.8 once both connections have the neighbor's OPEN.
    fn resolve_collision(&mut self) -> bool {
        let Some(sec) = self.secondary.as_mut() else {
            return false;
        };
        let now = Instant::now();
        let (p, s) = (self.primary.session.state(), sec.session.state());
        if p == SessionState::Established {
            if s != SessionState::Idle {
                sec.session.handle_event(now, Event::CollisionLost);
                self.rejected += 1;
                return true;
            }
            return false;
        }
        if s == SessionState::Established {
            self.promote_established_secondary(now);
            return true;
        }
        if p != SessionState::OpenConfirm || s != SessionState::OpenConfirm {
            return false;
        }
        let Some(remote) = self.primary.session.negotiated() else {
            return false;
        };
        let cfg = self.primary.session.config();
        let keep = collision_winner(cfg.router_id, cfg.local_as, remote.peer_id, remote.peer_as);
        let primary_origin = self.primary.session.connection_origin();
        let kept = if primary_origin == Some(keep) {
            "existing"
        } else {
            "new"
        };
        info!(peer = %self.ctx.name, "connection collision (RFC 4271 §6.8): keeping the {kept} connection");
        if primary_origin == Some(keep) {
            sec.session.handle_event(now, Event::CollisionLost);
        } else {
            self.demote_primary(now);
        }
        self.rejected += 1;
        true
    }

    /// The second connection wins: the first loses the collision (a Cease 6/7 unless it is
    /// already closed) and the second becomes the primary one, continuing the peer's
    /// counts (see [`Carried`]).
    fn demote_primary(&mut self, now: Instant) {
        if self.primary.session.state() != SessionState::Idle {
            self.primary.session.handle_event(now, Event::CollisionLost);
        }
        let sec = self.secondary.take().expect("exists");
        let old = std::mem::replace(&mut self.primary, sec);
        self.carried.absorb(&old.session.snapshot(now));
        self.secondary = Some(old);
    }

    /// The second connection reached Established while the first had not: the neighbor's
    /// OPEN and KEEPALIVE came together on it while the first still waited in OpenSent,
    /// where §6.8 has no identifier to compare. RFC 4271 §6.8: "a connection collision with
    /// an existing BGP connection that is in the Established state causes closing of the
    /// newly created connection": the Established one is the session. Left beside the
    /// session, it answered KEEPALIVEs but carried no routes, while the neighbor refused
    /// every new connection of the first with Cease/Connection Collision Resolution.
    fn promote_established_secondary(&mut self, now: Instant) {
        self.demote_primary(now);
        self.rejected += 1;
        info!(peer = %self.ctx.name, "connection collision (RFC 4271 §6.8): keeping the Established connection");
        // its transitions were a second connection's, which publish no state
        self.ctx
            .metrics
            .set_session_state(&self.ctx.name, state_name(SessionState::Established));
        if let Some(n) = self.primary.session.negotiated().cloned() {
            self.on_established(n);
        }
    }

    fn on_established(&mut self, negotiated: Negotiated) {
        let mut local_addrs: Vec<IpAddr> = self.primary.local_addr.into_iter().collect();
        local_addrs.extend(self.ctx.global.node_addresses.iter().copied());
        let families: BTreeSet<Family> = negotiated.families.iter().copied().collect();
        let view = PeerView {
            add_path_send: families
                .iter()
                .copied()
                .filter(|f| negotiated.add_path_send(*f))
                .collect(),
            families,
            local_addrs,
            extra_communities: if self.draining {
                vec![GRACEFUL_SHUTDOWN]
            } else {
                vec![]
            },
        };
        self.established_at = Some(SystemTime::now());
        let fams = view.families.clone();
        self.established = Some((negotiated, view));
        self.rib = AdjRibOut::new();
        self.sync_routes();
        // RFC 4724 §4.1: End-of-RIB after the initial update, for every family
        let Some((n, _)) = &self.established else {
            return;
        };
        let ctx = n.tx.clone();
        for f in fams {
            match end_of_rib(f, &ctx) {
                Ok(b) => self.send(b),
                Err(e) => warn!(error = %e, "cannot encode End-of-RIB"),
            }
        }
    }

    fn sender(&self) -> Option<Sender> {
        let (n, view) = self.established.as_ref()?;
        let local_as = self.ctx.config.local_as.unwrap_or(self.ctx.global.asn);
        Some(Sender {
            local_as,
            internal: local_as == n.peer_as,
            add_path_v4: view.add_path_send.contains(&Family::IPV4_UNICAST),
            add_path_v6: view.add_path_send.contains(&Family::IPV6_UNICAST),
        })
    }

    /// Brings the neighbor's Adj-RIB-Out to the desired routes.
    fn sync_routes(&mut self) {
        let Some((n, view)) = &self.established else {
            return;
        };
        let ctx = n.tx.clone();
        let changes = self.rib.sync(&self.ctx.routes, view);
        self.send_changes(&changes, &ctx);
    }

    /// RFC 2918 §4: re-send every path of `family`, framed by BoRR/EoRR when enhanced
    /// route refresh was negotiated (RFC 7313 §4).
    fn refresh(&mut self, family: Family) {
        let Some((n, _)) = &self.established else {
            return;
        };
        let ctx = n.tx.clone();
        let enhanced = n.enhanced_route_refresh;
        let now = Instant::now();
        if enhanced {
            let _ = self.primary.session.send_route_refresh(
                now,
                family,
                RefreshSubtype::BeginningOfRefresh,
            );
        }
        let all: Vec<Change> = self
            .rib
            .announcements()
            .into_iter()
            .filter(|c| matches!(c, Change::Announce { prefix, .. } if prefix.family() == family))
            .collect();
        self.send_changes(&all, &ctx);
        if enhanced {
            let _ =
                self.primary
                    .session
                    .send_route_refresh(now, family, RefreshSubtype::EndOfRefresh);
        }
    }

    fn send_changes(&mut self, changes: &[Change], ctx: &bgp_wire::CodecContext) {
        if changes.is_empty() {
            return;
        }
        let Some(sender) = self.sender() else { return };
        match encode_changes(changes, &sender, ctx) {
            Ok(msgs) => {
                for m in msgs {
                    self.send(m);
                }
            }
            Err(e) => warn!(peer = %self.ctx.name, error = %e, "cannot encode UPDATE"),
        }
        let now = SystemTime::now();
        let mut adv = self
            .ctx
            .advertised
            .write()
            .unwrap_or_else(|p| p.into_inner());
        for c in changes {
            match c {
                Change::Announce { prefix, .. } | Change::Withdraw { prefix, .. } => {
                    let hops = self.rib.next_hops(*prefix);
                    if hops.is_empty() {
                        adv.remove(prefix);
                    } else {
                        adv.insert(*prefix, (hops, now));
                    }
                }
            }
        }
        drop(adv);
        self.count_advertised();
    }

    /// Sets the prefixes-advertised gauge from the Adj-RIB-Out.
    fn count_advertised(&self) {
        self.ctx
            .metrics
            .prefixes_advertised
            .get_or_create(&PeerLabels {
                peer: self.ctx.name.clone(),
            })
            .set(self.rib.len() as i64);
    }

    fn send(&mut self, update: Vec<u8>) {
        if let Err(e) = self.primary.session.send_update(Instant::now(), update) {
            warn!(peer = %self.ctx.name, error = %e, "UPDATE not sent");
        }
        // send_update queues a transmit; move it to the writer at once, so a big initial
        // burst streams out instead of piling up in the session
        self.drain(true);
    }

    /// Stops the session with `reason` (a Cease NOTIFICATION, RFC 9003 text), waits briefly
    /// for it to be written, and ends.
    /// Closes the sessions (Cease with `reason`); returns the peer's history, the last
    /// session included.
    async fn stop(mut self, reason: StopReason) -> Carried {
        let now = Instant::now();
        self.primary
            .session
            .handle_event(now, Event::Stop(reason.clone()));
        if let Some(c) = self.secondary.as_mut() {
            c.session.handle_event(now, Event::Stop(reason));
        }
        self.drive();
        // let the writer flush the NOTIFICATION
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.primary.queued.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.ctx.metrics.remove_peer(&self.ctx.name);
        self.carried
            .absorb(&self.primary.session.snapshot(Instant::now()));
        self.carried
    }

    /// Publishes the status and feeds counter deltas to the metrics.
    fn publish(&mut self) {
        let mut snap = self.primary.session.snapshot(Instant::now());
        self.carried.apply(&mut snap);
        let m = &self.ctx.metrics;
        for (dir, now, before) in [
            (
                "received",
                &snap.messages.received,
                &self.exported.messages.received,
            ),
            ("sent", &snap.messages.sent, &self.exported.messages.sent),
        ] {
            for (kind, a, b) in [
                ("open", now.open, before.open),
                ("update", now.update, before.update),
                ("notification", now.notification, before.notification),
                ("keepalive", now.keepalive, before.keepalive),
                ("refresh", now.refresh, before.refresh),
            ] {
                if a > b {
                    m.messages
                        .get_or_create(&MessageLabels {
                            peer: self.ctx.name.clone(),
                            direction: dir.into(),
                            kind: kind.into(),
                        })
                        .inc_by(a - b);
                }
            }
        }
        let status = PeerStatus {
            neighbor: self.ctx.config.neighbor,
            config: self.ctx.config.clone(),
            end_of_rib_received: snap.end_of_rib_received.clone(),
            snapshot: snap.clone(),
            established_at: self.established_at,
            down_at: self.down_at,
            advertised: self.rib.len(),
            last_error: self.last_error.clone(),
            rejected_connections: self.rejected,
            bfd: self.bfd_seen.clone(),
        };
        self.exported = snap;
        let _ = self.ctx.status.send(Some(status));
    }
}

/// Writes what the session queues, in order. Once the session closes the connection
/// (`closing` resolves) it has `grace` to deliver the rest and shut down; a neighbor that
/// does not read by then gets a reset (SO_LINGER 0), which frees the socket, its kernel
/// buffers and this task's queue at once.
async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    closing: oneshot::Receiver<()>,
    grace: Duration,
) {
    let flushed = {
        let pump = async {
            while let Some(buf) = queue.recv().await {
                let n = buf.len();
                if wr.write_all(&buf).await.is_err() {
                    return;
                }
                queued.fetch_sub(n, Ordering::Relaxed);
            }
            let _ = wr.shutdown().await;
        };
        tokio::pin!(pump);
        tokio::select! {
            () = &mut pump => true,
            _ = closing => tokio::time::timeout(grace, &mut pump).await.is_ok(),
        }
    };
    if !flushed {
        debug!("neighbor did not take the last {grace:?} of data; resetting the connection");
        let _ = socket2::SockRef::from(wr.as_ref()).set_linger(Some(Duration::ZERO));
    }
}

/// gobgp's spelling of a state, as BgpPeer status and metrics show it.
pub fn state_name(s: SessionState) -> &'static str {
    match s {
        SessionState::Idle => "IDLE",
        SessionState::Connect => "CONNECT",
        SessionState::Active => "ACTIVE",
        SessionState::OpenSent => "OPENSENT",
        SessionState::OpenConfirm => "OPENCONFIRM",
        SessionState::Established => "ESTABLISHED",
    }
}

/// A per-peer jitter seed: the name and the process id, so replicas do not retry in step.
fn seed_for(name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    std::process::id().hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::{TcpListener, TcpSocket};

    /// A connected pair on loopback: (porter's side, the neighbor's side with a small
    /// receive buffer, so that a neighbor that does not read stalls the writer early).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let neighbor = TcpSocket::new_v4().unwrap();
        neighbor.set_recv_buffer_size(4096).unwrap();
        let (neighbor, accepted) = tokio::join!(
            neighbor.connect(listener.local_addr().unwrap()),
            listener.accept()
        );
        (accepted.unwrap().0, neighbor.unwrap())
    }

    fn spawn_writer(
        stream: TcpStream,
        grace: Duration,
    ) -> (
        tokio::net::tcp::OwnedReadHalf,
        mpsc::UnboundedSender<Vec<u8>>,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let (rd, wr) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let (closing_tx, closing_rx) = oneshot::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(write_loop(wr, rx, queued, closing_rx, grace));
        (rd, tx, closing_tx, task)
    }

    #[tokio::test]
    async fn writer_resets_a_neighbor_that_does_not_read_within_the_grace() {
        let (porter, mut neighbor) = pair().await;
        let (rd, tx, closing, task) = spawn_writer(porter, Duration::from_millis(200));
        // far more than the loopback buffers hold (4 MiB send buffer at most by default)
        tx.send(vec![0u8; 32 << 20]).unwrap();
        drop((tx, closing));
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the writer gave up after its grace")
            .unwrap();
        drop(rd);
        let mut buf = vec![0u8; 1 << 20];
        let err = loop {
            match tokio::time::timeout(Duration::from_secs(5), neighbor.read(&mut buf)).await {
                Ok(Ok(0)) => panic!("orderly close with data undelivered; expected a reset"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => break e,
                Err(_) => panic!("the connection is still open"),
            }
        };
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    }

    #[tokio::test]
    async fn writer_delivers_what_was_queued_before_the_close_to_a_reading_neighbor() {
        let (porter, mut neighbor) = pair().await;
        let (_rd, tx, closing, task) = spawn_writer(porter, Duration::from_secs(5));
        let data: Vec<u8> = (0..(8 << 20)).map(|i: u32| i as u8).collect();
        tx.send(data.clone()).unwrap();
        drop((tx, closing));
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), neighbor.read_to_end(&mut got))
            .await
            .expect("everything arrives, then an orderly close")
            .unwrap();
        assert!(
            got == data,
            "received {} of {} bytes",
            got.len(),
            data.len()
        );
        task.await.unwrap();
    }
}
