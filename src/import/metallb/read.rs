//! Reading: files → YAML documents → MetalLB objects (typed, with their origin), or input
//! errors naming file, document and field.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::{Obj, Origin};
use crate::import::{Finding, Input};
use crate::standalone::load::{documents_of, ignored_path, type_fields};

/// `IPAddressPool.spec`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct PoolSpec {
    pub(super) addresses: Vec<String>,
    pub(super) auto_assign: Option<bool>,
    #[serde(rename = "avoidBuggyIPs")]
    pub(super) avoid_buggy_ips: bool,
    pub(super) service_allocation: Option<ServiceAllocation>,
}

/// `IPAddressPool.spec.serviceAllocation`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct ServiceAllocation {
    pub(super) priority: i32,
    pub(super) namespaces: Vec<String>,
    pub(super) namespace_selectors: Vec<LabelSelector>,
    pub(super) service_selectors: Vec<LabelSelector>,
}

/// `BGPPeer.spec`, v1beta1 and v1beta2 (v1beta1 has a subset of the fields).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct PeerSpec {
    #[serde(rename = "myASN")]
    pub(super) my_asn: Option<u32>,
    #[serde(rename = "peerASN")]
    pub(super) peer_asn: Option<u32>,
    #[serde(rename = "localASN")]
    pub(super) local_asn: Option<u32>,
    #[serde(rename = "dynamicASN")]
    pub(super) dynamic_asn: Option<String>,
    pub(super) peer_address: Option<String>,
    pub(super) interface: Option<String>,
    pub(super) source_address: Option<String>,
    pub(super) peer_port: Option<u16>,
    pub(super) hold_time: Option<String>,
    pub(super) keepalive_time: Option<String>,
    pub(super) connect_time: Option<String>,
    #[serde(rename = "routerID")]
    pub(super) router_id: Option<String>,
    pub(super) node_selectors: Vec<LabelSelector>,
    pub(super) password: Option<String>,
    pub(super) password_secret: Option<SecretRef>,
    pub(super) bfd_profile: Option<String>,
    pub(super) enable_graceful_restart: bool,
    #[serde(rename = "ebgpMultiHop")]
    pub(super) ebgp_multi_hop: bool,
    pub(super) vrf: Option<String>,
    #[serde(rename = "disableMP")]
    pub(super) disable_mp: bool,
    pub(super) dual_stack_address_family: bool,
}

/// `BGPPeer.spec.passwordSecret` (a v1 SecretReference).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct SecretRef {
    pub(super) name: Option<String>,
    pub(super) namespace: Option<String>,
}

/// `BGPAdvertisement.spec`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct BgpAdvSpec {
    pub(super) aggregation_length: Option<i32>,
    #[serde(rename = "aggregationLengthV6")]
    pub(super) aggregation_length_v6: Option<i32>,
    pub(super) local_pref: Option<u32>,
    pub(super) communities: Vec<String>,
    pub(super) ip_address_pools: Vec<String>,
    pub(super) ip_address_pool_selectors: Vec<LabelSelector>,
    pub(super) node_selectors: Vec<LabelSelector>,
    pub(super) peers: Vec<String>,
    pub(super) service_selectors: Vec<LabelSelector>,
}

/// `L2Advertisement.spec`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct L2AdvSpec {
    pub(super) ip_address_pools: Vec<String>,
    pub(super) ip_address_pool_selectors: Vec<LabelSelector>,
    pub(super) node_selectors: Vec<LabelSelector>,
    pub(super) interfaces: Vec<String>,
    pub(super) service_selectors: Vec<LabelSelector>,
    pub(super) preferred_node_selectors: Vec<Value>,
}

/// `BFDProfile.spec`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct BfdSpec {
    pub(super) receive_interval: Option<u32>,
    pub(super) transmit_interval: Option<u32>,
    pub(super) detect_multiplier: Option<u32>,
    pub(super) echo_interval: Option<u32>,
    pub(super) echo_mode: Option<bool>,
    pub(super) passive_mode: Option<bool>,
    #[serde(rename = "minimumTtl")]
    pub(super) minimum_ttl: Option<u32>,
}

/// `Community.spec`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CommunitySpec {
    pub(super) communities: Vec<CommunityAlias>,
}

/// One alias of a `Community`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CommunityAlias {
    pub(super) name: String,
    pub(super) value: String,
}

