#!/usr/bin/env bash
# The device checks that no session has run yet, in priority order, for the next session lent a GPU. Each part fits
# one device call (< 10 min); every step has its own time limit, and all output lands in ${OUT}.
#   bash benchmarks/gpu_session.sh tests     # gpu-marked tests (cudagraph, compile, ORT CUDA graph, peaks, trace),
#                                            # then the launch-overhead benchmark on resnet50        (~6 min)
#   bash benchmarks/gpu_session.sh sweep     # regnet-claim-quick under --time-budget ${BUDGET:-5m}: measures what
#                                            # the estimate only assumes (reused ORT sessions, autotuning), then
#                                            # prints estimated vs actual and packs the run          (~6 min)
#   bash benchmarks/gpu_session.sh explain   # peaks and per-layer traces (benchmarks/peaks_trace_check.sh)
# ONNX Runtime on CUDA needs onnxruntime-gpu (see ../shared/hooks/gpu/README.md for carrying it in pieces);
# without it the ORT rows fail with the reason and the eager rows still come back.
set -u -o pipefail
part=${1:-tests}
case $part in tests|sweep|explain) ;; *) echo "unknown part '$part'; valid: tests, sweep, explain" >&2; exit 2 ;; esac
out=${OUT:-gpu-session-out}
mkdir -p "$out"
export ARCHPROF_CACHE=${ARCHPROF_CACHE:-/tmp/archprof-cache} PYTHONUNBUFFERED=1
py=$(command -v python3 || command -v python)
log() { echo "[$(date -u +%T)] $*"; }
step() { local secs=$1; shift; log "\$ $*"; timeout -k 5 "$secs" "$@"; log "exit $?"; }
has_cuda() { "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; }
{
  log "part $part; load $(cut -d' ' -f1-3 /proc/loadavg)"
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader || true
  "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
  "$py" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" || true
  has_cuda || log "no CUDA device: the CUDA steps below are skipped"
  case $part in
    tests)
      has_cuda && step 300 "$py" -m pytest tests -m gpu -q -p no:cacheprovider -rs
      has_cuda && step 200 "$py" benchmarks/launch_overhead_benchmark.py --model resnet50 ;;
    sweep)
      dev=cpu; has_cuda && dev=cuda
      run=gpu-window-$(date -u +%H%M%S)
      step 30 "$py" -m profiler sweep --config experiments/regnet-claim-quick.toml --device "$dev" \
        --time-budget "${BUDGET:-5m}" --dry-run
      step "${SWEEP_S:-420}" "$py" -m profiler sweep --config experiments/regnet-claim-quick.toml --device "$dev" \
        --time-budget "${BUDGET:-5m}" --run-id "$run" --results-dir "$out/results" --no-progress
      tar czf "$out/$run.tgz" -C "$out/results" "$run" && log "packed $out/$run.tgz" ;;
    explain)
      OUT="$out/peaks-trace" step 400 bash benchmarks/peaks_trace_check.sh ;;
  esac
} 2>&1 | tee -a "$out/session-$part.log"
