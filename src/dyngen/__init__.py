"""dyngen: dynamic generator models of video (Xie et al., AAAI 2019).

The verbs (``dyngen.api``)::

    import dyngen
    run = dyngen.train("runs/fire", dyngen.read_video("fire.avi", size=64, frames=60), epochs=800)
    videos = dyngen.synthesize(run, frames=480, num=4)      # (4, 480, 3, 64, 64) in [-1, 1]
    dyngen.write_video("fire_new.mp4", videos[0])

``train``, ``resume``, ``load``, ``synthesize``, ``recover``, ``remove``, ``encode``, ``animate``,
``interpolate``, ``evaluate``; and for files ``read_video``, ``write_video``, ``read_mask``, and the embedded
demo texture ``ripples``.

The layers below, each importable on its own:

- ``dyngen.models``: pure modules (the transition, the emission interface and its implementations, the
  composed ``DynamicGenerator``);
- ``dyngen.algorithms``: Langevin, ABPTT, frozen-model inference, synthesis;
- ``dyngen.runs``: run directories, checkpoints, the trainer and its guards;
- ``dyngen.baselines``: the classic fills and the linear dynamic system;
- ``dyngen.tasks``: the user tasks, composed from the above;
- ``dyngen.io``, ``dyngen.evaluation``: files at the boundary, and metrics.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    **dict.fromkeys(
        ["train", "synthesize", "recover", "remove", "encode", "animate", "interpolate", "evaluate"], "dyngen.api"
    ),
    "resume": "dyngen.runs.train",
    "load": "dyngen.runs.checkpoint",
    "read_video": "dyngen.io.video",
    "write_video": "dyngen.io.video",
    "ripples": "dyngen.io.procedural",
}
_RENAMED = {"read_mask": ("dyngen.io.masks", "load_mask")}

if TYPE_CHECKING:
    from dyngen.api import animate, encode, evaluate, interpolate, recover, remove, synthesize, train
    from dyngen.io.masks import load_mask as read_mask
    from dyngen.io.procedural import ripples
    from dyngen.io.video import read_video, write_video
    from dyngen.runs.checkpoint import load
    from dyngen.runs.train import resume

__all__ = [
    "animate", "encode", "evaluate", "interpolate", "load", "read_mask", "read_video", "recover", "remove", "resume",
    "ripples", "synthesize", "train", "write_video",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    """The verbs load on first use, so that ``import dyngen`` (and the CLI's parsing) stays light."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _RENAMED:
        module, attr = _RENAMED[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'dyngen' has no attribute {name!r}")
