//! BFD for the speaker's neighbors (RFC 5880, single hop RFC 5881): one task runs every
//! session's [`bfd_wire::Session`] and moves its packets; the protocol itself is in
//! bfd-wire.
//!
//! - **Sockets.** Packets arrive on UDP 3784 (one IPv4 and one IPv6 socket, bound when the
//!   first session is configured) and are accepted only with TTL / hop limit 255 (RFC 5881
//!   §5, GTSM). Each session sends from a socket of its own bound to a source port in
//!   49152–65535 (§4: the same port for the whole session) and connected to the neighbor,
//!   with TTL 255; its local address is the BgpPeer's `transport.localAddress`, else the
//!   one the kernel routes from.
//! - **Demultiplexing.** A packet with Your Discriminator set goes to the session with that
//!   local discriminator; one with zero (a neighbor that has not heard from us yet) to the
//!   session of its source address (RFC 5881 §3: one session per neighbor address).
//! - **Publishing.** Each session's state goes to its peer task through a `watch` channel:
//!   the peer task closes the BGP session when BFD fails (RFC 5882), and shows the state in
//!   its status. Packet counts go to metrics only, so a packet that changes nothing wakes
//!   nobody.
//! - **Removal.** A session that is switched off sends AdminDown (§6.8.16) before it goes,
//!   so the neighbor does not take it for a failure.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bfd_wire::{ControlPacket, Diag, Session, SessionConfig, State};
use prometheus_client::metrics::counter::Counter;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn, Instrument};

use super::config::BfdConfig;
use crate::telemetry::{BfdDropLabels, Metrics, PeerLabels};

/// RFC 5881 §4: single-hop control packets go to this port.
pub const CONTROL_PORT: u16 = 3784;
/// RFC 5881 §5: sent with, and accepted only with, this TTL / hop limit.
const TTL: u8 = 255;
/// RFC 5881 §4: the source port range.
const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// What a peer task sees of its BFD session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdView {
    /// The settings it runs with.
    pub config: BfdConfig,
    /// Local state.
    pub state: State,
    /// The state the neighbor last reported (Down until it has).
    pub remote_state: State,
    /// Our discriminator.
    pub local_discriminator: u32,
    /// The neighbor's, 0 until known.
    pub remote_discriminator: u32,
    /// Interval we send at now.
    pub tx_interval: Duration,
    /// Detection time in force.
    pub detection_time: Duration,
    /// Transitions to Up.
    pub up_events: u64,
    /// Transitions from Up.
    pub down_events: u64,
    /// Transitions from Up that were failures of the path: not AdminDown on either side.
    pub failures: u64,
    /// Our last diagnostic.
    pub diag: Diag,
    /// When the state last changed.
    pub last_change: Option<SystemTime>,
    /// Why the session cannot run (a socket error), if it cannot.
    pub error: Option<String>,
}

impl BfdView {
    /// Whether BFD failed since `before`. Counted, not read off the states: a reader that
    /// was busy may see Up, then Up again, with a failure (and a recovery) in between.
    pub fn failed_from(&self, before: Option<&BfdView>) -> bool {
        before.is_some_and(|b| self.failures > b.failures)
    }

    /// Counts a state change; `remote_state` is the neighbor's state as the change happened.
    fn count(&mut self, event: &bfd_wire::Event, remote_state: State) {
        let bfd_wire::Event::StateChanged { from, to, .. } = *event else {
            return;
        };
        if to == State::Up {
            self.up_events += 1;
        } else if from == State::Up {
            self.down_events += 1;
        }
        // RFC 5882 §3.2: the neighbor (or we) switching BFD off is not a failure
        if event.is_failure(remote_state) {
            self.failures += 1;
        }
    }
}

/// The publishing side of a peer's BFD channel; `None` while BFD is off.
pub type BfdPublisher = Arc<watch::Sender<Option<BfdView>>>;

