#!/usr/bin/env bash
# The main job on the embedded default gallery: generate a small model, push it, list the
# gallery, pull the revision back by digest and check it byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-venv.sh
PAIS="$PWD/.venv/bin/pais"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

.venv/bin/python scripts/make_tiny_model.py "$work/tiny-llama" >/dev/null
echo "generated a tiny Llama-shaped model in $work/tiny-llama:"
ls -l "$work/tiny-llama"

step pais models push "$work/tiny-llama" --modelName demo/tiny-llama --tag demo
"$PAIS" models push "$work/tiny-llama" --modelName demo/tiny-llama --tag demo

step pais models push "$work/tiny-llama" --modelName demo/tiny-llama --tag demo -o json "(again: same digest, nothing uploaded)"
digest="$("$PAIS" models push "$work/tiny-llama" --modelName demo/tiny-llama --tag demo -o json 2>/dev/null \
  | .venv/bin/python -c 'import json,sys; r=json.load(sys.stdin); print(r["digest"]); print("uploaded bytes:", r["bytes_uploaded"], file=sys.stderr)')"

step pais models list
"$PAIS" models list

step pais models pull --modelName demo/tiny-llama --digest "$digest" --dest "$work/pulled"
"$PAIS" models pull --modelName demo/tiny-llama --digest "$digest" --dest "$work/pulled"

step diff -r "$work/tiny-llama" "$work/pulled"
diff -r "$work/tiny-llama" "$work/pulled"
echo "identical: the pulled files match the pushed ones byte for byte"

step pais models pull --modelName demo/tiny-llama "(no tag, no digest)"
if "$PAIS" models pull --modelName demo/tiny-llama; then
  echo "unexpected: a pull without a tag or digest succeeded" >&2; exit 1
fi
printf '\ndemo done: revision %s of demo/tiny-llama is in the embedded default gallery\n' "$digest"
