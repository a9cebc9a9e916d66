//! OpenELB-compatible custom resources: `Eip`, `BgpConf` and `BgpPeer` in
//! `network.kubesphere.io/v1alpha2`, all cluster-scoped.
//!
//! Field names and meanings are OpenELB v0.6's (which mirror gobgp v2's API in protobuf-JSON
//! spelling), so objects written for OpenELB load unchanged. Each kind lives in its own module
//! with its spec, status, defaulting and validation; this module holds what spans kinds:
//! [`parse_object`] for the standalone YAML loader and [`crd_yaml`] for `deploy/crds/`.
//!
//! Two layers of checking:
//! - the CRD schema ([`crds`]) that the API server enforces on create and update: types, enums,
//!   ranges (every integer bounded by its Rust type), and CEL rules for address syntax
//!   (`isIP`, `isCIDR`, an Eip's `first-last` range), the router ID and the TCP MSS;
//! - `validate()` on each kind (and [`AnyObject::validate`]) for everything again plus what a
//!   schema cannot say (a range that ends before it starts, timer relations, families porter
//!   does not run), each error naming its field path. It is what a standalone file gets, and
//!   what the controllers report as `Valid=False` for objects stored before a rule existed.

#![deny(missing_docs)]

pub mod annotations;
pub mod bgp_conf;
pub mod bgp_peer;
pub mod eip;
mod parse;
pub mod proto;
pub mod validate;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
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
///
/// Use these rather than `Eip::crd()` & co.: integer formats are rewritten to the ones
/// OpenAPI 3.0 defines (schemars writes `uint32`, which kube-apiserver answers with
/// "unrecognized format" warnings); the ranges stay as `minimum`/`maximum`.
pub fn crds() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![Eip::crd(), BgpConf::crd(), BgpPeer::crd()];
    for crd in &mut crds {
        for version in &mut crd.spec.versions {
            if let Some(schema) = version
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
            {
                openapi_formats(schema);
            }
        }
    }
    crds
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

/// Rewrites schemars' unsigned formats to OpenAPI 3.0's `int32`/`int64`, everywhere below
/// `schema`, and bounds each integer by its Rust type where no tighter bound is written.
///
/// The bounds matter more than they look: a `u32` is written as `format: int64` (OpenAPI has
/// no unsigned formats), which the API server checks only as int64, so without `maximum` it
/// stores `peerAs: 4294967296`, which then fails to decode into a `u32` and, in a List or
/// watch, takes every other object of the kind with it. (`format: int32` itself is enforced,
/// as tests/envtest_api.rs shows; its explicit bounds only say so in the YAML.)
fn openapi_formats(schema: &mut JSONSchemaProps) {
    if let Some(format) = schema.format.as_mut() {
        let bounds = match format.as_str() {
            "uint8" => Some((0.0, f64::from(u8::MAX))),
            "uint16" => Some((0.0, f64::from(u16::MAX))),
            "uint32" => Some((0.0, f64::from(u32::MAX))),
            "int8" => Some((f64::from(i8::MIN), f64::from(i8::MAX))),
            "int16" => Some((f64::from(i16::MIN), f64::from(i16::MAX))),
            "int32" => Some((f64::from(i32::MIN), f64::from(i32::MAX))),
            _ => None,
        };
        match format.as_str() {
            "uint8" | "uint16" | "int8" | "int16" => *format = "int32".into(),
            "uint32" | "uint64" => *format = "int64".into(),
            _ => {}
        }
        if let Some((min, max)) = bounds {
            schema.minimum.get_or_insert(min);
            schema.maximum.get_or_insert(max);
        }
    }
    let children = schema
        .properties
        .iter_mut()
        .chain(schema.pattern_properties.iter_mut())
        .chain(schema.definitions.iter_mut())
        .flat_map(|map| map.values_mut())
        .chain(schema.all_of.iter_mut().flatten())
        .chain(schema.any_of.iter_mut().flatten())
        .chain(schema.one_of.iter_mut().flatten())
        .chain(schema.not.as_deref_mut());
    for child in children {
        openapi_formats(child);
    }
    for nested in [
        &mut schema.additional_properties,
        &mut schema.additional_items,
    ] {
        if let Some(JSONSchemaPropsOrBool::Schema(child)) = nested {
            openapi_formats(child);
        }
    }
    match &mut schema.items {
        Some(JSONSchemaPropsOrArray::Schema(child)) => openapi_formats(child),
        Some(JSONSchemaPropsOrArray::Schemas(children)) => {
            children.iter_mut().for_each(openapi_formats)
        }
        None => {}
    }
}

fn to_yaml(crd: &CustomResourceDefinition) -> String {
    // A CRD is strings, numbers and string-keyed maps: nothing YAML cannot represent.
    serde_yaml::to_string(crd).expect("a CustomResourceDefinition always serializes to YAML")
}
