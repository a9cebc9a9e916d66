//! The leader's Eip controller: status and conditions, and deletion held while in use.
//!
//! Apply writes `status` (usage, poolSize, used, firstIP, lastIP, v4, conditions) by
//! server-side apply, only when it differs from what the object shows. Cleanup (the Eip is
//! being deleted) succeeds only when no Service holds an address of the pool; until then
//! the finalizer stays, the pool gives out nothing new, and the Eip's Ready condition and a
//! Warning Event name the Services that hold it: never a silent renumbering.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::{Resource, ResourceExt};
use porter_crds::eip::Protocol;
use porter_crds::{annotations, Eip, EipStatus};
use tracing::warn;

use super::service::LeaderCtx;
use super::status::{condition, eip_status, pool_holders, EipView, READY, VALID};
use super::{remove_finalizer, Error, EIP_FINALIZER, FIELD_MANAGER};
use crate::telemetry::PoolLabels;

/// Reconciles one Eip.
pub async fn reconcile(eip: Arc<Eip>, ctx: Arc<LeaderCtx>) -> Result<Action, Error> {
    let api = Api::<Eip>::all(ctx.client.clone());
    ctx.refresh_pools();
    finalizer(&api, EIP_FINALIZER, eip, |event| async {
        match event {
            Finalizer::Apply(eip) => {
                // Taking over from OpenELB: its IPAM finalizer would hold the Eip forever.
                remove_finalizer(&api, eip.as_ref(), annotations::OPENELB_IPAM_FINALIZER).await?;
                write_status(&api, &eip, &ctx).await?;
                Ok(Action::requeue(Duration::from_secs(3600)))
            }
            Finalizer::Cleanup(eip) => {
                let holders = {
                    let ipam = ctx.ipam.lock().unwrap_or_else(|p| p.into_inner());
                    pool_holders(&ipam, &eip.name_any())
                };
                write_status(&api, &eip, &ctx).await?;
                if holders.is_empty() {
                    remove_finalizer(&api, eip.as_ref(), annotations::OPENELB_IPAM_FINALIZER)
                        .await?;
                    ctx.metrics.pool_size.remove(&labels(&eip));
                    ctx.metrics.pool_used.remove(&labels(&eip));
                    return Ok(Action::await_change());
                }
                let holders = holders
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                let ev = Event {
                    type_: EventType::Warning,
                    reason: "DeletionBlocked".into(),
                    note: Some(format!(
                        "deletion waits until these Services release their addresses: {holders}"
                    )),
                    action: "Delete".into(),
                    secondary: None,
                };
                if let Err(e) = ctx.recorder.publish(&ev, &eip.object_ref(&())).await {
                    warn!(error = %e, "cannot publish an Event");
                }
                Err(Error::EipInUse {
                    eip: eip.name_any(),
                    holders,
                })
            }
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Retry policy: an Eip in use is checked again every 10 s (a release also wakes it); a
/// conflicting write sooner.
pub fn error_policy(_eip: Arc<Eip>, err: &Error, ctx: Arc<LeaderCtx>) -> Action {
    ctx.metrics.reconcile_errors("eip");
    if err.is_conflict() {
        return Action::requeue(super::service::RETRY_CONFLICT);
    }
    Action::requeue(Duration::from_secs(10))
}

fn labels(eip: &Eip) -> PoolLabels {
    PoolLabels {
        pool: eip.name_any(),
    }
}

/// The status `eip` should show now.
pub fn desired_status(eip: &Eip, ctx: &LeaderCtx) -> EipStatus {
    let current = eip
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let now = k8s_openapi::jiff::Timestamp::now();
    if eip.spec.protocol == Protocol::Vip {
        let msg = "protocol vip (keepalived) is not implemented by porter; use bgp or layer2";
        return EipStatus {
            conditions: vec![
                condition(
                    current,
                    READY,
                    false,
                    "Invalid",
                    msg.into(),
                    eip.metadata.generation,
                    now,
                ),
                condition(
                    current,
                    VALID,
                    false,
                    "Unsupported",
                    msg.into(),
                    eip.metadata.generation,
                    now,
                ),
            ],
            ..EipStatus::default()
        };
    }
    let ipam = ctx.ipam.lock().unwrap_or_else(|p| p.into_inner());
    eip_status(
        &ipam,
        &EipView {
            name: &eip.name_any(),
            generation: eip.metadata.generation,
            deleting: eip.meta().deletion_timestamp.is_some(),
            current,
        },
        now,
    )
}

async fn write_status(api: &Api<Eip>, eip: &Eip, ctx: &LeaderCtx) -> Result<(), Error> {
    let status = desired_status(eip, ctx);
    ctx.metrics
        .pool_size
        .get_or_create(&labels(eip))
        .set(i64::try_from(status.pool_size).unwrap_or(i64::MAX));
    ctx.metrics
        .pool_used
        .get_or_create(&labels(eip))
        .set(i64::try_from(status.usage).unwrap_or(i64::MAX));
    if eip.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let patch = serde_json::json!({
        "apiVersion": porter_crds::API_VERSION,
        "kind": "Eip",
        "metadata": {"name": eip.name_any()},
        "status": status,
    });
    api.patch_status(
        &eip.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}
