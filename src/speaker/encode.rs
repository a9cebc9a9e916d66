//! From Adj-RIB-Out changes to UPDATE messages: the attributes porter sends, handed to
//! bgp-wire's packer, which fits as many prefixes per message as the negotiated size allows.

use std::collections::BTreeMap;
use std::net::IpAddr;

use bgp_wire::attribute::{AsPath, AsSegment, MpNextHop, Origin, PathAttribute, SegmentType};
use bgp_wire::message::update::{encode_announcements, encode_withdrawals};
use bgp_wire::message::{EncodeError, Message, UpdateMsg};
use bgp_wire::nlri::{Nlri, Prefix};
use bgp_wire::{CodecContext, Family};

use super::rib::{Change, Path, RouteAttrs};

/// Who we are to this peer, as far as the attributes care.
#[derive(Clone, Copy, Debug)]
pub struct Sender {
    /// Our AS on this session.
    pub local_as: u32,
    /// iBGP (same AS) or eBGP.
    pub internal: bool,
    /// ADD-PATH send negotiated for IPv4 unicast.
    pub add_path_v4: bool,
    /// ADD-PATH send negotiated for IPv6 unicast.
    pub add_path_v6: bool,
}

impl Sender {
    fn add_path(&self, family: Family) -> bool {
        if family == Family::IPV6_UNICAST {
            self.add_path_v6
        } else {
            self.add_path_v4
        }
    }
}

/// The path attributes of one path, without the next hop (the packer places NEXT_HOP or
/// MP_REACH_NLRI): ORIGIN IGP (so that routers merge the paths of several replicas into
/// ECMP, which needs equal ORIGIN), AS_PATH (our AS on eBGP, empty on iBGP: RFC 4271
/// §5.1.2), LOCAL_PREF 100 on iBGP (RFC 4271 §5.1.5: sent to internal peers only),
/// COMMUNITIES when any.
fn attributes(sender: &Sender, attrs: &RouteAttrs) -> Vec<PathAttribute> {
    let mut out = vec![PathAttribute::Origin(Origin::Igp)];
    let path = if sender.internal {
        AsPath::default()
    } else {
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns: vec![sender.local_as],
            }],
        }
    };
    out.push(PathAttribute::AsPath(path));
    if sender.internal {
        out.push(PathAttribute::LocalPref(100));
    }
    if !attrs.communities.is_empty() {
        out.push(PathAttribute::Communities(attrs.communities.clone()));
    }
    out
}

fn mp_next_hop(nh: IpAddr) -> MpNextHop {
    match nh {
        IpAddr::V4(a) => MpNextHop::V4(a),
        IpAddr::V6(a) => MpNextHop::V6 {
            global: a,
            link_local: None,
        },
    }
}

/// Encodes `changes` into UPDATE messages: withdrawals first (per family), then
/// announcements grouped by path (next hop + attributes), each group packed by bgp-wire into
/// as few messages as fit `ctx`. IPv4 prefixes with an IPv4 next hop use the classic NLRI
/// field; everything else uses MP_REACH/MP_UNREACH (RFC 4760).
pub fn encode_changes(
    changes: &[Change],
    sender: &Sender,
    ctx: &CodecContext,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let mut withdraw: BTreeMap<Family, Vec<Nlri>> = BTreeMap::new();
    let mut announce: BTreeMap<(Family, &Path), Vec<Nlri>> = BTreeMap::new();
    for c in changes {
        match c {
            Change::Withdraw { prefix, path_id } => {
                let f = prefix.family();
                withdraw
                    .entry(f)
                    .or_default()
                    .push(nlri(*prefix, *path_id, sender.add_path(f)));
            }
            Change::Announce {
                prefix,
                path_id,
                path,
            } => {
                let f = prefix.family();
                announce.entry((f, path)).or_default().push(nlri(
                    *prefix,
                    *path_id,
                    sender.add_path(f),
                ));
            }
        }
    }
    let mut out = Vec::new();
    for (family, list) in withdraw {
        encode_withdrawals(family, &list, ctx, &mut out)?;
    }
    for ((family, path), list) in announce {
        let attrs = attributes(sender, &path.attrs);
        encode_announcements(
            &attrs,
            family,
            mp_next_hop(path.next_hop),
            &list,
            ctx,
            &mut out,
        )?;
    }
    Ok(out)
}

fn nlri(prefix: Prefix, path_id: u32, add_path: bool) -> Nlri {
    Nlri {
        path_id: add_path.then_some(path_id),
        prefix,
    }
}

