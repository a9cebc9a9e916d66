//! Messages captured from real routers decode, re-encode to the same bytes, and say what the
//! routers were told to send.
//!
//! The files in `tests/data/captures` come from `porter-lab capture` (tests/lab): BIRD 2,
//! FRR 8 and gobgpd 3 peered in network namespaces, IPv4 and IPv6 unicast sessions with
//! 4-octet AS numbers, graceful restart and ADD-PATH, captured with tcpdump. Each file is a
//! `#` comment block then hex; the `# ctx:` line gives what the two OPENs negotiated for that
//! direction (`four_octet_as`, `extended_message`, `add_path=FAMILY,…`). The file name is
//! `<router>-<version>-<what>[-to-<peer>].hex`.
//!
//! What the routers were configured with (see tests/lab/src/golden.rs), and so what the facts
//! below check: BIRD is AS 4200000001 and announces 198.51.100.1/32 (community 65001:100,
//! large community 4200000001:1:1) and 2001:db8:100::1/128 (65001:600); gobgpd is AS
//! 4200000002 with 203.0.113.2/32 (65002:100, 4200000002:2:2) and 2001:db8:7::2/128
//! (65002:600); FRR is AS 4200000003 with 198.51.100.3/32 (65003:100, 4200000003:3:3) and
//! 2001:db8:100::3/128 (65003:600). Hold time 9 s everywhere; shutdowns carry "maintenance".

use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use bgp_wire::attribute::{LargeCommunity, MpNextHop, MpReach, MpUnreach, Origin, PathAttribute};
use bgp_wire::capability::Capability;
use bgp_wire::context::{AddPathFamilies, CodecContext};
use bgp_wire::iana::{Afi, Family, AS_TRANS};
use bgp_wire::message::notification::{CeaseSubcode, ErrorKind};
use bgp_wire::message::route_refresh::RefreshSubtype;
use bgp_wire::message::{decode_message, Message};
use bgp_wire::nlri::{Nlri, Prefix};

/// One capture file.
struct Capture {
    /// File name.
    name: String,
    /// Negotiated context for its direction.
    ctx: CodecContext,
    /// The message.
    bytes: Vec<u8>,
}

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures")
}

/// Parses a `# ctx:` value. Unknown tokens are an error, so a typo cannot silently turn
/// a feature off.
fn parse_ctx(value: &str) -> Result<CodecContext, String> {
    let mut ctx = CodecContext::default();
    for token in value.split_whitespace() {
        match token.split_once('=') {
            None if token == "four_octet_as" => ctx.four_octet_as = true,
            None if token == "extended_message" => ctx.extended_message = true,
            Some(("add_path", fams)) => {
                for f in fams.split(',') {
                    ctx.add_path.insert(match f {
                        "ipv4-unicast" => Family::IPV4_UNICAST,
                        "ipv6-unicast" => Family::IPV6_UNICAST,
                        other => return Err(format!("unknown add_path family {other:?}")),
                    });
                }
            }
            _ => return Err(format!("unknown ctx token {token:?}")),
        }
    }
    Ok(ctx)
}

fn parse_file(name: &str, text: &str) -> Result<Capture, String> {
    let mut ctx = None;
    let mut hex = String::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix('#') {
            if let Some(v) = comment.trim_start().strip_prefix("ctx:") {
                ctx = Some(parse_ctx(v)?);
            }
        } else {
            hex.extend(line.chars().filter(|c| !c.is_whitespace()));
        }
    }
    let ctx = ctx.ok_or("no `# ctx:` line")?;
    if hex.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|e| format!("bad hex: {e}")))
        .collect::<Result<Vec<u8>, String>>()?;
    if bytes.is_empty() {
        return Err("no message bytes".into());
    }
    Ok(Capture {
        name: name.to_string(),
        ctx,
        bytes,
    })
}

