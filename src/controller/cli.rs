//! The `porter manager` command line.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use super::leader::LeaseTiming;
use super::{Options, DEFAULT_CLASS, LEASE_NAME};
use crate::layer2::ElectionTimings;

/// Arguments of `porter manager`.
#[derive(Clone, Debug, clap::Args)]
pub struct ManagerArgs {
    /// This node's name (downward API `spec.nodeName`).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// Namespace of the leader Lease (downward API `metadata.namespace`).
    #[arg(long, env = "POD_NAMESPACE", default_value = "porter-system")]
    pub namespace: String,
    /// Identity in the leader Lease; the pod name, else the node name.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// `spec.loadBalancerClass` porter serves.
    #[arg(long, default_value = DEFAULT_CLASS)]
    pub load_balancer_class: String,
    /// Also serve LoadBalancer Services that have no class and no OpenELB annotation
    /// (porter as the cluster's default load balancer).
    #[arg(long)]
    pub default_class: bool,
    /// Name of the leader Lease.
    #[arg(long, default_value = LEASE_NAME)]
    pub lease_name: String,
    /// Lease duration, seconds: the longest a dead leader blocks allocation.
    #[arg(long, default_value_t = 15)]
    pub lease_duration: u64,
    /// The leader steps down after failing to renew for this long, seconds.
    #[arg(long, default_value_t = 10)]
    pub renew_deadline: u64,
    /// Retry period of the election, seconds.
    #[arg(long, default_value_t = 2)]
    pub retry_period: u64,
    /// Address of the /metrics, /healthz, /readyz and /status endpoint, `IP:PORT`. An IPv6
    /// address may come without brackets (as `$(HOST_IP):9443` expands from the downward
    /// API): the part after the last colon is the port. Loopback by default: the endpoint is
    /// not authenticated, so it is served on the node's address only when asked (the
    /// Deployment binds it to `status.hostIP`, never to every address of the node).
    #[arg(long, default_value = "127.0.0.1:9443", value_parser = listen_address)]
    pub http: SocketAddr,
    /// Minimum interval between two status writes of one object by this node, seconds.
    #[arg(long, default_value_t = 5)]
    pub status_interval: u64,
    /// On shutdown, announce GRACEFUL_SHUTDOWN (RFC 8326) for this long before closing the
    /// sessions, seconds.
    #[arg(long, default_value_t = 0)]
    pub shutdown_drain: u64,
    /// Layer 2: duration of each address's Lease, whole seconds. A dead owner's address is
    /// taken over within about a second after its Lease expires.
    #[arg(long, default_value_t = 4)]
    pub layer2_lease_duration: u64,
    /// Layer 2: how often each replica reads every address's Lease and the owner renews it,
    /// seconds (fractions allowed).
    #[arg(long, default_value_t = 1.0)]
    pub layer2_retry_period: f64,
    /// Layer 2: an owner that cannot renew stops answering this long before its Lease can
    /// expire, seconds (fractions allowed). Covers clock-rate differences and API latency.
    #[arg(long, default_value_t = 1.0)]
    pub layer2_safety_margin: f64,
    /// Logs as JSON lines.
    #[arg(long)]
    pub json_logs: bool,
}

impl ManagerArgs {
    /// The options these arguments stand for, or why they are inconsistent.
    pub fn options(&self) -> Result<Options, String> {
        if self.node_name.is_empty() {
            return Err("NODE_NAME is empty (set it from the downward API spec.nodeName)".into());
        }
        if !(self.retry_period < self.renew_deadline && self.renew_deadline < self.lease_duration) {
            return Err(format!(
                "need retry period < renew deadline < lease duration, got {} < {} < {}",
                self.retry_period, self.renew_deadline, self.lease_duration
            ));
        }
        let seconds = |what: &str, v: f64| {
            Duration::try_from_secs_f64(v).map_err(|_| format!("{what} {v} is not a duration"))
        };
        let layer2 = ElectionTimings {
            lease_duration: Duration::from_secs(self.layer2_lease_duration),
            retry_period: seconds("--layer2-retry-period", self.layer2_retry_period)?,
            safety_margin: seconds("--layer2-safety-margin", self.layer2_safety_margin)?,
        };
        layer2
            .validate()
            .map_err(|e| format!("layer-2 timings: {e}"))?;
        Ok(Options {
            node_name: self.node_name.clone(),
            namespace: self.namespace.clone(),
            identity: self
                .identity
                .clone()
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| self.node_name.clone()),
            load_balancer_class: self.load_balancer_class.clone(),
            default_class: self.default_class,
            lease_name: self.lease_name.clone(),
            lease: LeaseTiming {
                lease_duration: Duration::from_secs(self.lease_duration),
                renew_deadline: Duration::from_secs(self.renew_deadline),
                retry_period: Duration::from_secs(self.retry_period),
            },
            http: self.http,
            status_interval: Duration::from_secs(self.status_interval.max(1)),
            shutdown_drain: Duration::from_secs(self.shutdown_drain),
            layer2,
        })
    }
}

