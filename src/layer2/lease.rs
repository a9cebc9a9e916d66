//! The Kubernetes adapter of [`super::ownership::LeaseStore`]: one `coordination.k8s.io/v1`
//! Lease per layer-2 address, in porter's namespace, read with GET and written by
//! compare-and-swap (POST to create, PUT carrying the `resourceVersion` read).
//!
//! One Lease per address rather than per Eip: with `externalTrafficPolicy: Local`
//! eligibility is a property of the Service, hence of the address, so two addresses of one
//! Eip can have different eligible nodes; and spreading the addresses of one Eip across
//! nodes spreads the load. The name comes from [`super::ownership::lease_name`].
//!
//! Every decision stays in [`super::Elector`], driven by [`super::ownership::Election`]; this
//! file only maps records and errors:
//!
//! | Lease spec             | [`LeaseRecord`]            |
//! |------------------------|----------------------------|
//! | `holderIdentity`       | `holder`                   |
//! | `acquireTime` (MicroTime) | `acquire_time` (`SystemTime`, microseconds) |
//! | `renewTime` (MicroTime)   | `renew_time`            |
//! | `leaseDurationSeconds` | `lease_duration_seconds`   |
//! | `leaseTransitions`     | `lease_transitions`        |
//!
//! HTTP 404 on GET is "no Lease" (`None`); 409 on POST (AlreadyExists) or PUT (Conflict) is
//! [`StoreError::Conflict`]; anything else is [`StoreError::Other`].
//!
//! RBAC: `get`, `create` and `update` on `leases` in porter's namespace (deploy/rbac.yaml).

use std::time::SystemTime;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;

use super::election::LeaseRecord;
use super::ownership::{LeaseStore, StoreError, VersionedLease};

/// Label on every layer-2 Lease, so `kubectl get lease -l` lists them.
pub const LEASE_LABEL: &str = "porter.network.kubesphere.io/layer2";

/// [`LeaseStore`] over the Kubernetes API: Leases in one namespace.
#[derive(Clone)]
pub struct KubeLeaseStore {
    api: Api<Lease>,
    namespace: String,
    /// `leaseDurationSeconds` assumed for a Lease that lacks it (or has a value below 1),
    /// so a malformed record cannot make every follower take over at once.
    default_duration_seconds: u32,
}

impl KubeLeaseStore {
    /// Leases in `namespace`; a Lease read without a usable `leaseDurationSeconds` counts as
    /// lasting `default_duration_seconds` (this replica's own lease duration).
    pub fn new(client: Client, namespace: &str, default_duration_seconds: u32) -> Self {
        KubeLeaseStore {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            default_duration_seconds: default_duration_seconds.max(1),
        }
    }

    fn lease(&self, name: &str, record: &LeaseRecord, version: Option<&str>) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(self.namespace.clone()),
                resource_version: version.map(str::to_owned),
                labels: Some([(LEASE_LABEL.to_owned(), "true".to_owned())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(spec_from_record(record)),
        }
    }
}

impl LeaseStore for KubeLeaseStore {
    async fn get(&self, name: &str) -> Result<Option<VersionedLease>, StoreError> {
        let Some(lease) = self.api.get_opt(name).await.map_err(store_error)? else {
            return Ok(None);
        };
        let version = lease
            .metadata
            .resource_version
            .ok_or_else(|| StoreError::Other(format!("Lease {name} has no resourceVersion")))?;
        let spec = lease.spec.unwrap_or_default();
        Ok(Some(VersionedLease {
            record: record_from_spec(&spec, self.default_duration_seconds),
            version,
        }))
    }

    async fn create(&self, name: &str, record: &LeaseRecord) -> Result<String, StoreError> {
        let created = self
            .api
            .create(&PostParams::default(), &self.lease(name, record, None))
            .await
            .map_err(store_error)?;
        new_version(name, created)
    }

    async fn replace(
        &self,
        name: &str,
        record: &LeaseRecord,
        version: &str,
    ) -> Result<String, StoreError> {
        let replaced = self
            .api
            .replace(
                name,
                &PostParams::default(),
                &self.lease(name, record, Some(version)),
            )
            .await
            .map_err(store_error)?;
        new_version(name, replaced)
    }
}

