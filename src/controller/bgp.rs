//! The leader's BgpConf and BgpPeer controllers: a `Valid` condition on each object saying
//! whether porter can run its spec, and if not, why.
//!
//! What makes a spec unusable does not depend on the node (a bad address, AS 0, a family
//! porter does not speak, an unknown selector operator), so one writer, the leader, reports
//! it once per object with the leader's field manager; each node's own view (session state,
//! router ID) stays in its `nodesPeerStatus` / `nodesConfStatus` entry. The checks are the
//! ones the speaker translation applies ([`crate::speaker::from_crds::peer_config`] and the schema-level
//! [`BgpConfSpec::validate`](porter_crds::bgp_conf::BgpConfSpec::validate)), called here
//! beside it, so a condition can never disagree with what the nodes run. A bad object costs
//! only itself: the nodes leave it out and keep every other session.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use porter_crds::{BgpConf, BgpPeer, BGP_CONF_NAME};

use super::service::{LeaderCtx, RETRY_CONFLICT};
use super::status::{condition, VALID};
use super::{Error, FIELD_MANAGER};
use crate::speaker::from_crds::{peer_config, selector_matches};

/// Condition reason: porter runs the spec.
pub const REASON_VALID: &str = "Valid";
/// Condition reason: a field holds a value porter cannot run (the message names it).
pub const REASON_INVALID_SPEC: &str = "InvalidSpec";
/// Condition reason: the node selector uses an operator Kubernetes does not define.
pub const REASON_BAD_NODE_SELECTOR: &str = "BadNodeSelector";
/// Condition reason: a BgpConf that is not `default`, which porter (like OpenELB) ignores.
pub const REASON_IGNORED: &str = "Ignored";

/// Whether porter can run `peer`, as `(ok, reason, message)`.
pub fn peer_validity(peer: &BgpPeer) -> (bool, &'static str, String) {
    // Any labels do: an operator error does not depend on them.
    if let Err(e) = selector_matches(peer.spec.node_selector.as_ref(), &Default::default()) {
        return (false, REASON_BAD_NODE_SELECTOR, e);
    }
    match peer_config(&peer.spec) {
        Ok(pc) => (
            true,
            REASON_VALID,
            format!("peering with {} AS {}", pc.neighbor, pc.peer_as),
        ),
        Err(e) => (false, REASON_INVALID_SPEC, e.to_string()),
    }
}

/// Whether porter can run `conf`, as `(ok, reason, message)`.
pub fn conf_validity(conf: &BgpConf) -> (bool, &'static str, String) {
    if conf.name_any() != BGP_CONF_NAME {
        return (
            false,
            REASON_IGNORED,
            format!("porter reads only the BgpConf named `{BGP_CONF_NAME}`"),
        );
    }
    match conf.spec.validate() {
        Ok(()) => (true, REASON_VALID, format!("AS {}", conf.spec.asn)),
        Err(e) => (false, REASON_INVALID_SPEC, e.to_string()),
    }
}

