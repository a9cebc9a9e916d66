//! Packet captures with tcpdump inside a namespace.

use anyhow::Result;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::Netns;
use crate::pcap::{read_flows, Flow};
use crate::process::Daemon;
use crate::tools::{binary, wait_until};

/// A tcpdump writing a pcap file; stopped on drop.
#[derive(Debug)]
pub struct Capture {
    daemon: Daemon,
    file: PathBuf,
}

impl Capture {
    /// Captures on `iface` inside `ns` into `file`, with a BPF `filter` (e.g. `tcp port 179`).
    /// Packets are written as they arrive (`--immediate-mode -U`): without that, tcpdump
    /// loses what is still buffered when it is stopped. Returns once tcpdump is listening.
    pub fn start(ns: &Netns, iface: &str, filter: &str, file: &Path) -> Result<Capture> {
        let log = file.with_extension("tcpdump.log");
        let _ = std::fs::remove_file(&log);
        let mut daemon = Daemon::spawn(
            &format!("tcpdump on {}:{iface}", ns.name()),
            ns.name(),
            &binary("tcpdump")?,
            [
                "--immediate-mode".as_ref(),
                "-U".as_ref(),
                "-n".as_ref(),
                // stay root: the output dir need not be writable by user tcpdump
                "-Z".as_ref(),
                "root".as_ref(),
                "-s".as_ref(),
                "0".as_ref(),
                "-i".as_ref(),
                iface.as_ref(),
                "-w".as_ref(),
                file.as_os_str(),
                filter.as_ref(),
            ],
            &log,
        )?;
        let listening = wait_until(Duration::from_secs(10), "tcpdump listening", || {
            daemon.is_running()
                && std::fs::read_to_string(&log).is_ok_and(|l| l.contains("listening on"))
        });
        if let Err(e) = listening {
            return Err(daemon.failure(&format!("{e:#}"), &[]));
        }
        Ok(Capture {
            daemon,
            file: file.to_path_buf(),
        })
    }

    /// The pcap file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Stops tcpdump (SIGTERM: it flushes and closes the file) and returns the TCP flows.
    pub fn finish(self) -> Result<Vec<Flow>> {
        read_flows(&self.stop()?)
    }

    /// Stops tcpdump (SIGTERM: it flushes and closes the file) and returns the file.
    pub fn stop(mut self) -> Result<PathBuf> {
        // packets written by the kernel just now may still be on their way to tcpdump
        std::thread::sleep(Duration::from_millis(300));
        self.daemon.stop()?;
        Ok(std::mem::take(&mut self.file))
    }
}
