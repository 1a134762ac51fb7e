#!/usr/bin/env bash
# Builds cuda/kernels/ as plain C++ against the host emulator (emu.h, force-included) and runs
# the emulator's test program (main.cc): index logic, tiling, cp.async / TMA pipelining,
# mma / wgmma fragments, mbarrier synchronisation and batch invariance, checked on a machine
# without a GPU. Needs g++, python3 and the CUDA headers.
#   cuda/emulator/run.sh [gemm|norm|pointwise|invariance|sm90-gemm|attention|sm90] [name filter]
#   SANITIZE=1 cuda/emulator/run.sh ...   (AddressSanitizer + UBSan: out-of-bounds reads, overflow)
#   EMU_CP_ASYNC=eager cuda/emulator/run.sh gemm   (copies land at issue: write-after-read hazards)
#   EMU_JOBS=N   parallel compiler jobs (default: the CPUs this process may use)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cuda_inc=${CUDA_HOME:-/usr/local/cuda}/include
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/cuda" "$work/engine"
cp -r "$root/cuda/kernels" "$root/cuda/emulator" "$root/cuda/cuda_check.h" "$work/cuda/"
cp -r "$root/engine/core" "$work/engine/"
cp "$root/engine/backend.h" "$work/engine/"
# kernel<<<grid, block, smem, stream>>>(args)  ->  emu::launch(emu::cfg(grid, block, smem, stream), kernel, args)
python3 - "$work/cuda/kernels" <<'PY'
import pathlib, re, sys
pat = re.compile(r'([A-Za-z_]\w*(?:<[^<>;()]*>)?)<<<(.*?)>>>\(', re.S)
for f in pathlib.Path(sys.argv[1]).rglob('*.cu*'):
    s = f.read_text()
    s = pat.sub(lambda m: f'::emu::launch(::emu::cfg({m.group(2)}), {m.group(1)}, ', s)
    f.write_text(s)
PY
flags=(-std=c++17 -O2 -pthread -w -DINDETAIL_CUDA_EMULATION -I"$cuda_inc" -I"$work")
link=(-pthread)
if [ "${SANITIZE:-0}" = 1 ]; then
  flags+=(-g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined)
  link+=(-fsanitize=address,undefined)
fi
kernels=(implicit_gemm group_norm layer_norm pointwise layout_ops timestep_embedding guidance_step
  attention_flash_d64 attention_flash_d96 attention_flash_d160 attention_flash_d256 attention_simple
  smem_limit sm90/tma_map sm90/gemm_sm90 sm90/attention_sm90 sm90/attention_sm90_d40 sm90/attention_sm90_d64
  sm90/attention_sm90_d80 sm90/attention_sm90_d160)
tests=(main kernels_test attention_test sm90_units_test)
jobs=${EMU_JOBS:-$(nproc)}
objs=()
compile() {  # source object [extra flags]
  local src=$1 obj=$2
  shift 2
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  g++ "${flags[@]}" "$@" -c "$src" -o "$obj" &
  objs+=("$obj")
}
for f in "${kernels[@]}"; do
  compile "$work/cuda/kernels/$f.cu" "$work/$(basename "$f").o" -include "$work/cuda/emulator/emu.h" -x c++
done
for f in "${tests[@]}"; do
  compile "$work/cuda/emulator/$f.cc" "$work/$f.o" -include "$work/cuda/emulator/emu.h"
done
compile "$work/engine/core/error.cc" "$work/error.o"
compile "$work/engine/core/dtype.cc" "$work/dtype.o"
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n; done
g++ "${link[@]}" "${objs[@]}" -o "$work/kernels_test"
"$work/kernels_test" "$@"