fn load_all() -> Vec<Capture> {
    let dir = captures_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".hex"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| {
            let text = std::fs::read_to_string(dir.join(n)).unwrap();
            parse_file(n, &text).unwrap_or_else(|e| panic!("{n}: {e}"))
        })
        .collect()
}

/// Decodes, turning a panic in the codec into an error naming the file.
fn decode(c: &Capture) -> Result<Message, String> {
    match catch_unwind(AssertUnwindSafe(|| decode_message(&c.bytes, &c.ctx))) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(format!("decode error: {e}")),
        Err(p) => Err(format!("decoder panicked: {}", panic_text(&p))),
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic)".into())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// First differing offset after the header (or in it, if only the header differs) and both
/// sides around it.
fn diff(want: &[u8], got: &[u8]) -> String {
    let first = |from: usize| {
        want.iter()
            .zip(got)
            .skip(from)
            .position(|(a, b)| a != b)
            .map(|p| p + from)
    };
    let at = first(19)
        .or_else(|| first(0))
        .unwrap_or(want.len().min(got.len()));
    let from = at.saturating_sub(8);
    format!(
        "lengths {} vs {}, first difference at byte {at}:\n  captured …{}\n  encoded  …{}",
        want.len(),
        got.len(),
        hex(&want[from..want.len().min(at + 16)]),
        hex(&got[from..got.len().min(at + 16)])
    )
}

/// The UPDATE in `msg` with every path attribute that has the Extended Length bit set but a
/// value under 256 octets rewritten to the one-octet length form; other messages unchanged.
///
/// RFC 4271 §4.3 lets a sender set Extended Length for any attribute length, and real
/// routers do: BIRD on MP_REACH_NLRI / MP_UNREACH_NLRI, FRR also on AS_PATH. The decoded
/// model does not keep the bit (`RawAttribute` says it is recomputed on encode), so an
/// encoder can only reproduce the shortest form; this is that form.
fn shortest_length_form(msg: &[u8]) -> Result<Vec<u8>, String> {
    if msg.get(18) != Some(&2) {
        return Ok(msg.to_vec());
    }
    let short = || "UPDATE truncated".to_string();
    let body = &msg[19..];
    let wlen = u16::from_be_bytes([
        *body.first().ok_or_else(short)?,
        *body.get(1).ok_or_else(short)?,
    ]) as usize;
    let alen_at = 2 + wlen;
    let alen = u16::from_be_bytes([
        *body.get(alen_at).ok_or_else(short)?,
        *body.get(alen_at + 1).ok_or_else(short)?,
    ]) as usize;
    let attrs = body
        .get(alen_at + 2..alen_at + 2 + alen)
        .ok_or_else(short)?;
    let mut out_attrs = Vec::new();
    let mut i = 0;
    while i < attrs.len() {
        let flags = *attrs.get(i).ok_or_else(short)?;
        let code = *attrs.get(i + 1).ok_or_else(short)?;
        let (len, hdr) = if flags & 0x10 != 0 {
            let hi = *attrs.get(i + 2).ok_or_else(short)?;
            let lo = *attrs.get(i + 3).ok_or_else(short)?;
            (u16::from_be_bytes([hi, lo]) as usize, 4)
        } else {
            (*attrs.get(i + 2).ok_or_else(short)? as usize, 3)
        };
        let value = attrs.get(i + hdr..i + hdr + len).ok_or_else(short)?;
        if len < 256 {
            out_attrs.extend_from_slice(&[flags & !0x10, code, len as u8]);
        } else {
            out_attrs.extend_from_slice(&[flags, code]);
            out_attrs.extend_from_slice(&(len as u16).to_be_bytes());
        }
        out_attrs.extend_from_slice(value);
        i += hdr + len;
    }
    let mut out = msg[..19].to_vec();
    out.extend_from_slice(&body[..alen_at]);
    out.extend_from_slice(&(out_attrs.len() as u16).to_be_bytes());
    out.extend_from_slice(&out_attrs);
    out.extend_from_slice(&body[alen_at + 2 + alen..]);
    let total = out.len() as u16;
    out[16..18].copy_from_slice(&total.to_be_bytes());
    Ok(out)
}