/// The record in a Lease spec. A missing holder or an empty one is "released"; negative
/// counts read as 0; a missing or non-positive duration as `default_duration_seconds`.
pub fn record_from_spec(spec: &LeaseSpec, default_duration_seconds: u32) -> LeaseRecord {
    let duration = spec
        .lease_duration_seconds
        .and_then(|d| u32::try_from(d).ok())
        .filter(|d| *d > 0)
        .unwrap_or(default_duration_seconds);
    LeaseRecord {
        holder: spec.holder_identity.clone().filter(|h| !h.is_empty()),
        acquire_time: spec.acquire_time.as_ref().map(|t| SystemTime::from(t.0)),
        renew_time: spec.renew_time.as_ref().map(|t| SystemTime::from(t.0)),
        lease_duration_seconds: duration,
        lease_transitions: spec
            .lease_transitions
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(0),
    }
}

/// The Lease spec for a record. Counts beyond the API's `int32` are capped; a time outside
/// what the API can represent is left out (it is informational only).
pub fn spec_from_record(record: &LeaseRecord) -> LeaseSpec {
    let int32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let micro = |t: Option<SystemTime>| {
        t.and_then(|t| Timestamp::try_from(t).ok())
            .map(|ts| MicroTime(truncate_to_micros(ts)))
    };
    LeaseSpec {
        holder_identity: record.holder.clone(),
        acquire_time: micro(record.acquire_time),
        renew_time: micro(record.renew_time),
        lease_duration_seconds: Some(int32(record.lease_duration_seconds)),
        lease_transitions: Some(int32(record.lease_transitions)),
        ..LeaseSpec::default()
    }
}

/// MicroTime carries microseconds: write exactly what a read gives back.
fn truncate_to_micros(ts: Timestamp) -> Timestamp {
    let nanos = ts.subsec_nanosecond();
    let cut = nanos - nanos.rem_euclid(1_000);
    Timestamp::new(ts.as_second(), cut).unwrap_or(ts)
}

fn new_version(name: &str, lease: Lease) -> Result<String, StoreError> {
    lease.metadata.resource_version.ok_or_else(|| {
        StoreError::Other(format!(
            "the API returned Lease {name} without a resourceVersion"
        ))
    })
}

