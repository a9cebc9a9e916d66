//! Status shaping: what porter writes to `Eip.status` and `Service.status.loadBalancer`,
//! computed from the IPAM state. Pure: plain data in, plain data out.

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::LoadBalancerIngress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use porter_crds::EipStatus;

use crate::ipam::{AddressError, Allocator, Assigned, PoolError, ServiceKey};

/// Condition type: the pool can hand out and announce addresses.
pub const READY: &str = "Ready";
/// Condition type: the pool's spec is usable (address, overlap, family, default, selector).
pub const VALID: &str = "Valid";

/// What is known about one Eip besides the allocator: its name, generation, whether it is
/// being deleted, and the conditions it shows now (to keep their transition times).
#[derive(Clone, Debug, Default)]
pub struct EipView<'a> {
    /// Object name (the pool name).
    pub name: &'a str,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    /// `status.conditions` as read.
    pub current: &'a [Condition],
}

/// The status an Eip should show. `now` stamps conditions whose status changes.
pub fn eip_status(ipam: &Allocator, eip: &EipView<'_>, now: Timestamp) -> EipStatus {
    let cond = |type_: &str, ok: bool, reason: &str, message: String| {
        condition(eip.current, type_, ok, reason, message, eip.generation, now)
    };
    if let Some(bad) = ipam.invalid_pools().iter().find(|i| i.name == eip.name) {
        let reason = invalid_reason(&bad.error);
        let message = bad.error.to_string();
        let mut status = EipStatus {
            conditions: vec![
                cond(READY, false, "Invalid", message.clone()),
                cond(VALID, false, reason, message),
            ],
            ..EipStatus::default()
        };
        if let Some(addr) = &bad.address {
            status.v4 = addr.family() == crate::ipam::IpFamily::V4;
        }
        return status;
    }
    let Ok(pool) = ipam.pool_status(eip.name) else {
        // Not yet known to the allocator (a new Eip before the pools were refreshed).
        return EipStatus {
            conditions: vec![cond(
                READY,
                false,
                "Pending",
                "waiting for the allocator to load this pool".into(),
            )],
            ..EipStatus::default()
        };
    };
    let holders: BTreeSet<String> = pool
        .used
        .values()
        .flat_map(|h| h.split(';').map(str::to_owned))
        .collect();
    let ready = if eip.deleting && !holders.is_empty() {
        cond(
            READY,
            false,
            "DeletionBlocked",
            format!(
                "deletion waits until these Services release their addresses: {}",
                holders.into_iter().collect::<Vec<_>>().join(", ")
            ),
        )
    } else if eip.deleting {
        cond(
            READY,
            false,
            "Deleting",
            "no Service holds an address".into(),
        )
    } else if ipam.pool(eip.name).is_some_and(|p| p.spec().disable) {
        cond(
            READY,
            false,
            "Disabled",
            "spec.disable is set: Services keep their addresses, no new ones are given".into(),
        )
    } else if pool.occupied {
        cond(READY, true, "Full", "every address is in use".into())
    } else {
        cond(
            READY,
            true,
            "Allocatable",
            format!("{} of {} addresses in use", pool.usage, pool.pool_size),
        )
    };
    EipStatus {
        occupied: pool.occupied,
        usage: EipStatus::count(pool.usage as u128),
        pool_size: EipStatus::count(pool.pool_size),
        used: pool
            .used
            .iter()
            .map(|(ip, who)| (ip.to_string(), who.clone()))
            .collect(),
        first_ip: Some(pool.first_ip.to_string()),
        last_ip: Some(pool.last_ip.to_string()),
        v4: pool.v4,
        ready: ready.status == "True",
        conditions: vec![
            ready,
            cond(VALID, true, "Valid", "the pool's spec is usable".into()),
        ],
    }
}

/// The Services that hold an address of pool `name` (what blocks its deletion).
pub fn pool_holders(ipam: &Allocator, name: &str) -> Vec<ServiceKey> {
    ipam.allocations()
        .filter(|(_, held)| held.iter().any(|a| a.pool == name))
        .map(|(k, _)| k.clone())
        .collect()
}

/// `status.loadBalancer.ingress` for a Service's addresses: one entry per address, IPv4
/// first (one per family for dual-stack Services).
pub fn ingress(assigned: &[Assigned]) -> Vec<LoadBalancerIngress> {
    let mut ips: Vec<IpAddr> = assigned.iter().map(|a| a.ip).collect();
    ips.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    ips.dedup();
    ips.into_iter()
        .map(|ip| LoadBalancerIngress {
            ip: Some(ip.to_string()),
            ..LoadBalancerIngress::default()
        })
        .collect()
}

/// The IPs a Service's status shows now.
pub fn ingress_ips(ingress: Option<&[LoadBalancerIngress]>) -> Vec<IpAddr> {
    ingress
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect()
}