enum Command {
    Set {
        peer: String,
        neighbor: IpAddr,
        local: Option<IpAddr>,
        config: BfdConfig,
        publish: BfdPublisher,
    },
    Remove {
        peer: String,
    },
}

/// A handle on the BFD task; the task ends when the last handle is dropped.
#[derive(Clone)]
pub struct Bfd {
    commands: mpsc::UnboundedSender<Command>,
}

impl Bfd {
    /// Starts the task (it binds nothing until a session is configured).
    pub fn start(metrics: Arc<Metrics>) -> Bfd {
        let (tx, rx) = mpsc::unbounded_channel();
        let (in_tx, in_rx) = mpsc::channel(256);
        let runtime = Runtime {
            metrics,
            sessions: BTreeMap::new(),
            by_peer: HashMap::new(),
            by_neighbor: HashMap::new(),
            next_discriminator: initial_discriminator(),
            receivers: None,
            incoming_tx: in_tx,
            seed: initial_discriminator().into(),
        };
        tokio::spawn(
            runtime
                .run(rx, in_rx)
                .instrument(tracing::info_span!("bfd")),
        );
        Bfd { commands: tx }
    }

    /// Runs (or reconfigures, without a restart: §6.8.3 Poll sequence) the session of
    /// `peer` with `neighbor`, publishing its state through `publish`.
    pub fn set(
        &self,
        peer: &str,
        neighbor: IpAddr,
        local: Option<IpAddr>,
        config: BfdConfig,
        publish: BfdPublisher,
    ) {
        let _ = self.commands.send(Command::Set {
            peer: peer.to_string(),
            neighbor,
            local,
            config,
            publish,
        });
    }

    /// Ends the session of `peer`, if any, telling the neighbor AdminDown first.
    pub fn remove(&self, peer: &str) {
        let _ = self.commands.send(Command::Remove {
            peer: peer.to_string(),
        });
    }
}

/// Discriminators start at a value that differs between runs, so a restarted speaker's
/// packets are not taken for its previous life's (RFC 5880 §6.3: "SHOULD be random").
fn initial_discriminator() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ std::process::id().rotate_left(16)).max(1)
}

/// A packet from a receive socket.
struct Received {
    bytes: Vec<u8>,
    from: SocketAddr,
    ttl: Option<u8>,
}

struct Entry {
    peer: String,
    neighbor: IpAddr,
    local: Option<IpAddr>,
    session: Session,
    socket: Option<UdpSocket>,
    publish: BfdPublisher,
    view: BfdView,
    /// This peer's packet counters, looked up once rather than per packet.
    sent: Counter,
    received: Counter,
}

struct Runtime {
    metrics: Arc<Metrics>,
    sessions: BTreeMap<u32, Entry>,
    by_peer: HashMap<String, u32>,
    by_neighbor: HashMap<IpAddr, u32>,
    next_discriminator: u32,
    /// The receive tasks, once bound; dropping them closes the sockets.
    receivers: Option<Receivers>,
    incoming_tx: mpsc::Sender<Received>,
    seed: u64,
}

struct Receivers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Why a family could not be bound, if one could not.
    error: Option<String>,
}

