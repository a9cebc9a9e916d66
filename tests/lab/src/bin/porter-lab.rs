//! `porter-lab`: command-line entry to the lab (placeholder until the capture command lands).

fn main() {
    eprintln!("usage: porter-lab capture OUTDIR");
    std::process::exit(2);
}
