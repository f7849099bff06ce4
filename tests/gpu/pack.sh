#!/usr/bin/env bash
# tests/gpu/pack.sh — prepare .gpu-carry/ on a machine with nvcc (no GPU needed): the GPU
# checks and bin/denoise built here (sm_90 + PTX) plus the shared libraries they need beyond glibc, libstdc++
# and CUDA, so tests/gpu/run.sh can still run them when the GPU machine's image lacks the C
# dependencies (zmq, jansson, openblas ...) and `make` fails there. Carry it with the run:
#   device run: command "bash tests/gpu/run.sh", carry [".gpu-carry"]
set -eu
cd "$(dirname "$0")/../.."
nice make gpu-tests bin/denoise >/dev/null
rm -rf .gpu-carry
mkdir -p .gpu-carry/lib .gpu-carry/bin
cp build/rel/tests/gpu/gpu_check build/rel/tests/gpu/gpu_bench .gpu-carry/
cp bin/denoise .gpu-carry/bin/
strip .gpu-carry/gpu_check .gpu-carry/gpu_bench .gpu-carry/bin/denoise
for lib in $(ldd .gpu-carry/gpu_check .gpu-carry/gpu_bench .gpu-carry/bin/denoise | awk '$3 ~ /^\// {print $3}' | sort -u); do
    case "$(basename "$lib")" in
        libc.so*|libm.so*|libpthread*|libdl.so*|librt.so*|libresolv*|ld-linux*|libgcc_s*|libstdc++*|libcu*|libnv*) ;;
        *) cp -L "$lib" .gpu-carry/lib/ ;;
    esac
done
grep -qx '/.gpu-carry/' .git/info/exclude 2>/dev/null || echo '/.gpu-carry/' >> .git/info/exclude
du -sh .gpu-carry
