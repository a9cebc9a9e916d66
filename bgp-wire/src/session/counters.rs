//! Message counters in the shape of gobgp's `PeerState.Messages`, and the snapshot a speaker
//! copies into a peer's status.

use std::time::{Duration, Instant};

use crate::iana::{Family, MessageType};
use crate::message::notification::NotificationMsg;

use super::state::SessionState;

/// Counts of messages in one direction (gobgp's `Message` counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct MessageCounters {
    /// NOTIFICATION messages.
    pub notification: u64,
    /// UPDATE messages.
    pub update: u64,
    /// OPEN messages.
    pub open: u64,
    /// KEEPALIVE messages.
    pub keepalive: u64,
    /// ROUTE-REFRESH messages.
    pub refresh: u64,
    /// Received: messages ignored without effect (ROUTE-REFRESH for a family or subtype not
    /// negotiated, RFC 2918 §4 and RFC 7313 §5). Sent: UPDATEs the speaker offered while the
    /// session was not Established, or that did not decode.
    pub discarded: u64,
    /// Every message, of any type, including ones with a bad header.
    pub total: u64,
    /// UPDATE messages that withdraw at least one prefix.
    pub withdraw_update: u64,
    /// Prefixes withdrawn.
    pub withdraw_prefix: u64,
}

impl MessageCounters {
    /// Counts one message of `kind` (and the total).
    pub(crate) fn count(&mut self, kind: MessageType) {
        self.total += 1;
        match kind {
            MessageType::Open => self.open += 1,
            MessageType::Update => self.update += 1,
            MessageType::Notification => self.notification += 1,
            MessageType::Keepalive => self.keepalive += 1,
            MessageType::RouteRefresh => self.refresh += 1,
        }
    }

    /// Counts the withdrawals of one UPDATE.
    pub(crate) fn count_withdrawn(&mut self, prefixes: usize) {
        if prefixes > 0 {
            self.withdraw_update += 1;
            self.withdraw_prefix += prefixes as u64;
        }
    }
}

/// Received and sent counters (gobgp's `Messages`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct Messages {
    /// From the peer.
    pub received: MessageCounters,
    /// To the peer.
    pub sent: MessageCounters,
}

/// A plain-data copy of a session's status, for the speaker to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "camelCase")
)]
pub struct SessionSnapshot {
    /// Current state.
    pub state: SessionState,
    /// Message counters over the session's whole life.
    pub messages: Messages,
    /// Established → down transitions.
    pub flaps: u64,
    /// Times the session reached Established.
    pub established_count: u64,
    /// Time since the session last reached Established, while it is Established.
    #[cfg_attr(feature = "serde", serde(serialize_with = "secs"))]
    pub uptime: Option<Duration>,
    /// Time since the session last left Established (or since it was created, if it never
    /// was), while it is not Established.
    #[cfg_attr(feature = "serde", serde(serialize_with = "secs"))]
    pub downtime: Option<Duration>,
    /// When the session last reached Established.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub last_established_at: Option<Instant>,
    /// When the session last left Established (or was created).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub last_down_at: Instant,
    /// The last NOTIFICATION we sent.
    pub last_notification_sent: Option<NotificationMsg>,
    /// The last NOTIFICATION the peer sent.
    pub last_notification_received: Option<NotificationMsg>,
    /// The hold time we propose, in seconds.
    pub configured_hold_time: u16,
    /// The negotiated hold time in seconds, in OpenConfirm and Established.
    pub negotiated_hold_time: Option<u16>,
    /// The keepalive interval in use, in OpenConfirm and Established (absent when the
    /// negotiated hold time is zero).
    #[cfg_attr(feature = "serde", serde(serialize_with = "secs"))]
    pub keepalive_interval: Option<Duration>,
    /// The peer's BGP identifier, in OpenConfirm and Established.
    pub peer_id: Option<std::net::Ipv4Addr>,
    /// Negotiated families, in OpenConfirm and Established.
    pub families: Vec<Family>,
    /// Families we sent End-of-RIB for on the current session (RFC 4724 §2).
    pub end_of_rib_sent: Vec<Family>,
    /// Families the peer sent End-of-RIB for on the current session.
    pub end_of_rib_received: Vec<Family>,
}

/// Serializes an optional duration as whole seconds.
#[cfg(feature = "serde")]
fn secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs()),
        None => s.serialize_none(),
    }
}
