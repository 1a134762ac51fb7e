#!/usr/bin/env bash
# Builds cuda/kernels/*.cu as plain C++ against the host emulator (emu.h) and runs
# kernels_test.cc: the kernels' index logic, tiling, cp.async pipelining and mma/ldmatrix
# fragment use, checked on a machine without a GPU. Needs g++, python3 and the CUDA headers.
#   cuda/emulator/run.sh [gemm|norm|pointwise|invariance]
#   SANITIZE=1 cuda/emulator/run.sh ...   (AddressSanitizer + UBSan: out-of-bounds reads, overflow)
#   EMU_CP_ASYNC=eager cuda/emulator/run.sh gemm   (cp.async lands at issue: write-after-read hazards)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cuda_inc=${CUDA_HOME:-/usr/local/cuda}/include
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/cuda" "$work/engine"
cp -r "$root/cuda/kernels" "$root/cuda/emulator" "$root/cuda/cuda_check.h" "$work/cuda/"
cp -r "$root/engine/core" "$work/engine/"
# kernel<<<grid, block, smem, stream>>>(args)  ->  emu::launch(emu::cfg(grid, block, smem, stream), kernel, args)
python3 - "$work/cuda/kernels" <<'PY'
import pathlib, re, sys
pat = re.compile(r'([A-Za-z_]\w*(?:<[^<>;()]*>)?)<<<(.*?)>>>\(', re.S)
for f in pathlib.Path(sys.argv[1]).glob('*.cu'):
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
objs=()
for f in implicit_gemm group_norm layer_norm pointwise layout_ops timestep_embedding guidance_step; do
  g++ "${flags[@]}" -include "$work/cuda/emulator/emu.h" -x c++ -c "$work/cuda/kernels/$f.cu" -o "$work/$f.o" &
  objs+=("$work/$f.o")
done
g++ "${flags[@]}" -include "$work/cuda/emulator/emu.h" -c "$work/cuda/emulator/kernels_test.cc" -o "$work/test.o" &
g++ "${flags[@]}" -c "$work/engine/core/error.cc" -o "$work/error.o" &
g++ "${flags[@]}" -c "$work/engine/core/dtype.cc" -o "$work/dtype.o" &
wait
g++ "${link[@]}" "${objs[@]}" "$work/test.o" "$work/error.o" "$work/dtype.o" -o "$work/kernels_test"
"$work/kernels_test" "$@"
