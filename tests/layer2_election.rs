//! The layer-2 election as a pure state machine: a table of steps with simulated time, and
//! a simulation of replicas sharing one compare-and-swap lease store with random API
//! latency, failures, lost responses and deaths, checking that two replicas never answer
//! at once and that a survivor takes over in time.

use std::time::{Duration, Instant, SystemTime};

use porter::layer2::election::{
    ElectionTimings, Elector, LeaseRecord, TimingsError, Write, WriteFailure, WriteKind,
};
use proptest::prelude::*;

const ME: &str = "node-a";
const OTHER: &str = "node-b";

/// One input or expectation, at a time in milliseconds from the start.
#[derive(Clone, Debug)]
enum Step {
    Eligible(u64, bool),
    Observe(u64, Option<LeaseRecord>),
    /// `poll_write` must return a write of this kind (or nothing).
    Poll(u64, Option<WriteKind>),
    Succeed(u64),
    Fail(u64, WriteFailure),
    Owner(u64, bool),
}
use Step::*;

fn wall(seconds_from_epoch: i64) -> SystemTime {
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    if seconds_from_epoch >= 0 {
        base + Duration::from_secs(seconds_from_epoch as u64)
    } else {
        base - Duration::from_secs(seconds_from_epoch.unsigned_abs())
    }
}

/// A lease held by `holder`, renewed at wall time `renewed` (seconds), for `seconds`.
fn held(holder: &str, renewed: i64, seconds: u32) -> Option<LeaseRecord> {
    Some(LeaseRecord {
        holder: Some(holder.into()),
        acquire_time: Some(wall(0)),
        renew_time: Some(wall(renewed)),
        lease_duration_seconds: seconds,
        lease_transitions: 3,
    })
}

fn released() -> Option<LeaseRecord> {
    Some(LeaseRecord {
        holder: None,
        acquire_time: Some(wall(0)),
        renew_time: Some(wall(5)),
        lease_duration_seconds: 4,
        lease_transitions: 3,
    })
}

/// The steps that make ME the holder at 0 ms (write answered at 20 ms).
fn acquired() -> Vec<Step> {
    vec![
        Eligible(0, true),
        Observe(0, None),
        Poll(0, Some(WriteKind::Create)),
        Succeed(20),
    ]
}

fn with(mut head: Vec<Step>, tail: Vec<Step>) -> Vec<Step> {
    head.extend(tail);
    head
}

fn run_table(name: &str, steps: &[Step]) {
    let start = Instant::now();
    let at = |ms: u64| start + Duration::from_millis(ms);
    let mut e = Elector::new(ME, ElectionTimings::default()).unwrap();
    for (i, step) in steps.iter().enumerate() {
        match step.clone() {
            Eligible(t, v) => e.set_eligible(at(t), v),
            Observe(t, r) => e.observe(at(t), r),
            Poll(t, want) => {
                let got = e.poll_write(at(t), wall(t as i64 / 1000)).map(|w| w.kind);
                assert_eq!(got, want, "{name}: step {i} {step:?}");
            }
            Succeed(t) => e.write_succeeded(at(t)),
            Fail(t, f) => e.write_failed(at(t), f),
            Owner(t, want) => {
                assert_eq!(e.is_owner(at(t)), want, "{name}: step {i} {step:?}");
            }
        }
    }
}

