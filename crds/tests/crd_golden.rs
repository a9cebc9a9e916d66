//! `deploy/crds/` must equal what the types generate, and the generated schemas must be
//! structural (kube-apiserver rejects a CRD whose schema is not).

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

const REGENERATE: &str = "cargo run -p porter-crds --bin crdgen -- --out-dir deploy/crds";

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/crds")
}

#[test]
fn deploy_crds_match_the_generated_crds() {
    let dir = deploy_dir();
    let generated = porter_crds::crd_files();
    for (name, yaml) in &generated {
        let path = dir.join(name);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{} is missing ({e}); regenerate it with `{REGENERATE}`",
                path.display()
            )
        });
        if on_disk != *yaml {
            let line = on_disk
                .lines()
                .zip(yaml.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| on_disk.lines().count().min(yaml.lines().count()));
            panic!(
                "{} is stale: first difference at line {}:\n  on disk:   {:?}\n  generated: {:?}\n\
                 regenerate it with `{REGENERATE}`",
                path.display(),
                line + 1,
                on_disk.lines().nth(line).unwrap_or("<end of file>"),
                yaml.lines().nth(line).unwrap_or("<end of file>"),
            );
        }
    }
    let expected: BTreeSet<_> = generated.iter().map(|(name, _)| name.clone()).collect();
    let stray: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| !expected.contains(name))
        .collect();
    assert!(
        stray.is_empty(),
        "files in deploy/crds that crdgen does not write: {stray:?}"
    );
}

#[test]
fn crd_yaml_is_the_three_files_as_one_stream() {
    let stream = porter_crds::crd_yaml();
    let documents: Vec<Value> = serde_yaml::Deserializer::from_str(&stream)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect();
    let names: Vec<_> = documents
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "eips.network.kubesphere.io",
            "bgpconfs.network.kubesphere.io",
            "bgppeers.network.kubesphere.io"
        ]
    );
    for doc in &documents {
        assert_eq!(doc["spec"]["scope"], "Cluster");
        assert_eq!(doc["spec"]["group"], porter_crds::GROUP);
        let versions = doc["spec"]["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0]["name"], porter_crds::VERSION);
        assert_eq!(
            porter_crds::API_VERSION,
            format!("{}/{}", porter_crds::GROUP, porter_crds::VERSION)
        );
        assert_eq!(versions[0]["subresources"]["status"], serde_json::json!({}));
    }
}

