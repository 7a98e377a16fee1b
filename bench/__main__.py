"""Run a benchmark: `python -m bench NAME [args]`. Each prints its ratios against a baseline run in the same process."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.endswith("_bench"))
    if len(sys.argv) < 2 or sys.argv[1] not in {n.removesuffix("_bench") for n in names} | set(names):
        print("usage: python -m bench NAME [args]\navailable: " + ", ".join(n.removesuffix("_bench") for n in names))
        sys.exit(2)
    name = sys.argv[1] if sys.argv[1].endswith("_bench") else sys.argv[1] + "_bench"
    sys.argv = [name, *sys.argv[2:]]
    importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main()
