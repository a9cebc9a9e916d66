//! The speaker's view of a session, in the shape `BgpPeer.status.nodesPeerStatus.<node>` has.
//!
//! One conversion for every status writer: the Kubernetes controller patches it into the
//! BgpPeer object, standalone mode serves it on `/status`. Field meanings are gobgp's
//! `PeerState` / `TimersState` as OpenELB copies them (counters as decimal strings, times in
//! RFC 3339), so tools written against OpenELB's status read porter's unchanged.

use std::time::SystemTime;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use porter_crds::bgp_peer::{
    AdminState, BfdDiagnostic, BfdStatus, Direction, LastError, MessageCounters, Messages,
    NodePeerStatus, PeerState, SessionState, TimersState,
};
use porter_crds::ProtoU64;

use crate::speaker::bfd::BfdView;
use crate::speaker::PeerStatus;

/// The `nodesPeerStatus` entry of one node's session. `global_as` is the BgpConf AS, the
/// session's local AS unless the BgpPeer sets its own.
pub fn node_peer_status(status: &PeerStatus, global_as: u32) -> NodePeerStatus {
    let config = &status.config;
    let snapshot = &status.snapshot;
    let local_as = config.local_as.unwrap_or(global_as);
    NodePeerStatus {
        peer_state: PeerState {
            description: Some(config.description.clone()).filter(|d| !d.is_empty()),
            local_as,
            messages: Some(Messages {
                received: Some(counters(&snapshot.messages.received)),
                sent: Some(counters(&snapshot.messages.sent)),
            }),
            neighbor_address: Some(status.neighbor.to_string()),
            peer_as: config.peer_as,
            // gobgp's PeerType: 0 internal, 1 external.
            peer_type: u32::from(config.peer_as != local_as),
            session_state: Some(session_state(snapshot.state)),
            admin_state: Some(if config.admin_down {
                AdminState::Down
            } else {
                AdminState::Up
            }),
            flops: u32::try_from(snapshot.flaps).unwrap_or(u32::MAX),
            router_id: snapshot.peer_id.map(|id| id.to_string()),
            ..PeerState::default()
        },
        timers_state: TimersState {
            connect_retry: u64::from(config.connect_retry).into(),
            hold_time: u64::from(snapshot.configured_hold_time).into(),
            keepalive_interval: snapshot
                .keepalive_interval
                .map_or(u64::from(config.keepalive), |k| k.as_secs())
                .into(),
            minimum_advertisement_interval: ProtoU64(0),
            negotiated_hold_time: snapshot.negotiated_hold_time.map(|h| u64::from(h).into()),
            uptime: status.established_at.and_then(time),
            downtime: status.down_at.and_then(time),
        },
        last_error: status.last_error.as_ref().and_then(|e| {
            let direction = match e.direction.as_str() {
                "sent" => Direction::Sent,
                "received" => Direction::Received,
                _ => Direction::Local,
            };
            Some(LastError {
                direction,
                code: e.code,
                subcode: e.subcode,
                reason: e.reason.clone(),
                time: time(e.time)?,
            })
        }),
        bfd: status.bfd.as_ref().map(bfd_status),
        advertised: Some((status.advertised as u64).into()),
    }
}

/// A BFD session as `nodesPeerStatus.<node>.bfd` shows it.
pub fn bfd_status(v: &BfdView) -> BfdStatus {
    let ms = |d: std::time::Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
    BfdStatus {
        state: format!("{:?}", v.state),
        remote_state: format!("{:?}", v.remote_state),
        local_discriminator: v.local_discriminator,
        remote_discriminator: v.remote_discriminator,
        tx_interval_ms: ms(v.tx_interval),
        detection_time_ms: ms(v.detection_time),
        up_transitions: v.up_events.into(),
        down_transitions: v.down_events.into(),
        last_diagnostic: (v.diag.code() != 0).then(|| BfdDiagnostic {
            code: v.diag.code(),
            name: v.diag.to_string(),
        }),
        last_change: v.last_change.and_then(time),
        error: v.error.clone(),
    }
}

/// A wall-clock time as a Kubernetes `Time` (RFC 3339); `None` if it cannot be represented.
pub fn time(t: SystemTime) -> Option<Time> {
    Timestamp::try_from(t).ok().map(Time)
}

fn counters(c: &bgp_wire::session::MessageCounters) -> MessageCounters {
    MessageCounters {
        notification: c.notification.into(),
        update: c.update.into(),
        open: c.open.into(),
        keepalive: c.keepalive.into(),
        refresh: c.refresh.into(),
        discarded: c.discarded.into(),
        total: c.total.into(),
        withdraw_update: c.withdraw_update.into(),
        withdraw_prefix: c.withdraw_prefix.into(),
    }
}

