"""Data-parallel ABPTT: which videos a process holds, and the collectives that make many processes one model.

Launched by ``torchrun``, every process (rank) holds a contiguous share of
the training videos and the latent chains of those videos only. A ``Shard``
makes the processes compute exactly what one process would:

- **Langevin noise**: every rank draws the noise of *all* videos from the
  same seeded generator and keeps its own rows, so each video's chain gets
  the same random numbers as in one process (the draws are latent-sized,
  a negligible cost);
- **BatchNorm**: the statistics are taken over all ranks' frames
  (``dyngen.models.global_norm``), as one process takes them over its batch;
- **weight gradients**: summed over ranks (all-reduce) before each Adam step,
  with the loss normalised by the frame count of all ranks, so every rank
  takes the same step and the weights stay identical;
- **decisions** (stop, roll back after a NaN) are taken together (``any``).

With one process (``Shard.single``) every collective is a no-op.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import distributed as dist


@dataclass(frozen=True)
class Shard:
    """This process's videos ``lo .. hi-1`` of ``total``, and its process group (None: one process)."""

    total: int
    lo: int
    hi: int
    rank: int = 0
    world: int = 1
    group: Any = None
    device: str | torch.device = "cpu"  # where collectives' small tensors live (NCCL needs CUDA)

    @classmethod
    def single(cls, total: int) -> Shard:
        return cls(total, 0, total)

    @classmethod
    def of_world(cls, total: int, device: torch.device | str = "cpu", group: Any = None) -> Shard:
        """This rank's contiguous share of ``total`` videos in the initialised default (or given) group."""
        rank, world = dist.get_rank(group), dist.get_world_size(group)
        if total < world:
            from dyngen.errors import UsageError

            raise UsageError(f"{world} processes need at least {world} training videos, got {total}")
        lo, hi = rank * total // world, (rank + 1) * total // world
        return cls(total, lo, hi, rank, world, group, device)

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes the run directory and reports."""
        return self.rank == 0

    @property
    def rows(self) -> slice:
        return slice(self.lo, self.hi)

    def randn(self, like: torch.Tensor, *, generator: torch.Generator | None) -> torch.Tensor:
        """``N(0, I)`` shaped like ``like`` (rows: this process's videos): the numbers one process would draw."""
        shape = (self.total, *like.shape[1:]) if self.distributed else like.shape
        full = torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
        return full[self.rows] if self.distributed else full

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over all ranks, in place; returns it."""
        if self.distributed:
            dist.all_reduce(tensor, group=self.group)
        return tensor

    def sum_grads(self, model: torch.nn.Module) -> None:
        """Sum the parameter gradients over all ranks (one flat all-reduce)."""
        if not self.distributed:
            return
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        flat = self.sum_(torch.cat([g.reshape(-1) for g in grads]))
        for g, part in zip(grads, flat.split([g.numel() for g in grads])):
            g.copy_(part.view_as(g))

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is true on any rank (every rank gets the same answer)."""
        if not self.distributed:
            return flag
        return bool(self.sum_(torch.tensor([float(flag)], device=self.device)).item() > 0)

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """All ranks' rows of ``tensor`` (this rank's ``hi - lo`` rows first dimension), in video order."""
        if not self.distributed:
            return tensor
        if math.prod(tensor.shape[1:]) == 0:  # nothing to send (appearance_dim 0)
            return tensor.new_zeros((self.total, *tensor.shape[1:]))
        sizes = [(r + 1) * self.total // self.world - r * self.total // self.world for r in range(self.world)]
        padded = torch.zeros((max(sizes), *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
        padded[: tensor.shape[0]] = tensor
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded, group=self.group)
        return torch.cat([p[:n] for p, n in zip(parts, sizes)])

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier(group=self.group)
