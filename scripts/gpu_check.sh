#!/usr/bin/env bash
# GPU check of the STAN model (candle `cuda` feature).
#
#   scripts/gpu_check.sh build   # CPU box: build the CUDA tests, bench and CLI into $GPU_BIN_DIR
#                                # (default gpu_bin/, git-ignored; `carry` it to the GPU box)
#   scripts/gpu_check.sh run     # GPU box: run the gradient/training tests on the GPU, the
#                                # CPU-vs-GPU loss comparison and timing table (gpu_report), the
#                                # criterion benches with STAN_BENCH_DEVICE=cuda and
#                                # experiments/gpu.toml (stopped after $GPU_RUN_TIMEOUT s, 330)
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
    # Three executables: the library tests, the criterion bench and the `stan` CLI. Each is
    # ~42 MB, so they travel xz-compressed (~7 MB each; the device machine takes at most 64 MiB
    # of files, the embedded data included).
    mkdir -p "$BIN_DIR"
    local exe
    exe=$(artifact lib cargo test --release --features cuda --lib --no-run)
    xz -9 -T2 -c "$exe" > "$BIN_DIR/stan-tests.xz"
    exe=$(artifact bench cargo bench --features cuda --bench stan --no-run)
    xz -9 -T2 -c "$exe" > "$BIN_DIR/stan-bench.xz"
    exe=$(artifact bin cargo build --release --features cuda --bin stan)
    xz -9 -T2 -c "$exe" > "$BIN_DIR/stan.xz"
    ls -l "$BIN_DIR"
}

# Path of the executable of target kind $1 (lib = the library's test harness, bench, bin) that
# the cargo command given as the remaining arguments produced.
artifact() {
    local kind=$1 exe
    shift
    exe=$("$@" --message-format=json | KIND="$kind" python3 -c 'import sys, json, os
kind = os.environ["KIND"]
for line in sys.stdin:
    try: m = json.loads(line)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and kind in m["target"]["kind"] and m["target"]["name"] == "stan":
        print(m["executable"])' | tail -1)
    [ -n "$exe" ] || { echo "no $kind executable built by: $*" >&2; exit 1; }
    echo "$exe"
}

run() {
    local failed=0
    for b in stan-tests stan-bench stan; do
        [ -f "$BIN_DIR/$b.xz" ] || { echo "missing $BIN_DIR/$b.xz: run '$0 build' first and carry $BIN_DIR" >&2; exit 1; }
        if command -v xz > /dev/null; then
            xz -dc "$BIN_DIR/$b.xz" > "/tmp/$b"
        else
            python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' \
                "$BIN_DIR/$b.xz" > "/tmp/$b"
        fi
        chmod +x "/tmp/$b"
    done
    local libs
    libs=$(python3 -c 'import nvidia, glob, os
roots = list(nvidia.__path__)
print(":".join(sorted({d for r in roots for d in glob.glob(os.path.join(r, "*", "lib"))})))' 2>/dev/null || true)
    # No `nvidia` package on this python3: look for the wheels' lib folders of any venv.
    [ -n "$libs" ] || libs=$(find / -path /proc -prune -o -type f -name 'libcublas.so.13' -print 2>/dev/null \
        | head -1 | xargs -r dirname | xargs -r dirname | xargs -r -I{} find {} -maxdepth 2 -name lib -type d \
        | paste -sd:)
    echo "CUDA libraries from: $libs"
    export LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    echo "== gradient, masking and training tests on the GPU (f64 gradients, batch >= 2) =="
    # Determinism and the real-data test stay CPU-only: scatter-add on CUDA is not bitwise
    # reproducible and the data path is compiled in for the build machine.
    STAN_TEST_DEVICE=cuda /tmp/stan-tests --test-threads=1 \
        model::tests::gradient model::tests::layout_shapes model::tests::ar1_recovery \
        model::tests::generation_respects model::tests::generation_heads_match || { echo "GPU TESTS FAILED ($?)"; failed=1; }
    echo "== CPU vs GPU loss on one batch; epoch and generation timing =="
    /tmp/stan-tests --ignored --nocapture --test-threads=1 model::tests::gpu_report || { echo "GPU REPORT FAILED ($?)"; failed=1; }
    echo "== criterion benches (same as benches/stan.rs on CPU) on the GPU =="
    # The `stan/` group only: the machine-peak benches measure the CPU.
    STAN_BENCH_DEVICE=cuda /tmp/stan-bench --bench --noplot stan/ 2>&1 | grep -v '^train:\|^generate:' || true
    echo "== STAN on the real whole day (experiments/gpu.toml), timings in the manifest =="
    local out=${OUT:-results}
    timeout "${GPU_RUN_TIMEOUT:-330}" /tmp/stan run experiments/gpu.toml --out "$out/results" \
        || { echo "stan run exited with $? (124: GPU_RUN_TIMEOUT reached)"; failed=1; }
    # The run folder is too deep for the device tool's file transfer: keep copies at the top.
    for f in manifest.json metrics.csv tables.md; do
        cp "$out"/results/gpu/*/"$f" "$out/gpu_$f" 2>/dev/null || true
    done
    cat "$out"/results/gpu/*/manifest.json 2>/dev/null | python3 -c 'import sys, json
m = json.load(sys.stdin)
for s in m.get("stages", []): print(s)
d = m["generators"]["stan"]["details"]
print("train flows/s", d["train"]["flows_per_sec"], "epochs", d["train"]["epochs_run"],
      "generate flows/s", d["generate"]["flows_per_sec"], "rows", d["generate"]["rows"])' || true
    # Every step runs even after a failure; the exit status reports any of them.
    return "$failed"
}

case "${1:-}" in
    build) build ;;
    run) run ;;
    all) build && run ;;
    *) echo "usage: $0 build|run|all" >&2; exit 2 ;;
esac
