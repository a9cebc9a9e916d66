//! The BFD session driven by an operation script (packets, raw bytes, time, configuration,
//! admin down): never panics and keeps its invariants (bfd_wire::check::session).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bfd_wire::check::session(data);
});
