//! The responder: one tokio task per interface that answers ARP requests and Neighbor
//! Solicitations for the addresses this replica owns, and announces each address it takes.
//!
//! Ownership comes in through a `watch` channel (the election, or the standalone source,
//! decides; the responder only obeys), so an address leaves the answered set the moment its
//! owner says so. The addresses are never configured on the interface: the kernel does not
//! know them, and only this task speaks for them.
//!
//! The sockets are bound to the interface index resolved at start. If the interface is
//! deleted and created again, or its MAC changes, the caller restarts the responder (the
//! task ends with an error when the interface disappears; see [`Responder::is_running`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};
use tokio::io::Interest;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use super::interface::Interface;
use super::packet::{self, MacAddr, Outcome};
use crate::sys::{PacketSocket, PacketType, SockFilter};
use crate::telemetry::{Layer2Labels, Metrics};

/// Frames, or a socket error: packet sockets report a link going down or the interface
/// disappearing as an error alone (`EPOLLERR` without `EPOLLIN`), which plain readability
/// would never wake for.
const READ_OR_ERROR: Interest = Interest::READABLE.add(Interest::ERROR);

/// How often a down link is checked for coming back.
const LINK_POLL: Duration = Duration::from_millis(250);
/// `IFF_RUNNING` from linux/if.h: up and with carrier.
const IFF_RUNNING: u32 = 0x40;

/// Largest frame read; ARP and NDP frames are far smaller, longer frames are truncated
/// and then fail to parse.
const RECV_BUFFER: usize = 2048;

/// How the responder announces and whom it names as owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponderConfig {
    /// This node's name, recorded as the owner of the addresses it answers for.
    pub node_name: String,
    /// Gratuitous ARPs / unsolicited NAs sent per address when it is taken (at least 1:
    /// the first goes at once).
    pub announce_count: u32,
    /// Time between those announcements. Repeats cover a lost frame and switches or hosts
    /// that ignore an update arriving too soon after the previous one.
    pub announce_interval: Duration,
}

impl ResponderConfig {
    /// Defaults for `node_name`: 3 announcements, 1 s apart.
    pub fn new(node_name: impl Into<String>) -> Self {
        ResponderConfig {
            node_name: node_name.into(),
            announce_count: 3,
            announce_interval: Duration::from_secs(1),
        }
    }
}

/// Why the responder could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResponderError {
    /// A raw packet socket could not be opened or set up (not root / no `CAP_NET_RAW`,
    /// interface gone).
    #[error("interface {interface}: cannot {what}: {source}")]
    Socket {
        /// Interface name.
        interface: String,
        /// The step that failed.
        what: &'static str,
        /// The system error.
        source: io::Error,
    },
    /// `start` was called outside a tokio runtime.
    #[error("the layer-2 responder must be started inside a tokio runtime")]
    NoRuntime,
    /// The responder task panicked or was cancelled.
    #[error("layer-2 responder task ended abnormally: {0}")]
    Task(String),
}

/// A running responder; dropping it stops the task (as [`stop`](Responder::stop) does,
/// without waiting).
#[derive(Debug)]
pub struct Responder {
    interface: Interface,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ResponderError>>>,
}

