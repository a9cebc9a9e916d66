//! Numbers as gobgp's protobuf-JSON writes them.
//!
//! OpenELB copies gobgp's API objects through protobuf JSON, where a `uint64` is written as a
//! decimal string (`"90"`), and stores them in fields typed `string`. Users who write those
//! fields by hand often write plain numbers. [`ProtoU64`] reads both and writes the string form,
//! so objects keep the shape OpenELB gives them.

use std::borrow::Cow;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
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

/// Reads gobgp's `TimersState.uptime`/`downtime`: an RFC 3339 string (protobuf JSON of a
/// `google.protobuf.Timestamp`, what OpenELB v0.6 stores) or, as gobgp releases before the
/// Timestamp change wrote it, Unix seconds as a number or decimal string. 0 means never.
pub(crate) fn deserialize_gobgp_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Time>, D::Error> {
    deserializer.deserialize_any(GobgpTimeVisitor)
}

struct GobgpTimeVisitor;

impl GobgpTimeVisitor {
    fn unix_seconds<E: de::Error>(self, seconds: i64) -> Result<Option<Time>, E> {
        if seconds == 0 {
            return Ok(None);
        }
        Timestamp::from_second(seconds)
            .map(|t| Some(Time(t)))
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(seconds), &self))
    }
}

impl<'de> Visitor<'de> for GobgpTimeVisitor {
    type Value = Option<Time>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 time such as \"2024-05-01T10:05:00Z\", or Unix seconds")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        let seconds =
            i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))?;
        self.unix_seconds(seconds)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.unix_seconds(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            let seconds = v
                .parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))?;
            return self.unix_seconds(seconds);
        }
        v.parse::<Timestamp>()
            .map(|t| Some(Time(t)))
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gobgp_time(json: &str) -> Result<Option<Time>, serde_json::Error> {
        deserialize_gobgp_time(&mut serde_json::Deserializer::from_str(json))
    }

    #[test]
    fn gobgp_times_read_rfc3339_and_unix_seconds() {
        let rfc = gobgp_time("\"2024-05-01T10:05:00.123456789Z\"")
            .unwrap()
            .unwrap();
        let secs = gobgp_time("\"1714557900\"").unwrap().unwrap();
        let number = gobgp_time("1714557900").unwrap().unwrap();
        assert_eq!(secs, number);
        assert_eq!(rfc.0.as_second(), secs.0.as_second());
        assert_eq!(gobgp_time("\"0\"").unwrap(), None);
        assert_eq!(gobgp_time("null").unwrap(), None);
        for bad in [
            "\"yesterday\"",
            "\"2024-13-01T00:00:00Z\"",
            "-99999999999999",
            "true",
        ] {
            let err = gobgp_time(bad).unwrap_err();
            assert!(err.to_string().contains("RFC 3339"), "{bad}: {err}");
        }
    }

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
