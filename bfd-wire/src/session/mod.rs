//! Sans-IO BFD session in Asynchronous mode (RFC 5880 §6.2, §6.8).
//!
//! A [`Session`] is the state machine of one BFD session with one remote system. It performs
//! no I/O, reads no clock and draws no randomness of its own: every input carries the current
//! [`Instant`], the transmit jitter comes from a generator seeded by the caller, and every
//! output is something the caller polls for.
//!
//! Inputs:
//! - [`Session::handle_packet`]: one decoded Control packet ([`crate::decode`]) that the
//!   caller has matched to this session (single hop, RFC 5881: by Your Discriminator, or by
//!   addresses when it is zero); the §6.8.6 reception rules that need session state run here;
//! - [`Session::handle_timeout`]: the deadline from [`Session::poll_timeout`] has passed
//!   (detection time, §6.8.4);
//! - [`Session::set_config`] and [`Session::set_admin_down`]: the operator.
//!
//! Outputs, to drain after every input:
//! - [`Session::poll_transmit`]: Control packets to send now, periodic ones (§6.8.7) and the
//!   immediate answer with Final to a Poll;
//! - [`Session::poll_event`]: [`Event`]s, state changes with their diagnostic;
//! - [`Session::poll_timeout`]: when to call [`Session::handle_timeout`] and
//!   [`Session::poll_transmit`] next.
//!
//! # Driving a session
//!
//! An I/O task owns the sessions of one UDP socket and one timer per session. After each
//! input it sends every transmit, acts on the events, then re-arms the timer:
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use std::time::{Duration, Instant};
//! use bfd_wire::session::{Session, SessionConfig};
//!
//! let socket = UdpSocket::bind("0.0.0.0:3784").unwrap();
//! let peer = "10.0.0.2:3784";
//! let mut session = Session::new(1, SessionConfig::default(), 0x5eed, Instant::now()).unwrap();
//! let mut buf = [0u8; 512];
//! loop {
//!     // 1. Send what the session wants sent.
//!     while let Some(packet) = session.poll_transmit(Instant::now()) {
//!         let _ = socket.send_to(&packet.encode(), peer);
//!     }
//!     // 2. Act on its events.
//!     while let Some(event) = session.poll_event() {
//!         println!("{event:?}");
//!     }
//!     // 3. Wait for a packet or the deadline, whichever comes first.
//!     let wait = session
//!         .poll_timeout()
//!         .map_or(Duration::from_secs(1), |t| t.saturating_duration_since(Instant::now()));
//!     socket.set_read_timeout(Some(wait.max(Duration::from_micros(1)))).unwrap();
//!     match socket.recv(&mut buf) {
//!         Ok(n) => match bfd_wire::decode(&buf[..n]) {
//!             Ok(packet) => {
//!                 let _ = session.handle_packet(Instant::now(), &packet);
//!             }
//!             Err(e) => eprintln!("dropped: {}", e.reason()),
//!         },
//!         Err(_) => session.handle_timeout(Instant::now()),
//!     }
//! }
//! ```
//!
//! # Scope
//!
//! Asynchronous mode only. We never set the D bit and never ask for Echo packets (Required
//! Min Echo RX Interval is zero). A remote system that sets D gets what §6.8.7 says: once
//! both sessions are Up we stop periodic transmission unless a Poll Sequence is running. No
//! authentication is configured, so a packet with the A bit is discarded (§6.8.6).
//!
//! # Timers
//!
//! The transmit interval is the larger of our `bfd.DesiredMinTxInterval` and the remote
//! Required Min RX Interval, less 0–25 % jitter (§6.8.7). While the session is not Up, our
//! Desired Min TX is at least one second (§6.8.3). Besides the periodic packets, a session
//! sends one packet at once on each change of its state (as BIRD does, so that the handshake
//! takes one round trip rather than one interval per step) and the immediate answer to a
//! Poll that §6.8.7 requires; both are driven by received packets, at most one each per
//! packet received. A change of our intervals — by
//! [`Session::set_config`], or when entering or leaving Up — starts a Poll Sequence (§6.5);
//! while Up, a larger Desired Min TX and a smaller Required Min RX take effect only when the
//! Final arrives, so the remote system never times out on us during a change. The detection
//! time is the remote Detect Mult times the larger of our Required Min RX and the remote
//! Desired Min TX (§6.8.4).

