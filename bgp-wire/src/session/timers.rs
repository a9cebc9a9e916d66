//! Timer values and the arithmetic around them: hold time negotiation, the keepalive
//! interval, and connect-retry jitter.
//!
//! The deadlines themselves live in the state that runs them (an OpenSent session has a hold
//! deadline, an Idle one an idle-hold deadline), so a timer cannot outlive its state.

use std::fmt;
use std::time::Duration;

/// gobgp's ConnectRetryTime default, as RFC 4271 §10 suggests (120 s).
pub const DEFAULT_CONNECT_RETRY: Duration = Duration::from_secs(120);
/// Shortest connect-retry run after jitter.
pub const MIN_CONNECT_RETRY: Duration = Duration::from_secs(2);
/// Hold timer in OpenSent. RFC 4271 §8.2.2: "sets the HoldTimer to a large value … A
/// HoldTimer value of 4 minutes is suggested."
pub const DEFAULT_OPEN_SENT_HOLD: Duration = Duration::from_secs(240);
/// Idle hold time after a session drops (gobgp's default), damping a peer that flaps.
pub const DEFAULT_IDLE_HOLD_AFTER_DOWN: Duration = Duration::from_secs(5);

/// A hold time in seconds: 0 (no keepalives, no hold timer) or at least 3.
///
/// RFC 4271 §4.2: "Hold Time MUST be either zero or at least three seconds."
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct HoldTime(u16);

/// A hold time of 1 or 2 seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("hold time {0} s is neither 0 nor at least 3 s (RFC 4271 §4.2)")]
pub struct InvalidHoldTime(pub u16);

impl HoldTime {
    /// gobgp's default, 90 s (RFC 4271 §10).
    pub const DEFAULT: HoldTime = HoldTime(90);
    /// Zero: no keepalives and no hold timer.
    pub const ZERO: HoldTime = HoldTime(0);

    /// A hold time of `seconds`, refused when it is 1 or 2.
    pub const fn new(seconds: u16) -> Result<HoldTime, InvalidHoldTime> {
        match seconds {
            1 | 2 => Err(InvalidHoldTime(seconds)),
            s => Ok(HoldTime(s)),
        }
    }

    /// The value in seconds.
    pub const fn seconds(self) -> u16 {
        self.0
    }

    /// Whether this hold time turns keepalives and the hold timer off.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The value as a [`Duration`].
    pub const fn duration(self) -> Duration {
        Duration::from_secs(self.0 as u64)
    }

    /// The hold time both sides use: the smaller of the two proposals (RFC 4271 §4.2: "the
    /// calculated value … MUST be the smaller of its configured Hold Time and the Hold Time
    /// received in the OPEN message"). `theirs` must already have passed [`HoldTime::new`].
    pub fn negotiate(self, theirs: HoldTime) -> HoldTime {
        self.min(theirs)
    }

    /// The keepalive interval under this negotiated hold time: `None` when it is zero
    /// (RFC 4271 §4.4: "If the negotiated Hold Time interval is zero, then periodic
    /// KEEPALIVE messages MUST NOT be sent"), else the smaller of the configured interval and
    /// a third of the hold time.
    pub fn keepalive_interval(self, configured: Duration) -> Option<Duration> {
        if self.is_zero() {
            return None;
        }
        Some(configured.min(self.duration() / 3))
    }
}

impl fmt::Debug for HoldTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

impl fmt::Display for HoldTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

/// A tiny xorshift64* generator for timer jitter. The seed comes from the configuration; the
/// session never reads an entropy source.
#[derive(Clone, Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Self {
        // xorshift has a fixed point at 0.
        Jitter(if seed == 0 {
            0x2545_f491_4f6c_dd1d
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `base` scaled by a factor uniform in [0.75, 1.0] (RFC 4271 §10: "jitter … determined
    /// by multiplying the base value of the appropriate timer by a random factor, which is
    /// uniformly distributed in the range from 0.75 to 1.0"), never below 2 s.
    pub(crate) fn connect_retry(&mut self, base: Duration) -> Duration {
        // 1024 steps over the quarter below 1.0 are plenty of resolution.
        let step = self.next() >> 54; // 0..1024
        let scaled = base.mul_f64(0.75 + 0.25 * (step as f64) / 1024.0);
        scaled.max(MIN_CONNECT_RETRY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_hold_times_of_one_and_two() {
        assert_eq!(HoldTime::new(1), Err(InvalidHoldTime(1)));
        assert_eq!(HoldTime::new(2), Err(InvalidHoldTime(2)));
        assert_eq!(HoldTime::new(0).unwrap(), HoldTime::ZERO);
        assert_eq!(HoldTime::new(3).unwrap().seconds(), 3);
    }

    #[test]
    fn negotiates_the_smaller_hold_time_and_a_third_for_keepalive() {
        let ours = HoldTime::DEFAULT;
        let n = ours.negotiate(HoldTime::new(9).unwrap());
        assert_eq!(n.seconds(), 9);
        assert_eq!(
            n.keepalive_interval(Duration::from_secs(30)),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            ours.keepalive_interval(Duration::from_secs(10)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(ours.negotiate(HoldTime::ZERO), HoldTime::ZERO);
        assert_eq!(
            HoldTime::ZERO.keepalive_interval(Duration::from_secs(30)),
            None
        );
    }

    #[test]
    fn connect_retry_jitter_stays_within_three_quarters_and_the_whole() {
        let mut j = Jitter::new(7);
        let base = Duration::from_secs(120);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..10_000 {
            let d = j.connect_retry(base);
            assert!(d >= Duration::from_secs(90) && d <= base, "{d:?}");
            seen_low |= d < Duration::from_secs(95);
            seen_high |= d > Duration::from_secs(115);
        }
        assert!(
            seen_low && seen_high,
            "jitter does not spread over the range"
        );
    }

    #[test]
    fn connect_retry_never_drops_below_two_seconds() {
        let mut j = Jitter::new(0);
        for _ in 0..100 {
            assert!(j.connect_retry(Duration::from_millis(500)) >= MIN_CONNECT_RETRY);
        }
    }
}