/// Everything read from the input files.
#[derive(Default)]
pub(super) struct Config {
    pub(super) pools: Vec<Obj<PoolSpec>>,
    pub(super) peers: Vec<Obj<PeerSpec>>,
    pub(super) bgp_ads: Vec<Obj<BgpAdvSpec>>,
    pub(super) l2_ads: Vec<Obj<L2AdvSpec>>,
    pub(super) bfd_profiles: Vec<Obj<BfdSpec>>,
    pub(super) communities: Vec<Obj<CommunitySpec>>,
    /// `namespace/name` → the Secret's `password` key, for `passwordSecret`.
    pub(super) secrets: BTreeMap<String, Option<String>>,
    /// Notes on skipped documents.
    pub(super) findings: Vec<Finding>,
    pub(super) read: usize,
}

/// The reading half: files → documents → decoded objects, or input errors.
#[derive(Default)]
pub(super) struct Reader {
    pub(super) config: Config,
    pub(super) errors: Vec<String>,
}

/// The `metallb.io` kinds this importer reads, with the versions it reads them in.
const KINDS: [(&str, &[&str]); 6] = [
    ("IPAddressPool", &["v1beta1"]),
    ("L2Advertisement", &["v1beta1"]),
    ("BGPAdvertisement", &["v1beta1"]),
    ("BGPPeer", &["v1beta1", "v1beta2"]),
    ("BFDProfile", &["v1beta1"]),
    ("Community", &["v1beta1"]),
];

impl Reader {
    pub(super) fn file(&mut self, input: &Input) {
        let text = match std::str::from_utf8(&input.bytes) {
            Ok(text) => text,
            Err(e) => {
                self.errors.push(format!(
                    "{}: not UTF-8 text (invalid byte at offset {})",
                    input.name,
                    e.valid_up_to()
                ));
                return;
            }
        };
        for (index, document) in documents_of(text).into_iter().enumerate() {
            let origin = Origin {
                file: input.name.clone(),
                document: index + 1,
                item: None,
            };
            match document {
                Err(message) => self
                    .errors
                    .push(format!("{origin}: not valid YAML: {message}")),
                Ok(Value::Null) => {}
                Ok(value) => self.document(&value, origin),
            }
        }
    }

    fn document(&mut self, value: &Value, origin: Origin) {
        let (api_version, kind) = match type_fields(value) {
            Ok(fields) => fields,
            Err((path, message)) => {
                let path = path.map(|p| format!("{p}: ")).unwrap_or_default();
                self.errors.push(format!("{origin}: {path}{message}"));
                return;
            }
        };
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>");
        let skipped = |lost: bool, message: String| Finding {
            object: format!("{kind} {name} ({origin})"),
            field: None,
            message,
            lost,
        };
        if kind.ends_with("List") && value.get("items").is_some() {
            match value.get("items").and_then(Value::as_array) {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let origin = Origin {
                            item: Some(i),
                            ..origin.clone()
                        };
                        self.document(item, origin);
                    }
                }
                None => self
                    .errors
                    .push(format!("{origin}: items: expected a list of objects")),
            }
            return;
        }
        let Some(version) = api_version.strip_prefix("metallb.io/") else {
            let finding = if (api_version, kind) == ("v1", "Secret") {
                self.secret(value, &origin);
                return;
            } else if (api_version, kind) == ("v1", "ConfigMap")
                && value.pointer("/data/config").is_some()
            {
                skipped(
                    true,
                    "MetalLB's configuration before v0.13 (a ConfigMap with a `config` key) is \
                     not read: convert it to MetalLB's CRDs first (MetalLB's configmaptocrs \
                     tool, see its \"Migration to CRDs\" page), then import those"
                        .into(),
                )
            } else {
                skipped(
                    false,
                    format!("{api_version} {kind} is not MetalLB configuration; skipped"),
                )
            };
            self.config.findings.push(finding);
            return;
        };
        let Some((kind, _)) = KINDS
            .iter()
            .find(|(k, versions)| *k == kind && versions.contains(&version))
        else {
            let finding = match kind {
                "ServiceL2Status" | "ServiceBGPStatus" | "ConfigurationState" => skipped(
                    false,
                    "status written by MetalLB, nothing to carry over; skipped".into(),
                ),
                "AddressPool" => skipped(
                    true,
                    "AddressPool was removed in MetalLB v0.14: convert it to an IPAddressPool \
                     and an L2Advertisement or BGPAdvertisement, then import those"
                        .into(),
                ),
                _ if KINDS.iter().any(|(k, _)| *k == kind) => skipped(
                    true,
                    format!("apiVersion {api_version} of {kind} is not read (this importer reads {kind} in metallb.io/{})",
                        KINDS.iter().find(|(k, _)| *k == kind).map(|(_, v)| v.join(", metallb.io/")).unwrap_or_default()),
                ),
                _ => skipped(true, format!("{api_version} {kind} is not a MetalLB kind this importer knows")),
            };
            self.config.findings.push(finding);
            return;
        };
        self.config.read += 1;
        let config = &mut self.config;
        let kept = match *kind {
            "IPAddressPool" => decode(value, kind, &origin).map(|o| config.pools.push(o)),
            "L2Advertisement" => decode(value, kind, &origin).map(|o| config.l2_ads.push(o)),
            "BGPAdvertisement" => decode(value, kind, &origin).map(|o| config.bgp_ads.push(o)),
            "BGPPeer" => decode(value, kind, &origin).map(|o| config.peers.push(o)),
            "BFDProfile" => decode(value, kind, &origin).map(|o| config.bfd_profiles.push(o)),
            _ => decode(value, kind, &origin).map(|o| config.communities.push(o)),
        };
        if let Err(error) = kept {
            self.errors.push(error);
        }
    }

    /// A v1 Secret: kept for `passwordSecret` (its `password` key), nothing else.
    fn secret(&mut self, value: &Value, origin: &Origin) {
        let secret: Secret = match serde_path_to_error::deserialize(value) {
            Ok(s) => s,
            Err(e) => {
                let path = e.path().to_string();
                self.errors
                    .push(format!("{origin} (Secret): {path}: {}", e.into_inner()));
                return;
            }
        };
        let key = format!(
            "{}/{}",
            secret.metadata.namespace.as_deref().unwrap_or(""),
            secret.metadata.name.as_deref().unwrap_or("")
        );
        let password = secret
            .string_data
            .as_ref()
            .and_then(|d| d.get("password").cloned())
            .or_else(|| {
                let bytes = secret.data.as_ref()?.get("password")?;
                String::from_utf8(bytes.0.clone()).ok()
            });
        self.config.secrets.insert(key, password);
    }
}

