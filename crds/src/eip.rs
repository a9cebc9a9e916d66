//! `Eip`: a pool of addresses that LoadBalancer Services draw from.
//!
//! Field names and meanings are OpenELB v0.6's (`api/v1alpha2/eip_types.go`), so Eip objects
//! written for OpenELB load unchanged. `status.conditions` is ours.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validate::{is_dns_label, ValidationErrors};

/// Desired state of an Eip: which addresses, announced how, for whom.
// Several printcolumn(...) entries each repeat `type_ =`, which the lint takes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "network.kubesphere.io",
    version = "v1alpha2",
    kind = "Eip",
    status = "EipStatus",
    derive = "PartialEq",
    category = "networking",
    doc = "Eip is a pool of addresses that porter assigns to LoadBalancer Services (OpenELB-compatible).",
    printcolumn(name = "cidr", type_ = "string", json_path = ".spec.address"),
    printcolumn(name = "usage", type_ = "integer", json_path = ".status.usage"),
    printcolumn(name = "total", type_ = "integer", json_path = ".status.poolSize")
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.protocol) || self.protocol != 'layer2' || (has(self.interface) && size(self.interface) > 0)",
    "message": "interface is required when protocol is layer2",
}]))]
pub struct EipSpec {
    /// The pool: one address (`203.0.113.5`), a CIDR (`203.0.113.0/24`; host bits are ignored,
    /// as OpenELB does) or an inclusive range `first-last` (`203.0.113.10-203.0.113.20`).
    /// IPv4 or IPv6.
    #[schemars(length(min = 1, max = 100))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": ADDRESS_RULE,
        "message": "must be an IP address, a CIDR (a.b.c.d/n) or a range first-last of one address family",
    }]))]
    pub address: String,
    /// How addresses from this pool are announced; `bgp` when left out.
    #[serde(default)]
    pub protocol: Protocol,
    /// For `layer2`: the interface that answers ARP/NDP, or `can_reach:<IP>` to pick on each node
    /// the interface that reaches that address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "!self.startsWith('can_reach:') || isIP(self.substring(10))",
        "message": "can_reach: must be followed by an IP address",
    }]))]
    pub interface: Option<String>,
    /// Stop assigning new addresses from this pool; Services that hold one keep it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable: bool,
    /// Adopt addresses that Services already show in their status instead of assigning anew.
    #[serde(default, rename = "usingKnownIPs", skip_serializing_if = "is_false")]
    pub using_known_ips: bool,
    /// Order among pools that match a Service's namespace: lower values are tried first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// Namespaces whose Services may draw from this pool without naming it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(inner(length(min = 1, max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")))]
    pub namespaces: Vec<String>,
    /// Labels a namespace must all carry for its Services to draw from this pool without naming
    /// it (a plain label map, as in OpenELB, not a full LabelSelector).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespace_selector: BTreeMap<String, String>,
}

/// The CEL rule on `spec.address`: an IP, a CIDR, or `first-last` with both ends IPs of one
/// family (the `ip` and `cidr` CEL libraries, Kubernetes 1.31+). Host bits in a CIDR are
/// allowed, as [`AddressRange::parse`] allows them. What it cannot say, a range that ends
/// before it starts (CEL IPs have no order), [`EipSpec::validate`] reports.
pub const ADDRESS_RULE: &str = "isIP(self) || isCIDR(self) || \
    (self.split('-').size() == 2 && isIP(self.split('-')[0]) && isIP(self.split('-')[1]) && \
    ip(self.split('-')[0]).family() == ip(self.split('-')[1]).family())";

/// How a pool's addresses reach the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Announced as BGP routes to the configured peers.
    #[default]
    Bgp,
    /// Answered by ARP (IPv4) or NDP (IPv6) from one elected node.
    Layer2,
    /// OpenELB's keepalived mode. Accepted so that such objects load; porter does not implement
    /// it and [`EipSpec::validate`] reports it.
    Vip,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Bgp => "bgp",
            Protocol::Layer2 => "layer2",
            Protocol::Vip => "vip",
        })
    }
}

