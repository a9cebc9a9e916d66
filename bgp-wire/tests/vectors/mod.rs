//! Golden vectors: one `(bytes, message)` pair per case, each feeding both an encode and a
//! decode test (golden.rs) and the truncation sweep (truncation.rs). Sources are given per
//! vector: an RFC section, or a capture from BIRD 2 / FRR 8 / gobgpd made in network
//! namespaces.
#![allow(dead_code)]

pub mod open;
pub mod update;

use bgp_wire::{CodecContext, Message};

/// One golden vector.
pub struct Vector {
    /// Unique name, as a test would be named.
    pub name: &'static str,
    /// Where the bytes come from.
    pub source: &'static str,
    /// The whole message (header included) in hex; whitespace is ignored.
    pub hex: &'static str,
    /// Context to encode and decode it with.
    pub ctx: CodecContext,
    /// What it decodes to.
    pub message: Message,
}

impl Vector {
    /// The bytes of `hex`.
    pub fn bytes(&self) -> Vec<u8> {
        from_hex(self.hex)
    }
}

/// Every golden vector.
pub fn all() -> Vec<Vector> {
    let mut v = open::vectors();
    v.extend(update::vectors());
    let mut names: Vec<_> = v.iter().map(|x| x.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), v.len(), "golden vector names must be unique");
    v
}

/// Parses hex, ignoring whitespace and `#` comments to the end of a line.
pub fn from_hex(s: &str) -> Vec<u8> {
    let digits: String = s
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// A readable diff of two byte strings: the hex of both, 16 bytes per row, rows that differ
/// marked.
pub fn hex_diff(want: &[u8], got: &[u8]) -> String {
    let mut s = format!("want {} bytes, got {} bytes\n", want.len(), got.len());
    let rows = want.len().max(got.len()).div_ceil(16);
    for r in 0..rows {
        let row = |b: &[u8]| {
            b.iter()
                .skip(r * 16)
                .take(16)
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (w, g) = (row(want), row(got));
        let mark = if w == g { ' ' } else { '!' };
        s.push_str(&format!("{mark} {:04x} want {w:<47} | got {g}\n", r * 16));
    }
    s
}
