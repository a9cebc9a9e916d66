//! `BgpPeer`: one BGP neighbor of the speakers on the selected nodes.
//!
//! Field names are OpenELB v0.6's (`api/v1alpha2/bgppeer_types.go`), which mirror gobgp v2's
//! `Peer` message in protobuf-JSON spelling: gobgp enum names (`AFI_IP`, `ESTABLISHED`), 64-bit
//! numbers as decimal strings ([`ProtoU64`]), times in RFC 3339. `transport.localAddress` (from
//! gobgp's `Transport`) and `status.nodesPeerStatus.*.lastError` are ours.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bgp_conf::GracefulRestart;
use crate::proto::ProtoU64;
use crate::validate::{check_label_selector, FieldError, ValidationErrors};

/// Hold time when `timers.config.holdTime` is left out, in seconds (gobgp's default; RFC 4271
/// §10 suggests 90).
pub const DEFAULT_HOLD_TIME: u16 = 90;
/// ConnectRetry time when `timers.config.connectRetry` is left out or 0, in seconds (RFC 4271
/// §10 suggests 120).
pub const DEFAULT_CONNECT_RETRY: u16 = 120;
/// ADD-PATH send limit OpenELB gives a defaulted address family.
pub const DEFAULT_SEND_MAX: u32 = 10;

/// Desired state of one BGP neighbor.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "network.kubesphere.io",
    version = "v1alpha2",
    kind = "BgpPeer",
    status = "BgpPeerStatus",
    derive = "PartialEq",
    doc = "BgpPeer is one BGP neighbor of porter's speakers on the selected nodes (OpenELB-compatible).",
    printcolumn(
        name = "neighbor",
        type_ = "string",
        json_path = ".spec.conf.neighborAddress"
    ),
    printcolumn(name = "peerAs", type_ = "integer", json_path = ".spec.conf.peerAs")
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.bfd) || !has(self.bfd.enabled) || !self.bfd.enabled || !has(self.ebgpMultihop) || !has(self.ebgpMultihop.enabled) || !self.ebgpMultihop.enabled",
    "message": BFD_MULTIHOP_REFUSAL,
    "fieldPath": ".bfd",
}]))]
pub struct BgpPeerSpec {
    /// Who the neighbor is.
    pub conf: PeerConf,
    /// eBGP multihop: let an external neighbor sit more than one IP hop away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebgp_multihop: Option<EbgpMultihop>,
    /// Session timers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timers: Option<Timers>,
    /// TCP connection settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
    /// Graceful restart (RFC 4724) for this neighbor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<GracefulRestart>,
    /// Address families to negotiate; when empty, the unicast family of `neighborAddress`,
    /// enabled, with ADD-PATH send limit 10 (OpenELB's default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub afi_safis: Vec<AfiSafi>,
    /// Nodes whose speaker peers with this neighbor; all nodes when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// BFD (RFC 5880, single hop RFC 5881) with this neighbor, so that a dead node's routes
    /// leave the router in under a second (porter's addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd: Option<Bfd>,
}

/// Why a BgpPeer with BFD and eBGP multihop is refused (schema rule and [`BgpPeerSpec::validate`]).
pub const BFD_MULTIHOP_REFUSAL: &str = "multihop BFD (RFC 5883) is not supported: porter runs \
     single-hop BFD (RFC 5881), which a neighbor more than one hop away cannot answer";

/// Default BFD transmit and receive interval, milliseconds.
pub const DEFAULT_BFD_INTERVAL_MS: u32 = 300;
/// Default BFD detection multiplier.
pub const DEFAULT_BFD_MULTIPLIER: u8 = 3;

/// BFD settings of one neighbor (porter's addition; OpenELB has none). With the defaults a
/// silent neighbor is declared down after 3 × 300 ms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bfd {
    /// Run a BFD session with the neighbor.
    #[serde(default)]
    pub enabled: bool,
    /// Required Min RX Interval (RFC 5880 §4.1): the fastest rate at which porter accepts
    /// packets, milliseconds. 300 when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub min_rx_interval_ms: Option<u32>,
    /// Desired Min TX Interval: how often porter would like to send, milliseconds. 300 when
    /// left out. While the session is not up, porter sends at most once a second (§6.8.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 60000))]
    pub min_tx_interval_ms: Option<u32>,
    /// Detect Mult: packets missed before the session is declared down. 3 when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 255))]
    pub multiplier: Option<u8>,
    /// Wait for the neighbor to send first (RFC 5880 §6.1 passive role).
    #[serde(default, skip_serializing_if = "is_false")]
    pub passive: bool,
    /// Keep the BGP session down while BFD is not up (strict mode): the session is started
    /// only once BFD is up. Off by default: BGP then runs without BFD against a neighbor
    /// that does not answer it, and only a BFD failure after Up closes the session.
    #[serde(default, skip_serializing_if = "is_false")]
    pub strict: bool,
}

