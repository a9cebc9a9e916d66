//! `BgpConf`: the local BGP speaker's global settings.
//!
//! Field names are OpenELB v0.6's (`api/v1alpha2/bgpconf_types.go`), which mirror gobgp v2's
//! `Global` message in protobuf-JSON spelling. Like OpenELB, porter only reads the BgpConf
//! named [`BGP_CONF_NAME`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validate::ValidationErrors;

/// The only BgpConf name porter (like OpenELB) reads; others are ignored.
pub const BGP_CONF_NAME: &str = "default";

/// The CEL rule on a BGP Identifier: an IPv4 address, not 0.0.0.0 (RFC 6286 §2.1).
pub const ROUTER_ID_RULE: &str =
    "isIP(self) && ip(self).family() == 4 && !ip(self).isUnspecified()";

/// Global settings of the BGP speaker that runs on every node.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "network.kubesphere.io",
    version = "v1alpha2",
    kind = "BgpConf",
    status = "BgpConfStatus",
    derive = "PartialEq",
    doc = "BgpConf holds the global settings of porter's BGP speaker; only the object named `default` is read (OpenELB-compatible)."
)]
#[serde(rename_all = "camelCase")]
pub struct BgpConfSpec {
    /// Local AS number (4-octet).
    #[serde(rename = "as")]
    #[schemars(range(min = 1))]
    pub asn: u32,
    /// Local AS per rack: nodes labelled `openelb.kubesphere.io/rack=<rack>` use that AS instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("additionalProperties" = {"type": "integer", "format": "uint32", "minimum": 1}))]
    pub as_per_rack: BTreeMap<String, u32>,
    /// BGP Identifier (an IPv4 address); when left out, each node uses its own IPv4 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 15))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": ROUTER_ID_RULE,
        "message": "must be a non-zero IPv4 address (a BGP Identifier, RFC 6286)",
    }]))]
    pub router_id: Option<String>,
    /// TCP port to listen on: 0 means 179, -1 means do not listen (connect out only).
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    #[schemars(range(min = -1, max = 65535))]
    pub listen_port: i32,
    /// Addresses to listen on (at most 64); all addresses when left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[schemars(extend("items" = {
        "type": "string",
        "maxLength": 45,
        "x-kubernetes-validations": [{"rule": "isIP(self)", "message": "must be an IP address"}],
    }))]
    pub listen_addresses: Vec<String>,
    /// gobgp route families as numbers (`afi << 16 | safi`); kept for compatibility, porter
    /// takes families from each BgpPeer's `afiSafis`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub families: Vec<u32>,
    /// Install several equal paths (gobgp's multipath); kept for compatibility.
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_multiple_paths: bool,
    /// Graceful restart (RFC 4724) defaults for all peers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<GracefulRestart>,
    /// Name of an OpenELB policy ConfigMap; accepted so such objects load, not used by porter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// Graceful restart settings, gobgp's `GracefulRestart` message (RFC 4724, RFC 9494).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GracefulRestart {
    /// Advertise the Graceful Restart capability.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enabled: bool,
    /// Restart Time advertised to peers, in seconds (12-bit field, at most 4095).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    #[schemars(range(max = 4095))]
    pub restart_time: u32,
    /// Only help peers restart; never claim to restart ourselves.
    #[serde(default, skip_serializing_if = "is_false")]
    pub helper_only: bool,
    /// Seconds to wait for End-of-RIB from all peers before selecting routes.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub deferral_time: u32,
    /// Graceful restart also on NOTIFICATION (RFC 8538).
    #[serde(default, skip_serializing_if = "is_false")]
    pub notification_enabled: bool,
    /// Long-lived graceful restart (RFC 9494).
    #[serde(default, skip_serializing_if = "is_false")]
    pub longlived_enabled: bool,
    /// Seconds stale routes are kept after a peer restarts.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub stale_routes_time: u32,
    /// State in gobgp: the peer's advertised Restart Time.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub peer_restart_time: u32,
    /// State in gobgp: the peer is restarting.
    #[serde(default, skip_serializing_if = "is_false")]
    pub peer_restarting: bool,
    /// State in gobgp: we are restarting.
    #[serde(default, skip_serializing_if = "is_false")]
    pub local_restarting: bool,
    /// State in gobgp: the negotiated mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// Observed state of the BgpConf, per node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BgpConfStatus {
    /// Node name → the identity its speaker runs with.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes_conf_status: BTreeMap<String, NodeConfStatus>,
    /// Standard conditions (`Valid`: whether porter can run this spec, and if not, why),
    /// each with the `observedGeneration` it describes (porter's addition).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// The identity one node's speaker runs with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeConfStatus {
    /// BGP Identifier in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// Local AS in use.
    #[serde(default, rename = "as", skip_serializing_if = "is_zero_u32")]
    pub asn: u32,
}

