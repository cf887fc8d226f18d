#!/usr/bin/env bash
# Creates .venv (once) and installs pais into it, editable, with the extras named as arguments.
# Re-runs are cheap: pip is skipped when pyproject.toml has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
extras="$(IFS=,; echo "$*")"
spec="."
[ -n "$extras" ] && spec=".[$extras]"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "pais needs Python 3.11 or newer"'
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.pais-installed"
want="$(cat pyproject.toml | sha256sum | cut -c1-16) $spec"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$spec"
  echo "$want" > "$stamp"
fi
# What pip does for a wheel it installs: pais's bytecode, compiled once. An editable checkout
# would otherwise be compiled on every start wherever PYTHONDONTWRITEBYTECODE=1 is set (CI
# images often set it): 30 ms of each command. A stale file is recompiled from its source.
"$VENV/bin/python" -m compileall -q pais_cli > /dev/null
