//! Translating: MetalLB objects → porter objects, and a finding for every field that is not
//! carried over as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use porter_crds::bgp_conf::GracefulRestart;
use porter_crds::bgp_peer::{
    default_afi_safi, Bfd, EbgpMultihop, PeerConf, Timers, TimersConfig, Transport,
};
use porter_crds::eip::{AddressRange, Protocol};
use porter_crds::{
    annotations, AnyObject, BgpConf, BgpConfSpec, BgpPeer, BgpPeerSpec, Eip, EipSpec, ProtoU64,
    BGP_CONF_NAME,
};

use super::read::{Config, L2AdvSpec, PeerSpec, PoolSpec};
use super::Obj;
use crate::import::{Emitted, Finding, Output};
use crate::ipam::{Allocator, PoolProtocol, PoolSpec as IpamPool};
use crate::speaker::from_crds::selector_matches;

/// The translating half: decoded MetalLB objects → porter objects and findings.
pub(super) struct Translator {
    pub(super) config: Config,
    pub(super) out: Output,
    pub(super) errors: Vec<String>,
}

/// How the advertisements announce one pool.
#[derive(Default)]
struct Announced {
    /// Indices into `config.l2_ads`.
    l2: Vec<usize>,
    /// Indices into `config.bgp_ads`.
    bgp: Vec<usize>,
}

impl Translator {
    pub(super) fn run(&mut self) {
        self.out.read = self.config.read;
        self.out.preamble = preamble();
        self.out.findings = std::mem::take(&mut self.config.findings);
        let announced = self.advertisements();
        self.bgp();
        self.pools(&announced);
        self.profiles_and_communities();
        self.check_objects();
    }

    /// Findings on each advertisement, and which advertisements select each pool.
    fn advertisements(&mut self) -> Vec<Announced> {
        let mut announced: Vec<Announced> = self
            .config
            .pools
            .iter()
            .map(|_| Announced::default())
            .collect();
        let mut findings = Vec::new();
        for (i, ad) in self.config.l2_ads.iter().enumerate() {
            let s = &ad.spec;
            let selection = Selection {
                pools: &s.ip_address_pools,
                pool_selectors: &s.ip_address_pool_selectors,
                node_selectors: &s.node_selectors,
                service_selectors: &s.service_selectors,
                nodes: "porter elects the answering node among all nodes (those with a ready \
                        endpoint under externalTrafficPolicy Local)",
            };
            for pool in self.advertisement(ad, &selection, &mut findings) {
                announced[pool].l2.push(i);
            }
            if !s.preferred_node_selectors.is_empty() {
                findings.push(ad.lost(
                    "spec.preferredNodeSelectors",
                    "porter's election has no node preference",
                ));
            }
        }
        for (i, ad) in self.config.bgp_ads.iter().enumerate() {
            let s = &ad.spec;
            let selection = Selection {
                pools: &s.ip_address_pools,
                pool_selectors: &s.ip_address_pool_selectors,
                node_selectors: &s.node_selectors,
                service_selectors: &s.service_selectors,
                nodes: "porter announces from every node whose speaker peers (BgpPeer \
                        spec.nodeSelector), with every Ready node as next hop",
            };
            for pool in self.advertisement(ad, &selection, &mut findings) {
                announced[pool].bgp.push(i);
            }
            if let Some(len) = s.aggregation_length.filter(|l| *l != 32) {
                findings.push(ad.lost("spec.aggregationLength", format!("/{len}: porter announces each Service address as a /32; aggregation is not supported yet")));
            }
            if let Some(len) = s.aggregation_length_v6.filter(|l| *l != 128) {
                findings.push(ad.lost("spec.aggregationLengthV6", format!("/{len}: porter announces each Service address as a /128; aggregation is not supported yet")));
            }
            if let Some(pref) = s.local_pref.filter(|p| *p != 0) {
                findings.push(ad.lost(
                    "spec.localPref",
                    format!("{pref}: porter has no LOCAL_PREF policy yet"),
                ));
            }
            if !s.communities.is_empty() {
                let shown: Vec<String> = s
                    .communities
                    .iter()
                    .map(|c| self.community(&ad.namespace, c))
                    .collect();
                findings.push(ad.lost(
                    "spec.communities",
                    format!("[{}]: porter has no community policy yet", shown.join(", ")),
                ));
            }
            if !s.peers.is_empty() {
                let all: BTreeSet<&str> = self
                    .config
                    .peers
                    .iter()
                    .filter(|p| p.namespace == ad.namespace)
                    .map(|p| p.name.as_str())
                    .collect();
                let named: BTreeSet<&str> = s.peers.iter().map(String::as_str).collect();
                if named == all {
                    findings.push(ad.note("spec.peers", "names every BGPPeer of the input; porter announces every Eip to every BgpPeer, the same"));
                } else {
                    findings.push(ad.lost("spec.peers", format!("[{}]: porter announces every Eip to every BgpPeer; per-peer selection is not supported yet", s.peers.join(", "))));
                }
            }
            if self.config.peers.is_empty() {
                findings.push(ad.note("", "the input has no BGPPeer: porter announces nothing over BGP until a BgpConf and BgpPeers exist"));
            }
        }
        self.out.findings.extend(findings);
        announced
    }

