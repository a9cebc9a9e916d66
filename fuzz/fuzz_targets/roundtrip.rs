//! decode → encode → decode gives the same message, and canonical bytes are a fixed point.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&ctx, rest)) = data.split_first() {
        bgp_wire::check::roundtrip(&bgp_wire::check::context_from_byte(ctx), rest);
    }
});
