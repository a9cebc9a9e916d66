//! Address pools (the plain-data form of an `Eip`) and their validation as a set.
//!
//! Validation is done on the whole set at once, because two of its rules relate pools to each
//! other: overlapping pools and duplicate default pools. In both cases the pool whose name sorts
//! later is the one reported, so the outcome does not depend on the order the objects were
//! listed or watched in.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::address::{IpFamily, PoolAddress};
use super::error::PoolError;

/// Annotation that makes an Eip the default pool (value `"true"`), as in OpenELB.
pub const DEFAULT_POOL_ANNOTATION: &str = "eip.openelb.kubesphere.io/is-default-eip";

/// Whether an Eip's annotations mark it as the default pool.
pub fn is_default_pool(annotations: &BTreeMap<String, String>) -> bool {
    annotations
        .get(DEFAULT_POOL_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// How addresses of a pool are announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum PoolProtocol {
    /// Announced by BGP (OpenELB's default when `protocol` is empty).
    #[default]
    Bgp,
    /// Answered by ARP / NDP on a layer-2 segment.
    Layer2,
}

impl fmt::Display for PoolProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PoolProtocol::Bgp => "bgp",
            PoolProtocol::Layer2 => "layer2",
        })
    }
}

/// Operator of a label selector expression (the Kubernetes `LabelSelectorRequirement` set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorOperator {
    /// The label is present with one of the values.
    In,
    /// The label is absent, or present with none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorRequirement {
    /// Label key.
    pub key: String,
    /// How the key and values are matched.
    pub operator: SelectorOperator,
    /// Values for `In` / `NotIn`; must be empty for `Exists` / `DoesNotExist`.
    pub values: Vec<String>,
}

/// A namespace label selector as plain data (`matchLabels` and `matchExpressions`, ANDed).
///
/// OpenELB's `namespaceSelector` is a plain label map; that is `match_labels` here.
/// As in Kubernetes, an empty selector matches every namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    /// Labels that must be present with exactly these values.
    pub match_labels: BTreeMap<String, String>,
    /// Further requirements, all of which must hold.
    pub match_expressions: Vec<SelectorRequirement>,
}

impl LabelSelector {
    /// A selector of `matchLabels` only.
    pub fn labels<K: Into<String>, V: Into<String>>(
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        LabelSelector {
            match_labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            match_expressions: Vec::new(),
        }
    }

