//! Adj-RIB-Out: what one peer should hear, what it has heard, and the difference.
//!
//! Pure data in, pure data out. The desired state says, per prefix, which next hops are
//! eligible (the nodes that can serve the VIP). Per peer this becomes paths:
//! - with ADD-PATH send negotiated for the family, one path per eligible next hop, each with
//!   a path identifier that stays the same for as long as that next hop stays eligible
//!   (RFC 7911 §3 leaves the choice of identifiers to the sender);
//! - without it, one path per prefix: next-hop self when this node is eligible, else the
//!   lowest eligible next hop, so every replica makes the same choice.
//!
//! Received routes are never stored: porter only announces.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use bgp_wire::nlri::Prefix;
use bgp_wire::Family;

/// A next hop as the desired state names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NextHop {
    /// This speaker's own address on the session (next-hop self), resolved per peer.
    Local,
    /// A given address: a node's IP, possibly another node's (third-party next hop on a
    /// shared LAN, RFC 4271 §5.1.3).
    Addr(IpAddr),
}

/// Extra attributes a route carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteAttrs {
    /// COMMUNITIES to attach (RFC 1997).
    pub communities: Vec<u32>,
}

/// The desired announcement of one prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteSpec {
    /// Eligible next hops; an empty set means the prefix is withdrawn.
    pub next_hops: BTreeSet<NextHop>,
    /// Attributes.
    pub attrs: RouteAttrs,
}

/// Everything this speaker should announce.
pub type DesiredRoutes = BTreeMap<Prefix, RouteSpec>;

/// How a peer's session shapes its paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerView {
    /// Families negotiated with the peer; routes of other families are not sent.
    pub families: BTreeSet<Family>,
    /// Families for which ADD-PATH send was negotiated.
    pub add_path_send: BTreeSet<Family>,
    /// This speaker's addresses: the session's local address, and any others of this node.
    /// `NextHop::Local` resolves to the first of the prefix's family; an `Addr` equal to one
    /// of them counts as "self" when only one path can be sent.
    pub local_addrs: Vec<IpAddr>,
    /// Communities added to every path (RFC 8326 GRACEFUL_SHUTDOWN while draining).
    pub extra_communities: Vec<u32>,
}

impl PeerView {
    fn local_of(&self, v4: bool) -> Option<IpAddr> {
        self.local_addrs.iter().copied().find(|a| a.is_ipv4() == v4)
    }
}

/// One path as sent to a peer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path {
    /// Resolved next hop.
    pub next_hop: IpAddr,
    /// Attributes.
    pub attrs: RouteAttrs,
}

/// A change to send.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// Announce (or replace) `prefix` with path id `path_id` (0 without ADD-PATH).
    Announce {
        /// The prefix.
        prefix: Prefix,
        /// Path identifier; meaningful only with ADD-PATH.
        path_id: u32,
        /// The path.
        path: Path,
    },
    /// Withdraw `prefix` / `path_id`.
    Withdraw {
        /// The prefix.
        prefix: Prefix,
        /// Path identifier; meaningful only with ADD-PATH.
        path_id: u32,
    },
}

/// What has been sent to one peer, keyed by (prefix, path id).
#[derive(Clone, Debug, Default)]
pub struct AdjRibOut {
    sent: BTreeMap<(Prefix, u32), Path>,
    /// Path ids handed out per prefix to each next hop, kept while the path exists. Per
    /// prefix the list is as short as the node count, so lookups stay cheap at 100k prefixes.
    ids: HashMap<Prefix, Vec<(IpAddr, u32)>>,
}

impl AdjRibOut {
    /// An empty Adj-RIB-Out (a new session).
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of paths currently advertised.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    /// True when nothing is advertised.
    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// The next hops currently advertised for `prefix` (a range scan: cheap per prefix).
    pub fn next_hops(&self, prefix: Prefix) -> BTreeSet<IpAddr> {
        self.sent
            .range((prefix, 0)..=(prefix, u32::MAX))
            .map(|(_, p)| p.next_hop)
            .collect()
    }

    /// Every advertised path, as announcements (for ROUTE-REFRESH and graceful shutdown).
    pub fn announcements(&self) -> Vec<Change> {
        self.sent
            .iter()
            .map(|((prefix, path_id), path)| Change::Announce {
                prefix: *prefix,
                path_id: *path_id,
                path: path.clone(),
            })
            .collect()
    }

