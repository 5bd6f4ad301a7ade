"""Packing training state into one flat dict of tensors, and loading a trained run.

Checkpoint keys: ``model.*`` (the state dict), ``latents.s0 / latents.noise /
latents.appearance``, ``optim.<param index>.<exp_avg|exp_avg_sq|step>`` (Adam's
moments) and ``rng.state`` (the torch.Generator's state). Nothing is pickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dyngen.algorithms.abptt import Chains, TrainConfig
from dyngen.device import resolve_device
from dyngen.errors import RunError
from dyngen.models.dynamic_generator import DynamicGenerator, ModelConfig
from dyngen.models.innovations import Innovations
from dyngen.runs.directory import LoadedRun, Run
from dyngen.runs.lds import TrainedLDS, load_lds


def pack(
    model: DynamicGenerator,
    chains: Chains,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Flatten everything that training needs to continue into ``{key: tensor}``."""
    out = {f"model.{k}": v for k, v in model.state_dict().items()}
    out.update({f"latents.{k}": v for k, v in chains.tensors().items()})
    if optimizer is not None:
        for i, state in optimizer.state_dict()["state"].items():
            for k, v in state.items():
                out[f"optim.{i}.{k}"] = torch.as_tensor(v)
    if generator is not None:
        out["rng.state"] = generator.get_state()
    return out


def checkpoint_bytes(model: DynamicGenerator, videos: int, frames: int) -> int:
    """The size of a checkpoint of ``model`` with the chains of ``videos`` videos of ``frames`` frames: the state
    dict, Adam's two moments of every parameter, the latents and the RNG state (a few KB of headers aside)."""
    c = model.config
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    moments = 2 * sum(p.numel() * p.element_size() for p in model.parameters())
    latents = 4 * videos * (c.state_dim + frames * c.noise_dim + c.appearance_dim)
    return weights + moments + latents + 2**14


def unpack_model(tensors: dict[str, torch.Tensor], model: DynamicGenerator) -> None:
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})


def unpack_chains(tensors: dict[str, torch.Tensor]) -> Chains:
    return Chains(tensors["latents.s0"], tensors["latents.noise"], tensors["latents.appearance"])


def unpack_optimizer(tensors: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer) -> None:
    sd = optimizer.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    sd["state"] = state
    optimizer.load_state_dict(sd)


@dataclass
class Trained(LoadedRun):
    """A trained dynamic-generator run, loaded: the model, its latent chains and the run's records."""

    model: DynamicGenerator
    chains: Chains
    epoch: int

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.config["train"])

    def missing(self) -> torch.Tensor | None:
        """The training mask ``(N, T, H, W)`` (True = missing), or None for complete data."""
        return self.run.load_data().get("missing")

    def innovations(self, kind: str = "posterior") -> Innovations:
        """The distribution of fresh innovations for synthesis: ``"posterior"`` (fitted) or ``"prior"``."""
        return Innovations.of(kind, self.chains.noise)


def load_trained(path: str | Path, device: torch.device | str = "cpu") -> Trained:
    """Load a dynamic-generator run for synthesis and the other tasks."""
    run = Run.open(path)
    config = run.read_config()
    if config.get("model_type", "dg") != "dg":
        raise RunError(f"{path}: a '{config.get('model_type')}' run, not a dynamic-generator run")
    model = DynamicGenerator(ModelConfig.from_dict(config["model"]))
    tensors, meta = run.load_checkpoint()
    try:
        unpack_model(tensors, model)
        chains = unpack_chains(tensors)
    except (KeyError, RuntimeError) as e:
        raise RunError(f"{path}: the checkpoint does not match the run's config ({e})") from None
    device = resolve_device(device)
    model.to(device).eval()
    return Trained(run, config, model, chains.to(device), int(meta.get("epoch", 0)))


def load(path: str | Path, device: torch.device | str = "cpu") -> Trained | TrainedLDS:
    """Load a run of any model type: a ``Trained`` dynamic generator, or a ``TrainedLDS`` for ``model_type: lds``.

    Synthesize from either with ``dyngen.synthesize`` (``dyngen.tasks.synthesize.synthesize_run``).
    """
    if Run.open(path).read_config().get("model_type", "dg") == "lds":
        return load_lds(path)
    return load_trained(path, device)
