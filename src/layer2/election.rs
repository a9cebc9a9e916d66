//! Who owns a layer-2 address: a sans-IO election over a `coordination.k8s.io/v1`
//! Lease-like record, one per address.
//!
//! The [`Elector`] never reads a clock, sleeps or calls the API. The driver feeds it what it
//! read ([`observe`](Elector::observe)), asks what to write ([`poll_write`](Elector::poll_write)),
//! reports how the write went, and asks whether this replica may answer now
//! ([`is_owner`](Elector::is_owner)) and when to come back ([`poll_timeout`](Elector::poll_timeout)).
//! Every input carries `now`, a monotonic [`Instant`]; the wall-clock time written into the
//! record is passed separately and never compared with anything.
//!
//! ## Rules
//! - **Expiry is judged on the local clock, from observation.** A follower considers the
//!   holder's lease expired when the record has not changed for `leaseDurationSeconds`
//!   since this follower first saw it in its current form. Record timestamps written by
//!   other replicas are never compared with the local clock, so wall-clock skew between
//!   nodes cannot cause an early takeover. (This is client-go's rule, too.)
//! - **The holder stops answering before anyone can take over.** Its own deadline is the
//!   *start* of its last successful write + lease duration − safety margin. The write
//!   committed after it started, and followers saw it after it committed, so every
//!   follower's expiry comes at least `safety_margin` after the holder went quiet, as long
//!   as the replicas' monotonic clocks run at rates that differ by less than
//!   `safety_margin / lease_duration` (a quarter at the defaults).
//! - **Writes are compare-and-swap** (the adapter replaces with the `resourceVersion` it
//!   read), so of two followers racing for an expired lease only one wins, and a holder
//!   that lost cannot renew over its successor. A conflict on renew stops answering at once.
//! - **Only eligible replicas take part** (for `externalTrafficPolicy: Local`, nodes with
//!   ready endpoints). A holder that becomes ineligible stops answering at once and
//!   releases the lease (empty holder), so an eligible node takes over without waiting for
//!   expiry.
//!
//! ## Timings
//! With the defaults (lease 4 s, retry 1 s, margin 1 s) a follower polls every second, so
//! it takes an expired lease within `retry_period` (plus one API round trip) of the expiry:
//! under 2 s. From a holder's death to takeover: at most lease duration + 2 × retry period.

use std::time::{Duration, Instant, SystemTime};

/// The part of a `coordination.k8s.io/v1` Lease spec the election reads and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    /// `holderIdentity`: the replica that holds the lease; `None` (or empty) when released.
    pub holder: Option<String>,
    /// `acquireTime`: when the current holder acquired it (informational).
    pub acquire_time: Option<SystemTime>,
    /// `renewTime`: when the holder last renewed it (informational; never compared with the
    /// local clock).
    pub renew_time: Option<SystemTime>,
    /// `leaseDurationSeconds`: how long followers wait, after the record last changed,
    /// before taking over.
    pub lease_duration_seconds: u32,
    /// `leaseTransitions`: how many times the holder changed.
    pub lease_transitions: u32,
}

impl LeaseRecord {
    fn holder(&self) -> Option<&str> {
        self.holder.as_deref().filter(|h| !h.is_empty())
    }
}

/// Election timings. Defaults: lease 4 s, retry 1 s, safety margin 1 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElectionTimings {
    /// Lease duration written into the record (whole seconds, at least 1).
    pub lease_duration: Duration,
    /// How often to read the lease and try to acquire or renew it.
    pub retry_period: Duration,
    /// How long before its lease could expire a holder that cannot renew stops answering.
    pub safety_margin: Duration,
}

impl Default for ElectionTimings {
    fn default() -> Self {
        ElectionTimings {
            lease_duration: Duration::from_secs(4),
            retry_period: Duration::from_secs(1),
            safety_margin: Duration::from_secs(1),
        }
    }
}

/// Timings that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimingsError {
    /// The Lease field is whole seconds.
    #[error("lease duration {0:?} must be a whole number of seconds, at least 1 s")]
    LeaseDuration(Duration),
    /// A retry period of zero would spin.
    #[error("retry period must be more than zero")]
    RetryPeriod,
    /// The holder must stop strictly before its lease can expire.
    #[error("safety margin {margin:?} must be more than zero and less than the lease duration {lease:?}")]
    SafetyMargin {
        /// The margin.
        margin: Duration,
        /// The lease duration.
        lease: Duration,
    },
    /// The holder must get at least one renewal attempt before its own deadline.
    #[error(
        "retry period {retry:?} must be shorter than lease duration − safety margin ({window:?})"
    )]
    NoRenewWindow {
        /// The retry period.
        retry: Duration,
        /// Lease duration − safety margin.
        window: Duration,
    },
}