/// 409 (AlreadyExists on create, Conflict on replace) means another replica wrote first.
fn store_error(e: kube::Error) -> StoreError {
    match e {
        kube::Error::Api(status) if status.code == 409 => StoreError::Conflict,
        other => StoreError::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::controller::mock_tests::{scripted, step, Step};

    const PATH: &str =
        "/apis/coordination.k8s.io/v1/namespaces/porter-system/leases/porter-l2-198-51-100-10";

    fn at(micros: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_micros(micros)
    }

    fn record() -> LeaseRecord {
        LeaseRecord {
            holder: Some("node-a".into()),
            acquire_time: Some(at(1_800_000_000_000_001)),
            renew_time: Some(at(1_800_000_003_500_000)),
            lease_duration_seconds: 4,
            lease_transitions: 2,
        }
    }

    fn status(code: u16, reason: &str) -> serde_json::Value {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
               "reason": reason, "code": code, "message": reason})
    }

    fn lease_reply(version: &str) -> serde_json::Value {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": "porter-l2-198-51-100-10", "namespace": "porter-system",
                            "resourceVersion": version},
               "spec": {"holderIdentity": "node-a",
                        "acquireTime": "2027-01-15T08:00:00.000001Z",
                        "renewTime": "2027-01-15T08:00:03.500000Z",
                        "leaseDurationSeconds": 4, "leaseTransitions": 2}})
    }

    fn store(client: kube::Client) -> KubeLeaseStore {
        KubeLeaseStore::new(client, "porter-system", 4)
    }

    #[tokio::test]
    async fn get_maps_every_field_and_keeps_the_resource_version() {
        let (client, server) = scripted(vec![step("GET", PATH, None, |_| {}, lease_reply("42"))]);
        let got = store(client)
            .get("porter-l2-198-51-100-10")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.version, "42");
        assert_eq!(got.record, record());
        assert_eq!(server.await.unwrap(), 1);
    }

    #[tokio::test]
    async fn get_of_a_missing_lease_is_none() {
        let (client, server) = scripted(vec![Step {
            status: 404,
            ..step("GET", PATH, None, |_| {}, status(404, "NotFound"))
        }]);
        assert_eq!(store(client).get("porter-l2-198-51-100-10").await, Ok(None));
        assert_eq!(server.await.unwrap(), 1);
    }

    #[tokio::test]
    async fn create_posts_the_whole_record_and_conflicts_when_it_exists() {
        let check = |b: &serde_json::Value| {
            assert_eq!(
                *b,
                json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": "porter-l2-198-51-100-10",
                                    "namespace": "porter-system",
                                    "labels": {LEASE_LABEL: "true"}},
                       "spec": {"holderIdentity": "node-a",
                                "acquireTime": "2027-01-15T08:00:00.000001Z",
                                "renewTime": "2027-01-15T08:00:03.500000Z",
                                "leaseDurationSeconds": 4, "leaseTransitions": 2}})
            );
        };
        let post = "/apis/coordination.k8s.io/v1/namespaces/porter-system/leases?";
        let (client, server) = scripted(vec![
            step(
                "POST",
                post,
                Some("application/json"),
                check,
                lease_reply("7"),
            ),
            Step {
                status: 409,
                ..step("POST", post, None, |_| {}, status(409, "AlreadyExists"))
            },
        ]);
        let s = store(client);
        let name = "porter-l2-198-51-100-10";
        assert_eq!(s.create(name, &record()).await, Ok("7".into()));
        assert_eq!(s.create(name, &record()).await, Err(StoreError::Conflict));
        assert_eq!(server.await.unwrap(), 2);
    }

    #[tokio::test]
    async fn replace_puts_with_the_version_read_and_maps_409_to_conflict() {
        let released = LeaseRecord {
            holder: None,
            ..record()
        };
        let put = format!("{PATH}?");
        let (client, server) = scripted(vec![
            step(
                "PUT",
                put.clone(),
                Some("application/json"),
                |b| {
                    assert_eq!(b["metadata"]["resourceVersion"], "42");
                    assert_eq!(b["metadata"]["namespace"], "porter-system");
                    assert!(b["spec"].get("holderIdentity").is_none(), "{b}");
                    assert_eq!(b["spec"]["leaseTransitions"], 2);
                },
                lease_reply("43"),
            ),
            Step {
                status: 409,
                ..step("PUT", put.clone(), None, |_| {}, status(409, "Conflict"))
            },
            Step {
                status: 500,
                ..step("PUT", put, None, |_| {}, status(500, "InternalError"))
            },
        ]);
        let s = store(client);
        let name = "porter-l2-198-51-100-10";
        assert_eq!(s.replace(name, &released, "42").await, Ok("43".into()));
        assert_eq!(
            s.replace(name, &record(), "42").await,
            Err(StoreError::Conflict)
        );
        assert!(matches!(
            s.replace(name, &record(), "43").await,
            Err(StoreError::Other(_))
        ));
        assert_eq!(server.await.unwrap(), 3);
    }

    #[test]
    fn odd_specs_read_safely() {
        let spec = LeaseSpec {
            holder_identity: Some(String::new()),
            lease_duration_seconds: Some(-3),
            lease_transitions: Some(-1),
            ..LeaseSpec::default()
        };
        assert_eq!(
            record_from_spec(&spec, 4),
            LeaseRecord {
                holder: None,
                acquire_time: None,
                renew_time: None,
                lease_duration_seconds: 4,
                lease_transitions: 0,
            }
        );
        let big = LeaseRecord {
            lease_transitions: u32::MAX,
            ..record()
        };
        assert_eq!(spec_from_record(&big).lease_transitions, Some(i32::MAX));
    }

    #[test]
    fn written_times_read_back_equal() {
        let r = LeaseRecord {
            renew_time: Some(SystemTime::UNIX_EPOCH + Duration::new(1_800_000_000, 123_456_789)),
            ..record()
        };
        let back = record_from_spec(&spec_from_record(&r), 4);
        assert_eq!(
            back.renew_time,
            Some(SystemTime::UNIX_EPOCH + Duration::new(1_800_000_000, 123_456_000))
        );
        assert_eq!(
            record_from_spec(&spec_from_record(&back), 4),
            back,
            "a second round trip changes nothing"
        );
    }
}
