"""Start-up time of the installed `pais`: median wall time of --version, --help and every
command's --help, as a CI job pays them. Bounds: 0.15 s for the first two, 0.2 s for the rest.

    PYTHONPATH=. .venv/bin/python scripts/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

PAIS = str(Path(sys.executable).parent / "pais")
COMMANDS = [
    ["--version"], ["--help"],
    ["models", "push", "--help"], ["models", "pull", "--help"], ["models", "list", "--help"],
    ["models", "validate", "--help"], ["models", "promote", "--help"], ["models", "inspect", "--help"],
    ["models", "delete", "--help"], ["models", "download", "--help"],
    ["gallery", "init", "--help"], ["gallery", "list", "--help"], ["gallery", "remove", "--help"],
    ["gallery", "gc", "--help"],
    ["endpoints", "deploy", "--help"], ["endpoints", "list", "--help"], ["endpoints", "delete", "--help"],
    ["login", "--help"], ["logout", "--help"], ["completion", "--help"],
]


def median_seconds(args: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([PAIS, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    subprocess.run([PAIS, "--version"], stdout=subprocess.DEVNULL, check=True)  # warm the bytecode cache
    over = 0
    print(f"{'command':<36} {'median s':>9} {'bound':>6}")
    for args in COMMANDS:
        bound = 0.15 if args in (["--version"], ["--help"]) else 0.2
        t = median_seconds(args, runs)
        over += t > bound
        print(f"pais {' '.join(args):<31} {t:>9.3f} {bound:>6.2f}{'  OVER' if t > bound else ''}")
    print(f"{runs} runs each; {over} over the bound")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
