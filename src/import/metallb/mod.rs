//! `porter import metallb`: MetalLB's configuration (`metallb.io/v1beta1`, and `v1beta2` for
//! BGPPeer) carried over to porter's objects.
//!
//! Field names and meanings come from MetalLB's CRD types and documentation; see the README's
//! "Migrating from MetalLB" for the table. In short:
//!
//! - every entry of an `IPAddressPool`'s `spec.addresses` becomes one `Eip` (an Eip holds one
//!   range), announced the way the advertisements that select the pool say: `layer2` for an
//!   `L2Advertisement` (its one interface, or `can_reach:` the pool), `bgp` for a
//!   `BGPAdvertisement`. `autoAssign` becomes the default-pool annotation (one per family),
//!   `serviceAllocation` porter's `namespaces`, `namespaceSelector` and `priority`.
//! - the `BGPPeer`s' `myASN` becomes the one `BgpConf` (`spec.as`; a peer with another
//!   `myASN`, or a `localASN`, gets `conf.localAs`), each `BGPPeer` a `BgpPeer`, its
//!   `BFDProfile` an inline `spec.bfd`.
//! - routing policy (communities, LOCAL_PREF, aggregation, per-peer or per-node selection)
//!   has no porter equivalent yet: each such field is a finding that makes the exit status 2.
//!
//! Reading is strict about types (a wrong type is an input error naming file, document and
//! field) and lenient about names: an unknown field is reported as not carried over, never
//! silently dropped, and a document of another kind is skipped with a note.

use std::collections::BTreeMap;
use std::fmt;

use super::{Finding, Input, InputErrors, Output};
use read::Reader;
use translate::Translator;

mod read;
mod translate;

#[cfg(test)]
pub(super) use translate::go_duration_seconds;

/// Reads MetalLB objects from `inputs` and returns the porter objects that carry them over,
/// or every problem that makes the input unreadable.
pub fn import(inputs: &[Input]) -> Result<Output, InputErrors> {
    let mut reader = Reader::default();
    for input in inputs {
        reader.file(input);
    }
    if !reader.errors.is_empty() {
        return Err(InputErrors(reader.errors));
    }
    let mut translator = Translator {
        config: reader.config,
        out: Output::default(),
        errors: Vec::new(),
    };
    translator.run();
    if translator.errors.is_empty() {
        Ok(translator.out)
    } else {
        Err(InputErrors(translator.errors))
    }
}

/// Where a source object was read: file, document (from 1), and item of a `List`.
#[derive(Clone, Debug)]
struct Origin {
    file: String,
    document: usize,
    item: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} document {}", self.file, self.document)?;
        if let Some(item) = self.item {
            write!(f, " items[{item}]")?;
        }
        Ok(())
    }
}

/// One decoded MetalLB object.
#[derive(Clone, Debug)]
struct Obj<S> {
    kind: &'static str,
    namespace: String,
    name: String,
    labels: BTreeMap<String, String>,
    origin: Origin,
    spec: S,
    /// Paths of fields this importer does not know.
    unknown: Vec<String>,
}

impl<S> Obj<S> {
    /// `IPAddressPool metallb-system/first-pool`.
    fn label(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }

    fn note(&self, field: &str, message: impl Into<String>) -> Finding {
        self.finding(field, message, false)
    }

    fn lost(&self, field: &str, message: impl Into<String>) -> Finding {
        self.finding(field, message, true)
    }

    fn finding(&self, field: &str, message: impl Into<String>, lost: bool) -> Finding {
        Finding {
            object: self.label(),
            field: (!field.is_empty()).then(|| field.to_owned()),
            message: message.into(),
            lost,
        }
    }

    fn unknown_fields(&self) -> Vec<Finding> {
        self.unknown
            .iter()
            .map(|path| self.lost(path, "unknown field, ignored"))
            .collect()
    }

    /// `IPAddressPool metallb-system/first-pool (pools.yaml document 2)`.
    fn source(&self, field: &str) -> String {
        match field {
            "" => format!("{} ({})", self.label(), self.origin),
            field => format!("{} {field} ({})", self.label(), self.origin),
        }
    }
}
