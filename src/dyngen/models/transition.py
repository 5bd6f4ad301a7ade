"""The transition model F_alpha: s_t = F(s_{t-1}, xi_t).

Two variants, as in the paper's reference code:

- ``"nonlinear"`` (default): ``s_t = tanh(s_{t-1} + MLP([xi_t ; s_{t-1}]))``,
  where the MLP has two hidden ReLU layers (width 20 by default);
- ``"linear"``: ``s_t = tanh(s_{t-1} + W [xi_t ; s_{t-1}] + b)``.

The residual form keeps the state near its previous value and ``tanh`` keeps
it bounded, which is why long rollouts stay stable. Weights start as
N(0, 0.001^2) with zero biases, as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from dyngen.errors import UsageError

TRANSITIONS = ("nonlinear", "linear")


class Transition(nn.Module):
    """One step of the state dynamics.

    Args:
        state_dim: d, the dimension of s_t.
        noise_dim: k, the dimension of xi_t.
        kind: ``"nonlinear"`` (residual MLP) or ``"linear"``.
        hidden: width of the MLP's two hidden layers.
        init_std: standard deviation of the initial weights.
    """

    def __init__(
        self, *, state_dim: int, noise_dim: int, kind: str = "nonlinear", hidden: int = 20, init_std: float = 0.001
    ) -> None:
        super().__init__()
        if kind not in TRANSITIONS:
            raise UsageError(f"unknown transition '{kind}'; allowed: {', '.join(TRANSITIONS)}")
        self.state_dim, self.noise_dim, self.kind = state_dim, noise_dim, kind
        inp = state_dim + noise_dim
        if kind == "linear":
            self.net = nn.Linear(inp, state_dim)
        else:
            self.net = nn.Sequential(
                nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, state_dim)
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
        states = []
        s = s0
        for t in range(noise.shape[1]):
            s = self(s, noise[:, t])
            states.append(s)
        return torch.stack(states, dim=1)
