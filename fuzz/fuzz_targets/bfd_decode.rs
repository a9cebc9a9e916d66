//! Any UDP payload: BFD decoding never panics, and what decodes re-encodes to its bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bfd_wire::check::decode_roundtrip(data);
});
