//go:build tools

// Package tools names the upstream commands tests/gobgp/build.sh builds, so that
// `go mod tidy` keeps their dependencies in go.sum. Nothing here is compiled.
package tools

import (
	_ "github.com/osrg/gobgp/v4/cmd/gobgp"
	_ "github.com/osrg/gobgp/v4/cmd/gobgpd"
)