/// Identity of the neighbor, gobgp's `PeerConf`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeerConf {
    /// TCP MD5 signature key (RFC 2385).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<String>,
    /// Free text shown in status and logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Local AS for this session; the BgpConf AS when 0 or left out.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub local_as: u32,
    /// Neighbor address, IPv4 or IPv6.
    #[schemars(length(min = 1, max = 45))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "isIP(self)", "message": "must be an IP address"}]))]
    pub neighbor_address: String,
    /// Neighbor AS (4-octet).
    #[schemars(range(min = 1))]
    pub peer_as: u32,
    /// gobgp peer group name; accepted, not used by porter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_group: Option<String>,
    /// gobgp peer type (0 internal, 1 external); porter derives it from the AS numbers.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub peer_type: u32,
    /// gobgp private-AS removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_private_as: Option<RemovePrivateAs>,
    /// Route flap damping; accepted, not used by porter.
    #[serde(default, skip_serializing_if = "is_false")]
    pub route_flap_damping: bool,
    /// gobgp community sending flags; accepted, not used by porter.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub send_community: u32,
    /// Interface for unnumbered peering; accepted, not used by porter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbor_interface: Option<String>,
    /// gobgp VRF name; accepted, not used by porter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    /// How many times our AS may appear in received AS_PATHs.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub allow_own_as: u32,
    /// Replace the neighbor's AS with ours in advertised AS_PATHs.
    #[serde(default, skip_serializing_if = "is_false")]
    pub replace_peer_as: bool,
    /// Configured but administratively down: no session is attempted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub admin_down: bool,
}

/// gobgp's `PeerConf.RemovePrivateAs`, by enum name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RemovePrivateAs {
    /// Keep private AS numbers.
    #[serde(rename = "NONE")]
    None,
    /// Remove all private AS numbers.
    #[serde(rename = "ALL")]
    All,
    /// Replace private AS numbers with ours.
    #[serde(rename = "REPLACE")]
    Replace,
}

/// eBGP multihop settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EbgpMultihop {
    /// Allow the neighbor to be more than one hop away.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enabled: bool,
    /// IP TTL of our packets to the neighbor.
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub multihop_ttl: u8,
}

/// Session timers, gobgp's `Timers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timers {
    /// Configured values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<TimersConfig>,
}

/// Configured timers in seconds. OpenELB stores them as strings (`holdTime: "90"`); numbers are
/// accepted too, and written back as strings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimersConfig {
    /// ConnectRetryTime (RFC 4271 §8); 120 when left out or 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_retry: Option<ProtoU64>,
    /// Hold Time we offer in OPEN (RFC 4271 §4.2): 0 (no hold timer, no keepalives) or 3 to
    /// 65535; 90 when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<ProtoU64>,
    /// KEEPALIVE interval, below the hold time; a third of the hold time when left out or 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_interval: Option<ProtoU64>,
    /// MinRouteAdvertisementIntervalTimer (RFC 4271 §9.2.1.1); the speaker's default when left
    /// out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_advertisement_interval: Option<ProtoU64>,
}

/// TCP settings, gobgp's `Transport`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transport {
    /// Do not connect out; wait for the neighbor to connect.
    #[serde(default, skip_serializing_if = "is_false")]
    pub passive_mode: bool,
    /// Neighbor's TCP port; 179 when 0 or left out.
    #[serde(default, skip_serializing_if = "is_zero_u16")]
    pub remote_port: u16,
    /// Neighbor address to connect to, if different from `conf.neighborAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 45))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "isIP(self)", "message": "must be an IP address"}]))]
    pub remote_address: Option<String>,
    /// Local address to bind the session to (gobgp `Transport.local_address`; not in OpenELB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 45))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "isIP(self)", "message": "must be an IP address"}]))]
    pub local_address: Option<String>,
    /// TCP MSS to set on the socket; the kernel's when 0 or left out.
    #[serde(default, skip_serializing_if = "is_zero_u16")]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self == 0 || self >= 88",
        "message": "must be 0 (the kernel's) or at least the kernel's minimum MSS of 88",
    }]))]
    pub tcp_mss: u16,
    /// Path MTU discovery on the session socket.
    #[serde(default, skip_serializing_if = "is_false")]
    pub mtu_discovery: bool,
}