impl Drop for Receivers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Runtime {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut incoming: mpsc::Receiver<Received>,
    ) {
        loop {
            let deadline = self
                .sessions
                .values()
                .filter_map(|e| e.session.poll_timeout())
                .min();
            let sleep = super::sleep_until(deadline);
            // only the sessions an input touched are driven: a packet wakes one session,
            // not every one
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(c) => {
                        self.command(c);
                        let all: Vec<u32> = self.sessions.keys().copied().collect();
                        self.drive(&all);
                    }
                    None => break,
                },
                Some(r) = incoming.recv() => {
                    if let Some(disc) = self.receive(r) {
                        self.drive(&[disc]);
                    }
                }
                () = sleep => {
                    let now = Instant::now();
                    let mut due = Vec::new();
                    for (disc, e) in &mut self.sessions {
                        if e.session.poll_timeout().is_some_and(|t| t <= now) {
                            e.session.handle_timeout(now);
                            due.push(*disc);
                        }
                    }
                    self.drive(&due);
                }
            }
        }
        // the speaker is gone: tell every neighbor BFD was switched off, not that we died
        let peers: Vec<String> = self.by_peer.keys().cloned().collect();
        for peer in peers {
            self.remove(&peer);
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Set {
                peer,
                neighbor,
                local,
                config,
                publish,
            } => self.set(peer, neighbor, local, config, publish),
            Command::Remove { peer } => self.remove(&peer),
        }
    }

    fn set(
        &mut self,
        peer: String,
        neighbor: IpAddr,
        local: Option<IpAddr>,
        config: BfdConfig,
        publish: BfdPublisher,
    ) {
        let now = Instant::now();
        if let Some(disc) = self.by_peer.get(&peer).copied() {
            let e = self.sessions.get_mut(&disc).expect("indexed");
            if e.neighbor == neighbor && e.local == local {
                // same session: new timers by a Poll sequence (§6.8.3), no state change
                if let Err(err) = e.session.set_config(now, session_config(&config)) {
                    warn!(peer = %peer, error = %err, "BFD settings refused");
                }
                e.view.config = config;
                // a restarted peer task comes with a new channel, still empty: it gets the view
                e.publish = publish;
                e.publish
                    .send_if_modified(|v| replace_if_changed(v, &e.view));
                return;
            }
            self.remove(&peer);
        }
        self.ensure_receivers();
        let disc = self.fresh_discriminator();
        self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let session = match Session::new(disc, session_config(&config), self.seed, now) {
            Ok(s) => s,
            Err(err) => {
                // the config was validated; a refusal here is a bug worth seeing in status
                warn!(peer = %peer, error = %err, "BFD session not started");
                publish.send_replace(None);
                return;
            }
        };
        let (socket, error) = match open_sender(neighbor, local) {
            Ok(s) => (Some(s), None),
            Err(err) => (None, Some(format!("cannot open the BFD socket: {err}"))),
        };
        let error = error.or_else(|| self.receivers.as_ref().and_then(|r| r.error.clone()));
        if let Some(err) = &error {
            warn!(peer = %peer, %neighbor, "{err}");
        }
        let view = BfdView {
            config,
            state: session.state(),
            remote_state: session.remote_state(),
            local_discriminator: disc,
            remote_discriminator: 0,
            tx_interval: session.negotiated_tx_interval(),
            detection_time: session.detection_time(),
            up_events: 0,
            down_events: 0,
            failures: 0,
            diag: session.local_diag(),
            last_change: None,
            error,
        };
        info!(peer = %peer, %neighbor, discriminator = disc, "BFD session configured");
        publish.send_replace(Some(view.clone()));
        let labels = PeerLabels { peer: peer.clone() };
        self.metrics.bfd_session_up.get_or_create(&labels).set(0);
        let sent = self.metrics.bfd_packets_sent.get_or_create(&labels).clone();
        let received = self
            .metrics
            .bfd_packets_received
            .get_or_create(&labels)
            .clone();
        self.by_peer.insert(peer.clone(), disc);
        self.by_neighbor.insert(neighbor, disc);
        self.sessions.insert(
            disc,
            Entry {
                peer,
                neighbor,
                local,
                session,
                socket,
                publish,
                view,
                sent,
                received,
            },
        );
    }

    fn remove(&mut self, peer: &str) {
        let Some(disc) = self.by_peer.remove(peer) else {
            return;
        };
        let Some(mut e) = self.sessions.remove(&disc) else {
            return;
        };
        if self.by_neighbor.get(&e.neighbor) == Some(&disc) {
            self.by_neighbor.remove(&e.neighbor);
        }
        // §6.8.16: AdminDown, so the neighbor does not take the end for a failure
        let now = Instant::now();
        e.session.set_admin_down(now, true);
        while let Some(p) = e.session.poll_transmit(now) {
            send(&e, &p);
        }
        e.publish.send_replace(None);
        self.metrics
            .bfd_session_up
            .get_or_create(&PeerLabels {
                peer: e.peer.clone(),
            })
            .set(0);
        if self.sessions.is_empty() {
            self.receivers = None;
        }
        info!(peer = %e.peer, neighbor = %e.neighbor, "BFD session removed");
    }

    fn fresh_discriminator(&mut self) -> u32 {
        loop {
            let d = self.next_discriminator;
            self.next_discriminator = self.next_discriminator.wrapping_add(1).max(1);
            if d != 0 && !self.sessions.contains_key(&d) {
                return d;
            }
        }
    }

    fn ensure_receivers(&mut self) {
        if self.receivers.is_some() {
            return;
        }
        let mut tasks = Vec::new();
        let mut errors = Vec::new();
        for ipv6 in [false, true] {
            match open_receiver(ipv6) {
                Ok(sock) => tasks.push(tokio::spawn(receive_loop(sock, self.incoming_tx.clone()))),
                Err(e) => errors.push(format!(
                    "cannot listen on UDP {} port {CONTROL_PORT}: {e}",
                    if ipv6 { "IPv6" } else { "IPv4" }
                )),
            }
        }
        self.receivers = Some(Receivers {
            tasks,
            error: (!errors.is_empty()).then(|| errors.join("; ")),
        });
    }

    /// Hands a packet to its session; which session, if one took it.
    fn receive(&mut self, r: Received) -> Option<u32> {
        let from = r.from.ip().to_canonical();
        let drop = |metrics: &Metrics, reason: &str| {
            metrics
                .bfd_packets_dropped
                .get_or_create(&BfdDropLabels {
                    reason: reason.to_string(),
                })
                .inc();
        };
        // RFC 5881 §5: a single-hop packet left the neighbor with TTL 255 and crossed no router
        if r.ttl != Some(TTL) {
            debug!(%from, ttl = ?r.ttl, "BFD packet with TTL other than 255 dropped");
            drop(&self.metrics, "ttl");
            return None;
        }
        let packet = match bfd_wire::decode(&r.bytes) {
            Ok(p) => p,
            Err(e) => {
                debug!(%from, error = %e, "malformed BFD packet dropped");
                drop(&self.metrics, e.reason());
                return None;
            }
        };
        let disc = match packet.your_discriminator {
            0 => self.by_neighbor.get(&from).copied(),
            d => Some(d),
        };
        let Some((disc, e)) = disc.and_then(|d| self.sessions.get_mut(&d).map(|e| (d, e))) else {
            drop(&self.metrics, "no_session");
            return None;
        };
        if e.neighbor != from {
            // a discriminator is ours to give; another address using it is not our neighbor
            drop(&self.metrics, "wrong_source");
            return None;
        }
        e.received.inc();
        if let Err(d) = e.session.handle_packet(Instant::now(), &packet) {
            debug!(peer = %e.peer, reason = %d, "BFD packet discarded");
            drop(&self.metrics, d.reason());
        }
        Some(disc)
    }

    /// Sends what the sessions `discs` have to send and publishes what changed.
    fn drive(&mut self, discs: &[u32]) {
        let now = Instant::now();
        for disc in discs {
            let Some(e) = self.sessions.get_mut(disc) else {
                continue;
            };
            while let Some(p) = e.session.poll_transmit(now) {
                send(e, &p);
            }
            while let Some(event) = e.session.poll_event() {
                e.view.count(&event, e.session.remote_state());
                let (from, to, diag) = match event {
                    bfd_wire::Event::StateChanged { from, to, diag } => (from, to, diag),
                    bfd_wire::Event::RemoteAdminDown => {
                        info!(peer = %e.peer, neighbor = %e.neighbor, "the neighbor switched BFD off (AdminDown)");
                        continue;
                    }
                };
                info!(peer = %e.peer, neighbor = %e.neighbor, %diag, "BFD {from:?} → {to:?}");
                e.view.last_change = Some(SystemTime::now());
                let labels = PeerLabels {
                    peer: e.peer.clone(),
                };
                if to == State::Up {
                    self.metrics.bfd_up_events.get_or_create(&labels).inc();
                } else if from == State::Up {
                    self.metrics.bfd_down_events.get_or_create(&labels).inc();
                }
                self.metrics
                    .bfd_session_up
                    .get_or_create(&labels)
                    .set(i64::from(to == State::Up));
            }
            e.view.state = e.session.state();
            e.view.remote_state = e.session.remote_state();
            e.view.remote_discriminator = e.session.remote_discriminator();
            e.view.tx_interval = e.session.negotiated_tx_interval();
            e.view.detection_time = e.session.detection_time();
            e.view.diag = e.session.local_diag();
            e.publish
                .send_if_modified(|v| replace_if_changed(v, &e.view));
        }
    }
}

