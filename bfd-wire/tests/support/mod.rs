//! A two-session harness stepped with simulated time: packets cross a link with a delay
//! and may be dropped per direction; every transmit and event is logged with its instant.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use bfd_wire::{ControlPacket, Event, Session, SessionConfig};

pub const A_DISCR: u32 = 0x0000_0a0a;
pub const B_DISCR: u32 = 0x0000_0b0b;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// One end of the pair: its session and what it did.
pub struct End {
    pub session: Session,
    /// Every packet it sent, with the instant.
    pub sent: Vec<(Instant, ControlPacket)>,
    /// Every event it gave, with the instant.
    pub events: Vec<(Instant, Event)>,
    /// Drop everything this end sends.
    pub drop_outgoing: bool,
}

impl End {
    /// Instants of its periodic packets (answers with Final left out) since `from`.
    pub fn periodic_since(&self, from: Instant) -> Vec<Instant> {
        self.sent
            .iter()
            .filter(|(t, p)| *t >= from && !p.final_)
            .map(|(t, _)| *t)
            .collect()
    }

    /// Its state changes since `from`, as (from, to, diag).
    pub fn changes_since(
        &self,
        from: Instant,
    ) -> Vec<(bfd_wire::State, bfd_wire::State, bfd_wire::Diag)> {
        self.events
            .iter()
            .filter(|(t, _)| *t >= from)
            .filter_map(|(_, e)| match *e {
                Event::StateChanged { from, to, diag } => Some((from, to, diag)),
                _ => None,
            })
            .collect()
    }
}

pub struct Pair {
    pub t0: Instant,
    pub now: Instant,
    pub a: End,
    pub b: End,
    /// One-way delay of the link.
    pub delay: Duration,
    in_flight: Vec<(Instant, Side, ControlPacket)>,
}

impl Pair {
    /// Two sessions created at `t0`; nothing has run yet.
    pub fn new(a: SessionConfig, b: SessionConfig) -> Pair {
        let t0 = Instant::now();
        let end = |discr, config, seed| End {
            session: Session::new(discr, config, seed, t0).expect("valid config"),
            sent: Vec::new(),
            events: Vec::new(),
            drop_outgoing: false,
        };
        Pair {
            t0,
            now: t0,
            a: end(A_DISCR, a, 1),
            b: end(B_DISCR, b, 2),
            delay: Duration::from_millis(1),
            in_flight: Vec::new(),
        }
    }

    pub fn end(&mut self, side: Side) -> &mut End {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Runs until `until`, handling every deadline and delivery in time order.
    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..1_000_000 {
            let next = self.next_instant();
            match next {
                Some(t) if t <= until => {
                    assert!(
                        t >= self.now,
                        "a deadline in the past: {t:?} < {:?}",
                        self.now
                    );
                    self.now = t;
                    self.settle();
                }
                _ => {
                    self.now = until;
                    self.settle();
                    return;
                }
            }
        }
        panic!("no progress: the sessions keep asking for the same instant");
    }

    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Runs until `cond` holds (checked after every step) or `max` passes; returns how long
    /// it took.
    pub fn run_until_cond(
        &mut self,
        max: Duration,
        cond: impl Fn(&Pair) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let end = start + max;
        while self.now < end {
            if cond(self) {
                return Some(self.now - start);
            }
            let step = self.next_instant().unwrap_or(end).min(end);
            self.run_until(step);
        }
        cond(self).then(|| self.now - start)
    }

    /// The earliest deadline of either session or delivery on the link.
    fn next_instant(&self) -> Option<Instant> {
        let deliveries = self.in_flight.iter().map(|(t, _, _)| *t).min();
        [
            self.a.session.poll_timeout(),
            self.b.session.poll_timeout(),
            deliveries,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Delivers what has arrived, fires due timeouts, and drains every output, until
    /// nothing more happens at this instant.
    fn settle(&mut self) {
        let now = self.now;
        loop {
            let mut busy = false;
            let arrived: Vec<_> = self
                .in_flight
                .iter()
                .filter(|(t, _, _)| *t <= now)
                .cloned()
                .collect();
            self.in_flight.retain(|(t, _, _)| *t > now);
            for (_, to, p) in arrived {
                busy = true;
                let _ = self.end(to).session.handle_packet(now, &p);
            }
            for side in [Side::A, Side::B] {
                let delay = self.delay;
                let end = self.end(side);
                if end.session.poll_timeout().is_some_and(|t| t <= now) {
                    end.session.handle_timeout(now);
                }
                let mut out = Vec::new();
                while let Some(p) = end.session.poll_transmit(now) {
                    end.sent.push((now, p.clone()));
                    if !end.drop_outgoing {
                        out.push(p);
                    }
                }
                while let Some(e) = end.session.poll_event() {
                    end.events.push((now, e));
                }
                let to = if side == Side::A { Side::B } else { Side::A };
                for p in out {
                    self.in_flight.push((now + delay, to, p));
                }
            }
            if !busy {
                return;
            }
        }
    }
}