/// One address family to negotiate, gobgp's `AfiSafi`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AfiSafi {
    /// Per-family graceful restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mp_graceful_restart: Option<MpGracefulRestart>,
    /// The family and whether it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<AfiSafiConfig>,
    /// ADD-PATH (RFC 7911) for this family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_paths: Option<AddPaths>,
}

/// Per-family graceful restart, gobgp's `MpGracefulRestart`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MpGracefulRestart {
    /// Configured values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<MpGracefulRestartConfig>,
}

/// Per-family graceful restart switch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MpGracefulRestartConfig {
    /// Preserve forwarding state for this family across a restart.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enabled: bool,
}

/// Which family, and whether it is negotiated.
///
/// Decoding is lenient about the family alone: a name porter does not know (from an object
/// stored under an older, looser schema, or from a file) decodes with `family: None` and the
/// text kept in `unrecognized_family`, so [`BgpPeerSpec::validate`] can name it. A strict
/// enum here would make the whole BgpPeer list undecodable, and every other peer with it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AfiSafiConfig {
    /// The family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    /// Negotiate this family.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enabled: bool,
    /// The `family` as written when it is not a known AFI/SAFI pair (never serialized).
    #[serde(skip)]
    pub unrecognized_family: Option<String>,
}

impl<'de> Deserialize<'de> for AfiSafiConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default)]
            family: Option<serde_json::Value>,
            #[serde(default)]
            enabled: bool,
        }
        let raw = Raw::deserialize(d)?;
        let (family, unrecognized_family) = match raw.family {
            None | Some(serde_json::Value::Null) => (None, None),
            Some(v) => match Family::deserialize(&v) {
                Ok(f) => (Some(f), None),
                Err(_) => (None, Some(v.to_string())),
            },
        };
        Ok(AfiSafiConfig {
            family,
            enabled: raw.enabled,
            unrecognized_family,
        })
    }
}

/// An AFI/SAFI pair by gobgp enum names (`AFI_IP` / `SAFI_UNICAST`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Family {
    /// Address Family Identifier.
    pub afi: Afi,
    /// Subsequent Address Family Identifier.
    pub safi: Safi,
}

/// gobgp's `Family.Afi` names; codes from the IANA "Address Family Numbers" registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Afi {
    /// IPv4 (1).
    #[serde(rename = "AFI_IP")]
    Ip,
    /// IPv6 (2).
    #[serde(rename = "AFI_IP6")]
    Ip6,
    /// Layer-2 VPN (25).
    #[serde(rename = "AFI_L2VPN")]
    L2vpn,
    /// BGP-LS (16388).
    #[serde(rename = "AFI_LS")]
    Ls,
    /// gobgp's opaque family (16397).
    #[serde(rename = "AFI_OPAQUE")]
    Opaque,
}

/// gobgp's `Family.Safi` names; codes from the IANA "SAFI Values" registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Safi {
    /// Unicast (1).
    #[serde(rename = "SAFI_UNICAST")]
    Unicast,
    /// Multicast (2).
    #[serde(rename = "SAFI_MULTICAST")]
    Multicast,
    /// Labelled unicast (4).
    #[serde(rename = "SAFI_MPLS_LABEL")]
    MplsLabel,
    /// Encapsulation (7).
    #[serde(rename = "SAFI_ENCAPSULATION")]
    Encapsulation,
    /// VPLS (65).
    #[serde(rename = "SAFI_VPLS")]
    Vpls,
    /// EVPN (70).
    #[serde(rename = "SAFI_EVPN")]
    Evpn,
    /// BGP-LS (71).
    #[serde(rename = "SAFI_LS")]
    Ls,
    /// SR Policy (73).
    #[serde(rename = "SAFI_SR_POLICY")]
    SrPolicy,
    /// MPLS VPN (128).
    #[serde(rename = "SAFI_MPLS_VPN")]
    MplsVpn,
    /// MPLS VPN multicast (129).
    #[serde(rename = "SAFI_MPLS_VPN_MULTICAST")]
    MplsVpnMulticast,
    /// Route Target constraints (132).
    #[serde(rename = "SAFI_ROUTE_TARGET_CONSTRAINTS")]
    RouteTargetConstraints,
    /// Flow spec (133).
    #[serde(rename = "SAFI_FLOW_SPEC_UNICAST")]
    FlowSpecUnicast,
    /// Flow spec VPN (134).
    #[serde(rename = "SAFI_FLOW_SPEC_VPN")]
    FlowSpecVpn,
    /// gobgp's key-value family (241).
    #[serde(rename = "SAFI_KEY_VALUE")]
    KeyValue,
}

