"""Command-line flags made from the config dataclasses' field metadata (``dyngen.config.option``).

Every field with ``cli=True`` becomes a flag with its help text, its choices and its type; a flag left out
stays None, so the preset (or the dataclass default) decides. ``--help`` shows the value the command's default
preset gives each one; ``dyngen presets NAME`` shows any preset's.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from dyngen.config import _value_type, choices_of, flag_of

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
    flags: dict[str, str] | None = None,
) -> None:
    """Add a flag for every command-line field of the config dataclass ``cls``.

    Args:
        p: the parser.
        cls: a ``DictConfig`` dataclass.
        defaults: the values the command starts from (a preset's), shown in the help; fields not in it show
            the dataclass default.
        source: what ``defaults`` are called in the help ("cpu-texture", "default").
        flags: ``{field: flag}`` to rename a flag for this command.
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
        flag = (flags or {}).get(f.name) or flag_of(f)
        kind = _value_type(f)
        if kind is bool:
            groups[title].add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                       help=text)  # fmt: skip
        else:
            choices = choices_of(f)
            groups[title].add_argument(flag, dest=f.name, type=kind, default=None, choices=choices,
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
