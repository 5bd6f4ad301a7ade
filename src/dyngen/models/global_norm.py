"""BatchNorm whose training statistics are taken over the frames of every process.

``torch.nn.SyncBatchNorm`` does this on GPUs only; this one works on any
backend (gloo on CPUs, NCCL on GPUs). In training mode the mean and the
variance of each channel are summed over all ranks by a differentiable
all-reduce (two passes: the mean, then the centred squares), so the result,
its gradients and the running statistics equal what one process computes
on all the frames, up to float rounding. In ``eval()`` mode, or with one
process, it is plain ``BatchNorm2d``. Parameters and buffers have the same
names, so checkpoints do not change.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import distributed as dist
from torch import nn


class _Sum(torch.autograd.Function):
    """Sum over the ranks of ``group``; the gradient is summed likewise (every rank's loss depends on it)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        out = tensor.clone()
        dist.all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _Sum.apply(grad.contiguous(), ctx.group), None


def all_reduce(tensor: torch.Tensor, group: Any = None) -> torch.Tensor:
    """A differentiable all-reduce (sum)."""
    return _Sum.apply(tensor, group)


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` with statistics over all ranks of ``group`` while training."""

    group: Any = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not dist.is_initialized() or dist.get_world_size(self.group) == 1:
            return super().forward(x)
        dims = (0, 2, 3)
        count = all_reduce(torch.tensor([x.numel() / x.shape[1]], device=x.device, dtype=x.dtype), group=self.group)
        mean = all_reduce(x.sum(dims), group=self.group) / count
        centred = x - mean[:, None, None]
        var = all_reduce(centred.square().sum(dims), group=self.group) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                f = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                n = float(count)
                self.running_mean.mul_(1 - f).add_(mean.detach(), alpha=f)
                self.running_var.mul_(1 - f).add_(var.detach() * (n / max(n - 1, 1.0)), alpha=f)
        y = centred * torch.rsqrt(var + self.eps)[:, None, None]
        return y * self.weight[:, None, None] + self.bias[:, None, None] if self.affine else y


def use_global_norm(model: nn.Module, group: Any = None) -> nn.Module:
    """Swap every ``BatchNorm2d`` in ``model`` for a ``GlobalBatchNorm2d`` over ``group``, in place."""
    for m in model.modules():
        if type(m) is nn.BatchNorm2d:
            m.__class__ = GlobalBatchNorm2d
            m.group = group
    return model
