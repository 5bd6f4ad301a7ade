"""Command-line flags, each with its allowed values declared once and checked while the command line is parsed,
before any work.

- Config fields (``dyngen.config.option``): every field with ``cli=True`` becomes a flag with its help text, its
  choices, its type and its ``Range``; a flag left out stays None, so the preset (or the dataclass default)
  decides. ``--help`` shows the value the command's default preset gives each one; ``dyngen presets NAME`` shows
  any preset's.
- The other numbers (``--frames``, ``--fps``, ``--noise-scale``, ``--num``, ...) take ``type=number(kind, RANGE)``
  with one of the ranges below; paths take ``type=path``, which refuses an empty string (it would mean the
  current folder). ``tests/test_fuzz_cli.py`` fails on a numeric option without a declared range.
- ``deprecated``: an old spelling of a renamed flag, kept for one release with a warning.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from dyngen.config import (
    NONNEGATIVE,
    NONNEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    SEED,
    Range,
    _value_type,
    choices_of,
    flag_of,
)

log = logging.getLogger("dyngen.cli")

# the ranges of the options that are not config fields
FRAMES = Range(lo=1, hi=10**8, integer=True, hi_open=False, rule="an integer in [1, 10^8]")  # a frame count
FRAME_INDEX = NONNEGATIVE_INT  # a first frame, a sample index
COUNT = POSITIVE_INT  # videos, samples, rows of a grid
FRAME_RATE = Range(lo=0, hi=1000, lo_open=True, hi_open=False, rule="a frame rate in (0, 1000]")
MINUTES = POSITIVE
NOISE_SCALE = NONNEGATIVE
ROWS = Range(lo=2, integer=True)  # rho values of an interpolation
SCALE = Range(lo=1, hi=32, integer=True, hi_open=False, rule="an integer in [1, 32]")  # output upscaling
SEEDS = SEED  # --seed
SIDE = Range(lo=1, hi=4096, integer=True, hi_open=False, rule="in [1, 4096]")  # a frame side in pixels


def number(kind: type, allowed: Range) -> Callable[[str], Any]:
    """An argparse ``type``: the text as ``kind`` (int or float), refused unless ``allowed`` allows it."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {allowed.describe()}, got '{text}' ({'not an integer' if kind is int else 'not a number'})"
            ) from None
        if not allowed.allows(value):
            raise argparse.ArgumentTypeError(f"must be {allowed.describe()}, got '{text}'")
        return value

    parse.range = allowed  # type: ignore[attr-defined]  # what the fuzz test and --help read
    parse.__name__ = kind.__name__
    return parse


def path(text: str) -> str:
    """An argparse ``type`` for a file or folder: any text but an empty one (which would mean '.')."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a file or folder name")
    return text


def parse_size(text: str) -> int | tuple[int, int]:
    """``"64"`` -> 64, ``"48x64"`` -> (48, 64); each side in ``SIDE``."""
    try:
        if "x" in text.lower():
            h, w = text.lower().split("x")
            size: int | tuple[int, int] = (int(h), int(w))
        else:
            size = int(text)
    except ValueError:
        size = 0
    if not all(SIDE.allows(v) for v in (size if isinstance(size, tuple) else (size,))):
        raise argparse.ArgumentTypeError(
            f"size must be S or HxW with sides {SIDE.describe()} (for example 64 or 48x64), got '{text}'"
        )
    return size


parse_size.range = SIDE  # type: ignore[attr-defined]


def add_scale_options(p: argparse.ArgumentParser) -> None:
    """``--scale K`` and ``--scale-filter``: enlarge the .mp4, .gif and PNG outputs (``dyngen.io.video.upscale``)."""
    g = p.add_argument_group("output size")
    g.add_argument("--scale", type=number(int, SCALE), default=1,
                   help="enlarge the frames of .mp4, .gif and PNG outputs K times per side (.npy keeps the model's "
                   "size)")  # fmt: skip
    g.add_argument("--scale-filter", choices=["nearest", "bicubic"], default="nearest",
                   help="how --scale enlarges: nearest (each pixel a KxK block) or bicubic (smooth)")  # fmt: skip


def add_crop_option(p: argparse.ArgumentParser, default: str | None = "none") -> None:
    """``--crop none|center``: how frames of another aspect ratio than the model's are brought to its size
    (``default`` None: as the run's training frames were)."""
    from dyngen.io.resize import CROPS

    shown = default or "as the run's training frames"
    p.add_argument("--crop", choices=CROPS, default=default,
                   help="frames of another aspect ratio: none resizes them (the aspect changes; the paper's way), "
                   f"center cuts their centred window of the model's aspect first (default: {shown})")  # fmt: skip


def scaling(args: argparse.Namespace) -> dict[str, Any]:
    """The ``scale`` and ``scale_filter`` keywords of ``write_video`` from the command line."""
    return {"scale": args.scale, "scale_filter": args.scale_filter}


class _Deprecated(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None) -> None:
        log.warning("%s is deprecated; use %s (the old spelling works until the next release)", option_string,
                    self.metavar)  # fmt: skip
        setattr(namespace, self.dest, values if self.nargs != 0 else self.const)


def deprecated(p: argparse.ArgumentParser, old: str, new: str, dest: str, **kw: Any) -> None:
    """Accept ``old`` as a hidden spelling of ``new`` (same ``dest``, same type), with a deprecation warning."""
    p.add_argument(old, dest=dest, action=_Deprecated, metavar=new, help=argparse.SUPPRESS, default=None, **kw)


GROUP_TITLES = {
    "model": "model (the transition, the emission and their sizes)",
    "training": "training (ABPTT)",
    "inference": "inference (Langevin with the model frozen)",
    "speed": "speed switches (the same result; docs/performance.md)",
    "warp emission": "warp emission (--emission warp; docs/warp.md)",
}


def _cli_fields(cls: type) -> list:
    return [f for f in fields(cls) if f.metadata.get("cli", True) and "help" in f.metadata]


def add_config_options(
    p: argparse.ArgumentParser,
    cls: type,
    *,
    defaults: dict[str, Any] | None = None,
    source: str = "default",
) -> None:
    """Add a flag for every command-line field of the config dataclass ``cls``.

    Args:
        p: the parser.
        cls: a ``DictConfig`` dataclass.
        defaults: the values the command starts from (a preset's), shown in the help; fields not in it show
            the dataclass default.
        source: what ``defaults`` are called in the help ("cpu-texture", "default").
    """
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in _cli_fields(cls):
        meta = f.metadata
        title = meta.get("group") or cls.kind
        if title not in groups:
            groups[title] = p.add_argument_group(GROUP_TITLES.get(title, title))
        value = (defaults or {}).get(f.name, f.default)
        shown = "off" if value is False else "on" if value is True else value
        text = f"{meta['help']} ({source}: {shown})"
        flag = flag_of(f)
        kind = _value_type(f)
        if kind is bool:
            groups[title].add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                       help=text)  # fmt: skip
        else:
            choices, allowed = choices_of(f), meta.get("range")
            parse = number(kind, allowed) if allowed is not None and kind in (int, float) else kind
            groups[title].add_argument(flag, dest=f.name, type=parse, default=None, choices=choices,
                                       metavar=None if choices else kind.__name__.upper(), help=text)  # fmt: skip


def config_overrides(args: argparse.Namespace, *classes: type) -> dict[str, Any]:
    """``{field: value}`` of the flags of ``classes`` given on the command line."""
    out = {}
    for cls in classes:
        for f in _cli_fields(cls):
            value = getattr(args, f.name, None)
            if value is not None:
                out[f.name] = value
    return out
