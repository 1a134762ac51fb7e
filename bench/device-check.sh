#!/usr/bin/env bash
# One pass on a lent GPU machine, within one device call of at most 7 minutes: the reference
# implementation's benchmark (../shared/gpu-ref, packed into .device/gpu-ref.tar.xz) on the same
# card first, a smoke test of the sm_90a kernels, the CUDA parity tests (every op and attention
# mode against the CPU backend), the golden fixtures on the CUDA backend, CPU/CUDA agreement on
# the full-size model, CUDA graphs and the image-prompt cache, the quality-metric encoders against
# the CPU, and the benchmarks (ops, attention variants, UNet step with the sm_90a kernels and with
# the mma.sync ones, end to end; metric time vs generation time; SDXL's UNet step and end to end,
# and diffusers' own SDXL UNet on the same card). Ends with one side-by-side table
# (bench/side-by-side.mjs) and the issues' targets. Leaves at most 6 files under $OUT:
# summary.txt (with the table), side-by-side.md, device-check.log, parity-cases.txt and
# results.tar.gz (every JSON and SVG).
# Every step has its own time limit, all of them together at most BUDGET_S (default 410 s: the
# steps after bench-e2e need BUDGET_S=900 or ONLY=...), and a failing step does not stop the others.
#
#   bench/device-pack.sh pack && bench/device-pack.sh slim on      (here, without a GPU)
#   run(carry=[".device", "dist"], timeout_s=480, command="bash bench/device-check.sh")
#   bench/device-pack.sh slim off                                     (here, right after)
#
# Carried in .device/ (git-ignored): node.xz (when the machine has no node), node_modules/,
# indetail.node.xz (the addon built here for sm_90 + sm_90a; without it the script builds one for
# ARCH, default 90-real, which costs ~2-3 minutes of the budget), gpu-ref.tar.xz.
# Environment: ARCH, BUDGET_S, STEP_* limits, ONLY (a regexp of step names to run).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/bench/out/device}
mkdir -p "$OUT/results"
LOG="$OUT/device-check.log"
SUMMARY="$OUT/summary.txt"
: >"$LOG"
: >"$SUMMARY"
FAILED=0
START=$SECONDS
BUDGET_S=${BUDGET_S:-410}

note() { echo "$*" | tee -a "$SUMMARY" >>"$LOG"; }

