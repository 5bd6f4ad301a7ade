"""The DCGAN emission (the paper's frame generator G_beta): one frame from one state and appearance.

A stack of transposed convolutions. The input vector ``[a ; s_t]`` is read as
a 1x1 image; every layer but the last is followed by a normalisation and
ReLU; the last by tanh, so frames lie in [-1, 1]. Every frame is rendered
independently, batched over all of them; the previous frame is not read.

Layouts (the paper's, widest first):

- ``H, W = b_h * 2^n, b_w * 2^n`` (32, 64, 128, 48x64, 96, ...): a first layer
  maps 1x1 to the base ``b_h x b_w`` (2x2 for the square paper sizes, which
  is exactly the paper's kernel-4, stride-2, SAME layer on a 1x1 input), then
  ``n`` layers of kernel 4, stride 2 double the size. 64x64 gives the paper's
  six layers 512, 512, 256, 128, 64, 3 and 128x128 its seven.
- ``150 x 150`` (the paper's recovery setting): as for 64 up to 16x16, then
  two stride-3 layers to 48 and 144 (64 channels each), then a 7x7 VALID layer
  to 150.

Channel widths are ``min(max_channels, base_channels * 2^i)`` counting from
the output side (the paper: base 64, max 512). Narrower widths suit CPUs.

Normalisation (``norm``), a deliberate departure from the reference code,
whose BatchNorm was always in training mode, so a synthesized frame depended
on the other frames in its batch (PAPER.md section 4, item 3):

- ``"batch"`` (default): batch statistics while learning (as in the paper),
  fixed statistics in ``eval()`` mode, which synthesis uses; they are
  recomputed over all training windows at every checkpoint
  (``dyngen.runs.fixed_norm``), so a synthesized frame is a function of its own
  latents only. It learns far faster than the alternatives (README, "Where
  dyngen departs").
- ``"group"``: GroupNorm, statistics per frame, in learning and synthesis alike.
- ``"none"``: no normalisation.

Speed (``fast_deconv``, on by default, the same result up to float rounding):
the layers whose input has at most 16 pixels are computed as matrix products
(``conv_transpose_gemm``), and on the CPU a wide RGB output layer by
PyTorch's own transposed convolution (``conv_transpose_native``), where
oneDNN is slow on those shapes. Memory (``checkpoint``, off by default):
each block keeps only its input for the backward pass and recomputes the rest
there. Both are measured in docs/performance.md.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from dyngen.errors import UsageError
from dyngen.models.emission import Emission, register_emission

NORMS = ("batch", "group", "none")
MAX_BASE = 8  # the largest base side the first layer may produce
GEMM_MAX_INPUT = 16  # fast_deconv: layers with at most this many input pixels (4x4) use a matrix product
NATIVE_MIN_IN = 64  # fast_deconv on the CPU: an RGB output layer with at least this many input channels skips oneDNN


def layer_plan(height: int, width: int) -> tuple[tuple[int, int], int] | None:
    """``((b_h, b_w), n)`` with ``H = b_h 2^n``, ``W = b_w 2^n``, or None when the size cannot be made."""
    n = 0
    while height % 2 ** (n + 1) == 0 and width % 2 ** (n + 1) == 0 and min(height, width) // 2 ** (n + 1) >= 2:
        n += 1
    bh, bw = height // 2**n, width // 2**n
    if n < 1 or max(bh, bw) > MAX_BASE:
        return None
    return (bh, bw), n


def check_size(height: int, width: int) -> None:
    """Raise UsageError when the generator cannot make frames of this size."""
    if (height, width) == (150, 150) or layer_plan(height, width) is not None:
        return
    raise UsageError(
        f"the frame generator cannot make {height}x{width} frames; allowed sizes are b*2^n per side with the "
        f"same n and b <= {MAX_BASE} (for example 32, 48, 64, 96, 128, 48x64, 64x128) or 150x150"
    )


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(math.gcd(32, channels) if channels >= 32 else 1, channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


@functools.lru_cache(maxsize=32)
def _scatter(size: tuple[int, int], conv: tuple, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The 0/1 matrix ``(H W kh kw, H_out W_out)`` that adds each tap's value into its output pixel (col2im)."""
    (h, w), ((kh, kw), (sh, sw), (ph, pw)) = size, conv
    ho, wo = (h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw
    i, j, ki, kj = torch.meshgrid(torch.arange(h), torch.arange(w), torch.arange(kh), torch.arange(kw), indexing="ij")
    oi, oj = (i * sh - ph + ki).flatten(), (j * sw - pw + kj).flatten()
    keep = (oi >= 0) & (oi < ho) & (oj >= 0) & (oj < wo)
    scatter = torch.zeros(h * w * kh * kw, ho * wo, dtype=dtype)
    scatter[torch.arange(keep.numel())[keep], (oi * wo + oj)[keep]] = 1
    return scatter.to(device)


def conv_transpose_gemm(x: torch.Tensor, conv: nn.ConvTranspose2d) -> torch.Tensor:
    """``conv(x)`` as two matrix products: fast when ``x`` is spatially small.

    The first product gives every tap's contribution, ``x (N H W, C_in) @ weight
    (C_in, C_out kh kw)``; the second adds the contributions into the output
    pixels with a constant 0/1 matrix (a col2im as a matrix product; its cost
    grows as ``(H W)^2``, so this pays only for small inputs).

    Args:
        x: ``(N, C_in, H, W)``.
        conv: a transposed convolution without groups, dilation or output padding.

    Returns:
        ``(N, C_out, H_out, W_out)``, equal to ``conv(x)`` up to float rounding.
    """
    n, c_in, h, w = x.shape
    c_out, (kh, kw), (sh, sw), (ph, pw) = conv.out_channels, conv.kernel_size, conv.stride, conv.padding
    scatter = _scatter((h, w), ((kh, kw), (sh, sw), (ph, pw)), x.device, x.dtype)
    cols = x.permute(0, 2, 3, 1).reshape(n * h * w, c_in) @ conv.weight.reshape(c_in, -1)  # (N H W, C_out kh kw)
    cols = cols.reshape(n, h * w, c_out, kh * kw).transpose(1, 2).reshape(n * c_out, -1)  # (N C_out, H W kh kw)
    y = (cols @ scatter).reshape(n, c_out, (h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw)
    return y if conv.bias is None else y + conv.bias[:, None, None]


def conv_transpose_native(x: torch.Tensor, conv: nn.ConvTranspose2d) -> torch.Tensor:
    """``conv(x)`` by PyTorch's own (im2col) transposed convolution, bypassing oneDNN, which runs the paper's
    wide RGB output layer at a fraction of its usual rate (docs/performance.md)."""
    return torch._C._nn.slow_conv_transpose2d(
        x, conv.weight, conv.kernel_size, conv.bias, conv.stride, conv.padding, conv.output_padding, conv.dilation
    )


def _gemm_ok(conv: nn.ConvTranspose2d) -> bool:
    return conv.groups == 1 and conv.dilation == (1, 1) and conv.output_padding == (0, 0)


class FrameGenerator(Emission):
    """``G``: ``[a ; s_t] -> x_t``, every frame on its own (``decode``: ``(N, in_dim) -> (N, 3, H, W)`` in [-1, 1]).

    Args:
        in_dim: the input size, ``c + d`` (appearance plus state).
        appearance_dim: c, the leading part of the input that is the appearance vector (0: none).
        size: ``(H, W)`` of the frames.
        base_channels: width of the layer before the output (the paper: 64).
        max_channels: cap on the widths (the paper: 512).
        norm: ``"group"``, ``"batch"`` or ``"none"`` (see the module docstring).
        init_std: standard deviation of the initial weights (the paper: 0.005).
        fast_deconv: compute the small-input layers by matrix products (see the module docstring);
            an attribute that may be switched at any time.
        checkpoint: activation checkpointing per block (see the module docstring); an attribute too.
        out_channels: channels of the output (3: RGB); another emission may decode more maps with this stack.
        out_tanh: end with tanh (frames in [-1, 1]); without it the output is linear.
    """

    def __init__(
        self,
        *,
        in_dim: int,
        size: tuple[int, int],
        appearance_dim: int = 0,
        base_channels: int = 64,
        max_channels: int = 512,
        norm: str = "batch",
        init_std: float = 0.005,
        fast_deconv: bool = True,
        checkpoint: bool = False,
        out_channels: int = 3,
        out_tanh: bool = True,
    ) -> None:
        super().__init__()
        self.fast_deconv, self.checkpoint = fast_deconv, checkpoint
        if norm not in NORMS:
            raise UsageError(f"unknown norm '{norm}'; allowed: {', '.join(NORMS)}")
        h, w = size
        check_size(h, w)
        self.in_dim, self.size, self.appearance_dim = in_dim, (h, w), appearance_dim

        # (kernel, stride, padding) and output channels per layer, from a 1x1 input.
        def wide(count: int, first: int = 0) -> list[int]:
            return [min(max_channels, base_channels * 2**i) for i in range(first, first + count)][::-1]

        if (h, w) == (150, 150):
            specs = [((2, 2), 1, 0)] + [((4, 4), 2, 1)] * 3 + [((5, 5), 3, 1)] * 2 + [((7, 7), 1, 0)]
            chans = [
                *wide(4, first=1),
                min(max_channels, base_channels),
                min(max_channels, base_channels),
                out_channels,
            ]
        else:
            (bh, bw), n = layer_plan(h, w)
            specs = [((bh, bw), 1, 0)] + [((4, 4), 2, 1)] * n
            chans = [*wide(n), out_channels]

        layers: list[nn.Module] = []
        c_in, side = in_dim, (1, 1)
        self._gemm_layers: set[int] = set()  # indices into self.net of the small-input layers
        for i, ((kh, kw), stride, pad) in enumerate(specs):
            if side[0] * side[1] <= GEMM_MAX_INPUT:
                self._gemm_layers.add(len(layers))
            side = ((side[0] - 1) * stride - 2 * pad + kh, (side[1] - 1) * stride - 2 * pad + kw)
            c_out = chans[i]
            layers.append(nn.ConvTranspose2d(c_in, c_out, (kh, kw), stride, pad, bias=(i == len(specs) - 1)))
            if i < len(specs) - 1:
                layers += [_norm(norm, c_out), nn.ReLU()]
            c_in = c_out
        layers.append(nn.Tanh() if out_tanh else nn.Identity())
        self.net = nn.Sequential(*layers)
        out = layers[-2]  # the RGB output layer
        wide_rgb = out.out_channels == 3 and out.in_channels >= NATIVE_MIN_IN and out.kernel_size == (4, 4)
        wide_rgb = wide_rgb and out.stride == (2, 2)
        self._native_layer = len(layers) - 2 if wide_rgb else None  # its index in self.net, when it skips oneDNN
        starts = [i for i, m in enumerate(layers) if isinstance(m, nn.ConvTranspose2d)]
        self.blocks = list(zip(starts, [*starts[1:], len(layers)]))  # (first, end) layer index of every block
        for m in self.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=init_std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @classmethod
    def from_config(cls, config) -> FrameGenerator:
        return cls(
            in_dim=config.appearance_dim + config.state_dim,
            appearance_dim=config.appearance_dim,
            size=(config.height, config.width),
            base_channels=config.base_channels,
            max_channels=config.max_channels,
            norm=config.norm,
        )

    @property
    def widths(self) -> list[int]:
        """Output channels of every layer, widest first."""
        return [m.out_channels for m in self.net if isinstance(m, nn.ConvTranspose2d)]

    def run_block(self, y: torch.Tensor, first: int, end: int) -> torch.Tensor:
        """Layers ``first .. end - 1`` of ``self.net`` on ``y``."""
        autocast_on = torch.is_autocast_enabled(y.device.type)
        for i in range(first, end):
            layer = self.net[i]
            if self.fast_deconv and i in self._gemm_layers and _gemm_ok(layer):
                y = conv_transpose_gemm(y, layer)
            elif self.fast_deconv and i == self._native_layer and y.device.type == "cpu" and not autocast_on:
                y = conv_transpose_native(y, layer)  # autocast does not cast this op's inputs
            else:
                y = layer(y)
        return y

    def forward(
        self,
        states: torch.Tensor,
        appearance: torch.Tensor | None = None,
        previous: torch.Tensor | None = None,
        observed: torch.Tensor | None = None,
        visible: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``states (B, T, d)``, ``appearance (B, c)`` -> ``(B, T, 3, H, W)``; the other frames are not read."""
        b, t, _ = states.shape
        z = states
        if self.appearance_dim:
            if appearance is None:
                raise ValueError("this model has appearance vectors: pass appearance (B, c)")
            z = torch.cat([appearance[:, None].expand(b, t, -1), states], dim=-1)
        frames = self.decode(z.reshape(b * t, -1))
        return frames.reshape(b, t, *frames.shape[1:])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, in_dim) -> (N, 3, H, W)``."""
        y = z[:, :, None, None]
        recompute = self.checkpoint and torch.is_grad_enabled()
        for first, end in self.blocks:
            if recompute and y.requires_grad:
                y = checkpoint(self.run_block, y, first, end, use_reentrant=False)
            else:
                y = self.run_block(y, first, end)
        return y


register_emission("dcgan", FrameGenerator)