/// ADD-PATH settings, gobgp's `AddPaths`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddPaths {
    /// Configured values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<AddPathsConfig>,
}

/// ADD-PATH directions (RFC 7911).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddPathsConfig {
    /// Accept several paths per prefix from the neighbor.
    #[serde(default, skip_serializing_if = "is_false")]
    pub receive: bool,
    /// Send up to this many paths per prefix (one per next hop node); 0 means ADD-PATH send off.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub send_max: u32,
}

/// Observed state of the neighbor, per node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BgpPeerStatus {
    /// Node name → that node's session with the neighbor.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes_peer_status: BTreeMap<String, NodePeerStatus>,
    /// Standard conditions (`Valid`: whether porter can run this spec, and if not, why),
    /// each with the `observedGeneration` it describes (porter's addition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// One node's session with the neighbor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePeerStatus {
    /// Session state and counters.
    #[serde(default, skip_serializing_if = "is_default")]
    pub peer_state: PeerState,
    /// Timer values in force.
    #[serde(default, skip_serializing_if = "is_default")]
    pub timers_state: TimersState,
    /// The last NOTIFICATION sent or received on this session (porter's addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    /// The BFD session with the neighbor, when `spec.bfd.enabled` (porter's addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd: Option<BfdStatus>,
    /// Paths this node advertises to the neighbor now (porter's addition; gobgp reports the
    /// same count per family as `afiSafis[].state.advertised`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertised: Option<ProtoU64>,
}

/// One node's BFD session with the neighbor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BfdStatus {
    /// Local session state: `AdminDown`, `Down`, `Init` or `Up` (RFC 5880 §4.1).
    pub state: String,
    /// The state the neighbor last reported.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remote_state: String,
    /// Our discriminator for this session.
    #[serde(default)]
    pub local_discriminator: u32,
    /// The neighbor's discriminator, 0 until it has sent one.
    #[serde(default)]
    pub remote_discriminator: u32,
    /// The interval porter transmits at now, milliseconds (negotiated, §6.8.7).
    #[serde(default)]
    pub tx_interval_ms: u32,
    /// How long porter waits without a packet before declaring the session down,
    /// milliseconds (§6.8.4).
    #[serde(default)]
    pub detection_time_ms: u32,
    /// Transitions to Up.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub up_transitions: ProtoU64,
    /// Transitions from Up to another state.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub down_transitions: ProtoU64,
    /// The last diagnostic porter set, by RFC 5880 §4.1 name ("Control Detection Time
    /// Expired", "Neighbor Signaled Session Down", …), with its code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_diagnostic: Option<BfdDiagnostic>,
    /// When the state last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change: Option<Time>,
    /// Why BFD cannot run, when it cannot (a socket error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An RFC 5880 §4.1 diagnostic code with its name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BfdDiagnostic {
    /// The code (0–31).
    pub code: u8,
    /// Its name.
    pub name: String,
}

/// Session state, gobgp's `PeerState` in protobuf JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeerState {
    /// gobgp echoes the MD5 key here; porter never writes it. Kept so OpenELB status loads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<String>,
    /// The configured description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Local AS of the session.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub local_as: u32,
    /// Message counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Messages>,
    /// Neighbor address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neighbor_address: Option<String>,
    /// Neighbor AS.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub peer_as: u32,
    /// gobgp peer group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_group: Option<String>,
    /// 0 internal, 1 external (gobgp's numbering).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub peer_type: u32,
    /// Input/output queue depths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<Queues>,
    /// gobgp private-AS removal as a number.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub remove_private_as: u32,
    /// Route flap damping in force.
    #[serde(default, skip_serializing_if = "is_false")]
    pub route_flap_damping: bool,
    /// gobgp community sending flags.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub send_community: u32,
    /// RFC 4271 §8 state, by gobgp enum name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_state: Option<SessionState>,
    /// Administrative state, by gobgp enum name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_state: Option<AdminState>,
    /// Messages waiting to be sent.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub out_q: u32,
    /// How many times the session left Established.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub flops: u32,
    /// The neighbor's BGP Identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
}

