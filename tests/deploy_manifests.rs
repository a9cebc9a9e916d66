//! deploy/: the manifests parse as the Kubernetes types they claim to be, the kustomization
//! lists files that exist, RBAC grants exactly what `porter manager` calls, and the
//! Deployment has the shape the design asks for.

use std::collections::BTreeSet;
use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
use serde::Deserialize;

fn deploy() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy"))
}

/// Every YAML document of `file` as JSON values.
fn docs(file: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(deploy().join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_json::Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn of_kind<T: serde::de::DeserializeOwned>(file: &str, kind: &str) -> Vec<T> {
    docs(file)
        .into_iter()
        .filter(|d| d["kind"] == kind)
        .map(|d| serde_json::from_value(d).unwrap())
        .collect()
}

#[test]
fn kustomization_lists_existing_files_including_every_crd() {
    let k = &docs("kustomization.yaml")[0];
    let resources: BTreeSet<String> = k["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    for r in &resources {
        assert!(deploy().join(r).is_file(), "{r} is listed but missing");
    }
    for entry in std::fs::read_dir(deploy().join("crds")).unwrap() {
        let name = format!("crds/{}", entry.unwrap().file_name().to_string_lossy());
        assert!(
            resources.contains(&name),
            "{name} is not in kustomization.yaml"
        );
    }
    for f in ["namespace.yaml", "rbac.yaml", "deployment.yaml"] {
        assert!(resources.contains(f), "{f}");
    }
}

fn allows(rules: &[PolicyRule], group: &str, resource: &str, verb: &str) -> bool {
    rules.iter().any(|r| {
        r.api_groups.iter().flatten().any(|g| g == group)
            && r.resources.iter().flatten().any(|x| x == resource)
            && r.verbs.iter().any(|v| v == verb)
    })
}

/// (group, resource, verb) that `porter manager` uses, from src/controller.
const NEEDED: &[(&str, &str, &str)] = &[
    ("", "nodes", "list"),
    ("", "nodes", "watch"),
    ("", "services", "list"),
    ("", "services", "watch"),
    ("", "services", "patch"),
    ("", "services/status", "patch"),
    ("", "namespaces", "list"),
    ("", "namespaces", "watch"),
    ("discovery.k8s.io", "endpointslices", "list"),
    ("discovery.k8s.io", "endpointslices", "watch"),
    ("network.kubesphere.io", "eips", "list"),
    ("network.kubesphere.io", "eips", "watch"),
    ("network.kubesphere.io", "eips", "patch"),
    ("network.kubesphere.io", "eips/status", "patch"),
    ("network.kubesphere.io", "bgpconfs", "list"),
    ("network.kubesphere.io", "bgpconfs", "watch"),
    ("network.kubesphere.io", "bgpconfs/status", "patch"),
    ("network.kubesphere.io", "bgppeers", "list"),
    ("network.kubesphere.io", "bgppeers", "watch"),
    ("network.kubesphere.io", "bgppeers/status", "patch"),
    ("events.k8s.io", "events", "create"),
    ("events.k8s.io", "events", "patch"),
];

/// `rules` grant every (group, resource, verb) of `needed` and nothing else: no wildcard,
/// nothing unlisted (least privilege).
fn grants_exactly(rules: &[PolicyRule], needed: &[(&str, &str, &str)], scope: &str) {
    for (g, r, v) in needed {
        assert!(allows(rules, g, r, v), "{scope}: missing {v} on {g}/{r}");
    }
    for rule in rules {
        for g in rule.api_groups.iter().flatten() {
            for r in rule.resources.iter().flatten() {
                for v in &rule.verbs {
                    assert!(
                        needed.contains(&(g.as_str(), r.as_str(), v.as_str())),
                        "{scope}: unneeded grant {v} on {g}/{r}"
                    );
                }
            }
        }
    }
}

#[test]
fn cluster_role_grants_what_the_manager_calls_and_nothing_more() {
    let roles: Vec<ClusterRole> = of_kind("rbac.yaml", "ClusterRole");
    assert_eq!(roles.len(), 1);
    grants_exactly(&roles[0].rules.clone().unwrap(), NEEDED, "ClusterRole");
    // The Leases are the only namespaced need: the leader's and one per layer-2 address.
    let role: Vec<Role> = of_kind("rbac.yaml", "Role");
    assert_eq!(role.len(), 1);
    assert_eq!(role[0].metadata.namespace.as_deref(), Some("porter-system"));
    grants_exactly(
        &role[0].rules.clone().unwrap(),
        NEEDED_IN_NAMESPACE,
        "Role in porter-system",
    );
}

/// (group, resource, verb) `porter manager` uses in its own namespace: Lease get / create /
/// replace in src/controller/leader.rs and src/layer2/lease.rs.
const NEEDED_IN_NAMESPACE: &[(&str, &str, &str)] = &[
    ("coordination.k8s.io", "leases", "get"),
    ("coordination.k8s.io", "leases", "create"),
    ("coordination.k8s.io", "leases", "update"),
];

#[test]
fn deployment_has_two_host_network_replicas_one_per_node() {
    let d: Vec<Deployment> = of_kind("deployment.yaml", "Deployment");
    let spec = d[0].spec.clone().unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.host_network, Some(true));
    assert_eq!(pod.service_account_name.as_deref(), Some("porter"));
    let anti = pod.affinity.unwrap().pod_anti_affinity.unwrap();
    let required = anti
        .required_during_scheduling_ignored_during_execution
        .unwrap();
    assert_eq!(required[0].topology_key, "kubernetes.io/hostname");

    let c = &pod.containers[0];
    assert_eq!(c.args.as_ref().unwrap()[0], "manager");
    let env: Vec<(String, String)> = c
        .env
        .iter()
        .flatten()
        .filter_map(|e| {
            let path = e
                .value_from
                .as_ref()?
                .field_ref
                .as_ref()?
                .field_path
                .clone();
            Some((e.name.clone(), path))
        })
        .collect();
    assert!(env.contains(&("NODE_NAME".into(), "spec.nodeName".into())));
    assert!(env.contains(&("POD_NAMESPACE".into(), "metadata.namespace".into())));
    // The unauthenticated endpoint listens on the node's address only, whatever its family.
    assert!(env.contains(&("HOST_IP".into(), "status.hostIP".into())));
    let http = c
        .args
        .as_ref()
        .unwrap()
        .iter()
        .find_map(|a| a.strip_prefix("--http="));
    assert_eq!(http, Some("$(HOST_IP):9443"));
    for host in ["10.0.0.5", "fd00:1::5"] {
        let expanded = http.unwrap().replace("$(HOST_IP)", host);
        let addr = porter::controller::cli::listen_address(&expanded).unwrap();
        assert_eq!(addr.ip().to_string(), host);
    }

    let sc = c.security_context.clone().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    let caps = sc.capabilities.unwrap();
    assert_eq!(caps.drop.unwrap(), ["ALL"]);
    let added: BTreeSet<String> = caps.add.unwrap().into_iter().collect();
    assert_eq!(
        added,
        ["NET_ADMIN", "NET_BIND_SERVICE", "NET_RAW"]
            .map(String::from)
            .into()
    );
    let live = c.liveness_probe.clone().unwrap().http_get.unwrap();
    let ready = c.readiness_probe.clone().unwrap().http_get.unwrap();
    assert_eq!(live.path.as_deref(), Some("/healthz"));
    assert_eq!(ready.path.as_deref(), Some("/readyz"));
    assert!(c.resources.as_ref().unwrap().requests.is_some());

    let pdb = docs("deployment.yaml")
        .into_iter()
        .find(|d| d["kind"] == "PodDisruptionBudget")
        .expect("a PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
}

#[test]
fn samples_are_openelb_objects_porter_accepts() {
    for f in ["eip.yaml", "bgpconf.yaml", "bgppeer.yaml"] {
        let text = std::fs::read_to_string(deploy().join("samples").join(f)).unwrap();
        let objs = porter_crds::parse_yaml(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
        for o in &objs {
            o.validate().unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }
}
