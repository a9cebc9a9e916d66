//! Leader election with a `coordination.k8s.io/v1` Lease: only the leader allocates.
//!
//! The rules are client-go's leaderelection, which every Kubernetes controller manager uses:
//! * expiry is judged on the local clock, from when this replica last saw the Lease record
//!   change, never from the `renewTime` another node wrote (clocks of two nodes differ);
//! * every write carries the `resourceVersion` it read, so two candidates cannot both win:
//!   the API server accepts one replace and answers 409 Conflict to the other;
//! * the leader steps down by itself when it could not renew for `renew_deadline`, which is
//!   shorter than the lease duration, so it has stopped allocating before anyone else may
//!   take over;
//! * on a clean shutdown the leader gives the Lease up, so the other replica takes over at
//!   its next retry instead of after a whole lease duration.
//!
//! * every round is cut off at `renew_deadline`: an API server that accepts the connection
//!   and never answers must not keep a leader believing it leads, as an unanswered request
//!   would for kube's 295 s read timeout;
//! * a [`Fence`] lets the leader's writers check, right before each write that hands out an
//!   address, that the last successful renewal *started* less than `renew_deadline` ago,
//!   whatever the election loop is doing. Another replica takes over only after it has seen
//!   the record unchanged for `lease_duration` (> `renew_deadline`) on its own clock, so the
//!   two never hand out addresses at the same time (clocks running at about the same rate,
//!   which is what every Lease-based election assumes).
//!
//! [`decide`] is the pure core; [`Elector`] is the shell that reads and writes the Lease.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

/// Lease timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long a record stays valid without renewal (the Lease's `leaseDurationSeconds`).
    pub lease_duration: Duration,
    /// The leader steps down when it could not renew for this long (< `lease_duration`).
    pub renew_deadline: Duration,
    /// How often candidates and the leader try.
    pub retry_period: Duration,
}

