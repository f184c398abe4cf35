#!/usr/bin/env bash
# Measured peaks and per-layer traces on this machine (CPU, and CUDA when torch sees a GPU), plus the gpu tests of
# both commands. Writes JSON into ${OUT:-peaks-trace-out}/ and prints the summaries; about 1-3 minutes.
#   bash benchmarks/peaks_trace_check.sh            # from the repository root
set -u
out="${OUT:-peaks-trace-out}"
mkdir -p "$out"
export ARCHPROF_CACHE="${ARCHPROF_CACHE:-$out/cache}"
cat /proc/loadavg 2>/dev/null | sed 's/^/load average: /'
python -m profiler peaks --device cpu
python -m profiler trace resnet50 --device cpu --batch 1 --resolution 224 --iters 5 --top 5 -o "$out/resnet50-cpu-b1.json"
if python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader || true
  python -m pytest tests/hardware/test_peaks.py tests/trace/test_trace.py -m gpu -q -p no:cacheprovider
  python -m profiler peaks --device cuda
  for b in 1 64; do
    python -m profiler trace resnet50 --device cuda --batch "$b" --iters 10 --top 5 -o "$out/resnet50-cuda-b$b.json"
  done
  python -m profiler trace regnetx_400mf --device cuda --batch 1 --iters 10 --top 5 -o "$out/regnetx400mf-cuda-b1.json"
  cp "$ARCHPROF_CACHE"/peaks/*.json "$out/" 2>/dev/null || true
fi
