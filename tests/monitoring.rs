//! The alerts of `deploy/monitoring/prometheusrule.yaml`: valid rules (`promtool check rules`),
//! each firing exactly as `tests/monitoring/alerts_test.yaml` expects on synthetic series
//! (`promtool test rules`), every alert covered there, and every metric they read one that
//! porter exports. Needs promtool (Debian's `prometheus` package; `tests/deps.sh` installs it):
//! skipped loudly without it, a failure under `PORTER_LAB_REQUIRE=1`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use porter::telemetry::{Layer2Labels, PeerLabels, PoolLabels};
use serde::Deserialize;
use serde_yaml::Value;

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/monitoring/prometheusrule.yaml"
);
const TESTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/monitoring/alerts_test.yaml"
);

fn yaml(path: &str) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn alerts(rule: &Value) -> Vec<(String, String)> {
    rule["spec"]["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .map(|r| {
            (
                r["alert"].as_str().unwrap().to_owned(),
                r["expr"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Metric names in a PromQL expression (`porter_…`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("porter_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

#[test]
fn every_alert_reads_metrics_porter_exports_and_is_tested() {
    let rule = yaml(RULES);
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["kind"], "PrometheusRule");
    // One series in each family the rules read (a family without series is not exported).
    let metrics = porter::telemetry::Metrics::new();
    metrics.set_session_state("p1", "ESTABLISHED");
    let pool = PoolLabels { pool: "p".into() };
    metrics.pool_size.get_or_create(&pool).set(10);
    metrics.pool_used.get_or_create(&pool).set(1);
    let ip: std::net::IpAddr = "198.51.100.1".parse().unwrap();
    metrics.set_layer2_owner(ip, Some("n1"));
    let l2 = Layer2Labels { ip: ip.to_string() };
    metrics.layer2_addresses.get_or_create(&l2).set(1);
    let peer = PeerLabels { peer: "p1".into() };
    metrics.bfd_session_up.get_or_create(&peer).set(1);
    let exported = metrics.encode();
    for (alert, expr) in alerts(&rule) {
        for name in metric_names(&expr) {
            assert!(
                exported.contains(&format!("# TYPE {name} ")),
                "{alert} reads {name}, which porter does not export:\n{exported}"
            );
        }
    }
    // Every alert has a test case in which it fires.
    let tests = yaml(TESTS);
    let fired: BTreeSet<&str> = tests["tests"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_sequence().unwrap())
        .filter(|c| c["exp_alerts"].as_sequence().is_some_and(|a| !a.is_empty()))
        .map(|c| c["alertname"].as_str().unwrap())
        .collect();
    for (alert, _) in alerts(&rule) {
        assert!(
            fired.contains(alert.as_str()),
            "{alert} has no test case in which it fires"
        );
    }
}

#[test]
fn promtool_checks_and_tests_the_rules() {
    let Some(promtool) = porter_lab::find_binary("promtool") else {
        assert!(
            std::env::var("PORTER_LAB_REQUIRE").as_deref() != Ok("1"),
            "promtool is not installed (bash tests/deps.sh installs it)"
        );
        eprintln!("SKIPPED: promtool_checks_and_tests_the_rules: promtool is not installed");
        return;
    };
    // The PrometheusRule's spec is a plain rule file; promtool reads it beside the tests.
    let dir = std::env::temp_dir().join(format!("porter-monitoring-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, serde_yaml::to_string(&yaml(RULES)["spec"]).unwrap()).unwrap();
    let tests = dir.join("alerts_test.yaml");
    std::fs::copy(TESTS, &tests).unwrap();
    let run = |args: &[&Path]| {
        let out = Command::new(&promtool).args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "promtool {args:?}:\n{text}");
        text
    };
    run(&[Path::new("check"), Path::new("rules"), &rules]);
    let text = run(&[Path::new("test"), Path::new("rules"), &tests]);
    assert!(text.contains("SUCCESS"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// deploy/monitoring lists both objects, and the PodMonitor finds the manager's pods and port.
#[test]
fn pod_monitor_selects_the_manager_pods_and_their_http_port() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/monitoring");
    let k = yaml(&format!("{dir}/kustomization.yaml"));
    let listed: Vec<&str> = k["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(listed, ["podmonitor.yaml", "prometheusrule.yaml"]);
    let monitor = yaml(&format!("{dir}/podmonitor.yaml"));
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/deployment.yaml"
    ))
    .unwrap();
    let deployment = serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .find(|d| d["kind"] == "Deployment")
        .unwrap();
    let pod = &deployment["spec"]["template"];
    let labels = pod["metadata"]["labels"].as_mapping().unwrap();
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .unwrap()
    {
        assert_eq!(labels.get(key), Some(value), "pod label {key:?}");
    }
    let port = &monitor["spec"]["podMetricsEndpoints"][0]["port"];
    let ports = pod["spec"]["containers"][0]["ports"].as_sequence().unwrap();
    assert!(ports.iter().any(|p| &p["name"] == port), "{port:?}");
    assert_eq!(
        monitor["metadata"]["namespace"],
        deployment["metadata"]["namespace"]
    );
}
