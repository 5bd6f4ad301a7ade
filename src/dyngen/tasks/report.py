"""A visual report of a trained run: one HTML file that can be handed on alone.

``build_report`` synthesizes a long video (default 4x the training length, fixed seed) from the run, and from an
LDS run when one is given, and writes into ``out``::

    index.html         the page: every image embedded in it (data URIs), inline CSS, no script, no link out;
                       it still works when moved or mailed alone
    side_by_side.webp  the clip and the syntheses playing side by side, enlarged and labelled (looping)
    frames.png         observed and synthesized frames, evenly spaced over each video
    frames_end.png     the last 8 consecutive frames of each video (is there still motion at the end?)
    motion.png         motion energy |x_t - x_t-1| over time
    spectrum.png       temporal power spectra
    loss.png           the training curve (dynamic-generator runs)
    metrics.json       the metric table (non-finite values as null)
    intrackability.png, motion_parts.png, flow.gif   for a run of the warping emission: how much of each
                       frame's change is warped and how much redrawn, part by part (``dyngen.tasks.motion``)

The images are also written beside the page, for use elsewhere. Under the metric table, a verdict line per model
says on which measures it scores closest to the clip (``dyngen.evaluation.table.verdicts``).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dyngen.errors import DyngenError, UsageError
from dyngen.evaluation.metrics import DESCRIPTIONS, motion_energy_curve, temporal_power_spectrum
from dyngen.evaluation.table import TABLE_KEYS, Table, compare, format_value, json_safe, verdicts
from dyngen.io.atomic import make_folder
from dyngen.io.grid import flow_to_rgb, labelled_side_by_side, save_curve, save_frame_grid, side_by_side
from dyngen.io.video import to_uint8, write_video
from dyngen.resources import check_synthesis_memory
from dyngen.runs.checkpoint import Trained, load
from dyngen.runs.lds import TrainedLDS, load_lds
from dyngen.tasks.motion import motion_parts
from dyngen.tasks.synthesize import synthesize_run

log = logging.getLogger(__name__)
SPECTRUM_SEGMENT = 32  # frames per Welch segment, as in temporal_spectrum_distance
ANIMATION_FRAMES = 120  # frames of the side-by-side animation (5 s at 25 fps), each video enlarged to
ANIMATION_HEIGHT = 256  # about this many pixels
CSS = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 8px; }
td.num { text-align: right; font-family: monospace; } th { background: #f3f3f3; }
.warn { background: #fff3cd; border: 1px solid #e0c36a; padding: 6px 10px; }
img { max-width: 100%; image-rendering: pixelated; } .small { color: #666; font-size: 90%; }
.verdict { margin: 0.3em 0; } .verdict b { font-family: monospace; }
"""


@dataclass
class Report:
    """A written report: its page, the metric table, and the synthesized videos (uint8 ``(T, H, W, 3)``)."""

    index: Path
    table: Table
    videos: dict[str, np.ndarray]


def _label(trained) -> str:
    return "lds" if isinstance(trained, TrainedLDS) else "dg"


def _describe(trained) -> list[str]:
    """A few facts about a run, for the page."""
    s, cfg = trained.run.read_summary(), trained.config
    if isinstance(trained, TrainedLDS):
        facts = [f"linear dynamic system, state dim {s.get('rank')} (asked {s.get('state_dim')})"]
        facts.append(f"spectral radius {format_value(s.get('spectral_radius', float('nan')))}")
    else:
        m = cfg["model"]
        widths = f"{m['base_channels']}..{m['max_channels']}"
        facts = [
            f"dynamic generator, d={m['state_dim']}, k={m['noise_dim']}, widths {widths}",
            f"preset {cfg['data'].get('preset', '?')}, {s.get('epochs', '?')} epochs",
        ]
    if s.get("psnr") is not None:
        facts.append(f"training reconstruction PSNR {s['psnr']:.2f} dB")
    if s.get("train_seconds") is not None:
        facts.append(f"{s['train_seconds']:.3g} s of training")
    return facts


def _table_html(table: Table) -> str:
    names = list(table)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = [f"<tr><th>metric</th>{head}<th>meaning</th></tr>"]
    for k in TABLE_KEYS:
        cells = "".join(f'<td class="num">{format_value(table[n].get(k, float("nan")))}</td>' for n in names)
        rows.append(f"<tr><td>{k}</td>{cells}<td class='small'>{html.escape(DESCRIPTIONS[k])}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _page(title: str, sections: list[tuple[str, str]]) -> str:
    body = "".join(f"<h2>{html.escape(h)}</h2>\n{content}\n" for h, content in sections)
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{CSS}</style></head>\n<body><h1>{html.escape(title)}</h1>\n{body}</body></html>\n"
    )