/// The rules of https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema
/// that a generated schema can break: every node has a type (or is int-or-string / preserves
/// unknown fields); no $ref; anyOf/allOf/oneOf/not only as value checks that do not carry
/// types, descriptions, defaults or nullable; defaults only where a type is known.
fn check_structural(schema: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(node) = schema.as_object() else {
        problems.push(format!("{path}: not an object"));
        return;
    };
    if node.contains_key("$ref") {
        problems.push(format!("{path}: $ref is not allowed"));
    }
    let int_or_string = node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let preserve = node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if !node.contains_key("type") && !int_or_string && !preserve {
        problems.push(format!("{path}: no type"));
    }
    if int_or_string && node.contains_key("type") {
        problems.push(format!("{path}: int-or-string must not also set type"));
    }
    for junction in ["anyOf", "allOf", "oneOf", "not"] {
        if let Some(branches) = node.get(junction) {
            let list: Vec<&Value> = match branches {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for (i, branch) in list.iter().enumerate() {
                for forbidden in [
                    "type",
                    "description",
                    "default",
                    "nullable",
                    "additionalProperties",
                ] {
                    if branch.get(forbidden).is_some() && !(int_or_string && forbidden == "type") {
                        problems.push(format!("{path}.{junction}[{i}]: sets {forbidden}"));
                    }
                }
            }
        }
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        if node.get("type").and_then(Value::as_str) != Some("object") {
            problems.push(format!("{path}: properties on a non-object"));
        }
        for (name, child) in props {
            check_structural(child, &format!("{path}.{name}"), problems);
        }
    }
    if let Some(items) = node.get("items") {
        check_structural(items, &format!("{path}[]"), problems);
    }
    if let Some(extra) = node.get("additionalProperties") {
        if extra.is_object() {
            check_structural(extra, &format!("{path}.*"), problems);
        }
        if node.contains_key("properties") {
            problems.push(format!("{path}: both properties and additionalProperties"));
        }
    }
    // OpenAPI 3.0 formats only; kube-apiserver warns about others (schemars' uint32, …).
    if let Some(format) = node.get("format").and_then(Value::as_str) {
        let known = [
            "int32",
            "int64",
            "float",
            "double",
            "byte",
            "date",
            "date-time",
            "password",
            "ipv4",
            "ipv6",
            "cidr",
            "uri",
            "email",
            "hostname",
            "uuid",
            "mac",
            "duration",
        ];
        if !known.contains(&format) {
            problems.push(format!("{path}: format {format} is not an OpenAPI format"));
        }
    }
    if let Some(keys) = node
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
    {
        let required: Vec<&Value> = node["items"]["required"]
            .as_array()
            .map(|r| r.iter().collect())
            .unwrap_or_default();
        for key in keys {
            if !required.contains(&key) {
                problems.push(format!(
                    "{path}: list-map key {key} is not required in items"
                ));
            }
        }
    }
}

#[test]
fn generated_schemas_are_structural() {
    for crd in porter_crds::crds() {
        let crd = serde_json::to_value(&crd).unwrap();
        let name = crd["metadata"]["name"].as_str().unwrap().to_owned();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let mut problems = Vec::new();
        check_structural(schema, &name, &mut problems);
        assert!(
            problems.is_empty(),
            "{name} is not structural:\n  {}",
            problems.join("\n  ")
        );
    }
}

#[test]
fn structural_check_catches_what_it_claims_to() {
    let bad = serde_json::json!({
        "type": "object",
        "properties": {
            "a": {"description": "no type"},
            "b": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "c": {"$ref": "#/definitions/x", "type": "object"},
            "e": {"type": "integer", "format": "uint32"},
            "d": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}},
                  "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"]}
        }
    });
    let mut problems = Vec::new();
    check_structural(&bad, "bad", &mut problems);
    assert_eq!(
        problems,
        [
            "bad.a: no type",
            "bad.b: no type",
            "bad.b.anyOf[0]: sets type",
            "bad.b.anyOf[1]: sets type",
            "bad.c: $ref is not allowed",
            "bad.d: list-map key \"k\" is not required in items",
            "bad.e: format uint32 is not an OpenAPI format",
        ]
    );
}

#[test]
fn schema_carries_defaults_enums_and_cel_rules() {
    let eip = serde_json::to_value(&porter_crds::crds()[0]).unwrap();
    let spec = &eip["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(spec["properties"]["protocol"]["default"], "bgp");
    assert_eq!(
        spec["properties"]["protocol"]["enum"],
        serde_json::json!(["bgp", "layer2", "vip"])
    );
    let rules = spec["x-kubernetes-validations"].as_array().unwrap();
    assert!(rules[0]["rule"].as_str().unwrap().contains("layer2"));
}

/// The schema node at a dotted path below the openAPIV3Schema: `spec.address`,
/// `spec.listenAddresses[]` (list items), `spec.asPerRack.*` (map values).
fn node<'a>(schema: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(schema, |at, step| {
        let (name, items) = match step.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (step, false),
        };
        let at = if name == "*" {
            &at["additionalProperties"]
        } else {
            &at["properties"][name]
        };
        let at = if items { &at["items"] } else { at };
        assert!(!at.is_null(), "no schema at {path} (stopped at {step})");
        at
    })
}

