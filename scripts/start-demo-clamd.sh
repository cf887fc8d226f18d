#!/usr/bin/env bash
# Starts a private clamd for the demo with the project's EICAR-only TEST signatures
# (tests/data/clamav): no signature database can be downloaded on these machines. Production
# uses freshclam's databases. Prints the socket address; the caller stops it via the pid file.
set -euo pipefail
dir="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
clamd_bin="$(command -v clamd || echo /usr/sbin/clamd)"
if [ ! -x "$clamd_bin" ]; then
  echo "installing clamav-daemon (Debian) for the demo's malware scan" >&2
  sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -qq >&2
  sudo_if_needed apt-get install -y -qq --no-install-recommends clamav-daemon >/dev/null
  clamd_bin=/usr/sbin/clamd
fi
mkdir -p "$dir/db"
cp "$root"/tests/data/clamav/* "$dir/db/"
{
  echo "Foreground yes"
  echo "DatabaseDirectory $dir/db"
  echo "LocalSocket $dir/clamd.sock"
  echo "PidFile $dir/clamd.pid"
  echo "LogFile $dir/clamd.log"
  echo "SelfCheck 0"
  echo "DisableCache yes"
  [ "$(id -u)" -eq 0 ] && echo "User root"
} > "$dir/clamd.conf"
"$clamd_bin" -c "$dir/clamd.conf" >/dev/null 2>&1 &
echo $! > "$dir/clamd.launcher.pid"
for _ in $(seq 1 200); do
  [ -S "$dir/clamd.sock" ] && break
  sleep 0.05
done
[ -S "$dir/clamd.sock" ] || { echo "clamd did not start; see $dir/clamd.log" >&2; exit 1; }
echo "unix://$dir/clamd.sock"
