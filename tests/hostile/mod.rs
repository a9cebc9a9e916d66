//! Shared pieces of the hostile-peer tests: an in-process [`Speaker`] on loopback, a raw BGP
//! client ([`Raw`]) that sends whatever bytes a test builds and decodes what porter answers,
//! and a well-behaved neighbor ([`GoodNeighbor`]) whose session must survive whatever the
//! hostile one does.
//!
//! Addresses: each test owns a /24 of loopback, `127.77.<net>.0/24`: porter listens on
//! `.1`, the good neighbor connects from `.2`, the hostile one from `.3`, and `.9` is an
//! address porter does not know. Linux routes all of 127/8 to `lo`, so no setup is needed
//! and tests with distinct `net`s run in parallel without sharing a socket.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod wire;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgp_wire::framing::HEADER_LEN;
use bgp_wire::message::{decode_message, Message, NotificationMsg, OpenMsg};
use bgp_wire::nlri::Prefix;
use bgp_wire::session::SessionState;
use bgp_wire::CodecContext;
use porter::speaker::{
    DesiredRoutes, GlobalConfig, LastError, NextHop, PeerConfig, PeerStatus, RouteSpec, Speaker,
    SpeakerConfig,
};
use porter::telemetry::Metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::RwLock;

/// porter's AS.
pub const PORTER_AS: u32 = 65000;
/// The neighbors' AS (eBGP unless a test says otherwise).
pub const NEIGHBOR_AS: u32 = 65001;
/// porter's BGP identifier.
pub const PORTER_ID: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The port porter listens on (on a per-test address).
pub const PORT: u16 = 17179;
/// Name of the well-behaved peer.
pub const GOOD: &str = "good";
/// Name of the hostile peer.
pub const HOSTILE: &str = "hostile";
/// Host part of porter's listening address.
pub const PORTER_HOST: u8 = 1;
/// Host part of the good neighbor's address.
pub const GOOD_HOST: u8 = 2;
/// Host part of the hostile neighbor's address.
pub const HOSTILE_HOST: u8 = 3;
/// Host part of an address no peer is configured for.
pub const STRANGER_HOST: u8 = 9;
/// How long to wait for something porter should do at once (a reply, a status change). Long
/// enough for a loaded 2-core CI machine; a passing test does not wait it out.
pub const WAIT: Duration = Duration::from_secs(10);
/// Hold time of the good neighbor's session: short, so a missed KEEPALIVE shows quickly.
pub const GOOD_HOLD: u16 = 9;

/// Tests that measure the process's memory take this for writing, every other test for
/// reading: VmRSS is process-wide, so a measurement needs the process to itself.
pub static GATE: RwLock<()> = RwLock::const_new(());

/// `127.77.<net>.<host>`.
pub fn loopback(net: u8, host: u8) -> IpAddr {
    Ipv4Addr::new(127, 77, net, host).into()
}

/// The route porter announces in test `net`.
pub fn vip(net: u8) -> Prefix {
    Prefix::host(Ipv4Addr::new(203, 0, 113, net).into())
}

/// A passive neighbor with hold time `hold` (keepalive a third of it), as the hostile
/// tests configure every peer: porter never connects out, so only the test client talks
/// to it.
pub fn passive_peer(neighbor: IpAddr, peer_as: u32, hold: u16) -> PeerConfig {
    let mut p = PeerConfig::new(neighbor, peer_as);
    p.passive = true;
    p.hold_time = hold;
    p.keepalive = (hold / 3).max(1);
    p.connect_retry = 1;
    p
}

/// The usual hostile peer of test `net`: eBGP, passive, hold time `hold`.
pub fn hostile_peer(net: u8, hold: u16) -> PeerConfig {
    passive_peer(loopback(net, HOSTILE_HOST), NEIGHBOR_AS, hold)
}

