//! ARP and NDP frames: parse the requests the responder answers, build its replies and
//! announcements. Pure functions over bytes; no sockets, no clock.
//!
//! Frames are whole Ethernet II frames as an `AF_PACKET`/`SOCK_RAW` socket reads and
//! writes them (no FCS). ARP frames are padded to the 60-byte Ethernet minimum.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// EtherType of ARP (RFC 826).
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6 (RFC 8200 over Ethernet, RFC 2464).
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Shortest Ethernet frame without its FCS; shorter frames are padded with zeros.
pub const ETHERNET_MIN_FRAME: usize = 60;

const ETHERNET_HEADER: usize = 14;
const ARP_LEN: usize = 28;
const IPV6_HEADER: usize = 40;
/// ICMPv6 next-header value (IANA protocol number 58).
const NEXT_HEADER_ICMPV6: u8 = 0x3a;
/// RFC 4861 §4.3 / §4.4 ICMPv6 types.
const ICMPV6_NEIGHBOR_SOLICITATION: u8 = 0x87;
const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 0x88;
/// RFC 4861 §4.6.1 option types.
const OPTION_SOURCE_LINK_LAYER: u8 = 0x01;
const OPTION_TARGET_LINK_LAYER: u8 = 0x02;
/// RFC 826 hardware type Ethernet and operation codes.
const ARP_HTYPE_ETHERNET: u16 = 0x0001;
const ARP_OP_REQUEST: u16 = 0x0001;
const ARP_OP_REPLY: u16 = 0x0002;
/// RFC 4861 §4.4 NA flag bits (first octet of the 32-bit flags field).
const NA_FLAG_SOLICITED: u8 = 0x40;
const NA_FLAG_OVERRIDE: u8 = 0x20;
/// ICMPv6 length of an NS without options and of an NA with one link-layer option.
const NS_MIN_LEN: usize = 24;
const NA_LEN: usize = 32;

/// All-nodes link-local multicast address `ff02::1` (RFC 4291 §2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// `00:00:00:00:00:00`.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// True for group addresses (the I/G bit, least significant bit of the first octet).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = String;

    /// Parses six `:`-separated hex octets, as `ip link` prints them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts
                .next()
                .ok_or_else(|| format!("{s:?}: a MAC address has six octets"))?;
            if part.is_empty() || part.len() > 2 {
                return Err(format!("{s:?}: {part:?} is not a hex octet"));
            }
            *byte = u8::from_str_radix(part, 16)
                .map_err(|_| format!("{s:?}: {part:?} is not a hex octet"))?;
        }
        if parts.next().is_some() {
            return Err(format!("{s:?}: a MAC address has six octets"));
        }
        Ok(MacAddr(out))
    }
}

/// Why a received frame is not a request the responder can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// Shorter than the headers it must carry.
    #[error("frame of {len} bytes is too short for {what}")]
    Truncated {
        /// What did not fit.
        what: &'static str,
        /// Bytes available.
        len: usize,
    },
    /// An EtherType other than the one the socket was opened for.
    #[error("unexpected EtherType {0:#06x}")]
    EtherType(u16),
    /// ARP for a hardware or protocol type other than Ethernet/IPv4.
    #[error(
        "ARP htype {htype:#06x} ptype {ptype:#06x} hlen {hlen} plen {plen} is not Ethernet/IPv4"
    )]
    ArpNotEthernetIpv4 {
        /// Hardware type.
        htype: u16,
        /// Protocol type.
        ptype: u16,
        /// Hardware address length.
        hlen: u8,
        /// Protocol address length.
        plen: u8,
    },
    /// Not IPv6, or an IPv6 packet whose next header is not ICMPv6 (extension headers are
    /// not expected on Neighbor Discovery messages).
    #[error("not an ICMPv6 packet (version {version}, next header {next_header})")]
    NotIcmpv6 {
        /// IP version nibble.
        version: u8,
        /// Next header.
        next_header: u8,
    },
    /// The IPv6 payload length points past the end of the frame.
    #[error("IPv6 payload length {payload} exceeds the {available} bytes received")]
    PayloadLength {
        /// Declared payload length.
        payload: usize,
        /// Bytes after the IPv6 header.
        available: usize,
    },
    /// ICMPv6 type other than Neighbor Solicitation.
    #[error("ICMPv6 type {0} is not a Neighbor Solicitation")]
    NotSolicitation(u8),
    /// RFC 4861 §7.1.1: "The IP Hop Limit field has a value of 255".
    #[error("hop limit {0}, RFC 4861 requires 255")]
    HopLimit(u8),
    /// RFC 4861 §7.1.1: "ICMP Code is 0".
    #[error("ICMPv6 code {0}, RFC 4861 requires 0")]
    Code(u8),
    /// RFC 4861 §7.1.1: "ICMP Checksum is valid".
    #[error("ICMPv6 checksum {found:#06x}, expected {expected:#06x}")]
    Checksum {
        /// Checksum in the packet.
        found: u16,
        /// Checksum computed over the packet.
        expected: u16,
    },
    /// RFC 4861 §7.1.1: "Target Address is not a multicast address".
    #[error("solicitation for multicast target {0}")]
    MulticastTarget(Ipv6Addr),
    /// RFC 4861 §7.1.1: "All included options have a length that is greater than zero",
    /// and none runs past the message.
    #[error("bad option at ICMPv6 offset {offset}")]
    BadOption {
        /// Offset of the option within the ICMPv6 message.
        offset: usize,
    },
    /// RFC 4861 §7.1.1: with an unspecified source, the destination must be a solicited-node
    /// address and there must be no source link-layer address option.
    #[error("duplicate address detection solicitation with {0}")]
    BadDad(&'static str),
}

