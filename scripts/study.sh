#!/usr/bin/env bash
# The main job: a quick study of two questions (3 seeds each), then the report.
#   OUT=out WORKERS=2 BUDGET=quick SWEEPS="gan_scaling gan_vs_vae" bash scripts/study.sh
# Finished runs are skipped and interrupted ones resume, so it is safe to run again. The
# report is written even when a run failed (it lists the failure); the exit code is then 1.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out}
WORKERS=${WORKERS:-2}
BUDGET=${BUDGET:-quick}
SWEEPS=${SWEEPS:-"gan_scaling gan_vs_vae"}
PY=.venv/bin/python
export WANDB_MODE=${WANDB_MODE:-offline} WANDB_SILENT=true OMP_WAIT_POLICY=PASSIVE

status=0
for sweep in $SWEEPS; do
    echo "== sweep $sweep (budget $BUDGET, $WORKERS workers) =="
    $PY -m study sweep "sweeps/$sweep.yaml" --workers "$WORKERS" --out "$OUT/runs" \
        --set "budget=$BUDGET" || status=1
done
echo "== report =="
$PY -m analysis report "$OUT/runs" --out "$OUT/report" || status=1
echo "report: $OUT/report/report.html (and report.md)"
exit $status
