"""``python -m benchmarks NAME [options]``: run one benchmark, print and save its results.

Every module of this package that defines ``BENCHMARK`` (a :class:`Benchmark`) is a
benchmark, so adding one needs no change here. Results go to ``results/NAME.json``
(``results/NAME-TAG.json`` with ``--tag TAG``; ``results/NAME-quick.json`` for ``--quick``).

Example::

    python -m benchmarks engine --quick
    python -m benchmarks accuracy --systems tiny.en-q8_0 fw:tiny.en:int8
    python -m benchmarks engine --tag threads2 --threads 2 --chunks 30
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import benchmarks
from benchmarks.harness import Benchmark, report


def discover() -> dict[str, Benchmark]:
    """The benchmarks of this package by name, from each module's ``BENCHMARK``."""
    found: dict[str, Benchmark] = {}
    for module in pkgutil.iter_modules(benchmarks.__path__):
        if module.name.startswith("_") or module.name == "harness":
            continue
        bench = getattr(importlib.import_module(f"benchmarks.{module.name}"), "BENCHMARK", None)
        if isinstance(bench, Benchmark):
            found[bench.name] = bench
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the named benchmark and report it; the exit status."""
    found = discover()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--tag", default=None, help="write results/NAME-TAG.json, keeping other runs' results"
    )
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Run a benchmark.")
    commands = parser.add_subparsers(dest="name", required=True, metavar="NAME")
    for bench in found.values():
        sub = commands.add_parser(
            bench.name, help=bench.description, description=bench.description, parents=[common]
        )
        bench.add_arguments(sub)
    args = parser.parse_args(argv)
    bench = found[args.name]
    rows = bench.run(args)
    params = {k: v for k, v in vars(args).items() if k != "name"}
    # A smoke run must not overwrite the results of a full one.
    tag = args.tag or ("quick" if params.get("quick") else None)
    filename = f"{bench.name}-{tag}.json" if tag else None
    report(bench, rows, params=params, filename=filename)
    return 0


if __name__ == "__main__":
    sys.exit(main())
