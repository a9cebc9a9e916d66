//! Golden vectors from real routers: run BIRD, FRR and gobgpd against each other, capture
//! the sessions with tcpdump, and write selected messages as commented hex files for
//! `bgp-wire/tests/captures.rs`.
//!
//! Each pairing runs two eBGP sessions over one veth: IPv4 unicast over IPv4 and IPv6
//! unicast over IPv6, with 4-octet AS numbers (AS 42000000xx), graceful restart and ADD-PATH
//! in both directions where the daemon supports it. Each side announces a host route per
//! family (with communities and large communities where the daemon sets them easily). At the
//! end the router shuts the IPv4 session down and the speaker the IPv6 one, each with a
//! shutdown communication (RFC 9003), so both sides contribute a NOTIFICATION.
//!
//! A file's `# ctx:` line is computed from the two OPENs of its session: `four_octet_as`
//! and `extended_message` when both sides sent the capability, `add_path=FAMILY,…` for the
//! families where the sender may send and the receiver may receive path identifiers
//! (RFC 7911 §4).

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::pcap::Flow;
use crate::tools::{binary, wait_until_ok};
use crate::{
    Bird, BirdConfig, BirdPeer, Capture, Frr, FrrConfig, FrrNeighbor, GobgpConfig, GobgpNeighbor,
    Gobgpd, Netns,
};

/// Per-step timeout while capturing.
const TIMEOUT: Duration = Duration::from_secs(40);

/// The shutdown communication both shutdowns carry.
const SHUTDOWN_MESSAGE: &str = "maintenance";

/// A router (BGP daemon) that takes part in a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Router {
    /// BIRD 2.
    Bird,
    /// FRR bgpd.
    Frr,
    /// gobgpd.
    Gobgpd,
}

impl Router {
    /// File-name stem (`bird`, `frr`, `gobgpd`).
    pub fn name(self) -> &'static str {
        match self {
            Router::Bird => "bird",
            Router::Frr => "frr",
            Router::Gobgpd => "gobgpd",
        }
    }

    /// The AS it uses in captures: distinct 4-octet AS numbers, so AS_PATHs and OPENs show
    /// AS_TRANS and the 4-octet AS capability.
    pub fn asn(self) -> u32 {
        match self {
            Router::Bird => 4_200_000_001,
            Router::Gobgpd => 4_200_000_002,
            Router::Frr => 4_200_000_003,
        }
    }

    /// Prefixes it announces (IPv4 /32, IPv6 /128).
    fn prefixes(self) -> (&'static str, &'static str) {
        match self {
            Router::Bird => ("198.51.100.1/32", "2001:db8:100::1/128"),
            Router::Gobgpd => ("203.0.113.2/32", "2001:db8:7::2/128"),
            Router::Frr => ("198.51.100.3/32", "2001:db8:100::3/128"),
        }
    }

    /// The installed version, from the daemon's `--version`/`-v` output.
    pub fn version(self) -> Result<String> {
        let (bin, arg) = match self {
            Router::Bird => ("bird", "--version"),
            Router::Frr => ("bgpd", "-v"),
            Router::Gobgpd => ("gobgpd", "--version"),
        };
        let out = Command::new(binary(bin)?).arg(arg).output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // "BIRD version 2.0.12", "bgpd version 8.4.4", "gobgpd version 3.10.0"
        text.lines()
            .find_map(|l| l.split_once("version ").map(|(_, v)| v.trim().to_string()))
            .with_context(|| format!("no version in `{bin} {arg}` output: {text}"))
    }
}

/// Where one side of a pairing lives.
struct Side {
    daemon: Router,
    v4: IpAddr,
    v6: IpAddr,
    version: String,
}

/// One side started.
enum Running {
    Bird(Bird),
    Frr(Frr),
    Gobgpd(Gobgpd),
}

/// Names of BIRD's two protocols.
const BIRD_V4: &str = "v4";
const BIRD_V6: &str = "v6";

/// BIRD's protocol for the session to `peer_addr`.
fn bird_protocol(peer_addr: IpAddr) -> &'static str {
    if peer_addr.is_ipv4() {
        BIRD_V4
    } else {
        BIRD_V6
    }
}

