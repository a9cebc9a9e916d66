//! UPDATE codec benchmarks: NLRI decoding throughput, a typical attribute set, encoding, and
//! the packing encoder the speaker uses for large announcements.
//!
//! Run briefly with
//! `cargo bench -p bgp-wire --bench update -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::net::Ipv4Addr;

use bgp_wire::attribute::{AsPath, LargeCommunity, MpNextHop, Origin, PathAttribute};
use bgp_wire::codec::Reader;
use bgp_wire::iana::{Afi, Family};
use bgp_wire::message::update::{encode_announcements, encode_withdrawals};
use bgp_wire::message::UpdateMsg;
use bgp_wire::nlri::{decode_nlri, Ipv4Prefix, Nlri, Prefix};
use bgp_wire::CodecContext;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn ctx() -> CodecContext {
    CodecContext {
        four_octet_as: true,
        ..CodecContext::default()
    }
}

/// ORIGIN, AS_PATH of 4 ASNs, NEXT_HOP, MED, LOCAL_PREF, 3 COMMUNITIES, 1 LARGE_COMMUNITY.
fn typical_attributes() -> Vec<PathAttribute> {
    vec![
        PathAttribute::Origin(Origin::Igp),
        PathAttribute::AsPath(AsPath::sequence([65001, 65002, 4_200_000_001, 65004])),
        PathAttribute::NextHop(Ipv4Addr::new(10, 200, 1, 1)),
        PathAttribute::MultiExitDisc(100),
        PathAttribute::LocalPref(200),
        PathAttribute::Communities(vec![0xfde9_0064, 0xfde9_00c8, 0xffff_ff01]),
        PathAttribute::LargeCommunities(vec![LargeCommunity {
            global_admin: 4_200_000_001,
            local_data1: 1,
            local_data2: 2,
        }]),
    ]
}

/// IPv4 prefixes alternating /24 and /32, as many as fill a 4096-byte UPDATE.
fn prefixes(n: usize) -> Vec<Nlri> {
    (0..n as u32)
        .map(|i| {
            let (addr, len) = if i % 2 == 0 {
                (0x0a00_0000 + (i << 8), 24)
            } else {
                (0xc633_0000 + i, 32)
            };
            Nlri::new(Prefix::V4(
                Ipv4Prefix::new(Ipv4Addr::from(addr), len).unwrap(),
            ))
        })
        .collect()
}

fn body(m: &UpdateMsg) -> Vec<u8> {
    let mut b = Vec::new();
    m.encode_body(&ctx(), &mut b).unwrap();
    b
}

fn decode(c: &mut Criterion) {
    let ctx = ctx();
    // 4096 - 19 - 4 - attributes, 4.5 bytes per prefix on average
    let full = UpdateMsg {
        withdrawn: vec![],
        attributes: typical_attributes(),
        nlri: prefixes(880),
    };
    let full_body = body(&full);
    assert!(full_body.len() + 19 <= 4096, "{}", full_body.len());
    let n = full.nlri.len() as u64;

    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(n));
    g.bench_function("update_880_ipv4_nlri", |b| {
        b.iter(|| UpdateMsg::decode(&mut Reader::new(black_box(&full_body)), &ctx).unwrap())
    });
    // withdrawn routes length 0, then the attribute length, the attributes, the NLRI
    let attr_len = u16::from_be_bytes([full_body[2], full_body[3]]) as usize;
    let nlri_bytes = full_body[4 + attr_len..].to_vec();
    g.bench_function("nlri_field_880_ipv4", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            decode_nlri(
                &mut Reader::new(black_box(&nlri_bytes)),
                Afi::IPV4,
                false,
                &mut out,
            )
            .unwrap();
            out.len()
        })
    });
    g.finish();

    let typical = UpdateMsg {
        withdrawn: vec![],
        attributes: typical_attributes(),
        nlri: prefixes(1),
    };
    let typical_body = body(&typical);
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("typical_attribute_set", |b| {
        b.iter(|| UpdateMsg::decode(&mut Reader::new(black_box(&typical_body)), &ctx).unwrap())
    });
    g.bench_function("typical_attribute_set_received", |b| {
        b.iter(|| {
            UpdateMsg::decode_received(&mut Reader::new(black_box(&typical_body)), &ctx).unwrap()
        })
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let ctx = ctx();
    let typical = UpdateMsg {
        withdrawn: vec![],
        attributes: typical_attributes(),
        nlri: prefixes(1),
    };
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("typical_attribute_set", |b| {
        let mut out = Vec::with_capacity(256);
        b.iter(|| {
            out.clear();
            black_box(&typical).encode_body(&ctx, &mut out).unwrap();
            out.len()
        })
    });
    g.finish();

    let many: Vec<Nlri> = (0..100_000u32)
        .map(|i| Nlri::new(Prefix::host(Ipv4Addr::from(0x0a00_0000 + i).into())))
        .collect();
    let attrs = typical_attributes();
    let mut g = c.benchmark_group("pack");
    g.throughput(Throughput::Elements(many.len() as u64));
    g.bench_function("announce_100k_ipv4_host_routes", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            encode_announcements(
                &attrs,
                Family::IPV4_UNICAST,
                MpNextHop::V4(Ipv4Addr::new(10, 200, 1, 1)),
                black_box(&many),
                &ctx,
                &mut out,
            )
            .unwrap();
            out.len()
        })
    });
    let many6: Vec<Nlri> = (0..100_000u128)
        .map(|i| {
            Nlri::new(Prefix::host(
                std::net::Ipv6Addr::from(0x2001_0db8u128 << 96 | i).into(),
            ))
        })
        .collect();
    g.bench_function("announce_100k_ipv6_host_routes", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            encode_announcements(
                &attrs,
                Family::IPV6_UNICAST,
                MpNextHop::V6 {
                    global: "2001:db8::1".parse().unwrap(),
                    link_local: None,
                },
                black_box(&many6),
                &ctx,
                &mut out,
            )
            .unwrap();
            out.len()
        })
    });
    g.bench_function("withdraw_100k_ipv4_host_routes", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            encode_withdrawals(Family::IPV4_UNICAST, black_box(&many), &ctx, &mut out).unwrap();
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