/// An ARP packet over Ethernet/IPv4 (RFC 826).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpPacket {
    /// Operation: 1 request, 2 reply.
    pub operation: u16,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

/// A validated Neighbor Solicitation (RFC 4861 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborSolicitation {
    /// Ethernet source address.
    pub ethernet_source: MacAddr,
    /// IPv6 source (unspecified for duplicate address detection).
    pub source: Ipv6Addr,
    /// IPv6 destination.
    pub destination: Ipv6Addr,
    /// The address whose link-layer address is asked for.
    pub target: Ipv6Addr,
    /// The Source Link-Layer Address option, when present.
    pub source_link_layer: Option<MacAddr>,
}

/// What the responder does with one received frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A request for `ip`, which is owned: send `reply`.
    Answer {
        /// The owned address asked for.
        ip: IpAddr,
        /// The whole reply frame.
        reply: Vec<u8>,
    },
    /// Readable, but not a request this responder answers (not for an owned address, a
    /// reply, an announcement by another node).
    Ignore,
}

/// Decides what to do with an ARP frame: a request for an owned IPv4 address gets a reply
/// with `mac`; anything else is ignored.
///
/// An ARP Announcement (sender IP = target IP, RFC 5227 §2.3) for an owned address is not
/// answered: it is another node claiming the address, not asking. An ARP Probe (sender IP
/// 0.0.0.0, RFC 5227 §2.1.1) is answered, so the prober sees the address is in use.
pub fn answer_arp(
    frame: &[u8],
    owned: &BTreeSet<IpAddr>,
    mac: MacAddr,
) -> Result<Outcome, PacketError> {
    let arp = parse_arp(frame)?;
    if arp.operation != ARP_OP_REQUEST
        || arp.sender_ip == arp.target_ip
        || arp.sender_mac == mac
        || !owned.contains(&IpAddr::V4(arp.target_ip))
    {
        return Ok(Outcome::Ignore);
    }
    Ok(Outcome::Answer {
        ip: IpAddr::V4(arp.target_ip),
        reply: arp_reply(mac, &arp).to_vec(),
    })
}

/// Decides what to do with an IPv6 frame: a valid Neighbor Solicitation for an owned IPv6
/// address gets a Neighbor Advertisement with `mac`; anything else is ignored.
pub fn answer_ndp(
    frame: &[u8],
    owned: &BTreeSet<IpAddr>,
    mac: MacAddr,
) -> Result<Outcome, PacketError> {
    let ns = parse_neighbor_solicitation(frame)?;
    if ns.ethernet_source == mac || !owned.contains(&IpAddr::V6(ns.target)) {
        return Ok(Outcome::Ignore);
    }
    Ok(Outcome::Answer {
        ip: IpAddr::V6(ns.target),
        reply: solicited_advertisement(mac, &ns),
    })
}

