//! Layer-2 Eips in standalone mode: one ARP/NDP responder per interface, answering for every
//! address of the Services in layer-2 pools on it. A standalone instance is alone, so it
//! owns all of them (no election).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::layer2::interface::InterfaceSpec;
use crate::layer2::responder::{Responder, ResponderConfig};
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

struct Running {
    owned: watch::Sender<BTreeSet<IpAddr>>,
    responder: Responder,
}

/// The responders of one standalone instance.
pub struct Layer2 {
    node: String,
    metrics: Arc<Metrics>,
    running: BTreeMap<String, Running>,
    status: BTreeMap<String, InterfaceStatus>,
}

impl Layer2 {
    /// No responders yet.
    pub fn new(node: &str, metrics: Arc<Metrics>) -> Self {
        Layer2 {
            node: node.to_owned(),
            metrics,
            running: BTreeMap::new(),
            status: BTreeMap::new(),
        }
    }

    /// Brings the responders to `want` (interface spec → addresses): new interfaces get a
    /// responder, changed sets are handed over (newly owned addresses are announced with
    /// gratuitous ARP / unsolicited NA), interfaces no longer named stop answering.
    pub async fn apply(&mut self, want: &BTreeMap<String, BTreeSet<IpAddr>>) {
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|k| !want.contains_key(*k))
            .cloned()
            .collect();
        for spec in gone {
            if let Some(r) = self.running.remove(&spec) {
                drop(r.owned);
                let _ = r.responder.stop().await;
                info!(interface = %spec, "layer 2: stopped answering");
            }
        }
        self.status.retain(|k, _| want.contains_key(k));
        for (spec, ips) in want {
            if let Some(r) = self.running.get(spec) {
                if r.responder.is_running() {
                    r.owned.send_replace(ips.clone());
                    let st = self.status.entry(spec.clone()).or_default();
                    st.ips = ips.clone();
                    continue;
                }
                // it ended (interface deleted or replaced): start again below
                self.running.remove(spec);
            }
            let mut st = InterfaceStatus {
                ips: ips.clone(),
                ..Default::default()
            };
            match self.start(spec, ips) {
                Ok(r) => {
                    st.resolved = Some(r.responder.interface().name.clone());
                    info!(interface = %spec, resolved = %r.responder.interface().name, count = ips.len(), "layer 2: answering ARP/NDP");
                    self.running.insert(spec.clone(), r);
                }
                Err(e) => {
                    warn!(interface = %spec, "layer 2: {e}");
                    st.error = Some(e);
                }
            }
            self.status.insert(spec.clone(), st);
        }
    }

    fn start(&self, spec: &str, ips: &BTreeSet<IpAddr>) -> Result<Running, String> {
        let parsed: InterfaceSpec = spec.parse().map_err(|e| format!("{e}"))?;
        let interface = parsed.resolve().map_err(|e| e.to_string())?;
        let (owned, rx) = watch::channel(ips.clone());
        let responder = Responder::start(
            interface,
            rx,
            ResponderConfig::new(self.node.clone()),
            self.metrics.clone(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Running { owned, responder })
    }

    /// Per interface: what it resolved to, which addresses, and any error.
    pub fn status(&self) -> BTreeMap<String, InterfaceStatus> {
        self.status.clone()
    }

    /// Stops every responder.
    pub async fn stop(&mut self) {
        self.apply(&BTreeMap::new()).await;
    }
}