impl Responder {
    /// Opens the raw sockets on `interface` and spawns the task on the current tokio
    /// runtime. The task answers for the addresses in `owned` as it changes (announcing
    /// each newly owned one), and stops answering everything when the sender is dropped.
    /// Socket errors (missing privileges) are returned here, before anything runs.
    pub fn start(
        interface: Interface,
        owned: watch::Receiver<BTreeSet<IpAddr>>,
        config: ResponderConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Responder, ResponderError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ResponderError::NoRuntime)?;
        let socket_error = |what: &'static str| {
            let name = interface.name.clone();
            move |source| ResponderError::Socket {
                interface: name,
                what,
                source,
            }
        };
        let arp = PacketSocket::open(interface.index, packet::ETHERTYPE_ARP, None)
            .map_err(socket_error("open an ARP packet socket"))?;
        let ndp = PacketSocket::open(
            interface.index,
            packet::ETHERTYPE_IPV6,
            Some(&NEIGHBOR_SOLICITATION_FILTER),
        )
        .map_err(socket_error("open an IPv6 packet socket"))?;
        let (arp, ndp) = {
            let _guard = runtime.enter();
            (
                arp.into_async()
                    .map_err(socket_error("register the ARP socket"))?,
                ndp.into_async()
                    .map_err(socket_error("register the IPv6 socket"))?,
            )
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = Task {
            interface: interface.clone(),
            config,
            metrics,
            arp,
            ndp,
            owned: BTreeSet::new(),
            groups: BTreeSet::new(),
            announcements: BTreeMap::new(),
            link_down: false,
        };
        let span = tracing::info_span!("layer2", interface = %interface.name);
        let handle = runtime.spawn(task.run(owned, stop_rx).instrument(span));
        Ok(Responder {
            interface,
            stop: Some(stop_tx),
            task: Some(handle),
        })
    }

    /// The interface it answers on.
    pub fn interface(&self) -> &Interface {
        &self.interface
    }

    /// False once the task has ended (stopped, ownership source gone, or a socket error,
    /// which [`stop`](Self::stop) then returns).
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops answering and waits for the task to end.
    pub async fn stop(mut self) -> Result<(), ResponderError> {
        drop(self.stop.take());
        match self.task.take() {
            Some(task) => task
                .await
                .map_err(|e| ResponderError::Task(e.to_string()))?,
            None => Ok(()),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        // Dropping the sender wakes the task, which clears its owner records and exits.
        drop(self.stop.take());
    }
}

/// Classic BPF program for the IPv6 socket: keep ICMPv6 (next header 58 at Ethernet offset
/// 14 + 6) of type 135 (Neighbor Solicitation, at offset 14 + 40), drop every other IPv6
/// packet in the kernel. Without it every IPv6 packet on the interface would be copied to
/// this task.
const NEIGHBOR_SOLICITATION_FILTER: [SockFilter; 6] = [
    // ldb [20]
    bpf(0x30, 0, 0, 20),
    // jeq #58, next, drop
    bpf(0x15, 0, 3, 58),
    // ldb [54]
    bpf(0x30, 0, 0, 54),
    // jeq #135, accept, drop
    bpf(0x15, 0, 1, 135),
    // ret #262144 (accept the whole frame)
    bpf(0x06, 0, 0, 0x0004_0000),
    // ret #0 (drop)
    bpf(0x06, 0, 0, 0),
];

const fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// When the next announcement of one address is due and how many remain.
struct Pending {
    remaining: u32,
    next: Instant,
}

struct Task {
    interface: Interface,
    config: ResponderConfig,
    metrics: Arc<Metrics>,
    arp: AsyncFd<PacketSocket>,
    ndp: AsyncFd<PacketSocket>,
    owned: BTreeSet<IpAddr>,
    /// Solicited-node multicast MACs joined on the IPv6 socket.
    groups: BTreeSet<MacAddr>,
    announcements: BTreeMap<IpAddr, Pending>,
    /// Set when a socket reported the link down; cleared (and every owned address
    /// announced again) once the interface runs again.
    link_down: bool,
}

enum Socket {
    Arp,
    Ndp,
}

