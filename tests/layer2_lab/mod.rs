//! Lab harness shared by the layer-2 namespace tests: the porter side of it. The namespaces,
//! the bridge and the client's tools are porter-lab's [`Segment`]; here are responders run
//! on threads that entered a speaker namespace ([`Speaker`]), an in-memory lease store for
//! elections ([`MemoryStore`]), and [`Lab`], the segment as these tests use it (porter's
//! `MacAddr`, failures as panics).
// Each test crate uses a different part of the harness.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use porter::layer2::election::LeaseRecord;
use porter::layer2::ownership::{Election, ElectionConfig, LeaseStore, StoreError, VersionedLease};
use porter::layer2::{InterfaceSpec, MacAddr, Responder, ResponderConfig};
use porter::telemetry::{Layer2Labels, Metrics};
use porter_lab::layer2::{handover, Answer};
use porter_lab::{Addressing, Capture, Netns, Segment, Tool};
use tokio::sync::{oneshot, watch};

pub const VIP4: &str = "198.51.100.10";
pub const VIP4_UNOWNED: &str = "198.51.100.99";
pub const VIP6: &str = "2001:db8:ffff:2::10";
pub const VIP6_UNOWNED: &str = "2001:db8:ffff:2::99";

/// True when the test must run; false (after a loud `SKIPPED` line) when it is skipped.
pub fn lab_or_skip(test: &str) -> bool {
    porter_lab::skip_unless_available(test, &[Tool::Arping, Tool::Ndisc6, Tool::Tcpdump])
}

/// A porter-lab [`Segment`] with speakers `a` and `b`, on which the client resolves the
/// VIPs' prefixes directly.
pub struct Lab {
    /// The segment.
    pub seg: Segment,
}

impl Lab {
    /// Namespaces `l2-<test>-…` on 10.202.<subnet>.0/24 and 2001:db8:2<subnet>::/64.
    pub fn new(test: &str, subnet: u8) -> Lab {
        Lab::with(
            "l2",
            test,
            subnet,
            &format!("10.202.{subnet}"),
            &format!("2001:db8:2{subnet}"),
        )
    }

    /// Namespaces `<prefix>-<tag>-…` on `<v4>.0/24` and `<v6>::/64`; `subnet` picks the MACs.
    pub fn with(prefix: &str, tag: &str, subnet: u8, v4: &str, v6: &str) -> Lab {
        let addressing = Addressing {
            subnet,
            v4: v4.to_owned(),
            v6: v6.to_owned(),
        };
        let on_link = ["198.51.100.0/24", "2001:db8:ffff:2::/64"];
        let seg = Segment::new(prefix, tag, addressing, &["a", "b"], &on_link)
            .unwrap_or_else(|e| panic!("lab {prefix}-{tag}: {e:#}"));
        Lab { seg }
    }

    /// The namespace of `end` (`c`, `a` or `b`).
    pub fn netns(&self, end: &str) -> &Netns {
        self.seg.ns(end).unwrap()
    }

    /// The namespace name of `end`.
    pub fn ns(&self, end: &str) -> String {
        self.netns(end).name().to_owned()
    }

    /// The address of `end` on the link, IPv4 or IPv6.
    pub fn addr(&self, end: &str, v6: bool) -> String {
        self.seg.addr(end, v6).unwrap()
    }

    /// The MAC of `end`'s `eth0`.
    pub fn mac(&self, end: &str) -> MacAddr {
        MacAddr(self.seg.mac(end).unwrap().0)
    }

    /// MACs that answered two ARP requests for `ip`.
    pub fn arping(&self, ip: &str) -> Vec<MacAddr> {
        macs(self.seg.arping(ip).unwrap())
    }

    /// MACs that answered a Neighbor Solicitation for `ip`.
    pub fn ndisc6(&self, ip: &str) -> Vec<MacAddr> {
        macs(self.seg.ndisc6(ip).unwrap())
    }

    /// The MAC the client's neighbor table holds for `ip`.
    pub fn neighbor(&self, ip: &str) -> Option<MacAddr> {
        self.seg.neighbor(ip).unwrap().map(|m| MacAddr(m.0))
    }

    /// Runs `args` in the client namespace (the outcome is not checked).
    pub fn client(&self, args: &[&str]) {
        self.seg.client(args).unwrap();
    }

    /// Runs `script` in the client for at most `seconds`, in the background.
    pub fn client_background(&self, seconds: u32, script: &str) -> Child {
        self.seg.client_background(seconds, script).unwrap()
    }

    /// Starts capturing ARP and NDP on the bridge.
    pub fn capture(&self) -> Capture {
        let file =
            std::env::temp_dir().join(format!("{}-{}.pcap", self.ns("c"), std::process::id()));
        self.seg.capture(&file).unwrap()
    }