impl BgpConfSpec {
    /// Checks what the schema cannot: AS numbers, router ID, addresses. Paths start at `spec`.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        self.check(&mut errs);
        errs.into_result()
    }

    fn check(&self, errs: &mut ValidationErrors) {
        if self.asn == 0 {
            errs.push("spec.as", "must be a non-zero AS number");
        }
        for (rack, asn) in &self.as_per_rack {
            if *asn == 0 {
                errs.push(
                    format!("spec.asPerRack.{rack}"),
                    "must be a non-zero AS number",
                );
            }
        }
        if let Some(id) = &self.router_id {
            check_router_id(id, "spec.routerId", errs);
        }
        if !(-1..=65535).contains(&self.listen_port) {
            errs.push(
                "spec.listenPort",
                format!(
                    "{} is not a TCP port (0 means 179, -1 means do not listen)",
                    self.listen_port
                ),
            );
        }
        for (i, addr) in self.listen_addresses.iter().enumerate() {
            if addr.parse::<IpAddr>().is_err() {
                errs.push(
                    format!("spec.listenAddresses[{i}]"),
                    format!("`{addr}` is not an IP address"),
                );
            }
        }
        if let Some(gr) = &self.graceful_restart {
            gr.check("spec.gracefulRestart", errs);
        }
    }
}

impl BgpConf {
    /// Validates the spec and the name (porter reads only [`BGP_CONF_NAME`]).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if self.metadata.name.as_deref() != Some(BGP_CONF_NAME) {
            errs.push(
                "metadata.name",
                format!(
                    "must be `{BGP_CONF_NAME}`: porter, like OpenELB, ignores any other BgpConf"
                ),
            );
        }
        self.spec.check(&mut errs);
        errs.into_result()
    }
}

impl GracefulRestart {
    pub(crate) fn check(&self, path: &str, errs: &mut ValidationErrors) {
        // RFC 4724 §3: "Restart Time: This is the estimated time (in seconds) it will take for
        // the BGP session to be re-established after a restart." It is a 12-bit field.
        if self.restart_time > 4095 {
            errs.push(
                format!("{path}.restartTime"),
                format!(
                    "{} does not fit the 12-bit Restart Time (at most 4095)",
                    self.restart_time
                ),
            );
        }
    }
}

/// Checks a BGP Identifier: an IPv4 address, not 0.0.0.0.
pub(crate) fn check_router_id(id: &str, path: &str, errs: &mut ValidationErrors) {
    match id.parse::<Ipv4Addr>() {
        // RFC 6286 §2.1: "The BGP Identifier is a 4-octet, unsigned, non-zero integer that
        // should be unique within an AS."
        Ok(addr) if addr.is_unspecified() => errs.push(path, "must not be 0.0.0.0 (RFC 6286)"),
        Ok(_) => {}
        Err(_) => errs.push(
            path,
            format!("`{id}` is not an IPv4 address (a BGP Identifier)"),
        ),
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

fn is_zero_i32(n: &i32) -> bool {
    *n == 0
}