fn schema_of(kind: usize) -> Value {
    let crd = serde_json::to_value(&porter_crds::crds()[kind]).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Each rule sits on the field it checks, so the API server's message names that field
/// (`spec.address: Invalid value: ...`), and each string a rule walks has a `maxLength` and
/// each list whose items carry a rule a `maxItems`: without them the API server estimates
/// the rule's cost over the largest request it accepts and refuses the whole CRD (for
/// `listenAddresses` without `maxItems`: "estimated rule cost exceeds budget by factor of
/// 2.0x", kube-apiserver 1.37).
#[test]
fn cel_rules_sit_on_the_fields_they_check() {
    let cases = [
        (0, "spec.address", porter_crds::eip::ADDRESS_RULE),
        (0, "spec.interface", "can_reach:"),
        (1, "spec.routerId", porter_crds::bgp_conf::ROUTER_ID_RULE),
        (1, "spec.listenAddresses[]", "isIP(self)"),
        (2, "spec.conf.neighborAddress", "isIP(self)"),
        (2, "spec.transport.remoteAddress", "isIP(self)"),
        (2, "spec.transport.localAddress", "isIP(self)"),
        (2, "spec.transport.tcpMss", "self >= 88"),
    ];
    for (kind, path, rule) in cases {
        let schema = schema_of(kind);
        let at = node(&schema, path);
        let rules = at["x-kubernetes-validations"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: no x-kubernetes-validations"));
        assert!(
            rules
                .iter()
                .any(|r| r["rule"].as_str().unwrap().contains(rule)),
            "{path}: no rule containing {rule:?} in {rules:?}"
        );
        if at["type"] == "string" {
            assert!(
                at["maxLength"].is_u64(),
                "{path}: a CEL rule on a string needs maxLength"
            );
        }
        if let Some(list) = path.strip_suffix("[]") {
            let list = node(&schema, list);
            assert!(
                list["maxItems"].is_u64(),
                "{path}: rules on items need maxItems"
            );
        }
    }
}

#[test]
fn as_numbers_are_one_to_u32_max() {
    let conf = schema_of(1);
    let peer = schema_of(2);
    for at in [
        node(&conf, "spec.as"),
        node(&conf, "spec.asPerRack.*"),
        node(&peer, "spec.conf.peerAs"),
    ] {
        assert_eq!(at["minimum"], 1.0, "{at}");
        assert_eq!(at["maximum"], f64::from(u32::MAX), "{at}");
        assert_eq!(at["format"], "int64", "{at}");
    }
    // 0 means "the BgpConf AS" here, as in OpenELB.
    assert_eq!(node(&peer, "spec.conf.localAs")["minimum"], 0.0);
}

/// The API server does not check that a number fits its `format`, so every integer field
/// that decodes into a bounded Rust integer must say its bounds; only 64-bit ones may not.
#[test]
fn every_narrow_integer_is_bounded() {
    fn walk(schema: &Value, path: &str, unbounded: &mut Vec<String>) {
        if schema["type"] == "integer"
            && schema["format"] != "int64"
            && (schema["minimum"].is_null() || schema["maximum"].is_null())
        {
            unbounded.push(path.to_owned());
        }
        if schema["type"] == "integer"
            && schema["format"] == "int64"
            && schema["minimum"] == 0.0
            && schema["maximum"].is_null()
        {
            // Unsigned 64-bit: only counters and sizes in status.
            assert!(path.contains(".status."), "{path}: u64 in a spec");
        }
        if let Some(props) = schema["properties"].as_object() {
            for (name, child) in props {
                walk(child, &format!("{path}.{name}"), unbounded);
            }
        }
        if schema["items"].is_object() {
            walk(&schema["items"], &format!("{path}[]"), unbounded);
        }
        if schema["additionalProperties"].is_object() {
            walk(
                &schema["additionalProperties"],
                &format!("{path}.*"),
                unbounded,
            );
        }
    }
    for kind in 0..3 {
        let mut unbounded = Vec::new();
        walk(&schema_of(kind), "", &mut unbounded);
        assert!(unbounded.is_empty(), "unbounded integers: {unbounded:?}");
    }
}
