//! Every golden vector decodes to its packet, and its packet encodes to its bytes.

mod vectors;

use bfd_wire::check::decode_roundtrip;
use bfd_wire::decode;

#[test]
fn golden_vectors_decode() {
    let mut failed = Vec::new();
    for v in vectors::all() {
        match decode(&v.bytes()) {
            Ok(p) if p == v.packet => {}
            Ok(p) => failed.push(format!(
                "{} ({}): decoded to\n{p:#?}\nwant\n{:#?}",
                v.name, v.source, v.packet
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
        let b = v.packet.encode();
        if b != v.bytes() {
            failed.push(format!(
                "{} ({}):\n{}",
                v.name,
                v.source,
                vectors::hex_diff(&v.bytes(), &b)
            ));
        }
        assert_eq!(
            v.packet.len(),
            b.len(),
            "{}: len() != bytes written",
            v.name
        );
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

#[test]
fn golden_vectors_pass_the_fuzz_roundtrip_check() {
    for v in vectors::all() {
        decode_roundtrip(&v.bytes());
    }
}

#[test]
fn bytes_after_the_length_field_are_ignored() {
    for v in vectors::all() {
        let mut b = v.bytes();
        b.extend_from_slice(&[0xde, 0xad]);
        assert_eq!(decode(&b).as_ref(), Ok(&v.packet), "{}", v.name);
        decode_roundtrip(&b);
    }
}

#[test]
fn diagnostics_display_the_rfc_names() {
    use bfd_wire::Diag;
    assert_eq!(
        Diag::from_code(1).to_string(),
        "Control Detection Time Expired"
    );
    assert_eq!(
        Diag::from_code(3).to_string(),
        "Neighbor Signaled Session Down"
    );
    assert_eq!(Diag::from_code(7).to_string(), "Administratively Down");
    assert_eq!(
        Diag::from_code(8).to_string(),
        "Reverse Concatenated Path Down"
    );
    assert_eq!(Diag::from_code(20), Diag::Unknown(20));
}

/// Writes every golden vector under `$FUZZ_SEED_DIR` for fuzz/run.sh, one folder per fuzz
/// target: raw in `bfd_decode/`, and in `bfd_session/` as a session script that feeds it
/// (bfd_wire::check::session: a config byte, op 2 with the length, then time passing).
/// Without the variable it only checks that each script runs.
#[test]
fn write_fuzz_seed_corpus() {
    let dir = std::env::var_os("FUZZ_SEED_DIR");
    for v in vectors::all() {
        let bytes = v.bytes();
        assert!(
            bytes.len() < 64,
            "{}: too long for a session script",
            v.name
        );
        let mut script = vec![0u8, 2, bytes.len() as u8];
        script.extend(&bytes);
        script.extend([0, 100]);
        bfd_wire::check::session(&script);
        if let Some(dir) = &dir {
            for (target, data) in [("bfd_decode", &bytes), ("bfd_session", &script)] {
                let dir = std::path::Path::new(dir).join(target);
                std::fs::create_dir_all(&dir).expect("create seed folder");
                std::fs::write(dir.join(v.name), data).expect("write seed");
            }
        }
    }
}
