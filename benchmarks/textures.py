"""Dynamic textures: the dynamic generator against the linear baseline (LDS) on every texture clip.

For each clip (64x64, the first 60 frames): train the dynamic generator with a preset (``cpu-texture``, the
default of ``dyngen train``, for its 800 epochs; or for a time budget with ``--minutes``), fit the LDS (d = 50
as in NOTES.md; more dimensions with --lds-dims), synthesize 8x the training length (480 frames) from each
with one seed (``--samples K``: the dynamics distance of K seeds as well), and score it against the observed
clip (``dyngen.evaluation``). Prints a table clip x model x metric with the training times, writes a report per
clip (``dyngen report``: frame grids, motion over time, metric table) and all figures as JSON under --out.

    python benchmarks/textures.py --samples 5                    # every clip, 800 epochs each (about 25 minutes each)
    python benchmarks/textures.py --clips fire --minutes 0.5     # a quick check
    python benchmarks/textures.py --preset cpu --minutes 10      # the README's table before cpu-texture
    python benchmarks/textures.py --warp --set warp_input=trackable   # and the warping emission beside dg

A run directory that already holds a finished run of the same recipe is reused, one stopped short of its
budget is continued, and one of another recipe is refused (``harness.train_or_reuse``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch
from harness import DATA, NO_LIMIT, train_or_reuse

from dyngen.evaluation import evaluate
from dyngen.evaluation.table import format_value, json_safe
from dyngen.io.grid import save_frame_grid
from dyngen.io.video import read_video, to_uint8
from dyngen.presets import parse_overrides
from dyngen.runs.checkpoint import load
from dyngen.runs.directory import SUMMARY
from dyngen.runs.lds import load_lds, train_lds
from dyngen.tasks.report import build_report
from dyngen.tasks.synthesize import synthesize_run

COLUMNS = {  # metric key -> column title
    "appearance_distance": "appear",
    "dynamics_distance": "dynamics",
    "motion_energy": "motion",
    "motion_ratio": "ratio",
    "motion_drift": "drift",
    "temporal_spectrum_distance": "spectrum",
    "copying": "copying",
}


def fit_lds(out: Path, frames: torch.Tensor, name: str, state_dim: int) -> dict:
    if not (out / SUMMARY).is_file():
        train_lds(out, frames, names=[name], state_dim=state_dim, data_info={"benchmark": "textures"})
    return json.loads((out / SUMMARY).read_text())


def bench_clip(path: Path, args: argparse.Namespace) -> dict:
    """Train both models on one clip, synthesize, score; returns ``{model: {metric: value}}`` plus references."""
    name = path.stem
    root = Path(args.out) / name
    frames = torch.from_numpy(read_video(path, size=args.size, frames=args.frames))[None]
    observed = frames[0].numpy()
    t0 = time.perf_counter()
    epochs = args.epochs or (NO_LIMIT if args.minutes else None)
    dg = train_or_reuse(root / "dg", frames, [name], preset=args.preset, epochs=epochs,
                        minutes=args.minutes, seed=args.seed, device=args.device,
                        info={"benchmark": "textures"}).run.read_summary()  # fmt: skip
    logging.info("%s: dg trained %d epochs (%.0f s, wall %.0f s)", name, dg["epochs"], dg["train_seconds"],
                 time.perf_counter() - t0)  # fmt: skip
    lds_runs = {d: root / f"lds{d}" for d in args.lds_dims}
    lds = {d: fit_lds(p, frames, name, d) for d, p in lds_runs.items()}
    length = args.synth_frames
    first = args.lds_dims[0]
    report = build_report(root / "dg", root / "report", lds=lds_runs[first], frames=length, seed=args.seed,
                          device=args.device)  # fmt: skip
    table = {"dg": report.table["dg"], f"lds d={first}": report.table["lds"]}
    for d in args.lds_dims[1:]:
        synth = synthesize_run(load_lds(lds_runs[d]), frames=length, seed=args.seed)[0]
        table[f"lds d={d}"] = evaluate(synth, observed, seed=args.seed)
    seconds = {"dg": dg["train_seconds"], **{f"lds d={d}": s["train_seconds"] for d, s in lds.items()}}
    extra = {"dg": {"epochs": dg["epochs"], "psnr": dg["psnr"]}}
    runs = {"dg": load(root / "dg", args.device), f"lds d={first}": load_lds(lds_runs[first])}
    if args.warp:  # the warping emission, trained and scored as dg is
        runs["warp"] = train_or_reuse(root / "warp", frames, [name], preset=args.preset,
                                      overrides={"emission": "warp", **parse_overrides(args.set)},
                                      epochs=epochs, minutes=args.minutes, seed=args.seed,
                                      device=args.device, info={"benchmark": "textures"})  # fmt: skip
        summary = runs["warp"].run.read_summary()
        videos = {m: to_uint8(synthesize_run(runs[m], frames=length, seed=args.seed)[0]) for m in ("dg", "warp")}
        table["warp"] = evaluate(videos["warp"], observed, seed=args.seed)
        seconds["warp"] = summary["train_seconds"]
        extra["warp"] = {"epochs": summary["epochs"], "psnr": summary["psnr"]}
        quarter = length // 4
        save_frame_grid(root / "dg_warp.png", [observed, *(v[-quarter:] for v in videos.values())],
                        labels=["clip", *(f"{m}, last quarter" for m in videos)],
                        title=f"{name}: {length} frames synthesized")  # fmt: skip
    extra.update({f"lds d={d}": {"spectral_radius": s["spectral_radius"], "psnr": s["psnr"]} for d, s in lds.items()})
    for ref in ("observed vs itself", "static"):
        table[ref] = report.table[ref]
    for model in runs:
        extra[model]["dynamics_seeds"] = [table[model]["dynamics_distance"]]
    for seed in range(args.seed + 1, args.seed + args.samples):  # more samples: the spread of one synthesis
        for model, run in runs.items():
            synth = to_uint8(synthesize_run(run, frames=length, seed=seed)[0])
            extra[model]["dynamics_seeds"].append(evaluate(synth, observed, seed=args.seed)["dynamics_distance"])
    return {"table": table, "train_seconds": seconds, "extra": extra, "report": str(report.index)}


def show(value) -> str:
    """A float, or a list of floats as a / b / c (mean m)."""
    if isinstance(value, list):
        return " / ".join(format_value(x) for x in value) + (f" (mean {format_value(sum(value) / len(value))})"
                                                           if len(value) > 1 else "")  # fmt: skip
    return format_value(value) if isinstance(value, float) else str(value)


def print_table(results: dict[str, dict]) -> None:
    head = f"{'clip':<16}{'model':<20}{'train s':>9}" + "".join(f"{c:>10}" for c in COLUMNS.values())
    print(head)
    print("-" * len(head))
    for clip, res in results.items():
        for model, m in res["table"].items():
            secs = res["train_seconds"].get(model)
            cells = "".join(f"{format_value(m[k]):>10}" for k in COLUMNS)
            print(f"{clip:<16}{model:<20}{'' if secs is None else format_value(secs):>9}{cells}")
        notes = "; ".join(f"{k}: " + ", ".join(f"{a} {show(b)}" for a, b in v.items()) for k, v in res["extra"].items())
        print(f"{'':<16}{notes}")
        print(f"{'':<16}report: {res['report']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", nargs="*", default=None, help="clip names (stems) in --data; default: all")
    ap.add_argument("--data", default=str(DATA / "textures"), help="folder of texture clips")
    ap.add_argument("--preset", default="cpu-texture", help="the dynamic generator's preset")
    ap.add_argument("--minutes", type=float, default=None, help="training budget per clip (default: preset's epochs)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs of every model (default: the preset's)")
    ap.add_argument("--out", default="benchmarks/out/textures", help="runs, reports and results.json go here")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda")
    ap.add_argument("--lds-dims", type=int, nargs="+", default=[50], help="LDS state dimensions (first: report)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=60, help="training frames (the first ones)")
    ap.add_argument("--synth-frames", type=int, default=480, help="frames to synthesize (8x the training length)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=1, help="syntheses per model (seeds seed..): dynamics per seed")
    ap.add_argument("--warp", action="store_true", help="also the warping emission (--emission warp), scored as dg")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting of the warp run")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    data = Path(args.data)
    if not data.is_dir():
        raise SystemExit(f"no texture clips at {data}; pass --data")
    clips = sorted(p for p in data.iterdir() if p.suffix.lower() in (".avi", ".mp4"))
    if args.clips:
        known = {p.stem: p for p in clips}
        missing = [c for c in args.clips if c not in known]
        if missing:
            raise SystemExit(f"unknown clips {missing}; allowed: {', '.join(known)}")
        clips = [known[c] for c in args.clips]
    results = {p.stem: bench_clip(p, args) for p in clips}
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(json_safe({"args": vars(args), "results": results}), indent=2))
    print_table(results)
    print(f"results: {out / 'results.json'}")


if __name__ == "__main__":
    main()
