#!/usr/bin/env bash
# GPU check of the STAN model (candle `cuda` feature).
#
#   scripts/gpu_check.sh build   # CPU box: build the CUDA test binary into $GPU_BIN_DIR (default
#                                # gpu_bin/, add it to .git/info/exclude and `carry` it)
#   scripts/gpu_check.sh run     # GPU box: run the gradient/training tests on the GPU, then the
#                                # CPU-vs-GPU loss comparison and timing table (gpu_report)
#   scripts/gpu_check.sh all     # build + run on one machine that has both nvcc and a GPU
#
# Build route (see reference notes, cuda_build.md): CUDA 13.0 toolkit pieces from the PyPI
# wheels (nvidia-cuda-nvcc 13.0.88, -runtime, -cublas, -curand, -nvrtc, -crt, nvvm, -cccl)
# unpacked into one tree `$CUDA_WHEEL_ROOT` (= .../nvidia/cu13) with lib/stubs/libcuda.so.
# Do not use newer (13.5) wheels: their PTX is too new for driver 580 on the GPU box.
# Run route: the GPU box has no network; libcublas/libcudart/libcurand .so.13/.so.10 come from
# the torch cu13 venv there (site-packages/nvidia/*/lib).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_DIR=${GPU_BIN_DIR:-gpu_bin}

build() {
    local C=${CUDA_WHEEL_ROOT:?set CUDA_WHEEL_ROOT to the unpacked nvidia/cu13 wheel tree}
    export PATH="$C/bin:$PATH" NVCC="$C/bin/nvcc" CUDA_HOME="$C"
    export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90} CUDARC_CUDA_VERSION=${CUDARC_CUDA_VERSION:-13000}
    local exe
    exe=$(cargo test --release --features cuda --lib --no-run --message-format=json \
        | python3 -c 'import sys, json
for line in sys.stdin:
    try: m = json.loads(line)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])' | tail -1)
    [ -n "$exe" ] || { echo "no test executable built" >&2; exit 1; }
    mkdir -p "$BIN_DIR"
    cp "$exe" "$BIN_DIR/stan-tests"
    ls -l "$BIN_DIR/stan-tests"
}

run() {
    local exe="$BIN_DIR/stan-tests"
    [ -x "$exe" ] || { echo "missing $exe: run '$0 build' first and carry $BIN_DIR" >&2; exit 1; }
    local libs
    libs=$(python3 -c 'import nvidia, glob, os
roots = list(nvidia.__path__)
print(":".join(sorted({d for r in roots for d in glob.glob(os.path.join(r, "*", "lib"))})))' 2>/dev/null || true)
    export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    echo "== gradient, masking and training tests on the GPU (f64 gradients, batch >= 2) =="
    # Determinism and the real-data test stay CPU-only: scatter-add on CUDA is not bitwise
    # reproducible and the data path is compiled in for the build machine.
    STAN_TEST_DEVICE=cuda "$exe" --test-threads=1 \
        model::tests::gradient model::tests::layout_shapes model::tests::ar1_recovery \
        model::tests::generation_respects
    echo "== CPU vs GPU loss on one batch; epoch and generation timing =="
    "$exe" --ignored --nocapture --test-threads=1 model::tests::gpu_report
}

case "${1:-}" in
    build) build ;;
    run) run ;;
    all) build && run ;;
    *) echo "usage: $0 build|run|all" >&2; exit 2 ;;
esac
