"""Metric tables: several synthesized videos scored against one observed video, beside the reference points.

A table is ``{column name: {metric key: value}}``: one column per synthesized video (``evaluate``) and the two
columns of ``reference_points`` ("observed vs itself", "static"), which say what a perfect and a frozen synthesis
score on the same scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from dyngen.evaluation.metrics import DESCRIPTIONS, Video, evaluate, reference_points

Table = dict[str, dict[str, float]]
# The metrics shown in tables, in this order (motion_energy_observed is shown once, in the header).
TABLE_KEYS = (
    "appearance_distance",
    "dynamics_distance",
    "motion_energy",
    "motion_ratio",
    "motion_drift",
    "temporal_spectrum_distance",
    "copying",
)


def compare(synthesized: Mapping[str, Video], observed: Video, *, seed: int = 0, references: bool = True) -> Table:
    """Evaluate each synthesized video against ``observed``, and add the reference points.

    Args:
        synthesized: ``{name: video (T_s, 3, H, W) or uint8 (T_s, H, W, 3)}``, each at the observed frame size.
        observed: the observed video ``(T, 3, H, W)`` or uint8 ``(T, H, W, 3)``, ``T >= 4`` with references.
        seed: the seed of the patch sampling (the same for every column).
        references: add the "observed vs itself" and "static" columns.

    Returns:
        ``{column: {metric: value}}`` with the keys of :func:`dyngen.evaluation.metrics.evaluate`.
    """
    table = {name: evaluate(v, observed, seed=seed) for name, v in synthesized.items()}
    if references:
        table.update(reference_points(observed, seed=seed))
    return table


def format_value(value: float) -> str:
    """A number for a table: 3 decimals, 1 from 100 up, ``n/a`` for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3f}"


def format_table(table: Table, *, keys: Sequence[str] = TABLE_KEYS, describe: bool = True) -> list[str]:
    """Lines of a plain-text table: one row per metric, one column per entry of ``table``.

    Args:
        table: ``{column: {metric: value}}``.
        keys: the metrics (rows) to show.
        describe: append each metric's one-sentence description.
    """
    names = list(table)
    width = max(len(k) for k in keys)
    cols = [max(9, len(n)) for n in names]
    lines = ["  ".join([f"{'metric':<{width}}", *(f"{n:>{c}}" for n, c in zip(names, cols))])]
    for k in keys:
        cells = [f"{format_value(table[n].get(k, math.nan)):>{c}}" for n, c in zip(names, cols)]
        row = "  ".join([f"{k:<{width}}", *cells])
        lines.append(f"{row}  {DESCRIPTIONS[k]}" if describe else row)
    return lines


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None, so that it is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


VERDICT_KEYS = {  # the measures of the verdict, and their names in it
    "appearance_distance": "appearance",
    "dynamics_distance": "dynamics",
    "motion_ratio": "motion",
    "motion_drift": "drift",
    "temporal_spectrum_distance": "spectrum",
    "copying": "copying",
}


IDEAL = {"motion_ratio": 1.0, "motion_drift": 1.0}  # measures whose best value is known, not the clip's


def verdicts(table: Table, models: Sequence[str], *, clip: str = "observed vs itself", frozen: str = "static") -> dict:
    """One line per model: on which measures it scores closest to the clip, and who is closer on the others.

    "Closest to the clip" is nearest to what the clip scores against itself (``clip``, its first half against its
    second): a distance near its floor, copying near the clip's own (not near 0, which is a replay); the motion
    ratio and the drift are nearest to 1 (the clip's motion; stationary), their values by definition. The frozen
    video (``frozen``) competes too: a model that a repeated first frame beats on a measure is told so.

    Returns:
        ``{model: line}``.
    """
    rivals = [*models, frozen] if frozen in table else list(models)
    best: dict[str, str] = {}
    for key in VERDICT_KEYS:
        target = IDEAL.get(key, table[clip].get(key, math.nan))
        gaps = {m: abs(table[m].get(key, math.nan) - target) for m in rivals}
        finite = {m: g for m, g in gaps.items() if math.isfinite(g)}
        if finite:
            best[key] = min(finite, key=finite.get)
    lines = {}
    for m in models:
        wins = [VERDICT_KEYS[k] for k, w in best.items() if w == m]
        text = f"{m}: closest to the clip on {', '.join(wins) or 'no measure'} ({len(wins)} of {len(best)})"
        for other in (r for r in rivals if r != m):
            theirs = [VERDICT_KEYS[k] for k, w in best.items() if w == other]
            if theirs:
                name = "a frozen first frame" if other == frozen else other
                text += f"; {name} closer on {', '.join(theirs)}"
        lines[m] = text
    return lines