mod config;
mod event;
mod jitter;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use config::{ConfigError, SessionConfig, MAX_INTERVAL};
pub use event::{Counters, Discard, Event};

use crate::packet::{ControlPacket, Diag, State, VERSION};
use jitter::Jitter;

/// §6.8.3: "When bfd.SessionState is not Up, the system MUST set bfd.DesiredMinTxInterval
/// to a value of not less than one second (1,000,000 microseconds)."
pub const SLOW_START_TX: Duration = Duration::from_secs(1);

/// One BFD session: the RFC 5880 §6.2 state machine in Asynchronous mode.
#[derive(Debug)]
pub struct Session {
    local_discriminator: u32,
    config: SessionConfig,
    phase: Phase,
    /// `bfd.LocalDiag`.
    local_diag: Diag,
    /// The intervals our packets carry.
    advertised: Intervals,
    /// The intervals our own timers use: equal to `advertised` except during a Poll
    /// Sequence that changes them while Up (§6.8.3).
    in_effect: Intervals,
    /// A Poll Sequence is running: our periodic packets carry P until a Final arrives.
    polling: bool,
    /// A Poll was received: the next transmit answers it with F, at once.
    final_pending: bool,
    /// When the next periodic packet is due.
    next_tx: Instant,
    jitter: Jitter,
    events: VecDeque<Event>,
    counters: Counters,
}

impl Session {
    /// A session in Down with no remote system known. Unless the configuration is passive,
    /// its first packet is due at `now`. `jitter_seed` seeds the transmit jitter; give each
    /// session its own.
    pub fn new(
        local_discriminator: u32,
        config: SessionConfig,
        jitter_seed: u64,
        now: Instant,
    ) -> Result<Session, ConfigError> {
        if local_discriminator == 0 {
            return Err(ConfigError::ZeroDiscriminator);
        }
        config.validate()?;
        let advertised = Intervals::target(&config, State::Down);
        Ok(Session {
            local_discriminator,
            config,
            phase: Phase::Down { remote: None },
            local_diag: Diag::None,
            advertised,
            in_effect: advertised,
            polling: false,
            final_pending: false,
            next_tx: now,
            jitter: Jitter::new(jitter_seed),
            events: VecDeque::new(),
            counters: Counters::default(),
        })
    }

    /// Feeds one received Control packet (RFC 5880 §6.8.6). `Err` says which rule discarded
    /// it; a discarded packet changes nothing, except in AdminDown, where the remote
    /// variables are updated first as the RFC orders.
    pub fn handle_packet(&mut self, now: Instant, packet: &ControlPacket) -> Result<(), Discard> {
        self.counters.packets_received += 1;
        let result = self.receive(now, packet);
        if result.is_err() {
            self.counters.packets_dropped += 1;
        }
        result
    }