impl ElectionTimings {
    /// Checks the timings can give a safe election.
    pub fn validate(&self) -> Result<(), TimingsError> {
        let lease = self.lease_duration;
        if lease < Duration::from_secs(1)
            || lease.subsec_nanos() != 0
            || lease.as_secs() > u64::from(u32::MAX)
        {
            return Err(TimingsError::LeaseDuration(lease));
        }
        if self.retry_period.is_zero() {
            return Err(TimingsError::RetryPeriod);
        }
        if self.safety_margin.is_zero() || self.safety_margin >= lease {
            return Err(TimingsError::SafetyMargin {
                margin: self.safety_margin,
                lease,
            });
        }
        let window = lease - self.safety_margin;
        if self.retry_period >= window {
            return Err(TimingsError::NoRenewWindow {
                retry: self.retry_period,
                window,
            });
        }
        Ok(())
    }

    fn lease_seconds(&self) -> u32 {
        // validate() bounds it to u32.
        u32::try_from(self.lease_duration.as_secs()).unwrap_or(u32::MAX)
    }
}

/// What a write does; the adapter creates for [`WriteKind::Create`] and replaces with the
/// `resourceVersion` it last read for the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// No Lease exists: create it, held by this replica.
    Create,
    /// Take a released or expired Lease.
    Acquire,
    /// Extend this replica's own Lease.
    Renew,
    /// Give this replica's Lease up (empty holder).
    Release,
}

/// A write the driver must perform, then report with [`Elector::write_succeeded`] or
/// [`Elector::write_failed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// Create or replace, and why.
    pub kind: WriteKind,
    /// The record to write.
    pub record: LeaseRecord,
}

/// How a write failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFailure {
    /// The record changed since it was read (HTTP 409, or 409/AlreadyExists on create):
    /// someone else wrote it.
    Conflict,
    /// Anything else (timeout, API unavailable): the write may or may not have happened.
    Other,
}

/// The election for one lease, as seen by one replica.
#[derive(Clone, Debug)]
pub struct Elector {
    identity: String,
    timings: ElectionTimings,
    eligible: bool,
    observed: Option<Observed>,
    /// Start of the last successful write that made or kept this replica the holder.
    held_since_write: Option<Instant>,
    pending: Option<Pending>,
    /// Last call of `poll_write` (a read-and-decide cycle); the next is due a retry
    /// period later. `None`: due at once.
    last_poll: Option<Instant>,
    /// Start of the last write this replica sent (paces renewals).
    last_write: Option<Instant>,
}

#[derive(Clone, Debug)]
struct Observed {
    /// `None`: the Lease does not exist.
    record: Option<LeaseRecord>,
    /// When this replica first saw `record` in this exact form.
    changed_at: Instant,
}

#[derive(Clone, Debug)]
struct Pending {
    write: Write,
    started_at: Instant,
}