#[test]
fn shortest_length_form_rewrites_only_extended_short_attributes() {
    // FRR's AS_PATH with Extended Length (0x50, length 00 06) and a short ORIGIN
    let mut msg = vec![0xff; 16];
    msg.extend_from_slice(&[0, 0, 2, 0, 0, 0, 14]);
    msg.extend_from_slice(&[0x40, 1, 1, 0]);
    msg.extend_from_slice(&[0x50, 2, 0, 6, 2, 1, 0xfa, 0x56, 0xea, 0x03]);
    msg.extend_from_slice(&[32, 198, 51, 100, 3]);
    let len = msg.len() as u16;
    msg[16..18].copy_from_slice(&len.to_be_bytes());
    let got = shortest_length_form(&msg).unwrap();
    assert_eq!(got.len(), msg.len() - 1);
    assert_eq!(&got[16..18], &(len - 1).to_be_bytes());
    assert_eq!(&got[21..23], &[0, 13]);
    assert_eq!(&got[27..30], &[0x40, 2, 6]);
    assert_eq!(&got[got.len() - 5..], &[32, 198, 51, 100, 3]);
    // already shortest: unchanged; non-UPDATE: unchanged; truncated: an error
    assert_eq!(shortest_length_form(&got).unwrap(), got);
    let keepalive = [[0xff; 16].as_slice(), &[0, 19, 4]].concat();
    assert_eq!(shortest_length_form(&keepalive).unwrap(), keepalive);
    assert!(shortest_length_form(&msg[..30]).is_err());
}

/// Every capture decodes and encodes back to its bytes, up to the Extended Length bit (see
/// [`shortest_length_form`]).
#[test]
fn captures_decode_and_reencode_byte_for_byte() {
    let all = load_all();
    let mut failed = Vec::new();
    for c in &all {
        let m = match decode(c) {
            Ok(m) => m,
            Err(e) => {
                failed.push(format!("{}: {e}", c.name));
                continue;
            }
        };
        let want = match shortest_length_form(&c.bytes) {
            Ok(w) => w,
            Err(e) => {
                failed.push(format!("{}: {e}", c.name));
                continue;
            }
        };
        match catch_unwind(AssertUnwindSafe(|| m.to_bytes(&c.ctx))) {
            Ok(Ok(b)) if b == want => {}
            Ok(Ok(b)) => failed.push(format!(
                "{}: re-encoded differently, {}",
                c.name,
                diff(&want, &b)
            )),
            Ok(Err(e)) => failed.push(format!("{}: encode error {e}", c.name)),
            Err(p) => failed.push(format!("{}: encoder panicked: {}", c.name, panic_text(&p))),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} captures failed:\n{}",
        failed.len(),
        all.len(),
        failed.join("\n")
    );
}

/// What a router was configured to send (see the module comment).
struct Router {
    asn: u32,
    v4: &'static str,
    v6: &'static str,
    community_v4: u32,
    community_v6: u32,
    large: LargeCommunity,
}

fn router(name: &str) -> Router {
    let (asn, v4, v6, c, n) = match name.split('-').next().unwrap() {
        "bird" => (4_200_000_001, "198.51.100.1", "2001:db8:100::1", 65001, 1),
        "gobgpd" => (4_200_000_002, "203.0.113.2", "2001:db8:7::2", 65002, 2),
        "frr" => (4_200_000_003, "198.51.100.3", "2001:db8:100::3", 65003, 3),
        other => panic!("{name}: unknown router {other}"),
    };
    Router {
        asn,
        v4,
        v6,
        community_v4: (c << 16) | 100,
        community_v6: (c << 16) | 600,
        large: LargeCommunity {
            global_admin: asn,
            local_data1: n,
            local_data2: n,
        },
    }
}

