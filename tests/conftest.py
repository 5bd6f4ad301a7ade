"""Shared fixtures: tiny seeded models and clips, all on the CPU."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"test clips not found at {DATA} (../shared/data)")


def load_benchmark(name: str):
    """The module of ``benchmarks/<name>.py`` (benchmarks are scripts, not a package; they import each other)."""
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    path = folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors run fastest, and repeatably, on one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def clip() -> np.ndarray:
    """A 12-frame 16x16 procedural texture, uint8 (T, H, W, 3)."""
    from dyngen.io.procedural import ripples

    return ripples(12, 16, seed=1)


def tiny_configs(**train):
    from dyngen.algorithms.abptt import TrainConfig
    from dyngen.models.dynamic_generator import ModelConfig

    mc = ModelConfig(height=16, width=16, state_dim=4, noise_dim=3, base_channels=8, max_channels=16)
    tc = TrainConfig(
        **{
            "epochs": 4, "window": 6, "langevin_steps": 2, "learn_steps": 2, "checkpoint_every": 2,
            "preview_every": 0, **train,
        }
    )  # fmt: skip
    return mc, tc
