#!/usr/bin/env bash
# Create .venv-prefect with the pinned prefect 2.20 client (pyproject's `client` extra), used by the
# compatibility tests as a subprocess. Prints the venv's python path.
set -euo pipefail
cd "$(dirname "$0")/.."
pin=$(python3 - <<'PY'
import tomllib
print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["client"]))
PY
)
stamp=.venv-prefect/.installed-$(echo "$pin" | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  PY=${PYTHON:-python3.11}; command -v "$PY" >/dev/null 2>&1 || PY=python3
  [ -x .venv-prefect/bin/python ] || "$PY" -m venv .venv-prefect
  .venv-prefect/bin/pip install -q --upgrade pip >&2
  # shellcheck disable=SC2086
  .venv-prefect/bin/pip install -q $pin >&2
  touch "$stamp"
fi
echo "$PWD/.venv-prefect/bin/python"
