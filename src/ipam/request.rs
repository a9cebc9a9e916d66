//! What a Service asks of IPAM, as plain data, and the pure opt-in check.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use super::address::IpFamily;
use super::error::IpamError;

/// Service annotation that opts a Service in to porter (values `openelb` or `porter`).
pub const LB_ANNOTATION: &str = "lb.kubesphere.io/v1alpha1";
/// Service annotation naming the pool(s) to allocate from (comma-separated for dual-stack).
pub const POOL_ANNOTATION: &str = "eip.openelb.kubesphere.io/v1alpha2";
/// Service annotation requesting specific address(es) (comma-separated for dual-stack); it
/// takes precedence over `spec.loadBalancerIP`, as in OpenELB.
pub const IP_ANNOTATION: &str = "eip.openelb.kubesphere.io/v1alpha1";
/// Service annotation carrying the sharing key: Services with the same non-empty key and no
/// common (protocol, port) may hold the same address.
///
/// OpenELB has no such key (it lets any Service that names an address already in use share
/// it, whatever the ports); the name follows MetalLB's `metallb.universe.tf/allow-shared-ip`
/// in OpenELB's `lb.kubesphere.io` group.
pub const SHARING_ANNOTATION: &str = "lb.kubesphere.io/allow-shared-ip";

/// Namespace and name of a Service; shown as `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ServiceKey {
    /// A key from its two parts.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ServiceKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Transport protocol of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl fmt::Display for PortProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortProtocol::Tcp => "TCP",
            PortProtocol::Udp => "UDP",
            PortProtocol::Sctp => "SCTP",
        })
    }
}

/// One Service port; two Services sharing an address may not have one in common.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePort {
    /// Protocol.
    pub protocol: PortProtocol,
    /// Port number.
    pub port: u16,
}

/// The address families a Service wants: one address per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FamilyRequest {
    /// One IPv4 address.
    #[default]
    V4,
    /// One IPv6 address.
    V6,
    /// One IPv4 and one IPv6 address.
    DualStack,
}

impl FamilyRequest {
    /// The wanted families, IPv4 first.
    pub fn families(self) -> &'static [IpFamily] {
        match self {
            FamilyRequest::V4 => &[IpFamily::V4],
            FamilyRequest::V6 => &[IpFamily::V6],
            FamilyRequest::DualStack => &[IpFamily::V4, IpFamily::V6],
        }
    }

    /// Whether `family` is wanted.
    pub fn wants(self, family: IpFamily) -> bool {
        self.families().contains(&family)
    }
}

impl fmt::Display for FamilyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FamilyRequest::V4 => "IPv4 only",
            FamilyRequest::V6 => "IPv6 only",
            FamilyRequest::DualStack => "IPv4 and IPv6",
        })
    }
}

/// An allocation request: everything IPAM needs to know about one Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRequest {
    /// Which Service.
    pub service: ServiceKey,
    /// Labels of the Service's namespace (for pools' `namespaceSelector`).
    pub namespace_labels: BTreeMap<String, String>,
    /// Pools named by the Service (pool annotation); empty for automatic choice.
    pub pools: Vec<String>,
    /// Addresses asked for (IP annotation or `spec.loadBalancerIP`), at most one per family.
    pub requested_ips: Vec<IpAddr>,
    /// The Service's ports.
    pub ports: Vec<ServicePort>,
    /// Families wanted.
    pub families: FamilyRequest,
    /// Sharing key; `None` means the Service shares its address with nobody.
    pub sharing_key: Option<String>,
}