/// Session state names as gobgp writes them (RFC 4271 §8 states, no underscores).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum SessionState {
    /// Not known (gobgp's zero value).
    #[serde(rename = "UNKNOWN")]
    Unknown,
    /// Idle.
    #[serde(rename = "IDLE")]
    Idle,
    /// Connect.
    #[serde(rename = "CONNECT")]
    Connect,
    /// Active.
    #[serde(rename = "ACTIVE")]
    Active,
    /// OpenSent.
    #[serde(rename = "OPENSENT")]
    OpenSent,
    /// OpenConfirm.
    #[serde(rename = "OPENCONFIRM")]
    OpenConfirm,
    /// Established.
    #[serde(rename = "ESTABLISHED")]
    Established,
}

/// Administrative state names as gobgp writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AdminState {
    /// Enabled.
    #[serde(rename = "UP")]
    Up,
    /// Administratively down.
    #[serde(rename = "DOWN")]
    Down,
    /// Down because the prefix limit was exceeded.
    #[serde(rename = "PFX_CT")]
    PrefixLimit,
}

/// Received and sent message counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Messages {
    /// Counters of messages from the neighbor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<MessageCounters>,
    /// Counters of messages to the neighbor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<MessageCounters>,
}

/// gobgp's `Message` counters: 64-bit, written as decimal strings, zeros left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageCounters {
    /// NOTIFICATION messages.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub notification: ProtoU64,
    /// UPDATE messages.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub update: ProtoU64,
    /// OPEN messages.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub open: ProtoU64,
    /// KEEPALIVE messages.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub keepalive: ProtoU64,
    /// ROUTE-REFRESH messages.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub refresh: ProtoU64,
    /// Messages dropped.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub discarded: ProtoU64,
    /// All messages.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub total: ProtoU64,
    /// UPDATE messages that withdrew routes.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub withdraw_update: ProtoU64,
    /// Prefixes withdrawn.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub withdraw_prefix: ProtoU64,
}

/// Queue depths.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Queues {
    /// Messages received, not yet processed.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub input: u32,
    /// Messages queued, not yet sent.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub output: u32,
}

/// Timer values in force, gobgp's `TimersState`: seconds as decimal strings, times in RFC 3339.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimersState {
    /// ConnectRetryTime.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub connect_retry: ProtoU64,
    /// Hold Time we offered.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub hold_time: ProtoU64,
    /// KEEPALIVE interval in force.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub keepalive_interval: ProtoU64,
    /// MinRouteAdvertisementIntervalTimer.
    #[serde(default, skip_serializing_if = "ProtoU64::is_zero")]
    pub minimum_advertisement_interval: ProtoU64,
    /// Hold Time agreed in OPEN: the smaller of ours and the neighbor's (RFC 4271 §4.2).
    /// Present once negotiated, so an agreed 0 (no keepalives) shows as "0" while a session
    /// that never got that far has none (gobgp's JSON omits both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negotiated_hold_time: Option<ProtoU64>,
    /// When the session last reached Established (RFC 3339; Unix seconds are read too).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::proto::deserialize_gobgp_time"
    )]
    pub uptime: Option<Time>,
    /// When the session last left Established (RFC 3339; Unix seconds are read too).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::proto::deserialize_gobgp_time"
    )]
    pub downtime: Option<Time>,
}

/// The last NOTIFICATION on a session (RFC 4271 §4.5), or the last failure without one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    /// Whether we sent it or the neighbor did.
    pub direction: Direction,
    /// Error Code.
    pub code: u8,
    /// Error Subcode.
    pub subcode: u8,
    /// The code and subcode in words (`Hold Timer Expired`), plus any decoded detail.
    pub reason: String,
    /// When it was sent or received.
    pub time: Time,
}

/// Which side sent a NOTIFICATION, or `local` for a failure that had none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// We sent it.
    Sent,
    /// The neighbor sent it.
    Received,
    /// No NOTIFICATION was exchanged (connect refused or timed out, the connection closed
    /// without one): code and subcode are 0 and the reason says what failed. The most
    /// common misconfigurations (wrong address, port or firewall) show only this way.
    Local,
}

/// Timers after defaults, ready for the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EffectiveTimers {
    /// ConnectRetryTime in seconds, non-zero.
    pub connect_retry: u16,
    /// Hold Time to offer: 0 or at least 3.
    pub hold_time: u16,
    /// KEEPALIVE interval: 0 when the hold time is 0, else below it.
    pub keepalive: u16,
    /// MinRouteAdvertisementIntervalTimer, when configured.
    pub minimum_advertisement_interval: Option<u16>,
}

impl Afi {
    /// Every AFI gobgp names, in declaration order.
    pub const ALL: [Afi; 5] = [Afi::Ip, Afi::Ip6, Afi::L2vpn, Afi::Ls, Afi::Opaque];

