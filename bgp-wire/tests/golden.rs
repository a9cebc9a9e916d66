//! Every golden vector decodes to its message, and its message encodes to its bytes.

mod vectors;

use bgp_wire::message::decode_message;

#[test]
fn golden_vectors_decode() {
    let mut failed = Vec::new();
    for v in vectors::all() {
        match decode_message(&v.bytes(), &v.ctx) {
            Ok(m) if m == v.message => {}
            Ok(m) => failed.push(format!(
                "{} ({}): decoded to\n{m:#?}\nwant\n{:#?}",
                v.name, v.source, v.message
            )),
            Err(e) => failed.push(format!("{} ({}): decode error {e}", v.name, v.source)),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

#[test]
fn golden_vectors_encode() {
    let mut failed = Vec::new();
    for v in vectors::all() {
        match v.message.to_bytes(&v.ctx) {
            Ok(b) if b == v.bytes() => {}
            Ok(b) => failed.push(format!(
                "{} ({}):\n{}",
                v.name,
                v.source,
                vectors::hex_diff(&v.bytes(), &b)
            )),
            Err(e) => failed.push(format!("{} ({}): encode error {e}", v.name, v.source)),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

#[test]
fn there_are_golden_vectors_for_every_message_type() {
    use bgp_wire::iana::MessageType as T;
    let all = vectors::all();
    for t in [
        T::Open,
        T::Update,
        T::Notification,
        T::Keepalive,
        T::RouteRefresh,
    ] {
        assert!(
            all.iter().any(|v| v.message.message_type() == t),
            "no golden vector for {t:?}"
        );
    }
}

/// Writes every golden vector, prefixed with its context byte (bgp_wire::check), into
/// `$FUZZ_SEED_DIR` for fuzz/run.sh. Without the variable it only checks that each vector's
/// context is one a fuzzer can express.
#[test]
fn write_fuzz_seed_corpus() {
    let dir = std::env::var_os("FUZZ_SEED_DIR");
    for v in vectors::all() {
        let byte = (0u8..16)
            .find(|b| bgp_wire::check::context_from_byte(*b) == v.ctx)
            .unwrap_or_else(|| panic!("{}: context {:?} has no fuzz byte", v.name, v.ctx));
        if let Some(dir) = &dir {
            let mut data = vec![byte];
            data.extend(v.bytes());
            std::fs::write(std::path::Path::new(dir).join(v.name), data).expect("write seed");
        }
    }
}