fn session_state(s: bgp_wire::session::SessionState) -> SessionState {
    use bgp_wire::session::SessionState as S;
    match s {
        S::Idle => SessionState::Idle,
        S::Connect => SessionState::Connect,
        S::Active => SessionState::Active,
        S::OpenSent => SessionState::OpenSent,
        S::OpenConfirm => SessionState::OpenConfirm,
        S::Established => SessionState::Established,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speaker::config::PeerConfig;
    use crate::speaker::LastError as SpeakerError;
    use std::time::{Duration, Instant};

    fn status() -> PeerStatus {
        let mut config = PeerConfig::new("10.200.1.1".parse().unwrap(), 65000);
        config.description = "tor".into();
        let mut messages = bgp_wire::session::Messages::default();
        messages.received.open = 1;
        messages.received.keepalive = 4;
        messages.received.total = 5;
        messages.sent.update = 2;
        messages.sent.total = 2;
        PeerStatus {
            neighbor: config.neighbor,
            config,
            snapshot: bgp_wire::session::SessionSnapshot {
                state: bgp_wire::session::SessionState::Established,
                messages,
                flaps: 1,
                established_count: 2,
                uptime: Some(Duration::from_secs(5)),
                downtime: None,
                last_established_at: None,
                last_down_at: Instant::now(),
                last_notification_sent: None,
                last_notification_received: None,
                configured_hold_time: 90,
                negotiated_hold_time: Some(30),
                keepalive_interval: Some(Duration::from_secs(10)),
                peer_id: Some("10.200.1.1".parse().unwrap()),
                families: vec![bgp_wire::Family::IPV4_UNICAST],
                end_of_rib_sent: Vec::new(),
                end_of_rib_received: Vec::new(),
            },
            established_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            down_at: None,
            advertised: 3,
            end_of_rib_received: Vec::new(),
            last_error: Some(SpeakerError {
                direction: "received".into(),
                code: 4,
                subcode: 0,
                reason: "Hold Timer Expired".into(),
                time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_699_999_000),
            }),
            rejected_connections: 0,
            bfd: None,
        }
    }

    #[test]
    fn converts_to_the_crd_entry_as_openelb_writes_it() {
        let entry = node_peer_status(&status(), 65001);
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "peerState": {
                    "description": "tor",
                    "localAs": 65001,
                    "messages": {
                        "received": {"open": "1", "keepalive": "4", "total": "5"},
                        "sent": {"update": "2", "total": "2"},
                    },
                    "neighborAddress": "10.200.1.1",
                    "peerAs": 65000,
                    "peerType": 1,
                    "sessionState": "ESTABLISHED",
                    "adminState": "UP",
                    "flops": 1,
                    "routerId": "10.200.1.1",
                },
                "timersState": {
                    "connectRetry": "120",
                    "holdTime": "90",
                    "keepaliveInterval": "10",
                    "negotiatedHoldTime": "30",
                    "uptime": "2023-11-14T22:13:20Z",
                },
                "lastError": {
                    "direction": "received",
                    "code": 4,
                    "subcode": 0,
                    "reason": "Hold Timer Expired",
                    "time": "2023-11-14T21:56:40Z",
                },
                "advertised": "3",
            })
        );
    }

    /// RFC 4271 §4.2 allows a Hold Time of 0 (no KEEPALIVEs): it must read as "0", not as
    /// the absent value of a session that never negotiated one.
    #[test]
    fn negotiated_hold_time_zero_is_shown_and_none_is_absent() {
        let mut s = status();
        s.snapshot.negotiated_hold_time = Some(0);
        let json = serde_json::to_value(node_peer_status(&s, 65001)).unwrap();
        assert_eq!(json["timersState"]["negotiatedHoldTime"], "0");
        s.snapshot.negotiated_hold_time = None;
        let json = serde_json::to_value(node_peer_status(&s, 65001)).unwrap();
        assert!(
            json["timersState"].get("negotiatedHoldTime").is_none(),
            "{json}"
        );
    }

    #[test]
    fn internal_peer_and_local_failures() {
        let mut s = status();
        s.config.local_as = Some(65000);
        s.config.admin_down = true;
        s.snapshot.state = bgp_wire::session::SessionState::Active;
        let failure = s.last_error.as_mut().unwrap();
        failure.direction = "local".into();
        (failure.code, failure.subcode) = (0, 0);
        failure.reason = "connect failed: Connection refused (os error 111)".into();
        let entry = node_peer_status(&s, 65001);
        assert_eq!(entry.peer_state.peer_type, 0);
        assert_eq!(entry.peer_state.local_as, 65000);
        assert_eq!(entry.peer_state.admin_state, Some(AdminState::Down));
        assert_eq!(entry.peer_state.session_state, Some(SessionState::Active));
        // A failure without a NOTIFICATION (connect refused) is still shown, as `local`.
        let e = entry.last_error.expect("local failure shown");
        assert_eq!((e.direction, e.code, e.subcode), (Direction::Local, 0, 0));
        assert!(e.reason.contains("Connection refused"), "{}", e.reason);
    }
}
