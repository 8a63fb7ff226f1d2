#!/usr/bin/env bash
# Set up everything on a fresh machine: Fashion-MNIST (Debian's package, where apt exists and
# the files are missing), a virtual environment in .venv, the pinned requirements and the
# optional extras (requirements-extras.txt).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null; then
    echo "[setup] installing Debian's dataset-fashion-mnist"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -q && $SUDO apt-get install -y -q dataset-fashion-mnist
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
# The stamp skips pip when requirements.txt has not changed since the last install.
if [ ! -f .venv/.requirements.stamp ] || ! cmp -s requirements.txt .venv/.requirements.stamp; then
    echo "[setup] installing requirements (torch is large: a few minutes the first time)"
    .venv/bin/python -m pip install -q -r requirements.txt
    .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
    cp requirements.txt .venv/.requirements.stamp
fi
# Optional extras (torchmetrics, for the interoperability test), without dependencies so the
# pinned torch stays; their own stamp.
if [ ! -f .venv/.extras.stamp ] || ! cmp -s requirements-extras.txt .venv/.extras.stamp; then
    echo "[setup] installing optional extras (requirements-extras.txt)"
    .venv/bin/python -m pip install -q --no-deps -r requirements-extras.txt
    cp requirements-extras.txt .venv/.extras.stamp
fi
# A Jupyter kernel of this venv, so the analysis notebook runs with the project's packages.
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true
echo "[setup] ready: $(.venv/bin/python -c 'import torch; print("torch", torch.__version__)')"
