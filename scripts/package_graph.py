#!/usr/bin/env python3
"""Print the import graph between pais_cli's packages (one line each: who imports whom, with
how many imports), then any cycle among them. Usage: python scripts/package_graph.py [ROOT]
where ROOT is a checkout (default: this one). Uses grimp, the graph library import-linter uses."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import grimp


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent).resolve()
    sys.path.insert(0, str(root))
    graph = grimp.build_graph("pais_cli", exclude_type_checking_imports=True)
    packages = sorted({m.split(".")[1] for m in graph.modules if m.count(".") >= 1})
    edges: dict[tuple[str, str], int] = {}
    for a, b in itertools.permutations(packages, 2):
        count = sum(1 for imp in graph.find_matching_direct_imports(import_expression=f"pais_cli.{a}.** -> pais_cli.{b}.**"))
        count += sum(1 for imp in graph.find_matching_direct_imports(import_expression=f"pais_cli.{a}.** -> pais_cli.{b}"))
        count += sum(1 for imp in graph.find_matching_direct_imports(import_expression=f"pais_cli.{a} -> pais_cli.{b}.**"))
        count += sum(1 for imp in graph.find_matching_direct_imports(import_expression=f"pais_cli.{a} -> pais_cli.{b}"))
        if count:
            edges[(a, b)] = count
    for a in packages:
        targets = [f"{b}({edges[(a, b)]})" for b in packages if (a, b) in edges]
        print(f"{a:<12} -> {', '.join(targets) or '-'}")
    cycles = sorted({tuple(sorted((a, b))) for (a, b) in edges if (b, a) in edges})
    print("cycles between packages: " + (", ".join(f"{a} <-> {b}" for a, b in cycles) if cycles else "none"))
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
