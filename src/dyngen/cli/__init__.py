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
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

from dyngen import __version__
from dyngen.cli.options import SEEDS, number
from dyngen.errors import DyngenError, Interrupted, unexpected_message
from dyngen.errors import one_line as _one_line

MEMORY_HINT = "try a smaller --size, fewer --frames or a shorter --window"


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


def add_common(
    p: argparse.ArgumentParser, *, device: bool = True, seed: bool = True, memory_hint: str = MEMORY_HINT
) -> None:
    """Options every command shares; ``memory_hint``: what an out-of-memory error tells the user to shrink (the
    command's own options)."""
    if device:
        p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    if seed:
        p.add_argument("--seed", type=number(int, SEEDS), default=0,
                       help="random seed; the same seed gives the same result")  # fmt: skip
    p.set_defaults(memory_hint=memory_hint)
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


@contextlib.contextmanager
def progress_bar(quiet: bool, desc: str, unit: str = "step") -> Iterator[Callable[[int, int], None] | None]:
    """A tqdm bar fed with ``(done, total)`` (the total may change: a retry, a second phase); None with --quiet."""
    if quiet:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, dynamic_ncols=True, leave=False)

    def update(done: int, total: int) -> None:
        bar.total, bar.n = total, done
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


def emit(
    args: argparse.Namespace,
    summary: dict[str, Any],
    lines: Sequence[str],
    *,
    result: Sequence[str] = (),
    warnings: Sequence[str | None] = (),
) -> None:
    """Tell the user what was written: human lines (not with ``--quiet``), then ``result`` (the command's answer,
    such as evaluate's metrics: printed even with ``--quiet``), then the JSON line with ``--json``. ``warnings``
    (None entries skipped) go to stderr as ``warning: ...`` even with ``--quiet``, and into the JSON line."""
    out = sys.stderr if args.json else sys.stdout
    for line in [*([] if args.quiet else lines), *result]:
        print(line, file=out)
    warnings = [w for w in warnings if w]
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if warnings:
        summary = {**summary, "warnings": warnings}
    if args.json:
        print(json.dumps(summary, default=str))


def _parser() -> argparse.ArgumentParser:
    from dyngen.cli import (
        animate,
        demo,
        encode,
        evaluate,
        interpolate,
        presets,
        recover,
        report,
        studio,
        synthesize,
        train,
    )  # fmt: skip

    parser = _Parser(
        prog="dyngen",
        description="Dynamic generator models of video: learn, synthesize, recover, remove.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dyngen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (train, synthesize, demo, recover, evaluate, report, encode, interpolate, animate, presets, studio):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # a usage error (2, its line printed), --help or --version (0)
        return e.code if isinstance(e.code, int) else 2
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
        hint = getattr(args, "memory_hint", MEMORY_HINT)
        print(
            f"error: {unexpected_message(e, traceback_hint='--debug shows the traceback', memory_hint=hint)}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
