//! Finding binaries, deciding whether a test can run, and polling.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often [`wait_until`] polls: short enough that a test sees a BGP event within a
/// keepalive, long enough not to load a busy 2-core machine with `birdc`/`vtysh` calls.
const POLL_INTERVAL: Duration = Duration::from_millis(150);

/// Directories searched after `$PATH`: routing daemons live in sbin directories, which a
/// non-login root shell (cargo test under sudo, CI) often lacks in its `$PATH`.
const EXTRA_DIRS: &[&str] = &["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/lib/frr"];

/// Something a lab test needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// Running as root (network namespaces, port 179) and `ip` (iproute2).
    Root,
    /// BIRD 2: `bird` and `birdc`.
    Bird,
    /// FRR: `zebra`, `bgpd` (in /usr/lib/frr), `vtysh`, and the `frr` user.
    Frr,
    /// gobgpd and its `gobgp` CLI.
    Gobgp,
    /// ExaBGP 4.
    Exabgp,
    /// tcpdump (packet captures).
    Tcpdump,
    /// arping (iputils-arping or the arping package): ARP requests from a client.
    Arping,
    /// ndisc6: IPv6 Neighbor Solicitations from a client.
    Ndisc6,
    /// python3 (small helpers, e.g. a TCP-to-Unix-socket forwarder inside a namespace).
    Python3,
}

impl Tool {
    /// Executables this tool needs.
    fn binaries(self) -> &'static [&'static str] {
        match self {
            Tool::Root => &["ip"],
            Tool::Bird => &["bird", "birdc"],
            Tool::Frr => &["zebra", "bgpd", "vtysh"],
            Tool::Gobgp => &["gobgpd", "gobgp"],
            Tool::Exabgp => &["exabgp"],
            Tool::Tcpdump => &["tcpdump"],
            Tool::Arping => &["arping"],
            Tool::Ndisc6 => &["ndisc6"],
            Tool::Python3 => &["python3"],
        }
    }

    /// Why the tool is unusable, or `None` when it is usable.
    fn missing(self) -> Option<String> {
        if self == Tool::Root && !is_root() {
            return Some("not root (network namespaces need CAP_SYS_ADMIN)".into());
        }
        if self == Tool::Frr && !user_exists("frr") {
            return Some("user 'frr' missing (FRR not installed?)".into());
        }
        let missing: Vec<_> = self
            .binaries()
            .iter()
            .filter(|b| find_binary(b).is_none())
            .copied()
            .collect();
        if missing.is_empty() {
            None
        } else {
            Some(format!("{} not installed", missing.join(", ")))
        }
    }
}

/// Finds an executable in `$PATH` or the sbin / FRR directories.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

/// Like [`find_binary`] but an error naming the binary when absent.
pub(crate) fn binary(name: &str) -> Result<PathBuf> {
    match find_binary(name) {
        Some(p) => Ok(p),
        None => bail!("{name} not found in $PATH or {EXTRA_DIRS:?}"),
    }
}

/// Whether the effective user is root, read from `/proc/self/status` (no libc needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Whether every tool in `tools` (and root) is usable. When not, prints a loud
/// `SKIPPED: <test>: <reason>` line to stderr, naming the running test (its thread name under
/// `cargo test`), and returns false, so a test reads `if !available(&[Tool::Bird]) { return; }`.
/// With `PORTER_LAB_REQUIRE=1` in the environment it panics instead (for CI, where every tool
/// is installed and a skip would hide a broken setup).
pub fn available(tools: &[Tool]) -> bool {
    let test = std::thread::current()
        .name()
        .unwrap_or("lab test")
        .to_string();
    skip_unless_available(&test, tools)
}

/// [`available`] with an explicit test name for the skip message.
pub fn skip_unless_available(test: &str, tools: &[Tool]) -> bool {
    let reasons: Vec<String> = std::iter::once(Tool::Root)
        .chain(tools.iter().copied())
        .filter_map(Tool::missing)
        .collect();
    if reasons.is_empty() {
        return true;
    }
    let mut seen = Vec::new();
    for r in reasons {
        if !seen.contains(&r) {
            seen.push(r);
        }
    }
    let msg = format!(
        "SKIPPED: {test}: {} (install: apt-get install bird2 frr gobgpd exabgp tcpdump iproute2; run as root)",
        seen.join("; ")
    );
    // CI sets this so that a lab test can never pass by skipping
    if std::env::var("PORTER_LAB_REQUIRE").is_ok_and(|v| v == "1") {
        panic!("PORTER_LAB_REQUIRE=1 but {msg}");
    }
    eprintln!("\n*** {msg} ***\n");
    false
}

/// Polls `cond` every ~150 ms until it returns true or `timeout` passes. Returns the time
/// it took, or an error "timed out after …s waiting for: `what`".
pub fn wait_until(
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
) -> Result<Duration> {
    wait_until_ok(timeout, what, || Ok(cond()))
}

/// Like [`wait_until`] for a condition that can fail; a failure counts as "not yet" and the
/// last one is quoted in the timeout error.
pub fn wait_until_ok(
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> Result<bool>,
) -> Result<Duration> {
    let start = Instant::now();
    let mut last_err = None;
    loop {
        match cond() {
            Ok(true) => return Ok(start.elapsed()),
            Ok(false) => {}
            Err(e) => last_err = Some(e),
        }
        if start.elapsed() >= timeout {
            match last_err {
                Some(e) => bail!(
                    "timed out after {:.1}s waiting for: {what} (last error: {e:#})",
                    timeout.as_secs_f64()
                ),
                None => bail!(
                    "timed out after {:.1}s waiting for: {what}",
                    timeout.as_secs_f64()
                ),
            }
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn user_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/passwd")
        .map(|s| s.lines().any(|l| l.split(':').next() == Some(name)))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_until_reports_what_timed_out() {
        let err = wait_until(Duration::from_millis(10), "the moon", || false).unwrap_err();
        assert!(err.to_string().contains("waiting for: the moon"), "{err}");
    }

    #[test]
    fn wait_until_returns_once_true() {
        let mut n = 0;
        wait_until(Duration::from_secs(5), "third poll", || {
            n += 1;
            n == 3
        })
        .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn wait_until_ok_quotes_last_error() {
        let err = wait_until_ok(Duration::from_millis(10), "x", || bail!("boom")).unwrap_err();
        assert!(err.to_string().contains("last error: boom"), "{err}");
    }

    #[test]
    fn finds_sh_and_not_nonsense() {
        assert!(find_binary("sh").is_some());
        assert!(find_binary("no-such-binary-porter-lab").is_none());
    }
}
