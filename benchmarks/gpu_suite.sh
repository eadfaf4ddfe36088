#!/usr/bin/env bash
# Every GPU speed result in one command, within 9 minutes, all JSON files in one folder.
#
#   bash benchmarks/gpu_suite.sh [--out DIR] [--data-dir DIR] [--dry-run]
#
# Parts, each under its own wall-clock cap (coreutils `timeout`), so a slow or hung part is
# stopped and the next one still runs (caps add up to 520 s):
#   inference_t5     Chronos-T5 tiny sampling, ours vs the published package (bf16)     100 s
#   inference_bolt   Chronos-Bolt tiny, ours vs the published package, batch 8192       60 s
#   kernel_synth     batched KernelSynth vs sklearn, and 1M series written end to end   200 s
#   training         full training pipeline step vs the raw compiled step               100 s
#   benchmark        the built-in default model on every local benchmark dataset        60 s
# `suite.json` in the output folder records each part's exit status, seconds and result file.
#
# --dry-run runs the same parts on the CPU with tiny sizes (about a minute; the test suite runs
# it so the script cannot rot while no GPU is at hand). Without --data-dir the training and
# benchmark parts use self-made data (KernelSynth windows; one small synthetic dataset).
#
# On a GPU machine: pip install torch && pip install -e ".[dev]", then
#   bash benchmarks/gpu_suite.sh --data-dir ../shared/data --out benchmarks/results/gpu
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="benchmarks/results/gpu"
DATA=""
DRY=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --data-dir) DATA="$2"; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "gpu_suite.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
PY="${PYTHON:-python}"
STATUS="$OUT/.status"
: > "$STATUS"

# part NAME CAP_SECONDS RESULT_FILE COMMAND...: run under the cap, record rc and seconds
part() {
  local name="$1" cap="$2" result="$3"; shift 3
  echo "=== $name (cap ${cap}s): $*"
  local start; start=$(date +%s%N)
  timeout --signal=TERM --kill-after=10 "$cap" "$@"
  local rc=$?
  local ms=$(( ($(date +%s%N) - start) / 1000000 ))
  local seconds="$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  echo "$name $rc $seconds $result" >> "$STATUS"
  [[ $rc -eq 0 ]] || echo "=== $name: exit status $rc (124: stopped at its cap)" >&2
}

if [[ $DRY -eq 1 ]]; then
  DEVICE=cpu
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
  if [[ -z "$DATA" ]]; then  # one small synthetic benchmark dataset
    DATA="$OUT/data"
    "$PY" - "$DATA" <<'EOF'
import sys
import numpy as np
from chronos_pkg import series_io
rng = np.random.default_rng(0)
series = [np.cumsum(rng.normal(size=40)).astype(np.float32) + 50 for _ in range(8)]
series_io.write_series(series, f"{sys.argv[1]}/monash_m1_yearly.parquet", freq="YS")
EOF
  fi
  part inference_t5 60 inference_t5.json "$PY" benchmarks/inference.py --device cpu \
    --sizes tiny --batch-sizes 2 --rounds 1 --threads 1 --output "$OUT/inference_t5.json"
  part inference_bolt 60 inference_bolt.json "$PY" benchmarks/inference_bolt.py --device cpu \
    --batch-size 4 --context-length 256 --rounds 1 --series-per-round 4 --threads 1 \
    --output "$OUT/inference_bolt.json"
  part kernel_synth 60 kernel_synth.json "$PY" benchmarks/kernel_synth.py --device cpu \
    --length 128 --rounds 1 --sklearn-series 1 --ours-series 4 --threads 1 \
    --output "$OUT/kernel_synth.json"
  part training 60 training.json "$PY" benchmarks/training.py --device cpu --steps 5 \
    --warmup 5 --batch-size 8 --num-workers 0 --threads 1 --output "$OUT/training.json"
  part benchmark 60 benchmark.csv "$PY" -m evaluation.evaluate --model "${SUITE_MODEL:-seasonal-naive}" \
    --device cpu --datasets monash_m1_yearly --data-dir "$DATA" --output "$OUT/benchmark.csv"
else
  DEVICE=cuda
  part inference_t5 100 inference_t5.json "$PY" benchmarks/inference.py --device cuda \
    --dtype bfloat16 --sizes tiny --rounds 2 --output "$OUT/inference_t5.json"
  part inference_bolt 60 inference_bolt.json "$PY" benchmarks/inference_bolt.py --device cuda \
    --dtype bfloat16 --batch-size 8192 --rounds 3 --output "$OUT/inference_bolt.json"
  part kernel_synth 200 kernel_synth.json "$PY" benchmarks/kernel_synth.py --device cuda \
    --end-to-end 1000000 --output "$OUT/kernel_synth.json"
  TRAIN_DATA=()
  [[ -n "$DATA" ]] && TRAIN_DATA=(--config training/configs/default.yaml --data-dir "$DATA")
  part training 100 training.json "$PY" benchmarks/training.py --device cuda --compile \
    --size tiny --batch-size 256 --context-length 512 --prediction-length 64 \
    --num-workers 14 "${TRAIN_DATA[@]}" --output "$OUT/training.json"
  if [[ -n "$DATA" ]]; then
    part benchmark 60 benchmark.csv "$PY" -m evaluation.evaluate --model "${SUITE_MODEL:-default}" \
      --device cuda --benchmark all --batch-size 1024 --data-dir "$DATA" \
      --output "$OUT/benchmark.csv"
  else
    echo "benchmark 0 0 skipped:no-data-dir" >> "$STATUS"
  fi
fi

"$PY" - "$STATUS" "$OUT/suite.json" "$DEVICE" <<'EOF'
import json, sys
from chronos_pkg.provenance import describe_machine, library_versions
parts = {}
for line in open(sys.argv[1]):
    name, rc, seconds, result = line.split()
    parts[name] = {"exit_status": int(rc), "seconds": round(float(seconds), 1), "result": result}
summary = {"device": sys.argv[3], "machine": describe_machine(), "versions": library_versions(),
           "parts": parts, "all_passed": all(p["exit_status"] == 0 for p in parts.values())}
json.dump(summary, open(sys.argv[2], "w"), indent=2)
print(json.dumps({k: v["exit_status"] for k, v in parts.items()}))
sys.exit(0 if summary["all_passed"] else 1)
EOF