/// Reads an ARP frame.
///
/// ```text
/// RFC 826 over Ethernet:
///  0      6      12   14      16      18   19   20   22    28    32    38    42
/// | dst  | src  |0806| htype | ptype |hlen|plen| op | sha | spa | tha | tpa | padding
/// ```
pub fn parse_arp(frame: &[u8]) -> Result<ArpPacket, PacketError> {
    if frame.len() < ETHERNET_HEADER + ARP_LEN {
        return Err(PacketError::Truncated {
            what: "an ARP packet",
            len: frame.len(),
        });
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    if ethertype != ETHERTYPE_ARP {
        return Err(PacketError::EtherType(ethertype));
    }
    let a = &frame[ETHERNET_HEADER..ETHERNET_HEADER + ARP_LEN];
    let htype = u16::from_be_bytes([a[0], a[1]]);
    let ptype = u16::from_be_bytes([a[2], a[3]]);
    let (hlen, plen) = (a[4], a[5]);
    if htype != ARP_HTYPE_ETHERNET || ptype != 0x0800 || hlen != 6 || plen != 4 {
        return Err(PacketError::ArpNotEthernetIpv4 {
            htype,
            ptype,
            hlen,
            plen,
        });
    }
    Ok(ArpPacket {
        operation: u16::from_be_bytes([a[6], a[7]]),
        sender_mac: mac_at(a, 8),
        sender_ip: ipv4_at(a, 14),
        target_mac: mac_at(a, 18),
        target_ip: ipv4_at(a, 24),
    })
}

/// The reply to `request` from the owner of its target address, whose MAC is `mac`:
/// unicast to the requester (RFC 826 "send the packet to the (new) target hardware
/// address").
pub fn arp_reply(mac: MacAddr, request: &ArpPacket) -> [u8; ETHERNET_MIN_FRAME] {
    arp_frame(
        request.sender_mac,
        mac,
        ARP_OP_REPLY,
        request.target_ip,
        request.sender_mac,
        request.sender_ip,
    )
}

/// A gratuitous ARP for `ip` at `mac`, in the ARP Announcement form of RFC 5227 §3: a
/// broadcast request whose sender and target IP are both `ip` and whose target hardware
/// address is zero. Hosts that already have an entry for `ip` update it (Linux does so
/// even within its `locktime`).
pub fn gratuitous_arp(mac: MacAddr, ip: Ipv4Addr) -> [u8; ETHERNET_MIN_FRAME] {
    arp_frame(
        MacAddr::BROADCAST,
        mac,
        ARP_OP_REQUEST,
        ip,
        MacAddr::ZERO,
        ip,
    )
}

/// Reads and validates a Neighbor Solicitation frame (RFC 4861 §4.3, checks of §7.1.1).
///
/// ```text
/// Ethernet (14) | IPv6 header (40), next header 58, hop limit 255 |
/// ICMPv6: type 135 | code 0 | checksum | reserved (4) | target (16) | options …
/// ```
pub fn parse_neighbor_solicitation(frame: &[u8]) -> Result<NeighborSolicitation, PacketError> {
    if frame.len() < ETHERNET_HEADER + IPV6_HEADER {
        return Err(PacketError::Truncated {
            what: "an IPv6 header",
            len: frame.len(),
        });
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    if ethertype != ETHERTYPE_IPV6 {
        return Err(PacketError::EtherType(ethertype));
    }
    let ip = &frame[ETHERNET_HEADER..];
    let version = ip[0] >> 4;
    let next_header = ip[6];
    if version != 6 || next_header != NEXT_HEADER_ICMPV6 {
        return Err(PacketError::NotIcmpv6 {
            version,
            next_header,
        });
    }
    let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    // Ethernet may pad short frames: the payload length, not the frame length, ends the
    // message.
    let available = ip.len() - IPV6_HEADER;
    if payload > available {
        return Err(PacketError::PayloadLength { payload, available });
    }
    let source = ipv6_at(ip, 8);
    let destination = ipv6_at(ip, 24);
    let icmp = &ip[IPV6_HEADER..IPV6_HEADER + payload];
    if icmp.is_empty() {
        return Err(PacketError::Truncated {
            what: "an ICMPv6 header",
            len: frame.len(),
        });
    }
    if icmp[0] != ICMPV6_NEIGHBOR_SOLICITATION {
        return Err(PacketError::NotSolicitation(icmp[0]));
    }
    // RFC 4861 §7.1.1: "ICMP length (derived from the IP length) is 24 or more octets."
    if icmp.len() < NS_MIN_LEN {
        return Err(PacketError::Truncated {
            what: "a Neighbor Solicitation",
            len: frame.len(),
        });
    }
    // RFC 4861 §7.1.1: "The IP Hop Limit field has a value of 255".
    if ip[7] != 0xff {
        return Err(PacketError::HopLimit(ip[7]));
    }
    // RFC 4861 §7.1.1: "ICMP Code is 0."
    if icmp[1] != 0 {
        return Err(PacketError::Code(icmp[1]));
    }
    if !icmpv6_checksum_is_valid(source, destination, icmp) {
        return Err(PacketError::Checksum {
            found: u16::from_be_bytes([icmp[2], icmp[3]]),
            expected: icmpv6_checksum(source, destination, icmp),
        });
    }
    let target = ipv6_at(icmp, 8);
    if target.is_multicast() {
        return Err(PacketError::MulticastTarget(target));
    }
    let mut source_link_layer = None;
    let mut offset = NS_MIN_LEN;
    while offset < icmp.len() {
        // Each option: type (1), length in units of 8 octets (1), data.
        let (Some(&kind), Some(&units)) = (icmp.get(offset), icmp.get(offset + 1)) else {
            return Err(PacketError::BadOption { offset });
        };
        let len = usize::from(units) * 8;
        if len == 0 || offset + len > icmp.len() {
            return Err(PacketError::BadOption { offset });
        }
        if kind == OPTION_SOURCE_LINK_LAYER && len == 8 {
            source_link_layer = Some(mac_at(icmp, offset + 2));
        }
        offset += len;
    }
    if source.is_unspecified() {
        // RFC 4861 §7.1.1: "If the IP source address is the unspecified address, the IP
        // destination address is a solicited-node multicast address" and "there is no
        // source link-layer address option in the message."
        if destination != solicited_node(target) {
            return Err(PacketError::BadDad(
                "a destination that is not solicited-node",
            ));
        }
        if source_link_layer.is_some() {
            return Err(PacketError::BadDad("a source link-layer address option"));
        }
    }
    Ok(NeighborSolicitation {
        ethernet_source: mac_at(frame, 6),
        source,
        destination,
        target,
        source_link_layer,
    })
}

/// The Neighbor Advertisement answering `ns` from the owner of its target, whose MAC is
/// `mac` (RFC 4861 §7.2.4). Solicited and Override set, unicast to the solicitor; for a
/// duplicate address detection probe (unspecified source) Solicited is clear and the
/// advertisement goes to all-nodes: "If the source of the solicitation is the unspecified
/// address, the node MUST set the Solicited flag to zero and multicast the advertisement
/// to the all-nodes address. Otherwise, the node MUST set the Solicited flag to one and
/// unicast the advertisement to the source of the solicitation."
pub fn solicited_advertisement(mac: MacAddr, ns: &NeighborSolicitation) -> Vec<u8> {
    if ns.source.is_unspecified() {
        return unsolicited_advertisement(mac, ns.target);
    }
    let destination_mac = ns.source_link_layer.unwrap_or(ns.ethernet_source);
    advertisement(
        destination_mac,
        mac,
        ns.target,
        ns.source,
        NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE,
    )
}

/// An unsolicited Neighbor Advertisement for `target` at `mac` (RFC 4861 §7.2.6): to
/// all-nodes, Solicited clear, Override set so receivers replace the cached link-layer
/// address at once.
pub fn unsolicited_advertisement(mac: MacAddr, target: Ipv6Addr) -> Vec<u8> {
    advertisement(
        multicast_mac(ALL_NODES),
        mac,
        target,
        ALL_NODES,
        NA_FLAG_OVERRIDE,
    )
}

/// The solicited-node multicast address of `ip`: `ff02::1:ff00:0/104` with the low 24
/// bits of `ip` (RFC 4291 §2.7.1).
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet address an IPv6 multicast address maps to: `33:33` and its low 32 bits
/// (RFC 2464 §7).
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// The ICMPv6 checksum of `message` sent from `source` to `destination` (RFC 4443 §2.3
/// over the RFC 8200 §8.1 pseudo-header). The checksum field itself (bytes 2 and 3) counts
/// as zero, so the same function computes a checksum and checks one.
pub fn icmpv6_checksum(source: Ipv6Addr, destination: Ipv6Addr, message: &[u8]) -> u16 {
    !pseudo_header_sum(source, destination, message, true)
}

/// True when the checksum in `message` is right: the one's-complement sum over the
/// pseudo-header and the whole message, checksum included, is all ones. Unlike comparing
/// with [`icmpv6_checksum`], this accepts both encodings of zero (0x0000 and 0xffff).
pub fn icmpv6_checksum_is_valid(source: Ipv6Addr, destination: Ipv6Addr, message: &[u8]) -> bool {
    pseudo_header_sum(source, destination, message, false) == 0xffff
}

fn pseudo_header_sum(
    source: Ipv6Addr,
    destination: Ipv6Addr,
    message: &[u8],
    skip_checksum: bool,
) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8], skip: bool| {
        for (i, pair) in bytes.chunks(2).enumerate() {
            if skip && i == 1 {
                continue;
            }
            let lo = pair.get(1).copied().unwrap_or(0);
            sum += u32::from(u16::from_be_bytes([pair[0], lo]));
        }
    };
    add(&source.octets(), false);
    add(&destination.octets(), false);
    // Upper-layer packet length (32 bits), three zero octets, next header. NDP messages
    // are far below 4 GiB; the length comes from a 16-bit payload length.
    add(&(message.len() as u32).to_be_bytes(), false);
    add(&[0, 0, 0, NEXT_HEADER_ICMPV6], false);
    add(message, skip_checksum);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn arp_frame(
    ethernet_destination: MacAddr,
    mac: MacAddr,
    operation: u16,
    sender_ip: Ipv4Addr,
    target_mac: MacAddr,
    target_ip: Ipv4Addr,
) -> [u8; ETHERNET_MIN_FRAME] {
    let mut f = [0u8; ETHERNET_MIN_FRAME];
    f[0..6].copy_from_slice(&ethernet_destination.0);
    f[6..12].copy_from_slice(&mac.0);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&ARP_HTYPE_ETHERNET.to_be_bytes());
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes());
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&operation.to_be_bytes());
    f[22..28].copy_from_slice(&mac.0);
    f[28..32].copy_from_slice(&sender_ip.octets());
    f[32..38].copy_from_slice(&target_mac.0);
    f[38..42].copy_from_slice(&target_ip.octets());
    f
}