    /// Stops `capture` and reads its answers for `vip4` / `vip6` (`-`: none of that family).
    pub fn answers(&self, capture: Capture, vip4: &str, vip6: &str) -> (Vec<Answer>, PathBuf) {
        let file = capture.stop().unwrap();
        (
            porter_lab::layer2::answers_in(&file, vip4, vip6).unwrap(),
            file,
        )
    }

    /// The answers for `vip4` / `vip6` in `file` moved from `from` to `to` without overlap;
    /// returns the last answer of `from` and the first of `to`.
    pub fn handover_in(
        &self,
        file: &Path,
        vip4: &str,
        vip6: &str,
        from: &str,
        to: &str,
    ) -> (Answer, Answer) {
        let answers = porter_lab::layer2::answers_in(file, vip4, vip6).unwrap();
        let (f, t) = (self.seg.mac(from).unwrap(), self.seg.mac(to).unwrap());
        let (last, first) = handover(&answers, f, t).unwrap_or_else(|e| panic!("{e:#}"));
        eprintln!(
            "capture: {from} answered {vip4} {vip6} until {:.3}, {to} from {:.3}; silent for {:.3} s",
            last.time,
            first.time,
            first.time - last.time
        );
        (last, first)
    }
}

fn macs(m: Vec<porter_lab::Mac>) -> Vec<MacAddr> {
    m.into_iter().map(|m| MacAddr(m.0)).collect()
}

/// The client got answers, all from `mac` (background probes may add to them).
pub fn only_from(macs: Vec<MacAddr>, mac: MacAddr) {
    assert!(
        !macs.is_empty() && macs.iter().all(|m| *m == mac),
        "answers {macs:?}, expected only {mac}"
    );
}