def _img(path: Path | None, alt: str) -> str:
    """The image embedded in the page (a data URI), so that the page needs no file beside it."""
    if not path:
        return ""
    kind = mimetypes.guess_type(path.name)[0] or "image/png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:{kind};base64,{data}" alt="{html.escape(alt)}" title="{html.escape(path.name)}">'


def _verdicts_html(table: Table, models: list[str]) -> str:
    lines = verdicts(table, models)
    return "".join(f'<p class="verdict"><b>{html.escape(m)}</b> {html.escape(line.split(": ", 1)[1])}.</p>'
                   for m, line in lines.items())  # fmt: skip


def _warps(trained) -> bool:
    return isinstance(trained, Trained) and hasattr(trained.model.generator, "decompose")


def _motion_section(trained: Trained, out: Path, length: int, seed: int) -> str:
    """Figures of the warping emission's parts: intrackability over time, the parts of a few frames, the flow."""
    recon = motion_parts(trained)
    synth = motion_parts(trained, frames=length, seed=seed)
    curves = {name: (list(range(parts.intrackability.shape[1])), parts.intrackability[0].tolist())
              for name, parts in (("reconstruction of the clip", recon), ("synthesis", synth))}  # fmt: skip
    plot = save_curve(out / "intrackability.png", curves, xlabel="frame t", ylabel="residual's share of the change",
                      title="intrackability: 0 = all warped (trackable), 1 = all redrawn")  # fmt: skip
    r = recon
    flow = flow_to_rgb(r.displacement[0].cpu().numpy())
    rows = [to_uint8(r.previous[0]), to_uint8(r.warped[0]), to_uint8((4 * r.residual[0]).clamp(-1, 1)), flow,
            to_uint8(r.frames[0].clamp(-1, 1))]  # fmt: skip
    grid = save_frame_grid(out / "motion_parts.png", rows, labels=["previous p", "warped W(p, d)", "residual r (x4)",
                           "displacement d", "frame x"], title="the reconstruction's frames, part by part")  # fmt: skip
    gif = write_video(out / "flow.gif", side_by_side([to_uint8(synth.frames[0]), flow_to_rgb(
        synth.displacement[0].cpu().numpy())]), fps=25)  # fmt: skip
    return (
        f"<p>Mean intrackability: {recon.mean_intrackability:.3f} over the clip's reconstruction, "
        f"{synth.mean_intrackability:.3f} over the synthesis (the residual's share of each frame's change; "
        "dyngen.tasks.motion). Displacement colours: hue = direction, saturation = length (white: still).</p>"
        + _img(plot, "intrackability")
        + _img(grid, "parts")
        + _img(gif, "synthesis and its displacement")
    )


