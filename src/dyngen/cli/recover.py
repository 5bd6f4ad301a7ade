"""``dyngen recover`` and ``dyngen remove``: learning from incomplete video."""

from __future__ import annotations

import argparse
from pathlib import Path

from dyngen.cli import HelpFormatter, add_common, emit
from dyngen.cli.options import POSITIVE_INT, add_scale_options, number, path, scaling
from dyngen.cli.train import add_train_options, graceful_stop, progress, resolve, undertrained, with_time_limit


def _outputs(path: Path) -> tuple[Path, Path]:
    """The comparison video and the default run directory beside the output."""
    stem = path.with_suffix("") if path.suffix else path
    return stem.with_name(stem.name + "_compare.mp4"), stem.with_name(stem.name + "_run")


def _run(args: argparse.Namespace, *, with_truth: bool) -> int:
    from dyngen.evaluation.recovery import hidden_metrics
    from dyngen.io.grid import save_frame_grid, side_by_side
    from dyngen.io.masks import occluded_view, resolve_mask
    from dyngen.io.video import check_video_output, read_video, to_tensor, to_uint8, video_fps, write_video
    from dyngen.tasks.recover import recover

    cfg = resolve(args)
    out = check_video_output(args.out)  # before any work
    compare, default_run = _outputs(out)
    check_video_output(compare)
    run_dir = Path(args.run) if args.run else default_run
    video = read_video(args.video, size=cfg.data["size"], frames=cfg.data["frames"], start=args.start, fps=args.fps,
                       crop=args.crop)  # fmt: skip
    # a mask file drawn on the source frames is cut like them
    source = read_video(args.video, frames=1).shape[1:3] if Path(args.mask).exists() else None
    missing = resolve_mask(args.mask, frames=video.shape[0], size=video.shape[1:3], seed=args.seed,
                           start=None if args.fps else args.start, source_size=source, crop=args.crop)  # fmt: skip
    epochs = cfg.train.epochs
    with graceful_stop() as stop, progress(epochs, 0, args.quiet or args.method != "dg", args.command) as cb:
        result = recover(
            to_tensor(video), missing, method=args.method, run_dir=run_dir, model_config=cfg.model,
            train_config=cfg.train,
            lds_state_dim=args.state_dim, residual=args.residual, hidden_frames=args.hidden_frames,
            both_ways=args.both_ways, backward_epochs=args.backward_epochs, blend=args.blend,
            device=args.device,
            callback=with_time_limit(cb, stop, args.time_limit),
            stop=stop,
        )  # fmt: skip
    fps = args.fps or video_fps(args.video)
    recovered = to_uint8(result.recovered)
    paths = {"output": write_video(out, recovered, fps=fps, **scaling(args))}
    views = [occluded_view(video, missing), recovered]
    labels = ["input (hidden = black)", "recovered" if with_truth else "object removed"]
    if with_truth:
        views.append(video)
        labels.append("ground truth")
    paths["comparison"] = write_video(compare, side_by_side(views), fps=fps, **scaling(args))
    paths["grid"] = save_frame_grid(compare.with_suffix(".png"), views, labels=labels)
    summary: dict = {k: str(v) for k, v in paths.items()}
    summary.update(method=args.method, seconds=round(result.seconds, 2), **result.info)
    if result.run is not None:
        summary["run"] = str(result.run)
    lines = [f"{k:>10}: {v}" for k, v in paths.items()]
    if result.run is not None:
        lines.append(f"{'run':>10}: {result.run}" + (" (reused: not trained again)" if result.info.get("reused_run")
                                                      else ""))  # fmt: skip

    if with_truth:
        m = hidden_metrics(to_tensor(recovered), to_tensor(video), missing)  # the 8-bit output, as written
        summary.update(m)
        lines.append(
            "nothing hidden: no recovery metrics"
            if "error" not in m
            else f"hidden pixels ({100 * m['hidden_fraction']:.1f}%): error {m['error']:.3f} (0-255), "
            f"PSNR {m['psnr']:.2f} dB  [{args.method}, {result.seconds:.1f} s]"
        )
    note = undertrained(result.run, f"rerun this command (it continues {result.run})") if result.run else None
    emit(args, summary, lines, warnings=[note])
    return 0


def recover_command(args: argparse.Namespace) -> int:
    return _run(args, with_truth=True)


