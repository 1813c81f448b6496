#!/usr/bin/env bash
# The one prepared GPU check: everything in edgeseg that needs an NVIDIA GPU, results in one folder.
#
#   benchmarks/gpu_check.sh [OUT]        # default OUT: runs/gpu_check-<date>
#
# Run from the repository root with edgeseg installed (pip install -e '.[dev,trt]'; offline machines:
# benchmarks/OFFLINE_GPU.md). About 5 minutes on a data-center GPU; each step has its own time limit, the
# whole under 8 minutes. Where TensorRT (or pycuda, or the CUDA build of ONNX Runtime) is missing, the
# steps that need it are skipped and OUT/summary.txt says which and why; the rest still runs. Exit code:
# 0 when nothing failed (skips allowed), 1 when a step that could run failed.
set -u
OUT=${1:-runs/gpu_check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python}
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
FAILED=0
DATA="synthetic:nuclei?n=64&size=64&seed=0"
HELD_OUT="synthetic:nuclei?n=32&size=64&seed=1000"

note() { echo "$*" | tee -a "$SUMMARY"; }

has() { "$PY" -c "import $1" >/dev/null 2>&1; }

# step NAME SECONDS COMMAND...: run with a time limit, log to OUT/NAME.txt, record ok / FAILED (rc).
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
  local rc=$?
  if [ "$rc" -eq 0 ]; then
    note "ok       $name ($((SECONDS - t0)) s)"
  elif [ "$rc" -eq 3 ]; then
    note "skipped  $name: $(grep -m 1 '^{"missing"' "$OUT/$name.txt" || tail -n 1 "$OUT/$name.txt")"
  else
    note "FAILED   $name (exit $rc after $((SECONDS - t0)) s; see $name.txt)"
    FAILED=1
  fi
}

skip() { note "skipped  $1: $2"; }

note "edgeseg GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), results in $OUT"
{ nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv; } >"$OUT/nvidia-smi.txt" 2>&1 \
  || note "nvidia-smi: not found or no GPU (see nvidia-smi.txt)"
"$PY" -m edgeseg env >"$OUT/env.txt" 2>&1 || true

HAVE_TRT=1; has tensorrt || HAVE_TRT=0
HAVE_PYCUDA=1; has pycuda.driver || HAVE_PYCUDA=0
HAVE_TORCH_CUDA=1; "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null || HAVE_TORCH_CUDA=0
note "found: tensorrt=$HAVE_TRT pycuda=$HAVE_PYCUDA torch_cuda=$HAVE_TORCH_CUDA"

# 1. Every file with gpu-marked tests (they skip themselves, with the reason, where TensorRT, pycuda or a
#    GPU is missing) and the CPU tests of the TensorRT code, in one run.
GPU_TESTS=$(grep -rl "pytest.mark.gpu" tests | sort -u)
# shellcheck disable=SC2086
step pytest 300 "$PY" -m pytest -q -rs -p no:cacheprovider --timeout 240 tests/engines tests/runtime/test_trt_errors.py $GPU_TESTS

# 2. torch CUDA, fp32 against AMP; pycuda buffers and events.
step torch_amp 60 "$PY" benchmarks/gpu_probe.py torch "$OUT"
step pycuda_buffers 60 "$PY" benchmarks/gpu_probe.py pycuda "$OUT"

# 3. A 2-epoch training on the GPU (AMP is on by default on CUDA) and an fp32/fp16/int8 export.
if [ "$HAVE_TORCH_CUDA" = 1 ]; then
  step train_amp 120 "$PY" -m edgeseg train unet_sharp --data "$DATA" --out "$OUT/train" --epochs 2 --device cuda \
    -c width_mult=0.25 --no-progress
else
  step train_amp 120 "$PY" -m edgeseg train unet_sharp --data "$DATA" --out "$OUT/train" --epochs 2 --device cpu \
    -c width_mult=0.25 --no-progress
  note "         (train_amp ran on the CPU: torch has no CUDA device, so no AMP)"
fi
step export 180 "$PY" -m edgeseg export "$OUT/train/best.json" --out "$OUT/bundle" --variants L1 \
  --precision fp32,fp16,int8 --dynamic-batch 8 --calib-data "$HELD_OUT" --calib-images 16 --parity-images 4
step ort_cuda 60 "$PY" benchmarks/gpu_probe.py ort "$OUT"

# 4. TensorRT engines through Polygraphy, with a timing cache; the second build must reuse every engine.
if [ "$HAVE_TRT" = 1 ] && [ "$HAVE_PYCUDA" = 1 ]; then
  step build 240 "$PY" -m edgeseg build "$OUT/bundle" --timing-cache "$OUT/timing.cache"
  step build_again 60 "$PY" -m edgeseg build "$OUT/bundle" --timing-cache "$OUT/timing.cache"
  grep -q "to build" "$OUT/build_again.txt" && { note "FAILED   build_again rebuilt an engine"; FAILED=1; }
  step inspector 60 "$PY" benchmarks/gpu_probe.py inspect "$OUT"
else
  skip build "TensorRT or pycuda is not installed (pip install 'edgeseg[trt]'; see benchmarks/OFFLINE_GPU.md)"
fi

# 5. The benchmark over every GPU backend; those that cannot run here are rows with the reason.
step bench 240 "$PY" -m edgeseg bench "$OUT/bundle" --backends torch,ort-cuda,ort-trt,trt --batch 1,8 \
  --data "$HELD_OUT" --checkpoint "$OUT/train/best.json" --warmup 5 --iters 30 --eval-images 16 --out "$OUT/bench"

note "done in $SECONDS s; $([ $FAILED = 0 ] && echo 'nothing failed' || echo 'some steps FAILED')"
exit $FAILED