/// The End-of-RIB marker for `family` (RFC 4724 §2), encoded.
pub fn end_of_rib(family: Family, ctx: &CodecContext) -> Result<Vec<u8>, EncodeError> {
    Message::Update(UpdateMsg::end_of_rib(family)).to_bytes(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_wire::attribute::MpReach;
    use bgp_wire::context::AddPathFamilies;
    use bgp_wire::message::decode_message;
    use std::net::Ipv4Addr;

    fn announce(prefix: &str, id: u32, nh: &str) -> Change {
        Change::Announce {
            prefix: prefix.parse().unwrap(),
            path_id: id,
            path: Path {
                next_hop: nh.parse().unwrap(),
                attrs: RouteAttrs::default(),
            },
        }
    }

    fn decoded(msgs: &[Vec<u8>], ctx: &CodecContext) -> Vec<UpdateMsg> {
        msgs.iter()
            .map(|b| match decode_message(b, ctx).expect("valid UPDATE") {
                Message::Update(u) => u,
                m => panic!("not an UPDATE: {m:?}"),
            })
            .collect()
    }

    #[test]
    fn ebgp_ipv4_uses_next_hop_and_our_as() {
        let s = Sender {
            local_as: 65001,
            internal: false,
            add_path_v4: false,
            add_path_v6: false,
        };
        let ctx = CodecContext {
            four_octet_as: true,
            ..Default::default()
        };
        let msgs =
            encode_changes(&[announce("203.0.113.7/32", 0, "10.200.1.2")], &s, &ctx).unwrap();
        let u = &decoded(&msgs, &ctx)[0];
        assert_eq!(u.nlri.len(), 1);
        assert!(u
            .attributes
            .contains(&PathAttribute::NextHop(Ipv4Addr::new(10, 200, 1, 2))));
        assert!(u.attributes.contains(&PathAttribute::Origin(Origin::Igp)));
        assert!(u.attributes.contains(&PathAttribute::AsPath(AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns: vec![65001]
            }]
        })));
        assert!(!u
            .attributes
            .iter()
            .any(|a| matches!(a, PathAttribute::LocalPref(_))));
    }

    #[test]
    fn ibgp_sends_local_pref_and_empty_as_path() {
        let s = Sender {
            local_as: 65000,
            internal: true,
            add_path_v4: false,
            add_path_v6: false,
        };
        let ctx = CodecContext {
            four_octet_as: true,
            ..Default::default()
        };
        let msgs =
            encode_changes(&[announce("203.0.113.7/32", 0, "10.200.1.2")], &s, &ctx).unwrap();
        let u = &decoded(&msgs, &ctx)[0];
        assert!(u.attributes.contains(&PathAttribute::LocalPref(100)));
        assert!(u
            .attributes
            .contains(&PathAttribute::AsPath(AsPath::default())));
    }

    #[test]
    fn ipv6_goes_in_mp_reach_with_path_ids_under_add_path() {
        let s = Sender {
            local_as: 65001,
            internal: false,
            add_path_v4: false,
            add_path_v6: true,
        };
        let ctx = CodecContext {
            four_octet_as: true,
            add_path: AddPathFamilies::of(&[Family::IPV6_UNICAST]),
            ..Default::default()
        };
        let ch = [
            announce("2001:db8::7/128", 1, "2001:db8:1::2"),
            announce("2001:db8::7/128", 2, "2001:db8:1::3"),
        ];
        let us = decoded(&encode_changes(&ch, &s, &ctx).unwrap(), &ctx);
        assert_eq!(us.len(), 2, "two next hops, two attribute sets");
        for u in &us {
            let mp = u.attributes.iter().find_map(|a| match a {
                PathAttribute::MpReach(MpReach::Unicast { nlri, .. }) => Some(nlri),
                _ => None,
            });
            assert!(mp.unwrap()[0].path_id.is_some());
            assert!(!u
                .attributes
                .iter()
                .any(|a| matches!(a, PathAttribute::NextHop(_))));
        }
    }

    #[test]
    fn packs_many_prefixes_into_few_full_messages_and_loses_none() {
        let s = Sender {
            local_as: 65001,
            internal: false,
            add_path_v4: false,
            add_path_v6: false,
        };
        let ctx = CodecContext {
            four_octet_as: true,
            ..Default::default()
        };
        let n = 10_000u32;
        let ch: Vec<Change> = (0..n)
            .map(|i| {
                announce(
                    &format!("{}/32", Ipv4Addr::from(0xcb00_0000 + i)),
                    0,
                    "10.200.1.2",
                )
            })
            .chain((0..n / 2).map(|i| {
                Change::Withdraw {
                    prefix: format!("{}/32", Ipv4Addr::from(0xc633_0000 + i))
                        .parse()
                        .unwrap(),
                    path_id: 0,
                }
            }))
            .collect();
        let msgs = encode_changes(&ch, &s, &ctx).unwrap();
        assert!(msgs.iter().all(|m| m.len() <= 4096));
        // 5 bytes per /32: about 800 per message
        assert!(msgs.len() <= 20, "{} messages", msgs.len());
        let us = decoded(&msgs, &ctx);
        assert_eq!(us.iter().map(|u| u.nlri.len()).sum::<usize>(), n as usize);
        assert_eq!(
            us.iter().map(|u| u.withdrawn.len()).sum::<usize>(),
            n as usize / 2
        );
        // withdrawals go first
        assert!(!us[0].withdrawn.is_empty());
    }

    #[test]
    fn end_of_rib_markers_decode_as_such() {
        let ctx = CodecContext::default();
        for f in [Family::IPV4_UNICAST, Family::IPV6_UNICAST] {
            let b = end_of_rib(f, &ctx).unwrap();
            let Message::Update(u) = decode_message(&b, &ctx).unwrap() else {
                panic!()
            };
            assert_eq!(u.end_of_rib_family(), Some(f));
        }
    }
}