#[test]
fn election_table() {
    use WriteKind::*;
    let rows: Vec<(&str, Vec<Step>)> = vec![
        (
            "acquire: creates a missing lease, answers only once the write succeeded",
            vec![
                Eligible(0, true),
                Observe(0, None),
                Owner(0, false),
                Poll(0, Some(Create)),
                Owner(10, false),
                Succeed(20),
                Owner(20, true),
                // Own deadline: write start (0) + 4 s − 1 s.
                Owner(2_999, true),
                Owner(3_000, false),
            ],
        ),
        (
            "acquire: takes a released lease at once",
            vec![
                Eligible(0, true),
                Observe(0, released()),
                Poll(0, Some(Acquire)),
                Succeed(30),
                Owner(30, true),
            ],
        ),
        (
            "acquire: nothing is written before the first read",
            vec![Eligible(0, true), Poll(0, None), Owner(0, false)],
        ),
        (
            "acquire: one write at a time",
            vec![
                Eligible(0, true),
                Observe(0, None),
                Poll(0, Some(Create)),
                Poll(5_000, None),
                Succeed(5_000),
            ],
        ),
        (
            "renew: every retry period, each success moves the deadline",
            with(
                acquired(),
                vec![
                    Poll(500, None),
                    Poll(1_000, Some(Renew)),
                    Succeed(1_010),
                    Owner(3_999, true),
                    Owner(4_000, false),
                ],
            ),
        ),
        (
            "renew: a slow success counts from when the write was sent",
            with(
                acquired(),
                vec![
                    Poll(1_000, Some(Renew)),
                    Succeed(2_900),
                    Owner(3_999, true),
                    Owner(4_000, false),
                ],
            ),
        ),
        (
            "renew: a replica restarted under the same name renews its record before answering",
            vec![
                Eligible(0, true),
                Observe(0, held(ME, 0, 4)),
                Owner(0, false),
                Poll(0, Some(Renew)),
                Succeed(10),
                Owner(10, true),
            ],
        ),
        (
            "cannot renew: stops answering at its own deadline, before the lease can expire",
            with(
                acquired(),
                vec![
                    Poll(1_000, Some(Renew)),
                    Fail(1_200, WriteFailure::Other),
                    Owner(2_000, true),
                    Poll(2_000, Some(Renew)),
                    Fail(2_400, WriteFailure::Other),
                    Owner(2_999, true),
                    Owner(3_000, false),
                    // A later renewal that succeeds (nobody took it) resumes answering.
                    Poll(3_000, Some(Renew)),
                    Succeed(3_050),
                    Owner(3_050, true),
                ],
            ),
        ),
        (
            "lose: a read showing another holder stops answering at once",
            with(
                acquired(),
                vec![
                    Owner(1_500, true),
                    Observe(1_500, held(OTHER, 10, 4)),
                    Owner(1_500, false),
                    Poll(2_000, None),
                ],
            ),
        ),
        (
            "lose: a conflict on renew stops answering at once",
            with(
                acquired(),
                vec![
                    Poll(1_000, Some(Renew)),
                    Fail(1_100, WriteFailure::Conflict),
                    Owner(1_100, false),
                    // Re-read: still ours (someone else's write did not take it): renew.
                    Observe(1_200, held(ME, 1, 4)),
                    Poll(2_000, Some(Renew)),
                    Succeed(2_010),
                    Owner(2_010, true),
                ],
            ),
        ),
        (
            "expire: another holder's unchanged lease is taken after its duration, not before",
            vec![
                Eligible(0, true),
                Observe(0, held(OTHER, 0, 4)),
                Poll(0, None),
                Observe(3_999, held(OTHER, 0, 4)),
                Poll(3_999, None),
                Poll(4_000, Some(Acquire)),
                Succeed(4_020),
                Owner(4_020, true),
            ],
        ),
        (
            "expire: a holder that keeps renewing is never taken over",
            vec![
                Eligible(0, true),
                Observe(0, held(OTHER, 0, 4)),
                Observe(3_000, held(OTHER, 3, 4)),
                Poll(4_000, None),
                Observe(6_000, held(OTHER, 6, 4)),
                Poll(7_000, None),
                Poll(9_999, None),
                Poll(10_000, Some(Acquire)),
            ],
        ),
        (
            "expire: the record's own duration is used, not ours",
            vec![
                Eligible(0, true),
                Observe(0, held(OTHER, 0, 10)),
                Poll(4_000, None),
                Poll(9_999, None),
                Poll(10_000, Some(Acquire)),
            ],
        ),
        (
            "clock skew: a renewTime an hour in the future does not keep a dead holder alive",
            vec![
                Eligible(0, true),
                Observe(0, held(OTHER, 3_600, 4)),
                Poll(3_999, None),
                Poll(4_000, Some(Acquire)),
            ],
        ),
        (
            "clock skew: a renewTime an hour in the past does not end a live holder",
            vec![
                Eligible(0, true),
                Observe(0, held(OTHER, -3_600, 4)),
                Observe(1_000, held(OTHER, -3_599, 4)),
                Observe(2_000, held(OTHER, -3_598, 4)),
                Observe(3_000, held(OTHER, -3_597, 4)),
                Observe(4_000, held(OTHER, -3_596, 4)),
                Poll(4_000, None),
                Poll(7_999, None),
            ],
        ),
        (
            "not eligible: never creates, acquires or takes an expired lease",
            vec![
                Eligible(0, false),
                Observe(0, None),
                Poll(0, None),
                Observe(100, released()),
                Poll(100, None),
                Observe(200, held(OTHER, 0, 4)),
                Poll(10_000, None),
                Owner(10_000, false),
            ],
        ),
        (
            "not eligible: a holder that becomes ineligible stops at once and releases",
            with(
                acquired(),
                vec![
                    Owner(1_500, true),
                    Eligible(1_500, false),
                    Owner(1_500, false),
                    Poll(1_500, Some(Release)),
                    Succeed(1_510),
                    Owner(1_510, false),
                    Poll(3_000, None),
                    // Eligible again: the released lease is free to take.
                    Eligible(3_000, true),
                    Poll(3_000, Some(Acquire)),
                    Succeed(3_010),
                    Owner(3_010, true),
                ],
            ),
        ),
    ];
    for (name, steps) in &rows {
        run_table(name, steps);
    }
}

