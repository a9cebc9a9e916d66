//! The `porter status` command line (also `kubectl porter status` through a `kubectl-porter`
//! name or symlink: kubectl runs any `kubectl-*` program on PATH as a plugin).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::table::Tables;
use super::{Filter, Overview, Source};
use crate::controller::DEFAULT_CLASS;

/// Exit status when a selected session is not Established.
pub const EXIT_NOT_ESTABLISHED: u8 = 3;

/// Arguments of `porter status`.
#[derive(Clone, Debug, clap::Args)]
pub struct StatusArgs {
    /// What to show.
    #[arg(value_enum, default_value = "all")]
    pub which: Tables,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,
    /// Print again every --interval seconds until interrupted.
    #[arg(short, long)]
    pub watch: bool,
    /// Seconds between two prints with --watch.
    #[arg(long, default_value_t = 2.0, value_parser = positive_seconds)]
    pub interval: f64,
    /// Only this node's sessions and advertisements.
    #[arg(long)]
    pub node: Option<String>,
    /// Only this BgpPeer's sessions.
    #[arg(long)]
    pub peer: Option<String>,
    /// Read a standalone speaker's /status (its --http address) instead of the cluster,
    /// e.g. http://127.0.0.1:9443.
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,
    /// kubeconfig file; default as kubectl finds it (KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context.
    #[arg(long)]
    pub context: Option<String>,
    /// The manager's --load-balancer-class: which classed Services are porter's.
    #[arg(long, default_value = DEFAULT_CLASS)]
    pub load_balancer_class: String,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.1 => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds ≥ 0.1")),
    }
}

/// Runs `porter status`: 0 when every selected session is Established,
/// [`EXIT_NOT_ESTABLISHED`] when one is not, 1 when the source cannot be read.
pub fn main(args: StatusArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("porter status: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: StatusArgs) -> ExitCode {
    let source = match &args.from {
        Some(url) => Source::standalone(url),
        None => {
            Source::cluster(
                args.kubeconfig.clone(),
                args.context.clone(),
                args.load_balancer_class.clone(),
            )
            .await
        }
    };
    let source = match source {
        Ok(s) => s,
        Err(e) => {
            eprintln!("porter status: {e:#}");
            return ExitCode::from(1);
        }
    };
    let filter = Filter {
        node: args.node.clone(),
        peer: args.peer.clone(),
    };
    let terminal = std::io::stdout().is_terminal();
    let mut code;
    loop {
        code = match source.read().await {
            Ok(o) => {
                let o = o.filtered(&filter);
                let mut text = String::new();
                if args.watch && terminal {
                    // Clear the screen and go home, as `watch` does.
                    text.push_str("\x1b[2J\x1b[H");
                }
                if args.watch && args.output == Format::Table {
                    text.push_str(&format!("{}\n\n", Timestamp::now()));
                }
                match print(&o, &args, &mut text) {
                    Ok(()) => {}
                    Err(e) => {
                        eprintln!("porter status: {e}");
                        return ExitCode::from(1);
                    }
                }
                let mut stdout = std::io::stdout().lock();
                if stdout
                    .write_all(text.as_bytes())
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    // A closed pipe (`| head`): nothing more to say.
                    return ExitCode::SUCCESS;
                }
                exit_status(&o)
            }
            Err(e) => {
                eprintln!("porter status: {e:#}");
                1
            }
        };
        if !args.watch {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(args.interval)) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    ExitCode::from(code)
}

fn print(o: &Overview, args: &StatusArgs, text: &mut String) -> Result<(), String> {
    match args.output {
        Format::Table => text.push_str(&super::render(o, args.which, Timestamp::now())),
        Format::Json => {
            let v = selected(o, args.which);
            text.push_str(&serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
            text.push('\n');
        }
        Format::Yaml => {
            let v = selected(o, args.which);
            text.push_str(&serde_yaml::to_string(&v).map_err(|e| e.to_string())?);
        }
    }
    Ok(())
}

/// The JSON form of the selected tables.
fn selected(o: &Overview, which: Tables) -> serde_json::Value {
    let v = serde_json::to_value(o).unwrap_or_default();
    match which {
        Tables::All => v,
        Tables::Peers => serde_json::json!({"peers": v["peers"]}),
        Tables::Services => serde_json::json!({"services": v["services"]}),
        Tables::Pools => serde_json::json!({"pools": v["pools"]}),
    }
}

/// 0, or [`EXIT_NOT_ESTABLISHED`] with the sessions named on stderr.
fn exit_status(o: &Overview) -> u8 {
    let down = o.peers_down();
    if down.is_empty() {
        0
    } else {
        eprintln!("porter status: not Established: {}", down.join(", "));
        EXIT_NOT_ESTABLISHED
    }
}
