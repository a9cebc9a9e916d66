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
