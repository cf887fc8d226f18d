#!/usr/bin/env bash
# Installs everything the tests need on a machine that has none of it:
#   Debian packages: docker-registry (CNCF distribution), skopeo (an independent OCI client),
#                    apache2-utils (htpasswd for the basic-auth registry), curl (benchmark),
#                    clamav-daemon + clamdscan (a real clamd, run by the tests with their own signatures),
#                    bubblewrap (the local smoke-test sandbox), docker.io (a Docker engine the tests
#                    start on their own socket), debootstrap (builds the llama.cpp engine image offline)
#   a virtual environment in .venv with pais and its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(docker-registry skopeo apache2-utils curl clamav-daemon clamdscan bubblewrap docker.io debootstrap)

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -qq
  sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash scripts/install-venv.sh test

# The container smoke test's engine image (llama.cpp's server), built offline and cached.
bash scripts/build-engine-image.sh >/dev/null
