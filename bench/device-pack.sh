#!/usr/bin/env bash
# Prepares a GPU run of bench/device-check.sh on a machine without a GPU, so the device spends its
# minutes measuring, not compiling:
#   bench/device-pack.sh pack [GPU_REF_DIR]   build the addon for sm_90 (+ the sm_90a kernels) and
#                                             dist/ here, fill .device/ (git-ignored): node.xz,
#                                             indetail.node.xz, node_modules/node-gyp-build,
#                                             gpu-ref.tar.xz (the packed reference implementation,
#                                             default ../shared/gpu-ref), then print what travels
#   bench/device-pack.sh slim on|off          untrack (in the index only) the fixtures no device step
#                                             reads, so the checkout fits the 64 MiB a device call
#                                             sends; run `off` right after the call, never commit
#                                             in between
#   bench/device-pack.sh size                 the bytes a call would send with carry .device and dist
# The call: run(carry=[".device", "dist"], timeout_s=480, command="bash bench/device-check.sh")
set -euo pipefail
cd "$(dirname "$0")/.."
SLIM=(test/fixtures/tiny-sd15.safetensors)  # the single-file model: no CUDA test or GPU bench opens it

travel_bytes() {
  local tree carried
  tree=$({ git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
  carried=$(du -scb .device dist 2>/dev/null | tail -1 | cut -f1)
  echo "tree $((tree / 1048576)) MiB + carried .device and dist $((carried / 1048576)) MiB = $(((tree + carried) / 1048576)) MiB (limit 64)"
}

case "${1:-}" in
  pack)
    ref=${2:-../shared/gpu-ref}
    [ -f "$ref/bench_reference.py" ] || { echo "no packed reference at $ref (bench_reference.py missing)" >&2; exit 1; }
    INDETAIL_CUDA_ARCHITECTURES=90-real node scripts/install-native.mjs --from-source
    npm run build:ts
    mkdir -p .device/node_modules
    xz -T2 -6 -c build/Release/indetail.node >.device/indetail.node.xz
    cp -r node_modules/node-gyp-build .device/node_modules/
    [ -f .device/node.xz ] || xz -T2 -6 -c "$(command -v node)" >.device/node.xz
    tar -C "$(dirname "$ref")" -cf - --transform "s|^$(basename "$ref")|.gpu-ref|" "$(basename "$ref")" | xz -T2 -6 >.device/gpu-ref.tar.xz
    ls -l .device
    travel_bytes
    ;;
  slim)
    exclude=$(git rev-parse --git-path info/exclude)
    if [ "${2:-}" = on ]; then
      git rm -q --cached "${SLIM[@]}"
      for p in "${SLIM[@]}"; do grep -qxF "/$p" "$exclude" 2>/dev/null || echo "/$p" >>"$exclude"; done
    elif [ "${2:-}" = off ]; then
      git reset -q -- "${SLIM[@]}"
      for p in "${SLIM[@]}"; do sed -i "\\|^/$p\$|d" "$exclude"; done
    else
      echo "usage: bench/device-pack.sh slim on|off" >&2
      exit 1
    fi
    travel_bytes
    ;;
  size) travel_bytes ;;
  *)
    sed -n '2,16p' "$0"
    exit 1
    ;;
esac