    /// What both kinds of advertisement share: unknown fields, the pools they select, and the
    /// per-node and per-Service selection porter does not have.
    fn advertisement<S>(
        &self,
        ad: &Obj<S>,
        selection: &Selection<'_>,
        findings: &mut Vec<Finding>,
    ) -> BTreeSet<usize> {
        findings.extend(ad.unknown_fields());
        if !selection.node_selectors.is_empty() {
            findings.push(ad.lost(
                "spec.nodeSelectors",
                format!(
                    "{}; per-pool node selection is not supported yet",
                    selection.nodes
                ),
            ));
        }
        if !selection.service_selectors.is_empty() {
            findings.push(ad.lost(
                "spec.serviceSelectors",
                "porter announces every Service of an Eip; per-Service selection is not supported yet",
            ));
        }
        self.selected(ad, selection.pools, selection.pool_selectors, findings)
    }

    /// The pools an advertisement selects (indices into `config.pools`): by name, by label,
    /// or all pools of its namespace when it names none.
    fn selected<S>(
        &self,
        ad: &Obj<S>,
        names: &[String],
        selectors: &[LabelSelector],
        findings: &mut Vec<Finding>,
    ) -> BTreeSet<usize> {
        let same_ns = |p: &&Obj<PoolSpec>| p.namespace == ad.namespace;
        let mut out = BTreeSet::new();
        if names.is_empty() && selectors.is_empty() {
            out.extend(
                self.config
                    .pools
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| same_ns(p))
                    .map(|(i, _)| i),
            );
            return out;
        }
        for (n, name) in names.iter().enumerate() {
            match self
                .config
                .pools
                .iter()
                .position(|p| same_ns(&p) && p.name == *name)
            {
                Some(i) => {
                    out.insert(i);
                }
                None => findings.push(ad.lost(
                    &format!("spec.ipAddressPools[{n}]"),
                    format!(
                        "IPAddressPool {name} is not in the input; add the file that defines it"
                    ),
                )),
            }
        }
        for (n, selector) in selectors.iter().enumerate() {
            for (i, pool) in self
                .config
                .pools
                .iter()
                .enumerate()
                .filter(|(_, p)| same_ns(p))
            {
                match selector_matches(Some(selector), &pool.labels) {
                    Ok(true) => {
                        out.insert(i);
                    }
                    Ok(false) => {}
                    Err(message) => {
                        findings
                            .push(ad.lost(&format!("spec.ipAddressPoolSelectors[{n}]"), message));
                        break;
                    }
                }
            }
        }
        out
    }

    /// A community as written, with the value of an alias from a `Community` object.
    fn community(&self, namespace: &str, text: &str) -> String {
        let alias = self
            .config
            .communities
            .iter()
            .filter(|c| c.namespace == namespace)
            .flat_map(|c| c.spec.communities.iter().map(move |a| (c, a)))
            .find(|(_, a)| a.name == text);
        match alias {
            Some((c, a)) => format!("{text} (= {} from {})", a.value, c.label()),
            None => text.to_owned(),
        }
    }

    /// BGPPeers → the BgpConf and BgpPeers.
    fn bgp(&mut self) {
        let Some(first) = self
            .config
            .peers
            .iter()
            .find(|p| p.spec.my_asn.is_some_and(|a| a != 0))
        else {
            for peer in &self.config.peers {
                self.errors.push(format!(
                    "{} ({}): spec.myASN: is required (a non-zero AS number)",
                    peer.label(),
                    peer.origin
                ));
            }
            return;
        };
        let asn = first.spec.my_asn.unwrap_or_default();
        let mut conf_findings = vec![first.note("spec.myASN", format!("{asn} → BgpConf spec.as (porter has one local AS per cluster; a peer with another myASN gets spec.conf.localAs)"))];
        // MetalLB sends a peer's routerID from every node; porter has one for all peers.
        let with_id = self
            .config
            .peers
            .iter()
            .find(|p| p.spec.router_id.as_deref().is_some_and(|r| !r.is_empty()));
        let router_id = with_id.and_then(|p| p.spec.router_id.clone());
        if let (Some(peer), Some(id)) = (with_id, &router_id) {
            let without = self
                .config
                .peers
                .iter()
                .filter(|p| p.spec.router_id.as_deref().is_none_or(str::is_empty))
                .count();
            conf_findings.push(if without == 0 {
                peer.note("spec.routerID", format!("{id} → BgpConf spec.routerId"))
            } else {
                peer.lost(
                    "spec.routerID",
                    format!(
                        "{id} → BgpConf spec.routerId, which porter uses with every peer, also \
                         the {without} BGPPeer(s) that set none (MetalLB gives those the \
                         node's own router ID)"
                    ),
                )
            });
        }
        let conf = BgpConf::new(
            BGP_CONF_NAME,
            BgpConfSpec {
                asn,
                as_per_rack: BTreeMap::new(),
                router_id: router_id.clone(),
                listen_port: 0,
                listen_addresses: Vec::new(),
                families: Vec::new(),
                use_multiple_paths: false,
                graceful_restart: None,
                policy: None,
            },
        );
        self.out.objects.push(Emitted {
            object: AnyObject::BgpConf(conf),
            source: first.source("spec.myASN"),
            findings: conf_findings,
        });
        let mut names = Names::default();
        for i in 0..self.config.peers.len() {
            let peer = self.config.peers[i].clone();
            match self.peer(&peer, asn, router_id.as_deref(), &mut names) {
                Ok(Some(emitted)) => self.out.objects.push(emitted),
                Ok(None) => {}
                Err(error) => self.errors.push(error),
            }
        }
    }

    fn peer(
        &mut self,
        peer: &Obj<PeerSpec>,
        asn: u32,
        router_id: Option<&str>,
        names: &mut Names,
    ) -> Result<Option<Emitted>, String> {
        let s = &peer.spec;
        let mut findings = peer.unknown_fields();
        let error = |field: &str, message: String| {
            format!("{} ({}): {field}: {message}", peer.label(), peer.origin)
        };
        let my_asn = match s.my_asn {
            Some(a) if a != 0 => a,
            _ => {
                return Err(error(
                    "spec.myASN",
                    "is required (a non-zero AS number)".into(),
                ));
            }
        };
        let neighbor = match (
            s.peer_address.as_deref().filter(|a| !a.is_empty()),
            s.interface.as_deref().filter(|i| !i.is_empty()),
        ) {
            (Some(address), _) => match address.trim().parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => {
                    return Err(error(
                        "spec.peerAddress",
                        format!("`{address}` is not an IP address"),
                    ));
                }
            },
            (None, Some(interface)) => {
                self.out.findings.push(peer.lost("spec.interface", format!("{interface}: unnumbered BGP (peering over an interface without a neighbor address) is not supported; no BgpPeer written")));
                return Ok(None);
            }
            (None, None) => {
                return Err(error(
                    "spec.peerAddress",
                    "is required (or spec.interface)".into(),
                ));
            }
        };
        let peer_as = match (s.peer_asn.filter(|a| *a != 0), s.dynamic_asn.as_deref()) {
            (Some(a), _) => a,
            (None, Some("internal")) => {
                findings.push(peer.note(
                    "spec.dynamicASN",
                    format!(
                        "internal → spec.conf.peerAs {my_asn} (an internal neighbor's AS is ours)"
                    ),
                ));
                my_asn
            }
            (None, Some(mode)) => {
                self.out.findings.push(peer.lost("spec.dynamicASN", format!("{mode}: porter needs the neighbor's AS in spec.conf.peerAs; no BgpPeer written (write one with the router's AS)")));
                return Ok(None);
            }
            (None, None) => {
                return Err(error(
                    "spec.peerASN",
                    "is required (or spec.dynamicASN)".into(),
                ));
            }
        };
        let local_as = match s.local_asn.filter(|a| *a != 0) {
            Some(local) => {
                findings.push(peer.note(
                    "spec.localASN",
                    format!("{local} → spec.conf.localAs: the AS porter presents to this neighbor"),
                ));
                local
            }
            None if my_asn != asn => {
                findings.push(peer.note(
                    "spec.myASN",
                    format!("{my_asn} differs from BgpConf spec.as {asn} → spec.conf.localAs"),
                ));
                my_asn
            }
            None => 0,
        };
        if let Some(id) = s
            .router_id
            .as_deref()
            .filter(|r| !r.is_empty() && Some(*r) != router_id)
        {
            findings.push(peer.lost(
                "spec.routerID",
                format!(
                    "{id}: porter has one router ID for all peers (BgpConf spec.routerId {})",
                    router_id.unwrap_or("-")
                ),
            ));
        }
        let mut auth_password = s.password.clone().filter(|p| !p.is_empty());
        if let Some(secret) = s
            .password_secret
            .as_ref()
            .filter(|r| r.name.as_deref().is_some_and(|n| !n.is_empty()))
        {
            let name = secret.name.as_deref().unwrap_or_default();
            let namespace = secret
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(&peer.namespace);
            match self.config.secrets.get(&format!("{namespace}/{name}")) {
                Some(Some(password)) => {
                    findings.push(peer.note("spec.passwordSecret", format!("the password key of Secret {namespace}/{name} → spec.conf.authPassword (porter reads the TCP MD5 key only from there)")));
                    auth_password = Some(password.clone());
                }
                Some(None) => findings.push(peer.lost("spec.passwordSecret", format!("Secret {namespace}/{name} has no password key; set spec.conf.authPassword by hand"))),
                None => findings.push(peer.lost("spec.passwordSecret", format!("{namespace}/{name}: porter reads the TCP MD5 key only from spec.conf.authPassword; the Secret is not in the input (add it, or set authPassword by hand)"))),
            }
        }
        let mut timers = TimersConfig::default();
        for (field, text, slot) in [
            ("spec.holdTime", &s.hold_time, &mut timers.hold_time),
            (
                "spec.keepaliveTime",
                &s.keepalive_time,
                &mut timers.keepalive_interval,
            ),
            (
                "spec.connectTime",
                &s.connect_time,
                &mut timers.connect_retry,
            ),
        ] {
            let Some(text) = text.as_deref() else {
                continue;
            };
            match go_duration_seconds(text) {
                // MetalLB reads 0 as "not set".
                Some((0, true)) => {}
                Some((secs, exact)) => {
                    if !exact {
                        findings.push(peer.lost(
                            field,
                            format!("{text}: porter's timers are whole seconds; written as {secs}"),
                        ));
                    }
                    *slot = Some(ProtoU64(secs));
                }
                None => {
                    return Err(error(
                        field,
                        format!("`{text}` is not a duration (like 90s, 1m30s)"),
                    ));
                }
            }
        }
        let mut bfd = None;
        if let Some(profile) = s.bfd_profile.as_deref().filter(|p| !p.is_empty()) {
            match self
                .config
                .bfd_profiles
                .iter()
                .find(|b| b.namespace == peer.namespace && b.name == profile)
            {
                None => findings.push(peer.lost(
                    "spec.bfdProfile",
                    format!(
                        "BFDProfile {profile} is not in the input; add the file that defines it"
                    ),
                )),
                Some(_) if s.ebgp_multi_hop => findings.push(peer.lost(
                    "spec.bfdProfile",
                    format!(
                        "{profile}: porter runs single-hop BFD only, and this peer is ebgpMultiHop"
                    ),
                )),
                Some(p) => {
                    let b = &p.spec;
                    findings
                        .push(peer.note("spec.bfdProfile", format!("{} → spec.bfd", p.label())));
                    if b.echo_mode == Some(true) {
                        findings.push(p.lost("spec.echoMode", "porter's BFD has no echo mode"));
                    } else if b.echo_interval.is_some() {
                        findings.push(p.note(
                            "spec.echoInterval",
                            "ignored: echo mode is off (porter has none)",
                        ));
                    }
                    if b.minimum_ttl.is_some() {
                        findings.push(p.note(
                            "spec.minimumTtl",
                            "ignored: it applies to multi-hop BFD only",
                        ));
                    }
                    findings.extend(p.unknown_fields());
                    bfd = Some(Bfd {
                        enabled: true,
                        min_rx_interval_ms: b.receive_interval,
                        min_tx_interval_ms: b.transmit_interval,
                        multiplier: b
                            .detect_multiplier
                            .map(|m| u8::try_from(m).unwrap_or(u8::MAX)),
                        passive: b.passive_mode.unwrap_or(false),
                        strict: false,
                    });
                }
            }
        }
        let node_selector = match node_selector(&s.node_selectors) {
            Ok(selector) => selector,
            Err(message) => {
                findings.push(peer.lost("spec.nodeSelectors", message));
                None
            }
        };
        if let Some(vrf) = s.vrf.as_deref().filter(|v| !v.is_empty()) {
            findings.push(peer.lost(
                "spec.vrf",
                format!("{vrf}: porter peers from the node's main routing table only"),
            ));
        }
        if s.disable_mp {
            findings.push(peer.note("spec.disableMP", "porter negotiates the neighbor address's family only unless afiSafis says otherwise, the same"));
        }
        let afi_safis = if s.dual_stack_address_family {
            findings.push(peer.note(
                "spec.dualStackAddressFamily",
                "→ spec.afiSafis with IPv4 and IPv6 unicast",
            ));
            vec![
                default_afi_safi(IpAddr::from([0, 0, 0, 0])),
                default_afi_safi(IpAddr::from([0u16; 8])),
            ]
        } else {
            Vec::new()
        };
        let source_address = s
            .source_address
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        let transport =
            (source_address.is_some() || s.peer_port.is_some_and(|p| p != 179)).then(|| {
                Transport {
                    local_address: source_address.map(str::to_owned),
                    remote_port: s.peer_port.filter(|p| *p != 179).unwrap_or(0),
                    ..Transport::default()
                }
            });
        let has_timers = timers != TimersConfig::default();
        let spec = BgpPeerSpec {
            conf: PeerConf {
                auth_password,
                local_as,
                neighbor_address: neighbor.to_string(),
                peer_as,
                ..PeerConf::default()
            },
            ebgp_multihop: s.ebgp_multi_hop.then_some(EbgpMultihop {
                enabled: true,
                multihop_ttl: 0,
            }),
            timers: has_timers.then_some(Timers {
                config: Some(timers),
            }),
            transport,
            graceful_restart: s.enable_graceful_restart.then(|| GracefulRestart {
                enabled: true,
                ..GracefulRestart::default()
            }),
            afi_safis,
            node_selector,
            bfd,
        };
        let name = names.take(&peer.namespace, &peer.name);
        if name != peer.name {
            findings.push(peer.note(
                "metadata.name",
                format!(
                    "written as {name}: porter's objects are cluster-scoped and the name is taken"
                ),
            ));
        }
        Ok(Some(Emitted {
            object: AnyObject::BgpPeer(BgpPeer::new(&name, spec)),
            source: peer.source(""),
            findings,
        }))
    }

    /// IPAddressPools → Eips.
    fn pools(&mut self, announced: &[Announced]) {
        let mut names = Names::default();
        // MetalLB: a pool with no priority comes after those with one; porter: 0 comes first.
        let last_priority = self
            .config
            .pools
            .iter()
            .filter_map(|p| p.spec.service_allocation.as_ref())
            .map(|a| a.priority)
            .max()
            .unwrap_or(0);
        // Per family, the first Eip that may be assigned automatically (the default pool).
        let mut defaults: BTreeMap<bool, String> = BTreeMap::new();
        for (index, pool) in self.config.pools.clone().iter().enumerate() {
            let s = &pool.spec;
            let mut common = pool.unknown_fields();
            if s.addresses.is_empty() {
                self.out
                    .findings
                    .push(pool.lost("spec.addresses", "is empty: no Eip written"));
                continue;
            }
            let ads = &announced[index];
            let l2_ads: Vec<&Obj<L2AdvSpec>> =
                ads.l2.iter().map(|i| &self.config.l2_ads[*i]).collect();
            let protocol = match (l2_ads.is_empty(), ads.bgp.is_empty()) {
                (false, true) => Protocol::Layer2,
                (true, false) => Protocol::Bgp,
                (false, false) => {
                    common.push(pool.lost("", format!("announced by L2Advertisement {} and BGPAdvertisement {}: an Eip is announced one way; written as bgp", l2_ads[0].name, self.config.bgp_ads[ads.bgp[0]].name)));
                    Protocol::Bgp
                }
                (true, true) => {
                    common.push(pool.lost("", "no L2Advertisement or BGPAdvertisement selects this pool, so MetalLB assigns its addresses without announcing them; porter announces every Eip: written as bgp"));
                    Protocol::Bgp
                }
            };
            let interfaces: BTreeSet<&str> = l2_ads
                .iter()
                .flat_map(|a| a.spec.interfaces.iter().map(String::as_str))
                .collect();
            let all_interfaces = l2_ads.iter().any(|a| a.spec.interfaces.is_empty());
            let allocation = s.service_allocation.clone().unwrap_or_default();
            let auto_assign = s.auto_assign.unwrap_or(true);
            let mut namespaces = Vec::new();
            let mut namespace_selector = BTreeMap::new();
            let mut priority = 0;
            let bound =
                !allocation.namespaces.is_empty() || !allocation.namespace_selectors.is_empty();
            if bound && !auto_assign {
                common.push(pool.lost("spec.serviceAllocation", "with autoAssign false: porter's namespace binding would assign from this pool automatically, so it is left out and any Service that names the pool may use it"));
            } else if bound {
                namespaces = allocation.namespaces.clone();
                match allocation.namespace_selectors.as_slice() {
                    [] => {}
                    [one] if one.match_expressions.as_ref().is_none_or(Vec::is_empty) => {
                        namespace_selector = one.match_labels.clone().unwrap_or_default();
                    }
                    _ => common.push(pool.lost("spec.serviceAllocation.namespaceSelectors", "porter's namespaceSelector is one set of labels (matchLabels of one selector)")),
                }
                priority = match allocation.priority {
                    0 if last_priority > 0 => last_priority.saturating_add(1),
                    p => p,
                };
                common.push(pool.note("spec.serviceAllocation", format!("→ namespaces/namespaceSelector, priority {priority} (lower first). Unlike MetalLB, porter lets a Service of another namespace use this pool when it names it, and does not fall back to the default pool when a bound pool is full")));
            } else if !auto_assign {
                common.push(pool.note(
                    "spec.autoAssign",
                    "false → not a default pool: only Services that name it draw from it",
                ));
            }
            if !bound && allocation.priority != 0 {
                common.push(pool.note(
                    "spec.serviceAllocation.priority",
                    "ignored: it orders pools bound to namespaces, and this one is bound to none",
                ));
            }
            if !allocation.service_selectors.is_empty() {
                common.push(pool.lost("spec.serviceAllocation.serviceSelectors", "porter chooses pools by namespace, not by Service labels; name the pool in the Service instead"));
            }
            let count = s.addresses.len();
            let mut written = Vec::new();
            for (i, text) in s.addresses.iter().enumerate() {
                let field = format!("spec.addresses[{i}]");
                let mut findings = common.clone();
                let address = match eip_address(pool, &field, text, &mut findings) {
                    Ok(address) => address,
                    Err(error) => {
                        self.errors.push(error);
                        continue;
                    }
                };
                let wanted = if count == 1 {
                    pool.name.clone()
                } else {
                    format!("{}-{i}", pool.name)
                };
                let name = names.take(&pool.namespace, &wanted);
                if name != wanted {
                    findings.push(pool.note("metadata.name", format!("Eip {name}, not {wanted}: porter's objects are cluster-scoped and the name is taken")));
                }
                if count > 1 {
                    findings.push(pool.note(&field, format!("Eip {name} is one of {count} made from this pool (an Eip holds one range)")));
                }
                let interface = match protocol {
                    Protocol::Layer2 => Some(match interfaces.iter().next() {
                        Some(first) if !all_interfaces => {
                            if interfaces.len() > 1 {
                                findings.push(pool.lost("", format!("L2Advertisement interfaces [{}]: porter answers on one interface per Eip; written as {first}", interfaces.iter().copied().collect::<Vec<_>>().join(", "))));
                            }
                            (*first).to_owned()
                        }
                        _ => {
                            let target = AddressRange::parse(&address.address)
                                .map(|r| r.first.to_string())
                                .unwrap_or_default();
                            findings.push(pool.note("", format!("MetalLB answers on every interface; porter on one: can_reach:{target} picks, on each node, the interface of the route to the pool (set an interface name instead if that is not the right one)")));
                            format!("can_reach:{target}")
                        }
                    }),
                    _ => None,
                };
                let family_v4 = AddressRange::parse(&address.address).is_ok_and(|r| r.is_ipv4());
                let mut eip = Eip::new(
                    &name,
                    EipSpec {
                        address: address.address,
                        protocol,
                        interface,
                        disable: false,
                        using_known_ips: address.using_known_ips,
                        priority,
                        namespaces: namespaces.clone(),
                        namespace_selector: namespace_selector.clone(),
                    },
                );
                if auto_assign && !bound {
                    match defaults.get(&family_v4) {
                        None => {
                            defaults.insert(family_v4, name.clone());
                            eip.metadata.annotations = Some([(annotations::DEFAULT_EIP.to_owned(), "true".to_owned())].into());
                            findings.push(pool.note("spec.autoAssign", "→ the default pool of its address family: Services that name no pool draw from it"));
                        }
                        Some(default) => findings.push(pool.lost("spec.autoAssign", format!("porter has one default pool per address family ({default}): Services that name no pool do not draw from {name}; name it in eip.openelb.kubesphere.io/v1alpha2"))),
                    }
                }
                written.push(name.clone());
                self.out.objects.push(Emitted {
                    object: AnyObject::Eip(eip),
                    source: pool.source(&field),
                    findings,
                });
            }
            if !written.is_empty() {
                self.out.preamble.push(format!(
                    "  {} → eip.openelb.kubesphere.io/v1alpha2: {}",
                    pool.label(),
                    written.join(",")
                ));
            }
        }
    }
}