impl ServiceRequest {
    /// A single-stack IPv4 request with no ports, pools, addresses or sharing key.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ServiceRequest {
            service: ServiceKey::new(namespace, name),
            namespace_labels: BTreeMap::new(),
            pools: Vec::new(),
            requested_ips: Vec::new(),
            ports: Vec::new(),
            families: FamilyRequest::V4,
            sharing_key: None,
        }
    }

    /// Fill `pools`, `requested_ips` and `sharing_key` from a Service's annotations and
    /// `spec.loadBalancerIP` (the IP annotation wins over `loadBalancerIP`, as in OpenELB).
    /// List values are comma-separated; blanks around items are ignored.
    pub fn with_annotations(
        mut self,
        annotations: &BTreeMap<String, String>,
        load_balancer_ip: Option<&str>,
    ) -> Result<Self, IpamError> {
        self.pools = annotations
            .get(POOL_ANNOTATION)
            .map(|v| split_list(v).map(str::to_owned).collect())
            .unwrap_or_default();
        let ips = annotations
            .get(IP_ANNOTATION)
            .map(String::as_str)
            .or(load_balancer_ip)
            .unwrap_or("");
        self.requested_ips = split_list(ips)
            .map(|t| {
                t.parse::<IpAddr>()
                    .map_err(|_| IpamError::BadRequestedIp { text: t.to_owned() })
            })
            .collect::<Result<_, _>>()?;
        self.sharing_key = annotations
            .get(SHARING_ANNOTATION)
            .map(|k| k.trim())
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
        Ok(self)
    }

    /// The requested address of `family`, if any.
    pub fn requested_ip(&self, family: IpFamily) -> Option<IpAddr> {
        self.requested_ips
            .iter()
            .copied()
            .find(|ip| IpFamily::of(*ip) == family)
    }

    /// Check the request on its own: requested addresses must be of wanted families, at most
    /// one per family.
    pub fn validate(&self) -> Result<(), IpamError> {
        for (i, ip) in self.requested_ips.iter().enumerate() {
            let family = IpFamily::of(*ip);
            if !self.families.wants(family) {
                return Err(IpamError::IpFamilyNotRequested {
                    ip: *ip,
                    families: self.families.to_string(),
                });
            }
            if let Some(second) = self.requested_ips[i + 1..]
                .iter()
                .find(|o| IpFamily::of(**o) == family && *o != ip)
            {
                return Err(IpamError::DuplicateRequestedFamily {
                    family,
                    first: *ip,
                    second: *second,
                });
            }
        }
        Ok(())
    }
}

/// Whether porter handles a Service, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptIn {
    /// porter allocates and announces an address for it.
    Managed,
    /// The Service is not of type `LoadBalancer`.
    NotLoadBalancer,
    /// `spec.loadBalancerClass` names another implementation.
    OtherClass(String),
    /// No class and no `lb.kubesphere.io/v1alpha1: openelb|porter` annotation.
    NotAnnotated,
}

