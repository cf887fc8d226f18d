#!/usr/bin/env bash
# Builds a local container image that carries a REAL serving engine, llama.cpp, without any
# container registry: the test engine image for the `container` sandbox backend.
#
#   scripts/build-engine-image.sh              build once (cached), print the image tag
#   scripts/build-engine-image.sh --print-path build once (cached), print the image tarball's path
#   scripts/build-engine-image.sh --load       also `docker load` it (DOCKER_HOST is honoured)
#   scripts/build-engine-image.sh --force      rebuild even when the tarball is cached
#
# What it builds: a Debian bookworm minbase rootfs (debootstrap, from Debian's mirror) with
# python3 + libgomp1, and llama-cpp-python[server] installed into /opt/pais-engine/site from the
# pip cache / PyPI. llama-cpp-python bundles llama.cpp's own libraries (libllama, libggml): the
# server is llama.cpp behind llama-cpp-python's OpenAI-compatible FastAPI server
# (`python3 -m llama_cpp.server`). The image is written directly as a `docker save`
# (docker-archive) tarball, which `docker load` and `podman load` both read, with:
#   Entrypoint ["python3", "-m", "llama_cpp.server"], User 65534:65534, HOME=/tmp,
#   label org.pais.engine=llama-cpp-python (the flavour pais uses to build the command line).
#
# The pip install runs with the host's Python, which must be CPython 3.11 like bookworm's
# python3 (the project's .venv is): compiled wheels (numpy, pydantic-core, the llama-cpp-python
# wheel pip built on this machine) are then the ones that fit the image. A llama-cpp-python built
# here is tuned to this machine's CPU (GGML_NATIVE): the image is for this machine, not for
# publishing.
#
# Cache: ${PAIS_ENGINE_IMAGE_CACHE:-${XDG_CACHE_HOME:-~/.cache}/pais/engine-image}/
#        llamacpp-server-<version>.tar (reruns skip the build; --force rebuilds).
# Environment: LLAMA_CPP_PYTHON_VERSION (default: the version in .venv, else 0.3.36),
#              DEBIAN_MIRROR (default http://deb.debian.org/debian), PAIS_ENGINE_PYTHON.
# Needs: debootstrap (Debian package), root (debootstrap creates device nodes and owners).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=tag
force=0
load=0
for arg in "$@"; do
  case "$arg" in
    --print-path) mode=path ;;
    --force) force=1 ;;
    --load) load=1 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "build-engine-image: $*" >&2; }

PYTHON=${PAIS_ENGINE_PYTHON:-}
if [ -z "$PYTHON" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if [ -z "${LLAMA_CPP_PYTHON_VERSION:-}" ]; then
  LLAMA_CPP_PYTHON_VERSION=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))' 2>/dev/null || echo 0.3.36)
fi
VERSION=$LLAMA_CPP_PYTHON_VERSION
TAG="pais-test/llamacpp-server:$VERSION"
CACHE=${PAIS_ENGINE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pais/engine-image}
TARBALL="$CACHE/llamacpp-server-$VERSION.tar"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

finish() {
  if [ "$load" -eq 1 ]; then
    log "loading $TARBALL"
    docker load -i "$TARBALL" >&2
  fi
  if [ "$mode" = path ]; then echo "$TARBALL"; else echo "$TAG"; fi
}

if [ -s "$TARBALL" ] && [ "$force" -eq 0 ]; then
  log "cached: $TARBALL"
  finish
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; then
  log "debootstrap is not installed: run \`make test\` (scripts/install-test-deps.sh installs it), or apt-get install debootstrap"
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  log "debootstrap needs root: run as root (or with sudo)"
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) and sys.implementation.name == "cpython" else 1)'; then
  log "$PYTHON is not CPython 3.11 (bookworm's python3): set PAIS_ENGINE_PYTHON to one"
  exit 1
fi

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
start=$(date +%s)

log "debootstrap bookworm (minbase + python3, libgomp1) from $MIRROR"
PATH="$PATH:/usr/sbin:/sbin" debootstrap --variant=minbase --include=python3,libgomp1 bookworm "$rootfs" "$MIRROR" \
  >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; log "debootstrap failed"; exit 1; }

log "pip install llama-cpp-python[server]==$VERSION into /opt/pais-engine/site (pip cache / PyPI)"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
  --target "$rootfs/opt/pais-engine/site" "llama-cpp-python[server]==$VERSION" >&2
site="$rootfs/opt/pais-engine/site"
# The wheel's data copies of the shared libraries, headers and console scripts (the package loads
# llama_cpp/lib/*.so; scripts carry this host's interpreter path).
rm -rf "${site:?}/lib" "${site:?}/include" "${site:?}/bin"
# What a server image does not need: apt's package cache and lists, docs, man pages, locales.
rm -rf "${rootfs:?}"/var/cache/apt/* "${rootfs:?}"/var/lib/apt/lists/* "${rootfs:?}"/usr/share/doc/* \
  "${rootfs:?}"/usr/share/man/* "${rootfs:?}"/usr/share/locale/* "${rootfs:?}"/usr/share/info/* "${rootfs:?}"/var/log/*

log "writing the image tarball (docker-archive)"
tar --numeric-owner --sort=name -C "$rootfs" -cf "$work/layer.tar" \
  --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./run/*' --exclude='./tmp/*' .
"$PYTHON" - "$work" "$TAG" "$VERSION" <<'EOF'
import datetime
import hashlib
import io
import json
import os
import sys
import tarfile

work, tag, version = sys.argv[1:4]
layer = os.path.join(work, "layer.tar")
digest = hashlib.sha256()
with open(layer, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        digest.update(chunk)
diff_id = "sha256:" + digest.hexdigest()
created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
config = {
    "architecture": "amd64",
    "os": "linux",
    "created": created,
    "config": {
        "Entrypoint": ["python3", "-m", "llama_cpp.server"],
        "Env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "PYTHONPATH=/opt/pais-engine/site",
            "PYTHONDONTWRITEBYTECODE=1",
            "HOME=/tmp",
        ],
        "User": "65534:65534",
        "WorkingDir": "/tmp",
        "ExposedPorts": {"8000/tcp": {}},
        "Labels": {
            "org.pais.engine": "llama-cpp-python",
            "org.pais.engine.version": version,
            "org.opencontainers.image.title": "llama.cpp server (llama-cpp-python) for pais tests",
            "org.opencontainers.image.description": "Debian bookworm minbase + llama-cpp-python[server]; "
                                                    "built offline by scripts/build-engine-image.sh",
        },
    },
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    "history": [{"created": created,
                 "created_by": f"scripts/build-engine-image.sh: debootstrap bookworm minbase + llama-cpp-python[server]=={version}"}],
}
raw = json.dumps(config, separators=(",", ":")).encode()
config_name = hashlib.sha256(raw).hexdigest() + ".json"
manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [digest.hexdigest() + "/layer.tar"]}]
out = os.path.join(work, "image.tar")
with tarfile.open(out, "w") as tar:
    def add_bytes(name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
    add_bytes(config_name, raw)
    tar.add(layer, arcname=digest.hexdigest() + "/layer.tar")
    add_bytes("manifest.json", json.dumps(manifest).encode())
EOF
mv "$work/image.tar" "$TARBALL"
log "built $TAG in $(( $(date +%s) - start )) s: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
finish
