#!/usr/bin/env bash
# One pass on a lent GPU machine: the CUDA parity tests (every op and attention mode against the
# CPU backend), the golden fixtures on the CUDA backend, CPU/CUDA agreement on the full-size
# model, the quality-metric encoders against the CPU, and the benchmarks (ops, attention
# variants, UNet step, end to end, metric time vs generation time; SDXL's UNet step and end to end,
# and diffusers' own SDXL UNet on the same card when the packed reference folder .gpu-ref/ is
# there: a copy of ../shared/gpu-ref, carried). Leaves a compact
# summary, the full log and the JSON results under $OUT; every step has its own time limit and a
# failing step does not stop the others.
#
#   OUT=/tmp/out bench/device-check.sh
#
# The machine has no internet: node, the runtime node_modules and a prebuilt addon can be
# carried in .device/ (node.xz, node_modules/) and build/Release/; without a prebuilt addon the
# script builds one for the card (ARCH, default 90-real). Environment: ARCH, STEP_* limits,
# ONLY (a regexp of step names to run).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/bench/out/device}
mkdir -p "$OUT"
LOG="$OUT/device-check.log"
SUMMARY="$OUT/summary.txt"
: >"$LOG"
: >"$SUMMARY"
FAILED=0
START=$SECONDS

note() { echo "$*" | tee -a "$SUMMARY" >>"$LOG"; }

# step NAME LIMIT_S COMMAND...: output to the log, one summary line.
step() {
  local name=$1 limit=$2
  shift 2
  if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then return 0; fi
  local t0=$SECONDS
  echo "" >>"$LOG"
  echo "===== $name: $* (limit ${limit}s, at +$((SECONDS - START))s)" >>"$LOG"
  timeout --kill-after=5 "$limit" "$@" >"$OUT/step-$name.log" 2>&1
  local rc=$?
  cat "$OUT/step-$name.log" >>"$LOG"
  local status=ok
  [ $rc -ne 0 ] && status="FAILED rc=$rc" && FAILED=1
  [ $rc -eq 124 ] && status="TIMED OUT after ${limit}s"
  note "[$name] $status in $((SECONDS - t0))s"
  return $rc
}

# --- carried runtime ------------------------------------------------------------------------
if ! command -v node >/dev/null 2>&1 && [ -f .device/node.xz ]; then
  mkdir -p /tmp/indetail-node && xz -dc .device/node.xz >/tmp/indetail-node/node && chmod +x /tmp/indetail-node/node
  export PATH="/tmp/indetail-node:$PATH"
fi
if [ ! -e node_modules ] && [ -d .device/node_modules ]; then ln -s .device/node_modules node_modules; fi
if [ ! -f build/Release/indetail.node ] && [ -f .device/indetail.node.xz ]; then
  mkdir -p build/Release && xz -dc .device/indetail.node.xz >build/Release/indetail.node
fi

note "device-check $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
note "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null || echo 'nvidia-smi unavailable')"
note "node $(node --version 2>/dev/null || echo MISSING), $(nproc) cpus"

if [ ! -f build/Release/indetail.node ]; then
  step build "${STEP_BUILD:-420}" env INDETAIL_CUDA_ARCHITECTURES="${ARCH:-90-real}" node scripts/install-native.mjs --from-source
fi
node -e "import('./dist/index.js').then(m => console.log('backends:', m.backends().join(','), JSON.stringify(m.devices()[0] ?? m.buildInfo().cudaUnavailableReason)))" >"$OUT/backends.txt" 2>&1
note "$(head -c 600 "$OUT/backends.txt")"

: >"$OUT/parity-cases.txt"
step parity "${STEP_PARITY:-120}" env INDETAIL_PARITY_LOG="$OUT/parity-cases.txt" INDETAIL_PARITY_BUDGET_S=$(( ${STEP_PARITY:-120} - 30 )) \
  node --test --test-reporter=spec test/cuda/ops-parity.test.mjs test/cuda/elementwise.test.mjs test/cuda/attention-parity.test.mjs test/cuda/attention-naive.test.mjs test/cuda/attention-golden.test.mjs
step golden-cuda "${STEP_GOLDEN:-75}" node --test --test-reporter=spec test/cuda/pipeline-golden.test.mjs test/cuda/full-size-agreement.test.mjs
step graphs "${STEP_GRAPHS:-120}" node --test --test-reporter=spec test/cuda/graphs.test.mjs test/cuda/kvcache-cuda.test.mjs
step metrics-cuda "${STEP_METRICS:-60}" node --test --test-reporter=spec test/cuda/metrics-encoders.test.mjs
step bench-ops "${STEP_OPS:-45}" node bench/run.mjs cuda-ops --json "$OUT/cuda-ops.json"
step bench-attention "${STEP_ATTN:-45}" node bench/run.mjs attention --backend cuda --json "$OUT/attention.json" --svg-dir "$OUT"
step bench-unet "${STEP_UNET:-45}" node bench/run.mjs unet-gpu --json "$OUT/unet-gpu.json"
step bench-e2e "${STEP_E2E:-75}" node bench/run.mjs e2e-gpu --json "$OUT/e2e-gpu.json"
step bench-metrics "${STEP_BENCH_METRICS:-150}" node bench/run.mjs quality-metrics --backend cuda --json "$OUT/quality-metrics.json"
step bench-unet-sdxl "${STEP_UNET_SDXL:-150}" node bench/run.mjs unet-gpu-sdxl --json "$OUT/unet-gpu-sdxl.json"
if [ -f .gpu-ref/bench_reference.py ]; then
  step ref-unet-sdxl "${STEP_REF_SDXL:-150}" python3 bench/gpu-ref/sdxl_unet_reference.py --gpu-ref .gpu-ref --out "$OUT/reference_sdxl_unet.json"
else
  note "[ref-unet-sdxl] skipped: no .gpu-ref/ (copy ../shared/gpu-ref there and carry it)"
fi
step bench-e2e-sdxl "${STEP_E2E_SDXL:-240}" node bench/run.mjs e2e-gpu-sdxl --json "$OUT/e2e-gpu-sdxl.json"

{
  echo ""
  echo "--- tests: failures and totals"
  grep -hE "^not ok|^✖|ℹ (tests|pass|fail|skipped)|relative L2|max abs|rel error|outside|lastFailure|graph|differing" "$OUT"/step-parity.log "$OUT"/step-golden-cuda.log "$OUT"/step-graphs.log "$OUT"/step-metrics-cuda.log 2>/dev/null | sed 's/^ *//' | head -150
  echo ""
  echo "--- parity cases (compact)"
  cut -c1-150 "$OUT/parity-cases.txt" 2>/dev/null | head -150
  for s in bench-ops bench-attention bench-unet bench-e2e bench-metrics bench-unet-sdxl ref-unet-sdxl bench-e2e-sdxl; do
    echo ""
    echo "--- $s"
    grep -vE "^machine:|^results written" "$OUT/step-$s.log" 2>/dev/null | head -70
  done
} >>"$SUMMARY"
note "overall: $([ $FAILED -eq 0 ] && echo ok || echo 'SOME STEPS FAILED') in $((SECONDS - START))s"
rm -f "$OUT"/step-*.log "$OUT/backends.txt"
exit 0
