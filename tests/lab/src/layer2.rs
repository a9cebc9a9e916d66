//! A layer-2 segment for ARP/NDP tests: one bridge ([`Lan`]), a client namespace and speaker
//! namespaces on it, each with `eth0`, a fixed MAC and fixed addresses; the client's view
//! (arping, ndisc6, its neighbor table, probes in the background) and a capture of the ARP
//! and NDP answers on the bridge, read back as [`Answer`]s.
//!
//! Ends are named by strings: `"c"` is the client (host 1 of the subnets), speakers are
//! named at creation and numbered from host 2 in that order.

use anyhow::{bail, Context, Result};
use std::fmt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::str::FromStr;

use crate::capture::Capture;
use crate::netns::{Lan, Netns};
use crate::tools::binary;

/// An Ethernet address.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Mac {
    type Err = anyhow::Error;

    /// `02:00:5e:10:20:01`, either case.
    fn from_str(s: &str) -> Result<Mac> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            bail!("not a MAC address: {s:?}");
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(parts) {
            if p.len() != 2 {
                bail!("not a MAC address: {s:?}");
            }
            *o = u8::from_str_radix(p, 16).with_context(|| format!("not a MAC address: {s:?}"))?;
        }
        Ok(Mac(out))
    }
}

/// Addresses of a [`Segment`].
#[derive(Clone, Debug)]
pub struct Addressing {
    /// Fifth byte of every MAC (`02:00:00:00:<subnet>:<host>`): distinct per test.
    pub subnet: u8,
    /// First three octets of the IPv4 /24 (`10.200.60`).
    pub v4: String,
    /// The IPv6 /64 without its `::` (`2001:db8:60`).
    pub v6: String,
}

/// A bridge with a client and speakers, each on its `eth0`; removed on drop.
pub struct Segment {
    // Fields drop in order: the ends before the bridge's namespace.
    client: Netns,
    speakers: Vec<(String, Netns)>,
    lan: Lan,
    addressing: Addressing,
}