    /// Whether a namespace with `labels` is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator {
                    SelectorOperator::In => value.is_some_and(|v| r.values.contains(v)),
                    SelectorOperator::NotIn => !value.is_some_and(|v| r.values.contains(v)),
                    SelectorOperator::Exists => value.is_some(),
                    SelectorOperator::DoesNotExist => value.is_none(),
                }
            })
    }

    /// Check the rules the Kubernetes API server applies to `matchExpressions`.
    pub fn validate(&self) -> Result<(), String> {
        for r in &self.match_expressions {
            if r.key.is_empty() {
                return Err("matchExpressions entry with an empty key".to_owned());
            }
            match r.operator {
                SelectorOperator::In | SelectorOperator::NotIn if r.values.is_empty() => {
                    return Err(format!(
                        "{:?} on key {:?} needs at least one value",
                        r.operator, r.key
                    ));
                }
                SelectorOperator::Exists | SelectorOperator::DoesNotExist
                    if !r.values.is_empty() =>
                {
                    return Err(format!(
                        "{:?} on key {:?} takes no values",
                        r.operator, r.key
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A pool as configured: the plain-data form of an `Eip` object (spec and the default
/// annotation), whether it comes from the Kubernetes API or from the standalone file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolSpec {
    /// Object name; pools are ordered by it.
    pub name: String,
    /// `spec.address`: a single IP, a CIDR, or an `a-b` range.
    pub address: String,
    /// `spec.protocol`.
    pub protocol: PoolProtocol,
    /// `spec.disable`: no new allocations, existing ones are kept.
    pub disable: bool,
    /// `spec.usingKnownIPs`: also hand out an IPv4 CIDR's network and broadcast addresses.
    pub using_known_ips: bool,
    /// `spec.priority`: among pools bound to a namespace, the LOWER value is tried first
    /// (OpenELB sorts ascending and documents "lower priority values indicate higher
    /// priority"). Ties are broken by name.
    pub priority: i32,
    /// `spec.namespaces`: namespaces bound to this pool by name.
    pub namespaces: Vec<String>,
    /// `spec.namespaceSelector`: namespaces bound to this pool by label.
    pub namespace_selector: Option<LabelSelector>,
    /// The `eip.openelb.kubesphere.io/is-default-eip: "true"` annotation.
    pub is_default: bool,
}

impl PoolSpec {
    /// A BGP pool with only a name and an address.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        PoolSpec {
            name: name.into(),
            address: address.into(),
            ..PoolSpec::default()
        }
    }
}

/// A pool whose spec has been validated: its address is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    spec: PoolSpec,
    address: PoolAddress,
}

impl Pool {
    /// Validate one pool on its own (name, address, selector); set-level rules are applied by
    /// [`validate_pools`].
    pub fn parse(spec: PoolSpec) -> Result<Pool, PoolError> {
        if spec.name.is_empty() {
            return Err(PoolError::EmptyName);
        }
        let address = PoolAddress::parse(&spec.address, spec.using_known_ips).map_err(|error| {
            PoolError::Address {
                address: spec.address.clone(),
                error,
            }
        })?;
        if let Some(sel) = &spec.namespace_selector {
            sel.validate()
                .map_err(|reason| PoolError::BadSelector { reason })?;
        }
        Ok(Pool { spec, address })
    }

    /// The pool name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The configuration it was built from.
    pub fn spec(&self) -> &PoolSpec {
        &self.spec
    }

    /// The parsed address block.
    pub fn address(&self) -> &PoolAddress {
        &self.address
    }

    /// The address family.
    pub fn family(&self) -> IpFamily {
        self.address.family()
    }

    /// Whether the pool is bound to a namespace, by name or by label selector.
    pub fn binds_namespace(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        self.spec.namespaces.iter().any(|n| n == namespace)
            || self
                .spec
                .namespace_selector
                .as_ref()
                .is_some_and(|s| s.matches(labels))
    }
}

/// The result of validating a set of pools.
#[derive(Debug, Clone, Default)]
pub struct ValidatedPools {
    /// Usable pools by name.
    pub valid: BTreeMap<String, Pool>,
    /// Unusable pools, sorted by name (a duplicate name appears here and in `valid`).
    pub invalid: Vec<Invalid>,
}

/// An unusable pool and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The pool name as configured.
    pub name: String,
    /// The parsed address, when the address itself was fine (overlap, duplicate default).
    pub address: Option<PoolAddress>,
    /// Why the pool is unusable.
    pub error: PoolError,
}

/// Validate a set of pools: each on its own, then overlaps and default pools.
///
/// * A second pool of the same name (only possible in a standalone file) is invalid; the first
///   one in input order stays.
/// * A pool whose block overlaps the block of a valid pool whose name sorts first is invalid.
///   Blocks are compared whole (network and broadcast included), as OpenELB's webhook does.
/// * At most one default pool per family: OpenELB allows one default Eip; porter allows one per
///   family so that dual-stack Services can be served by default pools. Later ones (by name) are
///   invalid, as OpenELB's webhook would have refused them.
pub fn validate_pools(specs: impl IntoIterator<Item = PoolSpec>) -> ValidatedPools {
    let mut out = ValidatedPools::default();
    let mut seen = BTreeSet::new();
    let mut parsed = BTreeMap::new();
    for spec in specs {
        if !seen.insert(spec.name.clone()) {
            out.invalid.push(Invalid {
                error: PoolError::DuplicateName {
                    name: spec.name.clone(),
                },
                name: spec.name,
                address: None,
            });
            continue;
        }
        match Pool::parse(spec.clone()) {
            Ok(pool) => {
                parsed.insert(spec.name, pool);
            }
            Err(error) => out.invalid.push(Invalid {
                name: spec.name,
                address: None,
                error,
            }),
        }
    }

    // Accepted blocks by (family, first address). They are disjoint, so the only one that can
    // overlap a new block is the last one starting at or before the new block's end.
    let mut blocks: BTreeMap<(IpFamily, u128), String> = BTreeMap::new();
    let mut defaults: BTreeMap<IpFamily, String> = BTreeMap::new();
    for (name, pool) in parsed {
        let (first, last) = pool.address.span_bounds();
        let family = pool.family();
        let clash = blocks
            .range((family, 0)..=(family, last))
            .next_back()
            .filter(|(_, other)| out.valid[*other].address.span_bounds().1 >= first)
            .map(|(_, other)| other.clone());
        let error = if let Some(other) = clash {
            Some(PoolError::Overlap {
                address: pool.spec.address.clone(),
                other_address: out.valid[&other].spec.address.clone(),
                other,
            })
        } else if pool.spec.is_default && defaults.contains_key(&family) {
            Some(PoolError::DuplicateDefault {
                family,
                other: defaults[&family].clone(),
            })
        } else {
            None
        };
        match error {
            Some(error) => out.invalid.push(Invalid {
                name,
                address: Some(pool.address),
                error,
            }),
            None => {
                blocks.insert((family, first), name.clone());
                if pool.spec.is_default {
                    defaults.insert(family, name.clone());
                }
                out.valid.insert(name, pool);
            }
        }
    }
    out.invalid.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn default_annotation_needs_exact_true() {
        assert!(is_default_pool(&labels(&[(
            DEFAULT_POOL_ANNOTATION,
            "true"
        )])));
        assert!(!is_default_pool(&labels(&[(
            DEFAULT_POOL_ANNOTATION,
            "True"
        )])));
        assert!(!is_default_pool(&labels(&[])));
    }

    #[test]
    fn selector_match_labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: labels(&[("team", "a")]),
            match_expressions: vec![
                SelectorRequirement {
                    key: "env".into(),
                    operator: SelectorOperator::In,
                    values: vec!["prod".into(), "staging".into()],
                },
                SelectorRequirement {
                    key: "legacy".into(),
                    operator: SelectorOperator::DoesNotExist,
                    values: vec![],
                },
            ],
        };
        assert!(sel.matches(&labels(&[("team", "a"), ("env", "prod")])));
        assert!(!sel.matches(&labels(&[("team", "a"), ("env", "dev")])));
        assert!(!sel.matches(&labels(&[("team", "b"), ("env", "prod")])));
        assert!(!sel.matches(&labels(&[("team", "a"), ("env", "prod"), ("legacy", "")])));
        let not_in = LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![SelectorRequirement {
                key: "env".into(),
                operator: SelectorOperator::NotIn,
                values: vec!["prod".into()],
            }],
        };
        assert!(not_in.matches(&labels(&[])));
        assert!(!not_in.matches(&labels(&[("env", "prod")])));
        assert!(LabelSelector::default().matches(&labels(&[])));
    }

    #[test]
    fn rejects_bad_selector() {
        let mut spec = PoolSpec::new("p", "203.0.113.0/28");
        spec.namespace_selector = Some(LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![SelectorRequirement {
                key: "env".into(),
                operator: SelectorOperator::In,
                values: vec![],
            }],
        });
        assert_eq!(
            Pool::parse(spec).unwrap_err().to_string(),
            "invalid namespaceSelector: In on key \"env\" needs at least one value"
        );
    }

    #[test]
    fn overlapping_pool_reported_on_later_name() {
        // Input order is deliberately reversed: the name decides, not the order.
        let v = validate_pools([
            PoolSpec::new("zeta", "203.0.113.128-203.0.113.200"),
            PoolSpec::new("alpha", "203.0.113.0/24"),
            PoolSpec::new("beta", "198.51.100.0/24"),
        ]);
        assert_eq!(v.valid.keys().collect::<Vec<_>>(), ["alpha", "beta"]);
        assert_eq!(v.invalid.len(), 1);
        assert_eq!(v.invalid[0].name, "zeta");
        assert_eq!(
            v.invalid[0].error.to_string(),
            "address 203.0.113.128-203.0.113.200 overlaps pool \"alpha\" (203.0.113.0/24)"
        );
    }

    #[test]
    fn overlap_counts_network_and_broadcast() {
        let v = validate_pools([
            PoolSpec::new("a", "203.0.113.0/24"),
            PoolSpec::new("b", "203.0.113.255"),
        ]);
        assert!(matches!(v.invalid[0].error, PoolError::Overlap { .. }));
    }

    #[test]
    fn invalid_pool_does_not_block_later_ones() {
        // b is invalid (overlaps a), so c, which only overlaps b, is fine.
        let v = validate_pools([
            PoolSpec::new("a", "203.0.113.0-203.0.113.10"),
            PoolSpec::new("b", "203.0.113.10-203.0.113.20"),
            PoolSpec::new("c", "203.0.113.15-203.0.113.30"),
        ]);
        assert_eq!(v.valid.keys().collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(v.invalid[0].name, "b");
    }

    #[test]
    fn adjacent_pools_do_not_overlap() {
        let v = validate_pools([
            PoolSpec::new("a", "203.0.113.0/25"),
            PoolSpec::new("b", "203.0.113.128/25"),
            PoolSpec::new("c", "2001:db8::/64"),
            PoolSpec::new("d", "2001:db8:0:1::/64"),
        ]);
        assert!(v.invalid.is_empty(), "{:?}", v.invalid);
    }

    #[test]
    fn one_default_per_family() {
        let mut a = PoolSpec::new("a", "203.0.113.0/28");
        a.is_default = true;
        let mut b = PoolSpec::new("b", "198.51.100.0/28");
        b.is_default = true;
        let mut c = PoolSpec::new("c", "2001:db8::/120");
        c.is_default = true;
        let v = validate_pools([b, a, c]);
        assert_eq!(v.valid.keys().collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(
            v.invalid[0].error.to_string(),
            "pool \"a\" is already the default IPv4 pool"
        );
    }

    #[test]
    fn duplicate_name_keeps_first() {
        let v = validate_pools([
            PoolSpec::new("a", "203.0.113.0/28"),
            PoolSpec::new("a", "198.51.100.0/28"),
        ]);
        assert_eq!(v.valid["a"].spec().address, "203.0.113.0/28");
        assert_eq!(v.invalid[0].error.to_string(), "duplicate pool name \"a\"");
    }

    #[test]
    fn bad_address_and_empty_name_are_invalid() {
        let v = validate_pools([
            PoolSpec::new("a", "203.0.113.10-203.0.113.1"),
            PoolSpec::new("", "203.0.113.0/28"),
        ]);
        assert!(v.valid.is_empty());
        assert_eq!(v.invalid[0].error, PoolError::EmptyName);
        assert_eq!(
            v.invalid[1].error.to_string(),
            "invalid address \"203.0.113.10-203.0.113.1\": \
             203.0.113.10-203.0.113.1: range start after end"
        );
    }
}
