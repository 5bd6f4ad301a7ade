"""What each studio form asks for, as library calls: the studio's counterpart of ``dyngen.cli``'s subcommands.

``plan(kind, params, workspace, device)`` checks a request at once (the page shows a refusal at its form) and
returns the job's title and the function the worker runs: train, resume, synthesize, recover (and remove),
animate, interpolate, report. Each calls the public verbs (``dyngen.train``, ``dyngen.synthesize``, ...) or the
task the CLI calls, and writes its files under ``outputs/NNNN-kind/`` (videos as mp4 to download and gif to
watch) or, for training, into ``runs/NAME``, the run directory ``dyngen train --out`` would make.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import dyngen
from dyngen.io.grid import side_by_side
from dyngen.io.resize import recorded_crop
from dyngen.io.video import CROPS, read_video, to_tensor, to_uint8, write_video
from dyngen.presets import PRESETS, parse_overrides, resolve_config
from dyngen.studio.jobs import Job
from dyngen.studio.workspace import StudioError, Workspace, safe_name

MAX_NUM = 16  # videos per synthesis
MAX_FRAMES = 10_000  # frames per synthesized video
PREVIEWS = 20  # preview grids per training, unless the settings say otherwise
Plan = tuple[str, Callable[[Job], None], dict[str, Any]]  # title, execute, the Job's fields


class Params:
    """A request's fields, each read with a type and checked, with one-line refusals naming the form."""

    def __init__(self, kind: str, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise StudioError(f"{kind}: the request must be a JSON object")
        self.kind, self.raw = kind, raw

    def _bad(self, key: str, rule: str) -> StudioError:
        return StudioError(f"{self.kind}: {key} must be {rule}, got {self.raw.get(key)!r}")

    def text(self, key: str, default: str | None = None, *, choices: tuple[str, ...] | None = None) -> str:
        v = self.raw.get(key, default)
        if v in (None, "") and default is None:
            raise StudioError(f"{self.kind}: {key} is required")
        if not isinstance(v, str) or (choices and v not in choices):
            raise self._bad(key, f"one of {', '.join(choices)}" if choices else "text")
        return v

    def integer(self, key: str, default: int | None = None, *, lo: int = 1, hi: int | None = None) -> int | None:
        v = self.raw.get(key)
        if v in (None, ""):
            return default
        try:
            n = int(str(v))
        except ValueError:
            n = None
        if n is None or n < lo or (hi is not None and n > hi):
            raise self._bad(key, f"an integer >= {lo}" + (f" and <= {hi}" if hi is not None else ""))
        return n

    def flag(self, key: str) -> bool:
        v = self.raw.get(key, False)
        if not isinstance(v, bool):
            raise self._bad(key, "true or false")
        return v

    def path(self, ws: Workspace, key: str, under: str) -> Path:
        return ws.resolve(self.text(key), under=under)

    def settings(self) -> dict[str, Any]:
        """``KEY=VALUE`` lines (or spaces) of model and training settings, as ``dyngen train --set`` would take."""
        text = self.raw.get("settings") or ""
        if not isinstance(text, str):
            raise self._bad("settings", "KEY=VALUE lines")
        return parse_overrides(text.replace(",", " ").split())


def parse_size(text: Any, what: str = "size") -> int | tuple[int, int]:
    """``"64"`` -> 64, ``"48x64"`` -> (48, 64); StudioError otherwise."""
    try:
        parts = [int(x) for x in str(text).lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise StudioError(f"{what} must be S or HxW (for example 64 or 48x64), got {text!r}")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def _size(p: Params, default: Any) -> int | tuple[int, int]:
    return parse_size(p.raw.get("size") or default, f"{p.kind}: size")


def _job_folder(ws: Workspace, job: Job) -> Path:
    folder = ws.root / "outputs" / f"{job.id:04d}-{job.kind}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_clip(ws: Workspace, job: Job, folder: Path, name: str, frames: np.ndarray, label: str) -> None:
    """A uint8 video ``(T, H, W, 3)`` as ``name.gif`` (shown) and ``name.mp4`` (to download)."""
    job.output(ws.rel(write_video(folder / f"{name}.gif", frames)), label, "video")
    job.output(ws.rel(write_video(folder / f"{name}.mp4", frames)), label + " (mp4)", "download")


def _training(p: Params, preset: str, size: Any, frames: int | None) -> tuple[Any, dict[str, Any]]:
    """The resolved configs of a training request, and its overrides (with the studio's preview rhythm)."""
    overrides = p.settings()
    epochs = p.integer("epochs")
    if epochs is not None:
        overrides["epochs"] = epochs
    cfg = resolve_config(preset, size=size, frames=frames, overrides=overrides)
    overrides.setdefault("preview_every", max(1, cfg.train.epochs // PREVIEWS))
    return resolve_config(preset, size=size, frames=frames, overrides=overrides), overrides


def _new_run(ws: Workspace, p: Params, default: str) -> Path:
    name = safe_name(p.raw.get("name") or default, default="run")
    out = ws.root / "runs" / name
    if out.exists():
        raise StudioError(f"runs/{name} exists; choose another name, or continue it with Resume")
    return out


def plan_train(p: Params, ws: Workspace, device: str) -> Plan:
    clips = p.raw.get("clips") or ([p.raw["clip"]] if p.raw.get("clip") else [])
    if not isinstance(clips, list) or not clips:
        raise StudioError("train: choose at least one clip")
    paths = [ws.resolve(c, under="uploads") for c in clips]
    preset = p.text("preset", "cpu-texture", choices=tuple(PRESETS))
    cfg, overrides = _training(p, preset, _size(p, PRESETS[preset]["data"]["size"]), p.integer("frames"))
    out, crop = _new_run(ws, p, paths[0].stem), p.text("crop", "none", choices=CROPS)

    def execute(job: Job) -> None:
        from dyngen.io.dataset import load_videos

        videos, names = load_videos(paths, size=cfg.data["size"], frames=cfg.data["frames"], crop=crop)
        job.run = ws.rel(out)
        dyngen.train(out, videos, preset=preset, names=names, device=device, callback=job.on_epoch, stop=job.stop,
                     crop=crop, **overrides)  # fmt: skip

    title = f"train {out.name} on {', '.join(x.name for x in paths)} ({preset}, {cfg.train.epochs} epochs)"
    return title, execute, {"epochs": cfg.train.epochs, "run": ws.rel(out)}


def plan_resume(p: Params, ws: Workspace, device: str) -> Plan:
    from dyngen.runs.directory import Run

    path = p.path(ws, "run", "runs")
    cfg = Run.open(path).read_config()
    epochs = p.integer("epochs", int(cfg["train"]["epochs"]))
    done = Run.open(path).read_metrics()

    def execute(job: Job) -> None:
        dyngen.resume(path, epochs=epochs, device=device, callback=job.on_epoch, stop=job.stop)

    fields = {"epochs": epochs, "epoch": done[-1]["epoch"] if done else 0, "run": ws.rel(path)}
    return f"resume {path.name} to {epochs} epochs", execute, fields


def plan_synthesize(p: Params, ws: Workspace, device: str) -> Plan:
    from dyngen.evaluation.loops import loop_seam

    run = p.path(ws, "run", "runs")
    frames = p.integer("frames", 120, hi=MAX_FRAMES)
    num = p.integer("num", 1, hi=MAX_NUM)
    seed = p.integer("seed", 0, lo=0)
    loop = p.flag("loop")

    def execute(job: Job) -> None:
        videos = to_uint8(dyngen.synthesize(run, frames=frames, num=num, seed=seed, loop=loop, device=device))
        folder = _job_folder(ws, job)
        for k, v in enumerate(videos):
            _write_clip(ws, job, folder, f"sample_{k}", v, f"sample {k}" + (" (loop)" if loop else ""))
        if loop and frames >= 3:
            seams = [loop_seam(v) for v in videos]
            job.info["seam"] = [round(s["seam"], 2) for s in seams]
            job.info["inside_p90"] = [round(s["inside_p90"], 2) for s in seams]

    what = f"{num} x {frames} frames" + (", looping" if loop else "")
    return f"synthesize {what} from {run.name} (seed {seed})", execute, {"run": ws.rel(run)}


def drawn_mask(data_url: Any, frames: int, size: tuple[int, int], first: int, last: int) -> torch.Tensor:
    """The brush strokes of the page (a PNG data URL, painted = missing) over frames ``first..last``: bool
    ``(T, H, W)``. The drawing (the frame enlarged) is reduced to the frame's pixels by coverage: a pixel is
    missing when the brush touched any part of it, so a thin stroke is never lost between pixel centres."""
    from PIL import Image

    from dyngen.io.resize import aspect_differs

    if not isinstance(data_url, str) or not data_url.startswith("data:image/png;base64,"):
        raise StudioError("recover: the drawn mask must be a PNG data URL")
    try:
        image = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1], validate=True)))
        painted = np.asarray(image.convert("RGBA"))[..., 3] > 0
    except (ValueError, OSError) as e:
        raise StudioError(f"recover: the drawn mask is not a readable PNG ({e})") from None
    if not 0 <= first <= last < frames:
        raise StudioError(f"recover: the mask's frames must satisfy 0 <= from <= to < {frames}, got {first}..{last}")
    (h, w), (ph, pw) = size, painted.shape
    if aspect_differs(ph / pw, h / w):
        raise StudioError(f"recover: the drawing is {ph}x{pw}, the frames {h}x{w}: another aspect ratio")
    covered = torch.nn.functional.adaptive_max_pool2d(torch.from_numpy(painted)[None].float(), (h, w))[0] > 0
    missing = torch.zeros(frames, h, w, dtype=torch.bool)
    missing[first : last + 1] = covered
    return missing