impl Elector {
    /// A follower named `identity` (the node name), not yet eligible and with nothing
    /// observed: it writes nothing before its first [`observe`](Self::observe).
    pub fn new(
        identity: impl Into<String>,
        timings: ElectionTimings,
    ) -> Result<Self, TimingsError> {
        timings.validate()?;
        Ok(Elector {
            identity: identity.into(),
            timings,
            eligible: false,
            observed: None,
            held_since_write: None,
            pending: None,
            last_poll: None,
            last_write: None,
        })
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether this node may own the address (for ETP Local: it has ready endpoints).
    /// Becoming ineligible stops answering at once; the next write releases the lease.
    pub fn set_eligible(&mut self, _now: Instant, eligible: bool) {
        if self.eligible != eligible {
            self.eligible = eligible;
            self.held_since_write = if eligible {
                self.held_since_write
            } else {
                None
            };
            // Act on the change at once rather than at the next retry.
            self.last_poll = None;
        }
    }

    /// Feeds the result of reading the lease (`None`: it does not exist).
    pub fn observe(&mut self, now: Instant, record: Option<LeaseRecord>) {
        let changed = match &self.observed {
            Some(o) => o.record != record,
            None => true,
        };
        if changed {
            self.observed = Some(Observed {
                record,
                changed_at: now,
            });
        }
        if self.observed_holder() != Some(self.identity.as_str()) {
            // Someone else holds it (or nobody): stop answering now.
            self.held_since_write = None;
        }
    }

    /// The write to perform now, if any. `wall` is the wall-clock time to put in the
    /// record's timestamps. Nothing while a write is in flight or before the first read.
    #[must_use]
    pub fn poll_write(&mut self, now: Instant, wall: SystemTime) -> Option<Write> {
        if self.pending.is_some() {
            return None;
        }
        self.last_poll = Some(now);
        let observed = self.observed.as_ref()?;
        let mine =
            observed.record.as_ref().and_then(LeaseRecord::holder) == Some(self.identity.as_str());
        let write = match &observed.record {
            _ if !self.eligible => {
                if !mine {
                    return None;
                }
                let mut record = observed.record.clone()?;
                record.holder = None;
                record.renew_time = Some(wall);
                Write {
                    kind: WriteKind::Release,
                    record,
                }
            }
            None => Write {
                kind: WriteKind::Create,
                record: LeaseRecord {
                    holder: Some(self.identity.clone()),
                    acquire_time: Some(wall),
                    renew_time: Some(wall),
                    lease_duration_seconds: self.timings.lease_seconds(),
                    lease_transitions: 0,
                },
            },
            Some(_)
                if mine
                    && self.held_since_write.is_some()
                    && self
                        .last_write
                        .is_some_and(|t| now < t + self.timings.retry_period) =>
            {
                // Renew once per retry period, not at every wake-up.
                return None;
            }
            Some(record) if mine => Write {
                kind: WriteKind::Renew,
                record: LeaseRecord {
                    renew_time: Some(wall),
                    lease_duration_seconds: self.timings.lease_seconds(),
                    ..record.clone()
                },
            },
            Some(record) => {
                if self.expiry_of_other().is_some_and(|expires| now < expires) {
                    return None;
                }
                Write {
                    kind: WriteKind::Acquire,
                    record: LeaseRecord {
                        holder: Some(self.identity.clone()),
                        acquire_time: Some(wall),
                        renew_time: Some(wall),
                        lease_duration_seconds: self.timings.lease_seconds(),
                        lease_transitions: record.lease_transitions.wrapping_add(1),
                    },
                }
            }
        };
        self.pending = Some(Pending {
            write: write.clone(),
            started_at: now,
        });
        self.last_write = Some(now);
        Some(write)
    }

    /// The pending write succeeded: its record is now the lease.
    pub fn write_succeeded(&mut self, now: Instant) {
        let Some(p) = self.pending.take() else { return };
        let mine = p.write.record.holder() == Some(self.identity.as_str());
        self.held_since_write = if mine && self.eligible {
            Some(p.started_at)
        } else {
            None
        };
        self.observed = Some(Observed {
            record: Some(p.write.record),
            changed_at: now,
        });
    }

    /// The pending write failed. A conflict means another replica wrote the lease: stop
    /// answering at once and re-read. Any other failure leaves the holder answering until
    /// its own deadline.
    pub fn write_failed(&mut self, _now: Instant, failure: WriteFailure) {
        if self.pending.take().is_none() {
            return;
        }
        if failure == WriteFailure::Conflict {
            self.held_since_write = None;
        }
    }

    /// Whether this replica may answer for the address at `now`: it is eligible, holds the
    /// lease, and is before its own deadline (last successful write start + lease duration
    /// − safety margin).
    #[must_use]
    pub fn is_owner(&self, now: Instant) -> bool {
        self.owner_deadline().is_some_and(|deadline| now < deadline)
    }

    /// When this replica must stop answering unless it renews first, while it holds the
    /// lease.
    #[must_use]
    pub fn owner_deadline(&self) -> Option<Instant> {
        let since = self.held_since_write?;
        Some(since + self.timings.lease_duration - self.timings.safety_margin)
    }

    /// The holder the last read or write showed (`None`: released or no lease).
    #[must_use]
    pub fn observed_holder(&self) -> Option<&str> {
        self.observed
            .as_ref()?
            .record
            .as_ref()
            .and_then(LeaseRecord::holder)
    }

    /// When the driver must next read the lease and call [`poll_write`](Self::poll_write):
    /// a retry period after the last call, at the expiry of a lease another replica holds,
    /// or at this replica's own deadline (to stop answering on time). Never in the past
    /// unless a cycle is due now. `None` while a write is in flight (its outcome is the
    /// next input).
    #[must_use]
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        if self.pending.is_some() {
            return None;
        }
        let mut next = self
            .last_poll
            .map_or(now, |t| t + self.timings.retry_period);
        let deadlines = [self.owner_deadline(), self.expiry_of_other()];
        for deadline in deadlines.into_iter().flatten() {
            if deadline > now {
                next = next.min(deadline);
            }
        }
        Some(next)
    }

    /// When the lease another replica holds expires, judged from this replica's
    /// observation.
    fn expiry_of_other(&self) -> Option<Instant> {
        let observed = self.observed.as_ref()?;
        let record = observed.record.as_ref()?;
        let holder = record.holder()?;
        if holder == self.identity {
            return None;
        }
        Some(observed.changed_at + Duration::from_secs(u64::from(record.lease_duration_seconds)))
    }

    /// The timings in use.
    pub fn timings(&self) -> &ElectionTimings {
        &self.timings
    }
}