def build_report(
    run: str | Path,
    out: str | Path,
    *,
    against: np.ndarray | None = None,
    lds: str | Path | None = None,
    frames: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> Report:
    """Write the report of a run (and optionally an LDS run on the same clip) into ``out``.

    Args:
        run: a run directory (dynamic generator or LDS).
        out: the report folder; created if needed. A non-empty folder without an index.html is refused.
        against: the observed video, uint8 ``(T, H, W, 3)`` at the run's frame size (default: the run's
            training video).
        lds: an LDS run directory of the same frame size, shown beside the run.
        frames: frames to synthesize (default: 4x the training length).
        seed: the seed of synthesis and of the metrics' patch sampling.
        device: where the dynamic generator synthesizes.

    Returns:
        The report: ``index`` (the page), ``table`` (metrics) and the synthesized ``videos``.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "index.html").is_file())):
        raise UsageError(f"{out}: exists and is not an empty folder or an earlier report; choose another --out")
    runs = [load(run, device)]  # load (and validate) before anything is written
    if lds is not None:
        runs.append(load_lds(lds))
    train = runs[0].observed_frames()[0].numpy()
    observed = train if against is None else np.asarray(against)
    if observed.ndim != 4 or observed.shape[1:] != train.shape[1:] or observed.dtype != np.uint8:
        raise DyngenError(
            f"the observed video must be uint8 (T, {', '.join(map(str, train.shape[1:]))}) like the run's "
            f"training video, got {observed.dtype} {tuple(observed.shape)}"
        )
    length = frames or 4 * train.shape[0]
    check_synthesis_memory(len(runs), length, (3, *train.shape[1:3]))  # before the folder is made
    make_folder(out)
    videos: dict[str, np.ndarray] = {}
    for trained in runs:
        shape = tuple(trained.observed_frames().shape[2:])
        if shape != train.shape[1:]:
            raise DyngenError(f"{trained.run.path}: frames of {shape[:2]}, the report's run has {train.shape[1:3]}")
        name = _label(trained) if _label(trained) not in videos else f"{_label(trained)} ({trained.run.path.name})"
        videos[name] = to_uint8(synthesize_run(trained, frames=length, num=1, seed=seed)[0])
        log.info("synthesized %d frames from %s", length, trained.run.path)
    table = compare(videos, observed, seed=seed)
    (out / "metrics.json").write_text(json.dumps(json_safe(table), indent=2) + "\n")

    rows, labels = [observed, *videos.values()], ["observed", *videos]
    grid = save_frame_grid(out / "frames.png", rows, labels=labels, title="frames spread over each video")
    end_title = "the last 8 consecutive frames of each video (t counts from the 8th-last frame)"
    end = save_frame_grid(out / "frames_end.png", [v[-8:] for v in rows], labels=labels, title=end_title)
    shown = [v[:ANIMATION_FRAMES] for v in rows]
    animation = write_video(out / "side_by_side.webp", labelled_side_by_side(shown, labels, height=ANIMATION_HEIGHT),
                            fps=25)  # fmt: skip
    (out / "side_by_side.gif").unlink(missing_ok=True)  # an earlier report's
    curves = {lab: (list(range(1, len(v))), motion_energy_curve(v).tolist()) for lab, v in zip(labels, rows)}
    motion = save_curve(out / "motion.png", curves, xlabel="frame t", ylabel="mean |x_t - x_t-1| (0-255)",
                        title="motion energy over time")  # fmt: skip
    spectra = {}
    for lab, v in zip(labels, rows):
        seg = min(SPECTRUM_SEGMENT, len(v))
        p = temporal_power_spectrum(v, seg)
        spectra[lab] = ((torch.arange(len(p)) / seg).tolist(), p.clamp(min=1e-8).tolist())
    spectrum = save_curve(out / "spectrum.png", spectra, xlabel="frequency (cycles per frame)",
                          ylabel="share of temporal power", title="temporal power spectrum", logy=True)  # fmt: skip
    loss = None if isinstance(runs[0], TrainedLDS) else runs[0].run.plot_curve(out / "loss.png")
    motion_html = _motion_section(runs[0], out, length, seed) if _warps(runs[0]) else None

    about = "".join(f"<li><b>{html.escape(_label(t))}</b> <code>{html.escape(str(t.run.path))}</code>: "
                    f"{html.escape('; '.join(_describe(t)))}</li>" for t in runs)  # fmt: skip
    warnings = "".join(f'<p class="warn">{html.escape(str(t.run.path))}: {html.escape(w)}</p>'
                       for t in runs if (w := t.run.read_summary().get("warning")))  # fmt: skip
    sections = [
        ("Runs", f"<ul>{about}</ul>{warnings}<p>observed: {observed.shape[0]} frames of {observed.shape[1]}x"
                 f"{observed.shape[2]}; synthesized: {length} frames each, seed {seed}.</p>"),
        ("Side by side", _img(animation, "the clip and the syntheses playing side by side")
                         + f"<p class='small'>the first {min(length, ANIMATION_FRAMES)} frames of each, looping; "
                           "the observed clip repeats when it is shorter.</p>"),
        ("Metrics", _verdicts_html(table, list(videos)) + _table_html(table)
                    + "<p class='small'>'observed vs itself': the observed clip's first half against its second half "
                      "(what a perfect synthesis can reach); 'static': the first frame repeated (a frozen "
                      "synthesis). A verdict names, for each measure, who scores nearest to the clip against "
                      "itself.</p>"),
        ("Frames", _img(grid, "frame grid") + _img(end, "last frames")),
        ("Motion over time", _img(motion, "motion energy") + _img(spectrum, "temporal spectra")),
        ("Training", _img(loss, "training curve") if loss else "<p>No training curve (closed-form fit).</p>"),
    ]  # fmt: skip
    if motion_html:
        sections.insert(4, ("Trackable and intrackable change", motion_html))
    index = out / "index.html"
    index.write_text(_page(f"dyngen report: {Path(run).name}", sections))
    return Report(index, table, videos)