impl Task {
    async fn run(
        mut self,
        mut owned_rx: watch::Receiver<BTreeSet<IpAddr>>,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<(), ResponderError> {
        tracing::info!(mac = %self.interface.mac, "layer-2 responder started");
        let initial = owned_rx.borrow_and_update().clone();
        self.set_owned(initial);
        let result = loop {
            let next_announcement = self.announcements.values().map(|p| p.next).min();
            tokio::select! {
                _ = &mut stop => break Ok(()),
                changed = owned_rx.changed() => {
                    if changed.is_err() {
                        tracing::info!("ownership source gone: no longer answering");
                        break Ok(());
                    }
                    let owned = owned_rx.borrow_and_update().clone();
                    self.set_owned(owned);
                }
                readable = self.arp.ready(READ_OR_ERROR) => {
                    let drained = match readable {
                        Ok(mut guard) => self.drain(&mut guard, Socket::Arp),
                        Err(e) => Err(self.socket_error("wait on the ARP socket", e)),
                    };
                    match drained {
                        Ok(link_down) => self.link_down |= link_down,
                        Err(e) => break Err(e),
                    }
                }
                readable = self.ndp.ready(READ_OR_ERROR) => {
                    let drained = match readable {
                        Ok(mut guard) => self.drain(&mut guard, Socket::Ndp),
                        Err(e) => Err(self.socket_error("wait on the IPv6 socket", e)),
                    };
                    match drained {
                        Ok(link_down) => self.link_down |= link_down,
                        Err(e) => break Err(e),
                    }
                }
                _ = sleep_until_some(next_announcement) => self.announce_due(Instant::now()),
                _ = tokio::time::sleep(LINK_POLL), if self.link_down => {
                    if let Err(e) = self.check_link_up() {
                        break Err(e);
                    }
                }
            }
        };
        self.set_owned(BTreeSet::new());
        tracing::info!("layer-2 responder stopped");
        result
    }

    /// Makes `owned` the answered set: announces additions, forgets removals.
    fn set_owned(&mut self, owned: BTreeSet<IpAddr>) {
        let owned: BTreeSet<IpAddr> = owned
            .into_iter()
            .filter(|ip| {
                let ok = answerable(ip);
                if !ok {
                    tracing::warn!(%ip, "not answering for a multicast, loopback or unspecified address");
                }
                ok
            })
            .collect();
        let now = Instant::now();
        for ip in owned.difference(&self.owned) {
            tracing::info!(%ip, "taking the address: answering and announcing");
            self.metrics
                .set_layer2_owner(*ip, Some(&self.config.node_name));
            self.announcements.insert(
                *ip,
                Pending {
                    remaining: self.config.announce_count.max(1),
                    next: now,
                },
            );
        }
        for ip in self.owned.difference(&owned) {
            tracing::info!(%ip, "giving the address up: no longer answering");
            self.metrics
                .release_layer2_owner(*ip, &self.config.node_name);
            self.announcements.remove(ip);
        }
        self.owned = owned;
        self.update_groups();
        self.announce_due(now);
    }

    /// Joins the solicited-node multicast group of every owned IPv6 address (so a NIC
    /// that filters multicast passes the solicitations up) and leaves the others.
    fn update_groups(&mut self) {
        let wanted: BTreeSet<MacAddr> = self
            .owned
            .iter()
            .filter_map(|ip| match ip {
                IpAddr::V6(v6) => Some(packet::multicast_mac(packet::solicited_node(*v6))),
                IpAddr::V4(_) => None,
            })
            .collect();
        for mac in wanted.difference(&self.groups) {
            if let Err(e) = self.ndp.get_ref().add_multicast(mac.0) {
                tracing::warn!(%mac, error = %e, "cannot join a solicited-node multicast group");
            }
        }
        for mac in self.groups.difference(&wanted) {
            if let Err(e) = self.ndp.get_ref().drop_multicast(mac.0) {
                tracing::warn!(%mac, error = %e, "cannot leave a solicited-node multicast group");
            }
        }
        self.groups = wanted;
    }

    fn announce_due(&mut self, now: Instant) {
        let mac = self.interface.mac;
        let due: Vec<IpAddr> = self
            .announcements
            .iter()
            .filter(|(_, p)| p.next <= now)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in due {
            let (socket, frame) = match ip {
                IpAddr::V4(v4) => (self.arp.get_ref(), packet::gratuitous_arp(mac, v4).to_vec()),
                IpAddr::V6(v6) => (
                    self.ndp.get_ref(),
                    packet::unsolicited_advertisement(mac, v6),
                ),
            };
            if send(socket, &frame, &self.interface.name) {
                self.metrics
                    .layer2_gratuitous_sent
                    .get_or_create(&labels(ip))
                    .inc();
            }
            let interval = self.config.announce_interval;
            if let Some(p) = self.announcements.get_mut(&ip) {
                p.remaining = p.remaining.saturating_sub(1);
                if p.remaining == 0 {
                    self.announcements.remove(&ip);
                } else {
                    p.next = now + interval;
                }
            }
        }
    }

    /// Reads every queued frame of one socket and answers those that ask for an owned
    /// address. Returns when the socket has nothing more (readiness is then cleared):
    /// true if it reported the link down meanwhile.
    fn drain(
        &self,
        guard: &mut AsyncFdReadyGuard<'_, PacketSocket>,
        which: Socket,
    ) -> Result<bool, ResponderError> {
        let mut buf = [0u8; RECV_BUFFER];
        let mut link_down = false;
        loop {
            let (len, kind) = match guard.try_io(|fd| fd.get_ref().recv(&mut buf)) {
                Ok(Ok(r)) => r,
                // WouldBlock: try_io cleared readiness; wait for the next frame.
                Err(_would_block) => return Ok(link_down),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENETDOWN) => {
                    // Reported once when the link goes down (frames flow again when it is
                    // up) and when the interface is deleted (the socket is then unbound for
                    // good): tell the two apart.
                    self.check_interface()?;
                    tracing::warn!("interface is down");
                    link_down = true;
                    continue;
                }
                Ok(Err(e)) => return Err(self.socket_error("receive", e)),
            };
            if kind == PacketType::Outgoing {
                continue;
            }
            let frame = &buf[..len];
            let outcome = match which {
                Socket::Arp => packet::answer_arp(frame, &self.owned, self.interface.mac),
                Socket::Ndp => packet::answer_ndp(frame, &self.owned, self.interface.mac),
            };
            match outcome {
                Ok(Outcome::Answer { ip, reply }) => {
                    let l = labels(ip);
                    self.metrics
                        .layer2_requests_received
                        .get_or_create(&l)
                        .inc();
                    if send(guard.get_inner(), &reply, &self.interface.name) {
                        self.metrics.layer2_responses_sent.get_or_create(&l).inc();
                    }
                }
                Ok(Outcome::Ignore) => {}
                Err(e) => tracing::debug!(error = %e, "ignoring an unreadable frame"),
            }
        }
    }