fn host(addr: &str) -> Prefix {
    Prefix::host(addr.parse::<IpAddr>().unwrap())
}

/// The family a file's session carries, from `-ipv4`/`-ipv6` in its name.
fn session_family(name: &str) -> Family {
    if name.contains("-ipv6") {
        Family::IPV6_UNICAST
    } else {
        assert!(name.contains("-ipv4"), "{name}: no family in the name");
        Family::IPV4_UNICAST
    }
}

/// Problems with `m` given what `name` says it is.
fn facts(name: &str, ctx: &CodecContext, m: &Message) -> Vec<String> {
    let r = router(name);
    let fam = session_family(name);
    let mut bad = Vec::new();
    let mut want = |ok: bool, what: &str| {
        if !ok {
            bad.push(format!("{name}: {what}"));
        }
    };
    // every capture is between two speakers with 4-octet AS and ADD-PATH both ways
    want(ctx.four_octet_as, "ctx lacks four_octet_as");
    want(
        ctx.add_path.contains(fam),
        "ctx lacks add_path for the session family",
    );
    let has_path_ids = |n: &[Nlri]| !n.is_empty() && n.iter().all(|x| x.path_id.is_some());
    let what = name
        .split_once('-')
        .and_then(|(_, rest)| rest.split_once('-'))
        .map(|(_, what)| what)
        .unwrap_or_default();
    match m {
        Message::Open(o) if what.starts_with("open-") => {
            want(o.version == 4, "version is not 4");
            // RFC 6793 §4.1: a 4-octet AS that does not fit 2 octets goes out as AS_TRANS
            want(o.my_as == AS_TRANS, "My AS is not AS_TRANS");
            want(
                o.asn() == r.asn,
                &format!("AS {} is not {}", o.asn(), r.asn),
            );
            want(
                o.hold_time == 9,
                &format!("hold time {} is not 9", o.hold_time),
            );
            want(
                o.bgp_id.octets()[..2] == [10, 200],
                "router id not in 10.200/16",
            );
            let caps: Vec<&Capability> = o.capabilities().collect();
            want(
                caps.contains(&&Capability::FourOctetAs(r.asn)),
                "no 4-octet AS capability with its AS",
            );
            want(
                caps.contains(&&Capability::Multiprotocol(fam)),
                "no multiprotocol capability for the session family",
            );
            want(
                caps.iter()
                    .any(|c| matches!(c, Capability::GracefulRestart(_))),
                "no graceful restart capability",
            );
            want(
                caps.iter().any(|c| match c {
                    Capability::AddPath(es) => es
                        .iter()
                        .any(|e| e.family == fam && e.mode.can_send() && e.mode.can_receive()),
                    _ => false,
                }),
                "no ADD-PATH send/receive for the session family",
            );
        }
        Message::Update(u) if what.starts_with("update-ipv4") => {
            let nlri: Vec<Prefix> = u.nlri.iter().map(|n| n.prefix).collect();
            want(
                nlri == [host(r.v4)],
                &format!("NLRI {nlri:?} is not {}/32", r.v4),
            );
            want(has_path_ids(&u.nlri), "NLRI without path identifiers");
            let a = &u.attributes;
            want(
                a.contains(&PathAttribute::Origin(Origin::Igp)),
                "ORIGIN is not IGP",
            );
            want(
                a.iter().any(|x| {
                    matches!(x, PathAttribute::AsPath(p)
                    if p.segments.first().and_then(|s| s.asns.first()) == Some(&r.asn))
                }),
                "AS_PATH does not start with the sender's AS",
            );
            want(
                a.iter().any(
                    |x| matches!(x, PathAttribute::NextHop(n) if n.octets()[..2] == [10, 200]),
                ),
                "no NEXT_HOP in 10.200/16",
            );
            want(
                a.iter().any(
                    |x| matches!(x, PathAttribute::Communities(c) if c.contains(&r.community_v4)),
                ),
                "community missing",
            );
            want(
                a.iter().any(
                    |x| matches!(x, PathAttribute::LargeCommunities(c) if c.contains(&r.large)),
                ),
                "large community missing",
            );
        }
        Message::Update(u) if what.starts_with("update-ipv6") => {
            want(
                u.nlri.is_empty() && u.withdrawn.is_empty(),
                "IPv4 NLRI fields not empty",
            );
            let reach = u.attributes.iter().find_map(|x| match x {
                PathAttribute::MpReach(MpReach::Unicast {
                    family,
                    next_hop,
                    nlri,
                }) => Some((*family, *next_hop, nlri)),
                _ => None,
            });
            match reach {
                Some((family, next_hop, nlri)) => {
                    want(
                        family == Family::IPV6_UNICAST,
                        "MP_REACH family is not IPv6 unicast",
                    );
                    let prefixes: Vec<Prefix> = nlri.iter().map(|n| n.prefix).collect();
                    want(
                        prefixes == [host(r.v6)],
                        &format!("MP_REACH NLRI {prefixes:?}"),
                    );
                    want(has_path_ids(nlri), "MP_REACH NLRI without path identifiers");
                    want(
                        matches!(next_hop, MpNextHop::V6 { global, .. }
                            if global.segments()[..3] == [0x2001, 0xdb8, 0x200]),
                        "MP_REACH next hop not the sender's 2001:db8:200::/48 address",
                    );
                }
                None => want(false, "no unicast MP_REACH_NLRI"),
            }
            want(
                u.attributes.iter().any(
                    |x| matches!(x, PathAttribute::Communities(c) if c.contains(&r.community_v6)),
                ),
                "community missing",
            );
        }
        Message::Update(u) if what.starts_with("withdraw-ipv4") => {
            let w: Vec<Prefix> = u.withdrawn.iter().map(|n| n.prefix).collect();
            // FRR also withdraws, in the same UPDATE, routes it had learned from the receiver
            want(
                w.contains(&host(r.v4)),
                &format!("withdrawn {w:?} lacks {}/32", r.v4),
            );
            want(
                has_path_ids(&u.withdrawn),
                "withdrawn routes without path identifiers",
            );
            want(u.nlri.is_empty(), "withdraw carries NLRI");
        }
        Message::Update(u) if what.starts_with("withdraw-ipv6") => {
            let w = u.attributes.iter().find_map(|x| match x {
                PathAttribute::MpUnreach(MpUnreach::Unicast { family, withdrawn })
                    if *family == Family::IPV6_UNICAST =>
                {
                    Some(withdrawn)
                }
                _ => None,
            });
            match w {
                Some(w) => {
                    let p: Vec<Prefix> = w.iter().map(|n| n.prefix).collect();
                    want(
                        p.contains(&host(r.v6)),
                        &format!("MP_UNREACH withdrawn {p:?} lacks {}/128", r.v6),
                    );
                    want(has_path_ids(w), "MP_UNREACH without path identifiers");
                }
                None => want(false, "no IPv6 unicast MP_UNREACH_NLRI"),
            }
        }
        // RFC 4724 §2: "an UPDATE message with no reachable NLRI and empty withdrawn NLRI"
        // for IPv4; for other families an MP_UNREACH_NLRI with no withdrawn routes and
        // nothing else
        Message::Update(u) if what.starts_with("eor-ipv4") => want(
            u.withdrawn.is_empty() && u.attributes.is_empty() && u.nlri.is_empty(),
            "IPv4 End-of-RIB is not an empty UPDATE",
        ),
        Message::Update(u) if what.starts_with("eor-ipv6") => want(
            u.withdrawn.is_empty()
                && u.nlri.is_empty()
                && u.attributes
                    == [PathAttribute::MpUnreach(MpUnreach::Unicast {
                        family: Family::IPV6_UNICAST,
                        withdrawn: Vec::new(),
                    })],
            "IPv6 End-of-RIB is not a lone empty MP_UNREACH_NLRI",
        ),
        Message::Keepalive if what.starts_with("keepalive-") => {}
        Message::RouteRefresh(rr) if what.starts_with("route-refresh") => {
            let afi = if fam == Family::IPV6_UNICAST {
                Afi::IPV6
            } else {
                Afi::IPV4
            };
            want(rr.afi == afi, "ROUTE-REFRESH AFI is not the session's");
            let subtype = if what.starts_with("route-refresh-borr") {
                RefreshSubtype::BeginningOfRefresh
            } else if what.starts_with("route-refresh-eorr") {
                RefreshSubtype::EndOfRefresh
            } else {
                RefreshSubtype::Normal
            };
            want(
                rr.subtype == subtype,
                &format!("subtype {:?} is not {subtype:?}", rr.subtype),
            );
        }
        Message::Notification(n) if what.starts_with("notification-shutdown") => {
            want(
                n.error == ErrorKind::Cease(CeaseSubcode::ADMINISTRATIVE_SHUTDOWN),
                &format!("{:?} is not Cease / Administrative Shutdown", n.error),
            );
            // RFC 9003 §2: a length octet, then that many octets of UTF-8
            want(
                n.data == b"\x0bmaintenance",
                &format!("data {:02x?}", n.data),
            );
        }
        // any other NOTIFICATION a router sent on its own, named by code and subcode
        Message::Notification(n) if what.starts_with("notification-") => {
            let (code, subcode) = n.error.code_subcode();
            want(
                what.starts_with(&format!("notification-{code}-{subcode}-")),
                &format!("NOTIFICATION {code}/{subcode} does not match the file name"),
            );
        }
        other => want(
            false,
            &format!("unexpected message {:?}", other.message_type()),
        ),
    }
    bad
}