/// One `spec.addresses` entry as an Eip address, or the input error.
fn eip_address(
    pool: &Obj<PoolSpec>,
    field: &str,
    text: &str,
    findings: &mut Vec<Finding>,
) -> Result<EipAddress, String> {
    let written = match text.split_once('-') {
        Some((first, last)) => format!("{}-{}", first.trim(), last.trim()),
        None => text.trim().to_owned(),
    };
    let range = match AddressRange::parse(&written) {
        Ok(range) => range,
        Err(e) => return Err(format!("{} ({}): {field}: {e}", pool.label(), pool.origin)),
    };
    let cidr = written
        .split_once('/')
        .and_then(|(_, len)| len.parse::<u8>().ok());
    if !range.is_ipv4() {
        return Ok(EipAddress {
            address: written,
            using_known_ips: false,
        });
    }
    if !pool.spec.avoid_buggy_ips {
        // porter leaves out an IPv4 CIDR's network and broadcast addresses unless told.
        if cidr.is_some_and(|len| len < 31) {
            findings.push(pool.note(field, "usingKnownIPs: true, because MetalLB assigns the network and broadcast addresses of a CIDR too (remove it to skip them)"));
            return Ok(EipAddress {
                address: written,
                using_known_ips: true,
            });
        }
        return Ok(EipAddress {
            address: written,
            using_known_ips: false,
        });
    }
    // avoidBuggyIPs: no address ending in .0 or .255.
    if cidr == Some(24) {
        findings.push(pool.note(
            "spec.avoidBuggyIPs",
            "a /24 without its .0 and .255 is porter's default for a CIDR",
        ));
        return Ok(EipAddress {
            address: written,
            using_known_ips: false,
        });
    }
    let buggy = |ip: IpAddr| matches!(ip, IpAddr::V4(v4) if matches!(v4.octets()[3], 0 | 255));
    let (mut first, mut last) = (range.first, range.last);
    let step = |ip: IpAddr, up: bool| match ip {
        IpAddr::V4(v4) => {
            let n = u32::from(v4);
            IpAddr::from(
                if up {
                    n.saturating_add(1)
                } else {
                    n.saturating_sub(1)
                }
                .to_be_bytes(),
            )
        }
        v6 => v6,
    };
    while buggy(first) && first < last {
        first = step(first, true);
    }
    while buggy(last) && last > first {
        last = step(last, false);
    }
    if buggy(first) {
        findings.push(pool.lost(
            "spec.avoidBuggyIPs",
            format!("{written} holds only addresses ending in .0 or .255; written as is"),
        ));
        return Ok(EipAddress {
            address: written,
            using_known_ips: false,
        });
    }
    // Neither end ends in .0 or .255 now, so an address inside does exactly when the
    // range leaves its /24 (the .255 of the first /24 is then inside).
    let inner = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(a) >> 8 != u32::from(b) >> 8,
        _ => false,
    };
    let address = if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    };
    if inner {
        findings.push(pool.lost("spec.avoidBuggyIPs", format!("{address} still holds addresses ending in .0 or .255 inside it, which porter may assign (an Eip is one range)")));
    } else {
        findings.push(pool.note(
            "spec.avoidBuggyIPs",
            format!("{written} written as {address}, without addresses ending in .0 or .255"),
        ));
    }
    Ok(EipAddress {
        address,
        using_known_ips: false,
    })
}

