"""Named settings for ``dyngen train --preset NAME``.

``paper-*`` presets are the paper's settings, exactly (PAPER.md section 3).
The others are made for CPUs: narrower generators and a schedule with fewer
Langevin steps and more learning steps per window, which reaches a better
fit in far less time (measurements in docs/performance.md, "Time to quality").

A preset gives values for three groups: ``model`` (ModelConfig), ``train``
(TrainConfig) and ``data`` (frame size and count). ``resolve_config`` applies a
size and overrides to a preset; the command line, the benchmarks and the tests
all go through it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from dyngen.errors import UsageError

PAPER_NET = {"base_channels": 64, "max_channels": 512, "transition_activation": "relu"}
# A quarter of the paper's widths; leaky ReLU, because ReLU units die in the transition (models/transition.py).
CPU_NET = {"base_channels": 16, "max_channels": 128, "transition_activation": "leaky_relu"}
# Recovery with --emission warp follows the observed previous frame, so detail moves from seen pixels into hidden
# ones; warping the first frame (the default elsewhere) recovered fountain's missing frames at 3.22 against 2.26
# (docs/warp.md, "What is warped"). Ignored by the DCGAN emission.
RECOVERY_WARP = {"warp_input": "frame"}
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
        "model": {"state_dim": 100, "noise_dim": 100, "appearance_dim": 0, **PAPER_NET, **RECOVERY_WARP},
        "train": {"epochs": 7000, "window": 70, "sigma": 0.5, "langevin_steps": 15, "learn_steps": 1},
        "data": {"size": 150, "frames": 70},
    },
    # Experiment 4: content removal. 150 frames at 128x128.
    "paper-removal": {
        "model": {"state_dim": 100, "noise_dim": 100, "appearance_dim": 0, **PAPER_NET},
        "train": {"epochs": 7000, "window": 150, "sigma": 0.5, "langevin_steps": 15, "learn_steps": 1},
        "data": {"size": 128, "frames": 150},
    },
    # A slower laptop (2.5x faster per epoch than cpu-texture, which fits better): CPU_NET, 3 Langevin + 4 Adam
    # steps per window, one window for the whole clip (so BatchNorm's statistics in learning are those synthesis
    # uses; README, "Where dyngen departs"), and a transition MLP 128 wide, which moves as much as the clip where
    # the paper's 20 moved too little (docs/performance.md, "Presets").
    "cpu": {
        "model": {"state_dim": 100, "noise_dim": 100, "appearance_dim": 0, **CPU_NET, "transition_hidden": 128},
        "train": {"epochs": 1500, "window": 60, "sigma": 1.0, "langevin_steps": 3, "learn_steps": 4},
        "data": {"size": 64, "frames": 60},
    },
    # Textures on a laptop, the default of `dyngen train`: half the paper's widths, otherwise as `cpu`, with the
    # loss-spike guard on; it passes the paper recipe's fit in a twentieth of its time (docs/performance.md).
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
    # Recovery on a laptop: 70 frames at 64x64 in one window, sigma as in the paper; 500 epochs, because longer
    # training overfits the visible pixels and the hidden ones get worse (docs/recovery.md).
    "cpu-recovery": {
        "model": {"state_dim": 100, "noise_dim": 100, "appearance_dim": 0, **CPU_NET, **RECOVERY_WARP},
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


ABOUT = {
    "paper-texture": "the paper's experiment 1 (dynamic textures), exactly: 60 frames at 64x64, 3000 epochs",
    "paper-action": "the paper's experiment 2 (action patterns, appearance vectors), exactly: 30 frames, 7000 epochs",
    "paper-recovery": "the paper's experiment 3 (recovery), exactly: 70 frames at 150x150, 7000 epochs",
    "paper-removal": "the paper's experiment 4 (content removal), exactly: 150 frames at 128x128, 7000 epochs",
    "cpu": "a slower laptop: a quarter of the paper's widths, 3 Langevin + 4 Adam steps, one window, 1500 epochs",
    "cpu-texture": "the default of train: half the paper's widths, as cpu otherwise, the loss-spike guard on",
    "cpu-action": "action patterns on a laptop: a quarter of the widths, 300 epochs",
    "cpu-recovery": "the default of recover and remove: 70 frames at 64x64 in one window, 500 epochs",
    "demo": "the embedded demo: 32x32, small and quick (dyngen demo)",
}


def get_preset(name: str) -> dict[str, dict[str, Any]]:
    """The preset's settings, or UsageError naming the allowed presets."""
    if name not in PRESETS:
        raise UsageError(f"unknown preset '{name}'; allowed: {', '.join(PRESETS)}")
    return {group: dict(values) for group, values in PRESETS[name].items()}


@dataclass
class Resolved:
    """A preset with a size and overrides applied: the model and training configs and the data settings."""

    model: Any  # ModelConfig
    train: Any  # TrainConfig
    data: dict[str, Any]  # size (S or (H, W)), frames

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {"model": self.model.to_dict(), "train": self.train.to_dict(), "data": dict(self.data)}


def config_classes() -> dict[str, type]:
    """The config dataclass of each group a preset sets."""
    from dyngen.algorithms.abptt import TrainConfig
    from dyngen.models.dynamic_generator import ModelConfig

    return {"model": ModelConfig, "train": TrainConfig}


def resolve_config(
    preset: str,
    *,
    size: int | tuple[int, int] | None = None,
    frames: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> Resolved:
    """The preset's settings, with a frame size, a frame count and overrides of any model or training field.

    Args:
        preset: a name in ``PRESETS``.
        size: the frame size, S or (H, W) (default: the preset's).
        frames: frames per video (default: the preset's).
        overrides: ``{field: value}`` for fields of ``ModelConfig`` or ``TrainConfig`` (each name is in one).

    Returns:
        The validated configs (UsageError for an unknown field or a value out of its range).
    """
    cfg = get_preset(preset)
    classes = config_classes()
    for key, value in (overrides or {}).items():
        group = next((g for g, c in classes.items() if key in {f.name for f in fields(c)}), None)
        if group is None:
            known = sorted(f.name for c in classes.values() for f in fields(c))
            raise UsageError(f"unknown setting '{key}'; allowed: {', '.join(known)}")
        cfg[group][key] = value
    if size is not None:
        cfg["data"]["size"] = size
    if frames is not None:
        cfg["data"]["frames"] = frames
    s = cfg["data"]["size"]
    cfg["model"]["height"], cfg["model"]["width"] = (s, s) if isinstance(s, int) else s
    return Resolved(classes["model"].from_dict(cfg["model"]), classes["train"].from_dict(cfg["train"]), cfg["data"])


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` -> ``{KEY: value}``, each value typed like its field (for ``resolve_config``)."""
    classes = config_classes()
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise UsageError(f"'{pair}': a setting is KEY=VALUE")
        cls = next((c for c in classes.values() if key in {f.name for f in fields(c)}), None)
        if cls is None:
            known = sorted(f.name for c in classes.values() for f in fields(c))
            raise UsageError(f"unknown setting '{key}'; allowed: {', '.join(known)}")
        out[key] = cls.parse(key, text)
    return out
