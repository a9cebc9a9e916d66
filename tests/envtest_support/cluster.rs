//! The control plane itself (etcd, kube-apiserver, kube-controller-manager) and the
//! processes a test starts against it: what the envtest tests and `porter-bench-manager`
//! (tests/lab, which includes this file by path) share. Nothing here names porter's own
//! crate or test binaries.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// The token the test authenticates with (group system:masters); never a manager's.
pub const TOKEN: &str = "porter-envtest-token";

/// The user porter's managers are, with the token [`Cluster::use_porter_token`] gets.
pub const PORTER_SA: &str = "system:serviceaccount:porter-system:porter";

/// The `KUBEBUILDER_ASSETS` folder, or `None` after printing the loud skip line. Under
/// `PORTER_LAB_REQUIRE=1` (CI) a missing control plane is a failure, like a missing router.
pub fn assets_or_skip(test: &str) -> Option<PathBuf> {
    match std::env::var_os("KUBEBUILDER_ASSETS").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            let why = "KUBEBUILDER_ASSETS is not set (export KUBEBUILDER_ASSETS=$(bash tests/k8s/build.sh))";
            assert!(
                std::env::var("PORTER_LAB_REQUIRE").as_deref() != Ok("1"),
                "{test}: {why}, and PORTER_LAB_REQUIRE=1 forbids skipping"
            );
            eprintln!("SKIPPED: {test}: {why}");
            None
        }
    }
}

/// A free TCP port on loopback (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Child processes killed (and reaped) on drop.
#[derive(Default)]
pub struct Procs(Vec<(String, Child)>);

