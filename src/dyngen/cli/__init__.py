"""The ``dyngen`` command. Each subcommand lives in its own module and only translates
arguments into library calls.

Exit codes: 0 success; 1 a data or environment error (``DyngenError``: an unreadable
video, a full disk, too little memory, training that diverged); 2 a usage error
(``UsageError`` or a bad command line); 130 stopped by Ctrl-C (143 by SIGTERM) after
saving a checkpoint. Every error prints one line, ``error: ...``, and never a
traceback, unless ``--debug`` is given; an unexpected exception is reported as a bug.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from dyngen import __version__
from dyngen.errors import DyngenError, Interrupted, unexpected_message
from dyngen.errors import one_line as _one_line


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it is None or the help text already tells it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def parse_seed(text: str) -> int:
    """A seed: an integer in [0, 2^63)."""
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed < 2**63:
        raise argparse.ArgumentTypeError(f"the seed must be an integer in [0, 2^63), got '{text}'")
    return seed


def add_common(p: argparse.ArgumentParser, *, device: bool = True, seed: bool = True) -> None:
    """Options every command shares."""
    if device:
        p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    if seed:
        p.add_argument("--seed", type=parse_seed, default=0, help="random seed; the same seed gives the same result")
    p.add_argument("--json", action="store_true", help="print one machine-readable summary line last")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--quiet", action="store_true", help="no progress bar or log lines")


def add_noise_option(p: argparse.ArgumentParser) -> None:
    """``--noise``: the distribution of fresh innovations (``dyngen.models.innovations``; its choices, kept here so
    that parsing the command line does not import torch)."""
    p.add_argument(
        "--noise", choices=["posterior", "prior"], default="posterior",
        help="where fresh innovations xi are drawn from: posterior (a Gaussian fitted to the training videos' "
        "inferred innovations) or prior (N(0, I), the paper's synthesis)",
    )  # fmt: skip


def parse_size(text: str) -> int | tuple[int, int]:
    """``"64"`` -> 64, ``"48x64"`` -> (48, 64)."""
    try:
        if "x" in text.lower():
            h, w = text.lower().split("x")
            size: int | tuple[int, int] = (int(h), int(w))
        else:
            size = int(text)
    except ValueError:
        size = 0
    if min(size if isinstance(size, tuple) else (size,)) < 1:
        raise argparse.ArgumentTypeError(f"size must be S or HxW, positive (for example 64 or 48x64), got '{text}'")
    return size


def emit(args: argparse.Namespace, summary: dict[str, Any], lines: Sequence[str]) -> None:
    """Tell the user what was written: human lines, then the JSON line with ``--json``."""
    if not args.quiet:
        for line in lines:
            print(line, file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(summary, default=str))


def _parser() -> argparse.ArgumentParser:
    from dyngen.cli import animate, demo, encode, evaluate, interpolate, recover, report, studio, synthesize, train

    parser = _Parser(
        prog="dyngen",
        description="Dynamic generator models of video: learn, synthesize, recover, remove.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dyngen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (train, synthesize, demo, recover, evaluate, report, encode, interpolate, animate, studio):
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
    debug = getattr(args, "debug", False)
    try:
        return int(args.func(args) or 0)
    except Interrupted as e:
        print(_one_line(str(e)), file=sys.stderr)
        return e.exit_code
    except DyngenError as e:
        if debug:
            raise
        print(f"error: {_one_line(str(e))}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if debug:
            raise
        print(f"error: {unexpected_message(e, traceback_hint='--debug shows the traceback')}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