# step NAME LIMIT_S COMMAND...: output to the log, one summary line; the limit shrinks to what is
# left of BUDGET_S, and a step with less than 5 s left is skipped.
step() {
  local name=$1 limit=$2
  shift 2
  if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then return 0; fi
  local left=$((BUDGET_S - (SECONDS - START)))
  if [ "$left" -lt 5 ]; then
    note "[$name] SKIPPED: the ${BUDGET_S}s budget is spent"
    FAILED=1
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$SECONDS
  echo "" >>"$LOG"
  echo "===== $name: $* (limit ${limit}s, at +$((SECONDS - START))s)" >>"$LOG"
  timeout --kill-after=5 "$limit" "$@" >"$OUT/step-$name.log" 2>&1
  local rc=$?
  cat "$OUT/step-$name.log" >>"$LOG"
  local status=ok
  [ $rc -ne 0 ] && status="FAILED rc=$rc" && FAILED=1
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && status="TIMED OUT after ${limit}s"
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
if [ ! -d .gpu-ref ] && [ -f .device/gpu-ref.tar.xz ]; then tar -xJf .device/gpu-ref.tar.xz; fi

note "device-check $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
note "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null || echo 'nvidia-smi unavailable')"
note "node $(node --version 2>/dev/null || echo MISSING), python $(python3 --version 2>&1 | cut -d' ' -f2), $(nproc) cpus"

if [ ! -f build/Release/indetail.node ]; then
  step build "${STEP_BUILD:-240}" env INDETAIL_CUDA_ARCHITECTURES="${ARCH:-90-real}" node scripts/install-native.mjs --from-source
fi
node -e "import('./dist/index.js').then(m => console.log('backends:', m.backends().join(','), JSON.stringify(m.devices()[0] ?? m.buildInfo().cudaUnavailableReason), 'arch', m.buildInfo().cudaArchitectures ?? ''))" >"$OUT/backends.txt" 2>&1
note "$(head -c 700 "$OUT/backends.txt")"

# The reference first: its numbers are safe even if a kernel of ours hangs the card later.
if [ -f .gpu-ref/bench_reference.py ]; then
  step reference "${STEP_REFERENCE:-120}" bash -c "cd .gpu-ref && python3 bench_reference.py --budget-s $((${STEP_REFERENCE:-120} - 25)) --out '$OUT/results/reference_bench.json'"
else
  note "[reference] SKIPPED: no .gpu-ref (bench/device-pack.sh pack puts it in .device/gpu-ref.tar.xz)"
fi

# The sm_90a kernels on two GEMM shapes; if they hang or fail, the rest runs on the mma.sync kernels.
if ! step smoke-sm90 "${STEP_SMOKE:-20}" env INDETAIL_PARITY_FILTER='^(linear odd K40 M130|conv2d 3x3 1280->1280 8x8|linear_geglu odd K72)' \
  node --test --test-reporter=spec test/cuda/ops-parity.test.mjs; then
  export INDETAIL_SM90=0
  note "[smoke-sm90] the sm_90a kernels failed: the steps below use the mma.sync kernels (INDETAIL_SM90=0)"
fi

: >"$OUT/parity-cases.txt"
step parity "${STEP_PARITY:-50}" env INDETAIL_PARITY_LOG="$OUT/parity-cases.txt" INDETAIL_PARITY_BUDGET_S=$(( ${STEP_PARITY:-50} - 15 )) \
  node --test --test-reporter=spec test/cuda/ops-parity.test.mjs test/cuda/elementwise.test.mjs test/cuda/attention-parity.test.mjs test/cuda/attention-naive.test.mjs test/cuda/attention-golden.test.mjs
step golden-cuda "${STEP_GOLDEN:-35}" node --test --test-reporter=spec test/cuda/pipeline-golden.test.mjs test/cuda/full-size-agreement.test.mjs
step graphs "${STEP_GRAPHS:-35}" node --test --test-reporter=spec test/cuda/graphs.test.mjs test/cuda/kvcache-cuda.test.mjs
step bench-ops "${STEP_OPS:-30}" node bench/run.mjs cuda-ops --json "$OUT/results/cuda-ops.json"
step bench-attention "${STEP_ATTN:-25}" node bench/run.mjs attention --backend cuda --json "$OUT/results/attention.json" --svg-dir "$OUT/results"
step bench-unet "${STEP_UNET:-20}" node bench/run.mjs unet-gpu --json "$OUT/results/unet-gpu.json"
if [ "${INDETAIL_SM90:-1}" != 0 ]; then
  step bench-unet-mma "${STEP_UNET_MMA:-20}" env INDETAIL_SM90=0 node bench/run.mjs unet-gpu --json "$OUT/results/unet-gpu-mma.json"
fi
step bench-e2e "${STEP_E2E:-45}" node bench/run.mjs e2e-gpu --json "$OUT/results/e2e-gpu.json"
step metrics-cuda "${STEP_METRICS:-60}" node --test --test-reporter=spec test/cuda/metrics-encoders.test.mjs
step bench-metrics "${STEP_BENCH_METRICS:-150}" node bench/run.mjs quality-metrics --backend cuda --json "$OUT/results/quality-metrics.json"
step bench-unet-sdxl "${STEP_UNET_SDXL:-150}" node bench/run.mjs unet-gpu-sdxl --json "$OUT/results/unet-gpu-sdxl.json"
if [ -f .gpu-ref/bench_reference.py ]; then
  step ref-unet-sdxl "${STEP_REF_SDXL:-150}" python3 bench/gpu-ref/sdxl_unet_reference.py --gpu-ref .gpu-ref --out "$OUT/results/reference_sdxl_unet.json"
else
  note "[ref-unet-sdxl] SKIPPED: no .gpu-ref (bench/device-pack.sh pack puts it in .device/gpu-ref.tar.xz)"
fi
step bench-e2e-sdxl "${STEP_E2E_SDXL:-240}" node bench/run.mjs e2e-gpu-sdxl --json "$OUT/results/e2e-gpu-sdxl.json"

node bench/side-by-side.mjs --dir "$OUT/results" --out "$OUT/side-by-side.md" >/dev/null 2>>"$LOG"
{
  echo ""
  cat "$OUT/side-by-side.md" 2>/dev/null
  echo ""
  echo "--- tests: failures and totals"
  grep -hE "^not ok|^✖|ℹ (tests|pass|fail|skipped)|relative L2|max abs|rel error|outside|lastFailure|graph|differing" "$OUT"/step-smoke-sm90.log "$OUT"/step-parity.log "$OUT"/step-golden-cuda.log "$OUT"/step-graphs.log "$OUT"/step-metrics-cuda.log 2>/dev/null | sed 's/^ *//' | head -150
  echo ""
  echo "--- parity cases (compact)"
  cut -c1-150 "$OUT/parity-cases.txt" 2>/dev/null | head -150
  for s in reference bench-ops bench-attention bench-unet bench-unet-mma bench-e2e bench-metrics bench-unet-sdxl ref-unet-sdxl bench-e2e-sdxl; do
    echo ""
    echo "--- $s"
    grep -vE "^machine:|^results written" "$OUT/step-$s.log" 2>/dev/null | head -70
  done
} >>"$SUMMARY"
note "overall: $([ $FAILED -eq 0 ] && echo ok || echo 'SOME STEPS FAILED') in $((SECONDS - START))s"
tar -C "$OUT" -czf "$OUT/results.tar.gz" results
rm -rf "$OUT"/step-*.log "$OUT/backends.txt" "$OUT/results"
exit 0
