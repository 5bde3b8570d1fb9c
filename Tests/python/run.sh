#!/usr/bin/env bash
# The Python client's stage of `make test`: a virtual environment (the system Python is left
# alone) with the package installed as a user would install it, `mypy --strict` on the package and
# the FastAPI example, then pytest against the real daemon (AUTHD_BIN_DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
venv=.build/python-venv
if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "./clients/python[fastapi]" pytest mypy httpx python-multipart
"$venv/bin/python" -m mypy --strict clients/python/src/authd Examples/fastapi/main.py
"$venv/bin/python" -m pytest -q -p no:cacheprovider clients/python/tests Examples/fastapi