    /// Handles the deadline of [`Session::poll_timeout`]: when the detection time has
    /// passed without a packet (§6.8.4), an Init or Up session goes Down with diagnostic 1,
    /// and the remote system is forgotten (§6.8.1: bfd.RemoteDiscr "MUST be set to zero if
    /// Detection Time passes without the receipt of a valid, authenticated BFD packet").
    /// Periodic transmission needs no call here: [`Session::poll_transmit`] hands out what
    /// is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.detection_deadline().is_none_or(|d| d > now) {
            return;
        }
        // Nobody is left to answer a Poll: the new intervals apply now.
        self.polling = false;
        self.in_effect = self.advertised;
        match self.phase.state() {
            State::Init | State::Up => {
                if self.phase.state() == State::Up {
                    self.counters.detection_timeouts += 1;
                }
                self.change(
                    now,
                    Phase::Down { remote: None },
                    Diag::ControlDetectionTimeExpired,
                );
            }
            State::Down => self.phase = Phase::Down { remote: None },
            State::AdminDown => self.phase = Phase::AdminDown { remote: None },
        }
    }

    /// The next instant at which [`Session::handle_timeout`] or [`Session::poll_transmit`]
    /// has work: the detection deadline or the next periodic packet. `None` when neither
    /// runs (a passive session that has heard nothing). An answer to a Poll is due at once
    /// and is not reflected here: drain `poll_transmit` after every input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tx = self.may_transmit_periodic().then_some(self.next_tx);
        match (tx, self.detection_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next Control packet to send at `now`, if any: first the answer to a received
    /// Poll (Final set, Poll clear: §6.8.7 "as soon as practicable, without respect to the
    /// transmission timer"), then the periodic packet when it is due, which also schedules
    /// the next one (the negotiated interval less jitter).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<ControlPacket> {
        if self.final_pending {
            self.final_pending = false;
            return Some(self.sent(true));
        }
        if !self.may_transmit_periodic() || self.next_tx > now {
            return None;
        }
        let interval = self.negotiated_tx_interval();
        self.next_tx = now + self.jitter.apply(interval, self.config.detect_mult);
        Some(self.sent(false))
    }

    /// The next event, in the order they happened.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Changes the local parameters without taking the session down. Changed intervals
    /// start a Poll Sequence (§6.8.3), and our next packet, carrying them with P, is due at
    /// once.
    pub fn set_config(&mut self, now: Instant, config: SessionConfig) -> Result<(), ConfigError> {
        config.validate()?;
        self.config = config;
        self.retime(now);
        Ok(())
    }

    /// Takes the session administratively down or back (§6.8.16). Down: the state becomes
    /// AdminDown with diagnostic 7, and periodic packets go on saying so (a remote system
    /// that misses them would see a detection timeout, a failure, instead). Back: the state
    /// becomes Down and the session may come up again.
    pub fn set_admin_down(&mut self, now: Instant, down: bool) {
        let state = self.phase.state();
        if down && state != State::AdminDown {
            let remote = self.phase.remote().copied();
            self.change(now, Phase::AdminDown { remote }, Diag::AdministrativelyDown);
        } else if !down && state == State::AdminDown {
            let remote = self.phase.remote().copied();
            self.change(now, Phase::Down { remote }, Diag::None);
        }
    }

    /// `bfd.SessionState`.
    pub fn state(&self) -> State {
        self.phase.state()
    }

    /// `bfd.LocalDiag`: why the session last changed state (None after coming up).
    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }

    /// `bfd.RemoteSessionState`: the state in the last accepted packet, Down when no remote
    /// system is known.
    pub fn remote_state(&self) -> State {
        self.phase.remote().map_or(State::Down, |r| r.state)
    }

    /// `bfd.LocalDiscr`.
    pub fn local_discriminator(&self) -> u32 {
        self.local_discriminator
    }

    /// `bfd.RemoteDiscr`, zero when no remote system is known.
    pub fn remote_discriminator(&self) -> u32 {
        self.phase.remote().map_or(0, |r| r.discriminator)
    }

    /// The diagnostic of the last accepted packet (why the remote session last changed
    /// state), `Diag::None` when no remote system is known.
    pub fn remote_diag(&self) -> Diag {
        self.phase.remote().map_or(Diag::None, |r| r.diag)
    }

    /// The interval between our periodic packets before jitter (§6.8.7): the larger of our
    /// Desired Min TX in effect and the remote Required Min RX.
    pub fn negotiated_tx_interval(&self) -> Duration {
        let remote_rx = self
            .phase
            .remote()
            .map_or(Duration::from_micros(1), |r| r.required_min_rx);
        self.in_effect.desired_min_tx.max(remote_rx)
    }

    /// The interval at which we expect the remote system's packets, before its jitter: the
    /// larger of our Required Min RX in effect and the remote Desired Min TX (the "agreed
    /// transmit interval of the remote system" of §6.8.4). Our Required Min RX when no
    /// remote system is known.
    pub fn negotiated_rx_interval(&self) -> Duration {
        let remote_tx = self
            .phase
            .remote()
            .map_or(Duration::ZERO, |r| r.desired_min_tx);
        self.in_effect.required_min_rx.max(remote_tx)
    }

    /// The detection time (§6.8.4): the remote Detect Mult times the larger of our Required
    /// Min RX in effect and the remote Desired Min TX. Zero when no remote system is known.
    pub fn detection_time(&self) -> Duration {
        self.phase.remote().map_or(Duration::ZERO, |r| {
            self.negotiated_rx_interval() * u32::from(r.detect_mult)
        })
    }

    /// The configuration given last.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Whether a Poll Sequence of ours is waiting for its Final.
    pub fn is_polling(&self) -> bool {
        self.polling
    }

    /// Counters for metrics.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    // ---- helpers ----

    /// The rules of §6.8.6 after the packet-only checks, in the RFC's order.
    fn receive(&mut self, now: Instant, p: &ControlPacket) -> Result<(), Discard> {
        p.validate().map_err(Discard::Malformed)?;
        // "If the Your Discriminator field is nonzero, it MUST be used to select the session
        // with which this BFD packet is associated. If no session is found, the packet MUST
        // be discarded."
        if p.your_discriminator != 0 && p.your_discriminator != self.local_discriminator {
            return Err(Discard::DiscriminatorMismatch {
                ours: self.local_discriminator,
                got: p.your_discriminator,
            });
        }
        // "If the Your Discriminator field is zero and the State field is not Down or
        // AdminDown, the packet MUST be discarded."
        if p.your_discriminator == 0 && matches!(p.state, State::Init | State::Up) {
            return Err(Discard::ZeroYourDiscriminator(p.state));
        }
        // "If the A bit is set and no authentication is in use (bfd.AuthType is zero), the
        // packet MUST be discarded."
        if p.auth.is_some() {
            return Err(Discard::AuthNotConfigured);
        }
        // Set bfd.RemoteDiscr, bfd.RemoteSessionState, bfd.RemoteDemandMode,
        // bfd.RemoteMinRxInterval; the packet counts as received for §6.8.4.
        let remote = Remote::from_packet(p, now);
        // "If a BFD Control packet is received with the Final (F) bit set to one, and a
        // Poll Sequence is in progress, the Poll Sequence MUST be terminated."
        if p.final_ && self.polling {
            self.polling = false;
            self.in_effect = self.advertised;
        }
        let from = self.phase.state();
        // "If bfd.SessionState is AdminDown: Discard the packet"
        if from == State::AdminDown {
            self.phase = Phase::AdminDown {
                remote: Some(remote),
            };
            return Err(Discard::AdminDown);
        }
        // "If a BFD Control packet is received with the Poll (P) bit set to 1, the receiving
        // system MUST transmit a BFD Control packet with the Poll (P) bit clear and the
        // Final (F) bit set as soon as practicable" (§6.8.7)
        if p.poll {
            self.final_pending = true;
        }
        match receive_transition(from, p.state) {
            Some((to, diag)) => {
                if p.state == State::AdminDown {
                    self.events.push_back(Event::RemoteAdminDown);
                }
                self.change(now, Phase::with_remote(to, remote), diag);
            }
            None => self.phase.set_remote(remote),
        }
        Ok(())
    }

    /// Moves to `phase`, recording the event and counters; our next packet, telling the
    /// remote system, is due at once.
    fn change(&mut self, now: Instant, phase: Phase, diag: Diag) {
        let from = self.phase.state();
        self.phase = phase;
        let to = self.phase.state();
        self.local_diag = diag;
        if to == State::Up {
            self.counters.up_events += 1;
        } else if from == State::Up {
            self.counters.down_events += 1;
        }
        self.events
            .push_back(Event::StateChanged { from, to, diag });
        self.next_tx = now;
        self.retime(now);
    }

    /// Recomputes the intervals to advertise after a state or configuration change, and
    /// starts a Poll Sequence when they changed (§6.8.3: "If either
    /// bfd.DesiredMinTxInterval is changed or bfd.RequiredMinRxInterval is changed, a Poll
    /// Sequence MUST be initiated").
    fn retime(&mut self, now: Instant) {
        let target = Intervals::target(&self.config, self.phase.state());
        if target == self.advertised {
            return;
        }
        self.advertised = target;
        if self.phase.state() == State::Up {
            // "If bfd.DesiredMinTxInterval is increased and bfd.SessionState is Up, the
            // actual transmission interval used MUST NOT change until the Poll Sequence
            // described above has terminated." "If bfd.RequiredMinRxInterval is reduced and
            // bfd.SessionState is Up, the previous value of bfd.RequiredMinRxInterval MUST
            // be used when calculating the Detection Time for the remote system until the
            // Poll Sequence described above has terminated."
            self.in_effect = Intervals {
                desired_min_tx: target.desired_min_tx.min(self.in_effect.desired_min_tx),
                required_min_rx: target.required_min_rx.max(self.in_effect.required_min_rx),
            };
        } else {
            self.in_effect = target;
        }
        // With no remote system known nobody would answer: the packets carry the new values
        // from the start.
        if self.phase.remote().is_some() {
            self.polling = true;
            self.next_tx = now;
        } else {
            self.polling = false;
        }
    }

    /// §6.8.7: "A system MUST NOT transmit BFD Control packets if bfd.RemoteDiscr is zero
    /// and the system is taking the Passive role." "A system MUST NOT periodically transmit
    /// BFD Control packets if bfd.RemoteMinRxInterval is zero." "A system MUST NOT
    /// periodically transmit BFD Control packets if Demand mode is active on the remote
    /// system (bfd.RemoteDemandMode is 1, bfd.SessionState is Up, and
    /// bfd.RemoteSessionState is Up) and a Poll Sequence is not being transmitted."
    fn may_transmit_periodic(&self) -> bool {
        match self.phase.remote() {
            None => !self.config.passive,
            Some(r) => {
                let remote_demand = r.demand
                    && r.state == State::Up
                    && self.phase.state() == State::Up
                    && !self.polling;
                !r.required_min_rx.is_zero() && !remote_demand
            }
        }
    }

    fn detection_deadline(&self) -> Option<Instant> {
        self.phase
            .remote()
            .map(|r| r.last_rx + self.detection_time())
    }

    /// Builds our packet (§6.8.7 lists its fields) and counts it.
    fn sent(&mut self, final_: bool) -> ControlPacket {
        self.counters.packets_sent += 1;
        ControlPacket {
            version: VERSION,
            diag: self.local_diag,
            state: self.phase.state(),
            // "A system MUST NOT set the Poll (P) and Final (F) bits at the same time" (§4.1
            // via §6.5: the answer carries F only).
            poll: self.polling && !final_,
            final_,
            control_plane_independent: false,
            demand: false,
            multipoint: false,
            detect_mult: self.config.detect_mult,
            my_discriminator: self.local_discriminator,
            your_discriminator: self.remote_discriminator(),
            desired_min_tx_us: micros(self.advertised.desired_min_tx),
            required_min_rx_us: micros(self.advertised.required_min_rx),
            required_min_echo_rx_us: 0,
            auth: None,
        }
    }
}