/// A condition, keeping the transition time of the current one when its status is the same
/// (Kubernetes API conventions: lastTransitionTime moves only when status changes).
pub fn condition(
    current: &[Condition],
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = if ok { "True" } else { "False" };
    let last_transition_time = current
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// The condition reason (CamelCase, as the API requires) for an unusable pool.
fn invalid_reason(e: &PoolError) -> &'static str {
    match e {
        PoolError::Address {
            error: AddressError::MixedFamilies { .. },
            ..
        } => "FamilyMismatch",
        PoolError::Address { .. } => "BadAddress",
        PoolError::Overlap { .. } => "Overlap",
        PoolError::DuplicateDefault { .. } => "DuplicateDefault",
        PoolError::DuplicateName { .. } => "DuplicateName",
        PoolError::EmptyName => "EmptyName",
        PoolError::BadSelector { .. } => "BadSelector",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipam::{PoolProtocol, PoolSpec, ServiceRequest};

    fn now() -> Timestamp {
        "2026-01-02T03:04:05Z".parse().unwrap()
    }

    fn view(name: &str) -> EipView<'_> {
        EipView {
            name,
            generation: Some(3),
            deleting: false,
            current: &[],
        }
    }

    fn cond<'a>(s: &'a EipStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn valid_pool_shows_usage_and_ready() {
        let (mut ipam, _) = Allocator::rebuild([PoolSpec::new("p", "203.0.113.0/30")], &[]);
        let mut r = ServiceRequest::new("ns", "a");
        r.pools = vec!["p".into()];
        ipam.allocate(&r).unwrap();
        let s = eip_status(&ipam, &view("p"), now());
        assert_eq!(s.usage, 1);
        assert_eq!(s.pool_size, 2); // /30 without network and broadcast
        assert_eq!(s.first_ip.as_deref(), Some("203.0.113.1"));
        assert_eq!(s.last_ip.as_deref(), Some("203.0.113.2"));
        assert!(s.v4 && s.ready && !s.occupied);
        assert_eq!(s.used["203.0.113.1"], "ns/a");
        let ready = cond(&s, READY);
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "Allocatable")
        );
        assert_eq!(ready.observed_generation, Some(3));
        assert_eq!(cond(&s, VALID).status, "True");
    }

    /// (case, pools, the pool looked at, expected Valid reason)
    #[test]
    fn invalid_pools_name_their_reason() {
        let cases = [
            (
                "bad address",
                vec![PoolSpec::new("p", "203.0.113.300")],
                "p",
                "BadAddress",
            ),
            (
                "family mismatch",
                vec![PoolSpec::new("p", "203.0.113.1-2001:db8::1")],
                "p",
                "FamilyMismatch",
            ),
            (
                "overlap: the later name loses",
                vec![
                    PoolSpec::new("a", "203.0.113.0/24"),
                    PoolSpec::new("b", "203.0.113.128/25"),
                ],
                "b",
                "Overlap",
            ),
        ];
        for (case, pools, name, reason) in cases {
            let (ipam, _) = Allocator::rebuild(pools, &[]);
            let s = eip_status(&ipam, &view(name), now());
            let valid = cond(&s, VALID);
            assert_eq!(valid.status, "False", "{case}");
            assert_eq!(valid.reason, reason, "{case}");
            assert!(!valid.message.is_empty(), "{case}");
            assert_eq!(cond(&s, READY).reason, "Invalid", "{case}");
            assert!(!s.ready, "{case}");
        }
    }

    #[test]
    fn deletion_in_use_is_blocked_and_names_the_holders() {
        let (mut ipam, _) = Allocator::rebuild([PoolSpec::new("p", "203.0.113.0/24")], &[]);
        let mut r = ServiceRequest::new("ns", "a");
        r.pools = vec!["p".into()];
        ipam.allocate(&r).unwrap();
        let mut v = view("p");
        v.deleting = true;
        let s = eip_status(&ipam, &v, now());
        let ready = cond(&s, READY);
        assert_eq!(ready.reason, "DeletionBlocked");
        assert!(ready.message.contains("ns/a"), "{}", ready.message);
        assert_eq!(pool_holders(&ipam, "p"), [ServiceKey::new("ns", "a")]);
        ipam.release(&ServiceKey::new("ns", "a"));
        assert!(pool_holders(&ipam, "p").is_empty());
        assert_eq!(
            cond(&eip_status(&ipam, &v, now()), READY).reason,
            "Deleting"
        );
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let old: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let current = [Condition {
            type_: READY.into(),
            status: "True".into(),
            reason: "Allocatable".into(),
            message: String::new(),
            observed_generation: Some(1),
            last_transition_time: Time(old),
        }];
        let same = condition(&current, READY, true, "Full", "x".into(), Some(2), now());
        assert_eq!(same.last_transition_time, Time(old));
        assert_eq!(same.observed_generation, Some(2));
        let flipped = condition(
            &current,
            READY,
            false,
            "Disabled",
            "x".into(),
            Some(2),
            now(),
        );
        assert_eq!(flipped.last_transition_time, Time(now()));
    }

    #[test]
    fn ingress_has_one_entry_per_family_ipv4_first() {
        let a = |ip: &str| Assigned {
            ip: ip.parse().unwrap(),
            pool: "p".into(),
            protocol: PoolProtocol::Bgp,
        };
        let ing = ingress(&[a("2001:db8::5"), a("203.0.113.5")]);
        let ips: Vec<_> = ing.iter().map(|i| i.ip.clone().unwrap()).collect();
        assert_eq!(ips, ["203.0.113.5", "2001:db8::5"]);
        assert!(ing
            .iter()
            .all(|i| i.ip_mode.is_none() && i.hostname.is_none()));
        assert_eq!(
            ingress_ips(Some(&ing)),
            [
                "203.0.113.5".parse::<IpAddr>().unwrap(),
                "2001:db8::5".parse().unwrap()
            ]
        );
    }
}
