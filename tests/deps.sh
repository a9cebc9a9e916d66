#!/usr/bin/env bash
# Installs what porter's tests and demo need on a fresh Debian machine (run as root).
# Sourced by tests/run.sh and tests/demo.sh; safe to run again (installs only what is missing).
set -euo pipefail

export PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

porter_deps_missing() {
  local missing=() c
  for c in bird birdc gobgpd gobgp exabgp vtysh ip tc tcpdump tshark etcd arping ndisc6 ss curl openssl python3 promtool; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  [[ -x /usr/lib/frr/bgpd ]] || missing+=(frr)
  echo "${missing[*]}"
}

porter_install_deps() {
  local missing; missing=$(porter_deps_missing)
  [[ -z $missing ]] && return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "tests/deps.sh: missing tools ($missing) and not root: cannot install them" >&2
    return 1
  fi
  echo "tests/deps.sh: installing (missing: $missing)" >&2
  export DEBIAN_FRONTEND=noninteractive
  local i
  for i in 1 2 3; do
    # a concurrent apt run can delete downloaded .debs under us: retry
    if apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        bird2 frr gobgpd exabgp iproute2 iputils-ping tcpdump tshark procps util-linux \
        etcd-server arping ndisc6 python3 openssl curl prometheus >/dev/null; then
      return 0
    fi
    echo "tests/deps.sh: apt-get failed (try $i), retrying" >&2
    sleep 5
  done
  echo "tests/deps.sh: could not install dependencies" >&2
  return 1
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  porter_install_deps
fi