fn replace_if_changed(slot: &mut Option<BfdView>, view: &BfdView) -> bool {
    if slot.as_ref() == Some(view) {
        false
    } else {
        *slot = Some(view.clone());
        true
    }
}

fn session_config(c: &BfdConfig) -> SessionConfig {
    SessionConfig {
        desired_min_tx: c.min_tx,
        required_min_rx: c.min_rx,
        detect_mult: c.multiplier,
        passive: c.passive,
    }
}

fn send(e: &Entry, packet: &ControlPacket) {
    let Some(sock) = &e.socket else {
        return;
    };
    match sock.try_send(&packet.encode()) {
        Ok(_) => {
            e.sent.inc();
        }
        // no route, link down, a full queue: the packet is lost like one lost on the wire,
        // and the detection time on the far side decides
        Err(err) => debug!(peer = %e.peer, error = %err, "BFD packet not sent"),
    }
}

/// The receive socket of one family on port 3784 (IPv6 only on the IPv6 one).
fn open_receiver(ipv6: bool) -> io::Result<UdpSocket> {
    let (domain, addr) = if ipv6 {
        (
            socket2::Domain::IPV6,
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, CONTROL_PORT)),
        )
    } else {
        (
            socket2::Domain::IPV4,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, CONTROL_PORT)),
        )
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if ipv6 {
        s.set_only_v6(true)?;
    }
    crate::sys::set_recv_ttl(&s, ipv6)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// A session's send socket: a source port in 49152–65535, TTL 255, connected to the