/// Observed state of an Eip, written by the controller.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EipStatus {
    /// Every address of the pool is in use.
    #[serde(default, skip_serializing_if = "is_false")]
    pub occupied: bool,
    /// How many addresses are in use.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub usage: u64,
    /// How many addresses the pool holds, saturating at 2^63 - 1 for huge IPv6 pools (see
    /// [`EipStatus::count`]).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub pool_size: u64,
    /// Address in use → the Services using it, `namespace/name`, several joined by `;`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub used: BTreeMap<String, String>,
    /// First address of the pool.
    #[serde(default, rename = "firstIP", skip_serializing_if = "Option::is_none")]
    pub first_ip: Option<String>,
    /// Last address of the pool.
    #[serde(default, rename = "lastIP", skip_serializing_if = "Option::is_none")]
    pub last_ip: Option<String>,
    /// The pool is IPv4.
    #[serde(default, skip_serializing_if = "is_false")]
    pub v4: bool,
    /// The announcer for this pool is running.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ready: bool,
    /// Standard conditions (`Valid`, `Ready`), each with the `observedGeneration` it describes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

impl EipStatus {
    /// The largest count a status can show: the API server stores integers as int64 and
    /// refuses the whole status write when one is larger (a /64 pool's 2^64 addresses did,
    /// kube-apiserver 1.37: "poolSize in body must be of type int64").
    pub const MAX_COUNT: u64 = i64::MAX as u64;

    /// A pool size or usage as `poolSize` and `usage` show it: saturating at
    /// [`MAX_COUNT`](Self::MAX_COUNT).
    pub fn count(n: u128) -> u64 {
        u64::try_from(n).unwrap_or(u64::MAX).min(Self::MAX_COUNT)
    }
}

/// The addresses an Eip's `address` field denotes: `first..=last`, one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressRange {
    /// Lowest address of the pool.
    pub first: IpAddr,
    /// Highest address of the pool (equal to `first` for a single address).
    pub last: IpAddr,
}

/// Why an Eip `address` does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Neither an address, a CIDR nor a `first-last` range.
    #[error("`{0}` is not an IP address, a CIDR (a.b.c.d/n) or a range (first-last)")]
    Malformed(String),
    /// The prefix length is longer than the address.
    #[error("prefix length /{len} is longer than {max} bits")]
    PrefixTooLong {
        /// The prefix length written.
        len: u8,
        /// The address width: 32 or 128.
        max: u8,
    },
    /// A range whose ends are of different families.
    #[error("range ends `{first}` and `{last}` are of different address families")]
    MixedFamilies {
        /// The first end as written.
        first: IpAddr,
        /// The last end as written.
        last: IpAddr,
    },
    /// A range whose last address is below its first.
    #[error("range `{first}-{last}` ends before it starts")]
    Reversed {
        /// The first end as written.
        first: IpAddr,
        /// The last end as written.
        last: IpAddr,
    },
}

