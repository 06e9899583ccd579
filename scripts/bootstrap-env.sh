#!/usr/bin/env bash
# Create .venv and install the project with its test extras, from pyproject.toml alone.
# Re-runs only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${1:-base}
if [ ! -f "$stamp" ]; then
  if [ "${1:-base}" = "test" ]; then extras='.[test]'; else extras='.'; fi
  .venv/bin/pip install -q -e "$extras"
  touch "$stamp"
fi
