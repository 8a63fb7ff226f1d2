#!/usr/bin/env bash
# Set up everything on a fresh machine: Fashion-MNIST and Chromium + ChromeDriver (Debian's
# packages, where apt exists and they are missing), a virtual environment in .venv, the
# pinned requirements and the optional extras (requirements-extras.txt).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages, where apt-get is available: Fashion-MNIST, and Chromium + ChromeDriver for
# the rating page's browser test (tests/test_rating_browser.py), so `make test` runs the same
# tests here as CI does. Without apt-get (or without root/sudo) they are skipped with a note.
APT_PACKAGES=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || APT_PACKAGES+=(dataset-fashion-mnist)
{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || APT_PACKAGES+=(chromium chromium-driver)
if [ ${#APT_PACKAGES[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
    if command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
        echo "[setup] installing Debian packages: ${APT_PACKAGES[*]}"
        if ! { $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${APT_PACKAGES[@]}"; }; then
            echo "[setup] error: apt-get could not install ${APT_PACKAGES[*]} (another apt running? no network?)" >&2
            exit 1
        fi
    else
        echo "[setup] note: cannot install ${APT_PACKAGES[*]} (no apt-get or no root): Fashion-MNIST" \
             "must be found elsewhere (see README, Data) and the browser test will be skipped" >&2
    fi
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