impl AddressRange {
    /// Parses an Eip `address`: `IP`, `IP/len` or `IP-IP`.
    ///
    /// It refuses what the API server's [`ADDRESS_RULE`] refuses (Go's `net/netip`, seen
    /// against kube-apiserver 1.37 in tests/envtest_api.rs), so a standalone file is judged
    /// as an applied object is: IPv4-mapped IPv6 addresses (`::ffff:203.0.113.5`) and
    /// prefix lengths with a leading zero (`/08`).
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let malformed = || AddressError::Malformed(text.to_owned());
        let ip = |part: &str| parse_ip(part).ok_or_else(malformed);
        if let Some(ip) = parse_ip(text) {
            return Ok(AddressRange {
                first: ip,
                last: ip,
            });
        }
        if let Some((addr, len)) = text.split_once('/') {
            let addr = ip(addr)?;
            // Digits only, so that "+24" or " 24" do not slip through u8::from_str; no leading
            // zero, as netip.ParsePrefix.
            let digits =
                !len.is_empty() && len.len() <= 3 && len.bytes().all(|b| b.is_ascii_digit());
            if !digits || (len.len() > 1 && len.starts_with('0')) {
                return Err(malformed());
            }
            let len: u8 = len.parse().map_err(|_| malformed())?;
            return cidr_range(addr, len);
        }
        if let Some((first, last)) = text.split_once('-') {
            let first = ip(first)?;
            let last = ip(last)?;
            if first.is_ipv4() != last.is_ipv4() {
                return Err(AddressError::MixedFamilies { first, last });
            }
            if last < first {
                return Err(AddressError::Reversed { first, last });
            }
            return Ok(AddressRange { first, last });
        }
        Err(malformed())
    }

    /// Whether the pool is IPv4.
    pub fn is_ipv4(&self) -> bool {
        self.first.is_ipv4()
    }

    /// Number of addresses in the pool, saturating at `u128::MAX` for `::/0`.
    pub fn size(&self) -> u128 {
        (ip_to_u128(self.last) - ip_to_u128(self.first)).saturating_add(1)
    }

    /// Whether `ip` lies in the pool.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.is_ipv4() && self.first <= ip && ip <= self.last
    }

    /// Whether two pools share an address (OpenELB refuses overlapping Eips).
    pub fn overlaps(&self, other: &AddressRange) -> bool {
        self.is_ipv4() == other.is_ipv4() && self.first <= other.last && other.first <= self.last
    }
}

impl EipSpec {
    /// The addresses of this pool, or why `address` does not parse.
    pub fn range(&self) -> Result<AddressRange, AddressError> {
        AddressRange::parse(&self.address)
    }

    /// Checks what the schema cannot: the address syntax, the layer-2 interface, namespace
    /// names. Paths start at `spec`.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if let Err(e) = self.range() {
            errs.push("spec.address", e.to_string());
        }
        match self.protocol {
            Protocol::Bgp => {}
            Protocol::Layer2 => match self.interface.as_deref() {
                None | Some("") => errs.push(
                    "spec.interface",
                    "is required when protocol is layer2 (an interface name or can_reach:<IP>)",
                ),
                Some(iface) => {
                    if let Some(target) = iface.strip_prefix("can_reach:") {
                        if target.parse::<IpAddr>().is_err() {
                            errs.push(
                                "spec.interface",
                                format!("`{target}` after can_reach: is not an IP address"),
                            );
                        }
                    }
                }
            },
            Protocol::Vip => errs.push(
                "spec.protocol",
                "vip (keepalived) mode is not supported by porter; use bgp or layer2",
            ),
        }
        for (i, ns) in self.namespaces.iter().enumerate() {
            if !is_dns_label(ns) {
                errs.push(
                    format!("spec.namespaces[{i}]"),
                    format!("`{ns}` is not a namespace name (RFC 1123 label)"),
                );
            }
        }
        for key in self.namespace_selector.keys() {
            if key.is_empty() {
                errs.push("spec.namespaceSelector", "label keys must not be empty");
            }
        }
        errs.into_result()
    }
}

impl Eip {
    /// Whether the Eip carries [`annotations::DEFAULT_EIP`](crate::annotations::DEFAULT_EIP)
    /// set to `"true"`: Services that name no pool draw from it.
    pub fn is_default(&self) -> bool {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::annotations::DEFAULT_EIP))
            .is_some_and(|v| v == "true")
    }

    /// Validates the spec (see [`EipSpec::validate`]).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        self.spec.validate()
    }
}

/// An IP address as the API server's `isIP()` reads one: no IPv4-mapped IPv6 form.
fn parse_ip(text: &str) -> Option<IpAddr> {
    match text.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => None,
        ip => Some(ip),
    }
}

