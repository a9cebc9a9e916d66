//! `porter status`: every node's BGP sessions, every Service's addresses and where they are
//! announced, and every pool's usage, at a glance.
//!
//! The rows are built from what porter already publishes, so the command needs nothing but
//! read access: in Kubernetes mode the BgpPeer status (`nodesPeerStatus`, one entry per node),
//! the Eip status and the Services' per-node advertisement conditions; against a standalone
//! speaker its `/status` document. [`Overview`] is the same for both sources, so the tables,
//! `-o json` and the exit status do not depend on where the data came from.

pub mod cli;
mod source;
mod table;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use porter_crds::bgp_peer::{MessageCounters, NodePeerStatus, SessionState};
use porter_crds::{BgpPeer, Eip};
use serde::Serialize;

use crate::controller::node::ADVERTISED_CONDITION_PREFIX;
use crate::controller::service::serves;

pub use source::{from_standalone_json, Source};
pub use table::render;

/// What `porter status` shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    /// One row per node and BgpPeer.
    pub peers: Vec<PeerRow>,
    /// One row per Service porter serves (or was asked to).
    pub services: Vec<ServiceRow>,
    /// One row per Eip.
    pub pools: Vec<PoolRow>,
}

/// One node's session with one BgpPeer.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerRow {
    pub node: String,
    /// BgpPeer name.
    pub peer: String,
    pub neighbor: String,
    pub local_as: u32,
    pub peer_as: u32,
    /// `Established`, `Active`, … (gobgp's names, capitalised).
    pub state: String,
    /// When the session came up (Established) or went down (otherwise), RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    pub updates_received: u64,
    pub updates_sent: u64,
    /// Paths advertised now; `None` when the writer predates the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertised: Option<u64>,
    /// BFD state (`Up`, `Down`, …) when BFD is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bfd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl PeerRow {
    /// Whether the session is Established.
    pub fn established(&self) -> bool {
        self.state == "Established"
    }
}

/// One Service.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRow {
    /// `namespace/name`.
    pub name: String,
    pub addresses: Vec<String>,
    /// The pool of each address (from the Eips' status).
    pub pools: Vec<String>,
    /// Per node: whether it advertises (or answers for) the Service, and what it says.
    pub nodes: Vec<NodeAdvert>,
    /// Why the Service has no address, or what else the user should know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// One node's advertisement of a Service (its condition on the Service).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeAdvert {
    pub node: String,
    /// The condition is True: announced to at least one peer, or answering ARP/NDP.
    pub ok: bool,
    /// `Advertised`, `Answering`, `Standby`, `NoEstablishedPeer`, `Withdrawn`, …
    pub reason: String,
    /// Per address: to which peers with which next hops, the layer-2 owner, or why not.
    pub message: String,
}

/// One Eip.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolRow {
    pub name: String,
    /// `bgp` or `layer2`; empty when unknown.
    pub protocol: String,
    /// `spec.address`, or the first and last address.
    pub address: String,
    pub used: u64,
    pub size: u64,
    /// Conditions that are not True, as `Type: message`; empty when the pool is healthy.
    pub problems: Vec<String>,
}

/// Which rows `porter status` keeps, and which peers decide its exit status.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this node's sessions and advertisements.
    pub node: Option<String>,
    /// Only this BgpPeer's sessions.
    pub peer: Option<String>,
}

impl Overview {
    /// Keeps the rows `filter` selects.
    pub fn filtered(mut self, filter: &Filter) -> Overview {
        if let Some(node) = &filter.node {
            self.peers.retain(|p| &p.node == node);
            for s in &mut self.services {
                s.nodes.retain(|n| &n.node == node);
            }
        }
        if let Some(peer) = &filter.peer {
            self.peers.retain(|p| &p.peer == peer);
        }
        self
    }

    /// The selected sessions that are not Established, as `node/peer (state)`.
    pub fn peers_down(&self) -> Vec<String> {
        self.peers
            .iter()
            .filter(|p| !p.established())
            .map(|p| format!("{}/{} ({})", p.node, p.peer, p.state))
            .collect()
    }
}

/// `ESTABLISHED` → `Established`, as people write it.
fn state_name(state: Option<&SessionState>) -> String {
    let s = match state {
        Some(SessionState::Idle) => "Idle",
        Some(SessionState::Connect) => "Connect",
        Some(SessionState::Active) => "Active",
        Some(SessionState::OpenSent) => "OpenSent",
        Some(SessionState::OpenConfirm) => "OpenConfirm",
        Some(SessionState::Established) => "Established",
        Some(SessionState::Unknown) | None => "Unknown",
    };
    s.to_owned()
}