    /// The gobgp enum name, as written in objects (`AFI_IP`).
    pub fn name(self) -> &'static str {
        match self {
            Afi::Ip => "AFI_IP",
            Afi::Ip6 => "AFI_IP6",
            Afi::L2vpn => "AFI_L2VPN",
            Afi::Ls => "AFI_LS",
            Afi::Opaque => "AFI_OPAQUE",
        }
    }

    /// The IANA Address Family Number.
    pub fn code(self) -> u16 {
        match self {
            Afi::Ip => 1,
            Afi::Ip6 => 2,
            Afi::L2vpn => 25,
            Afi::Ls => 16388,
            Afi::Opaque => 16397,
        }
    }
}

impl Safi {
    /// Every SAFI gobgp names, in declaration order.
    pub const ALL: [Safi; 14] = [
        Safi::Unicast,
        Safi::Multicast,
        Safi::MplsLabel,
        Safi::Encapsulation,
        Safi::Vpls,
        Safi::Evpn,
        Safi::Ls,
        Safi::SrPolicy,
        Safi::MplsVpn,
        Safi::MplsVpnMulticast,
        Safi::RouteTargetConstraints,
        Safi::FlowSpecUnicast,
        Safi::FlowSpecVpn,
        Safi::KeyValue,
    ];

    /// The gobgp enum name, as written in objects (`SAFI_UNICAST`).
    pub fn name(self) -> &'static str {
        match self {
            Safi::Unicast => "SAFI_UNICAST",
            Safi::Multicast => "SAFI_MULTICAST",
            Safi::MplsLabel => "SAFI_MPLS_LABEL",
            Safi::Encapsulation => "SAFI_ENCAPSULATION",
            Safi::Vpls => "SAFI_VPLS",
            Safi::Evpn => "SAFI_EVPN",
            Safi::Ls => "SAFI_LS",
            Safi::SrPolicy => "SAFI_SR_POLICY",
            Safi::MplsVpn => "SAFI_MPLS_VPN",
            Safi::MplsVpnMulticast => "SAFI_MPLS_VPN_MULTICAST",
            Safi::RouteTargetConstraints => "SAFI_ROUTE_TARGET_CONSTRAINTS",
            Safi::FlowSpecUnicast => "SAFI_FLOW_SPEC_UNICAST",
            Safi::FlowSpecVpn => "SAFI_FLOW_SPEC_VPN",
            Safi::KeyValue => "SAFI_KEY_VALUE",
        }
    }

    /// The IANA SAFI value.
    pub fn code(self) -> u8 {
        match self {
            Safi::Unicast => 1,
            Safi::Multicast => 2,
            Safi::MplsLabel => 4,
            Safi::Encapsulation => 7,
            Safi::Vpls => 65,
            Safi::Evpn => 70,
            Safi::Ls => 71,
            Safi::SrPolicy => 73,
            Safi::MplsVpn => 128,
            Safi::MplsVpnMulticast => 129,
            Safi::RouteTargetConstraints => 132,
            Safi::FlowSpecUnicast => 133,
            Safi::FlowSpecVpn => 134,
            Safi::KeyValue => 241,
        }
    }
}

impl Family {
    /// IPv4 unicast (`AFI_IP` / `SAFI_UNICAST`).
    pub const IPV4_UNICAST: Family = Family {
        afi: Afi::Ip,
        safi: Safi::Unicast,
    };
    /// IPv6 unicast (`AFI_IP6` / `SAFI_UNICAST`).
    pub const IPV6_UNICAST: Family = Family {
        afi: Afi::Ip6,
        safi: Safi::Unicast,
    };

    /// The unicast family of an address, as OpenELB picks it for a neighbor.
    pub fn unicast_for(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::IPV4_UNICAST,
            IpAddr::V6(_) => Family::IPV6_UNICAST,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.afi.name(), self.safi.name())
    }
}

impl fmt::Debug for PeerConf {
    // By hand so that the MD5 key never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerConf")
            .field(
                "auth_password",
                &self.auth_password.as_ref().map(|_| "<redacted>"),
            )
            .field("description", &self.description)
            .field("local_as", &self.local_as)
            .field("neighbor_address", &self.neighbor_address)
            .field("peer_as", &self.peer_as)
            .field("peer_group", &self.peer_group)
            .field("peer_type", &self.peer_type)
            .field("remove_private_as", &self.remove_private_as)
            .field("route_flap_damping", &self.route_flap_damping)
            .field("send_community", &self.send_community)
            .field("neighbor_interface", &self.neighbor_interface)
            .field("vrf", &self.vrf)
            .field("allow_own_as", &self.allow_own_as)
            .field("replace_peer_as", &self.replace_peer_as)
            .field("admin_down", &self.admin_down)
            .finish()
    }
}

