//! porter-lab: a BGP interop lab built from Linux network namespaces.
//!
//! Each piece owns what it starts and tears it down on `Drop`:
//!
//! * [`Netns`]: a network namespace with a unique `lab-…` name, `lo` up, a private state
//!   directory for configs and logs; veth pairs are created directly inside namespaces
//!   ([`Netns::veth`]) so the host namespace never sees an interface or a route. Dropping it
//!   stops every process still inside and deletes the namespace.
//! * Routers, each a tracked child process with a readiness wait: [`Bird`] (BIRD 2), [`Frr`]
//!   (zebra + bgpd), [`Gobgpd`] (gobgpd with its gRPC API on 127.0.0.1 inside the namespace) and
//!   [`Exabgp`] (scripted UPDATEs in, JSON of what it received out).
//! * [`Lan`]: a bridge in a namespace of its own, for several speakers and a router on one
//!   L2 segment.
//! * [`Segment`] ([`layer2`]): a bridge with a client and speakers for ARP/NDP tests, the
//!   client's arping / ndisc6 / neighbor table, and the answers seen on the bridge.
//! * [`Capture`]: tcpdump on an interface inside a namespace, and [`pcap`] to turn the capture
//!   into whole BGP messages per TCP direction; [`golden`] uses both to write golden vectors
//!   (`porter-lab capture`).
//!
//! Tests guard themselves with [`available`], which prints a loud `SKIPPED:` line when not
//! root or a tool is missing, and wait with [`wait_until`].
//!
//! ```no_run
//! use porter_lab::{available, Bird, BirdConfig, BirdPeer, Gobgpd, GobgpConfig, GobgpNeighbor, Netns, Tool};
//! use std::time::Duration;
//! # fn main() -> anyhow::Result<()> {
//! if !available(&[Tool::Bird, Tool::Gobgp]) { return Ok(()); }
//! let r1 = Netns::new("doc-r1")?;
//! let s1 = Netns::new("doc-s1")?;
//! r1.veth("r1-s1", &s1, "s1-r1")?;
//! r1.addr("r1-s1", "10.200.100.1/24")?;
//! s1.addr("s1-r1", "10.200.100.2/24")?;
//! let bird = Bird::start(&r1, &BirdConfig::new("10.200.100.1".parse()?, 65000)
//!     .peer(BirdPeer::new("s1", "10.200.100.2".parse()?, 65001)))?;
//! let gobgp = Gobgpd::start(&s1, &GobgpConfig::new("10.200.100.2".parse()?, 65001)
//!     .neighbor(GobgpNeighbor::new("10.200.100.1".parse()?, 65000)))?;
//! bird.wait_established(&["s1"], Duration::from_secs(30))?;
//! gobgp.announce("203.0.113.7/32", "10.200.100.2".parse()?, &[])?;
//! # Ok(()) }
//! ```

mod bird;
mod capture;
mod exabgp;
mod frr;
mod gobgp;
pub mod golden;
pub mod layer2;
pub mod measure;
mod netns;
pub mod pcap;
mod process;
mod tools;

pub use bird::{Bird, BirdConfig, BirdPeer, BirdRoute};
pub use capture::Capture;
pub use exabgp::{Exabgp, ExabgpConfig, ExabgpNeighbor};
pub use frr::{Frr, FrrConfig, FrrNeighbor};
pub use gobgp::{GobgpBinaries, GobgpConfig, GobgpNeighbor, Gobgpd};
pub use layer2::{Addressing, Answer, Mac, Segment};
pub use netns::{Lan, Netns};
pub use process::Daemon;
pub use tools::{available, find_binary, is_root, skip_unless_available, wait_until, Tool};