impl Running {
    fn start(ns: &Netns, me: &Side, peer: &Side) -> Result<Running> {
        let (p4, p6) = me.daemon.prefixes();
        let router_id = match me.v4 {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => bail!("IPv4 side address expected"),
        };
        let peer_as = peer.daemon.asn();
        Ok(match me.daemon {
            Router::Bird => {
                let session = |name: &str, addr: IpAddr| {
                    BirdPeer::new(name, addr, peer_as)
                        .graceful_restart()
                        .add_path_rx()
                        .add_path_tx()
                };
                Running::Bird(Bird::start(
                    ns,
                    &BirdConfig::new(router_id, me.daemon.asn())
                        .peer(session(BIRD_V4, peer.v4))
                        .peer(session(BIRD_V6, peer.v6))
                        .announce(
                            p4,
                            "bgp_community.add((65001,100)); bgp_large_community.add((4200000001,1,1));",
                        )
                        .announce(p6, "bgp_community.add((65001,600));"),
                )?)
            }
            Router::Frr => Running::Frr(Frr::start(
                ns,
                &FrrConfig::new(router_id, me.daemon.asn())
                    // a stable name in the FQDN capability, not the per-run namespace name
                    .hostname("porter-lab-frr")
                    .graceful_restart()
                    .neighbor(
                        FrrNeighbor::new(peer.v4, peer_as)
                            .add_path_tx_all()
                            .sender_loop_detection(),
                    )
                    .neighbor(
                        FrrNeighbor::new(peer.v6, peer_as)
                            .add_path_tx_all()
                            .sender_loop_detection(),
                    )
                    .announce(
                        p4,
                        &[
                            "set community 65003:100",
                            "set large-community 4200000003:3:3",
                        ],
                    )
                    .announce(p6, &["set community 65003:600"]),
            )?),
            Router::Gobgpd => {
                let n = |addr: IpAddr| {
                    GobgpNeighbor::new(addr, peer_as)
                        .graceful_restart()
                        .add_path(true, 4)
                };
                let g = Gobgpd::start(
                    ns,
                    &GobgpConfig::new(router_id, me.daemon.asn())
                        .neighbor(n(peer.v4))
                        .neighbor(n(peer.v6)),
                )?;
                g.announce(
                    p4,
                    me.v4,
                    &[
                        "community",
                        "65002:100",
                        "large-community",
                        "4200000002:2:2",
                    ],
                )?;
                g.announce(p6, me.v6, &["community", "65002:600"])?;
                Running::Gobgpd(g)
            }
        })
    }

    fn wait_established(&self, peer: &Side) -> Result<()> {
        match self {
            Running::Bird(b) => b.wait_established(&[BIRD_V4, BIRD_V6], TIMEOUT).map(drop),
            Running::Frr(f) => f.wait_established(&[peer.v4, peer.v6], TIMEOUT).map(drop),
            Running::Gobgpd(g) => g.wait_established(&[peer.v4, peer.v6], TIMEOUT).map(drop),
        }
    }

    fn has_route(&self, prefix: &str) -> Result<bool> {
        Ok(match self {
            Running::Bird(b) => !b.routes(prefix)?.is_empty(),
            Running::Frr(f) => !f.route_next_hops(prefix)?.is_empty(),
            Running::Gobgpd(g) => !g.rib_next_hops(prefix)?.is_empty(),
        })
    }

    /// Sends a ROUTE-REFRESH on the session to `peer_addr`.
    fn refresh(&self, peer_addr: IpAddr) -> Result<()> {
        match self {
            Running::Bird(b) => b.refresh_in(bird_protocol(peer_addr)),
            Running::Frr(f) => f.refresh_in(peer_addr),
            Running::Gobgpd(g) => g.refresh_in(peer_addr),
        }
    }

    /// Withdraws both of `me`'s prefixes.
    fn withdraw_all(&self, me: Router) -> Result<()> {
        let (p4, p6) = me.prefixes();
        match self {
            // disabling the static protocols withdraws their routes from BGP
            Running::Bird(b) => {
                b.birdc(&["disable", "static4"])?;
                b.birdc(&["disable", "static6"]).map(drop)
            }
            Running::Frr(f) => {
                f.withdraw_network(p4, me.asn())?;
                f.withdraw_network(p6, me.asn())
            }
            Running::Gobgpd(g) => {
                g.withdraw(p4)?;
                g.withdraw(p6)
            }
        }
    }