impl Procs {
    /// Spawns `cmd`, its output going to `log`.
    pub fn spawn(&mut self, name: &str, mut cmd: Command, log: &Path) -> u32 {
        let out = std::fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e}", cmd.get_program()));
        let pid = child.id();
        self.0.push((name.to_string(), child));
        pid
    }

    /// Kills the process named `name` at once (SIGKILL: a crash, no graceful release).
    pub fn kill(&mut self, name: &str) {
        if let Some(i) = self.0.iter().position(|(n, _)| n == name) {
            let (_, mut child) = self.0.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether `name` still runs.
    pub fn alive(&mut self, name: &str) -> bool {
        self.0
            .iter_mut()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, c)| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        // Reverse order: managers before the API server before etcd.
        while let Some((_, mut child)) = self.0.pop() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A running control plane.
pub struct Cluster {
    /// The scratch folder (logs, etcd data, certificates, kubeconfig).
    pub dir: PathBuf,
    /// `https://<address>:<port>`.
    pub url: String,
    /// A kubeconfig for this cluster (token auth, self-signed serving certificate).
    pub kubeconfig: PathBuf,
    /// Client for the test.
    pub client: Client,
    /// Processes, killed on drop.
    pub procs: Procs,
    /// A kubeconfig with a token of the `porter` ServiceAccount (after
    /// [`Cluster::install_porter`]): what managers authenticate with.
    pub porter_kubeconfig: Option<PathBuf>,
    assets: PathBuf,
    /// How etcd and kube-apiserver were started, to start them again (same data, same port).
    control_plane: Vec<(&'static str, Vec<std::ffi::OsString>)>,
    /// From each [`Cluster::restart_control_plane`]'s kill to a grace period after the API
    /// answered again: a restarted kube-apiserver refuses calls (403) until its RBAC
    /// informers have synced, and [`Cluster::assert_no_forbidden`] excuses those.
    restarts: Vec<(Timestamp, Timestamp)>,
}

pub fn find_binary(assets: &Path, name: &str) -> PathBuf {
    let p = assets.join(name);
    if p.is_file() {
        return p;
    }
    if name == "etcd" {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let c = Path::new(dir).join("etcd");
            if c.is_file() {
                return c;
            }
        }
    }
    let also = if name == "etcd" {
        " (and none on PATH)"
    } else {
        ""
    };
    panic!(
        "KUBEBUILDER_ASSETS={} has no {name}{also}: build them with \
         `bash tests/k8s/build.sh` (or `setup-envtest use 1.33 -p path`)",
        assets.display()
    );
}

/// Program and arguments of `cmd`, to build it again.
fn command_line(cmd: &Command) -> Vec<std::ffi::OsString> {
    std::iter::once(cmd.get_program().to_owned())
        .chain(cmd.get_args().map(|a| a.to_owned()))
        .collect()
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    /// Starts etcd and kube-apiserver. The API server listens on `bind` (loopback, or a lab
    /// address when other network namespaces must reach it) on a free port.
    pub async fn start(assets: &Path, name: &str, bind: &str) -> Cluster {
        Cluster::start_with_args(assets, name, bind, &[]).await
    }

    /// [`Cluster::start`] with more kube-apiserver flags (a later flag overrides an earlier
    /// one, e.g. a dual-stack `--service-cluster-ip-range`).
    pub async fn start_with_args(assets: &Path, name: &str, bind: &str, extra: &[&str]) -> Cluster {
        let dir =
            std::env::temp_dir().join(format!("porter-envtest-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("certs")).unwrap();
        let etcd_bin = find_binary(assets, "etcd");
        let apiserver_bin = find_binary(assets, "kube-apiserver");
        let mut procs = Procs::default();

        // etcd on loopback only.
        let (client_port, peer_port) = (free_port(), free_port());
        let etcd_url = format!("http://127.0.0.1:{client_port}");
        let mut etcd = Command::new(etcd_bin);
        etcd.args([
            "--data-dir",
            dir.join("etcd").to_str().unwrap(),
            "--listen-client-urls",
            &etcd_url,
            "--advertise-client-urls",
            &etcd_url,
            "--listen-peer-urls",
            &format!("http://127.0.0.1:{peer_port}"),
            "--initial-advertise-peer-urls",
            &format!("http://127.0.0.1:{peer_port}"),
            "--initial-cluster",
            &format!("default=http://127.0.0.1:{peer_port}"),
            "--unsafe-no-fsync",
        ]);
        // etcd 3.4 (Debian) does not know --unsafe-no-fsync; 3.5 (envtest) does.
        let etcd_version = Command::new(etcd.get_program())
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if etcd_version.contains("Version: 3.4") {
            let args: Vec<_> = etcd
                .get_args()
                .filter(|a| *a != "--unsafe-no-fsync")
                .map(|a| a.to_owned())
                .collect();
            etcd = Command::new(etcd.get_program());
            etcd.args(args);
        }
        let mut control_plane = vec![("etcd", command_line(&etcd))];
        procs.spawn("etcd", etcd, &dir.join("etcd.log"));

        // Service-account signing key (the API server refuses to start without one).
        run(Command::new("openssl").args([
            "genrsa",
            "-out",
            dir.join("sa.key").to_str().unwrap(),
            "2048",
        ]));
        std::fs::write(
            dir.join("tokens.csv"),
            format!("{TOKEN},porter-envtest,porter-envtest-uid,\"system:masters\"\n"),
        )
        .unwrap();

        let port = free_port();
        let mut api = Command::new(apiserver_bin);
        api.args([
            &format!("--etcd-servers={etcd_url}"),
            &format!("--bind-address={bind}"),
            &format!(
                "--advertise-address={}",
                if bind == "0.0.0.0" { "127.0.0.1" } else { bind }
            ),
            &format!("--secure-port={port}"),
            &format!("--cert-dir={}", dir.join("certs").display()),
            &format!("--token-auth-file={}", dir.join("tokens.csv").display()),
            "--authorization-mode=RBAC",
            &format!(
                "--service-account-key-file={}",
                dir.join("sa.key").display()
            ),
            &format!(
                "--service-account-signing-key-file={}",
                dir.join("sa.key").display()
            ),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/24",
            "--allow-privileged=true",
            // No `kubernetes` Service endpoints: the advertise address is loopback, which
            // the reconciler refuses since 1.35 (envtest sets the same).
            "--endpoint-reconciler-type=none",
            // envtest's own defaults: no ServiceAccount admission (no controller-manager
            // makes the tokens it would wait for).
            "--disable-admission-plugins=ServiceAccount",
        ])
        .args(extra);
        control_plane.push(("kube-apiserver", command_line(&api)));
        procs.spawn("kube-apiserver", api, &dir.join("kube-apiserver.log"));

        let host = if bind == "0.0.0.0" { "127.0.0.1" } else { bind };
        let url = format!("https://{host}:{port}");
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: {url}\n    insecure-skip-tls-verify: true\nusers:\n- name: envtest\n  user:\n    token: {TOKEN}\ncontexts:\n- name: envtest\n  context:\n    cluster: envtest\n    user: envtest\n    namespace: default\ncurrent-context: envtest\n"
            ),
        )
        .unwrap();
        let client = client_for(&kubeconfig).await;
        let mut cluster = Cluster {
            dir,
            url,
            kubeconfig,
            client,
            procs,
            porter_kubeconfig: None,
            assets: assets.to_owned(),
            control_plane,
            restarts: Vec::new(),
        };
        cluster.wait_ready().await;
        cluster.start_controller_manager();
        cluster
    }

    /// kube-controller-manager with the test's identity, every default controller but node
    /// lifecycle (no kubelet heartbeats here: it would mark every Node NotReady and evict),
    /// no serving port, no leader election.
    fn start_controller_manager(&mut self) {
        let mut kcm = Command::new(find_binary(&self.assets, "kube-controller-manager"));
        kcm.args([
            &format!("--kubeconfig={}", self.kubeconfig.display()),
            "--secure-port=0",
            "--leader-elect=false",
            "--controllers=*,-nodelifecycle,-nodeipam",
            &format!(
                "--service-account-private-key-file={}",
                self.dir.join("sa.key").display()
            ),
            // EndpointSlices written at once, not batched: tests wait on them.
            "--endpointslice-updates-batch-period=0s",
        ]);
        self.procs.spawn(
            "kube-controller-manager",
            kcm,
            &self.dir.join("kube-controller-manager.log"),
        );
    }

    /// Kills kube-apiserver and etcd (SIGKILL) and starts them again
    /// with the same data directory and port, then waits until the API answers. Managers and
    /// kube-controller-manager keep running and must reconnect by themselves.
    pub async fn restart_control_plane(&mut self, down_for: Duration) {
        let killed = Timestamp::now();
        self.procs.kill("kube-apiserver");
        self.procs.kill("etcd");
        tokio::time::sleep(down_for).await;
        for (name, line) in self.control_plane.clone() {
            let mut cmd = Command::new(&line[0]);
            cmd.args(&line[1..]);
            let log = self.dir.join(format!("{name}.restarted.log"));
            self.procs.spawn(name, cmd, &log);
        }
        self.wait_ready().await;
        let grace = SignedDuration::from_secs(5);
        self.restarts.push((killed, Timestamp::now() + grace));
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(v) = self.client.apiserver_version().await {
                eprintln!(
                    "envtest: kube-apiserver {} ready at {}",
                    v.git_version, self.url
                );
                break;
            }
            assert!(
                self.procs.alive("kube-apiserver"),
                "kube-apiserver exited; see {}",
                self.dir.join("kube-apiserver.log").display()
            );
            assert!(
                Instant::now() < deadline,
                "kube-apiserver not ready after 60 s; see {}",
                self.dir.join("kube-apiserver.log").display()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // The default namespace and RBAC bootstrap come from post-start hooks: wait for them.
        let ns = Api::<k8s_openapi::api::core::v1::Namespace>::all(self.client.clone());
        wait_for(Duration::from_secs(30), "namespace default", || async {
            ns.get_opt("default").await.ok().flatten().map(|_| ())
        })
        .await;
    }

    /// What `kubectl apply -k deploy/` creates but the Deployment: the CRDs (established), the
    /// porter-system namespace, the ServiceAccount and its RBAC; then a token of that
    /// ServiceAccount (TokenRequest, as a kubelet would mount it) in
    /// [`Cluster::porter_kubeconfig`], which managers started by this harness use.
    pub async fn install_porter(&mut self) {
        self.install_crds().await;
        self.install_rbac();
    }

    /// deploy/'s namespace, ServiceAccount and RBAC, and a token of that ServiceAccount for
    /// managers ([`Cluster::install_porter`] without the CRDs).
    pub fn install_rbac(&mut self) {
        let deploy = repo_dir().join("deploy");
        self.kubectl(&[
            "apply",
            "-f",
            deploy.join("namespace.yaml").to_str().unwrap(),
            "-f",
            deploy.join("rbac.yaml").to_str().unwrap(),
        ]);
        self.use_porter_token();
    }

    /// Requests a token of ServiceAccount porter-system/porter and writes the kubeconfig
    /// managers use (after deploy/ is applied, by [`Cluster::install_porter`] or kubectl).
    pub fn use_porter_token(&mut self) {
        let token = self.kubectl(&[
            "-n",
            "porter-system",
            "create",
            "token",
            "porter",
            "--duration=6h",
        ]);
        let text = std::fs::read_to_string(&self.kubeconfig)
            .unwrap()
            .replace(TOKEN, token.trim());
        let path = self.dir.join("kubeconfig-porter");
        std::fs::write(&path, text).unwrap();
        self.porter_kubeconfig = Some(path);
    }

    /// Runs the assets' kubectl against this cluster as the test (admin); panics with its
    /// output unless it succeeds; returns its stdout.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let out = Command::new(find_binary(&self.assets, "kubectl"))
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args(args)
            .output()
            .expect("kubectl");
        assert!(
            out.status.success(),
            "kubectl {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Panics naming the call when any log in the scratch folder shows a call of the porter
    /// ServiceAccount refused by RBAC: every call porter makes must be allowed by
    /// deploy/rbac.yaml. Refusals while a restarted API server was still filling its RBAC
    /// cache are counted, printed and excused. Runs when the cluster is dropped.
    pub fn assert_no_forbidden(&self) {
        let mut excused = 0;
        let logs = std::fs::read_dir(&self.dir).into_iter().flatten().flatten();
        for path in logs
            .map(|e| e.path())
            .filter(|p| p.extension() == Some("log".as_ref()))
        {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let refused = text
                .lines()
                .filter(|l| l.contains("forbidden") && l.contains(PORTER_SA));
            for line in refused {
                let at = line
                    .split_whitespace()
                    .next()
                    .and_then(|t| t.parse::<Timestamp>().ok());
                let in_restart = at.is_some_and(|at| {
                    self.restarts
                        .iter()
                        .any(|(from, to)| (*from..=*to).contains(&at))
                });
                assert!(
                    in_restart,
                    "{} shows a call deploy/rbac.yaml does not allow: {line}",
                    path.display()
                );
                excused += 1;
            }
        }
        if excused > 0 {
            eprintln!("envtest: {excused} refusals (403) right after a control-plane restart");
        }
    }

    /// Creates the CRDs of deploy/crds/ and waits until they are established.
    pub async fn install_crds(&self) {
        let api = Api::<CustomResourceDefinition>::all(self.client.clone());
        let dir = repo_dir().join("deploy/crds");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let crd: CustomResourceDefinition =
                serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            names.push(crd.metadata.name.clone().unwrap());
            api.create(&PostParams::default(), &crd)
                .await
                .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        }
        for name in names {
            wait_for(
                Duration::from_secs(30),
                &format!("CRD {name} established"),
                || {
                    let api = api.clone();
                    let name = name.clone();
                    async move {
                        let crd = api.get(&name).await.ok()?;
                        crd.status?
                            .conditions?
                            .iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                            .then_some(())
                    }
                },
            )
            .await;
        }
    }

    /// Starts `cmd` (a [`manager_command_of`]) as manager `pod` on node `node`, logging to
    /// `<dir>/<pod>.log`; its pid.
    pub fn spawn_manager(&mut self, pod: &str, node: &str, cmd: Command) -> u32 {
        let log = self.dir.join(format!("{pod}.log"));
        eprintln!(
            "envtest: starting {pod} (node {node}), log {}",
            log.display()
        );
        self.procs.spawn(pod, cmd, &log)
    }

    /// The ServiceAccount kubeconfig managers use; panics unless [`Cluster::install_porter`]
    /// made it (a manager never runs as admin).
    pub fn porter_kubeconfig(&self) -> &Path {
        self.porter_kubeconfig
            .as_deref()
            .expect("install_porter() first: managers authenticate as the porter ServiceAccount")
    }

    /// Writes a kubeconfig like the managers' (the porter ServiceAccount's), for API server URL
    /// `server`; returns its path.
    pub fn kubeconfig_for(&self, file: &str, server: &str) -> PathBuf {
        let text = std::fs::read_to_string(self.porter_kubeconfig())
            .unwrap()
            .replace(&self.url, server);
        let path = self.dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The log of `name` (for assertion messages).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }
}

/// The `porter manager` command of binary `bin` for node `node` (identity `pod`), with short
/// lease timings and a 1 s status interval. `prefix` wraps it (e.g. `ip netns exec <ns>`).
pub fn manager_command_of(
    bin: &Path,
    pod: &str,
    node: &str,
    prefix: &[&str],
    extra: &[&str],
    kubeconfig: &Path,
) -> Command {
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let http = format!("127.0.0.1:{}", free_port());
    cmd.args([
        "manager",
        "--http",
        &http,
        "--lease-duration",
        "4",
        "--renew-deadline",
        "3",
        "--retry-period",
        "1",
        "--status-interval",
        "1",
    ])
    .args(extra)
    .env("KUBECONFIG", kubeconfig)
    .env("NODE_NAME", node)
    .env("POD_NAMESPACE", "porter-system")
    .env("POD_NAME", pod)
    .env("RUST_LOG", "info,kube=warn");
    cmd
}

/// The repository's top folder (where `deploy/` is), from the package that includes this
/// file: porter itself or `tests/lab`.
pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("deploy/crds").is_dir())
        .expect("the repository folder, with deploy/crds, above CARGO_MANIFEST_DIR")
        .to_owned()
}

impl Drop for Cluster {
    /// Stops every process, fails the test on a call refused by RBAC
    /// ([`Cluster::assert_no_forbidden`]); removes the scratch folder unless the test failed (its logs
    /// are then the evidence).
    fn drop(&mut self) {
        self.procs = Procs::default();
        if !std::thread::panicking() && self.porter_kubeconfig.is_some() {
            self.assert_no_forbidden();
        }
        if std::thread::panicking() {
            eprintln!("envtest: logs kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A client from a kubeconfig file.
pub async fn client_for(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig to config");
    Client::try_from(config).expect("client")
}

/// The last 40 lines of `<name>.log` in `dir` for each of `names`, each under a heading: what
/// a failing test prints of its managers.
pub fn log_tails(dir: &Path, names: &[&str]) -> String {
    names
        .iter()
        .map(|p| {
            let log = std::fs::read_to_string(dir.join(format!("{p}.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            format!(
                "--- {p} (last lines)\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Polls `f` every 200 ms until it returns `Some`, or panics naming `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Pod `name` in `ns` with `labels`, bound to `node` as the scheduler would bind it (no
/// kubelet runs it: [`pod_status`] is what the test writes in its place).
pub fn pod(ns: &str, name: &str, labels: serde_json::Value, node: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node,
                 "containers": [{"name": "app", "image": "registry.invalid/app:1",
                                 "ports": [{"containerPort": 8080}]}]}})
}

/// Pod status the way a kubelet writes it, as a patch: Running with `ip`, the Ready and
/// ContainersReady conditions `ready`. kube-controller-manager's EndpointSlice controller
/// turns it into endpoints.
pub fn pod_status(ip: &str, ready: bool) -> serde_json::Value {
    let status = if ready { "True" } else { "False" };
    let conditions: Vec<_> = ["PodScheduled", "Initialized", "ContainersReady", "Ready"]
        .iter()
        .map(|t| {
            let s = if matches!(*t, "ContainersReady" | "Ready") {
                status
            } else {
                "True"
            };
            serde_json::json!({"type": t, "status": s,
                               "lastTransitionTime": "2026-01-01T00:00:00Z"})
        })
        .collect();
    serde_json::json!({"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "conditions": conditions}})
}

/// Creates [`pod`] `name`.
pub async fn create_pod(
    client: &Client,
    ns: &str,
    name: &str,
    labels: serde_json::Value,
    node: &str,
) {
    let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), ns);
    let pod = serde_json::from_value(pod(ns, name, labels, node)).unwrap();
    pods.create(&PostParams::default(), &pod)
        .await
        .unwrap_or_else(|e| panic!("create Pod {ns}/{name}: {e}"));
}

/// Writes [`pod_status`] to Pod `name`.
pub async fn set_pod_ready(client: &Client, ns: &str, name: &str, ip: &str, ready: bool) {
    let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), ns);
    let patch = kube::api::Patch::Merge(pod_status(ip, ready));
    pods.patch_status(name, &kube::api::PatchParams::default(), &patch)
        .await
        .unwrap_or_else(|e| panic!("status of Pod {ns}/{name}: {e}"));
}
