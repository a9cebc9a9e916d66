//! `porter-bench`: porter's BGP speaker measured against gobgpd and BIRD 2 on a load
//! balancer's workloads, every speaker in the same run on the same machine (issue 7).
//!
//! ```text
//! cargo build --release -p porter
//! cargo run --release -p porter-lab --bin porter-bench -- [--quick] [--out bench/results]
//!     [--porter PATH] [--only 1,2,3,4,5,6]
//! ```
//!
//! Every scenario builds its own namespaces (`lab-bn-…`): BIRD 2 as the router (AS 65000) and,
//! in turn, porter standalone, gobgpd and (where it applies) BIRD 2 itself in the speaker's
//! place (AS 65001), announcing the same VIPs (198.18.0.0/15) with the same next hop.
//!
//! ```text
//!   ns router: BIRD 2, AS 65000                ns speaker: porter | gobgpd | BIRD, AS 65001
//!   r-s 10.203.X.1/24 (+ .1-.50 in 4, 6) <─veth─> s-r 10.203.X.2/24 (.101-.150 in 4, 6)
//! ```
//!
//! 1. announce N VIP /32 at start: process start → last route in the router's table, the
//!    speaker's peak RSS and CPU time;
//! 2. churn: add, then remove, Services one at a time through porter's config reload (SIGHUP
//!    and the 1 s file poll); gobgpd's CLI and `birdc configure` as references;
//! 3. full table in: the router sends a generated table (1M /24s) to the speaker: time to
//!    End-of-RIB, peak/at-EoR/final RSS, session never dropped;
//! 4. many peers: 50 sessions to one router, 100 VIPs: time until all are up with all routes,
//!    then idle RSS and CPU;
//! 5. failover: SIGKILL the speaker → routes gone at the router; SIGKILL and restart with
//!    graceful restart → routes never leave the router's table or its kernel FIB.
//! 6. BFD: 50 sessions, each with BFD at 300 ms × 3 at both ends (porter and BIRD only:
//!    gobgpd has no BFD): time until every BFD session is Up, then the speaker's CPU and RSS
//!    over a window (20 s, 5 s in `--quick`); a session that flaps at either end fails the run.
//!
//! Every count is checked: a speaker that does not deliver all routes fails the run with
//! what it did deliver. gobgpd is fed with `gobgp mrt inject global` reading a FIFO that is
//! closed only once gobgpd holds every path: the 3.10 CLI exits before its last queued paths
//! reach gobgpd when reading a plain file (a few hundred of 10,000 lost here).
//!
//! Results go to `<out>/<date>.json`, `<out>/<date>.md` (printed too) and two SVG charts.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use porter_lab::measure::{clock_ticks, proc_sample, round, Latencies, ProcSample};
use porter_lab::{
    find_binary, skip_unless_available, Bird, BirdConfig, BirdPeer, Daemon, GobgpBinaries,
    GobgpConfig, GobgpNeighbor, Netns, Tool,
};
use serde_json::{json, Value};

/// The router's AS.
const ROUTER_AS: u32 = 65000;
/// The speaker's AS (every speaker under test).
const SPEAKER_AS: u32 = 65001;
/// The spec.loadBalancerClass porter is started with and the Services carry (short: 100,000
/// Services must fit the loader's 16 MiB file limit).
const LB_CLASS: &str = "porter";
/// porter's HTTP endpoint inside the speaker namespace.
const HTTP: &str = "127.0.0.1:9696";
/// First VIP: 198.18.0.1 (RFC 2544 benchmarking range); VIP i is this plus i.
const VIP_BASE: u32 = 0xC612_0001;
/// The address pool porter allocates from: all of 198.18.0.0/15.
const POOL: &str = "198.18.0.0/15";
/// First prefix of the generated full table: 32.0.0.0/24, then consecutive /24s. Only ever
/// inside the lab namespaces, never exported into a kernel FIB.
const TABLE_BASE: u32 = 0x2000_0000;
/// How often the router's control socket is asked for progress.
const FAST_POLL: Duration = Duration::from_millis(2);

/// A speaker implementation under test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    #[default]
    Porter,
    /// Debian's gobgpd (3.10), from PATH.
    Gobgpd,
    /// gobgpd built by tests/gobgp/build.sh (`--gobgp-dir`), fed exactly as Debian's.
    GobgpdBuilt,
    Bird,
}

/// The two gobgpds' labels with their release, e.g. `gobgpd 3.10` and `gobgpd 4.8`: set once
/// at start from `gobgpd --version`, since the report names speakers by [`Kind::name`].
static GOBGPD_LABELS: OnceLock<[String; 2]> = OnceLock::new();

impl Kind {
    const ALL: [Kind; 4] = [Kind::Porter, Kind::Gobgpd, Kind::GobgpdBuilt, Kind::Bird];

    fn name(self) -> &'static str {
        let label = |i: usize, fallback: &'static str| {
            GOBGPD_LABELS.get().map_or(fallback, |l| l[i].as_str())
        };
        match self {
            Kind::Porter => "porter",
            Kind::Gobgpd => label(0, "gobgpd"),
            Kind::GobgpdBuilt => label(1, "gobgpd (built)"),
            Kind::Bird => "BIRD",
        }
    }

    fn is_gobgpd(self) -> bool {
        matches!(self, Kind::Gobgpd | Kind::GobgpdBuilt)
    }
}

/// `gobgpd 3.10` for a gobgpd whose `--version` says 3.10.0.
fn gobgpd_label(bins: &GobgpBinaries) -> String {
    match bins.version() {
        Ok(v) => {
            let mut parts = v.split('.');
            match (parts.next(), parts.next()) {
                (Some(major), Some(minor)) => format!("gobgpd {major}.{minor}"),
                _ => format!("gobgpd {v}"),
            }
        }
        Err(_) => "gobgpd".into(),
    }
}

/// Run-wide settings.
struct Ctx {
    porter: PathBuf,
    quick: bool,
    tck: f64,
    /// The speakers to run (all unless `--speakers` says otherwise).
    kinds: Vec<Kind>,
    /// Debian's gobgpd and gobgp.
    gobgp_system: GobgpBinaries,
    /// gobgpd and gobgp from `--gobgp-dir` (or `PORTER_GOBGP_DIR`), run as a fourth speaker.
    gobgp_built: Option<GobgpBinaries>,
}

impl Ctx {
    /// The gobgpd and gobgp CLI of `kind` (Debian's for every kind but the built gobgpd).
    fn gobgp(&self, kind: Kind) -> Result<&GobgpBinaries> {
        match kind {
            Kind::GobgpdBuilt => self
                .gobgp_built
                .as_ref()
                .context("no built gobgpd: pass --gobgp-dir (bash tests/gobgp/build.sh)"),
            _ => Ok(&self.gobgp_system),
        }
    }
}

/// VIP number `i`.
fn vip(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(VIP_BASE + u32::try_from(i).expect("VIP index fits"))
}

/// Prefix number `i` of the generated table.
fn table_prefix(i: usize) -> String {
    let net = Ipv4Addr::from(TABLE_BASE + (u32::try_from(i).expect("fits") << 8));
    format!("{net}/24")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("http-get") if args.len() == 3 => http_get_here(&args[1], &args[2]),
        _ => run(&args),
    };
    if let Err(e) = res {
        eprintln!("porter-bench: {e:#}");
        std::process::exit(1);
    }
}

const USAGE: &str = "usage: porter-bench [--quick] [--out DIR] [--porter PATH] [--only 1,2,3,4,5,6] [--speakers porter,gobgpd,gobgpd-built,bird] [--gobgp-dir DIR (default: $PORTER_GOBGP_DIR)]";

