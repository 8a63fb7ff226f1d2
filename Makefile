# The two commands of the README, plus helpers. Every target sets up .venv first if needed.
PY := .venv/bin/python
# Measured on 2 cores: one torch thread per process beats two threads in one process
# whenever anything else runs, and a passive OpenMP wait keeps idle threads off the cores.
export OMP_NUM_THREADS ?= 1
export OMP_WAIT_POLICY ?= PASSIVE
export WANDB_MODE ?= offline
export WANDB_SILENT ?= true
OUT ?= out

.PHONY: setup test demo study benchmarks settle_benchmark
setup:
	bash scripts/setup.sh

test: setup
	$(PY) -m pytest -q -n 2 --dist loadgroup

study: setup
	OUT=$(OUT) bash scripts/study.sh

demo: setup
	$(PY) scripts/demo_cvae.py --out $(OUT)/demo

benchmarks: setup
	$(PY) benchmarks/data_pipeline.py
	$(PY) benchmarks/train_step.py
	$(PY) benchmarks/train_precision.py
	$(PY) benchmarks/epoch_cost.py
	$(PY) benchmarks/metrics.py
	$(PY) benchmarks/curve_overhead.py
	$(PY) benchmarks/memorisation.py
	$(PY) benchmarks/study_overhead.py
	$(PY) benchmarks/settle_null.py
	$(PY) benchmarks/settle_forecast.py

# The make study workload itself (about 40 minutes on 2 cores), timed into a fresh folder.
settle_benchmark: setup
	$(PY) benchmarks/settle_study.py --out $(OUT)/settle_benchmark
