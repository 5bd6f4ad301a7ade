"""Configuration dataclasses from one source: each field carries its help text, its command-line flag and its
allowed range in its metadata (``option``).

From that one declaration come the ``config.json`` round trip (``to_dict`` / ``from_dict``, unknown keys
refused), the validation of every value (``check``, at construction), the command-line flags
(``dyngen.cli.options``) and the ``KEY=VALUE`` overrides of the benchmarks (``parse``). A new setting is one
field.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from dyngen.errors import UsageError

C = TypeVar("C", bound="DictConfig")


@dataclass(frozen=True)
class Range:
    """The numbers a setting allows: ``lo <= v`` (``lo < v`` when ``lo_open``), ``v < hi`` or ``v <= hi``.

    ``integer``: whole numbers only; ``off``: one more allowed value outside the range that turns the
    feature off; ``rule``: how a message says it (default: made from the bounds).
    """

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = True
    integer: bool = False
    off: float | None = None
    rule: str | None = None

    def allows(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        v = float(value)
        if self.off is not None and v == self.off:
            return True
        if math.isnan(v) or (self.integer and not v.is_integer()):
            return False
        above = v > self.lo if self.lo_open else v >= self.lo
        below = v < self.hi if self.hi_open else v <= self.hi
        return above and below and (math.isfinite(v) or not self.integer)

    def describe(self) -> str:
        if self.rule:
            return self.rule
        if self.off is not None:
            return f"{_num(self.off)} (off) or > {_num(self.lo)}"
        if self.integer:
            return f"an integer >= {_num(self.lo)}"
        if self.hi == math.inf and self.lo == 0:
            return "a positive finite number" if self.lo_open else "a finite number >= 0"
        left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
        return f"in {left}{_num(self.lo)}, {_num(self.hi)}{right}"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


POSITIVE_INT = Range(lo=1, integer=True)
NONNEGATIVE_INT = Range(lo=0, integer=True)
POSITIVE = Range(lo=0, lo_open=True)
NONNEGATIVE = Range(lo=0)
WIDTH = Range(lo=1, hi=4096, integer=True, hi_open=False, rule="an integer in [1, 4096]")  # a layer or latent size
SEED = Range(lo=0, hi=2**63, integer=True, rule="an integer in [0, 2^63)")


def option(
    default: Any,
    help: str,
    *,
    range: Range | None = None,
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None,
    flag: str | None = None,
    cli: bool = True,
    group: str | None = None,
) -> Any:
    """A dataclass field with its help text, allowed values and command-line flag.

    Args:
        default: the value when neither a preset nor the user gives one.
        help: one line for ``--help``.
        range: the allowed numbers (``Range``), checked at construction.
        choices: the allowed strings (or a function that lists them, for a registry that grows), checked at
            construction and offered by the command line.
        flag: the command-line flag (default: ``--`` and the name with dashes).
        cli: whether the commands offer it as a flag.
        group: the heading it is listed under in ``--help`` (default: its config's kind).
    """
    meta = {"help": help, "range": range, "choices": choices, "flag": flag, "cli": cli, "group": group}
    return field(default=default, metadata=meta)


def choices_of(f: Field) -> tuple[str, ...] | None:
    """The allowed strings of a config field, or None."""
    choices = f.metadata.get("choices")
    return choices() if callable(choices) else choices


def flag_of(f: Field) -> str:
    """The command-line flag of a config field."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _value_type(f: Field) -> type:
    """The type of a field's values: its default's, or for an optional field (None) the annotation's other type."""
    if f.default is not None and f.default is not MISSING:
        return type(f.default)
    annotation = str(f.type)
    return next((t for t in (int, float, str, bool) if t.__name__ in annotation), str)


class DictConfig:
    """Mixin for the config dataclasses: validation from field metadata, and plain dicts (config.json)."""

    kind: ClassVar[str] = "config"

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise UsageError for the first value outside its declared range or choices."""
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if value is None and f.default is None:  # an optional setting left to its default
                continue
            choices, allowed = choices_of(f), meta.get("range")
            if choices is not None and value not in choices:
                what = f.name.replace("_", " ")
                raise UsageError(f"unknown {what} {value!r}; allowed: {', '.join(choices)}")
            if allowed is not None and not allowed.allows(value):
                raise UsageError(f"{f.name} ({flag_of(f)}) must be {allowed.describe()}, got {value!r}")

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise UsageError(f"unknown {cls.kind} options {sorted(unknown)}; allowed: {sorted(names)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def parse(cls, key: str, text: str) -> Any:
        """``text`` as a value of option ``key``, typed like its default (booleans: 1/true or 0/false)."""
        f = next((f for f in fields(cls) if f.name == key), None)
        if f is None:
            raise UsageError(f"unknown {cls.kind} option '{key}'; allowed: {', '.join(x.name for x in fields(cls))}")
        kind = _value_type(f)
        if kind is bool:
            return text.lower() in ("1", "true")
        try:
            return kind(text)
        except ValueError:
            raise UsageError(f"{key}={text}: not a {kind.__name__}") from None
