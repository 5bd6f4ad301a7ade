"""Named settings for ``dyngen train --preset NAME``.

``paper-*`` presets are the paper's settings, exactly (PAPER.md section 3).
The others are made for CPUs: narrower generators and a schedule with fewer
Langevin steps and more learning steps per window, which reaches a better
fit in far less time (measurements in docs/performance.md, "Time to quality").

A preset gives values for three groups: ``model`` (ModelConfig), ``train``
(TrainConfig) and ``data`` (frame size and count). Command-line options
override it.
"""

from __future__ import annotations

from typing import Any

from dyngen.errors import UsageError

PAPER_NET = {"base_channels": 64, "max_channels": 512, "transition_activation": "relu"}
# A quarter of the paper's widths; leaky ReLU, because ReLU units die in the transition (models/transition.py).
CPU_NET = {"base_channels": 16, "max_channels": 128, "transition_activation": "leaky_relu"}
HALF_NET = {**CPU_NET, "base_channels": 32, "max_channels": 256}  # half the paper's widths

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # Experiment 1: dynamic textures. 60 frames at 64x64, d = k = 100.
    "paper-texture": {
        "model": {"state_dim": 100, "noise_dim": 100, "appearance_dim": 0, **PAPER_NET},
        "train": {"epochs": 3000, "window": 30, "sigma": 1.0, "langevin_steps": 15, "learn_steps": 1},
        "data": {"size": 64, "frames": 60},
    },
    # Experiment 2: action patterns. 30 frames at 64x64, d = 3, c = 100.
    "paper-action": {
        "model": {"state_dim": 3, "noise_dim": 100, "appearance_dim": 100, **PAPER_NET},
        "train": {"epochs": 7000, "window": 30, "sigma": 1.0, "langevin_steps": 15, "learn_steps": 1},
        "data": {"size": 64, "frames": 30},
    },
    # Experiment 3: recovery from incomplete data. 70 frames at 150x150.
    "paper-recovery": {
        "model": {"state_dim": 100, "noise_dim": 100, "appearance_dim": 0, **PAPER_NET},
        "train": {"epochs": 7000, "window": 70, "sigma": 0.5, "langevin_steps": 15, "learn_steps": 1},
        "data": {"size": 150, "frames": 70},
    },
    # Experiment 4: content removal. 150 frames at 128x128.
    "paper-removal": {
        "model": {"state_dim": 100, "noise_dim": 100, "appearance_dim": 0, **PAPER_NET},
        "train": {"epochs": 7000, "window": 150, "sigma": 0.5, "langevin_steps": 15, "learn_steps": 1},
        "data": {"size": 128, "frames": 150},
    },
    # A slower laptop (about 0.7 s per epoch on one core against 1.7 for cpu-texture, which fits better): CPU_NET,
    # 3 Langevin + 4 Adam steps per window, one window for the whole clip (so BatchNorm's statistics in learning
    # are those synthesis uses; README, "How it works"), and a transition MLP 128 wide:
    # with the paper's 20, synthesized fire moved 0.67x the clip (its states stepped 0.11 against 0.16 inferred).
    "cpu": {
        "model": {"state_dim": 100, "noise_dim": 100, "appearance_dim": 0, **CPU_NET, "transition_hidden": 128},
        # 1500 epochs: fire's dynamics distance (3 synthesis seeds) is 3.6 after 1000 epochs, 2.8 after 1420
        "train": {"epochs": 1500, "window": 60, "sigma": 1.0, "langevin_steps": 3, "learn_steps": 4},
        "data": {"size": 64, "frames": 60},
    },
    # Textures on a laptop, the default of `dyngen train`: half the paper's widths, otherwise as `cpu`, with the
    # loss-spike guard on. On fire (64x64, 60 frames, 1 thread, seed 0) it passed the paper recipe's 3000-epoch
    # training PSNR (39.53 dB) at epoch 615, after 1058 s against the paper recipe's 22911 s, ended at 41.8 dB,
    # and its syntheses scored better than the paper recipe's and about as well as `cpu`'s (docs/performance.md).
    "cpu-texture": {
        "model": {"state_dim": 100, "noise_dim": 100, "appearance_dim": 0, **HALF_NET, "transition_hidden": 128},
        "train": {
            "epochs": 800,
            "window": 60,
            "sigma": 1.0,
            "langevin_steps": 3,
            "learn_steps": 4,
            "spike_factor": 10.0,
        },
        "data": {"size": 64, "frames": 60},
    },
    # Action patterns on a laptop.
    "cpu-action": {
        "model": {"state_dim": 3, "noise_dim": 100, "appearance_dim": 100, **CPU_NET},
        "train": {"epochs": 300, "window": 30, "sigma": 1.0, "langevin_steps": 3, "learn_steps": 4},
        "data": {"size": 64, "frames": 30},
    },
    # Recovery on a laptop: 70 frames at 64x64 in one window, sigma as in the paper. 500 epochs (about 8 minutes
    # on one core): the hidden pixels' error stops falling after 100-400 epochs and rises with longer training, as
    # the generator overfits the visible ones (fountain/region: 3.95 at 100, 3.81 at 400, 4.60 at 1200 epochs).
    "cpu-recovery": {
        "model": {"state_dim": 100, "noise_dim": 100, "appearance_dim": 0, **CPU_NET},
        "train": {"epochs": 500, "window": 70, "sigma": 0.5, "langevin_steps": 3, "learn_steps": 4},
        "data": {"size": 64, "frames": 70},
    },
    # The embedded demo: small and quick (well under 5 minutes on 2 cores).
    "demo": {
        "model": {"state_dim": 20, "noise_dim": 20, "appearance_dim": 0, **CPU_NET, "transition_hidden": 128},
        "train": {
            "epochs": 450,
            "window": 60,  # one window: the fixed BatchNorm statistics then match learning
            "sigma": 1.0,
            "langevin_steps": 3,
            "learn_steps": 4,
            "checkpoint_every": 50,
            "preview_every": 100,
        },
        "data": {"size": 32, "frames": 60},
    },
}


def get_preset(name: str) -> dict[str, dict[str, Any]]:
    """The preset's settings, or UsageError naming the allowed presets."""
    if name not in PRESETS:
        raise UsageError(f"unknown preset '{name}'; allowed: {', '.join(PRESETS)}")
    return {group: dict(values) for group, values in PRESETS[name].items()}
