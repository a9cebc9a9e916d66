//! Where `porter status` reads from: the cluster (as kubectl would) or a standalone speaker's
//! `/status` document.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use k8s_openapi::api::core::v1::Service;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, Resource};
use porter_crds::bgp_peer::NodePeerStatus;
use porter_crds::{BgpPeer, Eip, EipStatus};
use serde::Deserialize;

use super::{peer_row, pool_row, service_rows, NodeAdvert, Overview, PoolRow, ServiceRow};

/// Where to read from.
pub enum Source {
    /// The cluster of a kubeconfig.
    Cluster {
        client: Client,
        /// `spec.loadBalancerClass` porter serves (the manager's `--load-balancer-class`).
        class: String,
    },
    /// A standalone speaker's HTTP endpoint (`--http` of `porter standalone`).
    Standalone { client: Client, url: String },
}

impl Source {
    /// The cluster of `kubeconfig` (else `KUBECONFIG`, `~/.kube/config`, or the in-cluster
    /// service account, as kubectl finds it), in `context` when given.
    pub async fn cluster(
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
        class: String,
    ) -> Result<Source> {
        let options = KubeConfigOptions {
            context,
            ..KubeConfigOptions::default()
        };
        let config = match kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(&path)
                    .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
                Config::from_custom_kubeconfig(kc, &options).await?
            }
            None if options.context.is_some() => Config::from_kubeconfig(&options).await?,
            None => Config::infer()
                .await
                .context("no cluster found (set KUBECONFIG or --kubeconfig, or use --from)")?,
        };
        let client = Client::try_from(config)?;
        Ok(Source::Cluster { client, class })
    }

    /// A standalone speaker at `url` (`http://ADDR[:PORT]`).
    pub fn standalone(url: &str) -> Result<Source> {
        let parsed = url
            .parse()
            .map_err(|e| anyhow!("--from {url}: not a URL ({e})"))?;
        let client = Client::try_from(Config::new(parsed))?;
        Ok(Source::Standalone {
            client,
            url: url.to_owned(),
        })
    }

    /// Reads everything once.
    pub async fn read(&self) -> Result<Overview> {
        match self {
            Source::Cluster { client, class } => read_cluster(client, class).await,
            Source::Standalone { client, url } => {
                let request = axum::http::Request::get("/status")
                    .body(Vec::new())
                    .context("building the request")?;
                let text = client
                    .request_text(request)
                    .await
                    .with_context(|| format!("GET {url}/status"))?;
                from_standalone_json(&text)
                    .with_context(|| format!("{url}/status is not porter's status document"))
            }
        }
    }
}

async fn read_cluster(client: &Client, class: &str) -> Result<Overview> {
    let lp = ListParams::default();
    let peers = list(Api::<BgpPeer>::all(client.clone()), &lp).await?;
    let eips = list(Api::<Eip>::all(client.clone()), &lp).await?;
    let services = list(Api::<Service>::all(client.clone()), &lp).await?;
    let mut pools: Vec<PoolRow> = eips.iter().map(pool_row).collect();
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Overview {
        peers: super::peer_rows(&peers),
        services: service_rows(&services, &eips, class),
        pools,
    })
}

/// Lists every object of a kind, saying what to do when the kind is missing or forbidden.
async fn list<K>(api: Api<K>, lp: &ListParams) -> Result<Vec<K>>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let plural = K::plural(&());
    match api.list(lp).await {
        Ok(list) => Ok(list.items),
        Err(kube::Error::Api(e)) if e.code == 404 => Err(anyhow!(
            "the API server has no {plural}.{}: porter's CRDs are not installed \
             (kubectl apply -k deploy/, or install the Helm chart)",
            K::group(&())
        )),
        Err(kube::Error::Api(e)) if e.code == 403 => Err(anyhow!(
            "not allowed to list {plural}: {} (porter status needs get/list on bgppeers, \
             eips and services)",
            e.message
        )),
        Err(e) => Err(anyhow!("listing {plural}: {e}")),
    }
}

/// The parts of a standalone speaker's `/status` that `porter status` shows.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StandaloneStatus {
    node: String,
    #[serde(default)]
    bgp_peers: BTreeMap<String, NodePeerStatus>,
    #[serde(default)]
    eips: BTreeMap<String, EipStatus>,
    #[serde(default)]
    services: BTreeMap<String, StandaloneService>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StandaloneService {
    #[serde(default)]
    ips: Vec<String>,
    #[serde(default)]
    pools: Vec<String>,
    #[serde(default)]
    protocols: Vec<String>,
    error: Option<String>,
    ignored: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    advertised: Vec<Advertised>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Advertised {
    peer: String,
    #[serde(default)]
    next_hops: Vec<String>,
}

fn from_standalone(doc: StandaloneStatus) -> Overview {
    let node = doc.node;
    let peers = doc
        .bgp_peers
        .iter()
        .map(|(name, s)| peer_row(&node, name, s))
        .collect();
    let services = doc
        .services
        .into_iter()
        .filter(|(_, s)| s.ignored.is_none())
        .map(|(name, s)| {
            let mut peers: Vec<&str> = s.advertised.iter().map(|a| a.peer.as_str()).collect();
            peers.sort_unstable();
            peers.dedup();
            let mut hops: Vec<&str> = s
                .advertised
                .iter()
                .flat_map(|a| a.next_hops.iter().map(String::as_str))
                .collect();
            hops.sort_unstable();
            hops.dedup();
            let layer2 = s.protocols.iter().any(|p| p == "layer2");
            let (ok, reason, message) = if layer2 {
                (
                    true,
                    "Answering",
                    "answered by ARP/NDP from this node".to_owned(),
                )
            } else if peers.is_empty() {
                (false, "NoEstablishedPeer", "no established peer".to_owned())
            } else {
                let hops = if hops.is_empty() {
                    "self".to_owned()
                } else {
                    hops.join(", ")
                };
                (
                    true,
                    "Advertised",
                    format!("to {} with next hops {hops}", peers.join(", ")),
                )
            };
            let nodes = if s.ips.is_empty() {
                Vec::new()
            } else {
                vec![NodeAdvert {
                    node: node.clone(),
                    ok,
                    reason: reason.to_owned(),
                    message,
                }]
            };
            let problem = s
                .error
                .or_else(|| (!s.warnings.is_empty()).then(|| s.warnings.join("; ")));
            ServiceRow {
                name,
                addresses: s.ips,
                pools: s.pools,
                nodes,
                problem,
            }
        })
        .collect();
    let pools = doc
        .eips
        .into_iter()
        .map(|(name, s)| PoolRow {
            name,
            protocol: String::new(),
            address: match (&s.first_ip, &s.last_ip) {
                (Some(f), Some(l)) if f == l => f.clone(),
                (Some(f), Some(l)) => format!("{f}-{l}"),
                _ => String::new(),
            },
            used: s.usage,
            size: s.pool_size,
            problems: super::condition_problems(&s.conditions),
        })
        .collect();
    Overview {
        peers,
        services,
        pools,
    }
}

/// The overview of a standalone speaker's `/status` document.
pub fn from_standalone_json(text: &str) -> serde_json::Result<Overview> {
    serde_json::from_str(text).map(from_standalone)
}