/// One Neighbor Advertisement for `target` at `mac`, with a Target Link-Layer Address
/// option. The IPv6 source is `target` itself: the address this node answers for is the
/// one it speaks as, since the VIP is deliberately not configured on the interface (RFC
/// 4861 §4.4 asks for "an address assigned to the interface"; receivers do not check it,
/// and it keeps the responder independent of the interface's own IPv6 addresses).
fn advertisement(
    destination_mac: MacAddr,
    mac: MacAddr,
    target: Ipv6Addr,
    destination: Ipv6Addr,
    flags: u8,
) -> Vec<u8> {
    let mut f = Vec::with_capacity(ETHERNET_HEADER + IPV6_HEADER + NA_LEN);
    f.extend_from_slice(&destination_mac.0);
    f.extend_from_slice(&mac.0);
    f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    // IPv6 header: version 6, traffic class 0, flow label 0.
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(NA_LEN as u16).to_be_bytes());
    f.push(NEXT_HEADER_ICMPV6);
    // RFC 4861 §4.4: "Hop Limit 255".
    f.push(0xff);
    f.extend_from_slice(&target.octets());
    f.extend_from_slice(&destination.octets());
    let icmp_start = f.len();
    f.extend_from_slice(&[ICMPV6_NEIGHBOR_ADVERTISEMENT, 0, 0, 0]);
    f.extend_from_slice(&[flags, 0, 0, 0]);
    f.extend_from_slice(&target.octets());
    f.extend_from_slice(&[OPTION_TARGET_LINK_LAYER, 1]);
    f.extend_from_slice(&mac.0);
    let sum = icmpv6_checksum(target, destination, &f[icmp_start..]);
    f[icmp_start + 2..icmp_start + 4].copy_from_slice(&sum.to_be_bytes());
    f
}

