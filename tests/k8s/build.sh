#!/usr/bin/env bash
# Builds the real Kubernetes control plane the envtest suites and the cluster end-to-end test
# run against: kube-apiserver, kube-controller-manager, kubectl and etcd, from the versions
# pinned in tests/k8s/go.mod (go.sum committed). Test infrastructure only: porter is pure Rust.
#
# The binaries land in a folder laid out as envtest expects (KUBEBUILDER_ASSETS), cached per
# pinned version under ${XDG_CACHE_HOME:-~/.cache}/porter/k8s/, so a second run takes seconds.
# Prints that folder on stdout; everything else goes to stderr.
#
#   bash tests/k8s/build.sh                      # build (or reuse) the pinned release
#   export KUBEBUILDER_ASSETS=$(bash tests/k8s/build.sh)
#   K8S_VERSION=v1.30.14 bash tests/k8s/build.sh  # another release (see README: version range)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../go-cache.sh"

command -v go >/dev/null || { echo "tests/k8s/build.sh: needs Go (1.26; see README)" >&2; exit 1; }
pinned=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")
version=${K8S_VERSION:-$pinned}
cache_root=${PORTER_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/porter/k8s}

src=$here
if [[ $version != "$pinned" ]]; then
  # Another release: the same module layout, its own go.mod written beside the cache (never
  # committed), staging modules pinned to the matching v0.x, etcd as that release requires.
  minor=${version#v1.}
  staging_version=v0.${minor}
  src=$cache_root/src-$version
  mkdir -p "$src"
  cp "$here/tools.go" "$src/"
  modfile=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$version" | awk -F'"' '/"GoMod"/ {print $4}')
  {
    echo "module porter.test/k8s"
    echo
    awk '$1 == "go" {print; exit}' "$modfile"
    echo
    echo "require k8s.io/kubernetes $version"
    echo
    echo "replace ("
    awk '$2 == "=>" && $3 ~ /^\.\/staging/ {print "\t" $1 " => " $1 " '"$staging_version"'"}' "$modfile"
    echo ")"
  } >"$src/go.mod"
  # etcd: take the server release whose client the apiserver of that release uses
  etcd_version=$(awk '$1 == "go.etcd.io/etcd/client/v3" {print $2; exit}' "$modfile")
  (cd "$src" && go mod edit -require "go.etcd.io/etcd/server/v3@$etcd_version" && go mod tidy >&2)
fi

etcd_version=$(cd "$src" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
# The cache key: the pinned modules and how they are built (bump `recipe` when the go build
# lines below change), not this script's comments.
recipe="1: CGO_ENABLED=0 -trimpath -s -w, version ldflags; kube-apiserver kube-controller-manager kubectl etcd"
key=$( (cat "$src/go.mod" "$src/go.sum"; echo "$recipe") | sha256sum | cut -c1-12)
out=$cache_root/$version-etcd-$etcd_version-$key
bins=(kube-apiserver kube-controller-manager kubectl etcd)

say="tests/k8s/build.sh: Kubernetes $version, etcd $etcd_version"
go_cache_begin "$cache_root" "$out" "$say" "${bins[@]}"
echo "tests/k8s/build.sh: building Kubernetes $version and etcd $etcd_version (first time: ~13 min on 2 cores)" >&2
tmp=$go_cache_tmp
minor=${version#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for kv in "gitVersion=$version" "gitMajor=1" "gitMinor=$minor" "gitTreeState=clean"; do
  ldflags+=" -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
done
(
  cd "$src"
  export CGO_ENABLED=0
  go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl
  go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
) >&2
go_cache_finish "$out" "$say"
