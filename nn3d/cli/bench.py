"""``nn3d bench SUITE``: the kernels, layout, render or record benchmark (each prints ratios to a baseline)."""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = ("kernels", "layout", "render", "record")


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="benchmarks: kernels, layout, render or record (each prints ratios to a baseline)")
    b.add_argument("suite", choices=BENCHMARKS, help="which benchmark; `nn3d bench SUITE --help` for its options")
    b.add_argument("options", nargs=argparse.REMAINDER, help="the suite's own options")


def run(args) -> int:
    importlib.import_module(f"nn3d.bench.{args.suite}").main(args.options)
    return 0
