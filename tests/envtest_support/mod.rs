//! envtest-style harness: a real etcd, kube-apiserver and kube-controller-manager started by
//! the test itself, from `KUBEBUILDER_ASSETS` (the folder controller-runtime's envtest uses;
//! `bash tests/k8s/build.sh` builds one: `kube-apiserver`, `kube-controller-manager`,
//! `kubectl`, `etcd`), a generated service-account key, static-token authentication for the
//! test (system:masters) and a kubeconfig for it. `porter manager` processes never use that
//! identity: [`Cluster::install_porter`] applies deploy/'s namespace and RBAC and gets a token
//! of the `porter` ServiceAccount (TokenRequest), so every call a manager makes is judged by the
//! real RBAC authorizer, and a refused call fails the test when the harness is dropped.
//! Every process is killed then.
//!
//! kube-controller-manager runs the controllers a cluster without kubelets can use (namespace
//! deletion, garbage collection, EndpointSlices from Pods, service accounts); node lifecycle
//! is off because no kubelet sends heartbeats: tests play the kubelet and set Node and Pod
//! status themselves.
//!
//! Only APIs available since Kubernetes 1.33 are used (the oldest k8s-openapi level porter
//! claims), and only flags that release accepts.

#![allow(dead_code)]

mod cluster;
pub mod fake_api;
pub mod faults;
pub mod netlab;

use std::path::Path;
use std::process::Command;

pub use cluster::*;

impl Cluster {
    /// Starts `porter manager` as node `node` (identity `pod`), with short lease timings.
    /// `prefix` wraps the command (e.g. `ip netns exec <ns>`); `extra` adds arguments.
    pub fn start_manager(&mut self, pod: &str, node: &str, prefix: &[&str], extra: &[&str]) {
        let kubeconfig = self.porter_kubeconfig().to_owned();
        self.start_manager_with(pod, node, prefix, extra, &kubeconfig);
    }

    /// [`Cluster::start_manager`] with another kubeconfig (one that reaches the API server
    /// from inside a network namespace).
    pub fn start_manager_with(
        &mut self,
        pod: &str,
        node: &str,
        prefix: &[&str],
        extra: &[&str],
        kubeconfig: &Path,
    ) {
        let cmd = manager_command(pod, node, prefix, extra, kubeconfig);
        self.spawn_manager(pod, node, cmd);
    }
}

/// The `porter manager` command for node `node` (identity `pod`), this build's binary
/// ([`manager_command_of`]).
pub fn manager_command(
    pod: &str,
    node: &str,
    prefix: &[&str],
    extra: &[&str],
    kubeconfig: &Path,
) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_porter"));
    manager_command_of(bin, pod, node, prefix, extra, kubeconfig)
}
