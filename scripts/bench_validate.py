#!/usr/bin/env python3
"""Validation benchmark: `pais models validate` over a generated safetensors model, next to
`sha256sum` and `clamdscan` of the same files, in the same run; then one weight file larger
than anything clamd takes in one stream (default 3 GiB), to show that it is scanned whole.

    python scripts/bench_validate.py [--size 2GiB] [--files 4] [--big 3GiB] [--limit 100M]

clamd runs with the tests' EICAR-only signatures (no real database can be downloaded here)
and Debian-like limits (--limit, default 100M for StreamMaxLength, MaxFileSize, MaxScanSize),
its result cache off so repeated runs measure scanning, not the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.bench_transfer import parse_size, run  # noqa: E402
from tests.support.clamd import start_clamd  # noqa: E402
from tests.support.models import write_random_file  # noqa: E402


def write_safetensors_shard(path: Path, size: int, seed: int) -> None:
    """A valid safetensors file of about `size` bytes: one U8 tensor of random bytes."""
    header = b""
    n = size
    for _ in range(3):  # the header's own length depends on n; settle it
        header = json.dumps({"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
        header += b" " * (-len(header) % 8)
        n = size - 8 - len(header)
    write_random_file(path.with_suffix(".tmp"), n, seed)
    with path.open("wb") as out, path.with_suffix(".tmp").open("rb") as data:
        out.write(struct.pack("<Q", len(header)) + header)
        shutil.copyfileobj(data, out, 8 * 1024 * 1024)
    path.with_suffix(".tmp").unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="2GiB")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--big", default="3GiB", help="size of the single large weight file (0 to skip)")
    parser.add_argument("--limit", default="100M", help="clamd StreamMaxLength/MaxFileSize/MaxScanSize")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    total, big = parse_size(args.size), parse_size(args.big)
    work = Path(tempfile.mkdtemp(prefix="pais-bench-validate-", dir=args.workdir))
    pais = str(Path(sys.executable).parent / "pais")
    clamd = None
    try:
        clamd = start_clamd(work / "clamd", limits=args.limit, options={"DisableCache": "yes", "MaxThreads": "4"})
        env = {**os.environ, "PAIS_CLAMD": clamd.address, "PAIS_CLAMD_CONF": str(clamd.conf),
               "PAIS_CACHE_DIR": str(work / "cache"),
               # The weights are random bytes, not a loadable model: the smoke test has its own
               # tests; this measures the security checks over large files.
               "PAIS_SANDBOX": "none"}
        model = work / "model"
        model.mkdir()
        files = []
        for i in range(args.files):
            path = model / f"model-{i + 1:05d}-of-{args.files:05d}.safetensors"
            write_safetensors_shard(path, total // args.files, seed=i)
            files.append(path)
        (model / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}\n')
        rows = []
        wall, peak, _ = run(["sha256sum", *map(str, files)])
        rows.append(("sha256sum (one file after another)", wall, peak, total))
        clamdscan = shutil.which("clamdscan")
        if clamdscan:
            wall, peak, _ = run([clamdscan, "-c", str(clamd.conf), "--no-summary", "--stream", *map(str, files)])
            rows.append((f"clamdscan --stream (stops at StreamMaxLength {args.limit}!)", wall, peak, total))
            # What clamdscan really scanned: each file up to the stream limit, the rest unseen.
            limit = parse_size(args.limit.replace("M", "MiB") if args.limit.endswith("M") else args.limit)
            seen = sum(min(f.stat().st_size, limit) for f in files)
            rows.append((f"  clamdscan, the bytes it actually scanned ({seen / 1e6:.0f} MB)", wall, peak, seen))
        wall, peak, out = run([pais, "models", "validate", str(model), "-o", "json"], env)
        report = json.loads(out)
        rows.append(("pais models validate, cold digest cache", wall, peak, total))
        malware = next(c for c in report["checks"] if c["name"] == "malware")
        wall, peak, _ = run([pais, "models", "validate", str(model), "-o", "json"], env)
        rows.append(("pais models validate, digests cached", wall, peak, total))
        print(f"\npais validation benchmark: {total / 1024**3:.2f} GiB of safetensors in {args.files} files, "
              f"clamd limits {args.limit}, EICAR-only signatures, {os.cpu_count()} cores\n")
        print(f"{'operation':<58} {'wall s':>7} {'MB/s':>7} {'peak RSS MB':>12}")
        for name, wall, peak, size in rows:
            print(f"{name:<58} {wall:>7.2f} {size / 1e6 / wall:>7.0f} {peak:>12.0f}")
        print(f"\nverdict {report['verdict']}; per check (s): "
              + ", ".join(f"{c['name']} {c['seconds']:.1f}" for c in report["checks"]))
        d = malware["details"]
        print(f"malware: window {d.get('window')} bytes ({d.get('window_source')}), {d.get('windows')} windows, "
              f"{d.get('bytes_scanned')} of {d.get('bytes')} bytes scanned, {d.get('mb_per_s')} MB/s in clamd")
        shutil.rmtree(model)
        if big:
            single = work / "single"
            single.mkdir()
            write_safetensors_shard(single / "model.safetensors", big, seed=99)
            wall, peak, out = run([pais, "models", "validate", str(single), "-o", "json"], env)
            d = next(c for c in json.loads(out)["checks"] if c["name"] == "malware")["details"]
            print(f"\none {big / 1024**3:.2f} GiB weight file: validate {wall:.1f} s, {big / 1e6 / wall:.0f} MB/s, "
                  f"peak RSS {peak:.0f} MB; malware scanned {d.get('bytes_scanned')} of {d.get('bytes')} bytes "
                  f"in {d.get('windows')} windows of {d.get('window')} (whole file: "
                  f"{d.get('bytes_scanned') == d.get('bytes')})")
    finally:
        if clamd is not None:
            clamd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