    /// Shuts the session to `peer_addr` down with the shutdown communication.
    fn shutdown(&self, me: Router, peer_addr: IpAddr) -> Result<()> {
        match self {
            Running::Bird(b) => {
                let name = if peer_addr.is_ipv4() {
                    BIRD_V4
                } else {
                    BIRD_V6
                };
                b.disable(name, Some(SHUTDOWN_MESSAGE))
            }
            Running::Frr(f) => f.shutdown_neighbor(peer_addr, SHUTDOWN_MESSAGE, me.asn()),
            Running::Gobgpd(g) => g.disable(peer_addr, SHUTDOWN_MESSAGE),
        }
    }
}

/// One message selected from a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vector {
    /// Who sent it.
    pub sender: Router,
    /// Who received it.
    pub receiver: Router,
    /// File name stem, `<router>-<version>-<what>`.
    pub stem: String,
    /// Comment lines (without `# `).
    pub comments: Vec<String>,
    /// The message, header included.
    pub bytes: Vec<u8>,
}

impl Vector {
    /// The file text: `# ` comment lines, then hex, 32 bytes per line.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for c in &self.comments {
            let _ = writeln!(s, "# {c}");
        }
        for chunk in self.bytes.chunks(32) {
            for b in chunk {
                let _ = write!(s, "{b:02x}");
            }
            s.push('\n');
        }
        s
    }
}

/// What a captured message is, as far as choosing golden vectors goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// OPEN.
    Open,
    /// UPDATE announcing IPv4 unicast NLRI (in the NLRI field).
    UpdateIpv4,
    /// UPDATE announcing IPv6 unicast NLRI (MP_REACH_NLRI).
    UpdateIpv6,
    /// UPDATE withdrawing IPv4 NLRI only.
    WithdrawIpv4,
    /// UPDATE with MP_UNREACH_NLRI withdrawing IPv6 NLRI.
    WithdrawIpv6,
    /// End-of-RIB for IPv4 unicast: an empty UPDATE (RFC 4724 §2).
    EorIpv4,
    /// End-of-RIB for IPv6 unicast: an UPDATE with only an empty MP_UNREACH_NLRI.
    EorIpv6,
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH request (RFC 2918).
    RouteRefresh,
    /// ROUTE-REFRESH Beginning-of-RIB-Refresh marker (RFC 7313 §4).
    RefreshBegin,
    /// ROUTE-REFRESH End-of-RIB-Refresh marker (RFC 7313 §4).
    RefreshEnd,
    /// NOTIFICATION with this error code and subcode.
    Notification(u8, u8),
    /// Anything else (ROUTE-REFRESH, other families).
    Other,
}

impl Kind {
    /// The `<what>` part of a file name.
    pub fn what(self) -> String {
        let name = match self {
            Kind::Open => "open",
            Kind::UpdateIpv4 => "update-ipv4",
            Kind::UpdateIpv6 => "update-ipv6",
            Kind::WithdrawIpv4 => "withdraw-ipv4",
            Kind::WithdrawIpv6 => "withdraw-ipv6",
            Kind::EorIpv4 => "eor-ipv4",
            Kind::EorIpv6 => "eor-ipv6",
            Kind::Keepalive => "keepalive",
            Kind::RouteRefresh => "route-refresh",
            Kind::RefreshBegin => "route-refresh-borr",
            Kind::RefreshEnd => "route-refresh-eorr",
            // Cease / Administrative Shutdown (RFC 4486, RFC 9003)
            Kind::Notification(6, 2) => "notification-shutdown",
            Kind::Notification(code, subcode) => {
                return format!("notification-{code}-{subcode}");
            }
            Kind::Other => "other",
        };
        name.to_string()
    }
}