#[test]
fn written_records_carry_holder_times_and_transitions() {
    let t0 = Instant::now();
    let mut e = Elector::new(ME, ElectionTimings::default()).unwrap();
    e.set_eligible(t0, true);
    e.observe(t0, held(OTHER, 0, 4));
    let expired = t0 + Duration::from_secs(4);
    let Some(Write { kind, record }) = e.poll_write(expired, wall(100)) else {
        panic!("expired lease is taken")
    };
    assert_eq!(kind, WriteKind::Acquire);
    assert_eq!(
        record,
        LeaseRecord {
            holder: Some(ME.into()),
            acquire_time: Some(wall(100)),
            renew_time: Some(wall(100)),
            lease_duration_seconds: 4,
            lease_transitions: 4,
        }
    );
    e.write_succeeded(expired);
    assert_eq!(e.observed_holder(), Some(ME));
    let renew_at = expired + Duration::from_secs(1);
    let renew = e.poll_write(renew_at, wall(101)).unwrap();
    assert_eq!(renew.kind, WriteKind::Renew);
    assert_eq!(
        renew.record.acquire_time,
        Some(wall(100)),
        "acquireTime kept"
    );
    assert_eq!(renew.record.renew_time, Some(wall(101)));
    assert_eq!(
        renew.record.lease_transitions, 4,
        "renewing is no transition"
    );
    e.write_succeeded(renew_at);
    e.set_eligible(renew_at, false);
    let release = e.poll_write(renew_at, wall(102)).unwrap();
    assert_eq!(release.kind, WriteKind::Release);
    assert_eq!(release.record.holder, None);
}

