#!/usr/bin/env bash
# Continue the built-in default's training on a GPU for a fixed number of minutes, then export the
# checkpoint for validation on the CPU as usual (python -m chronos_pkg.train.validation ...).
#
#   bash training/gpu_continue.sh [MINUTES] [DATA_DIR] [OUT_DIR]
#   (defaults: 7, ../shared/data or $CHRONOS_PKG_DATA_DIR, $OUT or runs/gpu-continue)
#
# The default recipe (training/configs/default.yaml) continues from the shipped weights at batch
# 256 (the CPU runs use 128) with bfloat16 autocast on the GPU. A 100-step calibration measures
# the steps per second first, so that max_steps (which sets the learning-rate schedule) fits the
# time and the schedule decays to zero; the run writes checkpoint-latest every 500 steps.
# Extra arguments after OUT_DIR are passed to training.train (e.g. --model.size mini).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MINUTES="${1:-7}"
DATA="${2:-${CHRONOS_PKG_DATA_DIR:-../shared/data}}"
OUT="${3:-${OUT:-runs/gpu-continue}}"
shift $(( $# < 3 ? $# : 3 ))
PYTHON="${PYTHON:-python}"
RUN="$OUT/run"
COMMON=(--config training/configs/default.yaml --data-dir "$DATA" --trainer.device auto
        --trainer.batch_size 256 --trainer.compile false --trainer.progress_bar false
        --data.num_workers "${WORKERS:-8}" --trainer.save_every 500 "$@")

echo "[gpu_continue] calibrating: 100 steps"
"$PYTHON" -m training.train "${COMMON[@]}" --output-dir "$OUT/calibration" \
    --trainer.max_steps 100 --trainer.log_every 50
RATE=$("$PYTHON" -c "import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])['steps_per_s'])" \
    "$OUT/calibration/log.jsonl")
STEPS=$("$PYTHON" -c "import sys; print(max(200, int(float(sys.argv[1]) * 60 * float(sys.argv[2]) * 0.9)))" \
    "$RATE" "$MINUTES")
echo "[gpu_continue] $RATE steps/s -> $STEPS steps in about $MINUTES minutes"

"$PYTHON" -m training.train "${COMMON[@]}" --output-dir "$RUN" --trainer.max_steps "$STEPS" \
    --trainer.max_minutes "$MINUTES" --resume
FINAL="$RUN/final"
[ -d "$FINAL" ] || FINAL="$RUN/checkpoint-latest"
"$PYTHON" -m training.export_model --checkpoint "$FINAL" --output "$OUT/model"
echo "[gpu_continue] exported $OUT/model; validate it on the CPU against the shipped default"
