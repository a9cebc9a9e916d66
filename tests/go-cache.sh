# Sourced by tests/k8s/build.sh and tests/gobgp/build.sh: a folder of Go-built binaries, built
# once per cache key and reused, one build at a time. Messages go to stderr; the folder is
# printed on stdout.

# go_cache_begin ROOT OUT SAID BIN…: takes ROOT's lock, held until the calling script exits
# (two test runs at once: the second waits, then finds the cache). When OUT holds every BIN,
# says "SAID cached in OUT", prints OUT and ends the calling script. Otherwise clears what an
# earlier build cut short and sets go_cache_tmp, a fresh folder to build into.
go_cache_begin() {
  local root=$1 out=$2 said=$3 b complete=1
  shift 3
  mkdir -p "$root"
  exec 9>"$root/.lock"
  flock 9
  for b in "$@"; do [[ -x $out/$b ]] || complete=0; done
  if [[ $complete == 1 ]]; then
    echo "$said cached in $out" >&2
    echo "$out"
    exit 0
  fi
  go_cache_started=$(date +%s)
  rm -rf "$root"/*.tmp.*
  go_cache_tmp=$out.tmp.$$
  mkdir -p "$go_cache_tmp"
}

# go_cache_finish OUT SAID: moves the build into OUT, says "SAID built in … s", prints OUT.
go_cache_finish() {
  local out=$1 said=$2
  rm -rf "$out"
  mv "$go_cache_tmp" "$out"
  echo "$said built in $(($(date +%s) - go_cache_started)) s, $(du -sh "$out" | cut -f1) in $out" >&2
  echo "$out"
}