#[test]
fn poll_timeout_wakes_for_retry_expiry_and_own_deadline() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut e = Elector::new(ME, ElectionTimings::default()).unwrap();
    e.set_eligible(t0, false);
    e.observe(t0, held(OTHER, 0, 4));
    // Ineligible and nothing to do: it still re-reads each retry period.
    assert!(e.poll_write(t0, wall(0)).is_none());
    e.set_eligible(ms(500), true);
    assert_eq!(
        e.poll_timeout(ms(500)),
        Some(ms(500)),
        "act at once on eligibility"
    );
    assert!(e.poll_write(ms(500), wall(0)).is_none(), "not expired yet");
    assert_eq!(
        e.poll_timeout(ms(500)),
        Some(ms(1_500)),
        "next read a retry period later"
    );
    e.observe(ms(3_700), held(OTHER, 0, 4));
    assert!(e.poll_write(ms(3_700), wall(3)).is_none());
    // Next retry at 4 700 ms, expiry at 4 000 ms: the earlier wins.
    assert_eq!(e.poll_timeout(ms(3_700)), Some(ms(4_000)));
    assert_eq!(
        e.poll_write(ms(4_000), wall(4)).map(|w| w.kind),
        Some(WriteKind::Acquire),
        "taken at the wake-up for expiry, without waiting for the retry period"
    );
    let mut e = Elector::new(ME, ElectionTimings::default()).unwrap();
    e.set_eligible(t0, true);
    e.observe(t0, None);
    assert!(e.poll_write(t0, wall(0)).is_some());
    assert_eq!(e.poll_timeout(t0), None, "a write is in flight");
    e.write_succeeded(ms(10));
    assert_eq!(e.owner_deadline(), Some(ms(3_000)));
    assert_eq!(e.poll_timeout(ms(10)), Some(ms(1_000)), "next renewal");
}

#[test]
fn timings_must_leave_room_for_a_renewal_before_the_deadline() {
    let ok = ElectionTimings::default();
    assert_eq!(ok.validate(), Ok(()));
    let bad = |lease_ms: u64, retry_ms: u64, margin_ms: u64| {
        ElectionTimings {
            lease_duration: Duration::from_millis(lease_ms),
            retry_period: Duration::from_millis(retry_ms),
            safety_margin: Duration::from_millis(margin_ms),
        }
        .validate()
        .unwrap_err()
    };
    assert!(matches!(
        bad(1_500, 100, 100),
        TimingsError::LeaseDuration(_)
    ));
    assert!(matches!(bad(0, 100, 100), TimingsError::LeaseDuration(_)));
    assert!(matches!(bad(4_000, 0, 100), TimingsError::RetryPeriod));
    assert!(matches!(
        bad(4_000, 1_000, 0),
        TimingsError::SafetyMargin { .. }
    ));
    assert!(matches!(
        bad(4_000, 1_000, 4_000),
        TimingsError::SafetyMargin { .. }
    ));
    assert!(matches!(
        bad(4_000, 3_000, 1_000),
        TimingsError::NoRenewWindow { .. }
    ));
    assert!(Elector::new(
        ME,
        ElectionTimings {
            retry_period: Duration::ZERO,
            ..ok
        }
    )
    .is_err());
}

// ---------------------------------------------------------------------------------------
// Simulation: replicas sharing one lease store.

/// The API server: one record, a version bumped on every write, compare-and-swap.
#[derive(Default)]
struct Store {
    record: Option<LeaseRecord>,
    version: u64,
}

/// What happens to one API request.
#[derive(Clone, Copy, Debug)]
struct Fate {
    /// Time to reach the server (ms).
    to_server: u64,
    /// Time for the answer to come back (ms).
    to_client: u64,
    /// 0: normal; 1: never reaches the server, fails after the timeout; 2: applied but the
    /// answer is lost (fails after the timeout).
    kind: u8,
}

const TIMEOUT_MS: u64 = 800;

enum Op {
    Idle {
        wake: u64,
    },
    Reading {
        at_server: u64,
        done: u64,
        fate: Fate,
        seen: Option<(Option<LeaseRecord>, u64)>,
    },
    Writing {
        at_server: u64,
        done: u64,
        fate: Fate,
        write: Write,
        expected: u64,
        outcome: Option<Result<(), WriteFailure>>,
    },
}

struct Replica {
    elector: Elector,
    op: Op,
    version_read: u64,
    alive: bool,
    /// Wall-clock offset of this node (skew), seconds.
    skew: i64,
}