/// `IP:PORT`, `[IPv6]:PORT`, or an IPv6 address without brackets followed by `:PORT`.
pub fn listen_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(a);
    }
    let bad = || format!("`{text}` is not IP:PORT");
    let (ip, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let ip: std::net::IpAddr = ip.parse().map_err(|_| bad())?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    Ok(SocketAddr::new(ip, port))
}

/// Runs `porter manager`; the exit code says how it ended.
pub fn main(args: ManagerArgs) -> ExitCode {
    if args.json_logs {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    } else {
        // No filter flag here: RUST_LOG, else info, which cannot fail.
        let _ = crate::telemetry::init_logging(None);
    }
    let opts = match args.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("porter manager: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("porter manager: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        // In-cluster service account, else KUBECONFIG / ~/.kube/config.
        let client = kube::Client::try_default()
            .await
            .map_err(|e| anyhow::anyhow!("no Kubernetes client configuration: {e}"))?;
        super::run(opts, client).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("porter manager: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ManagerArgs,
    }

    fn options(extra: &[&str]) -> Result<Options, String> {
        let mut argv = vec!["porter", "--node-name", "n1"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().args.options()
    }

    #[test]
    fn http_listens_on_loopback_unless_given_an_address_ipv6_with_or_without_brackets() {
        assert_eq!(options(&[]).unwrap().http.to_string(), "127.0.0.1:9443");
        for (given, read) in [
            ("10.0.0.5:9443", "10.0.0.5:9443"),
            ("[fd00:1::5]:9443", "[fd00:1::5]:9443"),
            ("fd00:1::5:9443", "[fd00:1::5]:9443"),
        ] {
            let http = options(&["--http", given]).unwrap().http;
            assert_eq!(http.to_string(), read, "{given}");
        }
        for bad in ["9443", ":9443", "node1:9443", "10.0.0.5:99999", "10.0.0.5"] {
            let argv = ["porter", "--node-name", "n1", "--http", bad];
            assert!(Cli::try_parse_from(argv).is_err(), "{bad}");
        }
    }

    #[test]
    fn layer2_defaults_take_over_within_two_seconds_of_expiry() {
        let t = options(&[]).unwrap().layer2;
        assert_eq!(t, ElectionTimings::default());
        // A follower polls once per retry period: the takeover follows the expiry by at
        // most that, plus one API round trip.
        assert!(t.retry_period < Duration::from_secs(2));
    }

    #[test]
    fn layer2_timings_are_settable_and_checked() {
        let t = options(&[
            "--layer2-lease-duration",
            "2",
            "--layer2-retry-period",
            "0.5",
            "--layer2-safety-margin",
            "0.4",
        ])
        .unwrap()
        .layer2;
        assert_eq!(t.lease_duration, Duration::from_secs(2));
        assert_eq!(t.retry_period, Duration::from_millis(500));
        assert_eq!(t.safety_margin, Duration::from_millis(400));
        for bad in [
            "--layer2-safety-margin=4",
            "--layer2-retry-period=0",
            "--layer2-lease-duration=0",
            "--layer2-retry-period=-1",
        ] {
            let e = options(&[bad]).unwrap_err();
            assert!(
                e.contains("layer-2") || e.contains("duration"),
                "{bad:?}: {e}"
            );
        }
    }
}
