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
    let cli = Cli::parse();
    match cli.command {
        Command::Manager(args) => porter::controller::cli::main(args),
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