impl Translator {
    /// Notes on BFD profiles no peer uses and on Community objects.
    fn profiles_and_communities(&mut self) {
        for profile in &self.config.bfd_profiles {
            let used = self.config.peers.iter().any(|p| {
                p.namespace == profile.namespace
                    && p.spec.bfd_profile.as_deref() == Some(profile.name.as_str())
            });
            if !used {
                self.out
                    .findings
                    .push(profile.note("", "no BGPPeer uses it; nothing to carry over"));
            }
        }
        for community in &self.config.communities {
            let aliases: Vec<String> = community
                .spec
                .communities
                .iter()
                .map(|a| format!("{}={}", a.name, a.value))
                .collect();
            self.out.findings.push(community.note("spec.communities", format!("[{}]: porter has no community policy yet; advertisements that use them are reported", aliases.join(", "))));
            self.out.findings.extend(community.unknown_fields());
        }
    }

    /// Drops any object porter would refuse, with a finding saying why, so the output
    /// always loads; the same for Eips that overlap.
    fn check_objects(&mut self) {
        let mut kept = Vec::new();
        for mut emitted in std::mem::take(&mut self.out.objects) {
            match emitted.object.check() {
                Ok(()) => kept.push(emitted),
                Err(e) => {
                    self.out.findings.push(Finding {
                        object: emitted.source.clone(),
                        field: None,
                        message: format!("porter refuses the object made from it: {e}"),
                        lost: true,
                    });
                    self.out.findings.append(&mut emitted.findings);
                }
            }
        }
        let pools = kept.iter().filter_map(|e| match &e.object {
            AnyObject::Eip(eip) => Some(IpamPool {
                name: eip.metadata.name.clone().unwrap_or_default(),
                address: eip.spec.address.clone(),
                protocol: match eip.spec.protocol {
                    Protocol::Layer2 => PoolProtocol::Layer2,
                    _ => PoolProtocol::Bgp,
                },
                using_known_ips: eip.spec.using_known_ips,
                is_default: eip.is_default(),
                ..IpamPool::default()
            }),
            _ => None,
        });
        let invalid: BTreeMap<String, String> = Allocator::new(pools)
            .invalid_pools()
            .iter()
            .map(|i| (i.name.clone(), i.error.to_string()))
            .collect();
        for emitted in kept {
            let refused = match &emitted.object {
                AnyObject::Eip(eip) => invalid.get(eip.metadata.name.as_deref().unwrap_or("")),
                _ => None,
            };
            match refused {
                Some(error) => {
                    self.out.findings.push(Finding {
                        object: emitted.source.clone(),
                        field: None,
                        message: format!("porter refuses the Eip made from it: {error}"),
                        lost: true,
                    });
                    self.out.findings.extend(emitted.findings);
                }
                None => self.out.objects.push(emitted),
            }
        }
    }
}

