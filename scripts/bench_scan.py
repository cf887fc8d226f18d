#!/usr/bin/env python3
"""ClamAV benchmark: one `clamdscan` stream, pais with one clamd limited to one scanning thread
(`MaxThreads 1`, standing in for one host) and with two such daemons (two hosts), in the same
run; then `validate` followed by `push` of the same model, to show the second scan's cost.

    python scripts/bench_scan.py [--size 512MiB] [--files 8]

The daemons load the tests' EICAR-only signatures with their own cache off (`DisableCache yes`),
so every run measures scanning. Shards stay under clamd's 100M stream limit, so clamdscan scans
each one whole and the comparison is fair. The machine's load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.bench_transfer import parse_size, run  # noqa: E402
from scripts.bench_validate import write_safetensors_shard  # noqa: E402
from tests.support.clamd import start_clamd  # noqa: E402

ONE_THREAD = {"DisableCache": "yes", "MaxThreads": "1"}


def malware(out: str) -> dict[str, object]:
    report = json.loads(out)
    report = report.get("report", report)
    return next(c for c in report["checks"] if c["name"] == "malware")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="512MiB")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    total = parse_size(args.size)
    work = Path(tempfile.mkdtemp(prefix="pais-bench-scan-", dir=args.workdir))
    pais = str(Path(sys.executable).parent / "pais")
    daemons = []
    try:
        daemons = [start_clamd(work / f"clamd-{n}", limits="100M", options=ONE_THREAD) for n in "ab"]
        a, b = daemons
        model = work / "model"
        model.mkdir()
        for i in range(args.files):
            write_safetensors_shard(model / f"model-{i + 1:05d}-of-{args.files:05d}.safetensors", total // args.files, i)
        (model / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}\n')
        files = sorted(str(p) for p in model.iterdir())
        env = {**os.environ, "PAIS_CACHE_DIR": str(work / "cache"), "PAIS_CONFIG": str(work / "config.toml"),
               "PAIS_SANDBOX": "none"}
        rows: list[tuple[str, float, str]] = []

        wall, _, _ = run([shutil.which("clamdscan") or "clamdscan", "-c", str(a.conf), "--no-summary", "--stream",
                          *files])
        rows.append(("clamdscan --stream, one stream", wall, ""))
        base = [pais, "models", "validate", str(model), "-o", "json", "--no-cache", "--skip", "serialization",
                "--skip", "format"]
        one_wall, _, out = run([*base, "--clamd", a.address], env)
        one = malware(out)
        rows.append(("pais validate, one clamd (MaxThreads 1)", one_wall,
                     f"malware {one['seconds']:.1f} s, {one['details']['mb_per_s']} MB/s"))
        two_wall, _, out = run([*base, "--clamd", a.address, "--clamd", b.address], env)
        two = malware(out)
        rows.append(("pais validate, two clamd (MaxThreads 1 each)", two_wall,
                     f"malware {two['seconds']:.1f} s, {two['details']['mb_per_s']} MB/s"))

        pool = ["--clamd", a.address, "--clamd", b.address]
        wall, _, out = run([pais, "models", "validate", str(model), "-o", "json", *pool], env)
        rows.append(("pais validate (result cache on, first time)", wall,
                     f"malware {malware(out)['seconds']:.1f} s"))
        wall, _, out = run([pais, "models", "push", str(model), "-s", str(work / "gallery"), "-m", "bench/scan",
                            "-t", "v1", "-o", "json", *pool], env)
        pushed = malware(out)
        rows.append(("pais push right after (validates again)", wall,
                     f"malware {pushed['seconds']:.2f} s, {len(pushed['details']['from_cache'])} of "
                     f"{pushed['details']['files']} files from the cache"))

        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\npais ClamAV benchmark: {total / 1024**3:.2f} GiB in {args.files} safetensors files, EICAR-only "
              f"signatures, clamd DisableCache, {os.cpu_count()} cores, load average {load}\n")
        print(f"{'operation':<48} {'wall s':>7} {'MB/s':>7}  note")
        for name, wall, note in rows:
            print(f"{name:<48} {wall:>7.2f} {total / 1e6 / wall:>7.0f}  {note}")
        print(f"\nmalware throughput, two one-thread daemons / one: {one['seconds'] / two['seconds']:.2f}x "
              f"(target >= 1.6x); whole command: {one_wall / two_wall:.2f}x")
    finally:
        for d in daemons:
            d.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