/// The state change a received packet causes (§6.8.6), as (new state, new bfd.LocalDiag),
/// or `None` for no change. Local AdminDown never gets here.
///
/// ```text
/// If received state is AdminDown
///     If bfd.SessionState is not Down
///         Set bfd.LocalDiag to 3 (Neighbor signaled session down)
///         Set bfd.SessionState to Down
/// Else
///     If bfd.SessionState is Down
///         If received State is Down
///             Set bfd.SessionState to Init
///         Else if received State is Init
///             Set bfd.SessionState to Up
///     Else if bfd.SessionState is Init
///         If received State is Init or Up
///             Set bfd.SessionState to Up
///     Else (bfd.SessionState is Up)
///         If received State is Down
///             Set bfd.LocalDiag to 3 (Neighbor signaled session down)
///             Set bfd.SessionState to Down
/// ```
fn receive_transition(local: State, received: State) -> Option<(State, Diag)> {
    use State::*;
    match (local, received) {
        (AdminDown, _) => None,
        (Down, AdminDown) => None,
        (Init | Up, AdminDown) => Some((Down, Diag::NeighborSignaledSessionDown)),
        (Down, Down) => Some((Init, Diag::None)),
        (Down, Init) => Some((Up, Diag::None)),
        (Down, Up) => None,
        (Init, Init | Up) => Some((Up, Diag::None)),
        (Init, Down) => None,
        (Up, Down) => Some((Down, Diag::NeighborSignaledSessionDown)),
        (Up, Init | Up) => None,
    }
}

