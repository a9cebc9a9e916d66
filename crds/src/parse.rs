//! Reading objects that did not come through the API server (standalone YAML files).
//!
//! The API server checks objects against the CRD schema and prunes unknown fields; a file on
//! disk gets neither. So [`parse_object`] is strict: a field of the wrong type names its path
//! (via `serde_path_to_error`), and a field porter does not know is an error too, listing every
//! such path (via `serde_ignored`), because in a hand-written file it is almost always a typo
//! (`holdtime` for `holdTime`) that would otherwise be dropped without a word. The types
//! themselves stay lenient, so objects read from the API during a version skew still decode.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::validate::ValidationErrors;
use crate::{BgpConf, BgpPeer, Eip, API_VERSION};

/// One object of any of the three kinds.
// Objects are few and short-lived (a file's worth); boxing would only make matching noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AnyObject {
    /// An address pool.
    Eip(Eip),
    /// The speaker's global settings.
    BgpConf(BgpConf),
    /// A BGP neighbor.
    BgpPeer(BgpPeer),
}

/// Why a document is not one of porter's objects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The document is not a mapping.
    #[error("expected an object (a mapping with apiVersion and kind), found {found}")]
    NotAnObject {
        /// What was found: `a list`, `a string`, …
        found: &'static str,
    },
    /// `apiVersion` or `kind` is missing or not a string.
    #[error("missing or non-string `{field}`")]
    MissingTypeField {
        /// `apiVersion` or `kind`.
        field: &'static str,
    },
    /// One of our kinds in a group/version porter does not read.
    #[error("{kind}: apiVersion `{api_version}` is not supported; porter reads {API_VERSION}")]
    UnsupportedApiVersion {
        /// The kind.
        kind: String,
        /// The apiVersion written.
        api_version: String,
    },
    /// A kind that is not Eip, BgpConf or BgpPeer.
    #[error("unknown kind `{kind}` ({api_version}): expected Eip, BgpConf or BgpPeer")]
    UnknownKind {
        /// The kind written.
        kind: String,
        /// The apiVersion written.
        api_version: String,
    },
    /// A field has the wrong type or value, or a required one is missing.
    #[error("{kind} {name}: {path}: {message}")]
    InvalidField {
        /// The kind.
        kind: &'static str,
        /// `metadata.name`, or `<unnamed>`.
        name: String,
        /// JSON path of the field (`spec.timers.config.holdTime`); `.` for the object itself.
        path: String,
        /// What serde found wrong.
        message: String,
    },
    /// Fields porter does not know.
    #[error("{kind} {name}: unknown field(s): {}", paths.join(", "))]
    UnknownFields {
        /// The kind.
        kind: &'static str,
        /// `metadata.name`, or `<unnamed>`.
        name: String,
        /// JSON path of every unknown field.
        paths: Vec<String>,
    },
    /// The object parsed but breaks a rule beyond types (see `validate()` on each kind).
    #[error("{kind} {name}: {errors}")]
    Invalid {
        /// The kind.
        kind: &'static str,
        /// `metadata.name`, or `<unnamed>`.
        name: String,
        /// Every problem, each naming its field.
        errors: ValidationErrors,
    },
    /// A YAML document does not parse.
    #[error("YAML document {index}: {message}")]
    Yaml {
        /// Zero-based position of the document in the stream.
        index: usize,
        /// The YAML parser's message, with line and column.
        message: String,
    },
}

impl AnyObject {
    /// `Eip`, `BgpConf` or `BgpPeer`.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyObject::Eip(_) => "Eip",
            AnyObject::BgpConf(_) => "BgpConf",
            AnyObject::BgpPeer(_) => "BgpPeer",
        }
    }

    /// `metadata.name`, empty when unset.
    pub fn name(&self) -> &str {
        let meta = match self {
            AnyObject::Eip(o) => &o.metadata,
            AnyObject::BgpConf(o) => &o.metadata,
            AnyObject::BgpPeer(o) => &o.metadata,
        };
        meta.name.as_deref().unwrap_or("")
    }

    /// Runs the kind's `validate()`.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        match self {
            AnyObject::Eip(o) => o.validate(),
            AnyObject::BgpConf(o) => o.validate(),
            AnyObject::BgpPeer(o) => o.validate(),
        }
    }

    /// Like [`validate`](Self::validate), as a [`ParseError::Invalid`] naming the object.
    pub fn check(&self) -> Result<(), ParseError> {
        self.validate().map_err(|errors| ParseError::Invalid {
            kind: self.kind(),
            name: display_name(self.name()),
            errors,
        })
    }
}