/// neighbor's port 3784 (which also makes the kernel pick the source address).
fn open_sender(neighbor: IpAddr, local: Option<IpAddr>) -> io::Result<UdpSocket> {
    let ipv6 = neighbor.is_ipv6();
    let domain = if ipv6 {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if ipv6 {
        s.set_unicast_hops_v6(TTL.into())?;
    } else {
        s.set_ttl_v4(TTL.into())?;
    }
    s.set_nonblocking(true)?;
    let ip = local.unwrap_or(if ipv6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    // start at a port that differs between runs, then walk the range
    let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
    let start = initial_discriminator() % span;
    let mut last = None;
    for i in 0..span {
        let port = SOURCE_PORTS.start() + ((start + i) % span) as u16;
        match s.bind(&SocketAddr::new(ip, port).into()) {
            Ok(()) => {
                last = None;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    if let Some(e) = last {
        return Err(e);
    }
    s.connect(&SocketAddr::new(neighbor, CONTROL_PORT).into())?;
    UdpSocket::from_std(s.into())
}

async fn receive_loop(sock: UdpSocket, out: mpsc::Sender<Received>) {
    let mut buf = [0u8; 512];
    loop {
        let got = sock
            .async_io(tokio::io::Interest::READABLE, || {
                crate::sys::recv_with_ttl(&sock, &mut buf)
            })
            .await;
        match got {
            Ok(d) if !d.truncated => {
                let r = Received {
                    bytes: buf[..d.len].to_vec(),
                    from: d.from,
                    ttl: d.ttl,
                };
                if out.send(r).await.is_err() {
                    return;
                }
            }
            // longer than any BFD packet: not one
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, "BFD receive failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> BfdView {
        BfdView {
            config: BfdConfig {
                min_rx: Duration::from_millis(300),
                min_tx: Duration::from_millis(300),
                multiplier: 3,
                passive: false,
                strict: false,
            },
            state: State::Down,
            remote_state: State::Down,
            local_discriminator: 1,
            remote_discriminator: 2,
            tx_interval: Duration::from_millis(300),
            detection_time: Duration::from_millis(900),
            up_events: 0,
            down_events: 0,
            failures: 0,
            diag: Diag::None,
            last_change: None,
            error: None,
        }
    }

    fn change(from: State, to: State) -> bfd_wire::Event {
        bfd_wire::Event::StateChanged {
            from,
            to,
            diag: Diag::None,
        }
    }

    #[test]
    fn only_a_drop_from_up_that_nobody_asked_for_is_a_failure() {
        use State::*;
        let mut v = view();
        v.count(&change(Down, Init), Down);
        v.count(&change(Init, Up), Up);
        let up = v.clone();
        assert!(!v.failed_from(Some(&up)));
        // RFC 5882 §3.2: detection expiry (the neighbor was Up when we heard last) or the
        // neighbor saying Down
        v.count(&change(Up, Down), Up);
        assert!(v.failed_from(Some(&up)));
        let mut said_down = up.clone();
        said_down.count(&change(Up, Down), Down);
        assert!(said_down.failed_from(Some(&up)));
        // either side switching BFD off is not
        let mut remote_off = up.clone();
        remote_off.count(&bfd_wire::Event::RemoteAdminDown, AdminDown);
        remote_off.count(&change(Up, Down), AdminDown);
        assert!(!remote_off.failed_from(Some(&up)));
        assert_eq!(remote_off.down_events, 1);
        let mut local_off = up.clone();
        local_off.count(&change(Up, AdminDown), Up);
        assert!(!local_off.failed_from(Some(&up)));
        // a failure and a recovery between two looks is still a failure
        let mut flap = up.clone();
        flap.count(&change(Up, Down), Up);
        flap.count(&change(Down, Init), Down);
        flap.count(&change(Init, Up), Up);
        assert!(flap.failed_from(Some(&up)));
        assert_eq!((flap.up_events, flap.down_events), (2, 1));
        // nothing to compare with: a peer task's first look
        assert!(!v.failed_from(None));
    }

    #[tokio::test]
    async fn a_session_sends_from_a_port_of_rfc_5881_with_ttl_255() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        crate::sys::set_recv_ttl(&rx, false).unwrap();
        let sock = open_sender(
            "127.0.0.1".parse().unwrap(),
            Some("127.0.0.1".parse().unwrap()),
        )
        .unwrap();
        let port = sock.local_addr().unwrap().port();
        assert!(SOURCE_PORTS.contains(&port), "{port}");
        assert_eq!(sock.peer_addr().unwrap().port(), CONTROL_PORT);
        // the same socket options on a socket pointed at our receiver
        let probe = open_sender("127.0.0.1".parse().unwrap(), None).unwrap();
        probe.connect(rx.local_addr().unwrap()).await.unwrap();
        probe.send(b"x").await.unwrap();
        let mut buf = [0u8; 4];
        let d = loop {
            match crate::sys::recv_with_ttl(&rx, &mut buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => tokio::task::yield_now().await,
                r => break r.unwrap(),
            }
        };
        assert_eq!(d.ttl, Some(TTL));
        assert!(SOURCE_PORTS.contains(&d.from.port()));
    }
}