/// A responder running inside a speaker namespace.
pub struct Speaker {
    owned: watch::Sender<BTreeSet<IpAddr>>,
    pub metrics: Arc<Metrics>,
    /// How the responder ended, once it has.
    ended: Arc<Mutex<Option<Result<(), String>>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Speaker {
    /// A responder answering for `owned` (the test changes it with [`Speaker::own`]).
    pub fn start(lab: &Lab, end: &str, owned: &[&str]) -> Speaker {
        Self::spawn(lab, end, set(owned), None)
    }

    /// A responder whose owned set is decided by one election per address in `ips`,
    /// against `store` (as this speaker sees it).
    pub fn start_elected(lab: &Lab, end: &str, ips: &[&str], store: LeaseClient) -> Speaker {
        let ips: Vec<IpAddr> = set(ips).into_iter().collect();
        Self::spawn(lab, end, BTreeSet::new(), Some((ips, store)))
    }

    fn spawn(
        lab: &Lab,
        end: &str,
        owned: BTreeSet<IpAddr>,
        elected: Option<(Vec<IpAddr>, LeaseClient)>,
    ) -> Speaker {
        let path = PathBuf::from("/run/netns").join(lab.ns(end));
        let node = format!("node-{end}");
        let metrics = Arc::new(Metrics::new());
        let (owned_tx, owned_rx) = watch::channel(owned);
        let election_owned = owned_tx.clone();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_metrics = metrics.clone();
        let ended = Arc::new(Mutex::new(None));
        let thread_ended = ended.clone();
        let thread = thread::spawn(move || {
            // Only this thread enters the namespace; the runtime is created afterwards, on
            // this thread, so its sockets are opened in the speaker's namespace.
            if let Err(e) = porter::sys::enter_network_namespace(&path) {
                let _ = ready_tx.send(Err(format!("setns {}: {e}", path.display())));
                return;
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("current-thread runtime");
            runtime.block_on(async move {
                let mut config = ResponderConfig::new(node.clone());
                config.announce_interval = Duration::from_millis(300);
                let started = "eth0"
                    .parse::<InterfaceSpec>()
                    .map_err(|e| e.to_string())
                    .and_then(|spec| spec.resolve().map_err(|e| e.to_string()))
                    .and_then(|iface| {
                        Responder::start(iface, owned_rx, config, thread_metrics.clone())
                            .map_err(|e| e.to_string())
                    });
                let responder = match started {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let (_eligible_tx, eligible_rx) = watch::channel(true);
                let mut elections = Vec::new();
                if let Some((ips, store)) = elected {
                    let store = Arc::new(store);
                    for ip in ips {
                        let election = Election::spawn(
                            ip,
                            store.clone(),
                            ElectionConfig::new(node.clone()),
                            eligible_rx.clone(),
                            election_owned.clone(),
                            thread_metrics.clone(),
                        )
                        .expect("default timings are valid");
                        elections.push(election);
                    }
                }
                drop(election_owned);
                let _ = ready_tx.send(Ok(responder.interface().mac));
                tokio::pin!(stop_rx);
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {
                            if !responder.is_running() {
                                break;
                            }
                        }
                    }
                }
                // Like a crash: nothing is released; the leases are left to expire.
                drop(elections);
                let result = responder.stop().await.map_err(|e| e.to_string());
                *thread_ended.lock().unwrap() = Some(result);
            });
        });
        let mac = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("speaker thread reports")
            .unwrap_or_else(|e| panic!("speaker {end}: {e}"));
        assert_eq!(mac, lab.mac(end), "the responder uses the interface's MAC");
        Speaker {
            owned: owned_tx,
            metrics,
            ended,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn own(&self, ips: &[&str]) {
        self.owned.send_replace(set(ips));
    }

    pub fn counter(&self, ip: &str, which: &str) -> u64 {
        let l = Layer2Labels { ip: ip.into() };
        match which {
            "requests" => self
                .metrics
                .layer2_requests_received
                .get_or_create(&l)
                .get(),
            "responses" => self.metrics.layer2_responses_sent.get_or_create(&l).get(),
            _ => self.metrics.layer2_gratuitous_sent.get_or_create(&l).get(),
        }
    }

    /// How the responder ended, if it has (by itself, or after [`Speaker::stop`]).
    pub fn ended(&self) -> Option<Result<(), String>> {
        self.ended.lock().unwrap().clone()
    }

    /// Stops the responder (and elections); it must have run without error.
    pub fn stop(mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            t.join().expect("speaker thread");
        }
        assert_eq!(
            self.ended(),
            Some(Ok(())),
            "the responder ended with an error"
        );
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn set(ips: &[&str]) -> BTreeSet<IpAddr> {
    ips.iter()
        .map(|s| s.parse().expect("test address"))
        .collect()
}

/// Polls `f` until it returns true or `within` passes; returns the time it took.
pub fn wait_for(within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if f() {
            return Some(start.elapsed());
        }
        thread::sleep(Duration::from_millis(50));
    }
    None
}

/// One write the store accepted.
#[derive(Clone, Debug)]
pub struct StoreWrite {
    /// When it was applied.
    pub at: Instant,
    /// The holder it wrote.
    pub holder: Option<String>,
}

#[derive(Default)]
struct StoreState {
    leases: BTreeMap<String, (LeaseRecord, u64)>,
    next_version: u64,
    /// Identities whose calls hang (a partition between them and the API).
    partitioned: BTreeSet<String>,
    log: Vec<StoreWrite>,
}

/// An in-memory lease store with compare-and-swap, shared by the speakers of one test
/// (each in its own runtime, hence a std mutex).
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<StoreState>>,
}

impl MemoryStore {
    /// The store as `identity` reaches it.
    pub fn client(&self, identity: &str) -> LeaseClient {
        LeaseClient {
            store: self.clone(),
            identity: identity.into(),
        }
    }

    /// Makes every call from `identity` hang (until the caller's timeout).
    pub fn partition(&self, identity: &str) {
        self.state
            .lock()
            .unwrap()
            .partitioned
            .insert(identity.into());
    }

    /// Every accepted write, in order.
    pub fn log(&self) -> Vec<StoreWrite> {
        self.state.lock().unwrap().log.clone()
    }
}

/// [`MemoryStore`] seen from one speaker.
pub struct LeaseClient {
    store: MemoryStore,
    identity: String,
}

impl LeaseClient {
    async fn reach(&self) {
        let partitioned = self
            .store
            .state
            .lock()
            .unwrap()
            .partitioned
            .contains(&self.identity);
        if partitioned {
            std::future::pending::<()>().await;
        }
        // A little API latency.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    fn write(
        &self,
        name: &str,
        record: &LeaseRecord,
        expected: Option<u64>,
    ) -> Result<String, StoreError> {
        let mut s = self.store.state.lock().unwrap();
        let current = s.leases.get(name).map(|(_, v)| *v);
        if current != expected {
            return Err(StoreError::Conflict);
        }
        s.next_version += 1;
        let version = s.next_version;
        s.leases.insert(name.into(), (record.clone(), version));
        s.log.push(StoreWrite {
            at: Instant::now(),
            holder: record.holder.clone(),
        });
        Ok(version.to_string())
    }
}

impl LeaseStore for LeaseClient {
    async fn get(&self, name: &str) -> Result<Option<VersionedLease>, StoreError> {
        self.reach().await;
        let s = self.store.state.lock().unwrap();
        Ok(s.leases.get(name).map(|(record, version)| VersionedLease {
            record: record.clone(),
            version: version.to_string(),
        }))
    }

    async fn create(&self, name: &str, record: &LeaseRecord) -> Result<String, StoreError> {
        self.reach().await;
        self.write(name, record, None)
    }

    async fn replace(
        &self,
        name: &str,
        record: &LeaseRecord,
        version: &str,
    ) -> Result<String, StoreError> {
        self.reach().await;
        let expected = version
            .parse()
            .map_err(|_| StoreError::Other(format!("bad version {version:?}")))?;
        self.write(name, record, Some(expected))
    }
}