fn cidr_range(ip: IpAddr, len: u8) -> Result<AddressRange, AddressError> {
    let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(AddressError::PrefixTooLong { len, max });
    }
    let host_bits = u32::from(max - len);
    let host_mask: u128 = if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    let base = ip_to_u128(ip) & !host_mask;
    let top = base | host_mask;
    Ok(AddressRange {
        first: u128_to_ip(base, ip.is_ipv4()),
        last: u128_to_ip(top, ip.is_ipv4()),
    })
}

fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn u128_to_ip(value: u128, v4: bool) -> IpAddr {
    if v4 {
        // The value came from a 32-bit address and a mask within 32 bits.
        IpAddr::V4(u32::try_from(value).unwrap_or(u32::MAX).into())
    } else {
        IpAddr::V6(value.into())
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> AddressRange {
        AddressRange::parse(s).unwrap()
    }

    #[test]
    fn parses_single_address_cidr_and_range() {
        let one = range("203.0.113.5");
        assert_eq!(one.first, one.last);
        assert_eq!(one.size(), 1);

        let cidr = range("203.0.113.77/24");
        assert_eq!(cidr.first.to_string(), "203.0.113.0");
        assert_eq!(cidr.last.to_string(), "203.0.113.255");
        assert_eq!(cidr.size(), 256);

        let span = range("198.51.100.10-198.51.100.20");
        assert_eq!(span.size(), 11);
        assert!(span.contains("198.51.100.15".parse().unwrap()));
        assert!(!span.contains("198.51.100.21".parse().unwrap()));
        assert!(!span.contains("2001:db8::1".parse().unwrap()));

        let v6 = range("2001:db8::/120");
        assert!(!v6.is_ipv4());
        assert_eq!(v6.size(), 256);
        assert_eq!(range("2001:db8::1-2001:db8::ff").size(), 255);
        assert_eq!(range("::/0").size(), u128::MAX);
        assert_eq!(range("0.0.0.0/0").size(), 1 << 32);
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "203.0.113",
            "203.0.113.0/",
            "203.0.113.0/+8",
            "203.0.113.1 - 203.0.113.2",
            "x-y",
            "/24",
            // Refused by the API server's isIP()/isCIDR() (Go's net/netip) too.
            "::ffff:203.0.113.5",
            "::ffff:203.0.113.0/120",
            "203.0.113.0/08",
            "203.0.113.1-::ffff:203.0.113.2",
        ] {
            assert!(
                matches!(AddressRange::parse(bad), Err(AddressError::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(
            AddressRange::parse("203.0.113.0/33"),
            Err(AddressError::PrefixTooLong { len: 33, max: 32 })
        );
        assert!(matches!(
            AddressRange::parse("203.0.113.9-203.0.113.1"),
            Err(AddressError::Reversed { .. })
        ));
        assert!(matches!(
            AddressRange::parse("203.0.113.1-2001:db8::1"),
            Err(AddressError::MixedFamilies { .. })
        ));
    }

    #[test]
    fn status_counts_saturate_at_int64() {
        assert_eq!(EipStatus::count(256), 256);
        assert_eq!(EipStatus::count(1 << 64), EipStatus::MAX_COUNT);
        assert_eq!(EipStatus::count(u128::MAX), EipStatus::MAX_COUNT);
        assert_eq!(
            EipStatus::count(u128::from(EipStatus::MAX_COUNT)),
            EipStatus::MAX_COUNT
        );
    }

    #[test]
    fn overlap_needs_a_shared_address() {
        let a = range("203.0.113.0/25");
        assert!(a.overlaps(&range("203.0.113.127-203.0.113.200")));
        assert!(!a.overlaps(&range("203.0.113.128/25")));
        assert!(!a.overlaps(&range("::/0")));
    }
}
