#!/usr/bin/env bash
# The GPU path in one device call (about 5 minutes on an H100): the card, a bf16 matrix-product
# ceiling (`matmul`), bench_gpu_finetune.py in its main configurations (most important first),
# and the tests marked gpu (`pytest`). Everything goes under $OUT (at most 8 files come back);
# the last lines printed are the summary table. Steps that would start after $DEADLINE seconds
# are skipped. STEPS="name ..." picks steps by name, the extra ones below included.
#
#   OUT=/tmp/gpu_check bash bench/gpu_check.sh
#   STEPS="pytest bf16_b512_compile" bash bench/gpu_check.sh
set -u
OUT=${OUT:-/tmp/gpu_check}
DEADLINE=${DEADLINE:-420}
CORE="matmul bf16_b32_eager bf16_b32_compile bf16_b32_cudagraphs bf16_b256_eager bf16_b256_compile pytest"
STEPS=${STEPS:-$CORE}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
export TOKENIZERS_PARALLELISM=false
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"

late() { [ "$SECONDS" -ge "$DEADLINE" ] && echo "skipped (past ${DEADLINE}s): $*" | tee -a "$SUMMARY"; }
skip() { [[ " $STEPS " != *" $1 "* ]]; }  # not among $STEPS

{
    nvidia-smi
    python3 -c 'import torch, transformers, accelerate as a; print("torch", torch.__version__,
"transformers", transformers.__version__, "accelerate", a.__version__, "|",
torch.cuda.get_device_name(), torch.cuda.get_device_capability())'
    skip matmul || python3 - <<'EOF'
import torch  # the bf16 matrix-product ceiling: 8192^3, random data, median of 20 after warm-up
a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
ev = [torch.cuda.Event(enable_timing=True) for _ in range(2)]
times = []
for i in range(25):
    ev[0].record(); a @ b; ev[1].record(); torch.cuda.synchronize()
    if i >= 5:
        times.append(ev[0].elapsed_time(ev[1]) / 1e3)
t = sorted(times)[len(times) // 2]
print(f"bf16 matmul 8192^3: {2 * 8192**3 / t / 1e12:.0f} TFLOP/s (median of 20)")
EOF
} >"$OUT/env.txt" 2>&1
grep -E "H100|H200|TFLOP|^torch" "$OUT/env.txt" | tee -a "$SUMMARY"

bench() {  # bench NAME [flags...]: one run of the bench, appended to bench.log
    local name=$1
    shift
    skip "$name" && return
    late "$name" && return
    echo "== $name: python bench/bench_gpu_finetune.py $*" >>"$OUT/bench.log"
    local start=$SECONDS lines got
    lines=$(wc -l <"$OUT/bench.log")
    timeout "${BENCH_TIMEOUT:-180}" python3 bench/bench_gpu_finetune.py "$@" >>"$OUT/bench.log" 2>&1
    local rc=$?
    got=$(tail -n +"$((lines + 1))" "$OUT/bench.log" | grep -E "^(samples/s|MFU):" | tr '\n' ' ')
    printf '%-26s rc=%-3s %4ss  %s\n' "$name" "$rc" "$((SECONDS - start))" "$got" | tee -a "$SUMMARY"
}

bench bf16_b32_eager --profile "$OUT/profile_eager.txt"
bench bf16_b32_compile --compile --profile "$OUT/profile_compile.txt"
bench bf16_b32_cudagraphs --compile --compile_mode reduce-overhead
bench bf16_b256_eager --batch_size 256
bench bf16_b256_compile --compile --batch_size 256 --profile "$OUT/profile_b256.txt"
if ! skip pytest && ! late "pytest -m gpu"; then
    timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_bench_gpu.py \
        >"$OUT/pytest_gpu.txt" 2>&1
    echo "pytest -m gpu tests/test_bench_gpu.py: rc=$? $(tail -n 1 "$OUT/pytest_gpu.txt")" |
        tee -a "$SUMMARY"
fi
# extra steps, run when named in STEPS
bench bf16_b32_eager_nomask --no-mask
bench bf16_b32_eager_unfused --no-fused
bench fp32_b32_eager --precision fp32
bench bf16_b128_compile --compile --batch_size 128
bench bf16_b512_compile --compile --batch_size 512
bench bf16_b256_compile_nomask --compile --batch_size 256 --no-mask
bench bf16_b32_cudagraphs_nomask --compile --compile_mode reduce-overhead --no-mask
# attention kernels and Inductor's GEMM templates at the GPU-bound batch
bench bf16_b256_compile_efficient --compile --batch_size 256 --sdpa_backend efficient
bench bf16_b256_compile_nomask_flash --compile --batch_size 256 --no-mask --sdpa_backend flash
bench bf16_b256_autotune --compile --compile_mode max-autotune-no-cudagraphs --batch_size 256 \
    --profile "$OUT/profile_autotune.txt"
bench bf16_b256_compile_nodropout --compile --batch_size 256 --dropout 0
bench bf16_b256_compile_nodropout_nomask --compile --batch_size 256 --dropout 0 --no-mask \
    --profile "$OUT/profile_nodropout_nomask.txt"
bench bf16_b256_autotune_efficient --compile --compile_mode max-autotune-no-cudagraphs \
    --batch_size 256 --sdpa_backend efficient
echo "total ${SECONDS}s" | tee -a "$SUMMARY"
