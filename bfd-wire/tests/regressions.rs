//! The fuzz targets' checks (bfd_wire::check) on scripted and pseudo-random inputs, so that
//! `cargo test` exercises them too; every fuzz crash becomes a named test here.

use bfd_wire::check::{decode_roundtrip, session};
use bfd_wire::State;

/// SplitMix64, for reproducible pseudo-random inputs.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

#[test]
fn session_script_reaches_up_and_back_down() {
    // config 0 (active, multiplier 1); op 1: a Down packet with Your Discriminator zero;
    // op 1: an Up packet with ours (b0 = 3 | 2 << 5); time passes: detection expires
    let script = [0u8, 1, 0x01, 0, 30, 30, 1, 0x43, 0, 30, 30, 0, 200];
    assert_eq!(
        session(&script),
        vec![State::Down, State::Init, State::Up, State::Down]
    );
}

#[test]
fn session_script_admin_down_and_back() {
    let script = [0u8, 1, 0x01, 0, 30, 30, 4, 5, 0, 10];
    assert_eq!(
        session(&script),
        vec![State::Down, State::Init, State::AdminDown, State::Down]
    );
}

#[test]
fn pseudo_random_session_scripts_keep_the_invariants() {
    for seed in 0..300 {
        session(&bytes(seed, 200));
    }
}

#[test]
fn pseudo_random_payloads_decode_cleanly() {
    for seed in 0..2000 {
        let mut b = bytes(seed, 24 + (seed as usize % 40));
        // mostly version 1 and a plausible length, so decoding goes past the first checks
        b[0] = 0x20 | (b[0] & 0x1f);
        if seed % 2 == 0 {
            b[3] = b.len() as u8;
        }
        decode_roundtrip(&b);
    }
}