/// The selection fields both advertisement kinds have.
struct Selection<'a> {
    pools: &'a [String],
    pool_selectors: &'a [LabelSelector],
    node_selectors: &'a [LabelSelector],
    service_selectors: &'a [LabelSelector],
    /// How porter picks the nodes instead.
    nodes: &'a str,
}

/// An Eip's `address` and `usingKnownIPs`.
struct EipAddress {
    address: String,
    using_known_ips: bool,
}

/// porter names per kind: the MetalLB name, or `namespace-name` when that is taken (porter's
/// objects are cluster-scoped, MetalLB's namespaced).
#[derive(Default)]
struct Names(BTreeSet<String>);

impl Names {
    fn take(&mut self, namespace: &str, name: &str) -> String {
        let mut candidate = name.to_owned();
        let mut n = 1;
        while self.0.contains(&candidate) {
            candidate = if namespace.is_empty() || n > 1 {
                format!("{name}-{n}")
            } else {
                format!("{namespace}-{name}")
            };
            n += 1;
        }
        self.0.insert(candidate.clone());
        candidate
    }
}

/// MetalLB's `nodeSelectors` (any of them matches) as porter's one `nodeSelector`: none, one,
/// or several that each name one value of the same label (an `In` expression).
fn node_selector(selectors: &[LabelSelector]) -> Result<Option<LabelSelector>, String> {
    match selectors {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        several => {
            let mut key = None;
            let mut values = Vec::new();
            for s in several {
                let labels = s.match_labels.clone().unwrap_or_default();
                let single =
                    labels.len() == 1 && s.match_expressions.as_ref().is_none_or(Vec::is_empty);
                let Some((k, v)) = labels.into_iter().next().filter(|_| single) else {
                    return Err(format!("{} selectors: porter's nodeSelector is one selector, and these are not each one label of the same key", several.len()));
                };
                if key.get_or_insert_with(|| k.clone()) != &k {
                    return Err(format!(
                        "{} selectors on different labels: porter's nodeSelector is one selector",
                        several.len()
                    ));
                }
                values.push(v);
            }
            Ok(Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: key.unwrap_or_default(),
                    operator: "In".into(),
                    values: Some(values),
                }]),
                match_labels: None,
            }))
        }
    }
}