/// Logs porter's tracing output when `PORTER_TEST_LOG` is set (e.g. `debug`).
pub fn init_logging() {
    if let Ok(filter) = std::env::var("PORTER_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// One speaker with a good neighbor established and holding the route [`vip`], and a
/// hostile peer configured.
pub struct Lab {
    /// The test's network number.
    pub net: u8,
    /// The speaker under test.
    pub speaker: Speaker,
    /// Its metrics.
    pub metrics: Arc<Metrics>,
    /// The configuration applied.
    pub config: SpeakerConfig,
    /// The well-behaved neighbor.
    pub good: GoodNeighbor,
    /// The good peer's status once it had its routes: what "undisturbed" compares to.
    baseline: PeerStatus,
}

impl Lab {
    /// Starts a speaker on `127.77.<net>.1` with the good neighbor and `hostile` (named
    /// [`HOSTILE`]) configured, announces [`vip`] and brings the good session up.
    pub async fn start(net: u8, hostile: PeerConfig) -> Lab {
        Self::start_with(net, hostile, |_| {}).await
    }

    /// [`Lab::start`] with a chance to change the configuration first.
    pub async fn start_with(
        net: u8,
        hostile: PeerConfig,
        tweak: impl FnOnce(&mut SpeakerConfig),
    ) -> Lab {
        init_logging();
        let metrics = Arc::new(Metrics::new());
        let speaker = Speaker::new(metrics.clone());
        let mut config = SpeakerConfig {
            global: GlobalConfig {
                asn: PORTER_AS,
                router_id: PORTER_ID,
                listen_port: Some(PORT),
                listen_addresses: vec![loopback(net, PORTER_HOST)],
                ..GlobalConfig::default()
            },
            peers: [
                (
                    GOOD.to_string(),
                    passive_peer(loopback(net, GOOD_HOST), NEIGHBOR_AS, GOOD_HOLD),
                ),
                (HOSTILE.to_string(), hostile),
            ]
            .into(),
        };
        tweak(&mut config);
        speaker.apply(config.clone()).await.expect("config applies");
        speaker.set_routes(Arc::new(routes_with(vip(net)))).await;
        let listen = SocketAddr::new(loopback(net, PORTER_HOST), PORT);
        let good = GoodNeighbor::start(loopback(net, GOOD_HOST), listen, vip(net)).await;
        let mut lab = Lab {
            net,
            speaker,
            metrics,
            config,
            good,
            baseline: placeholder_status(),
        };
        lab.baseline = lab
            .wait_status(GOOD, "good session Established with its route", |s| {
                s.snapshot.state == SessionState::Established && s.advertised == 1
            })
            .await;
        lab
    }

    /// Takes the good peer's current status as the new "undisturbed" reference, after a
    /// test changed the routes on purpose.
    pub async fn rebaseline(&mut self) {
        self.baseline = self
            .wait_status(GOOD, "good session Established", |s| {
                s.snapshot.state == SessionState::Established
            })
            .await;
    }

    /// Where porter listens.
    pub fn listen(&self) -> SocketAddr {
        SocketAddr::new(loopback(self.net, PORTER_HOST), PORT)
    }

    /// A new connection from the hostile neighbor's address.
    pub async fn connect_hostile(&self) -> Raw {
        Raw::connect(loopback(self.net, HOSTILE_HOST), self.listen())
            .await
            .expect("hostile client connects")
    }

    /// A hostile connection that has porter's OPEN and nothing else: porter is in OpenSent.
    pub async fn hostile_in_open_sent(&self) -> Raw {
        let mut c = self.connect_hostile().await;
        c.recv_open().await;
        c
    }

    /// A hostile session brought to Established with an OPEN of `hold` seconds.
    pub async fn hostile_established(&self, hold: u16) -> Raw {
        let mut c = self.connect_hostile().await;
        c.handshake(&wire::open(NEIGHBOR_AS, Ipv4Addr::new(10, 77, 0, 3), hold))
            .await;
        self.wait_status(HOSTILE, "hostile session Established", |s| {
            s.snapshot.state == SessionState::Established
        })
        .await;
        c
    }

    /// The status of peer `name`.
    pub fn status(&self, name: &str) -> PeerStatus {
        self.speaker
            .status()
            .remove(name)
            .unwrap_or_else(|| panic!("no status for peer {name}"))
    }

    /// Waits until `name`'s status satisfies `pred` (described by `what` in the failure).
    pub async fn wait_status(
        &self,
        name: &str,
        what: &str,
        pred: impl Fn(&PeerStatus) -> bool,
    ) -> PeerStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.speaker.status().remove(name) {
                if pred(&s) {
                    return s;
                }
                if Instant::now() > deadline {
                    panic!("waited {WAIT:?} for {what}; status of {name}: {s:#?}");
                }
            } else if Instant::now() > deadline {
                panic!("waited {WAIT:?} for {what}; no status for {name}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the hostile peer's `lastError` is a NOTIFICATION of `code`/`subcode` in
    /// `direction` and returns it.
    pub async fn expect_last_error(&self, direction: &str, code: u8, subcode: u8) -> LastError {
        let s = self
            .wait_status(
                HOSTILE,
                &format!("lastError {direction} {code}/{subcode}"),
                |s| {
                    s.last_error.as_ref().is_some_and(|e| {
                        e.direction == direction && (e.code, e.subcode) == (code, subcode)
                    })
                },
            )
            .await;
        let e = s.last_error.expect("checked");
        assert!(!e.reason.is_empty(), "lastError without a reason: {e:?}");
        e
    }

    /// Asserts that the good session was not disturbed: still Established since the start
    /// (no flap, no re-establishment), nothing more sent to it but KEEPALIVEs, its route
    /// still advertised, and the good neighbor saw no withdrawal, NOTIFICATION or close.
    pub async fn assert_undisturbed(&self) {
        // give a disturbance that is on its way (a withdrawal, a NOTIFICATION) time to land
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = self.status(GOOD);
        let (before, after) = (&self.baseline.snapshot, &now.snapshot);
        assert_eq!(
            after.state,
            SessionState::Established,
            "good peer: {now:#?}"
        );
        assert_eq!(after.established_count, before.established_count);
        assert_eq!(after.flaps, before.flaps);
        assert_eq!(
            after.messages.sent.update, before.messages.sent.update,
            "porter sent UPDATEs to the good peer"
        );
        assert_eq!(
            after.messages.sent.notification, 0,
            "porter sent the good peer a NOTIFICATION"
        );
        assert_eq!(now.advertised, self.baseline.advertised);
        assert!(
            after.messages.received.keepalive > 0,
            "the good neighbor's KEEPALIVEs are counted"
        );
        let seen = self.good.seen();
        assert!(seen.closed.is_none(), "good session closed: {seen:?}");
        assert!(seen.notifications.is_empty(), "good neighbor got {seen:?}");
        assert_eq!(seen.withdrawn, 0, "good neighbor got withdrawals: {seen:?}");
        assert!(
            seen.routes.contains(&vip(self.net)),
            "good neighbor lost its route: {seen:?}"
        );
    }
}

/// Desired routes holding `prefix` with next-hop self.
pub fn routes_with(prefix: Prefix) -> DesiredRoutes {
    [(
        prefix,
        RouteSpec {
            next_hops: [NextHop::Local].into(),
            ..RouteSpec::default()
        },
    )]
    .into()
}

fn placeholder_status() -> PeerStatus {
    PeerStatus {
        neighbor: Ipv4Addr::UNSPECIFIED.into(),
        config: PeerConfig::new(Ipv4Addr::UNSPECIFIED.into(), 0),
        snapshot: bgp_wire::session::Session::new(
            bgp_wire::session::SessionConfig::new(1, 1, Ipv4Addr::new(1, 1, 1, 1)),
            Instant::now(),
        )
        .expect("valid config")
        .snapshot(Instant::now()),
        established_at: None,
        down_at: None,
        advertised: 0,
        end_of_rib_received: Vec::new(),
        last_error: None,
        rejected_connections: 0,
        bfd: None,
    }
}

/// What the raw client read.
#[derive(Debug)]
pub enum Recv {
    /// A whole message.
    Msg(Message),
    /// porter closed the connection (with the error, for a reset).
    Closed(Option<String>),
    /// Nothing complete arrived in time.
    TimedOut,
    /// Bytes that do not decode as a BGP message (porter never should send them).
    Garbage(String),
}

/// A raw BGP client: one TCP connection from a chosen source address; sends any bytes,
/// decodes what comes back.
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
    /// How porter's messages decode (4-octet AS once both OPENs had it).
    pub ctx: CodecContext,
}

impl Raw {
    /// Connects from `from` (any port) to `to`.
    pub async fn connect(from: IpAddr, to: SocketAddr) -> std::io::Result<Raw> {
        Self::connect_with_receive_buffer(from, to, None).await
    }

    /// [`Raw::connect`] with SO_RCVBUF set before the handshake (which turns off the
    /// kernel's receive-buffer autotuning): a client that stops reading then stalls the
    /// sender after a few KiB, not after the megabytes loopback would otherwise absorb.
    pub async fn connect_with_receive_buffer(
        from: IpAddr,
        to: SocketAddr,
        receive_buffer: Option<u32>,
    ) -> std::io::Result<Raw> {
        let socket = TcpSocket::new_v4()?;
        if let Some(size) = receive_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        socket.bind(SocketAddr::new(from, 0))?;
        let stream = tokio::time::timeout(WAIT, socket.connect(to))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect"))??;
        stream.set_nodelay(true)?;
        Ok(Raw {
            stream,
            buf: Vec::new(),
            ctx: CodecContext::default(),
        })
    }

    /// Writes `bytes` in one go.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Writes `bytes` one byte per TCP segment (NODELAY, a short pause after each).
    pub async fn send_bytewise(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        for b in bytes {
            self.stream.write_all(std::slice::from_ref(b)).await?;
            self.stream.flush().await?;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }

    /// The next message, waiting at most `wait`.
    pub async fn recv(&mut self, wait: Duration) -> Recv {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(r) = self.take_message() {
                return r;
            }
            let mut chunk = [0u8; 64 * 1024];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Recv::TimedOut,
                Ok(Ok(0)) => {
                    return if self.buf.is_empty() {
                        Recv::Closed(None)
                    } else {
                        Recv::Garbage(format!("closed inside a message: {:02x?}", self.buf))
                    }
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Recv::Closed(Some(e.to_string())),
            }
        }
    }

    fn take_message(&mut self) -> Option<Recv> {
        let len = bgp_wire::message_len(&self.buf)?;
        if len < HEADER_LEN {
            return Some(Recv::Garbage(format!(
                "length {len} in a header from porter"
            )));
        }
        if self.buf.len() < len {
            return None;
        }
        let frame: Vec<u8> = self.buf.drain(..len).collect();
        Some(match decode_message(&frame, &self.ctx) {
            Ok(m) => Recv::Msg(m),
            Err(e) => Recv::Garbage(format!("{e}: {frame:02x?}")),
        })
    }

    /// porter's OPEN (it sends one first on every accepted connection).
    pub async fn recv_open(&mut self) -> OpenMsg {
        match self.recv(WAIT).await {
            Recv::Msg(Message::Open(o)) => o,
            other => panic!("expected porter's OPEN, got {other:?}"),
        }
    }

    /// Reads until a NOTIFICATION, skipping KEEPALIVEs, UPDATEs (porter's routes) and an
    /// OPEN porter sent before it found the error; a close or silence fails the test.
    pub async fn expect_notification(&mut self) -> NotificationMsg {
        loop {
            match self.recv(WAIT).await {
                Recv::Msg(Message::Notification(n)) => return n,
                Recv::Msg(Message::Keepalive | Message::Open(_) | Message::Update(_)) => {}
                other => panic!("expected a NOTIFICATION, got {other:?}"),
            }
        }
    }

    /// Reads until porter closes the connection, skipping anything it still sends.
    pub async fn expect_closed(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left).await {
                Recv::Closed(_) => return,
                Recv::TimedOut => panic!("porter did not close the connection in {WAIT:?}"),
                _ => {}
            }
        }
    }

    /// The OPEN exchange: porter's OPEN, ours, porter's KEEPALIVE, ours. Afterwards porter
    /// is Established (once it has read our KEEPALIVE).
    pub async fn handshake(&mut self, open: &OpenMsg) -> OpenMsg {
        let theirs = self.recv_open().await;
        self.send(&wire::encode(&Message::Open(open.clone())))
            .await
            .expect("OPEN sent");
        self.ctx.four_octet_as = theirs.four_octet_as().is_some() && open.four_octet_as().is_some();
        match self.recv(WAIT).await {
            Recv::Msg(Message::Keepalive) => {}
            other => panic!("expected porter's KEEPALIVE after our OPEN, got {other:?}"),
        }
        self.send(&wire::keepalive()).await.expect("KEEPALIVE sent");
        theirs
    }

    /// Reads UPDATEs until End-of-RIB for IPv4 unicast (skipping KEEPALIVEs) and returns
    /// the prefixes announced before it.
    pub async fn recv_routes_until_eor(&mut self) -> BTreeSet<Prefix> {
        let mut routes = BTreeSet::new();
        loop {
            match self.recv(WAIT).await {
                Recv::Msg(Message::Update(u)) => {
                    if u.end_of_rib_family().is_some() {
                        return routes;
                    }
                    routes.extend(u.announced().map(|(_, n)| n.prefix));
                }
                Recv::Msg(Message::Keepalive) => {}
                other => panic!("expected UPDATEs, got {other:?}"),
            }
        }
    }

    /// The local side's socket, for tests that tune it (receive buffer size).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

/// What the good neighbor has seen since it established.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Prefixes porter announces to it now.
    pub routes: BTreeSet<Prefix>,
    /// UPDATE messages.
    pub updates: u64,
    /// Prefixes withdrawn.
    pub withdrawn: u64,
    /// End-of-RIB received.
    pub end_of_rib: bool,
    /// NOTIFICATIONs received.
    pub notifications: Vec<NotificationMsg>,
    /// Set when the connection closed, with why.
    pub closed: Option<String>,
}

/// A well-behaved neighbor: establishes, records porter's UPDATEs, sends a KEEPALIVE every
/// second, and notes anything that would mean its session was disturbed.
pub struct GoodNeighbor {
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GoodNeighbor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GoodNeighbor {
    /// Connects from `from` to porter at `to`, establishes, and waits for `route` and the
    /// End-of-RIB after it.
    pub async fn start(from: IpAddr, to: SocketAddr, route: Prefix) -> GoodNeighbor {
        let mut c = Raw::connect(from, to)
            .await
            .expect("good neighbor connects");
        c.handshake(&wire::open(
            NEIGHBOR_AS,
            Ipv4Addr::new(10, 77, 0, 2),
            GOOD_HOLD,
        ))
        .await;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let task = tokio::spawn(Self::run(c, seen.clone()));
        let g = GoodNeighbor { seen, task };
        let deadline = Instant::now() + WAIT;
        loop {
            let s = g.seen();
            if s.end_of_rib && s.routes.contains(&route) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "good neighbor did not get {route} and End-of-RIB: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        g
    }

    /// A copy of what it has seen.
    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits up to `limit` until what it has seen satisfies `pred` (described by `what`).
    pub async fn wait_for(&self, what: &str, limit: Duration, pred: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let (done, routes) = {
                let s = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                (pred(&s), s.routes.len())
            };
            if done {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "good neighbor: waited {limit:?} for {what}; it has {routes} routes"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn run(mut c: Raw, seen: Arc<Mutex<Seen>>) {
        let mut last_keepalive = Instant::now();
        loop {
            let r = c.recv(Duration::from_millis(200)).await;
            {
                let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
                match r {
                    Recv::Msg(Message::Update(u)) => {
                        s.updates += 1;
                        if u.end_of_rib_family().is_some() {
                            s.end_of_rib = true;
                        }
                        for (_, n) in u.withdrawn_routes() {
                            s.withdrawn += 1;
                            s.routes.remove(&n.prefix);
                        }
                        for (_, n) in u.announced() {
                            s.routes.insert(n.prefix);
                        }
                    }
                    Recv::Msg(Message::Notification(n)) => s.notifications.push(n),
                    Recv::Msg(_) | Recv::TimedOut => {}
                    Recv::Closed(e) => {
                        s.closed = Some(e.unwrap_or_else(|| "closed by porter".into()));
                        return;
                    }
                    Recv::Garbage(g) => {
                        s.closed = Some(format!("undecodable message: {g}"));
                        return;
                    }
                }
            }
            if last_keepalive.elapsed() >= Duration::from_secs(1) {
                if let Err(e) = c.send(&wire::keepalive()).await {
                    seen.lock().unwrap_or_else(|p| p.into_inner()).closed =
                        Some(format!("KEEPALIVE not sent: {e}"));
                    return;
                }
                last_keepalive = Instant::now();
            }
        }
    }
}

/// The process's resident set size in KiB, from `/proc/self/status`.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}
