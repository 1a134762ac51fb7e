#!/usr/bin/env bash
# One pass on a lent GPU machine: build the addon for that card, run the CUDA parity tests and
# the CUDA op benchmark, and leave a compact summary plus the full log under $OUT.
#
# Assumes (nothing can be installed there): `node` on PATH, node_modules/ and test fixtures
# present; dist/ is compiled here from ts/ when missing. Steps are independent: a failing step
# is recorded and the next one still runs. Add steps (attention, end-to-end) with another
# `step` line at the end; keep the result files few (at most 8 come back).
#
#   OUT=/tmp/out bench/device-check.sh
#   env: ARCH (default 90-real), BUILD_TIMEOUT / TEST_TIMEOUT / BENCH_TIMEOUT (seconds),
#        PARITY_BUDGET_S (no new parity case after this; default TEST_TIMEOUT - 60),
#        INDETAIL_PARITY_FILTER (regexp of parity cases to run)
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/bench/out/device}
mkdir -p "$OUT"
LOG="$OUT/device-check.log"
SUMMARY="$OUT/summary.txt"
: >"$LOG"
: >"$SUMMARY"
ARCH=${ARCH:-90-real}
FAILED=0

note() { echo "$*" | tee -a "$SUMMARY" >>"$LOG"; }

# step NAME TIMEOUT_S COMMAND... : runs the command with its output in the log, one summary line.
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  echo "" >>"$LOG"
  echo "===== $name: $* (limit ${limit}s)" >>"$LOG"
  timeout --kill-after=10 "$limit" "$@" >>"$LOG" 2>&1
  local rc=$?
  local status=ok
  [ $rc -ne 0 ] && status="FAILED rc=$rc" && FAILED=1
  [ $rc -eq 124 ] && status="TIMED OUT after ${limit}s"
  note "[$name] $status in $((SECONDS - t0))s"
  return $rc
}

note "device-check $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
note "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null || echo 'nvidia-smi unavailable')"
note "node $(node --version 2>/dev/null || echo MISSING), $(nvcc --version 2>/dev/null | tail -1), $(cmake --version 2>/dev/null | head -1), $(nproc) cpus"

if [ ! -f dist/index.js ]; then
  step tsc 300 node node_modules/typescript/bin/tsc -p tsconfig.json
fi

step build "${BUILD_TIMEOUT:-420}" env INDETAIL_CUDA_ARCHITECTURES="$ARCH" node scripts/install-native.mjs --from-source
BUILD_RC=$?
node -e "import('./dist/index.js').then(m => console.log('backends:', m.backends().join(','), JSON.stringify(m.devices()[0] ?? m.buildInfo().cudaUnavailableReason)))" \
  >>"$LOG" 2>&1 && note "$(grep '^backends:' "$LOG" | tail -1)"

if [ $BUILD_RC -eq 0 ]; then
  # The parity tests: one diagnostic line per case (PASS/FAIL/ERROR op | case, error, tolerance).
  # Case lines also stream to parity-cases.txt, so a run cut short still says what passed.
  : >"$OUT/parity-cases.txt"
  step test-cuda "${TEST_TIMEOUT:-300}" env INDETAIL_PARITY_LOG="$OUT/parity-cases.txt" \
    INDETAIL_PARITY_BUDGET_S="${PARITY_BUDGET_S:-$(( ${TEST_TIMEOUT:-300} - 60 ))}" \
    node --test --test-reporter=spec test/cuda/
  step bench-cuda-ops "${BENCH_TIMEOUT:-240}" node bench/run.mjs cuda-ops --json "$OUT/cuda-ops.json"
fi

{
  echo ""
  echo "--- parity (failures and totals)"
  grep -E "(FAIL|ERROR) |cases pass|skipped: no CUDA|^ *(✖|ℹ (tests|pass|fail|skipped))" "$LOG" | sed 's/^ *//' | head -80
  echo ""
  echo "--- parity (all cases, compact; full lines in parity-cases.txt)"
  cut -c1-170 "$OUT/parity-cases.txt" 2>/dev/null | head -200
  echo ""
  echo "--- bench cuda-ops"
  sed -n '/^== cuda-ops/,/^results written/p' "$LOG" | head -80
} >>"$SUMMARY"
note "overall: $([ $FAILED -eq 0 ] && echo ok || echo 'SOME STEPS FAILED (see device-check.log)')"
exit $FAILED
