//! What the benchmarks measure of a process and of a series of latencies, shared by
//! `porter-bench` and `porter-bench-manager`.

use anyhow::{Context, Result};
use serde_json::{json, Value};

/// A process's peak and current resident set and its CPU time so far.
#[derive(Clone, Copy, Debug)]
pub struct ProcSample {
    /// Peak resident set (VmHWM), KiB.
    pub hwm_kb: u64,
    /// Resident set now (VmRSS), KiB.
    pub rss_kb: u64,
    /// User plus system CPU time, seconds.
    pub cpu_s: f64,
}

/// Reads VmHWM and VmRSS from /proc/PID/status and utime+stime from /proc/PID/stat; `tck`
/// is [`clock_ticks`].
pub fn proc_sample(pid: u32, tck: f64) -> Result<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("process {pid} is gone"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // fields after the ")" closing the command name start at field 3 (state); utime and
    // stime are fields 14 and 15 (proc(5))
    let rest: Vec<&str> = stat
        .rfind(')')
        .map(|i| stat[i + 1..].split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| -> Result<f64> {
        rest.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("bad /proc/{pid}/stat"))
    };
    Ok(ProcSample {
        hwm_kb: field("VmHWM:")?,
        rss_kb: field("VmRSS:")?,
        cpu_s: (ticks(11)? + ticks(12)?) / tck,
    })
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 when it cannot say): the unit of
/// /proc/PID/stat's CPU times.
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Latency percentiles of a series, ms.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latencies {
    /// How many values.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Latencies {
    /// Nearest-rank percentiles of `xs` (NaN when empty).
    pub fn of(xs: &[f64]) -> Latencies {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let pct = |p: f64| -> f64 {
            if v.is_empty() {
                return f64::NAN;
            }
            let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
            v[rank.clamp(1, v.len()) - 1]
        };
        Latencies {
            n: v.len(),
            p50: pct(50.0),
            p99: pct(99.0),
            max: v.last().copied().unwrap_or(f64::NAN),
        }
    }

    /// `{"n", "p50_ms", "p99_ms", "max_ms"}`.
    pub fn json(&self) -> Value {
        json!({"n": self.n, "p50_ms": round(self.p50), "p99_ms": round(self.p99), "max_ms": round(self.max)})
    }
}

/// `x` rounded to two decimals as JSON, `null` when not finite.
pub fn round(x: f64) -> Value {
    if x.is_finite() {
        json!((x * 100.0).round() / 100.0)
    } else {
        Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        let l = Latencies::of(&xs);
        assert_eq!((l.n, l.p50, l.p99, l.max), (100, 50.0, 99.0, 100.0));
        let one = Latencies::of(&[7.0]);
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
        assert!(Latencies::of(&[]).p50.is_nan());
    }
}
