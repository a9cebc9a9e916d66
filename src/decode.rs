//! `porter decode`: BGP messages in, one JSON object per message out.
//!
//! For people who debug captures. Input is raw bytes or hex (whitespace, `0x`, `:` and `#`
//! comments ignored); a stream of several messages is framed with the same
//! [`bgp_wire::framing::next_frame`] the speaker uses. A malformed message is reported with
//! the NOTIFICATION a speaker would send for it and a non-zero exit status. No input panics.

use std::io::Write;

use bgp_wire::framing::{next_frame, HEADER_LEN};
use bgp_wire::message::decode_message;
use bgp_wire::{CodecContext, Family};
use serde_json::{json, Value};

/// How to read the input.
#[derive(Clone, Debug, Default)]
pub struct DecodeOptions {
    /// Input is hex text rather than raw bytes.
    pub hex: bool,
    /// Decode AS numbers as 2 octets (a session without the 4-octet AS capability).
    pub two_octet_as: bool,
    /// Families whose NLRI carry ADD-PATH path identifiers.
    pub add_path: Vec<Family>,
    /// Allow messages up to 65535 bytes (RFC 8654).
    pub extended_message: bool,
}

/// Why decoding stopped.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The hex text has a character that is not a hex digit.
    #[error("input is not hex: unexpected {found:?} at character {position}")]
    NotHex {
        /// The character.
        found: char,
        /// Its position.
        position: usize,
    },
    /// The hex text has an odd number of digits.
    #[error("input has an odd number of hex digits ({0})")]
    OddHex(usize),
}

/// Parses hex text, ignoring whitespace, `0x` prefixes, `:` separators and `#` comments.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, InputError> {
    let mut digits = Vec::new();
    let mut position = 0usize;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            position += 1;
            if c == '0' && matches!(chars.peek(), Some('x' | 'X')) {
                chars.next();
                position += 1;
                continue;
            }
            if c.is_whitespace() || c == ':' || c == ',' {
                continue;
            }
            match c.to_digit(16) {
                Some(d) => digits.push(d as u8),
                None => return Err(InputError::NotHex { found: c, position }),
            }
        }
        position += 1;
    }
    if digits.len() % 2 != 0 {
        return Err(InputError::OddHex(digits.len()));
    }
    Ok(digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect())
}

/// Decodes every message in `input` and writes one JSON line per message (or per error) to
/// `out`. Returns the number of malformed messages (0 means success).
pub fn run(input: &[u8], opts: &DecodeOptions, out: &mut dyn Write) -> std::io::Result<usize> {
    let ctx = CodecContext {
        four_octet_as: !opts.two_octet_as,
        extended_message: opts.extended_message,
        add_path: bgp_wire::context::AddPathFamilies::of(&opts.add_path),
    };
    let mut errors = 0;
    for item in decode_stream(input, &ctx) {
        // Judged by the decoder, not by the JSON: a NOTIFICATION has an `error` field too.
        let item = item.unwrap_or_else(|malformed| {
            errors += 1;
            malformed
        });
        writeln!(out, "{item}")?;
    }
    Ok(errors)
}