/// Runs `replicas` for `duration_ms`, killing replica `kill.0` at `kill.1` ms; returns the
/// first time after the kill that a survivor owned the address, and panics if two replicas
/// ever own it at the same millisecond.
fn simulate(
    n: usize,
    fates: &[Fate],
    kill: Option<(usize, u64)>,
    partition: Option<(usize, u64, u64)>,
    duration_ms: u64,
) -> Option<u64> {
    let start = Instant::now();
    let at = |ms: u64| start + Duration::from_millis(ms);
    let mut store = Store::default();
    let mut replicas: Vec<Replica> = (0..n)
        .map(|i| {
            let mut elector =
                Elector::new(format!("node-{i}"), ElectionTimings::default()).unwrap();
            elector.set_eligible(start, true);
            Replica {
                elector,
                op: Op::Idle {
                    wake: (i as u64) * 137,
                },
                version_read: 0,
                alive: true,
                skew: (i as i64 - 1) * 3_600,
            }
        })
        .collect();
    let mut fate_i = 0;
    let mut next_fate = |partitioned: bool| {
        let mut f = fates[fate_i % fates.len()];
        fate_i += 1;
        if partitioned {
            f.kind = 1;
        }
        f
    };
    let mut takeover = None;
    for now in 0..duration_ms {
        if let Some((k, t)) = kill {
            if now == t {
                replicas[k].alive = false;
            }
        }
        for (i, r) in replicas.iter_mut().enumerate() {
            if !r.alive {
                continue;
            }
            let partitioned =
                partition.is_some_and(|(p, from, to)| p == i && (from..to).contains(&now));
            let op = std::mem::replace(&mut r.op, Op::Idle { wake: u64::MAX });
            r.op = match op {
                Op::Idle { wake } if now >= wake => {
                    let fate = next_fate(partitioned);
                    Op::Reading {
                        at_server: now + fate.to_server,
                        done: now + fate.to_server + fate.to_client,
                        fate,
                        seen: None,
                    }
                }
                Op::Reading {
                    at_server,
                    done,
                    fate,
                    mut seen,
                } => {
                    if now == at_server && fate.kind != 1 {
                        seen = Some((store.record.clone(), store.version));
                    }
                    let finished = if fate.kind == 0 {
                        now >= done
                    } else {
                        now >= done.max(TIMEOUT_MS + at_server - fate.to_server)
                    };
                    if !finished {
                        Op::Reading {
                            at_server,
                            done,
                            fate,
                            seen,
                        }
                    } else {
                        match (fate.kind, seen) {
                            (0, Some((record, version))) => {
                                r.version_read = version;
                                r.elector.observe(at(now), record);
                                let wall = SystemTime::UNIX_EPOCH
                                    + Duration::from_secs(
                                        (1_800_000_000 + r.skew + (now / 1000) as i64) as u64,
                                    );
                                match r.elector.poll_write(at(now), wall) {
                                    Some(write) => {
                                        let fate = next_fate(partitioned);
                                        Op::Writing {
                                            at_server: now + fate.to_server,
                                            done: now + fate.to_server + fate.to_client,
                                            fate,
                                            write,
                                            expected: r.version_read,
                                            outcome: None,
                                        }
                                    }
                                    None => Op::Idle {
                                        wake: r
                                            .elector
                                            .poll_timeout(at(now))
                                            .map_or(now + 1000, |t| (t - start).as_millis() as u64),
                                    },
                                }
                            }
                            _ => Op::Idle {
                                wake: r
                                    .elector
                                    .poll_timeout(at(now))
                                    .map_or(now + 1000, |t| (t - start).as_millis() as u64),
                            },
                        }
                    }
                }
                Op::Writing {
                    at_server,
                    done,
                    fate,
                    write,
                    expected,
                    mut outcome,
                } => {
                    if now == at_server && fate.kind != 1 {
                        let ok = match write.kind {
                            WriteKind::Create => store.record.is_none(),
                            _ => store.version == expected && store.record.is_some(),
                        };
                        if ok {
                            store.record = Some(write.record.clone());
                            store.version += 1;
                        }
                        outcome = Some(if ok {
                            Ok(())
                        } else {
                            Err(WriteFailure::Conflict)
                        });
                    }
                    let finished = if fate.kind == 0 {
                        now >= done
                    } else {
                        now >= at_server - fate.to_server + TIMEOUT_MS
                    };
                    if !finished {
                        Op::Writing {
                            at_server,
                            done,
                            fate,
                            write,
                            expected,
                            outcome,
                        }
                    } else {
                        match (fate.kind, outcome) {
                            (0, Some(Ok(()))) => r.elector.write_succeeded(at(now)),
                            (0, Some(Err(f))) => r.elector.write_failed(at(now), f),
                            _ => r.elector.write_failed(at(now), WriteFailure::Other),
                        }
                        Op::Idle {
                            wake: r
                                .elector
                                .poll_timeout(at(now))
                                .map_or(now + 1000, |t| (t - start).as_millis() as u64),
                        }
                    }
                }
                idle => idle,
            };
        }
        let owners: Vec<usize> = replicas
            .iter()
            .enumerate()
            .filter(|(_, r)| r.alive && r.elector.is_owner(at(now)))
            .map(|(i, _)| i)
            .collect();
        assert!(
            owners.len() <= 1,
            "split brain at {now} ms: replicas {owners:?} both answer"
        );
        if let (Some((k, t)), None, [o]) = (kill, takeover, owners.as_slice()) {
            if now > t && *o != k {
                takeover = Some(now - t);
            }
        }
    }
    takeover
}

