//! Reading a tcpdump capture back as whole BGP messages, per TCP direction.
//!
//! Only what a lab capture needs: classic pcap files (micro- or nanosecond, either byte
//! order), Ethernet or Linux cooked (SLL) frames, IPv4 or IPv6 without extension headers,
//! TCP reassembled by sequence number (retransmitted bytes dropped, out-of-order segments
//! held until the gap fills). Anything else in the file is skipped, never a panic.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

/// A BGP message header is 19 bytes: 16-byte marker, 2-byte length, 1-byte type (RFC 4271 §4.1).
const BGP_HEADER_LEN: usize = 19;
/// The largest message with extended messages (RFC 8654); anything longer means the stream
/// is not BGP or is out of sync.
const BGP_MAX_LEN: usize = 65535;

/// One direction of one TCP connection, reassembled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// The reassembled payload bytes in sequence order.
    pub stream: Vec<u8>,
}

impl Flow {
    /// Splits the stream into BGP messages (each with its 19-byte header). A stream that does
    /// not start with a marker, or a length outside 19..=65535, is an error naming the offset;
    /// an incomplete last message (capture stopped mid-message) is dropped.
    pub fn bgp_messages(&self) -> Result<Vec<Vec<u8>>> {
        split_bgp(&self.stream).with_context(|| format!("flow {} -> {}", self.src, self.dst))
    }
}

/// Reads a pcap file and returns its TCP flows with payload, in order of first packet.
pub fn read_flows(path: &Path) -> Result<Vec<Flow>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    flows_from_pcap(&data).with_context(|| format!("parsing {}", path.display()))
}

/// [`read_flows`] on bytes already in memory.
pub fn flows_from_pcap(data: &[u8]) -> Result<Vec<Flow>> {
    if data.len() < 24 {
        bail!("pcap file shorter than its 24-byte header");
    }
    let magic = [data[0], data[1], data[2], data[3]];
    let big_endian = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => false,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => true,
        [0x0a, 0x0d, 0x0d, 0x0a] => bail!("pcapng is not supported; capture with tcpdump -w"),
        _ => bail!("not a pcap file (magic {magic:02x?})"),
    };
    let u32_at = |b: &[u8], i: usize| -> u32 {
        let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if big_endian {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        }
    };
    let linktype = u32_at(data, 20) & 0x0fff_ffff;
    let mut asm = Reassembler::default();
    let mut pos = 24;
    while pos + 16 <= data.len() {
        let incl = u32_at(data, pos + 8) as usize;
        let start = pos + 16;
        let Some(frame) = data.get(start..start + incl) else {
            break; // truncated last record: tcpdump was stopped while writing
        };
        pos = start + incl;
        if let Some(seg) = parse_frame(linktype, frame) {
            asm.push(seg);
        }
    }
    Ok(asm.finish())
}

/// Splits a byte stream into BGP messages (see [`Flow::bgp_messages`]).
pub fn split_bgp(stream: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while stream.len() - i >= BGP_HEADER_LEN {
        if stream[i..i + 16].iter().any(|&b| b != 0xff) {
            bail!("no BGP marker at stream offset {i}");
        }
        let len = u16::from_be_bytes([stream[i + 16], stream[i + 17]]) as usize;
        if !(BGP_HEADER_LEN..=BGP_MAX_LEN).contains(&len) {
            bail!("BGP length {len} at stream offset {i}");
        }
        if stream.len() - i < len {
            break;
        }
        out.push(stream[i..i + len].to_vec());
        i += len;
    }
    Ok(out)
}

/// A TCP segment taken from a frame.
#[derive(Debug)]
struct Segment<'a> {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    syn: bool,
    payload: &'a [u8],
}

fn parse_frame(linktype: u32, f: &[u8]) -> Option<Segment<'_>> {
    // LINKTYPE_ETHERNET = 1, LINKTYPE_LINUX_SLL = 113, LINKTYPE_LINUX_SLL2 = 276
    let (mut ethertype, mut rest) = match linktype {
        1 => (u16::from_be_bytes([*f.get(12)?, *f.get(13)?]), f.get(14..)?),
        113 => (u16::from_be_bytes([*f.get(14)?, *f.get(15)?]), f.get(16..)?),
        276 => (u16::from_be_bytes([*f.first()?, *f.get(1)?]), f.get(20..)?),
        _ => return None,
    };
    // 802.1Q / 802.1ad tags
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        ethertype = u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]);
        rest = rest.get(4..)?;
    }
    let (src, dst, tcp) = match ethertype {
        0x0800 => {
            let ihl = ((*rest.first()? & 0x0f) as usize) * 4;
            let total = u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]) as usize;
            if *rest.get(9)? != 6 || ihl < 20 || total < ihl {
                return None;
            }
            let s = Ipv4Addr::new(rest[12], rest[13], rest[14], rest[15]);
            let d = Ipv4Addr::new(*rest.get(16)?, rest[17], rest[18], rest[19]);
            // Ethernet pads short frames: trust the IP total length, not the frame
            (IpAddr::V4(s), IpAddr::V4(d), rest.get(ihl..total)?)
        }
        0x86dd => {
            let plen = u16::from_be_bytes([*rest.get(4)?, *rest.get(5)?]) as usize;
            if *rest.get(6)? != 6 {
                return None; // extension headers: not produced by a lab BGP session
            }
            let s: [u8; 16] = rest.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = rest.get(24..40)?.try_into().ok()?;
            (
                IpAddr::V6(Ipv6Addr::from(s)),
                IpAddr::V6(Ipv6Addr::from(d)),
                rest.get(40..40 + plen)?,
            )
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*tcp.first()?, *tcp.get(1)?]);
    let dport = u16::from_be_bytes([*tcp.get(2)?, *tcp.get(3)?]);
    let seq = u32::from_be_bytes(tcp.get(4..8)?.try_into().ok()?);
    let off = ((*tcp.get(12)? >> 4) as usize) * 4;
    let flags = *tcp.get(13)?;
    Some(Segment {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        seq,
        syn: flags & 0x02 != 0,
        payload: tcp.get(off..)?,
    })
}

