#!/usr/bin/env python3
"""Transfer benchmark: pais push and pull against a local CNCF distribution registry, next to
`sha256sum` and plain `curl` uploads and downloads of the same bytes, in the same run.

    python scripts/bench_transfer.py [--size 2GiB] [--files 4] [--jobs 4] [--repeat 3]

Transfer alone: no validation. Push is measured twice: with a cold digest cache (it hashes
every file, then uploads) and with the hashes cached (upload only, into a fresh repository).
Peak RSS is each child process's own (VmHWM), so it is pais' whole footprint.

Each step runs `--repeat` times and its median is shown. Fairness: every timed step starts after
`sync`, so the page-cache writeback of the previous step is not charged to the next. Durability, as measured: `pais models pull` does not fsync the
files it writes (neither does curl); the on-disk gallery fsyncs each blob once, before its rename.
The load average of the machine is printed: on a shared machine, read the ratios, not the times.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.models import write_random_file  # noqa: E402
from tests.support.registry import start_registry  # noqa: E402

MiB = 1024 * 1024


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]i?B?)?", text.strip(), re.I)
    if not m:
        raise SystemExit(f"bad size {text!r}; write e.g. 2GiB or 512MiB")
    unit = (m.group(2) or "B").upper()[0]
    return int(float(m.group(1)) * {"B": 1, "K": 1024, "M": MiB, "G": 1024 * MiB}[unit])


def _peak_rss_mb(pid: int, stop: threading.Event, peak: list[float]) -> None:
    # VmHWM is the kernel's high-water mark of this process image's RSS (reset by exec, unlike
    # wait4's ru_maxrss, which keeps the forking parent's size). Poll it until the child exits.
    while not stop.is_set():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            pass
        stop.wait(0.01)


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of one child process, started after a `sync`."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    stop, peak = threading.Event(), [0.0]
    watcher = threading.Thread(target=_peak_rss_mb, args=(proc.pid, stop, peak), daemon=True)
    watcher.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    stop.set()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}... failed ({proc.returncode}): {err.decode()[-2000:]}")
    return wall, peak[0], out.decode()


def python_sha256(files: list[Path]) -> float:
    """Python's hashlib over the same bytes, in this process (OpenSSL, 8 MiB reads)."""
    os.sync()
    start = time.perf_counter()
    for f in files:
        h = hashlib.sha256()
        with f.open("rb", buffering=0) as fh:
            while data := fh.read(8 * MiB):
                h.update(data)
    return time.perf_counter() - start


def curl_upload(url: str, repo: str, files: list[Path], digests: dict[Path, str]) -> tuple[float, float]:
    wall, peak = 0.0, 0.0
    for f in files:
        loc = subprocess.run(
            ["curl", "-sS", "-X", "POST", "-D", "-", "-o", "/dev/null", f"{url}/v2/{repo}/blobs/uploads/"],
            capture_output=True, text=True, check=True,
        ).stdout
        location = next(l.split(":", 1)[1].strip() for l in loc.splitlines() if l.lower().startswith("location:"))
        if location.startswith("/"):
            location = url + location
        sep = "&" if "?" in location else "?"
        w, p, _ = run(["curl", "-sS", "-f", "-T", str(f), "-X", "PUT", "-H", "Content-Type: application/octet-stream",
                       f"{location}{sep}digest={digests[f]}"])
        wall, peak = wall + w, max(peak, p)
    return wall, peak


def curl_download(url: str, repo: str, files: list[Path], digests: dict[Path, str], dest: Path) -> tuple[float, float]:
    wall, peak = 0.0, 0.0
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        w, p, _ = run(["curl", "-sS", "-f", "-o", str(dest / f.name), f"{url}/v2/{repo}/blobs/{digests[f]}"])
        wall, peak = wall + w, max(peak, p)
    return wall, peak


