"""The shared behaviour of dyngen's configuration dataclasses: to and from plain dicts (config.json)."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, ClassVar, TypeVar

from dyngen.errors import UsageError

C = TypeVar("C", bound="DictConfig")


class DictConfig:
    """Mixin for dataclasses: ``from_dict`` refuses unknown keys, naming the allowed ones."""

    kind: ClassVar[str] = "config"

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise UsageError(f"unknown {cls.kind} options {sorted(unknown)}; allowed: {sorted(names)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def parse(self, key: str, text: str) -> Any:
        """``text`` as a value of option ``key``, typed like this config's value (booleans: 1 or true)."""
        kind = type(getattr(self, key))
        return text.lower() in ("1", "true") if kind is bool else kind(text)
