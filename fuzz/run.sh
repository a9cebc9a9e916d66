#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 30) on the stable toolchain (-s none: no
# sanitizer, which needs nightly), seeding each corpus with the golden vectors. A crash
# fails the run and leaves the input under fuzz/artifacts/<target>/; turn it into a named
# regression test in bgp-wire/tests/regressions.rs (bfd_* targets: bfd-wire/tests/regressions.rs).
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
secs=${1:-30}; shift || true
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo fuzz list)
seed=$(mktemp -d)
bfdseed=$(mktemp -d)
trap 'rm -rf "$seed" "$bfdseed"' EXIT
# the golden vectors, each prefixed with the context byte it needs (see bgp_wire::check)
(cd .. && FUZZ_SEED_DIR="$seed" cargo test -q -p bgp-wire --test golden write_fuzz_seed_corpus >/dev/null)
# BFD's golden packets, one folder per bfd_* target (see bfd-wire/tests/golden.rs)
(cd .. && FUZZ_SEED_DIR="$bfdseed" cargo test -q -p bfd-wire --test golden write_fuzz_seed_corpus >/dev/null)
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  case $t in
    bfd_*) cp -n "$bfdseed/$t"/* "corpus/$t/" 2>/dev/null || true ;;
    *) cp -n "$seed"/* "corpus/$t/" 2>/dev/null || true ;;
  esac
  echo "fuzz: $t for ${secs}s" >&2
  cargo fuzz run -s none "$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 2>&1 \
    | grep -E '^(stat::number_of_executed_units|stat::peak_rss|==|SUMMARY|.*panicked|Done)' >&2
  echo "fuzz: $t ok" >&2
done
