"""What makes an epoch unusable: the numerical guards of training (``dyngen.runs.trainer`` acts on them).

``diagnose`` finds a non-finite loss, latent or weight, or a Langevin explosion (a latent above
``LATENT_LIMIT`` in magnitude; the prior is N(0, I)); ``spike`` finds a loss collapse against the
recent median (``--spike-factor``). Training rolls such an epoch back, halves the learning rate and the
Langevin step size, and tries again, up to ``MAX_RECOVERIES`` times.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

import torch
from torch import nn

from dyngen.algorithms.abptt import Chains
from dyngen.algorithms.langevin import LATENT_LIMIT

MAX_RECOVERIES = 5
SPIKE_HISTORY = (20, 50)  # a loss spike is judged against the median of the last 20 to 50 accepted epochs


def diagnose(loss: float, chains: Chains, model: nn.Module) -> str | None:
    """Why this epoch's state is unusable, or None when it is healthy."""
    if not math.isfinite(loss):
        return f"a non-finite loss ({loss})"
    for name, t in chains.tensors().items():
        if not t.numel():
            continue
        largest = float(t.abs().max())  # NaN or inf when any value is
        if not math.isfinite(largest):
            return f"non-finite latents ({name})"
        if largest > LATENT_LIMIT:
            return f"a Langevin explosion (max |{name}| = {largest:.3g} > {LATENT_LIMIT:g})"
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        return "non-finite weights"
    return None


def spike(loss: float, recent: Sequence[float], factor: float) -> str | None:
    """A loss spike: ``loss`` above ``factor`` times the median of the ``recent`` accepted epochs' losses.

    These networks can collapse without any non-finite value (docs/robustness.md measures how often, and what
    the guard does to quality, for better and worse).
    """
    if not factor or len(recent) < SPIKE_HISTORY[0]:
        return None
    ratio = loss / statistics.median(recent)
    if ratio <= factor:
        return None
    return f"a loss spike (loss {loss:.4g}, {ratio:.0f}x the median of the last {len(recent)} epochs)"
