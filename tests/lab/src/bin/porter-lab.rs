//! `porter-lab`: command-line entry to the interop lab.
//!
//! ```text
//! porter-lab capture [OUTDIR]   regenerate golden vectors from BIRD, FRR and gobgpd
//!                               (default OUTDIR: bgp-wire/tests/data/captures; needs root)
//! porter-lab clean              delete namespaces (and their processes) left by an
//!                               interrupted lab run
//! ```

use anyhow::{bail, Result};
use porter_lab::golden::{capture_pairing, Router, Vector};
use porter_lab::{skip_unless_available, Netns, Tool};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("capture") => capture(args.get(1).map(PathBuf::from)),
        Some("clean") => Netns::clean_stale().map(|removed| {
            for n in &removed {
                println!("removed {n}");
            }
            eprintln!("porter-lab: {} stale namespace(s) removed", removed.len());
        }),
        Some("help" | "-h" | "--help") | None => {
            println!("usage: porter-lab capture [OUTDIR]   (default bgp-wire/tests/data/captures)");
            println!("       porter-lab clean             (remove namespaces of interrupted runs)");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!(
            "unknown command {other:?} (try: porter-lab help)"
        )),
    };
    if let Err(e) = res {
        eprintln!("porter-lab: {e:#}");
        std::process::exit(1);
    }
}

/// Runs the three pairings and writes one `.hex` file per distinct message.
fn capture(out: Option<PathBuf>) -> Result<()> {
    let out = out.unwrap_or_else(|| PathBuf::from("bgp-wire/tests/data/captures"));
    if !skip_unless_available(
        "porter-lab capture",
        &[Tool::Bird, Tool::Frr, Tool::Gobgp, Tool::Tcpdump],
    ) {
        bail!("the lab tools are not available");
    }
    let work = std::env::temp_dir().join(format!("porter-lab-capture-{}", std::process::id()));
    let mut keep: Vec<(String, Vector)> = Vec::new();
    for (a, b, net) in [
        (Router::Bird, Router::Gobgpd, 110),
        (Router::Frr, Router::Gobgpd, 111),
        (Router::Bird, Router::Frr, 112),
    ] {
        eprintln!("porter-lab: capturing {} <-> {}", a.name(), b.name());
        for v in capture_pairing(a, b, net, &work)? {
            // the same bytes from the same router once (KEEPALIVEs, OPENs that do not
            // depend on the peer)
            if keep
                .iter()
                .any(|(_, k)| k.sender == v.sender && k.bytes == v.bytes)
            {
                continue;
            }
            // canonical names: BIRD and FRR against gobgpd, gobgpd against BIRD; messages
            // from other pairings are named after their receiver
            let canonical = matches!(
                (v.sender, v.receiver),
                (Router::Bird | Router::Frr, Router::Gobgpd) | (Router::Gobgpd, Router::Bird)
            );
            let file = if canonical {
                format!("{}.hex", v.stem)
            } else {
                format!("{}-to-{}.hex", v.stem, v.receiver.name())
            };
            keep.push((file, v));
        }
    }
    std::fs::create_dir_all(&out)?;
    for (file, v) in &keep {
        std::fs::write(out.join(file), v.render())?;
        println!("{}", out.join(file).display());
    }
    let _ = std::fs::remove_dir_all(&work);
    eprintln!(
        "porter-lab: wrote {} files to {}",
        keep.len(),
        out.display()
    );
    Ok(())
}
