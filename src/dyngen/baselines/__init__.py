"""Classic fills for recovery from incomplete data, the baselines for the dynamic generator.

Every fill has the signature ``fill(video, missing) -> video``: ``video`` is
``(T, 3, H, W)`` in [-1, 1], ``missing`` a bool ``(T, H, W)`` (True = hidden;
see :mod:`dyngen.io.masks`). The output keeps the visible pixels bit-exactly.

- ``interp``: linear interpolation in time per pixel (:mod:`.interp`);
- ``mrf-l2``: harmonic (Laplace) fill over the space-time grid (:mod:`.mrf`);
- ``mrf-l1``: total-variation fill over the space-time grid (:mod:`.mrf`);
- ``hold``: per pixel, the nearest visible value in time (:mod:`.interp`);
- ``median``: per pixel, the running median in time of its visible values (:mod:`.median`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dyngen.baselines import interp, median, mrf
from dyngen.errors import UsageError

Fill = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

BASELINES: dict[str, Fill] = {
    "interp": interp.fill,
    "mrf-l2": mrf.fill_l2,
    "mrf-l1": mrf.fill_l1,
    "hold": interp.hold,
    "median": median.fill,
}


def get_baseline(name: str) -> Fill:
    """The fill called ``name``; raises UsageError naming the allowed values."""
    try:
        return BASELINES[name]
    except KeyError:
        raise UsageError(f"unknown baseline {name!r}; allowed: {', '.join(BASELINES)}") from None