fn healthy() -> Vec<Fate> {
    vec![
        Fate {
            to_server: 5,
            to_client: 5,
            kind: 0,
        },
        Fate {
            to_server: 20,
            to_client: 10,
            kind: 0,
        },
    ]
}

#[test]
fn a_survivor_takes_over_within_lease_plus_retry_of_the_holders_death() {
    // Find who holds it at 10 s, kill it, measure.
    for victim in 0..3 {
        if let Some(took) = simulate(3, &healthy(), Some((victim, 10_000)), None, 30_000) {
            // Death → takeover: the lease duration (4 s) after the last renewal the
            // followers saw, plus at most one retry period of observation lag and a few
            // round trips. After the expiry itself, the survivor answers within 2 s.
            eprintln!("takeover {took} ms after the death of replica {victim}");
            assert!(
                took <= 4_000 + 1_000 + 200,
                "victim {victim}: takeover after {took} ms"
            );
            assert!(
                took >= 3_000 - 1_000,
                "victim {victim}: too early ({took} ms)"
            );
            return;
        }
    }
    panic!("no replica ever held the lease");
}

#[test]
fn a_partitioned_holder_stops_before_a_successor_starts() {
    // Partition each replica in turn for 8 s: whoever held it must fall silent before
    // anyone else answers (checked every millisecond by simulate).
    for p in 0..3 {
        simulate(3, &healthy(), None, Some((p, 5_000, 13_000)), 25_000);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random latencies (up to the 800 ms timeout), lost requests, applied-but-lost
    /// answers, a death and a partition: never two owners at once.
    #[test]
    fn never_two_owners_at_once(
        fates in prop::collection::vec(
            (1u64..400, 1u64..400, prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)])
                .prop_map(|(to_server, to_client, kind)| Fate { to_server, to_client, kind }),
            1..40,
        ),
        victim in 0usize..3,
        kill_at in 2_000u64..15_000,
        partitioned in 0usize..3,
        partition_from in 0u64..10_000,
        partition_len in 0u64..8_000,
    ) {
        simulate(
            3,
            &fates,
            Some((victim, kill_at)),
            Some((partitioned, partition_from, partition_from + partition_len)),
            20_000,
        );
    }
}
