#!/usr/bin/env bash
# porter's demo, on a fresh Debian machine as root: installs BIRD 2 (and the other lab tools)
# when missing, builds porter, then runs a BIRD router and two standalone porter speakers in
# network namespaces, shows the router's ECMP route for the demo Service and one speaker's
# /status, and cleans up. Nothing touches the host's own network.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source tests/deps.sh
porter_install_deps
cargo build --release -q -p porter -p porter-lab
exec target/release/porter-demo --porter target/release/porter "$@"