/// Decodes metadata (leniently: only name, namespace and labels matter) and spec
/// (strictly: a wrong type is an error naming its path; unknown fields are recorded).
fn decode<S: DeserializeOwned + Default>(
    value: &Value,
    kind: &'static str,
    origin: &Origin,
) -> Result<Obj<S>, String> {
    let meta: ObjectMeta = match value.get("metadata") {
        None | Some(Value::Null) => ObjectMeta::default(),
        Some(meta) => match serde_path_to_error::deserialize(meta) {
            Ok(meta) => meta,
            Err(e) => {
                let path = e.path().to_string();
                return Err(format!(
                    "{origin} ({kind}): metadata.{path}: {}",
                    e.into_inner()
                ));
            }
        },
    };
    let name = meta.name.clone().unwrap_or_default();
    let at = format!("{origin} ({kind} {})", display_name(&name));
    if name.is_empty() {
        return Err(format!("{at}: metadata.name: is required"));
    }
    let mut unknown: Vec<String> = value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .filter(|k| !matches!(*k, "apiVersion" | "kind" | "metadata" | "spec" | "status"))
        .map(str::to_owned)
        .collect();
    let spec = match value.get("spec") {
        None | Some(Value::Null) => S::default(),
        Some(spec) => {
            let mut record = |path: serde_ignored::Path<'_>| {
                unknown.push(format!("spec.{}", ignored_path(&path)));
            };
            let ignored = serde_ignored::Deserializer::new(spec, &mut record);
            match serde_path_to_error::deserialize(ignored) {
                Ok(spec) => spec,
                Err(e) => {
                    let path = e.path().to_string();
                    let path = if path == "." {
                        "spec".to_owned()
                    } else {
                        format!("spec.{path}")
                    };
                    return Err(format!("{at}: {path}: {}", e.into_inner()));
                }
            }
        }
    };
    Ok(Obj {
        kind,
        namespace: meta.namespace.unwrap_or_default(),
        name,
        labels: meta.labels.unwrap_or_default(),
        origin: origin.clone(),
        spec,
        unknown,
    })
}

fn display_name(name: &str) -> &str {
    if name.is_empty() {
        "<unnamed>"
    } else {
        name
    }
}
