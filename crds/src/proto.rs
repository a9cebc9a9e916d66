//! Numbers as gobgp's protobuf-JSON writes them.
//!
//! OpenELB copies gobgp's API objects through protobuf JSON, where a `uint64` is written as a
//! decimal string (`"90"`), and stores them in fields typed `string`. Users who write those
//! fields by hand often write plain numbers. [`ProtoU64`] reads both and writes the string form,
//! so objects keep the shape OpenELB gives them.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An unsigned 64-bit number that reads from a JSON number or a decimal string and writes a
/// decimal string, as protobuf JSON does for `uint64`.
///
/// Its schema is `x-kubernetes-int-or-string: true`, the structural way to admit both forms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtoU64(pub u64);

impl ProtoU64 {
    /// Whether the value is zero (protobuf JSON leaves zero values out).
    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

impl From<u64> for ProtoU64 {
    fn from(value: u64) -> Self {
        ProtoU64(value)
    }
}

impl fmt::Display for ProtoU64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for ProtoU64 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ProtoU64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ProtoU64Visitor)
    }
}

struct ProtoU64Visitor;

impl Visitor<'_> for ProtoU64Visitor {
    type Value = ProtoU64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer, as a number or a decimal string such as \"90\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ProtoU64, E> {
        Ok(ProtoU64(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ProtoU64, E> {
        u64::try_from(v)
            .map(ProtoU64)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ProtoU64, E> {
        Err(E::invalid_value(de::Unexpected::Float(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ProtoU64, E> {
        // Digits only: u64::from_str would also take a leading '+', which protobuf JSON never
        // writes and which would make two spellings of one value.
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::invalid_value(de::Unexpected::Str(v), &self));
        }
        v.parse()
            .map(ProtoU64)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

impl JsonSchema for ProtoU64 {
    fn schema_name() -> Cow<'static, str> {
        "ProtoU64".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "x-kubernetes-int-or-string": true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbers_and_decimal_strings() {
        let n: ProtoU64 = serde_json::from_str("90").unwrap();
        let s: ProtoU64 = serde_json::from_str("\"90\"").unwrap();
        assert_eq!(n, ProtoU64(90));
        assert_eq!(s, ProtoU64(90));
        let max: ProtoU64 = serde_json::from_str("\"18446744073709551615\"").unwrap();
        assert_eq!(max, ProtoU64(u64::MAX));
    }

    #[test]
    fn writes_a_decimal_string() {
        assert_eq!(serde_json::to_string(&ProtoU64(30)).unwrap(), "\"30\"");
    }

    #[test]
    fn rejects_negative_fractional_signed_and_non_numeric_values() {
        for bad in [
            "-1",
            "1.5",
            "\"+5\"",
            "\"\"",
            "\"9s\"",
            "\" 9\"",
            "true",
            "\"18446744073709551616\"",
        ] {
            let err = serde_json::from_str::<ProtoU64>(bad).unwrap_err();
            assert!(
                err.to_string().contains("non-negative integer"),
                "{bad}: {err}"
            );
        }
    }
}
