//! OpenELB-compatible custom resources: `Eip`, `BgpConf` and `BgpPeer` in
//! `network.kubesphere.io/v1alpha2`, all cluster-scoped.
//!
//! Field names and meanings are OpenELB v0.6's (which mirror gobgp v2's API in protobuf-JSON
//! spelling), so objects written for OpenELB load unchanged. Each kind lives in its own module
//! with its spec, status, defaulting and validation; this module holds what spans kinds:
//! [`parse_object`] for the standalone YAML loader and [`crd_yaml`] for `deploy/crds/`.
//!
//! Two layers of checking:
//! - the CRD schema ([`crds`]) that the API server enforces: types, enums, ranges, a CEL rule;
//! - `validate()` on each kind (and [`AnyObject::validate`]) for what a schema cannot say
//!   (address syntax, timer relations), each error naming its field path.

#![deny(missing_docs)]

pub mod bgp_conf;
pub mod bgp_peer;
pub mod eip;
mod parse;
pub mod proto;
pub mod validate;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use bgp_conf::{BgpConf, BgpConfSpec, BgpConfStatus, BGP_CONF_NAME};
pub use bgp_peer::{BgpPeer, BgpPeerSpec, BgpPeerStatus};
pub use eip::{Eip, EipSpec, EipStatus};
pub use parse::{parse_object, parse_yaml, AnyObject, ParseError};
pub use proto::ProtoU64;
pub use validate::{FieldError, ValidationErrors};

/// API group of all three kinds.
pub const GROUP: &str = "network.kubesphere.io";
/// The one version porter serves and reads.
pub const VERSION: &str = "v1alpha2";
/// `apiVersion` of every object: `network.kubesphere.io/v1alpha2`.
pub const API_VERSION: &str = "network.kubesphere.io/v1alpha2";

/// The three CRDs, in the order they are written: Eip, BgpConf, BgpPeer.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![Eip::crd(), BgpConf::crd(), BgpPeer::crd()]
}

/// Each CRD as `(file name, YAML)`, file names as controller-gen spells them
/// (`network.kubesphere.io_eips.yaml`), so `deploy/crds/` lines up with OpenELB's.
pub fn crd_files() -> Vec<(String, String)> {
    crds()
        .iter()
        .map(|crd| {
            let name = format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural);
            (name, to_yaml(crd))
        })
        .collect()
}

/// All three CRDs as one multi-document YAML stream, each document opened by `---`.
pub fn crd_yaml() -> String {
    crd_files()
        .into_iter()
        .map(|(_, yaml)| format!("---\n{yaml}"))
        .collect()
}

fn to_yaml(crd: &CustomResourceDefinition) -> String {
    // A CRD is strings, numbers and string-keyed maps: nothing YAML cannot represent.
    serde_yaml::to_string(crd).expect("a CustomResourceDefinition always serializes to YAML")
}