/// One node's entry of a BgpPeer's status as a row.
pub fn peer_row(node: &str, peer: &str, s: &NodePeerStatus) -> PeerRow {
    let ps = &s.peer_state;
    let state = state_name(ps.session_state.as_ref());
    let timers = &s.timers_state;
    let since = if state == "Established" {
        timers.uptime.as_ref()
    } else {
        timers.downtime.as_ref()
    };
    let updates = |c: Option<&MessageCounters>| c.map_or(0, |c| c.update.0);
    let messages = ps.messages.as_ref();
    PeerRow {
        node: node.to_owned(),
        peer: peer.to_owned(),
        neighbor: ps.neighbor_address.clone().unwrap_or_default(),
        local_as: ps.local_as,
        peer_as: ps.peer_as,
        state,
        since: since.map(|t| t.0.to_string()),
        updates_received: updates(messages.and_then(|m| m.received.as_ref())),
        updates_sent: updates(messages.and_then(|m| m.sent.as_ref())),
        advertised: s.advertised.map(|a| a.0),
        bfd: s.bfd.as_ref().map(|b| b.state.clone()),
        last_error: s.last_error.as_ref().map(|e| {
            let direction = serde_json::to_value(e.direction)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            format!("{} ({direction}, {})", e.reason, e.time.0)
        }),
    }
}

/// Every node's session with every BgpPeer, ordered by node then peer.
pub fn peer_rows(peers: &[BgpPeer]) -> Vec<PeerRow> {
    let mut rows: Vec<PeerRow> = peers
        .iter()
        .flat_map(|p| {
            let name = p.metadata.name.clone().unwrap_or_default();
            p.status
                .iter()
                .flat_map(|s| s.nodes_peer_status.iter())
                .map(move |(node, s)| peer_row(node, &name, s))
        })
        .collect();
    rows.sort_by(|a, b| (&a.node, &a.peer).cmp(&(&b.node, &b.peer)));
    rows
}

/// A pool row from an Eip's spec and status.
pub fn pool_row(eip: &Eip) -> PoolRow {
    let status = eip.status.clone().unwrap_or_default();
    let protocol = serde_json::to_value(eip.spec.protocol)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    PoolRow {
        name: eip.metadata.name.clone().unwrap_or_default(),
        protocol,
        address: eip.spec.address.clone(),
        used: status.usage,
        size: status.pool_size,
        problems: condition_problems(&status.conditions),
    }
}

/// Conditions that are not True, as `Type: message`.
fn condition_problems(conditions: &[Condition]) -> Vec<String> {
    conditions
        .iter()
        .filter(|c| c.status != "True")
        .map(|c| {
            if c.message.is_empty() {
                format!("{}: {}", c.type_, c.reason)
            } else {
                format!("{}: {}", c.type_, c.message)
            }
        })
        .collect()
}

/// The Services porter serves (opted in with `class`, holding an address of an Eip, or
/// carrying a node's advertisement condition), with their pools and per-node conditions.
pub fn service_rows(services: &[Service], eips: &[Eip], class: &str) -> Vec<ServiceRow> {
    // address → (pool, holders) from the Eips' status: what the allocator recorded.
    let mut pool_of: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for eip in eips {
        let name = eip.metadata.name.as_deref().unwrap_or_default();
        for (ip, holders) in eip.status.iter().flat_map(|s| s.used.iter()) {
            pool_of.insert(ip, (name, holders));
        }
    }
    let mut rows = Vec::new();
    for svc in services {
        let key = format!(
            "{}/{}",
            svc.metadata.namespace.as_deref().unwrap_or("default"),
            svc.metadata.name.as_deref().unwrap_or_default()
        );
        let managed = serves(svc, class, false);
        let conditions = svc
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        let nodes: Vec<NodeAdvert> = conditions
            .iter()
            .filter_map(|c| {
                let node = c
                    .type_
                    .strip_prefix(ADVERTISED_CONDITION_PREFIX)?
                    .strip_prefix('/')?;
                Some(NodeAdvert {
                    node: node.to_owned(),
                    ok: c.status == "True",
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                })
            })
            .collect();
        let addresses: Vec<String> = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|i| i.ip.clone())
            .collect();
        let holds_pool_address = addresses.iter().any(|a| {
            pool_of
                .get(a.as_str())
                .is_some_and(|(_, holders)| holders.split(';').any(|h| h == key))
        });
        if !managed && !holds_pool_address && nodes.is_empty() {
            continue;
        }
        let pools = addresses
            .iter()
            .map(|a| pool_of.get(a.as_str()).map_or("-", |p| p.0).to_owned())
            .collect();
        let problem = if addresses.is_empty() {
            Some("no address yet (see `kubectl describe service` for its events)".to_owned())
        } else if !managed {
            Some(
                "no longer opted in to porter; its address is released on the next reconcile"
                    .into(),
            )
        } else {
            None
        };
        rows.push(ServiceRow {
            name: key,
            addresses,
            pools,
            nodes,
            problem,
        });
    }
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

/// How long ago `since` (RFC 3339) was, as `3d4h`, `2h05m`, `4m12s` or `9s`.
pub fn age(since: &str, now: Timestamp) -> Option<String> {
    let then: Timestamp = since.parse().ok()?;
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    Some(if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    })
}

#[cfg(test)]
mod tests;
