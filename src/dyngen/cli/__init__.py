"""The ``dyngen`` command. Each subcommand lives in its own module and only translates
arguments into library calls.

Errors: a ``DyngenError`` prints one line, ``error: ...``, and exits with 1 (a data
error) or 2 (a usage error); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from dyngen import __version__
from dyngen.errors import DyngenError


def add_common(p: argparse.ArgumentParser, *, device: bool = True, seed: bool = True) -> None:
    """Options every command shares."""
    if device:
        p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    if seed:
        p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same result")
    p.add_argument("--json", action="store_true", help="print one machine-readable summary line last")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")


def parse_size(text: str) -> int | tuple[int, int]:
    """``"64"`` -> 64, ``"48x64"`` -> (48, 64)."""
    try:
        if "x" in text.lower():
            h, w = text.lower().split("x")
            return (int(h), int(w))
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be S or HxW (for example 64 or 48x64), got '{text}'") from None


def emit(args: argparse.Namespace, summary: dict[str, Any], lines: Sequence[str]) -> None:
    """Tell the user what was written: human lines, then the JSON line with ``--json``."""
    if not args.quiet:
        for line in lines:
            print(line, file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(summary, default=str))


def _parser() -> argparse.ArgumentParser:
    from dyngen.cli import demo, evaluate, recover, report, synthesize, train

    parser = argparse.ArgumentParser(
        prog="dyngen",
        description="Dynamic generator models of video: learn, synthesize, recover, remove.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dyngen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (train, synthesize, demo, recover, evaluate, report):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except DyngenError as e:
        if getattr(args, "debug", False):
            raise
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        if getattr(args, "debug", False):
            raise
        print("error: out of memory; try a smaller --size, fewer --frames or a shorter --window", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
