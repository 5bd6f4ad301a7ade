"""Bringing frames to a size: the crop of another aspect ratio (``CROPS``), antialiased resizing, and the
per-frame resizer the readers use, so a huge source is never held at full size."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dyngen.errors import UsageError

log = logging.getLogger("dyngen.io.video")

Size = int | tuple[int, int] | None
ASPECT_TOLERANCE = 0.01  # height/width ratios this close (relative) are the same aspect
# how frames of another aspect ratio than the asked size get there: ``none`` resizes them (the paper's way: its
# 352x288 and 1280x720 clips were squashed to squares, and its masks were drawn on those), ``center`` first cuts
# the largest centred window of the asked aspect ratio
CROPS = ("none", "center")


def aspect_differs(a: float, b: float) -> bool:
    """Whether two height/width ratios differ by more than ``ASPECT_TOLERANCE``."""
    return abs(a / b - 1) > ASPECT_TOLERANCE


def hw_of(size: Size) -> tuple[int, int] | None:
    """``S`` or ``(H, W)`` -> ``(H, W)``; None stays None."""
    if size is None:
        return None
    h, w = (size, size) if isinstance(size, (int, np.integer)) else (size[0], size[1])
    if int(h) < 1 or int(w) < 1:
        raise UsageError(f"size must be positive, got {size}")
    return (int(h), int(w))


def recorded_crop(config: dict) -> str:
    """The crop a run's frames were made with (its ``config.json``); ``none`` for runs from before ``--crop``."""
    return config["data"].get("crop", "none")


def check_crop(crop: str) -> str:
    if crop not in CROPS:
        raise UsageError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}")
    return crop


def crop_box(hw: tuple[int, int], target: tuple[int, int], crop: str) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of the part of an ``hw`` frame that is resized to ``target`` (see ``CROPS``)."""
    check_crop(crop)
    (h, w), (th, tw) = hw, target
    if crop == "none" or not aspect_differs(h / w, th / tw):
        return 0, 0, h, w
    ch, cw = (h, max(1, round(h * tw / th))) if w * th > h * tw else (max(1, round(w * th / tw)), w)
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def resize(frames: np.ndarray, size: Size, crop: str = "none") -> np.ndarray:
    """Resize uint8 ``(T, H, W, 3)`` frames to ``size`` with antialiased bilinear filtering, after cutting the
    centred window of that aspect ratio with ``crop="center"``."""
    hw = hw_of(size)
    if hw is None:
        return frames
    top, left, ch, cw = crop_box(frames.shape[1:3], hw, crop)
    frames = frames[:, top : top + ch, left : left + cw]
    if frames.shape[1:3] == hw:
        return frames
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    out = []
    for chunk in x.split(64):  # bounded memory for long, large videos
        out.append(F.interpolate(chunk, size=hw, mode="bilinear", antialias=True, align_corners=False))
    y = torch.cat(out).round().clamp(0, 255).to(torch.uint8)
    return y.permute(0, 2, 3, 1).contiguous().numpy()


class Resizer:
    """Resizes frames one at a time as they are read, so a long or huge source never sits in memory at
    full size; says once when the frames are upscaled a lot, change aspect ratio or are cropped."""

    def __init__(self, hw: tuple[int, int] | None, source: Path, crop: str = "none") -> None:
        check_crop(crop)
        self.hw, self.source, self.crop, self.told = hw, source, crop, False

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if self.hw is None:
            return frame
        if not self.told:
            self.told = True
            (h, w), (th, tw) = frame.shape[:2], self.hw
            ch, cw = crop_box((h, w), self.hw, self.crop)[2:]
            if ch * cw * 16 <= th * tw:
                log.warning(
                    "%s: frames are only %dx%d; upscaled to %dx%d, which adds no detail", self.source, h, w, th, tw
                )
            elif (ch, cw) != (h, w):
                log.info("%s: the centred %dx%d of the %dx%d frames, resized to %dx%d (--crop center)", self.source,
                         ch, cw, h, w, th, tw)  # fmt: skip
            elif aspect_differs(h / w, th / tw):
                log.info("%s: %dx%d frames resized to %dx%d change their aspect ratio (--crop center keeps it)",
                         self.source, h, w, th, tw)  # fmt: skip
        return resize(frame[None], self.hw, self.crop)[0]
