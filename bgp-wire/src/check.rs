//! Property checks shared by the fuzz targets and the tests, so that a fuzz target is a thin
//! wrapper and every crash it finds can be replayed as a named regression test.
//!
//! Each function panics when a property is violated; on any input that merely is malformed
//! it returns normally.

use crate::context::{AddPathFamilies, CodecContext};
use crate::framing::next_frame;
use crate::iana::{Family, MessageType};
use crate::message::{decode_header, decode_message, Message, UpdateMsg};

/// A codec context chosen by one byte: bit 0 4-octet AS, bit 1 extended messages, bits 2
/// and 3 ADD-PATH for IPv4 and IPv6 unicast. Lets a fuzzer explore every context cheaply.
pub fn context_from_byte(b: u8) -> CodecContext {
    let mut add_path = AddPathFamilies::NONE;
    if b & 4 != 0 {
        add_path.insert(Family::IPV4_UNICAST);
    }
    if b & 8 != 0 {
        add_path.insert(Family::IPV6_UNICAST);
    }
    CodecContext {
        four_octet_as: b & 1 != 0,
        extended_message: b & 2 != 0,
        add_path,
    }
}

/// Splits `data` into messages as an I/O loop would and decodes each both strictly and the
/// way a session does (RFC 7606). Checks: no panic; every error maps to a NOTIFICATION that
/// encodes (except a malformed NOTIFICATION, which gets none); strict success implies RFC
/// 7606 success with no errors; a decoded message encodes again.
pub fn decode_stream(ctx: &CodecContext, data: &[u8]) {
    let mut rest = data;
    while let Some(len) = next_frame(rest, ctx.max_message_len()) {
        let frame = &rest[..len];
        rest = &rest[len..];
        let strict = decode_message(frame, ctx);
        match &strict {
            Ok(m) => {
                if let Err(e) = m.to_bytes(ctx) {
                    panic!("decoded {m:?} does not encode: {e}");
                }
            }
            Err(e) => {
                if let Some(n) = e.notification() {
                    Message::Notification(n)
                        .to_bytes(ctx)
                        .expect("every NOTIFICATION we send encodes");
                }
            }
        }
        if let Ok((MessageType::Update, mut body)) = decode_header(frame, ctx) {
            let lenient = UpdateMsg::decode_received(&mut body, ctx);
            match (&strict, &lenient) {
                (Ok(Message::Update(m)), Ok(r)) => {
                    assert!(
                        r.errors.is_empty(),
                        "strict decode accepted what RFC 7606 flags: {:?}",
                        r.errors
                    );
                    assert_eq!(&r.update, m, "strict and RFC 7606 decodes differ");
                }
                (Ok(_), Err(e)) => {
                    panic!("strict decode accepted an UPDATE that resets the session: {e}")
                }
                _ => {}
            }
        }
    }
}

/// For a message that decodes: encoding it and decoding that gives the same message, and
/// the canonical bytes are a fixed point (`encode(decode(c)) == c`).
pub fn roundtrip(ctx: &CodecContext, frame: &[u8]) {
    let Ok(m) = decode_message(frame, ctx) else {
        return;
    };
    let Ok(canonical) = m.to_bytes(ctx) else {
        // a canonical form longer than the maximum (not expected; checked by decode_stream)
        return;
    };
    let again = decode_message(&canonical, ctx)
        .unwrap_or_else(|e| panic!("re-encoded {m:?} does not decode: {e}\n{canonical:02x?}"));
    assert_eq!(again, m, "decode(encode(m)) != m");
    assert_eq!(
        again.to_bytes(ctx).expect("encodes"),
        canonical,
        "canonical bytes are not a fixed point"
    );
}

