//! Prints porter's CRDs (Eip, BgpConf, BgpPeer) as multi-document YAML, or writes one file per
//! CRD with `--out-dir DIR` (how `deploy/crds/` is regenerated).

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: crdgen [--out-dir DIR]\n  \
    without arguments: print all CRDs to stdout as multi-document YAML\n  \
    --out-dir DIR:     write one file per CRD into DIR (e.g. deploy/crds)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            print!("{}", porter_crds::crd_yaml());
            ExitCode::SUCCESS
        }
        [flag, dir] if flag == "--out-dir" => match write_files(PathBuf::from(dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("crdgen: {e}");
                ExitCode::FAILURE
            }
        },
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn write_files(dir: PathBuf) -> Result<(), String> {
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for (name, yaml) in porter_crds::crd_files() {
        let path = dir.join(name);
        std::fs::write(&path, yaml).map_err(|e| format!("writing {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
