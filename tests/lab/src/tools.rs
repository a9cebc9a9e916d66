//! Finding binaries, deciding whether a test can run, and polling.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often [`wait_until`] polls: short enough that a test sees a BGP event within a
/// keepalive, long enough not to load a busy 2-core machine with `birdc`/`vtysh` calls.
const POLL_INTERVAL: Duration = Duration::from_millis(150);

/// Directories searched after `$PATH`: routing daemons live in sbin directories, which a
/// non-login root shell (cargo test under sudo, CI) often lacks in its `$PATH`.
const SBIN_DIRS: &[&str] = &["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// Where FRR packages put their daemons: Debian and Ubuntu, then Fedora, RHEL and openSUSE.
/// Never on `$PATH`, so they are searched *first* for [`FRR_DAEMONS`]: a name like `bgpd` is
/// not FRR's alone (OpenBGPD installs /usr/sbin/bgpd), and an FRR test must not run another
/// program that happens to share it.
const FRR_DIRS: &[&str] = &["/usr/lib/frr", "/usr/libexec/frr"];

/// The daemons FRR installs in its own directory (`vtysh` is on `$PATH` and is not one).
const FRR_DAEMONS: &[&str] = &[
    "zebra", "bgpd", "staticd", "mgmtd", "watchfrr", "ospfd", "ospf6d", "ripd", "ripngd", "isisd",
    "fabricd", "bfdd", "pimd", "pim6d", "ldpd", "nhrpd", "eigrpd", "babeld", "sharpd", "pbrd",
    "vrrpd", "pathd",
];

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

/// Finds an executable: an FRR daemon (`bgpd`, `zebra`, …) in FRR's own directory first;
/// then, for every name, `$PATH`, the sbin directories and FRR's directories.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path: Vec<PathBuf> = std::env::split_paths(&path).collect();
    let sbin: Vec<PathBuf> = SBIN_DIRS.iter().map(PathBuf::from).collect();
    let frr: Vec<PathBuf> = FRR_DIRS.iter().map(PathBuf::from).collect();
    first_executable(name, search_order(name, &path, &sbin, &frr))
}

/// Like [`find_binary`] but an error naming the binary when absent.
pub(crate) fn binary(name: &str) -> Result<PathBuf> {
    match find_binary(name) {
        Some(p) => Ok(p),
        None => bail!("{name} not found in $PATH, {SBIN_DIRS:?} or {FRR_DIRS:?}"),
    }
}

/// `dir/name` for the first of `dirs` where that is an executable file.
fn first_executable(name: &str, dirs: Vec<PathBuf>) -> Option<PathBuf> {
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

/// The directories [`find_binary`] tries for `name`, in order.
fn search_order(name: &str, path: &[PathBuf], sbin: &[PathBuf], frr: &[PathBuf]) -> Vec<PathBuf> {
    let frr_first = FRR_DAEMONS.contains(&name);
    let mut dirs = Vec::new();
    if frr_first {
        dirs.extend_from_slice(frr);
    }
    dirs.extend_from_slice(path);
    dirs.extend_from_slice(sbin);
    if !frr_first {
        dirs.extend_from_slice(frr);
    }
    dirs
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

    /// The bug this order fixes: OpenBGPD's /usr/sbin/bgpd (or any `bgpd` on `$PATH`) was
    /// found before FRR's /usr/lib/frr/bgpd, and the FRR tests ran the wrong daemon.
    #[test]
    fn frr_daemons_come_from_frr_dir_before_path_and_sbin() {
        let root = std::env::temp_dir().join(format!("porter-lab-order-{}", std::process::id()));
        let [path, sbin, frr] = ["path", "sbin", "frr"].map(|d| root.join(d));
        let install = |dir: &Path, name: &str| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::create_dir_all(dir).unwrap();
            let file = dir.join(name);
            std::fs::write(&file, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        for dir in [&path, &sbin, &frr] {
            install(dir, "bgpd");
            install(dir, "bird");
        }
        install(&sbin, "staticd");
        let first = |name: &str| {
            let one = std::slice::from_ref;
            let dirs = search_order(name, one(&path), one(&sbin), one(&frr));
            first_executable(name, dirs)
        };
        assert_eq!(first("bgpd"), Some(frr.join("bgpd")));
        // Not FRR's: $PATH first, as for any tool.
        assert_eq!(first("bird"), Some(path.join("bird")));
        // An FRR daemon FRR's directory lacks (FRR built into /usr/local) is still found.
        assert_eq!(first("staticd"), Some(sbin.join("staticd")));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn finds_sh_and_not_nonsense() {
        assert!(find_binary("sh").is_some());
        assert!(find_binary("no-such-binary-porter-lab").is_none());
    }
}
