//! The responders of one replica: one [`Responder`] per `spec.interface` in use, each with
//! the set of addresses it answers for. Both modes use it: standalone mode owns every
//! address of its layer-2 Services ([`Responders::apply`]); Kubernetes mode lets one
//! election per address insert and remove it ([`Responders::ensure`] and
//! [`Responders::owned`]).
//!
//! The owned set of an interface outlives its responder: when the responder ends (the
//! interface was deleted or replaced), the next [`Responders::ensure`] starts a new one on
//! the same set, and the elections writing into it never notice.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;
use tracing::{info, warn};

use super::interface::InterfaceSpec;
use super::responder::{Responder, ResponderConfig};
use crate::telemetry::Metrics;

/// What `/status` shows per `spec.interface`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceStatus {
    /// The interface it resolved to (`can_reach:` resolves through the kernel's route).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// Addresses answered for.
    pub ips: BTreeSet<IpAddr>,
    /// Why nothing answers, when something is wrong (`lo`, no such interface, privileges).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One `spec.interface`: its owned set and, when it could start, its responder.
struct Entry {
    owned: watch::Sender<BTreeSet<IpAddr>>,
    responder: Result<Responder, String>,
}

/// The responders of one replica, keyed by `spec.interface` as written in the Eip.
pub struct Responders {
    config: ResponderConfig,
    metrics: Arc<Metrics>,
    entries: BTreeMap<String, Entry>,
}

impl Responders {
    /// No responders yet; `config` names this node and sets the announcements.
    pub fn new(config: ResponderConfig, metrics: Arc<Metrics>) -> Self {
        Responders {
            config,
            metrics,
            entries: BTreeMap::new(),
        }
    }

    /// Standalone mode: brings the responders to `want` (interface spec → addresses), all
    /// of them owned. New interfaces get a responder, changed sets are handed over (newly
    /// owned addresses are announced with gratuitous ARP / unsolicited NA), interfaces no
    /// longer named stop answering.
    pub async fn apply(&mut self, want: &BTreeMap<String, BTreeSet<IpAddr>>) {
        self.ensure(want.keys().map(String::as_str)).await;
        for (spec, ips) in want {
            if let Some(e) = self.entries.get(spec) {
                e.owned.send_replace(ips.clone());
            }
        }
    }

    /// Keeps one responder for each of `specs`: starts the missing ones, starts again those
    /// that ended or could not start (the interface may be back), stops the others. An
    /// entry is kept even when its responder cannot start, with the reason.
    pub async fn ensure<'a>(&mut self, specs: impl IntoIterator<Item = &'a str>) {
        let specs: BTreeSet<&str> = specs.into_iter().collect();
        let gone: Vec<String> = self
            .entries
            .keys()
            .filter(|k| !specs.contains(k.as_str()))
            .cloned()
            .collect();
        for spec in gone {
            if let Some(Entry {
                responder: Ok(r), ..
            }) = self.entries.remove(&spec)
            {
                if let Err(e) = r.stop().await {
                    warn!(interface = %spec, "layer 2: responder ended with an error: {e}");
                }
                info!(interface = %spec, "layer 2: stopped answering");
            }
        }
        for spec in specs {
            let entry = self
                .entries
                .entry(spec.to_owned())
                .or_insert_with(|| Entry {
                    owned: watch::channel(BTreeSet::new()).0,
                    responder: Err("not started".into()),
                });
            if entry.responder.as_ref().is_ok_and(Responder::is_running) {
                continue;
            }
            let previous = std::mem::replace(&mut entry.responder, Err(String::new()));
            let old_error = match previous {
                Ok(ended) => Some(match ended.stop().await {
                    Ok(()) => "responder ended".to_owned(),
                    Err(e) => e.to_string(),
                }),
                Err(e) => Some(e),
            };
            entry.responder = start(spec, &entry.owned, &self.config, &self.metrics);
            match &entry.responder {
                Ok(r) => {
                    info!(interface = %spec, resolved = %r.interface().name, "layer 2: answering ARP/NDP");
                }
                // Tried again on every pass: say it once per distinct reason.
                Err(e) if old_error.as_ref() != Some(e) => warn!(interface = %spec, "layer 2: {e}"),
                Err(_) => {}
            }
        }
    }

    /// The owned set of `spec` (after [`ensure`](Self::ensure) named it): whoever owns an
    /// address inserts it, and the responder answers for it while its interface works.
    pub fn owned(&self, spec: &str) -> Option<watch::Sender<BTreeSet<IpAddr>>> {
        self.entries.get(spec).map(|e| e.owned.clone())
    }

    /// The interface `spec` answers on, or why it cannot answer.
    pub fn interface(&self, spec: &str) -> Result<String, String> {
        match self.entries.get(spec).map(|e| &e.responder) {
            Some(Ok(r)) if r.is_running() => Ok(r.interface().name.clone()),
            Some(Ok(r)) => Err(format!("the responder on {} ended", r.interface().name)),
            Some(Err(e)) => Err(e.clone()),
            None => Err("not in use".into()),
        }
    }

    /// Per interface: what it resolved to, which addresses it answers for, and any error.
    pub fn status(&self) -> BTreeMap<String, InterfaceStatus> {
        self.entries
            .iter()
            .map(|(spec, e)| {
                let (resolved, error) = match self.interface(spec) {
                    Ok(name) => (Some(name), None),
                    Err(e) => (None, Some(e)),
                };
                let st = InterfaceStatus {
                    resolved,
                    ips: e.owned.borrow().clone(),
                    error,
                };
                (spec.clone(), st)
            })
            .collect()
    }

    /// Stops every responder.
    pub async fn stop(&mut self) {
        self.ensure([]).await;
    }
}

fn start(
    spec: &str,
    owned: &watch::Sender<BTreeSet<IpAddr>>,
    config: &ResponderConfig,
    metrics: &Arc<Metrics>,
) -> Result<Responder, String> {
    let parsed: InterfaceSpec = spec.parse().map_err(|e| format!("{e}"))?;
    let interface = parsed.resolve().map_err(|e| e.to_string())?;
    Responder::start(
        interface,
        owned.subscribe(),
        config.clone(),
        metrics.clone(),
    )
    .map_err(|e| e.to_string())
}