    /// While the link is down: once the interface runs again, announces every owned
    /// address again (switches may have forgotten the port; the other side of a bond or a
    /// replaced cable knows nothing). Errors when the interface is gone.
    fn check_link_up(&mut self) -> Result<(), ResponderError> {
        let facts = self.check_interface()?;
        if facts.flags & IFF_RUNNING != 0 {
            tracing::info!("interface is up again: announcing the owned addresses");
            self.link_down = false;
            let now = Instant::now();
            for ip in &self.owned {
                self.announcements.insert(
                    *ip,
                    Pending {
                        remaining: self.config.announce_count.max(1),
                        next: now,
                    },
                );
            }
            self.announce_due(now);
        }
        Ok(())
    }

    /// Errors when the interface is gone, was replaced (new index) or changed its MAC:
    /// the sockets no longer serve it and the caller must start a new responder.
    fn check_interface(&self) -> Result<crate::sys::InterfaceFacts, ResponderError> {
        let gone = |source| ResponderError::Socket {
            interface: self.interface.name.clone(),
            what: "keep serving the interface",
            source,
        };
        let facts = crate::sys::interface_facts(&self.interface.name).map_err(gone)?;
        if facts.index != self.interface.index || facts.hardware_address != self.interface.mac.0 {
            return Err(gone(io::Error::other(format!(
                "interface replaced or MAC changed (index {} → {}, MAC {} → {})",
                self.interface.index,
                facts.index,
                self.interface.mac,
                MacAddr(facts.hardware_address)
            ))));
        }
        Ok(facts)
    }

    fn socket_error(&self, what: &'static str, source: io::Error) -> ResponderError {
        ResponderError::Socket {
            interface: self.interface.name.clone(),
            what,
            source,
        }
    }
}

/// Sends one frame; a full device queue or a down link loses it like any frame on the
/// wire (the requester retries, announcements repeat). True when it was sent.
fn send(socket: &PacketSocket, frame: &[u8], interface: &str) -> bool {
    match socket.send(frame) {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(interface, error = %e, "cannot send a layer-2 frame");
            false
        }
    }
}

fn answerable(ip: &IpAddr) -> bool {
    !(ip.is_multicast() || ip.is_loopback() || ip.is_unspecified())
        && *ip != IpAddr::V4(std::net::Ipv4Addr::BROADCAST)
}

fn labels(ip: IpAddr) -> Layer2Labels {
    Layer2Labels { ip: ip.to_string() }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