/// Reads one object from a JSON value (a YAML document converted to JSON reads the same).
///
/// Dispatches on `apiVersion`/`kind`, then decodes strictly: a type error names its field path,
/// and unknown fields are rejected, all listed. It does not run `validate()`; call
/// [`AnyObject::check`] for that, or use [`parse_yaml`] which does both.
pub fn parse_object(value: &Value) -> Result<AnyObject, ParseError> {
    let map = value.as_object().ok_or(ParseError::NotAnObject {
        found: json_type(value),
    })?;
    let field = |field: &'static str| {
        map.get(field)
            .and_then(Value::as_str)
            .ok_or(ParseError::MissingTypeField { field })
    };
    let api_version = field("apiVersion")?;
    let kind = field("kind")?;
    let ours = matches!(kind, "Eip" | "BgpConf" | "BgpPeer");
    if !ours {
        return Err(ParseError::UnknownKind {
            kind: kind.to_owned(),
            api_version: api_version.to_owned(),
        });
    }
    if api_version != API_VERSION {
        return Err(ParseError::UnsupportedApiVersion {
            kind: kind.to_owned(),
            api_version: api_version.to_owned(),
        });
    }
    let name = display_name(
        map.get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or(""),
    );
    match kind {
        "Eip" => decode::<Eip>(value, "Eip", name).map(AnyObject::Eip),
        "BgpConf" => decode::<BgpConf>(value, "BgpConf", name).map(AnyObject::BgpConf),
        _ => {
            let peer = decode::<BgpPeer>(value, "BgpPeer", name.clone())?;
            strict_families(value, &peer, name)?;
            Ok(AnyObject::BgpPeer(peer))
        }
    }
}

/// A file gets the type error the API server's enum check would give: `BgpPeer` decodes an
/// unknown family name leniently (see [`crate::bgp_peer::AfiSafiConfig`]), a file may not.
fn strict_families(value: &Value, peer: &BgpPeer, name: String) -> Result<(), ParseError> {
    for (i, afi_safi) in peer.spec.afi_safis.iter().enumerate() {
        if afi_safi
            .config
            .as_ref()
            .is_none_or(|c| c.unrecognized_family.is_none())
        {
            continue;
        }
        let here = format!("spec.afiSafis[{i}].config.family");
        let raw = &value["spec"]["afiSafis"][i]["config"]["family"];
        let decoded: Result<crate::bgp_peer::Family, _> = serde_path_to_error::deserialize(raw);
        if let Err(e) = decoded {
            let inner = e.path().to_string();
            return Err(ParseError::InvalidField {
                kind: "BgpPeer",
                name,
                path: if inner == "." {
                    here
                } else {
                    format!("{here}.{inner}")
                },
                message: e.into_inner().to_string(),
            });
        }
    }
    Ok(())
}

/// Reads every object of a YAML stream (documents separated by `---`; empty documents are
/// skipped), checking each with [`AnyObject::check`]. Stops at the first bad document.
pub fn parse_yaml(text: &str) -> Result<Vec<AnyObject>, ParseError> {
    let mut objects = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|e| ParseError::Yaml {
            index,
            message: e.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        let object = parse_object(&value)?;
        object.check()?;
        objects.push(object);
    }
    Ok(objects)
}

fn decode<T: DeserializeOwned>(
    value: &Value,
    kind: &'static str,
    name: String,
) -> Result<T, ParseError> {
    let mut unknown = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| {
        let path = format_ignored(&path);
        // The generated root type reads apiVersion and kind through Resource, not as fields.
        if path != "apiVersion" && path != "kind" {
            unknown.push(path);
        }
    };
    let ignored = serde_ignored::Deserializer::new(value, &mut record);
    let decoded: Result<T, _> = serde_path_to_error::deserialize(ignored);
    let object = decoded.map_err(|e| ParseError::InvalidField {
        kind,
        name: name.clone(),
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })?;
    if !unknown.is_empty() {
        return Err(ParseError::UnknownFields {
            kind,
            name,
            paths: unknown,
        });
    }
    Ok(object)
}

/// `spec.afiSafis[0].config`, the same shape `serde_path_to_error` prints.
fn format_ignored(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", format_ignored(parent)),
        Path::Map { parent, key } => {
            let parent = format_ignored(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => format_ignored(parent),
    }
}

fn display_name(name: &str) -> String {
    if name.is_empty() {
        "<unnamed>".to_owned()
    } else {
        name.to_owned()
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
