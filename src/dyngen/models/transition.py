"""The transition model F_alpha: s_t = F(s_{t-1}, xi_t).

Two variants, as in the paper's reference code:

- ``"nonlinear"`` (default): ``s_t = tanh(s_{t-1} + MLP([xi_t ; s_{t-1}]))``,
  where the MLP has two hidden layers (width 20 by default) with ReLU (the
  paper's) or leaky ReLU (``activation="leaky_relu"``, slope 0.2);
- ``"linear"``: ``s_t = tanh(s_{t-1} + W [xi_t ; s_{t-1}] + b)``.

The residual form keeps the state near its previous value and ``tanh`` keeps
it bounded, which is why long rollouts stay stable. Weights start as
N(0, 0.001^2) with zero biases, as in the paper.

Leaky ReLU is offered (and the CPU presets use it) because ReLU units whose
bias is pushed negative never fire again; when a whole layer dies, the state
no longer depends on the noise and a long synthesis freezes (README, "Where
dyngen departs"). A leaky unit always passes a gradient, so it can recover.

``compiled`` (set for training epochs by ``TrainConfig.compile_transition``)
runs ``rollout`` through ``torch.compile``: the whole window's unroll becomes
one graph, and on CUDA one CUDA graph ("reduce-overhead"), instead of about ten
tiny kernels per time step forward and twenty backward. Each new shape or
gradient pattern compiles once (Langevin on the first window and on later
ones, learning, the carried state): docs/performance.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

from dyngen.errors import UsageError

TRANSITIONS = ("nonlinear", "linear")
ACTIVATIONS = ("relu", "leaky_relu")


class Transition(nn.Module):
    """One step of the state dynamics.

    Args:
        state_dim: d, the dimension of s_t.
        noise_dim: k, the dimension of xi_t.
        kind: ``"nonlinear"`` (residual MLP) or ``"linear"``.
        hidden: width of the MLP's two hidden layers.
        activation: of the hidden layers, ``"relu"`` (the paper's) or ``"leaky_relu"`` (slope 0.2).
        init_std: standard deviation of the initial weights.
    """

    def __init__(
        self,
        *,
        state_dim: int,
        noise_dim: int,
        kind: str = "nonlinear",
        hidden: int = 20,
        activation: str = "relu",
        init_std: float = 0.001,
    ) -> None:
        super().__init__()
        self.compiled = False  # run rollout through torch.compile (module docstring)
        if kind not in TRANSITIONS:
            raise UsageError(f"unknown transition '{kind}'; allowed: {', '.join(TRANSITIONS)}")
        if activation not in ACTIVATIONS:
            raise UsageError(f"unknown transition activation '{activation}'; allowed: {', '.join(ACTIVATIONS)}")
        self.state_dim, self.noise_dim, self.kind = state_dim, noise_dim, kind
        inp = state_dim + noise_dim
        if kind == "linear":
            self.net = nn.Linear(inp, state_dim)
        else:

            def act() -> nn.Module:
                return nn.ReLU() if activation == "relu" else nn.LeakyReLU(0.2)

            self.net = nn.Sequential(
                nn.Linear(inp, hidden), act(), nn.Linear(hidden, hidden), act(), nn.Linear(hidden, state_dim)
            )
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=init_std)
                nn.init.zeros_(m.bias)

    def forward(self, state: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``(B, d), (B, k) -> (B, d)``: s_t from s_{t-1} and xi_t."""
        return torch.tanh(state + self.net(torch.cat([noise, state], dim=-1)))

    def rollout(self, s0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Unroll the transition over time.

        Args:
            s0: ``(B, d)`` the state before the first step.
            noise: ``(B, T, k)`` the innovations xi_1..xi_T.

        Returns:
            ``(B, T, d)`` the states s_1..s_T.
        """
        if not self.compiled:
            return _unroll(self, s0, noise)
        device = s0.device.type
        states = _compiled_unroll(device)(self, s0, noise)
        # a CUDA graph's outputs are overwritten by its next replay: the carried state outlives one
        return states.clone() if device == "cuda" else states


def _unroll(step: Transition, s0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    states = []
    s = s0
    for t in range(noise.shape[1]):
        s = step(s, noise[:, t])
        states.append(s)
    return torch.stack(states, dim=1)


@functools.cache
def _compiled_unroll(device_type: str) -> Callable:
    mode = "reduce-overhead" if device_type == "cuda" else None  # CUDA graphs on a GPU
    return torch.compile(_unroll, fullgraph=True, dynamic=False, mode=mode)