/// The `Valid` condition to show, or `None` when the object already shows it.
pub fn valid_condition(
    current: &[Condition],
    (ok, reason, message): (bool, &'static str, String),
    generation: Option<i64>,
    now: Timestamp,
) -> Option<Condition> {
    let want = condition(current, VALID, ok, reason, message, generation, now);
    let same = current.iter().any(|c| {
        c.type_ == want.type_
            && c.status == want.status
            && c.reason == want.reason
            && c.message == want.message
            && c.observed_generation == want.observed_generation
    });
    (!same).then_some(want)
}

/// Reconciles one BgpPeer's `Valid` condition.
pub async fn reconcile_peer(peer: Arc<BgpPeer>, ctx: Arc<LeaderCtx>) -> Result<Action, Error> {
    let current = peer
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let validity = peer_validity(&peer);
    write(
        Api::<BgpPeer>::all(ctx.client.clone()),
        peer.as_ref(),
        valid_condition(
            current,
            validity,
            peer.metadata.generation,
            Timestamp::now(),
        ),
    )
    .await
}

/// Reconciles one BgpConf's `Valid` condition.
pub async fn reconcile_conf(conf: Arc<BgpConf>, ctx: Arc<LeaderCtx>) -> Result<Action, Error> {
    let current = conf
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let validity = conf_validity(&conf);
    write(
        Api::<BgpConf>::all(ctx.client.clone()),
        conf.as_ref(),
        valid_condition(
            current,
            validity,
            conf.metadata.generation,
            Timestamp::now(),
        ),
    )
    .await
}

/// Retry policy: a conflicting write soon, other API errors after a pause.
pub fn error_policy<K>(_obj: Arc<K>, err: &Error, ctx: Arc<LeaderCtx>) -> Action {
    ctx.metrics.reconcile_errors("bgp");
    if err.is_conflict() {
        Action::requeue(RETRY_CONFLICT)
    } else {
        Action::requeue(Duration::from_secs(5))
    }
}

async fn write<K>(api: Api<K>, obj: &K, cond: Option<Condition>) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let Some(cond) = cond else {
        return Ok(Action::await_change());
    };
    let patch = serde_json::json!({
        "apiVersion": porter_crds::API_VERSION,
        "kind": K::kind(&()),
        "metadata": {"name": obj.name_any()},
        "status": {"conditions": [cond]},
    });
    match api
        .patch_status(
            &obj.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
    {
        // Deleted meanwhile: nothing to report on.
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        other => {
            other?;
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(spec: serde_json::Value) -> BgpPeer {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpPeer",
            "metadata": {"name": "p", "generation": 3}, "spec": spec,
        }))
        .unwrap()
    }

    /// (case, spec, reason, words the message must contain)
    #[test]
    fn peer_validity_table() {
        let ok = serde_json::json!({"conf": {"peerAs": 65001, "neighborAddress": "10.200.90.254"}});
        let cases = [
            ("good", ok, REASON_VALID, "10.200.90.254 AS 65001"),
            (
                "peerAs 0",
                serde_json::json!({"conf": {"peerAs": 0, "neighborAddress": "10.200.90.254"}}),
                REASON_INVALID_SPEC,
                "spec.conf.peerAs",
            ),
            (
                "neighbor not an address",
                serde_json::json!({"conf": {"peerAs": 65001, "neighborAddress": "10.0.0.300"}}),
                REASON_INVALID_SPEC,
                "`10.0.0.300` is not an IP address",
            ),
            (
                "unknown afi",
                serde_json::json!({"conf": {"peerAs": 65001, "neighborAddress": "10.200.90.254"},
                    "afiSafis": [{"config": {"family": {"afi": "AFI_BOGUS", "safi": "SAFI_UNICAST"}, "enabled": true}}]}),
                REASON_INVALID_SPEC,
                "AFI_BOGUS",
            ),
            (
                "known but unsupported family",
                serde_json::json!({"conf": {"peerAs": 65001, "neighborAddress": "10.200.90.254"},
                    "afiSafis": [{"config": {"family": {"afi": "AFI_L2VPN", "safi": "SAFI_EVPN"}, "enabled": true}}]}),
                REASON_INVALID_SPEC,
                "AFI_L2VPN/SAFI_EVPN is not supported",
            ),
            (
                "hold time 2",
                serde_json::json!({"conf": {"peerAs": 65001, "neighborAddress": "10.200.90.254"},
                    "timers": {"config": {"holdTime": 2}}}),
                REASON_INVALID_SPEC,
                "RFC 4271 §4.2",
            ),
            (
                "selector operator",
                serde_json::json!({"conf": {"peerAs": 65001, "neighborAddress": "10.200.90.254"},
                    "nodeSelector": {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}}),
                REASON_BAD_NODE_SELECTOR,
                "Gt",
            ),
        ];
        for (case, spec, reason, words) in cases {
            let (ok, r, message) = peer_validity(&peer(spec));
            assert_eq!(r, reason, "{case}: {message}");
            assert_eq!(ok, reason == REASON_VALID, "{case}");
            assert!(message.contains(words), "{case}: {message}");
        }
    }

    #[test]
    fn conf_validity_names_the_field_and_ignores_other_names() {
        let conf = |name: &str, spec: serde_json::Value| -> BgpConf {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "network.kubesphere.io/v1alpha2", "kind": "BgpConf",
                "metadata": {"name": name}, "spec": spec,
            }))
            .unwrap()
        };
        let good = conf("default", serde_json::json!({"as": 64512}));
        assert!(conf_validity(&good).0);
        let (ok, reason, message) = conf_validity(&conf(
            "default",
            serde_json::json!({"as": 0, "routerId": "1.2.3"}),
        ));
        assert!(!ok);
        assert_eq!(reason, REASON_INVALID_SPEC);
        assert!(
            message.contains("spec.as") && message.contains("spec.routerId"),
            "{message}"
        );
        assert_eq!(
            conf_validity(&conf("other", serde_json::json!({"as": 1}))).1,
            REASON_IGNORED
        );
    }

    #[test]
    fn condition_is_written_only_when_it_changes() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let bad = || (false, REASON_INVALID_SPEC, "x".to_string());
        let first = valid_condition(&[], bad(), Some(1), now).expect("nothing shown yet");
        assert_eq!(
            (first.status.as_str(), first.type_.as_str()),
            ("False", VALID)
        );
        assert!(valid_condition(std::slice::from_ref(&first), bad(), Some(1), now).is_none());
        // A new generation is a new observation, even with the same verdict.
        assert!(valid_condition(std::slice::from_ref(&first), bad(), Some(2), now).is_some());
        let fixed = valid_condition(&[first], (true, REASON_VALID, "y".into()), Some(2), now);
        assert_eq!(fixed.unwrap().status, "True");
    }
}
