//! Any byte stream, under any negotiated context: decoding never panics, every error has a
//! NOTIFICATION that encodes, strict and RFC 7606 decodes agree.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&ctx, rest)) = data.split_first() {
        bgp_wire::check::decode_stream(&bgp_wire::check::context_from_byte(ctx), rest);
    }
});