fn mac_at(b: &[u8], at: usize) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[at..at + 6]);
    MacAddr(m)
}

fn ipv4_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

fn ipv6_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Golden frames. Hand-assembled from the RFC 826 / RFC 4861 layouts (script kept in
    // the commit message), then checked with tshark 4.0: every ICMPv6 checksum reads
    // "[Checksum Status: Good]" and the NA flags decode as Solicited+Override / Override.
    // Speaker MAC 02:00:00:00:02:01, client MAC 02:00:00:00:01:01, client 10.202.1.1 and
    // 2001:db8:21::1, VIPs 198.51.100.10 and 2001:db8:ffff:2::10.

    /// Broadcast who-has 198.51.100.10 tell 10.202.1.1, padded to 60 bytes.
    const ARP_REQUEST: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01, 0x0a, 0xca,
        0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x33, 0x64, 0x0a, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    /// 198.51.100.10 is-at 02:00:00:00:02:01, unicast to the requester.
    const ARP_REPLY: [u8; 60] = [
        0x02, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x02, 0x01, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x02, 0x01, 0xc6, 0x33,
        0x64, 0x0a, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01, 0x0a, 0xca, 0x01, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    /// RFC 5227 ARP Announcement of 198.51.100.10.
    const GRATUITOUS_ARP: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x02, 0x01, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x02, 0x01, 0xc6, 0x33,
        0x64, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6, 0x33, 0x64, 0x0a, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    /// NS from 2001:db8:21::1 to ff02::1:ff00:10 for 2001:db8:ffff:2::10, with a Source
    /// Link-Layer Address option; checksum 0x1ae8.
    const NEIGHBOR_SOLICITATION: [u8; 86] = [
        0x33, 0x33, 0xff, 0x00, 0x00, 0x10, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01, 0x86, 0xdd, 0x60,
        0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x21, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x10, 0x87, 0x00, 0x1a, 0xe8, 0x00, 0x00,
        0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x10, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01,
    ];
    /// The NA answering it: Solicited + Override, Target Link-Layer Address option,
    /// checksum 0x8831.
    const SOLICITED_ADVERTISEMENT: [u8; 86] = [
        0x02, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x02, 0x01, 0x86, 0xdd, 0x60,
        0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0x00, 0x02,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x21, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x00, 0x88, 0x31, 0x60, 0x00,
        0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x10, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x02, 0x01,
    ];
    /// Unsolicited NA to ff02::1: Override only; checksum 0xf708.
    const UNSOLICITED_ADVERTISEMENT: [u8; 86] = [
        0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x02, 0x01, 0x86, 0xdd, 0x60,
        0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0x00, 0x02,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x00, 0xf7, 0x08, 0x20, 0x00,
        0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x10, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x02, 0x01,
    ];

    const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x02, 0x01]);
    const CLIENT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x01, 0x01]);

    fn vip4() -> Ipv4Addr {
        Ipv4Addr::new(198, 51, 100, 10)
    }
    fn vip6() -> Ipv6Addr {
        "2001:db8:ffff:2::10".parse().unwrap()
    }
    fn client6() -> Ipv6Addr {
        "2001:db8:21::1".parse().unwrap()
    }
    fn owned() -> BTreeSet<IpAddr> {
        [IpAddr::V4(vip4()), IpAddr::V6(vip6())].into()
    }

    /// Compares frames and, on mismatch, prints both in hex with the differing offsets.
    fn assert_frame(got: &[u8], want: &[u8]) {
        if got == want {
            return;
        }
        let hex = |b: &[u8]| {
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let diff: Vec<usize> = (0..got.len().max(want.len()))
            .filter(|&i| got.get(i) != want.get(i))
            .collect();
        panic!(
            "frames differ at offsets {diff:?}\n got: {}\nwant: {}",
            hex(got),
            hex(want)
        );
    }

    /// An NS built field by field, with its checksum computed (for the rejection cases).
    fn solicitation(
        source: Ipv6Addr,
        destination: Ipv6Addr,
        target: Ipv6Addr,
        hop_limit: u8,
        code: u8,
        options: &[u8],
    ) -> Vec<u8> {
        let mut icmp = vec![ICMPV6_NEIGHBOR_SOLICITATION, code, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&target.octets());
        icmp.extend_from_slice(options);
        let sum = icmpv6_checksum(source, destination, &icmp);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut f = multicast_mac(destination).0.to_vec();
        f.extend_from_slice(&CLIENT_MAC.0);
        f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
        f.extend_from_slice(&[NEXT_HEADER_ICMPV6, hop_limit]);
        f.extend_from_slice(&source.octets());
        f.extend_from_slice(&destination.octets());
        f.extend_from_slice(&icmp);
        f
    }

    #[test]
    fn answers_an_arp_request_for_an_owned_address_with_the_golden_reply() {
        let got = answer_arp(&ARP_REQUEST, &owned(), MAC).unwrap();
        let Outcome::Answer { ip, reply } = got else {
            panic!("expected an answer, got {got:?}")
        };
        assert_eq!(ip, IpAddr::V4(vip4()));
        assert_frame(&reply, &ARP_REPLY);
        // The reply parses back to what it says.
        let parsed = parse_arp(&reply).unwrap();
        assert_eq!(parsed.operation, ARP_OP_REPLY);
        assert_eq!(parsed.sender_mac, MAC);
        assert_eq!(parsed.sender_ip, vip4());
        assert_eq!(parsed.target_mac, CLIENT_MAC);
    }

    #[test]
    fn builds_the_golden_gratuitous_arp() {
        assert_frame(&gratuitous_arp(MAC, vip4()), &GRATUITOUS_ARP);
    }

    #[test]
    fn does_not_answer_arp_for_other_addresses_replies_or_announcements() {
        let others: BTreeSet<IpAddr> = ["198.51.100.11".parse().unwrap()].into();
        assert_eq!(answer_arp(&ARP_REQUEST, &others, MAC), Ok(Outcome::Ignore));
        assert_eq!(answer_arp(&ARP_REPLY, &owned(), MAC), Ok(Outcome::Ignore));
        // Another node's announcement of an owned address: not a question.
        let other_node = MacAddr([0x02, 0, 0, 0, 0x03, 0x01]);
        assert_eq!(
            answer_arp(&gratuitous_arp(other_node, vip4()), &owned(), MAC),
            Ok(Outcome::Ignore)
        );
        // A request this node sent itself.
        let mut own = ARP_REQUEST;
        own[22..28].copy_from_slice(&MAC.0);
        assert_eq!(answer_arp(&own, &owned(), MAC), Ok(Outcome::Ignore));
    }

    #[test]
    fn answers_an_rfc5227_probe_so_the_prober_sees_a_conflict() {
        let mut probe = ARP_REQUEST;
        probe[28..32].copy_from_slice(&[0, 0, 0, 0]);
        let Ok(Outcome::Answer { reply, .. }) = answer_arp(&probe, &owned(), MAC) else {
            panic!("a probe for an owned address is answered")
        };
        let parsed = parse_arp(&reply).unwrap();
        assert_eq!(parsed.target_ip, Ipv4Addr::UNSPECIFIED);
        assert_eq!(parsed.target_mac, CLIENT_MAC);
    }

    #[test]
    fn rejects_arp_that_is_not_ethernet_ipv4_or_truncated() {
        let mut bad = ARP_REQUEST;
        bad[16..18].copy_from_slice(&0x86ddu16.to_be_bytes());
        assert!(matches!(
            parse_arp(&bad),
            Err(PacketError::ArpNotEthernetIpv4 { ptype: 0x86dd, .. })
        ));
        let mut bad = ARP_REQUEST;
        bad[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        assert_eq!(parse_arp(&bad), Err(PacketError::EtherType(ETHERTYPE_IPV6)));
        // Every prefix shorter than the 42 bytes of header is an error, never a panic.
        for len in 0..ETHERNET_HEADER + ARP_LEN {
            assert!(
                matches!(
                    parse_arp(&ARP_REQUEST[..len]),
                    Err(PacketError::Truncated { .. })
                ),
                "prefix of {len}"
            );
        }
        // Without the padding it is still a whole ARP packet.
        assert!(parse_arp(&ARP_REQUEST[..42]).is_ok());
    }

    #[test]
    fn reads_the_golden_solicitation_and_answers_with_the_golden_advertisement() {
        let ns = parse_neighbor_solicitation(&NEIGHBOR_SOLICITATION).unwrap();
        assert_eq!(
            ns,
            NeighborSolicitation {
                ethernet_source: CLIENT_MAC,
                source: client6(),
                destination: "ff02::1:ff00:10".parse().unwrap(),
                target: vip6(),
                source_link_layer: Some(CLIENT_MAC),
            }
        );
        let Ok(Outcome::Answer { ip, reply }) = answer_ndp(&NEIGHBOR_SOLICITATION, &owned(), MAC)
        else {
            panic!("an NS for an owned address is answered")
        };
        assert_eq!(ip, IpAddr::V6(vip6()));
        assert_frame(&reply, &SOLICITED_ADVERTISEMENT);
    }

    #[test]
    fn builds_the_golden_unsolicited_advertisement() {
        assert_frame(
            &unsolicited_advertisement(MAC, vip6()),
            &UNSOLICITED_ADVERTISEMENT,
        );
    }

    #[test]
    fn checksums_match_the_golden_frames_and_validate() {
        for (frame, sum) in [
            (&NEIGHBOR_SOLICITATION[..], 0x1ae8),
            (&SOLICITED_ADVERTISEMENT[..], 0x8831),
            (&UNSOLICITED_ADVERTISEMENT[..], 0xf708),
        ] {
            let ip = &frame[ETHERNET_HEADER..];
            let (src, dst) = (ipv6_at(ip, 8), ipv6_at(ip, 24));
            let icmp = &ip[IPV6_HEADER..];
            assert_eq!(icmpv6_checksum(src, dst, icmp), sum);
            assert!(icmpv6_checksum_is_valid(src, dst, icmp));
            let mut broken = icmp.to_vec();
            broken[8] ^= 0x01;
            assert!(!icmpv6_checksum_is_valid(src, dst, &broken));
        }
    }

    #[test]
    fn accepts_the_other_encoding_of_a_zero_checksum() {
        // Find a target whose NS checksum computes to 0x0000, then send it as 0xffff: the
        // same one's-complement value, which a receiver must accept.
        let dst = solicited_node(vip6());
        let frame = (0u16..=u16::MAX)
            .map(|n| {
                let mut f = solicitation(client6(), dst, vip6(), 255, 0, &[]);
                // Vary the reserved field until the checksum is zero.
                f[ETHERNET_HEADER + IPV6_HEADER + 4..ETHERNET_HEADER + IPV6_HEADER + 6]
                    .copy_from_slice(&n.to_be_bytes());
                let icmp = &mut f[ETHERNET_HEADER + IPV6_HEADER..];
                let sum = icmpv6_checksum(client6(), dst, icmp);
                icmp[2..4].copy_from_slice(&sum.to_be_bytes());
                f
            })
            .find(|f| f[ETHERNET_HEADER + IPV6_HEADER + 2..][..2] == [0, 0])
            .expect("some reserved value gives a zero checksum");
        let mut f = frame;
        f[ETHERNET_HEADER + IPV6_HEADER + 2..][..2].copy_from_slice(&[0xff, 0xff]);
        assert!(parse_neighbor_solicitation(&f).is_ok());
    }

    #[test]
    fn answers_duplicate_address_detection_to_all_nodes_without_solicited() {
        let dad = solicitation(
            Ipv6Addr::UNSPECIFIED,
            solicited_node(vip6()),
            vip6(),
            255,
            0,
            &[],
        );
        let Ok(Outcome::Answer { reply, .. }) = answer_ndp(&dad, &owned(), MAC) else {
            panic!("DAD for an owned address is answered")
        };
        assert_frame(&reply, &UNSOLICITED_ADVERTISEMENT);
    }

    #[test]
    fn answers_a_unicast_solicitation_without_option_to_the_ethernet_source() {
        let mut ns = solicitation(client6(), vip6(), vip6(), 255, 0, &[]);
        ns[0..6].copy_from_slice(&MAC.0);
        let Ok(Outcome::Answer { reply, .. }) = answer_ndp(&ns, &owned(), MAC) else {
            panic!("unicast NS (NUD) for an owned address is answered")
        };
        assert_frame(&reply, &SOLICITED_ADVERTISEMENT);
    }

    #[test]
    fn does_not_answer_solicitations_for_other_addresses() {
        let others: BTreeSet<IpAddr> = ["2001:db8:ffff:2::11".parse().unwrap()].into();
        assert_eq!(
            answer_ndp(&NEIGHBOR_SOLICITATION, &others, MAC),
            Ok(Outcome::Ignore)
        );
        // IPv4 ownership of the "same" host part means nothing to IPv6.
        let v4_only: BTreeSet<IpAddr> = [IpAddr::V4(vip4())].into();
        assert_eq!(
            answer_ndp(&NEIGHBOR_SOLICITATION, &v4_only, MAC),
            Ok(Outcome::Ignore)
        );
    }

    #[test]
    fn rejects_solicitations_that_fail_rfc4861_validation() {
        let sn = solicited_node(vip6());
        let slla = [0x01, 0x01, 0x02, 0, 0, 0, 0x01, 0x01];
        type Case = (&'static str, Vec<u8>, fn(&PacketError) -> bool);
        let cases: Vec<Case> = vec![
            (
                "hop limit 64",
                solicitation(client6(), sn, vip6(), 64, 0, &[]),
                |e| matches!(e, PacketError::HopLimit(64)),
            ),
            (
                "code 1",
                solicitation(client6(), sn, vip6(), 255, 1, &[]),
                |e| matches!(e, PacketError::Code(1)),
            ),
            (
                "multicast target",
                solicitation(client6(), sn, ALL_NODES, 255, 0, &[]),
                |e| matches!(e, PacketError::MulticastTarget(_)),
            ),
            (
                "zero-length option",
                solicitation(
                    client6(),
                    sn,
                    vip6(),
                    255,
                    0,
                    &[0x01, 0x00, 0, 0, 0, 0, 0, 0],
                ),
                |e| matches!(e, PacketError::BadOption { offset: 24 }),
            ),
            (
                "option past the end",
                solicitation(
                    client6(),
                    sn,
                    vip6(),
                    255,
                    0,
                    &[0x01, 0x02, 0, 0, 0, 0, 0, 0],
                ),
                |e| matches!(e, PacketError::BadOption { offset: 24 }),
            ),
            (
                "DAD with a source link-layer option",
                solicitation(Ipv6Addr::UNSPECIFIED, sn, vip6(), 255, 0, &slla),
                |e| matches!(e, PacketError::BadDad(_)),
            ),
            (
                "DAD not to the solicited-node group",
                solicitation(Ipv6Addr::UNSPECIFIED, ALL_NODES, vip6(), 255, 0, &[]),
                |e| matches!(e, PacketError::BadDad(_)),
            ),
        ];
        for (name, frame, expected) in cases {
            let e = parse_neighbor_solicitation(&frame).unwrap_err();
            assert!(expected(&e), "{name}: got {e:?}");
        }
        let mut bad_sum = NEIGHBOR_SOLICITATION;
        bad_sum[56] ^= 0xff;
        assert!(matches!(
            parse_neighbor_solicitation(&bad_sum),
            Err(PacketError::Checksum {
                expected: 0x1ae8,
                ..
            })
        ));
        let mut not_ns = NEIGHBOR_SOLICITATION;
        not_ns[54] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
        assert_eq!(
            parse_neighbor_solicitation(&not_ns),
            Err(PacketError::NotSolicitation(0x88))
        );
        let mut udp = NEIGHBOR_SOLICITATION;
        udp[20] = 17;
        assert!(matches!(
            parse_neighbor_solicitation(&udp),
            Err(PacketError::NotIcmpv6 {
                next_header: 17,
                ..
            })
        ));
    }

    #[test]
    fn every_truncated_solicitation_is_an_error_and_padding_is_ignored() {
        for len in 0..NEIGHBOR_SOLICITATION.len() {
            assert!(
                parse_neighbor_solicitation(&NEIGHBOR_SOLICITATION[..len]).is_err(),
                "prefix of {len}"
            );
        }
        let mut padded = NEIGHBOR_SOLICITATION.to_vec();
        padded.extend_from_slice(&[0; 10]);
        assert!(parse_neighbor_solicitation(&padded).is_ok());
    }

    #[test]
    fn maps_addresses_to_solicited_node_groups_and_multicast_macs() {
        // RFC 4291 §2.7.1 example: 4037::01:800:200E:8C6C → FF02::1:FF0E:8C6C.
        let ip: Ipv6Addr = "4037::01:800:200e:8c6c".parse().unwrap();
        let group = solicited_node(ip);
        assert_eq!(group, "ff02::1:ff0e:8c6c".parse::<Ipv6Addr>().unwrap());
        // RFC 2464 §7: 33-33 followed by the last four octets.
        assert_eq!(multicast_mac(group).to_string(), "33:33:ff:0e:8c:6c");
        assert!(multicast_mac(group).is_multicast());
        assert!(!MAC.is_multicast());
    }

    #[test]
    fn parses_and_prints_mac_addresses() {
        let m: MacAddr = "02:00:00:00:02:01".parse().unwrap();
        assert_eq!(m, MAC);
        assert_eq!(m.to_string(), "02:00:00:00:02:01");
        assert_eq!("2:0:0:0:2:1".parse::<MacAddr>().unwrap(), MAC);
        for bad in [
            "",
            "02:00:00:00:02",
            "02:00:00:00:02:01:03",
            "02:00:00:00:02:zz",
            "020:0:0:0:0:0",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }
}
