//! What a session is told before it starts: who we are, who the peer must be, which
//! capabilities we offer and how long the timers run. Defaults follow gobgp's.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::capability::AddPathEntry;
use crate::iana::Family;

use super::timers::{self, HoldTime};

/// Configuration of one BGP session.
///
/// [`SessionConfig::new`] fills every timer with gobgp's default; change fields before
/// handing it to [`super::Session::new`], which checks it with [`SessionConfig::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS number. Sent as AS_TRANS in the OPEN's My Autonomous System field when it does
    /// not fit 2 octets (RFC 6793 §4.1), and always in the 4-octet AS capability.
    pub local_as: u32,
    /// The AS the peer must announce, or the OPEN is refused with 2/2 (RFC 4271 §6.2).
    pub peer_as: u32,
    /// Our BGP identifier (RFC 6286: any non-zero 4 octets).
    pub router_id: Ipv4Addr,
    /// The hold time we propose (default 90 s). 0 turns keepalives and the hold timer off.
    pub hold_time: HoldTime,
    /// Interval between KEEPALIVEs; `None` means a third of [`SessionConfig::hold_time`]
    /// (RFC 4271 §10 suggests one third). After negotiation the session uses the smaller of
    /// this and a third of the negotiated hold time.
    pub keepalive_interval: Option<Duration>,
    /// ConnectRetryTime (default 120 s, RFC 4271 §10). Each run is jittered to 75–100 %
    /// (RFC 4271 §10) and never shorter than 2 s.
    pub connect_retry: Duration,
    /// Hold timer while waiting for the peer's OPEN (default 240 s: RFC 4271 §8.2.2
    /// suggests "a large value" of 4 minutes).
    pub open_sent_hold: Duration,
    /// How long the session rests in Idle after going down before it starts again
    /// (default 5 s, gobgp's idle hold time). The first start has no idle hold.
    pub idle_hold_after_down: Duration,
    /// Never open a connection; wait in Active for the peer to connect (RFC 4271 §8.1.1
    /// PassiveTcpEstablishment).
    pub passive: bool,
    /// Families we offer with the multiprotocol capability (RFC 4760 §8). Default: IPv4
    /// unicast.
    pub families: Vec<Family>,
    /// ADD-PATH modes we offer, per family (RFC 7911 §4). Default: none.
    pub add_path: Vec<AddPathEntry>,
    /// Offer the route refresh capability (RFC 2918). Default: on.
    pub route_refresh: bool,
    /// Offer the enhanced route refresh capability (RFC 7313). Default: off.
    pub enhanced_route_refresh: bool,
    /// Offer the extended message capability (RFC 8654). Default: off.
    pub extended_message: bool,
    /// Offer graceful restart (RFC 4724). Default: off.
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// Our address towards the peer. When set, each received UPDATE gets the semantic
    /// NEXT_HOP checks of RFC 4271 §6.3 (a next hop equal to our own address, or not a
    /// unicast address, makes it treat-as-withdraw, RFC 7606 §7.3). Default: unset.
    pub local_address: Option<IpAddr>,
    /// Seed of the jitter generator, so that a test (or a fleet of peers) is reproducible
    /// without the session reading any entropy source.
    pub seed: u64,
}

/// Graceful restart as the restarting speaker (RFC 4724 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// Restart Time in seconds (12 bits, at most 4095): how long the peer should keep our
    /// routes after the session drops.
    pub restart_time: u16,
    /// We have just restarted: set the R bit in the first OPEN (RFC 4724 §3). The session
    /// clears it once a session has been established, so later OPENs do not claim a restart
    /// that did not happen.
    pub restarting: bool,
    /// The F bit per family: forwarding state survived the restart (porter's data plane
    /// lives outside the process, so this is normally true).
    pub forwarding_preserved: bool,
}

/// A configuration that cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An AS number of 0 (reserved, RFC 7607).
    #[error("{which} AS number 0 is reserved (RFC 7607)")]
    ZeroAs {
        /// `"local"` or `"peer"`.
        which: &'static str,
    },
    /// Router ID 0.0.0.0 (RFC 6286 §2.1: the identifier is non-zero).
    #[error("router ID 0.0.0.0 is not a valid BGP identifier")]
    ZeroRouterId,
    /// No family to offer.
    #[error("no address family configured")]
    NoFamily,
    /// A keepalive interval of zero while the hold time is not.
    #[error("keepalive interval must be positive")]
    ZeroKeepalive,
    /// A restart time that does not fit 12 bits.
    #[error("graceful restart time {0} exceeds 4095 seconds")]
    RestartTimeTooLong(u16),
    /// Our OPEN would not encode (too many capabilities).
    #[error("our OPEN does not encode: {0}")]
    Open(#[from] crate::message::EncodeError),
}

impl SessionConfig {
    /// A configuration with gobgp's defaults: hold 90 s, keepalive 30 s, connect retry
    /// 120 s, OpenSent hold 240 s, idle hold 5 s after a drop, IPv4 unicast, route refresh.
    pub fn new(local_as: u32, peer_as: u32, router_id: Ipv4Addr) -> Self {
        SessionConfig {
            local_as,
            peer_as,
            router_id,
            hold_time: HoldTime::DEFAULT,
            keepalive_interval: None,
            connect_retry: timers::DEFAULT_CONNECT_RETRY,
            open_sent_hold: timers::DEFAULT_OPEN_SENT_HOLD,
            idle_hold_after_down: timers::DEFAULT_IDLE_HOLD_AFTER_DOWN,
            passive: false,
            families: vec![Family::IPV4_UNICAST],
            add_path: Vec::new(),
            route_refresh: true,
            enhanced_route_refresh: false,
            extended_message: false,
            graceful_restart: None,
            local_address: None,
            seed: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// Whether the peer is in our AS (iBGP).
    pub fn is_internal(&self) -> bool {
        self.local_as == self.peer_as
    }

    /// The keepalive interval we would use with our own hold time.
    pub fn configured_keepalive(&self) -> Duration {
        self.keepalive_interval
            .unwrap_or_else(|| self.hold_time.duration() / 3)
    }

    /// Checks the configuration for values that cannot run.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.local_as == 0 {
            return Err(ConfigError::ZeroAs { which: "local" });
        }
        if self.peer_as == 0 {
            return Err(ConfigError::ZeroAs { which: "peer" });
        }
        if self.router_id.is_unspecified() {
            return Err(ConfigError::ZeroRouterId);
        }
        if self.families.is_empty() {
            return Err(ConfigError::NoFamily);
        }
        if !self.hold_time.is_zero() && self.keepalive_interval == Some(Duration::ZERO) {
            return Err(ConfigError::ZeroKeepalive);
        }
        if let Some(gr) = &self.graceful_restart {
            if gr.restart_time > 0x0fff {
                return Err(ConfigError::RestartTimeTooLong(gr.restart_time));
            }
        }
        Ok(())
    }
}