/// Classifies one whole BGP message (header included). Malformed input is `Other`.
pub fn classify(msg: &[u8]) -> Kind {
    match msg.get(18) {
        Some(1) => Kind::Open,
        Some(3) => match (msg.get(19), msg.get(20)) {
            (Some(&code), Some(&subcode)) => Kind::Notification(code, subcode),
            _ => Kind::Other,
        },
        Some(4) => Kind::Keepalive,
        Some(2) => classify_update(msg).unwrap_or(Kind::Other),
        // ROUTE-REFRESH: AFI (2), subtype (1, RFC 7313 §3.2), SAFI (1)
        Some(5) => match msg.get(21) {
            Some(0) => Kind::RouteRefresh,
            Some(1) => Kind::RefreshBegin,
            Some(2) => Kind::RefreshEnd,
            _ => Kind::Other,
        },
        _ => Kind::Other,
    }
}

fn classify_update(msg: &[u8]) -> Option<Kind> {
    let body = msg.get(19..)?;
    let wlen = u16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    let withdrawn = body.get(2..2 + wlen)?;
    let alen = u16::from_be_bytes([*body.get(2 + wlen)?, *body.get(3 + wlen)?]) as usize;
    let attrs = body.get(4 + wlen..4 + wlen + alen)?;
    let nlri = body.get(4 + wlen + alen..)?;
    if !nlri.is_empty() {
        return Some(Kind::UpdateIpv4);
    }
    if !withdrawn.is_empty() {
        return Some(Kind::WithdrawIpv4);
    }
    if attrs.is_empty() {
        return Some(Kind::EorIpv4);
    }
    let mut i = 0;
    let mut kinds = Vec::new();
    while i < attrs.len() {
        let flags = *attrs.get(i)?;
        let code = *attrs.get(i + 1)?;
        let (len, hdr) = if flags & 0x10 != 0 {
            (
                u16::from_be_bytes([*attrs.get(i + 2)?, *attrs.get(i + 3)?]) as usize,
                4,
            )
        } else {
            (*attrs.get(i + 2)? as usize, 3)
        };
        let value = attrs.get(i + hdr..i + hdr + len)?;
        // AFI 2 (IPv6), SAFI 1 (unicast)
        let v6_unicast = value.get(..3) == Some(&[0, 2, 1]);
        match code {
            14 if v6_unicast => kinds.push(Kind::UpdateIpv6),
            15 if v6_unicast && len == 3 => kinds.push(Kind::EorIpv6),
            15 if v6_unicast => kinds.push(Kind::WithdrawIpv6),
            14 | 15 => kinds.push(Kind::Other),
            _ => {}
        }
        i += hdr + len;
    }
    match kinds.as_slice() {
        [k] => Some(*k),
        _ => Some(Kind::Other),
    }
}

/// Capabilities of an OPEN that change how later messages are encoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenCaps {
    /// Sent the 4-octet AS capability (code 65).
    pub four_octet_as: bool,
    /// Sent the extended message capability (code 6).
    pub extended_message: bool,
    /// ADD-PATH entries: (AFI, SAFI, send/receive bits).
    pub add_path: Vec<(u16, u8, u8)>,
}