#[test]
fn captures_carry_what_the_routers_were_told_to_send() {
    let all = load_all();
    let mut failed = Vec::new();
    for c in &all {
        match decode(c) {
            Ok(m) => failed.extend(facts(&c.name, &c.ctx, &m)),
            Err(e) => failed.push(format!("{}: {e}", c.name)),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn captures_cover_every_router_and_message_kind() {
    let all = load_all();
    for r in ["bird", "frr", "gobgpd"] {
        for what in [
            "open-ipv4-session",
            "open-ipv6-session",
            "update-ipv4",
            "update-ipv6",
            "withdraw-ipv4",
            "withdraw-ipv6",
            "eor-ipv4",
            "eor-ipv6",
            "keepalive-",
            "notification-shutdown-",
        ] {
            assert!(
                all.iter()
                    .any(|c| c.name.starts_with(&format!("{r}-")) && c.name.contains(what)),
                "no {what} capture from {r}"
            );
        }
    }
    assert!(all.iter().any(|c| c.name.contains("route-refresh-borr")));
    assert!(all.iter().any(|c| c.name.contains("route-refresh-eorr")));
}

#[test]
fn ctx_line_parsing_is_strict() {
    let ctx = parse_ctx(" four_octet_as add_path=ipv4-unicast,ipv6-unicast").unwrap();
    assert!(ctx.four_octet_as && !ctx.extended_message);
    assert_eq!(
        ctx.add_path,
        AddPathFamilies::of(&[Family::IPV4_UNICAST, Family::IPV6_UNICAST])
    );
    assert_eq!(parse_ctx("").unwrap(), CodecContext::default());
    assert!(parse_ctx("four_octet").is_err());
    assert!(parse_ctx("add_path=ipv4-multicast").is_err());
    assert!(
        parse_file("x", "ffff\n").is_err(),
        "a file without ctx must be rejected"
    );
    assert!(parse_file("x", "# ctx:\nfff\n").is_err());
}