impl Default for LeaseTiming {
    /// client-go's defaults: 15 s, 10 s, 2 s.
    fn default() -> Self {
        LeaseTiming {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// What a candidate does after reading the Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No Lease exists: create it with us as holder.
    Create,
    /// We hold it: renew.
    Renew,
    /// Nobody holds it, or the holder let it expire: take it over.
    TakeOver,
    /// Someone else holds a valid lease.
    Follow {
        /// The holder.
        holder: String,
    },
}

/// Decides what `me` does, given the Lease spec read (if any) and how long ago, on the local
/// clock, that exact record was first seen.
pub fn decide(
    lease: Option<&LeaseSpec>,
    me: &str,
    unchanged_for: Duration,
    default_duration: Duration,
) -> Decision {
    let Some(spec) = lease else {
        return Decision::Create;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder == me {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::TakeOver;
    }
    let duration = spec
        .lease_duration_seconds
        .filter(|d| *d > 0)
        .map(|d| Duration::from_secs(d as u64))
        .unwrap_or(default_duration);
    if unchanged_for > duration {
        Decision::TakeOver
    } else {
        Decision::Follow {
            holder: holder.to_string(),
        }
    }
}

/// The spec to write for a decision (`None` for [`Decision::Follow`]).
pub fn next_spec(
    current: Option<&LeaseSpec>,
    decision: &Decision,
    me: &str,
    timing: &LeaseTiming,
    now: Timestamp,
) -> Option<LeaseSpec> {
    let duration = i32::try_from(timing.lease_duration.as_secs()).unwrap_or(i32::MAX);
    match decision {
        Decision::Follow { .. } => None,
        Decision::Renew => {
            let mut spec = current.cloned().unwrap_or_default();
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(duration);
            Some(spec)
        }
        Decision::Create | Decision::TakeOver => Some(LeaseSpec {
            holder_identity: Some(me.to_string()),
            lease_duration_seconds: Some(duration),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(
                current
                    .and_then(|c| c.lease_transitions)
                    .map_or(0, |t| t.saturating_add(1)),
            ),
            ..LeaseSpec::default()
        }),
    }
}

/// Proof of leadership on the local clock, shared by the elector and the leader's writers.
#[derive(Clone, Debug)]
pub struct Fence {
    /// When the last successful acquisition or renewal was started; `None` when not leading.
    renewed: Arc<Mutex<Option<Instant>>>,
    /// How long one renewal is worth (the Lease's `renew_deadline`).
    valid_for: Duration,
}

impl Fence {
    /// A fence valid `valid_for` after each renewal, not held yet.
    pub fn new(valid_for: Duration) -> Fence {
        Fence {
            renewed: Arc::default(),
            valid_for,
        }
    }

    /// A fence that always holds, for a leader context built without an election (tests).
    pub fn always() -> Fence {
        let f = Fence::new(Duration::MAX);
        f.renewed_at(Instant::now());
        f
    }

    /// Whether a write issued now is still covered by the last renewal.
    pub fn holds(&self) -> bool {
        self.renewed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < self.valid_for)
    }

    fn renewed_at(&self, at: Instant) {
        *self.renewed.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    fn clear(&self) {
        *self.renewed.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Runs the election for `identity` on the Lease `name` until `shutdown` fires, publishing
/// whether we lead on the returned channel.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: LeaseTiming,
    leading: watch::Sender<bool>,
    fence: Fence,
}

impl Elector {
    /// An elector on Lease `name` in the Api's namespace.
    pub fn new(
        api: Api<Lease>,
        name: impl Into<String>,
        identity: impl Into<String>,
        timing: LeaseTiming,
    ) -> (Elector, watch::Receiver<bool>) {
        let (leading, rx) = watch::channel(false);
        (
            Elector {
                api,
                name: name.into(),
                identity: identity.into(),
                timing,
                leading,
                fence: Fence::new(timing.renew_deadline),
            },
            rx,
        )
    }

    /// The fence the leader's writers check; it holds only within `renew_deadline` of the
    /// start of the last successful round.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    /// One round: read, decide, write. Returns whether we lead afterwards, or the API error.
    /// `seen` is the last record observed with the local time it was first seen.
    pub async fn try_once(
        &self,
        seen: &mut Option<(LeaseSpec, Instant)>,
    ) -> Result<bool, kube::Error> {
        let lease = self.api.get_opt(&self.name).await?;
        let spec = lease.as_ref().and_then(|l| l.spec.clone());
        let now = Instant::now();
        let unchanged_for = match (seen.as_ref(), spec.as_ref()) {
            (Some((old, at)), Some(new)) if same_record(old, new) => now - *at,
            (_, Some(new)) => {
                *seen = Some((new.clone(), now));
                Duration::ZERO
            }
            (_, None) => Duration::ZERO,
        };
        let decision = decide(
            spec.as_ref(),
            &self.identity,
            unchanged_for,
            self.timing.lease_duration,
        );
        let Some(new_spec) = next_spec(
            spec.as_ref(),
            &decision,
            &self.identity,
            &self.timing,
            Timestamp::now(),
        ) else {
            return Ok(false);
        };
        let result = match lease {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(new_spec.clone()),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Some(mut lease) => {
                // metadata.resourceVersion is kept: a concurrent writer makes this a 409.
                lease.spec = Some(new_spec.clone());
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match result {
            Ok(_) => {
                *seen = Some((new_spec, Instant::now()));
                if decision != Decision::Renew {
                    info!(identity = %self.identity, lease = %self.name, ?decision, "acquired the leader lease");
                }
                Ok(true)
            }
            // Someone else wrote first: we are not leader this round.
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Campaigns and renews until `shutdown` resolves, then releases the Lease if held.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut seen = None;
        let mut last_renew: Option<Instant> = None;
        loop {
            // Validity counts from before the request: the write may land at any moment
            // until the answer comes back.
            let started = Instant::now();
            let round =
                tokio::time::timeout(self.timing.renew_deadline, self.try_once(&mut seen)).await;
            let leading = match round {
                Ok(Ok(true)) => {
                    last_renew = Some(started);
                    self.fence.renewed_at(started);
                    true
                }
                Ok(Ok(false)) => {
                    last_renew = None;
                    self.fence.clear();
                    false
                }
                Ok(Err(e)) => {
                    warn!(error = %e, "cannot read or write the leader lease");
                    // Keep leading only while the last renewal is within the deadline.
                    last_renew.is_some_and(|t| t.elapsed() < self.timing.renew_deadline)
                }
                Err(_) => {
                    warn!(
                        timeout = ?self.timing.renew_deadline,
                        "the API server did not answer the leader lease round in time"
                    );
                    last_renew.is_some_and(|t| t.elapsed() < self.timing.renew_deadline)
                }
            };
            if !leading {
                self.fence.clear();
            }
            if *self.leading.borrow() != leading {
                if !leading {
                    warn!(identity = %self.identity, "lost the leader lease; stopping allocation");
                }
                let _ = self.leading.send(leading);
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.timing.retry_period) => {}
            }
        }
        if *self.leading.borrow() {
            self.fence.clear();
            let _ = self.leading.send(false);
            // Bounded like every round: a dead API server must not hold up the shutdown.
            let _ = tokio::time::timeout(self.timing.renew_deadline, self.release()).await;
        }
    }

    /// Gives the Lease up (empty holder, 1 s duration), as client-go's ReleaseOnCancel does.
    async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let ours = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.identity.as_str());
        if !ours {
            return;
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(Timestamp::now()));
        }
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => info!("released the leader lease"),
            Err(e) => warn!(error = %e, "cannot release the leader lease"),
        }
    }
}

/// Two reads show the same record when holder and renew time are equal.
fn same_record(a: &LeaseSpec, b: &LeaseSpec) -> bool {
    a.holder_identity == b.holder_identity
        && a.renew_time == b.renew_time
        && a.lease_transitions == b.lease_transitions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(holder: &str, secs: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(secs),
            ..LeaseSpec::default()
        }
    }

    /// (case, lease, unchanged for, expected)
    #[test]
    fn decision_table() {
        let d15 = Duration::from_secs(15);
        let cases = [
            ("no lease", None, Duration::ZERO, Decision::Create),
            (
                "ours",
                Some(held_by("a", 15)),
                Duration::from_secs(60),
                Decision::Renew,
            ),
            (
                "empty holder",
                Some(held_by("", 15)),
                Duration::ZERO,
                Decision::TakeOver,
            ),
            (
                "other, fresh",
                Some(held_by("b", 15)),
                Duration::from_secs(14),
                Decision::Follow { holder: "b".into() },
            ),
            (
                "other, exactly at the duration: still valid",
                Some(held_by("b", 15)),
                d15,
                Decision::Follow { holder: "b".into() },
            ),
            (
                "other, expired",
                Some(held_by("b", 15)),
                Duration::from_secs(16),
                Decision::TakeOver,
            ),
            (
                "other, its own longer duration counts",
                Some(held_by("b", 60)),
                Duration::from_secs(30),
                Decision::Follow { holder: "b".into() },
            ),
            (
                "other, released (1 s)",
                Some(held_by("b", 1)),
                Duration::from_secs(2),
                Decision::TakeOver,
            ),
        ];
        for (case, lease, age, want) in cases {
            assert_eq!(decide(lease.as_ref(), "a", age, d15), want, "{case}");
        }
    }

    #[test]
    fn takeover_counts_transitions_and_renew_keeps_acquire_time() {
        let timing = LeaseTiming::default();
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-01-01T00:00:05Z".parse().unwrap();
        let mut old = held_by("b", 15);
        old.lease_transitions = Some(4);
        let taken = next_spec(Some(&old), &Decision::TakeOver, "a", &timing, t0).unwrap();
        assert_eq!(taken.holder_identity.as_deref(), Some("a"));
        assert_eq!(taken.lease_transitions, Some(5));
        assert_eq!(taken.acquire_time, Some(MicroTime(t0)));
        let renewed = next_spec(Some(&taken), &Decision::Renew, "a", &timing, t1).unwrap();
        assert_eq!(renewed.acquire_time, Some(MicroTime(t0)));
        assert_eq!(renewed.renew_time, Some(MicroTime(t1)));
        assert_eq!(renewed.lease_transitions, Some(5));
        let created = next_spec(None, &Decision::Create, "a", &timing, t0).unwrap();
        assert_eq!(created.lease_transitions, Some(0));
        assert_eq!(created.lease_duration_seconds, Some(15));
        assert!(next_spec(
            None,
            &Decision::Follow { holder: "b".into() },
            "a",
            &timing,
            t0
        )
        .is_none());
    }
}