/// A state with its data: the remote system's variables exist in Init and Up by
/// construction, and in Down and AdminDown until a detection time passes without a packet.
#[derive(Debug)]
enum Phase {
    AdminDown { remote: Option<Remote> },
    Down { remote: Option<Remote> },
    Init { remote: Remote },
    Up { remote: Remote },
}

impl Phase {
    fn with_remote(state: State, remote: Remote) -> Phase {
        match state {
            State::AdminDown => Phase::AdminDown {
                remote: Some(remote),
            },
            State::Down => Phase::Down {
                remote: Some(remote),
            },
            State::Init => Phase::Init { remote },
            State::Up => Phase::Up { remote },
        }
    }

    fn state(&self) -> State {
        match self {
            Phase::AdminDown { .. } => State::AdminDown,
            Phase::Down { .. } => State::Down,
            Phase::Init { .. } => State::Init,
            Phase::Up { .. } => State::Up,
        }
    }

    fn remote(&self) -> Option<&Remote> {
        match self {
            Phase::AdminDown { remote } | Phase::Down { remote } => remote.as_ref(),
            Phase::Init { remote } | Phase::Up { remote } => Some(remote),
        }
    }

    /// Replaces the remote variables, keeping the state.
    fn set_remote(&mut self, new: Remote) {
        match self {
            Phase::AdminDown { remote } | Phase::Down { remote } => *remote = Some(new),
            Phase::Init { remote } | Phase::Up { remote } => *remote = new,
        }
    }
}

