//! Checks beyond what the types and the CRD schema can say.
//!
//! Every check names the field at fault by its JSON path (`spec.conf.neighborAddress`), so the
//! same message serves a `kubectl describe` condition and a standalone-file error.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// One problem in one field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    /// JSON path of the field, as written in the object (`spec.timers.config.holdTime`).
    pub path: String,
    /// What is wrong, in a sentence a user can act on.
    pub message: String,
}

/// All problems found in one object; never empty when returned as an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    /// The individual problems, in the order the fields appear.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// Whether any problem names exactly this path.
    pub fn has_path(&self, path: &str) -> bool {
        self.0.iter().any(|e| e.path == path)
    }

    /// Records a problem at `path`.
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// `Ok(())` if nothing was recorded, the collected problems otherwise.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Checks a metav1 LabelSelector the way the API server checks one in a built-in object:
/// operators are `In`, `NotIn`, `Exists`, `DoesNotExist`; the first two need values, the last
/// two must have none.
pub(crate) fn check_label_selector(
    selector: &LabelSelector,
    path: &str,
    errs: &mut ValidationErrors,
) {
    for (i, req) in selector.match_expressions.iter().flatten().enumerate() {
        let here = format!("{path}.matchExpressions[{i}]");
        if req.key.is_empty() {
            errs.push(format!("{here}.key"), "must not be empty");
        }
        let has_values = req.values.as_ref().is_some_and(|v| !v.is_empty());
        match req.operator.as_str() {
            "In" | "NotIn" if !has_values => errs.push(
                format!("{here}.values"),
                format!("must be non-empty when operator is {}", req.operator),
            ),
            "Exists" | "DoesNotExist" if has_values => errs.push(
                format!("{here}.values"),
                format!("must be empty when operator is {}", req.operator),
            ),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(
                format!("{here}.operator"),
                format!("`{other}` is not one of In, NotIn, Exists, DoesNotExist"),
            ),
        }
    }
}

/// Whether `name` is an RFC 1123 DNS label, the form of a namespace name.
pub(crate) fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn display_joins_every_problem() {
        let mut errs = ValidationErrors::default();
        errs.push("spec.a", "bad");
        errs.push("spec.b", "worse");
        assert_eq!(errs.to_string(), "spec.a: bad; spec.b: worse");
        assert!(errs.has_path("spec.b"));
        assert!(errs.into_result().is_err());
        assert!(ValidationErrors::default().into_result().is_ok());
    }

    #[test]
    fn label_selector_operators_and_values_are_checked() {
        let req = |op: &str, values: Option<Vec<&str>>| LabelSelectorRequirement {
            key: "rack".into(),
            operator: op.into(),
            values: values.map(|v| v.into_iter().map(String::from).collect()),
        };
        let selector = LabelSelector {
            match_expressions: Some(vec![
                req("In", Some(vec!["a"])),
                req("In", None),
                req("Exists", Some(vec!["a"])),
                req("Matches", None),
            ]),
            match_labels: None,
        };
        let mut errs = ValidationErrors::default();
        check_label_selector(&selector, "spec.nodeSelector", &mut errs);
        let paths: Vec<_> = errs.errors().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.nodeSelector.matchExpressions[1].values",
                "spec.nodeSelector.matchExpressions[2].values",
                "spec.nodeSelector.matchExpressions[3].operator",
            ]
        );
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("kube-system"));
        assert!(is_dns_label("a1"));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label("a-"));
        assert!(!is_dns_label("Default"));
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