    /// Brings the Adj-RIB-Out to `desired` as seen through `view` and returns the changes to
    /// send, withdrawals first. Calling it again with the same input returns nothing.
    pub fn sync(&mut self, desired: &DesiredRoutes, view: &PeerView) -> Vec<Change> {
        let want = self.resolve(desired, view);
        let mut withdraw = Vec::new();
        let mut announce = Vec::new();
        for (key, _) in self.sent.iter().filter(|(k, _)| !want.contains_key(k)) {
            withdraw.push(Change::Withdraw {
                prefix: key.0,
                path_id: key.1,
            });
        }
        for (key, path) in &want {
            if self.sent.get(key) != Some(path) {
                announce.push(Change::Announce {
                    prefix: key.0,
                    path_id: key.1,
                    path: path.clone(),
                });
            }
        }
        // forget ids of paths that are gone, so a returning next hop may get a new one
        self.ids.retain(|prefix, list| {
            list.retain(|(nh, id)| want.get(&(*prefix, *id)).is_some_and(|p| p.next_hop == *nh));
            !list.is_empty()
        });
        self.sent = want;
        withdraw.extend(announce);
        withdraw
    }

    fn resolve(
        &mut self,
        desired: &DesiredRoutes,
        view: &PeerView,
    ) -> BTreeMap<(Prefix, u32), Path> {
        let mut want = BTreeMap::new();
        for (prefix, spec) in desired {
            let family = prefix.family();
            if !view.families.contains(&family) {
                continue;
            }
            let v4 = prefix.addr().is_ipv4();
            let resolve = |nh: &NextHop| match nh {
                NextHop::Local => view.local_of(v4),
                NextHop::Addr(a) if a.is_ipv4() == v4 => Some(*a),
                NextHop::Addr(_) => None,
            };
            let mut attrs = spec.attrs.clone();
            attrs
                .communities
                .extend(view.extra_communities.iter().copied());
            attrs.communities.sort_unstable();
            attrs.communities.dedup();
            let hops: BTreeSet<IpAddr> = spec.next_hops.iter().filter_map(resolve).collect();
            if hops.is_empty() {
                continue;
            }
            if view.add_path_send.contains(&family) {
                for nh in hops {
                    let id = self.path_id(*prefix, nh, &want);
                    want.insert(
                        (*prefix, id),
                        Path {
                            next_hop: nh,
                            attrs: attrs.clone(),
                        },
                    );
                }
            } else {
                let own = hops.iter().find(|a| view.local_addrs.contains(a)).copied();
                let nh = own.unwrap_or_else(|| *hops.iter().next().expect("non-empty"));
                want.insert(
                    (*prefix, 0),
                    Path {
                        next_hop: nh,
                        attrs,
                    },
                );
            }
        }
        want
    }