/// Decide whether porter handles a Service (pure: the caller passes the Service's type, its
/// annotations and `spec.loadBalancerClass`, and porter's own class if one is configured).
///
/// * Not `LoadBalancer` → not ours.
/// * `spec.loadBalancerClass` set → ours exactly when it equals `our_class`; Kubernetes leaves a
///   classed Service to the one implementation of that class, so the annotation cannot override
///   a foreign class.
/// * No class → ours when the `lb.kubesphere.io/v1alpha1` annotation is `openelb` (OpenELB's
///   value, so existing Services migrate unchanged) or `porter`.
pub fn opt_in(
    service_type: &str,
    annotations: &BTreeMap<String, String>,
    load_balancer_class: Option<&str>,
    our_class: Option<&str>,
) -> OptIn {
    if service_type != "LoadBalancer" {
        return OptIn::NotLoadBalancer;
    }
    if let Some(class) = load_balancer_class {
        return if Some(class) == our_class {
            OptIn::Managed
        } else {
            OptIn::OtherClass(class.to_owned())
        };
    }
    match annotations.get(LB_ANNOTATION).map(String::as_str) {
        Some("openelb") | Some("porter") => OptIn::Managed,
        _ => OptIn::NotAnnotated,
    }
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn opt_in_by_annotation() {
        let a = map(&[(LB_ANNOTATION, "openelb")]);
        assert_eq!(opt_in("LoadBalancer", &a, None, None), OptIn::Managed);
        let p = map(&[(LB_ANNOTATION, "porter")]);
        assert_eq!(opt_in("LoadBalancer", &p, None, None), OptIn::Managed);
        let other = map(&[(LB_ANNOTATION, "metallb")]);
        assert_eq!(
            opt_in("LoadBalancer", &other, None, None),
            OptIn::NotAnnotated
        );
        assert_eq!(
            opt_in("LoadBalancer", &map(&[]), None, None),
            OptIn::NotAnnotated
        );
        assert_eq!(opt_in("ClusterIP", &a, None, None), OptIn::NotLoadBalancer);
    }

    #[test]
    fn opt_in_by_load_balancer_class() {
        let none = map(&[]);
        let a = map(&[(LB_ANNOTATION, "openelb")]);
        let ours = Some("network.kubesphere.io/porter");
        assert_eq!(opt_in("LoadBalancer", &none, ours, ours), OptIn::Managed);
        // A foreign class wins over the annotation.
        assert_eq!(
            opt_in("LoadBalancer", &a, Some("example.com/other"), ours),
            OptIn::OtherClass("example.com/other".into())
        );
        assert_eq!(
            opt_in(
                "LoadBalancer",
                &a,
                Some("network.kubesphere.io/porter"),
                None
            ),
            OptIn::OtherClass("network.kubesphere.io/porter".into())
        );
    }

    #[test]
    fn reads_request_annotations() {
        let ann = map(&[
            (POOL_ANNOTATION, "v4pool, v6pool"),
            (IP_ANNOTATION, "203.0.113.5,2001:db8::5"),
            (SHARING_ANNOTATION, " web "),
        ]);
        let r = ServiceRequest::new("ns", "svc")
            .with_annotations(&ann, Some("198.51.100.1"))
            .unwrap();
        assert_eq!(r.pools, ["v4pool", "v6pool"]);
        assert_eq!(
            r.requested_ips,
            [
                "203.0.113.5".parse::<IpAddr>().unwrap(),
                "2001:db8::5".parse().unwrap()
            ]
        );
        assert_eq!(r.sharing_key.as_deref(), Some("web"));
    }

    #[test]
    fn load_balancer_ip_used_without_annotation() {
        let r = ServiceRequest::new("ns", "svc")
            .with_annotations(&map(&[(SHARING_ANNOTATION, "")]), Some("198.51.100.1"))
            .unwrap();
        assert_eq!(r.requested_ips, ["198.51.100.1".parse::<IpAddr>().unwrap()]);
        assert!(r.pools.is_empty());
        assert_eq!(r.sharing_key, None);
    }

    #[test]
    fn rejects_unparsable_requested_ip() {
        let e = ServiceRequest::new("ns", "svc")
            .with_annotations(&map(&[(IP_ANNOTATION, "203.0.113.300")]), None)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "requested address \"203.0.113.300\" is not an IP address"
        );
    }

    #[test]
    fn validate_checks_families() {
        let mut r = ServiceRequest::new("ns", "svc");
        r.requested_ips = vec!["2001:db8::1".parse().unwrap()];
        assert_eq!(
            r.validate().unwrap_err().to_string(),
            "requested address 2001:db8::1 is IPv6, but the Service asks for IPv4 only"
        );
        r.families = FamilyRequest::DualStack;
        assert!(r.validate().is_ok());
        r.requested_ips.push("2001:db8::2".parse().unwrap());
        assert_eq!(
            r.validate().unwrap_err().to_string(),
            "two requested IPv6 addresses: 2001:db8::1 and 2001:db8::2"
        );
    }

    #[test]
    fn service_key_displays_namespace_slash_name() {
        assert_eq!(ServiceKey::new("ns", "web").to_string(), "ns/web");
    }
}
