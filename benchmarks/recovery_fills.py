"""Other fills from finished dg recovery runs: the diagnostics behind docs/recovery.md.

Takes the run directories that ``benchmarks/recovery.py`` wrote (their names say
the case) and scores, on the hidden pixels, fills built from each trained model
without retraining it:

- ``dg``: the model's reconstruction G (what ``dyngen recover`` writes, before rounding to 8 bits);
- ``dg+interp`` / ``dg+mrf-l2``: G plus that baseline's fill of the residual x - G;
- ``xi=0`` (masks that hide whole frames): each hidden frame's state is the
  transition of the previous state with innovation 0; visible frames keep theirs;
- ``mc16``: the mean of 16 renderings whose hidden frames' innovations are drawn
  from the prior (seeded);
- ``states-interp`` / ``states-nearest`` (masks that hide whole frames): the
  renderings of ``dyngen recover --hidden-frames interp`` / ``nearest``, alone
  and with the interp correction of the residual (``...+interp``);
- the baseline alone.

    python benchmarks/recovery_fills.py benchmarks/out/recovery/runs/*
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import torch
from recovery import cases

from dyngen.algorithms.hidden_states import hidden_frame_states
from dyngen.baselines import get_baseline
from dyngen.evaluation.recovery import recovery_error
from dyngen.io.video import read_video, to_tensor
from dyngen.runs.checkpoint import load_trained
from dyngen.tasks.recover import residual_corrected


def predicted(model, s0, noise, states, hidden_frames, draw=None) -> torch.Tensor:
    """Render with every hidden frame's state re-predicted from the previous one (innovation 0, or ``draw()``)."""
    s, out = s0, []
    for t in range(noise.shape[1]):
        if hidden_frames[t]:
            s = model.transition(s, torch.zeros_like(noise[:, t]) if draw is None else draw(noise[:, t].shape))
        else:
            s = states[:, t]
        out.append(s)
    return model.render(torch.stack(out, 1))[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--samples", type=int, default=16)
    args = ap.parse_args()
    clips = {name.replace("/", "_"): clip for name, clip, _ in cases(all_masks=True)}
    for run in args.runs:
        case = run.name.rsplit("_", 1)[0]
        if case not in clips:
            print(f"{run}: not a run of benchmarks/recovery.py (no case called {case})")
            continue
        tr = load_trained(run)
        missing = tr.missing()[0]  # the mask the run was trained with
        truth = to_tensor(read_video(clips[case], size=tuple(missing.shape[1:]), frames=missing.shape[0])).double()
        x = torch.where(missing[:, None], 0.0, truth)
        hidden_frames = missing.flatten(1).all(dim=1).tolist()
        model = tr.model.eval()
        scores = {}
        with torch.no_grad():
            frames, states = model(tr.chains.s0, tr.chains.noise)
            g = frames[0].double()
            scores["dg"] = recovery_error(g, truth, missing)
            for name in ("interp", "mrf-l2"):
                scores[f"dg+{name}"] = recovery_error(residual_corrected(g, x, missing, name), truth, missing)
            if any(hidden_frames):
                render = partial(predicted, model, tr.chains.s0, tr.chains.noise, states, hidden_frames)
                scores["xi=0"] = recovery_error(render().double(), truth, missing)
                gen = torch.Generator().manual_seed(0)
                mean = sum(render(partial(torch.randn, generator=gen)) for _ in range(args.samples))
                scores[f"mc{args.samples}"] = recovery_error(mean.double() / args.samples, truth, missing)
                for how in ("interp", "nearest"):
                    g = model.render(hidden_frame_states(states[0], torch.tensor(hidden_frames), how)[None])[0]
                    scores[f"states-{how}"] = recovery_error(g.double(), truth, missing)
                    fixed = residual_corrected(g.double(), x, missing, "interp")
                    scores[f"states-{how}+interp"] = recovery_error(fixed, truth, missing)
            for name in ("interp", "mrf-l2", "mrf-l1"):
                scores[name] = recovery_error(get_baseline(name)(x, missing), truth, missing)
        print(f"{case:40}" + " ".join(f"{k}={v:.2f}" for k, v in scores.items()), flush=True)


if __name__ == "__main__":
    main()