impl Segment {
    /// Namespaces `<prefix>-<tag>-…` (see [`Netns::with_prefix`]): a switch with bridge
    /// `br0` (multicast snooping off, so NDP reaches every port without an MLD querier),
    /// the client `c` and `speakers`. The client resolves the prefixes in `on_link` directly
    /// on its link (ARP / NDP rather than a router), and keeps learned neighbors REACHABLE
    /// for minutes, so an entry can only change through an announcement.
    pub fn new(
        prefix: &str,
        tag: &str,
        addressing: Addressing,
        speakers: &[&str],
        on_link: &[&str],
    ) -> Result<Segment> {
        let mut lan = Lan::with_prefix(prefix, tag)?;
        lan.switch().ip(&[
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        let client = Netns::with_prefix(prefix, &format!("{tag}-c"))?;
        let mut ends = vec![("c".to_owned(), client)];
        for end in speakers {
            ends.push((
                end.to_string(),
                Netns::with_prefix(prefix, &format!("{tag}-{end}"))?,
            ));
        }
        for (i, (_, ns)) in ends.iter().enumerate() {
            let host = u8::try_from(i + 1)?;
            lan.attach(ns, "eth0", &[])?;
            // The MAC first: setting it cycles the link, which would flush IPv6 addresses.
            ns.set_mac("eth0", &mac_of(addressing.subnet, host).to_string())?;
            ns.addr("eth0", &format!("{}/24", addr_of(&addressing, host, false)))?;
            ns.addr("eth0", &format!("{}/64", addr_of(&addressing, host, true)))?;
        }
        let (_, client) = ends.remove(0);
        let seg = Segment {
            client,
            speakers: ends,
            lan,
            addressing,
        };
        for prefix in on_link {
            let family = if prefix.contains(':') { "-6" } else { "-4" };
            seg.client
                .ip(&[family, "route", "add", prefix, "dev", "eth0"])?;
        }
        for family in ["ipv4", "ipv6"] {
            seg.client.exec(&[
                "sysctl",
                "-qw",
                &format!("net.{family}.neigh.eth0.base_reachable_time_ms=600000"),
            ])?;
        }
        Ok(seg)
    }

    /// The namespace of `end` (`"c"` or a speaker).
    pub fn ns(&self, end: &str) -> Result<&Netns> {
        if end == "c" {
            return Ok(&self.client);
        }
        match self.speakers.iter().find(|(e, _)| e == end) {
            Some((_, ns)) => Ok(ns),
            None => bail!("no end {end:?} in this segment"),
        }
    }

    fn host(&self, end: &str) -> Result<u8> {
        if end == "c" {
            return Ok(1);
        }
        match self.speakers.iter().position(|(e, _)| e == end) {
            Some(i) => Ok(u8::try_from(i + 2)?),
            None => bail!("no end {end:?} in this segment"),
        }
    }

    /// The fixed MAC of `end`'s `eth0`: `02:00:00:00:<subnet>:<host>`.
    pub fn mac(&self, end: &str) -> Result<Mac> {
        Ok(mac_of(self.addressing.subnet, self.host(end)?))
    }

    /// `end`'s address on the link, IPv4 or IPv6.
    pub fn addr(&self, end: &str, v6: bool) -> Result<String> {
        Ok(addr_of(&self.addressing, self.host(end)?, v6))
    }

    /// Runs `args` in the client namespace; its output whatever the exit status (arping
    /// fails when nobody answers).
    pub fn client(&self, args: &[&str]) -> Result<Output> {
        let Some((program, rest)) = args.split_first() else {
            bail!("client: empty command");
        };
        self.client
            .command(program)
            .args(rest)
            .output()
            .with_context(|| format!("running {args:?} in the client"))
    }

    /// MACs that answered two ARP requests for `ip` (arping, 300 ms each).
    pub fn arping(&self, ip: &str) -> Result<Vec<Mac>> {
        let out = self.client(&["arping", "-c", "2", "-W", "0.3", "-i", "eth0", ip])?;
        Ok(macs_after(
            &String::from_utf8_lossy(&out.stdout),
            "bytes from ",
        ))
    }

    /// MACs that answered a Neighbor Solicitation for `ip` (ndisc6, every response).
    pub fn ndisc6(&self, ip: &str) -> Result<Vec<Mac>> {
        let out = self.client(&["ndisc6", "-m", "-n", "-r", "2", "-w", "400", ip, "eth0"])?;
        Ok(macs_after(
            &String::from_utf8_lossy(&out.stdout),
            "Target link-layer address: ",
        ))
    }

    /// The MAC the client's neighbor table holds for `ip`, if any.
    pub fn neighbor(&self, ip: &str) -> Result<Option<Mac>> {
        let out = self.client(&["ip", "neigh", "show", ip, "dev", "eth0"])?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            if w == "lladdr" {
                return Ok(words.next().and_then(|m| m.parse().ok()));
            }
        }
        Ok(None)
    }

    /// Runs `script` with `sh -c` in the client for at most `seconds`, in the background.
    pub fn client_background(&self, seconds: u32, script: &str) -> Result<Child> {
        self.client
            .command(binary("timeout")?)
            .args([&seconds.to_string(), "sh", "-c", script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting a background probe in the client")
    }

    /// Captures ARP and ICMPv6 on the bridge into `file` until the capture is stopped.
    pub fn capture(&self, file: &Path) -> Result<Capture> {
        Capture::start(self.lan.switch(), "br0", "arp or icmp6", file)
    }
}

fn mac_of(subnet: u8, host: u8) -> Mac {
    Mac([0x02, 0, 0, 0, subnet, host])
}

fn addr_of(a: &Addressing, host: u8, v6: bool) -> String {
    if v6 {
        format!("{}::{host}", a.v6)
    } else {
        format!("{}.{host}", a.v4)
    }
}

/// Every MAC following `marker` in a tool's output.
fn macs_after(text: &str, marker: &str) -> Vec<Mac> {
    text.lines()
        .filter_map(|l| {
            let rest = &l[l.find(marker)? + marker.len()..];
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect()
}

/// An ARP reply, ARP announcement or Neighbor Advertisement seen in a capture.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Capture time, seconds since the epoch.
    pub time: f64,
    /// Sender MAC.
    pub mac: Mac,
    /// The tcpdump summary line.
    pub what: String,
}

/// Every answer for `vip4` / `vip6` in the capture `file`, in capture order (pass an
/// address that never occurs, e.g. `-`, to look at one family only).
pub fn answers_in(file: &Path, vip4: &str, vip6: &str) -> Result<Vec<Answer>> {
    let out = Command::new(binary("tcpdump")?)
        .arg("-r")
        .arg(file)
        .args(["-n", "-e", "-tt"])
        .output()
        .context("tcpdump -r")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(parse_answers(&text, vip4, vip6))
}

fn parse_answers(text: &str, vip4: &str, vip6: &str) -> Vec<Answer> {
    let reply = format!("Reply {vip4} is-at");
    let announce = format!("who-has {vip4} tell {vip4}");
    let advert = format!("neighbor advertisement, tgt is {vip6},");
    text.lines()
        .filter(|l| l.contains(&reply) || l.contains(&announce) || l.contains(&advert))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let time = words.next()?.parse().ok()?;
            let mac = words.next()?.parse().ok()?;
            Some(Answer {
                time,
                mac,
                what: l.to_owned(),
            })
        })
        .collect()
}

/// Checks a handover in `answers`: every answer came from `from` or `to`, all of `from`'s
/// before any of `to`'s (never both at once). Returns the last of `from` and the first of
/// `to`.
pub fn handover(answers: &[Answer], from: Mac, to: Mac) -> Result<(Answer, Answer)> {
    let Some(last_from) = answers.iter().rposition(|s| s.mac == from) else {
        bail!("no answer from {from}: {answers:#?}");
    };
    let Some(first_to) = answers.iter().position(|s| s.mac == to) else {
        bail!("no answer from {to}: {answers:#?}");
    };
    if last_from > first_to {
        bail!(
            "{from} answered after {to} had started: {:#?}",
            &answers[first_to..=last_from]
        );
    }
    let strangers: Vec<&Answer> = answers
        .iter()
        .filter(|s| s.mac != from && s.mac != to)
        .collect();
    if !strangers.is_empty() {
        bail!("answers from neither {from} nor {to}: {strangers:#?}");
    }
    Ok((answers[last_from].clone(), answers[first_to].clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_print_and_parse() {
        let m: Mac = "02:00:5E:10:20:0a".parse().unwrap();
        assert_eq!(m, Mac([2, 0, 0x5e, 0x10, 0x20, 0x0a]));
        assert_eq!(m.to_string(), "02:00:5e:10:20:0a");
        for bad in [
            "",
            "02:00:5e:10:20",
            "02:00:5e:10:20:0a:01",
            "0g:00:00:00:00:00",
            "2:0:0:0:0:0",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_arping_and_ndisc6_output() {
        let arping = "ARPING 198.51.100.10\n60 bytes from 02:00:00:00:3c:02 (198.51.100.10): index=0 time=1.1 msec\nTimeout\n";
        assert_eq!(
            macs_after(arping, "bytes from "),
            [Mac([2, 0, 0, 0, 0x3c, 2])]
        );
        let ndisc6 = "Soliciting 2001:db8::10 (2001:db8::10) on eth0...\nTarget link-layer address: 02:00:00:00:3C:03\n from fe80::3\n";
        assert_eq!(
            macs_after(ndisc6, "Target link-layer address: "),
            [Mac([2, 0, 0, 0, 0x3c, 3])]
        );
    }

    const CAPTURE: &str = "\
1700000000.100000 02:00:00:00:3c:02 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 198.51.100.10 tell 198.51.100.10, length 28
1700000000.200000 02:00:00:00:3c:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 198.51.100.10 tell 10.200.60.1, length 28
1700000000.200500 02:00:00:00:3c:02 > 02:00:00:00:3c:01, ethertype ARP (0x0806), length 42: Reply 198.51.100.10 is-at 02:00:00:00:3c:02, length 28
1700000004.900000 02:00:00:00:3c:03 > 33:33:00:00:00:01, ethertype IPv6 (0x86dd), length 86: fe80::3 > ff02::1: ICMP6, neighbor advertisement, tgt is 2001:db8:ffff:2::10, length 32
1700000005.000000 02:00:00:00:3c:03 > 02:00:00:00:3c:01, ethertype ARP (0x0806), length 42: Reply 198.51.100.10 is-at 02:00:00:00:3c:03, length 28
";

    #[test]
    fn reads_answers_and_checks_a_handover() {
        let (a, b, c) = (
            Mac([2, 0, 0, 0, 0x3c, 2]),
            Mac([2, 0, 0, 0, 0x3c, 3]),
            Mac([2, 0, 0, 0, 0x3c, 1]),
        );
        let all = parse_answers(CAPTURE, "198.51.100.10", "2001:db8:ffff:2::10");
        let macs: Vec<Mac> = all.iter().map(|s| s.mac).collect();
        assert_eq!(macs, [a, a, b, b], "the client's request is no answer");
        assert_eq!(parse_answers(CAPTURE, "-", "2001:db8:ffff:2::10").len(), 1);
        let (last_a, first_b) = handover(&all, a, b).unwrap();
        assert!((first_b.time - last_a.time - 4.6995).abs() < 1e-6);
        assert!(
            handover(&all, b, a).is_err(),
            "interleaved the other way round"
        );
        assert!(handover(&all, a, c).is_err(), "c never answered");
        let mut stranger = all.clone();
        stranger[0].mac = c;
        assert!(handover(&stranger, a, b).is_err());
    }
}
