"""``dyngen presets``: the named settings (``dyngen.presets``), and every value one of them gives."""

from __future__ import annotations

import argparse
from dataclasses import fields

from dyngen.cli import HelpFormatter, add_common, emit


def _value(v: object) -> str:
    return "on" if v is True else "off" if v is False else str(v)


def describe(name: str) -> tuple[list[str], dict]:
    """The lines and the JSON summary of one preset: every setting, its flag and value; ``*`` marks the values
    the preset sets (the others are the defaults)."""
    from dyngen.config import flag_of
    from dyngen.presets import ABOUT, config_classes, get_preset, resolve_config

    preset, cfg = get_preset(name), resolve_config(name)
    data = cfg.data
    size = data["size"] if isinstance(data["size"], int) else "x".join(map(str, data["size"]))
    lines = [f"{name}: {ABOUT.get(name, '')}", "", "data", f"  {'--size':<28} {size} *", f"  {'--frames':<28} "
             f"{data['frames']} *"]  # fmt: skip
    for group, cls in config_classes().items():
        lines += ["", cls.kind]
        values = getattr(cfg, group)
        for f in fields(cls):
            if f.name in ("height", "width"):
                continue  # --size
            shown = flag_of(f) if f.metadata.get("cli", True) else f"({f.name}: no flag)"
            mark = " *" if f.name in preset[group] else ""
            lines.append(f"  {shown:<28} {_value(getattr(values, f.name))}{mark}")
    lines += [
        "",
        "* set by the preset; the others are the defaults. Any of them can be overridden on the command line.",
    ]
    return lines, {"name": name, "about": ABOUT.get(name, ""), **cfg.to_dict()}


def command(args: argparse.Namespace) -> int:
    from dyngen.presets import ABOUT, PRESETS

    if args.name is None:
        width = max(map(len, PRESETS))
        lines = [f"{n:<{width}}  {ABOUT.get(n, '')}" for n in PRESETS]
        lines += ["", "every value of one: dyngen presets NAME"]
        emit(args, {"presets": {n: ABOUT.get(n, "") for n in PRESETS}}, [], result=lines)
        return 0
    lines, summary = describe(args.name)
    emit(args, summary, [], result=lines)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "presets",
        help="list the presets, or show every value of one (dyngen presets NAME)",
        description="The named settings that train, recover, remove and demo start from (--preset NAME). "
        "Without NAME: one line each. With NAME: every model, training and data setting it gives, with its flag.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("name", nargs="?", default=None, help="a preset to show in full")
    add_common(p, device=False, seed=False)
    p.set_defaults(func=command)
