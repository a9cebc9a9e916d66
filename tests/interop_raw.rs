//! A raw TCP client (python3 inside the router's namespace) sends what no router would:
//! broken headers and unacceptable OPENs. porter answers each with the NOTIFICATION RFC 4271
//! §6.1/§6.2 names, records it as its last error, and is ready for the next connection. Link
//! subnet 10.201.53.0/24.

mod common;

use common::scenarios::{PORTER_AS, ROUTER_AS};
use common::*;

/// Connects from `ns` to `to`:179, sends `bytes`, returns everything received until the
/// connection closes (or 5 s pass).
fn raw_exchange(ns: &Netns, to: std::net::IpAddr, bytes: &[u8]) -> Vec<u8> {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let script = format!(
        "import socket,sys\n\
         s=socket.create_connection(('{to}',179),timeout=5)\n\
         s.sendall(bytes.fromhex('{hex}'))\n\
         out=b''\n\
         try:\n\
         \x20   while True:\n\
         \x20       d=s.recv(65536)\n\
         \x20       if not d: break\n\
         \x20       out+=d\n\
         except Exception: pass\n\
         sys.stdout.write(out.hex())\n"
    );
    let out = ns
        .exec(&["python3", "-c", &script])
        .unwrap_or_else(|e| panic!("raw client: {e:#}"));
    (0..out.trim().len() / 2)
        .map(|i| u8::from_str_radix(&out.trim()[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// The (type, body) of each whole BGP message in `buf`.
fn messages(buf: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut v = Vec::new();
    let mut at = 0;
    while buf.len() >= at + 19 {
        let len = usize::from(u16::from_be_bytes([buf[at + 16], buf[at + 17]]));
        if len < 19 || at + len > buf.len() {
            break;
        }
        v.push((buf[at + 18], buf[at + 19..at + len].to_vec()));
        at += len;
    }
    v
}

fn header(len: u16, kind: u8) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&len.to_be_bytes());
    m.push(kind);
    m
}

/// An OPEN with these fields and no optional parameters.
fn open(version: u8, asn: u16, hold: u16, id: [u8; 4]) -> Vec<u8> {
    let mut m = header(29, 1);
    m.push(version);
    m.extend_from_slice(&asn.to_be_bytes());
    m.extend_from_slice(&hold.to_be_bytes());
    m.extend_from_slice(&id);
    m.push(0);
    m
}

#[test]
fn raw_client_gets_the_right_notification_for_each_broken_message() {
    if !ready(&[]) {
        return;
    }
    if porter_lab::find_binary("python3").is_none() {
        skip("python3 not installed (the raw BGP client is a python3 one-liner)");
        return;
    }
    let x = 53;
    let (r, s) = pair("raw", x);
    let porter = Porter::start(
        &s,
        PorterConf::new("node1", PORTER_AS, speaker_addr(x))
            .peer(PeerDoc::new("router", router_addr(x), ROUTER_AS).passive())
            .vip("203.0.113.7"),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let id = [10, 201, 53, 1];
    let mut bad_marker = header(19, 4);
    bad_marker[3] = 0;
    let cases: Vec<(&str, Vec<u8>, u8, u8)> = vec![
        ("marker not all ones", bad_marker, 1, 1),
        ("length 18 in the header", header(18, 4), 1, 2),
        ("message type 9", header(19, 9), 1, 3),
        (
            "KEEPALIVE of 20 octets",
            [header(20, 4), vec![0]].concat(),
            1,
            2,
        ),
        ("OPEN of version 3", open(3, ROUTER_AS as u16, 9, id), 2, 1),
        ("OPEN from AS 65099", open(4, 65099, 9, id), 2, 2),
        (
            "OPEN with BGP identifier 0.0.0.0",
            open(4, ROUTER_AS as u16, 9, [0; 4]),
            2,
            3,
        ),
        (
            "OPEN with hold time 2",
            open(4, ROUTER_AS as u16, 2, id),
            2,
            6,
        ),
    ];
    for (what, bytes, code, subcode) in cases {
        // porter refuses connections while Idle after the previous error (RFC 4271 §8.2.2);
        // wait until it listens for this neighbor again
        wait(
            &format!("porter back in ACTIVE before: {what}"),
            || porter.diag(),
            || {
                porter
                    .peer_state("router")
                    .is_ok_and(|st| st.eq_ignore_ascii_case("active"))
            },
        );
        let got = raw_exchange(&r, speaker_addr(x), &bytes);
        let msgs = messages(&got);
        let note = msgs.iter().find(|(t, _)| *t == 3);
        let Some((_, body)) = note else {
            panic!(
                "{what}: no NOTIFICATION from porter; got {:02x?}\n{}",
                msgs,
                porter.diag()
            );
        };
        assert_eq!(
            (body[0], body[1]),
            (code, subcode),
            "{what}: NOTIFICATION {}/{} (data {:02x?}), want {code}/{subcode}",
            body[0],
            body[1],
            &body[2..]
        );
        let recorded = |p: &serde_json::Value| {
            find_key(p, "lastError").is_some_and(|e| {
                e.get("direction").and_then(|d| d.as_str()) == Some("sent")
                    && e.get("code").and_then(|c| c.as_u64()) == Some(code.into())
                    && e.get("subcode").and_then(|c| c.as_u64()) == Some(subcode.into())
            })
        };
        wait(
            &format!("{what}: lastError records the NOTIFICATION sent"),
            || porter.diag(),
            || porter.peer_status("router").is_ok_and(|p| recorded(&p)),
        );
        eprintln!("{}: {what}: NOTIFICATION {code}/{subcode} ok", test_name());
    }
    // and a real router still gets its session
    let bird = Bird::start(
        &r,
        &BirdConfig::new("10.201.53.1".parse().unwrap(), ROUTER_AS).peer(BirdPeer::new(
            "s1",
            speaker_addr(x),
            PORTER_AS,
        )),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    wait(
        "BIRD Established after the abuse",
        || porter.diag(),
        || {
            bird.is_established("s1").unwrap_or(false)
                && fib(&r, "203.0.113.7") == [speaker_addr(x)]
        },
    );
}