/// A Go duration (`90s`, `1m30s`, `1.5h`) in whole seconds, and whether it was whole;
/// `None` when it does not parse or is negative.
pub(in crate::import) fn go_duration_seconds(text: &str) -> Option<(u64, bool)> {
    let text = text.trim();
    if text == "0" {
        return Some((0, true));
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() {
        return None;
    }
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let mut part = whole.checked_mul(scale)?;
        let mut divisor: u128 = 1;
        for digit in fraction.chars().take(18) {
            divisor *= 10;
            part = part.checked_add(u128::from(digit.to_digit(10)?) * scale / divisor)?;
        }
        nanos = nanos.checked_add(part)?;
        rest = tail;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    Some((secs, nanos % 1_000_000_000 == 0))
}

/// The comment lines that open the output: how Services find porter and their pool.
fn preamble() -> Vec<String> {
    [
        "porter objects carried over from MetalLB by `porter import metallb`.",
        "Lines starting `NOT CARRIED OVER` name what porter cannot express; `note` lines say how a field was carried.",
        "",
        "Services: MetalLB serves every LoadBalancer Service without a loadBalancerClass. porter serves those",
        "that opt in (annotation lb.kubesphere.io/v1alpha1: porter, or spec.loadBalancerClass:",
        "network.kubesphere.io/porter), or all of them with `porter manager --default-class`.",
        "porter does not read MetalLB's Service annotations; rewrite them (metallb.universe.tf/ is the older prefix):",
        "  metallb.io/loadBalancerIPs → eip.openelb.kubesphere.io/v1alpha1 (addresses, comma-separated)",
        "  metallb.io/allow-shared-ip → lb.kubesphere.io/allow-shared-ip (same key, no port in common)",
        "  metallb.io/address-pool → eip.openelb.kubesphere.io/v1alpha2, with the Eip names of the pool (tried in order):",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}
