//! The speaker's own configuration model: plain data, built from BgpConf/BgpPeer objects by
//! the standalone loader or the Kubernetes controller, and diffed on every change.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_wire::Family;

/// The default BGP port.
pub const BGP_PORT: u16 = 179;

/// Settings shared by every session (BgpConf).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalConfig {
    /// Local AS number.
    pub asn: u32,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// Port to listen on; `None` disables the listener (only active sessions). BgpConf's
    /// listenPort 0 or unset means 179.
    pub listen_port: Option<u16>,
    /// Addresses to listen on; empty means all (IPv4 and IPv6).
    pub listen_addresses: Vec<IpAddr>,
    /// Graceful restart (RFC 4724) as restarting speaker: the restart time advertised.
    pub graceful_restart: Option<GracefulRestart>,
    /// This node's own addresses, used for next-hop self when a session's local address is
    /// of the other family (an IPv6 VIP over an IPv4 session).
    pub node_addresses: Vec<IpAddr>,
    /// How long to keep announcing with GRACEFUL_SHUTDOWN (RFC 8326) before closing the
    /// sessions on shutdown.
    pub shutdown_drain: Duration,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            asn: 0,
            router_id: Ipv4Addr::UNSPECIFIED,
            listen_port: Some(BGP_PORT),
            listen_addresses: Vec::new(),
            graceful_restart: None,
            node_addresses: Vec::new(),
            shutdown_drain: Duration::from_secs(0),
        }
    }
}

/// Graceful restart settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GracefulRestart {
    /// Restart time advertised to peers, seconds (12 bits).
    pub restart_time: u16,
}

/// ADD-PATH settings of one family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddPath {
    /// Accept multiple paths from the peer.
    pub receive: bool,
    /// Send up to this many paths per prefix (0: ADD-PATH send off).
    pub send_max: u8,
}

/// One neighbor (BgpPeer), after defaulting and validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// The neighbor's address.
    pub neighbor: IpAddr,
    /// The neighbor's AS.
    pub peer_as: u32,
    /// Local AS for this session; the global one when `None`.
    pub local_as: Option<u32>,
    /// TCP MD5 password (RFC 2385).
    pub password: Option<String>,
    /// Never initiate; wait for the neighbor to connect.
    pub passive: bool,
    /// Neighbor's port (179 unless set).
    pub remote_port: u16,
    /// Local address to bind active connections to.
    pub local_address: Option<IpAddr>,
    /// eBGP multihop TTL; `None` means directly connected (TTL 1 for eBGP, 255 for iBGP).
    pub multihop_ttl: Option<u8>,
    /// Hold time offered, seconds (0 or ≥ 3).
    pub hold_time: u16,
    /// Keepalive interval, seconds.
    pub keepalive: u16,
    /// Connect retry, seconds.
    pub connect_retry: u16,
    /// Families, each with its ADD-PATH settings.
    pub families: BTreeMap<Family, AddPath>,
    /// Administratively down: configured but no session.
    pub admin_down: bool,
    /// Free text from the object (conf.description).
    pub description: String,
    /// TCP maximum segment size (`transport.tcpMss`), `None` for the kernel's choice.
    pub tcp_mss: Option<u16>,
    /// Path MTU discovery forced on (`transport.mtuDiscovery`); off leaves the kernel's
    /// default, which for TCP already probes.
    pub mtu_discovery: bool,
    /// BFD with the neighbor (`spec.bfd`), `None` when off.
    pub bfd: Option<BfdConfig>,
}

/// BFD settings of one neighbor, after defaulting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BfdConfig {
    /// Required Min RX Interval.
    pub min_rx: Duration,
    /// Desired Min TX Interval.
    pub min_tx: Duration,
    /// Detect Mult (1–255).
    pub multiplier: u8,
    /// Wait for the neighbor's first packet.
    pub passive: bool,
    /// Keep the BGP session down while BFD is not up.
    pub strict: bool,
}

impl PeerConfig {
    /// A neighbor with gobgp's default timers, the family of its address, no ADD-PATH.
    pub fn new(neighbor: IpAddr, peer_as: u32) -> Self {
        let family = if neighbor.is_ipv4() {
            Family::IPV4_UNICAST
        } else {
            Family::IPV6_UNICAST
        };
        PeerConfig {
            neighbor,
            peer_as,
            local_as: None,
            password: None,
            passive: false,
            remote_port: BGP_PORT,
            local_address: None,
            multihop_ttl: None,
            hold_time: 90,
            keepalive: 30,
            connect_retry: 120,
            families: [(family, AddPath::default())].into(),
            admin_down: false,
            description: String::new(),
            tcp_mss: None,
            mtu_discovery: false,
            bfd: None,
        }
    }
}

/// Everything the speaker runs: the global settings and the peers by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpeakerConfig {
    /// BgpConf.
    pub global: GlobalConfig,
    /// BgpPeer name → settings (only the peers whose nodeSelector matches this node).
    pub peers: BTreeMap<String, PeerConfig>,
}
