//! The porter command line.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use porter::decode::{self, DecodeOptions};

#[derive(Parser)]
#[command(
    name = "porter",
    version,
    about = "Load balancer for bare-metal Kubernetes with its own BGP-4 speaker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The arguments; usage and help say `kubectl porter` when run as the kubectl plugin.
fn parse_args() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let plugin = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .is_some_and(|n| n.starts_with("kubectl-porter"));
    if !plugin {
        return Cli::parse();
    }
    let matches = Cli::command().bin_name("kubectl porter").get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[derive(Subcommand)]
enum Command {
    /// Decode BGP messages (raw bytes, or hex with --hex) and print each as a JSON line.
    ///
    /// Exits 1 when a message is malformed, printing the NOTIFICATION a speaker would send.
    Decode {
        /// File to read; standard input when absent or "-".
        file: Option<PathBuf>,
        /// The input is hex text (whitespace, 0x, ':' and '#' comments are ignored).
        #[arg(long)]
        hex: bool,
        /// Read AS numbers as 2 octets (a session without the 4-octet AS capability).
        #[arg(long)]
        two_octet_as: bool,
        /// NLRI of this family carry ADD-PATH path identifiers (ipv4-unicast, ipv6-unicast);
        /// repeatable.
        #[arg(long, value_parser = parse_family)]
        add_path: Vec<bgp_wire::Family>,
        /// Allow messages of up to 65535 bytes (RFC 8654 extended messages).
        #[arg(long)]
        extended_message: bool,
    },
    /// Kubernetes mode: allocate Service addresses, run the speaker, write CRD status.
    Manager(porter::controller::cli::ManagerArgs),
    /// Show every node's BGP sessions, every Service's addresses and advertisement, and every
    /// pool's usage, from the cluster (as kubectl finds it) or a standalone speaker (--from).
    ///
    /// Exits 3 when a selected session (all, or --node/--peer) is not Established, 1 when
    /// the source cannot be read. Also runs as `kubectl porter status` when installed as
    /// `kubectl-porter` on PATH (a copy or symlink of this binary).
    Status(porter::overview::cli::StatusArgs),
    /// Run without Kubernetes: read BgpConf, BgpPeer, Eip and v1 Service objects from a YAML
    /// file, allocate addresses and announce them over BGP.
    ///
    /// FILE is re-read on SIGHUP (at once: send it when the file is complete) and when its
    /// content changes (polled every second); the difference is applied. A
    /// FILE that is not valid at start exits with code 2; on a reload the error is logged and
    /// the running state kept. SIGTERM or SIGINT closes every session (Cease) and exits 0.
    Standalone {
        /// The configuration file (multi-document YAML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// This node's name, matched by BgpPeer nodeSelectors as the
        /// `kubernetes.io/hostname` label. Default: the host name.
        #[arg(long, value_name = "NAME")]
        node_name: Option<String>,
        /// An address of this node (repeatable): the BGP identifier when BgpConf has no
        /// routerId (the first IPv4 one), and the next hop for VIPs of the family the BGP
        /// session is not (an IPv6 VIP over an IPv4 session).
        #[arg(long = "node-address", value_name = "IP")]
        node_addresses: Vec<std::net::IpAddr>,
        /// Serve /metrics, /healthz, /readyz and /status on this address (e.g. 127.0.0.1:9443).
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
        /// Log filter: a level (error, warn, info, debug, trace) or tracing directives
        /// (`info,porter::speaker=debug`). Default: RUST_LOG, else info.
        #[arg(long, value_name = "LEVEL")]
        log_level: Option<String>,
        /// The spec.loadBalancerClass that hands a Service to porter (besides the
        /// lb.kubesphere.io/v1alpha1 annotation).
        #[arg(long, value_name = "CLASS", default_value = porter::standalone::model::DEFAULT_LOAD_BALANCER_CLASS)]
        load_balancer_class: String,
        /// On stop, keep announcing with the GRACEFUL_SHUTDOWN community (RFC 8326) this many
        /// seconds before closing the sessions.
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        shutdown_drain: u64,
    },
    /// Print the CRDs (Eip, BgpConf, BgpPeer) as multi-document YAML, for kubectl apply.
    Crds,
    /// Print another load balancer's configuration as porter objects (YAML on standard
    /// output, with a `#` comment on every field that could not be carried over).
    ///
    /// Exits 0 when everything was carried over, 2 when something was not (the output is
    /// still written), 1 when the input cannot be read or is not valid.
    Import {
        #[command(subcommand)]
        from: ImportFrom,
    },
}

