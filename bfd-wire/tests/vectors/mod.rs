//! Golden Control packets: bytes and the packet they are, with where each comes from.
//! Shared by golden.rs, truncation.rs and hostile.rs.

#![allow(dead_code)]

use bfd_wire::packet::auth_type;
use bfd_wire::{AuthSection, ControlPacket, Diag, State};

pub struct Vector {
    pub name: &'static str,
    pub source: &'static str,
    hex: &'static str,
    pub packet: ControlPacket,
}

impl Vector {
    pub fn bytes(&self) -> Vec<u8> {
        unhex(self.hex)
    }
}

/// Bytes from hex, ignoring whitespace and `|` separators.
pub fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| b.is_ascii_hexdigit())
        .map(|b| (b as char).to_digit(16).unwrap() as u8)
        .collect();
    assert!(digits.len() % 2 == 0, "odd hex length in {s}");
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

/// Expected and actual bytes side by side, a marker on each differing byte.
pub fn hex_diff(want: &[u8], got: &[u8]) -> String {
    let mut out = format!("want {} bytes, got {}\n", want.len(), got.len());
    for i in 0..want.len().max(got.len()) {
        let (w, g) = (want.get(i), got.get(i));
        let mark = if w == g { "" } else { "  <--" };
        out += &format!(
            "{i:3}: {} {}{mark}\n",
            w.map_or("--".into(), |b| format!("{b:02x}")),
            g.map_or("--".into(), |b| format!("{b:02x}"))
        );
    }
    out
}

/// The golden vector called `name`.
pub fn named(name: &str) -> Vector {
    all()
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no golden vector {name}"))
}

/// A packet with no flags, no diagnostic and no authentication.
pub fn base(state: State, mult: u8, my: u32, your: u32, tx: u32, rx: u32) -> ControlPacket {
    ControlPacket {
        version: 1,
        diag: Diag::None,
        state,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        multipoint: false,
        detect_mult: mult,
        my_discriminator: my,
        your_discriminator: your,
        desired_min_tx_us: tx,
        required_min_rx_us: rx,
        required_min_echo_rx_us: 0,
        auth: None,
    }
}

pub fn all() -> Vec<Vector> {
    vec![
        Vector {
            name: "bird_down",
            source: "BIRD 2 bfd.c defaults while Down: idle tx interval 1 s, min rx 10 ms, \
                     multiplier 5; Your Discriminator still zero",
            hex: "20 40 05 18 | 00 00 00 01 | 00 00 00 00 | 00 0f 42 40 | 00 00 27 10 | 00 00 00 00",
            packet: base(State::Down, 5, 1, 0, 1_000_000, 10_000),
        },
        Vector {
            name: "frr_init",
            source: "FRR bfdd answering a Down with Init: slow-start TX 1 s, RX 300 ms, \
                     multiplier 3, its default echo receive interval 50 ms advertised",
            hex: "20 80 03 18 | 0a 0b 0c 0d | 00 00 00 01 | 00 0f 42 40 | 00 04 93 e0 | 00 00 c3 50",
            packet: ControlPacket {
                required_min_echo_rx_us: 50_000,
                ..base(State::Init, 3, 0x0a0b_0c0d, 1, 1_000_000, 300_000)
            },
        },
        Vector {
            name: "up_poll",
            source: "RFC 5880 §6.8.3: entering Up, the Desired Min TX falls from 1 s to \
                     300 ms, announced with Poll",
            hex: "20 e0 03 18 | 00 00 00 01 | 0a 0b 0c 0d | 00 04 93 e0 | 00 04 93 e0 | 00 00 00 00",
            packet: ControlPacket {
                poll: true,
                ..base(State::Up, 3, 1, 0x0a0b_0c0d, 300_000, 300_000)
            },
        },
        Vector {
            name: "up_final",
            source: "RFC 5880 §6.5: the answer to a Poll, Final set",
            hex: "20 d0 03 18 | 0a 0b 0c 0d | 00 00 00 01 | 00 04 93 e0 | 00 04 93 e0 | 00 00 00 00",
            packet: ControlPacket {
                final_: true,
                ..base(State::Up, 3, 0x0a0b_0c0d, 1, 300_000, 300_000)
            },
        },
        Vector {
            name: "down_detection_expired",
            source: "RFC 5880 §6.8.4: Down after the detection time, diagnostic 1, remote \
                     discriminator forgotten",
            hex: "21 40 03 18 | 00 00 00 01 | 00 00 00 00 | 00 0f 42 40 | 00 04 93 e0 | 00 00 00 00",
            packet: ControlPacket {
                diag: Diag::ControlDetectionTimeExpired,
                ..base(State::Down, 3, 1, 0, 1_000_000, 300_000)
            },
        },
        Vector {
            name: "admin_down",
            source: "RFC 5880 §6.8.16: AdminDown, diagnostic 7",
            hex: "27 00 03 18 | 00 00 00 01 | 0a 0b 0c 0d | 00 0f 42 40 | 00 04 93 e0 | 00 00 00 00",
            packet: ControlPacket {
                diag: Diag::AdministrativelyDown,
                ..base(State::AdminDown, 3, 1, 0x0a0b_0c0d, 1_000_000, 300_000)
            },
        },
        Vector {
            name: "auth_simple_password",
            source: "RFC 5880 §4.2.1: Simple Password, Key ID 1, password \"porter\"",
            hex: "20 44 03 21 | 00 00 00 01 | 00 00 00 00 | 00 0f 42 40 | 00 04 93 e0 | 00 00 00 00 \
                  | 01 09 01 70 6f 72 74 65 72",
            packet: ControlPacket {
                auth: Some(AuthSection {
                    auth_type: auth_type::SIMPLE_PASSWORD,
                    data: b"\x01porter".to_vec(),
                }),
                ..base(State::Down, 3, 1, 0, 1_000_000, 300_000)
            },
        },
        Vector {
            name: "auth_keyed_md5",
            source: "RFC 5880 §4.3: Keyed MD5, Key ID 1, sequence 0x2a, a 16-byte digest",
            hex: "20 c4 03 30 | 0a 0b 0c 0d | 00 00 00 01 | 00 04 93 e0 | 00 04 93 e0 | 00 00 00 00 \
                  | 02 18 01 00 00 00 00 2a | 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff",
            packet: ControlPacket {
                auth: Some(AuthSection {
                    auth_type: auth_type::KEYED_MD5,
                    data: unhex(
                        "01 00 00 00 00 2a 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff",
                    ),
                }),
                ..base(State::Up, 3, 0x0a0b_0c0d, 1, 300_000, 300_000)
            },
        },
        Vector {
            name: "auth_meticulous_sha1_tcpdump",
            source: "tcpdump tests/bfd-raw-auth-sha1: Down, multiplier 5, 1000 ms, Meticulous \
                     Keyed SHA1, Key ID 2, sequence 5, hash 01..1a (bytes from its printout)",
            hex: "20 44 05 34 | 00 00 00 01 | 00 00 00 00 | 00 0f 42 40 | 00 0f 42 40 | 00 00 00 00 \
                  | 05 1c 02 00 00 00 00 05 | 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 1a",
            packet: ControlPacket {
                auth: Some(AuthSection {
                    auth_type: auth_type::METICULOUS_KEYED_SHA1,
                    data: unhex(
                        "02 00 00 00 00 05 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 1a",
                    ),
                }),
                ..base(State::Down, 5, 1, 0, 1_000_000, 1_000_000)
            },
        },
    ]
}
