#!/usr/bin/env python3
"""Interrupt and resume benchmark (issue 10): pais against a local CNCF distribution registry
behind the fault proxy (tests/support/faultproxy.py), throttled so a signal lands mid-blob.

    python scripts/bench_resume.py [--size 1GiB] [--files 4] [--rate 64MiB] [--jobs 4]

Measures
  (a) SIGINT to exit: a push and a pull on a throttled link, interrupted once 30% has moved;
      the time from the signal to the process's exit (target: under 1 s, exit code 130);
  (b) SIGKILL and SIGTERM at 50%: a push and a pull killed once half the bytes have moved, then
      re-run on an unthrottled link; the bytes the re-run moves as a share of the total (target:
      at most 60%), counted by the proxy (upload request bodies for push, blob response bodies
      for pull). SIGTERM stops a push between upload chunks, so its sessions stay valid; SIGKILL
      breaks the chunks in flight, and CNCF distribution 2.8 refuses those sessions afterwards
      (BLOB_UPLOAD_INVALID): the files in flight start over.

Transfer alone (`--skip-validation`); random, incompressible files. `--size` is the model's
total, split over `--files` files, so a CI-free run can use less (e.g. --size 64MiB).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.faultproxy import BLOB, UPLOAD, FaultProxy
from tests.support.models import write_random_file
from tests.support.registry import start_registry

MiB = 1024 * 1024
PAIS = Path(sys.executable).with_name("pais")


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]i?B?)?", text.strip(), re.IGNORECASE)
    if not m:
        raise SystemExit(f"bad size {text!r}; write e.g. 1GiB or 512MiB")
    unit = (m.group(2) or "B").upper()[0]
    return int(float(m.group(1)) * {"B": 1, "K": 1024, "M": MiB, "G": 1024 * MiB}[unit])


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


@dataclass
class Row:
    what: str
    value: str
    target: str
    ok: bool | None
    note: str = ""


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.registry = start_registry("plain", work / "registry")
        self.proxy = FaultProxy(self.registry.host)
        self.store = f"{self.proxy.host}/models"
        self.env = dict(os.environ, PAIS_CONFIG=str(work / "user/config.toml"), PAIS_DATA_DIR=str(work / "user/data"),
                        PAIS_CACHE_DIR=str(work / "user/cache"), DOCKER_CONFIG=str(work / "user/docker"),
                        PAIS_SANDBOX="none")
        self.model = work / "model"
        per = args.size // args.files
        for i in range(args.files):
            size = per if i < args.files - 1 else args.size - per * (args.files - 1)
            write_random_file(self.model / f"shard-{i}.bin", size, seed=i)
        (self.model / "config.json").write_text("{}\n")
        self.total = sum(p.stat().st_size for p in self.model.iterdir())
        self.rows: list[Row] = []
        self.common = ["--jobs", str(args.jobs), "--stall-timeout", "30"]

    def close(self) -> None:
        self.proxy.stop()
        self.registry.stop()

    # -- plumbing --------------------------------------------------------------------------
    def spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen([str(PAIS), *args], cwd=self.work, env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def run(self, args: list[str]) -> tuple[int, str, float]:
        start = time.monotonic()
        p = subprocess.run([str(PAIS), *args], cwd=self.work, env=self.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=3600, check=False)
        return p.returncode, p.stderr.decode(errors="replace"), time.monotonic() - start

    def push_args(self, name: str) -> list[str]:
        return ["models", "push", str(self.model), "-m", name, "-s", self.store, "-t", "v1", "--skip-validation",
                "--chunk-size", self.args.chunk_size, *self.common]

    def pull_args(self, name: str, dest: Path) -> list[str]:
        return ["models", "pull", "-m", name, "-s", self.store, "-t", "v1", "--dest", str(dest), *self.common]

    def moved(self, op: str) -> int:
        return self.proxy.bytes_received("upload") if op == "push" else self.proxy.bytes_sent("blob")

    def throttle(self, op: str) -> None:
        if op == "push":
            self.proxy.throttle(self.args.rate, method="PATCH|PUT", path=UPLOAD, direction="request")
        else:
            self.proxy.throttle(self.args.rate, method="GET", path=BLOB)

    def ensure_pushed(self, name: str) -> None:
        self.proxy.clear()
        rc, err, _ = self.run(self.push_args(name))
        if rc != 0:
            raise SystemExit(f"setup push failed:\n{err}")

    def interrupt_at(self, op: str, args: list[str], share: float, sig: signal.Signals) -> tuple[int, float, int, str]:
        """Start, wait until `share` of the bytes moved, send `sig`; (exit code, seconds from the
        signal to exit, bytes moved before the signal, stderr)."""
        self.proxy.reset_counters()
        self.throttle(op)
        proc = self.spawn(args)
        err: list[bytes] = []
        reader = threading.Thread(target=lambda: err.append(proc.stderr.read() if proc.stderr else b""), daemon=True)
        reader.start()
        while self.moved(op) < share * self.total:
            if proc.poll() is not None:
                reader.join(5)
                raise SystemExit(f"{op} ended before {share:.0%} moved (exit {proc.returncode}):\n"
                                 f"{b''.join(err).decode(errors='replace')[-2000:]}")
            time.sleep(0.005)
        before = self.moved(op)
        sent = time.monotonic()
        proc.send_signal(sig)
        rc = proc.wait()
        took = time.monotonic() - sent
        reader.join(5)
        self.proxy.clear()
        return rc, took, before, b"".join(err).decode(errors="replace")

    # -- measurements ----------------------------------------------------------------------
    def sigint(self, op: str) -> None:
        name = f"bench/sigint-{op}"
        dest = self.work / f"dest-sigint-{op}"
        if op == "pull":
            self.ensure_pushed(name)
        args = self.push_args(name) if op == "push" else self.pull_args(name, dest)
        rc, took, before, err = self.interrupt_at(op, args, 0.3, signal.SIGINT)
        line = next((ln for ln in err.splitlines() if ln.lower().startswith("interrupted")), "")
        self.rows.append(Row(f"{op}: SIGINT to exit", f"{took:.2f} s (exit {rc})", "< 1 s, exit 130",
                             took < 1.0 and rc == 130, line[:70] or "no 'interrupted' line"))
        start = self.moved(op)
        rc2, err2, secs = self.run(args)
        again = self.moved(op) - start
        self.rows.append(Row(f"{op}: re-run after SIGINT", f"{human(again)} moved, {secs:.1f} s (exit {rc2})",
                             f"<= {human(self.total - before)} missing", rc2 == 0 and again <= self.total - before + 4 * MiB,
                             err2.strip().splitlines()[-1][:70] if rc2 and err2.strip() else ""))

    def sigkill(self, op: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """Killed at 50%: SIGKILL (OOM killer, node loss) or SIGTERM (`kill`, a cancelled CI job)."""
        name = f"bench/{sig.name.lower()}-{op}"
        dest = self.work / f"dest-{sig.name.lower()}-{op}"
        if op == "pull":
            self.ensure_pushed(name)
        args = self.push_args(name) if op == "push" else self.pull_args(name, dest)
        _, _, before, _ = self.interrupt_at(op, args, 0.5, sig)
        first = self.moved(op)
        start = time.monotonic()
        rc2, err2, _ = self.run(args)
        secs = time.monotonic() - start
        again = self.moved(op) - first
        share = again / self.total
        self.rows.append(Row(f"{op}: {sig.name} at {before / self.total:.0%}, re-run", f"{human(again)} = {share:.0%} of "
                             f"{human(self.total)}, {secs:.1f} s (exit {rc2})", "<= 60%", rc2 == 0 and share <= 0.6,
                             err2.strip().splitlines()[-1][:70] if rc2 and err2.strip() else ""))
        if op == "pull" and rc2 == 0:
            bad = [p.name for p in self.model.iterdir() if not _same(p, dest / p.name)]
            if bad:
                self.rows.append(Row(f"{op}: files after the re-run", f"{len(bad)} differ", "0", False, ", ".join(bad)))

    def table(self) -> str:
        head = ("measurement", "result", "target", "ok")
        rows = [(r.what, r.value, r.target, {True: "yes", False: "NO", None: "-"}[r.ok]) for r in self.rows]
        widths = [max(len(x[i]) for x in [head, *rows]) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
        notes = [f"  {r.what}: {r.note}" for r in self.rows if r.note]
        return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def _same(a: Path, b: Path) -> bool:
    if not b.is_file() or a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(8 * MiB), fb.read(8 * MiB)
            if x != y:
                return False
            if not x:
                return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1GiB", help="model size (default 1GiB)")
    parser.add_argument("--files", type=int, default=4, help="files the size is split over (default 4)")
    parser.add_argument("--rate", default=None, help="throttle while interrupting, per second (default: size/8 per s, at least 4MiB)")
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--chunk-size", default="8MiB", help="push --chunk-size (default 8MiB)")
    parser.add_argument("--only", choices=["sigint", "sigkill", "sigterm"], default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    args.size = parse_size(args.size)
    args.rate = parse_size(args.rate) if args.rate else max(4 * MiB, args.size // 8)
    work = Path(tempfile.mkdtemp(prefix="pais-bench-resume-"))
    print(f"work dir {work}; model {human(args.size)} in {args.files} files; throttle {human(args.rate)}/s; "
          f"-j {args.jobs}; push chunk {args.chunk_size}", flush=True)
    bench = Bench(args, work)
    try:
        for op in ("push", "pull"):
            if args.only in (None, "sigint"):
                bench.sigint(op)
                print(f"  sigint {op} done", flush=True)
            if args.only in (None, "sigkill"):
                bench.sigkill(op)
                print(f"  sigkill {op} done", flush=True)
            if args.only in (None, "sigterm"):
                bench.sigkill(op, signal.SIGTERM)
                print(f"  sigterm {op} done", flush=True)
    finally:
        bench.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(bench.table())
    return 0 if all(r.ok is not False for r in bench.rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