#[derive(Subcommand)]
enum ImportFrom {
    /// MetalLB's custom resources (metallb.io: IPAddressPool, L2Advertisement,
    /// BGPAdvertisement, BGPPeer v1beta1/v1beta2, BFDProfile, Community), e.g. the output of
    /// `kubectl get -n metallb-system ipaddresspools,l2advertisements,bgpadvertisements,bgppeers,bfdprofiles,communities -o yaml`.
    Metallb {
        /// Multi-document YAML files ("-" for standard input); v1 Secrets among them are read
        /// for BGPPeer passwordSecret.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

fn parse_family(s: &str) -> Result<bgp_wire::Family, String> {
    match s {
        "ipv4-unicast" => Ok(bgp_wire::Family::IPV4_UNICAST),
        "ipv6-unicast" => Ok(bgp_wire::Family::IPV6_UNICAST),
        _ => Err(format!(
            "unknown family '{s}' (ipv4-unicast or ipv6-unicast)"
        )),
    }
}

fn main() -> ExitCode {
    let cli = parse_args();
    match cli.command {
        Command::Manager(args) => porter::controller::cli::main(args),
        Command::Status(args) => porter::overview::cli::main(args),
        Command::Crds => {
            print!("{}", porter_crds::crd_yaml());
            ExitCode::SUCCESS
        }
        Command::Import {
            from: ImportFrom::Metallb { files },
        } => import_metallb(&files),
        Command::Standalone {
            config,
            node_name,
            node_addresses,
            http,
            log_level,
            load_balancer_class,
            shutdown_drain,
        } => {
            if let Err(e) = porter::telemetry::init_logging(log_level.as_deref()) {
                eprintln!("porter standalone: --log-level: {e}");
                return ExitCode::from(2);
            }
            let node_name = match node_name.map_or_else(hostname, Ok) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("porter standalone: {e}; pass --node-name");
                    return ExitCode::from(2);
                }
            };
            let args = porter::standalone::Args {
                config,
                node_name,
                node_addresses,
                http,
                options: porter::standalone::model::Options {
                    load_balancer_class,
                },
                shutdown_drain: std::time::Duration::from_secs(shutdown_drain),
                poll_interval: std::time::Duration::from_secs(1),
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("porter standalone: cannot start the async runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            match runtime.block_on(porter::standalone::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("porter standalone: {e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
        Command::Decode {
            file,
            hex,
            two_octet_as,
            add_path,
            extended_message,
        } => {
            let mut input = Vec::new();
            let read = match file.as_deref() {
                None => std::io::stdin().read_to_end(&mut input).map(|_| ()),
                Some(p) if p.as_os_str() == "-" => {
                    std::io::stdin().read_to_end(&mut input).map(|_| ())
                }
                Some(p) => std::fs::read(p).map(|b| input = b),
            };
            if let Err(e) = read {
                eprintln!("porter decode: cannot read input: {e}");
                return ExitCode::from(2);
            }
            if hex {
                match decode::parse_hex(&String::from_utf8_lossy(&input)) {
                    Ok(b) => input = b,
                    Err(e) => {
                        eprintln!("porter decode: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            let opts = DecodeOptions {
                hex,
                two_octet_as,
                add_path,
                extended_message,
            };
            match decode::run(&input, &opts, &mut std::io::stdout().lock()) {
                Ok(0) => ExitCode::SUCCESS,
                Ok(_) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("porter decode: cannot write output: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn import_metallb(files: &[PathBuf]) -> ExitCode {
    use porter::import::{Input, EXIT_INVALID};
    let mut inputs = Vec::new();
    for path in files {
        let read = if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).map(|_| bytes)
        } else {
            std::fs::read(path)
        };
        match read {
            Ok(bytes) => inputs.push(Input {
                name: if path.as_os_str() == "-" {
                    "standard input".to_owned()
                } else {
                    path.display().to_string()
                },
                bytes,
            }),
            Err(e) => {
                eprintln!("porter import metallb: cannot read {}: {e}", path.display());
                return ExitCode::from(EXIT_INVALID);
            }
        }
    }
    match porter::import::metallb::import(&inputs) {
        Ok(output) => {
            print!("{}", output.to_yaml());
            eprint!("porter import metallb: {}", output.summary());
            ExitCode::from(output.exit_code())
        }
        Err(errors) => {
            eprintln!("porter import metallb: the input cannot be imported:\n{errors}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// The host name, lower-cased as Kubernetes node names are.
fn hostname() -> Result<String, String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|n| n.trim().to_lowercase())
        .filter(|n| !n.is_empty());
    name.ok_or_else(|| "cannot determine the host name".to_owned())
}
