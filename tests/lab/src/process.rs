//! Child processes the lab starts inside namespaces, and small helpers to run commands.

use anyhow::{anyhow, bail, Context, Result};
use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::tools::binary;

/// How long a daemon gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Lines of a daemon's log quoted in an error.
pub(crate) const LOG_TAIL_LINES: usize = 25;

/// A daemon running in the foreground inside a namespace, as our child process: we hold its
/// PID (`ip netns exec` execs the daemon, so the child *is* the daemon) and stop it on drop.
#[derive(Debug)]
pub struct Daemon {
    what: String,
    child: Child,
    log: PathBuf,
    stopped: bool,
}

impl Daemon {
    /// Starts `program args…` inside namespace `netns`, stdout and stderr appended to `log`,
    /// stdin from /dev/null. It stays in our process group on purpose: Drop does not run when
    /// a test run is interrupted, but the terminal's SIGINT then reaches the daemon too, so
    /// nothing keeps running (`porter-lab clean` removes the namespaces left behind).
    pub(crate) fn spawn<I, S>(
        what: &str,
        netns: &str,
        program: &Path,
        args: I,
        log: &Path,
    ) -> Result<Daemon>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::spawn_with_env(what, netns, program, args, &[], log)
    }

    /// [`Daemon::spawn`] with extra environment variables (ExaBGP takes settings that way).
    pub(crate) fn spawn_with_env<I, S>(
        what: &str,
        netns: &str,
        program: &Path,
        args: I,
        env: &[(&str, &str)],
        log: &Path,
    ) -> Result<Daemon>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening log {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(binary("ip")?);
        cmd.args(["netns", "exec", netns])
            .arg(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {what}: {cmd:?}"))?;
        Ok(Daemon {
            what: what.to_string(),
            child,
            log: log.to_path_buf(),
            stopped: false,
        })
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What this daemon is, e.g. `bird in lab-smoke-r1-123-0`.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Path of the file receiving the daemon's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Whether the process is still running (reaps it if it exited).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Errors with the exit status and the log tail if the daemon has exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.failure(&format!("exited early ({status})"), &[])),
            Err(e) => Err(self.failure(&format!("cannot be waited for: {e}"), &[])),
        }
    }

    /// An error saying `msg` about this daemon, followed by the tails of its log and of any
    /// `extra_logs` (daemons that also write a log file of their own).
    pub fn failure(&self, msg: &str, extra_logs: &[&Path]) -> anyhow::Error {
        let mut text = format!("{}: {msg}", self.what);
        for log in std::iter::once(self.log.as_path()).chain(extra_logs.iter().copied()) {
            text.push_str(&format!(
                "\n--- last {LOG_TAIL_LINES} lines of {} ---\n{}",
                log.display(),
                tail(log, LOG_TAIL_LINES)
            ));
        }
        anyhow!(text)
    }

    /// Sends SIGTERM, waits up to 5 s, then SIGKILL; reaps the process. Idempotent.
    pub fn stop(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        if !self.is_running() {
            return Ok(());
        }
        let _ = signal(self.pid(), "TERM");
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if !self.is_running() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child
            .kill()
            .with_context(|| format!("SIGKILL to {}", self.what))?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("porter-lab: stopping {}: {e:#}", self.what);
        }
    }
}

/// Sends signal `sig` (a name such as `TERM`) to `pid` with kill(1), so the crate needs no libc.
pub(crate) fn signal(pid: u32, sig: &str) -> Result<()> {
    let status = Command::new(binary("kill")?)
        .args(["-s", sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("kill -s {sig} {pid} failed");
    }
    Ok(())
}

/// Whether `pid` exists and is not a zombie (`kill -0` succeeds on zombies, so read /proc).
pub(crate) fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // the state letter follows the ")" that closes the command name
    match stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
    {
        Some(state) => state != "Z" && state != "X",
        None => false,
    }
}

/// Runs `cmd` to completion; its stdout on success, else an error with the command line, the
/// exit status and stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The last `n` lines of a text file, or a note saying why there are none.
pub(crate) fn tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(cannot read: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        let dir = std::env::temp_dir().join(format!("porter-lab-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("log");
        std::fs::write(&f, "a\nb\nc\nd\n").unwrap();
        assert_eq!(tail(&f, 2), "c\nd");
        assert_eq!(tail(&f, 10), "a\nb\nc\nd");
        assert!(tail(&dir.join("missing"), 3).starts_with("(cannot read"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn own_pid_is_alive_and_bogus_is_not() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(u32::MAX - 1));
    }

    #[test]
    fn run_reports_failure_with_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo oops >&2; exit 3"])).unwrap_err();
        assert!(err.to_string().contains("oops"), "{err}");
    }
}
