//go:build tools

// Package tools names the upstream commands tests/k8s/build.sh builds, so that
// `go mod tidy` keeps their dependencies in go.sum. Nothing here is compiled.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
