"""``python -m benchmarks NAME [options]``: run one benchmark, print and save its results.

Example::

    python -m benchmarks engine --quick
    python -m benchmarks accuracy --systems tiny.en-q8_0 fw:tiny.en:int8
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from benchmarks import accuracy, engine, streaming
from benchmarks.harness import Benchmark, report

BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (engine.BENCHMARK, accuracy.BENCHMARK, streaming.BENCHMARK)}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the named benchmark and report it; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Run a benchmark.")
    commands = parser.add_subparsers(dest="name", required=True, metavar="NAME")
    for bench in BENCHMARKS.values():
        sub = commands.add_parser(bench.name, help=bench.description, description=bench.description)
        bench.add_arguments(sub)
    args = parser.parse_args(argv)
    bench = BENCHMARKS[args.name]
    rows = bench.run(args)
    report(bench, rows, params={k: v for k, v in vars(args).items() if k != "name"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