def plan_recover(p: Params, ws: Workspace, device: str) -> Plan:
    from dyngen.io.masks import load_mask, occluded_view, save_mask
    from dyngen.tasks.recover import BLENDS, METHODS, check_options

    clip = p.path(ws, "clip", "uploads")
    mode = p.text("mode", "recover", choices=("recover", "remove"))
    method = p.text("method", "dg", choices=METHODS)
    blend, both_ways = p.text("blend", "none", choices=BLENDS), p.flag("both_ways")
    check_options(method, blend=blend, both_ways=both_ways)
    preset = p.text("preset", "cpu-recovery", choices=tuple(PRESETS))
    cfg, overrides = _training(p, preset, _size(p, PRESETS[preset]["data"]["size"]), p.integer("frames"))
    mask_file = ws.resolve(p.raw["mask_file"], under="uploads") if p.raw.get("mask_file") else None
    if mask_file is None and not p.raw.get("mask"):
        raise StudioError(f"{mode}: draw the mask on the frame, or choose a mask file")
    first, last = p.integer("mask_from", 0, lo=0), p.integer("mask_to", cfg.data["frames"] - 1, lo=0)
    out = _new_run(ws, p, f"{clip.stem}-{mode}") if method == "dg" else None
    crop = p.text("crop", "none", choices=CROPS)

    def execute(job: Job) -> None:
        video = read_video(clip, size=cfg.data["size"], frames=cfg.data["frames"], crop=crop)
        t, h, w = video.shape[:3]
        source = read_video(clip, frames=1).shape[1:3] if mask_file is not None else None  # a file may be drawn on it
        missing = (load_mask(mask_file, frames=t, size=(h, w), source_size=source, crop=crop) if mask_file is not None
                   else drawn_mask(p.raw["mask"], t, (h, w), first, last))  # fmt: skip
        if not missing.any():
            raise StudioError(f"{mode}: the mask hides no pixel; paint over what to {mode} on the frame")
        folder = _job_folder(ws, job)
        job.output(ws.rel(save_mask(folder / "mask.npy", missing)), "the mask (.npy, 1 = missing)", "download")
        job.run = ws.rel(out) if out else None
        result = dyngen.recover(video, missing, method=method, run_dir=out, preset=preset, device=device,
                                callback=job.on_epoch, stop=job.stop, blend=blend, both_ways=both_ways,
                                **overrides)  # fmt: skip
        recovered = to_uint8(result.recovered)
        shown = occluded_view(video, missing)
        _write_clip(ws, job, folder, "compare", side_by_side([shown, recovered]), "input | result")
        _write_clip(ws, job, folder, "result", recovered, "result")
        job.info.update({"method": method, "hidden_fraction": round(float(missing.float().mean()), 4)})
        if "blend" in result.info:  # each fill's share of the hidden pixels, the largest first
            share = sorted(result.info["blend"]["share"].items(), key=lambda kv: -kv[1])
            job.info["blend"] = ", ".join(f"{k} {v:.2f}" for k, v in share if v >= 0.01)
        if mode == "recover":
            from dyngen.evaluation.recovery import hidden_metrics

            m = hidden_metrics(to_tensor(recovered), to_tensor(video), missing)  # the 8-bit output, as written
            job.info.update({k: round(float(v), 3) for k, v in m.items() if k in ("error", "psnr")})

    title = f"{mode} {clip.name} with {method}" + (f" ({preset}, {cfg.train.epochs} epochs)" if out else "")
    return title, execute, {"epochs": cfg.train.epochs if out else 0, "run": ws.rel(out) if out else None}