/// The remote system's variables from its last accepted packet (§6.8.1).
#[derive(Debug, Clone, Copy)]
struct Remote {
    /// bfd.RemoteDiscr.
    discriminator: u32,
    /// bfd.RemoteSessionState.
    state: State,
    /// The Diag field, for status.
    diag: Diag,
    /// bfd.RemoteDemandMode.
    demand: bool,
    /// bfd.RemoteMinRxInterval.
    required_min_rx: Duration,
    /// The last received Desired Min TX Interval (§6.8.4).
    desired_min_tx: Duration,
    /// The last received Detect Mult (§6.8.4).
    detect_mult: u8,
    /// When the last packet was accepted: the detection timer runs from here.
    last_rx: Instant,
}

impl Remote {
    fn from_packet(p: &ControlPacket, now: Instant) -> Remote {
        Remote {
            discriminator: p.my_discriminator,
            state: p.state,
            diag: p.diag,
            demand: p.demand,
            required_min_rx: Duration::from_micros(u64::from(p.required_min_rx_us)),
            desired_min_tx: Duration::from_micros(u64::from(p.desired_min_tx_us)),
            detect_mult: p.detect_mult,
            last_rx: now,
        }
    }
}

/// The two local intervals, rounded to the microseconds the wire carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Intervals {
    desired_min_tx: Duration,
    required_min_rx: Duration,
}

impl Intervals {
    /// What `config` asks for in `state`, with the slow start of §6.8.3 while not Up.
    fn target(config: &SessionConfig, state: State) -> Intervals {
        let whole = |d: Duration| Duration::from_micros(u64::from(micros(d)));
        let tx = whole(config.desired_min_tx);
        Intervals {
            desired_min_tx: if state == State::Up {
                tx
            } else {
                tx.max(SLOW_START_TX)
            },
            required_min_rx: whole(config.required_min_rx),
        }
    }
}

/// A duration in whole microseconds, saturating at the 32-bit field's maximum.
fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}