def remove_command(args: argparse.Namespace) -> int:
    return _run(args, with_truth=False)


def _add(sub: argparse._SubParsersAction, name: str, helptext: str, description: str, func) -> None:
    from dyngen.tasks.recover import BLENDS, CLASSIC, HIDDEN_FRAMES, METHODS, RESIDUALS

    p = sub.add_parser(name, help=helptext, description=description, formatter_class=HelpFormatter)
    p.add_argument("video", type=path, help="the video (its hidden pixels are never used for learning)")
    p.add_argument(
        "--mask",
        required=True,
        type=path,
        help="missing pixels (1/white = missing): a .mat (key 'masks'), .npy, mask video, PNG folder or image; "
        "or a generated mask: frames:RATIO[:contiguous], region:SIZE, blocks:BLOCK[:RATIO], box:T,L,H,W[@A-B]. "
        "A mask file of more frames than --frames is cut like the video (from --start); one drawn on the video's "
        "own frames is brought to --size as they are (--crop)",
    )
    p.add_argument("--out", required=True, type=path, help="the recovered video (.mp4, .gif, .npy or a PNG folder)")
    p.add_argument("--method", default="dg", choices=METHODS, help="dg (the dynamic generator) or a classic baseline")
    p.add_argument(
        "--residual",
        default="none",
        choices=RESIDUALS,
        help="correct the dg or lds reconstruction G at hidden pixels by this fill of its visible error x - G "
        "(none: the model's reconstruction, as in the paper; interp lowered dg's error on every reproduction case)",
    )
    p.add_argument(
        "--hidden-frames",
        default="chain",
        choices=HIDDEN_FRAMES,
        help="dg: the states rendered for frames with no visible pixel: chain (the inferred chain, the paper's), "
        "interp (the nearest visible frames' states, interpolated in time), nearest, or auto (whichever of the two "
        "renders the visible frames better from their neighbours; docs/recovery.md)",
    )
    p.add_argument(
        "--both-ways", action="store_true",
        help="dg: also learn the video backwards in time (a second run, RUN_backward) and blend the two fills by "
        "each hidden pixel's distance to its visible neighbours in time (best with --emission warp; docs/warp.md)",
    )  # fmt: skip
    p.add_argument(
        "--backward-epochs", type=number(int, POSITIVE_INT), default=None, metavar="N",
        help="with --both-ways: the backward run starts from the forward run's weights and trains N epochs "
        "(default: from scratch, as long as the forward run; with a third of its epochs, --both-ways costs 1.33 "
        "trainings instead of 2)",
    )  # fmt: skip
    p.add_argument(
        "--blend", default="none", choices=BLENDS,
        help="cv: fill each hidden pixel with a blend of the method's fill, the classic ones "
        f"({', '.join(CLASSIC)}) and their per-pixel median, weighted by their errors on held-out visible pixels "
        "laid like the hidden ones, per length of the pixel's gap in time; the method learns without those pixels, "
        "and the output reports each fill's held-out error and share (docs/recovery.md)",
    )  # fmt: skip
    p.add_argument("--run", default=None, type=path,
                   help="run directory for dg (default: OUT_run beside the output); the run of an earlier recovery "
                   "of the same video, mask and settings is reused (--residual, --hidden-frames) without "
                   "training again")  # fmt: skip
    add_scale_options(p)
    add_train_options(p, default_preset="cpu-recovery")
    add_common(p)
    p.set_defaults(func=func)


def register(sub: argparse._SubParsersAction) -> None:
    _add(
        sub, "recover", "recover hidden pixels or missing frames, and score them against the input",
        "Learn from the visible pixels only and fill the hidden ones. Observed pixels are kept exactly. "
        "Because the input file holds the hidden pixels, the recovery error (mean |recovered - truth| on 0-255) "
        "and PSNR are reported on them. Writes OUT, OUT_compare.mp4 and OUT_compare.png "
        "(input | recovered | truth), and keeps the run directory.",
        recover_command,
    )  # fmt: skip
    _add(
        sub, "remove", "remove a moving object (declared by a mask) and fill in the background",
        "Content removal: the object's pixels are declared missing and the model, learned from the rest, "
        "fills in the background. Writes OUT, OUT_compare.mp4 and OUT_compare.png (input | removed).",
        remove_command,
    )  # fmt: skip