def _appearance_run(p: Params, ws: Workspace, kind: str) -> Path:
    from dyngen.runs.directory import Run

    run = p.path(ws, "run", "runs")
    if not Run.open(run).read_config()["model"].get("appearance_dim"):
        raise StudioError(f"{kind}: {run.name} has no appearance vectors; train on several clips with the "
                          "cpu-action preset (or appearance_dim=N in the settings)")  # fmt: skip
    return run


def plan_animate(p: Params, ws: Workspace, device: str) -> Plan:
    from dyngen.cli.animate import read_stills
    from dyngen.runs.directory import Run

    run = _appearance_run(p, ws, "animate")
    still = p.path(ws, "still", "uploads")
    frames, seed = p.integer("frames", 60, hi=MAX_FRAMES), p.integer("seed", 0, lo=0)
    frame = p.integer("still_frame", 0, lo=0)  # a clip's frame to animate (its first, unless asked)
    config = Run.open(run).read_config()
    size, crop = tuple(config["data"]["size"]), recorded_crop(config)  # the still is brought to size as the clips were

    def execute(job: Job) -> None:
        stills = read_stills([str(still)], size, crop=crop, frame=frame)
        result = dyngen.animate(run, stills, frames=frames, seed=seed, device=device)
        video = to_uint8(result.videos[0])
        _write_clip(ws, job, _job_folder(ws, job), "animated", side_by_side([stills[:1], video]), "still | animated")
        job.info["first_frame_psnr"] = round(result.first_frame_psnr[0], 2)

    return f"animate {still.name} with {run.name} ({frames} frames)", execute, {"run": ws.rel(run)}