/// Drives a [`crate::session::Session`] with an operation stream read from `data` (events,
/// canned and arbitrary frames, UPDATEs to send, time passing) and checks after every step:
/// every byte string it transmits is one message that decodes (UPDATEs in the negotiated
/// transmit context); negotiated state exists exactly in OpenConfirm and Established; the
/// message counters add up; the next timeout is never in the past after handling it.
/// Returns the states visited, in order, so tests can see how deep an input went.
pub fn session(data: &[u8]) -> Vec<crate::session::SessionState> {
    use crate::message::OpenMsg;
    use crate::session::{
        ConnectionOrigin, Event, Session, SessionConfig, SessionState, StopReason,
    };
    use std::time::{Duration, Instant};

    let mut visited = Vec::new();
    let Some((&flags, mut ops)) = data.split_first() else {
        return visited;
    };
    let mut config = SessionConfig::new(65001, 65000, std::net::Ipv4Addr::new(10, 0, 0, 1));
    config.passive = flags & 1 != 0;
    if flags & 2 != 0 {
        config.families.push(Family::IPV6_UNICAST);
    }
    if flags & 4 != 0 {
        config.add_path = vec![crate::capability::AddPathEntry {
            family: Family::IPV4_UNICAST,
            mode: crate::capability::AddPathMode::Both,
        }];
    }
    config.seed = u64::from(flags);
    let start = Instant::now();
    let mut now = start;
    let Ok(mut s) = Session::new(config, now) else {
        return visited;
    };
    let peer_open = Message::Open(
        OpenMsg::builder(65000, std::net::Ipv4Addr::new(10, 0, 0, 2))
            .hold_time(9)
            .family(Family::IPV4_UNICAST)
            .family(Family::IPV6_UNICAST)
            .route_refresh()
            .build(),
    )
    .to_bytes(&CodecContext::default())
    .expect("canned OPEN encodes");
    let keepalive = Message::Keepalive
        .to_bytes(&CodecContext::default())
        .expect("KEEPALIVE encodes");
    let mut take = |n: usize| -> Option<Vec<u8>> {
        if ops.len() < n {
            return None;
        }
        let (a, b) = ops.split_at(n);
        ops = b;
        Some(a.to_vec())
    };
    while let Some(op) = take(1) {
        match op[0] % 13 {
            0 => s.handle_event(now, Event::Start),
            1 => s.handle_event(
                now,
                Event::Stop(StopReason::AdministrativeShutdown("fuzz".into())),
            ),
            2 => s.handle_event(
                now,
                Event::Stop(StopReason::AdministrativeReset(String::new())),
            ),
            3 => s.handle_event(now, Event::TcpConnected(ConnectionOrigin::Local)),
            4 => s.handle_event(now, Event::TcpConnected(ConnectionOrigin::Remote)),
            5 => s.handle_event(now, Event::TcpConnectFailed),
            6 => s.handle_event(now, Event::TcpClosed { error: None }),
            7 => s.handle_event(now, Event::CollisionLost),
            8 => {
                let step = take(1).map_or(1, |b| u64::from(b[0]));
                now += Duration::from_millis(step * 250);
                if s.poll_timeout().is_some_and(|t| t <= now) {
                    s.handle_timeout(now);
                }
            }
            9 => s.handle_frame(now, &peer_open),
            10 => s.handle_frame(now, &keepalive),
            11 => {
                // a frame with a valid header around an arbitrary body
                let Some(h) = take(2) else { break };
                let Some(body) = take(usize::from(h[1])) else {
                    break;
                };
                let mut frame = vec![0xff; 16];
                frame.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
                frame.push(h[0] % 6);
                frame.extend_from_slice(&body);
                s.handle_frame(now, &frame);
            }
            _ => {
                // the speaker's side: an UPDATE made of arbitrary bytes after a valid header
                let Some(h) = take(1) else { break };
                let Some(body) = take(usize::from(h[0])) else {
                    break;
                };
                let mut frame = vec![0xff; 16];
                frame.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
                frame.push(2);
                frame.extend_from_slice(&body);
                let _ = s.send_update(now, frame);
            }
        }
        let tx_ctx = s.negotiated().map(|n| n.tx.clone()).unwrap_or_default();
        while let Some(bytes) = s.poll_transmit() {
            match decode_message(&bytes, &tx_ctx) {
                Ok(_) => {}
                Err(e) => {
                    panic!("session transmitted a message that does not decode: {e}: {bytes:02x?}")
                }
            }
        }
        while s.poll_event().is_some() {}
        let state = s.state();
        if visited.last() != Some(&state) {
            visited.push(state);
        }
        let has = s.negotiated().is_some();
        assert_eq!(
            has,
            matches!(state, SessionState::OpenConfirm | SessionState::Established),
            "negotiated state present={has} in {state:?}"
        );
        let snap = s.snapshot(now);
        for c in [&snap.messages.sent, &snap.messages.received] {
            assert!(
                c.total >= c.open + c.update + c.notification + c.keepalive + c.refresh,
                "total {c:?} is less than its parts"
            );
        }
        if let Some(t) = s.poll_timeout() {
            // a deadline already due must be handled; then it has to move on
            if t <= now {
                s.handle_timeout(now);
                while s.poll_transmit().is_some() {}
                while s.poll_event().is_some() {}
                assert!(
                    s.poll_timeout().is_none_or(|t2| t2 > now),
                    "timeout stays in the past after handling it"
                );
            }
        }
    }
    visited
}
