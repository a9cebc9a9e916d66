#!/usr/bin/env bash
# Runs all of porter's tests on a fresh Debian machine, as root: installs the real routers
# (BIRD 2, FRR 8, gobgpd, exabgp) the interop tests peer with, checks format and lints, runs
# unit, property, golden, interop and envtest-style tests, then fuzzes each target briefly.
#
#   bash tests/run.sh            everything (what CI runs)
#   FUZZ_SECONDS=0 bash tests/run.sh   skip fuzzing
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source tests/deps.sh
porter_install_deps

step() { printf '\n==> %s\n' "$*" >&2; }

step "Kubernetes control plane (kube-apiserver, kube-controller-manager, kubectl, etcd) from tests/k8s/go.mod"
# Built from the Go module proxy on first use (~13 min on 2 cores), then reused from the cache.
KUBEBUILDER_ASSETS=$(bash tests/k8s/build.sh)
export KUBEBUILDER_ASSETS

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "tests"
# As root with the routers installed nothing has a reason to skip: make a skip a failure.
if [[ $(id -u) -eq 0 ]]; then export PORTER_LAB_REQUIRE=${PORTER_LAB_REQUIRE:-1}; fi
# Interop tests create network namespaces with distinct names per test, so they may run in
# parallel; envtest suites run against the control plane built above (a skip is a failure).
mkdir -p target
cargo test --workspace --no-fail-fast 2>&1 | tee target/test-output.txt

step "gobgp (gobgpd and gobgp CLI) from tests/gobgp/go.mod, today's release beside Debian's 3.10"
# Built from the Go module proxy on first use (~2 min on 2 cores), then reused from the cache.
PORTER_GOBGP_DIR=$(bash tests/gobgp/build.sh)
export PORTER_GOBGP_DIR

step "benchmark harness, quick (porter vs both gobgpds vs BIRD; fails if a speaker loses routes, timings not asserted)"
cargo build --release -p porter -p porter-lab
"${CARGO_TARGET_DIR:-target}/release/porter-bench" --quick --out target/bench --gobgp-dir "$PORTER_GOBGP_DIR"

step "manager benchmark, quick (1,000 Services waiting, 1,000 created at 200/s, against kube-apiserver; fails on a duplicate address, timings not asserted)"
"${CARGO_TARGET_DIR:-target}/release/porter-bench-manager" --quick --out target/bench

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
if [[ $FUZZ_SECONDS != 0 ]]; then
  step "fuzz (${FUZZ_SECONDS}s per target)"
  bash fuzz/run.sh "$FUZZ_SECONDS"
fi
step "all tests passed"