def plan_interpolate(p: Params, ws: Workspace, device: str) -> Plan:
    from dyngen.io.grid import stack_rows

    run = _appearance_run(p, ws, "interpolate")
    start, end = p.text("start"), p.text("end")
    steps, frames = p.integer("steps", 5, lo=2, hi=16), p.integer("frames", 30, hi=MAX_FRAMES)
    seed = p.integer("seed", 0, lo=0)

    def execute(job: Job) -> None:
        result = dyngen.interpolate(run, start, end, steps=steps, frames=frames, seed=seed, device=device)
        rows = list(to_uint8(result.videos))
        _write_clip(ws, job, _job_folder(ws, job), "interpolation", stack_rows(rows), f"{start} -> {end} (down)")
        job.info["rho"] = [round(r, 3) for r in result.rhos]

    return f"interpolate {start} -> {end} in {run.name} ({steps} steps)", execute, {"run": ws.rel(run)}


def plan_report(p: Params, ws: Workspace, device: str) -> Plan:
    from dyngen.tasks.report import build_report

    run = p.path(ws, "run", "runs")
    frames, seed = p.integer("frames"), p.integer("seed", 0, lo=0)

    def execute(job: Job) -> None:
        report = build_report(run, _job_folder(ws, job) / "report", frames=frames, seed=seed, device=device)
        job.output(ws.rel(report.index), f"report of {run.name}", "report")

    return f"report of {run.name}", execute, {"run": ws.rel(run)}


PLANS: dict[str, Callable[[Params, Workspace, str], Plan]] = {
    "train": plan_train,
    "resume": plan_resume,
    "synthesize": plan_synthesize,
    "recover": plan_recover,
    "animate": plan_animate,
    "interpolate": plan_interpolate,
    "report": plan_report,
}


def plan(kind: str, params: Any, ws: Workspace, device: str) -> Plan:
    """Check a request and plan its job; StudioError (or another UsageError) when it cannot run."""
    if kind not in PLANS:
        raise StudioError(f"unknown job '{kind}'; allowed: {', '.join(PLANS)}")
    return PLANS[kind](Params(kind, params), ws, device)
