//! The session FSM driven by arbitrary events, frames, sends and time: never panics, never
//! transmits an undecodable message, keeps its invariants (bgp_wire::check::session).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bgp_wire::check::session(data);
});
