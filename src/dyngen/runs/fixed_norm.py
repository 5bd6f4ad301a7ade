"""BatchNorm's fixed statistics: set them after learning, and measure what they cost.

Learning normalises each window with its own batch statistics (the paper's
BatchNorm); synthesis renders with fixed statistics, so that a synthesized
frame depends on its own latents only (PAPER.md section 4, item 3). The
fixed statistics are the average over all training windows
(``recalibrate_norm``, run at every checkpoint). ``fixed_norm_psnr`` is the
reconstruction PSNR as synthesis renders, reported next to the training PSNR
in a run's summary: with one window per video the two agree; with several
windows they can part (README, "Where dyngen departs").
"""

from __future__ import annotations

import torch
from torch import nn

from dyngen.algorithms.abptt import Chains, windows
from dyngen.evaluation.fidelity import psnr_from_mse
from dyngen.io.masks import observed_weights
from dyngen.io.video import to_tensor
from dyngen.models.dynamic_generator import DynamicGenerator
from dyngen.runs.checkpoint import Trained


@torch.no_grad()
def recalibrate_norm(model: DynamicGenerator, chains: Chains, window: int) -> None:
    """Set BatchNorm's running statistics to the average over all training windows.

    With ``norm="batch"`` the generator normalises with batch statistics while it
    learns; synthesis (``eval()``) uses these fixed statistics instead, so a
    synthesized frame never depends on the other frames in its batch.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    momenta = [m.momentum for m in bns]
    was_training = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    a = chains.appearance if model.appearance_dim else None
    states = model.transition.rollout(chains.s0, chains.noise)
    previous = None
    for t0, t1 in windows(states.shape[1], window):
        previous = model.render_and_carry(states[:, t0:t1], a, previous)[1]
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)


@torch.no_grad()
def fixed_norm_psnr(trained: Trained, chunk: int = 64) -> float:
    """PSNR (dB, observed pixels) of the reconstruction from the chains, as synthesis renders it (``eval()``).

    Learning normalises each window with its own batch statistics; synthesis uses the fixed statistics
    averaged over the windows. With one window per video they are the same; with several, this figure,
    next to the training PSNR, shows what the fixed statistics cost.
    """
    model, ch = trained.model, trained.chains
    states = model.transition.rollout(ch.s0, ch.noise)
    a = ch.appearance if model.appearance_dim else None
    data = trained.run.load_data()  # one read of data.safetensors for the frames and the mask
    frames, missing = data["frames"], data.get("missing")
    sq, count, previous = 0.0, 0.0, None
    n = states.shape[0]
    for t0 in range(0, states.shape[1], chunk):
        x = to_tensor(frames[:, t0 : t0 + chunk].flatten(0, 1).numpy()).to(states.device)
        obs = observed_weights(None if missing is None else missing[:, t0 : t0 + chunk])
        obs = torch.ones_like(x[:, :1]) if obs is None else obs.flatten(0, 1).to(x.device)
        xs, vs = x.unflatten(0, (n, -1)), obs.unflatten(0, (n, -1))  # (N, T_chunk, ...)
        recon, previous = model.render_and_carry(states[:, t0 : t0 + chunk], a, previous, xs, vs)
        sq += float(((x - recon.flatten(0, 1)).square() * obs).sum())
        count += float(obs.sum()) * 3
    return psnr_from_mse(sq / max(count, 1.0))