fn run(args: &[String]) -> Result<()> {
    let mut porter = std::env::current_exe()?.with_file_name("porter");
    let mut out = PathBuf::from("bench/results");
    let mut quick = false;
    let mut only: Vec<u8> = vec![1, 2, 3, 4, 5, 6];
    let mut kinds: Option<Vec<Kind>> = None;
    let mut gobgp_dir = std::env::var_os("PORTER_GOBGP_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--out" => out = it.next().context("--out needs a directory")?.into(),
            "--porter" => porter = it.next().context("--porter needs a path")?.into(),
            "--gobgp-dir" => {
                gobgp_dir = Some(it.next().context("--gobgp-dir needs a directory")?.into());
            }
            "--only" => {
                only = it
                    .next()
                    .context("--only needs a list such as 1,3")?
                    .split(',')
                    .map(|s| s.trim().parse::<u8>())
                    .collect::<Result<_, _>>()
                    .context(USAGE)?;
                if only.iter().any(|s| !(1..=6).contains(s)) {
                    bail!("scenarios are 1 to 6 ({USAGE})");
                }
            }
            "--speakers" => {
                let list = it
                    .next()
                    .context("--speakers needs a list such as porter,bird")?;
                let list = list
                    .split(',')
                    .map(|k| match k.trim() {
                        "porter" => Ok(Kind::Porter),
                        "gobgpd" => Ok(Kind::Gobgpd),
                        // gobgpd-built, or named by its release: gobgpd-4.8
                        k if k.starts_with("gobgpd-") => Ok(Kind::GobgpdBuilt),
                        "bird" => Ok(Kind::Bird),
                        other => Err(anyhow!(
                            "unknown speaker {other:?} (porter, gobgpd, gobgpd-built, bird)"
                        )),
                    })
                    .collect::<Result<_>>()?;
                kinds = Some(list);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} ({USAGE})"),
        }
    }
    if !porter.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p porter) or pass --porter",
            porter.display()
        );
    }
    let porter = porter.canonicalize()?;
    if !skip_unless_available("porter-bench", &[Tool::Bird, Tool::Gobgp]) {
        bail!("porter-bench needs root, BIRD 2 and gobgpd (apt-get install bird2 gobgpd)");
    }
    let gobgp_system = GobgpBinaries::system()?;
    let gobgp_built = gobgp_dir.map(|d| GobgpBinaries::in_dir(&d)).transpose()?;
    let kinds = kinds.unwrap_or_else(|| {
        Kind::ALL
            .into_iter()
            .filter(|k| *k != Kind::GobgpdBuilt || gobgp_built.is_some())
            .collect()
    });
    let _ = GOBGPD_LABELS.set([
        gobgpd_label(&gobgp_system),
        gobgp_built
            .as_ref()
            .map_or_else(|| "gobgpd (built)".into(), gobgpd_label),
    ]);
    let tck = clock_ticks();
    let ctx = Ctx {
        porter,
        quick,
        tck,
        kinds,
        gobgp_system,
        gobgp_built,
    };
    if ctx.kinds.contains(&Kind::GobgpdBuilt) {
        // fail before the first scenario, not in each
        ctx.gobgp(Kind::GobgpdBuilt)?;
    }
    let started = Instant::now();
    let mut report = Report {
        env: environment(&ctx),
        ..Report::default()
    };
    eprintln!(
        "porter-bench: {} run, scenarios {only:?}, porter {}",
        if quick { "quick" } else { "full" },
        ctx.porter.display()
    );
    for s in &only {
        let t = Instant::now();
        let res = match s {
            1 => scenario1(&ctx, &mut report),
            2 => scenario2(&ctx, &mut report),
            3 => scenario3(&ctx, &mut report),
            4 => scenario4(&ctx, &mut report),
            5 => scenario5(&ctx, &mut report),
            6 => scenario6(&ctx, &mut report),
            _ => unreachable!("checked above"),
        };
        if let Err(e) = res {
            eprintln!("porter-bench: scenario {s} failed: {e:#}");
            report.errors.push(format!("scenario {s}: {e:#}"));
        }
        eprintln!("porter-bench: scenario {s} took {:.0?}", t.elapsed());
    }
    report.wall_s = started.elapsed().as_secs_f64();
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H%MZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "undated".into());
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let md = report.markdown(&date, quick);
    let json_path = out.join(format!("{date}.json"));
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&report.json(&date, quick))? + "\n",
    )?;
    std::fs::write(out.join(format!("{date}.md")), &md)?;
    if let Some(svg) = report.chart_s1() {
        std::fs::write(out.join(format!("{date}-s1.svg")), svg)?;
    }
    if let Some(svg) = report.chart_s3() {
        std::fs::write(out.join(format!("{date}-s3.svg")), svg)?;
    }
    println!("{md}");
    eprintln!(
        "porter-bench: wrote {} (and .md, .svg) after {:.0}s",
        json_path.display(),
        report.wall_s
    );
    if !report.errors.is_empty() {
        bail!(
            "{} failure(s):\n{}",
            report.errors.len(),
            report.errors.join("\n")
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Scenario 1: announce N VIPs at start
// ---------------------------------------------------------------------------------------------

fn scenario1(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let sizes: &[usize] = if ctx.quick {
        &[1_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    for &n in sizes {
        for kind in ctx.kinds.clone() {
            eprintln!("  s1: {} announcing {n} VIPs", kind.name());
            match s1_run(ctx, kind, n) {
                Ok(row) => {
                    eprintln!(
                        "      {:.0} ms (Established at {:.0} ms), peak RSS {:.1} MB, CPU {:.2} s",
                        row.total_ms,
                        row.established_ms,
                        mb(row.peak_rss_kb),
                        row.cpu_s
                    );
                    report.s1.push(row);
                }
                Err(e) => report
                    .errors
                    .push(format!("scenario 1, {} N={n}: {e:#}", kind.name())),
            }
        }
    }
    Ok(())
}

fn s1_run(ctx: &Ctx, kind: Kind, n: usize) -> Result<S1Row> {
    let net = Pair::new("bn-s1", 1)?;
    let router = Bird::start(
        &net.r,
        &BirdConfig::new(net.router_ip, ROUTER_AS)
            .without_kernel()
            .peer(BirdPeer::new("spk", net.speaker_ip.into(), SPEAKER_AS).passive()),
    )?;
    let mut ctl = BirdCtl::connect(router.socket())?;
    let vips: Vec<usize> = (0..n).collect();
    let routers = [net.router_ip];
    let prepared = Prepared::new(
        ctx,
        kind,
        &net.s,
        &Spec::new(net.speaker_ip, &routers, &vips),
    )?;
    let t0 = Instant::now();
    let mut spk = prepared.start(&net.s)?;
    let timeout = Duration::from_secs(if n > 10_000 { 300 } else { 120 });
    let progress = wait_routes(&mut ctl, &["spk"], n as u64, t0, timeout, &mut spk)?;
    let sample = proc_sample(spk.pid(), ctx.tck)?;
    spk.finish_feed()?;
    check_next_hop(&mut ctl, vip(0), net.speaker_ip)?;
    check_next_hop(&mut ctl, vip(n - 1), net.speaker_ip)?;
    let connect_wait_ms = match kind {
        Kind::Bird => Some(bird_connect_wait(spk.daemon.log_path())?),
        _ => None,
    };
    Ok(S1Row {
        kind,
        n,
        total_ms: ms(progress.done),
        established_ms: ms(progress.established),
        connect_wait_ms,
        peak_rss_kb: sample.hwm_kb,
        rss_kb: sample.rss_kb,
        cpu_s: sample.cpu_s,
    })
}

// ---------------------------------------------------------------------------------------------
// Scenario 2: churn
// ---------------------------------------------------------------------------------------------

fn scenario2(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let (steps, poll_steps, ref_steps) = if ctx.quick {
        (100, 6, 50)
    } else {
        (1000, 30, 250)
    };
    for kind in ctx.kinds.clone() {
        let res = match kind {
            Kind::Porter => s2_porter(ctx, steps, poll_steps),
            _ => s2_reference(ctx, kind, ref_steps),
        };
        match res {
            Ok(rows) => {
                for r in &rows {
                    eprintln!(
                        "  s2: {} {}: add p50 {:.1} p99 {:.1} ms, remove p50 {:.1} p99 {:.1} ms ({} each)",
                        kind.name(),
                        r.mode,
                        r.add.p50,
                        r.add.p99,
                        r.remove.p50,
                        r.remove.p99,
                        r.add.n
                    );
                }
                report.s2.extend(rows);
            }
            Err(e) => report
                .errors
                .push(format!("scenario 2, {}: {e:#}", kind.name())),
        }
    }
    Ok(())
}

/// porter: one Service added per reload until `steps`, then removed one per reload; first
/// with SIGHUP right after each rewrite, then (fewer steps) with the file poll alone.
fn s2_porter(ctx: &Ctx, steps: usize, poll_steps: usize) -> Result<Vec<S2Row>> {
    let net = Pair::new("bn-s2", 2)?;
    let router = Bird::start(
        &net.r,
        &BirdConfig::new(net.router_ip, ROUTER_AS)
            .without_kernel()
            .peer(BirdPeer::new("spk", net.speaker_ip.into(), SPEAKER_AS).passive()),
    )?;
    let mut ctl = BirdCtl::connect(router.socket())?;
    let conf = PorterConf::new(net.speaker_ip, vec![net.router_ip]);
    let cfg = net.s.dir().join("porter.yaml");
    write_atomic(&cfg, &conf.render(&[]))?;
    let mut spk = start_porter(ctx, &net.s, &cfg)?;
    wait_routes(
        &mut ctl,
        &["spk"],
        0,
        Instant::now(),
        Duration::from_secs(30),
        &mut spk,
    )?;
    let pid = spk.pid();
    let mut rows = Vec::new();
    for (mode, n, hup) in [
        ("SIGHUP", steps, true),
        ("file poll (1 s)", poll_steps, false),
    ] {
        // a fresh VIP range per mode, so a late route of one mode cannot satisfy the other
        let base = if hup { 0 } else { steps + 10 };
        let mut add = Vec::new();
        let mut remove = Vec::new();
        let mut present: Vec<usize> = Vec::new();
        // Without SIGHUP each change would otherwise land just after the poll that found
        // the previous one, always a whole interval before the next: a random pause spreads
        // the changes over the poll's phase.
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut pause = || {
            if !hup {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                std::thread::sleep(Duration::from_millis(rng % 1000));
            }
        };
        for i in base..base + n {
            present.push(i);
            pause();
            add.push(porter_change(
                &mut ctl,
                &cfg,
                &conf,
                &present,
                hup,
                pid,
                vip(i),
                true,
            )?);
        }
        for i in base..base + n {
            present.retain(|&x| x != i);
            pause();
            remove.push(porter_change(
                &mut ctl,
                &cfg,
                &conf,
                &present,
                hup,
                pid,
                vip(i),
                false,
            )?);
        }
        spk.check()?;
        rows.push(S2Row {
            kind: Kind::Porter,
            mode: mode.into(),
            add: Latencies::of(&add),
            remove: Latencies::of(&remove),
        });
    }
    Ok(rows)
}

/// Rewrites porter's file with `present` VIPs (atomically: a new file renamed over the old),
/// optionally sends SIGHUP, and returns the ms until `ip` appears at (or leaves) the router.
#[allow(clippy::too_many_arguments)]
fn porter_change(
    ctl: &mut BirdCtl,
    cfg: &Path,
    conf: &PorterConf,
    present: &[usize],
    hup: bool,
    pid: u32,
    ip: Ipv4Addr,
    appear: bool,
) -> Result<f64> {
    let text = conf.render(present);
    let t0 = Instant::now();
    write_atomic(cfg, &text)?;
    if hup {
        signal(pid, "HUP")?;
    }
    wait_route_state(ctl, ip, appear, t0, Duration::from_secs(10))
}

/// gobgpd (one `gobgp global rib add/del` per change) and BIRD (config rewrite and
/// `configure` on its control socket per change).
fn s2_reference(ctx: &Ctx, kind: Kind, steps: usize) -> Result<Vec<S2Row>> {
    let net = Pair::new("bn-s2", 2)?;
    let router = Bird::start(
        &net.r,
        &BirdConfig::new(net.router_ip, ROUTER_AS)
            .without_kernel()
            .peer(BirdPeer::new("spk", net.speaker_ip.into(), SPEAKER_AS).passive()),
    )?;
    let mut ctl = BirdCtl::connect(router.socket())?;
    let routers = [net.router_ip];
    let prepared = Prepared::new(ctx, kind, &net.s, &Spec::new(net.speaker_ip, &routers, &[]))?;
    let mut spk = prepared.start(&net.s)?;
    wait_routes(
        &mut ctl,
        &["spk"],
        0,
        Instant::now(),
        Duration::from_secs(30),
        &mut spk,
    )?;
    let mut add = Vec::new();
    let mut remove = Vec::new();
    let mut present: Vec<usize> = Vec::new();
    let nh = net.speaker_ip.to_string();
    let gobgp = &ctx.gobgp(kind)?.gobgp;
    for appear in [true, false] {
        for i in 0..steps {
            if appear {
                present.push(i);
            } else {
                present.retain(|&x| x != i);
            }
            let prefix = format!("{}/32", vip(i));
            let t0 = Instant::now();
            match kind {
                Kind::Gobgpd | Kind::GobgpdBuilt => {
                    let verb = if appear { "add" } else { "del" };
                    let mut args = vec![
                        "-u",
                        "127.0.0.1",
                        "-p",
                        "50051",
                        "global",
                        "rib",
                        verb,
                        "-a",
                        "ipv4",
                    ];
                    args.push(&prefix);
                    if appear {
                        args.extend(["nexthop", nh.as_str(), "origin", "igp"]);
                    }
                    let out = net.s.command(gobgp).args(&args).output()?;
                    if !out.status.success() {
                        bail!(
                            "gobgp global rib {verb} {prefix}: {}",
                            String::from_utf8_lossy(&out.stderr)
                        );
                    }
                }
                Kind::Bird => {
                    let conf = bird_speaker_conf(&Spec::new(net.speaker_ip, &routers, &present));
                    let path = spk
                        .bird_conf
                        .as_ref()
                        .context("BIRD speaker has a config")?;
                    write_atomic(path, &conf)?;
                    let ctl_spk = spk.bird_ctl.as_mut().context("BIRD speaker control")?;
                    let reply = ctl_spk.cmd("configure")?;
                    if !reply.iter().any(|(c, _)| *c == 3 || *c == 4) {
                        bail!("BIRD speaker did not reconfigure: {reply:?}");
                    }
                }
                Kind::Porter => unreachable!("porter has its own runner"),
            }
            let lat = wait_route_state(&mut ctl, vip(i), appear, t0, Duration::from_secs(10))?;
            if appear {
                add.push(lat);
            } else {
                remove.push(lat);
            }
        }
    }
    spk.check()?;
    Ok(vec![S2Row {
        kind,
        mode: match kind {
            Kind::Gobgpd | Kind::GobgpdBuilt => "gobgp CLI per change".into(),
            _ => "config rewrite + configure".into(),
        },
        add: Latencies::of(&add),
        remove: Latencies::of(&remove),
    }])
}

// ---------------------------------------------------------------------------------------------
// Scenario 3: full table in
// ---------------------------------------------------------------------------------------------

fn scenario3(ctx: &Ctx, report: &mut Report) -> Result<()> {
    let prefixes = if ctx.quick { 100_000 } else { 1_000_000 };
    let flat_window = Duration::from_secs(if ctx.quick { 3 } else { 8 });
    let net = Pair::new("bn-s3", 3)?;
    let mut cfg = BirdConfig::new(net.router_ip, ROUTER_AS)
        .without_kernel()
        .peer(BirdPeer::new("rcv", net.speaker_ip.into(), SPEAKER_AS).passive());
    cfg.announce = (0..prefixes)
        .map(|i| (table_prefix(i), String::new()))
        .collect();
    eprintln!("  s3: starting the router with {prefixes} static routes");
    let t = Instant::now();
    let router = Bird::start(&net.r, &cfg)?;
    drop(cfg);
    let mut ctl = BirdCtl::connect(router.socket())?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let st = ctl.protocols(Some("static4"))?;
        if st.first().is_some_and(|p| p.imported == prefixes as u64) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the router did not load its {prefixes} static routes: {st:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("      router ready after {:.1?}", t.elapsed());
    for kind in ctx.kinds.clone() {
        eprintln!("  s3: {} receiving {prefixes} prefixes", kind.name());
        match s3_run(ctx, kind, &net, &mut ctl, prefixes, flat_window) {
            Ok(row) => {
                eprintln!(
                    "      EoR at {:.0} ms (Established at {:.0} ms), peak RSS {:.1} MB, at EoR {:.1} MB, final {:.1} MB, CPU {:.1} s, session stayed up: {}",
                    row.eor_ms,
                    row.established_ms,
                    mb(row.peak_rss_kb),
                    mb(row.rss_eor_kb),
                    mb(row.rss_final_kb),
                    row.cpu_s,
                    row.stayed_up
                );
                report.s3.push(row);
            }
            Err(e) => report
                .errors
                .push(format!("scenario 3, {}: {e:#}", kind.name())),
        }
        // the next receiver starts on a fresh session
        let _ = ctl.cmd("restart rcv");
    }
    Ok(())
}

fn s3_run(
    ctx: &Ctx,
    kind: Kind,
    net: &Pair,
    ctl: &mut BirdCtl,
    prefixes: usize,
    flat_window: Duration,
) -> Result<S3Row> {
    let routers = [net.router_ip];
    let prepared = Prepared::new(ctx, kind, &net.s, &Spec::new(net.speaker_ip, &routers, &[]))?;
    let t0 = Instant::now();
    let mut spk = prepared.start(&net.s)?;
    let timeout = Duration::from_secs(if ctx.quick { 120 } else { 400 });
    let mut established = None;
    let mut since = String::new();
    let eor = loop {
        spk.check()?;
        if established.is_none() {
            let p = ctl.protocols(Some("rcv"))?;
            if let Some(p) = p.first().filter(|p| p.established()) {
                established = Some(t0.elapsed());
                since = p.since.clone();
            }
        }
        let got = spk.received_all(&net.s, net.router_ip, prefixes as u64)?;
        if got.done {
            break t0.elapsed();
        }
        if t0.elapsed() > timeout {
            return Err(spk.daemon.failure(
                &format!(
                    "received {} of {prefixes} prefixes in {:.0?}",
                    got.count, timeout
                ),
                &[],
            ));
        }
        std::thread::sleep(Duration::from_millis(match kind {
            Kind::Porter => 10,
            Kind::Bird => 20,
            // each look runs the gobgp CLI, which costs CPU the receiver could use
            Kind::Gobgpd | Kind::GobgpdBuilt => 250,
        }));
    };
    let at_eor = proc_sample(spk.pid(), ctx.tck)?;
    // the router sent the whole table on this session (its End-of-RIB follows the last)
    let sent = ctl.exported("rcv")?;
    if sent != prefixes as u64 {
        bail!(
            "the router exported {sent} of {prefixes} prefixes to {}",
            kind.name()
        );
    }
    let mut max_after = at_eor.rss_kb;
    let end = Instant::now() + flat_window;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(500));
        max_after = max_after.max(proc_sample(spk.pid(), ctx.tck)?.rss_kb);
    }
    let last = proc_sample(spk.pid(), ctx.tck)?;
    spk.check()?;
    // the session never dropped: still Established, since the same moment
    let p = ctl.protocols(Some("rcv"))?;
    let stayed_up = established.is_some()
        && p.first()
            .is_some_and(|p| p.established() && p.since == since);
    Ok(S3Row {
        kind,
        prefixes,
        established_ms: established.map_or(f64::NAN, ms),
        eor_ms: ms(eor),
        peak_rss_kb: last.hwm_kb,
        rss_eor_kb: at_eor.rss_kb,
        rss_final_kb: last.rss_kb,
        rss_max_after_kb: max_after,
        cpu_s: at_eor.cpu_s,
        stayed_up,
    })
}

// ---------------------------------------------------------------------------------------------
// Scenario 4: many peers
// ---------------------------------------------------------------------------------------------

fn scenario4(ctx: &Ctx, report: &mut Report) -> Result<()> {
    const PEERS: usize = 50;
    const VIPS: usize = 100;
    let window = Duration::from_secs(if ctx.quick { 10 } else { 60 });
    // Set up one after the other (each timed alone), then measure idleness together: idle
    // speakers do not compete for the CPU, and it saves two windows.
    let mut running = Vec::new();
    for kind in ctx.kinds.clone() {
        eprintln!(
            "  s4: {} with {PEERS} sessions and {VIPS} VIPs",
            kind.name()
        );
        match many_peers_setup(ctx, kind, ("bn-s4", 4), PEERS, VIPS, None) {
            Ok(r) => {
                eprintln!("      all up with all routes after {:.0} ms", r.up_ms);
                running.push(r);
            }
            Err(e) => report
                .errors
                .push(format!("scenario 4, {}: {e:#}", kind.name())),
        }
    }
    let before: Vec<ProcSample> = running
        .iter()
        .map(|r| proc_sample(r.spk.pid(), ctx.tck))
        .collect::<Result<_>>()?;
    eprintln!("  s4: idle for {window:?}");
    std::thread::sleep(window);
    for (run, b) in running.into_iter().zip(before) {
        let ManyPeers {
            mut spk,
            mut ctl,
            up_ms,
            ..
        } = run;
        let a = proc_sample(spk.pid(), ctx.tck)?;
        spk.check()?;
        // still every session up with every route
        let protos = ctl.protocols(None)?;
        let ok = protos
            .iter()
            .filter(|p| p.name.starts_with('p'))
            .filter(|p| p.established() && p.imported == VIPS as u64)
            .count();
        if ok != PEERS {
            report.errors.push(format!(
                "scenario 4, {}: after the idle window only {ok} of {PEERS} sessions have all routes",
                spk.kind.name()
            ));
        }
        report.s4.push(S4Row {
            kind: spk.kind,
            peers: PEERS,
            vips: VIPS,
            all_up_ms: up_ms,
            idle_rss_kb: a.rss_kb,
            peak_rss_kb: a.hwm_kb,
            idle_cpu_s: a.cpu_s - b.cpu_s,
            window_s: window.as_secs_f64(),
        });
    }
    Ok(())
}

/// One speaker of scenario 4 or 6 with its router, left running for the measured window.
struct ManyPeers {
    spk: Spk,
    /// The router's control socket.
    ctl: BirdCtl,
    /// Process start → every session Established with every route at the router.
    up_ms: f64,
    // dropped last (fields drop in order): the router, then the namespaces
    _router: Bird,
    net: Pair,
}

/// Scenario 4's and 6's lab: `peers` sessions between one router and one speaker of `kind`
/// announcing `vips` VIPs, on link `10.203.X.0/24`; with BFD on every session at both ends
/// when `bfd` is given. Returns once every session is Established with every route.
fn many_peers_setup(
    ctx: &Ctx,
    kind: Kind,
    (tag, x): (&str, u8),
    peers: usize,
    vips: usize,
    bfd: Option<Bfd>,
) -> Result<ManyPeers> {
    // Session i joins router address 10.203.X.i and speaker address 10.203.X.(100+i) on
    // one link: BIRD tells incoming sessions apart by the neighbor's address only, so each
    // session needs its own address on both ends.
    let net = Pair::new(tag, x)?;
    let speaker_ip = Ipv4Addr::new(10, 203, x, 101);
    net.s.ip(&["addr", "flush", "dev", "s-r"])?;
    let host = |i: usize| Ipv4Addr::new(10, 203, x, u8::try_from(i).expect("fits"));
    let routers: Vec<Ipv4Addr> = (1..=peers).map(host).collect();
    let locals: Vec<Ipv4Addr> = (101..=100 + peers).map(host).collect();
    for r in routers.iter().skip(1) {
        net.r.addr("r-s", &format!("{r}/24"))?;
    }
    for l in &locals {
        net.s.addr("s-r", &format!("{l}/24"))?;
    }
    let mut cfg = BirdConfig::new(net.router_ip, ROUTER_AS).without_kernel();
    for (i, (r, l)) in routers.iter().zip(&locals).enumerate() {
        let mut peer = BirdPeer::new(&format!("p{}", i + 1), (*l).into(), SPEAKER_AS)
            .local_address((*r).into())
            .passive()
            .hold_time(90);
        if let Some(b) = bfd {
            peer = peer.bfd(b.interval_ms, b.multiplier);
        }
        cfg = cfg.peer(peer);
    }
    // Resolve every neighbor's MAC first: 50 simultaneous first SYNs to unresolved
    // neighbors lose some, and a lost SYN costs a 1 s retransmission whatever the speaker.
    let warm: String = routers
        .iter()
        .zip(&locals)
        .map(|(r, l)| format!("ping -q -c1 -W1 -I {l} {r} >/dev/null & "))
        .collect();
    net.s.exec(&["sh", "-c", &format!("{warm} wait")])?;
    let router = Bird::start(&net.r, &cfg)?;
    let mut ctl = BirdCtl::connect(router.socket())?;
    let list: Vec<usize> = (0..vips).collect();
    let mut spec = Spec::new(speaker_ip, &routers, &list);
    spec.locals = &locals;
    spec.hold_time = 90;
    spec.bfd = bfd;
    let prepared = Prepared::new(ctx, kind, &net.s, &spec)?;
    let names: Vec<String> = (1..=peers).map(|i| format!("p{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let t0 = Instant::now();
    let mut spk = prepared.start(&net.s)?;
    let progress = wait_routes(
        &mut ctl,
        &names,
        vips as u64,
        t0,
        Duration::from_secs(120),
        &mut spk,
    )?;
    spk.finish_feed()?;
    Ok(ManyPeers {
        spk,
        ctl,
        up_ms: ms(progress.done),
        _router: router,
        net,
    })
}

// ---------------------------------------------------------------------------------------------
// Scenario 5: failover
// ---------------------------------------------------------------------------------------------

fn scenario5(ctx: &Ctx, report: &mut Report) -> Result<()> {
    const VIPS: usize = 100;
    for kind in ctx.kinds.clone() {
        eprintln!("  s5: {} killed", kind.name());
        let mut row = S5Row {
            kind,
            vips: VIPS,
            ..S5Row::default()
        };
        match s5_kill(ctx, kind, VIPS) {
            Ok((table, fib)) => {
                eprintln!("      routes gone from BIRD after {table:.1} ms, from its FIB after {fib:.1} ms");
                row.kill_table_ms = Some(table);
                row.kill_fib_ms = Some(fib);
            }
            Err(e) => report
                .errors
                .push(format!("scenario 5 (kill), {}: {e:#}", kind.name())),
        }
        if !kind.is_gobgpd() {
            eprintln!(
                "  s5: {} killed and restarted with graceful restart",
                kind.name()
            );
            match s5_graceful(ctx, kind, VIPS) {
                Ok(gr) => {
                    eprintln!(
                        "      fewest routes in BIRD's table {}, in its FIB {} (of {VIPS}); re-established after {:.0} ms, routes refreshed after {:.0} ms",
                        gr.min_table, gr.min_fib, gr.reestablished_ms, gr.refreshed_ms
                    );
                    if gr.min_table < VIPS || gr.min_fib < VIPS {
                        report.errors.push(format!(
                            "scenario 5 (graceful restart), {}: routes left the router (table {}, FIB {} of {VIPS})",
                            kind.name(),
                            gr.min_table,
                            gr.min_fib
                        ));
                    }
                    row.graceful = Some(gr);
                }
                Err(e) => report.errors.push(format!(
                    "scenario 5 (graceful restart), {}: {e:#}",
                    kind.name()
                )),
            }
        }
        report.s5.push(row);
    }
    Ok(())
}

/// A router with kernel export (the FIB is what forwards) and graceful-restart helper
/// support, and a speaker announcing `vips`, all routes in the FIB.
fn s5_setup(
    ctx: &Ctx,
    kind: Kind,
    vips: usize,
    gr: bool,
) -> Result<(Pair, Bird, BirdCtl, Prepared)> {
    let net = Pair::new("bn-s5", 5)?;
    let mut peer = BirdPeer::new("spk", net.speaker_ip.into(), SPEAKER_AS).passive();
    if gr {
        peer = peer.graceful_restart();
    }
    let router = Bird::start(
        &net.r,
        &BirdConfig::new(net.router_ip, ROUTER_AS).peer(peer),
    )?;
    let ctl = BirdCtl::connect(router.socket())?;
    let list: Vec<usize> = (0..vips).collect();
    let routers = [net.router_ip];
    let mut spec = Spec::new(net.speaker_ip, &routers, &list);
    spec.graceful = gr;
    let prepared = Prepared::new(ctx, kind, &net.s, &spec)?;
    Ok((net, router, ctl, prepared))
}

/// Number of BIRD routes in the router namespace's kernel FIB.
fn fib_count(ns: &Netns) -> Result<usize> {
    Ok(ns
        .ip(&["-4", "route", "show", "proto", "bird"])?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count())
}

fn s5_kill(ctx: &Ctx, kind: Kind, vips: usize) -> Result<(f64, f64)> {
    let (net, _router, mut ctl, prepared) = s5_setup(ctx, kind, vips, false)?;
    let mut spk = prepared.start(&net.s)?;
    wait_routes(
        &mut ctl,
        &["spk"],
        vips as u64,
        Instant::now(),
        Duration::from_secs(60),
        &mut spk,
    )?;
    spk.finish_feed()?;
    wait_fib(&net.r, vips, Duration::from_secs(20))?;
    let t0 = Instant::now();
    signal(spk.pid(), "KILL")?;
    let mut table = None;
    let mut fib = None;
    while table.is_none() || fib.is_none() {
        if table.is_none() && ctl.route_count()? == 0 {
            table = Some(ms(t0.elapsed()));
        }
        if fib.is_none() && fib_count(&net.r)? == 0 {
            fib = Some(ms(t0.elapsed()));
        }
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("routes still at the router 30 s after the speaker was killed");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok((table.unwrap_or_default(), fib.unwrap_or_default()))
}

fn wait_fib(ns: &Netns, want: usize, timeout: Duration) -> Result<()> {
    let t0 = Instant::now();
    loop {
        let n = fib_count(ns)?;
        if n == want {
            return Ok(());
        }
        if t0.elapsed() > timeout {
            bail!("the router's FIB has {n} of {want} routes after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn s5_graceful(ctx: &Ctx, kind: Kind, vips: usize) -> Result<GracefulRow> {
    let (net, _router, mut ctl, prepared) = s5_setup(ctx, kind, vips, true)?;
    let mut spk = prepared.start(&net.s)?;
    wait_routes(
        &mut ctl,
        &["spk"],
        vips as u64,
        Instant::now(),
        Duration::from_secs(60),
        &mut spk,
    )?;
    wait_fib(&net.r, vips, Duration::from_secs(20))?;
    let since = ctl.protocols(Some("spk"))?.first().map(|p| p.since.clone());

    // the FIB is watched from a thread (each look runs `ip`), the table from here
    let stop = Arc::new(AtomicBool::new(false));
    let min_fib = Arc::new(AtomicUsize::new(usize::MAX));
    let watcher = {
        let stop = stop.clone();
        let min_fib = min_fib.clone();
        let name = net.r.name().to_string();
        std::thread::spawn(move || -> Result<()> {
            while !stop.load(Ordering::Relaxed) {
                let out = porter_lab_ip(&name)?;
                min_fib.fetch_min(out, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        })
    };
    let mut min_table = usize::MAX;
    let t0 = Instant::now();
    signal(spk.pid(), "KILL")?;
    drop(spk);
    let mut spk = prepared.restart(&net.s)?;
    let mut reestablished = None;
    let mut refreshed = None;
    while refreshed.is_none() || t0.elapsed() < Duration::from_secs(3) {
        min_table = min_table.min(ctl.route_count()?);
        if reestablished.is_none() {
            let p = ctl.protocols(Some("spk"))?;
            if let Some(p) = p
                .first()
                .filter(|p| p.established() && Some(&p.since) != since.as_ref())
            {
                let _ = p;
                reestablished = Some(ms(t0.elapsed()));
            }
        } else if refreshed.is_none() {
            // stale routes are flushed once the restarted speaker's End-of-RIB arrives;
            // until then BIRD's graceful-restart state shows in the protocol details
            let details = ctl.cmd("show protocols all spk")?;
            let gr_active = details
                .iter()
                .any(|(_, l)| l.contains("restart") && l.contains("active"));
            let p = ctl.protocols(Some("spk"))?;
            if !gr_active && p.first().is_some_and(|p| p.imported == vips as u64) {
                refreshed = Some(ms(t0.elapsed()));
            }
        }
        if t0.elapsed() > Duration::from_secs(60) {
            stop.store(true, Ordering::Relaxed);
            bail!(
                "after a restart the session is {} and the routes {} 60 s later",
                if reestablished.is_some() {
                    "up"
                } else {
                    "not up"
                },
                if refreshed.is_some() {
                    "refreshed"
                } else {
                    "not refreshed"
                }
            );
        }
        spk.check()?;
        std::thread::sleep(FAST_POLL);
    }
    stop.store(true, Ordering::Relaxed);
    watcher
        .join()
        .map_err(|_| anyhow!("FIB watcher panicked"))??;
    Ok(GracefulRow {
        min_table,
        min_fib: min_fib.load(Ordering::Relaxed),
        reestablished_ms: reestablished.unwrap_or(f64::NAN),
        refreshed_ms: refreshed.unwrap_or(f64::NAN),
    })
}

/// [`fib_count`] by namespace name, for the watcher thread.
fn porter_lab_ip(netns: &str) -> Result<usize> {
    let out = Command::new("ip")
        .args(["-n", netns, "-4", "route", "show", "proto", "bird"])
        .stderr(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!("ip -n {netns} route show failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count())
}

// ---------------------------------------------------------------------------------------------
// Scenario 6: BFD with many peers
// ---------------------------------------------------------------------------------------------

/// Scenario 6's timers: 300 ms × 3, porter's default (issue 16).
const S6_BFD: Bfd = Bfd {
    interval_ms: 300,
    multiplier: 3,
};

fn scenario6(ctx: &Ctx, report: &mut Report) -> Result<()> {
    const PEERS: usize = 50;
    const VIPS: usize = 10;
    let window = Duration::from_secs(if ctx.quick { 5 } else { 20 });
    if ctx.kinds.iter().any(|k| k.is_gobgpd()) {
        eprintln!("  s6: gobgpd left out: it has no BFD");
    }
    // As in scenario 4: set up one after the other, then measure together.
    let mut running: Vec<S6Run> = Vec::new();
    for kind in ctx.kinds.iter().copied().filter(|k| !k.is_gobgpd()) {
        eprintln!(
            "  s6: {} with {PEERS} sessions, BFD {} ms × {} on each",
            kind.name(),
            S6_BFD.interval_ms,
            S6_BFD.multiplier
        );
        match s6_setup(ctx, kind, PEERS, VIPS) {
            Ok(r) => {
                eprintln!(
                    "      BGP up with all routes after {:.0} ms, every BFD session Up at both ends after {:.0} ms",
                    r.run.up_ms, r.bfd_up_ms
                );
                running.push(r);
            }
            Err(e) => report
                .errors
                .push(format!("scenario 6, {}: {e:#}", kind.name())),
        }
    }
    // Each speaker is asked for its sessions once before the window (in the setup) and once
    // after it, as the question costs it CPU; the routers are watched throughout.
    for r in &mut running {
        r.before = Some(proc_sample(r.run.spk.pid(), ctx.tck)?);
        r.packets_before = link_packets(&r.run.net.s, "s-r")?;
    }
    eprintln!("  s6: measuring for {window:?}");
    let t0 = Instant::now();
    while t0.elapsed() < window {
        std::thread::sleep(Duration::from_millis(500).min(window.saturating_sub(t0.elapsed())));
        for r in &mut running {
            let now = router_bfd(&mut r.run.ctl)?;
            for f in bfd_changes("router", &r.router_first, &now) {
                if !r.flaps.contains(&f) {
                    r.flaps.push(f);
                }
            }
        }
    }
    let elapsed = t0.elapsed();
    let after: Vec<(ProcSample, u64)> = running
        .iter()
        .map(|r| {
            Ok((
                proc_sample(r.run.spk.pid(), ctx.tck)?,
                link_packets(&r.run.net.s, "s-r")?,
            ))
        })
        .collect::<Result<_>>()?;
    for (mut r, (a, packets_after)) in running.into_iter().zip(after) {
        let b = r.before.context("sampled before the window")?;
        let packets = packets_after.saturating_sub(r.packets_before);
        let kind = r.run.spk.kind;
        r.run.spk.check()?;
        let last = speaker_bfd(&mut r.run)?;
        r.flaps
            .extend(bfd_changes(kind.name(), &r.speaker_first, &last));
        if kind == Kind::Porter {
            // porter counts every down transition since its start: none before the window
            // either (those in it are changes of the count, above)
            r.flaps
                .extend(r.speaker_first.iter().filter(|s| s.epoch != "0").map(|s| {
                    format!(
                        "porter: {} went down {} time(s) since start",
                        s.neighbor, s.epoch
                    )
                }));
        }
        let established = r
            .run
            .ctl
            .protocols(None)?
            .iter()
            .filter(|p| p.name.starts_with('p') && p.established())
            .count();
        if established != PEERS {
            r.flaps.push(format!(
                "router: {established} of {PEERS} BGP sessions Established after the window"
            ));
        }
        if !r.flaps.is_empty() {
            report.errors.push(format!(
                "scenario 6, {}: sessions went down: {}",
                kind.name(),
                r.flaps.join("; ")
            ));
        }
        let cpu_pct = (a.cpu_s - b.cpu_s) / elapsed.as_secs_f64() * 100.0;
        let packets_per_s = packets as f64 / elapsed.as_secs_f64();
        eprintln!(
            "      {}: CPU {cpu_pct:.2} % of one core, RSS {:.1} MB (peak {:.1} MB), {packets_per_s:.0} packets/s, {} flap(s)",
            kind.name(),
            mb(a.rss_kb),
            mb(a.hwm_kb),
            r.flaps.len()
        );
        report.s6.push(S6Row {
            kind,
            peers: PEERS,
            bfd: S6_BFD,
            bgp_up_ms: r.run.up_ms,
            bfd_up_ms: r.bfd_up_ms,
            cpu_s: a.cpu_s - b.cpu_s,
            cpu_pct,
            rss_kb: a.rss_kb,
            peak_rss_kb: a.hwm_kb,
            window_s: elapsed.as_secs_f64(),
            packets_per_s,
            flaps: r.flaps.len(),
        });
    }
    Ok(())
}

/// One speaker of scenario 6 with everything known of it before the window.
struct S6Run {
    run: ManyPeers,
    /// Process start → every BFD session Up at both ends with the configured interval.
    bfd_up_ms: f64,
    /// Each end's sessions when all were first seen Up.
    speaker_first: Vec<BfdSession>,
    router_first: Vec<BfdSession>,
    before: Option<ProcSample>,
    /// Packets through the speaker's link (both directions) before the window.
    packets_before: u64,
    /// Every session seen down or re-established since.
    flaps: Vec<String>,
}

fn s6_setup(ctx: &Ctx, kind: Kind, peers: usize, vips: usize) -> Result<S6Run> {
    let t0 = Instant::now();
    let mut run = many_peers_setup(ctx, kind, ("bn-s6", 6), peers, vips, Some(S6_BFD))?;
    let deadline = t0 + Duration::from_secs(60);
    loop {
        run.spk.check()?;
        let speaker = speaker_bfd(&mut run)?;
        let router = router_bfd(&mut run.ctl)?;
        let ready = |v: &[BfdSession]| {
            v.len() == peers
                && v.iter()
                    .all(|s| s.up && s.interval_ms == Some(S6_BFD.interval_ms))
        };
        if ready(&speaker) && ready(&router) {
            return Ok(S6Run {
                run,
                bfd_up_ms: ms(t0.elapsed()),
                speaker_first: speaker,
                router_first: router,
                before: None,
                packets_before: 0,
                flaps: Vec::new(),
            });
        }
        if Instant::now() > deadline {
            let show = |v: &[BfdSession]| {
                let up = v.iter().filter(|s| s.up).count();
                let other: Vec<String> = v
                    .iter()
                    .filter(|s| !s.up || s.interval_ms != Some(S6_BFD.interval_ms))
                    .take(5)
                    .map(|s| format!("{} {} {:?} ms", s.neighbor, s.state, s.interval_ms))
                    .collect();
                format!("{} sessions, {up} Up; e.g. {}", v.len(), other.join(", "))
            };
            bail!(
                "BFD not Up at {} ms at both ends after 60 s: speaker {}; router {}",
                S6_BFD.interval_ms,
                show(&speaker),
                show(&router)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One BFD session as one end reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BfdSession {
    /// porter: the BgpPeer's name; BIRD: the neighbor's address.
    neighbor: String,
    state: String,
    up: bool,
    /// The interval this end transmits at now.
    interval_ms: Option<u32>,
    /// What changes when the session goes down and comes back: BIRD's Since column,
    /// porter's count of down transitions.
    epoch: String,
}

/// The speaker's BFD sessions: porter's `/status` (`bgpPeers.<name>.bfd`), BIRD's `show bfd
/// sessions`.
fn speaker_bfd(run: &mut ManyPeers) -> Result<Vec<BfdSession>> {
    match run.spk.kind {
        Kind::Porter => {
            let Ok(body) = http_get(&run.net.s, "/status") else {
                return Ok(Vec::new());
            };
            let v: Value = serde_json::from_str(&body)?;
            let peers = v["bgpPeers"].as_object().cloned().unwrap_or_default();
            Ok(peers
                .iter()
                .filter_map(|(name, p)| {
                    let bfd = p.get("bfd")?;
                    // ProtoU64 counters are strings in the JSON, as gobgp's are
                    let count = |f: &str| -> u64 {
                        bfd[f]
                            .as_u64()
                            .or_else(|| bfd[f].as_str().and_then(|s| s.parse().ok()))
                            .unwrap_or(0)
                    };
                    let state = bfd["state"].as_str().unwrap_or("?").to_string();
                    Some(BfdSession {
                        neighbor: name.clone(),
                        up: state == "Up",
                        state,
                        interval_ms: bfd["txIntervalMs"]
                            .as_u64()
                            .and_then(|v| u32::try_from(v).ok()),
                        epoch: count("downTransitions").to_string(),
                    })
                })
                .collect())
        }
        Kind::Bird => router_bfd(run.spk.bird_ctl.as_mut().context("BIRD control socket")?),
        Kind::Gobgpd | Kind::GobgpdBuilt => bail!("gobgpd has no BFD"),
    }
}

/// A BIRD's BFD sessions (`show bfd sessions`).
fn router_bfd(ctl: &mut BirdCtl) -> Result<Vec<BfdSession>> {
    ctl.bfd_sessions()
}

/// Packets sent plus received on `dev` in `ns` so far (`ip -s -j link`).
fn link_packets(ns: &Netns, dev: &str) -> Result<u64> {
    let out = ns.exec(&["ip", "-s", "-j", "link", "show", "dev", dev])?;
    let v: Value = serde_json::from_str(&out)?;
    let stats = &v[0]["stats64"];
    let n = |dir: &str| stats[dir]["packets"].as_u64();
    n("rx")
        .zip(n("tx"))
        .map(|(rx, tx)| rx + tx)
        .with_context(|| format!("no packet counts for {dev} in {out}"))
}

/// Whether two epochs of one session are the same: equal, or, for BIRD's Since, clock times
/// within 50 ms of each other. BIRD keeps the time of the change on its monotonic clock and
/// turns it into wall-clock time at each `show`, so the milliseconds shown move by one
/// between questions; a real flap moves it by at least a detection time.
fn same_epoch(a: &str, b: &str) -> bool {
    // "20:42:18.228" (BIRD's default `iso short ms`)
    let clock = |t: &str| -> Option<f64> {
        let mut parts = t.split(':');
        let h: f64 = parts.next()?.parse().ok()?;
        let m: f64 = parts.next()?.parse().ok()?;
        let s: f64 = parts.next()?.parse().ok()?;
        Some((h * 60.0 + m) * 60.0 + s)
    };
    match (clock(a), clock(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= 0.05,
        _ => a == b,
    }
}

/// Sessions of `first` that are no longer Up, or have gone down and come back, in `now`.
fn bfd_changes(end: &str, first: &[BfdSession], now: &[BfdSession]) -> Vec<String> {
    first
        .iter()
        .filter_map(|f| match now.iter().find(|n| n.neighbor == f.neighbor) {
            None => Some(format!("{end}: {} gone", f.neighbor)),
            Some(n) if !n.up => Some(format!("{end}: {} {}", f.neighbor, n.state)),
            Some(n) if !same_epoch(&n.epoch, &f.epoch) => Some(format!(
                "{end}: {} changed state since ({} → {})",
                f.neighbor, f.epoch, n.epoch
            )),
            Some(_) => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The lab: namespaces, speakers, the router's control socket
// ---------------------------------------------------------------------------------------------

/// A router namespace and a speaker namespace joined by one veth link 10.203.X.0/24.
struct Pair {
    r: Netns,
    s: Netns,
    router_ip: Ipv4Addr,
    speaker_ip: Ipv4Addr,
}

impl Pair {
    fn new(tag: &str, x: u8) -> Result<Pair> {
        let r = Netns::new(&format!("{tag}-r"))?;
        let s = Netns::new(&format!("{tag}-s"))?;
        r.veth("r-s", &s, "s-r")?;
        let router_ip = Ipv4Addr::new(10, 203, x, 1);
        let speaker_ip = Ipv4Addr::new(10, 203, x, 2);
        r.addr("r-s", &format!("{router_ip}/24"))?;
        s.addr("s-r", &format!("{speaker_ip}/24"))?;
        Ok(Pair {
            r,
            s,
            router_ip,
            speaker_ip,
        })
    }
}

/// Everything a speaker needs written before its start is timed.
struct Prepared {
    kind: Kind,
    /// porter's YAML, gobgpd's TOML or BIRD's config.
    config: PathBuf,
    /// gobgpd: the MRT records of its routes (fed through a FIFO after start).
    mrt: Option<Vec<u8>>,
    vips: usize,
    porter: PathBuf,
    /// gobgpd: which gobgpd and gobgp CLI.
    gobgp: Option<GobgpBinaries>,
}

/// What a speaker is asked to do: its address (also its router id), one session per
/// neighbor, the VIPs (numbers, see [`vip`]), graceful restart, hold time.
struct Spec<'a> {
    router_id: Ipv4Addr,
    neighbors: &'a [Ipv4Addr],
    /// The local address of each session (same order as `neighbors`); empty: the router id.
    locals: &'a [Ipv4Addr],
    vips: &'a [usize],
    graceful: bool,
    hold_time: u16,
    /// BFD on every session (scenario 6).
    bfd: Option<Bfd>,
}

/// BFD timers, the same for both directions and at both ends.
#[derive(Clone, Copy, Debug)]
struct Bfd {
    interval_ms: u32,
    multiplier: u8,
}

impl<'a> Spec<'a> {
    fn new(router_id: Ipv4Addr, neighbors: &'a [Ipv4Addr], vips: &'a [usize]) -> Spec<'a> {
        Spec {
            router_id,
            neighbors,
            locals: &[],
            vips,
            graceful: false,
            hold_time: 9,
            bfd: None,
        }
    }
}

impl Prepared {
    /// Writes the speaker's configuration for `spec` into `ns`'s state directory.
    fn new(ctx: &Ctx, kind: Kind, ns: &Netns, spec: &Spec) -> Result<Prepared> {
        let mut p = Prepared {
            kind,
            config: PathBuf::new(),
            mrt: None,
            vips: spec.vips.len(),
            porter: ctx.porter.clone(),
            gobgp: kind
                .is_gobgpd()
                .then(|| ctx.gobgp(kind).cloned())
                .transpose()?,
        };
        match kind {
            Kind::Porter => {
                let mut conf = PorterConf::new(spec.router_id, spec.neighbors.to_vec());
                conf.locals = spec.locals.to_vec();
                conf.hold_time = spec.hold_time;
                conf.graceful = spec.graceful;
                conf.bfd = spec.bfd;
                p.config = ns.dir().join("porter.yaml");
                write_atomic(&p.config, &conf.render(spec.vips))?;
            }
            Kind::Gobgpd | Kind::GobgpdBuilt => {
                if spec.bfd.is_some() {
                    bail!("gobgpd has no BFD");
                }
                let mut conf = GobgpConfig::new(spec.router_id, SPEAKER_AS);
                for (i, n) in spec.neighbors.iter().enumerate() {
                    let mut nb =
                        GobgpNeighbor::new((*n).into(), ROUTER_AS).hold_time(spec.hold_time);
                    if let Some(l) = spec.locals.get(i) {
                        nb = nb.local_address((*l).into());
                    }
                    if spec.graceful {
                        nb = nb.graceful_restart();
                    }
                    conf = conf.neighbor(nb);
                }
                let dir = ns.dir().join("gobgpd");
                std::fs::create_dir_all(&dir)?;
                p.config = dir.join("gobgpd.toml");
                std::fs::write(&p.config, conf.render())?;
                p.mrt = (!spec.vips.is_empty()).then(|| mrt_records(spec.vips, spec.router_id));
            }
            Kind::Bird => {
                let dir = ns.dir().join("bird-speaker");
                std::fs::create_dir_all(&dir)?;
                p.config = dir.join("bird.conf");
                std::fs::write(&p.config, bird_speaker_conf(spec))?;
                let bird = find_binary("bird").context("bird not found")?;
                let out = Command::new(bird)
                    .arg("-p")
                    .arg("-c")
                    .arg(&p.config)
                    .output()?;
                if !out.status.success() {
                    bail!(
                        "BIRD rejects the speaker config: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
        Ok(p)
    }

    /// Starts the speaker; for gobgpd also starts feeding its routes.
    fn start(&self, ns: &Netns) -> Result<Spk> {
        self.spawn(ns, false)
    }

    /// Starts it again after a crash: BIRD with graceful-restart recovery (`-R`).
    fn restart(&self, ns: &Netns) -> Result<Spk> {
        self.spawn(ns, true)
    }

    fn spawn(&self, ns: &Netns, recovery: bool) -> Result<Spk> {
        match self.kind {
            Kind::Porter => start_porter_path(&self.porter, ns, &self.config),
            Kind::Gobgpd | Kind::GobgpdBuilt => {
                let bins = self.gobgp.as_ref().context("gobgpd binaries")?;
                let daemon = ns.spawn(
                    "gobgpd.log",
                    &bins.gobgpd,
                    [
                        "-f".as_ref(),
                        self.config.as_os_str(),
                        "--api-hosts".as_ref(),
                        "127.0.0.1:50051".as_ref(),
                        "--pprof-disable".as_ref(),
                        "-p".as_ref(),
                    ],
                )?;
                let mut spk = Spk::new(self.kind, daemon);
                spk.gobgp = Some(bins.gobgp.clone());
                if let Some(mrt) = &self.mrt {
                    spk.feed = Some(Feed::start(ns, &bins.gobgp, mrt.clone(), self.vips)?);
                }
                Ok(spk)
            }
            Kind::Bird => {
                let dir = self.config.parent().context("config dir")?;
                let socket = dir.join("bird.ctl");
                let _ = std::fs::remove_file(&socket);
                let bird = find_binary("bird").context("bird not found")?;
                let mut args: Vec<&std::ffi::OsStr> = vec![
                    "-f".as_ref(),
                    "-c".as_ref(),
                    self.config.as_os_str(),
                    "-s".as_ref(),
                    socket.as_os_str(),
                ];
                if recovery {
                    args.push("-R".as_ref());
                }
                let daemon = ns.spawn("bird-speaker.log", &bird, args)?;
                let mut spk = Spk::new(Kind::Bird, daemon);
                spk.bird_conf = Some(self.config.clone());
                let t0 = Instant::now();
                spk.bird_ctl = loop {
                    match BirdCtl::connect(&socket) {
                        Ok(c) => break Some(c),
                        Err(e) if t0.elapsed() > Duration::from_secs(20) => {
                            return Err(spk
                                .daemon
                                .failure(&format!("no control socket: {e:#}"), &[]))
                        }
                        Err(_) => {
                            spk.check()?;
                            std::thread::sleep(Duration::from_millis(2));
                        }
                    }
                };
                Ok(spk)
            }
        }
    }
}

fn start_porter(ctx: &Ctx, ns: &Netns, cfg: &Path) -> Result<Spk> {
    start_porter_path(&ctx.porter, ns, cfg)
}

fn start_porter_path(porter: &Path, ns: &Netns, cfg: &Path) -> Result<Spk> {
    let daemon = ns.spawn(
        "porter.log",
        porter,
        [
            "standalone".as_ref(),
            "--config".as_ref(),
            cfg.as_os_str(),
            "--node-name".as_ref(),
            "bench".as_ref(),
            "--http".as_ref(),
            HTTP.as_ref(),
            "--load-balancer-class".as_ref(),
            LB_CLASS.as_ref(),
        ],
    )?;
    Ok(Spk::new(Kind::Porter, daemon))
}

/// A running speaker under test.
struct Spk {
    kind: Kind,
    daemon: Daemon,
    feed: Option<Feed>,
    bird_ctl: Option<BirdCtl>,
    bird_conf: Option<PathBuf>,
    /// gobgpd: its gobgp CLI.
    gobgp: Option<PathBuf>,
}

/// What a receiver has of the full table.
struct Received {
    count: u64,
    done: bool,
}

impl Spk {
    fn new(kind: Kind, daemon: Daemon) -> Spk {
        Spk {
            kind,
            daemon,
            feed: None,
            bird_ctl: None,
            bird_conf: None,
            gobgp: None,
        }
    }

    fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// Errors (with the log tail) if the speaker has exited.
    fn check(&mut self) -> Result<()> {
        self.daemon.check_running()
    }

    /// gobgpd: checks that gobgpd itself holds every injected path, then lets the injecting
    /// CLI finish.
    fn finish_feed(&mut self) -> Result<()> {
        match self.feed.take() {
            Some(f) => f.finish(),
            None => Ok(()),
        }
    }

    /// Whether this receiver has the whole table (scenario 3): porter's `/status` shows the
    /// router's End-of-RIB; gobgpd's and BIRD's counts of received paths reach `want`.
    fn received_all(&mut self, ns: &Netns, router: Ipv4Addr, want: u64) -> Result<Received> {
        match self.kind {
            Kind::Porter => {
                let Ok(body) = http_get(ns, "/status") else {
                    return Ok(Received {
                        count: 0,
                        done: false,
                    });
                };
                let v: Value = serde_json::from_str(&body)?;
                let peer = &v["bgpPeers"]["rtr1"];
                let updates = peer["peerState"]["messages"]["received"]["update"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| peer["peerState"]["messages"]["received"]["update"].as_u64())
                    .unwrap_or(0);
                let eor = peer["endOfRibReceived"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|f| f == "ipv4-unicast"));
                Ok(Received {
                    count: updates,
                    done: eor,
                })
            }
            Kind::Gobgpd | Kind::GobgpdBuilt => {
                let out = ns
                    .command(self.gobgp.as_ref().context("gobgp CLI")?)
                    .args(["-u", "127.0.0.1", "-p", "50051", "-j", "neighbor"])
                    .arg(router.to_string())
                    .stderr(Stdio::null())
                    .output()?;
                if !out.status.success() {
                    return Ok(Received {
                        count: 0,
                        done: false,
                    });
                }
                let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
                let count = gobgp_received(&v);
                Ok(Received {
                    count,
                    done: count >= want,
                })
            }
            Kind::Bird => {
                let ctl = self.bird_ctl.as_mut().context("BIRD control socket")?;
                let count = ctl
                    .protocols(Some("rtr1"))?
                    .first()
                    .map_or(0, |p| p.imported);
                Ok(Received {
                    count,
                    done: count >= want,
                })
            }
        }
    }
}

/// Received paths in `gobgp -j neighbor ADDR` output (its afi_safis' state.received).
fn gobgp_received(v: &Value) -> u64 {
    let peer = match v {
        Value::Array(a) => a.first().unwrap_or(&Value::Null),
        other => other,
    };
    peer["afi_safis"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["state"]["received"].as_u64().unwrap_or(0))
        .sum()
}

/// gobgpd's routes streaming in: `gobgp mrt inject global FIFO` reading records this process
/// writes. The FIFO stays open until gobgpd holds every path, so the CLI cannot exit with
/// paths still queued (see the module docs).
struct Feed {
    cli: std::process::Child,
    close: mpsc::Sender<()>,
    writer: Option<std::thread::JoinHandle<Result<()>>>,
    netns: String,
    gobgp: PathBuf,
    want: usize,
}

impl Feed {
    fn start(ns: &Netns, gobgp: &Path, records: Vec<u8>, want: usize) -> Result<Feed> {
        let fifo = ns.dir().join("routes.mrt");
        let _ = std::fs::remove_file(&fifo);
        let st = Command::new("mkfifo").arg(&fifo).status()?;
        if !st.success() {
            bail!("mkfifo {} failed", fifo.display());
        }
        let log = std::fs::File::create(ns.dir().join("inject.log"))?;
        let t0 = Instant::now();
        // the CLI fails while gobgpd's API is not up yet: retried until it connects
        let (close, closed) = mpsc::channel::<()>();
        let path = fifo.clone();
        let writer = std::thread::spawn(move || -> Result<()> {
            // opening blocks until the CLI opens the FIFO for reading
            let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
            f.write_all(&records)?;
            f.flush()?;
            let _ = closed.recv();
            Ok(())
        });
        loop {
            // wait for the API (each try is a CLI run, as an operator's script would do)
            let ok = ns
                .command(gobgp)
                .args(["-u", "127.0.0.1", "-p", "50051", "global"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?
                .success();
            if ok {
                break;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                bail!("gobgpd's API did not answer within 20 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let cli = ns
            .command(gobgp)
            .args(["-u", "127.0.0.1", "-p", "50051", "mrt", "inject", "global"])
            .arg(&fifo)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(Feed {
            cli,
            close,
            writer: Some(writer),
            netns: ns.name().to_string(),
            gobgp: gobgp.to_path_buf(),
            want,
        })
    }

    fn finish(mut self) -> Result<()> {
        let have = gobgp_rib_count(&self.gobgp, &self.netns)?;
        if have != self.want {
            bail!("gobgpd holds {have} of the {} injected paths", self.want);
        }
        let _ = self.close.send(());
        if let Some(w) = self.writer.take() {
            w.join().map_err(|_| anyhow!("MRT writer panicked"))??;
        }
        let st = self.cli.wait()?;
        if !st.success() {
            bail!("gobgp mrt inject failed ({st})");
        }
        Ok(())
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        let _ = self.cli.kill();
        let _ = self.cli.wait();
    }
}

/// Paths in gobgpd's global IPv4 table (`gobgp global rib summary`).
fn gobgp_rib_count(gobgp: &Path, netns: &str) -> Result<usize> {
    let out = Command::new("ip")
        .args(["netns", "exec", netns])
        .arg(gobgp)
        .args([
            "-u",
            "127.0.0.1",
            "-p",
            "50051",
            "global",
            "rib",
            "summary",
            "-a",
            "ipv4",
        ])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "Destination: 9784, Path: 9784"
    text.split_once("Path:")
        .and_then(|(_, n)| {
            n.trim()
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .with_context(|| format!("no path count in gobgp output: {text}"))
}

/// MRT TABLE_DUMP_V2 records (RFC 6396 §4.3) for the VIPs: a PEER_INDEX_TABLE naming the
/// speaker, then one RIB_IPV4_UNICAST per /32 with ORIGIN IGP, an empty AS_PATH and NEXT_HOP
/// `next_hop` (what porter and BIRD announce).
fn mrt_records(vips: &[usize], next_hop: Ipv4Addr) -> Vec<u8> {
    fn record(out: &mut Vec<u8>, subtype: u16, body: &[u8]) {
        out.extend_from_slice(&0u32.to_be_bytes()); // timestamp
        out.extend_from_slice(&13u16.to_be_bytes()); // TABLE_DUMP_V2
        out.extend_from_slice(&subtype.to_be_bytes());
        out.extend_from_slice(&u32::try_from(body.len()).expect("small").to_be_bytes());
        out.extend_from_slice(body);
    }
    let nh = next_hop.octets();
    let mut out = Vec::with_capacity(vips.len() * 45 + 64);
    let mut peers = Vec::new();
    peers.extend_from_slice(&nh); // collector BGP ID
    peers.extend_from_slice(&0u16.to_be_bytes()); // no view name
    peers.extend_from_slice(&1u16.to_be_bytes()); // one peer
    peers.push(0x02); // IPv4 address, 4-octet AS
    peers.extend_from_slice(&nh); // peer BGP ID
    peers.extend_from_slice(&nh); // peer address
    peers.extend_from_slice(&SPEAKER_AS.to_be_bytes());
    record(&mut out, 1, &peers); // PEER_INDEX_TABLE
                                 // ORIGIN IGP, AS_PATH empty, NEXT_HOP
    let attrs = [
        0x40, 0x01, 0x01, 0x00, 0x40, 0x02, 0x00, 0x40, 0x03, 0x04, nh[0], nh[1], nh[2], nh[3],
    ];
    for (seq, &i) in vips.iter().enumerate() {
        let mut body = Vec::with_capacity(32);
        body.extend_from_slice(&u32::try_from(seq).expect("fits").to_be_bytes());
        body.push(32);
        body.extend_from_slice(&vip(i).octets());
        body.extend_from_slice(&1u16.to_be_bytes()); // one entry
        body.extend_from_slice(&0u16.to_be_bytes()); // peer index
        body.extend_from_slice(&0u32.to_be_bytes()); // originated time
        body.extend_from_slice(&u16::try_from(attrs.len()).expect("small").to_be_bytes());
        body.extend_from_slice(&attrs);
        record(&mut out, 2, &body); // RIB_IPV4_UNICAST
    }
    out
}

/// porter's standalone file: BgpConf, one BgpPeer per neighbor, one Eip, one Service per VIP
/// (with `spec.loadBalancerIP`, so every speaker announces the same addresses).
struct PorterConf {
    router_id: Ipv4Addr,
    neighbors: Vec<Ipv4Addr>,
    /// Per-session local addresses (BgpPeer spec.transport.localAddress), if any.
    locals: Vec<Ipv4Addr>,
    hold_time: u16,
    graceful: bool,
    /// `spec.bfd` on every BgpPeer.
    bfd: Option<Bfd>,
}

impl PorterConf {
    fn new(router_id: Ipv4Addr, neighbors: Vec<Ipv4Addr>) -> PorterConf {
        PorterConf {
            router_id,
            neighbors,
            locals: Vec::new(),
            hold_time: 9,
            graceful: false,
            bfd: None,
        }
    }

    fn render(&self, vips: &[usize]) -> String {
        let mut c = String::with_capacity(400 + vips.len() * 260);
        let gr = if self.graceful {
            ", gracefulRestart: {enabled: true, restartTime: 120}"
        } else {
            ""
        };
        let _ = write!(
            c,
            "# generated by porter-bench\n\
             apiVersion: network.kubesphere.io/v1alpha2\n\
             kind: BgpConf\n\
             metadata: {{name: default}}\n\
             spec: {{as: {SPEAKER_AS}, routerId: {}, listenPort: 179{gr}}}\n",
            self.router_id
        );
        for (i, n) in self.neighbors.iter().enumerate() {
            let transport = self
                .locals
                .get(i)
                .map(|l| format!("  transport: {{localAddress: {l}}}\n"))
                .unwrap_or_default();
            let bfd = self
                .bfd
                .map(|b| {
                    format!(
                        "  bfd: {{enabled: true, minRxIntervalMs: {0}, minTxIntervalMs: {0}, \
                         multiplier: {1}}}\n",
                        b.interval_ms, b.multiplier
                    )
                })
                .unwrap_or_default();
            let _ = write!(
                c,
                "---\n\
                 apiVersion: network.kubesphere.io/v1alpha2\n\
                 kind: BgpPeer\n\
                 metadata: {{name: rtr{}}}\n\
                 spec:\n  conf: {{neighborAddress: {n}, peerAs: {ROUTER_AS}}}\n  \
                 timers: {{config: {{holdTime: {}, keepaliveInterval: {}, connectRetry: 1}}}}\n{transport}{bfd}",
                i + 1,
                self.hold_time,
                (self.hold_time / 3).max(1)
            );
        }
        let _ = write!(
            c,
            "---\n\
             apiVersion: network.kubesphere.io/v1alpha2\n\
             kind: Eip\n\
             metadata: {{name: bench, annotations: {{eip.openelb.kubesphere.io/is-default-eip: \"true\"}}}}\n\
             spec: {{address: {POOL}, protocol: bgp}}\n"
        );
        // One flow-style line per Service, no ports: 100,000 of them must stay under the
        // loader's 16 MiB file limit.
        for &i in vips {
            let _ = writeln!(
                c,
                "---\n{{apiVersion: v1, kind: Service, metadata: {{name: v{i}}}, spec: {{type: \
                 LoadBalancer, loadBalancerClass: {LB_CLASS}, loadBalancerIP: {}}}}}",
                vip(i)
            );
        }
        c
    }
}

/// BIRD as the speaker: the VIPs as static blackhole routes exported to each neighbor with
/// next hop self, connecting at once (`connect delay time 0`) as porter and gobgpd do.
fn bird_speaker_conf(spec: &Spec) -> String {
    let router_id = spec.router_id;
    let mut c = String::with_capacity(400 + spec.vips.len() * 40);
    let _ = writeln!(
        c,
        "# generated by porter-bench\nlog stderr all;\nrouter id {router_id};"
    );
    let _ = writeln!(c, "protocol device {{ scan time 10; }}");
    if let Some(b) = spec.bfd {
        // as the lab router renders it (porter-lab's BirdConfig)
        let _ = writeln!(
            c,
            "protocol bfd {{ interface \"*\" {{ min rx interval {0} ms; min tx interval {0} ms; \
             idle tx interval 1000 ms; multiplier {1}; }}; }}",
            b.interval_ms, b.multiplier
        );
    }
    let _ = writeln!(c, "protocol static vips {{\n  ipv4;");
    for &i in spec.vips {
        let _ = writeln!(c, "  route {}/32 blackhole;", vip(i));
    }
    let _ = writeln!(c, "}}");
    for (i, n) in spec.neighbors.iter().enumerate() {
        let local = spec.locals.get(i).copied().unwrap_or(router_id);
        let _ = writeln!(
            c,
            "protocol bgp rtr{} {{\n  local {local} as {SPEAKER_AS};\n  neighbor {n} as {ROUTER_AS};\n  \
             connect delay time 0; connect retry time 1; error wait time 1, 10; hold time {};{}\n  \
             debug {{ states, events }};{}\n  \
             ipv4 {{ import all; export where source = RTS_STATIC; next hop self; }};\n}}",
            i + 1,
            spec.hold_time,
            if spec.graceful { " graceful restart on;" } else { "" },
            if spec.bfd.is_some() { " bfd on;" } else { "" }
        );
    }
    c
}

/// How long BIRD's connect-delay timer held back its first connection: from its trace line
/// "Connect delayed by …" to "Connecting to …" (millisecond timestamps).
fn bird_connect_wait(log: &Path) -> Result<f64> {
    let text = std::fs::read_to_string(log)?;
    // "2026-11-23 23:25:04.025 <TRACE> rtr1: Connect delayed by 1 seconds"
    let at = |needle: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.contains(needle))?;
        let time = line.split_whitespace().nth(1)?;
        let mut parts = time.split(':');
        let h: f64 = parts.next()?.parse().ok()?;
        let m: f64 = parts.next()?.parse().ok()?;
        let s: f64 = parts.next()?.parse().ok()?;
        Some(((h * 60.0 + m) * 60.0 + s) * 1000.0)
    };
    match (at("Connect delayed by"), at("Connecting to")) {
        (Some(a), Some(b)) => Ok(if b >= a { b - a } else { b + 86_400_000.0 - a }),
        _ => bail!("no connect-delay trace in {}", log.display()),
    }
}

/// Progress of routes arriving at the router.
struct Progress {
    established: Duration,
    done: Duration,
}

/// Polls the router until every protocol in `names` is Established with `want` routes
/// imported; errors clearly (with the speaker's log) when a speaker falls short.
fn wait_routes(
    ctl: &mut BirdCtl,
    names: &[&str],
    want: u64,
    t0: Instant,
    timeout: Duration,
    spk: &mut Spk,
) -> Result<Progress> {
    let mut established = None;
    loop {
        let protos = if names.len() == 1 {
            ctl.protocols(Some(names[0]))?
        } else {
            ctl.protocols(None)?
        };
        let mine: Vec<&Proto> = protos
            .iter()
            .filter(|p| names.contains(&p.name.as_str()))
            .collect();
        let up = mine.iter().filter(|p| p.established()).count();
        if established.is_none() && up == names.len() {
            established = Some(t0.elapsed());
        }
        let total: u64 = mine.iter().map(|p| p.imported).sum();
        if up == names.len() && mine.iter().all(|p| p.imported == want) {
            return Ok(Progress {
                established: established.unwrap_or_default(),
                done: t0.elapsed(),
            });
        }
        if mine.iter().any(|p| p.imported > want) {
            bail!("the router got more routes than announced: {mine:?}");
        }
        if t0.elapsed() > timeout {
            let want_total = want * names.len() as u64;
            return Err(spk.daemon.failure(
                &format!(
                    "{} delivered {total} of {want_total} routes ({up} of {} sessions up) within {timeout:?}",
                    spk.kind.name(),
                    names.len()
                ),
                &[],
            ));
        }
        spk.check()?;
        std::thread::sleep(FAST_POLL);
    }
}

/// Polls the router until `ip`/32 is present (`appear`) or absent; ms since `t0`.
fn wait_route_state(
    ctl: &mut BirdCtl,
    ip: Ipv4Addr,
    appear: bool,
    t0: Instant,
    timeout: Duration,
) -> Result<f64> {
    let prefix = format!("{ip}/32");
    loop {
        if ctl.has_route(&prefix)? == appear {
            return Ok(ms(t0.elapsed()));
        }
        if t0.elapsed() > timeout {
            bail!(
                "{prefix} did not {} at the router within {timeout:?}",
                if appear { "appear" } else { "disappear" }
            );
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Checks that the router's route for `ip` goes via `next_hop`.
fn check_next_hop(ctl: &mut BirdCtl, ip: Ipv4Addr, next_hop: Ipv4Addr) -> Result<()> {
    let reply = ctl.cmd(&format!("show route {ip}/32"))?;
    let via = format!("via {next_hop}");
    if !reply.iter().any(|(_, l)| l.contains(&via)) {
        bail!("the router's route for {ip}/32 is not {via}: {reply:?}");
    }
    Ok(())
}

/// One protocol row of `show protocols all`.
#[derive(Debug, Clone)]
struct Proto {
    name: String,
    since: String,
    info: String,
    imported: u64,
}

impl Proto {
    fn established(&self) -> bool {
        self.info.starts_with("Established")
    }
}

/// A client of BIRD's control socket, kept open: each query is a line written and a reply
/// read, with none of the cost of starting `birdc` (which would disturb what is measured).
struct BirdCtl {
    stream: BufReader<UnixStream>,
}

impl BirdCtl {
    fn connect(path: &Path) -> Result<BirdCtl> {
        let s = UnixStream::connect(path)
            .with_context(|| format!("connecting to {}", path.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut c = BirdCtl {
            stream: BufReader::new(s),
        };
        c.reply()?; // "0001 BIRD 2.0.12 ready."
        Ok(c)
    }

    /// Runs one command; the reply as (code, text) lines, continuation lines with code 0.
    fn cmd(&mut self, line: &str) -> Result<Vec<(u32, String)>> {
        self.stream
            .get_mut()
            .write_all(format!("{line}\n").as_bytes())?;
        self.reply()
    }

    /// Reads reply lines up to the last one: `DDDD text` (a hyphen instead of the blank
    /// marks more to come; a line starting with a blank continues the previous code).
    fn reply(&mut self) -> Result<Vec<(u32, String)>> {
        let mut out = Vec::new();
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line)? == 0 {
                bail!("BIRD closed its control socket");
            }
            let line = line.trim_end_matches('\n');
            let b = line.as_bytes();
            if b.len() >= 5
                && b[..4].iter().all(u8::is_ascii_digit)
                && (b[4] == b' ' || b[4] == b'-')
            {
                let code: u32 = line[..4].parse()?;
                out.push((code, line[5..].to_string()));
                if b[4] == b' ' {
                    return Ok(out);
                }
            } else {
                out.push((0, line.get(1..).unwrap_or_default().to_string()));
            }
        }
    }

    /// `show protocols all [NAME]`: state and imported routes of each protocol.
    fn protocols(&mut self, name: Option<&str>) -> Result<Vec<Proto>> {
        let reply = self.cmd(&match name {
            Some(n) => format!("show protocols all {n}"),
            None => "show protocols all".into(),
        })?;
        let mut out: Vec<Proto> = Vec::new();
        for (code, text) in reply {
            if code == 1002 {
                let cols: Vec<&str> = text.split_whitespace().collect();
                if cols.len() < 5 || cols[0] == "Name" {
                    continue;
                }
                out.push(Proto {
                    name: cols[0].into(),
                    since: cols[4].into(),
                    info: cols[5..].join(" "),
                    imported: 0,
                });
            } else if let Some(rest) = text.trim_start().strip_prefix("Routes:") {
                // "Routes:         1000 imported, 0 exported, 1000 preferred"
                if let (Some(p), Some(n)) = (
                    out.last_mut(),
                    rest.split_whitespace()
                        .next()
                        .and_then(|n| n.parse::<u64>().ok()),
                ) {
                    p.imported += n;
                }
            }
        }
        if out.is_empty() {
            bail!("no protocol in BIRD's reply to show protocols {name:?}");
        }
        Ok(out)
    }

    /// Routes exported to protocol `name` ("Routes: 0 imported, 1000000 exported, …").
    fn exported(&mut self, name: &str) -> Result<u64> {
        let reply = self.cmd(&format!("show protocols all {name}"))?;
        reply
            .iter()
            .find_map(|(_, t)| {
                let rest = t.trim_start().strip_prefix("Routes:")?;
                let (_, after) = rest.split_once("imported,")?;
                after.split_whitespace().next()?.parse().ok()
            })
            .with_context(|| format!("no route counts for {name} in {reply:?}"))
    }

    /// Whether the router holds a route for exactly `prefix` ("1007-Table master4:" then
    /// " 198.18.0.1/32  unicast [spk …]" as a continuation line; "8001 Network not found").
    fn has_route(&mut self, prefix: &str) -> Result<bool> {
        let reply = self.cmd(&format!("show route {prefix}"))?;
        Ok(reply
            .iter()
            .any(|(code, text)| (*code == 1007 || *code == 0) && text.starts_with(prefix)))
    }

    /// `show bfd sessions`: one row per session, `IP address  Interface  State  Since
    /// Interval  Timeout` (Since in the default `iso short ms` format, one word; Interval in
    /// seconds, "0.300").
    fn bfd_sessions(&mut self) -> Result<Vec<BfdSession>> {
        let reply = self.cmd("show bfd sessions")?;
        Ok(reply
            .iter()
            .filter_map(|(_, text)| {
                let f: Vec<&str> = text.split_whitespace().collect();
                let addr: std::net::IpAddr = f.first()?.parse().ok()?;
                let state = f.get(2)?.to_string();
                let interval = f.get(4)?.parse::<f64>().ok();
                Some(BfdSession {
                    neighbor: addr.to_string(),
                    up: state == "Up",
                    state,
                    interval_ms: interval.map(|s| (s * 1000.0).round() as u32),
                    epoch: f.get(3)?.to_string(),
                })
            })
            .collect())
    }

    /// Routes in master4 (`show route count`).
    fn route_count(&mut self) -> Result<usize> {
        let reply = self.cmd("show route count table master4")?;
        for (_, text) in &reply {
            let w: Vec<&str> = text.split_whitespace().collect();
            if w.len() >= 4 && w[1] == "of" && w[3] == "routes" {
                return Ok(w[0].parse()?);
            }
        }
        bail!("no route count in {reply:?}")
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/// Sends signal `sig` to `pid` with kill(1).
fn signal(pid: u32, sig: &str) -> Result<()> {
    let st = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .status()?;
    if !st.success() {
        bail!("kill -s {sig} {pid} failed");
    }
    Ok(())
}

/// Writes `text` to a new file and renames it over `path`, so a reader never sees half.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// GET `path` from porter's HTTP endpoint inside `ns` (this program runs there to do it).
fn http_get(ns: &Netns, path: &str) -> Result<String> {
    let me = std::env::current_exe()?;
    let out = ns.command(me).args(["http-get", HTTP, path]).output()?;
    if !out.status.success() {
        bail!(
            "GET {path} in {}: {}",
            ns.name(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The hidden helper behind [`http_get`]: a plain HTTP/1.1 GET, body to stdout.
fn http_get_here(addr: &str, path: &str) -> Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: porter\r\nconnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    if !head.starts_with("HTTP/1.1 200") {
        bail!("{}", head.lines().next().unwrap_or("no answer"));
    }
    print!("{body}");
    Ok(())
}

/// Machine, load and versions, recorded with the results.
fn environment(ctx: &Ctx) -> Value {
    let first_line = |prog: &str, arg: &str| -> String {
        find_binary(prog)
            .and_then(|p| Command::new(p).arg(arg).output().ok())
            .map(|o| {
                let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
                s.push_str(&String::from_utf8_lossy(&o.stderr));
                s.lines().next().unwrap_or_default().trim().to_string()
            })
            .unwrap_or_default()
    };
    let porter_version = Command::new(&ctx.porter)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let git = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "loadavg_at_start": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "kernel": first_line("uname", "-r"),
        "porter": porter_version,
        "git": git,
        "bird": first_line("bird", "--version"),
        "gobgpd": first_line("gobgpd", "--version"),
        "gobgpd_built": ctx.gobgp_built.as_ref().map(|b| {
            format!("gobgpd version {} ({})", b.version().unwrap_or_default(), b.gobgpd.display())
        }),
    })
}

// ---------------------------------------------------------------------------------------------
// Results: JSON, Markdown, SVG
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Report {
    env: Value,
    s1: Vec<S1Row>,
    s2: Vec<S2Row>,
    s3: Vec<S3Row>,
    s4: Vec<S4Row>,
    s5: Vec<S5Row>,
    s6: Vec<S6Row>,
    errors: Vec<String>,
    wall_s: f64,
}

impl S1Row {
    /// Start to last route, less the speaker's own connect-delay timer.
    fn work_ms(&self) -> f64 {
        self.total_ms - self.connect_wait_ms.unwrap_or(0.0)
    }

    /// From the session's Established to the last route.
    fn after_established_ms(&self) -> f64 {
        self.total_ms - self.established_ms
    }
}

struct S1Row {
    kind: Kind,
    n: usize,
    total_ms: f64,
    established_ms: f64,
    /// Time the speaker sat in its own connect-delay timer before its first connection
    /// attempt (BIRD: at least 0.75 s, read from its trace), not spent on the routes.
    connect_wait_ms: Option<f64>,
    peak_rss_kb: u64,
    /// RSS once every route is out.
    rss_kb: u64,
    cpu_s: f64,
}

struct S2Row {
    kind: Kind,
    mode: String,
    add: Latencies,
    remove: Latencies,
}

struct S3Row {
    kind: Kind,
    prefixes: usize,
    established_ms: f64,
    eor_ms: f64,
    peak_rss_kb: u64,
    rss_eor_kb: u64,
    rss_final_kb: u64,
    rss_max_after_kb: u64,
    cpu_s: f64,
    stayed_up: bool,
}

struct S4Row {
    kind: Kind,
    peers: usize,
    vips: usize,
    all_up_ms: f64,
    idle_rss_kb: u64,
    peak_rss_kb: u64,
    idle_cpu_s: f64,
    window_s: f64,
}

struct S6Row {
    kind: Kind,
    peers: usize,
    bfd: Bfd,
    /// Process start → every BGP session Established with every route at the router.
    bgp_up_ms: f64,
    /// Process start → every BFD session Up at both ends at the configured interval.
    bfd_up_ms: f64,
    /// CPU time over the window, and as a share of one core.
    cpu_s: f64,
    cpu_pct: f64,
    rss_kb: u64,
    peak_rss_kb: u64,
    window_s: f64,
    /// Packets per second through the speaker's link, sent and received (BFD, and a
    /// keepalive per session every 30 s): the work the CPU time pays for.
    packets_per_s: f64,
    /// Sessions seen down or re-established (at either end), from the start on.
    flaps: usize,
}

#[derive(Default)]
struct S5Row {
    kind: Kind,
    vips: usize,
    kill_table_ms: Option<f64>,
    kill_fib_ms: Option<f64>,
    graceful: Option<GracefulRow>,
}

#[derive(Clone, Copy, Debug)]
struct GracefulRow {
    min_table: usize,
    min_fib: usize,
    reestablished_ms: f64,
    refreshed_ms: f64,
}

/// `a / b` as text, or a dash when either is missing.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => {
            let r = a / b;
            if r < 0.1 {
                format!("{r:.3}×")
            } else {
                format!("{r:.2}×")
            }
        }
        _ => "–".into(),
    }
}

fn ratio_value(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

impl Report {
    fn s1_get(&self, kind: Kind, n: usize) -> Option<&S1Row> {
        self.s1.iter().find(|r| r.kind == kind && r.n == n)
    }

    fn s3_get(&self, kind: Kind) -> Option<&S3Row> {
        self.s3.iter().find(|r| r.kind == kind)
    }

    fn s4_get(&self, kind: Kind) -> Option<&S4Row> {
        self.s4.iter().find(|r| r.kind == kind)
    }

    fn s6_get(&self, kind: Kind) -> Option<&S6Row> {
        self.s6.iter().find(|r| r.kind == kind)
    }

    /// The gobgpds to compare porter with: Debian's, and the built one when it ran.
    fn gobgpds(&self) -> Vec<Kind> {
        let built = self.s1.iter().any(|r| r.kind == Kind::GobgpdBuilt)
            || self.s3.iter().any(|r| r.kind == Kind::GobgpdBuilt);
        let mut v = vec![Kind::Gobgpd];
        if built {
            v.push(Kind::GobgpdBuilt);
        }
        v
    }

    /// The speakers with a row in scenario 1 or 3, in [`Kind::ALL`] order (the charts' series).
    fn charted(&self) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|k| {
                self.s1.iter().any(|r| r.kind == *k) || self.s3.iter().any(|r| r.kind == *k)
            })
            .collect()
    }

    fn sizes(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.s1.iter().map(|r| r.n).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// (target, measured, met) rows for the issue's targets.
    fn targets(&self) -> Vec<(String, String, Option<bool>)> {
        let mut t = Vec::new();
        for n in self.sizes() {
            let p = self.s1_get(Kind::Porter, n);
            let b = self.s1_get(Kind::Bird, n);
            let r = ratio_value(p.map(S1Row::work_ms), b.map(S1Row::work_ms));
            t.push((
                format!("s1 N={n}: start → last route (less connect timer) ≤ 1.0× BIRD's"),
                r.map_or("–".into(), |r| format!("{r:.2}×")),
                r.map(|r| r <= 1.0),
            ));
            for gk in self.gobgpds() {
                let g = self.s1_get(gk, n);
                let r = ratio_value(
                    p.map(S1Row::after_established_ms),
                    g.map(S1Row::after_established_ms),
                );
                t.push((
                    format!("s1 N={n}: Established → last route ≤ 0.5× {}'s", gk.name()),
                    r.map_or("–".into(), |r| format!("{r:.2}×")),
                    r.map(|r| r <= 0.5),
                ));
                let r = ratio_value(
                    p.map(|r| r.peak_rss_kb as f64),
                    g.map(|r| r.peak_rss_kb as f64),
                );
                t.push((
                    format!("s1 N={n}: peak RSS ≤ 0.2× {}'s", gk.name()),
                    r.map_or("–".into(), |r| format!("{r:.2}×")),
                    r.map(|r| r <= 0.2),
                ));
            }
        }
        for row in self.s2.iter().filter(|r| r.kind == Kind::Porter) {
            let worst = row.add.p99.max(row.remove.p99);
            t.push((
                format!("s2 {}: p99 ≤ 10 ms", row.mode),
                format!("{worst:.1} ms"),
                Some(worst <= 10.0),
            ));
        }
        for gk in self.gobgpds() {
            if let (Some(p), Some(g)) = (self.s3_get(Kind::Porter), self.s3_get(gk)) {
                let r = p.peak_rss_kb as f64 / g.peak_rss_kb as f64;
                t.push((
                    format!(
                        "s3 {} prefixes: peak RSS ≤ 0.1× {}'s",
                        p.prefixes,
                        gk.name()
                    ),
                    format!("{r:.3}×"),
                    Some(r <= 0.1),
                ));
            }
        }
        if let Some(p) = self.s3_get(Kind::Porter) {
            // flat: after EoR the RSS grows by at most 5 % (and 1 MB of noise)
            let flat = p.rss_max_after_kb as f64 <= p.rss_eor_kb as f64 * 1.05 + 1024.0;
            t.push((
                "s3: RSS flat after End-of-RIB".into(),
                format!(
                    "{:.1} → max {:.1} MB",
                    mb(p.rss_eor_kb),
                    mb(p.rss_max_after_kb)
                ),
                Some(flat),
            ));
            t.push((
                "s3: session never dropped".into(),
                p.stayed_up.to_string(),
                Some(p.stayed_up),
            ));
        }
        if let Some(p) = self.s4_get(Kind::Porter) {
            t.push((
                "s4: idle RSS ≤ 15 MB".into(),
                format!("{:.1} MB", mb(p.idle_rss_kb)),
                Some(p.idle_rss_kb <= 15 * 1024),
            ));
        }
        for row in self.s5.iter().filter(|r| r.kind == Kind::Porter) {
            if let Some(gr) = row.graceful {
                let ok = gr.min_table >= row.vips && gr.min_fib >= row.vips;
                t.push((
                    "s5: graceful restart keeps every route in BIRD's table and FIB".into(),
                    format!("min {} / {} of {}", gr.min_table, gr.min_fib, row.vips),
                    Some(ok),
                ));
            }
        }
        if let Some(p) = self.s6_get(Kind::Porter) {
            t.push((
                format!("s6: no BFD session flapped ({} peers)", p.peers),
                p.flaps.to_string(),
                Some(p.flaps == 0),
            ));
        }
        t
    }

    /// Scenario 6's porter/BIRD ratios: CPU, RSS, peak RSS.
    fn s6_ratios(&self) -> Value {
        let p = self.s6_get(Kind::Porter);
        let b = self.s6_get(Kind::Bird);
        let r = |f: fn(&S6Row) -> f64| ratio_value(p.map(f), b.map(f)).map(round);
        json!({
            "cpu": r(|r| r.cpu_pct),
            "rss": r(|r| r.rss_kb as f64),
            "peak_rss": r(|r| r.peak_rss_kb as f64),
        })
    }

    fn json(&self, date: &str, quick: bool) -> Value {
        json!({
            "date": date,
            "mode": if quick { "quick" } else { "full" },
            "wall_seconds": round(self.wall_s),
            "environment": self.env,
            "scenario1_announce": self.s1.iter().map(|r| json!({
                "speaker": r.kind.name(), "vips": r.n, "time_ms": round(r.total_ms),
                "connect_timer_wait_ms": r.connect_wait_ms.map(round),
                "established_ms": round(r.established_ms),
                "established_to_last_route_ms": round(r.after_established_ms()),
                "peak_rss_kb": r.peak_rss_kb, "rss_after_kb": r.rss_kb,
                "cpu_s": round(r.cpu_s),
            })).collect::<Vec<_>>(),
            "scenario2_churn": self.s2.iter().map(|r| json!({
                "speaker": r.kind.name(), "mode": r.mode, "add": r.add.json(), "remove": r.remove.json(),
            })).collect::<Vec<_>>(),
            "scenario3_full_table": self.s3.iter().map(|r| json!({
                "speaker": r.kind.name(), "prefixes": r.prefixes, "established_ms": round(r.established_ms),
                "end_of_rib_ms": round(r.eor_ms),
                "established_to_end_of_rib_ms": round(r.eor_ms - r.established_ms), "peak_rss_kb": r.peak_rss_kb, "rss_at_eor_kb": r.rss_eor_kb,
                "rss_max_after_eor_kb": r.rss_max_after_kb, "rss_final_kb": r.rss_final_kb,
                "cpu_s_to_eor": round(r.cpu_s), "session_stayed_up": r.stayed_up,
            })).collect::<Vec<_>>(),
            "scenario4_many_peers": self.s4.iter().map(|r| json!({
                "speaker": r.kind.name(), "peers": r.peers, "vips": r.vips, "all_up_ms": round(r.all_up_ms),
                "idle_rss_kb": r.idle_rss_kb, "peak_rss_kb": r.peak_rss_kb,
                "idle_cpu_s": round(r.idle_cpu_s), "window_s": r.window_s,
            })).collect::<Vec<_>>(),
            "scenario5_failover": self.s5.iter().map(|r| json!({
                "speaker": r.kind.name(), "vips": r.vips,
                "kill_to_gone_from_table_ms": r.kill_table_ms.map(round),
                "kill_to_gone_from_fib_ms": r.kill_fib_ms.map(round),
                "graceful_restart": r.graceful.map(|g| json!({
                    "min_routes_in_table": g.min_table, "min_routes_in_fib": g.min_fib,
                    "reestablished_ms": round(g.reestablished_ms), "refreshed_ms": round(g.refreshed_ms),
                })),
            })).collect::<Vec<_>>(),
            "scenario6_bfd": self.s6.iter().map(|r| json!({
                "speaker": r.kind.name(), "peers": r.peers,
                "bfd_interval_ms": r.bfd.interval_ms, "bfd_multiplier": r.bfd.multiplier,
                "bgp_up_ms": round(r.bgp_up_ms), "bfd_up_ms": round(r.bfd_up_ms),
                "cpu_s": (r.cpu_s * 1000.0).round() / 1000.0, "cpu_percent_of_one_core": round(r.cpu_pct),
                "rss_kb": r.rss_kb, "peak_rss_kb": r.peak_rss_kb,
                "window_s": round(r.window_s), "packets_per_s": round(r.packets_per_s),
                "cpu_us_per_packet": round(r.cpu_s * 1e6 / (r.packets_per_s * r.window_s)),
                "flaps": r.flaps,
            })).collect::<Vec<_>>(),
            "scenario6_ratios_porter_to_bird": self.s6_ratios(),
            "targets": self.targets().into_iter().map(|(t, m, ok)| json!({"target": t, "measured": m, "met": ok})).collect::<Vec<_>>(),
            "errors": self.errors,
        })
    }

    fn markdown(&self, date: &str, quick: bool) -> String {
        let mut m = String::new();
        let env = &self.env;
        let _ = writeln!(
            m,
            "## porter-bench {date} ({} run, {:.0} s)\n\n{} CPUs ({}), load average at start {}; {}; {}; {}.\n",
            if quick { "quick" } else { "full" },
            self.wall_s,
            env["cpus"],
            env["cpu"].as_str().unwrap_or(""),
            env["loadavg_at_start"].as_str().unwrap_or(""),
            env["porter"].as_str().unwrap_or(""),
            env["gobgpd"].as_str().unwrap_or(""),
            env["bird"].as_str().unwrap_or(""),
        );
        if let Some(built) = env["gobgpd_built"].as_str() {
            let _ = writeln!(m, "Also {built}, built by tests/gobgp/build.sh.\n");
        }
        if !self.s1.is_empty() {
            let _ = writeln!(m, "### 1. Announce N VIP /32 at start\n\nFrom process start to the last route in the router's table (config parse and session setup included), the speaker's peak RSS and CPU time. BIRD holds its first connection back by a connect-delay timer of at least 0.75 s and gobgpd 3.10 by 5–10 s (a random first connect-retry; gobgpd 4.8 about 1–2 s here): the timer wait is shown, and the comparisons use time less BIRD's timer, and Established → last route for gobgpd.\n");
            let _ = writeln!(m, "| N | speaker | start → last route (ms) | of it connect timer (ms) | start → Established (ms) | Established → last route (ms) | peak RSS (MB) | RSS after (MB) | CPU (s) |");
            let _ = writeln!(m, "|---:|---|---:|---:|---:|---:|---:|---:|---:|");
            for r in &self.s1 {
                let _ = writeln!(
                    m,
                    "| {} | {} | {:.0} | {} | {:.0} | {:.0} | {:.1} | {:.1} | {:.2} |",
                    r.n,
                    r.kind.name(),
                    r.total_ms,
                    r.connect_wait_ms.map_or("–".into(), |w| format!("{w:.0}")),
                    r.established_ms,
                    r.after_established_ms(),
                    mb(r.peak_rss_kb),
                    mb(r.rss_kb),
                    r.cpu_s
                );
            }
            // porter against BIRD, then against each gobgpd measured
            let gobgpds = self.gobgpds();
            let mut head = "| N | porter/BIRD: start → last route less timer | RSS porter/BIRD | CPU porter/BIRD |".to_string();
            for g in &gobgpds {
                let g = g.name();
                let _ = write!(
                    head,
                    " porter/{g}: Established → last route | RSS porter/{g} | CPU porter/{g} |"
                );
            }
            let _ = writeln!(
                m,
                "\n{head}\n|---:|{}",
                "---:|".repeat(3 + 3 * gobgpds.len())
            );
            for n in self.sizes() {
                let p = self.s1_get(Kind::Porter, n);
                let b = self.s1_get(Kind::Bird, n);
                let w = |r: Option<&S1Row>| r.map(S1Row::work_ms);
                let e = |r: Option<&S1Row>| r.map(S1Row::after_established_ms);
                let s = |r: Option<&S1Row>| r.map(|r| r.peak_rss_kb as f64);
                let c = |r: Option<&S1Row>| r.map(|r| r.cpu_s);
                let mut row = format!(
                    "| {n} | {} | {} | {} |",
                    ratio(w(p), w(b)),
                    ratio(s(p), s(b)),
                    ratio(c(p), c(b))
                );
                for gk in &gobgpds {
                    let g = self.s1_get(*gk, n);
                    let _ = write!(
                        row,
                        " {} | {} | {} |",
                        ratio(e(p), e(g)),
                        ratio(s(p), s(g)),
                        ratio(c(p), c(g))
                    );
                }
                let _ = writeln!(m, "{row}");
            }
            m.push('\n');
        }
        if !self.s2.is_empty() {
            let _ = writeln!(m, "### 2. Churn: one Service (VIP) added, then removed, per change\n\nLatency from the change (file renamed into place; CLI started; config rewritten) to the route appearing in / leaving the router's table.\n");
            let _ = writeln!(m, "| speaker | how | changes | add p50 (ms) | add p99 (ms) | remove p50 (ms) | remove p99 (ms) | max (ms) |");
            let _ = writeln!(m, "|---|---|---:|---:|---:|---:|---:|---:|");
            for r in &self.s2 {
                let _ = writeln!(
                    m,
                    "| {} | {} | {} + {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                    r.kind.name(),
                    r.mode,
                    r.add.n,
                    r.remove.n,
                    r.add.p50,
                    r.add.p99,
                    r.remove.p50,
                    r.remove.p99,
                    r.add.max.max(r.remove.max)
                );
            }
            m.push('\n');
        }
        if !self.s3.is_empty() {
            let _ = writeln!(m, "### 3. Full table in\n\nThe router sends {} IPv4 prefixes; time from process start to the End-of-RIB (porter: `/status` endOfRibReceived; gobgpd, BIRD: all prefixes received), RSS at peak, at End-of-RIB and after it, CPU until End-of-RIB.\n", self.s3[0].prefixes);
            let _ = writeln!(m, "| speaker | Established (ms) | End-of-RIB (ms) | Established → EoR (ms) | peak RSS (MB) | RSS at EoR (MB) | max RSS after (MB) | final RSS (MB) | CPU (s) | session stayed up |");
            let _ = writeln!(m, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
            for r in &self.s3 {
                let _ = writeln!(
                    m,
                    "| {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {} |",
                    r.kind.name(),
                    r.established_ms,
                    r.eor_ms,
                    r.eor_ms - r.established_ms,
                    mb(r.peak_rss_kb),
                    mb(r.rss_eor_kb),
                    mb(r.rss_max_after_kb),
                    mb(r.rss_final_kb),
                    r.cpu_s,
                    if r.stayed_up { "yes" } else { "NO" }
                );
            }
            let p = self.s3_get(Kind::Porter);
            let b = self.s3_get(Kind::Bird);
            let t = |r: Option<&S3Row>| r.map(|r| r.eor_ms - r.established_ms);
            let s = |r: Option<&S3Row>| r.map(|r| r.peak_rss_kb as f64);
            m.push('\n');
            for gk in self.gobgpds() {
                let g = self.s3_get(gk);
                let _ = write!(
                    m,
                    "porter/{}: Established → EoR {}, peak RSS {}; ",
                    gk.name(),
                    ratio(t(p), t(g)),
                    ratio(s(p), s(g))
                );
            }
            let _ = writeln!(
                m,
                "porter/BIRD: Established → EoR {}, peak RSS {}.\n",
                ratio(t(p), t(b)),
                ratio(s(p), s(b))
            );
        }
        if !self.s4.is_empty() {
            let r0 = &self.s4[0];
            let _ = writeln!(m, "### 4. Many peers: {} sessions, {} VIPs\n\nTime from process start until every session is Established with every route at the router; RSS and CPU over {:.0} s idle afterwards.\n", r0.peers, r0.vips, r0.window_s);
            let _ = writeln!(
                m,
                "| speaker | all up (ms) | idle RSS (MB) | peak RSS (MB) | idle CPU (s) |"
            );
            let _ = writeln!(m, "|---|---:|---:|---:|---:|");
            for r in &self.s4 {
                let _ = writeln!(
                    m,
                    "| {} | {:.0} | {:.1} | {:.1} | {:.3} |",
                    r.kind.name(),
                    r.all_up_ms,
                    mb(r.idle_rss_kb),
                    mb(r.peak_rss_kb),
                    r.idle_cpu_s
                );
            }
            m.push('\n');
        }
        if !self.s5.is_empty() {
            let _ = writeln!(m, "### 5. Failover ({} VIPs)\n\nSIGKILL of the speaker → routes gone from the router's table and kernel FIB; SIGKILL and immediate restart with graceful restart (RFC 4724) → fewest routes seen in the router's table and FIB meanwhile.\n", self.s5[0].vips);
            let _ = writeln!(m, "| speaker | kill → gone from table (ms) | kill → gone from FIB (ms) | GR: min in table | GR: min in FIB | GR: re-established (ms) | GR: refreshed (ms) |");
            let _ = writeln!(m, "|---|---:|---:|---:|---:|---:|---:|");
            let f = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.1}"));
            for r in &self.s5 {
                let (a, b, c, d) = match r.graceful {
                    Some(g) => (
                        g.min_table.to_string(),
                        g.min_fib.to_string(),
                        format!("{:.0}", g.reestablished_ms),
                        format!("{:.0}", g.refreshed_ms),
                    ),
                    None => ("–".into(), "–".into(), "–".into(), "–".into()),
                };
                let _ = writeln!(
                    m,
                    "| {} | {} | {} | {a} | {b} | {c} | {d} |",
                    r.kind.name(),
                    f(r.kill_table_ms),
                    f(r.kill_fib_ms)
                );
            }
            m.push('\n');
        }
        if !self.s6.is_empty() {
            let r0 = &self.s6[0];
            let _ = writeln!(m, "### 6. BFD: {} peers, BFD {} ms × {} on each\n\nThe router (BIRD) runs {} BGP sessions with BFD; the speaker the same. Time from process start until every BGP session is Established with every route, and until every BFD session is Up at both ends at {} ms; then the speaker's CPU (share of one core, and per packet sent or received on its link) and RSS over {:.0} s, while the routers' BFD sessions are watched every 0.5 s. A session that goes down or is re-established at either end fails the run. The speaker's BGP sessions (hold time 90 s) are part of the load: scenario 4 has them alone.\n", r0.peers, r0.bfd.interval_ms, r0.bfd.multiplier, r0.peers, r0.bfd.interval_ms, r0.window_s);
            let _ = writeln!(
                m,
                "| speaker | BGP all up (ms) | BFD all Up (ms) | CPU (% of one core) | CPU (s) | packets/s | CPU per packet (µs) | RSS (MB) | peak RSS (MB) | flaps |"
            );
            let _ = writeln!(m, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            for r in &self.s6 {
                let _ = writeln!(
                    m,
                    "| {} | {:.0} | {:.0} | {:.2} | {:.3} | {:.0} | {:.0} | {:.1} | {:.1} | {} |",
                    r.kind.name(),
                    r.bgp_up_ms,
                    r.bfd_up_ms,
                    r.cpu_pct,
                    r.cpu_s,
                    r.packets_per_s,
                    r.cpu_s * 1e6 / (r.packets_per_s * r.window_s),
                    mb(r.rss_kb),
                    mb(r.peak_rss_kb),
                    r.flaps
                );
            }
            let p = self.s6_get(Kind::Porter);
            let b = self.s6_get(Kind::Bird);
            let _ = writeln!(
                m,
                "\nporter/BIRD: CPU {}, RSS {}, peak RSS {}.\n",
                ratio(p.map(|r| r.cpu_pct), b.map(|r| r.cpu_pct)),
                ratio(p.map(|r| r.rss_kb as f64), b.map(|r| r.rss_kb as f64)),
                ratio(
                    p.map(|r| r.peak_rss_kb as f64),
                    b.map(|r| r.peak_rss_kb as f64)
                )
            );
        }
        let targets = self.targets();
        if !targets.is_empty() {
            let _ = writeln!(
                m,
                "### Targets\n\n| target | measured | met |\n|---|---:|---|"
            );
            for (t, v, ok) in targets {
                let ok = match ok {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "–",
                };
                let _ = writeln!(m, "| {t} | {v} | {ok} |");
            }
            m.push('\n');
        }
        if !self.errors.is_empty() {
            let _ = writeln!(m, "### Failures\n");
            for e in &self.errors {
                let first = e.lines().next().unwrap_or_default();
                let _ = writeln!(m, "- {first}");
            }
            m.push('\n');
        }
        m
    }

    /// Scenario 1 as grouped bars: time per N (log scale) and peak RSS per N.
    fn chart_s1(&self) -> Option<String> {
        if self.s1.is_empty() {
            return None;
        }
        let groups: Vec<String> = self.sizes().iter().map(|n| format!("N = {n}")).collect();
        let kinds = self.charted();
        let series = |f: &dyn Fn(&S1Row) -> f64| -> Vec<Vec<Option<f64>>> {
            kinds
                .iter()
                .map(|k| {
                    self.sizes()
                        .iter()
                        .map(|n| self.s1_get(*k, *n).map(f))
                        .collect()
                })
                .collect()
        };
        let a = bar_chart(
            "1. Announce N VIPs: process start → last route at the router (ms, log)",
            &groups,
            &kinds,
            &series(&|r| r.total_ms),
            true,
        );
        let b = bar_chart(
            "1. Announce N VIPs: peak RSS (MB, log)",
            &groups,
            &kinds,
            &series(&|r| mb(r.peak_rss_kb)),
            true,
        );
        Some(stack_svgs(&[a, b]))
    }

    /// Scenario 3: time to End-of-RIB and RSS per receiver.
    fn chart_s3(&self) -> Option<String> {
        if self.s3.is_empty() {
            return None;
        }
        let groups = vec![
            "End-of-RIB (s)".to_string(),
            "peak RSS (MB)".to_string(),
            "final RSS (MB)".to_string(),
        ];
        let kinds = self.charted();
        let values: Vec<Vec<Option<f64>>> = kinds
            .iter()
            .map(|k| {
                let r = self.s3_get(*k);
                vec![
                    r.map(|r| r.eor_ms / 1000.0),
                    r.map(|r| mb(r.peak_rss_kb)),
                    r.map(|r| mb(r.rss_final_kb)),
                ]
            })
            .collect();
        let title = format!(
            "3. Full table in ({} prefixes from BIRD), log scale",
            self.s3[0].prefixes
        );
        Some(stack_svgs(&[bar_chart(
            &title, &groups, &kinds, &values, true,
        )]))
    }
}

/// One colour per speaker, in [`Kind::ALL`] order: a speaker keeps its colour whichever others ran.
const COLORS: [&str; 4] = ["#d9480f", "#1971c2", "#74c0fc", "#2f9e44"];

fn color(kind: Kind) -> &'static str {
    let i = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    COLORS[i]
}
const CHART_W: f64 = 760.0;
const CHART_H: f64 = 300.0;

/// One grouped bar chart as an SVG fragment `CHART_W` × `CHART_H`: one group per entry of
/// `groups`, one bar per speaker of `kinds` (`values[speaker][group]`), a legend, values on
/// the bars.
fn bar_chart(
    title: &str,
    groups: &[String],
    kinds: &[Kind],
    values: &[Vec<Option<f64>>],
    log: bool,
) -> String {
    let (left, right, top, bottom) = (60.0, 20.0, 40.0, 50.0);
    let plot_w = CHART_W - left - right;
    let plot_h = CHART_H - top - bottom;
    let all: Vec<f64> = values
        .iter()
        .flatten()
        .flatten()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let max = all.iter().copied().fold(0.0, f64::max).max(1e-9);
    let min = all.iter().copied().fold(f64::INFINITY, f64::min).min(max);
    let (lo, hi) = if log {
        (
            min.log10().floor(),
            max.log10().ceil().max(min.log10().floor() + 1.0),
        )
    } else {
        (0.0, max * 1.1)
    };
    let y = |v: f64| -> f64 {
        let f = if log {
            (v.max(10f64.powf(lo)).log10() - lo) / (hi - lo)
        } else {
            v / hi
        };
        top + plot_h * (1.0 - f.clamp(0.0, 1.0))
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="22" font-size="15" font-weight="bold">{}</text>"#,
        xml(title)
    );
    // grid and axis labels
    if log {
        let mut e = lo;
        while e <= hi + 1e-9 {
            let v = 10f64.powf(e);
            let yy = y(v);
            let _ = writeln!(
                s,
                r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
                left + plot_w,
                left - 6.0,
                yy + 4.0,
                short(v)
            );
            e += 1.0;
        }
    } else {
        for i in 0..=4 {
            let v = hi * f64::from(i) / 4.0;
            let yy = y(v);
            let _ = writeln!(
                s,
                r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
                left + plot_w,
                left - 6.0,
                yy + 4.0,
                short(v)
            );
        }
    }
    let gw = plot_w / groups.len().max(1) as f64;
    let bw = (gw * 0.8) / values.len().max(1) as f64;
    for (gi, g) in groups.iter().enumerate() {
        let gx = left + gw * gi as f64 + gw * 0.1;
        for (si, series) in values.iter().enumerate() {
            let Some(Some(v)) = series.get(gi) else {
                continue;
            };
            let x = gx + bw * si as f64;
            let yy = y(*v);
            let _ = writeln!(
                s,
                r#"<rect x="{x:.1}" y="{yy:.1}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                bw - 2.0,
                (top + plot_h - yy).max(0.0),
                color(kinds.get(si).copied().unwrap_or_default()),
                x + bw / 2.0 - 1.0,
                yy - 3.0,
                short(*v)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            gx + gw * 0.4,
            top + plot_h + 18.0,
            xml(g)
        );
    }
    for (i, k) in kinds.iter().enumerate() {
        let x = left + 10.0 + 110.0 * i as f64;
        let yy = CHART_H - 14.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{}" y="{yy:.1}" font-size="12">{}</text>"#,
            yy - 10.0,
            color(*k),
            x + 16.0,
            k.name()
        );
    }
    s
}

/// Puts chart fragments one under the other in one SVG document.
fn stack_svgs(parts: &[String]) -> String {
    let h = CHART_H * parts.len() as f64;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{h}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"#
    );
    s.push('\n');
    for (i, p) in parts.iter().enumerate() {
        let _ = writeln!(s, r#"<g transform="translate(0,{})">"#, CHART_H * i as f64);
        s.push_str(p);
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

/// A number in few characters: 1234 → 1.2k, 0.5 → 0.5.
fn short(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.1}k", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrt_records_have_peer_table_then_one_rib_entry_per_vip() {
        let b = mrt_records(&[0, 1, 2], Ipv4Addr::new(10, 203, 1, 2));
        // header: type 13 (TABLE_DUMP_V2), subtype 1 (PEER_INDEX_TABLE)
        assert_eq!(&b[4..8], &[0, 13, 0, 1]);
        let len = u32::from_be_bytes(b[8..12].try_into().unwrap()) as usize;
        let mut at = 12 + len;
        let mut seen = Vec::new();
        while at < b.len() {
            assert_eq!(&b[at + 4..at + 8], &[0, 13, 0, 2], "RIB_IPV4_UNICAST");
            let l = u32::from_be_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
            let body = &b[at + 12..at + 12 + l];
            assert_eq!(body[4], 32);
            seen.push(Ipv4Addr::new(body[5], body[6], body[7], body[8]));
            // NEXT_HOP is the last attribute
            assert_eq!(&body[body.len() - 4..], &[10, 203, 1, 2]);
            at += 12 + l;
        }
        assert_eq!(seen, vec![vip(0), vip(1), vip(2)]);
        assert_eq!(vip(0), Ipv4Addr::new(198, 18, 0, 1));
    }

    #[test]
    fn table_prefixes_are_distinct_slash_24s() {
        assert_eq!(table_prefix(0), "32.0.0.0/24");
        assert_eq!(table_prefix(1), "32.0.1.0/24");
        assert_eq!(table_prefix(999_999), "47.66.63.0/24");
    }

    #[test]
    fn porter_config_has_one_service_per_vip() {
        let c = PorterConf::new(
            Ipv4Addr::new(10, 203, 1, 2),
            vec![Ipv4Addr::new(10, 203, 1, 1)],
        )
        .render(&[0, 5]);
        assert_eq!(c.matches("kind: Service").count(), 2);
        assert!(c.contains("loadBalancerIP: 198.18.0.6"), "{c}");
        assert!(c.contains("neighborAddress: 10.203.1.1"), "{c}");
        assert!(!c.contains("gracefulRestart"), "{c}");
    }

    #[test]
    fn ratios_and_short_numbers() {
        assert_eq!(ratio(Some(1.0), Some(4.0)), "0.25×");
        assert_eq!(ratio(None, Some(4.0)), "–");
        assert_eq!(ratio(Some(1.0), Some(0.0)), "–");
        assert_eq!(short(12_345.0), "12k");
        assert_eq!(short(1234.0), "1.2k");
        assert_eq!(short(0.25), "0.25");
    }

    #[test]
    fn report_compares_porter_with_each_gobgpd_that_ran() {
        let row = |kind, total_ms, peak_rss_kb| S1Row {
            kind,
            n: 1000,
            total_ms,
            established_ms: 0.0,
            connect_wait_ms: None,
            peak_rss_kb,
            rss_kb: peak_rss_kb,
            cpu_s: 1.0,
        };
        let mut r = Report {
            s1: vec![row(Kind::Porter, 10.0, 1000), row(Kind::Gobgpd, 40.0, 4000)],
            ..Report::default()
        };
        assert_eq!(r.gobgpds(), [Kind::Gobgpd]);
        assert_eq!(r.charted(), [Kind::Porter, Kind::Gobgpd]);
        r.s1.push(row(Kind::GobgpdBuilt, 20.0, 2000));
        assert_eq!(r.gobgpds(), [Kind::Gobgpd, Kind::GobgpdBuilt]);
        let m = r.markdown("d", true);
        let built = Kind::GobgpdBuilt.name();
        assert!(m.contains(&format!("RSS porter/{built}")), "{m}");
        // porter against Debian's 0.25×, against the built one 0.50×, per comparison
        assert!(
            m.contains("| 0.25× | 0.25× | 1.00× | 0.50× | 0.50× | 1.00× |"),
            "{m}"
        );
        let targets = r.targets();
        assert!(
            targets
                .iter()
                .any(|(t, v, _)| t.contains(&format!("{built}'s")) && v == "0.50×"),
            "{targets:?}"
        );
        // the built gobgpd keeps its own colour when BIRD is absent
        assert_eq!(color(Kind::Bird), COLORS[3]);
    }

    #[test]
    fn gobgp_received_sums_families() {
        let v: Value = serde_json::from_str(
            r#"[{"afi_safis":[{"state":{"received":7,"accepted":7}},{"state":{"received":3}}]}]"#,
        )
        .unwrap();
        assert_eq!(gobgp_received(&v), 10);
        assert_eq!(gobgp_received(&Value::Null), 0);
    }
}
