//! The transmit jitter of RFC 5880 §6.8.7, from a SplitMix64 generator seeded by the caller.

use std::time::Duration;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, and every seed, 0 included, gives a full
/// period, so the caller may pass any `u64`.
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Jitter {
        Jitter(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `interval` reduced by a random 0–25 % (§6.8.7: "the interval MUST be reduced by a
    /// random value of 0 to 25%"), or by 10–25 % when `detect_mult` is 1 ("MUST be no more
    /// than 90% of the negotiated transmission interval, and MUST be no less than 75%").
    pub(crate) fn apply(&mut self, interval: Duration, detect_mult: u8) -> Duration {
        let nanos = interval.as_nanos().min(u128::from(u64::MAX)) as u64;
        let low = nanos - nanos / 4;
        let high = if detect_mult == 1 {
            nanos - nanos / 10
        } else {
            nanos
        };
        Duration::from_nanos(low + self.next() % (high - low + 1))
    }
}
