#!/usr/bin/env bash
# The main job on the embedded default gallery: generate a small model, push it, list the
# gallery, pull the revision back by digest and check it byte for byte.
#
# The embedded default gallery, the config file and the cache are the demo's own: PAIS_DATA_DIR,
# PAIS_CONFIG and PAIS_CACHE_DIR point into DEMO_DIR (default .demo/ in the checkout), so the
# user's own gallery is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-venv.sh
PAIS="$PWD/.venv/bin/pais"
DEMO_DIR="${DEMO_DIR:-$PWD/.demo}"
mkdir -p "$DEMO_DIR"
export PAIS_DATA_DIR="$DEMO_DIR/data" PAIS_CONFIG="$DEMO_DIR/config.toml" PAIS_CACHE_DIR="$DEMO_DIR/cache"
unset PAIS_MODEL_STORE
printf 'demo directory: %s (its embedded default gallery is %s/gallery; yours is left alone)\n' "$DEMO_DIR" "$PAIS_DATA_DIR"
work="$(mktemp -d)"
cleanup() {
  [ -f "$work/clamd/clamd.launcher.pid" ] && kill "$(cat "$work/clamd/clamd.launcher.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

.venv/bin/python scripts/make_tiny_model.py "$work/tiny-llama" >/dev/null
echo "generated a tiny Llama-shaped model in $work/tiny-llama:"
ls -l "$work/tiny-llama"

PAIS_CLAMD="$(bash scripts/start-demo-clamd.sh "$work/clamd")"
export PAIS_CLAMD PAIS_CLAMD_CONF="$work/clamd/clamd.conf"
printf '\nNOTE: this demo scans with a private clamd loaded with EICAR-only TEST signatures\n'
printf '      (tests/data/clamav); production uses freshclam'"'"'s signature databases.\n'

step pais models validate "$work/tiny-llama"
"$PAIS" models validate "$work/tiny-llama"

step pais models push "$work/tiny-llama" --modelName demo/tiny-llama --tag demo
"$PAIS" models push "$work/tiny-llama" --modelName demo/tiny-llama --tag demo

step pais models push "$work/tiny-llama" --modelName demo/tiny-llama --tag demo -o json "(again: same digest, nothing uploaded)"
digest="$("$PAIS" models push "$work/tiny-llama" --modelName demo/tiny-llama --tag demo -o json 2>/dev/null \
  | .venv/bin/python -c 'import json,sys; r=json.load(sys.stdin); print(r["digest"]); print("uploaded bytes:", r["bytes_uploaded"], file=sys.stderr)')"

step pais models list
"$PAIS" models list

step pais models pull --modelName demo/tiny-llama --digest "$digest" --dest "$work/pulled" --require-validated
"$PAIS" models pull --modelName demo/tiny-llama --digest "$digest" --dest "$work/pulled" --require-validated

step diff -r "$work/tiny-llama" "$work/pulled"
diff -r "$work/tiny-llama" "$work/pulled"
echo "identical: the pulled files match the pushed ones byte for byte"

step pais models pull --modelName demo/tiny-llama "(no tag, no digest)"
if "$PAIS" models pull --modelName demo/tiny-llama; then
  echo "unexpected: a pull without a tag or digest succeeded" >&2; exit 1
fi
step pais models push "(the same model with the EICAR test file added: refused)"
cp -r "$work/tiny-llama" "$work/infected"
printf 'X5O!P%%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' > "$work/infected/eicar.com"
if "$PAIS" models push "$work/infected" --modelName demo/infected --tag demo; then
  echo "unexpected: an infected model was pushed" >&2; exit 1
fi

printf '\ndemo done: revision %s of demo/tiny-llama is in the demo'"'"'s default gallery, %s/gallery\n' "$digest" "$PAIS_DATA_DIR"
printf 'remove %s to forget it\n' "$DEMO_DIR"