def median_of(repeat: int, step: Callable[[int], tuple[float, float]]) -> tuple[float, float]:
    """The median wall time of `repeat` runs of `step(i)` and the largest peak RSS among them: a
    shared machine's page cache and scheduler make single runs differ by a third."""
    runs = [step(i) for i in range(repeat)]
    return statistics.median(w for w, _ in runs), max(p for _, p in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="2GiB", help="total model size (default 2GiB)")
    parser.add_argument("--files", type=int, default=4, help="number of weight files (default 4)")
    parser.add_argument("--jobs", type=int, default=4, help="pais --jobs (default 4)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step; the median is shown (default 3)")
    parser.add_argument("--workdir", type=Path, default=None, help="where to put the model and the registry")
    args = parser.parse_args()
    total = parse_size(args.size)
    work = Path(tempfile.mkdtemp(prefix="pais-bench-", dir=args.workdir))
    pais = shutil.which("pais", path=str(Path(sys.executable).parent)) or "pais"
    # As installed from a wheel, whose modules pip compiles: a checkout run with
    # PYTHONDONTWRITEBYTECODE=1 (CI machines, this one) would compile pais's on every start.
    compileall.compile_dir(ROOT / "pais_cli", quiet=1)
    server = None
    try:
        model = work / "model"
        per_file = total // args.files
        files = []
        for i in range(args.files):
            path = model / f"model-{i + 1:05d}-of-{args.files:05d}.safetensors"
            write_random_file(path, per_file if i < args.files - 1 else total - per_file * (args.files - 1), seed=i)
            files.append(path)
        (model / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}\n')
        server = start_registry("plain", work)
        env = {**os.environ, "PAIS_CACHE_DIR": str(work / "cache"), "PAIS_CONFIG": str(work / "config.toml")}
        rows: list[tuple[str, float, float]] = []

        wall, peak, out = run(["sha256sum", *map(str, files)])
        digests = {Path(line.split()[1]): "sha256:" + line.split()[0] for line in out.splitlines()}
        rows.append(("sha256sum (one file after another)", *median_of(args.repeat, lambda i: run(["sha256sum", *map(str, files)])[:2])))
        py_sha, _ = median_of(args.repeat, lambda i: (python_sha256(files), 0.0))
        rows.append(("python hashlib.sha256 (one file after another)", py_sha, 0.0))

        curl_up, p = median_of(args.repeat, lambda i: curl_upload(server.url, "bench/curl", files, digests))
        rows.append(("curl upload (PUT, one file after another)", curl_up, p))

        def download(i: int) -> tuple[float, float]:
            shutil.rmtree(work / "curl-down", ignore_errors=True)
            return curl_download(server.url, "bench/curl", files, digests, work / "curl-down")

        curl_down, p = median_of(args.repeat, download)
        rows.append(("curl download (GET to file, one after another)", curl_down, p))
        shutil.rmtree(work / "curl-down")

        store = f"{server.host}/bench"
        # Transfer alone: validation has its own benchmark (bench_validate.py). The .safetensors
        # files are random bytes without a header, not weights: said so with --allow-no-weights.
        base = [pais, "models", "push", str(model), "-s", store, "-t", "v1", "-o", "json", "-j", str(args.jobs),
                "--skip-validation", "--allow-no-weights"]

        def push_cold(i: int) -> tuple[float, float]:
            cold = {**env, "PAIS_CACHE_DIR": str(work / f"cold-cache-{i}")}  # no digest remembered
            return run([*base, "-m", f"model/cold-{i}"], cold)[:2]

        push_cold_s, p = median_of(args.repeat, push_cold)
        rows.append(("pais push, cold digest cache (hash + upload)", push_cold_s, p))
        run([*base, "-m", "model/warm"], env)  # the digests are cached from here on
        pushed: dict[str, Any] = {}

        def push_warm(i: int) -> tuple[float, float]:
            wall, peak, out = run([*base, "-m", f"model/warm-{i}"], env)  # a new repository: every blob travels
            pushed.update(json.loads(out))
            assert pushed["bytes_uploaded"] >= total, "a fresh repository gets every byte"
            return wall, peak

        push_warm_s, p = median_of(args.repeat, push_warm)
        rows.append(("pais push, digests cached (upload only)", push_warm_s, p))

        def push_again(i: int) -> tuple[float, float]:
            wall, peak, out = run([*base, "-m", "model/warm"], env)
            assert json.loads(out)["bytes_uploaded"] == 0
            return wall, peak

        rows.append(("pais push again (nothing to upload)", *median_of(args.repeat, push_again)))

        def pull(i: int) -> tuple[float, float]:
            shutil.rmtree(work / "pulled", ignore_errors=True)
            wall, peak, out = run([pais, "models", "pull", "-m", "model/warm", "-s", store, "-d", pushed["digest"],
                                   "--dest", str(work / "pulled"), "-o", "json", "-j", str(args.jobs)], env)
            assert json.loads(out)["bytes_downloaded"] == total + len((model / "config.json").read_bytes())
            return wall, peak

        pull_s, p = median_of(args.repeat, pull)
        rows.append(("pais pull (stream + verify + write, no fsync)", pull_s, p))
        startup, _ = median_of(args.repeat, lambda i: run([pais, "--help"], env)[:2])
        rows.append(("pais --help (interpreter start and imports)", startup, 0.0))

        mb = total / 1e6
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\npais transfer benchmark: {total / 1024**3:.2f} GiB in {args.files} files + config, "
              f"loopback registry (distribution), {os.cpu_count()} cores, jobs={args.jobs}, "
              f"median of {args.repeat} runs each, load average {load}\n")
        print(f"{'operation':<50} {'wall s':>8} {'MB/s':>8} {'peak RSS MB':>12}")
        for name, wall, peak in rows:
            print(f"{name:<50} {wall:>8.2f} {mb / wall:>8.0f} {peak:>12.0f}")
        print()
        print(f"push (cached) / curl upload throughput:   {curl_up / push_warm_s:6.0%}")
        print(f"push (cold)   / curl upload throughput:   {curl_up / push_cold_s:6.0%}")
        print(f"pull          / curl download throughput: {curl_down / pull_s:6.0%}")
        floor = max(curl_down, py_sha)
        print(f"pull time / max(curl download, python sha256): {pull_s / floor:5.2f}x (target <= 1.25x)")
        pais_peak = max(p for name, _, p in rows if name.startswith("pais push") or name.startswith("pais pull"))
        print(f"peak RSS of pais during transfers: {pais_peak:.0f} MB (target < 150 MB)")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