/// Reads the capabilities of an OPEN (header included).
pub fn open_caps(msg: &[u8]) -> Result<OpenCaps> {
    if classify(msg) != Kind::Open || msg.len() < 29 {
        bail!("not an OPEN");
    }
    let plen = msg[28] as usize;
    let Some(params) = msg.get(29..29 + plen) else {
        bail!("OPEN optional parameters truncated");
    };
    let mut caps = OpenCaps::default();
    let mut i = 0;
    while i + 2 <= params.len() {
        let (ptype, len) = (params[i], params[i + 1] as usize);
        let Some(value) = params.get(i + 2..i + 2 + len) else {
            bail!("OPEN parameter truncated");
        };
        i += 2 + len;
        if ptype != 2 {
            continue;
        }
        let mut j = 0;
        while j + 2 <= value.len() {
            let (code, clen) = (value[j], value[j + 1] as usize);
            let Some(cv) = value.get(j + 2..j + 2 + clen) else {
                bail!("capability truncated");
            };
            j += 2 + clen;
            match code {
                65 => caps.four_octet_as = true,
                6 => caps.extended_message = true,
                69 => {
                    for e in cv.chunks(4) {
                        if let [a0, a1, safi, mode] = *e {
                            caps.add_path
                                .push((u16::from_be_bytes([a0, a1]), safi, mode));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(caps)
}

/// The `ctx:` tokens for messages from the speaker that sent `sender` to the one that sent
/// `receiver`.
pub fn ctx_tokens(sender: &OpenCaps, receiver: &OpenCaps) -> String {
    let mut t = Vec::new();
    if sender.four_octet_as && receiver.four_octet_as {
        t.push("four_octet_as".to_string());
    }
    if sender.extended_message && receiver.extended_message {
        t.push("extended_message".to_string());
    }
    let mut fams = Vec::new();
    for (name, afi, safi) in [("ipv4-unicast", 1u16, 1u8), ("ipv6-unicast", 2, 1)] {
        // RFC 7911 §4: path identifiers flow where the sender said "send" (bit 2) and the
        // receiver said "receive" (bit 1) for the family
        let sends = sender
            .add_path
            .iter()
            .any(|&(a, s, m)| a == afi && s == safi && m & 2 != 0);
        let receives = receiver
            .add_path
            .iter()
            .any(|&(a, s, m)| a == afi && s == safi && m & 1 != 0);
        if sends && receives {
            fams.push(name);
        }
    }
    if !fams.is_empty() {
        t.push(format!("add_path={}", fams.join(",")));
    }
    t.join(" ")
}

/// Runs one pairing (`a` as the router, `b` as the speaker, on 10.200.`net`.0/24 and
/// 2001:db8:200:`net`::/64) and returns the vectors it yields: for each sender and session,
/// the first message of each [`Kind`]. The pcap is written to `work`.
pub fn capture_pairing(a: Router, b: Router, net: u8, work: &Path) -> Result<Vec<Vector>> {
    let side = |d: Router, host: u8| -> Result<Side> {
        Ok(Side {
            daemon: d,
            v4: format!("10.200.{net}.{host}").parse()?,
            v6: format!("2001:db8:200:{net}::{host}").parse()?,
            version: d.version()?,
        })
    };
    let (sa, sb) = (side(a, 1)?, side(b, 2)?);
    let tag = format!("cap-{}-{}", a.name(), b.name());
    let na = Netns::new(&format!("{tag}-a"))?;
    let nb = Netns::new(&format!("{tag}-b"))?;
    na.veth("a-b", &nb, "b-a")?;
    na.set_mac("a-b", &format!("02:00:0a:c8:{net:02x}:01"))?;
    nb.set_mac("b-a", &format!("02:00:0a:c8:{net:02x}:02"))?;
    na.addr("a-b", &format!("{}/24", sa.v4))?;
    na.addr("a-b", &format!("{}/64", sa.v6))?;
    nb.addr("b-a", &format!("{}/24", sb.v4))?;
    nb.addr("b-a", &format!("{}/64", sb.v6))?;
    std::fs::create_dir_all(work)?;
    let pcap = work.join(format!("{tag}.pcap"));
    let capture = Capture::start(&na, "a-b", "tcp port 179", &pcap)?;
    let ra = Running::start(&na, &sa, &sb)?;
    let rb = Running::start(&nb, &sb, &sa)?;
    ra.wait_established(&sb)?;
    rb.wait_established(&sa)?;
    let (b4, b6) = b.prefixes();
    let (a4, a6) = a.prefixes();
    wait_until_ok(TIMEOUT, "both sides see each other's routes", || {
        Ok(ra.has_route(b4)? && ra.has_route(b6)? && rb.has_route(a4)? && rb.has_route(a6)?)
    })?;
    // let End-of-RIB markers and a round of keepalives (every 3 s) cross
    std::thread::sleep(Duration::from_secs(4));
    // ROUTE-REFRESH (and, with enhanced route refresh, the answer's BoRR/EoRR markers)
    ra.refresh(sb.v4)?;
    rb.refresh(sa.v6)?;
    std::thread::sleep(Duration::from_secs(2));
    // one side after the other: withdrawing at once lets a router fold the withdrawal of
    // what it learned from its peer into the UPDATE that withdraws its own routes, by timing
    ra.withdraw_all(a)?;
    wait_until_ok(TIMEOUT, "the speaker sees the router's withdrawals", || {
        Ok(!rb.has_route(a4)? && !rb.has_route(a6)?)
    })?;
    rb.withdraw_all(b)?;
    wait_until_ok(TIMEOUT, "the router sees the speaker's withdrawals", || {
        Ok(!ra.has_route(b4)? && !ra.has_route(b6)?)
    })?;
    ra.shutdown(a, sb.v4)?;
    rb.shutdown(b, sa.v6)?;
    std::thread::sleep(Duration::from_secs(1));
    let flows = capture.finish()?;
    let date = utc_now()?;
    drop((ra, rb));
    let mut out = Vec::new();
    for (sender, receiver) in [(&sa, &sb), (&sb, &sa)] {
        for (family, src) in [("IPv4", sender.v4), ("IPv6", sender.v6)] {
            let vs = vectors_of_session(&flows, sender, receiver, family, src, &date)
                .with_context(|| {
                    format!(
                        "{} -> {} over {family} (pcap kept in {})",
                        sender.daemon.name(),
                        receiver.daemon.name(),
                        pcap.display()
                    )
                })?;
            out.extend(vs);
        }
    }
    Ok(out)
}

/// The vectors sent by `sender` on the session from `src`.
fn vectors_of_session(
    flows: &[Flow],
    sender: &Side,
    receiver: &Side,
    family: &str,
    src: IpAddr,
    date: &str,
) -> Result<Vec<Vector>> {
    let from = flows.iter().filter(|f| f.src.ip() == src);
    let to = flows.iter().filter(|f| f.dst.ip() == src);
    let sent: Vec<Vec<u8>> = from
        .map(|f| f.bgp_messages())
        .collect::<Result<Vec<_>>>()?
        .concat();
    let received: Vec<Vec<u8>> = to
        .map(|f| f.bgp_messages())
        .collect::<Result<Vec<_>>>()?
        .concat();
    let Some(my_open) = sent.iter().find(|m| classify(m) == Kind::Open) else {
        bail!("no OPEN sent");
    };
    let Some(peer_open) = received.iter().find(|m| classify(m) == Kind::Open) else {
        bail!("no OPEN received");
    };
    let ctx = ctx_tokens(&open_caps(my_open)?, &open_caps(peer_open)?);
    // UPDATEs must carry the sender's own prefix: a router may also pass on (or withdraw)
    // what it learned from the receiver, which says nothing about how it encodes its own
    let (p4, p6) = sender.daemon.prefixes();
    let own = [prefix_bytes(p4)?, prefix_bytes(p6)?];
    let mut first: BTreeMap<Kind, &Vec<u8>> = BTreeMap::new();
    for m in &sent {
        let kind = classify(m);
        let carries_routes = matches!(
            kind,
            Kind::UpdateIpv4 | Kind::UpdateIpv6 | Kind::WithdrawIpv4 | Kind::WithdrawIpv6
        );
        if carries_routes && !own.iter().any(|p| contains(m, p)) {
            continue;
        }
        first.entry(kind).or_insert(m);
    }
    let fam = family.to_ascii_lowercase();
    let mut out = Vec::new();
    for (kind, bytes) in first {
        if kind == Kind::Other {
            continue;
        }
        // OPEN, KEEPALIVE and NOTIFICATION carry no family: name them after the session
        let what = match kind {
            Kind::Open | Kind::Keepalive | Kind::Notification(..) => {
                format!("{}-{fam}-session", kind.what())
            }
            Kind::RouteRefresh | Kind::RefreshBegin | Kind::RefreshEnd => {
                format!("{}-{fam}", kind.what())
            }
            _ => kind.what(),
        };
        let s = sender.daemon;
        let r = receiver.daemon;
        out.push(Vector {
            sender: s,
            receiver: r,
            stem: format!("{}-{}-{what}", s.name(), sender.version),
            comments: vec![
                format!(
                    "{} {} {}: captured on the wire by `porter-lab capture` (tests/lab).",
                    s.name(),
                    sender.version,
                    kind.what()
                ),
                format!(
                    "session: eBGP over {family}, {} {} AS {} ({src}) -> {} {} AS {}",
                    s.name(),
                    sender.version,
                    s.asn(),
                    r.name(),
                    receiver.version,
                    r.asn()
                ),
                "setup: IPv4 and IPv6 unicast sessions on one veth; graceful restart and ADD-PATH \
                 send/receive configured on both sides (FRR always offers ADD-PATH receive)"
                    .to_string(),
                "steps: establish, announce one /32 and one /128 each, route refresh, withdraw \
                 all, shut down with message \"maintenance\""
                    .to_string(),
                format!("captured: {date} with tcpdump inside the router's network namespace"),
                format!("ctx: {ctx}"),
            ],
            bytes: bytes.clone(),
        });
    }
    Ok(out)
}

/// A host prefix as NLRI bytes: length octet then the address (`198.51.100.1/32` →
/// `20 c6 33 64 01`).
fn prefix_bytes(prefix: &str) -> Result<Vec<u8>> {
    let (addr, len) = prefix
        .split_once('/')
        .with_context(|| format!("no length in {prefix}"))?;
    let mut b = vec![len.parse::<u8>()?];
    match addr.parse::<IpAddr>()? {
        IpAddr::V4(a) => b.extend_from_slice(&a.octets()),
        IpAddr::V6(a) => b.extend_from_slice(&a.octets()),
    }
    Ok(b)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn utc_now() -> Result<String> {
    let out = Command::new(binary("date")?)
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        m.push(kind);
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn classifies_end_of_rib_and_updates() {
        assert_eq!(classify(&msg(2, &[0, 0, 0, 0])), Kind::EorIpv4);
        // MP_UNREACH_NLRI (optional, type 15) with only AFI 2 SAFI 1
        assert_eq!(
            classify(&msg(2, &[0, 0, 0, 6, 0x80, 15, 3, 0, 2, 1])),
            Kind::EorIpv6
        );
        // ORIGIN + NLRI 203.0.113.2/32
        assert_eq!(
            classify(&msg(2, &[0, 0, 0, 4, 0x40, 1, 1, 0, 32, 203, 0, 113, 2])),
            Kind::UpdateIpv4
        );
        assert_eq!(
            classify(&msg(2, &[0, 5, 32, 203, 0, 113, 2, 0, 0])),
            Kind::WithdrawIpv4
        );
        assert_eq!(classify(&msg(4, &[])), Kind::Keepalive);
        assert_eq!(classify(&msg(2, &[0, 9])), Kind::Other);
        assert_eq!(classify(&[]), Kind::Other);
    }

    #[test]
    fn computes_context_per_direction() {
        // OPEN with capabilities 65 (AS 4200000001) and 69 (IPv4 unicast send, IPv6 receive)
        let caps = [
            2, 16, 65, 4, 0xfa, 0x56, 0xea, 0x01, 69, 8, 0, 1, 1, 2, 0, 2, 1, 1,
        ];
        let mut body = vec![4, 0x5b, 0xa0, 0, 9, 10, 200, 110, 1, caps.len() as u8];
        body.extend_from_slice(&caps);
        let a = open_caps(&msg(1, &body)).unwrap();
        assert!(a.four_octet_as);
        assert_eq!(a.add_path, vec![(1, 1, 2), (2, 1, 1)]);
        let both = OpenCaps {
            four_octet_as: true,
            extended_message: false,
            add_path: vec![(1, 1, 3), (2, 1, 3)],
        };
        assert_eq!(ctx_tokens(&a, &both), "four_octet_as add_path=ipv4-unicast");
        assert_eq!(ctx_tokens(&both, &a), "four_octet_as add_path=ipv6-unicast");
        assert_eq!(ctx_tokens(&OpenCaps::default(), &both), "");
        assert!(open_caps(&msg(4, &[])).is_err());
    }

    #[test]
    fn renders_comment_then_hex() {
        let v = Vector {
            sender: Router::Bird,
            receiver: Router::Frr,
            stem: "x".into(),
            comments: vec!["a".into(), "ctx: four_octet_as".into()],
            bytes: (0u8..40).collect(),
        };
        let text = v.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "# a");
        assert_eq!(lines[1], "# ctx: four_octet_as");
        assert_eq!(lines[2].len(), 64);
        assert_eq!(lines[3], "2021222324252627");
    }
}
