//! The operator's parameters of one session, and their validation.

use std::time::Duration;

/// Largest interval the 32-bit microsecond fields of §4.1 carry.
pub const MAX_INTERVAL: Duration = Duration::from_micros(u32::MAX as u64);

/// The local parameters of a session (the `bfd.DesiredMinTxInterval`,
/// `bfd.RequiredMinRxInterval` and `bfd.DetectMult` of RFC 5880 §6.8.1, and the role of
/// §6.1). Intervals are carried in whole microseconds; finer parts are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// How often we would like to send once Up (at least 1 s is used while not Up, §6.8.3).
    pub desired_min_tx: Duration,
    /// The shortest interval between packets we can receive.
    pub required_min_rx: Duration,
    /// The remote system declares us down after this many of our intervals without a packet.
    pub detect_mult: u8,
    /// Passive role (§6.1): send nothing until the remote system has been heard.
    pub passive: bool,
}

impl Default for SessionConfig {
    /// 300 ms × 3, active: MetalLB's and OpenELB-compatible porter defaults.
    fn default() -> SessionConfig {
        SessionConfig {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
            passive: false,
        }
    }
}

/// A configuration a session cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The local discriminator is zero (§6.8.1: bfd.LocalDiscr "MUST be nonzero").
    #[error("local discriminator must be nonzero")]
    ZeroDiscriminator,
    /// Detect multiplier zero (§4.1 and §6.8.6 refuse it on the wire).
    #[error("detect multiplier must be 1-255")]
    ZeroDetectMult,
    /// An interval below one microsecond. Desired Min TX zero is reserved (§4.1); Required
    /// Min RX zero would tell the remote system to send nothing, so detection never works.
    #[error("{field} must be at least 1 µs")]
    ZeroInterval {
        /// `desired_min_tx` or `required_min_rx`.
        field: &'static str,
    },
    /// An interval the 32-bit microsecond field cannot carry.
    #[error(
        "{field} of {value:?} exceeds the largest interval a BFD packet carries ({MAX_INTERVAL:?})"
    )]
    IntervalTooLarge {
        /// `desired_min_tx` or `required_min_rx`.
        field: &'static str,
        /// The value refused.
        value: Duration,
    },
}

impl SessionConfig {
    /// Checks that the values fit the wire and can detect a failure.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.detect_mult == 0 {
            return Err(ConfigError::ZeroDetectMult);
        }
        for (field, value) in [
            ("desired_min_tx", self.desired_min_tx),
            ("required_min_rx", self.required_min_rx),
        ] {
            if value < Duration::from_micros(1) {
                return Err(ConfigError::ZeroInterval { field });
            }
            if value > MAX_INTERVAL {
                return Err(ConfigError::IntervalTooLarge { field, value });
            }
        }
        Ok(())
    }
}