    /// The id of (prefix, next hop): the one it had, else the lowest id ≥ 1 free for this
    /// prefix both in what is sent now and in what is being built.
    fn path_id(
        &mut self,
        prefix: Prefix,
        nh: IpAddr,
        building: &BTreeMap<(Prefix, u32), Path>,
    ) -> u32 {
        let list = self.ids.entry(prefix).or_default();
        if let Some((_, id)) = list.iter().find(|(n, _)| *n == nh) {
            return *id;
        }
        let id = (1..)
            .find(|id| !building.contains_key(&(prefix, *id)) && !list.iter().any(|(_, i)| i == id))
            .expect("ids are plentiful");
        list.push((nh, id));
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pfx(s: &str) -> Prefix {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn spec(hops: &[NextHop]) -> RouteSpec {
        RouteSpec {
            next_hops: hops.iter().copied().collect(),
            attrs: RouteAttrs::default(),
        }
    }
    fn view(add_path: bool) -> PeerView {
        let fams: BTreeSet<Family> = [Family::IPV4_UNICAST, Family::IPV6_UNICAST].into();
        PeerView {
            families: fams.clone(),
            add_path_send: if add_path { fams } else { BTreeSet::new() },
            local_addrs: vec![ip("10.200.1.2"), ip("2001:db8:1::2")],
            extra_communities: vec![],
        }
    }

    #[test]
    fn local_next_hop_resolves_per_family_and_sync_is_idempotent() {
        let mut rib = AdjRibOut::new();
        let desired: DesiredRoutes = [
            (pfx("203.0.113.7/32"), spec(&[NextHop::Local])),
            (pfx("2001:db8::7/128"), spec(&[NextHop::Local])),
        ]
        .into();
        let ch = rib.sync(&desired, &view(false));
        assert_eq!(ch.len(), 2);
        assert!(ch.contains(&Change::Announce {
            prefix: pfx("2001:db8::7/128"),
            path_id: 0,
            path: Path {
                next_hop: ip("2001:db8:1::2"),
                attrs: RouteAttrs::default()
            }
        }));
        assert!(rib.sync(&desired, &view(false)).is_empty());
    }

    #[test]
    fn next_hops_are_those_of_one_prefix_only() {
        let mut rib = AdjRibOut::new();
        let (a, b) = (ip("10.200.1.2"), ip("10.200.1.3"));
        let hops = [NextHop::Addr(a), NextHop::Addr(b)];
        // neighbors in the key order: /31 sorts next to the /32 it contains
        let desired: DesiredRoutes = [
            (pfx("203.0.113.6/31"), spec(&[NextHop::Addr(a)])),
            (pfx("203.0.113.7/32"), spec(&hops)),
            (pfx("203.0.113.8/32"), spec(&[NextHop::Addr(b)])),
        ]
        .into();
        rib.sync(&desired, &view(true));
        assert_eq!(rib.next_hops(pfx("203.0.113.7/32")), [a, b].into());
        assert_eq!(rib.next_hops(pfx("203.0.113.6/31")), [a].into());
        assert!(rib.next_hops(pfx("203.0.113.9/32")).is_empty());
        rib.sync(&desired, &view(false));
        assert_eq!(rib.next_hops(pfx("203.0.113.7/32")), [a].into());
    }

    #[test]
    fn without_add_path_prefers_self_then_lowest() {
        let mut rib = AdjRibOut::new();
        let hops = [
            NextHop::Addr(ip("10.200.1.9")),
            NextHop::Addr(ip("10.200.1.2")),
            NextHop::Addr(ip("10.200.1.3")),
        ];
        let desired: DesiredRoutes = [(pfx("203.0.113.7/32"), spec(&hops))].into();
        let ch = rib.sync(&desired, &view(false));
        assert!(
            matches!(&ch[..], [Change::Announce { path, .. }] if path.next_hop == ip("10.200.1.2"))
        );
        let mut other = view(false);
        other.local_addrs = vec![ip("10.200.1.50")];
        let ch = AdjRibOut::new().sync(&desired, &other);
        assert!(
            matches!(&ch[..], [Change::Announce { path, .. }] if path.next_hop == ip("10.200.1.2"))
        );
    }

    #[test]
    fn add_path_ids_are_stable_while_next_hops_come_and_go() {
        let mut rib = AdjRibOut::new();
        let p = pfx("203.0.113.7/32");
        let (a, b, c) = (ip("10.200.1.2"), ip("10.200.1.3"), ip("10.200.1.4"));
        let d = |h: &[IpAddr]| -> DesiredRoutes {
            [(
                p,
                spec(&h.iter().map(|x| NextHop::Addr(*x)).collect::<Vec<_>>()),
            )]
            .into()
        };
        let ch = rib.sync(&d(&[a, b]), &view(true));
        assert_eq!(ch.len(), 2);
        let id_of = |rib: &AdjRibOut, nh| {
            rib.announcements().into_iter().find_map(|c| match c {
                Change::Announce { path_id, path, .. } if path.next_hop == nh => Some(path_id),
                _ => None,
            })
        };
        let (ia, ib) = (id_of(&rib, a).unwrap(), id_of(&rib, b).unwrap());
        assert_ne!(ia, ib);
        // a leaves, c joins: b keeps its id, a's path is withdrawn
        let ch = rib.sync(&d(&[b, c]), &view(true));
        assert_eq!(id_of(&rib, b), Some(ib));
        assert!(ch.contains(&Change::Withdraw {
            prefix: p,
            path_id: ia
        }));
        assert_eq!(ch.len(), 2);
        assert_ne!(id_of(&rib, c), Some(ib));
    }

    #[test]
    fn withdraws_when_no_next_hop_is_eligible_or_family_not_negotiated() {
        let mut rib = AdjRibOut::new();
        let p = pfx("203.0.113.7/32");
        rib.sync(&[(p, spec(&[NextHop::Local]))].into(), &view(false));
        let ch = rib.sync(&[(p, spec(&[]))].into(), &view(false));
        assert_eq!(
            ch,
            vec![Change::Withdraw {
                prefix: p,
                path_id: 0
            }]
        );
        let mut v6only = view(false);
        v6only.families = [Family::IPV6_UNICAST].into();
        assert!(rib
            .sync(&[(p, spec(&[NextHop::Local]))].into(), &v6only)
            .is_empty());
        assert!(rib.is_empty());
    }

    #[test]
    fn graceful_shutdown_community_reannounces_everything() {
        let mut rib = AdjRibOut::new();
        let desired: DesiredRoutes = [(pfx("203.0.113.7/32"), spec(&[NextHop::Local]))].into();
        rib.sync(&desired, &view(false));
        let mut draining = view(false);
        draining.extra_communities = vec![bgp_wire::iana::community::GRACEFUL_SHUTDOWN];
        let ch = rib.sync(&desired, &draining);
        assert!(
            matches!(&ch[..], [Change::Announce { path, .. }] if path.attrs.communities == vec![0xffff_0000])
        );
    }
}