/// The address family OpenELB gives a BgpPeer that lists none: the unicast family of the
/// neighbor address, enabled, with ADD-PATH send limit [`DEFAULT_SEND_MAX`].
pub fn default_afi_safi(neighbor: IpAddr) -> AfiSafi {
    AfiSafi {
        mp_graceful_restart: None,
        config: Some(AfiSafiConfig {
            family: Some(Family::unicast_for(neighbor)),
            enabled: true,
            unrecognized_family: None,
        }),
        add_paths: Some(AddPaths {
            config: Some(AddPathsConfig {
                receive: false,
                send_max: DEFAULT_SEND_MAX,
            }),
        }),
    }
}

impl BgpPeerSpec {
    /// The neighbor address, or an error naming `spec.conf.neighborAddress`.
    pub fn neighbor_ip(&self) -> Result<IpAddr, FieldError> {
        self.conf.neighbor_address.parse().map_err(|_| FieldError {
            path: "spec.conf.neighborAddress".into(),
            message: format!("`{}` is not an IP address", self.conf.neighbor_address),
        })
    }

    /// OpenELB's defaulting as a pure function: a spec with no `afiSafis` gets
    /// [`default_afi_safi`] of its neighbor address; anything else is returned as is.
    pub fn with_defaults(&self) -> Result<BgpPeerSpec, FieldError> {
        let mut spec = self.clone();
        if spec.afi_safis.is_empty() {
            spec.afi_safis.push(default_afi_safi(self.neighbor_ip()?));
        }
        Ok(spec)
    }