/// Decodes a stream of messages into JSON values, `Err` for a malformed one (its error and
/// the NOTIFICATION a speaker would answer with); after a framing error the rest of the
/// stream cannot be trusted (RFC 4271 §6.1: the connection would be closed), so it stops.
pub fn decode_stream(input: &[u8], ctx: &CodecContext) -> Vec<Result<Value, Value>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < input.len() {
        let rest = &input[at..];
        let Some(len) = next_frame(rest, ctx.max_message_len()) else {
            out.push(Err(json!({
                "offset": at,
                "error": format!(
                    "truncated message: {} bytes left, {}",
                    rest.len(),
                    match bgp_wire::framing::message_len(rest) {
                        Some(l) => format!("the header says {l}"),
                        None => format!("a header needs {HEADER_LEN}"),
                    }
                ),
            })));
            break;
        };
        let frame = &rest[..len];
        match decode_message(frame, ctx) {
            Ok(m) => {
                let mut v = serde_json::to_value(&m)
                    .unwrap_or_else(|e| json!({ "serializeError": e.to_string() }));
                if let Value::Object(map) = &mut v {
                    map.insert("offset".into(), json!(at));
                    map.insert("length".into(), json!(len));
                }
                out.push(Ok(v));
            }
            Err(e) => {
                let notification = e
                    .notification()
                    .map(|n| serde_json::to_value(&n).unwrap_or(Value::Null));
                out.push(Err(json!({
                    "offset": at,
                    "length": len,
                    "error": e.to_string(),
                    "notification": notification,
                })));
                // a header error means the framing itself is lost
                if matches!(e, bgp_wire::DecodeError::Header(_)) {
                    break;
                }
            }
        }
        at += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_with_separators_and_comments() {
        assert_eq!(
            parse_hex("0xff ff:01 # comment\n 0A").unwrap(),
            vec![0xff, 0xff, 0x01, 0x0a]
        );
        assert!(matches!(
            parse_hex("fg"),
            Err(InputError::NotHex { found: 'g', .. })
        ));
        assert!(matches!(parse_hex("fff"), Err(InputError::OddHex(3))));
    }

    /// A message of `kind` with `body`, behind the all-ones marker.
    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut b = vec![0xff; 16];
        b.extend_from_slice(&(19 + body.len() as u16).to_be_bytes());
        b.push(kind);
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn reports_truncated_header() {
        let v = decode_stream(&[0xff; 10], &CodecContext::default());
        assert_eq!(v.len(), 1);
        let e = v[0].as_ref().unwrap_err();
        assert!(e["error"].as_str().unwrap().contains("truncated"));
    }

    #[test]
    fn keepalive_then_bad_marker() {
        let mut b = message(4, &[]);
        b.extend_from_slice(&[0u8; 16]);
        b.extend_from_slice(&[0, 19, 4]);
        let v = decode_stream(&b, &CodecContext::default());
        assert_eq!(v[0].as_ref().unwrap()["type"], "KEEPALIVE");
        let e = v[1].as_ref().unwrap_err();
        assert_eq!(e["notification"]["code"], 1);
        assert_eq!(e["notification"]["subcode"], 1);
    }

    #[test]
    fn bad_length_answers_with_the_length_in_the_data() {
        let mut b = vec![0xff; 16];
        b.extend_from_slice(&[0, 18, 4]);
        let v = decode_stream(&b, &CodecContext::default());
        let e = v[0].as_ref().unwrap_err();
        assert_eq!(e["notification"]["subcode"], 2);
        assert_eq!(e["notification"]["data"], "0012");
    }

    /// Every message type, well formed, is success (exit 0) — a peer's NOTIFICATION too,
    /// whose decoded form has an `error` field of its own.
    #[test]
    fn well_formed_messages_of_every_type_are_no_error() {
        let cases: [(&str, Vec<u8>); 5] = [
            // version 4, AS 65001, hold 90, BGP ID 10.0.0.1, no optional parameters
            ("OPEN", message(1, &[4, 0xfd, 0xe9, 0, 90, 10, 0, 0, 1, 0])),
            // End-of-RIB for IPv4 unicast
            ("UPDATE", message(2, &[0, 0, 0, 0])),
            // Cease / Administrative Shutdown with the reason "bye" (RFC 9003)
            ("NOTIFICATION", message(3, &[6, 2, 3, b'b', b'y', b'e'])),
            ("KEEPALIVE", message(4, &[])),
            // IPv4 unicast
            ("ROUTE_REFRESH", message(5, &[0, 1, 0, 1])),
        ];
        for (kind, bytes) in &cases {
            let mut out = Vec::new();
            let errors = run(bytes, &DecodeOptions::default(), &mut out).unwrap();
            let line = String::from_utf8(out).unwrap();
            assert_eq!(errors, 0, "{kind}: {line}");
            let v: Value = serde_json::from_str(line.trim()).unwrap();
            assert_eq!(v["type"], *kind, "{line}");
        }
        let all: Vec<u8> = cases.iter().flat_map(|(_, b)| b.clone()).collect();
        let mut out = Vec::new();
        assert_eq!(run(&all, &DecodeOptions::default(), &mut out).unwrap(), 0);
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 5);
    }
}