/// One direction being reassembled: the flow so far, the next expected sequence number
/// (unknown until the SYN or first data segment), and segments held beyond a gap.
type FlowState = (Flow, Option<u32>, BTreeMap<u32, Vec<u8>>);

/// Per-direction TCP reassembly.
#[derive(Default)]
struct Reassembler {
    flows: Vec<FlowState>,
}

impl Reassembler {
    fn push(&mut self, seg: Segment<'_>) {
        // a SYN on a known 4-tuple starts a new connection
        let idx = self
            .flows
            .iter()
            .rposition(|(f, _, _)| f.src == seg.src && f.dst == seg.dst);
        let idx = match idx {
            Some(i) if !seg.syn => i,
            _ => {
                if seg.payload.is_empty() && !seg.syn {
                    return; // a pure ACK of a connection whose start we did not see
                }
                self.flows.push((
                    Flow {
                        src: seg.src,
                        dst: seg.dst,
                        stream: Vec::new(),
                    },
                    None,
                    BTreeMap::new(),
                ));
                self.flows.len() - 1
            }
        };
        let (flow, next, pending) = &mut self.flows[idx];
        if seg.syn {
            *next = Some(seg.seq.wrapping_add(1));
            return;
        }
        if seg.payload.is_empty() {
            return;
        }
        let expected = *next.get_or_insert(seg.seq);
        let ahead = seg.seq.wrapping_sub(expected);
        if ahead == 0 {
            flow.stream.extend_from_slice(seg.payload);
            *next = Some(expected.wrapping_add(seg.payload.len() as u32));
        } else if ahead < 0x8000_0000 {
            // a gap: keep it until the missing bytes arrive
            pending.insert(seg.seq, seg.payload.to_vec());
            return;
        } else {
            // (partly) retransmitted: keep only the bytes beyond what we have
            let dup = expected.wrapping_sub(seg.seq) as usize;
            if dup < seg.payload.len() {
                flow.stream.extend_from_slice(&seg.payload[dup..]);
                *next = Some(seg.seq.wrapping_add(seg.payload.len() as u32));
            }
        }
        // drain held segments that now fit
        while let Some(n) = *next {
            let Some(bytes) = pending.remove(&n) else {
                break;
            };
            flow.stream.extend_from_slice(&bytes);
            *next = Some(n.wrapping_add(bytes.len() as u32));
        }
    }

    fn finish(self) -> Vec<Flow> {
        self.flows
            .into_iter()
            .map(|(f, _, _)| f)
            .filter(|f| !f.stream.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEPALIVE: [u8; 19] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x00, 0x13, 0x04,
    ];

    /// An Ethernet + IPv4 + TCP frame.
    fn frame(sport: u16, seq: u32, syn: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let total = (20 + 20 + payload.len()) as u16;
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            64,
            6,
            0,
            0,
        ]);
        f.extend_from_slice(&[10, 200, 100, 1, 10, 200, 100, 2]);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&179u16.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&[
            0,
            0,
            0,
            0,
            0x50,
            if syn { 0x02 } else { 0x18 },
            0,
            0,
            0,
            0,
            0,
            0,
        ]);
        f.extend_from_slice(payload);
        f
    }

    fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut p = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&262144u32.to_le_bytes());
        p.extend_from_slice(&1u32.to_le_bytes());
        for f in frames {
            p.extend_from_slice(&[0; 8]);
            p.extend_from_slice(&(f.len() as u32).to_le_bytes());
            p.extend_from_slice(&(f.len() as u32).to_le_bytes());
            p.extend_from_slice(f);
        }
        p
    }

    #[test]
    fn reassembles_split_retransmitted_and_reordered_segments() {
        let mut two = KEEPALIVE.to_vec();
        two.extend_from_slice(&KEEPALIVE);
        let isn: u32 = 0xffff_fff0; // wraps around during the stream
        let s = isn.wrapping_add(1);
        let frames = [
            frame(40000, isn, true, &[]),
            frame(40000, s, false, &two[..10]),
            frame(40000, s.wrapping_add(25), false, &two[25..]), // early
            frame(40000, s, false, &two[..10]),                  // retransmission
            frame(40000, s.wrapping_add(10), false, &two[10..25]),
        ];
        let flows = flows_from_pcap(&pcap(&frames)).unwrap();
        assert_eq!(flows.len(), 1);
        assert_eq!(flows[0].stream, two);
        assert_eq!(flows[0].dst.port(), 179);
        let msgs = flows[0].bgp_messages().unwrap();
        assert_eq!(msgs, vec![KEEPALIVE.to_vec(), KEEPALIVE.to_vec()]);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(flows_from_pcap(&[1, 2, 3]).is_err());
        assert!(flows_from_pcap(&[0u8; 40]).is_err());
        // a record claiming more bytes than the file has is dropped
        let mut p = pcap(&[frame(1, 1, false, &KEEPALIVE)]);
        p.truncate(p.len() - 3);
        assert!(flows_from_pcap(&p).unwrap().is_empty());
        assert!(split_bgp(&[0u8; 19]).is_err());
        let mut bad_len = KEEPALIVE;
        bad_len[17] = 3;
        assert!(split_bgp(&bad_len).is_err());
        // an incomplete last message is dropped
        assert_eq!(split_bgp(&KEEPALIVE[..18]).unwrap().len(), 0);
    }
}