    /// The timers after defaults, or every timer problem (paths start at `spec`).
    pub fn effective_timers(&self) -> Result<EffectiveTimers, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let timers = self.check_timers(&mut errs);
        errs.into_result().map(|()| timers)
    }

    /// Checks what the schema cannot: addresses, AS numbers, timer relations, families,
    /// the node selector. Paths start at `spec`.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if let Err(e) = self.neighbor_ip() {
            errs.0.push(e);
        }
        if self.conf.peer_as == 0 {
            errs.push("spec.conf.peerAs", "must be a non-zero AS number");
        }
        self.check_timers(&mut errs);
        if let Some(transport) = &self.transport {
            for (field, value) in [
                ("remoteAddress", &transport.remote_address),
                ("localAddress", &transport.local_address),
            ] {
                if let Some(addr) = value {
                    if addr.parse::<IpAddr>().is_err() {
                        errs.push(
                            format!("spec.transport.{field}"),
                            format!("`{addr}` is not an IP address"),
                        );
                    }
                }
            }
            // Linux refuses TCP_MAXSEG below TCP_MIN_MSS (88): fail here, not at connect time.
            if transport.tcp_mss != 0 && transport.tcp_mss < 88 {
                errs.push(
                    "spec.transport.tcpMss",
                    format!(
                        "{} is below the kernel's minimum MSS of 88",
                        transport.tcp_mss
                    ),
                );
            }
        }
        if let Some(gr) = &self.graceful_restart {
            gr.check("spec.gracefulRestart", &mut errs);
        }
        let mut seen: Vec<Family> = Vec::new();
        for (i, afi_safi) in self.afi_safis.iter().enumerate() {
            let here = format!("spec.afiSafis[{i}]");
            if let Some(raw) = afi_safi
                .config
                .as_ref()
                .and_then(|c| c.unrecognized_family.as_deref())
            {
                errs.push(
                    format!("{here}.config.family"),
                    format!("{raw} is not a known AFI/SAFI (gobgp names, e.g. {{\"afi\": \"AFI_IP\", \"safi\": \"SAFI_UNICAST\"}})"),
                );
                continue;
            }
            let Some(family) = afi_safi.config.as_ref().and_then(|c| c.family) else {
                errs.push(format!("{here}.config.family"), "is required");
                continue;
            };
            if family != Family::IPV4_UNICAST && family != Family::IPV6_UNICAST {
                errs.push(
                    format!("{here}.config.family"),
                    format!("{family} is not supported by porter (only AFI_IP or AFI_IP6 with SAFI_UNICAST)"),
                );
            }
            if seen.contains(&family) {
                errs.push(
                    format!("{here}.config.family"),
                    format!("{family} is listed twice"),
                );
            }
            seen.push(family);
        }
        if let Some(selector) = &self.node_selector {
            check_label_selector(selector, "spec.nodeSelector", &mut errs);
        }
        if let Some(bfd) = self.bfd.as_ref().filter(|b| b.enabled) {
            self.check_bfd(bfd, &mut errs);
        }
        errs.into_result()
    }

    /// The same bounds as the schema (standalone files have no API server to check them),
    /// and what porter's BFD does not do.
    fn check_bfd(&self, bfd: &Bfd, errs: &mut ValidationErrors) {
        for (field, value) in [
            ("minRxIntervalMs", bfd.min_rx_interval_ms),
            ("minTxIntervalMs", bfd.min_tx_interval_ms),
        ] {
            if let Some(ms) = value.filter(|ms| !(10..=60_000).contains(ms)) {
                errs.push(
                    format!("spec.bfd.{field}"),
                    format!("{ms} is out of range: 10 to 60000 milliseconds"),
                );
            }
        }
        if bfd.multiplier == Some(0) {
            errs.push(
                "spec.bfd.multiplier",
                "0 is out of range: 1 to 255 (RFC 5880 §4.1: Detect Mult must not be zero)",
            );
        }
        if self.ebgp_multihop.as_ref().is_some_and(|m| m.enabled) {
            errs.push("spec.bfd", BFD_MULTIHOP_REFUSAL);
        }
    }

    fn check_timers(&self, errs: &mut ValidationErrors) -> EffectiveTimers {
        const PATH: &str = "spec.timers.config";
        let config = self
            .timers
            .as_ref()
            .and_then(|t| t.config.clone())
            .unwrap_or_default();
        let mut seconds = |field: &str, value: Option<ProtoU64>| -> Option<u16> {
            let value = value?;
            match u16::try_from(value.0) {
                Ok(v) => Some(v),
                Err(_) => {
                    errs.push(
                        format!("{PATH}.{field}"),
                        format!("{value} seconds does not fit the 2-octet field (at most 65535)"),
                    );
                    None
                }
            }
        };
        let connect_retry = seconds("connectRetry", config.connect_retry);
        let hold = seconds("holdTime", config.hold_time);
        let keepalive = seconds("keepaliveInterval", config.keepalive_interval);
        let mrai = seconds(
            "minimumAdvertisementInterval",
            config.minimum_advertisement_interval,
        );

        let hold_time = hold.unwrap_or(DEFAULT_HOLD_TIME);
        // RFC 4271 §4.2: "The Hold Time MUST be either zero or at least three seconds."
        if hold_time == 1 || hold_time == 2 {
            errs.push(
                format!("{PATH}.holdTime"),
                format!("{hold_time} is not allowed: the hold time must be 0 or at least 3 seconds (RFC 4271 §4.2)"),
            );
        }
        let keepalive = match keepalive {
            // RFC 4271 §4.4: "If the negotiated Hold Time interval is zero, then periodic
            // KEEPALIVE messages MUST NOT be sent."
            _ if hold_time == 0 => 0,
            None | Some(0) => hold_time / 3,
            Some(k) if k >= hold_time => {
                errs.push(
                    format!("{PATH}.keepaliveInterval"),
                    format!("{k} must be below the hold time ({hold_time}); RFC 4271 §10 suggests a third of it"),
                );
                hold_time / 3
            }
            Some(k) => k,
        };
        EffectiveTimers {
            connect_retry: match connect_retry {
                None | Some(0) => DEFAULT_CONNECT_RETRY,
                Some(c) => c,
            },
            hold_time,
            keepalive,
            minimum_advertisement_interval: mrai,
        }
    }
}

impl BgpPeer {
    /// Validates the spec (see [`BgpPeerSpec::validate`]).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        self.spec.validate()
    }
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_match_their_serde_spelling() {
        for afi in Afi::ALL {
            assert_eq!(serde_json::to_value(afi).unwrap(), afi.name());
        }
        for safi in Safi::ALL {
            assert_eq!(serde_json::to_value(safi).unwrap(), safi.name());
        }
        assert_eq!(Family::IPV6_UNICAST.to_string(), "AFI_IP6/SAFI_UNICAST");
    }

    #[test]
    fn family_codes_are_ianas() {
        let codes: Vec<u16> = Afi::ALL.iter().map(|a| a.code()).collect();
        assert_eq!(codes, [1, 2, 25, 16388, 16397]);
        assert_eq!(Safi::Unicast.code(), 1);
        assert_eq!(Safi::FlowSpecVpn.code(), 134);
    }
}
