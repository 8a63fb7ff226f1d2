#!/usr/bin/env bash
# The main job: two questions settled (3 seeds each to start), then the report.
#   OUT=out WORKERS=2 BUDGET=quick MINUTES=40 SWEEPS="gan_scaling gan_vs_vae" bash scripts/study.sh
# `python -m study settle` runs the sweeps, then trains longer (x2 per round) or adds seeds
# only where a verdict is still open, until both are settled or the next round would pass
# MINUTES of wall-clock (MAX_FACTOR: the longest budget, as a multiple of BUDGET). Finished
# runs are skipped and an interrupted settle resumes its round, so it is safe to run again.
# The report is written even when a run failed (it lists the failure); the exit code is then 1.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
WORKERS=${WORKERS:-2}
BUDGET=${BUDGET:-quick}
MINUTES=${MINUTES:-40}
MAX_FACTOR=${MAX_FACTOR:-4}
SWEEPS=${SWEEPS:-"gan_scaling gan_vs_vae"}
PY=.venv/bin/python
export WANDB_MODE=${WANDB_MODE:-offline} WANDB_SILENT=true OMP_WAIT_POLICY=PASSIVE

status=0
files=()
for sweep in $SWEEPS; do files+=("sweeps/$sweep.yaml"); done
echo "== settle ${SWEEPS} (budget $BUDGET, at most $MINUTES min, up to x$MAX_FACTOR, $WORKERS workers) =="
$PY -m study settle "${files[@]}" --workers "$WORKERS" --out "$OUT/runs" --set "budget=$BUDGET" \
    --max-minutes "$MINUTES" --max-budget-factor "$MAX_FACTOR" || status=1
echo "== report =="
$PY -m analysis report "$OUT/runs" --out "$OUT/report" || status=1
echo "report: $OUT/report/report.html (and report.md)"
exit $status
